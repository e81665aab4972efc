/*
 * daemon.c - the skeleton every child daemon runs (see daemon.h).
 *
 * Phases: HELLO (wait for routerd's, ours is sent first) -> CONFIG (keys and
 * fds until CONFIG_END) -> drop (pre_drop, sandbox_enter, post_drop, READY)
 * -> RUN.  A frame that does not belong to the current phase means routerd
 * and this binary disagree: the daemon exits non-zero and routerd restarts
 * it with backoff.  EOF on fd 3 means routerd is gone: shut down, exit 0.
 */
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "sandbox.h"

#define DAEMON_FD	3
#define CONF_MAX_ARGS	16

struct event_base	*daemon_base;
struct link		*daemon_link;
size_t			 daemon_store_max;	/* store-max-size; 0: default */

static const struct daemon_ops	*ops;
static struct sandbox_params	 sbx;
static int			 debug_triggers;
static enum { PH_HELLO, PH_CONFIG, PH_RUN } phase = PH_HELLO;

int
daemon_conf_u64(const char *value, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-')
		return -1;
	return 0;
}

/* Keys the skeleton consumes itself; 1 if taken, -1 if malformed. */
static int
conf_own(const char *key, int argc, const char **argv)
{
	unsigned long long v;

	if (strncmp(key, "sandbox-", 8) != 0 && strcmp(key, "log-level") != 0 &&
	    strcmp(key, "debug-triggers") != 0 &&
	    strcmp(key, "max-frame-size") != 0 &&
	    strcmp(key, "store-max-size") != 0)
		return 0;
	if (argc != 1)
		return -1;
	if (strcmp(key, "sandbox-root") == 0) {
		if (strlen(argv[0]) >= sizeof(sbx.root))
			return -1;
		strcpy(sbx.root, argv[0]);
		return 1;
	}
	if (daemon_conf_u64(argv[0], &v) == -1)
		return -1;
	if (strcmp(key, "sandbox-uid") == 0)
		sbx.uid = v;
	else if (strcmp(key, "sandbox-gid") == 0)
		sbx.gid = v;
	else if (strcmp(key, "sandbox-debug") == 0)
		sbx.debug = v != 0;
	else if (strcmp(key, "sandbox-nofile") == 0)
		sbx.nofile = v;
	else if (strcmp(key, "log-level") == 0)
		log_setlevel(v);
	else if (strcmp(key, "debug-triggers") == 0)
		debug_triggers = v != 0;
	else if (strcmp(key, "max-frame-size") == 0)
		link_set_max_frame(daemon_link, v);
	else if (strcmp(key, "store-max-size") == 0)
		daemon_store_max = (size_t)v;
	else
		return -1;
	return 1;
}

static void
on_config(struct frame *f)
{
	const char	*key, *argv[CONF_MAX_ARGS];
	int		 argc = 0, r;

	if (frame_get_str(f, &key, NULL) == -1)
		fatalx("malformed CONFIG frame");
	while (f->pos < f->body_len) {
		if (argc == CONF_MAX_ARGS || frame_get_str(f, &argv[argc], NULL) == -1)
			fatalx("malformed CONFIG frame for %s", key);
		argc++;
	}
	if ((r = conf_own(key, argc, argv)) == 0)
		r = ops->configure ? ops->configure(key, argc, argv) : -1;
	if (r == -1)
		fatalx("configuration key %s not understood (routerd and %s "
		    "from different builds?)", key, ops->name);
}

static void
on_config_fd(struct frame *f)
{
	const char *name;

	if (frame_get_str(f, &name, NULL) == -1 || f->fd == -1)
		fatalx("malformed CONFIG_FD frame");
	if (ops->config_fd)
		ops->config_fd(name, f->fd);
	else
		close(f->fd);
}

/*
 * Files a data daemon created in pre_drop (as root, e.g. LMDB's data.mdb)
 * are given to the daemon's own uid, so that it owns its data and nothing
 * in its directory stays root's.
 */
static void
chown_data_dir(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 dfd;

	if (geteuid() != 0 || sbx.uid == 0 || !ops->policy->data_dir ||
	    sbx.root[0] == '\0' || (d = opendir(sbx.root)) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fchownat(dfd, de->d_name, sbx.uid, sbx.gid,
		    AT_SYMLINK_NOFOLLOW) == -1)
			log_warn("chown %s/%s", sbx.root, de->d_name);
	}
	closedir(d);
}

static void
go_ready(void)
{
	struct fout *f;

	if (ops->pre_drop)
		ops->pre_drop();
	chown_data_dir();
	sandbox_enter(ops->policy, &sbx);
	if (ops->post_drop)
		ops->post_drop();
	if ((f = fout_new(RF_READY, NULL, NULL)) != NULL)
		fout_put_u32(f, ops->caps);
	link_send(daemon_link, f);
	phase = PH_RUN;
	log_debug("ready");
}

void
daemon_flush_link(void *arg)
{
	if (daemon_link != NULL)
		link_flush_try(daemon_link);
}

/*
 * Test-only: a compromised daemon writes a header that claims a 4 GiB
 * frame straight onto its link, past link.c's own checks; routerd must
 * close the link and kill only this daemon (docs/frames.md, rule 1).
 */
static void
huge_frame(void)
{
	uint8_t	hdr[32] = { 0xff, 0xff, 0xff, 0xff, RF_STANZA & 0xff,
		    RF_STANZA >> 8 };

	link_flush_now(daemon_link);
	(void)!write(link_fd(daemon_link), hdr, sizeof(hdr));
}

/* Test-only proof that the sandbox holds (enabled by routerd for tests). */
static void
on_debug(struct frame *f)
{
	const char	*action, *arg = "";
	struct fout	*out;
	char		 res[256];
	int		 fd;

	if (!debug_triggers || frame_get_str(f, &action, NULL) == -1)
		return;
	(void)frame_get_str(f, &arg, NULL);
	if (strcmp(action, "open") == 0) {
		fd = open(arg, O_RDONLY);
		snprintf(res, sizeof(res), "open %s: %s", arg,
		    fd == -1 ? strerror(errno) : "opened");
		if (fd != -1)
			close(fd);
	} else if (strcmp(action, "hugeframe") == 0) {
		huge_frame();
		return;
	} else if (strcmp(action, "syscall") == 0) {
		/* mount(2) is in no daemon's allowlist: seccomp kills us. */
		syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
		snprintf(res, sizeof(res), "syscall survived: %s", strerror(errno));
	} else
		snprintf(res, sizeof(res), "unknown action");
	if ((out = fout_new(RF_DEBUG, NULL, NULL)) == NULL)
		return;
	out->hdr.corr = f->hdr.corr;
	fout_put_str(out, res);
	link_send(daemon_link, out);
}

static void
on_frame(struct link *l, struct frame *f, void *arg)
{
	char		name[32];
	uint32_t	inst, maxf;

	switch (phase) {
	case PH_HELLO:
		if (link_check_hello(f, name, &inst, &maxf) == -1)
			fatalx("bad HELLO from routerd");
		link_set_max_frame(l, maxf);
		phase = PH_CONFIG;
		return;
	case PH_CONFIG:
		if (f->hdr.type == RF_CONFIG)
			on_config(f);
		else if (f->hdr.type == RF_CONFIG_FD)
			on_config_fd(f);
		else if (f->hdr.type == RF_CONFIG_END)
			go_ready();
		else
			fatalx("%s frame before CONFIG_END",
			    frame_type_name(f->hdr.type));
		return;
	case PH_RUN:
		break;
	}
	switch (f->hdr.type) {
	case RF_PING:
		link_send(l, fout_new(RF_PONG, NULL, NULL));
		break;
	case RF_SHUTDOWN:
		log_debug("shutdown requested");
		if (ops->shutdown)
			ops->shutdown();
		link_flush_now(l);
		exit(0);
	case RF_DEBUG:
		on_debug(f);
		break;
	default:
		ops->dispatch(l, f);
		break;
	}
}

static void
on_close(struct link *l, const char *why, void *arg)
{
	log_debug("routerd link closed (%s): exiting", why);
	if (ops->shutdown && phase == PH_RUN)
		ops->shutdown();
	exit(0);
}

int
daemon_main(int argc, char *argv[], const struct daemon_ops *dops)
{
	ops = dops;
	log_init(ops->name, LOG_LVL_INFO);
	if (fcntl(DAEMON_FD, F_GETFD) == -1)
		fatalx("must be started by routerd (no link on fd %d)", DAEMON_FD);
	signal(SIGPIPE, SIG_IGN);
	/* routerd handles the terminal's ^C; we leave when it closes fd 3. */
	signal(SIGINT, SIG_IGN);
	if ((daemon_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_link = link_new(daemon_base, DAEMON_FD, "routerd", on_frame,
	    on_close, NULL);
	if (daemon_link == NULL)
		fatalx("cannot set up the routerd link");
	link_allow_fds(daemon_link, 1);
	link_send_hello(daemon_link, ops->name, 0);
	event_base_dispatch(daemon_base);
	return 0;
}
