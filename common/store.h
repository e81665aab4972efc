/*
 * store.h - a thin LMDB wrapper: one environment per daemon, named
 * databases, short transactions.  A write transaction is durable when
 * store_commit() returns 0 (LMDB syncs on commit), or with group commit
 * before the loop turn ends, so a daemon acknowledges a stanza only after
 * its commit succeeded.
 */
#ifndef RAMPART_STORE_H
#define RAMPART_STORE_H

#include <stddef.h>

struct event_base;
struct store;
struct store_txn;

/* Open (creating) the environment in directory `dir`. */
struct store *store_open(const char *dir, size_t mapsize, unsigned maxdbs);
void	store_close(struct store *);
/* Group commit: commits no longer fsync each; one fsync begins at the end
 * of the event-loop turn that committed and runs in the kernel while the
 * loop goes on (Linux AIO; in the loop where that is not available).  For
 * daemons that commit per stanza (archives); a crash of the process loses
 * nothing, a power loss at most the last turns.  `before_sync` (may be
 * NULL) runs just before each fsync begins: daemons write their link to
 * routerd out there. */
int	store_group_commit(struct store *, struct event_base *,
	    void (*before_sync)(void *), void *arg);
int	store_sync(struct store *);
/* Batch: the handles begun until store_batch_end() share one write
 * transaction, committed there (-1: nothing of the batch was kept).  A
 * read handle and a write handle may not be open at once in a batch. */
void	store_batch_begin(struct store *);
int	store_batch_end(struct store *);
/* A batch around each read of the link (link_set_read_hooks): the frames of
 * one read commit together, before their output and RF_ACK leave; a failed
 * commit ends the process, and routerd replays the read. */
struct link;
void	store_batch_link(struct store *, struct link *);

struct store_txn *store_begin(struct store *, int write);
int	store_commit(struct store_txn *);	/* 0, or -1 (the txn is gone) */
void	store_abort(struct store_txn *);

/* 0 found, 1 not found, -1 error.  `val` points into the map and is valid
 * until the transaction ends. */
int	store_get(struct store_txn *, const char *db, const void *key, size_t klen,
	    const void **val, size_t *vlen);
int	store_put(struct store_txn *, const char *db, const void *key, size_t klen,
	    const void *val, size_t vlen);
/* 0 deleted, 1 not found, -1 error. */
int	store_del(struct store_txn *, const char *db, const void *key, size_t klen);
/* Visit keys >= prefix that start with it, in order; stop when cb returns
 * non-zero.  Returns 0 or -1. */
int	store_scan(struct store_txn *, const char *db, const void *prefix,
	    size_t plen, int (*cb)(const void *k, size_t kl, const void *v,
	    size_t vl, void *arg), void *arg);

#endif
