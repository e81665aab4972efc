/*
 * imd_deliver.c - messages (RFC 6121 section 8.5): what happens to a
 * message a local user sends (carbons, archive, compliance log, then on to
 * the recipient) and to a message for a local account (blocking, archive,
 * choice of resources, offline storage, carbons), and what happens when a
 * delivery comes back (RF_BOUNCE from routerd, RFF_UNDELIVERED from c2sd).
 *
 * Called by imd.c.  Accounts belong to authd, which imd cannot ask
 * synchronously: any localpart at a hosted domain is taken to exist, so a
 * message to a JID without an account is stored offline (up to the quota)
 * instead of bouncing; docs/imd.md records this limitation.
 *
 * Invariants: an error is never answered with an error; a message that
 * imd stored offline was committed before anything else happens to it; a
 * returned message is never sent again to the resource that returned it,
 * so bounces cannot loop.
 */
#include <string.h>

#include "imd.h"
#include "log.h"

/* XEP-0334 no-copy and XEP-0280 private: no carbons. */
static int
no_copy(const struct xnode *x)
{
	return xnode_child(x, "private", NS_CARBONS) != NULL ||
	    xnode_child(x, "no-copy", "urn:xmpp:hints") != NULL;
}

static int
archivable(const struct xnode *x)
{
	uint8_t	st = stanza_node_stype(x);

	return (st == RS_CHAT || st == RS_NORMAL) &&
	    imd_child(x, "body") != NULL;
}

/*
 * RFC 6121 8.5.2.1.1: a chat or normal message to a bare JID goes to the
 * available resources of highest non-negative priority (all of them when
 * several share it); a headline to every non-negative one (8.5.2.1.2).
 * Returns how many got it; `first` is set to the first of them.
 */
static int
to_resources(const char *from, const char *owner, struct xnode *x,
    const char *except, const char **first)
{
	struct imd_res	*r;
	int		 best = -1, n = 0, all = stanza_node_stype(x) == RS_HEADLINE;

	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available && r->priority > best &&
		    (except == NULL || strcmp(r->full, except) != 0))
			best = r->priority;
	for (r = imd_res_list(owner); r != NULL && best >= 0; r = r->next) {
		if (!r->available || r->priority < 0 ||
		    (!all && r->priority != best) ||
		    (except != NULL && strcmp(r->full, except) == 0))
			continue;
		if (imd_send(from, r->full, x) == 0 && n++ == 0)
			*first = r->full;
	}
	return n;
}

/*
 * Deliver `s` (to a local account) or store it.  `except` names a resource
 * that must not get it again (it just returned it).
 */
static void
deliver(struct imd_stanza *s, const char *owner, const char *except,
    int carbons)
{
	struct imd_res	*r;
	const char	*first = NULL;
	uint8_t		 st = stanza_node_stype(s->x);

	if (s->to.resource[0] != '\0' &&
	    (except == NULL || strcmp(except, s->to_s) != 0) &&
	    (r = imd_res_find(s->to_s)) != NULL) {
		/* 8.5.3.1: a full JID with a session gets it there. */
		if (imd_send(s->from_s, r->full, s->x) == 0 && carbons)
			imd_carbons_received(owner, s->x, r->full);
		return;
	}
	switch (st) {
	case RS_ERROR:
		return;		/* 8.5.2.1.? and 8.5.3.2.1: silently dropped */
	case RS_GROUPCHAT:
		imd_reply_error(s, "cancel", "service-unavailable");
		return;
	case RS_HEADLINE:
		(void)to_resources(s->from_s, owner, s->x, except, &first);
		return;		/* 8.5.2.2.2: no resource: dropped */
	default:
		break;
	}
	if (to_resources(s->from_s, owner, s->x, except, &first) > 0) {
		if (carbons)
			imd_carbons_received(owner, s->x, first);
		return;
	}
	/* 8.5.2.2.1: no resource can take it: offline storage (XEP-0160). */
	if (imd_offline_store(owner, s->x) == -1)
		imd_reply_error(s, "cancel", "service-unavailable");
	else if (carbons)
		imd_carbons_received(owner, s->x, NULL);
}

/*
 * Whether a local account takes `s`: 0 with its bare JID in `owner` and the
 * sender's in `sender`, or -1 after the sender was answered.
 */
static int
inbound_accept(struct imd_stanza *s, char *owner, char *sender)
{
	if (s->to.local[0] == '\0' || !imd_is_local(s->to.domain) ||
	    jid_format_bare(&s->to, owner, JID_MAX + 1) < 0 ||
	    imd_bare(s->from_s, sender, JID_MAX + 1) == -1) {
		imd_reply_error(s, "cancel", "service-unavailable");
		return -1;
	}
	/* XEP-0191 3.3: a blocked sender learns nothing more than this. */
	if (imd_is_blocked(owner, sender)) {
		imd_reply_error(s, "cancel", "service-unavailable");
		return -1;
	}
	return 0;
}

void
imd_message_inbound(struct imd_stanza *s)
{
	char	owner[JID_MAX + 1], sender[JID_MAX + 1], id[64];

	if (inbound_accept(s, owner, sender) == -1)
		return;
	if (!s->outbound)
		imd_compliance_log(s->from_s, s->to_s, s->x);
	/* Archived first, so the delivered copy carries its stanza-id. */
	if (archivable(s->x))
		(void)imd_mam_archive(owner, s->x, 1, sender, id, sizeof(id));
	deliver(s, owner, NULL, !no_copy(s->x));
}

/*
 * From one local account to another: the sender's and the recipient's
 * copies are archived in one transaction (docs/performance.md), then the
 * message is delivered, carrying the recipient's committed stanza-id.
 */
static void
message_local(struct imd_stanza *s, const char *owner, const char *peer)
{
	char			 rowner[JID_MAX + 1], sender[JID_MAX + 1];
	struct imd_mam_copy	 c[2];
	int			 take;

	take = inbound_accept(s, rowner, sender) == 0;
	if (archivable(s->x)) {
		memset(c, 0, sizeof(c));
		c[0].owner = owner;
		c[0].with = peer;
		c[1].owner = rowner;
		c[1].with = sender;
		c[1].incoming = 1;
		(void)imd_mam_archive_copies(s->x, c, take ? 2 : 1);
	}
	imd_compliance_log(s->from_s, s->to_s, s->x);
	if (take)
		deliver(s, rowner, NULL, !no_copy(s->x));
}

/* XEP-0191 3.3: the user wrote to a JID it blocked. */
static void
reply_blocked(struct imd_stanza *s)
{
	struct xnode	*r, *e;

	if (stanza_node_stype(s->x) == RS_ERROR || (r = xnode_dup(s->x)) == NULL)
		return;
	xnode_set_attr(r, "type", "error");
	if ((e = xnode_add_child(r, "error", NULL)) != NULL) {
		xnode_set_attr(e, "type", "cancel");
		(void)xnode_add_child(e, "not-acceptable", NS_STANZAS);
		(void)xnode_add_child(e, "blocked", "urn:xmpp:blocking:errors");
	}
	(void)imd_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

void
imd_message_outbound(struct imd_stanza *s)
{
	char	owner[JID_MAX + 1], peer[JID_MAX + 1], id[64];

	if (jid_format_bare(&s->from, owner, sizeof(owner)) < 0 ||
	    imd_bare(s->to_s, peer, sizeof(peer)) == -1)
		return;
	if (imd_is_local(s->to.domain) && s->to.local[0] == '\0') {
		/* To the server itself: nothing here answers messages. */
		imd_reply_error(s, "cancel", "service-unavailable");
		return;
	}
	if (imd_is_blocked(owner, peer)) {
		reply_blocked(s);
		return;
	}
	if (!no_copy(s->x))
		imd_carbons_sent(s);
	if (imd_is_local_jid(s->to_s)) {
		message_local(s, owner, peer);
		return;
	}
	if (archivable(s->x))
		(void)imd_mam_archive(owner, s->x, 0, peer, id, sizeof(id));
	imd_compliance_log(s->from_s, s->to_s, s->x);
	(void)imd_send(s->from_s, s->to_s, s->x);
}

/* A message imd handed to `to` came back: another resource, or offline. */
static void
redeliver(struct frame *f, struct xnode *x, const char *from, const char *to,
    const char *cond)
{
	struct imd_stanza	s;
	char			owner[JID_MAX + 1];

	if (stanza_node_kind(x) != RK_MESSAGE || stanza_node_stype(x) == RS_ERROR ||
	    imd_stanza_init(&s, f, x, from, to, 0) == -1 ||
	    jid_format_bare(&s.to, owner, sizeof(owner)) < 0)
		return;
	if (!imd_is_local_jid(to)) {
		/* Sent on to a remote JID by a local user: tell the user. */
		imd_reply_error(&s, "cancel", cond);
		return;
	}
	deliver(&s, owner, to, 0);
}

void
imd_message_returned(struct frame *f, struct xnode *x)
{
	redeliver(f, x, f->from, f->to, "service-unavailable");
}

static const char *
bounce_condition(uint8_t why)
{
	switch (why) {
	case RB_ITEM_NOT_FOUND:		return "item-not-found";
	case RB_REMOTE_SERVER_NOT_FOUND: return "remote-server-not-found";
	case RB_RESOURCE_CONSTRAINT:	return "resource-constraint";
	case RB_RECIPIENT_UNAVAILABLE:	return "recipient-unavailable";
	case RB_NOT_ALLOWED:		return "not-allowed";
	default:			return "service-unavailable";
	}
}

void
imd_message_undelivered(struct frame *f)
{
	struct xnode	*x;
	const uint8_t	*body;
	size_t		 len;
	uint8_t		 why;

	if (frame_get_u8(f, &why) == -1)
		return;
	frame_get_rest(f, &body, &len);
	if (f->hdr.kind != RK_MESSAGE ||
	    (x = xml_parse_element((const char *)body, len, NULL)) == NULL)
		return;
	log_debug("message to %s bounced (%u)", f->to, why);
	redeliver(f, x, f->from, f->to, bounce_condition(why));
	xnode_free(x);
}
