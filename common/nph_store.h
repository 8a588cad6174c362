/*
 * nph_store.h - the store: one interface, two engines.
 *
 *   sqlite:///abs/path/nephele.db  or  sqlite://relative/path.db   SQLite 3, WAL, the default
 *   postgresql://user:pass@host:port/db?...  (also postgres://)     PostgreSQL via libpq
 *
 * A store is a pool of connections (struct nph_db); a thread acquires one, uses it, releases
 * it. A connection is never used by two threads at once. Statements are written once in
 * portable SQL with '?' placeholders (translated to $1, $2 ... for PostgreSQL, outside quoted
 * literals) and cached per connection by their SQL text, so preparing the same text again is a
 * hash lookup.
 *
 * Portable SQL used by Nephele: types TEXT, BIGINT, INTEGER (booleans as 0/1); no
 * AUTOINCREMENT/SERIAL; INSERT ... ON CONFLICT DO NOTHING; no engine-specific functions.
 *
 * Errors: a unique/primary-key violation is NPH_E_CONFLICT; a lost or refused connection is
 * NPH_E_UNAVAILABLE; a lock wait past the busy timeout is NPH_E_TIMEOUT; other failures are
 * NPH_E_STORE with the engine's message in the detail.
 */
#ifndef NPH_STORE_H
#define NPH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

struct nph_store;
struct nph_db;
struct nph_stmt;

enum nph_store_engine { NPH_STORE_SQLITE, NPH_STORE_POSTGRES };

/* Open a pool of pool_size connections (opened lazily, at most pool_size at once; one is
 * opened eagerly to report a bad URL or an unreachable server now). For SQLite the parent
 * directory must exist; the file is created. Returns 0 and *out, or -1. */
int nph_store_open(const char *url, int pool_size, struct nph_store **out, struct nph_error *err);
/* Close every connection. All connections must have been released. NULL is a no-op. */
void nph_store_close(struct nph_store *s);
enum nph_store_engine nph_store_engine(const struct nph_store *s);
/* The URL with any password replaced by "***" (borrowed), for logs and `db status`. */
const char *nph_store_url_redacted(const struct nph_store *s);

/* Take a connection from the pool, waiting up to 10 s for one to come free (then
 * NPH_E_TIMEOUT). A connection found broken is reopened. */
struct nph_db *nph_store_acquire(struct nph_store *s, struct nph_error *err);
/* Give it back; an open transaction is rolled back. NULL is a no-op. */
void nph_store_release(struct nph_db *db);
/* Acquire, run "SELECT 1", release: 0 if the store answers. */
int nph_store_ping(struct nph_store *s, struct nph_error *err);

/* Transactions. SQLite uses BEGIN IMMEDIATE (writers serialise up front, no upgrade
 * deadlocks); PostgreSQL uses READ COMMITTED. */
int nph_db_begin(struct nph_db *db, struct nph_error *err);
int nph_db_commit(struct nph_db *db, struct nph_error *err);
int nph_db_rollback(struct nph_db *db, struct nph_error *err);
enum nph_store_engine nph_db_engine(const struct nph_db *db);

/* Run SQL without parameters or results (may hold several ';'-separated statements). */
int nph_db_exec(struct nph_db *db, const char *sql, struct nph_error *err);

/* Prepare (or fetch from the connection's cache) a statement. The handle belongs to the
 * connection: use it, then call nph_stmt_done() before preparing the same SQL again or
 * releasing the connection. Returns NULL on error. */
struct nph_stmt *nph_db_prepare(struct nph_db *db, const char *sql, struct nph_error *err);

/* Bind parameters, 1-based. Text is copied. bind_text with NULL binds SQL NULL. */
int nph_stmt_bind_text(struct nph_stmt *st, int idx, const char *val, struct nph_error *err);
int nph_stmt_bind_int64(struct nph_stmt *st, int idx, int64_t val, struct nph_error *err);
int nph_stmt_bind_null(struct nph_stmt *st, int idx, struct nph_error *err);

/* Execute / advance: 1 = a row is available, 0 = done (no more rows), -1 = error. */
int nph_stmt_step(struct nph_stmt *st, struct nph_error *err);
/* Columns of the current row, 0-based. col_text borrows (valid until the next step/done);
 * NULL for SQL NULL. col_int64 returns 0 for NULL. */
const char *nph_stmt_col_text(struct nph_stmt *st, int col);
int64_t nph_stmt_col_int64(struct nph_stmt *st, int col);
int nph_stmt_col_is_null(struct nph_stmt *st, int col);
int nph_stmt_col_count(struct nph_stmt *st);
/* Rows changed by the last INSERT/UPDATE/DELETE executed on this statement. */
int64_t nph_stmt_changes(struct nph_stmt *st);
/* Reset the statement and clear its bindings, ready for reuse. */
void nph_stmt_done(struct nph_stmt *st);

/* Bulk loading: many rows into one table, much faster than one INSERT per row. PostgreSQL
 * streams them with COPY ... FROM STDIN (text format, buffered); SQLite reuses one prepared
 * INSERT. The rows join the transaction open on db, if any (on SQLite, open one around a
 * batch: an INSERT outside a transaction commits on its own). Between begin and end the
 * connection is busy with the load: no other statement may run on it. Errors (a duplicate
 * key, a lost connection) may surface only at nph_bulk_end; after a failure inside a
 * transaction, roll it back. */
struct nph_bulk;
enum nph_bulk_kind { NPH_BULK_NULL, NPH_BULK_INT64, NPH_BULK_TEXT };
struct nph_bulk_val {
    enum nph_bulk_kind kind;
    int64_t i64;
    const char *text; /* borrowed for the call; NULL is SQL NULL too */
};
/* Start loading into table(cols[0..ncols-1]); names are plain identifiers ([a-z_][a-z0-9_]*).
 * Returns the handle, or NULL with err. */
struct nph_bulk *nph_db_bulk_begin(struct nph_db *db, const char *table, const char *const *cols,
                                   int ncols, struct nph_error *err);
/* Add one row of ncols values. Returns 0 or -1 with err (the load is then failed: end it). */
int nph_bulk_row(struct nph_bulk *b, const struct nph_bulk_val *vals, struct nph_error *err);
/* Finish the load and free b: 0 when every row is stored, else -1 with err (the first
 * failure). abort != 0 cancels the load (PostgreSQL stores none of its rows) and returns 0.
 * NULL is a no-op. */
int nph_bulk_end(struct nph_bulk *b, int abort, struct nph_error *err);
/* 1 if a transaction is open on db. */
int nph_db_in_transaction(struct nph_db *db);

/* Versioned migrations, one list per component ("identity", "broker", ...), applied in
 * order inside one transaction each, recorded in table nph_schema_migrations(component,
 * version, name, applied_at). On PostgreSQL a session advisory lock serialises concurrent
 * migrators across processes. Migration SQL must be portable (see above). */
struct nph_migration {
    int version; /* 1, 2, 3 ... strictly increasing */
    const char *name;
    const char *sql;
};
/* Apply the pending migrations of `component`. *applied (may be NULL) receives how many ran.
 * Fails with NPH_E_CONFLICT if the store holds a newer version than the list knows. */
int nph_store_migrate(struct nph_store *s, const char *component, const struct nph_migration *m,
                      size_t n, int *applied, struct nph_error *err);
/* Current version of a component (0 if none applied). */
int nph_store_schema_version(struct nph_store *s, const char *component, int *version,
                             struct nph_error *err);

/* Prepare `sql`, bind the variadic arguments in order by `types` ('i': int64_t, 's': const char *,
 * NULL binding NULL) and run it. nph_db_execf returns the rows changed or -1; nph_db_queryf
 * returns 1 with *out on the first row (the caller steps on and calls nph_stmt_done), 0 when
 * there is none (statement finished), or -1. */
int64_t nph_db_execf(struct nph_db *db, struct nph_error *err, const char *sql, const char *types,
                     ...);
int nph_db_queryf(struct nph_db *db, struct nph_error *err, struct nph_stmt **out, const char *sql,
                  const char *types, ...);

#endif
