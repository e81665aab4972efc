/*
 * config.h - routerd's view of etc/rampart.conf.
 *
 * parse.y fills a struct conf; conf_print() writes it back in the same
 * syntax (the printed form parses back to itself); routerd turns it into
 * CONFIG frames, sending each daemon only its own part.  Only routerd ever
 * reads the file.
 *
 * Tunables (limits, timeouts) are table driven: conf_options[] names each
 * key once, with its type, default and the daemons that receive it, so the
 * parser, the printer, the docs and the CONFIG frames cannot disagree.
 */
#ifndef RAMPART_CONFIG_H
#define RAMPART_CONFIG_H

#include <sys/queue.h>
#include <sys/types.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

/* Daemons, in start order. */
enum daemon_id {
	D_AUTHD, D_IMD, D_PEPD, D_MUCD, D_S2SD, D_C2SD,
	D_COUNT
};
#define DMASK(d)	(1u << (d))
extern const char *const daemon_names[D_COUNT];

enum opt_type {
	OPT_NUMBER,	/* plain count */
	OPT_SIZE,	/* bytes; accepts K, M, G suffixes */
	OPT_TIME,	/* seconds; accepts s, m, h suffixes */
	OPT_BOOL,	/* yes | no */
	OPT_ENUM,	/* one of the words in `choices` (space separated) */
	OPT_STRING,	/* printable ASCII text, min..max characters */
};

struct conf_option {
	const char	*name;		/* "max-stanza-size" */
	enum opt_type	 type;
	const char	*def;		/* default, in config syntax ("256K") */
	unsigned	 daemons;	/* DMASK()s that receive it */
	const char	*choices;	/* OPT_ENUM only */
	unsigned long long min, max;	/* bounds for numbers/sizes/times */
	const char	*help;		/* one line, for docs and -nv comments */
};
extern const struct conf_option conf_options[];
extern const size_t conf_noptions;
/* Index into conf_options, or -1. */
int	conf_option_find(const char *name);

enum listen_kind {
	L_CLIENT,	/* XMPP c2s, STARTTLS (5222) */
	L_CLIENT_TLS,	/* XMPP c2s, direct TLS (5223, XEP-0368) */
	L_HTTP,		/* BOSH/WebSocket, plain (5280) */
	L_HTTPS,	/* BOSH/WebSocket over TLS (5281) */
	L_SERVER,	/* s2s (5269) */
	L_SERVER_TLS,	/* s2s direct TLS (5270) */
	L_COMPONENT,	/* XEP-0114 (5347) */
	L_COUNT
};
extern const char *const listen_kind_names[L_COUNT];	/* "client", "client-tls", ... */

struct conf_listen {
	TAILQ_ENTRY(conf_listen) entry;
	enum listen_kind kind;
	char		 addr[64];	/* numeric IPv4/IPv6 address */
	uint16_t	 port;
};

struct conf_host {
	TAILQ_ENTRY(conf_host) entry;
	char		 name[1024];	/* normalized domain */
	char		 certificate[PATH_MAX];
	char		 key[PATH_MAX];
	int		 registration;	/* XEP-0077 in-band registration */
	int		 compliance_log;	/* imd logs every message */
};

/* An external component (XEP-0114): a trusted program serving a domain. */
struct conf_component {
	TAILQ_ENTRY(conf_component) entry;
	char		 domain[1024];
	char		 secret[256];	/* never printed or logged */
};

/* A shared group: members see each other with mutual subscription. */
struct conf_group {
	TAILQ_ENTRY(conf_group) entry;
	char		 name[256];
	char		**members;	/* normalized bare JIDs */
	size_t		 nmembers;
};

struct conf_daemon {
	int		 enabled;
	char		 user[64];	/* user name or numeric uid */
	int		 user_set;
};

struct conf {
	char		 data_dir[PATH_MAX];	/* default /var/lib/rampart */
	char		 run_dir[PATH_MAX];	/* default /run/rampart (control socket) */
	int		 log_level;		/* 0 warn, 1 info, 2 debug */
	int		 sandbox_debug;		/* seccomp logs instead of killing */
	char		 s2s_ca_file[PATH_MAX];	/* extra trust anchors for s2s, "" = none */
	char		 dialback_secret[256];	/* XEP-0185; "" = random per run;
						 * never printed or logged */
	TAILQ_HEAD(, conf_listen) listens;
	TAILQ_HEAD(, conf_host) hosts;
	TAILQ_HEAD(, conf_group) groups;
	TAILQ_HEAD(, conf_component) components;
	struct conf_daemon daemons[D_COUNT];
	/* Option values in config syntax, indexed like conf_options; NULL =
	 * default.  conf_opt_value() gives the effective one. */
	char		**opts;
};

struct conf *conf_new(void);		/* defaults filled in */
void	conf_free(struct conf *);
/* Parse `path` (and its includes) into a new conf; NULL after printing
 * every error as "file:line: message" to stderr. */
struct conf *conf_parse(const char *path);
/* Write the effective config in the file's syntax. */
void	conf_print(FILE *, const struct conf *, int verbose);
/* The effective value of option `i`, in config syntax. */
const char *conf_opt_value(const struct conf *, int i);
/* The value converted to a number (bytes, seconds, 0/1, or the enum index). */
unsigned long long conf_opt_number(const struct conf *, int i);
/* Parse a value of the given option; 0 or -1 with a message in `err`. */
int	conf_opt_parse(int i, const char *value, unsigned long long *out,
	    char *err, size_t errlen);
/* Check `value` for option `i` and store it in its normalized spelling
 * ("0256k" becomes "256K"); 0, or -1 with a message in `err`. */
int	conf_opt_set(struct conf *, int i, const char *value, char *err,
	    size_t errlen);
/* Where conf_parse() writes its "file:line: message" lines; NULL means
 * stderr.  Tests and the fuzzer point it elsewhere. */
extern FILE *conf_errfile;

#endif
