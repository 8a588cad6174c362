/*
 * test_openstack_usage.c - Nova's os-simple-tenant-usage document (the shape of Nova's own
 * API sample, a running and a terminated server) into struct nph_usage_report, Nova's empty
 * answer for a project without usage, and documents that are not that shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_clock.h"
#include "openstack/openstack_internal.h"

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

static const char usage_doc[] =
    "{\"server_usages\": [{\"ended_at\": null, \"flavor\": \"m1.tiny\", \"hours\": 1.0,"
    " \"instance_id\": \"1f1deceb-17b5-4c04-84c7-e0d4499c8fe0\", \"local_gb\": 1,"
    " \"memory_mb\": 512, \"name\": \"instance-2\", \"started_at\":"
    " \"2012-10-08T20:10:44.541277\", \"state\": \"active\", \"tenant_id\": \"6f70\","
    " \"uptime\": 3600, \"vcpus\": 1},"
    " {\"ended_at\": \"2012-10-08T21:10:44.000000\", \"flavor\": \"m1.small\", \"hours\": 0.5,"
    " \"instance_id\": \"2a2deceb-17b5-4c04-84c7-e0d4499c8fe0\", \"local_gb\": 20,"
    " \"memory_mb\": 2048, \"name\": \"gone\", \"started_at\": \"2012-10-08T20:40:44.000000\","
    " \"state\": \"terminated\", \"tenant_id\": \"6f70\", \"uptime\": 1800, \"vcpus\": 1}],"
    " \"start\": \"2012-10-08T20:10:44.587336\", \"stop\": \"2012-10-08T21:10:44.587336\","
    " \"tenant_id\": \"6f70\", \"total_hours\": 1.5, \"total_local_gb_usage\": 11.0,"
    " \"total_memory_mb_usage\": 1536.0, \"total_vcpus_usage\": 1.5}";

static void test_usage_sample(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_usage_report r;
    json_t *j = load(usage_doc);
    assert_int_equal(os_usage_from_json(j, &r, &err), 0);
    assert_string_equal(r.tenant_id, "6f70");
    assert_true(r.total_hours == 1.5);
    assert_true(r.total_vcpus_usage == 1.5);
    assert_true(r.total_memory_mb_usage == 1536.0);
    assert_true(r.total_local_gb_usage == 11.0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0].remote_id, "1f1deceb-17b5-4c04-84c7-e0d4499c8fe0");
    assert_string_equal(r.v[0].offering, "m1.tiny");
    assert_string_equal(r.v[0].state, "active");
    assert_int_equal(r.v[0].ended, 0);
    int64_t t;
    assert_int_equal(nph_time_parse("2012-10-08T20:10:44Z", &t), 0);
    assert_int_equal(r.v[0].started, t / NPH_USEC_PER_SEC);
    assert_true(r.v[0].hours == 1.0);
    assert_int_equal(r.v[0].memory_mb, 512);
    assert_string_equal(r.v[1].state, "terminated");
    assert_int_equal(nph_time_parse("2012-10-08T21:10:44Z", &t), 0);
    assert_int_equal(r.v[1].ended, t / NPH_USEC_PER_SEC);
    assert_int_equal(r.v[1].local_gb, 20);
    nph_usage_report_fini(&r);
    json_decref(j);
}

static void test_usage_empty_and_bad(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_usage_report r;
    json_t *j = load("{}"); /* Nova: a project without usage in the period */
    assert_int_equal(os_usage_from_json(j, &r, &err), 0);
    assert_int_equal(r.n, 0);
    assert_string_equal(r.tenant_id, "");
    json_decref(j);
    static const struct {
        const char *doc, *why;
    } bad[] = {
        {"[]", "'tenant_usage' is not an object"},
        {"{\"tenant_id\": \"t\", \"total_hours\": \"1\", \"total_vcpus_usage\": 1,"
         " \"total_memory_mb_usage\": 1, \"total_local_gb_usage\": 1}",
         "'total_hours' is missing or not a number"},
        {"{\"total_hours\": 1}", "'tenant_id' is missing or not a string"},
        {"{\"tenant_id\": \"t\", \"total_hours\": 1, \"total_vcpus_usage\": 1,"
         " \"total_memory_mb_usage\": 1, \"total_local_gb_usage\": 1, \"server_usages\": {}}",
         "'server_usages' is not a list"},
        {"{\"tenant_id\": \"t\", \"total_hours\": 1, \"total_vcpus_usage\": 1,"
         " \"total_memory_mb_usage\": 1, \"total_local_gb_usage\": 1, \"server_usages\":"
         " [{\"instance_id\": \"i\", \"hours\": 1, \"vcpus\": 1, \"memory_mb\": 1,"
         " \"local_gb\": 1, \"started_at\": \"yesterday\"}]}",
         "server_usages[0]: 'started_at' is not a time"},
        {"{\"tenant_id\": \"t\", \"total_hours\": 1, \"total_vcpus_usage\": 1,"
         " \"total_memory_mb_usage\": 1, \"total_local_gb_usage\": 1, \"server_usages\":"
         " [{\"hours\": 1}]}",
         "server_usages[0]: 'instance_id' is missing or not an id"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = load(bad[i].doc);
        nph_error_clear(&err);
        assert_int_equal(os_usage_from_json(j, &r, &err), -1);
        assert_int_equal(err.code, NPH_E_BACKEND);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("%s: got '%s'", bad[i].doc, err.msg);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_sample),
        cmocka_unit_test(test_usage_empty_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
