/*
 * pol_rate.h - rating: usage intervals derived from ledger events, priced with each cloud's
 * catalog (the prices valid at the time of use), converted to the report currency with the
 * dated exchange-rate table, and summed into report lines (docs/billing.md).
 *
 * Pure: no I/O, no clock. Callers load the events (a JSON-lines file, the ledger table) and
 * say until when still-open intervals run.
 *
 * Model, in short:
 *   - per resource, events ordered by time give intervals: created/started/resized open one,
 *     stopped/resized/deleted close it; a stopped server is billed only when its cloud says
 *     bill_stopped; volumes and buckets are billed from created to deleted (stop/start do not
 *     apply); an interval still open at the end of the events runs to `open_end`;
 *   - a cloud with granularity hour rounds each interval up to whole hours (from its start);
 *   - an interval is cut at price validity boundaries, at UTC midnights (exchange rates are
 *     per usage day) and at the report's [from, to);
 *   - each piece costs price x duration (servers per hour, volumes and buckets per GB-month of
 *     730 hours), half-even to the micro-unit in the price's currency, then converted with the
 *     latest rate dated on or before the usage day, half-even to the micro-unit;
 *   - a report line sums its pieces and is rounded once, half-even, to the report currency's
 *     minor unit; the total is the sum of the rounded lines.
 * Money is int64 micro-units throughout.
 */
#ifndef POL_RATE_H
#define POL_RATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "pol_candidates.h"

#define POL_GB_MONTH_HOURS 730
#define POL_DAY            86400

enum pol_uev_kind {
    POL_UEV_CREATED,
    POL_UEV_RESIZED,
    POL_UEV_STOPPED,
    POL_UEV_STARTED,
    POL_UEV_DELETED,
};

enum pol_rtype { POL_RT_SERVER, POL_RT_VOLUME, POL_RT_BUCKET };

/* One ledger event. Strings are owned by the event list that holds it. */
struct pol_uevent {
    int64_t ts; /* UTC seconds */
    enum pol_uev_kind kind;
    enum pol_rtype type;
    char *resource, *project, *cloud;
    char *region;    /* may be NULL */
    char *offering;  /* may be NULL (volumes, buckets) */
    int64_t size_gb; /* volumes and buckets; -1 = none */
    size_t line;     /* 1-based line in the file it came from, or 0 */
};

/* One metering sample line: {"ts", "event": "sample", "resource", "type", "project",
 * "cloud", "meter", "value"} plus, for a downsampled row, "period" (3600), "max" and "count".
 * Strings are owned by the list that holds it. */
struct pol_usample {
    int64_t ts; /* UTC seconds */
    enum pol_rtype type;
    char *resource, *project, *cloud; /* cloud may be NULL */
    char *meter;
    int64_t value, period, max, count;
    size_t line;
};

struct pol_usamples {
    struct pol_usample *v;
    size_t n, cap;
};

struct pol_uevents {
    struct pol_uevent *v;
    size_t n, cap;
    /* When set, pol_uevents_parse collects sample lines here; when NULL it refuses them. */
    struct pol_usamples *samples;
};

void pol_usamples_fini(struct pol_usamples *l);
/* Validate a sample line (event "sample") into *s with borrowed strings. 0, or -1 with err. */
int pol_usample_from_json(const json_t *obj, struct pol_usample *s, struct nph_error *err);
/* The JSON-lines object of a sample (a new reference, keys in the documented order; "period",
 * "max" and "count" only for a downsampled row), NULL on nomem. */
json_t *pol_usample_to_json(const struct pol_usample *s);

/* "created", ... / "server", ...; NULL for an out-of-range value. */
const char *pol_uev_kind_name(enum pol_uev_kind k);
const char *pol_rtype_name(enum pol_rtype t);
/* Name to value: 0 with *out, -1 when unknown. */
int pol_uev_kind_parse(const char *s, enum pol_uev_kind *out);
int pol_rtype_parse(const char *s, enum pol_rtype *out);

void pol_uevents_init(struct pol_uevents *l);
void pol_uevents_fini(struct pol_uevents *l);
/* Append a copy of ev (its strings are duplicated). -1 with err on nomem or when a required
 * field (resource, project, cloud) is missing. */
int pol_uevents_add(struct pol_uevents *l, const struct pol_uevent *ev, struct nph_error *err);

/* Validate one JSON-lines object (docs/billing.md) into *ev with borrowed strings (valid while
 * obj lives). Returns 0; 1 for a sample line ({"event":"sample"}, not rated yet: callers refuse
 * it); -1 with err naming the key. */
int pol_uevent_from_json(const json_t *obj, struct pol_uevent *ev, struct nph_error *err);
/* The JSON-lines object of ev (a new reference, keys in the documented order), NULL on nomem. */
json_t *pol_uevent_to_json(const struct pol_uevent *ev);
/* Parse a whole JSON-lines buffer into l (appended). Blank lines are skipped. On any error
 * nothing is appended and err reads "NAME:LINE: what is wrong". */
int pol_uevents_parse(struct pol_uevents *l, const char *name, const char *buf, size_t len,
                      struct nph_error *err);

/* ---- the price catalog ------------------------------------------------------------------- */

enum pol_meter {
    POL_M_VOLUME_GB_MONTH,
    POL_M_OBJECT_GB_MONTH,
    POL_M_OBJECT_1K_REQ,
    POL_M_EGRESS_GB,
    POL_M__COUNT
};

struct pol_mprice {
    int64_t amount; /* micro-units per unit of the meter */
    char currency[8];
    int64_t from, until; /* [from, until), INT64_MIN/INT64_MAX open */
};

struct pol_bill_cloud {
    char *name;
    int hourly;       /* granularity: hour */
    int bill_stopped; /* stopped servers are billed at their offering's price */
    struct pol_mprice *prices[POL_M__COUNT];
    size_t nprices[POL_M__COUNT];
};

/* The offerings' prices and exchange rates (pol_cands, the placement reader) plus each cloud's
 * `billing` and `prices` keys. */
struct pol_catalog {
    struct pol_cands *cands;
    struct pol_bill_cloud *clouds; /* parallel to cands->clouds */
    size_t nclouds;
};

/* Build from the configuration's sections; lines/name locate errors like pol_cands does
 * ("config.yaml:7: clouds[0].billing: 'granularity' must be second or hour"). */
struct pol_catalog *pol_catalog_from_config(const json_t *sections, const json_t *lines,
                                            const char *name, struct nph_error *err);
void pol_catalog_free(struct pol_catalog *c);

/* ---- rating ------------------------------------------------------------------------------- */

enum pol_group {
    POL_G_PROJECT = 1,
    POL_G_CLOUD = 2,
    POL_G_REGION = 4,
    POL_G_RESOURCE_TYPE = 8, /* always on: a line never mixes units */
    POL_G_OFFERING = 16,
};

/* Parse "project,cloud,..." into a mask (resource_type always included). -1 with err naming
 * the unknown field. */
int pol_group_parse(const char *s, unsigned *mask, struct nph_error *err);

/* Minor-unit digits of a currency: 0 for JPY, KRW (and other zero-decimal ones), 3 for BHD,
 * JOD, KWD, OMR, TND, else 2. */
int pol_currency_digits(const char *currency);

struct pol_bill_query {
    int64_t from, to;     /* UTC seconds, the report's [from, to) */
    int64_t open_end;     /* open intervals end here (usually `to`, or now if earlier) */
    const char *currency; /* report currency; NULL = the configuration's */
    unsigned group_by;    /* POL_G_* */
};

struct pol_bill_line {
    char *project, *cloud, *region, *offering; /* NULL when not grouped by (or none) */
    enum pol_rtype type;
    int64_t usage;  /* seconds (servers) or GB-seconds (volumes, buckets), exact */
    int64_t raw;    /* micro-units of the report currency, before rounding */
    int64_t amount; /* raw rounded half-even to the currency's minor unit */
};

/* A cost cell of the HTML charts: key (cloud or project) x resource type. */
struct pol_bill_cell {
    char *key;
    enum pol_rtype type;
    int64_t raw;
};

struct pol_bill {
    char currency[8];
    int digits;
    int64_t from, to;
    int64_t total; /* sum of the lines' rounded amounts */
    unsigned group_by;
    struct pol_bill_line *lines; /* sorted by the grouped fields */
    size_t nlines;
    int64_t *daily; /* raw micro-units per UTC day from the day of `from` */
    size_t ndays;
    struct pol_bill_cell *by_cloud, *by_project;
    size_t nby_cloud, nby_project;
};

/* Rate the events (sorted in place by resource, time, then order of addition) for the query.
 * Events at or after q->to are ignored; earlier ones matter (an interval that started before
 * the report is billed for its part inside). Fails with NPH_E_INVALID naming the resource when
 * its cloud or offering is not in the catalog, when no price is valid at a time it was used,
 * or when no exchange rate converts a price; *out is written only on success. */
int pol_bill_rate(const struct pol_catalog *cat, struct pol_uevents *ev,
                  const struct pol_bill_query *q, struct pol_bill **out, struct nph_error *err);
void pol_bill_free(struct pol_bill *b);

/* Usage aggregated outside the rating core (the SQL aggregation on PostgreSQL): the seconds
 * (servers) or GB-seconds (volumes, buckets) of one atom (project, cloud, region when grouped
 * by it, else NULL, offering for servers, type) inside one piece of the report's cut points
 * (pol_bill_cuts): the piece starts at `start`, where its price and usage day are taken. */
struct pol_usage_row {
    const char *project, *cloud, *region, *offering;
    enum pol_rtype type;
    int64_t start; /* a cut point, from <= start < to */
    int64_t units;
};

/* The cut points of q's [from, to), sorted, distinct, first `from`, last `to`: every UTC
 * midnight inside and every price validity boundary (offerings and meters, every cloud) inside.
 * Usage split at these points and summed per atom and piece is what pol_bill_rate_usage rates.
 * *cuts is malloc'd. */
int pol_bill_cuts(const struct pol_catalog *cat, const struct pol_bill_query *q, int64_t **cuts,
                  size_t *n, struct nph_error *err);

/* Rate aggregated usage rows for q: the same buckets, prices, conversion and rounding as
 * pol_bill_rate, so the bill is identical to rating the events themselves (q->open_end and
 * the interval rules were applied by whoever aggregated). Errors name the project and cloud,
 * not a resource (callers wanting the resource re-rate the events). */
int pol_bill_rate_usage(const struct pol_catalog *cat, const struct pol_usage_row *rows, size_t n,
                        const struct pol_bill_query *q, struct pol_bill **out,
                        struct nph_error *err);

/* Unit of a line: "hour" for servers, "GB-month" for volumes and buckets. */
const char *pol_bill_unit(enum pol_rtype t);
/* Quantity of a line in its unit, half-even to 6 decimals, trailing zeros trimmed ("12.5"). */
char *pol_bill_quantity(const struct pol_bill_line *l, char *buf, size_t len);

/* ---- renderings (pol_bill_report.c) ------------------------------------------------------- */

/* {"from","to","currency","total","lines":[{group fields, resource_type, quantity, unit,
 * amount}]}; a new reference or NULL on nomem. */
json_t *pol_bill_to_json(const struct pol_bill *b);
/* The same lines as CSV with a header row (RFC 4180 quoting); malloc'd or NULL on nomem. */
char *pol_bill_to_csv(const struct pol_bill *b);
/* One self-contained printable HTML page: totals, a bar chart per cloud and per project
 * stacked by resource type, the daily cost line, the lines table; inline SVG and CSS only.
 * malloc'd or NULL on nomem. */
char *pol_bill_to_html(const struct pol_bill *b);

#endif
