/*
 * c2sd_ws.c - XMPP over WebSocket (RFC 7395) on the web listeners.
 *
 * c2sd_http.c calls ws_upgrade() for GET /xmpp-websocket.  The handshake
 * (RFC 6455 4.2) must offer the "xmpp" subprotocol (RFC 7395 3.2); we
 * answer 101 and the connection becomes CP_WS: from then on wslay parses
 * frames (masking, fragments, ping/pong, close, the message size limit =
 * max-stanza-size, answered with close code 1009) and every text message
 * is fed to the connection's parser in XML_MODE_FRAMED, so the stream,
 * SASL, bind, routing and XEP-0198 code is the same as for TCP.
 *
 * Output: every piece c2sd_conn.c queues is one element; xml_fixup()
 * makes it a standalone document (RFC 7395 3.3.3: namespaces declared on
 * each stanza) and ws_append() frames it itself, unmasked, as one text
 * frame, so a queued stanza can still be bounced (chunk->skip is the
 * frame header).  </stream:stream> becomes <close/> followed by a
 * WebSocket close frame, after which the TCP connection closes once the
 * queue is written (RFC 7395 3.6); a whitespace keepalive becomes a
 * WebSocket ping (RFC 7395 3.7).  wslay's own output (pongs, close
 * replies) is written whole by ws_send_cb, so it never interleaves with
 * ours inside a frame.  When wslay itself fails the connection (a message
 * over max-stanza-size: 1009, bad UTF-8: 1007, ...), the stream error and
 * <close/> go out before its close frame, as a TCP client would get the
 * stream error.  Nothing is framed after a close frame: a stanza written
 * then goes back to the session code as undelivered.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "log.h"
#include "c2sd.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN	24	/* base64 of 16 bytes */

struct ws {
	wslay_event_context_ptr ctx;
	const char	*in;		/* bytes of the current read */
	size_t		 inlen;
	int		 close_out;	/* a close frame is queued: no more */
	int		 wslay_close;	/* wslay's close frame comes next */
	uint8_t		 ctl[2 + 125];	/* wslay's control frame, collected */
	size_t		 nctl;
};

/* ---- output: documents for framed transports ---- */

/* Length of the qualified name at the start of `s` ("stream:features"). */
static size_t
qname_len(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == '>' || s[i] == '/' ||
		    s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
			break;
	return i;
}

/* Whether the start tag starting at s[0] == '<' has an xmlns attribute. */
static int
has_xmlns(const char *s, size_t len)
{
	char	q = 0;
	size_t	i;

	for (i = 1; i < len; i++) {
		if (q) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '\'' || s[i] == '"')
			q = s[i];
		else if (s[i] == '>')
			return 0;
		else if ((s[i] == ' ' || s[i] == '\t') && len - i > 6 &&
		    strncmp(s + i + 1, "xmlns", 5) == 0 &&
		    (s[i + 6] == '=' || s[i + 6] == ' '))
			return 1;
	}
	return 0;
}

/*
 * Makes one serialized element a standalone document: stream-prefixed
 * elements declare the prefix, others without a default namespace get
 * jabber:client.  Returns 1 with the element in `b`, 2 for
 * </stream:stream>, 0 for whitespace, -1 on failure.
 */
int
xml_fixup(struct xbuf *b, const char *s, size_t len)
{
	size_t	i, n;

	for (i = 0; i < len && strchr(" \t\r\n", s[i]) != NULL; i++)
		;
	if (i == len)
		return 0;
	s += i;
	len -= i;
	if (len >= 16 && strncmp(s, "</stream:stream>", 16) == 0)
		return 2;
	if (s[0] != '<' || len < 2 || s[1] == '?' || s[1] == '/')
		return -1;
	n = 1 + qname_len(s + 1, len - 1);
	xbuf_add(b, s, n);
	if (n > 8 && strncmp(s, "<stream:", 8) == 0)
		xbuf_adds(b, " xmlns:stream='" XMLNS_STREAM "'");
	else if (!has_xmlns(s, len))
		xbuf_adds(b, " xmlns='" XMLNS_CLIENT "'");
	xbuf_add(b, s + n, len - n);
	return b->failed ? -1 : 1;
}

/* One unmasked frame (RFC 6455 5.2) holding `payload`. */
static int
ws_frame(struct conn *c, int opcode, const char *payload, size_t len,
    uint8_t kind, uint8_t stype)
{
	char	*f;
	size_t	 h;
	int	 r;

	if (len > SIZE_MAX - 10 || (f = malloc(len + 10)) == NULL)
		return -1;
	f[0] = (char)(0x80 | opcode);
	if (len < 126) {
		f[1] = (char)len;
		h = 2;
	} else if (len <= 0xffff) {
		f[1] = 126;
		f[2] = (char)(len >> 8);
		f[3] = (char)len;
		h = 4;
	} else {
		f[1] = 127;
		for (h = 0; h < 8; h++)
			f[2 + h] = (char)((uint64_t)len >> (56 - 8 * h));
		h = 10;
	}
	memcpy(f + h, payload, len);
	r = conn_queue(c, f, h + len, (uint16_t)h, kind, stype);
	free(f);
	return r;
}

/* <close/>, then (unless wslay queued one) a close frame, 1000 "normal
 * closure" (RFC 6455 7.4.1); the TCP connection goes once both are out. */
static int
ws_close(struct conn *c)
{
	static const char close_doc[] = "<close xmlns='" XMLNS_FRAMING "'/>";
	static const char normal[] = { 0x03, (char)0xe8 };

	if (ws_frame(c, WSLAY_TEXT_FRAME, close_doc, sizeof(close_doc) - 1,
	    RK_NONE, RS_NONE) == -1)
		return -1;
	c->close_when_flushed = 1;
	if (c->ws->wslay_close)
		return 0;
	c->ws->close_out = 1;
	return ws_frame(c, WSLAY_CONNECTION_CLOSE, normal, sizeof(normal),
	    RK_NONE, RS_NONE);
}

int
ws_append(struct conn *c, const char *data, size_t len, uint8_t kind,
    uint8_t stype)
{
	struct xbuf	b;
	int		r;

	if (c->ws->close_out) {	/* RFC 6455 5.5.1: no data after close */
		if (kind != RK_NONE && c->session)
			session_return(c->session, kind, stype, data, len,
			    "service-unavailable");
		return 0;
	}
	xbuf_init(&b);
	switch (xml_fixup(&b, data, len)) {
	case 0:
		r = ws_frame(c, WSLAY_PING, "", 0, RK_NONE, RS_NONE);
		break;
	case 1:
		r = ws_frame(c, WSLAY_TEXT_FRAME, b.data, b.len, kind, stype);
		break;
	case 2:
		r = ws_close(c);
		break;
	default:
		r = -1;
		break;
	}
	xbuf_free(&b);
	return r;
}

/* ---- wslay callbacks ---- */

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *arg)
{
	struct ws	*w = ((struct conn *)arg)->ws;
	size_t		 n;

	if (w->inlen == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = len < w->inlen ? len : w->inlen;
	memcpy(buf, w->in, n);
	w->in += n;
	w->inlen -= n;
	return (ssize_t)n;
}

/* wslay closes the connection on its own (not a reply to the client's
 * close): the stream error comes first, named after the close code. */
static void
ws_fail(struct conn *c, const uint8_t *frame, size_t len)
{
	unsigned	 code = 0;

	/* a control frame's payload is under 126 bytes: header 2 bytes */
	if (len >= 4)
		code = (unsigned)frame[2] << 8 | frame[3];
	switch (code) {
	case WSLAY_CODE_MESSAGE_TOO_BIG:	/* as max-stanza-size on TCP */
		conn_stream_error(c, "policy-violation",
		    "Message over max-stanza-size");
		break;
	case WSLAY_CODE_UNSUPPORTED_DATA:	/* RFC 7395 3.2: text only */
		conn_stream_error(c, "unsupported-encoding", NULL);
		break;
	case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:	/* not UTF-8 */
		conn_stream_error(c, "not-well-formed", NULL);
		break;
	default:
		conn_stream_error(c, "bad-format", NULL);
		break;
	}
}

/*
 * wslay sends only control frames (pongs, closes: we frame our data
 * ourselves), header and payload in separate calls; each is collected
 * whole (RFC 6455 5.5: at most 125 bytes of payload) before it is queued,
 * so a close can be preceded by the stream error it stands for.
 */
static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct conn	*c = arg;
	struct ws	*w = c->ws;

	if (w->close_out)	/* ours went first: nothing follows it */
		return (ssize_t)len;
	if (len > sizeof(w->ctl) - w->nctl) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(w->ctl + w->nctl, data, len);
	w->nctl += len;
	if (w->nctl < 2 || w->nctl < 2 + (size_t)(w->ctl[1] & 0x7f))
		return (ssize_t)len;
	if ((w->ctl[0] & 0x0f) == WSLAY_CONNECTION_CLOSE) {
		w->wslay_close = 1;
		if (!wslay_event_get_close_received(ctx))
			ws_fail(c, w->ctl, w->nctl);
		w->close_out = 1;
	}
	conn_write_raw(c, (const char *)w->ctl, w->nctl);
	w->nctl = 0;
	return (ssize_t)len;
}

static void
ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	switch (m->opcode) {
	case WSLAY_TEXT_FRAME:
		/* RFC 7395 3.3.3: one document per message */
		(void)xml_stream_feed(c->xs, (const char *)m->msg,
		    m->msg_length);
		break;
	case WSLAY_BINARY_FRAME:	/* RFC 7395 3.2: text only */
		(void)wslay_event_queue_close(ctx,
		    WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0);
		break;
	case WSLAY_CONNECTION_CLOSE:
		/* wslay answers it; without <close/> first it is an
		 * unclean end, which stream management may resume */
		c->close_when_flushed = 1;
		conn_flush_soon(c);
		break;
	default:
		break;	/* ping/pong: wslay answers pings */
	}
}

/* ---- the handshake ---- */

/* Whether the comma-separated list `v` holds `tok` (case-insensitive). */
static int
has_token(const char *v, const char *tok)
{
	size_t	n = strlen(tok), l;

	while (*v) {
		v += strspn(v, " \t,");
		l = strcspn(v, " \t,");
		if (l == n && strncasecmp(v, tok, n) == 0)
			return 1;
		v += l;
	}
	return 0;
}

static int
accept_key(const char *key, char *out, size_t size)
{
	unsigned char	 md[SHA_DIGEST_LENGTH];
	char		 buf[WS_KEY_LEN + sizeof(WS_GUID)];

	if (strlen(key) != WS_KEY_LEN || size < 29)
		return -1;
	memcpy(buf, key, WS_KEY_LEN);
	memcpy(buf + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1((const unsigned char *)buf, WS_KEY_LEN + sizeof(WS_GUID) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	return 0;
}

static int
ws_start(struct conn *c)
{
	struct wslay_event_callbacks cb = {
		.recv_callback = ws_recv_cb,
		.send_callback = ws_send_cb,
		.on_msg_recv_callback = ws_msg_cb,
	};

	if ((c->ws = calloc(1, sizeof(*c->ws))) == NULL)
		return -1;
	if (wslay_event_context_server_init(&c->ws->ctx, &cb, c) != 0) {
		free(c->ws);
		c->ws = NULL;
		return -1;
	}
	wslay_event_config_set_max_recv_msg_length(c->ws->ctx,
	    c2sd_conf.max_stanza_size);
	c->xs = xml_stream_new(XML_MODE_FRAMED, &(struct xml_limits){
	    .max_stanza = c2sd_conf.max_stanza_size }, &stream_callbacks, c);
	return c->xs == NULL ? -1 : 0;
}

/*
 * RFC 6455 4.2.1 checks and RFC 7395 3.2 subprotocol negotiation.
 * -1: the caller answers 400 (the client's WebSocket fails).
 */
int
ws_upgrade(struct conn *c, const struct http_request *r)
{
	char	 key[32], hdr[256];
	int	 n;

	if (r->minor != 1 || !has_token(r->upgrade, "websocket") ||
	    !has_token(r->connection, "upgrade") ||
	    strcmp(r->ws_version, "13") != 0 ||
	    accept_key(r->ws_key, key, sizeof(key)) == -1) {
		log_info("conn %llu from %s: bad WebSocket handshake",
		    (unsigned long long)c->id, c->peer);
		return -1;
	}
	if (!has_token(r->ws_protocol, "xmpp")) {
		log_info("conn %llu from %s: WebSocket without the xmpp "
		    "subprotocol", (unsigned long long)c->id, c->peer);
		return -1;
	}
	if (ws_start(c) == -1) {
		conn_destroy(c);
		return 0;
	}
	n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
	    key);
	conn_write_raw(c, hdr, (size_t)n);
	c->proto = CP_WS;
	c->state = CS_WAIT_HEADER;
	conn_reading(c, 1);
	conn_set_timer(c, (unsigned)c2sd_conf.unauth_timeout);
	log_debug("conn %llu: WebSocket", (unsigned long long)c->id);
	return 0;
}

void
ws_input(struct conn *c, const char *data, size_t len)
{
	struct ws *w = c->ws;

	if (w == NULL || c->dead)
		return;
	w->in = data;
	w->inlen = len;
	if (wslay_event_recv(w->ctx) != 0) {
		conn_destroy(c);
		return;
	}
	if (c->dead)
		return;
	w->inlen = 0;
	(void)wslay_event_send(w->ctx);	/* pongs, close replies */
	if (wslay_event_get_close_sent(w->ctx)) {
		/* the client's close frame without <close/> is an unclean
		 * end (stream management may resume); ours ends the stream */
		if (!wslay_event_get_close_received(w->ctx))
			c->no_resume = 1;
		c->close_when_flushed = 1;
		conn_reading(c, 0);
		conn_flush_soon(c);
	}
}

void
ws_free(struct conn *c)
{
	if (c->ws == NULL)
		return;
	wslay_event_context_free(c->ws->ctx);
	free(c->ws);
	c->ws = NULL;
}
