/*
 * spill.h - an ordered overflow queue in front of a link, for frames a
 * daemon must not lose while the link is past its high mark (stanzas
 * handed back for offline storage, stanzas read from remote servers).
 *
 * A frame goes straight to the link when nothing waits and the link is
 * below its high mark; otherwise it waits here, behind the others, and
 * moves to the link when the link drains to its low mark
 * (link_on_drain).  Only past `max` bytes waiting is a frame refused.
 * The optional `resume` callback runs when everything has moved and the
 * link is below its high mark again: s2sd resumes reading its remote
 * streams then.  One spill per link: it owns the link's drain callback.
 */
#ifndef SPILL_H
#define SPILL_H

#include <stddef.h>

#include "frame.h"
#include "link.h"

struct spill {
	struct link	 *link;
	struct fout	 *head, **tailp;
	size_t		  bytes;	/* frame bytes waiting */
	size_t		  max;
	void		(*resume)(void *);
	void		 *arg;
};

void	spill_init(struct spill *, struct link *, size_t max,
	    void (*resume)(void *), void *arg);
/* Takes `f` in every case: 0, or -1 (ENOBUFS past max, or link_send's
 * error) when it could not be passed on. */
int	spill_send(struct spill *, struct fout *);
/* Is the link over its high mark or anything waiting here? */
int	spill_busy(const struct spill *);
/* At shutdown: everything waiting goes now, the link written out
 * whenever it is full, as far as the peer reads.  Returns what was
 * lost (link_send refused). */
size_t	spill_flush(struct spill *);

#endif
