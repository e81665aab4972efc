/*
 * imd_misc.c - the account-data iqs of imd: private XML storage (XEP-0049)
 * and last activity (XEP-0012) here, blocking (XEP-0191) in imd_blocking.c
 * and vcard-temp (XEP-0054, XEP-0153) in imd_vcard.c; plus what the three
 * share (imd_misc.h): the key scheme and the reply helpers.
 *
 * Called by handlers.c (imd_private_iq, imd_last_iq, for an iq addressed
 * to a local bare JID or with no 'to') and by imd's session code
 * (imd_last_set when an account's last resource goes offline).
 *
 * Everything lives in one LMDB database, "misc", with one key prefix per
 * subject (docs/imd.md, "Account data"):
 *
 *	'b' ACCT 0 ITEM		blocked JID (value: the normalized JID)
 *	'v' ACCT		the vCard, serialized with its xmlns
 *	'h' ACCT		the XEP-0153 hash of its photo (40 hex, or empty)
 *	'p' ACCT 0 NSKEY	private XML of one namespace, serialized
 *	'l' ACCT		last logout: 8-byte little-endian usec, then
 *				the status text
 *
 * ACCT is the bare JID and ITEM/NSKEY the JID or namespace when they are
 * at most KEYPART_MAX bytes, else "=" and the hex BLAKE2b-256 of them:
 * LMDB keys are at most 511 bytes, JIDs up to 3071.  No JID or namespace
 * that is stored verbatim can start with "=" and be 65 bytes of hex (a
 * domain has no "=", a localpart is followed by "@"), so the forms never
 * collide.
 *
 * Invariants: every write is one short transaction committed before the
 * result is sent; every list is bounded (MISC_MAX_*); nothing a client
 * sends reaches fatal().  A read transaction is never opened while the
 * caller holds a write transaction (callers never do).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "imd_misc.h"
#include "log.h"
#include "store.h"

#define MISC_MAX_PRIVATE	(64 * 1024)	/* bytes per namespace */
#define MISC_MAX_PRIVATE_NS	128		/* namespaces per account */
#define MISC_MAX_STATUS		1024		/* last-activity status bytes */

/* ---- keys ---- */

/* Append `s` to key `k` at `*off` verbatim or as "=" + hex digest. */
static void
key_part(char *k, size_t *off, const char *s)
{
	unsigned char	 h[32];
	size_t		 len = strlen(s);

	if (len <= KEYPART_MAX) {
		memcpy(k + *off, s, len);
		*off += len;
		return;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)s, len, NULL, 0);
	k[(*off)++] = '=';
	sodium_bin2hex(k + *off, 65, h, sizeof(h));
	*off += 64;
}

/* The key `tag` ACCT [0 ITEM]; returns its length.  `k` has KEY_MAX. */
size_t
misc_key(char *k, char tag, const char *acct, const char *item)
{
	size_t	 off = 0;

	k[off++] = tag;
	key_part(k, &off, acct);
	if (item != NULL) {
		k[off++] = '\0';
		key_part(k, &off, item);
	}
	return off;
}

/* ---- replies ---- */

/* An error reply with a human-readable <text/> (RFC 6120 8.3.2), for the
 * limits whose reason a user should see. */
void
misc_reply_text(struct imd_stanza *s, const char *type, const char *cond,
    const char *text)
{
	struct xnode	*iq, *e, *t;
	char		 from[JID_MAX + 1];
	const char	*id;

	if (jid_format_bare(&s->to, from, sizeof(from)) < 0)
		return;
	if ((iq = xnode_new("iq", XMLNS_CLIENT)) == NULL ||
	    (e = xnode_add_child(iq, "error", XMLNS_CLIENT)) == NULL ||
	    xnode_add_child(e, cond, NS_STANZAS) == NULL ||
	    (t = xnode_add_child(e, "text", NS_STANZAS)) == NULL) {
		xnode_free(iq);
		imd_reply_error(s, type, cond);	/* at least the condition */
		return;
	}
	xnode_set_attr(iq, "type", "error");
	if ((id = xnode_attr(s->x, "id")) != NULL)
		xnode_set_attr(iq, "id", id);
	xnode_set_attr(e, "type", type);
	xnode_set_attr_ns(t, XMLNS_XML, "lang", "en");
	xnode_add_text(t, text, strlen(text));
	if (imd_send(from, s->from_s, iq) == -1)
		log_warnx("misc: error reply to %s not sent", s->from_s);
	xnode_free(iq);
}

const char *
misc_iq_type(struct imd_stanza *s)
{
	const char	*t = xnode_attr(s->x, "type");

	return t != NULL ? t : "";
}

/* The iq is the user's own (no 'to', or 'to' its bare JID). */
int
misc_own(struct imd_stanza *s)
{
	return s->to.resource[0] == '\0' && jid_bare_equal(&s->from, &s->to);
}

struct store_txn *
misc_begin(int write)
{
	if (imd_store == NULL)
		return NULL;
	return store_begin(imd_store, write);
}

/* ---- private XML storage (XEP-0049) ---- */

/* XEP-0049 2.3: the protocol's own and the stream namespaces are refused.
 * A parsed ns "" is jabber:client (imd.h). */
static int
private_ns_ok(const char *ns)
{
	return ns[0] != '\0' && strcmp(ns, XMLNS_CLIENT) != 0 &&
	    strcmp(ns, XMLNS_SERVER) != 0 && strcmp(ns, NS_PRIVATE) != 0;
}

static int
count_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

/* Store one child; 0, 1 over a limit (with *why), -1 error. */
static int
private_put(struct store_txn *t, const char *owner, const struct xnode *c,
    size_t *count, const char **why)
{
	struct xbuf	 b;
	const void	*v;
	char		 k[KEY_MAX];
	size_t		 kl, vl;
	int		 rc = -1;

	kl = misc_key(k, 'p', owner, c->ns);
	xbuf_init(&b);
	xml_serialize(&b, c, NULL);
	if (b.failed)
		goto out;
	rc = 1;
	if (b.len > MISC_MAX_PRIVATE) {
		*why = "the private data is too large";
		goto out;
	}
	if (store_get(t, MISC_DB, k, kl, &v, &vl) == 1 &&
	    ++*count > MISC_MAX_PRIVATE_NS) {
		*why = "too many private namespaces";
		goto out;
	}
	rc = store_put(t, MISC_DB, k, kl, b.data, b.len);
out:
	xbuf_free(&b);
	return rc;
}

static void
private_set(struct imd_stanza *s, const char *owner, const struct xnode *q)
{
	struct store_txn	*t;
	const struct xnode	*c;
	const char		*why = NULL;
	char			 k[KEY_MAX];
	size_t			 kl, count = 0;
	int			 rc = 0;

	if ((t = misc_begin(1)) == NULL)
		goto fail;
	kl = misc_key(k, 'p', owner, NULL);
	k[kl++] = '\0';
	if (store_scan(t, MISC_DB, k, kl, count_cb, &count) == -1) {
		store_abort(t);
		goto fail;
	}
	for (c = xnode_first_elem(q); c != NULL && rc == 0;
	    c = xnode_next_elem(c))
		rc = private_put(t, owner, c, &count, &why);
	if (rc != 0) {
		store_abort(t);
		if (rc == -1)
			goto fail;
		misc_reply_text(s, "modify", "not-acceptable", why);
		return;
	}
	if (store_commit(t) == -1)
		goto fail;
	imd_reply_result(s, NULL);
	return;
fail:
	log_warn("private: %s: store", owner);
	imd_reply_error(s, "wait", "internal-server-error");
}

static void
private_get(struct imd_stanza *s, const char *owner, const struct xnode *c)
{
	struct store_txn	*t;
	struct xnode		*q, *data = NULL;
	const void		*v;
	char			 k[KEY_MAX];
	size_t			 kl, vl;

	if ((t = misc_begin(0)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	kl = misc_key(k, 'p', owner, c->ns);
	if (store_get(t, MISC_DB, k, kl, &v, &vl) == 0)
		data = xml_parse_element(v, vl, NULL);
	store_abort(t);
	/* XEP-0049 2.2: nothing stored returns the empty element asked for. */
	if (data == NULL)
		data = xnode_dup(c);
	if (data == NULL || (q = xnode_new("query", NS_PRIVATE)) == NULL) {
		xnode_free(data);
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	xnode_append(q, data);
	imd_reply_result(s, q);
}

int
imd_private_iq(struct imd_stanza *s)
{
	struct xnode	*q = xnode_first_elem(s->x), *c;
	const char	*type = misc_iq_type(s);
	char		 owner[JID_MAX + 1];
	size_t		 n = 0;

	if (q == NULL || strcmp(q->ns, NS_PRIVATE) != 0 ||
	    strcmp(q->name, "query") != 0)
		return -1;
	if (!misc_own(s)) {		/* XEP-0049 2.3: the owner only */
		imd_reply_error(s, "cancel", "forbidden");
		return 0;
	}
	if (jid_format_bare(&s->from, owner, sizeof(owner)) < 0) {
		imd_reply_error(s, "modify", "jid-malformed");
		return 0;
	}
	for (c = xnode_first_elem(q); c != NULL; c = xnode_next_elem(c)) {
		if (!private_ns_ok(c->ns)) {
			imd_reply_error(s, "modify", "not-acceptable");
			return 0;
		}
		n++;
	}
	if (n == 0 || (strcmp(type, "get") == 0 && n != 1))
		imd_reply_error(s, "modify", "bad-request");
	else if (strcmp(type, "get") == 0)
		private_get(s, owner, xnode_first_elem(q));
	else if (strcmp(type, "set") == 0)
		private_set(s, owner, q);
	else
		imd_reply_error(s, "modify", "bad-request");
	return 0;
}

/* ---- last activity (XEP-0012) ---- */

void
imd_last_set(const char *owner_bare, const char *status)
{
	struct store_txn	*t;
	unsigned char		 v[8 + MISC_MAX_STATUS];
	uint64_t		 now = xmpp_now_usec();
	char			 k[KEY_MAX];
	size_t			 kl, sl, i;

	sl = status != NULL ? strlen(status) : 0;
	if (sl > MISC_MAX_STATUS) {	/* cut on a UTF-8 character boundary */
		sl = MISC_MAX_STATUS;
		while (sl > 0 && ((unsigned char)status[sl] & 0xc0) == 0x80)
			sl--;
	}
	for (i = 0; i < 8; i++)
		v[i] = (now >> (8 * i)) & 0xff;
	if (sl > 0)
		memcpy(v + 8, status, sl);
	kl = misc_key(k, 'l', owner_bare, NULL);
	if ((t = misc_begin(1)) == NULL)
		goto fail;
	if (store_put(t, MISC_DB, k, kl, v, 8 + sl) == -1) {
		store_abort(t);
		goto fail;
	}
	if (store_commit(t) == 0)
		return;
fail:
	log_warn("last: %s: store", owner_bare);
}

/* Seconds since the last logout and its status (NULL-terminated, caller
 * frees); 0 found, 1 none, -1 error. */
static int
last_load(const char *owner, unsigned long long *secs, char **status)
{
	struct store_txn	*t;
	const unsigned char	*v;
	const void		*vp;
	uint64_t		 then = 0, now = xmpp_now_usec();
	char			 k[KEY_MAX];
	size_t			 kl, vl, i;
	int			 rc;

	if ((t = misc_begin(0)) == NULL)
		return -1;
	kl = misc_key(k, 'l', owner, NULL);
	if ((rc = store_get(t, MISC_DB, k, kl, &vp, &vl)) == 0) {
		v = vp;
		if (vl < 8)
			rc = 1;		/* not ours: treat as never seen */
		else {
			for (i = 0; i < 8; i++)
				then |= (uint64_t)v[i] << (8 * i);
			*secs = now > then ? (now - then) / 1000000 : 0;
			if ((*status = strndup((const char *)v + 8, vl - 8)) ==
			    NULL)
				rc = -1;
		}
	}
	store_abort(t);
	return rc;
}

static int
any_available(const char *owner)
{
	struct imd_res	*r;

	for (r = imd_res_list(owner); r != NULL; r = r->next)
		if (r->available)
			return 1;
	return 0;
}

/*
 * XEP-0012 3 (offline user query, to the bare JID): only those who may
 * see the user's presence get an answer, else forbidden; an online user
 * is answered 0 by the server on its behalf, an offline one with the time
 * since its last logout and the status it left with.
 */
int
imd_last_iq(struct imd_stanza *s)
{
	struct xnode		*q = xnode_first_elem(s->x);
	unsigned long long	 secs = 0;
	char			 owner[JID_MAX + 1], req[JID_MAX + 1], num[24];
	char			*status = NULL;
	int			 rc;

	if (q == NULL || strcmp(q->ns, NS_LAST) != 0 ||
	    strcmp(q->name, "query") != 0)
		return -1;
	if (strcmp(misc_iq_type(s), "get") != 0) {
		imd_reply_error(s, "modify", "bad-request");
		return 0;
	}
	if (s->to.resource[0] != '\0') {
		imd_reply_error(s, "cancel", "service-unavailable");
		return 0;
	}
	if (jid_format_bare(&s->to, owner, sizeof(owner)) < 0 ||
	    jid_format_bare(&s->from, req, sizeof(req)) < 0) {
		imd_reply_error(s, "modify", "jid-malformed");
		return 0;
	}
	if (strcmp(owner, req) != 0 && !imd_roster_shares_presence(owner, req)) {
		imd_reply_error(s, "auth", "forbidden");
		return 0;
	}
	if (any_available(owner))
		rc = 0;
	else if ((rc = last_load(owner, &secs, &status)) == -1) {
		imd_reply_error(s, "wait", "internal-server-error");
		return 0;
	}
	if (rc == 1) {			/* never logged out since we keep track */
		imd_reply_error(s, "cancel", "item-not-found");
		return 0;
	}
	if ((q = xnode_new("query", NS_LAST)) == NULL) {
		free(status);
		imd_reply_error(s, "wait", "internal-server-error");
		return 0;
	}
	snprintf(num, sizeof(num), "%llu", secs);
	xnode_set_attr(q, "seconds", num);
	if (status != NULL && status[0] != '\0')
		xnode_add_text(q, status, strlen(status));
	free(status);
	imd_reply_result(s, q);
	return 0;
}

