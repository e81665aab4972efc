/*
 * imd.h - private to imd, the instant-messaging and presence daemon
 * (RFC 6121 and the IM extensions).  docs/imd.md describes the contract
 * with routerd and c2sd; this header is the contract between imd's files.
 *
 * What reaches imd (RF_STANZA from routerd, `origin` = the link it came
 * from): every message and presence a local session sends (outbound), every
 * message and presence addressed to a local account or to a full JID with
 * no session (inbound), iq addressed to a local bare JID, and stanzas c2sd
 * could not deliver (RFF_UNDELIVERED: store offline).  Plus the session
 * mirror: RF_SESSION_PRESENCE and RF_SESSION_GONE.
 *
 * What imd sends: stanzas to full JIDs of sessions (deliveries, roster
 * pushes, presence) and to remote JIDs.  imd never sends a stanza to a local
 * bare JID: it processes local-to-local traffic itself, inbound right after
 * outbound.  A frame routerd cannot deliver comes back as RF_BOUNCE; for a
 * message that means "store offline" (imd_offline_store) or an error.
 *
 * Bodies are in the jabber:client default namespace without a declaration
 * (docs/frames.md): parsed elements of a body have ns "" at the root, which
 * imd treats as jabber:client.
 *
 * Invariants: LMDB writes that acknowledge something are committed before
 * the acknowledgement; every per-account list has a configured bound.
 */
#ifndef RAMPART_IMD_H
#define RAMPART_IMD_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "frame.h"
#include "jid.h"
#include "sandbox.h"
#include "stanza.h"
#include "xml.h"

struct store;
struct store_txn;

#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ROSTER	"jabber:iq:roster"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_MAM		"urn:xmpp:mam:2"
#define NS_CARBONS	"urn:xmpp:carbons:2"
#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_SID		"urn:xmpp:sid:0"
#define NS_BLOCKING	"urn:xmpp:blocking"
#define NS_VCARD	"vcard-temp"
#define NS_VCARD_UPDATE	"vcard-temp:x:update"
#define NS_PRIVATE	"jabber:iq:private"
#define NS_LAST		"jabber:iq:last"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_RSM		"http://jabber.org/protocol/rsm"
#define NS_DATA		"jabber:x:data"

#define IMD_MAX_HOSTS	64

/* Configuration (CONFIG keys from routerd; see docs/imd.md). */
struct imd_conf {
	char		 store_dir[4096];
	char		 hosts[IMD_MAX_HOSTS][JID_PART_MAX + 1];
	int		 compliance[IMD_MAX_HOSTS];	/* compliance log on */
	int		 nhosts;
	unsigned	 offline_quota;		/* messages per account */
	unsigned	 roster_max;		/* items per account */
	unsigned long long archive_retention;	/* s, 0 = forever */
	unsigned	 archive_max_page;	/* MAM page size cap */
	int		 archive_default;	/* XEP-0313 default before a
						 * user's own: 0 always, 1 never,
						 * 2 roster */
	unsigned	 presence_rate;		/* broadcasts/s/resource, 0 = any */
	char		 groups_file[4096];	/* shared groups, "" = none */
	int		 pep;			/* pepd serves PEP on accounts */
};
extern struct imd_conf imd_conf;
extern struct store *imd_store;
extern const struct sandbox_policy imd_policy;

/* One stanza being processed. */
struct imd_stanza {
	struct frame	*f;		/* header: kind, stype, origin, flags */
	struct xnode	*x;		/* the parsed body (owned by imd.c) */
	struct jid	 from;
	struct jid	 to;		/* for no 'to': the sender's bare JID */
	char		 from_s[JID_MAX + 1];	/* as in the frame */
	char		 to_s[JID_MAX + 1];
	int		 outbound;	/* sent by a local session (origin c2sd) */
};

/* imd.c: helpers every file uses. */
int	imd_is_local(const char *domain);		/* a hosted domain */
int	imd_host_index(const char *domain);		/* -1 if not hosted */
/* Serialize `x` (to/from attributes set from the arguments) and send it as
 * RF_STANZA; kind and stype are read from the element.  0 or -1. */
int	imd_send(const char *from, const char *to, struct xnode *x);
/* The error reply to `s` (RFC 6120 8.3): swapped addresses, type="error",
 * <error type=TYPE><COND xmlns=stanzas/></error>.  Never for an error. */
void	imd_reply_error(struct imd_stanza *s, const char *type, const char *cond);
/* An iq result to `s`, with `payload` (may be NULL; taken) as child. */
void	imd_reply_result(struct imd_stanza *s, struct xnode *payload);
/* Kind/stype of an element as the frame header encodes them. */
/* Current time as XEP-0082 "YYYY-MM-DDThh:mm:ss.sssZ"; buf >= 32. */

/* imd_session.c: the mirror of routerd's session table, with presence. */
struct imd_res {
	struct imd_res	*next;		/* in its account's list */
	char		*full;		/* right after the struct, sized to the JID */
	char		*resource;	/* points into full */
	uint64_t	 sid;
	int		 priority;
	int		 available;	/* sent available broadcast presence */
	int		 interested;	/* sent initial presence: gets pushes */
	int		 carbons;	/* XEP-0280 enabled */
	struct xnode	*presence;	/* last broadcast presence, or NULL */
	char		**directed;	/* JIDs it sent directed presence to */
	size_t		 ndirected;
	struct imd_rate	*rate;		/* imd_presence_rate.c, or NULL */
};
/* The resources of a local bare JID (NULL if none). */
struct imd_res *imd_res_list(const char *bare);
struct imd_res *imd_res_find(const char *full);
void	imd_res_each(void (*)(struct imd_res *, void *), void *);
void	imd_session_presence(struct frame *);	/* RF_SESSION_PRESENCE */
void	imd_session_gone(struct frame *);	/* RF_SESSION_GONE */

/* imd_presence.c: RFC 6121 4 (broadcast, probes, directed, unavailable). */
void	imd_presence_outbound(struct imd_stanza *);
void	imd_presence_inbound(struct imd_stanza *);
/* The session ended without unavailable presence: broadcast it for them. */
void	imd_presence_gone(struct imd_res *);
/* Broadcast an available presence that was held by the rate limit. */
void	imd_presence_available(struct imd_res *, struct xnode *);
/* imd_presence_rate.c: at most presence-rate broadcasts/s per resource. */
int	imd_presence_rate_hold(struct imd_res *, const struct xnode *);
void	imd_presence_rate_cancel(struct imd_res *);
void	imd_presence_rate_free(struct imd_res *);

/* imd_roster.c: RFC 6121 2 and 3 (roster, subscriptions, versioning). */
struct imd_item {
	char		 jid[JID_MAX + 1];
	char		*name;
	char		**groups;
	size_t		 ngroups;
	uint8_t		 sub;		/* IMD_SUB_* */
	uint8_t		 ask;		/* 1: subscribe sent (pending out) */
	uint8_t		 approved;	/* pre-approved (RFC 6121 3.4) */
};
enum { IMD_SUB_NONE, IMD_SUB_TO, IMD_SUB_FROM, IMD_SUB_BOTH, IMD_SUB_REMOVE };
/* Load one item of `owner`'s roster (shared groups included); 0 found,
 * 1 none, -1 error.  Free with imd_item_clear(). */
int	imd_roster_get(const char *owner_bare, const char *contact_bare,
	    struct imd_item *);
void	imd_item_clear(struct imd_item *);
/* Visit every item of `owner` (shared groups included). */
int	imd_roster_each(const char *owner_bare,
	    int (*cb)(const struct imd_item *, void *), void *arg);
int	imd_roster_iq(struct imd_stanza *);
void	imd_subscription_outbound(struct imd_stanza *);
void	imd_subscription_inbound(struct imd_stanza *);
/* Does `owner` let `contact` see its presence (sub from/both)? */
int	imd_roster_shares_presence(const char *owner_bare, const char *contact_bare);

/* imd_deliver.c: messages, RFC 6121 8.5. */
struct imd_piece {
	const char	*p;
	size_t		 len;
};
#define IMD_PIECES_MAX	5	/* a message: start, `to` value, rest,
				   <stanza-id/>, end tag */
void	imd_message_outbound(struct imd_stanza *);
void	imd_message_inbound(struct imd_stanza *);
/* A frame came back undeliverable (RF_BOUNCE) or c2sd returned it. */
void	imd_message_undelivered(struct frame *);
/* A plain message (RFF_PLAINMSG) from a local session to a local account
 * with a session that takes it, handled from its body bytes when nothing
 * needs a tree (docs/performance.md); 1 if it was handled, 0 if the caller
 * must take the parsing path. */
int	imd_message_fast(struct frame *, const uint8_t *body, size_t len);
/* Send `n` pieces of a serialized stanza as one RF_STANZA frame. */
int	imd_send_raw(const char *from, const char *to, uint8_t stype,
	    const struct imd_piece *p, size_t n);

/* imd_offline.c: XEP-0160 with XEP-0203 delay stamps. */
/* 0 stored, -1 failed or over quota (caller answers the sender). */
int	imd_offline_store(const char *owner_bare, struct xnode *msg);
/* Send the stored messages to `res` (first available presence). */
void	imd_offline_flush(struct imd_res *res);

/* imd_mam.c (XEP-0313 + XEP-0359), imd_carbons.c (XEP-0280),
 * imd_compliance.c: called by imd_deliver.c for every message that is
 * delivered, stored or sent on. */
/* Archive `msg` in `owner`'s archive; writes the stanza-id it got into
 * `id` (>= 64 bytes) and adds <stanza-id by=owner/> to msg when incoming.
 * 0, or -1 (not archived: not fatal). */
int	imd_mam_archive(const char *owner_bare, struct xnode *msg, int incoming,
	    const char *with, char *id, size_t idlen);
/* One copy of a message for imd_mam_archive_copies(). */
struct imd_mam_copy {
	const char	*owner;		/* bare JID whose archive it goes to */
	const char	*with;		/* the other party; NULL: not archived */
	int		 incoming;
	char		 id[64];	/* out: its stanza-id, "" if not stored */
};
#define IMD_MAM_COPIES_MAX	2
/* Archive `msg` in up to IMD_MAM_COPIES_MAX archives in one write
 * transaction, serializing it once; each copy behaves as a call of
 * imd_mam_archive() (forged ids of every owner removed first, preferences,
 * <stanza-id/> added for incoming copies only after the commit).  Returns
 * how many copies were stored, or -1 when n is too large. */
int	imd_mam_archive_copies(struct xnode *msg, struct imd_mam_copy *c,
	    size_t n);
/* The same for a message already serialized as a frame body that needs
 * no forged-id removal nor archivability check (RFF_PLAINMSG): stores
 * `xml` as it is; the caller adds the incoming copies' <stanza-id/>. */
int	imd_mam_archive_raw(const char *xml, size_t len,
	    struct imd_mam_copy *c, size_t n);
int	imd_mam_iq(struct imd_stanza *);
/* "always", "never", "roster": 0, 1, 2 (imd_conf.archive_default); -1. */
int	imd_mam_pref_parse(const char *);
/* Copies of an outgoing message to the sender's other resources. */
void	imd_carbons_sent(struct imd_stanza *);
/* Copies of an incoming message delivered to `to_full` (NULL when it went to
 * none of the resources) to the recipient's other carbons resources. */
void	imd_carbons_received(const char *owner_bare, struct xnode *msg,
	    const char *to_full);
int	imd_carbons_iq(struct imd_stanza *);
/* The same two for a plain message (RFF_PLAINMSG) given as its frame body
 * (`msg`, from and to stamped); copies are made by concatenation. */
void	imd_carbons_sent_raw(const char *from_full, uint8_t stype,
	    const char *msg, size_t len);
void	imd_carbons_received_raw(const char *owner_bare, const char *to_full,
	    uint8_t stype, const struct imd_piece *msg, size_t n);
/* Append to the host's compliance log when it is on. */
void	imd_compliance_log(const char *from, const char *to, struct xnode *msg);
/* Does the host of `jid` keep a compliance log? */
int	imd_compliance_on(const char *jid);

/* handlers.c: the iq table (namespace of the payload -> handler) and the
 * disco features of accounts derived from it. */
struct imd_iq_handler {
	const char	*ns;
	const char	*elem;		/* payload element name, NULL = any */
	int		(*fn)(struct imd_stanza *);	/* 0 answered, -1 not */
	const char	*feature;	/* advertised on the account, or NULL */
};
extern const struct imd_iq_handler imd_iq_handlers[];
void	imd_iq(struct imd_stanza *);	/* dispatch or service-unavailable */
int	imd_disco_iq(struct imd_stanza *);	/* disco#info/#items of an account */

/* imd_misc.c: blocking, vcard-temp, private storage, last activity. */
int	imd_blocking_iq(struct imd_stanza *);
int	imd_is_blocked(const char *owner_bare, const char *jid);
int	imd_vcard_iq(struct imd_stanza *);
/* The XEP-0153 photo hash of `owner`, "" if none; buf >= 41. */
void	imd_vcard_photo_hash(const char *owner_bare, char *buf, size_t len);
int	imd_private_iq(struct imd_stanza *);
int	imd_last_iq(struct imd_stanza *);
void	imd_last_set(const char *owner_bare, const char *status);

/* ---- Additions by the archive/carbons/compliance part (imdarch). ---- */
/* imd_carbons.c: <forwarded xmlns=urn:xmpp:forward:0> (XEP-0297) holding a
 * copy of `msg` in an explicit jabber:client namespace, with a delay stamp
 * when `stamp` is not NULL.  NULL on allocation failure. */
struct xnode *imd_forwarded(const struct xnode *msg, const char *stamp);
/* imd_mam.c: delete up to `budget` archive entries older than the
 * retention (a no-op when it is 0); the timer calls it, tests too.
 * Returns the number deleted or -1. */
int	imd_mam_prune(uint64_t now_usec, unsigned budget);
/* imd_compliance.c: open the compliance directory ahead of the sandbox
 * (optional: pre_drop may call it; otherwise it is opened on first use). */
void	imd_compliance_open(void);


/* ---- Added by the imd core (imd.c, imd_session.c, imd_presence.c,
 * imd_roster.c, imd_subscription.c, imd_deliver.c): helpers shared between
 * the core files.  Nothing above was changed. ---- */

/* imd.c */
#define IMD_MAX_GROUP_MEMBERS	4096
struct imd_group_member {		/* "group-member" group jid */
	char	group[JID_PART_MAX + 1];
	char	jid[JID_MAX + 1];	/* bare */
};
extern struct imd_group_member imd_groups[IMD_MAX_GROUP_MEMBERS];
extern size_t	imd_ngroups;
/* A normalized JID with a localpart at a hosted domain (an account). */
int	imd_is_local_jid(const char *jid);
/* The bare part of a normalized JID into buf; -1 if it does not fit. */
int	imd_bare(const char *jid, char *buf, size_t len);
/* A namespace that means jabber:client in a frame body ("" or the URI). */
/* First child element `name` in the jabber:client namespace. */
struct xnode *imd_child(const struct xnode *, const char *name);
/* A stanza as a frame body (jabber:client undeclared at the root). */
struct xbuf;
int	imd_serialize(struct xbuf *, const struct xnode *);
/* Fill `s` for `x` from `from` to `to` (normalized JIDs); `f` is the
 * header it came with, or one imd made up.  0, or -1 for a bad JID. */
int	imd_stanza_init(struct imd_stanza *s, struct frame *f, struct xnode *x,
	    const char *from, const char *to, int outbound);

/* imd_session.c */
#define IMD_MAX_DIRECTED	256	/* directed presences remembered */
/* The resource of a local full JID, created (unavailable) if unknown;
 * NULL for a JID that is not a local full JID or out of memory. */
struct imd_res *imd_res_touch(const char *full, uint64_t sid);
int	imd_res_directed_add(struct imd_res *, const char *jid);
void	imd_res_directed_del(struct imd_res *, const char *jid);
void	imd_res_directed_clear(struct imd_res *);
void	imd_session_clear(void);		/* shutdown */

/* imd_presence.c */
/* Deliver presence `x` from `from` to a local JID: a bare JID reaches
 * every available resource, a full JID that resource. */
void	imd_presence_deliver(const char *from, const char *to, struct xnode *x);
/* Send `owner`'s current presence (every available resource) to `to`;
 * with `unavailable`, an unavailable presence from each instead. */
void	imd_presence_send_all(const char *owner_bare, const char *to,
	    int unavailable);
/* `owner`'s item changed: renew pepd's copy of its groups (docs/pep.md). */
void	imd_presence_pep_item(const char *owner_bare, const struct imd_item *);
/* RF_PEP_RESYNC: pepd restarted; the mirror of every online resource. */
void	imd_presence_pep_resync(void);
/* A block (or unblock) of `jid` covers the contact `it` (XEP-0191). */
void	imd_presence_pep_block(const char *owner_bare, const struct imd_item *,
	    const char *jid, int unblock);

/* imd_roster.c */
#define IMD_MAX_ITEM_GROUPS	64
/* Store `item` (new or changed), bump the roster version, commit, then
 * push it to the interested resources.  0, -1 error, -2 roster full. */
int	imd_roster_save(const char *owner_bare, const struct imd_item *);
int	imd_roster_remove(const char *owner_bare, const char *contact_bare);
/* Pending inbound subscription requests (RFC 6121 3.1.3). */
int	imd_pending_put(const char *owner_bare, const char *contact_bare,
	    const struct xnode *);
int	imd_pending_del(const char *owner_bare, const char *contact_bare);
int	imd_pending_exists(const char *owner_bare, const char *contact_bare);
/* Deliver every stored request of `owner` to `res`. */
void	imd_pending_flush(struct imd_res *res, const char *owner_bare);

/* imd_subscription.c */
/* Send subscription presence `type` from a local bare JID to a bare JID;
 * local contacts are processed as inbound at once.  `orig` (may be NULL)
 * supplies extra children (status, nick). */
void	imd_subscription_route(const char *from_bare, const char *to_bare,
	    const char *type, const struct xnode *orig);

/* imd_deliver.c */
/* c2sd returned `x` (RFF_UNDELIVERED): deliver elsewhere or store. */
void	imd_message_returned(struct frame *, struct xnode *x);

#endif
