/*
 * c2sd_bosh.c - XMPP over BOSH (XEP-0124, XEP-0206) on the web listeners.
 *
 * c2sd_http.c calls bosh_request() for each POST /http-bind.  A BOSH
 * session is a struct conn with no socket (CP_BOSH, conn_new_virtual):
 * the children of each <body/> are handed to the same stream code as a
 * TCP client's elements, and what the stream code writes waits in the
 * session's output queue until bosh_flush() can answer a held request.
 *
 * Kept here (XEP-0124): requests are processed in 'rid' order, at most
 * 'requests' = hold + 1 at a time (section 11; more is policy-violation);
 * the oldest held request is answered when there is output, when more
 * than 'hold' are held, or after 'wait' seconds (section 7); with none
 * held for 'inactivity' seconds (bosh-inactivity) the session ends; a
 * 'pause' (section 10) answers every held request at once and stretches
 * that one idle period, up to 'maxpause' (more is policy-violation); the last 'requests' responses are kept so a repeated 'rid' gets
 * the same answer (section 14.3), any other rid outside the window, and
 * any unknown sid, is item-not-found (HTTP 404, section 17); an 'ack'
 * tells the client which rid we answered last when it lags (section 9).
 * XEP-0206: xmpp:restart='true' restarts the stream after SASL; a stream
 * error ends the session with condition='remote-stream-error'.
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "c2sd.h"

#define NS_HTTPBIND	"http://jabber.org/protocol/httpbind"
#define NS_XBOSH	"urn:xmpp:xbosh"
#define BOSH_MAX_WAIT	60	/* s */
#define BOSH_HOLD	1
#define BOSH_REQUESTS	(BOSH_HOLD + 1)
#define BOSH_MAXPAUSE	120	/* s, or bosh-inactivity if longer */
#define BOSH_POLLING	2	/* s */
#define BOSH_SID_LEN	16	/* random bytes */

struct held_req {
	struct conn	*http;
	uint64_t	 rid;
	uint64_t	 since_ms;
	int		 done;		/* body processed */
	struct xnode	*body;		/* until processed */
};

struct kept {
	uint64_t	 rid;
	char		*data;
	size_t		 len;
};

struct bosh {
	TAILQ_ENTRY(bosh) entry;
	struct conn	*conn;
	char		 sid[2 * BOSH_SID_LEN + 1];
	uint64_t	 rid;		/* highest rid processed */
	unsigned	 wait;
	unsigned	 pause;		/* s, 0 = none */
	int		 pausing;	/* answer every held request now */
	const char	*cond;		/* terminal condition, NULL = none */
	int		 created;	/* first response is out */
	int		 terminating;
	int		 stream_error;
	int		 ack;		/* the client asked for acks */
	struct held_req	 held[BOSH_REQUESTS];
	size_t		 nheld;		/* sorted by rid */
	struct kept	 kept[BOSH_REQUESTS];
	struct event	*ev_wait;
	struct event	*ev_idle;
};
TAILQ_HEAD(boshlist, bosh);
static struct boshlist sessions = TAILQ_HEAD_INITIALIZER(sessions);

static void	schedule(struct bosh *);

static struct bosh *
bosh_find(const char *sid)
{
	struct bosh *b;

	TAILQ_FOREACH(b, &sessions, entry)
		if (strcmp(b->sid, sid) == 0)
			return b;
	return NULL;
}

/* ---- answers ---- */

static unsigned
maxpause(void)
{
	return c2sd_conf.bosh_inactivity > BOSH_MAXPAUSE ?
	    (unsigned)c2sd_conf.bosh_inactivity : BOSH_MAXPAUSE;
}

static void
body_open(struct xbuf *x, struct bosh *b, const char *type,
    const char *cond)
{
	xbuf_adds(x, "<body xmlns='" NS_HTTPBIND "'");
	if (b && !b->created) {	/* XEP-0124 7.1, XEP-0206 5 */
		xbuf_addf(x, " sid='%s' wait='%u' requests='%d' hold='%d'"
		    " inactivity='%u' polling='%d' maxpause='%u' ver='1.11'"
		    " authid='%s' secure='true' xmpp:version='1.0'"
		    " xmpp:restartlogic='true' xmlns:xmpp='" NS_XBOSH "'"
		    " xmlns:stream='" XMLNS_STREAM "' from='", b->sid,
		    b->wait, BOSH_REQUESTS, BOSH_HOLD,
		    (unsigned)c2sd_conf.bosh_inactivity, BOSH_POLLING,
		    maxpause(), b->conn->stream_id);
		xbuf_add_attr(x, b->conn->host->name);
		xbuf_adds(x, "'");
		b->created = 1;
	}
	if (type)
		xbuf_addf(x, " type='%s'", type);
	if (cond)
		xbuf_addf(x, " condition='%s'", cond);
}

/* A terminal answer to a request that belongs to no session. */
static void
answer_terminal(struct conn *http, int status, const char *cond)
{
	struct xbuf x;

	log_info("conn %llu from %s: BOSH %s", (unsigned long long)http->id,
	    http->peer, cond);
	xbuf_init(&x);
	body_open(&x, NULL, "terminate", cond);
	xbuf_adds(&x, "/>");
	if (x.failed)
		conn_destroy(http);
	else
		http_respond(http, status, "text/xml; charset=utf-8", NULL,
		    x.data, x.len);
	xbuf_free(&x);
}

static void
keep(struct bosh *b, uint64_t rid, const char *data, size_t len)
{
	struct kept *k = &b->kept[rid % BOSH_REQUESTS];

	free(k->data);
	k->rid = rid;
	k->len = len;
	if ((k->data = malloc(len)) != NULL)
		memcpy(k->data, data, len);
}

static void
unhold(struct bosh *b, size_t i)
{
	xnode_free(b->held[i].body);
	b->held[i].http->bosh_owner = NULL;
	memmove(&b->held[i], &b->held[i + 1],
	    (b->nheld - i - 1) * sizeof(b->held[0]));
	b->nheld--;
}

/* Answer held request `i` with everything queued (all of it: a body may
 * carry many stanzas). */
static void
answer(struct bosh *b, size_t i)
{
	struct conn	*c = b->conn, *http = b->held[i].http;
	uint64_t	 rid = b->held[i].rid;
	struct chunk	*ch;
	struct xbuf	 x;
	int		 term;

	unhold(b, i);
	term = b->terminating;
	xbuf_init(&x);
	body_open(&x, b, term ? "terminate" : NULL, !term ? NULL :
	    b->stream_error ? "remote-stream-error" : b->cond);
	if (b->ack && rid < b->rid)
		xbuf_addf(&x, " ack='%" PRIu64 "'", b->rid);
	xbuf_adds(&x, ">");
	while ((ch = conn_take_chunk(c)) != NULL) {
		xbuf_add(&x, ch->data, ch->len);
		free(ch);
	}
	xbuf_adds(&x, "</body>");
	c->last_out = c2sd_now_ms();
	if (x.failed) {
		conn_destroy(http);
		c->nomem = 1;
	} else {
		keep(b, rid, x.data, x.len);
		http_respond(http, 200, "text/xml; charset=utf-8", NULL,
		    x.data, x.len);
	}
	xbuf_free(&x);
}

/* Called by conn_flush for the session: answer what can be answered. */
void
bosh_flush(struct conn *c)
{
	struct bosh	*b = c->bosh;
	size_t		 i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nheld && !b->held[i].done; i++)
		;
	if (i < b->nheld && (!TAILQ_EMPTY(&c->outq) || b->terminating))
		answer(b, i);
	while (b->pausing && b->nheld > 0 && b->held[0].done)
		answer(b, 0);	/* XEP-0124 10: all of them, at once */
	b->pausing = 0;
	/* XEP-0124 11: no more than 'hold' waiting */
	while (b->nheld > BOSH_HOLD && b->held[0].done)
		answer(b, 0);
	if (b->terminating && b->nheld == 0 && TAILQ_EMPTY(&c->outq) &&
	    b->created) {
		conn_destroy(c);
		return;
	}
	schedule(b);
}

/* ---- timers: wait and inactivity ---- */

static void
wait_cb(int fd, short ev, void *arg)
{
	struct bosh	*b = arg;
	uint64_t	 now = c2sd_now_ms();

	while (b->nheld > 0 && b->held[0].done &&
	    now - b->held[0].since_ms >= (uint64_t)b->wait * 1000 - 50)
		answer(b, 0);
	schedule(b);
}

static void
idle_cb(int fd, short ev, void *arg)
{
	struct bosh *b = arg;

	log_info("conn %llu from %s: BOSH session inactive",
	    (unsigned long long)b->conn->id, b->conn->peer);
	conn_destroy(b->conn);	/* unclean: stream management may resume */
}

static void
schedule(struct bosh *b)
{
	struct timeval	tv = { 0, 0 };
	uint64_t	due, now = c2sd_now_ms();

	if (b->conn->dead)
		return;
	if (b->nheld > 0 && b->held[0].done) {
		due = b->held[0].since_ms + (uint64_t)b->wait * 1000;
		if (due > now) {
			tv.tv_sec = (time_t)((due - now) / 1000);
			tv.tv_usec = (suseconds_t)((due - now) % 1000) * 1000;
		}
		evtimer_add(b->ev_wait, &tv);
	} else
		evtimer_del(b->ev_wait);
	if (b->nheld == 0) {
		if (!evtimer_pending(b->ev_idle, NULL)) {
			tv.tv_sec = b->pause ? b->pause :
			    (time_t)c2sd_conf.bosh_inactivity;
			tv.tv_usec = 0;
			evtimer_add(b->ev_idle, &tv);
		}
	} else
		evtimer_del(b->ev_idle);
}

/* ---- requests ---- */

/* The stream header a TCP client would have sent (XEP-0206 5). */
static void
stream_start(struct conn *c)
{
	struct xnode *hdr;

	if ((hdr = xnode_new("stream", XMLNS_STREAM)) == NULL) {
		conn_destroy(c);
		return;
	}
	xnode_set_attr(hdr, "to", c->host->name);
	xnode_set_attr(hdr, "version", "1.0");
	c->in_feed = 1;
	stream_callbacks.stream_open(c, hdr);
	c->in_feed = 0;
	xnode_free(hdr);
}

/* XEP-0124 10: the client will send nothing for `v` seconds.  Over
 * 'maxpause' (or not a number) the session ends with policy-violation. */
static int
pause_request(struct bosh *b, const char *v)
{
	char		*end;
	unsigned long	 n;

	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || n == 0 ||
	    n > maxpause()) {
		log_info("conn %llu from %s: BOSH pause '%s' refused",
		    (unsigned long long)b->conn->id, b->conn->peer, v);
		b->cond = "policy-violation";
		conn_close(b->conn);	/* not resumable either */
		b->terminating = 1;
		return -1;
	}
	b->pause = (unsigned)n;
	b->pausing = 1;
	return 0;
}

/* Feed the children of a request's <body/> to the stream. */
static void
process_body(struct bosh *b, struct xnode *body)
{
	struct conn	*c = b->conn;
	struct xnode	*n;
	const char	*v;

	if ((v = xnode_attr(body, "pause")) != NULL &&
	    pause_request(b, v) == -1)
		return;
	c->in_feed = 1;
	while (!c->dead && (n = xnode_first_elem(body)) != NULL) {
		xnode_unlink(n);
		if (n->ns && strcmp(n->ns, NS_HTTPBIND) == 0) {
			free(n->ns);
			n->ns = strdup(XMLNS_CLIENT);
		}
		if (n->ns == NULL) {
			xnode_free(n);
			continue;
		}
		stream_callbacks.stanza(c, n);
	}
	c->in_feed = 0;
	if (c->dead)
		return;
	if ((v = xnode_attr_ns(body, NS_XBOSH, "restart")) != NULL &&
	    strcmp(v, "true") == 0 && c->state == CS_WAIT_HEADER)
		stream_start(c);
	if (c->dead)
		return;		/* `b` is gone with it (bosh_free) */
	if ((v = xnode_attr(body, "type")) != NULL &&
	    strcmp(v, "terminate") == 0 && c->state != CS_CLOSING) {
		conn_close(c);	/* a clean end: no hibernation */
		b->terminating = 1;
	}
}

/* Process held requests whose rid is next, in order.  A session that
 * dies meanwhile frees `b` (bosh_free); its conn lives until the reaper
 * runs, so only `c` is looked at after processing. */
static void
process_ready(struct bosh *b)
{
	struct conn	*c = b->conn;
	struct xnode	*body;
	size_t		 i;

	for (i = 0; i < b->nheld; i++) {
		if (b->held[i].done)
			continue;
		if (b->held[i].rid != b->rid + 1)
			break;
		b->rid++;
		b->held[i].done = 1;
		body = b->held[i].body;
		b->held[i].body = NULL;
		process_body(b, body);
		xnode_free(body);
		if (c->dead)
			return;
		if (b->held[i].http && c->user != NULL)
			conn_authenticated(b->held[i].http);
	}
	conn_flush_soon(c);
}

static int
hold_request(struct bosh *b, struct conn *http, uint64_t rid,
    struct xnode *body)
{
	size_t i;

	if (b->nheld == BOSH_REQUESTS)
		return -1;
	for (i = b->nheld; i > 0 && b->held[i - 1].rid > rid; i--)
		b->held[i] = b->held[i - 1];
	b->held[i] = (struct held_req){ .http = http, .rid = rid,
	    .since_ms = c2sd_now_ms(), .body = body };
	b->nheld++;
	b->pause = 0;	/* the client is back: the usual inactivity again */
	http->bosh_owner = b->conn;
	conn_set_timer(http, 0);	/* the wait timer answers it */
	return 0;
}

static void
session_create(struct conn *http, struct xnode *body, uint64_t rid)
{
	struct bosh	*b;
	struct conn	*c;
	struct host	*h = NULL;
	const char	*to = xnode_attr(body, "to"), *v;
	char		 dom[JID_PART_MAX + 1];

	if (to && jid_prep_domain(to, strlen(to), dom) == 0)
		h = host_find(dom);
	if (h == NULL) {
		xnode_free(body);
		answer_terminal(http, 200, "host-unknown");
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (c = conn_new_virtual(http->peer, h)) == NULL) {
		free(b);
		xnode_free(body);
		answer_terminal(http, 200, "policy-violation");
		return;
	}
	b->conn = c;
	c->bosh = b;
	c->secure = http->secure;
	c2sd_random_hex(b->sid, BOSH_SID_LEN);
	b->rid = rid - 1;
	v = xnode_attr(body, "wait");
	b->wait = v ? (unsigned)strtoul(v, NULL, 10) : BOSH_MAX_WAIT;
	if (b->wait == 0 || b->wait > BOSH_MAX_WAIT)
		b->wait = BOSH_MAX_WAIT;
	b->ack = (v = xnode_attr(body, "ack")) != NULL && strcmp(v, "1") == 0;
	b->ev_wait = evtimer_new(daemon_base, wait_cb, b);
	b->ev_idle = evtimer_new(daemon_base, idle_cb, b);
	TAILQ_INSERT_TAIL(&sessions, b, entry);
	if (b->ev_wait == NULL || b->ev_idle == NULL) {
		xnode_free(body);
		conn_destroy(c);
		answer_terminal(http, 200, "internal-server-error");
		return;
	}
	log_debug("conn %llu: BOSH session from %s", (unsigned long long)c->id,
	    http->peer);
	stream_start(c);
	if (c->dead) {		/* out of memory: `b` is gone */
		xnode_free(body);
		answer_terminal(http, 200, "internal-server-error");
		return;
	}
	(void)hold_request(b, http, rid, body);
	process_ready(b);
}

/* A request for an existing session; `body` is ours. */
static void
session_request(struct conn *http, struct bosh *b, struct xnode *body,
    uint64_t rid)
{
	struct kept *k = &b->kept[rid % BOSH_REQUESTS];
	size_t i;

	if (rid <= b->rid) {
		for (i = 0; i < b->nheld; i++)	/* not answered yet */
			if (b->held[i].rid == rid)
				break;
		xnode_free(body);
		if (i == b->nheld && k->rid == rid && k->data) {
			http_respond(http, 200, "text/xml; charset=utf-8",
			    NULL, k->data, k->len);	/* section 14.3 */
			return;
		}
		/* processed, but its connection broke before the answer */
		if (i == b->nheld && rid + BOSH_REQUESTS > b->rid &&
		    hold_request(b, http, rid, NULL) == 0) {
			for (i = 0; b->held[i].rid != rid; i++)
				;
			b->held[i].done = 1;
			conn_flush_soon(b->conn);
			return;
		}
		answer_terminal(http, 404, "item-not-found");
		conn_destroy(b->conn);
		return;
	}
	if (rid > b->rid + BOSH_REQUESTS) {	/* outside the window */
		xnode_free(body);
		answer_terminal(http, 404, "item-not-found");
		conn_destroy(b->conn);
		return;
	}
	if (hold_request(b, http, rid, body) == -1) {
		xnode_free(body);
		answer_terminal(http, 200, "policy-violation");
		conn_destroy(b->conn);
		return;
	}
	process_ready(b);
}

static int
parse_rid(const char *v, uint64_t *rid)
{
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	*rid = strtoull(v, &end, 10);
	/* XEP-0124 7.1: below 2^53 so it cannot overflow in clients */
	return *end != '\0' || *rid == 0 || *rid >= (1ULL << 53) ? -1 : 0;
}

void
bosh_request(struct conn *http, const struct http_request *r,
    const char *data, size_t len)
{
	struct xnode	*body;
	struct bosh	*b;
	const char	*sid;
	uint64_t	 rid;

	body = xml_parse_element(data, len, &(struct xml_limits){
	    .max_stanza = c2sd_conf.max_stanza_size });
	if (body == NULL || body->ns == NULL ||
	    strcmp(body->name, "body") != 0 ||
	    strcmp(body->ns, NS_HTTPBIND) != 0 ||
	    parse_rid(xnode_attr(body, "rid"), &rid) == -1) {
		xnode_free(body);
		answer_terminal(http, 400, "bad-request");
		return;
	}
	if ((sid = xnode_attr(body, "sid")) == NULL) {
		session_create(http, body, rid);
		return;
	}
	if ((b = bosh_find(sid)) == NULL || b->conn->dead ||
	    strcmp(b->conn->peer, http->peer) != 0) {
		xnode_free(body);
		answer_terminal(http, 404, "item-not-found");
		return;
	}
	session_request(http, b, body, rid);
}

/* ---- the end ---- */

/* The stream wrote </stream:stream>: the next answer terminates. */
void
bosh_closing(struct conn *c)
{
	struct bosh	*b = c->bosh;
	struct chunk	*ch;

	if (b == NULL)
		return;
	TAILQ_FOREACH(ch, &c->outq, entry)
		if (ch->len > 13 && strncmp(ch->data, "<stream:error", 13) == 0)
			b->stream_error = 1;
	b->terminating = 1;
	conn_flush_soon(c);
}

/* An HTTP connection holding one of our requests went away. */
void
bosh_http_gone(struct conn *http)
{
	struct conn	*c = http->bosh_owner;
	struct bosh	*b = c ? c->bosh : NULL;
	size_t		 i;

	http->bosh_owner = NULL;
	if (b == NULL)
		return;
	for (i = 0; i < b->nheld; i++)
		if (b->held[i].http == http) {
			unhold(b, i);
			break;
		}
	if (!c->dead)
		schedule(b);
}

/* The session's connection is being destroyed: answer what we hold. */
void
bosh_free(struct conn *c)
{
	struct bosh	*b = c->bosh;
	size_t		 i;

	if (b == NULL)
		return;
	b->terminating = 1;
	while (b->nheld > 0)
		answer(b, 0);
	TAILQ_REMOVE(&sessions, b, entry);
	for (i = 0; i < BOSH_REQUESTS; i++)
		free(b->kept[i].data);
	if (b->ev_wait)
		event_free(b->ev_wait);
	if (b->ev_idle)
		event_free(b->ev_idle);
	free(b);
	c->bosh = NULL;
}
