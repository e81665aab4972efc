/*
 * authd_sasl.c - the frame side of SASL: RF_SASL_START/STEP/ABORT from
 * c2sd (through routerd) in, RF_SASL_CHALLENGE/SUCCESS/FAILURE out.
 *
 * An exchange is keyed by (origin, session): the c2sd instance routerd
 * stamped and that c2sd's session id.  Invariants: at most
 * AUTHD_MAX_EXCHANGES are open, each for at most AUTHD_EXCHANGE_TTL
 * seconds (a periodic sweep frees the stale ones); an exchange is freed
 * as soon as it succeeds or fails, so a failed step cannot be retried;
 * failed logins are counted per account and per peer address in fixed
 * tables (throttle below), and past auth-max-fails within
 * auth-fail-window the answer is temporary-auth-failure.  Logs carry the
 * mechanism, the username and the peer address, never a password, proof
 * or key.  Body layouts are in docs/auth.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sodium.h>

#include "authd.h"
#include "daemon.h"
#include "frame.h"
#include "link.h"
#include "log.h"

#define EXCH_BUCKETS	4096
#define SWEEP_SECONDS	10
#define THROTTLE_PROBES	8
#define IP_MAX		63
#define SCRAM_OUT_MAX	(SCRAM_MSG_MAX + 256)

enum mech { M_PLAIN, M_SCRAM };

struct exchange {
	struct exchange	*next;		/* hash chain */
	uint16_t	 origin;
	uint64_t	 session;
	time_t		 started;
	enum mech	 mech;
	int		 step;		/* SCRAM: 0 before client-first */
	const char	*mech_name;
	struct scram	*scram;
	char		 host[JID_PART_MAX + 1];
	char		 ip[IP_MAX + 1];
};

/* One mechanism we know; -PLUS ones only when channel binding exists. */
static const struct {
	const char	*name;
	enum mech	 mech;
	enum scram_hash	 hash;
	int		 plus;
} mechs[] = {
	{ "SCRAM-SHA-256-PLUS",	M_SCRAM, SCRAM_SHA256,	1 },
	{ "SCRAM-SHA-1-PLUS",	M_SCRAM, SCRAM_SHA1,	1 },
	{ "SCRAM-SHA-256",	M_SCRAM, SCRAM_SHA256,	0 },
	{ "SCRAM-SHA-1",	M_SCRAM, SCRAM_SHA1,	0 },
	{ "PLAIN",		M_PLAIN, SCRAM_SHA256,	0 },
};

static struct exchange	*buckets[EXCH_BUCKETS];
static unsigned		 nexchanges;
static struct event	*sweep_ev;

/* Failed-login counters: SipHash of "u:user@host" or "i:ip". */
struct fail_slot {
	uint64_t	h;
	time_t		start;
	unsigned	count;
};
static struct fail_slot	 fails[2 * AUTHD_THROTTLE_SLOTS];
static uint8_t		 fail_key[crypto_shorthash_KEYBYTES];

static time_t
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- the exchange table ---- */

static struct exchange **
exch_slot(uint16_t origin, uint64_t session)
{
	uint64_t	h = session * 0x9e3779b97f4a7c15ULL ^ origin;

	return &buckets[(h >> 32) % EXCH_BUCKETS];
}

static struct exchange *
exch_find(uint16_t origin, uint64_t session)
{
	struct exchange	*x;

	for (x = *exch_slot(origin, session); x != NULL; x = x->next)
		if (x->origin == origin && x->session == session)
			return x;
	return NULL;
}

static void
exch_free(struct exchange *x)
{
	struct exchange	**pp;

	for (pp = exch_slot(x->origin, x->session); *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	scram_free(x->scram);
	free(x);
	nexchanges--;
}

static void
sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct exchange	*x, *next;
	time_t		 t = now();
	size_t		 i;

	for (i = 0; i < EXCH_BUCKETS; i++) {
		for (x = buckets[i]; x != NULL; x = next) {
			next = x->next;
			if (t - x->started >= AUTHD_EXCHANGE_TTL)
				exch_free(x);
		}
	}
}

/* ---- the failed-login throttle ---- */

static int
slot_free(const struct fail_slot *s, time_t t)
{
	return s->h == 0 || t - s->start >= (time_t)authd_conf.fail_window;
}

/*
 * The slot for a key, among THROTTLE_PROBES neighbours; with `create`, a
 * free or expired one, else the oldest is taken over.  The table is
 * fixed, so a flood of addresses can only push out old counters.
 */
static struct fail_slot *
fail_find(const char *kind, const char *a, const char *b, int create)
{
	char			 key[2 + 2 * JID_PART_MAX + 2];
	struct fail_slot	*s, *victim = NULL;
	const size_t		 n = sizeof(fails) / sizeof(fails[0]);
	uint64_t		 h;
	size_t			 i, base;
	time_t			 t = now();

	snprintf(key, sizeof(key), "%s%s%s%s", kind, a, b ? "@" : "",
	    b ? b : "");
	crypto_shorthash((uint8_t *)&h, (uint8_t *)key, strlen(key), fail_key);
	h |= 1;				/* 0 marks a free slot */
	base = (size_t)(h >> 1) % n;
	for (i = 0; i < THROTTLE_PROBES; i++) {
		s = &fails[(base + i) % n];
		if (s->h == h)
			return s;
		if (victim != NULL && slot_free(victim, t))
			continue;
		if (victim == NULL || slot_free(s, t) ||
		    s->start < victim->start)
			victim = s;
	}
	if (!create)
		return NULL;
	victim->h = h;
	victim->start = t;
	victim->count = 0;
	return victim;
}

static int
throttled(const char *kind, const char *a, const char *b)
{
	struct fail_slot	*s;

	if (authd_conf.max_fails == 0 || (s = fail_find(kind, a, b, 0)) == NULL)
		return 0;
	if (now() - s->start >= (time_t)authd_conf.fail_window)
		return 0;
	return s->count >= authd_conf.max_fails;
}

static void
fail_count(const char *kind, const char *a, const char *b)
{
	struct fail_slot	*s;

	if (authd_conf.max_fails == 0 ||
	    (s = fail_find(kind, a, b, 1)) == NULL)
		return;
	if (now() - s->start >= (time_t)authd_conf.fail_window) {
		s->start = now();
		s->count = 0;
	}
	s->count++;
}

static void
fail_clear(const char *kind, const char *a, const char *b)
{
	struct fail_slot	*s;

	if ((s = fail_find(kind, a, b, 0)) != NULL)
		s->count = 0;
}

/* ---- answers ---- */

static struct fout *
reply_new(uint16_t type, const struct frame *req)
{
	struct fout	*o;

	if ((o = fout_new(type, NULL, NULL)) == NULL)
		return NULL;
	/* routerd sends the answer back to the asking c2sd by origin. */
	o->hdr.session = req->hdr.session;
	o->hdr.corr = req->hdr.corr;
	o->hdr.origin = req->hdr.origin;
	return o;
}

static void
reply_send(struct link *l, struct fout *o)
{
	if (link_send(l, o) == -1)
		log_warn("cannot answer a SASL request");
}

static void
send_failure(struct link *l, const struct frame *req, enum authd_cond c,
    const char *text)
{
	struct fout	*o;

	if ((o = reply_new(RF_SASL_FAILURE, req)) != NULL) {
		fout_put_str(o, authd_cond_name(c));
		fout_put_str(o, text);
	}
	reply_send(l, o);
}

static void
send_challenge(struct link *l, const struct frame *req, const void *d,
    size_t len)
{
	struct fout	*o;

	if ((o = reply_new(RF_SASL_CHALLENGE, req)) != NULL)
		fout_put_data(o, d, len);
	reply_send(l, o);
}

static const char *
fail_text(enum authd_cond c)
{
	switch (c) {
	case AC_TEMPORARY:
		return "too many failed attempts or busy; try again later";
	case AC_MALFORMED:
		return "malformed SASL message";
	case AC_INVALID_AUTHZID:
		return "authorization identity not allowed";
	default:
		return "";
	}
}

/* The end of an exchange, either way: log, count, answer, forget. */
static void
finish(struct link *l, const struct frame *req, struct exchange *x,
    const char *user, enum authd_cond c, const char *add, size_t addlen)
{
	struct fout	*o;

	if (c == AC_OK) {
		log_info("auth ok: %s %s@%s from %s", x->mech_name, user,
		    x->host, x->ip);
		fail_clear("u:", user, x->host);
		if ((o = reply_new(RF_SASL_SUCCESS, req)) != NULL) {
			fout_put_str(o, user);
			fout_put_data(o, add, addlen);
		}
		reply_send(l, o);
	} else {
		log_info("auth failed (%s): %s %s@%s from %s",
		    authd_cond_name(c), x->mech_name, *user ? user : "-",
		    x->host, x->ip);
		if (c != AC_TEMPORARY) {
			fail_count("i:", x->ip, NULL);
			if (*user != '\0')
				fail_count("u:", user, x->host);
		}
		send_failure(l, req, c, fail_text(c));
	}
	exch_free(x);
}

/* 1 known, 0 unknown (fake credentials filled in), -1 store error. */
static int
lookup(const struct exchange *x, const char *user, struct authd_creds *c)
{
	switch (authd_acct_get(authd_store, user, x->host, c)) {
	case 0:
		return 1;
	case 1:
		authd_creds_fake(authd_secret, user, x->host,
		    authd_conf.iterations, c);
		return 0;
	default:
		log_warn("account store read for %s@%s", user, x->host);
		return -1;
	}
}

static void
step_plain(struct link *l, const struct frame *req, struct exchange *x,
    const uint8_t *d, size_t len)
{
	char			 user[JID_PART_MAX + 1], pass[JID_PART_MAX + 1];
	struct authd_creds	 c;
	enum authd_cond		 rc;
	int			 known = 0;

	rc = plain_parse(d, len, x->host, user, pass, sizeof(pass));
	if (rc != AC_OK && rc != AC_INVALID_AUTHZID)
		user[0] = '\0';
	if (rc == AC_OK && throttled("u:", user, x->host))
		rc = AC_TEMPORARY;
	if (rc == AC_OK && (known = lookup(x, user, &c)) == -1)
		rc = AC_TEMPORARY;
	if (rc == AC_OK)
		rc = plain_verify(&c, known, pass);
	sodium_memzero(pass, sizeof(pass));
	sodium_memzero(&c, sizeof(c));
	finish(l, req, x, user, rc, NULL, 0);
}

static void
step_scram(struct link *l, const struct frame *req, struct exchange *x,
    const uint8_t *d, size_t len)
{
	char			 out[SCRAM_OUT_MAX];
	const char		*user;
	struct authd_creds	 c;
	enum authd_cond		 rc;
	size_t			 olen = 0;
	int			 known;

	if (x->step > 0) {
		rc = scram_client_final(x->scram, (const char *)d, len, out,
		    sizeof(out), &olen);
		finish(l, req, x, scram_user(x->scram), rc, out, olen);
		return;
	}
	rc = scram_client_first(x->scram, (const char *)d, len);
	user = rc == AC_OK || rc == AC_INVALID_AUTHZID ?
	    scram_user(x->scram) : "";
	if (rc == AC_OK && throttled("u:", user, x->host))
		rc = AC_TEMPORARY;
	if (rc == AC_OK && (known = lookup(x, user, &c)) == -1)
		rc = AC_TEMPORARY;
	if (rc == AC_OK) {
		rc = scram_server_first(x->scram, &c, known, out, sizeof(out),
		    &olen);
		sodium_memzero(&c, sizeof(c));
	}
	if (rc != AC_OK) {
		finish(l, req, x, user, rc, NULL, 0);
		return;
	}
	x->step = 1;
	send_challenge(l, req, out, olen);
}

static void
step(struct link *l, const struct frame *req, struct exchange *x,
    const uint8_t *d, size_t len)
{
	if (x->mech == M_PLAIN)
		step_plain(l, req, x, d, len);
	else
		step_scram(l, req, x, d, len);
}

/* ---- requests ---- */

struct start {
	const char	*mech, *host, *ip;
	const uint8_t	*init, *exp, *ep;
	size_t		 hostlen, iplen, initlen, explen, eplen;
	uint8_t		 has_init, tls;
};

static int
start_parse(struct frame *f, struct start *s)
{
	if (frame_get_str(f, &s->mech, NULL) == -1 ||
	    frame_get_str(f, &s->host, &s->hostlen) == -1 ||
	    frame_get_u8(f, &s->has_init) == -1 ||
	    frame_get_data(f, &s->init, &s->initlen) == -1 ||
	    frame_get_str(f, &s->ip, &s->iplen) == -1 ||
	    frame_get_u8(f, &s->tls) == -1 ||
	    frame_get_data(f, &s->exp, &s->explen) == -1 ||
	    frame_get_data(f, &s->ep, &s->eplen) == -1 ||
	    frame_get_end(f) == -1)
		return -1;
	if (s->hostlen > JID_PART_MAX || s->iplen > IP_MAX ||
	    s->has_init > 1 || s->tls > 1 || (!s->has_init && s->initlen) ||
	    s->explen > AUTHD_CB_MAX || s->eplen > AUTHD_CB_MAX)
		return -1;
	return 0;
}

/* Which mechanism, or AC_* why not. */
static enum authd_cond
start_mech(const struct start *s, size_t *idx)
{
	size_t	i;

	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strcmp(mechs[i].name, s->mech) == 0)
			break;
	/* -PLUS was offered only with channel-binding data (RFC 5802 6). */
	if (i == sizeof(mechs) / sizeof(mechs[0]) ||
	    (mechs[i].plus && s->explen == 0 && s->eplen == 0))
		return AC_INVALID_MECH;
	/* RFC 4616 4: PLAIN only over a protected channel. */
	if (mechs[i].mech == M_PLAIN && !s->tls)
		return AC_ENCRYPTION_REQUIRED;
	*idx = i;
	return AC_OK;
}

static struct exchange *
exch_new(const struct frame *f, const struct start *s, size_t m)
{
	struct exchange		*x, **slot;
	struct scram_cbdata	 cb = { s->exp, s->explen, s->ep, s->eplen };

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->origin = f->hdr.origin;
	x->session = f->hdr.session;
	x->started = now();
	x->mech = mechs[m].mech;
	x->mech_name = mechs[m].name;
	memcpy(x->host, s->host, s->hostlen + 1);
	memcpy(x->ip, s->ip, s->iplen + 1);
	if (x->mech == M_SCRAM && (x->scram = scram_new(mechs[m].hash,
	    mechs[m].plus, x->host, &cb)) == NULL) {
		free(x);
		return NULL;
	}
	slot = exch_slot(x->origin, x->session);
	x->next = *slot;
	*slot = x;
	nexchanges++;
	return x;
}

static void
sasl_start(struct link *l, struct frame *f)
{
	struct start	 s;
	struct exchange	*x;
	enum authd_cond	 rc;
	size_t		 m = 0;

	if (start_parse(f, &s) == -1) {
		log_warnx("malformed SASL_START (origin %u)", f->hdr.origin);
		send_failure(l, f, AC_MALFORMED, "malformed request");
		return;
	}
	/* A new <auth/> on the same session replaces the old exchange. */
	if ((x = exch_find(f->hdr.origin, f->hdr.session)) != NULL)
		exch_free(x);
	if (authd_host_find(s.host) == NULL) {
		log_warnx("SASL for unknown host %s from %s", s.host, s.ip);
		send_failure(l, f, AC_NOT_AUTHORIZED, "unknown host");
		return;
	}
	if ((rc = start_mech(&s, &m)) == AC_OK && throttled("i:", s.ip, NULL))
		rc = AC_TEMPORARY;
	if (rc == AC_OK && nexchanges >= AUTHD_MAX_EXCHANGES) {
		log_warnx("too many open SASL exchanges");
		rc = AC_TEMPORARY;
	}
	if (rc == AC_OK && (x = exch_new(f, &s, m)) == NULL)
		rc = AC_TEMPORARY;
	if (rc != AC_OK) {
		log_info("auth refused (%s): %s from %s", authd_cond_name(rc),
		    s.mech, s.ip);
		send_failure(l, f, rc, fail_text(rc));
		return;
	}
	/* No initial response: an empty challenge asks for it (RFC 6120
	 * 6.4.2). */
	if (!s.has_init)
		send_challenge(l, f, "", 0);
	else
		step(l, f, x, s.init, s.initlen);
}

static void
sasl_step(struct link *l, struct frame *f)
{
	struct exchange	*x;
	const uint8_t	*d;
	size_t		 len;

	x = exch_find(f->hdr.origin, f->hdr.session);
	if (x != NULL && now() - x->started >= AUTHD_EXCHANGE_TTL) {
		exch_free(x);
		x = NULL;
	}
	if (x == NULL) {
		send_failure(l, f, AC_MALFORMED, "no SASL exchange in progress");
		return;
	}
	if (frame_get_data(f, &d, &len) == -1 || frame_get_end(f) == -1) {
		log_warnx("malformed SASL_STEP (origin %u)", f->hdr.origin);
		exch_free(x);
		send_failure(l, f, AC_MALFORMED, "malformed request");
		return;
	}
	step(l, f, x, d, len);
}

void
authd_sasl_dispatch(struct link *l, struct frame *f)
{
	struct exchange	*x;

	switch (f->hdr.type) {
	case RF_SASL_START:
		sasl_start(l, f);
		break;
	case RF_SASL_STEP:
		sasl_step(l, f);
		break;
	case RF_SASL_ABORT:
		/* c2sd answers <aborted/> itself; we only forget. */
		if ((x = exch_find(f->hdr.origin, f->hdr.session)) != NULL)
			exch_free(x);
		break;
	}
}

void
authd_sasl_init(void)
{
	struct timeval	tv = { SWEEP_SECONDS, 0 };

	randombytes_buf(fail_key, sizeof(fail_key));
	sweep_ev = event_new(daemon_base, -1, EV_PERSIST, sweep, NULL);
	if (sweep_ev == NULL || event_add(sweep_ev, &tv) == -1)
		fatalx("cannot arm the SASL sweep timer");
}

void
authd_sasl_shutdown(void)
{
	struct exchange	*x;
	size_t		 i;

	for (i = 0; i < EXCH_BUCKETS; i++)
		while ((x = buckets[i]) != NULL)
			exch_free(x);
	if (sweep_ev != NULL)
		event_free(sweep_ev);
	sweep_ev = NULL;
}
