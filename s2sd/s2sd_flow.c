/*
 * s2sd_flow.c - backpressure between s2sd's streams and its link to
 * routerd.
 *
 * Every frame s2sd sends routerd goes through flow_send(): the stanzas
 * remote servers and components sent (s2sd_in.c, s2sd_component.c) and
 * the errors s2sd makes for stanzas it could not deliver (s2sd_stanza.c).
 * When routerd reads slower than the remotes write, the link's queue
 * passes its high mark: s2sd then stops reading from remote server
 * streams and component connections (conn_pause_input) until the link
 * has drained to its low mark and nothing waits in the spill
 * (common/spill.c calls flow_resume); reading resumes then.  So a remote
 * that writes faster than we can pass on is slowed down by TCP instead of
 * having its stanzas dropped.
 *
 * The pause cannot be exact: the stanzas of the read that crossed the
 * mark are already parsed, and errors made from routerd's frames or from
 * timers (a route that failed bounces its whole queue) are not paced by
 * it.  Such frames wait in the spill, in order, and move to the link as
 * it drains.  Only past flow_spill_max does flow_send() refuse; the
 * caller then answers the stanza's sender with an error.
 *
 * Invariant: reading is paused while the link is over its high mark or
 * anything waits in the spill.
 */
#include <errno.h>

#include "daemon.h"
#include "log.h"
#include "s2sd.h"
#include "spill.h"

size_t			 flow_spill_max = S2SD_MAX_SPILL;

static struct spill	 spill;
static int		 spill_ready;
static int		 paused;
static int		 refusing;	/* warned that frames are refused */

/* The link drained and nothing waits: remote input may flow again. */
static void
flow_resume(void *arg)
{
	paused = 0;
	refusing = 0;
	log_debug("routerd link drained: remote input resumed");
	conn_resume_input();
}

static void
flow_pause(void)
{
	if (paused)
		return;
	paused = 1;
	log_debug("routerd link over its high mark: remote input paused");
	conn_pause_input();
}

int
flow_paused(void)
{
	return paused;
}

/* Takes `f` in every case; 0, or -1 when it could not be passed on. */
int
flow_send(struct fout *f)
{
	if (f == NULL || f->failed) {
		fout_free(f);
		errno = ENOMEM;
		return -1;
	}
	if (!spill_ready) {
		spill_init(&spill, daemon_link, flow_spill_max, flow_resume,
		    NULL);
		spill_ready = 1;
	}
	spill.max = flow_spill_max;
	if (spill_send(&spill, f) == -1) {
		if (errno == ENOBUFS && !refusing++)
			log_warnx("routerd link full and %zu bytes waiting: "
			    "stanzas refused until it drains", spill.bytes);
		return -1;
	}
	if (spill_busy(&spill))
		flow_pause();
	return 0;
}

/* At shutdown: what waits goes now, as far as routerd reads. */
void
flow_shutdown(void)
{
	if (spill_ready && spill_flush(&spill) > 0)
		log_warnx("shutdown: stanzas for routerd were lost");
}
