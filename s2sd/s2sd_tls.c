/*
 * s2sd_tls.c - TLS for server-to-server streams with OpenSSL.
 *
 * Per hosted domain, two contexts built in pre_drop from the PEM text
 * routerd sent (the key text is wiped once loaded): a server context for
 * streams we accept (the SNI callback picks the domain the peer asked
 * for; ALPN "xmpp-server" for XEP-0368 direct TLS) and a client context
 * for streams we open, which presents the same certificate (so that the
 * peer may offer SASL EXTERNAL, XEP-0178).  Both share one trust store:
 * the system's default paths plus the PEM text of "s2s-ca-file", loaded
 * before the sandbox because nothing can be opened after it.
 *
 * Peer certificates are requested but never make the handshake fail:
 * a certificate that does not verify only means the peer must use
 * dialback (XEP-0220) instead of EXTERNAL.  tls_peer_valid() says whether
 * the chain verified and the certificate names the domain (RFC 6125
 * section 6, via X509_check_host: DNS-ID, wildcard in the left-most label
 * only, no CN fallback when a DNS SAN exists).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "log.h"
#include "s2sd.h"

static const unsigned char alpn_proto[] = "\x0bxmpp-server";
static X509_STORE	*store;

static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	return 1;	/* record, never abort: see tls_peer_valid() */
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	const char	*name;
	char		 norm[JID_PART_MAX + 1];
	struct s2s_host	*h;

	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || jid_prep_domain(name, strlen(name), norm) == -1 ||
	    (h = host_find(norm)) == NULL || h->server_ctx == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	SSL_set_SSL_CTX(ssl, h->server_ctx);
	return SSL_TLSEXT_ERR_OK;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *o;

	if (SSL_select_next_proto(&o, outlen, alpn_proto,
	    sizeof(alpn_proto) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static void
log_ssl(const char *what, const char *who)
{
	unsigned long	e;
	char		buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("%s %s: %s", what, who, buf);
	}
}

/*
 * The trust anchors: the system bundle and the configured CA text.  The
 * bundle file is read whole, now (OpenSSL's default paths would also add
 * the hashed directory, which is read lazily, at verification time, when
 * the sandbox no longer allows opening anything).  SSL_CERT_FILE names
 * another bundle, as for every OpenSSL program.
 */
void
tls_init(const char *ca_pem)
{
	const char	*file;
	BIO		*bio;
	X509		*x;
	int		 n = 0;

	if ((store = X509_STORE_new()) == NULL)
		fatalx("X509_STORE_new");
	if ((file = getenv(X509_get_default_cert_file_env())) == NULL)
		file = X509_get_default_cert_file();
	if (X509_STORE_load_file(store, file) != 1)
		log_warnx("no system trust store (%s)", file);
	if (ca_pem != NULL && (bio = BIO_new_mem_buf(ca_pem, -1)) != NULL) {
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (X509_STORE_add_cert(store, x) == 1)
				n++;
			X509_free(x);
		}
		BIO_free(bio);
		log_debug("s2s-ca-file: %d certificates", n);
	}
	ERR_clear_error();
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
			first = 0;
			if (!ok)
				break;
		} else if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
			break;
		}
	}
	ERR_clear_error();
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

static SSL_CTX *
ctx_new(const struct s2s_host *h, int server)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	X509_STORE_up_ref(store);
	SSL_CTX_set_cert_store(ctx, store);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	if (server) {
		SSL_CTX_set_session_id_context(ctx,
		    (const unsigned char *)"s2sd", 4);
		SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	}
	if (load_chain(ctx, h->cert_pem) == -1 ||
	    load_key(ctx, h->key_pem) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
wipe(struct s2s_host *h)
{
	if (h->key_pem) {
		sodium_memzero(h->key_pem, strlen(h->key_pem));
		free(h->key_pem);
		h->key_pem = NULL;
	}
	free(h->cert_pem);
	h->cert_pem = NULL;
}

/* Build the host's contexts; the PEM copies are freed (key wiped). */
int
tls_host_load(struct s2s_host *h)
{
	if (h->cert_pem == NULL || h->key_pem == NULL) {
		wipe(h);
		return -1;
	}
	h->server_ctx = ctx_new(h, 1);
	h->client_ctx = h->server_ctx ? ctx_new(h, 0) : NULL;
	if (h->client_ctx == NULL) {
		log_ssl("certificate", h->domain);
		SSL_CTX_free(h->server_ctx);
		h->server_ctx = NULL;
		wipe(h);
		return -1;
	}
	wipe(h);
	return 0;
}

/* Start TLS on `c`: as the server for streams we accepted, as the client
 * (SNI and the expected name = the remote domain) for those we opened. */
int
tls_conn_start(struct s2s_conn *c)
{
	struct s2s_host	*h = host_find(c->local);
	SSL_CTX		*ctx;

	if (h == NULL)
		h = host_first_tls();
	if (h == NULL || (ctx = c->kind == SK_SERVER_OUT ? h->client_ctx :
	    h->server_ctx) == NULL || (c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	if (SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	if (c->kind == SK_SERVER_OUT) {
		if (SSL_set_tlsext_host_name(c->ssl, c->remote) != 1)
			goto fail;
		if (c->direct_tls && SSL_set_alpn_protos(c->ssl, alpn_proto,
		    sizeof(alpn_proto) - 1) != 0)
			goto fail;
		SSL_set_connect_state(c->ssl);
	} else
		SSL_set_accept_state(c->ssl);
	return 0;
 fail:
	SSL_free(c->ssl);
	c->ssl = NULL;
	return -1;
}

/* -2 would block (c->tls_want_write says which way), -1 failed/EOF. */
static int
result(struct s2s_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->tls_want_write = 0;
		return -2;
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_write = 1;
		return -2;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)
			return -2;
		break;
	default:
		if (log_debug_on()) {
			char buf[256];
			unsigned long e;

			while ((e = ERR_get_error()) != 0) {
				ERR_error_string_n(e, buf, sizeof(buf));
				log_debug("tls %s: %s", c->peer, buf);
			}
		}
		break;
	}
	ERR_clear_error();
	return -1;
}

/* 1 done, 0 in progress, -1 failed. */
int
tls_handshake(struct s2s_conn *c)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls = 1;
		return 1;
	}
	return result(c, r) == -2 ? 0 : -1;
}

ssize_t
tls_read(struct s2s_conn *c, void *buf, size_t len)
{
	size_t	n;
	int	r;

	ERR_clear_error();
	if ((r = SSL_read_ex(c->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return result(c, r);
}

ssize_t
tls_write(struct s2s_conn *c, const void *buf, size_t len)
{
	size_t	n;
	int	r;

	ERR_clear_error();
	if ((r = SSL_write_ex(c->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return result(c, r);
}

/* Did the peer present a certificate that chains to a trust anchor and
 * names `domain` (RFC 6125 section 6.4, DNS-ID)? */
int
tls_peer_valid(struct s2s_conn *c, const char *domain)
{
	X509	*x;
	int	 ok;

	if (c->ssl == NULL || !c->tls ||
	    (x = SSL_get1_peer_certificate(c->ssl)) == NULL)
		return 0;
	ok = SSL_get_verify_result(c->ssl) == X509_V_OK &&
	    X509_check_host(x, domain, strlen(domain),
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
	X509_free(x);
	return ok;
}

void
tls_conn_free(struct s2s_conn *c)
{
	if (c->ssl == NULL)
		return;
	if (c->tls)
		(void)SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
}
