/*
 * test_imd_fast.c - the message fast path (RFF_PLAINMSG): which messages
 * c2sd marks plain (stanza_msg_plain), and that imd, handed the same frame
 * with and without the mark, sends exactly the same frames (deliveries,
 * carbons, errors) but for the random stanza-id values.
 *
 * The whole of imd runs (imd.c compiled with -DIMD_NO_MAIN) against a
 * fresh LMDB environment; its link to routerd is one end of a socketpair
 * and the test reads the frames imd wrote from the other end.
 */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon.h"
#include "imd.h"
#include "link.h"
#include "store.h"

extern const struct daemon_ops *imd_test_ops;

#define OUT_MAX		16
#define SID_ATTR	"<stanza-id xmlns='urn:xmpp:sid:0' id='"

static int	 peer_fd = -1;
static char	*out[OUT_MAX];
static int	 nout;

static void
on_frame(struct link *l, struct frame *f, void *arg)
{
}

static void
on_close(struct link *l, const char *why, void *arg)
{
}

static void
out_clear(void)
{
	while (nout > 0)
		free(out[--nout]);
}

/* One sent frame as text, with stanza-id values (random) blanked. */
static void
record(struct frame *f)
{
	const uint8_t	*body;
	size_t		 len;
	char		*s, *p;

	frame_get_rest(f, &body, &len);
	assert_true(nout < OUT_MAX);
	assert_true(asprintf(&s, "%s -> %s %u/%u %#x: %.*s", f->from, f->to,
	    f->hdr.kind, f->hdr.stype, f->hdr.flags, (int)len, body) > 0);
	for (p = s; (p = strstr(p, SID_ATTR)) != NULL; ) {
		p += strlen(SID_ATTR);
		assert_true(strlen(p) > 22);
		memset(p, 'X', 22);
	}
	out[nout++] = s;
}

/* Read what imd queued since the last call. */
static void
drain(void)
{
	static uint8_t	 buf[1 << 16];
	struct frame	 f;
	struct frame_hdr h;
	const char	*why;
	size_t		 have = 0, off = 0;
	ssize_t		 n;

	out_clear();
	link_flush_now(daemon_link);
	while ((n = recv(peer_fd, buf + have, sizeof(buf) - have,
	    MSG_DONTWAIT)) > 0)
		have += n;
	while (have - off >= FRAME_HDR_LEN) {
		frame_hdr_decode(buf + off, &h);
		assert_true(h.len <= have - off);
		assert_int_equal(frame_parse(buf + off, h.len, FRAME_MAX_DEFAULT,
		    &f, &why), 0);
		if (f.hdr.type == RF_STANZA)
			record(&f);
		off += h.len;
	}
	assert_int_equal(off, have);
}

/* Hand imd a frame as routerd would, from c2sd (origin 6). */
static void
dispatch(uint16_t type, uint16_t flags, uint64_t sess, uint8_t kind,
    uint8_t stype, const char *from, const char *to, const char *body)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	assert_non_null(o = fout_new(type, from, to));
	o->hdr.flags = flags;
	o->hdr.session = sess;
	o->hdr.kind = kind;
	o->hdr.stype = stype;
	fout_put_raw(o, body, strlen(body));
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	f.hdr.origin = 6;
	imd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

static void
session(const char *full, uint64_t sess)
{
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	assert_non_null(o = fout_new(RF_SESSION_PRESENCE, full, NULL));
	o->hdr.session = sess;
	fout_put_u8(o, 0);
	fout_put_u8(o, 1);
	fout_finish(o);
	assert_int_equal(frame_parse(o->buf, o->len, FRAME_MAX_DEFAULT, &f,
	    &why), 0);
	imd_test_ops->dispatch(daemon_link, &f);
	fout_free(o);
}

static void
iq(const char *from, const char *to, const char *body)
{
	dispatch(RF_STANZA, 0, 1, RK_IQ, RS_SET, from, to, body);
	drain();
}

/*
 * The same message with and without RFF_PLAINMSG: the frames imd sends
 * must be the same.  Returns how many it sent; the flagged run's frames
 * stay in out[].
 */
static int
same_both_ways(uint8_t stype, const char *from, const char *to,
    const char *body)
{
	char	*slow[OUT_MAX];
	int	 i, n;

	dispatch(RF_STANZA, 0, 1, RK_MESSAGE, stype, from, to, body);
	drain();
	n = nout;
	for (i = 0; i < n; i++)
		slow[i] = strdup(out[i]);
	dispatch(RF_STANZA, RFF_PLAINMSG, 1, RK_MESSAGE, stype, from, to, body);
	drain();
	assert_int_equal(nout, n);
	for (i = 0; i < n; i++) {
		assert_string_equal(out[i], slow[i]);
		free(slow[i]);
	}
	return n;
}

static int
plain(const char *xml)
{
	struct xnode	*x = xml_parse_element(xml, strlen(xml), NULL);
	int		 rc;

	assert_non_null(x);
	rc = stanza_msg_plain(x);
	xnode_free(x);
	return rc;
}

static void
test_classify(void **st)
{
	assert_true(plain("<message xmlns='jabber:client' type='chat'>"
	    "<body>x</body><active xmlns='http://jabber.org/protocol/chatstates'/>"
	    "<origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>"));
	assert_true(plain("<message xmlns='jabber:client'><body>x</body>"
	    "</message>"));
	assert_true(plain("<message xmlns='jabber:client' type='normal'>"
	    "<body>x</body></message>"));
	/* Types other than chat and normal, even those read as normal. */
	assert_false(plain("<message xmlns='jabber:client' type='headline'>"
	    "<body>x</body></message>"));
	assert_false(plain("<message xmlns='jabber:client' type='bogus'>"
	    "<body>x</body></message>"));
	/* No body, or a body in another namespace. */
	assert_false(plain("<message xmlns='jabber:client' type='chat'>"
	    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"));
	assert_false(plain("<message xmlns='jabber:client'><body "
	    "xmlns='urn:x'>x</body></message>"));
	/* Hints, carbons, forged stanza-ids, elements with no namespace. */
	assert_false(plain("<message xmlns='jabber:client'><body>x</body>"
	    "<store xmlns='urn:xmpp:hints'/></message>"));
	assert_false(plain("<message xmlns='jabber:client'><body>x</body>"
	    "<private xmlns='urn:xmpp:carbons:2'/></message>"));
	assert_false(plain("<message xmlns='jabber:client'><body>x</body>"
	    "<stanza-id xmlns='urn:xmpp:sid:0' by='a@b' id='f'/></message>"));
	assert_false(plain("<message xmlns='jabber:client'><body>x</body>"
	    "<x xmlns='urn:x'><y xmlns=''/></x></message>"));
	assert_false(plain("<message><body>x</body></message>"));
	assert_false(plain("<iq xmlns='jabber:client' type='get' id='1'>"
	    "<body>x</body></iq>"));
}

static int
setup(void **st)
{
	static char	 dir[] = "/tmp/test_imd_fast.XXXXXX";
	const char	*host[] = { "cap.lit" };
	int		 sv[2];

	if (mkdtemp(dir) == NULL ||
	    (imd_store = store_open(dir, 1 << 24, 32)) == NULL ||
	    imd_test_ops->configure("host", 1, host) == -1 ||
	    (daemon_base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    (daemon_link = link_new(daemon_base, sv[0], "test", on_frame,
	    on_close, NULL)) == NULL)
		return -1;
	peer_fd = sv[1];
	*st = dir;
	return 0;
}

static int
teardown(void **st)
{
	char	 cmd[64];

	out_clear();
	link_free(daemon_link);
	close(peer_fd);
	store_close(imd_store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", (char *)*st);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_same_frames(void **st)
{
	session("juliet@cap.lit/r0", 1);
	session("juliet@cap.lit/r1", 2);
	session("romeo@cap.lit/r0", 3);
	session("romeo@cap.lit/r1", 4);
	drain();
	/* Without carbons: the delivery alone, with her stanza-id. */
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "romeo@cap.lit/r0", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit/r0' id='a1'><body>hi &amp; &lt;bye&gt;</body>"
	    "</message>"), 1);
	assert_string_equal(out[0], "juliet@cap.lit/r0 -> romeo@cap.lit/r0 "
	    "1/2 0: <message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit/r0' id='a1'><body>hi &amp; &lt;bye&gt;</body>"
	    SID_ATTR "XXXXXXXXXXXXXXXXXXXXXX' by='romeo@cap.lit'/></message>");
	iq("juliet@cap.lit/r1", "juliet@cap.lit", "<iq type='set' id='c'>"
	    "<enable xmlns='urn:xmpp:carbons:2'/></iq>");
	iq("romeo@cap.lit/r1", "romeo@cap.lit", "<iq type='set' id='c'>"
	    "<enable xmlns='urn:xmpp:carbons:2'/></iq>");
	/* Sent carbon, delivery, received carbon. */
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "romeo@cap.lit/r0", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit/r0' id='a2' xml:lang='en'><body>x</body><active "
	    "xmlns='http://jabber.org/protocol/chatstates'/></message>"), 3);
	assert_int_equal(same_both_ways(RS_NORMAL, "juliet@cap.lit/r0",
	    "romeo@cap.lit/r0", "<message from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit/r0'><body>n</body></message>"), 3);
	/* To another resource of her own account. */
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "juliet@cap.lit/r1", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='juliet@cap.lit/r1'><body>me</body></message>"), 2);
	/* A bare JID: each resource of top priority gets a copy naming it
	 * (RFC 6121 8.5.2.1.1); no received carbon, since r1, the one with
	 * carbons on, got the message itself (XEP-0280 6). */
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "romeo@cap.lit", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit' id='b1'><body>b</body></message>"), 3);
	assert_non_null(strstr(out[0], "<sent xmlns='urn:xmpp:carbons:2'>"));
	assert_non_null(strstr(out[1], " to='romeo@cap.lit/r1' id='b1'>"));
	assert_non_null(strstr(out[2], " to='romeo@cap.lit/r0' id='b1'>"));
	/* Offline (no session of tybalt's): stored by the parsing path. */
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "tybalt@cap.lit", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='tybalt@cap.lit'><body>later</body></message>"), 1);
	/* Blocked, either way: the error comes from the slow path. */
	iq("juliet@cap.lit/r0", "juliet@cap.lit", "<iq type='set' id='b'>"
	    "<block xmlns='urn:xmpp:blocking'><item jid='romeo@cap.lit'/>"
	    "</block></iq>");
	assert_int_equal(same_both_ways(RS_CHAT, "juliet@cap.lit/r0",
	    "romeo@cap.lit/r0", "<message type='chat' from='juliet@cap.lit/r0' "
	    "to='romeo@cap.lit/r0'><body>no</body></message>"), 1);
	assert_non_null(strstr(out[0], "<blocked "));
	assert_int_equal(same_both_ways(RS_CHAT, "romeo@cap.lit/r0",
	    "juliet@cap.lit/r0", "<message type='chat' from='romeo@cap.lit/r0' "
	    "to='juliet@cap.lit/r0'><body>no</body></message>"), 2);
	assert_non_null(strstr(out[1], "service-unavailable"));
}

/* The mark is honoured: the bytes go out as they came (the parsing path
 * would have written one space). */
static void
test_bytes_kept(void **st)
{
	session("nurse@cap.lit/a", 5);
	session("tybalt@cap.lit/b", 6);
	drain();
	dispatch(RF_STANZA, RFF_PLAINMSG, 5, RK_MESSAGE, RS_CHAT,
	    "nurse@cap.lit/a", "tybalt@cap.lit/b", "<message  type='chat' "
	    "from='nurse@cap.lit/a' to='tybalt@cap.lit/b'><body>k</body>"
	    "</message>");
	drain();
	assert_int_equal(nout, 1);
	assert_non_null(strstr(out[0], ": <message  type='chat'"));
	dispatch(RF_STANZA, 0, 5, RK_MESSAGE, RS_CHAT,
	    "nurse@cap.lit/a", "tybalt@cap.lit/b", "<message  type='chat' "
	    "from='nurse@cap.lit/a' to='tybalt@cap.lit/b'><body>k</body>"
	    "</message>");
	drain();
	assert_int_equal(nout, 1);
	assert_non_null(strstr(out[0], ": <message type='chat'"));
	/* To the bare JID: the `to` value is replaced, the rest kept. */
	dispatch(RF_STANZA, RFF_PLAINMSG, 5, RK_MESSAGE, RS_CHAT,
	    "nurse@cap.lit/a", "tybalt@cap.lit", "<message  type='chat' "
	    "from='nurse@cap.lit/a' to='tybalt@cap.lit'><body>k</body>"
	    "</message>");
	drain();
	assert_int_equal(nout, 1);
	assert_non_null(strstr(out[0], "nurse@cap.lit/a -> tybalt@cap.lit/b "
	    "1/2 0: <message  type='chat' from='nurse@cap.lit/a' "
	    "to='tybalt@cap.lit/b'><body>k</body><stanza-id "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_same_frames),
		cmocka_unit_test(test_bytes_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
