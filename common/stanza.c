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
