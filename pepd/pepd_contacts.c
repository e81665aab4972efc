/*
 * pepd_contacts.c - what pepd knows of accounts' contacts, for the
 * "presence" access model and for PEP notifications (XEP-0163 4.3).
 *
 * imd feeds the mirror with RF_PEP_PRESENCE (docs/pep.md, "Contacts"):
 * one frame per local owner that may see a contact's resource, only for
 * subscriptions from/both, so an entry means "this full JID is online and
 * subscribed to the owner's presence", with the resource's XEP-0115 caps
 * (node, ver, hash) and the roster groups the owner put the contact in
 * (the "roster" access model, XEP-0060 4.5); contacts may be remote
 * (docs/pep.md, "Remote contacts"), and wider frames end every resource
 * of a bare JID (imd) or every contact at a domain whose streams were
 * lost (s2sd).  What a ver means comes from pepd_caps.c, which asks
 * and verifies it once for everybody; a contact comes online (or its ver
 * becomes known) -> the last item of each node it wants (XEP-0163 4.3.2);
 * a publish -> pep_contacts_fanout() adds the contacts whose caps want
 * the node.  Called by pepd.c (frames), pepd_node.c (access),
 * pepd_notify.c (fan-out) and pepd_caps.c (a ver known or failed).
 *
 * Invariants: the mirror holds at most PEP_MAX_CONTACTS entries, each
 * only while its resource is available; a resource is notified by caps
 * only through a verified cache entry, never on what it merely claims;
 * a resource whose answer for its ver failed (`bad`) is not asked that
 * ver again, and gets no caps notifications until it advertises another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pepd.h"

struct contact {
	char		*owner;		/* bare */
	char		*full;
	char		*bare;
	char		*node;		/* sized to use: an entry per online */
	char		*ver;		/* resource, 256-byte arrays were most of it */
	char		 hash[16];
	int		 bad;		/* its answer for ver failed */
	int		 greeted;	/* last items sent for this ver */
	struct pep_groups groups;	/* the owner's groups for it */
	struct contact	*next;
};

static struct contact	*contacts;
static size_t		 ncontacts;

int
pep_contact_subscribed(const char *owner, const char *contact)
{
	struct contact	*c;

	if (strcmp(owner, contact) == 0)
		return 1;
	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->owner, owner) == 0 &&
		    strcmp(c->bare, contact) == 0)
			return 1;
	return 0;
}

int
pep_contact_in_groups(const char *owner, const char *contact,
    const struct pep_groups *allowed)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->owner, owner) == 0 &&
		    strcmp(c->bare, contact) == 0 &&
		    pep_groups_meet(&c->groups, allowed))
			return 1;
	return 0;
}

/* May the contact see the node's items at all (XEP-0060 6.1.3)? */
static int
may_see(struct pep_node *n, const char *bare)
{
	const char	*type, *cond, *pcond;

	return pep_may_access(n, bare, &type, &cond, &pcond) == 0;
}

/* The verified caps of `c`, or NULL.  A ver pepd has not (or no longer:
 * evicted) got is asked now, so the next publish finds it. */
static struct pep_caps *
contact_caps(struct contact *c)
{
	struct pep_caps	*k;

	if (c->ver[0] == '\0' || c->bad || !pep_caps_algo_ok(c->hash))
		return NULL;
	if ((k = pep_caps_find(c->hash, c->ver)) == NULL)
		(void)pep_caps_ask(c->owner, c->full, c->node, c->hash, c->ver);
	return pep_caps_is_known(k) ? k : NULL;
}

/* XEP-0163 4.3.2: the last item of each of the owner's nodes it wants. */
static void
greet(struct contact *c)
{
	struct pep_caps	*k;
	struct pep_node	*n;

	if (c->greeted || (k = contact_caps(c)) == NULL)
		return;
	c->greeted = 1;
	for (n = pep_nodes; n != NULL; n = n->next)
		if (strcmp(n->service, c->owner) == 0 &&
		    n->cfg.send_last == PSL_ON_SUB_AND_PRESENCE &&
		    pep_caps_wants(k, n->name) && may_see(n, c->bare))
			pep_send_last(n, c->full);
}

static struct contact *
contact_find(const char *owner, const char *full)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->owner, owner) == 0 && strcmp(c->full, full) == 0)
			return c;
	return NULL;
}

static void
contact_free(struct contact *c)
{
	free(c->owner);
	free(c->full);
	free(c->bare);
	free(c->node);
	free(c->ver);
	pep_groups_clear(&c->groups);
	free(c);
}

static void
contact_del(const char *owner, const char *full)
{
	struct contact	**p, *c;

	for (p = &contacts; (c = *p) != NULL; p = &c->next)
		if (strcmp(c->owner, owner) == 0 && strcmp(c->full, full) == 0) {
			*p = c->next;
			contact_free(c);
			ncontacts--;
			break;
		}
	/* The resource is gone for every owner: its question, if any,
	 * will not be answered. */
	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->full, full) == 0)
			return;
	pep_caps_gone(full);
}

/* Is the (normalized) JID `j` at `domain`? */
static int
at_domain(const char *j, const char *domain)
{
	const char	*at = strchr(j, '@'), *slash = strchr(j, '/');
	size_t		 n;

	if (at != NULL && (slash == NULL || at < slash))
		j = at + 1;
	n = slash != NULL && slash > j ? (size_t)(slash - j) : strlen(j);
	return strlen(domain) == n && strncmp(j, domain, n) == 0;
}

/* Frames that end many resources at once (imd cannot name them):
 * `owner` NULL means the owners at `owner_domain`; `bare` NULL means
 * every contact at `domain`. */
struct ending {
	const char	*owner, *owner_domain;
	const char	*bare, *domain;
};

static int
ends(const struct contact *c, const struct ending *e)
{
	if (e->owner != NULL ? strcmp(c->owner, e->owner) != 0 :
	    !at_domain(c->owner, e->owner_domain))
		return 0;
	return e->bare != NULL ? strcmp(c->bare, e->bare) == 0 :
	    at_domain(c->full, e->domain);
}

static int
online_anywhere(const char *full)
{
	const struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->full, full) == 0)
			return 1;
	return 0;
}

/* One pass to unlink what the frame ends (a lost domain may hold much
 * of the mirror), then the caps questions of resources no owner keeps. */
static void
contacts_end(const struct ending *e)
{
	struct contact	**p, *c, *gone = NULL;
	size_t		  n = 0;

	for (p = &contacts; (c = *p) != NULL; ) {
		if (!ends(c, e)) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		c->next = gone;
		gone = c;
		ncontacts--;
		n++;
	}
	while ((c = gone) != NULL) {
		gone = c->next;
		if (!online_anywhere(c->full))
			pep_caps_gone(c->full);
		contact_free(c);
	}
	if (e->bare == NULL && n > 0)
		log_info("%zu contact resource(s) at %s unavailable: streams "
		    "with it were lost", n, e->domain);
}

static struct contact *
contact_new(const char *owner, const char *full, const char *bare)
{
	struct contact	*c;

	if (ncontacts >= PEP_MAX_CONTACTS) {
		log_warnx("contact mirror full: %s not kept", full);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->owner = strdup(owner)) == NULL ||
	    (c->full = strdup(full)) == NULL ||
	    (c->bare = strdup(bare)) == NULL ||
	    (c->node = strdup("")) == NULL || (c->ver = strdup("")) == NULL) {
		contact_free(c);
		return NULL;
	}
	c->next = contacts;
	contacts = c;
	ncontacts++;
	return c;
}

/* *dst becomes a copy of src; -1 (and *dst unchanged) without memory. */
static int
set_str(char **dst, const char *src)
{
	char *p;

	if (strcmp(*dst, src) == 0)
		return 0;
	if ((p = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

/* Did this resource already fail its ver as seen by another owner? */
static int
failed_before(const struct contact *c)
{
	const struct contact	*o;

	for (o = contacts; o != NULL; o = o->next)
		if (o != c && o->bad && strcmp(o->full, c->full) == 0 &&
		    strcmp(o->ver, c->ver) == 0 &&
		    strcmp(o->hash, c->hash) == 0)
			return 1;
	return 0;
}

static void
contact_online(const char *owner, const char *full, const char *bare,
    const char *node, const char *ver, const char *hash,
    struct pep_groups *groups)
{
	struct contact	*c;

	if ((c = contact_find(owner, full)) == NULL &&
	    (c = contact_new(owner, full, bare)) == NULL)
		return;
	pep_groups_clear(&c->groups);
	c->groups = *groups;		/* taken over */
	groups->v = NULL;
	groups->n = 0;
	if (strcmp(c->ver, ver) != 0 || strcmp(c->hash, hash) != 0) {
		if (set_str(&c->ver, ver) == -1)
			return;		/* the old caps stay */
		strcpy(c->hash, hash);
		c->greeted = 0;
		c->bad = failed_before(c);
	}
	if (set_str(&c->node, node) == -1)
		return;
	greet(c);	/* asks first when the ver is new */
}

/* The optional tail of RF_PEP_PRESENCE: u16 count, then each group.
 * Groups past PEP_MAX_GROUPS (or too long) are left out: the contact
 * then lacks them, which refuses rather than admits. */
static int
frame_groups(struct frame *f, struct pep_groups *g)
{
	const char	*s;
	size_t		 len;
	uint16_t	 n;

	if (frame_get_end(f) == 0)
		return 0;		/* a frame from before the groups */
	if (frame_get_u16(f, &n) == -1)
		return -1;
	while (n-- > 0) {
		if (frame_get_str(f, &s, &len) == -1)
			return -1;
		(void)pep_groups_add(g, s, len);
	}
	return frame_get_end(f);
}

/* The addresses of RF_PEP_PRESENCE: from one resource of a contact to
 * its owner's bare JID (imd); an end for every resource of a bare JID
 * (imd, a remote contact's subscription ended); or an end for every
 * contact at a remote domain, for the accounts of a local domain (s2sd,
 * the streams with that domain were lost; routerd checked the sender). */
static int
frame_addrs(struct frame *f, uint8_t avail, struct jid *from, struct jid *to)
{
	if (strlen(f->from) > JID_MAX || strlen(f->to) > JID_MAX ||
	    jid_parse(f->from, strlen(f->from), from) == -1 ||
	    jid_parse(f->to, strlen(f->to), to) == -1 ||
	    to->resource[0] != '\0')
		return -1;
	if (from->resource[0] == '\0' && avail)
		return -1;	/* only an end is said for many resources */
	if (from->resource[0] != '\0' || from->local[0] != '\0')
		return to->local[0] != '\0' ? 0 : -1;
	return to->local[0] == '\0' ? 0 : -1;
}

/* RF_PEP_PRESENCE: body u8 available, str node, str ver, then (newer
 * imd) str hash, then (newer still) the groups; each tail may be absent
 * (docs/frames.md). */
void
pep_contacts_frame(struct frame *f)
{
	struct pep_groups g = { NULL, 0 };
	struct jid	 from, to;
	struct ending	 e = { f->to, NULL, NULL, NULL };
	const char	*node, *ver, *hash = "";
	size_t		 nl, vl, hl = 0;
	uint8_t		 avail;
	char		 bare[JID_MAX + 1];

	if (frame_get_u8(f, &avail) == -1 ||
	    frame_get_str(f, &node, &nl) == -1 ||
	    frame_get_str(f, &ver, &vl) == -1 ||
	    (frame_get_end(f) == -1 && (frame_get_str(f, &hash, &hl) == -1 ||
	    frame_groups(f, &g) == -1)) ||
	    nl > PEP_MAX_CAPS_VER || vl > PEP_MAX_CAPS_VER || hl >= 16 ||
	    frame_addrs(f, avail, &from, &to) == -1 ||
	    jid_format_bare(&from, bare, sizeof(bare)) < 0) {
		log_warnx("bad PEP_PRESENCE frame ignored");
		pep_groups_clear(&g);
		return;
	}
	if (avail)
		contact_online(f->to, f->from, bare, node, ver, hash, &g);
	else if (from.resource[0] != '\0')
		contact_del(f->to, f->from);
	else {
		if (from.local[0] != '\0')
			e.bare = bare;
		else {
			e.owner = NULL;
			e.owner_domain = to.domain;
			e.domain = from.domain;
		}
		contacts_end(&e);
	}
	pep_groups_clear(&g);
}

/* pepd_caps.c verified (hash, ver): greet who advertises it. */
void
pep_contacts_caps_known(const char *hash, const char *ver)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->ver, ver) == 0 && strcmp(c->hash, hash) == 0)
			greet(c);
}

/* `full` gave no trusted answer for (hash, ver), for every owner. */
void
pep_contacts_caps_bad(const char *full, const char *hash, const char *ver)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->full, full) == 0 && strcmp(c->ver, ver) == 0 &&
		    strcmp(c->hash, hash) == 0)
			c->bad = 1;
}

/* A question ended without an answer: ask the resources whose ver has
 * no entry (another one advertising the failed ver, or one that found
 * every question slot taken), while there are slots. */
void
pep_contacts_caps_retry(void)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next)
		if (c->ver[0] != '\0' && !c->bad &&
		    pep_caps_algo_ok(c->hash) &&
		    pep_caps_find(c->hash, c->ver) == NULL &&
		    pep_caps_ask(c->owner, c->full, c->node, c->hash,
		    c->ver) == -1)
			return;
}

/* Notify, besides the explicit subscribers, every online contact of a
 * PEP node's owner whose verified caps want it (XEP-0163 4.3.3). */
void
pep_contacts_fanout(struct pep_node *n, struct xnode *m)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next) {
		if (strcmp(c->owner, n->service) != 0 ||
		    !pep_caps_wants(contact_caps(c), n->name) ||
		    pep_sub_find(n, c->full) != NULL ||
		    pep_sub_find(n, c->bare) != NULL || !may_see(n, c->bare))
			continue;
		if (pep_send(n->service, c->full, m) == -1) {
			log_warnx("notifications of %s stopped: queue full",
			    n->name);
			return;
		}
	}
}

void
pep_contacts_free(void)
{
	struct contact	*c;

	while ((c = contacts) != NULL) {
		contacts = c->next;
		contact_free(c);
	}
	ncontacts = 0;
	pep_caps_free();
}
