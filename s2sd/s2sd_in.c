/*
 * s2sd_in.c - streams remote servers open to us (RFC 6120, we are the
 * receiving entity), the parser callbacks of SK_SERVER_IN.
 *
 * Header -> features: STARTTLS first (required unless s2s-require-tls
 * is 0), then, over TLS, dialback (XEP-0220; not offered when
 * s2s-require-cert is set).  A db:result asks us to check a key: we ask
 * the originating domain's authoritative server over our own route to it
 * (s2sd_out.c) and answer valid or invalid when it replies; only then
 * does this stream speak for that domain pair.  A db:verify asks us, as
 * the authoritative server, whether a key we generated is valid; we
 * answer at once from the dialback secret.
 *
 * Invariant: a stanza is routed only if its from domain and to domain are
 * a pair this stream authenticated (RFC 6120 4.9.3.9 invalid-from
 * otherwise) and its type is valid.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "s2sd.h"

/* Our domains: hosted, or a subdomain of one (conference., components). */
static int
ours(const char *domain)
{
	const char	*dot;

	if (host_find(domain) != NULL)
		return 1;
	for (dot = strchr(domain, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if (host_find(dot + 1) != NULL)
			return 1;
	return 0;
}

static void
send_features(struct s2s_conn *c)
{
	struct xbuf b;

	xbuf_init(&b);
	xbuf_adds(&b, "<stream:features>");
	if (!c->tls && host_first_tls() != NULL)
		xbuf_addf(&b, "<starttls xmlns='%s'>%s</starttls>", NS_TLS,
		    s2sd_conf.require_tls ? "<required/>" : "");
	else {
		/* XEP-0178 section 3: EXTERNAL only when the certificate is
		 * valid for the domain the header named */
		if (!c->sasl_done && c->remote[0] != '\0' &&
		    tls_peer_valid(c, c->remote))
			xbuf_addf(&b, "<mechanisms xmlns='%s'><mechanism>"
			    "EXTERNAL</mechanism></mechanisms>", NS_SASL);
		if (!s2sd_conf.require_cert)
			xbuf_addf(&b, "<dialback xmlns='%s'><errors/>"
			    "</dialback>", NS_DIALBACK_FEAT);
	}
	xbuf_adds(&b, "</stream:features>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

static void
on_stream_open(void *arg, const struct xnode *hdr)
{
	struct s2s_conn	*c = arg;
	const char	*to = xnode_attr(hdr, "to"), *from = xnode_attr(hdr, "from");
	unsigned char	 rnd[S2SD_STREAM_ID_LEN];
	struct xbuf	 b;

	if (to == NULL || jid_prep_domain(to, strlen(to), c->local) == -1 ||
	    !ours(c->local)) {
		conn_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (from == NULL || jid_prep_domain(from, strlen(from),
	    c->remote) == -1)
		c->remote[0] = '\0';
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(c->stream_id, sizeof(c->stream_id), rnd, sizeof(rnd));
	xbuf_init(&b);
	xbuf_addf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' "
	    "xmlns:stream='%s' xmlns:db='%s' version='1.0' id='%s' from='",
	    XMLNS_SERVER, XMLNS_STREAM, NS_DIALBACK, c->stream_id);
	xbuf_add_attr(&b, c->local);
	if (c->remote[0] != '\0') {
		xbuf_adds(&b, "' to='");
		xbuf_add_attr(&b, c->remote);
	}
	xbuf_adds(&b, "'>");
	c->header_sent = 1;
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	send_features(c);
}

void
in_tls_ready(struct s2s_conn *c)
{
	c->header_sent = 0;	/* the peer opens a new stream (5.4.3.3) */
}

/* An incoming stream ends without a closing tag (the remote server or
 * the network failed): for each domain pair it carried that no other
 * incoming stream carries, the remote users' presence is lost. */
void
in_lost(struct s2s_conn *c)
{
	int i;

	for (i = 0; i < c->npairs; i++)
		if (c->pairs[i].state == 1 && !conn_in_authed(c,
		    c->pairs[i].local, c->pairs[i].remote))
			stanza_domain_lost(c->pairs[i].local,
			    c->pairs[i].remote);
}

static struct s2s_pair *
pair_find(struct s2s_conn *c, const char *local, const char *remote)
{
	int i;

	for (i = 0; i < c->npairs; i++)
		if (strcmp(c->pairs[i].local, local) == 0 &&
		    strcmp(c->pairs[i].remote, remote) == 0)
			return &c->pairs[i];
	return NULL;
}

static void
db_answer(struct s2s_conn *c, const char *elem, const char *from,
    const char *to, const char *id, const char *type)
{
	struct xbuf b;

	xbuf_init(&b);
	xbuf_addf(&b, "<db:%s xmlns:db='%s' from='", elem, NS_DIALBACK);
	xbuf_add_attr(&b, from);
	xbuf_adds(&b, "' to='");
	xbuf_add_attr(&b, to);
	if (id != NULL) {
		xbuf_adds(&b, "' id='");
		xbuf_add_attr(&b, id);
	}
	xbuf_addf(&b, "' type='%s'/>", type);
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

/* XEP-0220 2.1.1 step 2: the originating server asks to be believed. */
static void
on_result(struct s2s_conn *c, struct xnode *n)
{
	const char	*f = xnode_attr(n, "from"), *t = xnode_attr(n, "to");
	char		 from[JID_PART_MAX + 1], to[JID_PART_MAX + 1], *key;
	struct s2s_pair	*p;

	if (xnode_attr(n, "type") != NULL) {
		log_info("%s: unsolicited db:result ignored", c->peer);
		return;
	}
	if (s2sd_conf.require_cert || (s2sd_conf.require_tls && !c->tls)) {
		conn_stream_error(c, "not-authorized", NULL);
		return;
	}
	if (f == NULL || t == NULL ||
	    jid_prep_domain(f, strlen(f), from) == -1 ||
	    jid_prep_domain(t, strlen(t), to) == -1 || !ours(to) || ours(from)) {
		conn_stream_error(c, "improper-addressing", NULL);
		return;
	}
	if ((p = pair_find(c, to, from)) != NULL && p->state == 1)
		return;		/* already valid: nothing to do */
	if (p == NULL) {
		if (c->npairs == S2SD_MAX_AUTHED) {
			conn_stream_error(c, "policy-violation", NULL);
			return;
		}
		p = &c->pairs[c->npairs++];
		memcpy(p->local, to, sizeof(p->local));
		memcpy(p->remote, from, sizeof(p->remote));
		p->state = 0;
	}
	if ((key = xnode_text(n)) == NULL ||
	    remote_verify(to, from, c->id, c->stream_id, key) == -1) {
		db_answer(c, "result", to, from, NULL, "invalid");
		c->npairs--;
	}
	free(key);
}

/* XEP-0220 2.1.2 step 4: we are the authoritative server for `to`. */
static void
on_verify(struct s2s_conn *c, struct xnode *n)
{
	const char	*from = xnode_attr(n, "from"), *to = xnode_attr(n, "to");
	const char	*id = xnode_attr(n, "id");
	char		*key;
	int		 ok;

	if (xnode_attr(n, "type") != NULL) {
		log_info("%s: unsolicited db:verify answer ignored", c->peer);
		return;
	}
	if (from == NULL || to == NULL || id == NULL) {
		conn_stream_error(c, "improper-addressing", NULL);
		return;
	}
	if ((key = xnode_text(n)) == NULL)
		return;
	ok = ours(to) && dialback_check(from, to, id, key) == 0;
	free(key);
	log_debug("%s: db:verify %s -> %s: %s", c->peer, to, from,
	    ok ? "valid" : "invalid");
	db_answer(c, "verify", to, from, id, ok ? "valid" : "invalid");
}

/* The authoritative server answered (s2sd_out.c). */
void
in_verify_result(uint64_t in_id, const char *local, const char *remote,
    int valid)
{
	struct s2s_conn	*c = conn_find(in_id);
	struct s2s_pair	*p;

	if (c == NULL || c->kind != SK_SERVER_IN || c->state == SS_CLOSING ||
	    (p = pair_find(c, local, remote)) == NULL || p->state == 1)
		return;
	db_answer(c, "result", local, remote, NULL, valid ? "valid" :
	    "invalid");
	if (!valid) {
		log_info("%s: dialback for %s failed", c->peer, remote);
		*p = c->pairs[--c->npairs];
		return;
	}
	log_info("%s -> %s: incoming stream authenticated (dialback, %s, %s)",
	    remote, local, conn_transport(c), c->peer);
	p->state = 1;
	c->state = SS_AUTHED;
	conn_set_timer(c, (unsigned)s2sd_conf.idle_timeout);
}

static void
in_stanza(struct s2s_conn *c, struct xnode *n)
{
	const char	*f = xnode_attr(n, "from"), *t = xnode_attr(n, "to");
	struct jid	 from, to;
	struct s2s_pair	*p;

	if (strcmp(n->ns, XMLNS_SERVER) != 0 || stanza_kind(n->name) == RK_NONE) {
		conn_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	if (f == NULL || t == NULL || jid_parse(f, strlen(f), &from) == -1 ||
	    jid_parse(t, strlen(t), &to) == -1) {
		conn_stream_error(c, "improper-addressing", NULL);
		return;
	}
	if ((p = pair_find(c, to.domain, from.domain)) == NULL ||
	    p->state != 1) {
		log_info("%s: stanza from %s, which this stream did not "
		    "authenticate", c->peer, from.domain);
		conn_stream_error(c, c->state == SS_AUTHED ? "invalid-from" :
		    "not-authorized", NULL);
		return;
	}
	if (c->state == SS_AUTHED)	/* not while closing (drain) */
		conn_set_timer(c, (unsigned)s2sd_conf.idle_timeout);
	stanza_from_stream(c, n, "bad-request");
}

static void
sasl_failure(struct s2s_conn *c, const char *cond)
{
	log_info("%s: SASL EXTERNAL for %s refused (%s)", c->peer,
	    c->remote[0] ? c->remote : "(no from)", cond);
	conn_writes(c, "<failure xmlns='" NS_SASL "'><");
	conn_writes(c, cond);
	conn_writes(c, "/></failure>");
}

/* XEP-0178 section 3 (RFC 6120 6.4): the certificate must be valid for
 * the header's 'from'; an authorization id, if any, must be that domain. */
static void
on_auth(struct s2s_conn *c, struct xnode *n)
{
	const char	*mech = xnode_attr(n, "mechanism");
	char		*text, authz[JID_PART_MAX + 1];
	size_t		 len = 0;
	struct s2s_pair	*p;

	if (mech == NULL || strcmp(mech, "EXTERNAL") != 0 || c->sasl_done) {
		sasl_failure(c, "invalid-mechanism");
		return;
	}
	if (c->remote[0] == '\0' || !tls_peer_valid(c, c->remote) ||
	    c->npairs == S2SD_MAX_AUTHED) {
		sasl_failure(c, "not-authorized");
		return;
	}
	if ((text = xnode_text(n)) == NULL)
		return;
	if (strcmp(text, "=") != 0 && text[0] != '\0' &&
	    (sodium_base642bin((unsigned char *)authz, sizeof(authz) - 1,
	    text, strlen(text), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != strlen(c->remote) || memcmp(authz, c->remote, len) != 0)) {
		free(text);
		sasl_failure(c, "invalid-authzid");
		return;
	}
	free(text);
	p = &c->pairs[c->npairs++];
	memcpy(p->local, c->local, sizeof(p->local));
	memcpy(p->remote, c->remote, sizeof(p->remote));
	p->state = 1;
	c->sasl_done = 1;
	c->state = SS_AUTHED;
	conn_set_timer(c, (unsigned)s2sd_conf.idle_timeout);
	conn_writes(c, "<success xmlns='" NS_SASL "'/>");
	log_info("%s -> %s: incoming stream authenticated (SASL EXTERNAL, %s, "
	    "%s)", c->remote, c->local, conn_transport(c), c->peer);
	/* RFC 6120 6.4.6: the peer opens a new stream */
	xml_stream_reset(c->xs);
	c->header_sent = 0;
}

static void
on_stanza(void *arg, struct xnode *n)
{
	struct s2s_conn *c = arg;

	if (strcmp(n->ns, NS_TLS) == 0 && strcmp(n->name, "starttls") == 0 &&
	    !c->tls && c->ssl == NULL) {
		conn_writes(c, "<proceed xmlns='" NS_TLS "'/>");
		c->tls_pending = 1;
	} else if (s2sd_conf.require_tls && !c->tls)
		conn_stream_error(c, "policy-violation", "STARTTLS first");
	else if (strcmp(n->ns, NS_SASL) == 0 && strcmp(n->name, "auth") == 0)
		on_auth(c, n);
	else if (strcmp(n->ns, NS_DIALBACK) == 0 &&
	    strcmp(n->name, "result") == 0)
		on_result(c, n);
	else if (strcmp(n->ns, NS_DIALBACK) == 0 &&
	    strcmp(n->name, "verify") == 0)
		on_verify(c, n);
	else
		in_stanza(c, n);
	xnode_free(n);
}

const struct xml_callbacks in_callbacks = {
	.stream_open = on_stream_open,
	.stanza = on_stanza,
	.stream_close = conn_on_stream_close,
	.error = conn_on_xml_error,
};
