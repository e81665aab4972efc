/*
 * imd_roster.c - rosters (RFC 6121 section 2): storage, roster get with
 * versioning (2.6), roster set and remove, roster pushes, shared groups,
 * and the store of pending inbound subscription requests (3.1.3).
 *
 * Called by handlers.c (jabber:iq:roster iq), imd_subscription.c (state
 * changes) and imd_presence.c (who is subscribed).
 *
 * LMDB layout (docs/imd.md):
 *   "roster"    owner \0 contact -> u8 sub, u8 ask, u8 approved,
 *               u8 has-name, u16 len + name, u16 n, n x (u16 len + group)
 *   "rosterver" owner -> u64 (LE) version, bumped by every change
 *   "subpend"   owner \0 contact -> the subscribe stanza as received
 * Keys are bare JIDs; LMDB keys are at most 511 bytes, so a pair of
 * very long JIDs cannot be stored (the request fails cleanly).
 *
 * Invariants: a roster holds at most roster-max items and as many pending
 * requests; no LMDB transaction stays open across a call out of this file
 * (LMDB allows one transaction per thread); a change is committed before
 * it is pushed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imd.h"
#include "log.h"
#include "store.h"

#define DB_ROSTER	"roster"
#define DB_VER		"rosterver"
#define DB_PENDING	"subpend"
#define KEY_MAX		511

static const char *const sub_names[] = { "none", "to", "from", "both",
	"remove" };

static int
pair_key(char *key, const char *owner, const char *contact)
{
	size_t	ol = strlen(owner), cl = strlen(contact);

	if (ol + 1 + cl > KEY_MAX)
		return -1;
	memcpy(key, owner, ol);
	key[ol] = '\0';
	memcpy(key + ol + 1, contact, cl);
	return (int)(ol + 1 + cl);
}

void
imd_item_clear(struct imd_item *it)
{
	size_t	i;

	free(it->name);
	for (i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	memset(it, 0, sizeof(*it));
}

static int
item_add_group(struct imd_item *it, const char *g, size_t len)
{
	char	**v;
	size_t	 i;

	for (i = 0; i < it->ngroups; i++)
		if (strlen(it->groups[i]) == len &&
		    memcmp(it->groups[i], g, len) == 0)
			return 0;
	if (it->ngroups == IMD_MAX_ITEM_GROUPS ||
	    (v = reallocarray(it->groups, it->ngroups + 1, sizeof(*v))) == NULL)
		return -1;
	it->groups = v;
	if ((v[it->ngroups] = strndup(g, len)) == NULL)
		return -1;
	it->ngroups++;
	return 0;
}

/* ---- encoding ---- */

static void
put_str16(struct xbuf *b, const char *s)
{
	uint16_t	n = (uint16_t)strlen(s);
	uint8_t		le[2] = { n & 0xff, n >> 8 };

	xbuf_add(b, (const char *)le, 2);
	xbuf_add(b, s, n);
}

static int
item_encode(const struct imd_item *it, struct xbuf *b)
{
	uint8_t	hdr[4] = { it->sub, it->ask, it->approved, it->name != NULL };
	uint8_t	n[2] = { it->ngroups & 0xff, it->ngroups >> 8 };
	size_t	i;

	xbuf_add(b, (const char *)hdr, 4);
	put_str16(b, it->name != NULL ? it->name : "");
	xbuf_add(b, (const char *)n, 2);
	for (i = 0; i < it->ngroups; i++)
		put_str16(b, it->groups[i]);
	return b->failed ? -1 : 0;
}

static int
get_u16(const uint8_t **p, size_t *left, size_t *out)
{
	if (*left < 2)
		return -1;
	*out = (*p)[0] | (size_t)(*p)[1] << 8;
	*p += 2;
	*left -= 2;
	return 0;
}

static int
item_decode(const void *v, size_t vlen, const char *contact,
    struct imd_item *it)
{
	const uint8_t	*p = v;
	size_t		 left = vlen, n, ng, i;

	memset(it, 0, sizeof(*it));
	if (strlen(contact) > JID_MAX || left < 4 || p[0] > IMD_SUB_BOTH)
		return -1;
	strcpy(it->jid, contact);
	it->sub = p[0];
	it->ask = p[1] != 0;
	it->approved = p[2] != 0;
	i = p[3];
	p += 4;
	left -= 4;
	if (get_u16(&p, &left, &n) == -1 || n > left)
		goto bad;
	if (i && (it->name = strndup((const char *)p, n)) == NULL)
		goto bad;
	p += n;
	left -= n;
	if (get_u16(&p, &left, &ng) == -1)
		goto bad;
	for (i = 0; i < ng; i++) {
		if (get_u16(&p, &left, &n) == -1 || n > left ||
		    item_add_group(it, (const char *)p, n) == -1)
			goto bad;
		p += n;
		left -= n;
	}
	return 0;
bad:
	imd_item_clear(it);
	return -1;
}

/* ---- shared groups ---- */

/* Shared groups make members contacts of each other, sub both. */
static void
shared_merge(const char *owner, struct imd_item *it)
{
	size_t	i, j;

	for (i = 0; i < imd_ngroups; i++) {
		if (strcmp(imd_groups[i].jid, owner) != 0)
			continue;
		for (j = 0; j < imd_ngroups; j++)
			if (strcmp(imd_groups[j].jid, it->jid) == 0 &&
			    strcmp(imd_groups[j].group,
			    imd_groups[i].group) == 0) {
				it->sub = IMD_SUB_BOTH;
				(void)item_add_group(it, imd_groups[i].group,
				    strlen(imd_groups[i].group));
			}
	}
}

static int
is_shared_contact(const char *owner, const char *contact)
{
	struct imd_item	it;
	int		shared;

	memset(&it, 0, sizeof(it));
	if (strlen(contact) > JID_MAX)
		return 0;
	strcpy(it.jid, contact);
	shared_merge(owner, &it);
	shared = it.sub == IMD_SUB_BOTH;
	imd_item_clear(&it);
	return shared;
}

/* ---- lookup ---- */

int
imd_roster_get(const char *owner, const char *contact, struct imd_item *it)
{
	struct store_txn	*t;
	const void		*v;
	size_t			 vlen;
	char			 key[KEY_MAX];
	int			 klen, rc;

	memset(it, 0, sizeof(*it));
	if ((klen = pair_key(key, owner, contact)) == -1 ||
	    (t = store_begin(imd_store, 0)) == NULL)
		return -1;
	rc = store_get(t, DB_ROSTER, key, klen, &v, &vlen);
	if (rc == 0 && item_decode(v, vlen, contact, it) == -1)
		rc = -1;
	store_abort(t);
	if (rc == 1 && is_shared_contact(owner, contact)) {
		strcpy(it->jid, contact);
		rc = 0;
	}
	if (rc == 0)
		shared_merge(owner, it);
	return rc;
}

int
imd_roster_shares_presence(const char *owner, const char *contact)
{
	struct imd_item	it;
	int		yes;

	if (imd_roster_get(owner, contact, &it) != 0)
		return 0;
	yes = it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH;
	imd_item_clear(&it);
	return yes;
}

struct collect {
	const char	*owner;
	struct imd_item	*items;
	size_t		 n, cap;
	int		 failed;
};

static int
collect_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct collect	*c = arg;
	struct imd_item	*nv;
	size_t		 ol = strlen(c->owner) + 1;
	char		 contact[JID_MAX + 1];

	if (kl <= ol || kl - ol > JID_MAX)
		return 0;
	memcpy(contact, (const char *)k + ol, kl - ol);
	contact[kl - ol] = '\0';
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		if ((nv = reallocarray(c->items, c->cap, sizeof(*nv))) == NULL) {
			c->failed = 1;
			return 1;
		}
		c->items = nv;
	}
	if (item_decode(v, vl, contact, &c->items[c->n]) == 0)
		c->n++;
	return 0;
}

/* Every stored item of `owner`, copied out of the transaction. */
static int
roster_load(const char *owner, struct collect *c)
{
	struct store_txn	*t;
	char			 key[KEY_MAX];
	int			 klen, rc;

	memset(c, 0, sizeof(*c));
	c->owner = owner;
	if ((klen = pair_key(key, owner, "")) == -1 ||
	    (t = store_begin(imd_store, 0)) == NULL)
		return -1;
	rc = store_scan(t, DB_ROSTER, key, klen, collect_cb, c);
	store_abort(t);
	return rc == -1 || c->failed ? -1 : 0;
}

static void
collect_free(struct collect *c)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		imd_item_clear(&c->items[i]);
	free(c->items);
}

/* Add shared-group members that have no stored item. */
static void
collect_shared(struct collect *c)
{
	struct imd_item	*nv;
	size_t		 i, j;

	for (i = 0; i < imd_ngroups; i++) {
		if (strcmp(imd_groups[i].jid, c->owner) == 0 ||
		    !is_shared_contact(c->owner, imd_groups[i].jid))
			continue;
		for (j = 0; j < c->n; j++)
			if (strcmp(c->items[j].jid, imd_groups[i].jid) == 0)
				break;
		if (j < c->n)
			continue;
		if ((nv = reallocarray(c->items, c->n + 1,
		    sizeof(*nv))) == NULL)
			return;
		c->items = nv;
		c->cap = c->n + 1;
		memset(&c->items[c->n], 0, sizeof(*nv));
		strcpy(c->items[c->n].jid, imd_groups[i].jid);
		c->n++;
	}
}

int
imd_roster_each(const char *owner, int (*cb)(const struct imd_item *, void *),
    void *arg)
{
	struct collect	c;
	size_t		i;

	if (roster_load(owner, &c) == -1) {
		collect_free(&c);
		return -1;
	}
	collect_shared(&c);
	for (i = 0; i < c.n; i++) {
		shared_merge(owner, &c.items[i]);
		if (cb(&c.items[i], arg) != 0)
			break;
	}
	collect_free(&c);
	return 0;
}

/* ---- versions and changes ---- */

static uint64_t
ver_get(struct store_txn *t, const char *owner)
{
	const uint8_t	*v;
	size_t		 vlen, i;
	uint64_t	 n = 0;

	if (store_get(t, DB_VER, owner, strlen(owner), (const void **)&v,
	    &vlen) != 0 || vlen != 8)
		return 0;
	for (i = 0; i < 8; i++)
		n |= (uint64_t)v[i] << (8 * i);
	return n;
}

static int
ver_bump(struct store_txn *t, const char *owner, uint64_t *out)
{
	uint8_t		le[8];
	uint64_t	n = ver_get(t, owner) + 1;
	size_t		i;

	for (i = 0; i < 8; i++)
		le[i] = (uint8_t)(n >> (8 * i));
	*out = n;
	return store_put(t, DB_VER, owner, strlen(owner), le, 8);
}

static int
count_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	return ++*(size_t *)arg > imd_conf.roster_max;
}

static size_t
count_prefix(struct store_txn *t, const char *db, const char *owner)
{
	char	key[KEY_MAX];
	int	klen;
	size_t	n = 0;

	if ((klen = pair_key(key, owner, "")) != -1)
		(void)store_scan(t, db, key, klen, count_cb, &n);
	return n;
}

static struct xnode *
imd_item_xml(const struct imd_item *it, struct xnode *parent)
{
	struct xnode	*x, *g;
	size_t		 i;

	if ((x = xnode_add_child(parent, "item", NULL)) == NULL)
		return NULL;
	xnode_set_attr(x, "jid", it->jid);
	if (it->name != NULL)
		xnode_set_attr(x, "name", it->name);
	xnode_set_attr(x, "subscription", sub_names[it->sub]);
	if (it->ask && it->sub != IMD_SUB_REMOVE)
		xnode_set_attr(x, "ask", "subscribe");
	if (it->approved && it->sub != IMD_SUB_REMOVE)
		xnode_set_attr(x, "approved", "true");
	for (i = 0; i < it->ngroups && it->sub != IMD_SUB_REMOVE; i++)
		if ((g = xnode_add_child(x, "group", NULL)) != NULL)
			xnode_add_text(g, it->groups[i], strlen(it->groups[i]));
	return x;
}

/* RFC 6121 2.1.6: a push to every interested resource of `owner`. */
static void
roster_push(const char *owner, const struct imd_item *it, uint64_t ver)
{
	static unsigned	 seq;
	struct imd_res	*r;
	struct xnode	*iq, *q;
	char		 buf[32];

	if ((iq = xnode_new("iq", NULL)) == NULL)
		return;
	xnode_set_attr(iq, "type", "set");
	snprintf(buf, sizeof(buf), "push%u", ++seq);
	xnode_set_attr(iq, "id", buf);
	if ((q = xnode_add_child(iq, "query", NS_ROSTER)) != NULL) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ver);
		xnode_set_attr(q, "ver", buf);
		(void)imd_item_xml(it, q);
	}
	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->interested)
			(void)imd_send(owner, r->full, iq);
	xnode_free(iq);
}

int
imd_roster_save(const char *owner, const struct imd_item *it)
{
	struct store_txn	*t;
	struct xbuf		 b;
	const void		*v;
	size_t			 vlen;
	char			 key[KEY_MAX];
	int			 klen, rc = -1;
	uint64_t		 ver;

	if ((klen = pair_key(key, owner, it->jid)) == -1)
		return -1;
	xbuf_init(&b);
	if (item_encode(it, &b) == -1 ||
	    (t = store_begin(imd_store, 1)) == NULL) {
		xbuf_free(&b);
		return -1;
	}
	if (store_get(t, DB_ROSTER, key, klen, &v, &vlen) == 1 &&
	    count_prefix(t, DB_ROSTER, owner) >= imd_conf.roster_max)
		rc = -2;
	else if (store_put(t, DB_ROSTER, key, klen, b.data, b.len) == 0 &&
	    ver_bump(t, owner, &ver) == 0) {
		rc = store_commit(t);
		t = NULL;
	}
	if (t != NULL)
		store_abort(t);
	xbuf_free(&b);
	if (rc == 0) {
		roster_push(owner, it, ver);
		imd_presence_pep_item(owner, it);	/* groups to pepd */
	}
	return rc;
}

int
imd_roster_remove(const char *owner, const char *contact)
{
	struct store_txn	*t;
	struct imd_item		 it;
	char			 key[KEY_MAX];
	int			 klen, rc = -1;
	uint64_t		 ver;

	if ((klen = pair_key(key, owner, contact)) == -1 ||
	    (t = store_begin(imd_store, 1)) == NULL)
		return -1;
	if (store_del(t, DB_ROSTER, key, klen) != -1 &&
	    store_del(t, DB_PENDING, key, klen) != -1 &&
	    ver_bump(t, owner, &ver) == 0)
		rc = store_commit(t);
	else
		store_abort(t);
	if (rc == 0) {
		memset(&it, 0, sizeof(it));
		strcpy(it.jid, contact);
		it.sub = IMD_SUB_REMOVE;
		roster_push(owner, &it, ver);
	}
	return rc;
}

/* ---- pending inbound subscription requests ---- */

int
imd_pending_put(const char *owner, const char *contact, const struct xnode *x)
{
	struct store_txn	*t;
	struct xbuf		 b;
	char			 key[KEY_MAX];
	int			 klen, rc = -1;

	if ((klen = pair_key(key, owner, contact)) == -1)
		return -1;
	xbuf_init(&b);
	if (imd_serialize(&b, x) == -1 ||
	    (t = store_begin(imd_store, 1)) == NULL) {
		xbuf_free(&b);
		return -1;
	}
	if (count_prefix(t, DB_PENDING, owner) < imd_conf.roster_max &&
	    store_put(t, DB_PENDING, key, klen, b.data, b.len) == 0)
		rc = store_commit(t);
	else
		store_abort(t);
	xbuf_free(&b);
	return rc;
}

int
imd_pending_del(const char *owner, const char *contact)
{
	struct store_txn	*t;
	char			 key[KEY_MAX];
	int			 klen, rc;

	if ((klen = pair_key(key, owner, contact)) == -1 ||
	    (t = store_begin(imd_store, 1)) == NULL)
		return -1;
	if ((rc = store_del(t, DB_PENDING, key, klen)) == 0)
		return store_commit(t);
	store_abort(t);
	return rc;
}

int
imd_pending_exists(const char *owner, const char *contact)
{
	struct store_txn	*t;
	const void		*v;
	size_t			 vlen;
	char			 key[KEY_MAX];
	int			 klen, rc;

	if ((klen = pair_key(key, owner, contact)) == -1 ||
	    (t = store_begin(imd_store, 0)) == NULL)
		return 0;
	rc = store_get(t, DB_PENDING, key, klen, &v, &vlen);
	store_abort(t);
	return rc == 0;
}

/* On the stack: this runs at every login, so no fixed 3 KiB per entry. */
struct pend {
	struct xnode	*list[64];
	char		*from[64];
	size_t		 n;
	size_t		 olen;
};

static int
pend_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct pend	*p = arg;
	struct xnode	*x;

	if (kl <= p->olen || kl - p->olen > JID_MAX)
		return 0;
	if ((x = xml_parse_element(v, vl, NULL)) == NULL)
		return 0;
	if ((p->from[p->n] = strndup((const char *)k + p->olen,
	    kl - p->olen)) == NULL) {
		xnode_free(x);
		return 0;
	}
	p->list[p->n++] = x;
	return p->n == sizeof(p->list) / sizeof(p->list[0]);
}

/* RFC 6121 3.1.3: requests wait until the user is online, and are
 * delivered again at every login until answered.  At most 64 per login. */
void
imd_pending_flush(struct imd_res *res, const char *owner)
{
	struct store_txn	*t;
	struct pend		 p;
	char			 key[KEY_MAX];
	int			 klen;
	size_t			 i;

	if ((klen = pair_key(key, owner, "")) == -1)
		return;
	p.n = 0;
	p.olen = klen;
	if ((t = store_begin(imd_store, 0)) != NULL) {
		(void)store_scan(t, DB_PENDING, key, klen, pend_cb, &p);
		store_abort(t);
	}
	for (i = 0; i < p.n; i++) {
		if (!imd_is_blocked(owner, p.from[i]))
			(void)imd_send(p.from[i], res->full, p.list[i]);
		xnode_free(p.list[i]);
		free(p.from[i]);
	}
}

/* ---- the iq (RFC 6121 2.1.3, 2.3, 2.5) ---- */

static void
reply_error_text(struct imd_stanza *s, const char *type, const char *cond,
    const char *text)
{
	struct xnode	*r, *e, *t;

	if ((r = xnode_dup(s->x)) == NULL)
		return;
	xnode_set_attr(r, "type", "error");
	if ((e = xnode_add_child(r, "error", NULL)) != NULL) {
		xnode_set_attr(e, "type", type);
		(void)xnode_add_child(e, cond, NS_STANZAS);
		if ((t = xnode_add_child(e, "text", NS_STANZAS)) != NULL)
			xnode_add_text(t, text, strlen(text));
	}
	(void)imd_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

static int
roster_get_iq(struct imd_stanza *s, const char *owner, struct xnode *q)
{
	struct store_txn	*t;
	struct collect		 c;
	struct xnode		*r;
	struct imd_res		*res;
	const char		*cver = xnode_attr(q, "ver");
	uint64_t		 ver = 0;
	char			 buf[32];
	size_t			 i;

	if ((res = imd_res_touch(s->from_s, s->f->hdr.session)) != NULL)
		res->interested = 1;
	if ((t = store_begin(imd_store, 0)) != NULL) {
		ver = ver_get(t, owner);
		store_abort(t);
	}
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ver);
	/* 2.6.3: the client's version is current: an empty result, pushes
	 * follow for later changes. */
	if (cver != NULL && strcmp(cver, buf) == 0) {
		imd_reply_result(s, NULL);
		return 0;
	}
	if (roster_load(owner, &c) == -1 ||
	    (r = xnode_new("query", NS_ROSTER)) == NULL) {
		collect_free(&c);
		imd_reply_error(s, "wait", "internal-server-error");
		return 0;
	}
	collect_shared(&c);
	if (cver != NULL)
		xnode_set_attr(r, "ver", buf);
	for (i = 0; i < c.n; i++) {
		shared_merge(owner, &c.items[i]);
		(void)imd_item_xml(&c.items[i], r);
	}
	collect_free(&c);
	imd_reply_result(s, r);
	return 0;
}

/* 2.3.3 and 2.1.2.4: reject what a roster set may not contain. */
static const char *
item_check(struct xnode *item, const char *owner, char *jid, size_t len)
{
	struct xnode	*g, *h;
	const char	*j = xnode_attr(item, "jid"), *name;
	char		*t;
	int		 empty;

	if (j == NULL || jid_normalize(j, jid, len) == -1)
		return "bad-request";
	if (strcmp(jid, owner) == 0)
		return "not-allowed";
	if ((name = xnode_attr(item, "name")) != NULL &&
	    strlen(name) > JID_PART_MAX)
		return "not-acceptable";
	for (g = xnode_first_elem(item); g != NULL; g = xnode_next_elem(g)) {
		if (strcmp(g->name, "group") != 0)
			continue;
		t = xnode_text(g);
		empty = t == NULL || *t == '\0' || strlen(t) > JID_PART_MAX;
		free(t);
		if (empty)
			return "not-acceptable";
		for (h = xnode_next_elem(g); h != NULL; h = xnode_next_elem(h))
			if (strcmp(h->name, "group") == 0 && g->children &&
			    h->children && g->children->textlen ==
			    h->children->textlen && memcmp(g->children->text,
			    h->children->text, g->children->textlen) == 0)
				return "bad-request";
	}
	return NULL;
}

/* 2.5.2: removing an item cancels the subscriptions both ways. */
static void
roster_remove_iq(struct imd_stanza *s, const char *owner, const char *jid)
{
	struct imd_item	it;
	int		rc;

	if ((rc = imd_roster_get(owner, jid, &it)) == 1) {
		imd_reply_error(s, "modify", "item-not-found");
		return;
	}
	if (rc == -1) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	if (imd_roster_remove(owner, jid) == -1) {
		imd_item_clear(&it);
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	imd_reply_result(s, NULL);
	if (it.sub == IMD_SUB_TO || it.sub == IMD_SUB_BOTH || it.ask)
		imd_subscription_route(owner, jid, "unsubscribe", NULL);
	if (it.sub == IMD_SUB_FROM || it.sub == IMD_SUB_BOTH) {
		imd_presence_send_all(owner, jid, 1);
		imd_subscription_route(owner, jid, "unsubscribed", NULL);
	}
	imd_item_clear(&it);
}

static void
roster_update_iq(struct imd_stanza *s, const char *owner, const char *jid,
    struct xnode *item)
{
	struct imd_item	 it;
	struct xnode	*g;
	const char	*name = xnode_attr(item, "name");
	char		*t;
	int		 rc;

	if (imd_roster_get(owner, jid, &it) == -1) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	/* 2.1.2.5: subscription and ask in a set are the server's. */
	free(it.name);
	it.name = name != NULL ? strdup(name) : NULL;
	while (it.ngroups > 0)
		free(it.groups[--it.ngroups]);
	for (g = xnode_first_elem(item); g != NULL; g = xnode_next_elem(g))
		if (strcmp(g->name, "group") == 0 &&
		    (t = xnode_text(g)) != NULL) {
			(void)item_add_group(&it, t, strlen(t));
			free(t);
		}
	strcpy(it.jid, jid);
	if ((rc = imd_roster_save(owner, &it)) == -2)
		reply_error_text(s, "cancel", "not-allowed",
		    "The roster is full (roster-max)");
	else if (rc == -1)
		imd_reply_error(s, "wait", "internal-server-error");
	else
		imd_reply_result(s, NULL);
	imd_item_clear(&it);
}

static int
roster_set_iq(struct imd_stanza *s, const char *owner, struct xnode *q)
{
	struct xnode	*item = xnode_first_elem(q);
	const char	*why, *sub;
	char		 jid[JID_MAX + 1];

	/* 2.3.3: exactly one item. */
	if (item == NULL || strcmp(item->name, "item") != 0 ||
	    xnode_next_elem(item) != NULL) {
		imd_reply_error(s, "modify", "bad-request");
		return 0;
	}
	if ((why = item_check(item, owner, jid, sizeof(jid))) != NULL) {
		imd_reply_error(s, "modify", why);
		return 0;
	}
	if ((sub = xnode_attr(item, "subscription")) != NULL &&
	    strcmp(sub, "remove") == 0)
		roster_remove_iq(s, owner, jid);
	else
		roster_update_iq(s, owner, jid, item);
	return 0;
}

int
imd_roster_iq(struct imd_stanza *s)
{
	struct xnode	*q = xnode_child(s->x, "query", NS_ROSTER);
	char		 owner[JID_MAX + 1];

	if (q == NULL)
		return -1;
	/* 2.1.5: a roster is its owner's alone. */
	if (imd_bare(s->from_s, owner, sizeof(owner)) == -1 ||
	    strncmp(owner, s->to_s, strlen(owner)) != 0 ||
	    (s->to_s[strlen(owner)] != '\0' && s->to_s[strlen(owner)] != '/')) {
		imd_reply_error(s, "auth", "forbidden");
		return 0;
	}
	switch (stanza_node_stype(s->x)) {
	case RS_GET:
		return roster_get_iq(s, owner, q);
	case RS_SET:
		return roster_set_iq(s, owner, q);
	default:
		return -1;
	}
}
