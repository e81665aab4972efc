/*
 * mucd_store.c - persistence of rooms and the room archive in mucd's
 * LMDB environment (docs/muc.md, "Store").
 *
 *   rooms:    room JID -> <room/> element: configuration, secret,
 *             affiliations, subject (one record, rewritten on change)
 *   archive:  room JID, NUL, u64 big-endian message id -> u64 little-endian
 *             microseconds, then the message as sent (from = room/nick)
 *
 * Message ids are increasing microsecond stamps (mucd_message.c), so the
 * archive is in time order per room and an id is the XEP-0359 stanza-id
 * and the XEP-0313 result id.  Called by the rest of mucd; muc_store_load()
 * runs once in pre_drop.  Invariants: persistent rooms are written after
 * every change of configuration, affiliation or subject; a room record
 * that does not parse is skipped with a warning, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "mucd.h"
#include "store.h"

#define DB_ROOMS	"rooms"
#define DB_ARCHIVE	"archive"
#define DEL_BATCH	1024

static void
put_be64(uint8_t *b, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

/* Archive keys and values carry big-endian ids (also for mucd_mam.c). */
uint64_t
muc_get_be64(const uint8_t *b)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void
set_flag(struct xnode *x, const char *name, int v)
{
	xnode_set_attr(x, name, v ? "1" : "0");
}

static void
set_num(struct xnode *x, const char *name, unsigned long long v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	xnode_set_attr(x, name, buf);
}

int
muc_room_encode(struct muc_room *r, struct xbuf *b)
{
	struct xnode		*x, *c;
	struct muc_affent	*a;
	const struct muc_config	*cf = &r->cfg;
	char			 hex[sizeof(r->secret) * 2 + 1];

	if ((x = xnode_new("room", NS_MUC)) == NULL)
		return -1;
	xnode_set_attr(x, "jid", r->jid);
	sodium_bin2hex(hex, sizeof(hex), r->secret, sizeof(r->secret));
	xnode_set_attr(x, "key", hex);
	set_num(x, "lastid", r->last_id);
	xnode_set_attr(x, "name", cf->name);
	xnode_set_attr(x, "desc", cf->desc);
	xnode_set_attr(x, "secret", cf->secret);
	set_flag(x, "persistent", cf->persistent);
	set_flag(x, "public", cf->public);
	set_flag(x, "membersonly", cf->membersonly);
	set_flag(x, "moderated", cf->moderated);
	set_flag(x, "passwordprotected", cf->passwordprotected);
	set_flag(x, "whois", cf->whois_anyone);
	set_flag(x, "changesubject", cf->changesubject);
	set_flag(x, "allowinvites", cf->allowinvites);
	set_flag(x, "logging", cf->logging);
	set_num(x, "allowpm", cf->allowpm);
	set_num(x, "maxusers", cf->maxusers);
	set_num(x, "historylength", cf->historylength);
	if (r->subject != NULL && (c = xnode_add_child(x, "subject", NS_MUC))) {
		xnode_add_text(c, r->subject, strlen(r->subject));
		if (r->subject_from != NULL)
			xnode_set_attr(c, "from", r->subject_from);
	}
	for (a = r->affs; a != NULL; a = a->next) {
		if ((c = xnode_add_child(x, "aff", NS_MUC)) == NULL)
			break;
		xnode_set_attr(c, "jid", a->jid);
		xnode_set_attr(c, "a", muc_aff_name(a->aff));
		if (a->reason != NULL)
			xnode_set_attr(c, "reason", a->reason);
		if (a->nick != NULL)
			xnode_set_attr(c, "nick", a->nick);
	}
	xml_serialize(b, x, NULL);
	xnode_free(x);
	return b->failed ? -1 : 0;
}

static int
get_flag(const struct xnode *x, const char *name)
{
	const char	*v = xnode_attr(x, name);

	return v != NULL && strcmp(v, "1") == 0;
}

static unsigned long long
get_num(const struct xnode *x, const char *name, unsigned long long max)
{
	const char		*v = xnode_attr(x, name);
	unsigned long long	 n;

	n = v != NULL ? strtoull(v, NULL, 10) : 0;
	return n > max ? max : n;
}

static void
get_text(const struct xnode *x, const char *name, char *out)
{
	const char	*v = xnode_attr(x, name);

	snprintf(out, MUC_MAX_TEXT + 1, "%s", v != NULL ? v : "");
}

static void
decode_children(struct muc_room *r, const struct xnode *x)
{
	struct xnode	*c;
	enum muc_aff	 aff;
	const char	*from;

	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c)) {
		if (strcmp(c->name, "subject") == 0) {
			free(r->subject);
			r->subject = xnode_text(c);
			if ((from = xnode_attr(c, "from")) != NULL)
				r->subject_from = strdup(from);
		} else if (strcmp(c->name, "aff") == 0 &&
		    xnode_attr(c, "jid") != NULL &&
		    muc_aff_parse(xnode_attr(c, "a"), &aff) == 0 &&
		    muc_aff_set(r, xnode_attr(c, "jid"), aff,
		    xnode_attr(c, "reason")) == 0 && xnode_attr(c, "nick") != NULL)
			(void)muc_nick_reserve(r, xnode_attr(c, "jid"),
			    xnode_attr(c, "nick"));
	}
}

int
muc_room_decode(struct muc_room *r, const char *data, size_t len)
{
	struct xnode		*x;
	struct muc_config	*cf = &r->cfg;
	const char		*key;

	if ((x = xml_parse_element(data, len, NULL)) == NULL)
		return -1;
	key = xnode_attr(x, "key");
	if (key == NULL || sodium_hex2bin(r->secret, sizeof(r->secret), key,
	    strlen(key), NULL, NULL, NULL) != 0) {
		xnode_free(x);
		return -1;
	}
	r->last_id = get_num(x, "lastid", UINT64_MAX);
	get_text(x, "name", cf->name);
	get_text(x, "desc", cf->desc);
	get_text(x, "secret", cf->secret);
	cf->persistent = get_flag(x, "persistent");
	cf->public = get_flag(x, "public");
	cf->membersonly = get_flag(x, "membersonly");
	cf->moderated = get_flag(x, "moderated");
	cf->passwordprotected = get_flag(x, "passwordprotected");
	cf->whois_anyone = get_flag(x, "whois");
	cf->changesubject = get_flag(x, "changesubject");
	cf->allowinvites = get_flag(x, "allowinvites");
	cf->logging = get_flag(x, "logging");
	cf->allowpm = (enum muc_pm)get_num(x, "allowpm", PM_NONE);
	cf->maxusers = get_num(x, "maxusers", MUC_MAX_OCCUPANTS);
	cf->historylength = get_num(x, "historylength", MUC_MAX_HISTORY);
	decode_children(r, x);
	xnode_free(x);
	return 0;
}

int
muc_store_save(struct muc_room *r)
{
	struct store_txn	*t;
	struct xbuf		 b;
	int			 rc = -1;

	xbuf_init(&b);
	if (muc_room_encode(r, &b) == 0 &&
	    (t = store_begin(muc_store, 1)) != NULL) {
		if (store_put(t, DB_ROOMS, r->jid, strlen(r->jid), b.data,
		    b.len) == 0)
			rc = store_commit(t);
		else
			store_abort(t);
	}
	if (rc == -1)
		log_warn("cannot save room %s", r->jid);
	xbuf_free(&b);
	return rc;
}

struct keys {
	uint8_t	(*k)[JID_MAX + 10];
	size_t	 *kl;
	size_t	  n;
	uint64_t  before;	/* ids from here on stay; 0: take all */
};

static int
collect(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct keys	*ks = arg;

	if (ks->n == DEL_BATCH || kl > JID_MAX + 9)
		return 1;
	/* Keys are in id order: the first young one ends the scan. */
	if (ks->before != 0 && kl >= 8 &&
	    muc_get_be64((const uint8_t *)k + kl - 8) >= ks->before)
		return 1;
	memcpy(ks->k[ks->n], k, kl);
	ks->kl[ks->n++] = kl;
	return 0;
}

/* Delete a room's record and its archive, in batches. */
void
muc_store_forget(struct muc_room *r)
{
	struct store_txn	*t;
	struct keys		 ks;
	size_t			 plen = strlen(r->jid) + 1, i;

	if (muc_store == NULL)
		return;
	ks.k = malloc(DEL_BATCH * sizeof(*ks.k));
	ks.kl = malloc(DEL_BATCH * sizeof(*ks.kl));
	ks.before = 0;
	do {
		ks.n = 0;
		if (ks.k == NULL || ks.kl == NULL ||
		    (t = store_begin(muc_store, 1)) == NULL)
			break;
		(void)store_del(t, DB_ROOMS, r->jid, plen - 1);
		(void)store_scan(t, DB_ARCHIVE, r->jid, plen, collect, &ks);
		for (i = 0; i < ks.n; i++)
			(void)store_del(t, DB_ARCHIVE, ks.k[i], ks.kl[i]);
		if (store_commit(t) == -1) {
			log_warn("cannot delete room %s", r->jid);
			break;
		}
	} while (ks.n == DEL_BATCH);
	free(ks.k);
	free(ks.kl);
}

/* Delete one room's archived messages older than `before`, in batches. */
static void
prune_room(struct muc_room *r, struct keys *ks, uint64_t before)
{
	struct store_txn	*t;
	size_t			 i, total = 0;

	ks->before = before;
	do {
		ks->n = 0;
		if ((t = store_begin(muc_store, 1)) == NULL)
			return;
		(void)store_scan(t, DB_ARCHIVE, r->jid, strlen(r->jid) + 1,
		    collect, ks);
		for (i = 0; i < ks->n; i++)
			(void)store_del(t, DB_ARCHIVE, ks->k[i], ks->kl[i]);
		if (store_commit(t) == -1) {
			log_warn("cannot prune the archive of %s", r->jid);
			return;
		}
		total += ks->n;
	} while (ks->n == DEL_BATCH);
	if (total > 0)
		log_debug("%s: %zu archived messages past retention deleted",
		    r->jid, total);
}

/*
 * archive-retention (room-archive-retention in the config): messages
 * older than `before` (µs) leave the archive and the history ring of
 * every room, persistent or not.
 */
void
muc_archive_prune(uint64_t before)
{
	struct muc_room	*r;
	struct muc_hist	*h;
	struct keys	 ks;

	ks.k = malloc(DEL_BATCH * sizeof(*ks.k));
	ks.kl = malloc(DEL_BATCH * sizeof(*ks.kl));
	for (r = muc_rooms; r != NULL; r = r->next) {
		while (r->hist_count > 0 &&
		    (h = &r->hist[r->hist_first])->usec < before) {
			xnode_free(h->msg);
			r->hist_first = (r->hist_first + 1) % MUC_MAX_HISTORY;
			r->hist_count--;
		}
		if (ks.k != NULL && ks.kl != NULL)
			prune_room(r, &ks, before);
	}
	free(ks.k);
	free(ks.kl);
}

/* Takes nothing; returns the id, or 0 if the archive write failed. */
uint64_t
muc_archive_add(struct muc_room *r, struct xnode *msg, uint64_t id)
{
	struct store_txn	*t;
	struct xbuf		 v;
	uint8_t			 key[JID_MAX + 10], stamp[8];
	size_t			 klen = strlen(r->jid) + 1;
	int			 rc = -1;

	memcpy(key, r->jid, klen);
	put_be64(key + klen, id);
	put_be64(stamp, id);
	xbuf_init(&v);
	xbuf_add(&v, (const char *)stamp, 8);
	if (muc_serialize(&v, msg) == 0 &&
	    (t = store_begin(muc_store, 1)) != NULL) {
		if (store_put(t, DB_ARCHIVE, key, klen + 8, v.data, v.len) == 0)
			rc = store_commit(t);
		else
			store_abort(t);
	}
	xbuf_free(&v);
	if (rc == -1) {
		log_warn("cannot archive a message of %s", r->jid);
		return 0;
	}
	return id;
}

/* ---- loading ---- */

static int
load_hist(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct muc_room	*r = arg;
	struct xnode	*m;

	if (vl <= 8 || kl < 8)
		return 0;
	/* Ids keep increasing after a restart, whatever the clock does. */
	if (muc_get_be64((const uint8_t *)k + kl - 8) > r->last_id)
		r->last_id = muc_get_be64((const uint8_t *)k + kl - 8);
	if ((m = xml_parse_element((const char *)v + 8, vl - 8, NULL)) != NULL)
		muc_hist_add(r, m, muc_get_be64(v));
	return 0;
}

static int
load_room(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct muc_room	*r;
	char		 jid[JID_MAX + 1];

	if (kl > JID_MAX)
		return 0;
	memcpy(jid, k, kl);
	jid[kl] = '\0';
	if ((r = muc_room_new(jid)) == NULL)
		return 1;
	if (muc_room_decode(r, v, vl) == -1) {
		log_warnx("room %s: unreadable record skipped", jid);
		muc_rooms = r->next;
		muc_nrooms--;
		muc_room_free(r);
		*(int *)arg = -1;
	}
	return 0;
}

int
muc_store_load(void)
{
	struct store_txn	*t;
	struct muc_room		*r;
	int			 rc = 0;

	if ((t = store_begin(muc_store, 0)) == NULL)
		return -1;
	if (store_scan(t, DB_ROOMS, "", 0, load_room, &rc) == -1)
		rc = -1;
	/* History is the tail of the archive (a scan of each room's). */
	for (r = muc_rooms; r != NULL; r = r->next)
		(void)store_scan(t, DB_ARCHIVE, r->jid, strlen(r->jid) + 1,
		    load_hist, r);
	store_abort(t);
	log_info("%zu persistent rooms loaded", muc_nrooms);
	return rc;
}
