/*
 * pepd_form.c - the node configuration as a data form (XEP-0004): the
 * pubsub#node_config form an owner gets and submits (XEP-0060 8.2), the
 * same fields in create's <configure/> (8.1.3) and in publish-options
 * (7.1.5), and the comparison behind precondition checks.
 *
 * Called by pepd_iq.c and the unit tests.  Invariants: applying a form
 * changes `cfg` only if every field it names has a valid value (a bad
 * form leaves the configuration as it was); unknown fields are ignored
 * (XEP-0060 16.4 lets a service support a subset).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pepd.h"

static const char *const access_names[] = {
	"open", "presence", "roster", "whitelist", NULL
};
static const char *const pubmodel_names[] = {
	"publishers", "subscribers", "open", NULL
};
static const char *const sendlast_names[] = {
	"never", "on_sub", "on_sub_and_presence", NULL
};

void
pep_form_field(struct xnode *x, const char *var, const char *type,
    const char *value)
{
	struct xnode	*f, *v;

	if ((f = xnode_add_child(x, "field", NS_XDATA)) == NULL)
		return;
	xnode_set_attr(f, "var", var);
	if (type != NULL)
		xnode_set_attr(f, "type", type);
	if (value != NULL && (v = xnode_add_child(f, "value", NS_XDATA)) != NULL)
		xnode_add_text(v, value, strlen(value));
}

static void
field_list(struct xnode *x, const char *var, const char *const *names,
    int value)
{
	struct xnode	*f, *o, *v;

	pep_form_field(x, var, "list-single", names[value]);
	for (f = x->last; f != NULL && *names != NULL; names++) {
		if ((o = xnode_add_child(f, "option", NS_XDATA)) == NULL ||
		    (v = xnode_add_child(o, "value", NS_XDATA)) == NULL)
			return;
		xnode_add_text(v, *names, strlen(*names));
	}
}

#define B(v)	((v) ? "1" : "0")

/* `type` is "form" (configure get) or "result" (disco meta-data,
 * XEP-0060 5.4, which carries the same fields under its own FORM_TYPE). */
struct xnode *
pep_config_form(const struct pep_config *c, const char *type)
{
	struct xnode	*x;
	char		 num[16];

	if ((x = xnode_new("x", NS_XDATA)) == NULL)
		return NULL;
	xnode_set_attr(x, "type", type);
	pep_form_field(x, "FORM_TYPE", "hidden", strcmp(type, "result") == 0 ?
	    NS_PUBSUB_META : NS_PUBSUB_CONFIG);
	pep_form_field(x, "pubsub#title", "text-single", c->title);
	snprintf(num, sizeof(num), "%u", c->max_items);
	pep_form_field(x, "pubsub#max_items", "text-single", num);
	pep_form_field(x, "pubsub#persist_items", "boolean",
	    B(c->persist_items));
	pep_form_field(x, "pubsub#deliver_payloads", "boolean",
	    B(c->deliver_payloads));
	pep_form_field(x, "pubsub#notify_retract", "boolean",
	    B(c->notify_retract));
	pep_form_field(x, "pubsub#notify_delete", "boolean",
	    B(c->notify_delete));
	field_list(x, "pubsub#access_model", access_names, c->access);
	field_list(x, "pubsub#publish_model", pubmodel_names, c->publish_model);
	field_list(x, "pubsub#send_last_published_item", sendlast_names,
	    c->send_last);
	return x;
}

struct xnode *
pep_form_find(const struct xnode *parent)
{
	return parent == NULL ? NULL : xnode_child(parent, "x", NS_XDATA);
}

/* The first <value/> of a field, NUL-terminated, caller frees. */
static char *
field_value(const struct xnode *f)
{
	struct xnode	*v = xnode_child(f, "value", NS_XDATA);

	return v == NULL ? strdup("") : xnode_text(v);
}

const char *
pep_form_type(const struct xnode *x)
{
	static char	 buf[128];
	struct xnode	*f;
	const char	*var;
	char		*v;

	for (f = xnode_first_elem(x); f != NULL; f = xnode_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 ||
		    (var = xnode_attr(f, "var")) == NULL ||
		    strcmp(var, "FORM_TYPE") != 0 || (v = field_value(f)) == NULL)
			continue;
		if (strlen(v) >= sizeof(buf)) {
			free(v);
			return NULL;
		}
		strcpy(buf, v);
		free(v);
		return buf;
	}
	return NULL;
}

/* XEP-0004 3.3 boolean: 0, 1, false, true. */
static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
parse_enum(const char *v, const char *const *names, int *out)
{
	int	i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

/* "max" asks for the service's ceiling (XEP-0060 7.1.5 example). */
static int
parse_max(const char *v, unsigned *out)
{
	char		*end;
	unsigned long	 n;

	if (strcmp(v, "max") == 0) {
		*out = PEP_MAX_ITEMS;
		return 0;
	}
	if (*v < '0' || *v > '9')
		return -1;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n == 0 || n > PEP_MAX_ITEMS)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int
apply_field(struct pep_config *c, const char *var, const char *v)
{
	int	i;

	if (strcmp(var, "pubsub#max_items") == 0)
		return parse_max(v, &c->max_items);
	if (strcmp(var, "pubsub#persist_items") == 0)
		return parse_bool(v, &c->persist_items);
	if (strcmp(var, "pubsub#deliver_payloads") == 0)
		return parse_bool(v, &c->deliver_payloads);
	if (strcmp(var, "pubsub#notify_retract") == 0)
		return parse_bool(v, &c->notify_retract);
	if (strcmp(var, "pubsub#notify_delete") == 0)
		return parse_bool(v, &c->notify_delete);
	if (strcmp(var, "pubsub#title") == 0) {
		if (strlen(v) > PEP_MAX_TITLE)
			return -1;
		strcpy(c->title, v);
		return 0;
	}
	if (strcmp(var, "pubsub#access_model") == 0) {
		if (parse_enum(v, access_names, &i) == -1)
			return -1;
		c->access = (enum pep_access)i;
		return 0;
	}
	if (strcmp(var, "pubsub#publish_model") == 0) {
		if (parse_enum(v, pubmodel_names, &i) == -1)
			return -1;
		c->publish_model = (enum pep_pubmodel)i;
		return 0;
	}
	if (strcmp(var, "pubsub#send_last_published_item") == 0) {
		if (parse_enum(v, sendlast_names, &i) == -1)
			return -1;
		c->send_last = (enum pep_sendlast)i;
		return 0;
	}
	return 0;	/* not supported: ignored (XEP-0060 16.4) */
}

int
pep_config_apply(struct pep_config *cfg, const struct xnode *x)
{
	struct pep_config	 c = *cfg;
	struct xnode		*f;
	const char		*var, *t;
	char			*v;
	int			 rc = 0;

	if (x == NULL || (t = xnode_attr(x, "type")) == NULL ||
	    strcmp(t, "submit") != 0)
		return -1;
	for (f = xnode_first_elem(x); f != NULL && rc == 0;
	    f = xnode_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 ||
		    (var = xnode_attr(f, "var")) == NULL ||
		    strcmp(var, "FORM_TYPE") == 0)
			continue;
		if ((v = field_value(f)) == NULL)
			return -1;
		rc = apply_field(&c, var, v);
		free(v);
	}
	if (rc == 0)
		*cfg = c;
	return rc;
}

int
pep_config_equal(const struct pep_config *a, const struct pep_config *b)
{
	return a->max_items == b->max_items &&
	    a->persist_items == b->persist_items &&
	    a->deliver_payloads == b->deliver_payloads &&
	    a->notify_retract == b->notify_retract &&
	    a->notify_delete == b->notify_delete &&
	    a->access == b->access && a->publish_model == b->publish_model &&
	    a->send_last == b->send_last && strcmp(a->title, b->title) == 0;
}
