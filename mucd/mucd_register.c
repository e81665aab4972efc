/*
 * mucd_register.c - registering with a room (XEP-0045 section 7.10, the
 * muc#register form of section 15.5.1) and discovering one's reserved
 * nick (section 7.12, disco#info node x-roomuser-item).
 *
 * Called by mucd_iq.c for jabber:iq:register to a room JID.  Policy:
 * registering reserves a nick in the room and makes the user a member;
 * in a members-only room only those already on the member list (or
 * above) may register, so registration never opens such a room.  A
 * reserved nick is the only one its owner gets in the room (210 on join,
 * mucd_presence.c) and nobody else may use it (conflict).  <remove/>
 * drops the reservation and a member's membership.  Invariants: the nick
 * is resourceprep'd before it is compared or kept; a persistent room is
 * saved after each change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"

/* The empty form (get, nothing registered yet). */
static struct xnode *
register_form(void)
{
	struct xnode	*q, *x, *f;

	if ((q = xnode_new("query", NS_REGISTER)) == NULL)
		return NULL;
	if ((f = xnode_add_child(q, "instructions", NS_REGISTER)) != NULL)
		xnode_add_text(f, "Choose the nickname to reserve in this room.",
		    44);
	if ((x = xnode_add_child(q, "x", NS_XDATA)) == NULL)
		return q;
	xnode_set_attr(x, "type", "form");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_REGISTER);
	muc_form_field(x, "muc#register_roomnick", "text-single",
	    "Desired Nickname", NULL);
	if ((f = x->last) != NULL)
		(void)xnode_add_child(f, "required", NS_XDATA);
	return q;
}

static void
register_get(struct muc_stanza *s, struct muc_room *r)
{
	const char	*nick = muc_nick_reserved(r, s->from_bare);
	struct xnode	*q, *u;

	if (nick == NULL) {
		muc_reply_result(s, register_form());
		return;
	}
	if ((q = xnode_new("query", NS_REGISTER)) == NULL)
		return;
	(void)xnode_add_child(q, "registered", NS_REGISTER);
	if ((u = xnode_add_child(q, "username", NS_REGISTER)) != NULL)
		xnode_add_text(u, nick, strlen(nick));
	muc_reply_result(s, q);
}

/* The prepared nick of a submitted form; NULL and an error if none. */
static const char *
submitted_nick(struct muc_stanza *s, const struct xnode *x, char *out)
{
	char		 ft[128], raw[JID_PART_MAX + 1];
	const char	*type = x != NULL ? xnode_attr(x, "type") : NULL;

	if (type == NULL || strcmp(type, "submit") != 0 ||
	    muc_form_value(x, "FORM_TYPE", ft, sizeof(ft)) == NULL ||
	    strcmp(ft, NS_MUC_REGISTER) != 0 ||
	    muc_form_value(x, "muc#register_roomnick", raw, sizeof(raw)) ==
	    NULL || jid_prep_resource(raw, strlen(raw), out) == -1) {
		muc_reply_error(s, "modify", "bad-request");
		return NULL;
	}
	return out;
}

static void
register_set(struct muc_stanza *s, struct muc_room *r, const struct xnode *x)
{
	struct muc_occupant	*o;
	const char		*owner;
	char			 nick[JID_PART_MAX + 1];
	enum muc_aff		 aff = muc_aff_get(r, s->from_bare);

	if (submitted_nick(s, x, nick) == NULL)
		return;
	if (aff == AFF_OUTCAST) {
		muc_reply_error(s, "auth", "forbidden");
		return;
	}
	if (r->cfg.membersonly && aff < AFF_MEMBER) {
		muc_reply_error(s, "cancel", "not-allowed");
		return;
	}
	if (((owner = muc_nick_owner(r, nick)) != NULL &&
	    strcmp(owner, s->from_bare) != 0) ||
	    ((o = muc_occ_by_nick(r, nick)) != NULL &&
	    strcmp(o->bare, s->from_bare) != 0)) {
		muc_reply_error(s, "cancel", "conflict");
		return;
	}
	if ((aff == AFF_NONE && muc_aff_change(r, s->from_bare, AFF_MEMBER,
	    NULL) == -1) || muc_nick_reserve(r, s->from_bare, nick) == -1) {
		muc_reply_error(s, "wait", "resource-constraint");
		return;
	}
	if (r->cfg.persistent)
		(void)muc_store_save(r);
	log_info("%s: %s registered as %s", r->jid, s->from_bare, nick);
	muc_reply_result(s, NULL);
}

static void
register_remove(struct muc_stanza *s, struct muc_room *r)
{
	if (muc_nick_reserved(r, s->from_bare) == NULL) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	(void)muc_nick_reserve(r, s->from_bare, NULL);
	muc_reply_result(s, NULL);
	/* Membership came with the registration; higher ranks stay. */
	if (muc_aff_get(r, s->from_bare) == AFF_MEMBER)
		(void)muc_aff_change(r, s->from_bare, AFF_NONE, NULL);
	if (r->cfg.persistent)
		(void)muc_store_save(r);
	muc_room_maybe_gc(r);
}

void
muc_register_iq(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	if (s->stype == RS_GET)
		register_get(s, r);
	else if (xnode_child(q, "remove", NULL) != NULL)
		register_remove(s, r);
	else
		register_set(s, r, xnode_child(q, "x", NS_XDATA));
}
