/*
 * monitord.c - main(), the loop, thresholds and alerts (docs/monitor.md).
 *
 * The loop turns libstrophe's event loop in slices of at most 200 ms; in
 * between it (re)connects when the connection is down and its backoff
 * has passed (1 s doubling to 60 s), and samples when the interval has
 * passed.  A sample publishes each metric whose value moved by at least
 * its threshold since the value last published (always the first time
 * after a login), and an alert item whenever a limit is crossed either
 * way.  SIGTERM and SIGINT end the session cleanly and exit 0.
 *
 * Invariants: the metric table holds at most MON_MAX_METRICS entries (new
 * names past that are ignored); nothing is published while offline, and
 * a login forgets what was published, so a viewer never sees a value
 * older than the last sample after a reconnect.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "monitord.h"

static volatile sig_atomic_t	 quit;
static struct mon_metric	 metrics[MON_MAX_METRICS];
static int			 nmetrics;
static unsigned			 backoff = MON_BACKOFF_MIN;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_signal(int sig)
{
	quit = 1;
}

void
mon_connected(void)
{
	backoff = MON_BACKOFF_MIN;
	mon_forget_published();
}

void
mon_forget_published(void)
{
	int i;

	for (i = 0; i < nmetrics; i++)
		metrics[i].have_published = 0;
}

static struct mon_metric *
metric_get(const char *name)
{
	int i;

	for (i = 0; i < nmetrics; i++)
		if (strcmp(metrics[i].cur.name, name) == 0)
			return &metrics[i];
	if (nmetrics == MON_MAX_METRICS)
		return NULL;
	memset(&metrics[nmetrics], 0, sizeof(metrics[0]));
	return &metrics[nmetrics++];
}

/* Is the value past its alert limit?  Returns the limit (0: none). */
static double
alert_limit(const struct mon_value *v, int *above)
{
	*above = 1;
	if (strcmp(v->name, "load") == 0)
		return mon_conf.alert_load;
	if (strcmp(v->name, "cpu") == 0)
		return mon_conf.alert_cpu;
	if (strncmp(v->name, "disk:", 5) == 0)
		return mon_conf.alert_disk;
	*above = 0;
	if (strcmp(v->name, "memory") == 0)
		return mon_conf.alert_memory;
	return 0;
}

static void
check_alert(struct mon_metric *m)
{
	const struct mon_value	*v = &m->cur;
	double			 lim;
	int			 above, bad;
	char			 why[160];

	if ((lim = alert_limit(v, &above)) <= 0)
		return;
	bad = above ? v->value > lim : v->value < lim;
	if (bad == m->alerting)
		return;
	snprintf(why, sizeof(why), "%s %g%s%s %s %g", v->name, v->value,
	    v->unit[0] ? " " : "", v->unit, bad ? (above ? "above" : "below") :
	    (above ? "back under" : "back over"), lim);
	mon_publish_alert(v, lim, bad, why);
	m->alerting = bad;
}

static void
sample(void)
{
	struct mon_value	 vals[MON_MAX_METRICS];
	struct mon_metric	*m;
	double			 d;
	int			 i, n;

	n = mon_sample(vals, MON_MAX_METRICS);
	for (i = 0; i < n; i++) {
		if ((m = metric_get(vals[i].name)) == NULL)
			continue;
		m->cur = vals[i];
		d = m->cur.value - m->published;
		if (!m->have_published || d >= m->cur.delta ||
		    -d >= m->cur.delta) {
			mon_publish(&m->cur);
			m->published = m->cur.value;
			m->have_published = 1;
		}
		check_alert(m);
	}
}

static void
loop(void)
{
	double	 next_try = 0, next_sample = 0, now;

	while (!quit) {
		now = mono();
		if (mon_xmpp_down() && now >= next_try) {
			mon_xmpp_connect();
			next_try = now + backoff;
			if (backoff < MON_BACKOFF_MAX)
				backoff = backoff * 2 > MON_BACKOFF_MAX ?
				    MON_BACKOFF_MAX : backoff * 2;
		}
		if (mon_xmpp_online() && now >= next_sample) {
			sample();
			next_sample = now + mon_conf.interval;
		}
		mon_xmpp_run(200);
	}
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	double	 end;

	if (mon_conf_args(argc, argv) == -1)
		return 2;
	log_init("monitord", mon_conf.verbose ? 2 : 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (mon_xmpp_init() == -1)
		fatalx("libstrophe did not start");
	log_info("watching %s every %us as %s", mon_conf.proc_root,
	    mon_conf.interval, mon_conf.jid);
	loop();
	/* a clean </stream:stream>, for at most 2 s */
	mon_xmpp_disconnect();
	for (end = mono() + 2; !mon_xmpp_down() && mono() < end;)
		mon_xmpp_run(100);
	mon_xmpp_free();
	log_info("stopped");
	return 0;
}
