/*
 * pol_place.h - the placement engine: a request, a policy and a candidate set in, a decision
 * that explains every candidate out. Pure: the decision time is an argument.
 *
 * For one request:
 *   1. rules apply whose `when` is true (or absent); their weights add up (no applying `weigh`
 *      rule: cost 1, the others 0);
 *   2. candidates are every (cloud, region, offering) whose offering fits the request (vcpus,
 *      ram_mb, disk_gb and gpus each >= the request's);
 *   3. filters reject, in this order: the cloud or region is down; the region's free capacity or
 *      the cloud's quota is short; no price is valid at the decision time or no exchange rate
 *      converts it; an applying rule's `require` is false; a `deny` budget would be exceeded
 *      (spend so far + price x hours left in the calendar month > monthly amount);
 *   4. weighers score the survivors: cost (cheaper better), headroom (larger share of the free
 *      capacity left after placement better), spread (fewer of the project's servers in that
 *      region better), preference (sum of the bonuses of true `prefer` expressions). Each is
 *      normalised min-max to [0,1] over the survivors (all equal: 1); score = weighted sum;
 *   5. the best survivor wins: higher score, then lower price, then cloud, region and offering
 *      names ascending.
 */
#ifndef POL_PLACE_H
#define POL_PLACE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "pol_candidates.h"
#include "pol_expr.h"
#include "pol_policy.h"

/* A request. Strings and json are borrowed from the JSON it was parsed from. */
struct pol_request {
    const json_t *json; /* request.* paths read it */
    const char *kind;   /* default "server" */
    const char *project;
    const char *size; /* NULL when given as numbers */
    int64_t vcpus, ram_mb, disk_gb, gpus;
};

/* Parse a request object: kind, project, project_labels, labels, name, image, and size or
 * vcpus/ram_mb/disk_gb/gpus (a named size from c's catalog expands to its numbers; explicit
 * numbers beside a size override it). On error returns -1 with err and, if bad_key is not
 * NULL, the offending key (borrowed; NULL when the whole object is at fault). */
int pol_request_parse(struct pol_request *r, const json_t *j, const struct pol_cands *c,
                      const char **bad_key, struct nph_error *err);

enum pol_verdict { POL_VERDICT_CHOSEN = 0, POL_VERDICT_ELIGIBLE, POL_VERDICT_REJECTED };

/* Built-in reasons for a rejection. */
enum pol_reason {
    POL_REASON_NONE = 0,
    POL_REASON_CLOUD_DOWN,
    POL_REASON_REGION_DOWN,
    POL_REASON_CAPACITY,
    POL_REASON_QUOTA,
    POL_REASON_NO_PRICE,
    POL_REASON_NO_RATE,
    POL_REASON_RULE,  /* index = the rule */
    POL_REASON_BUDGET /* index = the budget */
};

struct pol_result {
    uint32_t cloud, region, offering; /* indices into the candidate set */
    uint8_t verdict;                  /* enum pol_verdict */
    uint8_t reason;                   /* enum pol_reason */
    uint16_t warn;                    /* 1 + index of a warn budget this exceeds, or 0 */
    uint32_t index;                   /* rule or budget of the reason */
    int64_t price;                    /* per hour in the set's currency (if priced) */
    double w[POL_W__COUNT];           /* normalised weigher values (survivors) */
    double score;
};

/* A decision and the engine's reusable scratch space. Init once, pass to pol_place any number
 * of times (each call replaces the previous decision and reuses the memory), fini once. It
 * borrows the policy, candidate set and request of the last call: keep them alive while
 * reading the decision. */
struct pol_decision {
    const struct pol_policy *policy;
    const struct pol_cands *cands;
    struct pol_request req;
    int64_t at;
    struct pol_result *c; /* candidates, by cloud, offering, region in set order */
    size_t n, cap;
    int64_t chosen; /* index into c, or -1 */
    size_t neligible;
    double weights[POL_W__COUNT];
    unsigned char *rule_on; /* per rule: applies to this request (in scratch) */
    int64_t *budget_limit;  /* per budget: monthly amount in the set's currency, or -1 n/a */
    /* scratch */
    struct pol_value *vec[POL_S__COUNT];
    size_t veccap[POL_S__COUNT];
    void *scratch;
    size_t scratch_cap;
};

void pol_decision_init(struct pol_decision *d);
void pol_decision_fini(struct pol_decision *d);

/* Place req against p and c at time `at` (UTC seconds). Returns 0 when a candidate was chosen
 * (d->chosen), 1 when none survives (d explains why), -1 on error (nomem; a budget whose
 * currency no exchange rate converts). */
int pol_place(struct pol_decision *d, const struct pol_policy *p, const struct pol_cands *c,
              const struct pol_request *req, int64_t at, struct nph_error *err);

/* The reason of a rejected candidate as a sentence; for a rule, *rule gets its name and
 * expr the false part of its `require` (both may be NULL). Returns buf. */
char *pol_result_reason(const struct pol_decision *d, size_t i, char *buf, size_t len,
                        const char **rule, char *expr, size_t exprlen);

/* Why nothing was placed: one clause per cloud ("cloud 'aws': rule 'gdpr' rejected 4
 * candidates; ..."). Returns buf. */
char *pol_decision_why(const struct pol_decision *d, char *buf, size_t len);

/* The candidates in presentation order (chosen, eligible by rank, rejected by names): a new
 * array of n indices into d->c (caller frees), or NULL on nomem. */
size_t *pol_decision_order(const struct pol_decision *d);

/* The decision as JSON: {"decision": {...} or null, "candidates": [...], "warnings": [...],
 * "weights": {...}, "request": {...}, "at": "...", "currency": "...", "error": "..."}. A new
 * reference, or NULL on nomem. */
json_t *pol_decision_to_json(const struct pol_decision *d);

/* Format micro-units as a decimal string with 2 to 6 fraction digits ("0.01", "1.006"). */
char *pol_decimal_format(int64_t micros, char *buf, size_t len);

#endif
