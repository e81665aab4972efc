/*
 * pubsub.c - the PEP routing predicate and pepd's feature list (see
 * pubsub.h).  Called by c2sd and s2sd for every iq to an account's bare
 * JID, by pepd and imd for service discovery.
 */
#include <string.h>

#include "frame.h"
#include "pubsub.h"
#include "xml.h"

#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"

const char *const pubsub_features[] = {
	NS_PUBSUB_PREFIX,
	NS_PUBSUB_PREFIX "#access-open", NS_PUBSUB_PREFIX "#access-presence",
	NS_PUBSUB_PREFIX "#access-roster",
	NS_PUBSUB_PREFIX "#access-whitelist", NS_PUBSUB_PREFIX "#auto-create",
	NS_PUBSUB_PREFIX "#config-node",
	NS_PUBSUB_PREFIX "#create-and-configure",
	NS_PUBSUB_PREFIX "#create-nodes", NS_PUBSUB_PREFIX "#delete-items",
	NS_PUBSUB_PREFIX "#delete-nodes", NS_PUBSUB_PREFIX "#instant-nodes",
	NS_PUBSUB_PREFIX "#item-ids", NS_PUBSUB_PREFIX "#last-published",
	NS_PUBSUB_PREFIX "#manage-subscriptions",
	NS_PUBSUB_PREFIX "#member-affiliation",
	NS_PUBSUB_PREFIX "#modify-affiliations",
	NS_PUBSUB_PREFIX "#outcast-affiliation",
	NS_PUBSUB_PREFIX "#persistent-items", NS_PUBSUB_PREFIX "#publish",
	NS_PUBSUB_PREFIX "#publish-options",
	NS_PUBSUB_PREFIX "#publisher-affiliation",
	NS_PUBSUB_PREFIX "#purge-nodes", NS_PUBSUB_PREFIX "#retract-items",
	NS_PUBSUB_PREFIX "#retrieve-affiliations",
	NS_PUBSUB_PREFIX "#retrieve-default",
	NS_PUBSUB_PREFIX "#retrieve-items",
	NS_PUBSUB_PREFIX "#retrieve-subscriptions",
	NS_PUBSUB_PREFIX "#subscribe", NS_PUBSUB_PREFIX "#subscription-options",
	NULL
};

int
pubsub_iq_for_pep(const struct xnode *iq, uint8_t stype)
{
	const struct xnode	*p = xnode_first_elem(iq);
	const char		*id = xnode_attr(iq, "id");

	if (stype == RS_RESULT || stype == RS_ERROR)
		return id != NULL && strncmp(id, PEP_CAPS_ID_PREFIX,
		    sizeof(PEP_CAPS_ID_PREFIX) - 1) == 0;
	if ((stype != RS_GET && stype != RS_SET) || p == NULL || p->ns == NULL)
		return 0;
	if (strncmp(p->ns, NS_PUBSUB_PREFIX, sizeof(NS_PUBSUB_PREFIX) - 1) == 0)
		return 1;
	if (strcmp(p->name, "query") != 0)
		return 0;
	return strcmp(p->ns, NS_DISCO_ITEMS) == 0 ||
	    (strcmp(p->ns, NS_DISCO_INFO) == 0 &&
	    xnode_attr(p, "node") != NULL);
}
