/*
 * imd_compliance.c - the compliance log: one JSON line per message with
 * a body that a host with `compliance-log` sends or receives, appended to
 * compliance/<host>.log in imd's data directory (files, rotation and
 * record format: common/compliance.c).
 *
 * imd_deliver.c calls imd_compliance_log() once per message; the core may
 * call imd_compliance_open() from pre_drop (before the chroot), otherwise
 * the directory is found and opened on first use.  The directory lives in
 * the store directory, which is "/" once imd is chrooted and imd_conf's
 * store_dir when it is not (a developer run without root): we take
 * whichever of the two holds the LMDB environment (data.mdb).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compliance.h"
#include "log.h"
#include "imd.h"

static int	 compl_dirfd = -1;
static struct compliance_log compl[IMD_MAX_HOSTS];
static int	 compl_open[IMD_MAX_HOSTS];
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

/* The open log of host `h`, or NULL. */
static struct compliance_log *
host_log(int h)
{
	int	 sfd;

	if (compl_open[h])
		return &compl[h];
	if (compl_dirfd == -1) {
		if ((sfd = store_dirfd()) == -1) {
			if (!compl_warned++)
				log_warn("compliance: no store directory");
			return NULL;
		}
		compl_dirfd = compliance_dir_open(sfd);
		close(sfd);
		if (compl_dirfd == -1)
			return NULL;
	}
	if (compliance_open(&compl[h], compl_dirfd, imd_conf.hosts[h],
	    ".log") == -1)
		return NULL;
	compl_open[h] = 1;
	return &compl[h];
}

/*
 * From pre_drop, this opens the directory and the logs of every host that
 * has compliance-log on, so that after the drop only a rotation opens a
 * file.  Called again it only does what is still missing.
 */
void
imd_compliance_open(void)
{
	int	 h;

	for (h = 0; h < imd_conf.nhosts && h < IMD_MAX_HOSTS; h++)
		if (imd_conf.compliance[h])
			(void)host_log(h);
}

static void
log_write(int h, const struct xbuf *b)
{
	struct compliance_log	*l;

	if ((l = host_log(h)) != NULL)
		compliance_write(l, b);
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
	compliance_begin(&b);
	compliance_field(&b, "from", from);
	compliance_field(&b, "to", to);
	compliance_field(&b, "type", xnode_attr(msg, "type"));
	compliance_field(&b, "id", xnode_attr(msg, "id"));
	compliance_field(&b, "body", body);
	compliance_end(&b);
	if (hf != -1)
		log_write(hf, &b);
	if (ht != -1 && ht != hf)
		log_write(ht, &b);
	xbuf_free(&b);
	free(body);
}
