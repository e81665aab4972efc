/*
 * c2sd_http.c - the HTTP/1.1 side of the web listeners (docs/web.md).
 *
 * c2sd_conn.c hands every byte read on an "http" or "https" connection to
 * http_input().  This file parses request heads strictly with a small
 * parser of our own (http_parse, fuzzed by tests/fuzz/fuzz_http.c): CRLF
 * line ends only, no obs-fold, token header names, at most HTTP_MAX_HEADER
 * bytes and HTTP_MAX_FIELDS fields, Content-Length only (no chunked
 * request bodies), bodies no larger than max-stanza-size.  A complete
 * request goes to the WebSocket upgrade (c2sd_ws.c), to BOSH
 * (c2sd_bosh.c) or to the XEP-0156 host-meta documents answered here.
 *
 * Invariants: one request is in service at a time (no pipelining: bytes
 * that follow wait in the buffer until the answer is queued); the input
 * buffer never grows beyond the head limit plus the body limit; every
 * malformed request gets a status and the connection closes.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "c2sd.h"

struct http {
	struct xbuf	 in;		/* unconsumed bytes */
	struct http_request req;
	long		 headlen;	/* 0: head not parsed yet */
	int		 busy;		/* a request waits for its answer */
	int		 in_dispatch;
	int		 close_after;	/* Connection: close, HTTP/1.0, errors */
};

/*
 * CORS (XEP-0124 section 16, XEP-0156 section 3), from cors-origin: "*"
 * (the default) lets pages of any origin use BOSH and read host-meta;
 * "none" sends no CORS header, so only same-origin pages can; otherwise
 * a list of origins (RFC 6454 serializations, separated by spaces or
 * commas): a request whose Origin is one of them gets it echoed, with
 * "Vary: Origin" on every answer so caches keep them apart, and a
 * WebSocket handshake from a page of another origin is refused (403),
 * since browsers apply no CORS to WebSocket (RFC 6455 10.2).
 * Credentials are never allowed.
 */
enum cors_mode { CORS_ANY, CORS_NONE, CORS_LIST };
static enum cors_mode	cors_mode = CORS_ANY;
static char		cors_list[1024];
#define CORS_SEP	" ,"

/* ---- the parser ---- */

static int
is_tchar(int ch)
{
	return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Copies a header value; -1 if it does not fit. */
static int
copy_value(char *dst, size_t size, const char *v, size_t len, int append)
{
	size_t have = append ? strlen(dst) : 0;

	if (append && have > 0) {
		if (have + 2 + len >= size)
			return -1;
		memcpy(dst + have, ", ", 2);
		have += 2;
	} else if (len >= size)
		return -1;
	memcpy(dst + have, v, len);
	dst[have + len] = '\0';
	return 0;
}

static long
parse_length(struct http_request *r, const char *v, size_t len)
{
	unsigned long long n = 0;
	size_t i;

	if (len == 0 || len > 12)
		return -400;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		n = n * 10 + (unsigned)(v[i] - '0');
	}
	if (r->has_length && r->content_length != n)
		return -400;	/* RFC 9112 6.3: conflicting lengths */
	r->content_length = n;
	r->has_length = 1;
	return 0;
}

/* Copies the first item of a comma-separated list, unquoted, if it fits
 * (else nothing: a proxy's header we cannot use is ignored). */
static void
copy_first(char *dst, size_t size, const char *v, size_t len)
{
	size_t n = 0;

	while (n < len && v[n] != ',' && v[n] != ';')
		n++;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n < size && memchr(v, '"', n) == NULL) {
		memcpy(dst, v, n);
		dst[n] = '\0';
	}
}

/*
 * Forwarded (RFC 7239 4): the first element is the one the proxy nearest
 * the client wrote; of its pairs we use proto and host.
 */
static void
parse_forwarded(struct http_request *r, const char *v, size_t len)
{
	size_t	i = 0, n;

	if (r->fwd_rfc)
		return;		/* the first Forwarded field only */
	r->fwd_rfc = 1;
	r->fwd_proto[0] = r->fwd_host[0] = '\0';
	while (i < len && v[i] != ',') {
		while (i < len && (v[i] == ' ' || v[i] == ';'))
			i++;
		for (n = i; n < len && v[n] != '=' && v[n] != ';' &&
		    v[n] != ','; n++)
			;
		if (n == len || v[n] != '=') {
			i = n;
			continue;
		}
		if (n - i == 5 && strncasecmp(v + i, "proto", 5) == 0)
			copy_first(r->fwd_proto, sizeof(r->fwd_proto),
			    v + n + 1, len - n - 1);
		else if (n - i == 4 && strncasecmp(v + i, "host", 4) == 0)
			copy_first(r->fwd_host, sizeof(r->fwd_host),
			    v + n + 1, len - n - 1);
		for (i = n + 1; i < len && v[i] != ';' && v[i] != ','; i++)
			if (v[i] == '"')	/* quoted-string: skip it */
				while (++i < len && v[i] != '"')
					;
	}
}

/* One header field, name and value already trimmed. */
static long
parse_field(struct http_request *r, const char *n, size_t nlen,
    const char *v, size_t vlen)
{
#define IS(s)	(nlen == sizeof(s) - 1 && strncasecmp(n, s, nlen) == 0)
	if (IS("content-length"))
		return parse_length(r, v, vlen);
	if (IS("transfer-encoding"))
		return -501;	/* browsers send Content-Length */
	if (IS("host"))
		return copy_value(r->host, sizeof(r->host), v, vlen, 0) ?
		    -400 : 0;
	if (IS("forwarded")) {
		parse_forwarded(r, v, vlen);
		return 0;
	}
	if (IS("x-forwarded-proto") && !r->fwd_rfc && !r->fwd_proto[0]) {
		copy_first(r->fwd_proto, sizeof(r->fwd_proto), v, vlen);
		return 0;
	}
	if (IS("x-forwarded-host") && !r->fwd_rfc && !r->fwd_host[0]) {
		copy_first(r->fwd_host, sizeof(r->fwd_host), v, vlen);
		return 0;
	}
	if (IS("origin"))
		return copy_value(r->origin, sizeof(r->origin), v, vlen, 0) ?
		    -400 : 0;
	if (IS("upgrade"))
		return copy_value(r->upgrade, sizeof(r->upgrade), v, vlen, 1) ?
		    -400 : 0;
	if (IS("connection"))
		return copy_value(r->connection, sizeof(r->connection), v,
		    vlen, 1) ? -400 : 0;
	if (IS("sec-websocket-key"))
		return copy_value(r->ws_key, sizeof(r->ws_key), v, vlen, 0) ?
		    -400 : 0;
	if (IS("sec-websocket-version"))
		return copy_value(r->ws_version, sizeof(r->ws_version), v,
		    vlen, 0) ? -400 : 0;
	if (IS("sec-websocket-protocol"))
		return copy_value(r->ws_protocol, sizeof(r->ws_protocol), v,
		    vlen, 1) ? -431 : 0;
#undef IS
	return 0;
}

/* "METHOD SP /target SP HTTP/1.x"; the query string is dropped. */
static long
parse_request_line(struct http_request *r, const char *p, size_t len)
{
	size_t i = 0, m = 0, t = 0;

	while (i < len && p[i] >= 'A' && p[i] <= 'Z' && m < sizeof(r->method) - 1)
		r->method[m++] = p[i++];
	r->method[m] = '\0';
	if (m == 0 || i == len || p[i++] != ' ' || i == len || p[i] != '/')
		return -400;
	for (; i < len && p[i] != ' '; i++) {
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return -400;
		if (t == sizeof(r->path) - 1)
			return -414;
		r->path[t++] = p[i];
	}
	r->path[t] = '\0';
	if ((t = strcspn(r->path, "?#")) < sizeof(r->path))
		r->path[t] = '\0';
	if (i == len || p[i++] != ' ' || len - i != 8 ||
	    strncmp(p + i, "HTTP/1.", 7) != 0)
		return -400;
	if (p[i + 7] != '0' && p[i + 7] != '1')
		return -505;
	r->minor = p[i + 7] - '0';
	return 0;
}

/* One "name: value" line (no CRLF). */
static long
parse_line(struct http_request *r, const char *p, size_t len)
{
	size_t	i, n, vs, ve;

	if (len > 0 && (p[0] == ' ' || p[0] == '\t'))
		return -400;	/* obs-fold, RFC 9112 5.2 */
	for (n = 0; n < len && is_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || n == len || p[n] != ':')
		return -400;
	for (i = n + 1; i < len; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			return -400;
		else if (p[i] == 0x7f)
			return -400;
	for (vs = n + 1; vs < len && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	for (ve = len; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'); ve--)
		;
	if (++r->nfields > HTTP_MAX_FIELDS)
		return -431;
	return parse_field(r, p, n, p + vs, ve - vs);
}

/*
 * Parses a request head.  Returns 0 while the head is incomplete, the
 * head's length once it is complete, or minus the HTTP status to answer
 * (400, 414, 431, 501, 505).  `r` is overwritten.
 */
long
http_parse(const char *buf, size_t len, struct http_request *r)
{
	size_t	 lim = len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER;
	size_t	 off = 0, eol;
	const char *nl;
	long	 e;

	memset(r, 0, sizeof(*r));
	for (;;) {
		nl = memchr(buf + off, '\n', lim - off);
		if (nl == NULL)
			return len >= HTTP_MAX_HEADER ? -431 : 0;
		eol = (size_t)(nl - buf);
		if (eol == off || buf[eol - 1] != '\r' ||
		    memchr(buf + off, '\0', eol - off) != NULL)
			return -400;	/* bare LF or NUL */
		if (eol - 1 == off && off > 0)
			return (long)eol + 1;	/* the empty line */
		e = off == 0 ? parse_request_line(r, buf, eol - 1) :
		    parse_line(r, buf + off, eol - 1 - off);
		if (e < 0)
			return e;
		off = eol + 1;
	}
}

/* ---- responses ---- */

static const char *
reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* The cors-origin value routerd sent; -1 if it is not one we can use. */
int
http_set_cors(const char *v)
{
	const char	*p;
	size_t		 l;

	if (strcmp(v, "*") == 0 || strcmp(v, "none") == 0) {
		cors_mode = *v == '*' ? CORS_ANY : CORS_NONE;
		return 0;
	}
	if (strlen(v) >= sizeof(cors_list) || v[strspn(v, CORS_SEP)] == '\0')
		return -1;
	for (p = v; *p; p++)	/* it goes into a header */
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return -1;
	for (p = v + strspn(v, CORS_SEP); *p; p += l, p += strspn(p, CORS_SEP)) {
		l = strcspn(p, CORS_SEP);
		if (strncmp(p, "http://", 7) != 0 &&
		    strncmp(p, "https://", 8) != 0)
			return -1;
	}
	memcpy(cors_list, v, strlen(v) + 1);
	cors_mode = CORS_LIST;
	return 0;
}

/* Whether `origin` is in the list; scheme and host compare without case
 * (RFC 6454 6.1 serializes them in lower case, admins may not). */
static int
origin_listed(const char *origin)
{
	const char	*p;
	size_t		 l, n = strlen(origin);

	for (p = cors_list + strspn(cors_list, CORS_SEP); *p;
	    p += l, p += strspn(p, CORS_SEP)) {
		l = strcspn(p, CORS_SEP);
		if (l == n && strncasecmp(p, origin, n) == 0)
			return 1;
	}
	return 0;
}

/* Whether a request's Origin may use the WebSocket endpoint: requests
 * without one are not from a browser page. */
static int
origin_allowed(const struct http_request *r)
{
	return cors_mode != CORS_LIST || r->origin[0] == '\0' ||
	    origin_listed(r->origin);
}

/* The CORS header lines for the request being answered on `c`. */
int
http_cors(struct conn *c, char *buf, size_t size)
{
	const char	*origin = c->http ? c->http->req.origin : "";
	const char	*allow = "*", *vary = "";
	int		 n;

	buf[0] = '\0';
	if (cors_mode == CORS_NONE)
		return 0;
	if (cors_mode == CORS_LIST) {
		vary = "Vary: Origin\r\n";
		if (origin[0] == '\0' || !origin_listed(origin)) {
			n = snprintf(buf, size, "%s", vary);
			return n < 0 || (size_t)n >= size ? -1 : 0;
		}
		allow = origin;
	}
	n = snprintf(buf, size, "Access-Control-Allow-Origin: %s\r\n%s"
	    "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
	    "Access-Control-Allow-Headers: Content-Type\r\n"
	    "Access-Control-Max-Age: 86400\r\n", allow, vary);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

void
http_respond(struct conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len)
{
	struct http	*h = c->http;
	struct xbuf	 b;
	char		 cors[640];

	if (c->dead || h == NULL)
		return;
	if (status >= 400 && status != 404)
		h->close_after = 1;
	if (http_cors(c, cors, sizeof(cors)) == -1)
		cors[0] = '\0';
	xbuf_init(&b);
	xbuf_addf(&b, "HTTP/1.1 %d %s\r\nServer: rampart\r\n"
	    "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s",
	    status, reason(status), len, cors);
	if (ctype)
		xbuf_addf(&b, "Content-Type: %s\r\n", ctype);
	if (extra)
		xbuf_adds(&b, extra);
	if (h->close_after)
		xbuf_adds(&b, "Connection: close\r\n");
	xbuf_adds(&b, "\r\n");
	if (len)
		xbuf_add(&b, body, len);
	if (!b.failed)
		conn_write_raw(c, b.data, b.len);
	xbuf_free(&b);
	http_request_done(c);
}

static void
http_error(struct conn *c, int status)
{
	char body[64];
	int n;

	log_info("conn %llu from %s: HTTP %d", (unsigned long long)c->id,
	    c->peer, status);
	c->http->close_after = 1;
	n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	http_respond(c, status, "text/plain", NULL, body, (size_t)n);
}

/* ---- XEP-0156 discovery ---- */

/* The Host header names where the client reached us; only a plain
 * host[:port] may be echoed into the documents. */
static int
host_ok(const char *h)
{
	if (*h == '\0')
		return 0;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-:[]", *h))
			return 0;
	return 1;
}

/*
 * The plain listener is for a reverse proxy that terminates TLS
 * (docs/web.md): there, what the proxy says the client used (Forwarded:
 * proto=https;host=..., or X-Forwarded-Proto/-Host) names the public
 * URLs.  On the TLS listener no proxy is in between: headers are ignored.
 */
static void
host_meta(struct conn *c, const struct http_request *r, int json)
{
	const char	*s = c->lkind == LK_HTTPS ? "s" : "";
	const char	*host = r->host;
	struct xbuf	 b;

	if (c->lkind == LK_HTTP) {
		if (strcasecmp(r->fwd_proto, "https") == 0)
			s = "s";
		if (r->fwd_host[0] != '\0')
			host = r->fwd_host;
	}
	if (!host_ok(host)) {
		http_error(c, 400);
		return;
	}
	xbuf_init(&b);
	if (json)
		xbuf_addf(&b, "{\"links\":[{\"rel\":\"urn:xmpp:alt-connections:"
		    "xbosh\",\"href\":\"http%s://%s/http-bind\"},{\"rel\":"
		    "\"urn:xmpp:alt-connections:websocket\",\"href\":"
		    "\"ws%s://%s/xmpp-websocket\"}]}\n", s, host, s, host);
	else
		xbuf_addf(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
		    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
		    "<Link rel='urn:xmpp:alt-connections:xbosh' "
		    "href='http%s://%s/http-bind'/>\n"
		    "<Link rel='urn:xmpp:alt-connections:websocket' "
		    "href='ws%s://%s/xmpp-websocket'/>\n</XRD>\n",
		    s, host, s, host);
	if (b.failed)
		http_error(c, 503);
	else
		http_respond(c, 200, json ? "application/json" :
		    "application/xrd+xml", NULL, b.data, b.len);
	xbuf_free(&b);
}

/* ---- dispatch ---- */

static void
dispatch(struct conn *c, const struct http_request *r, const char *body,
    size_t len)
{
	int get = strcmp(r->method, "GET") == 0;

	if (strcmp(r->method, "OPTIONS") == 0)	/* CORS preflight */
		http_respond(c, 204, NULL, NULL, NULL, 0);
	else if (strcmp(r->path, "/xmpp-websocket") == 0 && get &&
	    !origin_allowed(r)) {
		log_info("conn %llu from %s: WebSocket from origin %s refused",
		    (unsigned long long)c->id, c->peer, r->origin);
		http_error(c, 403);
	} else if (strcmp(r->path, "/xmpp-websocket") == 0 && get) {
		if (ws_upgrade(c, r) == -1 && !c->dead && c->proto == CP_HTTP)
			http_error(c, 400);
	} else if (strcmp(r->path, "/http-bind") == 0 &&
	    strcmp(r->method, "POST") == 0)
		bosh_request(c, r, body, len);
	else if (strcmp(r->path, "/.well-known/host-meta") == 0 && get)
		host_meta(c, r, 0);
	else if (strcmp(r->path, "/.well-known/host-meta.json") == 0 && get)
		host_meta(c, r, 1);
	else if (strcmp(r->path, "/http-bind") == 0 ||
	    strcmp(r->path, "/xmpp-websocket") == 0)
		http_respond(c, 405, "text/plain", "Allow: POST, OPTIONS\r\n",
		    "405 Method Not Allowed\n", 23);
	else if (static_serve(c, r) == 0)
		;	/* a file under web-prefix (c2sd_static.c) */
	else
		http_error(c, 404);
}

/* Consume `n` bytes from the front of the input buffer. */
static void
consume(struct http *h, size_t n)
{
	memmove(h->in.data, h->in.data + n, h->in.len - n);
	h->in.len -= n;
}

/* Serve complete requests from the buffer, one at a time. */
static void
process(struct conn *c)
{
	struct http		*h = c->http;
	struct http_request	 r;
	long			 n;
	size_t			 total;

	while (!c->dead && c->proto == CP_HTTP && !h->busy &&
	    !h->close_after && h->in.len > 0) {
		if (h->headlen == 0) {
			if ((n = http_parse(h->in.data, h->in.len, &h->req)) == 0)
				return;
			if (n < 0) {
				http_error(c, (int)-n);
				return;
			}
			h->headlen = n;
			if (h->req.content_length > c2sd_conf.max_stanza_size) {
				http_error(c, 413);
				return;
			}
			if (h->req.minor == 0 || strcasestr(h->req.connection,
			    "close") != NULL)
				h->close_after = 1;
		}
		total = (size_t)h->headlen + h->req.content_length;
		if (h->in.len < total)
			return;
		r = h->req;
		h->headlen = 0;
		h->busy = 1;
		h->in_dispatch = 1;
		dispatch(c, &r, h->in.data + (total - r.content_length),
		    r.content_length);
		if (c->dead || c->http == NULL)
			return;
		h->in_dispatch = 0;
		consume(h, total);
		if (c->proto == CP_WS) {
			/* bytes after the upgrade are WebSocket frames */
			if (h->in.len > 0)
				ws_input(c, h->in.data, h->in.len);
			return;
		}
	}
}

void
http_input(struct conn *c, const char *data, size_t len)
{
	struct http *h = c->http;

	if (h == NULL) {
		if ((h = calloc(1, sizeof(*h))) == NULL) {
			conn_destroy(c);
			return;
		}
		xbuf_init(&h->in);
		c->http = h;
	}
	if (h->in.len + len > HTTP_MAX_HEADER + c2sd_conf.max_stanza_size) {
		if (h->busy) {	/* pipelining a flood: no answer owed */
			conn_destroy(c);
			return;
		}
		h->in.len = 0;
		http_error(c, h->headlen ? 413 : 431);
		return;
	}
	xbuf_add(&h->in, data, len);
	if (h->in.failed) {
		conn_destroy(c);
		return;
	}
	process(c);
}

/* The answer to the current request is queued: read the next one. */
void
http_request_done(struct conn *c)
{
	struct http *h = c->http;

	if (h == NULL || c->dead)
		return;
	h->busy = 0;
	c->bosh_owner = NULL;
	if (h->close_after) {
		c->close_when_flushed = 1;
		conn_reading(c, 0);
		return;
	}
	conn_reading(c, 1);
	conn_set_timer(c, (unsigned)c2sd_conf.unauth_timeout);
	if (!h->in_dispatch && h->in.len > 0)
		process(c);
}

void
http_free(struct conn *c)
{
	if (c->http == NULL)
		return;
	xbuf_free(&c->http->in);
	free(c->http);
	c->http = NULL;
}
