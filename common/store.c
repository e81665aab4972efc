/*
 * store.c - the LMDB wrapper of store.h.
 *
 * Every daemon that keeps state opens one environment in its data
 * directory before the sandbox (the fds and the map survive the chroot)
 * and runs short transactions from its single event-loop thread.  Named
 * databases are opened lazily, the first time a transaction names them,
 * and their handles are cached by name for the life of the environment
 * (LMDB handles stay valid once the transaction that opened them
 * committed).  A name a read transaction found absent is remembered too,
 * until a write transaction of ours creates it: each environment has one
 * process, so nothing else can (imd asks for an absent blocklist twice per
 * message; LMDB's lookup is a B-tree search).  Invariants: a commit that
 * returned 0 is on disk - at once, or, in group-commit mode, by an fsync
 * started at the end of the event-loop turn that made it (one fsync for all
 * the commits of the turn, run by the kernel while the loop goes on: see
 * "Asynchronous fsync" below; a process crash loses nothing either way, the
 * map is the page cache; the daemon's `before_sync` runs just before that
 * fsync starts); at most one write
 * transaction is open at a time (LMDB would block otherwise); no function
 * here logs - callers know what the failure means and log it themselves
 * (but for a batch tied to a link, store_batch_link).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>

#include <event2/event.h>
#include <lmdb.h>

#include "link.h"
#include "log.h"
#include "store.h"

#define STORE_MAPSIZE_DEFAULT	((size_t)1 << 30)	/* 1 GiB */
#define STORE_MAXDBS_DEFAULT	16
#define STORE_DBNAME_MAX	63

struct store_db {
	char		 name[STORE_DBNAME_MAX + 1];
	MDB_dbi		 dbi;
};

struct store {
	MDB_env		*env;
	struct store_db	*dbs;
	unsigned	 ndbs;
	unsigned	 maxdbs;
	struct store_db	*absent;	/* names read transactions did not find */
	unsigned	 nabsent;
	struct event	*sync_ev;	/* group commit: fsync once per turn */
	int		 sync_pending;	/* commits since the last fsync began */
	/* asynchronous fsync (aio_ctx 0: synchronous, in the loop) */
	aio_context_t	 aio_ctx;
	int		 aio_efd;	/* completions */
	struct event	*aio_ev;
	int		 data_fd;	/* LMDB's data file */
	int		 sync_inflight;
	void		(*before_sync)(void *);	/* store_group_commit */
	void		*before_sync_arg;
	/* batch: the write transaction shared by one turn's stanzas */
	int		 batching;
	MDB_txn		*batch;		/* begun at the first use */
	unsigned	 batch_ndbs;	/* ndbs before it */
	int		 batch_child;	/* a write handle (child) is open */
	int		 batch_readers;	/* read handles on the batch itself */
	int		 batch_dirty;	/* a write handle committed into it */
};

struct store_txn {
	struct store	*st;
	MDB_txn		*txn;
	int		 write;
	int		 batched;	/* in a batch: a child, or the batch */
	/* dbs opened inside this txn become cached only if it commits */
	unsigned	 ndbs_before;
};

static int
mdb_errno(int rc)
{
	/* LMDB returns errno values or its own MDB_* codes (negative). */
	if (rc > 0)
		return rc;
	if (rc == MDB_MAP_FULL || rc == MDB_DBS_FULL || rc == MDB_TXN_FULL)
		return ENOSPC;
	return EIO;
}

struct store *
store_open(const char *dir, size_t mapsize, unsigned maxdbs)
{
	struct store	*st;
	int		 rc;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->maxdbs = maxdbs ? maxdbs : STORE_MAXDBS_DEFAULT;
	if ((st->dbs = calloc(st->maxdbs, sizeof(*st->dbs))) == NULL ||
	    (st->absent = calloc(st->maxdbs, sizeof(*st->absent))) == NULL)
		goto fail;
	if ((rc = mdb_env_create(&st->env)) != 0) {
		st->env = NULL;
		errno = mdb_errno(rc);
		goto fail;
	}
	if (mapsize == 0)
		mapsize = STORE_MAPSIZE_DEFAULT;
	if ((rc = mdb_env_set_mapsize(st->env, mapsize)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, st->maxdbs)) != 0 ||
	    (rc = mdb_env_open(st->env, dir, 0, 0600)) != 0) {
		errno = mdb_errno(rc);
		goto fail;
	}
	return st;
fail:
	rc = errno;
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st->dbs);
	free(st->absent);
	free(st);
	errno = rc;
	return NULL;
}

static void	aio_stop(struct store *);
static void	committed(struct store *);

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->batch != NULL)
		mdb_txn_abort(st->batch);	/* a turn that never ended */
	if (st->sync_ev != NULL) {
		aio_stop(st);
		if (st->sync_pending)
			store_sync(st);
		event_free(st->sync_ev);
	}
	mdb_env_close(st->env);
	free(st->dbs);
	free(st->absent);
	free(st);
}

/*
 * Batches.  Between store_batch_begin() and store_batch_end() (one read of
 * the daemon's link: every stanza of that read) all handles share one
 * LMDB write transaction, committed once at the end, before the turn's
 * output and acknowledgement leave (common/link.c): a commit per stanza
 * wrote the same B-tree pages again for each one.  A write handle is a
 * nested transaction, so store_abort() of one stanza's work discards that
 * work alone, and store_commit() merges it into the batch; a read handle
 * reads the batch itself (it sees the batch's writes).  LMDB forbids using
 * a parent while a child is open, so a read handle and a write handle
 * cannot be open together in a batch: that store_begin() fails (EDEADLK).
 */
void
store_batch_begin(struct store *st)
{
	st->batching = 1;
}

int
store_batch_end(struct store *st)
{
	int rc, dirty;

	st->batching = 0;
	if (st->batch == NULL)
		return 0;
	/* a batch that only read commits nothing (LMDB keeps its db handles)
	 * and needs no fsync */
	dirty = st->batch_dirty;
	st->batch_dirty = 0;
	rc = mdb_txn_commit(st->batch);
	st->batch = NULL;
	if (rc != 0) {
		st->ndbs = st->batch_ndbs;
		errno = mdb_errno(rc);
		return -1;
	}
	if (dirty)
		committed(st);
	return 0;
}

static int
batch_begin(struct store_txn *t)
{
	struct store	*st = t->st;
	int		 rc;

	if (st->batch_child || (t->write && st->batch_readers > 0)) {
		errno = EDEADLK;
		return -1;
	}
	if (st->batch == NULL) {
		st->batch_ndbs = st->ndbs;
		if ((rc = mdb_txn_begin(st->env, NULL, 0, &st->batch)) != 0) {
			st->batch = NULL;
			errno = mdb_errno(rc);
			return -1;
		}
	}
	t->batched = 1;
	t->ndbs_before = st->ndbs;
	if (!t->write) {
		t->txn = st->batch;
		st->batch_readers++;
		return 0;
	}
	if ((rc = mdb_txn_begin(st->env, st->batch, 0, &t->txn)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	st->batch_child = 1;
	return 0;
}

/* Ends a handle of a batch; commit says whether its work stays. */
static int
batch_end(struct store_txn *t, int commit)
{
	struct store	*st = t->st;
	int		 rc = 0;

	if (!t->write) {
		st->batch_readers--;
		return 0;
	}
	st->batch_child = 0;
	if (commit) {
		if ((rc = mdb_txn_commit(t->txn)) == 0)
			st->batch_dirty = 1;
	} else
		mdb_txn_abort(t->txn);
	if (!commit || rc != 0)
		st->ndbs = t->ndbs_before;	/* its handles are gone */
	if (rc != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

static void
link_read_begin(void *arg)
{
	store_batch_begin(arg);
}

static void
link_read_end(void *arg)
{
	/* The one place here that logs: the read's output and RF_ACK are
	 * still queued, so exiting makes routerd replay the read to the next
	 * incarnation, which is what a failed commit (I/O error, full disk)
	 * needs. */
	if (store_batch_end(arg) == -1)
		fatal("cannot commit the stanzas of one read to the store");
}

void
store_batch_link(struct store *st, struct link *l)
{
	link_set_read_hooks(l, link_read_begin, link_read_end, st);
}

struct store_txn *
store_begin(struct store *st, int write)
{
	struct store_txn	*t;
	int			 rc;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->st = st;
	t->write = write;
	if (st->batching) {
		if (batch_begin(t) == -1) {
			free(t);
			return NULL;
		}
		return t;
	}
	t->ndbs_before = st->ndbs;
	rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc != 0) {
		free(t);
		errno = mdb_errno(rc);
		return NULL;
	}
	return t;
}

/* A write transaction committed: its fsync at the end of the turn. */
static void
committed(struct store *st)
{
	if (st->sync_ev != NULL && !st->sync_pending) {
		st->sync_pending = 1;
		event_active(st->sync_ev, 0, 0);
	}
}

int
store_commit(struct store_txn *t)
{
	struct store	*st = t->st;
	unsigned	 before = t->ndbs_before;
	int		 rc;

	if (t->batched) {
		rc = batch_end(t, 1);
		free(t);
		return rc;
	}
	rc = mdb_txn_commit(t->txn);
	if (rc == 0 && t->write)
		committed(st);
	free(t);
	if (rc != 0) {
		/* Handles opened by the failed txn are invalid: forget them. */
		st->ndbs = before;
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

/*
 * Asynchronous fsync.  An fsync of the archive takes a millisecond or more
 * on this kind of disk; run in the loop, it stalled every stanza that
 * arrived meanwhile (taking it out of the loop doubled imd's message
 * rate).  The kernel's AIO interface runs IOCB_CMD_FDSYNC in its own
 * workqueue and signals an eventfd: no thread of ours (a thread would have
 * to be made before Landlock, which binds only the thread that asks) and
 * three system calls in the allowlists: io_submit, io_getevents and, at
 * exit, io_destroy.  The
 * context and the eventfd are made before the sandbox.  Where the kernel
 * or the file system cannot (io_setup or io_submit fails), the fsync runs
 * in the loop as before.  What a commit promises does not change: it is
 * in the page cache when it returns, on disk once the fsync begun after it
 * ends.
 */
static void	start_sync(struct store *);

/*
 * Collects a finished fsync without waiting: 1 when none is in flight any
 * more.  Completions are collected when the next fsync is due, not when
 * they happen: at a low message rate a wake-up per completion was one
 * more wake-up of the daemon per message.  The eventfd is watched only
 * while commits wait for the fsync in flight.
 */
static int
aio_reap(struct store *st)
{
	struct io_event		 e;
	struct timespec		 zero = { 0, 0 };
	uint64_t		 n;

	if (!st->sync_inflight)
		return 1;
	if (syscall(SYS_io_getevents, st->aio_ctx, 0, 1, &e, &zero) != 1)
		return 0;
	/* its signal, if posted yet (a late one makes one spurious wake) */
	(void)read(st->aio_efd, &n, sizeof(n));
	st->sync_inflight = 0;
	if (e.res < 0)
		store_sync(st);	/* again, in the loop */
	return 1;
}

/* The fsync that commits were waiting for ended (or a stale signal). */
static void
aio_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct store	*st = arg;
	uint64_t	 n;

	(void)read(st->aio_efd, &n, sizeof(n));
	if (!aio_reap(st)) {
		event_add(st->aio_ev, NULL);	/* still running */
		return;
	}
	if (st->sync_pending)
		start_sync(st);
}

static int
aio_start(struct store *st, struct event_base *base)
{
	if (mdb_env_get_fd(st->env, &st->data_fd) != 0 ||
	    syscall(SYS_io_setup, 1, &st->aio_ctx) == -1) {
		st->aio_ctx = 0;
		return 0;	/* synchronous fsync */
	}
	if ((st->aio_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	st->aio_ev = event_new(base, st->aio_efd, EV_READ, aio_done_cb, st);
	if (st->aio_ev == NULL)
		goto fail;
	return 0;
fail:
	if (st->aio_ev != NULL)
		event_free(st->aio_ev);
	if (st->aio_efd != -1)
		close(st->aio_efd);
	syscall(SYS_io_destroy, st->aio_ctx);
	st->aio_ctx = 0;
	return -1;
}

/* Wait for an fsync in flight, then release the context. */
static void
aio_stop(struct store *st)
{
	struct io_event e;

	if (st->aio_ctx == 0)
		return;
	if (st->sync_inflight)
		(void)syscall(SYS_io_getevents, st->aio_ctx, 1, 1, &e, NULL);
	st->sync_inflight = 0;
	event_free(st->aio_ev);
	close(st->aio_efd);
	syscall(SYS_io_destroy, st->aio_ctx);
	st->aio_ctx = 0;
}

static void
start_sync(struct store *st)
{
	struct iocb	 cb, *cbs[1] = { &cb };

	if (st->before_sync != NULL)
		st->before_sync(st->before_sync_arg);
	if (st->aio_ctx != 0) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_lio_opcode = IOCB_CMD_FDSYNC;
		cb.aio_fildes = (uint32_t)st->data_fd;
		cb.aio_flags = IOCB_FLAG_RESFD;
		cb.aio_resfd = (uint32_t)st->aio_efd;
		if (syscall(SYS_io_submit, st->aio_ctx, 1, cbs) == 1) {
			st->sync_pending = 0;
			st->sync_inflight = 1;
			return;
		}
		aio_stop(st);	/* not for this file: synchronous from now on */
	}
	store_sync(st);
}

/* End of a turn that committed: start the fsync, or leave it to the
 * completion of the one in flight (which began before these commits). */
static void
sync_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct store	*st = arg;

	if (aio_reap(st))
		start_sync(st);
	else
		event_add(st->aio_ev, NULL);
}

int
store_sync(struct store *st)
{
	int rc;

	st->sync_pending = 0;
	if ((rc = mdb_env_sync(st->env, 1)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
store_group_commit(struct store *st, struct event_base *base,
    void (*before_sync)(void *), void *arg)
{
	int rc;

	st->before_sync = before_sync;
	st->before_sync_arg = arg;

	st->aio_efd = -1;
	if ((st->sync_ev = event_new(base, -1, 0, sync_cb, st)) == NULL)
		return -1;
	if ((rc = mdb_env_set_flags(st->env, MDB_NOSYNC, 1)) != 0) {
		event_free(st->sync_ev);
		st->sync_ev = NULL;
		errno = mdb_errno(rc);
		return -1;
	}
	if (aio_start(st, base) == -1) {
		event_free(st->sync_ev);
		st->sync_ev = NULL;
		return -1;
	}
	return 0;
}

void
store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	if (t->batched) {
		batch_end(t, 0);
		free(t);
		return;
	}
	/*
	 * Ending a read txn by commit changes nothing on disk but keeps the
	 * db handles it opened (an abort would close them, and every lookup
	 * would reopen its db).  A write txn is really aborted, and LMDB
	 * closes the handles it opened: uncache them.
	 */
	if (!t->write && mdb_txn_commit(t->txn) == 0) {
		free(t);
		return;
	}
	t->st->ndbs = t->ndbs_before;
	if (t->write)
		mdb_txn_abort(t->txn);
	free(t);
}

static int
absent_find(const struct store *st, const char *name)
{
	unsigned i;

	for (i = 0; i < st->nabsent; i++)
		if (strcmp(st->absent[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * The handle for `name`, opening (and, in a write txn, creating) the
 * database on first use.  Returns 0, 1 if it does not exist yet (read
 * txn), -1 on error.
 */
static int
store_dbi(struct store_txn *t, const char *name, MDB_dbi *dbi)
{
	struct store	*st = t->st;
	unsigned	 i;
	int		 rc;

	for (i = 0; i < st->ndbs; i++) {
		if (strcmp(st->dbs[i].name, name) == 0) {
			*dbi = st->dbs[i].dbi;
			return 0;
		}
	}
	if (strlen(name) > STORE_DBNAME_MAX || st->ndbs >= st->maxdbs) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!t->write && absent_find(st, name) >= 0)
		return 1;
	rc = mdb_dbi_open(t->txn, name, t->write ? MDB_CREATE : 0, dbi);
	if (rc == MDB_NOTFOUND) {
		if (st->nabsent < st->maxdbs)
			strcpy(st->absent[st->nabsent++].name, name);
		return 1;
	}
	if (rc != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	/* created (or found) now: if this txn aborts, a read looks again */
	if ((i = (unsigned)absent_find(st, name)) != (unsigned)-1)
		st->absent[i] = st->absent[--st->nabsent];
	/* Cached now; aborting a write txn or a failed commit uncaches it
	 * again, as LMDB then closes it. */
	strcpy(st->dbs[st->ndbs].name, name);
	st->dbs[st->ndbs].dbi = *dbi;
	st->ndbs++;
	return 0;
}

int
store_get(struct store_txn *t, const char *db, const void *key, size_t klen,
    const void **val, size_t *vlen)
{
	MDB_dbi	 dbi;
	MDB_val	 k, v;
	int	 rc;

	if ((rc = store_dbi(t, db, &dbi)) != 0)
		return rc;
	if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(t->st->env))
		return 1;
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_get(t->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int
store_put(struct store_txn *t, const char *db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_dbi	 dbi;
	MDB_val	 k, v;
	int	 rc;

	if (!t->write) {
		errno = EROFS;
		return -1;
	}
	if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(t->st->env)) {
		errno = EINVAL;
		return -1;
	}
	if ((rc = store_dbi(t, db, &dbi)) != 0)
		return -1;
	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	if ((rc = mdb_put(t->txn, dbi, &k, &v, 0)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
store_del(struct store_txn *t, const char *db, const void *key, size_t klen)
{
	MDB_dbi	 dbi;
	MDB_val	 k;
	int	 rc;

	if (!t->write) {
		errno = EROFS;
		return -1;
	}
	if ((rc = store_dbi(t, db, &dbi)) != 0)
		return -1;
	if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(t->st->env))
		return 1;
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_del(t->txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
store_scan(struct store_txn *t, const char *db, const void *prefix,
    size_t plen, int (*cb)(const void *, size_t, const void *, size_t, void *),
    void *arg)
{
	MDB_dbi		 dbi;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	MDB_cursor_op	 op;
	int		 rc;

	if ((rc = store_dbi(t, db, &dbi)) != 0)
		return rc == 1 ? 0 : -1;	/* no db: nothing to visit */
	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	k.mv_data = (void *)prefix;
	k.mv_size = plen;
	/* An empty prefix starts at the first key (SET_RANGE needs a key). */
	op = plen > 0 ? MDB_SET_RANGE : MDB_FIRST;
	for (;;) {
		rc = mdb_cursor_get(cur, &k, &v, op);
		op = MDB_NEXT;
		if (rc != 0)
			break;
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}
