/*
 * lg_stats.c - latency histograms and the load generator's own CPU use.
 *
 * Latencies are kept in a fixed log-linear histogram (HdrHistogram's idea,
 * written small): values below 1024 us are exact, above that each power of
 * two is cut into 64 buckets, so any percentile is within 1.6% and memory
 * is bounded however long the run.  lg_cpu_mark()/lg_cpu_pct() bracket
 * the measured phase with getrusage() so every report can say how busy
 * the client itself was: a client near 100% of a core measures itself,
 * not the server.  Given the server's pids (-k), the same interval's
 * server CPU is read from /proc/PID/stat, so work per server CPU-second
 * can be quoted even when other jobs share the machine.
 */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define SUB_BITS	6
#define SUB		(1u << SUB_BITS)
#define LINEAR		1024u
#define MAX_EXP		40	/* values up to 2^40 us: days */
#define NBUCKET		((int)(LINEAR + (MAX_EXP - 10) * SUB))

struct lg_hist {
	uint64_t	n;
	uint64_t	b[NBUCKET];
};

static int
bucket_of(uint64_t v)
{
	int	 e;

	if (v < LINEAR)
		return (int)v;
	e = 63 - __builtin_clzll(v);		/* v in [2^e, 2^(e+1)) */
	if (e >= MAX_EXP)
		return NBUCKET - 1;
	return LINEAR + (e - 10) * SUB + (int)((v >> (e - SUB_BITS)) & (SUB - 1));
}

static uint64_t
value_of(int i)
{
	int	 e;

	if (i < (int)LINEAR)
		return (uint64_t)i;
	e = (i - LINEAR) / SUB + 10;
	/* middle of the bucket */
	return (1ull << e) + ((uint64_t)((i - LINEAR) % SUB) << (e - SUB_BITS)) +
	    (1ull << (e - SUB_BITS - 1));
}

struct lg_hist *
lg_hist_new(void)
{
	return calloc(1, sizeof(struct lg_hist));
}

void
lg_hist_add(struct lg_hist *h, uint64_t us)
{
	h->b[bucket_of(us)]++;
	h->n++;
}

uint64_t
lg_hist_count(const struct lg_hist *h)
{
	return h->n;
}

void
lg_hist_reset(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
}

/* Smallest recorded value v such that a fraction p of samples are <= v. */
uint64_t
lg_hist_pct(const struct lg_hist *h, double p)
{
	uint64_t	 want, seen = 0;
	int		 i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(p * (double)h->n);
	if (want < 1)
		want = 1;
	for (i = 0; i < NBUCKET; i++) {
		seen += h->b[i];
		if (seen >= want)
			return value_of(i);
	}
	return value_of(NBUCKET - 1);
}

#define MAX_SERVER_PIDS	64

static double	cpu0, wall0, srv0;
static int	srv_pids[MAX_SERVER_PIDS], nsrv;

/* "-k 12,34": the server's processes, whose CPU we read from /proc. */
int
lg_server_pids(const char *list)
{
	char	*end;
	long	 v;

	while (*list != '\0' && nsrv < MAX_SERVER_PIDS) {
		v = strtol(list, &end, 10);
		if (end == list || v <= 0)
			return -1;
		srv_pids[nsrv++] = (int)v;
		list = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* utime + stime of the server's processes, in seconds. */
static double
server_cpu(void)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	double		 t = 0;
	FILE		*f;
	int		 i;

	for (i = 0; i < nsrv; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", srv_pids[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu", &ut, &st) == 2)
			t += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	return t;
}

/* Server CPU since the mark, in percent of one core; -1 if unknown. */
double
lg_server_cpu_pct(void)
{
	double	 wall = lg_now_ns() / 1e9 - wall0;

	if (nsrv == 0 || wall <= 0)
		return -1;
	return 100.0 * (server_cpu() - srv0) / wall;
}

static double
cpu_now(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void
lg_cpu_mark(void)
{
	cpu0 = cpu_now();
	srv0 = server_cpu();
	wall0 = lg_now_ns() / 1e9;
}

/* Client CPU since the mark, in percent of one core. */
double
lg_cpu_pct(void)
{
	double	 wall = lg_now_ns() / 1e9 - wall0;

	if (wall <= 0)
		return 0;
	return 100.0 * (cpu_now() - cpu0) / wall;
}
