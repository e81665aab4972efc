/*
 * park.c - resumable XEP-0198 sessions whose c2sd died (docs/routing.md,
 * "Restarts"; docs/decisions.md, "Resumption across a c2sd restart").
 *
 * route.c calls in here for the stream-management frames c2sd sends
 * (SM_ENABLE, SM_STATE, the h in a stanza's corr), which create and
 * update a session's record (smrec.c), and when c2sd dies: a session
 * with a record is *parked* rather than removed.  A parked session keeps
 * its route, so imd keeps delivering to it; its messages join the record,
 * presence to it is dropped and an iq is refused.  Right after the next
 * c2sd's READY, route_sm_hand_over() gives every parked session to it;
 * one not handed over within its window is removed, and the messages its
 * record kept go to offline storage.
 *
 * Bounds: SMREC_MAX_RECORDS records; a record's own bound on copies
 * (smrec.c); one timer while anything is parked.
 */
#include <stdio.h>

#include <event2/event.h>

#include "link.h"
#include "log.h"
#include "routerd.h"
#include "route.h"
#include "smrec.h"

static size_t	 nrecords;	/* sessions with a record */
static TAILQ_HEAD(, session) parked = TAILQ_HEAD_INITIALIZER(parked);
static struct event *park_ev;

/* The record goes with its session.  If the c2sd that held the session
 * is dead, the messages the record kept go to offline storage; a live
 * c2sd returned its own (RFF_UNDELIVERED) before it unbound. */
void
park_drop_record(struct session *s)
{
	if (s->sm == NULL)
		return;
	if (s->parked || s->child->link == NULL)
		route_undeliver(s->child, smrec_take(s->sm), 0);
	smrec_free(s->sm);
	s->sm = NULL;
	nrecords--;
}

void
park_unlink(struct session *s)
{
	TAILQ_REMOVE(&parked, s, by_child);
}

struct session *
park_first(void)
{
	return TAILQ_FIRST(&parked);
}

void
park_foreach(void (*fn)(const struct session *))
{
	struct session *s;

	TAILQ_FOREACH(s, &parked, by_child)
		fn(s);
}

/* A stanza for a parked session: a message waits in its record for the
 * next c2sd (or offline storage, when the record is full); presence is
 * dropped; an iq is refused (-1: the caller bounces it). */
int
park_deliver(struct frame *f, struct session *s)
{
	struct fout *out;

	if (f->hdr.kind == RK_PRESENCE)
		return 0;
	if (f->hdr.kind != RK_MESSAGE || (out = fout_copy(f)) == NULL)
		return -1;
	out->hdr.session = s->sid;
	out->hdr.corr = 0;
	if (smrec_full(s->sm) || smrec_keep(s->sm, out) == 0) {
		route_undeliver(s->child, out, 0);
		return 0;
	}
	fout_free(out);
	return 0;
}

/* c2sd stamps a resumable session's stanzas with the client's count. */
void
park_stanza_in(struct child *ch, struct frame *f)
{
	struct session *s = route_own_session(ch, f);

	if (s != NULL && s->sm != NULL)
		smrec_h_in(s->sm, f->hdr.corr);
}

/* SM_ENABLE and SM_STATE, for a session this c2sd bound. */
void
park_on_sm(struct child *ch, struct frame *f)
{
	struct session *s = route_own_session(ch, f);

	if (s == NULL)
		return;
	if (f->hdr.type == RF_SM_STATE) {
		if (s->sm != NULL && smrec_state(s->sm, f) == -1)
			log_warnx("%s: malformed SM_STATE for %s", ch->name,
			    f->from);
		return;
	}
	if (s->sm != NULL)
		return;	/* enabled once per session (XEP-0198 3) */
	if (nrecords >= SMREC_MAX_RECORDS) {
		log_warnx("%s: %zu stream-management records: %s will not "
		    "survive a restart of %s", ch->name, nrecords, f->from,
		    ch->name);
		return;
	}
	if ((s->sm = smrec_new(f)) == NULL) {
		log_warnx("%s: malformed SM_ENABLE for %s", ch->name, f->from);
		return;
	}
	nrecords++;
}

static void
park_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	struct session	*s, *next;

	for (s = TAILQ_FIRST(&parked); s != NULL; s = next) {
		next = TAILQ_NEXT(s, by_child);
		if (smrec_left(s->sm) == 0) {
			log_info("%s/%s: not resumed in time; its kept "
			    "messages go to offline storage", s->bare->jid,
			    s->resource);
			route_session_remove(s);
		}
	}
	if (!TAILQ_EMPTY(&parked))
		evtimer_add(park_ev, &tv);
}

/* Its c2sd died: keep the route (imd is not told it is gone), the
 * record and a resume window for the next c2sd. */
void
park_session(struct session *s)
{
	struct timeval tv = { 1, 0 };

	TAILQ_REMOVE(&s->child->sessions, s, by_child);
	s->parked = 1;
	TAILQ_INSERT_TAIL(&parked, s, by_child);
	smrec_park(s->sm);
	if (park_ev == NULL)
		park_ev = evtimer_new(rd.base, park_tick, NULL);
	if (park_ev != NULL && !evtimer_pending(park_ev, NULL))
		evtimer_add(park_ev, &tv);
}

/* c2sd is READY again: it gets every parked session, which it recreates
 * hibernating, and the messages each record kept. */
void
route_sm_hand_over(struct child *ch)
{
	struct session	*s;
	char		 full[FRAME_JID_MAX + 1];
	size_t		 n = 0, kept = 0;

	while ((s = TAILQ_FIRST(&parked)) != NULL) {
		TAILQ_REMOVE(&parked, s, by_child);
		s->parked = 0;
		s->child = ch;
		TAILQ_INSERT_TAIL(&ch->sessions, s, by_child);
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", s->bare->jid,
		    s->resource) >= sizeof(full) ||
		    smrec_hand_over(s->sm, ch->link, full, s->sid) == -1) {
			log_warnx("%s: cannot hand over %s", ch->name, full);
			/* what it kept goes to offline storage */
			route_undeliver(ch, smrec_take(s->sm), 0);
			route_session_remove(s);
			continue;
		}
		n++;
		kept += smrec_count(s->sm);
	}
	if (n > 0)
		log_info("%s: %zu resumable sessions handed over with %zu "
		    "messages kept for them", ch->name, n, kept);
}
