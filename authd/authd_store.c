/*
 * authd_store.c - the account record and the key derivation behind it.
 *
 * An account lives in the LMDB database "accounts" under the key
 * "localpart@domain" (both normalized; a localpart never holds '@',
 * RFC 7622 3.3.1, so the split is unambiguous).  The record carries what
 * SCRAM needs (RFC 5802 section 3) for SHA-1 and SHA-256: the iteration
 * count, the salt, StoredKey and ServerKey.  The password itself and the
 * SaltedPassword/ClientKey intermediates never outlive the function that
 * computed them: they are wiped with sodium_memzero before returning.
 * Record layout, version 1 (little-endian):
 *   u8 version, u32 iterations, u8 salt_len, salt,
 *   SHA-1 StoredKey (20), SHA-1 ServerKey (20),
 *   SHA-256 StoredKey (32), SHA-256 ServerKey (32).
 * Called by authd_sasl.c (lookups), authd_account.c (add, passwd, del,
 * list) and the unit tests.  Nothing here logs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "authd.h"
#include "jid.h"
#include "store.h"

#define ACCT_DB		"accounts"
#define META_DB		"meta"
#define SECRET_KEY	"fake-account-secret"
#define ACCT_VERSION	1
#define ACCT_KEY_MAX	(2 * JID_PART_MAX + 2)

static const EVP_MD *
scram_md(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t
scram_hash_len(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? 20 : 32;
}

int
authd_salted_password(enum scram_hash h, const char *pass, size_t passlen,
    const uint8_t *salt, size_t saltlen, uint32_t iter, uint8_t *out)
{
	if (iter < 1 || iter > AUTHD_ITER_MAX || passlen > AUTHD_PASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (PKCS5_PBKDF2_HMAC(pass, (int)passlen, salt, (int)saltlen,
	    (int)iter, scram_md(h), (int)scram_hash_len(h), out) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * RFC 5802 section 3: ClientKey := HMAC(SaltedPassword, "Client Key"),
 * StoredKey := H(ClientKey), ServerKey := HMAC(SaltedPassword, "Server Key").
 */
int
authd_keys_from_salted(enum scram_hash h, const uint8_t *salted,
    uint8_t *stored, uint8_t *server)
{
	uint8_t		 ckey[SCRAM_KEY_MAX];
	unsigned int	 n;
	size_t		 hl = scram_hash_len(h);
	int		 ok;

	ok = HMAC(scram_md(h), salted, (int)hl, (const uint8_t *)"Client Key",
	    10, ckey, &n) != NULL && n == hl &&
	    EVP_Digest(ckey, hl, stored, &n, scram_md(h), NULL) == 1 &&
	    HMAC(scram_md(h), salted, (int)hl, (const uint8_t *)"Server Key",
	    10, server, &n) != NULL;
	sodium_memzero(ckey, sizeof(ckey));
	if (!ok) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
authd_creds_derive(const char *pass, size_t passlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, struct authd_creds *c)
{
	char		 prep[JID_PART_MAX + 1];
	uint8_t		 salted[SCRAM_KEY_MAX];
	int		 h, rc = 0;

	if (saltlen == 0 || saltlen > AUTHD_SALT_MAX || passlen == 0 ||
	    passlen > AUTHD_PASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* RFC 7677 / RFC 8265: passwords are prepared with OpaqueString. */
	if (jid_prep_resource(pass, passlen, prep) == -1) {
		errno = EINVAL;
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->iter = iter;
	c->salt_len = saltlen;
	memcpy(c->salt, salt, saltlen);
	for (h = 0; h < SCRAM_NHASH && rc == 0; h++) {
		rc = authd_salted_password(h, prep, strlen(prep), salt, saltlen,
		    iter, salted);
		if (rc == 0)
			rc = authd_keys_from_salted(h, salted, c->stored[h],
			    c->server[h]);
	}
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(prep, sizeof(prep));
	return rc;
}

int
authd_creds_new(const char *pass, size_t passlen, uint32_t iter,
    struct authd_creds *c)
{
	uint8_t	salt[AUTHD_SALT_LEN];

	randombytes_buf(salt, sizeof(salt));
	return authd_creds_derive(pass, passlen, salt, sizeof(salt), iter, c);
}

/* HMAC-SHA-256(secret, label || 0 || user@host), into a 32-byte `out`. */
static void
fake_prf(const uint8_t *secret, const char *label, const char *user,
    const char *host, uint8_t *out)
{
	char		 buf[64 + ACCT_KEY_MAX + 2];
	int		 n;
	unsigned int	 ol;

	n = snprintf(buf, sizeof(buf), "%s%c%s@%s", label, 0, user, host);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (HMAC(EVP_sha256(), secret, AUTHD_SECRET_LEN, (uint8_t *)buf,
	    (size_t)n, out, &ol) == NULL)
		randombytes_buf(out, 32);	/* still fails the login */
}

void
authd_creds_fake(const uint8_t secret[AUTHD_SECRET_LEN], const char *user,
    const char *host, uint32_t iter, struct authd_creds *c)
{
	uint8_t	salt[32];
	int	h;

	memset(c, 0, sizeof(*c));
	c->iter = iter;
	fake_prf(secret, "salt", user, host, salt);
	c->salt_len = AUTHD_SALT_LEN;
	memcpy(c->salt, salt, AUTHD_SALT_LEN);
	for (h = 0; h < SCRAM_NHASH; h++) {
		fake_prf(secret, h ? "stored256" : "stored1", user, host,
		    c->stored[h]);
		fake_prf(secret, h ? "server256" : "server1", user, host,
		    c->server[h]);
	}
}

int
authd_creds_encode(const struct authd_creds *c, uint8_t *buf, size_t sz)
{
	size_t	need = 1 + 4 + 1 + c->salt_len + 2 * 20 + 2 * 32;
	uint8_t	*p = buf;

	if (c->salt_len == 0 || c->salt_len > AUTHD_SALT_MAX || sz < need) {
		errno = EINVAL;
		return -1;
	}
	*p++ = ACCT_VERSION;
	*p++ = c->iter & 0xff;
	*p++ = (c->iter >> 8) & 0xff;
	*p++ = (c->iter >> 16) & 0xff;
	*p++ = (c->iter >> 24) & 0xff;
	*p++ = (uint8_t)c->salt_len;
	memcpy(p, c->salt, c->salt_len);
	p += c->salt_len;
	memcpy(p, c->stored[SCRAM_SHA1], 20);
	memcpy(p + 20, c->server[SCRAM_SHA1], 20);
	memcpy(p + 40, c->stored[SCRAM_SHA256], 32);
	memcpy(p + 72, c->server[SCRAM_SHA256], 32);
	return (int)need;
}

int
authd_creds_decode(const uint8_t *p, size_t len, struct authd_creds *c)
{
	size_t	sl;

	if (len < 6 || p[0] != ACCT_VERSION)
		goto bad;
	sl = p[5];
	if (sl == 0 || sl > AUTHD_SALT_MAX || len != 6 + sl + 2 * 20 + 2 * 32)
		goto bad;
	memset(c, 0, sizeof(*c));
	c->iter = (uint32_t)p[1] | (uint32_t)p[2] << 8 |
	    (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
	if (c->iter < 1 || c->iter > AUTHD_ITER_MAX)
		goto bad;
	c->salt_len = sl;
	memcpy(c->salt, p + 6, sl);
	p += 6 + sl;
	memcpy(c->stored[SCRAM_SHA1], p, 20);
	memcpy(c->server[SCRAM_SHA1], p + 20, 20);
	memcpy(c->stored[SCRAM_SHA256], p + 40, 32);
	memcpy(c->server[SCRAM_SHA256], p + 72, 32);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int
acct_key(const char *user, const char *host, char *key, size_t sz)
{
	int	n;

	n = snprintf(key, sz, "%s@%s", user, host);
	if (n < 0 || (size_t)n >= sz || *user == '\0' || *host == '\0') {
		errno = EINVAL;
		return -1;
	}
	return n;
}

int
authd_acct_get(struct store *st, const char *user, const char *host,
    struct authd_creds *c)
{
	char			 key[ACCT_KEY_MAX + 1];
	struct store_txn	*t;
	const void		*v;
	size_t			 vl;
	int			 kl, rc;

	if ((kl = acct_key(user, host, key, sizeof(key))) == -1)
		return 1;
	if ((t = store_begin(st, 0)) == NULL)
		return -1;
	rc = store_get(t, ACCT_DB, key, (size_t)kl, &v, &vl);
	if (rc == 0 && authd_creds_decode(v, vl, c) == -1)
		rc = -1;
	store_abort(t);
	return rc;
}

int
authd_acct_put(struct store *st, const char *user, const char *host,
    const struct authd_creds *c, int create)
{
	char			 key[ACCT_KEY_MAX + 1];
	uint8_t			 rec[6 + AUTHD_SALT_MAX + 2 * 20 + 2 * 32];
	struct store_txn	*t;
	const void		*v;
	size_t			 vl;
	int			 kl, rl, rc;

	if ((kl = acct_key(user, host, key, sizeof(key))) == -1 ||
	    (rl = authd_creds_encode(c, rec, sizeof(rec))) == -1)
		return -1;
	if ((t = store_begin(st, 1)) == NULL)
		return -1;
	rc = store_get(t, ACCT_DB, key, (size_t)kl, &v, &vl);
	/* create: must not exist (0 means found); passwd: must exist. */
	if (rc == -1 || (create && rc == 0) || (!create && rc == 1)) {
		store_abort(t);
		sodium_memzero(rec, sizeof(rec));
		return rc == -1 ? -1 : 1;
	}
	rc = store_put(t, ACCT_DB, key, (size_t)kl, rec, (size_t)rl);
	sodium_memzero(rec, sizeof(rec));
	if (rc == -1) {
		store_abort(t);
		return -1;
	}
	return store_commit(t);
}

int
authd_acct_del(struct store *st, const char *user, const char *host)
{
	char			 key[ACCT_KEY_MAX + 1];
	struct store_txn	*t;
	int			 kl, rc;

	if ((kl = acct_key(user, host, key, sizeof(key))) == -1)
		return 1;
	if ((t = store_begin(st, 1)) == NULL)
		return -1;
	rc = store_del(t, ACCT_DB, key, (size_t)kl);
	if (rc != 0) {
		store_abort(t);
		return rc;
	}
	return store_commit(t);
}

struct list_arg {
	const char	*host;
	size_t		 hlen;
	int		(*cb)(const char *, size_t, void *);
	void		*arg;
};

static int
list_one(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct list_arg	*la = arg;
	const char	*key = k;

	/* Keys end in "@host"; the localpart holds no '@'. */
	if (kl <= la->hlen + 1 || key[kl - la->hlen - 1] != '@' ||
	    memcmp(key + kl - la->hlen, la->host, la->hlen) != 0)
		return 0;
	return la->cb(key, kl - la->hlen - 1, la->arg);
}

int
authd_acct_list(struct store *st, const char *host,
    int (*cb)(const char *, size_t, void *), void *arg)
{
	struct list_arg		 la = { host, strlen(host), cb, arg };
	struct store_txn	*t;
	int			 rc;

	if ((t = store_begin(st, 0)) == NULL)
		return -1;
	rc = store_scan(t, ACCT_DB, "", 0, list_one, &la);
	store_abort(t);
	return rc;
}

/*
 * The secret behind fake credentials.  It is kept in the store, not made
 * fresh at each start, so that an unknown user's salt does not change
 * across restarts (a changing salt would tell it from a real account).
 */
int
authd_secret_load(struct store *st, uint8_t secret[AUTHD_SECRET_LEN])
{
	struct store_txn	*t;
	const void		*v;
	size_t			 vl;
	int			 rc;

	if ((t = store_begin(st, 1)) == NULL)
		return -1;
	rc = store_get(t, META_DB, SECRET_KEY, strlen(SECRET_KEY), &v, &vl);
	if (rc == 0 && vl == AUTHD_SECRET_LEN) {
		memcpy(secret, v, AUTHD_SECRET_LEN);
		store_abort(t);
		return 0;
	}
	if (rc == -1) {
		store_abort(t);
		return -1;
	}
	randombytes_buf(secret, AUTHD_SECRET_LEN);
	if (store_put(t, META_DB, SECRET_KEY, strlen(SECRET_KEY), secret,
	    AUTHD_SECRET_LEN) == -1) {
		store_abort(t);
		return -1;
	}
	return store_commit(t);
}
