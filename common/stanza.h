/*
 * stanza.h - the frame header's view of a stanza: its kind (message,
 * presence, iq) and type, from the element name and the `type` attribute.
 * One table for every daemon that parses stanzas (c2sd, s2sd, imd, mucd).
 */
#ifndef RAMPART_STANZA_H
#define RAMPART_STANZA_H

#include <stdint.h>

/* RK_* for "message", "presence", "iq"; RK_NONE otherwise. */
uint8_t	stanza_kind(const char *name);
/* RS_* for a type attribute (NULL: absent) of a stanza of `kind`: absent
 * means normal (message) or available (presence) (RFC 6120 8.2.3, RFC 6121
 * 4.7.1); an unknown message type is normal (RFC 6121 5.2.2); otherwise an
 * unknown type is RS_NONE. */
uint8_t	stanza_stype(uint8_t kind, const char *type);

#endif
