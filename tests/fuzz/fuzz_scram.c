/*
 * fuzz_scram.c - libFuzzer target for authd's SCRAM and PLAIN parsers
 * (authd/authd_scram.c).
 *
 * Input: one flag byte (bit 0: SHA-256 instead of SHA-1, bit 1: -PLUS,
 * bit 2: the server has tls-exporter data, bit 3: it has
 * tls-server-end-point data), then the client-first-message, a NUL, and
 * the client-final-message.  The server nonce is fixed so the fuzzer can
 * learn to echo it and reach the proof check.  The whole input after the
 * flag byte is also fed to the PLAIN parser.  Seeds live in scram/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "authd.h"

static struct authd_creds	creds;
static const uint8_t		cbdata[32] = { 1, 2, 3 };

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t salt[16] = { 7 };

	if (sodium_init() == -1 ||
	    authd_creds_derive("pencil", 6, salt, sizeof(salt), 4096,
	    &creds) == -1)
		__builtin_trap();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scram_cbdata	 cb = { NULL, 0, NULL, 0 };
	struct scram		*s;
	const uint8_t		*nul;
	char			 out[SCRAM_MSG_MAX + 256];
	char			 user[JID_PART_MAX + 1], pass[JID_PART_MAX + 1];
	size_t			 len, first;
	uint8_t			 flags;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	(void)plain_parse(data, size, "example.org", user, pass, sizeof(pass));
	if (flags & 4) {
		cb.exporter = cbdata;
		cb.exporter_len = sizeof(cbdata);
	}
	if (flags & 8) {
		cb.endpoint = cbdata;
		cb.endpoint_len = sizeof(cbdata);
	}
	s = scram_new(flags & 1 ? SCRAM_SHA256 : SCRAM_SHA1, (flags & 2) != 0,
	    "example.org", &cb);
	if (s == NULL)
		return 0;
	scram_test_nonce(s, "SRV");
	nul = memchr(data, '\0', size);
	first = nul != NULL ? (size_t)(nul - data) : size;
	if (scram_client_first(s, (const char *)data, first) == AC_OK &&
	    scram_server_first(s, &creds, flags & 16 ? 0 : 1, out, sizeof(out),
	    &len) == AC_OK && nul != NULL)
		(void)scram_client_final(s, (const char *)nul + 1,
		    size - first - 1, out, sizeof(out), &len);
	scram_free(s);
	return 0;
}
