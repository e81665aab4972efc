/*
 * test_s2sd.c - unit tests of s2sd's pieces: the XEP-0114 handshake
 * check, the component table, the stanza type map, dialback keys, DNS
 * answers, and backpressure from routerd's link (a component on a real
 * socket, routerd's end of the link played by a second link that the
 * test pauses).  Built without s2sd.c (main and configuration), whose
 * options are defined here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "s2sd.h"

struct s2sd_conf s2sd_conf = {
	.max_stanza_size = 256 * 1024,
	.unauth_timeout = 30,
	.idle_timeout = 600,
	.max_outbuf = S2SD_OUTBUF_DEFAULT,
	.require_tls = 1,
};

/* s2sd.c's host table, which these tests do not need. */
struct s2s_host *
host_find(const char *domain)
{
	return NULL;
}

struct s2s_host *
host_first_tls(void)
{
	return NULL;
}

/* sha1("3BF96D32" "sSp1zL09"), computed with sha1sum. */
static const char digest[] = "ec2202efb3382857250f32ed4ca79059fb65d9f8";

static void
test_handshake(void **state)
{
	char upper[41];
	size_t i;

	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL09",
	    digest), 0);
	for (i = 0; i < 40; i++)
		upper[i] = digest[i] >= 'a' ? digest[i] - 32 : digest[i];
	upper[40] = '\0';
	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL09",
	    upper), 0);
	/* wrong secret, wrong stream id, truncated, not hex */
	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL0",
	    digest), -1);
	assert_int_equal(component_check_handshake("3BF96D33", "sSp1zL09",
	    digest), -1);
	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL09",
	    "ec2202ef"), -1);
	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL09",
	    "zc2202efb3382857250f32ed4ca79059fb65d9f8"), -1);
	assert_int_equal(component_check_handshake("3BF96D32", "sSp1zL09",
	    ""), -1);
}

static void
test_components(void **state)
{
	struct s2s_component *k;

	assert_int_equal(component_add("Comp.Example", "s3cret"), 0);
	/* normalized on the way in, looked up by the normalized name */
	assert_non_null(k = component_find("comp.example"));
	assert_string_equal(k->domain, "comp.example");
	assert_null(k->conn);
	assert_null(component_find("Comp.Example"));
	assert_null(component_find("other.example"));
	/* duplicates and empty secrets are configuration errors */
	assert_int_equal(component_add("comp.example", "x"), -1);
	assert_int_equal(component_add("two.example", ""), -1);
	assert_int_equal(component_add("bad..example", "x"), -1);
}

static void
test_types(void **state)
{
	assert_int_equal(stanza_kind("message"), RK_MESSAGE);
	assert_int_equal(stanza_kind("presence"), RK_PRESENCE);
	assert_int_equal(stanza_kind("iq"), RK_IQ);
	assert_int_equal(stanza_kind("handshake"), RK_NONE);
	assert_int_equal(stanza_stype(RK_MESSAGE, NULL), RS_NORMAL);
	assert_int_equal(stanza_stype(RK_MESSAGE, "bogus"), RS_NORMAL);
	assert_int_equal(stanza_stype(RK_PRESENCE, NULL), RS_AVAILABLE);
	assert_int_equal(stanza_stype(RK_PRESENCE, "probe"), RS_PROBE);
	assert_int_equal(stanza_stype(RK_PRESENCE, "chat"), RS_NONE);
	assert_int_equal(stanza_stype(RK_IQ, NULL), RS_NONE);
	assert_int_equal(stanza_stype(RK_IQ, "get"), RS_GET);
	assert_int_equal(stanza_stype(RK_IQ, "error"), RS_ERROR);
}

static void
test_dialback(void **state)
{
	char key[65];

	memset(s2sd_conf.dialback_key, 7, sizeof(s2sd_conf.dialback_key));
	dialback_key("b.test", "a.test", "abc123", key);
	assert_int_equal(strlen(key), 64);
	assert_int_equal(dialback_check("b.test", "a.test", "abc123", key), 0);
	/* every input is bound into the key */
	assert_int_equal(dialback_check("a.test", "b.test", "abc123", key), -1);
	assert_int_equal(dialback_check("b.test", "a.test", "abc124", key), -1);
	assert_int_equal(dialback_check("b.test", "a.test", "abc123", "00"), -1);
	memset(s2sd_conf.dialback_key, 8, sizeof(s2sd_conf.dialback_key));
	assert_int_equal(dialback_check("b.test", "a.test", "abc123", key), -1);
}

/* A reply to "_xmpp-server._tcp.x.test SRV" with two targets, the
 * second name compressed against the question. */
static const unsigned char srv_reply[] = {
	0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
	/* question at offset 12 */
	12, '_', 'x', 'm', 'p', 'p', '-', 's', 'e', 'r', 'v', 'e', 'r',
	4, '_', 't', 'c', 'p', 1, 'x', 4, 't', 'e', 's', 't', 0, 0, 33, 0, 1,
	/* answer 1: prio 20 weight 0 port 5270 target "b.x.test" */
	0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 10,
	0, 20, 0, 0, 0x14, 0x96, 1, 'b', 0xc0, 30,
	/* answer 2: prio 10 weight 5 port 5269 target "a.x.test" */
	0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 10,
	0, 10, 0, 5, 0x14, 0x95, 1, 'a', 0xc0, 30,
};

static void
test_dns_srv(void **state)
{
	static struct s2s_remote r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(dns_parse(srv_reply, sizeof(srv_reply), 33, 1, &r),
	    2);
	assert_int_equal(r.ntargets, 2);
	/* as they came; dns_order() sorts */
	assert_string_equal(r.targets[0].name, "b.x.test");
	assert_int_equal(r.targets[0].port, 5270);
	assert_int_equal(r.targets[0].prio, 20);
	assert_string_equal(r.targets[1].name, "a.x.test");
	assert_int_equal(r.targets[1].port, 5269);
	assert_int_equal(r.targets[1].weight, 5);
	assert_true(r.targets[0].direct_tls && r.targets[1].direct_tls);
	dns_order(&r, randombytes_uniform);
	assert_string_equal(r.targets[0].name, "a.x.test");
	assert_string_equal(r.targets[1].name, "b.x.test");
	/* no A records in it */
	assert_int_equal(dns_parse(srv_reply, sizeof(srv_reply), 1, 0, &r), 0);
}

static uint32_t	fixed_pick;

/* "random" draws that always say fixed_pick, or the top of the range */
static uint32_t
pick_fixed(uint32_t n)
{
	assert_true(n > 0);
	return fixed_pick < n ? fixed_pick : n - 1;
}

static void
add(struct s2s_remote *r, const char *name, uint16_t prio, uint16_t weight)
{
	struct srv_target *t = &r->targets[r->ntargets++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->prio = prio;
	t->weight = weight;
}

/* RFC 2782: priority first; within one, drawn by weight, zero weights
 * placed first (and drawn only when the pick is 0). */
static void
test_dns_order(void **state)
{
	static struct s2s_remote r;
	int counts[2] = { 0, 0 }, i;

	memset(&r, 0, sizeof(r));
	add(&r, "late", 20, 100);
	add(&r, "w10", 10, 10);
	add(&r, "w0", 10, 0);
	add(&r, "w30", 10, 30);
	add(&r, "first", 5, 0);
	fixed_pick = 0;		/* always the first with running sum >= 0 */
	dns_order(&r, pick_fixed);
	assert_string_equal(r.targets[0].name, "first");
	assert_string_equal(r.targets[1].name, "w0");
	assert_string_equal(r.targets[2].name, "w10");
	assert_string_equal(r.targets[3].name, "w30");
	assert_string_equal(r.targets[4].name, "late");
	fixed_pick = 40;	/* the top of 0+10+30: the last one */
	dns_order(&r, pick_fixed);
	assert_string_equal(r.targets[0].name, "first");
	assert_string_equal(r.targets[1].name, "w30");
	assert_string_equal(r.targets[4].name, "late");
	/* with real randomness, weight 30 leads about three times in four */
	for (i = 0; i < 400; i++) {
		memset(&r, 0, sizeof(r));
		add(&r, "w10", 10, 10);
		add(&r, "w30", 10, 30);
		dns_order(&r, randombytes_uniform);
		counts[strcmp(r.targets[0].name, "w30") == 0]++;
	}
	assert_true(counts[1] > 220 && counts[1] < 370);
}

static void
test_dns_malformed(void **state)
{
	static struct s2s_remote r;
	unsigned char	p[sizeof(srv_reply)];
	size_t		i;

	/* every truncation is refused or yields fewer answers, never more */
	for (i = 0; i < sizeof(srv_reply); i++) {
		memset(&r, 0, sizeof(r));
		assert_true(dns_parse(srv_reply, i, 33, 0, &r) < 2);
		assert_true(r.ntargets < 2);
	}
	/* a compression loop */
	memcpy(p, srv_reply, sizeof(p));
	p[sizeof(p) - 2] = 0xc0;
	p[sizeof(p) - 1] = (unsigned char)(sizeof(p) - 2);
	memset(&r, 0, sizeof(r));
	assert_int_equal(dns_parse(p, sizeof(p), 33, 0, &r), -1);
	/* an rdlength past the end */
	memcpy(p, srv_reply, sizeof(p));
	p[42 + 11] = 200;
	memset(&r, 0, sizeof(r));
	assert_int_equal(dns_parse(p, sizeof(p), 33, 0, &r), -1);
}

static void
test_dns_a(void **state)
{
	static const unsigned char reply[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2,
	};
	static struct s2s_remote r;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&r.addrs[0];

	memset(&r, 0, sizeof(r));
	r.targets[0].port = 5269;
	assert_int_equal(dns_parse(reply, sizeof(reply), 1, 0, &r), 1);
	assert_int_equal(r.naddrs, 1);
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(ntohs(s4->sin_port), 5269);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x7f000002);
}

/*
 * Backpressure: a component writes far more than routerd reads.
 */

struct peer {
	int	 fd;
	char	*in;		/* what s2sd wrote to the component */
	size_t	 inlen;
	char	*out;		/* what the component still has to write */
	size_t	 outlen, outoff;
};

static int	router_stanzas;	/* RF_STANZA frames routerd's end read */

static void
router_frame(struct link *l, struct frame *f, void *arg)
{
	if (f->hdr.type == RF_STANZA)
		router_stanzas++;
}

static void
peer_add(struct peer *p, const char *s)
{
	size_t len = strlen(s);

	assert_non_null(p->out = realloc(p->out, p->outlen + len));
	memcpy(p->out + p->outlen, s, len);
	p->outlen += len;
}

static size_t
count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle), i;

	for (i = 0; i + nl <= len; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			n++;
	return n;
}

/* One turn: the component writes what its socket takes and reads what
 * s2sd sent; s2sd's loop runs once. */
static void
turn(struct peer *p)
{
	char	 buf[65536];
	ssize_t	 n;

	while (p->outoff < p->outlen && (n = write(p->fd, p->out + p->outoff,
	    p->outlen - p->outoff)) > 0)
		p->outoff += n;
	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		assert_non_null(p->in = realloc(p->in, p->inlen + n + 1));
		memcpy(p->in + p->inlen, buf, n);
		p->inlen += n;
		p->in[p->inlen] = '\0';
	}
	event_base_loop(daemon_base, EVLOOP_NONBLOCK);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Turns until cond() holds or `secs` pass. */
static int
turns_until(struct peer *p, int (*cond)(struct peer *), double secs)
{
	double end = now() + secs;

	while (!cond(p) && now() < end) {
		turn(p);
		usleep(200);
	}
	return cond(p);
}

static int
got_id(struct peer *p)
{
	return p->in != NULL && strstr(p->in, " id='") != NULL &&
	    strchr(strstr(p->in, " id='") + 5, '\'') != NULL;
}

static int
got_handshake(struct peer *p)
{
	return p->in != NULL && strstr(p->in, "<handshake/>") != NULL;
}

static int		 want_stanzas;

static int
all_accounted(struct peer *p)
{
	return (size_t)router_stanzas + count(p->in, p->inlen,
	    "resource-constraint") >= (size_t)want_stanzas &&
	    p->outoff == p->outlen;
}

/* Connect a component to s2sd's listener and pass the handshake. */
static void
component_connect(struct peer *p, int port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	char			 id[64], buf[256], hex[41];
	const char		*s;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	assert_true((p->fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(fcntl(p->fd, F_SETFL, O_NONBLOCK), 0);
	peer_add(p, "<stream:stream xmlns='jabber:component:accept' "
	    "xmlns:stream='http://etherx.jabber.org/streams' "
	    "to='bp.example'>");
	assert_true(turns_until(p, got_id, 5));
	s = strstr(p->in, " id='") + 5;
	snprintf(id, sizeof(id), "%.*s", (int)(strchr(s, '\'') - s), s);
	snprintf(buf, sizeof(buf), "%ssecret", id);
	assert_int_equal(EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(),
	    NULL), 1);
	sodium_bin2hex(hex, sizeof(hex), md, mdlen);
	snprintf(buf, sizeof(buf), "<handshake>%s</handshake>", hex);
	peer_add(p, buf);
	assert_true(turns_until(p, got_handshake, 5));
}

/* n stanzas of about 1 KiB from the component to a remote user. */
static void
queue_stanzas(struct peer *p, int n, const char *tag)
{
	char	buf[1200], body[1001];
	int	i;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "<message from='c@bp.example' "
		    "to='u@a.test' id='%s%d'><body>%s</body></message>", tag,
		    i, body);
		peer_add(p, buf);
	}
}

static void
test_backpressure(void **state)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 sl = sizeof(sin);
	struct link		*router;
	struct peer		 p = { .fd = -1 };
	int			 sv[2], lfd;
	const int		 n = 1500, m = 800;

	assert_non_null(daemon_base = event_base_new());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_non_null(daemon_link = link_new(daemon_base, sv[0], "routerd",
	    NULL, NULL, NULL));
	link_set_watermarks(daemon_link, 8 * 1024, 32 * 1024);
	assert_non_null(router = link_new(daemon_base, sv[1], "s2sd",
	    router_frame, NULL, NULL));
	link_pause(router);		/* routerd is busy elsewhere */

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((lfd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	conn_listen("component", lfd);
	conn_start_listeners();
	assert_int_equal(component_add("bp.example", "secret"), 0);
	component_connect(&p, ntohs(sin.sin_port));

	/* 1.5 MB of stanzas while routerd reads nothing: s2sd stops
	 * reading the component; its queue to routerd stays bounded */
	queue_stanzas(&p, n, "a");
	want_stanzas = n;
	turns_until(&p, all_accounted, 2);
	assert_true(flow_paused());
	assert_true(link_queued(daemon_link) <= 4 * 32 * 1024);
	assert_int_equal(router_stanzas, 0);

	/* routerd reads again: every stanza arrives, none refused */
	link_resume(router);
	assert_true(turns_until(&p, all_accounted, 30));
	assert_int_equal(router_stanzas, n);
	assert_int_equal(count(p.in, p.inlen, "resource-constraint"), 0);
	assert_false(flow_paused());

	/* with no room to wait in s2sd, what cannot be passed on goes back
	 * to the component as an error: each stanza is either routed or
	 * refused, none vanishes */
	flow_spill_max = 0;
	link_pause(router);
	router_stanzas = 0;
	want_stanzas = m;
	queue_stanzas(&p, m, "b");
	turns_until(&p, all_accounted, 2);
	link_resume(router);
	assert_true(turns_until(&p, all_accounted, 30));
	assert_true(count(p.in, p.inlen, "resource-constraint") > 0);
	assert_int_equal((size_t)router_stanzas + count(p.in, p.inlen,
	    "resource-constraint"), (size_t)m);
	flow_spill_max = S2SD_MAX_SPILL;

	conn_shutdown_all();
	close(p.fd);
	free(p.in);
	free(p.out);
	link_free(router);
	link_free(daemon_link);
	event_base_free(daemon_base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_components),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_dialback),
		cmocka_unit_test(test_dns_srv),
		cmocka_unit_test(test_dns_order),
		cmocka_unit_test(test_dns_malformed),
		cmocka_unit_test(test_dns_a),
		cmocka_unit_test(test_backpressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
