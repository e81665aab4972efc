/*
 * pepd_contacts.c - what pepd knows of accounts' contacts, for the
 * presence and roster access models and for PEP notifications
 * (XEP-0163 4.3).
 *
 * This is the one place that will hold the mirror imd feeds
 * (docs/pep.md, "Contacts"); until routerd and imd send it, pepd knows
 * no presence subscription, so "presence" nodes are open to their owner
 * and their members only.  Called by pepd_node.c.
 */
#include <string.h>

#include "pepd.h"

int
pep_contact_subscribed(const char *owner, const char *contact)
{
	return strcmp(owner, contact) == 0;
}
