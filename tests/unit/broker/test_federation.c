/*
 * test_federation.c - the federation core over a real broker state (app_open on a throwaway
 * data dir, SQLite, libvirt's test driver): validation of `clouds:`, the native cloud's server
 * lifecycle through operations, project isolation, the circuit breaker against a cloud that
 * refuses connections (time moved with the settable clock), sealed credentials that survive a
 * restart and refuse a wrong master key, and injected faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "federation.h"
#include "nph_clock.h"
#include "nph_http.h"
#include "nph_log.h"

struct fx {
    char dir[64];
    struct nph_app app;
    char image_id[64];
    struct fed_caller admin;
};

static void app_up(struct fx *f, const char *yaml)
{
    struct nph_error err = NPH_ERROR_INIT;
    memset(&f->app, 0, sizeof(f->app));
    assert_int_equal(nph_config_init(&f->app.cfg, &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "data_dir", f->dir, &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "identity.password_hash_iterations", "1000", &err),
                     0);
    assert_int_equal(nph_config_set(&f->app.cfg, "federation.poll_interval_ms", "20", &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "federation.call_timeout_ms", "2000", &err), 0);
    if (yaml)
        assert_int_equal(nph_config_load_yaml(&f->app.cfg, "t.yaml", yaml, strlen(yaml), &err), 0);
    assert_int_equal(nph_config_finish(&f->app.cfg, &err), 0);
    int rc = app_open(&f->app, &err);
    if (rc)
        fail_msg("app_open: %s", err.msg);
}

static void app_down(struct fx *f)
{
    app_close(&f->app);
    nph_config_fini(&f->app.cfg);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-fed-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    setenv("NEPHELE_BOOTSTRAP_PASSWORD", "secret-pw", 1);
    nph_log_init(NPH_LOG_ERROR, NPH_LOG_TEXT, 2);
    app_up(f, NULL);
    /* an image in the native cloud */
    char path[128];
    snprintf(path, sizeof(path), "%s/img.raw", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++)
        fputc(0, fp);
    fclose(fp);
    struct local_image_caller ic = {.project_id = "p1", .is_admin = 1};
    json_t *attrs = json_pack("{s:s,s:s,s:s,s:s}", "name", "cirros", "disk_format", "raw",
                              "container_format", "bare", "visibility", "public");
    json_t *im = local_image_create(f->app.image, &ic, attrs, &err);
    assert_non_null(im);
    snprintf(f->image_id, sizeof(f->image_id), "%s", json_string_value(json_object_get(im, "id")));
    json_decref(attrs);
    json_decref(im);
    im = local_image_upload(f->app.image, &ic, f->image_id, path, &err);
    assert_non_null(im);
    json_decref(im);
    f->admin = (struct fed_caller){.project_id = "p1", .user_id = "u1", .is_admin = 1};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    if (f->app.store)
        app_down(f);
    nph_clock_set_offset(0);
    unsetenv("NEPHELE_FAULT_INJECTION");
    unsetenv("NEPHELE_MASTER_KEY");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void check_clouds_yaml(const char *yaml, const char *want)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *doc = nph_yaml_to_json("t.yaml", yaml, strlen(yaml), &err);
    assert_non_null(doc);
    int rc = fed_check_clouds(json_object_get(doc, "clouds"), &err);
    json_decref(doc);
    if (!want) {
        if (rc)
            fail_msg("unexpected error: %s", err.msg);
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_check_clouds(void **state)
{
    (void)state;
    check_clouds_yaml("clouds:\n  - {name: home, kind: local}\n"
                      "  - {name: r, kind: openstack, labels: {j: KR}}\n",
                      NULL);
    check_clouds_yaml("clouds: 3\n", "must be a list");
    check_clouds_yaml("clouds:\n  - {kind: local}\n", "clouds[0]");
    check_clouds_yaml("clouds:\n  - {name: 'a b', kind: local}\n", "letters, digits");
    check_clouds_yaml("clouds:\n  - {name: x, kind: vmware}\n", "unknown cloud kind 'vmware'");
    check_clouds_yaml("clouds:\n  - {name: a, kind: local}\n  - {name: b, kind: local}\n",
                      "only one cloud may be of kind 'local'");
    check_clouds_yaml("clouds:\n  - {name: a, kind: local}\n  - {name: a, kind: openstack}\n",
                      "used twice");
    check_clouds_yaml("clouds:\n  - {name: a, kind: local, labels: {tier: [1]}}\n",
                      "'labels.tier' must be a string");
}

/* Poll an operation until it leaves pending/running; returns its final state. */
static const char *wait_op(struct fx *f, const char *op_id, char *out, size_t len)
{
    struct nph_error err = NPH_ERROR_INIT;
    for (int i = 0; i < 500; i++) {
        json_t *op = fed_operation_get(f->app.fed, &f->admin, op_id, &err);
        assert_non_null(op);
        const char *st = json_string_value(json_object_get(op, "state"));
        snprintf(out, len, "%s", st);
        json_decref(op);
        if (strcmp(out, "done") == 0 || strcmp(out, "error") == 0)
            return out;
        usleep(10000);
    }
    return out;
}

static void test_local_lifecycle(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char st[16], id[64], op[64];
    assert_int_equal(app_start(&f->app, &err), 0);
    json_t *req =
        json_pack("{s:s,s:s,s:s}", "name", "vm1", "flavor", "m1.tiny", "image", f->image_id);
    json_t *out = fed_server_create(f->app.fed, &f->admin, req, &err);
    json_decref(req);
    if (!out)
        fail_msg("create: %s", err.msg);
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_object_get(out, "server"), "id")));
    snprintf(op, sizeof(op), "%s",
             json_string_value(json_object_get(json_object_get(out, "operation"), "id")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "server"), "cloud")),
                        "local");
    json_decref(out);
    assert_string_equal(wait_op(f, op, st, sizeof(st)), "done");

    /* listed, ACTIVE; another project sees nothing and cannot read it */
    struct fed_server_filter flt = {0};
    json_t *l = fed_server_list(f->app.fed, &f->admin, &flt, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(json_object_get(l, "servers")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(l, "servers"), 0), "status")),
                        "ACTIVE");
    json_decref(l);
    struct fed_caller other = {.project_id = "p2", .user_id = "u2", .is_admin = 0};
    l = fed_server_list(f->app.fed, &other, &flt, &err);
    assert_int_equal(json_array_size(json_object_get(l, "servers")), 0);
    json_decref(l);
    assert_null(fed_server_get(f->app.fed, &other, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_null(fed_server_delete(f->app.fed, &other, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    /* stop, then a second stop is refused by the cloud (409), then delete */
    json_t *o = fed_server_action(f->app.fed, &f->admin, id, NPH_SA_STOP, NULL, &err);
    assert_non_null(o);
    snprintf(op, sizeof(op), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_string_equal(wait_op(f, op, st, sizeof(st)), "done");
    json_t *s = fed_server_get(f->app.fed, &f->admin, id, &err);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "SHUTOFF");
    json_decref(s);
    assert_null(fed_server_action(f->app.fed, &f->admin, id, NPH_SA_STOP, NULL, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    o = fed_server_delete(f->app.fed, &f->admin, id, &err);
    assert_non_null(o);
    snprintf(op, sizeof(op), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_string_equal(wait_op(f, op, st, sizeof(st)), "done");
    l = fed_server_list(f->app.fed, &f->admin, &flt, &err);
    assert_int_equal(json_array_size(json_object_get(l, "servers")), 0);
    json_decref(l);

    /* bad requests change nothing */
    const char *bad[] = {
        "{\"name\":\"x\",\"flavor\":\"nope\",\"image\":\"cirros\"}",
        "{\"name\":\"x\",\"flavor\":\"m1.tiny\",\"image\":\"nope\"}",
        "{\"name\":\"x\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\",\"cloud\":\"mars\"}",
        "{\"name\":3,\"flavor\":\"m1.tiny\",\"image\":\"cirros\"}",
        "{\"name\":\"x\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\",\"extra\":1}",
        "{\"name\":\"x\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\",\"metadata\":{\"a\":1}}",
        "{\"name\":\"x\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\","
        "\"metadata\":{\"nephele_op\":\"x\"}}",
        "{\"name\":\"\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *r = json_loads(bad[i], 0, NULL);
        assert_non_null(r);
        json_t *x = fed_server_create(f->app.fed, &f->admin, r, &err);
        json_decref(r);
        if (x)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(err.code, NPH_E_INVALID);
    }
    l = fed_server_list(f->app.fed, &f->admin, &flt, &err);
    assert_int_equal(json_array_size(json_object_get(l, "servers")), 0);
    json_decref(l);

    /* no quota left on the only cloud: placement says so, nothing is created */
    json_t *lim = json_pack("{s:i}", "instances", 0);
    json_t *q = local_compute_quota_set(f->app.compute, "p1", lim, &err);
    assert_non_null(q);
    json_decref(q);
    json_decref(lim);
    req = json_pack("{s:s,s:s,s:s}", "name", "vm2", "flavor", "m1.tiny", "image", f->image_id);
    assert_null(fed_server_create(f->app.fed, &f->admin, req, &err));
    json_decref(req);
    assert_int_equal(err.code, NPH_E_FORBIDDEN); /* a quota error (403), with the placement's why */
    if (!strstr(err.msg, "quota"))
        fail_msg("no quota reason: %s", err.msg);
}

static json_t *dead_cloud(const char *name)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "name", name, "kind", "openstack",
                     "auth", "auth_url", "http://127.0.0.1:1/v3", "username", "admin", "password",
                     "very-secret-pw", "project_name", "admin", "user_domain_name", "Default",
                     "project_domain_name", "Default");
}

static void test_breaker(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *conf = dead_cloud("dead");
    json_t *c = fed_cloud_add(f->app.fed, conf, &err);
    json_decref(conf);
    if (!c)
        fail_msg("add: %s", err.msg);
    json_decref(c);
    json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "name", "vm", "flavor", "m1.tiny", "image",
                            "cirros", "cloud", "dead");
    /* placement rules the cloud out, saying why; each try counts toward the breaker */
    for (int i = 0; i < 3; i++) {
        assert_null(fed_server_create(f->app.fed, &f->admin, req, &err));
        assert_int_equal(err.code, NPH_E_UNPROCESSABLE);
        assert_non_null(strstr(err.msg, "offerings could not be listed"));
        assert_null(strstr(err.msg, "circuit breaker"));
    }
    c = fed_cloud_get(f->app.fed, "dead", &err);
    assert_string_equal(json_string_value(json_object_get(c, "state")), "down");
    assert_string_equal(json_string_value(json_object_get(c, "breaker")), "open");
    json_decref(c);
    /* open: skipped without touching the cloud, with that reason */
    assert_null(fed_server_create(f->app.fed, &f->admin, req, &err));
    assert_int_equal(err.code, NPH_E_UNPROCESSABLE);
    assert_non_null(strstr(err.msg, "circuit breaker open"));
    /* placement never probes: after the cooldown the cloud stays out until a health probe
     * closes the breaker */
    nph_clock_set_offset((f->app.cfg.federation_breaker_cooldown + 1) * 1000000LL);
    assert_null(fed_server_create(f->app.fed, &f->admin, req, &err));
    assert_non_null(strstr(err.msg, "circuit breaker open"));
    json_decref(req);
    /* the list still answers, naming the cloud that did not */
    struct fed_server_filter flt = {0};
    json_t *l = fed_server_list(f->app.fed, &f->admin, &flt, &err);
    assert_non_null(l);
    json_t *un = json_object_get(l, "unavailable");
    assert_int_equal(json_array_size(un), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(un, 0), "cloud")), "dead");
    json_decref(l);
    /* removable: no server on it */
    assert_int_equal(fed_cloud_remove(f->app.fed, "dead", &err), 0);
    assert_null(fed_cloud_get(f->app.fed, "dead", &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    /* a configured cloud is not removable through the API */
    assert_int_equal(fed_cloud_remove(f->app.fed, "local", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
}

static void test_sealed_credentials(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *conf = dead_cloud("far");
    json_t *c = fed_cloud_add(f->app.fed, conf, &err);
    assert_non_null(c);
    /* rendered without the secret */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(c, "config"), "auth"), "password")),
                        "***");
    json_decref(c);
    /* a second add of the name conflicts */
    assert_null(fed_cloud_add(f->app.fed, conf, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    json_decref(conf);
    /* the store holds no plaintext secret */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "grep -c very-secret-pw '%s/nephele.db' >/dev/null", f->dir);
    app_down(f);
    assert_int_not_equal(system(cmd), 0);
    /* it survives a restart */
    app_up(f, NULL);
    c = fed_cloud_get(f->app.fed, "far", &err);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "source")), "api");
    json_decref(c);
    app_down(f);
    /* a wrong master key cannot open it, and says so */
    setenv("NEPHELE_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    memset(&f->app, 0, sizeof(f->app));
    assert_int_equal(nph_config_init(&f->app.cfg, &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "data_dir", f->dir, &err), 0);
    assert_int_equal(nph_config_finish(&f->app.cfg, &err), 0);
    assert_int_equal(app_open(&f->app, &err), -1);
    assert_non_null(strstr(err.msg, "wrong master key"));
    app_down(f);
    unsetenv("NEPHELE_MASTER_KEY");
    app_up(f, NULL);
}

static void test_fault_injection(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *spec =
        json_pack("{s:s,s:s,s:i}", "op", "image_find", "error", "backend_error", "count", 1);
    /* off unless the environment asks */
    assert_int_equal(fed_cloud_set_fault(f->app.fed, "local", spec, &err), -1);
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    app_down(f);
    setenv("NEPHELE_FAULT_INJECTION", "1", 1);
    app_up(f, NULL);
    assert_int_equal(fed_cloud_set_fault(f->app.fed, "local", spec, &err), 0);
    json_decref(spec);
    json_t *req = json_pack("{s:s,s:s,s:s}", "name", "vm", "flavor", "m1.tiny", "image", "cirros");
    assert_null(fed_server_create(f->app.fed, &f->admin, req, &err));
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "injected"));
    json_t *out = fed_server_create(f->app.fed, &f->admin, req, &err); /* count was 1 */
    if (!out)
        fail_msg("second create: %s", err.msg);
    json_decref(out);
    json_decref(req);
    spec = json_pack("{s:s,s:s}", "op", "*", "error", "no_such_error");
    assert_int_equal(fed_cloud_set_fault(f->app.fed, "local", spec, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(spec);
    /* the metrics name the cloud and the operation */
    size_t len = 0;
    char *m = fed_metrics_render(f->app.fed, &len);
    assert_non_null(m);
    assert_non_null(
        strstr(m, "nephele_backend_call_seconds_count{cloud=\"local\",op=\"image_find\"}"));
    assert_non_null(
        strstr(m, "nephele_backend_call_errors_total{cloud=\"local\",op=\"image_find\"} 1"));
    free(m);
}

int main(void)
{
    struct nph_error err = NPH_ERROR_INIT;
    if (nph_http_global_init(&err))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_clouds),
        cmocka_unit_test_setup_teardown(test_local_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nph_http_global_cleanup();
    return rc;
}
