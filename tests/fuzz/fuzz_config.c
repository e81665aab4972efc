/*
 * fuzz_config.c - libFuzzer target for routerd's config parser.
 *
 * Each input is written to a memfd (mode 0600, as conf_parse() refuses
 * files others can write) and parsed through /proc/self/fd/N, the same
 * path a real file takes: lexer, macros, grammar, error recovery, value
 * checks.  A parse that succeeds is printed and the printed text parsed
 * again, which must succeed: conf_print() may only write what the
 * grammar accepts.  Inputs that say `include` are skipped so that the
 * fuzzer does not wander the machine's files through globs; includes
 * are covered by tests/unit/test_config.c.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "routerd/config.h"	/* not the build root's config.h */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
write_fd(int fd, const void *buf, size_t len)
{
	if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static char *
print_conf(const struct conf *c, size_t *len)
{
	char	*buf = NULL;
	FILE	*f;

	if ((f = open_memstream(&buf, len)) == NULL)
		abort();
	conf_print(f, c, 1);
	fclose(f);
	return buf;
}

/* The printed form must parse, and print the same again. */
static void
reparse(int fd, const char *path, struct conf *c)
{
	struct conf	*again;
	char		*buf, *buf2;
	size_t		 len, len2;

	buf = print_conf(c, &len);
	if (write_fd(fd, buf, len) == 0) {
		if ((again = conf_parse(path)) == NULL)
			abort();
		buf2 = print_conf(again, &len2);
		if (len != len2 || memcmp(buf, buf2, len) != 0)
			abort();
		free(buf2);
		conf_free(again);
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 fd = -1;
	static char	 path[64];
	struct conf	*c;

	if (memmem(data, size, "include", 7) != NULL)
		return 0;
	if (fd == -1) {
		if ((fd = memfd_create("fuzz.conf", 0)) == -1 ||
		    fchmod(fd, 0600) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		conf_errfile = fopen("/dev/null", "w");
	}
	if (write_fd(fd, data, size) == -1)
		return 0;
	if ((c = conf_parse(path)) != NULL) {
		reparse(fd, path, c);
		conf_free(c);
	}
	return 0;
}
