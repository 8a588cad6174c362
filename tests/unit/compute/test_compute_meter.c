/*
 * test_compute_meter.c - local_compute_sample on libvirt's test driver (test:///default, whose
 * predefined domain "test" has disk vda and interface testnet0 and answers CPU, block and
 * interface statistics): a live server gets its five samples, equal to what libvirt reports;
 * a deleted server and one whose domain does not exist get none.
 */
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

#include "local_compute.h"
#include "nph_meter.h"

#define TEST_DOMAIN_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

static void insert_server(struct nph_db *db, const char *id, const char *project, int deleted)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_stmt *st = nph_db_prepare(
        db,
        "INSERT INTO compute_server (id, name, project_id, user_id, vm_state, flavor_id, flavor,"
        " vcpus, ram_mb, created_at, updated_at, deleted) VALUES (?, 'vm', ?, 'u', 'active',"
        " 'f1', '{}', 1, 512, 1, 1, ?)",
        &err);
    assert_non_null(st);
    assert_int_equal(nph_stmt_bind_text(st, 1, id, &err), 0);
    assert_int_equal(nph_stmt_bind_text(st, 2, project, &err), 0);
    assert_int_equal(nph_stmt_bind_int64(st, 3, deleted, &err), 0);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    nph_stmt_done(st);
}

struct got {
    int n;
    char meters[8][32];
    int64_t values[8];
    char project[16], cloud[16];
};

static int collect(void *ctx, const struct nph_meter_sample *s, struct nph_error *err)
{
    struct got *g = ctx;
    (void)err;
    assert_string_equal(s->resource_id, TEST_DOMAIN_UUID);
    assert_string_equal(s->resource_type, "server");
    assert_int_equal(s->ts, 1790000000000000LL);
    assert_int_equal(s->period, 0);
    assert_int_equal(s->count, 1);
    assert_int_equal(s->max, s->value);
    if (g->n < 8) {
        snprintf(g->meters[g->n], sizeof(g->meters[g->n]), "%s", s->meter);
        g->values[g->n] = s->value;
        snprintf(g->project, sizeof(g->project), "%s", s->project_id);
        snprintf(g->cloud, sizeof(g->cloud), "%s", s->cloud ? s->cloud : "(null)");
    }
    g->n++;
    return 0;
}

static int64_t value_of(const struct got *g, const char *meter)
{
    for (int i = 0; i < g->n && i < 8; i++)
        if (strcmp(g->meters[i], meter) == 0)
            return g->values[i];
    fail_msg("no sample of meter %s", meter);
    return -1;
}

static void test_sample_test_driver(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char dir[] = "/tmp/nph-meter-XXXXXX", url[128], cmd[160];
    struct nph_store *store = NULL;
    struct nph_db *db;
    struct local_compute *lc;
    struct got g = {0};
    size_t n = 99;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite://%s/t.db", dir);
    assert_int_equal(nph_store_open(url, 2, &store, &err), 0);
    assert_int_equal(local_compute_migrate(store, NULL, &err), 0);
    assert_int_equal(nph_meter_migrate(store, NULL, &err), 0);
    assert_non_null(db = nph_store_acquire(store, &err));
    insert_server(db, TEST_DOMAIN_UUID, "proj-a", 0);
    insert_server(db, "00000000-0000-4000-8000-000000000001", "proj-a", 0); /* no domain */
    insert_server(db, "00000000-0000-4000-8000-000000000002", "proj-b", 1); /* deleted */
    nph_store_release(db);

    assert_non_null(lc = local_compute_open("test:///default", &err));
    assert_int_equal(local_compute_sample(lc, store, "home", 1790000000000000LL, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_non_null(db = nph_store_acquire(store, &err));
    assert_int_equal(nph_meter_scan(db, 0, INT64_MAX, NULL, NULL, NULL, collect, &g, &err), 0);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.project, "proj-a");
    assert_string_equal(g.cloud, "home");

    /* the values are libvirt's: compare with a second connection (one hypervisor per process,
     * and the test driver's counters only grow) */
    virConnectPtr c = virConnectOpen("test:///default");
    assert_non_null(c);
    virDomainPtr d = virDomainLookupByUUIDString(c, TEST_DOMAIN_UUID);
    assert_non_null(d);
    virDomainInfo info;
    virDomainBlockStatsStruct bs;
    virDomainInterfaceStatsStruct is;
    assert_int_equal(virDomainGetInfo(d, &info), 0);
    assert_int_equal(virDomainBlockStats(d, "vda", &bs, sizeof(bs)), 0);
    assert_int_equal(virDomainInterfaceStats(d, "testnet0", &is, sizeof(is)), 0);
    assert_true(value_of(&g, "cpu") > 0);
    assert_true(value_of(&g, "cpu") <= (int64_t)info.cpuTime);
    assert_true(value_of(&g, "disk.read.bytes") > 0);
    assert_true(value_of(&g, "disk.read.bytes") <= bs.rd_bytes);
    assert_true(value_of(&g, "disk.write.bytes") > 0);
    assert_true(value_of(&g, "disk.write.bytes") <= bs.wr_bytes);
    assert_true(value_of(&g, "network.incoming.bytes") > 0);
    assert_true(value_of(&g, "network.incoming.bytes") <= is.rx_bytes);
    assert_true(value_of(&g, "network.outgoing.bytes") > 0);
    assert_true(value_of(&g, "network.outgoing.bytes") <= is.tx_bytes);
    virDomainFree(d);
    virConnectClose(c);
    nph_store_release(db);

    local_compute_close(lc);
    nph_store_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_test_driver),
    };
    return cmocka_run_group_tests_name("compute_meter", tests, NULL, NULL);
}
