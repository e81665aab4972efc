/*
 * compliance.c - the files of the compliance logs (see compliance.h):
 * opening inside the data directory, appending whole lines, rotation by
 * size, and the JSON record helpers (RFC 8259) both logs use, so that
 * one reader handles imd's and mucd's files alike.
 *
 * Callers: imd_compliance.c and mucd_compliance.c, which decide what is
 * logged and for which host.  A daemon that rotates after its sandbox
 * is entered needs openat and renameat there (see its sandbox.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compliance.h"
#include "log.h"
#include "stanza.h"

int
compliance_dir_open(int storefd)
{
	int	fd;

	if (mkdirat(storefd, COMPLIANCE_DIR, 0700) == -1 && errno != EEXIST) {
		log_warn("compliance: mkdir %s", COMPLIANCE_DIR);
		return -1;
	}
	fd = openat(storefd, COMPLIANCE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		log_warn("compliance: open %s", COMPLIANCE_DIR);
	return fd;
}

static int
reopen(struct compliance_log *l)
{
	struct stat	st;

	l->fd = openat(l->dirfd, l->name,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->fd == -1) {
		log_warn("compliance: open %s", l->name);
		return -1;
	}
	l->size = fstat(l->fd, &st) == 0 ? (long long)st.st_size : 0;
	return 0;
}

int
compliance_open(struct compliance_log *l, int dirfd, const char *host,
    const char *suffix)
{
	l->dirfd = dirfd;
	l->fd = -1;
	l->size = 0;
	l->rotate = COMPLIANCE_ROTATE;
	/* Hosts come from the config, but a name must stay in the dir. */
	if (dirfd == -1 || host[0] == '\0' || host[0] == '.' ||
	    strchr(host, '/') != NULL ||
	    (size_t)snprintf(l->name, sizeof(l->name), "%s%s", host, suffix) >=
	    sizeof(l->name)) {
		log_warnx("compliance: no log for %s", host);
		return -1;
	}
	return reopen(l);
}

/* The full file keeps its lines under a dated name; a new one starts. */
static void
rotate(struct compliance_log *l)
{
	char		 old[COMPLIANCE_NAME_MAX + 32], stamp[32];
	struct tm	 tm;
	time_t		 now = time(NULL);

	close(l->fd);
	l->fd = -1;
	if (gmtime_r(&now, &tm) == NULL)
		return;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(old, sizeof(old), "%s.%s", l->name, stamp);
	if (renameat(l->dirfd, l->name, l->dirfd, old) == -1)
		log_warn("compliance: rename %s", l->name);
	else
		log_info("compliance: rotated %s to %s", l->name, old);
	(void)reopen(l);
}

void
compliance_write(struct compliance_log *l, const struct xbuf *b)
{
	ssize_t	 n;
	size_t	 off = 0;

	if (b->failed || (l->fd == -1 && (l->dirfd == -1 || reopen(l) == -1)))
		return;
	while (off < b->len) {
		n = write(l->fd, b->data + off, b->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("compliance: write %s", l->name);
			return;
		}
		off += n;
	}
	l->size += b->len;
	if (l->size >= l->rotate)
		rotate(l);
}

/* A JSON string (RFC 8259 section 7); the input is valid UTF-8. */
static void
json_str(struct xbuf *b, const char *s)
{
	unsigned char	 c;

	xbuf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			xbuf_add(b, "\\", 1);
			xbuf_add(b, s, 1);
		} else if (c == '\n')
			xbuf_adds(b, "\\n");
		else if (c == '\r')
			xbuf_adds(b, "\\r");
		else if (c == '\t')
			xbuf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			xbuf_addf(b, "\\u%04x", c);
		else
			xbuf_add(b, s, 1);
	}
	xbuf_add(b, "\"", 1);
}

void
compliance_begin(struct xbuf *b)
{
	char	stamp[64];

	xmpp_timestamp(stamp, sizeof(stamp), xmpp_now_usec());
	xbuf_adds(b, "{\"time\":");
	json_str(b, stamp);
}

void
compliance_field(struct xbuf *b, const char *name, const char *value)
{
	xbuf_addf(b, ",\"%s\":", name);
	if (value == NULL)
		xbuf_adds(b, "null");
	else
		json_str(b, value);
}

void
compliance_end(struct xbuf *b)
{
	xbuf_adds(b, "}\n");
}
