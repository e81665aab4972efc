/*
 * lg.h - shared declarations of the load generator (bench/loadgen).
 *
 * The load generator is a single-threaded epoll program that opens many
 * XMPP client connections to one server on loopback.  lg_conn.c owns the
 * connections (TCP, TLS, the XML reader and the login state machine up to
 * initial presence); lg_scram.c computes SASL SCRAM proofs with a cache of
 * SaltedPassword; lg_stats.c keeps latency histograms and CPU accounting;
 * loadgen.c holds main() and the scenarios, which only see finished
 * stanzas through the callbacks below.  Nothing here is part of the
 * server: it is a benchmark tool and trusts the server it measures only
 * as far as not crashing on bad input (every length is still checked).
 */
#ifndef LG_H
#define LG_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <expat.h>
#include <openssl/ssl.h>

#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"
#define NS_BENCH	"urn:xmpp:rampart-bench:0"	/* the PEP node */

#define LG_TEXT_MAX	2048	/* captured character data per stanza */
#define LG_OUT_MAX	(4u << 20)	/* per-connection output cap */
#define LG_IN_CHUNK	16384

enum lg_mech { MECH_SCRAM_SHA256, MECH_SCRAM_SHA1, MECH_PLAIN };

/* What the whole run shares: where to connect and how to log in. */
struct lg_cfg {
	const char	*host;
	const char	*port;
	const char	*domain;
	const char	*password;
	const char	*prefix;	/* account names are prefix + number */
	const char	*resource;
	enum lg_mech	 mech;
	int		 direct_tls;	/* XEP-0368 instead of STARTTLS */
	int		 nsrc;		/* -b: source addresses 127.0.0.2.. */
	int		 resource_per_session;	/* idle -a: resource + index */
	int		 want_roster;	/* roster get after bind */
	int		 want_presence;	/* initial presence after roster */
	int		 register_only;	/* XEP-0077 registration, no login */
	SSL_CTX		*ssl_ctx;
	/* disco#info answer (identity and features, XEP-0030), or NULL to
	 * refuse disco#info like any other request (the pep scenario sets
	 * it for XEP-0115 caps and XEP-0163 +notify). */
	const char	*disco_info;
};

enum lg_state {
	ST_CONNECTING, ST_FEAT_TLS, ST_PROCEED, ST_TLS, ST_FEAT_AUTH,
	ST_SASL, ST_FEAT_BIND, ST_BIND, ST_SESSION, ST_ROSTER, ST_REGISTER,
	ST_READY, ST_CLOSED
};

/* One top-level element of the server's stream, as far as we read it. */
struct lg_stanza {
	char		 name[32];	/* local name */
	char		 type[16];
	char		 id[256];	/* ejabberd's own ids are ~80 bytes */
	char		 from[128];
	char		 text[LG_TEXT_MAX];	/* body, status, jid, sasl data */
	size_t		 textlen;
	unsigned	 mechs;		/* bit per enum lg_mech offered */
	int		 starttls;
	int		 bind;
	int		 session_required;
	int		 register_feature;
	int		 items;		/* roster items */
	int		 items_both;	/* roster items with subscription=both */
	int		 ping;		/* iq carries urn:xmpp:ping */
	int		 error;		/* stanza has an <error/> child */
	int		 error_conflict;
	int		 disco_info;	/* iq carries a disco#info query */
	int		 muc_self;	/* MUC status 110: our own presence */
	int		 muc_created;	/* MUC status 201: a new room */
	char		 node[128];	/* disco#info query's node */
};

struct lg_conn;

struct lg_ops {
	void	(*ready)(struct lg_conn *);
	void	(*stanza)(struct lg_conn *, const struct lg_stanza *);
	void	(*closed)(struct lg_conn *, const char *why);
};

struct lg_conn {
	int		 fd;
	SSL		*ssl;
	enum lg_state	 state;
	int		 tls_up;
	unsigned	 user;		/* account number */
	char		 username[64];
	char		 jid[192];	/* bound full JID */
	XML_Parser	 xp;
	int		 depth;
	int		 restart;	/* reset the parser after this chunk */
	int		 capture;	/* collecting text into st.text */
	int		 in_error;
	int		 need_session;
	struct lg_stanza st;
	char		*out;
	size_t		 outlen, outcap;
	int		 want_out;	/* EPOLLOUT armed */
	int		 dirty;		/* queued for flush at loop end */
	uint64_t	 t_start;	/* connect() time, ns */
	uint64_t	 t_ready;
	void		*scram;		/* lg_scram state during SASL */
	const struct lg_ops *ops;
	void		*udata;
	int		 index;		/* scenario's own slot */
	LIST_ENTRY(lg_conn) entry;	/* live connections */
};

extern struct lg_cfg lg_cfg;

/* lg_conn.c */
int		 lg_loop_init(void);
struct lg_conn	*lg_conn_open(unsigned, const struct lg_ops *, void *);
void		 lg_conn_close(struct lg_conn *);
int		 lg_conn_send(struct lg_conn *, const char *, size_t);
int		 lg_conn_sendf(struct lg_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 lg_loop_once(int);
void		 lg_loop_wait_ns(uint64_t);
void		 lg_flush(void);
void		 lg_close_all(void);
int		 lg_live_conns(void);
uint64_t	 lg_now_ns(void);

/* lg_scram.c */
void		*lg_scram_start(const char *, const char *, enum lg_mech,
		    char *, size_t);
int		 lg_scram_step(void *, const char *, size_t, char *, size_t);
int		 lg_scram_verify(void *, const char *, size_t);
void		 lg_scram_free(void *);
int		 lg_scram_set_nonce(void *, const char *, const char *, char *,
		    size_t);
int		 lg_plain_initial(const char *, const char *, char *, size_t);
int		 lg_scram_cache_load(const char *);
int		 lg_scram_cache_save(const char *);
unsigned long	 lg_scram_pbkdf2_count(void);

/* lg_stats.c */
struct lg_hist;
struct lg_hist	*lg_hist_new(void);
void		 lg_hist_add(struct lg_hist *, uint64_t);
uint64_t	 lg_hist_count(const struct lg_hist *);
uint64_t	 lg_hist_pct(const struct lg_hist *, double);
void		 lg_hist_reset(struct lg_hist *);
void		 lg_cpu_mark(void);
double		 lg_cpu_pct(void);
int		 lg_server_pids(const char *);
double		 lg_server_cpu_pct(void);

#endif /* LG_H */
