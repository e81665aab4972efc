/*
 * c2sd_static.c - a few static files (the web/monitor page) served on the
 * HTTP listeners (docs/monitor.md, docs/web.md).
 *
 * routerd passes `web-root` (a directory, "" = off) and `web-prefix` (the
 * URL path they appear under, default /monitor/).  c2sd has no
 * filesystem after sandbox_enter(), so static_load() reads the whole tree
 * into memory in pre_drop; c2sd_http.c's dispatch() then asks
 * static_serve() before its 404.
 *
 * Invariants: only regular files and directories are loaded, opened with
 * O_NOFOLLOW relative to their parent's descriptor, so no symlink is
 * followed and nothing outside web-root is reached; names are limited to
 * [A-Za-z0-9._-] without a leading dot (so no "..", no hidden files); at
 * most STATIC_MAX_FILES files, STATIC_MAX_FILE bytes each and
 * STATIC_MAX_TOTAL in all; files of an unknown type are not served.  A
 * request path is compared byte for byte with the loaded names: nothing
 * is decoded, so "%2e%2e" is just a name that does not exist.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "c2sd.h"

#define STATIC_MAX_FILES	64
#define STATIC_MAX_FILE		(512 * 1024)
#define STATIC_MAX_TOTAL	(4 * 1024 * 1024)
#define STATIC_MAX_DEPTH	3
#define STATIC_NAME_MAX		128	/* relative path, bytes */

/* The page loads only its own files and talks only to its own origin
 * (WebSocket or BOSH on the same listener); nothing may frame it. */
#define STATIC_HEADERS \
	"X-Content-Type-Options: nosniff\r\n" \
	"Content-Security-Policy: default-src 'self'; " \
	"connect-src 'self' ws: wss:; img-src 'self' data:; " \
	"object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'\r\n" \
	"Referrer-Policy: no-referrer\r\n" \
	"Cache-Control: no-cache\r\n"

struct sfile {
	char		 name[STATIC_NAME_MAX];	/* "vendor/x.js" */
	const char	*ctype;
	char		*data;
	size_t		 len;
};

static char		 web_root[PATH_MAX];
static char		 web_prefix[STATIC_NAME_MAX] = "/monitor/";
static struct sfile	 files[STATIC_MAX_FILES];
static size_t		 nfiles, total;

static const struct {
	const char	*ext;
	const char	*ctype;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
};

int
static_configure(const char *key, int argc, const char **argv)
{
	size_t len;

	if (argc != 1)
		return -1;
	len = strlen(argv[0]);
	if (strcmp(key, "web-root") == 0) {
		if (len >= sizeof(web_root))
			return -1;
		memcpy(web_root, argv[0], len + 1);
		return 0;
	}
	if (strcmp(key, "web-prefix") == 0) {
		/* "/x/": starts and ends with a slash */
		if (len < 2 || len >= sizeof(web_prefix) || argv[0][0] != '/' ||
		    argv[0][len - 1] != '/')
			return -1;
		memcpy(web_prefix, argv[0], len + 1);
		return 0;
	}
	return -1;
}

static const char *
ctype_of(const char *name)
{
	size_t	i, n = strlen(name), e;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		e = strlen(types[i].ext);
		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].ctype;
	}
	return NULL;
}

static int
name_ok(const char *s)
{
	if (*s == '.' || *s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("._-", *s)))
			return 0;
	return 1;
}

/* Reads one regular file `fd` (already open) as `rel`; closes fd. */
static void
load_file(int fd, const char *rel)
{
	struct sfile	*f;
	struct stat	 st;
	ssize_t		 n;
	size_t		 have = 0;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > STATIC_MAX_FILE || nfiles == STATIC_MAX_FILES ||
	    total + (size_t)st.st_size > STATIC_MAX_TOTAL) {
		log_warnx("web-root: %s: skipped (not a regular file or over "
		    "the limits)", rel);
		close(fd);
		return;
	}
	f = &files[nfiles];
	if ((f->data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		fatal("malloc");
	while (have < (size_t)st.st_size &&
	    (n = read(fd, f->data + have, (size_t)st.st_size - have)) > 0)
		have += (size_t)n;
	close(fd);
	snprintf(f->name, sizeof(f->name), "%s", rel);
	f->ctype = ctype_of(rel);
	f->len = have;
	total += have;
	nfiles++;
}

/* Loads directory `dfd` (closed here) whose path below web-root is
 * `rel` ("" at the top). */
static void
load_dir(int dfd, const char *rel, int depth)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 sub[STATIC_NAME_MAX];
	int		 fd;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!name_ok(de->d_name) || (size_t)snprintf(sub, sizeof(sub),
		    "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= sizeof(sub))
			continue;
		/* O_NOFOLLOW: a symlink fails with ELOOP and is skipped */
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
		if (fd == -1)
			continue;
		if (fstat(fd, &st) == -1)
			close(fd);
		else if (S_ISDIR(st.st_mode) && depth < STATIC_MAX_DEPTH)
			load_dir(fd, sub, depth + 1);
		else if (S_ISREG(st.st_mode) && ctype_of(sub) != NULL)
			load_file(fd, sub);
		else
			close(fd);
	}
	closedir(d);
}

/* pre_drop: read web-root into memory (nothing when it is ""). */
void
static_load(void)
{
	int fd;

	static_free();
	if (web_root[0] == '\0')
		return;
	if ((fd = open(web_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("web-root %s", web_root);
		return;
	}
	load_dir(fd, "", 0);
	log_info("web-root %s: %zu files, %zu bytes under %s", web_root,
	    nfiles, total, web_prefix);
}

void
static_free(void)
{
	size_t i;

	for (i = 0; i < nfiles; i++)
		free(files[i].data);
	nfiles = total = 0;
}

static const struct sfile *
lookup(const char *rel)
{
	size_t i;

	if (*rel == '\0')
		rel = "index.html";
	for (i = 0; i < nfiles; i++)
		if (strcmp(files[i].name, rel) == 0)
			return &files[i];
	return NULL;
}

/*
 * Answers a GET or HEAD for a loaded file under web-prefix; -1 (nothing
 * sent) for anything else, so dispatch() goes on to its 404.
 */
int
static_serve(struct conn *c, const struct http_request *r)
{
	const struct sfile	*f;
	size_t			 plen = strlen(web_prefix);
	int			 head = strcmp(r->method, "HEAD") == 0;
	char			 hdr[1024];
	int			 n;

	if (nfiles == 0 || (!head && strcmp(r->method, "GET") != 0) ||
	    strncmp(r->path, web_prefix, plen) != 0 ||
	    (f = lookup(r->path + plen)) == NULL)
		return -1;
	n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nServer: rampart\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n" STATIC_HEADERS "\r\n",
	    f->ctype, f->len);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	conn_write_raw(c, hdr, (size_t)n);
	if (!head && f->len > 0 && !c->dead)
		conn_write_raw(c, f->data, f->len);
	http_request_done(c);
	return 0;
}
