/*
 * mucd_bcast.c - fan-out of one stanza to many occupants.
 *
 * A room of a thousand occupants must not cost a thousand serializations:
 * the stanza is serialized once without a `to` attribute and split after
 * its element name ("<message" | " from='...'>...</message>"); each frame
 * body is then prefix + " to='<escaped JID>'" + suffix, three copies of
 * bytes.  Frames are only queued here (muc_send_frame: the link, or the
 * spill behind it when it is full); the link writes the whole batch with
 * writev() once per event-loop turn, so a fan-out never blocks the loop
 * on the socket.  Called by mucd_presence.c and
 * mucd_message.c.  Invariant: the prefix always ends right after the
 * root's name, so the inserted attribute lands in the root start tag.
 */
#include <string.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "mucd.h"

int
muc_bcast_init(struct muc_bcast *bc, const char *from, struct xnode *x)
{
	struct xbuf	 all;
	size_t		 split;

	memset(bc, 0, sizeof(*bc));
	xbuf_init(&bc->pre);
	xbuf_init(&bc->post);
	if (strlen(from) > JID_MAX)
		return -1;
	strcpy(bc->from, from);
	bc->kind = stanza_node_kind(x);
	bc->stype = stanza_node_stype(x);
	xnode_set_attr(x, "from", from);
	xnode_set_attr(x, "to", NULL);
	xbuf_init(&all);
	if (muc_serialize(&all, x) == -1) {
		xbuf_free(&all);
		return -1;
	}
	split = 1 + strlen(x->name);
	if (all.len < split || all.data[0] != '<' ||
	    memcmp(all.data + 1, x->name, split - 1) != 0) {
		xbuf_free(&all);
		return -1;
	}
	xbuf_add(&bc->pre, all.data, split);
	xbuf_add(&bc->post, all.data + split, all.len - split);
	xbuf_free(&all);
	return bc->pre.failed || bc->post.failed ? -1 : 0;
}

int
muc_bcast_send(struct muc_bcast *bc, const char *to)
{
	struct xbuf	 attr;
	struct fout	*f;
	int		 rc;

	if (*to == '\0' || strlen(to) > JID_MAX)
		return -1;
	xbuf_init(&attr);
	xbuf_adds(&attr, " to=\"");
	xbuf_add_attr(&attr, to);
	xbuf_adds(&attr, "\"");
	if (attr.failed || (f = fout_new(RF_STANZA, bc->from, to)) == NULL) {
		xbuf_free(&attr);
		return -1;
	}
	f->hdr.kind = bc->kind;
	f->hdr.stype = bc->stype;
	fout_put_raw(f, bc->pre.data, bc->pre.len);
	fout_put_raw(f, attr.data, attr.len);
	fout_put_raw(f, bc->post.data, bc->post.len);
	xbuf_free(&attr);
	if ((rc = muc_send_frame(f)) == -1)
		log_warnx("cannot queue a room stanza for %s", to);
	return rc;
}

void
muc_bcast_free(struct muc_bcast *bc)
{
	xbuf_free(&bc->pre);
	xbuf_free(&bc->post);
}

/* Every session of every occupant but `skip`; 0 or -1 (not built). */
int
muc_bcast_occupants(struct muc_room *r, const char *from, struct xnode *x,
    const struct muc_occupant *skip)
{
	struct muc_bcast	 bc;
	struct muc_occupant	*o;
	size_t			 i;

	if (muc_bcast_init(&bc, from, x) == -1) {
		muc_bcast_free(&bc);
		return -1;
	}
	for (o = r->occupants; o != NULL; o = o->next) {
		if (o == skip)
			continue;
		for (i = 0; i < o->nsessions; i++)
			(void)muc_bcast_send(&bc, o->sessions[i]);
	}
	muc_bcast_free(&bc);
	return 0;
}
