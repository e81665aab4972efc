/*
 * c2sd_tls.c - TLS for client connections with OpenSSL.
 *
 * One SSL_CTX per hosted domain, built in pre_drop from the PEM text
 * routerd sent (the key text is wiped once loaded).  The SNI callback
 * switches a connection to the context of the name the client asked for;
 * the ALPN callback selects "xmpp-client" (XEP-0368) when offered.  The
 * SSL object works on the non-blocking socket directly; callers get "would
 * block" (-2) and re-arm the events recorded in conn (tls_want_write,
 * tls_write_wants_read).  Channel-binding data for SASL -PLUS is computed
 * here: tls-exporter (RFC 9266, TLS 1.3 only) and tls-server-end-point
 * (RFC 5929 section 4.1); the latter depends only on our certificate, so
 * it is made once per host.
 *
 * Cost per login: TLS 1.3 prefers TLS_AES_128_GCM_SHA256, whose key
 * schedule hashes with SHA-256 (SHA-NI on current x86) instead of
 * SHA-384, and one session ticket is sent instead of OpenSSL's two
 * (XMPP clients hold one connection; one ticket is enough to resume).
 */
#include <sys/types.h>

#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "log.h"
#include "c2sd.h"

static const unsigned char alpn_xmpp[] = "xmpp-client";

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	const char	*name;
	char		 norm[JID_PART_MAX + 1];
	struct host	*h;

	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL ||
	    jid_prep_domain(name, strlen(name), norm) == -1 ||
	    (h = host_find(norm)) == NULL || h->ctx == NULL)
		return SSL_TLSEXT_ERR_NOACK;	/* keep the default */
	SSL_set_SSL_CTX(ssl, h->ctx);
	return SSL_TLSEXT_ERR_OK;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i, l;

	for (i = 0; i < inlen; i += l + 1) {
		l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == sizeof(alpn_xmpp) - 1 &&
		    memcmp(in + i + 1, alpn_xmpp, l) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static void
log_ssl_errors(const char *what, const char *who)
{
	unsigned long	e;
	char		buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		if (strcmp(what, "tls") == 0)
			log_debug("%s %s: %s", what, who, buf);
		else
			log_warnx("%s %s: %s", what, who, buf);
	}
}

static int
load_chain(SSL_CTX *ctx, const char *pem)
{
	BIO	*bio;
	X509	*x;
	int	 first = 1, ok = 0;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return -1;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (first) {
			ok = SSL_CTX_use_certificate(ctx, x) == 1;
			X509_free(x);
			if (!ok)
				break;
			first = 0;
		} else if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
			break;
		}
	}
	ERR_clear_error();	/* the expected "no start line" at the end */
	BIO_free(bio);
	return ok ? 0 : -1;
}

static int
load_key(SSL_CTX *ctx, const char *pem)
{
	BIO		*bio;
	EVP_PKEY	*k;
	int		 ok;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return -1;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL)
		return -1;
	ok = SSL_CTX_use_PrivateKey(ctx, k) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

static void
wipe_key(struct host *h)
{
	if (h->key_pem) {
		sodium_memzero(h->key_pem, strlen(h->key_pem));
		free(h->key_pem);
		h->key_pem = NULL;
	}
	free(h->cert_pem);
	h->cert_pem = NULL;
}

/* RFC 5929 section 4.1: the hash of our certificate, with the hash of its
 * signature algorithm, SHA-256 if that is MD5 or SHA-1; 0 if none. */
static size_t
endpoint_hash(X509 *x, uint8_t *out, size_t outlen)
{
	const EVP_MD	*md;
	int		 mdnid;
	unsigned int	 n;

	if (x == NULL ||
	    X509_get_signature_info(x, &mdnid, NULL, NULL, NULL) != 1 ||
	    mdnid == NID_undef)
		return 0;	/* e.g. Ed25519: no hash defined */
	if (mdnid == NID_md5 || mdnid == NID_sha1)
		mdnid = NID_sha256;
	if ((md = EVP_get_digestbynid(mdnid)) == NULL ||
	    (size_t)EVP_MD_get_size(md) > outlen ||
	    X509_digest(x, md, out, &n) != 1)
		return 0;
	return n;
}

/* Build the host's context; the PEM copies are freed (key wiped) either way. */
int
tls_host_load(struct host *h)
{
	SSL_CTX	*ctx;

	if (h->cert_pem == NULL || h->key_pem == NULL) {
		wipe_key(h);
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"c2sd", 4);
	if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
	    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 1) != 1)
		fatalx("TLS 1.3 settings");
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	if (load_chain(ctx, h->cert_pem) == -1 ||
	    load_key(ctx, h->key_pem) == -1) {
		log_ssl_errors("certificate", h->name);
		SSL_CTX_free(ctx);
		wipe_key(h);
		return -1;
	}
	wipe_key(h);
	h->ctx = ctx;
	h->cb_endpoint_len = endpoint_hash(SSL_CTX_get0_certificate(ctx),
	    h->cb_endpoint, sizeof(h->cb_endpoint));
	return 0;
}

static SSL_CTX *
default_ctx(struct conn *c)
{
	struct host *h;

	if (c->host && c->host->ctx)
		return c->host->ctx;
	TAILQ_FOREACH(h, &c2sd_hosts, entry)
		if (h->ctx)
			return h->ctx;
	return NULL;
}

int
tls_conn_new(struct conn *c)
{
	SSL_CTX *ctx;

	if ((ctx = default_ctx(c)) == NULL)
		return -1;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	SSL_set_app_data(c->ssl, c);
	if (SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	/* One read() takes every record the socket holds, not a header and
	 * a body per record (two system calls a message under load);
	 * conn_read() goes on while OpenSSL holds unprocessed bytes
	 * (SSL_has_pending), which epoll cannot see. */
	SSL_set_read_ahead(c->ssl, 1);
	SSL_set_accept_state(c->ssl);
	return 0;
}

/* Map an SSL_* result: -2 would block (flags set), -1 failure/EOF. */
static int
tls_result(struct conn *c, int r, int writing)
{
	int e = SSL_get_error(c->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (writing)
			c->tls_write_wants_read = 1;
		return -2;
	case SSL_ERROR_WANT_WRITE:
		if (!writing)
			c->tls_want_write = 1;
		return -2;
	case SSL_ERROR_ZERO_RETURN:
		return -1;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)
			return -2;
		ERR_clear_error();
		return -1;
	default:
		if (log_debug_on())
			log_ssl_errors("tls", c->peer);
		ERR_clear_error();
		return -1;
	}
}

/* OpenSSL wants an empty error queue before SSL_get_error() is asked;
 * ERR_clear_error() walks all its slots, so only when there is one. */
static void
clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

int
tls_handshake(struct conn *c)
{
	int r;

	c->tls_want_write = 0;
	clear_errors();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls = 1;
		return 1;
	}
	r = tls_result(c, r, 0);
	return r == -2 ? 0 : -1;
}

ssize_t
tls_read(struct conn *c, void *buf, size_t len)
{
	size_t	n;
	int	r;

	c->tls_want_write = 0;
	clear_errors();
	if ((r = SSL_read_ex(c->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_result(c, r, 0);
}

ssize_t
tls_write(struct conn *c, const void *buf, size_t len)
{
	size_t	n;
	int	r;

	c->tls_write_wants_read = 0;
	clear_errors();
	if ((r = SSL_write_ex(c->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_result(c, r, 1);
}

int
tls_cb_has_exporter(const struct conn *c)
{
	return c->ssl != NULL && c->tls && SSL_version(c->ssl) == TLS1_3_VERSION;
}

/* RFC 9266: 32 bytes exported with label "EXPORTER-Channel-Binding" and
 * no context, defined for TLS 1.3 only.  A key derivation (about 0.3M
 * instructions with OpenSSL 3.0): only for a -PLUS exchange. */
size_t
tls_cb_exporter(struct conn *c, uint8_t *out, size_t outlen)
{
	static const char label[] = "EXPORTER-Channel-Binding";

	if (!tls_cb_has_exporter(c) || outlen < 32)
		return 0;
	if (SSL_export_keying_material(c->ssl, out, 32, label,
	    sizeof(label) - 1, NULL, 0, 0) != 1)
		return 0;
	return 32;
}

/* tls-server-end-point of the context the connection uses (after SNI). */
size_t
tls_cb_endpoint(struct conn *c, uint8_t *out, size_t outlen)
{
	SSL_CTX		*ctx;
	struct host	*h;

	if (c->ssl == NULL || !c->tls || (ctx = SSL_get_SSL_CTX(c->ssl)) == NULL)
		return 0;
	TAILQ_FOREACH(h, &c2sd_hosts, entry)
		if (h->ctx == ctx) {
			if (h->cb_endpoint_len > outlen)
				return 0;
			memcpy(out, h->cb_endpoint, h->cb_endpoint_len);
			return h->cb_endpoint_len;
		}
	return 0;
}

/* Our close_notify, best effort (the socket is not full: the output
 * queue was flushed). */
void
tls_close_notify(struct conn *c)
{
	if (c->ssl != NULL && c->tls) {
		clear_errors();
		(void)SSL_shutdown(c->ssl);
	}
}

void
tls_conn_free(struct conn *c)
{
	if (c->ssl == NULL)
		return;
	if (c->tls)
		(void)SSL_shutdown(c->ssl);	/* best effort close_notify */
	SSL_free(c->ssl);
	c->ssl = NULL;
}
