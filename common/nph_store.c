/*
 * nph_store.c - the engine-independent half of the store (see nph_store.h): URL parsing and
 * redaction, dispatch to the engine tables in store_sqlite.c and store_pg.c, the connection
 * pool (a mutex, a condition variable and a stack of idle connections), the per-connection
 * statement cache keyed by SQL text, parameter storage, '?' -> $n translation and versioned
 * migrations recorded in nph_schema_migrations.
 */
#include "nph_store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nph_clock.h"
#include "store_internal.h"

#define STORE_ACQUIRE_TIMEOUT_USEC (10 * NPH_USEC_PER_SEC)
#define STORE_CACHE_MIN_BUCKETS    32
#define STORE_MAX_PARAMS           65535

struct nph_store {
    const struct store_engine *eng;
    char *url;      /* owned, as given */
    char *redacted; /* owned, password replaced by "***" */
    char *target;   /* owned: the file path (SQLite) or the libpq URL */
    int pool_size;
    int64_t acquire_timeout;

    pthread_mutex_t lock;
    pthread_cond_t freed; /* signalled when a connection is released or a slot frees */
    struct nph_db *idle;  /* stack of open, unused connections */
    int nopen;            /* connections open or being opened, idle or not */
};

/* ---- URLs ---------------------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Replace the value of a "password=" query parameter and the password of the userinfo by
 * "***". Returns a malloc'd string or NULL when out of memory. */
static char *redact_url(const char *url)
{
    size_t len = strlen(url);
    char *out = malloc(len * 2 + 8); /* each redaction adds at most 3 bytes */
    const char *p = url;
    const char *auth = strstr(url, "://");
    const char *auth_end;
    const char *at = NULL;
    char *o = out;

    if (!out)
        return NULL;
    if (auth) {
        auth += 3;
        auth_end = auth + strcspn(auth, "/?#");
        for (const char *q = auth; q < auth_end; q++)
            if (*q == '@')
                at = q;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                memcpy(o, url, (size_t)(colon + 1 - url));
                o += colon + 1 - url;
                memcpy(o, "***", 3);
                o += 3;
                p = at;
            }
        }
    }
    while (*p) {
        if ((*p == '?' || *p == '&') && has_prefix(p + 1, "password=")) {
            memcpy(o, p, 10);
            o += 10;
            p += 10;
            memcpy(o, "***", 3);
            o += 3;
            p += strcspn(p, "&#");
            continue;
        }
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* Pick the engine for a URL and the target it connects to. On success *target is malloc'd. */
static int parse_url(const char *url, const struct store_engine **eng, char **target,
                     struct nph_error *err)
{
    const char *path;

    if (!url || !*url)
        return nph_error_set(err, NPH_E_INVALID, "store URL is empty");
    if (has_prefix(url, "sqlite://")) {
        path = url + strlen("sqlite://");
        if (!*path || path[strlen(path) - 1] == '/')
            return nph_error_set(err, NPH_E_INVALID, "store URL '%s' names no database file", url);
        *eng = &store_sqlite_engine;
        *target = strdup(path);
    } else if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
        if (store_pg_engine.check_url(url, err) < 0)
            return -1;
        *eng = &store_pg_engine;
        *target = strdup(url);
    } else {
        nph_error_set(err, NPH_E_INVALID, "store URL '%.*s' has an unknown scheme",
                      (int)strcspn(url, ":"), url);
        return nph_error_detail(err, "expected sqlite://path or postgresql://user@host/db");
    }
    if (!*target)
        return nph_error_nomem(err);
    return 0;
}

/* ---- SQL text ------------------------------------------------------------------------------ */

/* Length of the quoted literal, identifier or comment starting at p, or 0 if none starts
 * there. An unterminated one runs to the end of the text. */
static size_t skip_quoted(const char *p)
{
    const char *q = p;

    if (*p == '\'' || *p == '"') {
        char quote = *p;
        for (q = p + 1; *q; q++) {
            if (*q == quote) {
                if (q[1] == quote) { /* doubled quote: an escaped one */
                    q++;
                    continue;
                }
                return (size_t)(q + 1 - p);
            }
        }
        return (size_t)(q - p);
    }
    if (p[0] == '-' && p[1] == '-')
        return strcspn(p, "\n");
    if (p[0] == '/' && p[1] == '*') {
        q = strstr(p + 2, "*/");
        return q ? (size_t)(q + 2 - p) : strlen(p);
    }
    return 0;
}

char *store_translate_placeholders(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    size_t marks = 0;
    char *out;
    char *o;
    int n = 0;

    for (const char *p = sql; *p; p++)
        if (*p == '?')
            marks++;
    out = malloc(len + marks * 5 + 1); /* "?" -> "$65535" at most */
    if (!out)
        return NULL;
    o = out;
    for (const char *p = sql; *p;) {
        size_t skip = skip_quoted(p);
        if (skip) {
            memcpy(o, p, skip);
            o += skip;
            p += skip;
        } else if (*p == '?') {
            n++;
            o += sprintf(o, "$%d", n);
            p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *nparams = n;
    return out;
}

char *store_sql_excerpt(const char *sql, char *buf, size_t len)
{
    size_t o = 0;
    int space = 0;

    assert(len >= 4);
    for (const char *p = sql; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            space = o > 0;
            continue;
        }
        if (o + space + 1 >= len) {
            memcpy(buf + len - 4, "...", 4);
            return buf;
        }
        if (space)
            buf[o++] = ' ';
        space = 0;
        buf[o++] = *p;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- statements and the cache -------------------------------------------------------------- */

/* FNV-1a. */
static size_t hash_sql(const char *sql)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

static void stmt_clear_params(struct nph_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        free(st->params[i].text);
        st->params[i].text = NULL;
        st->params[i].kind = STORE_PARAM_NULL;
    }
}

/* Finalize and free a statement (not unlinking it from the cache). */
static void stmt_free(struct nph_stmt *st)
{
    const struct store_engine *eng = st->db->store->eng;
    if (st->impl)
        eng->finalize(st);
    stmt_clear_params(st);
    free(st->params);
    free(st->sql);
    free(st);
}

static struct nph_stmt *cache_find(struct nph_db *db, const char *sql)
{
    if (!db->nbuckets)
        return NULL;
    for (struct nph_stmt *st = db->buckets[hash_sql(sql) % db->nbuckets]; st; st = st->chain)
        if (strcmp(st->sql, sql) == 0)
            return st;
    return NULL;
}

/* Insert st, growing the table when it is more than 3/4 full. Returns -1 when out of memory
 * (st is then not in the cache). */
static int cache_insert(struct nph_db *db, struct nph_stmt *st)
{
    if (db->nstmts + 1 > db->nbuckets * 3 / 4) {
        size_t n = db->nbuckets ? db->nbuckets * 2 : STORE_CACHE_MIN_BUCKETS;
        struct nph_stmt **b = calloc(n, sizeof(*b));
        if (!b)
            return -1;
        for (size_t i = 0; i < db->nbuckets; i++) {
            struct nph_stmt *next;
            for (struct nph_stmt *s = db->buckets[i]; s; s = next) {
                size_t h = hash_sql(s->sql) % n;
                next = s->chain;
                s->chain = b[h];
                b[h] = s;
            }
        }
        free(db->buckets);
        db->buckets = b;
        db->nbuckets = n;
    }
    size_t h = hash_sql(st->sql) % db->nbuckets;
    st->chain = db->buckets[h];
    db->buckets[h] = st;
    db->nstmts++;
    return 0;
}

/* Finalize every cached statement and empty the cache. */
static void cache_clear(struct nph_db *db)
{
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct nph_stmt *next;
        for (struct nph_stmt *st = db->buckets[i]; st; st = next) {
            next = st->chain;
            stmt_free(st);
        }
    }
    free(db->buckets);
    db->buckets = NULL;
    db->nbuckets = 0;
    db->nstmts = 0;
}

struct nph_stmt *nph_db_prepare(struct nph_db *db, const char *sql, struct nph_error *err)
{
    const struct store_engine *eng = db->store->eng;
    struct nph_stmt *st = cache_find(db, sql);
    char *translated = NULL;
    char excerpt[96];

    if (st) {
        if (st->in_use) {
            nph_error_set(err, NPH_E_INTERNAL, "statement '%s' is already in use",
                          store_sql_excerpt(sql, excerpt, sizeof(excerpt)));
            nph_error_detail(err, "call nph_stmt_done() before preparing it again");
            return NULL;
        }
        st->in_use = 1;
        return st;
    }

    st = calloc(1, sizeof(*st));
    if (!st || !(st->sql = strdup(sql))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    st->db = db;
    if (eng->dollar_params) {
        int n;
        translated = store_translate_placeholders(sql, &n);
        if (!translated) {
            nph_error_nomem(err);
            goto cleanup;
        }
        if (n > STORE_MAX_PARAMS) {
            nph_error_set(err, NPH_E_INVALID, "statement '%s' has too many parameters",
                          store_sql_excerpt(sql, excerpt, sizeof(excerpt)));
            goto cleanup;
        }
    }
    if (eng->prepare(st, translated ? translated : sql, err) < 0)
        goto cleanup;
    if ((st->nparams > 0 && !(st->params = calloc((size_t)st->nparams, sizeof(*st->params)))) ||
        cache_insert(db, st) < 0) {
        nph_error_nomem(err);
        goto cleanup;
    }
    free(translated);
    st->in_use = 1;
    return st;

cleanup:
    free(translated);
    if (st) {
        st->nparams = 0; /* the params may not be allocated */
        free(st->params);
        if (st->impl)
            eng->finalize(st);
        free(st->sql);
        free(st);
    }
    return NULL;
}

/* The parameter slot for a bind, or NULL with err set. */
static struct store_param *param_slot(struct nph_stmt *st, int idx, struct nph_error *err)
{
    char excerpt[96];
    if (idx < 1 || idx > st->nparams) {
        nph_error_set(err, NPH_E_INTERNAL, "parameter %d out of range for '%s'", idx,
                      store_sql_excerpt(st->sql, excerpt, sizeof(excerpt)));
        nph_error_detail(err, "the statement has %d parameters", st->nparams);
        return NULL;
    }
    struct store_param *p = &st->params[idx - 1];
    free(p->text);
    p->text = NULL;
    p->kind = STORE_PARAM_NULL;
    return p;
}

int nph_stmt_bind_text(struct nph_stmt *st, int idx, const char *val, struct nph_error *err)
{
    struct store_param *p = param_slot(st, idx, err);
    if (!p)
        return -1;
    if (!val)
        return 0;
    if (!(p->text = strdup(val)))
        return nph_error_nomem(err);
    p->kind = STORE_PARAM_TEXT;
    return 0;
}

int nph_stmt_bind_int64(struct nph_stmt *st, int idx, int64_t val, struct nph_error *err)
{
    struct store_param *p = param_slot(st, idx, err);
    if (!p)
        return -1;
    p->kind = STORE_PARAM_INT64;
    p->i64 = val;
    snprintf(p->num, sizeof(p->num), "%lld", (long long)val);
    return 0;
}

int nph_stmt_bind_null(struct nph_stmt *st, int idx, struct nph_error *err)
{
    return param_slot(st, idx, err) ? 0 : -1;
}

int nph_stmt_step(struct nph_stmt *st, struct nph_error *err)
{
    int rc;
    if (st->state == STORE_STMT_DONE)
        return 0;
    rc = st->db->store->eng->step(st, err);
    st->state = rc == 1 ? STORE_STMT_ROW : STORE_STMT_DONE;
    return rc;
}

static int col_ok(struct nph_stmt *st, int col)
{
    return st->state == STORE_STMT_ROW && col >= 0 && col < st->db->store->eng->col_count(st);
}

const char *nph_stmt_col_text(struct nph_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->store->eng->col_text(st, col) : NULL;
}

int64_t nph_stmt_col_int64(struct nph_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->store->eng->col_int64(st, col) : 0;
}

int nph_stmt_col_is_null(struct nph_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->store->eng->col_is_null(st, col) : 1;
}

int nph_stmt_col_count(struct nph_stmt *st)
{
    return st->db->store->eng->col_count(st);
}

int64_t nph_stmt_changes(struct nph_stmt *st)
{
    return st->db->store->eng->changes(st);
}

void nph_stmt_done(struct nph_stmt *st)
{
    if (!st)
        return;
    st->db->store->eng->reset(st);
    stmt_clear_params(st);
    st->state = STORE_STMT_READY;
    st->in_use = 0;
}

/* ---- connections and the pool -------------------------------------------------------------- */

/* Open a new connection. Returns NULL with err set on failure. */
static struct nph_db *db_open(struct nph_store *s, struct nph_error *err)
{
    struct nph_db *db = calloc(1, sizeof(*db));
    if (!db) {
        nph_error_nomem(err);
        return NULL;
    }
    db->store = s;
    if (s->eng->connect(db, s->target, err) < 0) {
        free(db);
        return NULL;
    }
    return db;
}

static void db_close(struct nph_db *db)
{
    cache_clear(db);
    db->store->eng->disconnect(db);
    db->conn = NULL;
    free(db);
}

/* Close and reopen a broken connection in place (its statements are lost). */
static int db_reopen(struct nph_db *db, struct nph_error *err)
{
    cache_clear(db);
    db->store->eng->disconnect(db);
    db->conn = NULL;
    db->broken = 0;
    db->stmt_seq = 0;
    return db->store->eng->connect(db, db->store->target, err);
}

/* Give up a pool slot (after a failed open) and wake a waiter. */
static void pool_drop_slot(struct nph_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->nopen--;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

struct nph_db *nph_store_acquire(struct nph_store *s, struct nph_error *err)
{
    struct nph_db *db = NULL;
    struct timespec deadline;
    int must_open = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(s->acquire_timeout / NPH_USEC_PER_SEC);
    deadline.tv_nsec += (long)(s->acquire_timeout % NPH_USEC_PER_SEC) * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->idle) {
            db = s->idle;
            s->idle = db->next_idle;
            db->next_idle = NULL;
            break;
        }
        if (s->nopen < s->pool_size) {
            s->nopen++;
            must_open = 1;
            break;
        }
        if (pthread_cond_timedwait(&s->freed, &s->lock, &deadline) == ETIMEDOUT && !s->idle &&
            s->nopen >= s->pool_size) {
            pthread_mutex_unlock(&s->lock);
            nph_error_set(err, NPH_E_TIMEOUT, "no free store connection");
            nph_error_detail(err, "all %d connections stayed busy for %lld ms", s->pool_size,
                             (long long)(s->acquire_timeout / 1000));
            return NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);

    if (must_open) {
        db = db_open(s, err);
        if (!db)
            pool_drop_slot(s);
        return db;
    }
    if (db->broken || !s->eng->alive(db)) {
        if (db_reopen(db, err) < 0) {
            db_close(db);
            pool_drop_slot(s);
            return NULL;
        }
    }
    return db;
}

void nph_store_release(struct nph_db *db)
{
    struct nph_store *s;
    if (!db)
        return;
    s = db->store;
    for (size_t i = 0; i < db->nbuckets; i++)
        for (struct nph_stmt *st = db->buckets[i]; st; st = st->chain)
            if (st->in_use)
                nph_stmt_done(st);
    if (!db->broken && s->eng->in_transaction(db)) {
        struct nph_error e = NPH_ERROR_INIT;
        if (s->eng->exec(db, "ROLLBACK", &e) < 0)
            db->broken = 1; /* reopened on the next acquire */
    }
    pthread_mutex_lock(&s->lock);
    db->next_idle = s->idle;
    s->idle = db;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

int nph_store_open(const char *url, int pool_size, struct nph_store **out, struct nph_error *err)
{
    struct nph_store *s = NULL;
    const struct store_engine *eng = NULL;
    char *target = NULL;
    pthread_condattr_t attr;
    struct nph_db *db;

    if (pool_size < 1)
        return nph_error_set(err, NPH_E_INVALID, "store pool size %d is not positive", pool_size);
    if (parse_url(url, &eng, &target, err) < 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        free(target);
        return nph_error_nomem(err);
    }
    s->eng = eng;
    s->target = target;
    s->pool_size = pool_size;
    s->acquire_timeout = STORE_ACQUIRE_TIMEOUT_USEC;
    s->url = strdup(url);
    s->redacted = redact_url(url);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->freed, &attr);
    pthread_condattr_destroy(&attr);
    if (!s->url || !s->redacted) {
        nph_store_close(s);
        return nph_error_nomem(err);
    }

    db = nph_store_acquire(s, err);
    if (!db) {
        nph_error_prefix(err, "opening store '%s'", s->redacted);
        nph_store_close(s);
        return -1;
    }
    nph_store_release(db);
    *out = s;
    return 0;
}

void nph_store_close(struct nph_store *s)
{
    struct nph_db *next;
    int closed = 0;

    if (!s)
        return;
    for (struct nph_db *db = s->idle; db; db = next) {
        next = db->next_idle;
        db_close(db);
        closed++;
    }
    assert(closed == s->nopen && "nph_store_close: connections still acquired");
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s->redacted);
    free(s->target);
    free(s);
}

enum nph_store_engine nph_store_engine(const struct nph_store *s)
{
    return s->eng->id;
}

const char *nph_store_url_redacted(const struct nph_store *s)
{
    return s->redacted;
}

void store_set_acquire_timeout(struct nph_store *s, int64_t usec)
{
    s->acquire_timeout = usec;
}

int nph_store_ping(struct nph_store *s, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(s, err);
    int rc;
    if (!db)
        return -1;
    rc = nph_db_exec(db, "SELECT 1", err);
    nph_store_release(db);
    return rc;
}

/* ---- transactions and plain SQL ------------------------------------------------------------ */

enum nph_store_engine nph_db_engine(const struct nph_db *db)
{
    return db->store->eng->id;
}

int nph_db_in_transaction(struct nph_db *db)
{
    return !db->broken && db->store->eng->in_transaction(db);
}

/* ---- bulk loads ---------------------------------------------------------------------------- */

static int plain_identifier(const char *s)
{
    if (!s || !*s || strlen(s) > 63 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

struct nph_bulk *nph_db_bulk_begin(struct nph_db *db, const char *table, const char *const *cols,
                                   int ncols, struct nph_error *err)
{
    struct nph_bulk *b;
    if (ncols <= 0 || ncols > 256 || !plain_identifier(table)) {
        nph_error_set(err, NPH_E_INTERNAL, "bulk load: bad table name or column count");
        return NULL;
    }
    for (int i = 0; i < ncols; i++)
        if (!plain_identifier(cols[i])) {
            nph_error_set(err, NPH_E_INTERNAL, "bulk load into %s: bad column name", table);
            return NULL;
        }
    if (!(b = calloc(1, sizeof(*b)))) {
        nph_error_nomem(err);
        return NULL;
    }
    b->db = db;
    b->ncols = ncols;
    if (db->store->eng->bulk_begin(b, table, cols, err) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

int nph_bulk_row(struct nph_bulk *b, const struct nph_bulk_val *vals, struct nph_error *err)
{
    if (b->failed)
        return nph_error_set(err, NPH_E_STORE, "bulk load: an earlier row failed");
    if (b->db->store->eng->bulk_row(b, vals, err) < 0) {
        b->failed = 1;
        return -1;
    }
    return 0;
}

int nph_bulk_end(struct nph_bulk *b, int abort, struct nph_error *err)
{
    int rc;
    if (!b)
        return 0;
    rc = b->db->store->eng->bulk_end(b, abort || b->failed, err);
    if (b->failed && !abort && rc == 0)
        rc = nph_error_set(err, NPH_E_STORE, "bulk load failed at an earlier row");
    free(b);
    return abort ? 0 : rc;
}

int nph_db_exec(struct nph_db *db, const char *sql, struct nph_error *err)
{
    return db->store->eng->exec(db, sql, err);
}

int nph_db_begin(struct nph_db *db, struct nph_error *err)
{
    return db->store->eng->exec(db, db->store->eng->begin_sql, err);
}

int nph_db_commit(struct nph_db *db, struct nph_error *err)
{
    return db->store->eng->commit(db, err);
}

int nph_db_rollback(struct nph_db *db, struct nph_error *err)
{
    return db->store->eng->exec(db, "ROLLBACK", err);
}

/* ---- migrations ---------------------------------------------------------------------------- */

static const char migrations_ddl[] = "CREATE TABLE IF NOT EXISTS nph_schema_migrations ("
                                     " component TEXT NOT NULL,"
                                     " version INTEGER NOT NULL,"
                                     " name TEXT NOT NULL,"
                                     " applied_at BIGINT NOT NULL,"
                                     " PRIMARY KEY (component, version))";

/* Run a one-row, one-integer query with up to one text parameter into *out. */
static int query_int(struct nph_db *db, const char *sql, const char *param, int64_t *out,
                     struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc = -1;

    if (!st)
        return -1;
    if (param && nph_stmt_bind_text(st, 1, param, err) < 0)
        goto cleanup;
    switch (nph_stmt_step(st, err)) {
    case 1:
        *out = nph_stmt_col_int64(st, 0);
        rc = 0;
        break;
    case 0:
        *out = 0;
        rc = 0;
        break;
    default:
        break;
    }
cleanup:
    nph_stmt_done(st);
    return rc;
}

/* Current version of `component` on db; 0 when the table does not exist yet. */
static int db_schema_version(struct nph_db *db, const char *component, int *version,
                             struct nph_error *err)
{
    int64_t v = 0;
    if (query_int(db, db->store->eng->table_exists_sql, "nph_schema_migrations", &v, err) < 0)
        return -1;
    if (v && query_int(db,
                       "SELECT COALESCE(MAX(version), 0) FROM nph_schema_migrations"
                       " WHERE component = ?",
                       component, &v, err) < 0)
        return -1;
    *version = (int)v;
    return 0;
}

int nph_store_schema_version(struct nph_store *s, const char *component, int *version,
                             struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(s, err);
    int rc;
    if (!db)
        return -1;
    rc = db_schema_version(db, component, version, err);
    nph_store_release(db);
    return rc;
}

/* Apply one migration in its own transaction unless a concurrent migrator got there first.
 * Returns 1 if applied, 0 if it was already there, -1 on error (the transaction rolled back). */
static int apply_one(struct nph_db *db, const char *component, const struct nph_migration *m,
                     struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    int current;
    int rc = -1;

    if (nph_db_begin(db, err) < 0)
        return -1;
    if (db_schema_version(db, component, &current, err) < 0)
        goto cleanup;
    if (current >= m->version) {
        rc = 0;
        goto cleanup;
    }
    if (nph_db_exec(db, m->sql, err) < 0)
        goto cleanup;
    st = nph_db_prepare(db,
                        "INSERT INTO nph_schema_migrations (component, version, name, applied_at)"
                        " VALUES (?, ?, ?, ?)",
                        err);
    if (!st || nph_stmt_bind_text(st, 1, component, err) < 0 ||
        nph_stmt_bind_int64(st, 2, m->version, err) < 0 ||
        nph_stmt_bind_text(st, 3, m->name, err) < 0 ||
        nph_stmt_bind_int64(st, 4, nph_clock_now(), err) < 0 || nph_stmt_step(st, err) < 0)
        goto cleanup;
    nph_stmt_done(st);
    st = NULL;
    if (nph_db_commit(db, err) < 0)
        goto cleanup;
    return 1;

cleanup:
    nph_stmt_done(st);
    nph_db_rollback(db, NULL);
    return rc;
}

int nph_store_migrate(struct nph_store *s, const char *component, const struct nph_migration *m,
                      size_t n, int *applied, struct nph_error *err)
{
    struct nph_db *db = NULL;
    int locked = 0;
    int current = 0;
    int count = 0;
    int rc = -1;

    for (size_t i = 0; i < n; i++) {
        if (m[i].version < 1 || (i > 0 && m[i].version <= m[i - 1].version) || !m[i].sql ||
            !m[i].name)
            return nph_error_set(err, NPH_E_INVALID,
                                 "migration %zu of '%s' is malformed (version %d)", i + 1,
                                 component, m[i].version);
    }
    db = nph_store_acquire(s, err);
    if (!db)
        return -1;
    if (s->eng->migrate_lock) {
        if (s->eng->migrate_lock(db, err) < 0)
            goto cleanup;
        locked = 1;
    }
    if (nph_db_exec(db, migrations_ddl, err) < 0)
        goto cleanup;
    if (db_schema_version(db, component, &current, err) < 0)
        goto cleanup;
    if (current > (n ? m[n - 1].version : 0)) {
        nph_error_set(err, NPH_E_CONFLICT, "schema of '%s' is newer than this program knows",
                      component);
        nph_error_detail(err, "newer version in store than known: store has %d, known up to %d",
                         current, n ? m[n - 1].version : 0);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        int r;
        if (m[i].version <= current)
            continue;
        r = apply_one(db, component, &m[i], err);
        if (r < 0) {
            nph_error_prefix(err, "migration %d '%s' of '%s'", m[i].version, m[i].name, component);
            goto cleanup;
        }
        count += r;
    }
    if (applied)
        *applied = count;
    rc = 0;

cleanup:
    if (locked)
        s->eng->migrate_unlock(db);
    nph_store_release(db);
    return rc;
}

static struct nph_stmt *prepare_bind(struct nph_db *db, struct nph_error *err, const char *sql,
                                     const char *types, va_list ap)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    if (!st)
        return NULL;
    for (int i = 0; types && types[i]; i++) {
        int rc = types[i] == 'i' ? nph_stmt_bind_int64(st, i + 1, va_arg(ap, int64_t), err)
                                 : nph_stmt_bind_text(st, i + 1, va_arg(ap, const char *), err);
        if (rc) {
            nph_stmt_done(st);
            return NULL;
        }
    }
    return st;
}

int64_t nph_db_execf(struct nph_db *db, struct nph_error *err, const char *sql, const char *types,
                     ...)
{
    va_list ap;
    va_start(ap, types);
    struct nph_stmt *st = prepare_bind(db, err, sql, types, ap);
    va_end(ap);
    if (!st)
        return -1;
    int64_t changes = nph_stmt_step(st, err) < 0 ? -1 : nph_stmt_changes(st);
    nph_stmt_done(st);
    return changes;
}

int nph_db_queryf(struct nph_db *db, struct nph_error *err, struct nph_stmt **out, const char *sql,
                  const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    struct nph_stmt *st = prepare_bind(db, err, sql, types, ap);
    va_end(ap);
    if (!st)
        return -1;
    int rc = nph_stmt_step(st, err);
    if (rc == 1) {
        *out = st;
        return 1;
    }
    nph_stmt_done(st);
    return rc;
}
