/*
 * mucd_message.c - messages through a room (XEP-0045 sections 7.4-7.5,
 * 7.8, 8.1, 8.6): groupchat fan-out with history, archive (XEP-0313),
 * stanza ids (XEP-0359) and occupant ids (XEP-0421); subject changes;
 * private messages; mediated invitations and declines; voice requests;
 * history and subject for a new occupant.
 *
 * Called by mucd.c for every message and by mucd_presence.c on join.
 * Invariants: a groupchat message is serialized once for the whole room
 * (mucd_bcast.c); ids a client put in its own stanza-id/occupant-id
 * elements never pass (XEP-0359 section 5, XEP-0421 section 4); only
 * occupants with voice reach the room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mucd.h"

#define MUC_MAX_INVITES	16

static int
may_speak(struct muc_occupant *o)
{
	return o->role >= ROLE_PARTICIPANT;
}

/* Drop what only the room may say (stanza-id by it, occupant-id). */
static void
strip_room_claims(struct muc_room *r, struct xnode *m)
{
	struct xnode	*c, *n;
	const char	*by;

	for (c = xnode_first_elem(m); c != NULL; c = n) {
		n = xnode_next_elem(c);
		by = xnode_attr(c, "by");
		if ((strcmp(c->ns, NS_SID) == 0 && strcmp(c->name, "stanza-id")
		    == 0 && (by == NULL || strcmp(by, r->jid) == 0)) ||
		    strcmp(c->ns, NS_OCCID) == 0) {
			xnode_unlink(c);
			xnode_free(c);
		}
	}
}

static void
set_subject(struct muc_stanza *s, struct muc_room *r, struct muc_occupant *o,
    struct xnode *subj)
{
	struct xnode	*m;
	char		 from[JID_MAX + 1], *text;

	if (o->role != ROLE_MODERATOR && !r->cfg.changesubject) {
		muc_reply_error(s, "auth", "forbidden");	/* 8.1 */
		return;
	}
	if ((text = xnode_text(subj)) == NULL || strlen(text) > MUC_MAX_SUBJECT) {
		free(text);
		muc_reply_error(s, "modify", "not-acceptable");
		return;
	}
	snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
	free(r->subject);
	free(r->subject_from);
	r->subject = text;
	r->subject_from = strdup(from);
	if (r->cfg.persistent)
		(void)muc_store_save(r);
	if ((m = xnode_dup(s->x)) == NULL)
		return;
	strip_room_claims(r, m);
	(void)muc_bcast_occupants(r, from, m, NULL);
	xnode_free(m);
}

static void
add_ids(struct muc_room *r, struct muc_occupant *o, struct xnode *m,
    uint64_t id)
{
	struct xnode	*c;
	char		 buf[32];

	if ((c = xnode_add_child(m, "occupant-id", NS_OCCID)) != NULL)
		xnode_set_attr(c, "id", o->occid);
	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)id);
	if ((c = xnode_add_child(m, "stanza-id", NS_SID)) != NULL) {
		xnode_set_attr(c, "id", buf);
		xnode_set_attr(c, "by", r->jid);
	}
}

/* An id for a message: increasing in the room, the archive key. */
static uint64_t
next_id(struct muc_room *r, uint64_t usec)
{
	r->last_id = usec > r->last_id ? usec : r->last_id + 1;
	return r->last_id;
}

static void
groupchat(struct muc_stanza *s, struct muc_room *r, struct muc_occupant *o)
{
	struct xnode	*m, *subj;
	char		 from[JID_MAX + 1];
	uint64_t	 usec = xmpp_now_usec(), id;
	int		 has_body;

	if (!may_speak(o)) {
		muc_reply_error(s, "auth", "forbidden");	/* 7.4 */
		return;
	}
	has_body = xnode_child(s->x, "body", NULL) != NULL;
	if ((subj = xnode_child(s->x, "subject", NULL)) != NULL && !has_body) {
		set_subject(s, r, o, subj);
		return;
	}
	if ((m = xnode_dup(s->x)) == NULL)
		return;
	snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
	strip_room_claims(r, m);
	id = next_id(r, usec);
	add_ids(r, o, m, id);
	(void)muc_bcast_occupants(r, from, m, NULL);
	if (has_body) {
		/* muc_bcast set from and removed to: store it so. */
		if (r->cfg.logging)
			(void)muc_archive_add(r, m, id);
		if (muc_conf.compliance[s->host])
			muc_compliance_log(s->host, s->from_s, from, r->jid, m);
		muc_hist_add(r, m, usec);
	} else
		xnode_free(m);
}

/* 7.5: a private message to room/nick, from an occupant. */
static void
private_message(struct muc_stanza *s, struct muc_room *r,
    struct muc_occupant *o)
{
	struct muc_occupant	*t;
	struct xnode		*m;
	char			 from[JID_MAX + 1];
	size_t			 i;
	int			 ok;

	ok = r->cfg.allowpm == PM_ANYONE ||
	    (r->cfg.allowpm == PM_PARTICIPANTS && o->role >= ROLE_PARTICIPANT) ||
	    o->role == ROLE_MODERATOR;
	if (!ok) {
		muc_reply_error(s, "cancel", "not-allowed");
		return;
	}
	if ((t = muc_occ_by_nick(r, s->nick)) == NULL) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	if ((m = xnode_dup(s->x)) == NULL)
		return;
	strip_room_claims(r, m);
	if (xnode_child(m, "x", NS_MUC_USER) == NULL)
		(void)xnode_add_child(m, "x", NS_MUC_USER);
	snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
	if (muc_conf.compliance[s->host])
		muc_compliance_log(s->host, s->from_s, from, s->to_s, m);
	for (i = 0; i < t->nsessions; i++)
		(void)muc_send(from, t->sessions[i], m);
	xnode_free(m);
}

/* 7.8.2: one invitation from the room to the invitee. */
static void
invite_one(struct muc_stanza *s, struct muc_room *r, struct xnode *inv,
    int add_member)
{
	struct xnode	*m, *x, *i, *reason;
	char		 to[JID_MAX + 1];
	const char	*t = xnode_attr(inv, "to");

	if (t == NULL || jid_normalize(t, to, sizeof(to)) == -1) {
		muc_reply_error(s, "modify", "jid-malformed");
		return;
	}
	if (add_member && strchr(to, '/') == NULL &&
	    muc_aff_get(r, to) == AFF_NONE &&
	    muc_aff_set(r, to, AFF_MEMBER, NULL) == 0 && r->cfg.persistent)
		(void)muc_store_save(r);
	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return;
	x = xnode_add_child(m, "x", NS_MUC_USER);
	if (x != NULL && (i = xnode_add_child(x, "invite", NS_MUC_USER))) {
		xnode_set_attr(i, "from", s->from_s);
		if ((reason = xnode_child(inv, "reason", NULL)) != NULL)
			xnode_append(i, xnode_dup(reason));
	}
	if (x != NULL && r->cfg.passwordprotected && (i = xnode_add_child(x,
	    "password", NS_MUC_USER)) != NULL)
		xnode_add_text(i, r->cfg.secret, strlen(r->cfg.secret));
	(void)muc_send(r->jid, to, m);
	xnode_free(m);
}

static void
invitations(struct muc_stanza *s, struct muc_room *r, struct xnode *ux)
{
	struct muc_occupant	*o = muc_occ_by_jid(r, s->from_s);
	struct xnode		*c;
	enum muc_aff		 aff = muc_aff_get(r, s->from_bare);
	int			 n = 0, add;

	if (o == NULL) {
		muc_reply_error(s, "modify", "not-acceptable");
		return;
	}
	/* Members-only: only those who may add members invite (7.8.2). */
	add = r->cfg.membersonly && (aff >= AFF_ADMIN || r->cfg.allowinvites);
	if (r->cfg.membersonly && !add) {
		muc_reply_error(s, "auth", "forbidden");
		return;
	}
	for (c = xnode_first_elem(ux); c != NULL && n < MUC_MAX_INVITES;
	    c = xnode_next_elem(c))
		if (strcmp(c->name, "invite") == 0) {
			invite_one(s, r, c, add);
			n++;
		}
}

/* 7.8.2: the invitee declines; tell the inviter, from the room. */
static void
decline(struct muc_stanza *s, struct muc_room *r, struct xnode *d)
{
	struct xnode	*m, *x, *dd;
	char		 to[JID_MAX + 1];
	const char	*t = xnode_attr(d, "to");

	if (t == NULL || jid_normalize(t, to, sizeof(to)) == -1)
		return;
	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return;
	if ((x = xnode_add_child(m, "x", NS_MUC_USER)) != NULL &&
	    (dd = xnode_dup(d)) != NULL) {
		xnode_set_attr(dd, "to", NULL);
		xnode_set_attr(dd, "from", s->from_bare);
		xnode_append(x, dd);
	}
	(void)muc_send(r->jid, to, m);
	xnode_free(m);
}

/* 8.6: forward a voice request to every moderator. */
static void
voice_request(struct muc_stanza *s, struct muc_room *r, struct xnode *form)
{
	struct muc_occupant	*o = muc_occ_by_jid(r, s->from_s), *v;
	struct xnode		*m, *x;
	size_t			 i;

	if (o == NULL || o->role != ROLE_VISITOR)
		return;
	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return;
	if ((x = xnode_add_child(m, "x", NS_XDATA)) != NULL) {
		xnode_set_attr(x, "type", "form");
		muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_REQUEST);
		muc_form_field(x, "muc#role", "list-single", "Requested role",
		    "participant");
		muc_form_field(x, "muc#jid", "jid-single", "User ID",
		    s->from_bare);
		muc_form_field(x, "muc#roomnick", "text-single", "Room Nickname",
		    o->nick);
		muc_form_field(x, "muc#request_allow", "boolean",
		    "Grant voice to this person?", "false");
	}
	for (v = r->occupants; v != NULL; v = v->next)
		for (i = 0; v->role == ROLE_MODERATOR && i < v->nsessions; i++)
			(void)muc_send(r->jid, v->sessions[i], m);
	xnode_free(m);
	(void)form;
}

/* 8.6: a moderator approves a voice request by submitting the form. */
static void
voice_approval(struct muc_stanza *s, struct muc_room *r, struct xnode *form)
{
	struct muc_occupant	*o = muc_occ_by_jid(r, s->from_s), *t;
	char			 allow[16], nick[JID_PART_MAX + 1];

	if (o == NULL || o->role != ROLE_MODERATOR ||
	    muc_form_value(form, "muc#request_allow", allow, sizeof(allow)) == NULL ||
	    (strcmp(allow, "true") != 0 && strcmp(allow, "1") != 0) ||
	    muc_form_value(form, "muc#roomnick", nick, sizeof(nick)) == NULL ||
	    (t = muc_occ_by_nick(r, nick)) == NULL || t->role != ROLE_VISITOR)
		return;
	t->role = ROLE_PARTICIPANT;
	muc_occ_update_role(r, t);
}

static void
to_room(struct muc_stanza *s, struct muc_room *r)
{
	struct xnode	*ux, *form, *c;
	char		 ft[128];

	if ((ux = xnode_child(s->x, "x", NS_MUC_USER)) != NULL) {
		if ((c = xnode_child(ux, "decline", NS_MUC_USER)) != NULL)
			decline(s, r, c);
		else
			invitations(s, r, ux);
		return;
	}
	if ((form = xnode_child(s->x, "x", NS_XDATA)) != NULL &&
	    muc_form_value(form, "FORM_TYPE", ft, sizeof(ft)) != NULL &&
	    strcmp(ft, NS_MUC_REQUEST) == 0) {
		if (xnode_attr(form, "type") != NULL &&
		    strcmp(xnode_attr(form, "type"), "submit") == 0 &&
		    muc_form_value(form, "muc#request_allow", ft, sizeof(ft)) != NULL)
			voice_approval(s, r, form);
		else
			voice_request(s, r, form);
		return;
	}
	if (xnode_child(s->x, "body", NULL) != NULL)
		muc_reply_error(s, "modify", "bad-request");
}

void
muc_message(struct muc_stanza *s)
{
	struct muc_room		*r = muc_room_find(s->room_jid);
	struct muc_occupant	*o;

	if (s->to.local[0] == '\0') {
		if (s->stype != RS_ERROR)
			muc_reply_error(s, "cancel", "service-unavailable");
		return;
	}
	if (r == NULL || r->locked) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	o = muc_occ_by_jid(r, s->from_s);
	if (s->stype == RS_ERROR) {
		/* The client refused a room message: it is gone (333). */
		if (o != NULL)
			muc_occ_kick(r, o, 333, NULL);
		muc_room_maybe_gc(r);
		return;
	}
	if (s->nick == NULL && s->stype != RS_GROUPCHAT) {
		to_room(s, r);
		return;
	}
	if (o == NULL) {
		muc_reply_error(s, "modify", "not-acceptable");	/* 7.4, 7.5 */
		return;
	}
	if (s->nick == NULL)
		groupchat(s, r, o);
	else if (s->stype == RS_GROUPCHAT)
		muc_reply_error(s, "modify", "bad-request");	/* 7.5 */
	else
		private_message(s, r, o);
}

/* ---- for new occupants ---- */

/* XEP-0082 DateTime to microseconds; 0 if it does not parse. */
static uint64_t
parse_stamp(const char *s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return (uint64_t)timegm(&tm) * 1000000;
}

static unsigned long
hist_attr(const struct xnode *h, const char *name, unsigned long dflt)
{
	const char	*v = h != NULL ? xnode_attr(h, name) : NULL;
	char		*end;
	unsigned long	 n;

	if (v == NULL)
		return dflt;
	n = strtoul(v, &end, 10);
	return *end != '\0' || end == v ? dflt : n;
}

/* 7.2.15: the newest messages within every limit the client gave. */
void
muc_send_history(struct muc_room *r, const char *to, const struct xnode *h)
{
	unsigned long	 maxst = hist_attr(h, "maxstanzas", ~0UL);
	unsigned long	 maxch = hist_attr(h, "maxchars", ~0UL);
	unsigned long	 secs = hist_attr(h, "seconds", ~0UL);
	uint64_t	 since = h != NULL ? parse_stamp(xnode_attr(h, "since")) : 0;
	uint64_t	 now = xmpp_now_usec();
	size_t		 n = 0, chars = 0, i;
	struct muc_hist	*e;
	struct xnode	*m, *d;
	char		 stamp[64];

	while (n < r->hist_count && n < maxst) {
		e = &r->hist[(r->hist_first + r->hist_count - 1 - n) %
		    MUC_MAX_HISTORY];
		if (chars + e->chars > maxch || e->usec < since ||
		    (secs != ~0UL && now - e->usec > (uint64_t)secs * 1000000))
			break;
		chars += e->chars;
		n++;
	}
	for (i = r->hist_count - n; i < r->hist_count; i++) {
		e = &r->hist[(r->hist_first + i) % MUC_MAX_HISTORY];
		if ((m = xnode_dup(e->msg)) == NULL)
			continue;
		xmpp_timestamp(stamp, sizeof(stamp), e->usec);
		if ((d = xnode_add_child(m, "delay", NS_DELAY)) != NULL) {
			xnode_set_attr(d, "from", r->jid);
			xnode_set_attr(d, "stamp", stamp);
		}
		(void)muc_send(xnode_attr(e->msg, "from"), to, m);
		xnode_free(m);
	}
}

/* 7.2.15: the subject always follows the history, empty if none. */
void
muc_send_subject(struct muc_room *r, const char *to)
{
	struct xnode	*m, *sub;

	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return;
	xnode_set_attr(m, "type", "groupchat");
	if ((sub = xnode_add_child(m, "subject", XMLNS_CLIENT)) != NULL &&
	    r->subject != NULL)
		xnode_add_text(sub, r->subject, strlen(r->subject));
	(void)muc_send(r->subject_from != NULL ? r->subject_from : r->jid, to, m);
	xnode_free(m);
}

/* A status-only message from the room (104 configuration change...). */
void
muc_status_message(struct muc_room *r, const int *codes, size_t ncodes)
{
	struct xnode	*m, *x, *st;
	char		 buf[8];
	size_t		 i;

	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return;
	xnode_set_attr(m, "type", "groupchat");
	x = xnode_add_child(m, "x", NS_MUC_USER);
	for (i = 0; x != NULL && i < ncodes; i++) {
		snprintf(buf, sizeof(buf), "%d", codes[i]);
		if ((st = xnode_add_child(x, "status", NS_MUC_USER)) != NULL)
			xnode_set_attr(st, "code", buf);
	}
	(void)muc_bcast_occupants(r, r->jid, m, NULL);
	xnode_free(m);
}
