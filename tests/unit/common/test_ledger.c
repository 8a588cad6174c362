/*
 * test_ledger.c - the ledger's batched ingestion (nph_ledger_append_many) and the store's bulk
 * loads under it, on both engines: group "ledger_sqlite" on a temporary file, group
 * "ledger_postgresql" on the server named by NPH_TEST_PG_URL (skipped with a printed reason
 * without one; tests/pg_throwaway.sh starts a real server: ctest runs this suite once more
 * under it as common/test_ledger_pg).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nph_ledger.h"
#include "nph_meter.h"
#include "nph_store.h"

struct fixture {
    char dir[64];
    struct nph_store *s;
};

static int setup_sqlite(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct fixture *f = calloc(1, sizeof(*f));
    char url[128];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph_test_ledger.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(url, sizeof(url), "sqlite://%s/ledger.db", f->dir);
    if (nph_store_open(url, 2, &f->s, &err) || nph_ledger_migrate(f->s, NULL, &err) ||
        nph_meter_migrate(f->s, NULL, &err)) {
        fprintf(stderr, "opening %s: %s (%s)\n", url, err.msg, err.detail);
        nph_store_close(f->s);
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_pg(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct fixture *f = calloc(1, sizeof(*f));
    const char *url = getenv("NPH_TEST_PG_URL");
    if (!f)
        return -1;
    *state = f;
    if (!url || !*url) {
        print_message("ledger_postgresql: NPH_TEST_PG_URL is not set, skipping the PostgreSQL "
                      "cases (run under tests/pg_throwaway.sh to get a server)\n");
        return 0;
    }
    if (nph_store_open(url, 2, &f->s, &err) || nph_ledger_migrate(f->s, NULL, &err) ||
        nph_meter_migrate(f->s, NULL, &err)) {
        fprintf(stderr, "opening %s: %s (%s)\n", url, err.msg, err.detail);
        nph_store_close(f->s);
        free(f);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[128];
    if (!f)
        return 0;
    nph_store_close(f->s);
    if (f->dir[0]) {
        static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
            unlink(path);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* A connection on an empty ledger, or NULL when the engine is not available (skip). */
static struct nph_db *fresh(void **state)
{
    struct fixture *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db;
    if (!f->s) {
        skip();
        return NULL;
    }
    db = nph_store_acquire(f->s, &err);
    assert_non_null(db);
    assert_int_equal(nph_db_exec(db,
                                 "DELETE FROM ledger_event; DELETE FROM meter_sample;"
                                 " DROP TABLE IF EXISTS bulk_t;"
                                 " CREATE TABLE bulk_t (k TEXT PRIMARY KEY, n BIGINT, s TEXT)",
                                 &err),
                     0);
    if (nph_db_engine(db) == NPH_STORE_POSTGRES)
        assert_int_equal(
            nph_db_exec(
                db, "DELETE FROM usage_interval; DELETE FROM usage_open; DELETE FROM usage_month",
                &err),
            0);
    return db;
}

static int64_t count(struct nph_db *db, const char *sql)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_stmt *st = nph_db_prepare(db, sql, &err);
    int64_t n;
    assert_non_null(st);
    assert_int_equal(nph_stmt_step(st, &err), 1);
    n = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    return n;
}

struct seen {
    size_t n;
    struct nph_ledger_event ev[4];
    char strs[4][4][64];
};

static int collect(void *ctx, const struct nph_ledger_event *ev, struct nph_error *err)
{
    struct seen *s = ctx;
    (void)err;
    if (s->n < 4) {
        struct nph_ledger_event *d = &s->ev[s->n];
        *d = *ev;
        snprintf(s->strs[s->n][0], 64, "%s", ev->resource_id);
        snprintf(s->strs[s->n][1], 64, "%s", ev->region ? ev->region : "(null)");
        snprintf(s->strs[s->n][2], 64, "%s", ev->offering ? ev->offering : "(null)");
        snprintf(s->strs[s->n][3], 64, "%s", ev->project_id);
    }
    s->n++;
    return 0;
}

/* Every field comes back as written, awkward characters and NULLs included. */
static void test_many_round_trip(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    struct seen seen = {0};
    const struct nph_ledger_event evs[] = {
        {1000000, NPH_LEDGER_CREATED, "s\t1\\x", "server", "p\nq", "home", NULL, "m1.small", -1},
        {2000000, NPH_LEDGER_RESIZED, "v-1", "volume", "alpha", "aws", "eu\r1", NULL, 50},
        {3000000, NPH_LEDGER_DELETED, "s\t1\\x", "server", "p\nq", "home", "r", "\\N", 0},
    };
    size_t bad = 99;
    assert_int_equal(nph_ledger_append_many(db, evs, 3, &bad, &err), 0);
    assert_int_equal(bad, 99);
    assert_false(nph_db_in_transaction(db));
    assert_int_equal(nph_ledger_scan(db, 0, INT64_MAX, NULL, collect, &seen, &err), 0);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.ev[0].ts, 1000000);
    assert_int_equal(seen.ev[0].kind, NPH_LEDGER_CREATED);
    assert_string_equal(seen.strs[0][0], "s\t1\\x");
    assert_string_equal(seen.strs[0][1], "(null)");
    assert_string_equal(seen.strs[0][2], "m1.small");
    assert_string_equal(seen.strs[0][3], "p\nq");
    assert_int_equal(seen.ev[0].size_gb, -1);
    assert_int_equal(seen.ev[1].kind, NPH_LEDGER_RESIZED);
    assert_string_equal(seen.strs[1][1], "eu\r1");
    assert_string_equal(seen.strs[1][2], "(null)");
    assert_int_equal(seen.ev[1].size_gb, 50);
    assert_int_equal(seen.ev[2].kind, NPH_LEDGER_DELETED);
    assert_string_equal(seen.strs[2][2], "\\N"); /* text, not COPY's NULL marker */
    assert_int_equal(seen.ev[2].size_gb, 0);
    assert_int_equal(count(db, nph_db_engine(db) == NPH_STORE_POSTGRES
                                   ? "SELECT COUNT(DISTINCT id) FROM ledger_event"
                                   : "SELECT COUNT(DISTINCT rowid) FROM ledger_event"),
                     3);
    nph_store_release(db);
}

/* A bad event anywhere in the batch: nothing is written, its index is reported. */
static void test_many_invalid_writes_nothing(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    const struct nph_ledger_event evs[] = {
        {1000000, NPH_LEDGER_CREATED, "s1", "server", "p", "home", NULL, "m1", -1},
        {2000000, NPH_LEDGER_CREATED, "s2", "server", "p", NULL, NULL, "m1", -1},
    };
    size_t bad = 99;
    assert_int_equal(nph_ledger_append_many(db, evs, 2, &bad, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(err.msg, "event 2"));
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 0);
    assert_int_equal(nph_ledger_append_many(db, evs, 0, NULL, &err), 0);
    nph_store_release(db);
}

/* Inside the caller's transaction: a rollback takes the batch with it. */
static void test_many_joins_transaction(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    struct nph_ledger_event ev = {
        1000000, NPH_LEDGER_CREATED, "s1", "server", "p", "home", NULL, "m1", -1};
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(nph_ledger_append_many(db, &ev, 1, NULL, &err), 0);
    assert_true(nph_db_in_transaction(db));
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 1);
    assert_int_equal(nph_db_rollback(db, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 0);
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(nph_ledger_append_many(db, &ev, 1, NULL, &err), 0);
    assert_int_equal(nph_db_commit(db, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 1);
    nph_store_release(db);
}

/* Tens of thousands in one call (several COPY buffer flushes), with 0 = now. */
static void test_many_large(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    enum { N = 30000 };
    struct nph_ledger_event *evs = calloc(N, sizeof(*evs));
    char(*ids)[16] = calloc(N, sizeof(*ids));
    assert_non_null(evs);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%d", i / 3);
        evs[i] = (struct nph_ledger_event){i % 7 ? (int64_t)i * 1000000 : 0,
                                           (enum nph_ledger_kind)(i % 5),
                                           ids[i],
                                           "volume",
                                           "p",
                                           "home",
                                           "home-1",
                                           NULL,
                                           i};
    }
    assert_int_equal(nph_ledger_append_many(db, evs, N, NULL, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), N);
    assert_int_equal(count(db, "SELECT COUNT(DISTINCT resource_id) FROM ledger_event"), N / 3);
    assert_int_equal(count(db, "SELECT SUM(size_gb) FROM ledger_event"), (int64_t)N * (N - 1) / 2);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event WHERE event = 'stopped'"), N / 5);
    /* the ts = 0 ones got the clock's time, all the same within the batch */
    assert_int_equal(count(db, "SELECT COUNT(DISTINCT ts) FROM ledger_event"), N - 4286 + 1);
    free(evs);
    free(ids);
    nph_store_release(db);
}

/* PostgreSQL: the open segments of a batch's resources are found by the primary key however
 * small usage_open was when the connection first ran the lookup. A long-lived connection used
 * to keep the plan it cached while the table was nearly empty, a sequential scan, so each
 * append read every resource ever seen (the bench's ingestion slowed down as it went). */
static void test_open_lookup_uses_index(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    enum { N = 20000 };
    struct nph_ledger_event *evs;
    char(*ids)[16];
    if (!db)
        return;
    if (nph_db_engine(db) != NPH_STORE_POSTGRES) {
        nph_store_release(db);
        skip();
    }
    evs = calloc(N, sizeof(*evs));
    ids = calloc(N, sizeof(*ids));
    assert_non_null(evs);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%d", i);
        evs[i] = (struct nph_ledger_event){(int64_t)(i + 1) * 1000000,
                                           NPH_LEDGER_CREATED,
                                           ids[i],
                                           "volume",
                                           "p",
                                           "home",
                                           NULL,
                                           NULL,
                                           10};
    }
    /* the lookups run often enough on a tiny table for a generic plan to be cached */
    for (int i = 0; i < 12; i++)
        assert_int_equal(nph_ledger_append(db, &evs[i], &err), 0);
    assert_int_equal(nph_ledger_append_many(db, evs + 12, N - 12, NULL, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_open"), N);
    /* inside one transaction the backend's scan counters are not flushed: compare them */
    static const char scans[] = "SELECT seq_scan FROM pg_stat_xact_user_tables"
                                " WHERE relname = 'usage_open'";
    assert_int_equal(nph_db_begin(db, &err), 0);
    int64_t before = count(db, scans);
    evs[0].kind = NPH_LEDGER_DELETED;
    evs[0].ts = (int64_t)(N + 1) * 1000000;
    assert_int_equal(nph_ledger_append(db, &evs[0], &err), 0);
    assert_int_equal(count(db, scans), before);
    assert_int_equal(nph_db_commit(db, &err), 0);
    assert_int_equal(count(db, "SELECT state FROM usage_open WHERE resource_id = 'r0'"),
                     NPH_USAGE_NONE);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_interval"), 1);
    free(evs);
    free(ids);
    nph_store_release(db);
}

struct writer {
    struct nph_store *s;
    const struct nph_ledger_event *ev;
    atomic_int done;
    int rc;
    struct nph_error err;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct nph_db *db = nph_store_acquire(w->s, &w->err);
    w->rc = db ? nph_ledger_append_many(db, w->ev, 1, NULL, &w->err) : -1;
    if (db)
        nph_store_release(db);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Two writers of one resource at once: the second waits for the first to commit and then
 * continues from its open segment (before, both took the same one, or none for a new
 * resource, and the second failed on usage_open's key). */
static void test_concurrent_writers_one_resource(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct fixture *f = *state;
    struct nph_db *db = fresh(state);
    pthread_t t;
    if (!db)
        return;
    if (nph_db_engine(db) != NPH_STORE_POSTGRES) {
        nph_store_release(db);
        skip();
    }
    struct nph_ledger_event created = {
        1000000000000LL, NPH_LEDGER_CREATED, "conc-1", "volume", "p", "home", NULL, NULL, 10};
    struct nph_ledger_event resized = {1000000000000LL + 3600000000LL,
                                       NPH_LEDGER_RESIZED,
                                       "conc-1",
                                       "volume",
                                       "p",
                                       "home",
                                       NULL,
                                       NULL,
                                       20};
    struct writer w = {.s = f->s, .ev = &resized, .err = NPH_ERROR_INIT};
    atomic_init(&w.done, 0);
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(nph_ledger_append_many(db, &created, 1, NULL, &err), 0);
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    usleep(300000);
    assert_int_equal(atomic_load(&w.done), 0); /* waiting for the first writer */
    assert_int_equal(nph_db_commit(db, &err), 0);
    pthread_join(t, NULL);
    if (w.rc)
        fail_msg("the second writer failed: %s (%s)", w.err.msg, w.err.detail);
    /* one closed segment (10 GB for the hour), the open one from the resize on (20 GB) */
    assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_interval"), 1);
    assert_int_equal(count(db, "SELECT e - s FROM usage_interval"), 3600);
    assert_int_equal(count(db, "SELECT size_gb FROM usage_interval"), 10);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_open"), 1);
    assert_int_equal(count(db, "SELECT size_gb FROM usage_open"), 20);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 2);
    nph_store_release(db);
}

/* The store's bulk load itself: a duplicate key fails the load, in its transaction nothing
 * stays, and the connection works afterwards; bad names are refused; abort stores nothing. */
static void test_bulk_conflict_and_abort(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    static const char *const cols[] = {"k", "n", "s"};
    static const char *const bad_cols[] = {"k", "n; DROP TABLE x", "s"};
    struct nph_bulk_val row[3] = {
        {NPH_BULK_TEXT, 0, "a"}, {NPH_BULK_INT64, -42, NULL}, {NPH_BULK_NULL, 0, NULL}};
    struct nph_bulk *b;
    int rc = 0;

    assert_null(nph_db_bulk_begin(db, "bulk_t", bad_cols, 3, &err));
    assert_int_equal(err.code, NPH_E_INTERNAL);
    assert_null(nph_db_bulk_begin(db, "Bulk-T", cols, 3, &err));
    assert_null(nph_db_bulk_begin(db, "no_such_table", cols, 3, &err));
    assert_int_equal(err.code, NPH_E_STORE);
    assert_int_equal(count(db, "SELECT 1"), 1);

    /* a duplicate key: SQLite fails the row, PostgreSQL the end of the load */
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_non_null(b = nph_db_bulk_begin(db, "bulk_t", cols, 3, &err));
    assert_int_equal(nph_bulk_row(b, row, &err), 0);
    rc = nph_bulk_row(b, row, &err);
    rc = nph_bulk_end(b, 0, rc ? NULL : &err) || rc;
    assert_int_equal(rc, 1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(nph_db_rollback(db, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM bulk_t"), 0);

    /* abort: PostgreSQL cancels the COPY; the transaction's rollback clears SQLite's rows */
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_non_null(b = nph_db_bulk_begin(db, "bulk_t", cols, 3, &err));
    assert_int_equal(nph_bulk_row(b, row, &err), 0);
    assert_int_equal(nph_bulk_end(b, 1, &err), 0);
    assert_int_equal(nph_db_rollback(db, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM bulk_t"), 0);

    /* a good load; values come back typed */
    assert_non_null(b = nph_db_bulk_begin(db, "bulk_t", cols, 3, &err));
    assert_int_equal(nph_bulk_row(b, row, &err), 0);
    row[0].text = "b";
    row[2] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, "x\ty"};
    assert_int_equal(nph_bulk_row(b, row, &err), 0);
    assert_int_equal(nph_bulk_end(b, 0, &err), 0);
    assert_int_equal(count(db, "SELECT SUM(n) FROM bulk_t"), -84);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM bulk_t WHERE s IS NULL"), 1);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM bulk_t WHERE s = 'x\ty'"), 1);
    assert_int_equal(nph_bulk_end(NULL, 0, &err), 0);
    nph_store_release(db);
}

/* Every column type through the bulk path, both ways a value can be given (PostgreSQL loads
 * bigint, integer, smallint, text and varchar columns in COPY's binary format, a table with any
 * other type in the text format): extremes, NULLs, numbers for text columns and decimal text
 * for integer columns, text with the characters the text format escapes and UTF-8; on
 * PostgreSQL a value out of its column's range and a text that is no number fail the row. */
static void test_bulk_column_types(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    int pg = nph_db_engine(db) == NPH_STORE_POSTGRES;
    static const char *const cols[] = {"a", "b", "c", "d", "e"};
    static const char tricky[] = "tab\there\\ \\N newline\n cr\r caf\xc3\xa9 \"q\" '";
    struct nph_bulk *b;
    struct nph_stmt *st = NULL;
    assert_int_equal(nph_db_exec(db,
                                 "DROP TABLE IF EXISTS bulk_types; DROP TABLE IF EXISTS bulk_num;"
                                 " CREATE TABLE bulk_types (a BIGINT, b INTEGER, c SMALLINT,"
                                 " d TEXT, e VARCHAR(40));"
                                 " CREATE TABLE bulk_num (a BIGINT, b INTEGER, c SMALLINT,"
                                 " d TEXT, e NUMERIC)",
                                 &err),
                     0);
    for (int t = 0; t < 2; t++) {
        const char *table = t ? "bulk_num" : "bulk_types";
        struct nph_bulk_val rows[4][5] = {
            {{NPH_BULK_INT64, INT64_MAX, NULL},
             {NPH_BULK_INT64, INT32_MAX, NULL},
             {NPH_BULK_INT64, INT16_MAX, NULL},
             {NPH_BULK_TEXT, 0, tricky},
             {NPH_BULK_INT64, -42, NULL}},
            {{NPH_BULK_INT64, INT64_MIN, NULL},
             {NPH_BULK_INT64, INT32_MIN, NULL},
             {NPH_BULK_INT64, INT16_MIN, NULL},
             {NPH_BULK_TEXT, 0, ""},
             {NPH_BULK_TEXT, 0, "17"}},
            {{NPH_BULK_NULL, 0, NULL},
             {NPH_BULK_TEXT, 0, NULL},
             {NPH_BULK_NULL, 0, NULL},
             {NPH_BULK_NULL, 0, NULL},
             {NPH_BULK_TEXT, 0, NULL}},
            {{NPH_BULK_TEXT, 0, "-9000000000"},
             {NPH_BULK_TEXT, 0, "123"},
             {NPH_BULK_INT64, 0, NULL},
             {NPH_BULK_INT64, 7, NULL},
             {NPH_BULK_INT64, 0, NULL}},
        };
        assert_non_null(b = nph_db_bulk_begin(db, table, cols, 5, &err));
        for (int r = 0; r < 4; r++)
            if (nph_bulk_row(b, rows[r], &err))
                fail_msg("row %d: %s", r, err.msg);
        if (nph_bulk_end(b, 0, &err))
            fail_msg("%s: %s (%s)", table, err.msg, err.detail);
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT a, b, c, d, CAST(e AS TEXT) FROM %s ORDER BY a NULLS LAST", table);
        assert_non_null(st = nph_db_prepare(db, sql, &err));
        assert_int_equal(nph_stmt_step(st, &err), 1); /* INT64_MIN */
        assert_true(nph_stmt_col_int64(st, 0) == INT64_MIN);
        assert_int_equal(nph_stmt_col_int64(st, 1), INT32_MIN);
        assert_int_equal(nph_stmt_col_int64(st, 2), INT16_MIN);
        assert_string_equal(nph_stmt_col_text(st, 3), "");
        assert_string_equal(nph_stmt_col_text(st, 4), "17");
        assert_int_equal(nph_stmt_step(st, &err), 1); /* -9000000000 from text */
        assert_true(nph_stmt_col_int64(st, 0) == -9000000000LL);
        assert_int_equal(nph_stmt_col_int64(st, 1), 123);
        assert_int_equal(nph_stmt_col_int64(st, 2), 0);
        assert_string_equal(nph_stmt_col_text(st, 3), "7");
        assert_string_equal(nph_stmt_col_text(st, 4), "0");
        assert_int_equal(nph_stmt_step(st, &err), 1); /* INT64_MAX */
        assert_true(nph_stmt_col_int64(st, 0) == INT64_MAX);
        assert_int_equal(nph_stmt_col_int64(st, 1), INT32_MAX);
        assert_int_equal(nph_stmt_col_int64(st, 2), INT16_MAX);
        assert_string_equal(nph_stmt_col_text(st, 3), tricky);
        assert_string_equal(nph_stmt_col_text(st, 4), "-42");
        assert_int_equal(nph_stmt_step(st, &err), 1); /* all NULL */
        for (int c = 0; c < 5; c++)
            assert_true(nph_stmt_col_is_null(st, c));
        assert_int_equal(nph_stmt_step(st, &err), 0);
        nph_stmt_done(st);
    }
    if (pg) {
        struct nph_bulk_val over[5] = {{NPH_BULK_INT64, 1, NULL},
                                       {NPH_BULK_INT64, (int64_t)INT32_MAX + 1, NULL},
                                       {NPH_BULK_INT64, 1, NULL},
                                       {NPH_BULK_TEXT, 0, "x"},
                                       {NPH_BULK_TEXT, 0, "y"}};
        for (int k = 0; k < 2; k++) {
            if (k) { /* not a number for a bigint */
                over[1].i64 = 1;
                over[0] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, "12abc"};
            }
            assert_int_equal(nph_db_begin(db, &err), 0);
            assert_non_null(b = nph_db_bulk_begin(db, "bulk_types", cols, 5, &err));
            assert_int_equal(nph_bulk_row(b, over, &err), -1);
            assert_int_equal(err.code, NPH_E_INVALID);
            assert_int_equal(nph_bulk_end(b, 0, NULL), -1);
            assert_int_equal(nph_db_rollback(db, &err), 0);
        }
        assert_int_equal(count(db, "SELECT COUNT(*) FROM bulk_types"), 4);
    }
    nph_store_release(db);
}

/* ---- metering samples (nph_meter) ---------------------------------------------------------- */

#define H ((int64_t)3600 * 1000000)

struct msum {
    int n;
    int64_t value_sum, last_value, last_period, last_max, last_count;
};

static int msum_visit(void *ctx, const struct nph_meter_sample *s, struct nph_error *err)
{
    struct msum *m = ctx;
    (void)err;
    m->n++;
    m->value_sum += s->value;
    m->last_value = s->value;
    m->last_period = s->period;
    m->last_max = s->max;
    m->last_count = s->count;
    return 0;
}

/* Raw samples of whole hours past raw_keep fold into one hourly row (average rounded down,
 * maximum, count); the current hour stays raw; rows past the retention go. */
static void test_meter_compact(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    struct nph_meter_sample s[8];
    int64_t now = 100 * H + 30 * 60 * 1000000LL, down = -1, gone = -1;
    size_t bad = 99;
    /* now = 100:30, raw_keep 1 h: raw samples before 99:00 fold. Hour 97: 10, 20, 25 (average
     * 18.33 -> 18, max 25); hour 98: 7; hour 99 and 100 stay raw; hour 2 folds too, and its
     * hourly row is past the 90-hour retention (before 10:30). */
    const int64_t at[] = {97 * H,     97 * H + 60, 97 * H + H - 1, 98 * H + 5,
                          99 * H + 7, 100 * H,     2 * H,          2 * H + 1};
    const int64_t val[] = {10, 20, 25, 7, 3, 1, 1000, 2000};
    for (int i = 0; i < 8; i++)
        s[i] = (struct nph_meter_sample){at[i], "srv-1", "server", "p1",   "home",
                                         "cpu", val[i],  0,        val[i], 1};
    assert_int_equal(nph_meter_append_many(db, s, 8, &bad, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM meter_sample"), 8);
    assert_int_equal(nph_meter_compact(db, now, H, 90 * H, &down, &gone, &err), 0);
    assert_int_equal(down, 6); /* hours 2, 2, 97 x 3, 98 */
    assert_int_equal(gone, 1); /* the hourly row of hour 2 */
    assert_int_equal(count(db, "SELECT COUNT(*) FROM meter_sample WHERE period = 0"), 2);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM meter_sample WHERE period = 3600"), 2);
    struct msum m = {0};
    assert_int_equal(nph_meter_scan(db, 97 * H, 98 * H, "srv-1", NULL, "cpu", msum_visit, &m, &err),
                     0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.last_value, 18);
    assert_int_equal(m.last_max, 25);
    assert_int_equal(m.last_count, 3);
    assert_int_equal(m.last_period, 3600);
    /* compacting again changes nothing */
    assert_int_equal(nph_meter_compact(db, now, H, 90 * H, &down, &gone, &err), 0);
    assert_int_equal(down, 0);
    assert_int_equal(gone, 0);
    /* filters: another project sees nothing; a meter name filters */
    memset(&m, 0, sizeof(m));
    assert_int_equal(nph_meter_scan(db, 0, INT64_MAX, NULL, "p2", NULL, msum_visit, &m, &err), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(
        nph_meter_scan(db, 0, INT64_MAX, NULL, "p1", "disk.read.bytes", msum_visit, &m, &err), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(nph_meter_scan(db, 0, INT64_MAX, NULL, NULL, NULL, msum_visit, &m, &err), 0);
    assert_int_equal(m.n, 4);
    assert_int_equal(m.value_sum, 18 + 7 + 3 + 1);
    /* a bad sample writes nothing */
    s[1].meter = NULL;
    assert_int_equal(nph_meter_append_many(db, s, 3, &bad, &err), -1);
    assert_int_equal(bad, 1);
    s[1].meter = "cpu";
    s[2].period = 60;
    assert_int_equal(nph_meter_append_many(db, s, 3, &bad, &err), -1);
    assert_int_equal(bad, 2);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM meter_sample"), 4);
    nph_store_release(db);
}

/* A ledger of schema version 1 (a text primary key and three indexes) is migrated: every event
 * carries over in its order, and on PostgreSQL the usage intervals are derived from them. */
static void test_migrate_from_v1(void **state)
{
    struct fixture *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh(state);
    struct seen seen = {0};
    int pg = nph_db_engine(db) == NPH_STORE_POSTGRES, applied = 0, version = 0;
    assert_int_equal(nph_db_exec(db,
                                 pg ? "DROP TABLE ledger_event; DROP TABLE usage_interval;"
                                      " DROP TABLE usage_open; DROP TABLE usage_month CASCADE"
                                    : "DROP TABLE ledger_event",
                                 &err),
                     0);
    assert_int_equal(
        nph_db_exec(db,
                    "DELETE FROM nph_schema_migrations WHERE component = 'ledger';"
                    " CREATE TABLE ledger_event (id TEXT PRIMARY KEY, ts BIGINT NOT NULL,"
                    " event TEXT NOT NULL, resource_id TEXT NOT NULL, resource_type TEXT NOT NULL,"
                    " project_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT, offering TEXT,"
                    " size_gb BIGINT);"
                    " CREATE INDEX ledger_event_resource ON ledger_event (resource_id, ts);"
                    " CREATE INDEX ledger_event_ts ON ledger_event (ts);"
                    " CREATE INDEX ledger_event_project ON ledger_event (project_id, ts);"
                    " INSERT INTO nph_schema_migrations (component, version, name, applied_at)"
                    " VALUES ('ledger', 1, 'ledger events', 0);"
                    " INSERT INTO ledger_event VALUES"
                    " ('0190a000-0000-7000-8000-000000000003', 3000000, 'deleted', 's1', 'server',"
                    "  'p', 'home', 'r1', NULL, NULL),"
                    " ('0190a000-0000-7000-8000-000000000001', 1000000, 'created', 's1', 'server',"
                    "  'p', 'home', 'r1', 'm1.small', NULL),"
                    " ('0190a000-0000-7000-8000-000000000002', 2000000, 'created', 'v1', 'volume',"
                    "  'q', 'aws', NULL, NULL, 20),"
                    " ('0190a000-0000-7000-8000-000000000004', 2000000, 'resized', 'v1', 'volume',"
                    "  'q', 'aws', NULL, NULL, 30)",
                    &err),
        0);
    nph_store_release(db);
    if (nph_ledger_migrate(f->s, &applied, &err))
        fail_msg("migrate: %s (%s)", err.msg, err.detail);
    assert_int_equal(applied, pg ? 4 : 1);
    assert_int_equal(nph_store_schema_version(f->s, "ledger", &version, &err), 0);
    assert_int_equal(version, pg ? 5 : 2);
    assert_non_null(db = nph_store_acquire(f->s, &err));
    assert_int_equal(nph_ledger_scan(db, 0, INT64_MAX, NULL, collect, &seen, &err), 0);
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.strs[0][0], "s1");
    assert_int_equal(seen.ev[1].kind, NPH_LEDGER_CREATED); /* ts 2 s: by id, v1 created */
    assert_int_equal(seen.ev[1].size_gb, 20);
    assert_int_equal(seen.ev[2].kind, NPH_LEDGER_RESIZED);
    assert_int_equal(seen.ev[3].kind, NPH_LEDGER_DELETED);
    assert_string_equal(seen.strs[0][2], "m1.small");
    if (pg) {
        /* s1 [1, 3) and v1 [2, 2) of 20 GB closed; s1 (deleted) and v1 (30 GB) open */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_interval"), 2);
        assert_int_equal(count(db, "SELECT SUM(e - s) FROM usage_interval WHERE rtype = 'server'"),
                         2);
        assert_int_equal(count(db, "SELECT size_gb FROM usage_open WHERE resource_id = 'v1'"), 30);
        assert_int_equal(count(db, "SELECT state FROM usage_open WHERE resource_id = 's1'"),
                         NPH_USAGE_NONE);
    }
    /* the migrated ledger takes new events (ids are no longer a unique key: no conflict) */
    struct nph_ledger_event ev = {
        4000000, NPH_LEDGER_DELETED, "v1", "volume", "q", "aws", NULL, NULL, -1};
    assert_int_equal(nph_ledger_append(db, &ev, &err), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM ledger_event"), 5);
    if (pg) {
        assert_int_equal(count(db, "SELECT COUNT(*) FROM usage_interval WHERE resource_id = 'v1'"),
                         2);
        assert_int_equal(count(db, "SELECT state FROM usage_open WHERE resource_id = 'v1'"),
                         NPH_USAGE_NONE);
    }
    nph_store_release(db);
}

#define LEDGER_TESTS                                                                               \
    cmocka_unit_test(test_many_round_trip), cmocka_unit_test(test_many_invalid_writes_nothing),    \
        cmocka_unit_test(test_many_joins_transaction), cmocka_unit_test(test_many_large),          \
        cmocka_unit_test(test_bulk_conflict_and_abort), cmocka_unit_test(test_bulk_column_types),  \
        cmocka_unit_test(test_meter_compact), cmocka_unit_test(test_migrate_from_v1),              \
        cmocka_unit_test(test_open_lookup_uses_index),                                             \
        cmocka_unit_test(test_concurrent_writers_one_resource)

int main(void)
{
    const struct CMUnitTest sqlite[] = {LEDGER_TESTS};
    const struct CMUnitTest pg[] = {LEDGER_TESTS};
    int failed = cmocka_run_group_tests_name("ledger_sqlite", sqlite, setup_sqlite, teardown);
    failed += cmocka_run_group_tests_name("ledger_postgresql", pg, setup_pg, teardown);
    return failed;
}
