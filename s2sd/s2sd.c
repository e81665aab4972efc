/*
 * s2sd.c - main() of the federation daemon, its configuration and its
 * frame dispatcher.
 *
 * routerd starts s2sd with the link on fd 3; common/daemon.c runs the life
 * (HELLO, CONFIG, sandbox, READY) and calls the ops below.  s2sd announces
 * RCAP_S2S, so routerd sends it every stanza whose `to` domain is neither
 * hosted nor a service domain (docs/routing.md).  A stanza for a
 * configured component domain goes to that component's stream; any other
 * domain is federation: the route from the sender's domain to that domain
 * (s2sd_out.c) sends it or queues it while its stream is set up.
 *
 * Invariants: nothing in a frame or on a socket can reach fatal(); the
 * component secrets and TLS keys are never logged.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "s2sd.h"

struct s2sd_conf s2sd_conf = {
	.max_stanza_size = 256 * 1024,
	.unauth_timeout = 30,
	.idle_timeout = 600,
	.max_outbuf = S2SD_OUTBUF_DEFAULT,
	.require_tls = 1,
};

static struct s2s_host	 hosts[S2SD_MAX_HOSTS];
static int		 nhosts;
static char		*ca_pem;		/* "s2s-ca-file" text */
static char		*db_secret;		/* until pre_drop */

struct s2s_host *
host_find(const char *domain)
{
	int i;

	for (i = 0; i < nhosts; i++)
		if (strcmp(hosts[i].domain, domain) == 0)
			return &hosts[i];
	return NULL;
}

struct s2s_host *
host_first_tls(void)
{
	int i;

	for (i = 0; i < nhosts; i++)
		if (hosts[i].server_ctx != NULL)
			return &hosts[i];
	return NULL;
}

/* "host" domain [registration]; "tls-cert"/"tls-key" domain PEM. */
static int
conf_host(const char *key, int argc, const char **argv)
{
	struct s2s_host	*h;
	char		 norm[JID_PART_MAX + 1];
	char		**pem;

	if (argc < 1 || jid_prep_domain(argv[0], strlen(argv[0]), norm) == -1)
		return -1;
	if ((h = host_find(norm)) == NULL) {
		if (nhosts == S2SD_MAX_HOSTS)
			return -1;
		h = &hosts[nhosts++];
		memcpy(h->domain, norm, sizeof(h->domain));
	}
	if (strcmp(key, "host") == 0)
		return 0;
	if (argc != 2)
		return -1;
	pem = strcmp(key, "tls-cert") == 0 ? &h->cert_pem : &h->key_pem;
	if (*pem != NULL) {
		sodium_memzero(*pem, strlen(*pem));
		free(*pem);
	}
	return (*pem = strdup(argv[1])) == NULL ? -1 : 0;
}

static int
conf_string(char **dst, const char *v)
{
	if (*dst != NULL) {
		sodium_memzero(*dst, strlen(*dst));
		free(*dst);
	}
	return (*dst = strdup(v)) == NULL ? -1 : 0;
}

static int
conf_flag(int *dst, const char *v)
{
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return -1;
	*dst = v[0] == '1';
	return 0;
}

static int
conf_option(const char *key, const char *v)
{
	unsigned long long n;

	if (daemon_conf_u64(v, &n) == -1)
		return -1;
	if (strcmp(key, "max-stanza-size") == 0) {
		if (n < 1024 || n > FRAME_MAX_LIMIT)
			return -1;
		s2sd_conf.max_stanza_size = n;
	} else if (strcmp(key, "s2s-idle-timeout") == 0) {
		if (n == 0)
			return -1;
		s2sd_conf.idle_timeout = n;
	} else if (strcmp(key, "s2s-max-outbuf") == 0) {
		if (n < S2SD_OUTBUF_MIN || n > S2SD_OUTBUF_MAX)
			return -1;
		s2sd_conf.max_outbuf = (size_t)n;
	} else {
		if (n == 0)
			return -1;
		s2sd_conf.unauth_timeout = n;
	}
	return 0;
}

/*
 * Keys are those of docs/s2s.md.  routerd sends every key that concerns
 * s2sd, including some the federation part will use (hosts and their
 * certificates): those are accepted and ignored for now, and so is any
 * key this build does not know, so that routerd may send new keys first.
 */
static int
s2sd_configure(const char *key, int argc, const char **argv)
{
	if (strcmp(key, "max-stanza-size") == 0 ||
	    strcmp(key, "unauth-timeout") == 0 ||
	    strcmp(key, "s2s-idle-timeout") == 0 ||
	    strcmp(key, "s2s-max-outbuf") == 0)
		return argc == 1 ? conf_option(key, argv[0]) : -1;
	if (strcmp(key, "host") == 0 || strcmp(key, "tls-cert") == 0 ||
	    strcmp(key, "tls-key") == 0)
		return conf_host(key, argc, argv);
	if (strcmp(key, "s2s-ca-file") == 0)
		return argc == 1 ? conf_string(&ca_pem, argv[0]) : -1;
	if (strcmp(key, "dialback-secret") == 0)
		return argc == 1 && argv[0][0] != '\0' ?
		    conf_string(&db_secret, argv[0]) : -1;
	if (strcmp(key, "s2s-require-cert") == 0)
		return argc == 1 ? conf_flag(&s2sd_conf.require_cert,
		    argv[0]) : -1;
	if (strcmp(key, "s2s-require-tls") == 0)
		return argc == 1 ? conf_flag(&s2sd_conf.require_tls,
		    argv[0]) : -1;
	if (strcmp(key, "component") == 0) {
		/* "component" domain secret (XEP-0114) */
		if (argc != 2 || component_add(argv[0], argv[1]) == -1) {
			log_warnx("component %s: invalid or duplicate",
			    argc > 0 ? argv[0] : "(none)");
			return -1;
		}
		return 0;
	}
	log_debug("configuration key %s ignored", key);
	return 0;
}

static void
s2sd_config_fd(const char *name, int fd)
{
	conn_listen(name, fd);
}

/* Before the sandbox: libsodium's and OpenSSL's one-time setup, which may
 * open files (OpenSSL's configuration and providers) that the sandbox
 * would refuse afterwards. */
static void
s2sd_pre_drop(void)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;

	unsigned char	rnd[32];
	int		i;

	if (sodium_init() == -1)
		fatalx("sodium_init");
	if (EVP_Digest("", 0, md, &mdlen, EVP_sha1(), NULL) != 1)
		fatalx("OpenSSL has no SHA-1");
	/* XEP-0185: keys are keyed with SHA-256(secret); without a
	 * configured secret, a random one for this run. */
	if (db_secret != NULL) {
		crypto_hash_sha256(s2sd_conf.dialback_key,
		    (unsigned char *)db_secret, strlen(db_secret));
		sodium_memzero(db_secret, strlen(db_secret));
		free(db_secret);
		db_secret = NULL;
	} else {
		randombytes_buf(rnd, sizeof(rnd));
		crypto_hash_sha256(s2sd_conf.dialback_key, rnd, sizeof(rnd));
		sodium_memzero(rnd, sizeof(rnd));
	}
	tls_init(ca_pem);
	free(ca_pem);
	ca_pem = NULL;
	for (i = 0; i < nhosts; i++)
		if (tls_host_load(&hosts[i]) == -1)
			log_warnx("%s: no usable certificate; no TLS for it",
			    hosts[i].domain);
	if (dns_init() == -1)
		fatalx("cannot create the DNS resolver");
}

static void
s2sd_post_drop(void)
{
	conn_start_listeners();
}

static void
on_stanza(struct frame *f)
{
	struct s2s_component	*k;
	struct jid		 j, from;

	if (jid_parse(f->to, strlen(f->to), &j) == -1) {
		stanza_bounce(f, "jid-malformed");
		return;
	}
	if ((k = component_find(j.domain)) != NULL) {
		component_deliver(k, f);
		return;
	}
	if (jid_parse(f->from, strlen(f->from), &from) == -1) {
		stanza_bounce(f, "jid-malformed");
		return;
	}
	remote_send(f, from.domain, j.domain);
}

static void
s2sd_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_STANZA:
		on_stanza(f);
		break;
	case RF_BOUNCE:
		stanza_returned(f);
		break;
	default:
		log_debug("ignoring %s frame", frame_type_name(f->hdr.type));
		break;
	}
	if (f->fd != -1)
		close(f->fd);
}

static void
s2sd_shutdown(void)
{
	remote_shutdown();
	conn_shutdown_all();
	flow_shutdown();	/* the bounces above, and what waited */
}

static const struct daemon_ops s2sd_ops = {
	.name = "s2sd",
	.configure = s2sd_configure,
	.config_fd = s2sd_config_fd,
	.pre_drop = s2sd_pre_drop,
	.post_drop = s2sd_post_drop,
	.dispatch = s2sd_dispatch,
	.shutdown = s2sd_shutdown,
	.policy = &s2sd_policy,
	.caps = RCAP_S2S,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &s2sd_ops);
}
