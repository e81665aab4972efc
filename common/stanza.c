/*
 * stanza.c - stanza kinds and types as the frame header encodes them
 * (see stanza.h and docs/frames.md).
 */
#include <string.h>

#include "frame.h"
#include "stanza.h"
#include "xml.h"

uint8_t
stanza_kind(const char *name)
{
	if (strcmp(name, "message") == 0)
		return RK_MESSAGE;
	if (strcmp(name, "presence") == 0)
		return RK_PRESENCE;
	if (strcmp(name, "iq") == 0)
		return RK_IQ;
	return RK_NONE;
}

static const struct {
	uint8_t		 kind;
	const char	*name;
	uint8_t		 stype;
} stypes[] = {
	{ RK_MESSAGE, "normal", RS_NORMAL },
	{ RK_MESSAGE, "chat", RS_CHAT },
	{ RK_MESSAGE, "groupchat", RS_GROUPCHAT },
	{ RK_MESSAGE, "headline", RS_HEADLINE },
	{ RK_PRESENCE, "unavailable", RS_UNAVAILABLE },
	{ RK_PRESENCE, "subscribe", RS_SUBSCRIBE },
	{ RK_PRESENCE, "subscribed", RS_SUBSCRIBED },
	{ RK_PRESENCE, "unsubscribe", RS_UNSUBSCRIBE },
	{ RK_PRESENCE, "unsubscribed", RS_UNSUBSCRIBED },
	{ RK_PRESENCE, "probe", RS_PROBE },
	{ RK_IQ, "get", RS_GET },
	{ RK_IQ, "set", RS_SET },
	{ RK_IQ, "result", RS_RESULT },
};

uint8_t
stanza_stype(uint8_t kind, const char *t)
{
	size_t i;

	if (kind == RK_NONE)
		return RS_NONE;
	if (t == NULL)
		return kind == RK_MESSAGE ? RS_NORMAL :
		    kind == RK_PRESENCE ? RS_AVAILABLE : RS_NONE;
	if (strcmp(t, "error") == 0)
		return RS_ERROR;
	for (i = 0; i < sizeof(stypes) / sizeof(stypes[0]); i++)
		if (stypes[i].kind == kind && strcmp(stypes[i].name, t) == 0)
			return stypes[i].stype;
	return kind == RK_MESSAGE ? RS_NORMAL : RS_NONE;
}

int
stanza_ns_client(const char *ns)
{
	return ns == NULL || *ns == '\0' || strcmp(ns, XMLNS_CLIENT) == 0;
}

uint8_t
stanza_node_kind(const struct xnode *x)
{
	if (x == NULL || x->type != XNODE_ELEM || !stanza_ns_client(x->ns))
		return RK_NONE;
	return stanza_kind(x->name);
}

uint8_t
stanza_node_stype(const struct xnode *x)
{
	return stanza_stype(stanza_node_kind(x), xnode_attr(x, "type"));
}

#define NS_HINTS_	"urn:xmpp:hints"
#define NS_CARBONS_	"urn:xmpp:carbons:2"
#define NS_SID_		"urn:xmpp:sid:0"

/* No element below `x` lacks a namespace (imd's slow path would give it
 * jabber:client, a byte copy would not). */
static int
all_namespaced(const struct xnode *x)
{
	const struct xnode	*c;

	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c))
		if (c->ns == NULL || *c->ns == '\0' || !all_namespaced(c))
			return 0;
	return 1;
}

/*
 * What imd's archive (XEP-0313 section 7 with XEP-0334 hints), carbons
 * (XEP-0280 section 6) and forged-id check (XEP-0359 section 5) look at
 * in a message: when none of it is present, they all decide the same way
 * for every such message, and imd need not parse it.
 */
int
stanza_msg_plain(const struct xnode *x)
{
	const struct xnode	*c;
	const char		*type;
	int			 body = 0;

	if (x == NULL || x->type != XNODE_ELEM || x->ns == NULL ||
	    strcmp(x->ns, XMLNS_CLIENT) != 0 || strcmp(x->name, "message") != 0)
		return 0;
	type = xnode_attr(x, "type");
	if (type != NULL && strcmp(type, "chat") != 0 &&
	    strcmp(type, "normal") != 0)
		return 0;
	for (c = xnode_first_elem(x); c != NULL; c = xnode_next_elem(c)) {
		if (c->ns == NULL || *c->ns == '\0')
			return 0;
		if (strcmp(c->ns, XMLNS_CLIENT) == 0) {
			if (strcmp(c->name, "body") == 0)
				body = 1;
		} else if (strcmp(c->ns, NS_HINTS_) == 0 ||
		    strcmp(c->ns, NS_CARBONS_) == 0 ||
		    (strcmp(c->ns, NS_SID_) == 0 &&
		    strcmp(c->name, "stanza-id") == 0))
			return 0;
		if (!all_namespaced(c))
			return 0;
	}
	return body;
}

struct xnode *
stanza_error_reply(const struct xnode *req, const char *type,
    const char *cond, struct xnode **err)
{
	struct xnode	*r, *e;

	if ((r = xnode_dup(req)) == NULL)
		return NULL;
	xnode_set_attr(r, "type", "error");
	if ((e = xnode_add_child(r, "error", NULL)) != NULL) {
		xnode_set_attr(e, "type", type);
		(void)xnode_add_child(e, cond,
		    "urn:ietf:params:xml:ns:xmpp-stanzas");
	}
	if (err != NULL)
		*err = e;
	return r;
}

struct xnode *
stanza_iq_result(const struct xnode *req, const char *ns,
    struct xnode *payload)
{
	struct xnode	*r;
	const char	*id = xnode_attr(req, "id");

	if ((r = xnode_new("iq", ns)) == NULL) {
		xnode_free(payload);
		return NULL;
	}
	xnode_set_attr(r, "type", "result");
	if (id != NULL)
		xnode_set_attr(r, "id", id);
	if (payload != NULL)
		xnode_append(r, payload);
	return r;
}
