/*
 * test_usage_sql.c - the report's aggregation pushed into SQL on PostgreSQL (usage_bill_sql)
 * gives the same bill as rating the ledger's events in memory (pol_bill_rate): every line,
 * every quantity and amount, the total and the daily costs. Two ledgers: the hand-worked
 * scenario tests/scenarios/billing/two-clouds (whose total is also checked against
 * expected.json), and a pseudo-random one exercising every interval rule (stop/start with and
 * without bill_stopped, resizes that carry or change the offering and size, ledgers that start
 * mid-life, several events in one second, hour granularity, dated prices). Needs a server:
 * NPH_TEST_PG_URL (ctest runs it under tests/pg_throwaway.sh as broker/test_usage_sql_pg);
 * without one the cases are skipped with a printed reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_usage.h"
#include "nph_clock.h"
#include "nph_config.h"
#include "nph_ledger.h"
#include "pol_time.h"
#include "pol_yaml.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static struct pol_catalog *catalog(const char *text)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *doc = nph_yaml_to_json("config.yaml", text, strlen(text), &err);
    json_t *lines = pol_yaml_lines(text, strlen(text));
    struct pol_catalog *cat = doc ? pol_catalog_from_config(doc, lines, "config.yaml", &err) : NULL;
    if (!cat)
        fail_msg("catalog: %s", err.msg);
    json_decref(doc);
    json_decref(lines);
    return cat;
}

/* A connection to an empty ledger, or NULL (skip) without a server. */
static struct nph_db *pg_fresh(struct nph_store **s)
{
    struct nph_error err = NPH_ERROR_INIT;
    const char *url = getenv("NPH_TEST_PG_URL");
    struct nph_db *db;
    if (!url || !*url) {
        print_message("usage_sql: NPH_TEST_PG_URL is not set, skipping (run under "
                      "tests/pg_throwaway.sh to get a server)\n");
        return NULL;
    }
    if (nph_store_open(url, 1, s, &err) || nph_ledger_migrate(*s, NULL, &err))
        fail_msg("%s: %s (%s)", url, err.msg, err.detail);
    assert_non_null(db = nph_store_acquire(*s, &err));
    assert_int_equal(nph_db_exec(db,
                                 "DELETE FROM ledger_event; DELETE FROM usage_interval;"
                                 " DELETE FROM usage_open; DELETE FROM usage_month",
                                 &err),
                     0);
    return db;
}

/* Rate [from, to) both ways and compare everything; returns the SQL path's JSON. */
static json_t *both_ways(struct nph_db *db, const struct pol_catalog *cat, int64_t from, int64_t to,
                         int64_t open_end, const char *group, const char *currency,
                         const char *project)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_bill_query q = {from, to, open_end, currency, 0};
    struct pol_uevents ev;
    struct pol_bill *mem = NULL, *sql = NULL;
    assert_int_equal(pol_group_parse(group, &q.group_by, &err), 0);
    pol_uevents_init(&ev);
    assert_int_equal(usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC, to, project, &ev, &err),
                     0);
    if (pol_bill_rate(cat, &ev, &q, &mem, &err))
        fail_msg("in memory: %s", err.msg);
    if (usage_bill_sql(db, cat, &q, project, &sql, &err))
        fail_msg("sql: %s (%s)", err.msg, err.detail);
    /* the intervals maintained at ingestion give what the events give */
    struct pol_bill *evsql = NULL;
    if (usage_bill_sql_events(db, cat, &q, project, &evsql, &err))
        fail_msg("sql over events: %s (%s)", err.msg, err.detail);
    json_t *je = pol_bill_to_json(evsql);
    json_t *jm = pol_bill_to_json(mem), *js = pol_bill_to_json(sql);
    if (!json_equal(je, js))
        fail_msg("the intervals differ from the events' window functions (group_by %s)", group);
    json_decref(je);
    pol_bill_free(evsql);
    /* the roll-up gives what splitting every day from the segments gives */
    struct pol_bill *ivsql = NULL;
    if (usage_bill_sql_intervals(db, cat, &q, project, &ivsql, &err))
        fail_msg("sql over the intervals: %s (%s)", err.msg, err.detail);
    je = pol_bill_to_json(ivsql);
    if (!json_equal(je, js))
        fail_msg("the roll-up differs from the intervals (group_by %s)", group);
    json_decref(je);
    pol_bill_free(ivsql);
    if (!json_equal(jm, js)) {
        char *a = json_dumps(jm, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        char *b = json_dumps(js, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        fprintf(stderr, "group %s: in memory\n%s\nsql\n%s\n", group, a, b);
        free(a);
        free(b);
        fail_msg("the SQL aggregation differs from the in-memory rating (group_by %s)", group);
    }
    /* the raw (unrounded) amounts, usage and the daily costs too */
    assert_int_equal(mem->nlines, sql->nlines);
    for (size_t i = 0; i < mem->nlines; i++) {
        assert_int_equal(mem->lines[i].raw, sql->lines[i].raw);
        assert_int_equal(mem->lines[i].usage, sql->lines[i].usage);
    }
    assert_int_equal(mem->ndays, sql->ndays);
    for (size_t i = 0; i < mem->ndays; i++)
        assert_int_equal(mem->daily[i], sql->daily[i]);
    assert_int_equal(mem->total, sql->total);
    /* usage_bill picks the SQL path on PostgreSQL */
    struct pol_bill *via = NULL;
    assert_int_equal(usage_bill(db, cat, &q, project, &via, &err), 0);
    assert_int_equal(via->total, sql->total);
    pol_bill_free(via);
    pol_bill_free(mem);
    pol_bill_free(sql);
    pol_uevents_fini(&ev);
    json_decref(jm);
    return js;
}

static const char *const groups[] = {
    "project,cloud", "project,cloud,offering",
    "cloud",         "region",
    "offering",      "project,cloud,region,resource_type,offering",
};

static int64_t T(const char *s)
{
    int64_t t = 0;
    assert_int_equal(pol_time_parse(s, &t), 0);
    return t;
}

static void test_scenario_two_clouds(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db = pg_fresh(&s);
    const char *src = getenv("NPH_SOURCE_DIR");
    char path[4096];
    size_t clen, elen;
    struct pol_uevents ev;
    (void)state;
    if (!db)
        skip();
    snprintf(path, sizeof(path), "%s/tests/scenarios/billing/two-clouds/config.yaml",
             src ? src : "../..");
    char *ctext = slurp(path, &clen);
    snprintf(path, sizeof(path), "%s/tests/scenarios/billing/two-clouds/events.jsonl",
             src ? src : "../..");
    char *etext = slurp(path, &elen);
    struct pol_catalog *cat = catalog(ctext);
    pol_uevents_init(&ev);
    assert_int_equal(pol_uevents_parse(&ev, "events.jsonl", etext, elen, &err), 0);
    assert_int_equal(usage_ledger_import(db, &ev, &err), 0);

    /* expected.json's first case, worked out by hand: 59.42 EUR over seven lines */
    json_t *j = both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"),
                          "project,cloud,offering", "EUR", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "total")), "59.42");
    assert_int_equal(json_array_size(json_object_get(j, "lines")), 7);
    json_decref(j);
    j = both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"), "cloud", "EUR", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "total")), "59.42");
    json_decref(j);
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        json_decref(both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"), groups[g],
                              "USD", NULL));
        json_decref(both_ways(db, cat, T("2026-11-14T10:30:00Z"), T("2026-11-18T09:00:00Z"),
                              T("2026-11-18T09:00:00Z"), groups[g], "EUR", NULL));
        /* a report reaching into the future: open intervals end "now" */
        json_decref(both_ways(db, cat, T("2026-11-01"), T("2026-12-02"), T("2026-11-17T12:34:56Z"),
                              groups[g], "EUR", NULL));
        json_decref(both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"), groups[g],
                              "EUR", "beta"));
    }
    pol_uevents_fini(&ev);
    pol_catalog_free(cat);
    free(ctext);
    free(etext);
    nph_store_release(db);
    nph_store_close(s);
}

static const char random_config[] =
    "currency: EUR\n"
    "exchange_rates:\n"
    "  - { from: USD, to: EUR, rate: \"0.90\", date: \"2026-10-01\" }\n"
    "  - { from: USD, to: EUR, rate: \"0.93\", date: \"2026-11-07\" }\n"
    "  - { from: EUR, to: JPY, rate: \"160\", date: \"2026-10-01\" }\n"
    "  - { from: USD, to: JPY, rate: \"150.5\", date: \"2026-10-01\" }\n"
    "clouds:\n"
    "  - name: home\n"
    "    kind: local\n"
    "    billing: { granularity: second, bill_stopped: true }\n"
    "    prices:\n"
    "      volume_gb_month:\n"
    "        - { amount: \"0.10\", currency: EUR, until: \"2026-11-11T06:00:00Z\" }\n"
    "        - { amount: \"0.12\", currency: EUR, from: \"2026-11-11T06:00:00Z\" }\n"
    "      object_gb_month: { amount: \"0.02\", currency: EUR }\n"
    "    regions: [ { name: r1 }, { name: r2 } ]\n"
    "    offerings:\n"
    "      - { name: a, vcpus: 1, ram_mb: 1024, price: { per_hour: \"0.0133\", currency: EUR } }\n"
    "      - name: b\n"
    "        vcpus: 2\n"
    "        ram_mb: 2048\n"
    "        price:\n"
    "          - { per_hour: \"0.041\", currency: EUR, until: \"2026-11-15T13:00:00Z\" }\n"
    "          - { per_hour: \"0.057\", currency: EUR, from: \"2026-11-15T13:00:00Z\" }\n"
    "  - name: aws\n"
    "    kind: ec2\n"
    "    billing: { granularity: hour }\n"
    "    prices:\n"
    "      volume_gb_month: { amount: \"0.08\", currency: USD }\n"
    "    regions: [ { name: us-1 } ]\n"
    "    offerings:\n"
    "      - { name: a, vcpus: 1, ram_mb: 1024, price: { per_hour: \"0.0111\", currency: USD } }\n"
    "      - { name: c, vcpus: 4, ram_mb: 8192, price: { per_hour: \"0.1923\", currency: USD } }\n";

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { NRES = 400, MAXEV = 12 };

/* A random ledger of NRES resources over two clouds into evs (NRES * MAXEV), ids (NRES). */
static size_t gen_random(struct nph_ledger_event *evs, char (*ids)[16])
{
    static const char *const projects[] = {"p1", "p2", "p3"};
    static const char *const types[] = {"server", "server", "volume", "bucket"};
    size_t n = 0;
    int64_t base = T("2026-10-20") * NPH_USEC_PER_SEC;
    for (int r = 0; r < NRES; r++) {
        const char *type = types[next_rand() % 4];
        int aws = next_rand() % 3 == 0;
        const char *cloud = aws ? "aws" : "home";
        const char *region = aws ? "us-1" : (next_rand() % 2 ? "r1" : "r2");
        const char *project = projects[next_rand() % 3];
        int64_t ts = base + (int64_t)(next_rand() % (40LL * 86400)) * NPH_USEC_PER_SEC;
        int nev = 1 + (int)(next_rand() % MAXEV);
        snprintf(ids[r], sizeof(ids[r]), "res-%d", r);
        for (int k = 0; k < nev; k++) {
            struct nph_ledger_event *e = &evs[n++];
            /* the first event is usually created; some ledgers start mid-life */
            int kind = k == 0 && next_rand() % 5 ? NPH_LEDGER_CREATED : (int)(next_rand() % 5);
            const char *offering = NULL;
            if (!strcmp(type, "server") && (k == 0 || kind == NPH_LEDGER_CREATED ||
                                            kind == NPH_LEDGER_RESIZED || next_rand() % 2))
                offering = aws ? (next_rand() % 2 ? "a" : "c") : (next_rand() % 2 ? "a" : "b");
            if (k > 0 && kind == NPH_LEDGER_RESIZED && next_rand() % 4 == 0)
                offering = NULL; /* a resize that does not say: the offering carries on */
            *e = (struct nph_ledger_event){
                ts + (int64_t)(next_rand() % 1000000), /* sub-second: stored, rated to the s */
                (enum nph_ledger_kind)kind,
                ids[r],
                type,
                project,
                cloud,
                region,
                offering,
                strcmp(type, "server") && (kind != NPH_LEDGER_STOPPED || next_rand() % 2)
                    ? (int64_t)(next_rand() % 500)
                    : -1};
            if (strcmp(type, "server") && kind == NPH_LEDGER_STARTED && next_rand() % 2)
                e->size_gb = -1;
            /* several events in one second now and then (order: ts, then id) */
            int64_t step = next_rand() % 6 == 0 ? 0 : (int64_t)(next_rand() % (5LL * 86400));
            ts += step * NPH_USEC_PER_SEC;
        }
    }
    return n;
}

static int64_t count(struct nph_db *db, const char *sql)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_stmt *st = NULL;
    if (nph_db_queryf(db, &err, &st, sql, "") != 1)
        fail_msg("%s: %s (%s)", sql, err.msg, err.detail);
    int64_t n = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    return n;
}

/* The daily roll-up maintained at ingestion (added to per batch, taken back when a resource is
 * re-derived) is exactly the roll-up of the closed segments recomputed from scratch (the
 * SQL of ledger migration 4), row for row; rows whose sums went back to zero aside. */
static void check_rollup(struct nph_db *db, int64_t min_rows)
{
    static const char fresh[] =
        "SELECT d, project_id, cloud, COALESCE('+' || region, '-'), COALESCE('+' || offering, "
        "'-'), rtype, state, COUNT(*) FILTER (WHERE e > d), COUNT(*),"
        " SUM(GREATEST(LEAST(e, d + 86400) - GREATEST(s, d), 0) * m),"
        " SUM((LEAST(eh, d + 86400) - GREATEST(s, d)) * m)"
        " FROM (SELECT *, s + (e - s + 3599) / 3600 * 3600 AS eh,"
        "  CASE WHEN rtype = 'server' THEN 1 ELSE size_gb END AS m"
        "  FROM usage_interval WHERE e > s) i,"
        " generate_series(s - ((s % 86400) + 86400) % 86400, eh - 1, 86400) AS d"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7";
    static const char kept[] = "SELECT day, project_id, cloud, region, offering, rtype, state, n,"
                               " nh, q, qh FROM usage_day WHERE n <> 0 OR nh <> 0 OR q <> 0"
                               " OR qh <> 0";
    char sql[2048];
    int64_t rows = count(db, "SELECT COUNT(*) FROM usage_day WHERE q > 0");
    assert_true(rows >= min_rows);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM ((%s) EXCEPT ALL (%s)) x", kept, fresh);
    assert_int_equal(count(db, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM ((%s) EXCEPT ALL (%s)) x", fresh, kept);
    assert_int_equal(count(db, sql), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_day WHERE n < 0 OR nh < n OR q < 0"
                               " OR qh < q"),
                     0);
}

/* The bill of the random ledger, every group, three periods, both ways. */
static void check_random(struct nph_db *db, const struct pol_catalog *cat)
{
    check_rollup(db, 100);
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        json_t *j = both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"), groups[g],
                              "EUR", NULL);
        /* not a trivial comparison: 3 projects x 2 clouds x 3 types have usage */
        if (g == 0)
            assert_true(json_array_size(json_object_get(j, "lines")) >= 12);
        assert_true(strtod(json_string_value(json_object_get(j, "total")), NULL) > 10.0);
        json_decref(j);
        json_decref(both_ways(db, cat, T("2026-11-03T07:13:00Z"), T("2026-11-21T00:00:00Z"),
                              T("2026-11-21T00:00:00Z"), groups[g], "JPY", NULL));
        json_decref(both_ways(db, cat, T("2026-10-15"), T("2027-01-01"), T("2026-11-28T05:05:05Z"),
                              groups[g], "EUR", "p2"));
    }
}

static void test_random_ledger(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db = pg_fresh(&s);
    struct nph_ledger_event *evs = calloc(NRES * MAXEV, sizeof(*evs));
    char(*ids)[16] = calloc(NRES, sizeof(*ids));
    size_t n;
    (void)state;
    if (!db) {
        free(evs);
        free(ids);
        skip();
    }
    struct pol_catalog *cat = catalog(random_config);
    n = gen_random(evs, ids);
    assert_int_equal(nph_ledger_append_many(db, evs, n, NULL, &err), 0);
    check_random(db, cat);
    /* a rating error found on the SQL path is reported by the in-memory one (names a resource) */
    struct pol_bill_query q = {T("2026-11-01"), T("2026-12-01"), T("2026-12-01"), "GBP",
                               POL_G_PROJECT};
    struct pol_bill *b = NULL;
    assert_int_equal(usage_bill(db, cat, &q, NULL, &b, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "no exchange rate from"));
    assert_non_null(strstr(err.msg, "'res-"));
    assert_null(b);
    pol_catalog_free(cat);
    free(evs);
    free(ids);
    nph_store_release(db);
    nph_store_close(s);
}

/* The same ledger arriving the way a live broker and imports write it: in small transactions,
 * single events, some late (an event older than its resource's open segment re-derives the
 * resource), and a batch rolled back with the state change it belonged to. The intervals
 * must still give the bill of the events. */
static void test_random_chunks(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db = pg_fresh(&s);
    struct nph_ledger_event *evs = calloc(NRES * MAXEV, sizeof(*evs));
    char(*ids)[16] = calloc(NRES, sizeof(*ids));
    size_t n, late = 0, rolled = 0;
    (void)state;
    if (!db) {
        free(evs);
        free(ids);
        skip();
    }
    struct pol_catalog *cat = catalog(random_config);
    n = gen_random(evs, ids);
    /* sort by time (as a live broker writes), then delay one event in ten */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && evs[j - 1].ts > evs[j].ts; j--) {
            struct nph_ledger_event t = evs[j];
            evs[j] = evs[j - 1];
            evs[j - 1] = t;
        }
    for (size_t i = 0; i + 1 < n; i++)
        if (next_rand() % 10 == 0) {
            size_t j = i + 1 + next_rand() % (n - i - 1 < 300 ? n - i - 1 : 300);
            struct nph_ledger_event t = evs[i];
            memmove(&evs[i], &evs[i + 1], (j - i) * sizeof(*evs));
            evs[j] = t;
            late++;
        }
    for (size_t i = 0; i < n;) {
        size_t c = 1 + next_rand() % 40;
        if (c > n - i)
            c = n - i;
        if (next_rand() % 8 == 0) { /* a transaction that rolls back takes its intervals */
            assert_int_equal(nph_db_begin(db, &err), 0);
            assert_int_equal(nph_ledger_append_many(db, evs + i, c, NULL, &err), 0);
            assert_int_equal(nph_db_rollback(db, &err), 0);
            rolled++;
        }
        if (c < 4) {
            for (size_t k = 0; k < c; k++)
                assert_int_equal(nph_ledger_append(db, &evs[i + k], &err), 0);
        } else if (nph_ledger_append_many(db, evs + i, c, NULL, &err)) {
            fail_msg("append_many: %s (%s)", err.msg, err.detail);
        }
        i += c;
    }
    assert_true(late > 100);
    assert_true(rolled > 10);
    check_random(db, cat);
    pol_catalog_free(cat);
    free(evs);
    free(ids);
    nph_store_release(db);
    nph_store_close(s);
}

/* A store written before the intervals (ledger schema version 1: a text primary key and three
 * indexes) is migrated: its events stay, and the intervals derived from them give the bill. */
static void test_migration_from_v1(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db = pg_fresh(&s);
    struct nph_ledger_event *evs = calloc(NRES * MAXEV, sizeof(*evs));
    char(*ids)[16] = calloc(NRES, sizeof(*ids));
    size_t n;
    int applied = 0, version = 0;
    (void)state;
    if (!db) {
        free(evs);
        free(ids);
        skip();
    }
    struct pol_catalog *cat = catalog(random_config);
    n = gen_random(evs, ids);
    assert_int_equal(
        nph_db_exec(db,
                    "DROP TABLE ledger_event; DROP TABLE usage_interval; DROP TABLE usage_open;"
                    " DROP TABLE usage_month CASCADE;"
                    " DELETE FROM nph_schema_migrations WHERE component = 'ledger';"
                    " CREATE TABLE ledger_event (id TEXT PRIMARY KEY, ts BIGINT NOT NULL,"
                    " event TEXT NOT NULL, resource_id TEXT NOT NULL, resource_type TEXT NOT NULL,"
                    " project_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT, offering TEXT,"
                    " size_gb BIGINT);"
                    " CREATE INDEX ledger_event_resource ON ledger_event (resource_id, ts);"
                    " CREATE INDEX ledger_event_ts ON ledger_event (ts);"
                    " CREATE INDEX ledger_event_project ON ledger_event (project_id, ts);"
                    " INSERT INTO nph_schema_migrations (component, version, name, applied_at)"
                    " VALUES ('ledger', 1, 'ledger events', 0)",
                    &err),
        0);
    assert_int_equal(nph_db_begin(db, &err), 0);
    for (size_t i = 0; i < n; i++) {
        char id[48];
        const struct nph_ledger_event *e = &evs[i];
        snprintf(id, sizeof(id), "0190a000-0000-7000-8000-%012zu", i); /* write order */
        if (nph_db_execf(db, &err, "INSERT INTO ledger_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         "sisssssssi", id, e->ts, nph_ledger_kind_name(e->kind), e->resource_id,
                         e->resource_type, e->project_id, e->cloud, e->region, e->offering,
                         e->size_gb) < 0)
            fail_msg("insert: %s (%s)", err.msg, err.detail);
    }
    /* size_gb < 0 is NULL in the ledger */
    assert_true(nph_db_execf(db, &err, "UPDATE ledger_event SET size_gb = NULL WHERE size_gb < 0",
                             "") >= 0);
    assert_int_equal(nph_db_commit(db, &err), 0);
    nph_store_release(db);
    if (nph_ledger_migrate(s, &applied, &err))
        fail_msg("migrate: %s (%s)", err.msg, err.detail);
    assert_int_equal(applied, 4);
    assert_int_equal(nph_store_schema_version(s, "ledger", &version, &err), 0);
    assert_int_equal(version, 5);
    assert_non_null(db = nph_store_acquire(s, &err));
    struct nph_stmt *st = NULL;
    assert_int_equal(nph_db_queryf(db, &err, &st, "SELECT COUNT(*) FROM ledger_event", ""), 1);
    assert_int_equal(nph_stmt_col_int64(st, 0), (int64_t)n);
    nph_stmt_done(st);
    assert_int_equal(nph_db_queryf(db, &err, &st, "SELECT COUNT(*) FROM usage_open", ""), 1);
    assert_int_equal(nph_stmt_col_int64(st, 0), NRES);
    nph_stmt_done(st);
    check_random(db, cat);
    /* appending after the migration carries on from the migrated open segments */
    struct nph_ledger_event more = evs[0];
    more.ts = T("2026-11-20") * NPH_USEC_PER_SEC;
    more.kind = NPH_LEDGER_DELETED;
    assert_int_equal(nph_ledger_append(db, &more, &err), 0);
    check_random(db, cat);
    pol_catalog_free(cat);
    free(evs);
    free(ids);
    nph_store_release(db);
    nph_store_close(s);
}

static struct nph_ledger_event ev_at(const char *ts, enum nph_ledger_kind kind, const char *res,
                                     const char *type, const char *cloud, const char *offering,
                                     int64_t size_gb)
{
    return (struct nph_ledger_event){
        T(ts) * NPH_USEC_PER_SEC, kind, res, type, "p1", cloud, NULL, offering, size_gb};
}

/* The days a report takes from the roll-up and the days it splits itself, by hand: a price
 * change in mid-day (offering b at 11-15T13:00, volumes at 11-11T06:00), hour granularity (aws)
 * whose rounding spills over midnight, then events arriving late for days already rolled up
 * (the resource is re-derived and the roll-up takes its old shares back), a resource stopped
 * and started on a bill_stopped cloud, and a segment closed after the report's end while the
 * report ends "now" before it. Each step: every grouping, both ways, and the roll-up checked. */
static void test_rollup_days(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db = pg_fresh(&s);
    (void)state;
    if (!db)
        skip();
    struct pol_catalog *cat = catalog(random_config);
    struct nph_ledger_event first[] = {
        /* 11-05T23:50 to 11-06T00:20 rounds up to 11-06T00:50: 10 min + 50 min over midnight */
        ev_at("2026-11-05T23:50:00Z", NPH_LEDGER_CREATED, "s-aws", "server", "aws", "a", -1),
        ev_at("2026-11-06T00:20:00Z", NPH_LEDGER_RESIZED, "s-aws", "server", "aws", "c", -1),
        ev_at("2026-11-09T07:00:01Z", NPH_LEDGER_DELETED, "s-aws", "server", "aws", NULL, -1),
        /* across the price change of b (11-15T13:00) */
        ev_at("2026-11-14T20:00:00Z", NPH_LEDGER_CREATED, "s-b", "server", "home", "b", -1),
        ev_at("2026-11-16T01:00:00Z", NPH_LEDGER_STOPPED, "s-b", "server", "home", NULL, -1),
        ev_at("2026-11-17T01:00:00Z", NPH_LEDGER_STARTED, "s-b", "server", "home", NULL, -1),
        ev_at("2026-11-20T00:00:00Z", NPH_LEDGER_DELETED, "s-b", "server", "home", NULL, -1),
        /* across the volumes' price change (11-11T06:00) */
        ev_at("2026-11-10T12:00:00Z", NPH_LEDGER_CREATED, "v-1", "volume", "home", NULL, 40),
        ev_at("2026-11-12T12:00:00Z", NPH_LEDGER_RESIZED, "v-1", "volume", "home", NULL, 90),
        /* ending at midnight: rounded up, aws spills 30 minutes into 11-23; home does not */
        ev_at("2026-11-21T22:30:00Z", NPH_LEDGER_CREATED, "s-mid", "server", "aws", "a", -1),
        ev_at("2026-11-23T00:00:00Z", NPH_LEDGER_DELETED, "s-mid", "server", "aws", NULL, -1),
        ev_at("2026-11-21T22:30:00Z", NPH_LEDGER_CREATED, "s-mid2", "server", "home", "a", -1),
        ev_at("2026-11-23T00:00:00Z", NPH_LEDGER_DELETED, "s-mid2", "server", "home", NULL, -1),
        /* closed after the end of the November report (deleted 12-03) */
        ev_at("2026-11-25T08:00:00Z", NPH_LEDGER_CREATED, "s-late", "server", "aws", "a", -1),
        ev_at("2026-12-03T08:00:00Z", NPH_LEDGER_DELETED, "s-late", "server", "aws", NULL, -1),
    };
    struct nph_ledger_event later[] = {
        /* late: a resize on a day already rolled up, and one before the first event */
        ev_at("2026-11-07T10:15:00Z", NPH_LEDGER_RESIZED, "s-aws", "server", "aws", "a", -1),
        ev_at("2026-11-15T13:30:00Z", NPH_LEDGER_RESIZED, "s-b", "server", "home", "a", -1),
        ev_at("2026-11-08T00:00:00Z", NPH_LEDGER_CREATED, "v-1", "volume", "home", NULL, 10),
        ev_at("2026-11-11T05:59:59Z", NPH_LEDGER_RESIZED, "v-1", "volume", "home", NULL, 20),
    };
    const size_t nfirst = sizeof(first) / sizeof(first[0]);
    assert_int_equal(nph_ledger_append_many(db, first, nfirst, NULL, &err), 0);
    for (int step = 0; step < 3; step++) {
        if (step == 1) /* the late events in one batch */
            assert_int_equal(nph_ledger_append_many(db, later, 2, NULL, &err), 0);
        if (step == 2) /* one at a time */
            for (size_t i = 2; i < sizeof(later) / sizeof(later[0]); i++)
                assert_int_equal(nph_ledger_append(db, &later[i], &err), 0);
        /* the roll-up has the days of the closed segments, hour-rounded spill included */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_day WHERE day = 1793923200"
                                   " AND cloud = 'aws' AND offering = '+a' AND n = 1 AND nh = 1"
                                   " AND q = 1200 AND qh = 3000"),
                         1); /* 11-06: [00:00, 00:20), rounded [00:00, 00:50) */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_day WHERE day = 1795392000"
                                   " AND n = 0 AND nh = 1 AND q = 0 AND qh = 1800"),
                         2); /* 11-23: s-mid and s-mid2, as they are and rounded */
        check_rollup(db, 10);
        for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
            json_decref(both_ways(db, cat, T("2026-11-01"), T("2026-12-01"), T("2026-12-01"),
                                  groups[g], "EUR", NULL));
            /* "now" 11-28T10:00: s-late's segment ends then, not at its deletion */
            json_decref(both_ways(db, cat, T("2026-11-01"), T("2026-12-01"),
                                  T("2026-11-28T10:00:00Z"), groups[g], "USD", NULL));
            json_decref(both_ways(db, cat, T("2026-11-06T00:30:00Z"), T("2026-11-16T00:00:00Z"),
                                  T("2026-11-16T00:00:00Z"), groups[g], "EUR", "p1"));
        }
    }
    /* s-late in a report ending at "now", 11-28T10:00: 3 days and 2 hours of a at 0.0111 USD */
    struct pol_bill_query q = {T("2026-11-25"), T("2026-12-01"), T("2026-11-28T10:00:00Z"), "USD",
                               POL_G_PROJECT};
    struct pol_bill *b = NULL;
    assert_int_equal(usage_bill_sql(db, cat, &q, NULL, &b, &err), 0);
    assert_int_equal(b->nlines, 2); /* s-late, and v-1 still there */
    assert_int_equal(b->lines[0].type, POL_RT_SERVER);
    assert_int_equal(b->lines[0].usage, 74 * 3600);
    pol_bill_free(b);
    pol_catalog_free(cat);
    nph_store_release(db);
    nph_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_two_clouds), cmocka_unit_test(test_random_ledger),
        cmocka_unit_test(test_random_chunks),       cmocka_unit_test(test_migration_from_v1),
        cmocka_unit_test(test_rollup_days),
    };
    return cmocka_run_group_tests_name("usage_sql", tests, NULL, NULL);
}
