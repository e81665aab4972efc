/*
 * test_smrec.c - routerd's record of a resumable XEP-0198 session
 * (routerd/smrec.c): the checks on SM_ENABLE and SM_STATE bodies, the
 * numbering of kept messages, what a report frees and marks, the bound
 * on copies, and the SM_RESTORE plus copies handed to the next c2sd,
 * read back from a real link.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "link.h"
#include "routerd.h"
#include "smrec.h"

struct routerd rd;

static uint8_t	 buf[FRAME_MAX_DEFAULT];
static struct frame fr;

/* Finish `o` and parse it back into `fr` (its body lives in buf). */
static struct frame *
parsed(struct fout *o)
{
	const char *why;

	fout_finish(o);
	memcpy(buf, o->buf, o->len);
	assert_int_equal(frame_parse(buf, o->len, FRAME_MAX_DEFAULT, &fr,
	    &why), 0);
	fout_free(o);
	return &fr;
}

static struct frame *
enable(size_t hashlen, uint32_t secs, int extra)
{
	uint8_t		 hash[64] = { 7 };
	struct fout	*o = fout_new(RF_SM_ENABLE, "u@x/r", NULL);

	fout_put_data(o, hash, hashlen);
	fout_put_u32(o, secs);
	if (extra)
		fout_put_u8(o, 0);
	return parsed(o);
}

static struct frame *
report(uint32_t done, uint16_t n, uint16_t given, const uint32_t *pairs)
{
	struct fout	*o = fout_new(RF_SM_STATE, "u@x/r", NULL);
	uint16_t	 i;

	fout_put_u32(o, 9);	/* h_in */
	fout_put_u32(o, 4);	/* h_acked */
	fout_put_u32(o, 8);	/* h_out */
	fout_put_u32(o, done);
	fout_put_u16(o, n);
	for (i = 0; i < 2 * given; i++)
		fout_put_u32(o, pairs[i]);
	return parsed(o);
}

static struct fout *
message(void)
{
	return fout_stanza(RK_MESSAGE, RS_CHAT, "v@x/y", "u@x/r",
	    "<message/>", 10);
}

static struct smrec *
kept(uint32_t n)
{
	struct smrec	*r = smrec_new(enable(FRAME_SM_HASH_LEN, 300, 0));
	struct fout	*o;
	uint32_t	 i;

	assert_non_null(r);
	for (i = 1; i <= n; i++) {
		o = message();
		assert_int_equal(smrec_keep(r, o), i);
		assert_int_equal(o->hdr.corr, i);	/* stamped for c2sd */
		fout_free(o);
	}
	return r;
}

static void
test_enable(void **state)
{
	assert_null(smrec_new(enable(FRAME_SM_HASH_LEN - 1, 300, 0)));
	assert_null(smrec_new(enable(FRAME_SM_HASH_LEN + 1, 300, 0)));
	assert_null(smrec_new(enable(FRAME_SM_HASH_LEN, 0, 0)));
	assert_null(smrec_new(enable(FRAME_SM_HASH_LEN, SMREC_MAX_SECS + 1, 0)));
	assert_null(smrec_new(enable(FRAME_SM_HASH_LEN, 300, 1)));
	smrec_free(smrec_new(enable(FRAME_SM_HASH_LEN, 300, 0)));
}

static void
test_state(void **state)
{
	struct smrec	*r = kept(3);
	uint32_t	 pairs[] = { 2, 7, 3, 8 };
	struct fout	*chain, *f;
	int		 n = 0;

	/* pairs missing, too many, done beyond the last number given */
	assert_int_equal(smrec_state(r, report(1, 2, 1, pairs)), -1);
	assert_int_equal(smrec_state(r, report(1, FRAME_SM_MAX_PAIRS + 1, 0,
	    pairs)), -1);
	assert_int_equal(smrec_state(r, report(4, 0, 0, pairs)), -1);
	assert_int_equal(smrec_count(r), 3);
	/* message 1 acknowledged, 2 and 3 written */
	assert_int_equal(smrec_state(r, report(1, 2, 2, pairs)), 0);
	assert_int_equal(smrec_count(r), 2);
	chain = smrec_take(r);
	for (f = chain; f != NULL; f = f->next)
		assert_int_equal(f->hdr.corr, (uint32_t)(2 + n++));
	assert_int_equal(n, 2);
	assert_int_equal(smrec_count(r), 0);
	while ((f = chain) != NULL) {
		chain = f->next;
		fout_free(f);
	}
	smrec_free(r);
}

static void
test_bound(void **state)
{
	/* sm-max-unacked 500 by default: 2 x 500 + SMREC_SLACK copies */
	struct smrec	*r = kept(1000 + SMREC_SLACK);
	struct fout	*o = message();
	struct fout	*chain;

	assert_true(smrec_full(r));
	assert_int_equal(smrec_keep(r, o), 1000 + SMREC_SLACK + 1);
	fout_free(o);
	assert_int_equal(smrec_count(r), 1000 + SMREC_SLACK);
	chain = smrec_take(r);
	assert_int_equal(chain->hdr.corr, 2);	/* the oldest went */
	while ((o = chain) != NULL) {
		chain = o->next;
		fout_free(o);
	}
	smrec_free(r);
}

static void
test_hand_over(void **state)
{
	struct event_base *base = event_base_new();
	struct smrec	*r = kept(3);
	uint32_t	 pairs[] = { 2, 7 }, v[5];
	struct link	*l;
	const uint8_t	*hash;
	size_t		 hlen;
	uint16_t	 n;
	int		 sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	l = link_new(base, sv[0], "c2sd", NULL, NULL, NULL);
	assert_int_equal(smrec_state(r, report(1, 1, 1, pairs)), 0);
	smrec_park(r);
	assert_int_equal(smrec_hand_over(r, l, "u@x/r", 99), 0);
	link_flush_now(l);
	assert_int_equal(link_read_blocking(sv[1], buf, sizeof(buf), &fr,
	    200), 0);
	assert_int_equal(fr.hdr.type, RF_SM_RESTORE);
	assert_int_equal(fr.hdr.session, 99);
	assert_string_equal(fr.from, "u@x/r");
	assert_int_equal(frame_get_data(&fr, &hash, &hlen), 0);
	assert_int_equal(hlen, FRAME_SM_HASH_LEN);
	for (i = 0; i < 4; i++)
		assert_int_equal(frame_get_u32(&fr, &v[i]), 0);
	assert_int_equal(v[0], 9);
	assert_int_equal(v[1], 4);
	assert_int_equal(v[2], 8);
	assert_true(v[3] >= 299 && v[3] <= 300);	/* the window left */
	assert_int_equal(frame_get_u16(&fr, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(frame_get_u32(&fr, &v[0]), 0);
	assert_int_equal(frame_get_u32(&fr, &v[1]), 0);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 7);
	assert_int_equal(frame_get_end(&fr), 0);
	for (i = 2; i <= 3; i++) {	/* the kept copies, numbered */
		assert_int_equal(link_read_blocking(sv[1], buf, sizeof(buf),
		    &fr, 200), 0);
		assert_int_equal(fr.hdr.type, RF_STANZA);
		assert_int_equal(fr.hdr.session, 99);
		assert_int_equal(fr.hdr.corr, i);
	}
	link_free(l);
	close(sv[1]);
	smrec_free(r);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enable),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_hand_over),
	};

	rd.conf = conf_new();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
