/*
 * lg_presence.c - the "presence" scenario: one user (account `first`, the
 * hub) with N online contacts (accounts first+1 .. first+N) changes its
 * status again and again; the server fans each change out to every
 * contact (RFC 6121 section 4.4.2).  We count deliveries per second and
 * the latency of each delivery (the status text carries the send time).
 *
 * The rosters should be seeded beforehand (bench/compare does it through
 * the server's own storage or tools).  If the hub's roster lacks them,
 * the scenario tries once to build them over XMPP, as two users would
 * (RFC 6121 section 3: subscribe, subscribed, both ways), and reports
 * "skipped" if the server still delivers nothing.  Up to W status changes
 * are in flight; a change is complete when all N contacts have it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define SEED_TIMEOUT_NS	(30ull * 1000000000ull)
#define STALL_NS	(5ull * 1000000000ull)

struct slot {
	uint64_t	 seq;
	unsigned	 count;
};

static struct opener	 co, ho;
static struct lg_conn	*hub;
static char		 hub_bare[128];
static struct slot	*ring;
static uint64_t		 seq, t_meas, t_end, delivered, completed, t_last;
static unsigned		 subscribed, subscribes, have_both;
static int		 running;
static struct lg_hist	*hist;

static void
send_status(void)
{
	uint64_t	 now = lg_now_ns();
	struct slot	*s;

	if (hub == NULL)
		return;
	s = &ring[seq % (uint64_t)args.window];
	s->seq = seq;
	s->count = 0;
	lg_conn_sendf(hub, "<presence><show>%s</show><status>%020llu %llu"
	    "</status></presence>", seq % 2 ? "away" : "chat",
	    (unsigned long long)now, (unsigned long long)seq);
	seq++;
}

static int
from_hub(const struct lg_stanza *st)
{
	size_t	 n = strlen(hub_bare);

	return strncmp(st->from, hub_bare, n) == 0 &&
	    (st->from[n] == '\0' || st->from[n] == '/');
}

static void
contact_stanza(struct lg_conn *c, const struct lg_stanza *st)
{
	char		*sp;
	uint64_t	 ts, sq, now;
	struct slot	*s;

	if (strcmp(st->name, "presence") != 0 || !from_hub(st))
		return;
	if (strcmp(st->type, "subscribe") == 0) {
		/* seeding: approve, and ask back (RFC 6121 3.1.3, 3.1.1) */
		lg_conn_sendf(c, "<presence type='subscribed' to='%s'/>"
		    "<presence type='subscribe' to='%s'/>", hub_bare, hub_bare);
		return;
	}
	if (!running || st->type[0] != '\0' || st->textlen < 22)
		return;
	ts = strtoull(st->text, &sp, 10);
	sq = strtoull(sp, NULL, 10);
	now = lg_now_ns();
	t_last = now;
	if (ts >= t_meas && now < t_end) {
		delivered++;
		lg_hist_add(hist, now > ts ? (now - ts) / 1000 : 0);
	}
	s = &ring[sq % (uint64_t)args.window];
	if (s->seq == sq && ++s->count == co.n) {
		completed++;
		if (now < t_end)
			send_status();
	}
}

static void
hub_stanza(struct lg_conn *c, const struct lg_stanza *st)
{
	if (strcmp(st->name, "presence") != 0)
		return;
	if (strcmp(st->type, "subscribe") == 0) {
		char	 bare[128];
		size_t	 n = strcspn(st->from, "/");
		if (n >= sizeof(bare))
			return;
		memcpy(bare, st->from, n);
		bare[n] = '\0';
		lg_conn_sendf(c, "<presence type='subscribed' to='%s'/>", bare);
		subscribes++;
	} else if (strcmp(st->type, "subscribed") == 0)
		subscribed++;
}

static void
contact_ready(struct lg_conn *c)
{
	opener_ready(&co, c);
}

static void
hub_ready(struct lg_conn *c)
{
	hub = c;
	have_both = (unsigned)c->st.items_both;
	snprintf(hub_bare, sizeof(hub_bare), "%s@%s", c->username,
	    lg_cfg.domain);
	opener_ready(&ho, c);
}

static void
any_closed(struct lg_conn *c, const char *why)
{
	struct opener	*o = c->udata;

	if (c == hub)
		hub = NULL;
	if (!opener_closed(o, c, why) && why != NULL && o->errors_shown++ < 5)
		fprintf(stderr, "%s: session lost: %s\n", c->username, why);
}

static const struct lg_ops contact_ops = { contact_ready, contact_stanza,
	any_closed };
static const struct lg_ops hub_ops = { hub_ready, hub_stanza, any_closed };

static void
seed(void)
{
	uint64_t	 end = lg_now_ns() + SEED_TIMEOUT_NS;
	unsigned	 i;

	fprintf(stderr, "presence: hub has %u of %u contacts; subscribing "
	    "over XMPP\n", have_both, co.n);
	snprintf(hub_bare, sizeof(hub_bare), "%s@%s", hub->username,
	    lg_cfg.domain);
	for (i = 0; i < co.n; i++)
		lg_conn_sendf(hub, "<presence type='subscribe' to='%s%u@%s'/>",
		    lg_cfg.prefix, args.first + 1 + i, lg_cfg.domain);
	while (!lg_stop && hub != NULL && lg_now_ns() < end &&
	    (subscribed < co.n || subscribes < co.n))
		lg_loop_once(100);
	fprintf(stderr, "presence: %u subscribed, %u subscribe answered\n",
	    subscribed, subscribes);
}

static int
run(void)
{
	uint64_t	 t0 = lg_now_ns();
	int		 w, marked = 0;

	running = 1;
	t_last = t0;
	t_meas = t0 + (uint64_t)args.warmup * 1000000000ull;
	t_end = t_meas + (uint64_t)args.duration * 1000000000ull;
	for (w = 0; w < args.window; w++)
		send_status();
	while (!lg_stop && hub != NULL && lg_now_ns() < t_end) {
		if (!marked && lg_now_ns() >= t_meas) {
			lg_cpu_mark();
			marked = 1;
		}
		lg_loop_once(100);
		if (lg_now_ns() - t_last > STALL_NS) {
			fprintf(stderr, "presence: no delivery for 5 s\n");
			return -1;
		}
	}
	return 0;
}

static int
skip(const char *why)
{
	fprintf(stderr, "presence: skipped: %s\n", why);
	printf("RESULT scenario=presence server=%s skipped=%s\n", args.server,
	    why);
	return 0;
}

int
scen_presence(void)
{
	double		 secs = args.duration > 0 ? args.duration : 1;
	int		 stalled;

	ring = calloc((size_t)args.window, sizeof(*ring));
	hist = lg_hist_new();
	if (ring == NULL || hist == NULL)
		return 1;
	co.first = args.first + 1;
	co.n = args.n;
	co.conc = args.conc;
	co.ops = &contact_ops;
	if (opener_run(&co) == -1)
		return skip("contacts-login-failed");
	ho.first = args.first;
	ho.n = 1;
	ho.conc = 1;
	ho.ops = &hub_ops;
	if (opener_run(&ho) == -1)
		return skip("hub-login-failed");
	if (have_both < co.n)
		seed();
	if (hub == NULL)
		return skip("hub-lost");
	stalled = run() == -1;
	if (delivered == 0)
		return skip(stalled ? "no-fanout-deliveries" : "no-deliveries");
	fprintf(stderr, "presence: %u contacts, window %d: %.0f deliveries/s, "
	    "%.0f changes/s, p50 %llu us, p99 %llu us, client cpu %.0f%%%s\n",
	    co.n, args.window, delivered / secs, completed / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99), lg_cpu_pct(),
	    stalled ? " (stalled)" : "");
	printf("RESULT scenario=presence server=%s contacts=%u window=%d "
	    "deliveries_per_s=%.1f changes_per_s=%.1f p50_us=%llu p99_us=%llu "
	    "stalled=%d client_cpu_pct=%.1f server_cpu_pct=%.1f\n", args.server,
	    co.n, args.window,
	    delivered / secs, completed / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99), stalled, lg_cpu_pct(),
	    lg_server_cpu_pct());
	return 0;
}
