/*
 * spill.c - the overflow queue of spill.h.  Users: c2sd_spill.c (stanzas
 * handed back when sessions end) and s2sd_flow.c (stanzas from remote
 * servers while routerd reads slower than they write).
 *
 * Invariants: while anything waits, new frames queue behind it (the peer
 * sees frames in the order they were made); a drain callback is
 * registered on the link whenever anything waits or the link is over its
 * high mark, and `resume` runs once both have ended.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "spill.h"

static void	drained(void *);

void
spill_init(struct spill *sp, struct link *l, size_t max,
    void (*resume)(void *), void *arg)
{
	sp->link = l;
	sp->head = NULL;
	sp->tailp = &sp->head;
	sp->bytes = 0;
	sp->max = max;
	sp->resume = resume;
	sp->arg = arg;
}

int
spill_busy(const struct spill *sp)
{
	return sp->head != NULL || link_over_hiwat(sp->link);
}

static struct fout *
pop(struct spill *sp)
{
	struct fout	*f = sp->head;

	if ((sp->head = f->next) == NULL)
		sp->tailp = &sp->head;
	f->next = NULL;
	sp->bytes -= f->len;
	return f;
}

/* Move waiting frames to the link while it is below its high mark. */
static void
move(struct spill *sp)
{
	while (sp->head != NULL && !link_over_hiwat(sp->link))
		/* refused only when the peer is gone or the frame is larger
		 * than any queue: nothing else to do with it */
		if (link_send(sp->link, pop(sp)) == -1)
			log_warnx("a frame for %s was lost: %s",
			    link_name(sp->link), strerror(errno));
}

/* The link drained to its low mark (link_on_drain). */
static void
drained(void *arg)
{
	struct spill	*sp = arg;

	move(sp);
	if (spill_busy(sp))
		link_on_drain(sp->link, drained, sp);
	else if (sp->resume != NULL)
		sp->resume(sp->arg);
}

int
spill_send(struct spill *sp, struct fout *f)
{
	if (sp->head == NULL && !link_over_hiwat(sp->link)) {
		if (link_send(sp->link, f) == -1)
			return -1;
	} else if (sp->bytes + f->len > sp->max) {
		fout_free(f);
		errno = ENOBUFS;
		return -1;
	} else {
		f->next = NULL;
		*sp->tailp = f;
		sp->tailp = &f->next;
		sp->bytes += f->len;
	}
	if (spill_busy(sp))
		link_on_drain(sp->link, drained, sp);
	return 0;
}

size_t
spill_flush(struct spill *sp)
{
	size_t	lost = 0;

	while (sp->head != NULL) {
		/* writing out runs the drain callback, which may move
		 * everything that waited here */
		if (link_over_hiwat(sp->link)) {
			link_flush_now(sp->link);
			if (sp->head == NULL)
				break;
		}
		if (link_send(sp->link, pop(sp)) == -1)
			lost++;
	}
	return lost;
}
