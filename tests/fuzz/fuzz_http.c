/*
 * fuzz_http.c - libFuzzer target for c2sd's HTTP request parser
 * (c2sd/c2sd_http.c, docs/web.md).
 *
 * The input goes (1) to http_parse() whole, whose answer must be one of
 * its documented results: 0 only while no complete head fits in
 * HTTP_MAX_HEADER bytes, a head length that ends with CRLF CRLF inside
 * the input and the limit, or minus an HTTP error status; every field it
 * filled is NUL-terminated and the field count is bounded; (2) through
 * http_input() on a fake connection, cut into pieces at byte offsets the
 * first input byte chooses, with the rest of c2sd stubbed: every request
 * must be answered or refused without touching memory it does not own.
 *
 * Seeds are in tests/fuzz/http/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "c2sd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct c2sd_conf c2sd_conf = { .max_stanza_size = 65536,
    .unauth_timeout = 30 };
static size_t	answers;

/* Stubs for what c2sd_http.c calls in the rest of c2sd. */
void conn_write_raw(struct conn *c, const char *d, size_t l) { answers++; }
void conn_reading(struct conn *c, int on) { }
void conn_set_timer(struct conn *c, unsigned s) { }
void conn_destroy(struct conn *c) { c->dead = 1; }
int ws_upgrade(struct conn *c, const struct http_request *r) { return -1; }
void ws_input(struct conn *c, const char *d, size_t l) { }
void
bosh_request(struct conn *c, const struct http_request *r, const char *b,
    size_t l)
{
	http_respond(c, 200, "text/xml", NULL, b, l);
}

static void
check_str(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static void
parse_whole(const uint8_t *data, size_t size)
{
	struct http_request r;
	long n;

	n = http_parse((const char *)data, size, &r);
	if (n == 0 && size >= HTTP_MAX_HEADER)
		abort();
	if (n > 0 && ((size_t)n > size || n > HTTP_MAX_HEADER || n < 4 ||
	    memcmp(data + n - 4, "\r\n\r\n", 4) != 0))
		abort();
	if (n < 0 && n != -400 && n != -414 && n != -431 && n != -501 &&
	    n != -505)
		abort();
	if (n > 0) {
		if (r.nfields > HTTP_MAX_FIELDS || r.path[0] != '/')
			abort();
		check_str(r.method, sizeof(r.method));
		check_str(r.path, sizeof(r.path));
		check_str(r.host, sizeof(r.host));
		check_str(r.ws_protocol, sizeof(r.ws_protocol));
		check_str(r.connection, sizeof(r.connection));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn	c;
	size_t		off = 0, step;

	parse_whole(data, size);
	if (size < 1)
		return 0;
	step = 1 + data[0] % 64;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.proto = CP_HTTP;
	answers = 0;
	for (off = 1; off < size && !c.dead && !c.close_when_flushed;
	    off += step) {
		c.in_feed = 1;
		http_input(&c, (const char *)data + off,
		    size - off < step ? size - off : step);
		c.in_feed = 0;
	}
	http_free(&c);
	return 0;
}
