/*
 * sandbox.c - s2sd's sandbox policy: the syscalls it needs beyond the
 * event loop's base set, and whether it keeps a data directory.
 */
#include "s2sd.h"

static const char *const s2sd_syscalls[] = {
	NULL
};

const struct sandbox_policy s2sd_policy = {
	.syscalls = s2sd_syscalls,
	.writes_files = 0,
	.data_dir = 0,
	.network = 1,
};
