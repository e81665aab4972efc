/*
 * jid.h - JIDs per RFC 7622: parse, validate, normalize.
 *
 * localpart: PRECIS IdentifierClass, UsernameCaseMapped profile;
 * domainpart: IDNA2008 (libidn2) to U-labels, lower case, or an IP literal;
 * resourcepart: PRECIS FreeformClass, OpaqueString profile.
 * Every part is 1..1023 bytes after preparation (local and resource
 * optional).  The normalized form is what travels in frames and what
 * routerd compares byte for byte.
 */
#ifndef RAMPART_JID_H
#define RAMPART_JID_H

#include <stddef.h>

#define JID_PART_MAX	1023
#define JID_MAX		(3 * JID_PART_MAX + 2)

struct jid {
	char	local[JID_PART_MAX + 1];	/* "" if none */
	char	domain[JID_PART_MAX + 1];
	char	resource[JID_PART_MAX + 1];	/* "" if none */
};

/* Parse and normalize `len` bytes (not necessarily NUL-terminated).
 * Returns 0, or -1 when the JID is invalid (the caller answers
 * jid-malformed). */
int	jid_parse(const char *, size_t len, struct jid *);
/* Normalize each part on its own; 0 or -1. `out` has JID_PART_MAX+1 bytes. */
int	jid_prep_local(const char *, size_t, char *out);
int	jid_prep_domain(const char *, size_t, char *out);
int	jid_prep_resource(const char *, size_t, char *out);

/* Print a JID; return the length, or -1 if `size` is too small. */
int	jid_format(const struct jid *, char *buf, size_t size);	/* full */
int	jid_format_bare(const struct jid *, char *buf, size_t size);	/* no resource */
/* Convenience: normalize a JID string into `out` (JID_MAX+1 bytes). */
int	jid_normalize(const char *, char *out, size_t size);
/* Equality of normalized JIDs and of their bare parts. */
int	jid_equal(const struct jid *, const struct jid *);
int	jid_bare_equal(const struct jid *, const struct jid *);

#endif
