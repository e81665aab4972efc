/*
 * pepd_item.c - the item store: the published items of every node, in
 * pepd's LMDB environment (docs/pep.md, "Store").
 *
 *   items:  service NUL node NUL, u64 big-endian sequence ->
 *           item id NUL publisher NUL payload (serialized XML)
 *
 * Sequences increase (pepd_iq.c hands out microsecond stamps, never
 * smaller than the last one), so a node's items are in publication order
 * and its last item is its last key.  Republishing an id replaces the old
 * item (XEP-0060 7.1.2: the new one becomes the newest).  Called by
 * pepd_iq.c and the unit tests.  Invariants: after pep_item_put() a node
 * holds at most max_items items; every write is one transaction, so a
 * failed commit leaves the node as it was; a record that does not parse
 * is skipped, never fatal.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pepd.h"
#include "store.h"

#define DB_ITEMS	"items"
#define KEY_MAX		(2 * (JID_MAX + 1) + PEP_MAX_NAME + 16)

/* The key prefix of a node's items; 0 if it does not fit. */
size_t
pep_node_key(const char *service, const char *name, char *buf, size_t size)
{
	size_t	sl = strlen(service), nl = strlen(name);

	if (sl + nl + 2 > size)
		return 0;
	memcpy(buf, service, sl + 1);
	memcpy(buf + sl + 1, name, nl + 1);
	return sl + nl + 2;
}

static uint64_t
get_be64(const uint8_t *b)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void
put_be64(uint8_t *b, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

/* Split a record into its fields; -1 if it is not one. */
static int
decode(const void *k, size_t kl, size_t plen, const void *v, size_t vl,
    struct pep_item *it)
{
	const char	*p = v, *e = p + vl, *z1, *z2;

	if (kl != plen + 8 || (z1 = memchr(p, '\0', vl)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', (size_t)(e - z1 - 1))) == NULL)
		return -1;
	it->id = p;
	it->publisher = z1 + 1;
	it->payload = z2 + 1;
	it->payload_len = (size_t)(e - z2 - 1);
	it->seq = get_be64((const uint8_t *)k + plen);
	return 0;
}

/* Visit every item of a node in order. */
struct walk {
	size_t		 plen;
	size_t		 skip;		/* items to pass over first */
	size_t		 seen;
	pep_item_cb	 cb;
	void		*arg;
	const char	*id;		/* only this id, or NULL */
};

static int
walk_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct walk	*w = arg;
	struct pep_item	 it;

	if (decode(k, kl, w->plen, v, vl, &it) == -1)
		return 0;
	if (w->seen++ < w->skip)
		return 0;
	if (w->id != NULL && strcmp(w->id, it.id) != 0)
		return 0;
	return w->cb(&it, w->arg);
}

static int
count_cb(const struct pep_item *it, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
walk(struct store_txn *t, const char *key, size_t klen, size_t skip,
    const char *id, pep_item_cb cb, void *arg)
{
	struct walk	w = { klen, skip, 0, cb, arg, id };

	return store_scan(t, DB_ITEMS, key, klen, walk_cb, &w);
}

static size_t
count(struct store_txn *t, const char *key, size_t klen)
{
	size_t	n = 0;

	(void)walk(t, key, klen, 0, NULL, count_cb, &n);
	return n;
}

/* Keys collected for deletion after a scan (a cursor must not move
 * under a deletion). */
struct keys {
	uint64_t	*seq;
	size_t		 n, cap, limit;
	const char	*id;		/* collect this id only, or NULL */
	int		 failed;
};

static int
collect_cb(const struct pep_item *it, void *arg)
{
	struct keys	*ks = arg;
	uint64_t	*p;

	if (ks->id != NULL && strcmp(ks->id, it->id) != 0)
		return 0;
	if (ks->n == ks->limit)
		return 1;
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? ks->cap * 2 : 16;
		if ((p = reallocarray(ks->seq, ks->cap, sizeof(*p))) == NULL) {
			ks->failed = 1;
			return 1;
		}
		ks->seq = p;
	}
	ks->seq[ks->n++] = it->seq;
	return 0;
}

static int
del_keys(struct store_txn *t, const char *key, size_t klen, struct keys *ks)
{
	char	k[KEY_MAX];
	size_t	i;

	if (ks->failed)
		return -1;
	memcpy(k, key, klen);
	for (i = 0; i < ks->n; i++) {
		put_be64((uint8_t *)k + klen, ks->seq[i]);
		if (store_del(t, DB_ITEMS, k, klen + 8) == -1)
			return -1;
	}
	return 0;
}

/* Delete the oldest items beyond `max_items`, inside `t`. */
static int
trim(struct store_txn *t, const char *key, size_t klen, unsigned max_items)
{
	struct keys	ks = { 0 };
	size_t		n = count(t, key, klen);
	int		rc;

	if (n <= max_items)
		return 0;
	ks.limit = n - max_items;
	(void)walk(t, key, klen, 0, NULL, collect_cb, &ks);
	rc = del_keys(t, key, klen, &ks);
	free(ks.seq);
	return rc;
}

static int
del_id(struct store_txn *t, const char *key, size_t klen, const char *id,
    size_t *ndel)
{
	struct keys	ks = { 0 };
	int		rc;

	ks.limit = (size_t)-1;
	ks.id = id;
	(void)walk(t, key, klen, 0, NULL, collect_cb, &ks);
	rc = del_keys(t, key, klen, &ks);
	*ndel = ks.n;
	free(ks.seq);
	return rc;
}

int
pep_item_put(struct store *st, const char *key, size_t klen, const char *id,
    const char *publisher, const char *payload, size_t plen,
    unsigned max_items, uint64_t seq)
{
	struct store_txn *t;
	char		 k[KEY_MAX], *v;
	size_t		 il = strlen(id), pl = strlen(publisher), vl, nd;
	int		 rc = -1;

	if (klen == 0 || klen + 8 > sizeof(k) || max_items == 0 ||
	    plen > SIZE_MAX / 2 || (t = store_begin(st, 1)) == NULL)
		return -1;
	vl = il + 1 + pl + 1 + plen;
	if ((v = malloc(vl)) == NULL) {
		store_abort(t);
		return -1;
	}
	memcpy(v, id, il + 1);
	memcpy(v + il + 1, publisher, pl + 1);
	memcpy(v + il + pl + 2, payload, plen);
	memcpy(k, key, klen);
	put_be64((uint8_t *)k + klen, seq);
	if (del_id(t, key, klen, id, &nd) == 0 &&
	    store_put(t, DB_ITEMS, k, klen + 8, v, vl) == 0 &&
	    trim(t, key, klen, max_items) == 0)
		rc = 0;
	free(v);
	if (rc == -1) {
		store_abort(t);
		return -1;
	}
	return store_commit(t);
}

/* 0 deleted, 1 no such item, -1 error. */
int
pep_item_del(struct store *st, const char *key, size_t klen, const char *id)
{
	struct store_txn *t;
	size_t		 nd = 0;

	if ((t = store_begin(st, 1)) == NULL)
		return -1;
	if (del_id(t, key, klen, id, &nd) == -1) {
		store_abort(t);
		return -1;
	}
	if (nd == 0) {
		store_abort(t);
		return 1;
	}
	return store_commit(t);
}

int
pep_item_trim(struct store *st, const char *key, size_t klen,
    unsigned max_items)
{
	struct store_txn *t;

	if ((t = store_begin(st, 1)) == NULL)
		return -1;
	if (trim(t, key, klen, max_items) == -1) {
		store_abort(t);
		return -1;
	}
	return store_commit(t);
}

int
pep_item_purge(struct store *st, const char *key, size_t klen)
{
	return pep_item_trim(st, key, klen, 0);
}

int
pep_item_list(struct store *st, const char *key, size_t klen, unsigned max,
    pep_item_cb cb, void *arg)
{
	struct store_txn *t;
	size_t		 n, skip = 0;
	int		 rc;

	if ((t = store_begin(st, 0)) == NULL)
		return -1;
	if (max > 0 && (n = count(t, key, klen)) > max)
		skip = n - max;
	rc = walk(t, key, klen, skip, NULL, cb, arg);
	store_abort(t);
	return rc;
}

/* 0 found (cb called), 1 not found, -1 error. */
struct found {
	pep_item_cb	 cb;
	void		*arg;
	int		 hit;
};

static int
found_cb(const struct pep_item *it, void *arg)
{
	struct found	*f = arg;

	f->hit = 1;
	(void)f->cb(it, f->arg);
	return 1;
}

int
pep_item_get(struct store *st, const char *key, size_t klen, const char *id,
    pep_item_cb cb, void *arg)
{
	struct store_txn *t;
	struct found	 f = { cb, arg, 0 };
	int		 rc;

	if ((t = store_begin(st, 0)) == NULL)
		return -1;
	rc = walk(t, key, klen, 0, id, found_cb, &f);
	store_abort(t);
	return rc == -1 ? -1 : f.hit ? 0 : 1;
}

size_t
pep_item_count(struct store *st, const char *key, size_t klen)
{
	struct store_txn *t;
	size_t		 n;

	if ((t = store_begin(st, 0)) == NULL)
		return 0;
	n = count(t, key, klen);
	store_abort(t);
	return n;
}
