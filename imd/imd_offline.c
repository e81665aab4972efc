/*
 * imd_offline.c - offline messages (XEP-0160): kept per account, stamped
 * with a delay (XEP-0203), sent to the first resource that becomes
 * available with a non-negative priority, then deleted.
 *
 * Called by imd_deliver.c (store) and imd_presence.c (flush).
 *
 * LMDB layout (docs/imd.md): "offline"  owner \0 u64 (big-endian,
 * microseconds, strictly increasing) -> the stanza as a frame body, delay
 * included.  Big-endian keeps a prefix scan in arrival order.
 *
 * Invariants: a message is committed before imd_offline_store() returns 0
 * (the caller may then tell nobody: the message is safe); an account holds
 * at most offline-quota messages; a flush deletes only what it sent, after
 * sending it (a crash in between repeats a message, never loses one).
 *
 * A flush is paced by the link to routerd: one login may have a thousand
 * messages waiting, more than the link's hard limit.  A flush sends at most
 * FLUSH_BATCH messages and stops early when the link is over its high
 * mark; what is left stays stored and the resource is put on a short,
 * bounded list that a timer flushes again once the link has drained.
 * A resource that went away meanwhile keeps its messages for its next
 * login.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "imd.h"
#include "link.h"
#include "log.h"
#include "store.h"

#define DB_OFFLINE	"offline"
#define KEY_MAX		511
#define FLUSH_BATCH	128	/* messages per flush turn */
#define FLUSH_PENDING	256	/* resources waiting for the link */
#define FLUSH_RETRY_MS	20

static uint64_t	last_seq;

/* Resources whose flush stopped for the link, by full JID. */
static char		*pending[FLUSH_PENDING];
static size_t		 npending;
static struct event	*ev_retry;

static int
owner_key(char *key, const char *owner, uint64_t seq, int with_seq)
{
	size_t	ol = strlen(owner);
	int	i;

	if (ol + 1 + 8 > KEY_MAX)
		return -1;
	memcpy(key, owner, ol);
	key[ol] = '\0';
	if (!with_seq)
		return (int)ol + 1;
	for (i = 0; i < 8; i++)
		key[ol + 1 + i] = (char)(seq >> (56 - 8 * i));
	return (int)ol + 9;
}

static int
count_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	return ++*(size_t *)arg >= imd_conf.offline_quota;
}

/* XEP-0203: when and where the message was stored, unless a server on
 * its way already said so. */
static struct xnode *
stamped(const char *owner, struct xnode *msg, uint64_t now)
{
	struct xnode	*y, *d;
	char		 ts[32];

	if ((y = xnode_dup(msg)) == NULL)
		return NULL;
	if (xnode_child(y, "delay", NS_DELAY) != NULL)
		return y;
	if ((d = xnode_add_child(y, "delay", NS_DELAY)) == NULL) {
		xnode_free(y);
		return NULL;
	}
	xmpp_timestamp(ts, sizeof(ts), now);
	xnode_set_attr(d, "from", strchr(owner, '@') + 1);
	xnode_set_attr(d, "stamp", ts);
	return y;
}

int
imd_offline_store(const char *owner, struct xnode *msg)
{
	struct store_txn	*t;
	struct xnode		*y;
	struct xbuf		 b;
	char			 key[KEY_MAX];
	size_t			 n = 0;
	uint64_t		 now = xmpp_now_usec();
	int			 klen, plen, rc = -1;

	if (imd_conf.offline_quota == 0 || strchr(owner, '@') == NULL)
		return -1;
	last_seq = now > last_seq ? now : last_seq + 1;
	if ((plen = owner_key(key, owner, 0, 0)) == -1 ||
	    (y = stamped(owner, msg, now)) == NULL)
		return -1;
	xbuf_init(&b);
	if (imd_serialize(&b, y) == 0 &&
	    (t = store_begin(imd_store, 1)) != NULL) {
		(void)store_scan(t, DB_OFFLINE, key, plen, count_cb, &n);
		klen = owner_key(key, owner, last_seq, 1);
		if (n < imd_conf.offline_quota &&
		    store_put(t, DB_OFFLINE, key, klen, b.data, b.len) == 0)
			rc = store_commit(t);
		else
			store_abort(t);
	}
	if (rc == -1)
		log_info("offline message for %s refused (%s)", owner,
		    n >= imd_conf.offline_quota ? "quota" : "store error");
	xbuf_free(&b);
	xnode_free(y);
	return rc;
}

struct entry {
	char	*key;
	size_t	 klen;
	char	*val;
	size_t	 vlen;
};

struct batch {
	struct entry	*e;
	size_t		 n, cap;
	int		 failed;
	int		 more;	/* stored messages beyond this batch */
};

static int
batch_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct batch	*b = arg;
	struct entry	*ne, *e;
	size_t		 cap;

	if (b->n == b->cap) {
		cap = b->cap ? b->cap * 2 : 16;
		if ((ne = reallocarray(b->e, cap, sizeof(*ne))) == NULL) {
			b->failed = 1;
			return 1;
		}
		b->e = ne;
		b->cap = cap;
	}
	if (b->n == FLUSH_BATCH) {
		b->more = 1;
		return 1;
	}
	e = &b->e[b->n];
	if ((e->key = malloc(kl)) == NULL || (e->val = malloc(vl)) == NULL) {
		free(e->key);
		b->failed = 1;
		return 1;
	}
	memcpy(e->key, k, kl);
	memcpy(e->val, v, vl);
	e->klen = kl;
	e->vlen = vl;
	b->n++;
	return 0;
}

static void
batch_free(struct batch *b)
{
	size_t	i;

	for (i = 0; i < b->n; i++) {
		free(b->e[i].key);
		free(b->e[i].val);
	}
	free(b->e);
}

/* Send each stored message; returns how many were sent (a prefix). */
static size_t
batch_send(struct batch *b, struct imd_res *res)
{
	struct xnode	*x;
	const char	*from;
	size_t		 i;

	for (i = 0; i < b->n; i++) {
		if (link_over_hiwat(daemon_link)) {
			b->more = 1;
			break;
		}
		if ((x = xml_parse_element(b->e[i].val, b->e[i].vlen,
		    NULL)) == NULL)
			continue;	/* unreadable: dropped below */
		from = xnode_attr(x, "from");
		if (imd_send(from != NULL ? from : "", res->full, x) == -1) {
			xnode_free(x);
			b->more = 1;
			break;
		}
		xnode_free(x);
	}
	return i;
}

static void	retry_cb(int, short, void *);

static void
retry_arm(void)
{
	struct timeval tv = { 0, FLUSH_RETRY_MS * 1000 };

	if (ev_retry == NULL &&
	    (ev_retry = evtimer_new(daemon_base, retry_cb, NULL)) == NULL)
		return;
	if (!evtimer_pending(ev_retry, NULL))
		evtimer_add(ev_retry, &tv);
}

/* Remember `full` for another flush turn; when the list is full the
 * messages simply wait in storage for the resource's next login. */
static void
retry_later(const char *full)
{
	size_t	i;

	for (i = 0; i < npending; i++)
		if (strcmp(pending[i], full) == 0)
			goto arm;
	if (npending == FLUSH_PENDING ||
	    (pending[npending] = strdup(full)) == NULL) {
		log_warnx("offline flush of %s deferred to its next login",
		    full);
		return;
	}
	npending++;
arm:
	retry_arm();
}

static void
retry_cb(int fd, short ev, void *arg)
{
	struct imd_res	*res;
	char		*full;

	while (npending > 0 && !link_over_hiwat(daemon_link)) {
		full = pending[0];
		memmove(pending, pending + 1, --npending * sizeof(*pending));
		if ((res = imd_res_find(full)) != NULL)
			imd_offline_flush(res);
		free(full);
	}
	if (npending > 0)
		retry_arm();
}

void
imd_offline_flush(struct imd_res *res)
{
	struct store_txn	*t;
	struct batch		 b;
	char			 owner[JID_MAX + 1], key[KEY_MAX];
	size_t			 i, sent;
	int			 plen;

	memset(&b, 0, sizeof(b));
	if (imd_bare(res->full, owner, sizeof(owner)) == -1 ||
	    (plen = owner_key(key, owner, 0, 0)) == -1 ||
	    (t = store_begin(imd_store, 0)) == NULL)
		return;
	(void)store_scan(t, DB_OFFLINE, key, plen, batch_cb, &b);
	store_abort(t);
	sent = batch_send(&b, res);
	if (sent > 0 && (t = store_begin(imd_store, 1)) != NULL) {
		for (i = 0; i < sent; i++)
			(void)store_del(t, DB_OFFLINE, b.e[i].key, b.e[i].klen);
		if (store_commit(t) == -1)
			log_warn("cannot delete flushed offline messages of %s",
			    owner);
	}
	if (sent > 0)
		log_debug("%zu offline messages sent to %s", sent, res->full);
	if (b.more)
		retry_later(res->full);
	batch_free(&b);
}
