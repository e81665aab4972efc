/*
 * fuzz_xml.c - libFuzzer target for common/xml.c.
 *
 * The first input byte chooses how the rest is cut into feeds (so every
 * split path of the incremental parser is reached; with odd sizes the
 * parser is put to sleep between feeds) and whether a stanza
 * callback restarts the stream as after SASL success; the rest goes to the
 * stream parser, to the framed parser as one message, and to
 * xml_parse_element().  Every tree that comes out is serialized and must
 * parse back; the error callback must run at most once per stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml.h"

struct fuzz_state {
	struct xml_stream	*s;
	int			 errors;
	int			 reset_on_stanza;
};

static void
check_round_trip(const struct xnode *n)
{
	struct xbuf	 b;
	struct xnode	*m;
	struct xml_limits lim = { 64 << 20, 1 << 16, 1 << 16, 1 << 20 };

	xbuf_init(&b);
	xml_serialize(&b, n, NULL);
	if (!b.failed) {
		m = xml_parse_element(b.data, b.len, &lim);
		if (m == NULL)
			abort();	/* our own output must parse */
		xnode_free(m);
	}
	xbuf_free(&b);
}

static void
f_open(void *arg, const struct xnode *hdr)
{
	(void)xnode_attr(hdr, "to");
}

static void
f_stanza(void *arg, struct xnode *n)
{
	struct fuzz_state	*fs = arg;
	char			*t;

	check_round_trip(n);
	if ((t = xnode_text(n)) != NULL)
		free(t);
	if (fs->reset_on_stanza)
		xml_stream_reset(fs->s);
	xnode_free(n);
}

static void
f_close(void *arg)
{
}

static void
f_error(void *arg, enum xml_error e, const char *detail)
{
	struct fuzz_state	*fs = arg;

	if (++fs->errors > 1 || detail == NULL ||
	    xml_error_condition(e) == NULL)
		abort();
}

static const struct xml_callbacks fcb = { f_open, f_stanza, f_close, f_error };

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_limits	 lim = { 4096, 16, 16, 64 };
	struct fuzz_state	 fs;
	struct xnode		*n;
	const char		*p;
	size_t			 chunk, len, k;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x3f) + 1;
	p = (const char *)data + 1;
	len = size - 1;

	memset(&fs, 0, sizeof(fs));
	fs.reset_on_stanza = (data[0] & 0x40) != 0;
	if ((fs.s = xml_stream_new(XML_MODE_STREAM,
	    (data[0] & 0x80) ? &lim : NULL, &fcb, &fs)) == NULL)
		return 0;
	for (k = 0; k < len; k += chunk) {
		if (xml_stream_feed(fs.s, p + k,
		    len - k < chunk ? len - k : chunk) == -1)
			break;
		/* odd chunk sizes: let the parser go between feeds whenever
		 * it may (c2sd's idle sweep); nothing else may change */
		if (chunk & 1)
			(void)xml_stream_sleep(fs.s);
	}
	(void)xml_stream_pending(fs.s);
	xml_stream_free(fs.s);

	memset(&fs, 0, sizeof(fs));
	if ((fs.s = xml_stream_new(XML_MODE_FRAMED, NULL, &fcb, &fs)) == NULL)
		return 0;
	(void)xml_stream_feed(fs.s, p, len);
	xml_stream_free(fs.s);

	if ((n = xml_parse_element(p, len, NULL)) != NULL) {
		check_round_trip(n);
		xnode_free(n);
	}
	return 0;
}
