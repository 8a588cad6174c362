/*
 * fuzz_policy.c - libFuzzer target for the policy loader: any bytes are loaded as a policy
 * document (YAML -> JSON -> strict validation -> compiled expressions); a policy that loads
 * places one request over a small fixed candidate set and renders the decision as JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pol_place.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pol_cands *fixed_cands(void)
{
    struct pol_cands *c = pol_cands_new("EUR", NULL);
    json_t *eu = json_pack("{s:s}", "jurisdiction", "EU");
    json_t *spot = json_pack("{s:s, s:i}", "market", "spot", "tier", 2);
    int64_t a = pol_cands_add_cloud(c, "home", "local", NULL, NULL);
    int64_t b = pol_cands_add_cloud(c, "aws", "ec2", eu, NULL);
    int64_t r1 = pol_cands_add_region(c, (uint32_t)a, "seoul-1", NULL, NULL);
    pol_cands_add_region(c, (uint32_t)b, "eu-west-1", eu, NULL);
    pol_cands_add_region(c, (uint32_t)b, "us-east-1", NULL, NULL);
    pol_cands_set_capacity(c, (uint32_t)r1, 8, 16384);
    int64_t o1 = pol_cands_add_offering(c, (uint32_t)a, "m1.small", 1, 2048, 20, 0, NULL, NULL);
    int64_t o2 = pol_cands_add_offering(c, (uint32_t)b, "t3.small", 2, 2048, 20, 0, spot, NULL);
    pol_cands_add_offering(c, (uint32_t)b, "g5", 4, 16384, 0, 1, NULL, NULL);
    pol_cands_add_price(c, (uint32_t)o1, 10000, "EUR", INT64_MIN, INT64_MAX, NULL);
    pol_cands_add_price(c, (uint32_t)o2, 20800, "USD", INT64_MIN, INT64_MAX, NULL);
    pol_cands_add_rate(c, "USD", "EUR", 920000, 0, NULL);
    pol_cands_set_spend(c, "acme", 4999000000, NULL);
    json_decref(eu);
    json_decref(spot);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pol_cands *cands;
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_policy *p;
    if (!cands)
        cands = fixed_cands();
    p = pol_policy_load("fuzz.yaml", (const char *)data, size, &err);
    if (p) {
        json_t *rj = json_pack("{s:s, s:{s:s}, s:i, s:i}", "project", "acme", "project_labels",
                               "gdpr", "true", "vcpus", 1, "ram_mb", 1024);
        struct pol_request req;
        struct pol_decision d;
        pol_decision_init(&d);
        if (rj && pol_request_parse(&req, rj, cands, NULL, &err) == 0 &&
            pol_place(&d, p, cands, &req, 1794787200, &err) >= 0) {
            json_t *out = pol_decision_to_json(&d);
            json_decref(out);
        }
        pol_decision_fini(&d);
        json_decref(rj);
        pol_policy_free(p);
    }
    return 0;
}
