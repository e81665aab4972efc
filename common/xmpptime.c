/*
 * xmpptime.c - the clock in microseconds and XEP-0082 timestamps, for the
 * daemons that stamp stanzas (delay, archive, logs).  See stanza.h.
 */
#include <stdio.h>
#include <time.h>

#include "stanza.h"

uint64_t
xmpp_now_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
xmpp_timestamp(char *buf, size_t len, uint64_t usec)
{
	time_t		t = (time_t)(usec / 1000000);
	struct tm	tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned)(usec % 1000000 / 1000));
}
