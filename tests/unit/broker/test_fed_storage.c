/*
 * test_fed_storage.c - volumes and buckets across clouds (broker/fed_storage.c) over a real
 * broker state (app_open on a throwaway data dir, SQLite, libvirt's test driver): the native
 * cloud's volumes and buckets through the federation (create, live status, list, extend,
 * delete), objects streamed from a file and back through a sink, project isolation, placement
 * policies for kind volume/bucket, bad input that changes nothing, and a remote cloud that
 * refuses connections (the record of a create that failed is removed; listings name the cloud
 * unavailable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "fed_internal.h"
#include "federation.h"
#include "local_object.h"
#include "nph_clock.h"
#include "nph_log.h"

struct fx {
    char dir[64];
    struct nph_app app;
    struct fed_caller p1, p2;
};

/* A cloud that refuses connections: a port nothing listens on. */
static const char *const yaml = "clouds:\n"
                                "  - {name: home, kind: local}\n"
                                "  - name: remote\n"
                                "    kind: openstack\n"
                                "    auth: {auth_url: 'http://127.0.0.1:9/v3', username: u,"
                                " password: p, project_name: x, user_domain_name: Default,"
                                " project_domain_name: Default}\n"
                                "    labels: {jurisdiction: KR}\n";

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-fst-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    setenv("NEPHELE_BOOTSTRAP_PASSWORD", "secret-pw", 1);
    nph_log_init(NPH_LOG_ERROR, NPH_LOG_TEXT, 2);
    assert_int_equal(nph_config_init(&f->app.cfg, &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "data_dir", f->dir, &err), 0);
    assert_int_equal(nph_config_set(&f->app.cfg, "identity.password_hash_iterations", "1000", &err),
                     0);
    assert_int_equal(nph_config_set(&f->app.cfg, "federation.call_timeout_ms", "1000", &err), 0);
    assert_int_equal(nph_config_load_yaml(&f->app.cfg, "t.yaml", yaml, strlen(yaml), &err), 0);
    assert_int_equal(nph_config_finish(&f->app.cfg, &err), 0);
    if (app_open(&f->app, &err))
        fail_msg("app_open: %s", err.msg);
    f->p1 = (struct fed_caller){.project_id = "p1", .user_id = "u1"};
    f->p2 = (struct fed_caller){.project_id = "p2", .user_id = "u2"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    app_close(&f->app);
    nph_config_fini(&f->app.cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static json_t *J(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static int64_t count(struct fx *f, const char *sql)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->app.store, &err);
    struct nph_stmt *st = NULL;
    assert_non_null(db);
    assert_int_equal(nph_db_queryf(db, &err, &st, sql, ""), 1);
    int64_t n = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    nph_store_release(db);
    return n;
}

static void test_local_volumes(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *req = J("{\"name\": \"data\", \"size_gb\": 1, \"cloud\": \"home\"}");
    json_t *v = fed_volume_create(f->app.fed, &f->p1, req, &err);
    json_decref(req);
    if (!v)
        fail_msg("%s", err.msg);
    char id[64], rid[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(v, "id")));
    snprintf(rid, sizeof(rid), "%s", json_string_value(json_object_get(v, "remote_id")));
    assert_string_equal(json_string_value(json_object_get(v, "cloud")), "home");
    assert_string_equal(json_string_value(json_object_get(v, "status")), "creating");
    assert_string_not_equal(id, rid); /* Nephele's own id */
    json_decref(v);
    local_volume_drain(f->app.volume);

    v = fed_volume_get(f->app.fed, &f->p1, id, &err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "available");
    json_decref(v);
    /* another project does not see it */
    assert_null(fed_volume_get(f->app.fed, &f->p2, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    json_t *l = fed_volume_list(f->app.fed, &f->p2, NULL, &err);
    assert_int_equal(json_array_size(json_object_get(l, "volumes")), 0);
    json_decref(l);
    l = fed_volume_list(f->app.fed, &f->p1, NULL, &err);
    assert_int_equal(json_array_size(json_object_get(l, "volumes")), 1);
    assert_int_equal(json_array_size(json_object_get(l, "unavailable")), 0);
    json_decref(l);

    req = J("{\"size_gb\": 1}");
    assert_null(fed_volume_extend(f->app.fed, &f->p1, id, req, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "larger than the volume's size (1 GiB)"));
    json_decref(req);
    req = J("{\"size_gb\": 3}");
    v = fed_volume_extend(f->app.fed, &f->p1, id, req, &err);
    json_decref(req);
    if (!v)
        fail_msg("%s", err.msg);
    json_decref(v);
    local_volume_drain(f->app.volume);
    v = fed_volume_get(f->app.fed, &f->p1, id, &err);
    assert_int_equal(json_integer_value(json_object_get(v, "size_gb")), 3);
    json_decref(v);

    assert_int_equal(fed_volume_delete(f->app.fed, &f->p2, id, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(fed_volume_delete(f->app.fed, &f->p1, id, &err), 0);
    assert_null(fed_volume_get(f->app.fed, &f->p1, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    local_volume_drain(f->app.volume);
    /* the native cloud's storage keeps its own ledger; the federation adds none */
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM ledger_event WHERE resource_id = '%s'", id);
    assert_int_equal(count(f, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM ledger_event WHERE resource_id = '%s'", rid);
    assert_true(count(f, sql) >= 2);
}

static void test_volume_bad_input(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    static const char *const bad[] = {
        "{\"size_gb\": 0}",
        "{\"size_gb\": -2}",
        "{\"size_gb\": 16385}",
        "{\"size_gb\": \"1\"}",
        "{\"size_gb\": 1.5}",
        "{}",
        "{\"size_gb\": 1, \"colour\": \"red\"}",
        "{\"size_gb\": 1, \"name\": 5}",
        "{\"size_gb\": 1, \"name\": \"tab\\there\"}",
        "{\"size_gb\": 1, \"cloud\": \"atlantis\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *req = J(bad[i]);
        json_t *v = fed_volume_create(f->app.fed, &f->p1, req, &err);
        json_decref(req);
        if (v || err.code != NPH_E_INVALID)
            fail_msg("%s: %s", bad[i], v ? "created" : err.msg);
    }
    /* without a project */
    struct fed_caller admin = {.project_id = "", .user_id = "a", .is_admin = 1};
    json_t *req = J("{\"size_gb\": 1}");
    assert_null(fed_volume_create(f->app.fed, &admin, req, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "project-scoped"));
    json_decref(req);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM fed_volume"), 0);
}

/* A cloud that does not answer: the create fails clearly and leaves no record behind; the
 * list names the cloud unavailable and keeps the others. */
static void test_remote_down(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *req = J("{\"size_gb\": 1, \"cloud\": \"remote\"}");
    assert_null(fed_volume_create(f->app.fed, &f->p1, req, &err));
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "remote"));
    json_decref(req);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM fed_volume"), 0);
    req = J("{\"name\": \"away\", \"cloud\": \"remote\"}");
    assert_null(fed_bucket_create(f->app.fed, &f->p1, req, &err));
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    json_decref(req);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM fed_bucket"), 0);
    /* the same name can be taken once the cloud failed */
    req = J("{\"name\": \"away\", \"cloud\": \"home\"}");
    json_t *b = fed_bucket_create(f->app.fed, &f->p1, req, &err);
    if (!b)
        fail_msg("%s", err.msg);
    json_decref(b);
    json_decref(req);
    /* a record on the cloud that is down (as if it went down later) */
    struct nph_db *db = nph_store_acquire(f->app.store, &err);
    assert_true(
        nph_db_execf(db, &err,
                     "INSERT INTO fed_volume (id, project_id, user_id, cloud, region,"
                     " remote_id, name, size_gb, image, status, placement_id, created_at,"
                     " updated_at) VALUES ('v-far', 'p1', 'u1', 'remote', 'R', 'r-1', 'x', 1,"
                     " '', 'available', '', 1, 1)",
                     "") == 1);
    nph_store_release(db);
    json_t *l = fed_volume_list(f->app.fed, &f->p1, NULL, &err);
    assert_non_null(l);
    json_t *u = json_array_get(json_object_get(l, "unavailable"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "cloud")), "remote");
    assert_string_equal(json_string_value(json_object_get(u, "error")), "unavailable");
    json_t *v = json_array_get(json_object_get(l, "volumes"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "unknown");
    json_decref(l);
    v = fed_volume_get(f->app.fed, &f->p1, "v-far", &err);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "unknown");
    assert_non_null(json_object_get(v, "cloud_error"));
    json_decref(v);
}

struct buf {
    char *p;
    size_t n;
};

static int sink(void *arg, const char *data, size_t len, struct nph_error *err)
{
    (void)err;
    struct buf *b = arg;
    b->p = realloc(b->p, b->n + len);
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

static void test_buckets_and_objects(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *req = J("{\"name\": \"photos\", \"cloud\": \"home\"}");
    json_t *b = fed_bucket_create(f->app.fed, &f->p1, req, &err);
    if (!b)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(b, "remote_name")), "photos");
    json_decref(b);
    assert_null(fed_bucket_create(f->app.fed, &f->p1, req, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    /* the same name in another project is another bucket */
    b = fed_bucket_create(f->app.fed, &f->p2, req, &err);
    assert_non_null(b);
    json_decref(b);
    json_decref(req);

    static const char *const names[] = {"ab", "Photos", "-x-", "a..b", "a_b", "a/b", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        req = json_pack("{s:s,s:s}", "name", names[i], "cloud", "home");
        assert_null(fed_bucket_create(f->app.fed, &f->p1, req, &err));
        assert_int_equal(err.code, NPH_E_INVALID);
        json_decref(req);
    }

    /* an object from a file (consumed by the native store) and back */
    char path[160], md5[33];
    snprintf(path, sizeof(path), "%s/images/nph-upload-t", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200000; i++)
        fputc(i * 13, fp);
    fclose(fp);
    assert_int_equal(lobj_file_md5(path, 0, -1, md5, &err), 0);
    struct nph_object_body body = {
        .path = path, .size = 200000, .md5 = md5, .content_type = "image/png"};
    json_t *o = fed_object_put(f->app.fed, &f->p1, "photos", "2026/cat.png", &body, &err);
    if (!o)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(o, "etag")), md5);
    json_decref(o);
    struct buf got = {0};
    struct nph_object_info info;
    assert_int_equal(
        fed_object_get(f->app.fed, &f->p1, "photos", "2026/cat.png", sink, &got, &info, &err), 0);
    assert_int_equal(got.n, 200000);
    for (int i = 0; i < 200000; i++)
        if ((unsigned char)got.p[i] != (unsigned char)(i * 13))
            fail_msg("byte %d differs", i);
    free(got.p);
    assert_string_equal(info.content_type, "image/png");
    /* p2's bucket of the same name is not p1's */
    got = (struct buf){0};
    assert_int_equal(
        fed_object_get(f->app.fed, &f->p2, "photos", "2026/cat.png", sink, &got, &info, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    o = fed_object_head(f->app.fed, &f->p1, "photos", "2026/cat.png", &err);
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 200000);
    json_decref(o);
    json_t *l = fed_object_list(f->app.fed, &f->p1, "photos", "2026/", NULL, 0, &err);
    assert_int_equal(json_array_size(json_object_get(l, "objects")), 1);
    assert_true(json_is_null(json_object_get(l, "next")));
    json_decref(l);
    l = fed_object_list(f->app.fed, &f->p1, "photos", "2025/", NULL, 0, &err);
    assert_int_equal(json_array_size(json_object_get(l, "objects")), 0);
    json_decref(l);
    b = fed_bucket_get(f->app.fed, &f->p1, "photos", &err);
    assert_int_equal(json_integer_value(json_object_get(b, "bytes")), 200000);
    json_decref(b);

    char key[1100];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(fed_object_delete(f->app.fed, &f->p1, "photos", key, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(fed_bucket_delete(f->app.fed, &f->p1, "photos", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(fed_object_delete(f->app.fed, &f->p1, "photos", "2026/cat.png", &err), 0);
    assert_int_equal(fed_bucket_delete(f->app.fed, &f->p1, "photos", &err), 0);
    assert_null(fed_bucket_get(f->app.fed, &f->p1, "photos", &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    l = fed_bucket_list(f->app.fed, &f->p2, NULL, &err);
    assert_int_equal(json_array_size(json_object_get(l, "buckets")), 1);
    json_decref(l);
}

/* Reconciliation on the native cloud: a bucket whose container a user deleted through the Swift
 * API is marked deleted once it is older than a minute; the native cloud's other containers
 * are its users' (no orphans). The local driver lists an account's containers in pages. */
static void test_bucket_reconcile_local(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    static const char *const names[] = {"keep", "gone"};
    for (size_t i = 0; i < 2; i++) {
        json_t *req = json_pack("{s:s,s:s}", "name", names[i], "cloud", "home");
        json_t *b = fed_bucket_create(f->app.fed, &f->p1, req, &err);
        if (!b)
            fail_msg("%s", err.msg);
        json_decref(b);
        json_decref(req);
    }
    int created = 0;
    assert_int_equal(
        local_object_container_put(f->app.object, "AUTH_p1", "users-own", NULL, &created, &err), 0);
    assert_int_equal(local_object_container_delete(f->app.object, "AUTH_p1", "gone", &err), 0);

    struct fed_cloud *c = fed_cloud_find(f->app.fed, "home", &err);
    assert_non_null(c);
    const struct nph_object_ops *ops = nph_backend_object(c->b, &err);
    struct nph_backend_ctx ctx = {.project_id = "p1"};
    struct nph_bucket_list bl = {0};
    assert_int_equal(ops->bucket_list(c->b, &ctx, NULL, 1, &bl, &err), 0);
    assert_int_equal(bl.n, 1);
    assert_string_equal(bl.v[0].name, "keep");
    assert_true(bl.truncated);
    nph_bucket_list_fini(&bl);
    assert_int_equal(ops->bucket_list(c->b, &ctx, "keep", 10, &bl, &err), 0);
    assert_int_equal(bl.n, 1);
    assert_string_equal(bl.v[0].name, "users-own");
    assert_false(bl.truncated);
    nph_bucket_list_fini(&bl);

    /* a few seconds old: not judged (it may be a create under way) */
    json_t *sum = fed_cloud_reconcile(f->app.fed, "home", &err);
    if (!sum)
        fail_msg("%s", err.msg);
    json_t *bk = json_object_get(sum, "buckets");
    assert_int_equal(json_integer_value(json_object_get(bk, "checked")), 2);
    assert_int_equal(json_integer_value(json_object_get(bk, "marked_deleted")), 0);
    json_decref(sum);
    nph_clock_set_offset(120LL * 1000000);
    sum = fed_cloud_reconcile(f->app.fed, "home", &err);
    nph_clock_set_offset(0);
    if (!sum)
        fail_msg("%s", err.msg);
    bk = json_object_get(sum, "buckets");
    assert_int_equal(json_integer_value(json_object_get(bk, "marked_deleted")), 1);
    assert_int_equal(json_integer_value(json_object_get(bk, "orphans")), 0);
    assert_int_equal(json_integer_value(json_object_get(bk, "cleaned")), 0);
    json_decref(sum);
    assert_null(fed_bucket_get(f->app.fed, &f->p1, "gone", &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    json_t *b = fed_bucket_get(f->app.fed, &f->p1, "keep", &err);
    assert_non_null(b);
    json_decref(b);
    json_t *orph = json_array();
    assert_int_equal(fed_storage_orphans(f->app.fed, "home", orph, &err), 0);
    assert_int_equal(json_array_size(orph), 0);
    json_decref(orph);
}

/* Placement: kind volume/bucket requests are decided by the stored policies. */
static void test_placement(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *p = fed_policy_put(f->app.fed, "kr",
                               "policies:\n"
                               "  - name: volumes-in-kr\n"
                               "    when: request.kind == \"volume\" && request.size_gb >= 10\n"
                               "    require: cloud.labels.jurisdiction == \"KR\"\n"
                               "  - name: no-buckets-in-kr\n"
                               "    when: request.type == \"bucket\"\n"
                               "    require: cloud.name != \"remote\"\n",
                               &err);
    if (!p)
        fail_msg("%s", err.msg);
    json_decref(p);
    /* a small volume: both clouds survive; ties go to the name: home */
    json_t *req = J("{\"size_gb\": 1}");
    json_t *v = fed_volume_create(f->app.fed, &f->p1, req, &err);
    json_decref(req);
    if (!v)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(v, "cloud")), "home");
    assert_non_null(json_string_value(json_object_get(v, "placement_id")));
    json_decref(v);
    /* a large one must go to remote, which is down */
    req = J("{\"size_gb\": 10, \"cloud\": \"home\"}");
    assert_null(fed_volume_create(f->app.fed, &f->p1, req, &err));
    assert_int_equal(err.code, NPH_E_UNPROCESSABLE);
    assert_non_null(strstr(err.msg, "no cloud can take this volume"));
    assert_non_null(strstr(err.msg, "volumes-in-kr"));
    json_decref(req);
    /* buckets never go to remote, even when asked */
    req = J("{\"name\": \"kr-bucket\", \"cloud\": \"remote\"}");
    assert_null(fed_bucket_create(f->app.fed, &f->p1, req, &err));
    json_decref(req);
    req = J("{\"name\": \"any-bucket\"}");
    json_t *b = fed_bucket_create(f->app.fed, &f->p1, req, &err);
    json_decref(req);
    if (!b)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(b, "cloud")), "home");
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_volumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bucket_reconcile_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buckets_and_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_placement, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
