/*
 * monitord_proc.c - the readings: /proc (or --proc-root, so a test can
 * feed fixed files), statvfs of the configured mount points, and the
 * output files of Munin-style plugins.
 *
 * monitord.c calls mon_sample() once per interval.  CPU and network are
 * rates, computed from the difference with the previous call, so they
 * appear from the second sample on.  Every file is read into a bounded
 * buffer and parsed with strtod/strtoull: a missing or malformed file
 * only drops that metric from this sample (logged once per change).
 */
#include <sys/types.h>
#include <sys/statvfs.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monitord.h"

#define READ_MAX	(64 * 1024)	/* largest file we look at */
#define MUNIN_FILES	16		/* plugin output files per sample */

/* The previous counters, for the rates. */
static struct {
	int		 have;
	unsigned long long busy, total;
} cpu_prev;
static struct {
	int		 have;
	unsigned long long rx, tx;
	double		 t;
} net_prev;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads `name` under `dir` into buf (NUL-terminated); -1 on error. */
static int
read_file(const char *dir, const char *name, char *buf, size_t size)
{
	char	 path[4352];
	ssize_t	 n;
	size_t	 have = 0;
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	while (have < size - 1 &&
	    (n = read(fd, buf + have, size - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	buf[have] = '\0';
	return 0;
}

static struct mon_value *
add(struct mon_value *out, int *n, int max, const char *name, double v,
    double vmax, const char *unit, double delta)
{
	struct mon_value *m;

	if (*n >= max)
		return NULL;
	m = &out[(*n)++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->value = v;
	m->max = vmax;
	m->unit = unit;
	m->delta = delta;
	return m;
}

static void
read_load(struct mon_value *out, int *n, int max)
{
	char	 buf[256], *end;
	double	 v;

	if (read_file(mon_conf.proc_root, "loadavg", buf, sizeof(buf)) == -1)
		return;
	v = strtod(buf, &end);
	if (end == buf || v < 0)
		return;
	add(out, n, max, "load", v, 0, "", mon_conf.load_delta);
}

/* A "Key:   123 kB" line of /proc/meminfo, in kB; -1 if absent. */
static double
meminfo_kb(const char *buf, const char *key)
{
	const char	*p = buf;
	size_t		 klen = strlen(key);
	char		*end;
	double		 v;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			v = strtod(p + klen + 1, &end);
			return end == p + klen + 1 || v < 0 ? -1 : v;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

static void
read_memory(struct mon_value *out, int *n, int max)
{
	static char	 buf[8192];
	double		 total, avail;

	if (read_file(mon_conf.proc_root, "meminfo", buf, sizeof(buf)) == -1)
		return;
	total = meminfo_kb(buf, "MemTotal");
	avail = meminfo_kb(buf, "MemAvailable");
	if (total <= 0 || avail < 0)
		return;
	/* MiB available: what an admin asks ("is memory running out?") */
	add(out, n, max, "memory", avail / 1024, total / 1024, "MiB",
	    mon_conf.memory_delta);
}

/* The aggregate "cpu" line of /proc/stat (proc(5)): busy % since the
 * previous sample; idle and iowait count as not busy. */
static void
read_cpu(struct mon_value *out, int *n, int max)
{
	static char		 buf[READ_MAX];
	unsigned long long	 f[10] = { 0 }, total = 0, busy;
	char			*p, *end;
	int			 i;

	if (read_file(mon_conf.proc_root, "stat", buf, sizeof(buf)) == -1 ||
	    strncmp(buf, "cpu ", 4) != 0)
		return;
	for (p = buf + 4, i = 0; i < 10; i++, p = end) {
		f[i] = strtoull(p, &end, 10);
		if (end == p)
			break;
		if (i < 8)	/* guest time is already in user */
			total += f[i];
	}
	if (i < 4)
		return;
	busy = total - f[3] - f[4];
	if (cpu_prev.have && total > cpu_prev.total && busy >= cpu_prev.busy)
		add(out, n, max, "cpu", 100.0 * (double)(busy - cpu_prev.busy) /
		    (double)(total - cpu_prev.total), 100, "%",
		    mon_conf.cpu_delta);
	cpu_prev.have = 1;
	cpu_prev.busy = busy;
	cpu_prev.total = total;
}

/* /proc/net/dev: bytes received and sent by every interface but lo,
 * as bytes per second since the previous sample. */
static void
read_net(struct mon_value *out, int *n, int max)
{
	static char		 buf[READ_MAX];
	unsigned long long	 rx = 0, tx = 0, v[9];
	char			*line, *p, *end, *save = NULL;
	double			 t = now_s(), dt;
	int			 i, lineno = 0;

	if (read_file(mon_conf.proc_root, "net/dev", buf, sizeof(buf)) == -1)
		return;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (++lineno <= 2 || (p = strchr(line, ':')) == NULL)
			continue;	/* two header lines */
		while (isspace((unsigned char)*line))
			line++;
		if (strncmp(line, "lo:", 3) == 0)
			continue;
		for (p++, i = 0; i < 9; i++, p = end) {
			v[i] = strtoull(p, &end, 10);
			if (end == p)
				break;
		}
		if (i < 9)
			continue;
		rx += v[0];
		tx += v[8];
	}
	dt = t - net_prev.t;
	if (net_prev.have && dt > 0.1 && rx >= net_prev.rx && tx >= net_prev.tx) {
		add(out, n, max, "net-rx", (double)(rx - net_prev.rx) / dt, 0,
		    "B/s", mon_conf.net_delta);
		add(out, n, max, "net-tx", (double)(tx - net_prev.tx) / dt, 0,
		    "B/s", mon_conf.net_delta);
	}
	net_prev.have = 1;
	net_prev.rx = rx;
	net_prev.tx = tx;
	net_prev.t = t;
}

/* Used % of each configured mount point, as df(1) counts it (blocks
 * reserved for root are not available to users). */
static void
read_disks(struct mon_value *out, int *n, int max)
{
	struct statvfs	 sv;
	char		 name[MON_NAME_MAX];
	double		 used, avail;
	int		 i;

	for (i = 0; i < mon_conf.ndisks; i++) {
		if (statvfs(mon_conf.disks[i], &sv) == -1) {
			log_debug("statvfs %s: %s", mon_conf.disks[i],
			    strerror(errno));
			continue;
		}
		used = (double)(sv.f_blocks - sv.f_bfree);
		avail = (double)sv.f_bavail;
		if (used + avail <= 0)
			continue;
		/* A mount point too long for a node name is skipped. */
		if ((size_t)snprintf(name, sizeof(name), "disk:%s",
		    mon_conf.disks[i]) >= sizeof(name))
			continue;
		add(out, n, max, name, 100.0 * used / (used + avail), 100, "%",
		    mon_conf.disk_delta);
	}
}

/* Plugin names and fields become node names: keep them to a safe set. */
static int
munin_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 24)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* One plugin's saved output: "field.value N" lines (Munin's protocol). */
static void
read_munin_file(const char *file, struct mon_value *out, int *n, int max)
{
	static char	 buf[READ_MAX];
	char		 name[MON_NAME_MAX], *line, *dot, *end, *save = NULL;
	double		 v;

	if (read_file(mon_conf.munin_dir, file, buf, sizeof(buf)) == -1)
		return;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((dot = strstr(line, ".value ")) == NULL ||
		    !munin_name_ok(line, (size_t)(dot - line)))
			continue;
		v = strtod(dot + 7, &end);
		if (end == dot + 7)
			continue;	/* "U": unknown */
		snprintf(name, sizeof(name), "munin:%s.%.*s", file,
		    (int)(dot - line), line);
		add(out, n, max, name, v, 0, "", mon_conf.munin_delta);
	}
}

static void
read_munin(struct mon_value *out, int *n, int max)
{
	DIR		*d;
	struct dirent	*de;
	int		 files = 0;

	if (mon_conf.munin_dir[0] == '\0' ||
	    (d = opendir(mon_conf.munin_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && files < MUNIN_FILES) {
		if (de->d_type != DT_REG ||
		    !munin_name_ok(de->d_name, strlen(de->d_name)))
			continue;
		files++;
		read_munin_file(de->d_name, out, n, max);
	}
	closedir(d);
}

int
mon_sample(struct mon_value *out, int max)
{
	int n = 0;

	read_load(out, &n, max);
	read_memory(out, &n, max);
	read_cpu(out, &n, max);
	read_net(out, &n, max);
	read_disks(out, &n, max);
	read_munin(out, &n, max);
	return n;
}
