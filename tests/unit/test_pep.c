/*
 * test_pep.c - pepd's pieces without routerd: the item store (ordering,
 * replacement of an id, max_items trimming, retrieval of the newest n and
 * by id, deletion, node isolation), the configuration form (parsing,
 * refusal of bad values leaving the configuration unchanged, the
 * round-trip through the form pepd itself sends), node records in LMDB,
 * one request end to end through the dispatcher (publish with a
 * publish-options precondition), reading the frames pepd writes, and
 * XEP-0115 caps: the verification string (the XEP's examples, ill-formed
 * answers) and the questions pepd asks (one per ver, trust only on a
 * match).
 */
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon.h"
#include "link.h"
#include "pubsub.h"
#include "stanza.h"
#include "store.h"

/* pepd.c itself, main() compiled out: its ops are what we drive. */
#define PEPD_NO_MAIN
#include "pepd/pepd.c"

static int		 peer = -1;
static struct event_base *base;
static char		 tmpdir[64];
static uint8_t		 rbuf[FRAME_MAX_DEFAULT];

static void
on_frame(struct link *l, struct frame *f, void *arg)
{
}

static void
on_close(struct link *l, const char *why, void *arg)
{
}

static int
setup(void **state)
{
	int	sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	base = event_base_new();
	daemon_link = link_new(base, sv[0], "test", on_frame, on_close, NULL);
	peer = sv[1];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pep.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	memset(&pep_conf, 0, sizeof(pep_conf));
	pep_conf.max_payload = PEP_DEF_PAYLOAD;
	strcpy(pep_conf.store_dir, tmpdir);
	strcpy(pep_conf.hosts[0], "example.org");
	pep_conf.nhosts = 1;
	pep_store = store_open(tmpdir, 1 << 24, 8);
	assert_non_null(pep_store);
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	pepd_test_ops->shutdown();
	link_free(daemon_link);
	daemon_link = NULL;
	close(peer);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- item store ---- */

struct seen {
	char	ids[16][32];
	char	payloads[16][64];
	int	n;
};

static int
seen_cb(const struct pep_item *it, void *arg)
{
	struct seen	*s = arg;

	assert_true(s->n < 16);
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", it->id);
	snprintf(s->payloads[s->n], sizeof(s->payloads[0]), "%.*s",
	    (int)it->payload_len, it->payload);
	s->n++;
	return 0;
}

static size_t
key(const char *node, char *buf)
{
	return pep_node_key("pubsub.example.org", node, buf, 600);
}

static void
put(const char *node, const char *id, const char *payload, unsigned max,
    uint64_t seq)
{
	char	k[600];
	size_t	kl = key(node, k);

	assert_int_equal(pep_item_put(pep_store, k, kl, id, "a@example.org",
	    payload, strlen(payload), max, seq), 0);
}

static void
test_items_order_trim_replace(void **state)
{
	struct seen	s = { 0 };
	char		k[600];
	size_t		kl = key("n", k);

	put("n", "a", "<p>1</p>", 3, 10);
	put("n", "b", "<p>2</p>", 3, 20);
	put("n", "c", "<p>3</p>", 3, 30);
	put("n", "d", "<p>4</p>", 3, 40);	/* a goes */
	assert_int_equal(pep_item_count(pep_store, k, kl), 3);
	assert_int_equal(pep_item_list(pep_store, k, kl, 0, seen_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ids[0], "b");
	assert_string_equal(s.ids[2], "d");
	/* republishing b makes it the newest, still 3 items */
	put("n", "b", "<p>2bis</p>", 3, 50);
	memset(&s, 0, sizeof(s));
	(void)pep_item_list(pep_store, k, kl, 0, seen_cb, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ids[0], "c");
	assert_string_equal(s.ids[2], "b");
	assert_string_equal(s.payloads[2], "<p>2bis</p>");
	/* the newest one */
	memset(&s, 0, sizeof(s));
	(void)pep_item_list(pep_store, k, kl, 1, seen_cb, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], "b");
}

static void
test_items_get_del_isolation(void **state)
{
	struct seen	s = { 0 };
	char		k[600], k2[600];
	size_t		kl = key("n", k), kl2 = key("n2", k2);

	put("n", "x", "<p>x</p>", 10, 1);
	put("n2", "x", "<p>other</p>", 10, 2);	/* "n" is a prefix of "n2" */
	assert_int_equal(pep_item_count(pep_store, k, kl), 1);
	assert_int_equal(pep_item_get(pep_store, k, kl, "x", seen_cb, &s), 0);
	assert_string_equal(s.payloads[0], "<p>x</p>");
	assert_int_equal(pep_item_get(pep_store, k, kl, "nope", seen_cb, &s), 1);
	assert_int_equal(pep_item_del(pep_store, k, kl, "x"), 0);
	assert_int_equal(pep_item_del(pep_store, k, kl, "x"), 1);
	assert_int_equal(pep_item_count(pep_store, k, kl), 0);
	assert_int_equal(pep_item_count(pep_store, k2, kl2), 1);
	assert_int_equal(pep_item_trim(pep_store, k2, kl2, 0), 0);
	assert_int_equal(pep_item_count(pep_store, k2, kl2), 0);
	/* a key that does not fit is refused */
	assert_int_equal(pep_node_key("s", "n", k, 3), 0);
	assert_int_equal(pep_item_put(pep_store, k, 0, "i", "p", "", 0, 1, 1),
	    -1);
}

/* ---- the configuration form ---- */

static struct xnode *
parse(const char *s)
{
	struct xnode	*x = xml_parse_element(s, strlen(s), NULL);

	assert_non_null(x);
	return x;
}

#define FORM(fields) \
	"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>" \
	"<value>http://jabber.org/protocol/pubsub#node_config</value>" \
	"</field>" fields "</x>"
#define F(var, val)	"<field var='" var "'><value>" val "</value></field>"

static void
test_form_apply(void **state)
{
	struct pep_config	c, before;
	struct xnode		*x;

	pep_config_default(&c, 0);
	assert_int_equal(c.access, PACC_OPEN);
	x = parse(FORM(F("pubsub#max_items", "7")
	    F("pubsub#access_model", "whitelist")
	    F("pubsub#persist_items", "false")
	    F("pubsub#publish_model", "open")
	    F("pubsub#send_last_published_item", "never")
	    F("pubsub#title", "T &amp; t") F("pubsub#unknown", "ignored")));
	assert_int_equal(pep_config_apply(&c, x), 0);
	xnode_free(x);
	assert_int_equal(c.max_items, 7);
	assert_int_equal(c.access, PACC_WHITELIST);
	assert_int_equal(c.persist_items, 0);
	assert_int_equal(c.publish_model, PPUB_OPEN);
	assert_int_equal(c.send_last, PSL_NEVER);
	assert_string_equal(c.title, "T & t");
	x = parse(FORM(F("pubsub#max_items", "max")));
	assert_int_equal(pep_config_apply(&c, x), 0);
	xnode_free(x);
	assert_int_equal(c.max_items, PEP_MAX_ITEMS);
	/* one bad field: nothing changes */
	before = c;
	x = parse(FORM(F("pubsub#max_items", "3")
	    F("pubsub#access_model", "everyone")));
	assert_int_equal(pep_config_apply(&c, x), -1);
	xnode_free(x);
	assert_true(pep_config_equal(&c, &before));
	x = parse(FORM(F("pubsub#max_items", "0")));
	assert_int_equal(pep_config_apply(&c, x), -1);
	xnode_free(x);
	x = parse(FORM(F("pubsub#max_items", "-1")));
	assert_int_equal(pep_config_apply(&c, x), -1);
	xnode_free(x);
	x = parse(FORM(F("pubsub#persist_items", "yes")));
	assert_int_equal(pep_config_apply(&c, x), -1);
	xnode_free(x);
	/* only a submitted form applies */
	x = parse("<x xmlns='jabber:x:data' type='form'/>");
	assert_int_equal(pep_config_apply(&c, x), -1);
	xnode_free(x);
	assert_int_equal(pep_config_apply(&c, NULL), -1);
	assert_true(pep_config_equal(&c, &before));
}

/* What pepd sends as a form, submitted back, gives the same config. */
static void
test_form_roundtrip(void **state)
{
	struct pep_config	 c, d;
	struct xnode		*x;

	pep_config_default(&c, 1);
	c.max_items = 42;
	c.access = PACC_ROSTER;
	strcpy(c.title, "<title>");
	x = pep_config_form(&c, "form");
	assert_non_null(x);
	assert_string_equal(pep_form_type(x), NS_PUBSUB_CONFIG);
	xnode_set_attr(x, "type", "submit");
	pep_config_default(&d, 0);
	assert_false(pep_config_equal(&c, &d));
	assert_int_equal(pep_config_apply(&d, x), 0);
	assert_true(pep_config_equal(&c, &d));
	xnode_free(x);
}

/* ---- node records ---- */

static void
test_node_record(void **state)
{
	struct pep_node	*n, *m;
	struct xbuf	 b;

	n = pep_node_new("pubsub.example.org", "rec");
	assert_non_null(n);
	n->cfg.max_items = 9;
	assert_int_equal(pep_aff_set(n, "a@example.org", PAFF_OWNER), 0);
	assert_int_equal(pep_aff_set(n, "z@example.org", PAFF_OUTCAST), 0);
	assert_non_null(pep_sub_add(n, "b@example.org/r"));
	xbuf_init(&b);
	assert_int_equal(pep_node_encode(n, &b), 0);
	m = pep_node_decode(b.data, b.len);
	xbuf_free(&b);
	assert_non_null(m);
	assert_string_equal(m->name, "rec");
	assert_int_equal(m->cfg.max_items, 9);
	assert_int_equal(pep_aff_get(m, "a@example.org"), PAFF_OWNER);
	assert_int_equal(pep_aff_get(m, "z@example.org"), PAFF_OUTCAST);
	assert_int_equal(pep_aff_get(m, "q@example.org"), PAFF_NONE);
	assert_non_null(pep_sub_find(m, "b@example.org/r"));
	assert_string_equal(pep_sub_find(m, "b@example.org/r")->subid,
	    pep_sub_find(n, "b@example.org/r")->subid);
	pep_node_free(m);
	/* saved, forgotten from memory, loaded again */
	assert_int_equal(pep_node_save(n), 0);
	pepd_test_ops->shutdown();
	pep_store = store_open(tmpdir, 1 << 24, 8);
	assert_non_null(pep_store);
	assert_null(pep_node_find("pubsub.example.org", "rec"));
	assert_int_equal(pep_nodes_load(), 0);
	assert_non_null(n = pep_node_find("pubsub.example.org", "rec"));
	assert_int_equal(pep_aff_get(n, "z@example.org"), PAFF_OUTCAST);
	/* an outcast is refused, an open node is open to others */
	{
		const char *t, *c, *p;

		assert_int_equal(pep_may_access(n, "z@example.org", &t, &c, &p),
		    -1);
		assert_string_equal(c, "forbidden");
		assert_int_equal(pep_may_access(n, "q@example.org", &t, &c, &p),
		    0);
		n->cfg.access = PACC_WHITELIST;
		assert_int_equal(pep_may_access(n, "q@example.org", &t, &c, &p),
		    -1);
		assert_string_equal(p, "closed-node");
	}
	assert_null(pep_node_decode("<node/>", 7));
	assert_null(pep_node_decode("<node", 5));
}

/* ---- a request through the dispatcher ---- */

static void
deliver(const char *from, const char *to, const char *xml)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	o = fout_stanza(RK_IQ, RS_SET, from, to, xml, strlen(xml));
	assert_non_null(o);
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	pepd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

/* The next stanza pepd wrote, as text. */
static const char *
reply(void)
{
	static char	 text[8192];
	struct frame	 f;
	const uint8_t	*b;
	size_t		 l;

	link_flush_now(daemon_link);
	assert_int_equal(link_read_blocking(peer, rbuf, sizeof(rbuf), &f,
	    1000), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	frame_get_rest(&f, &b, &l);
	assert_true(l < sizeof(text));
	memcpy(text, b, l);
	text[l] = '\0';
	return text;
}

#define PUB(opts) "<iq type='set' id='p'><pubsub " \
	"xmlns='http://jabber.org/protocol/pubsub'><publish node='pv'>" \
	"<item id='current'><data xmlns='urn:x'>v</data></item></publish>" \
	opts "</pubsub></iq>"
#define OPTS(f) "<publish-options><x xmlns='jabber:x:data' type='submit'>" \
	"<field var='FORM_TYPE'><value>" NS_PUBSUB_PUBOPT "</value></field>" \
	f "</x></publish-options>"

static void
test_publish_precondition(void **state)
{
	const char	*r;

	/* auto-create with the options (XEP-0223) */
	deliver("a@example.org/r", "pubsub.example.org",
	    PUB(OPTS(F("pubsub#access_model", "whitelist"))));
	r = reply();
	assert_non_null(strstr(r, "type='result'"));
	assert_non_null(strstr(r, "id='current'"));
	assert_int_equal(pep_node_find("pubsub.example.org", "pv")->cfg.access,
	    PACC_WHITELIST);
	deliver("a@example.org/r", "pubsub.example.org",
	    PUB(OPTS(F("pubsub#access_model", "open"))));
	r = reply();
	assert_non_null(strstr(r, "type='error'"));
	assert_non_null(strstr(r, "precondition-not-met"));
	/* someone of another domain may not create */
	deliver("x@elsewhere.net/r", "pubsub.example.org",
	    "<iq type='set' id='c'><pubsub xmlns='" NS_PUBSUB "'>"
	    "<create node='theirs'/></pubsub></iq>");
	r = reply();
	assert_non_null(strstr(r, "forbidden"));
	assert_null(pep_node_find("pubsub.example.org", "theirs"));
}

/* ---- XEP-0115 caps (pepd_caps.c) ---- */

#define DI "http://jabber.org/protocol/disco#info"
#define EXODUS "<identity category='client' name='Exodus 0.9.1' type='pc'/>" \
	"<feature var='http://jabber.org/protocol/caps'/>" \
	"<feature var='" DI "'/>" \
	"<feature var='http://jabber.org/protocol/disco#items'/>" \
	"<feature var='http://jabber.org/protocol/muc'/>"
#define PSI_FORM "<x xmlns='jabber:x:data' type='result'>" \
	"<field var='FORM_TYPE' type='hidden'>" \
	"<value>urn:xmpp:dataforms:softwareinfo</value></field>" \
	"<field var='ip_version'><value>ipv6</value><value>ipv4</value></field>" \
	"<field var='os'><value>Mac</value></field>" \
	"<field var='os_version'><value>10.5.1</value></field>" \
	"<field var='software'><value>Psi</value></field>" \
	"<field var='software_version'><value>0.11</value></field></x>"
#define PSI "<identity xml:lang='en' category='client' name='Psi 0.11' " \
	"type='pc'/><identity xml:lang='el' category='client' " \
	"name='\xce\xa8 0.11' type='pc'/>" \
	"<feature var='http://jabber.org/protocol/muc'/>" \
	"<feature var='http://jabber.org/protocol/caps'/>" \
	"<feature var='" DI "'/>" \
	"<feature var='http://jabber.org/protocol/disco#items'/>" PSI_FORM

/* pep_caps_ver() of <query>inner</query>, or "-1". */
static const char *
ver_of(const char *inner, const char *hash)
{
	static char	 out[256];
	char		 xml[4096];
	struct xnode	*q;

	snprintf(xml, sizeof(xml), "<query xmlns='%s'>%s</query>", DI, inner);
	q = xml_parse_element(xml, strlen(xml), NULL);
	assert_non_null(q);
	if (pep_caps_ver(q, hash, out, sizeof(out)) == -1)
		strcpy(out, "-1");
	xnode_free(q);
	return out;
}

/* XEP-0115 5.2 and 5.3 (the examples), and 5.4's ill-formed answers. */
static void
test_caps_ver(void **state)
{
	assert_string_equal(ver_of(EXODUS, "sha-1"),
	    "QgayPKawpkPSDYmwT/WM94uAlu0=");
	assert_string_equal(ver_of(PSI, "sha-1"),
	    "q07IKJEyjvHSyhy//CH0CxmKi8w=");
	assert_int_equal(strlen(ver_of(EXODUS, "sha-256")), 44);
	assert_string_equal(ver_of(EXODUS, "md5"), "-1");
	/* a duplicate feature or identity, two forms of one FORM_TYPE */
	assert_string_equal(ver_of(EXODUS "<feature var='" DI "'/>", "sha-1"),
	    "-1");
	assert_string_equal(ver_of(EXODUS "<identity category='client' "
	    "name='Exodus 0.9.1' type='pc'/>", "sha-1"), "-1");
	assert_string_equal(ver_of(PSI PSI_FORM, "sha-1"), "-1");
	/* a form whose FORM_TYPE is not hidden is left out (step 3.6) */
	assert_string_equal(ver_of(EXODUS "<x xmlns='jabber:x:data' "
	    "type='result'><field var='FORM_TYPE'><value>urn:x</value>"
	    "</field></x>", "sha-1"), "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

static void
contact_presence(const char *full, const char *owner, const char *ver,
    const char *hash)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	o = fout_new(RF_PEP_PRESENCE, full, owner);
	assert_non_null(o);
	o->hdr.flags = RFF_OPTIONAL;
	fout_put_u8(o, ver != NULL);	/* NULL: unavailable */
	fout_put_str(o, "urn:n");
	fout_put_str(o, ver != NULL ? ver : "");
	fout_put_str(o, hash);
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	pepd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

static void
no_reply(void)
{
	struct frame	f;

	link_flush_now(daemon_link);
	assert_int_not_equal(link_read_blocking(peer, rbuf, sizeof(rbuf), &f,
	    100), 0);
}

/* The id of the caps question in `r`, which must go from `from` to `to`. */
static void
question(const char *r, const char *from, const char *to, char *id)
{
	char		 want[256];
	const char	*p;

	snprintf(want, sizeof(want), "from='%s'", from);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof(want), "to='%s'", to);
	assert_non_null(strstr(r, want));
	assert_non_null(p = strstr(r, "id='" PEP_CAPS_ID_PREFIX));
	p += 4;
	assert_non_null(strchr(p, '\''));
	memcpy(id, p, strchr(p, '\'') - p);
	id[strchr(p, '\'') - p] = '\0';
}

static void
answer(const char *from, const char *to, const char *id, const char *inner)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;
	char		 xml[4096];

	snprintf(xml, sizeof(xml), "<iq type='result' id='%s'><query "
	    "xmlns='%s'>%s</query></iq>", id, DI, inner);
	o = fout_stanza(RK_IQ, RS_RESULT, from, to, xml, strlen(xml));
	assert_non_null(o);
	o->hdr.flags |= RFF_PEP;
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	pepd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

#define TUNE_NOTIFY "<feature var='urn:tune+notify'/>"

/* One question per ver, from the owner's bare JID; only a verified
 * answer is cached; a wrong one is not, and another resource with the
 * same ver is asked next. */
static void
test_caps_verify(void **state)
{
	char		 id[64], good[64];
	size_t		 n, pend;
	struct pep_caps	*k;

	strcpy(good, ver_of(EXODUS TUNE_NOTIFY, "sha-1"));
	contact_presence("c@example.org/1", "o@example.org", good, "sha-1");
	question(reply(), "o@example.org", "c@example.org/1", id);
	contact_presence("d@example.org/1", "o@example.org", good, "sha-1");
	contact_presence("d@example.org/1", "p@example.org", good, "sha-1");
	no_reply();			/* the same ver: no second question */
	answer("d@example.org/1", "o@example.org", id, EXODUS TUNE_NOTIFY);
	assert_false(pep_caps_is_known(pep_caps_find("sha-1", good)));
	answer("c@example.org/1", "o@example.org", id, EXODUS TUNE_NOTIFY);
	k = pep_caps_find("sha-1", good);
	assert_true(pep_caps_is_known(k));
	assert_true(pep_caps_wants(k, "urn:tune"));
	assert_false(pep_caps_wants(k, "urn:other"));

	/* a ver the answer does not hash to */
	contact_presence("e@example.org/1", "o@example.org",
	    "bogusbogusbogusbogusbogus0=", "sha-1");
	question(reply(), "o@example.org", "e@example.org/1", id);
	contact_presence("f@example.org/1", "o@example.org",
	    "bogusbogusbogusbogusbogus0=", "sha-1");
	no_reply();
	answer("e@example.org/1", "o@example.org", id, EXODUS TUNE_NOTIFY);
	/* not trusted; the other resource with that ver is asked now */
	question(reply(), "o@example.org", "f@example.org/1", id);
	assert_false(pep_caps_is_known(pep_caps_find("sha-1",
	    "bogusbogusbogusbogusbogus0=")));
	pep_caps_stats(&n, &pend);
	assert_int_equal(n, 2);
	assert_int_equal(pend, 1);
	/* the resource asked goes away: the question ends, nobody is left */
	contact_presence("e@example.org/1", "o@example.org", NULL, "");
	contact_presence("f@example.org/1", "o@example.org", NULL, "");
	pep_caps_stats(&n, &pend);
	assert_int_equal(pend, 0);
	/* no hash attribute (legacy caps): never asked, never trusted */
	contact_presence("g@example.org/1", "o@example.org", "1.0", "");
	no_reply();
}

/* The wider ends of RF_PEP_PRESENCE (docs/frames.md): every resource of
 * a bare JID for one owner (imd), every contact at a domain for the
 * owners of a local domain (s2sd); an available one must name a
 * resource. */
static void
test_contacts_end(void **state)
{
	(void)state;
	contact_presence("r@remote.net/1", "o@example.org", "", "");
	contact_presence("r@remote.net/2", "o@example.org", "", "");
	contact_presence("s@remote.net/1", "o@example.org", "", "");
	contact_presence("s@remote.net/1", "p@example.org", "", "");
	contact_presence("l@example.org/1", "o@example.org", "", "");
	contact_presence("t@remote.net", "o@example.org", "", "");
	assert_false(pep_contact_subscribed("o@example.org", "t@remote.net"));
	assert_true(pep_contact_subscribed("o@example.org", "r@remote.net"));

	contact_presence("r@remote.net", "o@example.org", NULL, "");
	assert_false(pep_contact_subscribed("o@example.org", "r@remote.net"));
	assert_true(pep_contact_subscribed("o@example.org", "s@remote.net"));

	contact_presence("remote.net", "other.org", NULL, "");
	assert_true(pep_contact_subscribed("o@example.org", "s@remote.net"));
	contact_presence("remote.net", "example.org", NULL, "");
	assert_false(pep_contact_subscribed("o@example.org", "s@remote.net"));
	assert_false(pep_contact_subscribed("p@example.org", "s@remote.net"));
	assert_true(pep_contact_subscribed("o@example.org", "l@example.org"));
	/* a domain end addressed to an account is not one */
	contact_presence("s@remote.net/1", "o@example.org", "", "");
	contact_presence("remote.net", "o@example.org", NULL, "");
	assert_true(pep_contact_subscribed("o@example.org", "s@remote.net"));
}

/* pubsub.h: which iq to an account's bare JID c2sd and s2sd mark
 * RFF_PEP for pepd. */
static int
for_pep(const char *iq)
{
	struct xnode	*x = xml_parse_element(iq, strlen(iq), NULL);
	int		 rc;

	assert_non_null(x);
	rc = pubsub_iq_for_pep(x, stanza_node_stype(x));
	xnode_free(x);
	return rc;
}

static void
test_iq_for_pep(void **state)
{
	(void)state;
	assert_true(for_pep("<iq type='get' id='1'><pubsub xmlns="
	    "'http://jabber.org/protocol/pubsub'/></iq>"));
	assert_true(for_pep("<iq type='set' id='1'><pubsub xmlns="
	    "'http://jabber.org/protocol/pubsub#owner'/></iq>"));
	assert_true(for_pep("<iq type='get' id='1'><query xmlns="
	    "'http://jabber.org/protocol/disco#items'/></iq>"));
	assert_true(for_pep("<iq type='get' id='1'><query xmlns="
	    "'http://jabber.org/protocol/disco#items' node='n'/></iq>"));
	assert_true(for_pep("<iq type='get' id='1'><query xmlns="
	    "'http://jabber.org/protocol/disco#info' node='n'/></iq>"));
	assert_true(for_pep("<iq type='result' id='pepcaps.1.x'/>"));
	assert_true(for_pep("<iq type='error' id='pepcaps.1.x'/>"));
	/* the account's own disco#info, other payloads: imd's */
	assert_false(for_pep("<iq type='get' id='1'><query xmlns="
	    "'http://jabber.org/protocol/disco#info'/></iq>"));
	assert_false(for_pep("<iq type='get' id='1'><query xmlns="
	    "'jabber:iq:roster'/></iq>"));
	assert_false(for_pep("<iq type='get' id='1'><item xmlns="
	    "'http://jabber.org/protocol/disco#items'/></iq>"));
	assert_false(for_pep("<iq type='result' id='push1'/>"));
	assert_false(for_pep("<iq type='get' id='1'/>"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_items_order_trim_replace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_items_get_del_isolation,
		    setup, teardown),
		cmocka_unit_test(test_form_apply),
		cmocka_unit_test(test_form_roundtrip),
		cmocka_unit_test_setup_teardown(test_node_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_publish_precondition,
		    setup, teardown),
		cmocka_unit_test(test_caps_ver),
		cmocka_unit_test_setup_teardown(test_caps_verify, setup,
		    teardown),
		cmocka_unit_test(test_iq_for_pep),
		cmocka_unit_test_setup_teardown(test_contacts_end, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
