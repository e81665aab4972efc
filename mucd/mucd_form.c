/*
 * mucd_form.c - the room configuration form (XEP-0045 section 10.2 and
 * the muc#roomconfig FORM_TYPE of section 15.5.3) and the muc#roominfo
 * extended disco form (section 15.5.4, XEP-0128).
 *
 * Called by mucd_iq.c (owner iq, disco#info).  muc_config_apply() parses
 * into a copy so that a form with one bad field changes nothing.
 * Unknown fields are ignored (XEP-0004 3.3: a service processes the
 * fields it knows).  Reading, building and parsing the XEP-0004 fields
 * is common/dataform.c; this file keeps the muc#roomconfig fields and
 * what each of them sets.
 */
#include <stdio.h>
#include <string.h>

#include "mucd.h"

static void aff_field(struct xnode *, struct muc_room *, const char *,
    const char *, enum muc_aff);

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
	dataform_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_CONFIG);
	dataform_field(x, "muc#roomconfig_roomname", "text-single",
	    "Natural-Language Room Name", c->name);
	dataform_field(x, "muc#roomconfig_roomdesc", "text-single",
	    "Short Description of Room", c->desc);
	dataform_field(x, "muc#roomconfig_persistentroom", "boolean",
	    "Make Room Persistent?", B(c->persistent));
	dataform_field(x, "muc#roomconfig_publicroom", "boolean",
	    "Make Room Publicly Searchable?", B(c->public));
	dataform_field(x, "muc#roomconfig_membersonly", "boolean",
	    "Make Room Members-Only?", B(c->membersonly));
	dataform_field(x, "muc#roomconfig_moderatedroom", "boolean",
	    "Make Room Moderated?", B(c->moderated));
	dataform_field(x, "muc#roomconfig_passwordprotectedroom", "boolean",
	    "Password Required to Enter?", B(c->passwordprotected));
	dataform_field(x, "muc#roomconfig_roomsecret", "text-private",
	    "Password", c->secret);
	snprintf(buf, sizeof(buf), "%u", c->maxusers);
	dataform_options(dataform_field(x, "muc#roomconfig_maxusers",
	    "list-single", "Maximum Number of Occupants",
	    c->maxusers ? buf : "none"), maxusers_opts);
	dataform_options(dataform_field(x, "muc#roomconfig_whois",
	    "list-single", "Who May Discover Real JIDs?",
	    whois_opts[c->whois_anyone]), whois_opts);
	dataform_field(x, "muc#roomconfig_changesubject", "boolean",
	    "Allow Occupants to Change Subject?", B(c->changesubject));
	dataform_field(x, "muc#roomconfig_allowinvites", "boolean",
	    "Allow Occupants to Invite Others?", B(c->allowinvites));
	dataform_options(dataform_field(x, "muc#roomconfig_allowpm",
	    "list-single", "Who May Send Private Messages?",
	    pm_opts[c->allowpm]), pm_opts);
	dataform_field(x, "muc#roomconfig_enablelogging", "boolean",
	    "Enable Public Logging?", B(c->logging));
	snprintf(buf, sizeof(buf), "%u", c->historylength);
	dataform_field(x, "muc#roomconfig_historylength", "text-single",
	    "Messages in the history sent on joining", buf);
	aff_field(x, r, "muc#roomconfig_roomadmins", "Full List of Room Admins",
	    AFF_ADMIN);
	aff_field(x, r, "muc#roomconfig_roomowners", "Full List of Room Owners",
	    AFF_OWNER);
	return x;
}

/* A jid-multi field listing the JIDs of one affiliation (10.2). */
static void
aff_field(struct xnode *x, struct muc_room *r, const char *var,
    const char *label, enum muc_aff aff)
{
	struct muc_affent	*a;
	struct xnode		*f, *v;

	if ((f = dataform_field(x, var, "jid-multi", label, NULL)) == NULL)
		return;
	for (a = r->affs; a != NULL; a = a->next) {
		if (a->aff != aff ||
		    (v = xnode_add_child(f, "value", NS_XDATA)) == NULL)
			continue;
		xnode_add_text(v, a->jid, strlen(a->jid));
	}
}

/* One value of a jid-multi field, added to the list as a bare JID. */
static int
add_jid(const char *v, void *arg)
{
	struct muc_jidlist	*l = arg;
	char			 full[JID_MAX + 1];

	if (*v == '\0')
		return 0;	/* an empty value lists no one */
	if (l->n == MUC_MAX_LISTED ||
	    jid_normalize(v, full, sizeof(full)) == -1)
		return -1;
	full[strcspn(full, "/")] = '\0';	/* bare (5.2) */
	memcpy(l->jid[l->n++], full, strlen(full) + 1);
	return 0;
}

/* The values of jid-multi field `var`; n stays -1 if there is none. */
static int
parse_jids(const struct xnode *x, const char *var, struct muc_jidlist *l)
{
	l->n = -1;
	if (dataform_find(x, var) == NULL)
		return 0;
	l->n = 0;
	return dataform_values(x, var, add_jid, l);
}

/*
 * 10.2: muc#roomconfig_roomowners and _roomadmins, when the form has
 * them, are the whole new lists.  -1 if a JID is bad, a JID is in both,
 * or no owner would be left (10.6: the last owner cannot go).
 */
int
muc_config_lists(const struct xnode *x, struct muc_jidlist *owners,
    struct muc_jidlist *admins)
{
	int	i, k;

	admins->n = -1;
	if (parse_jids(x, "muc#roomconfig_roomowners", owners) == -1 ||
	    parse_jids(x, "muc#roomconfig_roomadmins", admins) == -1)
		return -1;
	if (owners->n == 0)
		return -1;
	for (i = 0; i < owners->n; i++)
		for (k = 0; k < admins->n; k++)
			if (strcmp(owners->jid[i], admins->jid[k]) == 0)
				return -1;
	return 0;
}

/* A count where "none" is no limit (maxusers, 15.5.3) or 0. */
static int
parse_count(const char *v, unsigned max, unsigned *out)
{
	if (strcmp(v, "none") == 0) {
		*out = 0;
		return 0;
	}
	return dataform_uint(v, max, out);
}

/* One field; -1 if its value is not acceptable. */
static int
apply_field(const char *var, const char *v, void *arg)
{
	struct muc_config	*c = arg;
	int			 n;

	if (strncmp(var, "muc#roomconfig_", 15) != 0)
		return strcmp(var, "muc#maxhistoryfetch") == 0 ?
		    parse_count(v, MUC_MAX_HISTORY, &c->historylength) : 0;
	var += 15;
	if (strcmp(var, "roomname") == 0)
		return dataform_text(v, c->name, MUC_MAX_TEXT);
	if (strcmp(var, "roomdesc") == 0)
		return dataform_text(v, c->desc, MUC_MAX_TEXT);
	if (strcmp(var, "roomsecret") == 0)
		return dataform_text(v, c->secret, MUC_MAX_TEXT);
	if (strcmp(var, "persistentroom") == 0)
		return dataform_bool(v, &c->persistent);
	if (strcmp(var, "publicroom") == 0)
		return dataform_bool(v, &c->public);
	if (strcmp(var, "membersonly") == 0)
		return dataform_bool(v, &c->membersonly);
	if (strcmp(var, "moderatedroom") == 0)
		return dataform_bool(v, &c->moderated);
	if (strcmp(var, "passwordprotectedroom") == 0)
		return dataform_bool(v, &c->passwordprotected);
	if (strcmp(var, "changesubject") == 0)
		return dataform_bool(v, &c->changesubject);
	if (strcmp(var, "allowinvites") == 0)
		return dataform_bool(v, &c->allowinvites);
	if (strcmp(var, "enablelogging") == 0)
		return dataform_bool(v, &c->logging);
	if (strcmp(var, "maxusers") == 0)
		return parse_count(v, MUC_MAX_OCCUPANTS, &c->maxusers);
	if (strcmp(var, "historylength") == 0)
		return parse_count(v, MUC_MAX_HISTORY, &c->historylength);
	if (strcmp(var, "whois") == 0)
		return dataform_list(v, whois_opts, &c->whois_anyone);
	if (strcmp(var, "allowpm") == 0) {
		if (dataform_list(v, pm_opts, &n) == -1)
			return -1;
		c->allowpm = (enum muc_pm)n;
	}
	return 0;
}

int
muc_config_apply(struct muc_room *r, const struct xnode *x,
    struct muc_config *out)
{
	*out = r->cfg;
	if (dataform_fields(x, apply_field, out) == -1)
		return -1;
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
	dataform_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_INFO);
	dataform_field(x, "muc#roominfo_description", NULL, "Description",
	    r->cfg.desc);
	dataform_field(x, "muc#roomconfig_roomname", NULL, "Name",
	    r->cfg.name);
	snprintf(buf, sizeof(buf), "%zu", r->noccupants);
	dataform_field(x, "muc#roominfo_occupants", NULL,
	    "Number of occupants", buf);
	dataform_field(x, "muc#roominfo_subject", NULL, "Subject",
	    r->subject != NULL ? r->subject : "");
	dataform_field(x, "muc#roominfo_subjectmod", "boolean",
	    "Occupants may change the subject", B(r->cfg.changesubject));
	snprintf(buf, sizeof(buf), "%u", r->cfg.historylength);
	dataform_field(x, "muc#maxhistoryfetch", NULL, "Maximum history",
	    buf);
	return x;
}
