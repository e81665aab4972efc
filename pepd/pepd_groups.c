/*
 * pepd_groups.c - roster group lists for the "roster" access model
 * (XEP-0060 4.5): a node's pubsub#roster_groups_allowed (in its
 * configuration form, 16.4, and in its record) and the groups an owner
 * put a contact in (from imd's RF_PEP_PRESENCE, pepd_contacts.c).
 *
 * Called by pepd_iq.c and pepd_owner.c (forms), pepd_node.c (records,
 * access) and pepd_contacts.c (frames).  The form code proper is in
 * pepd_form.c; this field is a list (list-multi), which that code's
 * one-value fields do not carry, so it is read and written here.
 *
 * Invariants: a list holds at most PEP_MAX_GROUPS distinct names of at
 * most PEP_MAX_GROUP bytes each; a list that would exceed that is
 * refused (form) or cut (imd's frame, record), so a contact is never
 * let in by a group that was not stored in full.
 */
#include <stdlib.h>
#include <string.h>

#include "pepd.h"

#define FIELD_GROUPS	"pubsub#roster_groups_allowed"

void
pep_groups_clear(struct pep_groups *g)
{
	while (g->n > 0)
		free(g->v[--g->n]);
	free(g->v);
	g->v = NULL;
}

/* 0 added (or already there), -1 at a limit or out of memory. */
int
pep_groups_add(struct pep_groups *g, const char *s, size_t len)
{
	char	**v;
	size_t	  i;

	if (len == 0 || len > PEP_MAX_GROUP || memchr(s, '\0', len) != NULL)
		return -1;
	for (i = 0; i < g->n; i++)
		if (strlen(g->v[i]) == len && memcmp(g->v[i], s, len) == 0)
			return 0;
	if (g->n == PEP_MAX_GROUPS ||
	    (v = reallocarray(g->v, g->n + 1, sizeof(*v))) == NULL)
		return -1;
	g->v = v;
	if ((v[g->n] = strndup(s, len)) == NULL)
		return -1;
	g->n++;
	return 0;
}

/* Do the lists share a name?  Group names compare as octets (RFC 6121
 * 2.1.2.2 defines no folding). */
int
pep_groups_meet(const struct pep_groups *a, const struct pep_groups *b)
{
	size_t	i, j;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (strcmp(a->v[i], b->v[j]) == 0)
				return 1;
	return 0;
}

static struct xnode *
groups_field(const struct xnode *form)
{
	struct xnode	*f;
	const char	*var;

	for (f = xnode_first_elem(form); f != NULL; f = xnode_next_elem(f))
		if (strcmp(f->name, "field") == 0 &&
		    (var = xnode_attr(f, "var")) != NULL &&
		    strcmp(var, FIELD_GROUPS) == 0)
			return f;
	return NULL;
}

int
pep_groups_from_form(const struct xnode *form, struct pep_groups *out)
{
	struct pep_groups	 g = { NULL, 0 };
	struct xnode		*f, *v;
	char			*t;
	int			 rc = 0;

	if (form == NULL || (f = groups_field(form)) == NULL)
		return 0;
	for (v = xnode_first_elem(f); v != NULL && rc == 0;
	    v = xnode_next_elem(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;
		if ((t = xnode_text(v)) == NULL)
			rc = -1;
		else if (t[0] != '\0')	/* an empty value: no group */
			rc = pep_groups_add(&g, t, strlen(t));
		free(t);
	}
	if (rc == -1) {
		pep_groups_clear(&g);
		return -1;
	}
	pep_groups_clear(out);
	*out = g;
	return 1;
}

void
pep_groups_to_form(struct xnode *form, const struct pep_groups *g)
{
	struct xnode	*f, *v;
	size_t		 i;

	if (form == NULL ||
	    (f = xnode_add_child(form, "field", NS_XDATA)) == NULL)
		return;
	xnode_set_attr(f, "var", FIELD_GROUPS);
	xnode_set_attr(f, "type", "list-multi");
	xnode_set_attr(f, "label", "Roster groups allowed to subscribe");
	for (i = 0; i < g->n; i++)
		if ((v = xnode_add_child(f, "value", NS_XDATA)) != NULL)
			xnode_add_text(v, g->v[i], strlen(g->v[i]));
}

/* In a node record: one <group>name</group> child each. */
void
pep_groups_encode(struct xnode *rec, const struct pep_groups *g)
{
	struct xnode	*c;
	size_t		 i;

	for (i = 0; i < g->n; i++)
		if ((c = xnode_add_child(rec, "group", NULL)) != NULL)
			xnode_add_text(c, g->v[i], strlen(g->v[i]));
}

void
pep_groups_decode(const struct xnode *child, struct pep_groups *g)
{
	char	*t;

	if ((t = xnode_text(child)) == NULL)
		return;
	(void)pep_groups_add(g, t, strlen(t));
	free(t);
}
