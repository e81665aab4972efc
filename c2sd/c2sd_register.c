/*
 * c2sd_register.c - XEP-0077 in-band registration, relayed to authd.
 *
 * Unauthenticated streams, only after TLS and only on a host configured
 * with "registration": an iq get of jabber:iq:register is answered with
 * the fields (3.1), an iq set with username and password becomes
 * RF_ACCT_ADD to authd (hdr.session = the connection id).  Authenticated
 * sessions may change their password (3.3, RF_ACCT_PASSWD) or cancel the
 * account (3.2, <remove/>, RF_ACCT_DEL); both carry from = the session's
 * full JID and hdr.session = the session id, which routerd and authd check
 * (docs/auth.md, "Who may change accounts").  authd answers RF_ACCT_RESULT
 * with the same session and corr; an answer that is not the connection's
 * current request is ignored.  After a cancellation the iq result goes out
 * and every session of the account here ends with a <not-authorized/>
 * stream error (XEP-0077 3.2).
 *
 * Invariants: one account request per connection at a time (a new one may
 * replace it after C2SD_REG_WAIT s without an answer); the password is
 * wiped from the parsed tree and our copy once the frame is built; error
 * replies never echo the request (3.3: it holds a password).  New accounts
 * are limited per client address (IPv6: per /64, what one host gets) in a
 * fixed table of C2SD_REG_SLOTS addresses: one account per
 * C2SD_REG_INTERVAL s, C2SD_REG_ATTEMPTS requests per interval.  A flood of
 * new addresses evicts the least recent entry; memory never grows.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"

#define PASSWORD_MAX	1023	/* authd's limit (docs/auth.md) */

struct reg_slot {
	uint8_t		 addr[16];
	int		 used;
	uint64_t	 window_ms;	/* start of the current interval */
	unsigned	 attempts;	/* requests within it */
	int		 created;	/* an account was made ... */
	uint64_t	 created_ms;	/* ... at this time */
};

static struct reg_slot	slots[C2SD_REG_SLOTS];
static uint32_t		next_corr = 1;

/* ---- the per-address limit ---- */

static void
addr_key(const char *peer, uint8_t key[16])
{
	struct in_addr	a4;
	struct in6_addr	a6;

	memset(key, 0, 16);
	if (inet_pton(AF_INET, peer, &a4) == 1) {
		key[10] = key[11] = 0xff;	/* as a v4-mapped address */
		memcpy(key + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, peer, &a6) == 1)
		memcpy(key, &a6, IN6_IS_ADDR_V4MAPPED(&a6) ? 16 : 8);
}

static uint64_t
slot_last(const struct reg_slot *s)
{
	return s->created_ms > s->window_ms ? s->created_ms : s->window_ms;
}

/* The address's slot; a new one replaces a free or the least recent. */
static struct reg_slot *
slot_get(const char *peer)
{
	uint8_t		 key[16];
	struct reg_slot	*s, *victim = NULL;
	size_t		 i;

	addr_key(peer, key);
	for (i = 0; i < C2SD_REG_SLOTS; i++) {
		s = &slots[i];
		if (s->used && memcmp(s->addr, key, sizeof(key)) == 0)
			return s;
		if (victim == NULL || (victim->used &&
		    (!s->used || slot_last(s) < slot_last(victim))))
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->addr, key, sizeof(key));
	victim->used = 1;
	return victim;
}

/* Count one registration request from `peer`; -1 when over the limit. */
int
register_limit(const char *peer)
{
	struct reg_slot	*s = slot_get(peer);
	uint64_t	 now = c2sd_now_ms();
	uint64_t	 ival = C2SD_REG_INTERVAL * 1000ULL;

	if (s->created && now - s->created_ms < ival)
		return -1;
	if (s->attempts == 0 || now - s->window_ms >= ival) {
		s->window_ms = now;
		s->attempts = 0;
	}
	if (s->attempts >= C2SD_REG_ATTEMPTS)
		return -1;
	s->attempts++;
	return 0;
}

void
register_created(const char *peer)
{
	struct reg_slot *s = slot_get(peer);

	s->created = 1;
	s->created_ms = c2sd_now_ms();
}

/* ---- replies ---- */

void
feature_register(struct conn *c, struct xnode *f)
{
	/* never before TLS: the set carries a password */
	if (c->user == NULL && conn_is_secure(c) &&
	    c->host != NULL && c->host->registration)
		xnode_add_child(f, "register", NS_REGISTER_FEATURE);
}

static struct xnode *
reply_new(struct conn *c, const char *id, const char *type, int to_server)
{
	struct xnode *r;

	if ((r = xnode_new("iq", XMLNS_CLIENT)) == NULL)
		return NULL;
	xnode_set_attr(r, "type", type);
	xnode_set_attr(r, "id", id);
	if (c->session != NULL) {
		if (to_server && c->host)
			xnode_set_attr(r, "from", c->host->name);
		xnode_set_attr(r, "to", c->session->full);
	}
	return r;
}

/* On the session when there is one (stream management counts it), else
 * straight on the unauthenticated stream.  Takes `r`. */
static void
reply_send(struct conn *c, struct xnode *r)
{
	struct xbuf b;

	if (r == NULL)
		return;
	if (c->session != NULL && c->state == CS_ESTABLISHED)
		session_deliver_node(c->session, r);
	else {
		xbuf_init(&b);
		xml_serialize(&b, r, XMLNS_CLIENT);
		if (!b.failed)
			conn_write(c, b.data, b.len);
		xbuf_free(&b);
	}
	xnode_free(r);
}

static void
reply_error(struct conn *c, const char *id, int to_server, const char *type,
    const char *cond, const char *text)
{
	struct xnode *r, *e, *t;

	if ((r = reply_new(c, id, "error", to_server)) == NULL)
		return;
	if ((e = xnode_add_child(r, "error", XMLNS_CLIENT)) != NULL) {
		xnode_set_attr(e, "type", type);
		xnode_add_child(e, cond, NS_STANZAS);
		if (text && *text &&
		    (t = xnode_add_child(e, "text", NS_STANZAS)) != NULL)
			xnode_add_text(t, text, strlen(text));
	}
	reply_send(c, r);
}

static void
add_text_child(struct xnode *q, const char *name, const char *text)
{
	struct xnode *n;

	if ((n = xnode_add_child(q, name, NS_REGISTER)) != NULL && text)
		xnode_add_text(n, text, strlen(text));
}

/* XEP-0077 3.1: the fields; for a registered user (3.1, example 3) with
 * <registered/> and the username, never the password. */
static void
reply_form(struct conn *c, const char *id, int to_server)
{
	struct xnode	*r, *q;
	struct session	*s = c->session;

	if ((r = reply_new(c, id, "result", to_server)) == NULL)
		return;
	if ((q = xnode_add_child(r, "query", NS_REGISTER)) != NULL) {
		if (s != NULL)
			xnode_add_child(q, "registered", NS_REGISTER);
		add_text_child(q, "instructions", s == NULL ?
		    "Choose a username and password for this server." :
		    "Send a new password to change it, or <remove/> to "
		    "delete this account.");
		add_text_child(q, "username", s ? s->local : NULL);
		add_text_child(q, "password", NULL);
	}
	reply_send(c, r);
}

/* ---- requests to authd ---- */

static int
busy(struct conn *c)
{
	return c->reg_corr != 0 &&
	    c2sd_now_ms() - c->reg_ms < C2SD_REG_WAIT * 1000ULL;
}

/* One field's text (malloc'd, "" if empty), NULL if absent. */
static char *
field(struct xnode *q, const char *name)
{
	struct xnode *n = xnode_child(q, name, NS_REGISTER);

	return n ? xnode_text(n) : NULL;
}

/* Wipe the password from the parsed tree and from our copy. */
static void
wipe_password(struct xnode *q, char *copy)
{
	struct xnode *n, *t;

	if (copy) {
		sodium_memzero(copy, strlen(copy));
		free(copy);
	}
	if ((n = xnode_child(q, "password", NS_REGISTER)) == NULL)
		return;
	for (t = n->children; t; t = t->next)
		if (t->type == XNODE_TEXT && t->text)
			sodium_memzero(t->text, t->textlen);
}

static int
request(struct conn *c, uint16_t type, const char *from, uint64_t sess,
    const char *user, const char *pass, const char *id, int to_server)
{
	struct fout	*f;
	char		*idcopy;

	if (c->host == NULL || (idcopy = strdup(id)) == NULL)
		return -1;
	if ((f = fout_new(type, from, NULL)) == NULL) {
		free(idcopy);
		return -1;
	}
	if (next_corr == 0)
		next_corr = 1;
	f->hdr.session = sess;
	f->hdr.corr = next_corr++;
	fout_put_str(f, c->host->name);
	fout_put_str(f, user);
	if (pass)
		fout_put_str(f, pass);
	c->reg_corr = f->hdr.corr;
	if (link_send(daemon_link, f) == -1) {
		c->reg_corr = 0;
		free(idcopy);
		return -1;
	}
	c->reg_op = type;
	c->reg_to = to_server;
	c->reg_ms = c2sd_now_ms();
	free(c->reg_iq_id);
	c->reg_iq_id = idcopy;
	return 0;
}

/* XEP-0077 3.1: create an account (unauthenticated stream). */
static void
create(struct conn *c, struct xnode *q, const char *id, int to_server)
{
	char		 user[JID_PART_MAX + 1];
	char		*u = field(q, "username"), *p = field(q, "password");

	if (xnode_child(q, "remove", NS_REGISTER) != NULL)	/* 3.2 */
		reply_error(c, id, to_server, "cancel", "unexpected-request",
		    "Not registered: log in first");
	else if (u == NULL || p == NULL || *u == '\0' || *p == '\0' ||
	    strlen(p) > PASSWORD_MAX ||
	    jid_prep_local(u, strlen(u), user) == -1)
		reply_error(c, id, to_server, "modify", "not-acceptable",
		    "A valid username and a password are required");
	else if (busy(c))
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    "A request is already in progress");
	else if (register_limit(c->peer) == -1) {
		log_info("conn %llu from %s: registration refused (rate)",
		    (unsigned long long)c->id, c->peer);
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    "Too many registrations from your address; try later");
	} else if (request(c, RF_ACCT_ADD, NULL, c->id, user, p, id,
	    to_server) == -1)
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    NULL);
	wipe_password(q, p);
	free(u);
}

/* An iq on a stream not yet authenticated: 0 if it was a registration
 * request (answered), -1 if it is something else. */
int
register_unauth(struct conn *c, struct xnode *n)
{
	struct xnode	*q;
	const char	*id = xnode_attr(n, "id");
	int		 to_server = xnode_attr(n, "to") != NULL;
	uint8_t		 st;

	if (n->ns == NULL || strcmp(n->ns, XMLNS_CLIENT) != 0 ||
	    strcmp(n->name, "iq") != 0 || (q = xnode_first_elem(n)) == NULL ||
	    q->ns == NULL || strcmp(q->ns, NS_REGISTER) != 0 ||
	    strcmp(q->name, "query") != 0)
		return -1;
	st = stanza_stype(RK_IQ, xnode_attr(n, "type"));
	if (st == RS_RESULT || st == RS_ERROR)
		return 0;
	if (id == NULL || strlen(id) > C2SD_MAX_IQ_ID ||
	    xnode_next_elem(q) != NULL || (st != RS_GET && st != RS_SET))
		reply_error(c, id, to_server, "modify", "bad-request", NULL);
	else if (!conn_is_secure(c))
		reply_error(c, id, to_server, "modify", "not-authorized",
		    "Start TLS first");
	else if (c->host == NULL || !c->host->registration)
		/* 3.1: a host without in-band registration */
		reply_error(c, id, to_server, "cancel", st == RS_GET ?
		    "service-unavailable" : "not-allowed", NULL);
	else if (st == RS_GET)
		reply_form(c, id, to_server);
	else {
		create(c, q, id, to_server);
		return 0;
	}
	if (st == RS_SET)
		wipe_password(q, NULL);
	return 0;
}

/* XEP-0077 3.3: change the session's own password. */
static void
passwd(struct session *s, struct conn *c, struct xnode *q, const char *id,
    int to_server)
{
	char	 user[JID_PART_MAX + 1];
	char	*u = field(q, "username"), *p = field(q, "password");

	if (u == NULL || p == NULL || *p == '\0' || strlen(p) > PASSWORD_MAX ||
	    jid_prep_local(u, strlen(u), user) == -1)
		/* 3.3: an empty password never replaces the old one */
		reply_error(c, id, to_server, "modify", "bad-request", NULL);
	else if (strcmp(user, s->local) != 0)
		reply_error(c, id, to_server, "cancel", "not-allowed",
		    "Only your own password can be changed");
	else if (!conn_is_secure(c))
		reply_error(c, id, to_server, "modify", "not-authorized",
		    "Start TLS first");
	else if (request(c, RF_ACCT_PASSWD, s->full, s->id, user, p, id,
	    to_server) == -1)
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    NULL);
	wipe_password(q, p);
	free(u);
}

/* jabber:iq:register from a bound session (handler table). */
void
iq_register(struct session *s, struct xnode *iq, struct xnode *q)
{
	struct conn	*c = s->conn;
	struct xnode	*rm = xnode_child(q, "remove", NS_REGISTER);
	const char	*id = xnode_attr(iq, "id");
	int		 to_server = xnode_attr(iq, "to") != NULL;

	if (c == NULL)
		return;
	if (strlen(id) > C2SD_MAX_IQ_ID)
		reply_error(c, id, to_server, "modify", "bad-request", NULL);
	else if (stanza_stype(RK_IQ, xnode_attr(iq, "type")) == RS_GET)
		reply_form(c, id, to_server);
	else if (busy(c))
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    "A request is already in progress");
	else if (rm == NULL)
		passwd(s, c, q, id, to_server);
	else if (xnode_first_elem(q) != rm || xnode_next_elem(rm) != NULL)
		/* 3.2: <remove/> must be the only child */
		reply_error(c, id, to_server, "modify", "bad-request", NULL);
	else if (request(c, RF_ACCT_DEL, s->full, s->id, s->local, NULL,
	    id, to_server) == -1)
		reply_error(c, id, to_server, "wait", "resource-constraint",
		    NULL);
}

/* ---- authd's answer ---- */

static const struct {
	const char	*match;		/* in authd's text (authd_account.c) */
	const char	*type;
	const char	*cond;
} failures[] = {
	{ "already exists",		"cancel", "conflict" },
	{ "registration is disabled",	"cancel", "not-allowed" },
	{ "invalid username",		"modify", "not-acceptable" },
	{ "invalid password",		"modify", "not-acceptable" },
	{ "not authorized",		"cancel", "not-allowed" },
	{ "does not exist",		"auth",	  "registration-required" },
};

static void
failed(struct conn *c, const char *text)
{
	size_t i;

	for (i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
		if (strstr(text, failures[i].match) != NULL) {
			reply_error(c, c->reg_iq_id, c->reg_to,
			    failures[i].type, failures[i].cond, text);
			return;
		}
	reply_error(c, c->reg_iq_id, c->reg_to, "cancel",
	    "internal-server-error", NULL);
}

static void
succeeded(struct conn *c)
{
	struct session	*s = c->session;
	struct jid	 j;

	reply_send(c, reply_new(c, c->reg_iq_id, "result", c->reg_to));
	switch (c->reg_op) {
	case RF_ACCT_ADD:
		register_created(c->peer);
		log_info("conn %llu from %s: account created",
		    (unsigned long long)c->id, c->peer);
		break;
	case RF_ACCT_PASSWD:
		log_info("session %llu %s: password changed",
		    (unsigned long long)s->id, s->full);
		break;
	case RF_ACCT_DEL:
		/* 3.2: not-authorized for every session of the account */
		log_info("session %llu %s: account deleted",
		    (unsigned long long)s->id, s->full);
		/* a copy: the loop below may free s */
		snprintf(j.local, sizeof(j.local), "%s", s->local);
		snprintf(j.domain, sizeof(j.domain), "%s", s->domain);
		j.resource[0] = '\0';
		session_close_account(&j, NULL, "not-authorized",
		    "Account removed");
		break;
	}
}

void
register_result(struct frame *f)
{
	struct conn	*c;
	struct session	*s;
	const char	*text;
	uint8_t		 ok;

	if (frame_get_u8(f, &ok) == -1 || frame_get_str(f, &text, NULL) == -1 ||
	    frame_get_end(f) == -1) {
		log_warnx("malformed account result from routerd");
		return;
	}
	if ((c = conn_find(f->hdr.session)) == NULL &&
	    (s = session_find(f->hdr.session)) != NULL)
		c = s->conn;
	if (c == NULL || c->dead || c->reg_corr == 0 ||
	    c->reg_corr != f->hdr.corr)
		return;	/* gone, or an answer we stopped waiting for */
	c->reg_corr = 0;
	if ((c->reg_op != RF_ACCT_ADD && c->session == NULL) ||
	    c->state == CS_CLOSING)
		return;
	if (ok)
		succeeded(c);
	else
		failed(c, text);
	free(c->reg_iq_id);
	c->reg_iq_id = NULL;
}
