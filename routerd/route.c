/*
 * route.c - the routing table and the frame switch of routerd.
 *
 * The table maps bare JIDs of local accounts to their bound sessions
 * (child, session id, priority, availability).  Stanzas are routed on the
 * header's `to` JID alone; bodies are copied byte for byte.  Before a
 * stanza is routed its `from` must be a JID the sending link may speak for
 * (a session it bound); otherwise it is dropped and logged.
 *
 * What cannot be delivered is returned to the sender as RF_BOUNCE with a
 * condition; the sender, which holds the parsed stanza, writes the error.
 * Until imd runs, a message to a bare JID goes to the available resources
 * of highest non-negative priority (RFC 6121 section 8.5.2.1) and, with none,
 * bounces service-unavailable (docs/routing.md).
 *
 * A daemon that served before and is restarting still owns its traffic:
 * pass() holds frames for it (holdq.c) until it is READY again, and marks
 * them `retain` so that, for a daemon that acknowledges (RCAP_ACK), the
 * link keeps them until they are processed and they are replayed if it
 * dies first.  Frames that were on their way to a dead c2sd are handed
 * to imd as undelivered (route_orphaned), so messages reach offline
 * storage rather than vanishing with the process; a resumable XEP-0198
 * session is parked instead, for the next c2sd (park.c).
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "log.h"
#include "routerd.h"
#include "route.h"
#include "smrec.h"

static void	*bare_root;
static size_t	 nsessions;

struct jidref {
	const char	*bare;		/* "local@domain" or "domain" */
	size_t		 bare_len;
	const char	*domain;
	size_t		 domain_len;
	const char	*resource;	/* NULL if none */
	int		 has_local;
};

/* Split a normalized JID; the bytes were validated by the sender. */
static void
jid_split(const char *jid, struct jidref *r)
{
	const char *slash = strchr(jid, '/'), *at;
	size_t blen = slash ? (size_t)(slash - jid) : strlen(jid);

	r->bare = jid;
	r->bare_len = blen;
	r->resource = slash ? slash + 1 : NULL;
	at = memchr(jid, '@', blen);
	r->has_local = at != NULL;
	r->domain = at ? at + 1 : jid;
	r->domain_len = blen - (r->domain - jid);
}

static int
bare_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bare *)a)->jid, ((const struct bare *)b)->jid);
}

static struct bare *
bare_find(const char *jid, size_t len)
{
	char		 buf[sizeof(struct bare) + FRAME_JID_MAX + 1];
	struct bare	*key = (struct bare *)buf, **found;

	if (len > FRAME_JID_MAX)
		return NULL;
	memcpy(key->jid, jid, len);
	key->jid[len] = '\0';
	found = tfind(key, &bare_root, bare_cmp);
	return found ? *found : NULL;
}

static struct session *
session_find(const char *full)
{
	struct jidref	 r;
	struct bare	*b;
	struct session	*s;

	jid_split(full, &r);
	if (r.resource == NULL || (b = bare_find(r.bare, r.bare_len)) == NULL)
		return NULL;
	for (s = b->sessions; s; s = s->next)
		if (strcmp(s->resource, r.resource) == 0)
			return s;
	return NULL;
}

int
route_is_local_domain(const char *domain, size_t len)
{
	struct conf_host *h;

	TAILQ_FOREACH(h, &rd.conf->hosts, entry)
		if (strlen(h->name) == len && memcmp(h->name, domain, len) == 0)
			return 1;
	return 0;
}

size_t
route_count(void)
{
	return nsessions;
}

/* The daemon that serves `cap`: running, or restarting (it announced
 * `cap` before and is enabled), in which case its frames wait in holdq. */
static struct child *
serving(enum daemon_id d, uint32_t cap)
{
	struct child *c = &rd.children[d];

	return rd.conf->daemons[d].enabled && (c->caps & cap) ? c : NULL;
}

static struct child *
imd_child(void)
{
	return serving(D_IMD, RCAP_IM);
}

int
route_holdable(const struct child *ch)
{
	return ch->id != D_C2SD && rd.conf->daemons[ch->id].enabled;
}

/* Queue `out` for `dst`; while `dst` is down, or frames for it still wait
 * (order), hold it instead.  -1 when neither is possible. */
static int
pass(struct child *dst, struct fout *out, int retain)
{
	if (out == NULL)
		return -1;
	out->retain = retain;
	if (route_holdable(dst) && (!dst->ready || dst->link == NULL ||
	    holdq_busy(dst)))
		return holdq_push(dst, out);
	if (dst->link == NULL) {
		fout_free(out);
		return -1;
	}
	return link_send(dst->link, out);
}

static void
send_to(struct child *ch, struct fout *f);

/* Tell imd a session ended, so it broadcasts unavailable for it. */
static void
imd_session_gone(const struct session *s)
{
	char		 full[FRAME_JID_MAX + 1];
	struct child	*imd = imd_child();
	struct fout	*f;

	if (imd == NULL || s->child == imd ||
	    (size_t)snprintf(full, sizeof(full), "%s/%s", s->bare->jid,
	    s->resource) >= sizeof(full))
		return;
	if ((f = fout_new(RF_SESSION_GONE, full, NULL)) == NULL)
		return;
	f->hdr.session = s->sid;
	if (pass(imd, f, 1) == -1)
		log_warnx("cannot tell imd that %s is gone", full);
}

static void
imd_session_presence(const struct session *s)
{
	char		 full[FRAME_JID_MAX + 1];
	struct child	*imd = imd_child();
	struct fout	*f;

	/* Not held: a restarted imd gets the whole table (replay_sessions). */
	if (imd == NULL || !imd->ready ||
	    (size_t)snprintf(full, sizeof(full), "%s/%s",
	    s->bare->jid, s->resource) >= sizeof(full))
		return;
	if ((f = fout_new(RF_SESSION_PRESENCE, full, NULL)) == NULL)
		return;
	f->hdr.session = s->sid;
	f->hdr.origin = ORIGIN_CHILD(s->child->id);
	fout_put_u8(f, (uint8_t)(int8_t)s->priority);
	fout_put_u8(f, s->available);
	/* Straight to the link, ahead of frames still held for imd: they
	 * are stanzas for these sessions, and a message imd handles before
	 * it knows the recipient's session goes to offline storage. */
	f->retain = 1;
	if (imd->link == NULL || link_send(imd->link, f) == -1)
		log_warnx("cannot tell imd about session %s", full);
}

/* imd (re)started: give it every bound session (docs/imd.md). */
void
route_replay_sessions(void)
{
	struct session	*s;
	int		 d;

	for (d = 0; d < D_COUNT; d++)
		TAILQ_FOREACH(s, &rd.children[d].sessions, by_child)
			imd_session_presence(s);
	park_foreach(imd_session_presence);
}

/* pepd (re)started and knows no contact: imd, if it runs, says again
 * which online resources each account's PEP sees (docs/pep.md,
 * "Contacts"). */
void
route_pep_resync(void)
{
	struct child	*imd = imd_child();
	struct fout	*f;

	if (imd == NULL || !imd->ready ||
	    (f = fout_new(RF_PEP_RESYNC, NULL, NULL)) == NULL)
		return;
	f->hdr.flags = RFF_OPTIONAL;
	send_to(imd, f);
}

void
route_session_remove(struct session *s)
{
	struct bare	*b = s->bare;
	struct session	**pp;

	imd_session_gone(s);
	park_drop_record(s);

	for (pp = &b->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	if (s->parked)
		park_unlink(s);
	else
		TAILQ_REMOVE(&s->child->sessions, s, by_child);
	nsessions--;
	if (--b->count == 0) {
		tdelete(b, &bare_root, bare_cmp);
		free(b);
	}
	free(s);
}

static struct session *
session_add(struct child *ch, const struct jidref *r, uint64_t sid)
{
	struct bare	*b, **slot;
	struct session	*s;

	if ((b = bare_find(r->bare, r->bare_len)) == NULL) {
		if ((b = calloc(1, sizeof(*b) + r->bare_len + 1)) == NULL)
			return NULL;
		memcpy(b->jid, r->bare, r->bare_len);
		if ((slot = tsearch(b, &bare_root, bare_cmp)) == NULL) {
			free(b);
			return NULL;
		}
	}
	if ((s = calloc(1, sizeof(*s) + strlen(r->resource) + 1)) == NULL) {
		if (b->count == 0) {
			tdelete(b, &bare_root, bare_cmp);
			free(b);
		}
		return NULL;
	}
	strcpy(s->resource, r->resource);
	s->bare = b;
	s->child = ch;
	s->sid = sid;
	s->next = b->sessions;
	b->sessions = s;
	b->count++;
	TAILQ_INSERT_TAIL(&ch->sessions, s, by_child);
	nsessions++;
	return s;
}

static void
send_to(struct child *ch, struct fout *f)
{
	if (pass(ch, f, 1) == -1)
		log_warnx("cannot queue a frame for %s", ch->name);
}

static void
bind_reply(struct child *ch, uint64_t sid, uint8_t result)
{
	struct fout *f = fout_new(RF_SESSION_BOUND, NULL, NULL);

	if (f == NULL)
		return;
	f->hdr.session = sid;
	fout_put_u8(f, result);
	send_to(ch, f);
}

static void
kick(struct session *s)
{
	struct fout *f;

	if (s->parked) {	/* nobody to tell: its c2sd is gone */
		route_session_remove(s);
		return;
	}
	f = fout_new(RF_SESSION_KICK, NULL, NULL);
	if (f != NULL) {
		f->hdr.session = s->sid;
		fout_put_u8(f, RBIND_CONFLICT);
		send_to(s->child, f);
	}
	route_session_remove(s);
}

static void
on_bind(struct child *ch, struct frame *f)
{
	struct jidref	 r;
	struct session	*old;
	struct bare	*b;
	uint8_t		 policy;

	if (frame_get_u8(&*f, &policy) == -1 || frame_get_end(f) == -1) {
		log_warnx("%s: malformed SESSION_BIND", ch->name);
		return;
	}
	jid_split(f->from, &r);
	if (!r.has_local || r.resource == NULL || *r.resource == '\0' ||
	    !route_is_local_domain(r.domain, r.domain_len)) {
		log_warnx("%s: SESSION_BIND for a non-local JID", ch->name);
		bind_reply(ch, f->hdr.session, RBIND_CONFLICT);
		return;
	}
	if ((old = session_find(f->from)) != NULL) {
		if (policy == RBIND_POLICY_REFUSE) {
			bind_reply(ch, f->hdr.session, RBIND_CONFLICT);
			return;
		}
		kick(old);
	}
	b = bare_find(r.bare, r.bare_len);
	if (b && rd.max_resources && b->count >= rd.max_resources) {
		bind_reply(ch, f->hdr.session, RBIND_LIMIT);
		return;
	}
	if (session_add(ch, &r, f->hdr.session) == NULL) {
		bind_reply(ch, f->hdr.session, RBIND_LIMIT);
		return;
	}
	bind_reply(ch, f->hdr.session, RBIND_OK);
}

/* The session named by from+session that this child bound, or NULL. */
struct session *
route_own_session(struct child *ch, struct frame *f)
{
	struct session *s = session_find(f->from);

	/* A parked session belongs to no running c2sd until it is handed
	 * over (route_sm_hand_over). */
	if (s == NULL || s->child != ch || s->sid != f->hdr.session ||
	    s->parked)
		return NULL;
	return s;
}

static void
on_unbind(struct child *ch, struct frame *f)
{
	struct session *s;

	if ((s = route_own_session(ch, f)) != NULL)
		route_session_remove(s);
}

static void
on_presence(struct child *ch, struct frame *f)
{
	struct session	*s;
	uint8_t		 prio, avail;

	if (frame_get_u8(f, &prio) == -1 || frame_get_u8(f, &avail) == -1 ||
	    frame_get_end(f) == -1 || (s = route_own_session(ch, f)) == NULL)
		return;
	s->priority = (int8_t)prio;
	s->available = avail != 0;
	imd_session_presence(s);
}

static void
bounce(struct child *ch, struct frame *f, enum rf_bounce why)
{
	struct fout *out;

	/* Never answer an error with an error (RFC 6120 8.3.1). */
	if (f->hdr.stype == RS_ERROR || f->hdr.kind == RK_PRESENCE)
		return;
	if ((out = fout_new(RF_BOUNCE, f->from, f->to)) == NULL)
		return;
	out->hdr.session = f->hdr.session;
	out->hdr.kind = f->hdr.kind;
	out->hdr.stype = f->hdr.stype;
	fout_put_u8(out, why);
	fout_put_raw(out, f->body, f->body_len);
	send_to(ch, out);
}

/* Forward a stanza to one session; backpressure on the source. */
static int
deliver(struct child *src, struct frame *f, struct session *s)
{
	struct fout *out;

	if (s->parked)
		return park_deliver(f, s);
	out = fout_copy(f);
	if (out == NULL || s->child->link == NULL) {
		fout_free(out);
		return -1;
	}
	out->hdr.session = s->sid;
	/* corr numbers the messages a resumable session's record keeps */
	out->hdr.corr = 0;
	if (s->sm != NULL && f->hdr.kind == RK_MESSAGE)
		(void)smrec_keep(s->sm, out);
	/* Kept while queued: if c2sd dies first, imd stores it offline. */
	out->retain = f->hdr.kind == RK_MESSAGE;
	if (link_send(s->child->link, out) == -1)
		return -1;
	if (link_over_hiwat(s->child->link) && src->link)
		link_block_on(src->link, s->child->link);
	return 0;
}

/* RFC 6121 8.5.2: a message to a bare JID goes to the available resources
 * of highest non-negative priority; presence to every available one. */
static int
deliver_bare(struct child *src, struct frame *f, struct bare *b)
{
	struct session	*s;
	int		 best = -1, n = 0;

	for (s = b ? b->sessions : NULL; s; s = s->next)
		if (s->available && s->priority > best)
			best = s->priority;
	for (s = b ? b->sessions : NULL; s; s = s->next) {
		if (!s->available)
			continue;
		if (f->hdr.kind == RK_MESSAGE && s->priority != best)
			continue;
		if (deliver(src, f, s) == 0)
			n++;
	}
	return n;
}

/* Hand a stanza unchanged to imd or a service daemon; origin still names
 * the sending link. */
static void
forward_to(struct child *src, struct frame *f, struct child *dst)
{
	if (pass(dst, fout_copy(f), 1) == -1) {
		bounce(src, f, RB_RESOURCE_CONSTRAINT);
		return;
	}
	if (dst->ready && dst->link && link_over_hiwat(dst->link) && src->link)
		link_block_on(src->link, dst->link);
}

/* What imd takes from a c2sd session (docs/imd.md): every message and
 * presence, and iq to a local bare JID. */
static int
for_imd(struct frame *f, const struct jidref *r)
{
	if (f->hdr.kind == RK_MESSAGE || f->hdr.kind == RK_PRESENCE)
		return 1;
	return f->hdr.kind == RK_IQ && r->has_local && r->resource == NULL &&
	    route_is_local_domain(r->domain, r->domain_len);
}

/* A local destination; `from_imd` stanzas never go back to imd. */
static void
route_local(struct child *ch, struct frame *f, const struct jidref *r,
    int from_imd)
{
	struct session *s;

	if (!r->has_local) {
		bounce(ch, f, RB_SERVICE_UNAVAILABLE);
		return;
	}
	if (r->resource && (s = session_find(f->to)) != NULL) {
		if (deliver(ch, f, s) == -1)
			bounce(ch, f, RB_RESOURCE_CONSTRAINT);
		return;
	}
	/* Bare JID, or a full JID with no such session (RFC 6121 8.5.3.2):
	 * iq is answered with an error; imd gets its messages back to store. */
	if (f->hdr.kind == RK_IQ || (from_imd && f->hdr.kind == RK_MESSAGE)) {
		bounce(ch, f, from_imd ? RB_RECIPIENT_UNAVAILABLE :
		    RB_SERVICE_UNAVAILABLE);
		return;
	}
	if (deliver_bare(ch, f, bare_find(r->bare, r->bare_len)) == 0 &&
	    f->hdr.kind == RK_MESSAGE)
		bounce(ch, f, RB_SERVICE_UNAVAILABLE);
}

/* Service subdomains of every hosted domain and the daemon behind each. */
static const struct {
	const char	*prefix;
	enum daemon_id	 daemon;
	uint32_t	 cap;
} services[] = {
	{ "conference.", D_MUCD, RCAP_MUC },
	{ "pubsub.", D_PEPD, RCAP_PEP },
};

/* Is `domain` a service domain?  Then *d names its daemon. */
static int
service_domain(const char *domain, size_t len, enum daemon_id *d)
{
	size_t i, pl;

	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		pl = strlen(services[i].prefix);
		if (len > pl && memcmp(domain, services[i].prefix, pl) == 0 &&
		    route_is_local_domain(domain + pl, len - pl)) {
			*d = services[i].daemon;
			return 1;
		}
	}
	return 0;
}

/* The daemon behind a service domain (running or restarting), or NULL. */
static struct child *
service_child(enum daemon_id d)
{
	size_t i;

	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (services[i].daemon == d)
			return serving(d, services[i].cap);
	return NULL;
}

static struct child *
s2sd_child(void)
{
	return serving(D_S2SD, RCAP_S2S);
}

/* May `ch` send a stanza with this `from`?  (docs/routing.md) */
static int
entitled(struct child *ch, struct frame *f)
{
	struct jidref	r;
	enum daemon_id	d;

	switch (ch->id) {
	case D_C2SD:
		return route_own_session(ch, f) != NULL;
	case D_IMD:
		return 1;
	case D_PEPD:
		/* PEP (XEP-0163): an account's bare JID is its pubsub service. */
		jid_split(f->from, &r);
		if (r.has_local && r.resource == NULL &&
		    route_is_local_domain(r.domain, r.domain_len))
			return 1;
		return service_domain(r.domain, r.domain_len, &d) && d == ch->id;
	case D_MUCD:
		jid_split(f->from, &r);
		return service_domain(r.domain, r.domain_len, &d) && d == ch->id;
	case D_S2SD:
		/* Remote servers and components: never a domain of ours. */
		jid_split(f->from, &r);
		return !route_is_local_domain(r.domain, r.domain_len) &&
		    !service_domain(r.domain, r.domain_len, &d);
	default:
		return 0;
	}
}

/* s2sd says the streams with a remote domain (`from`, one it may speak
 * for) were lost, for the accounts of a local domain (`to`): docs/pep.md,
 * "Remote contacts". */
static int
pep_domain_lost(struct child *ch, struct frame *f)
{
	struct jidref	r;

	if (ch->id != D_S2SD || !entitled(ch, f))
		return 0;
	jid_split(f->from, &r);
	if (r.has_local || r.resource != NULL)
		return 0;
	jid_split(f->to, &r);
	return !r.has_local && r.resource == NULL &&
	    route_is_local_domain(r.domain, r.domain_len);
}

static void
route_stanza(struct child *ch, struct frame *f)
{
	struct jidref	 r;
	struct child	*imd = imd_child(), *svc;
	enum daemon_id	 d;

	if (ch->id == D_C2SD && (f->hdr.flags & RFF_UNDELIVERED)) {
		/* c2sd returns what its client did not take: offline storage. */
		if (imd != NULL)
			forward_to(ch, f, imd);
		else
			log_warnx("undelivered stanza for %s while imd is down",
			    f->to);
		return;
	}
	if (!entitled(ch, f)) {
		log_warnx("%s: stanza from %s, which it may not speak for; "
		    "dropped", ch->name, f->from);
		return;
	}
	if (ch->id == D_C2SD && f->hdr.corr != 0)
		park_stanza_in(ch, f);
	jid_split(f->to, &r);
	if (service_domain(r.domain, r.domain_len, &d)) {
		if ((svc = service_child(d)) != NULL && svc != ch)
			forward_to(ch, f, svc);
		else
			bounce(ch, f, RB_SERVICE_UNAVAILABLE);
		return;
	}
	/* PEP requests to an account's bare JID (c2sd and s2sd mark them
	 * RFF_PEP, docs/pep.md "Routing to pepd"). */
	if ((ch->id == D_C2SD || ch->id == D_S2SD) &&
	    (f->hdr.flags & RFF_PEP) &&
	    f->hdr.kind == RK_IQ && r.has_local && r.resource == NULL &&
	    route_is_local_domain(r.domain, r.domain_len)) {
		/* pepd disabled (not merely starting): imd answers as for
		 * any iq to an account (disco without nodes, private XML,
		 * service-unavailable for pubsub). */
		if ((svc = service_child(D_PEPD)) != NULL ||
		    (!rd.conf->daemons[D_PEPD].enabled && (svc = imd) != NULL))
			forward_to(ch, f, svc);
		else
			bounce(ch, f, RB_SERVICE_UNAVAILABLE);
		return;
	}
	if (ch->id == D_C2SD && imd != NULL && for_imd(f, &r)) {
		forward_to(ch, f, imd);
		return;
	}
	if (!route_is_local_domain(r.domain, r.domain_len)) {
		/* Remote servers and components are s2sd's (docs/routing.md). */
		if ((svc = s2sd_child()) != NULL && svc != ch)
			forward_to(ch, f, svc);
		else
			bounce(ch, f, RB_REMOTE_SERVER_NOT_FOUND);
		return;
	}
	/* From a service or a remote server: a live full JID directly; the
	 * rest, and iq to an account's bare JID, through imd. */
	if (ch->id != D_C2SD && ch->id != D_IMD && imd != NULL && r.has_local &&
	    (r.resource == NULL || (f->hdr.kind != RK_IQ &&
	    session_find(f->to) == NULL))) {
		forward_to(ch, f, imd);
		return;
	}
	route_local(ch, f, &r, ch->id == D_IMD);
}

/* SASL steps go c2sd -> authd and back; origin says which c2sd. */
static void
route_service(struct child *ch, struct frame *f, enum daemon_id to)
{
	struct child	*dst;
	struct fout	*out;

	if (to == D_COUNT) {
		/* A reply: origin names the requesting link. */
		if (f->hdr.origin >= ORIGIN_CTL_FIRST) {
			control_reply_acct(f);
			return;
		}
		dst = child_by_origin(f->hdr.origin);
	} else
		dst = &rd.children[to];
	if (dst == NULL || !rd.conf->daemons[dst->id].enabled ||
	    (!route_holdable(dst) && (!dst->ready || dst->link == NULL))) {
		log_warnx("%s: %s for a daemon that is not running", ch->name,
		    frame_type_name(f->hdr.type));
		return;
	}
	if ((out = fout_copy(f)) != NULL)
		send_to(dst, out);
}

void
route_frame(struct child *ch, struct frame *f)
{
	int from_authd = ch->id == D_AUTHD;

	switch (f->hdr.type) {
	case RF_STANZA:
		route_stanza(ch, f);
		break;
	case RF_SESSION_BIND:
	case RF_SESSION_UNBIND:
	case RF_SESSION_PRESENCE:
		if (ch->id != D_C2SD)
			break;
		if (f->hdr.type == RF_SESSION_BIND)
			on_bind(ch, f);
		else if (f->hdr.type == RF_SESSION_UNBIND)
			on_unbind(ch, f);
		else
			on_presence(ch, f);
		break;
	case RF_SM_ENABLE:
	case RF_SM_STATE:
		if (ch->id == D_C2SD)
			park_on_sm(ch, f);
		break;
	case RF_PEP_PRESENCE:
		/* Optional contact presence for PEP (docs/pep.md, "Contacts"):
		 * dropped when pepd is not there to take it. */
		if ((ch->id == D_IMD || pep_domain_lost(ch, f)) &&
		    service_child(D_PEPD) != NULL && rd.children[D_PEPD].ready)
			route_service(ch, f, D_PEPD);
		break;
	case RF_ACCT_PASSWD:
	case RF_ACCT_DEL:
		/* XEP-0077 change/cancel: only for a session this c2sd bound;
		 * authd then checks that it is the account's own session. */
		if (ch->id == D_C2SD && route_own_session(ch, f) != NULL)
			route_service(ch, f, D_AUTHD);
		break;
	case RF_SASL_START:
	case RF_SASL_STEP:
	case RF_SASL_ABORT:
	case RF_ACCT_ADD:
		if (ch->id == D_C2SD)
			route_service(ch, f, D_AUTHD);
		break;
	case RF_SASL_CHALLENGE:
	case RF_SASL_SUCCESS:
	case RF_SASL_FAILURE:
	case RF_ACCT_RESULT:
		if (from_authd)
			route_service(ch, f, D_COUNT);
		break;
	default:
		log_warnx("%s sent an unexpected %s frame", ch->name,
		    frame_type_name(f->hdr.type));
		break;
	}
}

/* A held frame could not be delivered (queue full, waited too long, link
 * refused): its sender gets the stanza back as RF_BOUNCE.  Takes `out`. */
void
route_hold_failed(struct child *dst, struct fout *out, enum rf_bounce why)
{
	struct frame	 f;
	struct child	*src;
	const char	*err;

	fout_finish(out);
	if (frame_parse(out->buf, out->len, FRAME_MAX_LIMIT, &f, &err) == -1) {
		log_warnx("held frame for %s unreadable (%s)", dst->name, err);
		fout_free(out);
		return;
	}
	src = child_by_origin(f.hdr.origin);
	if (f.hdr.type == RF_STANZA && src != NULL && src != dst &&
	    src->ready && src->link) {
		bounce(src, &f, why);
		log_info("%s did not take a stanza for %s in time; returned "
		    "to %s", dst->name, f.to, src->name);
	} else
		log_warnx("%s frame for %s dropped: %s not running, sender "
		    "unknown or gone", frame_type_name(f.hdr.type), dst->name,
		    dst->name);
	fout_free(out);
}

/* Frames that were on their way to a c2sd that died: its sessions are
 * gone, so messages go to imd as undelivered (offline storage); the rest
 * (presence, iq to a session that no longer exists) is dropped. */
void
route_orphaned(struct child *ch, struct fout *chain)
{
	route_undeliver(ch, chain, 1);
}

/* Messages among `chain` go to imd as undelivered.  With `skip_kept`,
 * those numbered for a stream-management record (corr) are left to the
 * record, which holds the same message. */
void
route_undeliver(struct child *ch, struct fout *chain, int skip_kept)
{
	struct child	*imd = imd_child();
	struct fout	*f, *next;
	size_t		 n = 0;

	for (f = chain; f != NULL; f = next) {
		next = f->next;
		f->next = NULL;
		if (f->hdr.type != RF_STANZA || f->hdr.kind != RK_MESSAGE ||
		    f->hdr.stype == RS_ERROR || imd == NULL ||
		    (skip_kept && f->hdr.corr != 0)) {
			fout_free(f);
			continue;
		}
		f->hdr.corr = 0;
		f->hdr.flags |= RFF_UNDELIVERED;
		f->hdr.origin = ORIGIN_CHILD(ch->id);
		f->off = 0;
		if (pass(imd, f, 1) == 0)
			n++;
	}
	if (n > 0)
		log_info("%zu messages queued for %s's sessions go to offline "
		    "storage", n, ch->name);
}

void
route_child_gone(struct child *ch)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&ch->sessions)) != NULL) {
		if (s->sm != NULL && !rd.shutting_down)
			park_session(s);
		else
			route_session_remove(s);
	}
}

void
route_status(char *buf, size_t len)
{
	snprintf(buf, len, "sessions %zu\n", nsessions);
}

/* One line per bound session, for rampartctl routes and the tests. */
void
route_list(char *buf, size_t len)
{
	struct session	*s;
	size_t		 n = 0;
	int		 d, w;

	buf[0] = '\0';
	for (d = 0; d <= D_COUNT; d++) {
		/* last: sessions parked for the next c2sd (park.c) */
		s = d < D_COUNT ? TAILQ_FIRST(&rd.children[d].sessions) :
		    park_first();
		for (; s != NULL; s = TAILQ_NEXT(s, by_child)) {
			w = snprintf(buf + n, len - n, "%s/%s %s %llu %d %s\n",
			    s->bare->jid, s->resource, s->child->name,
			    (unsigned long long)s->sid, s->priority,
			    s->parked ? "parked" : s->available ? "available" :
			    "unavailable");
			if (w < 0 || (size_t)w >= len - n)
				return;
			n += w;
		}
	}
}
