/*
 * pol_candidates.h - what placement chooses from: clouds, their regions and offerings with
 * prices, the size catalog and dated exchange rates, plus the live state the broker adds per
 * decision (health, capacity and quota left, the project's servers per region, its spend).
 *
 * A candidate is a (cloud, region, offering) triple: every offering is offered in the regions
 * it lists, or in every region of its cloud. The set is built from the configuration's document
 * sections (pol_cands_from_config) and/or through the add functions, then read by pol_place.
 * The structs are public for reading; change them through the functions below.
 *
 * Money is int64 micro-units. Prices are converted to the set's currency with the exchange
 * rate of the latest date on or before the decision date, used in either direction (a USD->EUR
 * rate also converts EUR to USD, by division), rounded half-even to the micro-unit.
 */
#ifndef POL_CANDIDATES_H
#define POL_CANDIDATES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

#define POL_UNLIMITED (-1)

enum pol_health { POL_HEALTH_UP = 0, POL_HEALTH_DEGRADED, POL_HEALTH_DOWN };

struct pol_price {
    int64_t per_hour; /* micro-units of currency */
    char currency[8];
    int64_t from, until; /* valid in [from, until), UTC seconds; INT64_MIN/INT64_MAX = open */
};

struct pol_cloud {
    char *name, *kind;
    json_t *labels; /* object of scalars; owned reference */
    enum pol_health health;
    char *health_reason;
    int64_t quota_vcpus, quota_ram_mb, quota_instances; /* left for the project; POL_UNLIMITED */
    uint32_t *regions, *offerings;                      /* indices, in order of addition */
    size_t nregions, noffers, capr, capo;
};

struct pol_region {
    char *name;
    uint32_t cloud;
    json_t *labels;
    enum pol_health health;
    char *health_reason;
    int64_t cap_vcpus, cap_ram_mb; /* free capacity; POL_UNLIMITED */
    int64_t servers;               /* the requesting project's servers here (spread) */
};

struct pol_offering {
    char *name;
    uint32_t cloud;
    int64_t vcpus, ram_mb, disk_gb, gpus;
    json_t *labels;
    struct pol_price *prices; /* none = free of charge */
    size_t nprices;
    uint32_t *regions; /* NULL = every region of the cloud */
    size_t nregions;
};

struct pol_size {
    char *name;
    int64_t vcpus, ram_mb, disk_gb, gpus;
};

struct pol_rate {
    char from[8], to[8];
    int64_t rate; /* units of `to` per unit of `from`, micro-units */
    int64_t date; /* valid from this UTC midnight on */
};

struct pol_spend {
    char *project;
    int64_t micros; /* spent so far this month, in the set's currency */
};

struct pol_cands {
    char currency[8];
    struct pol_cloud *clouds;
    struct pol_region *regions;
    struct pol_offering *offerings;
    struct pol_size *sizes;
    struct pol_rate *rates;
    struct pol_spend *spends;
    size_t nclouds, nregions, noffers, nsizes, nrates, nspends;
    size_t capc, capr, capo, caps, capx, capsp;
};

/* A new, empty set comparing costs in `currency` (NULL = "EUR"). NULL on nomem. */
struct pol_cands *pol_cands_new(const char *currency, struct nph_error *err);
void pol_cands_free(struct pol_cands *c);

/* Build a set from the configuration's document sections (cfg->sections: clouds, currency,
 * sizes, exchange_rates). `lines` (pol_yaml_lines of the config file, may be NULL) and `name`
 * (the file) locate errors: "config.yaml:14: clouds[1].offerings[0]: 'vcpus' must be ...".
 * Keys of a cloud entry other than name, kind, labels, regions and offerings belong to the
 * federation and are ignored here; regions, offerings, sizes and rates are checked strictly. */
struct pol_cands *pol_cands_from_config(const json_t *sections, const json_t *lines,
                                        const char *name, struct nph_error *err);

/* Adding. Each returns the new index, or -1 with err (duplicate name, nomem). labels may be
 * NULL; a reference is taken. pol_cands_add_offering on an existing name of that cloud updates
 * its sizes and keeps its prices, labels and regions (a live cloud's offering list merged over
 * the configured entries) and returns its index. */
int64_t pol_cands_add_cloud(struct pol_cands *c, const char *name, const char *kind, json_t *labels,
                            struct nph_error *err);
int64_t pol_cands_add_region(struct pol_cands *c, uint32_t cloud, const char *name, json_t *labels,
                             struct nph_error *err);
int64_t pol_cands_add_offering(struct pol_cands *c, uint32_t cloud, const char *name, int64_t vcpus,
                               int64_t ram_mb, int64_t disk_gb, int64_t gpus, json_t *labels,
                               struct nph_error *err);
/* A price of an offering; from/until INT64_MIN/INT64_MAX for open ends. */
int pol_cands_add_price(struct pol_cands *c, uint32_t offering, int64_t per_hour,
                        const char *currency, int64_t from, int64_t until, struct nph_error *err);
/* Restrict an offering to some regions of its cloud (indices into c->regions). */
int pol_cands_set_offering_regions(struct pol_cands *c, uint32_t offering, const uint32_t *regions,
                                   size_t n, struct nph_error *err);
int pol_cands_add_size(struct pol_cands *c, const char *name, int64_t vcpus, int64_t ram_mb,
                       int64_t disk_gb, int64_t gpus, struct nph_error *err);
int pol_cands_add_rate(struct pol_cands *c, const char *from, const char *to, int64_t rate,
                       int64_t date, struct nph_error *err);

/* Finding by name: the index or -1. */
int64_t pol_cands_find_cloud(const struct pol_cands *c, const char *name);
int64_t pol_cands_find_region(const struct pol_cands *c, uint32_t cloud, const char *name);
int64_t pol_cands_find_offering(const struct pol_cands *c, uint32_t cloud, const char *name);
const struct pol_size *pol_cands_find_size(const struct pol_cands *c, const char *name);

/* Live state. reason is copied (may be NULL). -1 only on nomem. */
int pol_cands_set_cloud_health(struct pol_cands *c, uint32_t cloud, enum pol_health h,
                               const char *reason, struct nph_error *err);
int pol_cands_set_region_health(struct pol_cands *c, uint32_t region, enum pol_health h,
                                const char *reason, struct nph_error *err);
/* Free capacity of a region (POL_UNLIMITED = no limit). */
void pol_cands_set_capacity(struct pol_cands *c, uint32_t region, int64_t vcpus, int64_t ram_mb);
/* The project's quota left on a cloud (POL_UNLIMITED each). */
void pol_cands_set_quota(struct pol_cands *c, uint32_t cloud, int64_t vcpus, int64_t ram_mb,
                         int64_t instances);
/* The project's servers already in a region (spread). */
void pol_cands_set_servers(struct pol_cands *c, uint32_t region, int64_t count);
/* A project's spend so far this calendar month, in the set's currency (budgets). */
int pol_cands_set_spend(struct pol_cands *c, const char *project, int64_t micros,
                        struct nph_error *err);
int64_t pol_cands_spend(const struct pol_cands *c, const char *project);

/* Convert amount from one currency to another at time t. Returns 0 with *out, -1 when no rate
 * is dated on or before t, -2 on overflow. */
int pol_cands_convert(const struct pol_cands *c, int64_t amount, const char *from, const char *to,
                      int64_t t, int64_t *out);
/* The hourly price of an offering at time t in the set's currency. Returns 0 with *out, -1
 * when no price is valid at t, -2 when no exchange rate converts it (*cur gets the currency),
 * -3 on overflow. */
int pol_cands_price_at(const struct pol_cands *c, uint32_t offering, int64_t t, int64_t *out,
                       const char **cur);

/* round_half_even(a * b / d) without intermediate overflow; -1 when the result overflows. */
int pol_muldiv(int64_t a, int64_t b, int64_t d, int64_t *out);

#endif
