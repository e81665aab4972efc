/*
 * sandbox.c - c2sd's sandbox policy: no filesystem, no data directory,
 * no new sockets (listeners come from routerd), and the syscalls beyond
 * sandbox_base_syscalls that accepting clients, TCP options, OpenSSL and
 * libevent need once running.  Everything that opens files (certificates,
 * openssl.cnf) is done in pre_drop, before sandbox_enter().
 *
 * When this list changes, run the sandbox test (tests/sandbox/) with
 * sandbox-debug off: a missing syscall kills the process.
 */
#include <sys/types.h>

#include <stddef.h>

#include "sandbox.h"
#include "c2sd.h"

static const char *const c2sd_syscalls[] = {
	"accept4",		/* clients */
	"accept",
	"setsockopt",		/* TCP_NODELAY */
	"getsockname",
	"getpeername",
	"epoll_create1",	/* libevent internals after the drop */
	"epoll_pwait2",
	"timerfd_create",
	"timerfd_settime",
	"clock_getres",
	NULL
};

const struct sandbox_policy c2sd_sandbox_policy = {
	.syscalls = c2sd_syscalls,
	.writes_files = 0,
	.data_dir = 0,
	.network = 0,
};
