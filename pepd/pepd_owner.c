/*
 * pepd_owner.c - the owner requests of XEP-0060 section 8 (<pubsub
 * xmlns='...#owner'/>: configure, default, delete, purge, subscriptions
 * and affiliations management) and service discovery of the service and
 * its nodes (XEP-0060 5.1-5.5, XEP-0030).
 *
 * Called by pepd_iq.c.  Invariants: only an owner changes a node; a node
 * always keeps at least one owner; every change is saved before the
 * result is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pepd.h"
#include "pubsub.h"
#include "store.h"

#define KEYBUF	(2 * (JID_MAX + 1) + PEP_MAX_NAME + 2)

static struct pep_node *
owned_node(struct pep_stanza *s, const struct xnode *el)
{
	const char	*name = xnode_attr(el, "node");
	struct pep_node	*n;

	if (name == NULL || *name == '\0') {
		pep_reply_error(s, "modify", "bad-request", "nodeid-required");
		return NULL;
	}
	if ((n = pep_node_find(s->service, name)) == NULL) {
		pep_reply_error(s, "cancel", "item-not-found", NULL);
		return NULL;
	}
	if (pep_aff_get(n, s->from_bare) != PAFF_OWNER) {
		pep_reply_error(s, "auth", "forbidden", NULL);
		return NULL;
	}
	return n;
}

static struct xnode *
owner_reply(const char *what, const char *node, struct xnode **el)
{
	struct xnode	*r;

	if ((r = xnode_new("pubsub", NS_PUBSUB_OWNER)) == NULL)
		return NULL;
	if ((*el = xnode_add_child(r, what, NS_PUBSUB_OWNER)) == NULL) {
		xnode_free(r);
		return NULL;
	}
	if (node != NULL)
		xnode_set_attr(*el, "node", node);
	return r;
}

/* The configuration form with the roster groups (16.4). */
static struct xnode *
config_form(const struct pep_node *n, const char *type)
{
	struct xnode	*x = pep_config_form(&n->cfg, type);

	pep_groups_to_form(x, &n->groups);
	return x;
}

/* XEP-0060 8.2 */
static void
do_configure(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct pep_config cfg;
	struct pep_groups groups = { NULL, 0 };
	struct xnode	*r, *c, *form = pep_form_find(el);
	const char	*t;
	char		 key[KEYBUF];
	size_t		 kl;
	int		 given;

	if ((n = owned_node(s, el)) == NULL)
		return;
	if (s->stype == RS_GET) {
		if ((r = owner_reply("configure", n->name, &c)) != NULL)
			xnode_append(c, config_form(n, "form"));
		pep_reply_result(s, r);
		return;
	}
	if (form != NULL && (t = xnode_attr(form, "type")) != NULL &&
	    strcmp(t, "cancel") == 0) {
		pep_reply_result(s, NULL);	/* 8.2.5 */
		return;
	}
	/* 16.4: the form applies whole or not at all. */
	cfg = n->cfg;
	if (pep_config_apply(&cfg, form) == -1 ||
	    (given = pep_groups_from_form(form, &groups)) == -1) {
		pep_reply_error(s, "modify", "not-acceptable", NULL);
		return;
	}
	n->cfg = cfg;
	if (given) {
		pep_groups_clear(&n->groups);
		n->groups = groups;
	}
	kl = pep_node_key(n->service, n->name, key, sizeof(key));
	if (pep_node_save(n) == -1 || kl == 0 ||
	    pep_item_trim(pep_store, key, kl, n->cfg.max_items) == -1) {
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	pep_reply_result(s, NULL);
}

/* XEP-0060 8.3 */
static void
do_default(struct pep_stanza *s)
{
	struct pep_config	 cfg;
	struct xnode		*r, *c;

	pep_config_default(&cfg, s->pep);
	if ((r = owner_reply("default", NULL, &c)) != NULL)
		xnode_append(c, pep_config_form(&cfg, "form"));
	pep_reply_result(s, r);
}

/* XEP-0060 8.4, 8.5 */
static void
do_delete_purge(struct pep_stanza *s, struct xnode *el, int purge)
{
	struct pep_node	*n;
	char		 key[KEYBUF];
	size_t		 kl;

	if ((n = owned_node(s, el)) == NULL)
		return;
	if (purge) {
		kl = pep_node_key(n->service, n->name, key, sizeof(key));
		if (kl == 0 || pep_item_purge(pep_store, key, kl) == -1) {
			pep_reply_error(s, "wait", "internal-server-error",
			    NULL);
			return;
		}
		pep_reply_result(s, NULL);
		pep_notify_simple(n, "purge");
		return;
	}
	pep_reply_result(s, NULL);
	if (n->cfg.notify_delete)
		pep_notify_simple(n, "delete");
	pep_node_destroy(n);
}

static int
norm_bare(const char *in, char *out)
{
	struct jid	j;

	return in == NULL || jid_parse(in, strlen(in), &j) == -1 ||
	    jid_format_bare(&j, out, JID_MAX + 1) < 0 ? -1 : 0;
}

static size_t
owners(const struct pep_node *n)
{
	const struct pep_affent	*a;
	size_t			 c = 0;

	for (a = n->affs; a != NULL; a = a->next)
		c += a->aff == PAFF_OWNER;
	return c;
}

/* XEP-0060 8.9.2: every entry valid, or nothing changes. */
static int
affs_valid(struct pep_node *n, struct xnode *el)
{
	struct xnode	*a;
	enum pep_aff	 af;
	char		 bare[JID_MAX + 1];
	size_t		 lost = 0;

	for (a = xnode_first_elem(el); a != NULL; a = xnode_next_elem(a)) {
		if (strcmp(a->name, "affiliation") != 0 ||
		    norm_bare(xnode_attr(a, "jid"), bare) == -1 ||
		    xnode_attr(a, "affiliation") == NULL ||
		    pep_aff_parse(xnode_attr(a, "affiliation"), &af) == -1)
			return -1;
		if (af != PAFF_OWNER && pep_aff_get(n, bare) == PAFF_OWNER)
			lost++;
	}
	/* The service owns a PEP node through its account, never lost. */
	return strchr(n->service, '@') == NULL && lost >= owners(n) ? -1 : 0;
}

static void
affs_set(struct pep_stanza *s, struct pep_node *n, struct xnode *el)
{
	struct xnode	*a;
	enum pep_aff	 af;
	char		 bare[JID_MAX + 1];

	if (affs_valid(n, el) == -1) {
		pep_reply_error(s, "modify", "not-acceptable", NULL);
		return;
	}
	for (a = xnode_first_elem(el); a != NULL; a = xnode_next_elem(a)) {
		(void)norm_bare(xnode_attr(a, "jid"), bare);
		(void)pep_aff_parse(xnode_attr(a, "affiliation"), &af);
		if (pep_aff_set(n, bare, af) == -1) {
			pep_reply_error(s, "wait", "resource-constraint", NULL);
			(void)pep_node_save(n);
			return;
		}
		if (af == PAFF_OUTCAST)		/* 8.8.1 */
			pep_subs_del_bare(n, bare);
	}
	if (pep_node_save(n) == -1)
		pep_reply_error(s, "wait", "internal-server-error", NULL);
	else
		pep_reply_result(s, NULL);
}

/* XEP-0060 8.9 */
static void
do_affiliations(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct pep_affent	*a;
	struct xnode	*r, *l, *x;

	if ((n = owned_node(s, el)) == NULL)
		return;
	if (s->stype == RS_SET) {
		affs_set(s, n, el);
		return;
	}
	if ((r = owner_reply("affiliations", n->name, &l)) == NULL)
		return;
	for (a = n->affs; a != NULL; a = a->next)
		if ((x = xnode_add_child(l, "affiliation",
		    NS_PUBSUB_OWNER)) != NULL) {
			xnode_set_attr(x, "jid", a->jid);
			xnode_set_attr(x, "affiliation", pep_aff_name(a->aff));
		}
	pep_reply_result(s, r);
}

/* XEP-0060 8.8: list, or set subscribed / none. */
static void
do_subscriptions(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct pep_sub	*u;
	struct xnode	*r, *l, *x;
	const char	*j, *st;
	struct jid	 p;
	char		 full[JID_MAX + 1];

	if ((n = owned_node(s, el)) == NULL)
		return;
	if (s->stype == RS_GET) {
		if ((r = owner_reply("subscriptions", n->name, &l)) == NULL)
			return;
		for (u = n->subs; u != NULL; u = u->next)
			if ((x = xnode_add_child(l, "subscription",
			    NS_PUBSUB_OWNER)) != NULL) {
				xnode_set_attr(x, "jid", u->jid);
				xnode_set_attr(x, "subscription", "subscribed");
			}
		pep_reply_result(s, r);
		return;
	}
	for (x = xnode_first_elem(el); x != NULL; x = xnode_next_elem(x)) {
		if ((j = xnode_attr(x, "jid")) == NULL ||
		    (st = xnode_attr(x, "subscription")) == NULL ||
		    jid_parse(j, strlen(j), &p) == -1 ||
		    jid_format(&p, full, sizeof(full)) < 0)
			continue;
		if (strcmp(st, "none") == 0)
			(void)pep_sub_del(n, full);
		else if (strcmp(st, "subscribed") == 0)
			(void)pep_sub_add(n, full);
	}
	if (pep_node_save(n) == -1)
		pep_reply_error(s, "wait", "internal-server-error", NULL);
	else
		pep_reply_result(s, NULL);
}

void
pep_owner_iq(struct pep_stanza *s, struct xnode *ps)
{
	struct xnode	*c = xnode_first_elem(ps);

	if (strcmp(ps->name, "pubsub") != 0 || c == NULL) {
		pep_reply_error(s, "modify", "bad-request", NULL);
		return;
	}
	if (strcmp(c->name, "configure") == 0)
		do_configure(s, c);
	else if (strcmp(c->name, "default") == 0 && s->stype == RS_GET)
		do_default(s);
	else if (strcmp(c->name, "delete") == 0 && s->stype == RS_SET)
		do_delete_purge(s, c, 0);
	else if (strcmp(c->name, "purge") == 0 && s->stype == RS_SET)
		do_delete_purge(s, c, 1);
	else if (strcmp(c->name, "affiliations") == 0)
		do_affiliations(s, c);
	else if (strcmp(c->name, "subscriptions") == 0)
		do_subscriptions(s, c);
	else
		pep_reply_error(s, "cancel", "feature-not-implemented", NULL);
}

/* ---- disco (XEP-0060 5.1-5.5) ---- */


static void
add_feature(struct xnode *r, const char *var)
{
	struct xnode	*x;

	if ((x = xnode_add_child(r, "feature", NS_DISCO_INFO)) != NULL)
		xnode_set_attr(x, "var", var);
}

static int
may_access(struct pep_node *n, const char *bare)
{
	const char	*t, *c, *p;

	return pep_may_access(n, bare, &t, &c, &p) == 0;
}

static void
disco_info(struct pep_stanza *s, struct xnode *q, const char *node)
{
	struct pep_node		*n = NULL;
	struct xnode		*r, *x;
	const char *const	*f;

	if (node != NULL && ((n = pep_node_find(s->service, node)) == NULL ||
	    pep_aff_get(n, s->from_bare) == PAFF_OUTCAST ||
	    (s->pep && !may_access(n, s->from_bare)))) {
		/* On an account, a node the requester may not read does not
		 * exist for it (as in 5.2's list): the names and settings of
		 * a person's nodes are not everybody's business. */
		pep_reply_error(s, "cancel", "item-not-found", NULL);
		return;
	}
	if ((r = xnode_new("query", NS_DISCO_INFO)) == NULL)
		return;
	if (node != NULL)
		xnode_set_attr(r, "node", node);
	if ((x = xnode_add_child(r, "identity", NS_DISCO_INFO)) != NULL) {
		xnode_set_attr(x, "category", "pubsub");
		xnode_set_attr(x, "type", n != NULL ? "leaf" : s->pep ? "pep" :
		    "service");
	}
	add_feature(r, NS_DISCO_INFO);
	add_feature(r, NS_DISCO_ITEMS);
	for (f = pubsub_features; *f != NULL; f++)
		add_feature(r, *f);
	/* 5.4: the meta-data form carries the configuration. */
	if (n != NULL && (x = pep_config_form(&n->cfg, "result")) != NULL)
		xnode_append(r, x);
	pep_reply_result(s, r);
}

static int
disco_item_cb(const struct pep_item *it, void *arg)
{
	struct xnode	*x, *r = arg;

	if ((x = xnode_add_child(r, "item", NS_DISCO_ITEMS)) == NULL)
		return 1;
	xnode_set_attr(x, "jid", xnode_attr(r, "jid"));
	xnode_set_attr(x, "name", it->id);
	return 0;
}

/* 5.2 the nodes a requester may see; 5.5 the items of a node. */
static void
disco_items(struct pep_stanza *s, struct xnode *q, const char *node)
{
	struct pep_node	*n;
	struct xnode	*r, *x;
	const char	*t, *c, *p;
	char		 key[KEYBUF];
	size_t		 kl;

	if ((r = xnode_new("query", NS_DISCO_ITEMS)) == NULL)
		return;
	if (node != NULL) {
		xnode_set_attr(r, "node", node);
		if ((n = pep_node_find(s->service, node)) == NULL ||
		    pep_may_access(n, s->from_bare, &t, &c, &p) == -1) {
			xnode_free(r);
			pep_reply_error(s, "cancel", "item-not-found", NULL);
			return;
		}
		kl = pep_node_key(n->service, n->name, key, sizeof(key));
		xnode_set_attr(r, "jid", s->service);
		(void)pep_item_list(pep_store, key, kl, 0, disco_item_cb, r);
		xnode_set_attr(r, "jid", NULL);
		pep_reply_result(s, r);
		return;
	}
	for (n = pep_nodes; n != NULL; n = n->next) {
		if (strcmp(n->service, s->service) != 0 ||
		    pep_may_access(n, s->from_bare, &t, &c, &p) == -1 ||
		    (x = xnode_add_child(r, "item", NS_DISCO_ITEMS)) == NULL)
			continue;
		xnode_set_attr(x, "jid", s->service);
		xnode_set_attr(x, "node", n->name);
		if (n->cfg.title[0] != '\0')
			xnode_set_attr(x, "name", n->cfg.title);
	}
	pep_reply_result(s, r);
}

void
pep_disco(struct pep_stanza *s, struct xnode *q)
{
	const char	*node = xnode_attr(q, "node");

	if (strcmp(q->name, "query") != 0) {
		pep_reply_error(s, "modify", "bad-request", NULL);
		return;
	}
	if (strcmp(q->ns, NS_DISCO_INFO) == 0)
		disco_info(s, q, node);
	else
		disco_items(s, q, node);
}
