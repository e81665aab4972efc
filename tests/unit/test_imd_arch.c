/*
 * test_imd_arch.c - imd's archive (imd_mam.c: XEP-0313 with XEP-0359 ids),
 * carbons (imd_carbons.c: XEP-0280) and compliance log (imd_compliance.c),
 * against a real LMDB environment in a fresh temporary directory.
 *
 * The rest of imd is stubbed here: imd_send() and the reply helpers record
 * what would have been sent, as text, so each test asserts on the XML a
 * client would receive; the clock is a variable the tests set.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "imd/imd.h"

/* ---- stubs of the other imd files ---- */

struct imd_conf	 imd_conf;
struct store	*imd_store;
const struct sandbox_policy imd_policy;

#define OUT_MAX	64
static char	*out[OUT_MAX];
static int	 nout;
static uint64_t	 fake_now;
static struct imd_res *reslist;
static const char *roster_contact;	/* the one contact in every roster */

static void
record(const char *fmt, const char *a, const char *b, struct xnode *x)
{
	struct xbuf	 buf;
	char		*s;

	xbuf_init(&buf);
	if (x != NULL)
		xml_serialize(&buf, x, "");
	assert_true(asprintf(&s, fmt, a, b, (int)buf.len,
	    buf.data ? buf.data : "") > 0);
	xbuf_free(&buf);
	assert_true(nout < OUT_MAX);
	out[nout++] = s;
}

static void
out_clear(void)
{
	while (nout > 0)
		free(out[--nout]);
}

int
imd_send(const char *from, const char *to, struct xnode *x)
{
	record("SEND %s -> %s: %.*s", from, to, x);
	return 0;
}

int
imd_send_raw(const char *from, const char *to, uint8_t stype,
    const struct imd_piece *p, size_t n)
{
	char	*s;
	size_t	 i, len = 0;

	for (i = 0; i < n; i++)
		len += p[i].len;
	assert_non_null(s = calloc(1, len + 1));
	for (i = 0, len = 0; i < n; len += p[i].len, i++)
		memcpy(s + len, p[i].p, p[i].len);
	assert_true(nout < OUT_MAX);
	assert_true(asprintf(&out[nout], "RAW %s -> %s %u: %s", from, to,
	    stype, s) > 0);
	nout++;
	free(s);
	return 0;
}

int
imd_bare(const char *jid, char *buf, size_t len)
{
	size_t	n = strcspn(jid, "/");

	if (n >= len)
		return -1;
	memcpy(buf, jid, n);
	buf[n] = '\0';
	return 0;
}

void
imd_reply_error(struct imd_stanza *s, const char *type, const char *cond)
{
	record("ERROR %s %s%.*s", type, cond, NULL);
}

void
imd_reply_result(struct imd_stanza *s, struct xnode *payload)
{
	record("RESULT%s%s %.*s", "", "", payload);
	xnode_free(payload);
}

uint64_t
xmpp_now_usec(void)
{
	return fake_now;
}

void
xmpp_timestamp(char *buf, size_t len, uint64_t usec)
{
	snprintf(buf, len, "T%llu", (unsigned long long)(usec / 1000000));
}

int
imd_host_index(const char *domain)
{
	int	 i;

	for (i = 0; i < imd_conf.nhosts; i++)
		if (strcmp(imd_conf.hosts[i], domain) == 0)
			return i;
	return -1;
}

int
imd_is_local(const char *domain)
{
	return imd_host_index(domain) >= 0;
}

struct imd_res *
imd_res_list(const char *bare)
{
	size_t	 n = strlen(bare);

	/* the test's table holds one account at a time */
	if (reslist == NULL || strncmp(reslist->full, bare, n) != 0 ||
	    reslist->full[n] != '/')
		return NULL;
	return reslist;
}

struct imd_res *
imd_res_find(const char *full)
{
	struct imd_res	*r;

	for (r = reslist; r != NULL; r = r->next)
		if (strcmp(r->full, full) == 0)
			return r;
	return NULL;
}

int
imd_roster_get(const char *owner, const char *contact, struct imd_item *it)
{
	if (roster_contact == NULL || strcmp(contact, roster_contact) != 0)
		return 1;
	snprintf(it->jid, sizeof(it->jid), "%s", contact);
	it->sub = IMD_SUB_BOTH;
	return 0;
}

void
imd_item_clear(struct imd_item *it)
{
	memset(it, 0, sizeof(*it));
}

/* ---- helpers ---- */

static char	 dir[64];

static int
setup(void **state)
{
	memset(&imd_conf, 0, sizeof(imd_conf));
	strcpy(dir, "/tmp/test_imd_arch.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(imd_conf.store_dir, sizeof(imd_conf.store_dir), "%s", dir);
	if ((imd_store = store_open(dir, 1 << 24, 16)) == NULL)
		return -1;
	fake_now = 1700000000ULL * 1000000;
	roster_contact = NULL;
	reslist = NULL;
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	out_clear();
	store_close(imd_store);
	imd_store = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct xnode *
parse(const char *s)
{
	struct xnode	*x = xml_parse_element(s, strlen(s), NULL);

	assert_non_null(x);
	return x;
}

static void
stanza(struct imd_stanza *s, const char *from, const char *to, const char *xml)
{
	memset(s, 0, sizeof(*s));
	s->x = parse(xml);
	assert_int_equal(jid_parse(from, strlen(from), &s->from), 0);
	assert_int_equal(jid_parse(to, strlen(to), &s->to), 0);
	snprintf(s->from_s, sizeof(s->from_s), "%s", from);
	snprintf(s->to_s, sizeof(s->to_s), "%s", to);
}

/* Archive one chat message in juliet's archive, one second later. */
static void
arch(const char *with, int incoming, const char *body, char *id)
{
	char		 xml[256];
	struct xnode	*m;

	fake_now += 1000000;
	snprintf(xml, sizeof(xml), "<message type='chat'><body>%s</body>"
	    "</message>", body);
	m = parse(xml);
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, incoming, with,
	    id, 64), 0);
	xnode_free(m);
}

static void
query(const char *from, const char *inner)
{
	struct imd_stanza s;
	char		 xml[2048];

	snprintf(xml, sizeof(xml), "<iq type='set' id='q1'>"
	    "<query xmlns='urn:xmpp:mam:2' queryid='Q'>%s</query></iq>", inner);
	stanza(&s, from, "juliet@cap.lit", xml);
	out_clear();
	assert_int_equal(imd_mam_iq(&s), 0);
	xnode_free(s.x);
}

static int
count_with(const char *needle)
{
	int	 i, n = 0;

	for (i = 0; i < nout; i++)
		if (strstr(out[i], needle) != NULL)
			n++;
	return n;
}

static const char *
last_out(void)
{
	assert_true(nout > 0);
	return out[nout - 1];
}

/* Ten messages alternating between romeo (in) and nurse (out). */
static char ids[10][64];
static const char *const bodies[10] = { "m0", "m1", "m2", "m3", "m4",
	"m5", "m6", "m7", "m8", "m9" };

static void
fill(void)
{
	int	 i;

	for (i = 0; i < 10; i++)
		arch(i % 2 ? "nurse@cap.lit" : "romeo@mont.lit/phone", i % 2 == 0,
		    bodies[i], ids[i]);
}

/* ---- archive ---- */

static void
test_stanza_id(void **state)
{
	struct xnode	*m, *sid;
	char		 id[64];
	int		 n = 0;

	m = parse("<message type='chat'><body>hi</body>"
	    "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@cap.lit' id='forged'/>"
	    "<stanza-id xmlns='urn:xmpp:sid:0' by='other.lit' id='keep'/>"
	    "</message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit/a", id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 22);
	for (sid = xnode_first_elem(m); sid; sid = xnode_next_elem(sid)) {
		if (strcmp(sid->name, "stanza-id") != 0)
			continue;
		n++;
		assert_string_not_equal(xnode_attr(sid, "id"), "forged");
		if (strcmp(xnode_attr(sid, "by"), "juliet@cap.lit") == 0)
			assert_string_equal(xnode_attr(sid, "id"), id);
	}
	assert_int_equal(n, 2);
	xnode_free(m);

	/* Outgoing: archived with an id, but no stanza-id added. */
	m = parse("<message type='chat'><body>out</body></message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 0,
	    "romeo@mont.lit", id, sizeof(id)), 0);
	assert_null(xnode_child(m, "stanza-id", NS_SID));
	assert_int_equal(strlen(id), 22);
	xnode_free(m);

	/* Too small an id buffer: refused. */
	m = parse("<message type='chat'><body>x</body></message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit", id, 10), -1);
	xnode_free(m);
}

static void
test_not_archived(void **state)
{
	static const char *const no[] = {
		"<message type='error'><body>x</body></message>",
		"<message type='headline'><body>x</body></message>",
		"<message type='groupchat'><body>x</body></message>",
		"<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
		"<message type='chat'><body>x</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>",
		"<presence/>",
	};
	struct xnode	*m;
	char		 id[64];
	size_t		 i;

	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		m = parse(no[i]);
		assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
		    "romeo@mont.lit", id, sizeof(id)), -1);
		assert_string_equal(id, "");
		assert_null(xnode_child(m, "stanza-id", NS_SID));
		xnode_free(m);
	}
	m = parse("<message><encrypted xmlns='urn:xmpp:omemo:2'/></message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit", id, sizeof(id)), 0);
	xnode_free(m);
	query("juliet@cap.lit/balcony", "");
	assert_int_equal(count_with("<result"), 1);
}

static void iq(const char *, const char *);

/* A local message: both copies in one transaction, ids as one by one. */
static void
test_archive_copies(void **state)
{
	struct imd_mam_copy c[3];
	struct xnode	*m, *sid;
	int		 n = 0;

	memset(c, 0, sizeof(c));
	c[0].owner = "romeo@cap.lit";
	c[0].with = "juliet@cap.lit";
	c[1].owner = "juliet@cap.lit";
	c[1].with = "romeo@cap.lit";
	c[1].incoming = 1;
	m = parse("<message type='chat'><body>pair</body>"
	    "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@cap.lit' id='f1'/>"
	    "<stanza-id xmlns='urn:xmpp:sid:0' by='romeo@cap.lit' id='f2'/>"
	    "</message>");
	assert_int_equal(imd_mam_archive_copies(m, c, 3), -1);
	assert_int_equal(imd_mam_archive_copies(m, c, 2), 2);
	assert_int_equal(strlen(c[0].id), 22);
	assert_int_equal(strlen(c[1].id), 22);
	assert_string_not_equal(c[0].id, c[1].id);
	/* Only the recipient's committed id is added; the forged ones go. */
	for (sid = xnode_first_elem(m); sid; sid = xnode_next_elem(sid)) {
		if (strcmp(sid->name, "stanza-id") != 0)
			continue;
		n++;
		assert_string_equal(xnode_attr(sid, "by"), "juliet@cap.lit");
		assert_string_equal(xnode_attr(sid, "id"), c[1].id);
	}
	assert_int_equal(n, 1);
	xnode_free(m);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 1);
	assert_non_null(strstr(out[0], c[1].id));
	assert_non_null(strstr(out[0], ">pair<"));
	assert_null(strstr(out[0], "'f1'"));
	assert_null(strstr(out[0], "'f2'"));

	/* The recipient's preferences refuse hers; the sender's is kept. */
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='never'/>");
	m = parse("<message type='chat'><body>two</body></message>");
	assert_int_equal(imd_mam_archive_copies(m, c, 2), 1);
	assert_int_equal(strlen(c[0].id), 22);
	assert_string_equal(c[1].id, "");
	assert_null(xnode_child(m, "stanza-id", NS_SID));
	xnode_free(m);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 1);
}

/* A plain message's bytes, stored as they are for both owners; the
 * query returns them as it returns a parsed message's. */
static void
test_archive_raw(void **state)
{
	const char	*m = "<message type='chat'><body>raw &lt;1&gt;</body>"
	    "</message>";
	struct imd_mam_copy c[3];

	memset(c, 0, sizeof(c));
	c[0].owner = "romeo@cap.lit";
	c[0].with = "juliet@cap.lit";
	c[1].owner = "juliet@cap.lit";
	c[1].with = "romeo@cap.lit";
	c[1].incoming = 1;
	assert_int_equal(imd_mam_archive_raw(m, strlen(m), c, 3), -1);
	assert_int_equal(imd_mam_archive_raw(m, strlen(m), c, 2), 2);
	assert_int_equal(strlen(c[0].id), 22);
	assert_int_equal(strlen(c[1].id), 22);
	assert_string_not_equal(c[0].id, c[1].id);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 1);
	assert_non_null(strstr(out[0], c[1].id));
	assert_non_null(strstr(out[0], "<body>raw &lt;1&gt;</body>"));
	/* Preferences still apply: the recipient refuses hers. */
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='never'/>");
	assert_int_equal(imd_mam_archive_raw(m, strlen(m), c, 2), 1);
	assert_int_equal(strlen(c[0].id), 22);
	assert_string_equal(c[1].id, "");
}

/* ---- queries ---- */

static void
test_query_all(void **state)
{
	char	 want[256];

	fill();
	query("juliet@cap.lit/balcony", "");
	assert_int_equal(nout, 11);
	assert_non_null(strstr(out[0], "SEND juliet@cap.lit -> "
	    "juliet@cap.lit/balcony: <message><result xmlns='urn:xmpp:mam:2' "
	    "queryid='Q' id='"));
	assert_non_null(strstr(out[0], "<forwarded xmlns='urn:xmpp:forward:0'>"
	    "<delay xmlns='urn:xmpp:delay' stamp='T1700000001'/>"
	    "<message xmlns='jabber:client' type='chat'><body>m0</body>"));
	snprintf(want, sizeof(want), "id='%s'", ids[9]);
	assert_non_null(strstr(out[9], want));
	assert_non_null(strstr(last_out(), "RESULT <fin xmlns='urn:xmpp:mam:2' "
	    "complete='true'><set xmlns='http://jabber.org/protocol/rsm'>"));
	assert_non_null(strstr(last_out(), "<count>10</count>"));
	snprintf(want, sizeof(want), "<first index='0'>%s</first><last>%s"
	    "</last>", ids[0], ids[9]);
	assert_non_null(strstr(last_out(), want));

	/* Someone else: forbidden, nothing sent. */
	query("romeo@mont.lit/phone", "");
	assert_int_equal(nout, 1);
	assert_string_equal(out[0], "ERROR cancel forbidden");
}

static void
test_paging(void **state)
{
	char	 rsm[256], want[128];

	fill();
	/* First page of 3. */
	query("juliet@cap.lit/b", "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>3</max></set>");
	assert_int_equal(count_with("<result"), 3);
	assert_non_null(strstr(out[2], ">m2<"));
	assert_null(strstr(last_out(), "complete="));
	assert_non_null(strstr(last_out(), "<count>10</count>"));
	/* Next page after the third. */
	snprintf(rsm, sizeof(rsm), "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>3</max><after>%s</after></set>", ids[2]);
	query("juliet@cap.lit/b", rsm);
	assert_int_equal(count_with("<result"), 3);
	assert_non_null(strstr(out[0], ">m3<"));
	snprintf(want, sizeof(want), "<first index='3'>%s</first>", ids[3]);
	assert_non_null(strstr(last_out(), want));
	/* The last page: empty <before/>. */
	query("juliet@cap.lit/b", "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>4</max><before/></set>");
	assert_int_equal(count_with("<result"), 4);
	assert_non_null(strstr(out[0], ">m6<"));
	assert_non_null(strstr(out[3], ">m9<"));
	snprintf(want, sizeof(want), "<first index='6'>%s</first>", ids[6]);
	assert_non_null(strstr(last_out(), want));
	assert_null(strstr(last_out(), "complete="));
	/* Before m2, max 4: only m0 and m1 remain: complete. */
	snprintf(rsm, sizeof(rsm), "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>4</max><before>%s</before></set>", ids[2]);
	query("juliet@cap.lit/b", rsm);
	assert_int_equal(count_with("<result"), 2);
	assert_non_null(strstr(out[0], ">m0<"));
	assert_non_null(strstr(last_out(), "complete='true'"));
	/* Unknown id: item-not-found. */
	query("juliet@cap.lit/b", "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<after>AAAAAAAAAAAAAAAAAAAAAA</after></set>");
	assert_string_equal(last_out(), "ERROR cancel item-not-found");
	/* max 0: the count only. */
	query("juliet@cap.lit/b", "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>0</max></set>");
	assert_int_equal(nout, 1);
	assert_non_null(strstr(last_out(), "<count>10</count>"));
	/* The configured cap wins over a bigger max. */
	imd_conf.archive_max_page = 2;
	query("juliet@cap.lit/b", "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>100</max></set>");
	assert_int_equal(count_with("<result"), 2);
	/* flip-page: the same page, newest first. */
	query("juliet@cap.lit/b", "<flip-page/>");
	assert_non_null(strstr(out[0], ">m1<"));
	assert_non_null(strstr(out[1], ">m0<"));
}

#define FORM(f)	"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' " \
	"type='hidden'><value>urn:xmpp:mam:2</value></field>" f "</x>"

static void
test_filters(void **state)
{
	char	 f[512];

	fill();
	query("juliet@cap.lit/b", FORM("<field var='with'><value>romeo@mont.lit"
	    "</value></field>"));
	assert_int_equal(count_with("<result"), 5);
	assert_non_null(strstr(last_out(), "<count>5</count>"));
	assert_null(strstr(out[1], ">m1<"));
	/* A full JID matches only that resource. */
	query("juliet@cap.lit/b", FORM("<field var='with'><value>romeo@mont.lit"
	    "/other</value></field>"));
	assert_int_equal(count_with("<result"), 0);
	/* start/end: XEP-0082, inclusive; m2 is at ...003, m4 at ...005. */
	query("juliet@cap.lit/b", FORM("<field var='start'><value>"
	    "2023-11-14T22:13:23Z</value></field><field var='end'><value>"
	    "2023-11-14T23:13:25+01:00</value></field>"));
	assert_int_equal(count_with("<result"), 3);
	assert_non_null(strstr(out[0], ">m2<"));
	assert_non_null(strstr(out[2], ">m4<"));
	query("juliet@cap.lit/b", FORM("<field var='start'><value>yesterday"
	    "</value></field>"));
	assert_string_equal(last_out(), "ERROR modify bad-request");
	/* after-id/before-id (XEP-0313 v1.0): exclusive bounds. */
	snprintf(f, sizeof(f), FORM("<field var='after-id'><value>%s</value>"
	    "</field><field var='before-id'><value>%s</value></field>"),
	    ids[1], ids[5]);
	query("juliet@cap.lit/b", f);
	assert_int_equal(count_with("<result"), 3);
	assert_non_null(strstr(out[0], ">m2<"));
	/* ids: exactly these, in archive order; unknown ones ignored. */
	snprintf(f, sizeof(f), FORM("<field var='ids'><value>%s</value>"
	    "<value>%s</value><value>nope</value></field>"), ids[7], ids[3]);
	query("juliet@cap.lit/b", f);
	assert_int_equal(count_with("<result"), 2);
	assert_non_null(strstr(out[0], ">m3<"));
	assert_non_null(strstr(out[1], ">m7<"));
	/* An unknown field. */
	query("juliet@cap.lit/b", FORM("<field var='fulltext'><value>m"
	    "</value></field>"));
	assert_string_equal(last_out(), "ERROR modify feature-not-implemented");
	/* Wrong FORM_TYPE. */
	query("juliet@cap.lit/b", "<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>");
	assert_string_equal(last_out(), "ERROR modify bad-request");
}

/* Another account's ids are unknown to juliet. */
static void
test_foreign_id(void **state)
{
	struct xnode	*m;
	char		 id[64], rsm[256];

	fill();
	m = parse("<message type='chat'><body>secret</body></message>");
	assert_int_equal(imd_mam_archive("romeo@mont.lit", m, 1,
	    "juliet@cap.lit", id, sizeof(id)), 0);
	xnode_free(m);
	snprintf(rsm, sizeof(rsm), FORM("<field var='ids'><value>%s</value>"
	    "</field>"), id);
	query("juliet@cap.lit/b", rsm);
	assert_int_equal(count_with("<result"), 0);
	assert_int_equal(count_with("secret"), 0);
	snprintf(rsm, sizeof(rsm), "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<before>%s</before></set>", id);
	query("juliet@cap.lit/b", rsm);
	assert_string_equal(last_out(), "ERROR cancel item-not-found");
}

static void
iq(const char *type, const char *payload)
{
	struct imd_stanza s;
	char		 xml[1024];

	snprintf(xml, sizeof(xml), "<iq type='%s' id='i'>%s</iq>", type,
	    payload);
	stanza(&s, "juliet@cap.lit/b", "juliet@cap.lit", xml);
	out_clear();
	assert_int_equal(imd_mam_iq(&s), 0);
	xnode_free(s.x);
}

static void
test_form_metadata(void **state)
{
	iq("get", "<query xmlns='urn:xmpp:mam:2'/>");
	assert_non_null(strstr(last_out(), "<field var='with' "
	    "type='jid-single'/>"));
	assert_non_null(strstr(last_out(), "<field var='ids'"));
	iq("get", "<metadata xmlns='urn:xmpp:mam:2'/>");
	assert_string_equal(last_out(), "RESULT <metadata "
	    "xmlns='urn:xmpp:mam:2'/>");
	fill();
	iq("get", "<metadata xmlns='urn:xmpp:mam:2'/>");
	assert_non_null(strstr(last_out(), ids[0]));
	assert_non_null(strstr(last_out(), ids[9]));
	assert_non_null(strstr(last_out(), "timestamp='T1700000010'"));
}

static void
test_prefs(void **state)
{
	struct xnode	*m;
	char		 id[64];

	iq("get", "<prefs xmlns='urn:xmpp:mam:2'/>");
	assert_non_null(strstr(last_out(), "default='always'"));
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='never'><always>"
	    "<jid>Romeo@mont.lit</jid></always><never><jid>nurse@cap.lit</jid>"
	    "</never></prefs>");
	assert_non_null(strstr(last_out(), "default='never'"));
	assert_non_null(strstr(last_out(), "<always><jid>romeo@mont.lit</jid>"
	    "</always><never><jid>nurse@cap.lit</jid></never>"));
	iq("get", "<prefs xmlns='urn:xmpp:mam:2'/>");
	assert_non_null(strstr(last_out(), "<always><jid>romeo@mont.lit"));

	m = parse("<message type='chat'><body>a</body></message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit/x", id, sizeof(id)), 0);
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "nurse@cap.lit", id, sizeof(id)), -1);
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "tybalt@cap.lit", id, sizeof(id)), -1);
	/* roster: only contacts in the roster. */
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='roster'/>");
	roster_contact = "tybalt@cap.lit";
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "tybalt@cap.lit/r", id, sizeof(id)), 0);
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "paris@cap.lit", id, sizeof(id)), -1);
	xnode_free(m);
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>");
	assert_string_equal(last_out(), "ERROR modify bad-request");
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='always'><always>"
	    "<jid>@@</jid></always></prefs>");
	assert_string_equal(last_out(), "ERROR modify jid-malformed");
}

/* archive-default: the default of an account that set no preferences. */
static void
test_prefs_server_default(void **state)
{
	struct xnode	*m;
	char		 id[64];

	assert_int_equal(imd_mam_pref_parse("roster"), 2);
	assert_int_equal(imd_mam_pref_parse("sometimes"), -1);
	imd_conf.archive_default = imd_mam_pref_parse("never");
	iq("get", "<prefs xmlns='urn:xmpp:mam:2'/>");
	assert_non_null(strstr(last_out(), "default='never'"));
	m = parse("<message type='chat'><body>a</body></message>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit/x", id, sizeof(id)), -1);
	assert_string_equal(id, "");
	/* the account's own choice wins */
	iq("set", "<prefs xmlns='urn:xmpp:mam:2' default='always'/>");
	assert_int_equal(imd_mam_archive("juliet@cap.lit", m, 1,
	    "romeo@mont.lit/x", id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 22);
	xnode_free(m);
	imd_conf.archive_default = 0;
}

static void
test_retention(void **state)
{
	char	 id[64], rsm[256];

	fill();		/* at now+1s .. now+10s */
	imd_conf.archive_retention = 100;
	fake_now += 95500000;	/* now = m9 + 95.5 s: m0..m4 are past 100 s */
	assert_int_equal(imd_mam_prune(fake_now, 2), 2);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 8);
	assert_int_equal(imd_mam_prune(fake_now, 1000), 3);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 5);
	assert_non_null(strstr(out[0], ">m5<"));
	/* Ids of pruned entries are gone too. */
	snprintf(rsm, sizeof(rsm), "<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<after>%s</after></set>", ids[0]);
	query("juliet@cap.lit/b", rsm);
	assert_string_equal(last_out(), "ERROR cancel item-not-found");
	/* Archiving prunes the owner's old entries as it goes. */
	fake_now += 200ULL * 1000000;
	arch("romeo@mont.lit", 1, "late", id);
	query("juliet@cap.lit/b", "");
	assert_int_equal(count_with("<result"), 1);
	/* Retention 0 keeps everything. */
	imd_conf.archive_retention = 0;
	fake_now += 1000ULL * 1000000;
	assert_int_equal(imd_mam_prune(fake_now, 1000), 0);
}

/* ---- carbons ---- */

static struct imd_res res[3];
static char res_full[3][64];

static void
resources(void)
{
	int	 i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < 3; i++) {
		res[i].full = res_full[i];
		snprintf(res[i].full, sizeof(res_full[i]), "juliet@cap.lit/r%d",
		    i);
		res[i].resource = res[i].full + strlen("juliet@cap.lit/");
		res[i].next = i < 2 ? &res[i + 1] : NULL;
	}
	reslist = &res[0];
}

static void
carbons_iq(const char *from, const char *what, const char *type)
{
	struct imd_stanza s;
	char		 xml[256];

	snprintf(xml, sizeof(xml), "<iq type='%s' id='c'><%s "
	    "xmlns='urn:xmpp:carbons:2'/></iq>", type, what);
	stanza(&s, from, "juliet@cap.lit", xml);
	out_clear();
	assert_int_equal(imd_carbons_iq(&s), 0);
	xnode_free(s.x);
}

static void
test_carbons_enable(void **state)
{
	resources();
	carbons_iq("juliet@cap.lit/r1", "enable", "set");
	assert_string_equal(last_out(), "RESULT ");
	assert_int_equal(res[1].carbons, 1);
	assert_int_equal(res[0].carbons, 0);
	carbons_iq("juliet@cap.lit/r1", "disable", "set");
	assert_int_equal(res[1].carbons, 0);
	carbons_iq("juliet@cap.lit/r1", "enable", "get");
	assert_string_equal(last_out(), "ERROR modify bad-request");
	carbons_iq("romeo@mont.lit/x", "enable", "set");
	assert_string_equal(last_out(), "ERROR cancel forbidden");
	carbons_iq("juliet@cap.lit/gone", "enable", "set");
	assert_string_equal(last_out(), "ERROR cancel item-not-found");
}

static void
sent(const char *xml)
{
	struct imd_stanza s;

	stanza(&s, "juliet@cap.lit/r0", "romeo@mont.lit", xml);
	out_clear();
	imd_carbons_sent(&s);
	xnode_free(s.x);
}

static void
test_carbons_sent(void **state)
{
	resources();
	sent("<message type='chat' from='juliet@cap.lit/r0'><body>hi</body>"
	    "</message>");
	assert_int_equal(nout, 0);	/* nobody enabled */
	res[0].carbons = res[2].carbons = 1;
	sent("<message type='chat' from='juliet@cap.lit/r0'><body>hi</body>"
	    "</message>");
	assert_int_equal(nout, 1);	/* not back to r0 itself */
	assert_string_equal(out[0], "SEND juliet@cap.lit -> juliet@cap.lit/r2: "
	    "<message type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded "
	    "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
	    "type='chat' from='juliet@cap.lit/r0' to='romeo@mont.lit'><body>hi"
	    "</body></message></forwarded></sent></message>");
	sent("<message type='chat'><body>hi</body><private "
	    "xmlns='urn:xmpp:carbons:2'/></message>");
	assert_int_equal(nout, 0);
	sent("<message type='chat'><body>hi</body><no-copy "
	    "xmlns='urn:xmpp:hints'/></message>");
	assert_int_equal(nout, 0);
	sent("<message type='groupchat'><body>hi</body></message>");
	assert_int_equal(nout, 0);
	sent("<message><body>normal</body></message>");
	assert_int_equal(nout, 1);
	sent("<message><subject>no body</subject></message>");
	assert_int_equal(nout, 0);
	sent("<message type='chat'><received xmlns='urn:xmpp:carbons:2'/>"
	    "</message>");
	assert_int_equal(nout, 0);
}

static void
test_carbons_received(void **state)
{
	struct xnode	*m;

	resources();
	res[0].carbons = res[1].carbons = 1;
	m = parse("<message type='chat' from='romeo@mont.lit/x' "
	    "to='juliet@cap.lit'><body>yo</body></message>");
	out_clear();
	imd_carbons_received("juliet@cap.lit", m, "juliet@cap.lit/r1");
	assert_int_equal(nout, 1);
	assert_non_null(strstr(out[0], "-> juliet@cap.lit/r0: <message "
	    "type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded "
	    "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
	    "type='chat' from='romeo@mont.lit/x'"));
	out_clear();
	imd_carbons_received("juliet@cap.lit", m, NULL);
	assert_int_equal(nout, 2);
	xnode_free(m);
	m = parse("<message type='chat'><body>yo</body><private "
	    "xmlns='urn:xmpp:carbons:2'/></message>");
	out_clear();
	imd_carbons_received("juliet@cap.lit", m, NULL);
	assert_int_equal(nout, 0);
	xnode_free(m);
}

/* The copies made from a plain message's bytes (RFF_PLAINMSG). */
static void
test_carbons_raw(void **state)
{
	const char	*m = "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@mont.lit/x'><body>a&amp;b</body></message>";
	struct imd_piece p[3] = {
		{ m, strlen(m) - 10 },
		{ "<stanza-id/>", 12 },
		{ "</message>", 10 },
	};

	resources();
	out_clear();
	imd_carbons_sent_raw("juliet@cap.lit/r0", RS_CHAT, m, strlen(m));
	assert_int_equal(nout, 0);	/* nobody enabled */
	res[0].carbons = res[2].carbons = 1;
	imd_carbons_sent_raw("juliet@cap.lit/r0", RS_CHAT, m, strlen(m));
	assert_int_equal(nout, 1);	/* not back to r0 itself */
	assert_string_equal(out[0], "RAW juliet@cap.lit -> juliet@cap.lit/r2 2: "
	    "<message type='chat' from='juliet@cap.lit' to='juliet@cap.lit/r2'>"
	    "<sent xmlns='urn:xmpp:carbons:2'><forwarded "
	    "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
	    "type='chat' from='juliet@cap.lit/r0' to='romeo@mont.lit/x'><body>"
	    "a&amp;b</body></message></forwarded></sent></message>");
	out_clear();
	imd_carbons_received_raw("juliet@cap.lit", "juliet@cap.lit/r2",
	    RS_NORMAL, p, 3);
	assert_int_equal(nout, 1);
	assert_string_equal(out[0], "RAW juliet@cap.lit -> juliet@cap.lit/r0 1: "
	    "<message type='normal' from='juliet@cap.lit' to='juliet@cap.lit/r0'>"
	    "<received xmlns='urn:xmpp:carbons:2'><forwarded "
	    "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
	    "type='chat' from='juliet@cap.lit/r0' to='romeo@mont.lit/x'><body>"
	    "a&amp;b</body><stanza-id/></message></forwarded></received>"
	    "</message>");
}

/* ---- compliance ---- */

static char *
slurp(const char *path)
{
	static char	 buf[4096];
	FILE		*f;
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_compliance(void **state)
{
	struct xnode	*m;
	struct stat	 st;
	char		 path[256], *s;

	imd_conf.nhosts = 2;
	strcpy(imd_conf.hosts[0], "cap.lit");
	strcpy(imd_conf.hosts[1], "mont.lit");
	imd_conf.compliance[0] = 1;
	m = parse("<message type='chat' id='a1'><body>say \"hi\"\n\\ "
	    "&lt;b&gt;</body></message>");
	imd_compliance_log("juliet@cap.lit/r0", "romeo@mont.lit", m);
	imd_compliance_log("romeo@mont.lit/x", "tybalt@mont.lit", m);
	xnode_free(m);
	m = parse("<message type='chat'><active "
	    "xmlns='http://jabber.org/protocol/chatstates'/></message>");
	imd_compliance_log("juliet@cap.lit/r0", "romeo@mont.lit", m);
	xnode_free(m);
	snprintf(path, sizeof(path), "%s/compliance/cap.lit.log", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(s = slurp(path));
	assert_string_equal(s, "{\"time\":\"T1700000000\",\"from\":"
	    "\"juliet@cap.lit/r0\",\"to\":\"romeo@mont.lit\",\"type\":\"chat\","
	    "\"id\":\"a1\",\"body\":\"say \\\"hi\\\"\\n\\\\ <b>\"}\n");
	snprintf(path, sizeof(path), "%s/compliance/mont.lit.log", dir);
	assert_int_equal(stat(path, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stanza_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_archived, setup, teardown),
		cmocka_unit_test_setup_teardown(test_archive_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_archive_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefs_server_default, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carbons_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carbons_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carbons_received, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carbons_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compliance, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
