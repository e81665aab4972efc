/*
 * test_c2sd.c - unit tests (cmocka) for the parts of c2sd that need no
 * client connection: configuration keys, stanza classification, error
 * stanzas, frame bodies in the jabber:client default namespace, the
 * handler table, the per-address registration limit, and the frames c2sd
 * sends to routerd (read back from a real link over a socketpair): error
 * replies and RFF_UNDELIVERED returns for stanzas it cannot deliver,
 * broadcast presence, iqs for the account routed to imd, stream features,
 * and a session handed back by routerd after a restart (RF_SM_RESTORE,
 * the resumption that follows, RF_SM_STATE).
 *
 * Built with -DC2SD_NO_MAIN and every other c2sd source; the end-to-end
 * behaviour is tested against a running suite (docs/c2sd.md, "Testing").
 */
#include <sys/types.h>
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
#include "link.h"
#include "c2sd.h"

static void
test_configure(void **state)
{
	const char	*v[2];
	char		 key[] = "-----BEGIN PRIVATE KEY-----";

	v[0] = "1234";
	assert_int_equal(c2sd_configure("max-stanza-size", 1, v), 0);
	assert_int_equal(c2sd_conf.max_stanza_size, 1234);
	v[0] = "12x";
	assert_int_equal(c2sd_configure("rate-limit", 1, v), -1);
	v[0] = "0";
	assert_int_equal(c2sd_configure("require-tls", 1, v), 0);
	assert_int_equal(c2sd_conf.require_tls, 0);
	v[0] = "2";
	assert_int_equal(c2sd_configure("require-tls", 1, v), -1);
	v[0] = "refuse";
	assert_int_equal(c2sd_configure("resource-conflict", 1, v), 0);
	assert_int_equal(c2sd_conf.resource_policy, RBIND_POLICY_REFUSE);
	v[0] = "sometimes";
	assert_int_equal(c2sd_configure("resource-conflict", 1, v), -1);
	v[0] = "1";
	assert_int_equal(c2sd_configure("no-such-key", 1, v), -1);
	v[0] = "Example.ORG";
	assert_int_equal(c2sd_configure("host", 1, v), 0);
	assert_non_null(host_find("example.org"));
	assert_false(host_find("example.org")->registration);
	v[0] = "reg.example";
	v[1] = "registration";
	assert_int_equal(c2sd_configure("host", 2, v), 0);
	assert_true(host_find("reg.example")->registration);
	v[1] = "sometimes";
	assert_int_equal(c2sd_configure("host", 2, v), -1);
	/* the key text handed to us is wiped once copied */
	v[0] = "example.org";
	v[1] = key;
	assert_int_equal(c2sd_configure("tls-key", 2, v), 0);
	assert_int_equal(key[0], 0);
	assert_int_equal(key[5], 0);
}

static void
test_stype(void **state)
{
	assert_int_equal(stanza_kind("message"), RK_MESSAGE);
	assert_int_equal(stanza_kind("starttls"), RK_NONE);
	assert_int_equal(stanza_stype(RK_MESSAGE, NULL), RS_NORMAL);
	assert_int_equal(stanza_stype(RK_MESSAGE, "bogus"), RS_NORMAL);
	assert_int_equal(stanza_stype(RK_PRESENCE, NULL), RS_AVAILABLE);
	assert_int_equal(stanza_stype(RK_PRESENCE, "bogus"), RS_NONE);
	assert_int_equal(stanza_stype(RK_IQ, NULL), RS_NONE);
	assert_int_equal(stanza_stype(RK_IQ, "set"), RS_SET);
	assert_int_equal(stanza_stype(RK_IQ, "error"), RS_ERROR);
	assert_int_equal(stanza_stype(RK_PRESENCE, "get"), RS_NONE);
}

static char *
serialize(struct xnode *n)
{
	struct xbuf	 b;
	char		*s;

	xbuf_init(&b);
	xml_serialize(&b, n, XMLNS_CLIENT);
	xbuf_add(&b, "", 1);
	assert_false(b.failed);
	s = strdup(b.data);
	xbuf_free(&b);
	return s;
}

static void
test_parse_body(void **state)
{
	const char	 body[] = "<message to='b@x/r' from='a@x/r' id='1'>"
	    "<body>hi &amp; bye</body><x xmlns='urn:y'/></message>";
	struct xnode	*n;
	char		*s;

	n = stanza_parse(body, sizeof(body) - 1);
	assert_non_null(n);
	assert_string_equal(n->ns, XMLNS_CLIENT);
	assert_string_equal(xnode_child(n, "body", XMLNS_CLIENT)->ns,
	    XMLNS_CLIENT);
	s = serialize(n);
	assert_string_equal(s, body);	/* round trip, no xmlns on the root */
	free(s);
	xnode_free(n);
	assert_null(stanza_parse("<a/><b/>", 8));
	assert_null(stanza_parse("<a></w><w>", 10));
	assert_null(stanza_parse("<a>", 3));
}

static void
test_make_error(void **state)
{
	const char	 iq[] = "<iq type='get' id='7' from='a@x/r' to='x'>"
	    "<q xmlns='urn:q'/></iq>";
	struct xnode	*n;
	char		*s;

	n = stanza_parse(iq, sizeof(iq) - 1);
	assert_non_null(n);
	stanza_make_error(n, "cancel", "service-unavailable", NULL);
	s = serialize(n);
	assert_string_equal(s, "<iq type='error' id='7' from='x' to='a@x/r'>"
	    "<q xmlns='urn:q'/><error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
	free(s);
	xnode_free(n);
}

static void
test_handlers(void **state)
{
	const struct iq_handler *h;
	size_t			 i;
	int			 found = 0;

	h = handler_find("http://jabber.org/protocol/disco#info", "query",
	    H_SERVER);
	assert_non_null(h);
	assert_ptr_equal(h->fn, iq_disco_info);
	/* the account's iqs are imd's (docs/imd.md) */
	assert_null(handler_find("jabber:iq:roster", "query", H_SERVER |
	    H_NOTO));
	assert_null(handler_find("vcard-temp", "vCard", H_SERVER | H_NOTO));
	assert_null(handler_find("http://jabber.org/protocol/disco#info",
	    "query", H_NOTO));
	/* no 'to': only the stream's and the server's own */
	assert_non_null(handler_find("urn:xmpp:ping", "ping", H_NOTO));
	assert_non_null(handler_find(NS_SESSION, "session", H_NOTO));
	h = handler_find(NS_REGISTER, "query", H_NOTO);
	assert_non_null(h);
	assert_ptr_equal(h->fn, iq_register);
	assert_null(handler_find("urn:xmpp:ping", "pong", H_SERVER));
	assert_null(handler_find("jabber:iq:last", "query", H_NOTO));
	assert_non_null(handler_find("jabber:iq:last", "query", H_SERVER));
	/* every advertised feature has a handler, every handler a place */
	for (h = c2sd_iq_handlers; h->ns; h++) {
		assert_non_null(h->fn);
		assert_true(h->where != 0);
	}
	/* what imd implements is advertised by the server */
	for (i = 0; c2sd_remote_features[i]; i++)
		if (strcmp(c2sd_remote_features[i], "urn:xmpp:mam:2") == 0 ||
		    strcmp(c2sd_remote_features[i], "msgoffline") == 0)
			found++;
	assert_int_equal(found, 2);
}

/* The link to "routerd" is one end of a socketpair; the test reads the
 * other end. */
static int peer_fd = -1;

static void
link_setup(void)
{
	int sv[2];

	if (daemon_link != NULL)
		return;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	daemon_base = event_base_new();
	assert_non_null(daemon_base);
	daemon_link = link_new(daemon_base, sv[0], "routerd", NULL, NULL,
	    NULL);
	assert_non_null(daemon_link);
	peer_fd = sv[1];
}

static int
read_frame(uint8_t *buf, size_t bufsz, struct frame *f)
{
	link_flush_now(daemon_link);
	return link_read_blocking(peer_fd, buf, bufsz, f, 200);
}

static void
test_error_reply(void **state)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	const char	 msg[] = "<message from='a@x/r' to='b@x/gone' "
	    "id='m'><body>x</body></message>";
	const char	 err[] = "<message from='a@x/r' to='b@x/gone' "
	    "type='error'><error type='cancel'/></message>";
	struct frame	 f;
	const uint8_t	*body;
	size_t		 len;

	link_setup();
	session_error_reply(RK_MESSAGE, RS_NORMAL, msg, sizeof(msg) - 1,
	    "service-unavailable", 42);
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	assert_int_equal(f.hdr.session, 42);
	assert_int_equal(f.hdr.kind, RK_MESSAGE);
	assert_int_equal(f.hdr.stype, RS_ERROR);
	assert_string_equal(f.from, "b@x/gone");
	assert_string_equal(f.to, "a@x/r");
	frame_get_rest(&f, &body, &len);
	assert_non_null(memmem(body, len, "service-unavailable", 19));
	assert_null(memmem(body, len, "xmlns='jabber:client'", 21));

	/* never an error for an error, nor for presence or iq results */
	session_error_reply(RK_MESSAGE, RS_ERROR, err, sizeof(err) - 1,
	    "service-unavailable", 42);
	session_error_reply(RK_PRESENCE, RS_AVAILABLE, msg, sizeof(msg) - 1,
	    "service-unavailable", 42);
	session_error_reply(RK_IQ, RS_RESULT, msg, sizeof(msg) - 1,
	    "service-unavailable", 42);
	assert_int_not_equal(read_frame(buf, sizeof(buf), &f), 0);
}

static void
test_register_limit(void **state)
{
	int i;

	/* C2SD_REG_ATTEMPTS requests per interval, then refused */
	for (i = 0; i < C2SD_REG_ATTEMPTS; i++)
		assert_int_equal(register_limit("192.0.2.1"), 0);
	assert_int_equal(register_limit("192.0.2.1"), -1);
	/* other addresses are not affected */
	assert_int_equal(register_limit("192.0.2.2"), 0);
	/* one account per interval */
	register_created("192.0.2.2");
	assert_int_equal(register_limit("192.0.2.2"), -1);
	/* IPv6: one /64 is one client */
	register_created("2001:db8:1:2::1");
	assert_int_equal(register_limit("2001:db8:1:2:ffff::9"), -1);
	assert_int_equal(register_limit("2001:db8:1:3::1"), 0);
	/* a v4-mapped address is not the whole ::ffff:0:0/96 */
	register_created("::ffff:198.51.100.1");
	assert_int_equal(register_limit("::ffff:198.51.100.2"), 0);
	/* a flood of addresses evicts old entries, never fails */
	for (i = 0; i < 3 * C2SD_REG_SLOTS; i++) {
		char ip[64];

		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(register_limit(ip), 0);
	}
}

static void
test_undelivered(void **state)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	const char	 msg[] = "<message from='a@x/r' to='b@x/gone' "
	    "id='m'><body>x</body></message>";
	const char	 self[] = "<message from='b@x/r2' id='s'><body>y</body>"
	    "</message>";
	const char	 iq[] = "<iq type='get' from='a@x/r' to='b@x/gone' "
	    "id='i'><q xmlns='urn:q'/></iq>";
	const char	 pres[] = "<presence from='a@x/r' to='b@x/gone'/>";
	struct session	 s;
	struct frame	 f;
	const uint8_t	*body;
	size_t		 len;

	link_setup();
	/* a message goes back as it was, flagged for imd */
	session_return_to(7, RK_MESSAGE, RS_NORMAL, NULL, NULL, msg,
	    sizeof(msg) - 1, "service-unavailable");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	assert_true(f.hdr.flags & RFF_UNDELIVERED);
	assert_int_equal(f.hdr.session, 7);
	assert_int_equal(f.hdr.kind, RK_MESSAGE);
	assert_int_equal(f.hdr.stype, RS_NORMAL);
	assert_string_equal(f.from, "a@x/r");
	assert_string_equal(f.to, "b@x/gone");
	frame_get_rest(&f, &body, &len);
	assert_int_equal(len, sizeof(msg) - 1);
	assert_memory_equal(body, msg, len);

	/* with no 'to' in the body, it was for the session's full JID */
	memset(&s, 0, sizeof(s));
	s.id = 9;
	assert_int_equal(session_set_jid(&s, "b", "x", "r1"), 0);
	session_return(&s, RK_MESSAGE, RS_CHAT, self, sizeof(self) - 1,
	    "service-unavailable");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_true(f.hdr.flags & RFF_UNDELIVERED);
	assert_string_equal(f.from, "b@x/r2");
	assert_string_equal(f.to, "b@x/r1");
	assert_int_equal(f.hdr.stype, RS_CHAT);

	/* an iq request gets an error reply, not a return */
	session_return(&s, RK_IQ, RS_GET, iq, sizeof(iq) - 1,
	    "service-unavailable");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_false(f.hdr.flags & RFF_UNDELIVERED);
	assert_int_equal(f.hdr.stype, RS_ERROR);
	assert_string_equal(f.to, "a@x/r");
	/* presence: nothing */
	session_return(&s, RK_PRESENCE, RS_AVAILABLE, pres, sizeof(pres) - 1,
	    "service-unavailable");
	assert_int_not_equal(read_frame(buf, sizeof(buf), &f), 0);
	free(s.full);
}

/* A bound session on a connection that never writes to a socket: the
 * paths tested here only send frames to routerd. */
static void
fake_session(struct conn *c, struct session *s)
{
	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	s->id = 77;
	assert_int_equal(session_set_jid(s, "u", "x", "r"), 0);
	s->state = SS_BOUND;
	s->conn = c;
	TAILQ_INIT(&s->unacked);
	TAILQ_INIT(&s->held);
	c->session = s;
	c->state = CS_ESTABLISHED;
}

static void
client_sends(struct conn *c, const char *xml)
{
	struct xnode *n = stanza_parse(xml, strlen(xml));

	assert_non_null(n);
	session_client_stanza(c, n);
	xnode_free(n);
}

static void
test_presence_broadcast(void **state)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	struct conn	 c;
	struct session	 s;
	struct frame	 f;
	const uint8_t	*body;
	size_t		 len;
	uint8_t		 prio, avail;

	link_setup();
	fake_session(&c, &s);
	client_sends(&c, "<presence><priority>5</priority></presence>");
	/* first routerd's session state ... */
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_SESSION_PRESENCE);
	assert_int_equal(frame_get_u8(&f, &prio), 0);
	assert_int_equal(frame_get_u8(&f, &avail), 0);
	assert_int_equal(prio, 5);
	assert_int_equal(avail, 1);
	/* ... then the stanza, for imd to broadcast */
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	assert_true(f.hdr.flags & RFF_BROADCAST);
	assert_int_equal(f.hdr.kind, RK_PRESENCE);
	assert_int_equal(f.hdr.stype, RS_AVAILABLE);
	assert_int_equal(f.hdr.session, 77);
	assert_string_equal(f.from, "u@x/r");
	assert_string_equal(f.to, "u@x");
	frame_get_rest(&f, &body, &len);
	assert_non_null(memmem(body, len, "<priority>5</priority>", 22));
	assert_non_null(memmem(body, len, "from='u@x/r'", 12));

	client_sends(&c, "<presence type='unavailable'/>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_SESSION_PRESENCE);
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_true(f.hdr.flags & RFF_BROADCAST);
	assert_int_equal(f.hdr.stype, RS_UNAVAILABLE);

	/* directed presence is routed by its 'to', not broadcast */
	client_sends(&c, "<presence to='v@y'/>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	assert_false(f.hdr.flags & RFF_BROADCAST);
	assert_string_equal(f.to, "v@y");
	/* a subscription request without 'to' goes nowhere */
	client_sends(&c, "<presence type='subscribe'/>");
	assert_int_not_equal(read_frame(buf, sizeof(buf), &f), 0);
	free(s.full);
}

static void
test_account_iq(void **state)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	struct conn	 c;
	struct session	 s;
	struct frame	 f;

	link_setup();
	fake_session(&c, &s);
	/* roster with no 'to': imd's, addressed to the bare JID */
	client_sends(&c, "<iq type='get' id='r1'><query "
	    "xmlns='jabber:iq:roster'/></iq>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_STANZA);
	assert_int_equal(f.hdr.kind, RK_IQ);
	assert_int_equal(f.hdr.stype, RS_GET);
	assert_int_equal(f.hdr.flags, 0);
	assert_string_equal(f.from, "u@x/r");
	assert_string_equal(f.to, "u@x");
	/* disco of one's own bare JID, and vcard: imd's too */
	client_sends(&c, "<iq type='get' id='d1' to='U@x'><query "
	    "xmlns='http://jabber.org/protocol/disco#info'/></iq>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_string_equal(f.to, "u@x");
	client_sends(&c, "<iq type='set' id='v1'><vCard "
	    "xmlns='vcard-temp'/></iq>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.stype, RS_SET);
	assert_string_equal(f.to, "u@x");
	/* PEP is marked for pepd */
	client_sends(&c, "<iq type='set' id='p1'><pubsub "
	    "xmlns='http://jabber.org/protocol/pubsub'/></iq>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_true(f.hdr.flags & RFF_PEP);
	assert_string_equal(f.to, "u@x");
	/* results to us are dropped; iq to another account goes by 'to' */
	client_sends(&c, "<iq type='result' id='push1'/>");
	client_sends(&c, "<iq type='get' id='o1' to='w@x'><query "
	    "xmlns='jabber:iq:version'/></iq>");
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_string_equal(f.to, "w@x");
	assert_int_not_equal(read_frame(buf, sizeof(buf), &f), 0);
	free(s.full);
}

static void
test_features(void **state)
{
	struct conn	 c;
	struct host	*h;
	struct xnode	*f;
	const char	*v[2] = { "feat.example", "registration" };

	assert_int_equal(c2sd_configure("host", 2, v), 0);
	h = host_find("feat.example");
	memset(&c, 0, sizeof(c));
	c.host = h;
	f = xnode_new("features", XMLNS_STREAM);
	feature_register(&c, f);	/* before TLS: never */
	assert_null(xnode_first_elem(f));
	c.ssl = (SSL *)&c;	/* only compared with NULL */
	c.tls = 1;
	feature_register(&c, f);
	assert_non_null(xnode_child(f, "register", NS_REGISTER_FEATURE));
	xnode_free(f);
	h->registration = 0;
	f = xnode_new("features", XMLNS_STREAM);
	feature_register(&c, f);
	assert_null(xnode_first_elem(f));
	/* after authentication: pre-approval and roster versioning */
	feature_preapproval(&c, f);
	assert_null(xnode_first_elem(f));
	c.user = (char []){ "u" };
	feature_register(&c, f);
	feature_preapproval(&c, f);
	feature_rosterver(&c, f);
	assert_non_null(xnode_child(f, "sub", NS_PREAPPROVAL));
	assert_non_null(xnode_child(f, "ver", NS_ROSTERVER));
	assert_null(xnode_child(f, "register", NULL));
	xnode_free(f);
}


/* An RF_SM_RESTORE from routerd, as after a restart of c2sd. */
static int
restore(uint64_t id, size_t hashlen, uint16_t n, uint16_t pairs_sent)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	uint8_t		 hash[FRAME_SM_HASH_LEN] = { 1, 2, 3 };
	struct fout	*o = fout_new(RF_SM_RESTORE, "u@example.org/r", NULL);
	struct frame	 f;
	const char	*why;
	uint16_t	 i;

	o->hdr.session = id;
	fout_put_data(o, hash, hashlen);
	fout_put_u32(o, 5);	/* h_in */
	fout_put_u32(o, 10);	/* h_acked */
	fout_put_u32(o, 13);	/* h_out */
	fout_put_u32(o, 60);	/* seconds left */
	fout_put_u16(o, n);
	for (i = 0; i < pairs_sent; i++) {	/* rseq 1 -> 11, 2 -> 13 */
		fout_put_u32(o, i + 1);
		fout_put_u32(o, i == 0 ? 11 : 13);
	}
	fout_finish(o);
	memcpy(buf, o->buf, o->len);
	assert_int_equal(frame_parse(buf, o->len, FRAME_MAX_DEFAULT, &f, &why),
	    0);
	fout_free(o);
	sm_restore_frame(&f);
	return session_find(id) != NULL;
}

/* A kept message routerd sends after the restore (corr = its number). */
static void
kept_message(uint64_t id, uint32_t rseq)
{
	static uint8_t	 buf[4096];
	char		 xml[128];
	struct fout	*o;
	struct frame	 f;
	const char	*why;

	snprintf(xml, sizeof(xml), "<message from='v@example.org/x' "
	    "to='u@example.org/r'><body>%u</body></message>", rseq);
	o = fout_stanza(RK_MESSAGE, RS_CHAT, "v@example.org/x",
	    "u@example.org/r", xml, strlen(xml));
	o->hdr.session = id;
	o->hdr.corr = rseq;
	fout_finish(o);
	memcpy(buf, o->buf, o->len);
	assert_int_equal(frame_parse(buf, o->len, sizeof(buf), &f, &why), 0);
	fout_free(o);
	session_routed_stanza(&f);
}

static void
test_sm_restore(void **state)
{
	static uint8_t	 buf[FRAME_MAX_DEFAULT];
	struct session	*s;
	struct unacked	*u;
	struct frame	 f;
	uint32_t	 v[6];
	uint16_t	 n;
	int		 i;

	link_setup();
	/* malformed: a short hash, pairs missing or over the bound */
	assert_false(restore(4243, FRAME_SM_HASH_LEN - 1, 0, 0));
	assert_false(restore(4243, FRAME_SM_HASH_LEN, 2, 1));
	assert_false(restore(4243, FRAME_SM_HASH_LEN, FRAME_SM_MAX_PAIRS + 1,
	    0));
	assert_true(restore(4242, FRAME_SM_HASH_LEN, 2, 2));
	s = session_find(4242);
	assert_int_equal(s->state, SS_HIBERNATING);
	assert_null(s->conn);
	(void)restore(4242, FRAME_SM_HASH_LEN, 2, 2);	/* id in use: kept */
	assert_ptr_equal(session_find(4242), s);
	/* ... and routerd is told to drop the route it handed over */
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_SESSION_UNBIND);
	assert_int_equal(f.hdr.session, 4242);
	assert_true(c2sd_new_id() > 4242);
	kept_message(4242, 1);	/* written with h 11 */
	kept_message(4242, 2);	/* written with h 13 */
	kept_message(4242, 3);	/* arrived while c2sd was down */
	assert_int_equal(s->nunacked, 3);
	/* nothing is reported before the client is back */
	assert_int_equal(sm_report_all(), 0);
	/* an h beyond what the old c2sd sent is refused */
	assert_int_equal(sm_restore_resume(s, 14), -1);
	/* the client has 11: message 1 goes, 2 and 3 follow as 12 and 13 */
	assert_int_equal(sm_restore_resume(s, 11), 0);
	assert_int_equal(s->nunacked, 2);
	assert_int_equal(s->h_acked, 11);
	assert_int_equal(s->h_out, 13);
	u = TAILQ_FIRST(&s->unacked);
	assert_int_equal(u->rseq, 2);
	assert_int_equal(u->hout, 12);
	s->state = SS_BOUND;
	assert_int_equal(sm_report_all(), 1);
	assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.hdr.type, RF_SM_STATE);
	assert_int_equal(f.hdr.session, 4242);
	for (i = 0; i < 4; i++)
		assert_int_equal(frame_get_u32(&f, &v[i]), 0);
	assert_int_equal(v[0], 5);	/* h_in */
	assert_int_equal(v[1], 11);	/* h_acked */
	assert_int_equal(v[2], 13);	/* h_out */
	assert_int_equal(v[3], 1);	/* done: message 1 */
	assert_int_equal(frame_get_u16(&f, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < 4; i++)
		assert_int_equal(frame_get_u32(&f, &v[i]), 0);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 12);
	assert_int_equal(v[2], 3);
	assert_int_equal(v[3], 13);
	assert_int_equal(frame_get_end(&f), 0);
	/* ended: the two unacknowledged messages go back to routerd */
	session_end(s, 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(read_frame(buf, sizeof(buf), &f), 0);
		assert_true(f.hdr.flags & RFF_UNDELIVERED);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configure),
		cmocka_unit_test(test_stype),
		cmocka_unit_test(test_parse_body),
		cmocka_unit_test(test_make_error),
		cmocka_unit_test(test_handlers),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_register_limit),
		cmocka_unit_test(test_undelivered),
		cmocka_unit_test(test_presence_broadcast),
		cmocka_unit_test(test_account_iq),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_sm_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
