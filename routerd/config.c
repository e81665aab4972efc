/*
 * config.c - the option table, struct conf, and its printer.
 *
 * parse.y reads the file and fills a struct conf through the functions
 * here; routerd prints it back with conf_print() for `routerd -nv` and
 * reads option values with conf_opt_number() when it builds CONFIG
 * frames.  Invariants: conf_options[] stays sorted by name (bsearch,
 * checked by tests/unit/test_config.c); every value stored in
 * conf->opts has passed conf_opt_parse() and is in its normalized
 * spelling, so conf_opt_number() cannot fail on it; conf_print() writes
 * only what the grammar accepts, so its output parses back to itself.
 */

#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define K	1024ULL
#define M	(1024ULL * K)
#define G	(1024ULL * M)
#define MIN	60ULL
#define HOUR	3600ULL
#define DAY	(24 * HOUR)

#define ALL	((1u << D_COUNT) - 1)
#define AUTHD	DMASK(D_AUTHD)
#define IMD	DMASK(D_IMD)
#define PEPD	DMASK(D_PEPD)
#define MUCD	DMASK(D_MUCD)
#define C2SD	DMASK(D_C2SD)
#define S2SD	DMASK(D_S2SD)

FILE *conf_errfile;

const char *const daemon_names[D_COUNT] = {
	"authd", "imd", "pepd", "mucd", "s2sd", "c2sd"
};

/* The default uid of each daemon: "rampart-" and these. */
static const char *const daemon_users[D_COUNT] = {
	"auth", "im", "pep", "muc", "s2s", "c2s"
};

const char *const listen_kind_names[L_COUNT] = {
	"client", "client-tls", "http", "https", "server", "server-tls",
	"component"
};

/*
 * Sorted by name.  Bounds keep an admin's typo from becoming a denial of
 * service (a 0 timeout, a 64G stanza); where 0 means "off" it says so.
 */
const struct conf_option conf_options[] = {
	{ "archive-default", OPT_ENUM, "always", IMD, "always roster never",
	    0, 0, "which messages a user's archive keeps until the user "
	    "chooses (XEP-0313 default preference)" },
	{ "archive-max-page", OPT_NUMBER, "50", IMD, NULL, 1, 1000,
	    "most archived messages returned by one query page" },
	{ "archive-retention", OPT_TIME, "0", IMD, NULL, 0, 3650 * DAY,
	    "how long archived messages are kept (0 = forever)" },
	{ "auth-fail-window", OPT_TIME, "60s", AUTHD, NULL, 1, DAY,
	    "window in which failed logins are counted" },
	{ "auth-max-fails", OPT_NUMBER, "5", AUTHD, NULL, 1, 1000,
	    "failed logins per account and window before logins are refused" },
	{ "bosh-inactivity", OPT_TIME, "60s", C2SD, NULL, 2, HOUR,
	    "time a BOSH session may hold no request before it ends" },
	{ "channel-binding", OPT_BOOL, "yes", C2SD, NULL, 0, 1,
	    "offer SCRAM-*-PLUS (tls-exporter, tls-server-end-point); no for "
	    "clients that bind only with tls-unique, undefined over TLS 1.3 "
	    "(slixmpp 1.8, Poezio)" },
	{ "cors-origin", OPT_STRING, "*", C2SD, NULL, 1, 1000,
	    "origins allowed by CORS on the web listeners: *, none, or a "
	    "list of origins" },
	{ "keepalive", OPT_TIME, "60s", C2SD, NULL, 0, DAY,
	    "idle time before a client is pinged (0 = never)" },
	{ "max-connections", OPT_NUMBER, "10000", C2SD, NULL, 1, 1000000,
	    "client connections accepted at once" },
	{ "max-frame-size", OPT_SIZE, "1M", ALL, NULL, 64 * K, 64 * M,
	    "largest internal frame between routerd and a daemon" },
	{ "max-resources", OPT_NUMBER, "16", C2SD, NULL, 1, 1000,
	    "sessions one account may have at once" },
	{ "max-stanza-size", OPT_SIZE, "256K", C2SD | S2SD | PEPD, NULL, 1 * K,
	    16 * M, "largest stanza a client or server may send" },
	{ "offline-quota", OPT_NUMBER, "1000", IMD, NULL, 0, 1000000,
	    "offline messages kept per account (0 = none)" },
	{ "out-queue-grace", OPT_TIME, "30s", C2SD, NULL, 1, HOUR,
	    "how long a client may stay over out-queue-max before it is "
	    "closed" },
	{ "out-queue-max", OPT_SIZE, "1M", C2SD, NULL, 64 * K, 1 * G,
	    "bytes queued for a slow client" },
	{ "pep-max-items", OPT_NUMBER, "1000", PEPD, NULL, 1, 100000,
	    "ceiling of a pubsub node's max_items (what max means)" },
	{ "pep-max-nodes", OPT_NUMBER, "20000", PEPD, NULL, 1, 10000000,
	    "pubsub and PEP nodes pepd holds in all" },
	{ "pep-max-nodes-per-owner", OPT_NUMBER, "100", PEPD, NULL, 1, 10000000,
	    "pubsub or PEP nodes one account may own" },
	{ "presence-rate", OPT_NUMBER, "10", IMD, NULL, 0, 1000,
	    "available presence broadcasts per second per resource; more "
	    "are merged into the latest (0 = unlimited)" },
	{ "pubsub-create", OPT_ENUM, "local", PEPD, "local anyone nobody", 0, 0,
	    "who may create nodes on pubsub.<domain>: accounts of this "
	    "server, anyone (also remote users), or nobody" },
	{ "rate-limit", OPT_SIZE, "64K", C2SD, NULL, 0, 1 * G,
	    "bytes per second a client may send (0 = unlimited)" },
	{ "require-tls", OPT_BOOL, "yes", C2SD, NULL, 0, 1,
	    "refuse authentication before TLS" },
	{ "resource-conflict", OPT_ENUM, "replace", C2SD, "replace refuse", 0,
	    0, "what a new session does to one with the same resource" },
	{ "room-archive-retention", OPT_TIME, "0", MUCD, NULL, 0, 3650 * DAY,
	    "how long messages in room archives are kept (0 = forever)" },
	{ "roster-max", OPT_NUMBER, "1000", IMD, NULL, 1, 100000,
	    "items one roster may hold" },
	{ "s2s-idle-timeout", OPT_TIME, "600s", S2SD, NULL, 10, DAY,
	    "idle time before a server-to-server stream is closed" },
	{ "s2s-max-outbuf", OPT_SIZE, "1M", S2SD, NULL, 64 * K, 64 * M,
	    "bytes queued for one server-to-server or component stream before "
	    "it is closed" },
	{ "s2s-require-cert", OPT_BOOL, "no", S2SD, NULL, 0, 1,
	    "federate only with certificate-authenticated servers (no dialback)" },
	{ "s2s-require-tls", OPT_BOOL, "yes", S2SD, NULL, 0, 1,
	    "refuse server-to-server streams without TLS" },
	{ "scram-iterations", OPT_NUMBER, "10000", AUTHD, NULL, 4096, 1000000,
	    "PBKDF2 iterations for new SCRAM credentials" },
	{ "sm-hibernate", OPT_TIME, "300s", C2SD, NULL, 0, DAY,
	    "how long a stream-management session waits for resumption" },
	{ "sm-max-unacked", OPT_NUMBER, "500", C2SD, NULL, 10, 100000,
	    "stanzas sent to a client before it must acknowledge them" },
	{ "store-max-size", OPT_SIZE, "16G", AUTHD | IMD | PEPD | MUCD, NULL,
	    64 * M, 4096 * G,
	    "largest size of each daemon's database (LMDB map: address space, "
	    "not memory or disk until used)" },
	{ "unauth-per-ip", OPT_NUMBER, "20", C2SD, NULL, 1, 10000,
	    "unauthenticated connections per client address" },
	{ "unauth-timeout", OPT_TIME, "30s", C2SD | S2SD, NULL, 1, HOUR,
	    "time a connection has to authenticate" },
	{ "web-prefix", OPT_STRING, "/monitor/", C2SD, NULL, 3, 100,
	    "URL path, /.../, under which c2sd serves the web-root files" },
	{ "web-root", OPT_STRING, "", C2SD, NULL, 0, 1000,
	    "directory of static files c2sd serves (the monitor page); empty "
	    "= none" },
};
const size_t conf_noptions = sizeof(conf_options) / sizeof(conf_options[0]);

static int
option_cmp(const void *key, const void *elem)
{
	const struct conf_option *o = elem;

	return strcmp(key, o->name);
}

int
conf_option_find(const char *name)
{
	const struct conf_option *o;

	o = bsearch(name, conf_options, conf_noptions, sizeof(*o), option_cmp);
	return o == NULL ? -1 : (int)(o - conf_options);
}

struct conf *
conf_new(void)
{
	struct conf	*c;
	int		 d;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->opts = calloc(conf_noptions, sizeof(*c->opts))) == NULL) {
		free(c);
		return NULL;
	}
	snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/rampart");
	snprintf(c->run_dir, sizeof(c->run_dir), "/run/rampart");
	c->log_level = 1;
	TAILQ_INIT(&c->listens);
	TAILQ_INIT(&c->hosts);
	TAILQ_INIT(&c->groups);
	TAILQ_INIT(&c->components);
	for (d = 0; d < D_COUNT; d++) {
		c->daemons[d].enabled = 1;
		snprintf(c->daemons[d].user, sizeof(c->daemons[d].user),
		    "rampart-%s", daemon_users[d]);
	}
	return c;
}

void
conf_free(struct conf *c)
{
	struct conf_listen	*l;
	struct conf_host	*h;
	struct conf_group	*g;
	struct conf_component	*cp;
	size_t			 i;

	if (c == NULL)
		return;
	while ((l = TAILQ_FIRST(&c->listens)) != NULL) {
		TAILQ_REMOVE(&c->listens, l, entry);
		free(l);
	}
	while ((h = TAILQ_FIRST(&c->hosts)) != NULL) {
		TAILQ_REMOVE(&c->hosts, h, entry);
		free(h);
	}
	while ((cp = TAILQ_FIRST(&c->components)) != NULL) {
		TAILQ_REMOVE(&c->components, cp, entry);
		explicit_bzero(cp->secret, sizeof(cp->secret));
		free(cp);
	}
	while ((g = TAILQ_FIRST(&c->groups)) != NULL) {
		TAILQ_REMOVE(&c->groups, g, entry);
		for (i = 0; i < g->nmembers; i++)
			free(g->members[i]);
		free(g->members);
		free(g);
	}
	for (i = 0; i < conf_noptions; i++)
		free(c->opts[i]);
	free(c->opts);
	explicit_bzero(c->dialback_secret, sizeof(c->dialback_secret));
	free(c);
}

/*
 * Values
 */

struct unit {
	char			 c;
	unsigned long long	 mult;
};
static const struct unit size_units[] = {
	{ 'G', G }, { 'M', M }, { 'K', K }, { 0, 0 }
};
static const struct unit time_units[] = {
	{ 'd', DAY }, { 'h', HOUR }, { 'm', MIN }, { 's', 1 }, { 0, 0 }
};

/* The largest unit that divides n evenly, so bounds print as "16M". */
static void
fmt_value(char *buf, size_t len, unsigned long long n, enum opt_type type)
{
	const struct unit *u = NULL;

	if (type == OPT_SIZE)
		u = size_units;
	else if (type == OPT_TIME)
		u = time_units;
	for (; n != 0 && u != NULL && u->c != 0; u++) {
		if (n % u->mult == 0) {
			snprintf(buf, len, "%llu%c", n / u->mult, u->c);
			return;
		}
	}
	snprintf(buf, len, "%llu", n);
}

/*
 * Digits with an optional unit letter; the letter's case is free for
 * sizes (k, K) and times (s, S).  *unit is 0 without one.
 */
static int
parse_scaled(const char *s, const struct unit *units,
    unsigned long long *out, char *unit)
{
	unsigned long long	 n = 0, mult = 1;
	const char		*p;
	size_t			 len = strlen(s);

	*unit = 0;
	if (len == 0 || !isdigit((unsigned char)s[0]))
		return -1;
	if (!isdigit((unsigned char)s[len - 1])) {
		if (units == NULL)
			return -1;
		for (; units->c != 0; units++)
			if (toupper((unsigned char)s[len - 1]) ==
			    toupper((unsigned char)units->c))
				break;
		if (units->c == 0)
			return -1;
		*unit = units->c;
		mult = units->mult;
		len--;
	}
	for (p = s; p < s + len; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (n > (ULLONG_MAX - (*p - '0')) / 10)
			return -2;
		n = n * 10 + (*p - '0');
	}
	if (n > ULLONG_MAX / mult)
		return -2;
	*out = n * mult;
	return 0;
}

static int
parse_enum(const char *choices, const char *value, unsigned long long *out)
{
	const char	*p = choices;
	size_t		 vlen = strlen(value), wlen;
	unsigned	 i;

	for (i = 0; *p != '\0'; i++) {
		wlen = strcspn(p, " ");
		if (wlen == vlen && strncmp(p, value, wlen) == 0) {
			*out = i;
			return 0;
		}
		p += wlen;
		p += strspn(p, " ");
	}
	return -1;
}

/* Text is sent to daemons as is (c2sd puts cors-origin in HTTP headers):
 * printable ASCII only, within the option's length bounds. */
static int
parse_string(const struct conf_option *o, const char *value,
    unsigned long long *out, char *err, size_t errlen)
{
	size_t	len = strlen(value), i;

	*out = 0;
	for (i = 0; i < len; i++)
		if (value[i] < 0x20 || value[i] > 0x7e) {
			snprintf(err, errlen, "%s: invalid character in \"%s\"",
			    o->name, value);
			return -1;
		}
	if (len < o->min || len > o->max) {
		snprintf(err, errlen, "%s: length of \"%s\" is out of range "
		    "(%llu..%llu characters)", o->name, value, o->min, o->max);
		return -1;
	}
	return 0;
}

static const char *
type_desc(const struct conf_option *o)
{
	switch (o->type) {
	case OPT_SIZE:
		return "a size such as 64K, 1M or 1G";
	case OPT_TIME:
		return "a time such as 30s, 5m or 1h";
	case OPT_BOOL:
		return "yes or no";
	case OPT_STRING:
		return "printable text";
	default:
		return "a number";
	}
}

int
conf_opt_parse(int i, const char *value, unsigned long long *out,
    char *err, size_t errlen)
{
	const struct conf_option	*o;
	char				 unit, lo[32], hi[32];
	int				 r;

	if (i < 0 || (size_t)i >= conf_noptions) {
		snprintf(err, errlen, "no such option");
		return -1;
	}
	o = &conf_options[i];
	switch (o->type) {
	case OPT_STRING:
		return parse_string(o, value, out, err, errlen);
	case OPT_ENUM:
		if (parse_enum(o->choices, value, out) == 0)
			return 0;
		snprintf(err, errlen, "%s: invalid value \"%s\" (one of: %s)",
		    o->name, value, o->choices);
		return -1;
	case OPT_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			*out = strcmp(value, "yes") == 0;
			return 0;
		}
		r = -1;
		break;
	case OPT_SIZE:
		r = parse_scaled(value, size_units, out, &unit);
		break;
	case OPT_TIME:
		r = parse_scaled(value, time_units, out, &unit);
		break;
	default:
		r = parse_scaled(value, NULL, out, &unit);
		break;
	}
	fmt_value(lo, sizeof(lo), o->min, o->type);
	fmt_value(hi, sizeof(hi), o->max, o->type);
	if (r == -1) {
		snprintf(err, errlen, "%s: invalid value \"%s\" (expected %s)",
		    o->name, value, type_desc(o));
		return -1;
	}
	if (o->type != OPT_BOOL && (r == -2 || *out < o->min ||
	    *out > o->max)) {
		snprintf(err, errlen, "%s: %s is out of range (%s..%s)",
		    o->name, value, lo, hi);
		return -1;
	}
	return 0;
}

/* The admin's spelling, minus leading zeros and with the unit's case fixed. */
static char *
normalize(const struct conf_option *o, const char *value)
{
	const struct unit	*u;
	char			*s;
	size_t			 len = strlen(value), skip = 0;

	if (o->type == OPT_BOOL || o->type == OPT_ENUM || o->type == OPT_STRING)
		return strdup(value);
	while (skip + 1 < len && value[skip] == '0' &&
	    isdigit((unsigned char)value[skip + 1]))
		skip++;
	if ((s = strdup(value + skip)) == NULL)
		return NULL;
	len = strlen(s);
	u = o->type == OPT_SIZE ? size_units : time_units;
	for (; u->c != 0 && len > 0; u++)
		if (toupper((unsigned char)s[len - 1]) ==
		    toupper((unsigned char)u->c))
			s[len - 1] = u->c;
	return s;
}

int
conf_opt_set(struct conf *c, int i, const char *value, char *err,
    size_t errlen)
{
	unsigned long long	 n;
	char			*s;

	if (conf_opt_parse(i, value, &n, err, errlen) == -1)
		return -1;
	if ((s = normalize(&conf_options[i], value)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	free(c->opts[i]);
	c->opts[i] = s;
	return 0;
}

const char *
conf_opt_value(const struct conf *c, int i)
{
	if (c->opts[i] != NULL)
		return c->opts[i];
	return conf_options[i].def;
}

unsigned long long
conf_opt_number(const struct conf *c, int i)
{
	unsigned long long	 n = 0;
	char			 err[256];

	/* Stored values were checked by conf_opt_set(); the default is
	 * checked by the unit test. */
	if (conf_opt_parse(i, conf_opt_value(c, i), &n, err, sizeof(err)) == -1)
		conf_opt_parse(i, conf_options[i].def, &n, err, sizeof(err));
	return n;
}

/*
 * Printing
 */

/* A quoted string the lexer reads back as the same bytes. */
static void
print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
print_globals(FILE *f, const struct conf *c)
{
	static const char *const levels[] = { "warn", "info", "debug" };
	int	lvl = c->log_level;

	if (lvl < 0 || lvl > 2)
		lvl = 1;
	fputs("data-dir ", f);
	print_quoted(f, c->data_dir);
	fputs("\nrun-dir ", f);
	print_quoted(f, c->run_dir);
	fprintf(f, "\nlog-level %s\n", levels[lvl]);
	fprintf(f, "sandbox-debug %s\n", c->sandbox_debug ? "yes" : "no");
	if (c->s2s_ca_file[0] != '\0') {
		fputs("s2s-ca-file ", f);
		print_quoted(f, c->s2s_ca_file);
		fputc('\n', f);
	}
	/* never in clear: the printed form only says that one is set */
	if (c->dialback_secret[0] != '\0')
		fputs("dialback-secret \"(hidden)\"\n", f);
}

static void
print_hosts(FILE *f, const struct conf *c)
{
	const struct conf_host	*h;

	TAILQ_FOREACH(h, &c->hosts, entry) {
		fputs("\nhost ", f);
		print_quoted(f, h->name);
		fputs(" {\n", f);
		if (h->certificate[0] != '\0') {
			fputs("\tcertificate ", f);
			print_quoted(f, h->certificate);
			fputc('\n', f);
		}
		if (h->key[0] != '\0') {
			fputs("\tkey ", f);
			print_quoted(f, h->key);
			fputc('\n', f);
		}
		fprintf(f, "\tregistration %s\n", h->registration ? "yes" : "no");
		if (h->compliance_log)
			fputs("\tcompliance-log yes\n", f);
		fputs("}\n", f);
	}
}

/* Secrets are never printed: the printed form says where one is set. */
static void
print_components(FILE *f, const struct conf *c)
{
	const struct conf_component *cp;

	TAILQ_FOREACH(cp, &c->components, entry) {
		fputs("\ncomponent ", f);
		print_quoted(f, cp->domain);
		fputs(" {\n\tsecret \"(hidden)\"\n}\n", f);
	}
}

static void
print_groups(FILE *f, const struct conf *c)
{
	const struct conf_group	*g;
	size_t			 i;

	TAILQ_FOREACH(g, &c->groups, entry) {
		fputs("\ngroup ", f);
		print_quoted(f, g->name);
		fputs(" {\n", f);
		for (i = 0; i < g->nmembers; i++) {
			fputs("\tmember ", f);
			print_quoted(f, g->members[i]);
			fputc('\n', f);
		}
		fputs("}\n", f);
	}
}

static void
print_listens(FILE *f, const struct conf *c)
{
	const struct conf_listen	*l;

	if (!TAILQ_EMPTY(&c->listens))
		fputc('\n', f);
	TAILQ_FOREACH(l, &c->listens, entry)
		fprintf(f, "listen %s on %s port %u\n",
		    listen_kind_names[l->kind], l->addr, l->port);
}

static void
print_daemons(FILE *f, const struct conf *c)
{
	int	d;

	fputc('\n', f);
	for (d = 0; d < D_COUNT; d++) {
		fprintf(f, "daemon %s { user ", daemon_names[d]);
		print_quoted(f, c->daemons[d].user);
		fprintf(f, "%s }\n", c->daemons[d].enabled ? "" : " disable");
	}
}

static void
print_help(FILE *f, const struct conf_option *o)
{
	char	lo[32], hi[32];
	int	d;

	fprintf(f, "\t# %s\n\t# ", o->help);
	if (o->type == OPT_ENUM)
		fprintf(f, "one of: %s", o->choices);
	else if (o->type == OPT_BOOL)
		fputs("yes or no", f);
	else if (o->type == OPT_STRING)
		fprintf(f, "text of %llu..%llu characters", o->min, o->max);
	else {
		fmt_value(lo, sizeof(lo), o->min, o->type);
		fmt_value(hi, sizeof(hi), o->max, o->type);
		fprintf(f, "%s..%s", lo, hi);
	}
	fprintf(f, ", default %s; for", o->def);
	for (d = 0; d < D_COUNT; d++)
		if (o->daemons & DMASK(d))
			fprintf(f, " %s", daemon_names[d]);
	fputc('\n', f);
}

static unsigned long long
default_number(int i)
{
	unsigned long long	 n = 0;
	char			 err[256];

	conf_opt_parse(i, conf_options[i].def, &n, err, sizeof(err));
	return n;
}

/* Options that differ from their default; with verbose, all of them. */
static void
print_options(FILE *f, const struct conf *c, int verbose)
{
	size_t	i;
	int	open = 0;

	for (i = 0; i < conf_noptions; i++) {
		if (!verbose && (conf_options[i].type == OPT_STRING ?
		    strcmp(conf_opt_value(c, i), conf_options[i].def) == 0 :
		    conf_opt_number(c, i) == default_number(i)))
			continue;
		if (!open)
			fputs("\nlimits {\n", f);
		else if (verbose)
			fputc('\n', f);
		open = 1;
		if (verbose)
			print_help(f, &conf_options[i]);
		fprintf(f, "\t%s ", conf_options[i].name);
		if (conf_options[i].type == OPT_STRING)
			print_quoted(f, conf_opt_value(c, i));
		else
			fputs(conf_opt_value(c, i), f);
		fputc('\n', f);
	}
	if (open)
		fputs("}\n", f);
}

void
conf_print(FILE *f, const struct conf *c, int verbose)
{
	print_globals(f, c);
	print_hosts(f, c);
	print_groups(f, c);
	print_components(f, c);
	print_listens(f, c);
	print_daemons(f, c);
	print_options(f, c, verbose);
}
