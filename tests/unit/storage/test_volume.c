/* test_volume.c - block storage (local/storage volumes): the pure rules (status machine, size
 * validation, quota arithmetic, the <disk> XML parsed back with libxml2, the target choice);
 * the service against libvirt's in-process test driver and a throwaway SQLite store (create,
 * extend, snapshots, delete refusals, quotas, ledger events, attach/detach through a recording
 * hook and a failing one); and compute's device hot-plug on the test driver (the definition
 * edited, since the test driver cannot hot-plug). With NPH_TEST_PG_URL set (tests/pg_throwaway.sh)
 * the service cases run on PostgreSQL instead of SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "local_compute.h"
#include "local_volume.h"
#include "nph_ledger.h"
#include "nph_store.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define I(o, k) json_integer_value(json_object_get((o), (k)))

/* ---- pure rules ------------------------------------------------------------------------ */

static void test_transitions(void **state)
{
    (void)state;
    assert_true(local_volume_transition_ok("creating", "available"));
    assert_true(local_volume_transition_ok("creating", "error"));
    assert_true(local_volume_transition_ok("available", "attaching"));
    assert_true(local_volume_transition_ok("attaching", "in-use"));
    assert_true(local_volume_transition_ok("in-use", "detaching"));
    assert_true(local_volume_transition_ok("detaching", "available"));
    assert_true(local_volume_transition_ok("available", "extending"));
    assert_true(local_volume_transition_ok("error", "deleting"));
    assert_false(local_volume_transition_ok("available", "in-use")); /* through attaching */
    assert_false(local_volume_transition_ok("in-use", "deleting"));
    assert_false(local_volume_transition_ok("in-use", "extending"));
    assert_false(local_volume_transition_ok("creating", "deleting"));
    assert_false(local_volume_transition_ok("bogus", "available"));
    assert_false(local_volume_transition_ok(NULL, "available"));
    assert_true(local_volume_status_known("error_extending"));
    assert_false(local_volume_status_known("avail"));
}

static void test_parse_size(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    int64_t n = 42;
    json_t *v;
    (void)state;
    v = json_integer(5);
    assert_int_equal(local_volume_parse_size(v, &n, &err), 0);
    assert_int_equal(n, 5);
    json_decref(v);
    v = json_string("12");
    assert_int_equal(local_volume_parse_size(v, &n, &err), 0);
    assert_int_equal(n, 12);
    json_decref(v);
    n = 42;
    const char *bad[] = {"-1", "0", "\"abc\"", "\"\"", "\"-3\"", "16385", "1.5", "null", "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        nph_error_clear(&err);
        assert_int_equal(local_volume_parse_size(v, &n, &err), -1);
        assert_int_equal(err.code, NPH_E_INVALID);
        assert_non_null(strstr(err.msg, "size"));
        assert_int_equal(n, 42); /* not written on failure */
        json_decref(v);
    }
    assert_int_equal(local_volume_parse_size(NULL, &n, &err), -1);
}

static void test_quota_check(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_volume_usage lim = {3, 10, 2}, used = {2, 8, 2};
    (void)state;
    assert_int_equal(local_volume_quota_check(&lim, &used, 1, 2, 0, &err), 0);
    assert_int_equal(local_volume_quota_check(&lim, &used, 2, 1, 0, &err), -1);
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "Maximum number of volumes allowed (3)"));
    assert_int_equal(local_volume_quota_check(&lim, &used, 1, 3, 0, &err), -1);
    assert_non_null(strstr(err.msg, "Requested 3G, quota is 10G and 8G has been consumed"));
    assert_int_equal(local_volume_quota_check(&lim, &used, 0, 1, 1, &err), -1);
    assert_non_null(strstr(err.msg, "snapshots"));
    lim.volumes = lim.gigabytes = lim.snapshots = -1; /* unlimited */
    assert_int_equal(local_volume_quota_check(&lim, &used, 100, 100000, 100, &err), 0);
}

static char *xpath(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *out = NULL;
    if (r && r->nodesetval && r->nodesetval->nodeNr > 0) {
        xmlChar *c = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
        out = strdup(c ? (const char *)c : "");
        xmlFree(c);
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return out;
}

static void expect_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath(doc, expr);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_disk_xml(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char *xml;
    xmlDocPtr doc;
    (void)state;
    xml = local_volume_disk_xml("/pool/a&b'<c>.qcow2", "qcow2", "vdc", "vol-1", 1, &err);
    assert_non_null(xml);
    doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, 0);
    assert_non_null(doc);
    expect_xpath(doc, "/disk/@type", "file");
    expect_xpath(doc, "/disk/@device", "disk");
    expect_xpath(doc, "/disk/driver/@type", "qcow2");
    expect_xpath(doc, "/disk/source/@file", "/pool/a&b'<c>.qcow2"); /* escaped, read back */
    expect_xpath(doc, "/disk/target/@dev", "vdc");
    expect_xpath(doc, "/disk/target/@bus", "virtio");
    expect_xpath(doc, "/disk/serial", "vol-1");
    char *ro = xpath(doc, "/disk/readonly");
    assert_non_null(ro);
    free(ro);
    xmlFreeDoc(doc);
    free(xml);
    xml = local_volume_disk_xml("/p.raw", "raw", "vdb", "v", 0, &err);
    assert_non_null(xml);
    assert_null(strstr(xml, "readonly"));
    free(xml);
    assert_null(local_volume_disk_xml("/p", "vmdk", "vdb", "v", 0, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(local_volume_disk_xml("", "raw", "vdb", "v", 0, &err));
    assert_null(local_volume_disk_xml("/p", "raw", NULL, "v", 0, &err));
}

static void test_next_target(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char t[8];
    const char *used[25];
    char names[25][8];
    (void)state;
    assert_int_equal(local_volume_next_target(NULL, 0, t, sizeof(t), &err), 0);
    assert_string_equal(t, "vdb");
    used[0] = "vdb";
    used[1] = "/dev/vdc";
    assert_int_equal(local_volume_next_target(used, 2, t, sizeof(t), &err), 0);
    assert_string_equal(t, "vdd");
    used[0] = "vdc"; /* a hole at vdb is reused */
    assert_int_equal(local_volume_next_target(used, 1, t, sizeof(t), &err), 0);
    assert_string_equal(t, "vdb");
    for (int i = 0; i < 25; i++) {
        snprintf(names[i], sizeof(names[i]), "vd%c", 'b' + i);
        used[i] = names[i];
    }
    assert_int_equal(local_volume_next_target(used, 25, t, sizeof(t), &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
}

/* ---- the service ------------------------------------------------------------------------ */

struct fx {
    char dir[64];
    struct nph_store *store;
    struct local_volume *lv;
    /* the recording hook */
    int attach_calls, detach_calls, fail_attach;
    char last_xml[2048], last_server[64];
};

static int hook_attach(void *ctx, const struct local_volume_caller *c, const char *server_id,
                       const char *xml, struct nph_error *err)
{
    struct fx *f = ctx;
    (void)c;
    f->attach_calls++;
    snprintf(f->last_xml, sizeof(f->last_xml), "%s", xml);
    snprintf(f->last_server, sizeof(f->last_server), "%s", server_id);
    if (f->fail_attach)
        return nph_error_set(err, NPH_E_CONFLICT, "Cannot 'attach_volume' instance %s", server_id);
    return 0;
}

static int hook_detach(void *ctx, const struct local_volume_caller *c, const char *server_id,
                       const char *xml, struct nph_error *err)
{
    struct fx *f = ctx;
    (void)c;
    (void)server_id;
    (void)err;
    f->detach_calls++;
    snprintf(f->last_xml, sizeof(f->last_xml), "%s", xml);
    return 0;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    struct local_volume_opts o;
    char url[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-volume-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (getenv("NPH_TEST_PG_URL")) {
        /* tests/pg_throwaway.sh: a fresh schema for every case */
        char cmd[512];
        snprintf(url, sizeof(url), "%s", getenv("NPH_TEST_PG_URL"));
        snprintf(cmd, sizeof(cmd),
                 "psql -q '%s' -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null "
                 "2>&1",
                 url);
        assert_int_equal(system(cmd), 0);
    } else {
        snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    }
    assert_int_equal(nph_store_open(url, 4, &f->store, &err), 0);
    assert_int_equal(nph_ledger_migrate(f->store, NULL, &err), 0);
    assert_int_equal(local_volume_migrate(f->store, NULL, &err), 0);
    assert_int_equal(local_compute_migrate(f->store, NULL, &err), 0);
    f->lv = local_volume_open("test:///default", &err);
    assert_non_null(f->lv);
    memset(&o, 0, sizeof(o));
    o.store = f->store;
    o.data_dir = f->dir;
    o.attach.attach = hook_attach;
    o.attach.detach = hook_detach;
    o.attach.ctx = f;
    assert_int_equal(local_volume_start(f->lv, &o, &err), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    local_volume_close(f->lv);
    nph_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const struct local_volume_caller alice = {"proj-a", "user-a", 0};
static const struct local_volume_caller bob = {"proj-b", "user-b", 0};
static const struct local_volume_caller admin = {"proj-admin", "user-admin", 1};

static json_t *create(struct fx *f, const char *spec_text, struct nph_error *err)
{
    json_t *spec = json_loads(spec_text, 0, NULL);
    json_t *v;
    assert_non_null(spec);
    v = local_volume_create(f->lv, &alice, spec, err);
    json_decref(spec);
    return v;
}

static json_t *get(struct fx *f, const char *id)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *v = local_volume_get(f->lv, &alice, id, &err);
    assert_non_null(v);
    return v;
}

static void expect_status(struct fx *f, const char *id, const char *status)
{
    json_t *v;
    local_volume_drain(f->lv);
    v = get(f, id);
    assert_string_equal(S(v, "status"), status);
    json_decref(v);
}

static int visit_count(void *ctx, const struct nph_ledger_event *ev, struct nph_error *err)
{
    char *out = ctx;
    (void)err;
    if (strcmp(ev->resource_type, "volume") == 0) {
        size_t n = strlen(out);
        snprintf(out + n, 256 - n, "%s:%lld ", nph_ledger_kind_name(ev->kind),
                 (long long)ev->size_gb);
    }
    return 0;
}

static void ledger_of(struct fx *f, char out[256])
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    out[0] = '\0';
    assert_non_null(db);
    assert_int_equal(nph_ledger_scan(db, 0, INT64_MAX, NULL, visit_count, out, &err), 0);
    nph_store_release(db);
}

static void test_lifecycle(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char id[64], ledger[256];
    json_t *v, *s, *spec;
    v = create(f, "{\"size\": 2, \"name\": \"v1\", \"metadata\": {\"k\": \"v\"}}", &err);
    assert_non_null(v);
    assert_string_equal(S(v, "status"), "creating");
    assert_string_equal(S(v, "volume_type"), LOCAL_VOLUME_DEFAULT_TYPE);
    snprintf(id, sizeof(id), "%s", S(v, "id"));
    json_decref(v);
    expect_status(f, id, "available");
    v = get(f, id);
    assert_non_null(S(v, "path")); /* a volume in the test driver's pool */
    assert_int_equal(I(v, "size"), 2);
    json_decref(v);
    /* another project does not see it */
    assert_null(local_volume_get(f->lv, &bob, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    /* extend: grow only */
    assert_int_equal(local_volume_extend(f->lv, &alice, id, 2, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(local_volume_extend(f->lv, &alice, id, 4, &err), 0);
    expect_status(f, id, "available");
    v = get(f, id);
    assert_int_equal(I(v, "size"), 4);
    json_decref(v);
    /* a snapshot blocks the deletion */
    spec = json_pack("{s:s,s:s}", "volume_id", id, "name", "s1");
    s = local_volume_snapshot_create(f->lv, &alice, spec, &err);
    json_decref(spec);
    assert_non_null(s);
    local_volume_drain(f->lv);
    json_t *s2 = local_volume_snapshot_get(f->lv, &alice, S(s, "id"), &err);
    assert_non_null(s2);
    assert_string_equal(S(s2, "status"), "available");
    assert_int_equal(I(s2, "size"), 4);
    json_decref(s2);
    assert_int_equal(local_volume_delete(f->lv, &alice, id, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "have snapshots"));
    expect_status(f, id, "available"); /* unchanged */
    /* a volume from the snapshot takes its size */
    char spec_text[256], id2[64];
    snprintf(spec_text, sizeof(spec_text), "{\"snapshot_id\": \"%s\"}", S(s, "id"));
    v = create(f, spec_text, &err);
    assert_non_null(v);
    assert_int_equal(I(v, "size"), 4);
    snprintf(id2, sizeof(id2), "%s", S(v, "id"));
    json_decref(v);
    expect_status(f, id2, "available");
    assert_int_equal(local_volume_delete(f->lv, &alice, id2, &err), 0);
    assert_int_equal(local_volume_snapshot_delete(f->lv, &alice, S(s, "id"), &err), 0);
    local_volume_drain(f->lv);
    assert_null(local_volume_snapshot_get(f->lv, &alice, S(s, "id"), &err));
    json_decref(s);
    assert_int_equal(local_volume_delete(f->lv, &alice, id, &err), 0);
    local_volume_drain(f->lv);
    assert_null(local_volume_get(f->lv, &alice, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    ledger_of(f, ledger);
    assert_string_equal(ledger, "created:2 resized:4 created:4 deleted:4 deleted:4 ");
}

static void test_bad_input_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct local_volume_filter flt = {0};
    json_t *l;
    static const char *const bad[] = {
        "{\"size\": -1}",
        "{\"size\": 0}",
        "{\"name\": \"no size\"}",
        "{\"size\": 1, \"volume_type\": \"nope\"}",
        "{\"size\": 1, \"snapshot_id\": \"nope\"}",
        "{\"size\": 1, \"source_volid\": \"nope\"}",
        "{\"size\": 1, \"image_id\": \"img\"}", /* no image service */
        "{\"size\": 1, \"availability_zone\": \"mars\"}",
        "{\"size\": 1, \"metadata\": {\"k\": 5}}",
        "{\"size\": 1, \"name\": 7}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nph_error_clear(&err);
        assert_null(create(f, bad[i], &err));
        assert_int_not_equal(err.code, NPH_E_OK);
    }
    l = local_volume_list(f->lv, &alice, &flt, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

static void test_quota(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *q, *lim = json_pack("{s:i,s:i}", "volumes", 2, "gigabytes", 3), *v, *u;
    q = local_volume_quota_set(f->lv, "proj-a", lim, &err);
    json_decref(lim);
    assert_non_null(q);
    assert_int_equal(I(q, "volumes"), 2);
    json_decref(q);
    v = create(f, "{\"size\": 2}", &err);
    assert_non_null(v);
    json_decref(v);
    assert_null(create(f, "{\"size\": 2}", &err)); /* 4 GB > 3 */
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "gigabytes"));
    v = create(f, "{\"size\": 1}", &err);
    assert_non_null(v);
    json_decref(v);
    assert_null(create(f, "{\"size\": 1}", &err)); /* a 3rd volume */
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "volumes"));
    u = local_volume_quota_usage(f->lv, "proj-a", &err);
    assert_int_equal(I(u, "volumes"), 2);
    assert_int_equal(I(u, "gigabytes"), 3);
    json_decref(u);
    /* bad limits change nothing */
    lim = json_pack("{s:i,s:i}", "volumes", 5, "bogus", 1);
    assert_null(local_volume_quota_set(f->lv, "proj-a", lim, &err));
    json_decref(lim);
    lim = json_pack("{s:i}", "volumes", -2);
    assert_null(local_volume_quota_set(f->lv, "proj-a", lim, &err));
    json_decref(lim);
    q = local_volume_quota_get(f->lv, "proj-a", &err);
    assert_int_equal(I(q, "volumes"), 2);
    json_decref(q);
    q = local_volume_quota_get(f->lv, NULL, &err); /* the defaults */
    assert_int_equal(I(q, "volumes"), 10);
    assert_int_equal(I(q, "gigabytes"), 1000);
    json_decref(q);
    local_volume_drain(f->lv);
}

static void test_attach_detach(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char id[64];
    json_t *v, *a, *atts;
    v = create(f, "{\"size\": 1}", &err);
    snprintf(id, sizeof(id), "%s", S(v, "id"));
    json_decref(v);
    expect_status(f, id, "available");
    /* only an available volume attaches */
    assert_int_equal(local_volume_reset_status(f->lv, id, "extending", &err), 0);
    assert_null(local_volume_attach(f->lv, &alice, id, "srv-1", NULL, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(f->attach_calls, 0);
    assert_int_equal(local_volume_reset_status(f->lv, id, "available", &err), 0);
    /* a failing hook leaves it available */
    f->fail_attach = 1;
    assert_null(local_volume_attach(f->lv, &alice, id, "srv-1", NULL, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    expect_status(f, id, "available");
    f->fail_attach = 0;
    a = local_volume_attach(f->lv, &alice, id, "srv-1", NULL, &err);
    assert_non_null(a);
    assert_string_equal(S(a, "device"), "/dev/vdb");
    json_decref(a);
    assert_non_null(strstr(f->last_xml, "<target dev=\"vdb\" bus=\"virtio\"/>"));
    assert_string_equal(f->last_server, "srv-1");
    expect_status(f, id, "in-use");
    /* in use: no delete, no extend, no second attach */
    assert_int_equal(local_volume_delete(f->lv, &alice, id, &err), -1);
    assert_int_equal(local_volume_extend(f->lv, &alice, id, 5, &err), -1);
    assert_null(local_volume_attach(f->lv, &alice, id, "srv-2", NULL, &err));
    atts = local_volume_server_attachments(f->lv, "srv-1", &err);
    assert_int_equal(json_array_size(atts), 1);
    assert_string_equal(S(json_array_get(atts, 0), "volume_id"), id);
    json_decref(atts);
    /* a second volume on the same server gets vdc */
    char id2[64];
    v = create(f, "{\"size\": 1}", &err);
    snprintf(id2, sizeof(id2), "%s", S(v, "id"));
    json_decref(v);
    local_volume_drain(f->lv);
    a = local_volume_attach(f->lv, &alice, id2, "srv-1", NULL, &err);
    assert_non_null(a);
    assert_string_equal(S(a, "device"), "/dev/vdc");
    json_decref(a);
    /* detach: not attached there is NOT_FOUND; then detach for real */
    assert_int_equal(local_volume_detach(f->lv, &alice, id, "srv-9", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(local_volume_detach(f->lv, &alice, id, "srv-1", &err), 0);
    assert_int_equal(f->detach_calls, 1);
    expect_status(f, id, "available");
    /* the server goes away: its other volume is freed */
    assert_int_equal(local_volume_server_gone(f->lv, "srv-1", &err), 0);
    expect_status(f, id2, "available");
    atts = local_volume_server_attachments(f->lv, "srv-1", &err);
    assert_int_equal(json_array_size(atts), 0);
    json_decref(atts);
    /* an admin reset */
    assert_int_equal(local_volume_reset_status(f->lv, id, "error", &err), 0);
    expect_status(f, id, "error");
    assert_int_equal(local_volume_reset_status(f->lv, id, "nonsense", &err), -1);
    assert_int_equal(local_volume_delete(f->lv, &admin, id, &err), 0); /* error -> deleting */
    local_volume_drain(f->lv);
}

static void test_types(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *attrs = json_pack("{s:s,s:{s:s}}", "name", "fast", "extra_specs", "tier", "1"), *t, *v;
    t = local_volume_type_create(f->lv, attrs, &err);
    assert_non_null(t);
    json_decref(attrs);
    attrs = json_pack("{s:s}", "name", "fast");
    assert_null(local_volume_type_create(f->lv, attrs, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    json_decref(attrs);
    v = create(f, "{\"size\": 1, \"volume_type\": \"fast\"}", &err);
    assert_non_null(v);
    assert_string_equal(S(v, "volume_type"), "fast");
    json_decref(v);
    assert_int_equal(local_volume_type_delete(f->lv, S(t, "id"), &err), -1); /* in use */
    json_t *def = local_volume_type_get(f->lv, &alice, LOCAL_VOLUME_DEFAULT_TYPE, &err);
    assert_non_null(def);
    assert_int_equal(local_volume_type_delete(f->lv, S(def, "id"), &err), -1);
    assert_non_null(strstr(err.msg, "Default volume type can not be deleted"));
    json_decref(def);
    json_decref(t);
    local_volume_drain(f->lv);
}

/* ---- compute's hot-plug on the test driver -------------------------------------------------- */

static void test_compute_attach_device(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_opts o;
    struct local_compute_caller c = {"proj-a", "user-a", 0, NULL};
    struct fx *f = *state;
    struct local_compute *lc = local_compute_open("test:///default", &err);
    json_t *spec, *s;
    char id[64], *disk, *xml;
    virConnectPtr conn;
    virDomainPtr dom;
    assert_non_null(lc);
    memset(&o, 0, sizeof(o));
    o.store = f->store;
    o.data_dir = f->dir;
    o.workers = 1;
    o.stop_timeout_s = 1;
    o.bootstrap_flavors = 1;
    assert_int_equal(local_compute_start(lc, &o, &err), 0);
    spec = json_pack("{s:s,s:s}", "name", "vm", "flavor_id", "1");
    s = local_compute_server_create(lc, &c, spec, &err);
    json_decref(spec);
    assert_non_null(s);
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    local_compute_drain(lc);
    disk = local_volume_disk_xml("/default-pool/vol-x", "qcow2", "vdb", "vol-x", 0, &err);
    assert_non_null(disk);
    assert_int_equal(local_compute_server_attach_device(lc, &c, id, disk, &err), 0);
    /* twice at the same target: refused */
    assert_int_equal(local_compute_server_attach_device(lc, &c, id, disk, &err), -1);
    /* another project cannot */
    struct local_compute_caller other = {"proj-b", "user-b", 0, NULL};
    assert_int_equal(local_compute_server_attach_device(lc, &other, id, disk, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    conn = virConnectOpen("test:///default");
    dom = virDomainLookupByUUIDString(conn, id);
    assert_non_null(dom);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_non_null(strstr(xml, "<serial>vol-x</serial>"));
    free(xml);
    virDomainFree(dom);
    /* a hard reboot, a resize and its revert redefine the domain: the disk stays */
    static const struct {
        enum local_compute_action a;
        const char *arg;
    } acts[] = {{LC_ACT_REBOOT_HARD, NULL},
                {LC_ACT_RESIZE, "2"},
                {LC_ACT_REVERT_RESIZE, NULL},
                {LC_ACT_RESIZE, "2"},
                {LC_ACT_CONFIRM_RESIZE, NULL}};
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
        if (local_compute_server_action(lc, &c, id, acts[i].a, acts[i].arg, &err))
            fail_msg("action %zu: %s", i, err.msg);
        local_compute_drain(lc);
        dom = virDomainLookupByUUIDString(conn, id);
        assert_non_null(dom);
        xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
        if (!strstr(xml, "<serial>vol-x</serial>"))
            fail_msg("after action %zu the definition is: %s", i, xml);
        /* exactly one disk at vdb */
        assert_null(strstr(strstr(xml, "dev='vdb'") + 1, "dev='vdb'"));
        free(xml);
        virDomainFree(dom);
    }
    dom = virDomainLookupByUUIDString(conn, id);
    assert_int_equal(local_compute_server_detach_device(lc, &c, id, disk, &err), 0);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_null(strstr(xml, "vol-x"));
    free(xml);
    virDomainFree(dom);
    virConnectClose(conn);
    free(disk);
    assert_int_equal(local_compute_server_delete(lc, &c, id, &err), 0);
    local_compute_drain(lc);
    local_compute_close(lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_quota_check),
        cmocka_unit_test(test_disk_xml),
        cmocka_unit_test(test_next_target),
        cmocka_unit_test_setup_teardown(test_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_writes_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_attach_detach, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_types, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_compute_attach_device, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
