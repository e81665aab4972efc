/*
 * authd_account.c - account administration frames: RF_ACCT_ADD, _PASSWD,
 * _DEL and _LIST, answered with RF_ACCT_RESULT (u8 ok, str text).
 *
 * They come from rampartctl through routerd's control socket, and later
 * from c2sd for in-band registration (XEP-0077).  Invariants: the host
 * must be one we serve, the username is prepared with PRECIS
 * (jid_prep_local) before it becomes a key, the password only passes
 * through authd_creds_new() and is never logged or stored; a LIST answer
 * is bounded so it always fits in one frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authd.h"
#include "frame.h"
#include "link.h"
#include "log.h"

#define LIST_MAX	(FRAME_MAX_DEFAULT / 2)	/* bytes of user names */

static void
result(struct link *l, const struct frame *req, int ok, const char *text)
{
	struct fout	*o;

	if ((o = fout_new(RF_ACCT_RESULT, NULL, NULL)) != NULL) {
		o->hdr.session = req->hdr.session;
		o->hdr.corr = req->hdr.corr;
		o->hdr.origin = req->hdr.origin;
		fout_put_u8(o, ok ? 1 : 0);
		fout_put_str(o, text);
	}
	if (link_send(l, o) == -1)
		log_warn("cannot answer an account request");
}

/* host and user from the frame, checked and prepared; NULL text if fine. */
static const char *
who(struct frame *f, char host[JID_PART_MAX + 1], char user[JID_PART_MAX + 1])
{
	const char	*h, *u;
	size_t		 hl, ul;

	if (frame_get_str(f, &h, &hl) == -1 || frame_get_str(f, &u, &ul) == -1)
		return "malformed request";
	if (hl > JID_PART_MAX || authd_host_find(h) == NULL)
		return "unknown host";
	memcpy(host, h, hl + 1);
	if (ul == 0 || jid_prep_local(u, ul, user) == -1)
		return "invalid username";
	return NULL;
}

/* Control clients (rampartctl) have link ids from 256 up (docs/frames.md). */
#define ADMIN_ORIGIN_FIRST	256

/*
 * What a daemon (c2sd relaying XEP-0077) may do, beyond an admin: create
 * an account only where the host has registration on; change or delete only
 * the account of the session that asks (routerd has checked that `from` is
 * a session bound by that c2sd).  NULL if permitted.
 */
static const char *
permitted(const struct frame *f, const char *host, const char *user)
{
	const struct authd_host	*h;
	size_t			 ul = strlen(user), hl = strlen(host);

	if (f->hdr.origin >= ADMIN_ORIGIN_FIRST)
		return NULL;
	if (f->hdr.type == RF_ACCT_ADD) {
		h = authd_host_find(host);
		return h && h->registration ? NULL : "registration is disabled";
	}
	if (strncmp(f->from, user, ul) != 0 || f->from[ul] != '@' ||
	    strncmp(f->from + ul + 1, host, hl) != 0 ||
	    (f->from[ul + 1 + hl] != '\0' && f->from[ul + 1 + hl] != '/'))
		return "not authorized";
	return NULL;
}

/* ADD (create = 1) and PASSWD (create = 0). */
static void
acct_set(struct link *l, struct frame *f, int create)
{
	char			 host[JID_PART_MAX + 1], user[JID_PART_MAX + 1];
	char			 text[JID_MAX + 64];
	const char		*err, *pass;
	size_t			 pl;
	struct authd_creds	 c;
	int			 rc;

	if ((err = who(f, host, user)) == NULL &&
	    (frame_get_str(f, &pass, &pl) == -1 || frame_get_end(f) == -1))
		err = "malformed request";
	if (err == NULL)
		err = permitted(f, host, user);
	if (err == NULL &&
	    authd_creds_new(pass, pl, authd_conf.iterations, &c) == -1)
		err = "invalid password (empty, too long or not allowed characters)";
	if (err != NULL) {
		result(l, f, 0, err);
		return;
	}
	rc = authd_acct_put(authd_store, user, host, &c, create);
	sodium_memzero(&c, sizeof(c));
	if (rc == -1) {
		log_warn("account store write for %s@%s", user, host);
		result(l, f, 0, "storage error");
		return;
	}
	if (rc == 1) {
		snprintf(text, sizeof(text), create ? "%s@%s already exists" :
		    "%s@%s does not exist", user, host);
		result(l, f, 0, text);
		return;
	}
	log_info("account %s@%s %s", user, host,
	    create ? "created" : "password changed");
	snprintf(text, sizeof(text), "%s@%s %s", user, host,
	    create ? "created" : "password changed");
	result(l, f, 1, text);
}

static void
acct_del(struct link *l, struct frame *f)
{
	char		 host[JID_PART_MAX + 1], user[JID_PART_MAX + 1];
	char		 text[JID_MAX + 64];
	const char	*err;
	int		 rc;

	if ((err = who(f, host, user)) == NULL && frame_get_end(f) == -1)
		err = "malformed request";
	if (err == NULL)
		err = permitted(f, host, user);
	if (err != NULL) {
		result(l, f, 0, err);
		return;
	}
	if ((rc = authd_acct_del(authd_store, user, host)) == -1) {
		log_warn("account store delete for %s@%s", user, host);
		result(l, f, 0, "storage error");
		return;
	}
	if (rc == 0)
		log_info("account %s@%s deleted", user, host);
	snprintf(text, sizeof(text), rc == 0 ? "%s@%s deleted" :
	    "%s@%s does not exist", user, host);
	result(l, f, rc == 0, text);
}

struct listbuf {
	char	*buf;
	size_t	 len;
	int	 truncated;
};

static int
list_add(const char *user, size_t len, void *arg)
{
	struct listbuf	*lb = arg;

	if (lb->len + len + 1 > LIST_MAX) {
		lb->truncated = 1;
		return 1;
	}
	memcpy(lb->buf + lb->len, user, len);
	lb->buf[lb->len + len] = '\n';
	lb->len += len + 1;
	return 0;
}

static void
acct_list(struct link *l, struct frame *f)
{
	const char	*h;
	size_t		 hl;
	struct listbuf	 lb = { NULL, 0, 0 };
	static const char more[] = "...(truncated)\n";

	if (frame_get_str(f, &h, &hl) == -1 || frame_get_end(f) == -1) {
		result(l, f, 0, "malformed request");
		return;
	}
	if (authd_host_find(h) == NULL) {
		result(l, f, 0, "unknown host");
		return;
	}
	if ((lb.buf = malloc(LIST_MAX + sizeof(more))) == NULL) {
		result(l, f, 0, "out of memory");
		return;
	}
	if (authd_acct_list(authd_store, h, list_add, &lb) == -1) {
		log_warn("account store scan for %s", h);
		free(lb.buf);
		result(l, f, 0, "storage error");
		return;
	}
	if (lb.truncated) {
		memcpy(lb.buf + lb.len, more, sizeof(more) - 1);
		lb.len += sizeof(more) - 1;
	}
	lb.buf[lb.len] = '\0';
	result(l, f, 1, lb.buf);
	free(lb.buf);
}

void
authd_account_dispatch(struct link *l, struct frame *f)
{
	switch (f->hdr.type) {
	case RF_ACCT_ADD:
		acct_set(l, f, 1);
		break;
	case RF_ACCT_PASSWD:
		acct_set(l, f, 0);
		break;
	case RF_ACCT_DEL:
		acct_del(l, f);
		break;
	case RF_ACCT_LIST:
		if (f->hdr.origin >= ADMIN_ORIGIN_FIRST)
			acct_list(l, f);
		else
			result(l, f, 0, "not authorized");
		break;
	}
}
