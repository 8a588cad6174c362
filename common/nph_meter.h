/*
 * nph_meter.h - metering samples: measurements of a resource over time (a server's CPU time,
 * disk and network bytes as cumulative counters read from libvirt; a bucket's bytes stored),
 * kept raw for a while, then downsampled to hourly averages and maxima, and dropped after the
 * retention period (docs/billing.md, "Samples").
 *
 * Table meter_sample (migrations of the "meter" component): one row per sample, `period` 0 for
 * a raw sample, 3600 for an hourly row whose `value` is the average (rounded down) of the raw
 * samples of that hour, `max` their maximum and `count` how many there were.
 */
#ifndef NPH_METER_H
#define NPH_METER_H

#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

#define NPH_METER_HOUR 3600

/* One sample. Strings are borrowed for the call. */
struct nph_meter_sample {
    int64_t ts; /* UTC microseconds */
    const char *resource_id;
    const char *resource_type; /* "server", "volume", "bucket" */
    const char *project_id;
    const char *cloud; /* may be NULL */
    const char *meter; /* "cpu", "disk.read.bytes", ... */
    int64_t value;
    int64_t period; /* 0 raw, NPH_METER_HOUR downsampled */
    int64_t max;    /* = value for a raw sample */
    int64_t count;  /* 1 for a raw sample */
};

/* Apply the "meter" component's migrations. */
int nph_meter_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Append n samples in one bulk load (inside the caller's transaction if one is open, else in
 * one of their own). A sample without resource, type, project or meter, a negative value or a
 * period other than 0 or 3600 writes nothing; *failed (may be NULL) gets its index. */
int nph_meter_append_many(struct nph_db *db, const struct nph_meter_sample *s, size_t n,
                          size_t *failed, struct nph_error *err);

/* Downsample and expire, as of `now` (UTC microseconds): raw samples of every whole hour that
 * ended at or before now - raw_keep become one hourly row per resource, meter and hour (then
 * the raw ones are deleted); rows older than now - retention are deleted. One transaction.
 * *downsampled / *expired (may be NULL) receive the raw rows folded and the rows dropped. */
int nph_meter_compact(struct nph_db *db, int64_t now, int64_t raw_keep, int64_t retention,
                      int64_t *downsampled, int64_t *expired, struct nph_error *err);

typedef int (*nph_meter_visit_fn)(void *ctx, const struct nph_meter_sample *s,
                                  struct nph_error *err);

/* Visit samples with from <= ts < to in (resource, meter, ts) order; only resource_id's when
 * not NULL, only project_id's when not NULL, only `meter` when not NULL. Returns 0, the
 * visitor's non-zero return, or -1. */
int nph_meter_scan(struct nph_db *db, int64_t from, int64_t to, const char *resource_id,
                   const char *project_id, const char *meter, nph_meter_visit_fn fn, void *ctx,
                   struct nph_error *err);

#endif
