/*
 * stanza.h - the frame header's view of a stanza: its kind (message,
 * presence, iq) and type, from the element name and the `type` attribute.
 * One table for every daemon that parses stanzas (c2sd, s2sd, imd, mucd).
 */
#ifndef RAMPART_STANZA_H
#define RAMPART_STANZA_H

#include <stddef.h>
#include <stdint.h>

struct xnode;

/* RK_* for "message", "presence", "iq"; RK_NONE otherwise. */
uint8_t	stanza_kind(const char *name);
/* RS_* for a type attribute (NULL: absent) of a stanza of `kind`: absent
 * means normal (message) or available (presence) (RFC 6120 8.2.3, RFC 6121
 * 4.7.1); an unknown message type is normal (RFC 6121 5.2.2); otherwise an
 * unknown type is RS_NONE. */
uint8_t	stanza_stype(uint8_t kind, const char *type);

/* Frame bodies are in the jabber:client default namespace without a
 * declaration: "" (or NULL) means jabber:client (docs/frames.md). */
int	stanza_ns_client(const char *ns);
/* Kind and type of a parsed element (RK_NONE for non-stanzas). */
uint8_t	stanza_node_kind(const struct xnode *);
uint8_t	stanza_node_stype(const struct xnode *);

/* The error answer to `req` (RFC 6120 8.3.2): a copy of it with
 * type='error' and <error type='type'><cond xmlns=stanzas/></error>;
 * *err (if not NULL) is that <error/>, for a condition of the
 * application's own.  NULL when memory ran out.  Whether `req` may be
 * answered at all (never an error, RFC 6120 8.3.1) is the caller's. */
struct xnode *stanza_error_reply(const struct xnode *req, const char *type,
	    const char *cond, struct xnode **err);
/* An iq result in namespace `ns` with req's id, `payload` (may be NULL)
 * its child; the payload is freed if the result cannot be made. */
struct xnode *stanza_iq_result(const struct xnode *req, const char *ns,
	    struct xnode *payload);

/* A message imd can handle from its serialized bytes (RFF_PLAINMSG,
 * docs/frames.md): a jabber:client <message/> of type chat or normal
 * (or none) with a <body/>, no XEP-0334 hint, no XEP-0280 element, no
 * XEP-0359 <stanza-id/>, and no element without a namespace. */
int	stanza_msg_plain(const struct xnode *);

/* xmpptime.c: the clock as microseconds, and XEP-0082 DateTime in UTC
 * ("YYYY-MM-DDThh:mm:ss.sssZ"; buf >= 32).  A separate file so that unit
 * tests can supply their own clock. */
uint64_t xmpp_now_usec(void);
void	xmpp_timestamp(char *buf, size_t len, uint64_t usec);

#endif
