/*
 * placement_bench.c - the placement engine's figures: decisions per second over 100 candidates
 * and milliseconds per decision over 10,000 candidates (10 clouds x 10 regions x 100
 * offerings), each with a 20-rule policy and a deny budget, on the calling thread (one core).
 * A decision is pol_place(): every candidate judged, scored and recorded; rendering it as JSON
 * (only when it is shown or stored) is timed apart. Times are the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so other load on the machine does not count against the figures.
 *
 *   placement_bench [SECONDS_PER_FIGURE]      (default 2)
 *
 * Targets (issue 5): >= 50,000 decisions/s at 100 candidates; <= 2 ms/decision at 10,000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pol_money.h"
#include "pol_place.h"

static const char policy_yaml[] =
    "policies:\n"
    "  - name: gdpr-stays-in-eu\n"
    "    when: 'request.project_labels.gdpr == \"true\"'\n"
    "    require: 'region.labels.jurisdiction == \"EU\"'\n"
    "  - name: no-gpu-on-spot\n"
    "    require: '!(request.gpus > 0 && offering.labels.market == \"spot\")'\n"
    "  - name: default-objective\n"
    "    weigh: { cost: 1.0, headroom: 0.3, spread: 0.2, preference: 0.5 }\n"
    "  - name: price-cap\n"
    "    require: 'offering.price_per_hour < 5'\n"
    "  - name: known-tiers\n"
    "    require: 'cloud.labels.tier in [\"gold\", \"silver\", \"bronze\"]'\n"
    "  - name: no-quarantine\n"
    "    require: 'region.labels.zone != \"quarantine\"'\n"
    "  - name: general-purpose\n"
    "    prefer: { expr: 'offering.labels.family == \"general\"', bonus: 1 }\n"
    "  - name: no-ec2-in-cn\n"
    "    require: '!(cloud.kind == \"ec2\" && region.labels.jurisdiction == \"CN\")'\n"
    "  - name: vcpu-cap\n"
    "    require: 'offering.vcpus <= 64'\n"
    "  - name: prod-not-on-dev\n"
    "    when: 'request.labels.env == \"prod\"'\n"
    "    require: 'region.labels.tier != \"dev\"'\n"
    "  - name: export-control\n"
    "    require: '!(region.labels.jurisdiction == \"US\" && offering.labels.export == "
    "\"restricted\")'\n"
    "  - name: green\n"
    "    prefer: { expr: 'region.labels.green == true', bonus: 0.5 }\n"
    "  - name: enough-ram\n"
    "    require: 'offering.ram_mb >= request.ram_mb'\n"
    "  - name: not-blocked\n"
    "    require: 'cloud.name != \"blocked\"'\n"
    "  - name: acme-saves\n"
    "    when: 'request.project == \"acme\"'\n"
    "    weigh: { cost: 0.5 }\n"
    "  - name: markets\n"
    "    require: 'offering.labels.market in [\"spot\", \"on-demand\", \"reserved\"]'\n"
    "  - name: decommissioned\n"
    "    require: 'region.name != \"decommissioned-1\"'\n"
    "  - name: gold-first\n"
    "    prefer: { expr: 'cloud.labels.tier == \"gold\"', bonus: 2 }\n"
    "  - name: disk\n"
    "    require: 'offering.disk_gb >= request.disk_gb'\n"
    "  - name: region-lock\n"
    "    require: 'offering.labels.region_lock == null || offering.labels.region_lock == "
    "region.name'\n"
    "budgets:\n"
    "  - { project: acme, monthly: { amount: \"5000.00\", currency: EUR }, on_exceed: deny }\n";

static struct pol_cands *world(int nclouds, int nregions, int noffers)
{
    static const char *const tiers[] = {"gold", "silver", "bronze"};
    static const char *const jur[] = {"EU", "US", "KR", "EU", "UK"};
    static const char *const markets[] = {"on-demand", "spot", "reserved"};
    struct pol_cands *c = pol_cands_new("EUR", NULL);
    char name[64];
    pol_cands_add_rate(c, "USD", "EUR", 920000, 0, NULL);
    pol_cands_add_rate(c, "EUR", "GBP", 850000, 0, NULL);
    pol_cands_set_spend(c, "acme", 1200 * POL_MICRO, NULL);
    for (int i = 0; i < nclouds; i++) {
        json_t *cl = json_pack("{s:s}", "tier", tiers[i % 3]);
        snprintf(name, sizeof(name), "cloud-%02d", i);
        int64_t ci = pol_cands_add_cloud(c, name, i % 2 ? "ec2" : "openstack", cl, NULL);
        json_decref(cl);
        for (int r = 0; r < nregions; r++) {
            json_t *rl = json_pack("{s:s, s:s, s:b, s:s}", "jurisdiction", jur[(i + r) % 5], "zone",
                                   "z1", "green", r % 3 == 0, "tier", r % 4 ? "prod" : "dev");
            snprintf(name, sizeof(name), "region-%02d", r);
            int64_t ri = pol_cands_add_region(c, (uint32_t)ci, name, rl, NULL);
            json_decref(rl);
            pol_cands_set_capacity(c, (uint32_t)ri, 64 + 16 * r, 262144);
            pol_cands_set_servers(c, (uint32_t)ri, (i * 7 + r * 3) % 11);
        }
        for (int o = 0; o < noffers; o++) {
            json_t *ol =
                json_pack("{s:s, s:s, s:s}", "market", markets[o % 3], "family",
                          o % 4 ? "general" : "compute", "export", o % 9 ? "free" : "restricted");
            snprintf(name, sizeof(name), "flavor-%03d", o);
            int64_t oi =
                pol_cands_add_offering(c, (uint32_t)ci, name, 1 + o % 32, 2048 * (1 + o % 16),
                                       20 + o % 5 * 20, o % 10 == 9, ol, NULL);
            json_decref(ol);
            int64_t price = 10000 + (int64_t)((o * 7919 + i * 104729) % 200000);
            pol_cands_add_price(c, (uint32_t)oi, price, i % 3 == 1 ? "USD" : "EUR", INT64_MIN,
                                INT64_MAX, NULL);
        }
    }
    return c;
}

/* CPU time of this thread: the figure is per core even on a loaded machine. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run decisions for `secs` seconds; returns decisions per second. */
static double run(const struct pol_policy *p, const struct pol_cands *c,
                  const struct pol_request *req, double secs, size_t *ncand, int64_t *chosen,
                  double *json_ms)
{
    struct pol_decision d;
    struct nph_error err = NPH_ERROR_INIT;
    long n = 0;
    pol_decision_init(&d);
    if (pol_place(&d, p, c, req, 1794744000, &err) < 0) {
        fprintf(stderr, "placement_bench: %s\n", err.msg);
        exit(1);
    }
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 16; k++)
            pol_place(&d, p, c, req, 1794744000 + n++, &err);
        t = now_s();
    } while (t - t0 < secs);
    *ncand = d.n;
    *chosen = d.chosen;
    double j0 = now_s();
    json_t *j = pol_decision_to_json(&d);
    *json_ms = (now_s() - j0) * 1e3;
    json_decref(j);
    pol_decision_fini(&d);
    return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_policy *p =
        pol_policy_load("bench-policy.yaml", policy_yaml, sizeof(policy_yaml) - 1, &err);
    json_t *rj = json_pack("{s:s, s:{s:s}, s:{s:s}, s:i, s:i, s:i}", "project", "acme",
                           "project_labels", "gdpr", "false", "labels", "env", "prod", "vcpus", 2,
                           "ram_mb", 4096, "disk_gb", 20);
    struct pol_request req;
    size_t n;
    int64_t chosen;
    double jms;
    if (!p || secs <= 0) {
        fprintf(stderr, "placement_bench: %s\n", p ? "bad duration" : err.msg);
        return 1;
    }
    printf("policy: %zu rules, %zu budget(s)\n", p->nrules, p->nbudgets);

    struct pol_cands *small = world(2, 5, 10);
    if (pol_request_parse(&req, rj, small, NULL, &err) < 0) {
        fprintf(stderr, "placement_bench: %s\n", err.msg);
        return 1;
    }
    double r100 = run(p, small, &req, secs, &n, &chosen, &jms);
    printf("100 candidates (2 clouds x 5 regions x 10 offerings; %zu fit): %.0f decisions/s "
           "(target >= 50000: %.1fx); JSON of one decision %.3f ms\n",
           n, r100, r100 / 50000.0, jms);

    struct pol_cands *big = world(10, 10, 100);
    double r10k = run(p, big, &req, secs, &n, &chosen, &jms);
    double ms = 1e3 / r10k;
    printf("10000 candidates (10 clouds x 10 regions x 100 offerings; %zu fit): %.3f ms/decision "
           "(target <= 2 ms: %.1fx headroom); JSON of one decision %.1f ms\n",
           n, ms, 2.0 / ms, jms);
    pol_cands_free(small);
    pol_cands_free(big);
    pol_policy_free(p);
    json_decref(rj);
    return chosen < 0;
}
