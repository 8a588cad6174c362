/*
 * store_sqlite.c - the SQLite engine of the store (see store_internal.h for the table it
 * fills in). One sqlite3 handle per pooled connection, opened without SQLite's own mutex
 * because the pool never shares a connection between threads. Every connection runs in WAL
 * mode with synchronous=NORMAL, foreign keys on and a 5 s busy timeout; transactions start
 * with BEGIN IMMEDIATE so writers queue up front instead of deadlocking on a lock upgrade.
 *
 * Errors: a UNIQUE or PRIMARY KEY violation is NPH_E_CONFLICT, SQLITE_BUSY/SQLITE_LOCKED past
 * the busy timeout is NPH_E_TIMEOUT, anything else NPH_E_STORE with sqlite3_errmsg() in the
 * detail.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SQLITE_BUSY_TIMEOUT_MS 5000

struct sqlite_stmt {
    sqlite3_stmt *stmt;
    int64_t changes;
};

static sqlite3 *handle(struct nph_db *db)
{
    return db->conn;
}

/* Fill err from a failed call with result code rc on h. `what` names the operation, `sql`
 * (may be NULL) the statement. Returns -1. */
static int sqlite_fail(sqlite3 *h, int rc, const char *what, const char *sql, struct nph_error *err)
{
    char excerpt[96];
    const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);

    if (sql)
        store_sql_excerpt(sql, excerpt, sizeof(excerpt));
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        nph_error_set(err, NPH_E_CONFLICT, "row exists already");
    else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        nph_error_set(err, NPH_E_TIMEOUT, "store is busy: %s timed out waiting for a lock", what);
    else if (sql)
        nph_error_set(err, NPH_E_STORE, "%s failed: '%s'", what, excerpt);
    else
        nph_error_set(err, NPH_E_STORE, "%s failed", what);
    return nph_error_detail(err, "sqlite: %s (%d)", msg, rc);
}

static int sqlite_check_url(const char *target, struct nph_error *err)
{
    (void)target;
    (void)err;
    return 0;
}

static int sqlite_connect(struct nph_db *db, const char *target, struct nph_error *err)
{
    sqlite3 *h = NULL;
    char *msg = NULL;
    int rc;

    rc = sqlite3_open_v2(target, &h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot open SQLite database '%s'", target);
        nph_error_detail(err, "sqlite: %s (%d); the parent directory must exist",
                         h ? sqlite3_errmsg(h) : sqlite3_errstr(rc), rc);
        goto cleanup;
    }
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, SQLITE_BUSY_TIMEOUT_MS);
    rc = sqlite3_exec(h,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      " PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sqlite_fail(h, rc, "configuring the connection", NULL, err);
        nph_error_prefix(err, "SQLite database '%s'", target);
        goto cleanup;
    }
    db->conn = h;
    return 0;

cleanup:
    sqlite3_free(msg);
    sqlite3_close(h);
    return -1;
}

static void sqlite_disconnect(struct nph_db *db)
{
    sqlite3_close(handle(db)); /* NULL is a no-op; statements are finalized already */
}

static int sqlite_alive(struct nph_db *db)
{
    (void)db;
    return 1;
}

static int sqlite_in_transaction(struct nph_db *db)
{
    return !sqlite3_get_autocommit(handle(db));
}

static int sqlite_exec(struct nph_db *db, const char *sql, struct nph_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(handle(db), sql, NULL, NULL, &msg);
    sqlite3_free(msg); /* sqlite3_errmsg still holds it */
    if (rc != SQLITE_OK)
        return sqlite_fail(handle(db), rc, "statement", sql, err);
    return 0;
}

static int sqlite_commit(struct nph_db *db, struct nph_error *err)
{
    return sqlite_exec(db, "COMMIT", err);
}

/* Does the text after a prepared statement hold more than separators and whitespace? */
static int has_more_sql(const char *tail)
{
    return tail && tail[strspn(tail, " \t\r\n;")] != '\0';
}

static int sqlite_prepare(struct nph_stmt *st, const char *sql, struct nph_error *err)
{
    struct sqlite_stmt *ss = calloc(1, sizeof(*ss));
    const char *tail = NULL;
    char excerpt[96];
    int rc;

    if (!ss)
        return nph_error_nomem(err);
    rc = sqlite3_prepare_v3(handle(st->db), sql, -1, SQLITE_PREPARE_PERSISTENT, &ss->stmt, &tail);
    if (rc != SQLITE_OK || !ss->stmt || has_more_sql(tail)) {
        if (rc != SQLITE_OK)
            sqlite_fail(handle(st->db), rc, "preparing statement", sql, err);
        else if (!ss->stmt) /* only whitespace or a comment */
            nph_error_set(err, NPH_E_STORE, "statement is empty");
        else
            nph_error_set(err, NPH_E_STORE, "'%s' holds more than one statement",
                          store_sql_excerpt(sql, excerpt, sizeof(excerpt)));
        sqlite3_finalize(ss->stmt);
        free(ss);
        return -1;
    }
    st->impl = ss;
    st->nparams = sqlite3_bind_parameter_count(ss->stmt);
    return 0;
}

static void sqlite_finalize(struct nph_stmt *st)
{
    struct sqlite_stmt *ss = st->impl;
    sqlite3_finalize(ss->stmt);
    free(ss);
    st->impl = NULL;
}

/* Bind st->params to the statement before its first step. */
static int sqlite_bind_all(struct nph_stmt *st, struct sqlite_stmt *ss, struct nph_error *err)
{
    int rc = SQLITE_OK;

    sqlite3_clear_bindings(ss->stmt);
    for (int i = 0; i < st->nparams && rc == SQLITE_OK; i++) {
        const struct store_param *p = &st->params[i];
        switch (p->kind) {
        case STORE_PARAM_NULL:
            rc = sqlite3_bind_null(ss->stmt, i + 1);
            break;
        case STORE_PARAM_INT64:
            rc = sqlite3_bind_int64(ss->stmt, i + 1, p->i64);
            break;
        case STORE_PARAM_TEXT:
            rc = sqlite3_bind_text(ss->stmt, i + 1, p->text, -1, SQLITE_TRANSIENT);
            break;
        }
    }
    if (rc != SQLITE_OK)
        return sqlite_fail(handle(st->db), rc, "binding parameters of", st->sql, err);
    return 0;
}

static int sqlite_step(struct nph_stmt *st, struct nph_error *err)
{
    struct sqlite_stmt *ss = st->impl;
    int rc;

    if (st->state == STORE_STMT_READY) {
        ss->changes = 0;
        if (sqlite_bind_all(st, ss, err) < 0)
            return -1;
    }
    rc = sqlite3_step(ss->stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        if (!sqlite3_stmt_readonly(ss->stmt))
            ss->changes = sqlite3_changes64(handle(st->db));
        return 0;
    }
    return sqlite_fail(handle(st->db), rc, "statement", st->sql, err);
}

static const char *sqlite_col_text(struct nph_stmt *st, int col)
{
    struct sqlite_stmt *ss = st->impl;
    return (const char *)sqlite3_column_text(ss->stmt, col);
}

static int64_t sqlite_col_int64(struct nph_stmt *st, int col)
{
    struct sqlite_stmt *ss = st->impl;
    return sqlite3_column_int64(ss->stmt, col);
}

static int sqlite_col_is_null(struct nph_stmt *st, int col)
{
    struct sqlite_stmt *ss = st->impl;
    return sqlite3_column_type(ss->stmt, col) == SQLITE_NULL;
}

static int sqlite_col_count(struct nph_stmt *st)
{
    struct sqlite_stmt *ss = st->impl;
    return sqlite3_column_count(ss->stmt);
}

static int64_t sqlite_changes(struct nph_stmt *st)
{
    struct sqlite_stmt *ss = st->impl;
    return ss->changes;
}

static void sqlite_reset(struct nph_stmt *st)
{
    struct sqlite_stmt *ss = st->impl;
    sqlite3_reset(ss->stmt);
    sqlite3_clear_bindings(ss->stmt);
}

/* ---- bulk loads: one prepared INSERT, reused ------------------------------------------------- */

static int sqlite_bulk_begin(struct nph_bulk *b, const char *table, const char *const *cols,
                             struct nph_error *err)
{
    size_t n = strlen(table) + 40;
    sqlite3_stmt *stmt = NULL;
    char *sql;
    int rc;

    for (int i = 0; i < b->ncols; i++)
        n += strlen(cols[i]) + 5;
    if (!(sql = malloc(n)))
        return nph_error_nomem(err);
    size_t o = (size_t)snprintf(sql, n, "INSERT INTO %s (", table);
    for (int i = 0; i < b->ncols; i++)
        o += (size_t)snprintf(sql + o, n - o, "%s%s", i ? ", " : "", cols[i]);
    o += (size_t)snprintf(sql + o, n - o, ") VALUES (");
    for (int i = 0; i < b->ncols; i++)
        o += (size_t)snprintf(sql + o, n - o, "%s?", i ? ", " : "");
    snprintf(sql + o, n - o, ")");
    rc = sqlite3_prepare_v3(handle(b->db), sql, -1, 0, &stmt, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(handle(b->db), rc, "preparing bulk load", sql, err);
        free(sql);
        return -1;
    }
    free(sql);
    b->impl = stmt;
    return 0;
}

static int sqlite_bulk_row(struct nph_bulk *b, const struct nph_bulk_val *vals,
                           struct nph_error *err)
{
    sqlite3_stmt *stmt = b->impl;
    int rc = SQLITE_OK;
    for (int i = 0; i < b->ncols && rc == SQLITE_OK; i++) {
        if (vals[i].kind == NPH_BULK_INT64)
            rc = sqlite3_bind_int64(stmt, i + 1, vals[i].i64);
        else if (vals[i].kind == NPH_BULK_TEXT && vals[i].text)
            rc = sqlite3_bind_text(stmt, i + 1, vals[i].text, -1, SQLITE_STATIC);
        else
            rc = sqlite3_bind_null(stmt, i + 1);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return sqlite_fail(handle(b->db), rc, "bulk load", sqlite3_sql(stmt), err);
    return 0;
}

static int sqlite_bulk_end(struct nph_bulk *b, int abort, struct nph_error *err)
{
    (void)abort;
    (void)err;
    sqlite3_finalize(b->impl);
    b->impl = NULL;
    return 0;
}

const struct store_engine store_sqlite_engine = {
    .id = NPH_STORE_SQLITE,
    .name = "sqlite",
    .dollar_params = 0,
    .begin_sql = "BEGIN IMMEDIATE",
    .table_exists_sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    .check_url = sqlite_check_url,
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .alive = sqlite_alive,
    .in_transaction = sqlite_in_transaction,
    .exec = sqlite_exec,
    .commit = sqlite_commit,
    .prepare = sqlite_prepare,
    .finalize = sqlite_finalize,
    .step = sqlite_step,
    .col_text = sqlite_col_text,
    .col_int64 = sqlite_col_int64,
    .col_is_null = sqlite_col_is_null,
    .col_count = sqlite_col_count,
    .changes = sqlite_changes,
    .reset = sqlite_reset,
    .bulk_begin = sqlite_bulk_begin,
    .bulk_row = sqlite_bulk_row,
    .bulk_end = sqlite_bulk_end,
    .migrate_lock = NULL,
    .migrate_unlock = NULL,
};
