/*
 * log.c - tagged log lines on stderr.
 *
 * One process, one tag (the daemon name) and one level, set by log_init().
 * Lines are written with a single write(2) so that lines of several daemons
 * sharing the journal or a terminal do not interleave mid-line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	log_tag[32] = "rampart";
static int	log_level = LOG_LVL_INFO;
static int	log_stamp;	/* prefix a time when not under the journal */

void
log_init(const char *name, int level)
{
	snprintf(log_tag, sizeof(log_tag), "%s", name);
	log_level = level;
	log_stamp = getenv("JOURNAL_STREAM") == NULL;
	/* strftime() loads the time zone on first use: do it now, before the
	 * sandbox forbids opening /etc/localtime. */
	tzset();
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

static void
vlog(const char *prefix, int with_errno, const char *fmt, va_list ap)
{
	char		 line[2048];
	char		 stamp[32] = "";
	int		 saved = errno, n, m;
	struct timespec	 ts;
	struct tm	 tm;

	if (log_stamp) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S ", &tm);
	}
	n = snprintf(line, sizeof(line), "%s%s[%d]: %s", stamp, log_tag,
	    (int)getpid(), prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m > 0)
		n = (size_t)(n + m) >= sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m;
	if (with_errno)
		n += snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

#define LOGFN(fn, lvl, prefix, err)				\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list ap;						\
	if (log_level < (lvl))					\
		return;						\
	va_start(ap, fmt);					\
	vlog(prefix, err, fmt, ap);				\
	va_end(ap);						\
}

LOGFN(log_warn, LOG_LVL_WARN, "warning: ", 1)
LOGFN(log_warnx, LOG_LVL_WARN, "warning: ", 0)
LOGFN(log_info, LOG_LVL_INFO, "", 0)
LOGFN(log_debug, LOG_LVL_DEBUG, "debug: ", 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
