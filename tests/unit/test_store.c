/*
 * test_store.c - the LMDB wrapper (common/store.c): put/get/del, commit
 * and abort, persistence across close and reopen, and the boundaries of
 * a prefix scan, batches (one write transaction around several handles)
 * and the asynchronous fsync of group commit.  Each test works in its own fresh temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>

#include "store.h"

static char dir[64];

static int
setup(void **state)
{
	strcpy(dir, "/tmp/test_store.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
put1(struct store *st, const char *db, const char *k, const char *v)
{
	struct store_txn *t;

	assert_non_null(t = store_begin(st, 1));
	assert_int_equal(store_put(t, db, k, strlen(k), v, strlen(v)), 0);
	assert_int_equal(store_commit(t), 0);
}

/* 0 and the value copied into buf, or what store_get returned. */
static int
get1(struct store *st, const char *db, const char *k, char *buf, size_t sz)
{
	struct store_txn	*t;
	const void		*v;
	size_t			 vl;
	int			 rc;

	assert_non_null(t = store_begin(st, 0));
	rc = store_get(t, db, k, strlen(k), &v, &vl);
	if (rc == 0) {
		assert_true(vl < sz);
		memcpy(buf, v, vl);
		buf[vl] = '\0';
	}
	store_abort(t);
	return rc;
}

static void
test_put_get_del(void **state)
{
	struct store		*st;
	struct store_txn	*t;
	char			 buf[64];

	assert_non_null(st = store_open(dir, 0, 0));
	assert_int_equal(get1(st, "a", "k1", buf, sizeof(buf)), 1);
	put1(st, "a", "k1", "v1");
	assert_int_equal(get1(st, "a", "k1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v1");
	/* Named databases are separate key spaces. */
	assert_int_equal(get1(st, "b", "k1", buf, sizeof(buf)), 1);
	put1(st, "a", "k1", "v2");
	assert_int_equal(get1(st, "a", "k1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v2");

	assert_non_null(t = store_begin(st, 1));
	assert_int_equal(store_del(t, "a", "k1", 2), 0);
	assert_int_equal(store_del(t, "a", "k1", 2), 1);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(get1(st, "a", "k1", buf, sizeof(buf)), 1);

	/* A read transaction refuses writes. */
	assert_non_null(t = store_begin(st, 0));
	assert_int_equal(store_put(t, "a", "x", 1, "y", 1), -1);
	store_abort(t);
	store_close(st);
}

static void
test_abort(void **state)
{
	struct store		*st;
	struct store_txn	*t;
	char			 buf[64];

	assert_non_null(st = store_open(dir, 0, 0));
	put1(st, "a", "keep", "1");
	assert_non_null(t = store_begin(st, 1));
	assert_int_equal(store_put(t, "a", "gone", 4, "2", 1), 0);
	assert_int_equal(store_del(t, "a", "keep", 4), 0);
	/* A db created inside an aborted txn must not stay cached. */
	assert_int_equal(store_put(t, "new", "k", 1, "v", 1), 0);
	store_abort(t);
	assert_int_equal(get1(st, "a", "gone", buf, sizeof(buf)), 1);
	assert_int_equal(get1(st, "a", "keep", buf, sizeof(buf)), 0);
	assert_int_equal(get1(st, "new", "k", buf, sizeof(buf)), 1);
	put1(st, "new", "k", "v");
	assert_int_equal(get1(st, "new", "k", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v");
	store_close(st);
}

/* A db a read found absent is remembered, and found once we create it,
 * whether the creating txn committed or an earlier one aborted. */
static void
test_absent_db(void **state)
{
	struct store		*st;
	struct store_txn	*t;
	char			 buf[64];

	assert_non_null(st = store_open(dir, 0, 0));
	assert_int_equal(get1(st, "later", "k", buf, sizeof(buf)), 1);
	assert_int_equal(get1(st, "later", "k", buf, sizeof(buf)), 1);
	assert_non_null(t = store_begin(st, 1));
	assert_int_equal(store_put(t, "later", "k", 1, "v", 1), 0);
	store_abort(t);
	assert_int_equal(get1(st, "later", "k", buf, sizeof(buf)), 1);
	put1(st, "later", "k", "v1");
	assert_int_equal(get1(st, "later", "k", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v1");
	store_close(st);
}

static void
test_persist(void **state)
{
	struct store	*st;
	char		 buf[64];

	assert_non_null(st = store_open(dir, 1 << 20, 4));
	put1(st, "acct", "alice@example.org", "secret-keys");
	store_close(st);
	assert_non_null(st = store_open(dir, 1 << 20, 4));
	assert_int_equal(get1(st, "acct", "alice@example.org", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "secret-keys");
	/* The handle cached by that read txn serves a write txn too. */
	put1(st, "acct", "bob@example.org", "more");
	assert_int_equal(get1(st, "acct", "bob@example.org", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "more");
	store_close(st);
	assert_non_null(st = store_open(dir, 1 << 20, 4));
	assert_int_equal(get1(st, "acct", "bob@example.org", buf, sizeof(buf)),
	    0);
	store_close(st);
}

struct seen {
	char	keys[8][16];
	int	n;
	int	stop_after;
};

static int
collect(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct seen *s = arg;

	assert_true(kl < sizeof(s->keys[0]));
	assert_true(s->n < 8);
	memcpy(s->keys[s->n], k, kl);
	s->keys[s->n][kl] = '\0';
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void
test_scan(void **state)
{
	struct store		*st;
	struct store_txn	*t;
	struct seen		 s;
	static const char	*keys[] = { "a", "ab", "abc", "abd", "ac", "b" };
	size_t			 i;

	assert_non_null(st = store_open(dir, 0, 0));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put1(st, "s", keys[i], "v");

	assert_non_null(t = store_begin(st, 0));
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(t, "s", "ab", 2, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "ab");
	assert_string_equal(s.keys[1], "abc");
	assert_string_equal(s.keys[2], "abd");

	/* Prefix past the last key, and one between keys matching none. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(t, "s", "c", 1, collect, &s), 0);
	assert_int_equal(s.n, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(t, "s", "aa", 2, collect, &s), 0);
	assert_int_equal(s.n, 0);

	/* Empty prefix: everything, in order; the callback may stop it. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(t, "s", "", 0, collect, &s), 0);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.keys[5], "b");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(store_scan(t, "s", "", 0, collect, &s), 0);
	assert_int_equal(s.n, 2);

	/* A database never written: nothing to visit, no error. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(t, "none", "", 0, collect, &s), 0);
	assert_int_equal(s.n, 0);
	store_abort(t);
	store_close(st);
}

static void
test_bad_dir(void **state)
{
	assert_null(store_open("/nonexistent/rampart/store", 0, 0));
}

/*
 * A batch: a write handle's work is seen by the reads of the batch and
 * kept by its end; an aborted one's is not, and a db it created is not
 * cached; a read and a write handle cannot be open at once.
 */
static void
test_batch(void **state)
{
	struct store		*st;
	struct store_txn	*t, *r;
	char			 buf[64];

	assert_non_null(st = store_open(dir, 0, 0));
	put1(st, "a", "old", "0");
	store_batch_begin(st);
	put1(st, "a", "one", "1");
	assert_int_equal(get1(st, "a", "one", buf, sizeof(buf)), 0);
	assert_non_null(t = store_begin(st, 1));
	assert_int_equal(store_put(t, "a", "two", 3, "2", 1), 0);
	assert_int_equal(store_del(t, "a", "old", 3), 0);
	assert_int_equal(store_put(t, "fresh", "k", 1, "v", 1), 0);
	/* LMDB: no use of the batch while a child is open */
	assert_null(store_begin(st, 0));
	assert_int_equal(errno, EDEADLK);
	store_abort(t);
	assert_non_null(r = store_begin(st, 0));
	assert_null(store_begin(st, 1));
	store_abort(r);
	put1(st, "a", "three", "3");
	assert_int_equal(store_batch_end(st), 0);
	assert_int_equal(get1(st, "a", "one", buf, sizeof(buf)), 0);
	assert_int_equal(get1(st, "a", "three", buf, sizeof(buf)), 0);
	assert_int_equal(get1(st, "a", "old", buf, sizeof(buf)), 0);
	assert_int_equal(get1(st, "a", "two", buf, sizeof(buf)), 1);
	assert_int_equal(get1(st, "fresh", "k", buf, sizeof(buf)), 1);
	put1(st, "fresh", "k", "v");
	assert_int_equal(get1(st, "fresh", "k", buf, sizeof(buf)), 0);
	/* an empty batch commits nothing and fails nothing */
	store_batch_begin(st);
	assert_int_equal(store_batch_end(st), 0);
	store_close(st);
	/* what the batch kept is on disk */
	assert_non_null(st = store_open(dir, 0, 0));
	assert_int_equal(get1(st, "a", "three", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3");
	store_close(st);
}

static void
before_sync(void *arg)
{
	(*(int *)arg)++;
}

/* Run the loop's ready events for 100 ms (AIO completions arrive late). */
static void
settle(struct event_base *base)
{
	int i;

	for (i = 0; i < 20; i++) {
		usleep(5000);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
}

/* Group commit: a turn's commits get one fsync, begun at the end of the
 * turn and run by the kernel; commits during it get the next one. */
static void
test_group_commit(void **state)
{
	struct event_base	*base;
	struct store		*st;
	char			 buf[64];
	int			 syncs = 0, i;

	assert_non_null(base = event_base_new());
	assert_non_null(st = store_open(dir, 0, 0));
	assert_int_equal(store_group_commit(st, base, before_sync, &syncs), 0);
	put1(st, "a", "k1", "1");
	put1(st, "a", "k2", "2");
	assert_int_equal(syncs, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(syncs, 1);
	put1(st, "a", "k3", "3");	/* while that fsync may still run */
	for (i = 0; i < 200 && syncs < 2; i++) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	assert_int_equal(syncs, 2);
	assert_int_equal(get1(st, "a", "k3", buf, sizeof(buf)), 0);
	/* a batch that only read needs no fsync; one that wrote does */
	settle(base);		/* the second fsync has ended */
	/* nothing is watched between fsyncs: a completion wakes nobody, the
	 * next fsync collects it (1: no event pending) */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	store_batch_begin(st);
	assert_int_equal(get1(st, "a", "k3", buf, sizeof(buf)), 0);
	assert_int_equal(store_batch_end(st), 0);
	settle(base);
	assert_int_equal(syncs, 2);
	store_batch_begin(st);
	put1(st, "a", "k4", "4");
	assert_int_equal(store_batch_end(st), 0);
	for (i = 0; i < 200 && syncs < 3; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(syncs, 3);
	store_close(st);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test(test_bad_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
