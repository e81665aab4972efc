/*
 * compliance.h - append-only JSON-lines log files for compliance
 * logging (imd's per-host message log, mucd's per-host room log).
 *
 * A log lives in the `compliance` directory of a daemon's data directory,
 * is opened O_APPEND|O_CREAT|O_NOFOLLOW with mode 0600, is never
 * truncated, and is renamed to NAME.<UTC time> when it reaches
 * COMPLIANCE_ROTATE bytes, a new file taking its place.  A line goes out
 * with one write() loop so a reader never sees half a record from us.
 * Nothing here is fatal: a log that cannot be written is reported.
 */
#ifndef COMPLIANCE_H
#define COMPLIANCE_H

#include "jid.h"
#include "xml.h"

#define COMPLIANCE_DIR		"compliance"
#define COMPLIANCE_ROTATE	(64LL * 1024 * 1024)
#define COMPLIANCE_NAME_MAX	(JID_PART_MAX + 32)

struct compliance_log {
	int		 dirfd;		/* not owned; -1: none */
	int		 fd;		/* -1: closed */
	long long	 size;
	long long	 rotate;	/* bytes; COMPLIANCE_ROTATE by default */
	char		 name[COMPLIANCE_NAME_MAX];
};

/* The compliance directory under `storefd` (made 0700 if missing), or -1. */
int	compliance_dir_open(int storefd);
/* Open the log `<host><suffix>` in `dirfd`; -1 (logged) on failure. */
int	compliance_open(struct compliance_log *, int dirfd, const char *host,
	    const char *suffix);
/* Append one finished line, rotating the file past COMPLIANCE_ROTATE. */
void	compliance_write(struct compliance_log *, const struct xbuf *);

/* Start a record: `{"time":"<now, XEP-0082>"`. */
void	compliance_begin(struct xbuf *);
/* Add `,"name":"value"` (null when value is NULL). */
void	compliance_field(struct xbuf *, const char *name, const char *value);
/* Close the record: `}` and a newline. */
void	compliance_end(struct xbuf *);

#endif
