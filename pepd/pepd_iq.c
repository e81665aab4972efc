/*
 * pepd_iq.c - the entity requests of XEP-0060 (<pubsub/>): create,
 * publish (with publish-options and auto-create), retract, items,
 * subscribe, unsubscribe, subscription options, and the entity's own
 * subscriptions and affiliations; and the routing of every iq to its
 * handler (owner requests and disco live in pepd_owner.c).
 *
 * Called by pepd.c for each iq.  Invariants: a change is committed to
 * LMDB before the result is sent and before any notification goes out;
 * every name and id is checked against PEP_MAX_NAME, every payload
 * against max-stanza-size, before anything is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "pepd.h"
#include "stanza.h"
#include "store.h"

#define KEYBUF	(2 * (JID_MAX + 1) + PEP_MAX_NAME + 2)

static uint64_t	last_seq;

/* Item sequences increase even if the clock steps back. */
static uint64_t
next_seq(void)
{
	uint64_t	now = xmpp_now_usec();

	last_seq = now > last_seq ? now : last_seq + 1;
	return last_seq;
}

static void
random_id(char *buf, size_t size)
{
	unsigned char	r[8];
	size_t		i;

	randombytes_buf(r, sizeof(r));
	for (i = 0; i < sizeof(r) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

static int
name_ok(const char *n)
{
	return n != NULL && *n != '\0' && strlen(n) <= PEP_MAX_NAME;
}

/* The node named by `el`'s node attribute, or an error sent. */
static struct pep_node *
node_of(struct pep_stanza *s, const struct xnode *el)
{
	const char	*name = xnode_attr(el, "node");
	struct pep_node	*n;

	if (!name_ok(name)) {
		pep_reply_error(s, "modify", "bad-request", "nodeid-required");
		return NULL;
	}
	if ((n = pep_node_find(s->service, name)) == NULL)
		pep_reply_error(s, "cancel", "item-not-found", NULL);
	return n;
}

/* XEP-0060 8.1.1: on pubsub.<host> whom pubsub-create names (by
 * default accounts of our own domains); on a PEP service only the
 * account itself (XEP-0163 4.3). */
static int
may_create(struct pep_stanza *s)
{
	struct jid	j;

	if (s->pep)
		return strcmp(s->from_bare, s->service) == 0;
	switch (pep_conf.create) {
	case PEP_CREATE_ANYONE:
		return 1;
	case PEP_CREATE_NOBODY:
		return 0;
	default:
		return jid_parse(s->from_bare, strlen(s->from_bare), &j) == 0 &&
		    j.local[0] != '\0' && pep_is_host(j.domain);
	}
}

/* Create `name` with the submitted form (may be NULL) on the defaults. */
static struct pep_node *
create_node(struct pep_stanza *s, const char *name, const struct xnode *form)
{
	struct pep_config	 cfg;
	struct pep_groups	 groups = { NULL, 0 };
	struct pep_node		*n;

	if (!may_create(s)) {
		pep_reply_error(s, "auth", "forbidden", NULL);
		return NULL;
	}
	pep_config_default(&cfg, s->pep);
	if (form != NULL && (pep_config_apply(&cfg, form) == -1 ||
	    pep_groups_from_form(form, &groups) == -1)) {
		pep_reply_error(s, "modify", "not-acceptable", NULL);
		return NULL;
	}
	/* pep-max-nodes-per-owner is a policy of the service, not a lack of
	 * resources: policy-violation (RFC 6120 8.3.3.12); pep-max-nodes
	 * is pepd's capacity: resource-constraint (8.3.3.18). */
	if (pep_nodes_owned(s->service, s->from_bare) >= PEP_MAX_NODES_OWNER) {
		pep_groups_clear(&groups);
		pep_reply_error(s, "modify", "policy-violation", NULL);
		return NULL;
	}
	if ((n = pep_node_new(s->service, name)) == NULL) {
		pep_groups_clear(&groups);
		pep_reply_error(s, "wait", "resource-constraint", NULL);
		return NULL;
	}
	n->cfg = cfg;
	n->groups = groups;
	if (!s->pep && pep_aff_set(n, s->from_bare, PAFF_OWNER) == -1) {
		pep_node_destroy(n);
		pep_reply_error(s, "wait", "resource-constraint", NULL);
		return NULL;
	}
	if (pep_node_save(n) == -1) {
		pep_node_destroy(n);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return NULL;
	}
	return n;
}

/* For pepd_bookmarks.c: the same checks and quotas as a create. */
struct pep_node *
pep_iq_create_node(struct pep_stanza *s, const char *name,
    const struct xnode *form)
{
	return create_node(s, name, form);
}

/* XEP-0060 8.1.1-8.1.3 */
static void
do_create(struct pep_stanza *s, struct xnode *ps, struct xnode *c)
{
	const char	*name = xnode_attr(c, "node");
	struct xnode	*conf, *r, *rc;
	char		 gen[32];

	conf = xnode_child(ps, "configure", NS_PUBSUB);
	if (name == NULL) {
		random_id(gen, sizeof(gen));	/* 8.1.2 instant node */
		name = gen;
	} else if (!name_ok(name)) {
		pep_reply_error(s, "modify", "not-acceptable", NULL);
		return;
	}
	if (pep_node_find(s->service, name) != NULL) {
		pep_reply_error(s, "cancel", "conflict", NULL);
		return;
	}
	if (create_node(s, name, pep_form_find(conf)) == NULL)
		return;
	if ((r = xnode_new("pubsub", NS_PUBSUB)) != NULL &&
	    (rc = xnode_add_child(r, "create", NS_PUBSUB)) != NULL)
		xnode_set_attr(rc, "node", name);
	pep_reply_result(s, r);
}

static int
subscribed_bare(struct pep_node *n, const char *bare)
{
	struct pep_sub	*u;
	size_t		 bl = strlen(bare);

	for (u = n->subs; u != NULL; u = u->next)
		if (strncmp(u->jid, bare, bl) == 0 &&
		    (u->jid[bl] == '\0' || u->jid[bl] == '/'))
			return 1;
	return 0;
}

/* XEP-0060 7.1.3.1 and the publish_model. */
static int
may_publish(struct pep_node *n, const char *bare)
{
	enum pep_aff	a = pep_aff_get(n, bare);

	if (a == PAFF_OUTCAST)
		return 0;
	if (a >= PAFF_PUBLISHER || n->cfg.publish_model == PPUB_OPEN)
		return 1;
	return n->cfg.publish_model == PPUB_SUBSCRIBERS &&
	    subscribed_bare(n, bare);
}

/* XEP-0060 7.1.5: every publish-option must equal the node's value. */
static int
preconditions_met(struct pep_node *n, const struct xnode *form)
{
	struct pep_config	tmp = n->cfg;

	if (form == NULL)
		return 1;
	return pep_config_apply(&tmp, form) == 0 &&
	    pep_config_equal(&tmp, &n->cfg);
}

/* The single payload of an item, serialized; -1 with the error sent. */
static int
item_payload(struct pep_stanza *s, struct pep_node *n, struct xnode *item,
    struct xbuf *b)
{
	struct xnode	*p = item == NULL ? NULL : xnode_first_elem(item);

	if (p != NULL && xnode_next_elem(p) != NULL) {
		pep_reply_error(s, "modify", "bad-request", "invalid-payload");
		return -1;
	}
	if (p == NULL) {
		if (n->cfg.deliver_payloads && n->cfg.persist_items) {
			pep_reply_error(s, "modify", "bad-request",
			    "payload-required");
			return -1;
		}
		return 0;
	}
	xml_serialize(b, p, NULL);
	if (b->failed) {
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return -1;
	}
	if (b->len > pep_conf.max_payload) {
		pep_reply_error(s, "modify", "not-acceptable",
		    "payload-too-big");
		return -1;
	}
	return 0;
}

static void
publish_notify(struct pep_node *n, const char *id, struct xnode *item)
{
	struct xnode	*items, *i, *p;

	if ((items = xnode_new("items", NS_PUBSUB_EVENT)) == NULL)
		return;
	xnode_set_attr(items, "node", n->name);
	if ((i = xnode_add_child(items, "item", NS_PUBSUB_EVENT)) != NULL) {
		xnode_set_attr(i, "id", id);
		if (n->cfg.deliver_payloads && item != NULL &&
		    (p = xnode_first_elem(item)) != NULL &&
		    (p = xnode_dup(p)) != NULL)
			xnode_append(i, p);
	}
	pep_notify_items(n, items);
}

static int
store_item(struct pep_node *n, const char *id, const char *publisher,
    struct xbuf *b)
{
	char	key[KEYBUF];
	size_t	kl;

	if (!n->cfg.persist_items)
		return 0;	/* a transient node keeps nothing (4.3) */
	if ((kl = pep_node_key(n->service, n->name, key, sizeof(key))) == 0)
		return -1;
	return pep_item_put(pep_store, key, kl, id, publisher,
	    b->data != NULL ? b->data : "", b->len, n->cfg.max_items,
	    next_seq());
}

/* For pepd_bookmarks.c: store as a publish does (sequence, trim). */
int
pep_iq_store_item(struct pep_node *n, const char *id, const char *publisher,
    struct xbuf *b)
{
	return store_item(n, id, publisher, b);
}

/* XEP-0060 7.1 */
static void
do_publish(struct pep_stanza *s, struct xnode *ps, struct xnode *pub)
{
	const char	*name = xnode_attr(pub, "node"), *id;
	struct xnode	*item = xnode_child(pub, "item", NS_PUBSUB), *opts;
	struct xnode	*r, *rp, *ri;
	struct pep_node	*n;
	struct xbuf	 b;
	char		 gen[32];

	opts = pep_form_find(xnode_child(ps, "publish-options", NS_PUBSUB));
	if (!name_ok(name)) {
		pep_reply_error(s, "modify", "bad-request", "nodeid-required");
		return;
	}
	if ((n = pep_node_find(s->service, name)) == NULL) {
		/* 7.1.4 auto-create, publish-options as its configuration */
		if ((n = create_node(s, name, opts)) == NULL)
			return;
	} else if (!may_publish(n, s->from_bare)) {
		pep_reply_error(s, "auth", "forbidden", NULL);
		return;
	} else if (!preconditions_met(n, opts)) {
		pep_reply_error(s, "cancel", "conflict", "precondition-not-met");
		return;
	}
	if (item != NULL && xnode_next_elem(item) != NULL) {
		pep_reply_error(s, "modify", "bad-request", "invalid-payload");
		return;
	}
	if ((id = item == NULL ? NULL : xnode_attr(item, "id")) == NULL) {
		random_id(gen, sizeof(gen));
		id = gen;
	} else if (!name_ok(id)) {
		pep_reply_error(s, "modify", "not-acceptable", NULL);
		return;
	}
	xbuf_init(&b);
	if (item_payload(s, n, item, &b) == -1) {
		xbuf_free(&b);
		return;
	}
	if (store_item(n, id, s->from_bare, &b) == -1) {
		xbuf_free(&b);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	xbuf_free(&b);
	if ((r = xnode_new("pubsub", NS_PUBSUB)) != NULL &&
	    (rp = xnode_add_child(r, "publish", NS_PUBSUB)) != NULL) {
		xnode_set_attr(rp, "node", n->name);
		if ((ri = xnode_add_child(rp, "item", NS_PUBSUB)) != NULL)
			xnode_set_attr(ri, "id", id);
	}
	pep_reply_result(s, r);
	publish_notify(n, id, item);
}

static int
is_true(const char *v)
{
	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* XEP-0060 7.2 */
static void
do_retract(struct pep_stanza *s, struct xnode *rt)
{
	struct pep_node	*n;
	struct xnode	*item = xnode_child(rt, "item", NS_PUBSUB), *items, *r;
	const char	*id, *notify = xnode_attr(rt, "notify");
	char		 key[KEYBUF];
	size_t		 kl;
	int		 rc;

	if ((n = node_of(s, rt)) == NULL)
		return;
	if (item == NULL || !name_ok(id = xnode_attr(item, "id"))) {
		pep_reply_error(s, "modify", "bad-request", "item-required");
		return;
	}
	if (pep_aff_get(n, s->from_bare) < PAFF_PUBLISHER) {
		pep_reply_error(s, "auth", "forbidden", NULL);
		return;
	}
	if ((kl = pep_node_key(n->service, n->name, key, sizeof(key))) == 0 ||
	    (rc = pep_item_del(pep_store, key, kl, id)) == -1) {
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	if (rc == 1) {
		pep_reply_error(s, "cancel", "item-not-found", NULL);
		return;
	}
	pep_reply_result(s, NULL);
	if (notify != NULL ? !is_true(notify) : !n->cfg.notify_retract)
		return;
	if ((items = xnode_new("items", NS_PUBSUB_EVENT)) == NULL)
		return;
	xnode_set_attr(items, "node", n->name);
	if ((r = xnode_add_child(items, "retract", NS_PUBSUB_EVENT)) != NULL)
		xnode_set_attr(r, "id", id);
	pep_notify_items(n, items);
}

static int
items_cb(const struct pep_item *it, void *arg)
{
	return pep_item_to_xml(arg, it, NS_PUBSUB, 1) == -1 ? 1 : 0;
}

static int
access_ok(struct pep_stanza *s, struct pep_node *n)
{
	const char	*type, *cond, *pcond;

	if (pep_may_access(n, s->from_bare, &type, &cond, &pcond) == 0)
		return 1;
	pep_reply_error(s, type, cond, pcond);
	return 0;
}

/* XEP-0060 6.5: all, the newest max_items, or by id. */
static void
do_items(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct xnode	*r, *items, *i;
	const char	*ma = xnode_attr(el, "max_items"), *id;
	char		 key[KEYBUF], *end;
	unsigned long	 max = 0;
	size_t		 kl;

	if ((n = node_of(s, el)) == NULL || !access_ok(s, n))
		return;
	if (ma != NULL && ((max = strtoul(ma, &end, 10)) == 0 ||
	    *end != '\0' || max > PEP_MAX_ITEMS)) {
		pep_reply_error(s, "modify", "bad-request", NULL);
		return;
	}
	kl = pep_node_key(n->service, n->name, key, sizeof(key));
	if ((r = xnode_new("pubsub", NS_PUBSUB)) == NULL ||
	    (items = xnode_add_child(r, "items", NS_PUBSUB)) == NULL) {
		xnode_free(r);
		return;
	}
	xnode_set_attr(items, "node", n->name);
	if ((i = xnode_child(el, "item", NS_PUBSUB)) == NULL)
		(void)pep_item_list(pep_store, key, kl, (unsigned)max,
		    items_cb, items);
	for (; i != NULL; i = xnode_next_elem(i))
		if (strcmp(i->name, "item") == 0 &&
		    name_ok(id = xnode_attr(i, "id")))
			(void)pep_item_get(pep_store, key, kl, id, items_cb,
			    items);
	pep_reply_result(s, r);
}

/* The normalized `jid` attribute, which must name the sender (6.1.3.2). */
static int
sub_jid(struct pep_stanza *s, const struct xnode *el, char *out)
{
	const char	*j = xnode_attr(el, "jid");
	struct jid	 p;
	char		 bare[JID_MAX + 1];

	if (j == NULL || jid_parse(j, strlen(j), &p) == -1 ||
	    jid_format(&p, out, JID_MAX + 1) < 0 ||
	    jid_format_bare(&p, bare, sizeof(bare)) < 0 ||
	    strcmp(bare, s->from_bare) != 0) {
		pep_reply_error(s, "modify", "bad-request", "invalid-jid");
		return -1;
	}
	return 0;
}

static struct xnode *
subscription_el(struct pep_node *n, struct pep_sub *u, const char *ns)
{
	struct xnode	*x;

	if ((x = xnode_new("subscription", ns)) == NULL)
		return NULL;
	xnode_set_attr(x, "node", n->name);
	xnode_set_attr(x, "jid", u->jid);
	if (strcmp(ns, NS_PUBSUB) == 0)
		xnode_set_attr(x, "subid", u->subid);
	xnode_set_attr(x, "subscription", "subscribed");
	return x;
}

/* XEP-0060 6.1 */
static void
do_subscribe(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct pep_sub	*u;
	struct xnode	*r;
	char		 jid[JID_MAX + 1];

	if ((n = node_of(s, el)) == NULL || sub_jid(s, el, jid) == -1 ||
	    !access_ok(s, n))
		return;
	if ((u = pep_sub_add(n, jid)) == NULL) {
		pep_reply_error(s, "wait", "resource-constraint", NULL);
		return;
	}
	if (pep_node_save(n) == -1) {
		(void)pep_sub_del(n, jid);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	if ((r = xnode_new("pubsub", NS_PUBSUB)) != NULL)
		xnode_append(r, subscription_el(n, u, NS_PUBSUB));
	pep_reply_result(s, r);
	pep_send_last(n, jid);
}

/* XEP-0060 6.2 */
static void
do_unsubscribe(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	char		 jid[JID_MAX + 1];

	if ((n = node_of(s, el)) == NULL || sub_jid(s, el, jid) == -1)
		return;
	if (pep_sub_del(n, jid) == 1) {
		pep_reply_error(s, "cancel", "unexpected-request",
		    "not-subscribed");
		return;
	}
	(void)pep_node_save(n);
	pep_reply_result(s, NULL);
}

/* XEP-0060 6.3, minimal: one option, pubsub#deliver, always on. */
static void
do_options(struct pep_stanza *s, struct xnode *el)
{
	struct pep_node	*n;
	struct xnode	*r, *o, *x;
	char		 jid[JID_MAX + 1];

	if ((n = node_of(s, el)) == NULL || sub_jid(s, el, jid) == -1)
		return;
	if (pep_sub_find(n, jid) == NULL) {
		pep_reply_error(s, "modify", "unexpected-request",
		    "not-subscribed");
		return;
	}
	if (s->stype == RS_SET) {
		pep_reply_result(s, NULL);
		return;
	}
	if ((r = xnode_new("pubsub", NS_PUBSUB)) == NULL ||
	    (o = xnode_add_child(r, "options", NS_PUBSUB)) == NULL ||
	    (x = xnode_add_child(o, "x", NS_XDATA)) == NULL) {
		xnode_free(r);
		return;
	}
	xnode_set_attr(o, "node", n->name);
	xnode_set_attr(o, "jid", jid);
	xnode_set_attr(x, "type", "form");
	pep_form_field(x, "FORM_TYPE", "hidden", NS_PUBSUB_SUBOPT);
	pep_form_field(x, "pubsub#deliver", "boolean", "1");
	pep_reply_result(s, r);
}

static int
sub_of_bare(const char *jid, const char *bare)
{
	size_t	bl = strlen(bare);

	return strncmp(jid, bare, bl) == 0 &&
	    (jid[bl] == '\0' || jid[bl] == '/');
}

/* XEP-0060 5.6 and 5.7: the sender's own subscriptions, affiliations. */
static void
do_entity_list(struct pep_stanza *s, struct xnode *el, int affs)
{
	struct pep_node	*n;
	struct pep_sub	*u;
	struct xnode	*r, *l, *a;
	const char	*only = xnode_attr(el, "node");
	enum pep_aff	 af;

	if ((r = xnode_new("pubsub", NS_PUBSUB)) == NULL ||
	    (l = xnode_add_child(r, el->name, NS_PUBSUB)) == NULL) {
		xnode_free(r);
		return;
	}
	for (n = pep_nodes; n != NULL; n = n->next) {
		if (strcmp(n->service, s->service) != 0 ||
		    (only != NULL && strcmp(only, n->name) != 0))
			continue;
		if (affs) {
			if ((af = pep_aff_get(n, s->from_bare)) == PAFF_NONE ||
			    (a = xnode_add_child(l, "affiliation",
			    NS_PUBSUB)) == NULL)
				continue;
			xnode_set_attr(a, "node", n->name);
			xnode_set_attr(a, "affiliation", pep_aff_name(af));
			continue;
		}
		for (u = n->subs; u != NULL; u = u->next)
			if (sub_of_bare(u->jid, s->from_bare))
				xnode_append(l, subscription_el(n, u,
				    NS_PUBSUB));
	}
	pep_reply_result(s, r);
}

static void
pubsub_set(struct pep_stanza *s, struct xnode *ps, struct xnode *c)
{
	if (strcmp(c->name, "create") == 0)
		do_create(s, ps, c);
	else if (strcmp(c->name, "publish") == 0)
		do_publish(s, ps, c);
	else if (strcmp(c->name, "retract") == 0)
		do_retract(s, c);
	else if (strcmp(c->name, "subscribe") == 0)
		do_subscribe(s, c);
	else if (strcmp(c->name, "unsubscribe") == 0)
		do_unsubscribe(s, c);
	else if (strcmp(c->name, "options") == 0)
		do_options(s, c);
	else
		pep_reply_error(s, "cancel", "feature-not-implemented", NULL);
}

static void
pubsub_get(struct pep_stanza *s, struct xnode *c)
{
	if (strcmp(c->name, "items") == 0)
		do_items(s, c);
	else if (strcmp(c->name, "options") == 0)
		do_options(s, c);
	else if (strcmp(c->name, "subscriptions") == 0)
		do_entity_list(s, c, 0);
	else if (strcmp(c->name, "affiliations") == 0)
		do_entity_list(s, c, 1);
	else
		pep_reply_error(s, "cancel", "feature-not-implemented", NULL);
}

void
pep_iq(struct pep_stanza *s)
{
	struct xnode	*q = xnode_first_elem(s->x), *c;

	if (s->stype != RS_GET && s->stype != RS_SET)
		return;		/* results and errors end here */
	if (q == NULL || q->ns == NULL) {
		pep_reply_error(s, "modify", "bad-request", NULL);
		return;
	}
	if (strcmp(q->ns, NS_DISCO_INFO) == 0 ||
	    strcmp(q->ns, NS_DISCO_ITEMS) == 0) {
		if (s->stype == RS_GET)
			pep_disco(s, q);
		else
			pep_reply_error(s, "cancel", "bad-request", NULL);
		return;
	}
	if (strcmp(q->ns, NS_PUBSUB_OWNER) == 0) {
		pep_owner_iq(s, q);
		return;
	}
	if (strcmp(q->ns, NS_PRIVATE) == 0) {	/* XEP-0402 5.3 */
		pep_bookmarks_iq(s, q);
		return;
	}
	if (strcmp(q->ns, NS_PUBSUB) != 0 || strcmp(q->name, "pubsub") != 0) {
		pep_reply_error(s, "cancel", "service-unavailable", NULL);
		return;
	}
	if ((c = xnode_first_elem(q)) == NULL)
		pep_reply_error(s, "modify", "bad-request", NULL);
	else if (s->stype == RS_SET)
		pubsub_set(s, q, c);
	else
		pubsub_get(s, c);
}
