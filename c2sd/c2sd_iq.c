/*
 * c2sd_iq.c - iqs the server answers itself: those to the domain, to the
 * user's own bare JID, or with no 'to' (RFC 6120 10.3.3).
 *
 * iq_local() looks the payload up in the handler table (handlers.c); an
 * unknown get/set is answered service-unavailable (RFC 6120 8.4), results
 * and errors addressed to us are dropped (never answer an error, 8.3.1).
 * The handlers here are small and stateless: ping (XEP-0199), disco
 * (XEP-0030, features taken from the same table), version (XEP-0092),
 * entity time (XEP-0202), the legacy session iq (RFC 3921 3) and an empty
 * roster until imd answers roster requests.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"
#include "log.h"
#include "c2sd.h"

/* A reply skeleton: same id, from = what the client addressed (if
 * anything), to = the session's full JID. */
static struct xnode *
reply_new(struct session *s, struct xnode *iq, const char *type)
{
	struct xnode	*r;
	const char	*to = xnode_attr(iq, "to");

	if ((r = xnode_new("iq", XMLNS_CLIENT)) == NULL)
		return NULL;
	xnode_set_attr(r, "type", type);
	xnode_set_attr(r, "id", xnode_attr(iq, "id"));
	if (to)
		xnode_set_attr(r, "from", to);
	xnode_set_attr(r, "to", s->full);
	return r;
}

/* Sends a result; takes `payload` (may be NULL). */
void
iq_reply_result(struct session *s, struct xnode *iq, struct xnode *payload)
{
	struct xnode *r;

	if ((r = reply_new(s, iq, "result")) == NULL) {
		xnode_free(payload);
		return;
	}
	if (payload)
		xnode_append(r, payload);
	session_deliver_node(s, r);
	xnode_free(r);
}

void
iq_reply_error(struct session *s, struct xnode *iq, const char *type,
    const char *cond)
{
	struct xnode *r;

	if ((r = xnode_dup(iq)) == NULL)
		return;
	stanza_make_error(r, type, cond, NULL);
	xnode_set_attr(r, "to", s->full);
	session_deliver_node(s, r);
	xnode_free(r);
}

/* Before a session exists (bind): written straight to the connection. */
void
iq_conn_error(struct conn *c, struct xnode *iq, const char *type,
    const char *cond)
{
	struct xnode	*r;
	struct xbuf	 b;

	if ((r = xnode_dup(iq)) == NULL)
		return;
	stanza_make_error(r, type, cond, NULL);
	xbuf_init(&b);
	xml_serialize(&b, r, XMLNS_CLIENT);
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	xnode_free(r);
}

void
iq_local(struct session *s, struct xnode *iq, int where)
{
	const struct iq_handler	*h;
	struct xnode		*p;
	uint8_t			 st;

	st = stanza_stype(RK_IQ, xnode_attr(iq, "type"));
	if (st != RS_GET && st != RS_SET)
		return;
	p = xnode_first_elem(iq);
	if (p == NULL || p->ns == NULL ||
	    (h = handler_find(p->ns, p->name, (unsigned)where)) == NULL) {
		iq_reply_error(s, iq, "cancel", "service-unavailable");
		return;
	}
	h->fn(s, iq, p);
}

static int
is_get(struct xnode *iq)
{
	const char *t = xnode_attr(iq, "type");

	return t && strcmp(t, "get") == 0;
}

void
iq_ping(struct session *s, struct xnode *iq, struct xnode *p)
{
	iq_reply_result(s, iq, NULL);
}

void
iq_disco_info(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode	*q, *n;
	size_t		 i;
	const char	*to = xnode_attr(iq, "to");
	unsigned	 where = to ? H_SERVER : (H_SERVER | H_ACCOUNT);
	struct jid	 j;

	if (!is_get(iq) || xnode_attr(p, "node") != NULL) {
		iq_reply_error(s, iq, "cancel", is_get(iq) ?
		    "item-not-found" : "bad-request");
		return;
	}
	if (to && jid_parse(to, strlen(to), &j) == 0 && j.local[0])
		where = H_ACCOUNT;
	if ((q = xnode_new("query", "http://jabber.org/protocol/disco#info"))
	    == NULL)
		return;
	if ((n = xnode_add_child(q, "identity", q->ns)) != NULL) {
		if (where == H_ACCOUNT) {	/* XEP-0030 registered account */
			xnode_set_attr(n, "category", "account");
			xnode_set_attr(n, "type", "registered");
		} else {
			xnode_set_attr(n, "category", "server");
			xnode_set_attr(n, "type", "im");
			xnode_set_attr(n, "name", "Rampart");
		}
	}
	for (i = 0; c2sd_iq_handlers[i].ns; i++) {
		if (c2sd_iq_handlers[i].feature == NULL ||
		    !(c2sd_iq_handlers[i].where & where))
			continue;
		if ((n = xnode_add_child(q, "feature", q->ns)) != NULL)
			xnode_set_attr(n, "var", c2sd_iq_handlers[i].feature);
	}
	iq_reply_result(s, iq, q);
}

void
iq_disco_items(struct session *s, struct xnode *iq, struct xnode *p)
{
	if (!is_get(iq)) {
		iq_reply_error(s, iq, "cancel", "bad-request");
		return;
	}
	iq_reply_result(s, iq,
	    xnode_new("query", "http://jabber.org/protocol/disco#items"));
}

/* XEP-0092, without <os/> (section 4: an operator may hide it). */
void
iq_version(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode *q, *n;

	if (!is_get(iq)) {
		iq_reply_error(s, iq, "cancel", "bad-request");
		return;
	}
	if ((q = xnode_new("query", "jabber:iq:version")) == NULL)
		return;
	if ((n = xnode_add_child(q, "name", q->ns)) != NULL)
		xnode_add_text(n, "Rampart", 7);
	if ((n = xnode_add_child(q, "version", q->ns)) != NULL)
		xnode_add_text(n, RAMPART_VERSION, strlen(RAMPART_VERSION));
	iq_reply_result(s, iq, q);
}

/* XEP-0202: the sandbox has no zoneinfo, so we speak UTC. */
void
iq_time(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode	*q, *n;
	char		 buf[64];
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (!is_get(iq)) {
		iq_reply_error(s, iq, "cancel", "bad-request");
		return;
	}
	if ((q = xnode_new("time", "urn:xmpp:time")) == NULL)
		return;
	if ((n = xnode_add_child(q, "tzo", q->ns)) != NULL)
		xnode_add_text(n, "+00:00", 6);
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((n = xnode_add_child(q, "utc", q->ns)) != NULL)
		xnode_add_text(n, buf, strlen(buf));
	iq_reply_result(s, iq, q);
}

void
iq_session(struct session *s, struct xnode *iq, struct xnode *p)
{
	iq_reply_result(s, iq, NULL);
}

/* Placeholder until imd owns rosters: an empty roster (RFC 6121 2.1.4)
 * with an empty version; pushes and sets are not supported yet. */
void
iq_roster(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode *q;

	if (!is_get(iq)) {
		iq_reply_error(s, iq, "cancel", "service-unavailable");
		return;
	}
	if ((q = xnode_new("query", "jabber:iq:roster")) == NULL)
		return;
	if (xnode_attr(p, "ver") != NULL)
		xnode_set_attr(q, "ver", "");
	iq_reply_result(s, iq, q);
}
