/*
 * c2sd_iq.c - iqs the server answers itself: those to the domain, and the
 * few with no 'to' that concern the stream or the server (session, ping;
 * c2sd_session.c routes every other no-'to' iq to imd, RFC 6120 10.3.3).
 *
 * iq_local() looks the payload up in the handler table (handlers.c); an
 * unknown get/set is answered service-unavailable (RFC 6120 8.4), results
 * and errors addressed to us are dropped (never answer an error, 8.3.1).
 * The handlers here are small and stateless: ping (XEP-0199), disco
 * (XEP-0030: features from the same table, plus those other daemons
 * implement, c2sd_remote_features), version (XEP-0092), entity time
 * (XEP-0202), server uptime (XEP-0012 4) and the legacy session iq
 * (RFC 3921 3).  XEP-0077 lives in c2sd_register.c.
 */
#include <sys/types.h>

#include <stdio.h>
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

static void
add_feature(struct xnode *q, const char *var)
{
	struct xnode *n;

	for (n = xnode_first_elem(q); n; n = xnode_next_elem(n))
		if (strcmp(n->name, "feature") == 0 &&
		    strcmp(xnode_attr(n, "var") ? xnode_attr(n, "var") : "",
		    var) == 0)
			return;	/* jabber:iq:last is both ours and imd's */
	if ((n = xnode_add_child(q, "feature", q->ns)) != NULL)
		xnode_set_attr(n, "var", var);
}

/* disco#info of the server (the account's goes to imd). */
void
iq_disco_info(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode	*q, *n;
	struct host	*h = host_find(s->domain);
	size_t		 i;

	if (!is_get(iq) || xnode_attr(p, "node") != NULL) {
		iq_reply_error(s, iq, "cancel", is_get(iq) ?
		    "item-not-found" : "bad-request");
		return;
	}
	if ((q = xnode_new("query", "http://jabber.org/protocol/disco#info"))
	    == NULL)
		return;
	if ((n = xnode_add_child(q, "identity", q->ns)) != NULL) {
		xnode_set_attr(n, "category", "server");
		xnode_set_attr(n, "type", "im");
		xnode_set_attr(n, "name", "Rampart");
	}
	for (i = 0; c2sd_iq_handlers[i].ns; i++)
		if (c2sd_iq_handlers[i].feature != NULL &&
		    (c2sd_iq_handlers[i].where & H_SERVER))
			add_feature(q, c2sd_iq_handlers[i].feature);
	for (i = 0; c2sd_remote_features[i]; i++)
		add_feature(q, c2sd_remote_features[i]);
	if (h && h->registration)
		add_feature(q, NS_REGISTER);
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

/* XEP-0012 4: the "last activity" of a server is its uptime; c2sd's own
 * is the closest thing to the service's that it knows. */
void
iq_last(struct session *s, struct xnode *iq, struct xnode *p)
{
	struct xnode	*q;
	char		 buf[32];

	if (!is_get(iq)) {
		iq_reply_error(s, iq, "cancel", "bad-request");
		return;
	}
	if ((q = xnode_new("query", "jabber:iq:last")) == NULL)
		return;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)c2sd_uptime());
	xnode_set_attr(q, "seconds", buf);
	iq_reply_result(s, iq, q);
}
