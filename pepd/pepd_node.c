/*
 * pepd_node.c - nodes in memory: configuration, affiliations and
 * subscriptions, their LMDB records, and the access checks of XEP-0060
 * 6.1.3 / 6.5.
 *
 *   nodes:  service NUL node -> <node/> element (configuration attributes,
 *           <aff/>, <sub/> and <group/> children), rewritten after every
 *           change
 *
 * Called by pepd_iq.c; pep_nodes_load() runs once in pre_drop.
 * Invariants: every list is bounded (PEP_MAX_NODES, PEP_MAX_AFFS,
 * PEP_MAX_SUBS, PEP_MAX_GROUPS); an affiliation of none is not stored; a record that
 * does not parse is skipped with a warning, never fatal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "pepd.h"
#include "store.h"

#define DB_NODES	"nodes"

struct pep_node	*pep_nodes;
size_t		 pep_nnodes;
/* Set by pepd.c from pep-max-nodes, pep-max-nodes-per-owner and
 * pep-max-items before the nodes are loaded. */
struct pep_limits pep_limits = { PEP_DEF_MAX_NODES, PEP_DEF_MAX_NODES_OWNER,
	PEP_DEF_MAX_ITEMS };

/* XEP-0060 16.4 defaults; PEP's are XEP-0163 4.2 / 4.3.3 (presence
 * access, only the last item kept, sent on subscription and presence). */
void
pep_config_default(struct pep_config *c, int pep)
{
	memset(c, 0, sizeof(*c));
	c->max_items = pep ? 1 : PEP_DEF_ITEMS;
	c->persist_items = 1;
	c->deliver_payloads = 1;
	c->notify_retract = 1;
	c->notify_delete = 1;
	c->access = pep ? PACC_PRESENCE : PACC_OPEN;
	c->publish_model = PPUB_PUBLISHERS;
	c->send_last = pep ? PSL_ON_SUB_AND_PRESENCE : PSL_ON_SUB;
}

struct pep_node *
pep_node_find(const char *service, const char *name)
{
	struct pep_node	*n;

	for (n = pep_nodes; n != NULL; n = n->next)
		if (strcmp(n->name, name) == 0 && strcmp(n->service, service) == 0)
			return n;
	return NULL;
}

/* A new node, linked in, owned by nobody yet; NULL at the limit. */
struct pep_node *
pep_node_new(const char *service, const char *name)
{
	struct pep_node	*n;

	if (pep_nnodes >= PEP_MAX_NODES || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if ((n->service = strdup(service)) == NULL ||
	    (n->name = strdup(name)) == NULL) {
		pep_node_free(n);
		return NULL;
	}
	pep_config_default(&n->cfg, strchr(service, '@') != NULL);
	n->next = pep_nodes;
	pep_nodes = n;
	pep_nnodes++;
	return n;
}

void
pep_node_free(struct pep_node *n)
{
	struct pep_affent	*a;
	struct pep_sub	*s;

	if (n == NULL)
		return;
	pep_groups_clear(&n->groups);
	while ((a = n->affs) != NULL) {
		n->affs = a->next;
		free(a->jid);
		free(a);
	}
	while ((s = n->subs) != NULL) {
		n->subs = s->next;
		free(s->jid);
		free(s);
	}
	free(n->service);
	free(n->name);
	free(n);
}

static void
node_unlink(struct pep_node *n)
{
	struct pep_node	**pp;

	for (pp = &pep_nodes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			pep_nnodes--;
			return;
		}
}

/* Forget a node: its record, its items, its memory. */
void
pep_node_destroy(struct pep_node *n)
{
	struct store_txn *t;
	char		 key[2 * (JID_MAX + 1) + PEP_MAX_NAME + 2];
	size_t		 kl;

	kl = pep_node_key(n->service, n->name, key, sizeof(key));
	if (kl > 0 && pep_item_purge(pep_store, key, kl) == -1)
		log_warnx("cannot purge the items of %s", n->name);
	if (kl > 0 && (t = store_begin(pep_store, 1)) != NULL) {
		if (store_del(t, DB_NODES, key, kl - 1) == -1 ||
		    store_commit(t) == -1)
			log_warnx("cannot delete node %s", n->name);
		else
			t = NULL;
		if (t != NULL)
			store_abort(t);
	}
	node_unlink(n);
	pep_node_free(n);
}

size_t
pep_nodes_owned(const char *service, const char *bare)
{
	struct pep_node	*n;
	size_t		 c = 0;

	for (n = pep_nodes; n != NULL; n = n->next)
		if (strcmp(n->service, service) == 0 &&
		    pep_aff_get(n, bare) == PAFF_OWNER)
			c++;
	return c;
}

/* ---- affiliations ---- */

static const struct {
	const char	*name;
	enum pep_aff	 aff;
} aff_names[] = {
	{ "outcast", PAFF_OUTCAST }, { "none", PAFF_NONE },
	{ "member", PAFF_MEMBER }, { "publisher", PAFF_PUBLISHER },
	{ "owner", PAFF_OWNER },
};

const char *
pep_aff_name(enum pep_aff a)
{
	size_t	i;

	for (i = 0; i < sizeof(aff_names) / sizeof(aff_names[0]); i++)
		if (aff_names[i].aff == a)
			return aff_names[i].name;
	return "none";
}

int
pep_aff_parse(const char *s, enum pep_aff *out)
{
	size_t	i;

	for (i = 0; i < sizeof(aff_names) / sizeof(aff_names[0]); i++)
		if (strcmp(aff_names[i].name, s) == 0) {
			*out = aff_names[i].aff;
			return 0;
		}
	return -1;
}

enum pep_aff
pep_aff_get(const struct pep_node *n, const char *bare)
{
	struct pep_affent	*a;

	for (a = n->affs; a != NULL; a = a->next)
		if (strcmp(a->jid, bare) == 0)
			return a->aff;
	/* The account owns every node of its own PEP service. */
	if (strcmp(n->service, bare) == 0)
		return PAFF_OWNER;
	return PAFF_NONE;
}

/* 0, or -1 (limit or memory). */
int
pep_aff_set(struct pep_node *n, const char *bare, enum pep_aff aff)
{
	struct pep_affent	**pp, *a;

	for (pp = &n->affs; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->jid, bare) == 0)
			break;
	if ((a = *pp) != NULL) {
		if (aff != PAFF_NONE) {
			a->aff = aff;
			return 0;
		}
		*pp = a->next;
		free(a->jid);
		free(a);
		n->naffs--;
		return 0;
	}
	if (aff == PAFF_NONE)
		return 0;
	if (n->naffs >= PEP_MAX_AFFS || (a = calloc(1, sizeof(*a))) == NULL)
		return -1;
	if ((a->jid = strdup(bare)) == NULL) {
		free(a);
		return -1;
	}
	a->aff = aff;
	a->next = n->affs;
	n->affs = a;
	n->naffs++;
	return 0;
}

/* ---- subscriptions ---- */

struct pep_sub *
pep_sub_find(struct pep_node *n, const char *jid)
{
	struct pep_sub	*s;

	for (s = n->subs; s != NULL; s = s->next)
		if (strcmp(s->jid, jid) == 0)
			return s;
	return NULL;
}

/* The existing or a new subscription; NULL at the limit. */
struct pep_sub *
pep_sub_add(struct pep_node *n, const char *jid)
{
	struct pep_sub	*s;
	unsigned char	 r[8];
	size_t		 i;

	if ((s = pep_sub_find(n, jid)) != NULL)
		return s;
	if (n->nsubs >= PEP_MAX_SUBS || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->jid = strdup(jid)) == NULL) {
		free(s);
		return NULL;
	}
	randombytes_buf(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		snprintf(s->subid + 2 * i, 3, "%02x", r[i]);
	s->next = n->subs;
	n->subs = s;
	n->nsubs++;
	return s;
}

/* 0 removed, 1 not subscribed. */
int
pep_sub_del(struct pep_node *n, const char *jid)
{
	struct pep_sub	**pp, *s;

	for (pp = &n->subs; (s = *pp) != NULL; pp = &s->next)
		if (strcmp(s->jid, jid) == 0) {
			*pp = s->next;
			free(s->jid);
			free(s);
			n->nsubs--;
			return 0;
		}
	return 1;
}

/* Every subscription of an entity, bare or full (an outcast's). */
void
pep_subs_del_bare(struct pep_node *n, const char *bare)
{
	struct pep_sub	**pp, *s;
	size_t		 bl = strlen(bare);

	for (pp = &n->subs; (s = *pp) != NULL;) {
		if (strncmp(s->jid, bare, bl) == 0 &&
		    (s->jid[bl] == '\0' || s->jid[bl] == '/')) {
			*pp = s->next;
			free(s->jid);
			free(s);
			n->nsubs--;
		} else
			pp = &s->next;
	}
}

/* ---- access (XEP-0060 4.5, 6.1.3) ---- */

int
pep_may_access(struct pep_node *n, const char *bare, const char **type,
    const char **cond, const char **pcond)
{
	enum pep_aff	a = pep_aff_get(n, bare);

	*type = "auth";
	if (a == PAFF_OUTCAST) {
		*cond = "forbidden";
		*pcond = NULL;
		return -1;
	}
	if (a >= PAFF_MEMBER)
		return 0;
	switch (n->cfg.access) {
	case PACC_OPEN:
		return 0;
	case PACC_PRESENCE:
		if (pep_contact_subscribed(n->service, bare))
			return 0;
		*cond = "not-authorized";
		*pcond = "presence-subscription-required";
		return -1;
	case PACC_ROSTER:
		/* 4.5: the owner's roster groups named by the node. */
		if (pep_contact_in_groups(n->service, bare, &n->groups))
			return 0;
		*cond = "not-authorized";
		*pcond = "not-in-roster-group";
		return -1;
	case PACC_WHITELIST:
	default:
		*type = "cancel";
		*cond = "not-allowed";
		*pcond = "closed-node";
		return -1;
	}
}

/* ---- records ---- */

static void
set_num(struct xnode *x, const char *name, unsigned long long v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	xnode_set_attr(x, name, buf);
}

int
pep_node_encode(const struct pep_node *n, struct xbuf *b)
{
	struct xnode	*x, *c;
	struct pep_affent	*a;
	struct pep_sub	*s;
	const struct pep_config *g = &n->cfg;

	if ((x = xnode_new("node", "urn:rampart:pepd:0")) == NULL)
		return -1;
	xnode_set_attr(x, "service", n->service);
	xnode_set_attr(x, "name", n->name);
	xnode_set_attr(x, "title", g->title);
	set_num(x, "max", g->max_items);
	set_num(x, "persist", (unsigned)g->persist_items);
	set_num(x, "payloads", (unsigned)g->deliver_payloads);
	set_num(x, "nretract", (unsigned)g->notify_retract);
	set_num(x, "ndelete", (unsigned)g->notify_delete);
	set_num(x, "access", g->access);
	set_num(x, "pubmodel", g->publish_model);
	set_num(x, "sendlast", g->send_last);
	for (a = n->affs; a != NULL; a = a->next)
		if ((c = xnode_add_child(x, "aff", NULL)) != NULL) {
			xnode_set_attr(c, "jid", a->jid);
			xnode_set_attr(c, "a", pep_aff_name(a->aff));
		}
	for (s = n->subs; s != NULL; s = s->next)
		if ((c = xnode_add_child(x, "sub", NULL)) != NULL) {
			xnode_set_attr(c, "jid", s->jid);
			xnode_set_attr(c, "id", s->subid);
		}
	pep_groups_encode(x, &n->groups);
	xml_serialize(b, x, NULL);
	xnode_free(x);
	return b->failed ? -1 : 0;
}

static unsigned
num_attr(const struct xnode *x, const char *name, unsigned max, unsigned def)
{
	const char	*v = xnode_attr(x, name);
	char		*end;
	unsigned long	 n;

	if (v == NULL || *v < '0' || *v > '9')
		return def;
	n = strtoul(v, &end, 10);
	return *end != '\0' || n > max ? def : (unsigned)n;
}

static void
decode_config(struct pep_config *g, const struct xnode *x)
{
	const char	*t = xnode_attr(x, "title");

	/* A ceiling lowered since (pep-max-items) applies at once. */
	g->max_items = num_attr(x, "max", 1000000000, g->max_items);
	if (g->max_items == 0)
		g->max_items = 1;
	if (g->max_items > PEP_MAX_ITEMS)
		g->max_items = PEP_MAX_ITEMS;
	g->persist_items = num_attr(x, "persist", 1, 1);
	g->deliver_payloads = num_attr(x, "payloads", 1, 1);
	g->notify_retract = num_attr(x, "nretract", 1, 1);
	g->notify_delete = num_attr(x, "ndelete", 1, 1);
	g->access = num_attr(x, "access", PACC_WHITELIST, PACC_WHITELIST);
	g->publish_model = num_attr(x, "pubmodel", PPUB_OPEN, PPUB_PUBLISHERS);
	g->send_last = num_attr(x, "sendlast", PSL_ON_SUB_AND_PRESENCE,
	    PSL_NEVER);
	if (t != NULL && strlen(t) <= PEP_MAX_TITLE)
		strcpy(g->title, t);
}

/* A node from its record, not linked in; NULL if it does not parse. */
struct pep_node *
pep_node_decode(const char *buf, size_t len)
{
	struct xnode	*x, *c;
	struct pep_node	*n;
	struct pep_sub	*s;
	const char	*svc, *name, *jid, *v, *id;
	enum pep_aff	 a;

	if ((x = xml_parse_element(buf, len, NULL)) == NULL)
		return NULL;
	if ((svc = xnode_attr(x, "service")) == NULL ||
	    (name = xnode_attr(x, "name")) == NULL ||
	    (n = calloc(1, sizeof(*n))) == NULL) {
		xnode_free(x);
		return NULL;
	}
	n->service = strdup(svc);
	n->name = strdup(name);
	pep_config_default(&n->cfg, strchr(svc, '@') != NULL);
	decode_config(&n->cfg, x);
	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c)) {
		if (strcmp(c->name, "group") == 0)
			pep_groups_decode(c, &n->groups);
		if ((jid = xnode_attr(c, "jid")) == NULL)
			continue;
		if (strcmp(c->name, "aff") == 0 &&
		    (v = xnode_attr(c, "a")) != NULL &&
		    pep_aff_parse(v, &a) == 0)
			(void)pep_aff_set(n, jid, a);
		else if (strcmp(c->name, "sub") == 0 &&
		    (s = pep_sub_add(n, jid)) != NULL &&
		    (id = xnode_attr(c, "id")) != NULL &&
		    strlen(id) < sizeof(s->subid))
			strcpy(s->subid, id);
	}
	xnode_free(x);
	if (n->service == NULL || n->name == NULL) {
		pep_node_free(n);
		return NULL;
	}
	return n;
}

int
pep_node_save(struct pep_node *n)
{
	struct store_txn *t;
	struct xbuf	 b;
	char		 key[2 * (JID_MAX + 1) + PEP_MAX_NAME + 2];
	size_t		 kl;
	int		 rc = -1;

	if ((kl = pep_node_key(n->service, n->name, key, sizeof(key))) == 0)
		return -1;
	xbuf_init(&b);
	if (pep_node_encode(n, &b) == 0 &&
	    (t = store_begin(pep_store, 1)) != NULL) {
		if (store_put(t, DB_NODES, key, kl - 1, b.data, b.len) == 0)
			rc = store_commit(t);
		else
			store_abort(t);
	}
	xbuf_free(&b);
	if (rc == -1)
		log_warnx("cannot save node %s", n->name);
	return rc;
}

static int
load_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct pep_node	*n;
	int		*bad = arg;

	if (pep_nnodes >= PEP_MAX_NODES)
		return 1;
	if ((n = pep_node_decode(v, vl)) == NULL) {
		(*bad)++;
		return 0;
	}
	n->next = pep_nodes;
	pep_nodes = n;
	pep_nnodes++;
	return 0;
}

int
pep_nodes_load(void)
{
	struct store_txn *t;
	int		 bad = 0, rc;

	if ((t = store_begin(pep_store, 0)) == NULL)
		return -1;
	rc = store_scan(t, DB_NODES, "", 0, load_cb, &bad);
	store_abort(t);
	log_info("%zu nodes loaded", pep_nnodes);
	return rc == -1 || bad > 0 ? -1 : 0;
}
