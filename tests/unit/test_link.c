/*
 * test_link.c - links over real socketpairs: batched delivery in order,
 * fd passing, the bounded queue, backpressure (between links, and the
 * drain callback for producers that are not links), and a peer that
 * sends a broken header or a 4 GiB length being cut off.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "frame.h"
#include "link.h"

struct sink {
	int		 frames;
	uint32_t	 last_corr;
	int		 in_order;
	int		 closed;
	int		 fd;
	struct event_base *base;
	int		 stop_at;
	struct link	*watch;		/* must have drained before we get a frame */
};

static void
on_frame(struct link *l, struct frame *f, void *arg)
{
	struct sink *s = arg;

	if (f->hdr.corr != s->last_corr + 1 && s->frames > 0)
		s->in_order = 0;
	s->last_corr = f->hdr.corr;
	if (s->watch && link_queued(s->watch) > 0)
		s->in_order = 0;
	s->frames++;
	if (f->fd != -1)
		s->fd = f->fd;
	if (s->stop_at && s->frames == s->stop_at)
		event_base_loopbreak(s->base);
}

static void
on_close(struct link *l, const char *why, void *arg)
{
	struct sink *s = arg;

	s->closed = 1;
	event_base_loopbreak(s->base);
}

static void
pair(struct event_base *base, struct sink *sa, struct sink *sb,
    struct link **a, struct link **b)
{
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	sa->base = sb->base = base;
	sa->in_order = sb->in_order = 1;
	sa->fd = sb->fd = -1;
	*a = link_new(base, sp[0], "a", on_frame, on_close, sa);
	*b = link_new(base, sp[1], "b", on_frame, on_close, sb);
	assert_non_null(*a);
	assert_non_null(*b);
}

/* n small stanzas, corr 1..n */
static void
send_n(struct link *a, int n)
{
	struct fout	*f;
	int		 i;

	for (i = 1; i <= n; i++) {
		f = fout_stanza(RK_MESSAGE, RS_CHAT, "x@y/z", "u@v", "<m/>", 4);
		f->hdr.corr = (uint32_t)i;
		assert_int_equal(link_send(a, f), 0);
	}
}

static void
test_many_in_order(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;

	pair(base, &sa, &sb, &a, &b);
	sb.stop_at = 5000;
	send_n(a, 5000);
	event_base_dispatch(base);
	assert_int_equal(sb.frames, 5000);
	assert_true(sb.in_order);
	link_free(a);
	link_free(b);
	event_base_free(base);
}

/* Run the loop for `ms` at most (or until a sink breaks it). */
static void
run_for(struct event_base *base, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/*
 * A link with acks on acknowledges each read (RF_ACK); link_hold_acks
 * keeps the acknowledgement back until it is released, and then it
 * counts every frame dispatched meanwhile.
 */
static void
test_hold_acks(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;

	pair(base, &sa, &sb, &a, &b);
	link_set_acks(b, 1);
	link_hold_acks(b, 1);
	send_n(a, 3);
	run_for(base, 100);
	assert_int_equal(sb.frames, 3);
	assert_int_equal(sa.frames, 0);		/* held: no RF_ACK yet */
	link_hold_acks(b, 0);
	sa.stop_at = 1;
	run_for(base, 1000);
	assert_int_equal(sa.frames, 1);		/* one RF_ACK for all three */
	link_free(a);
	link_free(b);
	event_base_free(base);
}

static void
test_fd_passing(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;
	struct fout	*f;
	int		 p[2];
	char		 c = 0;

	pair(base, &sa, &sb, &a, &b);
	link_allow_fds(b, 1);
	assert_int_equal(pipe(p), 0);
	f = fout_new(RF_CONFIG_FD, NULL, NULL);
	fout_put_str(f, "client");
	fout_set_fd(f, p[1]);	/* the link closes our copy after sending */
	f->hdr.corr = 1;
	link_send(a, f);
	sb.stop_at = 1;
	event_base_dispatch(base);
	assert_int_not_equal(sb.fd, -1);
	assert_int_equal(write(sb.fd, "k", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'k');
	close(sb.fd);
	close(p[0]);
	link_free(a);
	link_free(b);
	event_base_free(base);
}

static void
test_fd_refused_when_not_allowed(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;
	struct fout	*f;
	int		 p[2];

	pair(base, &sa, &sb, &a, &b);
	assert_int_equal(pipe(p), 0);
	f = fout_new(RF_CONFIG_FD, NULL, NULL);
	fout_set_fd(f, p[1]);
	link_send(a, f);
	event_base_dispatch(base);
	/* The frame says RFF_FD but b does not accept fds: link closed. */
	assert_true(sb.closed);
	assert_int_equal(sb.frames, 0);
	close(p[0]);
	link_free(a);
	event_base_free(base);
}

static void
test_bounded_queue(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;
	char		 body[4096];
	int		 i, refused = 0;

	pair(base, &sa, &sb, &a, &b);
	link_set_watermarks(a, 8192, 16384);
	memset(body, 'x', sizeof(body));
	/* Nobody runs the loop, so nothing is written: the queue must stop. */
	for (i = 0; i < 100; i++)
		if (link_send(a, fout_stanza(RK_MESSAGE, RS_CHAT, "a@b", "c@d",
		    body, sizeof(body))) == -1) {
			assert_int_equal(errno, ENOBUFS);
			refused++;
		}
	assert_true(refused > 80);
	assert_true(link_queued(a) <= 4 * 16384);
	assert_true(link_over_hiwat(a));
	link_free(a);
	link_free(b);
	event_base_free(base);
}

static void
test_backpressure(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 s1 = { 0 }, s2 = { 0 }, s3 = { 0 }, s4 = { 0 };
	struct link	*src_a, *src_b, *dst_a, *dst_b;

	pair(base, &s1, &s2, &src_a, &src_b);
	pair(base, &s3, &s4, &dst_a, &dst_b);
	link_set_watermarks(dst_a, 0, 10);
	link_send(dst_a, fout_new(RF_PING, NULL, NULL));
	assert_true(link_over_hiwat(dst_a));
	link_block_on(src_b, dst_a);
	s2.watch = dst_a;
	/* src_b is paused: a frame sent to it is not dispatched ... */
	link_send(src_a, fout_new(RF_PING, NULL, NULL));
	s4.stop_at = 1;
	event_base_dispatch(base);	/* ... until dst_a drained */
	assert_int_equal(s4.frames, 1);
	s2.stop_at = 1;
	event_base_dispatch(base);
	assert_int_equal(s2.frames, 1);
	assert_true(s2.in_order);	/* src_b read nothing while dst_a was full */
	link_free(src_a);
	link_free(src_b);
	link_free(dst_a);
	link_free(dst_b);
	event_base_free(base);
}

static int	drained_at = -1;	/* queued bytes when the callback ran */
static struct link *drained_link;

static void
on_drained(void *arg)
{
	drained_at = (int)link_queued(drained_link);
	event_base_loopbreak(arg);
}

/* link_on_drain: called once, when the queue is back at its low mark. */
static void
test_drain_callback(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sa = { 0 }, sb = { 0 };
	struct link	*a, *b;
	char		 body[4096];
	int		 i;

	pair(base, &sa, &sb, &a, &b);
	link_set_watermarks(a, 8192, 16384);
	memset(body, 'x', sizeof(body));
	for (i = 0; i < 10; i++)
		link_send(a, fout_stanza(RK_MESSAGE, RS_CHAT, "a@b", "c@d",
		    body, sizeof(body)));
	assert_true(link_over_hiwat(a));
	drained_link = a;
	link_on_drain(a, on_drained, base);
	event_base_dispatch(base);
	assert_true(drained_at >= 0 && drained_at <= 8192);
	/* one-shot; an already drained link calls back on the next turn */
	drained_at = -1;
	link_on_drain(a, on_drained, base);
	assert_int_equal(drained_at, -1);
	event_base_dispatch(base);
	assert_int_equal(drained_at, 0);
	link_free(a);
	link_free(b);
	event_base_free(base);
}

static void
test_huge_length_closes(void **state)
{
	struct event_base *base = event_base_new();
	struct sink	 sb = { 0 };
	struct link	*b;
	uint8_t		 hdr[FRAME_HDR_LEN];
	struct frame_hdr h = { .len = 0xffffffffu, .type = RF_STANZA };
	int		 sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	sb.base = base;
	b = link_new(base, sp[1], "b", on_frame, on_close, &sb);
	assert_non_null(b);
	frame_hdr_encode(&h, hdr);
	assert_int_equal(write(sp[0], hdr, sizeof(hdr)), sizeof(hdr));
	event_base_dispatch(base);
	assert_true(sb.closed);
	assert_int_equal(sb.frames, 0);
	close(sp[0]);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_in_order),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_fd_refused_when_not_allowed),
		cmocka_unit_test(test_bounded_queue),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_hold_acks),
		cmocka_unit_test(test_drain_callback),
		cmocka_unit_test(test_huge_length_closes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
