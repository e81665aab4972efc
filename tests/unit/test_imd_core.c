/*
 * test_imd_core.c - unit tests of imd's core that need no routerd: stanza
 * kind/type as the frame header encodes them, XEP-0082 timestamps, frame
 * body serialization, configuration, and the LMDB side of rosters
 * (items, versions, roster-max, pending requests) and offline storage
 * (quota).  Built with imd.c compiled with -DIMD_NO_MAIN; no resource is
 * interested or available, so nothing is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"
#include "imd.h"
#include "store.h"

extern const struct daemon_ops *imd_test_ops;

static struct xnode *
parse(const char *s)
{
	struct xnode *x = xml_parse_element(s, strlen(s), NULL);

	assert_non_null(x);
	return x;
}

static void
test_kind_stype(void **st)
{
	struct xnode *x;

	x = parse("<message type='chat'/>");
	assert_int_equal(stanza_node_kind(x), RK_MESSAGE);
	assert_int_equal(stanza_node_stype(x), RS_CHAT);
	xnode_free(x);
	x = parse("<message type='bogus'/>");	/* RFC 6121 5.2.2 */
	assert_int_equal(stanza_node_stype(x), RS_NORMAL);
	xnode_free(x);
	x = parse("<presence/>");
	assert_int_equal(stanza_node_stype(x), RS_AVAILABLE);
	xnode_free(x);
	x = parse("<presence type='unsubscribed'/>");
	assert_int_equal(stanza_node_stype(x), RS_UNSUBSCRIBED);
	xnode_free(x);
	x = parse("<iq type='error'/>");
	assert_int_equal(stanza_node_stype(x), RS_ERROR);
	xnode_free(x);
	x = parse("<foo xmlns='urn:x'/>");
	assert_int_equal(stanza_node_kind(x), RK_NONE);
	xnode_free(x);
}

static void
test_timestamp(void **st)
{
	char buf[32];

	xmpp_timestamp(buf, sizeof(buf), 1700000000123456ULL);
	assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
}

static void
test_serialize_nested(void **st)
{
	struct xnode	*x, *f;
	struct xbuf	 b;

	x = parse("<message><body>hi</body></message>");
	xbuf_init(&b);
	assert_int_equal(imd_serialize(&b, x), 0);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<message><body>hi</body></message>");
	/* A parsed stanza inside another namespace gets jabber:client. */
	f = xnode_new("forwarded", NS_FORWARD);
	xnode_append(f, x);
	xbuf_reset(&b);
	assert_int_equal(imd_serialize(&b, f), 0);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data, "<forwarded xmlns='urn:xmpp:forward:0'>"
	    "<message xmlns='jabber:client'><body>hi</body></message>"
	    "</forwarded>");
	/* ... and the tree itself is unchanged. */
	assert_string_equal(x->ns, "");
	xbuf_free(&b);
	xnode_free(f);
}

static void
test_configure(void **st)
{
	const char *host[] = { "Example.ORG" }, *q[] = { "3" },
	    *bad[] = { "x" }, *gm[] = { "team", "a@example.org" };

	assert_int_equal(imd_test_ops->configure("host", 1, host), 0);
	assert_true(imd_is_local("example.org"));
	assert_true(imd_is_local_jid("a@example.org/r"));
	assert_false(imd_is_local_jid("example.org"));
	assert_int_equal(imd_test_ops->configure("offline-quota", 1, q), 0);
	assert_int_equal(imd_conf.offline_quota, 3);
	assert_int_equal(imd_test_ops->configure("roster-max", 1, q), 0);
	assert_int_equal(imd_test_ops->configure("roster-max", 1, bad), -1);
	assert_int_equal(imd_test_ops->configure("some-new-option", 1, q), 0);
	assert_int_equal(imd_test_ops->configure("group-member", 2, gm), 0);
}

static int
count_cb(const struct imd_item *it, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_roster_store(void **st)
{
	struct imd_item	it;
	int		n = 0;
	char		key[64];

	memset(&it, 0, sizeof(it));
	strcpy(it.jid, "b@example.org");
	it.sub = IMD_SUB_TO;
	it.ask = 1;
	it.name = strdup("Bee");
	assert_int_equal(imd_roster_save("a@example.org", &it), 0);
	imd_item_clear(&it);
	assert_int_equal(imd_roster_get("a@example.org", "b@example.org", &it), 0);
	assert_int_equal(it.sub, IMD_SUB_TO);
	assert_int_equal(it.ask, 1);
	assert_string_equal(it.name, "Bee");
	imd_item_clear(&it);
	assert_int_equal(imd_roster_get("a@example.org", "z@example.org", &it), 1);
	assert_false(imd_roster_shares_presence("a@example.org", "b@example.org"));
	/* roster-max is 3. */
	for (n = 0; n < 3; n++) {
		memset(&it, 0, sizeof(it));
		snprintf(key, sizeof(key), "c%d@example.org", n);
		strcpy(it.jid, key);
		assert_int_equal(imd_roster_save("a@example.org", &it),
		    n < 2 ? 0 : -2);
	}
	n = 0;
	assert_int_equal(imd_roster_each("a@example.org", count_cb, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(imd_roster_remove("a@example.org", "c0@example.org"), 0);
	n = 0;
	(void)imd_roster_each("a@example.org", count_cb, &n);
	assert_int_equal(n, 2);
}

static void
test_pending(void **st)
{
	struct xnode *x = parse("<presence type='subscribe'/>");

	assert_false(imd_pending_exists("a@example.org", "p@example.org"));
	assert_int_equal(imd_pending_put("a@example.org", "p@example.org", x), 0);
	assert_true(imd_pending_exists("a@example.org", "p@example.org"));
	assert_int_equal(imd_pending_del("a@example.org", "p@example.org"), 0);
	assert_false(imd_pending_exists("a@example.org", "p@example.org"));
	assert_int_equal(imd_pending_del("a@example.org", "p@example.org"), 1);
	xnode_free(x);
}

static void
test_offline_quota(void **st)
{
	struct xnode *x = parse("<message type='chat'><body>x</body></message>");
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(imd_offline_store("o@example.org", x), 0);
	assert_int_equal(imd_offline_store("o@example.org", x), -1);
	/* Another account has its own quota. */
	assert_int_equal(imd_offline_store("p@example.org", x), 0);
	xnode_free(x);
}

static void
test_shared_group(void **st)
{
	const char	*gm[] = { "team", "b@example.org" };
	struct imd_item	 it;

	assert_int_equal(imd_test_ops->configure("group-member", 2, gm), 0);
	assert_int_equal(imd_roster_get("z@example.org", "b@example.org", &it), 1);
	assert_int_equal(imd_roster_get("a@example.org", "b@example.org", &it), 0);
	assert_int_equal(it.sub, IMD_SUB_BOTH);
	assert_int_equal(it.ngroups, 1);
	assert_string_equal(it.groups[0], "team");
	imd_item_clear(&it);
	assert_true(imd_roster_shares_presence("b@example.org", "a@example.org"));
}

int
main(void)
{
	char		 dir[] = "/tmp/test_imd_core.XXXXXX";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_stype),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_serialize_nested),
		cmocka_unit_test(test_configure),
		cmocka_unit_test(test_roster_store),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_offline_quota),
		cmocka_unit_test(test_shared_group),
	};
	char		 cmd[64];
	int		 rc;

	if (mkdtemp(dir) == NULL || (imd_store = store_open(dir, 0, 32)) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	store_close(imd_store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
	return rc;
}
