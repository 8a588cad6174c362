/*
 * nph_ledger_usage.c - usage intervals maintained at ingestion (PostgreSQL).
 *
 * Every ledger event of a known resource type opens a segment of its resource that the next
 * event (in ts, then write order) closes. A closed segment is a row of usage_interval (written
 * once, never updated); the last segment of each resource, still open, is its row of
 * usage_open, which also carries what the next event needs: the last lifecycle event (base),
 * the offering and size in force. The rules are those of the rating (docs/billing.md, "The
 * model") and of the window functions this replaces; what depends on the catalog (hour
 * granularity, bill_stopped, prices) is applied by the report, so a segment records only its
 * state: not billed, billed, or billed where the cloud bills stopped servers.
 *
 * An event older than its resource's open segment (an import of history, a writer whose
 * transaction committed late) re-derives that resource from its events.
 *
 * The closed segments are also rolled up per atom, state and UTC day into usage_day (below),
 * which reports read for the whole days no price boundary splits.
 */
#include "nph_ledger.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"

enum { B_NONE, B_CREATED, B_STARTED, B_STOPPED, B_DELETED };

/* One segment's state: the event that opened it and what it carries. Strings are borrowed
 * from the events or from the pool of strings read back. */
struct seg {
    const char *resource, *rtype, *project, *cloud, *region, *offering;
    int64_t size_gb, s_ts;
    int base, state;
};

struct strpool {
    char **v;
    size_t n, cap;
};

static const char *pool_dup(struct strpool *p, const char *s, int *bad)
{
    char *d;
    if (!s)
        return NULL;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        char **nv = realloc(p->v, nc * sizeof(*nv));
        if (!nv) {
            *bad = 1;
            return NULL;
        }
        p->v = nv;
        p->cap = nc;
    }
    if (!(d = strdup(s))) {
        *bad = 1;
        return NULL;
    }
    p->v[p->n++] = d;
    return d;
}

static void pool_free(struct strpool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

static int known_type(const char *t)
{
    return t && (!strcmp(t, "server") || !strcmp(t, "volume") || !strcmp(t, "bucket"));
}

static int64_t floor_s(int64_t us)
{
    return (us - ((us % NPH_USEC_PER_SEC) + NPH_USEC_PER_SEC) % NPH_USEC_PER_SEC) /
           NPH_USEC_PER_SEC;
}

/* The state after event ev, given the state before it (prev, NULL for the first). */
static void seg_apply(struct seg *out, const struct seg *prev, const struct nph_ledger_event *ev)
{
    int server = !strcmp(ev->resource_type, "server");
    out->resource = ev->resource_id;
    out->rtype = ev->resource_type;
    out->project = ev->project_id;
    out->cloud = ev->cloud;
    out->region = ev->region;
    out->s_ts = ev->ts;
    switch (ev->kind) {
    case NPH_LEDGER_CREATED:
        out->base = B_CREATED;
        break;
    case NPH_LEDGER_STARTED:
        out->base = B_STARTED;
        break;
    case NPH_LEDGER_STOPPED:
        out->base = B_STOPPED;
        break;
    case NPH_LEDGER_DELETED:
        out->base = B_DELETED;
        break;
    default:
        out->base = prev ? prev->base : B_NONE;
    }
    if (ev->offering || ev->kind == NPH_LEDGER_CREATED || !prev)
        out->offering = ev->offering;
    else
        out->offering = prev->offering;
    if (ev->size_gb >= 0 || ev->kind == NPH_LEDGER_CREATED || !prev)
        out->size_gb = ev->size_gb > 0 ? ev->size_gb : 0;
    else
        out->size_gb = prev->size_gb;
    if (!server)
        out->state = ev->kind == NPH_LEDGER_DELETED ? NPH_USAGE_NONE : NPH_USAGE_BILLED;
    else if (ev->kind == NPH_LEDGER_CREATED || ev->kind == NPH_LEDGER_STARTED)
        out->state = NPH_USAGE_BILLED;
    else if (ev->kind == NPH_LEDGER_DELETED)
        out->state = NPH_USAGE_NONE;
    else if (ev->kind == NPH_LEDGER_STOPPED || out->base == B_STOPPED)
        out->state = NPH_USAGE_STOPPED;
    else
        out->state = NPH_USAGE_BILLED;
}

/* '{"a","b"}' of n strings (a PostgreSQL text[] literal). */
static char *text_array(const char *const *v, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(v[i]) + 3;
    char *a = malloc(len), *o = a;
    if (!a)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *p = v[i]; *p; p++) {
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

static int by_resource(const void *a, const void *b)
{
    const struct nph_ledger_event *x = *(const struct nph_ledger_event *const *)a;
    const struct nph_ledger_event *y = *(const struct nph_ledger_event *const *)b;
    int c = strcmp(x->resource_id, y->resource_id);
    if (c)
        return c;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x < y ? -1 : (x > y); /* write order: the position in the batch */
}

/* Take the open segments of `res` out of usage_open (one DELETE ... RETURNING: the rows are
 * locked until the transaction ends, so a concurrent writer of the same resource waits, and
 * gone, to be written anew after the batch) into open[i] (found[i] = 1), in the order of res
 * (sorted). The statement is planned for its arguments (plan_cache_mode, for the rest of the
 * transaction): a plan cached by a long-lived connection while usage_open was small scans the
 * whole table, a cost that grows with every resource ever seen. */
/* The class (first key) of the ledger's advisory locks, "nphl" in ASCII, and the mask of
 * their second key: 256 buckets of resources. */
#define LEDGER_LOCK_CLASS "1852860524"
#define LEDGER_LOCK_MASK  "255"

static int take_open(struct nph_db *db, const char *const *res, size_t n, const char *arr,
                     struct seg *open, char *found, struct strpool *pool, struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    int rc, bad = 0;
    /* Writers of the same resource one at a time: transaction-scoped advisory locks on the
     * resources' buckets (their names' hashes masked by LEDGER_LOCK_MASK, in one order),
     * in a statement of its own so that the DELETE below, started after the wait, sees what an
     * earlier writer committed. Without them two writers took the same open segment (or none,
     * for a new resource) and the second failed on usage_open's key. Buckets, not one lock a
     * resource: a batch of 20,000 resources would take 20,000 locks and overflow the server's
     * lock table (max_locks_per_transaction). The same statement sets plan_cache_mode for
     * the DELETE (SET LOCAL, see docs/billing.md), saving a round trip. */
    if (nph_db_queryf(db, err, &st,
                      "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
                      " count(pg_advisory_xact_lock(" LEDGER_LOCK_CLASS ", k)) FROM"
                      " (SELECT DISTINCT hashtext(r) & " LEDGER_LOCK_MASK " AS k"
                      " FROM unnest(CAST(? AS TEXT[])) AS r ORDER BY 1) x",
                      "s", arr) < 0)
        return -1;
    nph_stmt_done(st);
    st = NULL;
    int q = nph_db_queryf(
        db, err, &st,
        "DELETE FROM usage_open WHERE resource_id = ANY (CAST(? AS TEXT[]))"
        " RETURNING resource_id, rtype, project_id, cloud, region, offering, size_gb, s_ts, base,"
        " state",
        "s", arr);
    if (q < 0)
        return -1;
    for (rc = q; rc == 1; rc = nph_stmt_step(st, err)) {
        const char *r = nph_stmt_col_text(st, 0);
        size_t lo = 0, hi = n;
        while (lo < hi) { /* res is sorted with strcmp */
            size_t mid = (lo + hi) / 2;
            int c = strcmp(res[mid], r);
            if (c == 0) {
                lo = hi = mid;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= n || strcmp(res[lo], r))
            continue;
        struct seg *s = &open[lo];
        s->resource = res[lo];
        s->rtype = pool_dup(pool, nph_stmt_col_text(st, 1), &bad);
        s->project = pool_dup(pool, nph_stmt_col_text(st, 2), &bad);
        s->cloud = pool_dup(pool, nph_stmt_col_text(st, 3), &bad);
        s->region = pool_dup(pool, nph_stmt_col_text(st, 4), &bad);
        s->offering = pool_dup(pool, nph_stmt_col_text(st, 5), &bad);
        s->size_gb = nph_stmt_col_int64(st, 6);
        s->s_ts = nph_stmt_col_int64(st, 7);
        s->base = (int)nph_stmt_col_int64(st, 8);
        s->state = (int)nph_stmt_col_int64(st, 9);
        found[lo] = 1;
        if (bad) {
            nph_stmt_done(st);
            return nph_error_nomem(err);
        }
    }
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

/* Every event of the resources in arr (known types), in ts then id order, read into *out. */
static int read_history(struct nph_db *db, const char *arr, struct nph_ledger_event **out,
                        size_t *nout, struct strpool *pool, struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    struct nph_ledger_event *v = NULL;
    size_t n = 0, cap = 0;
    int rc, bad = 0;
    int q = nph_db_queryf(
        db, err, &st,
        "SELECT resource_id, ts, event, resource_type, project_id, cloud, region, offering,"
        " size_gb FROM ledger_event WHERE resource_id = ANY (CAST(? AS TEXT[]))"
        " AND resource_type IN ('server', 'volume', 'bucket') ORDER BY resource_id COLLATE \"C\", "
        "ts, id",
        "s", arr);
    if (q < 0)
        return -1;
    for (rc = q; rc == 1; rc = nph_stmt_step(st, err)) {
        struct nph_ledger_event ev = {0};
        if (nph_ledger_kind_parse(nph_stmt_col_text(st, 2), &ev.kind) < 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct nph_ledger_event *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                bad = 1;
                break;
            }
            v = nv;
            cap = nc;
        }
        ev.resource_id = pool_dup(pool, nph_stmt_col_text(st, 0), &bad);
        ev.ts = nph_stmt_col_int64(st, 1);
        ev.resource_type = pool_dup(pool, nph_stmt_col_text(st, 3), &bad);
        ev.project_id = pool_dup(pool, nph_stmt_col_text(st, 4), &bad);
        ev.cloud = pool_dup(pool, nph_stmt_col_text(st, 5), &bad);
        ev.region = pool_dup(pool, nph_stmt_col_text(st, 6), &bad);
        ev.offering = pool_dup(pool, nph_stmt_col_text(st, 7), &bad);
        ev.size_gb = nph_stmt_col_is_null(st, 8) ? -1 : nph_stmt_col_int64(st, 8);
        v[n++] = ev;
        if (bad)
            break;
    }
    nph_stmt_done(st);
    if (bad) {
        free(v);
        return nph_error_nomem(err);
    }
    if (rc < 0) {
        free(v);
        return -1;
    }
    *out = v;
    *nout = n;
    return 0;
}

/* Rows go to a COPY for batches, to a prepared INSERT for a few events (a live broker's single
 * event: a COPY costs three round trips). */
struct rollup;

struct sink {
    struct nph_db *db;
    struct nph_bulk *b;
    const char *insert;
    struct rollup *roll; /* closed segments are rolled up here too */
};

#define SMALL_BATCH 8

static int sink_begin(struct sink *k, struct nph_db *db, size_t n, const char *table,
                      const char *const *cols, int ncols, const char *insert, struct nph_error *err)
{
    k->db = db;
    k->roll = NULL;
    k->b = NULL;
    k->insert = insert;
    if (n <= SMALL_BATCH)
        return 0;
    k->b = nph_db_bulk_begin(db, table, cols, ncols, err);
    return k->b ? 0 : -1;
}

static int sink_row(struct sink *k, const struct nph_bulk_val *v, int ncols, struct nph_error *err)
{
    struct nph_stmt *st;
    int rc = 0;
    if (k->b)
        return nph_bulk_row(k->b, v, err);
    if (!(st = nph_db_prepare(k->db, k->insert, err)))
        return -1;
    for (int i = 0; i < ncols && rc == 0; i++)
        rc = v[i].kind == NPH_BULK_INT64 ? nph_stmt_bind_int64(st, i + 1, v[i].i64, err)
                                         : nph_stmt_bind_text(st, i + 1, v[i].text, err);
    if (rc == 0 && nph_stmt_step(st, err) < 0)
        rc = -1;
    nph_stmt_done(st);
    return rc;
}

static int sink_end(struct sink *k, int abort, struct nph_error *err)
{
    struct nph_bulk *b = k->b;
    k->b = NULL;
    return b ? nph_bulk_end(b, abort, err) : 0;
}

/* ---- the daily roll-up (usage_month, read as usage_day) -----------------------------------
 *
 * Every closed segment adds, per UTC day it touches, its seconds (GB-seconds for volumes and
 * buckets) in the day as they are (q, over n pieces) and rounded up to whole hours from its
 * start (qh, over nh pieces): what the report would compute for that day on a second or an
 * hour granularity cloud. A re-derived resource first takes its old segments' shares back.
 *
 * The sums are stored a calendar month to a row (ledger migration 5): per atom, state and UTC
 * month, the four sums of each day of the month in columns n00, nh00, q00, qh00 ... qh30; the
 * view usage_day unfolds them into a row per day. A batch updates one row per atom and month
 * it touches instead of one per atom and day: in the bench, about 900 rows instead of 12,000
 * per batch of 9,996 events, and a row update costs PostgreSQL several microseconds whatever
 * its width. The batch's rows go with a binary COPY into a temporary table and are added with
 * one INSERT ... SELECT ... ON CONFLICT DO UPDATE in key order (two writers lock rows in one
 * order); a few rows (a single event) with one prepared INSERT each. */

#define DAY_SECS   86400
#define BLOCK_DAYS 31
#define BLOCK_COLS (7 + 4 * BLOCK_DAYS)

struct rkey {
    const char *project, *cloud, *region, *offering, *rtype; /* borrowed */
    int state;
    int64_t month; /* the first second of the UTC month */
    uint64_t hash;
    int64_t v[BLOCK_DAYS][4]; /* per day of the month: n, nh, q, qh */
};

struct rollup {
    struct rkey **v; /* open addressing over entries allocated one by one */
    size_t n, cap;   /* cap a power of two, n <= cap / 2 */
};

static uint64_t hash_str(uint64_t h, const char *s)
{
    if (!s)
        return (h ^ 0xffu) * 1099511628211ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0x100u) * 1099511628211ULL;
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int rkey_eq(const struct rkey *a, const struct rkey *b)
{
    return a->hash == b->hash && a->month == b->month && a->state == b->state &&
           str_eq(a->project, b->project) && str_eq(a->cloud, b->cloud) &&
           str_eq(a->region, b->region) && str_eq(a->offering, b->offering) &&
           str_eq(a->rtype, b->rtype);
}

static int rollup_grow(struct rollup *r)
{
    size_t nc = r->cap ? r->cap * 2 : 256;
    struct rkey **nv = calloc(nc, sizeof(*nv));
    if (!nv)
        return -1;
    for (size_t i = 0; i < r->cap; i++) {
        if (!r->v[i])
            continue;
        size_t j = r->v[i]->hash & (nc - 1);
        while (nv[j])
            j = (j + 1) & (nc - 1);
        nv[j] = r->v[i];
    }
    free(r->v);
    r->v = nv;
    r->cap = nc;
    return 0;
}

/* The entry of k's key (its sums zero when new), or NULL when out of memory. */
static struct rkey *rollup_get(struct rollup *r, const struct rkey *k)
{
    if ((r->n + 1) * 2 > r->cap && rollup_grow(r))
        return NULL;
    size_t j = k->hash & (r->cap - 1);
    while (r->v[j] && !rkey_eq(r->v[j], k))
        j = (j + 1) & (r->cap - 1);
    if (!r->v[j]) {
        struct rkey *e = calloc(1, sizeof(*e));
        if (!e)
            return NULL;
        *e = *k;
        r->v[j] = e;
        r->n++;
    }
    return r->v[j];
}

static void rollup_free(struct rollup *r)
{
    for (size_t i = 0; i < r->cap; i++)
        free(r->v[i]);
    free(r->v);
}

static int64_t floor_div(int64_t t, int64_t d)
{
    return (t - ((t % d) + d) % d) / d;
}

/* The day of the month (1 to 31) of day z (days since 1970-01-01, UTC), by the proleptic
 * Gregorian calendar (H. Hinnant's civil_from_days). */
static int64_t day_of_month(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return doy - (153 * mp + 2) / 5 + 1;
}

/* Add (sign 1) or take back (sign -1) the shares of the closed segment [s, e) (seconds). */
static int rollup_segment(struct rollup *r, const char *project, const char *cloud,
                          const char *region, const char *offering, const char *rtype, int state,
                          int64_t size_gb, int64_t s, int64_t e, int sign)
{
    if (e <= s || state == NPH_USAGE_NONE)
        return 0;
    int64_t eh = s + (e - s + 3599) / 3600 * 3600;
    int64_t m = strcmp(rtype, "server") ? size_gb : 1;
    uint64_t h = 1469598103934665603ULL;
    struct rkey k = {project, cloud, region, offering, rtype, state, 0, 0, {{0}}};
    struct rkey *cur = NULL;
    h = hash_str(h, project);
    h = hash_str(h, cloud);
    h = hash_str(h, region);
    h = hash_str(h, offering);
    h = hash_str(h, rtype);
    h = (h ^ (uint64_t)state) * 1099511628211ULL;
    for (int64_t d = floor_div(s, DAY_SECS) * DAY_SECS; d < eh; d += DAY_SECS) {
        int64_t lo = s > d ? s : d, hi = e < d + DAY_SECS ? e : d + DAY_SECS;
        int64_t hih = eh < d + DAY_SECS ? eh : d + DAY_SECS;
        int64_t mday = day_of_month(d / DAY_SECS); /* d is a midnight: exact */
        int64_t month = d - (mday - 1) * DAY_SECS;
        if (!cur || cur->month != month) {
            k.month = month;
            k.hash = (h ^ (uint64_t)month) * 1099511628211ULL;
            k.hash ^= k.hash >> 29;
            if (!(cur = rollup_get(r, &k)))
                return -1;
        }
        int64_t *v = cur->v[mday - 1];
        if (hi > lo) {
            v[0] += sign;
            v[2] += sign * (hi - lo) * m;
        }
        v[1] += sign;
        v[3] += sign * (hih - lo) * m;
    }
    return 0;
}

static int cmp_nullstr(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : (b ? -1 : 0);
    return strcmp(a, b);
}

static int by_rkey(const void *a, const void *b)
{
    const struct rkey *x = *(const struct rkey *const *)a, *y = *(const struct rkey *const *)b;
    int c;
    if (x->month != y->month)
        return x->month < y->month ? -1 : 1;
    if ((c = strcmp(x->project, y->project)) || (c = strcmp(x->cloud, y->cloud)) ||
        (c = cmp_nullstr(x->region, y->region)) || (c = cmp_nullstr(x->offering, y->offering)) ||
        (c = strcmp(x->rtype, y->rtype)))
        return c;
    return (x->state > y->state) - (x->state < y->state);
}

/* The column names of usage_month in table order, and the statements that add rows to it,
 * built once. */
static const char *block_cols[BLOCK_COLS];
static char block_names[4 * BLOCK_DAYS][8];
static char *block_upsert_batch, *block_upsert_row;
static pthread_once_t block_once = PTHREAD_ONCE_INIT;

#define BLOCK_KEY "month, project_id, cloud, region, offering, rtype, state"

static void block_init(void)
{
    static const char *const key[] = {"month",    "project_id", "cloud", "region",
                                      "offering", "rtype",      "state"};
    static const char *const what[] = {"n", "nh", "q", "qh"};
    size_t len = 4096 + (size_t)BLOCK_DAYS * 4 * 48;
    char *batch = malloc(len), *row = malloc(len + (size_t)BLOCK_COLS * 3);
    int o = 0, p = 0;
    for (int i = 0; i < 7; i++)
        block_cols[i] = key[i];
    for (int d = 0; d < BLOCK_DAYS; d++)
        for (int w = 0; w < 4; w++) {
            snprintf(block_names[4 * d + w], sizeof(block_names[0]), "%s%02d", what[w], d);
            block_cols[7 + 4 * d + w] = block_names[4 * d + w];
        }
    if (!batch || !row) {
        free(batch);
        free(row);
        return;
    }
    /* the SET list, shared: n00 = d.n00 + EXCLUDED.n00, ... */
    char *set = malloc(len);
    if (!set) {
        free(batch);
        free(row);
        return;
    }
    for (int i = 7; i < BLOCK_COLS; i++)
        o += snprintf(set + o, len - (size_t)o, "%s%s = d.%s + EXCLUDED.%s", i > 7 ? ", " : "",
                      block_cols[i], block_cols[i], block_cols[i]);
    snprintf(batch, len,
             "INSERT INTO usage_month AS d SELECT * FROM usage_month_batch ORDER BY " BLOCK_KEY
             " ON CONFLICT (" BLOCK_KEY ") DO UPDATE SET %s;"
             " TRUNCATE usage_month_batch",
             set);
    p = snprintf(row, len, "INSERT INTO usage_month AS d VALUES (");
    for (int i = 0; i < BLOCK_COLS; i++)
        p += snprintf(row + p, len - (size_t)p, "%s?", i ? ", " : "");
    snprintf(row + p, len - (size_t)p, ") ON CONFLICT (" BLOCK_KEY ") DO UPDATE SET %s", set);
    free(set);
    block_upsert_batch = batch;
    block_upsert_row = row;
}

/* The values of row e of usage_month into v[BLOCK_COLS]: region and offering as '-' (none)
 * or '+' and the name, so that the key has no NULL; coded[] holds those two strings. */
static int block_row(const struct rkey *e, struct nph_bulk_val *v, char **coded)
{
    const char *ro[2] = {e->region, e->offering};
    for (int i = 0; i < 2; i++) {
        size_t n = ro[i] ? strlen(ro[i]) : 0;
        free(coded[i]);
        if (!(coded[i] = malloc(n + 2)))
            return -1;
        coded[i][0] = ro[i] ? '+' : '-';
        memcpy(coded[i] + 1, ro[i] ? ro[i] : "", n + 1);
    }
    v[0] = (struct nph_bulk_val){NPH_BULK_INT64, e->month, NULL};
    v[1] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, e->project};
    v[2] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, e->cloud};
    v[3] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, coded[0]};
    v[4] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, coded[1]};
    v[5] = (struct nph_bulk_val){NPH_BULK_TEXT, 0, e->rtype};
    v[6] = (struct nph_bulk_val){NPH_BULK_INT64, e->state, NULL};
    for (int d = 0; d < BLOCK_DAYS; d++)
        for (int w = 0; w < 4; w++)
            v[7 + 4 * d + w] = (struct nph_bulk_val){NPH_BULK_INT64, e->v[d][w], NULL};
    return 0;
}

static int rkey_zero(const struct rkey *e)
{
    for (int d = 0; d < BLOCK_DAYS; d++)
        if (e->v[d][0] || e->v[d][1] || e->v[d][2] || e->v[d][3])
            return 0;
    return 1;
}

#define SMALL_ROLLUP 4

/* Add the batch's sums to usage_month, in key order (concurrent writers lock rows in one
 * order). */
static int rollup_flush(struct nph_db *db, struct rollup *r, struct nph_error *err)
{
    struct nph_bulk_val v[BLOCK_COLS];
    char *coded[2] = {NULL, NULL};
    struct nph_bulk *b = NULL;
    size_t k = 0;
    int rc = -1;
    if (pthread_once(&block_once, block_init) || !block_upsert_batch)
        return nph_error_nomem(err);
    for (size_t i = 0; i < r->cap; i++)
        if (r->v[i] && !rkey_zero(r->v[i]))
            r->v[k++] = r->v[i];
        else if (r->v[i]) {
            free(r->v[i]);
            r->v[i] = NULL;
        }
    for (size_t i = k; i < r->cap; i++)
        r->v[i] = NULL; /* moved down or freed */
    if (k == 0)
        return 0;
    qsort(r->v, k, sizeof(*r->v), by_rkey);
    if (k <= SMALL_ROLLUP) {
        for (size_t i = 0; i < k; i++) {
            struct nph_stmt *st;
            int brc = 0;
            if (block_row(r->v[i], v, coded)) {
                nph_error_nomem(err);
                goto cleanup;
            }
            if (!(st = nph_db_prepare(db, block_upsert_row, err)))
                goto cleanup;
            for (int c = 0; c < BLOCK_COLS && brc == 0; c++)
                brc = v[c].kind == NPH_BULK_INT64 ? nph_stmt_bind_int64(st, c + 1, v[c].i64, err)
                                                  : nph_stmt_bind_text(st, c + 1, v[c].text, err);
            if (brc == 0 && nph_stmt_step(st, err) < 0)
                brc = -1;
            nph_stmt_done(st);
            if (brc)
                goto cleanup;
        }
        rc = 0;
        goto cleanup;
    }
    if (nph_db_exec(db,
                    "CREATE TEMPORARY TABLE IF NOT EXISTS usage_month_batch"
                    " (LIKE usage_month)",
                    err) ||
        !(b = nph_db_bulk_begin(db, "usage_month_batch", block_cols, BLOCK_COLS, err)))
        goto cleanup;
    for (size_t i = 0; i < k; i++) {
        if (block_row(r->v[i], v, coded)) {
            nph_error_nomem(err);
            goto cleanup;
        }
        if (nph_bulk_row(b, v, err))
            goto cleanup;
    }
    rc = nph_bulk_end(b, 0, err);
    b = NULL;
    if (rc == 0 && nph_db_exec(db, block_upsert_batch, err))
        rc = -1;
cleanup:
    if (b)
        nph_bulk_end(b, 1, NULL);
    free(coded[0]);
    free(coded[1]);
    return rc;
}

/* Delete the closed segments of the resources in arr, taking their shares back from r. */
static int delete_closed(struct nph_db *db, const char *arr, struct rollup *r, struct strpool *pool,
                         struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    int rc, bad = 0;
    int q =
        nph_db_queryf(db, err, &st,
                      "DELETE FROM usage_interval WHERE resource_id = ANY (CAST(? AS TEXT[]))"
                      " RETURNING rtype, project_id, cloud, region, offering, size_gb, state, s, e",
                      "s", arr);
    if (q < 0)
        return -1;
    for (rc = q; rc == 1; rc = nph_stmt_step(st, err)) {
        const char *rtype = pool_dup(pool, nph_stmt_col_text(st, 0), &bad);
        const char *project = pool_dup(pool, nph_stmt_col_text(st, 1), &bad);
        const char *cloud = pool_dup(pool, nph_stmt_col_text(st, 2), &bad);
        const char *region = pool_dup(pool, nph_stmt_col_text(st, 3), &bad);
        const char *offering = pool_dup(pool, nph_stmt_col_text(st, 4), &bad);
        if (bad || !rtype || !project || !cloud ||
            rollup_segment(r, project, cloud, region, offering, rtype,
                           (int)nph_stmt_col_int64(st, 6), nph_stmt_col_int64(st, 5),
                           nph_stmt_col_int64(st, 7), nph_stmt_col_int64(st, 8), -1)) {
            nph_stmt_done(st);
            return nph_error_nomem(err);
        }
    }
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

static int emit_closed(struct sink *b, const struct seg *s, int64_t e_ts, struct nph_error *err)
{
    if (s->state == NPH_USAGE_NONE) /* never billed: the report has no use for it */
        return 0;
    if (b->roll && rollup_segment(b->roll, s->project, s->cloud, s->region, s->offering, s->rtype,
                                  s->state, s->size_gb, floor_s(s->s_ts), floor_s(e_ts), 1))
        return nph_error_nomem(err);
    struct nph_bulk_val v[10] = {
        {NPH_BULK_TEXT, 0, s->resource},
        {NPH_BULK_TEXT, 0, s->rtype},
        {NPH_BULK_TEXT, 0, s->project},
        {NPH_BULK_TEXT, 0, s->cloud},
        {NPH_BULK_TEXT, 0, s->region},
        {NPH_BULK_TEXT, 0, s->offering},
        {NPH_BULK_INT64, s->size_gb, NULL},
        {NPH_BULK_INT64, s->state, NULL},
        {NPH_BULK_INT64, floor_s(s->s_ts), NULL},
        {NPH_BULK_INT64, floor_s(e_ts), NULL},
    };
    return sink_row(b, v, 10, err);
}

static const char *const interval_cols[] = {"resource_id", "rtype",    "project_id", "cloud",
                                            "region",      "offering", "size_gb",    "state",
                                            "s",           "e"};
static const char *const open_cols[] = {"resource_id", "rtype",    "project_id", "cloud",
                                        "region",      "offering", "size_gb",    "state",
                                        "s",           "s_ts",     "base"};

/* Segments of one resource: events ev[0..n) in order, after the open segment *open (NULL for a
 * resource seen for the first time, or re-derived). Closed segments go to b; the last one,
 * open, to *last. */
static int derive(struct sink *b, const struct seg *open, const struct nph_ledger_event *const *ev,
                  size_t n, struct seg *last, struct nph_error *err)
{
    struct seg cur, next;
    int have = open != NULL;
    if (have)
        cur = *open;
    for (size_t i = 0; i < n; i++) {
        if (have && emit_closed(b, &cur, ev[i]->ts, err))
            return -1;
        seg_apply(&next, have ? &cur : NULL, ev[i]);
        cur = next;
        have = 1;
    }
    *last = cur;
    return 0;
}

static const char interval_insert[] =
    "INSERT INTO usage_interval (resource_id, rtype, project_id, cloud, region, offering,"
    " size_gb, state, s, e) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char open_insert[] =
    "INSERT INTO usage_open (resource_id, rtype, project_id, cloud, region, offering, size_gb,"
    " state, s, s_ts, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/* The batch in memory, sorted: made before its events' COPY ends (no I/O), so that this work
 * overlaps the server's (nph_ledger_append_many). */
struct nph_usage_plan {
    struct nph_ledger_event *fixed;      /* the events of known types, times filled in */
    const struct nph_ledger_event **ord; /* fixed[0..m) by (resource, ts, order) */
    size_t m;
    const char **res; /* the distinct resources, sorted */
    size_t nres;
    char *arr; /* res as a PostgreSQL text[] literal */
};

void nph_ledger_usage_plan_free(struct nph_usage_plan *p)
{
    if (!p)
        return;
    free(p->fixed);
    free(p->ord);
    free(p->res);
    free(p->arr);
    free(p);
}

struct nph_usage_plan *nph_ledger_usage_plan(const struct nph_ledger_event *evs, size_t n,
                                             int64_t now)
{
    struct nph_usage_plan *p = calloc(1, sizeof(*p));
    if (!p || !(p->fixed = malloc((n ? n : 1) * sizeof(*p->fixed))) ||
        !(p->ord = malloc((n ? n : 1) * sizeof(*p->ord))))
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (known_type(evs[i].resource_type)) {
            p->fixed[p->m] = evs[i];
            if (!p->fixed[p->m].ts)
                p->fixed[p->m].ts = now;
            p->ord[p->m] = &p->fixed[p->m];
            p->m++;
        }
    if (p->m == 0)
        return p;
    qsort(p->ord, p->m, sizeof(*p->ord), by_resource);
    if (!(p->res = malloc(p->m * sizeof(*p->res))))
        goto nomem;
    for (size_t i = 0; i < p->m; i++)
        if (p->nres == 0 || strcmp(p->res[p->nres - 1], p->ord[i]->resource_id))
            p->res[p->nres++] = p->ord[i]->resource_id;
    if (!(p->arr = text_array(p->res, p->nres)))
        goto nomem;
    return p;
nomem:
    nph_ledger_usage_plan_free(p);
    return NULL;
}

int nph_ledger_usage_update(struct nph_db *db, const struct nph_ledger_event *evs, size_t n,
                            int64_t now, struct nph_error *err)
{
    struct nph_usage_plan *p;
    int rc;
    if (nph_db_engine(db) != NPH_STORE_POSTGRES)
        return 0;
    if (!(p = nph_ledger_usage_plan(evs, n, now)))
        return nph_error_nomem(err);
    rc = nph_ledger_usage_apply(db, p, err);
    nph_ledger_usage_plan_free(p);
    return rc;
}

int nph_ledger_usage_apply(struct nph_db *db, const struct nph_usage_plan *p, struct nph_error *err)
{
    const struct nph_ledger_event *const *ord = p->ord, **hist_ord = NULL;
    const char *const *res = p->res;
    const char *arr = p->arr;
    size_t m = p->m, nres = p->nres;
    struct seg *open = NULL, *last = NULL;
    char *found = NULL, *redo = NULL, *redo_arr = NULL;
    struct nph_ledger_event *hist = NULL;
    size_t nredo = 0, nhist = 0;
    struct strpool pool = {0};
    struct sink b = {0};
    struct rollup roll = {0};
    int rc = -1;

    if (nph_db_engine(db) != NPH_STORE_POSTGRES || m == 0)
        return 0;
    if (!(open = calloc(nres, sizeof(*open))) || !(last = calloc(nres, sizeof(*last))) ||
        !(found = calloc(nres, 1)) || !(redo = calloc(nres, 1)))
        goto nomem;
    if (take_open(db, res, nres, arr, open, found, &pool, err))
        goto cleanup;
    /* A resource with an event before its open segment is re-derived from all its events. */
    for (size_t i = 0, r = 0; i < m; r++) {
        size_t j = i;
        while (j < m && !strcmp(ord[j]->resource_id, res[r]))
            j++;
        if (found[r] && ord[i]->ts < open[r].s_ts) {
            redo[r] = 1;
            nredo++;
        }
        i = j;
    }
    if (nredo) {
        const char **rr = malloc(nredo * sizeof(*rr));
        size_t k = 0;
        if (!rr)
            goto nomem;
        for (size_t r = 0; r < nres; r++)
            if (redo[r])
                rr[k++] = res[r];
        redo_arr = text_array(rr, nredo);
        free(rr);
        if (!redo_arr)
            goto nomem;
        if (delete_closed(db, redo_arr, &roll, &pool, err) ||
            read_history(db, redo_arr, &hist, &nhist, &pool, err))
            goto cleanup;
        if (nhist && !(hist_ord = malloc(nhist * sizeof(*hist_ord))))
            goto nomem;
        for (size_t i = 0; i < nhist; i++)
            hist_ord[i] = &hist[i];
    }
    if (sink_begin(&b, db, nredo ? SMALL_BATCH + 1 : m, "usage_interval", interval_cols, 10,
                   interval_insert, err))
        goto cleanup;
    b.roll = &roll;
    for (size_t i = 0, r = 0, h = 0; i < m; r++) {
        size_t j = i;
        while (j < m && !strcmp(ord[j]->resource_id, res[r]))
            j++;
        if (redo[r]) {
            size_t k;
            while (h < nhist && strcmp(hist[h].resource_id, res[r]) < 0)
                h++;
            k = h;
            while (k < nhist && !strcmp(hist[k].resource_id, res[r]))
                k++;
            if (derive(&b, NULL, hist_ord + h, k - h, &last[r], err))
                goto cleanup;
            last[r].resource = res[r];
            h = k;
        } else if (derive(&b, found[r] ? &open[r] : NULL, ord + i, j - i, &last[r], err)) {
            goto cleanup;
        }
        i = j;
    }
    if ((rc = sink_end(&b, 0, err)) != 0 || (rc = rollup_flush(db, &roll, err)) != 0)
        goto cleanup;
    rc = -1;
    if (sink_begin(&b, db, nres, "usage_open", open_cols, 11, open_insert, err))
        goto cleanup;
    for (size_t r = 0; r < nres; r++) {
        const struct seg *s = &last[r];
        struct nph_bulk_val v[11] = {
            {NPH_BULK_TEXT, 0, s->resource},
            {NPH_BULK_TEXT, 0, s->rtype},
            {NPH_BULK_TEXT, 0, s->project},
            {NPH_BULK_TEXT, 0, s->cloud},
            {NPH_BULK_TEXT, 0, s->region},
            {NPH_BULK_TEXT, 0, s->offering},
            {NPH_BULK_INT64, s->size_gb, NULL},
            {NPH_BULK_INT64, s->state, NULL},
            {NPH_BULK_INT64, floor_s(s->s_ts), NULL},
            {NPH_BULK_INT64, s->s_ts, NULL},
            {NPH_BULK_INT64, s->base, NULL},
        };
        if (sink_row(&b, v, 11, err))
            goto cleanup;
    }
    rc = sink_end(&b, 0, err);
    goto cleanup;
nomem:
    nph_error_nomem(err);
cleanup:
    sink_end(&b, 1, NULL);
    free(open);
    free(last);
    free(found);
    free(redo);
    free(redo_arr);
    free(hist);
    free(hist_ord);
    rollup_free(&roll);
    pool_free(&pool);
    return rc;
}
