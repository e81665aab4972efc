/*
 * test_compliance.c - the compliance log files (common/compliance.c):
 * the directory is made 0700 and the log 0600, records are one JSON
 * line each with control characters escaped, a log past its size limit
 * is renamed to a dated name and a new one started with nothing lost,
 * and a host name that would leave the directory is refused.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compliance.h"

static char	dir[64];
static int	storefd = -1, dirfd_ = -1;

static int
setup(void **state)
{
	strcpy(dir, "/tmp/test_compliance.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	storefd = open(dir, O_RDONLY | O_DIRECTORY);
	dirfd_ = compliance_dir_open(storefd);
	return dirfd_ == -1 ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	close(dirfd_);
	close(storefd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
record(struct compliance_log *l, const char *body)
{
	struct xbuf	b;

	xbuf_init(&b);
	compliance_begin(&b);
	compliance_field(&b, "from", "a@example.org/x");
	compliance_field(&b, "id", NULL);
	compliance_field(&b, "body", body);
	compliance_end(&b);
	compliance_write(l, &b);
	xbuf_free(&b);
}

static char *
slurp(const char *name, size_t *len)
{
	static char	buf[65536];
	int		fd = openat(dirfd_, name, O_RDONLY);
	ssize_t		n;

	assert_true(fd != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void
test_record_and_modes(void **state)
{
	struct compliance_log	l;
	struct stat		st;
	size_t			len;
	char			*s;

	assert_int_equal(compliance_open(&l, dirfd_, "example.org", ".log"), 0);
	record(&l, "line\none \"q\" \\ \t\x01");
	s = slurp("example.org.log", &len);
	assert_non_null(strstr(s, "{\"time\":\""));
	assert_non_null(strstr(s, ",\"from\":\"a@example.org/x\",\"id\":null,"
	    "\"body\":\"line\\none \\\"q\\\" \\\\ \\t\\u0001\"}\n"));
	assert_int_equal(strchr(s, '\n') - s + 1, (long)len);
	assert_int_equal(fstatat(storefd, COMPLIANCE_DIR, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(fstatat(dirfd_, "example.org.log", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(l.size, (long long)len);
	close(l.fd);
}

static int
count_rotated(const char *prefix)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[128];
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, COMPLIANCE_DIR);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		    e->d_name[strlen(prefix)] == '.')
			n++;
	closedir(d);
	return n;
}

static void
test_rotation_keeps_every_line(void **state)
{
	struct compliance_log	l;
	size_t			len;
	char			*s;
	int			i;

	assert_int_equal(compliance_open(&l, dirfd_, "r.example", "-muc.log"),
	    0);
	l.rotate = 300;		/* a few records per file */
	for (i = 0; i < 3; i++)
		record(&l, "0123456789012345678901234567890123456789");
	assert_int_equal(count_rotated("r.example-muc.log"), 1);
	s = slurp("r.example-muc.log", &len);
	assert_int_equal(len, 0);	/* the new file, nothing yet */
	record(&l, "after");
	s = slurp("r.example-muc.log", &len);
	assert_non_null(strstr(s, "\"body\":\"after\""));
	assert_int_equal(l.size, (long long)len);
	close(l.fd);
}

static void
test_bad_names_refused(void **state)
{
	struct compliance_log	l;

	assert_int_equal(compliance_open(&l, dirfd_, "../x", ".log"), -1);
	assert_int_equal(compliance_open(&l, dirfd_, ".hidden", ".log"), -1);
	assert_int_equal(compliance_open(&l, dirfd_, "", ".log"), -1);
	assert_int_equal(l.fd, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_and_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_every_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_refused, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
