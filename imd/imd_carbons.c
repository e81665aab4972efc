/*
 * imd_carbons.c - message carbons (XEP-0280, urn:xmpp:carbons:2) and the
 * XEP-0297 <forwarded/> wrapper that carbons and the archive share.
 *
 * imd_handlers.c routes <enable/>/<disable/> iq sets here; imd_deliver.c
 * calls imd_carbons_sent() for each outbound message of a local session
 * and imd_carbons_received() for each inbound message it delivered (or
 * stored).  The carbons flag lives on the session's struct imd_res and so
 * dies with the session (XEP-0280 section 4: enabling is per session).
 *
 * Invariants: a copy goes only to resources of the same account that
 * enabled carbons, never to the resource that sent or received the
 * original; messages marked <private/> (XEP-0280 section 7) or <no-copy/>
 * (XEP-0334) and messages that are themselves carbons are never copied.
 */
#include <string.h>

#include "log.h"
#include "imd.h"

#define NS_HINTS	"urn:xmpp:hints"
#define NS_RECEIPTS	"urn:xmpp:receipts"
#define NS_CHATSTATES	"http://jabber.org/protocol/chatstates"
#define NS_MARKERS	"urn:xmpp:chat-markers:0"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"

/* The namespace forwarded stanzas must declare; a static buffer so that
 * element nodes can point at it (their own ns storage is inline). */
static char client_ns[] = XMLNS_CLIENT;

/*
 * A parsed body has ns "" for jabber:client; below <forwarded/> it needs
 * the explicit namespace (XEP-0297 section 3), and so do its descendants
 * that inherited it, or the serializer would reset them to xmlns=''.
 */
static void
set_client_ns(struct xnode *n)
{
	struct xnode	*c;

	if (n->type != XNODE_ELEM)
		return;
	if (n->ns == NULL || n->ns[0] == '\0')
		n->ns = client_ns;
	else if (strcmp(n->ns, XMLNS_CLIENT) != 0)
		return;		/* a payload namespace: leave its subtree */
	for (c = n->children; c != NULL; c = c->next)
		set_client_ns(c);
}

struct xnode *
imd_forwarded(const struct xnode *msg, const char *stamp)
{
	struct xnode	*fw, *d, *copy;

	if ((fw = xnode_new("forwarded", NS_FORWARD)) == NULL)
		return NULL;
	if (stamp != NULL) {
		if ((d = xnode_add_child(fw, "delay", NS_DELAY)) == NULL)
			goto fail;
		xnode_set_attr(d, "stamp", stamp);
	}
	if ((copy = xnode_dup(msg)) == NULL)
		goto fail;
	set_client_ns(copy);
	xnode_append(fw, copy);
	return fw;
fail:
	xnode_free(fw);
	return NULL;
}

/* XEP-0280 section 6: which messages are copied at all. */
static int
carbons_eligible(const struct xnode *msg)
{
	const char	*type = xnode_attr(msg, "type");

	if (strcmp(msg->name, "message") != 0)
		return 0;
	if (xnode_child(msg, "private", NS_CARBONS) != NULL ||
	    xnode_child(msg, "no-copy", NS_HINTS) != NULL)
		return 0;
	/* Never a carbon of a carbon (a forged one would fool clients). */
	if (xnode_child(msg, "sent", NS_CARBONS) != NULL ||
	    xnode_child(msg, "received", NS_CARBONS) != NULL)
		return 0;
	if (type == NULL || strcmp(type, "normal") == 0) {
		if (xnode_child(msg, "body", NULL) != NULL)
			return 1;
	} else if (strcmp(type, "chat") == 0)
		return 1;
	else
		return 0;	/* groupchat, headline, error */
	/* Payloads of an IM conversation (section 6, third rule). */
	if (xnode_child(msg, "received", NS_RECEIPTS) != NULL ||
	    xnode_child(msg, "request", NS_RECEIPTS) != NULL ||
	    xnode_child(msg, "displayed", NS_MARKERS) != NULL ||
	    xnode_child(msg, "active", NS_CHATSTATES) != NULL ||
	    xnode_child(msg, "composing", NS_CHATSTATES) != NULL)
		return 1;
	return 0;
}

/* <message from=bare to=full type=T><WHAT xmlns=carbons>forwarded</WHAT> */
static void
carbon_send(const char *bare, const char *to_full, const struct xnode *msg,
    const char *what)
{
	struct xnode	*m, *w, *fw;
	const char	*type = xnode_attr(msg, "type");

	if ((m = xnode_new("message", "")) == NULL)
		return;
	xnode_set_attr(m, "type", type != NULL ? type : "normal");
	if ((w = xnode_add_child(m, what, NS_CARBONS)) == NULL ||
	    (fw = imd_forwarded(msg, NULL)) == NULL) {
		xnode_free(m);
		return;
	}
	xnode_append(w, fw);
	if (imd_send(bare, to_full, m) == -1)
		log_warnx("carbons: cannot send %s copy to %s", what, to_full);
	xnode_free(m);
}

void
imd_carbons_sent(struct imd_stanza *s)
{
	struct imd_res	*r;
	struct xnode	*copy;
	char		 bare[JID_MAX + 1];

	if (!carbons_eligible(s->x))
		return;
	if (jid_format_bare(&s->from, bare, sizeof(bare)) < 0)
		return;
	if ((r = imd_res_list(bare)) == NULL)
		return;
	/* The copy names the real sender and recipient (section 8). */
	if ((copy = xnode_dup(s->x)) == NULL)
		return;
	xnode_set_attr(copy, "from", s->from_s);
	if (xnode_attr(copy, "to") == NULL && s->to_s[0] != '\0')
		xnode_set_attr(copy, "to", s->to_s);
	for (; r != NULL; r = r->next) {
		if (!r->carbons || strcmp(r->full, s->from_s) == 0)
			continue;
		carbon_send(bare, r->full, copy, "sent");
	}
	xnode_free(copy);
}

void
imd_carbons_received(const char *owner_bare, struct xnode *msg,
    const char *to_full)
{
	struct imd_res	*r;

	if (!carbons_eligible(msg))
		return;
	for (r = imd_res_list(owner_bare); r != NULL; r = r->next) {
		if (!r->carbons)
			continue;
		if (to_full != NULL && strcmp(r->full, to_full) == 0)
			continue;
		carbon_send(owner_bare, r->full, msg, "received");
	}
}

/*
 * The same copies for a plain message (RFF_PLAINMSG: eligible by
 * construction, section 6) from its serialized pieces: the wrapper is
 * concatenated around them, with jabber:client declared on the forwarded
 * <message/> (XEP-0297 section 3), byte for byte what carbon_send() makes
 * of the parsed message.  `msg[0]` starts with "<message".
 */
static void
carbon_send_raw(const char *bare, const char *to_full, uint8_t stype,
    const struct imd_piece *msg, size_t n, const char *what)
{
	struct imd_piece p[IMD_PIECES_MAX + 2];
	struct xbuf	 head, tail;
	size_t		 i;

	if (n == 0 || n > IMD_PIECES_MAX || msg[0].len < 8)
		return;
	xbuf_init(&head);
	xbuf_init(&tail);
	xbuf_adds(&head, stype == RS_CHAT ? "<message type='chat' from='" :
	    "<message type='normal' from='");
	xbuf_add_attr(&head, bare);
	xbuf_adds(&head, "' to='");
	xbuf_add_attr(&head, to_full);
	xbuf_addf(&head, "'><%s xmlns='" NS_CARBONS "'><forwarded xmlns='"
	    NS_FORWARD "'><message xmlns='" XMLNS_CLIENT "'", what);
	xbuf_addf(&tail, "</forwarded></%s></message>", what);
	p[0].p = head.data;
	p[0].len = head.len;
	for (i = 0; i < n; i++)
		p[i + 1] = msg[i];
	p[1].p += 8;		/* "<message" is in the head */
	p[1].len -= 8;
	p[n + 1].p = tail.data;
	p[n + 1].len = tail.len;
	if (head.failed || tail.failed ||
	    imd_send_raw(bare, to_full, stype, p, n + 2) == -1)
		log_warnx("carbons: cannot send %s copy to %s", what, to_full);
	xbuf_free(&head);
	xbuf_free(&tail);
}

void
imd_carbons_sent_raw(const char *from_full, uint8_t stype, const char *msg,
    size_t len)
{
	struct imd_res	*r;
	struct imd_piece p = { msg, len };
	char		 bare[JID_MAX + 1];

	if (imd_bare(from_full, bare, sizeof(bare)) == -1)
		return;
	for (r = imd_res_list(bare); r != NULL; r = r->next)
		if (r->carbons && strcmp(r->full, from_full) != 0)
			carbon_send_raw(bare, r->full, stype, &p, 1, "sent");
}

void
imd_carbons_received_raw(const char *owner_bare, const char *to_full,
    uint8_t stype, const struct imd_piece *msg, size_t n)
{
	struct imd_res	*r;

	for (r = imd_res_list(owner_bare); r != NULL; r = r->next)
		if (r->carbons && strcmp(r->full, to_full) != 0)
			carbon_send_raw(owner_bare, r->full, stype, msg, n,
			    "received");
}

/* XEP-0280 section 4: <enable/> and <disable/>, per session. */
int
imd_carbons_iq(struct imd_stanza *s)
{
	struct xnode	*q = xnode_first_elem(s->x);
	struct imd_res	*r;
	const char	*type = xnode_attr(s->x, "type");
	int		 on;

	if (q == NULL || q->ns == NULL || strcmp(q->ns, NS_CARBONS) != 0)
		return -1;
	if (strcmp(q->name, "enable") == 0)
		on = 1;
	else if (strcmp(q->name, "disable") == 0)
		on = 0;
	else {
		imd_reply_error(s, "cancel", "feature-not-implemented");
		return 0;
	}
	if (type == NULL || strcmp(type, "set") != 0) {
		imd_reply_error(s, "modify", "bad-request");
		return 0;
	}
	/* Only the account itself, from one of its sessions. */
	if (!jid_bare_equal(&s->from, &s->to) || s->from.resource[0] == '\0') {
		imd_reply_error(s, "cancel", "forbidden");
		return 0;
	}
	if ((r = imd_res_find(s->from_s)) == NULL) {
		imd_reply_error(s, "cancel", "item-not-found");
		return 0;
	}
	r->carbons = on;
	imd_reply_result(s, NULL);
	return 0;
}
