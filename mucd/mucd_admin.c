/*
 * mucd_admin.c - the muc#admin iq (XEP-0045 sections 8 and 9): kick,
 * grant and revoke voice and moderation, ban, member/admin/owner lists
 * (get and set), and what each change does to occupants present.
 *
 * Called by mucd_iq.c.  Every item of a set is checked before any is
 * applied, so a request is applied whole or not at all.  Privilege rules
 * (8.x, 9.x): moderators change roles of those below admin; admins change
 * affiliations below admin; owners change everything, but the last owner
 * cannot go (conflict, 10.6).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"

#define MUC_MAX_ITEMS	64	/* items in one admin set */

struct change {
	int		 is_role;
	enum muc_role	 role;
	enum muc_aff	 aff;
	char		 jid[JID_MAX + 1];	/* affiliation target (bare) */
	struct muc_occupant *occ;		/* role target, while checking */
	char		 nick[JID_PART_MAX + 1];	/* role target */
	char		*reason;
};

/* Who may do `c`?  NULL, or the error condition (type in *etype). */
static const char *
change_check(struct muc_room *r, struct muc_occupant *actor,
    enum muc_aff actor_aff, struct change *c, const char **etype)
{
	enum muc_aff	 target;

	*etype = "cancel";
	if (c->is_role) {
		target = muc_aff_get(r, c->occ->bare);
		if (actor == NULL || actor->role != ROLE_MODERATOR) {
			*etype = "auth";
			return "forbidden";
		}
		if (c->role == ROLE_MODERATOR || c->occ->role == ROLE_MODERATOR)
			return actor_aff >= AFF_ADMIN && target < AFF_ADMIN ?
			    NULL : "not-allowed";
		return target >= AFF_ADMIN ? "not-allowed" : NULL;
	}
	target = muc_aff_get(r, c->jid);
	if (actor_aff == AFF_OWNER)
		return NULL;
	if (actor_aff != AFF_ADMIN || c->aff >= AFF_ADMIN) {
		*etype = "auth";
		return "forbidden";
	}
	return target >= AFF_ADMIN ? "not-allowed" : NULL;
}

/* Parse one <item/> into `c`; NULL or the error condition. */
static const char *
change_parse(struct muc_room *r, struct xnode *it, struct change *c)
{
	const char	*role = xnode_attr(it, "role");
	const char	*aff = xnode_attr(it, "affiliation");
	const char	*nick = xnode_attr(it, "nick");
	const char	*jid = xnode_attr(it, "jid");
	struct xnode	*rs;
	char		 full[JID_MAX + 1];

	memset(c, 0, sizeof(*c));
	if ((rs = xnode_child(it, "reason", NULL)) != NULL)
		c->reason = xnode_text(rs);
	if (role != NULL && aff == NULL) {
		c->is_role = 1;
		if (muc_role_parse(role, &c->role) == -1 || nick == NULL)
			return "bad-request";
		if ((c->occ = muc_occ_by_nick(r, nick)) == NULL)
			return "item-not-found";
		snprintf(c->nick, sizeof(c->nick), "%s", nick);
		return NULL;
	}
	if (aff == NULL || muc_aff_parse(aff, &c->aff) == -1)
		return "bad-request";
	if (jid == NULL && nick != NULL && muc_occ_by_nick(r, nick) != NULL)
		jid = muc_occ_by_nick(r, nick)->bare;
	if (jid == NULL || jid_normalize(jid, full, sizeof(full)) == -1)
		return "jid-malformed";
	/* Affiliations belong to bare JIDs (5.2). */
	full[strcspn(full, "/")] = '\0';
	strcpy(c->jid, full);
	return NULL;
}

/* What an affiliation change does to those present (9.x, 10.x). */
static void
aff_effect(struct muc_room *r, struct change *c, const char *actor)
{
	struct muc_occupant	*o, *next;
	int			 code;

	for (o = r->occupants; o != NULL; o = next) {
		next = o->next;
		if (strcmp(o->bare, c->jid) != 0 &&
		    !(strchr(c->jid, '@') == NULL &&
		    strcmp(strchr(o->bare, '@') ? strchr(o->bare, '@') + 1 :
		    o->bare, c->jid) == 0))
			continue;
		code = c->aff == AFF_OUTCAST ? 301 :
		    (r->cfg.membersonly && c->aff == AFF_NONE) ? 321 : 0;
		if (code != 0) {
			muc_occ_kick(r, o, code, c->reason);
			continue;
		}
		o->role = muc_role_for(r, c->aff);
		muc_occ_update_role(r, o);
	}
}

static void
role_effect(struct muc_room *r, struct change *c, const char *actor)
{
	struct muc_codes	cd;

	/* An earlier item of the same request may have removed it. */
	if ((c->occ = muc_occ_by_nick(r, c->nick)) == NULL)
		return;
	if (c->role != ROLE_NONE) {
		c->occ->role = c->role;
		muc_occ_update_role(r, c->occ);
		return;
	}
	memset(&cd, 0, sizeof(cd));
	cd.all[cd.nall++] = 307;	/* 8.2: kicked */
	cd.reason = c->reason;
	cd.actor = actor;
	c->occ->role = ROLE_NONE;
	muc_occ_broadcast_presence(r, c->occ, 1, &cd);
	muc_occ_remove(r, c->occ);
}

/* Set and apply one affiliation outside an admin request (registration,
 * the roomowners/roomadmins fields of the configuration form). */
int
muc_aff_change(struct muc_room *r, const char *bare, enum muc_aff aff,
    const char *reason)
{
	struct change	c;

	memset(&c, 0, sizeof(c));
	if (strlen(bare) >= sizeof(c.jid) ||
	    muc_aff_set(r, bare, aff, reason) == -1)
		return -1;
	strcpy(c.jid, bare);
	c.aff = aff;
	c.reason = (char *)reason;
	aff_effect(r, &c, NULL);
	return 0;
}

static int
would_remove_last_owner(struct muc_room *r, struct change *c, size_t n)
{
	size_t	 i, owners = muc_aff_count(r, AFF_OWNER);

	for (i = 0; i < n; i++)
		if (!c[i].is_role && muc_aff_get(r, c[i].jid) == AFF_OWNER &&
		    c[i].aff != AFF_OWNER)
			owners--;
	for (i = 0; i < n; i++)
		if (!c[i].is_role && c[i].aff == AFF_OWNER &&
		    muc_aff_get(r, c[i].jid) != AFF_OWNER)
			owners++;
	return owners == 0;
}

static void
apply_changes(struct muc_stanza *s, struct muc_room *r, struct change *c,
    size_t n, struct muc_occupant *actor)
{
	size_t	 i;
	int	 save = 0;

	for (i = 0; i < n; i++) {
		if (c[i].is_role) {
			role_effect(r, &c[i], actor ? actor->nick : NULL);
			continue;
		}
		if (muc_aff_set(r, c[i].jid, c[i].aff, c[i].reason) == 0)
			save = 1;
		aff_effect(r, &c[i], actor ? actor->nick : NULL);
	}
	if (save && r->cfg.persistent)
		(void)muc_store_save(r);
	muc_reply_result(s, NULL);
	muc_room_maybe_gc(r);
}

static void
admin_set(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	struct change		*c;
	struct xnode		*it;
	struct muc_occupant	*actor = muc_occ_by_jid(r, s->from_s);
	enum muc_aff		 aff = muc_aff_get(r, s->from_bare);
	const char		*err = NULL, *etype = "modify";
	size_t			 n = 0, i;

	if ((c = calloc(MUC_MAX_ITEMS, sizeof(*c))) == NULL)
		return;
	for (it = xnode_first_elem(q); it != NULL && err == NULL;
	    it = xnode_next_elem(it)) {
		if (strcmp(it->name, "item") != 0)
			continue;
		if (n == MUC_MAX_ITEMS) {
			err = "resource-constraint";
			break;
		}
		if ((err = change_parse(r, it, &c[n])) == NULL)
			err = change_check(r, actor, aff, &c[n], &etype);
		n++;
	}
	if (err == NULL && n == 0)
		err = "bad-request";
	if (err == NULL && would_remove_last_owner(r, c, n)) {
		err = "conflict";
		etype = "cancel";
	}
	if (err != NULL)
		muc_reply_error(s, strcmp(err, "forbidden") == 0 ? "auth" :
		    strcmp(err, "not-allowed") == 0 ? "cancel" : etype, err);
	else
		apply_changes(s, r, c, n, actor);
	for (i = 0; i < n; i++)
		free(c[i].reason);
	free(c);
}

/* 9.5, 10.5, 8.5: the list of one affiliation or one role. */
static void
admin_get(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	struct xnode		*it = xnode_child(q, "item", NULL), *res, *x;
	struct muc_occupant	*actor = muc_occ_by_jid(r, s->from_s), *o;
	struct muc_affent	*a;
	enum muc_aff		 aff;
	enum muc_role		 role;
	char			 jid[JID_MAX + 1];

	if ((res = xnode_new("query", NS_MUC_ADMIN)) == NULL)
		return;
	if (it != NULL && muc_aff_parse(xnode_attr(it, "affiliation"),
	    &aff) == 0 && aff != AFF_NONE) {
		if (muc_aff_get(r, s->from_bare) < AFF_ADMIN)
			goto forbidden;
		for (a = r->affs; a != NULL; a = a->next) {
			if (a->aff != aff ||
			    (x = xnode_add_child(res, "item", NS_MUC_ADMIN)) == NULL)
				continue;
			xnode_set_attr(x, "affiliation", muc_aff_name(aff));
			xnode_set_attr(x, "jid", a->jid);
		}
	} else if (it != NULL && muc_role_parse(xnode_attr(it, "role"),
	    &role) == 0 && role != ROLE_NONE) {
		if (actor == NULL || actor->role != ROLE_MODERATOR)
			goto forbidden;
		for (o = r->occupants; o != NULL; o = o->next) {
			if (o->role != role ||
			    (x = xnode_add_child(res, "item", NS_MUC_ADMIN)) == NULL)
				continue;
			xnode_set_attr(x, "role", muc_role_name(role));
			xnode_set_attr(x, "nick", o->nick);
			xnode_set_attr(x, "affiliation",
			    muc_aff_name(muc_aff_get(r, o->bare)));
			snprintf(jid, sizeof(jid), "%s", o->sessions[0]);
			xnode_set_attr(x, "jid", jid);
		}
	} else {
		xnode_free(res);
		muc_reply_error(s, "modify", "bad-request");
		return;
	}
	muc_reply_result(s, res);
	return;
forbidden:
	xnode_free(res);
	muc_reply_error(s, "auth", "forbidden");
}

void
muc_admin_iq(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	if (s->stype == RS_GET)
		admin_get(s, r, q);
	else
		admin_set(s, r, q);
}
