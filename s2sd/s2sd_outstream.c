/*
 * s2sd_outstream.c - negotiating a stream we opened to a remote server
 * (RFC 6120 4-5, XEP-0220), the parser callbacks of SK_SERVER_OUT.
 *
 * connect -> our header -> their header and features -> STARTTLS (RFC
 * 6120 5.4; required unless s2s-require-tls is 0) -> TLS handshake -> new
 * header -> features -> SASL EXTERNAL when offered (XEP-0178: the peer
 * accepted our certificate), then a new stream; or else db:result with
 * our key (XEP-0220 2.1.1) -> type='valid'.  Then the route is
 * authenticated, its queue goes out and waiting db:verify requests
 * follow.
 *
 * Only answers to what we sent count: a db:result that does not match
 * the one we sent, or a db:verify we did not ask for, is ignored
 * (logged).  Outgoing streams carry stanzas one way only: a stanza the
 * remote sends on it is ignored.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "s2sd.h"

static void
send_header(struct s2s_conn *c)
{
	struct xbuf b;

	xbuf_init(&b);
	xbuf_addf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' "
	    "xmlns:stream='%s' xmlns:db='%s' version='1.0' from='",
	    XMLNS_SERVER, XMLNS_STREAM, NS_DIALBACK);
	xbuf_add_attr(&b, c->local);
	xbuf_adds(&b, "' to='");
	xbuf_add_attr(&b, c->remote);
	xbuf_adds(&b, "'>");
	c->header_sent = 1;
	c->phase = OP_HEADER;
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

void
out_connected(struct s2s_conn *c)
{
	log_debug("%s -> %s: connected to %s", c->local, c->remote, c->peer);
	if (c->direct_tls) {
		if (tls_conn_start(c) == -1)
			conn_close(c);
		return;
	}
	send_header(c);
}

void
out_tls_ready(struct s2s_conn *c)
{
	log_debug("%s -> %s: TLS up (certificate %s)", c->local, c->remote,
	    tls_peer_valid(c, c->remote) ? "valid" : "not valid");
	send_header(c);
}

static void
on_stream_open(void *arg, const struct xnode *hdr)
{
	struct s2s_conn	*c = arg;
	const char	*id = xnode_attr(hdr, "id");

	if (id == NULL || strlen(id) >= sizeof(c->stream_id) || id[0] == '\0') {
		conn_stream_error(c, "invalid-id", NULL);	/* dialback needs it */
		return;
	}
	memcpy(c->stream_id, id, strlen(id) + 1);
}

/* XEP-0220 2.1.1: our key for this stream id, sent as db:result. */
static void
send_result(struct s2s_conn *c)
{
	char		key[65];
	struct xbuf	b;

	dialback_key(c->remote, c->local, c->stream_id, key);
	xbuf_init(&b);
	xbuf_addf(&b, "<db:result xmlns:db='%s' from='", NS_DIALBACK);
	xbuf_add_attr(&b, c->local);
	xbuf_adds(&b, "' to='");
	xbuf_add_attr(&b, c->remote);
	xbuf_addf(&b, "'>%s</db:result>", key);
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	c->phase = OP_DIALBACK;
}

static void
authed(struct s2s_conn *c)
{
	c->phase = OP_READY;
	c->state = SS_AUTHED;
	if (c->route) {
		remote_authed(c->route);
		remote_send_verifies(c->route);
	}
}

static int
offers_external(const struct xnode *features)
{
	struct xnode	*m, *x;
	char		*t;
	int		 found = 0;

	if ((m = xnode_child(features, "mechanisms", NS_SASL)) == NULL)
		return 0;
	for (x = xnode_first_elem(m); x && !found; x = xnode_next_elem(x)) {
		if (strcmp(x->name, "mechanism") != 0 ||
		    (t = xnode_text(x)) == NULL)
			continue;
		found = strcmp(t, "EXTERNAL") == 0;
		free(t);
	}
	return found;
}

/* XEP-0178 section 3: EXTERNAL with our domain as authorization id. */
static void
send_auth(struct s2s_conn *c)
{
	char	b64[sizeof(c->local) * 4 / 3 + 8];

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)c->local,
	    strlen(c->local), sodium_base64_VARIANT_ORIGINAL);
	conn_writes(c, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>");
	conn_writes(c, b64);
	conn_writes(c, "</auth>");
	c->phase = OP_SASL;
}

/* No certificate authentication: dialback, unless it is not allowed. */
static void
dialback(struct s2s_conn *c)
{
	if (s2sd_conf.require_cert) {
		log_info("%s -> %s: certificates required, no dialback",
		    c->local, c->remote);
		if (c->route)
			remote_conn_gone(c->route, "remote-server-not-found");
		conn_writes(c, "</stream:stream>");
		conn_end(c);
		return;
	}
	send_result(c);
	if (c->route)
		remote_send_verifies(c->route);
}

static void
on_sasl(struct s2s_conn *c, struct xnode *n)
{
	if (c->phase != OP_SASL) {
		log_info("%s -> %s: unsolicited SASL <%s/> ignored", c->local,
		    c->remote, n->name);
		return;
	}
	if (strcmp(n->name, "success") == 0) {
		log_info("%s -> %s: SASL EXTERNAL accepted", c->local,
		    c->remote);
		c->sasl_done = 1;
		xml_stream_reset(c->xs);
		send_header(c);
		return;
	}
	log_info("%s -> %s: SASL EXTERNAL refused, trying dialback",
	    c->local, c->remote);
	c->sasl_failed = 1;
	dialback(c);
}

static void
on_features(struct s2s_conn *c, struct xnode *n)
{
	if (!c->tls) {
		if (xnode_child(n, "starttls", NS_TLS) != NULL) {
			conn_writes(c, "<starttls xmlns='" NS_TLS "'/>");
			c->phase = OP_STARTTLS;
			return;
		}
		if (s2sd_conf.require_tls) {
			log_info("%s -> %s: no STARTTLS offered", c->local,
			    c->remote);
			conn_stream_error(c, "policy-violation",
			    "TLS is required");
			return;
		}
	}
	if (c->sasl_done) {
		/* the stream after SASL success (RFC 6120 6.4.6) */
		authed(c);
		return;
	}
	if (s2sd_conf.require_cert && !tls_peer_valid(c, c->remote)) {
		log_info("%s -> %s: certificate not valid for %s", c->local,
		    c->remote, c->remote);
		conn_stream_error(c, "policy-violation", NULL);
		return;
	}
	if (offers_external(n) && !c->sasl_failed) {
		send_auth(c);
		return;
	}
	dialback(c);
}

static void
on_result(struct s2s_conn *c, struct xnode *n)
{
	const char *type = xnode_attr(n, "type");
	const char *from = xnode_attr(n, "from"), *to = xnode_attr(n, "to");

	if (c->phase != OP_DIALBACK || type == NULL || from == NULL ||
	    to == NULL || strcmp(from, c->remote) != 0 ||
	    strcmp(to, c->local) != 0) {
		log_info("%s -> %s: unsolicited db:result ignored", c->local,
		    c->remote);
		return;
	}
	if (strcmp(type, "valid") != 0) {
		log_info("%s -> %s: dialback refused (%s)", c->local,
		    c->remote, type);
		if (c->route)
			remote_conn_gone(c->route, "remote-server-not-found");
		conn_writes(c, "</stream:stream>");
		conn_end(c);
		return;
	}
	authed(c);
}

static void
on_verify(struct s2s_conn *c, struct xnode *n)
{
	const char *type = xnode_attr(n, "type"), *id = xnode_attr(n, "id");
	const char *from = xnode_attr(n, "from"), *to = xnode_attr(n, "to");

	if (c->route == NULL || type == NULL || id == NULL || from == NULL ||
	    to == NULL || strcmp(from, c->remote) != 0 ||
	    strcmp(to, c->local) != 0) {
		log_info("%s -> %s: unsolicited db:verify ignored", c->local,
		    c->remote);
		return;
	}
	remote_verify_answer(c->route, id, strcmp(type, "valid") == 0);
}

static void
on_stanza(void *arg, struct xnode *n)
{
	struct s2s_conn *c = arg;

	if (strcmp(n->ns, XMLNS_STREAM) == 0 &&
	    strcmp(n->name, "features") == 0)
		on_features(c, n);
	else if (strcmp(n->ns, XMLNS_STREAM) == 0 &&
	    strcmp(n->name, "error") == 0) {
		log_info("%s -> %s: stream error from the remote", c->local,
		    c->remote);
		conn_close(c);
	} else if (strcmp(n->ns, NS_TLS) == 0 &&
	    strcmp(n->name, "proceed") == 0 && c->phase == OP_STARTTLS) {
		c->phase = OP_TLS;
		if (tls_conn_start(c) == -1)
			conn_close(c);
	} else if (strcmp(n->ns, NS_SASL) == 0)
		on_sasl(c, n);
	else if (strcmp(n->ns, NS_DIALBACK) == 0 &&
	    strcmp(n->name, "result") == 0)
		on_result(c, n);
	else if (strcmp(n->ns, NS_DIALBACK) == 0 &&
	    strcmp(n->name, "verify") == 0)
		on_verify(c, n);
	else
		log_debug("%s -> %s: <%s/> ignored on an outgoing stream",
		    c->local, c->remote, n->name);
	xnode_free(n);
}

const struct xml_callbacks out_callbacks = {
	.stream_open = on_stream_open,
	.stanza = on_stanza,
	.stream_close = conn_on_stream_close,
	.error = conn_on_xml_error,
};
