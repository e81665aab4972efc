/*
 * xml.h - XML for XMPP streams: an incremental stanza parser on expat,
 * a small element tree for one stanza, and a serializer.
 *
 * The parser is fed raw bytes as they arrive.  It reports the stream
 * header, each complete top-level child of the stream (a stanza, or
 * <starttls/>, <auth/>, ...) as a tree the callback owns, and the end of
 * the stream.  It refuses what XMPP forbids (RFC 6120 section 11.1): DOCTYPE,
 * entity declarations, processing instructions, comments; and invalid
 * UTF-8.  It enforces limits per stanza (bytes, depth, attributes per
 * element, children per element) and reports the stream error condition to
 * send.  In framed mode (RFC 7395 WebSocket) every message is one complete
 * document: <open/>, <close/> or a stanza.
 *
 * Names in the tree are local names; `ns` is the namespace URI (never a
 * prefix).  The serializer declares namespaces where an element's namespace
 * differs from its parent's, and escapes text and attribute values.
 */
#ifndef RAMPART_XML_H
#define RAMPART_XML_H

#include <stddef.h>

#define XMLNS_STREAM	"http://etherx.jabber.org/streams"
#define XMLNS_CLIENT	"jabber:client"
#define XMLNS_SERVER	"jabber:server"
#define XMLNS_XML	"http://www.w3.org/XML/1998/namespace"
#define XMLNS_FRAMING	"urn:ietf:params:xml:ns:xmpp-framing"

struct xattr {
	char		*name;		/* local name */
	char		*ns;		/* NULL for unqualified attributes */
	char		*value;
};

enum xnode_type { XNODE_ELEM, XNODE_TEXT };

struct xnode {
	enum xnode_type	 type;
	struct xnode	*parent;
	struct xnode	*next;		/* sibling */
	/* XNODE_ELEM */
	char		*name;
	char		*ns;
	struct xattr	*attrs;
	size_t		 nattrs;
	struct xnode	*children;	/* first child */
	struct xnode	*last;		/* last child */
	/* XNODE_TEXT */
	char		*text;
	size_t		 textlen;
};

/* Tree building and lookup. */
struct xnode *xnode_new(const char *name, const char *ns);
struct xnode *xnode_add_child(struct xnode *parent, const char *name, const char *ns);
/* Appends text (merged with a preceding text node). */
void	xnode_add_text(struct xnode *, const char *, size_t);
void	xnode_append(struct xnode *parent, struct xnode *child);
void	xnode_unlink(struct xnode *);
void	xnode_free(struct xnode *);
struct xnode *xnode_dup(const struct xnode *);
/* Sets or replaces (value NULL removes) an unqualified attribute. */
void	xnode_set_attr(struct xnode *, const char *name, const char *value);
void	xnode_set_attr_ns(struct xnode *, const char *ns, const char *name,
	    const char *value);
const char *xnode_attr(const struct xnode *, const char *name);
const char *xnode_attr_ns(const struct xnode *, const char *ns, const char *name);
/* First element child with this name and ns (NULL ns matches any). */
struct xnode *xnode_child(const struct xnode *, const char *name, const char *ns);
/* First element child, any name. */
struct xnode *xnode_first_elem(const struct xnode *);
struct xnode *xnode_next_elem(const struct xnode *);
/* Concatenated direct text children; NUL-terminated, caller frees. */
char	*xnode_text(const struct xnode *);

/* Serialization into a growable buffer. */
struct xbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 failed;	/* an allocation failed */
};
void	xbuf_init(struct xbuf *);
void	xbuf_free(struct xbuf *);
void	xbuf_reset(struct xbuf *);
void	xbuf_add(struct xbuf *, const char *, size_t);
void	xbuf_adds(struct xbuf *, const char *);
void	xbuf_addf(struct xbuf *, const char *, ...) __attribute__((format(printf, 2, 3)));
/* Escaped text (&amp; &lt; &gt;) or attribute value (also &quot; &apos;). */
void	xbuf_add_text(struct xbuf *, const char *, size_t);
void	xbuf_add_attr(struct xbuf *, const char *);
/* Serialize `n`; `parent_ns` is the default namespace in scope where it is
 * written (NULL: declare it always). */
void	xml_serialize(struct xbuf *, const struct xnode *, const char *parent_ns);

/* The incremental stream parser. */
struct xml_limits {
	size_t	max_stanza;	/* bytes of one top-level element, 0 = default 256 KiB */
	size_t	max_depth;	/* nesting below the stream, default 64 */
	size_t	max_attrs;	/* attributes per element, default 64 */
	size_t	max_children;	/* element children per element, default 1024 */
};

enum xml_error {
	XE_NONE = 0,
	XE_NOT_WELL_FORMED,	/* not-well-formed */
	XE_RESTRICTED_XML,	/* restricted-xml: DTD, PI, comment, entity */
	XE_POLICY_VIOLATION,	/* policy-violation: a limit was passed */
	XE_INVALID_NAMESPACE,	/* invalid-namespace: bad stream namespace */
	XE_BAD_FORMAT,		/* bad-format: e.g. a non-stream root */
	XE_UNSUPPORTED_ENCODING,/* unsupported-encoding: not UTF-8 */
	XE_INTERNAL,		/* internal-server-error: out of memory */
};

/* The RFC 6120 condition name of an error (e.g. "not-well-formed"). */
const char *xml_error_condition(enum xml_error);

struct xml_callbacks {
	/* Stream root opened; `hdr` holds its name, ns and attributes. */
	void	(*stream_open)(void *arg, const struct xnode *hdr);
	/* A complete top-level element; the callee owns `stanza`. */
	void	(*stanza)(void *arg, struct xnode *stanza);
	void	(*stream_close)(void *arg);
	/* Parsing stopped; no other callback follows until xml_stream_reset(). */
	void	(*error)(void *arg, enum xml_error, const char *detail);
};

enum xml_mode { XML_MODE_STREAM, XML_MODE_FRAMED };

struct xml_stream;
struct xml_stream *xml_stream_new(enum xml_mode, const struct xml_limits *,
	    const struct xml_callbacks *, void *arg);
/* Feed bytes; 0, or -1 once an error was reported.  Callbacks may call
 * xml_stream_reset() (stream restart) or free nothing else; the parser must
 * not be freed from inside a callback (use a deferred free). */
int	xml_stream_feed(struct xml_stream *, const char *, size_t);
/* Start a new stream (after STARTTLS or SASL success). */
void	xml_stream_reset(struct xml_stream *);
void	xml_stream_free(struct xml_stream *);
/* Between stanzas (or framed documents), free expat until the next feed;
 * 1 if it was freed now, 0 if it was asleep already, -1 if something is
 * pending (nothing changes). */
int	xml_stream_sleep(struct xml_stream *);
/* Bytes held by the parser for the current stanza (for memory accounting). */
size_t	xml_stream_pending(const struct xml_stream *);

/* Parse one complete standalone element (e.g. a stanza body from a frame),
 * with the same restrictions; NULL on error. */
struct xnode *xml_parse_element(const char *, size_t, const struct xml_limits *);

#endif
