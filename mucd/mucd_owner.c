/*
 * mucd_owner.c - the muc#owner iq (XEP-0045 section 10): the
 * configuration form (get), submitting it (instant and reserved rooms,
 * 10.1.2-10.1.3, and later changes, 10.2), cancelling a new room, and
 * destroying a room (10.9) with a reason and an alternate venue.
 *
 * Called by mucd_iq.c.  Invariants: only owners get here past the first
 * check; a configuration is applied whole or not at all; the effects of a
 * change on occupants (members-only removals 322, status 104/172/173) go
 * out after the result; a room that became temporary and is empty goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"

/* <destroy/> of muc#user from the owner's request (10.9). */
static void
add_destroy(struct xnode *x, const struct xnode *d)
{
	struct xnode	*dd, *rs, *n;
	const char	*alt;
	char		*text;

	if (d == NULL || (dd = xnode_add_child(x, "destroy", NS_MUC_USER)) == NULL)
		return;
	if ((alt = xnode_attr(d, "jid")) != NULL)
		xnode_set_attr(dd, "jid", alt);
	if ((rs = xnode_child(d, "reason", NULL)) != NULL &&
	    (text = xnode_text(rs)) != NULL) {
		if ((n = xnode_add_child(dd, "reason", NS_MUC_USER)) != NULL)
			xnode_add_text(n, text, strlen(text));
		free(text);
	}
}

/* Everyone gets unavailable with <destroy/> (10.9). */
static void
destroy_room(struct muc_stanza *s, struct muc_room *r, struct xnode *d)
{
	struct muc_occupant	*o;
	struct xnode		*p, *x, *it;
	char			 from[JID_MAX + 1];
	size_t			 i;

	muc_reply_result(s, NULL);
	while ((o = r->occupants) != NULL) {
		snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
		if ((p = xnode_new("presence", XMLNS_CLIENT)) != NULL) {
			xnode_set_attr(p, "type", "unavailable");
			x = xnode_add_child(p, "x", NS_MUC_USER);
			if (x != NULL && (it = xnode_add_child(x, "item",
			    NS_MUC_USER)) != NULL) {
				xnode_set_attr(it, "affiliation", "none");
				xnode_set_attr(it, "role", "none");
			}
			if (x != NULL)
				add_destroy(x, d);
			for (i = 0; i < o->nsessions; i++)
				(void)muc_send(from, o->sessions[i], p);
			xnode_free(p);
		}
		muc_occ_remove(r, o);
	}
	log_info("room %s destroyed by %s", r->jid, s->from_bare);
	muc_room_destroy(r);
}

/* 10.2: members-only now: those below member leave with 322. */
static void
apply_membersonly(struct muc_room *r)
{
	struct muc_occupant	*o, *next;

	for (o = r->occupants; o != NULL; o = next) {
		next = o->next;
		if (muc_aff_get(r, o->bare) < AFF_MEMBER)
			muc_occ_kick(r, o, 322, NULL);
	}
}

/* Roles follow moderation on and off (for those without a given role). */
static void
apply_moderation(struct muc_room *r)
{
	struct muc_occupant	*o;
	enum muc_role		 want;

	for (o = r->occupants; o != NULL; o = o->next) {
		if (o->role == ROLE_MODERATOR)
			continue;
		want = muc_role_for(r, muc_aff_get(r, o->bare));
		if (want != ROLE_NONE && want != o->role) {
			o->role = want;
			muc_occ_update_role(r, o);
		}
	}
}

static void
config_effects(struct muc_room *r, const struct muc_config *old, int was_locked)
{
	int	codes[3];
	size_t	n = 0;

	if (r->cfg.membersonly && !old->membersonly)
		apply_membersonly(r);
	if (r->cfg.moderated != old->moderated)
		apply_moderation(r);
	if (was_locked)
		return;
	codes[n++] = 104;	/* 10.2: non-privacy configuration change */
	if (r->cfg.whois_anyone != old->whois_anyone)
		codes[n++] = r->cfg.whois_anyone ? 172 : 173;
	if (r->cfg.logging != old->logging)
		codes[n++] = r->cfg.logging ? 170 : 171;
	muc_status_message(r, codes, n);
}

static int
listed(const struct muc_jidlist *l, const char *jid)
{
	int	i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->jid[i], jid) == 0)
			return 1;
	return 0;
}

/* The listed JIDs get `aff`; those who had it and are not listed lose it
 * (to none, as a revocation by the admin iq would, 10.4, 10.7). */
static void
apply_list(struct muc_room *r, const struct muc_jidlist *l, enum muc_aff aff)
{
	struct muc_affent	*a;
	int			 i;
	char			 jid[JID_MAX + 1];

	if (l->n < 0)
		return;		/* the form did not carry this field */
	for (i = 0; i < l->n; i++)
		if (muc_aff_get(r, l->jid[i]) != aff)
			(void)muc_aff_change(r, l->jid[i], aff, NULL);
	do {
		for (a = r->affs; a != NULL; a = a->next)
			if (a->aff == aff && !listed(l, a->jid))
				break;
		if (a != NULL) {
			snprintf(jid, sizeof(jid), "%s", a->jid);
			(void)muc_aff_change(r, jid, AFF_NONE, NULL);
		}
	} while (a != NULL);
}

static void
config_submit(struct muc_stanza *s, struct muc_room *r, struct xnode *x)
{
	struct muc_config	 cfg, old = r->cfg;
	struct muc_jidlist	*lists;
	int			 was_locked = r->locked;

	if ((lists = calloc(2, sizeof(*lists))) == NULL) {
		muc_reply_error(s, "wait", "resource-constraint");
		return;
	}
	lists[0].n = lists[1].n = -1;
	if (x != NULL && (muc_config_apply(r, x, &cfg) == -1 ||
	    muc_config_lists(x, &lists[0], &lists[1]) == -1)) {
		free(lists);
		muc_reply_error(s, "modify", "not-acceptable");
		return;
	}
	if (x != NULL)
		r->cfg = cfg;
	apply_list(r, &lists[0], AFF_OWNER);
	apply_list(r, &lists[1], AFF_ADMIN);
	free(lists);
	r->locked = 0;		/* 10.1.2: an empty form makes it instant */
	if (r->cfg.persistent)
		(void)muc_store_save(r);
	else if (old.persistent)
		muc_store_forget(r);
	muc_reply_result(s, NULL);
	config_effects(r, &old, was_locked);
	if (was_locked)
		log_info("room %s configured, unlocked", r->jid);
	muc_room_maybe_gc(r);
}

static void
owner_set(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	struct xnode	*x = xnode_child(q, "x", NS_XDATA), *d;
	const char	*type = x != NULL ? xnode_attr(x, "type") : NULL;

	if ((d = xnode_child(q, "destroy", NULL)) != NULL) {
		destroy_room(s, r, d);
		return;
	}
	if (type != NULL && strcmp(type, "cancel") == 0) {
		/* 10.1.3: cancelling the form of a new room destroys it. */
		if (r->locked) {
			destroy_room(s, r, NULL);
			return;
		}
		muc_reply_result(s, NULL);
		return;
	}
	if (x != NULL && (type == NULL || strcmp(type, "submit") != 0)) {
		muc_reply_error(s, "modify", "bad-request");
		return;
	}
	config_submit(s, r, x);
}

void
muc_owner_iq(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	struct xnode	*res;

	if (muc_aff_get(r, s->from_bare) != AFF_OWNER) {
		muc_reply_error(s, "auth", "forbidden");	/* 10.2 */
		return;
	}
	if (s->stype == RS_SET) {
		owner_set(s, r, q);
		return;
	}
	if ((res = xnode_new("query", NS_MUC_OWNER)) == NULL)
		return;
	xnode_append(res, muc_config_form(r));
	muc_reply_result(s, res);
}
