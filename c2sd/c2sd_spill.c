/*
 * c2sd_spill.c - frames c2sd must not lose while the link to routerd is
 * full.
 *
 * Stanzas that did not reach a client (an unacknowledged XEP-0198 queue
 * handed back when a session ends, an output queue cut off) go back to
 * routerd for offline storage or a bounce (session_return_to() in
 * c2sd_session.c).  One session can hand back sm-max-unacked stanzas at
 * once, more than the link's hard limit, and link_send() refuses past
 * that limit.  Such frames wait in order in a spill (common/spill.c) and
 * move to the link as it drains.
 *
 * Invariant: the bytes held are bounded by SPILL_MAX — they were already
 * held by the sessions that handed them back, so this does not raise
 * c2sd's worst case — and only past that bound is a frame refused (the
 * caller logs it).
 */
#include "c2sd.h"
#include "daemon.h"
#include "log.h"
#include "spill.h"

#define SPILL_MAX	(256u * 1024 * 1024)

static struct spill	kept;
static int		kept_ready;

int
c2sd_send_kept(struct fout *f)
{
	if (!kept_ready) {
		spill_init(&kept, daemon_link, SPILL_MAX, NULL, NULL);
		kept_ready = 1;
	}
	return spill_send(&kept, f);
}

/* At shutdown: whatever waits goes now, as far as routerd reads. */
void
c2sd_spill_flush(void)
{
	if (kept_ready && spill_flush(&kept) > 0)
		log_warnx("shutdown: kept stanzas could not be handed back");
}
