/*
 * authd.c - main() of the authentication daemon, its configuration and
 * its frame dispatcher.
 *
 * routerd starts authd with the link on fd 3; common/daemon.c runs the
 * life (HELLO, CONFIG, sandbox, READY) and calls the ops below.  The
 * LMDB environment is opened in pre_drop, before the chroot into that same
 * directory, and keeps working through its open fds and map afterwards.
 * Configuration keys (docs/auth.md): store-dir, host, scram-iterations,
 * auth-max-fails, auth-fail-window.  Invariants: no frame from the link
 * can reach fatal(); authd never holds a password beyond the one call
 * that derives or checks keys from it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "authd.h"
#include "daemon.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "store.h"

struct authd_conf authd_conf = {
	.iterations = AUTHD_ITER_DEFAULT,
	.max_fails = AUTHD_FAILS_DEFAULT,
	.fail_window = AUTHD_WINDOW_DEFAULT,
};
struct store	*authd_store;
uint8_t		 authd_secret[AUTHD_SECRET_LEN];

const struct authd_host *
authd_host_find(const char *name)
{
	int	i;

	for (i = 0; i < authd_conf.nhosts; i++)
		if (strcmp(authd_conf.hosts[i].name, name) == 0)
			return &authd_conf.hosts[i];
	return NULL;
}

/* "host" <domain> ["registration"]: what routerd sends (docs/frames.md). */
static int
conf_host(int argc, const char **argv)
{
	struct authd_host	*h;

	if (argc < 1 || argc > 2 || authd_conf.nhosts == AUTHD_MAX_HOSTS)
		return -1;
	h = &authd_conf.hosts[authd_conf.nhosts];
	if (jid_prep_domain(argv[0], strlen(argv[0]), h->name) == -1)
		return -1;
	h->registration = argc == 2;
	if (argc == 2 && strcmp(argv[1], "registration") != 0)
		return -1;
	authd_conf.nhosts++;
	return 0;
}

static int
conf_num(const char *v, unsigned long long lo, unsigned long long hi,
    unsigned long long *out)
{
	if (daemon_conf_u64(v, out) == -1 || *out < lo || *out > hi)
		return -1;
	return 0;
}

static int
authd_configure(const char *key, int argc, const char **argv)
{
	unsigned long long	v;

	if (strcmp(key, "host") == 0)
		return conf_host(argc, argv);
	if (argc != 1)
		return -1;
	if (strcmp(key, "store-dir") == 0) {
		if (argv[0][0] != '/' ||
		    strlen(argv[0]) >= sizeof(authd_conf.store_dir))
			return -1;
		strcpy(authd_conf.store_dir, argv[0]);
	} else if (strcmp(key, "scram-iterations") == 0) {
		if (conf_num(argv[0], AUTHD_ITER_MIN, AUTHD_ITER_MAX, &v) == -1)
			return -1;
		authd_conf.iterations = (uint32_t)v;
	} else if (strcmp(key, "auth-max-fails") == 0) {
		/* 0 turns the throttle off. */
		if (conf_num(argv[0], 0, 1000000, &v) == -1)
			return -1;
		authd_conf.max_fails = (unsigned)v;
	} else if (strcmp(key, "auth-fail-window") == 0) {
		if (conf_num(argv[0], 1, 7 * 86400, &v) == -1)
			return -1;
		authd_conf.fail_window = (unsigned)v;
	} else
		return -1;
	return 0;
}

static void
authd_pre_drop(void)
{
	unsigned char warm[32];

	if (sodium_init() == -1)
		fatalx("sodium_init failed");
	/* OpenSSL 3 reads its configuration and loads providers on first use;
	 * do it now, while files can still be opened (after the drop, seccomp
	 * kills an openat). */
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	PKCS5_PBKDF2_HMAC("x", 1, (const unsigned char *)"salt", 4, 1,
	    EVP_sha1(), 20, warm);
	PKCS5_PBKDF2_HMAC("x", 1, (const unsigned char *)"salt", 4, 1,
	    EVP_sha256(), 32, warm);
	if (authd_conf.store_dir[0] == '\0')
		fatalx("no store-dir configured");
	if ((authd_store = store_open(authd_conf.store_dir, daemon_store_max,
	    8)) == NULL)
		fatal("cannot open the account store in %s",
		    authd_conf.store_dir);
	if (authd_secret_load(authd_store, authd_secret) == -1)
		fatal("cannot read or create the account secret");
	if (authd_conf.nhosts == 0)
		log_warnx("no host configured: every login will fail");
}

static void
authd_post_drop(void)
{
	authd_sasl_init();
}

static void
authd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_SASL_START:
	case RF_SASL_STEP:
	case RF_SASL_ABORT:
		authd_sasl_dispatch(l, f);
		break;
	case RF_ACCT_ADD:
	case RF_ACCT_PASSWD:
	case RF_ACCT_DEL:
	case RF_ACCT_LIST:
		authd_account_dispatch(l, f);
		break;
	default:
		/* Something routerd should not have routed here: say so, go on. */
		if (!(f->hdr.flags & RFF_OPTIONAL))
			log_warnx("unexpected %s frame ignored",
			    frame_type_name(f->hdr.type));
		break;
	}
}

static void
authd_shutdown(void)
{
	authd_sasl_shutdown();
	store_close(authd_store);
	authd_store = NULL;
	sodium_memzero(authd_secret, sizeof(authd_secret));
}

static const struct daemon_ops authd_ops = {
	.name = "authd",
	.configure = authd_configure,
	.pre_drop = authd_pre_drop,
	.post_drop = authd_post_drop,
	.dispatch = authd_dispatch,
	.shutdown = authd_shutdown,
	.policy = &authd_policy,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &authd_ops);
}
