/*
 * imd_blocking.c - XEP-0191 blocking command: the blocklist iq (get,
 * block, unblock, unblock all), the pushes to the user's sessions that
 * retrieved the list, the presence a block or unblock implies for the
 * contacts it covers, and imd_is_blocked, which imd's delivery code asks
 * for every inbound stanza (docs/imd.md says what it does with the answer).
 *
 * Called by handlers.c (imd_blocking_iq) and by imd's delivery and
 * presence code (imd_is_blocked).  Items live in the "misc" database
 * under 'b' ACCT 0 ITEM (imd_misc.c); the list of an account has at most
 * MISC_MAX_BLOCKED items, and the set of sessions that asked for it at
 * most MISC_MAX_REQUESTERS entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imd_misc.h"
#include "log.h"
#include "store.h"

#define MISC_MAX_BLOCKED	10000		/* blocklist items per account */
#define MISC_MAX_REQUESTERS	65536		/* sessions that read the list */

/* ---- blocking: who asked for the list (XEP-0191 3.2) ---- */

/*
 * Pushes go to the sessions that retrieved the blocklist.  imd_res has no
 * field for it, so this file keeps a set of (full JID, session id); an
 * entry whose session is gone (imd_res_find fails or the sid differs) is
 * stale and is pruned whenever its bucket is touched, so the set holds
 * about one entry per live session, and never more than the cap.
 */
#define REQ_BUCKETS	256

struct requester {
	struct requester	*next;
	uint64_t		 sid;
	char			 full[];
};
static struct requester	*requesters[REQ_BUCKETS];
static size_t		 nrequesters;

static unsigned
req_bucket(const char *full)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a */

	for (; *full != '\0'; full++)
		h = (h ^ (unsigned char)*full) * 16777619u;
	return h % REQ_BUCKETS;
}

static int
req_stale(const struct requester *r)
{
	struct imd_res	*res = imd_res_find(r->full);

	return res == NULL || res->sid != r->sid;
}

static void
req_prune(unsigned b)
{
	struct requester	**rp, *r;

	for (rp = &requesters[b]; (r = *rp) != NULL; ) {
		if (req_stale(r)) {
			*rp = r->next;
			free(r);
			nrequesters--;
		} else
			rp = &r->next;
	}
}

static int
req_has(const struct imd_res *res)
{
	struct requester	*r;

	for (r = requesters[req_bucket(res->full)]; r != NULL; r = r->next)
		if (r->sid == res->sid && strcmp(r->full, res->full) == 0)
			return 1;
	return 0;
}

static void
req_add(const char *full)
{
	struct imd_res		*res;
	struct requester	*r;
	unsigned		 b = req_bucket(full), i;
	size_t			 len = strlen(full);

	if ((res = imd_res_find(full)) == NULL)
		return;
	req_prune(b);
	if (req_has(res))
		return;
	if (nrequesters >= MISC_MAX_REQUESTERS)
		for (i = 0; i < REQ_BUCKETS; i++)
			req_prune(i);
	if (nrequesters >= MISC_MAX_REQUESTERS ||
	    (r = malloc(sizeof(*r) + len + 1)) == NULL) {
		log_warnx("blocking: %s gets no blocklist pushes", full);
		return;
	}
	r->sid = res->sid;
	memcpy(r->full, full, len + 1);
	r->next = requesters[b];
	requesters[b] = r;
	nrequesters++;
}

/* ---- blocking: storage and matching (XEP-0191 3, XEP-0016 2.1) ---- */

static int
blocked_has(struct store_txn *t, const char *acct, const char *jid)
{
	char		 k[KEY_MAX];
	const void	*v;
	size_t		 kl, vl;

	kl = misc_key(k, 'b', acct, jid);
	return store_get(t, MISC_DB, k, kl, &v, &vl) == 0;
}

static int
any_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	*(int *)arg = 1;
	return 1;
}

/* Most accounts block nobody: one cursor step instead of four lookups. */
static int
blocks_any(struct store_txn *t, const char *acct)
{
	char	 k[KEY_MAX];
	size_t	 kl = misc_key(k, 'b', acct, "");
	int	 any = 0;

	if (store_scan(t, MISC_DB, k, kl, any_cb, &any) == -1)
		return 1;
	return any;
}

/*
 * Is `jid` blocked by `owner_bare`?  An item matches (XEP-0016 2.1, which
 * XEP-0191 6 adopts): the full JID exactly; the bare JID any of its
 * resources; domain/resource only that; the domain itself every JID at it.
 */
int
imd_is_blocked(const char *owner_bare, const char *jid)
{
	struct store_txn	*t;
	struct jid		 j;
	char			 buf[JID_MAX + 1];
	int			 hit = 0;

	if ((t = misc_begin(0)) == NULL)
		return 0;
	/* Most accounts block nobody: one cursor step, before the costlier
	 * JID parse (PRECIS) that only a non-empty list needs. */
	if (!blocks_any(t, owner_bare) ||
	    jid_parse(jid, strlen(jid), &j) == -1) {
		store_abort(t);
		return 0;
	}
	if (j.resource[0] != '\0' && jid_format(&j, buf, sizeof(buf)) > 0)
		hit = blocked_has(t, owner_bare, buf);
	if (!hit && j.local[0] != '\0' &&
	    jid_format_bare(&j, buf, sizeof(buf)) > 0)
		hit = blocked_has(t, owner_bare, buf);
	if (!hit && j.local[0] != '\0' && j.resource[0] != '\0' &&
	    snprintf(buf, sizeof(buf), "%s/%s", j.domain, j.resource) <
	    (int)sizeof(buf))
		hit = blocked_has(t, owner_bare, buf);
	if (!hit)
		hit = blocked_has(t, owner_bare, j.domain);
	store_abort(t);
	return hit;
}

struct blist {
	struct xnode	*parent;	/* <item/>s are added here, or NULL */
	size_t		 n;
};

static int
blist_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct blist	*bl = arg;
	struct xnode	*it;
	char		 jid[JID_MAX + 1];

	bl->n++;
	if (bl->parent == NULL || vl > JID_MAX)
		return 0;
	memcpy(jid, v, vl);
	jid[vl] = '\0';
	it = xnode_add_child(bl->parent, "item", NS_BLOCKING);
	xnode_set_attr(it, "jid", jid);
	return 0;
}

/* Visit the blocklist of `acct`, adding <item/>s to `parent` if given. */
static int
blist_scan(struct store_txn *t, const char *acct, struct blist *bl)
{
	char	 k[KEY_MAX];
	size_t	 kl;

	kl = misc_key(k, 'b', acct, NULL);
	k[kl++] = '\0';
	bl->n = 0;
	return store_scan(t, MISC_DB, k, kl, blist_cb, bl);
}

/* ---- blocking: presence on block and unblock (XEP-0191 3.3, 3.4) ---- */

/* Send `pres` from `from` to `to`; a local bare JID gets it at each of its
 * resources, since imd never routes to a local bare JID (imd.h). */
static void
presence_to(const char *from, const char *to, struct xnode *pres)
{
	struct jid	 j;
	struct imd_res	*r;

	if (jid_parse(to, strlen(to), &j) == -1)
		return;
	if (!imd_is_local(j.domain) || j.resource[0] != '\0') {
		imd_send(from, to, pres);
		return;
	}
	for (r = imd_res_list(to); r != NULL; r = r->next)
		imd_send(from, r->full, pres);
}

struct bpres {
	const char	*owner;
	struct jid	 item;		/* the (un)blocked JID */
	const char	*item_s;
	int		 unblock;
};

/* For one roster contact that sees our presence and that the item covers:
 * unavailable from each available resource, or on unblock its presence. */
static int
bpres_cb(const struct imd_item *ci, void *arg)
{
	struct bpres	*bp = arg;
	struct jid	 c;
	struct imd_res	*r;
	struct xnode	*p;
	const char	*to;

	if ((ci->sub != IMD_SUB_FROM && ci->sub != IMD_SUB_BOTH) ||
	    jid_parse(ci->jid, strlen(ci->jid), &c) == -1)
		return 0;
	if (bp->item.resource[0] != '\0')	/* full or domain/resource */
		to = jid_bare_equal(&bp->item, &c) ? bp->item_s : NULL;
	else if (bp->item.local[0] != '\0')
		to = jid_bare_equal(&bp->item, &c) ? ci->jid : NULL;
	else
		to = strcmp(bp->item.domain, c.domain) == 0 ? ci->jid : NULL;
	if (to == NULL)
		return 0;
	imd_presence_pep_block(bp->owner, ci, to, bp->unblock);
	for (r = imd_res_list(bp->owner); r != NULL; r = r->next) {
		if (!r->available || (bp->unblock && r->presence == NULL))
			continue;
		if (bp->unblock)
			p = xnode_dup(r->presence);
		else {
			p = xnode_new("presence", XMLNS_CLIENT);
			xnode_set_attr(p, "type", "unavailable");
		}
		if (p != NULL) {
			presence_to(r->full, to, p);
			xnode_free(p);
		}
	}
	return 0;
}

static void
block_presence(const char *owner, const char *item, int unblock)
{
	struct bpres	 bp;

	bp.owner = owner;
	bp.item_s = item;
	bp.unblock = unblock;
	if (jid_parse(item, strlen(item), &bp.item) == -1)
		return;
	imd_roster_each(owner, bpres_cb, &bp);
}

/* ---- blocking: the iq ---- */

static unsigned long	push_seq;

/* The block/unblock push to every session that read the list (XEP-0191
 * 3.3, 3.4, 3.5): an iq set from the bare JID carrying `payload`. */
static void
block_push(const char *owner, const struct xnode *payload)
{
	struct imd_res	*r;
	struct xnode	*iq, *p;
	char		 id[32];

	for (r = imd_res_list(owner); r != NULL; r = r->next) {
		if (!req_has(r))
			continue;
		if ((iq = xnode_new("iq", XMLNS_CLIENT)) == NULL ||
		    (p = xnode_dup(payload)) == NULL) {
			xnode_free(iq);
			log_warnx("blocking: push to %s: out of memory", r->full);
			continue;
		}
		snprintf(id, sizeof(id), "block-push-%lu", ++push_seq);
		xnode_set_attr(iq, "type", "set");
		xnode_set_attr(iq, "id", id);
		xnode_append(iq, p);
		if (imd_send(owner, r->full, iq) == -1)
			log_warnx("blocking: push to %s not sent", r->full);
		xnode_free(iq);
	}
}

/* Normalized JIDs of the <item/>s of `op`; 0, or -1 with *cond set. */
static int
block_items(const struct xnode *op, char ***list, size_t *n,
    const char **cond)
{
	const struct xnode	*c;
	const char		*a;
	char			**l;
	size_t			 max = 0;

	for (c = xnode_first_elem(op); c != NULL; c = xnode_next_elem(c))
		max++;
	*n = 0;
	if ((*list = l = calloc(max + 1, sizeof(*l))) == NULL)
		goto oom;
	for (c = xnode_first_elem(op); c != NULL; c = xnode_next_elem(c)) {
		if (strcmp(c->name, "item") != 0 ||
		    strcmp(c->ns, NS_BLOCKING) != 0)
			continue;
		if ((a = xnode_attr(c, "jid")) == NULL) {
			*cond = "bad-request";
			return -1;
		}
		if ((l[*n] = malloc(JID_MAX + 1)) == NULL)
			goto oom;
		if (jid_normalize(a, l[*n], JID_MAX + 1) == -1) {
			free(l[*n]);
			*cond = "jid-malformed";
			return -1;
		}
		(*n)++;
	}
	return 0;
oom:
	*cond = "internal-server-error";
	return -1;
}

static void
list_free(char **l, size_t n)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* Store the items; 0, 1 over the bound, -1 error. */
static int
block_store(const char *owner, char **l, size_t n)
{
	struct store_txn	*t;
	struct blist		 bl = { NULL, 0 };
	char			 k[KEY_MAX];
	size_t			 i, kl;

	if ((t = misc_begin(1)) == NULL)
		return -1;
	if (blist_scan(t, owner, &bl) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		if (blocked_has(t, owner, l[i]))
			continue;
		if (++bl.n > MISC_MAX_BLOCKED) {
			store_abort(t);
			return 1;
		}
		kl = misc_key(k, 'b', owner, l[i]);
		if (store_put(t, MISC_DB, k, kl, l[i], strlen(l[i])) == -1)
			goto fail;
	}
	return store_commit(t);
fail:
	store_abort(t);
	return -1;
}

struct bcollect {
	char	**l;
	size_t	 n, cap;
	int	 failed;
};

static int
bcollect_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct bcollect	*bc = arg;
	char		**nl;

	if (bc->n == bc->cap) {
		bc->cap = bc->cap ? bc->cap * 2 : 64;
		if ((nl = reallocarray(bc->l, bc->cap, sizeof(*nl))) == NULL) {
			bc->failed = 1;
			return 1;
		}
		bc->l = nl;
	}
	if ((bc->l[bc->n] = strndup(v, vl)) == NULL) {
		bc->failed = 1;
		return 1;
	}
	bc->n++;
	return 0;
}

/* Remove the items (all of them when *n is 0, returning them in *l);
 * afterwards the list holds what was removed.  0 or -1. */
static int
block_remove(const char *owner, char ***l, size_t *n)
{
	struct store_txn	*t;
	struct bcollect		 bc = { NULL, 0, 0, 0 };
	char			 k[KEY_MAX];
	size_t			 i, kl;

	if ((t = misc_begin(1)) == NULL)
		return -1;
	if (*n == 0) {
		kl = misc_key(k, 'b', owner, NULL);
		k[kl++] = '\0';
		if (store_scan(t, MISC_DB, k, kl, bcollect_cb, &bc) == -1 ||
		    bc.failed) {
			list_free(bc.l, bc.n);
			goto fail;
		}
		list_free(*l, 0);
		*l = bc.l;
		*n = bc.n;
	}
	for (i = 0; i < *n; i++) {
		kl = misc_key(k, 'b', owner, (*l)[i]);
		if (store_del(t, MISC_DB, k, kl) == -1)
			goto fail;
	}
	return store_commit(t);
fail:
	store_abort(t);
	return -1;
}

/* The push payload: <block/> or <unblock/> with the items (none: all). */
static struct xnode *
block_payload(const char *name, char **l, size_t n, int all)
{
	struct xnode	*p, *it;
	size_t		 i;

	if ((p = xnode_new(name, NS_BLOCKING)) == NULL)
		return NULL;
	for (i = 0; i < n && !all; i++) {
		if ((it = xnode_add_child(p, "item", NS_BLOCKING)) == NULL) {
			xnode_free(p);
			return NULL;
		}
		xnode_set_attr(it, "jid", l[i]);
	}
	return p;
}

static void
blocking_set(struct imd_stanza *s, const char *owner, const struct xnode *op)
{
	struct xnode	*push;
	const char	*cond = NULL;
	char		**l = NULL;
	size_t		 n = 0, i;
	int		 block = strcmp(op->name, "block") == 0, rc, all;

	if (block_items(op, &l, &n, &cond) == -1) {
		imd_reply_error(s, strcmp(cond, "internal-server-error") ?
		    "modify" : "wait", cond);
		list_free(l, n);
		return;
	}
	all = !block && n == 0;
	if (block && n == 0) {		/* XEP-0191 3.3: at least one item */
		imd_reply_error(s, "modify", "bad-request");
		list_free(l, n);
		return;
	}
	rc = block ? block_store(owner, l, n) : block_remove(owner, &l, &n);
	if (rc == 1)
		misc_reply_text(s, "modify", "policy-violation",
		    "the blocklist is full");
	else if (rc == -1) {
		log_warn("blocking: %s: store", owner);
		imd_reply_error(s, "wait", "internal-server-error");
	} else {
		imd_reply_result(s, NULL);
		if ((push = block_payload(op->name, l, n, all)) != NULL) {
			block_push(owner, push);
			xnode_free(push);
		}
		for (i = 0; i < n; i++)
			block_presence(owner, l[i], !block);
	}
	list_free(l, n);
}

static void
blocking_get(struct imd_stanza *s, const char *owner)
{
	struct store_txn	*t;
	struct blist		 bl;
	struct xnode		*p;

	if ((p = xnode_new("blocklist", NS_BLOCKING)) == NULL ||
	    (t = misc_begin(0)) == NULL) {
		xnode_free(p);
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	bl.parent = p;
	if (blist_scan(t, owner, &bl) == -1) {
		store_abort(t);
		xnode_free(p);
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	store_abort(t);
	req_add(s->from_s);		/* XEP-0191 3.2: it wants pushes */
	imd_reply_result(s, p);
}

int
imd_blocking_iq(struct imd_stanza *s)
{
	struct xnode	*op = xnode_first_elem(s->x);
	const char	*type = misc_iq_type(s);
	char		 owner[JID_MAX + 1];

	if (op == NULL || strcmp(op->ns, NS_BLOCKING) != 0)
		return -1;
	if (!misc_own(s)) {		/* only the user's own server list */
		imd_reply_error(s, "cancel", "forbidden");
		return 0;
	}
	if (jid_format_bare(&s->from, owner, sizeof(owner)) < 0) {
		imd_reply_error(s, "modify", "jid-malformed");
		return 0;
	}
	if (strcmp(type, "get") == 0 && strcmp(op->name, "blocklist") == 0)
		blocking_get(s, owner);
	else if (strcmp(type, "set") == 0 && (strcmp(op->name, "block") == 0 ||
	    strcmp(op->name, "unblock") == 0))
		blocking_set(s, owner, op);
	else
		imd_reply_error(s, "modify", "bad-request");
	return 0;
}

