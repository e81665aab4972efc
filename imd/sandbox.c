/*
 * sandbox.c - imd's sandbox policy (applied by common/sandbox.c).
 *
 * imd runs chrooted in its store directory with no network, like authd.
 * Beyond the event-loop base set it needs what LMDB does on an environment
 * that is already open: positioned reads and writes of data.mdb, flushing
 * them at commit (fdatasync, fsync, msync), growing the file, and the lock
 * file.  Keep this list in step with common/store.c.  The compliance log
 * (imd_compliance.c) rotates its files inside the chroot after the drop:
 * openat, renameat(2) and mkdirat; Landlock and the chroot keep those to
 * the data directory.
 */
#include <stddef.h>

#include "imd.h"
#include "sandbox.h"

static const char *const imd_syscalls[] = {
	"pread64", "pwrite64", "preadv", "pwritev",	/* page I/O */
	"fdatasync", "fsync", "msync",			/* durable commit */
	"io_submit", "io_getevents", "io_destroy",	/* fsync (store.c) */
	"ftruncate", "fallocate",			/* file growth */
	"flock",					/* lock file */
	"openat", "renameat", "renameat2", "mkdirat",	/* compliance log */
	NULL
};

const struct sandbox_policy imd_policy = {
	.syscalls = imd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
