/*
 * nph_meter.c - the meter_sample table: bulk appends, downsampling to hourly rows, retention,
 * ordered scans (see nph_meter.h).
 */
#include "nph_meter.h"

#include <stdlib.h>
#include <string.h>

static const struct nph_migration meter_migrations[] = {
    {1, "meter samples",
     "CREATE TABLE meter_sample (resource_id TEXT NOT NULL, resource_type TEXT NOT NULL,"
     " project_id TEXT NOT NULL, cloud TEXT, meter TEXT NOT NULL, ts BIGINT NOT NULL,"
     " period BIGINT NOT NULL, value BIGINT NOT NULL, max BIGINT NOT NULL,"
     " count BIGINT NOT NULL);"
     "CREATE INDEX meter_sample_resource ON meter_sample (resource_id, meter, ts);"
     "CREATE INDEX meter_sample_ts ON meter_sample (period, ts);"
     "CREATE INDEX meter_sample_project ON meter_sample (project_id, ts);"},
};

int nph_meter_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "meter", meter_migrations,
                             sizeof(meter_migrations) / sizeof(meter_migrations[0]), applied, err);
}

static int sample_valid(const struct nph_meter_sample *s, struct nph_error *err)
{
    if (!s->resource_id || !s->resource_type || !s->project_id || !s->meter || !*s->meter)
        return nph_error_set(err, NPH_E_INVALID,
                             "a sample needs a resource id and type, a project and a meter");
    if (s->value < 0 || s->max < 0 || s->count < 1)
        return nph_error_set(err, NPH_E_INVALID, "a sample's value must not be negative");
    if (s->period != 0 && s->period != NPH_METER_HOUR)
        return nph_error_set(err, NPH_E_INVALID, "a sample's period must be 0 or 3600");
    return 0;
}

int nph_meter_append_many(struct nph_db *db, const struct nph_meter_sample *s, size_t n,
                          size_t *failed, struct nph_error *err)
{
    static const char *const cols[] = {
        "resource_id", "resource_type", "project_id", "cloud", "meter",
        "ts",          "period",        "value",      "max",   "count"};
    struct nph_bulk *b = NULL;
    int own = 0, rc = -1;
    for (size_t i = 0; i < n; i++)
        if (sample_valid(&s[i], err)) {
            if (failed)
                *failed = i;
            return nph_error_prefix(err, "sample %zu", i + 1);
        }
    if (n == 0)
        return 0;
    if (!nph_db_in_transaction(db)) {
        if (nph_db_begin(db, err))
            return -1;
        own = 1;
    }
    if (!(b = nph_db_bulk_begin(db, "meter_sample", cols, 10, err)))
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        struct nph_bulk_val v[10] = {
            {NPH_BULK_TEXT, 0, s[i].resource_id}, {NPH_BULK_TEXT, 0, s[i].resource_type},
            {NPH_BULK_TEXT, 0, s[i].project_id},  {NPH_BULK_TEXT, 0, s[i].cloud},
            {NPH_BULK_TEXT, 0, s[i].meter},       {NPH_BULK_INT64, s[i].ts, NULL},
            {NPH_BULK_INT64, s[i].period, NULL},  {NPH_BULK_INT64, s[i].value, NULL},
            {NPH_BULK_INT64, s[i].max, NULL},     {NPH_BULK_INT64, s[i].count, NULL},
        };
        if (nph_bulk_row(b, v, err)) {
            if (failed)
                *failed = i;
            goto cleanup;
        }
    }
    rc = nph_bulk_end(b, 0, err);
    b = NULL;
    if (rc == 0 && own)
        rc = nph_db_commit(db, err);
cleanup:
    if (b)
        nph_bulk_end(b, 1, NULL);
    if (rc && own)
        nph_db_rollback(db, NULL);
    return rc;
}

/* Hourly rows of the raw samples before `cut` (a whole hour), computed in C: the average is
 * rounded down the same way on both engines. */
struct hour_row {
    char *resource_id, *resource_type, *project_id, *cloud, *meter;
    int64_t hour, sum, max, count;
};

static void hour_rows_free(struct hour_row *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].resource_id);
        free(h[i].resource_type);
        free(h[i].project_id);
        free(h[i].cloud);
        free(h[i].meter);
    }
    free(h);
}

static char *dup_col(struct nph_stmt *st, int col, int *bad)
{
    const char *v = nph_stmt_col_text(st, col);
    char *d = v ? strdup(v) : NULL;
    if (v && !d)
        *bad = 1;
    return d;
}

int nph_meter_compact(struct nph_db *db, int64_t now, int64_t raw_keep, int64_t retention,
                      int64_t *downsampled, int64_t *expired, struct nph_error *err)
{
    const int64_t hour_us = (int64_t)NPH_METER_HOUR * 1000000;
    int64_t cut = now - raw_keep, folded = 0, dropped = 0;
    struct hour_row *rows = NULL;
    struct nph_meter_sample *out = NULL;
    size_t n = 0, cap = 0;
    struct nph_stmt *st = NULL;
    int rc = -1, step;
    cut -= ((cut % hour_us) + hour_us) % hour_us; /* whole hours only */
    if (nph_db_begin(db, err))
        return -1;
    st = nph_db_prepare(db,
                        "SELECT resource_id, resource_type, project_id, cloud, meter,"
                        " ts - ((ts % 3600000000) + 3600000000) % 3600000000, SUM(value),"
                        " MAX(value), COUNT(*) FROM meter_sample WHERE period = 0 AND ts < ?"
                        " GROUP BY resource_id, resource_type, project_id, cloud, meter,"
                        " ts - ((ts % 3600000000) + 3600000000) % 3600000000",
                        err);
    if (!st || nph_stmt_bind_int64(st, 1, cut, err))
        goto cleanup;
    while ((step = nph_stmt_step(st, err)) == 1) {
        int bad = 0;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct hour_row *nr = realloc(rows, nc * sizeof(*nr));
            if (!nr) {
                nph_error_nomem(err);
                goto cleanup;
            }
            rows = nr;
            cap = nc;
        }
        struct hour_row *h = &rows[n++];
        memset(h, 0, sizeof(*h));
        h->resource_id = dup_col(st, 0, &bad);
        h->resource_type = dup_col(st, 1, &bad);
        h->project_id = dup_col(st, 2, &bad);
        h->cloud = dup_col(st, 3, &bad);
        h->meter = dup_col(st, 4, &bad);
        h->hour = nph_stmt_col_int64(st, 5);
        h->sum = nph_stmt_col_int64(st, 6);
        h->max = nph_stmt_col_int64(st, 7);
        h->count = nph_stmt_col_int64(st, 8);
        if (bad) {
            nph_error_nomem(err);
            goto cleanup;
        }
        folded += h->count;
    }
    if (step < 0)
        goto cleanup;
    nph_stmt_done(st);
    st = NULL;
    if (n && !(out = calloc(n, sizeof(*out)))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (struct nph_meter_sample){rows[i].hour,
                                           rows[i].resource_id,
                                           rows[i].resource_type,
                                           rows[i].project_id,
                                           rows[i].cloud,
                                           rows[i].meter,
                                           rows[i].count ? rows[i].sum / rows[i].count : 0,
                                           NPH_METER_HOUR,
                                           rows[i].max,
                                           rows[i].count};
    if (nph_meter_append_many(db, out, n, NULL, err))
        goto cleanup;
    if (!(st = nph_db_prepare(db, "DELETE FROM meter_sample WHERE period = 0 AND ts < ?", err)) ||
        nph_stmt_bind_int64(st, 1, cut, err) || nph_stmt_step(st, err) < 0)
        goto cleanup;
    nph_stmt_done(st);
    if (!(st = nph_db_prepare(db, "DELETE FROM meter_sample WHERE ts < ?", err)) ||
        nph_stmt_bind_int64(st, 1, now - retention, err) || nph_stmt_step(st, err) < 0)
        goto cleanup;
    dropped = nph_stmt_changes(st);
    nph_stmt_done(st);
    st = NULL;
    if (nph_db_commit(db, err))
        goto cleanup;
    if (downsampled)
        *downsampled = folded;
    if (expired)
        *expired = dropped;
    rc = 0;
cleanup:
    nph_stmt_done(st);
    if (rc)
        nph_db_rollback(db, NULL);
    hour_rows_free(rows, n);
    free(out);
    return rc;
}

int nph_meter_scan(struct nph_db *db, int64_t from, int64_t to, const char *resource_id,
                   const char *project_id, const char *meter, nph_meter_visit_fn fn, void *ctx,
                   struct nph_error *err)
{
    /* NULL filters match everything: "? IS NULL OR col = ?" keeps one statement text. */
    struct nph_stmt *st = nph_db_prepare(
        db,
        "SELECT resource_id, resource_type, project_id, cloud, meter, ts, period, value, max,"
        " count FROM meter_sample WHERE ts >= ? AND ts < ?"
        " AND (CAST(? AS TEXT) IS NULL OR resource_id = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR project_id = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR meter = ?)"
        " ORDER BY resource_id, meter, ts, period",
        err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_int64(st, 1, from, err) || nph_stmt_bind_int64(st, 2, to, err) ||
        nph_stmt_bind_text(st, 3, resource_id, err) ||
        nph_stmt_bind_text(st, 4, resource_id, err) || nph_stmt_bind_text(st, 5, project_id, err) ||
        nph_stmt_bind_text(st, 6, project_id, err) || nph_stmt_bind_text(st, 7, meter, err) ||
        nph_stmt_bind_text(st, 8, meter, err)) {
        nph_stmt_done(st);
        return -1;
    }
    while ((rc = nph_stmt_step(st, err)) == 1) {
        struct nph_meter_sample s = {nph_stmt_col_int64(st, 5), nph_stmt_col_text(st, 0),
                                     nph_stmt_col_text(st, 1),  nph_stmt_col_text(st, 2),
                                     nph_stmt_col_text(st, 3),  nph_stmt_col_text(st, 4),
                                     nph_stmt_col_int64(st, 7), nph_stmt_col_int64(st, 6),
                                     nph_stmt_col_int64(st, 8), nph_stmt_col_int64(st, 9)};
        if ((rc = fn(ctx, &s, err)) != 0)
            break;
    }
    nph_stmt_done(st);
    return rc < 0 ? -1 : rc;
}
