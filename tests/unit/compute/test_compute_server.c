/* test_compute_server.c - flavors, quotas, the server lifecycle and its ledger events, against
 * libvirt's built-in test driver (in process) and a throwaway SQLite store; and the domain XML
 * builder, parsed back with libxml2. */
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
#include "nph_ledger.h"
#include "nph_store.h"

struct fx {
    char dir[64];
    struct nph_store *store;
    struct local_compute *lc;
};

static int stub_locate(void *ctx, const char *image_id, const char *project_id, int is_admin,
                       struct local_image_ref *out, struct nph_error *err)
{
    (void)ctx;
    (void)project_id;
    (void)is_admin;
    if (strcmp(image_id, "img-1") != 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "no image '%s'", image_id);
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "img-1");
    snprintf(out->status, sizeof(out->status), "active");
    snprintf(out->disk_format, sizeof(out->disk_format), "qcow2");
    snprintf(out->path, sizeof(out->path), "/nonexistent/images/img-1");
    out->size = 1 << 20;
    return 0;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_opts o;
    char url[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-compute-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    assert_int_equal(nph_store_open(url, 4, &f->store, &err), 0);
    assert_int_equal(nph_ledger_migrate(f->store, NULL, &err), 0);
    assert_int_equal(local_compute_migrate(f->store, NULL, &err), 0);
    f->lc = local_compute_open("test:///default", &err);
    assert_non_null(f->lc);
    memset(&o, 0, sizeof(o));
    o.store = f->store;
    o.data_dir = f->dir;
    o.workers = 2;
    o.stop_timeout_s = 1;
    o.image_locate = stub_locate;
    o.bootstrap_flavors = 1;
    assert_int_equal(local_compute_start(f->lc, &o, &err), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    local_compute_close(f->lc);
    nph_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const struct local_compute_caller alice = {"proj-a", "user-a", 0, "req-a"};
static const struct local_compute_caller bob = {"proj-b", "user-b", 0, NULL};
static const struct local_compute_caller admin = {"proj-admin", "user-admin", 1, NULL};

#define S(o, k) json_string_value(json_object_get((o), (k)))

/* ---- domain XML ------------------------------------------------------------------------ */

static char *xpath_str(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *out = NULL;
    if (r && r->type == XPATH_STRING)
        out = strdup((const char *)r->stringval);
    else if (r && r->nodesetval && r->nodesetval->nodeNr > 0) {
        xmlChar *c = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
        out = strdup(c ? (const char *)c : "");
        xmlFree(c);
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return out;
}

static int xpath_count(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    int n = r && r->nodesetval ? r->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return n;
}

#define ASSERT_XPATH(doc, expr, want)                                                              \
    do {                                                                                           \
        char *v_ = xpath_str(doc, expr);                                                           \
        assert_non_null(v_);                                                                       \
        assert_string_equal(v_, want);                                                             \
        free(v_);                                                                                  \
    } while (0)

static void test_domain_xml(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_domain d = {0};
    xmlDocPtr doc;
    char *xml;
    (void)state;
    d.name = "nephele-<odd & name>";
    d.uuid = "6f0e1c8e-3f2a-4d8e-9a3e-1b2c3d4e5f60";
    d.vcpus = 2;
    d.ram_mb = 512;
    d.kvm = 1; /* the host's own choice is local_compute_have_kvm (test_compute.c) */
    d.disk_path = "/var/lib/nephele/instances/x-disk.qcow2";
    d.disk_format = "qcow2";
    d.console_log = "/var/lib/nephele/console/x.log";
    d.project_id = "p1";
    d.flavor_name = "m1.tiny";
    xml = local_compute_domain_xml(&d, &err);
    assert_non_null(xml);
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    ASSERT_XPATH(doc, "string(/domain/@type)", "kvm");
    ASSERT_XPATH(doc, "string(/domain/name)", "nephele-<odd & name>");
    ASSERT_XPATH(doc, "string(/domain/uuid)", d.uuid);
    ASSERT_XPATH(doc, "string(/domain/memory)", "512");
    ASSERT_XPATH(doc, "string(/domain/memory/@unit)", "MiB");
    ASSERT_XPATH(doc, "string(/domain/vcpu)", "2");
    assert_int_equal(xpath_count(doc, "/domain/features/acpi"), 1);
    assert_int_equal(xpath_count(doc, "//graphics"), 0);
    ASSERT_XPATH(doc, "string(/domain/devices/serial/@type)", "file");
    ASSERT_XPATH(doc, "string(/domain/devices/serial/source/@path)", d.console_log);
    ASSERT_XPATH(doc, "string(/domain/devices/console/@type)", "file");
    ASSERT_XPATH(doc, "string(/domain/devices/console/target/@type)", "serial");
    ASSERT_XPATH(doc, "string(/domain/devices/disk/source/@file)", d.disk_path);
    ASSERT_XPATH(doc, "string(/domain/devices/disk/driver/@type)", "qcow2");
    ASSERT_XPATH(doc, "string(/domain/devices/disk/target/@bus)", "virtio");
    ASSERT_XPATH(doc, "string(/domain/os/boot/@dev)", "hd");
    xmlFreeDoc(doc);
    free(xml);

    /* TCG when asked (no KVM), and direct kernel boot without a disk. */
    d.kvm = 0;
    d.disk_path = NULL;
    d.kernel = "/boot/vmlinuz";
    d.initrd = "/boot/initrd.img";
    xml = local_compute_domain_xml(&d, &err);
    assert_non_null(xml);
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    ASSERT_XPATH(doc, "string(/domain/@type)", "qemu");
    ASSERT_XPATH(doc, "string(/domain/os/kernel)", "/boot/vmlinuz");
    ASSERT_XPATH(doc, "string(/domain/os/initrd)", "/boot/initrd.img");
    ASSERT_XPATH(doc, "string(/domain/os/cmdline)", "console=ttyS0");
    assert_int_equal(xpath_count(doc, "/domain/devices/disk"), 0);
    xmlFreeDoc(doc);
    free(xml);

    d.vcpus = 0;
    assert_null(local_compute_domain_xml(&d, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
}

/* ---- flavors ----------------------------------------------------------------------------- */

static void test_flavors(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *l, *fl, *specs, *attrs;
    l = local_compute_flavor_list(f->lc, &alice, 1, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 3);
    assert_string_equal(S(json_array_get(l, 0), "name"), "m1.tiny");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "ram")), 2048);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 2), "disk")), 40);
    json_decref(l);

    attrs = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:b}", "id", "priv", "name", "p.small", "vcpus", 1,
                      "ram", 256, "disk", 1, "ephemeral", 2, "is_public", 0);
    fl = local_compute_flavor_create(f->lc, attrs, &err);
    assert_non_null(fl);
    assert_int_equal(json_integer_value(json_object_get(fl, "ephemeral")), 2);
    json_decref(fl);
    assert_null(local_compute_flavor_create(f->lc, attrs, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    json_decref(attrs);

    /* private: invisible to alice until granted */
    assert_null(local_compute_flavor_get(f->lc, &alice, "priv", &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(local_compute_flavor_access(f->lc, "priv", "proj-a", 1, &err), 0);
    fl = local_compute_flavor_get(f->lc, &alice, "priv", &err);
    assert_non_null(fl);
    json_decref(fl);
    l = local_compute_flavor_list(f->lc, &alice, 1, &err);
    assert_int_equal(json_array_size(l), 4);
    json_decref(l);
    l = local_compute_flavor_list(f->lc, &bob, 1, &err);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    l = local_compute_flavor_access_list(f->lc, "priv", &err);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(S(json_array_get(l, 0), "tenant_id"), "proj-a");
    json_decref(l);

    /* extra specs */
    attrs = json_pack("{s:s,s:i}", "hw:cpu_policy", "dedicated", "quota:cpu_shares", 100);
    specs = local_compute_flavor_set_specs(f->lc, "priv", attrs, &err);
    assert_non_null(specs);
    assert_string_equal(S(specs, "quota:cpu_shares"), "100");
    json_decref(specs);
    json_decref(attrs);
    assert_int_equal(local_compute_flavor_unset_spec(f->lc, "priv", "hw:cpu_policy", &err), 0);
    assert_int_equal(local_compute_flavor_unset_spec(f->lc, "priv", "hw:cpu_policy", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    /* bad input */
    attrs = json_pack("{s:s,s:i,s:i}", "name", "bad", "vcpus", 0, "ram", 1);
    assert_null(local_compute_flavor_create(f->lc, attrs, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(attrs);

    assert_int_equal(local_compute_flavor_delete(f->lc, "priv", &err), 0);
    assert_int_equal(local_compute_flavor_delete(f->lc, "priv", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
}

/* ---- servers ------------------------------------------------------------------------------ */

static json_t *create(struct fx *f, const struct local_compute_caller *c, const char *name,
                      const char *flavor, struct nph_error *err)
{
    json_t *spec =
        json_pack("{s:s,s:s,s:s}", "name", name, "flavor_id", flavor, "image_id", "img-1");
    json_t *s = local_compute_server_create(f->lc, c, spec, err);
    json_decref(spec);
    return s;
}

static void assert_status(struct fx *f, const struct local_compute_caller *c, const char *id,
                          const char *want)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *s;
    local_compute_drain(f->lc);
    s = local_compute_server_get(f->lc, c, id, &err);
    assert_non_null(s);
    if (strcmp(S(s, "status"), want) != 0)
        fail_msg("server %s: status %s, want %s (fault %s)", id, S(s, "status"), want,
                 S(s, "fault") ? S(s, "fault") : "-");
    json_decref(s);
}

/* The server's ledger events, oldest first, as "created,stopped,...". */
static void ledger_events(struct fx *f, const char *id, char *out, size_t len)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct nph_stmt *st = nph_db_prepare(
        db,
        "SELECT event, offering, cloud, resource_type FROM ledger_event WHERE resource_id = ?"
        " ORDER BY ts, event",
        &err);
    assert_non_null(st);
    nph_stmt_bind_text(st, 1, id, &err);
    out[0] = '\0';
    while (nph_stmt_step(st, &err) == 1) {
        assert_string_equal(nph_stmt_col_text(st, 2), "local");
        assert_string_equal(nph_stmt_col_text(st, 3), "server");
        snprintf(out + strlen(out), len - strlen(out), "%s%s:%s", out[0] ? "," : "",
                 nph_stmt_col_text(st, 0), nph_stmt_col_text(st, 1));
    }
    nph_stmt_done(st);
    nph_store_release(db);
}

static void test_lifecycle(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char id[64], events[512];
    json_t *s, *acts;
    s = create(f, &alice, "vm1", "1", &err);
    assert_non_null(s);
    assert_string_equal(S(s, "status"), "BUILD"); /* recorded before the worker runs */
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    assert_status(f, &alice, id, "ACTIVE");

    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_STOP, NULL, &err), 0);
    assert_status(f, &alice, id, "SHUTOFF");
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_STOP, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_non_null(strstr(err.msg, "vm_state stopped"));
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_START, NULL, &err), 0);
    assert_status(f, &alice, id, "ACTIVE");
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_REBOOT_SOFT, NULL, &err),
                     0);
    assert_status(f, &alice, id, "ACTIVE");
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_REBOOT_HARD, NULL, &err),
                     0);
    assert_status(f, &alice, id, "ACTIVE");

    /* resize and confirm; resize and revert */
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_RESIZE, "1", &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_RESIZE, "2", &err), 0);
    assert_status(f, &alice, id, "VERIFY_RESIZE");
    assert_int_equal(
        local_compute_server_action(f->lc, &alice, id, LC_ACT_CONFIRM_RESIZE, NULL, &err), 0);
    assert_status(f, &alice, id, "ACTIVE");
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_RESIZE, "3", &err), 0);
    assert_status(f, &alice, id, "VERIFY_RESIZE");
    assert_int_equal(
        local_compute_server_action(f->lc, &alice, id, LC_ACT_REVERT_RESIZE, NULL, &err), 0);
    assert_status(f, &alice, id, "ACTIVE");
    s = local_compute_server_get(f->lc, &alice, id, &err);
    assert_string_equal(S(json_object_get(s, "flavor"), "name"), "m1.small");
    json_decref(s);

    /* lock: the owner cannot stop, an admin can unlock */
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_LOCK, "x", &err), 0);
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_STOP, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(local_compute_server_action(f->lc, &admin, id, LC_ACT_UNLOCK, NULL, &err), 0);

    /* metadata, tags, rename */
    {
        json_t *m = json_pack("{s:s}", "role", "web"), *r, *tags = json_pack("[s,s]", "a", "b");
        r = local_compute_server_metadata(f->lc, &alice, id, m, 0, &err);
        assert_string_equal(S(r, "role"), "web");
        json_decref(r);
        json_decref(m);
        assert_int_equal(local_compute_server_metadata_delete(f->lc, &alice, id, "role", &err), 0);
        r = local_compute_server_tags(f->lc, &alice, id, tags, NULL, NULL, 0, &err);
        assert_int_equal(json_array_size(r), 2);
        json_decref(r);
        json_decref(tags);
        r = local_compute_server_tags(f->lc, &alice, id, NULL, NULL, "zz", 0, &err);
        assert_null(r);
        assert_int_equal(err.code, NPH_E_NOT_FOUND);
        m = json_pack("{s:s}", "name", "vm1-renamed");
        r = local_compute_server_update(f->lc, &alice, id, m, &err);
        assert_string_equal(S(r, "name"), "vm1-renamed");
        json_decref(r);
        json_decref(m);
    }

    /* console output is empty on the test driver */
    {
        char *out = local_compute_console_output(f->lc, &alice, id, 10, &err);
        assert_non_null(out);
        assert_string_equal(out, "");
        free(out);
    }

    /* tenants do not see each other */
    assert_null(local_compute_server_get(f->lc, &bob, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(local_compute_server_delete(f->lc, &bob, id, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    acts = local_compute_actions_list(f->lc, &alice, id, &err);
    assert_non_null(acts);
    assert_true(json_array_size(acts) >= 10);
    json_decref(acts);
    s = local_compute_action_get(f->lc, &alice, id, "req-a", &err);
    assert_non_null(s);
    json_decref(s);

    assert_int_equal(local_compute_server_delete(f->lc, &alice, id, &err), 0);
    local_compute_drain(f->lc);
    assert_null(local_compute_server_get(f->lc, &alice, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    ledger_events(f, id, events, sizeof(events));
    assert_string_equal(events, "created:m1.tiny,stopped:m1.tiny,started:m1.tiny,"
                                "resized:m1.small,resized:m1.medium,resized:m1.small,"
                                "deleted:m1.small");
}

static void test_list_filters(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_server_filter flt;
    json_t *l, *s;
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), i < 3 ? "web-%d" : "db-%d", i);
        s = create(f, &alice, name, i == 4 ? "2" : "1", &err);
        assert_non_null(s);
        snprintf(ids[i], sizeof(ids[i]), "%s", S(s, "id"));
        json_decref(s);
    }
    s = create(f, &bob, "web-bob", "1", &err);
    json_decref(s);
    local_compute_drain(f->lc);

    memset(&flt, 0, sizeof(flt));
    l = local_compute_server_list(f->lc, &alice, &flt, &err);
    assert_int_equal(json_array_size(l), 5);
    json_decref(l);
    flt.name_regex = "^web";
    l = local_compute_server_list(f->lc, &alice, &flt, &err);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    flt.name_regex = "([";
    assert_null(local_compute_server_list(f->lc, &alice, &flt, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    memset(&flt, 0, sizeof(flt));
    flt.flavor_id = "2";
    l = local_compute_server_list(f->lc, &alice, &flt, &err);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    memset(&flt, 0, sizeof(flt));
    flt.status = "active";
    flt.limit = 2;
    l = local_compute_server_list(f->lc, &alice, &flt, &err);
    assert_int_equal(json_array_size(l), 2);
    flt.marker = S(json_array_get(l, 1), "id");
    {
        json_t *page2 = local_compute_server_list(f->lc, &alice, &flt, &err);
        assert_int_equal(json_array_size(page2), 2);
        assert_string_not_equal(S(json_array_get(page2, 0), "id"), S(json_array_get(l, 0), "id"));
        json_decref(page2);
    }
    json_decref(l);
    memset(&flt, 0, sizeof(flt));
    flt.marker = "nope";
    assert_null(local_compute_server_list(f->lc, &alice, &flt, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    memset(&flt, 0, sizeof(flt));
    flt.all_projects = 1;
    l = local_compute_server_list(f->lc, &admin, &flt, &err);
    assert_int_equal(json_array_size(l), 6);
    json_decref(l);
    l = local_compute_server_list(f->lc, &bob, &flt, &err); /* not an admin: own only */
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    (void)ids;
}

static void test_quota(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *q, *lim, *s;
    q = local_compute_quota_get(f->lc, NULL, &err);
    assert_int_equal(json_integer_value(json_object_get(q, "instances")), 10);
    assert_int_equal(json_integer_value(json_object_get(q, "cores")), 20);
    assert_int_equal(json_integer_value(json_object_get(q, "ram")), 51200);
    assert_int_equal(json_integer_value(json_object_get(q, "injected_file_path_bytes")), 255);
    assert_int_equal(json_integer_value(json_object_get(q, "fixed_ips")), -1);
    assert_int_equal(json_integer_value(json_object_get(q, "security_group_rules")), 20);
    assert_int_equal(json_object_size(q), 14);
    json_decref(q);
    lim = json_pack("{s:i}", "instances", 1);
    q = local_compute_quota_set(f->lc, "proj-a", lim, &err);
    assert_int_equal(json_integer_value(json_object_get(q, "instances")), 1);
    json_decref(q);
    json_decref(lim);
    lim = json_pack("{s:i}", "bogus", 1);
    assert_null(local_compute_quota_set(f->lc, "proj-a", lim, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(lim);
    s = create(f, &alice, "one", "1", &err);
    assert_non_null(s);
    json_decref(s);
    assert_null(create(f, &alice, "two", "1", &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    assert_string_equal(err.msg, "Quota exceeded for instances: Requested 1, but already used 1 "
                                 "of 1 instances");
    /* cores */
    lim = json_pack("{s:i,s:i}", "instances", 10, "cores", 2);
    q = local_compute_quota_set(f->lc, "proj-a", lim, &err);
    json_decref(q);
    json_decref(lim);
    assert_null(create(f, &alice, "big", "3", &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    assert_string_equal(err.msg,
                        "Quota exceeded for cores: Requested 2, but already used 1 of 2 cores");
    /* a multiple create checks the quota for all its servers */
    lim = json_pack("{s:s,s:s,s:s,s:i}", "name", "many", "flavor_id", "1", "image_id", "img-1",
                    "quota_count", 10);
    assert_null(local_compute_server_create(f->lc, &alice, lim, &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    assert_string_equal(err.msg, "Quota exceeded for instances: Requested 10, but already used 1 "
                                 "of 10 instances");
    json_decref(lim);
    local_compute_drain(f->lc);
}

static void test_access_ips(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *spec, *s, *attrs;
    char id[64];
    spec = json_pack("{s:s,s:s,s:s,s:s}", "name", "addr", "flavor_id", "1", "image_id", "img-1",
                     "access_ipv6", "2001:db8::zz");
    assert_null(local_compute_server_create(f->lc, &alice, spec, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_object_set_new(spec, "access_ipv6", json_string("2001:0db8:0:0:0:0:0:1"));
    json_object_set_new(spec, "access_ipv4", json_string("1.1.1.1"));
    s = local_compute_server_create(f->lc, &alice, spec, &err);
    json_decref(spec);
    assert_non_null(s);
    assert_string_equal(S(s, "access_ipv4"), "1.1.1.1");
    assert_string_equal(S(s, "access_ipv6"), "2001:db8::1");
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    attrs = json_pack("{s:s}", "access_ipv4", "300.1.1.1");
    assert_null(local_compute_server_update(f->lc, &alice, id, attrs, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(attrs);
    attrs = json_pack("{s:s}", "access_ipv4", "10.0.0.7");
    s = local_compute_server_update(f->lc, &alice, id, attrs, &err);
    json_decref(attrs);
    assert_non_null(s);
    assert_string_equal(S(s, "access_ipv4"), "10.0.0.7");
    assert_string_equal(S(s, "access_ipv6"), "2001:db8::1");
    json_decref(s);
    local_compute_drain(f->lc);
}

static void test_outside_changes(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    virConnectPtr c;
    virDomainPtr d;
    json_t *s = create(f, &alice, "victim", "1", &err);
    char id[64], events[512];
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    assert_status(f, &alice, id, "ACTIVE");
    /* test:///default is one hypervisor per process: a second connection sees our domains */
    c = virConnectOpen("test:///default");
    assert_non_null(c);
    d = virDomainLookupByUUIDString(c, id);
    if (!d) {
        virConnectClose(c);
        skip();
    }
    assert_int_equal(virDomainDestroy(d), 0);
    assert_status(f, &alice, id, "SHUTOFF");
    assert_int_equal(virDomainUndefine(d), 0);
    virDomainFree(d);
    virConnectClose(c);
    assert_status(f, &alice, id, "ERROR");
    ledger_events(f, id, events, sizeof(events));
    assert_string_equal(events, "created:m1.tiny,stopped:m1.tiny");
    /* an ERROR server can still be deleted */
    assert_int_equal(local_compute_server_delete(f->lc, &alice, id, &err), 0);
    local_compute_drain(f->lc);
    assert_null(local_compute_server_get(f->lc, &alice, id, &err));
}

/* A root disk the hypervisor's pool cannot hold: the server is ERROR and its fault carries
 * libvirt's reason (it was once "no error": the pool was freed before the error was read). */
static void test_disk_too_large(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *attrs = json_pack("{s:s,s:s,s:i,s:i,s:i,s:b}", "id", "huge", "name", "x.huge", "vcpus",
                              1, "ram", 256, "disk", 900000, "is_public", 1);
    json_t *fl = local_compute_flavor_create(f->lc, attrs, &err);
    assert_non_null(fl);
    json_decref(fl);
    json_decref(attrs);
    json_t *s = create(f, &alice, "vm-huge", "huge", &err);
    assert_non_null(s);
    char id[64];
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    assert_status(f, &alice, id, "ERROR");
    s = local_compute_server_get(f->lc, &alice, id, &err);
    assert_non_null(s);
    json_t *fault = json_object_get(s, "fault");
    const char *msg = json_is_object(fault) ? S(fault, "message") : S(s, "fault");
    assert_non_null(msg);
    if (!strstr(msg, "root disk") || strstr(msg, "no error"))
        fail_msg("fault without libvirt's reason: %s", msg);
    json_decref(s);
}

static void test_keypairs(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *k, *l;
    const char *pub =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc5lUOCsxM2a6pYhBTqVhpTQ6Yzq1ZQp1Wm3yB0pY1u me@host";
    k = local_compute_keypair_create(f->lc, "user-a", "k1", NULL, pub, &err);
    assert_non_null(k);
    assert_int_equal(strlen(S(k, "fingerprint")), 47);
    json_decref(k);
    assert_null(local_compute_keypair_create(f->lc, "user-a", "k1", NULL, pub, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_null(local_compute_keypair_create(f->lc, "user-a", "k2", NULL, "ssh-rsa !!!", &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    k = local_compute_keypair_create(f->lc, "user-a", "gen", NULL, NULL, &err);
    assert_non_null(k);
    assert_non_null(strstr(S(k, "private_key"), "PRIVATE KEY"));
    assert_int_equal(strncmp(S(k, "public_key"), "ssh-rsa AAAA", 12), 0);
    json_decref(k);
    l = local_compute_keypair_list(f->lc, "user-a", &err);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    l = local_compute_keypair_list(f->lc, "user-b", &err);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    assert_int_equal(local_compute_keypair_delete(f->lc, "user-a", "k1", &err), 0);
    assert_int_equal(local_compute_keypair_delete(f->lc, "user-a", "k1", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
}

/* x509 key pairs (Tempest's test_keypairsv22_create_list_show_with_type): generated as a
 * self-signed certificate and its key, fingerprint SHA-1 of the DER; imported from PEM. */
static void test_keypairs_x509(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *k, *k2;
    char *cert;
    k = local_compute_keypair_create(f->lc, "user-a", "x1", "x509", NULL, &err);
    assert_non_null(k);
    assert_string_equal(S(k, "type"), "x509");
    assert_non_null(strstr(S(k, "public_key"), "-----BEGIN CERTIFICATE-----"));
    assert_non_null(strstr(S(k, "private_key"), "PRIVATE KEY"));
    assert_int_equal(strlen(S(k, "fingerprint")), 59); /* 20 bytes as aa:bb:... */
    cert = strdup(S(k, "public_key"));
    k2 = local_compute_keypair_get(f->lc, "user-a", "x1", &err);
    assert_non_null(k2);
    assert_string_equal(S(k2, "type"), "x509");
    assert_null(json_object_get(k2, "private_key"));
    json_decref(k2);
    /* the same certificate imported: the same fingerprint */
    k2 = local_compute_keypair_create(f->lc, "user-b", "x2", "x509", cert, &err);
    assert_non_null(k2);
    assert_string_equal(S(k2, "fingerprint"), S(k, "fingerprint"));
    json_decref(k2);
    json_decref(k);
    free(cert);
    assert_null(
        local_compute_keypair_create(f->lc, "user-b", "x3", "x509", "not a certificate", &err));
    assert_int_equal(err.code, NPH_E_INVALID);
}

static void test_ledger_append_checks(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct nph_ledger_event ev = {0};
    ev.kind = NPH_LEDGER_CREATED;
    ev.resource_type = "volume";
    ev.project_id = "p";
    ev.cloud = "local";
    ev.size_gb = 10;
    assert_int_equal(nph_ledger_append(db, &ev, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    ev.resource_id = "vol-1";
    /* rolled back with the transaction it was part of */
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(nph_ledger_append(db, &ev, &err), 0);
    assert_int_equal(nph_db_rollback(db, &err), 0);
    {
        struct nph_stmt *st = nph_db_prepare(db, "SELECT COUNT(*) FROM ledger_event", &err);
        assert_int_equal(nph_stmt_step(st, &err), 1);
        assert_int_equal(nph_stmt_col_int64(st, 0), 0);
        nph_stmt_done(st);
    }
    assert_int_equal(nph_ledger_append(db, &ev, &err), 0);
    nph_store_release(db);
    assert_string_equal(nph_ledger_kind_name(NPH_LEDGER_RESIZED), "resized");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_xml),
        cmocka_unit_test_setup_teardown(test_flavors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_access_ips, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outside_changes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disk_too_large, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keypairs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keypairs_x509, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ledger_append_checks, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
