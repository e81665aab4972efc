/*
 * mucd_proxy.c - iq requests between occupants (XEP-0045 7.x, "IQ
 * proxying"): a request to room/nick goes to one session of that
 * occupant from the asker's occupant JID, under an id chosen here; the
 * answer, addressed to room/asker-nick with that id, goes back to the
 * very session that asked, under the id it used.
 *
 * Why an id of our own: several sessions share one nick (one account
 * on two devices), and two askers may use the same id.  Without the
 * table below an answer could only go to the asker's first session.
 *
 * Called by mucd_iq.c.  Invariants: at most MUC_MAX_PROXIED requests
 * are pending; an entry is forgotten when its answer comes, or reused
 * MUC_PROXY_TIMEOUT seconds after it was made (the asker's client has
 * timed out by then).  An answer is taken only from the full JID the
 * request went to, and only for the room it went through.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mucd.h"
#include "stanza.h"

#define MUC_MAX_PROXIED		1024
#define MUC_PROXY_TIMEOUT	120	/* seconds */
#define MUC_PROXY_PREFIX	"mucfw-"

struct proxied {
	char		 id[32];	/* ours: prefix + serial */
	char		*orig_id;	/* the asker's */
	char		*asker;		/* full JID */
	char		*target;	/* full JID the request went to */
	char		*room;		/* room JID */
	uint64_t	 made;		/* usec; 0 = free */
};

static struct proxied	 proxied[MUC_MAX_PROXIED];
static uint64_t		 proxy_serial;

static void
proxy_free(struct proxied *p)
{
	free(p->orig_id);
	free(p->asker);
	free(p->target);
	free(p->room);
	memset(p, 0, sizeof(*p));
}

/* A free slot, or one whose request has expired; NULL when all are busy. */
static struct proxied *
proxy_slot(uint64_t now)
{
	size_t	i;

	for (i = 0; i < MUC_MAX_PROXIED; i++) {
		if (proxied[i].made != 0 &&
		    now - proxied[i].made > MUC_PROXY_TIMEOUT * 1000000ULL)
			proxy_free(&proxied[i]);
		if (proxied[i].made == 0)
			return &proxied[i];
	}
	return NULL;
}

static struct proxied *
proxy_find(const char *id, const char *from, const char *room)
{
	size_t	i;

	if (id == NULL || strncmp(id, MUC_PROXY_PREFIX,
	    strlen(MUC_PROXY_PREFIX)) != 0)
		return NULL;
	for (i = 0; i < MUC_MAX_PROXIED; i++)
		if (proxied[i].made != 0 && strcmp(proxied[i].id, id) == 0 &&
		    strcmp(proxied[i].target, from) == 0 &&
		    strcmp(proxied[i].room, room) == 0)
			return &proxied[i];
	return NULL;
}

/*
 * Forward the request in `s` from occupant `o` to occupant `t`, whose
 * most recently joined session answers.  Errors go to the asker.
 */
void
muc_proxy_request(struct muc_stanza *s, struct muc_room *r,
    const struct muc_occupant *o, const struct muc_occupant *t)
{
	const char	*id = xnode_attr(s->x, "id");
	const char	*to = t->sessions[t->nsessions - 1];
	struct proxied	*p;
	struct xnode	*fw;
	char		 from[JID_MAX + 1];

	if (id == NULL) {
		muc_reply_error(s, "modify", "bad-request");
		return;
	}
	if ((p = proxy_slot(xmpp_now_usec())) == NULL) {
		muc_reply_error(s, "wait", "resource-constraint");
		return;
	}
	p->orig_id = strdup(id);
	p->asker = strdup(s->from_s);
	p->target = strdup(to);
	p->room = strdup(r->jid);
	if (p->orig_id == NULL || p->asker == NULL || p->target == NULL ||
	    p->room == NULL || (fw = xnode_dup(s->x)) == NULL) {
		proxy_free(p);
		muc_reply_error(s, "wait", "resource-constraint");
		return;
	}
	snprintf(p->id, sizeof(p->id), MUC_PROXY_PREFIX "%" PRIx64,
	    ++proxy_serial);
	p->made = xmpp_now_usec();
	xnode_set_attr(fw, "id", p->id);
	snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
	if (muc_send(from, to, fw) == -1) {
		proxy_free(p);
		muc_reply_error(s, "wait", "resource-constraint");
	}
	xnode_free(fw);
}

/*
 * An answer (result or error) from a real JID to room/nick: return it to
 * the session that asked, from the answering occupant's JID.  An answer
 * nobody is waiting for is not answered (RFC 6120 8.2.3) and dropped.
 */
void
muc_proxy_answer(struct muc_stanza *s, struct muc_room *r,
    const struct muc_occupant *o)
{
	struct proxied	*p;
	struct xnode	*fw;
	char		 from[JID_MAX + 1];

	if ((p = proxy_find(xnode_attr(s->x, "id"), s->from_s, r->jid)) ==
	    NULL) {
		log_debug("%s: answer from %s matches no request", r->jid,
		    s->from_s);
		return;
	}
	if ((fw = xnode_dup(s->x)) != NULL) {
		xnode_set_attr(fw, "id", p->orig_id);
		snprintf(from, sizeof(from), "%s/%s", r->jid, o->nick);
		(void)muc_send(from, p->asker, fw);
		xnode_free(fw);
	}
	proxy_free(p);
}
