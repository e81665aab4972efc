/*
 * xml.c - the XML layer of every daemon that reads XMPP: an incremental
 * stream parser on expat, the element tree it builds, and the serializer.
 *
 * c2sd and s2sd feed raw socket bytes to xml_stream_feed(); WebSocket
 * sessions use XML_MODE_FRAMED (RFC 7395 section 3.3: one document per
 * message); daemons that receive serialized stanzas in frames use
 * xml_parse_element().
 *
 * Invariants:
 * - Only restricted XML (RFC 6120 section 11.1) gets through: a DOCTYPE is
 *   refused when it starts, so no entity is ever declared and nothing can
 *   expand (billion laughs); PIs and comments are refused too.  The
 *   encoding is forced to UTF-8 and expat rejects invalid sequences.
 * - Memory per stream is bounded by max_stanza: expat is fed in pieces of
 *   at most `piece` bytes and, between pieces, the bytes since the start of
 *   the current top-level element (or since the last event outside one)
 *   are checked, so an endless start tag or stanza is stopped at about
 *   max_stanza + piece bytes, never after buffering all of it.  The tree of
 *   one stanza is bounded by the same bytes times a constant.
 * - The error callback runs at most once, always from xml_stream_feed()
 *   itself and never from inside expat; the stream stays failed until
 *   xml_stream_reset().
 * - A token that stays incomplete over many small feeds is charged for the
 *   bytes expat scans again each time (RESCAN_FACTOR), bounding CPU per
 *   stanza as the byte limit bounds memory.
 * - Callbacks may call xml_stream_reset(); inside a parse it takes effect
 *   when expat returns, and the rest of the buffer after the event that
 *   asked for it is fed to the fresh parser (stream restart after SASL,
 *   RFC 6120 section 6.4.6).  Freeing the stream inside a callback is not
 *   allowed: callers defer it.
 * - Non-whitespace text between stanzas is bad-format (RFC 6120 section
 *   4.9.3.1); whitespace there is a keepalive and ignored.
 * - xml_stream_sleep() frees expat (about 10 KiB) while a stream rests
 *   between stanzas; the next feed makes a new parser and replays the
 *   root's start tag, kept as the client sent it, so the new parser has
 *   the same open element and namespace bindings: between stanzas that
 *   is all the state expat has.  Byte offsets carry on across it
 *   (`shift`), so limits and restarts see one continuous stream.
 * - A stream-mode parser takes its memory from a slab of its own first
 *   (mm_*): expat allocates a dozen pieces per parser, and freed one by one
 *   between the long-lived objects of other connections they leave holes
 *   the allocator cannot give back; one slab freed at once is whole pages.
 * - Element nodes hold their name and ns in the same allocation; text and
 *   attributes are separate.  Fields are owned by the tree: change them only
 *   through the xnode_* functions.  Parsed elements always have a non-NULL
 *   ns ("" for no namespace); unqualified attributes have ns NULL.
 */
#include <sys/types.h>

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "xml.h"

/* Cannot occur in an XML 1.0 document, so it cannot be part of a URI. */
#define NS_SEP		'\x01'

#define DEF_MAX_STANZA	(256 * 1024)
#define DEF_MAX_DEPTH	64
#define DEF_MAX_ATTRS	64
#define DEF_MAX_CHILDREN 1024
#define MAX_PIECE	16384
#define MIN_PIECE	256
/*
 * expat re-scans an incomplete token from its start on every call, so a
 * large start tag (or comment) that arrives a few bytes at a time costs
 * quadratic time.  Pending tokens above RESCAN_FLOOR bytes are charged on
 * every feed; past RESCAN_FACTOR * max_stanza the stream is refused.
 */
#define RESCAN_FLOOR	1024
#define RESCAN_FACTOR	64
/* A stream root's start tag longer than this is not kept: such a stream
 * never sleeps.  Real ones are 100-300 bytes. */
#define MAX_SAVED_HEADER 2048

/*
 * Debian backports reparse deferral (expat 2.6) into 2.5; where present it
 * must be switched off, or a complete stanza could wait for more input.
 * Our own byte limits bound what a reparse costs.
 */
XMLPARSEAPI(XML_Bool) XML_SetReparseDeferralEnabled(XML_Parser, XML_Bool);
#pragma weak XML_SetReparseDeferralEnabled

struct xml_stream {
	XML_Parser		 p;
	enum xml_mode		 mode;
	struct xml_limits	 lim;
	struct xml_callbacks	 cb;
	void			*arg;
	size_t			 piece;		/* bytes per XML_Parse call */
	size_t			 base;		/* 1: a stream root encloses stanzas */
	size_t			 depth;		/* open elements, root included */
	size_t			*kids;		/* element children per level */
	struct xnode		*top;		/* top-level element being built */
	struct xnode		*cur;		/* innermost open element */
	struct xnode		*result;	/* framed mode: the document */
	long long		 fed;		/* bytes given to expat since reset */
	long long		 stanza_start;	/* offset of top's start tag */
	long long		 mark;		/* end of the last event outside top */
	long long		 last_ev;	/* end of the last event */
	long long		 rescan;	/* partial-token bytes re-fed */
	long long		 restart_at;	/* offset where a reset applies */
	long long		 shift;		/* stream offset of expat's byte 0 */
	char			*hdr;		/* the root's start tag, for waking */
	size_t			 hdr_len;
	enum xml_error		 err;
	const char		*detail;
	int			 in_parse;
	int			 stopped;
	int			 reset_pending;
	int			 replay;	/* feeding hdr to a new parser */
	char			*slab;		/* stream mode: expat's memory */
	size_t			 slab_used;
	size_t			 slab_last;	/* offset of the last piece */
};

/* ---- expat's memory (see the header) ---- */

#define PARSER_SLAB	(12 * 1024)	/* what a login's parser uses */
#define SLAB_HDR	16		/* the piece's size, and alignment */
#define SLAB_NOLAST	((size_t)-1)

/* The stream whose expat call is running: set around every call that may
 * allocate or free (mm_enter), since a callback may parse something else
 * with another parser in between. */
static struct xml_stream *mm_cur;

static struct xml_stream *
mm_enter(struct xml_stream *s)
{
	struct xml_stream *prev = mm_cur;

	mm_cur = s;
	return prev;
}

static int
in_slab(const struct xml_stream *s, const void *p)
{
	return s != NULL && s->slab != NULL && (const char *)p >= s->slab &&
	    (const char *)p < s->slab + PARSER_SLAB;
}

static size_t
slab_need(size_t n)
{
	return SLAB_HDR + ((n + SLAB_HDR - 1) & ~(size_t)(SLAB_HDR - 1));
}

static void *
mm_malloc(size_t n)
{
	struct xml_stream	*s = mm_cur;
	char			*p;

	if (s == NULL || s->slab == NULL || n > PARSER_SLAB ||
	    slab_need(n) > PARSER_SLAB - s->slab_used)
		return malloc(n);
	p = s->slab + s->slab_used;
	memcpy(p, &n, sizeof(n));
	s->slab_last = s->slab_used;
	s->slab_used += slab_need(n);
	return p + SLAB_HDR;
}

/* A piece of the slab is reclaimed only if it is the last one; the rest
 * goes with the slab when the parser is freed. */
static void
mm_free(void *p)
{
	struct xml_stream	*s = mm_cur;

	if (p == NULL)
		return;
	if (!in_slab(s, p)) {
		free(p);
		return;
	}
	if (s->slab_last != SLAB_NOLAST &&
	    (char *)p - SLAB_HDR == s->slab + s->slab_last) {
		s->slab_used = s->slab_last;
		s->slab_last = SLAB_NOLAST;
	}
}

static void *
mm_realloc(void *p, size_t n)
{
	struct xml_stream	*s = mm_cur;
	size_t			 old;
	void			*q;

	if (p == NULL)
		return mm_malloc(n);
	if (!in_slab(s, p))
		return realloc(p, n);
	memcpy(&old, (char *)p - SLAB_HDR, sizeof(old));
	if (s->slab_last != SLAB_NOLAST &&
	    (char *)p - SLAB_HDR == s->slab + s->slab_last && n <= PARSER_SLAB &&
	    slab_need(n) <= PARSER_SLAB - s->slab_last) {
		memcpy((char *)p - SLAB_HDR, &n, sizeof(n));	/* in place */
		s->slab_used = s->slab_last + slab_need(n);
		return p;
	}
	if ((q = mm_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	mm_free(p);
	return q;
}

static const XML_Memory_Handling_Suite mm_suite = {
	mm_malloc, mm_realloc, mm_free
};

/* ---- growable buffer ---- */

void
xbuf_init(struct xbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
xbuf_free(struct xbuf *b)
{
	free(b->data);
	xbuf_init(b);
}

void
xbuf_reset(struct xbuf *b)
{
	b->len = 0;
	b->failed = 0;
}

static int
xbuf_grow(struct xbuf *b, size_t need)
{
	size_t	 cap;
	char	*d;

	if (b->failed)
		return -1;
	if (need > SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return -1;
	}
	need += b->len;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((d = realloc(b->data, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

void
xbuf_add(struct xbuf *b, const char *s, size_t len)
{
	if (len == 0 || xbuf_grow(b, len) == -1)
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
}

void
xbuf_adds(struct xbuf *b, const char *s)
{
	xbuf_add(b, s, strlen(s));
}

void
xbuf_addf(struct xbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (xbuf_grow(b, (size_t)n + 1) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * Escape with a table.  \r, and in attributes \t and \n, are written as
 * character references because a parser would otherwise normalize them
 * (XML 1.0 sections 2.11 and 3.3.3) and the round trip would change them.
 * esc_class: bit 1 escaped in text and attributes, bit 2 in attributes
 * only; the common case (no markup in a body) costs one load per byte.
 */
static const unsigned char esc_class[256] = {
	['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
	['"'] = 2, ['\''] = 2, ['\t'] = 2, ['\n'] = 2,
};

static const char *
esc_entity(char c)
{
	switch (c) {
	case '&':	return "&amp;";
	case '<':	return "&lt;";
	case '>':	return "&gt;";
	case '\r':	return "&#13;";
	case '"':	return "&quot;";
	case '\'':	return "&apos;";
	case '\t':	return "&#9;";
	default:	return "&#10;";
	}
}

/*
 * The first byte at or after s that may need escaping, eight bytes at a
 * time (every message body goes through here): a byte equal to c in word
 * w shows as the high bit of its lane in haszero(w ^ c * ONES), exact for
 * the lowest such lane, which is all we use.  Bytes it reports are then
 * checked against esc_class, so this only has to find the candidates.
 */
#define ONES		0x0101010101010101ULL
#define HIGHS		0x8080808080808080ULL
#define HASZERO(v)	(((v) - ONES) & ~(v) & HIGHS)
#define HASBYTE(w, c)	HASZERO((w) ^ (ONES * (unsigned char)(c)))

static const char *
next_special(const char *s, const char *end, int attr)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t	 w, m;

	for (; end - s >= 8; s += 8) {
		memcpy(&w, s, sizeof(w));
		m = HASBYTE(w, '&') | HASBYTE(w, '<') | HASBYTE(w, '>') |
		    HASBYTE(w, '\r');
		if (attr)
			m |= HASBYTE(w, '"') | HASBYTE(w, '\'') |
			    HASBYTE(w, '\t') | HASBYTE(w, '\n');
		if (m != 0)
			return s + (__builtin_ctzll(m) >> 3);
	}
#endif
	for (; s < end; s++)
		if (esc_class[(unsigned char)*s] & (attr ? 3 : 1))
			break;
	return s;
}

static void
add_escaped(struct xbuf *b, const char *s, size_t len, int attr)
{
	const char	*run = s, *end = s + len;

	while ((s = next_special(s, end, attr)) < end) {
		xbuf_add(b, run, (size_t)(s - run));
		xbuf_adds(b, esc_entity(*s));
		run = ++s;
	}
	xbuf_add(b, run, (size_t)(end - run));
}

void
xbuf_add_text(struct xbuf *b, const char *s, size_t len)
{
	add_escaped(b, s, len, 0);
}

void
xbuf_add_attr(struct xbuf *b, const char *s)
{
	add_escaped(b, s, strlen(s), 1);
}

/* ---- tree ---- */

static struct xnode *
elem_alloc(const char *name, size_t nlen, const char *ns, size_t nslen)
{
	struct xnode	*n;
	char		*p;

	if (nlen > SIZE_MAX / 4 || nslen > SIZE_MAX / 4)
		return NULL;
	if ((n = malloc(sizeof(*n) + nlen + nslen + 2)) == NULL)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = XNODE_ELEM;
	p = (char *)(n + 1);
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	n->name = p;
	p += nlen + 1;
	memcpy(p, ns, nslen);
	p[nslen] = '\0';
	n->ns = p;
	return n;
}

struct xnode *
xnode_new(const char *name, const char *ns)
{
	if (ns == NULL)
		ns = "";
	return elem_alloc(name, strlen(name), ns, strlen(ns));
}

void
xnode_append(struct xnode *parent, struct xnode *child)
{
	child->parent = parent;
	child->next = NULL;
	if (parent->last != NULL)
		parent->last->next = child;
	else
		parent->children = child;
	parent->last = child;
}

/* A NULL ns means the parent's namespace. */
struct xnode *
xnode_add_child(struct xnode *parent, const char *name, const char *ns)
{
	struct xnode	*n;

	if ((n = xnode_new(name, ns != NULL ? ns : parent->ns)) != NULL)
		xnode_append(parent, n);
	return n;
}

/* Text capacity is implied by the length: the next power of two, >= 32. */
static size_t
text_cap(size_t len)
{
	size_t	 cap = 32;

	while (cap < len + 1 && cap < SIZE_MAX / 2)
		cap *= 2;
	return cap;
}

static int
text_append(struct xnode *t, const char *s, size_t len)
{
	char	*p;
	size_t	 cap;

	if (len > SIZE_MAX / 4 - t->textlen)
		return -1;
	cap = text_cap(t->textlen);
	if (t->text == NULL || t->textlen + len + 1 > cap) {
		cap = text_cap(t->textlen + len);
		if ((p = realloc(t->text, cap)) == NULL)
			return -1;
		t->text = p;
	}
	memcpy(t->text + t->textlen, s, len);
	t->textlen += len;
	t->text[t->textlen] = '\0';
	return 0;
}

static int
add_text(struct xnode *n, const char *s, size_t len)
{
	struct xnode	*t = n->last;

	if (t == NULL || t->type != XNODE_TEXT) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return -1;
		t->type = XNODE_TEXT;
		if (text_append(t, s, len) == -1) {
			free(t);
			return -1;
		}
		xnode_append(n, t);
		return 0;
	}
	return text_append(t, s, len);
}

void
xnode_add_text(struct xnode *n, const char *s, size_t len)
{
	(void)add_text(n, s, len);
}

void
xnode_unlink(struct xnode *n)
{
	struct xnode	*p = n->parent, *prev;

	if (p == NULL)
		return;
	if (p->children == n)
		p->children = n->next;
	else {
		for (prev = p->children; prev->next != n; prev = prev->next)
			;
		prev->next = n->next;
		if (p->last == n)
			p->last = prev;
	}
	if (p->last == n)
		p->last = NULL;
	n->parent = NULL;
	n->next = NULL;
}

static void
node_release(struct xnode *n)
{
	size_t	 i;

	if (n->type == XNODE_TEXT)
		free(n->text);
	else {
		for (i = 0; i < n->nattrs; i++)
			free(n->attrs[i].name);
		free(n->attrs);
	}
	free(n);
}

/* Frees n and its subtree without recursion; n is unlinked first. */
void
xnode_free(struct xnode *n)
{
	struct xnode	*root = n, *next;

	if (n == NULL)
		return;
	xnode_unlink(n);
	while (n != NULL) {
		if (n->type == XNODE_ELEM && n->children != NULL) {
			next = n->children;
			n->children = NULL;
			n = next;
			continue;
		}
		next = n == root ? NULL : n->next ? n->next : n->parent;
		node_release(n);
		n = next;
	}
}

/* One allocation per attribute: "name\0ns\0value\0". */
static int
attr_fill(struct xattr *a, const char *name, size_t nlen, const char *ns,
    size_t nslen, const char *value)
{
	size_t	 vlen = strlen(value);
	char	*p;

	if (nlen > SIZE_MAX / 4 || nslen > SIZE_MAX / 4 || vlen > SIZE_MAX / 4)
		return -1;
	if ((p = malloc(nlen + nslen + vlen + 3)) == NULL)
		return -1;
	a->name = p;
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	p += nlen + 1;
	a->ns = NULL;
	if (ns != NULL) {
		memcpy(p, ns, nslen);
		p[nslen] = '\0';
		a->ns = p;
		p += nslen + 1;
	}
	memcpy(p, value, vlen + 1);
	a->value = p;
	return 0;
}

static int
ns_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static ssize_t
attr_find(const struct xnode *n, const char *ns, const char *name)
{
	size_t	 i;

	if (n->type != XNODE_ELEM)
		return -1;
	for (i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0 &&
		    ns_eq(n->attrs[i].ns, ns))
			return (ssize_t)i;
	return -1;
}

/* On allocation failure the attribute is left as it was. */
void
xnode_set_attr_ns(struct xnode *n, const char *ns, const char *name,
    const char *value)
{
	struct xattr	 a, *na;
	ssize_t		 i;

	if (ns != NULL && *ns == '\0')
		ns = NULL;
	i = attr_find(n, ns, name);
	if (value == NULL) {
		if (i < 0)
			return;
		free(n->attrs[i].name);
		memmove(&n->attrs[i], &n->attrs[i + 1],
		    (n->nattrs - (size_t)i - 1) * sizeof(*n->attrs));
		n->nattrs--;
		return;
	}
	if (attr_fill(&a, name, strlen(name), ns, ns ? strlen(ns) : 0,
	    value) == -1)
		return;
	if (i >= 0) {
		free(n->attrs[i].name);
		n->attrs[i] = a;
		return;
	}
	if ((na = reallocarray(n->attrs, n->nattrs + 1, sizeof(*na))) == NULL) {
		free(a.name);
		return;
	}
	n->attrs = na;
	n->attrs[n->nattrs++] = a;
}

void
xnode_set_attr(struct xnode *n, const char *name, const char *value)
{
	xnode_set_attr_ns(n, NULL, name, value);
}

const char *
xnode_attr_ns(const struct xnode *n, const char *ns, const char *name)
{
	ssize_t	 i;

	if (ns != NULL && *ns == '\0')
		ns = NULL;
	i = attr_find(n, ns, name);
	return i < 0 ? NULL : n->attrs[i].value;
}

const char *
xnode_attr(const struct xnode *n, const char *name)
{
	return xnode_attr_ns(n, NULL, name);
}

struct xnode *
xnode_first_elem(const struct xnode *n)
{
	struct xnode	*c;

	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XNODE_ELEM)
			return c;
	return NULL;
}

struct xnode *
xnode_next_elem(const struct xnode *n)
{
	struct xnode	*c;

	for (c = n->next; c != NULL; c = c->next)
		if (c->type == XNODE_ELEM)
			return c;
	return NULL;
}

struct xnode *
xnode_child(const struct xnode *n, const char *name, const char *ns)
{
	struct xnode	*c;

	for (c = xnode_first_elem(n); c != NULL; c = xnode_next_elem(c))
		if (strcmp(c->name, name) == 0 &&
		    (ns == NULL || strcmp(c->ns, ns) == 0))
			return c;
	return NULL;
}

char *
xnode_text(const struct xnode *n)
{
	const struct xnode	*c;
	size_t			 len = 0;
	char			*s, *p;

	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XNODE_TEXT)
			len += c->textlen;
	if ((s = p = malloc(len + 1)) == NULL)
		return NULL;
	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XNODE_TEXT) {
			memcpy(p, c->text, c->textlen);
			p += c->textlen;
		}
	*p = '\0';
	return s;
}

/* Recursive: parsed trees are at most max_depth deep. */
struct xnode *
xnode_dup(const struct xnode *n)
{
	struct xnode		*d, *cd;
	const struct xnode	*c;
	size_t			 i;

	if (n->type == XNODE_TEXT) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return NULL;
		d->type = XNODE_TEXT;
		if (text_append(d, n->text ? n->text : "", n->textlen) == -1) {
			free(d);
			return NULL;
		}
		return d;
	}
	if ((d = xnode_new(n->name, n->ns)) == NULL)
		return NULL;
	if (n->nattrs > 0 &&
	    (d->attrs = calloc(n->nattrs, sizeof(*d->attrs))) == NULL)
		goto fail;
	for (i = 0; i < n->nattrs; i++, d->nattrs++) {
		const struct xattr *a = &n->attrs[i];
		if (attr_fill(&d->attrs[i], a->name, strlen(a->name), a->ns,
		    a->ns ? strlen(a->ns) : 0, a->value) == -1)
			goto fail;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if ((cd = xnode_dup(c)) == NULL)
			goto fail;
		xnode_append(d, cd);
	}
	return d;
fail:
	xnode_free(d);
	return NULL;
}

/* ---- serializer ---- */

/*
 * Namespaced attributes get prefix "a<i>", i the index of the first
 * attribute in that namespace, declared on that first use (XML
 * Namespaces section 3); xml:* needs no declaration.
 */
static void
serialize_attrs(struct xbuf *b, const struct xnode *n)
{
	const struct xattr	*a;
	size_t			 i, j;

	for (i = 0; i < n->nattrs; i++) {
		a = &n->attrs[i];
		xbuf_add(b, " ", 1);
		if (a->ns == NULL || *a->ns == '\0')
			;
		else if (strcmp(a->ns, XMLNS_XML) == 0)
			xbuf_add(b, "xml:", 4);
		else {
			for (j = 0; j < i; j++)
				if (ns_eq(n->attrs[j].ns, a->ns))
					break;
			if (j == i) {
				xbuf_addf(b, "xmlns:a%zu='", j);
				xbuf_add_attr(b, a->ns);
				xbuf_add(b, "' ", 2);
			}
			xbuf_addf(b, "a%zu:", j);
		}
		xbuf_adds(b, a->name);
		xbuf_add(b, "='", 2);
		xbuf_add_attr(b, a->value);
		xbuf_add(b, "'", 1);
	}
}

void
xml_serialize(struct xbuf *b, const struct xnode *n, const char *parent_ns)
{
	const struct xnode	*c;
	const char		*ns;

	if (n->type == XNODE_TEXT) {
		xbuf_add_text(b, n->text, n->textlen);
		return;
	}
	ns = n->ns != NULL ? n->ns : "";
	xbuf_add(b, "<", 1);
	xbuf_adds(b, n->name);
	if (parent_ns == NULL || strcmp(ns, parent_ns) != 0) {
		xbuf_add(b, " xmlns='", 8);
		xbuf_add_attr(b, ns);
		xbuf_add(b, "'", 1);
	}
	serialize_attrs(b, n);
	if (n->children == NULL) {
		xbuf_add(b, "/>", 2);
		return;
	}
	xbuf_add(b, ">", 1);
	for (c = n->children; c != NULL; c = c->next)
		xml_serialize(b, c, ns);
	xbuf_add(b, "</", 2);
	xbuf_adds(b, n->name);
	xbuf_add(b, ">", 1);
}

/* ---- parser ---- */

const char *
xml_error_condition(enum xml_error e)
{
	switch (e) {
	case XE_NOT_WELL_FORMED:	return "not-well-formed";
	case XE_RESTRICTED_XML:		return "restricted-xml";
	case XE_POLICY_VIOLATION:	return "policy-violation";
	case XE_INVALID_NAMESPACE:	return "invalid-namespace";
	case XE_BAD_FORMAT:		return "bad-format";
	case XE_UNSUPPORTED_ENCODING:	return "unsupported-encoding";
	case XE_INTERNAL:		return "internal-server-error";
	case XE_NONE:
		break;
	}
	return "undefined-condition";
}

/* Only meaningful inside a handler. */
static long long
event_end(struct xml_stream *s)
{
	return s->shift + (long long)XML_GetCurrentByteIndex(s->p) +
	    XML_GetCurrentByteCount(s->p);
}

static void
stop(struct xml_stream *s)
{
	if (s->stopped)
		return;
	s->stopped = 1;
	if (s->in_parse)
		XML_StopParser(s->p, XML_FALSE);
}

static void
fail(struct xml_stream *s, enum xml_error e, const char *detail)
{
	if (s->err == XE_NONE) {
		s->err = e;
		s->detail = detail;
	}
	stop(s);
}

/* Splits expat's "uri<NS_SEP>local" (or "local"). */
static const char *
split_name(const char *qn, size_t *nslen)
{
	const char	*sep = strchr(qn, NS_SEP);

	if (sep == NULL) {
		*nslen = 0;
		return qn;
	}
	*nslen = (size_t)(sep - qn);
	return sep + 1;
}

static struct xnode *
make_elem(struct xml_stream *s, const char *qn, const char **atts)
{
	struct xnode	*n;
	const char	*local, *alocal;
	size_t		 nslen, anslen, na, i;

	for (na = 0; atts[2 * na] != NULL; na++)
		;
	if (na > s->lim.max_attrs) {
		fail(s, XE_POLICY_VIOLATION, "too many attributes");
		return NULL;
	}
	local = split_name(qn, &nslen);
	if ((n = elem_alloc(local, strlen(local), qn, nslen)) == NULL)
		goto oom;
	if (na > 0 && (n->attrs = calloc(na, sizeof(*n->attrs))) == NULL)
		goto oom;
	for (i = 0; i < na; i++, n->nattrs++) {
		alocal = split_name(atts[2 * i], &anslen);
		if (attr_fill(&n->attrs[i], alocal, strlen(alocal),
		    anslen ? atts[2 * i] : NULL, anslen, atts[2 * i + 1]) == -1)
			goto oom;
	}
	return n;
oom:
	xnode_free(n);
	fail(s, XE_INTERNAL, "out of memory");
	return NULL;
}

/* Keeps the root's start tag as it came, for xml_stream_sleep(); without
 * it (too long, no memory, expat without context bytes) the stream just
 * never sleeps. */
static void
save_header(struct xml_stream *s)
{
	const char	*buf;
	int		 off, size, n = XML_GetCurrentByteCount(s->p);

	free(s->hdr);
	s->hdr = NULL;
	s->hdr_len = 0;
	if (n <= 0 || n > MAX_SAVED_HEADER ||
	    (buf = XML_GetInputContext(s->p, &off, &size)) == NULL ||
	    off < 0 || n > size - off || (s->hdr = malloc(n)) == NULL)
		return;
	memcpy(s->hdr, buf + off, n);
	s->hdr_len = (size_t)n;
}

/* Stream mode: the root must be <stream:stream/> (RFC 6120 section 4.8.1). */
static void
root_start(struct xml_stream *s, const char *qn, const char **atts)
{
	struct xnode	*hdr;

	if (s->replay)
		return;		/* waking: the stream was opened before */
	if ((hdr = make_elem(s, qn, atts)) == NULL)
		return;
	if (strcmp(hdr->name, "stream") != 0)
		fail(s, XE_BAD_FORMAT, "root is not a stream");
	else if (strcmp(hdr->ns, XMLNS_STREAM) != 0)
		fail(s, XE_INVALID_NAMESPACE, "wrong stream namespace");
	else {
		s->mark = s->last_ev = event_end(s);
		s->rescan = 0;
		save_header(s);
		if (s->cb.stream_open != NULL)
			s->cb.stream_open(s->arg, hdr);
	}
	xnode_free(hdr);
}

static void XMLCALL
on_start(void *ud, const XML_Char *qn, const XML_Char **atts)
{
	struct xml_stream	*s = ud;
	struct xnode		*n;
	size_t			 level;

	if (s->stopped)
		return;
	if (++s->depth <= s->base) {
		root_start(s, qn, atts);
		return;
	}
	level = s->depth - s->base;
	if (level > s->lim.max_depth) {
		fail(s, XE_POLICY_VIOLATION, "elements nested too deep");
		return;
	}
	if (level == 1)
		s->stanza_start = s->shift + XML_GetCurrentByteIndex(s->p);
	else if (++s->kids[level - 1] > s->lim.max_children) {
		fail(s, XE_POLICY_VIOLATION, "too many child elements");
		return;
	}
	s->kids[level] = 0;
	if ((n = make_elem(s, qn, atts)) == NULL)
		return;
	s->last_ev = event_end(s);
	if (level == 1)
		s->top = n;
	else
		xnode_append(s->cur, n);
	s->cur = n;
}

static void
stanza_end(struct xml_stream *s)
{
	struct xnode	*n = s->top;
	long long	 end = event_end(s);

	if (end - s->stanza_start > (long long)s->lim.max_stanza) {
		fail(s, XE_POLICY_VIOLATION, "stanza too large");
		return;
	}
	s->top = s->cur = NULL;
	s->mark = s->last_ev = end;
	s->rescan = 0;
	if (s->mode == XML_MODE_FRAMED)
		s->result = n;		/* delivered once the document is done */
	else if (s->cb.stanza != NULL)
		s->cb.stanza(s->arg, n);
	else
		xnode_free(n);
}

static void XMLCALL
on_end(void *ud, const XML_Char *qn)
{
	struct xml_stream	*s = ud;

	if (s->stopped)
		return;
	if (s->depth-- <= s->base) {
		s->mark = s->last_ev = event_end(s);
		if (s->cb.stream_close != NULL)
			s->cb.stream_close(s->arg);
		return;
	}
	if (s->depth == s->base)
		stanza_end(s);
	else {
		s->cur = s->cur->parent;
		s->last_ev = event_end(s);
	}
}

static void XMLCALL
on_text(void *ud, const XML_Char *txt, int len)
{
	struct xml_stream	*s = ud;
	int			 i;

	if (s->stopped)
		return;
	if (s->cur == NULL) {
		/* Between stanzas: whitespace keepalives only. */
		for (i = 0; i < len; i++)
			if (txt[i] != ' ' && txt[i] != '\t' &&
			    txt[i] != '\n' && txt[i] != '\r') {
				fail(s, XE_BAD_FORMAT, "text between stanzas");
				return;
			}
		s->mark = s->last_ev = event_end(s);
		return;
	}
	s->last_ev = event_end(s);
	if (add_text(s->cur, txt, (size_t)len) == -1)
		fail(s, XE_INTERNAL, "out of memory");
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, XE_RESTRICTED_XML, "DOCTYPE");
}

static void XMLCALL
on_entity_decl(void *ud, const XML_Char *name, int is_pe,
    const XML_Char *value, int vlen, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	fail(ud, XE_RESTRICTED_XML, "entity declaration");
}

static void XMLCALL
on_unparsed(void *ud, const XML_Char *name, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	fail(ud, XE_RESTRICTED_XML, "unparsed entity");
}

static void XMLCALL
on_notation(void *ud, const XML_Char *name, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid)
{
	fail(ud, XE_RESTRICTED_XML, "notation");
}

static int XMLCALL
on_extref(XML_Parser p, const XML_Char *ctx, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid)
{
	fail(XML_GetUserData(p), XE_RESTRICTED_XML, "external entity");
	return XML_STATUS_ERROR;
}

static void XMLCALL
on_skipped(void *ud, const XML_Char *name, int is_pe)
{
	fail(ud, XE_RESTRICTED_XML, "entity reference");
}

static void XMLCALL
on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	fail(ud, XE_RESTRICTED_XML, "processing instruction");
}

static void XMLCALL
on_comment(void *ud, const XML_Char *data)
{
	fail(ud, XE_RESTRICTED_XML, "comment");
}

/* The encoding is forced to UTF-8; a declaration of another is refused. */
static void XMLCALL
on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
    int standalone)
{
	if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
		fail(ud, XE_UNSUPPORTED_ENCODING, "encoding is not UTF-8");
}

static void
setup_parser(struct xml_stream *s)
{
	XML_Parser	 p = s->p;

	XML_SetUserData(p, s);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity_decl);
	XML_SetUnparsedEntityDeclHandler(p, on_unparsed);
	XML_SetNotationDeclHandler(p, on_notation);
	XML_SetExternalEntityRefHandler(p, on_extref);
	XML_SetSkippedEntityHandler(p, on_skipped);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetCommentHandler(p, on_comment);
	XML_SetXmlDeclHandler(p, on_xmldecl);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_SetReparseDeferralEnabled != NULL)
		XML_SetReparseDeferralEnabled(p, XML_FALSE);
}

static void
clear_state(struct xml_stream *s)
{
	xnode_free(s->top);
	xnode_free(s->result);
	s->top = s->cur = s->result = NULL;
	s->depth = 0;
	s->fed = s->stanza_start = s->mark = s->restart_at = s->shift = 0;
	s->last_ev = s->rescan = 0;
	s->err = XE_NONE;
	s->detail = NULL;
	s->stopped = 0;
	s->reset_pending = 0;
}

/* A parser and the per-level counts, after xml_stream_sleep() freed them. */
static int
make_parser(struct xml_stream *s)
{
	struct xml_stream	*prev;
	static const char	 sep[] = { NS_SEP, '\0' };

	if (s->kids == NULL &&
	    (s->kids = calloc(s->lim.max_depth + 2, sizeof(*s->kids))) == NULL)
		return -1;
	if (s->mode == XML_MODE_STREAM && s->slab == NULL &&
	    (s->slab = malloc(PARSER_SLAB)) == NULL)
		return -1;
	s->slab_used = 0;
	s->slab_last = SLAB_NOLAST;
	prev = mm_enter(s);
	s->p = XML_ParserCreate_MM("UTF-8", &mm_suite, sep);
	mm_cur = prev;
	if (s->p == NULL)
		return -1;
	setup_parser(s);
	return 0;
}

/* The parser and its slab go. */
static void
drop_parser(struct xml_stream *s)
{
	struct xml_stream *prev = mm_enter(s);

	if (s->p != NULL)
		XML_ParserFree(s->p);
	mm_cur = prev;
	s->p = NULL;
	free(s->slab);
	s->slab = NULL;
}

/*
 * Returns -1 if expat could not reset (out of memory).  In stream mode the
 * parser goes and the next feed makes one: its memory is then allocated
 * in one go after what the stream restart came with (a TLS session), so
 * a later xml_stream_sleep() frees whole pages rather than holes between
 * long-lived objects.  Framed mode resets for every document and keeps it.
 */
static int
reset_now(struct xml_stream *s)
{
	struct xml_stream	*prev;
	int			 ok;

	clear_state(s);
	free(s->hdr);
	s->hdr = NULL;
	s->hdr_len = 0;
	if (s->mode == XML_MODE_STREAM) {
		drop_parser(s);
		return 0;
	}
	/* framed mode: no slab, expat's memory is malloc's (mm_cur NULL) */
	prev = mm_enter(NULL);
	ok = s->p == NULL ? make_parser(s) == 0 :
	    XML_ParserReset(s->p, "UTF-8") == XML_TRUE;
	mm_cur = prev;
	if (!ok) {
		s->err = XE_INTERNAL;
		s->detail = "parser reset failed";
		return -1;
	}
	setup_parser(s);
	return 0;
}

static int
set_limits(struct xml_stream *s, const struct xml_limits *lim)
{
	size_t	*k;

	if (lim != NULL)
		s->lim = *lim;
	else
		memset(&s->lim, 0, sizeof(s->lim));
	if (s->lim.max_stanza == 0)
		s->lim.max_stanza = DEF_MAX_STANZA;
	if (s->lim.max_stanza > LLONG_MAX / 4)
		s->lim.max_stanza = LLONG_MAX / 4;
	if (s->lim.max_depth == 0)
		s->lim.max_depth = DEF_MAX_DEPTH;
	if (s->lim.max_depth > 100000)
		s->lim.max_depth = 100000;
	if (s->lim.max_attrs == 0)
		s->lim.max_attrs = DEF_MAX_ATTRS;
	if (s->lim.max_children == 0)
		s->lim.max_children = DEF_MAX_CHILDREN;
	if ((k = reallocarray(s->kids, s->lim.max_depth + 2,
	    sizeof(*k))) == NULL)
		return -1;
	s->kids = k;
	s->piece = s->lim.max_stanza / 4;
	if (s->piece > MAX_PIECE)
		s->piece = MAX_PIECE;
	if (s->piece < MIN_PIECE)
		s->piece = MIN_PIECE;
	return 0;
}

struct xml_stream *
xml_stream_new(enum xml_mode mode, const struct xml_limits *lim,
    const struct xml_callbacks *cb, void *arg)
{
	struct xml_stream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->mode = mode;
	s->base = mode == XML_MODE_STREAM ? 1 : 0;
	if (cb != NULL)
		s->cb = *cb;
	s->arg = arg;
	/* stream mode: the first feed makes the parser (see reset_now) */
	if (set_limits(s, lim) == -1 ||
	    (mode == XML_MODE_FRAMED && make_parser(s) == -1)) {
		free(s->kids);
		free(s);
		return NULL;
	}
	return s;
}

void
xml_stream_free(struct xml_stream *s)
{
	if (s == NULL)
		return;
	clear_state(s);
	drop_parser(s);
	free(s->kids);
	free(s->hdr);
	free(s);
}

/*
 * Frees the parser while nothing is pending: between stanzas of an open
 * stream whose header was kept, or between documents in framed mode.
 */
int
xml_stream_sleep(struct xml_stream *s)
{
	if (s->p == NULL)
		return 0;
	if (s->in_parse || s->err != XE_NONE || s->stopped ||
	    s->reset_pending || s->top != NULL || s->result != NULL)
		return -1;
	if (s->mode == XML_MODE_STREAM && (s->hdr == NULL ||
	    s->depth != s->base || s->mark != s->fed || s->last_ev != s->fed))
		return -1;
	drop_parser(s);
	free(s->kids);
	s->kids = NULL;
	return 1;
}

/* A new parser that stands where the old one stood: inside the root, with
 * offsets going on from s->fed; or, at the start of a stream, a fresh one. */
static int
wake(struct xml_stream *s)
{
	struct xml_stream	*prev;
	enum XML_Status		 st;

	if (make_parser(s) == -1) {
		fail(s, XE_INTERNAL, "out of memory");
		return -1;
	}
	if (s->hdr == NULL)
		return 0;
	s->depth = 0;
	s->shift = s->fed - (long long)s->hdr_len;
	s->replay = s->in_parse = 1;
	prev = mm_enter(s);
	st = XML_Parse(s->p, s->hdr, (int)s->hdr_len, XML_FALSE);
	mm_cur = prev;
	s->replay = s->in_parse = 0;
	if (st != XML_STATUS_OK || s->depth != s->base || s->err != XE_NONE) {
		s->err = XE_NONE;
		fail(s, XE_INTERNAL, "parser wake failed");
		return -1;
	}
	return 0;
}

/* Inside a parse the reset waits for expat to return (see feed_piece). */
void
xml_stream_reset(struct xml_stream *s)
{
	if (s->in_parse) {
		if (!s->reset_pending) {
			s->reset_pending = 1;
			s->restart_at = event_end(s);
		}
		stop(s);
		return;
	}
	(void)reset_now(s);
}

size_t
xml_stream_pending(const struct xml_stream *s)
{
	long long	 from = s->top != NULL ? s->stanza_start : s->mark;

	return s->fed > from ? (size_t)(s->fed - from) : 0;
}

static enum xml_error
map_expat_error(enum XML_Error e)
{
	switch (e) {
	case XML_ERROR_NO_MEMORY:
		return XE_INTERNAL;
	case XML_ERROR_UNKNOWN_ENCODING:
	case XML_ERROR_INCORRECT_ENCODING:
		return XE_UNSUPPORTED_ENCODING;
	default:
		return XE_NOT_WELL_FORMED;
	}
}

static void
parse_failed(struct xml_stream *s)
{
	enum XML_Error	 e = XML_GetErrorCode(s->p);
	const char	*d = XML_ErrorString(e);

	fail(s, map_expat_error(e), d != NULL ? d : "parse error");
}

/* See RESCAN_FACTOR. */
static void
charge_rescan(struct xml_stream *s)
{
	long long	 partial = s->fed - s->last_ev;

	if (partial <= RESCAN_FLOOR)
		return;
	s->rescan += partial;
	if (s->rescan / RESCAN_FACTOR > (long long)s->lim.max_stanza)
		fail(s, XE_POLICY_VIOLATION, "token fed in too many pieces");
}

/*
 * Feeds one piece; returns how many bytes of it were used (fewer when a
 * callback reset the stream: the rest belongs to the new stream).
 */
static size_t
feed_piece(struct xml_stream *s, const char *buf, size_t n)
{
	struct xml_stream	*prev;
	long long		 start = s->fed, off;
	enum XML_Status		 st;

	s->in_parse = 1;
	prev = mm_enter(s);
	st = XML_Parse(s->p, buf, (int)n, XML_FALSE);
	mm_cur = prev;
	s->in_parse = 0;
	s->fed += (long long)n;
	if (s->reset_pending && s->err == XE_NONE) {
		off = s->restart_at - start;
		if (off < 0)
			off = 0;
		if (off > (long long)n)
			off = (long long)n;
		(void)reset_now(s);
		return (size_t)off;
	}
	if (st == XML_STATUS_ERROR)
		parse_failed(s);
	else if (xml_stream_pending(s) > s->lim.max_stanza)
		fail(s, XE_POLICY_VIOLATION, "stanza too large");
	else
		charge_rescan(s);
	return n;
}

/* Reports the error once; the callback may reset the stream. */
static int
report(struct xml_stream *s)
{
	enum xml_error	 e = s->err;
	const char	*d = s->detail;

	s->detail = NULL;
	if (d == NULL)		/* already reported */
		return -1;
	if (s->cb.error != NULL)
		s->cb.error(s->arg, e, d);
	return -1;
}

/* One complete document: parse it all, deliver its root to *out. */
static struct xnode *
parse_doc(struct xml_stream *s, const char *buf, size_t len)
{
	struct xml_stream	*prev;
	struct xnode		*root;
	enum XML_Status		 st;

	if (reset_now(s) == -1)
		return NULL;
	if (len > s->lim.max_stanza || len > INT_MAX) {
		fail(s, XE_POLICY_VIOLATION, "stanza too large");
		return NULL;
	}
	s->in_parse = 1;
	prev = mm_enter(NULL);
	st = XML_Parse(s->p, buf, (int)len, XML_TRUE);
	mm_cur = prev;
	if (st == XML_STATUS_ERROR && s->err == XE_NONE)
		parse_failed(s);
	s->in_parse = 0;
	if (s->err != XE_NONE)
		return NULL;
	root = s->result;
	s->result = NULL;
	if (root == NULL)
		fail(s, XE_NOT_WELL_FORMED, "no element");
	return root;
}

/* RFC 7395 section 3.3: <open/> and <close/> frame the stream. */
static int
feed_framed(struct xml_stream *s, const char *buf, size_t len)
{
	struct xnode	*root;

	if ((root = parse_doc(s, buf, len)) == NULL)
		return report(s);
	if (strcmp(root->ns, XMLNS_FRAMING) == 0 &&
	    strcmp(root->name, "open") == 0) {
		if (s->cb.stream_open != NULL)
			s->cb.stream_open(s->arg, root);
		xnode_free(root);
	} else if (strcmp(root->ns, XMLNS_FRAMING) == 0 &&
	    strcmp(root->name, "close") == 0) {
		xnode_free(root);
		if (s->cb.stream_close != NULL)
			s->cb.stream_close(s->arg);
	} else if (s->cb.stanza != NULL)
		s->cb.stanza(s->arg, root);
	else
		xnode_free(root);
	return 0;
}

int
xml_stream_feed(struct xml_stream *s, const char *buf, size_t len)
{
	size_t	 n;

	if (s->err != XE_NONE)
		return -1;
	if (s->mode == XML_MODE_FRAMED)
		return feed_framed(s, buf, len);
	while (len > 0 && s->err == XE_NONE) {
		/* after xml_stream_sleep(), or a restart (reset_now) */
		if (s->p == NULL && wake(s) == -1)
			break;
		n = feed_piece(s, buf, len < s->piece ? len : s->piece);
		buf += n;
		len -= n;
	}
	if (s->err != XE_NONE)
		return report(s);
	return 0;
}

/*
 * A parser kept for xml_parse_element(): daemons are single-threaded and
 * parse a stanza per frame, so creating expat each time would be waste.
 */
static __thread struct xml_stream *elem_parser;

struct xnode *
xml_parse_element(const char *buf, size_t len, const struct xml_limits *lim)
{
	struct xml_stream	*s = elem_parser;
	struct xnode		*root;

	if (s == NULL) {
		if ((s = xml_stream_new(XML_MODE_FRAMED, lim, NULL, NULL)) ==
		    NULL)
			return NULL;
		elem_parser = s;
	} else if (set_limits(s, lim) == -1)
		return NULL;
	root = parse_doc(s, buf, len);
	clear_state(s);
	return root;
}
