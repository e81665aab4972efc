/*
 * sandbox.c - mucd's sandbox policy (applied by common/sandbox.c).
 *
 * mucd runs chrooted in its store directory with no network, like imd.
 * Beyond the event-loop base set it needs what LMDB does on an environment
 * that is already open: positioned reads and writes of data.mdb, flushing
 * them at commit, growing the file, and the lock file.  Keep this list in
 * step with common/store.c.  The compliance logs are opened in pre_drop
 * (mucd_compliance.c); after the drop a log that reaches its size limit
 * is renamed and a new one opened in the same directory (openat,
 * renameat), which Landlock and the chroot keep inside the data
 * directory.
 */
#include <stddef.h>

#include "mucd.h"

static const char *const mucd_syscalls[] = {
	"pread64", "pwrite64", "preadv", "pwritev",	/* page I/O */
	"fdatasync", "fsync", "msync",			/* durable commit */
	"io_submit", "io_getevents", "io_destroy",	/* fsync (store.c) */
	"ftruncate", "fallocate",			/* file growth */
	"flock",					/* lock file */
	"openat", "renameat", "renameat2",		/* compliance log */
	NULL
};

const struct sandbox_policy mucd_policy = {
	.syscalls = mucd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
