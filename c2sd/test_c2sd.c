/*
 * test_c2sd.c - unit tests (cmocka) for the parts of c2sd that need no
 * client connection: configuration keys, stanza classification, error
 * stanzas, frame bodies in the jabber:client default namespace, the
 * handler table, and the error replies c2sd sends to routerd for stanzas
 * it cannot deliver (read back from a real link over a socketpair).
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

	h = handler_find("http://jabber.org/protocol/disco#info", "query",
	    H_SERVER);
	assert_non_null(h);
	assert_ptr_equal(h->fn, iq_disco_info);
	assert_null(handler_find("jabber:iq:roster", "query", H_SERVER));
	assert_non_null(handler_find("jabber:iq:roster", "query", H_ACCOUNT));
	assert_null(handler_find("urn:xmpp:ping", "pong", H_SERVER));
	assert_null(handler_find("jabber:iq:last", "query", H_SERVER |
	    H_ACCOUNT));
	/* every advertised feature has a handler, every handler a place */
	for (h = c2sd_iq_handlers; h->ns; h++) {
		assert_non_null(h->fn);
		assert_true(h->where != 0);
	}
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
