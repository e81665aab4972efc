/*
 * monitord_xmpp.c - monitord's XMPP client, built on libstrophe.
 *
 * One connection at a time: STARTTLS is mandatory and the server's
 * certificate must verify against --ca-file (or the system store) for the
 * JID's domain; a failure ends the attempt (no certfail override).  Once
 * the session is up we send presence, answer disco#info and ping (RFC
 * 6120 8.4: every other get/set gets service-unavailable), approve
 * presence subscriptions from the --allow list (the nodes use the
 * presence access model, XEP-0163 4.2), and publish metrics and alerts
 * with publish-options (XEP-0060 7.1.5) to our own PEP service.
 *
 * Called from monitord.c's loop only (single thread).  Invariants: `conn`
 * is NULL or the one connection; it is released only from mon_xmpp_run(),
 * never inside a libstrophe callback; a publish that fails makes every
 * metric publish again on the next sample, so the server never keeps a
 * stale value once it accepts publications again.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <strophe.h>

#include "log.h"
#include "stanza.h"
#include "monitord.h"

#define NS_PUBSUB	"http://jabber.org/protocol/pubsub"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_PING		"urn:xmpp:ping"
#define NS_XDATA	"jabber:x:data"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"

static xmpp_ctx_t	*ctx;
static xmpp_conn_t	*conn;
static int		 online;
static int		 ended;		/* the connection is over: release */
static int		 leaving;	/* we asked for the end */
static unsigned long	 next_id;

int
mon_xmpp_init(void)
{
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, mon_conf.verbose > 1 ?
	    xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL);
	return ctx == NULL ? -1 : 0;
}

int
mon_xmpp_online(void)
{
	return online;
}

int
mon_xmpp_down(void)
{
	return conn == NULL;
}

/* The password file's first line; refused if others may read it. */
static int
read_password(char *buf, size_t size)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(mon_conf.password_file, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", mon_conf.password_file);
		return -1;
	}
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0) {
		log_warnx("%s: readable by group or others (chmod 600)",
		    mon_conf.password_file);
		close(fd);
		return -1;
	}
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] == '\0' ? -1 : 0;
}

static xmpp_stanza_t *
elem(xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *s = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(s, name);
	if (ns)
		xmpp_stanza_set_ns(s, ns);
	if (parent) {
		xmpp_stanza_add_child(parent, s);
		xmpp_stanza_release(s);	/* the parent holds it */
	}
	return s;
}

static void
text(xmpp_stanza_t *parent, const char *t)
{
	xmpp_stanza_t *s = xmpp_stanza_new(ctx);

	xmpp_stanza_set_text(s, t);
	xmpp_stanza_add_child(parent, s);
	xmpp_stanza_release(s);
}

static void
field(xmpp_stanza_t *x, const char *var, const char *type, const char *val)
{
	xmpp_stanza_t *f = elem(x, "field", NULL);

	xmpp_stanza_set_attribute(f, "var", var);
	if (type)
		xmpp_stanza_set_attribute(f, "type", type);
	text(elem(f, "value", NULL), val);
}

/* A publish failed (or was refused): say why, publish everything again
 * at the next sample. */
static int
publish_result(xmpp_conn_t *c, xmpp_stanza_t *st, void *arg)
{
	xmpp_stanza_t	*err, *cond;

	if (strcmp(xmpp_stanza_get_type(st) ? xmpp_stanza_get_type(st) : "",
	    "result") == 0)
		return 0;
	cond = NULL;
	if ((err = xmpp_stanza_get_child_by_name(st, "error")) != NULL)
		cond = xmpp_stanza_get_children(err);
	log_warnx("publish %s refused: %s", xmpp_stanza_get_id(st),
	    cond && xmpp_stanza_get_name(cond) ? xmpp_stanza_get_name(cond) :
	    "error");
	mon_forget_published();
	return 0;
}

/*
 * <iq type='set'><pubsub><publish node=N><item id=I>payload</item>
 * </publish><publish-options>form</publish-options></pubsub></iq>, sent
 * to our own bare JID (no 'to': XEP-0163 4.3).  The options create the
 * node on first use (XEP-0060 7.1.4) and are a precondition afterwards.
 */
static void
publish(const char *node, const char *item_id, xmpp_stanza_t *payload,
    const char *max_items)
{
	xmpp_stanza_t	*iq, *ps, *pub, *item, *x;
	char		 id[32], nodename[MON_NAME_MAX + 32];

	if (!online) {
		xmpp_stanza_release(payload);
		return;
	}
	snprintf(id, sizeof(id), "pub%lu", ++next_id);
	snprintf(nodename, sizeof(nodename), "%s%s", MON_NODE_PREFIX, node);
	iq = xmpp_iq_new(ctx, "set", id);
	ps = elem(iq, "pubsub", NS_PUBSUB);
	pub = elem(ps, "publish", NULL);
	xmpp_stanza_set_attribute(pub, "node", nodename);
	item = elem(pub, "item", NULL);
	xmpp_stanza_set_attribute(item, "id", item_id);
	xmpp_stanza_add_child(item, payload);
	xmpp_stanza_release(payload);
	x = elem(elem(ps, "publish-options", NULL), "x", NS_XDATA);
	xmpp_stanza_set_type(x, "submit");
	field(x, "FORM_TYPE", "hidden", NS_PUBSUB "#publish-options");
	field(x, "pubsub#access_model", NULL,
	    mon_conf.open_access ? "open" : "presence");
	field(x, "pubsub#max_items", NULL, max_items);
	xmpp_id_handler_add(conn, publish_result, id, NULL);
	xmpp_send(conn, iq);
	xmpp_stanza_release(iq);
}

static void
fmt_num(char *buf, size_t size, double v)
{
	snprintf(buf, size, "%.2f", v);
	/* "12.50" -> "12.5", "3.00" -> "3": shorter items, same value */
	if (strchr(buf, '.') != NULL) {
		size_t n = strlen(buf);

		while (n > 0 && buf[n - 1] == '0')
			buf[--n] = '\0';
		if (n > 0 && buf[n - 1] == '.')
			buf[--n] = '\0';
	}
}

/* <metric xmlns=MON_NS name value unit [max] time/> */
static xmpp_stanza_t *
metric_elem(const char *tag, const struct mon_value *v)
{
	xmpp_stanza_t	*m = elem(NULL, tag, MON_NS);
	char		 buf[64];

	xmpp_stanza_set_attribute(m, "name", v->name);
	fmt_num(buf, sizeof(buf), v->value);
	xmpp_stanza_set_attribute(m, "value", buf);
	xmpp_stanza_set_attribute(m, "unit", v->unit);
	if (v->max > 0) {
		fmt_num(buf, sizeof(buf), v->max);
		xmpp_stanza_set_attribute(m, "max", buf);
	}
	xmpp_timestamp(buf, sizeof(buf), xmpp_now_usec());
	xmpp_stanza_set_attribute(m, "time", buf);
	return m;
}

void
mon_publish(const struct mon_value *v)
{
	log_debug("publish %s = %g %s", v->name, v->value, v->unit);
	/* one item, always "current": the node is the value (XEP-0060
	 * 7.1.2, max_items 1 keeps only the newest) */
	publish(v->name, "current", metric_elem("metric", v), "1");
}

void
mon_publish_alert(const struct mon_value *v, double limit, int raised,
    const char *why)
{
	xmpp_stanza_t	*a = metric_elem("alert", v);
	char		 buf[64], id[48];

	log_info("alert %s: %s", raised ? "raised" : "cleared", why);
	xmpp_stanza_set_attribute(a, "state", raised ? "raised" : "cleared");
	fmt_num(buf, sizeof(buf), limit);
	xmpp_stanza_set_attribute(a, "limit", buf);
	text(a, why);
	/* each alert an item of its own; the node keeps the last few */
	snprintf(id, sizeof(id), "%llu", (unsigned long long)xmpp_now_usec());
	snprintf(buf, sizeof(buf), "%d", MON_ALERT_ITEMS);
	publish(MON_ALERTS, id, a, buf);
}

/* ---- what the server and contacts ask of us ---- */

static int
iq_request(xmpp_conn_t *c, xmpp_stanza_t *st, void *arg)
{
	const char	*type = xmpp_stanza_get_type(st);
	xmpp_stanza_t	*reply, *q, *id;

	if (type == NULL || (strcmp(type, "get") != 0 &&
	    strcmp(type, "set") != 0))
		return 1;
	if (strcmp(type, "get") == 0 && xmpp_stanza_get_child_by_name_and_ns(
	    st, "query", NS_DISCO_INFO) != NULL) {
		reply = xmpp_stanza_reply(st);
		xmpp_stanza_set_type(reply, "result");
		q = elem(reply, "query", NS_DISCO_INFO);
		id = elem(q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "client");
		xmpp_stanza_set_attribute(id, "type", "bot");
		xmpp_stanza_set_attribute(id, "name", "rampart monitord");
		xmpp_stanza_set_attribute(elem(q, "feature", NULL), "var",
		    NS_DISCO_INFO);
		xmpp_stanza_set_attribute(elem(q, "feature", NULL), "var",
		    NS_PING);
	} else if (strcmp(type, "get") == 0 &&
	    xmpp_stanza_get_child_by_name_and_ns(st, "ping", NS_PING) != NULL) {
		reply = xmpp_stanza_reply(st);
		xmpp_stanza_set_type(reply, "result");
	} else
		reply = xmpp_stanza_reply_error(st, "cancel",
		    "service-unavailable", NULL);
	if (reply != NULL) {
		xmpp_send(c, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

/* Is this bare JID in the --allow list (exact, or "@domain")? */
static int
allowed(const char *from)
{
	char	*bare = xmpp_jid_bare(ctx, from);
	char	*dom = xmpp_jid_domain(ctx, from);
	int	 i, ok = 0;

	for (i = 0; bare && dom && i < mon_conf.nallow && !ok; i++)
		ok = mon_conf.allow[i][0] == '@' ?
		    strcasecmp(mon_conf.allow[i] + 1, dom) == 0 :
		    strcasecmp(mon_conf.allow[i], bare) == 0;
	xmpp_free(ctx, bare);
	xmpp_free(ctx, dom);
	return ok;
}

/* RFC 6121 3.1: approve a subscription request from an allowed viewer;
 * others stay pending for a human to decide in a client. */
static int
presence_subscribe(xmpp_conn_t *c, xmpp_stanza_t *st, void *arg)
{
	const char	*from = xmpp_stanza_get_from(st);
	xmpp_stanza_t	*p;
	char		*bare;

	if (from == NULL)
		return 1;
	if (!allowed(from)) {
		log_info("subscription request from %s left pending", from);
		return 1;
	}
	bare = xmpp_jid_bare(ctx, from);
	p = xmpp_presence_new(ctx);
	xmpp_stanza_set_to(p, bare ? bare : from);
	xmpp_stanza_set_type(p, "subscribed");
	xmpp_send(c, p);
	xmpp_stanza_release(p);
	log_info("approved the subscription of %s", bare ? bare : from);
	xmpp_free(ctx, bare);
	return 1;
}

static void
on_conn(xmpp_conn_t *c, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	xmpp_stanza_t *p;

	if (ev == XMPP_CONN_CONNECT) {
		log_info("logged in as %s", xmpp_conn_get_bound_jid(c));
		online = 1;
		xmpp_handler_add(c, iq_request, NULL, "iq", NULL, NULL);
		xmpp_handler_add(c, presence_subscribe, NULL, "presence",
		    "subscribe", NULL);
		/* negative priority: chat messages to the account are not
		 * for us (RFC 6121 4.7.2.3) */
		p = xmpp_presence_new(ctx);
		text(elem(p, "priority", NULL), "-1");
		xmpp_send(c, p);
		xmpp_stanza_release(p);
		mon_connected();
		return;
	}
	if (leaving)
		log_info(online ? "logged out" : "connection attempt ended");
	else if (online)
		log_warnx("connection lost%s%s", error ? ": " : "",
		    error ? strerror(error) : "");
	else
		log_warnx("could not log in%s%s", error ? ": " : "",
		    error ? strerror(error) : "");
	online = 0;
	ended = 1;
}

static int
certfail(const xmpp_tlscert_t *cert, const char *const why)
{
	log_warnx("server certificate refused: %s", why);
	return 0;
}

void
mon_xmpp_connect(void)
{
	char	 pw[1024];
	long	 flags = XMPP_CONN_FLAG_MANDATORY_TLS;

	if (conn != NULL || read_password(pw, sizeof(pw)) == -1)
		return;
	if ((conn = xmpp_conn_new(ctx)) == NULL)
		return;
	xmpp_conn_set_flags(conn, flags);
	if (mon_conf.ca_file[0] != '\0')
		xmpp_conn_set_cafile(conn, mon_conf.ca_file);
	xmpp_conn_set_certfail_handler(conn, certfail);
	xmpp_conn_set_jid(conn, mon_conf.jid);
	xmpp_conn_set_pass(conn, pw);
	explicit_bzero(pw, sizeof(pw));
	ended = 0;
	if (xmpp_connect_client(conn, mon_conf.host[0] ? mon_conf.host : NULL,
	    mon_conf.port, on_conn, NULL) != XMPP_EOK) {
		log_warnx("cannot connect to %s", mon_conf.host[0] ?
		    mon_conf.host : "the JID's domain");
		ended = 1;
	}
}

/* One turn of libstrophe's loop; a connection that ended is released
 * here, outside its callbacks. */
void
mon_xmpp_run(unsigned long ms)
{
	xmpp_run_once(ctx, ms);
	if (conn != NULL && ended) {
		xmpp_conn_release(conn);
		conn = NULL;
		online = 0;
	}
}

void
mon_xmpp_disconnect(void)
{
	if (conn != NULL && !ended) {
		leaving = 1;
		xmpp_disconnect(conn);
	}
}

void
mon_xmpp_free(void)
{
	if (conn != NULL)
		xmpp_conn_release(conn);
	conn = NULL;
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
}
