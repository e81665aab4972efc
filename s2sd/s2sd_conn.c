/*
 * s2sd_conn.c - s2sd's sockets: the listeners routerd passed, accepted
 * connections, their output buffers and timers.
 *
 * s2sd.c hands every listener fd to conn_listen() while CONFIG arrives and
 * calls conn_start_listeners() after the privilege drop.  An accepted
 * connection gets an XML parser whose callbacks belong to the subject of
 * its listener (s2sd_component.c for "component").  Output is appended to
 * one buffer per connection and written when the socket is writable; the
 * buffer never passes s2sd_conf.max_outbuf (the stream is closed
 * instead), and output that has not moved for s2s-idle-timeout closes
 * the stream too: a peer that stops reading while we send little would
 * otherwise hold its stanzas forever, since each new one keeps the idle
 * timer from firing.
 * A connection is never freed inside a callback of its own parser: it is
 * marked dead and freed by reap_cb on the next loop turn.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "s2sd.h"

struct listener {
	int		 fd;
	enum s2s_kind	 kind;
	int		 direct_tls;	/* XEP-0368 */
	struct event	*ev;
};

static struct listener	 listeners[S2SD_MAX_LISTENERS];
static size_t		 nlisteners;
static struct s2s_connlist conns = TAILQ_HEAD_INITIALIZER(conns);
static struct s2s_connlist reapq = TAILQ_HEAD_INITIALIZER(reapq);
static struct event	*ev_reap;
static uint64_t		 next_id = 1;
int			 s2sd_stopping;
static size_t		 nconns;
static char		 readbuf[S2SD_READ_BUF];
static const struct timeval reap_now = { 0, 0 };

static void	read_cb(int, short, void *);
static void	write_cb(int, short, void *);
static void	timer_cb(int, short, void *);
static void	stall_cb(int, short, void *);

/* Listener names are those of routerd's config (listen_kind_names). */
void
conn_listen(const char *name, int fd)
{
	enum s2s_kind kind;

	if (strcmp(name, "component") == 0)
		kind = SK_COMPONENT;
	else if (strcmp(name, "server") == 0 || strcmp(name, "server-tls") == 0)
		kind = SK_SERVER_IN;
	else {
		log_warnx("unexpected listener %s", name);
		close(fd);
		return;
	}
	if (nlisteners == S2SD_MAX_LISTENERS) {
		log_warnx("too many listeners; %s ignored", name);
		close(fd);
		return;
	}
	listeners[nlisteners].fd = fd;
	listeners[nlisteners].kind = kind;
	listeners[nlisteners].direct_tls = strcmp(name, "server-tls") == 0;
	nlisteners++;
}

struct s2s_conn *
conn_find(uint64_t id)
{
	struct s2s_conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

static void
peer_string(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	int  port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		port = ntohs(s6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", addr, port);
}

/* Its input becomes stanzas for routerd: paused by backpressure. */
static int
feeds_routerd(const struct s2s_conn *c)
{
	return c->kind != SK_SERVER_OUT;
}

/* routerd's link is over its high mark (s2sd_flow.c): stop reading, so
 * that TCP slows the remotes down instead of us dropping their stanzas.
 * Outgoing streams carry no stanzas to us and keep negotiating. */
void
conn_pause_input(void)
{
	struct s2s_conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		if (feeds_routerd(c) && c->ev_read != NULL)
			event_del(c->ev_read);
}

void
conn_resume_input(void)
{
	struct s2s_conn *c;

	TAILQ_FOREACH(c, &conns, entry) {
		if (!feeds_routerd(c) || c->ev_read == NULL)
			continue;
		event_add(c->ev_read, NULL);
		/* TLS may hold records read before the pause */
		event_active(c->ev_read, EV_READ, 0);
	}
}

static struct s2s_conn *
conn_new(int fd, enum s2s_kind kind, const char *peer)
{
	struct s2s_conn		*c;
	const struct xml_callbacks *cb;

	cb = kind == SK_COMPONENT ? &component_callbacks :
	    kind == SK_SERVER_IN ? &in_callbacks : &out_callbacks;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	TAILQ_INIT(&c->unsent);
	c->fd = fd;
	c->kind = kind;
	c->id = next_id++;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->xs = xml_stream_new(XML_MODE_STREAM, &(struct xml_limits){
	    .max_stanza = s2sd_conf.max_stanza_size }, cb, c);
	c->ev_read = event_new(daemon_base, fd, EV_READ | EV_PERSIST,
	    read_cb, c);
	c->ev_write = event_new(daemon_base, fd, EV_WRITE, write_cb, c);
	c->ev_timer = evtimer_new(daemon_base, timer_cb, c);
	c->ev_stall = evtimer_new(daemon_base, stall_cb, c);
	if (c->xs == NULL || c->ev_read == NULL || c->ev_write == NULL ||
	    c->ev_timer == NULL || c->ev_stall == NULL ||
	    ((!feeds_routerd(c) || !flow_paused()) &&
	    event_add(c->ev_read, NULL) == -1)) {
		c->fd = -1;	/* the caller closes it */
		conn_close(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&conns, c, entry);
	c->listed = 1;
	nconns++;
	conn_set_timer(c, (unsigned)s2sd_conf.unauth_timeout);
	return c;
}

static void
accept_cb(int lfd, short ev, void *arg)
{
	struct listener		*l = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 peer[64];
	struct s2s_conn		*c;
	int			 fd;

	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	peer_string(&ss, peer, sizeof(peer));
	if (nconns >= S2SD_MAX_CONNS) {
		log_warnx("%s: too many connections, refused", peer);
		close(fd);
		return;
	}
	if ((c = conn_new(fd, l->kind, peer)) == NULL) {
		log_warn("%s: no memory for a connection", peer);
		close(fd);
		return;
	}
	if (l->direct_tls) {
		c->direct_tls = 1;
		if (tls_conn_start(c) == -1) {
			log_warnx("%s: no TLS context", peer);
			conn_close(c);
			return;
		}
	}
	log_debug("%s: connected (%s)", peer,
	    l->kind == SK_COMPONENT ? "component" : "server");
}

static void
reap_cb(int fd, short ev, void *arg)
{
	struct s2s_conn *c;

	while ((c = TAILQ_FIRST(&reapq)) != NULL) {
		TAILQ_REMOVE(&reapq, c, entry);
		if (c->xs)
			xml_stream_free(c->xs);
		free(c->out);
		free(c);
	}
}

void
conn_start_listeners(void)
{
	size_t i;

	if ((ev_reap = evtimer_new(daemon_base, reap_cb, NULL)) == NULL)
		fatal("event");
	for (i = 0; i < nlisteners; i++) {
		if (fcntl(listeners[i].fd, F_SETFL, O_NONBLOCK) == -1)
			fatal("fcntl");
		listeners[i].ev = event_new(daemon_base, listeners[i].fd,
		    EV_READ | EV_PERSIST, accept_cb, &listeners[i]);
		if (listeners[i].ev == NULL ||
		    event_add(listeners[i].ev, NULL) == -1)
			fatal("listener event");
	}
}

/* How the stream's bytes travel, for the log lines that say how a
 * stream authenticated. */
const char *
conn_transport(const struct s2s_conn *c)
{
	if (c->direct_tls)
		return "direct TLS";
	return c->tls ? "STARTTLS" : "no TLS";
}

/* Close now: cancel events, detach from its component, free later. */
void
conn_close(struct s2s_conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->kind == SK_SERVER_IN && !c->polite && !s2sd_stopping)
		in_lost(c);
	if (c->comp)
		component_detach(c);
	if (!TAILQ_EMPTY(&c->unsent))
		out_unsent_bounce(c);
	tls_conn_free(c);
	if (c->route) {
		struct s2s_remote *r = c->route;

		c->route = NULL;
		if (r->conn == c)
			remote_conn_gone(r, NULL);
	}
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_timer)
		event_free(c->ev_timer);
	if (c->ev_stall)
		event_free(c->ev_stall);
	c->ev_read = c->ev_write = c->ev_timer = c->ev_stall = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	if (c->listed) {
		TAILQ_REMOVE(&conns, c, entry);
		nconns--;
		c->listed = 0;
	}
	TAILQ_INSERT_TAIL(&reapq, c, entry);
	if (ev_reap)
		evtimer_add(ev_reap, &reap_now);
	log_debug("%s: connection %llu closed", c->peer,
	    (unsigned long long)c->id);
}

void
conn_set_timer(struct s2s_conn *c, unsigned int seconds)
{
	if (c->ev_timer == NULL)
		return;
	if (seconds == 0)
		evtimer_del(c->ev_timer);
	else {
		struct timeval tv = { seconds, 0 };

		evtimer_add(c->ev_timer, &tv);
	}
}

/* The unauthenticated or closing stream ran out of time. */
static void
timer_cb(int fd, short ev, void *arg)
{
	struct s2s_conn *c = arg;

	if (feeds_routerd(c) && flow_paused() &&
	    (c->state == SS_AUTHED || c->drain)) {
		/* not the peer's silence: we stopped reading it */
		conn_set_timer(c, c->state == SS_AUTHED ?
		    (unsigned)s2sd_conf.idle_timeout : S2SD_CLOSE_TIMEOUT);
		return;
	}
	if (c->state == SS_CLOSING) {
		conn_close(c);
		return;
	}
	if (c->state == SS_AUTHED) {
		c->polite = 1;
		/* idle: close politely (RFC 6120 4.4); stanzas the peer
		 * sent before it saw our closing tag are still routed */
		log_info("%s %s %s: idle for %llus, closing", c->local,
		    c->kind == SK_SERVER_OUT ? "->" : "<-",
		    c->remote[0] ? c->remote : c->peer,
		    s2sd_conf.idle_timeout);
		conn_writes(c, "</stream:stream>");
		c->drain = c->kind == SK_SERVER_IN;
		conn_end(c);
		return;
	}
	log_info("%s: no authentication within %llus", c->peer,
	    s2sd_conf.unauth_timeout);
	conn_stream_error(c, "connection-timeout", NULL);
}

/* (Re)start the count of time without output progress. */
static void
stall_arm(struct s2s_conn *c)
{
	struct timeval tv = { (time_t)s2sd_conf.idle_timeout, 0 };

	evtimer_add(c->ev_stall, &tv);
}

/* Bytes have waited s2s-idle-timeout without the socket taking any: the
 * peer stopped reading.  Closing bounces what an outgoing stream had not
 * written (remote-server-timeout, s2sd_out.c); a stream error could not
 * be written anyway. */
static void
stall_cb(int fd, short ev, void *arg)
{
	struct s2s_conn *c = arg;

	if (feeds_routerd(c) && flow_paused()) {
		/* a peer blocked writing to us while we do not read may not
		 * read either: wait until we read it again */
		stall_arm(c);
		return;
	}
	log_info("%s %s %s: output stalled for %llus (%zu bytes), closing",
	    c->local[0] ? c->local : c->peer,
	    c->kind == SK_SERVER_OUT ? "->" : "<-",
	    c->remote[0] ? c->remote : c->comp ? c->comp->domain : c->peer,
	    s2sd_conf.idle_timeout, c->outlen);
	conn_close(c);
}

/* Append to the output buffer; past s2s-max-outbuf the peer is not
 * reading and the stream is dropped (its queue would grow forever). */
void
conn_write(struct s2s_conn *c, const char *data, size_t len)
{
	size_t	 ncap;
	char	*p;

	if (c->dead || len == 0)
		return;
	if (c->outlen + len > s2sd_conf.max_outbuf) {
		log_info("%s: output over %zu bytes, peer too slow; closed",
		    c->peer, s2sd_conf.max_outbuf);
		conn_close(c);
		return;
	}
	if (c->outlen + len > c->outcap) {
		ncap = c->outcap ? c->outcap : 4096;
		while (ncap < c->outlen + len)
			ncap *= 2;
		if ((p = realloc(c->out, ncap)) == NULL) {
			log_warn("%s: output buffer", c->peer);
			conn_close(c);
			return;
		}
		c->out = p;
		c->outcap = ncap;
	}
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	c->wtotal += len;
	event_add(c->ev_write, NULL);
	if (!evtimer_pending(c->ev_stall, NULL))
		stall_arm(c);
}

/* Would `len` more bytes fit?  Callers with a stanza bounce it when not,
 * instead of letting conn_write() close the stream and lose it. */
int
conn_has_room(const struct s2s_conn *c, size_t len)
{
	return !c->dead && c->state != SS_CLOSING &&
	    c->outlen + len <= s2sd_conf.max_outbuf;
}

void
conn_writes(struct s2s_conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

/* The TLS handshake finished: the stream restarts (RFC 6120 5.4.3.3). */
void
conn_tls_ready(struct s2s_conn *c)
{
	xml_stream_reset(c->xs);
	if (c->kind == SK_SERVER_OUT)
		out_tls_ready(c);
	else
		in_tls_ready(c);
}

/* Drive the handshake; 1 when TLS is up, 0 in progress, -1 closed. */
static int
handshake_step(struct s2s_conn *c)
{
	int r;

	if ((r = tls_handshake(c)) == -1) {
		log_info("%s: TLS handshake failed", c->peer);
		conn_close(c);
		return -1;
	}
	if (r == 0) {
		if (c->tls_want_write)
			event_add(c->ev_write, NULL);
		return 0;
	}
	conn_tls_ready(c);
	return c->dead ? -1 : 1;
}

/* Start TLS on a socket whose plaintext output is all written. */
static void
start_tls(struct s2s_conn *c)
{
	c->tls_pending = 0;
	if (tls_conn_start(c) == -1) {
		conn_close(c);
		return;
	}
	xml_stream_reset(c->xs);
	(void)handshake_step(c);
}

/* A non-blocking connect() finished, for better or worse. */
static void
connect_done(struct s2s_conn *c)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	c->connecting = 0;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		log_info("%s -> %s: connect to %s: %s", c->local, c->remote,
		    c->peer, strerror(err ? err : errno));
		conn_close(c);
		return;
	}
	out_connected(c);
	/* direct TLS (XEP-0368): we speak first, with the ClientHello */
	if (!c->dead && c->ssl != NULL && !c->tls)
		(void)handshake_step(c);
}

static void
write_cb(int fd, short ev, void *arg)
{
	struct s2s_conn	*c = arg;
	ssize_t		 n;

	if (c->dead)
		return;
	if (c->connecting) {
		connect_done(c);
		return;
	}
	if (c->ssl != NULL && !c->tls) {
		(void)handshake_step(c);
		return;
	}
	if (c->outlen == 0)
		n = 0;
	else if (c->ssl != NULL)
		n = tls_write(c, c->out, c->outlen);
	else if ((n = write(c->fd, c->out, c->outlen)) == -1)
		n = errno == EAGAIN || errno == EINTR ? -2 : -1;
	if (n == -1) {
		log_debug("%s: write failed", c->peer);
		conn_close(c);
		return;
	}
	if (n > 0) {
		memmove(c->out, c->out + n, c->outlen - n);
		c->outlen -= n;
		c->wdone += n;
		if (c->outlen > 0)
			stall_arm(c);		/* it moved */
		else
			evtimer_del(c->ev_stall);
		if (!TAILQ_EMPTY(&c->unsent))
			out_written(c);
	}
	if (c->outlen > 0) {
		if (n != -2 || c->ssl == NULL || c->tls_want_write)
			event_add(c->ev_write, NULL);
	} else if (c->tls_pending)
		start_tls(c);
	else if (c->state == SS_CLOSING)
		shutdown(c->fd, SHUT_WR);
}

/* One chunk of input; -2 nothing now, -1 EOF or failure. */
static ssize_t
conn_read_some(struct s2s_conn *c)
{
	ssize_t n;

	if (c->ssl != NULL)
		return tls_read(c, readbuf, sizeof(readbuf));
	if ((n = read(c->fd, readbuf, sizeof(readbuf))) == -1)
		return errno == EAGAIN || errno == EINTR ? -2 : -1;
	return n == 0 ? -1 : n;
}

static void
read_cb(int fd, short ev, void *arg)
{
	struct s2s_conn	*c = arg;
	ssize_t		 n;
	int		 rounds;

	if (c->dead || c->connecting || c->tls_pending)
		return;
	if (c->ssl != NULL && !c->tls && handshake_step(c) != 1)
		return;
	/* TLS may hold decrypted records epoll does not know about: read
	 * until it would block (bounded, so one peer cannot starve us). */
	for (rounds = 0; rounds < 16 && !c->dead && !c->tls_pending &&
	    !(feeds_routerd(c) && flow_paused()); rounds++) {
		if ((n = conn_read_some(c)) == -2)
			break;
		if (n == -1) {
			conn_close(c);
			return;
		}
		if (c->state != SS_CLOSING || c->drain)
			(void)xml_stream_feed(c->xs, readbuf, n);
	}
	if (!c->dead && (c->outlen > 0 || c->tls_want_write))
		event_add(c->ev_write, NULL);
}

/* A stream to a remote server (s2sd_out.c); NULL if the socket could
 * not even be started (the caller tries the next address). */
struct s2s_conn *
conn_connect(const struct sockaddr_storage *ss, struct s2s_remote *r)
{
	struct s2s_conn	*c;
	char		 peer[64];
	int		 fd;
	socklen_t	 sl = ss->ss_family == AF_INET ?
			    sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6);

	peer_string(ss, peer, sizeof(peer));
	if (nconns >= S2SD_MAX_CONNS)
		return NULL;
	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return NULL;
	}
	if (connect(fd, (const struct sockaddr *)ss, sl) == -1 &&
	    errno != EINPROGRESS) {
		log_info("%s -> %s: connect to %s: %s", r->local, r->remote,
		    peer, strerror(errno));
		close(fd);
		return NULL;
	}
	if ((c = conn_new(fd, SK_SERVER_OUT, peer)) == NULL) {
		close(fd);
		return NULL;
	}
	conn_set_timer(c, 0);	/* the route's deadline covers setup */
	memcpy(c->local, r->local, sizeof(c->local));
	memcpy(c->remote, r->remote, sizeof(c->remote));
	c->route = r;
	c->direct_tls = r->targets[r->target].direct_tls;
	c->connecting = 1;
	event_add(c->ev_write, NULL);
	return c;
}

/*
 * RFC 6120 4.9: a stream error is followed by the closing tag; if the
 * peer never saw our header, one is sent first (4.9.1.2).  The socket is
 * closed when the peer closes, or after S2SD_CLOSE_TIMEOUT.
 */
void
conn_stream_error(struct s2s_conn *c, const char *cond, const char *text)
{
	struct xbuf b;

	if (c->dead || c->state == SS_CLOSING)
		return;
	xbuf_init(&b);
	if (!c->header_sent)
		xbuf_addf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' "
		    "xmlns:stream='%s'>", c->kind == SK_COMPONENT ?
		    NS_COMPONENT : XMLNS_SERVER, XMLNS_STREAM);
	xbuf_addf(&b, "<stream:error><%s xmlns='%s'/>", cond, NS_STREAMS);
	if (text) {
		xbuf_addf(&b, "<text xmlns='%s'>", NS_STREAMS);
		xbuf_add_text(&b, text, strlen(text));
		xbuf_adds(&b, "</text>");
	}
	xbuf_adds(&b, "</stream:error></stream:stream>");
	c->header_sent = 1;
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	conn_end(c);
}

/* Close our side gracefully: nothing more is read, the rest is flushed. */
void
conn_end(struct s2s_conn *c)
{
	if (c->dead || c->state == SS_CLOSING)
		return;
	if (c->comp)
		component_detach(c);
	c->state = SS_CLOSING;
	conn_set_timer(c, S2SD_CLOSE_TIMEOUT);
	if (c->outlen == 0)
		shutdown(c->fd, SHUT_WR);
}

void
conn_shutdown_all(void)
{
	struct s2s_conn *c;

	s2sd_stopping = 1;	/* no route reconnects while we close */
	while ((c = TAILQ_FIRST(&conns)) != NULL) {
		if (c->header_sent && c->outlen + 16 <= s2sd_conf.max_outbuf) {
			conn_writes(c, "</stream:stream>");
			(void)write(c->fd, c->out, c->outlen);
		}
		conn_close(c);
	}
	reap_cb(-1, 0, NULL);
}

/* The end of a peer's stream and XML errors are handled alike on every
 * kind of stream (incoming, outgoing, component). */
void
conn_on_stream_close(void *arg)
{
	struct s2s_conn *c = arg;

	c->polite = 1;
	if (c->state != SS_CLOSING)
		conn_writes(c, "</stream:stream>");
	conn_end(c);
}

/* Is local <- remote authenticated on a live incoming stream other
 * than `except`? */
int
conn_in_authed(const struct s2s_conn *except, const char *local,
    const char *remote)
{
	const struct s2s_conn	*c;
	int			 i;

	TAILQ_FOREACH(c, &conns, entry) {
		if (c == except || c->dead || c->kind != SK_SERVER_IN)
			continue;
		for (i = 0; i < c->npairs; i++)
			if (c->pairs[i].state == 1 &&
			    strcmp(c->pairs[i].local, local) == 0 &&
			    strcmp(c->pairs[i].remote, remote) == 0)
				return 1;
	}
	return 0;
}

void
conn_on_xml_error(void *arg, enum xml_error e, const char *detail)
{
	struct s2s_conn *c = arg;

	log_debug("%s: %s", c->peer, detail ? detail : "XML error");
	c->drain = 0;
	conn_stream_error(c, xml_error_condition(e), NULL);
}
