/*
 * c2sd_session.c - sessions: resource binding, routing stanzas between a
 * client and routerd, error replies for what cannot be delivered.
 *
 * A session exists from the bind request (RFC 6120 section 7) until it is
 * unbound; routerd knows it by (this c2sd, session id).  Client stanzas are
 * checked (section 8.1: 'from' must be the session's own JID, else
 * invalid-from; 'to' must be a valid JID, else jid-malformed), stamped
 * with the full JID and re-serialized in the jabber:client default
 * namespace before they go to routerd; iqs for the server are answered in
 * c2sd_iq.c, iqs for the account itself go to imd (docs/imd.md), and so
 * does broadcast presence (RFF_BROADCAST).  Stanzas from routerd are
 * written to the client unparsed (the fast path); only errors are built
 * here.
 *
 * Nothing vanishes silently: a message that cannot reach its client goes
 * back to routerd with RFF_UNDELIVERED (imd stores it offline), an iq
 * get/set is answered with a stanza error (never a reply to an error,
 * section 8.3.1), presence is dropped.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"
#include "pubsub.h"
#include "stanza.h"

static struct {
	TAILQ_HEAD(, session) b[C2SD_SESSION_BUCKETS];
	int	init;
} sessions;

static void
sessions_init(void)
{
	size_t i;

	if (sessions.init)
		return;
	for (i = 0; i < C2SD_SESSION_BUCKETS; i++)
		TAILQ_INIT(&sessions.b[i]);
	sessions.init = 1;
}

struct session *
session_find(uint64_t id)
{
	struct session *s;

	sessions_init();
	TAILQ_FOREACH(s, &sessions.b[id % C2SD_SESSION_BUCKETS], hash_entry)
		if (s->id == id)
			return s;
	return NULL;
}

/* Sets the session's JID: "full\0bare\0local\0domain\0resource\0" in
 * one allocation.  -1 if a part is too long for a JID or memory is out. */
int
session_set_jid(struct session *s, const char *local, const char *domain,
    const char *resource)
{
	size_t	 ll = strlen(local), dl = strlen(domain), rl = strlen(resource);
	char	*p;

	if (ll == 0 || ll > JID_PART_MAX || dl == 0 || dl > JID_PART_MAX ||
	    rl == 0 || rl > JID_PART_MAX)
		return -1;
	if ((p = malloc(2 * (ll + dl + rl) + ll + dl + 9)) == NULL)
		return -1;
	free(s->full);
	s->full = p;
	p += sprintf(p, "%s@%s/%s", local, domain, resource) + 1;
	s->bare = p;
	p += sprintf(p, "%s@%s", local, domain) + 1;
	s->local = memcpy(p, local, ll + 1);
	p += ll + 1;
	s->domain = memcpy(p, domain, dl + 1);
	p += dl + 1;
	s->resource = memcpy(p, resource, rl + 1);
	return 0;
}

/* What jid_equal() and jid_bare_equal() answer for the session's JID. */
int
session_is_bare(const struct session *s, const struct jid *j)
{
	return strcmp(j->local, s->local) == 0 &&
	    strcmp(j->domain, s->domain) == 0;
}

int
session_is_jid(const struct session *s, const struct jid *j)
{
	return session_is_bare(s, j) && strcmp(j->resource, s->resource) == 0;
}

/* A session the c2sd before us had, handed back by routerd: hibernating
 * until its client resumes (c2sd_smstate.c).  NULL if the id is taken. */
struct session *
session_restore(const struct jid *j, uint64_t id)
{
	struct session *s;

	if (session_find(id) != NULL || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->id = id;
	if (session_set_jid(s, j->local, j->domain, j->resource) == -1) {
		free(s);
		return NULL;
	}
	c2sd_id_above(id);
	TAILQ_INIT(&s->unacked);
	TAILQ_INIT(&s->held);
	s->state = SS_HIBERNATING;
	s->available = 1;
	TAILQ_INSERT_HEAD(&sessions.b[id % C2SD_SESSION_BUCKETS], s,
	    hash_entry);
	return s;
}

/* Turn `n` into its own error reply (RFC 6120 8.3): swap to/from, type
 * error, and an <error/> child with the defined condition. */
void
stanza_make_error(struct xnode *n, const char *type, const char *cond,
    const char *text)
{
	const char	*f, *t;
	char		*from = NULL, *to = NULL;
	struct xnode	*e, *x;

	f = xnode_attr(n, "from");
	t = xnode_attr(n, "to");
	if (f)
		from = strdup(f);
	if (t)
		to = strdup(t);
	xnode_set_attr(n, "from", to);
	xnode_set_attr(n, "to", from);
	free(from);
	free(to);
	xnode_set_attr(n, "type", "error");
	if ((e = xnode_add_child(n, "error", XMLNS_CLIENT)) == NULL)
		return;
	xnode_set_attr(e, "type", type);
	xnode_add_child(e, cond, NS_STANZAS);
	if (text && (x = xnode_add_child(e, "text", NS_STANZAS)) != NULL)
		xnode_add_text(x, text, strlen(text));
}

static const char *
error_type(const char *cond)
{
	if (strcmp(cond, "jid-malformed") == 0 ||
	    strcmp(cond, "bad-request") == 0)
		return "modify";
	if (strcmp(cond, "resource-constraint") == 0 ||
	    strcmp(cond, "recipient-unavailable") == 0)
		return "wait";
	return "cancel";
}

/* Parse a frame body.  Bodies are in the jabber:client default namespace
 * without declaring it (docs/frames.md), so parse them inside a wrapper
 * that declares it, as the client's stream did. */
struct xnode *
stanza_parse(const char *xml, size_t len)
{
	static const char open[] = "<w xmlns='" XMLNS_CLIENT "'>";
	struct xbuf	 b;
	struct xnode	*root, *n = NULL;

	xbuf_init(&b);
	xbuf_add(&b, open, sizeof(open) - 1);
	xbuf_add(&b, xml, len);
	xbuf_adds(&b, "</w>");
	if (!b.failed && (root = xml_parse_element(b.data, b.len, NULL)) != NULL) {
		if ((n = xnode_first_elem(root)) != NULL &&
		    xnode_next_elem(n) == NULL)
			xnode_unlink(n);
		else
			n = NULL;
		xnode_free(root);
	}
	xbuf_free(&b);
	return n;
}

/* Does this stanza deserve an error reply at all (RFC 6120 8.3.1)? */
static int
wants_error(uint8_t kind, uint8_t stype)
{
	if (stype == RS_ERROR)
		return 0;
	if (kind == RK_MESSAGE)
		return 1;
	return kind == RK_IQ && (stype == RS_GET || stype == RS_SET);
}

/* Answer an undeliverable routed stanza through routerd. */
void
session_error_reply(uint8_t kind, uint8_t stype, const char *xml,
    size_t len, const char *cond, uint64_t sess)
{
	struct xnode	*n;
	struct xbuf	 b;
	struct fout	*f;
	const char	*from, *to;

	if (!wants_error(kind, stype) ||
	    (n = stanza_parse(xml, len)) == NULL)
		return;
	stanza_make_error(n, error_type(cond), cond, NULL);
	from = xnode_attr(n, "from");
	to = xnode_attr(n, "to");
	if (to == NULL) {
		xnode_free(n);
		return;
	}
	xbuf_init(&b);
	xml_serialize(&b, n, XMLNS_CLIENT);
	if (!b.failed) {
		f = fout_stanza(kind, RS_ERROR, from, to, b.data, b.len);
		f->hdr.session = sess;
		(void)link_send(daemon_link, f);
	}
	xbuf_free(&b);
	xnode_free(n);
}

/* JID attribute `name` of a serialized stanza, normalized into `out`;
 * NULL if absent or not a JID. */
static const char *
body_jid(const char *xml, size_t len, const char *name, char *out,
    size_t outlen)
{
	struct xnode	*n;
	const char	*v;
	int		 rv = -1;

	if ((n = stanza_parse(xml, len)) == NULL)
		return NULL;
	if ((v = xnode_attr(n, name)) != NULL)
		rv = jid_normalize(v, out, outlen);
	xnode_free(n);
	return rv == 0 ? out : NULL;
}

/*
 * A routed stanza did not reach the client because of the client
 * (hibernation over, output queue overflow, session gone).  A message goes
 * back to routerd as it was, with RFF_UNDELIVERED and its original from
 * and to, and routerd hands it to imd for offline storage (docs/imd.md);
 * an iq get/set gets the error `cond`; presence is dropped (RFC 6121
 * 4.x: presence is never stored).  from/to may be NULL: taken from the
 * body then.
 */
void
session_return_to(uint64_t sess, uint8_t kind, uint8_t stype,
    const char *from, const char *to, const char *xml, size_t len,
    const char *cond)
{
	char		 fb[JID_MAX + 1], tb[JID_MAX + 1];
	struct fout	*f;

	if (kind != RK_MESSAGE) {
		session_error_reply(kind, stype, xml, len, cond, sess);
		return;
	}
	if (from == NULL)
		from = body_jid(xml, len, "from", fb, sizeof(fb));
	if (to == NULL)
		to = body_jid(xml, len, "to", tb, sizeof(tb));
	if (from == NULL || to == NULL ||
	    (f = fout_stanza(kind, stype, from, to, xml, len)) == NULL) {
		log_warnx("undeliverable message for %s dropped",
		    to ? to : "(no to)");
		return;
	}
	f->hdr.session = sess;
	f->hdr.flags |= RFF_UNDELIVERED;
	if (c2sd_send_kept(f) == -1)
		log_warnx("undeliverable message for %s: over the spill "
		    "limit, dropped", to);
}

/* The same for a stanza that was on its way to session `s`: a message
 * with no 'to' (sent to oneself) was for this session. */
void
session_return(struct session *s, uint8_t kind, uint8_t stype,
    const char *xml, size_t len, const char *cond)
{
	char		 tb[JID_MAX + 1];
	const char	*to = NULL;

	if (s && kind == RK_MESSAGE &&
	    (to = body_jid(xml, len, "to", tb, sizeof(tb))) == NULL)
		to = s->full;
	session_return_to(s ? s->id : 0, kind, stype, NULL, to, xml, len,
	    cond);
}

/* Serialize `n` and deliver it to the session's client. */
void
session_deliver_node(struct session *s, struct xnode *n)
{
	struct xbuf	b;
	uint8_t		kind = stanza_kind(n->name);

	xbuf_init(&b);
	xml_serialize(&b, n, XMLNS_CLIENT);
	if (!b.failed)
		session_deliver(s, kind, stanza_stype(kind,
		    xnode_attr(n, "type")), xnode_attr(n, "from"), b.data, b.len);
	xbuf_free(&b);
}

void
session_send_node(struct session *s, struct xnode *n)
{
	session_deliver_node(s, n);
}

/* Every stanza to the client goes through here: CSI holding first. */
void
session_deliver(struct session *s, uint8_t kind, uint8_t stype,
    const char *from, const char *xml, size_t len)
{
	if (s->inactive && kind == RK_PRESENCE && from &&
	    csi_hold(s, from, xml, len) == 0)
		return;
	if (kind == RK_MESSAGE && s->nheld)
		csi_flush(s);	/* XEP-0352: held presence goes first */
	session_write(s, kind, stype, xml, len);
}

/* Write to the client, count for stream management, or keep it while the
 * session hibernates (bounded by sm-max-unacked; past that, bounced). */
void
session_write(struct session *s, uint8_t kind, uint8_t stype,
    const char *xml, size_t len)
{
	if (s->conn && s->conn->state == CS_CLOSING) {
		/* our </stream:stream> is out: nothing more may follow */
		session_return(s, kind, stype, xml, len,
		    "service-unavailable");
		return;
	}
	if (s->conn == NULL) {
		if (s->sm && s->nunacked < c2sd_conf.sm_max_unacked)
			sm_sent(s, kind, stype, xml, len);
		else
			session_return(s, kind, stype, xml, len,
			    "service-unavailable");
		return;
	}
	conn_write_stanza(s->conn, kind, stype, xml, len);
	if (s->sm)
		sm_sent(s, kind, stype, xml, len);
}

static void
session_free(struct session *s)
{
	if (s->conn) {
		s->conn->session = NULL;
		s->conn = NULL;
	}
	TAILQ_REMOVE(&sessions.b[s->id % C2SD_SESSION_BUCKETS], s, hash_entry);
	sm_free(s);
	free(s->full);
	free(s);
}

/* The session is over: tell routerd (unless it already knows), answer
 * what stream management still held, free. */
void
session_end(struct session *s, int unbind)
{
	struct fout *f;

	sm_bounce_unacked(s);	/* while the route still exists */
	if (unbind && s->state != SS_BINDING) {
		f = fout_new(RF_SESSION_UNBIND, s->full, NULL);
		f->hdr.session = s->id;
		(void)link_send(daemon_link, f);
	}
	log_debug("session %llu %s ended", (unsigned long long)s->id, s->full);
	session_free(s);
}

/* c2sd is stopping (a restart): leave a resumable session to routerd,
 * which keeps it for the next c2sd.  1 if `c` lost its session so. */
int
session_keep_resumable(struct conn *c)
{
	struct session *s = c->session;

	if (s == NULL || !s->sm_resume || s->state != SS_BOUND ||
	    c->state != CS_ESTABLISHED || c->proto == CP_BOSH)
		return 0;
	c->session = NULL;
	s->conn = NULL;
	conn_forget_stanzas(c);	/* the unacked queue (and routerd) has them */
	s->state = SS_HIBERNATING;
	return 1;
}

void
session_conn_gone(struct conn *c, int clean)
{
	struct session *s = c->session;

	if (s == NULL)
		return;
	c->session = NULL;
	s->conn = NULL;
	if (s->sm)
		conn_forget_stanzas(c);	/* the unacked queue has them */
	if (s->state == SS_BINDING)
		return;	/* freed when RF_SESSION_BOUND arrives */
	if (!clean && s->sm && s->sm_resume && c2sd_conf.sm_hibernate > 0)
		sm_hibernate(s);
	else
		session_end(s, 1);
}

/* ---- binding (RFC 6120 section 7) ---- */

static int
bind_resource(struct conn *c, struct xnode *bind, char *res)
{
	struct xnode	*r;
	char		*t;
	int		 rv = 0;

	r = bind ? xnode_child(bind, "resource", NS_BIND) : NULL;
	t = r ? xnode_text(r) : NULL;
	if (t == NULL || *t == '\0') {
		free(t);
		c2sd_random_hex(res, 8);	/* section 7.6.2.1 */
		return 0;
	}
	if (jid_prep_resource(t, strlen(t), res) == -1)
		rv = -1;
	free(t);
	return rv;
}

void
session_bind_request(struct conn *c, struct xnode *iq)
{
	struct session	*s;
	struct fout	*f;
	const char	*id = xnode_attr(iq, "id"), *type = xnode_attr(iq, "type");
	char		 res[JID_PART_MAX + 1];

	if (id == NULL || type == NULL || strcmp(type, "set") != 0 ||
	    strlen(id) > C2SD_MAX_IQ_ID) {
		iq_conn_error(c, iq, "modify", "bad-request");
		return;
	}
	if (bind_resource(c, xnode_child(iq, "bind", NS_BIND), res) == -1) {
		iq_conn_error(c, iq, "modify", "bad-request");	/* 7.7.2.1 */
		return;
	}
	sessions_init();
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		iq_conn_error(c, iq, "wait", "resource-constraint");
		return;
	}
	s->id = c2sd_new_id();
	if (session_set_jid(s, c->user, c->host->name, res) == -1) {
		free(s);
		iq_conn_error(c, iq, "wait", "resource-constraint");
		return;
	}
	TAILQ_INIT(&s->unacked);
	TAILQ_INIT(&s->held);
	s->state = SS_BINDING;
	TAILQ_INSERT_HEAD(&sessions.b[s->id % C2SD_SESSION_BUCKETS], s,
	    hash_entry);
	s->conn = c;
	c->session = s;
	free(c->bind_iq_id);
	if ((c->bind_iq_id = strdup(id)) == NULL) {
		c->session = NULL;
		s->conn = NULL;
		session_free(s);
		iq_conn_error(c, iq, "wait", "resource-constraint");
		return;
	}
	c->state = CS_BIND_WAIT;
	f = fout_new(RF_SESSION_BIND, s->full, NULL);
	f->hdr.session = s->id;
	fout_put_u8(f, (uint8_t)c2sd_conf.resource_policy);
	if (link_send(daemon_link, f) == -1) {
		c->session = NULL;
		s->conn = NULL;
		c->state = CS_NEGOTIATE;
		session_free(s);
		iq_conn_error(c, iq, "wait", "resource-constraint");
	}
}

static void
bind_reply(struct conn *c, struct session *s, uint8_t result)
{
	struct xbuf b;

	xbuf_init(&b);
	xbuf_adds(&b, "<iq type='");
	xbuf_adds(&b, result == RBIND_OK ? "result" : "error");
	xbuf_adds(&b, "' id='");
	xbuf_add_attr(&b, c->bind_iq_id);
	xbuf_adds(&b, "'>");
	if (result == RBIND_OK) {
		xbuf_adds(&b, "<bind xmlns='" NS_BIND "'><jid>");
		xbuf_add_text(&b, s->full, strlen(s->full));
		xbuf_adds(&b, "</jid></bind>");
	} else if (result == RBIND_CONFLICT)	/* 7.7.2.2 */
		xbuf_adds(&b, "<error type='cancel'><conflict xmlns='"
		    NS_STANZAS "'/></error>");
	else	/* 7.6.2.1: too many resources */
		xbuf_adds(&b, "<error type='wait'><resource-constraint xmlns='"
		    NS_STANZAS "'/></error>");
	xbuf_adds(&b, "</iq>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

void
session_bound(struct frame *f)
{
	struct session	*s = session_find(f->hdr.session);
	struct conn	*c;
	uint8_t		 result;

	if (s == NULL || s->state != SS_BINDING)
		return;
	if (frame_get_u8(f, &result) == -1 || frame_get_end(f) == -1)
		result = RBIND_LIMIT;
	if ((c = s->conn) == NULL) {	/* the client left meanwhile */
		s->state = SS_BOUND;
		session_end(s, result == RBIND_OK);
		return;
	}
	bind_reply(c, s, result);
	free(c->bind_iq_id);
	c->bind_iq_id = NULL;
	if (result != RBIND_OK) {
		session_free(s);
		c->state = CS_NEGOTIATE;
	} else {
		s->state = SS_BOUND;
		c->state = CS_ESTABLISHED;
		log_info("session %llu bound %s", (unsigned long long)s->id,
		    s->full);
	}
	stream_replay_pending(c);
}

/* The account `j` is gone (XEP-0077 3.2): every session of it here but
 * `keep` ends with a stream error; hibernating ones end now. */
void
session_close_account(const struct jid *j, const struct session *keep,
    const char *cond, const char *text)
{
	struct session	*s, *next;
	size_t		 i;

	sessions_init();
	for (i = 0; i < C2SD_SESSION_BUCKETS; i++)
		for (s = TAILQ_FIRST(&sessions.b[i]); s; s = next) {
			next = TAILQ_NEXT(s, hash_entry);
			if (s == keep || s->state == SS_BINDING ||
			    !session_is_bare(s, j))
				continue;
			if (s->conn)
				conn_stream_error(s->conn, cond, text);
			else
				session_end(s, 1);
		}
}

/* The same full JID logged in elsewhere (RFC 6120 7.7.2.2, "replace"):
 * routerd has already moved the route, so no unbind. */
void
session_kick(struct frame *f)
{
	struct session	*s = session_find(f->hdr.session);
	struct conn	*c;

	if (s == NULL)
		return;
	log_info("session %llu %s replaced by a new login",
	    (unsigned long long)s->id, s->full);
	if ((c = s->conn) != NULL) {
		c->session = NULL;
		s->conn = NULL;
		if (s->sm)
			conn_forget_stanzas(c);
		conn_stream_error(c, "conflict",
		    "Replaced by a new connection for this resource");
	}
	s->state = SS_BINDING;	/* no unbind: the route is not ours */
	session_end(s, 0);
}

/* ---- client to routerd ---- */

/* Answer a client's stanza with an error from the server (to the client). */
static void
client_error(struct session *s, struct xnode *n, const char *cond)
{
	if (!wants_error(stanza_kind(n->name),
	    stanza_stype(stanza_kind(n->name), xnode_attr(n, "type"))) &&
	    strcmp(n->name, "presence") != 0)
		return;
	if (xnode_attr(n, "type") && strcmp(xnode_attr(n, "type"), "error") == 0)
		return;
	stanza_make_error(n, error_type(cond), cond, NULL);
	if (xnode_attr(n, "to") == NULL)
		xnode_set_attr(n, "to", s->full);
	session_deliver_node(s, n);
}

/* RFC 6121 4.7.2.3: priority is -128..127; out of range is bad-request,
 * we clamp instead and keep the client running. */
static int8_t
presence_priority(struct xnode *n)
{
	struct xnode	*p;
	char		*t, *end;
	long		 v = 0;

	if ((p = xnode_child(n, "priority", XMLNS_CLIENT)) != NULL &&
	    (t = xnode_text(p)) != NULL) {
		v = strtol(t, &end, 10);
		if (end == t)
			v = 0;
		free(t);
	}
	return v < -128 ? -128 : v > 127 ? 127 : (int8_t)v;
}

static void route_out(struct session *, struct xnode *, uint8_t, uint8_t,
	    const char *, uint16_t);

/* Presence without 'to' (RFC 6121 4.2, 4.4, 4.5): routerd's session state
 * first (SESSION_PRESENCE), then the stanza itself, marked RFF_BROADCAST
 * and addressed to the sender's bare JID, for imd to broadcast. */
static void
broadcast_presence(struct session *s, struct xnode *n, uint8_t stype)
{
	struct fout *f;

	if (stype != RS_AVAILABLE && stype != RS_UNAVAILABLE)
		return;	/* subscriptions and probes need a 'to' */
	s->available = stype == RS_AVAILABLE;
	if ((f = fout_new(RF_SESSION_PRESENCE, s->full, NULL)) == NULL)
		return;
	f->hdr.session = s->id;
	fout_put_u8(f, (uint8_t)presence_priority(n));
	fout_put_u8(f, s->available ? 1 : 0);
	(void)link_send(daemon_link, f);
	route_out(s, n, RK_PRESENCE, stype, s->bare, RFF_BROADCAST);
}

static void
route_out(struct session *s, struct xnode *n, uint8_t kind, uint8_t stype,
    const char *to, uint16_t flags)
{
	/* one buffer for every stanza (c2sd is single-threaded): no malloc
	 * and regrowth per message; a large stanza does not keep it big */
	static struct xbuf	 b;
	struct fout		*f;

	xbuf_reset(&b);
	xml_serialize(&b, n, XMLNS_CLIENT);
	if (b.failed) {
		xbuf_free(&b);
		client_error(s, n, "internal-server-error");
		return;
	}
	f = fout_stanza(kind, stype, s->full, to, b.data, b.len);
	if (b.cap > 16384)
		xbuf_free(&b);
	if (f == NULL) {
		client_error(s, n, "internal-server-error");
		return;
	}
	f->hdr.session = s->id;
	f->hdr.flags |= flags;
	/* routerd keeps the client's count of a resumable session from
	 * the stanzas that reached it (c2sd_smstate.c) */
	if (s->sm_resume)
		f->hdr.corr = s->h_in;
	/* imd archives and delivers a plain message without parsing it
	 * again (docs/performance.md, "The message fast path"). */
	if (kind == RK_MESSAGE && stanza_msg_plain(n))
		f->hdr.flags |= RFF_PLAINMSG;
	if (link_send(daemon_link, f) == -1)
		client_error(s, n, "resource-constraint");
}

/* RFC 6120 8.1.2.1: a 'from' other than the session's full or bare JID
 * is a stream error; otherwise we stamp the full JID. */
static int
check_from(struct session *s, struct xnode *n)
{
	const char	*from = xnode_attr(n, "from");
	struct jid	 j;

	if (from == NULL)
		return 0;
	if (jid_parse(from, strlen(from), &j) == -1)
		return -1;
	if (session_is_jid(s, &j))
		return 0;
	if (j.resource[0] == '\0' && session_is_bare(s, &j))
		return 0;
	return -1;
}

/* iq get/set need an id and exactly one payload (RFC 6120 8.2.3). */
static int
iq_valid(struct xnode *n, uint8_t stype)
{
	struct xnode *p;

	if (xnode_attr(n, "id") == NULL || stype == RS_NONE)
		return 0;
	if (stype != RS_GET && stype != RS_SET)
		return 1;
	return (p = xnode_first_elem(n)) != NULL && xnode_next_elem(p) == NULL;
}

/* XEP-0402 5.3: pepd keeps XEP-0048 bookmarks in Private XML Storage
 * (XEP-0049) as a view of the urn:xmpp:bookmarks:1 node (docs/pep.md,
 * "Bookmarks compatibility"); other private namespaces stay in imd. */
static int
private_bookmarks(const struct xnode *p)
{
	const struct xnode *c = xnode_first_elem(p);

	return strcmp(p->ns, "jabber:iq:private") == 0 &&
	    strcmp(p->name, "query") == 0 && c != NULL && c->ns != NULL &&
	    strcmp(c->ns, "storage:bookmarks") == 0;
}

/* An iq to the account itself (no 'to', or the user's own bare JID):
 * the few that are about the stream or the server are ours, pubsub and
 * PEP disco go to pepd (RFF_PEP, pubsub.h), the rest to imd, with 'to' = the bare JID in the
 * header (the body keeps what the client wrote). */
static void
iq_account(struct session *s, struct xnode *n, uint8_t stype, int have_to)
{
	struct xnode *p = xnode_first_elem(n);

	if (stype != RS_GET && stype != RS_SET)
		return;	/* a result or error for us: nothing waits for it */
	if (!have_to && p && p->ns && handler_find(p->ns, p->name, H_NOTO)) {
		iq_local(s, n, H_NOTO);
		return;
	}
	if (pubsub_iq_for_pep(n, stype) || (p && p->ns && private_bookmarks(p))) {
		route_out(s, n, RK_IQ, stype, s->bare, RFF_PEP);
		return;
	}
	route_out(s, n, RK_IQ, stype, s->bare, 0);
}

static void
route_local(struct session *s, struct xnode *n, uint8_t kind, uint8_t stype,
    struct jid *to, int have_to)
{
	if (!have_to) {
		if (kind == RK_IQ)
			iq_account(s, n, stype, 0);
		else if (kind == RK_PRESENCE)
			broadcast_presence(s, n, stype);
		else	/* RFC 6120 10.3.1: as if to the bare JID */
			route_out(s, n, kind, stype, s->bare, 0);
		return;
	}
	if (to->local[0] == '\0') {	/* the domain itself */
		if (kind == RK_IQ)
			iq_local(s, n, H_SERVER);
		else if (kind == RK_MESSAGE)
			client_error(s, n, "service-unavailable");
		return;	/* presence to the server: nothing to do */
	}
	iq_account(s, n, stype, 1);
}

/* docs/pep.md, "Routing to pepd": what goes to pepd (RFF_PEP) when
 * sent to an account's bare JID, its own or another's: pubsub requests
 * and PEP service discovery (XEP-0163, XEP-0060 5.2-5.5), and a client's
 * result or error to the caps question (XEP-0115) pepd asks from an
 * account's bare JID; imd has nothing waiting for any of them. */
static int
for_pepd(struct xnode *n, uint8_t kind, uint8_t stype,
    const struct jid *to)
{
	if (kind != RK_IQ || to->local[0] == '\0' || to->resource[0] != '\0')
		return 0;
	return pubsub_iq_for_pep(n, stype);
}

void
session_client_stanza(struct conn *c, struct xnode *n)
{
	struct session	*s = c->session;
	struct jid	 to;
	char		 tos[JID_MAX + 1];
	const char	*ta;
	uint8_t		 kind, stype;
	int		 have_to = 0;

	if ((kind = stanza_kind(n->name)) == RK_NONE) {
		conn_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	if (s->sm)
		s->h_in++;	/* XEP-0198 4: every stanza counts */
	if (check_from(s, n) == -1) {
		conn_stream_error(c, "invalid-from", NULL);
		return;
	}
	xnode_set_attr(n, "from", s->full);
	stype = stanza_stype(kind, xnode_attr(n, "type"));
	if (stype == RS_NONE || (kind == RK_IQ && !iq_valid(n, stype))) {
		client_error(s, n, "bad-request");
		return;
	}
	if ((ta = xnode_attr(n, "to")) != NULL) {
		if (jid_parse(ta, strlen(ta), &to) == -1 ||
		    jid_format(&to, tos, sizeof(tos)) < 0) {
			client_error(s, n, "jid-malformed");
			return;
		}
		xnode_set_attr(n, "to", tos);
		have_to = 1;
	}
	if (have_to && for_pepd(n, kind, stype, &to)) {
		route_out(s, n, kind, stype, tos, RFF_PEP);
		return;
	}
	if (!have_to || (to.local[0] == '\0' && to.resource[0] == '\0' &&
	    strcmp(to.domain, s->domain) == 0) ||
	    (kind == RK_IQ && to.resource[0] == '\0' &&
	    session_is_bare(s, &to))) {
		route_local(s, n, kind, stype, &to, have_to);
		return;
	}
	route_out(s, n, kind, stype, tos, 0);
}

/* ---- routerd to client ---- */

void
session_routed_stanza(struct frame *f)
{
	struct session	*s = session_find(f->hdr.session);
	const uint8_t	*body;
	size_t		 len;

	frame_get_rest(f, &body, &len);
	if (s == NULL || s->state == SS_BINDING) {
		session_return_to(0, f->hdr.kind, f->hdr.stype, f->from, f->to,
		    (const char *)body, len, "service-unavailable");
		return;
	}
	/* routerd's number of a message it keeps for resumption */
	if (f->hdr.kind == RK_MESSAGE && f->hdr.corr != 0) {
		s->cur_rseq = f->hdr.corr;
		s->rseq_last = f->hdr.corr;
		sm_dirty(s);
	}
	session_deliver(s, f->hdr.kind, f->hdr.stype, f->from,
	    (const char *)body, len);
	s->cur_rseq = 0;
}

static const char *const bounce_conds[RB_MAX + 1] = {
	[RB_SERVICE_UNAVAILABLE] = "service-unavailable",
	[RB_ITEM_NOT_FOUND] = "item-not-found",
	[RB_REMOTE_SERVER_NOT_FOUND] = "remote-server-not-found",
	[RB_RESOURCE_CONSTRAINT] = "resource-constraint",
	[RB_RECIPIENT_UNAVAILABLE] = "recipient-unavailable",
	[RB_NOT_ALLOWED] = "not-allowed",
};

/* routerd could not deliver what our client sent: tell the client. */
void
session_bounce(struct frame *f)
{
	struct session	*s = session_find(f->hdr.session);
	struct xnode	*n;
	const uint8_t	*body;
	size_t		 len;
	uint8_t		 why;
	const char	*cond;

	if (frame_get_u8(f, &why) == -1)
		return;
	frame_get_rest(f, &body, &len);
	if (s == NULL || s->state == SS_BINDING ||
	    !wants_error(f->hdr.kind, f->hdr.stype))
		return;
	cond = why <= RB_MAX && bounce_conds[why] ? bounce_conds[why] :
	    "service-unavailable";
	if ((n = stanza_parse((const char *)body, len)) == NULL)
		return;
	stanza_make_error(n, error_type(cond), cond, NULL);
	session_deliver_node(s, n);
	xnode_free(n);
}
