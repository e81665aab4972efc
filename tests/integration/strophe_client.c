/*
 * strophe_client.c - a second, independent XMPP client (libstrophe) for
 * the c2sd integration tests.
 *
 *	strophe_client JID PASSWORD CAFILE HOST PORT PEER [TEXT]
 *
 * Logs in over STARTTLS (TLS mandatory, the certificate checked against
 * CAFILE), becomes available, sends TEXT (default "ping from strophe") to
 * PEER and waits for a chat message back from PEER's bare JID.  Prints the
 * reply's body and exits 0 when it arrives; exits 1 on any failure and 2
 * when nothing arrives within 15 seconds.  test_c2s_strophe.py compiles it
 * with pkg-config libstrophe and pairs it with a slixmpp client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strophe.h>

#define DEADLINE_MS	15000

struct state {
	const char	*peer;
	const char	*text;
	int		 result;	/* 0 ok, 1 failure, 2 timeout */
};

static int
same_bare(const char *a, const char *b)
{
	size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

	return la == lb && strncmp(a, b, la) == 0;
}

static int
on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct state	*s = arg;
	const char	*from = xmpp_stanza_get_from(st);
	const char	*type = xmpp_stanza_get_type(st);
	char		*body;

	if (from == NULL || !same_bare(from, s->peer))
		return 1;
	if (type != NULL && strcmp(type, "error") == 0) {
		fprintf(stderr, "error reply from %s\n", from);
		s->result = 1;
		xmpp_disconnect(conn);
		return 0;
	}
	if ((body = xmpp_message_get_body(st)) == NULL)
		return 1;
	printf("%s\n", body);
	xmpp_free(xmpp_conn_get_context(conn), body);
	s->result = 0;
	xmpp_disconnect(conn);
	return 0;
}

static int
on_deadline(xmpp_conn_t *conn, void *arg)
{
	struct state *s = arg;

	fprintf(stderr, "no reply within %d ms\n", DEADLINE_MS);
	s->result = 2;
	xmpp_disconnect(conn);
	return 0;
}

static void
on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err,
    xmpp_stream_error_t *se, void *arg)
{
	struct state	*s = arg;
	xmpp_ctx_t	*ctx = xmpp_conn_get_context(conn);
	xmpp_stanza_t	*p, *m;

	if (ev != XMPP_CONN_CONNECT) {
		if (se != NULL)
			fprintf(stderr, "stream error %d\n", (int)se->type);
		if (s->result == -1) {
			fprintf(stderr, "disconnected (error %d)\n", err);
			s->result = 1;
		}
		xmpp_stop(ctx);
		return;
	}
	if (!xmpp_conn_is_secured(conn)) {
		fprintf(stderr, "connection is not encrypted\n");
		s->result = 1;
		xmpp_disconnect(conn);
		return;
	}
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, s);
	p = xmpp_presence_new(ctx);
	xmpp_send(conn, p);
	xmpp_stanza_release(p);
	m = xmpp_message_new(ctx, "chat", s->peer, "strophe1");
	xmpp_message_set_body(m, s->text);
	xmpp_send(conn, m);
	xmpp_stanza_release(m);
}

int
main(int argc, char *argv[])
{
	struct state	 s;
	xmpp_ctx_t	*ctx;
	xmpp_conn_t	*conn;
	unsigned long	 port;

	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: strophe_client JID PASSWORD CAFILE "
		    "HOST PORT PEER [TEXT]\n");
		return 1;
	}
	port = strtoul(argv[5], NULL, 10);
	s.peer = argv[6];
	s.text = argc == 8 ? argv[7] : "ping from strophe";
	s.result = -1;

	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, xmpp_get_default_logger(XMPP_LEVEL_WARN));
	conn = xmpp_conn_new(ctx);
	xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_jid(conn, argv[1]);
	xmpp_conn_set_pass(conn, argv[2]);
	xmpp_conn_set_cafile(conn, argv[3]);
	xmpp_timed_handler_add(conn, on_deadline, DEADLINE_MS, &s);
	if (xmpp_connect_client(conn, argv[4], (unsigned short)port, on_conn,
	    &s) != XMPP_EOK) {
		fprintf(stderr, "cannot connect\n");
		return 1;
	}
	xmpp_run(ctx);
	xmpp_conn_release(conn);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return s.result == -1 ? 1 : s.result;
}
