/*
 * mucd_iq.c - iq to the service, to rooms and to occupants: service
 * discovery (XEP-0045 6.1-6.5, XEP-0030), ping (XEP-0199) and self-ping
 * (XEP-0410), iq between occupants (handed to mucd_proxy.c), and
 * routing of muc#admin / muc#owner / MAM queries to mucd_admin.c,
 * mucd_owner.c and mucd_mam.c.
 *
 * Called by mucd.c for every iq.  Invariants: a get/set always gets an
 * answer (result or error); result/error iqs are never answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"

static void
add_feature(struct xnode *q, const char *var)
{
	struct xnode	*f;

	if ((f = xnode_add_child(q, "feature", NS_DISCO_INFO)) != NULL)
		xnode_set_attr(f, "var", var);
}

static void
add_identity(struct xnode *q, const char *name)
{
	struct xnode	*i;

	if ((i = xnode_add_child(q, "identity", NS_DISCO_INFO)) == NULL)
		return;
	xnode_set_attr(i, "category", "conference");
	xnode_set_attr(i, "type", "text");
	if (name != NULL && *name != '\0')
		xnode_set_attr(i, "name", name);
}

/* 6.1: the service's identity and features. */
static void
service_info(struct muc_stanza *s, const char *node)
{
	struct xnode	*q;

	if (node != NULL) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	if ((q = xnode_new("query", NS_DISCO_INFO)) == NULL)
		return;
	add_identity(q, "Chatrooms");
	add_feature(q, NS_DISCO_INFO);
	add_feature(q, NS_DISCO_ITEMS);
	add_feature(q, NS_MUC);
	add_feature(q, NS_PING);
	add_feature(q, NS_OCCID);
	muc_reply_result(s, q);
}

/* 6.3: public, configured rooms of this host. */
static void
service_items(struct muc_stanza *s)
{
	struct muc_room	*r;
	struct xnode	*q, *it;
	const char	*dom;
	size_t		 n = 0;

	if ((q = xnode_new("query", NS_DISCO_ITEMS)) == NULL)
		return;
	for (r = muc_rooms; r != NULL && n < 1000; r = r->next) {
		dom = strchr(r->jid, '@');
		if (!r->cfg.public || r->locked || dom == NULL ||
		    strcmp(dom + 1, s->to.domain) != 0)
			continue;
		if ((it = xnode_add_child(q, "item", NS_DISCO_ITEMS)) == NULL)
			break;
		xnode_set_attr(it, "jid", r->jid);
		if (r->cfg.name[0] != '\0')
			xnode_set_attr(it, "name", r->cfg.name);
		n++;
	}
	muc_reply_result(s, q);
}

/* 6.4: the room's identity, features and muc#roominfo. */
static void
room_info(struct muc_stanza *s, struct muc_room *r)
{
	struct xnode		*q;
	const struct muc_config	*c = &r->cfg;

	if ((q = xnode_new("query", NS_DISCO_INFO)) == NULL)
		return;
	add_identity(q, c->name[0] ? c->name : s->to.local);
	add_feature(q, NS_MUC);
	add_feature(q, NS_DISCO_INFO);
	add_feature(q, c->persistent ? "muc_persistent" : "muc_temporary");
	add_feature(q, c->membersonly ? "muc_membersonly" : "muc_open");
	add_feature(q, c->moderated ? "muc_moderated" : "muc_unmoderated");
	add_feature(q, c->passwordprotected ? "muc_passwordprotected" :
	    "muc_unsecured");
	add_feature(q, c->public ? "muc_public" : "muc_hidden");
	add_feature(q, c->whois_anyone ? "muc_nonanonymous" :
	    "muc_semianonymous");
	if (c->logging)
		add_feature(q, NS_MAM);
	if (c->moderated)
		add_feature(q, NS_MUC_REQUEST);		/* 7.13 */
	add_feature(q, NS_REGISTER);			/* 7.10 */
	add_feature(q, NS_MUC_REGISTER);
	add_feature(q, NS_SID);
	add_feature(q, NS_OCCID);
	add_feature(q, "http://jabber.org/protocol/muc#stable_id");
	add_feature(q, "http://jabber.org/protocol/muc#self-ping-optimization");
	xnode_append(q, muc_roominfo_form(r));
	muc_reply_result(s, q);
}

/* 7.12: the nick the asker registered here, as an identity (or none). */
static void
reserved_nick_info(struct muc_stanza *s, struct muc_room *r)
{
	struct xnode	*q, *i;
	const char	*nick = muc_nick_reserved(r, s->from_bare);

	if ((q = xnode_new("query", NS_DISCO_INFO)) == NULL)
		return;
	xnode_set_attr(q, "node", "x-roomuser-item");
	if (nick != NULL && (i = xnode_add_child(q, "identity",
	    NS_DISCO_INFO)) != NULL) {
		xnode_set_attr(i, "category", "conference");
		xnode_set_attr(i, "type", "text");
		xnode_set_attr(i, "name", nick);
	}
	muc_reply_result(s, q);
}

/* 6.5: occupants only of a public room, and only to occupants when the
 * room is semi-anonymous (the list would show who is there). */
static void
room_items(struct muc_stanza *s, struct muc_room *r)
{
	struct muc_occupant	*o;
	struct xnode		*q, *it;
	char			 jid[JID_MAX + 1];
	int			 show;

	if ((q = xnode_new("query", NS_DISCO_ITEMS)) == NULL)
		return;
	show = r->cfg.public && (r->cfg.whois_anyone ||
	    muc_occ_by_jid(r, s->from_s) != NULL);
	for (o = r->occupants; show && o != NULL; o = o->next) {
		snprintf(jid, sizeof(jid), "%s/%s", r->jid, o->nick);
		if ((it = xnode_add_child(q, "item", NS_DISCO_ITEMS)) == NULL)
			break;
		xnode_set_attr(it, "jid", jid);
	}
	muc_reply_result(s, q);
}

static void
service_iq(struct muc_stanza *s, struct xnode *q)
{
	if (q != NULL && s->stype == RS_GET &&
	    strcmp(q->ns, NS_DISCO_INFO) == 0)
		service_info(s, xnode_attr(q, "node"));
	else if (q != NULL && s->stype == RS_GET &&
	    strcmp(q->ns, NS_DISCO_ITEMS) == 0)
		service_items(s);
	else if (q != NULL && s->stype == RS_GET && strcmp(q->ns, NS_PING) == 0)
		muc_reply_result(s, NULL);
	else
		muc_reply_error(s, "cancel", "service-unavailable");
}

static void
room_iq(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	const char	*ns = q != NULL ? q->ns : "";

	if (r == NULL || (r->locked && muc_aff_get(r, s->from_bare) !=
	    AFF_OWNER)) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	if (s->stype == RS_GET && strcmp(ns, NS_DISCO_INFO) == 0 &&
	    xnode_attr(q, "node") != NULL &&
	    strcmp(xnode_attr(q, "node"), "x-roomuser-item") == 0)
		reserved_nick_info(s, r);
	else if (s->stype == RS_GET && strcmp(ns, NS_DISCO_INFO) == 0)
		room_info(s, r);
	else if (s->stype == RS_GET && strcmp(ns, NS_DISCO_ITEMS) == 0)
		room_items(s, r);
	else if (s->stype == RS_GET && strcmp(ns, NS_PING) == 0)
		muc_reply_result(s, NULL);
	else if (strcmp(ns, NS_MUC_ADMIN) == 0)
		muc_admin_iq(s, r, q);
	else if (strcmp(ns, NS_MUC_OWNER) == 0)
		muc_owner_iq(s, r, q);
	else if (strcmp(ns, NS_MAM) == 0)
		muc_mam_query(s, r);
	else if (strcmp(ns, NS_REGISTER) == 0)
		muc_register_iq(s, r, q);
	else
		muc_reply_error(s, "cancel", "service-unavailable");
}

/*
 * An iq to room/nick.  XEP-0410: a ping from the occupant to its own
 * occupant JID is answered here (joined: result, otherwise
 * not-acceptable).  Other requests and their answers go through
 * mucd_proxy.c, which returns each answer to the session that asked.
 */
static void
occupant_iq(struct muc_stanza *s, struct muc_room *r, struct xnode *q)
{
	struct muc_occupant	*o, *t;

	o = r != NULL ? muc_occ_by_jid(r, s->from_s) : NULL;
	if (s->stype == RS_RESULT || s->stype == RS_ERROR) {
		if (o != NULL)
			muc_proxy_answer(s, r, o);
		return;
	}
	if (o == NULL) {
		muc_reply_error(s, "cancel", "not-acceptable");
		return;
	}
	if (strcmp(o->nick, s->nick) == 0 && q != NULL &&
	    strcmp(q->ns, NS_PING) == 0) {
		muc_reply_result(s, NULL);
		return;
	}
	if ((t = muc_occ_by_nick(r, s->nick)) == NULL) {
		muc_reply_error(s, "cancel", "item-not-found");
		return;
	}
	muc_proxy_request(s, r, o, t);
}

void
muc_iq(struct muc_stanza *s)
{
	struct xnode	*q = xnode_first_elem(s->x);
	struct muc_room	*r;

	if (s->stype == RS_NONE)
		return;
	if (s->to.local[0] == '\0') {
		if (s->stype == RS_GET || s->stype == RS_SET)
			service_iq(s, q);
		return;
	}
	r = muc_room_find(s->room_jid);
	if (s->nick != NULL)
		occupant_iq(s, r, q);
	else if (s->stype == RS_GET || s->stype == RS_SET)
		room_iq(s, r, q);
}
