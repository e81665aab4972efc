/*
 * loadgen.c - main() of the XMPP load generator and its simple scenarios.
 *
 * usage: loadgen SCENARIO [options]; see usage() below.  Scenarios:
 *   register  XEP-0077 in-band registration of the bench accounts
 *   login     full logins (TLS, SASL, bind, roster, presence), then close
 *   idle      hold N sessions, print READY, wait to be measured
 *   msg       chat between pairs of sessions (lg_msg.c)
 *   presence  status fan-out from one user to N contacts (lg_presence.c)
 *   muc       groupchat fan-out: one sender, N occupants of one room
 *   pep       PEP fan-out: one publisher, N contacts with +notify
 *             (both lg_fanout.c)
 * Each run prints human-readable text on stderr and one line on stdout
 * that starts with "RESULT " and holds key=value pairs, for bench/compare.
 * The load generator always reports its own CPU use (client_cpu_pct,
 * percent of one core) so a client bottleneck is not read as a server
 * limit.  It only ever connects to the address given with -h (loopback
 * by default) and every loop is bounded in time.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lg.h"
#include "loadgen.h"

struct lg_args		 args = {
	.server = "server", .n = 100, .conc = 50, .pairs = 50, .window = 10,
	.duration = 10, .warmup = 1, .first = 1, .timeout = 120,
};
volatile sig_atomic_t	 lg_stop;

static void
usage(void)
{
	fprintf(stderr,
"usage: loadgen register|login|idle|msg|presence|muc|pep [options]\n"
"  -h host (127.0.0.1)  -p port (5222)  -D domain (localhost)  -T direct TLS\n"
"  -w password (bench)  -m SCRAM-SHA-256|SCRAM-SHA-1|PLAIN  -A cafile\n"
"  -u account prefix (user)  -f first account number (1)\n"
"  -n accounts/sessions/contacts (100)  -c concurrent logins (50)\n"
"  -t total logins (login: default n)  -P pairs (50)  -W window (10)\n"
"  -d seconds measured (10)  -e warm-up seconds (1)  -r total rate/s (msg)\n"
"  -S server label for RESULT  -C scram cache file  -x timeout s (120)\n"
"  -k pid,pid,... server processes whose CPU to report\n"
"  -a N  idle: the -n sessions use N accounts, a resource each\n"
"  -b N  spread sessions over N source addresses 127.0.0.2.. (one address\n"
"        has about 28k ports to one server port: 100k sessions need 4)\n"
"  -M always|never  msg: set each account's XEP-0313 archiving default\n"
"        first (the same request for every server: archive on or off)\n");
	exit(2);
}

static void
on_signal(int sig)
{
	lg_stop = 1;
}

/* ---- opening many sessions with bounded concurrency ---- */

void
opener_pump(struct opener *o)
{
	struct lg_conn	*c;

	while (o->inflight < o->conc && o->next < o->n && !lg_stop) {
		c = lg_conn_open(o->first + (o->wrap ? o->next % o->wrap :
		    o->next), o->ops, o);
		if (c == NULL) {
			o->failed++;
			o->next++;
			continue;
		}
		c->index = (int)o->next;
		if (o->conns != NULL)
			o->conns[o->next] = c;
		o->next++;
		o->inflight++;
	}
}

void
opener_ready(struct opener *o, struct lg_conn *c)
{
	o->inflight--;
	o->ready++;
	opener_pump(o);
}

/* Returns 1 if the connection was still logging in. */
int
opener_closed(struct opener *o, struct lg_conn *c, const char *why)
{
	if (o->conns != NULL)
		o->conns[c->index] = NULL;
	if (c->state != ST_CLOSED || c->t_ready != 0)
		return 0;
	o->inflight--;
	o->failed++;
	if (why != NULL && o->errors_shown++ < 5)
		fprintf(stderr, "%s: %s\n", c->username, why);
	opener_pump(o);
	return 1;
}

/* Log in o->n sessions; 0 when all are up, -1 on failure or timeout. */
int
opener_run(struct opener *o)
{
	uint64_t	 end = lg_now_ns() + (uint64_t)args.timeout * 1000000000ull;

	opener_pump(o);
	while (o->ready + o->failed < o->n && !lg_stop && lg_now_ns() < end)
		lg_loop_once(100);
	return o->ready == o->n ? 0 : -1;
}

/* ---- login ---- */

static struct opener	 lo;
static struct lg_hist	*login_hist;

static void
login_ready(struct lg_conn *c)
{
	lg_hist_add(login_hist, (c->t_ready - c->t_start) / 1000);
	lg_conn_close(c);
}

static void
login_closed(struct lg_conn *c, const char *why)
{
	if (opener_closed(&lo, c, why))
		return;
	opener_ready(&lo, c);
}

static const struct lg_ops login_ops = { login_ready, NULL, login_closed };

/* Accounts are used round robin when -t exceeds -n. */
static int
scen_login(void)
{
	uint64_t	 t0, t1;
	unsigned	 total = args.total ? args.total : args.n;
	double		 secs;

	login_hist = lg_hist_new();
	memset(&lo, 0, sizeof(lo));
	lo.first = args.first;
	lo.n = total;
	lo.conc = args.conc;
	lo.ops = &login_ops;
	lo.wrap = args.n;
	lg_cpu_mark();
	t0 = lg_now_ns();
	opener_run(&lo);
	t1 = lg_now_ns();
	secs = (t1 - t0) / 1e9;
	fprintf(stderr, "login: %u ok, %u failed in %.2f s: %.0f logins/s, "
	    "p50 %llu us, p99 %llu us, client cpu %.0f%%, pbkdf2 %lu\n",
	    lo.ready, lo.failed, secs, lo.ready / secs,
	    (unsigned long long)lg_hist_pct(login_hist, 0.5),
	    (unsigned long long)lg_hist_pct(login_hist, 0.99), lg_cpu_pct(),
	    lg_scram_pbkdf2_count());
	printf("RESULT scenario=login server=%s logins=%u failed=%u "
	    "concurrency=%d logins_per_s=%.1f p50_us=%llu p99_us=%llu "
	    "client_cpu_pct=%.1f server_cpu_pct=%.1f\n", args.server, lo.ready,
	    lo.failed, args.conc, lo.ready / secs,
	    (unsigned long long)lg_hist_pct(login_hist, 0.5),
	    (unsigned long long)lg_hist_pct(login_hist, 0.99), lg_cpu_pct(),
	    lg_server_cpu_pct());
	return lo.failed == 0 ? 0 : 1;
}

/* ---- register ---- */

static void
reg_ready(struct lg_conn *c)
{
	c->t_ready = lg_now_ns();
	lg_conn_close(c);
}

static const struct lg_ops reg_ops = { reg_ready, NULL, login_closed };

static int
scen_register(void)
{
	uint64_t	 t0 = lg_now_ns();

	lg_cfg.register_only = 1;
	memset(&lo, 0, sizeof(lo));
	lo.first = args.first;
	lo.n = args.n;
	lo.conc = args.conc;
	lo.ops = &reg_ops;
	opener_run(&lo);
	fprintf(stderr, "register: %u ok (or existing), %u failed, %.1f s\n",
	    lo.ready, lo.failed, (lg_now_ns() - t0) / 1e9);
	printf("RESULT scenario=register server=%s ok=%u failed=%u\n",
	    args.server, lo.ready, lo.failed);
	return lo.failed == 0 ? 0 : 1;
}

/* ---- idle ---- */

static void
idle_ready(struct lg_conn *c)
{
	opener_ready(&lo, c);
}

static void
idle_closed(struct lg_conn *c, const char *why)
{
	if (!opener_closed(&lo, c, why) && why != NULL && lo.errors_shown++ < 5)
		fprintf(stderr, "%s: session lost: %s\n", c->username, why);
}

static const struct lg_ops idle_ops = { idle_ready, NULL, idle_closed };

static int
scen_idle(void)
{
	uint64_t	 t0 = lg_now_ns(), end;
	int		 up;

	memset(&lo, 0, sizeof(lo));
	lo.first = args.first;
	lo.n = args.n;
	lo.conc = args.conc;
	lo.ops = &idle_ops;
	if (args.accounts > 0) {
		lo.wrap = args.accounts;
		lg_cfg.resource_per_session = 1;
	}
	up = opener_run(&lo) == 0;
	printf("READY sessions=%u failed=%u\n", lo.ready, lo.failed);
	fflush(stdout);
	fprintf(stderr, "idle: %u sessions up in %.1f s; holding for %d s\n",
	    lo.ready, (lg_now_ns() - t0) / 1e9, args.duration);
	end = lg_now_ns() + (uint64_t)args.duration * 1000000000ull;
	while (!lg_stop && lg_now_ns() < end)
		lg_loop_once(200);
	printf("RESULT scenario=idle server=%s sessions=%u failed=%u "
	    "still_up=%d\n", args.server, lo.ready, lo.failed, lg_live_conns());
	return up ? 0 : 1;
}

/* ---- setup ---- */

static int
parse_mech(const char *s)
{
	if (strcmp(s, "SCRAM-SHA-256") == 0)
		return MECH_SCRAM_SHA256;
	if (strcmp(s, "SCRAM-SHA-1") == 0)
		return MECH_SCRAM_SHA1;
	if (strcmp(s, "PLAIN") == 0)
		return MECH_PLAIN;
	usage();
	return -1;
}

static void
parse_args(int argc, char *argv[])
{
	int	 ch;

	while ((ch = getopt(argc, argv,
	    "A:C:D:M:P:S:TW:a:b:c:d:e:f:h:k:m:n:p:r:t:u:w:x:")) != -1) {
		switch (ch) {
		case 'A': args.cafile = optarg; break;
		case 'C': args.cache = optarg; break;
		case 'D': lg_cfg.domain = optarg; break;
		case 'M': args.mam_default = optarg; break;
		case 'P': args.pairs = (unsigned)atoi(optarg); break;
		case 'S': args.server = optarg; break;
		case 'T': lg_cfg.direct_tls = 1; break;
		case 'W': args.window = atoi(optarg); break;
		case 'a': args.accounts = (unsigned)atoi(optarg); break;
		case 'b': lg_cfg.nsrc = atoi(optarg); break;
		case 'c': args.conc = atoi(optarg); break;
		case 'd': args.duration = atoi(optarg); break;
		case 'e': args.warmup = atoi(optarg); break;
		case 'f': args.first = (unsigned)atoi(optarg); break;
		case 'h': lg_cfg.host = optarg; break;
		case 'k':
			if (lg_server_pids(optarg) == -1)
				usage();
			break;
		case 'm': lg_cfg.mech = (enum lg_mech)parse_mech(optarg); break;
		case 'n': args.n = (unsigned)atoi(optarg); break;
		case 'p': lg_cfg.port = optarg; break;
		case 'r': args.rate = atof(optarg); break;
		case 't': args.total = (unsigned)atoi(optarg); break;
		case 'u': lg_cfg.prefix = optarg; break;
		case 'w': lg_cfg.password = optarg; break;
		case 'x': args.timeout = atoi(optarg); break;
		default: usage();
		}
	}
	if (args.conc < 1 || args.window < 1 || args.duration < 0 ||
	    args.n < 1 || args.pairs < 1 || args.n > 1000000 ||
	    args.pairs > 100000)
		usage();
}

/* One fd per session: idle runs need more than the usual soft 1024. */
static void
raise_fd_limit(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static SSL_CTX *
make_ssl_ctx(void)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* One read() per socket for all the records it holds (conn_read
	 * reads until WANT_READ), not a header and a body per record. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Every login is a full handshake: no client-side session cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (args.cafile != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, args.cafile, NULL))
			return NULL;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

int
main(int argc, char *argv[])
{
	const char	*scen;
	int		 rc = 2;

	if (argc < 2)
		usage();
	scen = argv[1];
	lg_cfg.host = "127.0.0.1";
	lg_cfg.port = "5222";
	lg_cfg.domain = "localhost";
	lg_cfg.password = "bench";
	lg_cfg.prefix = "user";
	lg_cfg.resource = "lg";
	lg_cfg.want_roster = lg_cfg.want_presence = 1;
	parse_args(argc - 1, argv + 1);
	raise_fd_limit();
	/* timestamps and fixed-rate sends to the microsecond, not the
	 * kernel's default 50 us of timer slack */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((lg_cfg.ssl_ctx = make_ssl_ctx()) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if (lg_loop_init() == -1) {
		fprintf(stderr, "cannot resolve %s:%s\n", lg_cfg.host,
		    lg_cfg.port);
		return 1;
	}
	if (args.cache != NULL)
		lg_scram_cache_load(args.cache);
	if (strcmp(scen, "login") == 0)
		rc = scen_login();
	else if (strcmp(scen, "register") == 0)
		rc = scen_register();
	else if (strcmp(scen, "idle") == 0)
		rc = scen_idle();
	else if (strcmp(scen, "msg") == 0)
		rc = scen_msg();
	else if (strcmp(scen, "presence") == 0)
		rc = scen_presence();
	else if (strcmp(scen, "muc") == 0)
		rc = scen_muc();
	else if (strcmp(scen, "pep") == 0)
		rc = scen_pep();
	else
		usage();
	lg_close_all();
	if (args.cache != NULL && lg_scram_cache_save(args.cache) == -1)
		fprintf(stderr, "cannot save %s: %s\n", args.cache,
		    strerror(errno));
	fflush(stdout);
	return rc;
}
