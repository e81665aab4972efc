/*
 * c2sd_sasl.c - the SASL exchange of RFC 6120 section 6, relayed to authd.
 *
 * c2sd never sees a credential check: it decodes the client's base64,
 * sends each message to authd through routerd (RF_SASL_START/STEP, with
 * hdr.session = the connection id and hdr.corr = the exchange number) and
 * turns authd's answers back into <challenge/>, <success/> or <failure/>.
 * Channel-binding data (RFC 9266 tls-exporter, RFC 5929
 * tls-server-end-point) rides along in RF_SASL_START so authd can verify
 * SCRAM-*-PLUS.  Answers that do not match the connection's current
 * exchange are ignored (the client aborted or went away meanwhile).
 * docs/auth.md defines the frame bodies.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "link.h"
#include "log.h"
#include "c2sd.h"

#define SASL_MAX_FAILURES	3	/* then the stream is closed */

static uint32_t next_corr = 1;

struct mech {
	const char	*name;
	int		 plus;		/* needs channel binding */
	int		 tls_only;
};
static const struct mech mechs[] = {
	{ "SCRAM-SHA-256-PLUS",	1, 1 },
	{ "SCRAM-SHA-1-PLUS",	1, 1 },
	{ "SCRAM-SHA-256",	0, 0 },
	{ "SCRAM-SHA-1",	0, 0 },
	{ "PLAIN",		0, 1 },	/* RFC 4616 section 6: only over TLS */
	{ NULL,			0, 0 },
};

/* Conditions of RFC 6120 section 6.5 that authd may name. */
static const char *const conditions[] = {
	"aborted", "account-disabled", "credentials-expired",
	"encryption-required", "incorrect-encoding", "invalid-authzid",
	"invalid-mechanism", "malformed-request", "mechanism-too-weak",
	"not-authorized", "temporary-auth-failure", NULL
};

/* channel-binding no: no -PLUS, and a client's "y" is not a downgrade. */
static int
cb_available(struct conn *c)
{
	uint8_t buf[64];

	if (!c2sd_conf.channel_binding)
		return 0;
	return tls_cb_has_exporter(c) ||
	    tls_cb_endpoint(c, buf, sizeof(buf)) > 0;
}

static int
mech_ok(struct conn *c, const struct mech *m)
{
	int tls = conn_is_secure(c);	/* PLAIN only over TLS */

	if (m->tls_only && !tls)
		return 0;
	if (m->plus && !cb_available(c))
		return 0;
	return 1;
}

void
feature_mechanisms(struct conn *c, struct xnode *f)
{
	struct xnode	*ms, *n;
	size_t		 i;
	uint8_t		 buf[64];

	if (c->user != NULL)
		return;
	if ((ms = xnode_add_child(f, "mechanisms", NS_SASL)) == NULL)
		return;
	for (i = 0; mechs[i].name; i++) {
		if (!mech_ok(c, &mechs[i]))
			continue;
		if ((n = xnode_add_child(ms, "mechanism", NS_SASL)) != NULL)
			xnode_add_text(n, mechs[i].name, strlen(mechs[i].name));
	}
	/* XEP-0440: which channel-binding types we can supply. */
	if (c->ssl == NULL || !cb_available(c) ||
	    (ms = xnode_add_child(f, "sasl-channel-binding", NS_SASL_CB)) == NULL)
		return;
	if (tls_cb_has_exporter(c) &&
	    (n = xnode_add_child(ms, "channel-binding", NS_SASL_CB)) != NULL)
		xnode_set_attr(n, "type", "tls-exporter");
	if (tls_cb_endpoint(c, buf, sizeof(buf)) > 0 &&
	    (n = xnode_add_child(ms, "channel-binding", NS_SASL_CB)) != NULL)
		xnode_set_attr(n, "type", "tls-server-end-point");
}

static void
sasl_fail(struct conn *c, const char *cond, const char *text)
{
	struct xbuf b;

	xbuf_init(&b);
	xbuf_addf(&b, "<failure xmlns='%s'><%s/>", NS_SASL, cond);
	if (text && *text) {
		xbuf_adds(&b, "<text xml:lang='en'>");
		xbuf_add_text(&b, text, strlen(text));
		xbuf_adds(&b, "</text>");
	}
	xbuf_adds(&b, "</failure>");
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	c->sasl_corr = 0;
	c->state = CS_NEGOTIATE;
	/* RFC 6120 6.4.5: retries are allowed, but not forever. */
	if (++c->sasl_failures >= SASL_MAX_FAILURES)
		conn_stream_error(c, "policy-violation",
		    "Too many authentication failures");
}

/* Decode the element's base64 text; "=" is an empty message (RFC 6120
 * 6.4.2).  Returns 0 and a malloc'd buffer (may be empty), or -1. */
static int
decode_b64(struct xnode *n, uint8_t **out, size_t *outlen, int *present)
{
	char	*t;
	size_t	 len;
	const char *end;

	*out = NULL;
	*outlen = 0;
	*present = 0;
	if ((t = xnode_text(n)) == NULL)
		return -1;
	len = strlen(t);
	if (len == 0) {
		free(t);
		return 0;
	}
	*present = 1;
	if ((*out = malloc(len / 4 * 3 + 3)) == NULL) {
		free(t);
		return -1;
	}
	if (strcmp(t, "=") == 0) {
		free(t);
		return 0;
	}
	if (sodium_base642bin(*out, len / 4 * 3 + 3, t, len, NULL, outlen,
	    &end, sodium_base64_VARIANT_ORIGINAL) != 0 || end != t + len) {
		free(t);
		free(*out);
		*out = NULL;
		return -1;
	}
	free(t);
	return 0;
}

static void
sasl_start(struct conn *c, struct xnode *n)
{
	const char	*mech = xnode_attr(n, "mechanism");
	uint8_t		*ir, cbx[64], cbe[64];
	size_t		 irlen, i, cbxlen, cbelen;
	int		 present;
	struct fout	*f;

	for (i = 0; mechs[i].name; i++)
		if (mech && strcmp(mech, mechs[i].name) == 0 &&
		    mech_ok(c, &mechs[i]))
			break;
	if (mechs[i].name == NULL) {
		sasl_fail(c, "invalid-mechanism", NULL);
		return;
	}
	if (decode_b64(n, &ir, &irlen, &present) == -1) {
		sasl_fail(c, "incorrect-encoding", NULL);
		return;
	}
	c->sasl_corr = next_corr++;
	if (next_corr == 0)
		next_corr = 1;
	f = fout_new(RF_SASL_START, NULL, NULL);
	f->hdr.session = c->id;
	f->hdr.corr = c->sasl_corr;
	fout_put_str(f, mech);
	fout_put_str(f, c->host->name);
	fout_put_u8(f, present ? 1 : 0);
	fout_put_data(f, ir, irlen);
	fout_put_str(f, c->peer);
	fout_put_u8(f, conn_is_secure(c) ? 1 : 0);
	/*
	 * authd needs the data for -PLUS, and otherwise only whether -PLUS
	 * was offered (a "y" flag then fails, RFC 5802 6): the cheap
	 * end-point hash says so; the exporter is derived only if needed.
	 */
	cbelen = cbxlen = 0;
	if (c2sd_conf.channel_binding) {
		cbelen = tls_cb_endpoint(c, cbe, sizeof(cbe));
		cbxlen = mechs[i].plus || cbelen == 0 ?
		    tls_cb_exporter(c, cbx, sizeof(cbx)) : 0;
	}
	fout_put_data(f, cbx, cbxlen);
	fout_put_data(f, cbe, cbelen);
	if (ir) {
		sodium_memzero(ir, irlen);	/* PLAIN carries a password */
		free(ir);
	}
	if (link_send(daemon_link, f) == -1) {
		c->sasl_corr = 0;
		sasl_fail(c, "temporary-auth-failure", NULL);
		return;
	}
	c->state = CS_SASL_WAIT;
}

static void
sasl_response(struct conn *c, struct xnode *n)
{
	uint8_t		*r;
	size_t		 rlen;
	int		 present;
	struct fout	*f;

	if (decode_b64(n, &r, &rlen, &present) == -1) {
		sasl_abort(c);
		sasl_fail(c, "incorrect-encoding", NULL);
		return;
	}
	f = fout_new(RF_SASL_STEP, NULL, NULL);
	f->hdr.session = c->id;
	f->hdr.corr = c->sasl_corr;
	fout_put_data(f, r, rlen);
	if (r) {
		sodium_memzero(r, rlen);
		free(r);
	}
	if (link_send(daemon_link, f) == -1) {
		sasl_abort(c);
		sasl_fail(c, "temporary-auth-failure", NULL);
		return;
	}
	c->state = CS_SASL_WAIT;
}

void
sasl_client_element(struct conn *c, struct xnode *n)
{
	if (strcmp(n->name, "auth") == 0 && c->sasl_corr == 0 &&
	    c->state == CS_NEGOTIATE) {
		sasl_start(c, n);
	} else if (strcmp(n->name, "response") == 0 && c->sasl_corr != 0 &&
	    c->state == CS_NEGOTIATE) {
		sasl_response(c, n);
	} else if (strcmp(n->name, "abort") == 0) {
		sasl_abort(c);
		sasl_fail(c, "aborted", NULL);	/* RFC 6120 6.4.4 */
	} else
		sasl_fail(c, "malformed-request", NULL);
}

/* Tell authd to forget the exchange (client abort or disconnect). */
void
sasl_abort(struct conn *c)
{
	struct fout *f;

	if (c->sasl_corr == 0)
		return;
	f = fout_new(RF_SASL_ABORT, NULL, NULL);
	f->hdr.session = c->id;
	f->hdr.corr = c->sasl_corr;
	(void)link_send(daemon_link, f);
	c->sasl_corr = 0;
}

static void
send_b64(struct conn *c, const char *elem, const uint8_t *d, size_t len)
{
	struct xbuf	 b;
	char		*enc;
	size_t		 enclen;

	enclen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if ((enc = malloc(enclen)) == NULL) {
		conn_destroy(c);
		return;
	}
	sodium_bin2base64(enc, enclen, d, len, sodium_base64_VARIANT_ORIGINAL);
	xbuf_init(&b);
	/* zero-length data: an empty element (the "=" form is only for the
	 * initial response, RFC 6120 6.4.2) */
	if (len == 0)
		xbuf_addf(&b, "<%s xmlns='%s'/>", elem, NS_SASL);
	else
		xbuf_addf(&b, "<%s xmlns='%s'>%s</%s>", elem, NS_SASL, enc,
		    elem);
	if (!b.failed)
		conn_write(c, b.data, b.len);
	xbuf_free(&b);
	free(enc);
}

static void
sasl_success(struct conn *c, struct frame *f)
{
	const char	*user;
	const uint8_t	*add;
	size_t		 ulen, alen;
	char		 local[JID_PART_MAX + 1];

	free(c->user);		/* none: SASL is offered only before */
	c->user = NULL;
	if (frame_get_str(f, &user, &ulen) == -1 ||
	    frame_get_data(f, &add, &alen) == -1 || frame_get_end(f) == -1 ||
	    jid_prep_local(user, ulen, local) == -1 || local[0] == '\0' ||
	    (c->user = strdup(local)) == NULL) {
		log_warnx("conn %llu: bad SASL success frame",
		    (unsigned long long)c->id);
		c->sasl_corr = 0;
		sasl_fail(c, "temporary-auth-failure", NULL);
		return;
	}
	log_info("conn %llu from %s: authenticated as %s@%s",
	    (unsigned long long)c->id, c->peer, c->user, c->host->name);
	send_b64(c, "success", add, alen);
	c->sasl_corr = 0;
	conn_authenticated(c);
	c->state = CS_WAIT_HEADER;	/* RFC 6120 6.4.6: stream restart */
	if (c->xs)	/* BOSH has none: xmpp:restart (XEP-0206 5) */
		xml_stream_reset(c->xs);
}

static void
sasl_failure(struct conn *c, struct frame *f)
{
	const char	*cond = NULL, *text = NULL;
	size_t		 l, i;

	if (frame_get_str(f, &cond, &l) == -1 ||
	    frame_get_str(f, &text, &l) == -1)
		cond = text = NULL;
	for (i = 0; cond && conditions[i]; i++)
		if (strcmp(cond, conditions[i]) == 0)
			break;
	if (cond == NULL || conditions[i] == NULL)
		cond = "not-authorized";
	log_info("conn %llu from %s: authentication failed (%s)",
	    (unsigned long long)c->id, c->peer, cond);
	sasl_fail(c, cond, text);
}

void
sasl_frame(struct frame *f)
{
	struct conn	*c;
	const uint8_t	*d;
	size_t		 len;

	if ((c = conn_find(f->hdr.session)) == NULL || c->dead ||
	    c->sasl_corr == 0 || f->hdr.corr != c->sasl_corr ||
	    c->state != CS_SASL_WAIT)
		return;	/* aborted or gone meanwhile */
	switch (f->hdr.type) {
	case RF_SASL_CHALLENGE:
		if (frame_get_data(f, &d, &len) == -1 ||
		    frame_get_end(f) == -1) {
			sasl_abort(c);
			sasl_fail(c, "temporary-auth-failure", NULL);
			return;
		}
		send_b64(c, "challenge", d, len);
		c->state = CS_NEGOTIATE;	/* the client answers */
		break;
	case RF_SASL_SUCCESS:
		sasl_success(c, f);
		break;
	case RF_SASL_FAILURE:
		sasl_failure(c, f);
		break;
	}
}
