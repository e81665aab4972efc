/*
 * s2sd_out.c - routes to remote domains and the streams we open to them
 * (RFC 6120 server-to-server, we are the initiating entity).
 *
 * A route is a (local domain, remote domain) pair: the stream it opens
 * authenticates `local` to `remote` with dialback (XEP-0220) after
 * STARTTLS.  While the stream is set up, stanzas wait in the route's
 * queue, bounded in count and bytes; setup has unauth-timeout seconds.
 * When it fails, every waiting stanza bounces to its sender with
 * remote-server-not-found (no server, refused, not authenticated) or
 * remote-server-timeout, so nothing vanishes.  Dialback verifications
 * for streams others opened to us (s2sd_in.c) travel on the same route,
 * which may carry db:verify before it is itself authenticated.  Once
 * written to a stream, a stanza stays on the stream's unsent list until
 * the socket took its last byte; a stream that dies first, or whose
 * remote stops reading (output at s2s-max-outbuf), bounces that list.
 *
 * Invariants: r->conn and conn->route point at each other or are unset;
 * a route with queued stanzas or pending verifies is being set up
 * (r->setup) or authenticated; routes are reused, never freed, so a DNS
 * answer can never find its route gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "s2sd.h"

static struct s2s_remotelist	remotes = TAILQ_HEAD_INITIALIZER(remotes);
static size_t			nremotes;

static void	deadline_cb(int, short, void *);
static void	qstanza_free(struct qstanza *);
static void	route_fail(struct s2s_remote *, const char *cond);

static int
route_idle(const struct s2s_remote *r)
{
	return r->conn == NULL && !r->setup && r->resolving == 0 &&
	    r->qcount == 0 && r->nverifies == 0;
}

static struct s2s_remote *
route_get(const char *local, const char *remote)
{
	struct s2s_remote *r;

	TAILQ_FOREACH(r, &remotes, entry)
		if (strcmp(r->local, local) == 0 &&
		    strcmp(r->remote, remote) == 0)
			return r;
	if (nremotes < S2SD_MAX_REMOTES) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return NULL;
		if ((r->ev_deadline = evtimer_new(daemon_base, deadline_cb,
		    r)) == NULL) {
			free(r);
			return NULL;
		}
		TAILQ_INIT(&r->queue);
		nremotes++;
	} else {
		/* reuse the least recently used idle route */
		TAILQ_FOREACH_REVERSE(r, &remotes, s2s_remotelist, entry)
			if (route_idle(r))
				break;
		if (r == NULL)
			return NULL;
		TAILQ_REMOVE(&remotes, r, entry);
	}
	snprintf(r->local, sizeof(r->local), "%s", local);
	snprintf(r->remote, sizeof(r->remote), "%s", remote);
	TAILQ_INSERT_HEAD(&remotes, r, entry);
	return r;
}

static void
route_setup(struct s2s_remote *r)
{
	struct timeval tv = { (time_t)s2sd_conf.unauth_timeout, 0 };

	if (r->setup || (r->conn != NULL && r->authed))
		return;
	r->setup = 1;
	evtimer_add(r->ev_deadline, &tv);
	if (r->conn == NULL && r->resolving == 0) {
		log_debug("%s -> %s: resolving", r->local, r->remote);
		dns_resolve(r);
	}
}

static struct qstanza *
qstanza_new(struct frame *f, const uint8_t *body, size_t len)
{
	struct qstanza *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->kind = f->hdr.kind;
	q->stype = f->hdr.stype;
	q->from = strdup(f->from);
	q->to = strdup(f->to);
	q->body = malloc(len);
	if (q->from == NULL || q->to == NULL || q->body == NULL) {
		qstanza_free(q);
		return NULL;
	}
	memcpy(q->body, body, len);
	q->len = len;
	return q;
}

static void
qstanza_free(struct qstanza *q)
{
	free(q->from);
	free(q->to);
	free(q->body);
	free(q);
}

static int
enqueue(struct s2s_remote *r, struct frame *f, const uint8_t *body,
    size_t len)
{
	struct qstanza *q;

	if (r->qcount >= S2SD_MAX_QUEUE ||
	    r->qbytes + len > S2SD_MAX_QUEUE_BYTES ||
	    (q = qstanza_new(f, body, len)) == NULL)
		return -1;
	TAILQ_INSERT_TAIL(&r->queue, q, entry);
	r->qcount++;
	r->qbytes += len;
	return 0;
}

/*
 * Hand a stanza to the stream and keep it on the stream's unsent list
 * until its last byte is written (out_written), so that a stream that
 * dies first bounces it instead of losing it.  The list holds no more
 * than the output buffer does, so it is bounded by s2s-max-outbuf too.
 */
static void
stream_put(struct s2s_conn *c, struct qstanza *q)
{
	conn_write(c, q->body, q->len);
	if (c->dead) {		/* conn_write closed it: bounce this one too */
		stanza_bounce_raw(q->kind, q->stype, q->from, q->to, q->body,
		    q->len, "remote-server-timeout");
		qstanza_free(q);
		return;
	}
	q->end = c->wtotal;
	TAILQ_INSERT_TAIL(&c->unsent, q, entry);
}

/* The socket took bytes: stanzas wholly written are delivered as far as
 * we can tell (RFC 6120 has no acknowledgement between servers). */
void
out_written(struct s2s_conn *c)
{
	struct qstanza *q;

	while ((q = TAILQ_FIRST(&c->unsent)) != NULL && q->end <= c->wdone) {
		TAILQ_REMOVE(&c->unsent, q, entry);
		qstanza_free(q);
	}
}

/* The stream is gone with stanzas not wholly written: they bounce. */
void
out_unsent_bounce(struct s2s_conn *c)
{
	struct qstanza	*q;
	size_t		 n = 0;

	while ((q = TAILQ_FIRST(&c->unsent)) != NULL) {
		TAILQ_REMOVE(&c->unsent, q, entry);
		stanza_bounce_raw(q->kind, q->stype, q->from, q->to, q->body,
		    q->len, "remote-server-timeout");
		qstanza_free(q);
		n++;
	}
	log_info("%s -> %s: stream closed with %zu stanza(s) unsent, bounced",
	    c->local, c->remote, n);
}

/*
 * The remote stopped reading: our output for it reached s2s-max-outbuf.
 * Waiting longer would only grow what we hold, so the stream is closed
 * (its unsent stanzas bounce) and so does the stanza that did not fit;
 * the next stanza for the domain sets up a new stream.
 */
static void
stream_overflow(struct s2s_remote *r, struct frame *f)
{
	struct s2s_conn *c = r->conn;

	log_info("%s -> %s: output over %zu bytes, the remote does not read; "
	    "stream closed", r->local, r->remote, s2sd_conf.max_outbuf);
	stanza_bounce(f, "resource-constraint");
	conn_stream_error(c, "resource-constraint", NULL);	/* if it fits */
	conn_close(c);
}

/* A stanza for `remote` from our `local` domain (s2sd.c). */
void
remote_send(struct frame *f, const char *local, const char *remote)
{
	struct s2s_remote	*r;
	struct qstanza		*q;
	const uint8_t		*body;
	size_t			 len;

	frame_get_rest(f, &body, &len);
	if ((r = route_get(local, remote)) == NULL) {
		stanza_bounce(f, "resource-constraint");
		return;
	}
	if (len > s2sd_conf.max_outbuf) {
		/* could never fit: not a sign that the remote is stuck */
		stanza_bounce(f, "resource-constraint");
		return;
	}
	if (r->conn != NULL && r->authed) {
		if (!conn_has_room(r->conn, len)) {
			stream_overflow(r, f);
			return;
		}
		if ((q = qstanza_new(f, body, len)) == NULL) {
			stanza_bounce(f, "resource-constraint");
			return;
		}
		stream_put(r->conn, q);
		if (r->conn != NULL)
			conn_set_timer(r->conn,
			    (unsigned)s2sd_conf.idle_timeout);
		return;
	}
	if (enqueue(r, f, body, len) == -1) {
		log_info("%s -> %s: queue full", local, remote);
		stanza_bounce(f, "resource-constraint");
		return;
	}
	route_setup(r);
}

static void
queue_drop(struct s2s_remote *r, const char *cond)
{
	struct qstanza *q;

	while ((q = TAILQ_FIRST(&r->queue)) != NULL) {
		TAILQ_REMOVE(&r->queue, q, entry);
		if (cond == NULL && r->conn != NULL) {
			stream_put(r->conn, q);	/* now the stream's */
			continue;
		}
		stanza_bounce_raw(q->kind, q->stype, q->from, q->to,
		    q->body, q->len, cond != NULL ? cond :
		    "remote-server-timeout");
		qstanza_free(q);
	}
	r->qcount = 0;
	r->qbytes = 0;
}

/* Setup failed: bounce what waited, fail the verifications. */
static void
route_fail(struct s2s_remote *r, const char *cond)
{
	int i;

	log_info("%s -> %s: %s (%zu stanza(s) bounced)", r->local, r->remote,
	    cond, r->qcount);
	/* unreachable: its users' presence here is out of date (pepd) */
	stanza_domain_lost(r->local, r->remote);
	r->setup = 0;
	evtimer_del(r->ev_deadline);
	queue_drop(r, cond);
	for (i = 0; i < r->nverifies; i++) {
		in_verify_result(r->verifies[i].in_id, r->local, r->remote, 0);
		free(r->verifies[i].key);
	}
	r->nverifies = 0;
}

static void
deadline_cb(int fd, short ev, void *arg)
{
	struct s2s_remote	*r = arg;
	struct s2s_conn		*c = r->conn;

	if (c != NULL) {
		r->conn = NULL;
		c->route = NULL;
		conn_close(c);
	}
	route_fail(r, "remote-server-timeout");
}

/* Connect to the current address, or the next ones. */
static void
try_connect(struct s2s_remote *r)
{
	while (r->addr < r->naddrs) {
		if ((r->conn = conn_connect(&r->addrs[r->addr], r)) != NULL)
			return;
		r->addr++;
	}
	if (dns_next_target(r) == -1)
		route_fail(r, "remote-server-not-found");
}

/* DNS found addresses (s2sd_dns.c). */
void
remote_resolved(struct s2s_remote *r)
{
	if (!r->setup || r->conn != NULL)
		return;
	r->addr = 0;
	try_connect(r);
}

/* The stream of `r` closed, or resolution failed (cond set). */
void
remote_conn_gone(struct s2s_remote *r, const char *cond)
{
	int was_authed = r->authed;

	if (r->conn != NULL)
		r->conn->route = NULL;
	r->conn = NULL;
	r->authed = 0;
	if (!r->setup || s2sd_stopping) {
		if (was_authed)
			log_debug("%s -> %s: stream closed", r->local,
			    r->remote);
		return;
	}
	if (cond != NULL) {
		route_fail(r, cond);
		return;
	}
	r->addr++;
	try_connect(r);
}

/* Dialback said valid: the queue goes out, in order. */
void
remote_authed(struct s2s_remote *r)
{
	struct s2s_conn *c = r->conn;

	log_info("%s -> %s: authenticated (%s, %s)", r->local, r->remote,
	    c != NULL && c->sasl_done ? "SASL EXTERNAL" : "dialback",
	    c != NULL ? conn_transport(c) : "?");
	r->authed = 1;
	r->setup = 0;
	evtimer_del(r->ev_deadline);
	queue_drop(r, NULL);
	if (r->conn != NULL)
		conn_set_timer(r->conn, (unsigned)s2sd_conf.idle_timeout);
}

/* Send the verifications not sent yet (XEP-0220 2.1.2 step 3). */
void
remote_send_verifies(struct s2s_remote *r)
{
	struct xbuf	b;
	int		i;

	if (r->conn == NULL)
		return;
	for (i = 0; i < r->nverifies; i++) {
		if (r->verifies[i].sent)
			continue;
		xbuf_init(&b);
		xbuf_addf(&b, "<db:verify xmlns:db='%s' from='", NS_DIALBACK);
		xbuf_add_attr(&b, r->local);
		xbuf_adds(&b, "' to='");
		xbuf_add_attr(&b, r->remote);
		xbuf_adds(&b, "' id='");
		xbuf_add_attr(&b, r->verifies[i].id);
		xbuf_adds(&b, "'>");
		xbuf_add_text(&b, r->verifies[i].key,
		    strlen(r->verifies[i].key));
		xbuf_adds(&b, "</db:verify>");
		if (!b.failed)
			conn_write(r->conn, b.data, b.len);
		xbuf_free(&b);
		r->verifies[i].sent = 1;
	}
}

/* Ask `remote`'s authoritative server whether `key` is valid for the
 * incoming stream `id` (s2sd_in.c).  -1 if too many are in flight. */
int
remote_verify(const char *local, const char *remote, uint64_t in_id,
    const char *id, const char *key)
{
	struct s2s_remote	*r;
	struct verify		*v;

	if ((r = route_get(local, remote)) == NULL ||
	    r->nverifies == S2SD_MAX_VERIFIES || strlen(id) >= sizeof(v->id))
		return -1;
	v = &r->verifies[r->nverifies];
	if ((v->key = strdup(key)) == NULL)
		return -1;
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->in_id = in_id;
	v->sent = 0;
	r->nverifies++;
	if (r->conn != NULL && r->conn->phase >= OP_DIALBACK)
		remote_send_verifies(r);
	else
		route_setup(r);
	return 0;
}

/* A db:verify answer on our stream: only one we asked for counts. */
void
remote_verify_answer(struct s2s_remote *r, const char *id, int valid)
{
	int i;

	for (i = 0; i < r->nverifies; i++) {
		if (!r->verifies[i].sent || strcmp(r->verifies[i].id, id) != 0)
			continue;
		in_verify_result(r->verifies[i].in_id, r->local, r->remote,
		    valid);
		free(r->verifies[i].key);
		r->verifies[i] = r->verifies[--r->nverifies];
		return;
	}
	log_info("%s -> %s: unsolicited db:verify ignored", r->local,
	    r->remote);
}

/* s2sd is stopping: what still waits bounces now, rather than vanish
 * with the process (routerd gets the errors before we exit). */
void
remote_shutdown(void)
{
	struct s2s_remote *r;

	TAILQ_FOREACH(r, &remotes, entry)
		if (r->setup)
			route_fail(r, "remote-server-timeout");
}
