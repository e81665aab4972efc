/*
 * fuzz_frame.c - libFuzzer target for the frame decoder (common/frame.c)
 * and the link that feeds it (common/link.c).
 *
 * Input layout: byte 0 is a control byte, byte 1 the number n (0..31) of
 * op bytes that follow, then the bytes of the stream.  The stream goes
 * (1) to frame_parse() with several max_frame values, as it is and with
 * its length field fixed up to the real size (so bodies are reached), and
 * every accepted frame is walked with the typed getters in an order the op
 * bytes choose; (2) into a real link: written to one end of a socketpair
 * whose other end is a link on an event base, then a few non-blocking loop
 * turns.  The link must either dispatch frames or call its close callback
 * exactly once, never crash; every dispatched frame obeys the decoder's
 * invariants (JIDs NUL-terminated with the header's lengths, body inside
 * the frame).  Control bits pick the link's max frame size, whether our
 * end is shut down after the write (EOF), whether frames are echoed back
 * (fout_copy + link_send) and whether the frame callback frees the link.
 *
 * Seeds are in tests/fuzz/frame/ (made by tests/fuzz/frame/make_seeds.py).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "link.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CTL_EOF		0x01	/* shut our end down after writing */
#define CTL_ECHO	0x02	/* send every frame back */
#define CTL_FREE	0x04	/* link_free() from inside the frame callback */
#define CTL_MAXSHIFT	3	/* bits 3-4: which max_frame for the link */

static const uint32_t max_frames[] = {
	FRAME_HDR_LEN, 4096, FRAME_MAX_DEFAULT, FRAME_MAX_LIMIT, UINT32_MAX,
};

static struct event_base *base;
static volatile uint8_t sink;

/* Touch every byte so AddressSanitizer sees an out-of-bounds pointer. */
static void
touch(const uint8_t *p, size_t n)
{
	uint8_t x = 0;
	size_t i;

	for (i = 0; i < n; i++)
		x ^= p[i];
	sink = x;
}

static void
check_frame(const struct frame *f)
{
	if (f->hdr.len < FRAME_HDR_LEN ||
	    strlen(f->from) != f->hdr.from_len ||
	    strlen(f->to) != f->hdr.to_len ||
	    f->body_len + f->hdr.from_len + f->hdr.to_len + FRAME_HDR_LEN !=
	    f->hdr.len || f->pos != 0)
		abort();
	touch(f->body, f->body_len);
}

/* Read the body with getters chosen by `ops`; a failed getter must leave
 * the cursor where it was, a successful one must stay inside the body. */
static void
walk(struct frame *f, const uint8_t *ops, size_t nops)
{
	const uint8_t	*d;
	const char	*s;
	size_t		 i, n, before;
	uint64_t	 v64;
	uint32_t	 v32;
	uint16_t	 v16;
	uint8_t		 v8;
	int		 r;

	for (i = 0; i < nops; i++) {
		before = f->pos;
		r = 0;
		switch (ops[i] % 8) {
		case 0: r = frame_get_u8(f, &v8); break;
		case 1: r = frame_get_u16(f, &v16); break;
		case 2: r = frame_get_u32(f, &v32); break;
		case 3: r = frame_get_u64(f, &v64); break;
		case 4:
			if ((r = frame_get_str(f, &s, &n)) == 0 &&
			    (strlen(s) != n || (const uint8_t *)s < f->body ||
			    (const uint8_t *)s + n + 1 > f->body + f->body_len))
				abort();
			break;
		case 5:
			if ((r = frame_get_data(f, &d, &n)) == 0) {
				if (d < f->body || d + n > f->body + f->body_len)
					abort();
				touch(d, n);
			}
			break;
		case 6:
			frame_get_rest(f, &d, &n);
			touch(d, n);
			if (f->pos != f->body_len)
				abort();
			break;
		case 7:
			if ((frame_get_end(f) == 0) != (f->pos == f->body_len))
				abort();
			break;
		}
		if (f->pos > f->body_len || (r == -1 && f->pos != before))
			abort();
	}
}

static void
parse_all(const uint8_t *buf, size_t len, const uint8_t *ops, size_t nops)
{
	struct frame	 f;
	const char	*why;
	uint8_t		*fixed;
	size_t		 i;

	for (i = 0; i < sizeof(max_frames) / sizeof(max_frames[0]); i++) {
		why = NULL;
		if (frame_parse(buf, len, max_frames[i], &f, &why) == 0) {
			check_frame(&f);
			walk(&f, ops, nops);
		} else if (why == NULL)
			abort();	/* a refusal always says why */
	}
	/* The same bytes with a truthful length field: reach the body. */
	if (len < FRAME_HDR_LEN || len > UINT32_MAX || (fixed = malloc(len)) == NULL)
		return;
	memcpy(fixed, buf, len);
	fixed[0] = len;
	fixed[1] = len >> 8;
	fixed[2] = len >> 16;
	fixed[3] = len >> 24;
	if (frame_parse(fixed, len, FRAME_MAX_LIMIT, &f, &why) == 0) {
		check_frame(&f);
		walk(&f, ops, nops);
	}
	free(fixed);
}

struct run {
	uint8_t		 ctl;
	const uint8_t	*ops;
	size_t		 nops;
	int		 closed;	/* close callbacks seen */
	int		 freed;		/* we freed it ourselves */
	unsigned	 frames;
};

static void
on_frame(struct link *l, struct frame *f, void *arg)
{
	struct run *r = arg;

	if (r->closed || r->freed)
		abort();	/* no dispatch after the end */
	if (f->fd != -1)
		abort();	/* this link allows no fds */
	r->frames++;
	check_frame(f);
	if (r->ctl & CTL_ECHO)
		link_send(l, fout_copy(f));
	walk(f, r->ops, r->nops);
	if ((r->ctl & CTL_FREE) && r->frames == 2) {
		r->freed = 1;
		link_free(l);
	}
}

static void
on_close(struct link *l, const char *why, void *arg)
{
	struct run *r = arg;

	if (why == NULL || r->freed)
		abort();
	r->closed++;
}

static void
drain(int fd)
{
	uint8_t	buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
through_link(const uint8_t *buf, size_t len, struct run *r)
{
	struct link	*l;
	int		 sp[2], i;
	size_t		 off = 0;
	ssize_t		 n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		abort();
	if ((l = link_new(base, sp[0], "fuzz", on_frame, on_close, r)) == NULL)
		abort();
	link_set_max_frame(l, max_frames[(r->ctl >> CTL_MAXSHIFT) % 5]);
	for (i = 0; i < 16 && !r->closed && !r->freed; i++) {
		if (off < len) {
			n = write(sp[1], buf + off, len - off);
			if (n > 0)
				off += n;
			if (off == len && (r->ctl & CTL_EOF))
				shutdown(sp[1], SHUT_WR);
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		drain(sp[1]);
	}
	if (r->closed > 1)
		abort();	/* the close callback runs once */
	if (!r->closed && !r->freed)
		link_free(l);
	close(sp[1]);
	/* Nothing of the link may stay registered on the base. */
	if (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) != 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* link.c warns on every bad frame; below LOG_LVL_WARN it is quiet. */
	if (getenv("FUZZ_FRAME_VERBOSE") == NULL)
		log_setlevel(LOG_LVL_WARN - 1);
	if ((base = event_base_new()) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	r;
	size_t		nops;

	if (size < 2)
		return 0;
	nops = data[1] % 32;
	if (size < 2 + nops)
		return 0;
	memset(&r, 0, sizeof(r));
	r.ctl = data[0];
	r.ops = data + 2;
	r.nops = nops;
	parse_all(data + 2 + nops, size - 2 - nops, r.ops, r.nops);
	through_link(data + 2 + nops, size - 2 - nops, &r);
	return 0;
}
