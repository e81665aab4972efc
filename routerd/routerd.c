/*
 * routerd.c - the supervisor's main: read the configuration, open the
 * listeners and directories that need privileges, start the children, and
 * run the event loop that moves frames between them.
 *
 * routerd keeps the listening sockets for the life of the process, so
 * restarting c2sd never closes a port.  SIGTERM/SIGINT stop everything
 * (children get RF_SHUTDOWN, then SIGKILL after 3 s: no
 * orphan survives); SIGHUP reloads.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
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

#define DEFAULT_CONF	"/etc/rampart/rampart.conf"

struct routerd rd;

static void
usage(void)
{
	fprintf(stderr, "usage: routerd [-dnv] [-f file]\n");
	exit(1);
}

static int
open_listener(const struct conf_listen *li)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, li->addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(li->port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, li->addr,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(li->port);
		len = sizeof(struct sockaddr_in6);
	} else {
		log_warnx("listen %s: not an address", li->addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 1024) == -1) {
		log_warn("listen %s %s port %u", listen_kind_names[li->kind],
		    li->addr, li->port);
		close(fd);
		return -1;
	}
	return fd;
}

/* The index of an open listener for this kind/address/port, or -1. */
static int
find_listener(const struct conf_listen *li)
{
	int i;

	for (i = 0; i < rd.nlisten; i++)
		if (rd.listens[i].kind == li->kind && rd.listens[i].port == li->port &&
		    strcmp(rd.listens[i].addr, li->addr) == 0)
			return i;
	return -1;
}

/*
 * Make the open listeners match `c`: keep the ones it still names (their
 * copies live in c2sd/s2sd, so they could not be bound again), open the new
 * ones, and only when all of that worked close the ones it dropped.
 */
static int
open_listeners(const struct conf *c)
{
	struct conf_listen	*li;
	int			 keep[RD_MAX_LISTEN] = { 0 };
	int			 i, j, n = rd.nlisten, fd;

	TAILQ_FOREACH(li, &c->listens, entry) {
		if ((i = find_listener(li)) != -1 && i < n) {
			keep[i] = 1;
			continue;
		}
		if (rd.nlisten == RD_MAX_LISTEN) {
			log_warnx("too many listen lines");
			goto fail;
		}
		if ((fd = open_listener(li)) == -1)
			goto fail;
		rd.listen_fds[rd.nlisten] = fd;
		rd.listens[rd.nlisten++] = *li;
	}
	for (i = 0; i < n; i++)
		keep[i] = !keep[i];	/* now: to close */
	for (i = 0, j = 0; i < rd.nlisten; i++) {
		if (i < n && keep[i]) {
			close(rd.listen_fds[i]);
			continue;
		}
		rd.listen_fds[j] = rd.listen_fds[i];
		rd.listens[j++] = rd.listens[i];
	}
	rd.nlisten = j;
	return 0;
fail:
	while (rd.nlisten > n)
		close(rd.listen_fds[--rd.nlisten]);
	return -1;
}

static void
close_listeners(void)
{
	while (rd.nlisten > 0)
		close(rd.listen_fds[--rd.nlisten]);
}

static void
apply_conf(struct conf *c)
{
	rd.conf = c;
	log_setlevel(c->log_level);
	rd.max_frame = conf_opt_number(c, conf_option_find("max-frame-size"));
	rd.max_resources = conf_opt_number(c, conf_option_find("max-resources"));
}

/* Re-read the file; keep running on the old one if the new one is bad. */
int
routerd_reload(char *err, size_t errlen)
{
	struct conf *c;

	if ((c = conf_parse(rd.conf_path)) == NULL) {
		snprintf(err, errlen, "%s: errors in the file (see routerd's "
		    "log); still running the previous configuration",
		    rd.conf_path);
		return -1;
	}
	notify_send("RELOADING=1");
	if (open_listeners(c) == -1) {
		conf_free(c);
		snprintf(err, errlen, "cannot open the new listeners; kept "
		    "the previous configuration");
		notify_send("READY=1");
		return -1;
	}
	if (supervise_prepare_dirs(c) == -1) {
		log_warnx("reload: data directories not ready");
	}
	conf_free(rd.conf);
	apply_conf(c);
	supervise_reload_children();
	log_info("configuration reloaded from %s", rd.conf_path);
	notify_send("READY=1");
	return 0;
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	char err[256];

	if (sig == SIGHUP) {
		if (routerd_reload(err, sizeof(err)) == -1)
			log_warnx("%s", err);
		return;
	}
	if (rd.shutting_down)
		return;
	log_info("stopping on signal %d", (int)sig);
	notify_send("STOPPING=1");
	supervise_shutdown();
}

static void
add_signal(int sig)
{
	struct event *ev = evsignal_new(rd.base, sig, on_signal, NULL);

	evsignal_add(ev, NULL);
}

/*
 * Raise the soft descriptor limit to the hard one before the children
 * are started: they inherit it, and c2sd needs one descriptor per client
 * (max-connections, 10000 by default) where the usual soft limit is 1024.
 * The hard limit stays the admin's (systemd's LimitNOFILE=).
 */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the descriptor limit");
}

int
main(int argc, char *argv[])
{
	int	 ch, check = 0, verbose = 0, debug = 0;
	struct conf *c;

	rd.conf_path = DEFAULT_CONF;
	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd': debug = 1; break;
		case 'f': rd.conf_path = optarg; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("routerd", LOG_LVL_INFO);
	if ((c = conf_parse(rd.conf_path)) == NULL)
		exit(1);
	if (check) {
		if (verbose)
			conf_print(stdout, c, 1);
		fprintf(stderr, "configuration OK\n");
		conf_free(c);
		return 0;
	}
	if (debug)
		c->log_level = LOG_LVL_DEBUG;
	apply_conf(c);
	rd.debug_triggers = getenv("RAMPART_DEBUG_TRIGGERS") != NULL;
	rd.child_wrapper = getenv("RAMPART_CHILD_WRAPPER");
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if ((rd.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	supervise_init();
	if (supervise_prepare_dirs(c) == -1 || open_listeners(c) == -1 ||
	    control_init(c->run_dir) == -1)
		fatalx("cannot start; see the messages above");
	add_signal(SIGTERM);
	add_signal(SIGINT);
	add_signal(SIGHUP);
	supervise_start_all();
	notify_watchdog_init();
	event_base_dispatch(rd.base);
	control_close();
	close_listeners();
	log_info("stopped");
	conf_free(rd.conf);
	event_base_free(rd.base);
	return 0;
}
