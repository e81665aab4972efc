/*
 * mucd_form.c - the room configuration form (XEP-0045 section 10.2 and
 * the muc#roomconfig FORM_TYPE of section 15.5.3) and the muc#roominfo
 * extended disco form (section 15.5.4, XEP-0128).
 *
 * Called by mucd_iq.c (owner iq, disco#info).  muc_config_apply() parses
 * into a copy so that a form with one bad field changes nothing.
 * Unknown fields are ignored (XEP-0004 3.3: a service processes the
 * fields it knows).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mucd.h"

void
muc_form_field(struct xnode *x, const char *var, const char *type,
    const char *label, const char *value)
{
	struct xnode	*f, *v;

	if ((f = xnode_add_child(x, "field", NS_XDATA)) == NULL)
		return;
	xnode_set_attr(f, "var", var);
	if (type != NULL)
		xnode_set_attr(f, "type", type);
	if (label != NULL)
		xnode_set_attr(f, "label", label);
	if (value != NULL && (v = xnode_add_child(f, "value", NS_XDATA)) != NULL)
		xnode_add_text(v, value, strlen(value));
}

static void
field_options(struct xnode *x, const char *const *opts)
{
	struct xnode	*f = x->last, *o, *v;

	for (; f != NULL && *opts != NULL; opts++) {
		if ((o = xnode_add_child(f, "option", NS_XDATA)) == NULL ||
		    (v = xnode_add_child(o, "value", NS_XDATA)) == NULL)
			return;
		xnode_add_text(v, *opts, strlen(*opts));
	}
}

static const char *const whois_opts[] = { "moderators", "anyone", NULL };
static const char *const pm_opts[] = {
	"anyone", "participants", "moderators", "none", NULL
};
static const char *const maxusers_opts[] = {
	"10", "20", "30", "50", "100", "none", NULL
};

#define B(v)	((v) ? "1" : "0")

struct xnode *
muc_config_form(struct muc_room *r)
{
	struct xnode	*x;
	char		 buf[32];
	const struct muc_config *c = &r->cfg;

	if ((x = xnode_new("x", NS_XDATA)) == NULL)
		return NULL;
	xnode_set_attr(x, "type", "form");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_CONFIG);
	muc_form_field(x, "muc#roomconfig_roomname", "text-single",
	    "Natural-Language Room Name", c->name);
	muc_form_field(x, "muc#roomconfig_roomdesc", "text-single",
	    "Short Description of Room", c->desc);
	muc_form_field(x, "muc#roomconfig_persistentroom", "boolean",
	    "Make Room Persistent?", B(c->persistent));
	muc_form_field(x, "muc#roomconfig_publicroom", "boolean",
	    "Make Room Publicly Searchable?", B(c->public));
	muc_form_field(x, "muc#roomconfig_membersonly", "boolean",
	    "Make Room Members-Only?", B(c->membersonly));
	muc_form_field(x, "muc#roomconfig_moderatedroom", "boolean",
	    "Make Room Moderated?", B(c->moderated));
	muc_form_field(x, "muc#roomconfig_passwordprotectedroom", "boolean",
	    "Password Required to Enter?", B(c->passwordprotected));
	muc_form_field(x, "muc#roomconfig_roomsecret", "text-private",
	    "Password", c->secret);
	snprintf(buf, sizeof(buf), "%u", c->maxusers);
	muc_form_field(x, "muc#roomconfig_maxusers", "list-single",
	    "Maximum Number of Occupants", c->maxusers ? buf : "none");
	field_options(x, maxusers_opts);
	muc_form_field(x, "muc#roomconfig_whois", "list-single",
	    "Who May Discover Real JIDs?", whois_opts[c->whois_anyone]);
	field_options(x, whois_opts);
	muc_form_field(x, "muc#roomconfig_changesubject", "boolean",
	    "Allow Occupants to Change Subject?", B(c->changesubject));
	muc_form_field(x, "muc#roomconfig_allowinvites", "boolean",
	    "Allow Occupants to Invite Others?", B(c->allowinvites));
	muc_form_field(x, "muc#roomconfig_allowpm", "list-single",
	    "Who May Send Private Messages?", pm_opts[c->allowpm]);
	field_options(x, pm_opts);
	muc_form_field(x, "muc#roomconfig_enablelogging", "boolean",
	    "Enable Public Logging?", B(c->logging));
	snprintf(buf, sizeof(buf), "%u", c->historylength);
	muc_form_field(x, "muc#roomconfig_historylength", "text-single",
	    "Messages in the history sent on joining", buf);
	return x;
}

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
parse_text(const char *v, char *out)
{
	if (strlen(v) > MUC_MAX_TEXT)
		return -1;
	strcpy(out, v);
	return 0;
}

static int
parse_uint(const char *v, unsigned max, unsigned *out)
{
	char		*end;
	unsigned long	 n;

	if (strcmp(v, "none") == 0) {
		*out = 0;
		return 0;
	}
	n = strtoul(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int
parse_list(const char *v, const char *const *opts, int *out)
{
	int	i;

	for (i = 0; opts[i] != NULL; i++)
		if (strcmp(v, opts[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

/* One field; -1 if its value is not acceptable. */
static int
apply_field(struct muc_config *c, const char *var, const char *v)
{
	int	n;

	if (strncmp(var, "muc#roomconfig_", 15) != 0)
		return strcmp(var, "muc#maxhistoryfetch") == 0 ?
		    parse_uint(v, MUC_MAX_HISTORY, &c->historylength) : 0;
	var += 15;
	if (strcmp(var, "roomname") == 0)
		return parse_text(v, c->name);
	if (strcmp(var, "roomdesc") == 0)
		return parse_text(v, c->desc);
	if (strcmp(var, "roomsecret") == 0)
		return parse_text(v, c->secret);
	if (strcmp(var, "persistentroom") == 0)
		return parse_bool(v, &c->persistent);
	if (strcmp(var, "publicroom") == 0)
		return parse_bool(v, &c->public);
	if (strcmp(var, "membersonly") == 0)
		return parse_bool(v, &c->membersonly);
	if (strcmp(var, "moderatedroom") == 0)
		return parse_bool(v, &c->moderated);
	if (strcmp(var, "passwordprotectedroom") == 0)
		return parse_bool(v, &c->passwordprotected);
	if (strcmp(var, "changesubject") == 0)
		return parse_bool(v, &c->changesubject);
	if (strcmp(var, "allowinvites") == 0)
		return parse_bool(v, &c->allowinvites);
	if (strcmp(var, "enablelogging") == 0)
		return parse_bool(v, &c->logging);
	if (strcmp(var, "maxusers") == 0)
		return parse_uint(v, MUC_MAX_OCCUPANTS, &c->maxusers);
	if (strcmp(var, "historylength") == 0)
		return parse_uint(v, MUC_MAX_HISTORY, &c->historylength);
	if (strcmp(var, "whois") == 0) {
		if (parse_list(v, whois_opts, &n) == -1)
			return -1;
		c->whois_anyone = n;
		return 0;
	}
	if (strcmp(var, "allowpm") == 0) {
		if (parse_list(v, pm_opts, &n) == -1)
			return -1;
		c->allowpm = (enum muc_pm)n;
	}
	return 0;
}

int
muc_config_apply(struct muc_room *r, const struct xnode *x,
    struct muc_config *out)
{
	struct xnode	*f, *v;
	const char	*var;
	char		*val;
	int		 rc;

	*out = r->cfg;
	for (f = xnode_first_elem(x); f != NULL; f = xnode_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 ||
		    (var = xnode_attr(f, "var")) == NULL)
			continue;
		/* An empty text field has no <value/>: that is "". */
		v = xnode_child(f, "value", NULL);
		val = v != NULL ? xnode_text(v) : strdup("");
		if (val == NULL)
			return -1;
		rc = apply_field(out, var, val);
		free(val);
		if (rc == -1)
			return -1;
	}
	/* 10.2: a password-protected room needs a password. */
	if (out->passwordprotected && out->secret[0] == '\0')
		return -1;
	if (!out->passwordprotected)
		out->secret[0] = '\0';
	return 0;
}

struct xnode *
muc_roominfo_form(struct muc_room *r)
{
	struct xnode	*x;
	char		 buf[32];

	if ((x = xnode_new("x", NS_XDATA)) == NULL)
		return NULL;
	xnode_set_attr(x, "type", "result");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_INFO);
	muc_form_field(x, "muc#roominfo_description", NULL, "Description",
	    r->cfg.desc);
	muc_form_field(x, "muc#roomconfig_roomname", NULL, "Name",
	    r->cfg.name);
	snprintf(buf, sizeof(buf), "%zu", r->noccupants);
	muc_form_field(x, "muc#roominfo_occupants", NULL,
	    "Number of occupants", buf);
	muc_form_field(x, "muc#roominfo_subject", NULL, "Subject",
	    r->subject != NULL ? r->subject : "");
	muc_form_field(x, "muc#roominfo_subjectmod", "boolean",
	    "Occupants may change the subject", B(r->cfg.changesubject));
	snprintf(buf, sizeof(buf), "%u", r->cfg.historylength);
	muc_form_field(x, "muc#maxhistoryfetch", NULL, "Maximum history",
	    buf);
	return x;
}
