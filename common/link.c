/*
 * link.c - frames over a non-blocking Unix stream socket (see link.h).
 *
 * Invariants:
 * - the read buffer never holds more than max_frame + LINK_READ_CHUNK bytes;
 *   a header is checked (frame_hdr_check) before its length is trusted;
 * - every frame with RFF_FD takes exactly one fd that arrived with or before
 *   its first byte; fds are only accepted on links that allow them, and
 *   stray fds are closed;
 * - the write queue is bounded: link_send() refuses past 4 x high water;
 * - a link freed from inside its own callback is only marked dead and
 *   released when the dispatch loop unwinds;
 * - frames are numbered in each direction from 1 (nsent, nrecv), so the
 *   two ends agree on a count without putting it on every frame: a child
 *   with acks on says how many it has processed (RF_ACK, at most once per
 *   read callback, queued behind that callback's output), and routerd,
 *   with retain on, keeps the frames marked `retain` after writing them
 *   until they are acknowledged, so that they can be replayed when the
 *   peer dies (link_take_unacked).  The kept list is bounded too.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "link.h"
#include "log.h"

#define LINK_READ_CHUNK	(64 * 1024)
#define LINK_IOV_MAX	64

struct link {
	int		 fd;
	char		 name[32];
	uint16_t	 id;
	struct event	*rev;
	struct event	*wev;
	link_frame_cb	 on_frame;
	link_close_cb	 on_close;
	void		*arg;

	uint8_t		*rbuf;
	size_t		 rlen;
	size_t		 rcap;
	uint32_t	 max_frame;
	int		 fds[LINK_MAX_FDS];
	int		 nfds;
	int		 allow_fds;

	struct fout	*qhead;
	struct fout	*qtail;
	size_t		 queued;
	size_t		 lowat;
	size_t		 hiwat;

	int		 paused;
	struct link	**waiters;	/* links paused until we drain */
	size_t		 nwaiters;
	size_t		 capwaiters;
	struct link	*blocked_on;
	void		(*drain_cb)(void *);	/* link_on_drain, one-shot */
	void		*drain_arg;

	int		 depth;		/* > 0 while inside callbacks */
	int		 dead;

	uint64_t	 nsent;		/* frames queued by link_send */
	uint64_t	 nrecv;		/* frames dispatched */
	uint64_t	 nacked;	/* last count we sent in RF_ACK */
	int		 acks;		/* send RF_ACK after each dispatch */
	int		 ack_hold;	/* link_hold_acks: not yet */
	void		(*read_begin)(void *);	/* link_set_read_hooks */
	void		(*read_end)(void *);
	void		*read_arg;
	int		 retain;	/* keep written `retain` frames */
	struct fout	*khead;		/* written, not yet acknowledged */
	struct fout	*ktail;
	size_t		 kept;		/* bytes in the kept list */
	int		 kept_warned;
};

static void	link_read_cb(evutil_socket_t, short, void *);
static void	link_write_cb(evutil_socket_t, short, void *);
static void	link_destroy(struct link *);
static void	send_ack(struct link *);
static void	ack_if_due(struct link *);

struct link *
link_new(struct event_base *base, int fd, const char *name,
    link_frame_cb on_frame, link_close_cb on_close, void *arg)
{
	struct link *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->on_frame = on_frame;
	l->on_close = on_close;
	l->arg = arg;
	l->max_frame = FRAME_MAX_DEFAULT;
	l->lowat = LINK_LOWAT_DEFAULT;
	l->hiwat = LINK_HIWAT_DEFAULT;
	evutil_make_socket_nonblocking(fd);
	l->rev = event_new(base, fd, EV_READ | EV_PERSIST, link_read_cb, l);
	l->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, link_write_cb, l);
	if (l->rev == NULL || l->wev == NULL) {
		link_destroy(l);
		return NULL;
	}
	event_add(l->rev, NULL);
	return l;
}

static void
unblock_waiters(struct link *l)
{
	size_t i;

	for (i = 0; i < l->nwaiters; i++) {
		l->waiters[i]->blocked_on = NULL;
		link_resume(l->waiters[i]);
	}
	l->nwaiters = 0;
}

static void
forget_waiter(struct link *dst, struct link *src)
{
	size_t i;

	for (i = 0; i < dst->nwaiters; i++)
		if (dst->waiters[i] == src) {
			dst->waiters[i] = dst->waiters[--dst->nwaiters];
			return;
		}
}

static void
free_chain(struct fout *f)
{
	struct fout *n;

	for (; f != NULL; f = n) {
		n = f->next;
		if (f->fd != -1)
			close(f->fd);
		fout_free(f);
	}
}

static void
link_destroy(struct link *l)
{
	struct fout *f;
	int i;

	free_chain(l->khead);

	unblock_waiters(l);
	if (l->blocked_on)
		forget_waiter(l->blocked_on, l);
	if (l->rev)
		event_free(l->rev);
	if (l->wev)
		event_free(l->wev);
	while ((f = l->qhead) != NULL) {
		l->qhead = f->next;
		if (f->fd != -1)
			close(f->fd);
		fout_free(f);
	}
	for (i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	if (l->fd != -1)
		close(l->fd);
	free(l->waiters);
	free(l->rbuf);
	free(l);
}

void
link_free(struct link *l)
{
	if (l == NULL)
		return;
	if (l->depth > 0) {
		/* Inside our own callback: stop I/O now, free on unwind. */
		l->dead = 1;
		event_del(l->rev);
		event_del(l->wev);
		return;
	}
	link_destroy(l);
}

void link_allow_fds(struct link *l, int on) { l->allow_fds = on; }
void link_set_max_frame(struct link *l, uint32_t m) { l->max_frame = m; }
void link_set_id(struct link *l, uint16_t id) { l->id = id; }
uint16_t link_id(const struct link *l) { return l->id; }
const char *link_name(const struct link *l) { return l->name; }
void *link_arg(const struct link *l) { return l->arg; }
int link_fd(const struct link *l) { return l->fd; }
size_t link_queued(const struct link *l) { return l->queued; }
int link_over_hiwat(const struct link *l) { return l->queued > l->hiwat; }

void
link_set_watermarks(struct link *l, size_t low, size_t high)
{
	l->lowat = low;
	l->hiwat = high;
}

/* Close the link because the peer broke the protocol or went away. */
static void
link_fail(struct link *l, const char *why)
{
	if (l->dead)
		return;
	l->dead = 1;
	event_del(l->rev);
	event_del(l->wev);
	if (l->on_close)
		l->on_close(l, why, l->arg);
}

/* Keep received fds in arrival order; close what we may not hold. */
static void
take_fds(struct link *l, struct msghdr *msg)
{
	struct cmsghdr	*cm;
	int		*fdp, n, i;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fdp = (int *)CMSG_DATA(cm);
		for (i = 0; i < n; i++) {
			if (l->allow_fds && l->nfds < LINK_MAX_FDS)
				l->fds[l->nfds++] = fdp[i];
			else
				close(fdp[i]);
		}
	}
}

static ssize_t
link_recv(struct link *l)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;
	size_t		 want = l->rlen + LINK_READ_CHUNK;
	uint8_t		*nb;

	if (l->rcap < want) {
		if ((nb = realloc(l->rbuf, want)) == NULL)
			return -1;
		l->rbuf = nb;
		l->rcap = want;
	}
	iov.iov_base = l->rbuf + l->rlen;
	iov.iov_len = l->rcap - l->rlen;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	n = recvmsg(l->fd, &msg, MSG_CMSG_CLOEXEC);
	if (n > 0) {
		take_fds(l, &msg);
		l->rlen += n;
	}
	return n;
}

static int
pop_fd(struct link *l)
{
	int fd;

	if (l->nfds == 0)
		return -1;
	fd = l->fds[0];
	memmove(l->fds, l->fds + 1, --l->nfds * sizeof(int));
	return fd;
}

/* Dispatch every complete frame in the buffer.  0, or -1 after link_fail. */
static int
link_dispatch(struct link *l)
{
	struct frame	 fr;
	struct frame_hdr h;
	size_t		 off = 0;
	const char	*why;

	while (!l->dead && !l->paused && l->rlen - off >= FRAME_HDR_LEN) {
		frame_hdr_decode(l->rbuf + off, &h);
		if (frame_hdr_check(&h, l->max_frame, &why) == -1) {
			log_warnx("link %s: bad frame header (%s, type %u)",
			    l->name, why, h.type);
			link_fail(l, why);
			return -1;
		}
		if (l->rlen - off < h.len)
			break;
		if (frame_parse(l->rbuf + off, h.len, l->max_frame, &fr, &why) == -1) {
			log_warnx("link %s: bad frame (%s, type %s)", l->name,
			    why, frame_type_name(h.type));
			link_fail(l, why);
			return -1;
		}
		off += h.len;
		if (h.flags & RFF_FD) {
			if ((fr.fd = pop_fd(l)) == -1) {
				log_warnx("link %s: %s frame without its fd",
				    l->name, frame_type_name(h.type));
				link_fail(l, "missing fd");
				return -1;
			}
		}
		l->on_frame(l, &fr, l->arg);
		l->nrecv++;
	}
	if (off > 0 && !l->dead) {
		memmove(l->rbuf, l->rbuf + off, l->rlen - off);
		l->rlen -= off;
	}
	return 0;
}

static void
link_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct link	*l = arg;
	ssize_t		 n;

	l->depth++;
	/* A full buffer holds at least one whole frame: dispatch before reading. */
	if (l->rlen < (size_t)l->max_frame + LINK_READ_CHUNK) {
		n = link_recv(l);
		if (n == 0)
			link_fail(l, "end of file");
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			link_fail(l, strerror(errno));
	}
	if (!l->dead) {
		if (l->read_begin != NULL)
			l->read_begin(l->read_arg);
		link_dispatch(l);
		if (l->read_end != NULL)
			l->read_end(l->read_arg);
	}
	ack_if_due(l);
	l->depth--;
	if (l->dead && l->depth == 0)
		link_destroy(l);
}

/* A written frame the peer has not acknowledged yet.  Past the bound the
 * oldest is given up: replay after a crash then cannot cover it. */
static void
keep(struct link *l, struct fout *f)
{
	struct fout *old;

	f->next = NULL;
	if (l->ktail)
		l->ktail->next = f;
	else
		l->khead = f;
	l->ktail = f;
	l->kept += f->len;
	while (l->kept > 4 * l->hiwat && (old = l->khead) != NULL) {
		if (!l->kept_warned++)
			log_warnx("link %s: peer slow to acknowledge; oldest "
			    "frames can no longer be replayed", l->name);
		l->khead = old->next;
		if (l->khead == NULL)
			l->ktail = NULL;
		l->kept -= old->len;
		fout_free(old);
	}
}

static void
dequeue(struct link *l, size_t n)
{
	struct fout *f;
	size_t part;

	while (n > 0 && (f = l->qhead) != NULL) {
		part = f->len - f->off;
		if (n < part) {
			f->off += n;
			l->queued -= n;
			return;
		}
		n -= part;
		l->queued -= part;
		l->qhead = f->next;
		if (l->qhead == NULL)
			l->qtail = NULL;
		if (f->fd != -1) {
			close(f->fd);
			f->fd = -1;
		}
		if (l->retain && f->retain)
			keep(l, f);
		else
			fout_free(f);
	}
}

static ssize_t
write_fd_frame(struct link *l, struct fout *f)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	ssize_t		 n;

	iov.iov_base = f->buf + f->off;
	iov.iov_len = f->len - f->off;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (f->off == 0) {
		msg.msg_control = &cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &f->fd, sizeof(int));
	}
	n = sendmsg(l->fd, &msg, MSG_NOSIGNAL);
	if (n > 0 && f->fd != -1) {
		/* The fd went with the first byte; never send it twice. */
		close(f->fd);
		f->fd = -1;
	}
	return n;
}

/* One writev of up to LINK_IOV_MAX frames, stopping before an fd frame. */
static ssize_t
write_batch(struct link *l)
{
	struct iovec	 iov[LINK_IOV_MAX];
	struct fout	*f;
	int		 n = 0;

	if (l->qhead->fd != -1)
		return write_fd_frame(l, l->qhead);
	for (f = l->qhead; f && n < LINK_IOV_MAX && f->fd == -1; f = f->next) {
		iov[n].iov_base = f->buf + f->off;
		iov[n].iov_len = f->len - f->off;
		n++;
	}
	return writev(l->fd, iov, n);
}

static void
call_drain_cb(struct link *l)
{
	void (*cb)(void *) = l->drain_cb;

	l->drain_cb = NULL;	/* one-shot: cb may register again */
	cb(l->drain_arg);
}

static void
link_write_some(struct link *l)
{
	ssize_t n;

	while (l->qhead != NULL) {
		n = write_batch(l);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			link_fail(l, strerror(errno));
			return;
		}
		dequeue(l, n);
	}
	if (l->qhead == NULL)
		event_del(l->wev);
	if (l->queued <= l->lowat && l->nwaiters > 0)
		unblock_waiters(l);
	if (l->queued <= l->lowat && l->drain_cb != NULL)
		call_drain_cb(l);
}

static void
link_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct link *l = arg;

	l->depth++;
	link_write_some(l);
	l->depth--;
	if (l->dead && l->depth == 0)
		link_destroy(l);
}

int
link_send(struct link *l, struct fout *f)
{
	if (f == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (f->failed || l->dead || l->queued + f->len > 4 * l->hiwat) {
		errno = f->failed ? ENOMEM : l->dead ? EPIPE : ENOBUFS;
		if (f->fd != -1)
			close(f->fd);
		fout_free(f);
		return -1;
	}
	fout_finish(f);
	f->next = NULL;
	f->off = 0;
	f->seq = ++l->nsent;
	if (l->qtail)
		l->qtail->next = f;
	else
		l->qhead = f;
	l->qtail = f;
	l->queued += f->len;
	/* Written when the loop next polls: one writev per turn, not per frame. */
	event_add(l->wev, NULL);
	return 0;
}

void
link_flush_now(struct link *l)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLOUT };

	l->depth++;
	while (l->qhead != NULL && !l->dead) {
		link_write_some(l);
		if (l->qhead != NULL && poll(&pfd, 1, 1000) <= 0)
			break;
	}
	l->depth--;
	if (l->dead && l->depth == 0)
		link_destroy(l);
}

void link_set_acks(struct link *l, int on) { l->acks = on; }

void
link_hold_acks(struct link *l, int hold)
{
	l->ack_hold = hold;
	ack_if_due(l);
}

void
link_set_read_hooks(struct link *l, void (*begin)(void *),
    void (*end)(void *), void *arg)
{
	l->read_begin = begin;
	l->read_end = end;
	l->read_arg = arg;
}
void link_set_retain(struct link *l, int on) { l->retain = on; }
uint64_t link_nsent(const struct link *l) { return l->nsent; }

static void
send_ack(struct link *l)
{
	struct fout *f = fout_new(RF_ACK, NULL, NULL);

	if (f == NULL)
		return;
	fout_put_u64(f, l->nrecv);
	if (link_send(l, f) == 0)
		l->nacked = l->nrecv;
}

/* An RF_ACK for the frames dispatched since the last one, unless held. */
static void
ack_if_due(struct link *l)
{
	if (!l->dead && l->acks && !l->ack_hold && l->nrecv != l->nacked)
		send_ack(l);
}

void
link_ack(struct link *l, uint64_t n)
{
	struct fout *f;

	while ((f = l->khead) != NULL && f->seq <= n) {
		l->khead = f->next;
		if (l->khead == NULL)
			l->ktail = NULL;
		l->kept -= f->len;
		fout_free(f);
	}
}

struct fout *
link_take_unacked(struct link *l)
{
	struct fout *head = l->khead, *tail = l->ktail, *f, *next;
	struct fout *rest = NULL, *rtail = NULL;

	l->khead = l->ktail = NULL;
	l->kept = 0;
	/* Queued frames never reached the peer whole: replay them too. */
	for (f = l->qhead; f != NULL; f = next) {
		next = f->next;
		f->next = NULL;
		if (f->retain && f->fd == -1) {
			f->off = 0;
			if (tail)
				tail->next = f;
			else
				head = f;
			tail = f;
		} else {
			if (rtail)
				rtail->next = f;
			else
				rest = f;
			rtail = f;
		}
	}
	l->qhead = rest;
	l->qtail = rtail;
	for (l->queued = 0, f = rest; f; f = f->next)
		l->queued += f->len - f->off;
	return head;
}

void
link_drain(struct link *l)
{
	int paused = l->paused;

	l->depth++;
	l->paused = 0;		/* the peer is gone: nothing to hold back */
	while (!l->dead) {
		link_dispatch(l);
		if (l->dead || l->rlen >= (size_t)l->max_frame +
		    LINK_READ_CHUNK || link_recv(l) <= 0)
			break;
	}
	if (!l->dead)
		link_dispatch(l);
	l->paused = paused;
	l->depth--;
	if (l->dead && l->depth == 0)
		link_destroy(l);
}

void
link_flush_try(struct link *l)
{
	l->depth++;
	if (l->qhead != NULL && !l->dead)
		link_write_some(l);
	l->depth--;
	if (l->dead && l->depth == 0)
		link_destroy(l);
}

void
link_pause(struct link *l)
{
	if (l->paused || l->dead)
		return;
	l->paused = 1;
	event_del(l->rev);
}

void
link_resume(struct link *l)
{
	if (!l->paused || l->dead)
		return;
	l->paused = 0;
	event_add(l->rev, NULL);
	/* Frames may already sit in the buffer: dispatch them soon. */
	if (l->rlen >= FRAME_HDR_LEN)
		event_active(l->rev, EV_READ, 0);
}

void
link_block_on(struct link *src, struct link *dst)
{
	struct link **nw;
	size_t cap;

	if (src->blocked_on != NULL || src == dst)
		return;
	if (dst->nwaiters == dst->capwaiters) {
		cap = dst->capwaiters ? dst->capwaiters * 2 : 4;
		if ((nw = reallocarray(dst->waiters, cap, sizeof(*nw))) == NULL)
			return;	/* no backpressure this time; hard limit still holds */
		dst->waiters = nw;
		dst->capwaiters = cap;
	}
	dst->waiters[dst->nwaiters++] = src;
	src->blocked_on = dst;
	link_pause(src);
}

void
link_on_drain(struct link *l, void (*cb)(void *), void *arg)
{
	l->drain_cb = cb;
	l->drain_arg = arg;
	/* Already drained: the write callback runs next turn and calls it
	 * (never from here, inside the caller's own work). */
	if (!l->dead && l->queued <= l->lowat)
		event_active(l->wev, EV_WRITE, 0);
}

void
link_send_hello(struct link *l, const char *name, uint32_t instance)
{
	struct fout *f = fout_new(RF_HELLO, NULL, NULL);

	if (f == NULL)
		return;
	fout_put_u16(f, FRAME_PROTO_MAJOR);
	fout_put_u16(f, FRAME_PROTO_MINOR);
	fout_put_str(f, name);
	fout_put_u32(f, instance);
	fout_put_u32(f, l->max_frame);
	link_send(l, f);
}

int
link_check_hello(struct frame *f, char name[32], uint32_t *instance,
    uint32_t *max_frame)
{
	uint16_t	 major, minor;
	const char	*s;
	size_t		 n;

	if (f->hdr.type != RF_HELLO ||
	    frame_get_u16(f, &major) == -1 || frame_get_u16(f, &minor) == -1 ||
	    frame_get_str(f, &s, &n) == -1 || n >= 32 ||
	    frame_get_u32(f, instance) == -1 ||
	    frame_get_u32(f, max_frame) == -1 || frame_get_end(f) == -1)
		return -1;
	if (major != FRAME_PROTO_MAJOR)
		return -1;
	memcpy(name, s, n + 1);
	return 0;
}

int
link_write_blocking(int fd, struct fout *f)
{
	size_t	off = 0;
	ssize_t	n;

	if (f == NULL || f->failed) {
		fout_free(f);
		errno = ENOMEM;
		return -1;
	}
	fout_finish(f);
	while (off < f->len) {
		n = write(fd, f->buf + off, f->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fout_free(f);
			return -1;
		}
		off += n;
	}
	fout_free(f);
	return 0;
}

static int
read_full(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	size_t		off = 0;
	ssize_t		n;

	while (off < len) {
		if (timeout_ms >= 0 && poll(&pfd, 1, timeout_ms) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = read(fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		off += n;
	}
	return 0;
}

int
link_read_blocking(int fd, uint8_t *buf, size_t bufsz, struct frame *f,
    int timeout_ms)
{
	struct frame_hdr h;
	const char *why;

	if (bufsz < FRAME_HDR_LEN ||
	    read_full(fd, buf, FRAME_HDR_LEN, timeout_ms) == -1)
		return -1;
	frame_hdr_decode(buf, &h);
	if (frame_hdr_check(&h, bufsz, &why) == -1 ||
	    read_full(fd, buf + FRAME_HDR_LEN, h.len - FRAME_HDR_LEN,
	    timeout_ms) == -1)
		return -1;
	return frame_parse(buf, h.len, bufsz, f, &why);
}
