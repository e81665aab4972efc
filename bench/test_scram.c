/*
 * test_scram.c - checks the load generator's SCRAM client against the
 * example exchange of RFC 7677 section 3 (SCRAM-SHA-256) and RFC 5802
 * section 5 (SCRAM-SHA-1), the SaltedPassword cache, and the histogram's
 * percentiles.  Built by bench/meson.build as `meson test -C build-bench`;
 * never run by the main test suite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "lg.h"

/* lg_stats.c calls lg_now_ns(), which lives in lg_conn.c. */
uint64_t
lg_now_ns(void)
{
	return 0;
}

static void
b64(const char *s, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s,
	    (int)strlen(s));
}

static void
exchange(enum lg_mech mech, const char *nonce, const char *sfm,
    const char *want_final, const char *sfinal)
{
	char	 out[1024], in[1024], want[1024];
	void	*s;

	s = lg_scram_start("user", "pencil", mech, out, sizeof(out));
	assert_non_null(s);
	assert_int_equal(lg_scram_set_nonce(s, "user", nonce, out,
	    sizeof(out)), 0);
	b64("n,,n=user,r=", want);
	assert_memory_equal(out, want, 12);	/* "n,,n=user,r=" prefix */
	b64(sfm, in);
	assert_int_equal(lg_scram_step(s, in, strlen(in), out, sizeof(out)), 0);
	b64(want_final, want);
	assert_string_equal(out, want);
	b64(sfinal, in);
	assert_int_equal(lg_scram_verify(s, in, strlen(in)), 0);
	/* a wrong server signature is refused */
	b64("v=AAAA", in);
	assert_int_equal(lg_scram_verify(s, in, strlen(in)), -1);
	lg_scram_free(s);
}

static void
test_rfc7677(void **state)
{
	unsigned long	 before = lg_scram_pbkdf2_count();

	exchange(MECH_SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO",
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	assert_int_equal(lg_scram_pbkdf2_count(), before + 1);
	/* same password, salt and count: served from the cache */
	exchange(MECH_SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO",
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	assert_int_equal(lg_scram_pbkdf2_count(), before + 1);
}

static void
test_rfc5802(void **state)
{
	exchange(MECH_SCRAM_SHA1, "fyko+d2lbbFgONRv9qkxdawL",
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096",
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void
test_bad_nonce(void **state)
{
	char	 out[1024], in[1024];
	void	*s;

	s = lg_scram_start("user", "pencil", MECH_SCRAM_SHA256, out,
	    sizeof(out));
	assert_non_null(s);
	lg_scram_set_nonce(s, "user", "abc", out, sizeof(out));
	/* the server nonce must extend ours */
	b64("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096", in);
	assert_int_equal(lg_scram_step(s, in, strlen(in), out, sizeof(out)),
	    -1);
	/* mandatory extensions are refused */
	b64("m=x,r=abc123,s=QSXCR+Q6sek8bf92,i=4096", in);
	assert_int_equal(lg_scram_step(s, in, strlen(in), out, sizeof(out)),
	    -1);
	lg_scram_free(s);
}

static void
test_hist(void **state)
{
	struct lg_hist	*h = lg_hist_new();
	uint64_t	 i, p50, p99;

	assert_non_null(h);
	for (i = 1; i <= 100000; i++)
		lg_hist_add(h, i);
	p50 = lg_hist_pct(h, 0.5);
	p99 = lg_hist_pct(h, 0.99);
	assert_true(p50 > 50000 * 0.98 && p50 < 50000 * 1.02);
	assert_true(p99 > 99000 * 0.98 && p99 < 99000 * 1.02);
	lg_hist_reset(h);
	lg_hist_add(h, 7);
	assert_int_equal(lg_hist_pct(h, 0.99), 7);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677),
		cmocka_unit_test(test_rfc5802),
		cmocka_unit_test(test_bad_nonce),
		cmocka_unit_test(test_hist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
