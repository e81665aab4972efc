/*
 * test_s2sd.c - unit tests of s2sd's pieces that need no sockets: the
 * XEP-0114 handshake check, the component table and the stanza type map.
 * Built without s2sd.c (main and configuration), whose options are
 * defined here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <sodium.h>

#include "s2sd.h"

struct s2sd_conf s2sd_conf = {
	.max_stanza_size = 256 * 1024,
	.unauth_timeout = 30,
	.idle_timeout = 600,
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
