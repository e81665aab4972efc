/*
 * imd_misc.h - what imd_misc.c shares with imd_blocking.c and
 * imd_vcard.c, the account-data iqs: the one LMDB database they use, its
 * key scheme (described at the top of imd_misc.c and in docs/imd.md) and
 * the reply helpers.  Private to those three files.
 */
#ifndef RAMPART_IMD_MISC_H
#define RAMPART_IMD_MISC_H

#include "imd.h"

#define MISC_DB		"misc"
/* LMDB keys are at most 511 bytes: tag, two parts and a separator fit. */
#define KEYPART_MAX	250
#define KEY_MAX		(2 + 2 * KEYPART_MAX)

/* The key `tag` ACCT [0 ITEM] into `k` (KEY_MAX bytes); its length. */
size_t	misc_key(char *k, char tag, const char *acct, const char *item);
/* An iq error to `s` with an English <text/> (RFC 6120 8.3.2). */
void	misc_reply_text(struct imd_stanza *s, const char *type,
	    const char *cond, const char *text);
/* The iq's type attribute, "" if none. */
const char *misc_iq_type(struct imd_stanza *s);
/* The iq is the user's own: no 'to', or 'to' is its bare JID. */
int	misc_own(struct imd_stanza *s);
/* A transaction on imd_store, NULL if there is none or it failed. */
struct store_txn *misc_begin(int write);

#endif
