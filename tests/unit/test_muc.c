/*
 * test_muc.c - mucd (XEP-0045) driven through its real dispatcher: frames
 * go in through mucd's ops, the stanzas it sends come out of a real link
 * on a socketpair and are parsed back.  Covers room creation (201, lock,
 * instant configuration), joining with the right status codes and the
 * subject, nick conflict, groupchat fan-out built once per room with the
 * `to` patched per recipient (escaping included), occupant-id stability,
 * the configuration form (all-or-nothing), the persistent room record
 * round trip, history limits, kicks, and removal on RF_BOUNCE; reserved
 * nicks in the record, the roomowners/roomadmins lists, archive
 * retention pruning and status 332 when mucd stops.
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
#include "store.h"

/* mucd.c itself, main() compiled out: its ops are what we drive. */
#define MUCD_NO_MAIN
#include "mucd/mucd.c"

static int		 peer = -1;
static struct event_base *base;
static char		 tmpdir[64];
static uint8_t		 rbuf[FRAME_MAX_DEFAULT];

#define ROOM	"room@conference.example.org"

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
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_muc.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	memset(&muc_conf, 0, sizeof(muc_conf));
	strcpy(muc_conf.store_dir, tmpdir);
	strcpy(muc_conf.hosts[0], "example.org");
	muc_conf.nhosts = 1;
	muc_store = store_open(tmpdir, 1 << 24, 8);
	assert_non_null(muc_store);
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	mucd_test_ops->shutdown();
	link_free(daemon_link);
	daemon_link = NULL;
	close(peer);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Feed one stanza to mucd as routerd would. */
static void
feed(const char *from, const char *to, const char *xml)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	o = fout_stanza(RK_NONE, RS_NONE, from, to, xml, strlen(xml));
	assert_non_null(o);
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	mucd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

#define MAXOUT	256
static char	*out_to[MAXOUT];
static struct xnode *out_x[MAXOUT];
static int	 nout;

static void
clear_out(void)
{
	int	i;

	for (i = 0; i < nout; i++) {
		free(out_to[i]);
		xnode_free(out_x[i]);
	}
	nout = 0;
}

/* Everything mucd sent since the last call, parsed. */
static int
collect(void)
{
	struct frame	f;
	const uint8_t	*b;
	size_t		 len;

	clear_out();
	link_flush_now(daemon_link);
	while (nout < MAXOUT &&
	    link_read_blocking(peer, rbuf, sizeof(rbuf), &f, 50) == 0) {
		assert_int_equal(f.hdr.type, RF_STANZA);
		frame_get_rest(&f, &b, &len);
		out_x[nout] = xml_parse_element((const char *)b, len, NULL);
		assert_non_null(out_x[nout]);
		/* The frame header and the body agree on the addressee. */
		assert_string_equal(xnode_attr(out_x[nout], "to"), f.to);
		out_to[nout++] = strdup(f.to);
	}
	return nout;
}

static int
has_status(const struct xnode *p, const char *code)
{
	struct xnode	*x = xnode_child(p, "x", NS_MUC_USER), *s;

	for (s = x != NULL ? xnode_first_elem(x) : NULL; s != NULL;
	    s = xnode_next_elem(s))
		if (strcmp(s->name, "status") == 0 &&
		    strcmp(xnode_attr(s, "code"), code) == 0)
			return 1;
	return 0;
}

/* The first output to `to` named `name`, or NULL. */
static struct xnode *
out_for(const char *to, const char *name)
{
	int	i;

	for (i = 0; i < nout; i++)
		if (strcmp(out_to[i], to) == 0 &&
		    strcmp(out_x[i]->name, name) == 0)
			return out_x[i];
	return NULL;
}

static const char *
error_cond(const struct xnode *x)
{
	struct xnode	*e = xnode_child(x, "error", NULL);

	return e != NULL && xnode_first_elem(e) ? xnode_first_elem(e)->name :
	    NULL;
}

static void
create_room(void)
{
	struct xnode	*p;

	feed("alice@example.org/a", ROOM "/Alice",
	    "<presence><x xmlns='" NS_MUC "'/></presence>");
	collect();
	p = out_for("alice@example.org/a", "presence");
	assert_non_null(p);
	assert_true(has_status(p, "201"));
	assert_true(has_status(p, "110"));
	assert_true(muc_room_find(ROOM)->locked);
	/* Locked: others cannot enter (10.1.1). */
	feed("bob@example.org/b", ROOM "/Bob",
	    "<presence><x xmlns='" NS_MUC "'/></presence>");
	collect();
	assert_string_equal(error_cond(out_for("bob@example.org/b",
	    "presence")), "item-not-found");
	feed("alice@example.org/a", ROOM, "<iq type='set' id='c1'><query "
	    "xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' "
	    "type='submit'/></query></iq>");
	collect();
	assert_string_equal(xnode_attr(out_for("alice@example.org/a", "iq"),
	    "type"), "result");
	assert_false(muc_room_find(ROOM)->locked);
}

static void
test_create_join(void **state)
{
	struct xnode	*p, *it;

	create_room();
	feed("bob@example.org/b", ROOM "/Bob",
	    "<presence><x xmlns='" NS_MUC "'/></presence>");
	collect();
	/* Bob: Alice's presence, his own (110, no 201), then the subject. */
	assert_string_equal(xnode_attr(out_x[0], "from"), ROOM "/Alice");
	p = out_for("bob@example.org/b", "presence");
	p = out_x[1];
	assert_string_equal(xnode_attr(p, "to"), "alice@example.org/a");
	assert_false(has_status(p, "110"));
	/* Semi-anonymous: Alice (a moderator) sees Bob's real JID. */
	it = xnode_child(xnode_child(p, "x", NS_MUC_USER), "item", NULL);
	assert_string_equal(xnode_attr(it, "jid"), "bob@example.org/b");
	assert_string_equal(xnode_attr(it, "role"), "participant");
	p = out_x[2];
	assert_string_equal(xnode_attr(p, "to"), "bob@example.org/b");
	assert_true(has_status(p, "110"));
	assert_false(has_status(p, "201"));
	assert_string_equal(out_x[nout - 1]->name, "message");
	assert_non_null(xnode_child(out_x[nout - 1], "subject", NULL));
	/* Nick taken by another user: conflict (7.2.9). */
	feed("carol@example.org/c", ROOM "/Bob", "<presence/>");
	collect();
	assert_int_equal(nout, 1);
	assert_string_equal(error_cond(out_x[0]), "conflict");
}

static void
test_fanout_once(void **state)
{
	struct muc_room	*r;
	struct xnode	*m;
	const char	*id1, *id2;
	int		 i;

	create_room();
	feed("bob@example.org/a&b'c", ROOM "/Bob", "<presence/>");
	feed("bob@example.org/two", ROOM "/Bob", "<presence/>");
	collect();
	r = muc_room_find(ROOM);
	assert_int_equal(r->noccupants, 2);
	feed("alice@example.org/a", ROOM,
	    "<message type='groupchat' id='m1'><body>hi</body>"
	    "<stanza-id xmlns='" NS_SID "' id='forged' by='" ROOM "'/>"
	    "</message>");
	assert_int_equal(collect(), 3);
	for (i = 0; i < 3; i++) {
		m = out_x[i];
		assert_string_equal(xnode_attr(m, "from"), ROOM "/Alice");
		assert_string_equal(xnode_child(m, "stanza-id", NS_SID) ?
		    xnode_attr(xnode_child(m, "stanza-id", NS_SID), "by") : "",
		    ROOM);
		assert_string_not_equal(xnode_attr(xnode_child(m, "stanza-id",
		    NS_SID), "id"), "forged");
	}
	assert_non_null(out_for("bob@example.org/a&b'c", "message"));
	/* One occupant-id per real bare JID: Bob's two sessions match. */
	feed("bob@example.org/two", ROOM,
	    "<message type='groupchat'><body>x</body></message>");
	collect();
	id1 = xnode_attr(xnode_child(out_x[0], "occupant-id", NS_OCCID), "id");
	id2 = xnode_attr(xnode_child(out_x[1], "occupant-id", NS_OCCID), "id");
	assert_string_equal(id1, id2);
	assert_string_not_equal(id1, r->occupants->occid);
	assert_int_equal(r->hist_count, 2);
}

/*
 * A fan-out larger than the link's hard limit (4 x its high mark): the
 * frames past the high mark wait in mucd's spill instead of being refused,
 * and every occupant gets the message, in order.  (Before the spill, all
 * but the first few were refused and logged.)
 */
static void
test_fanout_spill(void **state)
{
	char	 from[64], xml[1200], body[1001];
	int	 i, n, got, last;

	create_room();
	for (i = 0; i < 40; i++) {
		snprintf(from, sizeof(from), "user%d@example.org/r", i);
		snprintf(xml, sizeof(xml), ROOM "/U%d", i);
		feed(from, xml, "<presence/>");
		collect();
	}
	assert_int_equal(muc_room_find(ROOM)->noccupants, 41);
	link_set_watermarks(daemon_link, 512, 2048);	/* hard limit 8 KiB */
	memset(body, 'x', 1000);
	body[1000] = '\0';
	snprintf(xml, sizeof(xml), "<message type='groupchat'><body>%s"
	    "</body></message>", body);
	feed("alice@example.org/a", ROOM, xml);		/* 41 x ~1.2 KB */
	/* many small writes fill the socketpair before the test reads it:
	 * collect in rounds until nothing more comes */
	for (n = 0, last = 0; (got = collect()) > 0; n += got) {
		for (i = 0; i < got; i++) {
			char *t = xnode_text(xnode_child(out_x[i], "body",
			    NULL));

			assert_string_equal(out_x[i]->name, "message");
			assert_non_null(t);
			assert_string_equal(t, body);
			free(t);
		}
		last |= out_for("user39@example.org/r", "message") != NULL;
	}
	assert_int_equal(n, 41);
	assert_true(last);
}

static void
assert_body(const struct xnode *m, const char *want)
{
	char	*t = xnode_text(xnode_child(m, "body", NULL));

	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
}

static void
test_history_limits(void **state)
{
	char	buf[128];
	int	i;

	create_room();
	for (i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "<message type='groupchat'>"
		    "<body>m%d</body></message>", i);
		feed("alice@example.org/a", ROOM, buf);
	}
	collect();
	feed("bob@example.org/b", ROOM "/Bob", "<presence><x xmlns='" NS_MUC
	    "'><history maxstanzas='2'/></x></presence>");
	collect();
	/* Alice to Bob, Bob to Alice, Bob's own, history m3 m4, subject. */
	assert_int_equal(nout, 6);
	assert_body(out_x[3], "m3");
	assert_body(out_x[4], "m4");
	assert_non_null(xnode_child(out_x[3], "delay", NS_DELAY));
	feed("carol@example.org/c", ROOM "/Carol", "<presence><x xmlns='"
	    NS_MUC "'><history maxchars='0'/></x></presence>");
	collect();
	/* Alice, Bob, self, subject: no history at all. */
	assert_int_equal(nout, 2 + 1 + 1 + 2);
}

static struct xnode *
parse(const char *s, size_t unused, void *lim)
{
	return xml_parse_element(s, strlen(s), lim);
}

static void
test_config_form(void **state)
{
	struct muc_room		*r;
	struct muc_config	 c;
	struct xnode		*x;

	create_room();
	r = muc_room_find(ROOM);
	x = parse("<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='muc#roomconfig_roomname'><value>N</value></field>"
	    "<field var='muc#roomconfig_maxusers'><value>lots</value></field>"
	    "</x>", SIZE_MAX, NULL);
	assert_non_null(x);
	assert_int_equal(muc_config_apply(r, x, &c), -1);
	xnode_free(x);
	x = parse("<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='muc#roomconfig_passwordprotectedroom'><value>1</value>"
	    "</field></x>", SIZE_MAX, NULL);
	assert_non_null(x);
	assert_int_equal(muc_config_apply(r, x, &c), -1);	/* no secret */
	xnode_free(x);
	assert_string_equal(r->cfg.name, "");
}

static void
test_record_roundtrip(void **state)
{
	struct muc_room	*r, *r2;
	struct xbuf	 b;

	create_room();
	r = muc_room_find(ROOM);
	strcpy(r->cfg.name, "Name <&>");
	r->cfg.persistent = r->cfg.membersonly = 1;
	r->cfg.historylength = 7;
	r->subject = strdup("S");
	assert_int_equal(muc_aff_set(r, "bob@example.org", AFF_OUTCAST, "x"), 0);
	xbuf_init(&b);
	assert_int_equal(muc_room_encode(r, &b), 0);
	r2 = calloc(1, sizeof(*r2));
	assert_int_equal(muc_room_decode(r2, b.data, b.len), 0);
	assert_string_equal(r2->cfg.name, "Name <&>");
	assert_true(r2->cfg.persistent && r2->cfg.membersonly);
	assert_int_equal(r2->cfg.historylength, 7);
	assert_string_equal(r2->subject, "S");
	assert_int_equal(muc_aff_get(r2, "bob@example.org"), AFF_OUTCAST);
	assert_int_equal(muc_aff_get(r2, "alice@example.org"), AFF_OWNER);
	assert_memory_equal(r2->secret, r->secret, sizeof(r->secret));
	r2->jid = strdup("x");
	muc_room_free(r2);
	xbuf_free(&b);
	/* Garbage is refused, not fatal. */
	r2 = calloc(1, sizeof(*r2));
	assert_int_equal(muc_room_decode(r2, "<room", 5), -1);
	r2->jid = strdup("x");
	muc_room_free(r2);
}

static void
test_kick_and_bounce(void **state)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why, *body = "<presence/>";
	struct xnode	*p;

	create_room();
	feed("bob@example.org/b", ROOM "/Bob", "<presence/>");
	feed("carol@example.org/c", ROOM "/Carol", "<presence/>");
	collect();
	/* Bob, no moderator, may not kick anyone (8.2). */
	feed("bob@example.org/b", ROOM, "<iq type='set' id='k'><query xmlns='"
	    NS_MUC_ADMIN "'><item nick='Alice' role='none'/></query></iq>");
	collect();
	assert_string_equal(error_cond(out_x[0]), "forbidden");
	feed("alice@example.org/a", ROOM, "<iq type='set' id='k'><query xmlns='"
	    NS_MUC_ADMIN "'><item nick='Bob' role='none'/></query></iq>");
	collect();
	p = out_for("bob@example.org/b", "presence");
	assert_true(has_status(p, "307") && has_status(p, "110"));
	assert_null(muc_occ_by_nick(muc_room_find(ROOM), "Bob"));
	/* A bounced stanza to Carol removes her (333 to the others). */
	o = fout_new(RF_BOUNCE, ROOM "/Alice", "carol@example.org/c");
	o->hdr.kind = RK_PRESENCE;
	fout_put_u8(o, RB_SERVICE_UNAVAILABLE);
	fout_put_raw(o, body, strlen(body));
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	mucd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
	collect();
	assert_null(muc_occ_by_nick(muc_room_find(ROOM), "Carol"));
	assert_true(has_status(out_for("alice@example.org/a", "presence"),
	    "333"));
	/* The last occupant leaves a temporary room: it is gone. */
	feed("alice@example.org/a", ROOM "/Alice",
	    "<presence type='unavailable'/>");
	collect();
	assert_null(muc_room_find(ROOM));
}

static struct xnode *
form(const char *fields)
{
	char	buf[2048];

	snprintf(buf, sizeof(buf), "<x xmlns='jabber:x:data' type='submit'>"
	    "%s</x>", fields);
	return xml_parse_element(buf, strlen(buf), NULL);
}

#define OWNERS	"<field var='muc#roomconfig_roomowners'>"
#define ADMINS	"<field var='muc#roomconfig_roomadmins'>"

static void
test_nicks_and_lists(void **state)
{
	struct muc_jidlist	*l = calloc(2, sizeof(*l));
	struct muc_room		*r, *r2;
	struct xnode		*x;
	struct xbuf		 b;
	size_t			 i;
	static const struct { const char *f; int ok, no, na; } cases[] = {
		{ "", 0, -1, -1 },
		{ OWNERS "<value>a@example.org/res</value><value>b@example.org"
		    "</value></field>" ADMINS "</field>", 0, 2, 0 },
		{ OWNERS "</field>", -1, 0, 0 },		/* no owner */
		{ OWNERS "<value>@bad</value></field>", -1, 0, 0 },
		{ OWNERS "<value>a@example.org</value></field>" ADMINS
		    "<value>a@example.org</value></field>", -1, 0, 0 },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = form(cases[i].f);
		assert_non_null(x);
		assert_int_equal(muc_config_lists(x, &l[0], &l[1]), cases[i].ok);
		if (cases[i].ok == 0) {
			assert_int_equal(l[0].n, cases[i].no);
			assert_int_equal(l[1].n, cases[i].na);
		}
		xnode_free(x);
	}
	assert_string_equal(l[0].jid[0], "a@example.org");	/* bare */
	free(l);
	/* A reserved nick survives the record; a ban ends it. */
	create_room();
	r = muc_room_find(ROOM);
	assert_int_equal(muc_aff_set(r, "bob@example.org", AFF_MEMBER, NULL), 0);
	assert_int_equal(muc_nick_reserve(r, "bob@example.org", "Bobby"), 0);
	assert_int_equal(muc_nick_reserve(r, "nobody@example.org", "X"), -1);
	xbuf_init(&b);
	assert_int_equal(muc_room_encode(r, &b), 0);
	r2 = calloc(1, sizeof(*r2));
	assert_int_equal(muc_room_decode(r2, b.data, b.len), 0);
	assert_string_equal(muc_nick_reserved(r2, "bob@example.org"), "Bobby");
	assert_string_equal(muc_nick_owner(r2, "Bobby"), "bob@example.org");
	assert_int_equal(muc_aff_set(r2, "bob@example.org", AFF_OUTCAST, NULL),
	    0);
	assert_null(muc_nick_owner(r2, "Bobby"));
	r2->jid = strdup("x");
	muc_room_free(r2);
	xbuf_free(&b);
	/* Joining under another nick gives the reserved one, with 210. */
	feed("bob@example.org/b", ROOM "/Other", "<presence/>");
	collect();
	assert_string_equal(xnode_attr(out_for("bob@example.org/b",
	    "presence"), "from"), ROOM "/Alice");
	assert_non_null(muc_occ_by_nick(r, "Bobby"));
	for (i = 0; i < (size_t)nout; i++)
		if (strcmp(out_to[i], "bob@example.org/b") == 0 &&
		    has_status(out_x[i], "110"))
			assert_true(has_status(out_x[i], "210"));
}

static int
count_rec(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
archived(void)
{
	struct store_txn	*t = store_begin(muc_store, 0);
	int			 n = 0;

	assert_non_null(t);
	(void)store_scan(t, "archive", ROOM, strlen(ROOM) + 1, count_rec, &n);
	store_abort(t);
	return n;
}

static void
test_retention_prune(void **state)
{
	struct muc_room	*r;
	struct xnode	*m;
	uint64_t	 t;
	const char	*msg = "<message type='groupchat'><body>b</body>"
	    "</message>";

	create_room();
	r = muc_room_find(ROOM);
	for (t = 1000; t <= 3000; t += 1000) {
		m = xml_parse_element(msg, strlen(msg), NULL);
		assert_non_null(m);
		assert_int_equal(muc_archive_add(r, m, t), t);
		muc_hist_add(r, m, t);
	}
	assert_int_equal(archived(), 3);
	muc_archive_prune(2500);
	assert_int_equal(archived(), 1);
	assert_int_equal(r->hist_count, 1);
	assert_int_equal(r->hist[r->hist_first].usec, 3000);
	muc_archive_prune(2500);	/* nothing left to do */
	assert_int_equal(archived(), 1);
}

static void
test_shutdown_332(void **state)
{
	struct xnode	*p;

	create_room();
	feed("bob@example.org/b", ROOM "/Bob", "<presence/>");
	feed("bob@example.org/b2", ROOM "/Bob", "<presence/>");
	collect();
	muc_shutdown_rooms();
	collect();
	/* Each session once, its own presence only: no n-squared burst. */
	assert_int_equal(nout, 3);
	p = out_for("bob@example.org/b2", "presence");
	assert_non_null(p);
	assert_string_equal(xnode_attr(p, "type"), "unavailable");
	assert_true(has_status(p, "332") && has_status(p, "110"));
	assert_true(has_status(out_for("alice@example.org/a", "presence"),
	    "332"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_spill, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kick_and_bounce, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nicks_and_lists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention_prune, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_332, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
