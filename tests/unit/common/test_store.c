/*
 * test_store.c - cmocka tests of the store (common/nph_store.h) against both engines.
 *
 * Three groups: "store_common" (URL handling, redaction, '?' translation, an unreachable
 * server), "store_sqlite" (every engine test on a SQLite file in a fresh temp directory) and
 * "store_postgresql" (the same engine tests on the server named by NPH_TEST_PG_URL; without it
 * they are skipped with a printed reason). tests/pg_throwaway.sh starts a real server and sets
 * the variable; ctest runs this program both plainly and under that script.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nph_store.h"
#include "store_internal.h"

struct fixture {
    struct nph_store *s;
    char dir[64]; /* the temp directory of the SQLite file, or "" */
};

/* ---- helpers ------------------------------------------------------------------------------- */

static struct fixture *fix(void **state)
{
    struct fixture *f = *state;
    if (!f || !f->s)
        skip();
    return f;
}

/* Run SQL or fail the test with the store's message. */
static void exec_ok(struct nph_db *db, const char *sql)
{
    struct nph_error err = NPH_ERROR_INIT;
    if (nph_db_exec(db, sql, &err) < 0)
        fail_msg("exec '%s': %s (%s)", sql, err.msg, err.detail);
}

/* The one integer that `sql` returns. */
static int64_t query_int64(struct nph_db *db, const char *sql)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_stmt *st = nph_db_prepare(db, sql, &err);
    int64_t v;
    if (!st)
        fail_msg("prepare '%s': %s (%s)", sql, err.msg, err.detail);
    if (nph_stmt_step(st, &err) != 1)
        fail_msg("step '%s': %s (%s)", sql, err.msg, err.detail);
    v = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    return v;
}

/* Insert (id, name) into table t_items; returns what nph_stmt_step returned. */
static int insert_item(struct nph_db *db, int64_t id, const char *name, struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db, "INSERT INTO t_items (id, name) VALUES (?, ?)", err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_int64(st, 1, id, err) < 0 || nph_stmt_bind_text(st, 2, name, err) < 0)
        rc = -1;
    else
        rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc;
}

static struct nph_db *acquire_ok(struct fixture *f)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->s, &err);
    if (!db)
        fail_msg("acquire: %s (%s)", err.msg, err.detail);
    return db;
}

/* A fresh t_items table. */
static struct nph_db *fresh_items(struct fixture *f)
{
    struct nph_db *db = acquire_ok(f);
    exec_ok(db, "DROP TABLE IF EXISTS t_items;"
                "CREATE TABLE t_items (id BIGINT PRIMARY KEY, name TEXT, note TEXT)");
    return db;
}

/* ---- group setup --------------------------------------------------------------------------- */

static int setup_sqlite(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct fixture *f = calloc(1, sizeof(*f));
    char url[128];

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph_test_store.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(url, sizeof(url), "sqlite://%s/store.db", f->dir);
    if (nph_store_open(url, 4, &f->s, &err) < 0) {
        fprintf(stderr, "opening %s: %s (%s)\n", url, err.msg, err.detail);
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
        print_message("store_postgresql: NPH_TEST_PG_URL is not set, skipping the PostgreSQL "
                      "cases (run under tests/pg_throwaway.sh to get a server)\n");
        return 0;
    }
    if (nph_store_open(url, 4, &f->s, &err) < 0) {
        fprintf(stderr, "opening %s: %s (%s)\n", url, err.msg, err.detail);
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
        static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
            unlink(path);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* ---- engine-independent tests -------------------------------------------------------------- */

static void test_open_bad_url(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    (void)state;

    assert_int_equal(nph_store_open("mysql://localhost/x", 2, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "mysql"));
    assert_int_equal(nph_store_open("", 2, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_store_open("sqlite://", 2, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_store_open("postgresql://h:5432/db?nosuchoption=1", 2, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_store_open("sqlite:///tmp/x.db", 0, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    /* the parent directory must exist */
    assert_int_equal(nph_store_open("sqlite:///nonexistent-dir/x/y.db", 1, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "nonexistent-dir"));
    assert_null(s);
}

static void test_open_unreachable_pg(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    (void)state;

    /* port 1 on loopback: refused at once */
    assert_int_equal(nph_store_open("postgresql://nobody:secret@127.0.0.1:1/nope", 2, &s, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(strstr(err.msg, "secret"));
    assert_true(err.detail[0] != '\0');
}

static void test_redacted_url(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    struct fixture *f = *state;
    char url[128];
    (void)state;

    snprintf(url, sizeof(url), "sqlite://%s/redact.db", f->dir);
    assert_int_equal(nph_store_open(url, 1, &s, &err), 0);
    assert_string_equal(nph_store_url_redacted(s), url);
    assert_int_equal(nph_store_engine(s), NPH_STORE_SQLITE);
    nph_store_close(s);
    snprintf(url, sizeof(url), "%s/redact.db", f->dir);
    unlink(url);
}

static void test_translate(void **state)
{
    static const struct {
        const char *in, *out;
        int n;
    } cases[] = {
        {"SELECT 1", "SELECT 1", 0},
        {"SELECT ?, ?", "SELECT $1, $2", 2},
        {"SELECT '?', ?", "SELECT '?', $1", 1},
        {"SELECT 'it''s ?', ? -- why?\n, ?", "SELECT 'it''s ?', $1 -- why?\n, $2", 2},
        {"SELECT \"a?\" /* ? */ FROM t WHERE x = ?", "SELECT \"a?\" /* ? */ FROM t WHERE x = $1",
         1},
        {"SELECT 'open ?", "SELECT 'open ?", 0},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = -1;
        char *out = store_translate_placeholders(cases[i].in, &n);
        assert_non_null(out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, cases[i].n);
        free(out);
    }
    {
        char buf[16];
        assert_string_equal(store_sql_excerpt("SELECT  a,\n  b", buf, sizeof(buf)), "SELECT a, b");
        assert_string_equal(store_sql_excerpt("SELECT a, b FROM table", buf, sizeof(buf)),
                            "SELECT a, b ...");
    }
}

static void test_redaction_rules(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *s = NULL;
    (void)state;

    /* an unreachable server still yields a redacted message */
    assert_int_equal(
        nph_store_open("postgres://u:pw@127.0.0.1:1/db?password=pw2&sslmode=disable", 1, &s, &err),
        -1);
    assert_null(strstr(err.msg, "pw"));
    assert_non_null(strstr(err.msg, "postgres://u:***@127.0.0.1:1/db?password=***&sslmode"));
}

/* ---- engine tests (run on both) ------------------------------------------------------------ */

static void test_ping_and_engine(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db;

    assert_int_equal(nph_store_ping(f->s, &err), 0);
    db = acquire_ok(f);
    assert_int_equal(nph_db_engine(db), nph_store_engine(f->s));
    nph_store_release(db);
}

static void test_exec_and_columns(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);
    struct nph_stmt *st;
    int rows = 0;

    /* several statements in one exec */
    exec_ok(db, "INSERT INTO t_items (id, name, note) VALUES (1, 'one', 'x');"
                "INSERT INTO t_items (id, name, note) VALUES (2, 'two', NULL)");
    st = nph_db_prepare(db, "INSERT INTO t_items (id, name, note) VALUES (?, ?, ?)", &err);
    assert_non_null(st);
    assert_int_equal(nph_stmt_bind_int64(st, 1, INT64_C(9007199254740993), &err), 0);
    assert_int_equal(nph_stmt_bind_text(st, 2, "gro\xc3\x9f", &err), 0);
    assert_int_equal(nph_stmt_bind_null(st, 3, &err), 0);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    assert_int_equal(nph_stmt_changes(st), 1);
    /* out-of-range parameter */
    assert_int_equal(nph_stmt_bind_int64(st, 4, 1, &err), -1);
    assert_int_equal(nph_stmt_bind_int64(st, 0, 1, &err), -1);
    nph_stmt_done(st);

    st = nph_db_prepare(db, "SELECT id, name, note FROM t_items WHERE id >= ? ORDER BY id", &err);
    assert_non_null(st);
    assert_int_equal(nph_stmt_col_count(st), 3);
    assert_int_equal(nph_stmt_bind_int64(st, 1, 2, &err), 0);
    while (nph_stmt_step(st, &err) == 1) {
        if (rows == 0) {
            assert_int_equal(nph_stmt_col_int64(st, 0), 2);
            assert_string_equal(nph_stmt_col_text(st, 0), "2");
            assert_string_equal(nph_stmt_col_text(st, 1), "two");
            assert_true(nph_stmt_col_is_null(st, 2));
            assert_null(nph_stmt_col_text(st, 2));
            assert_int_equal(nph_stmt_col_int64(st, 2), 0);
        } else {
            assert_int_equal(nph_stmt_col_int64(st, 0), INT64_C(9007199254740993));
            assert_string_equal(nph_stmt_col_text(st, 1), "gro\xc3\x9f");
            assert_false(nph_stmt_col_is_null(st, 1));
        }
        /* out-of-range columns */
        assert_null(nph_stmt_col_text(st, 3));
        assert_null(nph_stmt_col_text(st, -1));
        rows++;
    }
    assert_int_equal(rows, 2);
    assert_int_equal(nph_stmt_step(st, &err), 0); /* stays done */
    nph_stmt_done(st);

    /* NULL text binds SQL NULL; a syntax error is NPH_E_STORE with the engine's detail */
    st = nph_db_prepare(
        db, "SELECT COUNT(*) FROM t_items WHERE note IS NULL AND CAST(? AS TEXT) IS NULL", &err);
    if (!st)
        fail_msg("%s (%s)", err.msg, err.detail);
    assert_int_equal(nph_stmt_bind_text(st, 1, NULL, &err), 0);
    assert_int_equal(nph_stmt_step(st, &err), 1);
    assert_int_equal(nph_stmt_col_int64(st, 0), 2);
    nph_stmt_done(st);
    assert_null(nph_db_prepare(db, "SELEKT nonsense", &err));
    assert_int_equal(err.code, NPH_E_STORE);
    assert_true(err.detail[0] != '\0');
    /* prepare takes one statement (exec takes several) */
    assert_null(nph_db_prepare(db, "SELECT 1; SELECT 2", &err));
    assert_int_equal(err.code, NPH_E_STORE);
    st = nph_db_prepare(db, "SELECT 3;\n", &err);
    assert_non_null(st);
    nph_stmt_done(st);
    assert_int_equal(nph_db_exec(db, "DROP TABLE no_such_table", &err), -1);
    assert_int_equal(err.code, NPH_E_STORE);
    nph_store_release(db);
}

static void test_changes(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);
    struct nph_stmt *st;

    for (int i = 1; i <= 5; i++)
        assert_int_equal(insert_item(db, i, i % 2 ? "odd" : "even", &err), 0);
    st = nph_db_prepare(db, "UPDATE t_items SET note = ? WHERE name = ?", &err);
    assert_non_null(st);
    nph_stmt_bind_text(st, 1, "n", &err);
    nph_stmt_bind_text(st, 2, "odd", &err);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    assert_int_equal(nph_stmt_changes(st), 3);
    nph_stmt_done(st);
    st = nph_db_prepare(db, "DELETE FROM t_items WHERE id > ?", &err);
    assert_non_null(st);
    nph_stmt_bind_int64(st, 1, 100, &err);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    assert_int_equal(nph_stmt_changes(st), 0);
    nph_stmt_done(st);
    st = nph_db_prepare(db, "INSERT INTO t_items (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING",
                        &err);
    assert_non_null(st);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    assert_int_equal(nph_stmt_changes(st), 0);
    nph_stmt_done(st);
    nph_store_release(db);
}

static void test_stmt_cache(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = acquire_ok(f);
    const char *sql = "SELECT ? || 'b'";
    struct nph_stmt *a, *b, *c;
    size_t cached = db->nstmts; /* earlier tests may have used this connection */

    a = nph_db_prepare(db, sql, &err);
    assert_non_null(a);
    /* the same text while in use is a programming error */
    assert_null(nph_db_prepare(db, sql, &err));
    assert_int_equal(err.code, NPH_E_INTERNAL);
    nph_stmt_bind_text(a, 1, "a", &err);
    assert_int_equal(nph_stmt_step(a, &err), 1);
    assert_string_equal(nph_stmt_col_text(a, 0), "ab");
    nph_stmt_done(a);
    b = nph_db_prepare(db, sql, &err);
    assert_ptr_equal(a, b); /* a cache hit */
    /* bindings were cleared by done: unbound is NULL */
    assert_int_equal(nph_stmt_step(b, &err), 1);
    assert_true(nph_stmt_col_is_null(b, 0));
    nph_stmt_done(b);
    c = nph_db_prepare(db, "SELECT ? || 'c'", &err);
    assert_non_null(c);
    assert_ptr_not_equal(b, c);
    nph_stmt_done(c);
    /* many distinct statements grow the cache; all still found */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            char q[64];
            snprintf(q, sizeof(q), "SELECT %d", i);
            struct nph_stmt *st = nph_db_prepare(db, q, &err);
            assert_non_null(st);
            assert_int_equal(nph_stmt_step(st, &err), 1);
            assert_int_equal(nph_stmt_col_int64(st, 0), i);
            nph_stmt_done(st);
        }
    }
    assert_int_equal(db->nstmts, cached + 102);
    /* a statement left in use is reset by release */
    a = nph_db_prepare(db, sql, &err);
    assert_non_null(a);
    nph_store_release(db);
}

static void test_question_mark_in_literal(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);
    struct nph_stmt *st;

    st = nph_db_prepare(db, "SELECT 'what?', ?, 'it''s ?'", &err);
    if (!st)
        fail_msg("%s (%s)", err.msg, err.detail);
    assert_int_equal(nph_stmt_bind_text(st, 1, "answer", &err), 0);
    assert_int_equal(nph_stmt_bind_text(st, 2, "x", &err), -1); /* only one parameter */
    assert_int_equal(nph_stmt_step(st, &err), 1);
    assert_string_equal(nph_stmt_col_text(st, 0), "what?");
    assert_string_equal(nph_stmt_col_text(st, 1), "answer");
    assert_string_equal(nph_stmt_col_text(st, 2), "it's ?");
    nph_stmt_done(st);

    st = nph_db_prepare(db, "INSERT INTO t_items (id, name, note) VALUES (?, 'a?b', ?)", &err);
    assert_non_null(st);
    nph_stmt_bind_int64(st, 1, 7, &err);
    nph_stmt_bind_text(st, 2, "n?", &err);
    assert_int_equal(nph_stmt_step(st, &err), 0);
    nph_stmt_done(st);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items WHERE name = 'a?b'"
                                     " AND note = 'n?'"),
                     1);
    nph_store_release(db);
}

static void test_unique_conflict(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);

    assert_int_equal(insert_item(db, 1, "first", &err), 0);
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(insert_item(db, 2, "second", &err), 0);
    assert_int_equal(insert_item(db, 1, "dup", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_true(err.detail[0] != '\0');
    assert_int_equal(nph_db_rollback(db, &err), 0);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), 1);

    /* outside a transaction too; the connection stays usable */
    assert_int_equal(insert_item(db, 1, "dup", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(insert_item(db, 3, "third", &err), 0);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), 2);
    nph_store_release(db);
}

static void test_commit_rollback_visibility(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *w = fresh_items(f);
    struct nph_db *r = acquire_ok(f);

    assert_ptr_not_equal(w, r);
    assert_int_equal(nph_db_begin(w, &err), 0);
    assert_int_equal(insert_item(w, 1, "a", &err), 0);
    assert_int_equal(query_int64(w, "SELECT COUNT(*) FROM t_items"), 1);
    assert_int_equal(query_int64(r, "SELECT COUNT(*) FROM t_items"), 0);
    assert_int_equal(nph_db_commit(w, &err), 0);
    assert_int_equal(query_int64(r, "SELECT COUNT(*) FROM t_items"), 1);

    assert_int_equal(nph_db_begin(w, &err), 0);
    assert_int_equal(insert_item(w, 2, "b", &err), 0);
    assert_int_equal(nph_db_rollback(w, &err), 0);
    assert_int_equal(query_int64(w, "SELECT COUNT(*) FROM t_items"), 1);
    assert_int_equal(query_int64(r, "SELECT COUNT(*) FROM t_items"), 1);
    nph_store_release(r);
    nph_store_release(w);
}

static void test_failed_transaction_commit(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);

    assert_int_equal(insert_item(db, 1, "a", &err), 0);
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(insert_item(db, 2, "b", &err), 0);
    assert_int_equal(insert_item(db, 1, "dup", &err), -1);
    if (nph_db_engine(db) == NPH_STORE_POSTGRES) {
        /* PostgreSQL aborts the whole transaction: COMMIT must not pretend to succeed */
        assert_int_equal(nph_db_commit(db, &err), -1);
        assert_int_equal(err.code, NPH_E_STORE);
        assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), 1);
    } else {
        /* SQLite undoes only the failed statement */
        assert_int_equal(nph_db_commit(db, &err), 0);
        assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), 2);
    }
    nph_store_release(db);
}

static void test_release_rolls_back(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = fresh_items(f);

    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(insert_item(db, 1, "lost", &err), 0);
    nph_store_release(db);

    db = acquire_ok(f);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), 0);
    /* and the connection is not left inside a transaction: begin works again */
    assert_int_equal(nph_db_begin(db, &err), 0);
    assert_int_equal(nph_db_commit(db, &err), 0);
    nph_store_release(db);
}

static void test_acquire_timeout(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *held[4];

    for (int i = 0; i < 4; i++)
        held[i] = acquire_ok(f);
    store_set_acquire_timeout(f->s, 200 * 1000);
    assert_null(nph_store_acquire(f->s, &err));
    assert_int_equal(err.code, NPH_E_TIMEOUT);
    store_set_acquire_timeout(f->s, 10 * 1000 * 1000);
    for (int i = 0; i < 4; i++)
        nph_store_release(held[i]);
    nph_store_release(NULL);
}

/* PostgreSQL only: a connection killed by the server is reported as NPH_E_UNAVAILABLE and
 * reopened by the next acquire. */
static void test_reconnect(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *victim = acquire_ok(f);
    struct nph_db *killer;
    struct nph_stmt *st;
    int64_t pid;

    if (nph_db_engine(victim) != NPH_STORE_POSTGRES) {
        nph_store_release(victim);
        skip();
    }
    killer = acquire_ok(f);
    pid = query_int64(victim, "SELECT pg_backend_pid()");
    st = nph_db_prepare(killer, "SELECT pg_terminate_backend(CAST(? AS INTEGER))", &err);
    assert_non_null(st);
    nph_stmt_bind_int64(st, 1, pid, &err);
    assert_int_equal(nph_stmt_step(st, &err), 1);
    nph_stmt_done(st);
    nph_store_release(killer);

    usleep(100 * 1000); /* let the backend go */
    assert_int_equal(nph_db_exec(victim, "SELECT 1", &err), -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    nph_store_release(victim);

    /* every connection is usable again, the victim reopened with an empty cache */
    for (int i = 0; i < 4; i++) {
        struct nph_db *db = acquire_ok(f);
        assert_int_equal(query_int64(db, "SELECT 41 + 1"), 42);
        nph_store_release(db);
    }
    assert_int_equal(nph_store_ping(f->s, &err), 0);
}

#define THREADS 4
#define INSERTS 200

struct worker {
    struct nph_store *s;
    int id;
    int failures;
    char first_error[NPH_ERR_MSG_MAX + NPH_ERR_DETAIL_MAX + 4];
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < INSERTS; i++) {
        struct nph_error err = NPH_ERROR_INIT;
        struct nph_db *db = nph_store_acquire(w->s, &err);
        int ok = db && nph_db_begin(db, &err) == 0 &&
                 insert_item(db, (int64_t)w->id * 100000 + i, "t", &err) == 0 &&
                 nph_db_commit(db, &err) == 0;
        nph_store_release(db);
        if (!ok && w->failures++ == 0)
            snprintf(w->first_error, sizeof(w->first_error), "%s (%s)", err.msg, err.detail);
    }
    return NULL;
}

static void test_pool_concurrency(void **state)
{
    struct fixture *f = fix(state);
    struct nph_db *db = fresh_items(f);
    struct worker w[THREADS];
    pthread_t t[THREADS];

    nph_store_release(db);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.s = f->s, .id = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (w[i].failures)
            fail_msg("worker %d: %d failures, first: %s", i, w[i].failures, w[i].first_error);
    db = acquire_ok(f);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_items"), THREADS * INSERTS);
    nph_store_release(db);
}

static const struct nph_migration migs_v3[] = {
    {1, "items", "CREATE TABLE t_mig (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"},
    {2, "seed",
     "INSERT INTO t_mig (id, name) VALUES (1, 'one');"
     "CREATE INDEX t_mig_name ON t_mig (name)"},
    {3, "more", "ALTER TABLE t_mig ADD COLUMN note TEXT"},
};

static void reset_migrations(struct fixture *f, const char *component)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = acquire_ok(f);
    char sql[160];
    exec_ok(db, "DROP TABLE IF EXISTS t_mig");
    exec_ok(db, "DROP TABLE IF EXISTS t_mig_bad");
    /* the table may not exist yet on a fresh store */
    snprintf(sql, sizeof(sql), "DELETE FROM nph_schema_migrations WHERE component = '%s'",
             component);
    if (nph_db_exec(db, sql, &err) < 0)
        assert_int_equal(err.code, NPH_E_STORE);
    nph_store_release(db);
}

static void test_migrations(void **state)
{
    struct fixture *f = fix(state);
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db;
    struct nph_stmt *st;
    int applied = -1;
    int version = -1;
    static const struct nph_migration bad[] = {
        {1, "items", "CREATE TABLE t_mig (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"},
        {2, "seed",
         "INSERT INTO t_mig (id, name) VALUES (1, 'one');"
         "CREATE INDEX t_mig_name ON t_mig (name)"},
        {3, "broken", "CREATE TABLE t_mig_bad (id BIGINT); SELEKT 1"},
    };
    static const struct nph_migration unordered[] = {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}};

    reset_migrations(f, "test");
    assert_int_equal(nph_store_schema_version(f->s, "test", &version, &err), 0);
    assert_int_equal(version, 0);

    assert_int_equal(nph_store_migrate(f->s, "test", migs_v3, 2, &applied, &err), 0);
    assert_int_equal(applied, 2);
    assert_int_equal(nph_store_schema_version(f->s, "test", &version, &err), 0);
    assert_int_equal(version, 2);
    /* idempotent */
    assert_int_equal(nph_store_migrate(f->s, "test", migs_v3, 2, &applied, &err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(nph_store_migrate(f->s, "test", migs_v3, 2, NULL, &err), 0);
    /* a failing migration rolls back whole and leaves the version */
    assert_int_equal(nph_store_migrate(f->s, "test", bad, 3, &applied, &err), -1);
    assert_int_equal(err.code, NPH_E_STORE);
    assert_non_null(strstr(err.msg, "broken"));
    assert_int_equal(nph_store_schema_version(f->s, "test", &version, &err), 0);
    assert_int_equal(version, 2);
    db = acquire_ok(f);
    assert_int_equal(query_int64(db, nph_db_engine(db) == NPH_STORE_SQLITE
                                         ? "SELECT COUNT(*) FROM sqlite_master"
                                           " WHERE name = 't_mig_bad'"
                                         : "SELECT COUNT(*) FROM pg_tables"
                                           " WHERE tablename = 't_mig_bad'"),
                     0);
    nph_store_release(db);
    /* the next one applies */
    assert_int_equal(nph_store_migrate(f->s, "test", migs_v3, 3, &applied, &err), 0);
    assert_int_equal(applied, 1);
    /* versions are recorded with names and times */
    db = acquire_ok(f);
    st = nph_db_prepare(db,
                        "SELECT version, name, applied_at FROM nph_schema_migrations"
                        " WHERE component = ? ORDER BY version",
                        &err);
    assert_non_null(st);
    nph_stmt_bind_text(st, 1, "test", &err);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nph_stmt_step(st, &err), 1);
        assert_int_equal(nph_stmt_col_int64(st, 0), i + 1);
        assert_string_equal(nph_stmt_col_text(st, 1), migs_v3[i].name);
        assert_true(nph_stmt_col_int64(st, 2) > INT64_C(1600000000000000));
    }
    assert_int_equal(nph_stmt_step(st, &err), 0);
    nph_stmt_done(st);
    assert_int_equal(query_int64(db, "SELECT COUNT(*) FROM t_mig WHERE note IS NULL"), 1);
    nph_store_release(db);
    /* a store newer than the program */
    err = (struct nph_error)NPH_ERROR_INIT;
    applied = -1;
    assert_int_equal(nph_store_migrate(f->s, "test", migs_v3, 2, &applied, &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_non_null(strstr(err.detail, "newer version in store than known"));
    assert_int_equal(applied, -1);
    /* other components are independent; malformed lists are refused */
    assert_int_equal(nph_store_schema_version(f->s, "other", &version, &err), 0);
    assert_int_equal(version, 0);
    assert_int_equal(nph_store_migrate(f->s, "other", unordered, 2, &applied, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
}

struct migrator {
    struct nph_store *s;
    int applied;
    int rc;
    struct nph_error err;
};

static void *migrator_run(void *arg)
{
    struct migrator *m = arg;
    m->rc = nph_store_migrate(m->s, "race", migs_v3, 3, &m->applied, &m->err);
    return NULL;
}

static void test_concurrent_migrators(void **state)
{
    struct fixture *f = fix(state);
    struct migrator m[3];
    pthread_t t[3];
    int total = 0;

    reset_migrations(f, "race");
    for (int i = 0; i < 3; i++) {
        m[i] = (struct migrator){.s = f->s, .err = NPH_ERROR_INIT};
        assert_int_equal(pthread_create(&t[i], NULL, migrator_run, &m[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        if (m[i].rc != 0)
            fail_msg("migrator %d: %s (%s)", i, m[i].err.msg, m[i].err.detail);
        total += m[i].applied;
    }
    assert_int_equal(total, 3);
    reset_migrations(f, "race");
}

#define ENGINE_TESTS                                                                               \
    cmocka_unit_test(test_ping_and_engine), cmocka_unit_test(test_exec_and_columns),               \
        cmocka_unit_test(test_changes), cmocka_unit_test(test_stmt_cache),                         \
        cmocka_unit_test(test_question_mark_in_literal), cmocka_unit_test(test_unique_conflict),   \
        cmocka_unit_test(test_commit_rollback_visibility),                                         \
        cmocka_unit_test(test_failed_transaction_commit),                                          \
        cmocka_unit_test(test_release_rolls_back), cmocka_unit_test(test_acquire_timeout),         \
        cmocka_unit_test(test_reconnect), cmocka_unit_test(test_pool_concurrency),                 \
        cmocka_unit_test(test_migrations), cmocka_unit_test(test_concurrent_migrators)

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_open_bad_url),    cmocka_unit_test(test_open_unreachable_pg),
        cmocka_unit_test(test_redacted_url),    cmocka_unit_test(test_translate),
        cmocka_unit_test(test_redaction_rules),
    };
    const struct CMUnitTest sqlite[] = {ENGINE_TESTS};
    const struct CMUnitTest pg[] = {ENGINE_TESTS};
    int failed = 0;

    failed += cmocka_run_group_tests_name("store_common", common, setup_sqlite, teardown);
    failed += cmocka_run_group_tests_name("store_sqlite", sqlite, setup_sqlite, teardown);
    failed += cmocka_run_group_tests_name("store_postgresql", pg, setup_pg, teardown);
    return failed ? 1 : 0;
}
