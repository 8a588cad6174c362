/*
 * test_openstack_fault.c - error answers of OpenStack services into struct nph_error: each
 * fault shape (Nova, Keystone, Neutron, API-WG, a bare message), Glance's HTML and text pages,
 * garbage, oversized and invalid UTF-8 bodies; the status mapping; pagination links and
 * escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_json.h"
#include "openstack/openstack_internal.h"

static void check(long status, const char *body, enum nph_err_code code, const char *in_msg,
                  const char *in_detail)
{
    struct nph_error err = NPH_ERROR_INIT;
    assert_int_equal(
        os_fault_error("os1", status, "GET", "/servers/x?all=1", body, strlen(body), &err), -1);
    if (err.code != code)
        fail_msg("status %ld body %.60s: code %s, want %s (%s)", status, body,
                 nph_error_name(err.code), nph_error_name(code), err.msg);
    if (in_msg && !strstr(err.msg, in_msg))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, in_msg);
    if (in_detail && !strstr(err.detail, in_detail))
        fail_msg("detail \"%s\" lacks \"%s\"", err.detail, in_detail);
    assert_true(nph_utf8_valid(err.msg, strlen(err.msg)));
    assert_true(nph_utf8_valid(err.detail, strlen(err.detail)));
    assert_null(strstr(err.msg, "all=1")); /* the query stays out */
}

static void test_nova_faults(void **state)
{
    (void)state;
    check(404,
          "{\"itemNotFound\": {\"message\": \"Instance x could not be found.\", \"code\": 404}}",
          NPH_E_NOT_FOUND, "cloud 'os1' answered 404 to GET /servers/x: Instance x could not",
          "itemNotFound: Instance x could not be found.");
    check(400, "{\"badRequest\": {\"message\": \"Invalid flavorRef provided.\", \"code\": 400}}",
          NPH_E_INVALID, "Invalid flavorRef", "badRequest");
    check(403,
          "{\"forbidden\": {\"message\": \"Policy doesn't allow os_compute_api:servers:create "
          "to be performed.\", \"code\": 403}}",
          NPH_E_FORBIDDEN, "Policy doesn't allow", "forbidden");
    check(403,
          "{\"forbidden\": {\"code\": 403, \"message\": \"Quota exceeded for instances: "
          "Requested 1, but already used 2 of 2 instances\"}}",
          NPH_E_LIMIT, "Quota exceeded for instances", NULL);
    check(409,
          "{\"conflictingRequest\": {\"message\": \"Cannot 'stop' instance x while it is in "
          "vm_state stopped\", \"code\": 409}}",
          NPH_E_CONFLICT, "vm_state stopped", "conflictingRequest");
    check(413,
          "{\"overLimit\": {\"message\": \"Maximum number of ports exceeded\", \"code\": "
          "413, \"retryAfter\": \"0\"}}",
          NPH_E_LIMIT, "Maximum number of ports", "overLimit");
    check(500, "{\"computeFault\": {\"message\": \"Unexpected API Error.\", \"code\": 500}}",
          NPH_E_BACKEND, "answered 500", "computeFault: Unexpected API Error.");
    check(429, "{\"overLimit\": {\"message\": \"This request was rate-limited.\"}}", NPH_E_LIMIT,
          "rate-limited", NULL);
    check(503, "{\"computeFault\": {\"message\": \"down\"}}", NPH_E_UNAVAILABLE, "down", NULL);
    check(504, "", NPH_E_TIMEOUT, "answered 504 to GET /servers/x", NULL);
}

static void test_other_faults(void **state)
{
    (void)state;
    check(401,
          "{\"error\": {\"message\": \"The request you have made requires authentication.\", "
          "\"code\": 401, \"title\": \"Unauthorized\"}}",
          NPH_E_UNAUTHORIZED, "requires authentication", "Unauthorized: The request");
    check(404,
          "{\"NeutronError\": {\"type\": \"NetworkNotFound\", \"message\": \"Network n could "
          "not be found.\", \"detail\": \"\"}}",
          NPH_E_NOT_FOUND, "Network n could not be found", "NeutronError");
    check(409,
          "{\"errors\": [{\"status\": 409, \"title\": \"Conflict\", \"detail\": \"resource "
          "provider generation conflict\"}]}",
          NPH_E_CONFLICT, "generation conflict", "Conflict");
    check(400, "{\"badRequest\": {\"message\": \"Invalid input: <none> is not a 'string'\"}}",
          NPH_E_INVALID, "Invalid input: <none> is not a 'string'", NULL);
    check(400, "{\"message\": \"bad sort key\", \"title\": \"Bad Request\", \"code\": 400}",
          NPH_E_INVALID, "bad sort key", "Bad Request");
    /* Glance answers errors as HTML pages */
    check(404,
          "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not "
          "Found</h1>\n  No image found with ID 1234<br /><br />\n\n\n\n </body>\n</html>",
          NPH_E_NOT_FOUND,
          "answered 404 to GET /servers/x: 404 Not Found No image found with ID 1234", NULL);
    check(409, "Image 1 could not be deleted because it is in use", NPH_E_CONFLICT,
          "could not be deleted because it is in use", NULL);
    /* JSON of another shape is quoted as text; 405 and others are backend errors */
    check(405, "{\"what\": [1, 2]}", NPH_E_BACKEND, "{\"what\": [1, 2]}", NULL);
    check(302, "", NPH_E_BACKEND, "answered 302 to GET /servers/x", NULL);
}

static void test_hostile_bodies(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    /* a megabyte of text: bounded */
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'A', n);
    big[n] = '\0';
    os_fault_error("os1", 500, "GET", "/x", big, n, &err);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_true(strlen(err.msg) < NPH_ERR_MSG_MAX);
    assert_true(strlen(err.detail) <= 400);
    free(big);

    /* invalid UTF-8 and control characters come out clean */
    const char bad[] = "{\"badRequest\": {\"message\": \"bad \\u0001\\u001b[31m name\"}}";
    os_fault_error("os1", 400, "GET", "/x", bad, strlen(bad), &err);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(err.msg, "bad [31m name"));
    const char raw[] = "oops \xff\xfe\xc3 end\r\nX-Injected: 1";
    os_fault_error("os1", 500, "GET", "/x", raw, strlen(raw), &err);
    assert_true(nph_utf8_valid(err.msg, strlen(err.msg)));
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\r'));
    /* a body with NUL bytes */
    const char nul[] = "abc\0def";
    os_fault_error("os1", 500, "GET", "/x", nul, sizeof(nul) - 1, &err);
    assert_true(nph_utf8_valid(err.msg, strlen(err.msg)));
    /* deep JSON is not parsed, only quoted */
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = '\0';
    os_fault_error("os1", 400, "GET", "/x", deep, strlen(deep), &err);
    assert_int_equal(err.code, NPH_E_INVALID);
    /* a fault message that is not a string */
    const char odd[] = "{\"itemNotFound\": {\"message\": 42}}";
    os_fault_error("os1", 404, "GET", "/x", odd, strlen(odd), &err);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    os_fault_error("os1", 404, "GET", "/x", NULL, 0, &err);
    assert_string_equal(err.msg, "cloud 'os1' answered 404 to GET /x");
}

static void test_garbage(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    assert_int_equal(
        os_garbage(&err, "os1", "GET", "/servers/detail?marker=x", "no 'servers' array"), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_string_equal(err.msg,
                        "cloud 'os1' answered garbage to GET /servers/detail: no 'servers' array");
}

static void test_links_and_escape(void **state)
{
    (void)state;
    char *q = os_link_query("http://evil.example/v2.1/flavors/detail?limit=2&marker=3#frag");
    assert_string_equal(q, "limit=2&marker=3");
    free(q);
    q = os_link_query("/v2/images?marker=abc");
    assert_string_equal(q, "marker=abc");
    free(q);
    assert_null(os_link_query("/v2/images"));
    assert_null(os_link_query("/v2/images?"));
    assert_null(os_link_query(NULL));

    char *e = os_escape("a b/c?d=é&~_.-");
    assert_string_equal(e, "a%20b%2Fc%3Fd%3D%C3%A9%26~_.-");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nova_faults),      cmocka_unit_test(test_other_faults),
        cmocka_unit_test(test_hostile_bodies),   cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_links_and_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
