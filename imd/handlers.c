/*
 * handlers.c - imd's iq table: the namespace of an iq's payload picks the
 * handler, and the same table lists the features an account advertises
 * in service discovery (XEP-0030), so the two cannot disagree.
 *
 * Called by imd.c for every iq addressed to a local bare JID.  Results
 * and errors (answers to imd's own roster pushes) end here silently;
 * an iq get/set with no handler, or one its handler declines, is answered
 * service-unavailable (RFC 6120 8.3.3.19, RFC 6121 2.1.5).
 */
#include <string.h>

#include "imd.h"
#include "log.h"
#include "pubsub.h"

const struct imd_iq_handler imd_iq_handlers[] = {
	{ NS_ROSTER, "query", imd_roster_iq, NULL },
	{ NS_MAM, NULL, imd_mam_iq, NS_MAM },
	{ NS_CARBONS, NULL, imd_carbons_iq, NULL },
	{ NS_BLOCKING, NULL, imd_blocking_iq, NULL },
	{ NS_VCARD, "vCard", imd_vcard_iq, NS_VCARD },
	{ NS_PRIVATE, "query", imd_private_iq, NULL },
	{ NS_LAST, "query", imd_last_iq, NS_LAST },
	{ NS_DISCO_INFO, "query", imd_disco_iq, NS_DISCO_INFO },
	{ NS_DISCO_ITEMS, "query", imd_disco_iq, NS_DISCO_ITEMS },
	{ NULL, NULL, NULL, NULL }
};

void
imd_iq(struct imd_stanza *s)
{
	const struct imd_iq_handler	*h;
	struct xnode			*p;
	uint8_t				 st = stanza_node_stype(s->x);

	if (st != RS_GET && st != RS_SET)
		return;
	/* RFC 6120 8.2.3: a get or set has exactly one payload. */
	if ((p = xnode_first_elem(s->x)) == NULL ||
	    xnode_next_elem(p) != NULL) {
		imd_reply_error(s, "modify", "bad-request");
		return;
	}
	for (h = imd_iq_handlers; h->ns != NULL; h++)
		if (strcmp(p->ns, h->ns) == 0 &&
		    (h->elem == NULL || strcmp(p->name, h->elem) == 0)) {
			if (h->fn(s) == 0)
				return;
			break;
		}
	imd_reply_error(s, "cancel", "service-unavailable");
}

static void
add_identity(struct xnode *q, const char *category, const char *type)
{
	struct xnode	*c;

	if ((c = xnode_add_child(q, "identity", NULL)) != NULL) {
		xnode_set_attr(c, "category", category);
		xnode_set_attr(c, "type", type);
	}
}

static void
add_feature(struct xnode *q, const char *var)
{
	struct xnode	*c;

	if ((c = xnode_add_child(q, "feature", NULL)) != NULL)
		xnode_set_attr(c, "var", var);
}

/* The account's own disco#info: it is an account, with the table's
 * features, and (XEP-0163 6.1) a PEP service with pepd's features when
 * pepd runs. */
static void
disco_info(struct xnode *q)
{
	const struct imd_iq_handler	*h;
	const char *const		*f;

	add_identity(q, "account", "registered");
	for (h = imd_iq_handlers; h->ns != NULL; h++)
		if (h->feature != NULL)
			add_feature(q, h->feature);
	if (!imd_conf.pep)
		return;
	/* XEP-0402 5.3: c2sd sends storage:bookmarks private XML to pepd,
	 * which keeps it in sync with the PEP node (docs/pep.md). */
	add_feature(q, "urn:xmpp:bookmarks:1#compat");
	add_identity(q, "pubsub", "pep");
	for (f = pubsub_features; *f != NULL; f++)
		add_feature(q, *f);
}

/* XEP-0030 section 3.1 on an account, without a node.  disco#items and
 * disco#info about a node are pepd's (c2sd and s2sd mark them RFF_PEP,
 * pubsub.h); one that still reaches imd (sent by another daemon) gets
 * no items, or item-not-found. */
int
imd_disco_iq(struct imd_stanza *s)
{
	struct xnode	*p = xnode_first_elem(s->x), *q;
	const char	*node;
	int		 info;

	if (stanza_node_stype(s->x) != RS_GET || p == NULL)
		return -1;
	info = strcmp(p->ns, NS_DISCO_INFO) == 0;
	node = xnode_attr(p, "node");
	if (info && node != NULL) {
		imd_reply_error(s, "cancel", "item-not-found");
		return 0;
	}
	if ((q = xnode_new("query", p->ns)) == NULL)
		return -1;
	if (node != NULL)
		xnode_set_attr(q, "node", node);
	if (info)
		disco_info(q);
	imd_reply_result(s, q);
	return 0;
}
