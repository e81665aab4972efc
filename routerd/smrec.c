/*
 * smrec.c - what routerd keeps of a resumable XEP-0198 session so that
 * the session survives the death of c2sd (docs/decisions.md,
 * "Resumption across a c2sd restart"; docs/frames.md,
 * "Stream-management records").
 *
 * route.c owns the sessions and calls in here.  A record holds the hash
 * of the resume token (never the token), the stream-management counters
 * c2sd reports (RF_SM_STATE) and, in order, a copy of every message
 * routerd routed to the session that c2sd has not yet reported as
 * acknowledged by the client.  Each copy has a sequence number (`rseq`,
 * stamped in the `corr` of the frame to c2sd) and, once c2sd reports it
 * written, the XEP-0198 count (`hout`) the client reaches when it has
 * that stanza; with the client's <resume h/> the next c2sd tells the
 * copies the client has from those it must send again.
 *
 * Only lengths, counters and opaque bytes are read here: no XML.
 * Bounds: SMREC_MAX copies per record beyond sm-max-unacked (the oldest
 * go, with a warning), records are bounded by route.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"
#include "log.h"
#include "routerd.h"
#include "smrec.h"

struct smcopy {
	struct smcopy	*next;
	uint32_t	 rseq;
	uint32_t	 hout;
	int		 written;	/* hout is known */
	struct fout	*f;
};

struct smrec {
	uint8_t		 hash[FRAME_SM_HASH_LEN];
	uint32_t	 secs;		/* resume window the client was told */
	uint32_t	 h_in, h_acked, h_out;
	uint32_t	 last_rseq;
	struct smcopy	*head, *tail;
	size_t		 ncopies;
	struct timespec	 deadline;	/* while parked */
	int		 parked;	/* deadline set, client not back yet */
};

/* Serial-number order (RFC 1982 style) for 32-bit counters. */
static int
newer(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static size_t
max_copies(void)
{
	int i = conf_option_find("sm-max-unacked");
	unsigned long long n = i == -1 ? 500 : conf_opt_number(rd.conf, i);

	/* c2sd closes a stream past sm-max-unacked; its reports lag a turn */
	return (size_t)n * 2 + SMREC_SLACK;
}

struct smrec *
smrec_new(struct frame *f)
{
	struct smrec	*r;
	const uint8_t	*hash;
	size_t		 hlen;
	uint32_t	 secs;

	if (frame_get_data(f, &hash, &hlen) == -1 ||
	    hlen != FRAME_SM_HASH_LEN || frame_get_u32(f, &secs) == -1 ||
	    frame_get_end(f) == -1 || secs == 0 || secs > SMREC_MAX_SECS)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	memcpy(r->hash, hash, hlen);
	r->secs = secs;
	return r;
}

static void
copy_free(struct smcopy *c)
{
	fout_free(c->f);
	free(c);
}

static void
drop_head(struct smrec *r)
{
	struct smcopy *c = r->head;

	r->head = c->next;
	if (r->head == NULL)
		r->tail = NULL;
	r->ncopies--;
	copy_free(c);
}

void
smrec_free(struct smrec *r)
{
	if (r == NULL)
		return;
	while (r->head != NULL)
		drop_head(r);
	free(r);
}

/* Give `out` (a message on its way to the session) the next sequence
 * number and keep a copy of it.  0 if no copy could be kept. */
uint32_t
smrec_keep(struct smrec *r, struct fout *out)
{
	struct smcopy *c;

	if (r->ncopies >= max_copies()) {
		log_warnx("stream-management record over %zu copies: the "
		    "oldest is no longer kept", r->ncopies);
		drop_head(r);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return 0;
	if (++r->last_rseq == 0)
		r->last_rseq = 1;	/* 0 means "not kept" in corr */
	out->hdr.corr = c->rseq = r->last_rseq;
	if ((c->f = fout_dup(out)) == NULL) {
		out->hdr.corr = 0;
		free(c);
		return 0;
	}
	c->f->next = NULL;
	if (r->tail)
		r->tail->next = c;
	else
		r->head = c;
	r->tail = c;
	r->ncopies++;
	return c->rseq;
}

/* A stanza from the session's client: c2sd stamps corr with its h. */
void
smrec_h_in(struct smrec *r, uint32_t corr)
{
	if (corr != 0 && newer(corr, r->h_in))
		r->h_in = corr;
}

/* Mark copies written (pairs are in rseq order, like the copies). */
static int
state_pairs(struct smrec *r, struct frame *f, uint16_t n)
{
	struct smcopy	*c = r->head;
	uint32_t	 rseq, hout;

	while (n-- > 0) {
		if (frame_get_u32(f, &rseq) == -1 ||
		    frame_get_u32(f, &hout) == -1)
			return -1;
		while (c != NULL && newer(rseq, c->rseq))
			c = c->next;
		if (c != NULL && c->rseq == rseq) {
			c->hout = hout;
			c->written = 1;
		}
	}
	return 0;
}

/* RF_SM_STATE: counters, copies acknowledged (`done`), copies written. */
int
smrec_state(struct smrec *r, struct frame *f)
{
	uint32_t	 h_in, h_acked, h_out, done;
	uint16_t	 n;

	if (frame_get_u32(f, &h_in) == -1 || frame_get_u32(f, &h_acked) == -1 ||
	    frame_get_u32(f, &h_out) == -1 || frame_get_u32(f, &done) == -1 ||
	    frame_get_u16(f, &n) == -1 || n > FRAME_SM_MAX_PAIRS ||
	    newer(done, r->last_rseq))
		return -1;
	if (f->body_len - f->pos != (size_t)n * 8)
		return -1;
	if (newer(h_in, r->h_in))
		r->h_in = h_in;
	r->parked = 0;	/* c2sd reports only once the client is back */
	r->h_acked = h_acked;
	r->h_out = h_out;
	while (r->head != NULL && !newer(r->head->rseq, done))
		drop_head(r);
	if (state_pairs(r, f, n) == -1)
		return -1;
	return frame_get_end(f);
}

/* Every copy, in order, as a chain of frames (linked by `next`); the
 * record keeps none. */
struct fout *
smrec_take(struct smrec *r)
{
	struct fout	*head = NULL, **tailp = &head;
	struct smcopy	*c;

	while ((c = r->head) != NULL) {
		r->head = c->next;
		*tailp = c->f;
		tailp = &c->f->next;
		c->f = NULL;
		free(c);
	}
	r->tail = NULL;
	r->ncopies = 0;
	return head;
}

size_t
smrec_count(const struct smrec *r)
{
	return r->ncopies;
}

int
smrec_full(const struct smrec *r)
{
	return r->ncopies >= max_copies();
}

/* The window runs from the first death of c2sd: another death before
 * the client is back does not extend it. */
void
smrec_park(struct smrec *r)
{
	if (r->parked)
		return;
	clock_gettime(CLOCK_MONOTONIC, &r->deadline);
	r->deadline.tv_sec += r->secs;
	r->parked = 1;
}

/* Seconds left of a parked record's window; 0 when it has expired. */
uint32_t
smrec_left(const struct smrec *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec >= r->deadline.tv_sec)
		return 0;
	return (uint32_t)(r->deadline.tv_sec - now.tv_sec);
}

/* RF_SM_RESTORE for the next c2sd, then the copies as RF_STANZA with
 * corr = rseq; all on link `l`.  -1 if the link refused. */
int
smrec_hand_over(struct smrec *r, struct link *l, const char *full,
    uint64_t sid)
{
	struct fout	*f, *copy;
	struct smcopy	*c;
	uint16_t	 n = 0;

	if ((f = fout_new(RF_SM_RESTORE, full, NULL)) == NULL)
		return -1;
	f->hdr.session = sid;
	fout_put_data(f, r->hash, sizeof(r->hash));
	fout_put_u32(f, r->h_in);
	fout_put_u32(f, r->h_acked);
	fout_put_u32(f, r->h_out);
	fout_put_u32(f, smrec_left(r) ? smrec_left(r) : 1);
	for (c = r->head; c != NULL && n < FRAME_SM_MAX_PAIRS; c = c->next)
		n += c->written;
	fout_put_u16(f, n);
	for (c = r->head; c != NULL && n > 0; c = c->next)
		if (c->written) {
			fout_put_u32(f, c->rseq);
			fout_put_u32(f, c->hout);
			n--;
		}
	if (link_send(l, f) == -1)
		return -1;
	for (c = r->head; c != NULL; c = c->next) {
		if ((copy = fout_dup(c->f)) == NULL)
			return -1;
		copy->hdr.session = sid;
		copy->hdr.corr = c->rseq;
		copy->retain = 1;
		copy->off = 0;
		if (link_send(l, copy) == -1)
			return -1;
	}
	return 0;
}
