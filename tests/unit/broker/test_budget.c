/*
 * test_budget.c - budgets' thresholds and alerts (broker/budget.c) and the
 * os-simple-tenant-usage figures from a ledger (broker/billing_usage.c).
 *
 * The threshold rule is checked alone and then through budget_check over a real store
 * (SQLite in a throwaway directory) holding a policy document and ledger events, with the
 * settable clock: an alert is raised once per (project, budget, month, threshold), and a new
 * month starts again (tests/pg_throwaway.sh runs the same on PostgreSQL). Webhook deliveries go to
 * a port nobody listens on, so every attempt fails and the stored schedule (5 s, 10 s, 20 s, ...)
 * is what the test reads.
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

#include "billing_usage.h"
#include "budget.h"
#include "cmd_usage.h"
#include "federation.h"
#include "nph_clock.h"
#include "nph_ledger.h"
#include "pol_time.h"

static int64_t at(const char *iso)
{
    int64_t t = 0;
    assert_int_equal(pol_time_parse(iso, &t), 0);
    return t;
}

/* ---- the threshold rule ------------------------------------------------------------------- */

static struct pol_budget budget(const int *th, size_t n)
{
    struct pol_budget b;
    memset(&b, 0, sizeof(b));
    b.project = "p";
    for (size_t i = 0; i < n; i++)
        b.thresholds[i] = th[i];
    b.nthresholds = n;
    return b;
}

static void test_crossed(void **state)
{
    (void)state;
    static const int dflt[] = {50, 80, 100};
    struct pol_budget b = budget(dflt, 3);
    int out[POL_BUDGET_MAX_THRESHOLDS];
    int64_t limit = 2000000; /* 2.00 */
    assert_int_equal(budget_crossed(&b, 0, limit, out), 0);
    assert_int_equal(budget_crossed(&b, 999999, limit, out), 0);  /* 49.99995 % */
    assert_int_equal(budget_crossed(&b, 1000000, limit, out), 1); /* exactly 50 % crosses */
    assert_int_equal(out[0], 50);
    assert_int_equal(budget_crossed(&b, 1660000, limit, out), 2); /* 83 % */
    assert_int_equal(out[0], 50);
    assert_int_equal(out[1], 80);
    assert_int_equal(budget_crossed(&b, 2060000, limit, out), 3); /* 103 % */
    assert_int_equal(out[2], 100);
    /* a zero budget is crossed by any spend, not by none */
    assert_int_equal(budget_crossed(&b, 0, 0, out), 0);
    assert_int_equal(budget_crossed(&b, 1, 0, out), 3);
    /* configured thresholds, above 100 %; huge amounts do not overflow */
    static const int custom[] = {90, 150};
    b = budget(custom, 2);
    assert_int_equal(budget_crossed(&b, 2999999, limit, out), 1);
    assert_int_equal(out[0], 90);
    assert_int_equal(budget_crossed(&b, 3000000, limit, out), 2);
    assert_int_equal(budget_crossed(&b, INT64_MAX / 2, INT64_MAX / 2, out), 1);
}

static void test_retry_delay(void **state)
{
    (void)state;
    assert_int_equal(budget_retry_delay(1), 5);
    assert_int_equal(budget_retry_delay(2), 10);
    assert_int_equal(budget_retry_delay(3), 20);
    assert_int_equal(budget_retry_delay(7), 320);
    assert_int_equal(budget_retry_delay(8), 600); /* 640 capped */
    assert_int_equal(budget_retry_delay(9), 600);
    assert_int_equal(budget_retry_delay(BUDGET_MAX_ATTEMPTS), -1); /* given up */
}

static void test_month_key(void **state)
{
    (void)state;
    char k[8];
    budget_month_key(at("2027-01-31T23:59:59Z"), k);
    assert_string_equal(k, "2027-01");
    budget_month_key(at("2027-02-01T00:00:00Z"), k);
    assert_string_equal(k, "2027-02");
}

/* ---- the check over a store --------------------------------------------------------------- */

struct fx {
    char dir[64];
    struct nph_config cfg;
    struct nph_store *store;
    struct budget_svc *svc;
};

static const char config_yaml[] =
    "currency: EUR\n"
    "clouds:\n"
    "  - name: home\n"
    "    kind: local\n"
    "    offerings:\n"
    "      - { name: m1.tiny, vcpus: 1, ram_mb: 512, price: { per_hour: \"0.10\", currency: EUR "
    "} }\n"
    "billing:\n"
    "  alert_webhook: http://127.0.0.1:1/hook\n";

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-budget-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(nph_config_init(&f->cfg, &err), 0);
    assert_int_equal(nph_config_set(&f->cfg, "data_dir", f->dir, &err), 0);
    assert_int_equal(
        nph_config_load_yaml(&f->cfg, "t.yaml", config_yaml, strlen(config_yaml), &err), 0);
    assert_int_equal(nph_config_finish(&f->cfg, &err), 0);
    /* NPH_TEST_PG_URL (tests/pg_throwaway.sh): the same checks on PostgreSQL */
    const char *pg = getenv("NPH_TEST_PG_URL");
    if (pg && *pg)
        snprintf(url, sizeof(url), "%s", pg);
    else
        snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    if (nph_store_open(url, 2, &f->store, &err) != 0)
        fail_msg("store: %s", err.msg);
    assert_int_equal(nph_ledger_migrate(f->store, NULL, &err), 0);
    assert_int_equal(fed_migrate(f->store, NULL, &err), 0);
    assert_int_equal(budget_migrate(f->store, NULL, &err), 0);
    f->svc = budget_open(f->store, &f->cfg, &err);
    assert_non_null(f->svc);
    *state = f;
    return 0;
}

static void sql(struct fx *f, const char *text);

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    /* a PostgreSQL database outlives the test: leave it empty for the next one */
    sql(f, "DELETE FROM budget_alert");
    sql(f, "DELETE FROM fed_policy");
    sql(f, "DELETE FROM ledger_event");
    budget_close(f->svc);
    nph_store_close(f->store);
    nph_config_fini(&f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    nph_clock_set_fixed(0);
    free(f);
    return 0;
}

static void sql(struct fx *f, const char *text)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    assert_non_null(db);
    if (nph_db_exec(db, text, &err) != 0)
        fail_msg("%s: %s", text, err.msg);
    nph_store_release(db);
}

static void events(struct fx *f, const char *jsonl)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_uevents ev;
    pol_uevents_init(&ev);
    if (pol_uevents_parse(&ev, "t", jsonl, strlen(jsonl), &err) != 0)
        fail_msg("%s", err.msg);
    struct nph_db *db = nph_store_acquire(f->store, &err);
    assert_int_equal(usage_ledger_import(db, &ev, &err), 0);
    nph_store_release(db);
    pol_uevents_fini(&ev);
}

/* Run a check at time `iso`; the thresholds it raised for project p, as "50,80". */
static void check_at(struct fx *f, const char *iso, const char *project, const char *expect)
{
    struct nph_error err = NPH_ERROR_INIT;
    nph_clock_set_fixed(at(iso) * NPH_USEC_PER_SEC);
    json_t *raised = json_array();
    if (budget_check(f->svc, raised, &err) != 0)
        fail_msg("check: %s", err.msg);
    char got[64] = "";
    size_t i;
    json_t *a;
    json_array_foreach(raised, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "project")), project) != 0)
            continue;
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s%d", n ? "," : "",
                 (int)json_integer_value(json_object_get(a, "threshold")));
    }
    json_decref(raised);
    if (strcmp(got, expect) != 0)
        fail_msg("at %s: raised [%s], expected [%s]", iso, got, expect);
}

static void test_check_once_per_month(void **state)
{
    struct fx *f = *state;
    /* p: 10.00 EUR a month (default thresholds); every project: 1.00 EUR, alert at 100 % */
    sql(f, "INSERT INTO fed_policy (name, version, document, created_at) VALUES ('money', 1,"
           " 'budgets:\n  - project: p\n    monthly: { amount: \"10.00\", currency: EUR }\n"
           "  - project: \"*\"\n    name: all\n    monthly: { amount: \"1.00\", currency: EUR }\n"
           "    thresholds: [100]\n', 0)");
    /* one server of p at 0.10 EUR/h from 2027-01-01: 50 h = 5.00 EUR on 01-03T02:00 */
    events(f, "{\"ts\":\"2027-01-01T00:00:00Z\",\"event\":\"created\",\"resource\":\"s1\","
              "\"type\":\"server\",\"project\":\"p\",\"cloud\":\"home\",\"region\":null,"
              "\"offering\":\"m1.tiny\"}\n");
    check_at(f, "2027-01-01T09:00:00Z", "p", "");       /* 0.90 EUR */
    check_at(f, "2027-01-01T10:00:00Z", "p", "100");    /* 1.00: the "*" budget's 100 % */
    check_at(f, "2027-01-01T10:00:01Z", "p", "");       /* raised at 10:00 already */
    check_at(f, "2027-01-03T01:59:59Z", "p", "");       /* just below 5.00 */
    check_at(f, "2027-01-03T02:00:00Z", "p", "50");     /* 5.00 = 50 % */
    check_at(f, "2027-01-03T03:00:00Z", "p", "");       /* once */
    check_at(f, "2027-01-05T12:00:00Z", "p", "80,100"); /* 10.80 EUR: both at once */
    check_at(f, "2027-01-06T00:00:00Z", "p", "");
    /* February starts again: 0.90 EUR at 09:00, then p's 50 % and the "*" budget's 100 % */
    check_at(f, "2027-02-01T09:00:00Z", "p", "");
    check_at(f, "2027-02-03T02:00:00Z", "p", "50,100");
    struct nph_error err = NPH_ERROR_INIT;
    json_t *jan = budget_alerts(f->svc, "p", "2027-01", &err);
    json_t *feb = budget_alerts(f->svc, "p", "2027-02", &err);
    assert_non_null(jan);
    assert_non_null(feb);
    /* January: *'s 100 %, then p's 50, 80, 100; February: *'s 100 %, p's 50 */
    assert_int_equal(json_array_size(json_object_get(jan, "alerts")), 4);
    assert_int_equal(json_array_size(json_object_get(feb, "alerts")), 2);
    json_t *a = json_array_get(json_object_get(jan, "alerts"), 3); /* oldest */
    assert_string_equal(json_string_value(json_object_get(a, "budget")), "money/all");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "spend"), "amount")),
                        "1.00");
    json_decref(jan);
    json_decref(feb);
    assert_null(budget_alerts(f->svc, "p", "2027-1", &err));
    assert_int_equal(err.code, NPH_E_INVALID);

    /* /v1/budgets' view in February: p's budget at 50 %, the "*" one at 500 % */
    json_t *l = budget_list(f->svc, "p", &err);
    assert_non_null(l);
    assert_string_equal(json_string_value(json_object_get(l, "month")), "2027-02");
    json_t *b0 = json_array_get(json_object_get(l, "budgets"), 0);
    assert_string_equal(json_string_value(json_object_get(b0, "budget")), "money/p");
    assert_true(json_real_value(json_object_get(b0, "percent")) == 50.0);
    json_t *b1 = json_array_get(json_object_get(l, "budgets"), 1);
    assert_string_equal(json_string_value(json_object_get(b1, "budget")), "money/all");
    assert_true(json_real_value(json_object_get(b1, "percent")) == 500.0);
    assert_int_equal(json_array_size(json_object_get(b1, "alerts")), 1);
    json_decref(l);
}

static void test_delivery_schedule(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    sql(f, "INSERT INTO fed_policy (name, version, document, created_at) VALUES ('money', 1,"
           " 'budgets:\n  - project: p\n    monthly: { amount: \"1.00\", currency: EUR }\n"
           "    thresholds: [100]\n', 0)");
    events(f, "{\"ts\":\"2027-01-01T00:00:00Z\",\"event\":\"created\",\"resource\":\"s1\","
              "\"type\":\"server\",\"project\":\"p\",\"cloud\":\"home\",\"region\":null,"
              "\"offering\":\"m1.tiny\"}\n");
    check_at(f, "2027-01-01T10:00:00Z", "p", "100");
    /* each failed attempt waits 5, 10, 20 s before the next; nothing is due in between */
    static const int64_t waits[] = {5, 10, 20, 40};
    int64_t t = at("2027-01-01T10:00:00Z");
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        nph_clock_set_fixed(t * NPH_USEC_PER_SEC);
        assert_int_equal(budget_deliver_due(f->svc, &err), 0);
        json_t *al = budget_alerts(f->svc, "p", NULL, &err);
        json_t *d = json_object_get(json_array_get(json_object_get(al, "alerts"), 0), "delivery");
        assert_int_equal(json_integer_value(json_object_get(d, "attempts")), (json_int_t)i + 1);
        assert_string_equal(json_string_value(json_object_get(d, "state")), "pending");
        assert_non_null(json_string_value(json_object_get(d, "last_error")));
        char want[32];
        nph_time_format((t + waits[i]) * NPH_USEC_PER_SEC, 0, want, sizeof(want));
        assert_string_equal(json_string_value(json_object_get(d, "next_attempt")), want);
        json_decref(al);
        /* one second early: not due, the attempts stay */
        nph_clock_set_fixed((t + waits[i] - 1) * NPH_USEC_PER_SEC);
        assert_int_equal(budget_deliver_due(f->svc, &err), 0);
        al = budget_alerts(f->svc, "p", NULL, &err);
        d = json_object_get(json_array_get(json_object_get(al, "alerts"), 0), "delivery");
        assert_int_equal(json_integer_value(json_object_get(d, "attempts")), (json_int_t)i + 1);
        json_decref(al);
        t += waits[i];
    }
}

/* ---- os-simple-tenant-usage from a ledger ------------------------------------------------- */

static int flavors(void *ctx, const char *name, struct tu_flavor *out)
{
    (void)ctx;
    if (strcmp(name, "m1.tiny") == 0)
        *out = (struct tu_flavor){1, 512, 1};
    else if (strcmp(name, "m1.medium") == 0)
        *out = (struct tu_flavor){2, 4096, 40};
    else
        return -1;
    return 0;
}

#define EV(ts, ev, res, proj, cloud, off)                                                          \
    "{\"ts\":\"" ts "\",\"event\":\"" ev "\",\"resource\":\"" res "\",\"type\":\"server\","        \
    "\"project\":\"" proj "\",\"cloud\":\"" cloud "\",\"region\":null,\"offering\":" off "}\n"

static void test_tenant_usage(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_uevents ev;
    struct tu_report r;
    /* period: 2027-01-10 00:00 to 2027-01-11 00:00 */
    static const char lines[] =
        /* a: created before the period, deleted in it (6 h inside), stopped meanwhile */
        EV("2027-01-09T12:00:00Z", "created", "a", "p", "home", "\"m1.tiny\"")
            EV("2027-01-10T02:00:00Z", "stopped", "a", "p", "home", "null")
                EV("2027-01-10T06:00:00Z", "deleted", "a", "p", "home", "null")
        /* b: created in the period, resized at 08:00 to m1.medium, still running (to the end) */
        EV("2027-01-10T04:00:00Z", "created", "b", "p", "home", "\"m1.tiny\"")
            EV("2027-01-10T08:00:00Z", "resized", "b", "p", "home", "\"m1.medium\"")
        /* c: deleted before the period; d: created after it; e: another cloud; f: project q */
        EV("2027-01-08T00:00:00Z", "created", "c", "p", "home", "\"m1.tiny\"")
            EV("2027-01-09T00:00:00Z", "deleted", "c", "p", "home", "null")
                EV("2027-01-11T00:00:00Z", "created", "d", "p", "home", "\"m1.tiny\"")
                    EV("2027-01-10T00:00:00Z", "created", "e", "p", "other", "\"m1.tiny\"")
                        EV("2027-01-10T23:00:00Z", "created", "f", "q", "home", "\"m1.tiny\"");
    pol_uevents_init(&ev);
    assert_int_equal(pol_uevents_parse(&ev, "t", lines, strlen(lines), &err), 0);
    int64_t from = at("2027-01-10T00:00:00Z"), to = at("2027-01-11T00:00:00Z");
    assert_int_equal(tu_compute(&ev, "home", NULL, from, to, flavors, NULL, &r, &err), 0);
    assert_int_equal(r.n, 3); /* a, b, f: by start time */
    const struct tu_server *a = &r.v[0], *b = &r.v[1], *f = &r.v[2];
    assert_string_equal(a->resource, "a");
    assert_string_equal(b->resource, "b");
    assert_string_equal(f->resource, "f");
    /* a: 6 h inside (stopped or not: Nova counts existence), ended, m1.tiny */
    assert_int_equal(a->seconds, 6 * 3600);
    assert_true(tu_hours(a->seconds) == 6.0);
    assert_int_equal(a->ended, at("2027-01-10T06:00:00Z"));
    assert_int_equal(a->started, at("2027-01-09T12:00:00Z"));
    assert_int_equal(a->vcpu_s, 6 * 3600);
    assert_int_equal(a->mb_s, 6 * 3600 * 512);
    assert_int_equal(a->gb_s, 6 * 3600);
    assert_true(a->stopped);
    /* b: 4 h of m1.tiny then 16 h of m1.medium */
    assert_int_equal(b->seconds, 20 * 3600);
    assert_int_equal(b->ended, 0);
    assert_string_equal(b->offering, "m1.medium");
    assert_int_equal(b->flavor.vcpus, 2);
    assert_int_equal(b->vcpu_s, (4 * 1 + 16 * 2) * 3600);
    assert_int_equal(b->mb_s, (4 * 512 + 16 * 4096) * 3600LL);
    assert_int_equal(b->gb_s, (4 * 1 + 16 * 40) * 3600);
    assert_int_equal(f->seconds, 3600);
    tu_report_fini(&r);
    /* one project; every cloud */
    assert_int_equal(tu_compute(&ev, NULL, "p", from, to, flavors, NULL, &r, &err), 0);
    assert_int_equal(r.n, 3); /* a, b, e */
    assert_string_equal(r.v[0].resource, "a");
    assert_string_equal(r.v[1].resource, "e");
    assert_int_equal(r.v[1].seconds, 24 * 3600);
    tu_report_fini(&r);
    /* an unknown flavor counts hours at size zero */
    assert_int_equal(tu_compute(&ev, "home", "q", from, to, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].seconds, 3600);
    assert_int_equal(r.v[0].vcpu_s, 0);
    tu_report_fini(&r);
    pol_uevents_fini(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crossed),
        cmocka_unit_test(test_retry_delay),
        cmocka_unit_test(test_month_key),
        cmocka_unit_test_setup_teardown(test_check_once_per_month, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_schedule, setup, teardown),
        cmocka_unit_test(test_tenant_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
