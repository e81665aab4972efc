/*
 * pepd_notify.c - event notifications (XEP-0060 7.1.2.1, 7.2.2.1, 8.4.3,
 * 6.1.7): one <message type='headline'/> from the service to each
 * subscription, built once and re-addressed per recipient.
 *
 * PEP nodes also reach the owner's online contacts whose caps want
 * them (pepd_contacts.c).  Called by pepd_iq.c after the change is
 * committed.  Invariants:
 * outcasts get nothing even if a subscription survived; a full send
 * queue stops the fan-out with a log line instead of growing the queue.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pepd.h"
#include "store.h"

static unsigned long	msg_serial;

static struct xnode *
event_message(struct pep_node *n, struct xnode **ev)
{
	struct xnode	*m;
	char		 id[32];

	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL)
		return NULL;
	xnode_set_attr(m, "type", "headline");
	snprintf(id, sizeof(id), "ps%lx", ++msg_serial);
	xnode_set_attr(m, "id", id);
	if ((*ev = xnode_add_child(m, "event", NS_PUBSUB_EVENT)) == NULL) {
		xnode_free(m);
		return NULL;
	}
	return m;
}

static void
fanout(struct pep_node *n, struct xnode *m)
{
	struct pep_sub	*s;
	struct jid	 j;
	char		 bare[JID_MAX + 1];

	for (s = n->subs; s != NULL; s = s->next) {
		if (jid_parse(s->jid, strlen(s->jid), &j) == -1 ||
		    jid_format_bare(&j, bare, sizeof(bare)) < 0 ||
		    pep_aff_get(n, bare) == PAFF_OUTCAST)
			continue;
		if (pep_send(n->service, s->jid, m) == -1) {
			log_warnx("notifications of %s stopped: queue full",
			    n->name);
			return;
		}
	}
	pep_contacts_fanout(n, m);
}

/* `items` (an <items node=.../> in the event namespace) is taken. */
void
pep_notify_items(struct pep_node *n, struct xnode *items)
{
	struct xnode	*m, *ev;

	if ((m = event_message(n, &ev)) == NULL) {
		xnode_free(items);
		return;
	}
	xnode_append(ev, items);
	fanout(n, m);
	xnode_free(m);
}

/* <delete/>, <purge/> (XEP-0060 8.4.3, 8.5.3). */
void
pep_notify_simple(struct pep_node *n, const char *what)
{
	struct xnode	*m, *ev, *c;

	if ((m = event_message(n, &ev)) == NULL)
		return;
	if ((c = xnode_add_child(ev, what, NS_PUBSUB_EVENT)) != NULL)
		xnode_set_attr(c, "node", n->name);
	fanout(n, m);
	xnode_free(m);
}

/* Parse a stored payload into `item`; -1 if it does not parse. */
static int
add_payload(struct xnode *item, const struct pep_item *it)
{
	struct xnode	*p;

	if (it->payload_len == 0)
		return 0;
	if ((p = xml_parse_element(it->payload, it->payload_len,
	    NULL)) == NULL)
		return -1;
	xnode_append(item, p);
	return 0;
}

struct last {
	struct xnode	*items;
	int		 payloads;
};

static int
last_cb(const struct pep_item *it, void *arg)
{
	struct last	*l = arg;
	struct xnode	*i;

	if ((i = xnode_add_child(l->items, "item", NS_PUBSUB_EVENT)) == NULL)
		return 1;
	xnode_set_attr(i, "id", it->id);
	if (l->payloads)
		(void)add_payload(i, it);
	return 0;
}

/* XEP-0060 6.1.7: the last published item to a new subscriber. */
void
pep_send_last(struct pep_node *n, const char *to)
{
	struct xnode	*m, *ev;
	struct last	 l;
	char		 key[2 * (JID_MAX + 1) + PEP_MAX_NAME + 2];
	size_t		 kl;

	if (n->cfg.send_last == PSL_NEVER ||
	    (kl = pep_node_key(n->service, n->name, key, sizeof(key))) == 0 ||
	    (m = event_message(n, &ev)) == NULL)
		return;
	if ((l.items = xnode_add_child(ev, "items", NS_PUBSUB_EVENT)) != NULL) {
		xnode_set_attr(l.items, "node", n->name);
		l.payloads = n->cfg.deliver_payloads;
		if (pep_item_list(pep_store, key, kl, 1, last_cb, &l) == 0 &&
		    l.items->children != NULL)
			(void)pep_send(n->service, to, m);
	}
	xnode_free(m);
}

int
pep_item_to_xml(struct xnode *parent, const struct pep_item *it,
    const char *ns, int payload)
{
	struct xnode	*i;

	if ((i = xnode_add_child(parent, "item", ns)) == NULL)
		return -1;
	xnode_set_attr(i, "id", it->id);
	return payload ? add_payload(i, it) : 0;
}
