/*
 * test_error.c - unit tests of nph_error: the X-macro tables (names, HTTP statuses, docs), the
 * setters (message, detail, prefix, clear, nomem), NULL tolerance and truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nph_error.h"

static void test_tables(void **state)
{
    (void)state;
    static const struct {
        enum nph_err_code code;
        const char *name;
        int status;
    } want[] = {
        {NPH_E_OK, "ok", 200},
        {NPH_E_INVALID, "invalid_request", 400},
        {NPH_E_UNAUTHORIZED, "unauthorized", 401},
        {NPH_E_FORBIDDEN, "forbidden", 403},
        {NPH_E_NOT_FOUND, "not_found", 404},
        {NPH_E_METHOD, "method_not_allowed", 405},
        {NPH_E_CONFLICT, "conflict", 409},
        {NPH_E_TOO_LARGE, "payload_too_large", 413},
        {NPH_E_HEADERS_TOO_LARGE, "request_header_too_large", 431},
        {NPH_E_UNSUPPORTED_MEDIA, "unsupported_media_type", 415},
        {NPH_E_UNPROCESSABLE, "unprocessable", 422},
        {NPH_E_LIMIT, "limit_exceeded", 429},
        {NPH_E_INTERNAL, "internal", 500},
        {NPH_E_NOT_SUPPORTED, "not_supported", 501},
        {NPH_E_BACKEND, "backend_error", 502},
        {NPH_E_UNAVAILABLE, "unavailable", 503},
        {NPH_E_TIMEOUT, "timeout", 504},
        {NPH_E_NOMEM, "out_of_memory", 500},
        {NPH_E_IO, "io_error", 500},
        {NPH_E_STORE, "store_error", 500},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), NPH_E__COUNT);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(nph_error_name(want[i].code), want[i].name);
        assert_int_equal(nph_error_http_status(want[i].code), want[i].status);
        assert_true(strlen(nph_error_doc(want[i].code)) > 0);
    }
    /* names are unique, lower_snake_case */
    for (int a = 0; a < NPH_E__COUNT; a++) {
        const char *n = nph_error_name((enum nph_err_code)a);
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int b = a + 1; b < NPH_E__COUNT; b++)
            assert_string_not_equal(n, nph_error_name((enum nph_err_code)b));
    }
    /* out of range maps to internal/500 */
    assert_string_equal(nph_error_name(NPH_E__COUNT), "internal");
    assert_int_equal(nph_error_http_status(NPH_E__COUNT), 500);
    assert_string_equal(nph_error_doc(NPH_E__COUNT), "");
    assert_string_equal(nph_error_name((enum nph_err_code) - 1), "internal");
}

static void test_set_detail_prefix(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    assert_int_equal(err.code, NPH_E_OK);
    assert_int_equal(nph_error_set(&err, NPH_E_NOT_FOUND, "server '%s' not found", "web-1"), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_string_equal(err.msg, "server 'web-1' not found");
    assert_string_equal(err.detail, "");
    assert_int_equal(nph_error_detail(&err, "looked in %d clouds", 3), -1);
    assert_string_equal(err.detail, "looked in 3 clouds");
    assert_int_equal(nph_error_prefix(&err, "deleting %s", "web-1"), -1);
    assert_string_equal(err.msg, "deleting web-1: server 'web-1' not found");
    assert_string_equal(err.detail, "looked in 3 clouds"); /* prefix keeps the detail */
    /* a new set clears the old detail */
    nph_error_set(&err, NPH_E_CONFLICT, "again");
    assert_string_equal(err.detail, "");
    nph_error_clear(&err);
    assert_int_equal(err.code, NPH_E_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(nph_error_nomem(&err), -1);
    assert_int_equal(err.code, NPH_E_NOMEM);
    assert_string_equal(err.msg, "out of memory");
}

static void test_null_and_truncation(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char big[2 * NPH_ERR_DETAIL_MAX];
    (void)state;
    assert_int_equal(nph_error_set(NULL, NPH_E_IO, "x"), -1);
    assert_int_equal(nph_error_detail(NULL, "x"), -1);
    assert_int_equal(nph_error_prefix(NULL, "x"), -1);
    assert_int_equal(nph_error_nomem(NULL), -1);
    nph_error_clear(NULL);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    nph_error_set(&err, NPH_E_INVALID, "%s", big);
    assert_int_equal(strlen(err.msg), NPH_ERR_MSG_MAX - 1);
    nph_error_detail(&err, "%s", big);
    assert_int_equal(strlen(err.detail), NPH_ERR_DETAIL_MAX - 1);
    nph_error_prefix(&err, "ctx");
    assert_int_equal(strlen(err.msg), NPH_ERR_MSG_MAX - 1);
    assert_true(strncmp(err.msg, "ctx: aaa", 8) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_set_detail_prefix),
        cmocka_unit_test(test_null_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
