/*
 * test_json.c - unit tests of nph_json: the depth pre-scan (including brackets inside strings
 * and escaped quotes), invalid UTF-8, NUL bytes, duplicate keys, line/column in messages, the
 * typed getters' messages, unknown-key checks and compact serialisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_json.h"

static json_t *parse(const char *s, int depth, int obj, struct nph_error *err)
{
    return nph_json_parse(s, strlen(s), depth, obj, err);
}

static void expect_invalid(const char *s, size_t len, int depth, int obj, const char *needle)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *v = nph_json_parse(s, len, depth, obj, &err);
    assert_null(v);
    assert_int_equal(err.code, NPH_E_INVALID);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_parse_ok(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    json_t *v = parse(" {\"a\": [1, 2, {\"b\": \"x\\\"[[[\"}], \"c\": null}\n", 3, 1, &err);
    assert_non_null(v);
    json_decref(v);
    v = parse("[1]", 0, 0, &err);
    assert_non_null(v);
    json_decref(v);
    v = parse("42", 1, 0, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);
    v = parse("\"caf\xc3\xa9\"", 1, 0, &err);
    assert_non_null(v);
    json_decref(v);
}

static void test_depth(void **state)
{
    char buf[4096];
    (void)state;
    /* exactly at the limit passes, one more fails */
    struct nph_error err = NPH_ERROR_INIT;
    json_t *v = parse("{\"a\":{\"b\":[1]}}", 3, 1, &err);
    assert_non_null(v);
    json_decref(v);
    expect_invalid("{\"a\":{\"b\":[[1]]}}", 17, 3, 1, "nesting deeper than 3 levels");
    /* a very deep document is refused by the pre-scan, even when unterminated */
    memset(buf, '[', sizeof(buf));
    expect_invalid(buf, sizeof(buf), 32, 0, "nesting deeper than 32");
    /* brackets inside strings and after escaped quotes do not count */
    v = parse("{\"a\":\"[[[[{{{{\\\\\",\"b\":\"\\\"[[[[\"}", 1, 1, &err);
    assert_non_null(v);
    json_decref(v);
    /* sequential siblings do not accumulate depth */
    v = parse("[[1],[2],[3],[4],[5],[6]]", 2, 0, &err);
    assert_non_null(v);
    json_decref(v);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_invalid("", 0, 0, 0, "empty");
    expect_invalid(" \n\t ", 4, 0, 0, "empty");
    expect_invalid(NULL, 0, 0, 0, "empty");
    expect_invalid("{\"a\": 1, \"a\": 2}", 16, 0, 1, "duplicate");
    expect_invalid("{\"a\":\"\\u0000\"}", 14, 0, 1, "line 1");
    expect_invalid("{\"a\":\"x\0y\"}", 11, 0, 1, "NUL byte");
    expect_invalid("{\"a\":\"\xff\xfe\"}", 10, 0, 1, "line 1");     /* invalid UTF-8 */
    expect_invalid("{\"a\":\"\xc0\xaf\"}", 10, 0, 1, "line 1");     /* overlong */
    expect_invalid("{\"a\":\"\xed\xa0\x80\"}", 11, 0, 1, "line 1"); /* surrogate */
    expect_invalid("{\n  \"a\": 1,\n  \"b\": }\n", 21, 0, 1, "line 3, column");
    expect_invalid("[1, 2]", 6, 0, 1, "must be an object");
    expect_invalid("{} {}", 5, 0, 1, "line 1");
    expect_invalid("{\"a\": 99999999999999999999999}", 30, 0, 1, "line 1");
    expect_invalid("]]]]", 4, 0, 0, "line 1");
}

static void test_getters(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    const char *s = NULL;
    int b = -1;
    int64_t i = -1;
    json_t *o = NULL, *a = NULL;
    char long_name[300];
    (void)state;
    json_t *v = parse("{\"name\":\"alice\",\"n\":7,\"f\":1.5,\"t\":true,\"o\":{},\"a\":[],"
                      "\"z\":null,"
                      "\"big\":-9223372036854775808}",
                      0, 1, &err);
    assert_non_null(v);

    assert_int_equal(nph_json_get_str(v, "name", "user.name", 1, 255, &s, &err), 0);
    assert_string_equal(s, "alice");
    assert_int_equal(nph_json_get_str(v, "name", "user.name", 1, 4, &s, &err), -1);
    assert_string_equal(err.msg, "'user.name' is longer than 4 characters");
    assert_int_equal(nph_json_get_str(v, "n", "user.name", 1, 0, &s, &err), -1);
    assert_string_equal(err.msg, "'user.name' must be a string");
    assert_int_equal(nph_json_get_str(v, "z", "user.z", 0, 0, &s, &err), -1);
    assert_string_equal(err.msg, "'user.z' must be a string");
    s = "untouched";
    assert_int_equal(nph_json_get_str(v, "nope", "user.nope", 0, 0, &s, &err), 1);
    assert_string_equal(s, "untouched");
    assert_int_equal(nph_json_get_str(v, "nope", "auth.identity", 1, 0, &s, &err), -1);
    assert_string_equal(err.msg, "'auth.identity' is required");
    assert_int_equal(err.code, NPH_E_INVALID);

    assert_int_equal(nph_json_get_int(v, "n", "x.n", 1, &i, &err), 0);
    assert_int_equal(i, 7);
    assert_int_equal(nph_json_get_int(v, "big", "x.big", 1, &i, &err), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(nph_json_get_int(v, "f", "x.f", 1, &i, &err), -1);
    assert_string_equal(err.msg, "'x.f' must be an integer");
    assert_int_equal(nph_json_get_int(v, "t", "x.t", 1, &i, &err), -1);
    assert_int_equal(nph_json_get_int(v, "nope", "x.nope", 0, &i, &err), 1);

    assert_int_equal(nph_json_get_bool(v, "t", "x.t", 1, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(nph_json_get_bool(v, "n", "x.n", 1, &b, &err), -1);
    assert_string_equal(err.msg, "'x.n' must be a boolean");

    assert_int_equal(nph_json_get_obj(v, "o", "x.o", 1, &o, &err), 0);
    assert_true(json_is_object(o));
    assert_int_equal(nph_json_get_obj(v, "a", "x.a", 1, &o, &err), -1);
    assert_string_equal(err.msg, "'x.a' must be an object");
    assert_int_equal(nph_json_get_arr(v, "a", "x.a", 1, &a, &err), 0);
    assert_true(json_is_array(a));
    assert_int_equal(nph_json_get_arr(v, "o", "x.o", 1, &a, &err), -1);
    assert_string_equal(err.msg, "'x.o' must be an array");
    assert_int_equal(nph_json_get_arr(v, "q", "x.q", 1, &a, &err), -1);
    assert_string_equal(err.msg, "'x.q' is required");

    /* path NULL falls back to the key; a non-object parent reads as absent */
    assert_int_equal(nph_json_get_str(v, "nope", NULL, 1, 0, &s, &err), -1);
    assert_string_equal(err.msg, "'nope' is required");
    assert_int_equal(nph_json_get_str(a, "x", "a.x", 0, 0, &s, &err), 1);
    json_decref(v);

    /* long strings, multi-byte UTF-8 counted in bytes, embedded NUL from a built value */
    memset(long_name, 'x', 256);
    long_name[256] = '\0';
    v = json_pack("{s:s, s:s#}", "name", long_name, "nul", "a\0b", (size_t)3);
    assert_int_equal(nph_json_get_str(v, "name", "user.name", 1, 255, &s, &err), -1);
    assert_string_equal(err.msg, "'user.name' is longer than 255 characters");
    assert_int_equal(nph_json_get_str(v, "name", "user.name", 1, 256, &s, &err), 0);
    assert_int_equal(nph_json_get_str(v, "nul", "user.nul", 1, 0, &s, &err), -1);
    json_decref(v);
}

static void test_check_keys(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    static const char *const allowed[] = {"name", "password", NULL};
    static const char *const none[] = {NULL};
    (void)state;
    json_t *v = parse("{\"name\":\"a\",\"password\":\"b\"}", 0, 1, &err);
    assert_int_equal(nph_json_check_keys(v, "user", allowed, &err), 0);
    json_object_set_new(v, "admin", json_true());
    assert_int_equal(nph_json_check_keys(v, "user", allowed, &err), -1);
    assert_string_equal(err.msg, "unknown field 'admin' in 'user'");
    assert_int_equal(nph_json_check_keys(v, NULL, allowed, &err), -1);
    assert_string_equal(err.msg, "unknown field 'admin'");
    assert_int_equal(nph_json_check_keys(v, "", none, &err), -1);
    json_t *arr = json_array();
    assert_int_equal(nph_json_check_keys(arr, "user", allowed, &err), -1);
    assert_string_equal(err.msg, "'user' must be an object");
    json_decref(arr);
    json_decref(v);
}

static void test_dumps(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    json_t *v = parse("{ \"a\" : [ 1 , 2 ] , \"b\" : \"\xc3\xa9\" }", 0, 1, &err);
    char *s = nph_json_dumps(v);
    assert_string_equal(s, "{\"a\":[1,2],\"b\":\"\xc3\xa9\"}");
    free(s);
    json_decref(v);
    json_t *n = json_integer(5);
    s = nph_json_dumps(n);
    assert_string_equal(s, "5");
    free(s);
    json_decref(n);
    assert_null(nph_json_dumps(NULL));
}

static void test_utf8(void **state)
{
    char out[16];
    (void)state;
    assert_true(nph_utf8_valid("plain", 5));
    assert_true(nph_utf8_valid("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", 11));
    assert_false(nph_utf8_valid("\xff\xfe", 2));
    assert_false(nph_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(nph_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(nph_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(nph_utf8_valid("\xc3", 1));             /* truncated */
    nph_utf8_sanitize("a\xff"
                      "b\xc3\xa9",
                      out, sizeof(out));
    assert_string_equal(out, "a?b\xc3\xa9");
    nph_utf8_sanitize("abc\xc3\xa9", out, 5); /* no room for the whole character */
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),    cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_depth),   cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_getters), cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
