/*
 * test_routes.c - the broker's merged route table (app_routes): every route well formed, and no
 * two routes with the same method and the same path shape (the second would never be reached:
 * the router takes the first match, so a duplicate silently shadows a handler).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

/* The path with every {param} written as {} (two patterns that differ only in their parameter
 * names match the same requests). */
static void shape(const char *pattern, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 3 < n; p++) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (end && end[-1] != '*') {
                out[o++] = '{';
                out[o++] = '}';
                p = end;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static void test_routes_well_formed_and_unique(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET",   "HEAD",   "POST", "PUT",
                                          "PATCH", "DELETE", "COPY", NULL};
    const struct http_route *r = app_routes();
    size_t n = 0;
    while (r[n].method)
        n++;
    assert_true(n > 100);
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (const char *const *m = methods; *m; m++)
            known |= strcmp(*m, r[i].method) == 0;
        if (!known || r[i].pattern[0] != '/' || !r[i].handler || !r[i].name || !r[i].name[0])
            fail_msg("route %zu (%s %s) is malformed", i, r[i].method, r[i].pattern);
    }
    for (size_t i = 0; i < n; i++) {
        char a[512];
        shape(r[i].pattern, a, sizeof(a));
        for (size_t j = i + 1; j < n; j++) {
            char b[512];
            if (strcmp(r[i].method, r[j].method) != 0)
                continue;
            shape(r[j].pattern, b, sizeof(b));
            if (strcmp(a, b) == 0)
                fail_msg("%s %s (%s) is shadowed by %s (%s)", r[j].method, r[j].pattern, r[j].name,
                         r[i].pattern, r[i].name);
        }
    }
    /* a second call answers the same table */
    assert_ptr_equal(app_routes(), r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_well_formed_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
