/*
 * cmd_usage.c - `nephele usage export --from T --to T [--output F]` writes the ledger's events
 * and the metering samples of [from, to) as JSON lines; `nephele usage import FILE` validates
 * every line of such a file and appends them all in one transaction (bulk loads), or none
 * (docs/billing.md). Both talk to the store named by the configuration directly, so they are
 * operator (administrator) commands: whoever can run them holds the store's credentials. Also
 * the report's aggregation in SQL on PostgreSQL (usage_bill_sql).
 */
#include "cmd_usage.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "nph_clock.h"
#include "nph_ledger.h"
#include "nph_meter.h"
#include "pol_time.h"

#define USAGE_MAX_FILE ((size_t)1 << 30)

static const char usage_usage[] =
    "usage: nephele usage export --from TIME --to TIME [--output FILE] [--config FILE]\n"
    "                            [--data-dir DIR]\n"
    "       nephele usage import FILE [--config FILE] [--data-dir DIR]\n"
    "\nThe ledger (lifecycle events of servers, volumes and buckets on every cloud) and the\n"
    "metering samples as JSON lines, one per line (docs/billing.md). export writes the events,\n"
    "then the samples, with FROM <= ts < TO; import checks every line first and then appends\n"
    "them all in one transaction, or none; an error names the line. TIME is YYYY-MM-DD\n"
    "(midnight UTC) or YYYY-MM-DDTHH:MM:SSZ. Both use the store of the configuration\n"
    "(operators only).\n"
    "\noptions:\n"
    "  -c, --config FILE    the broker's configuration (store.url, data_dir)\n"
    "  -d, --data-dir DIR   data directory (default ./data)\n"
    "      --from TIME      first instant exported (export)\n"
    "      --to TIME        end of the period, exclusive (export)\n"
    "  -o, --output FILE    write there instead of standard output (export)\n"
    "  -h, --help           this text\n";

static void usage_err(const char *what, const struct nph_error *err)
{
    fprintf(stderr, "nephele usage %s: %s%s%s\n", what, err->msg, err->detail[0] ? ": " : "",
            err->detail);
}

char *usage_read_file(const char *path, size_t max, size_t *len, struct nph_error *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        nph_error_set(err, NPH_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 65536 * 2;
            char *nb = nc > max + 65536 * 2 ? NULL : realloc(buf, nc);
            if (!nb) {
                free(buf);
                if (!is_stdin)
                    fclose(f);
                nph_error_set(err, NPH_E_INVALID, "%s: too large (or out of memory)", path);
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    if (ferror(f)) {
        free(buf);
        if (!is_stdin)
            fclose(f);
        nph_error_set(err, NPH_E_IO, "%s: read error", path);
        return NULL;
    }
    if (!is_stdin)
        fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int usage_load_config(struct nph_config *cfg, const char *file, const char *data_dir,
                      struct nph_error *err)
{
    if (nph_config_init(cfg, err))
        return -1;
    if ((file && nph_config_load_file(cfg, file, err)) || nph_config_load_env(cfg, NULL, err) ||
        (data_dir && nph_config_set(cfg, "data_dir", data_dir, err)) ||
        nph_config_finish(cfg, err)) {
        nph_config_fini(cfg);
        return -1;
    }
    return 0;
}

int usage_open_store(const struct nph_config *cfg, struct nph_store **out, struct nph_error *err)
{
    struct nph_store *s = NULL;
    if (strncmp(cfg->store_url, "sqlite:", 7) == 0 && app_mkdir_p(cfg->data_dir, err))
        return -1;
    if (nph_store_open(cfg->store_url, 1, &s, err) || nph_ledger_migrate(s, NULL, err) ||
        nph_meter_migrate(s, NULL, err)) {
        nph_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* ---- ledger <-> rating events ------------------------------------------------------------- */

struct load_ctx {
    struct pol_uevents *out;
};

static int64_t us_to_s(int64_t us)
{
    return us >= 0 ? us / NPH_USEC_PER_SEC : -((-us + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC);
}

static int load_one(void *ctx, const struct nph_ledger_event *le, struct nph_error *err)
{
    struct load_ctx *c = ctx;
    struct pol_uevent ev;
    memset(&ev, 0, sizeof(ev));
    if (pol_rtype_parse(le->resource_type, &ev.type) < 0)
        return 0; /* a type the rating does not know (yet) */
    ev.ts = us_to_s(le->ts);
    ev.kind = (enum pol_uev_kind)le->kind; /* same order: created..deleted */
    ev.resource = (char *)le->resource_id;
    ev.project = (char *)le->project_id;
    ev.cloud = (char *)le->cloud;
    ev.region = (char *)le->region;
    ev.offering = (char *)le->offering;
    ev.size_gb = le->size_gb;
    return pol_uevents_add(c->out, &ev, err);
}

int usage_ledger_load(struct nph_db *db, int64_t from, int64_t to, const char *project_id,
                      struct pol_uevents *out, struct nph_error *err)
{
    struct load_ctx c = {out};
    int64_t f = from < INT64_MIN / NPH_USEC_PER_SEC ? INT64_MIN : from * NPH_USEC_PER_SEC;
    int64_t t = to > INT64_MAX / NPH_USEC_PER_SEC ? INT64_MAX : to * NPH_USEC_PER_SEC;
    return nph_ledger_scan(db, f, t, project_id, load_one, &c, err) ? -1 : 0;
}

/* ---- reports: aggregation pushed into SQL (PostgreSQL) ------------------------------------ */

/* Usage intervals derived in SQL with the same rules as pol_bill_rate (docs/billing.md, "The
 * model"), per resource in (ts, id) order: lead() gives the next event; running maxima over
 * row numbers carry the state before a `resized`, the offering and the size forward; hour
 * granularity rounds up before clipping to [from, to); generate_series over width_bucket()
 * splits at the cut points (midnights, price boundaries); only sums per atom and piece come
 * back. Parameters: 1 to (us), 2 cut points, 3 open_end, 4 hourly clouds, 5 bill_stopped
 * clouds, 6 from, 7 to (s), [8 project]. %s: the region column or NULL; %s: the project filter. */
static const char usage_sql_fmt[] =
    "WITH ev AS ("
    " SELECT id, ts, event, resource_id, resource_type AS rtype, project_id, cloud, region,"
    "  offering, size_gb, (ts - ((ts %% 1000000) + 1000000) %% 1000000) / 1000000 AS t,"
    "  row_number() OVER (PARTITION BY resource_id ORDER BY ts, id) AS rn"
    " FROM ledger_event WHERE ts < CAST(? AS BIGINT)%s"
    "  AND resource_type IN ('server', 'volume', 'bucket')"
    "  AND event IN ('created', 'resized', 'stopped', 'started', 'deleted')),"
    " w AS ("
    " SELECT project_id, cloud, region, rtype, event, t,"
    "  lead(t) OVER r AS next_t,"
    "  max(CASE event WHEN 'created' THEN rn * 8 + 1 WHEN 'started' THEN rn * 8 + 2"
    "   WHEN 'stopped' THEN rn * 8 + 3 WHEN 'deleted' THEN rn * 8 + 4 END) OVER r AS base,"
    "  max(CASE WHEN offering IS NOT NULL OR event = 'created' THEN"
    "   lpad(CAST(rn AS TEXT), 19, '0') || COALESCE('+' || offering, '-') END COLLATE \"C\")"
    "   OVER r AS off_packed,"
    "  max(CASE WHEN size_gb IS NOT NULL OR event = 'created' THEN"
    "   rn * 2147483648 + COALESCE(size_gb + 1, 0) END) OVER r AS size_packed"
    " FROM ev WINDOW r AS (PARTITION BY resource_id ORDER BY ts, id"
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),"
    " seg AS ("
    " SELECT project_id, cloud, region, rtype, t AS s,"
    "  CASE WHEN substr(off_packed, 20, 1) = '+' THEN substr(off_packed, 21) END AS offering,"
    "  GREATEST(COALESCE(size_packed %% 2147483648, 0) - 1, 0) AS size_gb,"
    "  COALESCE(next_t, GREATEST(CAST(? AS BIGINT), t)) AS e"
    " FROM w WHERE CASE WHEN rtype <> 'server' THEN event <> 'deleted'"
    "  WHEN event IN ('created', 'started') THEN TRUE"
    "  WHEN event = 'deleted' THEN FALSE"
    "  WHEN event = 'stopped' OR base %% 8 = 3 THEN cloud = ANY (CAST(? AS TEXT[]))"
    "  ELSE TRUE END),"
    " hr AS ("
    " SELECT project_id, cloud, region, rtype, offering, size_gb,"
    "  GREATEST(s, CAST(? AS BIGINT)) AS s,"
    "  LEAST(CASE WHEN e > s AND cloud = ANY (CAST(? AS TEXT[]))"
    "   THEN s + (e - s + 3599) / 3600 * 3600 ELSE e END, CAST(? AS BIGINT)) AS e"
    " FROM seg),"
    " cuts AS (SELECT CAST(? AS BIGINT[]) AS c)"
    " SELECT project_id, cloud, %s, offering, rtype, k,"
    "  SUM((LEAST(e, c[k + 1]) - GREATEST(s, c[k])) *"
    "   CASE WHEN rtype = 'server' THEN 1 ELSE size_gb END)"
    " FROM hr, cuts, generate_series(width_bucket(s, c), width_bucket(e - 1, c)) AS k"
    " WHERE e > s"
    " GROUP BY 1, 2, 3, 4, 5, 6";

/* The same over the usage intervals and the daily roll-up maintained at ingestion
 * (nph_ledger_usage.c). The whole days of the report that no cut point splits and that end by
 * open_end ("clean" days) come from usage_day: per atom and day the seconds as they are or
 * rounded up to whole hours, on the clouds of either granularity. The rest of the period (the
 * "dirty" windows: a partial first or last day, a day a price changes in, days after open_end)
 * and the open segments come from the segments, split at the cut points: a closed segment
 * whose closing event is at or after `to` is open as far as this report sees (the event-derived
 * form above only reads events before `to`; with `to` in whole seconds, an event is before it
 * exactly when its second is), an open one runs to open_end; only the closed segments that can
 * reach a dirty window (even rounded up, an hour after their end) are read, and their pieces in
 * clean days are left to the roll-up. Parameters: 1 to (s), 2 open_end, [project], 3 open_end,
 * 4 to (us), [project], 5 from, 6 hourly clouds, 7 to, 8 stopped clouds, 9 cut points, 10 clean
 * days, 11 hourly clouds, 12 clean days, 13 stopped clouds, 14 hourly clouds, [project].
 * %s: the dirty windows' condition, the project filters, the region column (twice). */
static const char usage_iv_sql_fmt[] =
    "WITH seg AS ("
    " SELECT project_id, cloud, region, rtype, offering, size_gb, state, s,"
    "  CASE WHEN e < CAST(? AS BIGINT) THEN e ELSE GREATEST(CAST(? AS BIGINT), s) END AS e,"
    "  0 AS src"
    " FROM usage_interval WHERE (%s)%s"
    " UNION ALL"
    " SELECT project_id, cloud, region, rtype, offering, size_gb, state, s,"
    "  GREATEST(CAST(? AS BIGINT), s) AS e, 1 AS src"
    " FROM usage_open WHERE s_ts < CAST(? AS BIGINT)%s),"
    " hr AS ("
    " SELECT project_id, cloud, region, rtype, offering, size_gb, src,"
    "  GREATEST(s, CAST(? AS BIGINT)) AS s,"
    "  LEAST(CASE WHEN e > s AND cloud = ANY (CAST(? AS TEXT[]))"
    "   THEN s + (e - s + 3599) / 3600 * 3600 ELSE e END, CAST(? AS BIGINT)) AS e"
    " FROM seg WHERE state = 1 OR (state = 2 AND cloud = ANY (CAST(? AS TEXT[])))),"
    " cuts AS (SELECT CAST(? AS BIGINT[]) AS c)"
    " SELECT project_id, cloud, region, offering, rtype, start, SUM(u) FROM ("
    " SELECT project_id, cloud, %s AS region, offering, rtype, c[k] AS start,"
    "  (LEAST(e, c[k + 1]) - GREATEST(s, c[k])) *"
    "   CASE WHEN rtype = 'server' THEN 1 ELSE size_gb END AS u"
    " FROM hr, cuts, generate_series(width_bucket(s, c), width_bucket(e - 1, c)) AS k"
    " WHERE e > s AND (src = 1 OR NOT c[k] = ANY (CAST(? AS BIGINT[])))"
    " UNION ALL"
    " SELECT project_id, cloud, %s, CASE WHEN offering <> '-' THEN substr(offering, 2) END,"
    "  rtype, day, CASE WHEN cloud = ANY (CAST(? AS TEXT[])) THEN qh ELSE q END"
    " FROM usage_day_in(CAST(? AS BIGINT[]))"
    " WHERE (state = 1 OR (state = 2 AND cloud = ANY (CAST(? AS TEXT[]))))"
    "  AND CASE WHEN cloud = ANY (CAST(? AS TEXT[])) THEN nh ELSE n END > 0%s) x"
    " GROUP BY 1, 2, 3, 4, 5, 6";

/* The clean days of q (see above) as a bigint[] literal into *clean, and the condition on a
 * closed segment (s, e) of reaching one of the other windows of [from, to) into *dirty. */
static int split_days(const struct pol_bill_query *q, const int64_t *cuts, size_t ncuts, int rollup,
                      char **clean, char **dirty)
{
    const int64_t D = 86400;
    int64_t lim = q->to < q->open_end ? q->to : q->open_end;
    int64_t d0 = q->from + ((D - q->from % D) % D); /* from >= 0: the first midnight */
    size_t ndays = lim > d0 ? (size_t)((lim - d0) / D) + 1 : 1;
    char *c = malloc(ndays * 22 + 3), *w = malloc((ndays + 1) * 80 + 8);
    char *co = c, *wo = w;
    size_t ci = 0, nclean = 0;
    int64_t cur = q->from;
    if (!c || !w) {
        free(c);
        free(w);
        return -1;
    }
    *co++ = '{';
    wo += sprintf(wo, "FALSE");
    for (int64_t d = d0; rollup && d + D <= lim; d += D) {
        while (ci < ncuts && cuts[ci] <= d)
            ci++;
        if (ci < ncuts && cuts[ci] < d + D)
            continue; /* a price boundary inside the day */
        co += sprintf(co, "%s%lld", nclean++ ? "," : "", (long long)d);
        if (cur < d)
            wo += sprintf(wo, " OR (s < %lld AND e > %lld)", (long long)d, (long long)(cur - 3600));
        cur = d + D;
    }
    if (cur < q->to)
        wo += sprintf(wo, " OR (s < %lld AND e > %lld)", (long long)q->to, (long long)(cur - 3600));
    *co++ = '}';
    *co = '\0';
    *clean = c;
    *dirty = w;
    return 0;
}

/* "{a,b}" of the clouds with (hourly ? granularity hour : bill_stopped), names quoted. */
static char *cloud_array(const struct pol_catalog *cat, int hourly)
{
    size_t len = 3;
    for (size_t i = 0; i < cat->nclouds; i++)
        len += 2 * strlen(cat->clouds[i].name) + 4;
    char *a = malloc(len), *o = a;
    if (!a)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < cat->nclouds; i++) {
        const struct pol_bill_cloud *c = &cat->clouds[i];
        if (!(hourly ? c->hourly : c->bill_stopped))
            continue;
        if (o > a + 1)
            *o++ = ',';
        *o++ = '"';
        for (const char *p = c->name; *p; p++) {
            if (*p == '"' || *p == '\\')
                *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return a;
}

static char *int_array(const int64_t *v, size_t n)
{
    char *a = malloc(n * 22 + 3), *o = a;
    if (!a)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%lld", i ? "," : "", (long long)v[i]);
    *o++ = '}';
    *o = '\0';
    return a;
}

struct usage_rows {
    struct pol_usage_row *v;
    size_t n, cap;
};

static void usage_rows_free(struct usage_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->v[i].project);
        free((char *)r->v[i].cloud);
        free((char *)r->v[i].region);
        free((char *)r->v[i].offering);
    }
    free(r->v);
}

static char *dup_or_null(const char *s, int *bad)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *bad = 1;
    return d;
}

static int bill_sql(struct nph_db *db, const struct pol_catalog *cat,
                    const struct pol_bill_query *q, const char *project, int intervals,
                    struct pol_bill **out, struct nph_error *err)
{
    char *sql = NULL, *cuts_s = NULL, *hourly = NULL, *stopped = NULL, *clean = NULL, *dirty = NULL;
    size_t sql_len;
    int64_t *cuts = NULL;
    size_t ncuts = 0;
    struct usage_rows rows = {0};
    struct nph_stmt *st = NULL;
    int rc = -1, step, own = 0;

    if (q->to > INT64_MAX / NPH_USEC_PER_SEC || q->from < 0)
        return nph_error_set(err, NPH_E_INVALID, "the report period is out of range");
    if (pol_bill_cuts(cat, q, &cuts, &ncuts, err))
        return -1;
    if (!(cuts_s = int_array(cuts, ncuts)) || !(hourly = cloud_array(cat, 1)) ||
        !(stopped = cloud_array(cat, 0)) ||
        (intervals && split_days(q, cuts, ncuts, intervals == 1, &clean, &dirty)) ||
        !(sql = malloc(sql_len = sizeof(usage_sql_fmt) + sizeof(usage_iv_sql_fmt) + 256 +
                                 (dirty ? strlen(dirty) : 0)))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    const char *pf = project ? " AND project_id = ?" : "";
    int region = (q->group_by & POL_G_REGION) != 0;
    if (intervals)
        snprintf(
            sql, sql_len, usage_iv_sql_fmt, dirty, pf, pf, region ? "region" : "CAST(NULL AS TEXT)",
            region ? "CASE WHEN region <> '-' THEN substr(region, 2) END" : "CAST(NULL AS TEXT)",
            pf);
    else
        snprintf(sql, sql_len, usage_sql_fmt, pf, region ? "region" : "CAST(NULL AS TEXT)");
    /* One read-only snapshot; no JIT (its compile time dwarfs the query on these plans: 4 s of
     * 9 on 100,000 intervals) and room for the aggregation's hash table in memory. */
    if (!nph_db_in_transaction(db)) {
        if (nph_db_begin(db, err))
            goto cleanup;
        own = 1;
    }
    if (nph_db_exec(db, "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'", err) ||
        !(st = nph_db_prepare(db, sql, err)))
        goto cleanup;
    int i = 1;
    if (intervals &&
        (nph_stmt_bind_int64(st, i++, q->to, err) ||
         nph_stmt_bind_int64(st, i++, q->open_end, err) ||
         (project && nph_stmt_bind_text(st, i++, project, err)) ||
         nph_stmt_bind_int64(st, i++, q->open_end, err) ||
         nph_stmt_bind_int64(st, i++, q->to * NPH_USEC_PER_SEC, err) ||
         (project && nph_stmt_bind_text(st, i++, project, err)) ||
         nph_stmt_bind_int64(st, i++, q->from, err) || nph_stmt_bind_text(st, i++, hourly, err) ||
         nph_stmt_bind_int64(st, i++, q->to, err) || nph_stmt_bind_text(st, i++, stopped, err) ||
         nph_stmt_bind_text(st, i++, cuts_s, err) || nph_stmt_bind_text(st, i++, clean, err) ||
         nph_stmt_bind_text(st, i++, hourly, err) || nph_stmt_bind_text(st, i++, clean, err) ||
         nph_stmt_bind_text(st, i++, stopped, err) || nph_stmt_bind_text(st, i++, hourly, err) ||
         (project && nph_stmt_bind_text(st, i++, project, err))))
        goto cleanup;
    if (!intervals &&
        (nph_stmt_bind_int64(st, i++, q->to * NPH_USEC_PER_SEC, err) ||
         (project && nph_stmt_bind_text(st, i++, project, err)) ||
         nph_stmt_bind_int64(st, i++, q->open_end, err) ||
         nph_stmt_bind_text(st, i++, stopped, err) || nph_stmt_bind_int64(st, i++, q->from, err) ||
         nph_stmt_bind_text(st, i++, hourly, err) || nph_stmt_bind_int64(st, i++, q->to, err) ||
         nph_stmt_bind_text(st, i++, cuts_s, err)))
        goto cleanup;
    while ((step = nph_stmt_step(st, err)) == 1) {
        struct pol_usage_row u = {0};
        int bad = 0;
        int64_t k = nph_stmt_col_int64(st, 5);
        if (pol_rtype_parse(nph_stmt_col_text(st, 4), &u.type) < 0 ||
            (intervals ? k < q->from || k >= q->to : k < 1 || (size_t)k >= ncuts)) {
            nph_error_set(err, NPH_E_INTERNAL, "the usage aggregation returned a bad row");
            goto cleanup;
        }
        u.start = intervals ? k : cuts[k - 1];
        u.units = nph_stmt_col_int64(st, 6);
        if (rows.n == rows.cap) {
            size_t nc = rows.cap ? rows.cap * 2 : 256;
            struct pol_usage_row *nv = realloc(rows.v, nc * sizeof(*nv));
            if (!nv) {
                nph_error_nomem(err);
                goto cleanup;
            }
            rows.v = nv;
            rows.cap = nc;
        }
        u.project = dup_or_null(nph_stmt_col_text(st, 0), &bad);
        u.cloud = dup_or_null(nph_stmt_col_text(st, 1), &bad);
        u.region = dup_or_null(nph_stmt_col_text(st, 2), &bad);
        u.offering = dup_or_null(nph_stmt_col_text(st, 3), &bad);
        rows.v[rows.n++] = u;
        if (bad) {
            nph_error_nomem(err);
            goto cleanup;
        }
    }
    if (step < 0)
        goto cleanup;
    nph_stmt_done(st);
    st = NULL;
    if (own && nph_db_commit(db, err))
        goto cleanup;
    own = 0;
    rc = pol_bill_rate_usage(cat, rows.v, rows.n, q, out, err);
cleanup:
    nph_stmt_done(st);
    if (own)
        nph_db_rollback(db, NULL);
    usage_rows_free(&rows);
    free(sql);
    free(clean);
    free(dirty);
    free(cuts);
    free(cuts_s);
    free(hourly);
    free(stopped);
    return rc;
}

int usage_bill_sql(struct nph_db *db, const struct pol_catalog *cat, const struct pol_bill_query *q,
                   const char *project, struct pol_bill **out, struct nph_error *err)
{
    return bill_sql(db, cat, q, project, 1, out, err);
}

int usage_bill_sql_intervals(struct nph_db *db, const struct pol_catalog *cat,
                             const struct pol_bill_query *q, const char *project,
                             struct pol_bill **out, struct nph_error *err)
{
    return bill_sql(db, cat, q, project, 2, out, err);
}

int usage_bill_sql_events(struct nph_db *db, const struct pol_catalog *cat,
                          const struct pol_bill_query *q, const char *project,
                          struct pol_bill **out, struct nph_error *err)
{
    return bill_sql(db, cat, q, project, 0, out, err);
}

int usage_bill(struct nph_db *db, const struct pol_catalog *cat, const struct pol_bill_query *q,
               const char *project, struct pol_bill **out, struct nph_error *err)
{
    struct pol_uevents ev;
    int rc;
    if (nph_db_engine(db) == NPH_STORE_POSTGRES) {
        rc = usage_bill_sql(db, cat, q, project, out, err);
        /* A rating error: rate the events instead, for the message naming the resource. */
        if (rc == 0 || err->code != NPH_E_INVALID)
            return rc;
    }
    pol_uevents_init(&ev);
    rc = usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC, q->to, project, &ev, err) ||
                 pol_bill_rate(cat, &ev, q, out, err)
             ? -1
             : 0;
    pol_uevents_fini(&ev);
    return rc;
}

/* Events are converted and bulk-loaded this many at a time, all in one transaction. */
#define USAGE_IMPORT_CHUNK 8192

int usage_ledger_import(struct nph_db *db, const struct pol_uevents *ev, struct nph_error *err)
{
    struct nph_ledger_event *le = NULL;
    size_t cap = ev->n < USAGE_IMPORT_CHUNK ? ev->n : USAGE_IMPORT_CHUNK;
    for (size_t i = 0; i < ev->n; i++)
        if (ev->v[i].ts <= 0 || ev->v[i].ts > INT64_MAX / NPH_USEC_PER_SEC)
            return nph_error_set(err, NPH_E_INVALID, "line %zu: 'ts' must be after 1970",
                                 ev->v[i].line);
    if (cap && !(le = calloc(cap, sizeof(*le))))
        return nph_error_nomem(err);
    if (nph_db_begin(db, err)) {
        free(le);
        return -1;
    }
    for (size_t i = 0; i < ev->n; i += cap) {
        size_t n = ev->n - i < cap ? ev->n - i : cap, bad = 0;
        for (size_t k = 0; k < n; k++) {
            const struct pol_uevent *e = &ev->v[i + k];
            le[k] = (struct nph_ledger_event){
                .ts = e->ts * NPH_USEC_PER_SEC,
                .kind = (enum nph_ledger_kind)e->kind,
                .resource_id = e->resource,
                .resource_type = pol_rtype_name(e->type),
                .project_id = e->project,
                .cloud = e->cloud,
                .region = e->region,
                .offering = e->offering,
                .size_gb = e->size_gb,
            };
        }
        bad = n;
        if (nph_ledger_append_many(db, le, n, &bad, err)) {
            nph_db_rollback(db, NULL);
            free(le);
            /* A store failure of the load as a whole names no line. */
            return bad < n ? nph_error_prefix(err, "line %zu", ev->v[i + bad].line) : -1;
        }
    }
    free(le);
    if (ev->samples && ev->samples->n) {
        const struct pol_usamples *sl = ev->samples;
        struct nph_meter_sample *ms = calloc(sl->n, sizeof(*ms));
        size_t bad = sl->n;
        if (!ms) {
            nph_db_rollback(db, NULL);
            return nph_error_nomem(err);
        }
        for (size_t i = 0; i < sl->n; i++) {
            const struct pol_usample *u = &sl->v[i];
            ms[i] = (struct nph_meter_sample){u->ts * NPH_USEC_PER_SEC,
                                              u->resource,
                                              pol_rtype_name(u->type),
                                              u->project,
                                              u->cloud,
                                              u->meter,
                                              u->value,
                                              u->period,
                                              u->max,
                                              u->count};
        }
        int rc = nph_meter_append_many(db, ms, sl->n, &bad, err);
        free(ms);
        if (rc) {
            nph_db_rollback(db, NULL);
            return bad < sl->n ? nph_error_prefix(err, "line %zu", sl->v[bad].line) : -1;
        }
    }
    return nph_db_commit(db, err);
}

/* ---- the command -------------------------------------------------------------------------- */

static int export_sample(void *ctx, const struct nph_meter_sample *m, struct nph_error *err)
{
    struct pol_usample u = {0};
    if (pol_rtype_parse(m->resource_type, &u.type) < 0)
        return 0;
    u.ts = us_to_s(m->ts);
    u.resource = (char *)m->resource_id;
    u.project = (char *)m->project_id;
    u.cloud = (char *)m->cloud;
    u.meter = (char *)m->meter;
    u.value = m->value;
    u.period = m->period;
    u.max = m->max;
    u.count = m->count;
    json_t *j = pol_usample_to_json(&u);
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!line)
        return nph_error_nomem(err);
    fputs(line, ctx);
    fputc('\n', ctx);
    free(line);
    return 0;
}

static int do_export(struct nph_db *db, int64_t from, int64_t to, FILE *out, struct nph_error *err)
{
    struct pol_uevents ev;
    int rc = -1;
    pol_uevents_init(&ev);
    if (usage_ledger_load(db, from, to, NULL, &ev, err))
        goto cleanup;
    for (size_t i = 0; i < ev.n; i++) {
        json_t *j = pol_uevent_to_json(&ev.v[i]);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!s) {
            nph_error_nomem(err);
            goto cleanup;
        }
        fputs(s, out);
        fputc('\n', out);
        free(s);
    }
    if (nph_meter_scan(db, from * NPH_USEC_PER_SEC, to * NPH_USEC_PER_SEC, NULL, NULL, NULL,
                       export_sample, out, err) < 0)
        goto cleanup;
    if (fflush(out) || ferror(out)) {
        nph_error_set(err, NPH_E_IO, "writing the export failed: %s", strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    pol_uevents_fini(&ev);
    return rc;
}

int cmd_usage(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sub = argc > 1 ? argv[1] : NULL, *config = NULL, *data_dir = NULL;
    const char *from_s = NULL, *to_s = NULL, *output = NULL, *file = NULL;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_config cfg;
    struct nph_store *store = NULL;
    struct nph_db *db = NULL;
    struct pol_uevents ev;
    struct pol_usamples samples = {0};
    char *text = NULL;
    size_t len = 0;
    int64_t from = 0, to = 0;
    int c, rc = 2;
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(usage_usage, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (strcmp(sub, "export") && strcmp(sub, "import")) {
        fprintf(stderr, "nephele usage: unknown subcommand '%s'\n%s", sub, usage_usage);
        return 2;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "c:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'F':
            from_s = optarg;
            break;
        case 'T':
            to_s = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            fputs(usage_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "nephele usage: unknown or incomplete option '%s'\n%s", argv[optind],
                    usage_usage); /* argv + 1 shifted by one */
            return 2;
        }
    }
    if (!strcmp(sub, "export")) {
        if (optind != argc - 1 || !from_s || !to_s) {
            fprintf(stderr, "nephele usage export: --from and --to are required\n%s", usage_usage);
            return 2;
        }
        if (pol_time_parse(from_s, &from) || pol_time_parse(to_s, &to) || to <= from) {
            fprintf(stderr, "nephele usage export: --from and --to must be YYYY-MM-DD or "
                            "YYYY-MM-DDTHH:MM:SSZ, --to after --from\n");
            return 2;
        }
    } else {
        if (optind != argc - 2 || from_s || to_s || output) {
            fprintf(stderr, "nephele usage import: one FILE and no --from/--to/--output\n%s",
                    usage_usage);
            return 2;
        }
        file = argv[optind + 1];
    }
    pol_uevents_init(&ev);
    if (usage_load_config(&cfg, config, data_dir, &err)) {
        usage_err(sub, &err);
        return 2;
    }
    if (file) {
        /* Validate the whole file before touching the store. */
        ev.samples = &samples;
        if (!(text = usage_read_file(file, USAGE_MAX_FILE, &len, &err)) ||
            pol_uevents_parse(&ev, file, text, len, &err)) {
            usage_err(sub, &err);
            goto cleanup;
        }
    }
    rc = 1;
    if (usage_open_store(&cfg, &store, &err) || !(db = nph_store_acquire(store, &err))) {
        usage_err(sub, &err);
        goto cleanup;
    }
    if (file) {
        if (usage_ledger_import(db, &ev, &err)) {
            err.code = err.code ? err.code : NPH_E_INVALID;
            fprintf(stderr, "nephele usage import: %s: %s%s%s (nothing was imported)\n", file,
                    err.msg, err.detail[0] ? ": " : "", err.detail);
            rc = err.code == NPH_E_INVALID ? 2 : 1;
            goto cleanup;
        }
        fprintf(stderr, "imported %zu event(s) and %zu sample(s) from %s into %s\n", ev.n,
                samples.n, file, nph_store_url_redacted(store));
    } else {
        FILE *out = output ? fopen(output, "w") : stdout;
        if (!out) {
            fprintf(stderr, "nephele usage export: %s: %s\n", output, strerror(errno));
            goto cleanup;
        }
        int e = do_export(db, from, to, out, &err);
        if (output)
            fclose(out);
        if (e) {
            usage_err(sub, &err);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    nph_store_release(db);
    nph_store_close(store);
    pol_uevents_fini(&ev);
    pol_usamples_fini(&samples);
    free(text);
    nph_config_fini(&cfg);
    return rc;
}
