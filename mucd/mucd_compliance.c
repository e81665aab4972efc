/*
 * mucd_compliance.c - the compliance log of room messages: one JSON line
 * per groupchat or private message (through a room) with a body, in a
 * room of a host that has `compliance-log` on, appended to
 * compliance/<host>-muc.log in mucd's data directory.  Files, rotation
 * and the record format are common/compliance.c, shared with imd's log,
 * so one reader handles both.
 *
 * mucd.c calls muc_compliance_open() in pre_drop, before the chroot, so
 * the directory and files are open when the sandbox closes the file
 * system; after the drop only a rotation opens a file, inside the
 * directory kept open here.  mucd_message.c calls muc_compliance_log().
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compliance.h"
#include "log.h"
#include "mucd.h"

static struct compliance_log	compl[MUC_MAX_HOSTS];
static int			compl_open[MUC_MAX_HOSTS];

void
muc_compliance_open(void)
{
	int	 sfd, dfd, h;

	for (h = 0; h < muc_conf.nhosts && !muc_conf.compliance[h]; h++)
		;
	if (h == muc_conf.nhosts)
		return;
	if ((sfd = open(muc_conf.store_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("compliance: open %s", muc_conf.store_dir);
		return;
	}
	dfd = compliance_dir_open(sfd);
	close(sfd);
	if (dfd == -1)
		return;
	for (h = 0; h < muc_conf.nhosts; h++)
		if (muc_conf.compliance[h] && compliance_open(&compl[h], dfd,
		    muc_conf.hosts[h], "-muc.log") == 0)
			compl_open[h] = 1;
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
	char		*body;
	const char	*nick = strchr(room_from, '/'), *type;

	if (h < 0 || h >= muc_conf.nhosts || !compl_open[h] ||
	    (bn = xnode_child(msg, "body", NULL)) == NULL ||
	    (body = xnode_text(bn)) == NULL)
		return;
	if ((type = xnode_attr(msg, "type")) == NULL)
		type = "normal";
	xbuf_init(&b);
	compliance_begin(&b);
	compliance_field(&b, "from", from);
	compliance_field(&b, "to", to);
	compliance_field(&b, "nick", nick != NULL ? nick + 1 : "");
	compliance_field(&b, "type", type);
	compliance_field(&b, "id", xnode_attr(msg, "id"));
	compliance_field(&b, "body", body);
	compliance_end(&b);
	compliance_write(&compl[h], &b);
	xbuf_free(&b);
	free(body);
}
