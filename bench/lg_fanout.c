/*
 * lg_fanout.c - the "muc" and "pep" scenarios: one sender, N receivers,
 * every stanza the sender emits is fanned out by the server to all N.
 *
 * muc: accounts first+1 .. first+N join the room bench@conference.DOMAIN
 * (XEP-0045 section 7.2, no history), account `first` joins last and sends
 * groupchat messages; the room reflects each to every occupant (7.4).  A
 * room the sender finds new (status 201) is made an instant room (10.1.2)
 * before the others join.
 * pep: account `first` (the hub, whose roster holds the N contacts with
 * subscription both; bench/compare's presence run seeds them) publishes
 * to the node urn:xmpp:rampart-bench:0 in its PEP service (XEP-0163
 * section 4.3); each contact advertises +notify for that node through
 * entity capabilities (XEP-0115, the verification string computed as in
 * section 5.1) and answers the server's disco#info, so the server sends
 * it every publication.
 *
 * The payload (body or item) starts with the send time, so latency needs
 * no table; up to W emissions are in flight and one is complete when all
 * N receivers have it.  Deliveries per second and p50/p99 are reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "loadgen.h"

#define STALL_NS	(5ull * 1000000000ull)
#define WAIT_NS		(30ull * 1000000000ull)
#define CAPS_NODE	"https://rampart.invalid/bench"

struct slot {
	uint64_t	 seq;
	unsigned	 count;
};

static int		 is_muc;
static struct opener	 ro, so;
static struct lg_conn	*sender;
static char		 room[256], sender_bare[192];
static struct slot	*ring;
static uint64_t		 seq, t_meas, t_end, delivered, completed, t_last;
static unsigned		 joined;
static int		 sender_in, room_new, configured, running, priming;
static struct lg_hist	*hist;
static char		 caps_ver[64];

static const char disco_features[] =
	"<identity category='client' type='pc' name='bench'/>"
	"<feature var='http://jabber.org/protocol/caps'/>"
	"<feature var='" NS_BENCH "+notify'/>";

/* XEP-0115 5.1: identity, then features in byte order, each with '<'. */
static void
caps_compute(void)
{
	static const char s[] = "client/pc//bench<"
	    "http://jabber.org/protocol/caps<" NS_BENCH "+notify<";
	unsigned char	 md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)s, sizeof(s) - 1, md);
	EVP_EncodeBlock((unsigned char *)caps_ver, md, sizeof(md));
}

static void
emit(void)
{
	uint64_t	 now = lg_now_ns();
	struct slot	*s;

	if (sender == NULL)
		return;
	s = &ring[seq % (uint64_t)args.window];
	s->seq = seq;
	s->count = 0;
	if (is_muc)
		lg_conn_sendf(sender, "<message to='%s' type='groupchat'><body>"
		    "%020llu %llu</body></message>", room,
		    (unsigned long long)now, (unsigned long long)seq);
	else
		lg_conn_sendf(sender, "<iq type='set' id='p%llu'><pubsub "
		    "xmlns='http://jabber.org/protocol/pubsub'><publish node='"
		    NS_BENCH "'><item id='current'><entry xmlns='" NS_BENCH
		    "'>%020llu %llu</entry></item></publish></pubsub></iq>",
		    (unsigned long long)seq, (unsigned long long)now,
		    (unsigned long long)seq);
	seq++;
}

/* Does `from` (a full or bare JID) belong to `bare`? */
static int
from_is(const char *from, const char *bare)
{
	size_t	 n = strlen(bare);

	return strncmp(from, bare, n) == 0 &&
	    (from[n] == '\0' || from[n] == '/');
}

static void
receiver_stanza(struct lg_conn *c, const struct lg_stanza *st)
{
	char		*sp;
	uint64_t	 ts, sq, now;
	struct slot	*s;

	if (is_muc && strcmp(st->name, "presence") == 0 && st->muc_self &&
	    from_is(st->from, room))
		joined++;
	if (strcmp(st->name, "message") != 0 || st->textlen < 22 ||
	    !from_is(st->from, is_muc ? room : sender_bare))
		return;
	ts = strtoull(st->text, &sp, 10);
	sq = strtoull(sp, NULL, 10);
	now = lg_now_ns();
	t_last = now;
	if (!running)
		return;
	if (ts >= t_meas && now < t_end) {
		delivered++;
		lg_hist_add(hist, now > ts ? (now - ts) / 1000 : 0);
	}
	s = &ring[sq % (uint64_t)args.window];
	if (s->seq == sq && ++s->count == ro.n) {
		completed++;
		if (now < t_end && !priming)
			emit();
	}
}

static void
sender_stanza(struct lg_conn *c, const struct lg_stanza *st)
{
	if (strcmp(st->name, "presence") == 0 && st->muc_self) {
		sender_in = 1;
		room_new |= st->muc_created;
	} else if (strcmp(st->name, "iq") == 0 && strcmp(st->id, "cfg") == 0)
		configured = 1;
}

static void
join(struct lg_conn *c, const char *nick)
{
	lg_conn_sendf(c, "<presence to='%s/%s'><x xmlns='http://jabber.org/"
	    "protocol/muc'><history maxstanzas='0'/></x></presence>", room,
	    nick);
}

static void
receiver_ready(struct lg_conn *c)
{
	char	 nick[32];

	if (is_muc) {
		snprintf(nick, sizeof(nick), "o%u", c->user);
		join(c, nick);
	} else
		lg_conn_sendf(c, "<presence><c xmlns='http://jabber.org/"
		    "protocol/caps' hash='sha-1' node='" CAPS_NODE "' ver='%s'"
		    "/></presence>", caps_ver);
	opener_ready(&ro, c);
}

static void
sender_ready(struct lg_conn *c)
{
	sender = c;
	snprintf(sender_bare, sizeof(sender_bare), "%s@%s", c->username,
	    lg_cfg.domain);
	opener_ready(&so, c);
}

static void
any_closed(struct lg_conn *c, const char *why)
{
	struct opener	*o = c->udata;

	if (c == sender)
		sender = NULL;
	if (!opener_closed(o, c, why) && why != NULL && o->errors_shown++ < 5)
		fprintf(stderr, "%s: session lost: %s\n", c->username, why);
}

static const struct lg_ops receiver_ops = { receiver_ready, receiver_stanza,
	any_closed };
static const struct lg_ops sender_ops = { sender_ready, sender_stanza,
	any_closed };

/* Run the loop until `done` holds or WAIT_NS pass; 0 if it held. */
static int
wait_for(int (*done)(void))
{
	uint64_t	 end = lg_now_ns() + WAIT_NS;

	while (!lg_stop && !done() && lg_now_ns() < end)
		lg_loop_once(100);
	return done() ? 0 : -1;
}

static int	sender_joined(void) { return sender_in || sender == NULL; }
static int	room_configured(void) { return configured || sender == NULL; }
static int	all_joined(void) { return joined >= ro.n; }
static int	primed(void) { return completed > 0 || sender == NULL; }

/*
 * One untimed emission that every receiver must get before the clock
 * starts: a server may still be sending the join presences (N squared
 * for a room) or answering caps queries, and the measured interval must
 * not be spent on that backlog.
 */
static int
prime(void)
{
	uint64_t	 end = lg_now_ns() + WAIT_NS, next = 0;

	running = priming = 1;
	t_meas = t_end = UINT64_MAX;
	/* Again every 2 s: a receiver whose join was still on its way may
	 * have missed the first one. */
	while (!lg_stop && !primed() && lg_now_ns() < end) {
		if (lg_now_ns() >= next) {
			emit();
			next = lg_now_ns() + 2000000000ull;
		}
		lg_loop_once(100);
	}
	if (!primed())
		return -1;
	running = priming = 0;
	completed = 0;
	return 0;
}

static int
settle(void)
{
	static uint64_t	 end;

	if (end == 0)
		end = lg_now_ns() + 2000000000ull;
	return lg_now_ns() >= end;
}

/* The room exists, unlocked, before anyone else comes in. */
static int
muc_prepare(void)
{
	join(sender, "s");
	if (wait_for(sender_joined) == -1 || sender == NULL)
		return -1;
	if (room_new) {
		lg_conn_sendf(sender, "<iq type='set' id='cfg' to='%s'><query "
		    "xmlns='http://jabber.org/protocol/muc#owner'><x "
		    "xmlns='jabber:x:data' type='submit'/></query></iq>", room);
		if (wait_for(room_configured) == -1)
			return -1;
	}
	return 0;
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
		emit();
	while (!lg_stop && sender != NULL && lg_now_ns() < t_end) {
		if (!marked && lg_now_ns() >= t_meas) {
			lg_cpu_mark();
			marked = 1;
		}
		lg_loop_once(100);
		if (lg_now_ns() - t_last > STALL_NS)
			return -1;
	}
	return 0;
}

static int
skip(const char *scen, const char *why)
{
	fprintf(stderr, "%s: skipped: %s\n", scen, why);
	printf("RESULT scenario=%s server=%s skipped=%s\n", scen, args.server,
	    why);
	return 0;
}

static int
fanout(const char *scen)
{
	double		 secs = args.duration > 0 ? args.duration : 1;
	int		 stalled;

	ring = calloc((size_t)args.window, sizeof(*ring));
	hist = lg_hist_new();
	if (ring == NULL || hist == NULL)
		return 1;
	snprintf(room, sizeof(room), "bench@conference.%s", lg_cfg.domain);
	so.first = args.first;
	so.n = so.conc = 1;
	so.ops = &sender_ops;
	if (opener_run(&so) == -1)
		return skip(scen, "sender-login-failed");
	if (is_muc && muc_prepare() == -1)
		return skip(scen, "room-not-joined");
	ro.first = args.first + 1;
	ro.n = args.n;
	ro.conc = args.conc;
	ro.ops = &receiver_ops;
	if (opener_run(&ro) == -1)
		return skip(scen, "receivers-login-failed");
	/* Occupants in the room; or time for the server's caps queries. */
	if (is_muc ? wait_for(all_joined) == -1 : wait_for(settle) == -1)
		return skip(scen, "not-all-joined");
	if (sender == NULL)
		return skip(scen, "sender-lost");
	if (prime() == -1)
		return skip(scen, "first-fanout-incomplete");
	stalled = run() == -1;
	if (delivered == 0)
		return skip(scen, stalled ? "no-fanout-deliveries" :
		    "no-deliveries");
	fprintf(stderr, "%s: %u receivers, window %d: %.0f deliveries/s, "
	    "%.0f sends/s, p50 %llu us, p99 %llu us, client cpu %.0f%%%s\n",
	    scen, ro.n, args.window, delivered / secs, completed / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99), lg_cpu_pct(),
	    stalled ? " (stalled)" : "");
	printf("RESULT scenario=%s server=%s receivers=%u window=%d "
	    "deliveries_per_s=%.1f sends_per_s=%.1f p50_us=%llu p99_us=%llu "
	    "stalled=%d client_cpu_pct=%.1f server_cpu_pct=%.1f\n", scen,
	    args.server, ro.n, args.window, delivered / secs, completed / secs,
	    (unsigned long long)lg_hist_pct(hist, 0.5),
	    (unsigned long long)lg_hist_pct(hist, 0.99), stalled, lg_cpu_pct(),
	    lg_server_cpu_pct());
	return 0;
}

int
scen_muc(void)
{
	is_muc = 1;
	return fanout("muc");
}

int
scen_pep(void)
{
	caps_compute();
	lg_cfg.disco_info = disco_features;
	return fanout("pep");
}
