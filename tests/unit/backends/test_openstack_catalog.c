/*
 * test_openstack_catalog.c - Keystone for the openstack driver without a network: endpoint
 * selection from a catalog (type, region, interface, a missing service, malformed catalogs),
 * the token response, the POST /auth/tokens bodies, microversions and Glance's root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/openstack_internal.h"

static const char catalog_text[] =
    "[{\"type\": \"identity\", \"name\": \"keystone\", \"endpoints\": ["
    "  {\"interface\": \"public\", \"region_id\": \"R1\", \"url\": \"http://k/identity\"}]},"
    " {\"type\": \"compute\", \"name\": \"nova\", \"endpoints\": ["
    "  {\"interface\": \"internal\", \"region_id\": \"R1\", \"url\": \"http://int/compute/v2.1\"},"
    "  {\"interface\": \"public\", \"region_id\": \"R1\", \"url\": \"http://r1/compute/v2.1/\"},"
    "  {\"interface\": \"public\", \"region\": \"R2\", \"url\": \"https://r2:8774/v2.1\"}]},"
    " {\"type\": \"image\", \"name\": \"glance\", \"endpoints\": ["
    "  {\"interface\": \"public\", \"region_id\": \"R2\", \"url\": \"https://r2:9292\"}]},"
    " {\"type\": \"volumev3\", \"name\": \"cinder\", \"endpoints\": ["
    "  {\"interface\": \"public\", \"region_id\": \"R1\", \"url\": \"http://r1/volume/v3/p\"}]}]";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

static void test_catalog_find(void **state)
{
    (void)state;
    json_t *cat = load(catalog_text);
    struct nph_error err = NPH_ERROR_INIT;
    char *url = NULL;

    assert_int_equal(os_catalog_find(cat, "compute", "R1", "public", &url, &err), 0);
    assert_string_equal(url, "http://r1/compute/v2.1"); /* trailing '/' dropped */
    free(url);
    assert_int_equal(os_catalog_find(cat, "compute", "R1", "internal", &url, &err), 0);
    assert_string_equal(url, "http://int/compute/v2.1");
    free(url);
    assert_int_equal(os_catalog_find(cat, "compute", "R2", "public", &url, &err), 0);
    assert_string_equal(url, "https://r2:8774/v2.1"); /* "region" when there is no region_id */
    free(url);
    /* no region asked: the first public one */
    assert_int_equal(os_catalog_find(cat, "compute", NULL, "public", &url, &err), 0);
    assert_string_equal(url, "http://r1/compute/v2.1");
    free(url);
    url = NULL;
    assert_int_equal(os_catalog_find(cat, "compute", "R3", "public", &url, &err), 1);
    assert_int_equal(os_catalog_find(cat, "compute", "R2", "admin", &url, &err), 1);
    assert_int_equal(os_catalog_find(cat, "object-store", NULL, "public", &url, &err), 1);
    assert_null(url);

    struct os_endpoints ep;
    assert_int_equal(os_catalog_endpoints(cat, "R1", "public", &ep, &err), 0);
    assert_string_equal(ep.url[OS_SVC_COMPUTE], "http://r1/compute/v2.1");
    assert_null(ep.url[OS_SVC_IMAGE]);                                   /* only in R2 */
    assert_string_equal(ep.url[OS_SVC_VOLUME], "http://r1/volume/v3/p"); /* volumev3 */
    assert_null(ep.url[OS_SVC_OBJECT]);
    assert_null(ep.url[OS_SVC_NETWORK]);
    assert_string_equal(ep.url[OS_SVC_IDENTITY], "http://k/identity");
    os_endpoints_fini(&ep);
    assert_int_equal(os_catalog_endpoints(cat, "R2", "public", &ep, &err), 0);
    assert_string_equal(ep.url[OS_SVC_IMAGE], "https://r2:9292");
    assert_null(ep.url[OS_SVC_VOLUME]);
    os_endpoints_fini(&ep);
    json_decref(cat);
}

static void test_catalog_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"compute\": 1}",
        "[1, 2]",
        "[{\"name\": \"nova\"}]",
        "[{\"type\": \"compute\", \"endpoints\": {}}]",
        "[{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\"}]}]",
        "[{\"type\": \"compute\", \"endpoints\": [{\"url\": 5, \"interface\": \"public\"}]}]",
        ("[{\"type\": \"compute\", \"endpoints\": [{\"url\": \"file:///etc/passwd\", "
         "\"interface\": \"public\"}]}]"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nph_error err = NPH_ERROR_INIT;
        struct os_endpoints ep;
        char *url = NULL;
        json_t *cat = load(bad[i]);
        assert_int_equal(os_catalog_find(cat, "compute", NULL, "public", &url, &err), -1);
        assert_int_equal(err.code, NPH_E_BACKEND);
        assert_int_equal(os_catalog_endpoints(cat, NULL, "public", &ep, &err), -1);
        json_decref(cat);
    }
}

static void test_token_parse(void **state)
{
    (void)state;
    struct os_token t;
    struct nph_error err = NPH_ERROR_INIT;
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"token\": {\"expires_at\": \"2031-01-02T03:04:05.123456Z\", \"methods\": "
             "[\"password\"], \"catalog\": %s, \"project\": {\"id\": \"p\"}}}",
             catalog_text);
    assert_int_equal(
        os_token_parse("c1", "gAAAA-token", body, strlen(body), "R1", "public", &t, &err), 0);
    assert_string_equal(t.id, "gAAAA-token");
    assert_int_equal(t.expires_at, 1925089445123456LL);
    assert_string_equal(t.ep.url[OS_SVC_COMPUTE], "http://r1/compute/v2.1");
    os_token_fini(&t);

    struct {
        const char *hdr, *body, *want;
    } bad[] = {
        {NULL, body, "no usable X-Subject-Token"},
        {"t", "<html>oops</html>", "answered garbage to POST /auth/tokens"},
        {"t", "{\"token\": []}", "no 'token' object"},
        {"t", "{\"token\": {\"catalog\": []}}", "'token.expires_at'"},
        {"t", "{\"token\": {\"expires_at\": \"soon\", \"catalog\": []}}", "'token.expires_at'"},
        {"t", "{\"token\": {\"expires_at\": \"2031-01-02T03:04:05Z\"}}", "no catalog"},
        {"t", "{\"token\": {\"expires_at\": \"2031-01-02T03:04:05Z\", \"catalog\": 3}}",
         "not an array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(os_token_parse("c1", bad[i].hdr, bad[i].body, strlen(bad[i].body), NULL,
                                        "public", &t, &err),
                         -1);
        assert_int_equal(err.code, NPH_E_BACKEND);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].want);
        assert_non_null(strstr(err.msg, "cloud 'c1'"));
    }
}

static void test_auth_body(void **state)
{
    (void)state;
    struct os_config c = {0};
    c.auth_type = OS_AUTH_PASSWORD;
    c.username = "alice";
    c.password = "pw";
    c.user_domain_name = "Default";
    c.project_name = "demo";
    c.project_domain_id = "default";
    json_t *b = os_auth_body(&c);
    json_t *want = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:{s:s},s:s}}},s:{s:{s:s,s:{s:s}}}}}", "auth",
                             "identity", "methods", "password", "password", "user", "name", "alice",
                             "domain", "name", "Default", "password", "pw", "scope", "project",
                             "name", "demo", "domain", "id", "default");
    assert_true(json_equal(b, want));
    json_decref(b);
    json_decref(want);

    c.user_id = "uid";
    c.project_id = "pid";
    b = os_auth_body(&c);
    want = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:s}}},s:{s:{s:s}}}}", "auth", "identity", "methods",
                     "password", "password", "user", "id", "uid", "password", "pw", "scope",
                     "project", "id", "pid");
    assert_true(json_equal(b, want));
    json_decref(b);
    json_decref(want);

    struct os_config a = {0};
    a.auth_type = OS_AUTH_APPCRED;
    a.app_cred_id = "acid";
    a.app_cred_secret = "sec";
    a.project_name = "ignored";
    b = os_auth_body(&a);
    want = json_pack("{s:{s:{s:[s],s:{s:s,s:s}}}}", "auth", "identity", "methods",
                     "application_credential", "application_credential", "secret", "sec", "id",
                     "acid");
    assert_true(json_equal(b, want)); /* no scope */
    json_decref(b);
    json_decref(want);

    a.app_cred_id = NULL;
    a.app_cred_name = "acname";
    a.username = "bob";
    a.user_domain_id = "default";
    b = os_auth_body(&a);
    want = json_pack("{s:{s:{s:[s],s:{s:s,s:s,s:{s:s,s:{s:s}}}}}}", "auth", "identity", "methods",
                     "application_credential", "application_credential", "secret", "sec", "name",
                     "acname", "user", "name", "bob", "domain", "id", "default");
    assert_true(json_equal(b, want));
    json_decref(b);
    json_decref(want);
}

static void test_versions_and_roots(void **state)
{
    (void)state;
    assert_int_equal(os_microversion_parse("2.37"), 2037);
    assert_int_equal(os_microversion_parse("2.1"), 2001);
    assert_int_equal(os_microversion_parse("2.100"), 2100);
    assert_int_equal(os_microversion_parse("2"), -1);
    assert_int_equal(os_microversion_parse("2."), -1);
    assert_int_equal(os_microversion_parse("v2.1"), -1);
    assert_int_equal(os_microversion_parse("2.1x"), -1);
    assert_int_equal(os_microversion_parse(NULL), -1);

    static const char *const roots[][2] = {
        {"http://h/image", "http://h/image/v2"},       {"http://h:9292/", "http://h:9292/v2"},
        {"http://h:9292/v2", "http://h:9292/v2"},      {"http://h:9292/v2/", "http://h:9292/v2"},
        {"http://h:9292/v2.1", "http://h:9292/v2"},    {"http://h:9292/v1", "http://h:9292/v2"},
        {"http://h/images-v", "http://h/images-v/v2"},
    };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        char *r = os_image_root(roots[i][0]);
        assert_string_equal(r, roots[i][1]);
        free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_find),       cmocka_unit_test(test_catalog_garbage),
        cmocka_unit_test(test_token_parse),        cmocka_unit_test(test_auth_body),
        cmocka_unit_test(test_versions_and_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
