/*
 * notify.c - the systemd notification protocol (sd_notify(3)), spoken
 * directly: one datagram to $NOTIFY_SOCKET per state change.  Linking
 * libsystemd into the one root process for this would be a poor trade.
 *
 * The watchdog: when systemd asks for it (WATCHDOG_USEC), routerd pings
 * every child at half the interval and sends WATCHDOG=1 only while every
 * enabled child answered the previous ping.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "routerd.h"

void
notify_send(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	if ((plen = strlen(path)) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = offsetof(struct sockaddr_un, sun_path) + plen;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_warn("sd_notify");
	close(fd);
}

static void
on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	if (supervise_ping() && rd.all_ready_once)
		notify_send("WATCHDOG=1");
	else
		log_warnx("watchdog: a daemon did not answer; not petting");
}

void
notify_watchdog_init(void)
{
	static struct event	*ev;
	const char		*usec = getenv("WATCHDOG_USEC");
	unsigned long long	 us;
	struct timeval		 tv;

	/* Without systemd's watchdog, still ping children every 10 s. */
	us = usec ? strtoull(usec, NULL, 10) : 20000000ULL;
	if (us < 1000000)
		us = 1000000;
	us /= 2;
	tv.tv_sec = us / 1000000;
	tv.tv_usec = us % 1000000;
	ev = event_new(rd.base, -1, EV_PERSIST, on_watchdog, NULL);
	event_add(ev, &tv);
}
