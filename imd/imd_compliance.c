/*
 * imd_compliance.c - the compliance log: one JSON line per message with
 * a body that a host with `compliance-log` sends or receives, appended to
 * compliance/<host>.log in imd's data directory.
 *
 * imd_deliver.c calls imd_compliance_log() once per message; the core may
 * call imd_compliance_open() from pre_drop (before the chroot), otherwise
 * the directory is found and opened on first use.  The directory lives in
 * the store directory, which is "/" once imd is chrooted and imd_conf's
 * store_dir when it is not (a developer run without root): we take
 * whichever of the two holds the LMDB environment (data.mdb).
 *
 * Invariants: files are opened O_APPEND|O_CREAT with mode 0600 and are
 * never truncated by imd; a file that reaches COMPL_ROTATE bytes is renamed
 * to <host>.log.<UTC time> and a new one started; a line is written with
 * one write() so concurrent readers never see half a record from us;
 * nothing here is fatal - a log that cannot be written is reported.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "imd.h"

#define COMPL_DIR	"compliance"
#define COMPL_ROTATE	(64LL * 1024 * 1024)
#define COMPL_NAME_MAX	(JID_PART_MAX + 32)

static int	 compl_dirfd = -1;
static int	 compl_fd[IMD_MAX_HOSTS];	/* fd + 1; 0 = closed */
static long long compl_size[IMD_MAX_HOSTS];
static int	 compl_warned;

static int
holds_store(int dfd)
{
	struct stat	 st;

	return fstatat(dfd, "data.mdb", &st, 0) == 0 && S_ISREG(st.st_mode);
}

/* The store directory as it is reachable now, or -1. */
static int
store_dirfd(void)
{
	const char	*cand[2] = { imd_conf.store_dir, "/" };
	int		 i, fd;

	for (i = 0; i < 2; i++) {
		if (cand[i][0] == '\0')
			continue;
		fd = open(cand[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1)
			continue;
		if (holds_store(fd))
			return fd;
		close(fd);
	}
	/* Before the environment exists (pre_drop on a first start). */
	if (imd_conf.store_dir[0] == '\0')
		return -1;
	return open(imd_conf.store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int	log_fd(int);
static void	compl_dir_open(void);

/*
 * From pre_drop, this opens the directory and the logs of every host that
 * has compliance-log on, so that after the drop only a rotation opens a
 * file.  Called again from log_fd() it only does what is still missing.
 */
void
imd_compliance_open(void)
{
	int	 h;

	if (compl_dirfd == -1)
		compl_dir_open();
	for (h = 0; h < imd_conf.nhosts && h < IMD_MAX_HOSTS; h++)
		if (imd_conf.compliance[h] && compl_fd[h] == 0)
			(void)log_fd(h);
}

static void
compl_dir_open(void)
{
	int	 sfd;

	if ((sfd = store_dirfd()) == -1) {
		if (!compl_warned++)
			log_warn("compliance: no store directory");
		return;
	}
	if (mkdirat(sfd, COMPL_DIR, 0700) == -1 && errno != EEXIST) {
		if (!compl_warned++)
			log_warn("compliance: mkdir %s", COMPL_DIR);
	} else if ((compl_dirfd = openat(sfd, COMPL_DIR,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 && !compl_warned++)
		log_warn("compliance: open %s", COMPL_DIR);
	close(sfd);
}

static int
log_name(char *buf, size_t len, const char *host)
{
	/* Hosts come from the config, but a name must stay in the dir. */
	if (host[0] == '\0' || host[0] == '.' || strchr(host, '/') != NULL)
		return -1;
	if ((size_t)snprintf(buf, len, "%s.log", host) >= len)
		return -1;
	return 0;
}

/* The open log of host `h`, or -1. */
static int
log_fd(int h)
{
	char		 name[COMPL_NAME_MAX];
	struct stat	 st;
	int		 fd;

	if (compl_fd[h] > 0)
		return compl_fd[h] - 1;
	if (compl_dirfd == -1)
		compl_dir_open();
	if (compl_dirfd == -1 || log_name(name, sizeof(name),
	    imd_conf.hosts[h]) == -1)
		return -1;
	fd = openat(compl_dirfd, name,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		log_warn("compliance: open %s", name);
		return -1;
	}
	compl_size[h] = fstat(fd, &st) == 0 ? (long long)st.st_size : 0;
	compl_fd[h] = fd + 1;
	return fd;
}

/* Size rotation: the full file keeps its lines under a dated name. */
static void
log_rotate(int h)
{
	char		 name[COMPL_NAME_MAX], old[COMPL_NAME_MAX + 32];
	char		 stamp[32];
	struct tm	 tm;
	time_t		 now = time(NULL);

	close(compl_fd[h] - 1);
	compl_fd[h] = 0;
	if (log_name(name, sizeof(name), imd_conf.hosts[h]) == -1 ||
	    gmtime_r(&now, &tm) == NULL)
		return;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(old, sizeof(old), "%s.%s", name, stamp);
	if (renameat(compl_dirfd, name, compl_dirfd, old) == -1)
		log_warn("compliance: rename %s", name);
	else
		log_info("compliance: rotated %s to %s", name, old);
}

/* A JSON string (RFC 8259 section 7); the input is valid UTF-8. */
static void
json_str(struct xbuf *b, const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	xbuf_add(b, "\"", 1);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			xbuf_add(b, "\\", 1);
			xbuf_add(b, s + i, 1);
		} else if (c == '\n')
			xbuf_adds(b, "\\n");
		else if (c == '\r')
			xbuf_adds(b, "\\r");
		else if (c == '\t')
			xbuf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			xbuf_addf(b, "\\u%04x", c);
		else
			xbuf_add(b, s + i, 1);
	}
	xbuf_add(b, "\"", 1);
}

static void
json_field(struct xbuf *b, const char *name, const char *val)
{
	xbuf_addf(b, ",\"%s\":", name);
	if (val == NULL)
		xbuf_adds(b, "null");
	else
		json_str(b, val, strlen(val));
}

static int
log_line(struct xbuf *b, const char *from, const char *to,
    const struct xnode *msg, const char *body)
{
	char	 stamp[64];

	xmpp_timestamp(stamp, sizeof(stamp), xmpp_now_usec());
	xbuf_adds(b, "{\"time\":");
	json_str(b, stamp, strlen(stamp));
	json_field(b, "from", from);
	json_field(b, "to", to);
	json_field(b, "type", xnode_attr(msg, "type"));
	json_field(b, "id", xnode_attr(msg, "id"));
	json_field(b, "body", body);
	xbuf_adds(b, "}\n");
	return b->failed ? -1 : 0;
}

static void
log_write(int h, const struct xbuf *b)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	if ((fd = log_fd(h)) == -1)
		return;
	while (off < b->len) {
		n = write(fd, b->data + off, b->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("compliance: write %s.log", imd_conf.hosts[h]);
			return;
		}
		off += n;
	}
	compl_size[h] += b->len;
	if (compl_size[h] >= COMPL_ROTATE)
		log_rotate(h);
}

/* The hosted domain of a JID whose host logs, or -1. */
static int
logging_host(const char *jid)
{
	char		 dom[JID_PART_MAX + 1];
	const char	*at, *p = jid;
	size_t		 len;
	int		 h;

	len = strcspn(p, "/");
	if ((at = memchr(p, '@', len)) != NULL) {
		len -= at + 1 - p;
		p = at + 1;
	}
	if (len == 0 || len >= sizeof(dom))
		return -1;
	memcpy(dom, p, len);
	dom[len] = '\0';
	if ((h = imd_host_index(dom)) < 0 || h >= IMD_MAX_HOSTS ||
	    !imd_conf.compliance[h])
		return -1;
	return h;
}

int
imd_compliance_on(const char *jid)
{
	return logging_host(jid) != -1;
}

void
imd_compliance_log(const char *from, const char *to, struct xnode *msg)
{
	struct xnode	*bn;
	struct xbuf	 b;
	char		*body;
	int		 hf, ht;

	if (from == NULL || to == NULL || msg == NULL ||
	    strcmp(msg->name, "message") != 0)
		return;
	hf = logging_host(from);
	ht = logging_host(to);
	if (hf == -1 && ht == -1)
		return;
	/* Chat states and receipts carry no content worth keeping. */
	if ((bn = xnode_child(msg, "body", NULL)) == NULL ||
	    (body = xnode_text(bn)) == NULL)
		return;
	xbuf_init(&b);
	if (log_line(&b, from, to, msg, body) == 0) {
		if (hf != -1)
			log_write(hf, &b);
		if (ht != -1 && ht != hf)
			log_write(ht, &b);
	}
	xbuf_free(&b);
	free(body);
}
