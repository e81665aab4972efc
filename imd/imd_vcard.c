/*
 * imd_vcard.c - vcard-temp (XEP-0054): the owner sets its vCard, anyone
 * reads it; and the XEP-0153 avatar hash (SHA-1 of the decoded photo),
 * computed when the vCard is stored so that presence broadcasts only read
 * 40 bytes.
 *
 * Called by handlers.c (imd_vcard_iq) and by imd's presence code
 * (imd_vcard_photo_hash).  Stored in the "misc" database under 'v' ACCT
 * (the vCard serialized with its xmlns, at most MISC_MAX_VCARD bytes) and
 * 'h' ACCT (the hash, or empty).  Both are written in one transaction, so
 * the hash always belongs to the stored vCard.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "imd_misc.h"
#include "log.h"
#include "store.h"

#define MISC_MAX_VCARD		(64 * 1024)	/* serialized vCard bytes */

/* ---- vcard-temp (XEP-0054) and the avatar hash (XEP-0153) ---- */

/* The hex SHA-1 of the decoded PHOTO/BINVAL of `vcard` into `hex` (>= 41),
 * "" when there is none or it is not base64 (XEP-0153 3.1). */
static void
photo_hash(const struct xnode *vcard, char *hex)
{
	const struct xnode	*photo, *binval;
	unsigned char		*bin = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	char			*b64 = NULL;
	size_t			 b64len, binlen;

	hex[0] = '\0';
	if ((photo = xnode_child(vcard, "PHOTO", NS_VCARD)) == NULL ||
	    (binval = xnode_child(photo, "BINVAL", NS_VCARD)) == NULL ||
	    (b64 = xnode_text(binval)) == NULL)
		goto done;
	b64len = strlen(b64);
	if ((bin = malloc(b64len / 4 * 3 + 3)) == NULL ||
	    sodium_base642bin(bin, b64len / 4 * 3 + 3, b64, b64len, " \t\r\n",
	    &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen == 0 ||
	    EVP_Digest(bin, binlen, md, &mdlen, EVP_sha1(), NULL) != 1)
		goto done;
	sodium_bin2hex(hex, 41, md, mdlen);
done:
	free(bin);
	free(b64);
}

void
imd_vcard_photo_hash(const char *owner_bare, char *buf, size_t len)
{
	struct store_txn	*t;
	const void		*v;
	char			 k[KEY_MAX];
	size_t			 kl, vl;

	if (len == 0)
		return;
	buf[0] = '\0';
	if ((t = misc_begin(0)) == NULL)
		return;
	kl = misc_key(k, 'h', owner_bare, NULL);
	if (store_get(t, MISC_DB, k, kl, &v, &vl) == 0 && vl < len) {
		memcpy(buf, v, vl);
		buf[vl] = '\0';
	}
	store_abort(t);
}

static void
vcard_set(struct imd_stanza *s, const char *owner, const struct xnode *vc)
{
	struct store_txn	*t = NULL;
	struct xbuf		 b;
	char			 k[KEY_MAX], hash[41];
	size_t			 kl;

	xbuf_init(&b);
	xml_serialize(&b, vc, NULL);
	if (b.failed)
		goto fail;
	if (b.len > MISC_MAX_VCARD) {	/* XEP-0054 leaves the limit to us */
		xbuf_free(&b);
		misc_reply_text(s, "modify", "not-acceptable",
		    "the vCard is too large");
		return;
	}
	photo_hash(vc, hash);
	if ((t = misc_begin(1)) == NULL)
		goto fail;
	kl = misc_key(k, 'v', owner, NULL);
	if (store_put(t, MISC_DB, k, kl, b.data, b.len) == -1)
		goto fail;
	kl = misc_key(k, 'h', owner, NULL);
	if (store_put(t, MISC_DB, k, kl, hash, strlen(hash)) == -1)
		goto fail;
	if (store_commit(t) == -1) {
		t = NULL;	/* store_commit ended it */
		goto fail;
	}
	xbuf_free(&b);
	imd_reply_result(s, NULL);
	return;
fail:
	if (t != NULL)
		store_abort(t);
	xbuf_free(&b);
	log_warn("vcard: %s: store", owner);
	imd_reply_error(s, "wait", "internal-server-error");
}

static void
vcard_get(struct imd_stanza *s, const char *target)
{
	struct store_txn	*t;
	struct xnode		*vc = NULL;
	const void		*v;
	char			 k[KEY_MAX];
	size_t			 kl, vl;

	if ((t = misc_begin(0)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	kl = misc_key(k, 'v', target, NULL);
	if (store_get(t, MISC_DB, k, kl, &v, &vl) == 0)
		vc = xml_parse_element(v, vl, NULL);
	store_abort(t);
	/* XEP-0054 3.1: no vCard is an empty one, not an error. */
	if (vc == NULL && (vc = xnode_new("vCard", NS_VCARD)) == NULL) {
		imd_reply_error(s, "wait", "internal-server-error");
		return;
	}
	imd_reply_result(s, vc);
}

int
imd_vcard_iq(struct imd_stanza *s)
{
	struct xnode	*vc = xnode_first_elem(s->x);
	const char	*type = misc_iq_type(s);
	char		 target[JID_MAX + 1];

	if (vc == NULL || strcmp(vc->ns, NS_VCARD) != 0 ||
	    strcmp(vc->name, "vCard") != 0)
		return -1;
	if (s->to.resource[0] != '\0') {	/* a full JID is not ours */
		imd_reply_error(s, "cancel", "service-unavailable");
		return 0;
	}
	if (jid_format_bare(&s->to, target, sizeof(target)) < 0) {
		imd_reply_error(s, "modify", "jid-malformed");
		return 0;
	}
	if (strcmp(type, "get") == 0)
		vcard_get(s, target);		/* anyone may read (XEP-0054 3.3) */
	else if (strcmp(type, "set") != 0)
		imd_reply_error(s, "modify", "bad-request");
	else if (!misc_own(s))	/* only the owner writes (3.2) */
		imd_reply_error(s, "cancel", "forbidden");
	else
		vcard_set(s, target, vc);
	return 0;
}

