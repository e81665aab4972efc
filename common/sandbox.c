/*
 * sandbox.c - the privilege drop of every child daemon (STYLE.md section 7).
 *
 * Called once by daemon_main() after pre_drop() opened what the daemon
 * needs.  Steps, in this order: chroot, own gid/uid (then prove setuid(0)
 * fails), no_new_privs, Landlock, seccomp, rlimits.  Any step that fails
 * where it should work is fatal: a half-sandboxed daemon must not run.
 * Without root (a developer running the suite as themselves) chroot and
 * the uid change are skipped with a warning; the rest still applies.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <ucontext.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND()	RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND()	0
#endif

const char *const sandbox_base_syscalls[] = {
	"read", "write", "readv", "writev", "recvmsg", "sendmsg", "recvfrom",
	"sendto", "close", "epoll_wait", "epoll_pwait", "epoll_ctl", "poll",
	"ppoll", "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday",
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "exit",
	"exit_group", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction",
	"getpid", "gettid", "fcntl", "futex", "getrandom", "fstat",
	"newfstatat", "lseek", "restart_syscall", "sigaltstack", "tgkill",
	"shutdown", "getsockopt", "pipe2", "eventfd2", "dup", "sched_yield",
	NULL
};

#if defined(__SANITIZE_ADDRESS__) || defined(RAMPART_SANITIZE)
/* What the sanitizer runtimes need to report an error from inside the
 * sandbox (reading /proc/self/maps, symbolizing, printing). */
static const char *const sanitizer_syscalls[] = {
	"openat", "open", "readlink", "readlinkat", "getppid", "prctl",
	"sched_getaffinity", "getrlimit", "prlimit64", "uname", "wait4",
	"clone", "ptrace", "execve", "kill", "getdents64", "statx",
	"pread64", NULL
};
#endif

/* Returns 1 when the process is now inside the chroot. */
static int
drop_root(const struct sandbox_params *p)
{
	if (geteuid() != 0) {
		log_warnx("not started as root: no chroot, no uid change");
		return 0;
	}
	if (p->root[0] != '\0') {
		if (chroot(p->root) == -1 || chdir("/") == -1)
			fatal("chroot %s", p->root);
	}
	if (p->uid == 0)
		fatalx("refusing to run as root: no sandbox-uid configured");
	if (setgroups(1, &p->gid) == -1 ||
	    setresgid(p->gid, p->gid, p->gid) == -1 ||
	    setresuid(p->uid, p->uid, p->uid) == -1)
		fatal("cannot drop to uid %u gid %u", p->uid, p->gid);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping it");
	return p->root[0] != '\0';
}

static int
landlock_abi(void)
{
	int abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : abi;
}

static uint64_t
landlock_fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */

#ifdef LANDLOCK_ACCESS_FS_REFER
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	return r;
}

/* Allow the whole data directory (LMDB) or nothing at all. */
static void
landlock_enter(const struct sandbox_policy *pol, const struct sandbox_params *p,
    int chrooted)
{
	struct landlock_ruleset_attr	 attr;
	struct landlock_path_beneath_attr pb;
	int				 abi, rfd, dfd;
	const char			*dir;

	if ((abi = landlock_abi()) == 0) {
		log_info("Landlock not available in this kernel; skipped");
		return;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = landlock_fs_rights(abi);
	rfd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rfd == -1)
		fatal("landlock_create_ruleset");
	if (pol->data_dir) {
		dir = (chrooted || p->root[0] == '\0') ? "/" : p->root;
		if ((dfd = open(dir, O_PATH | O_CLOEXEC)) == -1)
			fatal("landlock: open %s", dir);
		memset(&pb, 0, sizeof(pb));
		pb.parent_fd = dfd;
		pb.allowed_access = attr.handled_access_fs &
		    ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		    LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
		    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_SYM);
		if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0) == -1)
			fatal("landlock_add_rule");
		close(dfd);
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == -1)
		fatal("landlock_restrict_self");
	close(rfd);
}

static void
allow_list(scmp_filter_ctx ctx, const char *const *names)
{
	int nr;

	for (; names && *names; names++) {
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			fatalx("seccomp: cannot allow %s", *names);
	}
}

/*
 * sandbox-debug: a syscall outside the allowlist raises SIGSYS instead of
 * killing; we name it on stderr and let it fail with ENOSYS, so one run
 * lists everything a policy is missing.
 */
static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char	 msg[96];
	int	 n;

	n = snprintf(msg, sizeof(msg), "sandbox-debug: syscall %d (%s) is "
	    "not in the allowlist\n", si->si_syscall,
	    seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall));
	(void)!write(STDERR_FILENO, msg, n);
#if defined(__x86_64__)
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#endif
}

static void
seccomp_enter(const struct sandbox_policy *pol, const struct sandbox_params *p)
{
	scmp_filter_ctx ctx;
	struct sigaction sa;

	if (p->debug) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSYS, &sa, NULL);
	}
	ctx = seccomp_init(p->debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		fatalx("seccomp_init failed");
	allow_list(ctx, sandbox_base_syscalls);
	allow_list(ctx, pol->syscalls);
#if defined(__SANITIZE_ADDRESS__) || defined(RAMPART_SANITIZE)
	allow_list(ctx, sanitizer_syscalls);
#endif
	if (seccomp_load(ctx) < 0)
		fatalx("seccomp_load failed");
	seccomp_release(ctx);
}

static void
set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	if (setrlimit(res, &rl) == -1)
		fatal("setrlimit %d", res);
}

static int
stderr_is_file(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

void
sandbox_enter(const struct sandbox_policy *pol, const struct sandbox_params *p)
{
	int chrooted;

	chrooted = drop_root(p);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	landlock_enter(pol, p, chrooted);
	set_limit(RLIMIT_NPROC, 0);
	/* RLIMIT_FSIZE also covers stderr when it is a log file (tests,
	 * foreground runs): then SIGXFSZ would kill us at the first line. */
	if (!pol->writes_files && !stderr_is_file())
		set_limit(RLIMIT_FSIZE, 0);
	if (p->nofile)
		set_limit(RLIMIT_NOFILE, p->nofile);
	/* Valgrind makes system calls of its own inside the process (its
	 * signal machinery, the leak report at exit) that no allowlist can
	 * foresee: a memory-checking run keeps every layer but this one.
	 * RUNNING_ON_VALGRIND is true only inside valgrind's emulator. */
	if (UNDER_VALGRIND()) {
		log_warnx("running under valgrind: no seccomp filter");
		return;
	}
	seccomp_enter(pol, p);
}
