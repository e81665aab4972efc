/*
 * pepd.c - main() of the publish-subscribe daemon, its configuration, its
 * frame dispatcher and the helpers every pepd file uses (sending, error
 * and result replies).
 *
 * routerd sends pepd every stanza whose `to` is in "pubsub.<host>" once
 * pepd announced RCAP_PEP in READY, and (docs/pep.md) iq marked RFF_PEP
 * addressed to an account's bare JID.  The LMDB environment is opened in
 * pre_drop, before the chroot into that same directory, and the nodes are
 * loaded from it then.  The dispatcher parses each body once, fills a
 * struct pep_stanza and hands iq to pepd_iq.c; the tree is freed when the
 * handler returns.
 *
 * Invariants: nothing in a frame can reach fatal(); a stanza whose
 * addresses do not parse is dropped with a log line; error stanzas are
 * never answered with errors (RFC 6120 8.3.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "pepd.h"
#include "stanza.h"
#include "store.h"

#define PEP_LINK_LOWAT	(8 * 1024 * 1024)
#define PEP_LINK_HIWAT	(32 * 1024 * 1024)

struct pep_conf	 pep_conf = { .max_payload = PEP_DEF_PAYLOAD };
struct store	*pep_store;

static int
conf_host(int argc, const char **argv)
{
	char	*d;

	if (argc < 1 || pep_conf.nhosts == PEP_MAX_HOSTS)
		return -1;
	d = pep_conf.hosts[pep_conf.nhosts];
	if (jid_prep_domain(argv[0], strlen(argv[0]), d) == -1 ||
	    strlen(d) + sizeof("pubsub.") > JID_PART_MAX)
		return -1;
	pep_conf.nhosts++;
	return 0;
}

/* The bounds routerd's option table gives pep-max-* (routerd/config.c);
 * checked again here, as every daemon checks what it is sent. */
#define PEP_LIMIT_ITEMS	100000
#define PEP_LIMIT_NODES	10000000

static int
conf_limit(int argc, const char **argv, unsigned long long max, unsigned *out)
{
	unsigned long long	v;

	if (argc != 1 || daemon_conf_u64(argv[0], &v) == -1 || v == 0 ||
	    v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* pubsub-create: who may create nodes on pubsub.<host>. */
static int
conf_create(int argc, const char **argv)
{
	static const char *const names[] = { "local", "anyone", "nobody" };
	int	i;

	for (i = 0; argc == 1 && i < 3; i++)
		if (strcmp(argv[0], names[i]) == 0) {
			pep_conf.create = i;
			return 0;
		}
	return -1;
}

static int
pepd_configure(const char *key, int argc, const char **argv)
{
	unsigned long long	v;

	if (strcmp(key, "host") == 0)
		return conf_host(argc, argv);
	if (strcmp(key, "store-dir") == 0) {
		if (argc != 1 || argv[0][0] != '/' ||
		    strlen(argv[0]) >= sizeof(pep_conf.store_dir))
			return -1;
		strcpy(pep_conf.store_dir, argv[0]);
		return 0;
	}
	/* An item may be as large as a stanza may be. */
	if (strcmp(key, "max-stanza-size") == 0) {
		if (argc != 1 || daemon_conf_u64(argv[0], &v) == -1 ||
		    v < 1024 || v > FRAME_MAX_LIMIT)
			return -1;
		pep_conf.max_payload = (size_t)v;
		return 0;
	}
	if (strcmp(key, "pubsub-create") == 0)
		return conf_create(argc, argv);
	if (strcmp(key, "pep-max-items") == 0)
		return conf_limit(argc, argv, PEP_LIMIT_ITEMS,
		    &pep_limits.max_items);
	if (strcmp(key, "pep-max-nodes-per-owner") == 0)
		return conf_limit(argc, argv, PEP_LIMIT_NODES,
		    &pep_limits.max_nodes_owner);
	if (strcmp(key, "pep-max-nodes") == 0)
		return conf_limit(argc, argv, PEP_LIMIT_NODES,
		    &pep_limits.max_nodes);
	log_debug("configuration key %s ignored", key);
	return 0;
}

static void
pepd_pre_drop(void)
{
	if (pep_conf.store_dir[0] == '\0')
		fatalx("no store-dir configured");
	if ((pep_store = store_open(pep_conf.store_dir, daemon_store_max,
	    8)) == NULL)
		fatal("cannot open the pubsub store in %s", pep_conf.store_dir);
	/* Publishing commits per stanza: one fsync per loop turn, as imd
	 * and mucd do (docs/decisions.md, "Group commit"). */
	if (store_group_commit(pep_store, daemon_base,
	    daemon_flush_link, NULL) == -1)
		fatal("group commit for the pubsub store");
	/* ... and the stanzas of one read of the link share one commit */
	store_batch_link(pep_store, daemon_link);
	if (pep_nodes_load() == -1)
		log_warnx("some nodes could not be loaded");
	pep_caps_init();
}

static void
pepd_post_drop(void)
{
	/* A notification is one frame per subscriber. */
	link_set_watermarks(daemon_link, PEP_LINK_LOWAT, PEP_LINK_HIWAT);
	/* Frames are processed to their commit one by one: acknowledge each
	 * read's worth (RF_ACK) so routerd replays the rest after a crash. */
	link_set_acks(daemon_link, 1);
}

static void
pepd_shutdown(void)
{
	struct pep_node	*n;

	while ((n = pep_nodes) != NULL) {
		pep_nodes = n->next;
		pep_node_free(n);
	}
	pep_nnodes = 0;
	pep_contacts_free();
	store_close(pep_store);
	pep_store = NULL;
}

/* ---- helpers ---- */

int
pep_is_host(const char *domain)
{
	int	i;

	for (i = 0; i < pep_conf.nhosts; i++)
		if (strcmp(domain, pep_conf.hosts[i]) == 0)
			return 1;
	return 0;
}

/* RFC 6120 8.2.3: the type attribute, with the kinds' defaults. */
static uint8_t
stype_of(const struct xnode *x, uint8_t kind)
{
	const char	*t = xnode_attr(x, "type");

	if (t != NULL && strcmp(t, "error") == 0)
		return RS_ERROR;
	if (kind == RK_IQ) {
		if (t == NULL)
			return RS_NONE;
		return strcmp(t, "get") == 0 ? RS_GET : strcmp(t, "set") == 0 ?
		    RS_SET : strcmp(t, "result") == 0 ? RS_RESULT : RS_NONE;
	}
	if (kind == RK_MESSAGE)
		return t != NULL && strcmp(t, "headline") == 0 ? RS_HEADLINE :
		    t != NULL && strcmp(t, "chat") == 0 ? RS_CHAT : RS_NORMAL;
	if (kind == RK_PRESENCE)
		return t == NULL ? RS_AVAILABLE :
		    strcmp(t, "unavailable") == 0 ? RS_UNAVAILABLE : RS_NONE;
	return RS_NONE;
}

static char client_ns[] = XMLNS_CLIENT;

/* Parsed bodies have ns "" for jabber:client; serialize them so. */
static void
fix_ns(struct xnode *x)
{
	struct xnode	*c;

	if (x->ns == NULL || *x->ns == '\0')
		x->ns = client_ns;
	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c))
		if (c->ns == NULL || *c->ns == '\0')
			fix_ns(c);
}

/* `x` is not taken; its from/to attributes are overwritten. */
int
pep_send(const char *from, const char *to, struct xnode *x)
{
	struct xbuf	 b;
	struct fout	*f;
	uint8_t		 kind;
	int		 rc = -1;
	char		 fb[JID_MAX + 1], tb[JID_MAX + 1];

	if (x == NULL || to == NULL || *to == '\0' || strlen(to) > JID_MAX ||
	    from == NULL || strlen(from) > JID_MAX)
		return -1;
	strcpy(tb, to);
	strcpy(fb, from);
	xnode_set_attr(x, "from", fb);
	xnode_set_attr(x, "to", tb);
	fix_ns(x);
	kind = stanza_node_kind(x);
	xbuf_init(&b);
	xml_serialize(&b, x, XMLNS_CLIENT);
	if (!b.failed && (f = fout_stanza(kind, stype_of(x, kind), fb, tb,
	    b.data, b.len)) != NULL) {
		if (link_send(daemon_link, f) == 0)
			rc = 0;
		else
			log_warnx("cannot queue a stanza for %s", tb);
	}
	xbuf_free(&b);
	return rc;
}

/* RFC 6120 8.3; XEP-0060 adds an application condition in pubsub#errors. */
void
pep_reply_error(struct pep_stanza *s, const char *type, const char *cond,
    const char *pcond)
{
	struct xnode	*r, *e;

	if (s->stype == RS_ERROR || s->stype == RS_RESULT)
		return;		/* RFC 6120 8.3.1 */
	if ((r = stanza_error_reply(s->x, type, cond, &e)) == NULL)
		return;
	if (e != NULL && pcond != NULL)
		(void)xnode_add_child(e, pcond, NS_PUBSUB_ERRORS);
	(void)pep_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

/* XEP-0060 12.1 (feature-not-implemented with <unsupported/>). */
void
pep_reply_unsupported(struct pep_stanza *s, const char *feature)
{
	struct xnode	*r, *e, *u;

	if (s->stype == RS_ERROR || s->stype == RS_RESULT ||
	    (r = stanza_error_reply(s->x, "cancel", "feature-not-implemented",
	    &e)) == NULL)
		return;
	if (e != NULL && (u = xnode_add_child(e, "unsupported",
	    NS_PUBSUB_ERRORS)) != NULL)
		xnode_set_attr(u, "feature", feature);
	(void)pep_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

void
pep_reply_result(struct pep_stanza *s, struct xnode *payload)
{
	struct xnode	*r;

	if ((r = stanza_iq_result(s->x, XMLNS_CLIENT, payload)) == NULL)
		return;
	(void)pep_send(s->to_s, s->from_s, r);
	xnode_free(r);
}

/* ---- dispatch ---- */

/* Which service a request is for: "pubsub.<host>", or (PEP, XEP-0163
 * 4.3) the account named by `to`, which c2sd sets to the sender's bare
 * JID when the client left it out. */
static int
stanza_init(struct pep_stanza *s, struct frame *f, struct xnode *x)
{
	struct jid	from, to;

	memset(s, 0, sizeof(*s));
	s->x = x;
	s->kind = stanza_node_kind(x);
	s->stype = stype_of(x, s->kind);
	if (s->kind == RK_NONE || strlen(f->from) > JID_MAX ||
	    strlen(f->to) > JID_MAX ||
	    jid_parse(f->from, strlen(f->from), &from) == -1 ||
	    jid_parse(f->to, strlen(f->to), &to) == -1 ||
	    jid_format_bare(&from, s->from_bare, sizeof(s->from_bare)) < 0)
		return -1;
	strcpy(s->from_s, f->from);
	strcpy(s->to_s, f->to);
	if (strncmp(to.domain, "pubsub.", 7) == 0 &&
	    pep_is_host(to.domain + 7) && to.local[0] == '\0') {
		strcpy(s->service, to.domain);
		return 0;
	}
	if ((f->hdr.flags & RFF_PEP) && pep_is_host(to.domain) &&
	    to.local[0] != '\0' && to.resource[0] == '\0') {
		strcpy(s->service, f->to);
		s->pep = 1;
		return 0;
	}
	return -1;
}

static void
on_stanza(struct frame *f)
{
	struct pep_stanza	 s;
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
	else if (s.kind == RK_IQ && (s.stype == RS_RESULT ||
	    s.stype == RS_ERROR) && pep_caps_reply(&s)) {
		/* a caps question of pepd_caps.c answered */
	} else if (s.kind == RK_IQ)
		pep_iq(&s);
	else if (s.kind == RK_MESSAGE && s.stype != RS_ERROR)
		pep_reply_error(&s, "cancel", "service-unavailable", NULL);
	/* Presence to the service is ignored (docs/pep.md, "Contacts"). */
	xnode_free(x);
}

static void
pepd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_STANZA:
		on_stanza(f);
		break;
	case RF_PEP_PRESENCE:
		pep_contacts_frame(f);
		break;
	case RF_BOUNCE:
		/* A notification nobody took: nothing to retry, nothing to
		 * answer (RFC 6120 8.3.1). */
		log_debug("bounced stanza to %s", f->to);
		break;
	default:
		if (!(f->hdr.flags & RFF_OPTIONAL))
			log_debug("unexpected %s frame ignored",
			    frame_type_name(f->hdr.type));
		break;
	}
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops pepd_ops = {
	.name = "pepd",
	.configure = pepd_configure,
	.pre_drop = pepd_pre_drop,
	.post_drop = pepd_post_drop,
	.dispatch = pepd_dispatch,
	.shutdown = pepd_shutdown,
	.policy = &pepd_policy,
	.caps = RCAP_PEP | RCAP_ACK,	/* acked: replayed after a crash */
};

#ifdef PEPD_NO_MAIN
const struct daemon_ops *pepd_test_ops = &pepd_ops;
#else
int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &pepd_ops);
}
#endif
