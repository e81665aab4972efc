/*
 * c2sd_sm.c - XEP-0198 stream management and XEP-0352 client state
 * indication.
 *
 * Stream management: after <enable/> every stanza to the client is kept
 * (a copy) until the client's <a h/> covers it; one <r/> goes out per
 * event-loop turn in which stanzas were sent.  Counters are mod 2^32
 * (XEP-0198 section 4).  More than sm-max-unacked outstanding closes the
 * stream with policy-violation.  A connection lost without a closing tag
 * leaves the session hibernating for sm-hibernate seconds: routerd keeps
 * the route, stanzas are kept, <resume/> on a new authenticated stream of
 * the same account moves the session there and resends what was not
 * acknowledged.  When hibernation expires, kept messages go back to
 * routerd marked RFF_UNDELIVERED (imd stores them offline) and kept iq
 * requests are answered with an error.  A resumable session is also
 * recorded in routerd (c2sd_smstate.c), so that it survives a restart of
 * c2sd; the token itself stays here only as the client's secret: we and
 * routerd keep its BLAKE2b hash.
 *
 * CSI: while the client says <inactive/>, presence is held (the latest
 * per sender, at most C2SD_MAX_HELD_PRESENCE senders) and flushed before
 * the next message or on <active/>.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"

static int	hibernate_timer(struct session *, unsigned long long);

void
feature_sm(struct conn *c, struct xnode *f)
{
	if (c->user != NULL)
		xnode_add_child(f, "sm", NS_SM);
}

void
feature_csi(struct conn *c, struct xnode *f)
{
	if (c->user != NULL)
		xnode_add_child(f, "csi", NS_CSI);
}

static void
sm_failed(struct conn *c, const char *cond, int with_h, uint32_t h)
{
	char buf[256];

	if (with_h)
		snprintf(buf, sizeof(buf), "<failed xmlns='%s' h='%u'><%s "
		    "xmlns='%s'/></failed>", NS_SM, h, cond, NS_STANZAS);
	else
		snprintf(buf, sizeof(buf), "<failed xmlns='%s'><%s "
		    "xmlns='%s'/></failed>", NS_SM, cond, NS_STANZAS);
	conn_writes(c, buf);
}

/* Tell routerd the session is resumable: the token's hash and how long
 * a resumption may wait (docs/frames.md, "Stream-management records"). */
static void
sm_record(struct session *s, const char *token)
{
	struct fout *f;

	crypto_generichash(s->sm_hash, sizeof(s->sm_hash),
	    (const unsigned char *)token, strlen(token), NULL, 0);
	if ((f = fout_new(RF_SM_ENABLE, s->full, NULL)) == NULL)
		return;
	f->hdr.session = s->id;
	fout_put_data(f, s->sm_hash, sizeof(s->sm_hash));
	fout_put_u32(f, (uint32_t)c2sd_conf.sm_hibernate);
	if (link_send(daemon_link, f) == -1)
		log_warnx("session %llu: routerd does not keep it resumable",
		    (unsigned long long)s->id);
}

static void
sm_enable(struct conn *c, struct xnode *n)
{
	struct session	*s = c->session;
	const char	*r = xnode_attr(n, "resume");
	char		 buf[256], token[2 * C2SD_RESUME_TOKEN_LEN + 1];

	if (s == NULL || c->state != CS_ESTABLISHED || s->sm) {
		sm_failed(c, "unexpected-request", 0, 0);
		return;
	}
	s->sm = 1;
	s->h_in = s->h_out = s->h_acked = 0;
	if (r && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0) &&
	    c2sd_conf.sm_hibernate > 0) {
		s->sm_resume = 1;
		c2sd_random_hex(token, C2SD_RESUME_TOKEN_LEN);
		sm_record(s, token);
		snprintf(buf, sizeof(buf), "<enabled xmlns='%s' id='%llx-%s' "
		    "resume='true' max='%llu'/>", NS_SM,
		    (unsigned long long)s->id, token,
		    c2sd_conf.sm_hibernate);
		sodium_memzero(token, sizeof(token));
	} else
		snprintf(buf, sizeof(buf), "<enabled xmlns='%s'/>", NS_SM);
	conn_writes(c, buf);
}

static int
parse_h(const char *v, uint32_t *h)
{
	char			*end;
	unsigned long long	 x;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	x = strtoull(v, &end, 10);
	if (*end != '\0' || x > UINT32_MAX)
		return -1;
	*h = (uint32_t)x;
	return 0;
}

/* Drop what the client acknowledged; -1 if it claims more than we sent. */
static int
sm_ack_count(struct session *s, uint32_t h)
{
	uint32_t	 n = h - s->h_acked;
	struct unacked	*u;

	if (n > s->nunacked)
		return -1;
	while (n-- > 0 && (u = TAILQ_FIRST(&s->unacked)) != NULL) {
		TAILQ_REMOVE(&s->unacked, u, entry);
		s->nunacked--;
		free(u);
	}
	if (s->n_unreported > s->nunacked)
		s->n_unreported = s->nunacked;
	s->h_acked = h;
	sm_dirty(s);
	return 0;
}

void
sm_ack(struct session *s, uint32_t h)
{
	char text[128];

	if (sm_ack_count(s, h) == 0 || s->conn == NULL)
		return;
	/* XEP-0198 section 4: an impossible h is a stream error */
	snprintf(text, sizeof(text), "You acknowledged %u stanzas but were "
	    "sent %u", h - s->h_acked, (unsigned)s->nunacked);
	conn_stream_error(s->conn, "undefined-condition", text);
}

int
sm_client_element(struct conn *c, struct xnode *n)
{
	struct session	*s = c->session;
	char		 buf[128];
	uint32_t	 h;

	if (strcmp(n->name, "enable") == 0) {
		sm_enable(c, n);
		return 0;
	}
	if (strcmp(n->name, "resume") == 0) {
		sm_failed(c, "unexpected-request", 0, 0);
		return 0;
	}
	if (s == NULL || !s->sm)
		return -1;	/* r/a before enable: ignored */
	if (strcmp(n->name, "r") == 0) {
		/* h counts stanzas queued for routerd: put them on the socket
		 * first, so an ack never covers a frame that would die with
		 * this process (docs/decisions.md, "Fault injection"). */
		link_flush_try(daemon_link);
		/* and routerd's record learns this h before the client does,
		 * so a resumption after a restart never goes back behind it
		 * (SM_STATE goes out ahead of client output) */
		sm_dirty(s);
		snprintf(buf, sizeof(buf), "<a xmlns='%s' h='%u'/>", NS_SM,
		    s->h_in);
		conn_writes(c, buf);
	} else if (strcmp(n->name, "a") == 0) {
		if (parse_h(xnode_attr(n, "h"), &h) == -1) {
			conn_stream_error(c, "bad-format", "Bad h attribute");
			return -1;
		}
		sm_ack(s, h);
	}
	return 0;
}

void
sm_sent(struct session *s, uint8_t kind, uint8_t stype, const char *xml,
    size_t len)
{
	struct unacked *u;

	if ((u = malloc(sizeof(*u) + len)) == NULL) {
		session_return(s, kind, stype, xml, len,
		    "resource-constraint");
		return;
	}
	u->kind = kind;
	u->stype = stype;
	u->len = len;
	memcpy(u->data, xml, len);
	/* routerd's number goes with the message it was given to */
	u->rseq = kind == RK_MESSAGE ? s->cur_rseq : 0;
	if (kind == RK_MESSAGE)
		s->cur_rseq = 0;
	TAILQ_INSERT_TAIL(&s->unacked, u, entry);
	s->nunacked++;
	s->h_out++;
	u->hout = s->h_out;
	s->n_unreported++;
	sm_dirty(s);
	s->r_pending = 1;
	if (s->conn && s->nunacked > c2sd_conf.sm_max_unacked &&
	    !s->overflow) {
		/* closed from the timer: our callers still use `s` */
		s->overflow = 1;
		if (hibernate_timer(s, 0) == -1)
			s->overflow = 0;
	}
}

void
sm_turn_end(struct session *s)
{
	if (!s->sm || !s->r_pending || s->conn == NULL)
		return;
	s->r_pending = 0;
	conn_append_raw(s->conn, "<r xmlns='" NS_SM "'/>");
}

static void
hibernate_cb(int fd, short ev, void *arg)
{
	struct session *s = arg;

	if (s->overflow) {
		s->overflow = 0;
		if (s->conn)
			conn_stream_error(s->conn, "policy-violation",
			    "Too many unacknowledged stanzas");
		return;
	}
	log_info("session %llu %s: hibernation expired",
	    (unsigned long long)s->id, s->full);
	session_end(s, 1);
}

/* The session's one timer: hibernation expiry, or (overflow) a deferred
 * close. */
static int
hibernate_timer(struct session *s, unsigned long long seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	if (s->ev_hibernate == NULL &&
	    (s->ev_hibernate = evtimer_new(daemon_base, hibernate_cb, s)) ==
	    NULL)
		return -1;
	evtimer_add(s->ev_hibernate, &tv);
	return 0;
}

int
sm_hibernate_for(struct session *s, unsigned long long seconds)
{
	s->overflow = 0;
	if (hibernate_timer(s, seconds) == -1)
		return -1;
	s->state = SS_HIBERNATING;
	s->inactive = 0;
	log_info("session %llu %s hibernating for %llus",
	    (unsigned long long)s->id, s->full, seconds);
	return 0;
}

void
sm_hibernate(struct session *s)
{
	if (sm_hibernate_for(s, c2sd_conf.sm_hibernate) == -1)
		session_end(s, 1);
}

/* Find a resumable session from "<id hex>-<token>", owned by c's user. */
static struct session *
resume_lookup(struct conn *c, const char *previd)
{
	struct session	*s;
	char		*end;
	unsigned long long id;
	uint8_t		 hash[FRAME_SM_HASH_LEN];

	if (previd == NULL || *previd < '0' || *previd > 'f')
		return NULL;
	id = strtoull(previd, &end, 16);
	if (*end != '-' || strlen(end + 1) != 2 * C2SD_RESUME_TOKEN_LEN ||
	    (s = session_find(id)) == NULL || !s->sm_resume)
		return NULL;
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)end + 1,
	    2 * C2SD_RESUME_TOKEN_LEN, NULL, 0);
	if (sodium_memcmp(hash, s->sm_hash, sizeof(hash)) != 0)
		return NULL;
	if (c->user == NULL || strcmp(s->local, c->user) != 0 ||
	    strcmp(s->domain, c->host->name) != 0)
		return NULL;
	return s;
}

static void
sm_take_over(struct conn *c, struct session *s)
{
	struct conn *old = s->conn;

	if (old != NULL) {	/* the old TCP connection is not dead yet */
		old->session = NULL;
		s->conn = NULL;
		conn_forget_stanzas(old);
		conn_stream_error(old, "conflict", "Session resumed elsewhere");
	}
	if (s->ev_hibernate)
		evtimer_del(s->ev_hibernate);
	s->overflow = 0;
	s->state = SS_BOUND;
	s->conn = c;
	c->session = s;
	c->state = CS_ESTABLISHED;
}

void
sm_resume_request(struct conn *c, struct xnode *n)
{
	struct session	*s;
	struct unacked	*u;
	uint32_t	 h;
	const char	*previd = xnode_attr(n, "previd");
	struct xbuf	 b;
	char		 buf[64];

	if (c->session != NULL || (s = resume_lookup(c, previd)) == NULL) {
		sm_failed(c, "item-not-found", 0, 0);
		return;
	}
	if (parse_h(xnode_attr(n, "h"), &h) == -1 ||
	    (s->restore ? sm_restore_resume(s, h) == -1 :
	    h - s->h_acked > s->nunacked)) {
		conn_stream_error(c, "undefined-condition",
		    "h does not match what was sent");
		return;
	}
	sm_take_over(c, s);
	(void)sm_ack_count(s, h);
	/* previd is the client's, checked by resume_lookup: hex and a dash */
	snprintf(buf, sizeof(buf), "<resumed xmlns='%s' h='%u' previd='",
	    NS_SM, s->h_in);
	xbuf_init(&b);
	xbuf_adds(&b, buf);
	xbuf_add_attr(&b, previd);
	xbuf_adds(&b, "'/>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	TAILQ_FOREACH(u, &s->unacked, entry)	/* XEP-0198 5: resend */
		conn_write_stanza(c, u->kind, u->stype, u->data, u->len);
	conn_forget_stanzas(c);
	s->r_pending = !TAILQ_EMPTY(&s->unacked);
	log_info("session %llu %s resumed from %s, %zu stanzas sent again",
	    (unsigned long long)s->id, s->full, c->peer, s->nunacked);
}

/* Kept messages go to imd's offline storage, iq requests get an error
 * reply, the rest goes (session_return). */
void
sm_bounce_unacked(struct session *s)
{
	struct unacked *u;

	while ((u = TAILQ_FIRST(&s->unacked)) != NULL) {
		TAILQ_REMOVE(&s->unacked, u, entry);
		session_return(s, u->kind, u->stype, u->data, u->len,
		    "service-unavailable");
		free(u);
	}
	s->nunacked = 0;
}

void
sm_free(struct session *s)
{
	struct unacked	*u;
	struct held	*hp;

	while ((u = TAILQ_FIRST(&s->unacked)) != NULL) {
		TAILQ_REMOVE(&s->unacked, u, entry);
		free(u);
	}
	while ((hp = TAILQ_FIRST(&s->held)) != NULL) {
		TAILQ_REMOVE(&s->held, hp, entry);
		free(hp->from);
		free(hp);
	}
	if (s->ev_hibernate)
		event_free(s->ev_hibernate);
	s->ev_hibernate = NULL;
	sm_state_free(s);
}

/* ---- XEP-0352 ---- */

int
csi_hold(struct session *s, const char *from, const char *xml, size_t len)
{
	struct held *h, *old;

	TAILQ_FOREACH(old, &s->held, entry)
		if (strcmp(old->from, from) == 0)
			break;
	if (old == NULL && s->nheld >= C2SD_MAX_HELD_PRESENCE) {
		csi_flush(s);
		return -1;	/* deliver this one now */
	}
	if ((h = malloc(sizeof(*h) + len)) == NULL ||
	    (h->from = strdup(from)) == NULL) {
		free(h);
		return -1;
	}
	h->len = len;
	memcpy(h->data, xml, len);
	if (old) {	/* only the latest presence of a sender matters */
		TAILQ_REMOVE(&s->held, old, entry);
		free(old->from);
		free(old);
		s->nheld--;
	}
	TAILQ_INSERT_TAIL(&s->held, h, entry);
	s->nheld++;
	return 0;
}

void
csi_flush(struct session *s)
{
	struct held *h;

	while ((h = TAILQ_FIRST(&s->held)) != NULL) {
		TAILQ_REMOVE(&s->held, h, entry);
		s->nheld--;
		session_write(s, RK_PRESENCE, RS_NONE, h->data, h->len);
		free(h->from);
		free(h);
	}
}
