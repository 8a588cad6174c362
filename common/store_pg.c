/*
 * store_pg.c - the PostgreSQL engine of the store, on libpq (see store_internal.h for the
 * table it fills in). One PGconn per pooled connection, UTF8 client encoding, a 10 s connect
 * timeout unless the URL says otherwise, server notices dropped. Statements are prepared once
 * per connection under generated names (nph_1, nph_2 ...) and run with PQexecPrepared, every
 * parameter sent as text; a step walks the rows of the buffered result.
 *
 * Errors: SQLSTATE 23505 is NPH_E_CONFLICT; a connection the client library reports as bad
 * (PQstatus CONNECTION_BAD, SQLSTATE class 08) is NPH_E_UNAVAILABLE and marks the connection
 * broken so the pool reopens it on the next acquire; lock and statement timeouts are
 * NPH_E_TIMEOUT; anything else NPH_E_STORE with the server's message in the detail.
 * Migrations are serialised across processes with a session advisory lock.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* pg_advisory_lock key of the migrators: "NPHMIGR" in ASCII. */
#define PG_MIGRATE_LOCK_KEY "22043319647946578"

struct pg_stmt {
    char name[32];
    int ncols; /* from the description, before any execution */
    PGresult *res;
    int row; /* current row of res, -1 before the first */
    int64_t changes;
};

static PGconn *conn(struct nph_db *db)
{
    return db->conn;
}

/* Copy s into buf without its trailing newlines. Returns buf. */
static const char *chomp(const char *s, char *buf, size_t len)
{
    size_t n;
    snprintf(buf, len, "%s", s ? s : "");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

/* Fill err from a failed command: res (may be NULL) is the result, `what` names the operation
 * and `sql` (may be NULL) the statement. Marks the connection broken when it is lost. Does not
 * clear res. Returns -1. */
static int pg_fail(struct nph_db *db, const PGresult *res, const char *what, const char *sql,
                   struct nph_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    char msg[NPH_ERR_DETAIL_MAX];
    char excerpt[96];

    if (!primary)
        primary = chomp(PQerrorMessage(conn(db)), msg, sizeof(msg));
    if (sql)
        store_sql_excerpt(sql, excerpt, sizeof(excerpt));
    if (PQstatus(conn(db)) == CONNECTION_BAD || (state && strncmp(state, "08", 2) == 0)) {
        db->broken = 1;
        nph_error_set(err, NPH_E_UNAVAILABLE, "lost the connection to PostgreSQL");
    } else if (state && strcmp(state, "23505") == 0) {
        nph_error_set(err, NPH_E_CONFLICT, "row exists already");
    } else if (state && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)) {
        nph_error_set(err, NPH_E_TIMEOUT, "store is busy: %s timed out", what);
    } else if (sql) {
        nph_error_set(err, NPH_E_STORE, "%s failed: '%s'", what, excerpt);
    } else {
        nph_error_set(err, NPH_E_STORE, "%s failed", what);
    }
    return nph_error_detail(err, "postgresql %s: %s%s%s", state ? state : "-", primary,
                            detail ? " " : "", detail ? detail : "");
}

static int pg_check_url(const char *target, struct nph_error *err)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &msg);
    char buf[NPH_ERR_DETAIL_MAX];

    if (!opts) {
        nph_error_set(err, NPH_E_INVALID, "store URL is not a valid PostgreSQL URL");
        nph_error_detail(err, "libpq: %s", msg ? chomp(msg, buf, sizeof(buf)) : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

static void pg_ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int pg_connect(struct nph_db *db, const char *target, struct nph_error *err)
{
    /* Later entries win: the URL may override the timeout, not the encoding. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {"10", "nephele", target, "UTF8", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    char buf[NPH_ERR_DETAIL_MAX];

    if (!c)
        return nph_error_nomem(err);
    if (PQstatus(c) != CONNECTION_OK) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to PostgreSQL at '%s:%s'",
                      PQhost(c) ? PQhost(c) : "?", PQport(c) ? PQport(c) : "?");
        nph_error_detail(err, "libpq: %s", chomp(PQerrorMessage(c), buf, sizeof(buf)));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, pg_ignore_notice, NULL);
    db->conn = c;
    return 0;
}

static void pg_disconnect(struct nph_db *db)
{
    PQfinish(conn(db)); /* NULL is a no-op */
}

static int pg_alive(struct nph_db *db)
{
    return PQstatus(conn(db)) == CONNECTION_OK;
}

static int pg_in_transaction(struct nph_db *db)
{
    PGTransactionStatusType t = PQtransactionStatus(conn(db));
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Run sql; on success *out (may be NULL) receives the result, else it is cleared. */
static int pg_exec_result(struct nph_db *db, const char *sql, PGresult **out, struct nph_error *err)
{
    PGresult *res = PQexec(conn(db), sql);
    ExecStatusType status = PQresultStatus(res);

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
        pg_fail(db, res, "statement", sql, err);
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static int pg_exec(struct nph_db *db, const char *sql, struct nph_error *err)
{
    return pg_exec_result(db, sql, NULL, err);
}

/* COMMIT of a transaction that failed earlier succeeds as a ROLLBACK: report that. */
static int pg_commit(struct nph_db *db, struct nph_error *err)
{
    PGresult *res = NULL;
    int rc = 0;

    if (pg_exec_result(db, "COMMIT", &res, err) < 0)
        return -1;
    if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        nph_error_set(err, NPH_E_STORE, "transaction was rolled back, not committed");
        nph_error_detail(err, "a statement in it failed earlier");
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int pg_prepare(struct nph_stmt *st, const char *sql, struct nph_error *err)
{
    struct pg_stmt *ps = calloc(1, sizeof(*ps));
    PGresult *res = NULL;
    int rc = -1;

    if (!ps)
        return nph_error_nomem(err);
    snprintf(ps->name, sizeof(ps->name), "nph_%lu", ++st->db->stmt_seq);
    res = PQprepare(conn(st->db), ps->name, sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(st->db, res, "preparing statement", sql, err);
        goto cleanup;
    }
    PQclear(res);
    res = PQdescribePrepared(conn(st->db), ps->name);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(st->db, res, "describing statement", sql, err);
        goto cleanup;
    }
    st->nparams = PQnparams(res);
    ps->ncols = PQnfields(res);
    ps->row = -1;
    st->impl = ps;
    ps = NULL;
    rc = 0;

cleanup:
    PQclear(res);
    free(ps);
    return rc;
}

static void pg_finalize(struct nph_stmt *st)
{
    struct pg_stmt *ps = st->impl;
    /* The server statement dies with the session; the pool never evicts single ones. */
    PQclear(ps->res);
    free(ps);
    st->impl = NULL;
}

/* Run the prepared statement with st->params. */
static int pg_execute(struct nph_stmt *st, struct pg_stmt *ps, struct nph_error *err)
{
    const char **values = NULL;
    ExecStatusType status;

    if (st->nparams > 0) {
        values = calloc((size_t)st->nparams, sizeof(*values));
        if (!values)
            return nph_error_nomem(err);
        for (int i = 0; i < st->nparams; i++) {
            const struct store_param *p = &st->params[i];
            values[i] = p->kind == STORE_PARAM_TEXT    ? p->text
                        : p->kind == STORE_PARAM_INT64 ? p->num
                                                       : NULL;
        }
    }
    PQclear(ps->res);
    ps->res = PQexecPrepared(conn(st->db), ps->name, st->nparams, values, NULL, NULL, 0);
    free(values);
    ps->row = -1;
    ps->changes = 0;
    status = PQresultStatus(ps->res);
    if (status == PGRES_COMMAND_OK) {
        ps->changes = strtoll(PQcmdTuples(ps->res), NULL, 10);
        return 0;
    }
    if (status == PGRES_TUPLES_OK)
        return 0;
    pg_fail(st->db, ps->res, "statement", st->sql, err);
    PQclear(ps->res);
    ps->res = NULL;
    return -1;
}

static int pg_step(struct nph_stmt *st, struct nph_error *err)
{
    struct pg_stmt *ps = st->impl;

    if (st->state == STORE_STMT_READY && pg_execute(st, ps, err) < 0)
        return -1;
    if (!ps->res || PQresultStatus(ps->res) != PGRES_TUPLES_OK)
        return 0;
    ps->row++;
    return ps->row < PQntuples(ps->res) ? 1 : 0;
}

static const char *pg_col_text(struct nph_stmt *st, int col)
{
    struct pg_stmt *ps = st->impl;
    if (PQgetisnull(ps->res, ps->row, col))
        return NULL;
    return PQgetvalue(ps->res, ps->row, col);
}

static int64_t pg_col_int64(struct nph_stmt *st, int col)
{
    const char *v = pg_col_text(st, col);
    if (!v)
        return 0;
    if (v[0] == 't' && v[1] == '\0') /* a boolean expression */
        return 1;
    return strtoll(v, NULL, 10);
}

static int pg_col_is_null(struct nph_stmt *st, int col)
{
    struct pg_stmt *ps = st->impl;
    return PQgetisnull(ps->res, ps->row, col);
}

static int pg_col_count(struct nph_stmt *st)
{
    struct pg_stmt *ps = st->impl;
    return ps->res ? PQnfields(ps->res) : ps->ncols;
}

static int64_t pg_changes(struct nph_stmt *st)
{
    struct pg_stmt *ps = st->impl;
    return ps->changes;
}

static void pg_reset(struct nph_stmt *st)
{
    struct pg_stmt *ps = st->impl;
    PQclear(ps->res);
    ps->res = NULL;
    ps->row = -1;
}

/* ---- bulk loads: COPY ... FROM STDIN -----------------------------------------------------
 *
 * Binary format when every column is bigint, integer, smallint, text or varchar (the server
 * then neither parses numbers nor splits lines: about a third less work per row), else text.
 * The column types come from the catalog at the start of each load (one round trip). */

#define PG_COPY_FLUSH (256 * 1024)

enum { PG_T_INT8 = 20, PG_T_INT2 = 21, PG_T_INT4 = 23, PG_T_TEXT = 25, PG_T_VARCHAR = 1043 };

struct pg_bulk {
    char *buf;
    size_t len, cap;
    int binary;
    unsigned *types; /* binary: the type of each column */
};

static int pg_bulk_reserve(struct pg_bulk *pb, size_t more)
{
    if (pb->len + more <= pb->cap)
        return 0;
    size_t nc = pb->cap ? pb->cap : PG_COPY_FLUSH + 4096;
    while (nc < pb->len + more)
        nc *= 2;
    char *nb = realloc(pb->buf, nc);
    if (!nb)
        return -1;
    pb->buf = nb;
    pb->cap = nc;
    return 0;
}

/* The types of table's cols into pb->types and pb->binary = 1 when all are ones the binary
 * format is written for. 0, or -1 with err (no such table). */
static int pg_bulk_types(struct nph_bulk *b, struct pg_bulk *pb, const char *table,
                         const char *const *cols, struct nph_error *err)
{
    static const char sql[] = "SELECT attname, atttypid FROM pg_attribute"
                              " WHERE attrelid = CAST($1 AS regclass) AND attnum > 0"
                              " AND NOT attisdropped";
    const char *params[1] = {table};
    PGresult *res = PQexecParams(conn(b->db), sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(b->db, res, "bulk load", sql, err);
        PQclear(res);
        return -1;
    }
    if (!(pb->types = calloc((size_t)b->ncols, sizeof(*pb->types)))) {
        PQclear(res);
        return nph_error_nomem(err);
    }
    pb->binary = 1;
    for (int i = 0; i < b->ncols; i++) {
        for (int r = 0; r < PQntuples(res); r++)
            if (!strcmp(PQgetvalue(res, r, 0), cols[i]))
                pb->types[i] = (unsigned)strtoul(PQgetvalue(res, r, 1), NULL, 10);
        switch (pb->types[i]) {
        case PG_T_INT8:
        case PG_T_INT4:
        case PG_T_INT2:
        case PG_T_TEXT:
        case PG_T_VARCHAR:
            break;
        default: /* another type, or no such column (COPY says so) */
            pb->binary = 0;
        }
    }
    PQclear(res);
    return 0;
}

static void pg_put_be(struct pg_bulk *pb, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        pb->buf[pb->len++] = (char)((v >> (8 * i)) & 0xff);
}

static int pg_bulk_begin(struct nph_bulk *b, const char *table, const char *const *cols,
                         struct nph_error *err)
{
    struct pg_bulk *pb = calloc(1, sizeof(*pb));
    size_t n = strlen(table) + 48;
    char *sql = NULL;
    PGresult *res;

    for (int i = 0; i < b->ncols; i++)
        n += strlen(cols[i]) + 2;
    if (!pb || !(sql = malloc(n))) {
        free(pb);
        return nph_error_nomem(err);
    }
    if (pg_bulk_types(b, pb, table, cols, err))
        goto fail;
    size_t o = (size_t)snprintf(sql, n, "COPY %s (", table);
    for (int i = 0; i < b->ncols; i++)
        o += (size_t)snprintf(sql + o, n - o, "%s%s", i ? ", " : "", cols[i]);
    snprintf(sql + o, n - o, ") FROM STDIN%s", pb->binary ? " (FORMAT binary)" : "");
    res = PQexec(conn(b->db), sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        pg_fail(b->db, res, "bulk load", sql, err);
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    if (pb->binary) { /* signature, flags, header extension length */
        if (pg_bulk_reserve(pb, 19)) {
            nph_error_nomem(err);
            PQputCopyEnd(conn(b->db), "out of memory");
            while ((res = PQgetResult(conn(b->db))) != NULL)
                PQclear(res);
            goto fail;
        }
        memcpy(pb->buf, "PGCOPY\n\377\r\n\0", 11);
        pb->len = 11;
        pg_put_be(pb, 0, 4);
        pg_put_be(pb, 0, 4);
    }
    free(sql);
    b->impl = pb;
    return 0;
fail:
    free(sql);
    free(pb->types);
    free(pb->buf);
    free(pb);
    return -1;
}

/* Append v in COPY's text format: backslash, tab, newline and carriage return escaped. */
static void pg_copy_text(struct pg_bulk *pb, const char *v)
{
    char *o = pb->buf + pb->len;
    for (; *v; v++) {
        switch (*v) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = *v;
        }
    }
    pb->len = (size_t)(o - pb->buf);
}

static void pg_copy_int64(struct pg_bulk *pb, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        pb->buf[pb->len++] = '-';
    while (n > 0)
        pb->buf[pb->len++] = tmp[--n];
}

static int pg_bulk_flush(struct nph_bulk *b, struct pg_bulk *pb, struct nph_error *err)
{
    if (pb->len > 0 && PQputCopyData(conn(b->db), pb->buf, (int)pb->len) != 1)
        return pg_fail(b->db, NULL, "bulk load", NULL, err);
    pb->len = 0;
    return 0;
}

/* One field in the binary format: its length, then its bytes. A text value for an integer
 * column must be a whole decimal number (as COPY's text format would take it). */
static int pg_binary_field(struct pg_bulk *pb, unsigned type, const struct nph_bulk_val *v,
                           struct nph_error *err)
{
    int64_t i = v->i64;
    if (v->kind == NPH_BULK_NULL || (v->kind == NPH_BULK_TEXT && !v->text)) {
        pg_put_be(pb, 0xffffffffu, 4);
        return 0;
    }
    if (type == PG_T_TEXT || type == PG_T_VARCHAR) {
        if (v->kind == NPH_BULK_INT64) {
            char t[24];
            int n = snprintf(t, sizeof(t), "%lld", (long long)i);
            pg_put_be(pb, (uint64_t)n, 4);
            memcpy(pb->buf + pb->len, t, (size_t)n);
            pb->len += (size_t)n;
        } else {
            size_t n = strlen(v->text);
            if (n > 0x7fffffff)
                return nph_error_set(err, NPH_E_INVALID, "bulk load: a value is too long");
            pg_put_be(pb, n, 4);
            memcpy(pb->buf + pb->len, v->text, n);
            pb->len += n;
        }
        return 0;
    }
    if (v->kind == NPH_BULK_TEXT) {
        char *end;
        long long x;
        errno = 0;
        x = strtoll(v->text, &end, 10);
        if (!*v->text || *end || errno)
            return nph_error_set(err, NPH_E_INVALID, "bulk load: '%.40s' is not an integer",
                                 v->text);
        i = x;
    }
    if ((type == PG_T_INT4 && (i < INT32_MIN || i > INT32_MAX)) ||
        (type == PG_T_INT2 && (i < INT16_MIN || i > INT16_MAX)))
        return nph_error_set(err, NPH_E_INVALID, "bulk load: %lld is out of range for its column",
                             (long long)i);
    int bytes = type == PG_T_INT8 ? 8 : type == PG_T_INT4 ? 4 : 2;
    pg_put_be(pb, (uint64_t)bytes, 4);
    pg_put_be(pb, (uint64_t)i, bytes);
    return 0;
}

static int pg_bulk_row(struct nph_bulk *b, const struct nph_bulk_val *vals, struct nph_error *err)
{
    struct pg_bulk *pb = b->impl;
    size_t need = 2;
    for (int i = 0; i < b->ncols; i++)
        need += 5 + (vals[i].kind == NPH_BULK_TEXT && vals[i].text ? 2 * strlen(vals[i].text) : 24);
    if (pg_bulk_reserve(pb, need))
        return nph_error_nomem(err);
    if (pb->binary) {
        size_t start = pb->len;
        pg_put_be(pb, (uint64_t)b->ncols, 2);
        for (int i = 0; i < b->ncols; i++)
            if (pg_binary_field(pb, pb->types[i], &vals[i], err)) {
                pb->len = start;
                return -1;
            }
    } else {
        for (int i = 0; i < b->ncols; i++) {
            if (i)
                pb->buf[pb->len++] = '\t';
            if (vals[i].kind == NPH_BULK_INT64) {
                pg_copy_int64(pb, vals[i].i64);
            } else if (vals[i].kind == NPH_BULK_TEXT && vals[i].text) {
                pg_copy_text(pb, vals[i].text);
            } else {
                pb->buf[pb->len++] = '\\';
                pb->buf[pb->len++] = 'N';
            }
        }
        pb->buf[pb->len++] = '\n';
    }
    return pb->len >= PG_COPY_FLUSH ? pg_bulk_flush(b, pb, err) : 0;
}

static int pg_bulk_end(struct nph_bulk *b, int abort, struct nph_error *err)
{
    struct pg_bulk *pb = b->impl;
    PGresult *res;
    int rc = 0;

    if (!abort && pb->binary) { /* the trailer: a field count of -1 */
        if (pg_bulk_reserve(pb, 2))
            rc = nph_error_nomem(err);
        else
            pg_put_be(pb, 0xffff, 2);
    }
    if (!abort && !rc && pg_bulk_flush(b, pb, err) < 0)
        rc = -1;
    if (PQputCopyEnd(conn(b->db), abort || rc ? "cancelled by the client" : NULL) != 1 && !rc)
        rc = pg_fail(b->db, NULL, "bulk load", NULL, err);
    /* Drain every result so the connection is usable again. */
    while ((res = PQgetResult(conn(b->db))) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc && !abort)
            rc = pg_fail(b->db, res, "bulk load", NULL, err);
        PQclear(res);
    }
    free(pb->buf);
    free(pb->types);
    free(pb);
    b->impl = NULL;
    return abort ? 0 : rc;
}

static int pg_migrate_lock(struct nph_db *db, struct nph_error *err)
{
    return pg_exec(db, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK_KEY ")", err);
}

static void pg_migrate_unlock(struct nph_db *db)
{
    struct nph_error e = NPH_ERROR_INIT;
    /* If this fails the connection is broken and the session lock went with it. */
    pg_exec(db, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK_KEY ")", &e);
}

const struct store_engine store_pg_engine = {
    .id = NPH_STORE_POSTGRES,
    .name = "postgresql",
    .dollar_params = 1,
    .begin_sql = "BEGIN ISOLATION LEVEL READ COMMITTED",
    .table_exists_sql = "SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END",
    .check_url = pg_check_url,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .alive = pg_alive,
    .in_transaction = pg_in_transaction,
    .exec = pg_exec,
    .commit = pg_commit,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .step = pg_step,
    .col_text = pg_col_text,
    .col_int64 = pg_col_int64,
    .col_is_null = pg_col_is_null,
    .col_count = pg_col_count,
    .changes = pg_changes,
    .reset = pg_reset,
    .bulk_begin = pg_bulk_begin,
    .bulk_row = pg_bulk_row,
    .bulk_end = pg_bulk_end,
    .migrate_lock = pg_migrate_lock,
    .migrate_unlock = pg_migrate_unlock,
};
