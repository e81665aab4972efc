/*
 * sandbox.h - the privilege drop every child goes through, in the fixed
 * order of STYLE.md section 7: chroot, own uid/gid, no_new_privs,
 * Landlock (where the kernel has it), a seccomp allowlist, rlimits.
 *
 * The policy (what a daemon needs) is static and lives in the daemon's
 * sandbox.c; the parameters (which directory, which uid) come from routerd
 * in CONFIG frames ("sandbox-root", "sandbox-uid", "sandbox-gid",
 * "sandbox-debug").
 */
#ifndef RAMPART_SANDBOX_H
#define RAMPART_SANDBOX_H

#include <sys/types.h>

struct sandbox_policy {
	const char	*const *syscalls;	/* NULL-terminated names */
	int		 writes_files;		/* LMDB: keep RLIMIT_FSIZE */
	int		 data_dir;		/* Landlock: root dir read/write */
	int		 network;		/* may create sockets (s2sd) */
};

struct sandbox_params {
	char	root[4096];	/* chroot target; "" = no chroot */
	uid_t	uid;		/* 0 = no uid change (only when not root) */
	gid_t	gid;
	int	debug;		/* seccomp logs instead of killing */
	unsigned long nofile;	/* RLIMIT_NOFILE */
};

/* Syscalls every daemon's event loop needs; policies list only extras. */
extern const char *const sandbox_base_syscalls[];

/* Never returns on failure: a half-dropped daemon must not run. */
void	sandbox_enter(const struct sandbox_policy *, const struct sandbox_params *);

#endif
