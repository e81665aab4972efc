/*
 * imd_presence_rate.c - presence storms: a resource's available
 * broadcasts go out at most `presence-rate` times per second (a token
 * bucket that also allows bursts of that many).  One presence from a
 * client with N contacts costs N deliveries, so without a bound a client
 * inside its byte rate-limit could still make hundreds of thousands of
 * stanzas a second for others.
 *
 * A broadcast past the rate is held; a newer one replaces it; the held
 * one goes out when a token is back.  Presence is state, not content
 * (RFC 6121 4.4: each broadcast replaces the last), so contacts miss only
 * states that were already superseded, and always get the latest.
 * Initial presence is never held (it starts the session: probes, offline
 * messages) and unavailable presence drops whatever is held.
 *
 * Called by imd_presence.c (imd_presence_rate_hold, _cancel) and by
 * imd_session.c when a resource is freed (imd_presence_rate_free).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "imd.h"

struct imd_rate {
	uint64_t	 tokens;	/* in millitokens */
	uint64_t	 stamp_ms;	/* last refill */
	struct xnode	*held;		/* latest presence not yet broadcast */
	struct event	*ev;		/* sends `held` when a token is back */
	struct imd_res	*res;
};

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
refill(struct imd_rate *r, uint64_t now)
{
	uint64_t	cap = imd_conf.presence_rate * 1000ULL;

	r->tokens += (now - r->stamp_ms) * imd_conf.presence_rate;
	if (r->tokens > cap)
		r->tokens = cap;
	r->stamp_ms = now;
}

static void
send_held(evutil_socket_t fd, short ev, void *arg)
{
	struct imd_rate	*r = arg;
	struct xnode	*x = r->held;

	r->held = NULL;
	refill(r, now_ms());
	if (r->tokens >= 1000)
		r->tokens -= 1000;
	if (x != NULL) {
		imd_presence_available(r->res, x);
		xnode_free(x);
	}
}

static struct imd_rate *
rate_of(struct imd_res *res)
{
	struct imd_rate	*r;

	if (res->rate != NULL)
		return res->rate;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->ev = evtimer_new(daemon_base, send_held, r)) == NULL) {
		free(r);
		return NULL;
	}
	r->tokens = imd_conf.presence_rate * 1000ULL;
	r->stamp_ms = now_ms();
	r->res = res;
	res->rate = r;
	return r;
}

/*
 * 1: `x` (an available broadcast of an already available resource) is
 * held for later, the caller sends nothing now; 0: send it now.
 */
int
imd_presence_rate_hold(struct imd_res *res, const struct xnode *x)
{
	struct imd_rate	*r;
	struct timeval	 tv;
	struct xnode	*y;
	uint64_t	 wait;

	if (imd_conf.presence_rate == 0 || res->presence == NULL ||
	    (r = rate_of(res)) == NULL)
		return 0;
	refill(r, now_ms());
	if (r->held == NULL && r->tokens >= 1000) {
		r->tokens -= 1000;
		return 0;
	}
	if ((y = xnode_dup(x)) == NULL)
		return 0;	/* no memory to hold it: better sent than lost */
	xnode_free(r->held);
	r->held = y;
	if (!evtimer_pending(r->ev, NULL)) {
		/* Milliseconds until one whole token has been refilled. */
		wait = r->tokens >= 1000 ? 0 : (1000 - r->tokens +
		    imd_conf.presence_rate - 1) / imd_conf.presence_rate;
		tv.tv_sec = wait / 1000;
		tv.tv_usec = (wait % 1000) * 1000 + 1000;
		evtimer_add(r->ev, &tv);
	}
	return 1;
}

/* Unavailable presence: what was held is superseded. */
void
imd_presence_rate_cancel(struct imd_res *res)
{
	if (res->rate == NULL)
		return;
	evtimer_del(res->rate->ev);
	xnode_free(res->rate->held);
	res->rate->held = NULL;
}

void
imd_presence_rate_free(struct imd_res *res)
{
	if (res->rate == NULL)
		return;
	imd_presence_rate_cancel(res);
	event_free(res->rate->ev);
	free(res->rate);
	res->rate = NULL;
}
