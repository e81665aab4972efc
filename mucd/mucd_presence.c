/*
 * mucd_presence.c - occupant presence (XEP-0045 sections 7.1-7.4, 7.6,
 * 10.1): entering a room (creating it if needed), presence updates,
 * nickname changes, leaving, kicks, and removing occupants whose delivery
 * failed.
 *
 * Called by mucd.c for every presence stanza and RF_BOUNCE frame, and by
 * mucd_iq.c for kicks and role changes.  Invariants: an occupant's presence
 * reaches every session in the room from room/nick, the occupant's own
 * sessions get status 110; the real JID is in the item only where the
 * room's whois setting lets the recipient see it (5.2.1); a temporary room
 * is destroyed when its last occupant leaves (10.1.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"

/* Status codes (XEP-0045 section 15.6). */
#define ST_NONANON	100
#define ST_SELF		110
#define ST_LOGGING	170
#define ST_CREATED	201
#define ST_NICKASSIGNED	210
#define ST_NICKCHANGE	303
#define ST_ERRORLEFT	333

static void
add_status(struct xnode *x, int code)
{
	struct xnode	*s;
	char		 buf[8];

	snprintf(buf, sizeof(buf), "%d", code);
	if ((s = xnode_add_child(x, "status", NS_MUC_USER)) != NULL)
		xnode_set_attr(s, "code", buf);
}

static int
is_muc_payload(const struct xnode *c)
{
	return strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0 ||
	    strcmp(c->ns, NS_OCCID) == 0;
}

/* The <x/> of muc#user with the item a recipient may see. */
static void
add_user_x(struct xnode *p, struct muc_room *r, struct muc_occupant *o,
    const char *real, int unavailable, const struct muc_codes *c, int self)
{
	struct xnode	*x, *item, *n;
	size_t		 i;

	if ((x = xnode_add_child(p, "x", NS_MUC_USER)) == NULL ||
	    (item = xnode_add_child(x, "item", NS_MUC_USER)) == NULL)
		return;
	xnode_set_attr(item, "affiliation",
	    muc_aff_name(muc_aff_get(r, o->bare)));
	xnode_set_attr(item, "role",
	    muc_role_name(unavailable ? ROLE_NONE : o->role));
	if (real != NULL)
		xnode_set_attr(item, "jid", real);
	if (c != NULL && c->newnick != NULL)
		xnode_set_attr(item, "nick", c->newnick);
	if (c != NULL && c->actor != NULL &&
	    (n = xnode_add_child(item, "actor", NS_MUC_USER)) != NULL)
		xnode_set_attr(n, "nick", c->actor);
	if (c != NULL && c->reason != NULL &&
	    (n = xnode_add_child(item, "reason", NS_MUC_USER)) != NULL)
		xnode_add_text(n, c->reason, strlen(c->reason));
	if (self)
		add_status(x, ST_SELF);
	for (i = 0; c != NULL && i < c->nall; i++)
		add_status(x, c->all[i]);
	for (i = 0; self && c != NULL && i < c->nself; i++)
		add_status(x, c->self[i]);
}

/* The presence of `o` as one class of recipients sees it. */
static struct xnode *
build_presence(struct muc_room *r, struct muc_occupant *o, const char *real,
    int unavailable, const struct muc_codes *c, int self)
{
	struct xnode	*p, *ch, *id;

	if ((p = xnode_new("presence", XMLNS_CLIENT)) == NULL)
		return NULL;
	if (unavailable)
		xnode_set_attr(p, "type", "unavailable");
	else if (o->presence != NULL) {
		for (ch = xnode_first_elem(o->presence); ch != NULL;
		    ch = xnode_next_elem(ch))
			if (!is_muc_payload(ch) && strcmp(ch->name, "error"))
				xnode_append(p, xnode_dup(ch));
	}
	if (o->occid[0] != '\0' &&
	    (id = xnode_add_child(p, "occupant-id", NS_OCCID)) != NULL)
		xnode_set_attr(id, "id", o->occid);
	add_user_x(p, r, o, real, unavailable, c, self);
	return p;
}

static int
sees_jid(struct muc_room *r, struct muc_occupant *viewer)
{
	return r->cfg.whois_anyone || viewer->role == ROLE_MODERATOR;
}

static void
occ_jid(struct muc_room *r, struct muc_occupant *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", r->jid, o->nick);
}

/* Each session of `o` as its own item jid, to every viewer. */
void
muc_occ_broadcast_presence(struct muc_room *r, struct muc_occupant *o,
    int unavailable, const struct muc_codes *c)
{
	struct muc_bcast	 bc[2];
	struct muc_occupant	*v;
	struct xnode		*p;
	char			 from[JID_MAX + 1];
	size_t			 i, s;
	int			 ok[2];

	occ_jid(r, o, from, sizeof(from));
	for (s = 0; s < o->nsessions; s++) {
		for (i = 0; i < 2; i++) {
			p = build_presence(r, o, i ? o->sessions[s] : NULL,
			    unavailable, c, 0);
			ok[i] = p != NULL && muc_bcast_init(&bc[i], from, p) == 0;
			xnode_free(p);
		}
		for (v = r->occupants; v != NULL; v = v->next) {
			if (v == o)
				continue;
			i = sees_jid(r, v) ? 1 : 0;
			for (size_t k = 0; ok[i] && k < v->nsessions; k++)
				(void)muc_bcast_send(&bc[i], v->sessions[k]);
		}
		muc_bcast_free(&bc[0]);
		muc_bcast_free(&bc[1]);
	}
	/* Self-presence last (7.2.3), to every session of the occupant. */
	for (s = 0; (c == NULL || !c->noself) && s < o->nsessions; s++) {
		p = build_presence(r, o, o->sessions[s], unavailable, c, 1);
		for (i = 0; p != NULL && i < o->nsessions; i++)
			(void)muc_send(from, o->sessions[i], p);
		xnode_free(p);
	}
}

/* Existing occupants' presence to one new session (7.2.3). */
static void
send_roster(struct muc_room *r, struct muc_occupant *newo, const char *to)
{
	struct muc_occupant	*o;
	struct xnode		*p;
	char			 from[JID_MAX + 1];

	for (o = r->occupants; o != NULL; o = o->next) {
		if (o == newo)
			continue;
		occ_jid(r, o, from, sizeof(from));
		p = build_presence(r, o, sees_jid(r, newo) ? o->sessions[0] :
		    NULL, 0, NULL, 0);
		if (p != NULL)
			(void)muc_send(from, to, p);
		xnode_free(p);
	}
}

void
muc_room_maybe_gc(struct muc_room *r)
{
	if (r->noccupants == 0 && (!r->cfg.persistent || r->locked)) {
		log_debug("room %s destroyed: last occupant left", r->jid);
		muc_room_destroy(r);
	}
}

/* Remove the whole occupant with an unavailable presence to everyone. */
void
muc_occ_kick(struct muc_room *r, struct muc_occupant *o, int code,
    const char *reason)
{
	struct muc_codes	c;

	memset(&c, 0, sizeof(c));
	if (code != 0)
		c.all[c.nall++] = code;
	c.reason = reason;
	o->role = ROLE_NONE;
	muc_occ_broadcast_presence(r, o, 1, &c);
	muc_occ_remove(r, o);
}

void
muc_occ_update_role(struct muc_room *r, struct muc_occupant *o)
{
	muc_occ_broadcast_presence(r, o, 0, NULL);
}

static void
keep_presence(struct muc_occupant *o, const struct xnode *x)
{
	struct xnode	*d;

	if ((d = xnode_dup(x)) == NULL)
		return;
	xnode_free(o->presence);
	o->presence = d;
}

/* ---- entering ---- */

/* Is `nick` registered in this room by someone else (7.10)? */
static int
nick_taken(struct muc_room *r, const char *nick, const char *bare)
{
	const char	*owner = muc_nick_owner(r, nick);

	return owner != NULL && strcmp(owner, bare) != 0;
}

/* The error a join gets, or NULL (XEP-0045 7.2.5-7.2.10). */
static const char *
join_check(struct muc_room *r, struct muc_stanza *s, enum muc_aff aff,
    const char **etype)
{
	struct muc_occupant	*o;
	struct xnode		*mx, *pw;
	char			*given;
	int			 bad;

	*etype = "auth";
	if (r->locked && aff != AFF_OWNER) {
		*etype = "cancel";
		return "item-not-found";
	}
	if (aff == AFF_OUTCAST)
		return "forbidden";
	if (r->cfg.membersonly && aff < AFF_MEMBER)
		return "registration-required";
	if (r->cfg.passwordprotected && aff != AFF_OWNER) {
		mx = xnode_child(s->x, "x", NS_MUC);
		pw = mx != NULL ? xnode_child(mx, "password", NS_MUC) : NULL;
		given = pw != NULL ? xnode_text(pw) : NULL;
		bad = given == NULL || strcmp(given, r->cfg.secret) != 0;
		free(given);
		if (bad)
			return "not-authorized";
	}
	if (((o = muc_occ_by_nick(r, s->nick)) != NULL &&
	    strcmp(o->bare, s->from_bare) != 0) ||
	    nick_taken(r, s->nick, s->from_bare)) {
		*etype = "cancel";
		return "conflict";	/* 7.2.9: in use or registered */
	}
	if (o == NULL && aff < AFF_ADMIN && r->noccupants >=
	    (r->cfg.maxusers ? r->cfg.maxusers : MUC_MAX_OCCUPANTS)) {
		*etype = "wait";
		return "service-unavailable";
	}
	return NULL;
}

/* A new room for a user of a hosted domain (10.1.1). */
static struct muc_room *
room_create(struct muc_stanza *s, int instant)
{
	struct muc_room	*r;
	const char	*dom = strchr(s->from_bare, '@');

	dom = dom != NULL ? dom + 1 : s->from_bare;
	if (strcmp(dom, muc_conf.hosts[s->host]) != 0) {
		muc_reply_error(s, "cancel", "not-allowed");
		return NULL;
	}
	if ((r = muc_room_new(s->room_jid)) == NULL ||
	    muc_aff_set(r, s->from_bare, AFF_OWNER, NULL) == -1) {
		if (r != NULL)
			muc_room_destroy(r);
		muc_reply_error(s, "wait", "resource-constraint");
		return NULL;
	}
	r->locked = !instant;
	log_info("room %s created by %s", r->jid, s->from_bare);
	return r;
}

static void
join_welcome(struct muc_room *r, struct muc_occupant *o, struct muc_stanza *s,
    int created, int assigned)
{
	struct muc_codes	 c;
	struct xnode		*mx;

	memset(&c, 0, sizeof(c));
	if (r->cfg.whois_anyone)
		c.self[c.nself++] = ST_NONANON;
	if (r->cfg.logging)
		c.self[c.nself++] = ST_LOGGING;
	if (created)
		c.self[c.nself++] = ST_CREATED;
	if (assigned)
		c.self[c.nself++] = ST_NICKASSIGNED;
	send_roster(r, o, s->from_s);
	muc_occ_broadcast_presence(r, o, 0, &c);
	if ((mx = xnode_child(s->x, "x", NS_MUC)) != NULL)
		muc_send_history(r, s->from_s, xnode_child(mx, "history",
		    NS_MUC));
	muc_send_subject(r, s->from_s);
}

static void
join(struct muc_stanza *s, struct muc_room *r)
{
	struct muc_occupant	*o;
	const char		*cond, *etype, *rn;
	enum muc_aff		 aff;
	int			 created = 0, assigned = 0;

	if (r == NULL) {
		if ((r = room_create(s, xnode_child(s->x, "x", NS_MUC) ==
		    NULL)) == NULL)
			return;
		created = 1;
	}
	aff = muc_aff_get(r, s->from_bare);
	/* 7.2.3: one who registered a nick gets it, whatever it asked for,
	 * and learns so by 210. */
	if ((rn = muc_nick_reserved(r, s->from_bare)) != NULL &&
	    strcmp(rn, s->nick) != 0) {
		s->nick = rn;
		assigned = 1;
	}
	if ((cond = join_check(r, s, aff, &etype)) != NULL) {
		muc_reply_error(s, etype, cond);
		return;
	}
	if ((o = muc_occ_by_nick(r, s->nick)) != NULL) {
		/* The same account from another resource (multi-session). */
		if (muc_occ_add_session(o, s->from_s) == -1) {
			muc_reply_error(s, "wait", "resource-constraint");
			return;
		}
	} else if ((o = muc_occ_new(r, s->nick, s->from_s,
	    s->from_bare)) == NULL) {
		muc_reply_error(s, "wait", "resource-constraint");
		muc_room_maybe_gc(r);
		return;
	}
	o->role = muc_role_for(r, aff);
	keep_presence(o, s->x);
	join_welcome(r, o, s, created, assigned);
}

/* ---- changes of an occupant ---- */

static void
change_nick(struct muc_stanza *s, struct muc_room *r, struct muc_occupant *o)
{
	struct muc_codes	 c;
	struct muc_occupant	*other;
	char			*nn;

	if ((other = muc_occ_by_nick(r, s->nick)) != NULL ||
	    nick_taken(r, s->nick, s->from_bare)) {
		muc_reply_error(s, "cancel", "conflict");	/* 7.6.3 */
		return;
	}
	/* A registered nick is the only one its owner uses here (7.10). */
	if (muc_nick_reserved(r, s->from_bare) != NULL) {
		muc_reply_error(s, "cancel", "not-acceptable");
		return;
	}
	if (r->cfg.membersonly && muc_aff_get(r, s->from_bare) < AFF_MEMBER) {
		muc_reply_error(s, "cancel", "not-acceptable");
		return;
	}
	if ((nn = strdup(s->nick)) == NULL)
		return;
	memset(&c, 0, sizeof(c));
	c.all[c.nall++] = ST_NICKCHANGE;
	c.newnick = nn;
	muc_occ_broadcast_presence(r, o, 1, &c);	/* 7.6.2 */
	free(o->nick);
	o->nick = nn;
	keep_presence(o, s->x);
	muc_occ_broadcast_presence(r, o, 0, NULL);
}

static void
leave(struct muc_stanza *s, struct muc_room *r, struct muc_occupant *o)
{
	struct muc_codes	 c;
	struct xnode		*p;
	char			 from[JID_MAX + 1];

	memset(&c, 0, sizeof(c));
	if (o->nsessions > 1) {
		/* Other sessions stay: only this one is told it left. */
		(void)muc_occ_del_session(o, s->from_s);
		occ_jid(r, o, from, sizeof(from));
		p = build_presence(r, o, s->from_s, 1, &c, 1);
		if (p != NULL)
			(void)muc_send(from, s->from_s, p);
		xnode_free(p);
		return;
	}
	keep_presence(o, s->x);
	o->role = ROLE_NONE;
	muc_occ_broadcast_presence(r, o, 1, &c);
	muc_occ_remove(r, o);
	muc_room_maybe_gc(r);
}

/* XEP-0045 7.2.1: presence to the room itself carries no nick. */
void
muc_presence(struct muc_stanza *s)
{
	struct muc_room		*r = muc_room_find(s->room_jid);
	struct muc_occupant	*o;

	o = r != NULL ? muc_occ_by_jid(r, s->from_s) : NULL;
	if (s->stype == RS_ERROR) {
		/* The occupant's client refused room traffic: it is gone. */
		if (o != NULL)
			muc_occ_kick(r, o, ST_ERRORLEFT, NULL);
		if (r != NULL)
			muc_room_maybe_gc(r);
		return;
	}
	if (s->stype == RS_UNAVAILABLE) {
		if (o != NULL)
			leave(s, r, o);
		return;
	}
	if (s->stype != RS_AVAILABLE || s->to.local[0] == '\0')
		return;		/* subscriptions and probes: nothing to do */
	if (s->nick == NULL) {
		muc_reply_error(s, "modify", "jid-malformed");
		return;
	}
	if (o == NULL)
		join(s, r);
	else if (strcmp(o->nick, s->nick) != 0)
		change_nick(s, r, o);
	else {
		keep_presence(o, s->x);
		muc_occ_broadcast_presence(r, o, 0, NULL);
	}
}

/*
 * routerd could not deliver something we sent to an occupant's session
 * (RF_BOUNCE): that session is gone; remove it, and the occupant with it
 * when it was the last one (status 333).
 */
void
muc_bounced(struct frame *f)
{
	struct muc_room		*r;
	struct muc_occupant	*o;
	struct muc_codes	 c;
	struct jid		 from;
	char			 room[JID_MAX + 1];
	uint8_t			 cond;

	if (frame_get_u8(f, &cond) == -1 || f->hdr.kind == RK_IQ ||
	    jid_parse(f->from, strlen(f->from), &from) == -1 ||
	    jid_format_bare(&from, room, sizeof(room)) < 0 ||
	    (r = muc_room_find(room)) == NULL ||
	    (o = muc_occ_by_jid(r, f->to)) == NULL)
		return;
	log_debug("%s: delivery to %s failed (%u): removed", r->jid, f->to,
	    cond);
	if (o->nsessions > 1) {
		(void)muc_occ_del_session(o, f->to);
		return;
	}
	/* Its last session: the others learn it left; it is not told. */
	memset(&c, 0, sizeof(c));
	c.all[c.nall++] = ST_ERRORLEFT;
	c.noself = 1;
	o->role = ROLE_NONE;
	muc_occ_broadcast_presence(r, o, 1, &c);
	muc_occ_remove(r, o);
	muc_room_maybe_gc(r);
}

/*
 * mucd stops (RF_SHUTDOWN: rampartctl restart/stop): each occupant is
 * told it left with 332, "removed because the service is shutting
 * down" (XEP-0045 15.6).  Only its own sessions are told, once: the
 * others' presence would be n squared stanzas for a room of n, and the
 * 332 already says everyone went.  Persistent rooms are reloaded by the
 * next mucd; clients rejoin.
 */
void
muc_shutdown_rooms(void)
{
	struct muc_room		*r;
	struct muc_occupant	*o;
	struct muc_codes	 c;
	struct xnode		*p;
	char			 from[JID_MAX + 1];
	size_t			 i;

	memset(&c, 0, sizeof(c));
	c.all[c.nall++] = 332;
	for (r = muc_rooms; r != NULL; r = r->next) {
		for (o = r->occupants; o != NULL; o = o->next) {
			occ_jid(r, o, from, sizeof(from));
			for (i = 0; i < o->nsessions; i++) {
				p = build_presence(r, o, o->sessions[i], 1, &c, 1);
				if (p != NULL)
					(void)muc_send(from, o->sessions[i], p);
				xnode_free(p);
			}
		}
	}
}
