/*
 * sandbox.c - pepd's sandbox policy: the syscalls it needs beyond the
 * event loop's base set, and whether it keeps a data directory.
 */
#include "pepd.h"

static const char *const pepd_syscalls[] = {
	NULL
};

const struct sandbox_policy pepd_policy = {
	.syscalls = pepd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
