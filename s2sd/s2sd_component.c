/*
 * s2sd_component.c - external components (XEP-0114, jabber:component:accept).
 *
 * A trusted program connects to the component listener, names its domain
 * in the stream header's 'to', and proves it knows the configured secret
 * with <handshake/>: the hex SHA-1 of the stream id we sent followed by
 * the secret (XEP-0114 section 3).  Once authenticated it sends and
 * receives stanzas for that domain; payloads pass through untouched.
 *
 * Who calls it: s2sd_conn.c (parser callbacks of component connections),
 * s2sd.c (configuration, stanzas routerd routes to a component domain).
 * Invariants: a component domain has at most one authenticated stream;
 * every stanza routed from it has a `from` in exactly its domain; the
 * secret is compared in constant time and never logged.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "s2sd.h"

static struct s2s_component	components[S2SD_MAX_COMPONENTS];
static size_t			ncomponents;

int
component_add(const char *domain, const char *secret)
{
	struct s2s_component	*k;
	char			 norm[JID_PART_MAX + 1];
	size_t			 slen = strlen(secret);

	if (ncomponents == S2SD_MAX_COMPONENTS || slen == 0 ||
	    slen > S2SD_MAX_SECRET ||
	    jid_prep_domain(domain, strlen(domain), norm) == -1 ||
	    component_find(norm) != NULL)
		return -1;
	k = &components[ncomponents];
	if ((k->secret = strdup(secret)) == NULL)
		return -1;
	memcpy(k->domain, norm, sizeof(k->domain));
	ncomponents++;
	return 0;
}

struct s2s_component *
component_find(const char *domain)
{
	size_t i;

	for (i = 0; i < ncomponents; i++)
		if (strcmp(components[i].domain, domain) == 0)
			return &components[i];
	return NULL;
}

/* XEP-0114 section 3: hex(SHA-1(stream id || secret)); hex digits of
 * either case are accepted, the comparison takes constant time. */
int
component_check_handshake(const char *stream_id, const char *secret,
    const char *digest)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 want[2 * 20 + 1], got[2 * 20 + 1];
	EVP_MD_CTX	*ctx;
	size_t		 i;
	int		 ok;

	if (strlen(digest) != 40)
		return -1;
	for (i = 0; i < 40; i++) {
		if (!isxdigit((unsigned char)digest[i]))
			return -1;
		got[i] = tolower((unsigned char)digest[i]);
	}
	got[40] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, stream_id, strlen(stream_id)) == 1 &&
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	sodium_bin2hex(want, sizeof(want), md, 20);
	ok = sodium_memcmp(want, got, 40) == 0;
	sodium_memzero(md, sizeof(md));
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -1;
}

/* The stream of `c` no longer speaks for its component. */
void
component_detach(struct s2s_conn *c)
{
	if (c->comp && c->comp->conn == c) {
		log_info("component %s: disconnected (%s)", c->comp->domain,
		    c->peer);
		c->comp->conn = NULL;
	}
	c->comp = NULL;
}

/* XEP-0114 section 3: the component opens with 'to' = its domain; we
 * answer with 'from' and a fresh stream id for the handshake. */
static void
on_stream_open(void *arg, const struct xnode *hdr)
{
	struct s2s_conn	*c = arg;
	unsigned char	 rnd[S2SD_STREAM_ID_LEN];
	const char	*to = xnode_attr(hdr, "to");
	char		 norm[JID_PART_MAX + 1];
	struct xbuf	 b;

	if (c->header_sent) {
		conn_stream_error(c, "not-authorized", NULL);
		return;
	}
	if (to == NULL || jid_prep_domain(to, strlen(to), norm) == -1 ||
	    (c->want = component_find(norm)) == NULL) {
		log_info("%s: component stream for unknown domain %s",
		    c->peer, to ? to : "(none)");
		conn_stream_error(c, "host-unknown", NULL);
		return;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(c->stream_id, sizeof(c->stream_id), rnd, sizeof(rnd));
	xbuf_init(&b);
	xbuf_addf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' "
	    "xmlns:stream='%s' from='", NS_COMPONENT, XMLNS_STREAM);
	xbuf_add_attr(&b, c->want->domain);
	xbuf_addf(&b, "' id='%s'>", c->stream_id);
	c->header_sent = 1;
	if (!b.failed)
		conn_write(c, b.data, b.len);
	else
		conn_close(c);
	xbuf_free(&b);
}

static void
handshake(struct s2s_conn *c, struct xnode *n)
{
	struct s2s_component	*k = c->want;
	char			*digest;

	if (k == NULL || strcmp(n->name, "handshake") != 0 ||
	    strcmp(n->ns, NS_COMPONENT) != 0) {
		conn_stream_error(c, "not-authorized", NULL);
		return;
	}
	digest = xnode_text(n);
	if (digest == NULL ||
	    component_check_handshake(c->stream_id, k->secret, digest) == -1) {
		log_info("component %s: handshake failed from %s", k->domain,
		    c->peer);
		free(digest);
		conn_stream_error(c, "not-authorized", NULL);
		return;
	}
	free(digest);
	if (k->conn != NULL) {
		/* One stream per domain: the established one stays. */
		log_info("component %s: second connection from %s refused",
		    k->domain, c->peer);
		conn_stream_error(c, "conflict", NULL);
		return;
	}
	k->conn = c;
	c->comp = k;
	c->state = SS_AUTHED;
	conn_set_timer(c, 0);
	conn_writes(c, "<handshake/>");
	log_info("component %s: authenticated (%s)", k->domain, c->peer);
}

/* A stanza from an authenticated component: its `from` must be in its
 * own domain (XEP-0114 section 3; RFC 6120 4.9.3.9 invalid-from). */
static void
component_stanza(struct s2s_conn *c, struct xnode *n)
{
	const char	*from = xnode_attr(n, "from");
	struct jid	 j;
	uint8_t		 kind = stanza_kind(n->name);

	if (kind == RK_NONE || (strcmp(n->ns, NS_COMPONENT) != 0 &&
	    strcmp(n->ns, XMLNS_CLIENT) != 0)) {
		conn_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	if (from == NULL || jid_parse(from, strlen(from), &j) == -1 ||
	    strcmp(j.domain, c->comp->domain) != 0) {
		log_info("component %s: stanza from %s refused",
		    c->comp->domain, from ? from : "(none)");
		conn_stream_error(c, "invalid-from", NULL);
		return;
	}
	if (xnode_attr(n, "to") == NULL) {
		conn_stream_error(c, "improper-addressing", NULL);
		return;
	}
	stanza_from_stream(c, n, "jid-malformed");
}

static void
on_stanza(void *arg, struct xnode *n)
{
	struct s2s_conn *c = arg;

	if (c->state == SS_OPEN)
		handshake(c, n);
	else if (c->state == SS_AUTHED)
		component_stanza(c, n);
	xnode_free(n);
}

const struct xml_callbacks component_callbacks = {
	.stream_open = on_stream_open,
	.stanza = on_stanza,
	.stream_close = conn_on_stream_close,
	.error = conn_on_xml_error,
};

/* A stanza routerd sent to a component domain: written as it is (the
 * body's default namespace is the stream's, jabber:component:accept). */
void
component_deliver(struct s2s_component *k, struct frame *f)
{
	const uint8_t	*body;
	size_t		 len;

	if (k->conn == NULL || k->conn->state != SS_AUTHED) {
		stanza_bounce(f, "service-unavailable");
		return;
	}
	frame_get_rest(f, &body, &len);
	if (!conn_has_room(k->conn, len)) {
		stanza_bounce(f, "resource-constraint");
		return;
	}
	conn_write(k->conn, (const char *)body, len);
}
