/*
 * nph_ledger.c - the ledger_event table and appending to it. Events are never updated or
 * deleted by Nephele. On PostgreSQL the usage intervals the reports read are maintained with
 * every append, in the same transaction (nph_ledger_usage.c); on SQLite the reports scan and
 * rate the events.
 */
#include "nph_ledger.h"

#include "nph_clock.h"
#include "nph_id.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_V1                                                                                  \
    {                                                                                              \
        1, "ledger events",                                                                        \
            "CREATE TABLE ledger_event (id TEXT PRIMARY KEY, ts BIGINT NOT NULL, event TEXT NOT "  \
            "NULL,"                                                                                \
            " resource_id TEXT NOT NULL, resource_type TEXT NOT NULL, project_id TEXT NOT NULL,"   \
            " cloud TEXT NOT NULL, region TEXT, offering TEXT, size_gb BIGINT);"                   \
            "CREATE INDEX ledger_event_resource ON ledger_event (resource_id, ts);"                \
            "CREATE INDEX ledger_event_ts ON ledger_event (ts);"                                   \
            "CREATE INDEX ledger_event_project ON ledger_event (project_id, ts);"                  \
    }

/* Version 2 makes ingestion cheap: the ledger is written far more than it is searched by key.
 * The ids stay (time-ordered, unique by construction, the tie-break of equal times) without a
 * unique index; the by-resource and by-project indexes go. On PostgreSQL a BRIN index on ts
 * (events arrive in time order) and, in version 3, the usage intervals the reports read; on
 * SQLite, whose reports load and rate the whole ledger in memory anyway (sorting it costs
 * less than an index on randomly arriving times costs every insert), none, and no id column
 * either: the rowid of an append-only table is the write order (the old ids' order is kept
 * by copying the rows in it). */
static const struct nph_migration ledger_migrations_pg[] = {
    LEDGER_V1,
    {2, "compact ledger: no unique id index, BRIN on ts",
     "ALTER TABLE ledger_event DROP CONSTRAINT ledger_event_pkey;"
     "DROP INDEX ledger_event_resource; DROP INDEX ledger_event_project;"
     "DROP INDEX ledger_event_ts;"
     "CREATE INDEX ledger_event_ts ON ledger_event USING brin (ts);"},
    {3, "usage intervals maintained at ingestion",
     "CREATE TABLE usage_interval (resource_id TEXT NOT NULL, rtype TEXT NOT NULL,"
     " project_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT, offering TEXT,"
     " size_gb BIGINT NOT NULL, state INTEGER NOT NULL, s BIGINT NOT NULL, e BIGINT NOT NULL);"
     "CREATE INDEX usage_interval_e ON usage_interval USING brin (e);"
     "CREATE TABLE usage_open (resource_id TEXT PRIMARY KEY, rtype TEXT NOT NULL,"
     " project_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT, offering TEXT,"
     " size_gb BIGINT NOT NULL, state INTEGER NOT NULL, s BIGINT NOT NULL, s_ts BIGINT NOT NULL,"
     " base INTEGER NOT NULL);"
     /* the intervals of the events already there, with the rules of nph_ledger_usage.c */
     "CREATE TEMPORARY TABLE usage_derive AS"
     " WITH ev AS ("
     "  SELECT id, ts, event, resource_id, resource_type AS rtype, project_id, cloud, region,"
     "   offering, size_gb, row_number() OVER (PARTITION BY resource_id ORDER BY ts, id) AS rn"
     "  FROM ledger_event WHERE resource_type IN ('server', 'volume', 'bucket')"
     "   AND event IN ('created', 'resized', 'stopped', 'started', 'deleted')),"
     " w AS ("
     "  SELECT resource_id, rtype, project_id, cloud, region, event, ts,"
     "   lead(ts) OVER r AS next_ts,"
     "   max(CASE event WHEN 'created' THEN rn * 8 + 1 WHEN 'started' THEN rn * 8 + 2"
     "    WHEN 'stopped' THEN rn * 8 + 3 WHEN 'deleted' THEN rn * 8 + 4 END) OVER r AS base,"
     "   max(CASE WHEN offering IS NOT NULL OR event = 'created' THEN"
     "    lpad(CAST(rn AS TEXT), 19, '0') || COALESCE('+' || offering, '-') END COLLATE \"C\")"
     "    OVER r AS off_packed,"
     "   max(CASE WHEN size_gb IS NOT NULL OR event = 'created' THEN"
     "    rn * 2147483648 + COALESCE(size_gb + 1, 0) END) OVER r AS size_packed"
     "  FROM ev WINDOW r AS (PARTITION BY resource_id ORDER BY ts, id"
     "   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))"
     " SELECT resource_id, rtype, project_id, cloud, region,"
     "  CASE WHEN substr(off_packed, 20, 1) = '+' THEN substr(off_packed, 21) END AS offering,"
     "  GREATEST(COALESCE(size_packed % 2147483648, 0) - 1, 0) AS size_gb,"
     "  CASE WHEN rtype <> 'server' THEN CASE WHEN event = 'deleted' THEN 0 ELSE 1 END"
     "   WHEN event IN ('created', 'started') THEN 1 WHEN event = 'deleted' THEN 0"
     "   WHEN event = 'stopped' OR base % 8 = 3 THEN 2 ELSE 1 END AS state,"
     "  COALESCE(base % 8, 0) AS base, ts AS s_ts, next_ts AS e_ts"
     " FROM w;"
     "INSERT INTO usage_interval SELECT resource_id, rtype, project_id, cloud, region, offering,"
     " size_gb, state, (s_ts - ((s_ts % 1000000) + 1000000) % 1000000) / 1000000,"
     " (e_ts - ((e_ts % 1000000) + 1000000) % 1000000) / 1000000"
     " FROM usage_derive WHERE e_ts IS NOT NULL AND state <> 0;"
     "INSERT INTO usage_open SELECT resource_id, rtype, project_id, cloud, region, offering,"
     " size_gb, state, (s_ts - ((s_ts % 1000000) + 1000000) % 1000000) / 1000000, s_ts, base"
     " FROM usage_derive WHERE e_ts IS NULL;"
     "DROP TABLE usage_derive;"},
    {4, "daily usage roll-up maintained at ingestion",
     /* per atom, state and UTC day: the pieces (n: of [s, e), nh: of the segment rounded up to
      * whole hours) and their seconds (servers) or GB-seconds (volumes, buckets), q and qh;
      * region and offering as '-' (none) or '+' and the name, so that the key has no NULL */
     "CREATE TABLE usage_day (day BIGINT NOT NULL, project_id TEXT NOT NULL, cloud TEXT NOT NULL,"
     " region TEXT NOT NULL, offering TEXT NOT NULL, rtype TEXT NOT NULL, state INTEGER NOT NULL,"
     " n BIGINT NOT NULL, nh BIGINT NOT NULL, q BIGINT NOT NULL, qh BIGINT NOT NULL,"
     " PRIMARY KEY (day, project_id, cloud, region, offering, rtype, state))"
     " WITH (fillfactor = 70);"
     "INSERT INTO usage_day SELECT d, project_id, cloud, COALESCE('+' || region, '-'),"
     " COALESCE('+' || offering, '-'), rtype, state,"
     " COUNT(*) FILTER (WHERE e > d AND s < d + 86400), COUNT(*),"
     " SUM(GREATEST(LEAST(e, d + 86400) - GREATEST(s, d), 0) * m),"
     " SUM((LEAST(eh, d + 86400) - GREATEST(s, d)) * m)"
     " FROM (SELECT project_id, cloud, region, offering, rtype, state, s, e,"
     "  s + (e - s + 3599) / 3600 * 3600 AS eh,"
     "  CASE WHEN rtype = 'server' THEN 1 ELSE size_gb END AS m"
     "  FROM usage_interval WHERE e > s) i,"
     " generate_series(s - ((s % 86400) + 86400) % 86400, eh - 1, 86400) AS d"
     " GROUP BY 1, 2, 3, 4, 5, 6, 7;"},
    /* Version 5 stores the daily roll-up a calendar month to a row (nph_ledger_usage.c): per
     * atom, state and UTC month (month: its first second), the sums n, nh, q, qh of each day
     * of the month in columns n00, nh00, q00, qh00 (the 1st) ... qh30 (the 31st); a DO block
     * generates the statements naming the 124 columns. The view usage_day unfolds them into
     * the rows of version 4 (days whose four sums are all zero left out), usage_day_in(days)
     * into those of the given days, reading only their months. */
    {5, "daily usage roll-up stored a month to a row",
     "DO $m$ DECLARE cols TEXT; piv TEXT; unf TEXT; BEGIN"
     " SELECT string_agg(format('n%1$s BIGINT NOT NULL DEFAULT 0, nh%1$s BIGINT NOT NULL"
     "  DEFAULT 0, q%1$s BIGINT NOT NULL DEFAULT 0, qh%1$s BIGINT NOT NULL DEFAULT 0', d), ', '"
     "  ORDER BY i),"
     "  string_agg(format('COALESCE(SUM(n) FILTER (WHERE i = %1$s), 0),"
     "  COALESCE(SUM(nh) FILTER (WHERE i = %1$s), 0), COALESCE(SUM(q) FILTER (WHERE i = %1$s), 0),"
     "  COALESCE(SUM(qh) FILTER (WHERE i = %1$s), 0)', i), ', ' ORDER BY i),"
     "  string_agg(format('(%s, b.n%2$s, b.nh%2$s, b.q%2$s, b.qh%2$s)', i, d), ', ' ORDER BY i)"
     "  INTO cols, piv, unf"
     "  FROM (SELECT i, lpad(CAST(i AS TEXT), 2, '0') AS d FROM generate_series(0, 30) AS i) x;"
     " EXECUTE 'CREATE TABLE usage_month (month BIGINT NOT NULL, project_id TEXT NOT NULL,"
     "  cloud TEXT NOT NULL, region TEXT NOT NULL, offering TEXT NOT NULL, rtype TEXT NOT NULL,"
     "  state INTEGER NOT NULL, ' || cols || ', PRIMARY KEY (month, project_id, cloud, region,"
     "  offering, rtype, state)) WITH (fillfactor = 50)';"
     " EXECUTE 'INSERT INTO usage_month SELECT month, project_id, cloud, region, offering,"
     "  rtype, state, ' || piv || ' FROM (SELECT *, (day - month) / 86400 AS i FROM (SELECT *,"
     "  CAST(extract(epoch FROM date_trunc(''month'', to_timestamp(day) AT TIME ZONE ''UTC''))"
     "  AS BIGINT) AS month FROM usage_day) m) u"
     "  GROUP BY month, project_id, cloud, region, offering, rtype, state';"
     " EXECUTE 'DROP TABLE usage_day';"
     " EXECUTE 'CREATE VIEW usage_day AS SELECT b.month + v.i * 86400 AS day,"
     "  b.project_id, b.cloud, b.region, b.offering, b.rtype, b.state, v.n, v.nh, v.q, v.qh,"
     "  b.month FROM usage_month b CROSS JOIN LATERAL (VALUES ' || unf || ')"
     "  AS v (i, n, nh, q, qh) WHERE v.n <> 0 OR v.nh <> 0 OR v.q <> 0 OR v.qh <> 0';"
     " END $m$;"
     "CREATE OR REPLACE FUNCTION usage_day_in(days BIGINT[]) RETURNS TABLE (day BIGINT,"
     " project_id TEXT, cloud TEXT, region TEXT, offering TEXT, rtype TEXT, state INTEGER,"
     " n BIGINT, nh BIGINT, q BIGINT, qh BIGINT) LANGUAGE sql STABLE AS"
     " 'SELECT day, project_id, cloud, region, offering, rtype, state, n, nh, q, qh"
     " FROM usage_day WHERE month = ANY (ARRAY (SELECT DISTINCT CAST(extract(epoch FROM"
     " date_trunc(''month'', to_timestamp(d) AT TIME ZONE ''UTC'')) AS BIGINT)"
     " FROM unnest(days) AS d)) AND day = ANY (days)';"},
};

static const struct nph_migration ledger_migrations_sqlite[] = {
    LEDGER_V1,
    {2, "compact ledger: no id (the rowid is the write order), no indexes",
     "CREATE TABLE ledger_event_v2 (ts BIGINT NOT NULL, event TEXT NOT NULL,"
     " resource_id TEXT NOT NULL, resource_type TEXT NOT NULL, project_id TEXT NOT NULL,"
     " cloud TEXT NOT NULL, region TEXT, offering TEXT, size_gb BIGINT);"
     "INSERT INTO ledger_event_v2 SELECT ts, event, resource_id, resource_type, project_id,"
     " cloud, region, offering, size_gb FROM ledger_event ORDER BY ts, id;"
     "DROP TABLE ledger_event;"
     "ALTER TABLE ledger_event_v2 RENAME TO ledger_event;"},
};

const char *nph_ledger_kind_name(enum nph_ledger_kind kind)
{
    switch (kind) {
    case NPH_LEDGER_CREATED:
        return "created";
    case NPH_LEDGER_RESIZED:
        return "resized";
    case NPH_LEDGER_STOPPED:
        return "stopped";
    case NPH_LEDGER_STARTED:
        return "started";
    case NPH_LEDGER_DELETED:
        return "deleted";
    }
    return "unknown";
}

int nph_ledger_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    if (nph_store_engine(store) == NPH_STORE_POSTGRES)
        return nph_store_migrate(store, "ledger", ledger_migrations_pg,
                                 sizeof(ledger_migrations_pg) / sizeof(ledger_migrations_pg[0]),
                                 applied, err);
    return nph_store_migrate(store, "ledger", ledger_migrations_sqlite,
                             sizeof(ledger_migrations_sqlite) / sizeof(ledger_migrations_sqlite[0]),
                             applied, err);
}

/* Event ids are time-ordered UUIDs (version 7 layout: 48 bits of Unix milliseconds, then a
 * 62-bit sequence that starts at a random value each millisecond and counts up), so that ids
 * written later sort later (the tie-break of events with the same time is the order they were
 * written in) and index inserts append instead of landing at random pages. */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t id_ms = -1;
static uint64_t id_seq;

static int ledger_ids(char (*out)[NPH_UUID_LEN + 1], size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int64_t ms = nph_clock_now() / 1000;
    int rc = 0;
    pthread_mutex_lock(&id_lock);
    if (ms > id_ms) {
        uint64_t r = 0;
        if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
            rc = -1;
        id_ms = ms;
        id_seq = r >> 3; /* room to count up within the millisecond */
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t b[16];
        uint64_t q = id_seq++ & ((1ULL << 62) - 1);
        if (q == (1ULL << 62) - 1) /* a sequence exhausted: borrow the next millisecond */
            id_ms++;
        for (int k = 0; k < 6; k++)
            b[k] = (uint8_t)((uint64_t)id_ms >> (40 - 8 * k));
        b[6] = (uint8_t)(0x70 | ((q >> 58) & 0x0f));
        b[7] = (uint8_t)(q >> 50);
        b[8] = (uint8_t)(0x80 | ((q >> 44) & 0x3f));
        for (int k = 9; k < 14; k++)
            b[k] = (uint8_t)(q >> (36 - 8 * (k - 9)));
        b[14] = (uint8_t)((q & 0x0f) << 4);
        b[15] = 0;
        char *p = out[i];
        for (int k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10)
                *p++ = '-';
            *p++ = hex[b[k] >> 4];
            *p++ = hex[b[k] & 15];
        }
        *p = '\0';
    }
    pthread_mutex_unlock(&id_lock);
    return rc;
}

static int event_valid(const struct nph_ledger_event *ev, struct nph_error *err)
{
    if (!ev->resource_id || !ev->resource_type || !ev->project_id || !ev->cloud)
        return nph_error_set(err, NPH_E_INVALID,
                             "a ledger event needs a resource id and type, a project and a cloud");
    if ((unsigned)ev->kind > NPH_LEDGER_DELETED)
        return nph_error_set(err, NPH_E_INVALID, "unknown ledger event kind %d", (int)ev->kind);
    return 0;
}

static int append_one(struct nph_db *db, const struct nph_ledger_event *ev, int64_t now,
                      struct nph_error *err)
{
    char id[NPH_UUID_LEN + 1];
    struct nph_stmt *st;
    int o = nph_db_engine(db) == NPH_STORE_SQLITE ? 0 : 1; /* SQLite: no id column */
    int rc;
    if (o && ledger_ids(&id, 1))
        return nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
    st = nph_db_prepare(db,
                        o ? "INSERT INTO ledger_event (id, ts, event, resource_id, resource_type,"
                            " project_id, cloud, region, offering, size_gb)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                          : "INSERT INTO ledger_event (ts, event, resource_id, resource_type,"
                            " project_id, cloud, region, offering, size_gb)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        err);
    if (!st)
        return -1;
    if ((o && nph_stmt_bind_text(st, 1, id, err)) ||
        nph_stmt_bind_int64(st, o + 1, ev->ts ? ev->ts : now, err) ||
        nph_stmt_bind_text(st, o + 2, nph_ledger_kind_name(ev->kind), err) ||
        nph_stmt_bind_text(st, o + 3, ev->resource_id, err) ||
        nph_stmt_bind_text(st, o + 4, ev->resource_type, err) ||
        nph_stmt_bind_text(st, o + 5, ev->project_id, err) ||
        nph_stmt_bind_text(st, o + 6, ev->cloud, err) ||
        nph_stmt_bind_text(st, o + 7, ev->region, err) ||
        nph_stmt_bind_text(st, o + 8, ev->offering, err) ||
        (ev->size_gb < 0 ? nph_stmt_bind_null(st, o + 9, err)
                         : nph_stmt_bind_int64(st, o + 9, ev->size_gb, err))) {
        nph_stmt_done(st);
        return -1;
    }
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    if (rc < 0)
        return -1;
    return nph_ledger_usage_update(db, ev, 1, now, err);
}

int nph_ledger_append(struct nph_db *db, const struct nph_ledger_event *ev, struct nph_error *err)
{
    int64_t now = nph_clock_now();
    int rc;
    if (event_valid(ev, err))
        return -1;
    /* The event and its intervals (PostgreSQL) commit together. */
    if (nph_db_engine(db) != NPH_STORE_POSTGRES || nph_db_in_transaction(db))
        return append_one(db, ev, now, err);
    if (nph_db_begin(db, err))
        return -1;
    rc = append_one(db, ev, now, err);
    if (rc == 0)
        rc = nph_db_commit(db, err);
    if (rc)
        nph_db_rollback(db, NULL);
    return rc;
}

int nph_ledger_append_many(struct nph_db *db, const struct nph_ledger_event *evs, size_t n,
                           size_t *failed, struct nph_error *err)
{
    static const char *const cols[] = {
        "id",         "ts",    "event",  "resource_id", "resource_type",
        "project_id", "cloud", "region", "offering",    "size_gb"};
    struct nph_bulk *b = NULL;
    char(*ids)[NPH_UUID_LEN + 1] = NULL;
    struct nph_usage_plan *plan = NULL;
    int own = 0, rc = -1;
    int o = nph_db_engine(db) == NPH_STORE_SQLITE ? 0 : 1; /* SQLite: no id column */
    int64_t now = nph_clock_now();

    for (size_t i = 0; i < n; i++)
        if (event_valid(&evs[i], err)) {
            if (failed)
                *failed = i;
            return nph_error_prefix(err, "event %zu", i + 1);
        }
    if (n == 0)
        return 0;
    if (!nph_db_in_transaction(db)) {
        if (nph_db_begin(db, err))
            return -1;
        own = 1;
    }
    if (!(b = nph_db_bulk_begin(db, "ledger_event", cols + 1 - o, 9 + o, err)))
        goto cleanup;
    /* the batch's ids in one call: one lock and one clock reading instead of n */
    if (o && !(ids = malloc(n * sizeof(*ids)))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (o && ledger_ids(ids, n)) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        const struct nph_ledger_event *ev = &evs[i];
        struct nph_bulk_val v[10] = {
            {NPH_BULK_TEXT, 0, o ? ids[i] : NULL},
            {NPH_BULK_INT64, ev->ts ? ev->ts : now, NULL},
            {NPH_BULK_TEXT, 0, nph_ledger_kind_name(ev->kind)},
            {NPH_BULK_TEXT, 0, ev->resource_id},
            {NPH_BULK_TEXT, 0, ev->resource_type},
            {NPH_BULK_TEXT, 0, ev->project_id},
            {NPH_BULK_TEXT, 0, ev->cloud},
            {NPH_BULK_TEXT, 0, ev->region},
            {NPH_BULK_TEXT, 0, ev->offering},
            {ev->size_gb < 0 ? NPH_BULK_NULL : NPH_BULK_INT64, ev->size_gb, NULL},
        };
        if (nph_bulk_row(b, v + 1 - o, err)) {
            if (failed)
                *failed = i;
            goto cleanup;
        }
    }
    /* PostgreSQL: sort the batch while the server still works through the COPY */
    if (o && !(plan = nph_ledger_usage_plan(evs, n, now))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    rc = nph_bulk_end(b, 0, err);
    b = NULL;
    if (rc == 0 && plan)
        rc = nph_ledger_usage_apply(db, plan, err);
    if (rc == 0 && own)
        rc = nph_db_commit(db, err);
cleanup:
    if (b)
        nph_bulk_end(b, 1, NULL);
    free(ids);
    nph_ledger_usage_plan_free(plan);
    if (rc && own)
        nph_db_rollback(db, NULL);
    return rc;
}

int nph_ledger_kind_parse(const char *name, enum nph_ledger_kind *out)
{
    for (int k = NPH_LEDGER_CREATED; name && k <= NPH_LEDGER_DELETED; k++)
        if (strcmp(name, nph_ledger_kind_name((enum nph_ledger_kind)k)) == 0) {
            *out = (enum nph_ledger_kind)k;
            return 0;
        }
    return -1;
}

int nph_ledger_scan(struct nph_db *db, int64_t from, int64_t to, const char *project_id,
                    nph_ledger_visit_fn fn, void *ctx, struct nph_error *err)
{
    /* ties in the order written: the id on PostgreSQL, the rowid on SQLite */
    static const char *const sqls[2][2] = {
        {"SELECT ts, event, resource_id, resource_type, project_id, cloud, region, offering,"
         " size_gb FROM ledger_event WHERE ts >= ? AND ts < ? ORDER BY ts, id",
         "SELECT ts, event, resource_id, resource_type, project_id, cloud, region, offering,"
         " size_gb FROM ledger_event WHERE ts >= ? AND ts < ? AND project_id = ? ORDER BY ts, id"},
        {"SELECT ts, event, resource_id, resource_type, project_id, cloud, region, offering,"
         " size_gb FROM ledger_event WHERE ts >= ? AND ts < ? ORDER BY ts, rowid",
         "SELECT ts, event, resource_id, resource_type, project_id, cloud, region, offering,"
         " size_gb FROM ledger_event WHERE ts >= ? AND ts < ? AND project_id = ?"
         " ORDER BY ts, rowid"}};
    const char *sql = sqls[nph_db_engine(db) == NPH_STORE_SQLITE][project_id != NULL];
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_int64(st, 1, from, err) || nph_stmt_bind_int64(st, 2, to, err) ||
        (project_id && nph_stmt_bind_text(st, 3, project_id, err))) {
        nph_stmt_done(st);
        return -1;
    }
    while ((rc = nph_stmt_step(st, err)) == 1) {
        struct nph_ledger_event ev;
        memset(&ev, 0, sizeof(ev));
        if (nph_ledger_kind_parse(nph_stmt_col_text(st, 1), &ev.kind) < 0)
            continue;
        ev.ts = nph_stmt_col_int64(st, 0);
        ev.resource_id = nph_stmt_col_text(st, 2);
        ev.resource_type = nph_stmt_col_text(st, 3);
        ev.project_id = nph_stmt_col_text(st, 4);
        ev.cloud = nph_stmt_col_text(st, 5);
        ev.region = nph_stmt_col_text(st, 6);
        ev.offering = nph_stmt_col_text(st, 7);
        ev.size_gb = nph_stmt_col_is_null(st, 8) ? -1 : nph_stmt_col_int64(st, 8);
        if ((rc = fn(ctx, &ev, err)) != 0)
            break;
    }
    nph_stmt_done(st);
    return rc < 0 ? -1 : rc;
}
