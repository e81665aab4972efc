/*
 * c2sd_spill.c - frames c2sd must not lose while the link to routerd is
 * full.
 *
 * Stanzas that did not reach a client (an unacknowledged XEP-0198 queue
 * handed back when a session ends, an output queue cut off) go back to
 * routerd for offline storage or a bounce (session_return_to() in
 * c2sd_session.c).  One session can hand back sm-max-unacked stanzas at
 * once, more than the link's hard limit, and link_send() refuses past
 * that limit.  Such frames wait here, in order, and a timer moves them to
 * the link whenever it is below its high mark.
 *
 * Invariants: while anything waits here, new kept frames queue behind it
 * (order is kept); the bytes held are bounded by SPILL_MAX — they were
 * already held by the sessions that handed them back, so this does not
 * raise c2sd's worst case — and only past that bound is a frame refused
 * (the caller logs it).
 */
#include <errno.h>
#include <stddef.h>

#include <event2/event.h>

#include "c2sd.h"
#include "daemon.h"
#include "frame.h"
#include "link.h"
#include "log.h"

#define SPILL_MAX	(256u * 1024 * 1024)
#define SPILL_RETRY_MS	10

static struct fout	*head, **tailp = &head;
static size_t		 bytes;
static struct event	*ev_spill;

static void	spill_cb(int, short, void *);

static void
spill_arm(void)
{
	struct timeval tv = { 0, SPILL_RETRY_MS * 1000 };

	if (ev_spill == NULL &&
	    (ev_spill = evtimer_new(daemon_base, spill_cb, NULL)) == NULL)
		return;
	if (!evtimer_pending(ev_spill, NULL))
		evtimer_add(ev_spill, &tv);
}

static void
spill_cb(int fd, short ev, void *arg)
{
	struct fout	*f;

	while ((f = head) != NULL && !link_over_hiwat(daemon_link)) {
		if ((head = f->next) == NULL)
			tailp = &head;
		f->next = NULL;
		bytes -= f->len;
		if (link_send(daemon_link, f) == -1 && errno == EPIPE)
			break;	/* shutting down: the rest goes with us */
	}
	if (head != NULL)
		spill_arm();
}

int
c2sd_send_kept(struct fout *f)
{
	if (head == NULL && !link_over_hiwat(daemon_link))
		return link_send(daemon_link, f);
	if (bytes + f->len > SPILL_MAX) {
		fout_free(f);
		errno = ENOBUFS;
		return -1;
	}
	f->next = NULL;
	*tailp = f;
	tailp = &f->next;
	bytes += f->len;
	spill_arm();
	return 0;
}

/* At shutdown: whatever waits goes now, writing the link out whenever
 * it is full, as far as routerd reads. */
void
c2sd_spill_flush(void)
{
	struct fout	*f;

	while ((f = head) != NULL) {
		head = f->next;
		f->next = NULL;
		if (link_over_hiwat(daemon_link))
			link_flush_now(daemon_link);
		if (link_send(daemon_link, f) == -1)
			log_warnx("shutdown: a kept stanza could not be handed "
			    "back");
	}
	tailp = &head;
	bytes = 0;
	if (ev_spill != NULL)
		event_free(ev_spill);
	ev_spill = NULL;
}
