/*
 * pepd_contacts.c - what pepd knows of accounts' contacts, for the
 * "presence" access model and for PEP notifications (XEP-0163 4.3).
 *
 * imd feeds the mirror with RF_PEP_PRESENCE (docs/pep.md, "Contacts"):
 * one frame per local owner that may see a contact's resource, only for
 * subscriptions from/both, so an entry means "this full JID is online and
 * subscribed to the owner's presence".  Caps versions (XEP-0115) are asked
 * once with disco#info and cached as the set of "<node>+notify" features;
 * a contact comes online -> the last item of each node it wants
 * (XEP-0163 4.3.2); a publish -> pep_contacts_fanout() adds the contacts
 * whose caps want the node.  Called by pepd.c (frames, disco replies),
 * pepd_node.c (access) and pepd_notify.c (fan-out).
 *
 * Invariants: the mirror holds at most PEP_MAX_CONTACTS entries and the
 * caps cache PEP_MAX_CAPS versions, each with at most PEP_MAX_CAPS_FEATS
 * features; an entry exists only while its resource is available.  The
 * caps hash is not verified (XEP-0115 5.4): a client lying about its own
 * features only changes what it is itself sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pepd.h"

#define NOTIFY_SUFFIX	"+notify"
#define CAPS_ID_PREFIX	"pepcaps"

struct contact {
	char		*owner;		/* bare */
	char		*full;
	char		*bare;
	char		 ver[PEP_MAX_CAPS_VER + 1];
	int		 greeted;	/* last items sent for this ver */
	struct contact	*next;
};

struct caps {
	char		 ver[PEP_MAX_CAPS_VER + 1];
	char		 id[32];	/* of the pending disco#info */
	int		 known;
	char		*notify[PEP_MAX_CAPS_FEATS];	/* node names */
	size_t		 nnotify;
	struct caps	*next;
};

static struct contact	*contacts;
static size_t		 ncontacts;
static struct caps	*capses;
static size_t		 ncaps;
static unsigned long	 caps_serial;

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

static struct caps *
caps_find(const char *ver)
{
	struct caps	*k;

	for (k = capses; k != NULL; k = k->next)
		if (strcmp(k->ver, ver) == 0)
			return k;
	return NULL;
}

static int
caps_wants(const struct caps *k, const char *node)
{
	size_t	i;

	for (i = 0; k != NULL && k->known && i < k->nnotify; i++)
		if (strcmp(k->notify[i], node) == 0)
			return 1;
	return 0;
}

static void
caps_free(struct caps *k)
{
	size_t	i;

	for (i = 0; i < k->nnotify; i++)
		free(k->notify[i]);
	free(k);
}

/* May the contact see the node's items at all (XEP-0060 6.1.3)? */
static int
may_see(struct pep_node *n, const char *bare)
{
	const char	*type, *cond, *pcond;

	return pep_may_access(n, bare, &type, &cond, &pcond) == 0;
}

/* XEP-0163 4.3.2: the last item of each of the owner's nodes it wants. */
static void
greet(struct contact *c)
{
	struct caps	*k = caps_find(c->ver);
	struct pep_node	*n;

	if (k == NULL || !k->known || c->greeted)
		return;
	c->greeted = 1;
	for (n = pep_nodes; n != NULL; n = n->next)
		if (strcmp(n->service, c->owner) == 0 &&
		    n->cfg.send_last == PSL_ON_SUB_AND_PRESENCE &&
		    caps_wants(k, n->name) && may_see(n, c->bare))
			pep_send_last(n, c->full);
}

/* Ask `full` what `ver` means (XEP-0115 6.2).  The request comes from
 * pubsub.<owner's domain> so that the answer reaches pepd: an iq result
 * to the owner's bare JID would be routed to imd (docs/pep.md). */
static void
caps_ask(const char *owner, const char *full, const char *node,
    const char *ver)
{
	struct caps	*k;
	struct xnode	*iq, *q;
	const char	*dom = strchr(owner, '@');
	char		 from[JID_MAX + 1], qnode[2 * PEP_MAX_CAPS_VER + 2];

	if (dom == NULL || ncaps >= PEP_MAX_CAPS ||
	    snprintf(from, sizeof(from), "pubsub.%s", dom + 1) >=
	    (int)sizeof(from) ||
	    (k = calloc(1, sizeof(*k))) == NULL)
		return;
	strcpy(k->ver, ver);
	snprintf(k->id, sizeof(k->id), CAPS_ID_PREFIX "%lx", ++caps_serial);
	k->next = capses;
	capses = k;
	ncaps++;
	if ((iq = xnode_new("iq", XMLNS_CLIENT)) == NULL)
		return;
	xnode_set_attr(iq, "type", "get");
	xnode_set_attr(iq, "id", k->id);
	if ((q = xnode_add_child(iq, "query", NS_DISCO_INFO)) != NULL) {
		snprintf(qnode, sizeof(qnode), "%s#%s", node, ver);
		xnode_set_attr(q, "node", qnode);
	}
	(void)pep_send(from, full, iq);
	xnode_free(iq);
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
			return;
		}
}

static void
contact_online(const char *owner, const char *full, const char *bare,
    const char *node, const char *ver)
{
	struct contact	*c;

	if ((c = contact_find(owner, full)) == NULL) {
		if (ncontacts >= PEP_MAX_CONTACTS) {
			log_warnx("contact mirror full: %s not kept", full);
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;
		if ((c->owner = strdup(owner)) == NULL ||
		    (c->full = strdup(full)) == NULL ||
		    (c->bare = strdup(bare)) == NULL) {
			contact_free(c);
			return;
		}
		c->next = contacts;
		contacts = c;
		ncontacts++;
	}
	if (strcmp(c->ver, ver) != 0) {
		strcpy(c->ver, ver);
		c->greeted = 0;
	}
	if (ver[0] == '\0')
		return;		/* no caps: no +notify interest */
	if (caps_find(ver) == NULL)
		caps_ask(owner, full, node, ver);
	else
		greet(c);
}

/* RF_PEP_PRESENCE: from = contact's full JID, to = owner's bare JID. */
void
pep_contacts_frame(struct frame *f)
{
	struct jid	 from, to;
	const char	*node, *ver;
	size_t		 nl, vl;
	uint8_t		 avail;
	char		 bare[JID_MAX + 1];

	if (frame_get_u8(f, &avail) == -1 ||
	    frame_get_str(f, &node, &nl) == -1 ||
	    frame_get_str(f, &ver, &vl) == -1 || frame_get_end(f) == -1 ||
	    nl > PEP_MAX_CAPS_VER || vl > PEP_MAX_CAPS_VER ||
	    strlen(f->from) > JID_MAX || strlen(f->to) > JID_MAX ||
	    jid_parse(f->from, strlen(f->from), &from) == -1 ||
	    jid_parse(f->to, strlen(f->to), &to) == -1 ||
	    from.resource[0] == '\0' || to.local[0] == '\0' ||
	    to.resource[0] != '\0' ||
	    jid_format_bare(&from, bare, sizeof(bare)) < 0) {
		log_warnx("bad PEP_PRESENCE frame ignored");
		return;
	}
	if (avail)
		contact_online(f->to, f->from, bare, node, ver);
	else
		contact_del(f->to, f->from);
}

static void
caps_learn(struct caps *k, const struct xnode *q)
{
	struct xnode	*e;
	const char	*var;
	size_t		 vl, sl = sizeof(NOTIFY_SUFFIX) - 1;

	for (e = q != NULL ? xnode_first_elem(q) : NULL; e != NULL &&
	    k->nnotify < PEP_MAX_CAPS_FEATS; e = xnode_next_elem(e)) {
		if (strcmp(e->name, "feature") != 0 ||
		    (var = xnode_attr(e, "var")) == NULL ||
		    (vl = strlen(var)) <= sl || vl - sl > PEP_MAX_NAME ||
		    strcmp(var + vl - sl, NOTIFY_SUFFIX) != 0)
			continue;
		if ((k->notify[k->nnotify] = strndup(var, vl - sl)) != NULL)
			k->nnotify++;
	}
}

/* A reply to caps_ask(): 1 if it was one (taken), 0 otherwise. */
int
pep_contacts_disco_reply(struct pep_stanza *s)
{
	struct caps	 *k, **p;
	struct contact	 *c;
	const char	 *id = xnode_attr(s->x, "id");

	if (id == NULL || strncmp(id, CAPS_ID_PREFIX,
	    sizeof(CAPS_ID_PREFIX) - 1) != 0)
		return 0;
	for (p = &capses; (k = *p) != NULL; p = &k->next)
		if (!k->known && strcmp(k->id, id) == 0)
			break;
	if (k == NULL)
		return 1;
	if (s->stype != RS_RESULT) {
		/* Forget it: the next presence with this ver asks again. */
		*p = k->next;
		caps_free(k);
		ncaps--;
		return 1;
	}
	k->known = 1;
	caps_learn(k, xnode_child(s->x, "query", NS_DISCO_INFO));
	for (c = contacts; c != NULL; c = c->next)
		if (strcmp(c->ver, k->ver) == 0)
			greet(c);
	return 1;
}

/* Notify, besides the explicit subscribers, every online contact of a
 * PEP node's owner whose caps want it (XEP-0163 4.3.3). */
void
pep_contacts_fanout(struct pep_node *n, struct xnode *m)
{
	struct contact	*c;

	for (c = contacts; c != NULL; c = c->next) {
		if (strcmp(c->owner, n->service) != 0 ||
		    !caps_wants(caps_find(c->ver), n->name) ||
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
	struct caps	*k;

	while ((c = contacts) != NULL) {
		contacts = c->next;
		contact_free(c);
	}
	while ((k = capses) != NULL) {
		capses = k->next;
		caps_free(k);
	}
	ncontacts = ncaps = 0;
}
