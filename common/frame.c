/*
 * frame.c - the frame codec: header encoding field by field, the checks
 * every decoder applies before touching a body (docs/frames.md, "Rules"),
 * and the typed builders and getters.
 *
 * Builders never fail loudly: an allocation failure marks the fout as
 * failed and link_send() refuses it, so a caller checks once, at the send.
 * Getters bounds-check every field and never read past body_len.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void
frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_LEN])
{
	put32(out + 0, h->len);
	put16(out + 4, h->type);
	put16(out + 6, h->flags);
	put64(out + 8, h->session);
	put32(out + 16, h->corr);
	put16(out + 20, h->origin);
	out[22] = h->kind;
	out[23] = h->stype;
	put16(out + 24, h->from_len);
	put16(out + 26, h->to_len);
	put32(out + 28, 0);
}

void
frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], struct frame_hdr *h)
{
	h->len = get32(in + 0);
	h->type = get16(in + 4);
	h->flags = get16(in + 6);
	h->session = get64(in + 8);
	h->corr = get32(in + 16);
	h->origin = get16(in + 20);
	h->kind = in[22];
	h->stype = in[23];
	h->from_len = get16(in + 24);
	h->to_len = get16(in + 26);
	h->reserved = get32(in + 28);
}

int
frame_hdr_check(const struct frame_hdr *h, uint32_t max_frame, const char **why)
{
	const char *w = NULL;

	if (h->len < FRAME_HDR_LEN)
		w = "length below header size";
	else if (h->len > max_frame)
		w = "length above max-frame-size";
	else if (h->reserved != 0)
		w = "reserved field not zero";
	else if (h->flags & ~RFF_ALL)
		w = "unknown flag bits";
	else if (h->from_len > FRAME_JID_MAX || h->to_len > FRAME_JID_MAX)
		w = "JID longer than allowed";
	else if ((uint32_t)h->from_len + h->to_len > h->len - FRAME_HDR_LEN)
		w = "JIDs longer than the frame";
	else if (h->kind > RK_IQ || h->stype > RS_ERROR)
		w = "unknown stanza kind or type";
	if (w == NULL)
		return 0;
	if (why)
		*why = w;
	errno = EPROTO;
	return -1;
}

static int
copy_jid(char *dst, const uint8_t *src, size_t len)
{
	if (memchr(src, '\0', len) != NULL)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int
frame_parse(const uint8_t *buf, size_t len, uint32_t max_frame,
    struct frame *f, const char **why)
{
	const uint8_t *p;

	if (len < FRAME_HDR_LEN) {
		*why = "truncated header";
		errno = EPROTO;
		return -1;
	}
	frame_hdr_decode(buf, &f->hdr);
	if (frame_hdr_check(&f->hdr, max_frame, why) == -1)
		return -1;
	if (f->hdr.len != len) {
		*why = "length does not match the bytes";
		errno = EPROTO;
		return -1;
	}
	p = buf + FRAME_HDR_LEN;
	if (copy_jid(f->from, p, f->hdr.from_len) == -1 ||
	    copy_jid(f->to, p + f->hdr.from_len, f->hdr.to_len) == -1) {
		*why = "NUL byte in a JID";
		errno = EPROTO;
		return -1;
	}
	f->body = p + f->hdr.from_len + f->hdr.to_len;
	f->body_len = len - FRAME_HDR_LEN - f->hdr.from_len - f->hdr.to_len;
	f->pos = 0;
	f->fd = -1;
	return 0;
}

static const char *const type_names[] = {
	[RF_HELLO] = "HELLO", [RF_CONFIG] = "CONFIG",
	[RF_CONFIG_FD] = "CONFIG_FD", [RF_CONFIG_END] = "CONFIG_END",
	[RF_READY] = "READY", [RF_PING] = "PING", [RF_PONG] = "PONG",
	[RF_SHUTDOWN] = "SHUTDOWN", [RF_DEBUG] = "DEBUG", [RF_LOG] = "LOG",
	[RF_ACK] = "ACK",
	[RF_STANZA] = "STANZA", [RF_BOUNCE] = "BOUNCE",
	[RF_SESSION_BIND] = "SESSION_BIND", [RF_SESSION_BOUND] = "SESSION_BOUND",
	[RF_SESSION_UNBIND] = "SESSION_UNBIND",
	[RF_SESSION_PRESENCE] = "SESSION_PRESENCE",
	[RF_SESSION_KICK] = "SESSION_KICK", [RF_SESSION_GONE] = "SESSION_GONE",
	[RF_PEP_PRESENCE] = "PEP_PRESENCE", [RF_PEP_RESYNC] = "PEP_RESYNC",
	[RF_SM_ENABLE] = "SM_ENABLE", [RF_SM_STATE] = "SM_STATE",
	[RF_SM_RESTORE] = "SM_RESTORE",
	[RF_SASL_START] = "SASL_START", [RF_SASL_STEP] = "SASL_STEP",
	[RF_SASL_CHALLENGE] = "SASL_CHALLENGE", [RF_SASL_SUCCESS] = "SASL_SUCCESS",
	[RF_SASL_FAILURE] = "SASL_FAILURE", [RF_SASL_ABORT] = "SASL_ABORT",
	[RF_ACCT_ADD] = "ACCT_ADD", [RF_ACCT_PASSWD] = "ACCT_PASSWD",
	[RF_ACCT_DEL] = "ACCT_DEL", [RF_ACCT_LIST] = "ACCT_LIST",
	[RF_ACCT_RESULT] = "ACCT_RESULT",
	[RF_CTL_STATUS] = "CTL_STATUS", [RF_CTL_RESTART] = "CTL_RESTART",
	[RF_CTL_RELOAD] = "CTL_RELOAD", [RF_CTL_STOP] = "CTL_STOP",
	[RF_CTL_REPLY] = "CTL_REPLY", [RF_CTL_ROUTES] = "CTL_ROUTES",
};

const char *
frame_type_name(uint16_t t)
{
	if (t < sizeof(type_names) / sizeof(type_names[0]) && type_names[t])
		return type_names[t];
	return "UNKNOWN";
}

/* Building. */

static void
reserve(struct fout *f, size_t n)
{
	size_t	 cap;
	uint8_t	*nb;

	if (f->failed || f->len + n <= f->cap)
		return;
	if (f->len + n > FRAME_MAX_LIMIT) {
		f->failed = 1;
		return;
	}
	cap = f->cap ? f->cap : 256;
	while (cap < f->len + n)
		cap *= 2;
	if ((nb = realloc(f->buf, cap)) == NULL) {
		f->failed = 1;
		return;
	}
	f->buf = nb;
	f->cap = cap;
}

void
fout_put_raw(struct fout *f, const void *p, size_t n)
{
	reserve(f, n);
	if (f->failed || n == 0)
		return;
	memcpy(f->buf + f->len, p, n);
	f->len += n;
}

static size_t
jidlen(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n;
}

/* A frame with room for `body` bytes after the JIDs: a forwarded or
 * stanza frame gets one allocation of its size, not a grown one. */
static struct fout *
fout_new_sized(uint16_t type, const char *from, const char *to, size_t body)
{
	struct fout *f;
	size_t fl = jidlen(from), tl = jidlen(to);

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->fd = -1;
	f->hdr.type = type;
	if (fl > FRAME_JID_MAX || tl > FRAME_JID_MAX)
		f->failed = 1;
	f->hdr.from_len = fl;
	f->hdr.to_len = tl;
	reserve(f, FRAME_HDR_LEN + fl + tl + body);
	if (!f->failed) {
		f->len = FRAME_HDR_LEN;
		fout_put_raw(f, from, fl);
		fout_put_raw(f, to, tl);
	}
	return f;
}

struct fout *
fout_new(uint16_t type, const char *from, const char *to)
{
	return fout_new_sized(type, from, to, 0);
}

struct fout *
fout_stanza(uint8_t kind, uint8_t stype, const char *from, const char *to,
    const void *xml, size_t len)
{
	struct fout *f;

	if ((f = fout_new_sized(RF_STANZA, from, to, len)) == NULL)
		return NULL;
	f->hdr.kind = kind;
	f->hdr.stype = stype;
	fout_put_raw(f, xml, len);
	return f;
}

void
fout_put_u8(struct fout *f, uint8_t v)
{
	fout_put_raw(f, &v, 1);
}

void
fout_put_u16(struct fout *f, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	fout_put_raw(f, b, sizeof(b));
}

void
fout_put_u32(struct fout *f, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	fout_put_raw(f, b, sizeof(b));
}

void
fout_put_u64(struct fout *f, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	fout_put_raw(f, b, sizeof(b));
}

void
fout_put_data(struct fout *f, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		f->failed = 1;
		return;
	}
	fout_put_u32(f, n);
	fout_put_raw(f, p, n);
}

void
fout_put_strn(struct fout *f, const char *s, size_t n)
{
	fout_put_data(f, s, n);
	fout_put_u8(f, 0);
}

void
fout_put_str(struct fout *f, const char *s)
{
	fout_put_strn(f, s ? s : "", s ? strlen(s) : 0);
}

void
fout_set_fd(struct fout *f, int fd)
{
	f->fd = fd;
	f->hdr.flags |= RFF_FD;
}

void
fout_finish(struct fout *f)
{
	if (f->failed)
		return;
	f->hdr.len = f->len;
	f->hdr.reserved = 0;
	frame_hdr_encode(&f->hdr, f->buf);
}

void
fout_free(struct fout *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	free(f);
}

struct fout *
fout_copy(const struct frame *in)
{
	struct fout *f;

	if ((f = fout_new_sized(in->hdr.type, in->from, in->to,
	    in->body_len)) == NULL)
		return NULL;
	f->hdr.flags = in->hdr.flags & ~RFF_FD;
	f->hdr.session = in->hdr.session;
	f->hdr.corr = in->hdr.corr;
	f->hdr.origin = in->hdr.origin;
	f->hdr.kind = in->hdr.kind;
	f->hdr.stype = in->hdr.stype;
	fout_put_raw(f, in->body, in->body_len);
	return f;
}

struct fout *
fout_dup(const struct fout *in)
{
	struct fout *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->hdr = in->hdr;
	f->fd = -1;
	f->failed = in->failed;
	f->retain = in->retain;
	f->held = in->held;
	if ((f->buf = malloc(in->len ? in->len : 1)) == NULL) {
		free(f);
		return NULL;
	}
	memcpy(f->buf, in->buf, in->len);
	f->len = f->cap = in->len;
	return f;
}

/* Reading. */

static const uint8_t *
take(struct frame *f, size_t n)
{
	const uint8_t *p;

	if (f->body_len - f->pos < n)
		return NULL;
	p = f->body + f->pos;
	f->pos += n;
	return p;
}

int
frame_get_u8(struct frame *f, uint8_t *v)
{
	const uint8_t *p = take(f, 1);

	if (p == NULL)
		return -1;
	*v = p[0];
	return 0;
}

int
frame_get_u16(struct frame *f, uint16_t *v)
{
	const uint8_t *p = take(f, 2);

	if (p == NULL)
		return -1;
	*v = get16(p);
	return 0;
}

int
frame_get_u32(struct frame *f, uint32_t *v)
{
	const uint8_t *p = take(f, 4);

	if (p == NULL)
		return -1;
	*v = get32(p);
	return 0;
}

int
frame_get_u64(struct frame *f, uint64_t *v)
{
	const uint8_t *p = take(f, 8);

	if (p == NULL)
		return -1;
	*v = get64(p);
	return 0;
}

int
frame_get_data(struct frame *f, const uint8_t **d, size_t *n)
{
	uint32_t	 len;
	size_t		 save = f->pos;
	const uint8_t	*p;

	if (frame_get_u32(f, &len) == -1 || (p = take(f, len)) == NULL) {
		f->pos = save;
		return -1;
	}
	*d = p;
	*n = len;
	return 0;
}

int
frame_get_str(struct frame *f, const char **s, size_t *n)
{
	const uint8_t	*d;
	size_t		 len, save = f->pos;
	uint8_t		 nul;

	if (frame_get_data(f, &d, &len) == -1 || frame_get_u8(f, &nul) == -1 ||
	    nul != 0 || memchr(d, '\0', len) != NULL) {
		f->pos = save;
		return -1;
	}
	*s = (const char *)d;
	if (n)
		*n = len;
	return 0;
}

void
frame_get_rest(struct frame *f, const uint8_t **d, size_t *n)
{
	*d = f->body + f->pos;
	*n = f->body_len - f->pos;
	f->pos = f->body_len;
}

int
frame_get_end(struct frame *f)
{
	return f->pos == f->body_len ? 0 : -1;
}
