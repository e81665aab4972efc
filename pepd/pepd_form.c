/*
 * pepd_form.c - the node configuration as a data form (XEP-0004): the
 * pubsub#node_config form an owner gets and submits (XEP-0060 8.2), the
 * same fields in create's <configure/> (8.1.3) and in publish-options
 * (7.1.5), and the comparison behind precondition checks.
 *
 * Called by pepd_iq.c and the unit tests.  Invariants: applying a form
 * changes `cfg` only if every field it names has a valid value (a bad
 * form leaves the configuration as it was); unknown fields are ignored
 * (XEP-0060 16.4 lets a service support a subset).  Reading, building
 * and parsing XEP-0004 fields is common/dataform.c; this file keeps the
 * pubsub#node_config fields and what each of them sets.
 */
#include <stdio.h>
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

static void
field_list(struct xnode *x, const char *var, const char *const *names,
    int value)
{
	dataform_options(dataform_field(x, var, "list-single", NULL,
	    names[value]), names);
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

const char *
pep_form_type(const struct xnode *x)
{
	static char	 buf[128];

	return dataform_value(x, "FORM_TYPE", buf, sizeof(buf));
}

/* "max" asks for the service's ceiling (XEP-0060 7.1.5 example). */
static int
parse_max(const char *v, unsigned *out)
{
	unsigned	n;

	if (strcmp(v, "max") == 0) {
		*out = PEP_MAX_ITEMS;
		return 0;
	}
	if (dataform_uint(v, PEP_MAX_ITEMS, &n) == -1 || n == 0)
		return -1;
	*out = n;
	return 0;
}

static int
apply_field(const char *var, const char *v, void *arg)
{
	struct pep_config	*c = arg;
	int			 i;

	if (strcmp(var, "pubsub#max_items") == 0)
		return parse_max(v, &c->max_items);
	if (strcmp(var, "pubsub#persist_items") == 0)
		return dataform_bool(v, &c->persist_items);
	if (strcmp(var, "pubsub#deliver_payloads") == 0)
		return dataform_bool(v, &c->deliver_payloads);
	if (strcmp(var, "pubsub#notify_retract") == 0)
		return dataform_bool(v, &c->notify_retract);
	if (strcmp(var, "pubsub#notify_delete") == 0)
		return dataform_bool(v, &c->notify_delete);
	if (strcmp(var, "pubsub#title") == 0)
		return dataform_text(v, c->title, PEP_MAX_TITLE);
	if (strcmp(var, "pubsub#access_model") == 0) {
		if (dataform_list(v, access_names, &i) == -1)
			return -1;
		c->access = (enum pep_access)i;
		return 0;
	}
	if (strcmp(var, "pubsub#publish_model") == 0) {
		if (dataform_list(v, pubmodel_names, &i) == -1)
			return -1;
		c->publish_model = (enum pep_pubmodel)i;
		return 0;
	}
	if (strcmp(var, "pubsub#send_last_published_item") == 0) {
		if (dataform_list(v, sendlast_names, &i) == -1)
			return -1;
		c->send_last = (enum pep_sendlast)i;
		return 0;
	}
	return 0;	/* not supported: ignored (XEP-0060 16.4) */
}

/* Only a submitted form (XEP-0004 3.1) configures; any FORM_TYPE will
 * do, as create, configure and publish-options each have their own. */
int
pep_config_apply(struct pep_config *cfg, const struct xnode *x)
{
	struct pep_config	 c = *cfg;

	if (!dataform_type_is(x, NULL, "submit") ||
	    dataform_fields(x, apply_field, &c) == -1)
		return -1;
	*cfg = c;
	return 0;
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
