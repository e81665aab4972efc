/*
 * test_jid.c - unit tests for common/jid.c.
 *
 * The examples of RFC 7622 3.5, the PRECIS rules they stand for,
 * domain preparation (IDNA, IP literals, final dot), length limits
 * per part, invalid UTF-8, and the formatting and comparison helpers.
 * Every accepted JID is also checked to normalize to itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jid.h"

/* Normalize `in` (NUL-terminated) or return NULL; checks idempotence. */
static const char *
norm(const char *in)
{
	static char	buf[JID_MAX + 1];
	char		again[JID_MAX + 1];
	struct jid	j;

	if (jid_parse(in, strlen(in), &j) == -1)
		return NULL;
	assert_true(jid_format(&j, buf, sizeof(buf)) >= 0);
	assert_int_equal(jid_normalize(buf, again, sizeof(again)), 0);
	assert_string_equal(buf, again);
	return buf;
}

static void
expect_norm(const char *in, const char *want)
{
	const char	*got = norm(in);

	if (got == NULL)
		fail_msg("rejected valid JID \"%s\"", in);
	assert_string_equal(got, want);
}

static void
expect_bad(const char *in)
{
	const char	*got = norm(in);

	if (got != NULL)
		fail_msg("accepted invalid JID \"%s\" as \"%s\"", in, got);
}

static void
expect_parts(const char *in, const char *l, const char *d, const char *r)
{
	struct jid	j;

	assert_int_equal(jid_parse(in, strlen(in), &j), 0);
	assert_string_equal(j.local, l);
	assert_string_equal(j.domain, d);
	assert_string_equal(j.resource, r);
}

/* RFC 7622 3.5.1 */
static void
test_rfc_valid(void **state)
{
	expect_parts("juliet@example.com", "juliet", "example.com", "");
	expect_parts("juliet@example.com/foo", "juliet", "example.com", "foo");
	expect_parts("juliet@example.com/foo bar", "juliet", "example.com",
	    "foo bar");
	expect_parts("juliet@example.com/foo@bar", "juliet", "example.com",
	    "foo@bar");
	expect_norm("foo\\20bar@example.com", "foo\\20bar@example.com");
	expect_norm("fussball@example.com", "fussball@example.com");
	/* ß is PVALID (RFC 5892 2.6) and not case-folded to "ss". */
	expect_norm("fu\xc3\x9f" "ball@example.com",
	    "fu\xc3\x9f" "ball@example.com");
	/* π */
	expect_norm("\xcf\x80@example.com", "\xcf\x80@example.com");
	/* Σ lower-cases to σ; σ and ς stay distinct. */
	expect_norm("\xce\xa3@example.com/foo", "\xcf\x83@example.com/foo");
	expect_norm("\xcf\x83@example.com/foo", "\xcf\x83@example.com/foo");
	expect_norm("\xcf\x82@example.com/foo", "\xcf\x82@example.com/foo");
	expect_norm("king@example.com/\xe2\x99\x9a",		/* ♚ */
	    "king@example.com/\xe2\x99\x9a");
	expect_parts("example.com", "", "example.com", "");
	expect_parts("example.com/foobar", "", "example.com", "foobar");
	expect_parts("a.example.com/b@example.net", "", "a.example.com",
	    "b@example.net");
}

/* RFC 7622 3.5.2 */
static void
test_rfc_invalid(void **state)
{
	expect_bad("\"juliet\"@example.com");
	expect_bad("foo bar@example.com");
	expect_bad("@example.com/");
	expect_bad("henry\xe2\x85\xa3@example.com");	/* Ⅳ has compat */
	expect_bad("\xe2\x99\x9a@example.com");		/* symbol */
	expect_bad("juliet@");
	expect_bad("/foobar");
}

/*
 * RFC 7622 3.5.2 lists "juliet@example.com/ foo" as invalid, but no
 * rule backs that: OpaqueString allows U+0020 anywhere.  We accept it,
 * as other servers do, so that no address they accept is lost.
 */
static void
test_resource_spaces(void **state)
{
	expect_parts("juliet@example.com/ foo", "juliet", "example.com",
	    " foo");
	expect_parts("a@b/ ", "a", "b", " ");
	/* Non-ASCII spaces map to U+0020 (RFC 8265 4.2.2). */
	expect_parts("a@b/x\xe3\x80\x80y", "a", "b", "x y");	/* U+3000 */
	expect_parts("a@b/x\xc2\xa0y", "a", "b", "x y");	/* U+00A0 */
	expect_bad("a@b/x\ty");
	expect_bad("a@b/x\x7fy");
	expect_bad("a@b/x\xc2\x85y");		/* U+0085 is Cc */
}

static void
test_empty_parts(void **state)
{
	expect_bad("");
	expect_bad("@example.com");
	expect_bad("a@");
	expect_bad("example.com/");
	expect_bad("a@example.com/");
	expect_bad("@");
	expect_bad("/");
	expect_bad("a@/r");
	/* Only the first '@' before the first '/' separates. */
	expect_bad("a@b@example.com");
	expect_parts("a@b/c@d/e", "a", "b", "c@d/e");
	expect_parts("b/c@d", "", "b", "c@d");
}

static void
test_case(void **state)
{
	expect_norm("Juliet@Example.COM/Balcony", "juliet@example.com/Balcony");
	expect_norm("JULIET@EXAMPLE.COM", "juliet@example.com");
	/* Non-ASCII upper case in the localpart: Ä -> ä. */
	expect_norm("\xc3\x84@example.com", "\xc3\xa4@example.com");
	/* The resourcepart keeps its case. */
	expect_norm("a@b/\xc3\x84", "a@b/\xc3\x84");
	/* U+0130 lower-cases to "i" + U+0307 (full toLowerCase). */
	expect_norm("\xc4\xb0@x", "i\xcc\x87@x");
}

static void
test_local_precis(void **state)
{
	/* The ASCII characters RFC 7622 3.3.1 bans. */
	expect_bad("a\"b@x");
	expect_bad("a&b@x");
	expect_bad("a'b@x");
	expect_bad("a:b@x");
	expect_bad("a<b@x");
	expect_bad("a>b@x");
	/* Other ASCII7 is fine. */
	expect_norm("a!#$%*+-=?^_`{|}~b@x", "a!#$%*+-=?^_`{|}~b@x");
	/* Controls and non-ASCII spaces. */
	expect_bad("a\x01" "b@x");
	expect_bad("a\xc2\xa0" "b@x");
	/* Width mapping: fullwidth "ＡＢ" -> "ab". */
	expect_norm("\xef\xbc\xa1\xef\xbc\xa2@x", "ab@x");
	/* Fullwidth '@' maps to '@', which is then banned. */
	expect_bad("a\xef\xbc\xa0" "b@x");
	/* NFC: "e" + U+0301 -> é. */
	expect_norm("e\xcc\x81@x", "\xc3\xa9@x");
	/* Punctuation outside ASCII (U+2014), unassigned (U+0378),
	 * private use (U+E000), default ignorable (U+00AD, U+200B),
	 * old Hangul jamo (U+1100), noncharacter (U+FDD0). */
	expect_bad("a\xe2\x80\x94" "b@x");
	expect_bad("a\xcd\xb8@x");
	expect_bad("a\xee\x80\x80@x");
	expect_bad("a\xc2\xad" "b@x");
	expect_bad("a\xe2\x80\x8b" "b@x");
	expect_bad("\xe1\x84\x80@x");
	expect_bad("a\xef\xb7\x90@x");
	/* Letters and marks of other scripts. */
	expect_norm("\xe4\xb8\xad\xe6\x96\x87@x", "\xe4\xb8\xad\xe6\x96\x87@x");
	expect_norm("\xed\x95\x9c@x", "\xed\x95\x9c@x");	/* 한 */
}

static void
test_context_rules(void **state)
{
	/* MIDDLE DOT only between two 'l' (RFC 5892 A.3). */
	expect_norm("l\xc2\xb7l@x", "l\xc2\xb7l@x");
	expect_bad("a\xc2\xb7l@x");
	expect_bad("\xc2\xb7l@x");
	/* KERAIA before Greek (A.4). */
	expect_norm("\xcd\xb5\xce\xb1@x", "\xcd\xb5\xce\xb1@x");
	expect_bad("\xcd\xb5" "a@x");
	/* Arabic-Indic and Extended Arabic-Indic digits do not mix. */
	expect_norm("\xd8\xa7\xd9\xa1@x", "\xd8\xa7\xd9\xa1@x");
	expect_bad("\xd8\xa7\xd9\xa1\xdb\xb1@x");
	/* KATAKANA MIDDLE DOT needs kana or Han nearby (A.9). */
	expect_norm("\xe3\x82\xa2\xe3\x83\xbb@x", "\xe3\x82\xa2\xe3\x83\xbb@x");
	expect_bad("a\xe3\x83\xbb@x");
	/* ZWJ only after a virama: क्‍ष */
	expect_norm("\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7@x",
	    "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7@x");
	expect_bad("a\xe2\x80\x8d" "b@x");
	expect_bad("a@x/a\xe2\x80\x8c" "b");	/* also in resources */
	/* Exception DISALLOWED: ARABIC TATWEEL. */
	expect_bad("\xd8\xa7\xd9\x80@x");
}

static void
test_bidi(void **state)
{
	/* Hebrew "שלום" and Arabic letters with Arabic digit. */
	expect_norm("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d@x",
	    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d@x");
	expect_norm("\xd8\xa8\xd9\xa1@x", "\xd8\xa8\xd9\xa1@x");
	/* RTL mixed with an LTR letter breaks rule 5 / rule 2. */
	expect_bad("a\xd7\xa9@x");
	expect_bad("\xd7\xa9" "a@x");
	/* Starts with a digit: rule 1. */
	expect_bad("1\xd7\xa9@x");
	/* EN and AN together: rule 4. */
	expect_bad("\xd8\xa8" "1\xd9\xa1@x");
	/* The resourcepart has no directionality rule. */
	expect_norm("a@x/a\xd7\xa9", "a@x/a\xd7\xa9");
}

static void
test_resource_precis(void **state)
{
	/* Symbols, punctuation and compat characters are FREE_PVAL. */
	expect_norm("a@x/\xe2\x85\xa3\xe2\x80\x94",
	    "a@x/\xe2\x85\xa3\xe2\x80\x94");
	/* No width mapping: fullwidth stays. */
	expect_norm("a@x/\xef\xbc\xa1", "a@x/\xef\xbc\xa1");
	/* NFC applies. */
	expect_norm("a@x/e\xcc\x81", "a@x/\xc3\xa9");
	/* Unassigned, private use, surrogate-free but ignorable. */
	expect_bad("a@x/\xcd\xb8");
	expect_bad("a@x/\xee\x80\x80");
	expect_bad("a@x/\xc2\xad");
	expect_bad("a@x/\xef\xbf\xbe");		/* U+FFFE */
}

static void
test_idna(void **state)
{
	expect_norm("B\xc3\x9c" "CHER.example", "b\xc3\xbc" "cher.example");
	expect_norm("xn--bcher-kva.example", "b\xc3\xbc" "cher.example");
	expect_norm("XN--BCHER-KVA.example", "b\xc3\xbc" "cher.example");
	expect_norm("a@fu\xc3\x9f" "ball.de", "a@fu\xc3\x9f" "ball.de");
	/* Fullwidth letters and the ideographic full stop map. */
	expect_norm("\xef\xbd\x85\xef\xbd\x98.com\xe3\x80\x82", "ex.com");
	/* Invalid A-labels, disallowed code points, bad hyphens. */
	expect_bad("xn--abc.example");
	expect_bad("xn--ls8h.example");		/* emoji */
	expect_bad("\xf0\x9f\x92\xa9.example");
	expect_bad("ab--cd.example");
	expect_bad("-a.example");
	expect_bad("a-.example");
	expect_bad("a_b.example");
	expect_bad("\xc3\xbc_b.example");
	expect_bad("a b.example");
	expect_bad("a..example");
	expect_bad("\xc3\xbc..example");
	expect_bad(".example");
	expect_bad("a@.");
	expect_bad("a@..");
}

static void
test_trailing_dot(void **state)
{
	expect_norm("juliet@example.com.", "juliet@example.com");
	expect_norm("example.com./r", "example.com/r");
	expect_norm("b\xc3\xbc" "cher.example.", "b\xc3\xbc" "cher.example");
	expect_bad("example.com..");
	expect_bad("b\xc3\xbc" "cher.example..");
}

static void
test_ip_literals(void **state)
{
	expect_norm("a@192.0.2.1/r", "a@192.0.2.1/r");
	expect_norm("192.0.2.1.", "192.0.2.1");
	expect_norm("a@[2001:DB8::1]/r", "a@[2001:db8::1]/r");
	expect_norm("[::1]", "[::1]");
	expect_norm("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]");
	expect_bad("[::1");
	expect_bad("[]");
	expect_bad("[1.2.3.4]");
	expect_bad("[fe80::1%eth0]");
	expect_bad("[::1].");
	expect_bad("[::g]");
	/* Not a dotted quad: then it must be a host name. */
	expect_norm("1.2.3.999", "1.2.3.999");
}

/* Build "<n x c>" into buf. */
static char *
fill(char *buf, int c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
test_lengths(void **state)
{
	char		part[4 * JID_PART_MAX + 8];
	char		in[9 * JID_PART_MAX + 32];
	struct jid	j;
	size_t		i;

	fill(part, 'a', JID_PART_MAX);
	snprintf(in, sizeof(in), "%s@x/%s", part, part);
	assert_int_equal(jid_parse(in, strlen(in), &j), 0);
	assert_int_equal(strlen(j.local), JID_PART_MAX);
	assert_int_equal(strlen(j.resource), JID_PART_MAX);

	fill(part, 'a', JID_PART_MAX + 1);
	snprintf(in, sizeof(in), "%s@x", part);
	assert_int_equal(jid_parse(in, strlen(in), &j), -1);
	snprintf(in, sizeof(in), "x/%s", part);
	assert_int_equal(jid_parse(in, strlen(in), &j), -1);

	/* 1023 bytes after preparation: 511 x "é" (2 bytes) + "a". */
	for (i = 0; i < 511; i++)
		memcpy(part + 3 * i, "e\xcc\x81", 3);	/* NFD input */
	strcpy(part + 3 * 511, "a");
	snprintf(in, sizeof(in), "%s@x/%s", part, part);
	assert_int_equal(jid_parse(in, strlen(in), &j), 0);
	assert_int_equal(strlen(j.local), JID_PART_MAX);
	strcpy(part + 3 * 511, "ab");
	snprintf(in, sizeof(in), "%s@x", part);
	assert_int_equal(jid_parse(in, strlen(in), &j), -1);

	/* Fullwidth input shrinks 3:1 under width mapping. */
	for (i = 0; i < JID_PART_MAX; i++)
		memcpy(part + 3 * i, "\xef\xbd\x81", 3);	/* ａ */
	part[3 * JID_PART_MAX] = '\0';
	snprintf(in, sizeof(in), "%s@x", part);
	assert_int_equal(jid_parse(in, strlen(in), &j), 0);
	assert_string_equal(j.local, fill(part, 'a', JID_PART_MAX));

	/* Domain: labels up to 63, names up to 253 bytes. */
	snprintf(in, sizeof(in), "%s.com", fill(part, 'a', 63));
	assert_non_null(norm(in));
	snprintf(in, sizeof(in), "%s.com", fill(part, 'a', 64));
	assert_null(norm(in));
	for (i = 0; i < 253; i++)
		part[i] = (i % 2) ? '.' : 'a';
	part[253] = '\0';
	assert_non_null(norm(part));
	part[253] = '.';		/* the final dot does not count */
	part[254] = '\0';
	assert_non_null(norm(part));
	part[253] = 'a';
	part[254] = 'a';
	part[255] = '\0';
	assert_null(norm(part));

	/* A huge input is refused, not processed. */
	assert_int_equal(jid_parse(fill(in, 'a', sizeof(in) - 1),
	    sizeof(in) - 1, &j), -1);
}

static void
test_bad_utf8_and_nul(void **state)
{
	struct jid	j;

	expect_bad("a\xff@x");
	expect_bad("a@x/\xc3");
	expect_bad("a@x/\xc0\x80");		/* overlong NUL */
	expect_bad("a@x/\xed\xa0\x80");		/* surrogate */
	expect_bad("a@x/\xf4\x90\x80\x80");	/* > U+10FFFF */
	expect_bad("\xe0\x80\xaf@x");
	expect_bad("x\x80y.example");
	assert_int_equal(jid_parse("a\0b@x", 5, &j), -1);
	assert_int_equal(jid_parse("a@x\0y", 5, &j), -1);
	assert_int_equal(jid_parse("a@x/\0", 5, &j), -1);
	assert_int_equal(jid_parse("a@x/y", 5, &j), 0);
	/* Only `len` bytes count. */
	assert_int_equal(jid_parse("a@x/yz", 5, &j), 0);
	assert_string_equal(j.resource, "y");
	assert_int_equal(jid_parse(NULL, 0, &j), -1);
}

static void
test_format_compare(void **state)
{
	struct jid	a, b, c;
	char		buf[JID_MAX + 1];

	assert_int_equal(jid_parse("A@X/r", 5, &a), 0);
	assert_int_equal(jid_parse("a@x/s", 5, &b), 0);
	assert_int_equal(jid_parse("a@x", 3, &c), 0);
	assert_int_equal(jid_format(&a, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "a@x/r");
	assert_int_equal(jid_format_bare(&a, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "a@x");
	assert_int_equal(jid_format(&a, buf, 6), 5);
	assert_int_equal(jid_format(&a, buf, 5), -1);
	assert_int_equal(jid_format_bare(&a, buf, 3), -1);
	assert_int_equal(jid_format(&c, buf, sizeof(buf)), 3);
	assert_false(jid_equal(&a, &b));
	assert_true(jid_bare_equal(&a, &b));
	assert_true(jid_bare_equal(&a, &c));
	assert_false(jid_equal(&a, &c));
	assert_int_equal(jid_parse("a@x/r", 5, &b), 0);
	assert_true(jid_equal(&a, &b));
	assert_int_equal(jid_parse("b@x/r", 5, &b), 0);
	assert_false(jid_bare_equal(&a, &b));

	assert_int_equal(jid_normalize("Foo@Bar/Baz", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "foo@bar/Baz");
	assert_int_equal(jid_normalize("foo@bar/baz", buf, 5), -1);
	assert_int_equal(jid_normalize("@bar", buf, sizeof(buf)), -1);
}

static void
test_prep_parts(void **state)
{
	char	out[JID_PART_MAX + 1];

	assert_int_equal(jid_prep_local("JuLiEt", 6, out), 0);
	assert_string_equal(out, "juliet");
	assert_int_equal(jid_prep_local("a@b", 3, out), -1);
	assert_int_equal(jid_prep_local("a/b", 3, out), -1);
	assert_int_equal(jid_prep_local("", 0, out), -1);
	assert_int_equal(jid_prep_domain("Example.COM.", 12, out), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(jid_prep_domain("a@b", 3, out), -1);
	assert_int_equal(jid_prep_domain("a/b", 3, out), -1);
	assert_int_equal(jid_prep_resource("Res/@", 5, out), 0);
	assert_string_equal(out, "Res/@");
	assert_int_equal(jid_prep_resource("", 0, out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_valid),
		cmocka_unit_test(test_rfc_invalid),
		cmocka_unit_test(test_resource_spaces),
		cmocka_unit_test(test_empty_parts),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_local_precis),
		cmocka_unit_test(test_context_rules),
		cmocka_unit_test(test_bidi),
		cmocka_unit_test(test_resource_precis),
		cmocka_unit_test(test_idna),
		cmocka_unit_test(test_trailing_dot),
		cmocka_unit_test(test_ip_literals),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_bad_utf8_and_nul),
		cmocka_unit_test(test_format_compare),
		cmocka_unit_test(test_prep_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
