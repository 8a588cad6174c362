/*
 * store_internal.h - the private side of nph_store: the structs behind the opaque handles and
 * the table of functions each engine (store_sqlite.c, store_pg.c) fills in.
 *
 * nph_store.c owns everything common to both engines: URL parsing, the connection pool, the
 * per-connection statement cache, parameter storage, '?' translation and migrations. An engine
 * only talks to its client library. It keeps its connection handle in db->conn and its
 * statement state in st->impl. Only nph_store.c, the engines and the store's unit test include
 * this header.
 */
#ifndef NPH_STORE_INTERNAL_H
#define NPH_STORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

enum store_param_kind { STORE_PARAM_NULL, STORE_PARAM_INT64, STORE_PARAM_TEXT };

/* One bound parameter. Unbound parameters are NULL. `num` holds the decimal form of an int64
 * for engines that send parameters as text. */
struct store_param {
    enum store_param_kind kind;
    int64_t i64;
    char *text; /* owned, for STORE_PARAM_TEXT */
    char num[24];
};

enum store_stmt_state {
    STORE_STMT_READY, /* bound (or not), not yet executed */
    STORE_STMT_ROW,   /* a row is available */
    STORE_STMT_DONE   /* finished (or failed): step returns 0 until nph_stmt_done() */
};

struct nph_stmt {
    struct nph_db *db;
    char *sql;  /* owned: the cache key, as the caller wrote it (with '?') */
    void *impl; /* engine state */
    int nparams;
    struct store_param *params; /* owned, nparams entries */
    enum store_stmt_state state;
    int in_use;             /* handed out by nph_db_prepare and not yet done */
    struct nph_stmt *chain; /* next in the cache bucket */
};

struct nph_db {
    struct nph_store *store;
    void *conn;             /* engine connection handle */
    int broken;             /* set by the engine when the connection is lost; reopened on acquire */
    unsigned long stmt_seq; /* engine-private numbering (PostgreSQL statement names) */
    struct nph_stmt **buckets; /* statement cache, keyed by SQL text */
    size_t nbuckets;
    size_t nstmts;
    struct nph_db *next_idle;
};

/* A bulk load in progress (nph_db_bulk_begin). */
struct nph_bulk {
    struct nph_db *db;
    int ncols;
    int failed; /* a row failed: nph_bulk_end reports failure */
    void *impl; /* engine state */
};

/* What an engine provides. Every function that takes an err fills it and returns -1 (or NULL)
 * on failure; a lost connection is reported as NPH_E_UNAVAILABLE with db->broken set. */
struct store_engine {
    enum nph_store_engine id;
    const char *name;
    int dollar_params;     /* 1: translate '?' to $1, $2 ... before prepare */
    const char *begin_sql; /* how a transaction starts */
    /* One '?' parameter (a table name); one row whose first column is 0 or 1. */
    const char *table_exists_sql;

    /* Check a URL's syntax without connecting (NPH_E_INVALID). */
    int (*check_url)(const char *target, struct nph_error *err);
    /* Open db->conn on `target` (file path or libpq URL). On failure db->conn stays NULL. */
    int (*connect)(struct nph_db *db, const char *target, struct nph_error *err);
    /* Close db->conn (may be NULL). Statements are already finalized. */
    void (*disconnect)(struct nph_db *db);
    /* 1 if the client library still believes the connection is usable. */
    int (*alive)(struct nph_db *db);
    int (*in_transaction)(struct nph_db *db);
    int (*exec)(struct nph_db *db, const char *sql, struct nph_error *err);
    int (*commit)(struct nph_db *db, struct nph_error *err);

    /* Prepare `sql` (already translated) into st->impl and set st->nparams. */
    int (*prepare)(struct nph_stmt *st, const char *sql, struct nph_error *err);
    /* Free st->impl (the connection may be broken or about to close). */
    void (*finalize)(struct nph_stmt *st);
    /* Execute with st->params (when st->state is READY) or advance: 1 row, 0 done, -1. */
    int (*step)(struct nph_stmt *st, struct nph_error *err);
    const char *(*col_text)(struct nph_stmt *st, int col);
    int64_t (*col_int64)(struct nph_stmt *st, int col);
    int (*col_is_null)(struct nph_stmt *st, int col);
    int (*col_count)(struct nph_stmt *st);
    int64_t (*changes)(struct nph_stmt *st);
    /* Forget the current execution (rows, result), ready to run again. */
    void (*reset)(struct nph_stmt *st);

    /* Bulk loads: begin sets b->impl (the names are checked identifiers); row adds one row of
     * b->ncols values; end finishes (abort: cancel) and frees b->impl, returning the first
     * failure of the load if any. */
    int (*bulk_begin)(struct nph_bulk *b, const char *table, const char *const *cols,
                      struct nph_error *err);
    int (*bulk_row)(struct nph_bulk *b, const struct nph_bulk_val *vals, struct nph_error *err);
    int (*bulk_end)(struct nph_bulk *b, int abort, struct nph_error *err);

    /* Serialise migrators across processes (may be NULL when transactions suffice). */
    int (*migrate_lock)(struct nph_db *db, struct nph_error *err);
    void (*migrate_unlock)(struct nph_db *db);
};

extern const struct store_engine store_sqlite_engine;
extern const struct store_engine store_pg_engine;

/* Translate '?' placeholders to $1, $2 ... outside '...' literals, "..." identifiers and
 * comments. Returns a malloc'd string (caller frees) and the number of placeholders in
 * *nparams, or NULL when out of memory. */
char *store_translate_placeholders(const char *sql, int *nparams);

/* Shorten SQL for an error message: whitespace runs folded to one space, cut to fit buf (len
 * bytes, at least 4) with "..." when cut. buf is always terminated. Returns buf. */
char *store_sql_excerpt(const char *sql, char *buf, size_t len);

/* Tests: change how long nph_store_acquire waits for a free connection (default 10 s). */
void store_set_acquire_timeout(struct nph_store *s, int64_t usec);

#endif
