/*
 * imd_subscription.c - the presence subscription state machine (RFC 6121
 * section 3 and Appendix A), both directions, with pre-approval (3.4) and
 * pending inbound requests kept in LMDB until the user answers (3.1.3).
 *
 * Called by imd.c for presence of type subscribe, subscribed, unsubscribe
 * and unsubscribed, and by imd_roster.c when an item is removed.
 * Outbound stanzas are stamped with the user's bare JID (3.1.2) and go to
 * the contact's bare JID; for a local contact the inbound half runs here at
 * once, for a remote one imd_send() hands it to routerd.
 *
 * State lives in the roster item: sub (none/to/from/both), ask (pending
 * out), approved (pre-approved); "pending in" is the stored request.  Every
 * change is committed and pushed (imd_roster_save) before the stanza that
 * caused it moves on.
 */
#include <string.h>

#include "imd.h"
#include "log.h"

static struct xnode *
sub_stanza(const char *type, const struct xnode *orig)
{
	struct xnode	*y;

	y = orig != NULL ? xnode_dup(orig) : xnode_new("presence", NULL);
	if (y != NULL)
		xnode_set_attr(y, "type", type);
	return y;
}

void
imd_subscription_route(const char *from, const char *to, const char *type,
    const struct xnode *orig)
{
	struct imd_stanza	 s;
	struct frame		 f;
	struct xnode		*y;

	if ((y = sub_stanza(type, orig)) == NULL)
		return;
	xnode_set_attr(y, "id", orig ? xnode_attr(orig, "id") : NULL);
	if (!imd_is_local_jid(to))
		(void)imd_send(from, to, y);
	else {
		memset(&f.hdr, 0, sizeof(f.hdr));
		f.hdr.type = RF_STANZA;
		f.hdr.kind = RK_PRESENCE;
		f.hdr.stype = stanza_node_stype(y);
		f.fd = -1;
		xnode_set_attr(y, "from", from);
		xnode_set_attr(y, "to", to);
		if (imd_stanza_init(&s, &f, y, from, to, 0) == 0)
			imd_subscription_inbound(&s);
	}
	xnode_free(y);
}

/* The contact's item in `owner`'s roster, a fresh one if none. */
static int
item_load(const char *owner, const char *contact, struct imd_item *it)
{
	int	rc = imd_roster_get(owner, contact, it);

	if (rc == 1) {
		memset(it, 0, sizeof(*it));
		strcpy(it->jid, contact);
	}
	return rc;
}

static void
presence_error(struct imd_stanza *s, const char *cond)
{
	imd_reply_error(s, "cancel", cond);
}

/* A.2.1: the user asks for the contact's presence. */
static void
out_subscribe(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;
	int		rc = 0;

	if (item_load(owner, contact, &it) == -1) {
		presence_error(s, "internal-server-error");
		return;
	}
	if (it.sub != IMD_SUB_TO && it.sub != IMD_SUB_BOTH && !it.ask) {
		it.ask = 1;
		rc = imd_roster_save(owner, &it);
	}
	imd_item_clear(&it);
	if (rc == -2)
		presence_error(s, "not-allowed");
	else if (rc == -1)
		presence_error(s, "internal-server-error");
	else
		imd_subscription_route(owner, contact, "subscribe", s->x);
}

/* A.2.3 and 3.4: the user approves (or pre-approves) the contact. */
static void
out_subscribed(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;
	int		pending = imd_pending_exists(owner, contact);

	if (item_load(owner, contact, &it) == -1)
		return;
	if (it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH) {
		imd_item_clear(&it);
		(void)imd_pending_del(owner, contact);
		return;
	}
	if (!pending) {
		/* 3.4: remember the approval; nothing is sent now. */
		if (!it.approved) {
			it.approved = 1;
			(void)imd_roster_save(owner, &it);
		}
		imd_item_clear(&it);
		return;
	}
	it.sub = it.sub == IMD_SUB_TO ? IMD_SUB_BOTH : IMD_SUB_FROM;
	it.approved = 0;
	if (imd_roster_save(owner, &it) == 0) {
		(void)imd_pending_del(owner, contact);
		imd_subscription_route(owner, contact, "subscribed", s->x);
		/* 3.1.5: the contact now sees the user's presence. */
		imd_presence_send_all(owner, contact, 0);
	}
	imd_item_clear(&it);
}

/* A.2.2: the user cancels its subscription to the contact. */
static void
out_unsubscribe(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;

	if (item_load(owner, contact, &it) != 0) {
		imd_item_clear(&it);
		return;
	}
	if (it.sub == IMD_SUB_TO || it.sub == IMD_SUB_BOTH || it.ask) {
		it.sub = it.sub == IMD_SUB_BOTH ? IMD_SUB_FROM :
		    it.sub == IMD_SUB_TO ? IMD_SUB_NONE : it.sub;
		it.ask = 0;
		(void)imd_roster_save(owner, &it);
	}
	imd_item_clear(&it);
	imd_subscription_route(owner, contact, "unsubscribe", s->x);
}

/* A.2.4: the user denies a request or cancels the contact's
 * subscription (3.2.1), or withdraws a pre-approval. */
static void
out_unsubscribed(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;
	int		pending = imd_pending_exists(owner, contact);
	int		route = pending, had_from;

	if (pending)
		(void)imd_pending_del(owner, contact);
	if (item_load(owner, contact, &it) == 0) {
		had_from = it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH;
		if (had_from || it.approved) {
			if (had_from)
				imd_presence_send_all(owner, contact, 1);
			it.sub = it.sub == IMD_SUB_BOTH ? IMD_SUB_TO :
			    it.sub == IMD_SUB_FROM ? IMD_SUB_NONE : it.sub;
			it.approved = 0;
			(void)imd_roster_save(owner, &it);
			route |= had_from;
		}
	}
	imd_item_clear(&it);
	if (route)
		imd_subscription_route(owner, contact, "unsubscribed", s->x);
}

void
imd_subscription_outbound(struct imd_stanza *s)
{
	char	owner[JID_MAX + 1], contact[JID_MAX + 1];

	if (imd_bare(s->from_s, owner, sizeof(owner)) == -1 ||
	    imd_bare(s->to_s, contact, sizeof(contact)) == -1 ||
	    strcmp(owner, contact) == 0 || s->to.local[0] == '\0' ||
	    !imd_is_local_jid(owner))
		return;
	switch (stanza_node_stype(s->x)) {
	case RS_SUBSCRIBE:
		out_subscribe(s, owner, contact);
		break;
	case RS_SUBSCRIBED:
		out_subscribed(s, owner, contact);
		break;
	case RS_UNSUBSCRIBE:
		out_unsubscribe(s, owner, contact);
		break;
	case RS_UNSUBSCRIBED:
		out_unsubscribed(s, owner, contact);
		break;
	}
}

/* Deliver to the user's available resources (3.1.3, 3.1.6, 3.2.3). */
static void
to_user(const char *contact, const char *owner, struct xnode *x)
{
	imd_presence_deliver(contact, owner, x);
}

/* A.3.1: the contact asks for the user's presence. */
static void
in_subscribe(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;
	int		rc = item_load(owner, contact, &it);

	if (rc == -1)
		return;
	if (it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH) {
		/* 3.1.3: already approved: answer for the user. */
		imd_subscription_route(owner, contact, "subscribed", NULL);
	} else if (rc == 0 && it.approved) {
		it.sub = it.sub == IMD_SUB_TO ? IMD_SUB_BOTH : IMD_SUB_FROM;
		it.approved = 0;
		if (imd_roster_save(owner, &it) == 0) {
			imd_subscription_route(owner, contact, "subscribed",
			    NULL);
			imd_presence_send_all(owner, contact, 0);
		}
	} else if (imd_pending_put(owner, contact, s->x) == 0)
		to_user(contact, owner, s->x);
	imd_item_clear(&it);
}

/* A.3.2: the contact approved the user's request. */
static void
in_subscribed(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;

	if (item_load(owner, contact, &it) == 0 && it.ask &&
	    it.sub != IMD_SUB_TO && it.sub != IMD_SUB_BOTH) {
		it.sub = it.sub == IMD_SUB_FROM ? IMD_SUB_BOTH : IMD_SUB_TO;
		it.ask = 0;
		if (imd_roster_save(owner, &it) == 0)
			to_user(contact, owner, s->x);
	}
	imd_item_clear(&it);
}

/* A.3.3: the contact no longer wants the user's presence. */
static void
in_unsubscribe(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;
	int		changed = imd_pending_del(owner, contact) == 0;

	if (item_load(owner, contact, &it) == 0 &&
	    (it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH)) {
		it.sub = it.sub == IMD_SUB_BOTH ? IMD_SUB_TO : IMD_SUB_NONE;
		if (imd_roster_save(owner, &it) == 0) {
			changed = 1;
			/* 3.3.3: unavailable from the user's resources; the
			 * contact's resources also stop being the user's PEP
			 * contacts (XEP-0163 4.3), which roster_save cannot
			 * say for an item that lost its from. */
			imd_presence_send_all(owner, contact, 1);
		}
	}
	imd_item_clear(&it);
	if (changed)
		to_user(contact, owner, s->x);
}

/* A.3.4: the contact denied or cancelled the user's subscription. */
static void
in_unsubscribed(struct imd_stanza *s, const char *owner, const char *contact)
{
	struct imd_item	it;

	if (item_load(owner, contact, &it) == 0 &&
	    (it.sub == IMD_SUB_TO || it.sub == IMD_SUB_BOTH || it.ask)) {
		it.sub = it.sub == IMD_SUB_BOTH ? IMD_SUB_FROM :
		    it.sub == IMD_SUB_TO ? IMD_SUB_NONE : it.sub;
		it.ask = 0;
		if (imd_roster_save(owner, &it) == 0)
			to_user(contact, owner, s->x);
	}
	imd_item_clear(&it);
}

void
imd_subscription_inbound(struct imd_stanza *s)
{
	char	owner[JID_MAX + 1], contact[JID_MAX + 1];

	/* 3.1.3: subscription stanzas are handled at the bare JID. */
	if (s->to.local[0] == '\0' ||
	    imd_bare(s->to_s, owner, sizeof(owner)) == -1 ||
	    imd_bare(s->from_s, contact, sizeof(contact)) == -1 ||
	    strcmp(owner, contact) == 0 || imd_is_blocked(owner, contact))
		return;
	switch (stanza_node_stype(s->x)) {
	case RS_SUBSCRIBE:
		in_subscribe(s, owner, contact);
		break;
	case RS_SUBSCRIBED:
		in_subscribed(s, owner, contact);
		break;
	case RS_UNSUBSCRIBE:
		in_unsubscribe(s, owner, contact);
		break;
	case RS_UNSUBSCRIBED:
		in_unsubscribed(s, owner, contact);
		break;
	}
}
