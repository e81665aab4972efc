/*
 * jid.c - parse, prepare and compare XMPP addresses (RFC 7622).
 *
 * c2sd and s2sd call jid_parse() on every address a peer sends, and
 * the JIDs they put in frame headers are this file's output; routerd,
 * imd and the others compare those byte for byte.  So the one
 * invariant that matters is: a JID this file accepts comes out in
 * exactly one normalized form, and parsing that form again gives the
 * same form (idempotence; tests/fuzz/fuzz_jid.c checks it).
 *
 * Each part is prepared on its own (RFC 7622 section 3):
 * - localpart: PRECIS IdentifierClass, UsernameCaseMapped profile
 *   (RFC 8265 3.3): width mapping, lower case, NFC, the class check,
 *   the Bidi Rule, and the eight ASCII characters RFC 7622 3.3.1 bans;
 * - domainpart: an IP literal, or an IDNA2008 name (libidn2, with
 *   UTS 46 mapping as RFC 7622 3.2.1 allows for input) stored as
 *   lower-case U-labels, one trailing dot removed;
 * - resourcepart: PRECIS FreeformClass, OpaqueString profile
 *   (RFC 8265 4.2): non-ASCII spaces become U+0020, NFC, class check.
 *
 * The PRECIS derived property (RFC 8264 section 8) is computed at run
 * time from utf8proc's category, combining class, bidi class and
 * default-ignorable flag rather than from a generated table: the
 * rules are short, the slow path only runs for non-ASCII input, and
 * the table then always matches the Unicode version of the
 * normalization code (utf8proc's).  Two known gaps: the Joining_Type
 * half of the ZERO WIDTH NON-JOINER rule (RFC 5892 A.1) is not
 * available from utf8proc, so ZWNJ is accepted only after a virama;
 * and lower-casing is context-free (no Final_Sigma), so "Σ" always
 * becomes "σ".
 *
 * A part whose bytes are all ASCII takes a fast path with no
 * allocation and no utf8proc call: c2sd normalizes on every stanza.
 * Raw parts longer than RAW_MAX are refused before any work, which
 * also bounds the stack buffers of the slow path.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <utf8proc.h>

#include "jid.h"

/*
 * Preparation can shrink a part (a fullwidth letter is 3 bytes, its
 * mapping 1; NFC composes a 9-byte Hangul L+V+T into 3), so raw input
 * may exceed JID_PART_MAX, by about 3:1 at most.  Mapping grows a
 * string by at most 1.5x (U+0130 -> "i" U+0307) and NFD by at most
 * 1.5 code points per byte; both are checked again where they happen.
 */
#define RAW_MAX		(4 * JID_PART_MAX)
#define MAP_MAX		(2 * RAW_MAX + 8)
#define CP_MAX		(2 * RAW_MAX)
#define DNS_NAME_MAX	253	/* RFC 1035 2.3.4, no final dot */
#define DNS_LABEL_MAX	63

enum profile {
	PROF_LOCAL,		/* UsernameCaseMapped, IdentifierClass */
	PROF_RESOURCE		/* OpaqueString, FreeformClass */
};

/* RFC 8264 section 8 values; FREE is ID_DIS or FREE_PVAL. */
enum pval {
	PV_PVALID,
	PV_FREE,
	PV_CONTEXTJ,
	PV_CONTEXTO,
	PV_DISALLOWED
};

struct range {
	int32_t	lo, hi;
};

/*
 * Scripts needed by the context rules of RFC 5892 appendix A.  Gaps
 * holding only unassigned code points are merged: those are refused
 * before a context rule is looked at.
 */
static const struct range greek[] = {
	{ 0x0370, 0x0373 }, { 0x0375, 0x0377 }, { 0x037a, 0x037d },
	{ 0x037f, 0x037f }, { 0x0384, 0x0384 }, { 0x0386, 0x0386 },
	{ 0x0388, 0x03e1 }, { 0x03f0, 0x03ff }, { 0x1d26, 0x1d2a },
	{ 0x1d5d, 0x1d61 }, { 0x1d66, 0x1d6a }, { 0x1dbf, 0x1dbf },
	{ 0x1f00, 0x1ffe }, { 0x2126, 0x2126 }, { 0xab65, 0xab65 },
	{ 0x10140, 0x1018e }, { 0x101a0, 0x101a0 }, { 0x1d200, 0x1d245 },
};
static const struct range hebrew[] = {
	{ 0x0591, 0x05f4 }, { 0xfb1d, 0xfb4f },
};
static const struct range hira_kata_han[] = {
	{ 0x2e80, 0x2ef3 }, { 0x2f00, 0x2fd5 }, { 0x3005, 0x3005 },
	{ 0x3007, 0x3007 }, { 0x3021, 0x3029 }, { 0x3038, 0x303b },
	{ 0x3041, 0x3096 }, { 0x309d, 0x309f }, { 0x30a1, 0x30fa },
	{ 0x30fd, 0x30ff }, { 0x31f0, 0x31ff }, { 0x32d0, 0x32fe },
	{ 0x3300, 0x3357 }, { 0x3400, 0x4dbf }, { 0x4e00, 0x9fff },
	{ 0xf900, 0xfad9 }, { 0xff66, 0xff6f }, { 0xff71, 0xff9d },
	{ 0x16fe2, 0x16fe3 }, { 0x16ff0, 0x16ff1 }, { 0x1aff0, 0x1b16f },
	{ 0x1f200, 0x1f200 }, { 0x20000, 0x3fffd },
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static int
in_ranges(int32_t c, const struct range *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (c >= r[i].lo && c <= r[i].hi)
			return 1;
	return 0;
}

/* RFC 7622 3.3.1: not allowed in a localpart even though ASCII7. */
static int
local_forbidden(int32_t c)
{
	switch (c) {
	case '"': case '&': case '\'': case '/':
	case ':': case '<': case '>': case '@':
		return 1;
	}
	return 0;
}

static int
is_ascii(const char *s, size_t len)
{
	unsigned char	acc = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		acc |= (unsigned char)s[i];
	return (acc & 0x80) == 0;
}

/* ---- ASCII fast paths: same result as the slow path on ASCII ---- */

static int
local_ascii(const char *s, size_t len, char *out)
{
	size_t	i;
	int	c;

	if (len == 0 || len > JID_PART_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		/* IdentifierClass allows only 0x21-0x7E of ASCII. */
		if (c < 0x21 || c > 0x7e || local_forbidden(c))
			return -1;
		out[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	out[len] = '\0';
	return 0;
}

static int
resource_ascii(const char *s, size_t len, char *out)
{
	size_t	i;
	int	c;

	if (len == 0 || len > JID_PART_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		/* FreeformClass: ASCII7 and U+0020; controls are out. */
		if (c < 0x20 || c > 0x7e)
			return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* ---- PRECIS derived property (RFC 8264 section 8) ---- */

/* RFC 5892 2.6, which RFC 8264 9.6 takes over unchanged. */
static int
exception_pval(int32_t c)
{
	switch (c) {
	case 0x00df: case 0x03c2: case 0x06fd: case 0x06fe:
	case 0x0f0b: case 0x3007:
		return PV_PVALID;
	case 0x00b7: case 0x0375: case 0x05f3: case 0x05f4:
	case 0x30fb:
		return PV_CONTEXTO;
	case 0x0640: case 0x07fa: case 0x302e: case 0x302f:
	case 0x303b:
		return PV_DISALLOWED;
	}
	if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06f0 && c <= 0x06f9))
		return PV_CONTEXTO;
	if (c >= 0x3031 && c <= 0x3035)
		return PV_DISALLOWED;
	return -1;
}

static int
noncharacter(int32_t c)
{
	return (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe;
}

/* Hangul_Syllable_Type L, V or T (RFC 8264 9.9). */
static int
old_hangul_jamo(int32_t c)
{
	return (c >= 0x1100 && c <= 0x11ff) || (c >= 0xa960 && c <= 0xa97c) ||
	    (c >= 0xd7b0 && c <= 0xd7c6) || (c >= 0xd7cb && c <= 0xd7fb);
}

/* HasCompat (RFC 8264 9.17): toNFKC(cp) != cp. */
static int
has_compat(int32_t c)
{
	utf8proc_int32_t	buf[32];
	utf8proc_ssize_t	n;
	int			bc = 0;

	n = utf8proc_decompose_char(c, buf, NITEMS(buf),
	    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bc);
	if (n == 1 && buf[0] == c)
		return 0;
	if (n < 1 || n > (utf8proc_ssize_t)NITEMS(buf))
		return 1;
	n = utf8proc_normalize_utf32(buf, n, UTF8PROC_COMPOSE |
	    UTF8PROC_STABLE);
	return !(n == 1 && buf[0] == c);
}

static int
category_pval(int32_t c)
{
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC:
		return PV_PVALID;		/* LetterDigits */
	case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_ME:
	case UTF8PROC_CATEGORY_ZS:
	case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC:
	case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
	case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		/* OtherLetterDigits, Spaces, Symbols, Punctuation */
		return PV_FREE;
	default:
		return PV_DISALLOWED;		/* Zl, Zp, Cf, Cs, Co */
	}
}

/* The derived property algorithm, in the order of RFC 8264 8. */
static int
precis_pval(int32_t c)
{
	const utf8proc_property_t	*p;
	int				 v;

	if ((v = exception_pval(c)) != -1)
		return v;
	/* BackwardCompatible is empty. */
	p = utf8proc_get_property(c);
	if (p->category == UTF8PROC_CATEGORY_CN && !noncharacter(c))
		return PV_DISALLOWED;		/* Unassigned */
	if (c >= 0x21 && c <= 0x7e)
		return PV_PVALID;		/* ASCII7 */
	if (c == 0x200c || c == 0x200d)
		return PV_CONTEXTJ;
	if (old_hangul_jamo(c) || p->ignorable || noncharacter(c) ||
	    p->category == UTF8PROC_CATEGORY_CC)
		return PV_DISALLOWED;
	if (has_compat(c))
		return PV_FREE;
	return category_pval(c);
}

/* ---- context rules (RFC 5892 appendix A) ---- */

static int
contextj_ok(const int32_t *cp, size_t n, size_t i)
{
	/* Both joiners are fine after a virama (A.1, A.2). */
	return i > 0 && utf8proc_get_property(cp[i - 1])->combining_class == 9;
}

static int
has_in(const int32_t *cp, size_t n, int32_t lo, int32_t hi)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (cp[i] >= lo && cp[i] <= hi)
			return 1;
	return 0;
}

static int
contexto_ok(const int32_t *cp, size_t n, size_t i)
{
	int32_t	c = cp[i];
	size_t	k;

	switch (c) {
	case 0x00b7:	/* A.3 MIDDLE DOT: only in "l·l" */
		return i > 0 && i + 1 < n && cp[i - 1] == 'l' &&
		    cp[i + 1] == 'l';
	case 0x0375:	/* A.4 GREEK KERAIA: before Greek */
		return i + 1 < n && in_ranges(cp[i + 1], greek, NITEMS(greek));
	case 0x05f3:	/* A.5, A.6 GERESH, GERSHAYIM: after Hebrew */
	case 0x05f4:
		return i > 0 && in_ranges(cp[i - 1], hebrew, NITEMS(hebrew));
	case 0x30fb:	/* A.9 KATAKANA MIDDLE DOT */
		for (k = 0; k < n; k++)
			if (in_ranges(cp[k], hira_kata_han,
			    NITEMS(hira_kata_han)))
				return 1;
		return 0;
	}
	/* A.8, A.9: the two sets of Arabic-Indic digits do not mix. */
	if (c >= 0x0660 && c <= 0x0669)
		return !has_in(cp, n, 0x06f0, 0x06f9);
	if (c >= 0x06f0 && c <= 0x06f9)
		return !has_in(cp, n, 0x0660, 0x0669);
	return 0;
}

static int
class_check(const int32_t *cp, size_t n, enum profile prof)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		switch (precis_pval(cp[i])) {
		case PV_PVALID:
			if (prof == PROF_LOCAL && local_forbidden(cp[i]))
				return -1;
			break;
		case PV_FREE:
			if (prof == PROF_LOCAL)
				return -1;	/* ID_DIS */
			break;
		case PV_CONTEXTJ:
			if (!contextj_ok(cp, n, i))
				return -1;
			break;
		case PV_CONTEXTO:
			if (!contexto_ok(cp, n, i))
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* ---- Bidi Rule (RFC 5893 section 2), for localparts (RFC 8265 3.3.3) ---- */

static int
bidi(int32_t c)
{
	return utf8proc_get_property(c)->bidi_class;
}

static int
bidi_rtl_allowed(int b)
{
	switch (b) {
	case UTF8PROC_BIDI_CLASS_R: case UTF8PROC_BIDI_CLASS_AL:
	case UTF8PROC_BIDI_CLASS_AN: case UTF8PROC_BIDI_CLASS_EN:
	case UTF8PROC_BIDI_CLASS_ES: case UTF8PROC_BIDI_CLASS_CS:
	case UTF8PROC_BIDI_CLASS_ET: case UTF8PROC_BIDI_CLASS_ON:
	case UTF8PROC_BIDI_CLASS_BN: case UTF8PROC_BIDI_CLASS_NSM:
		return 1;
	}
	return 0;
}

static int
bidi_rule(const int32_t *cp, size_t n)
{
	size_t	i;
	int	b, rtl = 0, en = 0, an = 0;

	for (i = 0; i < n; i++) {
		b = bidi(cp[i]);
		if (b == UTF8PROC_BIDI_CLASS_R || b == UTF8PROC_BIDI_CLASS_AL ||
		    b == UTF8PROC_BIDI_CLASS_AN)
			rtl = 1;
	}
	if (!rtl || n == 0)
		return 0;
	/*
	 * Rule 1 asks for L, R or AL first; an L first would make this an
	 * LTR string, where rule 5 forbids the R/AL/AN just seen.
	 */
	b = bidi(cp[0]);
	if (b != UTF8PROC_BIDI_CLASS_R && b != UTF8PROC_BIDI_CLASS_AL)
		return -1;
	for (i = 0; i < n; i++) {		/* rules 2 and 4 */
		b = bidi(cp[i]);
		if (!bidi_rtl_allowed(b))
			return -1;
		en |= b == UTF8PROC_BIDI_CLASS_EN;
		an |= b == UTF8PROC_BIDI_CLASS_AN;
	}
	if (en && an)
		return -1;
	i = n;					/* rule 3 */
	while (i > 0 && bidi(cp[i - 1]) == UTF8PROC_BIDI_CLASS_NSM)
		i--;
	if (i == 0)
		return -1;
	b = bidi(cp[i - 1]);
	if (b == UTF8PROC_BIDI_CLASS_R || b == UTF8PROC_BIDI_CLASS_AL ||
	    b == UTF8PROC_BIDI_CLASS_EN || b == UTF8PROC_BIDI_CLASS_AN)
		return 0;
	return -1;
}

/* ---- the slow path: mapping, NFC, checks ---- */

/*
 * UsernameCaseMapped mapping of one code point: width mapping to the
 * <wide>/<narrow> decomposition, then toLowerCase (RFC 8265 3.3.2,
 * steps 1 and 3).  U+0130 is the one unconditional full lower-case
 * mapping that is longer than the simple one.  Returns the count.
 */
static int
map_local(int32_t c, int32_t *m, size_t size)
{
	const utf8proc_property_t	*p = utf8proc_get_property(c);
	utf8proc_int32_t		 w[4];
	utf8proc_ssize_t		 nw, i;
	int				 bc = 0;
	size_t				 n = 0;

	w[0] = c;
	nw = 1;
	if (p->decomp_type == UTF8PROC_DECOMP_TYPE_WIDE ||
	    p->decomp_type == UTF8PROC_DECOMP_TYPE_NARROW) {
		nw = utf8proc_decompose_char(c, w, NITEMS(w),
		    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bc);
		if (nw < 1 || nw > (utf8proc_ssize_t)NITEMS(w))
			return -1;
	}
	for (i = 0; i < nw; i++) {
		if (n + 2 > size)
			return -1;
		if (w[i] == 0x0130) {
			m[n++] = 'i';
			m[n++] = 0x0307;
		} else
			m[n++] = utf8proc_tolower(w[i]);
	}
	return n;
}

/* OpaqueString additional mapping (RFC 8265 4.2.2 step 2). */
static int
map_resource(int32_t c, int32_t *m, size_t size)
{
	if (c != 0x20 && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS)
		c = 0x20;
	m[0] = c;
	return 1;
}

/* Decode UTF-8 (refusing anything invalid), map, re-encode into out. */
static ssize_t
map_string(const char *s, size_t len, enum profile prof, char *out,
    size_t size)
{
	utf8proc_int32_t	c;
	utf8proc_ssize_t	r;
	int32_t			m[8];
	size_t			i = 0, o = 0;
	int			k, nm;

	while (i < len) {
		r = utf8proc_iterate((const utf8proc_uint8_t *)s + i, len - i,
		    &c);
		if (r <= 0 || c == 0)
			return -1;
		i += r;
		nm = prof == PROF_LOCAL ? map_local(c, m, NITEMS(m)) :
		    map_resource(c, m, NITEMS(m));
		if (nm < 0)
			return -1;
		for (k = 0; k < nm; k++) {
			if (size - o < 4)
				return -1;
			o += utf8proc_encode_char(m[k],
			    (utf8proc_uint8_t *)out + o);
		}
	}
	return o;
}

static int
encode_part(const int32_t *cp, size_t n, char *out)
{
	utf8proc_uint8_t	tmp[4];
	utf8proc_ssize_t	k;
	size_t			i, o = 0;

	for (i = 0; i < n; i++) {
		k = utf8proc_encode_char(cp[i], tmp);
		if (k <= 0 || o + k > JID_PART_MAX)
			return -1;
		memcpy(out + o, tmp, k);
		o += k;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

static int
precis_prepare(const char *s, size_t len, enum profile prof, char *out)
{
	char			map[MAP_MAX];
	utf8proc_int32_t	cp[CP_MAX];
	utf8proc_ssize_t	n;
	ssize_t			mlen;
	const int		nfc = UTF8PROC_STABLE | UTF8PROC_COMPOSE;

	if (len == 0 || len > RAW_MAX)
		return -1;
	if ((mlen = map_string(s, len, prof, map, sizeof(map))) <= 0)
		return -1;
	/* NFC in two steps, so that no step allocates. */
	n = utf8proc_decompose((const utf8proc_uint8_t *)map, mlen, cp,
	    CP_MAX, nfc);
	if (n < 0 || n > CP_MAX)
		return -1;
	n = utf8proc_normalize_utf32(cp, n, nfc);
	if (n <= 0)
		return -1;
	if (class_check(cp, n, prof) == -1)
		return -1;
	if (prof == PROF_LOCAL && bidi_rule(cp, n) == -1)
		return -1;
	return encode_part(cp, n, out);
}

int
jid_prep_local(const char *s, size_t len, char *out)
{
	if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL)
		return -1;
	if (is_ascii(s, len))
		return local_ascii(s, len, out);
	return precis_prepare(s, len, PROF_LOCAL, out);
}

int
jid_prep_resource(const char *s, size_t len, char *out)
{
	if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL)
		return -1;
	if (is_ascii(s, len))
		return resource_ascii(s, len, out);
	return precis_prepare(s, len, PROF_RESOURCE, out);
}

/* ---- domainpart (RFC 7622 3.2) ---- */

static int
ldh_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * Check one lower-case ASCII label: letters, digits, hyphens, 1..63
 * bytes, no hyphen at either end (RFC 5890 2.3.1, RFC 1123 2.1), and
 * "??--" only as "xn--" (reserved LDH labels are not NR-LDH).
 * Returns 1 for an A-label candidate, 0 for an NR-LDH label, -1.
 */
static int
ldh_label(const char *l, size_t len)
{
	size_t	i;

	if (len == 0 || len > DNS_LABEL_MAX || l[0] == '-' ||
	    l[len - 1] == '-')
		return -1;
	for (i = 0; i < len; i++)
		if (!ldh_char((unsigned char)l[i]))
			return -1;
	if (len >= 4 && l[2] == '-' && l[3] == '-')
		return (l[0] == 'x' && l[1] == 'n') ? 1 : -1;
	return 0;
}

/*
 * Lower-case an ASCII host name into out and check its labels.
 * Returns -1 if invalid, 1 if some label needs IDNA, 0 if done.
 */
static int
ldh_domain(const char *s, size_t len, char *out)
{
	size_t	i, start = 0;
	int	c, r, alabel = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			c = (unsigned char)s[i];
			out[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
			continue;
		}
		if ((r = ldh_label(out + start, i - start)) == -1)
			return -1;
		alabel |= r;
		if (i < len)
			out[i] = '.';
		start = i + 1;
	}
	out[len] = '\0';
	return alabel;
}

/* IPv4address of RFC 3986 3.2.2: a dotted quad, kept as given. */
static int
ip4_literal(const char *s, size_t len, char *out)
{
	char		buf[INET_ADDRSTRLEN];
	struct in_addr	a;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	memcpy(out, buf, len + 1);
	return 0;
}

/* IP-literal of RFC 3986 3.2.2, IPv6 only (no IPvFuture, no zone). */
static int
ip6_literal(const char *s, size_t len, char *out)
{
	char		buf[INET6_ADDRSTRLEN];
	struct in6_addr	a;
	size_t		i;
	int		c;

	if (len < 4 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(buf))
		return -1;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		out[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	out[len] = '\0';
	return 0;
}

/*
 * IDNA2008 through libidn2: UTS 46 non-transitional mapping (lower
 * case, width, NFC; RFC 7622 3.2.1 allows it for input), validation
 * to A-labels, then back to U-labels, which is the stored form
 * (RFC 7622 3.2.2).  The U-labels must map back to the same A-labels,
 * or a second parse could give another domain.
 */
static int
idna_domain(const char *s, size_t len, char *out)
{
	const int	 fl = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;
	char		 in[RAW_MAX + 1], low[DNS_NAME_MAX + 1];
	char		*a = NULL, *u = NULL, *a2 = NULL;
	size_t		 alen, ulen;
	int		 rv = -1;

	if (len > RAW_MAX)
		return -1;
	memcpy(in, s, len);
	in[len] = '\0';
	if (idn2_to_ascii_8z(in, &a, fl) != IDN2_OK)
		goto done;
	alen = strlen(a);
	if (alen > 0 && a[alen - 1] == '.')	/* mapped final dot */
		a[--alen] = '\0';
	/* libidn2 lets empty labels and, without STD3 rules, '_' by. */
	if (ldh_domain(a, alen, low) == -1 || strcmp(a, low) != 0)
		goto done;
	if (idn2_to_unicode_8z8z(a, &u, 0) != IDN2_OK)
		goto done;
	if (idn2_to_ascii_8z(u, &a2, fl) != IDN2_OK || strcmp(a, a2) != 0)
		goto done;
	if ((ulen = strlen(u)) == 0 || ulen > JID_PART_MAX)
		goto done;
	memcpy(out, u, ulen + 1);
	rv = 0;
done:
	idn2_free(a);
	idn2_free(u);
	idn2_free(a2);
	return rv;
}

int
jid_prep_domain(const char *s, size_t len, char *out)
{
	int	r;

	if (s == NULL || len == 0 || len > RAW_MAX ||
	    memchr(s, '\0', len) != NULL)
		return -1;
	if (s[0] == '[')
		return ip6_literal(s, len, out);
	if (!is_ascii(s, len))
		return idna_domain(s, len, out);
	/* RFC 7622 3.2: one final dot is stripped before anything else. */
	if (s[len - 1] == '.')
		len--;
	if (len == 0)
		return -1;
	if (ip4_literal(s, len, out) == 0)
		return 0;
	if ((r = ldh_domain(s, len, out)) != 1)
		return r;
	return idna_domain(s, len, out);	/* has an "xn--" label */
}

/* ---- whole JIDs ---- */

int
jid_parse(const char *s, size_t len, struct jid *j)
{
	const char	*slash, *at, *dom;
	size_t		 dend;

	if (j == NULL)
		return -1;
	j->local[0] = j->domain[0] = j->resource[0] = '\0';
	if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL)
		return -1;
	/* RFC 7622 3.1: the resource starts at the first '/', and the
	 * localpart ends at the first '@' before it. */
	slash = memchr(s, '/', len);
	dend = slash != NULL ? (size_t)(slash - s) : len;
	at = memchr(s, '@', dend);
	dom = s;
	if (at != NULL) {
		if (jid_prep_local(s, at - s, j->local) == -1)
			goto bad;
		dom = at + 1;
	}
	if (jid_prep_domain(dom, s + dend - dom, j->domain) == -1)
		goto bad;
	if (slash != NULL &&
	    jid_prep_resource(slash + 1, len - dend - 1, j->resource) == -1)
		goto bad;
	return 0;
bad:
	j->local[0] = j->domain[0] = j->resource[0] = '\0';
	return -1;
}

/* Appends `part` at *off; 0, or -1 when it would not fit with a NUL. */
static int
put_part(char *buf, size_t size, size_t *off, const char *part)
{
	size_t	n = strlen(part);

	if (n >= size - *off)
		return -1;
	memcpy(buf + *off, part, n);
	*off += n;
	return 0;
}

/* Plain copies, not snprintf: this runs several times per stanza. */
static int
jid_print(const struct jid *j, int full, char *buf, size_t size)
{
	size_t	off = 0;

	if (size == 0)
		return -1;
	full = full && j->resource[0] != '\0';
	if ((j->local[0] != '\0' && (put_part(buf, size, &off, j->local) ||
	    put_part(buf, size, &off, "@"))) ||
	    put_part(buf, size, &off, j->domain) ||
	    (full && (put_part(buf, size, &off, "/") ||
	    put_part(buf, size, &off, j->resource)))) {
		buf[0] = '\0';
		return -1;
	}
	buf[off] = '\0';
	return (int)off;
}

int
jid_format(const struct jid *j, char *buf, size_t size)
{
	return jid_print(j, 1, buf, size);
}

int
jid_format_bare(const struct jid *j, char *buf, size_t size)
{
	return jid_print(j, 0, buf, size);
}

/* Returns 0, or -1 if the JID is invalid or `size` too small. */
int
jid_normalize(const char *s, char *out, size_t size)
{
	struct jid	j;

	if (s == NULL || jid_parse(s, strlen(s), &j) == -1)
		return -1;
	return jid_format(&j, out, size) == -1 ? -1 : 0;
}

int
jid_equal(const struct jid *a, const struct jid *b)
{
	return jid_bare_equal(a, b) && strcmp(a->resource, b->resource) == 0;
}

int
jid_bare_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0;
}
