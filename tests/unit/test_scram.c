/*
 * test_scram.c - authd's SCRAM and PLAIN server (authd/authd_scram.c) and
 * the account record (authd/authd_store.c).
 *
 * The client side is computed here, independently, with OpenSSL
 * (PKCS5_PBKDF2_HMAC, HMAC, EVP_Digest, EVP_EncodeBlock) per RFC 5802 3,
 * so a mistake in the server cannot cancel out against the same mistake
 * in the client.  The RFC 5802 (SHA-1) and RFC 7677 (SHA-256) examples
 * are replayed byte for byte with the server nonce fixed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "authd.h"
#include "store.h"

#define HOST	"example.org"

static const uint8_t exporter[32] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static size_t
b64enc(const uint8_t *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static size_t
b64dec(const char *in, uint8_t *out)
{
	size_t	len = strlen(in);
	int	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);

	assert_true(n >= 0);
	while (len > 0 && in[len - 1] == '=') {
		len--;
		n--;
	}
	return (size_t)n;
}

static const EVP_MD *
tmd(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* Take attribute `a` from a server-first-message. */
static void
sf_attr(const char *sf, char a, char *out, size_t sz)
{
	const char	*p = sf;
	size_t		 n;

	for (;;) {
		assert_non_null(p);
		if (p[0] == a && p[1] == '=')
			break;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	p += 2;
	n = strcspn(p, ",");
	assert_true(n < sz);
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * The client side of RFC 5802 3: from the server-first-message build the
 * client-final-message for `password`, and the v= the server must send.
 */
static void
client_final(enum scram_hash h, const char *password, const char *bare,
    const char *sfirst, const char *gs2, const uint8_t *cb, size_t cblen,
    char *out, size_t outsz, char *expect_v)
{
	uint8_t		 salt[128], salted[32], ckey[32], stored[32], csig[32];
	uint8_t		 skey[32], ssig[32], proof[32], cbin[256];
	char		 nonce[256], s64[256], iter[16], cb64[400], am[2048];
	char		 p64[64], v64[64], noproof[1024];
	size_t		 hl = h == SCRAM_SHA1 ? 20 : 32, saltlen, i;
	unsigned int	 n;

	sf_attr(sfirst, 'r', nonce, sizeof(nonce));
	sf_attr(sfirst, 's', s64, sizeof(s64));
	sf_attr(sfirst, 'i', iter, sizeof(iter));
	saltlen = b64dec(s64, salt);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
	    salt, (int)saltlen, atoi(iter), tmd(h), (int)hl, salted), 1);
	HMAC(tmd(h), salted, (int)hl, (const uint8_t *)"Client Key", 10,
	    ckey, &n);
	EVP_Digest(ckey, hl, stored, &n, tmd(h), NULL);
	HMAC(tmd(h), salted, (int)hl, (const uint8_t *)"Server Key", 10,
	    skey, &n);

	memcpy(cbin, gs2, strlen(gs2));
	if (cblen)
		memcpy(cbin + strlen(gs2), cb, cblen);
	b64enc(cbin, strlen(gs2) + cblen, cb64);
	assert_true((size_t)snprintf(noproof, sizeof(noproof), "c=%s,r=%s",
	    cb64, nonce) < sizeof(noproof));
	assert_true((size_t)snprintf(am, sizeof(am), "%s,%s,%s", bare, sfirst,
	    noproof) < sizeof(am));

	HMAC(tmd(h), stored, (int)hl, (uint8_t *)am, strlen(am), csig, &n);
	for (i = 0; i < hl; i++)
		proof[i] = ckey[i] ^ csig[i];
	HMAC(tmd(h), skey, (int)hl, (uint8_t *)am, strlen(am), ssig, &n);
	b64enc(proof, hl, p64);
	b64enc(ssig, hl, v64);
	assert_true((size_t)snprintf(out, outsz, "%s,p=%s", noproof, p64) <
	    outsz);
	sprintf(expect_v, "v=%s", v64);
}

static void
make_creds(const char *pass, struct authd_creds *c)
{
	assert_int_equal(authd_creds_new(pass, strlen(pass), 4096, c), 0);
}

/*
 * One whole exchange; returns the outcome of the final step.  `cfirst` is
 * the complete client-first-message, whose gs2 header ends at `bare`.
 */
static enum authd_cond
run(enum scram_hash h, int plus, const struct scram_cbdata *scb,
    const struct authd_creds *creds, int known, const char *cfirst,
    const char *password, const uint8_t *ccb, size_t ccblen)
{
	struct scram	*s;
	char		 sf[512], cf[1024], v[128], out[128], gs2[64];
	const char	*bare;
	size_t		 len;
	enum authd_cond	 rc;

	bare = strchr(strchr(cfirst, ',') + 1, ',') + 1;
	memcpy(gs2, cfirst, (size_t)(bare - cfirst));
	gs2[bare - cfirst] = '\0';
	assert_non_null(s = scram_new(h, plus, HOST, scb));
	rc = scram_client_first(s, cfirst, strlen(cfirst));
	if (rc != AC_OK) {
		scram_free(s);
		return rc;
	}
	assert_string_equal(scram_user(s), "user");
	assert_int_equal(scram_server_first(s, creds, known, sf, sizeof(sf),
	    &len), AC_OK);
	assert_int_equal(len, strlen(sf));
	client_final(h, password, bare, sf, gs2, ccb, ccblen, cf, sizeof(cf),
	    v);
	rc = scram_client_final(s, cf, strlen(cf), out, sizeof(out), &len);
	if (rc == AC_OK) {
		assert_int_equal(len, strlen(v));
		assert_string_equal(out, v);
	}
	scram_free(s);
	return rc;
}

/* RFC 7677 section 3, byte for byte. */
static void
test_rfc7677_vector(void **state)
{
	struct authd_creds	 c;
	struct scram		*s;
	uint8_t			 salt[64];
	size_t			 sl, len;
	char			 out[256];
	const char		*cf1 = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	const char		*cf2 = "c=biws,r=rOprNGfwEbeRWgbNEkqO"
	    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

	sl = b64dec("W22ZaJ0SNY7soEsUEjb6gQ==", salt);
	assert_int_equal(sl, 16);
	assert_int_equal(authd_creds_derive("pencil", 6, salt, sl, 4096, &c), 0);
	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	scram_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(scram_client_first(s, cf1, strlen(cf1)), AC_OK);
	assert_int_equal(scram_server_first(s, &c, 1, out, sizeof(out), &len),
	    AC_OK);
	assert_string_equal(out, "r=rOprNGfwEbeRWgbNEkqO"
	    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	assert_int_equal(scram_client_final(s, cf2, strlen(cf2), out,
	    sizeof(out), &len), AC_OK);
	assert_string_equal(out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	/* The exchange is over: a replayed final is refused. */
	assert_int_equal(scram_client_final(s, cf2, strlen(cf2), out,
	    sizeof(out), &len), AC_MALFORMED);
	scram_free(s);
}

/* RFC 5802 section 5, SCRAM-SHA-1. */
static void
test_rfc5802_vector(void **state)
{
	struct authd_creds	 c;
	struct scram		*s;
	uint8_t			 salt[64];
	size_t			 sl, len;
	char			 out[256];
	const char		*cf1 = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
	const char		*cf2 = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL"
	    "3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";

	sl = b64dec("QSXCR+Q6sek8bf92", salt);
	assert_int_equal(authd_creds_derive("pencil", 6, salt, sl, 4096, &c), 0);
	assert_non_null(s = scram_new(SCRAM_SHA1, 0, HOST, NULL));
	scram_test_nonce(s, "3rfcNHYJY1ZVvWVs7j");
	assert_int_equal(scram_client_first(s, cf1, strlen(cf1)), AC_OK);
	assert_int_equal(scram_server_first(s, &c, 1, out, sizeof(out), &len),
	    AC_OK);
	assert_string_equal(out, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096");
	assert_int_equal(scram_client_final(s, cf2, strlen(cf2), out,
	    sizeof(out), &len), AC_OK);
	assert_string_equal(out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
	scram_free(s);
}

static void
test_roundtrip_and_wrong_password(void **state)
{
	struct authd_creds c;

	make_creds("correct horse", &c);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,,n=user,r=abcdefgh", "correct horse", NULL, 0), AC_OK);
	assert_int_equal(run(SCRAM_SHA1, 0, NULL, &c, 1,
	    "n,,n=user,r=abcdefgh", "correct horse", NULL, 0), AC_OK);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,,n=user,r=abcdefgh", "wrong horse", NULL, 0),
	    AC_NOT_AUTHORIZED);
	assert_int_equal(run(SCRAM_SHA1, 0, NULL, &c, 1,
	    "n,,n=user,r=abcdefgh", "", NULL, 0), AC_NOT_AUTHORIZED);
	/* The username is prepared: "USER" is the account "user". */
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,,n=USER,r=abcdefgh", "correct horse", NULL, 0), AC_OK);
}

static void
test_unknown_user(void **state)
{
	struct authd_creds	 c, f1, f2, f3;
	uint8_t			 secret[AUTHD_SECRET_LEN];
	struct scram		*s;
	char			 sf[256], salt[64];
	size_t			 len;

	randombytes_buf(secret, sizeof(secret));
	authd_creds_fake(secret, "user", HOST, 4096, &f1);
	authd_creds_fake(secret, "user", HOST, 4096, &f2);
	authd_creds_fake(secret, "other", HOST, 4096, &f3);
	/* Stable for one name (a changing salt would give it away), and
	 * different between names. */
	assert_memory_equal(&f1, &f2, sizeof(f1));
	assert_memory_not_equal(f1.salt, f3.salt, AUTHD_SALT_LEN);
	assert_int_equal(f1.salt_len, AUTHD_SALT_LEN);

	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &f1, 0,
	    "n,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_NOT_AUTHORIZED);
	/* Even a proof that matches the keys fails when the account is
	 * unknown: the right password with known == 0. */
	make_creds("pencil", &c);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 0,
	    "n,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_NOT_AUTHORIZED);

	/* The server-first of an unknown user has the usual shape. */
	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	assert_int_equal(scram_client_first(s, "n,,n=user,r=abc", 15), AC_OK);
	assert_int_equal(scram_server_first(s, &f1, 0, sf, sizeof(sf), &len),
	    AC_OK);
	sf_attr(sf, 's', salt, sizeof(salt));
	assert_int_equal(strlen(salt), 24);
	sf_attr(sf, 'r', salt, sizeof(salt));
	assert_int_equal(strlen(salt), 3 + 32);
	scram_free(s);
}

static void
test_plus(void **state)
{
	struct authd_creds	 c;
	struct scram_cbdata	 cb = { exporter, sizeof(exporter), NULL, 0 };
	uint8_t			 other[32];

	make_creds("pencil", &c);
	memcpy(other, exporter, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-exporter,,n=user,r=abcdefgh", "pencil", exporter,
	    sizeof(exporter)), AC_OK);
	assert_int_equal(run(SCRAM_SHA1, 1, &cb, &c, 1,
	    "p=tls-exporter,,n=user,r=abcdefgh", "pencil", exporter,
	    sizeof(exporter)), AC_OK);
	/* Different TLS connection (a MITM): the binding does not match. */
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-exporter,,n=user,r=abcdefgh", "pencil", other,
	    sizeof(other)), AC_NOT_AUTHORIZED);
	/* No cb data in c=, only the header. */
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-exporter,,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_NOT_AUTHORIZED);
	/* A type this connection does not have, and an unknown type. */
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-server-end-point,,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_NOT_AUTHORIZED);
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-unique,,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_NOT_AUTHORIZED);
	/* tls-server-end-point when that is what we have. */
	cb.endpoint = other;
	cb.endpoint_len = sizeof(other);
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "p=tls-server-end-point,,n=user,r=abcdefgh", "pencil", other,
	    sizeof(other)), AC_OK);
	/* -PLUS without "p", and "p" without -PLUS. */
	assert_int_equal(run(SCRAM_SHA256, 1, &cb, &c, 1,
	    "n,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_MALFORMED);
	assert_int_equal(run(SCRAM_SHA256, 0, &cb, &c, 1,
	    "p=tls-exporter,,n=user,r=abcdefgh", "pencil", exporter,
	    sizeof(exporter)), AC_MALFORMED);
}

static void
test_downgrade(void **state)
{
	struct authd_creds	 c;
	struct scram_cbdata	 cb = { exporter, sizeof(exporter), NULL, 0 };

	make_creds("pencil", &c);
	/* We offered -PLUS (we have cb data): "y" means a downgrade. */
	assert_int_equal(run(SCRAM_SHA256, 0, &cb, &c, 1,
	    "y,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_NOT_AUTHORIZED);
	/* Without cb data we did not offer it: "y" is fine (c=eSws). */
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "y,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_OK);
	/* "n" is always fine for plain SCRAM. */
	assert_int_equal(run(SCRAM_SHA256, 0, &cb, &c, 1,
	    "n,,n=user,r=abcdefgh", "pencil", NULL, 0), AC_OK);
}

static void
test_authzid_and_saslname(void **state)
{
	struct authd_creds	 c;
	struct scram		*s;
	const char		*m;

	make_creds("pencil", &c);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,a=user@example.org,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_OK);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,a=admin@example.org,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_INVALID_AUTHZID);
	assert_int_equal(run(SCRAM_SHA256, 0, NULL, &c, 1,
	    "n,a=user@example.net,n=user,r=abcdefgh", "pencil", NULL, 0),
	    AC_INVALID_AUTHZID);

	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	m = "n,,n=a=3Db=2Cc,r=x";
	assert_int_equal(scram_client_first(s, m, strlen(m)), AC_OK);
	assert_string_equal(scram_user(s), "a=b,c");
	scram_free(s);
	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	m = "n,,n=a=2Xb,r=x";
	assert_int_equal(scram_client_first(s, m, strlen(m)), AC_MALFORMED);
	scram_free(s);
	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	m = "n,,n=ab=2,r=x";
	assert_int_equal(scram_client_first(s, m, strlen(m)), AC_MALFORMED);
	scram_free(s);
}

static enum authd_cond
first_only(const char *m, size_t len)
{
	struct scram	*s;
	enum authd_cond	 rc;

	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	rc = scram_client_first(s, m, len);
	scram_free(s);
	return rc;
}

static void
test_malformed_first(void **state)
{
	static const char *bad[] = {
		"", "n", "n,", "n,,", "x,,n=user,r=abc", "n,,r=abc,n=user",
		"n,,n=user", "n,,n=user,", "n,,n=user,r=", "n,,n=,r=abc",
		"n,,n=user,,r=abc", "n,,,n=user,r=abc", "n,,n=user,r=abc,",
		"n,,m=ext,n=user,r=abc", "n,,n=user,r=a,b", "n,,n=user,r=abc,1=x",
		"n,,n=user,r=abc,x=", "n,a=,n=user,r=abc", "n,,n=user,r=a b",
		"n,b=x,n=user,r=abc", "p=tls-exporter", "n ,,n=user,r=abc",
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu: %s\n", i, bad[i]);
		assert_int_equal(first_only(bad[i], strlen(bad[i])),
		    AC_MALFORMED);
	}
	/* NUL inside, and an optional extension that is fine. */
	assert_int_equal(first_only("n,,n=us\0r,r=abc", 15), AC_MALFORMED);
	assert_int_equal(first_only("n,,n=user,r=abc,x=1", 19), AC_OK);
	/* A name PRECIS refuses is simply not an account. */
	assert_int_equal(first_only("n,,n=a@b,r=abc", 14), AC_NOT_AUTHORIZED);
}

/* Run client-first + server-first, then feed `cf` as the final message. */
static enum authd_cond
final_only(const char *cf, const struct authd_creds *c)
{
	struct scram	*s;
	char		 out[256];
	size_t		 len;
	enum authd_cond	 rc;

	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	scram_test_nonce(s, "SRV");
	assert_int_equal(scram_client_first(s, "n,,n=user,r=CLI", 15), AC_OK);
	assert_int_equal(scram_server_first(s, c, 1, out, sizeof(out), &len),
	    AC_OK);
	rc = scram_client_final(s, cf, strlen(cf), out, sizeof(out), &len);
	scram_free(s);
	return rc;
}

static void
test_malformed_final(void **state)
{
	struct authd_creds	 c;
	static const char	*p = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	static const char	*malformed[] = {
		"", "c=biws", "c=biws,r=CLISRV", "r=CLISRV,c=biws,p=%s",
		"c=biws,r=CLISRV,p=%s,", "c=biws,,r=CLISRV,p=%s",
		"c=biws,r=CLISRV,,p=%s", "c=biws,r=CLISRV,p=%s,x=1",
		"c=biws,r=CLISRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		"c=biws,r=CLISRV,p=dHzb*apWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=CLISRV,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"c=biws,r=CLISRV,p=",
		"c=biws,r=,p=%s",
	};
	static const char	*refused[] = {
		"c=biws,r=CLIXXX,p=%s", "c=biws,r=CLI,p=%s",
		"c=eSws,r=CLISRV,p=%s", "c=biw,r=CLISRV,p=%s",
		"c=,r=CLISRV,p=%s", "c=biws,r=CLISRV,p=%s",
		"c=biws,r=CLISRV,x=1,p=%s",
	};
	char	m[256];
	size_t	i;

	make_creds("pencil", &c);
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		assert_true((size_t)snprintf(m, sizeof(m), malformed[i], p) <
		    sizeof(m));
		print_message("malformed %zu: %s\n", i, m);
		assert_int_equal(final_only(m, &c), AC_MALFORMED);
	}
	/* Well-formed but wrong: nonce, binding, proof. */
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_true((size_t)snprintf(m, sizeof(m), refused[i], p) <
		    sizeof(m));
		print_message("refused %zu: %s\n", i, m);
		assert_int_equal(final_only(m, &c), AC_NOT_AUTHORIZED);
	}
}

static void
test_state(void **state)
{
	struct authd_creds	 c;
	struct scram		*s;
	char			 out[256];
	size_t			 len;

	make_creds("pencil", &c);
	assert_non_null(s = scram_new(SCRAM_SHA256, 0, HOST, NULL));
	/* Final before server-first. */
	assert_int_equal(scram_client_first(s, "n,,n=user,r=x", 13), AC_OK);
	assert_int_equal(scram_client_final(s, "c=biws,r=x,p=AAAA", 17, out,
	    sizeof(out), &len), AC_MALFORMED);
	/* After a failure nothing continues. */
	assert_int_equal(scram_server_first(s, &c, 1, out, sizeof(out), &len),
	    AC_MALFORMED);
	assert_int_equal(scram_client_first(s, "n,,n=user,r=x", 13),
	    AC_MALFORMED);
	scram_free(s);
	/* Oversized channel-binding data and host are refused. */
	{
		uint8_t			big[65] = { 0 };
		struct scram_cbdata	cb = { big, sizeof(big), NULL, 0 };

		assert_null(scram_new(SCRAM_SHA256, 1, HOST, &cb));
	}
}

static void
test_plain(void **state)
{
	struct authd_creds	 c;
	char			 user[JID_PART_MAX + 1], pass[JID_PART_MAX + 1];

#define P(s)	(const uint8_t *)(s), sizeof(s) - 1
	make_creds("pencil", &c);
	assert_int_equal(plain_parse(P("\0User\0pencil"), HOST, user, pass,
	    sizeof(pass)), AC_OK);
	assert_string_equal(user, "user");
	assert_int_equal(plain_verify(&c, 1, pass), AC_OK);
	assert_int_equal(plain_verify(&c, 0, pass), AC_NOT_AUTHORIZED);
	assert_int_equal(plain_parse(P("\0user\0pencil!"), HOST, user, pass,
	    sizeof(pass)), AC_OK);
	assert_int_equal(plain_verify(&c, 1, pass), AC_NOT_AUTHORIZED);
	assert_int_equal(plain_parse(P("user@example.org\0user\0pencil"), HOST,
	    user, pass, sizeof(pass)), AC_OK);
	assert_int_equal(plain_parse(P("boss@example.org\0user\0pencil"), HOST,
	    user, pass, sizeof(pass)), AC_INVALID_AUTHZID);
	assert_int_equal(plain_parse(P("user\0pencil"), HOST, user, pass,
	    sizeof(pass)), AC_MALFORMED);
	assert_int_equal(plain_parse(P("\0user\0pen\0cil"), HOST, user, pass,
	    sizeof(pass)), AC_MALFORMED);
	assert_int_equal(plain_parse(P("\0\0pencil"), HOST, user, pass,
	    sizeof(pass)), AC_MALFORMED);
	assert_int_equal(plain_parse(P("\0user\0"), HOST, user, pass,
	    sizeof(pass)), AC_MALFORMED);
	assert_int_equal(plain_parse(P(""), HOST, user, pass, sizeof(pass)),
	    AC_MALFORMED);
#undef P
}

static void
test_record(void **state)
{
	struct authd_creds	c, d;
	uint8_t			buf[256];
	int			n;

	make_creds("pencil", &c);
	assert_int_equal(c.salt_len, AUTHD_SALT_LEN);
	n = authd_creds_encode(&c, buf, sizeof(buf));
	assert_int_equal(n, 6 + 16 + 104);
	assert_int_equal(authd_creds_decode(buf, (size_t)n, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	/* The record never holds the password. */
	assert_null(memmem(buf, (size_t)n, "pencil", 6));
	assert_int_equal(authd_creds_decode(buf, (size_t)n - 1, &d), -1);
	buf[0] = 2;
	assert_int_equal(authd_creds_decode(buf, (size_t)n, &d), -1);
	/* Two accounts with one password get different salts and keys. */
	make_creds("pencil", &d);
	assert_memory_not_equal(c.salt, d.salt, AUTHD_SALT_LEN);
	assert_memory_not_equal(c.stored[1], d.stored[1], 32);
	assert_int_equal(authd_creds_encode(&c, buf, 50), -1);
}

static int
list_cb(const char *u, size_t len, void *arg)
{
	char	*out = arg;

	strncat(out, u, len);
	strcat(out, ";");
	return 0;
}

static void
test_accounts(void **state)
{
	char			 dir[] = "/tmp/test_scram.XXXXXX", path[128];
	struct store		*st;
	struct authd_creds	 c, d;
	uint8_t			 s1[AUTHD_SECRET_LEN], s2[AUTHD_SECRET_LEN];
	char			 list[256] = "";

	assert_non_null(mkdtemp(dir));
	assert_non_null(st = store_open(dir, 1 << 20, 4));
	make_creds("pencil", &c);
	assert_int_equal(authd_acct_get(st, "alice", HOST, &d), 1);
	assert_int_equal(authd_acct_put(st, "alice", HOST, &c, 1), 0);
	assert_int_equal(authd_acct_put(st, "alice", HOST, &c, 1), 1);
	assert_int_equal(authd_acct_put(st, "bob", HOST, &c, 0), 1);
	assert_int_equal(authd_acct_put(st, "bob", "example.net", &c, 1), 0);
	assert_int_equal(authd_acct_put(st, "carol", HOST, &c, 1), 0);
	assert_int_equal(authd_acct_get(st, "alice", HOST, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(authd_acct_get(st, "alice", "example.net", &d), 1);
	make_creds("new", &d);
	assert_int_equal(authd_acct_put(st, "alice", HOST, &d, 0), 0);
	assert_int_equal(authd_acct_get(st, "alice", HOST, &c), 0);
	assert_memory_equal(&c, &d, sizeof(c));

	assert_int_equal(authd_acct_list(st, HOST, list_cb, list), 0);
	assert_string_equal(list, "alice;carol;");
	assert_int_equal(authd_acct_del(st, "alice", HOST), 0);
	assert_int_equal(authd_acct_del(st, "alice", HOST), 1);
	list[0] = '\0';
	assert_int_equal(authd_acct_list(st, HOST, list_cb, list), 0);
	assert_string_equal(list, "carol;");

	/* The fake-account secret is made once and then kept. */
	assert_int_equal(authd_secret_load(st, s1), 0);
	store_close(st);
	assert_non_null(st = store_open(dir, 1 << 20, 4));
	assert_int_equal(authd_secret_load(st, s2), 0);
	assert_memory_equal(s1, s2, sizeof(s1));
	store_close(st);

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_vector),
		cmocka_unit_test(test_rfc5802_vector),
		cmocka_unit_test(test_roundtrip_and_wrong_password),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_plus),
		cmocka_unit_test(test_downgrade),
		cmocka_unit_test(test_authzid_and_saslname),
		cmocka_unit_test(test_malformed_first),
		cmocka_unit_test(test_malformed_final),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_accounts),
	};

	if (sodium_init() == -1)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
