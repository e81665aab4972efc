/*
 * lg_msg.c - the "msg" scenario: P pairs of sessions chat with each other.
 *
 * Sessions 2k and 2k+1 (accounts first+2k, first+2k+1) form a pair; each
 * sends type='chat' messages with a ~300-byte body to the other's full JID
 * (RFC 6121 section 5.1: once a conversation is under way, clients address
 * the full JID).  The body starts with the send time in nanoseconds of
 * CLOCK_MONOTONIC; sender and receiver are this one process, so the
 * receiver computes the latency without any table.
 *
 * Window mode (default): each session keeps ceil(W/2) of its own messages
 * outstanding, so a pair has about W in flight; a delivery lets the sender
 * send the next one.  Rate mode (-r R): messages leave at a fixed total
 * rate R, round robin over the sessions, stamped with their scheduled
 * time so a stalled server cannot hide its queueing delay (no coordinated
 * omission); a session with too many outstanding messages skips its turn
 * and the skip is reported.  Only messages sent and received inside the
 * measured interval (after the warm-up) count.
 *
 * With -M always|never each session first sets its account's XEP-0313
 * default (urn:xmpp:mam:2 <prefs/>) and counts as ready only once the
 * server answered: one request that every server implements, so the
 * message rows can be measured with the archive on and off alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define BODY_LEN	300
#define RATE_CAP	2000	/* outstanding per session in rate mode */

enum phase { P_LOGIN, P_RUN, P_DONE };

static struct opener	 mo;
static struct lg_conn	**conns;
static int		*outstanding;
static enum phase	 phase;
static uint64_t		 t_meas, t_end, delivered, errors, skipped, sent;
static struct lg_hist	*hist;
static char		 pad[BODY_LEN];

static void
send_one(unsigned i, uint64_t ts)
{
	struct lg_conn	*c = conns[i], *peer = conns[i ^ 1];

	if (c == NULL || peer == NULL)
		return;
	outstanding[i]++;
	lg_conn_sendf(c, "<message to='%s' type='chat' id='m%llu'><body>%020llu"
	    " %s</body></message>", peer->jid, (unsigned long long)sent++,
	    (unsigned long long)ts, pad);
}

#define PREFS_ID	"lg-mam-prefs"

static void
msg_ready(struct lg_conn *c)
{
	if (args.mam_default == NULL) {
		opener_ready(&mo, c);
		return;
	}
	lg_conn_sendf(c, "<iq type='set' id='" PREFS_ID "'><prefs xmlns="
	    "'urn:xmpp:mam:2' default='%s'/></iq>", args.mam_default);
}

/* The answer to the <prefs/> request: ready, or a failed session. */
static void
prefs_answer(struct lg_conn *c, const struct lg_stanza *st)
{
	if (strcmp(st->type, "result") == 0) {
		opener_ready(&mo, c);
		return;
	}
	if (mo.errors_shown++ < 5)
		fprintf(stderr, "%s: archiving preferences refused (%s)\n",
		    c->username, st->type);
	c->t_ready = 0;		/* a failed session for the opener */
	lg_conn_close(c);
}

static void
msg_stanza(struct lg_conn *c, const struct lg_stanza *st)
{
	unsigned	 from = (unsigned)c->index ^ 1;
	uint64_t	 ts, now;

	if (strcmp(st->name, "iq") == 0 && strcmp(st->id, PREFS_ID) == 0) {
		prefs_answer(c, st);
		return;
	}
	if (strcmp(st->name, "message") != 0 || phase != P_RUN)
		return;
	if (strcmp(st->type, "error") == 0) {
		errors++;
		return;
	}
	if (st->textlen < 20)
		return;
	ts = strtoull(st->text, NULL, 10);
	now = lg_now_ns();
	outstanding[from]--;
	if (ts >= t_meas && now < t_end) {
		delivered++;
		lg_hist_add(hist, now > ts ? (now - ts) / 1000 : 0);
	}
	if (args.rate <= 0 && now < t_end)
		send_one(from, now);
}

static void
msg_closed(struct lg_conn *c, const char *why)
{
	if (!opener_closed(&mo, c, why) && phase == P_RUN && why != NULL &&
	    mo.errors_shown++ < 5)
		fprintf(stderr, "%s: session lost: %s\n", c->username, why);
}

static const struct lg_ops msg_ops = { msg_ready, msg_stanza, msg_closed };

/* When message k of the fixed rate is due. */
static uint64_t
sched(uint64_t t0, uint64_t k)
{
	return t0 + (uint64_t)((double)k * 1e9 / args.rate);
}

/* Nanoseconds until the next message of the fixed rate is due. */
static uint64_t
next_due(uint64_t t0)
{
	uint64_t now = lg_now_ns(), at = sched(t0, sent + skipped);

	return at > now ? at - now : 0;
}

/* Send every message whose time has come, each stamped with that time. */
static void
rate_tick(uint64_t t0, unsigned n)
{
	static unsigned	 rr;
	uint64_t	 k, at, now = lg_now_ns();

	for (k = sent + skipped; (at = sched(t0, k)) <= now; k++) {
		unsigned i = rr++ % n;
		if (outstanding[i] >= RATE_CAP || conns[i] == NULL ||
		    conns[i ^ 1] == NULL) {
			skipped++;
			continue;
		}
		send_one(i, at);
	}
}

static void
run(unsigned n)
{
	uint64_t	 t0 = lg_now_ns();
	unsigned	 i;
	int		 w, marked, per = (args.window + 1) / 2;

	phase = P_RUN;
	t_meas = t0 + (uint64_t)args.warmup * 1000000000ull;
	t_end = t_meas + (uint64_t)args.duration * 1000000000ull;
	if (args.rate <= 0)
		for (i = 0; i < n; i++)
			for (w = 0; w < per; w++)
				send_one(i, t0);
	marked = 0;
	while (!lg_stop && lg_now_ns() < t_end) {
		if (!marked && lg_now_ns() >= t_meas) {
			lg_cpu_mark();
			marked = 1;
		}
		if (args.rate <= 0) {
			lg_loop_once(100);
			continue;
		}
		lg_loop_wait_ns(next_due(t0));
		rate_tick(t0, n);
		lg_flush();	/* on the wire now, not after the next wait */
	}
}

int
scen_msg(void)
{
	unsigned	 n = 2 * args.pairs;
	double		 secs, cpu, scpu;

	conns = calloc(n, sizeof(*conns));
	outstanding = calloc(n, sizeof(*outstanding));
	hist = lg_hist_new();
	if (conns == NULL || outstanding == NULL || hist == NULL)
		return 1;
	memset(pad, 'x', BODY_LEN - 22);
	mo.first = args.first;
	mo.n = n;
	mo.conc = args.conc;
	mo.ops = &msg_ops;
	mo.conns = conns;
	if (opener_run(&mo) == -1) {
		fprintf(stderr, "msg: only %u of %u sessions up\n", mo.ready, n);
		printf("RESULT scenario=msg server=%s skipped=login-failed\n",
		    args.server);
		return 1;
	}
	run(n);
	cpu = lg_cpu_pct();
	scpu = lg_server_cpu_pct();
	phase = P_DONE;
	secs = args.duration > 0 ? args.duration : 1;
	fprintf(stderr, "msg: %u pairs, %s %g: %llu delivered in %.0f s = "
	    "%.0f msgs/s, p50 %llu us, p99 %llu us, %llu errors, %llu "
	    "skipped, client cpu %.0f%%\n", args.pairs,
	    args.rate > 0 ? "rate" : "window",
	    args.rate > 0 ? args.rate : (double)args.window,
	    (unsigned long long)delivered, secs, delivered / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99),
	    (unsigned long long)errors, (unsigned long long)skipped, cpu);
	printf("RESULT scenario=%s server=%s pairs=%u window=%d rate=%g "
	    "msgs_per_s=%.1f p50_us=%llu p99_us=%llu errors=%llu rate_skips=%llu "
	    "client_cpu_pct=%.1f server_cpu_pct=%.1f\n",
	    args.rate > 0 ? "msgrate" : "msg",
	    args.server, args.pairs, args.window, args.rate, delivered / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99),
	    (unsigned long long)errors, (unsigned long long)skipped, cpu, scpu);
	lg_close_all();
	free(conns);
	free(outstanding);
	free(hist);
	return 0;
}
