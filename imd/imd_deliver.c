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
 * imd_message_fast() is the same for the common case without a tree: a
 * message c2sd marked RFF_PLAINMSG (docs/frames.md) between local
 * sessions is archived and delivered from its frame bytes, with the
 * stanza-id (and for a bare JID each resource's `to`) spliced in; it
 * must send exactly what the parsing path would (tests/unit/
 * test_imd_fast.c) and leaves every other case to that path.
 *
 * Invariants: an error is never answered with an error; a message that
 * imd stored offline was committed before anything else happens to it; a
 * returned message is never sent again to the resource that returned it,
 * so bounces cannot loop.
 */
#include <string.h>

#include "daemon.h"
#include "imd.h"
#include "link.h"
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

/* ---- the fast path (docs/performance.md) ---- */

int
imd_send_raw(const char *from, const char *to, uint8_t stype,
    const struct imd_piece *p, size_t n)
{
	struct fout	*f;
	size_t		 i;

	if ((f = fout_stanza(RK_MESSAGE, stype, from, to, NULL, 0)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		fout_put_raw(f, p[i].p, p[i].len);
	if (link_send(daemon_link, f) == -1) {
		log_warnx("cannot queue a stanza for %s", to);
		return -1;
	}
	return 0;
}

static const char msg_end[] = "</message>";
#define MSG_END_LEN	(sizeof(msg_end) - 1)

/* A frame body that starts with a <message> start tag and ends with its
 * end tag, so that it can be spliced and wrapped (RFF_PLAINMSG has a
 * <body/>, so the element is never empty). */
static int
splicable(const uint8_t *b, size_t len)
{
	return len > 9 + MSG_END_LEN && memcmp(b, "<message", 8) == 0 &&
	    (b[8] == ' ' || b[8] == '>') &&
	    memcmp(b + len - MSG_END_LEN, msg_end, MSG_END_LEN) == 0;
}

/* The fast path's recipients: one session, or for a bare JID those of
 * highest non-negative priority, as to_resources() picks them. */
#define FAST_TARGETS	16

struct fast {
	struct imd_res	*r[FAST_TARGETS];
	size_t		 n;
	size_t		 vs, ve;	/* the `to` value in the start tag */
	int		 bare;
	char		 owner[JID_MAX + 1], peer[JID_MAX + 1];
};

/* Where the start tag's `to` attribute holds `to`: values escape ' (the
 * serializer's rule), so the first " to='" is that attribute. */
static int
to_value(const uint8_t *b, size_t len, const char *to, struct fast *fp)
{
	const uint8_t	*gt, *p;
	size_t		 tl = strlen(to);

	if ((gt = memchr(b, '>', len)) == NULL ||
	    (p = memmem(b, gt - b, " to='", 5)) == NULL)
		return -1;
	fp->vs = p + 5 - b;
	fp->ve = fp->vs + tl;
	if (fp->ve >= (size_t)(gt - b) || b[fp->ve] != '\'' ||
	    memcmp(b + fp->vs, to, tl) != 0)
		return -1;
	return 0;
}

/* 8.5.2.1.1 for a chat or normal message, without side effects. */
static int
bare_targets(const uint8_t *b, size_t len, const char *to, struct fast *fp)
{
	struct imd_res	*r;
	int		 best = -1;

	for (r = imd_res_list(fp->peer); r != NULL; r = r->next)
		if (r->available && r->priority > best)
			best = r->priority;
	for (r = imd_res_list(fp->peer); r != NULL && best >= 0; r = r->next)
		if (r->available && r->priority == best) {
			if (fp->n == FAST_TARGETS)
				return -1;
			fp->r[fp->n++] = r;
		}
	fp->bare = 1;
	return fp->n > 0 ? to_value(b, len, to, fp) : -1;
}

/*
 * Everything the parsing path would look at, without a tree: both ends
 * local, the recipient online, no compliance log, no block either way.
 * Anything else (errors to answer, offline storage) takes that path.
 */
static int
fast_target(struct frame *f, const uint8_t *b, size_t len, struct fast *fp)
{
	struct imd_res	*r;

	memset(fp, 0, offsetof(struct fast, owner));
	if (!(f->hdr.flags & RFF_PLAINMSG) || (f->hdr.flags & RFF_UNDELIVERED) ||
	    f->hdr.kind != RK_MESSAGE ||
	    (f->hdr.stype != RS_CHAT && f->hdr.stype != RS_NORMAL) ||
	    !imd_is_local_jid(f->to) ||
	    imd_bare(f->from, fp->owner, sizeof(fp->owner)) == -1 ||
	    imd_bare(f->to, fp->peer, sizeof(fp->peer)) == -1 ||
	    imd_compliance_on(f->from) || imd_compliance_on(f->to))
		return -1;
	if (strchr(f->to, '/') != NULL) {
		if ((r = imd_res_find(f->to)) == NULL)
			return -1;
		fp->r[fp->n++] = r;
	} else if (bare_targets(b, len, f->to, fp) == -1)
		return -1;
	/* XEP-0191 3.3 in both directions (errors are the slow path's). */
	if (imd_is_blocked(fp->owner, fp->peer) ||
	    imd_is_blocked(fp->peer, fp->owner))
		return -1;
	return 0;
}

/* The stanza-id message_local() adds, as xml_serialize() writes it:
 * <stanza-id xmlns=NS_SID id=.. by=../> (XEP-0359). */
static void
sid_text(struct xbuf *x, const char *id, const char *by)
{
	xbuf_adds(x, "<stanza-id xmlns='" NS_SID "' id='");
	xbuf_add_attr(x, id);
	xbuf_adds(x, "' by='");
	xbuf_add_attr(x, by);
	xbuf_adds(x, "'/>");
}

/*
 * Deliver, then the received carbons, as deliver() does: to a bare JID
 * each copy names its resource in `to` (imd_send rewrites it), and the
 * carbons wrap the copy sent last, as the parsing path's tree holds it.
 */
static void
fast_deliver(struct frame *f, const uint8_t *b, size_t len, struct fast *fp,
    const struct xbuf *sid)
{
	struct imd_piece p[IMD_PIECES_MAX];
	struct xbuf	 to;
	const char	*first = NULL;
	size_t		 i, n;

	xbuf_init(&to);
	for (i = 0; i < fp->n; i++) {
		n = 0;
		if (fp->bare) {
			xbuf_reset(&to);
			xbuf_add_attr(&to, fp->r[i]->full);
			p[n++] = (struct imd_piece){ (const char *)b, fp->vs };
			p[n++] = (struct imd_piece){ to.data, to.len };
			p[n++] = (struct imd_piece){ (const char *)b + fp->ve,
			    len - MSG_END_LEN - fp->ve };
		} else
			p[n++] = (struct imd_piece){ (const char *)b,
			    len - MSG_END_LEN };
		if (sid->len > 0)
			p[n++] = (struct imd_piece){ sid->data, sid->len };
		p[n++] = (struct imd_piece){ msg_end, MSG_END_LEN };
		if (!to.failed && imd_send_raw(f->from, fp->r[i]->full,
		    f->hdr.stype, p, n) == 0 && first == NULL)
			first = fp->r[i]->full;
	}
	if (first != NULL)
		imd_carbons_received_raw(fp->peer, first, f->hdr.stype, p, n);
	xbuf_free(&to);
}

/*
 * The common message, from a local session to another local account, as
 * imd_message_outbound() and message_local() handle it, in the same
 * order: carbons of the sent message, both archive copies in one
 * transaction, delivery with the recipient's <stanza-id/> spliced in
 * before </message>, carbons of the received one.
 */
int
imd_message_fast(struct frame *f, const uint8_t *b, size_t len)
{
	struct imd_mam_copy	 c[2];
	struct fast		 fp;
	struct xbuf		 sid;

	if (!splicable(b, len) || fast_target(f, b, len, &fp) == -1)
		return 0;
	imd_carbons_sent_raw(f->from, f->hdr.stype, (const char *)b, len);
	memset(c, 0, sizeof(c));
	c[0].owner = fp.owner;
	c[0].with = fp.peer;
	c[1].owner = fp.peer;
	c[1].with = fp.owner;
	c[1].incoming = 1;
	(void)imd_mam_archive_raw((const char *)b, len, c, 2);
	xbuf_init(&sid);
	if (c[1].id[0] != '\0')
		sid_text(&sid, c[1].id, fp.peer);
	if (!sid.failed)
		fast_deliver(f, b, len, &fp, &sid);
	xbuf_free(&sid);
	return 1;
}
