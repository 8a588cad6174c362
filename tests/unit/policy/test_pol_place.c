/*
 * test_pol_place.c - the engine end to end over small YAML worlds: policy loading and its
 * errors (file, line, rule, column), candidates from the configuration and their errors, dated
 * prices, exchange rates (dated, both directions), each weigher and normalisation, weights that
 * add up, tie-breaks, budgets (deny and warn), live state (health, capacity, quota, spread)
 * and every rejection reason, the no-placement explanation and the JSON decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_config.h"
#include "pol_money.h"
#include "pol_place.h"
#include "pol_time.h"
#include "pol_yaml.h"

/* 2026-11-15T12:00:00Z: 15.5 days (372 hours) before the end of November. */
#define AT 1794744000LL

static struct pol_cands *cands_yaml(const char *yaml, struct nph_error *err)
{
    json_t *doc = nph_yaml_to_json("config.yaml", yaml, strlen(yaml), err);
    json_t *lines = pol_yaml_lines(yaml, strlen(yaml));
    struct pol_cands *c = doc ? pol_cands_from_config(doc, lines, "config.yaml", err) : NULL;
    json_decref(doc);
    json_decref(lines);
    return c;
}

static struct pol_policy *policy_yaml(const char *yaml, struct nph_error *err)
{
    return pol_policy_load("policy.yaml", yaml, strlen(yaml), err);
}

struct run {
    struct pol_cands *c;
    struct pol_policy *p;
    json_t *rj;
    struct pol_request req;
    struct pol_decision d;
    int rc;
};

static void run_begin(struct run *r, const char *config, const char *policy)
{
    struct nph_error err = NPH_ERROR_INIT;
    memset(r, 0, sizeof(*r));
    pol_decision_init(&r->d);
    r->c = cands_yaml(config, &err);
    if (!r->c)
        fail_msg("config: %s", err.msg);
    r->p = policy_yaml(policy, &err);
    if (!r->p)
        fail_msg("policy: %s", err.msg);
}

static int run_place(struct run *r, const char *request, int64_t at)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_decref(r->rj);
    r->rj = json_loads(request, 0, NULL);
    assert_non_null(r->rj);
    if (pol_request_parse(&r->req, r->rj, r->c, NULL, &err) < 0)
        fail_msg("request: %s", err.msg);
    r->rc = pol_place(&r->d, r->p, r->c, &r->req, at, &err);
    if (r->rc < 0)
        fail_msg("place: %s", err.msg);
    return r->rc;
}

static void run_end(struct run *r)
{
    pol_decision_fini(&r->d);
    pol_policy_free(r->p);
    pol_cands_free(r->c);
    json_decref(r->rj);
}

/* "cloud/region/offering" of the choice, into a static buffer. */
static const char *chosen(const struct run *r)
{
    static char buf[256];
    if (r->d.chosen < 0)
        return "none";
    const struct pol_result *x = &r->d.c[r->d.chosen];
    snprintf(buf, sizeof(buf), "%s/%s/%s", r->c->clouds[x->cloud].name,
             r->c->regions[x->region].name, r->c->offerings[x->offering].name);
    return buf;
}

static const struct pol_result *find(const struct run *r, const char *cl, const char *rg,
                                     const char *of, size_t *at)
{
    for (size_t i = 0; i < r->d.n; i++) {
        const struct pol_result *x = &r->d.c[i];
        if (!strcmp(r->c->clouds[x->cloud].name, cl) &&
            !strcmp(r->c->regions[x->region].name, rg) &&
            !strcmp(r->c->offerings[x->offering].name, of)) {
            if (at)
                *at = i;
            return x;
        }
    }
    fail_msg("no candidate %s/%s/%s", cl, rg, of);
    return NULL;
}

static const char *reason(const struct run *r, const char *cl, const char *rg, const char *of)
{
    static char buf[1024];
    size_t i;
    find(r, cl, rg, of, &i);
    return pol_result_reason(&r->d, i, buf, sizeof(buf), NULL, NULL, 0);
}

static const char world[] =
    "currency: EUR\n"
    "clouds:\n"
    "  - name: home\n"
    "    kind: local\n"
    "    regions:\n"
    "      - { name: seoul-1, labels: { jurisdiction: KR }, capacity: { vcpus: 64, ram_mb: 262144 "
    "} }\n"
    "    offerings:\n"
    "      - { name: m1.small, vcpus: 1, ram_mb: 2048, disk_gb: 20, price: { per_hour: \"0.010\", "
    "currency: EUR } }\n"
    "  - name: aws\n"
    "    kind: ec2\n"
    "    regions:\n"
    "      - { name: eu-west-1, labels: { jurisdiction: EU } }\n"
    "      - { name: us-east-1, labels: { jurisdiction: US } }\n"
    "    offerings:\n"
    "      - { name: t3.small, vcpus: 2, ram_mb: 2048, disk_gb: 20, labels: { market: on-demand }, "
    "price: { per_hour: \"0.0208\", currency: USD } }\n"
    "      - { name: t3.spot, vcpus: 2, ram_mb: 2048, disk_gb: 20, labels: { market: spot }, "
    "price: { per_hour: \"0.0062\", currency: USD } }\n"
    "      - { name: g5.xlarge, vcpus: 4, ram_mb: 16384, gpus: 1, labels: { market: on-demand }, "
    "price: { per_hour: \"1.006\", currency: USD }, regions: [us-east-1] }\n"
    "      - { name: g5.spot, vcpus: 4, ram_mb: 16384, gpus: 1, labels: { market: spot }, price: { "
    "per_hour: \"0.30\", currency: USD }, regions: [us-east-1] }\n"
    "sizes:\n"
    "  - { name: small, vcpus: 1, ram_mb: 2048, disk_gb: 20 }\n"
    "  - { name: gpu, vcpus: 4, ram_mb: 16384, gpus: 1 }\n"
    "exchange_rates:\n"
    "  - { from: USD, to: EUR, rate: \"0.92\", date: \"2026-11-01\" }\n";

static const char design_policy[] =
    "policies:\n"
    "  - name: gdpr-stays-in-eu\n"
    "    when: 'request.project_labels.gdpr == \"true\"'\n"
    "    require: 'region.labels.jurisdiction == \"EU\"'\n"
    "  - name: no-gpu-on-spot\n"
    "    require: '!(request.gpus > 0 && offering.labels.market == \"spot\")'\n"
    "  - name: default-objective\n"
    "    weigh: { cost: 1.0, headroom: 0.3, spread: 0.2 }\n";

static void test_default_cost_and_fits(void **state)
{
    (void)state;
    struct run r;
    run_begin(&r, world, "");
    /* no rule: cost 1, the cheapest fitting candidate wins: t3.spot (0.0062 USD = 0.005704 EUR) */
    assert_int_equal(run_place(&r, "{\"size\": \"small\"}", AT), 0);
    assert_string_equal(chosen(&r), "aws/eu-west-1/t3.spot");
    assert_true(r.d.weights[POL_W_COST] == 1.0 && r.d.weights[POL_W_HEADROOM] == 0.0);
    assert_int_equal(r.d.c[r.d.chosen].price, 5704);
    /* 2 regions x 2 aws offerings + home = 5 candidates; the g5 ones lack the 20 GB disk */
    assert_int_equal(r.d.n, 5);
    /* the gpu size: only offerings with a GPU fit */
    assert_int_equal(run_place(&r, "{\"size\": \"gpu\"}", AT), 0);
    assert_int_equal(r.d.n, 2);
    assert_string_equal(chosen(&r), "aws/us-east-1/g5.spot");
    /* explicit numbers */
    assert_int_equal(run_place(&r, "{\"vcpus\": 3, \"ram_mb\": 1024}", AT), 0);
    assert_string_equal(chosen(&r), "aws/us-east-1/g5.spot");
    assert_int_equal(run_place(&r, "{\"vcpus\": 64}", AT), 1);
    assert_int_equal(r.d.n, 0);
    char why[1024];
    pol_decision_why(&r.d, why, sizeof(why));
    assert_non_null(strstr(why, "cloud 'home': no offering fits 64 vcpus"));
    assert_non_null(strstr(why, "cloud 'aws': no offering fits"));
    run_end(&r);
}

static void test_design_example(void **state)
{
    (void)state;
    struct run r;
    run_begin(&r, world, design_policy);
    assert_int_equal(run_place(&r,
                               "{\"kind\": \"server\", \"project\": \"acme\", \"project_labels\": "
                               "{\"gdpr\": \"true\"}, \"labels\": {}, \"size\": \"small\"}",
                               AT),
                     0);
    assert_string_equal(chosen(&r), "aws/eu-west-1/t3.spot");
    const struct pol_result *x = find(&r, "home", "seoul-1", "m1.small", NULL);
    assert_int_equal(x->verdict, POL_VERDICT_REJECTED);
    assert_int_equal(x->reason, POL_REASON_RULE);
    assert_string_equal(reason(&r, "home", "seoul-1", "m1.small"),
                        "rule 'gdpr-stays-in-eu': region.labels.jurisdiction == \"EU\" is false");
    assert_int_equal(find(&r, "aws", "eu-west-1", "t3.small", NULL)->verdict, POL_VERDICT_ELIGIBLE);
    /* weights add up to cost 1, headroom 0.3, spread 0.2 */
    assert_true(r.d.weights[POL_W_HEADROOM] == 0.3 && r.d.weights[POL_W_SPREAD] == 0.2);
    /* without gdpr the rule does not apply; home's m1.small (0.010 EUR) is dearer than the spot
     * instance (0.005704 EUR) */
    assert_int_equal(run_place(&r, "{\"project\": \"acme\", \"size\": \"small\"}", AT), 0);
    assert_string_equal(chosen(&r), "aws/eu-west-1/t3.spot");
    assert_int_equal(find(&r, "home", "seoul-1", "m1.small", NULL)->verdict, POL_VERDICT_ELIGIBLE);
    /* a GPU request may not go to spot */
    assert_int_equal(run_place(&r, "{\"project\": \"acme\", \"size\": \"gpu\"}", AT), 0);
    assert_string_equal(chosen(&r), "aws/us-east-1/g5.xlarge");
    assert_string_equal(reason(&r, "aws", "us-east-1", "g5.spot"),
                        "rule 'no-gpu-on-spot': !(request.gpus > 0 && offering.labels.market == "
                        "\"spot\") is false");
    /* GDPR and a GPU: no GPU in the EU, nothing survives */
    assert_int_equal(
        run_place(&r, "{\"project_labels\": {\"gdpr\": \"true\"}, \"size\": \"gpu\"}", AT), 1);
    char why[2048];
    pol_decision_why(&r.d, why, sizeof(why));
    assert_non_null(strstr(why, "cloud 'home': no offering fits"));
    assert_non_null(strstr(why, "cloud 'aws': rule 'gdpr-stays-in-eu'"));
    assert_non_null(strstr(why, "(2 of 2 candidates)"));
    run_end(&r);
}

static void test_dated_prices(void **state)
{
    (void)state;
    static const char cfg[] =
        "clouds:\n"
        "  - name: a\n"
        "    regions: [{ name: r }]\n"
        "    offerings:\n"
        "      - name: x\n"
        "        vcpus: 1\n"
        "        ram_mb: 1\n"
        "        price:\n"
        "          - { per_hour: \"0.50\", until: \"2026-11-01\" }\n"
        "          - { per_hour: \"0.20\", from: \"2026-11-01\", until: \"2026-12-01T00:00:00Z\" "
        "}\n"
        "          - { per_hour: \"0.25\", from: \"2026-11-20\", until: \"2026-11-21\" }\n";
    struct run r;
    run_begin(&r, cfg, "");
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 10, 31, 23, 59, 59));
    assert_int_equal(r.d.c[0].price, 500000);
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 11, 1, 0, 0, 0));
    assert_int_equal(r.d.c[0].price, 200000);
    /* overlapping: the price that started last */
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 11, 20, 12, 0, 0));
    assert_int_equal(r.d.c[0].price, 250000);
    /* until is exclusive; afterwards no price is valid */
    assert_int_equal(run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 12, 1, 0, 0, 0)), 1);
    assert_int_equal(r.d.c[0].reason, POL_REASON_NO_PRICE);
    assert_string_equal(reason(&r, "a", "r", "x"),
                        "no price of offering 'x' is valid at 2026-12-01T00:00:00Z");
    run_end(&r);
}

static void test_fx(void **state)
{
    (void)state;
    static const char cfg[] = "currency: EUR\n"
                              "clouds:\n"
                              "  - name: us\n"
                              "    regions: [{ name: r }]\n"
                              "    offerings: [{ name: x, vcpus: 1, ram_mb: 1, price: { per_hour: "
                              "\"1.00\", currency: USD } }]\n"
                              "  - name: uk\n"
                              "    regions: [{ name: r }]\n"
                              "    offerings: [{ name: y, vcpus: 1, ram_mb: 1, price: { per_hour: "
                              "\"0.80\", currency: GBP } }]\n"
                              "  - name: jp\n"
                              "    regions: [{ name: r }]\n"
                              "    offerings: [{ name: z, vcpus: 1, ram_mb: 1, price: { per_hour: "
                              "\"150\", currency: JPY } }]\n"
                              "exchange_rates:\n"
                              "  - { from: USD, to: EUR, rate: \"0.90\", date: \"2026-10-01\" }\n"
                              "  - { from: USD, to: EUR, rate: \"0.95\", date: \"2026-11-10\" }\n"
                              "  - { from: USD, to: EUR, rate: \"0.99\", date: \"2026-12-01\" }\n"
                              "  - { from: EUR, to: GBP, rate: \"0.8\", date: \"2026-01-01\" }\n";
    struct run r;
    run_begin(&r, cfg, "");
    /* before 2026-11-10: 0.90; GBP through the inverse of EUR->GBP: 0.80 / 0.8 = 1.00 EUR */
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 11, 9, 23, 0, 0));
    assert_int_equal(find(&r, "us", "r", "x", NULL)->price, 900000);
    assert_int_equal(find(&r, "uk", "r", "y", NULL)->price, 1000000);
    assert_string_equal(chosen(&r), "us/r/x");
    /* on the date of the newer rate (on or before the decision date) */
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 11, 10, 0, 0, 0));
    assert_int_equal(find(&r, "us", "r", "x", NULL)->price, 950000);
    /* JPY has no rate: rejected with that reason */
    size_t i;
    find(&r, "jp", "r", "z", &i);
    assert_int_equal(r.d.c[i].reason, POL_REASON_NO_RATE);
    assert_string_equal(reason(&r, "jp", "r", "z"),
                        "no exchange rate between JPY and EUR on or before 2026-11-10");
    /* before any USD rate */
    run_place(&r, "{\"vcpus\": 1}", pol_time_from_civil(2026, 9, 30, 0, 0, 0));
    assert_int_equal(find(&r, "us", "r", "x", NULL)->reason, POL_REASON_NO_RATE);
    assert_string_equal(chosen(&r), "uk/r/y");
    /* conversion rounding is half-even at the micro-unit */
    int64_t out;
    assert_int_equal(pol_cands_convert(r.c, 1, "EUR", "GBP", AT, &out), 0);
    assert_int_equal(out, 1); /* 0.8 -> 1 */
    assert_int_equal(pol_cands_convert(r.c, 5, "GBP", "EUR", AT, &out), 0);
    assert_int_equal(out, 6); /* 6.25 -> 6 */
    assert_int_equal(pol_cands_convert(r.c, 3, "GBP", "EUR", AT, &out), 0);
    assert_int_equal(out, 4); /* 3.75 -> 4 */
    assert_int_equal(pol_cands_convert(r.c, 1, "EUR", "JPY", AT, &out), -1);
    run_end(&r);
}

static const char three[] =
    "clouds:\n"
    "  - name: a\n"
    "    regions: [{ name: r1, capacity: { vcpus: 100, ram_mb: 100000 } }, { name: r2, capacity: { "
    "vcpus: 10 } }]\n"
    "    offerings: [{ name: cheap, vcpus: 2, ram_mb: 1024, price: { per_hour: \"0.10\" } }]\n"
    "  - name: b\n"
    "    regions: [{ name: r1 }]\n"
    "    offerings: [{ name: dear, vcpus: 2, ram_mb: 1024, labels: { tier: gold }, price: { "
    "per_hour: \"0.30\" } }]\n";

static void test_weighers(void **state)
{
    (void)state;
    struct run r;
    /* cost: min-max over survivors: 0.10 -> 1, 0.30 -> 0 */
    run_begin(&r, three, "policies: [{ name: w, weigh: { cost: 1 } }]");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_true(find(&r, "a", "r1", "cheap", NULL)->w[POL_W_COST] == 1.0);
    assert_true(find(&r, "b", "r1", "dear", NULL)->w[POL_W_COST] == 0.0);
    /* headroom: b is unlimited (1.0), a/r1 98/100, a/r2 8/10 -> normalised 1, 0.9, 0 */
    assert_true(find(&r, "b", "r1", "dear", NULL)->w[POL_W_HEADROOM] == 1.0);
    assert_true(find(&r, "a", "r2", "cheap", NULL)->w[POL_W_HEADROOM] == 0.0);
    double h = find(&r, "a", "r1", "cheap", NULL)->w[POL_W_HEADROOM];
    assert_true(h > 0.8999 && h < 0.9001);
    run_end(&r);

    run_begin(&r, three, "policies: [{ name: w, weigh: { headroom: 1 } }]");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "b/r1/dear");
    assert_true(r.d.weights[POL_W_COST] == 0.0);
    /* capacity of b shrinks below a/r2's share */
    pol_cands_set_capacity(r.c, 2, 4, POL_UNLIMITED);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r1/cheap");
    run_end(&r);

    /* spread: fewer of the project's servers is better */
    run_begin(&r, three, "policies: [{ name: w, weigh: { spread: 1 } }]");
    pol_cands_set_servers(r.c, 0, 5);
    pol_cands_set_servers(r.c, 1, 1);
    pol_cands_set_servers(r.c, 2, 3);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r2/cheap");
    assert_true(find(&r, "a", "r1", "cheap", NULL)->w[POL_W_SPREAD] == 0.0);
    assert_true(find(&r, "b", "r1", "dear", NULL)->w[POL_W_SPREAD] == 0.5);
    run_end(&r);

    /* preference: sums of bonuses; a list of prefer entries and a negative bonus */
    run_begin(&r, three,
              "policies:\n"
              "  - name: p\n"
              "    weigh: { preference: 1 }\n"
              "    prefer:\n"
              "      - { expr: 'offering.labels.tier == \"gold\"', bonus: 2 }\n"
              "      - { expr: 'region.name == \"r2\"' }\n"
              "      - { expr: 'cloud.name == \"a\" && region.name == \"r1\"', bonus: -1 }\n");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "b/r1/dear");
    assert_true(find(&r, "a", "r1", "cheap", NULL)->w[POL_W_PREFERENCE] == 0.0);
    double p = find(&r, "a", "r2", "cheap", NULL)->w[POL_W_PREFERENCE];
    assert_true(p > 0.6666 && p < 0.6667);
    run_end(&r);

    /* weights of applying rules add up; a rule whose `when` is false adds nothing */
    run_begin(&r, three,
              "policies:\n"
              "  - { name: a, weigh: { cost: 0.5, headroom: 1 } }\n"
              "  - { name: b, weigh: { cost: 0.5, spread: 2 } }\n"
              "  - { name: c, when: 'request.project == \"x\"', weigh: { cost: 10 } }\n");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_true(r.d.weights[POL_W_COST] == 1.0 && r.d.weights[POL_W_HEADROOM] == 1.0 &&
                r.d.weights[POL_W_SPREAD] == 2.0);
    /* all equal spread (0 servers) -> 1 each: b = 0 + 1 + 2, a/r1 = 1 + 0.9 + 2 */
    assert_true(find(&r, "b", "r1", "dear", NULL)->score == 3.0);
    double s = find(&r, "a", "r1", "cheap", NULL)->score;
    assert_true(s > 3.8999 && s < 3.9001);
    assert_string_equal(chosen(&r), "a/r1/cheap");
    run_place(&r, "{\"vcpus\": 1, \"project\": \"x\"}", AT);
    assert_true(r.d.weights[POL_W_COST] == 11.0);
    assert_string_equal(chosen(&r), "a/r1/cheap");
    run_end(&r);
}

static void test_ties(void **state)
{
    (void)state;
    static const char cfg[] =
        "clouds:\n"
        "  - name: zeta\n"
        "    regions: [{ name: b }, { name: a }]\n"
        "    offerings: [{ name: y, vcpus: 1, ram_mb: 1, price: { per_hour: \"0.1\" } }, { name: "
        "x, vcpus: 1, ram_mb: 1, price: { per_hour: \"0.1\" } }]\n"
        "  - name: alpha\n"
        "    regions: [{ name: z }]\n"
        "    offerings: [{ name: q, vcpus: 1, ram_mb: 1, price: { per_hour: \"0.1\" } }, { name: "
        "p, vcpus: 1, ram_mb: 1, price: { per_hour: \"0.2\" } }]\n";
    struct run r;
    /* equal scores and prices: cloud name first */
    run_begin(&r, cfg, "");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "alpha/z/q");
    run_end(&r);
    /* weigh spread only: every score is 1; the lower price wins before names */
    run_begin(&r, cfg, "policies: [{ name: s, weigh: { spread: 1 } }]");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "alpha/z/q");
    /* without alpha: region then offering names ascending */
    pol_cands_set_cloud_health(r.c, 1, POL_HEALTH_DOWN, "maintenance", NULL);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "zeta/a/x");
    /* presentation order: chosen, eligible by rank, rejected by names */
    size_t *idx = pol_decision_order(&r.d);
    assert_int_equal(r.d.c[idx[0]].verdict, POL_VERDICT_CHOSEN);
    const struct pol_result *second = &r.d.c[idx[1]];
    assert_string_equal(r.c->regions[second->region].name, "a");
    assert_string_equal(r.c->offerings[second->offering].name, "y");
    assert_int_equal(r.d.c[idx[r.d.n - 1]].verdict, POL_VERDICT_REJECTED);
    free(idx);
    /* a higher score beats a lower price */
    run_end(&r);
    run_begin(&r, cfg,
              "policies: [{ name: s, weigh: { preference: 1 }, prefer: { expr: 'offering.name == "
              "\"p\"' } }]");
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "alpha/z/p");
    run_end(&r);
}

static void test_budgets(void **state)
{
    (void)state;
    static const char cfg[] =
        "currency: EUR\n"
        "clouds:\n"
        "  - name: a\n"
        "    regions: [{ name: r }]\n"
        "    offerings:\n"
        "      - { name: big, vcpus: 1, ram_mb: 1, price: { per_hour: \"1.00\" } }\n"
        "      - { name: small, vcpus: 1, ram_mb: 1, price: { per_hour: \"0.10\", currency: USD } "
        "}\n"
        "exchange_rates: [{ from: USD, to: EUR, rate: \"0.5\", date: \"2026-01-01\" }]\n";
    /* 372 hours left at AT: big costs 372.00, small 0.05 x 372 = 18.60 EUR */
    struct run r;
    run_begin(
        &r, cfg,
        "policies: [{ name: w, weigh: { preference: 1 }, prefer: { expr: 'offering.name "
        "== \"big\"' } }]\n"
        "budgets:\n"
        "  - { project: acme, monthly: { amount: \"500.00\", currency: EUR }, on_exceed: deny }\n"
        "  - { project: acme, monthly: { amount: \"100\", currency: USD }, on_exceed: warn }\n");
    /* spend 0: big (372) is under 500 EUR but over 100 USD = 200 EUR: placed, warned */
    run_place(&r, "{\"project\": \"acme\", \"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r/big");
    assert_int_equal(r.d.c[r.d.chosen].warn, 2);
    json_t *j = pol_decision_to_json(&r.d);
    json_t *w = json_object_get(j, "warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_non_null(strstr(json_string_value(json_array_get(w, 0)),
                           "budget of project 'acme' (100.00 USD a month, warn) exceeded: 0.00 "
                           "EUR spent so far + 372.00 EUR to the end of the month"));
    json_decref(j);
    /* spend 130: big would reach 502 > 500: denied; small (148.60) is under 500 but over the
     * warn budget (100 USD = 50 EUR) */
    pol_cands_set_spend(r.c, "acme", 130 * POL_MICRO, NULL);
    run_place(&r, "{\"project\": \"acme\", \"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r/small");
    assert_int_equal(find(&r, "a", "r", "big", NULL)->reason, POL_REASON_BUDGET);
    assert_string_equal(reason(&r, "a", "r", "big"),
                        "budget of project 'acme' (500.00 EUR a month, deny) exceeded: 130.00 EUR "
                        "spent so far + 372.00 EUR to the end of the month at 1.00 an hour = "
                        "502.00 EUR");
    assert_int_equal(r.d.c[r.d.chosen].warn, 2);
    /* exactly at the limit is allowed: 500 - 372 = 128 */
    pol_cands_set_spend(r.c, "acme", 128 * POL_MICRO, NULL);
    run_place(&r, "{\"project\": \"acme\", \"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r/big");
    /* another project is not bound by acme's budgets */
    pol_cands_set_spend(r.c, "other", 10000 * POL_MICRO, NULL);
    run_place(&r, "{\"project\": \"other\", \"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r/big");
    /* over the deny budget everywhere: no placement, explained */
    pol_cands_set_spend(r.c, "acme", 499 * POL_MICRO, NULL);
    assert_int_equal(run_place(&r, "{\"project\": \"acme\", \"vcpus\": 1}", AT), 1);
    char why[2048];
    pol_decision_why(&r.d, why, sizeof(why));
    assert_non_null(strstr(why, "cloud 'a': budget of project 'acme'"));
    /* the last hour of the month */
    pol_cands_set_spend(r.c, "acme", 499 * POL_MICRO, NULL);
    assert_int_equal(run_place(&r, "{\"project\": \"acme\", \"vcpus\": 1}",
                               pol_time_from_civil(2026, 11, 30, 23, 0, 0)),
                     0);
    assert_string_equal(chosen(&r), "a/r/big");
    run_end(&r);

    /* "*" applies to every project; a budget in a currency without a rate is an error */
    run_begin(&r, cfg, "budgets: [{ project: \"*\", monthly: { amount: \"1\", currency: JPY } }]");
    struct nph_error err = NPH_ERROR_INIT;
    r.rj = json_loads("{\"project\": \"p\", \"vcpus\": 1}", 0, NULL);
    assert_int_equal(pol_request_parse(&r.req, r.rj, r.c, NULL, &err), 0);
    assert_int_equal(pol_place(&r.d, r.p, r.c, &r.req, AT, &err), -1);
    assert_non_null(strstr(err.msg, "no exchange rate from JPY to EUR"));
    run_end(&r);
}

static void test_live_state(void **state)
{
    (void)state;
    struct run r;
    run_begin(&r, three, "");
    pol_cands_set_cloud_health(r.c, 0, POL_HEALTH_DOWN, "circuit breaker open", NULL);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "b/r1/dear");
    assert_string_equal(reason(&r, "a", "r1", "cheap"), "cloud 'a' is down: circuit breaker open");
    pol_cands_set_cloud_health(r.c, 0, POL_HEALTH_UP, NULL, NULL);
    pol_cands_set_region_health(r.c, 0, POL_HEALTH_DOWN, "no route", NULL);
    pol_cands_set_region_health(r.c, 2, POL_HEALTH_DEGRADED, "slow", NULL);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "a/r2/cheap");
    assert_string_equal(reason(&r, "a", "r1", "cheap"),
                        "region 'r1' of cloud 'a' is down: no route");
    /* capacity */
    pol_cands_set_capacity(r.c, 1, 1, POL_UNLIMITED);
    run_place(&r, "{\"vcpus\": 1}", AT);
    assert_string_equal(chosen(&r), "b/r1/dear");
    assert_string_equal(reason(&r, "a", "r2", "cheap"),
                        "not enough free capacity: region 'r2' has 1 vcpus and unlimited MB RAM "
                        "free, 'cheap' needs 2 vcpus and 1024 MB");
    json_t *j = pol_decision_to_json(&r.d);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)),
                        "region 'r1' is degraded: slow");
    json_decref(j);
    /* quota */
    pol_cands_set_quota(r.c, 1, POL_UNLIMITED, POL_UNLIMITED, 0);
    assert_int_equal(run_place(&r, "{\"vcpus\": 1}", AT), 1);
    assert_int_equal(find(&r, "b", "r1", "dear", NULL)->reason, POL_REASON_QUOTA);
    char why[2048];
    pol_decision_why(&r.d, why, sizeof(why));
    assert_string_equal(why, "no candidate survives: cloud 'a': region 'r1' of cloud 'a' is down: "
                             "no route (1 of 2 candidates); not enough free capacity: region "
                             "'r2' has 1 vcpus and unlimited MB RAM free, 'cheap' needs 2 vcpus "
                             "and 1024 MB (1 of 2 candidates); cloud 'b': over quota: the project "
                             "has unlimited vcpus, unlimited MB RAM and 0 instances left on "
                             "cloud 'b', 'dear' needs 2 vcpus and 1024 MB (1 of 1 candidates)");
    run_end(&r);
}

static void test_candidate_level_rules(void **state)
{
    (void)state;
    /* rules of every level: request-only, region-level, offering-level and mixed */
    struct run r;
    run_begin(&r, three,
              "policies:\n"
              "  - { name: req, require: 'request.vcpus < 100' }\n"
              "  - { name: reg, require: 'region.name != \"r2\"' }\n"
              "  - { name: off, require: 'offering.price_per_hour <= 0.30' }\n"
              "  - { name: mix, require: '!(cloud.name == \"a\" && region.name == \"r1\" && "
              "offering.name == \"cheap\")' }\n");
    assert_int_equal(run_place(&r, "{\"vcpus\": 1}", AT), 0);
    assert_string_equal(chosen(&r), "b/r1/dear");
    assert_string_equal(reason(&r, "a", "r2", "cheap"),
                        "rule 'reg': region.name != \"r2\" is false");
    assert_int_equal(find(&r, "a", "r1", "cheap", NULL)->index, 3);
    json_t *j = pol_decision_to_json(&r.d);
    json_t *c = json_object_get(j, "candidates");
    json_t *last = json_array_get(c, 2);
    assert_string_equal(json_string_value(json_object_get(last, "rule")), "reg");
    assert_string_equal(json_string_value(json_object_get(last, "expression")),
                        "region.name != \"r2\"");
    json_decref(j);
    assert_int_equal(run_place(&r, "{\"vcpus\": 200}", AT), 1);
    run_end(&r);
}

static void test_json(void **state)
{
    (void)state;
    struct run r;
    run_begin(&r, world, design_policy);
    run_place(
        &r,
        "{\"project\": \"acme\", \"project_labels\": {\"gdpr\": \"true\"}, \"size\": \"small\"}",
        AT);
    json_t *j = pol_decision_to_json(&r.d);
    json_t *dec = json_object_get(j, "decision");
    assert_string_equal(json_string_value(json_object_get(dec, "cloud")), "aws");
    assert_string_equal(json_string_value(json_object_get(dec, "region")), "eu-west-1");
    assert_string_equal(json_string_value(json_object_get(dec, "offering")), "t3.spot");
    json_t *price = json_object_get(dec, "price");
    assert_string_equal(json_string_value(json_object_get(price, "per_hour")), "0.005704");
    assert_string_equal(json_string_value(json_object_get(price, "currency")), "EUR");
    assert_true(json_is_number(json_object_get(dec, "score")));
    json_t *cs = json_object_get(j, "candidates");
    assert_int_equal(json_array_size(cs), 5);
    json_t *first = json_array_get(cs, 0);
    assert_string_equal(json_string_value(json_object_get(first, "verdict")), "chosen");
    assert_non_null(json_object_get(json_object_get(first, "scores"), "cost"));
    assert_non_null(json_object_get(json_object_get(first, "scores"), "total"));
    json_t *lastc = json_array_get(cs, 4);
    assert_string_equal(json_string_value(json_object_get(lastc, "verdict")), "rejected");
    assert_non_null(json_object_get(lastc, "reason"));
    assert_null(json_object_get(lastc, "scores"));
    assert_string_equal(json_string_value(json_object_get(j, "at")), "2026-11-15T12:00:00Z");
    json_decref(j);
    /* nothing placed: decision null and an error */
    run_place(&r, "{\"project_labels\": {\"gdpr\": \"true\"}, \"size\": \"gpu\"}", AT);
    j = pol_decision_to_json(&r.d);
    assert_true(json_is_null(json_object_get(j, "decision")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "no candidate"));
    json_decref(j);
    run_end(&r);
}

static void expect_policy_error(const char *yaml, const char *want)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_policy *p = policy_yaml(yaml, &err);
    if (p) {
        pol_policy_free(p);
        fail_msg("policy loaded but should fail with '%s'", want);
    }
    if (!strstr(err.msg, want))
        fail_msg("got '%s', want '%s'", err.msg, want);
}

static void test_policy_errors(void **state)
{
    (void)state;
    expect_policy_error("policies:\n  - name: a\n    require: 'region.labels.j = \"EU\"'\n",
                        "policy.yaml:3: rule 'a': 'require': column 17: '=' is not an operator");
    expect_policy_error("policies:\n  - name: a\n    require: 'true'\n  - name: b\n    requir: x\n",
                        "policy.yaml:5: rule 'b': unknown key 'requir'");
    expect_policy_error(
        "policies:\n  - name: a\n    when: 'region.name == \"x\"'\n    require: 'true'\n",
        "policy.yaml:3: rule 'a': 'when' may read request.* only");
    expect_policy_error("policies:\n  - name: a\n", "policy.yaml:2: rule 'a': a rule needs");
    expect_policy_error("policies:\n  - require: 'true'\n",
                        "policy.yaml:2: policies[0]: a rule needs a 'name'");
    expect_policy_error(
        "policies:\n  - { name: a, require: 'true' }\n  - { name: a, require: 'true' }\n",
        "policy.yaml:3: rule 'a': the name is used twice (first at line 2)");
    expect_policy_error("policies:\n  - name: a\n    weigh: { cost: -1 }\n",
                        "policy.yaml:3: rule 'a': 'weigh.cost' must be a number");
    expect_policy_error("policies:\n  - name: a\n    weigh: { latency: 1 }\n",
                        "policy.yaml:3: rule 'a': unknown key 'latency'");
    expect_policy_error("policies:\n  - name: a\n    weigh: 1\n", "'weigh' must be a mapping");
    expect_policy_error("policies:\n  - name: a\n    prefer: { bonus: 1 }\n",
                        "policy.yaml:3: rule 'a': 'prefer' needs 'expr'");
    expect_policy_error("policies:\n  - name: a\n    prefer:\n      - { expr: 'x.y' }\n",
                        "policy.yaml:4: rule 'a': 'prefer.expr': column 1: unknown field 'x.y'");
    expect_policy_error("policies:\n  - name: a\n    require: 5\n",
                        "'require' must be a string holding an expression");
    expect_policy_error("policies: {}\n", "'policies' must be a list");
    expect_policy_error("polices: []\n", "policy.yaml:1: policy document: unknown key 'polices'");
    expect_policy_error("- a\n", "a policy document is a mapping");
    expect_policy_error(
        "budgets:\n  - { project: acme, monthly: { amount: 5000.5, currency: EUR } }\n",
        "policy.yaml:2: budgets[0]: 'monthly.amount' must be a non-negative decimal");
    expect_policy_error(
        "budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: euro }\n",
        "policy.yaml:3: budgets[0]: 'monthly.currency' must be a 3-letter");
    expect_policy_error("budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: EUR "
                        "}\n    on_exceed: block\n",
                        "policy.yaml:4: budgets[0]: 'on_exceed' must be deny or warn");
    expect_policy_error("budgets:\n  - { monthly: { amount: \"1\", currency: EUR } }\n",
                        "'project' must be a non-empty string");
    expect_policy_error("policies:\n  - name: a\n    require: [\n", "policy.yaml:");
    expect_policy_error("budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: EUR "
                        "}\n    thresholds: [80, 50]\n",
                        "policy.yaml:4: budgets[0]: 'thresholds' must be ascending whole "
                        "percentages from 1 to 1000 (thresholds[1])");
    expect_policy_error("budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: EUR "
                        "}\n    thresholds: []\n",
                        "policy.yaml:4: budgets[0]: 'thresholds' must be a list of 1 to 8");
    expect_policy_error("budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: EUR "
                        "}\n    thresholds: [0.5]\n",
                        "'thresholds' must be ascending whole percentages");
    expect_policy_error("budgets:\n  - project: acme\n    monthly: { amount: \"1\", currency: EUR "
                        "}\n    name: \"\"\n",
                        "policy.yaml:4: budgets[0]: 'name' must be a non-empty string");
    /* a good one, with every key */
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_policy *p = policy_yaml(
        "policies:\n"
        "  - name: all\n"
        "    description: every key\n"
        "    when: 'request.kind == \"server\"'\n"
        "    require: 'true'\n"
        "    weigh: { cost: 1, headroom: 0.5, spread: 0.25, preference: 2 }\n"
        "    prefer: { expr: 'cloud.kind == \"local\"', bonus: 3.5 }\n"
        "budgets:\n"
        "  - { project: acme, monthly: { amount: 5000, currency: EUR }, on_exceed: warn }\n"
        "  - { project: b, name: bee, monthly: { amount: 1, currency: EUR },"
        " thresholds: [90, 150] }\n",
        &err);
    assert_non_null(p);
    assert_int_equal(p->nrules, 1);
    assert_true(p->rules[0].weigh[POL_W_PREFERENCE] == 2.0);
    assert_true(p->rules[0].prefer[0].bonus == 3.5);
    assert_int_equal(p->budgets[0].amount, 5000 * POL_MICRO);
    assert_int_equal(p->budgets[0].deny, 0);
    assert_null(p->budgets[0].name); /* the defaults: 50, 80, 100 % */
    assert_int_equal(p->budgets[0].nthresholds, 3);
    assert_int_equal(p->budgets[0].thresholds[0], 50);
    assert_int_equal(p->budgets[0].thresholds[2], 100);
    assert_string_equal(p->budgets[1].name, "bee");
    assert_int_equal(p->budgets[1].nthresholds, 2);
    assert_int_equal(p->budgets[1].thresholds[1], 150);
    pol_policy_free(p);
    /* empty documents are empty policies */
    p = policy_yaml("", &err);
    assert_non_null(p);
    assert_int_equal(p->nrules, 0);
    pol_policy_free(p);
}

static void expect_config_error(const char *yaml, const char *want)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_cands *c = cands_yaml(yaml, &err);
    if (c) {
        pol_cands_free(c);
        fail_msg("config loaded but should fail with '%s'", want);
    }
    if (!strstr(err.msg, want))
        fail_msg("got '%s', want '%s'", err.msg, want);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_config_error("currency: euro\n", "config.yaml:1: 'currency' must be a 3-letter");
    expect_config_error("clouds:\n  - name: a\n    regions:\n      - { name: r, zone: x }\n",
                        "config.yaml:4: clouds[0].regions[0]: unknown key 'zone'");
    expect_config_error("clouds:\n  - name: a\n    regions: [{ name: r }]\n    offerings:\n"
                        "      - name: o\n        vcpus: two\n        ram_mb: 1\n",
                        "config.yaml:6: clouds[0].offerings[0]: 'vcpus' must be a non-negative");
    expect_config_error("clouds:\n  - name: a\n    regions: [{ name: r }]\n    offerings:\n"
                        "      - { name: o, vcpus: 1, ram_mb: 1, price: { per_hour: 0.5 } }\n",
                        "config.yaml:5: clouds[0].offerings[0].price: 'per_hour' must be a "
                        "non-negative decimal string");
    expect_config_error("clouds:\n  - name: a\n    regions: [{ name: r }]\n    offerings:\n"
                        "      - { name: o, vcpus: 1, ram_mb: 1, regions: [s] }\n",
                        "'regions': 's' is no region of cloud 'a'");
    expect_config_error("clouds:\n  - name: a\n  - name: a\n", "cloud 'a' is declared twice");
    expect_config_error("clouds:\n  - name: a\n    regions: [{ name: r }, { name: r }]\n",
                        "region 'r' is declared twice");
    expect_config_error("sizes:\n  - { name: s, vcpus: 1 }\n",
                        "config.yaml:2: sizes[0]: 'ram_mb' must be a non-negative integer");
    expect_config_error("exchange_rates:\n  - { from: USD, to: EUR, rate: \"0.9\" }\n",
                        "exchange_rates[0]");
    expect_config_error(
        "exchange_rates:\n  - { from: USD, to: EUR, rate: \"0\", date: \"2026-01-01\" }\n",
        "'rate' must be positive");
    expect_config_error("clouds:\n  - name: a\n    regions: [{ name: r }]\n    offerings:\n"
                        "      - name: o\n        vcpus: 1\n        ram_mb: 1\n        price:\n"
                        "          - { per_hour: \"1\", from: \"2026-02-30\" }\n",
                        "config.yaml:9: clouds[0].offerings[0].price[0]: 'from' must be a date");
    /* keys the federation owns are ignored */
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_cands *c = cands_yaml(
        "clouds:\n  - { name: a, kind: openstack, url: 'http://x', default: true }\n", &err);
    assert_non_null(c);
    assert_int_equal(c->nclouds, 1);
    pol_cands_free(c);
}

static void test_request_errors(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_cands *c = cands_yaml(world, &err);
    struct pol_request req;
    const char *bad;
    static const struct {
        const char *json, *key, *msg;
    } cases[] = {
        {"{\"size\": \"huge\"}", "size", "unknown size 'huge'"},
        {"{\"vcpus\": -1}", "vcpus", "'vcpus' must be a non-negative integer"},
        {"{\"vcpus\": 1, \"colour\": 1}", "colour", "unknown key 'colour'"},
        {"{\"labels\": 1, \"vcpus\": 1}", "labels", "'labels' must be an object"},
        {"{\"project\": 1, \"vcpus\": 1}", "project", "'project' must be a string"},
        {"{\"kind\": \"server\"}", NULL, "needs 'size'"},
        {"{\"kind\": \"volume\", \"size_gb\": -1}", "size_gb",
         "'size_gb' must be a non-negative integer"},
        {"{\"type\": 7, \"size_gb\": 1}", "type", "'type' must be a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        assert_int_equal(pol_request_parse(&req, j, c, &bad, &err), -1);
        if (cases[i].key)
            assert_string_equal(bad, cases[i].key);
        assert_non_null(strstr(err.msg, cases[i].msg));
        json_decref(j);
    }
    /* a size with an override */
    json_t *j = json_loads("{\"size\": \"small\", \"gpus\": 1}", 0, NULL);
    assert_int_equal(pol_request_parse(&req, j, c, &bad, &err), 0);
    assert_int_equal(req.vcpus, 1);
    assert_int_equal(req.gpus, 1);
    json_decref(j);
    /* storage requests: sized by size_gb alone; "type" names the kind when "kind" is absent */
    j = json_loads("{\"type\": \"bucket\", \"size_gb\": 5}", 0, NULL);
    assert_int_equal(pol_request_parse(&req, j, c, &bad, &err), 0);
    assert_string_equal(req.kind, "bucket");
    assert_int_equal(req.vcpus, 0);
    json_decref(j);
    j = json_loads("{\"kind\": \"volume\"}", 0, NULL);
    assert_int_equal(pol_request_parse(&req, j, c, &bad, &err), 0);
    json_decref(j);
    pol_cands_free(c);
}

static void test_add_api(void **state)
{
    (void)state;
    /* the broker's way: clouds, regions and offerings from live backends over configured ones */
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_cands *c = cands_yaml(world, &err);
    int64_t aws = pol_cands_find_cloud(c, "aws");
    assert_true(aws >= 0);
    /* an offering the backend lists that the config priced: sizes updated, price kept */
    int64_t t3 = pol_cands_find_offering(c, (uint32_t)aws, "t3.small");
    assert_int_equal(
        pol_cands_add_offering(c, (uint32_t)aws, "t3.small", 2, 4096, 20, 0, NULL, &err), t3);
    assert_int_equal(c->offerings[t3].ram_mb, 4096);
    assert_int_equal(c->offerings[t3].nprices, 1);
    /* a new one without a price is free */
    int64_t n = pol_cands_add_offering(c, (uint32_t)aws, "new", 8, 8192, 0, 0, NULL, &err);
    assert_true(n > t3);
    int64_t price;
    const char *cur;
    assert_int_equal(pol_cands_price_at(c, (uint32_t)n, AT, &price, &cur), 0);
    assert_int_equal(price, 0);
    assert_int_equal(pol_cands_add_cloud(c, "aws", "ec2", NULL, &err), -1);
    assert_int_equal(pol_cands_add_region(c, (uint32_t)aws, "eu-west-1", NULL, &err), -1);
    assert_int_equal(pol_cands_find_region(c, (uint32_t)aws, "nowhere"), -1);
    assert_int_equal(pol_cands_spend(c, "nobody"), 0);
    pol_cands_free(c);
}

static void test_time(void **state)
{
    (void)state;
    int64_t t;
    char buf[32];
    assert_int_equal(pol_time_parse("2026-11-15T12:00:00Z", &t), 0);
    assert_int_equal(t, AT);
    assert_int_equal(pol_time_parse("2026-11-15", &t), 0);
    assert_string_equal(pol_time_format(t, buf, sizeof(buf)), "2026-11-15T00:00:00Z");
    assert_int_equal(pol_time_month_end(AT), pol_time_from_civil(2026, 12, 1, 0, 0, 0));
    assert_int_equal(pol_time_month_end(pol_time_from_civil(2026, 12, 31, 23, 59, 59)),
                     pol_time_from_civil(2027, 1, 1, 0, 0, 0));
    assert_int_equal(pol_time_parse("2028-02-29", &t), 0);
    assert_int_equal(pol_time_parse("2027-02-29", &t), -1);
    assert_int_equal(pol_time_parse("2026-13-01", &t), -1);
    assert_int_equal(pol_time_parse("2026-11-15T24:00:00Z", &t), -1);
    assert_int_equal(pol_time_parse("2026-11-15T12:00:00", &t), -1);
    assert_int_equal(pol_time_parse("1969-12-31T23:59:59Z", &t), 0);
    assert_int_equal(t, -1);
    assert_string_equal(pol_date_format(-1, buf, sizeof(buf)), "1969-12-31");
    int64_t out;
    assert_int_equal(pol_muldiv(INT64_MAX, 2, 1, &out), -1);
    assert_int_equal(pol_muldiv(INT64_MAX, 2, 4, &out), 0);
    assert_int_equal(pol_muldiv(5, 1, 2, &out), 0);
    assert_int_equal(out, 2);
    assert_int_equal(pol_muldiv(-5, 1, 2, &out), 0);
    assert_int_equal(out, -2);
    assert_int_equal(pol_muldiv(7, 1, 2, &out), 0);
    assert_int_equal(out, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_cost_and_fits),
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_dated_prices),
        cmocka_unit_test(test_fx),
        cmocka_unit_test(test_weighers),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_live_state),
        cmocka_unit_test(test_candidate_level_rules),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_policy_errors),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_add_api),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
