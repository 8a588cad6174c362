/*
 * test_openapi.c - docs/openapi.yaml against the broker's route tables.
 *
 * The document must describe exactly the native API the broker serves: every route of
 * api_native_routes, api_v1_routes and the HTTP server's built-ins appears under `paths` with its
 * method (a pattern's {name} is OpenAPI's {name}), and every path/method of the document is one
 * of those routes. On top of that: each {name} of a path has its `in: path` parameter (and no
 * other path parameter is declared), each operation documents a 2xx answer, every local $ref
 * resolves, and the Error schema's code enum is exactly the set of error names of
 * common/nph_error.h.
 *
 * The checker is one function over (document, route tables); the last tests feed it a route
 * without docs, docs without a route and a misnamed parameter, and expect it to complain, so a
 * checker that silently passes everything fails here.
 *
 * The document is found through NPH_SOURCE_DIR (set by ctest), else relative to the working
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "nph_config.h"
#include "nph_error.h"

/* The HTTP server's own routes (broker/http_server.c, builtin_routes; static there, and
 * exercised by test_http_server.c). */
static const struct http_route builtin_routes[] = {
    {"GET", "/healthz", NULL, "healthz", NPH_FAULT_NATIVE},
    {"GET", "/readyz", NULL, "readyz", NPH_FAULT_NATIVE},
    {"GET", "/metrics", NULL, "metrics", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};

static const char *const http_methods[] = {"get",     "put",   "post", "delete", "patch",
                                           "options", "trace", "head", NULL};

static json_t *g_doc;

/* ---- the checker --------------------------------------------------------------------------- */

struct report {
    int problems;
    char text[8192];
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void problem(struct report *r, const char *fmt, ...)
{
    va_list ap;
    r->problems++;
    if (r->len + 2 >= sizeof(r->text))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len +=
            (size_t)n < sizeof(r->text) - r->len - 1 ? (size_t)n : sizeof(r->text) - r->len - 1;
    r->text[r->len++] = '\n';
    r->text[r->len] = '\0';
}

static void lower(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* Resolve a local reference "#/a/b/c" in doc; NULL if it does not resolve. */
static const json_t *resolve(const json_t *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    const json_t *cur = doc;
    char seg[256];
    const char *p = ref + 2;
    while (cur && *p) {
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof(seg)) {
            if (p[0] == '~' && p[1] == '1')
                seg[n++] = '/', p += 2;
            else if (p[0] == '~' && p[1] == '0')
                seg[n++] = '~', p += 2;
            else
                seg[n++] = *p++;
        }
        seg[n] = '\0';
        if (*p == '/')
            p++;
        cur = json_object_get(cur, seg);
    }
    return cur;
}

/* An object that may be a {"$ref": ...}: the object it points at. */
static const json_t *deref(const json_t *doc, const json_t *v)
{
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    return ref ? resolve(doc, ref) : v;
}

static void check_refs(const json_t *doc, const json_t *v, struct report *r)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(x)) {
                if (!resolve(doc, json_string_value(x)))
                    problem(r, "$ref '%s' does not resolve", json_string_value(x));
            } else {
                check_refs(doc, x, r);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) check_refs(doc, x, r);
    }
}

static int route_known(const struct http_route *const *tables, const char *pattern,
                       const char *method)
{
    for (size_t t = 0; tables[t]; t++)
        for (const struct http_route *rt = tables[t]; rt->method; rt++) {
            char m[16];
            lower(rt->method, m, sizeof(m));
            if (strcmp(rt->pattern, pattern) == 0 && strcmp(m, method) == 0)
                return 1;
        }
    return 0;
}

/* Add the `in: path` parameter names of a parameters array to names[] (deduplicated). */
static void path_params(const json_t *doc, const json_t *params, const char **names, size_t *n,
                        size_t max)
{
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        const json_t *d = deref(doc, p);
        const char *in = json_string_value(json_object_get(d, "in"));
        const char *name = json_string_value(json_object_get(d, "name"));
        if (!in || !name || strcmp(in, "path") != 0)
            continue;
        int dup = 0;
        for (size_t j = 0; j < *n; j++)
            dup |= strcmp(names[j], name) == 0;
        if (!dup && *n < max)
            names[(*n)++] = name;
    }
}

/* The {name} segments of a pattern, in order. */
static size_t pattern_params(const char *pattern, char names[][64], size_t max)
{
    size_t n = 0;
    for (const char *p = strchr(pattern, '{'); p && n < max; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            break;
        size_t len = (size_t)(e - p - 1) < 63 ? (size_t)(e - p - 1) : 63;
        memcpy(names[n], p + 1, len);
        names[n][len] = '\0';
        n++;
    }
    return n;
}

static void check_operation(const json_t *doc, const char *path, const char *method,
                            const json_t *path_item, const json_t *op, struct report *r)
{
    char want[8][64];
    const char *have[16];
    size_t nw = pattern_params(path, want, 8), nh = 0;
    path_params(doc, json_object_get(path_item, "parameters"), have, &nh, 16);
    path_params(doc, json_object_get(op, "parameters"), have, &nh, 16);
    for (size_t i = 0; i < nw; i++) {
        int found = 0;
        for (size_t j = 0; j < nh; j++)
            found |= strcmp(want[i], have[j]) == 0;
        if (!found)
            problem(r, "%s %s: no 'in: path' parameter '%s'", method, path, want[i]);
    }
    for (size_t j = 0; j < nh; j++) {
        int found = 0;
        for (size_t i = 0; i < nw; i++)
            found |= strcmp(want[i], have[j]) == 0;
        if (!found)
            problem(r, "%s %s: path parameter '%s' is not in the path", method, path, have[j]);
    }
    const json_t *responses = json_object_get(op, "responses");
    int ok = 0;
    const char *code;
    json_t *x;
    json_object_foreach((json_t *)responses, code, x) ok |= code[0] == '2';
    if (!ok)
        problem(r, "%s %s: no 2xx response documented", method, path);
}

/* Compare doc with the route tables (NULL-terminated list of {NULL}-terminated tables). */
static int check_doc(const json_t *doc, const struct http_route *const *tables, struct report *r)
{
    const json_t *paths = json_object_get(doc, "paths");
    if (!json_is_object(paths)) {
        problem(r, "no 'paths' mapping");
        return r->problems;
    }
    /* every route is documented */
    for (size_t t = 0; tables[t]; t++)
        for (const struct http_route *rt = tables[t]; rt->method; rt++) {
            char m[16];
            lower(rt->method, m, sizeof(m));
            const json_t *item = json_object_get(paths, rt->pattern);
            if (!json_is_object(item))
                problem(r, "route %s %s is not documented (no path '%s')", rt->method, rt->pattern,
                        rt->pattern);
            else if (!json_is_object(json_object_get(item, m)))
                problem(r, "route %s %s is not documented (path '%s' has no '%s')", rt->method,
                        rt->pattern, rt->pattern, m);
        }
    /* every documented path/method is a route */
    const char *path;
    json_t *item;
    json_object_foreach((json_t *)paths, path, item)
    {
        int any = 0;
        for (size_t i = 0; http_methods[i]; i++) {
            json_t *op = json_object_get(item, http_methods[i]);
            if (!op)
                continue;
            any = 1;
            if (!route_known(tables, path, http_methods[i]))
                problem(r, "documented %s %s is not a route of the broker", http_methods[i], path);
            else if (!json_is_object(op))
                problem(r, "%s %s: the operation is not a mapping", http_methods[i], path);
            else
                check_operation(doc, path, http_methods[i], item, op, r);
        }
        if (!any)
            problem(r, "documented path %s has no operation", path);
    }
    check_refs(doc, doc, r);
    /* the error codes are common/nph_error.h's */
    const json_t *codes = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(resolve(doc, "#/components/schemas/Error"), "properties"), "error"),
            "properties"),
        "code");
    const json_t *e = json_object_get(codes, "enum");
    if (!json_is_array(e)) {
        problem(r, "components.schemas.Error: no code enum");
    } else {
        for (int c = NPH_E_OK + 1; c < NPH_E__COUNT; c++) {
            const char *name = nph_error_name((enum nph_err_code)c);
            int found = 0;
            size_t i;
            json_t *x;
            json_array_foreach(e, i, x) found |=
                json_is_string(x) && strcmp(json_string_value(x), name) == 0;
            if (!found)
                problem(r, "Error.code enum lacks '%s'", name);
        }
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x)
        {
            int found = 0;
            for (int c = NPH_E_OK + 1; c < NPH_E__COUNT && json_is_string(x); c++)
                found |= strcmp(json_string_value(x), nph_error_name((enum nph_err_code)c)) == 0;
            if (!found)
                problem(r, "Error.code enum has '%s', not an error name of nph_error.h",
                        json_is_string(x) ? json_string_value(x) : "(not a string)");
        }
    }
    return r->problems;
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int setup(void **state)
{
    (void)state;
    char path[4096];
    const char *src = getenv("NPH_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/docs/openapi.yaml", src && *src ? src : ".");
    size_t len = 0;
    char *buf = read_all(path, &len);
    if (!buf) {
        fprintf(stderr, "cannot read %s (set NPH_SOURCE_DIR to the source tree)\n", path);
        return -1;
    }
    struct nph_error err = {0};
    g_doc = nph_yaml_to_json("openapi.yaml", buf, len, &err);
    free(buf);
    if (!g_doc) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(g_doc);
    g_doc = NULL;
    return 0;
}

static const struct http_route *const served[] = {
    api_native_routes, api_v1_routes, api_billing_routes, api_budgets_routes, api_meters_routes,
    builtin_routes,    NULL};

/* Problems of the real document (0 when test_matches_routes passes): the negative tests count
 * what their change adds to it. */
static int baseline(void)
{
    struct report r = {0};
    return check_doc(g_doc, served, &r);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_document_shape(void **state)
{
    (void)state;
    const char *v = json_string_value(json_object_get(g_doc, "openapi"));
    assert_non_null(v);
    assert_int_equal(strncmp(v, "3.", 2), 0);
    assert_non_null(json_object_get(json_object_get(g_doc, "info"), "title"));
    /* the token scheme the /v1 routes use */
    const json_t *scheme = resolve(g_doc, "#/components/securitySchemes/AuthToken");
    assert_non_null(scheme);
    assert_string_equal(json_string_value(json_object_get(scheme, "in")), "header");
    assert_string_equal(json_string_value(json_object_get(scheme, "name")), "X-Auth-Token");
}

static void test_matches_routes(void **state)
{
    (void)state;
    struct report r = {0};
    if (check_doc(g_doc, served, &r) != 0)
        fail_msg("docs/openapi.yaml and the route tables disagree (%d):\n%s", r.problems, r.text);
}

/* The status conventions of the native API. */
static void test_statuses(void **state)
{
    (void)state;
    static const struct {
        const char *path, *method, *status;
    } want[] = {
        {"/v1/clouds", "post", "201"},
        {"/v1/clouds/{name}", "delete", "204"},
        {"/v1/clouds/{name}/fault", "put", "204"},
        {"/v1/servers", "post", "202"},
        {"/v1/servers/{id}", "delete", "202"},
        {"/v1/servers/{id}/action", "post", "202"},
    };
    const json_t *paths = json_object_get(g_doc, "paths");
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const json_t *resp = json_object_get(
            json_object_get(json_object_get(json_object_get(paths, want[i].path), want[i].method),
                            "responses"),
            want[i].status);
        if (!resp)
            fail_msg("%s %s: no %s response", want[i].method, want[i].path, want[i].status);
        /* 202s point at the operation */
        if (strcmp(want[i].status, "202") == 0)
            assert_non_null(
                json_object_get(json_object_get(deref(g_doc, resp), "headers"), "Location"));
    }
    /* every /v1 operation documents the 401 of a missing token */
    const char *path;
    json_t *item;
    json_object_foreach((json_t *)paths, path, item)
    {
        if (strncmp(path, "/v1/", 4) != 0)
            continue;
        for (size_t m = 0; http_methods[m]; m++) {
            json_t *op = json_object_get(item, http_methods[m]);
            if (op && !json_object_get(json_object_get(op, "responses"), "401"))
                fail_msg("%s %s: no 401 response", http_methods[m], path);
        }
    }
}

/* The checker notices a route that has no documentation. */
static void test_detects_undocumented_route(void **state)
{
    (void)state;
    static const struct http_route extra[] = {
        {"GET", "/v1/snapshots", NULL, "v1.snapshots.list", NPH_FAULT_NATIVE},
        {"POST", "/v1/clouds/{name}/reconcile", NULL, "x", NPH_FAULT_NATIVE},
        {"PATCH", "/v1/servers/{id}", NULL, "v1.servers.update", NPH_FAULT_NATIVE},
        {NULL, NULL, NULL, NULL, 0},
    };
    const struct http_route *const tables[] = {api_native_routes,
                                               api_v1_routes,
                                               api_billing_routes,
                                               api_budgets_routes,
                                               api_meters_routes,
                                               builtin_routes,
                                               extra,
                                               NULL};
    struct report r = {0};
    int base = baseline();
    assert_int_equal(check_doc(g_doc, tables, &r), base + 2);
    assert_non_null(strstr(r.text, "GET /v1/snapshots"));
    assert_non_null(strstr(r.text, "PATCH /v1/servers/{id}"));
}

/* The checker notices documentation of a route that does not exist. */
static void test_detects_phantom_docs(void **state)
{
    (void)state;
    json_t *doc = json_deep_copy(g_doc);
    json_t *paths = json_object_get(doc, "paths");
    json_object_set_new(
        paths, "/v1/ghosts",
        json_pack("{s:{s:{s:{s:s}}}}", "get", "responses", "200", "description", "ghosts"));
    /* and a method the real path does not serve */
    json_object_set(json_object_get(paths, "/v1/operations/{id}"), "delete",
                    json_object_get(json_object_get(paths, "/v1/operations/{id}"), "get"));
    struct report r = {0};
    int base = baseline();
    assert_int_equal(check_doc(doc, served, &r), base + 2);
    assert_non_null(strstr(r.text, "get /v1/ghosts"));
    assert_non_null(strstr(r.text, "delete /v1/operations/{id}"));

    /* a removed operation is a route without docs */
    json_object_del(json_object_get(paths, "/v1/servers"), "post");
    memset(&r, 0, sizeof(r));
    assert_int_equal(check_doc(doc, served, &r), base + 3);
    assert_non_null(strstr(r.text, "POST /v1/servers"));
    json_decref(doc);
}

/* The checker notices a path parameter named differently from the route's {name}, a dangling
 * $ref and an error code that nph_error.h does not have. */
static void test_detects_bad_details(void **state)
{
    (void)state;
    json_t *doc = json_deep_copy(g_doc);
    json_t *item = json_object_get(json_object_get(doc, "paths"), "/v1/operations/{id}");
    json_object_set_new(json_array_get(json_object_get(item, "parameters"), 0), "name",
                        json_string("operation_id"));
    json_object_set_new(json_object_get(item, "get"), "x-broken",
                        json_pack("{s:s}", "$ref", "#/components/schemas/NoSuchSchema"));
    json_t *codes = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(
                    json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                    "Error"),
                    "properties"),
                "error"),
            "properties"),
        "code");
    json_array_append_new(json_object_get(codes, "enum"), json_string("teapot"));
    struct report r = {0};
    int base = baseline();
    assert_int_equal(check_doc(doc, served, &r), base + 4);
    assert_non_null(strstr(r.text, "no 'in: path' parameter 'id'"));
    assert_non_null(strstr(r.text, "'operation_id' is not in the path"));
    assert_non_null(strstr(r.text, "NoSuchSchema"));
    assert_non_null(strstr(r.text, "'teapot'"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_shape),
        cmocka_unit_test(test_matches_routes),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_detects_undocumented_route),
        cmocka_unit_test(test_detects_phantom_docs),
        cmocka_unit_test(test_detects_bad_details),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
