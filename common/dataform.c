/*
 * dataform.c - XEP-0004 data forms: field lookup, the builders and the
 * value parsers that mucd and pepd share (see dataform.h).
 *
 * Invariants: nothing is copied without its length checked against the
 * caller's buffer; a missing field, a missing value or an allocation
 * failure is a return value, never a crash.  Fields and values are
 * matched by element name in any namespace, as a form's children
 * inherit jabber:x:data from the <x/> in every form a client sends.
 */
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "xml.h"

const struct xnode *
dataform_find(const struct xnode *x, const char *var)
{
	const struct xnode	*f;
	const char		*fv;

	for (f = xnode_first_elem(x); f != NULL; f = xnode_next_elem(f))
		if (strcmp(f->name, "field") == 0 &&
		    (fv = xnode_attr(f, "var")) != NULL && strcmp(fv, var) == 0)
			return f;
	return NULL;
}

char *
dataform_field_value(const struct xnode *f)
{
	struct xnode	*v = xnode_child(f, "value", NULL);

	return v == NULL ? strdup("") : xnode_text(v);
}

const char *
dataform_value(const struct xnode *x, const char *var, char *buf, size_t len)
{
	const struct xnode	*f;
	struct xnode		*v;
	char			*t;

	if ((f = dataform_find(x, var)) == NULL ||
	    (v = xnode_child(f, "value", NULL)) == NULL ||
	    (t = xnode_text(v)) == NULL)
		return NULL;
	if (strlen(t) >= len) {
		free(t);
		return NULL;
	}
	memcpy(buf, t, strlen(t) + 1);
	free(t);
	return buf;
}

int
dataform_values(const struct xnode *x, const char *var,
    int (*each)(const char *, void *), void *arg)
{
	const struct xnode	*f;
	struct xnode		*v;
	char			*t;
	int			 rc = 0;

	if ((f = dataform_find(x, var)) == NULL)
		return 0;
	for (v = xnode_first_elem(f); v != NULL && rc == 0;
	    v = xnode_next_elem(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;	/* <option/>, <desc/>, <required/> */
		if ((t = xnode_text(v)) == NULL)
			return -1;
		rc = each(t, arg) == -1 ? -1 : 0;
		free(t);
	}
	return rc;
}

int
dataform_fields(const struct xnode *x,
    int (*each)(const char *, const char *, void *), void *arg)
{
	const struct xnode	*f;
	const char		*var;
	char			*v;
	int			 rc = 0;

	for (f = xnode_first_elem(x); f != NULL && rc == 0;
	    f = xnode_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 ||
		    (var = xnode_attr(f, "var")) == NULL ||
		    strcmp(var, "FORM_TYPE") == 0)
			continue;
		if ((v = dataform_field_value(f)) == NULL)
			return -1;
		rc = each(var, v, arg) == -1 ? -1 : 0;
		free(v);
	}
	return rc;
}

int
dataform_type_is(const struct xnode *x, const char *form_type,
    const char *type)
{
	const char	*t;
	char		 buf[256];

	if (x == NULL || strcmp(x->name, "x") != 0 || x->ns == NULL ||
	    strcmp(x->ns, DATAFORM_NS) != 0 ||
	    (t = xnode_attr(x, "type")) == NULL || strcmp(t, type) != 0)
		return 0;
	if (form_type == NULL)
		return 1;
	/* A FORM_TYPE longer than buf cannot equal any we know. */
	return dataform_value(x, "FORM_TYPE", buf, sizeof(buf)) != NULL &&
	    strcmp(buf, form_type) == 0;
}

struct xnode *
dataform_field(struct xnode *x, const char *var, const char *type,
    const char *label, const char *value)
{
	struct xnode	*f, *v;

	if (x == NULL || (f = xnode_add_child(x, "field", DATAFORM_NS)) == NULL)
		return NULL;
	xnode_set_attr(f, "var", var);
	if (type != NULL)
		xnode_set_attr(f, "type", type);
	if (label != NULL)
		xnode_set_attr(f, "label", label);
	if (value != NULL &&
	    (v = xnode_add_child(f, "value", DATAFORM_NS)) != NULL)
		xnode_add_text(v, value, strlen(value));
	return f;
}

void
dataform_options(struct xnode *field, const char *const *opts)
{
	struct xnode	*o, *v;

	for (; field != NULL && *opts != NULL; opts++) {
		o = xnode_add_child(field, "option", DATAFORM_NS);
		if (o == NULL ||
		    (v = xnode_add_child(o, "value", DATAFORM_NS)) == NULL)
			return;
		xnode_add_text(v, *opts, strlen(*opts));
	}
}

int
dataform_bool(const char *v, int *out)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int
dataform_uint(const char *v, unsigned max, unsigned *out)
{
	unsigned	n = 0, d;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		d = (unsigned)(*v - '0');
		/* n * 10 + d <= max, checked without a wrap on long input. */
		if (d > max || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

int
dataform_list(const char *v, const char *const *opts, int *out)
{
	int	i;

	for (i = 0; opts[i] != NULL; i++)
		if (strcmp(v, opts[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

int
dataform_text(const char *v, char *out, size_t max)
{
	size_t	len = strlen(v);

	if (len > max)
		return -1;
	memcpy(out, v, len + 1);
	return 0;
}
