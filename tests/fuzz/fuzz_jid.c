/*
 * fuzz_jid.c - libFuzzer target for common/jid.c.
 *
 * Feeds arbitrary bytes to jid_parse() and to each part's preparation
 * function.  Whatever is accepted must be normalized already: printing
 * it and parsing it again must give the same JID (routerd compares
 * normalized JIDs byte for byte, so a second normalization that
 * changed anything would split one address in two).  Seeds are in
 * tests/fuzz/jid/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_jid(const char *s, size_t len)
{
	struct jid	j, again;
	char		buf[JID_MAX + 1];
	int		n;

	if (jid_parse(s, len, &j) == -1)
		return;
	if (strlen(j.domain) == 0 || strlen(j.domain) > JID_PART_MAX ||
	    strlen(j.local) > JID_PART_MAX ||
	    strlen(j.resource) > JID_PART_MAX)
		abort();
	if ((n = jid_format(&j, buf, sizeof(buf))) < 0)
		abort();
	if (jid_parse(buf, n, &again) == -1 || !jid_equal(&j, &again))
		abort();
	if ((n = jid_format_bare(&j, buf, sizeof(buf))) < 0)
		abort();
	if (jid_parse(buf, n, &again) == -1 || !jid_bare_equal(&j, &again) ||
	    again.resource[0] != '\0')
		abort();
}

/* One part's preparation must be idempotent on its own too. */
static void
check_part(int (*prep)(const char *, size_t, char *), const char *s,
    size_t len)
{
	char	out[JID_PART_MAX + 1], again[JID_PART_MAX + 1];

	if (prep(s, len, out) == -1)
		return;
	if (prep(out, strlen(out), again) == -1 || strcmp(out, again) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data;

	check_jid(s, size);
	check_part(jid_prep_local, s, size);
	check_part(jid_prep_domain, s, size);
	check_part(jid_prep_resource, s, size);
	return 0;
}
