/*
 * test_openstack_config.c - the openstack driver's configuration: required auth per auth type,
 * unknown auth keys, the settings' validation, and clouds.yaml lookup (explicit path,
 * $OS_CLIENT_CONFIG_FILE, inline keys overriding the file's) on temporary files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "openstack/openstack_internal.h"

static char g_dir[] = "/tmp/nph-os-config.XXXXXX";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return j;
}

/* Parse `text`; expect success (want == NULL) or an NPH_E_INVALID whose message contains
 * `want`. */
static void expect(const char *text, const char *want)
{
    struct os_config c = {0};
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load(text);
    int rc = os_config_parse(j, &c, &err);
    json_decref(j);
    if (!want) {
        if (rc != 0)
            fail_msg("expected success, got: %s", err.msg);
        os_config_fini(&c);
        return;
    }
    if (rc == 0)
        fail_msg("expected an error containing \"%s\"", want);
    assert_int_equal(err.code, NPH_E_INVALID);
    if (!strstr(err.msg, want))
        fail_msg("expected \"%s\" in \"%s\"", want, err.msg);
}

#define PW_AUTH                                                                                    \
    "\"auth_url\": \"http://127.0.0.1:5000/v3\", \"username\": \"u\", \"password\": \"p\", "       \
    "\"user_domain_name\": \"Default\", \"project_name\": \"p1\", \"project_domain_id\": "         \
    "\"default\""

static void test_password_ok(void **state)
{
    (void)state;
    struct os_config c = {0};
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load("{\"name\": \"os1\", \"kind\": \"openstack\", \"labels\": {\"a\": 1}, "
                     "\"prices\": [], \"regions\": [\"r\"], \"auth\": {\"auth_url\": "
                     "\"https://keystone.example:5000/\", \"username\": \"u\", \"password\": "
                     "\"p\", \"user_domain_name\": \"Default\", \"project_id\": \"abc\"}}");
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    json_decref(j);
    assert_string_equal(c.name, "os1");
    assert_string_equal(c.auth_url, "https://keystone.example:5000/v3");
    assert_string_equal(c.interface, "public");
    assert_int_equal(c.verify, 1);
    assert_int_equal(c.auth_type, OS_AUTH_PASSWORD);
    assert_int_equal(c.net_mode, OS_NET_NONE);
    assert_null(c.region);
    assert_null(c.cacert);
    os_config_fini(&c);

    j = load("{\"name\": \"os1\", \"region_name\": \"R2\", \"interface\": \"internal\", "
             "\"verify\": false, \"timeout_ms\": 2500, \"network\": \"auto\", \"auth\": "
             "{" PW_AUTH "}}");
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    json_decref(j);
    assert_string_equal(c.auth_url, "http://127.0.0.1:5000/v3");
    assert_string_equal(c.region, "R2");
    assert_string_equal(c.interface, "internal");
    assert_int_equal(c.verify, 0);
    assert_int_equal(c.timeout_ms, 2500);
    assert_int_equal(c.net_mode, OS_NET_AUTO);
    os_config_fini(&c);

    j = load("{\"name\": \"os1\", \"network\": \"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\", "
             "\"auth\": {" PW_AUTH "}}");
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    json_decref(j);
    assert_int_equal(c.net_mode, OS_NET_UUID);
    assert_string_equal(c.network_id, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    os_config_fini(&c);
}

static void test_missing_auth(void **state)
{
    (void)state;
    expect("{\"name\": \"os1\"}", "missing 'auth'");
    expect("{\"name\": \"os1\", \"auth\": []}", "'auth' must be an object");
    expect("{\"name\": \"os1\", \"auth\": {\"username\": \"u\"}}", "missing 'auth.auth_url'");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"ftp://x\", \"username\": \"u\"}}",
           "http:// or https://");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"password\": \"p\"}}",
           "missing 'auth.username'");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"username\": \"u\"}}",
           "missing 'auth.password'");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"username\": \"u\", "
           "\"password\": \"p\", \"user_domain_name\": \"D\"}}",
           "missing 'auth.project_name'");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"username\": \"u\", "
           "\"password\": \"p\", \"user_domain_name\": \"D\", \"project_name\": \"p\"}}",
           "'auth.project_name' needs 'auth.project_domain_name'");
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"username\": \"u\", "
           "\"password\": \"p\", \"project_id\": \"p\"}}",
           "'auth.username' needs 'auth.user_domain_name'");
    /* a user id needs no domain */
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"user_id\": \"u\", "
           "\"password\": \"p\", \"project_id\": \"p\"}}",
           NULL);
    expect("{\"name\": \"os1\", \"auth\": {\"auth_url\": \"http://k/v3\", \"user_id\": 7}}",
           "'auth.user_id' must be a string");
}

static void test_unknown_auth_key(void **state)
{
    (void)state;
    expect("{\"name\": \"os1\", \"auth\": {" PW_AUTH ", \"usernmae\": \"x\"}}",
           "unknown key 'auth.usernmae'");
    expect("{\"name\": \"os1\", \"auth\": {" PW_AUTH ", \"token\": \"x\"}}",
           "unknown key 'auth.token'");
}

static void test_settings(void **state)
{
    (void)state;
    expect("{\"name\": \"os1\", \"interface\": \"private\", \"auth\": {" PW_AUTH "}}",
           "'interface' must be public, internal or admin");
    expect("{\"name\": \"os1\", \"verify\": \"no\", \"auth\": {" PW_AUTH "}}",
           "'verify' must be true or false");
    expect("{\"name\": \"os1\", \"timeout_ms\": 0, \"auth\": {" PW_AUTH "}}", "'timeout_ms'");
    expect("{\"name\": \"os1\", \"timeout_ms\": \"5s\", \"auth\": {" PW_AUTH "}}", "'timeout_ms'");
    expect("{\"name\": \"os1\", \"network\": \"private-net\", \"auth\": {" PW_AUTH "}}",
           "'network' must be 'none', 'auto' or a network UUID");
    expect("{\"name\": \"os1\", \"auth_type\": \"token\", \"auth\": {" PW_AUTH "}}",
           "'auth_type' must be");
    expect("{\"name\": \"os1\", \"cacert\": \"/nonexistent/ca.pem\", \"auth\": {" PW_AUTH "}}",
           "'cacert' file '/nonexistent/ca.pem' cannot be read");
    expect("{\"name\": \"os1\", \"region_name\": 3, \"auth\": {" PW_AUTH "}}",
           "'region_name' must be a string");
}

static void test_app_creds(void **state)
{
    (void)state;
    struct os_config c = {0};
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
                     "{\"auth_url\": \"http://k:5000\", \"application_credential_id\": \"ac1\", "
                     "\"application_credential_secret\": \"s3cret\"}}");
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    json_decref(j);
    assert_int_equal(c.auth_type, OS_AUTH_APPCRED);
    assert_string_equal(c.app_cred_id, "ac1");
    os_config_fini(&c);

    expect("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
           "{\"auth_url\": \"http://k\", \"application_credential_id\": \"ac1\"}}",
           "missing 'auth.application_credential_secret'");
    expect("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
           "{\"auth_url\": \"http://k\", \"application_credential_secret\": \"s\"}}",
           "missing 'auth.application_credential_id'");
    expect("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
           "{\"auth_url\": \"http://k\", \"application_credential_name\": \"n\", "
           "\"application_credential_secret\": \"s\"}}",
           "needs 'auth.user_id' or 'auth.username'");
    expect("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
           "{\"auth_url\": \"http://k\", \"application_credential_name\": \"n\", "
           "\"application_credential_secret\": \"s\", \"username\": \"u\"}}",
           "'auth.username' needs 'auth.user_domain_name'");
    expect("{\"name\": \"os1\", \"auth_type\": \"v3applicationcredential\", \"auth\": "
           "{\"auth_url\": \"http://k\", \"application_credential_name\": \"n\", "
           "\"application_credential_secret\": \"s\", \"user_id\": \"u\"}}",
           NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char clouds_yaml[] = "clouds:\n"
                                  "  mycloud:\n"
                                  "    region_name: RegionTwo\n"
                                  "    interface: internal\n"
                                  "    verify: False\n"
                                  "    auth:\n"
                                  "      auth_url: https://keystone.example/v3\n"
                                  "      username: alice\n"
                                  "      password: \"from-file\"\n"
                                  "      project_name: demo\n"
                                  "      user_domain_name: Default\n"
                                  "      project_domain_name: Default\n"
                                  "  other:\n"
                                  "    auth_type: v3applicationcredential\n"
                                  "    auth:\n"
                                  "      auth_url: http://k/v3\n"
                                  "      application_credential_id: '0042'\n"
                                  "      application_credential_secret: yes-really\n";

static void test_clouds_yaml_explicit(void **state)
{
    (void)state;
    char path[256], cfg[512];
    struct os_config c = {0};
    struct nph_error err = NPH_ERROR_INIT;
    snprintf(path, sizeof(path), "%s/explicit.yaml", g_dir);
    write_file(path, clouds_yaml);

    /* inline keys win: the password and the interface */
    snprintf(cfg, sizeof(cfg),
             "{\"name\": \"c1\", \"cloud\": \"mycloud\", \"clouds_yaml\": \"%s\", \"interface\": "
             "\"admin\", \"auth\": {\"password\": \"inline\"}}",
             path);
    json_t *j = load(cfg);
    if (os_config_parse(j, &c, &err) != 0)
        fail_msg("%s", err.msg);
    json_decref(j);
    assert_string_equal(c.auth_url, "https://keystone.example/v3");
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.password, "inline");
    assert_string_equal(c.region, "RegionTwo");
    assert_string_equal(c.interface, "admin");
    assert_int_equal(c.verify, 0);
    assert_string_equal(c.source, path);
    os_config_fini(&c);

    /* the other entry: quoted '0042' stays a string */
    snprintf(cfg, sizeof(cfg), "{\"name\": \"c2\", \"cloud\": \"other\", \"clouds_yaml\": \"%s\"}",
             path);
    j = load(cfg);
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    json_decref(j);
    assert_int_equal(c.auth_type, OS_AUTH_APPCRED);
    assert_string_equal(c.app_cred_id, "0042");
    os_config_fini(&c);

    snprintf(cfg, sizeof(cfg), "{\"name\": \"c3\", \"cloud\": \"nope\", \"clouds_yaml\": \"%s\"}",
             path);
    expect(cfg, "no cloud 'nope' in");
    expect("{\"name\": \"c4\", \"cloud\": \"x\", \"clouds_yaml\": \"/nonexistent/clouds.yaml\"}",
           "does not exist");

    /* unknown keys in the file's auth are errors too, naming the file */
    snprintf(path, sizeof(path), "%s/typo.yaml", g_dir);
    write_file(path, "clouds:\n  t:\n    auth:\n      auth_url: http://k\n      pasword: x\n");
    snprintf(cfg, sizeof(cfg), "{\"name\": \"c5\", \"cloud\": \"t\", \"clouds_yaml\": \"%s\"}",
             path);
    expect(cfg, "unknown key 'auth.pasword'");

    snprintf(path, sizeof(path), "%s/bad.yaml", g_dir);
    write_file(path, "clouds:\n  t:\n    auth: [unclosed\n");
    snprintf(cfg, sizeof(cfg), "{\"name\": \"c6\", \"cloud\": \"t\", \"clouds_yaml\": \"%s\"}",
             path);
    expect(cfg, "invalid YAML");
}

static void test_clouds_yaml_search(void **state)
{
    (void)state;
    char path[256], home[256], cwd[512];
    struct os_config c = {0};
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load("{\"name\": \"c1\", \"cloud\": \"mycloud\"}");

    /* $OS_CLIENT_CONFIG_FILE first */
    snprintf(path, sizeof(path), "%s/env.yaml", g_dir);
    write_file(path, clouds_yaml);
    setenv("OS_CLIENT_CONFIG_FILE", path, 1);
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    assert_string_equal(c.source, path);
    os_config_fini(&c);
    unsetenv("OS_CLIENT_CONFIG_FILE");

    /* then ./clouds.yaml, then ~/.config/openstack/clouds.yaml */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(home, sizeof(home), "%s/home", g_dir);
    snprintf(path, sizeof(path), "%s/home/.config/openstack", g_dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s' '%s/cwd'", path, g_dir);
    assert_int_equal(system(cmd), 0);
    strcat(path, "/clouds.yaml");
    write_file(path, clouds_yaml);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    snprintf(cmd, sizeof(cmd), "%s/cwd", g_dir);
    assert_int_equal(chdir(cmd), 0);
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    assert_string_equal(c.source, path);
    os_config_fini(&c);
    write_file("clouds.yaml", "clouds:\n  mycloud:\n    auth:\n      auth_url: http://cwd/v3\n"
                              "      user_id: u\n      password: p\n      project_id: x\n");
    assert_int_equal(os_config_parse(j, &c, &err), 0);
    assert_string_equal(c.source, "clouds.yaml");
    assert_string_equal(c.auth_url, "http://cwd/v3");
    os_config_fini(&c);
    assert_int_equal(chdir(cwd), 0);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
    json_decref(j);
}

static void test_yaml_types(void **state)
{
    (void)state;
    char path[256];
    struct nph_error err = NPH_ERROR_INIT;
    snprintf(path, sizeof(path), "%s/types.yaml", g_dir);
    write_file(path, "a: yes\nb: Off\nc: 12\nd: '12'\ne: ~\nf: [1, two]\ng: -3\nh: 1.5\n");
    json_t *j = os_yaml_load_file(path, &err);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "a")));
    assert_true(json_is_false(json_object_get(j, "b")));
    assert_int_equal(json_integer_value(json_object_get(j, "c")), 12);
    assert_string_equal(json_string_value(json_object_get(j, "d")), "12");
    assert_true(json_is_null(json_object_get(j, "e")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "f"), 1)), "two");
    assert_int_equal(json_integer_value(json_object_get(j, "g")), -3);
    assert_string_equal(json_string_value(json_object_get(j, "h")), "1.5");
    json_decref(j);

    /* aliases expanding exponentially hit the node budget instead of the memory */
    snprintf(path, sizeof(path), "%s/laughs.yaml", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        fprintf(f, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    fclose(f);
    assert_null(os_yaml_load_file(path, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "too deep or too large"));
}

static int setup(void **state)
{
    (void)state;
    unsetenv("OS_CLIENT_CONFIG_FILE");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_ok),        cmocka_unit_test(test_missing_auth),
        cmocka_unit_test(test_unknown_auth_key),   cmocka_unit_test(test_settings),
        cmocka_unit_test(test_app_creds),          cmocka_unit_test(test_clouds_yaml_explicit),
        cmocka_unit_test(test_clouds_yaml_search), cmocka_unit_test(test_yaml_types),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
