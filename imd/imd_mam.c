/*
 * imd_mam.c - the per-account message archive (XEP-0313, urn:xmpp:mam:2)
 * with unique stanza ids (XEP-0359).
 *
 * imd_deliver.c calls imd_mam_archive() for every message a local account
 * sends (incoming = 0) or receives (incoming = 1), and
 * imd_mam_archive_copies() for a message between two local accounts, so
 * that both copies cost one write transaction and one serialization
 * (docs/performance.md); imd_handlers.c routes
 * iq in urn:xmpp:mam:2 to imd_mam_iq() (query, form, prefs, metadata).
 *
 * LMDB layout (also in docs/imd.md):
 *   "mam"      key: owner bare JID, NUL, 8-byte big-endian time (usec),
 *                   8-byte big-endian sequence
 *              value: u8 version (1), u8 direction ('i'/'o'), u8 id length,
 *                   id, u16 BE `with` length, `with` (the other party's
 *                   JID as the caller gave it), the stanza XML (no
 *                   jabber:client declaration)
 *   "mamid"    key: stanza id (22 characters)  value: the "mam" key
 *   "mamprefs" key: owner bare JID  value: u8 default (0 always, 1 never,
 *                   2 roster), then entries 'a'|'n', JID, NUL
 * Keys sort by owner and then by time, so a query is one prefix scan.
 * LMDB's key limit (511 bytes) leaves owners of up to 494 bytes: longer
 * bare JIDs are not archived (imd_mam_archive returns -1).
 *
 * Invariants: only the owner reads its archive; an id the owner did not
 * give (forged <stanza-id by=owner/>) never leaves imd; every page is
 * capped by archive-max-page; retention pruning does bounded work per call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "store.h"
#include "imd.h"

#define MAM_DB		"mam"
#define MAM_ID_DB	"mamid"
#define MAM_PREFS_DB	"mamprefs"
#define MAM_ID_LEN	22		/* 16 bytes, 6 bits a character */
#define MAM_KEY_MAX	511		/* LMDB's default maximum key size */
#define MAM_TAIL	16		/* time + sequence after owner NUL */
#define MAM_PAGE_DEFAULT 50
#define MAM_IDS_MAX	100		/* the 'ids' filter */
#define MAM_PREFS_MAX	256		/* JIDs in always + never */
#define MAM_PRUNE_STEP	16		/* per archive call */
#define MAM_PRUNE_TICK	1024		/* per timer tick */
#define MAM_PRUNE_SECS	60

#define NS_HINTS	"urn:xmpp:hints"

enum { PREF_ALWAYS, PREF_NEVER, PREF_ROSTER };
static const char *const pref_names[] = { "always", "never", "roster" };

static uint64_t		 mam_seq;
static struct event	*mam_timer;

/* ---- keys and values ---- */

static void
put_be64(unsigned char *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int	 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Owner prefix (with NUL) into `key`; its length, or 0 when too long. */
static size_t
mam_prefix(unsigned char *key, const char *owner)
{
	size_t	 olen = strlen(owner);

	if (olen == 0 || olen + 1 + MAM_TAIL > MAM_KEY_MAX)
		return 0;
	memcpy(key, owner, olen + 1);
	return olen + 1;
}

struct mam_val {
	int		 dir;
	const char	*id;
	size_t		 idlen;
	const char	*with;
	size_t		 withlen;
	const char	*xml;
	size_t		 xmllen;
};

static int
mam_val_parse(const void *v, size_t vl, struct mam_val *mv)
{
	const unsigned char	*p = v;
	size_t			 off;

	if (vl < 5 || p[0] != 1)
		return -1;
	mv->dir = p[1];
	mv->idlen = p[2];
	off = 3;
	if (vl - off < mv->idlen + 2)
		return -1;
	mv->id = (const char *)p + off;
	off += mv->idlen;
	mv->withlen = (size_t)p[off] << 8 | p[off + 1];
	off += 2;
	if (vl - off < mv->withlen)
		return -1;
	mv->with = (const char *)p + off;
	off += mv->withlen;
	mv->xml = (const char *)p + off;
	mv->xmllen = vl - off;
	return 0;
}

/* XEP-0313 section 4.1.1: a bare filter matches every resource of it. */
static int
jid_matches(const char *filter, const char *jid, size_t jlen)
{
	size_t	 flen = strlen(filter);
	const char *slash;

	if (strchr(filter, '/') != NULL)
		return jlen == flen && memcmp(filter, jid, jlen) == 0;
	slash = memchr(jid, '/', jlen);
	if (slash != NULL)
		jlen = slash - jid;
	return jlen == flen && memcmp(filter, jid, jlen) == 0;
}

/* ---- what is archived (XEP-0313 section 7, XEP-0334) ---- */

static int
mam_archivable(const struct xnode *msg)
{
	const char	*type = xnode_attr(msg, "type");

	if (strcmp(msg->name, "message") != 0)
		return 0;
	if (type != NULL && strcmp(type, "chat") != 0 &&
	    strcmp(type, "normal") != 0)
		return 0;	/* error, headline; groupchat is mucd's */
	if (xnode_child(msg, "no-store", NS_HINTS) != NULL ||
	    xnode_child(msg, "no-permanent-store", NS_HINTS) != NULL)
		return 0;
	if (xnode_child(msg, "body", NULL) != NULL ||
	    xnode_child(msg, "store", NS_HINTS) != NULL)
		return 1;
	/* End-to-end encrypted payloads without a fallback body. */
	return xnode_child(msg, "encrypted", "eu.siacs.conversations.axolotl")
	    != NULL || xnode_child(msg, "encrypted", "urn:xmpp:omemo:2") != NULL ||
	    xnode_child(msg, "openpgp", "urn:xmpp:openpgp:0") != NULL ||
	    xnode_child(msg, "x", "jabber:x:encrypted") != NULL;
}

/* XEP-0359 section 5: a stanza-id by the owner can only come from us. */
static void
strip_forged_sid(struct xnode *msg, const char *owner)
{
	struct xnode	*c, *next;
	const char	*by;

	for (c = msg->children; c != NULL; c = next) {
		next = c->next;
		if (c->type != XNODE_ELEM || strcmp(c->name, "stanza-id") != 0 ||
		    c->ns == NULL || strcmp(c->ns, NS_SID) != 0)
			continue;
		by = xnode_attr(c, "by");
		if (by == NULL || strcmp(by, owner) == 0)
			xnode_free(c);
	}
}

/*
 * 16 bytes as 22 characters of the base64url set (RFC 4648 section 5) and
 * a NUL, but with the characters in ASCII order, so that the strings sort
 * as the bytes do: the ids are opaque to clients, and the id index (a
 * B-tree keyed by them) then grows at its right edge instead of at random
 * leaves.  A table lookup, as the ids are public (sodium_bin2base64's
 * constant time bought nothing: docs/performance.md).
 */
static void
id_encode16(char *out, const unsigned char *in)
{
	static const char	 a[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "_abcdefghijklmnopqrstuvwxyz";
	uint32_t		 v;
	int			 i;

	for (i = 0; i < 15; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = a[v >> 18 & 63];
		*out++ = a[v >> 12 & 63];
		*out++ = a[v >> 6 & 63];
		*out++ = a[v & 63];
	}
	*out++ = a[in[15] >> 2];
	*out++ = a[(in[15] & 3) << 4];
	*out = '\0';
}

/*
 * An archive id (XEP-0359 stanza-id): the time in microseconds, big-endian,
 * then 8 random bytes.  Unique and unguessable (64 random bits), and in
 * time order, which keeps the inserts into the id index local: with
 * 16 random bytes every message dirtied another leaf of it.  The time is
 * no secret: the archive hands it out with every result (the delay stamp).
 * The random bytes come from a pool refilled 64 ids at a time: a
 * getrandom() per id was 4% of imd's time at 50k messages/s.
 */
static void
mam_new_id(char *id)
{
	static unsigned char	 pool[512];	/* 64 ids: one getrandom */
	static size_t		 left;
	unsigned char		 b[16];

	if (left == 0) {
		if (sodium_init() < 0)
			fatalx("libsodium cannot initialize");
		randombytes_buf(pool, sizeof(pool));
		left = sizeof(pool);
	}
	left -= 8;
	memcpy(b + 8, pool + left, 8);
	sodium_memzero(pool + left, 8);
	put_be64(b, xmpp_now_usec());
	id_encode16(id, b);
}

/* ---- preferences (XEP-0313 section 6) ---- */

/*
 * Whether `owner` archives a message with `with`: an <always/> or <never/>
 * JID first, then the default, the server's archive-default when the owner
 * set none.  The preferences are read in a handle of their own, closed
 * before a roster default asks the roster (a handle of its own too).
 */
static int
prefs_allow(const char *owner, const char *with)
{
	struct store_txn *t;
	const void	*v;
	const char	*p, *end, *jid;
	size_t		 vl, wlen = strlen(with);
	struct imd_item	 item;
	int		 def = imd_conf.archive_default, rc;
	char		 bare[JID_MAX + 1];
	size_t		 blen;

	if ((t = store_begin(imd_store, 0)) == NULL)
		return -1;
	if (store_get(t, MAM_PREFS_DB, owner, strlen(owner), &v, &vl) == 0 &&
	    vl >= 1) {
		p = v;
		end = p + vl;
		def = p[0];
		for (p++; p < end; p += strlen(jid) + 1) {
			jid = p + 1;
			if (memchr(jid, '\0', end - jid) == NULL)
				break;
			if (jid_matches(jid, with, wlen)) {
				rc = p[0] == 'a';
				store_abort(t);
				return rc;
			}
		}
	}
	store_abort(t);
	if (def == PREF_NEVER)
		return 0;
	if (def != PREF_ROSTER)
		return 1;
	if ((blen = strcspn(with, "/")) >= sizeof(bare))
		return 0;
	memcpy(bare, with, blen);
	bare[blen] = '\0';
	memset(&item, 0, sizeof(item));
	rc = imd_roster_get(owner, bare, &item);
	if (rc == 0)
		imd_item_clear(&item);
	return rc == 0;
}

int
imd_mam_pref_parse(const char *name)
{
	int	 d;

	for (d = 0; d <= PREF_ROSTER; d++)
		if (strcmp(name, pref_names[d]) == 0)
			return d;
	return -1;
}

/* ---- archiving ---- */

static void mam_timer_cb(int, short, void *);

static void
mam_timer_start(void)
{
	struct timeval	 tv = { MAM_PRUNE_SECS, 0 };

	if (mam_timer != NULL || daemon_base == NULL ||
	    imd_conf.archive_retention == 0)
		return;
	mam_timer = event_new(daemon_base, -1, EV_PERSIST, mam_timer_cb, NULL);
	if (mam_timer != NULL)
		event_add(mam_timer, &tv);
}

/* The value: header, `with`, then the message as serialized once. */
static int
mam_value(struct xbuf *b, const struct imd_mam_copy *c, const char *xml,
    size_t xmllen)
{
	size_t		 wlen = strlen(c->with);
	unsigned char	 hdr[3 + MAM_ID_LEN + 2];

	if (wlen > 0xffff)
		return -1;
	hdr[0] = 1;
	hdr[1] = c->incoming ? 'i' : 'o';
	hdr[2] = MAM_ID_LEN;
	memcpy(hdr + 3, c->id, MAM_ID_LEN);
	hdr[3 + MAM_ID_LEN] = wlen >> 8;
	hdr[4 + MAM_ID_LEN] = wlen & 0xff;
	xbuf_reset(b);
	xbuf_add(b, (const char *)hdr, sizeof(hdr));
	xbuf_add(b, c->with, wlen);
	xbuf_add(b, xml, xmllen);
	return b->failed ? -1 : 0;
}

static void mam_prune_owner(struct store_txn *, const char *, uint64_t);

/* The two puts of one copy; -1 aborts the whole transaction. */
static int
mam_put(struct store_txn *t, const struct imd_mam_copy *c,
    const char *xml, size_t xmllen, struct xbuf *b, uint64_t now)
{
	unsigned char	 key[MAM_KEY_MAX];
	size_t		 klen;

	if ((klen = mam_prefix(key, c->owner)) == 0)
		return -1;
	put_be64(key + klen, now);
	put_be64(key + klen + 8, ++mam_seq);
	klen += MAM_TAIL;
	if (mam_value(b, c, xml, xmllen) == -1 ||
	    store_put(t, MAM_DB, key, klen, b->data, b->len) == -1 ||
	    store_put(t, MAM_ID_DB, c->id, MAM_ID_LEN, key, klen) == -1)
		return -1;
	mam_prune_owner(t, c->owner, now);
	return 0;
}

/*
 * Stores the copies that have an id in one write transaction; st[i] is 0
 * stored, -1 not stored.  Returns 0, or -1 when the transaction failed
 * (nothing stored).
 */
static int
mam_store(struct imd_mam_copy *c, size_t n, const char *xml, size_t xmllen,
    int *st)
{
	struct store_txn *t;
	struct xbuf	 b;
	uint64_t	 now = xmpp_now_usec();
	size_t		 i;
	int		 rc = 0;

	if (imd_store == NULL || (t = store_begin(imd_store, 1)) == NULL)
		return -1;
	xbuf_init(&b);
	for (i = 0; i < n && rc == 0; i++) {
		st[i] = -1;
		if (c[i].id[0] == '\0')
			continue;
		if ((rc = mam_put(t, &c[i], xml, xmllen, &b, now)) == 0)
			st[i] = 0;
	}
	xbuf_free(&b);
	if (rc == -1) {
		store_abort(t);
		return -1;
	}
	return store_commit(t);
}

/*
 * Each copy alone, as when they were archived one by one: one copy that
 * cannot be stored (map full, say) must not cost the other its entry.
 */
static void
mam_store_each(struct imd_mam_copy *c, size_t n, const char *xml,
    size_t xmllen, int *st)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (mam_store(&c[i], 1, xml, xmllen, &st[i]) == -1)
			st[i] = -1;
}

/*
 * Candidates whose owner's preferences want the message get a fresh id (an
 * owner too long for a key gets none).  Preferences are read first, so a
 * message nobody archives costs no write transaction.  Returns how many
 * got one.
 */
static size_t
mam_assign_ids(struct imd_mam_copy *c, size_t n)
{
	unsigned char	 key[MAM_KEY_MAX];
	size_t		 i, wanted = 0;
	int		 allow;

	for (i = 0; i < n; i++) {
		if (c[i].with == NULL ||
		    (allow = prefs_allow(c[i].owner, c[i].with)) == 0)
			continue;
		if (allow == -1 || mam_prefix(key, c[i].owner) == 0) {
			log_warn("mam: cannot archive a message for %s",
			    c[i].owner);
			continue;
		}
		mam_new_id(c[i].id);
		wanted++;
	}
	return wanted;
}

/*
 * Store the serialized message `xml` for the copies in `c`, each with a
 * fresh id, in one transaction (each alone if that fails); a copy that was
 * not stored gets an empty id.  Returns how many were stored.
 */
static int
mam_store_xml(const char *xml, size_t xmllen, struct imd_mam_copy *c,
    size_t n)
{
	int	 st[IMD_MAM_COPIES_MAX];
	size_t	 i;
	int	 stored = 0;

	for (i = 0; i < n; i++)
		st[i] = -1;
	mam_timer_start();
	if (mam_assign_ids(c, n) == 0)
		return 0;
	if (mam_store(c, n, xml, xmllen, st) == -1) {
		for (i = 0; i < n; i++)
			st[i] = -1;	/* nothing of that txn is stored */
		if (n > 1)
			mam_store_each(c, n, xml, xmllen, st);
	}
	for (i = 0; i < n; i++) {
		if (st[i] == -1 && c[i].id[0] != '\0')
			log_warn("mam: cannot archive a message for %s",
			    c[i].owner);
		if (st[i] != 0)
			c[i].id[0] = '\0';
		else
			stored++;
	}
	return stored;
}

int
imd_mam_archive_copies(struct xnode *msg, struct imd_mam_copy *c, size_t n)
{
	struct xnode	*sid;
	struct xbuf	 xml;
	size_t		 i;
	int		 stored = 0;

	if (n > IMD_MAM_COPIES_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		c[i].id[0] = '\0';
		strip_forged_sid(msg, c[i].owner);
	}
	if (!mam_archivable(msg))
		return 0;
	/* Serialized once, after every owner's forged ids are gone. */
	xbuf_init(&xml);
	xml_serialize(&xml, msg, "");
	if (!xml.failed)
		stored = mam_store_xml(xml.data, xml.len, c, n);
	xbuf_free(&xml);
	for (i = 0; i < n; i++) {
		/* Added after the commit: the id a client sees is stored. */
		if (c[i].incoming && c[i].id[0] != '\0' &&
		    (sid = xnode_add_child(msg, "stanza-id", NS_SID)) != NULL) {
			xnode_set_attr(sid, "id", c[i].id);
			xnode_set_attr(sid, "by", c[i].owner);
		}
	}
	return stored;
}

int
imd_mam_archive_raw(const char *xml, size_t len, struct imd_mam_copy *c,
    size_t n)
{
	size_t	 i;

	if (n > IMD_MAM_COPIES_MAX)
		return -1;
	for (i = 0; i < n; i++)
		c[i].id[0] = '\0';
	return mam_store_xml(xml, len, c, n);
}

int
imd_mam_archive(const char *owner_bare, struct xnode *msg, int incoming,
    const char *with, char *id, size_t idlen)
{
	struct imd_mam_copy c;

	if (id == NULL || idlen < MAM_ID_LEN + 1)
		return -1;
	id[0] = '\0';
	memset(&c, 0, sizeof(c));
	c.owner = owner_bare;
	c.with = with;
	c.incoming = incoming;
	if (imd_mam_archive_copies(msg, &c, 1) != 1)
		return -1;
	memcpy(id, c.id, MAM_ID_LEN + 1);
	return 0;
}

/* ---- retention ---- */

struct prune_ent {
	unsigned char	 key[MAM_KEY_MAX];
	size_t		 klen;
	char		 id[MAM_ID_LEN];
	size_t		 idlen;
};
static struct prune_ent prune_ents[MAM_PRUNE_TICK];

struct prune {
	uint64_t	 cutoff;
	unsigned	 budget;	/* <= MAM_PRUNE_TICK */
	unsigned	 n;
	int		 sweep;		/* all owners, not one */
};

static int
prune_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct prune	*p = arg;
	struct prune_ent *e;
	struct mam_val	 mv;

	if (p->n >= p->budget)
		return 1;
	if (kl < MAM_TAIL + 2 || kl > MAM_KEY_MAX)
		return 0;
	if (get_be64((const unsigned char *)k + kl - MAM_TAIL) >= p->cutoff)
		return p->sweep ? 0 : 1;	/* one owner: time ordered */
	e = &prune_ents[p->n++];
	memcpy(e->key, k, kl);
	e->klen = kl;
	e->idlen = 0;
	if (mam_val_parse(v, vl, &mv) == 0 && mv.idlen == MAM_ID_LEN) {
		memcpy(e->id, mv.id, MAM_ID_LEN);
		e->idlen = MAM_ID_LEN;
	}
	return 0;
}

/* Deleted after the scan: the cursor must not see its own deletions. */
static int
prune_apply(struct store_txn *t, const struct prune *p)
{
	unsigned	 i;

	for (i = 0; i < p->n; i++) {
		if (store_del(t, MAM_DB, prune_ents[i].key,
		    prune_ents[i].klen) == -1)
			return -1;
		if (prune_ents[i].idlen > 0 && store_del(t, MAM_ID_DB,
		    prune_ents[i].id, prune_ents[i].idlen) == -1)
			return -1;
	}
	return (int)p->n;
}

static uint64_t
retention_cutoff(uint64_t now)
{
	uint64_t	 r = imd_conf.archive_retention;

	if (r == 0 || r > now / 1000000)
		return 0;
	return now - r * 1000000;
}

/* A few of the owner's oldest entries, inside the archiving txn. */
static void
mam_prune_owner(struct store_txn *t, const char *owner, uint64_t now)
{
	struct prune	 p;
	unsigned char	 pfx[MAM_KEY_MAX];
	size_t		 plen;

	memset(&p, 0, sizeof(p));
	if ((p.cutoff = retention_cutoff(now)) == 0 ||
	    (plen = mam_prefix(pfx, owner)) == 0)
		return;
	p.budget = MAM_PRUNE_STEP;
	if (store_scan(t, MAM_DB, pfx, plen, prune_cb, &p) == 0)
		(void)prune_apply(t, &p);
}

/*
 * The timer's sweep over every archive: deletes the first `budget` expired
 * entries in key order.  What earlier ticks deleted is gone, so each tick
 * makes progress; the rest of the scan only compares timestamps.
 */
int
imd_mam_prune(uint64_t now_usec, unsigned budget)
{
	struct prune	 p;
	struct store_txn *t;
	int		 n;

	memset(&p, 0, sizeof(p));
	if ((p.cutoff = retention_cutoff(now_usec)) == 0 || imd_store == NULL)
		return 0;
	p.budget = budget < MAM_PRUNE_TICK ? budget : MAM_PRUNE_TICK;
	p.sweep = 1;
	if ((t = store_begin(imd_store, 1)) == NULL)
		return -1;
	if (store_scan(t, MAM_DB, "", 0, prune_cb, &p) == -1 ||
	    (n = prune_apply(t, &p)) == -1) {
		store_abort(t);
		return -1;
	}
	if (store_commit(t) == -1)
		return -1;
	return n;
}

static void
mam_timer_cb(int fd, short ev, void *arg)
{
	if (imd_mam_prune(xmpp_now_usec(), MAM_PRUNE_TICK) == -1)
		log_warn("mam: retention sweep failed");
}


/* ---- queries (XEP-0313 section 4, paging by XEP-0059) ---- */

struct mam_query {
	unsigned char	 pfx[MAM_KEY_MAX];	/* owner, NUL */
	size_t		 plen;
	char		 with[JID_MAX + 1];	/* "" = any */
	uint64_t	 start, end;
	/* the form's after-id/before-id: part of the result set */
	unsigned char	 lo[MAM_TAIL], hi[MAM_TAIL];
	int		 has_lo, has_hi;
	unsigned char	(*ids)[MAM_TAIL];	/* the form's 'ids' */
	size_t		 nids;
	int		 has_ids;
	/* RSM: a position inside the result set */
	unsigned char	 after[MAM_TAIL], before[MAM_TAIL];
	int		 has_after, has_before, backward;
	unsigned	 max;
	int		 flip;
	/* the page; a ring when paging backwards */
	unsigned char	(*page)[MAM_TAIL];
	unsigned	 npage, head;
	unsigned	 count, skipped, seen;
	int		 more;
};

static int
tail_cmp(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, MAM_TAIL);
}

static int
query_match(struct mam_query *q, const unsigned char *tail, const void *v,
    size_t vl)
{
	uint64_t	 ts = get_be64(tail);
	struct mam_val	 mv;
	size_t		 i;

	if (ts < q->start || ts > q->end)
		return 0;
	if ((q->has_lo && tail_cmp(tail, q->lo) <= 0) ||
	    (q->has_hi && tail_cmp(tail, q->hi) >= 0))
		return 0;
	if (q->has_ids) {
		for (i = 0; i < q->nids; i++)
			if (tail_cmp(tail, q->ids[i]) == 0)
				break;
		if (i == q->nids)
			return 0;
	}
	if (q->with[0] != '\0' && (mam_val_parse(v, vl, &mv) == -1 ||
	    !jid_matches(q->with, mv.with, mv.withlen)))
		return 0;
	return 1;
}

static int
query_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct mam_query	*q = arg;
	const unsigned char	*tail = (const unsigned char *)k + q->plen;

	if (kl != q->plen + MAM_TAIL || !query_match(q, tail, v, vl))
		return 0;
	q->count++;
	if (q->has_after && tail_cmp(tail, q->after) <= 0) {
		q->skipped++;
		return 0;
	}
	if (q->has_before && tail_cmp(tail, q->before) >= 0)
		return 0;
	q->seen++;
	if (q->npage < q->max) {
		memcpy(q->page[(q->head + q->npage) % q->max], tail, MAM_TAIL);
		q->npage++;
	} else {
		q->more = 1;
		if (q->backward && q->max > 0) {
			/* Keep the last `max`: drop the oldest. */
			memcpy(q->page[q->head], tail, MAM_TAIL);
			q->head = (q->head + 1) % q->max;
		}
	}
	return 0;
}

/* XEP-0082 DateTime to microseconds since the epoch; -1 if invalid. */
static int
parse_datetime(const char *s, uint64_t *out)
{
	struct tm	 tm;
	int		 n = 0, th, tmin;
	long long	 t, usec = 0, scale = 100000;
	time_t		 tt;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19 || tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	s += n;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			usec += (*s - '0') * scale;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((tt = timegm(&tm)) == (time_t)-1)
		return -1;
	t = tt;
	if (*s == 'Z' && s[1] == '\0')
		;
	else if ((*s == '+' || *s == '-') && sscanf(s + 1, "%2d:%2d%n", &th,
	    &tmin, &n) == 2 && n == 5 && s[6] == '\0' && th < 24 && tmin < 60)
		t += (*s == '+' ? -1 : 1) * (th * 3600LL + tmin * 60);
	else
		return -1;
	if (t < 0)
		return -1;
	*out = (uint64_t)t * 1000000 + (uint64_t)usec;
	return 0;
}

/* The archive position of one of the owner's ids; 0, or 1 if unknown. */
static int
id_tail(struct store_txn *t, struct mam_query *q, const char *id,
    unsigned char *tail)
{
	const void	*v;
	size_t		 vl, idl = strlen(id);

	if (idl != MAM_ID_LEN || store_get(t, MAM_ID_DB, id, idl, &v, &vl) != 0)
		return 1;
	/* Another account's id is as unknown as a made-up one. */
	if (vl != q->plen + MAM_TAIL || memcmp(v, q->pfx, q->plen) != 0)
		return 1;
	memcpy(tail, (const unsigned char *)v + q->plen, MAM_TAIL);
	return 0;
}

static char *
field_value(const struct xnode *f)
{
	const struct xnode *v = xnode_child(f, "value", NS_DATA);

	return v != NULL ? xnode_text(v) : strdup("");
}

/* One form field; NULL, or the error condition. */
static const char *
form_field(struct store_txn *t, struct mam_query *q, const struct xnode *f)
{
	const char	*var = xnode_attr(f, "var");
	const struct xnode *v;
	const char	*err = NULL;
	char		*val;

	if (var == NULL)
		return "bad-request";
	if (strcmp(var, "ids") == 0) {
		q->has_ids = 1;
		for (v = xnode_first_elem(f); v != NULL; v = xnode_next_elem(v)) {
			if (strcmp(v->name, "value") != 0)
				continue;
			if (q->nids >= MAM_IDS_MAX)
				return "policy-violation";
			if ((val = xnode_text(v)) == NULL)
				return "internal-server-error";
			if (id_tail(t, q, val, q->ids[q->nids]) == 0)
				q->nids++;
			free(val);
		}
		return NULL;
	}
	if ((val = field_value(f)) == NULL)
		return "internal-server-error";
	if (strcmp(var, "FORM_TYPE") == 0) {
		if (strcmp(val, NS_MAM) != 0)
			err = "bad-request";
	} else if (strcmp(var, "with") == 0) {
		if (jid_normalize(val, q->with, sizeof(q->with)) == -1)
			err = "jid-malformed";
	} else if (strcmp(var, "start") == 0) {
		if (parse_datetime(val, &q->start) == -1)
			err = "bad-request";
	} else if (strcmp(var, "end") == 0) {
		if (parse_datetime(val, &q->end) == -1)
			err = "bad-request";
	} else if (strcmp(var, "after-id") == 0) {
		q->has_lo = 1;
		if (id_tail(t, q, val, q->lo) != 0)
			err = "item-not-found";
	} else if (strcmp(var, "before-id") == 0) {
		q->has_hi = 1;
		if (id_tail(t, q, val, q->hi) != 0)
			err = "item-not-found";
	} else
		err = "feature-not-implemented";	/* unknown filter */
	free(val);
	return err;
}

static unsigned
page_cap(void)
{
	return imd_conf.archive_max_page ? imd_conf.archive_max_page :
	    MAM_PAGE_DEFAULT;
}

/* <set xmlns=rsm>: max, after, before (empty: the last page). */
static const char *
rsm_parse(struct store_txn *t, struct mam_query *q, const struct xnode *set)
{
	const struct xnode *c;
	char		*val, *end;
	unsigned long	 n;
	const char	*err = NULL;

	for (c = xnode_first_elem(set); c != NULL && err == NULL;
	    c = xnode_next_elem(c)) {
		if ((val = xnode_text(c)) == NULL)
			return "internal-server-error";
		if (strcmp(c->name, "max") == 0) {
			errno = 0;
			n = strtoul(val, &end, 10);
			if (*val == '\0' || *end != '\0' || errno != 0 ||
			    val[0] == '-')
				err = "bad-request";
			else if (n < q->max)
				q->max = n;
		} else if (strcmp(c->name, "after") == 0) {
			q->has_after = 1;
			if (id_tail(t, q, val, q->after) != 0)
				err = "item-not-found";
		} else if (strcmp(c->name, "before") == 0) {
			q->backward = 1;
			if (*val != '\0') {
				q->has_before = 1;
				if (id_tail(t, q, val, q->before) != 0)
					err = "item-not-found";
			}
		}
		free(val);
	}
	return err;
}

static const char *
query_parse(struct store_txn *t, struct mam_query *q, const struct xnode *qn)
{
	const struct xnode *x, *f, *set;
	const char	*err;

	q->end = UINT64_MAX;
	q->max = page_cap();
	q->flip = xnode_child(qn, "flip-page", NS_MAM) != NULL;
	if ((x = xnode_child(qn, "x", NS_DATA)) != NULL) {
		for (f = xnode_first_elem(x); f != NULL; f = xnode_next_elem(f)) {
			if (strcmp(f->name, "field") != 0)
				continue;
			if ((err = form_field(t, q, f)) != NULL)
				return err;
		}
	}
	if ((set = xnode_child(qn, "set", NS_RSM)) != NULL &&
	    (err = rsm_parse(t, q, set)) != NULL)
		return err;
	return NULL;
}

/* One <message><result><forwarded/></result></message> to the querier. */
static int
send_result(struct store_txn *t, struct mam_query *q, const char *owner,
    const char *to, const char *queryid, const unsigned char *tail, char *id)
{
	unsigned char	 key[MAM_KEY_MAX];
	const void	*v;
	size_t		 vl;
	struct mam_val	 mv;
	struct xnode	*orig, *m, *r, *fw;
	char		 stamp[64];
	int		 rc = -1;

	memcpy(key, q->pfx, q->plen);
	memcpy(key + q->plen, tail, MAM_TAIL);
	if (store_get(t, MAM_DB, key, q->plen + MAM_TAIL, &v, &vl) != 0 ||
	    mam_val_parse(v, vl, &mv) == -1 || mv.idlen > MAM_ID_LEN)
		return -1;
	memcpy(id, mv.id, mv.idlen);
	id[mv.idlen] = '\0';
	if ((orig = xml_parse_element(mv.xml, mv.xmllen, NULL)) == NULL)
		return -1;
	xmpp_timestamp(stamp, sizeof(stamp), get_be64(tail));
	if ((m = xnode_new("message", "")) != NULL &&
	    (r = xnode_add_child(m, "result", NS_MAM)) != NULL &&
	    (fw = imd_forwarded(orig, stamp)) != NULL) {
		if (queryid != NULL)
			xnode_set_attr(r, "queryid", queryid);
		xnode_set_attr(r, "id", id);
		xnode_append(r, fw);
		rc = imd_send(owner, to, m);
	}
	xnode_free(m);
	xnode_free(orig);
	return rc;
}

static struct xnode *
fin_new(const struct mam_query *q, const char *first, const char *last)
{
	struct xnode	*fin, *set, *c;
	char		 num[24];
	unsigned	 index;

	if ((fin = xnode_new("fin", NS_MAM)) == NULL)
		return NULL;
	/* Complete: this page reaches the end in the paging direction. */
	if (!q->more)
		xnode_set_attr(fin, "complete", "true");
	if ((set = xnode_add_child(fin, "set", NS_RSM)) == NULL)
		goto fail;
	if (first[0] != '\0') {
		index = q->backward ? q->skipped + q->seen - q->npage :
		    q->skipped;
		if ((c = xnode_add_child(set, "first", NS_RSM)) == NULL)
			goto fail;
		snprintf(num, sizeof(num), "%u", index);
		xnode_set_attr(c, "index", num);
		xnode_add_text(c, first, strlen(first));
		if ((c = xnode_add_child(set, "last", NS_RSM)) == NULL)
			goto fail;
		xnode_add_text(c, last, strlen(last));
	}
	if ((c = xnode_add_child(set, "count", NS_RSM)) == NULL)
		goto fail;
	snprintf(num, sizeof(num), "%u", q->count);
	xnode_add_text(c, num, strlen(num));
	return fin;
fail:
	xnode_free(fin);
	return NULL;
}

static void
query_run(struct imd_stanza *s, struct store_txn *t, struct mam_query *q,
    const char *owner, const char *queryid)
{
	char		 first[MAM_ID_LEN + 1] = "", last[MAM_ID_LEN + 1] = "";
	char		 id[MAM_ID_LEN + 1];
	unsigned	 i, j;

	if (store_scan(t, MAM_DB, q->pfx, q->plen, query_cb, q) == -1) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	for (i = 0; i < q->npage; i++) {
		j = q->flip ? q->npage - 1 - i : i;
		if (send_result(t, q, owner, s->from_s, queryid,
		    q->page[(q->head + j) % q->max], id) == -1) {
			imd_reply_error(s, "wait", "internal-server-error");
			return;
		}
		if (j == 0)
			memcpy(first, id, sizeof(id));
		if (j == q->npage - 1)
			memcpy(last, id, sizeof(id));
	}
	imd_reply_result(s, fin_new(q, first, last));
}

static void
mam_query(struct imd_stanza *s, const struct xnode *qn, const char *owner)
{
	struct mam_query *q;
	struct store_txn *t = NULL;
	const char	*err = "internal-server-error";

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->plen = mam_prefix(q->pfx, owner)) == 0 ||
	    (q->ids = calloc(MAM_IDS_MAX, MAM_TAIL)) == NULL ||
	    (q->page = calloc(page_cap(), MAM_TAIL)) == NULL ||
	    imd_store == NULL || (t = store_begin(imd_store, 0)) == NULL)
		goto fail;
	if ((err = query_parse(t, q, qn)) != NULL)
		goto fail;
	query_run(s, t, q, owner, xnode_attr(qn, "queryid"));
	err = NULL;
fail:
	if (err != NULL)
		imd_reply_error(s, strcmp(err, "internal-server-error") == 0 ?
		    "wait" : strcmp(err, "item-not-found") == 0 ? "cancel" :
		    "modify", err);
	store_abort(t);
	if (q != NULL) {
		free(q->ids);
		free(q->page);
	}
	free(q);
}

/* XEP-0313 section 4.1.2: the form a client may fill in. */
static void
mam_form(struct imd_stanza *s)
{
	static const char *const fields[][2] = {
		{ "with", "jid-single" }, { "start", "text-single" },
		{ "end", "text-single" }, { "after-id", "text-single" },
		{ "before-id", "text-single" }, { "ids", "text-multi" },
	};
	struct xnode	*q, *x, *f, *v;
	size_t		 i;

	if ((q = xnode_new("query", NS_MAM)) == NULL ||
	    (x = xnode_add_child(q, "x", NS_DATA)) == NULL ||
	    (f = xnode_add_child(x, "field", NS_DATA)) == NULL ||
	    (v = xnode_add_child(f, "value", NS_DATA)) == NULL)
		goto fail;
	xnode_set_attr(x, "type", "form");
	xnode_set_attr(f, "var", "FORM_TYPE");
	xnode_set_attr(f, "type", "hidden");
	xnode_add_text(v, NS_MAM, strlen(NS_MAM));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if ((f = xnode_add_child(x, "field", NS_DATA)) == NULL)
			goto fail;
		xnode_set_attr(f, "var", fields[i][0]);
		xnode_set_attr(f, "type", fields[i][1]);
	}
	imd_reply_result(s, q);
	return;
fail:
	xnode_free(q);
	imd_reply_error(s, "wait", "internal-server-error");
}

/* ---- preferences iq (XEP-0313 section 6) ---- */

static struct xnode *
prefs_element(struct store_txn *t, const char *owner)
{
	struct xnode	*p, *lists[2], *j;
	const void	*v;
	const char	*c, *end;
	size_t		 vl;
	int		 def = imd_conf.archive_default;

	if ((p = xnode_new("prefs", NS_MAM)) == NULL ||
	    (lists[0] = xnode_add_child(p, "always", NS_MAM)) == NULL ||
	    (lists[1] = xnode_add_child(p, "never", NS_MAM)) == NULL) {
		xnode_free(p);
		return NULL;
	}
	if (store_get(t, MAM_PREFS_DB, owner, strlen(owner), &v, &vl) == 0 &&
	    vl >= 1) {
		c = v;
		end = c + vl;
		def = c[0] <= PREF_ROSTER ? c[0] : PREF_ALWAYS;
		for (c++; c + 1 < end; c += strlen(c) + 1) {
			if (memchr(c, '\0', end - c) == NULL)
				break;
			j = xnode_add_child(lists[*c == 'n'], "jid", NS_MAM);
			if (j != NULL)
				xnode_add_text(j, c + 1, strlen(c + 1));
		}
	}
	xnode_set_attr(p, "default", pref_names[def]);
	return p;
}

/* Appends the JIDs of <always/> or <never/> as `tag` entries. */
static const char *
prefs_list(struct xbuf *b, const struct xnode *list, char tag, size_t *n)
{
	const struct xnode *j;
	char		 norm[JID_MAX + 1], *txt;
	int		 rc;

	if (list == NULL)
		return NULL;
	for (j = xnode_first_elem(list); j != NULL; j = xnode_next_elem(j)) {
		if (strcmp(j->name, "jid") != 0)
			continue;
		if (++*n > MAM_PREFS_MAX)
			return "policy-violation";
		if ((txt = xnode_text(j)) == NULL)
			return "internal-server-error";
		rc = jid_normalize(txt, norm, sizeof(norm));
		free(txt);
		if (rc == -1)
			return "jid-malformed";
		xbuf_add(b, &tag, 1);
		xbuf_add(b, norm, strlen(norm) + 1);
	}
	return NULL;
}

static void
prefs_set(struct imd_stanza *s, const struct xnode *pn, const char *owner)
{
	const char	*def = xnode_attr(pn, "default"), *err = NULL;
	struct store_txn *t;
	struct xbuf	 b;
	size_t		 n = 0;
	char		 d;

	for (d = 0; d <= PREF_ROSTER; d++)
		if (def != NULL && strcmp(def, pref_names[(int)d]) == 0)
			break;
	if (d > PREF_ROSTER) {
		imd_reply_error(s, "modify", "bad-request");
		return;
	}
	xbuf_init(&b);
	xbuf_add(&b, &d, 1);
	if ((err = prefs_list(&b, xnode_child(pn, "always", NS_MAM), 'a', &n)) ||
	    (err = prefs_list(&b, xnode_child(pn, "never", NS_MAM), 'n', &n)))
		goto out;
	err = "internal-server-error";
	if (b.failed || imd_store == NULL ||
	    (t = store_begin(imd_store, 1)) == NULL)
		goto out;
	if (store_put(t, MAM_PREFS_DB, owner, strlen(owner), b.data,
	    b.len) == -1)
		store_abort(t);
	else if (store_commit(t) == 0)
		err = NULL;
out:
	xbuf_free(&b);
	if (err != NULL) {
		imd_reply_error(s, strcmp(err, "internal-server-error") == 0 ?
		    "wait" : "modify", err);
		return;
	}
	if ((t = store_begin(imd_store, 0)) == NULL) {
		imd_reply_result(s, NULL);
		return;
	}
	imd_reply_result(s, prefs_element(t, owner));
	store_abort(t);
}

static void
prefs_get(struct imd_stanza *s, const char *owner)
{
	struct store_txn *t;
	struct xnode	*p;

	if (imd_store == NULL || (t = store_begin(imd_store, 0)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	p = prefs_element(t, owner);
	store_abort(t);
	if (p == NULL)
		imd_reply_error(s, "wait", "internal-server-error");
	else
		imd_reply_result(s, p);
}

/* ---- metadata (XEP-0313 section 5.1: first and last entry) ---- */

struct meta {
	size_t		 plen;
	unsigned char	 tail[2][MAM_TAIL];
	char		 id[2][MAM_ID_LEN + 1];
	int		 n;
};

static int
meta_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct meta	*m = arg;
	struct mam_val	 mv;
	int		 i = m->n == 0 ? 0 : 1;

	if (kl != m->plen + MAM_TAIL || mam_val_parse(v, vl, &mv) == -1 ||
	    mv.idlen != MAM_ID_LEN)
		return 0;
	memcpy(m->tail[i], (const unsigned char *)k + m->plen, MAM_TAIL);
	memcpy(m->id[i], mv.id, MAM_ID_LEN);
	m->id[i][MAM_ID_LEN] = '\0';
	if (m->n == 0) {
		memcpy(m->tail[1], m->tail[0], MAM_TAIL);
		memcpy(m->id[1], m->id[0], sizeof(m->id[0]));
	}
	m->n++;
	return 0;
}

static void
mam_metadata(struct imd_stanza *s, const char *owner)
{
	static const char *const names[2] = { "start", "end" };
	unsigned char	 pfx[MAM_KEY_MAX];
	struct store_txn *t;
	struct xnode	*md, *e;
	struct meta	 m;
	char		 stamp[64];
	int		 i, rc;

	memset(&m, 0, sizeof(m));
	if ((m.plen = mam_prefix(pfx, owner)) == 0 || imd_store == NULL ||
	    (t = store_begin(imd_store, 0)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	rc = store_scan(t, MAM_DB, pfx, m.plen, meta_cb, &m);
	store_abort(t);
	if (rc == -1 || (md = xnode_new("metadata", NS_MAM)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	for (i = 0; i < 2 && m.n > 0; i++) {
		if ((e = xnode_add_child(md, names[i], NS_MAM)) == NULL)
			continue;
		xmpp_timestamp(stamp, sizeof(stamp), get_be64(m.tail[i]));
		xnode_set_attr(e, "id", m.id[i]);
		xnode_set_attr(e, "timestamp", stamp);
	}
	imd_reply_result(s, md);
}

/* ---- the iq entry point ---- */

int
imd_mam_iq(struct imd_stanza *s)
{
	struct xnode	*q = xnode_first_elem(s->x);
	const char	*type = xnode_attr(s->x, "type");
	char		 owner[JID_MAX + 1];
	int		 set;

	if (q == NULL || q->ns == NULL || strcmp(q->ns, NS_MAM) != 0)
		return -1;
	if (type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return -1;
	set = strcmp(type, "set") == 0;
	/* Only the account itself reads its archive (section 4). */
	if (!jid_bare_equal(&s->from, &s->to) ||
	    jid_format_bare(&s->to, owner, sizeof(owner)) < 0) {
		imd_reply_error(s, "cancel", "forbidden");
		return 0;
	}
	if (strcmp(q->name, "query") == 0) {
		if (set)
			mam_query(s, q, owner);
		else
			mam_form(s);
	} else if (strcmp(q->name, "prefs") == 0) {
		if (set)
			prefs_set(s, q, owner);
		else
			prefs_get(s, owner);
	} else if (strcmp(q->name, "metadata") == 0 && !set)
		mam_metadata(s, owner);
	else
		imd_reply_error(s, "cancel", "feature-not-implemented");
	return 0;
}
