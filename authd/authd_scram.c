/*
 * authd_scram.c - the server side of SCRAM (RFC 5802; SHA-256 per
 * RFC 7677; channel binding tls-exporter per RFC 9266 and
 * tls-server-end-point per RFC 5929) and the PLAIN check (RFC 4616)
 * against the same stored keys.
 *
 * Pure logic: no frames, no store, no logging, so the unit tests and the
 * fuzzer drive it directly; authd_sasl.c feeds it client messages and
 * credentials.  Invariants: every client message is bounded
 * (SCRAM_MSG_MAX) and parsed by position with explicit lengths, never as
 * a C string; a failed step leaves the exchange dead (state DONE); an
 * unknown account runs exactly the computation a known one does, with
 * fake credentials, and fails with the same condition; proofs and keys
 * are compared in constant time and wiped when the exchange is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "authd.h"
#include "jid.h"


enum scram_state { S_FIRST, S_SFIRST, S_FINAL, S_DONE };
enum gs2_flag { GS2_N, GS2_Y, GS2_P };

struct scram {
	enum scram_hash	 hash;
	int		 plus;		/* mechanism is -PLUS */
	int		 offered_plus;	/* we had cb data, so we offered -PLUS */
	enum scram_state state;
	char		 host[JID_PART_MAX + 1];
	char		 user[JID_PART_MAX + 1];
	uint8_t		 exporter[AUTHD_CB_MAX];
	size_t		 exporter_len;
	uint8_t		 endpoint[AUTHD_CB_MAX];
	size_t		 endpoint_len;
	const uint8_t	*cb;		/* the type the client chose, or NULL */
	size_t		 cb_len;
	char		*gs2;		/* gs2-header, as sent */
	size_t		 gs2_len;
	char		*bare;		/* client-first-message-bare */
	size_t		 bare_len;
	char		*sfirst;	/* server-first-message */
	size_t		 sfirst_len;
	char		*nonce;		/* client nonce, then the combined one */
	size_t		 nonce_len;
	struct authd_creds creds;
	int		 known;
	char		 test_nonce[33];	/* fits where the base64 nonce goes */
};

/* A cursor over a client message: [p, end). */
struct cur {
	const char	*p;
	const char	*end;
};

const char *
authd_cond_name(enum authd_cond c)
{
	switch (c) {
	case AC_OK:			return "success";
	case AC_NOT_AUTHORIZED:		return "not-authorized";
	case AC_MALFORMED:		return "malformed-request";
	case AC_INVALID_MECH:		return "invalid-mechanism";
	case AC_INVALID_AUTHZID:	return "invalid-authzid";
	case AC_TEMPORARY:		return "temporary-auth-failure";
	case AC_ENCRYPTION_REQUIRED:	return "encryption-required";
	case AC_TOO_WEAK:		return "mechanism-too-weak";
	}
	return "not-authorized";
}

static const EVP_MD *
md(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

struct scram *
scram_new(enum scram_hash hash, int plus, const char *host,
    const struct scram_cbdata *cb)
{
	struct scram	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->hash = hash;
	s->plus = plus;
	if (strlen(host) >= sizeof(s->host))
		goto bad;
	memcpy(s->host, host, strlen(host) + 1);
	if (cb != NULL) {
		if (cb->exporter_len > AUTHD_CB_MAX ||
		    cb->endpoint_len > AUTHD_CB_MAX)
			goto bad;
		if (cb->exporter_len)
			memcpy(s->exporter, cb->exporter, cb->exporter_len);
		if (cb->endpoint_len)
			memcpy(s->endpoint, cb->endpoint, cb->endpoint_len);
		s->exporter_len = cb->exporter_len;
		s->endpoint_len = cb->endpoint_len;
	}
	s->offered_plus = s->exporter_len > 0 || s->endpoint_len > 0;
	return s;
bad:
	free(s);
	errno = EINVAL;
	return NULL;
}

static void
free_wiped(char *p, size_t len)
{
	if (p != NULL) {
		sodium_memzero(p, len);
		free(p);
	}
}

void
scram_free(struct scram *s)
{
	if (s == NULL)
		return;
	free_wiped(s->gs2, s->gs2_len);
	free_wiped(s->bare, s->bare_len);
	free_wiped(s->sfirst, s->sfirst_len);
	free_wiped(s->nonce, s->nonce_len);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

const char *
scram_user(const struct scram *s)
{
	return s->user;
}

void
scram_test_nonce(struct scram *s, const char *n)
{
	snprintf(s->test_nonce, sizeof(s->test_nonce), "%s", n);
}

static char *
dupn(const char *p, size_t n)
{
	char	*d;

	if ((d = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* Take "X=" at the cursor; the value runs to the next ',' or the end. */
static int
attr(struct cur *c, char name, const char **val, size_t *len)
{
	const char	*v, *e;

	if (c->end - c->p < 2 || c->p[0] != name || c->p[1] != '=')
		return -1;
	v = c->p + 2;
	e = memchr(v, ',', (size_t)(c->end - v));
	if (e == NULL)
		e = c->end;
	*val = v;
	*len = (size_t)(e - v);
	c->p = e;
	return 0;
}

/* Step over the ',' between attributes; -1 at the end or elsewhere. */
static int
comma(struct cur *c)
{
	if (c->p >= c->end || *c->p != ',')
		return -1;
	c->p++;
	return 0;
}

/* RFC 5802 7: saslname, with "=2C" for ',' and "=3D" for '='. */
static int
saslname(const char *v, size_t len, char *out, size_t outsz)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++) {
		if (o + 1 >= outsz || v[i] == '\0' || v[i] == ',')
			return -1;
		if (v[i] != '=') {
			out[o++] = v[i];
			continue;
		}
		if (len - i < 3)
			return -1;
		if (v[i + 1] == '2' && v[i + 2] == 'C')
			out[o++] = ',';
		else if (v[i + 1] == '3' && v[i + 2] == 'D')
			out[o++] = '=';
		else
			return -1;
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

/* RFC 5802 7: printable = %x21-2B / %x2D-7E (no ','). */
static int
printable(const char *v, size_t len)
{
	size_t	i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e ||
		    v[i] == ',')
			return -1;
	return 0;
}

/* Optional extensions (attr-val, RFC 5802 7): a letter, '=', a value. */
static int
extensions(struct cur *c, int stop_at_proof)
{
	const char	*v;
	size_t		 len;

	while (c->p < c->end) {
		if (stop_at_proof && c->end - c->p > 2 && c->p[1] == 'p' &&
		    c->p[2] == '=')
			return 0;
		if (comma(c) == -1 || c->end - c->p < 2)
			return -1;
		if (!((*c->p >= 'a' && *c->p <= 'z') ||
		    (*c->p >= 'A' && *c->p <= 'Z')) ||
		    attr(c, *c->p, &v, &len) == -1 || len == 0)
			return -1;
	}
	return 0;
}

/* An authzid is acceptable only when it names the authenticating account
 * itself (RFC 6120 6.3.8: we let nobody act for another). */
static int
authz_ok(const char *user, const char *host, const char *authz)
{
	char	norm[JID_MAX + 1], mine[JID_MAX + 1];
	int	n;

	n = snprintf(mine, sizeof(mine), "%s@%s", user, host);
	if (n < 0 || (size_t)n >= sizeof(mine))
		return 0;
	if (jid_normalize(authz, norm, sizeof(norm)) == -1)
		return 0;
	return strcmp(norm, mine) == 0;
}

/* Which channel binding the client named in "p=" (RFC 5802 7). */
static enum authd_cond
cb_choose(struct scram *s, const char *v, size_t len)
{
	if (len == 12 && memcmp(v, "tls-exporter", 12) == 0) {
		s->cb = s->exporter;
		s->cb_len = s->exporter_len;
	} else if (len == 20 && memcmp(v, "tls-server-end-point", 20) == 0) {
		s->cb = s->endpoint;
		s->cb_len = s->endpoint_len;
	} else
		return AC_NOT_AUTHORIZED;	/* unsupported-channel-binding-type */
	/* We cannot bind to what this connection does not have. */
	return s->cb_len > 0 ? AC_OK : AC_NOT_AUTHORIZED;
}

/*
 * gs2-header (RFC 5802 7): cbind-flag "," [authzid] ",".  The flag must
 * match the mechanism: -PLUS requires "p=", plain SCRAM forbids it, and
 * "y" while we offered -PLUS means someone removed -PLUS from the list
 * the client saw, so authentication fails (RFC 5802 6).
 */
static enum authd_cond
gs2_header(struct scram *s, struct cur *c, char *authz, size_t authzsz)
{
	enum gs2_flag	 flag;
	enum authd_cond	 rc;
	const char	*v;
	size_t		 len;

	if (c->end - c->p < 2)
		return AC_MALFORMED;
	if ((c->p[0] == 'n' || c->p[0] == 'y') && c->p[1] == ',') {
		flag = c->p[0] == 'n' ? GS2_N : GS2_Y;
		c->p++;
	} else if (attr(c, 'p', &v, &len) == 0) {
		flag = GS2_P;
		if (!s->plus)
			return AC_MALFORMED;
		if ((rc = cb_choose(s, v, len)) != AC_OK)
			return rc;
	} else
		return AC_MALFORMED;
	if (flag != GS2_P && s->plus)
		return AC_MALFORMED;
	if (flag == GS2_Y && s->offered_plus)
		return AC_NOT_AUTHORIZED;
	if (comma(c) == -1)
		return AC_MALFORMED;
	authz[0] = '\0';
	if (c->p < c->end && *c->p != ',') {
		if (attr(c, 'a', &v, &len) == -1 || len == 0 ||
		    saslname(v, len, authz, authzsz) == -1)
			return AC_MALFORMED;
	}
	if (comma(c) == -1)
		return AC_MALFORMED;
	return AC_OK;
}

static int
bad_message(const char *msg, size_t len)
{
	return len == 0 || len > SCRAM_MSG_MAX || memchr(msg, '\0', len) != NULL;
}

/* client-first-message (RFC 5802 7). */
enum authd_cond
scram_client_first(struct scram *s, const char *msg, size_t len)
{
	struct cur	 c = { msg, msg + len };
	char		 authz[JID_MAX + 1], name[JID_PART_MAX + 1];
	const char	*bare, *nonce;
	size_t		 nlen;
	enum authd_cond	 rc;

	if (s->state != S_FIRST) {
		s->state = S_DONE;	/* out of order: the exchange is dead */
		return AC_MALFORMED;
	}
	s->state = S_DONE;		/* until this step succeeds */
	if (bad_message(msg, len))
		return AC_MALFORMED;
	if ((rc = gs2_header(s, &c, authz, sizeof(authz))) != AC_OK)
		return rc;
	bare = c.p;
	/* "m=" is reserved for mandatory extensions; we know none (5.1). */
	if (c.end - c.p >= 2 && c.p[0] == 'm' && c.p[1] == '=')
		return AC_MALFORMED;
	if (attr(&c, 'n', &nonce, &nlen) == -1 ||
	    saslname(nonce, nlen, name, sizeof(name)) == -1 || name[0] == '\0')
		return AC_MALFORMED;
	if (comma(&c) == -1 || attr(&c, 'r', &nonce, &nlen) == -1 ||
	    printable(nonce, nlen) == -1 || extensions(&c, 0) == -1)
		return AC_MALFORMED;
	/* The authcid is the account's localpart (RFC 6120 6.3.7). */
	if (jid_prep_local(name, strlen(name), s->user) == -1) {
		s->user[0] = '\0';
		return AC_NOT_AUTHORIZED;
	}
	if (authz[0] != '\0' && !authz_ok(s->user, s->host, authz))
		return AC_INVALID_AUTHZID;
	s->gs2_len = (size_t)(bare - msg);
	s->bare_len = (size_t)(c.end - bare);
	s->nonce_len = nlen;
	if ((s->gs2 = dupn(msg, s->gs2_len)) == NULL ||
	    (s->bare = dupn(bare, s->bare_len)) == NULL ||
	    (s->nonce = dupn(nonce, nlen)) == NULL)
		return AC_TEMPORARY;
	s->state = S_SFIRST;
	return AC_OK;
}

/*
 * server-first-message: r=client-nonce+our-nonce,s=salt,i=iterations.
 * For an unknown account `creds` are authd_creds_fake()'s, so the answer
 * looks the same either way.
 */
enum authd_cond
scram_server_first(struct scram *s, const struct authd_creds *creds,
    int known, char *out, size_t outsz, size_t *outlen)
{
	uint8_t		 rnd[SCRAM_NONCE_RAND];
	char		 mine[sodium_base64_ENCODED_LEN(SCRAM_NONCE_RAND,
			    sodium_base64_VARIANT_ORIGINAL)];
	char		 salt[sodium_base64_ENCODED_LEN(AUTHD_SALT_MAX,
			    sodium_base64_VARIANT_ORIGINAL)];
	char		*nonce;
	size_t		 ml;
	int		 n;

	if (s->state != S_SFIRST) {
		s->state = S_DONE;	/* out of order: the exchange is dead */
		return AC_MALFORMED;
	}
	s->state = S_DONE;		/* until this step succeeds */
	if (creds->salt_len == 0 || creds->salt_len > AUTHD_SALT_MAX)
		return AC_TEMPORARY;
	s->creds = *creds;
	s->known = known;
	if (s->test_nonce[0] != '\0')
		snprintf(mine, sizeof(mine), "%s", s->test_nonce);
	else {
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2base64(mine, sizeof(mine), rnd, sizeof(rnd),
		    sodium_base64_VARIANT_ORIGINAL);
	}
	ml = strlen(mine);
	if ((nonce = realloc(s->nonce, s->nonce_len + ml + 1)) == NULL)
		return AC_TEMPORARY;
	memcpy(nonce + s->nonce_len, mine, ml + 1);
	s->nonce = nonce;
	s->nonce_len += ml;
	sodium_bin2base64(salt, sizeof(salt), creds->salt, creds->salt_len,
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outsz, "r=%s,s=%s,i=%u", s->nonce, salt,
	    (unsigned)creds->iter);
	if (n < 0 || (size_t)n >= outsz)
		return AC_MALFORMED;	/* only an absurd client nonce */
	if ((s->sfirst = dupn(out, (size_t)n)) == NULL)
		return AC_TEMPORARY;
	s->sfirst_len = (size_t)n;
	*outlen = (size_t)n;
	s->state = S_FINAL;
	return AC_OK;
}

/* Strict standard base64 of exactly `want` bytes (any if want == 0). */
static int
b64dec(const char *v, size_t len, uint8_t *out, size_t outsz, size_t *got)
{
	const char	*end;

	if (sodium_base642bin(out, outsz, v, len, NULL, got, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != v + len)
		return -1;
	return 0;
}

/* c= must be base64(gs2-header || cb-data) (RFC 5802 7, cbind-input). */
static int
cbind_ok(const struct scram *s, const char *v, size_t len)
{
	uint8_t	*buf;
	size_t	 got, want = s->gs2_len + (s->cb != NULL ? s->cb_len : 0);
	int	 ok;

	if ((buf = malloc(len + 1)) == NULL)
		return 0;
	ok = b64dec(v, len, buf, len + 1, &got) == 0 && got == want &&
	    memcmp(buf, s->gs2, s->gs2_len) == 0 &&
	    (s->cb == NULL ||
	    sodium_memcmp(buf + s->gs2_len, s->cb, s->cb_len) == 0);
	free(buf);
	return ok;
}

/*
 * The proof check of RFC 5802 3: ClientSignature := HMAC(StoredKey,
 * AuthMessage); ClientKey := ClientProof XOR ClientSignature; the proof is
 * good iff H(ClientKey) == StoredKey.  ServerSignature is computed in every
 * case so a failure costs what a success costs.
 */
static enum authd_cond
verify(struct scram *s, const uint8_t *proof, const char *cfinal,
    size_t cflen, char *out, size_t outsz, size_t *outlen)
{
	const EVP_MD	*m = md(s->hash);
	size_t		 hl = scram_hash_len(s->hash), i, amlen;
	uint8_t		 sig[SCRAM_KEY_MAX], key[SCRAM_KEY_MAX];
	uint8_t		 hkey[SCRAM_KEY_MAX], ssig[SCRAM_KEY_MAX];
	unsigned int	 n;
	char		*am;
	int		 ok;

	amlen = s->bare_len + 1 + s->sfirst_len + 1 + cflen;
	if ((am = malloc(amlen)) == NULL)
		return AC_TEMPORARY;
	memcpy(am, s->bare, s->bare_len);
	am[s->bare_len] = ',';
	memcpy(am + s->bare_len + 1, s->sfirst, s->sfirst_len);
	am[s->bare_len + 1 + s->sfirst_len] = ',';
	memcpy(am + s->bare_len + 2 + s->sfirst_len, cfinal, cflen);

	ok = HMAC(m, s->creds.stored[s->hash], (int)hl, (uint8_t *)am, amlen,
	    sig, &n) != NULL;
	for (i = 0; i < hl; i++)
		key[i] = proof[i] ^ sig[i];
	ok = ok && EVP_Digest(key, hl, hkey, &n, m, NULL) == 1;
	ok = ok && HMAC(m, s->creds.server[s->hash], (int)hl, (uint8_t *)am,
	    amlen, ssig, &n) != NULL;
	ok = ok && (sodium_memcmp(hkey, s->creds.stored[s->hash], hl) == 0);
	ok = ok && s->known;
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sig, sizeof(sig));
	free_wiped(am, amlen);
	if (!ok || outsz < 2 + sodium_base64_ENCODED_LEN(hl,
	    sodium_base64_VARIANT_ORIGINAL)) {
		sodium_memzero(ssig, sizeof(ssig));
		return AC_NOT_AUTHORIZED;
	}
	memcpy(out, "v=", 2);
	sodium_bin2base64(out + 2, outsz - 2, ssig, hl,
	    sodium_base64_VARIANT_ORIGINAL);
	*outlen = strlen(out);
	sodium_memzero(ssig, sizeof(ssig));
	return AC_OK;
}

/* client-final-message (RFC 5802 7): c=...,r=...[,ext],p=... */
enum authd_cond
scram_client_final(struct scram *s, const char *msg, size_t len, char *out,
    size_t outsz, size_t *outlen)
{
	struct cur	 c = { msg, msg + len };
	const char	*cbv, *nonce, *pv, *without_proof;
	size_t		 cbl, nl, pl, got;
	uint8_t		 proof[SCRAM_KEY_MAX + 3];
	enum authd_cond	 rc;

	if (s->state != S_FINAL) {
		s->state = S_DONE;	/* out of order: the exchange is dead */
		return AC_MALFORMED;
	}
	s->state = S_DONE;		/* until this step succeeds */
	if (bad_message(msg, len))
		return AC_MALFORMED;
	if (attr(&c, 'c', &cbv, &cbl) == -1 || comma(&c) == -1 ||
	    attr(&c, 'r', &nonce, &nl) == -1 || printable(nonce, nl) == -1 ||
	    extensions(&c, 1) == -1)
		return AC_MALFORMED;
	without_proof = c.p;
	if (comma(&c) == -1 || attr(&c, 'p', &pv, &pl) == -1 || c.p != c.end)
		return AC_MALFORMED;
	if (b64dec(pv, pl, proof, sizeof(proof), &got) == -1 ||
	    got != scram_hash_len(s->hash))
		return AC_MALFORMED;
	if (!cbind_ok(s, cbv, cbl))
		return AC_NOT_AUTHORIZED;
	if (nl != s->nonce_len || memcmp(nonce, s->nonce, nl) != 0)
		return AC_NOT_AUTHORIZED;
	rc = verify(s, proof, msg, (size_t)(without_proof - msg), out, outsz,
	    outlen);
	sodium_memzero(proof, sizeof(proof));
	return rc;
}

/*
 * PLAIN (RFC 4616 2): [authzid] NUL authcid NUL passwd.  The authcid is
 * prepared as a localpart, the password with OpaqueString (RFC 8265 4.2)
 * into `pass` (at least JID_PART_MAX + 1 bytes).
 */
enum authd_cond
plain_parse(const uint8_t *msg, size_t len, const char *host,
    char user[JID_PART_MAX + 1], char *pass, size_t passsz)
{
	const char	*m = (const char *)msg, *n1, *n2;
	char		 authz[JID_MAX + 1];
	size_t		 azl, cl, pl;

	if (len == 0 || len > SCRAM_MSG_MAX || passsz < JID_PART_MAX + 1)
		return AC_MALFORMED;
	if ((n1 = memchr(m, '\0', len)) == NULL ||
	    (n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - m))) == NULL ||
	    memchr(n2 + 1, '\0', len - (size_t)(n2 + 1 - m)) != NULL)
		return AC_MALFORMED;
	azl = (size_t)(n1 - m);
	cl = (size_t)(n2 - n1 - 1);
	pl = len - (size_t)(n2 + 1 - m);
	if (cl == 0 || pl == 0 || azl > JID_MAX || pl > AUTHD_PASS_MAX)
		return AC_MALFORMED;
	if (jid_prep_local(n1 + 1, cl, user) == -1)
		return AC_NOT_AUTHORIZED;
	if (azl > 0) {
		memcpy(authz, m, azl);
		authz[azl] = '\0';
		if (!authz_ok(user, host, authz))
			return AC_INVALID_AUTHZID;
	}
	if (jid_prep_resource(n2 + 1, pl, pass) == -1)
		return AC_NOT_AUTHORIZED;
	return AC_OK;
}

/* Recompute StoredKey (SHA-256) from the password and compare. */
enum authd_cond
plain_verify(const struct authd_creds *c, int known, const char *pass)
{
	uint8_t	salted[SCRAM_KEY_MAX], stored[SCRAM_KEY_MAX];
	uint8_t	server[SCRAM_KEY_MAX];
	int	ok;

	ok = authd_salted_password(SCRAM_SHA256, pass, strlen(pass), c->salt,
	    c->salt_len, c->iter, salted) == 0 &&
	    authd_keys_from_salted(SCRAM_SHA256, salted, stored, server) == 0 &&
	    sodium_memcmp(stored, c->stored[SCRAM_SHA256], 32) == 0 && known;
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(stored, sizeof(stored));
	sodium_memzero(server, sizeof(server));
	return ok ? AC_OK : AC_NOT_AUTHORIZED;
}
