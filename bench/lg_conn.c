/*
 * lg_conn.c - client connections of the load generator: the epoll loop,
 * non-blocking TCP and TLS, the expat stream reader, and the login state
 * machine of RFC 6120 (stream header, STARTTLS section 5, SASL section 6,
 * stream restart, resource binding section 7) followed by the roster get
 * and initial presence of RFC 6121 sections 2.2 and 4.2.
 *
 * The scenarios in loadgen.c open connections with lg_conn_open() and get
 * ops->ready once the session is up (or once registration is done), then
 * ops->stanza for every later top-level element; ops->closed is called
 * exactly once, after which the connection is freed at the end of the
 * loop turn.  Output is queued per connection (bounded by LG_OUT_MAX) and
 * flushed once per loop turn, so a burst of stanzas becomes few TLS
 * records, as a real client library would send them.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lg.h"

#define NS_STREAM	"http://etherx.jabber.org/streams"
#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND		"urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION	"urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER	"jabber:iq:roster"
#define NS_REGISTER	"jabber:iq:register"
#define MAX_DIRTY	65536

struct lg_cfg		 lg_cfg;
static int		 epfd = -1;
static struct addrinfo	*target;
static struct lg_conn	*dirty[MAX_DIRTY];
static int		 ndirty;
static struct lg_conn	*dead[MAX_DIRTY];
static int		 ndead;
static int		 nlive;
static LIST_HEAD(, lg_conn) live = LIST_HEAD_INITIALIZER(live);

static void	conn_fail(struct lg_conn *, const char *);
static void	conn_flush(struct lg_conn *);
static void	xml_setup(struct lg_conn *);

uint64_t
lg_now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
lg_live_conns(void)
{
	return nlive;
}

int
lg_loop_init(void)
{
	struct addrinfo	 hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(lg_cfg.host, lg_cfg.port, &hints, &target) != 0)
		return -1;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	return 0;
}

static void
arm(struct lg_conn *c, int out)
{
	struct epoll_event	 ev;

	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* -b: source address 127.0.0.(2 + user % nsrc), its port chosen at
 * connect (IP_BIND_ADDRESS_NO_PORT), so each address has the whole range. */
static int
bind_source(int fd, unsigned user)
{
	struct sockaddr_in	 sin;
	int			 one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000002u + user % (unsigned)lg_cfg.nsrc);
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
}

struct lg_conn *
lg_conn_open(unsigned user, const struct lg_ops *ops, void *udata)
{
	struct lg_conn		*c;
	struct epoll_event	 ev;
	int			 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->user = user;
	c->ops = ops;
	c->udata = udata;
	snprintf(c->username, sizeof(c->username), "%s%u", lg_cfg.prefix, user);
	c->t_start = lg_now_ns();
	c->fd = socket(target->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		free(c);
		return NULL;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lg_cfg.nsrc > 0 && bind_source(c->fd, user) == -1) {
		close(c->fd);
		free(c);
		return NULL;
	}
	if (connect(c->fd, target->ai_addr, target->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		free(c);
		return NULL;
	}
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->want_out = 1;
	c->state = ST_CONNECTING;
	LIST_INSERT_HEAD(&live, c, entry);
	nlive++;
	return c;
}

static void
mark_dirty(struct lg_conn *c)
{
	if (c->dirty)
		return;
	if (ndirty == MAX_DIRTY) {
		conn_flush(c);
		return;
	}
	c->dirty = 1;
	dirty[ndirty++] = c;
}

int
lg_conn_send(struct lg_conn *c, const char *p, size_t len)
{
	size_t	 cap;
	char	*n;

	if (c->state == ST_CLOSED)
		return -1;
	if (c->outlen + len > c->outcap) {
		if (c->outlen + len > LG_OUT_MAX) {
			conn_fail(c, "output queue over cap");
			return -1;
		}
		cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + len)
			cap *= 2;
		if ((n = realloc(c->out, cap)) == NULL) {
			conn_fail(c, "out of memory");
			return -1;
		}
		c->out = n;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, p, len);
	c->outlen += len;
	mark_dirty(c);
	return 0;
}

int
lg_conn_sendf(struct lg_conn *c, const char *fmt, ...)
{
	char	 buf[2048];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return lg_conn_send(c, buf, (size_t)n);
}

/* Write what is queued; keep the rest and wait for EPOLLOUT. */
static void
conn_flush(struct lg_conn *c)
{
	ssize_t	 n;
	int	 err;

	while (c->outlen > 0 && c->state != ST_CLOSED) {
		if (c->tls_up) {
			n = SSL_write(c->ssl, c->out, (int)c->outlen);
			if (n <= 0) {
				err = SSL_get_error(c->ssl, (int)n);
				if (err == SSL_ERROR_WANT_WRITE ||
				    err == SSL_ERROR_WANT_READ)
					break;
				conn_fail(c, "TLS write failed");
				return;
			}
		} else {
			n = write(c->fd, c->out, c->outlen);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_fail(c, "write failed");
				return;
			}
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	if (c->state != ST_CLOSED && (c->outlen > 0) != c->want_out)
		arm(c, c->outlen > 0);
}

static void
send_header(struct lg_conn *c)
{
	/* RFC 6120 section 4.7: to, version, xml:lang. */
	lg_conn_sendf(c, "<?xml version='1.0'?><stream:stream to='%s' "
	    "version='1.0' xml:lang='en' xmlns='jabber:client' "
	    "xmlns:stream='" NS_STREAM "'>", lg_cfg.domain);
}

static void
conn_fail(struct lg_conn *c, const char *why)
{
	if (c->state == ST_CLOSED)
		return;
	c->state = ST_CLOSED;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL) {
		if (c->tls_up)
			SSL_shutdown(c->ssl);	/* one close_notify, no wait */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	LIST_REMOVE(c, entry);
	nlive--;
	lg_scram_free(c->scram);
	c->scram = NULL;
	if (c->ops->closed != NULL)
		c->ops->closed(c, why);
	if (ndead < MAX_DIRTY)
		dead[ndead++] = c;	/* else leaked: the run is ending anyway */
}

/* Polite close: end the stream (RFC 6120 section 4.4), then drop TCP. */
void
lg_conn_close(struct lg_conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	lg_conn_send(c, "</stream:stream>", 16);
	conn_flush(c);
	conn_fail(c, NULL);
}

static void
start_tls(struct lg_conn *c)
{
	if ((c->ssl = SSL_new(lg_cfg.ssl_ctx)) == NULL ||
	    !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, lg_cfg.domain)) {
		conn_fail(c, "SSL_new failed");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = ST_TLS;
}

static void
tls_handshake(struct lg_conn *c)
{
	int	 r, err;

	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls_up = 1;
		c->state = ST_FEAT_AUTH;
		xml_setup(c);
		send_header(c);
		return;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ)
		arm(c, 0);
	else if (err == SSL_ERROR_WANT_WRITE)
		arm(c, 1);
	else
		conn_fail(c, "TLS handshake failed");
}

static void
connected(struct lg_conn *c)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		conn_fail(c, "connect failed");
		return;
	}
	arm(c, 0);
	if (lg_cfg.direct_tls) {
		start_tls(c);
		if (c->state == ST_TLS)
			tls_handshake(c);
		return;
	}
	c->state = ST_FEAT_TLS;
	xml_setup(c);
	send_header(c);
}

/* ---- the XML reader ---- */

static const char *
local_name(const char *n, const char **ns, size_t *nslen)
{
	const char	*sp = strchr(n, ' ');

	if (sp == NULL) {
		*ns = "";
		*nslen = 0;
		return n;
	}
	*ns = n;
	*nslen = (size_t)(sp - n);
	return sp + 1;
}

static int
ns_is(const char *ns, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(ns, want, len) == 0;
}

static void
copy_attr(char *dst, size_t dsz, const char *v)
{
	size_t	 n = strlen(v);

	if (n >= dsz)
		n = dsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
stanza_attrs(struct lg_conn *c, const XML_Char **a)
{
	for (; a[0] != NULL; a += 2) {
		if (strcmp(a[0], "type") == 0)
			copy_attr(c->st.type, sizeof(c->st.type), a[1]);
		else if (strcmp(a[0], "id") == 0)
			copy_attr(c->st.id, sizeof(c->st.id), a[1]);
		else if (strcmp(a[0], "from") == 0)
			copy_attr(c->st.from, sizeof(c->st.from), a[1]);
	}
}

/* Children we care about, at any depth below the stanza. */
static void
child_start(struct lg_conn *c, const char *name, const char *ns,
    size_t nslen, const XML_Char **a)
{
	struct lg_stanza *st = &c->st;

	if (strcmp(name, "starttls") == 0 && ns_is(ns, nslen, NS_TLS))
		st->starttls = 1;
	else if (strcmp(name, "mechanism") == 0 || strcmp(name, "jid") == 0 ||
	    (strcmp(name, "body") == 0 && c->depth == 3) ||
	    (strcmp(name, "status") == 0 && c->depth == 3)) {
		st->textlen = 0;
		c->capture = 1;
	} else if (strcmp(name, "bind") == 0 && ns_is(ns, nslen, NS_BIND))
		st->bind = 1;
	else if (strcmp(name, "session") == 0 && ns_is(ns, nslen, NS_SESSION))
		st->session_required = 1;
	else if (strcmp(name, "optional") == 0 && c->depth == 4)
		st->session_required = 0;	/* RFC 6121 obsoleted session */
	else if (strcmp(name, "register") == 0 && c->depth == 3)
		st->register_feature = 1;
	else if (strcmp(name, "ping") == 0)
		st->ping = 1;
	else if (strcmp(name, "query") == 0 && c->depth == 3 &&
	    ns_is(ns, nslen, NS_DISCO_INFO)) {
		st->disco_info = 1;
		for (; a[0] != NULL; a += 2)
			if (strcmp(a[0], "node") == 0)
				copy_attr(st->node, sizeof(st->node), a[1]);
	} else if (strcmp(name, "status") == 0 && c->depth == 4 &&
	    ns_is(ns, nslen, NS_MUC_USER)) {
		for (; a[0] != NULL; a += 2)
			if (strcmp(a[0], "code") == 0 && strcmp(a[1], "110") == 0)
				st->muc_self = 1;
			else if (strcmp(a[0], "code") == 0 &&
			    strcmp(a[1], "201") == 0)
				st->muc_created = 1;
	} else if (strcmp(name, "entry") == 0 && ns_is(ns, nslen, NS_BENCH)) {
		st->textlen = 0;	/* a PEP item's payload (lg_pep.c) */
		c->capture = 1;
	}
	else if (strcmp(name, "error") == 0 && c->depth == 3) {
		st->error = 1;
		c->in_error = 1;
	} else if (strcmp(name, "conflict") == 0 && c->in_error)
		st->error_conflict = 1;
	else if (strcmp(name, "item") == 0 && ns_is(ns, nslen, NS_ROSTER)) {
		st->items++;
		for (; a[0] != NULL; a += 2)
			if (strcmp(a[0], "subscription") == 0 &&
			    strcmp(a[1], "both") == 0)
				st->items_both++;
	}
}

static void
x_start(void *u, const XML_Char *n, const XML_Char **a)
{
	struct lg_conn	*c = u;
	const char	*ns, *name;
	size_t		 nslen;

	name = local_name(n, &ns, &nslen);
	c->depth++;
	if (c->depth == 1)
		return;		/* <stream:stream> itself */
	if (c->depth == 2) {
		memset(&c->st, 0, offsetof(struct lg_stanza, text));
		c->st.textlen = 0;
		c->st.text[0] = '\0';
		c->in_error = 0;
		copy_attr(c->st.name, sizeof(c->st.name), name);
		stanza_attrs(c, a);
		/* SASL challenge/success carry their data as text. */
		c->capture = ns_is(ns, nslen, NS_SASL);
		return;
	}
	child_start(c, name, ns, nslen, a);
}

static void
x_text(void *u, const XML_Char *s, int len)
{
	struct lg_conn	*c = u;
	size_t		 room;

	if (!c->capture || len <= 0)
		return;
	room = sizeof(c->st.text) - 1 - c->st.textlen;
	if ((size_t)len > room)
		len = (int)room;
	memcpy(c->st.text + c->st.textlen, s, (size_t)len);
	c->st.textlen += (size_t)len;
	c->st.text[c->st.textlen] = '\0';
}

static void	handle_stanza(struct lg_conn *);

static void
x_end(void *u, const XML_Char *n)
{
	struct lg_conn	*c = u;
	const char	*ns, *name;
	size_t		 nslen;

	name = local_name(n, &ns, &nslen);
	if (c->depth == 4 && strcmp(name, "mechanism") == 0) {
		if (strcmp(c->st.text, "SCRAM-SHA-256") == 0)
			c->st.mechs |= 1u << MECH_SCRAM_SHA256;
		else if (strcmp(c->st.text, "SCRAM-SHA-1") == 0)
			c->st.mechs |= 1u << MECH_SCRAM_SHA1;
		else if (strcmp(c->st.text, "PLAIN") == 0)
			c->st.mechs |= 1u << MECH_PLAIN;
	}
	if (c->depth > 2 && strcmp(name, "mechanism") != 0 &&
	    strcmp(name, "error") != 0)
		c->capture = 0;
	c->depth--;
	if (c->depth == 1 && c->state != ST_CLOSED)
		handle_stanza(c);
	else if (c->depth == 0)
		conn_fail(c, "server closed the stream");
}

static void
xml_setup(struct lg_conn *c)
{
	if (c->xp == NULL)
		c->xp = XML_ParserCreateNS(NULL, ' ');
	else
		XML_ParserReset(c->xp, NULL);
	XML_SetUserData(c->xp, c);
	XML_SetElementHandler(c->xp, x_start, x_end);
	XML_SetCharacterDataHandler(c->xp, x_text);
	c->depth = 0;
	c->restart = 0;
}

/* ---- the login state machine ---- */

static void
do_auth(struct lg_conn *c)
{
	char		 b64[1024];
	const char	*mname;

	if (!(c->st.mechs & (1u << lg_cfg.mech))) {
		conn_fail(c, "mechanism not offered");
		return;
	}
	if (lg_cfg.mech == MECH_PLAIN) {
		if (lg_plain_initial(c->username, lg_cfg.password, b64,
		    sizeof(b64)) == -1) {
			conn_fail(c, "PLAIN encode failed");
			return;
		}
		mname = "PLAIN";
	} else {
		c->scram = lg_scram_start(c->username, lg_cfg.password,
		    lg_cfg.mech, b64, sizeof(b64));
		if (c->scram == NULL) {
			conn_fail(c, "SCRAM start failed");
			return;
		}
		mname = lg_cfg.mech == MECH_SCRAM_SHA1 ? "SCRAM-SHA-1" :
		    "SCRAM-SHA-256";
	}
	lg_conn_sendf(c, "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>",
	    mname, b64);
	c->state = ST_SASL;
}

static void
on_sasl(struct lg_conn *c)
{
	char	 b64[1024];

	if (strcmp(c->st.name, "challenge") == 0 && c->scram != NULL) {
		if (lg_scram_step(c->scram, c->st.text, c->st.textlen, b64,
		    sizeof(b64)) == -1) {
			conn_fail(c, "bad SCRAM challenge");
			return;
		}
		lg_conn_sendf(c, "<response xmlns='" NS_SASL "'>%s</response>",
		    b64);
	} else if (strcmp(c->st.name, "success") == 0) {
		if (c->scram != NULL &&
		    lg_scram_verify(c->scram, c->st.text, c->st.textlen) == -1) {
			conn_fail(c, "server signature mismatch");
			return;
		}
		lg_scram_free(c->scram);
		c->scram = NULL;
		c->state = ST_FEAT_BIND;
		c->restart = 1;		/* RFC 6120 section 6.4.6 */
	} else
		conn_fail(c, "SASL failure");
}

static void
after_bind(struct lg_conn *c)
{
	if (lg_cfg.want_roster) {
		lg_conn_sendf(c, "<iq type='get' id='r1'><query xmlns='"
		    NS_ROSTER "'/></iq>");
		c->state = ST_ROSTER;
		return;
	}
	if (lg_cfg.want_presence)
		lg_conn_send(c, "<presence/>", 11);
	c->state = ST_READY;
	c->t_ready = lg_now_ns();
	c->ops->ready(c);
}

static void
on_features(struct lg_conn *c)
{
	if (c->state == ST_FEAT_TLS) {
		if (!c->st.starttls) {
			conn_fail(c, "no STARTTLS offered");
			return;
		}
		lg_conn_sendf(c, "<starttls xmlns='" NS_TLS "'/>");
		c->state = ST_PROCEED;
	} else if (c->state == ST_FEAT_AUTH && lg_cfg.register_only) {
		/* XEP-0077 section 3.1, username and password in one go */
		lg_conn_sendf(c, "<iq type='set' id='reg1'><query xmlns='"
		    NS_REGISTER "'><username>%s</username><password>%s"
		    "</password></query></iq>", c->username, lg_cfg.password);
		c->state = ST_REGISTER;
	} else if (c->state == ST_FEAT_AUTH)
		do_auth(c);
	else if (c->state == ST_FEAT_BIND) {
		if (!c->st.bind) {
			conn_fail(c, "no bind offered");
			return;
		}
		if (lg_cfg.resource_per_session)
			lg_conn_sendf(c, "<iq type='set' id='b1'><bind xmlns='"
			    NS_BIND "'><resource>%s%d</resource></bind></iq>",
			    lg_cfg.resource, c->index);
		else
			lg_conn_sendf(c, "<iq type='set' id='b1'><bind xmlns='"
			    NS_BIND "'><resource>%s</resource></bind></iq>",
			    lg_cfg.resource);
		c->state = ST_BIND;
		c->need_session = c->st.session_required;
	}
}

static void
on_iq_result(struct lg_conn *c)
{
	int	 failed = strcmp(c->st.type, "result") != 0;

	if (c->state == ST_BIND && strcmp(c->st.id, "b1") == 0) {
		if (failed || c->st.textlen == 0 ||
		    c->st.textlen >= sizeof(c->jid)) {
			conn_fail(c, "bind failed");
			return;
		}
		memcpy(c->jid, c->st.text, c->st.textlen + 1);
		if (c->need_session) {
			lg_conn_sendf(c, "<iq type='set' id='s1'><session "
			    "xmlns='" NS_SESSION "'/></iq>");
			c->state = ST_SESSION;
		} else
			after_bind(c);
	} else if (c->state == ST_SESSION && strcmp(c->st.id, "s1") == 0) {
		if (failed)
			conn_fail(c, "session failed");
		else
			after_bind(c);
	} else if (c->state == ST_ROSTER && strcmp(c->st.id, "r1") == 0) {
		if (failed) {
			conn_fail(c, "roster get failed");
			return;
		}
		if (lg_cfg.want_presence)
			lg_conn_send(c, "<presence/>", 11);
		c->state = ST_READY;
		c->t_ready = lg_now_ns();
		c->ops->ready(c);
		/* the scenario may look at c->st.items* in ready() */
	} else if (c->state == ST_REGISTER && strcmp(c->st.id, "reg1") == 0) {
		if (failed && !c->st.error_conflict) {
			conn_fail(c, "registration refused");
			return;
		}
		c->state = ST_READY;
		c->ops->ready(c);
	}
}

/* Answer pings (XEP-0199) and refuse other requests (RFC 6120 8.2.3). */
static void
answer_iq(struct lg_conn *c)
{
	if (c->st.ping)
		lg_conn_sendf(c, "<iq type='result' id='%s' to='%s'/>",
		    c->st.id, c->st.from);
	else if (c->st.disco_info && lg_cfg.disco_info != NULL)
		lg_conn_sendf(c, "<iq type='result' id='%s' to='%s'><query "
		    "xmlns='" NS_DISCO_INFO "' node='%s'>%s</query></iq>",
		    c->st.id, c->st.from, c->st.node, lg_cfg.disco_info);
	else
		lg_conn_sendf(c, "<iq type='error' id='%s' to='%s'><error "
		    "type='cancel'><service-unavailable xmlns='urn:ietf:params"
		    ":xml:ns:xmpp-stanzas'/></error></iq>", c->st.id,
		    c->st.from);
}

static void
handle_stanza(struct lg_conn *c)
{
	const char	*n = c->st.name;

	if (strcmp(n, "features") == 0)
		on_features(c);
	else if (strcmp(n, "proceed") == 0 && c->state == ST_PROCEED) {
		c->restart = 1;		/* TLS starts after this chunk */
		start_tls(c);
	} else if (c->state == ST_SASL)
		on_sasl(c);
	else if (strcmp(n, "iq") == 0 && (strcmp(c->st.type, "get") == 0 ||
	    strcmp(c->st.type, "set") == 0))
		answer_iq(c);
	else if (strcmp(n, "iq") == 0 && c->state != ST_READY)
		on_iq_result(c);
	else if (strcmp(n, "error") == 0)
		conn_fail(c, "stream error");
	else if (c->state == ST_READY && c->ops->stanza != NULL)
		c->ops->stanza(c, &c->st);
}

/* ---- input ---- */

static int
feed(struct lg_conn *c, const char *buf, int n)
{
	if (XML_Parse(c->xp, buf, n, 0) == XML_STATUS_ERROR) {
		conn_fail(c, "XML not well-formed");
		return -1;
	}
	if (c->state == ST_CLOSED)
		return -1;
	if (c->restart && c->state == ST_TLS) {
		/* the parser is reset once the handshake completes */
		c->restart = 0;
		tls_handshake(c);
	} else if (c->restart) {
		xml_setup(c);
		send_header(c);
	}
	return c->state == ST_CLOSED ? -1 : 0;
}

static void
conn_read(struct lg_conn *c)
{
	char	 buf[LG_IN_CHUNK];
	int	 n, err;

	for (;;) {
		if (c->state == ST_TLS) {
			tls_handshake(c);
			if (c->state == ST_TLS || c->state == ST_CLOSED)
				return;
			continue;
		}
		if (c->tls_up) {
			n = SSL_read(c->ssl, buf, sizeof(buf));
			if (n <= 0) {
				err = SSL_get_error(c->ssl, n);
				if (err == SSL_ERROR_WANT_READ ||
				    err == SSL_ERROR_WANT_WRITE)
					return;
				conn_fail(c, err == SSL_ERROR_ZERO_RETURN ?
				    "TLS closed" : "TLS read failed");
				return;
			}
		} else {
			n = (int)read(c->fd, buf, sizeof(buf));
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				conn_fail(c, "connection closed");
				return;
			}
		}
		if (feed(c, buf, n) == -1)
			return;
	}
}

static void
conn_event(struct lg_conn *c, uint32_t ev)
{
	if (c->state == ST_CONNECTING) {
		connected(c);
		return;
	}
	if (c->state == ST_TLS) {
		tls_handshake(c);
		if (c->state == ST_TLS || c->state == ST_CLOSED)
			return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
	if (c->state != ST_CLOSED && (ev & EPOLLOUT))
		conn_flush(c);
}

/* End every session politely and free them: the end of a run. */
void
lg_close_all(void)
{
	while (!LIST_EMPTY(&live))
		lg_conn_close(LIST_FIRST(&live));
	lg_loop_once(0);
}

/* Write what the turn queued, then free the connections that died in it. */
void
lg_flush(void)
{
	int i;

	for (i = 0; i < ndirty; i++) {
		dirty[i]->dirty = 0;
		if (dirty[i]->state != ST_CLOSED)
			conn_flush(dirty[i]);
	}
	ndirty = 0;
	for (i = 0; i < ndead; i++) {
		if (dead[i]->xp != NULL)
			XML_ParserFree(dead[i]->xp);
		free(dead[i]->out);
		free(dead[i]);
	}
	ndead = 0;
}

/*
 * One turn: wait up to timeout_ns (epoll_pwait2: a fixed-rate sender
 * must wake when its next message is due, not at the next whole
 * millisecond), handle events, flush.
 */
void
lg_loop_wait_ns(uint64_t timeout_ns)
{
	struct epoll_event	 evs[256];
	struct timespec		 ts;
	int			 n, i;

	ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
	ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
	n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
	for (i = 0; i < n; i++) {
		struct lg_conn *c = evs[i].data.ptr;
		if (c->state != ST_CLOSED)
			conn_event(c, evs[i].events);
	}
	lg_flush();
}

void
lg_loop_once(int timeout_ms)
{
	lg_loop_wait_ns((uint64_t)timeout_ms * 1000000ull);
}
