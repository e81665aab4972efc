/*
 * c2sd_conn.c - client connections: accepting, reading, writing, limits,
 * closing.
 *
 * Listeners come from routerd (config_fd) and are armed in post_drop.
 * Each connection reads at most C2SD_READ_BUF bytes per wakeup (into one
 * shared buffer: the parser copies what it keeps) and feeds them to its
 * XML parser; the stream logic lives in c2sd_stream.c.  Output is queued
 * as chunks and written once per event-loop turn by flush_cb (one writev,
 * or SSL_write per chunk), arming EV_WRITE only when the socket is full.
 *
 * Limits kept here: max-connections (listeners paused above it),
 * unauth-per-ip and unauth-timeout, rate-limit (a token bucket; an empty
 * bucket stops reading until a timer refills it, never a busy loop),
 * out-queue-max/out-queue-grace (a queue over its cap for the grace
 * period closes the stream; at four times the cap it closes at once;
 * messages still queued go back for offline storage, session_return),
 * keepalive (a space when nothing was written for that long, checked by
 * the idle sweep below rather than by a timer per connection).
 *
 * Idle memory: every C2SD_IDLE_SWEEP seconds the XML parsers of streams
 * that read nothing since the previous sweep are freed between stanzas
 * (xml_stream_sleep; the next read makes a new one), and freed heap goes
 * back to the system (malloc_trim), so a client that only holds its
 * session costs its TLS state and a few small structs, not a parser.
 *
 * A connection is never freed inside a callback that may still touch it:
 * conn_destroy ends it (events off, session detached, queued stanzas
 * bounced) and marks it dead; the memory goes on the next loop turn.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"

#define MAX_LISTENERS	8
#define ACCEPT_BURST	64
#define WRITEV_MAX	64

struct listener {
	int		 fd;
	enum listener_kind kind;
	struct event	*ev;
	char		 name[32];
};

struct ipcount {
	TAILQ_ENTRY(ipcount) entry;
	unsigned	 n;
	char		 ip[64];
};
TAILQ_HEAD(iplist, ipcount);

static struct listener	 listeners[MAX_LISTENERS];
static size_t		 nlisteners;
static int		 listeners_paused;
static struct event	*ev_accept_retry;
static struct connlist	 conns = TAILQ_HEAD_INITIALIZER(conns);
static struct connlist	 flushq = TAILQ_HEAD_INITIALIZER(flushq);
static struct connlist	 reapq = TAILQ_HEAD_INITIALIZER(reapq);
static struct event	*ev_reap;
static struct connlist	 conn_hash[C2SD_SESSION_BUCKETS];
static struct iplist	 ip_hash[C2SD_IP_BUCKETS];
static struct event	*ev_flush;
static struct event	*ev_sweep;
static unsigned long long nconns;
static unsigned long long nfreed;	/* connections freed since the sweep */
static char		 readbuf[C2SD_READ_BUF];

static void	conn_read(struct conn *);
static void	conn_flush(struct conn *);
static void	conn_linger(struct conn *);

void
conn_listen(const char *name, int fd)
{
	struct listener *l;
	int		 flags;

	if (nlisteners == MAX_LISTENERS) {
		log_warnx("too many listeners; %s ignored", name);
		close(fd);
		return;
	}
	/* accept4() in a loop must never block the process */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatal("listener %s: fcntl", name);
	l = &listeners[nlisteners++];
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (strcmp(name, "client") == 0)
		l->kind = LK_STARTTLS;
	else if (strcmp(name, "client-tls") == 0)
		l->kind = LK_DIRECT_TLS;
	else if (strcmp(name, "http") == 0)
		l->kind = LK_HTTP;	/* BOSH, WebSocket: docs/web.md */
	else if (strcmp(name, "https") == 0)
		l->kind = LK_HTTPS;
	else
		l->kind = LK_OTHER;
}

/* ---- small tables: connections by id, unauthenticated count by IP ---- */

struct conn *
conn_find(uint64_t id)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conn_hash[id % C2SD_SESSION_BUCKETS], hash_entry)
		if (c->id == id)
			return c;
	return NULL;
}

static struct iplist *
ip_bucket(const char *ip)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *ip; ip++)
		h = (h ^ (uint8_t)*ip) * 16777619u;
	return &ip_hash[h % C2SD_IP_BUCKETS];
}

/* Count one more unauthenticated connection; -1 if over unauth-per-ip. */
static int
ip_incr(const char *ip)
{
	struct iplist	*b = ip_bucket(ip);
	struct ipcount	*e;

	TAILQ_FOREACH(e, b, entry)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		snprintf(e->ip, sizeof(e->ip), "%s", ip);
		TAILQ_INSERT_HEAD(b, e, entry);
	}
	if (c2sd_conf.unauth_per_ip && e->n >= c2sd_conf.unauth_per_ip) {
		if (e->n == 0) {
			TAILQ_REMOVE(b, e, entry);
			free(e);
		}
		return -1;
	}
	e->n++;
	return 0;
}

static void
ip_decr(const char *ip)
{
	struct iplist	*b = ip_bucket(ip);
	struct ipcount	*e;

	TAILQ_FOREACH(e, b, entry) {
		if (strcmp(e->ip, ip) != 0)
			continue;
		if (--e->n == 0) {
			TAILQ_REMOVE(b, e, entry);
			free(e);
		}
		return;
	}
}

/* ---- accepting ---- */

static void
listeners_pause(void)
{
	size_t i;

	if (listeners_paused)
		return;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].ev)
			event_del(listeners[i].ev);
	listeners_paused = 1;
}

static void
listeners_resume(void)
{
	size_t i;

	if (!listeners_paused)
		return;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].ev)
			event_add(listeners[i].ev, NULL);
	listeners_paused = 0;
}

static void
accept_retry_cb(int fd, short ev, void *arg)
{
	if (nconns < c2sd_conf.max_connections)
		listeners_resume();
}

static void read_cb(int, short, void *);
static void write_cb(int, short, void *);
static void timer_cb(int, short, void *);
static void grace_cb(int, short, void *);
static void rate_cb(int, short, void *);
static void flush_cb(int, short, void *);
static void reap_cb(int, short, void *);
static void sweep_cb(int, short, void *);

static void
peer_string(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a;

	if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else {
		snprintf(buf, len, "local");
		return;
	}
	if (inet_ntop(ss->ss_family, a, buf, len) == NULL)
		snprintf(buf, len, "?");
}

static int
conn_events(struct conn *c)
{
	c->ev_read = event_new(daemon_base, c->fd, EV_READ | EV_PERSIST,
	    read_cb, c);
	c->ev_write = event_new(daemon_base, c->fd, EV_WRITE, write_cb, c);
	c->ev_timer = evtimer_new(daemon_base, timer_cb, c);
	c->ev_grace = evtimer_new(daemon_base, grace_cb, c);
	/* ev_rate only when the rate limit first bites (rate_pause), and
	 * keepalive rides the idle sweep: every idle session has a struct
	 * conn, each event is 144 bytes */
	if (!c->ev_read || !c->ev_write || !c->ev_timer || !c->ev_grace)
		return -1;
	event_add(c->ev_read, NULL);
	c->reading = 1;
	return 0;
}

/* A plain-HTTP listener is meant for a reverse proxy on the same host
 * that terminates TLS (docs/web.md): loopback peers count as secure. */
static int
is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	    strncmp(peer, "::ffff:127.", 11) == 0;
}

int
conn_is_secure(const struct conn *c)
{
	return (c->ssl != NULL && c->tls) || c->secure;
}

/* A connection with no socket: a BOSH session (c2sd_bosh.c).  Its output
 * queue holds stanzas until an HTTP request can carry them. */
struct conn *
conn_new_virtual(const char *peer, struct host *h)
{
	struct conn *c;

	if (nconns >= c2sd_conf.max_connections || ip_incr(peer) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		ip_decr(peer);
		return NULL;
	}
	c->fd = -1;
	c->id = c2sd_new_id();
	c->proto = CP_BOSH;
	c->host = h;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	TAILQ_INIT(&c->outq);
	c->last_out = c2sd_now_ms();
	c->counted_unauth = 1;
	c->state = CS_WAIT_HEADER;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	TAILQ_INSERT_HEAD(&conn_hash[c->id % C2SD_SESSION_BUCKETS], c,
	    hash_entry);
	nconns++;
	c->ev_timer = evtimer_new(daemon_base, timer_cb, c);
	c->ev_grace = evtimer_new(daemon_base, grace_cb, c);
	if (c->ev_timer == NULL || c->ev_grace == NULL) {
		conn_destroy(c);
		return NULL;
	}
	conn_set_timer(c, (unsigned)c2sd_conf.unauth_timeout);
	return c;
}

void
conn_reading(struct conn *c, int on)
{
	if (c->dead || c->ev_read == NULL || c->reading == on)
		return;
	if (on)
		event_add(c->ev_read, NULL);
	else
		event_del(c->ev_read);
	c->reading = on;
}

static void
conn_new(int fd, const struct listener *l, const char *peer)
{
	struct conn	*c;
	int		 one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->id = c2sd_new_id();
	c->lkind = l->kind;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	TAILQ_INIT(&c->outq);
	c->last_out = c2sd_now_ms();
	c->tokens = c2sd_conf.rate_limit;
	c->refill_ms = c->last_out;
	c->counted_unauth = 1;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	TAILQ_INSERT_HEAD(&conn_hash[c->id % C2SD_SESSION_BUCKETS], c,
	    hash_entry);
	nconns++;
	if (l->kind == LK_HTTP || l->kind == LK_HTTPS) {
		/* the stream parser comes with the WebSocket upgrade */
		c->proto = CP_HTTP;
		c->secure = l->kind == LK_HTTPS || is_loopback(peer);
	} else
		c->xs = xml_stream_new(XML_MODE_STREAM, &(struct xml_limits){
		    .max_stanza = c2sd_conf.max_stanza_size },
		    &stream_callbacks, c);
	if ((c->proto == CP_XMPP && c->xs == NULL) || conn_events(c) == -1) {
		conn_destroy(c);
		return;
	}
	/* for HTTP: the idle limit, also against slow request heads */
	conn_set_timer(c, (unsigned)c2sd_conf.unauth_timeout);
	if (l->kind == LK_DIRECT_TLS || l->kind == LK_HTTPS) {
		c->state = CS_TLS_HANDSHAKE;
		if (tls_conn_new(c) == -1) {
			log_warnx("%s: no TLS context for direct TLS", c->peer);
			conn_destroy(c);
			return;
		}
	} else
		c->state = CS_WAIT_HEADER;
	log_debug("conn %llu from %s on %s", (unsigned long long)c->id,
	    c->peer, l->name);
}

static void
accept_cb(int fd, short ev, void *arg)
{
	struct listener		*l = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv = { 1, 0 };
	char			 peer[64];
	int			 s, i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		if (nconns >= c2sd_conf.max_connections) {
			listeners_pause();
			return;
		}
		sslen = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept");
				listeners_pause();
				evtimer_add(ev_accept_retry, &tv);
			}
			return;	/* EAGAIN, ECONNABORTED, ... */
		}
		peer_string(&ss, peer, sizeof(peer));
		if (ip_incr(peer) == -1) {
			log_info("%s: too many unauthenticated connections",
			    peer);
			close(s);
			continue;
		}
		conn_new(s, l, peer);
	}
}

void
conn_start_listeners(void)
{
	size_t i;

	if ((ev_flush = event_new(daemon_base, -1, 0, flush_cb, NULL)) == NULL)
		fatalx("event_new");
	if ((ev_reap = event_new(daemon_base, -1, 0, reap_cb, NULL)) == NULL)
		fatalx("event_new");
	ev_accept_retry = evtimer_new(daemon_base, accept_retry_cb, NULL);
	if ((ev_sweep = event_new(daemon_base, -1, EV_PERSIST, sweep_cb,
	    NULL)) == NULL ||
	    event_add(ev_sweep, &(struct timeval){ C2SD_IDLE_SWEEP, 0 }) == -1)
		fatalx("event_new");
	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].kind == LK_OTHER)
			continue;
		listeners[i].ev = event_new(daemon_base, listeners[i].fd,
		    EV_READ | EV_PERSIST, accept_cb, &listeners[i]);
		if (listeners[i].ev == NULL ||
		    event_add(listeners[i].ev, NULL) == -1)
			fatalx("listener %s", listeners[i].name);
	}
	for (i = 0; i < C2SD_SESSION_BUCKETS; i++)
		TAILQ_INIT(&conn_hash[i]);
	for (i = 0; i < C2SD_IP_BUCKETS; i++)
		TAILQ_INIT(&ip_hash[i]);
}

/* ---- reading ---- */

/* Refill the token bucket; returns how many bytes may be read now. */
static size_t
rate_allow(struct conn *c)
{
	uint64_t now, add;

	if (c2sd_conf.rate_limit == 0)
		return sizeof(readbuf);
	now = c2sd_now_ms();
	add = (now - c->refill_ms) * c2sd_conf.rate_limit / 1000;
	if (add > 0) {
		c->tokens += add;
		if (c->tokens > c2sd_conf.rate_limit)
			c->tokens = c2sd_conf.rate_limit;
		c->refill_ms = now;
	}
	return c->tokens < sizeof(readbuf) ? (size_t)c->tokens :
	    sizeof(readbuf);
}

/* The bucket is empty: stop reading until a timer has refilled enough for
 * one reasonable read. */
static void
rate_pause(struct conn *c)
{
	uint64_t	want, ms;
	struct timeval	tv;

	if (c->reading) {
		event_del(c->ev_read);
		c->reading = 0;
	}
	if (c->ev_rate == NULL &&
	    (c->ev_rate = evtimer_new(daemon_base, rate_cb, c)) == NULL) {
		conn_destroy(c);	/* from conn_read: nothing above uses c */
		return;
	}
	want = c2sd_conf.rate_limit < 4096 ? c2sd_conf.rate_limit : 4096;
	ms = (want * 1000 + c2sd_conf.rate_limit - 1) / c2sd_conf.rate_limit;
	if (ms < 10)
		ms = 10;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->ev_rate, &tv);
}

static void
rate_cb(int fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (!c->reading && c->state != CS_CLOSING) {
		event_add(c->ev_read, NULL);
		c->reading = 1;
	}
	conn_read(c);	/* TLS may hold decrypted bytes already */
}

static void
handshake_step(struct conn *c)
{
	int r;

	if (c->ssl == NULL)
		return;	/* <proceed/> not yet written */
	r = tls_handshake(c);
	if (r == -1) {
		log_debug("%s: TLS handshake failed", c->peer);
		conn_destroy(c);
		return;
	}
	if (r == 0) {
		if (c->tls_want_write)
			event_add(c->ev_write, NULL);
		return;
	}
	log_debug("conn %llu: %s %s", (unsigned long long)c->id,
	    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	c->state = CS_WAIT_HEADER;
	if (c->xs)
		xml_stream_reset(c->xs);
	conn_read(c);
}

/* Called after <proceed/> has left the output queue (RFC 6120 5.4.3.3). */
void
conn_start_tls(struct conn *c)
{
	if (tls_conn_new(c) == -1) {
		conn_destroy(c);
		return;
	}
	if (!c->reading) {
		event_add(c->ev_read, NULL);
		c->reading = 1;
	}
	handshake_step(c);
}

/* One read, fed to the parser; loops only while TLS holds bytes it read
 * ahead or decrypted, since the socket event is level-triggered and
 * cannot see them. */
static void
conn_read(struct conn *c)
{
	size_t	allow;
	ssize_t	n;

	if (c->dead)
		return;
	if (c->state == CS_TLS_HANDSHAKE) {
		handshake_step(c);
		return;
	}
	do {
		if ((allow = rate_allow(c)) == 0) {
			rate_pause(c);
			return;
		}
		if (c->ssl)
			n = tls_read(c, readbuf, allow);
		else {
			n = read(c->fd, readbuf, allow);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				n = -2;
		}
		if (n == -2) {
			if (c->tls_want_write)
				event_add(c->ev_write, NULL);
			break;
		}
		if (n <= 0) {	/* EOF or error: an unclean end */
			conn_destroy(c);
			return;
		}
		if (c2sd_conf.rate_limit)
			c->tokens -= (uint64_t)n;
		if (c->lingering)
			continue;	/* after both closing tags: dropped */
		c->read_recently = 1;
		/* CS_CLOSING too: stanzas are ignored, the closing tag ends it */
		c->in_feed = 1;
		if (c->proto == CP_HTTP)
			http_input(c, readbuf, (size_t)n);
		else if (c->proto == CP_WS)
			ws_input(c, readbuf, (size_t)n);
		else
			(void)xml_stream_feed(c->xs, readbuf, (size_t)n);
		c->in_feed = 0;
		if (c->dead)
			return;
		stream_after_feed(c);
		if (c->dead || c->state == CS_TLS_HANDSHAKE)
			return;
	} while (c->ssl && SSL_has_pending(c->ssl));
	if (c->tls_write_wants_read && !TAILQ_EMPTY(&c->outq))
		conn_flush_soon(c);
}

static void
read_cb(int fd, short ev, void *arg)
{
	conn_read(arg);
}

static void
write_cb(int fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CS_TLS_HANDSHAKE) {
		handshake_step(c);
		return;
	}
	if (c->tls_want_write) {
		c->tls_want_write = 0;
		conn_read(c);
		if (c->dead)
			return;
	}
	conn_flush(c);
}

/* ---- writing ---- */

/* Never closes synchronously: callers may be in the middle of delivering
 * to this connection's session, so the close runs from ev_grace. */
static void
outq_check(struct conn *c)
{
	struct timeval tv = { 0, 0 };

	if (c->outq_bytes > 4 * c2sd_conf.out_queue_max || c->nomem) {
		evtimer_add(c->ev_grace, &tv);
		return;
	}
	if (c->outq_bytes > c2sd_conf.out_queue_max) {
		if (!evtimer_pending(c->ev_grace, NULL)) {
			tv.tv_sec = (time_t)c2sd_conf.out_queue_grace;
			evtimer_add(c->ev_grace, &tv);
		}
	} else if (evtimer_pending(c->ev_grace, NULL))
		evtimer_del(c->ev_grace);
}

static void
grace_cb(int fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CS_CLOSING)
		return;
	log_info("conn %llu: output queue %zu bytes over out-queue-max",
	    (unsigned long long)c->id, c->outq_bytes);
	conn_stream_error(c, c->nomem ? "resource-constraint" :
	    "policy-violation", "Output queue over its limit: client too slow");
}

/* Queue bytes as they are; `skip` bytes of framing precede the stanza. */
int
conn_queue(struct conn *c, const char *data, size_t len, uint16_t skip,
    uint8_t kind, uint8_t stype)
{
	struct chunk *ch;

	if (c->dead || len == 0)
		return -1;
	if ((ch = malloc(sizeof(*ch) + len)) == NULL)
		return -1;
	memcpy(ch->data, data, len);
	ch->len = len;
	ch->off = 0;
	ch->kind = kind;
	ch->stype = stype;
	ch->skip = skip;
	TAILQ_INSERT_TAIL(&c->outq, ch, entry);
	c->outq_bytes += len;
	return 0;
}

/* BOSH: each written piece is one element; it gets its namespace
 * (XEP-0206 section 5: stanzas are qualified by jabber:client inside
 * <body/>) and </stream:stream> becomes the session's termination. */
static int
bosh_append(struct conn *c, const char *data, size_t len, uint8_t kind,
    uint8_t stype)
{
	struct xbuf	b;
	int		r;

	xbuf_init(&b);
	r = xml_fixup(&b, data, len);
	if (r == 1)
		r = conn_queue(c, b.data, b.len, 0, kind, stype);
	else if (r == 2) {
		bosh_closing(c);
		r = 0;
	} else if (r == 0)
		r = 0;	/* whitespace: nothing to carry */
	xbuf_free(&b);
	return r;
}

static int
append(struct conn *c, const char *data, size_t len, uint8_t kind,
    uint8_t stype)
{
	if (c->dead || len == 0)
		return -1;
	if (c->proto == CP_WS)
		return ws_append(c, data, len, kind, stype);
	if (c->proto == CP_BOSH)
		return bosh_append(c, data, len, kind, stype);
	return conn_queue(c, data, len, 0, kind, stype);
}

/* HTTP responses and WebSocket control frames: no XML framing. */
void
conn_write_raw(struct conn *c, const char *data, size_t len)
{
	if (conn_queue(c, data, len, 0, RK_NONE, RS_NONE) == -1) {
		if (!c->dead && len > 0) {
			c->nomem = 1;
			outq_check(c);
		}
		return;
	}
	conn_flush_soon(c);
	outq_check(c);
}

struct chunk *
conn_take_chunk(struct conn *c)
{
	struct chunk *ch;

	if ((ch = TAILQ_FIRST(&c->outq)) == NULL)
		return NULL;
	TAILQ_REMOVE(&c->outq, ch, entry);
	c->outq_bytes -= ch->len;
	return ch;
}

static void
enqueue(struct conn *c, const char *data, size_t len, uint8_t kind,
    uint8_t stype)
{
	if (append(c, data, len, kind, stype) == -1) {
		if (!c->dead && len > 0) {
			log_warn("malloc");
			c->nomem = 1;
			outq_check(c);
			if (kind != RK_NONE)
				session_return(c->session, kind, stype, data,
				    len, "resource-constraint");
		}
		return;
	}
	conn_flush_soon(c);
	outq_check(c);
}

/* For flush_cb only: a small control element (<r/>), no checks, no
 * rescheduling (the flush is already running). */
void
conn_append_raw(struct conn *c, const char *s)
{
	(void)append(c, s, strlen(s), RK_NONE, RS_NONE);
}

void
conn_write(struct conn *c, const char *data, size_t len)
{
	enqueue(c, data, len, RK_NONE, RS_NONE);
}

void
conn_writes(struct conn *c, const char *s)
{
	enqueue(c, s, strlen(s), RK_NONE, RS_NONE);
}

void
conn_write_stanza(struct conn *c, uint8_t kind, uint8_t stype,
    const char *data, size_t len)
{
	enqueue(c, data, len, kind, stype);
}

void
conn_flush_soon(struct conn *c)
{
	if (c->flush_queued || c->dead)
		return;
	c->flush_queued = 1;
	TAILQ_INSERT_TAIL(&flushq, c, flush_entry);
	event_active(ev_flush, EV_TIMEOUT, 1);
}

/* Run flush_cb this turn even with no connection to flush (stream-
 * management reports). */
void
conn_turn_soon(void)
{
	if (ev_flush != NULL)
		event_active(ev_flush, EV_TIMEOUT, 1);
}

static void
flush_cb(int fd, short ev, void *arg)
{
	struct conn *c;

	/* routerd learns what a client may see before the client sees it
	 * (c2sd_smstate.c) */
	if (sm_report_all() > 0)
		link_flush_try(daemon_link);
	while ((c = TAILQ_FIRST(&flushq)) != NULL) {
		if (c->session)
			sm_turn_end(c->session);	/* one <r/> per turn */
		TAILQ_REMOVE(&flushq, c, flush_entry);
		c->flush_queued = 0;
		conn_flush(c);
	}
}

static void
chunk_done(struct conn *c, struct chunk *ch)
{
	TAILQ_REMOVE(&c->outq, ch, entry);
	free(ch);
}

/* Plain TCP: one writev of up to WRITEV_MAX chunks. */
static int
flush_plain(struct conn *c)
{
	struct iovec	 iov[WRITEV_MAX];
	struct chunk	*ch, *next;
	ssize_t		 n;
	int		 i = 0;

	TAILQ_FOREACH(ch, &c->outq, entry) {
		if (i == WRITEV_MAX)
			break;
		iov[i].iov_base = ch->data + ch->off;
		iov[i++].iov_len = ch->len - ch->off;
	}
	if ((n = writev(c->fd, iov, i)) == -1)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	c->outq_bytes -= (size_t)n;
	for (ch = TAILQ_FIRST(&c->outq); ch && n > 0; ch = next) {
		next = TAILQ_NEXT(ch, entry);
		if ((size_t)n >= ch->len - ch->off) {
			n -= (ssize_t)(ch->len - ch->off);
			chunk_done(c, ch);
		} else {
			ch->off += (size_t)n;
			n = 0;
		}
	}
	return 1;
}

static int
flush_tls(struct conn *c)
{
	struct chunk	*ch;
	ssize_t		 n;

	while ((ch = TAILQ_FIRST(&c->outq)) != NULL) {
		n = tls_write(c, ch->data + ch->off, ch->len - ch->off);
		if (n == -2)
			return 0;
		if (n < 0)
			return -1;
		c->outq_bytes -= (size_t)n;
		ch->off += (size_t)n;
		if (ch->off == ch->len)
			chunk_done(c, ch);
	}
	return 1;
}

static void
conn_flush(struct conn *c)
{
	int r;

	if (c->dead)
		return;
	if (c->proto == CP_BOSH) {
		bosh_flush(c);	/* output waits for an HTTP request */
		return;
	}
	if (c->state == CS_TLS_HANDSHAKE && c->ssl != NULL)
		return;	/* the handshake owns the socket */
	while (!TAILQ_EMPTY(&c->outq)) {
		r = c->ssl ? flush_tls(c) : flush_plain(c);
		if (r == -1) {
			conn_destroy(c);
			return;
		}
		if (r == 0) {
			if (!c->tls_write_wants_read)
				event_add(c->ev_write, NULL);
			break;
		}
		c->last_out = c2sd_now_ms();
	}
	outq_check(c);
	if (c->dead || !TAILQ_EMPTY(&c->outq))
		return;
	if (c->state == CS_TLS_HANDSHAKE && c->ssl == NULL)
		conn_start_tls(c);
	else if (c->close_when_flushed)
		conn_linger(c);
}

/*
 * Both closing tags are out and ours is written (RFC 6120 4.4): end TLS
 * and our half of TCP, and let the client close its side.  A close()
 * now would answer the client's own close_notify with a reset, which
 * kills clients that do not ignore SIGPIPE.  What still arrives is read
 * and dropped; EOF, an error or the close timer (C2SD_CLOSE_TIMEOUT,
 * armed by conn_close) ends the connection.  HTTP, WebSocket and BOSH
 * connections end as before.
 */
static void
conn_linger(struct conn *c)
{
	if (c->proto != CP_XMPP || c->lingering) {
		conn_destroy(c);
		return;
	}
	c->lingering = 1;
	tls_close_notify(c);
	if (shutdown(c->fd, SHUT_WR) == -1)
		conn_destroy(c);
}

/* ---- timers ---- */

void
conn_set_timer(struct conn *c, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	if (seconds == 0)
		evtimer_del(c->ev_timer);
	else
		evtimer_add(c->ev_timer, &tv);
}

static void
timer_cb(int fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CS_CLOSING || c->proto == CP_HTTP) {
		conn_destroy(c);	/* HTTP: idle too long */
		return;
	}
	if (c->user == NULL) {
		log_info("conn %llu from %s: not authenticated in time",
		    (unsigned long long)c->id, c->peer);
		if (c->state == CS_TLS_HANDSHAKE)
			conn_destroy(c);
		else
			conn_stream_error(c, "connection-timeout",
			    "Authentication took too long");
	}
}

/* Whitespace keepalive (RFC 6120 4.6.1), from the idle sweep: a space on
 * a stream that wrote nothing for `keepalive` seconds (sent 0-5 s after
 * that, the sweep's period). */
static void
keepalive(struct conn *c, uint64_t now)
{
	if (c2sd_conf.keepalive == 0 || c->fd == -1 || c->dead ||
	    !c->hdr_sent || c->state == CS_CLOSING ||
	    c->state == CS_TLS_HANDSHAKE || !TAILQ_EMPTY(&c->outq))
		return;
	if (now - c->last_out >= c2sd_conf.keepalive * 1000 - 500)
		conn_write(c, " ", 1);
}

void
conn_authenticated(struct conn *c)
{
	if (c->counted_unauth) {
		ip_decr(c->peer);
		c->counted_unauth = 0;
	}
	conn_set_timer(c, 0);
}

/* ---- closing ---- */

void
conn_stream_error(struct conn *c, const char *cond, const char *text)
{
	struct xbuf b;

	if (c->state == CS_CLOSING || c->dead)
		return;
	if (!c->hdr_sent)
		stream_send_header(c, NULL);	/* RFC 6120 4.9.1.2 */
	log_info("conn %llu from %s: stream error %s%s%s",
	    (unsigned long long)c->id, c->peer, cond, text ? ": " : "",
	    text ? text : "");
	xbuf_init(&b);
	xbuf_addf(&b, "<stream:error><%s xmlns='%s'/>", cond, NS_STREAMS);
	if (text) {
		xbuf_addf(&b, "<text xmlns='%s' xml:lang='en'>", NS_STREAMS);
		xbuf_add_text(&b, text, strlen(text));
		xbuf_adds(&b, "</text>");
	}
	xbuf_adds(&b, "</stream:error>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	conn_close(c);
}

/* Send our closing tag and give the client C2SD_CLOSE_TIMEOUT seconds to
 * send its own (RFC 6120 4.4) before the TCP connection goes. */
void
conn_close(struct conn *c)
{
	if (c->state == CS_CLOSING || c->dead)
		return;
	if (c->sasl_corr)
		sasl_abort(c);
	/* The session stays bound until the connection goes (conn_destroy),
	 * so what is still queued can be bounced under its name; it will not
	 * hibernate: a closed stream is not resumable. */
	c->no_resume = 1;
	if (!c->hdr_sent)
		stream_send_header(c, NULL);
	conn_writes(c, "</stream:stream>");
	c->state = CS_CLOSING;
	conn_set_timer(c, C2SD_CLOSE_TIMEOUT);
}

/* Queued stanzas that never reached the client: messages go back for
 * offline storage, iq requests get an error (RFC 6120 8.3; never for
 * type=error), unless stream management keeps them in its unacked queue. */
static void
bounce_outq(struct conn *c)
{
	struct chunk	*ch;
	int		 sm = c->session && c->session->sm;

	while ((ch = TAILQ_FIRST(&c->outq)) != NULL) {
		if (ch->kind != RK_NONE && !sm)
			session_return(c->session, ch->kind, ch->stype,
			    ch->data + ch->skip, ch->len - ch->skip,
			    "service-unavailable");
		chunk_done(c, ch);
	}
	c->outq_bytes = 0;
}

/* Stream management took responsibility for the queued stanzas. */
void
conn_forget_stanzas(struct conn *c)
{
	struct chunk *ch;

	TAILQ_FOREACH(ch, &c->outq, entry)
		ch->kind = RK_NONE;
}

static void
conn_free_events(struct conn *c)
{
	struct event **evs[] = { &c->ev_read, &c->ev_write, &c->ev_timer,
	    &c->ev_grace, &c->ev_rate };
	size_t i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i]) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	}
}

/* End the connection now; the memory goes on the next loop turn (reap_cb)
 * so that callers up the stack, the parser among them, may still look at
 * c->dead. */
void
conn_destroy(struct conn *c)
{
	size_t i;
	struct event *evs[] = { c->ev_read, c->ev_write, c->ev_timer,
	    c->ev_grace, c->ev_rate };

	if (c->dead)
		return;
	c->dead = 1;
	if (c->sasl_corr)
		sasl_abort(c);
	bounce_outq(c);		/* while the session is still bound */
	if (c->session)
		session_conn_gone(c, c->no_resume);	/* may hibernate */
	if (c->flush_queued) {
		TAILQ_REMOVE(&flushq, c, flush_entry);
		c->flush_queued = 0;
	}
	if (c->counted_unauth) {
		ip_decr(c->peer);
		c->counted_unauth = 0;
	}
	if (c->proto == CP_BOSH)
		bosh_free(c);	/* answers the requests it holds */
	else if (c->bosh_owner)
		bosh_http_gone(c);
	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_del(evs[i]);
	TAILQ_REMOVE(&conns, c, entry);
	TAILQ_REMOVE(&conn_hash[c->id % C2SD_SESSION_BUCKETS], c, hash_entry);
	TAILQ_INSERT_TAIL(&reapq, c, entry);
	event_active(ev_reap, EV_TIMEOUT, 1);
}

static void
reap_cb(int fd, short ev, void *arg)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&reapq)) != NULL) {
		TAILQ_REMOVE(&reapq, c, entry);
		conn_free_events(c);
		while (c->npend > 0)
			xnode_free(c->pend[--c->npend]);
		tls_conn_free(c);
		if (c->xs)
			xml_stream_free(c->xs);
		ws_free(c);
		http_free(c);
		free(c->user);
		free(c->reg_iq_id);
		free(c->bind_iq_id);
		if (c->fd != -1)
			close(c->fd);
		nconns--;
		nfreed++;
		log_debug("conn %llu closed", (unsigned long long)c->id);
		free(c);
	}
	if (listeners_paused && nconns < c2sd_conf.max_connections &&
	    !evtimer_pending(ev_accept_retry, NULL))
		listeners_resume();
}

/* See the file header: a parser is 10 KiB, an idle session's TLS state
 * about as much.  Only established XMPP and WebSocket streams sleep;
 * negotiation is short and restarts its parser anyway. */
static void
sweep_cb(int fd, short ev, void *arg)
{
	struct conn	*c;
	size_t		 slept = 0;
	uint64_t	 now = c2sd_now_ms();

	TAILQ_FOREACH(c, &conns, entry) {
		keepalive(c, now);
		if (!c->read_recently && c->xs != NULL && !c->in_feed &&
		    c->state == CS_ESTABLISHED &&
		    (c->proto == CP_XMPP || c->proto == CP_WS) &&
		    xml_stream_sleep(c->xs) == 1)
			slept++;
		c->read_recently = 0;
	}
	if (slept > 0 || nfreed > 0)
		(void)malloc_trim(0);
	nfreed = 0;
}

/* Shutdown: tell every client, push what we can, close. */
void
conn_stop_all(void)
{
	struct conn *c;
	size_t i;

	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].ev)
			event_free(listeners[i].ev);
		listeners[i].ev = NULL;
		close(listeners[i].fd);
	}
	nlisteners = 0;
	if (ev_sweep != NULL) {
		event_free(ev_sweep);
		ev_sweep = NULL;
	}
	/* routerd learns what clients may have seen before they see more */
	if (sm_report_all() > 0)
		link_flush_try(daemon_link);
	while ((c = TAILQ_FIRST(&conns)) != NULL) {
		/* A resumable session outlives us in routerd (parked, then
		 * handed to the next c2sd): its client sees the connection
		 * drop, not the stream end, and resumes. */
		if (!session_keep_resumable(c) &&
		    c->state != CS_TLS_HANDSHAKE && c->proto != CP_HTTP)
			conn_stream_error(c, "system-shutdown", NULL);
		if (!c->dead)
			conn_flush(c);
		conn_destroy(c);
	}
	reap_cb(-1, 0, NULL);
}
