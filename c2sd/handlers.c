/*
 * handlers.c - what c2sd answers itself, in static tables.
 *
 * c2sd_iq_handlers: iq payloads (namespace, element) c2sd handles, where
 * (to the domain, or with no 'to') and the XEP-0030 feature each one
 * advertises, so the server's disco#info can never claim a feature no
 * handler implements.  Everything else addressed to the account (no 'to'
 * or the user's own bare JID: roster, vcard, private, blocking, MAM,
 * carbons, disco of the account, ...) is routed to imd (docs/imd.md); a
 * payload with no 'to' is the server's only when it is about the stream or
 * the server itself (session, XEP-0199 ping "to the server", XEP-0077).
 *
 * c2sd_remote_features: what the server offers through other daemons.
 * SOURCE: imd/handlers.c (imd_iq_handlers) and imd's delivery code
 * (msgoffline, XEP-0160).  Keep the two in step; a cross-check test may
 * compare them.
 *
 * c2sd_stream_features: the <stream:features/> children, in the order
 * they are offered; each function decides whether it applies to the
 * connection's current state (RFC 6120 4.3.2).
 */
#include <sys/types.h>

#include <string.h>

#include "c2sd.h"

const struct iq_handler c2sd_iq_handlers[] = {
	{ "http://jabber.org/protocol/disco#info", "query", H_SERVER,
	    iq_disco_info, "http://jabber.org/protocol/disco#info" },
	{ "http://jabber.org/protocol/disco#items", "query", H_SERVER,
	    iq_disco_items, "http://jabber.org/protocol/disco#items" },
	{ "urn:xmpp:ping", "ping", H_SERVER | H_NOTO, iq_ping,
	    "urn:xmpp:ping" },
	{ "jabber:iq:version", "query", H_SERVER, iq_version,
	    "jabber:iq:version" },
	{ "urn:xmpp:time", "time", H_SERVER, iq_time, "urn:xmpp:time" },
	{ "jabber:iq:last", "query", H_SERVER, iq_last, "jabber:iq:last" },
	{ NS_SESSION, "session", H_SERVER | H_NOTO, iq_session, NULL },
	/* advertised by iq_disco_info only where registration is on */
	{ NS_REGISTER, "query", H_SERVER | H_NOTO, iq_register, NULL },
	{ NULL, NULL, 0, NULL, NULL }
};

/* SOURCE: imd/handlers.c; see the header comment. */
const char *const c2sd_remote_features[] = {
	"urn:xmpp:mam:2",		/* XEP-0313 */
	"urn:xmpp:carbons:2",		/* XEP-0280 */
	"urn:xmpp:blocking",		/* XEP-0191 */
	"vcard-temp",			/* XEP-0054 */
	"jabber:iq:private",		/* XEP-0049 */
	"jabber:iq:last",		/* XEP-0012 (accounts) */
	"msgoffline",			/* XEP-0160 */
	NULL
};

const struct stream_feature c2sd_stream_features[] = {
	{ "starttls",	feature_starttls },
	{ "mechanisms",	feature_mechanisms },
	{ "register",	feature_register },
	{ "bind",	feature_bind },
	{ "session",	feature_session },
	{ "sm",		feature_sm },
	{ "csi",	feature_csi },
	{ "sub",	feature_preapproval },
	{ "ver",	feature_rosterver },
	{ NULL,		NULL }
};

const struct iq_handler *
handler_find(const char *ns, const char *elem, unsigned where)
{
	const struct iq_handler *h;

	for (h = c2sd_iq_handlers; h->ns; h++) {
		if (strcmp(h->ns, ns) != 0 || !(h->where & where))
			continue;
		if (h->elem == NULL || strcmp(h->elem, elem) == 0)
			return h;
	}
	return NULL;
}
