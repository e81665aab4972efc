/*
 * test_xml.c - unit tests for common/xml.c: the incremental stream parser
 * (splits at every byte, restricted XML, limits, invalid UTF-8, namespaces,
 * framed mode, reset from a callback), the tree API and the serializer
 * (escaping, namespace declarations, round trips).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xml.h"

struct col {
	struct xml_stream	*s;
	int			 opens, closes, nstanzas, nerr;
	enum xml_error		 err;
	struct xbuf		 out;		/* serialized stanzas */
	struct xnode		*first;		/* first stanza, kept */
	char			 to[64], lang[16], version[8], hdrns[64];
	const char		*reset_on;	/* stanza name that resets */
};

static void
c_open(void *arg, const struct xnode *hdr)
{
	struct col	*c = arg;
	const char	*v;

	c->opens++;
	snprintf(c->hdrns, sizeof(c->hdrns), "%s", hdr->ns);
	if ((v = xnode_attr(hdr, "to")) != NULL)
		snprintf(c->to, sizeof(c->to), "%s", v);
	if ((v = xnode_attr_ns(hdr, XMLNS_XML, "lang")) != NULL)
		snprintf(c->lang, sizeof(c->lang), "%s", v);
	if ((v = xnode_attr(hdr, "version")) != NULL)
		snprintf(c->version, sizeof(c->version), "%s", v);
}

static void
c_stanza(void *arg, struct xnode *n)
{
	struct col	*c = arg;

	c->nstanzas++;
	xml_serialize(&c->out, n, XMLNS_CLIENT);
	xbuf_add(&c->out, "\n", 1);
	if (c->reset_on != NULL && strcmp(n->name, c->reset_on) == 0)
		xml_stream_reset(c->s);
	if (c->first == NULL)
		c->first = n;
	else
		xnode_free(n);
}

static void
c_close(void *arg)
{
	((struct col *)arg)->closes++;
}

static void
c_error(void *arg, enum xml_error e, const char *detail)
{
	struct col	*c = arg;

	assert_non_null(detail);
	c->nerr++;
	c->err = e;
}

static const struct xml_callbacks cbs = {
	c_open, c_stanza, c_close, c_error
};

static void
col_init(struct col *c, enum xml_mode mode, const struct xml_limits *lim)
{
	memset(c, 0, sizeof(*c));
	xbuf_init(&c->out);
	c->s = xml_stream_new(mode, lim, &cbs, c);
	assert_non_null(c->s);
}

static void
col_done(struct col *c)
{
	xml_stream_free(c->s);
	xnode_free(c->first);
	xbuf_free(&c->out);
}

static char *
out_str(struct col *c)
{
	xbuf_add(&c->out, "", 1);
	c->out.len--;
	assert_false(c->out.failed);
	return c->out.data;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
	"xmlns:stream='http://etherx.jabber.org/streams' to='example.com' " \
	"version='1.0' xml:lang='en'>"

static const char sample[] = HDR
    "\n<message to='juliet@example.com' type='chat' id='m1'>"
    "<body>Hi &amp; &lt;3 \xc3\xb1 \xe6\x97\xa5<![CDATA[<raw>&]]></body>"
    "<x xmlns='urn:x' xmlns:a='urn:a' a:b='c&apos;' xml:lang='fr'/></message>"
    "  \r\n\t <iq type='get' id='i1'><query xmlns='jabber:iq:roster'/></iq>"
    "<presence/> <stream:features><bind xmlns='urn:ietf:params:xml:ns:"
    "xmpp-bind'/></stream:features></stream:stream>";

static const char sample_out[] =
    "<message to='juliet@example.com' type='chat' id='m1'>"
    "<body>Hi &amp; &lt;3 \xc3\xb1 \xe6\x97\xa5&lt;raw&gt;&amp;</body>"
    "<x xmlns='urn:x' xmlns:a0='urn:a' a0:b='c&apos;' xml:lang='fr'/>"
    "</message>\n"
    "<iq type='get' id='i1'><query xmlns='jabber:iq:roster'/></iq>\n"
    "<presence/>\n"
    "<features xmlns='http://etherx.jabber.org/streams'><bind xmlns="
    "'urn:ietf:params:xml:ns:xmpp-bind'/></features>\n";

static void
check_sample(struct col *c)
{
	assert_int_equal(c->nerr, 0);
	assert_int_equal(c->opens, 1);
	assert_int_equal(c->closes, 1);
	assert_int_equal(c->nstanzas, 4);
	assert_string_equal(out_str(c), sample_out);
}

static void
test_stream_normal(void **state)
{
	struct col	 c;
	struct xnode	*body, *x;
	char		*t;

	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, sample, strlen(sample)), 0);
	check_sample(&c);
	assert_string_equal(c.hdrns, XMLNS_STREAM);
	assert_string_equal(c.to, "example.com");
	assert_string_equal(c.lang, "en");
	assert_string_equal(c.version, "1.0");
	/* The tree of the first stanza. */
	assert_string_equal(c.first->name, "message");
	assert_string_equal(c.first->ns, XMLNS_CLIENT);
	assert_null(c.first->parent);
	assert_string_equal(xnode_attr(c.first, "id"), "m1");
	assert_int_equal(c.first->nattrs, 3);
	body = xnode_child(c.first, "body", XMLNS_CLIENT);
	assert_non_null(body);
	t = xnode_text(body);
	assert_string_equal(t, "Hi & <3 \xc3\xb1 \xe6\x97\xa5<raw>&");
	free(t);
	x = xnode_child(c.first, "x", NULL);
	assert_non_null(x);
	assert_null(xnode_child(c.first, "x", XMLNS_CLIENT));
	assert_string_equal(x->ns, "urn:x");
	assert_int_equal(x->nattrs, 2);	/* xmlns declarations are not attrs */
	assert_string_equal(xnode_attr_ns(x, "urn:a", "b"), "c'");
	assert_null(xnode_attr(x, "b"));
	assert_string_equal(xnode_attr_ns(x, XMLNS_XML, "lang"), "fr");
	col_done(&c);
}

static void
test_stream_splits(void **state)
{
	struct col	 c;
	size_t		 len = strlen(sample), i;

	for (i = 0; i <= len; i++) {
		col_init(&c, XML_MODE_STREAM, NULL);
		assert_int_equal(xml_stream_feed(c.s, sample, i), 0);
		assert_int_equal(xml_stream_feed(c.s, sample + i, len - i), 0);
		check_sample(&c);
		col_done(&c);
	}
	col_init(&c, XML_MODE_STREAM, NULL);
	for (i = 0; i < len; i++)
		assert_int_equal(xml_stream_feed(c.s, sample + i, 1), 0);
	check_sample(&c);
	col_done(&c);
}

/* Stanzas arrive as soon as their end tag is complete. */
static void
test_stream_prompt(void **state)
{
	struct col	 c;
	const char	*msg = "<presence/>";
	size_t		 i;

	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(c.opens, 1);
	for (i = 0; i < strlen(msg); i++) {
		assert_int_equal(c.nstanzas, 0);
		assert_int_equal(xml_stream_feed(c.s, msg + i, 1), 0);
	}
	assert_int_equal(c.nstanzas, 1);
	assert_int_equal(c.closes, 0);
	col_done(&c);
}

/* Feeds hdr+body; expects exactly one error `e`, sticky until reset. */
static void
expect_error(enum xml_mode mode, const struct xml_limits *lim,
    const char *doc, size_t len, enum xml_error e)
{
	struct col	 c;

	col_init(&c, mode, lim);
	assert_int_equal(xml_stream_feed(c.s, doc, len), -1);
	assert_int_equal(c.nerr, 1);
	assert_int_equal(c.err, e);
	assert_int_equal(xml_stream_feed(c.s, "<a/>", 4), -1);
	assert_int_equal(c.nerr, 1);
	col_done(&c);
}

static void
expect_stream_error(const char *body, enum xml_error e)
{
	char	*doc;

	assert_true(asprintf(&doc, "%s%s", HDR, body) > 0);
	expect_error(XML_MODE_STREAM, NULL, doc, strlen(doc), e);
	assert_null(xml_parse_element(body, strlen(body), NULL));
	free(doc);
}

static void
test_billion_laughs(void **state)
{
	const char	*doc =
	    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	    "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
	    "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
	    "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
	    "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
	    "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
	    "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
	    "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>]>"
	    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
	    "<message><body>&lol9;</body></message>";
	const char	*el = "<!DOCTYPE m [<!ENTITY a 'aaaa'>]><m>&a;</m>";

	expect_error(XML_MODE_STREAM, NULL, doc, strlen(doc),
	    XE_RESTRICTED_XML);
	expect_error(XML_MODE_FRAMED, NULL, doc, strlen(doc),
	    XE_RESTRICTED_XML);
	assert_null(xml_parse_element(el, strlen(el), NULL));
}

static void
test_restricted(void **state)
{
	const char	*dt = "<!DOCTYPE stream:stream><stream:stream "
	    "xmlns:stream='http://etherx.jabber.org/streams'>";
	const char	*cm = "<!-- hi --><stream:stream "
	    "xmlns:stream='http://etherx.jabber.org/streams'>";

	expect_error(XML_MODE_STREAM, NULL, dt, strlen(dt), XE_RESTRICTED_XML);
	expect_error(XML_MODE_STREAM, NULL, cm, strlen(cm), XE_RESTRICTED_XML);
	expect_stream_error("<message><?php x ?></message>", XE_RESTRICTED_XML);
	expect_stream_error("<?php x ?>", XE_RESTRICTED_XML);
	expect_stream_error("<message><!-- c --></message>",
	    XE_RESTRICTED_XML);
	expect_stream_error("<!-- c -->", XE_RESTRICTED_XML);
	expect_stream_error("<message>&foo;</message>", XE_NOT_WELL_FORMED);
	/* An XML declaration is allowed only at the very start. */
	expect_stream_error("<presence/><?xml version='1.0'?>",
	    XE_NOT_WELL_FORMED);
}

static void
test_encoding(void **state)
{
	const char	*latin = "<?xml version='1.0' encoding='ISO-8859-1'?>"
	    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
	const char	*utf8 = "<?xml version='1.0' encoding='utf-8'?>"
	    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
	const char	*bad[] = {
		"\xc0\x80",		/* overlong NUL */
		"\xe0\x80\xaf",		/* overlong '/' */
		"\x80",			/* lone continuation */
		"\xed\xa0\x80",		/* encoded surrogate */
		"\xff",
		"\xfe",
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
		"\xe6\x97",		/* truncated */
		"\x01",			/* not an XML character */
	};
	struct col	 c;
	char		 buf[128];
	size_t		 i;

	expect_error(XML_MODE_STREAM, NULL, latin, strlen(latin),
	    XE_UNSUPPORTED_ENCODING);
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, utf8, strlen(utf8)), 0);
	assert_int_equal(c.opens, 1);
	col_done(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "<message><body>a%sb</body>"
		    "</message>", bad[i]);
		expect_stream_error(buf, XE_NOT_WELL_FORMED);
		snprintf(buf, sizeof(buf), "<message a='%s'/>", bad[i]);
		expect_stream_error(buf, XE_NOT_WELL_FORMED);
	}
}

static void
test_stream_namespace(void **state)
{
	const char	*wrong = "<stream:stream xmlns:stream='urn:wrong'>";
	const char	*nons = "<stream xmlns='jabber:client'>";
	const char	*other = "<foo xmlns='http://etherx.jabber.org/streams'>";
	const char	*unbound = "<stream:stream xmlns='jabber:client'>";

	expect_error(XML_MODE_STREAM, NULL, wrong, strlen(wrong),
	    XE_INVALID_NAMESPACE);
	expect_error(XML_MODE_STREAM, NULL, nons, strlen(nons),
	    XE_INVALID_NAMESPACE);
	expect_error(XML_MODE_STREAM, NULL, other, strlen(other),
	    XE_BAD_FORMAT);
	expect_error(XML_MODE_STREAM, NULL, unbound, strlen(unbound),
	    XE_NOT_WELL_FORMED);
	expect_error(XML_MODE_STREAM, NULL, "junk junk\n", 10,
	    XE_NOT_WELL_FORMED);
	/* Unbound prefix inside a stanza. */
	expect_stream_error("<message><x:y/></message>", XE_NOT_WELL_FORMED);
	expect_stream_error("<message></iq>", XE_NOT_WELL_FORMED);
}

static void
test_text_between_stanzas(void **state)
{
	struct col	 c;
	const char	*ws = " \n\t\r\n  ";

	expect_stream_error("<presence/>hello", XE_BAD_FORMAT);
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_feed(c.s, ws, strlen(ws)), 0);
	assert_int_equal(xml_stream_feed(c.s, "<presence/>", 11), 0);
	assert_int_equal(xml_stream_feed(c.s, ws, strlen(ws)), 0);
	assert_int_equal(c.nstanzas, 1);
	assert_int_equal(c.nerr, 0);
	col_done(&c);
}

/* Builds HDR + prefix + n * unit + suffix. */
static char *
repeat(const char *prefix, const char *unit, size_t n, const char *suffix,
    size_t *lenp)
{
	size_t	 hl = strlen(HDR), pl = strlen(prefix), ul = strlen(unit);
	size_t	 sl = strlen(suffix), len = hl + pl + n * ul + sl, i;
	char	*b, *p;

	b = p = malloc(len + 1);
	assert_non_null(b);
	memcpy(p, HDR, hl);
	p += hl;
	memcpy(p, prefix, pl);
	p += pl;
	for (i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, suffix, sl + 1);
	*lenp = len;
	return b;
}

static void
expect_limit(const struct xml_limits *lim, const char *prefix,
    const char *unit, size_t n, const char *suffix)
{
	size_t	 len;
	char	*doc = repeat(prefix, unit, n, suffix, &len);
	double	 t0 = now();

	expect_error(XML_MODE_STREAM, lim, doc, len, XE_POLICY_VIOLATION);
	assert_true(now() - t0 < 2.0);
	free(doc);
}

static void
test_limits(void **state)
{
	struct xml_limits	 big = { 64 << 20, 0, 0, 0 };
	char			 a[32];
	char			*doc, *p;
	size_t			 i, len;
	struct col		 c;

	/* 10,000 attributes, generated with distinct names. */
	doc = malloc(200000);
	assert_non_null(doc);
	p = doc + sprintf(doc, "%s<message", HDR);
	for (i = 0; i < 10000; i++)
		p += sprintf(p, " a%zu='v'", i);
	strcpy(p, "/>");
	expect_error(XML_MODE_STREAM, NULL, doc, strlen(doc),
	    XE_POLICY_VIOLATION);
	expect_error(XML_MODE_STREAM, &big, doc, strlen(doc),
	    XE_POLICY_VIOLATION);
	free(doc);

	expect_limit(NULL, "", "<a>", 10000, "");
	expect_limit(&big, "", "<a>", 10000, "");
	expect_limit(NULL, "<message>", "<a/>", 100000, "</message>");
	expect_limit(&big, "<message>", "<a/>", 100000, "</message>");

	/* At the limits exactly: accepted. */
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(xml_stream_feed(c.s, "<a>", 3), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(xml_stream_feed(c.s, "</a>", 4), 0);
	assert_int_equal(xml_stream_feed(c.s, "<m>", 3), 0);
	for (i = 0; i < 1024; i++)
		assert_int_equal(xml_stream_feed(c.s, "<a/>", 4), 0);
	assert_int_equal(xml_stream_feed(c.s, "</m><m", 6), 0);
	for (i = 0; i < 64; i++) {
		snprintf(a, sizeof(a), " a%zu=''", i);
		assert_int_equal(xml_stream_feed(c.s, a, strlen(a)), 0);
	}
	assert_int_equal(xml_stream_feed(c.s, "/>", 2), 0);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.nstanzas, 3);
	col_done(&c);
	(void)len;
}

/* A 1 MiB attribute value fails near the limit, not after buffering it. */
static void
test_huge_attribute(void **state)
{
	struct col	 c;
	char		*chunk;
	size_t		 fed = 0, cs = 65536, i;
	double		 t0 = now();

	chunk = malloc(cs);
	assert_non_null(chunk);
	memset(chunk, 'x', cs);
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_feed(c.s, "<message a='", 12), 0);
	for (i = 0; i < 16; i++) {
		if (xml_stream_feed(c.s, chunk, cs) == -1)
			break;
		fed += cs;
		assert_true(xml_stream_pending(c.s) <= 256 * 1024 + 16384);
	}
	assert_int_equal(c.nerr, 1);
	assert_int_equal(c.err, XE_POLICY_VIOLATION);
	assert_true(fed <= 256 * 1024);
	assert_true(now() - t0 < 2.0);
	col_done(&c);
	free(chunk);
}

/* An endless stanza that arrives slowly is stopped by its size. */
static void
test_slow_stanza(void **state)
{
	struct xml_limits	 lim = { 1000, 0, 0, 0 };
	struct col		 c;
	size_t			 fed = 0;
	char			 text[100];

	memset(text, 'y', sizeof(text));
	col_init(&c, XML_MODE_STREAM, &lim);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_feed(c.s, "<message><body>", 15), 0);
	while (fed < 100000 && xml_stream_feed(c.s, text, sizeof(text)) == 0)
		fed += sizeof(text);
	assert_int_equal(c.err, XE_POLICY_VIOLATION);
	assert_true(fed <= 1000);
	assert_int_equal(c.nstanzas, 0);
	col_done(&c);

	/* A complete stanza over the limit, in one feed. */
	col_init(&c, XML_MODE_STREAM, &lim);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	memset(text, 'z', sizeof(text));
	assert_int_equal(xml_stream_feed(c.s, "<m>", 3), 0);
	while (fed < 100000 && xml_stream_feed(c.s, text, sizeof(text)) == 0)
		fed += sizeof(text);
	assert_int_equal(c.err, XE_POLICY_VIOLATION);
	col_done(&c);
}

/*
 * expat re-scans a partial token on every feed: a start tag that trickles
 * in byte by byte is refused quickly; one in network-sized pieces is not.
 */
static void
test_trickled_token(void **state)
{
	struct col	 c;
	char		 seg[1460];
	size_t		 fed = 0, i;
	double		 t0 = now();

	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_feed(c.s, "<message a='", 12), 0);
	while (fed < 256 * 1024 && xml_stream_feed(c.s, "x", 1) == 0)
		fed++;
	assert_int_equal(c.err, XE_POLICY_VIOLATION);
	assert_true(fed < 64 * 1024);
	assert_true(now() - t0 < 2.0);
	col_done(&c);

	memset(seg, 'v', sizeof(seg));
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_feed(c.s, "<message a='", 12), 0);
	for (i = 0; i < 64; i++)	/* a 91 KiB attribute value */
		assert_int_equal(xml_stream_feed(c.s, seg, sizeof(seg)), 0);
	assert_int_equal(xml_stream_feed(c.s, "'/>", 3), 0);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.nstanzas, 1);
	assert_int_equal(strlen(xnode_attr(c.first, "a")), 64 * sizeof(seg));
	col_done(&c);
}

static void
test_framed(void **state)
{
	struct col	 c;
	const char	*open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"
	    " to='example.com' version='1.0'/>";
	const char	*msg = "<message xmlns='jabber:client' to='a@b'>"
	    "<body>x</body></message>";
	const char	*close = "<close xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-framing'/>";

	col_init(&c, XML_MODE_FRAMED, NULL);
	assert_int_equal(xml_stream_feed(c.s, open, strlen(open)), 0);
	assert_int_equal(c.opens, 1);
	assert_string_equal(c.hdrns, XMLNS_FRAMING);
	assert_string_equal(c.to, "example.com");
	assert_int_equal(xml_stream_feed(c.s, msg, strlen(msg)), 0);
	assert_int_equal(xml_stream_feed(c.s, msg, strlen(msg)), 0);
	assert_int_equal(c.nstanzas, 2);
	assert_int_equal(xml_stream_feed(c.s, close, strlen(close)), 0);
	assert_int_equal(c.closes, 1);
	/* Incomplete: not-well-formed, sticky until reset. */
	assert_int_equal(xml_stream_feed(c.s, msg, 10), -1);
	assert_int_equal(c.err, XE_NOT_WELL_FORMED);
	assert_int_equal(xml_stream_feed(c.s, msg, strlen(msg)), -1);
	assert_int_equal(c.nerr, 1);
	xml_stream_reset(c.s);
	assert_int_equal(xml_stream_feed(c.s, msg, strlen(msg)), 0);
	assert_int_equal(c.nstanzas, 3);
	col_done(&c);

	expect_error(XML_MODE_FRAMED, NULL, "", 0, XE_NOT_WELL_FORMED);
	expect_error(XML_MODE_FRAMED, NULL, "<a/><b/>", 8, XE_NOT_WELL_FORMED);
	expect_error(XML_MODE_FRAMED, NULL, "<a><!--x--></a>", 15,
	    XE_RESTRICTED_XML);
}

/* SASL success: reset from the stanza callback, new header in one feed. */
static void
test_reset_in_callback(void **state)
{
	struct col	 c;
	const char	*doc = HDR "<auth xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG0zMG0=</auth>"
	    HDR "<iq type='set' id='b'/></stream:stream>";
	size_t		 len = strlen(doc), i;

	for (i = 0; i <= len; i++) {
		col_init(&c, XML_MODE_STREAM, NULL);
		c.reset_on = "auth";
		assert_int_equal(xml_stream_feed(c.s, doc, i), 0);
		assert_int_equal(xml_stream_feed(c.s, doc + i, len - i), 0);
		assert_int_equal(c.nerr, 0);
		assert_int_equal(c.opens, 2);
		assert_int_equal(c.nstanzas, 2);
		assert_int_equal(c.closes, 1);
		assert_string_equal(c.first->name, "auth");
		assert_non_null(strstr(out_str(&c), "<iq type='set' id='b'/>"));
		col_done(&c);
	}
	/* Without the reset, the second XML declaration is misplaced. */
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, doc, len), -1);
	assert_int_equal(c.err, XE_NOT_WELL_FORMED);
	assert_int_equal(c.opens, 1);
	assert_int_equal(c.nstanzas, 1);
	col_done(&c);
}

/* xml_stream_sleep() at every split point: it refuses unless the stream
 * rests between stanzas, and a woken parser goes on as if nothing had
 * happened (same stanzas, the header's namespaces, the closing tag). */
static void
test_sleep(void **state)
{
	struct col	 c;
	size_t		 len = strlen(sample), i;
	int		 slept = 0;

	for (i = 0; i <= len; i++) {
		col_init(&c, XML_MODE_STREAM, NULL);
		assert_int_equal(xml_stream_feed(c.s, sample, i), 0);
		if (xml_stream_sleep(c.s) == 1) {
			slept++;
			assert_int_equal(xml_stream_sleep(c.s), 0);
		}
		assert_int_equal(xml_stream_feed(c.s, sample + i, len - i), 0);
		check_sample(&c);
		col_done(&c);
	}
	assert_true(slept >= 3);	/* at least after each stanza */

	/* a prefix declared on the header still holds after waking */
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR "<presence/>",
	    strlen(HDR "<presence/>")), 0);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "<stream:features/>", 18), 0);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "<message><body>x</bo", 20), 0);
	assert_int_equal(xml_stream_sleep(c.s), -1);	/* mid-stanza */
	assert_int_equal(xml_stream_feed(c.s, "dy></message>", 13), 0);
	assert_int_equal(c.nstanzas, 3);
	assert_int_equal(c.opens, 1);
	assert_string_equal(out_str(&c), "<presence/>\n<features xmlns="
	    "'http://etherx.jabber.org/streams'/>\n<message><body>x</body>"
	    "</message>\n");
	/* a mismatched end tag is still one; so is the stream's own */
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "</stream:stream>", 16), 0);
	assert_int_equal(c.closes, 1);
	assert_int_equal(c.nerr, 0);
	col_done(&c);

	/* the stanza limit counts bytes across a sleep; reset after one */
	col_init(&c, XML_MODE_STREAM, &(struct xml_limits){ .max_stanza = 300 });
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	xml_stream_reset(c.s);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR)), 0);
	assert_int_equal(c.opens, 2);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "<message>", 9), 0);
	for (i = 0; i < 40 && c.nerr == 0; i++)
		(void)xml_stream_feed(c.s, "<b>xxxxxx</b>", 13);
	assert_int_equal(c.nerr, 1);
	assert_int_equal(c.err, XE_POLICY_VIOLATION);
	assert_int_equal(xml_stream_sleep(c.s), -1);	/* failed: stays */
	col_done(&c);

	/* a stream closed on the spot (<stream:stream/>) never sleeps */
	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, "<stream:stream xmlns:stream="
	    "'http://etherx.jabber.org/streams'/>", 64), 0);
	assert_int_equal(xml_stream_sleep(c.s), -1);
	col_done(&c);

	/* framed mode: between documents */
	col_init(&c, XML_MODE_FRAMED, NULL);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "<presence/>", 11), 0);
	assert_int_equal(xml_stream_sleep(c.s), 1);
	assert_int_equal(xml_stream_feed(c.s, "<presence/>", 11), 0);
	assert_int_equal(c.nstanzas, 2);
	col_done(&c);
}

/* The word-at-a-time scan of add_escaped() against a byte loop: every
 * special character at every position of strings of every length up to
 * 40, in text and in attributes. */
static void
ref_escape(struct xbuf *b, const char *s, size_t len, int attr)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		switch (s[i]) {
		case '&':	xbuf_adds(b, "&amp;"); break;
		case '<':	xbuf_adds(b, "&lt;"); break;
		case '>':	xbuf_adds(b, "&gt;"); break;
		case '\r':	xbuf_adds(b, "&#13;"); break;
		case '"':	xbuf_adds(b, attr ? "&quot;" : "\""); break;
		case '\'':	xbuf_adds(b, attr ? "&apos;" : "'"); break;
		case '\t':	xbuf_adds(b, attr ? "&#9;" : "\t"); break;
		case '\n':	xbuf_adds(b, attr ? "&#10;" : "\n"); break;
		default:	xbuf_add(b, s + i, 1);
		}
}

static void
test_escape_scan(void **state)
{
	static const char specials[] = "&<>\r\"'\t\n\x80\xff%";
	struct xbuf	 got, want;
	char		 s[41];
	size_t		 len, pos, k;
	int		 attr;

	for (attr = 0; attr < 2; attr++)
		for (len = 0; len <= 40; len++)
			for (pos = 0; pos <= len; pos++)
				for (k = 0; k < sizeof(specials) - 1; k++) {
					memset(s, 'a' + (int)(len % 26), len);
					if (pos < len)
						s[pos] = specials[k];
					if (pos + 9 < len)	/* a second one */
						s[pos + 9] = specials[
						    (k + 1) % (sizeof(specials) - 1)];
					s[len] = '\0';
					xbuf_init(&got);
					xbuf_init(&want);
					if (attr) {
						xbuf_add_attr(&got, s);
						ref_escape(&want, s, len, 1);
					} else {
						xbuf_add_text(&got, s, len);
						ref_escape(&want, s, len, 0);
					}
					assert_int_equal(got.len, want.len);
					assert_memory_equal(got.data, want.data,
					    got.len);
					xbuf_free(&got);
					xbuf_free(&want);
				}
}

static void
test_reset_after_error(void **state)
{
	struct col	 c;

	col_init(&c, XML_MODE_STREAM, NULL);
	assert_int_equal(xml_stream_feed(c.s, "<bad", 4), 0);
	assert_int_equal(xml_stream_feed(c.s, "<", 1), -1);
	assert_int_equal(c.nerr, 1);
	xml_stream_reset(c.s);
	assert_int_equal(xml_stream_feed(c.s, sample, strlen(sample)), 0);
	assert_int_equal(c.nerr, 1);
	assert_int_equal(c.opens, 1);
	assert_int_equal(c.nstanzas, 4);
	col_done(&c);
}

static void
test_serialize(void **state)
{
	struct xbuf	 b;
	struct xnode	*n, *c, *d;

	xbuf_init(&b);
	n = xnode_new("message", XMLNS_CLIENT);
	xnode_set_attr(n, "to", "a&b<c>\"d'");
	xnode_set_attr_ns(n, XMLNS_XML, "lang", "en");
	c = xnode_add_child(n, "body", NULL);
	xnode_add_text(c, "1 < 2 & 3 > 2 \"'", 16);
	xnode_add_text(c, "\r\n", 2);
	d = xnode_add_child(n, "x", "urn:x");
	xnode_set_attr_ns(d, "urn:a", "p", "1");
	xnode_set_attr(d, "q", "\t\n");
	xnode_set_attr_ns(d, "urn:a", "r", "2");
	xnode_set_attr_ns(d, "urn:b", "s", "3");
	xnode_add_child(d, "y", "urn:x");
	xnode_add_child(d, "z", "");
	xml_serialize(&b, n, XMLNS_CLIENT);
	xbuf_add(&b, "", 1);
	assert_false(b.failed);
	assert_string_equal(b.data,
	    "<message to='a&amp;b&lt;c&gt;&quot;d&apos;' xml:lang='en'>"
	    "<body>1 &lt; 2 &amp; 3 &gt; 2 \"'&#13;\n</body>"
	    "<x xmlns='urn:x' xmlns:a0='urn:a' a0:p='1' q='&#9;&#10;' "
	    "a0:r='2' xmlns:a3='urn:b' a3:s='3'><y/><z xmlns=''/></x>"
	    "</message>");
	xbuf_reset(&b);
	xml_serialize(&b, n, NULL);
	xbuf_add(&b, "", 1);
	assert_non_null(strstr(b.data, "<message xmlns='jabber:client' to="));
	xbuf_reset(&b);
	xml_serialize(&b, c, "jabber:server");
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<body xmlns='jabber:client'>1 &lt; 2 "
	    "&amp; 3 &gt; 2 \"'&#13;\n</body>");
	xbuf_reset(&b);
	xbuf_addf(&b, "%d-%s", 42, "x");
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "42-x", 4);
	xnode_free(n);
	xbuf_free(&b);
}

static int
tree_equal(const struct xnode *a, const struct xnode *b)
{
	size_t	 i;

	if (a->type != b->type)
		return 0;
	if (a->type == XNODE_TEXT)
		return a->textlen == b->textlen &&
		    memcmp(a->text, b->text, a->textlen) == 0;
	if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0 ||
	    a->nattrs != b->nattrs)
		return 0;
	for (i = 0; i < a->nattrs; i++) {
		const char *v = xnode_attr_ns(b, a->attrs[i].ns,
		    a->attrs[i].name);
		if (v == NULL || strcmp(v, a->attrs[i].value) != 0)
			return 0;
	}
	for (a = a->children, b = b->children; a && b; a = a->next,
	    b = b->next)
		if (!tree_equal(a, b))
			return 0;
	return a == NULL && b == NULL;
}

static void
round_trip(const char *doc)
{
	struct xnode	*n, *m, *d;
	struct xbuf	 b, b2;

	xbuf_init(&b);
	xbuf_init(&b2);
	n = xml_parse_element(doc, strlen(doc), NULL);
	assert_non_null(n);
	xml_serialize(&b, n, NULL);
	m = xml_parse_element(b.data, b.len, NULL);
	assert_non_null(m);
	assert_true(tree_equal(n, m));
	xml_serialize(&b2, m, NULL);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	d = xnode_dup(n);
	assert_true(tree_equal(n, d));
	xnode_free(d);
	xnode_free(n);
	xnode_free(m);
	xbuf_free(&b);
	xbuf_free(&b2);
}

static void
test_round_trip(void **state)
{
	round_trip("<message xmlns='jabber:client' to='a@b' id='&quot;&apos;'>"
	    "<body>a&amp;b &lt;c&gt; \r\n\r x&#13;y&#x9;</body>"
	    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns="
	    "'http://www.w3.org/1999/xhtml'><p style='a:b'>t<b>u</b>v</p>"
	    "</body></html><q xmlns=''><r/></q></message>");
	round_trip("<x xmlns='urn:x' xmlns:a='urn:a' xmlns:b='urn:b' a:p='1' "
	    "b:p='2' p='&#9;&#10;&#13; x' xml:lang='de'><a:y b:z='3'/>"
	    "<![CDATA[<&>]]></x>");
	round_trip("<e/>");
	round_trip("<e xmlns='urn:e'>\xf0\x9f\x98\x80 \xe2\x82\xac</e>");
}

static void
test_parse_element(void **state)
{
	struct xml_limits	 lim = { 0, 2, 1, 2 };
	struct xnode		*n;

	n = xml_parse_element("<a xmlns='urn:a'><b/>t</a>", 26, NULL);
	assert_non_null(n);
	assert_string_equal(n->ns, "urn:a");
	assert_string_equal(xnode_first_elem(n)->ns, "urn:a");
	assert_null(xnode_next_elem(xnode_first_elem(n)));
	xnode_free(n);
	assert_null(xml_parse_element("<a><b><c/></b></a>", 18, &lim));
	assert_null(xml_parse_element("<a><b/><b/><b/></a>", 19, &lim));
	assert_null(xml_parse_element("<a x='1' y='2'/>", 16, &lim));
	n = xml_parse_element("<a x='1'><b/><b/></a>", 21, &lim);
	assert_non_null(n);
	xnode_free(n);
	assert_null(xml_parse_element("<a>", 3, NULL));
	assert_null(xml_parse_element("<a/>x", 5, NULL));
	assert_null(xml_parse_element("<?pi?><a/>", 10, NULL));
	n = xml_parse_element("<?xml version='1.0'?><a/>", 25, NULL);
	assert_non_null(n);
	xnode_free(n);
}

static void
test_tree_api(void **state)
{
	struct xnode	*n, *a, *b, *c;
	char		*t;

	n = xnode_new("iq", NULL);
	assert_string_equal(n->ns, "");
	xnode_set_attr(n, "type", "get");
	xnode_set_attr(n, "type", "set");
	xnode_set_attr(n, "id", "1");
	xnode_set_attr_ns(n, "urn:x", "id", "2");
	assert_int_equal(n->nattrs, 3);
	assert_string_equal(xnode_attr(n, "type"), "set");
	assert_string_equal(xnode_attr(n, "id"), "1");
	assert_string_equal(xnode_attr_ns(n, "urn:x", "id"), "2");
	xnode_set_attr(n, "id", NULL);
	assert_null(xnode_attr(n, "id"));
	assert_string_equal(xnode_attr_ns(n, "urn:x", "id"), "2");
	assert_int_equal(n->nattrs, 2);
	xnode_add_text(n, "ab", 2);
	a = xnode_add_child(n, "a", "urn:a");
	xnode_add_text(n, "cd", 2);
	xnode_add_text(n, "ef", 2);
	b = xnode_add_child(n, "b", NULL);
	assert_string_equal(b->ns, "");
	c = xnode_add_child(n, "c", "urn:c");
	t = xnode_text(n);
	assert_string_equal(t, "abcdef");
	free(t);
	assert_ptr_equal(xnode_first_elem(n), a);
	assert_ptr_equal(xnode_next_elem(a), b);
	assert_ptr_equal(xnode_child(n, "c", NULL), c);
	assert_null(xnode_child(n, "c", "urn:a"));
	xnode_unlink(b);
	assert_ptr_equal(xnode_next_elem(a), c);
	assert_null(b->parent);
	xnode_append(c, b);
	xnode_free(c);			/* unlinks and frees c and b */
	assert_int_equal(n->last->type, XNODE_TEXT);
	assert_null(xnode_child(n, "c", NULL));
	b = n->children;		/* first text */
	xnode_unlink(b);
	assert_ptr_equal(n->children, a);
	xnode_free(b);
	xnode_free(n);
	assert_string_equal(xml_error_condition(XE_POLICY_VIOLATION),
	    "policy-violation");
	assert_string_equal(xml_error_condition(XE_RESTRICTED_XML),
	    "restricted-xml");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_normal),
		cmocka_unit_test(test_stream_splits),
		cmocka_unit_test(test_sleep),
		cmocka_unit_test(test_escape_scan),
		cmocka_unit_test(test_stream_prompt),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_stream_namespace),
		cmocka_unit_test(test_text_between_stanzas),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_huge_attribute),
		cmocka_unit_test(test_slow_stanza),
		cmocka_unit_test(test_trickled_token),
		cmocka_unit_test(test_framed),
		cmocka_unit_test(test_reset_in_callback),
		cmocka_unit_test(test_reset_after_error),
		cmocka_unit_test(test_serialize),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_element),
		cmocka_unit_test(test_tree_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
