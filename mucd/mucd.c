/*
 * mucd.c - main() of the chat-room daemon (XEP-0045), its configuration,
 * its frame dispatcher and the helpers every mucd file uses (sending,
 * error and result replies, timestamps).
 *
 * routerd sends mucd every stanza whose `to` is in "conference.<host>"
 * once mucd announced RCAP_MUC in READY; mucd answers with stanzas whose
 * `from` is inside those service domains.  The LMDB environment is opened
 * in pre_drop, before the chroot into that same directory, and persistent
 * rooms are loaded from it then.  The dispatcher parses each body once,
 * fills a struct muc_stanza and hands it to the file owning its kind; the
 * tree is freed when the handler returns.
 *
 * Invariants: nothing in a frame can reach fatal(); a stanza whose
 * addresses do not parse is dropped with a log line; error stanzas are
 * never answered with errors (RFC 6120 8.3.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "mucd.h"
#include "spill.h"
#include "stanza.h"
#include "store.h"

#define MUC_LINK_LOWAT	(8 * 1024 * 1024)
#define MUC_LINK_HIWAT	(32 * 1024 * 1024)
/* What waits behind a full link, in order; input is paused meanwhile, so
 * this holds about one fan-out at most (a 256 KiB message to a room of
 * 1,000 sessions is 256 MiB: the bound is above that). */
#define MUC_SPILL_MAX	((size_t)512 * 1024 * 1024)

static struct spill	 muc_spill;

struct muc_conf	 muc_conf;
struct store	*muc_store;

/* compliance-log may name a host before its "host" line. */
static char	 compliance_names[MUC_MAX_HOSTS][JID_PART_MAX + 1];
static int	 ncompliance;

static int
conf_host(int argc, const char **argv)
{
	char	*d;

	if (argc < 1 || muc_conf.nhosts == MUC_MAX_HOSTS)
		return -1;
	d = muc_conf.hosts[muc_conf.nhosts];
	if (jid_prep_domain(argv[0], strlen(argv[0]), d) == -1 ||
	    strlen(d) + sizeof("conference.") > JID_PART_MAX)
		return -1;
	muc_conf.nhosts++;
	return 0;
}

static int
mucd_configure(const char *key, int argc, const char **argv)
{
	if (strcmp(key, "host") == 0)
		return conf_host(argc, argv);
	if (strcmp(key, "compliance-log") == 0) {
		if (argc != 1 || ncompliance == MUC_MAX_HOSTS ||
		    jid_prep_domain(argv[0], strlen(argv[0]),
		    compliance_names[ncompliance]) == -1)
			return -1;
		ncompliance++;
		return 0;
	}
	if (strcmp(key, "room-archive-retention") == 0) {
		char	*end;

		if (argc != 1)
			return -1;
		muc_conf.retention = strtoull(argv[0], &end, 10);
		return *end != '\0' || end == argv[0] ? -1 : 0;
	}
	if (strcmp(key, "store-dir") == 0) {
		if (argc != 1 || argv[0][0] != '/' ||
		    strlen(argv[0]) >= sizeof(muc_conf.store_dir))
			return -1;
		strcpy(muc_conf.store_dir, argv[0]);
		return 0;
	}
	/* routerd sends the options of the config table; unused is fine. */
	log_debug("configuration key %s ignored", key);
	return 0;
}

static void
mucd_pre_drop(void)
{
	int	i, h;

	if (muc_conf.store_dir[0] == '\0')
		fatalx("no store-dir configured");
	if ((muc_store = store_open(muc_conf.store_dir, daemon_store_max,
	    8)) == NULL)
		fatal("cannot open the MUC store in %s", muc_conf.store_dir);
	/* Archives commit per message: one fsync per loop turn, not per
	 * message (docs/decisions.md, "Group commit"). */
	if (store_group_commit(muc_store, daemon_base,
	    daemon_flush_link, NULL) == -1)
		fatal("group commit for the MUC store");
	/* ... and the stanzas of one read of the link share one commit */
	store_batch_link(muc_store, daemon_link);
	for (i = 0; i < ncompliance; i++) {
		for (h = 0; h < muc_conf.nhosts; h++)
			if (strcmp(muc_conf.hosts[h], compliance_names[i]) == 0)
				muc_conf.compliance[h] = 1;
	}
	muc_compliance_open();
	if (muc_store_load() == -1)
		log_warnx("some persistent rooms could not be loaded");
}

static void
mucd_post_drop(void)
{
	/* A fan-out to a big room is many frames at once: give the queue to
	 * routerd room for it (the hard limit, 4 x high, still holds). */
	link_set_watermarks(daemon_link, MUC_LINK_LOWAT, MUC_LINK_HIWAT);
	/* Frames are processed to their commit one by one: acknowledge each
	 * read's worth (RF_ACK) so routerd replays the rest after a crash. */
	link_set_acks(daemon_link, 1);
	muc_retention_start();
}

static struct event	*retention_ev;

static void
on_retention(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	now = xmpp_now_usec(), keep = muc_conf.retention * 1000000;

	if (now > keep)
		muc_archive_prune(now - keep);
}

/* Prune at start, then every quarter of the retention (1 s .. 1 h), so a
 * message outlives it by at most a quarter. */
void
muc_retention_start(void)
{
	struct timeval	tv;
	unsigned long long iv = muc_conf.retention / 4;

	if (muc_conf.retention == 0 || daemon_base == NULL)
		return;
	tv.tv_sec = iv < 1 ? 1 : iv > 3600 ? 3600 : (time_t)iv;
	tv.tv_usec = 0;
	on_retention(-1, 0, NULL);
	if ((retention_ev = event_new(daemon_base, -1, EV_PERSIST, on_retention,
	    NULL)) == NULL || event_add(retention_ev, &tv) == -1)
		log_warnx("cannot start the archive retention timer");
}

static void
mucd_shutdown(void)
{
	struct muc_room	*r;

	/* Occupants learn the room is gone with us (332); persistent rooms
	 * come back with the next mucd, their occupants rejoin. */
	muc_shutdown_rooms();
	if (muc_spill.link == daemon_link && spill_flush(&muc_spill) > 0)
		log_warnx("room stanzas were lost at shutdown");
	if (retention_ev != NULL)
		event_free(retention_ev);
	retention_ev = NULL;
	while ((r = muc_rooms) != NULL) {
		muc_rooms = r->next;
		muc_room_free(r);
	}
	muc_nrooms = 0;
	store_close(muc_store);
	muc_store = NULL;
}

/* ---- helpers ---- */

static void
spill_resume(void *arg)
{
	link_hold_acks(daemon_link, 0);	/* behind what the spill moved */
	link_resume(daemon_link);
}

/*
 * Every frame mucd sends goes through here.  A fan-out to a big room can
 * fill the link to routerd (its hard limit is 4 x MUC_LINK_HIWAT): the
 * frames past its high mark wait in a spill, in order, and mucd reads no
 * more input until they have moved (mucd_dispatch), so routerd holds, or
 * bounces with an error, what comes meanwhile.  Nothing is refused below
 * MUC_SPILL_MAX.  The acknowledgement of the input (RF_ACK) is held until
 * then too, so that it follows the output it caused: a crash meanwhile
 * makes routerd replay that input.
 */
int
muc_send_frame(struct fout *f)
{
	if (muc_spill.link != daemon_link)	/* first use, or a new link */
		spill_init(&muc_spill, daemon_link, MUC_SPILL_MAX,
		    spill_resume, NULL);
	return spill_send(&muc_spill, f);
}

/* The hosted domain behind a service domain "conference.<host>". */
const char *
muc_service_host(const char *domain)
{
	int	i;

	if (strncmp(domain, "conference.", 11) != 0)
		return NULL;
	for (i = 0; i < muc_conf.nhosts; i++)
		if (strcmp(domain + 11, muc_conf.hosts[i]) == 0)
			return muc_conf.hosts[i];
	return NULL;
}

static char client_ns[] = XMLNS_CLIENT;

/* Parsed bodies have ns "" for jabber:client; serialize them so. */
static void
fix_ns(struct xnode *x)
{
	struct xnode	*c;

	if (*x->ns == '\0')
		x->ns = client_ns;
	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c))
		fix_ns(c);
}

/* A frame body: jabber:client undeclared at the root (docs/frames.md). */
int
muc_serialize(struct xbuf *b, const struct xnode *x)
{
	struct xnode	*y;

	if ((y = xnode_dup(x)) == NULL)
		return -1;
	fix_ns(y);
	xml_serialize(b, y, XMLNS_CLIENT);
	xnode_free(y);
	return b->failed ? -1 : 0;
}

/* `x` is not taken; its from/to attributes are overwritten. */
int
muc_send(const char *from, const char *to, struct xnode *x)
{
	struct xbuf	 b;
	struct fout	*f;
	int		 rc = -1;
	char		 fb[JID_MAX + 1], tb[JID_MAX + 1];

	if (x == NULL || to == NULL || *to == '\0' || strlen(to) > JID_MAX ||
	    from == NULL || strlen(from) > JID_MAX)
		return -1;
	strcpy(tb, to);
	strcpy(fb, from);
	xnode_set_attr(x, "from", fb);
	xnode_set_attr(x, "to", tb);
	xbuf_init(&b);
	if (muc_serialize(&b, x) == 0 && (f = fout_stanza(stanza_node_kind(x),
	    stanza_node_stype(x), fb, tb, b.data, b.len)) != NULL) {
		if (muc_send_frame(f) == 0)
			rc = 0;
		else
			log_warnx("cannot queue a stanza for %s", tb);
	}
	xbuf_free(&b);
	return rc;
}

void
muc_reply_error(struct muc_stanza *s, const char *type, const char *cond)
{
	struct xnode	*r;

	if (s->stype == RS_ERROR || s->kind == RK_NONE)
		return;		/* RFC 6120 8.3.1 */
	if ((r = stanza_error_reply(s->x, type, cond, NULL)) == NULL)
		return;
	(void)muc_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

void
muc_reply_result(struct muc_stanza *s, struct xnode *payload)
{
	struct xnode	*r;

	if ((r = stanza_iq_result(s->x, XMLNS_CLIENT, payload)) == NULL)
		return;
	(void)muc_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

/* ---- dispatch ---- */

static int
stanza_init(struct muc_stanza *s, struct frame *f, struct xnode *x)
{
	struct jid	from;
	int		h;

	memset(s, 0, sizeof(*s));
	s->x = x;
	s->kind = stanza_node_kind(x);
	s->stype = stanza_node_stype(x);
	if (s->kind == RK_NONE || strlen(f->from) > JID_MAX ||
	    strlen(f->to) > JID_MAX ||
	    jid_parse(f->from, strlen(f->from), &from) == -1 ||
	    jid_parse(f->to, strlen(f->to), &s->to) == -1 ||
	    jid_format_bare(&from, s->from_bare, sizeof(s->from_bare)) < 0 ||
	    jid_format_bare(&s->to, s->room_jid, sizeof(s->room_jid)) < 0)
		return -1;
	strcpy(s->from_s, f->from);
	strcpy(s->to_s, f->to);
	s->nick = s->to.resource[0] != '\0' ? s->to.resource : NULL;
	s->host = -1;
	for (h = 0; h < muc_conf.nhosts; h++)
		if (strncmp(s->to.domain, "conference.", 11) == 0 &&
		    strcmp(s->to.domain + 11, muc_conf.hosts[h]) == 0)
			s->host = h;
	return s->host == -1 ? -1 : 0;
}

static void
on_stanza(struct frame *f)
{
	struct muc_stanza	 s;
	struct xnode		*x;
	const uint8_t		*body;
	size_t			 len;

	frame_get_rest(f, &body, &len);
	if ((x = xml_parse_element((const char *)body, len, NULL)) == NULL) {
		log_warnx("unparsable stanza from %s dropped", f->from);
		return;
	}
	if (stanza_init(&s, f, x) == -1)
		log_warnx("stanza from %s to %s with a bad address dropped",
		    f->from, f->to);
	else if (s.kind == RK_PRESENCE)
		muc_presence(&s);
	else if (s.kind == RK_MESSAGE)
		muc_message(&s);
	else
		muc_iq(&s);
	xnode_free(x);
}

static void
mucd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_STANZA:
		on_stanza(f);
		break;
	case RF_BOUNCE:
		muc_bounced(f);
		break;
	default:
		if (!(f->hdr.flags & RFF_OPTIONAL))
			log_debug("unexpected %s frame ignored",
			    frame_type_name(f->hdr.type));
		break;
	}
	if (f->fd != -1)
		close(f->fd);
	if (muc_spill.link == l && spill_busy(&muc_spill)) {
		link_pause(l);		/* until the spill has moved, */
		link_hold_acks(l, 1);	/* and acknowledged after it */
	}
}

static const struct daemon_ops mucd_ops = {
	.name = "mucd",
	.configure = mucd_configure,
	.pre_drop = mucd_pre_drop,
	.post_drop = mucd_post_drop,
	.dispatch = mucd_dispatch,
	.shutdown = mucd_shutdown,
	.policy = &mucd_policy,
	.caps = RCAP_MUC | RCAP_ACK,	/* acked: replayed after a crash */
};

#ifdef MUCD_NO_MAIN
const struct daemon_ops *mucd_test_ops = &mucd_ops;
#else
int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &mucd_ops);
}
#endif
