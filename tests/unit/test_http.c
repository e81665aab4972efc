/*
 * test_http.c - unit tests (cmocka) for c2sd's web listeners without a
 * socket: the strict HTTP request parser (http_parse), request service
 * one at a time (http_input, http_respond), CORS as cors-origin sets it,
 * XEP-0156 host-meta behind a reverse proxy (c2sd_http.c), and RFC 7395
 * framing (c2sd_ws.c): the handshake, xml_fixup, frames in and out, the
 * close sequence and the stream error before wslay's 1009.
 *
 * Built from c2sd_http.c and c2sd_ws.c with the rest of c2sd stubbed here:
 * everything c2sd would write goes to `out`, and conn_stream_error does
 * what the real one does on a WebSocket (error, then </stream:stream>).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "c2sd.h"

struct c2sd_conf c2sd_conf = { .max_stanza_size = 1024,
    .unauth_timeout = 30 };

static struct xbuf	out;		/* everything queued, in order */
static int		bosh_calls, returned, opens, stanzas, destroyed;
static char		last_cond[64];

/* ---- stubs for the rest of c2sd ---- */

int
conn_queue(struct conn *c, const char *d, size_t l, uint16_t skip,
    uint8_t kind, uint8_t stype)
{
	if (c->dead || l == 0)
		return -1;
	xbuf_add(&out, d, l);
	return 0;
}

void conn_write_raw(struct conn *c, const char *d, size_t l)
{
	(void)conn_queue(c, d, l, 0, RK_NONE, RS_NONE);
}
void conn_reading(struct conn *c, int on) { c->reading = on; }
void conn_set_timer(struct conn *c, unsigned s) { }
void conn_flush_soon(struct conn *c) { }
void conn_destroy(struct conn *c) { c->dead = 1; destroyed++; }

void
session_return(struct session *s, uint8_t kind, uint8_t stype,
    const char *xml, size_t len, const char *cond)
{
	returned++;
}

/* As c2sd_conn.c on a WebSocket: the error, then the closing tag. */
void
conn_stream_error(struct conn *c, const char *cond, const char *text)
{
	char buf[256];

	snprintf(last_cond, sizeof(last_cond), "%s", cond);
	snprintf(buf, sizeof(buf), "<stream:error><%s xmlns='%s'/>"
	    "</stream:error>", cond, NS_STREAMS);
	(void)ws_append(c, buf, strlen(buf), RK_NONE, RS_NONE);
	c->no_resume = 1;
	(void)ws_append(c, "</stream:stream>", 16, RK_NONE, RS_NONE);
	c->state = CS_CLOSING;
}

/* BOSH requests are held: the test answers them with http_respond. */
void
bosh_request(struct conn *c, const struct http_request *r, const char *b,
    size_t l)
{
	bosh_calls++;
}

static void s_open(void *a, const struct xnode *h) { opens++; }
static void s_stanza(void *a, struct xnode *n) { stanzas++; xnode_free(n); }
static void s_close(void *a) { }
static void s_error(void *a, enum xml_error e, const char *d) { }
const struct xml_callbacks stream_callbacks = {
	.stream_open = s_open, .stanza = s_stanza, .stream_close = s_close,
	.error = s_error,
};

/* ---- helpers ---- */

static struct conn *
conn_new(enum listener_kind lk)
{
	struct conn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = -1;
	c->lkind = lk;
	c->proto = CP_HTTP;
	snprintf(c->peer, sizeof(c->peer), "127.0.0.1");
	return c;
}

static void
conn_gone(struct conn *c)
{
	if (c->xs)
		xml_stream_free(c->xs);
	ws_free(c);
	http_free(c);
	free(c);
}

static int
setup(void **state)
{
	xbuf_free(&out);
	xbuf_init(&out);
	bosh_calls = returned = opens = stanzas = destroyed = 0;
	last_cond[0] = '\0';
	assert_int_equal(http_set_cors("*"), 0);
	return 0;
}

static int
teardown(void **state)
{
	xbuf_free(&out);
	return 0;
}

/* `out` as a NUL-terminated string (HTTP heads). */
static const char *
out_str(void)
{
	xbuf_add(&out, "", 1);
	out.len--;
	return out.data ? out.data : "";
}

static void
feed(struct conn *c, const char *s)
{
	http_input(c, s, strlen(s));
}

static long
parse(const char *s, struct http_request *r)
{
	return http_parse(s, strlen(s), r);
}

/* ---- http_parse ---- */

static void
test_parse_ok(void **state)
{
	struct http_request r;
	const char *req = "GET /xmpp-websocket?x=1 HTTP/1.1\r\n"
	    "Host: example.org:5280\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive\r\nConnection:  Upgrade \r\n"
	    "Origin: https://a.example\r\nSec-WebSocket-Protocol: xmpp\r\n"
	    "X-Other: ignored\r\n\r\nBODY";

	assert_int_equal(parse(req, &r), (long)strlen(req) - 4);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/xmpp-websocket");	/* query dropped */
	assert_string_equal(r.host, "example.org:5280");
	assert_string_equal(r.origin, "https://a.example");
	assert_string_equal(r.connection, "keep-alive, Upgrade");
	assert_string_equal(r.ws_protocol, "xmpp");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.nfields, 7);
	assert_int_equal(r.has_length, 0);
}

static void
test_parse_incomplete(void **state)
{
	struct http_request r;
	char *big;

	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &r), 0);
	assert_int_equal(parse("GET / HTT", &r), 0);
	big = malloc(HTTP_MAX_HEADER + 16);
	assert_non_null(big);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', HTTP_MAX_HEADER - 3);
	assert_int_equal(http_parse(big, HTTP_MAX_HEADER + 16, &r), -431);
	free(big);
}

static void
test_parse_malformed(void **state)
{
	struct http_request r;
	static const struct { const char *req; long want; } t[] = {
		{ "GET / HTTP/1.1\nHost: x\r\n\r\n", -400 },	/* bare LF */
		{ "GET / HTTP/1.1\r\nHost: x\r\n b\r\n\r\n", -400 }, /* fold */
		{ "GET / HTTP/1.1\r\nHo st: x\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nHost x\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", -400 },
		{ "get / HTTP/1.1\r\n\r\n", -400 },
		{ "GET x HTTP/1.1\r\n\r\n", -400 },
		{ "GET / HTTP/2.0\r\n\r\n", -400 },
		{ "GET /  HTTP/1.1\r\n\r\n", -400 },
		{ "GET / HTTP/1.2\r\n\r\n", -505 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -501 },
		{ "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", -400 },
		{ "POST / HTTP/1.1\r\nContent-Length: 1234567890123\r\n\r\n",
		    -400 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
		    "Content-Length: 6\r\n\r\n", -400 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (parse(t[i].req, &r) != t[i].want)
			fail_msg("case %zu: %ld, not %ld", i, parse(t[i].req, &r),
			    t[i].want);
	}
	assert_int_equal(http_parse("GET / HTTP/1.1\r\nX: \0\r\n\r\n", 24, &r),
	    -400);
}

static void
test_parse_limits(void **state)
{
	struct http_request r;
	struct xbuf b;
	size_t i;

	xbuf_init(&b);
	xbuf_adds(&b, "GET /");
	for (i = 0; i < 300; i++)
		xbuf_adds(&b, "a");
	xbuf_adds(&b, " HTTP/1.1\r\n\r\n");
	xbuf_add(&b, "", 1);
	assert_int_equal(parse(b.data, &r), -414);
	xbuf_reset(&b);
	xbuf_adds(&b, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_FIELDS + 1; i++)
		xbuf_addf(&b, "X-%zu: v\r\n", i);
	xbuf_adds(&b, "\r\n");
	xbuf_add(&b, "", 1);
	assert_int_equal(parse(b.data, &r), -431);
	xbuf_free(&b);
	/* equal lengths twice are one length */
	assert_true(parse("POST / HTTP/1.0\r\nContent-Length: 5\r\n"
	    "content-length: 5\r\n\r\n", &r) > 0);
	assert_int_equal(r.content_length, 5);
	assert_int_equal(r.minor, 0);
}

static void
test_parse_forwarded(void **state)
{
	struct http_request r;

	assert_true(parse("GET / HTTP/1.1\r\nForwarded: for=192.0.2.1;"
	    "proto=https;host=\"chat.example:443\", for=10.0.0.1;proto=http"
	    "\r\nX-Forwarded-Proto: http\r\n\r\n", &r) > 0);
	assert_string_equal(r.fwd_proto, "https");
	assert_string_equal(r.fwd_host, "chat.example:443");
	assert_true(parse("GET / HTTP/1.1\r\nX-Forwarded-Proto: https, http\r\n"
	    "X-Forwarded-Host: a.example\r\n\r\n", &r) > 0);
	assert_string_equal(r.fwd_proto, "https");
	assert_string_equal(r.fwd_host, "a.example");
	/* a quoted-string with ';' and ',' inside does not end the element */
	assert_true(parse("GET / HTTP/1.1\r\nForwarded: for=\"[::1];,x\";"
	    "Proto=HTTPS\r\n\r\n", &r) > 0);
	assert_string_equal(r.fwd_proto, "HTTPS");
	/* a value too long for the field is ignored, not truncated */
	assert_true(parse("GET / HTTP/1.1\r\nX-Forwarded-Proto: httpsxxxx"
	    "\r\n\r\n", &r) > 0);
	assert_string_equal(r.fwd_proto, "");
}

/* ---- http_input ---- */

static void
test_one_request_at_a_time(void **state)
{
	struct conn *c = conn_new(LK_HTTP);

	feed(c, "POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
	    "\r\nabcGET /.well-known/host-meta HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(bosh_calls, 1);
	assert_int_equal(out.len, 0);		/* the second one waits */
	http_respond(c, 200, "text/xml", NULL, "<body/>", 7);
	assert_non_null(strstr(out_str(), "<body/>HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out_str(), "<XRD"));
	assert_int_equal(c->close_when_flushed, 0);	/* keep-alive */
	conn_gone(c);
}

static void
test_body_too_large(void **state)
{
	struct conn *c = conn_new(LK_HTTP);

	feed(c, "POST /http-bind HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
	assert_non_null(strstr(out_str(), "HTTP/1.1 413 "));
	assert_non_null(strstr(out_str(), "Connection: close\r\n"));
	assert_int_equal(c->close_when_flushed, 1);
	assert_int_equal(bosh_calls, 0);
	conn_gone(c);
}

/* One request on a new connection; what was answered. */
static const char *
one(enum listener_kind lk, const char *req)
{
	struct conn *c = conn_new(lk);

	xbuf_reset(&out);
	feed(c, req);
	conn_gone(c);
	return out_str();
}

static void
test_routes(void **state)
{
	const char *o;

	o = one(LK_HTTP, "OPTIONS /http-bind HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(o, "HTTP/1.1 204 "));
	assert_null(strstr(o, "Connection: close"));
	o = one(LK_HTTP, "GET /http-bind HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(o, "HTTP/1.1 405 "));
	assert_non_null(strstr(o, "Allow: POST, OPTIONS\r\n"));
	assert_non_null(strstr(o, "Connection: close\r\n"));
	o = one(LK_HTTP, "GET /elsewhere HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(o, "HTTP/1.1 404 "));
	o = one(LK_HTTP, "GET / HTTP/1.0\r\n\r\n");	/* 1.0: one request */
	assert_non_null(strstr(o, "Connection: close\r\n"));
	assert_int_equal(bosh_calls, 0);
}

static int
has(const char *p, size_t n, const char *s)
{
	size_t l = strlen(s), i;

	for (i = 0; i + l <= n; i++)
		if (memcmp(p + i, s, l) == 0)
			return 1;
	return 0;
}

static const char *
host_meta(enum listener_kind lk, const char *headers)
{
	struct conn *c = conn_new(lk);

	xbuf_reset(&out);
	feed(c, "GET /.well-known/host-meta.json HTTP/1.1\r\n");
	feed(c, headers);
	feed(c, "\r\n");
	conn_gone(c);
	return out_str();
}

static void
test_host_meta(void **state)
{
	assert_non_null(strstr(host_meta(LK_HTTP, "Host: h:1\r\n"),
	    "\"ws://h:1/xmpp-websocket\""));
	assert_non_null(strstr(host_meta(LK_HTTPS, "Host: h:1\r\n"),
	    "\"wss://h:1/xmpp-websocket\""));
	assert_non_null(strstr(host_meta(LK_HTTP, "Host: h:1\r\n"
	    "X-Forwarded-Proto: https\r\n"), "\"https://h:1/http-bind\""));
	assert_non_null(strstr(host_meta(LK_HTTP, "Host: 127.0.0.1:5280\r\n"
	    "Forwarded: proto=https;host=xmpp.example\r\n"),
	    "\"wss://xmpp.example/xmpp-websocket\""));
	/* the TLS listener has no proxy in front: headers ignored */
	assert_non_null(strstr(host_meta(LK_HTTPS, "Host: h:1\r\n"
	    "Forwarded: proto=http;host=evil.example\r\n"),
	    "\"wss://h:1/xmpp-websocket\""));
	/* nothing but a plain host[:port] goes into the document */
	assert_non_null(strstr(host_meta(LK_HTTP, "Host: h:1\r\n"
	    "X-Forwarded-Host: a\"b\r\n"), "\"ws://h:1/"));
	assert_non_null(strstr(host_meta(LK_HTTP, "Host: a<b\r\n"),
	    "HTTP/1.1 400 "));
	assert_non_null(strstr(host_meta(LK_HTTP, ""), "HTTP/1.1 400 "));
}

/* ---- CORS ---- */

static const char *
get_with_origin(const char *origin)
{
	return host_meta(LK_HTTP, origin);
}

static void
test_cors(void **state)
{
	const char *o;

	o = get_with_origin("Host: h\r\nOrigin: https://x.example\r\n");
	assert_non_null(strstr(o, "Access-Control-Allow-Origin: *\r\n"));
	assert_null(strstr(o, "Vary:"));

	assert_int_equal(http_set_cors("https://a.example,https://B.example:8443"),
	    0);
	o = get_with_origin("Host: h\r\nOrigin: https://b.example:8443\r\n");
	assert_non_null(strstr(o, "Access-Control-Allow-Origin: "
	    "https://b.example:8443\r\nVary: Origin\r\n"));
	o = get_with_origin("Host: h\r\nOrigin: https://a.example.evil\r\n");
	assert_null(strstr(o, "Access-Control-Allow-Origin"));
	assert_non_null(strstr(o, "Vary: Origin\r\n"));
	o = get_with_origin("Host: h\r\nOrigin: https://a.exampl\r\n");
	assert_null(strstr(o, "Access-Control-Allow-Origin"));
	o = get_with_origin("Host: h\r\n");
	assert_null(strstr(o, "Access-Control-Allow-Origin"));

	assert_int_equal(http_set_cors("none"), 0);
	o = get_with_origin("Host: h\r\nOrigin: https://a.example\r\n");
	assert_null(strstr(o, "Access-Control-"));
	assert_int_equal(http_set_cors("https://ok.example"), 0);

	assert_int_equal(http_set_cors(""), -1);
	assert_int_equal(http_set_cors(" , "), -1);
	assert_int_equal(http_set_cors("ftp://a.example"), -1);
	assert_int_equal(http_set_cors("https://a.example\r\nX: y"), -1);
	/* a refused value leaves the previous one in force */
	o = get_with_origin("Host: h\r\nOrigin: https://ok.example\r\n");
	assert_non_null(strstr(o, "Access-Control-Allow-Origin: "
	    "https://ok.example\r\n"));
}

/* ---- WebSocket ---- */

#define WS_REQ(extra) "GET /xmpp-websocket HTTP/1.1\r\nHost: h\r\n" \
	"Upgrade: websocket\r\nConnection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Sec-WebSocket-Version: 13\r\n" extra "\r\n"

static struct conn *
ws_conn(void)
{
	struct conn *c = conn_new(LK_HTTP);

	feed(c, WS_REQ("Sec-WebSocket-Protocol: chat, xmpp\r\n"));
	assert_int_equal(c->proto, CP_WS);
	/* RFC 6455 1.3's example key and answer */
	assert_non_null(strstr(out_str(), "HTTP/1.1 101 Switching Protocols"));
	assert_non_null(strstr(out_str(),
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	assert_non_null(strstr(out_str(), "Sec-WebSocket-Protocol: xmpp\r\n"));
	xbuf_reset(&out);
	return c;
}

/* A client frame: masked, as RFC 6455 5.3 requires. */
static void
ws_in(struct conn *c, int opcode, const char *p, size_t len, size_t claim)
{
	unsigned char	 f[14 + 512];
	size_t		 h = 2, i;
	static const unsigned char mask[4] = { 1, 2, 3, 4 };

	assert_true(len <= 512);
	f[0] = (unsigned char)(0x80 | opcode);
	if (claim < 126)
		f[1] = (unsigned char)(0x80 | claim);
	else if (claim < 65536) {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(claim >> 8);
		f[3] = (unsigned char)claim;
		h = 4;
	} else {
		f[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			f[2 + i] = (unsigned char)((uint64_t)claim >> (56 - 8 * i));
		h = 10;
	}
	memcpy(f + h, mask, 4);
	for (i = 0; i < len; i++)
		f[h + 4 + i] = (unsigned char)p[i] ^ mask[i % 4];
	ws_input(c, (const char *)f, h + 4 + len);
}

/* The next server frame in `out` from *off: opcode, payload. */
static int
ws_out(size_t *off, const char **payload, size_t *len)
{
	const unsigned char *f = (const unsigned char *)out.data + *off;
	size_t h = 2, n, i;

	if (*off + 2 > out.len)
		return -1;
	n = f[1] & 0x7f;
	assert_int_equal(f[1] & 0x80, 0);	/* servers never mask */
	if (n == 126) {
		n = (size_t)f[2] << 8 | f[3];
		h = 4;
	} else if (n == 127) {
		for (n = 0, i = 0; i < 8; i++)
			n = n << 8 | f[2 + i];
		h = 10;
	}
	assert_true(*off + h + n <= out.len);
	*payload = (const char *)f + h;
	*len = n;
	*off += h + n;
	return f[0] & 0x0f;
}

/* From *off: a text frame holding `first`, then <close/>, then a close
 * frame with `code`, and nothing after it. */
static void
expect_close(size_t *off, const char *first, unsigned code)
{
	const char	*p;
	size_t		 n;

	if (first != NULL) {
		assert_int_equal(ws_out(off, &p, &n), 1);
		assert_true(has(p, n, first));
	}
	assert_int_equal(ws_out(off, &p, &n), 1);
	assert_int_equal(n, strlen("<close xmlns='" XMLNS_FRAMING "'/>"));
	assert_memory_equal(p, "<close xmlns='" XMLNS_FRAMING "'/>", n);
	assert_int_equal(ws_out(off, &p, &n), 8);
	assert_int_equal(n, 2);
	assert_int_equal((unsigned char)p[0] << 8 | (unsigned char)p[1], code);
	assert_int_equal(*off, out.len);	/* one close frame, last */
}

static void
test_ws_handshake_refused(void **state)
{
	struct conn *c = conn_new(LK_HTTP);

	feed(c, WS_REQ("Sec-WebSocket-Protocol: chat\r\n"));
	assert_int_equal(c->proto, CP_HTTP);
	assert_non_null(strstr(out_str(), "HTTP/1.1 400 "));
	conn_gone(c);

	assert_int_equal(http_set_cors("https://a.example"), 0);
	c = conn_new(LK_HTTP);
	xbuf_reset(&out);
	feed(c, WS_REQ("Sec-WebSocket-Protocol: xmpp\r\n"
	    "Origin: https://b.example\r\n"));
	assert_int_equal(c->proto, CP_HTTP);
	assert_non_null(strstr(out_str(), "HTTP/1.1 403 "));
	conn_gone(c);
	c = conn_new(LK_HTTP);
	xbuf_reset(&out);
	feed(c, WS_REQ("Sec-WebSocket-Protocol: xmpp\r\n"
	    "Origin: https://a.example\r\n"));
	assert_int_equal(c->proto, CP_WS);
	conn_gone(c);
}

static void
test_xml_fixup(void **state)
{
	struct xbuf b;

	xbuf_init(&b);
	assert_int_equal(xml_fixup(&b, "<message to='a'><body/></message>",
	    33), 1);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data,
	    "<message xmlns='jabber:client' to='a'><body/></message>");
	xbuf_reset(&b);
	assert_int_equal(xml_fixup(&b, "<r xmlns='urn:xmpp:sm:3'/>", 26), 1);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<r xmlns='urn:xmpp:sm:3'/>");
	xbuf_reset(&b);
	assert_int_equal(xml_fixup(&b, "<stream:features/>", 18), 1);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<stream:features xmlns:stream='"
	    XMLNS_STREAM "'/>");
	xbuf_reset(&b);
	/* an attribute value naming xmlns is not a declaration */
	assert_int_equal(xml_fixup(&b, "<iq id=' xmlns=x'/>", 19), 1);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<iq xmlns='jabber:client' id=' xmlns=x'/>");
	xbuf_reset(&b);
	assert_int_equal(xml_fixup(&b, " \n</stream:stream>", 18), 2);
	assert_int_equal(xml_fixup(&b, " \r\n\t", 4), 0);
	assert_int_equal(xml_fixup(&b, "text", 4), -1);
	assert_int_equal(xml_fixup(&b, "<?xml?>", 7), -1);
	xbuf_free(&b);
}

static void
test_ws_frames_in(void **state)
{
	struct conn	*c = ws_conn();
	const char	*open = "<open xmlns='" XMLNS_FRAMING "' to='h' "
	    "version='1.0'/>";
	const char	*p;
	size_t		 off = 0, n;

	ws_in(c, 1, open, strlen(open), strlen(open));
	assert_int_equal(opens, 1);
	ws_in(c, 9, "hi", 2, 2);	/* ping: wslay answers with a pong */
	assert_int_equal(ws_out(&off, &p, &n), 10);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "hi", 2);
	p = "<message xmlns='jabber:client'/>";
	ws_in(c, 1, p, strlen(p), strlen(p));
	assert_int_equal(stanzas, 1);
	assert_int_equal(c->dead, 0);
	conn_gone(c);
}

static void
test_ws_frames_out(void **state)
{
	struct conn	*c = ws_conn();
	char		 big[70000];
	const char	*p;
	size_t		 off = 0, n;

	assert_int_equal(ws_append(c, "<a/>", 4, RK_NONE, RS_NONE), 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "<b>", 3);
	memcpy(big + 200 - 4, "</b>", 4);
	assert_int_equal(ws_append(c, big, 200, RK_NONE, RS_NONE), 0);
	memcpy(big + 200 - 4, "    ", 4);
	memcpy(big + sizeof(big) - 4, "</b>", 4);
	assert_int_equal(ws_append(c, big, sizeof(big), RK_NONE, RS_NONE), 0);
	assert_int_equal(ws_append(c, " ", 1, RK_NONE, RS_NONE), 0);
	assert_int_equal(ws_out(&off, &p, &n), 1);	/* text, 7-bit length */
	assert_int_equal(n, 4 + strlen(" xmlns='jabber:client'"));
	assert_int_equal(ws_out(&off, &p, &n), 1);	/* 16-bit length */
	assert_int_equal(n, 200 + strlen(" xmlns='jabber:client'"));
	assert_int_equal(ws_out(&off, &p, &n), 1);	/* 64-bit length */
	assert_int_equal(n, sizeof(big) + strlen(" xmlns='jabber:client'"));
	assert_int_equal(ws_out(&off, &p, &n), 9);	/* keepalive: ping */
	assert_int_equal(off, out.len);
	conn_gone(c);
}

/* RFC 7395 3.6: <close/>, a close frame, then nothing more. */
static void
test_ws_close(void **state)
{
	struct conn	*c = ws_conn();
	size_t		 off = 0;

	c->state = CS_CLOSING;
	assert_int_equal(ws_append(c, "</stream:stream>", 16, RK_NONE,
	    RS_NONE), 0);
	expect_close(&off, NULL, 1000);
	assert_int_equal(c->close_when_flushed, 1);
	/* a stanza after the close frame goes back, unframed */
	assert_int_equal(ws_append(c, "<message/>", 10, RK_MESSAGE, RS_CHAT), 0);
	assert_int_equal(ws_append(c, " ", 1, RK_NONE, RS_NONE), 0);
	assert_int_equal(off, out.len);
	conn_gone(c);
}

/* A message over max-stanza-size: the stream error and <close/> come
 * before wslay's 1009, as a TCP client gets policy-violation. */
static void
test_ws_oversized(void **state)
{
	struct conn	*c = ws_conn();
	size_t		 off = 0;

	ws_in(c, 1, "<message>", 9, c2sd_conf.max_stanza_size + 1);
	assert_string_equal(last_cond, "policy-violation");
	expect_close(&off, "<stream:error xmlns:stream='" XMLNS_STREAM
	    "'><policy-violation", 1009);
	assert_int_equal(c->no_resume, 1);
	assert_int_equal(c->close_when_flushed, 1);
	assert_int_equal(c->reading, 0);
	assert_int_equal(stanzas, 0);
	conn_gone(c);
}

/* The client's close frame: answered, and no <close/>, so the end is
 * unclean (stream management may resume). */
static void
test_ws_client_close_frame(void **state)
{
	struct conn	*c = ws_conn();
	const char	*p;
	size_t		 off = 0, n;

	ws_in(c, 8, "\x03\xe9", 2, 2);
	assert_int_equal(ws_out(&off, &p, &n), 8);
	assert_int_equal(off, out.len);
	assert_int_equal(c->no_resume, 0);
	assert_int_equal(c->close_when_flushed, 1);
	assert_string_equal(last_cond, "");
	conn_gone(c);
}

static void
test_ws_binary(void **state)
{
	struct conn	*c = ws_conn();
	size_t		 off = 0;

	ws_in(c, 2, "<a/>", 4, 4);
	assert_string_equal(last_cond, "unsupported-encoding");
	expect_close(&off, "<unsupported-encoding", 1003);
	conn_gone(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_incomplete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parse_malformed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parse_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parse_forwarded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_one_request_at_a_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_handshake_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_fixup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_frames_in, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ws_frames_out, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ws_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_oversized, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ws_client_close_frame,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_binary, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
