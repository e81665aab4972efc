/*
 * sandbox.c - pepd's sandbox policy (applied by common/sandbox.c).
 *
 * pepd runs chrooted in its store directory with no network, like imd
 * and mucd.
 * Beyond the event-loop base set it needs what LMDB does on an environment
 * that is already open: positioned reads and writes of data.mdb, flushing
 * them at commit, growing the file, and the lock file.  Keep this list in
 * step with common/store.c.
 */
#include <stddef.h>

#include "pepd.h"

static const char *const pepd_syscalls[] = {
	"pread64", "pwrite64", "preadv", "pwritev",	/* page I/O */
	"fdatasync", "fsync", "msync",			/* durable commit */
	"io_submit", "io_getevents", "io_destroy",	/* fsync (store.c) */
	"ftruncate", "fallocate",			/* file growth */
	"flock",					/* lock file */
	NULL
};

const struct sandbox_policy pepd_policy = {
	.syscalls = pepd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
