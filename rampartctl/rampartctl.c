/*
 * rampartctl.c - the admin's command line: talks to routerd's control
 * socket with the frame protocol, one request and one answer per run.
 *
 * Passwords are read from the terminal without echo (or one line of stdin
 * when it is not a terminal), or generated and printed when -g is given;
 * they never appear in argv, where other users could read them.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "frame.h"
#include "link.h"

#define DEFAULT_SOCK	"/run/rampart/control.sock"
#define TIMEOUT_MS	30000

static const char *sock_path = DEFAULT_SOCK;
static int gen_password;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: rampartctl [-g] [-s socket] command [args]\n"
	    "commands:\n"
	    "  status                 daemons, pids, uptime, restarts, memory\n"
	    "  restart DAEMON         restart one daemon (c2sd, authd, ...)\n"
	    "  reload                 re-read the configuration\n"
	    "  stop                   stop the whole suite\n"
	    "  routes                 list bound sessions\n"
	    "  adduser USER@HOST      create an account (-g: generate a password)\n"
	    "  passwd USER@HOST       change a password\n"
	    "  deluser USER@HOST      delete an account\n"
	    "  users HOST             list the accounts of a host\n");
	exit(2);
}

static int
ctl_connect(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "rampartctl: socket path too long\n");
		exit(1);
	}
	strcpy(sun.sun_path, sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "rampartctl: %s: %s (is routerd running?)\n",
		    sock_path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void
read_password(char *buf, size_t len)
{
	struct termios	 t, saved;
	int		 tty = isatty(STDIN_FILENO);
	unsigned char	 rnd[12];
	size_t		 n;

	if (gen_password) {
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2base64(buf, len, rnd, sizeof(rnd),
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		printf("password: %s\n", buf);
		return;
	}
	if (tty) {
		fprintf(stderr, "password: ");
		tcgetattr(STDIN_FILENO, &saved);
		t = saved;
		t.c_lflag &= ~ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	if (fgets(buf, len, stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fprintf(stderr, "\n");
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "rampartctl: empty password\n");
		exit(1);
	}
}

/* "user@host" -> user, host. */
static void
split_account(char *arg, char **user, char **host)
{
	char *at = strrchr(arg, '@');

	if (at == NULL || at == arg || at[1] == '\0') {
		fprintf(stderr, "rampartctl: give the account as user@host\n");
		exit(2);
	}
	*at = '\0';
	*user = arg;
	*host = at + 1;
}

static struct fout *
account_request(int type, char *arg)
{
	struct fout	*f = fout_new(type, NULL, NULL);
	char		*user, *host, pw[1024];

	if (f == NULL)
		exit(1);
	if (type == RF_ACCT_LIST) {
		fout_put_str(f, arg);
		return f;
	}
	split_account(arg, &user, &host);
	fout_put_str(f, host);
	fout_put_str(f, user);
	if (type != RF_ACCT_DEL) {
		read_password(pw, sizeof(pw));
		fout_put_str(f, pw);
		sodium_memzero(pw, sizeof(pw));
	}
	return f;
}

static struct fout *
build(int argc, char *argv[])
{
	static const struct { const char *cmd; int type; int nargs; } cmds[] = {
		{ "status", RF_CTL_STATUS, 0 }, { "restart", RF_CTL_RESTART, 1 },
		{ "reload", RF_CTL_RELOAD, 0 }, { "stop", RF_CTL_STOP, 0 },
		{ "routes", RF_CTL_ROUTES, 0 }, { "adduser", RF_ACCT_ADD, 1 },
		{ "passwd", RF_ACCT_PASSWD, 1 }, { "deluser", RF_ACCT_DEL, 1 },
		{ "users", RF_ACCT_LIST, 1 }, { "debug", RF_DEBUG, -1 },
	};
	struct fout	*f;
	size_t		 i;
	int		 a;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].cmd) != 0)
			continue;
		if (cmds[i].nargs >= 0 && argc - 1 != cmds[i].nargs)
			usage();
		if (cmds[i].type >= RF_ACCT_ADD && cmds[i].type <= RF_ACCT_LIST)
			return account_request(cmds[i].type, argv[1]);
		if ((f = fout_new(cmds[i].type, NULL, NULL)) == NULL)
			exit(1);
		/* restart NAME; debug DAEMON ACTION [ARG] (test builds) */
		for (a = 1; a < argc; a++)
			fout_put_str(f, argv[a]);
		return f;
	}
	usage();
}

int
main(int argc, char *argv[])
{
	static uint8_t	 buf[1024 * 1024];
	struct frame	 fr;
	const char	*text = "";
	uint8_t		 ok = 0;
	int		 ch, fd;

	if (sodium_init() == -1)
		return 1;
	if (getenv("RAMPART_CONTROL"))
		sock_path = getenv("RAMPART_CONTROL");
	while ((ch = getopt(argc, argv, "gs:")) != -1) {
		switch (ch) {
		case 'g': gen_password = 1; break;
		case 's': sock_path = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	fd = ctl_connect();
	if (link_write_blocking(fd, build(argc, argv)) == -1 ||
	    link_read_blocking(fd, buf, sizeof(buf), &fr, TIMEOUT_MS) == -1) {
		fprintf(stderr, "rampartctl: no answer from routerd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (fr.hdr.type == RF_DEBUG)
		ok = 1;
	else if (frame_get_u8(&fr, &ok) == -1)
		ok = 0;
	if (frame_get_str(&fr, &text, NULL) == -1)
		text = "(malformed answer)";
	printf("%s%s", text, text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "");
	return ok ? 0 : 1;
}
