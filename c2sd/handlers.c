/*
 * handlers.c - what c2sd answers itself, in two static tables.
 *
 * c2sd_iq_handlers: iq payloads (namespace, element) the server handles,
 * where (to the domain, to the account's bare JID) and the XEP-0030
 * feature each one advertises, so disco#info can never claim a feature
 * no handler implements.  When imd takes over rosters, the roster line
 * goes and the iq is routed instead.
 *
 * c2sd_stream_features: the <stream:features/> children, in the order
 * they are offered; each function decides whether it applies to the
 * connection's current state (RFC 6120 4.3.2).
 */
#include <sys/types.h>

#include <string.h>

#include "c2sd.h"

const struct iq_handler c2sd_iq_handlers[] = {
	{ "http://jabber.org/protocol/disco#info", "query",
	    H_SERVER | H_ACCOUNT, iq_disco_info,
	    "http://jabber.org/protocol/disco#info" },
	{ "http://jabber.org/protocol/disco#items", "query",
	    H_SERVER | H_ACCOUNT, iq_disco_items,
	    "http://jabber.org/protocol/disco#items" },
	{ "urn:xmpp:ping", "ping", H_SERVER | H_ACCOUNT, iq_ping,
	    "urn:xmpp:ping" },
	{ "jabber:iq:version", "query", H_SERVER, iq_version,
	    "jabber:iq:version" },
	{ "urn:xmpp:time", "time", H_SERVER, iq_time, "urn:xmpp:time" },
	{ NS_SESSION, "session", H_SERVER | H_ACCOUNT, iq_session, NULL },
	{ "jabber:iq:roster", "query", H_ACCOUNT, iq_roster, NULL },
	{ NULL, NULL, 0, NULL, NULL }
};

const struct stream_feature c2sd_stream_features[] = {
	{ "starttls",	feature_starttls },
	{ "mechanisms",	feature_mechanisms },
	{ "bind",	feature_bind },
	{ "session",	feature_session },
	{ "sm",		feature_sm },
	{ "csi",	feature_csi },
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
