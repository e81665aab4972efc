/*
 * sandbox.c - imd's sandbox policy: the syscalls it needs beyond the
 * event loop's base set, and whether it keeps a data directory.
 */
#include "imd.h"

static const char *const imd_syscalls[] = {
	NULL
};

const struct sandbox_policy imd_policy = {
	.syscalls = imd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
