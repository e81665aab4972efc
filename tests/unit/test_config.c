/*
 * test_config.c - unit tests of routerd's config parser (parse.y,
 * config.c).
 *
 * Three kinds of test: the option table and value parsing through the
 * API; small files written from strings here (macros, includes, error
 * recovery, file permissions); and the golden files in tests/config:
 * NAME.conf must print (as `routerd -nv` does) exactly NAME.ok and parse
 * back to the same text, bad-NAME.conf must fail with exactly the
 * messages in bad-NAME.err.  The golden files are found through
 * TEST_CONFIG_DIR (meson sets it) and are never written by this
 * program's tests; tests/config/update regenerates them on purpose by
 * running this program with --print or --errors.
 */

#include <sys/stat.h>

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "routerd/config.h"	/* not the build root's config.h */

static char	tmpdir[] = "/tmp/test_config.XXXXXX";

/*
 * Helpers
 */

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	fclose(f);
	return buf;
}

/* Write `text` to tmpdir/name with `mode`; return the path (static). */
static const char *
put_file(const char *name, const char *text, mode_t mode)
{
	static char	 path[PATH_MAX];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static char *
print_conf(const struct conf *c, int verbose)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	assert_non_null(f = open_memstream(&buf, &len));
	conf_print(f, c, verbose);
	fclose(f);
	return buf;
}

/* Parse `path`; the error messages, if any, go to *errs. */
static struct conf *
parse_capture(const char *path, char **errs)
{
	struct conf	*c;
	size_t		 len = 0;

	*errs = NULL;
	assert_non_null(conf_errfile = open_memstream(errs, &len));
	c = conf_parse(path);
	fclose(conf_errfile);
	conf_errfile = NULL;
	return c;
}

/* Parse a string as a file named test.conf in tmpdir; the messages
 * name it "test.conf" so that tests need not know tmpdir. */
static struct conf *
parse_text(const char *text, char **errs)
{
	struct conf	*c;
	char		*p, *q;
	size_t		 skip = strlen(tmpdir) + 1;

	c = parse_capture(put_file("test.conf", text, 0600), errs);
	for (p = *errs; (q = strstr(p, tmpdir)) != NULL; p = q)
		memmove(q, q + skip, strlen(q + skip) + 1);
	return c;
}

static int
opt(const char *name)
{
	int	i = conf_option_find(name);

	assert_true(i >= 0);
	return i;
}

/* conf_opt_parse of `value`, which must succeed. */
static unsigned long long
optgood(const char *name, const char *value)
{
	unsigned long long	 n = 0;
	char			 err[256];

	if (conf_opt_parse(opt(name), value, &n, err, sizeof(err)) == -1)
		fail_msg("%s %s: %s", name, value, err);
	return n;
}

/* conf_opt_parse of `value`, which must fail with `msg`. */
static void
optbad(const char *name, const char *value, const char *msg)
{
	unsigned long long	 n;
	char			 err[256];

	assert_int_equal(conf_opt_parse(opt(name), value, &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, msg);
}

/* Leave nothing behind in /tmp: the files the tests write. */
static void
cleanup(void)
{
	static const char *const names[] = {
		"test.conf", "inc.part", "main.conf", "open.conf", "nul.conf"
	};
	char	path[PATH_MAX];
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

/*
 * The option table and values
 */

static void
test_option_table(void **state)
{
	unsigned long long	 n;
	char			 err[256];
	size_t			 i;

	assert_true(conf_noptions >= 19);
	for (i = 0; i < conf_noptions; i++) {
		if (i > 0)
			assert_true(strcmp(conf_options[i - 1].name,
			    conf_options[i].name) < 0);
		assert_int_equal(conf_option_find(conf_options[i].name), i);
		/* Every default is a value the option accepts. */
		if (conf_opt_parse(i, conf_options[i].def, &n, err,
		    sizeof(err)) == -1)
			fail_msg("default of %s: %s", conf_options[i].name,
			    err);
		assert_non_null(conf_options[i].help);
		assert_true(conf_options[i].daemons != 0);
	}
	assert_int_equal(conf_option_find("no-such-option"), -1);
	assert_int_equal(conf_option_find(""), -1);
	assert_int_equal(conf_option_find("max-stanza-siz"), -1);
}

static void
test_defaults(void **state)
{
	struct conf	*c;
	int		 d;

	assert_non_null(c = conf_new());
	assert_string_equal(c->data_dir, "/var/lib/rampart");
	assert_string_equal(c->run_dir, "/run/rampart");
	assert_int_equal(c->log_level, 1);
	assert_int_equal(c->sandbox_debug, 0);
	assert_true(TAILQ_EMPTY(&c->hosts));
	assert_true(TAILQ_EMPTY(&c->listens));
	for (d = 0; d < D_COUNT; d++) {
		assert_true(c->daemons[d].enabled);
		assert_false(c->daemons[d].user_set);
	}
	assert_string_equal(daemon_names[D_C2SD], "c2sd");
	assert_string_equal(c->daemons[D_AUTHD].user, "rampart-auth");
	assert_string_equal(c->daemons[D_IMD].user, "rampart-im");
	assert_string_equal(c->daemons[D_PEPD].user, "rampart-pep");
	assert_string_equal(c->daemons[D_MUCD].user, "rampart-muc");
	assert_string_equal(c->daemons[D_S2SD].user, "rampart-s2s");
	assert_string_equal(c->daemons[D_C2SD].user, "rampart-c2s");
	assert_string_equal(listen_kind_names[L_CLIENT_TLS], "client-tls");
	assert_string_equal(listen_kind_names[L_COMPONENT], "component");
	assert_string_equal(conf_opt_value(c, opt("max-stanza-size")), "256K");
	assert_int_equal(conf_opt_number(c, opt("max-stanza-size")), 262144);
	assert_int_equal(conf_opt_number(c, opt("max-frame-size")), 1 << 20);
	assert_int_equal(conf_opt_number(c, opt("sm-hibernate")), 300);
	assert_int_equal(conf_opt_number(c, opt("require-tls")), 1);
	assert_int_equal(conf_opt_number(c, opt("resource-conflict")), 0);
	assert_int_equal(conf_opt_number(c, opt("scram-iterations")), 10000);
	assert_int_equal(conf_opt_number(c, opt("archive-retention")), 0);
	conf_free(c);
}

static void
test_sizes(void **state)
{
	assert_int_equal(optgood("max-stanza-size", "1K"), 1024);
	assert_int_equal(optgood("max-stanza-size", "1k"), 1024);
	assert_int_equal(optgood("max-stanza-size", "1024"), 1024);
	assert_int_equal(optgood("max-stanza-size", "16M"), 16 << 20);
	assert_int_equal(optgood("out-queue-max", "1G"), 1ULL << 30);
	assert_int_equal(optgood("rate-limit", "0"), 0);
	optbad("max-stanza-size", "1023",
	    "max-stanza-size: 1023 is out of range (1K..16M)");
	optbad("max-stanza-size", "16385K",
	    "max-stanza-size: 16385K is out of range (1K..16M)");
	optbad("max-stanza-size", "99999999999999999999",
	    "max-stanza-size: 99999999999999999999 is out of range (1K..16M)");
	optbad("max-stanza-size", "18014398509481984K",
	    "max-stanza-size: 18014398509481984K is out of range (1K..16M)");
	optbad("max-frame-size", "1MB", "max-frame-size: invalid value \"1MB\" "
	    "(expected a size such as 64K, 1M or 1G)");
	optbad("max-frame-size", "", "max-frame-size: invalid value \"\" "
	    "(expected a size such as 64K, 1M or 1G)");
	optbad("max-frame-size", "K", "max-frame-size: invalid value \"K\" "
	    "(expected a size such as 64K, 1M or 1G)");
	optbad("max-frame-size", " 1M", "max-frame-size: invalid value \" 1M\" "
	    "(expected a size such as 64K, 1M or 1G)");
}

static void
test_times(void **state)
{
	assert_int_equal(optgood("unauth-timeout", "30s"), 30);
	assert_int_equal(optgood("unauth-timeout", "30"), 30);
	assert_int_equal(optgood("unauth-timeout", "5m"), 300);
	assert_int_equal(optgood("unauth-timeout", "1h"), 3600);
	assert_int_equal(optgood("keepalive", "1d"), 86400);
	assert_int_equal(optgood("keepalive", "0"), 0);
	assert_int_equal(optgood("archive-retention", "3650d"), 3650 * 86400);
	optbad("unauth-timeout", "0s",
	    "unauth-timeout: 0s is out of range (1s..1h)");
	optbad("unauth-timeout", "61m",
	    "unauth-timeout: 61m is out of range (1s..1h)");
	optbad("unauth-timeout", "1w", "unauth-timeout: invalid value \"1w\" "
	    "(expected a time such as 30s, 5m or 1h)");
	optbad("unauth-timeout", "1.5h", "unauth-timeout: invalid value "
	    "\"1.5h\" (expected a time such as 30s, 5m or 1h)");
}

static void
test_numbers_bools_enums(void **state)
{
	assert_int_equal(optgood("scram-iterations", "4096"), 4096);
	assert_int_equal(optgood("scram-iterations", "1000000"), 1000000);
	optbad("scram-iterations", "4095",
	    "scram-iterations: 4095 is out of range (4096..1000000)");
	optbad("scram-iterations", "4K", "scram-iterations: invalid value "
	    "\"4K\" (expected a number)");
	optbad("scram-iterations", "-1", "scram-iterations: invalid value "
	    "\"-1\" (expected a number)");
	assert_int_equal(optgood("require-tls", "yes"), 1);
	assert_int_equal(optgood("require-tls", "no"), 0);
	optbad("require-tls", "YES",
	    "require-tls: invalid value \"YES\" (expected yes or no)");
	optbad("require-tls", "1",
	    "require-tls: invalid value \"1\" (expected yes or no)");
	assert_int_equal(optgood("resource-conflict", "replace"), 0);
	assert_int_equal(optgood("resource-conflict", "refuse"), 1);
	optbad("resource-conflict", "ref", "resource-conflict: invalid value "
	    "\"ref\" (one of: replace refuse)");
	optbad("resource-conflict", "", "resource-conflict: invalid value "
	    "\"\" (one of: replace refuse)");
}

static void
test_opt_set_normalizes(void **state)
{
	struct conf	*c;
	char		 err[256];
	int		 i = opt("max-stanza-size"), t = opt("unauth-timeout");

	assert_non_null(c = conf_new());
	assert_int_equal(conf_opt_set(c, i, "0512k", err, sizeof(err)), 0);
	assert_string_equal(conf_opt_value(c, i), "512K");
	assert_int_equal(conf_opt_number(c, i), 512 * 1024);
	assert_int_equal(conf_opt_set(c, t, "05M", err, sizeof(err)), 0);
	assert_string_equal(conf_opt_value(c, t), "5m");
	assert_int_equal(conf_opt_set(c, t, "0", err, sizeof(err)), -1);
	/* A refused value leaves the old one. */
	assert_string_equal(conf_opt_value(c, t), "5m");
	conf_free(c);
}

/*
 * Small files
 */

static void
test_macros(void **state)
{
	struct conf		*c;
	struct conf_host	*h;
	struct conf_listen	*l;
	char			*errs;

	c = parse_text("d = \"Example.NET\"\np = 5999\nq = yes\n"
	    "host $d { registration $q }\nlisten client on ::1 port $p\n"
	    "d = \"other.example\"\nhost $d { }\nmax-connections $p\n", &errs);
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_non_null(h = TAILQ_FIRST(&c->hosts));
	assert_string_equal(h->name, "example.net");
	assert_int_equal(h->registration, 1);
	assert_string_equal(TAILQ_NEXT(h, entry)->name, "other.example");
	assert_non_null(l = TAILQ_FIRST(&c->listens));
	assert_int_equal(l->port, 5999);
	assert_int_equal(l->kind, L_CLIENT);
	assert_string_equal(conf_opt_value(c, opt("max-connections")), "5999");
	free(errs);
	conf_free(c);

	/* A macro's value is one word, however many it holds. */
	c = parse_text("m = \"debug extra\"\nlog-level $m\n", &errs);
	assert_null(c);
	assert_string_equal(errs, "test.conf:2: log-level: invalid value "
	    "\"debug extra\" (one of: warn info debug)\n");
	free(errs);
}

static void
test_include(void **state)
{
	struct conf	*c;
	char		*errs, main_conf[PATH_MAX];

	put_file("inc.part", "host \"inc.example\" { }\nmax-resources 7",
	    0644);
	snprintf(main_conf, sizeof(main_conf), "%s",
	    put_file("main.conf", "include \"inc.part\"\nlog-level debug\n",
	    0600));
	c = parse_capture(main_conf, &errs);
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_string_equal(TAILQ_FIRST(&c->hosts)->name, "inc.example");
	assert_int_equal(conf_opt_number(c, opt("max-resources")), 7);
	assert_int_equal(c->log_level, 2);
	free(errs);
	conf_free(c);

	/* An included file that others may write is refused. */
	put_file("inc.part", "max-resources 7\n", 0664);
	c = parse_capture(main_conf, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "main.conf:1: include \""));
	assert_non_null(strstr(errs, "inc.part\": group or world writable, "
	    "refused\n"));
	free(errs);
}

static void
test_file_refused(void **state)
{
	struct conf	*c;
	char		*errs, *want;
	const char	*path;

	path = put_file("open.conf", "log-level debug\n", 0606);
	c = parse_capture(path, &errs);
	assert_null(c);
	assert_int_not_equal(asprintf(&want, "%s: group or world writable, "
	    "refused\n", path), -1);
	assert_string_equal(errs, want);
	free(want);
	free(errs);

	c = parse_capture(tmpdir, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ": not a regular file\n"));
	free(errs);

	c = parse_capture("/nonexistent/rampart.conf", &errs);
	assert_null(c);
	assert_string_equal(errs, "/nonexistent/rampart.conf: No such file "
	    "or directory\n");
	free(errs);
}

static void
test_errors_continue(void **state)
{
	struct conf	*c;
	char		*errs;

	/* Each bad line is reported; good lines between them still parse
	 * (the error on line 5 shows line 4 was understood). */
	c = parse_text("max-stanza-size 1G\nfoo 1\nlisten x on ::1\n"
	    "host \"a.example\" { }\nhost \"A.EXAMPLE\" { }\n"
	    "limits { keepalive 9d sm-max-unacked 1 }\n"
	    "daemon c2sd { user \"root\" }", &errs);
	assert_null(c);
	assert_string_equal(errs,
	    "test.conf:1: max-stanza-size: 1G is out of range (1K..16M)\n"
	    "test.conf:2: unknown keyword \"foo\"\n"
	    "test.conf:3: listen: unknown kind \"x\" (one of: client "
	    "client-tls http https server server-tls component)\n"
	    "test.conf:5: host \"A.EXAMPLE\": defined twice\n"
	    "test.conf:6: keepalive: 9d is out of range (0..1d)\n"
	    "test.conf:6: sm-max-unacked: 1 is out of range (10..100000)\n"
	    "test.conf:7: user \"root\": not a valid user name or uid (and "
	    "not root)\n");
	free(errs);

	/* A line continuation counts its line; NUL bytes are refused. */
	c = parse_text("log-level \\\n debug\nlog-level \"x\n", &errs);
	assert_null(c);
	assert_string_equal(errs, "test.conf:3: unterminated quoted string\n");
	free(errs);
}

static void
test_nul_byte(void **state)
{
	struct conf	*c;
	char		*errs;
	const char	*path;
	FILE		*f;

	path = put_file("nul.conf", "", 0600);
	assert_non_null(f = fopen(path, "w"));
	fwrite("log-level debug\n\0\nhost \"x\0y\" { }\n", 1, 32, f);
	fclose(f);
	c = parse_capture(path, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "nul.conf:2: unexpected byte 0x00\n"));
	assert_non_null(strstr(errs, "nul.conf:3: NUL byte in quoted string\n"));
	free(errs);
}

static void
test_values_in_struct(void **state)
{
	struct conf		*c;
	struct conf_listen	*l;
	char			*errs;

	c = parse_text("data-dir \"/srv/r\"\nrun-dir '/run/r'\n"
	    "log-level warn\nsandbox-debug yes\n"
	    "host \"B\xc3\x9c" "cher.example\" { certificate \"/c\" key \"/k\" }\n"
	    "listen https on 0:0::0:1\nlisten server on 192.0.2.7 port 1\n"
	    "daemon imd { user 61002 disable }\ndaemon s2sd { disable enable }\n",
	    &errs);
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_string_equal(c->data_dir, "/srv/r");
	assert_string_equal(c->run_dir, "/run/r");
	assert_int_equal(c->log_level, 0);
	assert_int_equal(c->sandbox_debug, 1);
	assert_string_equal(TAILQ_FIRST(&c->hosts)->name,
	    "b\xc3\xbc" "cher.example");
	assert_string_equal(TAILQ_FIRST(&c->hosts)->certificate, "/c");
	assert_string_equal(TAILQ_FIRST(&c->hosts)->key, "/k");
	l = TAILQ_FIRST(&c->listens);
	assert_int_equal(l->kind, L_HTTPS);
	assert_string_equal(l->addr, "::1");
	assert_int_equal(l->port, 5281);
	l = TAILQ_NEXT(l, entry);
	assert_int_equal(l->kind, L_SERVER);
	assert_string_equal(l->addr, "192.0.2.7");
	assert_int_equal(l->port, 1);
	assert_string_equal(c->daemons[D_IMD].user, "61002");
	assert_int_equal(c->daemons[D_IMD].user_set, 1);
	assert_int_equal(c->daemons[D_IMD].enabled, 0);
	assert_int_equal(c->daemons[D_S2SD].enabled, 1);
	assert_int_equal(c->daemons[D_C2SD].enabled, 1);
	free(errs);
	conf_free(c);
}

/* dialback-secret: kept, never printed, refused in a file others can
 * read (like a component secret). */
static void
test_dialback_secret(void **state)
{
	struct conf	*c;
	char		*errs, *out, *want;
	const char	*path;

	c = parse_text("dialback-secret \"k3y-of-the-domain\"\n", &errs);
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_string_equal(c->dialback_secret, "k3y-of-the-domain");
	out = print_conf(c, 1);
	assert_null(strstr(out, "k3y-of-the-domain"));
	assert_non_null(strstr(out, "\ndialback-secret \"(hidden)\"\n"));
	free(out);
	free(errs);
	conf_free(c);

	path = put_file("public.conf", "dialback-secret \"k3y\"\n", 0644);
	c = parse_capture(path, &errs);
	assert_null(c);
	assert_int_not_equal(asprintf(&want, "%s:1: dialback-secret in %s, "
	    "which others can read (chmod o-r)\n", path, path), -1);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
}

/* A conf_parse() after a failed one starts clean (reload). */
static void
test_reparse(void **state)
{
	struct conf	*c;
	char		*errs;

	c = parse_text("m = \"x.example\"\nhost $m {\n", &errs);
	assert_null(c);
	free(errs);
	c = parse_text("host $m { }\n", &errs);
	assert_null(c);
	assert_string_equal(errs, "test.conf:1: macro \"m\" is not defined\n");
	free(errs);
	c = parse_text("host \"x.example\" { }\n", &errs);
	assert_non_null(c);
	assert_string_equal(errs, "");
	free(errs);
	conf_free(c);
}

static void
test_default_config(void **state)
{
	struct conf		*c;
	struct conf_listen	*l;
	char			*errs;
	int			 n = 0;

	/* etc/rampart.conf, as installed. */
	c = parse_capture("../../etc/rampart.conf", &errs);
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_string_equal(TAILQ_FIRST(&c->hosts)->name, "localhost");
	TAILQ_FOREACH(l, &c->listens, entry) {
		assert_string_equal(l->addr, "127.0.0.1");
		n++;
	}
	assert_int_equal(n, 4);
	free(errs);
	conf_free(c);
}

/*
 * Golden files, one cmocka test per file
 */

static void
compare_file(const char *got, const char *conf, const char *ext)
{
	char	 path[PATH_MAX], *want;

	snprintf(path, sizeof(path), "%.*s%s",
	    (int)(strlen(conf) - strlen(".conf")), conf, ext);
	if ((want = slurp(path)) == NULL)
		fail_msg("%s: %s (run tests/config/update)", path,
		    strerror(errno));
	if (strcmp(got, want) != 0) {
		print_error("--- %s\n%s--- got\n%s", path, want, got);
		fail_msg("%s differs", path);
	}
	free(want);
}

/* Printed text must parse back to the same printed text. */
static void
round_trip(const char *printed, int verbose)
{
	struct conf	*c;
	char		*errs, *again;

	c = parse_text(printed, &errs);
	if (c == NULL)
		fail_msg("printed config does not parse:\n%s", errs);
	again = print_conf(c, verbose);
	assert_string_equal(again, printed);
	free(again);
	free(errs);
	conf_free(c);
}

static void
test_good_file(void **state)
{
	const char	*name = *state;
	struct conf	*c;
	char		*errs, *out;

	c = parse_capture(name, &errs);
	if (c == NULL)
		fail_msg("%s:\n%s", name, errs);
	assert_string_equal(errs, "");
	out = print_conf(c, 1);
	compare_file(out, name, ".ok");
	round_trip(out, 1);
	free(out);
	out = print_conf(c, 0);
	round_trip(out, 0);
	free(out);
	free(errs);
	conf_free(c);
}

static void
test_bad_file(void **state)
{
	const char	*name = *state;
	struct conf	*c;
	char		*errs;

	c = parse_capture(name, &errs);
	assert_null(c);
	assert_true(strlen(errs) > 0);
	compare_file(errs, name, ".err");
	free(errs);
}

static int
run_files(void)
{
	struct CMUnitTest	*tests;
	glob_t			 g;
	size_t			 i, bad = 0;
	int			 rc;

	if (glob("*.conf", 0, NULL, &g) != 0) {
		fprintf(stderr, "no *.conf in TEST_CONFIG_DIR\n");
		return 1;
	}
	tests = calloc(g.gl_pathc, sizeof(*tests));
	for (i = 0; i < g.gl_pathc; i++) {
		tests[i].name = g.gl_pathv[i];
		tests[i].initial_state = g.gl_pathv[i];
		if (strncmp(g.gl_pathv[i], "bad-", 4) == 0) {
			tests[i].test_func = test_bad_file;
			bad++;
		} else
			tests[i].test_func = test_good_file;
	}
	/* Guard against a test that silently finds nothing. */
	if (bad < 5 || g.gl_pathc - bad < 5) {
		fprintf(stderr, "too few golden files found\n");
		return 1;
	}
	rc = _cmocka_run_group_tests("config_files", tests, g.gl_pathc, NULL,
	    NULL);
	free(tests);
	globfree(&g);
	return rc;
}

/* For tests/config/update: print what the golden file should hold. */
static int
regenerate(const char *mode, const char *path)
{
	struct conf	*c;

	if (strcmp(mode, "--errors") == 0)
		conf_errfile = stdout;
	c = conf_parse(path);
	if (strcmp(mode, "--print") == 0 && c != NULL)
		conf_print(stdout, c, 1);
	conf_free(c);
	return strcmp(mode, "--print") == 0 ? c == NULL : c != NULL;
}

/*
 * conf_parse() refuses files that group or others may write, and git
 * keeps no mode but the x bit: a checkout made under umask 002 would
 * fail every golden test.  Take the write bits back as an admin would,
 * and the read bit of others from the golden files, some of which hold
 * secrets (refused in a file others can read).
 */
static void
fix_modes(void)
{
	static const char *const patterns[] = {
		"*.conf", "include.d/*", "../../etc/rampart.conf"
	};
	struct stat	 st;
	glob_t		 g;
	size_t		 i, j;

	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (glob(patterns[i], 0, NULL, &g) != 0)
			continue;
		for (j = 0; j < g.gl_pathc; j++)
			if (stat(g.gl_pathv[j], &st) == 0 &&
			    (st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) &&
			    i == 0)
				chmod(g.gl_pathv[j], st.st_mode & 0750);
			else if (stat(g.gl_pathv[j], &st) == 0 &&
			    (st.st_mode & (S_IWGRP | S_IWOTH)))
				chmod(g.gl_pathv[j],
				    st.st_mode & 0755 & ~(S_IWGRP | S_IWOTH));
		globfree(&g);
	}
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_numbers_bools_enums),
		cmocka_unit_test(test_opt_set_normalizes),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_file_refused),
		cmocka_unit_test(test_errors_continue),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_values_in_struct),
		cmocka_unit_test(test_dialback_secret),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_default_config),
	};
	const char	*dir;
	int		 rc;

	if ((dir = getenv("TEST_CONFIG_DIR")) == NULL)
		dir = "tests/config";
	if (chdir(dir) == -1) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 1;
	}
	umask(022);
	fix_modes();
	if (argc == 3)
		return regenerate(argv[1], argv[2]);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rc += run_files();
	cleanup();
	return rc;
}
