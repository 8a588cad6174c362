/*
 * test_pol_rate_scenario.c - the billing scenarios of tests/scenarios/billing/<name>/: rate
 * events.jsonl with config.yaml for every case of expected.json and compare the whole JSON
 * report. For two-clouds the amounts worked out by hand (expected.json's _comment) are also
 * asserted here, line by line, so that a regenerated expected.json cannot hide a change.
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
#include "pol_rate.h"
#include "pol_time.h"
#include "pol_yaml.h"

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    long n;
    char *buf;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(f = fopen(path, "rb")))
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Rate every case of one scenario directory; returns the first case's report (caller frees). */
static json_t *run_scenario(const char *name)
{
    const char *src = getenv("NPH_SOURCE_DIR");
    char dir[4096];
    size_t clen, elen, xlen;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *first = NULL;
    snprintf(dir, sizeof(dir), "%s/tests/scenarios/billing/%s", src ? src : "../..", name);
    char *ctext = slurp(dir, "config.yaml", &clen);
    char *etext = slurp(dir, "events.jsonl", &elen);
    char *xtext = slurp(dir, "expected.json", &xlen);
    json_t *doc = nph_yaml_to_json("config.yaml", ctext, clen, &err);
    json_t *lines = pol_yaml_lines(ctext, clen);
    json_t *exp = json_loadb(xtext, xlen, 0, NULL);
    struct pol_catalog *cat = doc ? pol_catalog_from_config(doc, lines, "config.yaml", &err) : NULL;
    struct pol_uevents ev;
    size_t i;
    json_t *c;
    if (!cat)
        fail_msg("%s: %s", name, err.msg);
    assert_non_null(exp);
    pol_uevents_init(&ev);
    if (pol_uevents_parse(&ev, "events.jsonl", etext, elen, &err))
        fail_msg("%s: %s", name, err.msg);
    json_array_foreach(json_object_get(exp, "cases"), i, c)
    {
        struct pol_bill_query q = {0};
        struct pol_bill *b = NULL;
        assert_int_equal(pol_time_parse(json_string_value(json_object_get(c, "from")), &q.from), 0);
        assert_int_equal(pol_time_parse(json_string_value(json_object_get(c, "to")), &q.to), 0);
        q.open_end = q.to;
        q.currency = json_string_value(json_object_get(c, "currency"));
        assert_int_equal(
            pol_group_parse(json_string_value(json_object_get(c, "group_by")), &q.group_by, &err),
            0);
        if (pol_bill_rate(cat, &ev, &q, &b, &err))
            fail_msg("%s case %zu: %s", name, i, err.msg);
        json_t *got = pol_bill_to_json(b);
        if (!json_equal(got, json_object_get(c, "report"))) {
            char *s = json_dumps(got, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fprintf(stderr, "%s case %zu: got\n%s\n", name, i, s);
            free(s);
            fail_msg("%s case %zu differs from expected.json", name, i);
        }
        if (!first)
            first = json_incref(got);
        json_decref(got);
        pol_bill_free(b);
    }
    pol_uevents_fini(&ev);
    pol_catalog_free(cat);
    json_decref(exp);
    json_decref(lines);
    json_decref(doc);
    free(ctext);
    free(etext);
    free(xtext);
    return first;
}

static void test_two_clouds(void **state)
{
    (void)state;
    /* The hand-worked lines (see expected.json's _comment and config.yaml). */
    static const char *const want[][4] = {
        {"alpha", "aws-east", "m5.large", "8.57"}, /* 96 h (95.5 rounded up), 8.5728 EUR */
        {"alpha", "aws-east", NULL, "7.30"},       /* 98.630137 GB-month, 7.298640 EUR */
        {"alpha", "home", "m1.medium", "10.80"},   /* 120 h x 0.040 + 120 h x 0.050 */
        {"beta", "aws-east", "t3.micro", "0.01"},  /* 1 h x 0.0104 USD x 0.95 = 0.00988 */
        {"beta", "home", "m1.medium", "28.80"},    /* 240 h x 0.040 + 384 h x 0.050 */
        {"beta", "home", "m1.small", "1.44"},      /* 72 h x 0.020 (the stopped day is free) */
        {"beta", "home", NULL, "2.50"},            /* 25 GB-month x 0.10 */
    };
    json_t *r = run_scenario("two-clouds");
    json_t *lines = json_object_get(r, "lines");
    assert_int_equal(json_array_size(lines), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *l = json_array_get(lines, i);
        assert_string_equal(json_string_value(json_object_get(l, "project")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(l, "cloud")), want[i][1]);
        if (want[i][2])
            assert_string_equal(json_string_value(json_object_get(l, "offering")), want[i][2]);
        assert_string_equal(json_string_value(json_object_get(l, "amount")), want[i][3]);
    }
    assert_string_equal(json_string_value(json_object_get(r, "total")), "59.42");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_clouds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
