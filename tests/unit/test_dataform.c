/*
 * test_dataform.c - common/dataform.c (XEP-0004): fields read from
 * parsed forms (first value, missing and empty values, values too long
 * for the buffer, multi-value fields, FORM_TYPE and form type), forms
 * built and serialized back, and the value parsers at their edges
 * (booleans, numbers near the bound and past UINT_MAX, list options,
 * text length).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataform.h"
#include "xml.h"

#define FORM(type, body)						\
	"<x xmlns='jabber:x:data' type='" type "'>" body "</x>"

static struct xnode *
parse(const char *s)
{
	struct xnode	*x = xml_parse_element(s, strlen(s), NULL);

	assert_non_null(x);
	return x;
}

static void
test_value(void **state)
{
	struct xnode	*x;
	char		 buf[8];

	(void)state;
	x = parse(FORM("submit",
	    "<field var='a'><value>one</value><value>two</value></field>"
	    "<field var='empty'/>"
	    "<field var='blank'><value/></field>"
	    "<field var='long'><value>12345678</value></field>"
	    "<field var='fits'><value>1234567</value></field>"
	    "<field var='a'><value>second field</value></field>"
	    "<field><value>no var</value></field>"));
	assert_string_equal(dataform_value(x, "a", buf, sizeof(buf)), "one");
	assert_null(dataform_value(x, "missing", buf, sizeof(buf)));
	assert_null(dataform_value(x, "empty", buf, sizeof(buf)));
	assert_string_equal(dataform_value(x, "blank", buf, sizeof(buf)), "");
	/* 8 bytes and a NUL do not fit in 8; 7 do. */
	assert_null(dataform_value(x, "long", buf, sizeof(buf)));
	assert_string_equal(dataform_value(x, "fits", buf, sizeof(buf)),
	    "1234567");
	assert_null(dataform_value(x, "a", buf, 1));
	assert_null(dataform_find(x, "b"));
	assert_non_null(dataform_find(x, "empty"));
	xnode_free(x);
}

struct collect {
	char	 all[64];
	int	 calls;
	int	 refuse_at;
};

static int
collect(const char *v, void *arg)
{
	struct collect	*c = arg;

	if (++c->calls == c->refuse_at)
		return -1;
	strcat(c->all, v);
	strcat(c->all, ";");
	return 0;
}

static void
test_values(void **state)
{
	struct xnode	*x;
	struct collect	 c;

	(void)state;
	x = parse(FORM("submit",
	    "<field var='jids' type='jid-multi'><value>a@x</value>"
	    "<option><value>not a value</value></option>"
	    "<value></value><value>b@x</value></field>"
	    "<field var='none'/>"));
	memset(&c, 0, sizeof(c));
	assert_int_equal(dataform_values(x, "jids", collect, &c), 0);
	assert_string_equal(c.all, "a@x;;b@x;");
	assert_int_equal(c.calls, 3);

	memset(&c, 0, sizeof(c));
	c.refuse_at = 2;
	assert_int_equal(dataform_values(x, "jids", collect, &c), -1);
	assert_string_equal(c.all, "a@x;");
	assert_int_equal(c.calls, 2);	/* stopped at the refusal */

	memset(&c, 0, sizeof(c));
	assert_int_equal(dataform_values(x, "none", collect, &c), 0);
	assert_int_equal(dataform_values(x, "absent", collect, &c), 0);
	assert_int_equal(c.calls, 0);
	xnode_free(x);
}

static int
collect_field(const char *var, const char *v, void *arg)
{
	struct collect	*c = arg;

	if (++c->calls == c->refuse_at)
		return -1;
	strcat(c->all, var);
	strcat(c->all, "=");
	strcat(c->all, v);
	strcat(c->all, ";");
	return 0;
}

static void
test_fields(void **state)
{
	struct xnode	*x;
	struct collect	 c;

	(void)state;
	x = parse(FORM("submit",
	    "<field var='FORM_TYPE' type='hidden'><value>urn:t</value></field>"
	    "<field var='a'><value>1</value><value>2</value></field>"
	    "<field var='b'/>"
	    "<field><value>no var</value></field>"
	    "<field var='c'><value>3</value></field>"));
	memset(&c, 0, sizeof(c));
	assert_int_equal(dataform_fields(x, collect_field, &c), 0);
	/* FORM_TYPE and a field without var are no settings. */
	assert_string_equal(c.all, "a=1;b=;c=3;");

	memset(&c, 0, sizeof(c));
	c.refuse_at = 2;
	assert_int_equal(dataform_fields(x, collect_field, &c), -1);
	assert_string_equal(c.all, "a=1;");
	assert_int_equal(c.calls, 2);
	xnode_free(x);
}

static void
test_type_is(void **state)
{
	struct xnode	*x, *y;

	(void)state;
	x = parse(FORM("submit", "<field var='FORM_TYPE' type='hidden'>"
	    "<value>urn:t</value></field>"));
	assert_true(dataform_type_is(x, "urn:t", "submit"));
	assert_true(dataform_type_is(x, NULL, "submit"));
	assert_false(dataform_type_is(x, "urn:u", "submit"));
	assert_false(dataform_type_is(x, "urn:t", "cancel"));
	assert_false(dataform_type_is(NULL, NULL, "submit"));
	xnode_free(x);

	/* No FORM_TYPE: only a NULL form_type matches. */
	x = parse(FORM("submit", "<field var='a'><value>1</value></field>"));
	assert_true(dataform_type_is(x, NULL, "submit"));
	assert_false(dataform_type_is(x, "urn:t", "submit"));
	xnode_free(x);

	/* Not a data form, or no type attribute. */
	x = parse("<x xmlns='urn:other' type='submit'/>");
	assert_false(dataform_type_is(x, NULL, "submit"));
	xnode_free(x);
	x = parse("<x xmlns='jabber:x:data'/>");
	assert_false(dataform_type_is(x, NULL, "submit"));
	xnode_free(x);

	/* A FORM_TYPE longer than any buffer is not an error, only no match. */
	x = xnode_new("x", DATAFORM_NS);
	xnode_set_attr(x, "type", "submit");
	y = dataform_field(x, "FORM_TYPE", "hidden", NULL, NULL);
	assert_non_null(y);
	{
		char	big[1000];

		memset(big, 'u', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		xnode_add_text(xnode_add_child(y, "value", DATAFORM_NS), big,
		    strlen(big));
		assert_false(dataform_type_is(x, big, "submit"));
	}
	xnode_free(x);
}

static void
test_build(void **state)
{
	static const char *const opts[] = { "a", "b&c", NULL };
	struct xnode	*x, *f;
	struct xbuf	 b;
	char		 buf[16];

	(void)state;
	x = xnode_new("x", DATAFORM_NS);
	assert_non_null(x);
	xnode_set_attr(x, "type", "form");
	assert_non_null(dataform_field(x, "FORM_TYPE", "hidden", NULL,
	    "urn:t"));
	assert_non_null(dataform_field(x, "t", NULL, NULL, NULL));
	f = dataform_field(x, "l", "list-single", "Pick <one>", "b&c");
	assert_non_null(f);
	dataform_options(f, opts);
	dataform_options(NULL, opts);	/* a failed field: nothing */
	assert_null(dataform_field(NULL, "z", NULL, NULL, "v"));

	xbuf_init(&b);
	xml_serialize(&b, x, NULL);
	xbuf_add(&b, "", 1);
	assert_string_equal(b.data,
	    "<x xmlns='jabber:x:data' type='form'>"
	    "<field var='FORM_TYPE' type='hidden'><value>urn:t</value></field>"
	    "<field var='t'/>"
	    "<field var='l' type='list-single' label='Pick &lt;one&gt;'>"
	    "<value>b&amp;c</value>"
	    "<option><value>a</value></option>"
	    "<option><value>b&amp;c</value></option></field></x>");
	xbuf_free(&b);

	/* What was built reads back. */
	assert_true(dataform_type_is(x, "urn:t", "form"));
	assert_string_equal(dataform_value(x, "l", buf, sizeof(buf)), "b&c");
	assert_null(dataform_value(x, "t", buf, sizeof(buf)));
	xnode_free(x);
}

static void
test_bool(void **state)
{
	int	v = 7;

	(void)state;
	assert_int_equal(dataform_bool("1", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(dataform_bool("false", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(dataform_bool("true", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(dataform_bool("0", &v), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(dataform_bool("", &v), -1);
	assert_int_equal(dataform_bool("yes", &v), -1);
	assert_int_equal(dataform_bool("TRUE", &v), -1);
	assert_int_equal(dataform_bool("1 ", &v), -1);
	assert_int_equal(dataform_bool("01", &v), -1);
	assert_int_equal(v, 7);	/* untouched on error */
}

static void
test_uint(void **state)
{
	unsigned	v = 7;

	(void)state;
	assert_int_equal(dataform_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(dataform_uint("10", 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(dataform_uint("007", 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(dataform_uint("4294967295", UINT_MAX, &v), 0);
	assert_int_equal(v, UINT_MAX);
	v = 3;
	assert_int_equal(dataform_uint("11", 10, &v), -1);
	assert_int_equal(dataform_uint("4294967296", UINT_MAX, &v), -1);
	assert_int_equal(dataform_uint("99999999999999999999999", UINT_MAX,
	    &v), -1);
	assert_int_equal(dataform_uint("", 10, &v), -1);
	assert_int_equal(dataform_uint("-1", 10, &v), -1);
	assert_int_equal(dataform_uint("+1", 10, &v), -1);
	assert_int_equal(dataform_uint(" 1", 10, &v), -1);
	assert_int_equal(dataform_uint("1x", 10, &v), -1);
	assert_int_equal(dataform_uint("none", 10, &v), -1);
	/* A digit above a small max must not wrap the bound check. */
	assert_int_equal(dataform_uint("9", 5, &v), -1);
	assert_int_equal(dataform_uint("1", 0, &v), -1);
	assert_int_equal(v, 3);
	assert_int_equal(dataform_uint("0", 0, &v), 0);
	assert_int_equal(v, 0);
}

static void
test_list_text(void **state)
{
	static const char *const opts[] = { "open", "presence", "roster",
	    NULL };
	static const char *const none[] = { NULL };
	char	out[5];
	int	i = 9;

	(void)state;
	assert_int_equal(dataform_list("open", opts, &i), 0);
	assert_int_equal(i, 0);
	assert_int_equal(dataform_list("roster", opts, &i), 0);
	assert_int_equal(i, 2);
	assert_int_equal(dataform_list("Roster", opts, &i), -1);
	assert_int_equal(dataform_list("", opts, &i), -1);
	assert_int_equal(dataform_list("open", none, &i), -1);
	assert_int_equal(i, 2);

	memset(out, 'z', sizeof(out));
	assert_int_equal(dataform_text("abcd", out, sizeof(out) - 1), 0);
	assert_string_equal(out, "abcd");
	assert_int_equal(dataform_text("abcde", out, sizeof(out) - 1), -1);
	assert_string_equal(out, "abcd");
	assert_int_equal(dataform_text("", out, sizeof(out) - 1), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_type_is),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_list_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
