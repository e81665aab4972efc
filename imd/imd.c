/*
 * imd.c - main() of the IM and presence daemon (RFC 6121), its
 * configuration, its frame dispatcher and the helpers every imd file uses
 * (sending a stanza, error and result replies, timestamps).
 *
 * routerd starts imd with the link on fd 3; common/daemon.c runs the life
 * (HELLO, CONFIG, sandbox, READY) and calls the ops below.  The LMDB
 * environment is opened in pre_drop, before the chroot into that same
 * directory.  The dispatcher parses each stanza body once, fills a
 * struct imd_stanza and hands it to the file that owns its kind; the parsed
 * tree is owned here and freed when the handler returns.  A plain message
 * from c2sd (RFF_PLAINMSG) is first offered to imd_message_fast(), which
 * needs no tree.
 *
 * Direction rule (docs/imd.md): a stanza is outbound (sent by a local
 * user) when it came from c2sd's link (origin = link id 6) without
 * RFF_UNDELIVERED.  routerd's entitlement check guarantees that such a
 * stanza's `from` is a session c2sd bound, so the origin is enough and no
 * body field is trusted for it.  Everything else (s2sd, later) is inbound.
 *
 * Invariants: nothing in a frame can reach fatal(); imd never sends a
 * stanza to a local bare JID (local-to-local traffic is processed here).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "imd.h"
#include "stanza.h"
#include "link.h"
#include "log.h"
#include "store.h"

#define IMD_ORIGIN_C2SD	6	/* docs/frames.md link ids: c2sd is 6 */
#define IMD_MAX_COMPLIANCE IMD_MAX_HOSTS

struct imd_conf imd_conf = {
	.offline_quota = 1000,
	.roster_max = 1000,
	.archive_max_page = 50,
	.presence_rate = 10,
};
struct store	*imd_store;

/* compliance-log may name a host before its "host" line: resolved later. */
static char	 compliance_names[IMD_MAX_COMPLIANCE][JID_PART_MAX + 1];
static int	 ncompliance;

/* Shared groups ("group-member" group jid), in configuration order. */
struct imd_group_member imd_groups[IMD_MAX_GROUP_MEMBERS];
size_t		 imd_ngroups;

int
imd_host_index(const char *domain)
{
	int	i;

	for (i = 0; i < imd_conf.nhosts; i++)
		if (strcmp(imd_conf.hosts[i], domain) == 0)
			return i;
	return -1;
}

int
imd_is_local(const char *domain)
{
	return imd_host_index(domain) != -1;
}

int
imd_bare(const char *jid, char *buf, size_t len)
{
	size_t	n = strcspn(jid, "/");

	if (n >= len)
		return -1;
	memcpy(buf, jid, n);
	buf[n] = '\0';
	return 0;
}

int
imd_is_local_jid(const char *jid)
{
	const char	*at = strchr(jid, '@');
	char		 dom[JID_PART_MAX + 1];
	size_t		 n;

	if (at == NULL || at == jid || (size_t)(at - jid) > strcspn(jid, "/"))
		return 0;
	n = strcspn(at + 1, "/");
	if (n == 0 || n >= sizeof(dom))
		return 0;
	memcpy(dom, at + 1, n);
	dom[n] = '\0';
	return imd_is_local(dom);
}

/* ---- configuration ---- */

static int
conf_num(const char *v, unsigned long long hi, unsigned long long *out)
{
	return daemon_conf_u64(v, out) == -1 || *out > hi ? -1 : 0;
}

static int
conf_domain(const char *v, char out[JID_PART_MAX + 1])
{
	return jid_prep_domain(v, strlen(v), out);
}

static int
conf_group_member(int argc, const char **argv)
{
	struct imd_group_member	*g;
	char			 bare[JID_MAX + 1];

	if (argc != 2 || imd_ngroups == IMD_MAX_GROUP_MEMBERS ||
	    strlen(argv[0]) >= sizeof(g->group) ||
	    jid_normalize(argv[1], bare, sizeof(bare)) == -1 ||
	    strchr(bare, '/') != NULL || strchr(bare, '@') == NULL)
		return -1;
	g = &imd_groups[imd_ngroups++];
	strcpy(g->group, argv[0]);
	strcpy(g->jid, bare);
	return 0;
}

static int
conf_list(const char *key, int argc, const char **argv)
{
	if (strcmp(key, "host") == 0) {
		/* "host" domain [registration yes|no]: the rest is authd's. */
		if (argc < 1 || imd_conf.nhosts == IMD_MAX_HOSTS ||
		    conf_domain(argv[0], imd_conf.hosts[imd_conf.nhosts]) == -1)
			return -1;
		imd_conf.nhosts++;
		return 0;
	}
	if (strcmp(key, "compliance-log") == 0) {
		if (argc != 1 || ncompliance == IMD_MAX_COMPLIANCE ||
		    conf_domain(argv[0], compliance_names[ncompliance]) == -1)
			return -1;
		ncompliance++;
		return 0;
	}
	return conf_group_member(argc, argv);
}

static int
imd_configure(const char *key, int argc, const char **argv)
{
	unsigned long long	v;

	if (strcmp(key, "host") == 0 || strcmp(key, "compliance-log") == 0 ||
	    strcmp(key, "group-member") == 0)
		return conf_list(key, argc, argv);
	if (argc != 1)
		return -1;
	if (strcmp(key, "store-dir") == 0) {
		if (argv[0][0] != '/' ||
		    strlen(argv[0]) >= sizeof(imd_conf.store_dir))
			return -1;
		strcpy(imd_conf.store_dir, argv[0]);
	} else if (strcmp(key, "offline-quota") == 0) {
		if (conf_num(argv[0], 1000000, &v) == -1)
			return -1;
		imd_conf.offline_quota = (unsigned)v;
	} else if (strcmp(key, "roster-max") == 0) {
		if (conf_num(argv[0], 100000, &v) == -1 || v == 0)
			return -1;
		imd_conf.roster_max = (unsigned)v;
	} else if (strcmp(key, "archive-retention") == 0) {
		if (daemon_conf_u64(argv[0], &v) == -1)
			return -1;
		imd_conf.archive_retention = v;
	} else if (strcmp(key, "presence-rate") == 0) {
		if (conf_num(argv[0], 1000, &v) == -1)
			return -1;
		imd_conf.presence_rate = (unsigned)v;
	} else if (strcmp(key, "pep") == 0) {
		/* routerd: pepd is enabled, so an account's disco#info
		 * names the PEP service (docs/pep.md, "Service discovery") */
		if (conf_num(argv[0], 1, &v) == -1)
			return -1;
		imd_conf.pep = (int)v;
	} else if (strcmp(key, "archive-default") == 0) {
		if ((imd_conf.archive_default =
		    imd_mam_pref_parse(argv[0])) == -1)
			return -1;
	} else if (strcmp(key, "archive-max-page") == 0) {
		if (conf_num(argv[0], 100000, &v) == -1 || v == 0)
			return -1;
		imd_conf.archive_max_page = (unsigned)v;
	} else
		/* routerd sends every option that concerns imd; a key the
		 * daemon does not use yet is not an error. */
		log_debug("configuration key %s ignored", key);
	return 0;
}

static void
imd_pre_drop(void)
{
	int	i, h;

	if (imd_conf.store_dir[0] == '\0')
		fatalx("no store-dir configured");
	if ((imd_store = store_open(imd_conf.store_dir, daemon_store_max,
	    32)) == NULL)
		fatal("cannot open the IM store in %s", imd_conf.store_dir);
	/* Archives commit per message: one fsync per loop turn, not per
	 * message (docs/decisions.md, "Group commit"). */
	if (store_group_commit(imd_store, daemon_base,
	    daemon_flush_link, NULL) == -1)
		fatal("group commit for the IM store");
	/* ... and the stanzas of one read of the link share one commit */
	store_batch_link(imd_store, daemon_link);
	/* Every frame is processed to its commit before the next is read, so
	 * the link may acknowledge each read's frames (RF_ACK) behind their
	 * output; routerd replays the rest if imd dies (docs/frames.md). */
	link_set_acks(daemon_link, 1);
	for (i = 0; i < ncompliance; i++) {
		if ((h = imd_host_index(compliance_names[i])) == -1)
			log_warnx("compliance-log for %s, which is not a host",
			    compliance_names[i]);
		else
			imd_conf.compliance[h] = 1;
	}
	imd_compliance_open();	/* before the chroot: see imd_compliance.c */
	if (imd_conf.nhosts == 0)
		log_warnx("no host configured: imd will refuse every stanza");
}

static void
imd_shutdown(void)
{
	imd_session_clear();
	store_close(imd_store);
	imd_store = NULL;
}

/* ---- helpers ---- */

struct xnode *
imd_child(const struct xnode *x, const char *name)
{
	struct xnode	*c;

	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c))
		if (strcmp(c->name, name) == 0 && stanza_ns_client(c->ns))
			return c;
	return NULL;
}

/* Does the tree hold a no-namespace element under a namespaced one (a
 * parsed <message/> wrapped in <forwarded/>, say)? */
static int
mixed_ns(const struct xnode *x)
{
	const struct xnode	*c;

	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c)) {
		if (*c->ns == '\0' && *x->ns != '\0')
			return 1;
		if (mixed_ns(c))
			return 1;
	}
	return 0;
}

static char ns_client[] = XMLNS_CLIENT;

/* Give every no-namespace element jabber:client (they were parsed from
 * frame bodies, whose default namespace that is). */
static void
fix_ns(struct xnode *x)
{
	struct xnode	*c;

	if (*x->ns == '\0')
		x->ns = ns_client;
	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c))
		fix_ns(c);
}

/* Serialize a stanza as a frame body: jabber:client undeclared at the
 * root (docs/frames.md), nested stanzas declared. */
int
imd_serialize(struct xbuf *b, const struct xnode *x)
{
	struct xnode	*y;

	if (!mixed_ns(x)) {
		xml_serialize(b, x, stanza_ns_client(x->ns) ? x->ns : XMLNS_CLIENT);
		return b->failed ? -1 : 0;
	}
	if ((y = xnode_dup(x)) == NULL)
		return -1;
	fix_ns(y);
	xml_serialize(b, y, XMLNS_CLIENT);
	xnode_free(y);
	return b->failed ? -1 : 0;
}

/* `x` is not taken; its from/to attributes are overwritten (an empty or
 * NULL `from`/`to` removes the attribute). */
int
imd_send(const char *from, const char *to, struct xnode *x)
{
	struct xbuf	 b;
	struct fout	*f;
	int		 rc = -1;
	char		 fb[JID_MAX + 1], tb[JID_MAX + 1];

	if (x == NULL || to == NULL || *to == '\0' || strlen(to) > JID_MAX ||
	    (from != NULL && strlen(from) > JID_MAX))
		return -1;
	/* from/to may point into x's own attributes, which are replaced. */
	strcpy(tb, to);
	strcpy(fb, from != NULL ? from : "");
	from = fb;
	to = tb;
	xnode_set_attr(x, "from", *from ? from : NULL);
	xnode_set_attr(x, "to", to);
	xbuf_init(&b);
	if (imd_serialize(&b, x) == 0 &&
	    (f = fout_stanza(stanza_node_kind(x), stanza_node_stype(x), from, to,
	    b.data, b.len)) != NULL) {
		if (link_send(daemon_link, f) == 0)
			rc = 0;
		else
			log_warnx("cannot queue a stanza for %s", to);
	}
	xbuf_free(&b);
	return rc;
}

void
imd_reply_error(struct imd_stanza *s, const char *type, const char *cond)
{
	struct xnode	*r;

	if (stanza_node_stype(s->x) == RS_ERROR || stanza_node_kind(s->x) == RK_NONE)
		return;		/* RFC 6120 8.3.1: never answer an error */
	if ((r = stanza_error_reply(s->x, type, cond, NULL)) == NULL)
		return;
	(void)imd_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

void
imd_reply_result(struct imd_stanza *s, struct xnode *payload)
{
	struct xnode	*r;

	if ((r = stanza_iq_result(s->x, s->x->ns, payload)) == NULL)
		return;
	(void)imd_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

/* Fill `s` for `x` travelling from `from` to `to`; `f` is the header it
 * came with (a zeroed one with kind/stype for a stanza imd made up). */
int
imd_stanza_init(struct imd_stanza *s, struct frame *f, struct xnode *x,
    const char *from, const char *to, int outbound)
{
	memset(s, 0, offsetof(struct imd_stanza, from));
	s->f = f;
	s->x = x;
	s->outbound = outbound;
	if (strlen(from) > JID_MAX || strlen(to) > JID_MAX ||
	    jid_parse(from, strlen(from), &s->from) == -1 ||
	    jid_parse(to, strlen(to), &s->to) == -1)
		return -1;
	strcpy(s->from_s, from);
	strcpy(s->to_s, to);
	return 0;
}

/* ---- dispatch ---- */

static void
stanza_run(struct imd_stanza *s)
{
	uint8_t	stype = stanza_node_stype(s->x);

	switch (stanza_node_kind(s->x)) {
	case RK_MESSAGE:
		if (s->outbound)
			imd_message_outbound(s);
		else
			imd_message_inbound(s);
		break;
	case RK_PRESENCE:
		if (stype >= RS_SUBSCRIBE && stype <= RS_UNSUBSCRIBED) {
			if (s->outbound)
				imd_subscription_outbound(s);
			else
				imd_subscription_inbound(s);
		} else if (s->outbound)
			imd_presence_outbound(s);
		else
			imd_presence_inbound(s);
		break;
	case RK_IQ:
		imd_iq(s);
		break;
	default:
		break;
	}
}

/* No 'to': the sender's own account (RFC 6120 10.3.3 and 8.1.1.1). */
static int
default_to(const struct frame *f, char *buf, size_t len)
{
	struct jid	j;

	if (*f->to != '\0') {
		if (strlen(f->to) >= len)
			return -1;
		strcpy(buf, f->to);
		return 0;
	}
	if (jid_parse(f->from, strlen(f->from), &j) == -1 ||
	    jid_format_bare(&j, buf, len) < 0)
		return -1;
	return 0;
}

static void
on_stanza(struct frame *f)
{
	struct imd_stanza	 s;
	struct xnode		*x;
	const uint8_t		*body;
	size_t			 len;
	char			 to[JID_MAX + 1];

	frame_get_rest(f, &body, &len);
	if (log_debug_on())
		log_debug("stanza %u/%u from %s to %s, origin %u, flags %#x",
		    f->hdr.kind, f->hdr.stype, f->from, f->to, f->hdr.origin,
		    f->hdr.flags);
	/* A plain message from a local session: no tree (imd_deliver.c). */
	if (f->hdr.origin == IMD_ORIGIN_C2SD && imd_message_fast(f, body, len))
		return;
	if ((x = xml_parse_element((const char *)body, len, NULL)) == NULL) {
		log_warnx("unparsable stanza from %s dropped", f->from);
		return;
	}
	if (f->hdr.flags & RFF_UNDELIVERED)
		imd_message_returned(f, x);
	else if (default_to(f, to, sizeof(to)) == -1 ||
	    imd_stanza_init(&s, f, x, f->from, to,
	    f->hdr.origin == IMD_ORIGIN_C2SD) == -1)
		log_warnx("stanza with a malformed address dropped");
	else
		stanza_run(&s);
	xnode_free(x);
}

static void
imd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_STANZA:
		on_stanza(f);
		break;
	case RF_BOUNCE:
		imd_message_undelivered(f);
		break;
	case RF_SESSION_PRESENCE:
		imd_session_presence(f);
		break;
	case RF_SESSION_GONE:
		imd_session_gone(f);
		break;
	case RF_PEP_RESYNC:
		imd_presence_pep_resync();
		break;
	default:
		if (!(f->hdr.flags & RFF_OPTIONAL))
			log_warnx("unexpected %s frame ignored",
			    frame_type_name(f->hdr.type));
		break;
	}
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops imd_ops = {
	.name = "imd",
	.configure = imd_configure,
	.pre_drop = imd_pre_drop,
	.dispatch = imd_dispatch,
	.shutdown = imd_shutdown,
	.policy = &imd_policy,
	.caps = RCAP_IM | RCAP_ACK,	/* the IM traffic; acked (RF_ACK) */
};

#ifdef IMD_NO_MAIN
/* Unit tests drive the daemon through its ops. */
const struct daemon_ops *imd_test_ops = &imd_ops;
#else
int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &imd_ops);
}
#endif
