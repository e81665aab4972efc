/*
 * monitord_conf.c - monitord's options, from the command line
 * (`--key value`) and from a config file (`key value` lines, `#`
 * comments) named with `--config FILE`; both use the same keys, listed
 * once in the table below.  Later settings win, so flags after --config
 * override the file.
 *
 * Called once by main() before anything else.  Invariants: every string
 * option fits its buffer or is refused; every number is checked against
 * its bounds; the result names a JID, a password file and a CA file.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

struct mon_conf mon_conf = {
	.interval = 10,
	.proc_root = "/proc",
	.load_delta = 0.1,
	.cpu_delta = 5,
	.memory_delta = 32,
	.disk_delta = 1,
	.net_delta = 10240,
	.munin_delta = 1,
};

enum kind { K_STR, K_UINT, K_PORT, K_NUM, K_DISK, K_ALLOW, K_ACCESS, K_CONF };

static const struct opt {
	const char	*name;
	enum kind	 kind;
	void		*ptr;
	size_t		 size;	/* K_STR: buffer size; K_UINT: maximum */
	const char	*help;
} opts[] = {
	{ "jid", K_STR, mon_conf.jid, sizeof(mon_conf.jid),
	    "account to log in as (user@domain[/resource])" },
	{ "password-file", K_STR, mon_conf.password_file,
	    sizeof(mon_conf.password_file), "file holding the password (mode 600)" },
	{ "ca-file", K_STR, mon_conf.ca_file, sizeof(mon_conf.ca_file),
	    "PEM certificates to trust for the server" },
	{ "host", K_STR, mon_conf.host, sizeof(mon_conf.host),
	    "server address (default: the JID's domain, SRV)" },
	{ "port", K_PORT, &mon_conf.port, 0, "server port (default 5222)" },
	{ "interval", K_UINT, &mon_conf.interval, 86400,
	    "seconds between samples (default 10)" },
	{ "proc-root", K_STR, mon_conf.proc_root, sizeof(mon_conf.proc_root),
	    "where loadavg, meminfo, stat, net/dev are (default /proc)" },
	{ "munin-dir", K_STR, mon_conf.munin_dir, sizeof(mon_conf.munin_dir),
	    "directory of Munin plugin output files (field.value N)" },
	{ "disk", K_DISK, NULL, 0, "a mount point to watch (repeatable)" },
	{ "allow", K_ALLOW, NULL, 0,
	    "bare JID or @domain whose presence subscription is approved" },
	{ "access", K_ACCESS, NULL, 0, "node access model: presence or open" },
	{ "load-delta", K_NUM, &mon_conf.load_delta, 0,
	    "publish load when it moved this much (default 0.1)" },
	{ "cpu-delta", K_NUM, &mon_conf.cpu_delta, 0, "CPU % step (default 5)" },
	{ "memory-delta", K_NUM, &mon_conf.memory_delta, 0,
	    "available memory step in MiB (default 32)" },
	{ "disk-delta", K_NUM, &mon_conf.disk_delta, 0, "disk % step (default 1)" },
	{ "net-delta", K_NUM, &mon_conf.net_delta, 0,
	    "network B/s step (default 10240)" },
	{ "munin-delta", K_NUM, &mon_conf.munin_delta, 0,
	    "plugin value step (default 1)" },
	{ "alert-load", K_NUM, &mon_conf.alert_load, 0,
	    "alert when load is above this (0 = off)" },
	{ "alert-memory", K_NUM, &mon_conf.alert_memory, 0,
	    "alert when available MiB is below this (0 = off)" },
	{ "alert-cpu", K_NUM, &mon_conf.alert_cpu, 0,
	    "alert when CPU % is above this (0 = off)" },
	{ "alert-disk", K_NUM, &mon_conf.alert_disk, 0,
	    "alert when a disk's used % is above this (0 = off)" },
	{ "config", K_CONF, NULL, 0, "read options from FILE" },
};
#define NOPTS	(sizeof(opts) / sizeof(opts[0]))

static int conf_file(const char *path, int depth);

static void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: monitord [-v] [--key value ...]\n");
	for (i = 0; i < NOPTS; i++)
		fprintf(stderr, "  --%-14s %s\n", opts[i].name, opts[i].help);
}

static int
set_uint(const struct opt *o, const char *v, unsigned long max,
    unsigned long *out)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n > max ||
	    (o->kind == K_PORT && n == 0) ||
	    (o->kind == K_UINT && n == 0)) {
		fprintf(stderr, "monitord: %s: bad value \"%s\"\n", o->name, v);
		return -1;
	}
	*out = n;
	return 0;
}

static int
set_str(const struct opt *o, char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size) {
		fprintf(stderr, "monitord: %s: too long\n", o->name);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
set_list(const struct opt *o, void *base, size_t each, int *n, int max,
    const char *v)
{
	if (*n >= max) {
		fprintf(stderr, "monitord: %s: at most %d\n", o->name, max);
		return -1;
	}
	if (set_str(o, (char *)base + each * (size_t)*n, each, v) == -1)
		return -1;
	(*n)++;
	return 0;
}

static int
set(const struct opt *o, const char *v, int depth)
{
	unsigned long	 n;
	char		*end;
	double		 d;

	switch (o->kind) {
	case K_STR:
		return set_str(o, o->ptr, o->size, v);
	case K_PORT:
		if (set_uint(o, v, 65535, &n) == -1)
			return -1;
		*(unsigned short *)o->ptr = (unsigned short)n;
		return 0;
	case K_UINT:
		if (set_uint(o, v, o->size, &n) == -1)
			return -1;
		*(unsigned *)o->ptr = (unsigned)n;
		return 0;
	case K_NUM:
		d = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || !(d >= 0 && d < 1e15)) {
			fprintf(stderr, "monitord: %s: bad number \"%s\"\n",
			    o->name, v);
			return -1;
		}
		*(double *)o->ptr = d;
		return 0;
	case K_DISK:
		return set_list(o, mon_conf.disks, sizeof(mon_conf.disks[0]),
		    &mon_conf.ndisks, MON_MAX_DISKS, v);
	case K_ALLOW:
		return set_list(o, mon_conf.allow, sizeof(mon_conf.allow[0]),
		    &mon_conf.nallow, MON_MAX_ALLOW, v);
	case K_ACCESS:
		if (strcmp(v, "presence") != 0 && strcmp(v, "open") != 0) {
			fprintf(stderr, "monitord: access: presence or open\n");
			return -1;
		}
		mon_conf.open_access = strcmp(v, "open") == 0;
		return 0;
	case K_CONF:
		return conf_file(v, depth + 1);
	}
	return -1;
}

static const struct opt *
find(const char *name)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

/* One "key value" line of a config file (already without comment). */
static int
conf_line(const char *path, int lineno, char *line, int depth)
{
	const struct opt *o;
	char		*key, *val, *e;

	key = line + strspn(line, " \t");
	if (*key == '\0')
		return 0;
	val = key + strcspn(key, " \t");
	if (*val != '\0')
		*val++ = '\0';
	val += strspn(val, " \t");
	for (e = val + strlen(val); e > val && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	if ((o = find(key)) == NULL || *val == '\0') {
		fprintf(stderr, "monitord: %s:%d: %s \"%s\"\n", path, lineno,
		    o == NULL ? "unknown key" : "no value for", key);
		return -1;
	}
	return set(o, val, depth);
}

static int
conf_file(const char *path, int depth)
{
	FILE	*f;
	char	 line[4096];
	int	 lineno = 0, rc = 0;

	if (depth > 4) {
		fprintf(stderr, "monitord: %s: config files nest too deep\n",
		    path);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "monitord: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "#\r\n")] = '\0';
		if (conf_line(path, lineno, line, depth) == -1)
			rc = -1;
	}
	fclose(f);
	return rc;
}

int
mon_conf_args(int argc, char *argv[])
{
	const struct opt *o;
	const char	*arg, *val;
	char		 name[64];
	size_t		 len;
	int		 i;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "-v") == 0) {
			mon_conf.verbose++;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			goto bad;
		arg += 2;
		len = strcspn(arg, "=");
		if (len >= sizeof(name))
			goto bad;
		memcpy(name, arg, len);
		name[len] = '\0';
		if ((o = find(name)) == NULL)
			goto bad;
		if (arg[len] == '=')
			val = arg + len + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			goto bad;
		if (set(o, val, 0) == -1)
			return -1;
	}
	if (mon_conf.jid[0] == '\0' || mon_conf.password_file[0] == '\0') {
		fprintf(stderr, "monitord: jid and password-file are needed\n");
		usage();
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "monitord: bad argument \"%s\"\n", argv[i]);
	usage();
	return -1;
}
