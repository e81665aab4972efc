/*
 * link.h - one non-blocking Unix stream socket carrying frames.
 *
 * A link reads everything available, dispatches every complete frame in
 * that one callback (so a burst costs one wakeup), and queues outgoing
 * frames that are written with one writev() per event-loop turn (sendmsg()
 * when a frame carries an fd).  Each outgoing queue has byte watermarks:
 * a producer that finds its destination over the high mark calls
 * link_block_on(), which stops reading from the producer until the
 * destination drains below the low mark.  No queue grows without bound:
 * past the hard limit (4 x high) link_send() refuses and the caller decides
 * (bounce, store, or close the offender).
 */
#ifndef RAMPART_LINK_H
#define RAMPART_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct event_base;
struct link;

typedef void (*link_frame_cb)(struct link *, struct frame *, void *);
/* Called once when the peer goes away or breaks the protocol; the link is
 * freed when the callback returns (calling link_free() inside is harmless). */
typedef void (*link_close_cb)(struct link *, const char *why, void *);

#define LINK_LOWAT_DEFAULT	(256 * 1024)
#define LINK_HIWAT_DEFAULT	(1024 * 1024)
#define LINK_MAX_FDS		8	/* fds received but not yet claimed */

struct link *link_new(struct event_base *, int fd, const char *name,
	    link_frame_cb, link_close_cb, void *arg);
/* Close the socket, drop queued output, cancel events. Safe inside callbacks:
 * the link is freed once the current dispatch returns. */
void	link_free(struct link *);
void	link_allow_fds(struct link *, int);
void	link_set_max_frame(struct link *, uint32_t);
void	link_set_watermarks(struct link *, size_t low, size_t high);
void	link_set_id(struct link *, uint16_t);
uint16_t link_id(const struct link *);
const char *link_name(const struct link *);
void	*link_arg(const struct link *);
int	link_fd(const struct link *);

/* Queue a frame (takes ownership of `f` in every case).  Returns 0, or -1
 * with errno ENOBUFS when the queue is past its hard limit or EPIPE when the
 * link is closing. */
int	link_send(struct link *, struct fout *);
/* Write what is queued now, synchronously as far as the socket takes it
 * (for shutdown paths). */
void	link_flush_now(struct link *);
size_t	link_queued(const struct link *);
int	link_over_hiwat(const struct link *);

/* Acknowledgements and replay (docs/frames.md, "Acknowledgements").
 * Child side: with acks on, the link queues RF_ACK (u64 frames dispatched
 * so far) after each read callback that dispatched frames.  routerd side:
 * with retain on, written frames marked `retain` are kept until
 * link_ack() covers their sequence number. */
void	link_set_acks(struct link *, int);
/* While held, no RF_ACK is sent; releasing sends the one due, behind
 * everything queued by then (mucd: output that waited in a spill). */
void	link_hold_acks(struct link *, int hold);
/* begin and end run around the dispatch of each read's frames, before
 * that read's acknowledgement is queued (store batches: daemon.c). */
void	link_set_read_hooks(struct link *, void (*begin)(void *),
	    void (*end)(void *), void *arg);
void	link_set_retain(struct link *, int);
uint64_t link_nsent(const struct link *);
void	link_ack(struct link *, uint64_t n);
/* Detach, in order, the kept frames and the queued `retain` frames (the
 * peer died): they were not acknowledged and may be sent again. */
struct fout *link_take_unacked(struct link *);
/* Read and dispatch whatever the peer wrote before it died, ignoring EOF
 * (the caller frees the link).  May free it if a frame breaks the rules. */
void	link_drain(struct link *);
/* Write what the socket takes now, without waiting. */
void	link_flush_try(struct link *);

/* Backpressure. */
void	link_pause(struct link *);	/* stop reading */
void	link_resume(struct link *);
/* Pause `src` until `dst` drains below its low mark. */
void	link_block_on(struct link *src, struct link *dst);
/* Call `cb(arg)` once, the next time the queue is at or below the low
 * mark after a write: for producers that are not links (s2sd's remote
 * streams), which pause themselves and resume then.  One callback per
 * link; a new one replaces the old. */
void	link_on_drain(struct link *, void (*cb)(void *), void *arg);

/* HELLO: send ours; the peer's is checked by link_check_hello(). */
void	link_send_hello(struct link *, const char *name, uint32_t instance);
/* 0 if `f` is a HELLO with our major version; fills name (<= 31 bytes). */
int	link_check_hello(struct frame *, char name[32], uint32_t *instance,
	    uint32_t *max_frame);

/* Synchronous helpers for simple clients (rampartctl, tests): blocking
 * send of one frame, and blocking read of the next one.  The returned
 * frame's body lives in `buf` (which must be max_frame bytes). */
int	link_write_blocking(int fd, struct fout *);
int	link_read_blocking(int fd, uint8_t *buf, size_t bufsz,
	    struct frame *, int timeout_ms);

#endif
