/*
 * parse.y - the grammar and lexer of rampart.conf.
 *
 * routerd calls conf_parse() at start-up and on reload; `routerd -n`
 * calls it to check a file.  The shape follows OpenBSD's daemons
 * (httpd, relayd, smtpd): the lexer lives here, keywords sit in a sorted
 * table searched with bsearch, `include` pushes files on a stack, macros
 * are `name = value` and `$name`.  Every problem is reported as
 * "file:line: message" and parsing goes on to the end so that one run
 * shows them all; then conf_parse() returns NULL.
 *
 * Invariants: `file` is always the tail of `files` (an include pushes,
 * EOF pops); a NL token counts its line only when the next token is read,
 * so an error found while the parser looks ahead at a NL names the line
 * that NL ends; every value stored in the conf has been checked here or
 * by conf_opt_set(), so a conf that comes back is safe to act on.  The
 * file is the admin's, but routerd reads it as root, so it is read as if
 * it were hostile: bounded tokens, bounded include depth and file count,
 * regular files only, none that group or others may write.
 */

%{
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <idn2.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not "config.h": in the test and fuzz builds the build root, which
 * holds meson's generated config.h, comes first in the include path. */
#include "routerd/config.h"
#include "jid.h"

#define MAX_TOKEN	8192	/* longest word or quoted string */
#define MAX_DEPTH	8	/* include nesting; also stops include loops */
#define MAX_FILES	256	/* files read by one conf_parse() */
#define MAX_MACROS	1024

TAILQ_HEAD(filelist, file);
struct file {
	TAILQ_ENTRY(file)	 entry;
	FILE			*stream;
	char			*name;
	int			 lineno;
	int			 depth;		/* include nesting */
	int			 nl_pending;	/* count a line at the next token */
	int			 nl_first;	/* first token is a NL: see include */
	int			 last_nl;	/* last token was a NL */
	mode_t			 mode;		/* secrets need a private file */
	int			 unget[4];
	size_t			 nunget;
};
static struct filelist	 files = TAILQ_HEAD_INITIALIZER(files);
static struct file	*file;
static int		 nfiles;
static int		 errors;
static int		 lex_failed;	/* the lexer already explained an ERROR */

struct macro {
	TAILQ_ENTRY(macro)	 entry;
	char			*name;
	char			*value;
};
static TAILQ_HEAD(, macro) macros = TAILQ_HEAD_INITIALIZER(macros);
static int		 nmacros;

static struct conf	*conf;
static struct conf_host	*curhost;
static int		 curhost_line;
static int		 curdaemon;
/* Where each daemon's user was set, to name the line of a clash. */
static char		*user_file[D_COUNT];
static int		 user_line[D_COUNT];
static int		 user_seq[D_COUNT];	/* order of the settings */
static int		 nuser_seq;

typedef struct {
	union {
		long long	 number;
		char		*string;
	} v;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

static int	 yylex(void);
static void	 yyerror(const char *);
static void	 conferr(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 conferr_at(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static struct file *pushfile(const char *, int);
static int	 popfile(void);
static void	 include(char *);
static void	 macro_set(char *, char *);
static void	 set_path(char *, size_t, const char *, char *);
static void	 set_option(char *, char *);
static void	 host_begin(char *);
static void	 host_end(void);
static void	 group_begin(char *);
static void	 component_begin(char *);
static void	 component_secret(char *);
static void	 dialback_secret(char *);
static void	 component_end(void);
static void	 group_add_member(char *);
static void	 listen_add(char *, char *, long long);
static void	 daemon_begin(char *);
static void	 daemon_user(char *);
static char	*numstr(long long);
%}

%define parse.error verbose

%token	CERTIFICATE "certificate" COMPLIANCELOG "compliance-log"
%token	COMPONENT "component" SECRET "secret" S2SCAFILE "s2s-ca-file"
%token	DAEMON "daemon" DATADIR "data-dir" GROUP "group" MEMBER "member"
%token	DIALBACKSECRET "dialback-secret"
%token	DISABLE "disable" ENABLE "enable" HOST "host" INCLUDE "include"
%token	KEY "key" LIMITS "limits" LISTEN "listen" LOGLEVEL "log-level"
%token	NO "no" ON "on" PORT "port" REGISTRATION "registration"
%token	RUNDIR "run-dir" SANDBOXDEBUG "sandbox-debug" USER "user" YES "yes"
%token	NL "end of line" ERROR "invalid input"
%token	<v.string>	STRING "string"
%token	<v.number>	NUMBER "number"
%type	<v.number>	yesno port
%type	<v.string>	value listenkind
%destructor	{ free($$); } <v.string>

%%

grammar		: %empty
		| grammar NL
		| grammar statement NL
		| grammar error NL		{ yyerrok; }
		;

statement	: INCLUDE STRING		{ include($2); }
		| STRING '=' value		{ macro_set($1, $3); }
		| global
		| option
		| STRING			{ set_option($1, NULL); }
		| host
		| listen
		| daemon
		| limits
		| group
		| component
		;

value		: STRING
		| NUMBER			{ $$ = numstr($1); }
		| YES				{ $$ = strdup("yes"); }
		| NO				{ $$ = strdup("no"); }
		;

yesno		: YES				{ $$ = 1; }
		| NO				{ $$ = 0; }
		;

global		: DATADIR STRING		{
			set_path(conf->data_dir, sizeof(conf->data_dir),
			    "data-dir", $2);
		}
		| RUNDIR STRING			{
			set_path(conf->run_dir, sizeof(conf->run_dir),
			    "run-dir", $2);
		}
		| LOGLEVEL STRING		{
			if (strcmp($2, "warn") == 0)
				conf->log_level = 0;
			else if (strcmp($2, "info") == 0)
				conf->log_level = 1;
			else if (strcmp($2, "debug") == 0)
				conf->log_level = 2;
			else
				conferr("log-level: invalid value \"%s\" "
				    "(one of: warn info debug)", $2);
			free($2);
		}
		| SANDBOXDEBUG yesno		{ conf->sandbox_debug = $2; }
		| S2SCAFILE STRING		{
			set_path(conf->s2s_ca_file, sizeof(conf->s2s_ca_file),
			    "s2s-ca-file", $2);
		}
		| DIALBACKSECRET STRING		{ dialback_secret($2); }
		;

option		: STRING value			{ set_option($1, $2); }
		;

/* A block ends at its brace even after an error inside it. */
blockend	: '}'
		| error '}'			{ yyerrok; }
		;

/* The mid-rule actions take the name; NULL keeps error recovery from
 * freeing it again. */
host		: HOST STRING			{ host_begin($2); $2 = NULL; }
		    '{' hostbody blockend	{ host_end(); }
		;

hostbody	: %empty
		| hostbody NL
		| hostbody hostopt
		| hostbody error NL		{ yyerrok; }
		;

hostopt		: CERTIFICATE STRING		{
			set_path(curhost->certificate,
			    sizeof(curhost->certificate), "certificate", $2);
		}
		| KEY STRING			{
			set_path(curhost->key, sizeof(curhost->key), "key",
			    $2);
		}
		| REGISTRATION yesno		{ curhost->registration = $2; }
		| COMPLIANCELOG yesno		{ curhost->compliance_log = $2; }
		| STRING value			{
			conferr("host: unknown keyword \"%s\"", $1);
			free($1);
			free($2);
		}
		;

listen		: LISTEN listenkind ON STRING port	{ listen_add($2, $4, $5); }
		;

/* "component" is also a keyword (component blocks). */
listenkind	: STRING
		| COMPONENT			{ $$ = strdup("component"); }
		;

/* -1: the kind's usual port; 0: a bad one, already reported. */
port		: %empty			{ $$ = -1; }
		| PORT NUMBER			{
			$$ = $2;
			if ($2 < 1 || $2 > 65535) {
				conferr("listen: port %lld is out of range "
				    "(1..65535)", $2);
				$$ = 0;
			}
		}
		;

daemon		: DAEMON STRING			{ daemon_begin($2); $2 = NULL; }
		    '{' daemonbody blockend
		;

daemonbody	: %empty
		| daemonbody NL
		| daemonbody daemonopt
		| daemonbody error NL		{ yyerrok; }
		;

daemonopt	: USER STRING			{ daemon_user($2); }
		| USER NUMBER			{ daemon_user(numstr($2)); }
		| DISABLE			{
			if (curdaemon != -1)
				conf->daemons[curdaemon].enabled = 0;
		}
		| ENABLE			{
			if (curdaemon != -1)
				conf->daemons[curdaemon].enabled = 1;
		}
		| STRING value			{
			conferr("daemon: unknown keyword \"%s\"", $1);
			free($1);
			free($2);
		}
		;

limits		: LIMITS '{' limitsbody blockend
		;

component	: COMPONENT STRING		{ component_begin($2); $2 = NULL; }
		    '{' componentbody blockend	{ component_end(); }
		;

componentbody	: %empty
		| componentbody NL
		| componentbody SECRET STRING	{ component_secret($3); }
		| componentbody error NL	{ yyerrok; }
		;

group		: GROUP STRING			{ group_begin($2); $2 = NULL; }
		    '{' groupbody blockend
		;

groupbody	: %empty
		| groupbody NL
		| groupbody MEMBER STRING	{ group_add_member($3); }
		| groupbody error NL		{ yyerrok; }
		;

limitsbody	: %empty
		| limitsbody NL
		| limitsbody option
		| limitsbody error NL		{ yyerrok; }
		;

%%

/*
 * Errors
 */

static FILE *
errfile(void)
{
	return conf_errfile != NULL ? conf_errfile : stderr;
}

static void
vconferr(int lineno, const char *fmt, va_list ap)
{
	FILE	*f = errfile();

	errors++;
	fprintf(f, "%s:%d: ", file->name, lineno);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

static void
conferr(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vconferr(file->lineno, fmt, ap);
	va_end(ap);
}

static void
conferr_at(int lineno, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vconferr(lineno, fmt, ap);
	va_end(ap);
}

/* Bison's syntax errors; a lexer error has already been reported. */
static void
yyerror(const char *msg)
{
	if (lex_failed) {
		lex_failed = 0;
		return;
	}
	conferr("%s", msg);
}

/*
 * Lexer
 */

struct keyword {
	const char	*name;
	int		 token;
};

/* Sorted by name for bsearch. */
static const struct keyword keywords[] = {
	{ "certificate",	CERTIFICATE },
	{ "compliance-log",	COMPLIANCELOG },
	{ "component",		COMPONENT },
	{ "daemon",		DAEMON },
	{ "data-dir",		DATADIR },
	{ "dialback-secret",	DIALBACKSECRET },
	{ "disable",		DISABLE },
	{ "enable",		ENABLE },
	{ "group",		GROUP },
	{ "host",		HOST },
	{ "include",		INCLUDE },
	{ "key",		KEY },
	{ "limits",		LIMITS },
	{ "listen",		LISTEN },
	{ "log-level",		LOGLEVEL },
	{ "member",		MEMBER },
	{ "no",			NO },
	{ "on",			ON },
	{ "port",		PORT },
	{ "registration",	REGISTRATION },
	{ "run-dir",		RUNDIR },
	{ "s2s-ca-file",	S2SCAFILE },
	{ "sandbox-debug",	SANDBOXDEBUG },
	{ "secret",		SECRET },
	{ "user",		USER },
	{ "yes",		YES },
};

static int
kw_cmp(const void *key, const void *elem)
{
	const struct keyword *kw = elem;

	return strcmp(key, kw->name);
}

static int
lookup(const char *word)
{
	const struct keyword *kw;

	kw = bsearch(word, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), kw_cmp);
	return kw == NULL ? STRING : kw->token;
}

static void
lungetc(int c)
{
	if (c != EOF && file->nunget < sizeof(file->unget) / sizeof(int))
		file->unget[file->nunget++] = c;
}

/* The next byte; a backslash before a newline joins two lines. */
static int
lgetc(void)
{
	int	c, next;

	if (file->nunget > 0)
		return file->unget[--file->nunget];
	for (;;) {
		if ((c = getc(file->stream)) != '\\')
			return c;
		if ((next = getc(file->stream)) != '\n') {
			lungetc(next);
			return c;
		}
		file->lineno++;
	}
}

/* Skip the rest of a bad line; the grammar recovers at its NL. */
static int
findeol(void)
{
	int	c;

	while ((c = lgetc()) != EOF && c != '\n')
		;
	lungetc(c);
	lex_failed = 1;
	return ERROR;
}

static int
in_word(int c)
{
	if (c == EOF)
		return 0;
	if (c >= 0x80 || isalnum(c))
		return 1;
	return ispunct(c) && strchr("\"'{}=#$()<>!,;\\`", c) == NULL;
}

/* An unquoted word: a number, a keyword, or a string. */
static int
classify(const char *word)
{
	const char	*p = word;
	long long	 n;
	int		 tok;

	if (*p == '-')
		p++;
	if (*p != '\0' && strspn(p, "0123456789") == strlen(p)) {
		errno = 0;
		n = strtoll(word, NULL, 10);
		if (errno == 0) {
			yylval.v.number = n;
			return NUMBER;
		}
	}
	if ((tok = lookup(word)) != STRING)
		return tok;
	if ((yylval.v.string = strdup(word)) == NULL) {
		conferr("%s", strerror(errno));
		return findeol();
	}
	return STRING;
}

static int
lex_word(int c)
{
	char	buf[MAX_TOKEN + 1];
	size_t	len = 0;

	do {
		if (len == MAX_TOKEN) {
			conferr("word too long");
			return findeol();
		}
		buf[len++] = c;
	} while (in_word(c = lgetc()));
	lungetc(c);
	buf[len] = '\0';
	return classify(buf);
}

/* "..." or '...'; \" and \\ stand for the character, other \x for both. */
static int
lex_quoted(int quote)
{
	char	buf[MAX_TOKEN + 1];
	size_t	len = 0;
	int	c, next;

	for (;;) {
		if ((c = lgetc()) == EOF || c == '\n') {
			lungetc(c);
			conferr("unterminated quoted string");
			return findeol();
		}
		if (c == quote)
			break;
		if (c == '\0') {
			conferr("NUL byte in quoted string");
			return findeol();
		}
		if (c == '\\') {
			next = lgetc();
			if (next == quote || next == '\\')
				c = next;
			else
				lungetc(next);
		}
		if (len == MAX_TOKEN) {
			conferr("quoted string too long");
			return findeol();
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	if ((yylval.v.string = strdup(buf)) == NULL) {
		conferr("%s", strerror(errno));
		return findeol();
	}
	return STRING;
}

/* $name stands for one word: the macro's value, lexed as if unquoted. */
static int
lex_macro(void)
{
	struct macro	*m;
	char		 name[64];
	size_t		 len = 0;
	int		 c;

	while ((c = lgetc()) != EOF && (isalnum(c) || c == '_')) {
		if (len == sizeof(name) - 1) {
			conferr("macro name too long");
			return findeol();
		}
		name[len++] = c;
	}
	lungetc(c);
	name[len] = '\0';
	if (len == 0) {
		conferr("missing macro name after $");
		return findeol();
	}
	TAILQ_FOREACH(m, &macros, entry)
		if (strcmp(m->name, name) == 0)
			return classify(m->value);
	conferr("macro \"%s\" is not defined", name);
	return findeol();
}

static int
lex_token(void)
{
	int	c;

 top:
	if (file->nl_first) {
		file->nl_first = 0;
		return NL;
	}
	if (file->nl_pending) {
		file->nl_pending = 0;
		file->lineno++;
	}
	while ((c = lgetc()) == ' ' || c == '\t' || c == '\r')
		;
	if (c == '#')
		while ((c = lgetc()) != '\n' && c != EOF)
			;
	if (c == EOF) {
		/* Each file ends its last line, so a statement cannot
		 * continue into the next file. */
		if (!file->last_nl)
			return NL;
		if (popfile() == EOF)
			return 0;
		goto top;
	}
	switch (c) {
	case '\n':
		file->nl_pending = 1;
		return NL;
	case '{':
	case '}':
	case '=':
		return c;
	case '"':
	case '\'':
		return lex_quoted(c);
	case '$':
		return lex_macro();
	}
	if (in_word(c))
		return lex_word(c);
	if (isprint(c))
		conferr("unexpected character '%c'", c);
	else
		conferr("unexpected byte 0x%02x", c);
	return findeol();
}

static int
yylex(void)
{
	int	tok;

	lex_failed = 0;
	tok = lex_token();
	file->last_nl = (tok == NL);
	return tok;
}

/*
 * Files
 */

static void
open_error(const char *name, const char *why)
{
	if (file == NULL) {
		errors++;
		fprintf(errfile(), "%s: %s\n", name, why);
	} else
		conferr("include \"%s\": %s", name, why);
}

/*
 * Open `name` and make it the current file.  Refused unless it is a
 * regular file that only its owner can write: a config file decides
 * which users the daemons run as.  O_NONBLOCK keeps a FIFO or a /proc
 * file from stopping start-up.
 */
static struct file *
pushfile(const char *name, int depth)
{
	struct file	*nf;
	struct stat	 st;
	int		 fd;

	if (nfiles >= MAX_FILES) {
		open_error(name, "too many files included");
		return NULL;
	}
	if ((fd = open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		open_error(name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		open_error(name, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		open_error(name, "not a regular file");
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		open_error(name, "group or world writable, refused");
		close(fd);
		return NULL;
	}
	if ((nf = calloc(1, sizeof(*nf))) == NULL ||
	    (nf->name = strdup(name)) == NULL ||
	    (nf->stream = fdopen(fd, "r")) == NULL) {
		open_error(name, strerror(errno));
		if (nf != NULL)
			free(nf->name);
		free(nf);
		close(fd);
		return NULL;
	}
	nf->mode = st.st_mode;
	nf->lineno = 1;
	nf->depth = depth;
	nfiles++;
	TAILQ_INSERT_TAIL(&files, nf, entry);
	return file = nf;
}

static void
closefile(struct file *f)
{
	TAILQ_REMOVE(&files, f, entry);
	fclose(f->stream);
	free(f->name);
	free(f);
}

/* Back to the including file; EOF at the top one (conf_parse closes it). */
static int
popfile(void)
{
	struct file	*prev;

	if ((prev = TAILQ_PREV(file, filelist, entry)) == NULL)
		return EOF;
	closefile(file);
	file = prev;
	return 0;
}

/* A relative include is relative to the file that names it. */
static char *
include_path(const char *path)
{
	const char	*slash;
	char		*full;

	if (path[0] == '/' || (slash = strrchr(file->name, '/')) == NULL)
		return strdup(path);
	if (asprintf(&full, "%.*s/%s", (int)(slash - file->name), file->name,
	    path) == -1)
		return NULL;
	return full;
}

/*
 * The included files are pushed last first so that they are read in
 * order.  Each starts with a NL token: the parser still wants the NL
 * that ends the `include` line, and the real one is read only after the
 * included file is done (where it is an empty line).
 */
static void
include(char *arg)
{
	struct file	*parent = file;
	glob_t		 g;
	char		*path;
	size_t		 i;
	int		 rc;

	if (file->depth >= MAX_DEPTH) {
		conferr("include \"%s\": nested too deeply", arg);
		free(arg);
		return;
	}
	if ((path = include_path(arg)) == NULL) {
		conferr("include: %s", strerror(errno));
		free(arg);
		return;
	}
	free(arg);
	if (strpbrk(path, "*?[") == NULL) {
		if (pushfile(path, parent->depth + 1) != NULL)
			file->nl_first = 1;
		free(path);
		return;
	}
	/* A pattern that matches nothing is an empty conf.d, not an error. */
	if ((rc = glob(path, 0, NULL, &g)) != 0) {
		if (rc != GLOB_NOMATCH)
			conferr("include \"%s\": cannot expand", path);
		free(path);
		return;
	}
	for (i = g.gl_pathc; i > 0; i--) {
		file = parent;	/* error messages name the include line */
		if (pushfile(g.gl_pathv[i - 1], parent->depth + 1) != NULL)
			file->nl_first = 1;
	}
	file = TAILQ_LAST(&files, filelist);
	globfree(&g);
	free(path);
}

/*
 * Actions
 */

static char *
numstr(long long n)
{
	char	*s;

	if (asprintf(&s, "%lld", n) == -1)
		return NULL;
	return s;
}

static void
macro_set(char *name, char *value)
{
	struct macro	*m;
	const char	*p;

	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			break;
	if (*p != '\0' || p - name >= 64) {
		conferr("invalid macro name \"%s\"", name);
		goto done;
	}
	if (value == NULL) {
		conferr("%s", strerror(ENOMEM));
		goto done;
	}
	TAILQ_FOREACH(m, &macros, entry) {
		if (strcmp(m->name, name) == 0) {
			free(m->value);
			m->value = value;
			free(name);
			return;
		}
	}
	if (nmacros >= MAX_MACROS || (m = calloc(1, sizeof(*m))) == NULL) {
		conferr("too many macros");
		goto done;
	}
	m->name = name;
	m->value = value;
	nmacros++;
	TAILQ_INSERT_TAIL(&macros, m, entry);
	return;
 done:
	free(name);
	free(value);
}

static void
set_path(char *dst, size_t size, const char *what, char *path)
{
	if (path[0] != '/')
		conferr("%s: \"%s\" is not an absolute path", what, path);
	else if (strlen(path) >= size)
		conferr("%s: path too long", what);
	else
		memcpy(dst, path, strlen(path) + 1);
	free(path);
}

static void
set_option(char *name, char *value)
{
	char	err[256];
	int	i;

	if ((i = conf_option_find(name)) == -1)
		conferr("unknown keyword \"%s\"", name);
	else if (value == NULL)
		conferr("%s: missing value", name);
	else if (conf_opt_set(conf, i, value, err, sizeof(err)) == -1)
		conferr("%s", err);
	free(name);
	free(value);
}

/*
 * RFC 7622 section 3.2: a domainpart is a DNS name (IDNA2008 for
 * internationalized labels) or an IP literal; a host we serve must be a
 * name.  ASCII names are checked as LDH labels and lowercased; others
 * go through libidn2 to their A-label form (checked the same way) and
 * back, which gives the lowercase U-label form that JIDs use.
 */
static int
ldh_ok(const char *s)
{
	const char	*label = s, *p;
	size_t		 len;

	if (strlen(s) > 253)
		return 0;
	for (;;) {
		len = strcspn(label, ".");
		if (len == 0 || len > 63 || label[0] == '-' ||
		    label[len - 1] == '-')
			return 0;
		for (p = label; p < label + len; p++)
			if (!islower((unsigned char)*p) &&
			    !isdigit((unsigned char)*p) && *p != '-')
				return 0;
		if (label[len] == '\0')
			break;
		label += len + 1;
	}
	/* An all-digit last label would make 192.0.2.1 a host name. */
	return strspn(label, "0123456789") != len;
}

static int
domain_prep(const char *in, char *out, size_t outlen)
{
	char	*ascii = NULL, *uni = NULL, *again = NULL;
	size_t	 i, len = strlen(in);
	int	 ok = 0, idn = 0;

	if (len >= outlen)
		return -1;
	for (i = 0; i <= len; i++) {
		out[i] = tolower((unsigned char)in[i]);
		if ((unsigned char)in[i] >= 0x80)
			idn = 1;
	}
	/* An A-label ("xn--") is stored as its U-label, as in a JID. */
	if (strncmp(out, "xn--", 4) == 0 || strstr(out, ".xn--") != NULL)
		idn = 1;
	if (!idn)
		return ldh_ok(out) ? 0 : -1;
	/* RFC 5891 section 5.4: an A-label must decode to a U-label that
	 * encodes back to the same A-label. */
	if (idn2_to_ascii_8z(out, &ascii, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL) == IDN2_OK && ldh_ok(ascii) &&
	    idn2_to_unicode_8z8z(ascii, &uni, 0) == IDN2_OK &&
	    idn2_to_ascii_8z(uni, &again, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL) == IDN2_OK && strcmp(ascii, again) == 0 &&
	    strlen(uni) < outlen) {
		memcpy(out, uni, strlen(uni) + 1);
		ok = 1;
	}
	idn2_free(ascii);
	idn2_free(uni);
	idn2_free(again);
	return ok ? 0 : -1;
}

/* The host is added even when its name is bad: any error drops the
 * whole conf, and the block's lines still get checked. */
static void
host_begin(char *name)
{
	struct conf_host	*h;

	static struct conf_host	 sink;

	if ((curhost = calloc(1, sizeof(*curhost))) == NULL) {
		conferr("%s", strerror(errno));
		free(name);
		curhost = &sink;	/* the block's lines still parse */
		return;
	}
	curhost_line = file->lineno;
	if (domain_prep(name, curhost->name, sizeof(curhost->name)) == -1)
		conferr("host \"%s\": not a valid domain name", name);
	else {
		TAILQ_FOREACH(h, &conf->hosts, entry)
			if (strcmp(h->name, curhost->name) == 0)
				conferr("host \"%s\": defined twice", name);
	}
	TAILQ_INSERT_TAIL(&conf->hosts, curhost, entry);
	free(name);
}

static struct conf_component *curcomp;

/* component "domain" { secret "..." }: the domain must not be ours. */
static void
component_begin(char *name)
{
	struct conf_component	*c;
	struct conf_host	*h;

	curcomp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		conferr("%s", strerror(errno));
		free(name);
		return;
	}
	if (domain_prep(name, c->domain, sizeof(c->domain)) == -1)
		conferr("component \"%s\": not a valid domain name", name);
	TAILQ_FOREACH(h, &conf->hosts, entry)
		if (strcmp(h->name, c->domain) == 0)
			conferr("component \"%s\": is a host of ours", name);
	TAILQ_INSERT_TAIL(&conf->components, c, entry);
	curcomp = c;
	free(name);
}

static void
component_secret(char *secret)
{
	if (curcomp == NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
		return;
	}
	if (file->mode & S_IROTH)
		conferr("component secret in %s, which others can read "
		    "(chmod o-r)", file->name);
	if (secret[0] == '\0' || strlen(secret) >= sizeof(curcomp->secret))
		conferr("component \"%s\": secret empty or too long",
		    curcomp->domain);
	else
		strcpy(curcomp->secret, secret);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

/*
 * dialback-secret "...": the secret s2sd derives dialback keys from
 * (XEP-0185), so that keys stay valid across restarts and between the
 * machines of one domain.  Like a component secret it makes the file
 * private, and it is never printed or logged.
 */
static void
dialback_secret(char *secret)
{
	if (file->mode & S_IROTH)
		conferr("dialback-secret in %s, which others can read "
		    "(chmod o-r)", file->name);
	if (secret[0] == '\0' || strlen(secret) >= sizeof(conf->dialback_secret))
		conferr("dialback-secret: empty or too long (at most %zu "
		    "characters)", sizeof(conf->dialback_secret) - 1);
	else
		strcpy(conf->dialback_secret, secret);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

static void
component_end(void)
{
	if (curcomp != NULL && curcomp->secret[0] == '\0')
		conferr("component \"%s\": no secret", curcomp->domain);
	curcomp = NULL;
}

static struct conf_group *curgroup;

static void
group_begin(char *name)
{
	struct conf_group *g;

	curgroup = NULL;
	if (name[0] == '\0' || strlen(name) >= sizeof(g->name)) {
		conferr("group: name empty or too long");
		free(name);
		return;
	}
	TAILQ_FOREACH(g, &conf->groups, entry)
		if (strcmp(g->name, name) == 0)
			conferr("group \"%s\": defined twice", name);
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		conferr("%s", strerror(errno));
		free(name);
		return;
	}
	strcpy(g->name, name);
	TAILQ_INSERT_TAIL(&conf->groups, g, entry);
	curgroup = g;
	free(name);
}

/* Members are bare JIDs of accounts: user@domain. */
static void
group_add_member(char *jidstr)
{
	struct jid	  j;
	char		  bare[JID_MAX + 1], **m;

	if (jid_parse(jidstr, strlen(jidstr), &j) == -1 || j.local[0] == '\0' ||
	    j.resource[0] != '\0' ||
	    jid_format_bare(&j, bare, sizeof(bare)) == -1) {
		conferr("member \"%s\": not a bare JID (user@domain)", jidstr);
		free(jidstr);
		return;
	}
	free(jidstr);
	if (curgroup == NULL)
		return;
	if ((m = reallocarray(curgroup->members, curgroup->nmembers + 1,
	    sizeof(*m))) == NULL || (m[curgroup->nmembers] = strdup(bare)) == NULL) {
		conferr("%s", strerror(errno));
		if (m)
			curgroup->members = m;
		return;
	}
	curgroup->members = m;
	curgroup->nmembers++;
}

static void
host_end(void)
{
	if ((curhost->certificate[0] == '\0') != (curhost->key[0] == '\0'))
		conferr_at(curhost_line, "host \"%s\": certificate and key "
		    "go together", curhost->name);
	curhost = NULL;
}

/* The IANA ports of each kind (RFC 6120, XEP-0368, XEP-0114, XEP-0206). */
static const uint16_t default_ports[L_COUNT] = {
	5222, 5223, 5280, 5281, 5269, 5270, 5347
};

static int
listen_kind(const char *name)
{
	int	k;

	for (k = 0; k < L_COUNT; k++)
		if (strcmp(listen_kind_names[k], name) == 0)
			return k;
	return -1;
}

static int
addr_prep(const char *s, char *out, size_t len)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	if (inet_pton(AF_INET, s, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, len) == NULL ? -1 : 0;
	if (inet_pton(AF_INET6, s, &a6) == 1)
		return inet_ntop(AF_INET6, &a6, out, len) == NULL ? -1 : 0;
	return -1;
}

static void
listen_add(char *kind, char *addr, long long port)
{
	struct conf_listen	*l, *o;
	int			 k, ok = 1;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		conferr("%s", strerror(errno));
		goto done;
	}
	if ((k = listen_kind(kind)) == -1) {
		conferr("listen: unknown kind \"%s\" (one of: client "
		    "client-tls http https server server-tls component)", kind);
		k = L_CLIENT;
		ok = 0;
	}
	l->kind = k;
	if (port == -1)
		port = default_ports[k];
	if (port == 0)
		ok = 0;
	l->port = port;
	if (addr_prep(addr, l->addr, sizeof(l->addr)) == -1) {
		conferr("listen: \"%s\" is not a numeric IPv4 or IPv6 address",
		    addr);
		ok = 0;
	}
	/* Only a listen that is right in itself can clash with another. */
	TAILQ_FOREACH(o, &conf->listens, entry) {
		if (ok && o->port == l->port && strcmp(o->addr, l->addr) == 0) {
			conferr("listen: %s port %u is already used", l->addr,
			    l->port);
			break;
		}
	}
	TAILQ_INSERT_TAIL(&conf->listens, l, entry);
 done:
	free(kind);
	free(addr);
}

static void
daemon_begin(char *name)
{
	for (curdaemon = 0; curdaemon < D_COUNT; curdaemon++)
		if (strcmp(daemon_names[curdaemon], name) == 0)
			break;
	if (curdaemon == D_COUNT) {
		conferr("daemon: unknown daemon \"%s\" (one of: authd imd pepd "
		    "mucd s2sd c2sd)", name);
		curdaemon = -1;
	}
	free(name);
}

/* A user name as useradd(8) takes it, or a uid; never root. */
static int
user_ok(const char *s)
{
	unsigned long long	 uid;
	size_t			 len = strlen(s);
	char			*end;

	if (len > 0 && strspn(s, "0123456789") == len) {
		errno = 0;
		uid = strtoull(s, &end, 10);
		return errno == 0 && uid > 0 && uid < UINT32_MAX;
	}
	if (len == 0 || len > 32 || strcmp(s, "root") == 0)
		return 0;
	if (!islower((unsigned char)s[0]) && s[0] != '_')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static void
daemon_user(char *user)
{
	struct conf_daemon	*d;

	if (user == NULL || curdaemon == -1)
		goto done;
	d = &conf->daemons[curdaemon];
	if (!user_ok(user))
		conferr("user \"%s\": not a valid user name or uid (and not "
		    "root)", user);
	else if (strlen(user) >= sizeof(d->user))
		conferr("user \"%s\": too long", user);
	else {
		memcpy(d->user, user, strlen(user) + 1);
		d->user_set = 1;
		free(user_file[curdaemon]);
		user_file[curdaemon] = strdup(file->name);
		user_line[curdaemon] = file->lineno;
		user_seq[curdaemon] = ++nuser_seq;
	}
 done:
	free(user);
}

/*
 * Each daemon runs as its own user, or one compromised daemon could read
 * another's data.  A clash involves at least one user set in the file
 * (the defaults differ), so there is always a line to name.
 */
static void
check_users(void)
{
	int	a, b, at;

	for (a = 0; a < D_COUNT; a++) {
		for (b = a + 1; b < D_COUNT; b++) {
			if (strcmp(conf->daemons[a].user,
			    conf->daemons[b].user) != 0)
				continue;
			/* Name the later of the two settings. */
			at = user_seq[b] > user_seq[a] ? b : a;
			if (user_file[at] == NULL)
				continue;
			errors++;
			fprintf(errfile(), "%s:%d: daemons %s and %s both run "
			    "as user \"%s\"\n", user_file[at], user_line[at],
			    daemon_names[a], daemon_names[b],
			    conf->daemons[a].user);
		}
	}
}

static void
reset(void)
{
	struct macro	*m;
	int		 d;

	while ((file = TAILQ_LAST(&files, filelist)) != NULL)
		closefile(file);
	while ((m = TAILQ_FIRST(&macros)) != NULL) {
		TAILQ_REMOVE(&macros, m, entry);
		free(m->name);
		free(m->value);
		free(m);
	}
	for (d = 0; d < D_COUNT; d++) {
		free(user_file[d]);
		user_file[d] = NULL;
		user_seq[d] = 0;
	}
	nmacros = nfiles = lex_failed = nuser_seq = 0;
	curhost = NULL;
	curdaemon = -1;
}

struct conf *
conf_parse(const char *path)
{
	struct conf	*c;

	reset();
	errors = 0;
	if ((conf = conf_new()) == NULL) {
		fprintf(errfile(), "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (pushfile(path, 0) != NULL) {
		if (yyparse() != 0 && errors == 0)
			errors++;
		check_users();
	}
	reset();
	c = conf;
	conf = NULL;
	if (errors) {
		conf_free(c);
		return NULL;
	}
	return c;
}
