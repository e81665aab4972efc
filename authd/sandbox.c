/*
 * sandbox.c - authd's sandbox policy (applied by common/sandbox.c).
 *
 * authd runs chrooted in its store directory with no network.  Beyond the
 * event-loop base set it needs what LMDB does on an environment that is
 * already open: positioned reads and writes of data.mdb, flushing them at
 * commit (fdatasync, fsync, msync), and growing the file.  It opens no
 * file after the drop.  Keep this list in step with common/store.c.
 */
#include <stddef.h>

#include "authd.h"
#include "sandbox.h"

static const char *const authd_syscalls[] = {
	"pread64", "pwrite64", "preadv", "pwritev",	/* page I/O */
	"fdatasync", "fsync", "msync",			/* durable commit */
	"ftruncate", "fallocate",			/* file growth */
	"flock",					/* lock file */
	NULL
};

const struct sandbox_policy authd_policy = {
	.syscalls = authd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
