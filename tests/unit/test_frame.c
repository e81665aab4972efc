/*
 * test_frame.c - the frame codec: header round trip, every rule of
 * docs/frames.md rejecting a malformed header, truncated frames, typed
 * getters that never read past the body, and HELLO versions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "link.h"

static struct fout *
sample(void)
{
	struct fout *f = fout_stanza(RK_MESSAGE, RS_CHAT, "a@example.com/r",
	    "b@example.com", "<message/>", 10);

	f->hdr.session = 0x1122334455667788ULL;
	f->hdr.corr = 42;
	fout_finish(f);
	return f;
}

static void
test_roundtrip(void **state)
{
	struct fout	*f = sample();
	struct frame	 fr;
	const char	*why = NULL;
	const uint8_t	*rest;
	size_t		 n;

	assert_int_equal(frame_parse(f->buf, f->len, FRAME_MAX_DEFAULT, &fr, &why), 0);
	assert_int_equal(fr.hdr.type, RF_STANZA);
	assert_int_equal(fr.hdr.kind, RK_MESSAGE);
	assert_int_equal(fr.hdr.stype, RS_CHAT);
	assert_true(fr.hdr.session == 0x1122334455667788ULL);
	assert_int_equal(fr.hdr.corr, 42);
	assert_string_equal(fr.from, "a@example.com/r");
	assert_string_equal(fr.to, "b@example.com");
	frame_get_rest(&fr, &rest, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(rest, "<message/>", 10);
	assert_int_equal(frame_get_end(&fr), 0);
	fout_free(f);
}

/* Encode a header with one field broken and expect a rejection. */
static void
expect_bad(struct frame_hdr h, size_t buflen)
{
	uint8_t		*buf = calloc(1, buflen < FRAME_HDR_LEN ? FRAME_HDR_LEN : buflen);
	struct frame	 fr;
	const char	*why = NULL;

	frame_hdr_encode(&h, buf);
	if (h.reserved)
		buf[28] = 1;	/* encode writes zero; break it by hand */
	assert_int_equal(frame_parse(buf, buflen, 4096, &fr, &why), -1);
	assert_non_null(why);
	free(buf);
}

static void
test_malformed_headers(void **state)
{
	struct frame_hdr ok = { .len = 64, .type = RF_STANZA }, h;

	h = ok; h.len = 31; expect_bad(h, 31);		/* below header */
	h = ok; h.len = 8192; expect_bad(h, 8192);	/* above max_frame */
	h = ok; h.reserved = 1; expect_bad(h, 64);
	h = ok; h.flags = 0x8000; expect_bad(h, 64);	/* unknown flag */
	h = ok; h.from_len = 20; h.to_len = 20; expect_bad(h, 64); /* JIDs > body */
	h = ok; h.len = 4096; h.from_len = 3072; expect_bad(h, 4096);
	h = ok; h.kind = 9; expect_bad(h, 64);
	h = ok; expect_bad(h, 63);			/* truncated */
	expect_bad(ok, 10);				/* truncated header */
}

static void
test_nul_in_jid(void **state)
{
	struct fout	*f = fout_new(RF_STANZA, "a@b", "c@d");
	struct frame	 fr;
	const char	*why;

	fout_finish(f);
	f->buf[FRAME_HDR_LEN + 1] = '\0';
	assert_int_equal(frame_parse(f->buf, f->len, 4096, &fr, &why), -1);
	fout_free(f);
}

static void
test_getters_bounds(void **state)
{
	struct fout	*f = fout_new(RF_CONFIG, NULL, NULL);
	struct frame	 fr;
	const char	*why, *s;
	const uint8_t	*d;
	size_t		 n;
	uint8_t		 u8;
	uint16_t	 u16;
	uint32_t	 u32;
	uint64_t	 u64;

	fout_put_str(f, "key");
	fout_put_u16(f, 0xbeef);
	fout_put_u64(f, 7);
	fout_put_data(f, "\0\1\2", 3);
	fout_finish(f);
	assert_int_equal(frame_parse(f->buf, f->len, 4096, &fr, &why), 0);
	assert_int_equal(frame_get_str(&fr, &s, &n), 0);
	assert_string_equal(s, "key");
	assert_int_equal(frame_get_u16(&fr, &u16), 0);
	assert_int_equal(u16, 0xbeef);
	assert_int_equal(frame_get_u64(&fr, &u64), 0);
	assert_true(u64 == 7);
	/* data is not a string: it has no trailing NUL and holds one */
	assert_int_equal(frame_get_str(&fr, &s, &n), -1);
	assert_int_equal(frame_get_data(&fr, &d, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(frame_get_end(&fr), 0);
	assert_int_equal(frame_get_u8(&fr, &u8), -1);
	assert_int_equal(frame_get_u32(&fr, &u32), -1);
	fout_free(f);
}

static void
test_length_prefix_lies(void **state)
{
	struct fout	*f = fout_new(RF_CONFIG, NULL, NULL);
	struct frame	 fr;
	const char	*why, *s;
	const uint8_t	*d;
	size_t		 n;

	fout_put_u32(f, 1000);	/* claims 1000 bytes, has 2 */
	fout_put_raw(f, "ab", 2);
	fout_finish(f);
	assert_int_equal(frame_parse(f->buf, f->len, 4096, &fr, &why), 0);
	assert_int_equal(frame_get_data(&fr, &d, &n), -1);
	assert_int_equal(frame_get_str(&fr, &s, &n), -1);
	assert_int_equal(fr.pos, 0);	/* a failed get consumes nothing */
	assert_int_equal(frame_get_end(&fr), -1);
	fout_free(f);
}

static void
hello_with(uint16_t major, struct frame *fr, struct fout **keep)
{
	struct fout *f = fout_new(RF_HELLO, NULL, NULL);
	const char *why;

	fout_put_u16(f, major);
	fout_put_u16(f, 0);
	fout_put_str(f, "c2sd");
	fout_put_u32(f, 1);
	fout_put_u32(f, 65536);
	fout_finish(f);
	assert_int_equal(frame_parse(f->buf, f->len, 4096, fr, &why), 0);
	*keep = f;
}

static void
test_hello_versions(void **state)
{
	struct frame	 fr;
	struct fout	*f;
	char		 name[32];
	uint32_t	 inst, maxf;

	hello_with(FRAME_PROTO_MAJOR, &fr, &f);
	assert_int_equal(link_check_hello(&fr, name, &inst, &maxf), 0);
	assert_string_equal(name, "c2sd");
	assert_int_equal(maxf, 65536);
	fout_free(f);
	hello_with(FRAME_PROTO_MAJOR + 1, &fr, &f);
	assert_int_equal(link_check_hello(&fr, name, &inst, &maxf), -1);
	fout_free(f);
}

static void
test_jid_too_long_refused(void **state)
{
	char		 big[FRAME_JID_MAX + 2];
	struct fout	*f;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	f = fout_new(RF_STANZA, big, NULL);
	assert_true(f->failed);
	fout_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_nul_in_jid),
		cmocka_unit_test(test_getters_bounds),
		cmocka_unit_test(test_length_prefix_lies),
		cmocka_unit_test(test_hello_versions),
		cmocka_unit_test(test_jid_too_long_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
