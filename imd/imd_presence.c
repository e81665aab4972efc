/*
 * imd_presence.c - presence (RFC 6121 section 4): broadcast of a user's
 * presence to its subscribers and own resources, probes at initial
 * presence, directed presence and the unavailable presence every ended
 * session owes to those who saw it available, answers to inbound probes.
 *
 * Called by imd.c for presence stanzas that are not subscription requests
 * (those go to imd_subscription.c), and by imd_session.c when a session
 * ends without unavailable presence (imd_presence_gone).
 *
 * Local contacts are served from the session mirror directly: a probe to a
 * local contact is answered here from that contact's imd_res, and presence
 * for a local contact is delivered to its resources without a round trip
 * through routerd.  Remote contacts get stanzas through imd_send().
 * Blocking (XEP-0191 section 3.4): no presence flows in either direction
 * between a user and a JID it blocked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "imd.h"
#include "link.h"
#include "log.h"

struct bcast {
	const char	*owner;		/* the user's bare JID */
	struct imd_res	*res;		/* the resource whose presence moves */
	struct xnode	*x;
};

static int
priority_of(const struct xnode *x)
{
	struct xnode	*p;
	char		*t, *end;
	long		 v = 0;

	if ((p = imd_child(x, "priority")) != NULL &&
	    (t = xnode_text(p)) != NULL) {
		v = strtol(t, &end, 10);
		if (end == t)
			v = 0;
		free(t);
	}
	return v < -128 ? -128 : v > 127 ? 127 : (int)v;
}

/* Neither side has blocked the other. */
static int
may_see(const char *a_bare, const char *b_bare)
{
	return !imd_is_blocked(a_bare, b_bare) &&
	    !(imd_is_local_jid(b_bare) && imd_is_blocked(b_bare, a_bare));
}

void
imd_presence_deliver(const char *from, const char *to, struct xnode *x)
{
	struct imd_res	*r;

	if (strchr(to, '/') != NULL) {
		if ((r = imd_res_find(to)) != NULL)
			(void)imd_send(from, r->full, x);
		return;
	}
	for (r = imd_res_list(to); r != NULL; r = r->next)
		if (r->available)
			(void)imd_send(from, r->full, x);
}

/* To any JID: local ones directly, remote ones through routerd. */
static void
presence_route(const char *from, const char *to, struct xnode *x)
{
	if (imd_is_local_jid(to))
		imd_presence_deliver(from, to, x);
	else
		(void)imd_send(from, to, x);
}

static struct xnode *
presence_new(const char *type, int priority)
{
	struct xnode	*y, *p;
	char		 num[8];

	if ((y = xnode_new("presence", NULL)) == NULL)
		return NULL;
	if (type != NULL)
		xnode_set_attr(y, "type", type);
	else if (priority != 0 &&
	    (p = xnode_add_child(y, "priority", NULL)) != NULL) {
		snprintf(num, sizeof(num), "%d", priority);
		xnode_add_text(p, num, strlen(num));
	}
	return y;
}

/* `r`'s current presence to `to`: its last stanza, or after a restart
 * (no stanza known) a bare available presence with its priority. */
static void
send_res_presence(struct imd_res *r, const char *to, int unavailable)
{
	struct xnode	*y = NULL;

	if (!unavailable && r->presence != NULL) {
		presence_route(r->full, to, r->presence);
		return;
	}
	if ((y = presence_new(unavailable ? "unavailable" : NULL,
	    r->priority)) != NULL)
		presence_route(r->full, to, y);
	xnode_free(y);
}

#define NS_CAPS	"http://jabber.org/protocol/caps"

/* The groups `owner` put the contact `full` in (XEP-0060 4.5, access
 * model roster), at most IMD_MAX_ITEM_GROUPS: a u16 count, then each. */
static void
pep_put_groups(struct fout *f, const char *full, const char *owner,
    int available)
{
	struct imd_item	 it;
	char		 bare[JID_MAX + 1];
	size_t		 i;

	if (!available || imd_bare(full, bare, sizeof(bare)) == -1 ||
	    strcmp(bare, owner) == 0 || imd_roster_get(owner, bare, &it) != 0) {
		fout_put_u16(f, 0);
		return;
	}
	fout_put_u16(f, (uint16_t)it.ngroups);
	for (i = 0; i < it.ngroups; i++)
		fout_put_str(f, it.groups[i]);
	imd_item_clear(&it);
}

/* docs/pep.md, "Contacts": one optional RF_PEP_PRESENCE per local owner
 * that sees this resource (its sub to/both items that are local, and the
 * user itself, XEP-0163 4.3), so pepd can notify by caps (XEP-0115) and
 * apply the roster access model with the owner's groups for it. */
static void
pep_presence_to(const char *full, const char *owner, const struct xnode *x,
    int available)
{
	struct xnode	*c = x != NULL ? xnode_child(x, "c", NS_CAPS) : NULL;
	const char	*node = c != NULL ? xnode_attr(c, "node") : NULL;
	const char	*ver = c != NULL ? xnode_attr(c, "ver") : NULL;
	const char	*hash = c != NULL ? xnode_attr(c, "hash") : NULL;
	struct fout	*f;

	if ((f = fout_new(RF_PEP_PRESENCE, full, owner)) == NULL)
		return;
	f->hdr.flags = RFF_OPTIONAL;
	fout_put_u8(f, available ? 1 : 0);
	fout_put_str(f, node != NULL ? node : "");
	fout_put_str(f, ver != NULL ? ver : "");
	fout_put_str(f, hash != NULL ? hash : "");	/* pepd verifies ver */
	pep_put_groups(f, full, owner, available);
	(void)link_send(daemon_link, f);
}

/* XEP-0191: pepd sends straight to sessions, so a block between the
 * owner and this resource (either way) keeps it out of the mirror. */
static int
pep_blocked(const char *owner, const char *full)
{
	char	bare[JID_MAX + 1];

	return imd_is_blocked(owner, full) ||
	    (imd_bare(full, bare, sizeof(bare)) == 0 &&
	    imd_is_local_jid(bare) && imd_is_blocked(bare, owner));
}

/* imd_roster_save() changed `owner`'s item `it`: pepd's copy of the
 * groups of the contact's online resources is renewed at once, so a
 * contact taken out of a group loses roster-model access now, not at
 * its next presence. */
void
imd_presence_pep_item(const char *owner, const struct imd_item *it)
{
	struct imd_res	*r;

	if ((it->sub != IMD_SUB_FROM && it->sub != IMD_SUB_BOTH) ||
	    !imd_is_local_jid(it->jid) || strcmp(it->jid, owner) == 0)
		return;
	for (r = imd_res_list(it->jid); r != NULL; r = r->next)
		if (r->available && !pep_blocked(owner, r->full))
			pep_presence_to(r->full, owner, r->presence, 1);
}

/* A from subscription of the remote contact `to` began.  Its server
 * sent its presence when the owner's own subscription began, which the
 * contact then could not use for PEP; if the owner is subscribed (both
 * now), a probe (RFC 6121 4.3) brings the contact's current presence,
 * and with it pepd's mirror (pep_remote). */
static void
probe_remote(const char *owner, const char *to)
{
	struct imd_item	 it;
	struct xnode	*y;
	int		 both;

	if (imd_roster_get(owner, to, &it) != 0)
		return;
	both = it.sub == IMD_SUB_BOTH;
	imd_item_clear(&it);
	if (both && (y = presence_new("probe", 0)) != NULL) {
		(void)imd_send(owner, to, y);
		xnode_free(y);
	}
}

void
imd_presence_send_all(const char *owner, const char *to, int unavailable)
{
	struct imd_res	*r;

	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available)
			send_res_presence(r, to, unavailable);
	/* A from subscription began or ended (all callers): the contact's
	 * resources gain or lose the owner's PEP (XEP-0163 4.3).  imd does
	 * not know which resources of a remote contact are online: an end
	 * is said for the bare JID (all of them); a beginning waits for
	 * the contact's next presence. */
	if (strchr(to, '/') != NULL)
		return;
	if (!imd_is_local_jid(to)) {
		if (unavailable)
			pep_presence_to(to, owner, NULL, 0);
		else
			probe_remote(owner, to);
		return;
	}
	for (r = imd_res_list(to); r != NULL; r = r->next)
		if (r->available)
			pep_presence_to(r->full, owner, r->presence,
			    !unavailable);
}

/* RFC 6121 4.2.2, 4.4.2, 4.5.2: to every contact with sub from/both. */
static int
bc_subscriber(const struct imd_item *it, void *arg)
{
	struct bcast	*b = arg;

	if ((it->sub == IMD_SUB_FROM || it->sub == IMD_SUB_BOTH) &&
	    may_see(b->owner, it->jid))
		presence_route(b->res->full, it->jid, b->x);
	return 0;
}

/* RFC 6121 4.2.2: probe every contact with sub to/both; a local one is
 * answered at once from its resources (4.3.2). */
static int
bc_probe(const struct imd_item *it, void *arg)
{
	struct bcast	*b = arg;
	struct imd_res	*r;
	struct xnode	*y;

	if ((it->sub != IMD_SUB_TO && it->sub != IMD_SUB_BOTH) ||
	    !may_see(b->owner, it->jid))
		return 0;
	if (!imd_is_local_jid(it->jid)) {
		/* 4.3.1: the probe comes from the user's bare JID. */
		if ((y = presence_new("probe", 0)) != NULL)
			(void)imd_send(b->owner, it->jid, y);
		xnode_free(y);
		return 0;
	}
	if (!imd_roster_shares_presence(it->jid, b->owner))
		return 0;
	for (r = imd_res_list(it->jid); r != NULL; r = r->next)
		if (r->available)
			send_res_presence(r, b->res->full, 0);
	return 0;
}

static void
own_resources(struct imd_res *res, const char *owner, struct xnode *x,
    int self)
{
	struct imd_res	*r;

	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available && (self || r != res))
			(void)imd_send(res->full, r->full, x);
}

static void
initial_presence(struct imd_res *res, const char *owner, struct bcast *b)
{
	struct imd_res	*r;

	(void)imd_roster_each(owner, bc_probe, b);
	/* The user's other resources, so the new one sees them. */
	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r != res && r->available)
			send_res_presence(r, res->full, 0);
	/* RFC 6121 3.1.3: requests that waited for the user to come online. */
	imd_pending_flush(res, owner);
}

/* XEP-0153 section 4.2: the server may add the avatar hash the client
 * left out, so every contact sees the current one. */
static void
stamp_photo(const char *owner, struct xnode *x)
{
	struct xnode	*u, *p;
	char		 hash[64];

	if (xnode_child(x, "x", NS_VCARD_UPDATE) != NULL)
		return;
	imd_vcard_photo_hash(owner, hash, sizeof(hash));
	if (hash[0] == '\0' ||
	    (u = xnode_add_child(x, "x", NS_VCARD_UPDATE)) == NULL)
		return;
	if ((p = xnode_add_child(u, "photo", NULL)) != NULL)
		xnode_add_text(p, hash, strlen(hash));
}

static int
pep_presence_item(const struct imd_item *it, void *arg)
{
	struct bcast	*b = arg;
	int		 avail = b->res->available;

	if ((it->sub == IMD_SUB_TO || it->sub == IMD_SUB_BOTH) &&
	    imd_is_local_jid(it->jid) && strcmp(it->jid, b->owner) != 0)
		pep_presence_to(b->res->full, it->jid, b->res->presence,
		    avail && !pep_blocked(it->jid, b->res->full));
	return 0;
}

/* XEP-0191 3.3, 3.4: a block of `jid` (the contact `it`, or one of its
 * resources) ends its view of the owner's PEP; an unblock gives it back
 * to a local contact's online resources (a remote one comes back with
 * its next presence). */
void
imd_presence_pep_block(const char *owner, const struct imd_item *it,
    const char *jid, int unblock)
{
	if (!unblock)
		pep_presence_to(jid, owner, NULL, 0);
	else
		imd_presence_pep_item(owner, it);
}

static void
pep_presence(struct bcast *b)
{
	pep_presence_to(b->res->full, b->owner, b->res->presence,
	    b->res->available);
	(void)imd_roster_each(b->owner, pep_presence_item, b);
}

static void
resync_res(struct imd_res *r, void *arg)
{
	struct bcast	 b;
	char		 owner[JID_MAX + 1];

	if (!r->available || imd_bare(r->full, owner, sizeof(owner)) == -1)
		return;
	b.owner = owner;
	b.res = r;
	b.x = r->presence;
	pep_presence(&b);
}

/* pepd (re)started with an empty contact mirror (routerd's
 * RF_PEP_RESYNC): each online local resource is said again to the
 * owners that see it, as at its last presence.  Remote contacts come
 * back with their next presence. */
void
imd_presence_pep_resync(void)
{
	imd_res_each(resync_res, NULL);
}

static void
broadcast_available(struct imd_res *res, const char *owner, struct xnode *x)
{
	struct bcast	 b = { owner, res, x };
	struct xnode	*y;
	int		 initial = res->presence == NULL;
	int		 oldprio = res->priority;

	stamp_photo(owner, x);
	if ((y = xnode_dup(x)) == NULL)
		return;
	xnode_set_attr(y, "to", NULL);
	xnode_free(res->presence);
	res->presence = y;
	res->priority = priority_of(x);
	res->available = 1;
	res->interested = 1;
	(void)imd_roster_each(owner, bc_subscriber, &b);
	own_resources(res, owner, x, 1);
	pep_presence(&b);
	if (initial)
		initial_presence(res, owner, &b);
	/* XEP-0160: offline messages go to the first resource that can take
	 * bare-JID messages (RFC 6121 8.5.2.1.1: non-negative priority). */
	if (res->priority >= 0 && (initial || oldprio < 0))
		imd_offline_flush(res);
}

static void
broadcast_unavailable(struct imd_res *res, const char *owner, struct xnode *x)
{
	struct bcast	 b = { owner, res, x };
	struct imd_res	*r;
	struct xnode	*st;
	char		*text = NULL;
	size_t		 i;

	imd_presence_rate_cancel(res);	/* a held update is superseded */
	if (res->presence == NULL && !res->available)
		return;		/* nobody saw it available */
	res->available = 0;
	xnode_free(res->presence);
	res->presence = NULL;
	(void)imd_roster_each(owner, bc_subscriber, &b);
	pep_presence(&b);
	/* RFC 6121 4.6.3: those that got directed presence hear it ended. */
	for (i = 0; i < res->ndirected; i++)
		presence_route(res->full, res->directed[i], x);
	imd_res_directed_clear(res);
	own_resources(res, owner, x, 0);
	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available)
			return;
	if ((st = imd_child(x, "status")) != NULL)
		text = xnode_text(st);
	imd_last_set(owner, text != NULL ? text : "");
	free(text);
}

/* An available broadcast that imd_presence_rate.c held, now due. */
void
imd_presence_available(struct imd_res *res, struct xnode *x)
{
	char	owner[JID_MAX + 1];

	if (imd_bare(res->full, owner, sizeof(owner)) == 0)
		broadcast_available(res, owner, x);
}

void
imd_presence_gone(struct imd_res *res)
{
	struct xnode	*x;
	char		 owner[JID_MAX + 1];

	if (imd_bare(res->full, owner, sizeof(owner)) == -1 ||
	    (x = presence_new("unavailable", 0)) == NULL)
		return;
	broadcast_unavailable(res, owner, x);
	xnode_free(x);
}

/* RFC 6121 4.6: directed presence, remembered for the unavailable one. */
static void
directed(struct imd_res *res, const char *owner, struct imd_stanza *s,
    uint8_t st)
{
	char	to_bare[JID_MAX + 1];

	if (imd_bare(s->to_s, to_bare, sizeof(to_bare)) == -1 ||
	    (imd_is_local_jid(to_bare) && !may_see(owner, to_bare)))
		return;
	if (st == RS_AVAILABLE &&
	    !imd_roster_shares_presence(owner, to_bare))
		(void)imd_res_directed_add(res, s->to_s);
	else if (st == RS_UNAVAILABLE)
		imd_res_directed_del(res, s->to_s);
	presence_route(res->full, s->to_s, s->x);
}

void
imd_presence_outbound(struct imd_stanza *s)
{
	struct imd_res	*res;
	uint8_t		 st = stanza_node_stype(s->x);
	char		 owner[JID_MAX + 1];
	int		 broadcast;

	if (s->from.resource[0] == '\0' ||
	    imd_bare(s->from_s, owner, sizeof(owner)) == -1 ||
	    (res = imd_res_touch(s->from_s, s->f->hdr.session)) == NULL) {
		log_debug("presence from %s ignored", s->from_s);
		return;
	}
	broadcast = (s->f->hdr.flags & RFF_BROADCAST) ||
	    (xnode_attr(s->x, "to") == NULL && strcmp(s->to_s, owner) == 0);
	if (broadcast) {
		if (st == RS_AVAILABLE && !imd_presence_rate_hold(res, s->x))
			broadcast_available(res, owner, s->x);
		else if (st == RS_UNAVAILABLE)
			broadcast_unavailable(res, owner, s->x);
		return;
	}
	/* RFC 6121 4.3.1: probes are the server's business, not a client's. */
	if (st == RS_PROBE)
		return;
	directed(res, owner, s, st);
}

/* RFC 6121 4.3.2: answer a probe from a remote server. */
static void
probe_answer(struct imd_stanza *s, const char *owner, const char *prober)
{
	struct imd_res	*r;
	struct xnode	*y;
	int		 n = 0;

	if (!imd_roster_shares_presence(owner, prober)) {
		if ((y = presence_new("unsubscribed", 0)) != NULL)
			(void)imd_send(owner, prober, y);
		xnode_free(y);
		return;
	}
	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available) {
			send_res_presence(r, s->from_s, 0);
			n++;
		}
	if (n == 0 && (y = presence_new("unavailable", 0)) != NULL) {
		(void)imd_send(owner, s->from_s, y);
		xnode_free(y);
	}
}

/* docs/pep.md, "Remote contacts": presence from a remote contact's
 * resource that has a from/both subscription to the owner goes to pepd
 * as for a local one, so it gets +notify events and last items and
 * passes the presence and roster access models.  Local contacts are
 * mirrored from their own broadcasts (pep_presence_item). */
static void
pep_remote(struct imd_stanza *s, const char *owner, const char *sender)
{
	struct imd_item	 it;
	uint8_t		 st = stanza_node_stype(s->x);
	int		 from;

	if ((st != RS_AVAILABLE && st != RS_UNAVAILABLE) ||
	    s->from.resource[0] == '\0' || imd_is_local_jid(sender) ||
	    imd_is_blocked(owner, s->from_s) ||
	    imd_roster_get(owner, sender, &it) != 0)
		return;
	from = it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH;
	imd_item_clear(&it);
	if (from)
		pep_presence_to(s->from_s, owner, s->x, st == RS_AVAILABLE);
}

void
imd_presence_inbound(struct imd_stanza *s)
{
	char	owner[JID_MAX + 1], sender[JID_MAX + 1];

	if (s->to.local[0] == '\0' ||
	    imd_bare(s->to_s, owner, sizeof(owner)) == -1 ||
	    imd_bare(s->from_s, sender, sizeof(sender)) == -1 ||
	    imd_is_blocked(owner, sender))
		return;
	if (stanza_node_stype(s->x) == RS_PROBE)
		probe_answer(s, owner, sender);
	else {
		imd_presence_deliver(s->from_s, s->to_s, s->x);
		pep_remote(s, owner, sender);
	}
}
