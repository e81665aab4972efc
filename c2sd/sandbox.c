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

/* Verified by running every flow of docs/c2sd.md ("Testing") with the
 * default kill action: nothing else is needed after the drop (libevent's
 * epoll set and OpenSSL's state are created before it). */
static const char *const c2sd_syscalls[] = {
	"accept4",		/* clients, SOCK_NONBLOCK | SOCK_CLOEXEC */
	"setsockopt",		/* TCP_NODELAY on each client */
	NULL
};

const struct sandbox_policy c2sd_sandbox_policy = {
	.syscalls = c2sd_syscalls,
	.writes_files = 0,
	.data_dir = 0,
	.network = 0,
};
