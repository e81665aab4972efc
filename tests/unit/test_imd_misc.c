/*
 * test_imd_misc.c - imd's account-data iqs (imd/imd_misc.c,
 * imd_blocking.c, imd_vcard.c): blocking with its pushes, presence and
 * JID matching rules, vcard-temp and the XEP-0153 hash, private storage,
 * last activity, and the limits of each; against a real LMDB environment
 * in a fresh temporary directory.  The rest of imd (sending, the session
 * table, the roster) is stubbed here and records what the code under test
 * asked it to do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imd/imd.h"
#include "store.h"

/* ---- stubs of the rest of imd ---- */

struct store	*imd_store;
static uint64_t	 now_usec = 1000000000ULL * 1000000ULL;

#define MAXSENT	64
static char	*sent[MAXSENT];		/* "to|<xml>" of each imd_send */
static int	 nsent;
static char	 err_type[32], err_cond[64];
static char	*result;		/* serialized payload, "" for none */
static int	 nresults;

static struct imd_res	 res[4];
static char		 res_full[4][JID_MAX + 1];
static int		 nres;
static struct imd_item	 roster[4];
static int		 nroster;

static void
clear_out(void)
{
	int	 i;

	for (i = 0; i < nsent; i++)
		free(sent[i]);
	nsent = 0;
	err_type[0] = err_cond[0] = '\0';
	free(result);
	result = NULL;
	nresults = 0;
}

int
imd_send(const char *from, const char *to, struct xnode *x)
{
	struct xbuf	 b;

	assert_true(nsent < MAXSENT);
	xbuf_init(&b);
	xbuf_addf(&b, "%s|%s|", from, to);
	/* A parsed body's root has ns "", which means jabber:client. */
	xml_serialize(&b, x, x->ns[0] == '\0' ? "" : "jabber:client");
	xbuf_add(&b, "", 1);
	sent[nsent++] = b.data;
	return 0;
}

void
imd_reply_error(struct imd_stanza *s, const char *type, const char *cond)
{
	snprintf(err_type, sizeof(err_type), "%s", type);
	snprintf(err_cond, sizeof(err_cond), "%s", cond);
}

void
imd_reply_result(struct imd_stanza *s, struct xnode *payload)
{
	struct xbuf	 b;

	xbuf_init(&b);
	if (payload != NULL)
		xml_serialize(&b, payload, "jabber:client");
	xbuf_add(&b, "", 1);
	free(result);
	result = b.data;
	nresults++;
	xnode_free(payload);
}

struct imd_res *
imd_res_list(const char *bare)
{
	struct imd_res	*first = NULL, **tail = &first;
	int		 i;
	size_t		 bl = strlen(bare);

	for (i = 0; i < nres; i++) {
		if (strncmp(res[i].full, bare, bl) != 0 ||
		    res[i].full[bl] != '/')
			continue;
		*tail = &res[i];
		tail = &res[i].next;
	}
	*tail = NULL;
	return first;
}

struct imd_res *
imd_res_find(const char *full)
{
	int	 i;

	for (i = 0; i < nres; i++)
		if (strcmp(res[i].full, full) == 0)
			return &res[i];
	return NULL;
}

int
imd_roster_each(const char *owner, int (*cb)(const struct imd_item *, void *),
    void *arg)
{
	int	 i;

	if (strcmp(owner, "juliet@example.org") != 0)
		return 0;
	for (i = 0; i < nroster; i++)
		if (cb(&roster[i], arg) != 0)
			break;
	return 0;
}

int
imd_roster_shares_presence(const char *owner, const char *contact)
{
	int	 i;

	if (strcmp(owner, "juliet@example.org") != 0)
		return 0;
	for (i = 0; i < nroster; i++)
		if (strcmp(roster[i].jid, contact) == 0)
			return roster[i].sub == IMD_SUB_FROM ||
			    roster[i].sub == IMD_SUB_BOTH;
	return 0;
}

/* pepd's view of blocks is imd_presence.c's (integration tests). */
void
imd_presence_pep_block(const char *owner, const struct imd_item *it,
    const char *jid, int unblock)
{
}

int
imd_is_local(const char *domain)
{
	return strcmp(domain, "example.org") == 0;
}

uint64_t
xmpp_now_usec(void)
{
	return now_usec;
}

/* ---- helpers ---- */

static char	 dir[64];

static void
add_res(const char *full, uint64_t sid, int available)
{
	struct imd_res	*r = &res[nres++];

	memset(r, 0, sizeof(*r));
	r->full = res_full[r - res];
	snprintf(r->full, sizeof(res_full[0]), "%s", full);
	r->resource = strchr(r->full, '/') + 1;
	r->sid = sid;
	r->available = available;
	r->interested = available;
}

static int
setup(void **state)
{
	strcpy(dir, "/tmp/test_imd_misc.XXXXXX");
	if (mkdtemp(dir) == NULL || (imd_store = store_open(dir, 0, 0)) == NULL)
		return -1;
	nres = nroster = 0;
	add_res("juliet@example.org/balcony", 1, 1);
	add_res("juliet@example.org/chamber", 2, 1);
	return 0;
}

static int
teardown(void **state)
{
	char	 path[128];

	clear_out();
	store_close(imd_store);
	imd_store = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* Run handler `fn` on the iq `xml` from `from` to `to` (NULL: no 'to',
 * which imd sees as the sender's bare JID). */
static int
run(int (*fn)(struct imd_stanza *), const char *from, const char *to,
    const char *xml)
{
	struct imd_stanza	*s;
	int			 rc;

	clear_out();
	assert_non_null(s = calloc(1, sizeof(*s)));
	assert_non_null(s->x = xml_parse_element(xml, strlen(xml), NULL));
	assert_int_equal(jid_parse(from, strlen(from), &s->from), 0);
	snprintf(s->from_s, sizeof(s->from_s), "%s", from);
	if (to == NULL) {
		s->to = s->from;
		s->to.resource[0] = '\0';
		jid_format(&s->to, s->to_s, sizeof(s->to_s));
	} else {
		assert_int_equal(jid_parse(to, strlen(to), &s->to), 0);
		snprintf(s->to_s, sizeof(s->to_s), "%s", to);
	}
	rc = fn(s);
	xnode_free(s->x);
	free(s);
	return rc;
}

#define JULIET	"juliet@example.org/balcony"
#define ROMEO	"romeo@example.org/orchard"
#define BL	"<blocklist xmlns='urn:xmpp:blocking'/>"

static void
expect_result(const char *needle)
{
	assert_string_equal(err_cond, "");
	assert_int_equal(nresults, 1);
	if (needle != NULL && strstr(result, needle) == NULL)
		fail_msg("result %s lacks %s", result, needle);
}

static void
expect_error(const char *type, const char *cond)
{
	assert_int_equal(nresults, 0);
	assert_string_equal(err_cond, cond);
	assert_string_equal(err_type, type);
}

static int
sent_count(const char *needle)
{
	int	 i, n = 0;

	for (i = 0; i < nsent; i++)
		if (strstr(sent[i], needle) != NULL)
			n++;
	return n;
}

/* ---- blocking ---- */

static void
test_blocking_basic(void **state)
{
	/* Empty list first; only the balcony asks, so only it gets pushes. */
	run(imd_blocking_iq, JULIET, NULL, "<iq type='get' id='1'>" BL "</iq>");
	expect_result("<blocklist xmlns='urn:xmpp:blocking'/>");

	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='2'>"
	    "<block xmlns='urn:xmpp:blocking'><item jid='Romeo@Example.org'/>"
	    "<item jid='evil.example'/></block></iq>");
	expect_result(NULL);
	assert_int_equal(nsent, 1);
	assert_non_null(strstr(sent[0],
	    "juliet@example.org|juliet@example.org/balcony|<iq type='set'"));
	assert_non_null(strstr(sent[0], "<item jid='romeo@example.org'/>"));
	assert_non_null(strstr(sent[0], "<item jid='evil.example'/>"));

	run(imd_blocking_iq, JULIET, NULL, "<iq type='get' id='3'>" BL "</iq>");
	expect_result("<item jid='evil.example'/>");
	assert_non_null(strstr(result, "<item jid='romeo@example.org'/>"));

	/* Another user cannot read or change it. */
	run(imd_blocking_iq, ROMEO, "juliet@example.org",
	    "<iq type='get' id='4'>" BL "</iq>");
	expect_error("cancel", "forbidden");

	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='5'>"
	    "<unblock xmlns='urn:xmpp:blocking'><item jid='romeo@example.org'/>"
	    "</unblock></iq>");
	expect_result(NULL);
	assert_int_equal(sent_count("<unblock xmlns='urn:xmpp:blocking'>"
	    "<item jid='romeo@example.org'/></unblock>"), 1);
	assert_false(imd_is_blocked("juliet@example.org", ROMEO));
	assert_true(imd_is_blocked("juliet@example.org", "x@evil.example/y"));

	/* Unblock all: an empty <unblock/> pushed, nothing left. */
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='6'>"
	    "<unblock xmlns='urn:xmpp:blocking'/></iq>");
	expect_result(NULL);
	assert_int_equal(sent_count("<unblock xmlns='urn:xmpp:blocking'/>"), 1);
	assert_false(imd_is_blocked("juliet@example.org", "x@evil.example/y"));
	run(imd_blocking_iq, JULIET, NULL, "<iq type='get' id='7'>" BL "</iq>");
	expect_result("<blocklist xmlns='urn:xmpp:blocking'/>");
}

static void
test_blocking_errors(void **state)
{
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='1'>"
	    "<block xmlns='urn:xmpp:blocking'/></iq>");
	expect_error("modify", "bad-request");
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='2'>"
	    "<block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block></iq>");
	expect_error("modify", "jid-malformed");
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='3'>"
	    "<block xmlns='urn:xmpp:blocking'><item/></block></iq>");
	expect_error("modify", "bad-request");
	run(imd_blocking_iq, JULIET, NULL, "<iq type='get' id='4'>"
	    "<block xmlns='urn:xmpp:blocking'/></iq>");
	expect_error("modify", "bad-request");
	/* Not ours: the dispatcher tries the next handler. */
	assert_int_equal(run(imd_blocking_iq, JULIET, NULL,
	    "<iq type='get' id='5'><query xmlns='jabber:iq:last'/></iq>"), -1);
}

/* XEP-0016 2.1 as XEP-0191 uses it: each item form and what it covers. */
static void
test_blocking_matching(void **state)
{
	const char	*o = "juliet@example.org";

	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='1'>"
	    "<block xmlns='urn:xmpp:blocking'>"
	    "<item jid='full@a.example/res'/>"
	    "<item jid='bare@b.example'/>"
	    "<item jid='c.example/res'/>"
	    "<item jid='d.example'/></block></iq>");
	expect_result(NULL);

	assert_true(imd_is_blocked(o, "full@a.example/res"));
	assert_false(imd_is_blocked(o, "full@a.example/other"));
	assert_false(imd_is_blocked(o, "full@a.example"));

	assert_true(imd_is_blocked(o, "bare@b.example"));
	assert_true(imd_is_blocked(o, "BARE@b.example/any"));
	assert_false(imd_is_blocked(o, "other@b.example"));
	assert_false(imd_is_blocked(o, "b.example"));

	assert_true(imd_is_blocked(o, "c.example/res"));
	assert_true(imd_is_blocked(o, "u@c.example/res"));
	assert_false(imd_is_blocked(o, "c.example"));
	assert_false(imd_is_blocked(o, "u@c.example/other"));
	assert_false(imd_is_blocked(o, "u@c.example"));

	assert_true(imd_is_blocked(o, "d.example"));
	assert_true(imd_is_blocked(o, "d.example/x"));
	assert_true(imd_is_blocked(o, "u@d.example"));
	assert_true(imd_is_blocked(o, "u@D.Example/x"));
	assert_false(imd_is_blocked(o, "u@sub.d.example"));

	/* Per owner, and garbage is never "blocked". */
	assert_false(imd_is_blocked("romeo@example.org", "d.example"));
	assert_false(imd_is_blocked(o, "@@"));
}

/* A very long JID is stored under a digest key and still matches. */
static void
test_blocking_long_jid(void **state)
{
	char	 local[600], xml[1024], jid[700];

	memset(local, 'x', 500);
	local[500] = '\0';
	snprintf(jid, sizeof(jid), "%s@long.example", local);
	snprintf(xml, sizeof(xml), "<iq type='set' id='1'><block xmlns="
	    "'urn:xmpp:blocking'><item jid='%s'/></block></iq>", jid);
	run(imd_blocking_iq, JULIET, NULL, xml);
	expect_result(NULL);
	assert_true(imd_is_blocked("juliet@example.org", jid));
	run(imd_blocking_iq, JULIET, NULL, "<iq type='get' id='2'>" BL "</iq>");
	expect_result(jid);
}

static void
test_blocking_limit(void **state)
{
	struct xbuf	 b;
	int		 i, j;

	for (i = 0; i <= 10; i++) {
		xbuf_init(&b);
		xbuf_adds(&b, "<iq type='set' id='x'>"
		    "<block xmlns='urn:xmpp:blocking'>");
		for (j = 0; j < (i < 10 ? 1000 : 1); j++)
			xbuf_addf(&b, "<item jid='u%d@spam.example'/>",
			    i * 1000 + j);
		xbuf_adds(&b, "</block></iq>");
		xbuf_add(&b, "", 1);
		run(imd_blocking_iq, JULIET, NULL, b.data);
		xbuf_free(&b);
		if (i < 10)
			expect_result(NULL);
	}
	/* The 10001st is refused with a reason, and nothing was stored. */
	assert_int_equal(nresults, 0);
	assert_int_equal(nsent, 1);
	assert_non_null(strstr(sent[0], "<policy-violation"));
	assert_non_null(strstr(sent[0], "blocklist is full"));
	assert_false(imd_is_blocked("juliet@example.org",
	    "u10000@spam.example"));
	assert_true(imd_is_blocked("juliet@example.org", "u9999@spam.example"));
	/* Blocking one already there is still fine. */
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='y'><block "
	    "xmlns='urn:xmpp:blocking'><item jid='u5@spam.example'/></block></iq>");
	expect_result(NULL);
}

/* XEP-0191 3.3/3.4: a subscribed contact sees us go offline on block and
 * come back on unblock; an unsubscribed one gets nothing. */
#define PRES_AWAY "<presence><show>away</show></presence>"

static void
test_blocking_presence(void **state)
{
	memset(roster, 0, sizeof(roster));
	strcpy(roster[0].jid, "nurse@remote.example");
	roster[0].sub = IMD_SUB_BOTH;
	strcpy(roster[1].jid, "tybalt@remote.example");
	roster[1].sub = IMD_SUB_TO;
	nroster = 2;
	res[0].presence = xml_parse_element(PRES_AWAY, strlen(PRES_AWAY),
	    NULL);
	assert_non_null(res[0].presence);

	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='1'>"
	    "<block xmlns='urn:xmpp:blocking'><item jid='remote.example'/>"
	    "</block></iq>");
	expect_result(NULL);
	assert_int_equal(sent_count("|nurse@remote.example|<presence "
	    "type='unavailable'/>"), 2);
	assert_int_equal(sent_count("tybalt"), 0);

	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='2'>"
	    "<unblock xmlns='urn:xmpp:blocking'/></iq>");
	expect_result(NULL);
	assert_int_equal(sent_count("juliet@example.org/balcony|"
	    "nurse@remote.example|<presence><show>away</show>"), 1);
	assert_int_equal(sent_count("nurse@remote.example"), 1);
	assert_int_equal(sent_count("tybalt"), 0);
	xnode_free(res[0].presence);
	res[0].presence = NULL;
	nroster = 0;
}

/* The set survives a restart of imd (store closed and reopened). */
static void
test_blocking_persists(void **state)
{
	run(imd_blocking_iq, JULIET, NULL, "<iq type='set' id='1'>"
	    "<block xmlns='urn:xmpp:blocking'><item jid='romeo@example.org'/>"
	    "</block></iq>");
	expect_result(NULL);
	store_close(imd_store);
	assert_non_null(imd_store = store_open(dir, 0, 0));
	assert_true(imd_is_blocked("juliet@example.org", ROMEO));
}

/* ---- vcard-temp ---- */

#define VCARD	"<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><PHOTO>" \
		"<TYPE>image/png</TYPE><BINVAL>aGVs\n bG8=</BINVAL></PHOTO></vCard>"

static void
test_vcard(void **state)
{
	char	 hash[41];

	imd_vcard_photo_hash("juliet@example.org", hash, sizeof(hash));
	assert_string_equal(hash, "");
	run(imd_vcard_iq, ROMEO, "juliet@example.org",
	    "<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>");
	expect_result("<vCard xmlns='vcard-temp'/>");

	run(imd_vcard_iq, JULIET, NULL, "<iq type='set' id='2'>" VCARD "</iq>");
	expect_result(NULL);
	assert_string_equal(result, "");
	/* SHA-1 of "hello", the decoded BINVAL (XEP-0153). */
	imd_vcard_photo_hash("juliet@example.org", hash, sizeof(hash));
	assert_string_equal(hash, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");

	run(imd_vcard_iq, ROMEO, "juliet@example.org",
	    "<iq type='get' id='3'><vCard xmlns='vcard-temp'/></iq>");
	expect_result("<FN>Juliet Capulet</FN>");
	run(imd_vcard_iq, JULIET, NULL,
	    "<iq type='get' id='4'><vCard xmlns='vcard-temp'/></iq>");
	expect_result("<TYPE>image/png</TYPE>");

	/* Only the owner writes. */
	run(imd_vcard_iq, ROMEO, "juliet@example.org",
	    "<iq type='set' id='5'><vCard xmlns='vcard-temp'/></iq>");
	expect_error("cancel", "forbidden");
	/* A vCard without a photo clears the hash. */
	run(imd_vcard_iq, JULIET, "juliet@example.org",
	    "<iq type='set' id='6'><vCard xmlns='vcard-temp'><FN>J</FN>"
	    "</vCard></iq>");
	expect_result(NULL);
	imd_vcard_photo_hash("juliet@example.org", hash, sizeof(hash));
	assert_string_equal(hash, "");
	run(imd_vcard_iq, ROMEO, "juliet@example.org/balcony",
	    "<iq type='get' id='7'><vCard xmlns='vcard-temp'/></iq>");
	expect_error("cancel", "service-unavailable");
}

static void
test_vcard_limit(void **state)
{
	struct xbuf	 b;
	int		 i;

	xbuf_init(&b);
	xbuf_adds(&b, "<iq type='set' id='1'><vCard xmlns='vcard-temp'><DESC>");
	for (i = 0; i < 70 * 1024; i++)
		xbuf_add(&b, "x", 1);
	xbuf_adds(&b, "</DESC></vCard></iq>");
	xbuf_add(&b, "", 1);
	run(imd_vcard_iq, JULIET, NULL, b.data);
	xbuf_free(&b);
	assert_int_equal(nresults, 0);
	assert_int_equal(nsent, 1);
	assert_non_null(strstr(sent[0], "<not-acceptable"));
	assert_non_null(strstr(sent[0], "too large"));
	run(imd_vcard_iq, JULIET, NULL,
	    "<iq type='get' id='2'><vCard xmlns='vcard-temp'/></iq>");
	expect_result("<vCard xmlns='vcard-temp'/>");
}

/* ---- private storage ---- */

#define PRIV_SET "<iq type='set' id='1'><query xmlns='jabber:iq:private'>" \
	"<storage xmlns='storage:bookmarks'><conference jid='r@c.example'/>" \
	"</storage></query></iq>"
#define PRIV_GET "<iq type='get' id='2'><query xmlns='jabber:iq:private'>" \
	"<storage xmlns='storage:bookmarks'/></query></iq>"

static void
test_private(void **state)
{
	run(imd_private_iq, JULIET, NULL, PRIV_GET);
	expect_result("<query xmlns='jabber:iq:private'>"
	    "<storage xmlns='storage:bookmarks'/></query>");
	run(imd_private_iq, JULIET, NULL, PRIV_SET);
	expect_result(NULL);
	run(imd_private_iq, JULIET, NULL, PRIV_GET);
	expect_result("<storage xmlns='storage:bookmarks'>"
	    "<conference jid='r@c.example'/></storage>");
	/* Per namespace: another one is still empty. */
	run(imd_private_iq, JULIET, NULL, "<iq type='get' id='3'><query "
	    "xmlns='jabber:iq:private'><prefs xmlns='x:y'/></query></iq>");
	expect_result("<prefs xmlns='x:y'/>");
	/* Nobody else, not even to read. */
	run(imd_private_iq, ROMEO, "juliet@example.org", PRIV_GET);
	expect_error("cancel", "forbidden");
	run(imd_private_iq, ROMEO, NULL, PRIV_GET);
	expect_result("<storage xmlns='storage:bookmarks'/></query>");
}

static void
test_private_errors(void **state)
{
	struct xbuf	 b;
	int		 i;

	/* XEP-0049: the reserved namespaces. */
	run(imd_private_iq, JULIET, NULL, "<iq type='set' id='1'><query "
	    "xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query></iq>");
	expect_error("modify", "not-acceptable");
	run(imd_private_iq, JULIET, NULL, "<iq type='set' id='2'><query "
	    "xmlns='jabber:iq:private'><x/></query></iq>");
	expect_error("modify", "not-acceptable");
	run(imd_private_iq, JULIET, NULL, "<iq type='get' id='3'><query "
	    "xmlns='jabber:iq:private'><x xmlns='jabber:server'/></query></iq>");
	expect_error("modify", "not-acceptable");
	run(imd_private_iq, JULIET, NULL, "<iq type='get' id='4'><query "
	    "xmlns='jabber:iq:private'/></iq>");
	expect_error("modify", "bad-request");
	run(imd_private_iq, JULIET, NULL, "<iq type='get' id='5'><query "
	    "xmlns='jabber:iq:private'><a xmlns='a'/><b xmlns='b'/></query></iq>");
	expect_error("modify", "bad-request");

	xbuf_init(&b);
	xbuf_adds(&b, "<iq type='set' id='6'><query xmlns='jabber:iq:private'>"
	    "<big xmlns='big'>");
	for (i = 0; i < 65 * 1024; i++)
		xbuf_add(&b, "y", 1);
	xbuf_adds(&b, "</big></query></iq>");
	xbuf_add(&b, "", 1);
	run(imd_private_iq, JULIET, NULL, b.data);
	xbuf_free(&b);
	assert_int_equal(nresults, 0);
	assert_non_null(strstr(sent[0], "too large"));

	/* 128 namespaces, then no more (in one iq: nothing stored). */
	xbuf_init(&b);
	xbuf_adds(&b, "<iq type='set' id='7'><query xmlns='jabber:iq:private'>");
	for (i = 0; i < 129; i++)
		xbuf_addf(&b, "<d xmlns='urn:n:%d'/>", i);
	xbuf_adds(&b, "</query></iq>");
	xbuf_add(&b, "", 1);
	run(imd_private_iq, JULIET, NULL, b.data);
	xbuf_free(&b);
	assert_int_equal(nresults, 0);
	assert_non_null(strstr(sent[0], "too many"));
	run(imd_private_iq, JULIET, NULL, "<iq type='get' id='8'><query "
	    "xmlns='jabber:iq:private'><d xmlns='urn:n:0'>x</d></query></iq>");
	expect_result("<d xmlns='urn:n:0'>x</d>");	/* echoed: not stored */
}

/* ---- last activity ---- */

#define LAST "<iq type='get' id='1'><query xmlns='jabber:iq:last'/></iq>"

static void
test_last(void **state)
{
	memset(roster, 0, sizeof(roster));
	strcpy(roster[0].jid, "romeo@example.org");
	roster[0].sub = IMD_SUB_FROM;
	nroster = 1;
	res[0].available = res[1].available = 0;

	run(imd_last_iq, ROMEO, "juliet@example.org", LAST);
	expect_error("cancel", "item-not-found");
	imd_last_set("juliet@example.org", "gone to Mantua");
	now_usec += 42 * 1000000ULL + 999999;
	run(imd_last_iq, ROMEO, "juliet@example.org", LAST);
	expect_result("<query xmlns='jabber:iq:last' seconds='42'>"
	    "gone to Mantua</query>");
	/* The owner itself may ask; a stranger may not. */
	run(imd_last_iq, "juliet@example.org/x", "juliet@example.org", LAST);
	expect_result("seconds='42'");
	run(imd_last_iq, "tybalt@example.org/x", "juliet@example.org", LAST);
	expect_error("auth", "forbidden");
	run(imd_last_iq, ROMEO, "juliet@example.org",
	    "<iq type='set' id='2'><query xmlns='jabber:iq:last'/></iq>");
	expect_error("modify", "bad-request");
	/* Online: 0 (XEP-0012 3, the server answers for the user). */
	res[1].available = 1;
	run(imd_last_iq, ROMEO, "juliet@example.org", LAST);
	expect_result("<query xmlns='jabber:iq:last' seconds='0'/>");
	/* No status: an empty query. */
	res[1].available = 0;
	imd_last_set("juliet@example.org", NULL);
	run(imd_last_iq, ROMEO, "juliet@example.org", LAST);
	expect_result("<query xmlns='jabber:iq:last' seconds='0'/>");
	nroster = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blocking_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_matching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_long_jid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_presence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vcard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vcard_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
