/*
 * billing_bench.c - the billing figures of issue 6 (run by bench/billing_bench.sh, which
 * starts a throwaway PostgreSQL server):
 *
 *   1. ingestion into the ledger, events/s, SQLite and PostgreSQL: batched
 *      (nph_ledger_append_many: one reused INSERT per transaction on SQLite, COPY of the
 *      events and of the usage intervals they close on PostgreSQL) against the baseline of
 *      row-at-a-time nph_ledger_append calls in the same run (transactions of BATCH rows for
 *      both); targets >= 500,000/s SQLite, >= 300,000/s PostgreSQL;
 *   2. a monthly report grouped by project and cloud on PostgreSQL: the aggregation over the
 *      usage intervals (usage_bill_sql) against two baselines on a ledger of SMALL usage
 *      intervals, the in-memory rating (load the events, pol_bill_rate) and the window
 *      functions over the events (usage_bill_sql_events, the path before the interval
 *      tables); then the interval aggregation alone on INTERVALS intervals (target <= 10 s).
 *
 * Every figure ends with PASS or MISS against its target.
 *
 *   billing_bench PG_URL [INGEST_EVENTS [INTERVALS [SMALL]]]
 *      defaults 1,000,000 / 10,000,000 / 1,000,000; PG_URL "-" skips everything PostgreSQL,
 *      INTERVALS 0 the reports.
 *
 * The ledger: resources of 80 % servers and 20 % volumes over 3 clouds (one hourly, one in
 * USD), 2 regions each and 1,000 projects; each resource is created in November 2026, resized
 * 19 times (servers change offering, volumes size) and deleted: 21 events, 20 usage intervals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_usage.h"
#include "nph_clock.h"
#include "nph_config.h"
#include "nph_ledger.h"
#include "pol_time.h"
#include "pol_yaml.h"

#define BATCH       10000
#define PER_RES     21 /* events per resource: created, 19 resized, deleted */
#define NPROJECTS   1000
#define NOV_1       1793491200LL /* 2026-11-01T00:00:00Z */
#define MONTH_SECS  (30LL * 86400)
#define SEGMENT_MAX (MONTH_SECS / PER_RES)

static const char config[] =
    "currency: EUR\n"
    "exchange_rates:\n"
    "  - { from: USD, to: EUR, rate: \"0.90\", date: \"2026-11-01\" }\n"
    "  - { from: USD, to: EUR, rate: \"0.95\", date: \"2026-11-16\" }\n"
    "clouds:\n"
    "  - name: home\n"
    "    kind: local\n"
    "    prices: { volume_gb_month: { amount: \"0.10\", currency: EUR } }\n"
    "    regions: [ { name: h1 }, { name: h2 } ]\n"
    "    offerings:\n"
    "      - { name: s, vcpus: 1, ram_mb: 1024, price: { per_hour: \"0.020\", currency: EUR } }\n"
    "      - name: m\n"
    "        vcpus: 2\n"
    "        ram_mb: 4096\n"
    "        price:\n"
    "          - { per_hour: \"0.040\", currency: EUR, until: \"2026-11-15T00:00:00Z\" }\n"
    "          - { per_hour: \"0.050\", currency: EUR, from: \"2026-11-15T00:00:00Z\" }\n"
    "  - name: aws\n"
    "    kind: ec2\n"
    "    billing: { granularity: hour }\n"
    "    prices: { volume_gb_month: { amount: \"0.08\", currency: USD } }\n"
    "    regions: [ { name: a1 }, { name: a2 } ]\n"
    "    offerings:\n"
    "      - { name: s, vcpus: 2, ram_mb: 1024, price: { per_hour: \"0.0104\", currency: USD } }\n"
    "      - { name: m, vcpus: 2, ram_mb: 8192, price: { per_hour: \"0.096\", currency: USD } }\n"
    "  - name: ovh\n"
    "    kind: openstack\n"
    "    prices: { volume_gb_month: { amount: \"0.04\", currency: EUR } }\n"
    "    regions: [ { name: o1 }, { name: o2 } ]\n"
    "    offerings:\n"
    "      - { name: s, vcpus: 1, ram_mb: 2048, price: { per_hour: \"0.011\", currency: EUR } }\n"
    "      - { name: m, vcpus: 2, ram_mb: 4096, price: { per_hour: \"0.022\", currency: EUR } }\n";

static const char *const clouds[] = {"home", "aws", "ovh"};
static const char *const regions[][2] = {{"h1", "h2"}, {"a1", "a2"}, {"o1", "o2"}};
static char projects[NPROJECTS][8];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Events of resources [first, first + count / PER_RES) into evs; ids point into idbuf. */
static size_t gen_events(size_t first, size_t count, struct nph_ledger_event *evs, char (*ids)[24])
{
    size_t n = 0;
    for (size_t r = first; n + PER_RES <= count; r++) {
        size_t ri = r - first;
        int server = r % 5 != 0, c = (int)(r % 3);
        int64_t t = NOV_1 + (int64_t)(next_rand() % 86400);
        snprintf(ids[ri], sizeof(ids[ri]), "%c%zu", server ? 's' : 'v', r);
        for (int k = 0; k < PER_RES; k++) {
            evs[n++] = (struct nph_ledger_event){
                t * NPH_USEC_PER_SEC,
                k == 0 ? NPH_LEDGER_CREATED
                       : (k == PER_RES - 1 ? NPH_LEDGER_DELETED : NPH_LEDGER_RESIZED),
                ids[ri],
                server ? "server" : "volume",
                projects[r % NPROJECTS],
                clouds[c],
                regions[c][(r / 3) % 2],
                server ? ((r + (size_t)k) % 2 ? "m" : "s") : NULL,
                server ? -1 : (int64_t)(10 + (r + (size_t)k) % 90)};
            t += 600 + (int64_t)(next_rand() % (SEGMENT_MAX - 600));
        }
    }
    return n;
}

static const char *verdict(int ok)
{
    return ok ? "PASS" : "MISS";
}

/* Empty the ledger and the intervals derived from it (a bench store only: the ledger is
 * append-only). */
static int die(const char *what, const struct nph_error *err);
static int wipe(struct nph_db *db)
{
    struct nph_error err = NPH_ERROR_INIT;
    int pg = nph_db_engine(db) == NPH_STORE_POSTGRES;
    if (nph_db_exec(db, "DELETE FROM ledger_event", &err) ||
        (pg &&
         (nph_db_exec(db,
                      "DELETE FROM usage_interval; DELETE FROM usage_open; DELETE FROM usage_month",
                      &err) ||
          /* alone: VACUUM cannot run in a transaction block */
          nph_db_exec(db, "VACUUM ANALYZE", &err))))
        return die("emptying the ledger", &err);
    return 0;
}

static int die(const char *what, const struct nph_error *err)
{
    fprintf(stderr, "billing_bench: %s: %s%s%s\n", what, err->msg, err->detail[0] ? ": " : "",
            err->detail);
    return 1;
}

/* Ingest `count` events: row at a time (batched == 0) or nph_ledger_append_many, BATCH per
 * transaction. Returns events/s, or < 0. */
static double ingest(struct nph_db *db, size_t count, int batched, size_t first_res)
{
    struct nph_error err = NPH_ERROR_INIT;
    size_t cap = BATCH - BATCH % PER_RES;
    struct nph_ledger_event *evs = calloc(cap, sizeof(*evs));
    char(*ids)[24] = calloc(cap / PER_RES + 1, sizeof(*ids));
    double spent = 0;
    size_t done = 0;
    if (!evs || !ids)
        return -1;
    while (done < count) {
        size_t n = gen_events(first_res, count - done < cap ? count - done : cap, evs, ids);
        if (n == 0)
            break;
        first_res += n / PER_RES;
        double t0 = now_s();
        if (batched) {
            if (nph_ledger_append_many(db, evs, n, NULL, &err))
                return die("append_many", &err), -1;
        } else {
            if (nph_db_begin(db, &err))
                return die("begin", &err), -1;
            for (size_t i = 0; i < n; i++)
                if (nph_ledger_append(db, &evs[i], &err))
                    return die("append", &err), -1;
            if (nph_db_commit(db, &err))
                return die("commit", &err), -1;
        }
        spent += now_s() - t0;
        done += n;
    }
    free(evs);
    free(ids);
    return (double)done / spent;
}

static int ingestion(const char *url, size_t count, const char *label, double target)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db;
    if (nph_store_open(url, 1, &s, &err) || nph_ledger_migrate(s, NULL, &err))
        return die(url, &err);
    if (!(db = nph_store_acquire(s, &err)))
        return die("acquire", &err);
    /* The baseline and the batched load of the same size start from an empty table each (the
     * cost of an insert grows with the indexes); then the batched load of `count`. */
    size_t base_n = count / 10 < 50000 ? count / 10 : 50000;
    double base = ingest(db, base_n, 0, 0);
    if (wipe(db))
        return 1;
    double same = ingest(db, base_n, 1, 0);
    if (wipe(db))
        return 1;
    double fast = ingest(db, count, 1, 10000000);
    if (base < 0 || same < 0 || fast < 0)
        return 1;
    printf("ingestion %-10s  batched %7.0f events/s (%zu events)   baseline row at a time "
           "%7.0f events/s (%zu events, batched x%.1f on the same)   target >= %.0f: %s\n",
           label, fast, count, base, base_n, same / base, target, verdict(fast >= target));
    fflush(stdout);
    if (wipe(db))
        return 1;
    nph_store_release(db);
    nph_store_close(s);
    return 0;
}

static struct pol_catalog *load_catalog(void)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *doc = nph_yaml_to_json("bench.yaml", config, strlen(config), &err);
    json_t *lines = pol_yaml_lines(config, strlen(config));
    struct pol_catalog *cat = doc ? pol_catalog_from_config(doc, lines, "bench.yaml", &err) : NULL;
    if (!cat)
        die("catalog", &err);
    json_decref(doc);
    json_decref(lines);
    return cat;
}

/* Fill the ledger up to `intervals` usage intervals (20 per resource). */
static int fill(struct nph_db *db, size_t *have, size_t intervals)
{
    size_t want_events = intervals / (PER_RES - 1) * PER_RES;
    size_t have_events = *have / (PER_RES - 1) * PER_RES;
    struct nph_error err = NPH_ERROR_INIT;
    double t0 = now_s();
    if (want_events > have_events &&
        ingest(db, want_events - have_events, 1, have_events / PER_RES) < 0)
        return 1;
    if (nph_db_exec(db,
                    "ANALYZE ledger_event; ANALYZE usage_interval; ANALYZE usage_open;"
                    " ANALYZE usage_month",
                    &err))
        return die("analyze", &err);
    fprintf(stderr, "billing_bench: ledger filled to %zu intervals (%zu events) in %.1f s\n",
            intervals, want_events, now_s() - t0);
    *have = intervals;
    return 0;
}

/* how: 0 the roll-up (usage_bill_sql), 1 the window functions over the events, 2 the intervals
 * split every day */
static double report_sql(struct nph_db *db, const struct pol_catalog *cat,
                         const struct pol_bill_query *q, int how, int64_t *total, size_t *lines)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_bill *b = NULL;
    double t0 = now_s();
    if ((how == 1   ? usage_bill_sql_events
         : how == 2 ? usage_bill_sql_intervals
                    : usage_bill_sql)(db, cat, q, NULL, &b, &err))
        return die("usage_bill_sql", &err), -1;
    double t = now_s() - t0;
    *total = b->total;
    *lines = b->nlines;
    pol_bill_free(b);
    return t;
}

static double report_memory(struct nph_db *db, const struct pol_catalog *cat,
                            const struct pol_bill_query *q, int64_t *total)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_bill *b = NULL;
    struct pol_uevents ev;
    double t0 = now_s();
    pol_uevents_init(&ev);
    if (usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC, q->to, NULL, &ev, &err) ||
        pol_bill_rate(cat, &ev, q, &b, &err))
        return die("in-memory report", &err), -1;
    double t = now_s() - t0;
    *total = b->total;
    pol_bill_free(b);
    pol_uevents_fini(&ev);
    return t;
}

static int reports(const char *url, size_t intervals, size_t small)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct nph_db *db;
    struct pol_catalog *cat = load_catalog();
    struct pol_bill_query q = {NOV_1, NOV_1 + MONTH_SECS, NOV_1 + MONTH_SECS, "EUR",
                               POL_G_PROJECT | POL_G_CLOUD};
    size_t have = 0, nl = 0;
    int64_t tm = 0, ts = 0, te = 0, ti = 0;
    if (!cat)
        return 1;
    if (nph_store_open(url, 1, &s, &err) || nph_ledger_migrate(s, NULL, &err))
        return die(url, &err);
    if (!(db = nph_store_acquire(s, &err)))
        return die("acquire", &err);
    if (wipe(db))
        return 1;
    if (fill(db, &have, small))
        return 1;
    double mem = report_memory(db, cat, &q, &tm);
    double evs = report_sql(db, cat, &q, 1, &te, &nl);
    double iv = report_sql(db, cat, &q, 2, &ti, &nl);
    double sql = report_sql(db, cat, &q, 0, &ts, &nl);
    if (mem < 0 || evs < 0 || iv < 0 || sql < 0)
        return 1;
    printf("report     %zu intervals  over the daily roll-up %.2f s   baselines: in memory %.2f s "
           "(x%.1f), window functions over the events %.2f s (x%.1f), intervals split every day "
           "%.2f s (x%.1f)   (totals %s)\n",
           small, sql, mem, mem / sql, evs, evs / sql, iv, iv / sql,
           tm == ts && te == ts && ti == ts ? "equal" : "DIFFER");
    fflush(stdout);
    if (tm != ts || te != ts || ti != ts) {
        fprintf(stderr,
                "billing_bench: totals in memory %lld, events %lld, intervals %lld, roll-up %lld\n",
                (long long)tm, (long long)te, (long long)ti, (long long)ts);
        return 1;
    }
    if (intervals > small) {
        if (fill(db, &have, intervals))
            return 1;
        sql = report_sql(db, cat, &q, 0, &ts, &nl);
        iv = report_sql(db, cat, &q, 2, &ti, &nl);
        if (sql < 0 || iv < 0)
            return 1;
        printf("report     %zu intervals  over the daily roll-up %.2f s (%zu lines)   baseline: "
               "intervals split every day %.2f s (x%.1f)   (totals %s)   target <= 10 s: %s\n",
               intervals, sql, nl, iv, iv / sql, ti == ts ? "equal" : "DIFFER",
               verdict(sql <= 10.0));
        if (ti != ts)
            return 1;
    }
    nph_store_release(db);
    nph_store_close(s);
    pol_catalog_free(cat);
    return 0;
}

int main(int argc, char **argv)
{
    const char *pg = argc > 1 ? argv[1] : "-";
    size_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    size_t intervals = argc > 3 ? strtoull(argv[3], NULL, 10) : 10000000;
    size_t small = argc > 4 ? strtoull(argv[4], NULL, 10) : 1000000;
    char dir[] = "/tmp/nph_billing_bench.XXXXXX", url[128], path[160];
    int rc = 0;
    for (int i = 0; i < NPROJECTS; i++)
        snprintf(projects[i], sizeof(projects[i]), "p%03d", i);
    if (!mkdtemp(dir))
        return 1;
    snprintf(url, sizeof(url), "sqlite://%s/ledger.db", dir);
    if (count > 0)
        rc |= ingestion(url, count, "SQLite", 500000);
    if (strcmp(pg, "-")) {
        if (count > 0)
            rc |= ingestion(pg, count, "PostgreSQL", 300000);
        if (intervals > 0)
            rc |= reports(pg, intervals, small < intervals ? small : intervals);
    }
    static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}
