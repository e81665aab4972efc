/*
 * s2sd_flow.c - backpressure between s2sd's streams and its link to
 * routerd.
 *
 * Every frame s2sd sends routerd goes through flow_send(): the stanzas
 * remote servers and components sent (s2sd_in.c, s2sd_component.c) and
 * the errors s2sd makes for stanzas it could not deliver (s2sd_stanza.c).
 * When routerd reads slower than the remotes write, the link's queue
 * passes its high mark: s2sd then stops reading from remote server
 * streams and component connections (conn_pause_input) and asks the link
 * to call back once it is at its low mark (link_on_drain); reading
 * resumes then.  So a remote that writes faster than we can pass on is
 * slowed down by TCP instead of having its stanzas dropped.
 *
 * The pause cannot be exact: the stanzas of the read that crossed the
 * mark are already parsed, and errors made from routerd's frames or from
 * timers (a route that failed bounces its whole queue) are not paced by
 * it.  Such frames wait here, in order, and move to the link whenever it
 * is below its high mark.  Only past flow_spill_max does flow_send()
 * refuse; the caller then answers the stanza's sender with an error.
 *
 * Invariants: while anything waits here, new frames queue behind it (the
 * order routerd sees is the order s2sd produced); reading is paused while
 * the link is over its high mark or anything waits here, and a drain
 * callback is registered for as long as it is paused.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "s2sd.h"

size_t			 flow_spill_max = S2SD_MAX_SPILL;

static struct fout	*head, **tailp = &head;
static size_t		 bytes;		/* frame bytes waiting here */
static int		 paused;
static int		 refusing;	/* warned that frames are refused */

static void	flow_drained(void *);

static void
flow_pause(void)
{
	if (!paused) {
		paused = 1;
		log_debug("routerd link over its high mark: remote input "
		    "paused");
		conn_pause_input();
	}
	link_on_drain(daemon_link, flow_drained, NULL);
}

/* Move waiting frames to the link while it is below its high mark. */
static void
spill_move(void)
{
	struct fout *f;

	while ((f = head) != NULL && !link_over_hiwat(daemon_link)) {
		if ((head = f->next) == NULL)
			tailp = &head;
		f->next = NULL;
		bytes -= f->len;
		/* only when routerd is gone or the frame is larger than
		 * any queue: nothing else to do with it */
		if (link_send(daemon_link, f) == -1)
			log_warnx("a stanza for routerd was lost: %s",
			    strerror(errno));
	}
}

/* The link drained to its low mark (link_on_drain). */
static void
flow_drained(void *arg)
{
	spill_move();
	if (head != NULL || link_over_hiwat(daemon_link)) {
		link_on_drain(daemon_link, flow_drained, NULL);
		return;
	}
	paused = 0;
	refusing = 0;
	log_debug("routerd link drained: remote input resumed");
	conn_resume_input();
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
	if (head == NULL && !link_over_hiwat(daemon_link)) {
		if (link_send(daemon_link, f) == -1)
			return -1;
		if (link_over_hiwat(daemon_link))
			flow_pause();
		return 0;
	}
	if (bytes + f->len > flow_spill_max) {
		if (!refusing++)
			log_warnx("routerd link full and %zu bytes waiting: "
			    "stanzas refused until it drains", bytes);
		fout_free(f);
		errno = ENOBUFS;
		return -1;
	}
	f->next = NULL;
	*tailp = f;
	tailp = &f->next;
	bytes += f->len;
	flow_pause();
	return 0;
}

/* At shutdown: what waits goes now, writing the link out whenever it is
 * full, as far as routerd reads. */
void
flow_shutdown(void)
{
	struct fout *f;

	while ((f = head) != NULL) {
		head = f->next;
		f->next = NULL;
		bytes -= f->len;
		if (link_over_hiwat(daemon_link))
			link_flush_now(daemon_link);
		if (link_send(daemon_link, f) == -1)
			log_warnx("shutdown: a stanza for routerd was lost");
	}
	tailp = &head;
}
