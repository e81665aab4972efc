/*
 * authd.h - structs and prototypes private to authd.
 *
 * authd holds the accounts (salted SCRAM keys only, never a password) and
 * runs the SASL exchanges that c2sd relays to it.  The pieces:
 *   authd_scram.c   the SCRAM and PLAIN server logic, pure (no frames, no
 *                   store), so tests and the fuzzer drive it directly;
 *   authd_store.c   the account record in LMDB and the key derivation;
 *   authd_sasl.c    RF_SASL_* frames, the table of open exchanges, the
 *                   failed-login throttle;
 *   authd_account.c RF_ACCT_* frames (rampartctl, XEP-0077);
 *   authd.c         main(), configuration, dispatch.
 * Nothing in common/ includes this file.
 */
#ifndef RAMPART_AUTHD_H
#define RAMPART_AUTHD_H

#include <stddef.h>
#include <stdint.h>

#include "jid.h"

struct store;
struct link;
struct frame;

#define AUTHD_SALT_LEN		16	/* new accounts; RFC 5802 5.1 */
#define AUTHD_SALT_MAX		64	/* what a stored record may carry */
#define AUTHD_ITER_DEFAULT	10000
#define AUTHD_ITER_MIN		4096	/* RFC 7677 section 4 */
#define AUTHD_ITER_MAX		1000000	/* bounds the CPU one login costs */
#define AUTHD_SECRET_LEN	32
#define AUTHD_PASS_MAX		1023	/* bytes, before and after OpaqueString */
#define AUTHD_MAX_EXCHANGES	10000	/* open SASL exchanges */
#define AUTHD_EXCHANGE_TTL	60	/* seconds an exchange may stay open */
#define AUTHD_MAX_HOSTS		64
#define AUTHD_FAILS_DEFAULT	5
#define AUTHD_WINDOW_DEFAULT	300	/* seconds */
#define AUTHD_THROTTLE_SLOTS	8192	/* per table (accounts, ips) */
#define SCRAM_MSG_MAX		8192	/* one client SCRAM message */
#define SCRAM_NONCE_RAND	24	/* random bytes in the server nonce */
#define SCRAM_KEY_MAX		32	/* SHA-256 output */
#define AUTHD_CB_MAX		64	/* channel-binding data (SHA-512 end-point) */

/* SASL failure conditions, RFC 6120 section 6.5. */
enum authd_cond {
	AC_OK = 0,
	AC_NOT_AUTHORIZED,
	AC_MALFORMED,
	AC_INVALID_MECH,
	AC_INVALID_AUTHZID,
	AC_TEMPORARY,
	AC_ENCRYPTION_REQUIRED,
	AC_TOO_WEAK,
};
const char *authd_cond_name(enum authd_cond);

enum scram_hash {
	SCRAM_SHA1 = 0,
	SCRAM_SHA256 = 1,
	SCRAM_NHASH
};
size_t	scram_hash_len(enum scram_hash);

/* What an account stores: per hash StoredKey and ServerKey (RFC 5802 3). */
struct authd_creds {
	uint32_t	iter;
	size_t		salt_len;
	uint8_t		salt[AUTHD_SALT_MAX];
	uint8_t		stored[SCRAM_NHASH][SCRAM_KEY_MAX];
	uint8_t		server[SCRAM_NHASH][SCRAM_KEY_MAX];
};

/* authd_store.c */
/* SaltedPassword := Hi(Normalize(password), salt, i); `out` gets
 * scram_hash_len() bytes.  `pass` is already OpaqueString-prepared. */
int	authd_salted_password(enum scram_hash, const char *pass, size_t passlen,
	    const uint8_t *salt, size_t saltlen, uint32_t iter, uint8_t *out);
/* ClientKey, StoredKey, ServerKey from a SaltedPassword. */
int	authd_keys_from_salted(enum scram_hash, const uint8_t *salted,
	    uint8_t *stored, uint8_t *server);
/* Prepare the password (OpaqueString) and derive both hashes' keys. */
int	authd_creds_derive(const char *pass, size_t passlen, const uint8_t *salt,
	    size_t saltlen, uint32_t iter, struct authd_creds *);
/* Same, with a fresh random salt. */
int	authd_creds_new(const char *pass, size_t passlen, uint32_t iter,
	    struct authd_creds *);
/* Deterministic stand-in for an unknown account (salt and keys from
 * HMAC(secret, ...)), so nobody can tell it from a real one. */
void	authd_creds_fake(const uint8_t secret[AUTHD_SECRET_LEN],
	    const char *user, const char *host, uint32_t iter,
	    struct authd_creds *);
int	authd_creds_encode(const struct authd_creds *, uint8_t *, size_t);
int	authd_creds_decode(const uint8_t *, size_t, struct authd_creds *);

int	authd_acct_get(struct store *, const char *user, const char *host,
	    struct authd_creds *);			/* 0, 1 none, -1 */
int	authd_acct_put(struct store *, const char *user, const char *host,
	    const struct authd_creds *, int create);	/* 0, 1 exists/none, -1 */
int	authd_acct_del(struct store *, const char *user, const char *host);
int	authd_acct_list(struct store *, const char *host,
	    int (*cb)(const char *user, size_t len, void *), void *);
int	authd_secret_load(struct store *, uint8_t secret[AUTHD_SECRET_LEN]);

/* authd_scram.c: one server-side SCRAM exchange, RFC 5802 / RFC 7677. */
struct scram;

/* Channel-binding data c2sd computed for this TLS connection; empty when
 * the connection has none.  The server offers -PLUS iff one is present. */
struct scram_cbdata {
	const uint8_t	*exporter;	/* RFC 9266 tls-exporter */
	size_t		 exporter_len;
	const uint8_t	*endpoint;	/* RFC 5929 tls-server-end-point */
	size_t		 endpoint_len;
};

struct scram *scram_new(enum scram_hash, int plus, const char *host,
	    const struct scram_cbdata *);
void	scram_free(struct scram *);
/* Parse client-first-message; then scram_user() is the prepared localpart. */
enum authd_cond scram_client_first(struct scram *, const char *, size_t);
const char *scram_user(const struct scram *);
/* Answer with server-first-message using `creds` (fake ones when !known). */
enum authd_cond scram_server_first(struct scram *, const struct authd_creds *,
	    int known, char *out, size_t outsz, size_t *outlen);
/* Verify client-final-message; on AC_OK `out` holds server-final. */
enum authd_cond scram_client_final(struct scram *, const char *, size_t,
	    char *out, size_t outsz, size_t *outlen);
/* Tests only: use this text instead of random bytes in the server nonce. */
void	scram_test_nonce(struct scram *, const char *);

/* PLAIN, RFC 4616: split and prepare; then verify against the SCRAM keys. */
enum authd_cond plain_parse(const uint8_t *, size_t, const char *host,
	    char user[JID_PART_MAX + 1], char *pass, size_t passsz);
enum authd_cond plain_verify(const struct authd_creds *, int known,
	    const char *pass);

/* authd.c: process-wide state set by configuration. */
struct authd_host {
	char	name[JID_PART_MAX + 1];
	int	registration;
};
struct authd_conf {
	char		 store_dir[4096];
	struct authd_host hosts[AUTHD_MAX_HOSTS];
	int		 nhosts;
	uint32_t	 iterations;
	unsigned	 max_fails;
	unsigned	 fail_window;
};
extern struct authd_conf authd_conf;
extern struct store	*authd_store;
extern uint8_t		 authd_secret[AUTHD_SECRET_LEN];
const struct authd_host *authd_host_find(const char *);

/* authd_sasl.c */
void	authd_sasl_init(void);
void	authd_sasl_dispatch(struct link *, struct frame *);
void	authd_sasl_shutdown(void);

/* sandbox.c */
struct sandbox_policy;
extern const struct sandbox_policy authd_policy;

/* authd_account.c */
void	authd_account_dispatch(struct link *, struct frame *);

#endif
