/*
 * control.c - routerd's control socket, spoken to by rampartctl.
 *
 * A Unix stream socket in the run directory (mode 0600).  Each connection
 * is checked with SO_PEERCRED: only root and routerd's own uid may talk;
 * at most CTL_MAX_CLIENTS at once.  The protocol is the frame protocol:
 * RF_CTL_* requests answered by RF_CTL_REPLY (u8 ok, str text); account
 * requests are passed to authd with this client's id in `origin` and the
 * RF_ACCT_RESULT comes back unchanged.  A malformed frame from a client
 * closes that client only.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "link.h"
#include "log.h"
#include "routerd.h"

#define CTL_MAX_CLIENTS	16

static struct link	*clients[CTL_MAX_CLIENTS];
/* The daemon each client awaits a DEBUG answer from (-1: none): a daemon
 * that dies trying (seccomp) still gets its asker an answer. */
static int		 debug_wait[CTL_MAX_CLIENTS];
static struct event	*accept_ev;
static int		 listen_fd = -1;
static char		 sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void
reply(struct link *l, int ok, const char *text)
{
	struct fout *f = fout_new(RF_CTL_REPLY, NULL, NULL);

	if (f == NULL)
		return;
	fout_put_u8(f, ok);
	fout_put_str(f, text);
	link_send(l, f);
}

static long
rss_kib(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*fp;
	long	 kib = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

static void
ctl_status(struct link *l)
{
	char		 buf[4096];
	size_t		 n = 0;
	int		 d;
	struct child	*ch;
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	n += snprintf(buf + n, sizeof(buf) - n, "%-6s %-8s %-8s %8s %8s %9s\n",
	    "daemon", "state", "pid", "uptime", "restarts", "rss-kib");
	n += snprintf(buf + n, sizeof(buf) - n, "%-6s %-8s %-8d %8s %8s %9ld\n",
	    "routerd", "running", (int)getpid(), "-", "-", rss_kib(getpid()));
	for (d = 0; d < D_COUNT && n < sizeof(buf); d++) {
		ch = &rd.children[d];
		n += snprintf(buf + n, sizeof(buf) - n,
		    "%-6s %-8s %-8d %7lds %8u %9ld\n", ch->name,
		    !rd.conf->daemons[d].enabled ? "disabled" :
		    ch->ready ? "ready" : ch->pid ? "starting" : "down",
		    (int)ch->pid, ch->pid ? (long)(now.tv_sec - ch->started.tv_sec) : 0L,
		    ch->restarts, ch->pid ? rss_kib(ch->pid) : 0L);
	}
	if (n < sizeof(buf))
		route_status(buf + n, sizeof(buf) - n);
	reply(l, 1, buf);
}

static void
ctl_restart(struct link *l, struct frame *f)
{
	const char	*name;
	struct child	*ch;
	char		 msg[128];

	if (frame_get_str(f, &name, NULL) == -1 || frame_get_end(f) == -1 ||
	    (ch = child_by_name(name)) == NULL ||
	    !rd.conf->daemons[ch->id].enabled) {
		reply(l, 0, "no such daemon (or it is disabled)");
		return;
	}
	log_info("restart of %s requested", ch->name);
	supervise_restart(ch);
	snprintf(msg, sizeof(msg), "%s restarting", ch->name);
	reply(l, 1, msg);
}

static void
ctl_forward(struct link *l, struct frame *f, struct child *ch)
{
	struct fout *out;

	if (ch == NULL || !ch->ready || ch->link == NULL) {
		reply(l, 0, "daemon not running");
		return;
	}
	if ((out = fout_copy(f)) == NULL)
		return;
	out->hdr.origin = link_id(l);
	link_send(ch->link, out);
}

static void
ctl_debug(struct link *l, struct frame *f)
{
	const char *name;
	struct fout *out;
	struct child *ch;

	if (!rd.debug_triggers || frame_get_str(f, &name, NULL) == -1 ||
	    (ch = child_by_name(name)) == NULL || ch->link == NULL) {
		reply(l, 0, "debug triggers are off or no such daemon");
		return;
	}
	/* The child sees the action and its argument, not the daemon name. */
	if ((out = fout_new(RF_DEBUG, NULL, NULL)) == NULL)
		return;
	out->hdr.corr = link_id(l);
	fout_put_raw(out, f->body + f->pos, f->body_len - f->pos);
	if (link_send(ch->link, out) == 0)
		debug_wait[link_id(l) - ORIGIN_CTL_FIRST] = ch->id;
}

static void
client_frame(struct link *l, struct frame *f, void *arg)
{
	char err[512];

	if (f->fd != -1)
		close(f->fd);
	switch (f->hdr.type) {
	case RF_CTL_STATUS:
		ctl_status(l);
		break;
	case RF_CTL_RESTART:
		ctl_restart(l, f);
		break;
	case RF_CTL_RELOAD:
		if (routerd_reload(err, sizeof(err)) == -1)
			reply(l, 0, err);
		else
			reply(l, 1, "configuration reloaded");
		break;
	case RF_CTL_STOP:
		reply(l, 1, "stopping");
		link_flush_now(l);
		supervise_shutdown();
		break;
	case RF_CTL_ROUTES:
		route_list(err, sizeof(err));
		reply(l, 1, err);
		break;
	case RF_ACCT_ADD:
	case RF_ACCT_PASSWD:
	case RF_ACCT_DEL:
	case RF_ACCT_LIST:
		ctl_forward(l, f, &rd.children[D_AUTHD]);
		break;
	case RF_DEBUG:
		ctl_debug(l, f);
		break;
	default:
		reply(l, 0, "unknown request");
		break;
	}
}

static void
client_closed(struct link *l, const char *why, void *arg)
{
	int i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i] == l)
			clients[i] = NULL;
}

static struct link *
client_by_origin(uint16_t origin)
{
	int i = origin - ORIGIN_CTL_FIRST;

	if (origin < ORIGIN_CTL_FIRST || i >= CTL_MAX_CLIENTS)
		return NULL;
	return clients[i];
}

void
control_reply_acct(struct frame *f)
{
	struct link *l = client_by_origin(f->hdr.origin);
	struct fout *out;

	if (l != NULL && (out = fout_copy(f)) != NULL)
		link_send(l, out);
}

void
control_debug_reply(struct frame *f)
{
	struct link *l = client_by_origin(f->hdr.corr);
	struct fout *out;

	if (l == NULL)
		return;
	debug_wait[link_id(l) - ORIGIN_CTL_FIRST] = -1;
	if ((out = fout_copy(f)) != NULL)
		link_send(l, out);
}

/* A daemon died: answer whoever waited for its DEBUG reply with how. */
void
control_child_died(struct child *ch, const char *how)
{
	int i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i] != NULL && debug_wait[i] == (int)ch->id) {
			debug_wait[i] = -1;
			reply(clients[i], 0, how);
		}
}

static void
on_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	int		c, i;

	if ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warnx("control: refused a connection from uid %d",
		    (int)cred.uid);
		close(c);
		return;
	}
	for (i = 0; i < CTL_MAX_CLIENTS && clients[i]; i++)
		;
	if (i == CTL_MAX_CLIENTS) {
		log_warnx("control: too many clients");
		close(c);
		return;
	}
	debug_wait[i] = -1;
	clients[i] = link_new(rd.base, c, "control", client_frame,
	    client_closed, NULL);
	if (clients[i] == NULL) {
		close(c);
		return;
	}
	link_set_id(clients[i], ORIGIN_CTL_FIRST + i);
	link_set_max_frame(clients[i], 64 * 1024);
}

int
control_init(const char *run_dir)
{
	struct sockaddr_un sun;
	mode_t old;

	if (mkdir(run_dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", run_dir);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock",
	    run_dir) >= sizeof(sun.sun_path)) {
		log_warnx("run-dir too long for a socket path");
		return -1;
	}
	strcpy(sock_path, sun.sun_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd == -1)
		return -1;
	unlink(sun.sun_path);
	old = umask(0077);
	if (bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(sun.sun_path, 0600) == -1 || listen(listen_fd, 16) == -1) {
		umask(old);
		log_warn("control socket %s", sun.sun_path);
		return -1;
	}
	umask(old);
	accept_ev = event_new(rd.base, listen_fd, EV_READ | EV_PERSIST, on_accept, NULL);
	event_add(accept_ev, NULL);
	return 0;
}

void
control_close(void)
{
	if (accept_ev)
		event_free(accept_ev);
	if (listen_fd != -1) {
		close(listen_fd);
		unlink(sock_path);
	}
}
