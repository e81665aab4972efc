/*
 * mucd.h - private to mucd, the multi-user chat service (XEP-0045).
 *
 * The in-memory model: a list of rooms, each with its configuration, its
 * affiliations (the durable part, written to LMDB for persistent rooms),
 * its occupants (never written: they are sessions) and a bounded history
 * ring.  Every limit is a MUC_MAX_* below; every list is bounded by one.
 * docs/muc.md describes the behaviour and the store layout.
 */
#ifndef RAMPART_MUCD_H
#define RAMPART_MUCD_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "frame.h"
#include "jid.h"
#include "sandbox.h"
#include "dataform.h"
#include "stanza.h"
#include "xml.h"

#define MUC_MAX_HOSTS		64
#define MUC_MAX_ROOMS		10000	/* per mucd */
#define MUC_MAX_OCCUPANTS	5000	/* per room, whatever maxusers says */
#define MUC_MAX_SESSIONS	16	/* full JIDs sharing one nick */
#define MUC_MAX_AFFS		10000	/* affiliation entries per room */
#define MUC_MAX_HISTORY		200	/* historylength ceiling */
#define MUC_DEF_HISTORY		20
#define MUC_MAX_TEXT		1024	/* name, description, secret, reason */
#define MUC_MAX_SUBJECT		4096
#define MUC_MAM_PAGE		50	/* default and ceiling of an RSM page */
#define MUC_ORIGIN_C2SD		6	/* docs/frames.md link ids */

#define NS_MUC		"http://jabber.org/protocol/muc"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN	"http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER	"http://jabber.org/protocol/muc#owner"
#define NS_MUC_CONFIG	"http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_INFO	"http://jabber.org/protocol/muc#roominfo"
#define NS_MUC_REQUEST	"http://jabber.org/protocol/muc#request"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_XDATA	"jabber:x:data"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_MAM		"urn:xmpp:mam:2"
#define NS_RSM		"http://jabber.org/protocol/rsm"
#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_SID		"urn:xmpp:sid:0"
#define NS_OCCID	"urn:xmpp:occupant-id:0"
#define NS_PING		"urn:xmpp:ping"
#define NS_CONFERENCE	"jabber:x:conference"
#define NS_REGISTER	"jabber:iq:register"
#define NS_MUC_REGISTER	"http://jabber.org/protocol/muc#register"
#define MUC_MAX_LISTED	64	/* JIDs in roomowners / roomadmins */

enum muc_aff { AFF_NONE = 0, AFF_OUTCAST, AFF_MEMBER, AFF_ADMIN, AFF_OWNER };
enum muc_role { ROLE_NONE = 0, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR };
enum muc_pm { PM_ANYONE = 0, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };

struct muc_config {
	char		 name[MUC_MAX_TEXT + 1];
	char		 desc[MUC_MAX_TEXT + 1];
	char		 secret[MUC_MAX_TEXT + 1];
	int		 persistent;
	int		 public;
	int		 membersonly;
	int		 moderated;
	int		 passwordprotected;
	int		 whois_anyone;		/* non-anonymous */
	int		 changesubject;		/* participants may */
	int		 allowinvites;		/* participants may */
	int		 logging;		/* archive (XEP-0313), code 170 */
	enum muc_pm	 allowpm;
	unsigned	 maxusers;		/* 0 = MUC_MAX_OCCUPANTS */
	unsigned	 historylength;
};

struct muc_affent {
	char		*jid;			/* normalized bare JID (or domain) */
	enum muc_aff	 aff;
	char		*reason;		/* may be NULL */
	char		*nick;			/* registered nick (7.10) or NULL */
	struct muc_affent *next;
};

struct muc_occupant {
	char		*nick;
	char		*bare;			/* real bare JID */
	char		*sessions[MUC_MAX_SESSIONS];	/* real full JIDs */
	size_t		 nsessions;
	enum muc_role	 role;
	struct xnode	*presence;		/* last available presence */
	char		 occid[48];		/* XEP-0421 id */
	struct muc_occupant *next;
};

struct muc_hist {
	struct xnode	*msg;			/* from = room/nick, no to */
	uint64_t	 usec;
	size_t		 chars;			/* serialized size */
};

struct muc_room {
	char		*jid;			/* node@conference.host */
	struct muc_config cfg;
	struct muc_affent *affs;
	size_t		 naffs;
	struct muc_occupant *occupants;
	size_t		 noccupants;
	char		*subject;		/* NULL: never set */
	char		*subject_from;		/* room/nick that set it */
	struct muc_hist	 hist[MUC_MAX_HISTORY];
	size_t		 hist_first, hist_count;	/* ring */
	int		 locked;		/* 201 until configured */
	uint8_t		 secret[32];		/* XEP-0421 HMAC key */
	uint64_t	 last_id;		/* archive ids are increasing */
	struct muc_room	*next;
};

struct muc_conf {
	char		 store_dir[4096];
	unsigned long long retention;		/* archive seconds, 0 = forever */
	char		 hosts[MUC_MAX_HOSTS][JID_PART_MAX + 1];
	int		 compliance[MUC_MAX_HOSTS];
	int		 nhosts;
};

/* A stanza as the handlers see it: parsed, with its addresses split. */
struct muc_stanza {
	struct xnode	*x;
	uint8_t		 kind, stype;
	char		 from_s[JID_MAX + 1];	/* real full JID */
	char		 to_s[JID_MAX + 1];
	char		 from_bare[JID_MAX + 1];
	char		 room_jid[JID_MAX + 1];	/* to without resource */
	const char	*nick;			/* to's resource or NULL */
	struct jid	 to;
	int		 host;			/* index of the hosted domain */
};

extern struct muc_conf	 muc_conf;
extern struct muc_room	*muc_rooms;
extern size_t		 muc_nrooms;
extern struct store	*muc_store;
extern const struct sandbox_policy mucd_policy;

/* mucd.c: sending and replying. */
int	muc_send(const char *from, const char *to, struct xnode *);
struct fout;
int	muc_send_frame(struct fout *);	/* link_send, spilling when full */
void	muc_reply_error(struct muc_stanza *, const char *type, const char *cond);
void	muc_reply_result(struct muc_stanza *, struct xnode *payload);
int	muc_serialize(struct xbuf *, const struct xnode *);
const char *muc_service_host(const char *domain);	/* host or NULL */

/* mucd_room.c: rooms, occupants, affiliations, configuration. */
struct muc_room *muc_room_find(const char *jid);
struct muc_room *muc_room_new(const char *jid);
void	muc_room_free(struct muc_room *);
void	muc_room_destroy(struct muc_room *);	/* unlink, forget, free */
void	muc_room_default_config(struct muc_config *);
struct muc_occupant *muc_occ_by_nick(struct muc_room *, const char *nick);
struct muc_occupant *muc_occ_by_jid(struct muc_room *, const char *full);
struct muc_occupant *muc_occ_new(struct muc_room *, const char *nick,
	    const char *full, const char *bare);
int	muc_occ_add_session(struct muc_occupant *, const char *full);
int	muc_occ_del_session(struct muc_occupant *, const char *full);
void	muc_occ_remove(struct muc_room *, struct muc_occupant *);
enum muc_aff muc_aff_get(struct muc_room *, const char *bare);
int	muc_aff_set(struct muc_room *, const char *bare, enum muc_aff,
	    const char *reason);
size_t	muc_aff_count(struct muc_room *, enum muc_aff);
enum muc_role muc_role_for(struct muc_room *, enum muc_aff);
const char *muc_nick_reserved(struct muc_room *, const char *bare);
const char *muc_nick_owner(struct muc_room *, const char *nick);
int	muc_nick_reserve(struct muc_room *, const char *bare, const char *nick);
const char *muc_aff_name(enum muc_aff);
const char *muc_role_name(enum muc_role);
int	muc_aff_parse(const char *, enum muc_aff *);
int	muc_role_parse(const char *, enum muc_role *);
void	muc_occupant_id(struct muc_room *, const char *bare, char *out, size_t);
void	muc_hist_add(struct muc_room *, struct xnode *msg, uint64_t usec);
void	muc_hist_clear(struct muc_room *);
int	muc_room_count_users(struct muc_room *);

/* mucd_form.c: the configuration form (muc#roomconfig) and roominfo. */
struct xnode *muc_config_form(struct muc_room *);
/* Apply a submitted form; 0, or -1 (bad-request / not-acceptable). */
int	muc_config_apply(struct muc_room *, const struct xnode *x,
	    struct muc_config *out);
struct xnode *muc_roominfo_form(struct muc_room *);
/* roomowners / roomadmins of a submitted form (10.2): n = -1 if absent. */
struct muc_jidlist {
	char		 jid[MUC_MAX_LISTED][JID_MAX + 1];
	int		 n;
};
int	muc_config_lists(const struct xnode *x, struct muc_jidlist *owners,
	    struct muc_jidlist *admins);
/* A field's first value, and a new field: common/dataform.c. */
#define muc_form_value	dataform_value
#define muc_form_field	dataform_field

/* mucd_store.c: persistence and the room archive. */
int	muc_store_load(void);
int	muc_store_save(struct muc_room *);
void	muc_store_forget(struct muc_room *);
uint64_t muc_archive_add(struct muc_room *, struct xnode *msg, uint64_t usec);
int	muc_room_encode(struct muc_room *, struct xbuf *);
int	muc_room_decode(struct muc_room *, const char *, size_t);
void	muc_archive_prune(uint64_t before_usec);	/* retention */
uint64_t muc_get_be64(const uint8_t *);
void	muc_retention_start(void);

/* mucd_bcast.c: one serialization, many recipients. */
struct muc_bcast {
	struct xbuf	 pre;		/* "<message" */
	struct xbuf	 post;		/* " from='...' ...>...</message>" */
	uint8_t		 kind, stype;
	char		 from[JID_MAX + 1];
};
int	muc_bcast_init(struct muc_bcast *, const char *from, struct xnode *);
int	muc_bcast_send(struct muc_bcast *, const char *to);
void	muc_bcast_free(struct muc_bcast *);
int	muc_bcast_occupants(struct muc_room *, const char *from, struct xnode *,
	    const struct muc_occupant *skip);

/* mucd_presence.c */
void	muc_presence(struct muc_stanza *);
/* Status codes for everyone and for the occupant's own sessions (which
 * also get 110); `reason`, `newnick` (303) may be NULL. */
struct muc_codes {
	int		 all[4];
	size_t		 nall;
	int		 self[6];
	size_t		 nself;
	const char	*reason;
	const char	*newnick;
	const char	*actor;		/* nick of the moderator, or NULL */
	int		 noself;	/* its sessions are gone: skip them */
};
void	muc_occ_broadcast_presence(struct muc_room *, struct muc_occupant *,
	    int unavailable, const struct muc_codes *);
void	muc_occ_kick(struct muc_room *, struct muc_occupant *, int code,
	    const char *reason);
void	muc_occ_update_role(struct muc_room *, struct muc_occupant *);
void	muc_bounced(struct frame *);
void	muc_room_maybe_gc(struct muc_room *);
void	muc_shutdown_rooms(void);	/* 332 to every occupant */

/* mucd_message.c */
void	muc_message(struct muc_stanza *);
void	muc_status_message(struct muc_room *, const int *codes, size_t ncodes);
void	muc_send_history(struct muc_room *, const char *to,
	    const struct xnode *history);
void	muc_send_subject(struct muc_room *, const char *to);

/* mucd_iq.c: disco, ping, admin, owner, iq routing. */
void	muc_iq(struct muc_stanza *);
/* mucd_proxy.c: requests between occupants and their answers. */
void	muc_proxy_request(struct muc_stanza *, struct muc_room *,
	    const struct muc_occupant *asker, const struct muc_occupant *target);
void	muc_proxy_answer(struct muc_stanza *, struct muc_room *,
	    const struct muc_occupant *answerer);
/* mucd_admin.c, mucd_owner.c */
void	muc_admin_iq(struct muc_stanza *, struct muc_room *, struct xnode *q);
/* Set an affiliation and apply it to those present (kick 301/321, roles). */
int	muc_aff_change(struct muc_room *, const char *bare, enum muc_aff,
	    const char *reason);
/* mucd_register.c: room registration (7.10), reserved nicks (7.12). */
void	muc_register_iq(struct muc_stanza *, struct muc_room *, struct xnode *q);
void	muc_owner_iq(struct muc_stanza *, struct muc_room *, struct xnode *q);
/* mucd_mam.c */
void	muc_mam_query(struct muc_stanza *, struct muc_room *);

/* mucd_compliance.c */
void	muc_compliance_open(void);
void	muc_compliance_log(int host, const char *from, const char *room_from,
	    const char *to, const struct xnode *msg);

#endif
