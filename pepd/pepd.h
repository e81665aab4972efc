/*
 * pepd.h - private to pepd, the publish-subscribe daemon (XEP-0060 on
 * pubsub.<host>; XEP-0163 PEP on accounts once routerd routes it).
 *
 * The model: a pubsub service is named by a JID ("pubsub.<host>", or an
 * account's bare JID for PEP).  A node belongs to one service and holds
 * its configuration, its affiliations and its subscriptions in memory
 * (loaded from LMDB at start, rewritten on every change); its items live
 * only in LMDB (pepd_item.c).  Every list is bounded by a PEP_MAX_*
 * below.  docs/pep.md describes the behaviour and the store layout.
 */
#ifndef RAMPART_PEPD_H
#define RAMPART_PEPD_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "frame.h"
#include "jid.h"
#include "sandbox.h"
#include "dataform.h"
#include "xml.h"

#define PEP_MAX_HOSTS		64
/* Defaults of the configurable limits (pep-max-nodes, pep-max-nodes-per-
 * owner, pep-max-items); the names without _DEF are what is in force. */
#define PEP_DEF_MAX_NODES	20000	/* per pepd */
#define PEP_DEF_MAX_NODES_OWNER	100	/* nodes one entity may own */
#define PEP_DEF_MAX_ITEMS	1000	/* ceiling of pubsub#max_items */
#define PEP_MAX_NODES		(pep_limits.max_nodes)
#define PEP_MAX_NODES_OWNER	(pep_limits.max_nodes_owner)
#define PEP_MAX_ITEMS		(pep_limits.max_items)
#define PEP_MAX_GROUPS		64	/* roster groups of a contact, of a node */
#define PEP_MAX_GROUP		1024	/* bytes of one roster group name */
#define PEP_DEF_ITEMS		10
#define PEP_MAX_AFFS		1000	/* affiliations per node */
#define PEP_MAX_SUBS		10000	/* subscriptions per node */
#define PEP_MAX_NAME		256	/* node names and item ids, bytes */
#define PEP_MAX_TITLE		256
#define PEP_DEF_PAYLOAD		(256 * 1024)	/* max-stanza-size default */
#define PEP_MAX_CONTACTS	10000	/* online contacts mirrored, all owners */
#define PEP_MAX_CAPS		1000	/* caps versions cached */
#define PEP_MAX_CAPS_FEATS	64	/* +notify features kept per version */
#define PEP_MAX_CAPS_VER	256	/* bytes of a caps node or ver */
#define PEP_MAX_CAPS_PENDING	64	/* disco#info questions outstanding */
#define PEP_CAPS_TIMEOUT	20	/* seconds to answer one */

#define NS_PUBSUB		"http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER		"http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_EVENT		"http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_ERRORS	"http://jabber.org/protocol/pubsub#errors"
#define NS_PUBSUB_CONFIG	"http://jabber.org/protocol/pubsub#node_config"
#define NS_PUBSUB_PUBOPT	"http://jabber.org/protocol/pubsub#publish-options"
#define NS_PUBSUB_SUBOPT	"http://jabber.org/protocol/pubsub#subscribe_options"
#define NS_PUBSUB_META		"http://jabber.org/protocol/pubsub#meta-data"
#define NS_DISCO_INFO		"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS		"http://jabber.org/protocol/disco#items"
#define NS_XDATA		"jabber:x:data"
#define NS_STANZAS		"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_PRIVATE		"jabber:iq:private"
#define NS_BOOKMARKS_OLD	"storage:bookmarks"	/* XEP-0048 */
#define NS_BOOKMARKS		"urn:xmpp:bookmarks:1"	/* XEP-0402 */

/* XEP-0060 4.1 affiliations, in increasing power (outcast lowest). */
enum pep_aff { PAFF_OUTCAST = -1, PAFF_NONE = 0, PAFF_MEMBER, PAFF_PUBLISHER,
	PAFF_OWNER };
/* XEP-0060 4.5 access models. */
enum pep_access { PACC_OPEN = 0, PACC_PRESENCE, PACC_ROSTER, PACC_WHITELIST };
/* pubsub#publish_model */
enum pep_pubmodel { PPUB_PUBLISHERS = 0, PPUB_SUBSCRIBERS, PPUB_OPEN };
/* pubsub#send_last_published_item */
enum pep_sendlast { PSL_NEVER = 0, PSL_ON_SUB, PSL_ON_SUB_AND_PRESENCE };

struct pep_config {
	unsigned		 max_items;	/* 1..PEP_MAX_ITEMS */
	int			 persist_items;
	int			 deliver_payloads;
	int			 notify_retract;
	int			 notify_delete;
	enum pep_access		 access;
	enum pep_pubmodel	 publish_model;
	enum pep_sendlast	 send_last;
	char			 title[PEP_MAX_TITLE + 1];
};

struct pep_affent {
	char		*jid;		/* normalized bare JID */
	enum pep_aff	 aff;
	struct pep_affent	*next;
};

struct pep_sub {
	char		*jid;		/* normalized, bare or full */
	char		 subid[24];
	struct pep_sub	*next;
};

/* A list of roster group names (pubsub#roster_groups_allowed, or the
 * groups an owner put a contact in), at most PEP_MAX_GROUPS. */
struct pep_groups {
	char		**v;
	size_t		  n;
};

struct pep_node {
	char		*service;	/* "pubsub.host" or an account */
	char		*name;
	struct pep_config cfg;
	struct pep_groups groups;	/* roster_groups_allowed */
	struct pep_affent	*affs;
	size_t		 naffs;
	struct pep_sub	*subs;
	size_t		 nsubs;
	struct pep_node	*next;
};

struct pep_limits {
	unsigned	 max_nodes;
	unsigned	 max_nodes_owner;
	unsigned	 max_items;
};

struct pep_conf {
	char		 store_dir[4096];
	char		 hosts[PEP_MAX_HOSTS][JID_PART_MAX + 1];
	int		 nhosts;
	size_t		 max_payload;	/* bytes of one item's payload */
	enum { PEP_CREATE_LOCAL, PEP_CREATE_ANYONE, PEP_CREATE_NOBODY }
			 create;	/* pubsub-create, on pubsub.<host> */
};

/* A request as the handlers see it. */
struct pep_stanza {
	struct xnode	*x;
	uint8_t		 kind, stype;
	char		 from_s[JID_MAX + 1];	/* full JID of the requester */
	char		 from_bare[JID_MAX + 1];
	char		 to_s[JID_MAX + 1];	/* as addressed (reply from) */
	char		 service[JID_MAX + 1];	/* the service's JID */
	int		 pep;			/* service is an account */
};

extern struct pep_conf	 pep_conf;
extern struct pep_limits pep_limits;		/* pepd_node.c */
extern struct pep_node	*pep_nodes;
extern size_t		 pep_nnodes;
extern struct store	*pep_store;
extern const struct sandbox_policy pepd_policy;

/* pepd.c: sending and replying. */
int	pep_send(const char *from, const char *to, struct xnode *);
void	pep_reply_error(struct pep_stanza *, const char *type, const char *cond,
	    const char *pubsub_cond);
void	pep_reply_unsupported(struct pep_stanza *, const char *feature);
void	pep_reply_result(struct pep_stanza *, struct xnode *payload);
int	pep_is_host(const char *domain);

/* pepd_node.c: nodes, affiliations, subscriptions and their records. */
void	pep_config_default(struct pep_config *, int pep);
struct pep_node *pep_node_find(const char *service, const char *name);
struct pep_node *pep_node_new(const char *service, const char *name);
void	pep_node_free(struct pep_node *);
void	pep_node_destroy(struct pep_node *);	/* unlink, forget, free */
size_t	pep_nodes_owned(const char *service, const char *bare);
enum pep_aff pep_aff_get(const struct pep_node *, const char *bare);
int	pep_aff_set(struct pep_node *, const char *bare, enum pep_aff);
const char *pep_aff_name(enum pep_aff);
int	pep_aff_parse(const char *, enum pep_aff *);
struct pep_sub *pep_sub_find(struct pep_node *, const char *jid);
struct pep_sub *pep_sub_add(struct pep_node *, const char *jid);
int	pep_sub_del(struct pep_node *, const char *jid);
void	pep_subs_del_bare(struct pep_node *, const char *bare);
int	pep_node_save(struct pep_node *);
int	pep_node_encode(const struct pep_node *, struct xbuf *);
struct pep_node *pep_node_decode(const char *, size_t);
int	pep_nodes_load(void);
/* May `bare` see items and subscribe (XEP-0060 6.1.3 access checks)?
 * 0, or -1 with *cond, *pcond set to the error to send. */
int	pep_may_access(struct pep_node *, const char *bare, const char **type,
	    const char **cond, const char **pcond);

/* pepd_item.c: the item store.  `key` is the node's key (service NUL
 * name NUL); cb gets id, publisher, payload (not NUL-terminated). */
struct pep_item {
	const char	*id;
	const char	*publisher;
	const char	*payload;
	size_t		 payload_len;
	uint64_t	 seq;
};
typedef int (*pep_item_cb)(const struct pep_item *, void *);
size_t	pep_node_key(const char *service, const char *name, char *buf,
	    size_t size);
int	pep_item_put(struct store *, const char *key, size_t klen,
	    const char *id, const char *publisher, const char *payload,
	    size_t plen, unsigned max_items, uint64_t seq);
int	pep_item_del(struct store *, const char *key, size_t klen,
	    const char *id);
/* The newest `max` items (0: all), oldest first. */
int	pep_item_list(struct store *, const char *key, size_t klen,
	    unsigned max, pep_item_cb, void *);
int	pep_item_get(struct store *, const char *key, size_t klen,
	    const char *id, pep_item_cb, void *);
int	pep_item_purge(struct store *, const char *key, size_t klen);
int	pep_item_trim(struct store *, const char *key, size_t klen,
	    unsigned max_items);
size_t	pep_item_count(struct store *, const char *key, size_t klen);

/* pepd_form.c: the node configuration form (XEP-0060 8.2, 16.4). */
struct xnode *pep_config_form(const struct pep_config *, const char *type);
/* Apply the fields of a submitted form on `cfg`: 0, or -1 (bad value). */
int	pep_config_apply(struct pep_config *, const struct xnode *x);
int	pep_config_equal(const struct pep_config *, const struct pep_config *);
/* A new unlabelled field: common/dataform.c. */
#define pep_form_field(x, var, type, value) \
	dataform_field((x), (var), (type), NULL, (value))
/* The jabber:x:data child of `parent`, or NULL. */
struct xnode *pep_form_find(const struct xnode *parent);
const char *pep_form_type(const struct xnode *x);	/* FORM_TYPE or NULL */

/* pepd_groups.c: roster groups (XEP-0060 4.5, access model roster). */
void	pep_groups_clear(struct pep_groups *);
int	pep_groups_add(struct pep_groups *, const char *, size_t);
int	pep_groups_meet(const struct pep_groups *, const struct pep_groups *);
/* pubsub#roster_groups_allowed of a submitted form: 1 given (into *out),
 * 0 absent, -1 bad (too many, too long). */
int	pep_groups_from_form(const struct xnode *form, struct pep_groups *out);
void	pep_groups_to_form(struct xnode *form, const struct pep_groups *);
void	pep_groups_encode(struct xnode *rec, const struct pep_groups *);
void	pep_groups_decode(const struct xnode *child, struct pep_groups *);

/* pepd_iq.c: requests (pubsub, pubsub#owner, disco). */
void	pep_iq(struct pep_stanza *);
void	pep_owner_iq(struct pep_stanza *, struct xnode *ps);
void	pep_disco(struct pep_stanza *, struct xnode *q);
struct pep_node *pep_iq_create_node(struct pep_stanza *, const char *name,
	    const struct xnode *form);
int	pep_iq_store_item(struct pep_node *, const char *id,
	    const char *publisher, struct xbuf *payload);
/* pepd_bookmarks.c: XEP-0049 storage:bookmarks on the XEP-0402 node. */
void	pep_bookmarks_iq(struct pep_stanza *, struct xnode *query);
/* pepd_notify.c: events to subscribers. */
void	pep_notify_items(struct pep_node *, struct xnode *items);
void	pep_notify_simple(struct pep_node *, const char *what);
void	pep_send_last(struct pep_node *, const char *to);
/* An <item id=...> under `parent` in `ns`, with the payload if asked. */
int	pep_item_to_xml(struct xnode *parent, const struct pep_item *,
	    const char *ns, int payload);
/* pepd_contacts.c: what PEP needs from imd (docs/pep.md, "Contacts").
 * 1 if `contact` has a presence subscription to `owner`'s presence. */
int	pep_contact_subscribed(const char *owner, const char *contact);
/* 1 if `owner` put `contact` in one of `allowed` (imd's frames). */
int	pep_contact_in_groups(const char *owner, const char *contact,
	    const struct pep_groups *allowed);
void	pep_contacts_frame(struct frame *);		/* RF_PEP_PRESENCE */
void	pep_contacts_fanout(struct pep_node *, struct xnode *msg);
void	pep_contacts_free(void);
/* ... and what pepd_caps.c tells it about a version. */
void	pep_contacts_caps_known(const char *hash, const char *ver);
void	pep_contacts_caps_bad(const char *full, const char *hash,
	    const char *ver);
void	pep_contacts_caps_retry(void);

/* pepd_caps.c: entity capabilities (XEP-0115), verified and cached. */
struct pep_caps;
void	pep_caps_init(void);
int	pep_caps_algo_ok(const char *hash);
int	pep_caps_ver(const struct xnode *query, const char *hash, char *out,
	    size_t size);
struct pep_caps *pep_caps_find(const char *hash, const char *ver);
int	pep_caps_is_known(const struct pep_caps *);
int	pep_caps_wants(const struct pep_caps *, const char *node);
int	pep_caps_ask(const char *from, const char *to, const char *node,
	    const char *hash, const char *ver);
int	pep_caps_reply(struct pep_stanza *);		/* 1: taken */
void	pep_caps_gone(const char *full);
void	pep_caps_free(void);
void	pep_caps_stats(size_t *entries, size_t *pending);

#endif
