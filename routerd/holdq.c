/*
 * holdq.c - frames waiting for a daemon that is down or restarting.
 *
 * route.c hands a frame for an enabled daemon that is not READY (killed,
 * being restarted, not yet started) to holdq_push() instead of bouncing
 * it; supervise.c calls holdq_release() when the daemon is READY again,
 * and the queue goes out in order before anything newer (route.c sends
 * through the queue while it is not empty).  When a daemon dies,
 * holdq_child_down() takes the frames it had not acknowledged (RF_ACK,
 * link_take_unacked) and puts them at the front: they are replayed first.
 *
 * Bounds (per daemon): hold-max-size bytes and hold-max-age seconds.  A
 * frame that does not fit, or has waited too long, goes back to its sender
 * through route_hold_failed() as RF_BOUNCE (resource-constraint when full,
 * service-unavailable when too old): nothing is dropped silently.  Replayed
 * frames were accepted once already, so they may exceed the size bound.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "link.h"
#include "log.h"
#include "routerd.h"

#define HOLD_MAX_SIZE_DEFAULT	(8ULL * 1024 * 1024)
#define HOLD_MAX_AGE_DEFAULT	20	/* s */
#define HOLD_TICK_MS		100

struct holdq {
	struct fout	*head;
	struct fout	*tail;
	size_t		 bytes;
	size_t		 n;
};

static struct holdq	 q[D_COUNT];
static struct event	*tick_ev;

static unsigned long long
opt(const char *name, unsigned long long def)
{
	int i = conf_option_find(name);

	return i == -1 ? def : conf_opt_number(rd.conf, i);
}

static double
age_s(const struct fout *f)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - f->held.tv_sec) +
	    (now.tv_nsec - f->held.tv_nsec) / 1e9;
}

static struct fout *
pop(struct holdq *h)
{
	struct fout *f = h->head;

	if (f == NULL)
		return NULL;
	h->head = f->next;
	if (h->head == NULL)
		h->tail = NULL;
	f->next = NULL;
	h->bytes -= f->len;
	h->n--;
	return f;
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, HOLD_TICK_MS * 1000 };
	double		 max_age = opt("hold-max-age", HOLD_MAX_AGE_DEFAULT);
	struct fout	*f;
	int		 d, busy = 0;

	for (d = 0; d < D_COUNT; d++) {
		while (q[d].head != NULL && age_s(q[d].head) > max_age) {
			f = pop(&q[d]);
			route_hold_failed(&rd.children[d], f,
			    RB_SERVICE_UNAVAILABLE);
		}
		if (rd.children[d].ready && rd.children[d].link)
			holdq_release(&rd.children[d]);
		busy |= q[d].head != NULL;
	}
	if (busy)
		evtimer_add(tick_ev, &tv);
}

static void
tick_start(void)
{
	struct timeval tv = { 0, HOLD_TICK_MS * 1000 };

	if (tick_ev == NULL &&
	    (tick_ev = evtimer_new(rd.base, on_tick, NULL)) == NULL)
		return;
	if (!evtimer_pending(tick_ev, NULL))
		evtimer_add(tick_ev, &tv);
}

int
holdq_busy(const struct child *ch)
{
	return q[ch->id].head != NULL;
}

size_t
holdq_count(const struct child *ch)
{
	return q[ch->id].n;
}

/* Takes `f` in every case; -1 when the queue is full (the caller bounces). */
int
holdq_push(struct child *ch, struct fout *f)
{
	struct holdq *h = &q[ch->id];

	if (f == NULL)
		return -1;
	if (h->bytes + f->len > opt("hold-max-size", HOLD_MAX_SIZE_DEFAULT)) {
		fout_free(f);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &f->held);
	f->next = NULL;
	if (h->tail)
		h->tail->next = f;
	else
		h->head = f;
	h->tail = f;
	h->bytes += f->len;
	h->n++;
	tick_start();
	return 0;
}

/* `ch` died: what its link still held unacknowledged waits for the next
 * incarnation, ahead of what was queued meanwhile. */
void
holdq_child_down(struct child *ch, struct link *l)
{
	struct holdq	*h = &q[ch->id];
	struct fout	*chain = link_take_unacked(l), *f, *last = NULL;
	struct timespec	 now;
	size_t		 n = 0;

	if (chain == NULL)
		return;
	if (!route_holdable(ch)) {
		route_orphaned(ch, chain);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (f = chain; f; f = f->next) {
		f->held = now;
		h->bytes += f->len;
		n++;
		last = f;
	}
	last->next = h->head;
	h->head = chain;
	if (h->tail == NULL)
		h->tail = last;
	h->n += n;
	log_info("%s: %zu unacknowledged frames kept for its next start",
	    ch->name, n);
	tick_start();
}

/* Send what waited, in order, as far as the link takes it now; the tick
 * continues once it has drained below its high mark. */
void
holdq_release(struct child *ch)
{
	struct holdq	*h = &q[ch->id];
	struct fout	*f, *copy;
	size_t		 n = 0;

	while (h->head != NULL && ch->link != NULL &&
	    !link_over_hiwat(ch->link)) {
		f = pop(h);
		/* A copy keeps the frame for a bounce if the link refuses. */
		if ((copy = fout_dup(f)) == NULL || link_send(ch->link, copy)) {
			route_hold_failed(ch, f, RB_RESOURCE_CONSTRAINT);
			continue;
		}
		fout_free(f);
		n++;
	}
	if (n > 0)
		log_info("%s: %zu held frames delivered", ch->name, n);
	if (h->head != NULL)
		tick_start();
}

void
holdq_clear(void)
{
	struct fout	*f;
	int		 d;

	for (d = 0; d < D_COUNT; d++)
		while ((f = pop(&q[d])) != NULL)
			fout_free(f);
	if (tick_ev != NULL) {
		event_free(tick_ev);
		tick_ev = NULL;
	}
}
