/*
 * s2sd_dialback.c - dialback keys (XEP-0220 section 2.1.1, XEP-0185).
 *
 * key = hex(HMAC-SHA256(SHA256(secret), receiving + ' ' + originating +
 * ' ' + stream id)).  The SHA-256 of the secret is computed once at
 * configuration (s2sd.c: "dialback-secret", or random bytes when none is
 * configured, which only means keys do not survive a restart of s2sd);
 * the secret itself is held nowhere else and never logged.  Only s2sd
 * generates and checks keys: the authoritative server answering a
 * db:verify is this same process.
 */
#include <string.h>

#include <sodium.h>

#include "s2sd.h"

void
dialback_key(const char *recv, const char *orig, const char *id,
    char out[65])
{
	crypto_auth_hmacsha256_state	st;
	unsigned char			mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, s2sd_conf.dialback_key,
	    sizeof(s2sd_conf.dialback_key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)recv,
	    strlen(recv));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)" ", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)orig,
	    strlen(orig));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)" ", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)id,
	    strlen(id));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	sodium_memzero(mac, sizeof(mac));
}

/* 0 if `key` is the key for these names; constant time. */
int
dialback_check(const char *recv, const char *orig, const char *id,
    const char *key)
{
	char	want[65];
	int	ok;

	if (strlen(key) != 64)
		return -1;
	dialback_key(recv, orig, id, want);
	ok = sodium_memcmp(want, key, 64) == 0;
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -1;
}
