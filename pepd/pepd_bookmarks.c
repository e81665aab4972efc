/*
 * pepd_bookmarks.c - XEP-0402 5.3 compatibility: XEP-0048 bookmarks kept
 * in Private XML Storage (XEP-0049, <query xmlns='jabber:iq:private'>
 * <storage xmlns='storage:bookmarks'/>) are not stored apart, they are a
 * view of the account's urn:xmpp:bookmarks:1 PEP node.
 *
 * Called by pepd_iq.c for a jabber:iq:private iq, which c2sd sends here
 * (RFF_PEP) only when its child is storage:bookmarks; every other
 * private namespace stays in imd.  A get converts the node's items into
 * one <storage/>; a set replaces the node's items by the conferences
 * given, publishing only what changed and retracting what is gone
 * (5.3.2), with the notifications of a publish.  Invariants: only the
 * account itself reads or writes (XEP-0049 3); a set is checked whole
 * (every JID, the count against max_items) before anything changes;
 * the node is created with the options of XEP-0402 3.2 when missing.
 * docs/pep.md, "Bookmarks compatibility".
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pepd.h"
#include "store.h"

#define KEYBUF	(2 * (JID_MAX + 1) + PEP_MAX_NAME + 2)

/* The text of `el`'s child `name` in `ns`, or NULL; caller frees. */
static char *
child_text(const struct xnode *el, const char *name, const char *ns)
{
	struct xnode	*c = xnode_child(el, name, ns);

	return c == NULL ? NULL : xnode_text(c);
}

/* Copy name, autojoin, nick and password from the conference `from` in
 * one namespace to `to` in `ns` (the two formats differ only there and
 * in where the room JID is). */
static void
copy_conference(struct xnode *to, const struct xnode *from,
    const char *from_ns, const char *ns)
{
	static const char *const kids[] = { "nick", "password", NULL };
	const char *const	*k;
	const char		*v;
	struct xnode		*c;
	char			*t;
	int			 aj = 0;

	if ((v = xnode_attr(from, "name")) != NULL)
		xnode_set_attr(to, "name", v);
	if ((v = xnode_attr(from, "autojoin")) != NULL)
		(void)dataform_bool(v, &aj);	/* both use xs:boolean */
	xnode_set_attr(to, "autojoin", aj ? "true" : "false");
	for (k = kids; *k != NULL; k++) {
		if ((t = child_text(from, *k, from_ns)) == NULL)
			continue;
		if ((c = xnode_add_child(to, *k, ns)) != NULL)
			xnode_add_text(c, t, strlen(t));
		free(t);
	}
}

/* ---- get: the node's items as one XEP-0048 <storage/> ---- */

static int
to_storage_cb(const struct pep_item *it, void *arg)
{
	struct xnode	*storage = arg, *p, *c;

	if (it->payload_len == 0 || (p = xml_parse_element(it->payload,
	    it->payload_len, NULL)) == NULL)
		return 0;	/* nothing a XEP-0048 client could use */
	if (strcmp(p->name, "conference") == 0 && p->ns != NULL &&
	    strcmp(p->ns, NS_BOOKMARKS) == 0 &&
	    (c = xnode_add_child(storage, "conference",
	    NS_BOOKMARKS_OLD)) != NULL) {
		xnode_set_attr(c, "jid", it->id);
		copy_conference(c, p, NS_BOOKMARKS, NS_BOOKMARKS_OLD);
	}
	xnode_free(p);
	return 0;
}

static void
bookmarks_get(struct pep_stanza *s)
{
	struct pep_node	*n = pep_node_find(s->service, NS_BOOKMARKS);
	struct xnode	*q, *storage;
	char		 key[KEYBUF];
	size_t		 kl;

	if ((q = xnode_new("query", NS_PRIVATE)) == NULL ||
	    (storage = xnode_add_child(q, "storage",
	    NS_BOOKMARKS_OLD)) == NULL) {
		xnode_free(q);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	/* No node yet: an empty <storage/> (XEP-0049 3.2 returns the
	 * empty element when nothing is stored). */
	if (n != NULL && ((kl = pep_node_key(n->service, n->name, key,
	    sizeof(key))) == 0 || pep_item_list(pep_store, key, kl, 0,
	    to_storage_cb, storage) == -1)) {
		xnode_free(q);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	pep_reply_result(s, q);
}

/* ---- set: replace the node's items ---- */

/* The <item id=...> child of `list` with that id, or NULL. */
static struct xnode *
item_by_id(const struct xnode *list, const char *id)
{
	struct xnode	*i;
	const char	*v;

	for (i = xnode_first_elem(list); i != NULL; i = xnode_next_elem(i))
		if ((v = xnode_attr(i, "id")) != NULL && strcmp(v, id) == 0)
			return i;
	return NULL;
}

/* Every conference of `storage` as <item id=room><conference/></item>
 * under a new list; NULL with the error sent.  URL bookmarks are left
 * out (XEP-0402 1: out of its scope); a repeated room keeps its first
 * entry. */
static struct xnode *
new_items(struct pep_stanza *s, const struct xnode *storage)
{
	struct xnode	*list, *c, *i, *p;
	const char	*jid;
	char		 room[JID_MAX + 1];
	size_t		 count = 0;

	if ((list = xnode_new("items", NULL)) == NULL)
		goto fail;
	for (c = xnode_first_elem(storage); c != NULL; c = xnode_next_elem(c)) {
		if (strcmp(c->name, "conference") != 0 || c->ns == NULL ||
		    strcmp(c->ns, NS_BOOKMARKS_OLD) != 0)
			continue;
		if ((jid = xnode_attr(c, "jid")) == NULL ||
		    jid_normalize(jid, room, sizeof(room)) == -1 ||
		    strchr(room, '/') != NULL || strlen(room) > PEP_MAX_NAME ||
		    ++count > PEP_MAX_ITEMS) {
			xnode_free(list);
			pep_reply_error(s, "modify", "not-acceptable", NULL);
			return NULL;
		}
		if (item_by_id(list, room) != NULL)
			continue;
		if ((i = xnode_add_child(list, "item", NULL)) == NULL ||
		    (p = xnode_add_child(i, "conference", NS_BOOKMARKS)) == NULL)
			goto fail;
		xnode_set_attr(i, "id", room);
		copy_conference(p, c, NS_BOOKMARKS_OLD, NS_BOOKMARKS);
	}
	return list;
fail:
	xnode_free(list);
	pep_reply_error(s, "wait", "internal-server-error", NULL);
	return NULL;
}

/* The node, created with XEP-0402 3.2's options if missing; NULL with
 * the error sent. */
static struct pep_node *
bookmarks_node(struct pep_stanza *s)
{
	struct pep_node	*n;
	struct xnode	*x;

	if ((n = pep_node_find(s->service, NS_BOOKMARKS)) != NULL)
		return n;
	if ((x = xnode_new("x", NS_XDATA)) == NULL) {
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return NULL;
	}
	xnode_set_attr(x, "type", "submit");
	(void)dataform_field(x, "FORM_TYPE", "hidden", NULL, NS_PUBSUB_PUBOPT);
	(void)dataform_field(x, "pubsub#persist_items", NULL, NULL, "true");
	(void)dataform_field(x, "pubsub#max_items", NULL, NULL, "max");
	(void)dataform_field(x, "pubsub#send_last_published_item", NULL,
	    NULL, "never");
	(void)dataform_field(x, "pubsub#access_model", NULL, NULL,
	    "whitelist");
	n = pep_iq_create_node(s, NS_BOOKMARKS, x);
	xnode_free(x);
	return n;
}

static int
to_list_cb(const struct pep_item *it, void *arg)
{
	return pep_item_to_xml(arg, it, NULL, 1) == -1 ? 1 : 0;
}

/* 1 if the payloads of items `a` and `b` serialize alike. */
static int
same_payload(const struct xnode *a, const struct xnode *b)
{
	struct xbuf	 x, y;
	struct xnode	*pa = xnode_first_elem(a), *pb = xnode_first_elem(b);
	int		 same;

	if (pa == NULL || pb == NULL)
		return 0;
	xbuf_init(&x);
	xbuf_init(&y);
	xml_serialize(&x, pa, NULL);
	xml_serialize(&y, pb, NULL);
	same = !x.failed && !y.failed && x.len == y.len &&
	    memcmp(x.data, y.data, x.len) == 0;
	xbuf_free(&x);
	xbuf_free(&y);
	return same;
}

/* Store `item` unless `old` holds it unchanged; XEP-0402 extensions of
 * the old item survive (XEP-0048 cannot carry them).  Adds the item to
 * `ev` when stored.  -1: the store failed. */
static int
put_changed(struct pep_node *n, const char *publisher, struct xnode *item,
    struct xnode *old, struct xnode *ev)
{
	struct xnode	*p = xnode_first_elem(item), *e, *op;
	struct xbuf	 b;
	int		 rc;

	if (old != NULL && (op = xnode_first_elem(old)) != NULL &&
	    (e = xnode_child(op, "extensions", NS_BOOKMARKS)) != NULL &&
	    (e = xnode_dup(e)) != NULL)
		xnode_append(p, e);
	if (old != NULL && same_payload(item, old))
		return 0;	/* 5.3.2: no notification for it */
	xbuf_init(&b);
	xml_serialize(&b, p, NULL);
	rc = b.failed || b.len > pep_conf.max_payload ? -1 :
	    pep_iq_store_item(n, xnode_attr(item, "id"), publisher, &b);
	xbuf_free(&b);
	if (rc == 0 && (e = xnode_add_child(ev, "item", NULL)) != NULL) {
		xnode_set_attr(e, "id", xnode_attr(item, "id"));
		if ((p = xnode_dup(p)) != NULL)	/* deliver_payloads */
			xnode_append(e, p);
	}
	return rc;
}

static struct xnode *
event_items(const char *node)
{
	struct xnode	*x;

	if ((x = xnode_new("items", NS_PUBSUB_EVENT)) != NULL)
		xnode_set_attr(x, "node", node);
	return x;
}

/* Apply `fresh` on the node: changed items stored, missing ones
 * retracted; the events are filled for the caller.  -1 on failure. */
static int
replace_items(struct pep_node *n, const char *publisher, struct xnode *fresh,
    struct xnode *ev_put, struct xnode *ev_del)
{
	struct xnode	*old, *i, *r;
	const char	*id;
	char		 key[KEYBUF];
	size_t		 kl;
	int		 rc = 0;

	if ((kl = pep_node_key(n->service, n->name, key, sizeof(key))) == 0 ||
	    (old = xnode_new("items", NULL)) == NULL)
		return -1;
	if (pep_item_list(pep_store, key, kl, 0, to_list_cb, old) == -1)
		rc = -1;
	for (i = xnode_first_elem(fresh); rc == 0 && i != NULL;
	    i = xnode_next_elem(i))
		rc = put_changed(n, publisher, i, item_by_id(old,
		    xnode_attr(i, "id")), ev_put);
	for (i = xnode_first_elem(old); rc == 0 && i != NULL;
	    i = xnode_next_elem(i)) {
		if ((id = xnode_attr(i, "id")) == NULL ||
		    item_by_id(fresh, id) != NULL)
			continue;
		if (pep_item_del(pep_store, key, kl, id) == -1)
			rc = -1;
		else if ((r = xnode_add_child(ev_del, "retract",
		    NS_PUBSUB_EVENT)) != NULL)
			xnode_set_attr(r, "id", id);
	}
	xnode_free(old);
	return rc;
}

static void
bookmarks_set(struct pep_stanza *s, const struct xnode *storage)
{
	struct pep_node	*n;
	struct xnode	*fresh, *ev_put, *ev_del;
	int		 rc;

	if ((fresh = new_items(s, storage)) == NULL)
		return;
	if ((n = bookmarks_node(s)) == NULL) {
		xnode_free(fresh);
		return;
	}
	ev_put = event_items(n->name);
	ev_del = event_items(n->name);
	if (ev_put == NULL || ev_del == NULL)
		rc = -1;
	else if ((rc = replace_items(n, s->from_bare, fresh, ev_put,
	    ev_del)) == -1)
		log_warnx("bookmarks of %s: store failed", s->service);
	xnode_free(fresh);
	if (rc == -1) {
		xnode_free(ev_put);
		xnode_free(ev_del);
		pep_reply_error(s, "wait", "internal-server-error", NULL);
		return;
	}
	pep_reply_result(s, NULL);
	/* Retractions notify whatever notify_retract says: a XEP-0402
	 * client must see a room leave the list (XEP-0402 4). */
	if (xnode_first_elem(ev_put) != NULL)
		pep_notify_items(n, ev_put);
	else
		xnode_free(ev_put);
	if (xnode_first_elem(ev_del) != NULL)
		pep_notify_items(n, ev_del);
	else
		xnode_free(ev_del);
}

void
pep_bookmarks_iq(struct pep_stanza *s, struct xnode *q)
{
	struct xnode	*st = xnode_first_elem(q);

	/* XEP-0049 3: nobody reads or writes another account's storage. */
	if (!s->pep || strcmp(s->from_bare, s->service) != 0) {
		pep_reply_error(s, "cancel", "forbidden", NULL);
		return;
	}
	if (strcmp(q->name, "query") != 0 || st == NULL ||
	    xnode_next_elem(st) != NULL || strcmp(st->name, "storage") != 0 ||
	    st->ns == NULL || strcmp(st->ns, NS_BOOKMARKS_OLD) != 0) {
		/* c2sd sends only storage:bookmarks here */
		pep_reply_error(s, "modify", "bad-request", NULL);
		return;
	}
	if (s->stype == RS_GET)
		bookmarks_get(s);
	else
		bookmarks_set(s, st);
}
