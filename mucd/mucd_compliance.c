/*
 * mucd_compliance.c - the compliance log of room messages: one JSON line
 * per groupchat or private message (through a room) with a body, in a
 * room of a host that has `compliance-log` on, appended to compliance/<host>-muc.log in mucd's
 * data directory.  The approach follows imd/imd_compliance.c (same
 * record shape, so one reader handles both logs).
 *
 * mucd.c calls muc_compliance_open() in pre_drop, before the chroot, so
 * the directory and files are open when the sandbox closes the file
 * system; mucd_message.c calls muc_compliance_log().  Invariants: files
 * are opened O_APPEND|O_CREAT|O_NOFOLLOW with mode 0600 and never
 * truncated; a line goes out with one write(); failures are logged, never
 * fatal.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mucd.h"

#define COMPL_DIR	"compliance"

static int	compl_fd[MUC_MAX_HOSTS];	/* fd + 1; 0 = closed */

static int
open_log(int dirfd, const char *host)
{
	char	name[JID_PART_MAX + 32];

	if (host[0] == '\0' || host[0] == '.' || strchr(host, '/') != NULL ||
	    (size_t)snprintf(name, sizeof(name), "%s-muc.log", host) >=
	    sizeof(name))
		return -1;
	return openat(dirfd, name,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

void
muc_compliance_open(void)
{
	int	 sfd, dfd, h, fd;

	for (h = 0; h < muc_conf.nhosts && !muc_conf.compliance[h]; h++)
		;
	if (h == muc_conf.nhosts)
		return;
	if ((sfd = open(muc_conf.store_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("compliance: open %s", muc_conf.store_dir);
		return;
	}
	if (mkdirat(sfd, COMPL_DIR, 0700) == -1 && errno != EEXIST)
		log_warn("compliance: mkdir %s", COMPL_DIR);
	dfd = openat(sfd, COMPL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(sfd);
	if (dfd == -1) {
		log_warn("compliance: open %s", COMPL_DIR);
		return;
	}
	for (h = 0; h < muc_conf.nhosts; h++) {
		if (!muc_conf.compliance[h])
			continue;
		if ((fd = open_log(dfd, muc_conf.hosts[h])) == -1)
			log_warn("compliance: %s-muc.log", muc_conf.hosts[h]);
		else
			compl_fd[h] = fd + 1;
	}
	close(dfd);
}

/* A JSON string (RFC 8259 section 7); the input is valid UTF-8. */
static void
json_str(struct xbuf *b, const char *s)
{
	unsigned char	c;

	xbuf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			xbuf_add(b, "\\", 1);
			xbuf_add(b, s, 1);
		} else if (c < 0x20 || c == 0x7f)
			xbuf_addf(b, "\\u%04x", c);
		else
			xbuf_add(b, s, 1);
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
		json_str(b, val);
}

/*
 * One line: `from` is the sender's real JID, `room_from` its occupant
 * JID (room/nick), `to` the room (groupchat) or the recipient's occupant
 * JID (a private message through the room).
 */
void
muc_compliance_log(int h, const char *from, const char *room_from,
    const char *to, const struct xnode *msg)
{
	struct xnode	*bn;
	struct xbuf	 b;
	char		 stamp[64], *body;
	const char	*nick = strchr(room_from, '/'), *type;
	ssize_t		 n;

	if (h < 0 || h >= muc_conf.nhosts || compl_fd[h] == 0 ||
	    (bn = xnode_child(msg, "body", NULL)) == NULL ||
	    (body = xnode_text(bn)) == NULL)
		return;
	if ((type = xnode_attr(msg, "type")) == NULL)
		type = "normal";
	xmpp_timestamp(stamp, sizeof(stamp), xmpp_now_usec());
	xbuf_init(&b);
	xbuf_adds(&b, "{\"time\":");
	json_str(&b, stamp);
	json_field(&b, "from", from);
	json_field(&b, "to", to);
	json_field(&b, "nick", nick != NULL ? nick + 1 : "");
	json_field(&b, "type", type);
	json_field(&b, "id", xnode_attr(msg, "id"));
	json_field(&b, "body", body);
	xbuf_adds(&b, "}\n");
	if (!b.failed) {
		do
			n = write(compl_fd[h] - 1, b.data, b.len);
		while (n == -1 && errno == EINTR);
		if (n != (ssize_t)b.len)
			log_warn("compliance: write %s-muc.log",
			    muc_conf.hosts[h]);
	}
	xbuf_free(&b);
	free(body);
}
