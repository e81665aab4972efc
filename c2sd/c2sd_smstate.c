/*
 * c2sd_smstate.c - XEP-0198 resumption across a restart of c2sd: what
 * c2sd tells routerd about each resumable session, and how a new c2sd
 * recreates the sessions routerd hands back (docs/decisions.md,
 * "Resumption across a c2sd restart"; docs/frames.md,
 * "Stream-management records").
 *
 * routerd numbers each message it routes to a resumable session (`corr`,
 * kept as `rseq` in the unacked entry) and keeps a copy.  At the end of
 * every event-loop turn in which a resumable session changed, and before
 * any client output of that turn is written, c2sd sends one RF_SM_STATE:
 * its counters, the last message number the client has acknowledged (or
 * that went elsewhere) and, for each message written since the last
 * report, the h the client reaches with it.  So routerd always knows at
 * least what the client may have seen, and when c2sd dies the client's
 * <resume h/> tells the next c2sd exactly which kept copies to resend.
 *
 * The new c2sd gets RF_SM_RESTORE (then the copies as RF_STANZA with
 * corr = rseq) and recreates the session hibernating; nothing is
 * reported for it until the client resumes, when the counters are
 * rebuilt from the client's h (sm_restore_resume).
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"

struct sm_pair {
	uint32_t	rseq;
	uint32_t	hout;
};

struct sm_restore {
	uint32_t	h_out;		/* the old c2sd's last report */
	uint16_t	n;
	struct sm_pair	p[];		/* rseq ascending */
};

static TAILQ_HEAD(, session) dirty = TAILQ_HEAD_INITIALIZER(dirty);

static int
newer(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

void
sm_dirty(struct session *s)
{
	if (!s->sm_resume || s->sm_dirty)
		return;
	s->sm_dirty = 1;
	TAILQ_INSERT_TAIL(&dirty, s, dirty_entry);
	conn_turn_soon();
}

/* Every message up to this number is out of our hands: acknowledged by
 * the client or handed back to routerd. */
static uint32_t
done_rseq(const struct session *s)
{
	const struct unacked *u;

	TAILQ_FOREACH(u, &s->unacked, entry)
		if (u->rseq != 0)
			return u->rseq - 1;
	return s->rseq_last;
}

/* The first entry not yet reported (the unreported ones are a tail). */
static struct unacked *
first_unreported(struct session *s)
{
	struct unacked	*u = TAILQ_LAST(&s->unacked, unackedlist);
	size_t		 k;

	if (s->n_unreported == 0)
		return NULL;
	for (k = 1; k < s->n_unreported && u != NULL; k++)
		u = TAILQ_PREV(u, unackedlist, entry);
	return u;
}

/* One RF_SM_STATE with the pairs from *up on (at most
 * FRAME_SM_MAX_PAIRS); *up moves past them. */
static int
report_one(struct session *s, struct unacked **up)
{
	struct unacked	*u, *end;
	struct fout	*f;
	uint16_t	 n = 0;

	for (end = *up; end != NULL && n < FRAME_SM_MAX_PAIRS;
	    end = TAILQ_NEXT(end, entry))
		n += end->rseq != 0;
	if ((f = fout_new(RF_SM_STATE, s->full, NULL)) == NULL)
		return -1;
	f->hdr.session = s->id;
	fout_put_u32(f, s->h_in);
	fout_put_u32(f, s->h_acked);
	fout_put_u32(f, s->h_out);
	fout_put_u32(f, done_rseq(s));
	fout_put_u16(f, n);
	for (u = *up; u != end; u = TAILQ_NEXT(u, entry))
		if (u->rseq != 0) {
			fout_put_u32(f, u->rseq);
			fout_put_u32(f, u->hout);
		}
	*up = end;
	return link_send(daemon_link, f);
}

static int
report(struct session *s)
{
	struct unacked *u = first_unreported(s);

	do {
		if (report_one(s, &u) == -1)
			return -1;
	} while (u != NULL);
	s->n_unreported = 0;
	return 0;
}

/* End of a turn, before client output is written: one RF_SM_STATE per
 * session that changed.  Returns how many sessions were reported. */
int
sm_report_all(void)
{
	struct session	*s;
	int		 n = 0;

	while ((s = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, s, dirty_entry);
		s->sm_dirty = 0;
		if (s->restore != NULL || s->state == SS_BINDING)
			continue;	/* nothing to say before <resume/> */
		if (report(s) == -1) {
			/* link full: routerd keeps more than needed; the
			 * next change reports again */
			log_warn("session %llu: stream-management state "
			    "not sent (%zu queued)", (unsigned long long)s->id,
			    link_queued(daemon_link));
			continue;
		}
		n++;
	}
	return n;
}

void
sm_state_free(struct session *s)
{
	if (s->sm_dirty) {
		TAILQ_REMOVE(&dirty, s, dirty_entry);
		s->sm_dirty = 0;
	}
	free(s->restore);
	s->restore = NULL;
}

/* The body of RF_SM_RESTORE after the token hash; NULL if malformed. */
static struct sm_restore *
restore_parse(struct frame *f, uint32_t *h_in, uint32_t *h_acked,
    uint32_t *secs)
{
	struct sm_restore	*r;
	uint32_t		 h_out;
	uint16_t		 n, i;

	if (frame_get_u32(f, h_in) == -1 || frame_get_u32(f, h_acked) == -1 ||
	    frame_get_u32(f, &h_out) == -1 || frame_get_u32(f, secs) == -1 ||
	    frame_get_u16(f, &n) == -1 || n > FRAME_SM_MAX_PAIRS ||
	    f->body_len - f->pos != (size_t)n * 8 ||
	    (r = malloc(sizeof(*r) + n * sizeof(r->p[0]))) == NULL)
		return NULL;
	r->h_out = h_out;
	r->n = n;
	for (i = 0; i < n; i++)
		if (frame_get_u32(f, &r->p[i].rseq) == -1 ||
		    frame_get_u32(f, &r->p[i].hout) == -1 ||
		    (i > 0 && !newer(r->p[i].rseq, r->p[i - 1].rseq))) {
			free(r);
			return NULL;
		}
	return r;
}

/* A session we could not recreate: routerd drops its route (the kept
 * messages that follow come back as undelivered, for offline storage). */
static void
restore_refused(struct frame *f)
{
	struct fout *u;

	if ((u = fout_new(RF_SESSION_UNBIND, f->from, NULL)) == NULL)
		return;
	u->hdr.session = f->hdr.session;
	(void)link_send(daemon_link, u);
}

/* RF_SM_RESTORE: a session of the c2sd before us, hibernating here until
 * its client resumes or the window ends. */
void
sm_restore_frame(struct frame *f)
{
	struct jid		 j;
	struct session		*s;
	struct sm_restore	*r = NULL;
	const uint8_t		*hash;
	size_t			 hlen;
	uint32_t		 h_in, h_acked, secs;

	if (jid_parse(f->from, strlen(f->from), &j) == -1 ||
	    j.local[0] == '\0' || j.resource[0] == '\0' ||
	    host_find(j.domain) == NULL || f->hdr.session == 0 ||
	    frame_get_data(f, &hash, &hlen) == -1 ||
	    hlen != FRAME_SM_HASH_LEN ||
	    (r = restore_parse(f, &h_in, &h_acked, &secs)) == NULL ||
	    frame_get_end(f) == -1) {
		log_warnx("malformed SM_RESTORE from routerd");
		free(r);
		return;
	}
	if ((s = session_restore(&j, f->hdr.session)) == NULL) {
		log_warnx("session %llu: cannot restore %s",
		    (unsigned long long)f->hdr.session, f->from);
		free(r);
		restore_refused(f);
		return;
	}
	memcpy(s->sm_hash, hash, hlen);
	s->sm = s->sm_resume = 1;
	s->h_in = h_in;
	s->h_acked = h_acked;
	s->h_out = r->h_out;
	s->restore = r;
	if (secs > c2sd_conf.sm_hibernate)
		secs = (uint32_t)c2sd_conf.sm_hibernate;
	if (sm_hibernate_for(s, secs) == -1)
		session_end(s, 1);
}

/* Was routerd's message `rseq` written with an h the client has? */
static int
client_has(struct sm_restore *r, uint16_t *i, uint32_t rseq, uint32_t h)
{
	while (*i < r->n && newer(rseq, r->p[*i].rseq))
		(*i)++;
	return *i < r->n && r->p[*i].rseq == rseq && !newer(r->p[*i].hout, h);
}

/* <resume h/> for a restored session: drop what the client has, count
 * the rest as sent after h (it is resent now).  -1 if h is impossible. */
int
sm_restore_resume(struct session *s, uint32_t h)
{
	struct sm_restore	*r = s->restore;
	struct unacked		*u, *next;
	uint16_t		 i = 0;

	if (h - s->h_acked > r->h_out - s->h_acked)
		return -1;
	for (u = TAILQ_FIRST(&s->unacked); u != NULL; u = next) {
		next = TAILQ_NEXT(u, entry);
		if (u->rseq == 0 || !client_has(r, &i, u->rseq, h))
			continue;
		TAILQ_REMOVE(&s->unacked, u, entry);
		s->nunacked--;
		free(u);
	}
	s->h_acked = h;
	s->h_out = h;
	TAILQ_FOREACH(u, &s->unacked, entry)
		u->hout = ++s->h_out;
	free(r);
	s->restore = NULL;
	s->n_unreported = s->nunacked;
	sm_dirty(s);
	return 0;
}
