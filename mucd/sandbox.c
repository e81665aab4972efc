/*
 * sandbox.c - mucd's sandbox policy: the syscalls it needs beyond the
 * event loop's base set, and whether it keeps a data directory.
 */
#include "mucd.h"

static const char *const mucd_syscalls[] = {
	NULL
};

const struct sandbox_policy mucd_policy = {
	.syscalls = mucd_syscalls,
	.writes_files = 1,
	.data_dir = 1,
	.network = 0,
};
