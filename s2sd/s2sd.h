/*
 * s2sd.h - structures and prototypes private to the federation daemon.
 *
 * s2sd holds the connections routerd cannot: XEP-0114 external components
 * now, remote servers (RFC 6120 server-to-server streams) next.  Every
 * connection is a struct s2s_conn: a socket, its optional TLS state, its
 * XML parser and a bounded output buffer.  A component connection speaks
 * for exactly one domain, the one it authenticated with the shared-secret
 * handshake; nothing it sends with another `from` domain is routed.
 *
 * Invariants: a connection's output never holds more than
 * s2sd_conf.max_outbuf bytes ("s2s-max-outbuf"; past that, or when it has
 * not moved for s2s-idle-timeout, the stream is closed); the secret of a
 * component lives only in struct s2s_component and is never logged; ids
 * are never reused within a run.
 */
#ifndef RAMPART_S2SD_H
#define RAMPART_S2SD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "frame.h"
#include "stanza.h"
#include "jid.h"
#include "sandbox.h"
#include "xml.h"

struct event;

#define S2SD_READ_BUF		(16 * 1024)
#define S2SD_OUTBUF_DEFAULT	(1024 * 1024)	/* bytes queued per stream */
#define S2SD_OUTBUF_MIN		(64 * 1024)	/* as routerd's grammar */
#define S2SD_OUTBUF_MAX		(64 * 1024 * 1024)
#define S2SD_MAX_LISTENERS	8
#define S2SD_MAX_COMPONENTS	64
#define S2SD_MAX_HOSTS		64
#define S2SD_MAX_SECRET		1024
#define S2SD_STREAM_ID_LEN	16		/* random bytes, hex in the header */
#define S2SD_CLOSE_TIMEOUT	5		/* s after our </stream:stream> */
#define S2SD_MAX_CONNS		1024
#define S2SD_MAX_SPILL		(64 * 1024 * 1024)	/* frames for routerd
					 * waiting in s2sd (s2sd_flow.c) */

#define S2SD_MAX_QUEUE		1000		/* stanzas waiting per remote */
#define S2SD_MAX_QUEUE_BYTES	(1024 * 1024)
#define S2SD_MAX_REMOTES	1024
#define S2SD_MAX_AUTHED		16		/* domain pairs per stream */
#define S2SD_MAX_TARGETS	8		/* SRV targets, addresses */
#define S2SD_MAX_VERIFIES	64		/* dialback verifies in flight */
#define S2SD_PORT		5269

#define NS_COMPONENT	"jabber:component:accept"
#define NS_DIALBACK	"jabber:server:dialback"
#define NS_DIALBACK_FEAT "urn:xmpp:features:dialback"
#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAMS	"urn:ietf:params:xml:ns:xmpp-streams"

/* Options and keys from CONFIG frames (docs/s2s.md). */
struct s2sd_conf {
	unsigned long long max_stanza_size;	/* bytes */
	unsigned long long unauth_timeout;	/* s: also outgoing setup */
	unsigned long long idle_timeout;	/* s: "s2s-idle-timeout" */
	size_t		   max_outbuf;		/* "s2s-max-outbuf" */
	int		   require_cert;	/* "s2s-require-cert": no dialback */
	int		   require_tls;		/* "s2s-require-tls", default 1 */
	unsigned char	   dialback_key[32];	/* SHA-256 of the secret */
};
extern struct s2sd_conf s2sd_conf;

/* A configured external component (CONFIG "component" domain secret). */
struct s2s_component {
	char		 domain[JID_PART_MAX + 1];
	char		*secret;
	struct s2s_conn	*conn;		/* the authenticated stream, or NULL */
};

/* A hosted domain and its TLS contexts (s2sd_tls.c). */
struct s2s_host {
	char		 domain[JID_PART_MAX + 1];
	char		*cert_pem, *key_pem;	/* until pre_drop */
	SSL_CTX		*server_ctx, *client_ctx;
};

enum s2s_kind { SK_COMPONENT, SK_SERVER_IN, SK_SERVER_OUT };
enum s2s_state { SS_OPEN, SS_AUTHED, SS_CLOSING };

/* Where an outgoing stream is in its negotiation (s2sd_out.c). */
enum out_phase {
	OP_CONNECTING, OP_HEADER, OP_STARTTLS, OP_TLS, OP_SASL, OP_DIALBACK,
	OP_READY
};

/* A stanza waiting for its remote domain's stream. */
struct qstanza {
	TAILQ_ENTRY(qstanza) entry;
	uint8_t		 kind, stype;
	char		*from, *to;
	char		*body;
	size_t		 len;
	uint64_t	 end;		/* on a conn's unsent list: its last
					 * byte's place in the output */
};
TAILQ_HEAD(qlist, qstanza);

/* One place a remote domain's server may be (RFC 2782 SRV, XEP-0368). */
struct srv_target {
	char		 name[JID_PART_MAX + 1];	/* "" = "." */
	uint16_t	 port, prio, weight;
	int		 direct_tls;	/* from _xmpps-server._tcp */
};

/* A dialback verification we asked a remote's authoritative server for
 * (XEP-0220 2.1.2): answered on incoming stream `in_id`. */
struct verify {
	uint64_t	 in_id;
	char		 id[128];		/* the incoming stream's id */
	char		*key;
	int		 sent;
};

/* An outgoing route: our `local` domain to `remote` (s2sd_out.c). */
struct s2s_remote {
	TAILQ_ENTRY(s2s_remote) entry;
	char		 local[JID_PART_MAX + 1];
	char		 remote[JID_PART_MAX + 1];
	struct s2s_conn	*conn;
	int		 authed;		/* conn may carry stanzas */
	struct qlist	 queue;
	size_t		 qcount, qbytes;
	struct event	*ev_deadline;		/* setup must finish by then */
	/* resolution: SRV targets of both services in the order they are
	 * tried, then the addresses of the current one */
	struct srv_target targets[S2SD_MAX_TARGETS];
	int		 ntargets, target;
	int		 srv_pending;		/* SRV answers still to come */
	int		 srv_none;		/* services that said "." */
	struct sockaddr_storage addrs[S2SD_MAX_TARGETS];
	int		 naddrs, addr;
	int		 resolving;		/* DNS queries in flight */
	int		 setup;			/* a stream is being set up */
	int		 a_done, aaaa_done;
	struct verify	 verifies[S2SD_MAX_VERIFIES];
	int		 nverifies;
	const char	*fail_cond;		/* why the last attempt failed */
};
TAILQ_HEAD(s2s_remotelist, s2s_remote);

/* A (local, remote) domain pair an incoming stream authenticated. */
struct s2s_pair {
	char		 local[JID_PART_MAX + 1];
	char		 remote[JID_PART_MAX + 1];
	int		 state;			/* 0 pending, 1 valid */
};

struct s2s_conn {
	TAILQ_ENTRY(s2s_conn) entry;
	uint64_t	 id;		/* frame `session` of what it sends */
	enum s2s_kind	 kind;
	enum s2s_state	 state;
	int		 fd;
	char		 peer[64];	/* address:port, for the log */
	char		 stream_id[128];	/* ours, or the peer's (out) */
	struct xml_stream *xs;
	struct event	*ev_read;
	struct event	*ev_write;
	struct event	*ev_timer;
	struct event	*ev_stall;	/* output has not moved: the peer
					 * stopped reading (s2sd_conn.c) */
	char		*out;		/* bytes waiting for the socket */
	size_t		 outlen, outcap;
	uint64_t	 wtotal, wdone;	/* bytes ever put in out, written */
	struct qlist	 unsent;	/* SK_SERVER_OUT: stanzas not yet
					 * wholly written, bounced if the
					 * stream dies (s2sd_out.c) */
	int		 drain;		/* closing for idleness: what the
					 * peer still sends is routed */
	int		 polite;	/* ended by a closing tag or for
					 * idleness, not lost */
	int		 dead;		/* closed; freed from the reap queue */
	int		 listed;	/* on the list of live connections */
	int		 header_sent;
	/* server streams */
	char		 local[JID_PART_MAX + 1];	/* our domain */
	char		 remote[JID_PART_MAX + 1];	/* theirs ("" if unsaid) */
	SSL		*ssl;
	int		 tls;		/* handshake done */
	int		 tls_want_write;
	int		 tls_pending;	/* start TLS once the output is out */
	int		 direct_tls;	/* XEP-0368 */
	int		 connecting;
	int		 sasl_done;	/* EXTERNAL succeeded (XEP-0178) */
	int		 sasl_failed;
	enum out_phase	 phase;
	struct s2s_remote *route;	/* SK_SERVER_OUT */
	struct s2s_pair	 pairs[S2SD_MAX_AUTHED];	/* SK_SERVER_IN */
	int		 npairs;
	struct s2s_component *want;	/* component named in the header */
	struct s2s_component *comp;	/* SK_COMPONENT once authenticated */
};

TAILQ_HEAD(s2s_connlist, s2s_conn);

/* s2sd_conn.c: sockets, listeners, output, timers. */
extern int s2sd_stopping;	/* shutting down: no new connections */
void	conn_listen(const char *name, int fd);
void	conn_start_listeners(void);
struct s2s_conn *conn_find(uint64_t id);
void	conn_write(struct s2s_conn *, const char *, size_t);
void	conn_writes(struct s2s_conn *, const char *);
int	conn_has_room(const struct s2s_conn *, size_t);
void	conn_set_timer(struct s2s_conn *, unsigned int seconds);
void	conn_stream_error(struct s2s_conn *, const char *cond,
	    const char *text);
void	conn_on_stream_close(void *);
void	conn_on_xml_error(void *, enum xml_error, const char *);
void	conn_end(struct s2s_conn *);
void	conn_close(struct s2s_conn *);
void	conn_shutdown_all(void);
int	conn_in_authed(const struct s2s_conn *except, const char *local,
	    const char *remote);
const char *conn_transport(const struct s2s_conn *);
/* Stop and resume reading every stream whose input goes to routerd
 * (incoming server streams, components): s2sd_flow.c. */
void	conn_pause_input(void);
void	conn_resume_input(void);

/* s2sd_flow.c: every frame for routerd, with backpressure. */
extern size_t flow_spill_max;	/* a variable for the unit test */
int	flow_send(struct fout *);
int	flow_paused(void);
void	flow_shutdown(void);

/* s2sd_tls.c */
void	tls_init(const char *ca_pem);
int	tls_host_load(struct s2s_host *);
int	tls_conn_start(struct s2s_conn *);
int	tls_handshake(struct s2s_conn *);
ssize_t	tls_read(struct s2s_conn *, void *, size_t);
ssize_t	tls_write(struct s2s_conn *, const void *, size_t);
int	tls_peer_valid(struct s2s_conn *, const char *domain);
void	tls_conn_free(struct s2s_conn *);

/* s2sd.c: hosted domains. */
struct s2s_host *host_find(const char *domain);
struct s2s_host *host_first_tls(void);

/* s2sd_conn.c, for outgoing streams. */
struct s2s_conn *conn_connect(const struct sockaddr_storage *,
	    struct s2s_remote *);
void	conn_tls_ready(struct s2s_conn *);

/* s2sd_dns.c: libunbound on our event loop. */
int	dns_init(void);
void	dns_resolve(struct s2s_remote *);
int	dns_next_target(struct s2s_remote *);
int	dns_parse(const unsigned char *, size_t, uint16_t type,
	    int direct_tls, struct s2s_remote *);
void	dns_order(struct s2s_remote *, uint32_t (*uniform)(uint32_t));

/* s2sd_dialback.c: XEP-0220 keys (XEP-0185). */
void	dialback_key(const char *recv, const char *orig, const char *id,
	    char out[65]);
int	dialback_check(const char *recv, const char *orig, const char *id,
	    const char *key);

/* s2sd_out.c: routes to remote domains. */
void	remote_send(struct frame *, const char *local, const char *remote);
void	remote_resolved(struct s2s_remote *);
void	remote_conn_gone(struct s2s_remote *, const char *cond);
void	remote_authed(struct s2s_remote *);
void	remote_shutdown(void);
void	remote_send_verifies(struct s2s_remote *);
void	remote_verify_answer(struct s2s_remote *, const char *id, int valid);
int	remote_verify(const char *local, const char *remote, uint64_t in_id,
	    const char *id, const char *key);
extern const struct xml_callbacks out_callbacks;
void	out_connected(struct s2s_conn *);
void	out_written(struct s2s_conn *);
void	out_unsent_bounce(struct s2s_conn *);

/* s2sd_in.c: streams remote servers opened to us. */
extern const struct xml_callbacks in_callbacks;
void	in_verify_result(uint64_t in_id, const char *local,
	    const char *remote, int valid);
void	in_tls_ready(struct s2s_conn *);
void	in_lost(struct s2s_conn *);
void	out_tls_ready(struct s2s_conn *);

/* s2sd_component.c: XEP-0114. */
extern const struct xml_callbacks component_callbacks;
int	component_add(const char *domain, const char *secret);
struct s2s_component *component_find(const char *domain);
/* 0 on a match; compares in constant time (exported for the unit test). */
int	component_check_handshake(const char *stream_id, const char *secret,
	    const char *digest);
void	component_detach(struct s2s_conn *);
void	component_deliver(struct s2s_component *, struct frame *);

/* s2sd_stanza.c: between XML trees and frames. */
const char *stream_ns(const struct s2s_conn *);
enum route_result {
	ROUTE_OK,
	ROUTE_INVALID,		/* from/to not JIDs, or an invalid type */
	ROUTE_REFUSED,		/* could not be passed on to routerd */
};
enum route_result stanza_route(struct xnode *, const char *ns,
	    uint64_t session);
void	stanza_bounce(struct frame *, const char *cond);
void	stanza_domain_lost(const char *local, const char *remote);
void	stanza_bounce_raw(uint8_t kind, uint8_t stype, const char *from,
	    const char *to, const char *body, size_t len, const char *cond);
void	stanza_from_stream(struct s2s_conn *, struct xnode *,
	    const char *invalid);
void	stanza_node_error(struct s2s_conn *, struct xnode *, const char *ns,
	    const char *cond);
void	stanza_returned(struct frame *);

extern const struct sandbox_policy s2sd_policy;

#endif
