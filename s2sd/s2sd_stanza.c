/*
 * s2sd_stanza.c - stanzas between s2sd's streams and routerd's frames.
 *
 * Inbound (a component or remote server sent it): the parsed tree is
 * serialized into a frame body whose default namespace is jabber:client
 * (docs/frames.md), whatever the stream's own content namespace was
 * (jabber:component:accept, jabber:server), with normalized from/to in
 * the header.  Outbound trouble: a stanza routerd sent us that cannot be
 * delivered is answered to its sender with an error stanza (RFC 6120 8.3);
 * a stanza of ours that routerd bounced is answered on the stream it came
 * from.  An error is never answered with an error (RFC 6120 8.3.1) and
 * presence is never bounced, like routerd does.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "pubsub.h"
#include "s2sd.h"
#include "stanza.h"

const char *
stream_ns(const struct s2s_conn *c)
{
	return c->kind == SK_COMPONENT ? NS_COMPONENT : XMLNS_SERVER;
}

/* RFC 6120 8.3.2: the error type that goes with each condition we use. */
static const char *
error_type(const char *cond)
{
	if (strcmp(cond, "resource-constraint") == 0 ||
	    strcmp(cond, "recipient-unavailable") == 0 ||
	    strcmp(cond, "remote-server-timeout") == 0)
		return "wait";
	if (strcmp(cond, "jid-malformed") == 0 ||
	    strcmp(cond, "bad-request") == 0)
		return "modify";
	return "cancel";
}

/* docs/pep.md, "Routing to pepd": an iq to an account's bare JID (a
 * normalized JID with a localpart and no resource) that is pepd's is
 * marked RFF_PEP, as c2sd does for clients, so a remote entity reaches
 * an account's PEP service (an OMEMO bundle, an avatar) and a remote
 * contact's answer reaches pepd's caps question. */
static uint16_t
pep_flag(const struct xnode *n, uint8_t kind, uint8_t stype, const char *to)
{
	if (kind != RK_IQ || strchr(to, '/') != NULL ||
	    strchr(to, '@') == NULL)
		return 0;
	return pubsub_iq_for_pep(n, stype) ? RFF_PEP : 0;
}

/*
 * Send `n` (parsed from a stream whose content namespace is `ns`) to
 * routerd.  Serializing with `ns` as the namespace in scope leaves the
 * stanza's own elements unqualified, i.e. in jabber:client inside the
 * frame.  ROUTE_INVALID when from/to are not JIDs or the type is
 * invalid, ROUTE_REFUSED when it cannot be passed on (no memory, or
 * routerd's link and s2sd's waiting list are full: s2sd_flow.c); the
 * caller answers the sender either way.
 */
enum route_result
stanza_route(struct xnode *n, const char *ns, uint64_t session)
{
	char		 from[JID_MAX + 1], to[JID_MAX + 1];
	const char	*f = xnode_attr(n, "from"), *t = xnode_attr(n, "to");
	uint8_t		 kind = stanza_kind(n->name), stype;
	struct xbuf	 b;
	struct fout	*out;

	stype = stanza_stype(kind, xnode_attr(n, "type"));
	if (f == NULL || t == NULL || stype == RS_NONE ||
	    jid_normalize(f, from, sizeof(from)) == -1 ||
	    jid_normalize(t, to, sizeof(to)) == -1)
		return ROUTE_INVALID;
	xbuf_init(&b);
	xml_serialize(&b, n, ns);
	out = b.failed ? NULL : fout_stanza(kind, stype, from, to, b.data,
	    b.len);
	xbuf_free(&b);
	if (out == NULL) {
		log_warnx("stanza for %s: out of memory", to);
		return ROUTE_REFUSED;
	}
	out->hdr.session = session;
	out->hdr.flags |= pep_flag(n, kind, stype, to);
	if (flow_send(out) == -1) {
		log_debug("stanza from %s for %s: routerd link full, refused",
		    from, to);
		return ROUTE_REFUSED;
	}
	return ROUTE_OK;
}

/* A stanza the peer of `c` sent could not be routed: the peer gets the
 * error (`invalid` is the condition for ROUTE_INVALID). */
void
stanza_from_stream(struct s2s_conn *c, struct xnode *n, const char *invalid)
{
	switch (stanza_route(n, stream_ns(c), c->id)) {
	case ROUTE_OK:
		break;
	case ROUTE_INVALID:
		stanza_node_error(c, n, stream_ns(c), invalid);
		break;
	case ROUTE_REFUSED:
		stanza_node_error(c, n, stream_ns(c), "resource-constraint");
		break;
	}
}

/* docs/pep.md, "Remote contacts": the streams with `remote` were lost
 * (not closed politely), so the presence its users sent us is no longer
 * kept up to date: pepd takes its contacts there as unavailable for the
 * accounts of `local` until they send presence again.  An optional
 * RF_PEP_PRESENCE with domains for JIDs (docs/frames.md). */
void
stanza_domain_lost(const char *local, const char *remote)
{
	struct fout	*f;

	if ((f = fout_new(RF_PEP_PRESENCE, remote, local)) == NULL)
		return;
	f->hdr.flags = RFF_OPTIONAL;
	fout_put_u8(f, 0);
	fout_put_str(f, "");
	fout_put_str(f, "");
	fout_put_str(f, "");
	fout_put_u16(f, 0);
	if (flow_send(f) == -1)
		log_warnx("%s <- %s: routerd link full", local, remote);
}

/* Turn `n` into its own error reply (RFC 6120 8.3): swap from and to,
 * type error, and an <error/> with the condition.  -1 if not answerable. */
static int
make_error(struct xnode *n, const char *cond)
{
	char		*from = NULL, *to = NULL;
	const char	*f = xnode_attr(n, "from"), *t = xnode_attr(n, "to");
	struct xnode	*e;
	uint8_t		 kind = stanza_kind(n->name);

	if (kind == RK_NONE || kind == RK_PRESENCE ||
	    stanza_stype(kind, xnode_attr(n, "type")) == RS_ERROR ||
	    (kind == RK_IQ && stanza_stype(kind, xnode_attr(n, "type")) ==
	    RS_RESULT) || f == NULL || t == NULL)
		return -1;
	if ((from = strdup(f)) == NULL || (to = strdup(t)) == NULL) {
		free(from);
		return -1;
	}
	xnode_set_attr(n, "from", to);
	xnode_set_attr(n, "to", from);
	free(from);
	free(to);
	xnode_set_attr(n, "type", "error");
	if ((e = xnode_add_child(n, "error", NULL)) == NULL)
		return -1;
	xnode_set_attr(e, "type", error_type(cond));
	xnode_add_child(e, cond, NS_STANZAS);
	return 0;
}

/* Answer a stanza the peer of `c` sent, on that stream; `ns` is the
 * namespace the tree was parsed in (the stream's, or jabber:client for a
 * frame body): elements in it are written unqualified, i.e. in the
 * stream's content namespace. */
void
stanza_node_error(struct s2s_conn *c, struct xnode *n, const char *ns,
    const char *cond)
{
	struct xbuf b;

	if (make_error(n, cond) == -1)
		return;
	xbuf_init(&b);
	xml_serialize(&b, n, ns);
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
}

/* A frame body has no xmlns on its root when it is jabber:client
 * (docs/frames.md): parse it inside a wrapper that declares it. */
static struct xnode *
parse_body(const uint8_t *body, size_t len)
{
	static const char open[] = "<w xmlns='" XMLNS_CLIENT "'>";
	struct xbuf	 b;
	struct xnode	*root = NULL, *n = NULL;

	xbuf_init(&b);
	xbuf_add(&b, open, sizeof(open) - 1);
	xbuf_add(&b, (const char *)body, len);
	xbuf_adds(&b, "</w>");
	if (!b.failed)
		root = xml_parse_element(b.data, b.len, &(struct xml_limits){
		    .max_stanza = FRAME_MAX_LIMIT });
	xbuf_free(&b);
	if (root != NULL && (n = xnode_first_elem(root)) != NULL &&
	    xnode_next_elem(n) == NULL)
		xnode_unlink(n);
	else
		n = NULL;
	xnode_free(root);
	return n;
}

/* A stanza routerd gave us cannot be delivered: the error goes back
 * through routerd to its sender, from the address it was sent to (the
 * frame header's normalized, routed addresses). */
void
stanza_bounce_raw(uint8_t kind, uint8_t stype, const char *from,
    const char *to, const char *body, size_t len, const char *cond)
{
	struct xnode *n;

	if (kind == RK_PRESENCE || stype == RS_ERROR)
		return;
	if ((n = parse_body((const uint8_t *)body, len)) == NULL)
		return;
	xnode_set_attr(n, "from", from);
	xnode_set_attr(n, "to", to);
	if (make_error(n, cond) == 0 &&
	    stanza_route(n, XMLNS_CLIENT, 0) != ROUTE_OK)
		log_warnx("cannot bounce a stanza to %s", from);
	xnode_free(n);
}

void
stanza_bounce(struct frame *f, const char *cond)
{
	/* the whole stanza, even if a caller already read it with
	 * frame_get_rest() (which leaves nothing after its cursor) */
	stanza_bounce_raw(f->hdr.kind, f->hdr.stype, f->from, f->to,
	    (const char *)f->body, f->body_len, cond);
}

static const char *
bounce_condition(uint8_t why)
{
	switch (why) {
	case RB_ITEM_NOT_FOUND:		return "item-not-found";
	case RB_REMOTE_SERVER_NOT_FOUND: return "remote-server-not-found";
	case RB_RESOURCE_CONSTRAINT:	return "resource-constraint";
	case RB_RECIPIENT_UNAVAILABLE:	return "recipient-unavailable";
	case RB_NOT_ALLOWED:		return "not-allowed";
	default:			return "service-unavailable";
	}
}

/* routerd returned a stanza a stream of ours sent (RF_BOUNCE): answer
 * it on that stream, if it is still there. */
void
stanza_returned(struct frame *f)
{
	struct s2s_conn	*c;
	const uint8_t	*body;
	size_t		 len;
	uint8_t		 why;
	struct xnode	*n;

	if (frame_get_u8(f, &why) == -1)
		return;
	if ((c = conn_find(f->hdr.session)) == NULL || c->state != SS_AUTHED)
		return;
	frame_get_rest(f, &body, &len);
	if ((n = parse_body(body, len)) == NULL)
		return;
	stanza_node_error(c, n, XMLNS_CLIENT, bounce_condition(why));
	xnode_free(n);
}
