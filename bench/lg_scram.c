/*
 * lg_scram.c - the client side of SASL SCRAM (RFC 5802, RFC 7677) and
 * PLAIN (RFC 4616) for the load generator.
 *
 * lg_conn.c calls lg_scram_start() when the server offers the mechanism,
 * lg_scram_step() on the server-first-message and lg_scram_verify() on
 * <success/>; all data in and out is base64 as it travels in XMPP
 * (RFC 6120 section 6.4.2).  PBKDF2 is by design the most expensive step
 * of a login, and the load generator must not spend its CPU where the
 * server spends none (the server stores StoredKey/ServerKey), so
 * SaltedPassword is cached per (hash, password, salt, iterations) in a
 * bounded table that can be saved to and loaded from a file between runs.
 * No channel binding: the mechanisms are the non-PLUS ones and the GS2
 * header is "n,," (RFC 5802 section 7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lg.h"

#define CACHE_SLOTS	(1u << 17)
#define MSG_MAX		1024

struct cache_ent {
	unsigned char	 key[32];
	unsigned char	 salted[EVP_MAX_MD_SIZE];
	int		 used;
};

struct scram {
	const EVP_MD	*md;
	char		 password[256];
	char		 cfb[MSG_MAX];		/* client-first-message-bare */
	char		 nonce[64];
	unsigned char	 server_sig[EVP_MAX_MD_SIZE];
	unsigned	 mdlen;
};

static struct cache_ent	*cache;
static unsigned long	 pbkdf2_count;

unsigned long
lg_scram_pbkdf2_count(void)
{
	return pbkdf2_count;
}

static int
b64_enc(const void *in, size_t len, char *out, size_t outsz)
{
	if (4 * ((len + 2) / 3) + 1 > outsz)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decode base64 into out; returns the decoded length or -1. */
static int
b64_dec(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	int	 n, pad = 0;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > outsz)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	return n - pad;
}

static void
cache_key(const struct scram *s, const unsigned char *salt, size_t saltlen,
    unsigned iter, unsigned char key[32])
{
	EVP_MD_CTX	*c;
	const char	*name = EVP_MD_get0_name(s->md);

	if ((c = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, name, strlen(name) + 1) ||
	    !EVP_DigestUpdate(c, s->password, strlen(s->password) + 1) ||
	    !EVP_DigestUpdate(c, &iter, sizeof(iter)) ||
	    !EVP_DigestUpdate(c, salt, saltlen) ||
	    !EVP_DigestFinal_ex(c, key, NULL))
		memset(key, 0, 32);	/* all-zero key: a miss, never a hit */
	EVP_MD_CTX_free(c);
}

static struct cache_ent *
cache_slot(const unsigned char key[32])
{
	unsigned	 h, i;

	if (cache == NULL && (cache = calloc(CACHE_SLOTS, sizeof(*cache))) == NULL)
		return NULL;
	memcpy(&h, key, sizeof(h));
	for (i = 0; i < 64; i++) {
		struct cache_ent *e = &cache[(h + i) & (CACHE_SLOTS - 1)];
		if (!e->used || memcmp(e->key, key, 32) == 0)
			return e;
	}
	return NULL;	/* neighbourhood full: compute without caching */
}

static int
salted_password(struct scram *s, const unsigned char *salt, size_t saltlen,
    unsigned iter, unsigned char *out)
{
	unsigned char	 key[32];
	struct cache_ent *e;

	cache_key(s, salt, saltlen, iter, key);
	if ((e = cache_slot(key)) != NULL && e->used) {
		memcpy(out, e->salted, s->mdlen);
		return 0;
	}
	pbkdf2_count++;
	if (!PKCS5_PBKDF2_HMAC(s->password, (int)strlen(s->password), salt,
	    (int)saltlen, (int)iter, s->md, (int)s->mdlen, out))
		return -1;
	if (e != NULL) {
		memcpy(e->key, key, 32);
		memcpy(e->salted, out, s->mdlen);
		e->used = (int)s->mdlen;
	}
	return 0;
}

void *
lg_scram_start(const char *user, const char *password, enum lg_mech mech,
    char *out, size_t outsz)
{
	struct scram	*s;
	unsigned char	 rnd[18];
	char		 msg[MSG_MAX + 4];

	/* saslname would need =2C/=3D escaping; our account names never do. */
	if (strpbrk(user, ",=") != NULL || strlen(password) >= 256)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->md = mech == MECH_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
	s->mdlen = (unsigned)EVP_MD_get_size(s->md);
	strcpy(s->password, password);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto fail;
	b64_enc(rnd, sizeof(rnd), s->nonce, sizeof(s->nonce));
	if (snprintf(s->cfb, sizeof(s->cfb), "n=%s,r=%s", user, s->nonce) >=
	    (int)sizeof(s->cfb))
		goto fail;
	snprintf(msg, sizeof(msg), "n,,%s", s->cfb);
	if (b64_enc(msg, strlen(msg), out, outsz) < 0)
		goto fail;
	return s;
fail:
	free(s);
	return NULL;
}

/* Tests only: replace the random nonce, rewriting client-first. */
int
lg_scram_set_nonce(void *v, const char *user, const char *nonce, char *out,
    size_t outsz)
{
	struct scram	*s = v;
	char		 msg[MSG_MAX + 4];

	if (strlen(nonce) >= sizeof(s->nonce))
		return -1;
	strcpy(s->nonce, nonce);
	if (snprintf(s->cfb, sizeof(s->cfb), "n=%s,r=%s", user, nonce) >=
	    (int)sizeof(s->cfb))
		return -1;
	snprintf(msg, sizeof(msg), "n,,%s", s->cfb);
	return b64_enc(msg, strlen(msg), out, outsz) < 0 ? -1 : 0;
}

/* Split "r=...,s=...,i=..." (RFC 5802 section 5.1) into its fields. */
static int
parse_server_first(char *m, char **r, char **salt, unsigned *iter)
{
	char	*f, *end;
	long	 it = 0;

	*r = *salt = NULL;
	for (f = strtok(m, ","); f != NULL; f = strtok(NULL, ",")) {
		if (strncmp(f, "r=", 2) == 0)
			*r = f + 2;
		else if (strncmp(f, "s=", 2) == 0)
			*salt = f + 2;
		else if (strncmp(f, "i=", 2) == 0) {
			it = strtol(f + 2, &end, 10);
			if (*end != '\0')
				return -1;
		} else if (strncmp(f, "m=", 2) == 0)
			return -1;	/* mandatory extension: must fail */
	}
	if (*r == NULL || *salt == NULL || it < 1 || it > 10000000)
		return -1;
	*iter = (unsigned)it;
	return 0;
}

static int
hmac(const struct scram *s, const void *key, const void *d, size_t dlen,
    unsigned char *out)
{
	unsigned	 len;

	return HMAC(s->md, key, (int)s->mdlen, d, dlen, out, &len) ? 0 : -1;
}

/* server-first-message in, client-final-message out (both base64). */
int
lg_scram_step(void *v, const char *in, size_t inlen, char *out, size_t outsz)
{
	struct scram	*s = v;
	char		 sfm[MSG_MAX], copy[MSG_MAX], am[3 * MSG_MAX + 8];
	char		 fin[MSG_MAX];
	char		 proof64[128], *r, *salt64;
	unsigned char	 salt[256], sp[EVP_MAX_MD_SIZE], ck[EVP_MAX_MD_SIZE];
	unsigned char	 sk[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE];
	unsigned char	 svk[EVP_MAX_MD_SIZE];
	int		 n, saltlen;
	unsigned	 iter, i;

	if ((n = b64_dec(in, inlen, (unsigned char *)sfm, sizeof(sfm) - 1)) < 0)
		return -1;
	sfm[n] = '\0';
	memcpy(copy, sfm, (size_t)n + 1);
	if (parse_server_first(copy, &r, &salt64, &iter) == -1)
		return -1;
	if (strncmp(r, s->nonce, strlen(s->nonce)) != 0)
		return -1;	/* server nonce must extend ours (section 5.1) */
	if ((saltlen = b64_dec(salt64, strlen(salt64), salt, sizeof(salt))) <= 0)
		return -1;
	if (salted_password(s, salt, (size_t)saltlen, iter, sp) == -1)
		return -1;
	if (snprintf(fin, sizeof(fin), "c=biws,r=%s", r) >= (int)sizeof(fin))
		return -1;
	snprintf(am, sizeof(am), "%s,%s,%s", s->cfb, sfm, fin);
	if (hmac(s, sp, "Client Key", 10, ck) == -1)
		return -1;
	if (!EVP_Digest(ck, s->mdlen, sk, NULL, s->md, NULL))
		return -1;
	if (hmac(s, sk, am, strlen(am), sig) == -1)
		return -1;
	for (i = 0; i < s->mdlen; i++)
		ck[i] ^= sig[i];
	b64_enc(ck, s->mdlen, proof64, sizeof(proof64));
	if (hmac(s, sp, "Server Key", 10, svk) == -1 ||
	    hmac(s, svk, am, strlen(am), s->server_sig) == -1)
		return -1;
	if (strlen(fin) + 3 + strlen(proof64) >= sizeof(fin))
		return -1;
	strcat(fin, ",p=");
	strcat(fin, proof64);
	return b64_enc(fin, strlen(fin), out, outsz) < 0 ? -1 : 0;
}

/* Check "v=" in the additional data of <success/> (section 5.1). */
int
lg_scram_verify(void *v, const char *in, size_t inlen)
{
	struct scram	*s = v;
	char		 m[MSG_MAX], want[128];
	int		 n;

	if ((n = b64_dec(in, inlen, (unsigned char *)m, sizeof(m) - 1)) < 0)
		return -1;
	m[n] = '\0';
	b64_enc(s->server_sig, s->mdlen, want, sizeof(want));
	if (strncmp(m, "v=", 2) != 0 || strcmp(m + 2, want) != 0)
		return -1;
	return 0;
}

void
lg_scram_free(void *v)
{
	struct scram	*s = v;

	if (s == NULL)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

int
lg_plain_initial(const char *user, const char *password, char *out,
    size_t outsz)
{
	char	 msg[512];
	size_t	 ul = strlen(user), pl = strlen(password);

	if (ul + pl + 2 > sizeof(msg))
		return -1;
	msg[0] = '\0';
	memcpy(msg + 1, user, ul);
	msg[1 + ul] = '\0';
	memcpy(msg + 2 + ul, password, pl);
	return b64_enc(msg, ul + pl + 2, out, outsz) < 0 ? -1 : 0;
}

/*
 * The cache file holds "hex(key) hex(salted)" lines: the key is a hash of
 * (hash name, password, iterations, salt), so the file reveals no password
 * but is still a credential for the bench accounts; it lives in the
 * bench's scratch directory only.
 */
int
lg_scram_cache_load(const char *path)
{
	FILE		*f;
	char		 line[256];
	unsigned char	 key[32], val[EVP_MAX_MD_SIZE];
	unsigned	 i, n;
	struct cache_ent *e;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp = strchr(line, ' ');
		if (sp == NULL || sp - line != 64)
			continue;
		for (i = 0; i < 32; i++)
			sscanf(line + 2 * i, "%2hhx", &key[i]);
		n = (unsigned)(strcspn(sp + 1, "\n") / 2);
		if (n != 20 && n != 32)
			continue;
		for (i = 0; i < n; i++)
			sscanf(sp + 1 + 2 * i, "%2hhx", &val[i]);
		if ((e = cache_slot(key)) == NULL)
			continue;
		memcpy(e->key, key, 32);
		memcpy(e->salted, val, n);
		e->used = n;
	}
	fclose(f);
	return 0;
}

int
lg_scram_cache_save(const char *path)
{
	FILE	*f;
	unsigned i, j;

	if (cache == NULL)
		return 0;
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (i = 0; i < CACHE_SLOTS; i++) {
		if (!cache[i].used)
			continue;
		for (j = 0; j < 32; j++)
			fprintf(f, "%02x", cache[i].key[j]);
		fputc(' ', f);
		for (j = 0; j < (unsigned)cache[i].used; j++)
			fprintf(f, "%02x", cache[i].salted[j]);
		fputc('\n', f);
	}
	return fclose(f);
}
