/*
 * c2sd.c - the client-stream daemon: main(), configuration, the frame
 * dispatcher and shutdown.
 *
 * routerd starts c2sd with its link on fd 3; common/daemon.c runs the
 * life (HELLO, CONFIG, pre_drop, sandbox, post_drop, READY, loop) and
 * calls the functions below.  Each frame type from routerd goes to the
 * subject file that owns it; this file knows no protocol detail.
 *
 * Certificates and keys arrive as CONFIG text and are turned into SSL_CTXs
 * in pre_drop, because after the sandbox there is no filesystem.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "sandbox.h"
#include "c2sd.h"

struct c2sd_conf c2sd_conf = {
	.max_stanza_size = 256 * 1024,
	.unauth_timeout = 30,
	.unauth_per_ip = 16,
	.max_connections = 10000,
	.rate_limit = 0,
	.max_resources = 16,
	.out_queue_max = 1024 * 1024,
	.out_queue_grace = 30,
	.sm_hibernate = 300,
	.sm_max_unacked = 1000,
	.resource_policy = RBIND_POLICY_REPLACE,
	.require_tls = 1,
	.channel_binding = 1,
	.keepalive = 60,
	.bosh_inactivity = 60,
};
struct hostlist c2sd_hosts = TAILQ_HEAD_INITIALIZER(c2sd_hosts);

static uint64_t next_id;
static uint64_t started_ms;

/* Ids start at the wall clock in microseconds, so that a restarted c2sd
 * never hands out the id of a session routerd gives back to it
 * (RF_SM_RESTORE) or still routes to. */
uint64_t
c2sd_new_id(void)
{
	struct timespec ts;

	if (next_id == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		next_id = (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
	}
	return next_id++;
}

void
c2sd_id_above(uint64_t id)
{
	if (next_id == 0)
		(void)c2sd_new_id();
	if (id >= next_id)
		next_id = id + 1;
}

uint64_t
c2sd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
c2sd_uptime(void)
{
	return started_ms ? (c2sd_now_ms() - started_ms) / 1000 : 0;
}

/* `nbytes` random bytes as lower-case hex into buf (2*nbytes+1 bytes). */
void
c2sd_random_hex(char *buf, size_t nbytes)
{
	uint8_t	raw[64];

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	randombytes_buf(raw, nbytes);
	sodium_bin2hex(buf, 2 * nbytes + 1, raw, nbytes);
}

static struct host *
host_get(const char *name)
{
	struct host *h;

	TAILQ_FOREACH(h, &c2sd_hosts, entry)
		if (strcmp(h->name, name) == 0)
			return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("calloc");
	if (jid_prep_domain(name, strlen(name), h->name) == -1)
		snprintf(h->name, sizeof(h->name), "%s", name);
	TAILQ_INSERT_TAIL(&c2sd_hosts, h, entry);
	return h;
}

static int
conf_host(const char *key, int argc, const char **argv)
{
	struct host *h;

	if (strcmp(key, "host") == 0 && argc == 1) {
		host_get(argv[0]);
		return 0;
	}
	/* "host" D "registration": XEP-0077 account creation is on */
	if (strcmp(key, "host") == 0 && argc == 2 &&
	    strcmp(argv[1], "registration") == 0) {
		host_get(argv[0])->registration = 1;
		return 0;
	}
	if (argc != 2)
		return -1;
	h = host_get(argv[0]);
	if (strcmp(key, "tls-cert") == 0) {
		free(h->cert_pem);
		if ((h->cert_pem = strdup(argv[1])) == NULL)
			fatal("strdup");
		return 0;
	}
	if (strcmp(key, "tls-key") == 0) {
		if (h->key_pem) {
			sodium_memzero(h->key_pem, strlen(h->key_pem));
			free(h->key_pem);
		}
		if ((h->key_pem = strdup(argv[1])) == NULL)
			fatal("strdup");
		/* Our copy of the CONFIG frame is the caller's; wipe what we
		 * can reach. */
		sodium_memzero((char *)argv[1], strlen(argv[1]));
		return 0;
	}
	return -1;
}

static const struct {
	const char		*key;
	unsigned long long	*val;
} numeric_opts[] = {
	{ "max-stanza-size",	&c2sd_conf.max_stanza_size },
	{ "unauth-timeout",	&c2sd_conf.unauth_timeout },
	{ "unauth-per-ip",	&c2sd_conf.unauth_per_ip },
	{ "max-connections",	&c2sd_conf.max_connections },
	{ "rate-limit",		&c2sd_conf.rate_limit },
	{ "max-resources",	&c2sd_conf.max_resources },
	{ "out-queue-max",	&c2sd_conf.out_queue_max },
	{ "out-queue-grace",	&c2sd_conf.out_queue_grace },
	{ "sm-hibernate",	&c2sd_conf.sm_hibernate },
	{ "sm-max-unacked",	&c2sd_conf.sm_max_unacked },
	{ "keepalive",		&c2sd_conf.keepalive },
	{ "bosh-inactivity",	&c2sd_conf.bosh_inactivity },
};

/* yes/no keys: routerd sends them as 1 or 0 */
static const struct {
	const char	*key;
	int		*val;
} bool_opts[] = {
	{ "require-tls",	&c2sd_conf.require_tls },
	{ "channel-binding",	&c2sd_conf.channel_binding },
};

int
c2sd_configure(const char *key, int argc, const char **argv)
{
	size_t	i;
	unsigned long long v;

	if (strcmp(key, "host") == 0 || strcmp(key, "tls-cert") == 0 ||
	    strcmp(key, "tls-key") == 0)
		return conf_host(key, argc, argv);
	if (strcmp(key, "web-root") == 0 || strcmp(key, "web-prefix") == 0)
		return static_configure(key, argc, argv);
	if (argc != 1)
		return -1;
	for (i = 0; i < sizeof(numeric_opts) / sizeof(numeric_opts[0]); i++) {
		if (strcmp(key, numeric_opts[i].key) != 0)
			continue;
		if (daemon_conf_u64(argv[0], numeric_opts[i].val) == -1)
			return -1;
		return 0;
	}
	for (i = 0; i < sizeof(bool_opts) / sizeof(bool_opts[0]); i++) {
		if (strcmp(key, bool_opts[i].key) != 0)
			continue;
		if (daemon_conf_u64(argv[0], &v) == -1 || v > 1)
			return -1;
		*bool_opts[i].val = (int)v;
		return 0;
	}
	if (strcmp(key, "cors-origin") == 0)
		return http_set_cors(argv[0]);
	if (strcmp(key, "resource-conflict") == 0) {
		if (strcmp(argv[0], "replace") == 0)
			c2sd_conf.resource_policy = RBIND_POLICY_REPLACE;
		else if (strcmp(argv[0], "refuse") == 0)
			c2sd_conf.resource_policy = RBIND_POLICY_REFUSE;
		else
			return -1;
		return 0;
	}
	return -1;
}

void
c2sd_config_fd(const char *name, int fd)
{
	conn_listen(name, fd);
}

/* Everything that needs files or one-time library setup happens here:
 * after sandbox_enter() there is no filesystem and no openssl.cnf. */
void
c2sd_pre_drop(void)
{
	struct host	*h;
	uint8_t		 b;

	/* glibc reads /etc/localtime on the first time conversion (log
	 * stamps); do it while there is a filesystem. */
	tzset();
	if (sodium_init() == -1)
		fatalx("sodium_init");
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OPENSSL_init_ssl");
	if (RAND_bytes(&b, 1) != 1)
		fatalx("RAND_bytes");
	if (TAILQ_EMPTY(&c2sd_hosts))
		log_warnx("no host configured: every stream gets host-unknown");
	TAILQ_FOREACH(h, &c2sd_hosts, entry) {
		if (tls_host_load(h) == -1)
			log_warnx("host %s: no usable certificate; STARTTLS "
			    "will not be offered", h->name);
	}
	static_load();	/* web-root files, before the filesystem goes */
}

void
c2sd_post_drop(void)
{
	started_ms = c2sd_now_ms();
	/* Acknowledge frames once handled (RF_ACK): if c2sd dies, routerd
	 * sends the messages it had not read yet to offline storage. */
	link_set_acks(daemon_link, 1);
	conn_start_listeners();
	log_info("accepting clients");
}

void
c2sd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_STANZA:
		session_routed_stanza(f);
		break;
	case RF_BOUNCE:
		session_bounce(f);
		break;
	case RF_SESSION_BOUND:
		session_bound(f);
		break;
	case RF_SESSION_KICK:
		session_kick(f);
		break;
	case RF_SM_RESTORE:
		sm_restore_frame(f);
		break;
	case RF_ACCT_RESULT:
		register_result(f);
		break;
	case RF_SASL_CHALLENGE:
	case RF_SASL_SUCCESS:
	case RF_SASL_FAILURE:
		sasl_frame(f);
		break;
	default:
		if (!(f->hdr.flags & RFF_OPTIONAL))
			log_warnx("unexpected frame %s from routerd",
			    frame_type_name(f->hdr.type));
		break;
	}
}

void
c2sd_shutdown(void)
{
	conn_stop_all();
	c2sd_spill_flush();
	log_info("shut down");
}

#ifndef C2SD_NO_MAIN	/* the unit test links everything else */
static const struct daemon_ops c2sd_ops = {
	.name = "c2sd",
	.configure = c2sd_configure,
	.config_fd = c2sd_config_fd,
	.pre_drop = c2sd_pre_drop,
	.post_drop = c2sd_post_drop,
	.dispatch = c2sd_dispatch,
	.shutdown = c2sd_shutdown,
	.policy = &c2sd_sandbox_policy,
	.caps = RCAP_ACK,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &c2sd_ops);
}
#endif
