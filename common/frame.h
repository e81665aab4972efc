/*
 * frame.h - the binary frame protocol spoken between routerd and its
 * daemons (and between rampartctl and routerd's control socket).
 *
 * A frame is a 32-byte little-endian header, the `from` and `to` JIDs
 * (lengths in the header, no NUL on the wire), then a body.  The header
 * is encoded and decoded field by field; docs/frames.md is the normative
 * description and must change together with this file.
 *
 * Building: fout_new() -> fout_put_*() -> link_send() (link.h).
 * Reading:  a struct frame handed to a dispatcher -> frame_get_*() ->
 *           frame_get_end().  Every getter checks bounds; handlers never
 *           index the body by hand.
 */
#ifndef RAMPART_FRAME_H
#define RAMPART_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FRAME_HDR_LEN		32
#define FRAME_PROTO_MAJOR	1
#define FRAME_PROTO_MINOR	0
#define FRAME_JID_MAX		3071		/* 3 parts of 1023 + separators */
#define FRAME_MAX_DEFAULT	(1024 * 1024)	/* bytes, header included */
#define FRAME_MAX_LIMIT		(64 * 1024 * 1024)
#define FRAME_SM_HASH_LEN	32		/* RF_SM_*: BLAKE2b of the resume token */
#define FRAME_SM_MAX_PAIRS	1024		/* (rseq, hout) pairs in one RF_SM_* frame */

/* Frame types.  Numbers are part of the wire format: never reuse one. */
enum rf_type {
	/* link life (every link) */
	RF_HELLO		= 1,	/* u16 major, u16 minor, str name, u32 instance, u32 max_frame */
	RF_CONFIG		= 2,	/* str key, str value...  (routerd -> child) */
	RF_CONFIG_FD		= 3,	/* str name + fd */
	RF_CONFIG_END		= 4,	/* (empty) child drops privileges, answers READY */
	RF_READY		= 5,	/* u32 capabilities (RCAP_*) child -> routerd */
	RF_PING			= 6,	/* corr echoed in PONG */
	RF_PONG			= 7,
	RF_SHUTDOWN		= 8,	/* routerd -> child: finish and exit 0 */
	RF_DEBUG		= 9,	/* str action; only honoured with sandbox-debug */
	RF_LOG			= 10,	/* reserved */
	RF_ACK			= 11,	/* child -> routerd: u64 frames of this link
					   processed, effects durable (RCAP_ACK) */

	/* stanzas (kind, stype, from, to in the header) */
	RF_STANZA		= 16,	/* body: serialized XML stanza */
	RF_BOUNCE		= 17,	/* routerd -> sender: u8 condition, then the original body */

	/* sessions: c2sd <-> routerd (and routerd -> imd) */
	RF_SESSION_BIND		= 32,	/* c2sd -> routerd: from = full JID, u8 conflict policy */
	RF_SESSION_BOUND	= 33,	/* routerd -> c2sd: u8 result (enum rf_bind) */
	RF_SESSION_UNBIND	= 34,	/* c2sd -> routerd: session gone */
	RF_SESSION_PRESENCE	= 35,	/* c2sd -> routerd: i8 priority, u8 available */
	RF_SESSION_KICK		= 36,	/* routerd -> c2sd: u8 condition (conflict) */
	RF_SESSION_GONE		= 37,	/* routerd -> imd: from = full JID vanished */
	RF_PEP_PRESENCE		= 38,	/* imd -> pepd (RFF_OPTIONAL): from = contact's full JID,
				   to = owner's bare JID; u8 available, str caps-node,
				   str caps-ver (docs/pep.md, "Contacts"); ends also
				   for a bare JID (imd) or a lost remote domain (s2sd,
				   to = a local domain), docs/frames.md */
	/* XEP-0198 resumption state kept by routerd (docs/frames.md,
	 * "Stream-management records") */
	RF_SM_ENABLE		= 39,	/* c2sd -> routerd: data token hash (32), u32 seconds */
	RF_SM_STATE		= 40,	/* c2sd -> routerd: u32 h_in, h_acked, h_out, done,
					   u16 n, n x (u32 rseq, u32 hout) */
	RF_SM_RESTORE		= 41,	/* routerd -> c2sd: data token hash, u32 h_in,
					   h_acked, h_out, seconds, u16 n, n x (rseq, hout) */
	RF_PEP_RESYNC		= 42,	/* routerd -> imd (RFF_OPTIONAL, empty): pepd
				   (re)started with no contact mirror; send
				   RF_PEP_PRESENCE for every online resource */

	/* SASL: c2sd <-> authd through routerd (corr = c2sd's request id) */
	RF_SASL_START		= 48,	/* str mech, str host, u8 has-initial, data initial,
					   str peer-ip, u8 tls, data cb-exporter,
					   data cb-endpoint (docs/auth.md) */
	RF_SASL_STEP		= 49,	/* data response */
	RF_SASL_CHALLENGE	= 50,	/* data challenge */
	RF_SASL_SUCCESS		= 51,	/* str username, data additional */
	RF_SASL_FAILURE		= 52,	/* str condition, str text */
	RF_SASL_ABORT		= 53,	/* c2sd -> authd: forget this exchange */

	/* accounts: rampartctl/c2sd (XEP-0077) -> authd (corr = request id) */
	RF_ACCT_ADD		= 64,	/* str host, str user, str password */
	RF_ACCT_PASSWD		= 65,	/* str host, str user, str password */
	RF_ACCT_DEL		= 66,	/* str host, str user */
	RF_ACCT_LIST		= 67,	/* str host */
	RF_ACCT_RESULT		= 68,	/* u8 ok, str text (list: one user per line) */

	/* control socket: rampartctl <-> routerd */
	RF_CTL_STATUS		= 96,
	RF_CTL_RESTART		= 97,	/* str daemon */
	RF_CTL_RELOAD		= 98,
	RF_CTL_STOP		= 99,
	RF_CTL_REPLY		= 100,	/* u8 ok, str text */
	RF_CTL_ROUTES		= 101,	/* list the routing table */
};

/* What a daemon serves, announced in READY: routerd sends a daemon only
 * the traffic it said it takes (a skeleton daemon takes none). */
#define RCAP_IM		0x0001	/* imd: messages, presence, account iq */
#define RCAP_PEP	0x0002
#define RCAP_MUC	0x0004
#define RCAP_S2S	0x0008
#define RCAP_ACK	0x0010	/* acknowledges processed frames (RF_ACK):
				   routerd replays the rest after a crash */

/* Header flags. */
#define RFF_FD		0x0001	/* exactly one fd travels with this frame */
#define RFF_OPTIONAL	0x0002	/* receiver may ignore the type if unknown */
#define RFF_PEP		0x0004	/* stanza is a pubsub request to a bare JID */
/* pepd asks caps (XEP-0115) from an account's bare JID with iq ids that
 * start so; c2sd marks a client's result or error with such an id
 * RFF_PEP, so routerd hands it to pepd and not to imd (docs/pep.md). */
#define PEP_CAPS_ID_PREFIX	"pepcaps"
#define RFF_BROADCAST	0x0008	/* presence the client sent without 'to' */
#define RFF_UNDELIVERED	0x0010	/* c2sd returns a stanza it could not deliver */
/* c2sd vouches that a message it parsed is "plain" (stanza_msg_plain() in
 * stanza.h): imd may archive and deliver its bytes without a parse. */
#define RFF_PLAINMSG	0x0100
#define RFF_ALL		(RFF_FD | RFF_OPTIONAL | RFF_PEP | RFF_BROADCAST | \
			 RFF_UNDELIVERED | RFF_PLAINMSG)

/* Stanza kinds (header `kind`). */
enum rk_kind {
	RK_NONE = 0,
	RK_MESSAGE = 1,
	RK_PRESENCE = 2,
	RK_IQ = 3,
};

/* Stanza types (header `stype`); the meaning depends on the kind. */
enum rs_type {
	RS_NONE = 0,
	/* message */
	RS_NORMAL = 1, RS_CHAT = 2, RS_GROUPCHAT = 3, RS_HEADLINE = 4,
	/* presence */
	RS_AVAILABLE = 5, RS_UNAVAILABLE = 6, RS_SUBSCRIBE = 7,
	RS_SUBSCRIBED = 8, RS_UNSUBSCRIBE = 9, RS_UNSUBSCRIBED = 10,
	RS_PROBE = 11,
	/* iq */
	RS_GET = 12, RS_SET = 13, RS_RESULT = 14,
	/* any kind */
	RS_ERROR = 15,
};

/* Why routerd bounced a stanza (RF_BOUNCE); the sender maps it to XML. */
enum rf_bounce {
	RB_SERVICE_UNAVAILABLE = 1,
	RB_ITEM_NOT_FOUND = 2,
	RB_REMOTE_SERVER_NOT_FOUND = 3,
	RB_RESOURCE_CONSTRAINT = 4,
	RB_RECIPIENT_UNAVAILABLE = 5,
	RB_NOT_ALLOWED = 6,
	RB_MAX = 6,
};

/* RF_SESSION_BIND policy and RF_SESSION_BOUND results. */
enum rf_bind {
	RBIND_OK = 0,
	RBIND_CONFLICT = 1,	/* resource in use and policy refuses */
	RBIND_LIMIT = 2,	/* too many resources for the account */
	RBIND_POLICY_REPLACE = 0,	/* conflict: kick the older session */
	RBIND_POLICY_REFUSE = 1,	/* conflict: refuse the new one */
};

struct frame_hdr {
	uint32_t	len;		/* whole frame, header included */
	uint16_t	type;		/* enum rf_type */
	uint16_t	flags;		/* RFF_* */
	uint64_t	session;	/* sender-scoped session id, 0 if none */
	uint32_t	corr;		/* request/response correlation */
	uint16_t	origin;		/* link id; senders write 0, routerd stamps */
	uint8_t		kind;		/* enum rk_kind */
	uint8_t		stype;		/* enum rs_type */
	uint16_t	from_len;
	uint16_t	to_len;
	uint32_t	reserved;	/* zero on the wire */
};

/* A received frame: header, NUL-terminated copies of the JIDs, body. */
struct frame {
	struct frame_hdr hdr;
	char		 from[FRAME_JID_MAX + 1];
	char		 to[FRAME_JID_MAX + 1];
	const uint8_t	*body;		/* after the JIDs */
	size_t		 body_len;
	size_t		 pos;		/* read cursor of frame_get_* */
	int		 fd;		/* -1 unless RFF_FD; the handler owns it */
};

/* A frame being built; link_send() finalizes the header and takes it. */
struct fout {
	struct frame_hdr hdr;
	uint8_t		*buf;		/* header space + JIDs + body */
	size_t		 len;
	size_t		 cap;
	int		 fd;
	int		 failed;	/* an allocation failed: send refuses */
	struct fout	*next;		/* link queue */
	size_t		 off;		/* bytes already written */
	uint64_t	 seq;		/* link sequence (1 = first frame sent) */
	int		 retain;	/* link keeps it until acked (RF_ACK) */
	struct timespec	 held;		/* routerd: when it began to wait */
};

/* Encoding and decoding of the fixed header. */
void	frame_hdr_encode(const struct frame_hdr *, uint8_t out[FRAME_HDR_LEN]);
void	frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], struct frame_hdr *);
/* Rules 1-2 of docs/frames.md; 0 or -1 with errno and a reason. */
int	frame_hdr_check(const struct frame_hdr *, uint32_t max_frame,
	    const char **why);
/* Fill `f` from a complete, checked frame in `buf` (len == hdr.len). */
int	frame_parse(const uint8_t *buf, size_t len, uint32_t max_frame,
	    struct frame *f, const char **why);
const char *frame_type_name(uint16_t);

/* Building. from/to may be NULL. */
struct fout *fout_new(uint16_t type, const char *from, const char *to);
struct fout *fout_stanza(uint8_t kind, uint8_t stype, const char *from,
	    const char *to, const void *xml, size_t len);
void	fout_put_u8(struct fout *, uint8_t);
void	fout_put_u16(struct fout *, uint16_t);
void	fout_put_u32(struct fout *, uint32_t);
void	fout_put_u64(struct fout *, uint64_t);
void	fout_put_str(struct fout *, const char *);	/* u32 len, bytes, NUL */
void	fout_put_strn(struct fout *, const char *, size_t);
void	fout_put_data(struct fout *, const void *, size_t);	/* u32 len, bytes */
void	fout_put_raw(struct fout *, const void *, size_t);	/* bytes only */
void	fout_set_fd(struct fout *, int);	/* sets RFF_FD; the link closes it after sending */
void	fout_finish(struct fout *);	/* writes the header into buf */
void	fout_free(struct fout *);
/* A copy of a received frame (to forward it); origin etc. may be changed after. */
struct fout *fout_copy(const struct frame *);
/* A copy of a built frame (header fields, bytes; not its fd or queue place). */
struct fout *fout_dup(const struct fout *);

/* Reading. Each returns 0, or -1 when the body is too short. */
int	frame_get_u8(struct frame *, uint8_t *);
int	frame_get_u16(struct frame *, uint16_t *);
int	frame_get_u32(struct frame *, uint32_t *);
int	frame_get_u64(struct frame *, uint64_t *);
/* A string put with fout_put_str: points into the body, NUL-terminated,
 * with no NUL inside. */
int	frame_get_str(struct frame *, const char **, size_t *);
int	frame_get_data(struct frame *, const uint8_t **, size_t *);
/* All remaining bytes (e.g. a stanza payload). */
void	frame_get_rest(struct frame *, const uint8_t **, size_t *);
/* 0 if the whole body was consumed, -1 otherwise. */
int	frame_get_end(struct frame *);

#endif
