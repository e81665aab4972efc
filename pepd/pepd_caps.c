/*
 * pepd_caps.c - entity capabilities (XEP-0115) as pepd uses them: which
 * "<node>+notify" features a caps version stands for.
 *
 * A version is learnt once: the first resource that advertises an
 * unknown (hash, ver) is asked one disco#info for node#ver (6.2), from
 * the owner's bare JID, so the contact is asked by one of its own
 * contacts (XEP-0163 4.3.1); c2sd hands the answer, recognised by its id
 * prefix PEP_CAPS_ID_PREFIX, to pepd with RFF_PEP.  The answer is
 * verified (5.1, 5.4): the ver is recomputed from the identities,
 * features and extended forms and only a match is cached, globally, by
 * (hash, ver).  Resources with the same ver meanwhile wait for that one
 * answer.  An error, a timeout, a mismatch or an ill-formed answer caches
 * nothing; pepd_contacts.c then marks the resource that failed and asks
 * another resource advertising the same ver, if there is one.
 * Called by pepd_contacts.c (ask, find, wants) and pepd.c (replies).
 *
 * Invariants: at most PEP_MAX_CAPS entries (the least recently used
 * known entry is evicted first), at most PEP_MAX_CAPS_PENDING questions
 * outstanding, each ended by its answer, by PEP_CAPS_TIMEOUT or by its
 * resource going away; an entry is trusted (known) only after its hash
 * was recomputed from the answer and matched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "pepd.h"

#define NOTIFY_SUFFIX	"+notify"
#define CAPS_MAX_PARTS	1024	/* identities, features, forms, fields */

struct pep_caps {
	char		 hash[16];
	char		 ver[PEP_MAX_CAPS_VER + 1];
	int		 known;
	unsigned long	 used;			/* LRU stamp */
	char		 id[32];		/* pending: the question's id */
	char		*asked;			/* pending: who was asked */
	struct event	*timer;
	char		*notify[PEP_MAX_CAPS_FEATS];	/* node names */
	size_t		 nnotify;
	struct pep_caps	*next;
};

static struct pep_caps	*capses;
static size_t		 ncaps, npending;
static unsigned long	 caps_clock, caps_serial;

/* XEP-0115 5.1 names hash functions by the IANA registry; sha-1 is the
 * one every client uses, the others cost nothing to accept. */
static const struct {
	const char	*name;
	const EVP_MD	*(*md)(void);
} algos[] = {
	{ "sha-1", EVP_sha1 },
	{ "sha-224", EVP_sha224 },
	{ "sha-256", EVP_sha256 },
	{ "sha-384", EVP_sha384 },
	{ "sha-512", EVP_sha512 },
};

static const EVP_MD *
algo_md(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (strcmp(algos[i].name, name) == 0)
			return algos[i].md();
	return NULL;
}

int
pep_caps_algo_ok(const char *hash)
{
	return algo_md(hash) != NULL;
}

/* OpenSSL may read its configuration on first use: do that before the
 * chroot and the seccomp filter (pepd.c, pre_drop). */
void
pep_caps_init(void)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	len;
	size_t		i;

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		(void)EVP_Digest("", 0, md, &len, algos[i].md(), NULL);
}

/* ---- the verification string (5.1) ---- */

/* One piece of S: sorted by key; text is what S gets (NULL: key "<"). */
struct part {
	char	*key;
	char	*text;
};

struct parts {
	struct part	v[CAPS_MAX_PARTS];
	size_t		n;
};

static int
part_cmp(const void *a, const void *b)
{
	const struct part	*x = a, *y = b;

	return strcmp(x->key, y->key);	/* i;octet */
}

/* Takes key and text (either may be NULL after a failed allocation). */
static int
part_add(struct parts *p, char *key, char *text)
{
	if (key == NULL || p->n == CAPS_MAX_PARTS) {
		free(key);
		free(text);
		return -1;
	}
	p->v[p->n].key = key;
	p->v[p->n].text = text;
	p->n++;
	return 0;
}

static void
parts_free(struct parts *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].text);
	}
	free(p);
}

/* Sort; -1 if two keys are equal and `unique` (5.4 steps 3.3-3.5). */
static int
parts_sort(struct parts *p, int unique)
{
	size_t	i;

	qsort(p->v, p->n, sizeof(p->v[0]), part_cmp);
	for (i = 1; unique && i < p->n; i++)
		if (strcmp(p->v[i - 1].key, p->v[i].key) == 0)
			return -1;
	return 0;
}

static void
parts_emit(const struct parts *p, struct xbuf *s)
{
	size_t	i;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].text != NULL)
			xbuf_adds(s, p->v[i].text);
		else {
			xbuf_adds(s, p->v[i].key);
			xbuf_adds(s, "<");
		}
	}
}

static char *
join4(const char *a, const char *b, const char *c, const char *d)
{
	size_t	 n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 4;
	char	*r;

	if ((r = malloc(n)) != NULL)
		snprintf(r, n, "%s/%s/%s/%s", a, b, c, d);
	return r;
}

static char *
xbuf_take(struct xbuf *b)
{
	char	*r = NULL;

	xbuf_add(b, "", 1);		/* the NUL */
	if (!b->failed && (r = strdup(b->data)) == NULL)
		r = NULL;
	xbuf_free(b);
	return r;
}

/* The values of a field, sorted, each followed by "<" (5.1 step 6). */
static int
field_values(const struct xnode *field, struct xbuf *s)
{
	struct parts	*vals;
	struct xnode	*v;
	int		 rc = 0;

	if ((vals = calloc(1, sizeof(*vals))) == NULL)
		return -1;
	for (v = xnode_first_elem(field); v != NULL && rc == 0;
	    v = xnode_next_elem(v))
		if (strcmp(v->name, "value") == 0)
			rc = part_add(vals, xnode_text(v), NULL);
	if (rc == 0) {
		(void)parts_sort(vals, 0);
		parts_emit(vals, s);
	}
	parts_free(vals);
	return rc;
}

/* The one value of a FORM_TYPE field; NULL if it has none or two that
 * differ (5.4 step 3.5). */
static char *
form_type_value(const struct xnode *ft)
{
	struct xnode	*v;
	char		*r = NULL, *t;

	for (v = xnode_first_elem(ft); v != NULL; v = xnode_next_elem(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;
		if ((t = xnode_text(v)) == NULL || (r != NULL &&
		    strcmp(r, t) != 0)) {
			free(t);
			free(r);
			return NULL;
		}
		free(r);
		r = t;
	}
	return r;
}

/* One extended form (XEP-0128) as its piece of S, keyed by FORM_TYPE;
 * 0 with *skip set for a form 5.4 step 3.6 says to ignore. */
static int
form_part(const struct xnode *x, struct parts *forms, int *skip)
{
	struct parts	*fields;
	struct xnode	*f, *ft = NULL;
	struct xbuf	 s, fs;
	const char	*var, *type;
	char		*ftype = NULL;
	int		 rc = 0;

	*skip = 0;
	if ((fields = calloc(1, sizeof(*fields))) == NULL)
		return -1;
	for (f = xnode_first_elem(x); f != NULL && rc == 0;
	    f = xnode_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 ||
		    (var = xnode_attr(f, "var")) == NULL)
			continue;
		if (strcmp(var, "FORM_TYPE") == 0) {
			if (ft != NULL)
				rc = -1;	/* two FORM_TYPE fields */
			ft = f;
			continue;
		}
		xbuf_init(&fs);
		xbuf_adds(&fs, var);
		xbuf_adds(&fs, "<");
		if (field_values(f, &fs) == -1)
			fs.failed = 1;
		rc = part_add(fields, strdup(var), xbuf_take(&fs));
	}
	type = ft != NULL ? xnode_attr(ft, "type") : NULL;
	if (rc == 0 && (ft == NULL || type == NULL ||
	    strcmp(type, "hidden") != 0)) {
		*skip = 1;			/* 5.4 step 3.6 */
		goto done;
	}
	if (rc == 0 && (ftype = form_type_value(ft)) == NULL)
		rc = -1;			/* 5.4 step 3.5 */
	if (rc == 0) {
		(void)parts_sort(fields, 0);
		xbuf_init(&s);
		xbuf_adds(&s, ftype);
		xbuf_adds(&s, "<");
		parts_emit(fields, &s);
		rc = part_add(forms, ftype, xbuf_take(&s));
		ftype = NULL;
	}
done:
	free(ftype);
	parts_free(fields);
	return rc;
}

/* The ver of a disco#info <query/> under hash function `hash` (5.1), in
 * base64 into `out`; -1 for an ill-formed answer (5.4 steps 3.3-3.5) or
 * a function pepd does not have. */
int
pep_caps_ver(const struct xnode *q, const char *hash, char *out, size_t size)
{
	struct parts	*ids, *feats, *forms;
	struct xnode	*e;
	struct xbuf	 s;
	const EVP_MD	*md = algo_md(hash);
	const char	*cat, *type, *lang, *name, *var;
	unsigned char	 dg[EVP_MAX_MD_SIZE];
	unsigned int	 dl;
	int		 rc = -1, skip;

	ids = calloc(1, sizeof(*ids));
	feats = calloc(1, sizeof(*feats));
	forms = calloc(1, sizeof(*forms));
	if (md == NULL || q == NULL || ids == NULL || feats == NULL ||
	    forms == NULL)
		goto done;
	for (e = xnode_first_elem(q); e != NULL; e = xnode_next_elem(e)) {
		if (e->ns != NULL && strcmp(e->ns, NS_XDATA) == 0 &&
		    strcmp(e->name, "x") == 0) {
			if (form_part(e, forms, &skip) == -1)
				goto done;
			continue;
		}
		if (e->ns == NULL || strcmp(e->ns, NS_DISCO_INFO) != 0)
			continue;
		if (strcmp(e->name, "identity") == 0) {
			if ((cat = xnode_attr(e, "category")) == NULL ||
			    (type = xnode_attr(e, "type")) == NULL)
				goto done;
			lang = xnode_attr_ns(e, XMLNS_XML, "lang");
			name = xnode_attr(e, "name");
			if (part_add(ids, join4(cat, type, lang ? lang : "",
			    name ? name : ""), NULL) == -1)
				goto done;
		} else if (strcmp(e->name, "feature") == 0) {
			if ((var = xnode_attr(e, "var")) == NULL ||
			    part_add(feats, strdup(var), NULL) == -1)
				goto done;
		}
	}
	if (parts_sort(ids, 1) == -1 || parts_sort(feats, 1) == -1 ||
	    parts_sort(forms, 1) == -1)
		goto done;
	xbuf_init(&s);
	parts_emit(ids, &s);
	parts_emit(feats, &s);
	parts_emit(forms, &s);
	if (!s.failed && EVP_Digest(s.data, s.len, dg, &dl, md, NULL) == 1 &&
	    size >= sodium_base64_ENCODED_LEN(dl,
	    sodium_base64_VARIANT_ORIGINAL)) {
		sodium_bin2base64(out, size, dg, dl,
		    sodium_base64_VARIANT_ORIGINAL);
		rc = 0;
	}
	xbuf_free(&s);
done:
	parts_free(ids);
	parts_free(feats);
	parts_free(forms);
	return rc;
}

/* ---- the cache ---- */

static void
caps_unlink(struct pep_caps *k)
{
	struct pep_caps	**p;

	for (p = &capses; *p != NULL; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			ncaps--;
			if (!k->known)
				npending--;
			return;
		}
}

static void
caps_free(struct pep_caps *k)
{
	size_t	i;

	for (i = 0; i < k->nnotify; i++)
		free(k->notify[i]);
	if (k->timer != NULL)
		event_free(k->timer);
	free(k->asked);
	free(k);
}

struct pep_caps *
pep_caps_find(const char *hash, const char *ver)
{
	struct pep_caps	*k;

	for (k = capses; k != NULL; k = k->next)
		if (strcmp(k->ver, ver) == 0 && strcmp(k->hash, hash) == 0) {
			k->used = ++caps_clock;
			return k;
		}
	return NULL;
}

int
pep_caps_wants(const struct pep_caps *k, const char *node)
{
	size_t	i;

	for (i = 0; k != NULL && k->known && i < k->nnotify; i++)
		if (strcmp(k->notify[i], node) == 0)
			return 1;
	return 0;
}

int
pep_caps_is_known(const struct pep_caps *k)
{
	return k != NULL && k->known;
}

/* Make room: drop the least recently used known version.  Its users are
 * asked again the next time pepd needs their caps (pepd_contacts.c). */
static int
caps_evict(void)
{
	struct pep_caps	*k, *old = NULL;

	for (k = capses; k != NULL; k = k->next)
		if (k->known && (old == NULL || k->used < old->used))
			old = k;
	if (old == NULL)
		return -1;
	caps_unlink(old);
	caps_free(old);
	return 0;
}

/* A question ended without a trusted answer: nothing is cached.  With
 * `blame`, the resource asked is not asked this version again (5.4: an
 * invalid result is not cached; another resource advertising the same
 * ver may still be asked). */
static void
caps_fail(struct pep_caps *k, int blame)
{
	char	 hash[sizeof(k->hash)], ver[sizeof(k->ver)];
	char	*asked = k->asked;

	strcpy(hash, k->hash);
	strcpy(ver, k->ver);
	k->asked = NULL;
	caps_unlink(k);
	caps_free(k);
	if (blame && asked != NULL)
		pep_contacts_caps_bad(asked, hash, ver);
	free(asked);
	pep_contacts_caps_retry();
}

static void
caps_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct pep_caps	*k = arg;

	log_info("caps %s of %s: no disco#info answer", k->ver, k->asked);
	caps_fail(k, 1);
}

static void
caps_send(const struct pep_caps *k, const char *from, const char *node)
{
	struct xnode	*iq, *q;
	char		 qnode[2 * PEP_MAX_CAPS_VER + 2];

	if ((iq = xnode_new("iq", XMLNS_CLIENT)) == NULL)
		return;
	xnode_set_attr(iq, "type", "get");
	xnode_set_attr(iq, "id", k->id);
	if ((q = xnode_add_child(iq, "query", NS_DISCO_INFO)) != NULL) {
		snprintf(qnode, sizeof(qnode), "%s#%s", node, k->ver);
		xnode_set_attr(q, "node", qnode);
	}
	(void)pep_send(from, k->asked, iq);
	xnode_free(iq);
}

/* Ask `to` (a full JID) what (hash, ver) means, from `from` (the owner's
 * bare JID): 1 asked, 0 already known or asked, -1 not now (too many
 * questions outstanding, or no room). */
int
pep_caps_ask(const char *from, const char *to, const char *node,
    const char *hash, const char *ver)
{
	struct pep_caps	*k;
	struct timeval	 tv = { PEP_CAPS_TIMEOUT, 0 };
	uint32_t	 r = randombytes_random();

	if (pep_caps_find(hash, ver) != NULL)
		return 0;
	if (strlen(hash) >= sizeof(k->hash) || strlen(ver) > PEP_MAX_CAPS_VER ||
	    npending >= PEP_MAX_CAPS_PENDING ||
	    (ncaps >= PEP_MAX_CAPS && caps_evict() == -1) ||
	    (k = calloc(1, sizeof(*k))) == NULL)
		return -1;
	if ((k->asked = strdup(to)) == NULL) {
		free(k);
		return -1;
	}
	strcpy(k->hash, hash);
	strcpy(k->ver, ver);
	k->used = ++caps_clock;
	snprintf(k->id, sizeof(k->id), PEP_CAPS_ID_PREFIX "%lx.%08x",
	    ++caps_serial, (unsigned)r);
	if (daemon_base != NULL &&
	    (k->timer = evtimer_new(daemon_base, caps_timeout, k)) != NULL)
		evtimer_add(k->timer, &tv);
	k->next = capses;
	capses = k;
	ncaps++;
	npending++;
	caps_send(k, from, node);
	return 1;
}

/* Keep the "<node>+notify" features of a verified answer. */
static void
caps_learn(struct pep_caps *k, const struct xnode *q)
{
	struct xnode	*e;
	const char	*var;
	size_t		 vl, sl = sizeof(NOTIFY_SUFFIX) - 1;

	for (e = xnode_first_elem(q); e != NULL &&
	    k->nnotify < PEP_MAX_CAPS_FEATS; e = xnode_next_elem(e)) {
		if (strcmp(e->name, "feature") != 0 ||
		    (var = xnode_attr(e, "var")) == NULL ||
		    (vl = strlen(var)) <= sl || vl - sl > PEP_MAX_NAME ||
		    strcmp(var + vl - sl, NOTIFY_SUFFIX) != 0)
			continue;
		if ((k->notify[k->nnotify] = strndup(var, vl - sl)) != NULL)
			k->nnotify++;
	}
}

/* An answer to pep_caps_ask(): 1 if it was one (taken), else 0. */
int
pep_caps_reply(struct pep_stanza *s)
{
	struct pep_caps	*k;
	struct xnode	*q;
	const char	*id = xnode_attr(s->x, "id");
	char		 got[2 * EVP_MAX_MD_SIZE];

	if (id == NULL || strncmp(id, PEP_CAPS_ID_PREFIX,
	    sizeof(PEP_CAPS_ID_PREFIX) - 1) != 0)
		return 0;
	for (k = capses; k != NULL; k = k->next)
		if (!k->known && strcmp(k->id, id) == 0)
			break;
	/* Late, or not from the resource asked: nothing to learn. */
	if (k == NULL || strcmp(s->from_s, k->asked) != 0)
		return 1;
	if (s->stype != RS_RESULT) {
		caps_fail(k, 1);
		return 1;
	}
	q = xnode_child(s->x, "query", NS_DISCO_INFO);
	if (pep_caps_ver(q, k->hash, got, sizeof(got)) == -1 ||
	    strcmp(got, k->ver) != 0) {
		log_info("caps %s of %s: the answer does not hash to it, "
		    "not trusted", k->ver, k->asked);
		caps_fail(k, 1);
		return 1;
	}
	caps_learn(k, q);
	k->known = 1;
	npending--;
	free(k->asked);
	k->asked = NULL;
	if (k->timer != NULL) {
		event_free(k->timer);
		k->timer = NULL;
	}
	pep_contacts_caps_known(k->hash, k->ver);
	return 1;
}

/* `full` went away: a question it was asked will not be answered. */
void
pep_caps_gone(const char *full)
{
	struct pep_caps	*k;

again:
	for (k = capses; k != NULL; k = k->next)
		if (!k->known && k->asked != NULL &&
		    strcmp(k->asked, full) == 0) {
			caps_fail(k, 0);	/* changes the list */
			goto again;
		}
}

void
pep_caps_free(void)
{
	struct pep_caps	*k;

	while ((k = capses) != NULL) {
		capses = k->next;
		caps_free(k);
	}
	ncaps = npending = 0;
}

/* For the tests and the log: entries, questions outstanding. */
void
pep_caps_stats(size_t *entries, size_t *pending)
{
	*entries = ncaps;
	*pending = npending;
}
