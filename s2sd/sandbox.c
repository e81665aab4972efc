/*
 * sandbox.c - s2sd's sandbox policy: no filesystem, no data directory,
 * and the syscalls beyond sandbox_base_syscalls that s2sd needs once
 * running.  Everything that opens files (OpenSSL's configuration and
 * providers) is done in pre_drop, before sandbox_enter().
 *
 * s2sd accepts on the listeners routerd passed, connects out to remote
 * servers, and libunbound sends its queries from s2sd's own event loop
 * (sendto/recvfrom are in the base set).  Each addition must be checked
 * with sandbox-debug off, where a missing syscall kills the process, in
 * a sanitizer build and in one without (docs/s2s.md, "DNS and the
 * sandbox").
 */
#include "s2sd.h"

static const char *const s2sd_syscalls[] = {
	"accept4",		/* SOCK_NONBLOCK | SOCK_CLOEXEC */
	"socket",		/* streams to remote servers, DNS queries */
	"connect",
	NULL
};

const struct sandbox_policy s2sd_policy = {
	.syscalls = s2sd_syscalls,
	.writes_files = 0,
	.data_dir = 0,
	.network = 1,
};
