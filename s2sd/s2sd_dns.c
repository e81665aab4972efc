/*
 * s2sd_dns.c - finding a remote domain's servers (RFC 6120 3.2.1) with
 * libunbound, run on s2sd's own libevent loop (ub_ctx_create_event), so
 * no resolver thread or process exists and the sandbox only has to allow
 * the UDP/TCP sockets of the queries.
 *
 * dns_init() (pre_drop, before the chroot) reads /etc/resolv.conf (the
 * forwarders) and /etc/hosts (local data, which the tests use for their
 * loopback domains) and primes the context.  dns_resolve() looks up
 * _xmpp-server._tcp.<domain> SRV; without an answer it falls back to the
 * domain itself at port 5269; a SRV target of "." means the domain offers
 * no service.  Then A and AAAA of the current target are asked in
 * parallel; remote_resolved() gets the addresses once both answered.
 * Answers are parsed here with every length checked (dns_parse), since
 * a DNS reply is as untrusted as anything a peer sends.
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

#include "daemon.h"
#include "log.h"
#include "s2sd.h"

#define T_A	1
#define T_AAAA	28
#define T_SRV	33
#define C_IN	1

static struct ub_ctx *ub;

int
dns_init(void)
{
	int r;

	if ((ub = ub_ctx_create_event(daemon_base)) == NULL)
		return -1;
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

static void
add_srv(struct s2s_remote *r, const char *target, uint16_t prio,
    uint16_t weight, uint16_t port)
{
	int i, j;

	if (r->ntargets == S2SD_MAX_TARGETS || strlen(target) >=
	    sizeof(r->targets[0]))
		return;
	/* ordered by priority, then weight (RFC 2782, without the random
	 * weighting: a few targets of one priority rarely matter here) */
	for (i = 0; i < r->ntargets; i++)
		if (r->srvprio[i] > prio ||
		    (r->srvprio[i] == prio && r->srvweight[i] < weight))
			break;
	for (j = r->ntargets; j > i; j--) {
		memcpy(r->targets[j], r->targets[j - 1], sizeof(r->targets[0]));
		r->ports[j] = r->ports[j - 1];
		r->srvprio[j] = r->srvprio[j - 1];
		r->srvweight[j] = r->srvweight[j - 1];
	}
	snprintf(r->targets[i], sizeof(r->targets[i]), "%s", target);
	r->ports[i] = port;
	r->srvprio[i] = prio;
	r->srvweight[i] = weight;
	r->ntargets++;
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
		s4->sin_port = htons(r->ports[r->target]);
	} else {
		s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		s6->sin6_port = htons(r->ports[r->target]);
	}
}

/*
 * Take the answers of type `type` from a reply packet into `r`.
 * Returns the number taken, or -1 if the packet is malformed.
 */
int
dns_parse(const unsigned char *p, size_t len, uint16_t type,
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
				    get16(p + off + 2), get16(p + off + 4));
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
	if (query_name("", r->targets[r->target], name, sizeof(name)) == -1) {
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
		(void)dns_parse(pkt, len, T_A, r);
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
		(void)dns_parse(pkt, len, T_AAAA, r);
	r->aaaa_done = 1;
	addrs_done(r);
}

static void
srv_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct s2s_remote *r = arg;

	r->resolving--;
	r->ntargets = r->target = 0;
	if (pkt != NULL && len > 0 && dns_parse(pkt, len, T_SRV, r) > 0) {
		/* RFC 2782: a single "." target means "no service here" */
		if (r->ntargets == 1 && r->targets[0][0] == '\0') {
			remote_conn_gone(r, "remote-server-not-found");
			return;
		}
	} else {
		/* RFC 6120 3.2.2: no SRV, the domain itself at 5269 */
		snprintf(r->targets[0], sizeof(r->targets[0]), "%s", r->remote);
		r->ports[0] = S2SD_PORT;
		r->ntargets = 1;
	}
	log_debug("%s: %d target(s), first %s:%u", r->remote, r->ntargets,
	    r->targets[0], r->ports[0]);
	ask_addrs(r);
}

void
dns_resolve(struct s2s_remote *r)
{
	char name[1100];

	r->ntargets = r->target = r->naddrs = r->addr = 0;
	if (query_name("_xmpp-server._tcp.", r->remote, name,
	    sizeof(name)) == -1) {
		remote_conn_gone(r, "remote-server-not-found");
		return;
	}
	ask(r, name, T_SRV, srv_cb);
}
