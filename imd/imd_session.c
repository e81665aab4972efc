/*
 * imd_session.c - imd's mirror of routerd's session table, with the
 * presence state RFC 6121 needs per resource (last broadcast presence,
 * priority, directed presence recipients).
 *
 * routerd sends RF_SESSION_PRESENCE (full JID, i8 priority, u8 available)
 * whenever a session's presence state changes and replays every bound
 * session when imd (re)starts; RF_SESSION_GONE when a session ends, also
 * when its c2sd died.  Presence stanzas (imd_presence.c) refine the state:
 * once a resource has sent a presence stanza, that stanza is authoritative
 * and SESSION_PRESENCE only fills in what imd cannot know otherwise (after
 * a restart imd has no presence XML: the resource counts as available
 * with its priority).
 *
 * Invariants: accounts are in a fixed-size hash table; a resource is on its
 * account's list exactly once; an account with no resource is freed; every
 * directed list is bounded by IMD_MAX_DIRECTED.
 */
#include <stdlib.h>
#include <string.h>

#include "imd.h"
#include "log.h"

#define NBUCKETS	1024

struct acct {
	struct acct	*next;
	struct imd_res	*res;
	char		 bare[];
};

static struct acct	*buckets[NBUCKETS];

static unsigned
hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	while (len-- > 0)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % NBUCKETS;
}

static struct acct **
acct_slot(const char *bare, size_t len)
{
	struct acct	**pp;

	for (pp = &buckets[hash(bare, len)]; *pp; pp = &(*pp)->next)
		if (strlen((*pp)->bare) == len &&
		    memcmp((*pp)->bare, bare, len) == 0)
			break;
	return pp;
}

struct imd_res *
imd_res_list(const char *bare)
{
	struct acct	*a = *acct_slot(bare, strlen(bare));

	return a ? a->res : NULL;
}

struct imd_res *
imd_res_find(const char *full)
{
	const char	*slash = strchr(full, '/');
	struct acct	*a;
	struct imd_res	*r;

	if (slash == NULL || (a = *acct_slot(full, slash - full)) == NULL)
		return NULL;
	for (r = a->res; r; r = r->next)
		if (strcmp(r->full, full) == 0)
			return r;
	return NULL;
}

struct imd_res *
imd_res_touch(const char *full, uint64_t sid)
{
	const char	*slash = strchr(full, '/'), *at = strchr(full, '@');
	struct acct	**pp, *a;
	struct imd_res	*r;
	size_t		 blen;
	char		 dom[JID_PART_MAX + 1];

	if ((r = imd_res_find(full)) != NULL)
		return r;
	if (slash == NULL || at == NULL || at > slash || slash[1] == '\0' ||
	    strlen(full) > JID_MAX || (size_t)(slash - at - 1) > JID_PART_MAX)
		return NULL;
	memcpy(dom, at + 1, slash - at - 1);
	dom[slash - at - 1] = '\0';
	if (!imd_is_local(dom))
		return NULL;
	blen = slash - full;
	pp = acct_slot(full, blen);
	if ((a = *pp) == NULL) {
		if ((a = calloc(1, sizeof(*a) + blen + 1)) == NULL)
			return NULL;
		memcpy(a->bare, full, blen);
		*pp = a;
	}
	if ((r = calloc(1, sizeof(*r) + strlen(full) + 1)) == NULL) {
		if (a->res == NULL) {
			*pp = a->next;
			free(a);
		}
		return NULL;
	}
	r->full = (char *)(r + 1);	/* one allocation per session */
	strcpy(r->full, full);
	r->resource = r->full + blen + 1;
	r->sid = sid;
	r->next = a->res;
	a->res = r;
	return r;
}

static void
res_free(struct imd_res *r)
{
	imd_res_directed_clear(r);
	imd_presence_rate_free(r);
	xnode_free(r->presence);
	free(r);
}

static void
res_remove(struct imd_res *res)
{
	const char	*slash = strchr(res->full, '/');
	struct acct	**pp = acct_slot(res->full, slash - res->full), *a;
	struct imd_res	**rp;

	if ((a = *pp) == NULL)
		return;
	for (rp = &a->res; *rp; rp = &(*rp)->next)
		if (*rp == res) {
			*rp = res->next;
			break;
		}
	res_free(res);
	if (a->res == NULL) {
		*pp = a->next;
		free(a);
	}
}

void
imd_session_presence(struct frame *f)
{
	struct imd_res	*r;
	uint8_t		 prio, avail;

	if (frame_get_u8(f, &prio) == -1 || frame_get_u8(f, &avail) == -1 ||
	    frame_get_end(f) == -1) {
		log_warnx("malformed SESSION_PRESENCE");
		return;
	}
	if ((r = imd_res_touch(f->from, f->hdr.session)) == NULL) {
		log_warnx("SESSION_PRESENCE for %s ignored", f->from);
		return;
	}
	r->sid = f->hdr.session;
	if (r->presence == NULL) {
		r->priority = (int8_t)prio;
		r->available = avail != 0;
	}
}

void
imd_session_gone(struct frame *f)
{
	struct imd_res	*r;

	if ((r = imd_res_find(f->from)) == NULL)
		return;
	/* A newer session with the same resource is not the one that went. */
	if (f->hdr.session != 0 && r->sid != 0 && r->sid != f->hdr.session)
		return;
	imd_presence_gone(r);
	res_remove(r);
}

int
imd_res_directed_add(struct imd_res *r, const char *jid)
{
	char	**v;
	size_t	 i;

	for (i = 0; i < r->ndirected; i++)
		if (strcmp(r->directed[i], jid) == 0)
			return 0;
	if (r->ndirected == IMD_MAX_DIRECTED)
		return -1;
	if ((v = reallocarray(r->directed, r->ndirected + 1,
	    sizeof(*v))) == NULL)
		return -1;
	r->directed = v;
	if ((v[r->ndirected] = strdup(jid)) == NULL)
		return -1;
	r->ndirected++;
	return 0;
}

void
imd_res_directed_del(struct imd_res *r, const char *jid)
{
	size_t	i;

	for (i = 0; i < r->ndirected; i++)
		if (strcmp(r->directed[i], jid) == 0) {
			free(r->directed[i]);
			r->directed[i] = r->directed[--r->ndirected];
			return;
		}
}

void
imd_res_directed_clear(struct imd_res *r)
{
	size_t	i;

	for (i = 0; i < r->ndirected; i++)
		free(r->directed[i]);
	free(r->directed);
	r->directed = NULL;
	r->ndirected = 0;
}

/* Every resource of every account, for what must be said again of all
 * of them (RF_PEP_RESYNC). */
void
imd_res_each(void (*fn)(struct imd_res *, void *), void *arg)
{
	struct acct	*a;
	struct imd_res	*r, *next;
	size_t		 i;

	for (i = 0; i < NBUCKETS; i++)
		for (a = buckets[i]; a != NULL; a = a->next)
			for (r = a->res; r != NULL; r = next) {
				next = r->next;
				fn(r, arg);
			}
}

void
imd_session_clear(void)
{
	struct acct	*a;
	struct imd_res	*r;
	size_t		 i;

	for (i = 0; i < NBUCKETS; i++)
		while ((a = buckets[i]) != NULL) {
			buckets[i] = a->next;
			while ((r = a->res) != NULL) {
				a->res = r->next;
				res_free(r);
			}
			free(a);
		}
}
