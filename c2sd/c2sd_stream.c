/*
 * c2sd_stream.c - RFC 6120 stream negotiation for one client connection.
 *
 * The XML parser (common/xml.c) calls back here with the stream header,
 * each top-level element and the stream end.  This file checks the header
 * (section 4.7: namespace, 'to' names a hosted domain, version 1.0),
 * answers with our header and the features that apply in the current
 * state (TLS first when require-tls is on, section 5.3.1), and hands each
 * element to the subject that owns it: STARTTLS here, SASL to c2sd_sasl.c,
 * bind and stanzas to c2sd_session.c, XEP-0198/0352 to c2sd_sm.c.
 *
 * STARTTLS (section 5.4.3.3): the <proceed/> is written after the feed
 * returns, reading stops, and the handshake starts only once the proceed
 * has left the queue; plaintext the parser already held is discarded with
 * the parser reset.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "c2sd.h"

struct host *
host_find(const char *name)
{
	struct host *h;

	TAILQ_FOREACH(h, &c2sd_hosts, entry)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

void
stream_send_header(struct conn *c, const char *to)
{
	struct xbuf b;

	c2sd_random_hex(c->stream_id, C2SD_STREAM_ID_LEN);
	c->hdr_sent = 1;
	if (c->proto == CP_BOSH)
		return;	/* XEP-0206: the session's <body/> is the header */
	xbuf_init(&b);
	if (c->proto == CP_WS)	/* RFC 7395 3.3.2 */
		xbuf_adds(&b, "<open xmlns='" XMLNS_FRAMING "' id='");
	else
		xbuf_adds(&b, "<?xml version='1.0'?><stream:stream xmlns='"
		    XMLNS_CLIENT "' xmlns:stream='" XMLNS_STREAM "' id='");
	xbuf_adds(&b, c->stream_id);
	xbuf_adds(&b, "'");
	if (c->host) {
		xbuf_adds(&b, " from='");
		xbuf_add_attr(&b, c->host->name);
		xbuf_adds(&b, "'");
	}
	if (to) {	/* section 4.7.2: echo the client's 'from' */
		xbuf_adds(&b, " to='");
		xbuf_add_attr(&b, to);
		xbuf_adds(&b, "'");
	}
	xbuf_adds(&b, c->proto == CP_WS ? " version='1.0' xml:lang='en'/>" :
	    " version='1.0' xml:lang='en'>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

void
stream_send_features(struct conn *c)
{
	struct xnode	*f, *n;
	struct xbuf	 b;
	size_t		 i;

	if ((f = xnode_new("features", XMLNS_STREAM)) == NULL) {
		conn_destroy(c);
		return;
	}
	if (!conn_is_secure(c) && c2sd_conf.require_tls &&
	    c->proto == CP_XMPP)
		feature_starttls(c, f);	/* nothing else before TLS */
	else
		for (i = 0; c2sd_stream_features[i].name; i++)
			c2sd_stream_features[i].add(c, f);
	xbuf_init(&b);
	xbuf_adds(&b, "<stream:features>");
	for (n = xnode_first_elem(f); n; n = xnode_next_elem(n))
		xml_serialize(&b, n, XMLNS_CLIENT);
	xbuf_adds(&b, "</stream:features>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	xnode_free(f);
}

void
feature_starttls(struct conn *c, struct xnode *f)
{
	struct xnode	*n;
	struct host	*h = c->host;

	if (c->ssl != NULL || h == NULL || h->ctx == NULL ||
	    c->proto != CP_XMPP)
		return;	/* over HTTP, TLS is the web server's business */
	n = xnode_add_child(f, "starttls", NS_TLS);
	if (n && c2sd_conf.require_tls)
		xnode_add_child(n, "required", NS_TLS);
}

void
feature_bind(struct conn *c, struct xnode *f)
{
	if (c->user != NULL && c->session == NULL)
		xnode_add_child(f, "bind", NS_BIND);
}

/* RFC 3921 session establishment, optional since RFC 6121 (and
 * draft-cridland-xmpp-session-01): offered so old clients still work. */
void
feature_session(struct conn *c, struct xnode *f)
{
	struct xnode *n;

	if (c->user != NULL && c->session == NULL &&
	    (n = xnode_add_child(f, "session", NS_SESSION)) != NULL)
		xnode_add_child(n, "optional", NS_SESSION);
}

/* RFC 6121 3.4.1: imd honours subscription pre-approvals. */
void
feature_preapproval(struct conn *c, struct xnode *f)
{
	if (c->user != NULL && c->session == NULL)
		xnode_add_child(f, "sub", NS_PREAPPROVAL);
}

/* RFC 6121 2.6.1: imd keeps roster versions. */
void
feature_rosterver(struct conn *c, struct xnode *f)
{
	if (c->user != NULL && c->session == NULL)
		xnode_add_child(f, "ver", NS_ROSTERVER);
}

static int
check_version(const char *v)
{
	char		*end;
	unsigned long	 major;

	if (v == NULL)
		return -1;	/* section 4.7.5: no version means 0.9 */
	major = strtoul(v, &end, 10);
	if (end == v || *end != '.' || major < 1)
		return -1;
	return 0;
}

static void
cb_stream_open(void *arg, const struct xnode *hdr)
{
	struct conn	*c = arg;
	const char	*to, *from;
	char		 dom[JID_PART_MAX + 1], fromn[JID_MAX + 1];
	struct host	*h = NULL;

	if (c->state != CS_WAIT_HEADER || c->starttls_pending)
		return;
	to = xnode_attr(hdr, "to");
	if (to && jid_prep_domain(to, strlen(to), dom) == 0)
		h = host_find(dom);
	if (c->host == NULL)
		c->host = h;
	from = xnode_attr(hdr, "from");
	if (from == NULL || jid_normalize(from, fromn, sizeof(fromn)) == -1)
		from = NULL;
	else
		from = fromn;
	stream_send_header(c, from);
	if (hdr->ns == NULL || (c->proto == CP_WS ?
	    strcmp(hdr->ns, XMLNS_FRAMING) != 0 :
	    (strcmp(hdr->name, "stream") != 0 ||
	    strcmp(hdr->ns, XMLNS_STREAM) != 0))) {
		conn_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (h == NULL || h != c->host) {
		conn_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (check_version(xnode_attr(hdr, "version")) == -1) {
		conn_stream_error(c, "unsupported-version", NULL);
		return;
	}
	c->state = CS_NEGOTIATE;
	stream_send_features(c);
}

static void
starttls_request(struct conn *c, struct xnode *n)
{
	if (c->ssl != NULL || c->host == NULL || c->host->ctx == NULL ||
	    c->proto != CP_XMPP || strcmp(n->name, "starttls") != 0) {
		/* section 5.4.2.2: failure, then close */
		conn_writes(c, "<failure xmlns='" NS_TLS "'/>");
		conn_close(c);
		return;
	}
	c->starttls_pending = 1;
}

/* Before authentication: STARTTLS, SASL and XEP-0077 registration. */
static void
negotiate_unauth(struct conn *c, struct xnode *n)
{
	if (n->ns && strcmp(n->ns, NS_TLS) == 0) {
		starttls_request(c, n);
		return;
	}
	if (!conn_is_secure(c) && c2sd_conf.require_tls) {
		conn_stream_error(c, "policy-violation",
		    "STARTTLS is required");
		return;
	}
	if (n->ns && strcmp(n->ns, NS_SASL) == 0) {
		sasl_client_element(c, n);
		return;
	}
	if (register_unauth(c, n) == 0)
		return;
	conn_stream_error(c, "not-authorized", NULL);	/* section 4.9.3.12 */
}

/* Authenticated, not bound: bind, resume, or the legacy session iq. */
static void
negotiate_auth(struct conn *c, struct xnode *n)
{
	if (n->ns && strcmp(n->ns, NS_SM) == 0) {
		if (strcmp(n->name, "resume") == 0)
			sm_resume_request(c, n);
		else
			(void)sm_client_element(c, n);
		return;
	}
	if (n->ns && strcmp(n->ns, XMLNS_CLIENT) == 0 &&
	    strcmp(n->name, "iq") == 0 &&
	    xnode_child(n, "bind", NS_BIND) != NULL) {
		session_bind_request(c, n);
		return;
	}
	if (n->ns && strcmp(n->ns, NS_SASL) == 0) {
		conn_stream_error(c, "policy-violation",
		    "Already authenticated");
		return;
	}
	conn_stream_error(c, "not-authorized", "Bind a resource first");
}

static void
established(struct conn *c, struct xnode *n)
{
	if (n->ns && strcmp(n->ns, XMLNS_CLIENT) == 0) {
		session_client_stanza(c, n);
		return;
	}
	if (n->ns && strcmp(n->ns, NS_SM) == 0) {
		(void)sm_client_element(c, n);
		return;
	}
	if (n->ns && strcmp(n->ns, NS_CSI) == 0 && c->session) {
		if (strcmp(n->name, "inactive") == 0)
			c->session->inactive = 1;
		else if (strcmp(n->name, "active") == 0) {
			c->session->inactive = 0;
			csi_flush(c->session);
		}
		return;
	}
	conn_stream_error(c, "unsupported-stanza-type", NULL);
}

/* One top-level element; we own `n` only for the duration of the call
 * unless it is parked in c->pend. */
void
stream_element(struct conn *c, struct xnode *n)
{
	if (n->ns && strcmp(n->ns, XMLNS_STREAM) == 0 &&
	    strcmp(n->name, "error") == 0) {
		/* the client gives up (RFC 6120 4.9.1.1): close our side */
		log_info("conn %llu from %s: stream error from the client",
		    (unsigned long long)c->id, c->peer);
		conn_close(c);
		c->close_when_flushed = 1;
		xnode_free(n);
		return;
	}
	switch (c->state) {
	case CS_NEGOTIATE:
		if (c->user == NULL)
			negotiate_unauth(c, n);
		else
			negotiate_auth(c, n);
		break;
	case CS_SASL_WAIT:
		if (n->ns && strcmp(n->ns, NS_SASL) == 0)
			sasl_client_element(c, n);
		else
			conn_stream_error(c, "not-authorized", NULL);
		break;
	case CS_BIND_WAIT:
		/* Pipelined after bind (e.g. <enable/>): replayed once
		 * the bind is answered. */
		if (c->npend == C2SD_MAX_PIPELINED) {
			conn_stream_error(c, "policy-violation",
			    "Too much pipelined before bind completed");
			break;
		}
		c->pend[c->npend++] = n;
		return;
	case CS_ESTABLISHED:
		established(c, n);
		break;
	default:
		break;	/* closing or before the header: ignore */
	}
	xnode_free(n);
}

void
stream_replay_pending(struct conn *c)
{
	size_t	i, n = c->npend;
	struct xnode *pend[C2SD_MAX_PIPELINED];

	memcpy(pend, c->pend, n * sizeof(pend[0]));
	c->npend = 0;
	for (i = 0; i < n; i++) {
		if (c->dead || c->state == CS_CLOSING ||
		    c->state == CS_BIND_WAIT)
			xnode_free(pend[i]);
		else
			stream_element(c, pend[i]);
	}
}

static void
cb_stanza(void *arg, struct xnode *n)
{
	struct conn *c = arg;

	if (c->dead || c->starttls_pending) {
		xnode_free(n);	/* plaintext after <starttls/>: dropped */
		return;
	}
	stream_element(c, n);
}

static void
cb_stream_close(void *arg)
{
	struct conn *c = arg;

	if (c->starttls_pending)
		return;
	if (c->state == CS_CLOSING) {
		/* the answer to our closing tag: end as conn_linger says */
		c->close_when_flushed = 1;
		conn_flush_soon(c);
		return;
	}
	/* A clean close ends the session without hibernation (XEP-0198 5). */
	conn_close(c);
	c->close_when_flushed = 1;
}

static void
cb_error(void *arg, enum xml_error e, const char *detail)
{
	struct conn *c = arg;

	if (c->starttls_pending)
		return;	/* plaintext after <starttls/>: discarded */
	if (c->state == CS_CLOSING) {
		conn_destroy(c);
		return;
	}
	conn_stream_error(c, xml_error_condition(e), detail);
}

const struct xml_callbacks stream_callbacks = {
	.stream_open = cb_stream_open,
	.stanza = cb_stanza,
	.stream_close = cb_stream_close,
	.error = cb_error,
};

void
stream_after_feed(struct conn *c)
{
	if (!c->starttls_pending || c->dead)
		return;
	c->starttls_pending = 0;
	conn_writes(c, "<proceed xmlns='" NS_TLS "'/>");
	c->state = CS_TLS_HANDSHAKE;
	if (c->reading) {
		event_del(c->ev_read);
		c->reading = 0;
	}
	/* conn_flush() calls conn_start_tls() once <proceed/> is written. */
}
