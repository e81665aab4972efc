/*
 * c2sd.h - structures and prototypes private to the client-stream daemon.
 *
 * c2sd holds client connections (struct conn: a socket, its TLS state, its
 * XML parser, its output queue) and XMPP sessions (struct session: a bound
 * full JID, its stream-management and CSI state).  A session outlives its
 * connection while it hibernates (XEP-0198) and moves to a new connection
 * on resumption.  Nothing here is on disk; routerd knows each bound session
 * by (this c2sd, session id).
 *
 * Invariants: conn->session and session->conn point at each other or are
 * both unset; every queue (output chunks, unacked stanzas, held presences)
 * has a bound from the configuration; ids are never reused within a run.
 */
#ifndef RAMPART_C2SD_H
#define RAMPART_C2SD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "frame.h"
#include "stanza.h"
#include "jid.h"
#include "xml.h"

struct event;

#define C2SD_READ_BUF		(16 * 1024)	/* one read at most */
#define C2SD_CLOSE_TIMEOUT	5		/* s after our </stream:stream> */
#define C2SD_IDLE_SWEEP		5		/* s: parsers of quiet streams go */
#define C2SD_MAX_HELD_PRESENCE	256		/* CSI: senders held per session */
#define C2SD_IP_BUCKETS		1024
#define C2SD_MAX_PIPELINED	16		/* elements held during bind */
#define C2SD_SESSION_BUCKETS	4096
#define C2SD_STREAM_ID_LEN	16		/* random bytes, hex in the header */
#define C2SD_MAX_IQ_ID		255		/* bytes of an id we keep to answer */
#define C2SD_RESUME_TOKEN_LEN	16

#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND		"urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION	"urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAMS	"urn:ietf:params:xml:ns:xmpp-streams"
#define NS_SM		"urn:xmpp:sm:3"
#define NS_CSI		"urn:xmpp:csi:0"
#define NS_SASL_CB	"urn:xmpp:sasl-cb:0"
#define NS_REGISTER	"jabber:iq:register"
#define NS_REGISTER_FEATURE	"http://jabber.org/features/iq-register"
#define NS_PREAPPROVAL	"urn:xmpp:features:pre-approval"
#define NS_ROSTERVER	"urn:xmpp:features:rosterver"

/* XEP-0077 limits (c2sd_register.c). */
#define C2SD_REG_INTERVAL	60	/* s: one new account per address */
#define C2SD_REG_ATTEMPTS	5	/* requests per address per interval */
#define C2SD_REG_SLOTS		256	/* addresses remembered */
#define C2SD_REG_WAIT		10	/* s an answer from authd may take */

/* Options, from CONFIG frames (names as in the config file). */
struct c2sd_conf {
	unsigned long long max_stanza_size;	/* bytes */
	unsigned long long unauth_timeout;	/* s */
	unsigned long long unauth_per_ip;
	unsigned long long max_connections;
	unsigned long long rate_limit;		/* bytes/s, 0 = off */
	unsigned long long max_resources;	/* routerd enforces */
	unsigned long long out_queue_max;	/* bytes */
	unsigned long long out_queue_grace;	/* s */
	unsigned long long sm_hibernate;	/* s */
	unsigned long long sm_max_unacked;	/* stanzas */
	int		   resource_policy;	/* RBIND_POLICY_* */
	int		   require_tls;
	int		   channel_binding;	/* offer SCRAM-*-PLUS */
	unsigned long long keepalive;		/* s, 0 = off */
	unsigned long long bosh_inactivity;	/* s */
};
extern struct c2sd_conf c2sd_conf;

/* One hosted domain and its TLS context. */
struct host {
	TAILQ_ENTRY(host) entry;
	char		 name[JID_PART_MAX + 1];
	char		*cert_pem;	/* only until pre_drop */
	char		*key_pem;	/* wiped after loading */
	SSL_CTX		*ctx;
	int		 registration;	/* XEP-0077 account creation allowed */
	/* RFC 5929 tls-server-end-point of ctx's certificate, made once */
	uint8_t		 cb_endpoint[64];
	size_t		 cb_endpoint_len;	/* 0: not defined for it */
};
TAILQ_HEAD(hostlist, host);
extern struct hostlist c2sd_hosts;

enum listener_kind { LK_STARTTLS, LK_DIRECT_TLS, LK_HTTP, LK_HTTPS, LK_OTHER };

/* What a connection carries (docs/web.md).  CP_XMPP is RFC 6120 over TCP;
 * CP_HTTP reads HTTP requests (c2sd_http.c) and may turn into CP_WS
 * (RFC 7395, c2sd_ws.c) or carry BOSH requests for a CP_BOSH session,
 * which has no socket of its own (XEP-0124/0206, c2sd_bosh.c). */
enum conn_proto { CP_XMPP, CP_HTTP, CP_WS, CP_BOSH };

enum cstate {
	CS_TLS_HANDSHAKE,	/* TLS before any XML (direct TLS, after proceed) */
	CS_WAIT_HEADER,		/* waiting for the client's stream header */
	CS_NEGOTIATE,		/* features sent; starttls/auth/bind/resume */
	CS_SASL_WAIT,		/* an exchange is with authd */
	CS_BIND_WAIT,		/* RF_SESSION_BIND sent */
	CS_ESTABLISHED,
	CS_CLOSING,		/* our </stream:stream> is out */
};

/* A queued piece of output.  `stanza` marks routed stanzas, which are
 * bounced rather than dropped if the connection dies with them queued
 * (and stream management is not keeping them). */
struct chunk {
	TAILQ_ENTRY(chunk) entry;
	size_t		 len;
	size_t		 off;
	uint8_t		 kind;		/* RK_NONE: not a stanza */
	uint8_t		 stype;
	uint16_t	 skip;		/* framing before the stanza (WebSocket) */
	char		 data[];
};
TAILQ_HEAD(chunklist, chunk);

struct http;
struct ws;
struct bosh;

struct session;

struct conn {
	uint64_t	 id;		/* SASL exchanges (hdr.session) */
	TAILQ_ENTRY(conn) entry;	/* all connections */
	TAILQ_ENTRY(conn) flush_entry;	/* pending output this turn */
	TAILQ_ENTRY(conn) hash_entry;
	int		 fd;
	enum listener_kind lkind;
	enum conn_proto	 proto;
	int		 secure;	/* TLS, or plain HTTP from loopback */
	struct http	*http;		/* CP_HTTP/CP_WS: request state */
	struct ws	*ws;		/* CP_WS */
	struct bosh	*bosh;		/* CP_BOSH: the session; CP_HTTP: NULL */
	struct conn	*bosh_owner;	/* CP_HTTP: the session holding us */
	char		 peer[64];	/* numeric address, logs and authd */
	enum cstate	 state;
	struct host	*host;		/* from the stream header */
	SSL		*ssl;		/* NULL before TLS */
	int		 tls;		/* handshake done */
	int		 tls_want_write;	/* SSL_read needs the fd writable */
	int		 tls_write_wants_read;	/* SSL_write needs readable */
	struct xml_stream *xs;
	int		 in_feed;	/* inside xml_stream_feed */
	int		 dead;		/* free once the feed returns */
	int		 starttls_pending;
	int		 restart_pending;	/* reset the parser after feed */
	int		 hdr_sent;	/* our stream header is out */
	int		 counted_unauth;
	int		 close_when_flushed;
	int		 lingering;	/* both streams closed, our FIN sent */
	int		 nomem;		/* an allocation failed: close */
	int		 no_resume;	/* closed by a closing tag or error */
	char		 stream_id[2 * C2SD_STREAM_ID_LEN + 1];

	/* SASL; the strings below are allocated only while in use, since an
	 * idle session keeps its struct conn */
	char		*user;		/* NULL until success */
	uint32_t	 sasl_corr;	/* current exchange, 0 = none */
	int		 sasl_failures;

	/* XEP-0077: one account request with authd at a time */
	uint32_t	 reg_corr;	/* 0 = none */
	uint16_t	 reg_op;	/* RF_ACCT_ADD, _PASSWD or _DEL */
	int		 reg_to;	/* the request named the server */
	uint64_t	 reg_ms;	/* when it was sent */
	char		*reg_iq_id;	/* while reg_corr is set */

	/* bind */
	char		*bind_iq_id;	/* in CS_BIND_WAIT */
	struct session	*session;
	struct xnode	*pend[C2SD_MAX_PIPELINED];	/* read while binding */
	size_t		 npend;

	/* output */
	struct chunklist outq;
	size_t		 outq_bytes;
	int		 flush_queued;
	int		 write_armed;
	struct event	*ev_read;
	struct event	*ev_write;
	struct event	*ev_timer;	/* unauth timeout, close timeout */
	struct event	*ev_grace;	/* output queue over its cap */
	struct event	*ev_rate;	/* rate limit refill */
	int		 reading;	/* ev_read is added */
	int		 read_recently;	/* input since the last idle sweep */
	uint64_t	 last_out;	/* monotonic ms of the last write */

	/* rate limit token bucket (bytes) */
	uint64_t	 tokens;
	uint64_t	 refill_ms;
};
TAILQ_HEAD(connlist, conn);

/* A held (CSI) presence: the latest from one sender. */
struct held {
	TAILQ_ENTRY(held) entry;
	char		*from;
	size_t		 len;
	char		 data[];
};
TAILQ_HEAD(heldlist, held);

/* An outgoing stanza stream management has not seen acknowledged. */
struct unacked {
	TAILQ_ENTRY(unacked) entry;
	uint32_t	 rseq;		/* routerd's number (corr), 0 if none */
	uint32_t	 hout;		/* h_out the client reaches with it */
	uint8_t		 kind;
	uint8_t		 stype;
	size_t		 len;
	char		 data[];
};
TAILQ_HEAD(unackedlist, unacked);

enum sstate { SS_BINDING, SS_BOUND, SS_HIBERNATING };

struct session {
	uint64_t	 id;		/* routerd's key for this full JID */
	TAILQ_ENTRY(session) hash_entry;
	enum sstate	 state;
	struct conn	*conn;		/* NULL while hibernating */
	/* The bound JID in one allocation sized to it (session_set_jid):
	 * a session is held per idle client, so no fixed 1 KiB parts. */
	char		*full;		/* local@domain/resource */
	char		*bare;		/* local@domain */
	char		*local;
	char		*domain;
	char		*resource;
	int		 available;	/* broadcast presence sent */

	/* XEP-0198 */
	int		 sm;		/* enabled */
	int		 sm_resume;	/* resumable */
	uint8_t		 sm_hash[FRAME_SM_HASH_LEN];	/* of the resume token */
	uint32_t	 h_in;		/* stanzas handled from the client */
	uint32_t	 h_out;		/* stanzas sent to the client */
	uint32_t	 h_acked;	/* the client's last <a h/> */
	struct unackedlist unacked;
	size_t		 nunacked;
	int		 r_pending;	/* sent stanzas since the last <r/> */
	int		 overflow;	/* over sm-max-unacked: close soon */
	struct event	*ev_hibernate;
	/* what routerd keeps to resume after a c2sd restart (c2sd_smstate.c) */
	uint32_t	 rseq_last;	/* last message routerd numbered */
	uint32_t	 cur_rseq;	/* of the message being delivered */
	size_t		 n_unreported;	/* unacked tail not yet in SM_STATE */
	int		 sm_dirty;	/* an SM_STATE is due this turn */
	TAILQ_ENTRY(session) dirty_entry;
	struct sm_restore *restore;	/* from routerd, until <resume/> */

	/* XEP-0352 */
	int		 inactive;
	struct heldlist	 held;
	size_t		 nheld;
};

/* c2sd.c */
struct link;
int	 c2sd_configure(const char *key, int argc, const char **argv);
void	 c2sd_config_fd(const char *name, int fd);
void	 c2sd_pre_drop(void);
void	 c2sd_post_drop(void);
void	 c2sd_dispatch(struct link *, struct frame *);
void	 c2sd_shutdown(void);
uint64_t c2sd_new_id(void);
void	 c2sd_id_above(uint64_t);	/* never hand out this id or below */
uint64_t c2sd_now_ms(void);
/* c2sd_spill.c: frames that must reach routerd even when the link is full */
int	 c2sd_send_kept(struct fout *);
void	 c2sd_spill_flush(void);
uint64_t c2sd_uptime(void);	/* s since c2sd started */
void	 c2sd_random_hex(char *, size_t nbytes);

/* c2sd_conn.c */
void	 conn_listen(const char *name, int fd);
void	 conn_start_listeners(void);
void	 conn_stop_all(void);
struct conn *conn_find(uint64_t id);
void	 conn_write(struct conn *, const char *, size_t);
void	 conn_writes(struct conn *, const char *);
void	 conn_write_stanza(struct conn *, uint8_t kind, uint8_t stype,
	    const char *, size_t);
void	 conn_flush_soon(struct conn *);
void	 conn_turn_soon(void);	/* run the end-of-turn flush */
void	 conn_forget_stanzas(struct conn *);
void	 conn_append_raw(struct conn *, const char *);
void	 conn_stream_error(struct conn *, const char *cond, const char *text);
void	 conn_close(struct conn *);	/* send </stream:stream>, wait */
void	 conn_destroy(struct conn *);	/* now (deferred inside a feed) */
void	 conn_authenticated(struct conn *);
void	 conn_set_timer(struct conn *, unsigned seconds);
void	 conn_start_tls(struct conn *);	/* after <proceed/> is out */
int	 conn_queue(struct conn *, const char *, size_t, uint16_t skip,
	    uint8_t kind, uint8_t stype);	/* raw: no framing */
void	 conn_write_raw(struct conn *, const char *, size_t);
struct conn *conn_new_virtual(const char *peer, struct host *);
void	 conn_reading(struct conn *, int on);
int	 conn_is_secure(const struct conn *);
struct chunk *conn_take_chunk(struct conn *);	/* CP_BOSH output */

/* c2sd_http.c */
#define HTTP_MAX_HEADER		8192	/* bytes of request line + headers */
#define HTTP_MAX_FIELDS		64	/* header fields */
struct http_request {
	char		 method[8];
	char		 path[256];
	char		 host[256];
	char		 origin[256];
	char		 ws_key[64];
	char		 ws_protocol[256];
	char		 ws_version[8];
	char		 upgrade[32];
	char		 connection[128];
	/* what a reverse proxy says the client used (RFC 7239 or the
	 * X-Forwarded-* convention); host-meta reads it on LK_HTTP only */
	char		 fwd_proto[8];
	char		 fwd_host[256];
	int		 fwd_rfc;	/* from Forwarded: X-Forwarded-* ignored */
	unsigned long long content_length;
	int		 has_length;
	int		 minor;		/* HTTP/1.minor */
	size_t		 nfields;
};
/* 0: incomplete, >0: bytes of the head, else -HTTP status to answer. */
long	 http_parse(const char *, size_t, struct http_request *);
void	 http_input(struct conn *, const char *, size_t);
void	 http_respond(struct conn *, int status, const char *ctype,
	    const char *extra, const char *body, size_t len);
void	 http_request_done(struct conn *);
void	 http_free(struct conn *);
int	 http_timeout(struct conn *);
int	 http_cors(struct conn *, char *, size_t);
int	 http_set_cors(const char *);	/* cors-origin; -1 if invalid */

/* c2sd_static.c: files under web-prefix, loaded from web-root in pre_drop */
int	 static_configure(const char *key, int argc, const char **argv);
void	 static_load(void);
void	 static_free(void);
/* 0: answered; -1: not a static file, nothing sent. */
int	 static_serve(struct conn *, const struct http_request *);

/* c2sd_ws.c */
int	 ws_upgrade(struct conn *, const struct http_request *);
void	 ws_input(struct conn *, const char *, size_t);
int	 ws_append(struct conn *, const char *, size_t, uint8_t kind,
	    uint8_t stype);
void	 ws_free(struct conn *);
int	 xml_fixup(struct xbuf *, const char *, size_t);

/* c2sd_bosh.c */
void	 bosh_request(struct conn *http, const struct http_request *,
	    const char *body, size_t len);
void	 bosh_flush(struct conn *);
void	 bosh_http_gone(struct conn *http);
void	 bosh_free(struct conn *);
void	 bosh_closing(struct conn *);

/* c2sd_tls.c */
int	 tls_host_load(struct host *);
int	 tls_conn_new(struct conn *);
int	 tls_handshake(struct conn *);	/* 1 done, 0 again, -1 failed */
ssize_t	 tls_read(struct conn *, void *, size_t);	/* -2: would block */
ssize_t	 tls_write(struct conn *, const void *, size_t);	/* -2: would block */
size_t	 tls_cb_exporter(struct conn *, uint8_t *, size_t);
int	 tls_cb_has_exporter(const struct conn *);	/* without deriving */
size_t	 tls_cb_endpoint(struct conn *, uint8_t *, size_t);
void	 tls_conn_free(struct conn *);
void	 tls_close_notify(struct conn *);

/* c2sd_stream.c */
extern const struct xml_callbacks stream_callbacks;
void	 stream_send_header(struct conn *, const char *to);
void	 stream_send_features(struct conn *);
struct host *host_find(const char *);
void	 stream_after_feed(struct conn *);
void	 stream_element(struct conn *, struct xnode *);
void	 stream_replay_pending(struct conn *);

/* c2sd_sasl.c */
void	 sasl_add_mechanisms(struct conn *, struct xnode *features);
void	 sasl_client_element(struct conn *, struct xnode *);
void	 sasl_frame(struct frame *);
void	 sasl_abort(struct conn *);

/* c2sd_session.c */
struct session *session_find(uint64_t);
int	 session_set_jid(struct session *, const char *local,
	    const char *domain, const char *resource);
int	 session_is_jid(const struct session *, const struct jid *);
int	 session_is_bare(const struct session *, const struct jid *);
struct session *session_restore(const struct jid *, uint64_t id);
void	 session_bind_request(struct conn *, struct xnode *iq);
void	 session_bound(struct frame *);
void	 session_kick(struct frame *);
void	 session_client_stanza(struct conn *, struct xnode *);
void	 session_routed_stanza(struct frame *);
void	 session_bounce(struct frame *);
void	 session_deliver(struct session *, uint8_t kind, uint8_t stype,
	    const char *from, const char *xml, size_t len);
void	 session_deliver_node(struct session *, struct xnode *);
void	 session_write(struct session *, uint8_t kind, uint8_t stype,
	    const char *, size_t);
void	 session_conn_gone(struct conn *, int clean);
int	 session_keep_resumable(struct conn *);
void	 session_end(struct session *, int unbind);
void	 session_error_reply(uint8_t kind, uint8_t stype, const char *xml,
	    size_t len, const char *cond, uint64_t sess);
void	 session_return(struct session *, uint8_t kind, uint8_t stype,
	    const char *xml, size_t len, const char *cond);
void	 session_return_to(uint64_t sess, uint8_t kind, uint8_t stype,
	    const char *from, const char *to, const char *xml, size_t len,
	    const char *cond);
void	 session_close_account(const struct jid *, const struct session *keep,
	    const char *cond, const char *text);
struct xnode *stanza_parse(const char *, size_t);
void	 stanza_make_error(struct xnode *, const char *type, const char *cond,
	    const char *text);
void	 session_send_node(struct session *, struct xnode *);

/* c2sd_iq.c */
void	 iq_local(struct session *, struct xnode *iq, int where);
void	 iq_reply_result(struct session *, struct xnode *iq, struct xnode *payload);
void	 iq_reply_error(struct session *, struct xnode *iq, const char *type,
	    const char *cond);
void	 iq_conn_error(struct conn *, struct xnode *iq, const char *type,
	    const char *cond);

/* c2sd_smstate.c */
struct sm_restore;
void	 sm_dirty(struct session *);
int	 sm_report_all(void);
void	 sm_restore_frame(struct frame *);
int	 sm_restore_resume(struct session *, uint32_t h);
void	 sm_state_free(struct session *);
/* c2sd_sm.c */
int	 sm_client_element(struct conn *, struct xnode *);
void	 sm_resume_request(struct conn *, struct xnode *);
void	 sm_ack(struct session *, uint32_t h);
void	 sm_sent(struct session *, uint8_t kind, uint8_t stype, const char *, size_t);
void	 sm_turn_end(struct session *);
void	 sm_hibernate(struct session *);
int	 sm_hibernate_for(struct session *, unsigned long long seconds);
void	 sm_free(struct session *);
void	 sm_bounce_unacked(struct session *);
int	 csi_hold(struct session *, const char *from, const char *, size_t);
void	 csi_flush(struct session *);

/* handlers.c */
struct iq_handler {
	const char	*ns;		/* payload namespace */
	const char	*elem;		/* payload element, NULL = any */
	unsigned	 where;		/* H_SERVER | H_NOTO */
	void		(*fn)(struct session *, struct xnode *iq, struct xnode *payload);
	const char	*feature;	/* XEP-0030 var, NULL = none */
};
#define H_SERVER	0x1	/* to the domain */
#define H_NOTO		0x2	/* no 'to' (else it goes to imd, RFC 6120 10.3.3) */
extern const struct iq_handler c2sd_iq_handlers[];
/* Features of the server that other daemons implement (disco#info). */
extern const char *const c2sd_remote_features[];

struct stream_feature {
	const char	*name;
	/* Adds the feature element if it applies to this connection now. */
	void		(*add)(struct conn *, struct xnode *features);
};
extern const struct stream_feature c2sd_stream_features[];
const struct iq_handler *handler_find(const char *ns, const char *elem,
	    unsigned where);

/* iq handlers (c2sd_iq.c) */
void	 iq_ping(struct session *, struct xnode *, struct xnode *);
void	 iq_disco_info(struct session *, struct xnode *, struct xnode *);
void	 iq_disco_items(struct session *, struct xnode *, struct xnode *);
void	 iq_version(struct session *, struct xnode *, struct xnode *);
void	 iq_time(struct session *, struct xnode *, struct xnode *);
void	 iq_session(struct session *, struct xnode *, struct xnode *);
void	 iq_last(struct session *, struct xnode *, struct xnode *);

/* c2sd_register.c (XEP-0077) */
int	 register_unauth(struct conn *, struct xnode *iq);
void	 iq_register(struct session *, struct xnode *, struct xnode *);
void	 register_result(struct frame *);
int	 register_limit(const char *peer);	/* 0 ok, -1 over the limit */
void	 register_created(const char *peer);

/* stream features (c2sd_stream.c, c2sd_sasl.c, c2sd_sm.c) */
void	 feature_starttls(struct conn *, struct xnode *);
void	 feature_mechanisms(struct conn *, struct xnode *);
void	 feature_bind(struct conn *, struct xnode *);
void	 feature_session(struct conn *, struct xnode *);
void	 feature_sm(struct conn *, struct xnode *);
void	 feature_csi(struct conn *, struct xnode *);
void	 feature_register(struct conn *, struct xnode *);
void	 feature_preapproval(struct conn *, struct xnode *);
void	 feature_rosterver(struct conn *, struct xnode *);

/* sandbox.c */
extern const struct sandbox_policy c2sd_sandbox_policy;

#endif
