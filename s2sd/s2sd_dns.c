/*
 * s2sd_dns.c - finding a remote domain's servers (RFC 6120 3.2.1,
 * XEP-0368) with libunbound, run on s2sd's own libevent loop
 * (ub_ctx_create_event), so no resolver thread or process exists and the
 * sandbox only has to allow the UDP/TCP sockets of the queries.
 *
 * dns_init() (pre_drop, before the chroot) reads /etc/resolv.conf (the
 * forwarders), /etc/hosts and the optional RAMPART_S2S_DNS_DATA file
 * (local data, which the tests use for their loopback domains and SRV
 * records) and primes the context.  dns_resolve() asks
 * _xmpp-server._tcp.<domain> and _xmpps-server._tcp.<domain> SRV
 * together; their records are mixed and ordered by RFC 2782 (an xmpps
 * target is reached with direct TLS); without any, the domain itself at
 * port 5269; a lone "." target means the domain offers that service
 * nowhere.  Then A and AAAA of the current target are asked in parallel;
 * remote_resolved() gets the addresses once both answered.  Answers are
 * parsed here with every length checked (dns_parse), since a DNS reply
 * is as untrusted as anything a peer sends.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound-event.h>
#include <unbound.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "s2sd.h"

#define T_A	1
#define T_AAAA	28
#define T_SRV	33
#define C_IN	1

static struct ub_ctx *ub;

/*
 * Records of unbound's "local-data" form ("_xmpps-server._tcp.x.test. SRV
 * 0 5 5270 x.test."), one a line, from the file RAMPART_S2S_DNS_DATA
 * names: split-horizon names for an admin, SRV records for the tests
 * (/etc/hosts only gives addresses).  They are answered by libunbound
 * like any other record, so the resolution path stays the one used in
 * production.  Read before the sandbox, like /etc/hosts.
 */
static void
local_data(void)
{
	const char	*path = getenv("RAMPART_S2S_DNS_DATA");
	FILE		*f;
	char		 line[1024];
	size_t		 n;
	int		 e, count = 0;

	if (path == NULL || *path == '\0')
		return;
	if ((f = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if ((e = ub_ctx_set_option(ub, "local-data:", line)) != 0)
			log_warnx("%s: \"%s\": %s", path, line, ub_strerror(e));
		else
			count++;
	}
	fclose(f);
	log_info("%s: %d local DNS record(s)", path, count);
}

int
dns_init(void)
{
	int r;

	if ((ub = ub_ctx_create_event(daemon_base)) == NULL)
		return -1;
	local_data();
	if ((r = ub_ctx_resolvconf(ub, "/etc/resolv.conf")) != 0)
		log_warnx("resolv.conf: %s", ub_strerror(r));
	if ((r = ub_ctx_hosts(ub, "/etc/hosts")) != 0)
		log_warnx("/etc/hosts: %s", ub_strerror(r));
	return 0;
}

/* Read a (possibly compressed) name at *off into out; -1 if malformed. */
static int
read_name(const unsigned char *p, size_t len, size_t *off, char *out,
    size_t outlen)
{
	size_t	pos = *off, o = 0;
	int	jumps = 0, jumped = 0;
	uint8_t	l;

	for (;;) {
		if (pos >= len)
			return -1;
		l = p[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++jumps > 16)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = 1;
			pos = ((l & 0x3f) << 8) | p[pos + 1];
			continue;
		}
		if (l & 0xc0)
			return -1;
		pos++;
		if (l == 0)
			break;
		if (pos + l > len || o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + pos, l);
		o += l;
		pos += l;
	}
	if (!jumped)
		*off = pos;
	out[o] = '\0';
	return 0;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Collected unordered; dns_order() sorts once both services answered. */
static void
add_srv(struct s2s_remote *r, const char *target, uint16_t prio,
    uint16_t weight, uint16_t port, int direct_tls)
{
	struct srv_target *t;

	if (r->ntargets == S2SD_MAX_TARGETS ||
	    strlen(target) >= sizeof(t->name))
		return;
	t = &r->targets[r->ntargets++];
	snprintf(t->name, sizeof(t->name), "%s", target);
	t->prio = prio;
	t->weight = weight;
	t->port = port;
	t->direct_tls = direct_tls;
}

/*
 * RFC 2782 "Usage rules", over the records of both services together
 * (XEP-0368 section 3): lowest priority first; within one priority, each
 * next target is drawn at random with a chance proportional to its
 * weight, the zero-weight ones placed first so they are rarely drawn
 * early.  uniform(n) returns 0..n-1 (randombytes_uniform; the unit test
 * passes its own).
 */
void
dns_order(struct s2s_remote *r, uint32_t (*uniform)(uint32_t))
{
	struct srv_target	 t, *v = r->targets;
	int			 i, j, lo, hi;
	uint32_t		 sum, pick, run;

	for (i = 1; i < r->ntargets; i++) {	/* stable: zero weights first */
		t = v[i];
		for (j = i; j > 0 && (v[j - 1].prio > t.prio ||
		    (v[j - 1].prio == t.prio && v[j - 1].weight > 0 &&
		    t.weight == 0)); j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	for (lo = 0; lo < r->ntargets; lo = hi) {
		for (hi = lo; hi < r->ntargets && v[hi].prio == v[lo].prio; hi++)
			;
		for (i = lo; i < hi - 1; i++) {
			for (sum = 0, j = i; j < hi; j++)
				sum += v[j].weight;
			pick = uniform(sum + 1);
			for (run = 0, j = i; j < hi - 1; j++)
				if ((run += v[j].weight) >= pick)
					break;
			t = v[j];
			memmove(&v[i + 1], &v[i], (j - i) * sizeof(v[0]));
			v[i] = t;
		}
	}
}

static void
add_addr(struct s2s_remote *r, int family, const unsigned char *a)
{
	struct sockaddr_in	*s4;
	struct sockaddr_in6	*s6;
	struct sockaddr_storage	*ss;

	if (r->naddrs == S2SD_MAX_TARGETS)
		return;
	ss = &r->addrs[r->naddrs++];
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		s4->sin_port = htons(r->targets[r->target].port);
	} else {
		s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		s6->sin6_port = htons(r->targets[r->target].port);
	}
}

/*
 * Take the answers of type `type` from a reply packet into `r`.
 * Returns the number taken, or -1 if the packet is malformed.
 */
int
dns_parse(const unsigned char *p, size_t len, uint16_t type, int direct_tls,
    struct s2s_remote *r)
{
	size_t		off = 12;
	uint16_t	qd, an, rtype, rclass, rdlen, i;
	char		name[1025];
	int		n = 0;

	if (len < 12)
		return -1;
	qd = get16(p + 4);
	an = get16(p + 6);
	for (i = 0; i < qd; i++) {
		if (read_name(p, len, &off, name, sizeof(name)) == -1 ||
		    off + 4 > len)
			return -1;
		off += 4;
	}
	for (i = 0; i < an; i++) {
		if (read_name(p, len, &off, name, sizeof(name)) == -1 ||
		    off + 10 > len)
			return -1;
		rtype = get16(p + off);
		rclass = get16(p + off + 2);
		rdlen = get16(p + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		if (rclass == C_IN && rtype == type) {
			if (type == T_A && rdlen == 4) {
				add_addr(r, AF_INET, p + off);
				n++;
			} else if (type == T_AAAA && rdlen == 16) {
				add_addr(r, AF_INET6, p + off);
				n++;
			} else if (type == T_SRV && rdlen > 6) {
				size_t t = off + 6;

				if (read_name(p, off + rdlen, &t, name,
				    sizeof(name)) == -1)
					return -1;
				add_srv(r, name, get16(p + off),
				    get16(p + off + 2), get16(p + off + 4),
				    direct_tls);
				n++;
			}
		}
		off += rdlen;
	}
	return n;
}

/* The ASCII (A-label) form of a normalized domain, for the query. */
static int
query_name(const char *prefix, const char *domain, char *out, size_t len)
{
	char	*ace = NULL;
	int	 n;

	if (idn2_to_ascii_8z(domain, &ace, IDN2_NONTRANSITIONAL) != IDN2_OK)
		return -1;
	n = snprintf(out, len, "%s%s", prefix, ace);
	idn2_free(ace);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void	a_cb(void *, int, void *, int, int, char *, int);
static void	aaaa_cb(void *, int, void *, int, int, char *, int);
static void	addrs_done(struct s2s_remote *);

/* Every callback decrements r->resolving once, also for a query that
 * could not even be started (then called here with no packet). */
static void
ask(struct s2s_remote *r, const char *name, int type, ub_event_callback_type cb)
{
	int id, e;

	r->resolving++;
	if ((e = ub_resolve_event(ub, name, type, C_IN, r, cb, &id)) != 0) {
		log_warnx("resolving %s: %s", name, ub_strerror(e));
		cb(r, 2, NULL, 0, 0, NULL, 0);
	}
}

static void
ask_addrs(struct s2s_remote *r)
{
	char name[1100];

	r->naddrs = r->addr = 0;
	r->a_done = r->aaaa_done = 0;
	if (query_name("", r->targets[r->target].name, name,
	    sizeof(name)) == -1) {
		r->a_done = r->aaaa_done = 1;
		addrs_done(r);
		return;
	}
	ask(r, name, T_A, a_cb);
	ask(r, name, T_AAAA, aaaa_cb);
}

/* Try the next SRV target; -1 when there is none. */
int
dns_next_target(struct s2s_remote *r)
{
	if (r->target + 1 >= r->ntargets)
		return -1;
	r->target++;
	ask_addrs(r);
	return 0;
}

static void
addrs_done(struct s2s_remote *r)
{
	if (!r->a_done || !r->aaaa_done)
		return;
	if (r->naddrs > 0) {
		remote_resolved(r);
		return;
	}
	if (dns_next_target(r) == -1)
		remote_conn_gone(r, "remote-server-not-found");
}

static void
a_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct s2s_remote *r = arg;

	r->resolving--;
	if (pkt != NULL && len > 0)
		(void)dns_parse(pkt, len, T_A, 0, r);
	r->a_done = 1;
	addrs_done(r);
}

static void
aaaa_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct s2s_remote *r = arg;

	r->resolving--;
	if (pkt != NULL && len > 0)
		(void)dns_parse(pkt, len, T_AAAA, 0, r);
	r->aaaa_done = 1;
	addrs_done(r);
}

/*
 * One service's SRV answer.  A lone "." target means the domain offers
 * that service nowhere (RFC 2782, RFC 6120 3.2.1); a "." among others
 * is meaningless and dropped.
 */
static void
srv_answer(struct s2s_remote *r, void *pkt, int len, int direct_tls)
{
	int first = r->ntargets, i;

	if (pkt == NULL || len <= 0 ||
	    dns_parse(pkt, len, T_SRV, direct_tls, r) <= 0)
		return;
	if (r->ntargets - first == 1 && r->targets[first].name[0] == '\0')
		r->srv_none++;
	for (i = first; i < r->ntargets; )
		if (r->targets[i].name[0] == '\0')
			r->targets[i] = r->targets[--r->ntargets];
		else
			i++;
}

/* Both services answered: order the targets, or fall back. */
static void
srv_done(struct s2s_remote *r)
{
	if (r->ntargets == 0 && r->srv_none > 0) {
		remote_conn_gone(r, "remote-server-not-found");
		return;
	}
	if (r->ntargets == 0) {
		/* RFC 6120 3.2.2: no SRV, the domain itself at 5269 */
		snprintf(r->targets[0].name, sizeof(r->targets[0].name), "%s",
		    r->remote);
		r->targets[0].port = S2SD_PORT;
		r->targets[0].direct_tls = 0;
		r->ntargets = 1;
	} else
		dns_order(r, randombytes_uniform);
	log_debug("%s: %d target(s), first %s:%u%s", r->remote, r->ntargets,
	    r->targets[0].name, r->targets[0].port,
	    r->targets[0].direct_tls ? " (direct TLS)" : "");
	ask_addrs(r);
}

static void
srv_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct s2s_remote *r = arg;

	r->resolving--;
	r->srv_pending--;
	srv_answer(r, pkt, len, 0);
	if (r->srv_pending == 0)
		srv_done(r);
}

static void
srvs_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct s2s_remote *r = arg;

	r->resolving--;
	r->srv_pending--;
	srv_answer(r, pkt, len, 1);
	if (r->srv_pending == 0)
		srv_done(r);
}

/* XEP-0368: _xmpps-server (direct TLS) and _xmpp-server (STARTTLS) are
 * asked together and their records mixed. */
void
dns_resolve(struct s2s_remote *r)
{
	char name[1100], names[1100];

	r->ntargets = r->target = r->naddrs = r->addr = 0;
	r->srv_none = 0;
	if (query_name("_xmpp-server._tcp.", r->remote, name,
	    sizeof(name)) == -1 || query_name("_xmpps-server._tcp.",
	    r->remote, names, sizeof(names)) == -1) {
		remote_conn_gone(r, "remote-server-not-found");
		return;
	}
	r->srv_pending = 2;
	ask(r, name, T_SRV, srv_cb);
	ask(r, names, T_SRV, srvs_cb);
}
