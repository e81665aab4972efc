/*
 * supervise.c - starting, configuring, watching and restarting the
 * children.
 *
 * Each child is exec'd with one end of a fresh socketpair on fd 3 and no
 * other descriptor.  routerd sends HELLO, the child's CONFIG (only the keys
 * that daemon needs, plus its listeners as fds) and CONFIG_END; the child
 * sandboxes itself and answers READY, and only then is anything routed to
 * it.  A child that exits is respawned: at once if it had been up for a
 * while (a crash under load), with exponential backoff (250 ms doubling to
 * 60 s) if it keeps dying young, so a broken binary cannot spin.
 *
 * When a child dies, whatever it wrote before dying is read and routed
 * first (link_drain: acknowledgements, stanzas its clients were told were
 * received), then the frames it had not acknowledged go to its hold queue
 * (holdq.c) and are sent again, before anything newer, once it is READY.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "link.h"
#include "log.h"
#include "routerd.h"
#include "version.h"

#define BACKOFF_FIRST_MS	250
#define BACKOFF_MAX_MS		60000
#define STABLE_SECONDS		10	/* up this long: restart at once */
#define STOP_GRACE_S		3	/* after RF_SHUTDOWN, then SIGKILL */
#define WRAPPED_GRACE_S		60	/* the same under a memory checker */
#define WRAPPER_MAX_WORDS	32

static void	child_frame(struct link *, struct frame *, void *);
static void	child_closed(struct link *, const char *, void *);
static void	spawn(struct child *);

static int
elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)(now.tv_sec - since->tv_sec);
}

/* Where the daemon binaries are: beside routerd in a build tree
 * (build/routerd/routerd -> build/c2sd/c2sd), else the libexec dir. */
static int
child_path(const char *name, char *out, size_t len)
{
	char	 self[PATH_MAX], *slash;
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		if ((size_t)snprintf(out, len, "%s/../%s/%s", self, name,
		    name) < len && access(out, X_OK) == 0)
			return 0;
		if ((size_t)snprintf(out, len, "%s/%s", self, name) < len &&
		    access(out, X_OK) == 0)
			return 0;
	}
	snprintf(out, len, "%s/%s", RAMPART_LIBEXECDIR, name);
	return access(out, X_OK);
}

static int
resolve_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	char		*end;
	unsigned long	 v;

	if ((pw = getpwnam(user)) != NULL) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		return 0;
	}
	v = strtoul(user, &end, 10);
	if (*user == '\0' || *end != '\0' || v == 0 || v > 0x7fffffff)
		return -1;
	*uid = v;
	*gid = v;
	return 0;
}

static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return -1;
	}
	if (geteuid() == 0 && (chown(path, uid, gid) == -1 ||
	    chmod(path, mode) == -1)) {
		log_warn("chown/chmod %s", path);
		return -1;
	}
	return 0;
}

static int
data_daemon(enum daemon_id d)
{
	return d == D_AUTHD || d == D_IMD || d == D_PEPD || d == D_MUCD;
}

/* The directory a child is chrooted to; "" if the path does not fit. */
static void
child_root(const struct conf *c, enum daemon_id d, char *out, size_t len)
{
	int n;

	if (data_daemon(d))
		n = snprintf(out, len, "%s/%s", c->data_dir, daemon_names[d]);
	else
		n = snprintf(out, len, "%s/empty", c->data_dir);
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';
}

/* Create the data directories and resolve users; -1 on failure. */
int
supervise_prepare_dirs(struct conf *c)
{
	char	path[PATH_MAX];
	int	d;
	struct child *ch;

	if (make_dir(c->data_dir, 0755, 0, 0) == -1)
		return -1;
	for (d = 0; d < D_COUNT; d++) {
		ch = &rd.children[d];
		if (!c->daemons[d].enabled)
			continue;
		if (geteuid() == 0) {
			if (resolve_user(c->daemons[d].user, &ch->uid, &ch->gid) == -1) {
				log_warnx("daemon %s: unknown user \"%s\" (create "
				    "it, or give a numeric uid)", daemon_names[d],
				    c->daemons[d].user);
				return -1;
			}
		} else {
			ch->uid = getuid();
			ch->gid = getgid();
		}
		child_root(c, d, path, sizeof(path));
		if (path[0] == '\0') {
			log_warnx("data-dir too long");
			return -1;
		}
		if (data_daemon(d)) {
			if (make_dir(path, 0700, ch->uid, ch->gid) == -1)
				return -1;
		} else if (make_dir(path, 0755, 0, 0) == -1)
			return -1;
	}
	return 0;
}

void
supervise_init(void)
{
	int d;

	for (d = 0; d < D_COUNT; d++) {
		rd.children[d].id = d;
		rd.children[d].name = daemon_names[d];
		TAILQ_INIT(&rd.children[d].sessions);
	}
}

struct child *
child_by_origin(uint16_t origin)
{
	if (origin < ORIGIN_CHILD(0) || origin > ORIGIN_CHILD(D_COUNT - 1))
		return NULL;
	return &rd.children[origin - 1];
}

struct child *
child_by_name(const char *name)
{
	int d;

	for (d = 0; d < D_COUNT; d++)
		if (strcmp(daemon_names[d], name) == 0)
			return &rd.children[d];
	return NULL;
}

int
supervise_all_ready(void)
{
	int d;

	for (d = 0; d < D_COUNT; d++)
		if (rd.conf->daemons[d].enabled && !rd.children[d].ready)
			return 0;
	return 1;
}

static void
on_respawn(evutil_socket_t fd, short ev, void *arg)
{
	spawn(arg);
}

static void
schedule_respawn(struct child *ch)
{
	struct timeval	tv;
	unsigned	ms;

	if (rd.shutting_down || !rd.conf->daemons[ch->id].enabled)
		return;
	if (ch->restart_now ||
	    (ch->ever_ready && elapsed_s(&ch->started) >= STABLE_SECONDS)) {
		ch->backoff_ms = 0;
		ms = 0;
	} else {
		ch->backoff_ms = ch->backoff_ms ? ch->backoff_ms * 2 : BACKOFF_FIRST_MS;
		if (ch->backoff_ms > BACKOFF_MAX_MS)
			ch->backoff_ms = BACKOFF_MAX_MS;
		ms = ch->backoff_ms;
		if (!ch->ever_ready)
			log_warnx("%s died before it was ready; next start in "
			    "%u ms", ch->name, ms);
	}
	ch->restart_now = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (ch->respawn_ev == NULL)
		ch->respawn_ev = evtimer_new(rd.base, on_respawn, ch);
	evtimer_add(ch->respawn_ev, &tv);
}

/* The child's process is gone (reaped) or its link broke. */
static void
child_down(struct child *ch)
{
	struct link *l = ch->link;

	ch->ready = 0;
	ch->link = NULL;
	route_child_gone(ch);
	if (l) {
		holdq_child_down(ch, l);
		link_free(l);
	}
	if (ch->pid == 0)
		schedule_respawn(ch);
}

static void
on_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	struct child	*ch;
	pid_t		 pid;
	int		 st, d, had_link;
	char		 how[160];

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (d = 0, ch = NULL; d < D_COUNT; d++)
			if (rd.children[d].pid == pid)
				ch = &rd.children[d];
		if (ch == NULL)
			continue;
		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "%s (pid %d) killed by signal "
			    "%d%s", ch->name, pid, WTERMSIG(st),
			    WTERMSIG(st) == SIGSYS ? " (seccomp: a syscall outside "
			    "its allowlist)" : "");
		else
			snprintf(how, sizeof(how), "%s (pid %d) exited with "
			    "status %d", ch->name, pid, WEXITSTATUS(st));
		if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0 || !ch->stopping)
			log_warnx("%s", how);
		control_child_died(ch, how);
		ch->pid = 0;
		ch->stopping = 0;
		if (ch->stop_ev)
			evtimer_del(ch->stop_ev);
		if (ch->restarts < UINT_MAX)
			ch->restarts++;
		/* Route what it wrote before it died; a broken frame there
		 * closes the link, and child_closed then runs child_down. */
		if ((had_link = ch->link != NULL)) {
			ch->draining = 1;
			link_drain(ch->link);
			ch->draining = 0;
		}
		if (!had_link || ch->link != NULL)
			child_down(ch);
	}
	if (rd.shutting_down) {
		for (d = 0; d < D_COUNT; d++)
			if (rd.children[d].pid != 0)
				return;
		event_base_loopexit(rd.base, NULL);
	}
}

static void
send_kv(struct link *l, const char *key, const char *v1, const char *v2)
{
	struct fout *f = fout_new(RF_CONFIG, NULL, NULL);

	if (f == NULL)
		return;
	fout_put_str(f, key);
	fout_put_str(f, v1);
	if (v2)
		fout_put_str(f, v2);
	link_send(l, f);
}

static void
send_num(struct link *l, const char *key, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	send_kv(l, key, buf, NULL);
}

/* Read a certificate or key file for c2sd; keys must be private. */
static char *
read_pem(const char *path, int secret)
{
	struct stat	 st;
	char		*buf;
	int		 fd;
	ssize_t		 n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || st.st_size > 1024 * 1024 ||
	    (secret && (st.st_mode & 077))) {
		log_warnx("%s: %s", path, secret && (st.st_mode & 077) ?
		    "key file readable by group or others (chmod 600)" :
		    "not a usable file");
		close(fd);
		return NULL;
	}
	if ((buf = calloc(1, st.st_size + 1)) == NULL ||
	    (n = read(fd, buf, st.st_size)) != st.st_size) {
		log_warnx("%s: short read", path);
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	return buf;
}

static void
send_hosts(struct child *ch)
{
	struct conf_host *h;
	char *cert, *key;

	TAILQ_FOREACH(h, &rd.conf->hosts, entry) {
		send_kv(ch->link, "host", h->name,
		    h->registration ? "registration" : NULL);
		if ((ch->id == D_IMD || ch->id == D_MUCD) && h->compliance_log)
			send_kv(ch->link, "compliance-log", h->name, NULL);
		if (ch->id != D_C2SD && ch->id != D_S2SD)
			continue;
		cert = read_pem(h->certificate, 0);
		key = read_pem(h->key, 1);
		if (cert && key) {
			send_kv(ch->link, "tls-cert", h->name, cert);
			send_kv(ch->link, "tls-key", h->name, key);
		}
		free(cert);
		if (key) {
			explicit_bzero(key, strlen(key));
			free(key);
		}
	}
}

/* imd learns the shared groups, one member per CONFIG frame. */
static void
send_groups(struct child *ch)
{
	struct conf_group	*g;
	size_t			 i;

	if (ch->id != D_IMD)
		return;
	TAILQ_FOREACH(g, &rd.conf->groups, entry)
		for (i = 0; i < g->nmembers; i++)
			send_kv(ch->link, "group-member", g->name, g->members[i]);
}

/* imd learns whether pepd serves PEP, for an account's disco#info
 * (XEP-0163: identity pubsub/pep and pepd's features). */
static void
send_services(struct child *ch)
{
	if (ch->id == D_IMD)
		send_num(ch->link, "pep", rd.conf->daemons[D_PEPD].enabled);
}

/* s2sd learns the components and their secrets (XEP-0114), the dialback
 * secret (XEP-0185) and the extra trust anchors for server certificates. */
static void
send_components(struct child *ch)
{
	struct conf_component *cp;

	char *ca;

	if (ch->id != D_S2SD)
		return;
	TAILQ_FOREACH(cp, &rd.conf->components, entry)
		send_kv(ch->link, "component", cp->domain, cp->secret);
	if (rd.conf->dialback_secret[0] != '\0')
		send_kv(ch->link, "dialback-secret", rd.conf->dialback_secret,
		    NULL);
	/* s2sd has no filesystem: it gets the CA bundle's text. */
	if (rd.conf->s2s_ca_file[0] != '\0' &&
	    (ca = read_pem(rd.conf->s2s_ca_file, 0)) != NULL) {
		send_kv(ch->link, "s2s-ca-file", ca, NULL);
		free(ca);
	}
}

static void
send_listeners(struct child *ch)
{
	struct fout	*f;
	int		 i, fd;
	enum listen_kind k;

	for (i = 0; i < rd.nlisten; i++) {
		k = rd.listens[i].kind;
		if ((ch->id == D_C2SD) != (k <= L_HTTPS) ||
		    (ch->id != D_C2SD && ch->id != D_S2SD))
			continue;
		if ((fd = dup(rd.listen_fds[i])) == -1 ||
		    (f = fout_new(RF_CONFIG_FD, NULL, NULL)) == NULL) {
			log_warn("passing listener to %s", ch->name);
			if (fd != -1)
				close(fd);
			continue;
		}
		fout_put_str(f, listen_kind_names[k]);
		fout_set_fd(f, fd);
		link_send(ch->link, f);
	}
}

static void
send_config(struct child *ch)
{
	char	path[PATH_MAX];
	size_t	i;

	link_send_hello(ch->link, "routerd", 0);
	child_root(rd.conf, ch->id, path, sizeof(path));
	send_kv(ch->link, "sandbox-root", path, NULL);
	if (data_daemon(ch->id))
		send_kv(ch->link, "store-dir", path, NULL);
	send_num(ch->link, "sandbox-uid", geteuid() == 0 ? ch->uid : 0);
	send_num(ch->link, "sandbox-gid", geteuid() == 0 ? ch->gid : 0);
	send_num(ch->link, "sandbox-debug", rd.conf->sandbox_debug);
	send_num(ch->link, "log-level", rd.conf->log_level);
	if (rd.debug_triggers)
		send_num(ch->link, "debug-triggers", 1);
	for (i = 0; i < conf_noptions; i++) {
		if (!(conf_options[i].daemons & DMASK(ch->id)))
			continue;
		if (conf_options[i].type == OPT_ENUM ||
		    conf_options[i].type == OPT_STRING)
			send_kv(ch->link, conf_options[i].name,
			    conf_opt_value(rd.conf, i), NULL);
		else
			send_num(ch->link, conf_options[i].name,
			    conf_opt_number(rd.conf, i));
	}
	send_hosts(ch);
	send_groups(ch);
	send_services(ch);
	send_components(ch);
	send_listeners(ch);
	link_send(ch->link, fout_new(RF_CONFIG_END, NULL, NULL));
}

/*
 * Exec the daemon, through RAMPART_CHILD_WRAPPER when it is set: a
 * developer's memory-checking run (tests/run valgrind) names a command
 * such as "valgrind --leak-check=full --log-file=DIR/%p.log", split on
 * spaces, with the daemon's path appended.  Only whoever starts routerd
 * (root) sets its environment, so this gives nobody a new power.
 */
static void
exec_child(const char *path, const char *name)
{
	char	*argv[WRAPPER_MAX_WORDS + 2], *words, *w;
	int	 n = 0;

	if (rd.child_wrapper == NULL || (words = strdup(rd.child_wrapper)) ==
	    NULL) {
		execl(path, name, (char *)NULL);
		return;
	}
	for (w = strtok(words, " "); w != NULL && n < WRAPPER_MAX_WORDS;
	    w = strtok(NULL, " "))
		argv[n++] = w;
	argv[n++] = (char *)path;
	argv[n] = NULL;
	execvp(argv[0], argv);
}

static void
spawn(struct child *ch)
{
	char	path[PATH_MAX];
	int	sp[2];
	pid_t	pid;

	if (rd.shutting_down || ch->pid != 0)
		return;
	if (child_path(ch->name, path, sizeof(path)) == -1) {
		log_warnx("%s: binary not found (%s)", ch->name, path);
		schedule_respawn(ch);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair for %s", ch->name);
		schedule_respawn(ch);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork %s", ch->name);
		close(sp[0]);
		close(sp[1]);
		schedule_respawn(ch);
		return;
	}
	if (pid == 0) {
		/* Child: fd 3 is the link, nothing else is inherited. */
		if (dup2(sp[1], 3) == -1)
			_exit(127);
		close_range(4, ~0U, 0);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		exec_child(path, ch->name);
		_exit(127);
	}
	close(sp[1]);
	ch->pid = pid;
	ch->ready = 0;
	ch->ever_ready = 0;
	ch->pong_due = 0;
	clock_gettime(CLOCK_MONOTONIC, &ch->started);
	ch->link = link_new(rd.base, sp[0], ch->name, child_frame,
	    child_closed, ch);
	if (ch->link == NULL)
		fatalx("link for %s", ch->name);
	link_set_id(ch->link, ORIGIN_CHILD(ch->id));
	link_set_max_frame(ch->link, rd.max_frame);
	send_config(ch);
	log_info("started %s (pid %d)", ch->name, pid);
}

void
supervise_start_all(void)
{
	static struct event *sigchld;
	int d;

	if (sigchld == NULL) {
		sigchld = evsignal_new(rd.base, SIGCHLD, on_sigchld, NULL);
		evsignal_add(sigchld, NULL);
	}
	for (d = 0; d < D_COUNT; d++)
		if (rd.conf->daemons[d].enabled)
			spawn(&rd.children[d]);
}

static void
child_ready(struct child *ch)
{
	char status[128];

	ch->ready = 1;
	ch->ever_ready = 1;
	log_info("%s ready", ch->name);
	/* It says how far it got (RF_ACK): keep what it has not processed. */
	link_set_retain(ch->link, (ch->caps & RCAP_ACK) != 0);
	if (ch->id == D_IMD)
		route_replay_sessions();
	if (ch->id == D_PEPD && (ch->caps & RCAP_PEP))
		route_pep_resync();
	if (ch->id == D_C2SD)
		route_sm_hand_over(ch);
	holdq_release(ch);
	if (!rd.all_ready_once && supervise_all_ready()) {
		rd.all_ready_once = 1;
		snprintf(status, sizeof(status),
		    "READY=1\nSTATUS=all %d daemons running", D_COUNT);
		notify_send(status);
		log_info("all daemons ready");
	}
}

static void
child_frame(struct link *l, struct frame *f, void *arg)
{
	struct child *ch = arg;
	char name[32];
	uint32_t inst, maxf;
	uint64_t ack;

	if (f->fd != -1) {
		/* Children never pass fds up. */
		close(f->fd);
		f->fd = -1;
	}
	switch (f->hdr.type) {
	case RF_HELLO:
		if (link_check_hello(f, name, &inst, &maxf) == -1 ||
		    strcmp(name, ch->name) != 0) {
			log_warnx("%s: bad HELLO; stopping it", ch->name);
			supervise_restart(ch);
		}
		return;
	case RF_READY:
		if (frame_get_u32(f, &ch->caps) == -1)
			ch->caps = 0;
		child_ready(ch);
		return;
	case RF_PONG:
		ch->pong_due = 0;
		return;
	case RF_ACK:
		if (frame_get_u64(f, &ack) == 0 && frame_get_end(f) == 0)
			link_ack(l, ack);
		return;
	case RF_DEBUG:
		control_debug_reply(f);
		return;
	}
	if (!ch->ready) {
		log_warnx("%s sent %s before READY", ch->name,
		    frame_type_name(f->hdr.type));
		return;
	}
	/* authd's answers name the asking link in origin (docs/auth.md);
	 * every other frame is stamped with the link it came from. */
	if (!(ch->id == D_AUTHD && (f->hdr.type == RF_SASL_CHALLENGE ||
	    f->hdr.type == RF_SASL_SUCCESS || f->hdr.type == RF_SASL_FAILURE ||
	    f->hdr.type == RF_ACCT_RESULT)))
		f->hdr.origin = ORIGIN_CHILD(ch->id);
	route_frame(ch, f);
}

static void
child_closed(struct link *l, const char *why, void *arg)
{
	struct child *ch = arg;

	/* The link is freed by link.c after this returns.  While draining,
	 * the process is gone already (on_sigchld). */
	if (ch->pid != 0 && !ch->draining) {
		/* Protocol violation or a closed socket: make sure it dies. */
		if (!ch->stopping)
			log_warnx("%s link closed (%s); killing it", ch->name, why);
		kill(ch->pid, SIGKILL);
	}
	child_down(ch);
}

/* A memory checker's leak report at exit takes longer than a daemon's
 * normal stop. */
static int
stop_grace_s(void)
{
	return rd.child_wrapper != NULL ? WRAPPED_GRACE_S : STOP_GRACE_S;
}

static void
on_stop_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct child *ch = arg;

	if (ch->pid != 0) {
		log_warnx("%s did not stop within %d s; killing it", ch->name,
		    stop_grace_s());
		kill(ch->pid, SIGKILL);
	}
}

/* Ask a child to leave (RF_SHUTDOWN); kill it if it has not after a grace. */
static void
stop_child(struct child *ch)
{
	struct timeval tv = { stop_grace_s(), 0 };

	if (ch->respawn_ev)
		evtimer_del(ch->respawn_ev);
	if (ch->pid == 0)
		return;
	ch->stopping = 1;
	if (ch->link) {
		link_send(ch->link, fout_new(RF_SHUTDOWN, NULL, NULL));
		link_flush_now(ch->link);
	} else
		kill(ch->pid, SIGTERM);
	if (ch->stop_ev == NULL)
		ch->stop_ev = evtimer_new(rd.base, on_stop_timeout, ch);
	evtimer_add(ch->stop_ev, &tv);
}

void
supervise_restart(struct child *ch)
{
	ch->restart_now = 1;
	if (ch->pid == 0) {
		if (ch->respawn_ev)
			evtimer_del(ch->respawn_ev);
		spawn(ch);
		return;
	}
	stop_child(ch);
}

void
supervise_shutdown(void)
{
	int d;

	rd.shutting_down = 1;
	for (d = D_COUNT - 1; d >= 0; d--)
		stop_child(&rd.children[d]);
	for (d = 0; d < D_COUNT; d++)
		if (rd.children[d].pid != 0)
			return;
	event_base_loopexit(rd.base, NULL);
}

/* Ping every ready child; one that missed the last ping holds the watchdog. */
int
supervise_ping(void)
{
	int d, ok = 1;
	struct child *ch;

	for (d = 0; d < D_COUNT; d++) {
		ch = &rd.children[d];
		if (!rd.conf->daemons[d].enabled)
			continue;
		if (!ch->ready || ch->pong_due > 1)
			ok = 0;
		if (ch->link && ch->ready) {
			ch->pong_due++;
			link_send(ch->link, fout_new(RF_PING, NULL, NULL));
		}
	}
	return ok;
}

/* After a reload: restart children (their config may have changed). */
void
supervise_reload_children(void)
{
	int d;

	for (d = 0; d < D_COUNT; d++) {
		if (rd.conf->daemons[d].enabled)
			supervise_restart(&rd.children[d]);
		else
			stop_child(&rd.children[d]);
	}
}
