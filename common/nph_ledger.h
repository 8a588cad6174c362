/*
 * nph_ledger.h - the ledger: append-only lifecycle events of every billable resource on every
 * cloud (created, resized, stopped, started, deleted), the input of usage and billing
 * (DESIGN.md section 6).
 *
 * An event is appended with the caller's connection, inside the caller's transaction, so that
 * it commits or rolls back together with the state change it records: the ledger never says a
 * server was stopped when the stop did not commit, and never misses one that did.
 */
#ifndef NPH_LEDGER_H
#define NPH_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

enum nph_ledger_kind {
    NPH_LEDGER_CREATED,
    NPH_LEDGER_RESIZED,
    NPH_LEDGER_STOPPED,
    NPH_LEDGER_STARTED,
    NPH_LEDGER_DELETED,
};

/* One event. Strings are borrowed for the call. size_gb < 0 is stored as NULL (servers). */
struct nph_ledger_event {
    int64_t ts;                /* UTC microseconds; 0 = nph_clock_now() */
    enum nph_ledger_kind kind; /* stored as "created", "resized", ... */
    const char *resource_id;
    const char *resource_type; /* "server", "volume", "bucket" */
    const char *project_id;
    const char *cloud;    /* "local" for the native cloud */
    const char *region;   /* may be NULL */
    const char *offering; /* flavor name for servers; may be NULL */
    int64_t size_gb;      /* volumes and buckets; < 0 = NULL */
};

/* "created", "resized", ... ("unknown" for an out-of-range kind). */
const char *nph_ledger_kind_name(enum nph_ledger_kind kind);

/* Apply the "ledger" component's migrations (table ledger_event). */
int nph_ledger_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Append ev with db (inside the caller's transaction if one is open). resource_id,
 * resource_type, project_id and cloud are required (NPH_E_INVALID otherwise). Returns 0, or -1
 * with the store's error. On PostgreSQL the event id is a new time-ordered UUID (ids written
 * later sort later); SQLite keeps no id, its rowid is the write order. */
int nph_ledger_append(struct nph_db *db, const struct nph_ledger_event *ev, struct nph_error *err);

/* Append n events at once (ingestion, `nephele usage import`): every event is checked first
 * (on a bad one nothing is written and *failed, when not NULL, receives its index), then they
 * are loaded in one bulk load (COPY on PostgreSQL, one reused INSERT on SQLite). Inside the
 * caller's transaction if one is open, else in a transaction of their own: all or nothing.
 * Returns 0, or -1 with err. */
int nph_ledger_append_many(struct nph_db *db, const struct nph_ledger_event *evs, size_t n,
                           size_t *failed, struct nph_error *err);

/* "created" ... -> kind: 0, or -1 for an unknown name. */
int nph_ledger_kind_parse(const char *name, enum nph_ledger_kind *out);

/* Called once per event by nph_ledger_scan, with strings borrowed for the call; a non-zero
 * return stops the scan and is returned by it (set err when returning -1). */
typedef int (*nph_ledger_visit_fn)(void *ctx, const struct nph_ledger_event *ev,
                                   struct nph_error *err);

/* Visit the events with from <= ts < to (UTC microseconds), ordered by ts then the order they
 * were written in (the id on PostgreSQL, the rowid on SQLite); when
 * project_id is not NULL, only that project's. Returns 0, the visitor's non-zero return, or -1
 * with the store's error. Events with an unknown kind name are skipped. */
int nph_ledger_scan(struct nph_db *db, int64_t from, int64_t to, const char *project_id,
                    nph_ledger_visit_fn fn, void *ctx, struct nph_error *err);

/* ---- usage intervals (PostgreSQL; nph_ledger_usage.c) ---------------------------------------
 *
 * On PostgreSQL every append also maintains the usage intervals the reports aggregate: table
 * usage_interval holds the closed segments of every resource (from one event to the next, in
 * ts then write order), usage_open the last, still open, segment of each resource. Both are
 * derived data, written in the same transaction as the events; SQLite reports rate the events
 * in memory and keeps neither. usage_day rolls the closed segments up per atom (project, cloud,
 * region, offering, type), state and UTC day: the seconds (GB-seconds) of the day as they are
 * and rounded up to whole hours, and the number of pieces of each; reports read it for whole
 * days that no price boundary splits (docs/billing.md, "The daily roll-up"). A segment's
 * state: */
enum nph_usage_state {
    NPH_USAGE_NONE = 0,    /* not billed (deleted) */
    NPH_USAGE_BILLED = 1,  /* running server, or a volume or bucket that exists */
    NPH_USAGE_STOPPED = 2, /* stopped server: billed only on clouds with bill_stopped */
};

/* Update the intervals for evs[0..n), already appended on db in the open transaction (events
 * with ts 0 were stamped `now`). A no-op on SQLite. Returns 0 or -1 with err. */
int nph_ledger_usage_update(struct nph_db *db, const struct nph_ledger_event *evs, size_t n,
                            int64_t now, struct nph_error *err);
/* The same in two steps, for a caller whose events' COPY is still being processed by the
 * server: nph_ledger_usage_plan (no I/O: the batch filtered and sorted in memory; NULL when
 * out of memory) before the COPY ends, nph_ledger_usage_apply after it, then free. */
struct nph_usage_plan;
struct nph_usage_plan *nph_ledger_usage_plan(const struct nph_ledger_event *evs, size_t n,
                                             int64_t now);
int nph_ledger_usage_apply(struct nph_db *db, const struct nph_usage_plan *p,
                           struct nph_error *err);
void nph_ledger_usage_plan_free(struct nph_usage_plan *p);

#endif
