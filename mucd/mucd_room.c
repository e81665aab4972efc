/*
 * mucd_room.c - the room model: rooms, occupants, affiliations, roles,
 * the history ring and XEP-0421 occupant ids.
 *
 * Called by every other mucd file.  Nothing here sends a stanza or
 * touches the store; callers decide when a change is saved (persistent
 * rooms) or announced.  Invariants: every list is bounded (MUC_MAX_ROOMS,
 * MUC_MAX_OCCUPANTS, MUC_MAX_SESSIONS, MUC_MAX_AFFS, historylength);
 * an occupant has at least one session while it is linked in a room;
 * nicks are unique in a room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "mucd.h"

struct muc_room	*muc_rooms;
size_t		 muc_nrooms;

void
muc_room_default_config(struct muc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->public = 1;
	c->changesubject = 0;
	c->allowinvites = 0;
	c->logging = 1;
	c->allowpm = PM_ANYONE;
	c->historylength = MUC_DEF_HISTORY;
}

struct muc_room *
muc_room_find(const char *jid)
{
	struct muc_room	*r;

	for (r = muc_rooms; r != NULL; r = r->next)
		if (strcmp(r->jid, jid) == 0)
			return r;
	return NULL;
}

struct muc_room *
muc_room_new(const char *jid)
{
	struct muc_room	*r;

	if (muc_nrooms >= MUC_MAX_ROOMS)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->jid = strdup(jid)) == NULL) {
		free(r);
		return NULL;
	}
	muc_room_default_config(&r->cfg);
	randombytes_buf(r->secret, sizeof(r->secret));
	r->next = muc_rooms;
	muc_rooms = r;
	muc_nrooms++;
	return r;
}

static void
occ_free(struct muc_occupant *o)
{
	size_t	i;

	for (i = 0; i < o->nsessions; i++)
		free(o->sessions[i]);
	xnode_free(o->presence);
	free(o->nick);
	free(o->bare);
	free(o);
}

void
muc_hist_clear(struct muc_room *r)
{
	size_t	i;

	for (i = 0; i < r->hist_count; i++)
		xnode_free(r->hist[(r->hist_first + i) % MUC_MAX_HISTORY].msg);
	r->hist_first = r->hist_count = 0;
}

void
muc_room_free(struct muc_room *r)
{
	struct muc_occupant	*o;
	struct muc_affent	*a;

	while ((o = r->occupants) != NULL) {
		r->occupants = o->next;
		occ_free(o);
	}
	while ((a = r->affs) != NULL) {
		r->affs = a->next;
		free(a->jid);
		free(a->reason);
		free(a->nick);
		free(a);
	}
	muc_hist_clear(r);
	free(r->subject);
	free(r->subject_from);
	free(r->jid);
	free(r);
}

/* Unlink from the room list, drop from the store, free. */
void
muc_room_destroy(struct muc_room *r)
{
	struct muc_room	**pp;

	for (pp = &muc_rooms; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			muc_nrooms--;
			break;
		}
	}
	muc_store_forget(r);
	muc_room_free(r);
}

struct muc_occupant *
muc_occ_by_nick(struct muc_room *r, const char *nick)
{
	struct muc_occupant	*o;

	for (o = r->occupants; o != NULL; o = o->next)
		if (strcmp(o->nick, nick) == 0)
			return o;
	return NULL;
}

struct muc_occupant *
muc_occ_by_jid(struct muc_room *r, const char *full)
{
	struct muc_occupant	*o;
	size_t			 i;

	for (o = r->occupants; o != NULL; o = o->next)
		for (i = 0; i < o->nsessions; i++)
			if (strcmp(o->sessions[i], full) == 0)
				return o;
	return NULL;
}

int
muc_room_count_users(struct muc_room *r)
{
	return (int)r->noccupants;
}

struct muc_occupant *
muc_occ_new(struct muc_room *r, const char *nick, const char *full,
    const char *bare)
{
	struct muc_occupant	*o, **pp;

	if (r->noccupants >= MUC_MAX_OCCUPANTS)
		return NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	if ((o->nick = strdup(nick)) == NULL ||
	    (o->bare = strdup(bare)) == NULL ||
	    muc_occ_add_session(o, full) == -1) {
		occ_free(o);
		return NULL;
	}
	muc_occupant_id(r, bare, o->occid, sizeof(o->occid));
	/* Append: presence of existing occupants goes out in join order. */
	for (pp = &r->occupants; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = o;
	r->noccupants++;
	return o;
}

int
muc_occ_add_session(struct muc_occupant *o, const char *full)
{
	size_t	i;

	for (i = 0; i < o->nsessions; i++)
		if (strcmp(o->sessions[i], full) == 0)
			return 0;
	if (o->nsessions == MUC_MAX_SESSIONS ||
	    (o->sessions[o->nsessions] = strdup(full)) == NULL)
		return -1;
	o->nsessions++;
	return 0;
}

/* Returns the sessions left. */
int
muc_occ_del_session(struct muc_occupant *o, const char *full)
{
	size_t	i;

	for (i = 0; i < o->nsessions; i++) {
		if (strcmp(o->sessions[i], full) == 0) {
			free(o->sessions[i]);
			o->sessions[i] = o->sessions[--o->nsessions];
			break;
		}
	}
	return (int)o->nsessions;
}

void
muc_occ_remove(struct muc_room *r, struct muc_occupant *o)
{
	struct muc_occupant	**pp;

	for (pp = &r->occupants; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			r->noccupants--;
			occ_free(o);
			return;
		}
	}
}

/* ---- affiliations (XEP-0045 5.2) ---- */

static struct muc_affent *
aff_find(struct muc_room *r, const char *bare)
{
	struct muc_affent	*a;

	for (a = r->affs; a != NULL; a = a->next)
		if (strcmp(a->jid, bare) == 0)
			return a;
	return NULL;
}

/* An entry may name a whole domain (XEP-0045 9.1: ban a server). */
enum muc_aff
muc_aff_get(struct muc_room *r, const char *bare)
{
	struct muc_affent	*a;
	const char		*at;

	if ((a = aff_find(r, bare)) != NULL)
		return a->aff;
	if ((at = strchr(bare, '@')) != NULL && (a = aff_find(r, at + 1)) != NULL)
		return a->aff;
	return AFF_NONE;
}

int
muc_aff_set(struct muc_room *r, const char *bare, enum muc_aff aff,
    const char *reason)
{
	struct muc_affent	*a, **pp;

	for (pp = &r->affs; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->jid, bare) == 0)
			break;
	if ((a = *pp) != NULL) {
		if (aff == AFF_NONE) {
			*pp = a->next;
			free(a->jid);
			free(a->reason);
			free(a->nick);
			free(a);
			r->naffs--;
			return 0;
		}
		free(a->reason);
		a->reason = NULL;
		if (aff == AFF_OUTCAST) {	/* a ban ends a reservation */
			free(a->nick);
			a->nick = NULL;
		}
	} else {
		if (aff == AFF_NONE)
			return 0;
		if (r->naffs >= MUC_MAX_AFFS || (a = calloc(1, sizeof(*a))) == NULL)
			return -1;
		if ((a->jid = strdup(bare)) == NULL) {
			free(a);
			return -1;
		}
		a->next = r->affs;
		r->affs = a;
		r->naffs++;
	}
	a->aff = aff;
	if (reason != NULL && *reason != '\0')
		a->reason = strndup(reason, MUC_MAX_TEXT);
	return 0;
}

/* ---- reserved nicks (XEP-0045 7.10, 7.12) ---- */

/* The nick `bare` registered in this room, or NULL. */
const char *
muc_nick_reserved(struct muc_room *r, const char *bare)
{
	struct muc_affent	*a = aff_find(r, bare);

	return a != NULL ? a->nick : NULL;
}

/* The bare JID that registered `nick` here, or NULL. */
const char *
muc_nick_owner(struct muc_room *r, const char *nick)
{
	struct muc_affent	*a;

	for (a = r->affs; a != NULL; a = a->next)
		if (a->nick != NULL && strcmp(a->nick, nick) == 0)
			return a->jid;
	return NULL;
}

/* `bare` must hold an affiliation entry; NULL nick drops the reservation. */
int
muc_nick_reserve(struct muc_room *r, const char *bare, const char *nick)
{
	struct muc_affent	*a = aff_find(r, bare);
	char			*n = NULL;

	if (a == NULL || (nick != NULL && (n = strdup(nick)) == NULL))
		return -1;
	free(a->nick);
	a->nick = n;
	return 0;
}

size_t
muc_aff_count(struct muc_room *r, enum muc_aff aff)
{
	struct muc_affent	*a;
	size_t			 n = 0;

	for (a = r->affs; a != NULL; a = a->next)
		if (a->aff == aff)
			n++;
	return n;
}

/* XEP-0045 5.1.2: the default role of an affiliation in this room. */
enum muc_role
muc_role_for(struct muc_room *r, enum muc_aff aff)
{
	switch (aff) {
	case AFF_OWNER:
	case AFF_ADMIN:
		return ROLE_MODERATOR;
	case AFF_MEMBER:
		return ROLE_PARTICIPANT;
	case AFF_NONE:
		if (r->cfg.membersonly)
			return ROLE_NONE;
		return r->cfg.moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
	default:
		return ROLE_NONE;
	}
}

static const char *const aff_names[] = {
	"none", "outcast", "member", "admin", "owner"
};
static const char *const role_names[] = {
	"none", "visitor", "participant", "moderator"
};

const char *
muc_aff_name(enum muc_aff a)
{
	return aff_names[a];
}

const char *
muc_role_name(enum muc_role r)
{
	return role_names[r];
}

int
muc_aff_parse(const char *s, enum muc_aff *out)
{
	int	i;

	for (i = 0; s != NULL && i < 5; i++)
		if (strcmp(s, aff_names[i]) == 0) {
			*out = (enum muc_aff)i;
			return 0;
		}
	return -1;
}

int
muc_role_parse(const char *s, enum muc_role *out)
{
	int	i;

	for (i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum muc_role)i;
			return 0;
		}
	return -1;
}

/*
 * XEP-0421 section 4: the id is stable for one real bare JID in one room
 * and reveals nothing about it: HMAC-SHA-256 of the bare JID keyed with
 * the room's secret, base64 (44 characters).
 */
void
muc_occupant_id(struct muc_room *r, const char *bare, char *out, size_t len)
{
	unsigned char	mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, r->secret, sizeof(r->secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)bare,
	    strlen(bare));
	crypto_auth_hmacsha256_final(&st, mac);
	if (len < sodium_base64_ENCODED_LEN(sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL)) {
		*out = '\0';
		return;
	}
	sodium_bin2base64(out, len, mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);
}

/* ---- history (XEP-0045 7.2.15) ---- */

/* Takes `msg`.  The ring keeps the last historylength messages. */
void
muc_hist_add(struct muc_room *r, struct xnode *msg, uint64_t usec)
{
	struct muc_hist	*h;
	struct xbuf	 b;
	size_t		 max = r->cfg.historylength;

	if (max > MUC_MAX_HISTORY)
		max = MUC_MAX_HISTORY;
	if (max == 0) {
		xnode_free(msg);
		return;
	}
	while (r->hist_count >= max) {
		xnode_free(r->hist[r->hist_first].msg);
		r->hist_first = (r->hist_first + 1) % MUC_MAX_HISTORY;
		r->hist_count--;
	}
	h = &r->hist[(r->hist_first + r->hist_count) % MUC_MAX_HISTORY];
	xbuf_init(&b);
	(void)muc_serialize(&b, msg);
	h->chars = b.len;
	xbuf_free(&b);
	h->msg = msg;
	h->usec = usec;
	r->hist_count++;
}
