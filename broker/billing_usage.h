/*
 * billing_usage.h - server usage as Nova's os-simple-tenant-usage counts it, derived from the
 * ledger: what Nephele's own Nova-compatible API answers for its native cloud, and Nephele's
 * side of the cross-check with a remote OpenStack cloud (billing_crosscheck.c).
 *
 * Nova's rule, followed here: a server counts from its creation (launched_at) to its deletion
 * (terminated_at), stopped or not, and one still running counts up to the end of the period,
 * even a period that ends in the future; hours are that span inside [start, end) over 3600.
 * A server created at or after `end`, or deleted at or before `start`, is not listed. Nova
 * multiplies each server's hours by its current flavor; the ledger knows better, so the
 * vCPU-, MB- and GB-hours sum each interval at the flavor it ran with (a resize in the period
 * splits them), while `vcpus`, `memory_mb` and `local_gb` show the flavor at the end.
 *
 * Pure: no I/O. Flavor sizes come from a callback.
 */
#ifndef NPH_BILLING_USAGE_H
#define NPH_BILLING_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "pol_rate.h"

struct tu_flavor {
    unsigned vcpus;
    uint64_t ram_mb, disk_gb; /* disk_gb: root + ephemeral, Nova's local_gb */
};

/* The size of the offering `name` on the cloud: 0 with *out, -1 when unknown (the server then
 * counts hours with zero vCPUs, RAM and disk). */
typedef int (*tu_flavor_fn)(void *ctx, const char *name, struct tu_flavor *out);

struct tu_server {
    char *resource, *project, *offering; /* offering at the end of the period (or deletion) */
    int64_t started, ended;              /* UTC seconds; ended 0 = not deleted */
    int stopped;                         /* last state event before `end` was a stop */
    int64_t seconds;                     /* inside the period */
    struct tu_flavor flavor;             /* of `offering` */
    /* sums over the intervals inside the period, in unit-seconds */
    int64_t vcpu_s, mb_s, gb_s;
};

struct tu_report {
    struct tu_server *v; /* sorted by started, then resource (Nova's pages follow it) */
    size_t n;
};

/* Servers of `cloud` (every cloud when NULL) and of `project` (every project when NULL) in
 * [from, to). ev is not modified. Returns 0 with *out, or -1 with
 * err (NPH_E_NOMEM). */
int tu_compute(const struct pol_uevents *ev, const char *cloud, const char *project, int64_t from,
               int64_t to, tu_flavor_fn flavor, void *ctx, struct tu_report *out,
               struct nph_error *err);
void tu_report_fini(struct tu_report *r);

/* seconds / 3600 as Nova's float hours. */
double tu_hours(int64_t seconds);

#endif
