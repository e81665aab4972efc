/*
 * pubsub.h - what every daemon must agree on about PEP (XEP-0163) on an
 * account's bare JID: which iq addressed to one belong to pepd rather
 * than imd (c2sd and s2sd mark them RFF_PEP, routerd routes on the flag),
 * and the pubsub features pepd serves (pepd lists them on its services,
 * imd on an account's disco#info).  One copy, so the daemons cannot
 * disagree (docs/pep.md, "Routing to pepd" and "Service discovery").
 */
#ifndef RAMPART_PUBSUB_H
#define RAMPART_PUBSUB_H

#include <stdint.h>

struct xnode;

#define NS_PUBSUB_PREFIX	"http://jabber.org/protocol/pubsub"

/* 1 if an iq of type `stype` addressed to an account's bare JID is
 * pepd's: a get or set whose payload is in a pubsub namespace, a
 * disco#items (the account's nodes, XEP-0060 5.2, or a node's items,
 * 5.5), a disco#info about a node (5.3), or a result or error whose id
 * pepd chose for a caps question (PEP_CAPS_ID_PREFIX, frame.h).  The
 * caller checks the address; a disco#info without node stays imd's. */
int	pubsub_iq_for_pep(const struct xnode *iq, uint8_t stype);

/* The XEP-0060 features pepd implements, NULL-terminated. */
extern const char *const pubsub_features[];

#endif
