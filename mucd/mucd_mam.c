/*
 * mucd_mam.c - the room's message archive (XEP-0313 section 4 and the
 * MUC archive of section 6): queries to the room's bare JID with the
 * start/end/with fields and RSM paging (XEP-0059: max, after, before,
 * an empty <before/> for the last page).
 *
 * Called by mucd_iq.c.  The archive is written by mucd_store.c; ids are
 * the increasing message ids, so time filters compare ids.  Invariants:
 * a page holds at most MUC_MAM_PAGE messages; whoever could not enter the
 * room (outcast, non-member of a members-only room) reads nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mucd.h"
#include "store.h"

struct mam_hit {
	uint64_t	 id;
	char		*xml;
	size_t		 len;
};

struct mam_q {
	uint64_t	 start, end;		/* usec, 0 = open */
	uint64_t	 after, before;		/* ids, 0 = none */
	int		 last_page;		/* <before/> present */
	char		 with[JID_MAX + 1];	/* room/nick or "" */
	size_t		 max;
	struct mam_hit	 hits[MUC_MAM_PAGE + 1];
	size_t		 nhits;			/* in the ring or list */
	size_t		 head;			/* ring start (last page) */
	size_t		 count;			/* all matches */
	int		 more;			/* beyond the page */
	size_t		 plen;
};

static uint64_t
parse_id(const char *s)
{
	char	*end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return 0;
	v = strtoull(s, &end, 16);
	return *end == '\0' ? v : 0;
}

static uint64_t
parse_time(const char *s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return (uint64_t)timegm(&tm) * 1000000;
}

static int
matches(struct mam_q *q, uint64_t id, const char *xml, size_t len)
{
	char	 pat[JID_MAX + 16];
	int	 n;

	if ((q->start && id < q->start) || (q->end && id > q->end))
		return 0;
	if ((q->after && id <= q->after) || (q->before && id >= q->before))
		return 0;
	if (q->with[0] != '\0') {
		/* The stored root's from attribute, as muc_serialize wrote it. */
		n = snprintf(pat, sizeof(pat), "from='%s'", q->with);
		if (n < 0 || (size_t)n >= sizeof(pat) ||
		    memmem(xml, len > 512 ? 512 : len, pat, (size_t)n) == NULL)
			return 0;
	}
	return 1;
}

static void
hit_set(struct mam_hit *h, uint64_t id, const char *xml, size_t len)
{
	free(h->xml);
	h->id = id;
	h->len = len;
	if ((h->xml = malloc(len)) != NULL)
		memcpy(h->xml, xml, len);
}

static int
visit(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct mam_q	*q = arg;
	uint64_t	 id;

	if (kl != q->plen + 8 || vl <= 8)
		return 0;
	id = muc_get_be64((const uint8_t *)k + q->plen);
	if (!matches(q, id, (const char *)v + 8, vl - 8))
		return 0;
	q->count++;
	if (q->last_page) {
		/* Keep the newest max in a ring. */
		hit_set(&q->hits[(q->head + q->nhits) % (q->max + 1)], id,
		    (const char *)v + 8, vl - 8);
		if (q->nhits == q->max) {
			q->head = (q->head + 1) % (q->max + 1);
			q->more = 1;
		} else
			q->nhits++;
	} else if (q->nhits < q->max)
		hit_set(&q->hits[q->nhits++], id, (const char *)v + 8, vl - 8);
	else
		q->more = 1;
	return 0;
}

static void
form_fields(struct mam_q *q, const struct xnode *x)
{
	struct xnode	*f, *v;
	const char	*var;
	char		*t;

	for (f = xnode_first_elem(x); f != NULL; f = xnode_next_elem(f)) {
		if ((var = xnode_attr(f, "var")) == NULL ||
		    (v = xnode_child(f, "value", NULL)) == NULL ||
		    (t = xnode_text(v)) == NULL)
			continue;
		if (strcmp(var, "start") == 0)
			q->start = parse_time(t);
		else if (strcmp(var, "end") == 0)
			q->end = parse_time(t) + 999999;
		else if (strcmp(var, "with") == 0 &&
		    jid_normalize(t, q->with, sizeof(q->with)) == -1)
			q->with[0] = '\0';
		else if (strcmp(var, "after-id") == 0)
			q->after = parse_id(t);
		else if (strcmp(var, "before-id") == 0)
			q->before = parse_id(t);
		free(t);
	}
}

static void
rsm_fields(struct mam_q *q, const struct xnode *set)
{
	struct xnode	*c;
	char		*t;
	unsigned long	 n;

	for (c = xnode_first_elem(set); c != NULL; c = xnode_next_elem(c)) {
		if ((t = xnode_text(c)) == NULL)
			continue;
		if (strcmp(c->name, "max") == 0) {
			n = strtoul(t, NULL, 10);
			q->max = n < q->max ? n : q->max;
		} else if (strcmp(c->name, "after") == 0)
			q->after = parse_id(t);
		else if (strcmp(c->name, "before") == 0) {
			q->before = parse_id(t);
			q->last_page = 1;
		}
		free(t);
	}
}

/* One <message><result><forwarded> to the requester. */
static void
send_hit(struct muc_stanza *s, struct muc_room *r, const char *queryid,
    struct mam_hit *h)
{
	struct xnode	*m, *res, *fw, *d, *orig;
	char		 id[32], stamp[64];

	if (h->xml == NULL ||
	    (orig = xml_parse_element(h->xml, h->len, NULL)) == NULL)
		return;
	if ((m = xnode_new("message", XMLNS_CLIENT)) == NULL) {
		xnode_free(orig);
		return;
	}
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)h->id);
	xmpp_timestamp(stamp, sizeof(stamp), h->id);
	if ((res = xnode_add_child(m, "result", NS_MAM)) != NULL) {
		xnode_set_attr(res, "id", id);
		if (queryid != NULL)
			xnode_set_attr(res, "queryid", queryid);
		if ((fw = xnode_add_child(res, "forwarded", NS_FORWARD)) != NULL) {
			if ((d = xnode_add_child(fw, "delay", NS_DELAY)) != NULL)
				xnode_set_attr(d, "stamp", stamp);
			xnode_append(fw, orig);
			orig = NULL;
		}
	}
	xnode_free(orig);
	(void)muc_send(r->jid, s->from_s, m);
	xnode_free(m);
}

static void
finish(struct muc_stanza *s, struct mam_q *q, struct mam_hit *first,
    struct mam_hit *last)
{
	struct xnode	*fin, *set, *c;
	char		 buf[32];

	if ((fin = xnode_new("fin", NS_MAM)) == NULL)
		return;
	if (!q->more)
		xnode_set_attr(fin, "complete", "true");
	if ((set = xnode_add_child(fin, "set", NS_RSM)) != NULL) {
		if (first != NULL && (c = xnode_add_child(set, "first", NS_RSM))) {
			snprintf(buf, sizeof(buf), "%016llx",
			    (unsigned long long)first->id);
			xnode_add_text(c, buf, strlen(buf));
		}
		if (last != NULL && (c = xnode_add_child(set, "last", NS_RSM))) {
			snprintf(buf, sizeof(buf), "%016llx",
			    (unsigned long long)last->id);
			xnode_add_text(c, buf, strlen(buf));
		}
		if ((c = xnode_add_child(set, "count", NS_RSM)) != NULL) {
			snprintf(buf, sizeof(buf), "%zu", q->count);
			xnode_add_text(c, buf, strlen(buf));
		}
	}
	muc_reply_result(s, fin);
}

static void
run_query(struct muc_stanza *s, struct muc_room *r, struct xnode *query)
{
	struct mam_q		*q;
	struct store_txn	*t;
	struct xnode		*x;
	size_t			 i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return;
	q->max = MUC_MAM_PAGE;
	q->plen = strlen(r->jid) + 1;
	if ((x = xnode_child(query, "x", NS_XDATA)) != NULL)
		form_fields(q, x);
	if ((x = xnode_child(query, "set", NS_RSM)) != NULL)
		rsm_fields(q, x);
	if ((t = store_begin(muc_store, 0)) == NULL) {
		muc_reply_error(s, "wait", "internal-server-error");
		free(q);
		return;
	}
	if (q->max > 0)
		(void)store_scan(t, "archive", r->jid, q->plen, visit, q);
	store_abort(t);
	if (q->last_page)
		q->more = q->count > q->nhits;
	for (i = 0; i < q->nhits; i++)
		send_hit(s, r, xnode_attr(query, "queryid"),
		    &q->hits[(q->head + i) % (q->max + 1)]);
	finish(s, q, q->nhits ? &q->hits[q->head % (q->max + 1)] : NULL,
	    q->nhits ? &q->hits[(q->head + q->nhits - 1) % (q->max + 1)] :
	    NULL);
	for (i = 0; i <= MUC_MAM_PAGE; i++)
		free(q->hits[i].xml);
	free(q);
}

void
muc_mam_query(struct muc_stanza *s, struct muc_room *r)
{
	struct xnode	*query = xnode_child(s->x, "query", NS_MAM), *x;
	enum muc_aff	 aff = muc_aff_get(r, s->from_bare);

	if (query == NULL || !r->cfg.logging) {
		muc_reply_error(s, "cancel", "service-unavailable");
		return;
	}
	if (aff == AFF_OUTCAST || (r->cfg.membersonly && aff < AFF_MEMBER)) {
		muc_reply_error(s, "auth", "forbidden");
		return;
	}
	if (s->stype == RS_SET) {
		run_query(s, r, query);
		return;
	}
	/* 4.1.1: the fields a query may use. */
	if ((query = xnode_new("query", NS_MAM)) == NULL)
		return;
	if ((x = xnode_add_child(query, "x", NS_XDATA)) != NULL) {
		xnode_set_attr(x, "type", "form");
		muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MAM);
		muc_form_field(x, "with", "jid-single", NULL, NULL);
		muc_form_field(x, "start", "text-single", NULL, NULL);
		muc_form_field(x, "end", "text-single", NULL, NULL);
	}
	muc_reply_result(s, query);
}
