/*
 * test_jscan.c - the JSON pull scanner: walking a document, string decoding and truncation,
 * integers, and agreement with jansson on what is well-formed (fixed cases and a few thousand
 * deterministic mutations of a server list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "nph_jscan.h"

static const char doc[] =
    "{\"servers\": [\n"
    "  {\"id\": \"a1\", \"name\": \"caf\\u00e9 \\ud83d\\ude00\", \"n\": -12, \"x\": [1, 2.5e3, "
    "{\"deep\": [true, false, null]}], \"metadata\": {\"k\": \"v\\\"q\\\\\"}},\n"
    "  {\"id\": \"a2\", \"name\": null, \"n\": 0}\n"
    "], \"servers_links\": [{\"rel\": \"next\", \"href\": \"http://h/s?marker=a2\"}]}";

static void test_walk(void **state)
{
    (void)state;
    struct nph_jscan s;
    char id[8], name[64], href[64];
    int64_t n = 99;
    int servers = 0, r;
    nph_jscan_init(&s, doc, strlen(doc), 16);
    assert_int_equal(nph_jscan_enter(&s, NPH_J_OBJECT), 0);
    while ((r = nph_jscan_member(&s)) == 1) {
        if (nph_jscan_key_is(&s, "servers")) {
            assert_int_equal(nph_jscan_enter(&s, NPH_J_ARRAY), 0);
            while (nph_jscan_element(&s) == 1) {
                assert_int_equal(nph_jscan_enter(&s, NPH_J_OBJECT), 0);
                while (nph_jscan_member(&s) == 1) {
                    if (nph_jscan_key_is(&s, "id"))
                        assert_true(nph_jscan_string(&s, id, sizeof(id), 0) >= 0);
                    else if (nph_jscan_key_is(&s, "name"))
                        assert_true(nph_jscan_string_or_null(&s, name, sizeof(name), 0) >= 0);
                    else if (nph_jscan_key_is(&s, "n"))
                        assert_int_equal(nph_jscan_int64(&s, &n), 0);
                    else
                        assert_int_equal(nph_jscan_skip(&s), 0);
                }
                if (servers++ == 0) {
                    assert_string_equal(id, "a1");
                    assert_string_equal(name, "caf\xc3\xa9 \xf0\x9f\x98\x80");
                    assert_int_equal(n, -12);
                } else {
                    assert_string_equal(id, "a2");
                    assert_string_equal(name, "");
                    assert_int_equal(n, 0);
                }
            }
        } else if (nph_jscan_key_is(&s, "servers_links")) {
            assert_int_equal(nph_jscan_enter(&s, NPH_J_ARRAY), 0);
            while (nph_jscan_element(&s) == 1) {
                assert_int_equal(nph_jscan_enter(&s, NPH_J_OBJECT), 0);
                while (nph_jscan_member(&s) == 1) {
                    if (nph_jscan_key_is(&s, "href"))
                        assert_true(nph_jscan_string(&s, href, sizeof(href), 0) > 0);
                    else
                        assert_int_equal(nph_jscan_skip(&s), 0);
                }
            }
        } else {
            assert_int_equal(nph_jscan_skip(&s), 0);
        }
    }
    assert_int_equal(r, 0);
    assert_null(s.err);
    assert_int_equal(servers, 2);
    assert_string_equal(href, "http://h/s?marker=a2");
    assert_int_equal(nph_jscan_end(&s), 0);
}

static void test_strings(void **state)
{
    (void)state;
    struct nph_jscan s;
    char out[8];
    const char *t = "\"abcdefghij\"";
    nph_jscan_init(&s, t, strlen(t), 4);
    assert_int_equal(nph_jscan_string(&s, out, sizeof(out), 0), -1); /* too long */
    assert_string_equal(s.err, "a string is too long");
    nph_jscan_init(&s, t, strlen(t), 4);
    assert_int_equal(nph_jscan_string(&s, out, sizeof(out), 1), 7);
    assert_string_equal(out, "abcdefg");
    /* truncation never splits a code point: 3 x "é" (2 bytes) in 6 bytes of room */
    t = "\"\xc3\xa9\xc3\xa9\\u00e9\xc3\xa9\"";
    nph_jscan_init(&s, t, strlen(t), 4);
    assert_int_equal(nph_jscan_string(&s, out, 7, 1), 6);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9\xc3\xa9");
    /* a value of another type */
    nph_jscan_init(&s, "12", 2, 4);
    assert_int_equal(nph_jscan_string(&s, out, sizeof(out), 1), -1);
    assert_string_equal(s.err, "expected a string");
    /* a member name longer than the key buffer never matches */
    char big[600];
    memset(big, 'k', sizeof(big));
    memcpy(big, "{\"", 2);
    memcpy(big + 500, "\": 1}", 6);
    nph_jscan_init(&s, big, strlen(big), 4);
    assert_int_equal(nph_jscan_enter(&s, NPH_J_OBJECT), 0);
    assert_int_equal(nph_jscan_member(&s), 1);
    assert_false(nph_jscan_key_is(&s, s.key));
    assert_int_equal(nph_jscan_skip(&s), 0);
    assert_int_equal(nph_jscan_member(&s), 0);
    assert_int_equal(nph_jscan_end(&s), 0);
}

static void test_int64(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t v;
    } cases[] = {
        {"0", 1, 0},
        {"-0", 1, 0},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"1.5", 0, 0},
        {"1e3", 0, 0},
        {"01", 0, 0}, /* "0" then trailing "1": the end check refuses it */
        {"\"1\"", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nph_jscan s;
        int64_t v = 42;
        nph_jscan_init(&s, cases[i].text, strlen(cases[i].text), 4);
        int ok = nph_jscan_int64(&s, &v) == 0 && nph_jscan_end(&s) == 0;
        if (ok != cases[i].ok)
            fail_msg("'%s': ok %d, want %d (%s)", cases[i].text, ok, cases[i].ok,
                     s.err ? s.err : "-");
        if (ok)
            assert_int_equal(v, cases[i].v);
    }
}

/* Well-formed per the scanner (skip + end) and per jansson; -1 when jansson refuses only a
 * number it cannot hold (valid JSON). */
static int agree(const char *t, size_t len, int *scan_ok)
{
    struct nph_jscan s;
    json_error_t e;
    nph_jscan_init(&s, t, len, 100);
    *scan_ok = nph_jscan_skip(&s) == 0 && nph_jscan_end(&s) == 0;
    json_t *j = json_loadb(t, len, JSON_DECODE_ANY, &e);
    int jok = j != NULL;
    json_decref(j);
    if (!jok && (strstr(e.text, "too big") || strstr(e.text, "overflow")))
        return -1;
    return *scan_ok == jok;
}

static void test_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}",
        "[]",
        "\"\"",
        "0",
        "-1.5e-3",
        "true",
        "null",
        " [1 , 2 ] ",
        "{\"a\":{\"b\":[]}}",
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{,}",
        "[,1]",
        "{\"a\" 1}",
        "{\"a\":}",
        "{1:2}",
        "[1 2]",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "tru",
        "nul",
        "True",
        "[1]x",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\u0000\"",
        "\"\t\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xe2\x82\"",
        "\"\xe2\x82\xac\"",
        "\"\\ud83d\\ude00\"",
        "[[[[[[]]]]]]",
        "{\"a\":1}{",
        "[\"a\"\"b\"]",
    };
    int ok;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (agree(cases[i], strlen(cases[i]), &ok) == 0)
            fail_msg("'%s': the scanner says %s, jansson the opposite", cases[i],
                     ok ? "well-formed" : "malformed");
    /* mutations of a real document: one byte changed, deleted or a range cut */
    size_t n = strlen(doc);
    char *buf = malloc(n + 1);
    uint32_t x = 12345;
    static const char alphabet[] = "{}[],:\"\\ 0123456789.eE+-tfnulr\x80\xc3\xa9\xff";
    int checked = 0;
    for (int round = 0; round < 4000; round++) {
        memcpy(buf, doc, n + 1);
        size_t len = n;
        x = x * 1103515245u + 12345u;
        size_t at = (x >> 8) % n;
        x = x * 1103515245u + 12345u;
        switch (round % 3) {
        case 0:
            buf[at] = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
            break;
        case 1:
            memmove(buf + at, buf + at + 1, n - at);
            len--;
            break;
        default: {
            size_t cut = (x >> 8) % 12 + 1;
            if (at + cut > n)
                cut = n - at;
            memmove(buf + at, buf + at + cut, n - at - cut + 1);
            len -= cut;
        }
        }
        int a = agree(buf, len, &ok);
        if (a == 0)
            fail_msg("round %d: the scanner says %s, jansson the opposite: %.*s", round,
                     ok ? "well-formed" : "malformed", (int)len, buf);
        checked += a == 1;
    }
    free(buf);
    assert_true(checked > 3900);
}

static void test_errors_stick(void **state)
{
    (void)state;
    struct nph_jscan s;
    const char *t = "[1,,2]";
    nph_jscan_init(&s, t, strlen(t), 4);
    assert_int_equal(nph_jscan_enter(&s, NPH_J_ARRAY), 0);
    assert_int_equal(nph_jscan_element(&s), 1);
    assert_int_equal(nph_jscan_skip(&s), 0);
    assert_int_equal(nph_jscan_element(&s), 1);
    assert_int_equal(nph_jscan_skip(&s), -1);
    assert_string_equal(s.err, "expected a value");
    assert_int_equal(s.pos, 3);
    assert_int_equal(nph_jscan_element(&s), -1); /* stays failed */
    assert_int_equal(nph_jscan_end(&s), -1);
    /* depth */
    nph_jscan_init(&s, "[[[1]]]", 7, 2);
    assert_int_equal(nph_jscan_skip(&s), -1);
    assert_string_equal(s.err, "nested too deeply");
    /* member in an array, element in an object */
    nph_jscan_init(&s, "[1]", 3, 4);
    assert_int_equal(nph_jscan_enter(&s, NPH_J_ARRAY), 0);
    assert_int_equal(nph_jscan_member(&s), -1);
    nph_jscan_init(&s, "{}", 2, 4);
    assert_int_equal(nph_jscan_enter(&s, NPH_J_ARRAY), -1);
    assert_string_equal(s.err, "expected an array");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk),         cmocka_unit_test(test_strings),
        cmocka_unit_test(test_int64),        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_errors_stick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
