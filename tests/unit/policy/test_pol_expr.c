/*
 * test_pol_expr.c - the condition language: every operator, literals, null handling, `in`,
 * precedence and short-circuits, exact decimals, field resolution into slots, explanations,
 * and parse errors with their column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pol_expr.h"
#include "pol_money.h"

/* A fixed world: request {gpus: 1, project: "acme", project_labels.gdpr: "true"}, cloud aws
 * (kind ec2, labels tier=1), region eu-west-1 (jurisdiction EU), offering t3 (2 vcpus,
 * 4096 MB, price 0.092, market spot). */
struct world {
    struct pol_symtab st;
    struct pol_value v[POL_S__COUNT][32];
    struct pol_env env;
};

static void fill(struct world *w)
{
    for (int s = 0; s < POL_S__COUNT; s++) {
        for (int i = 0; i < 32; i++)
            w->v[s][i] = pol_value_null();
        w->env.v[s] = w->v[s];
    }
    w->v[POL_S_CLOUD][POL_CLOUD_NAME] = pol_value_str("aws");
    w->v[POL_S_CLOUD][POL_CLOUD_KIND] = pol_value_str("ec2");
    w->v[POL_S_REGION][POL_REGION_NAME] = pol_value_str("eu-west-1");
    w->v[POL_S_OFFERING][POL_OFF_NAME] = pol_value_str("t3");
    w->v[POL_S_OFFERING][POL_OFF_VCPUS] = pol_value_num(2 * POL_MICRO);
    w->v[POL_S_OFFERING][POL_OFF_RAM_MB] = pol_value_num(4096 * POL_MICRO);
    w->v[POL_S_OFFERING][POL_OFF_DISK_GB] = pol_value_num(0);
    w->v[POL_S_OFFERING][POL_OFF_GPUS] = pol_value_num(0);
    w->v[POL_S_OFFERING][POL_OFF_PRICE] = pol_value_num(92000);
    for (int s = 0; s < POL_S__COUNT; s++) {
        uint32_t n = pol_symtab_slots(&w->st, (enum pol_scope)s);
        for (uint32_t i = 0; i < n && i < 32; i++) {
            const char *name = pol_symtab_name(&w->st, (enum pol_scope)s, i);
            if (!name)
                continue;
            if (!strcmp(name, "gpus"))
                w->v[s][i] = pol_value_num(1 * POL_MICRO);
            else if (!strcmp(name, "project"))
                w->v[s][i] = pol_value_str("acme");
            else if (!strcmp(name, "project_labels.gdpr"))
                w->v[s][i] = pol_value_str("true");
            else if (!strcmp(name, "jurisdiction"))
                w->v[s][i] = pol_value_str("EU");
            else if (!strcmp(name, "market"))
                w->v[s][i] = pol_value_str("spot");
            else if (!strcmp(name, "tier"))
                w->v[s][i] = pol_value_num(1 * POL_MICRO);
            else if (!strcmp(name, "flag"))
                w->v[s][i] = pol_value_bool(1);
        }
    }
}

/* Parse and evaluate src in the fixed world: 1 true, 0 not true; fails the test on a parse
 * error. */
static int eval(const char *src)
{
    struct world w;
    struct pol_expr *e = NULL;
    struct pol_expr_error pe;
    pol_symtab_init(&w.st);
    int rc = pol_expr_parse(src, &w.st, &e, &pe);
    if (rc != 0)
        fail_msg("parse of '%s' failed at column %d: %s", src, pe.col, pe.msg);
    fill(&w);
    int t = pol_expr_true(e, &w.env);
    pol_expr_free(e);
    pol_symtab_fini(&w.st);
    return t;
}

/* Parse src expecting an error; returns the column and copies the message. */
static int parse_error(const char *src, char *msg, size_t len)
{
    struct pol_symtab st;
    struct pol_expr *e = NULL;
    struct pol_expr_error pe;
    pol_symtab_init(&st);
    int rc = pol_expr_parse(src, &st, &e, &pe);
    pol_symtab_fini(&st);
    if (rc == 0) {
        pol_expr_free(e);
        fail_msg("'%s' parsed but should not", src);
    }
    assert_int_equal(rc, -1);
    snprintf(msg, len, "%s", pe.msg);
    return pe.col;
}

static void test_equality(void **state)
{
    (void)state;
    assert_true(eval("cloud.name == \"aws\""));
    assert_true(eval("cloud.name == 'aws'"));
    assert_false(eval("cloud.name == \"AWS\""));
    assert_true(eval("cloud.name != \"home\""));
    assert_false(eval("cloud.name != \"aws\""));
    assert_true(eval("offering.vcpus == 2"));
    assert_true(eval("offering.vcpus == 2.0"));
    assert_true(eval("offering.price_per_hour == 0.092"));
    assert_true(eval("offering.price_per_hour == 0.092000"));
    assert_false(eval("offering.price_per_hour == 0.092001"));
    assert_true(eval("true == true"));
    assert_true(eval("false != true"));
    assert_true(eval("region.labels.flag == true"));
    assert_false(eval("region.labels.nope == true"));
    /* a number never equals a string */
    assert_false(eval("cloud.labels.tier == \"1\""));
    assert_true(eval("cloud.labels.tier == 1"));
}

static void test_ordering(void **state)
{
    (void)state;
    assert_true(eval("offering.vcpus < 3"));
    assert_false(eval("offering.vcpus < 2"));
    assert_true(eval("offering.vcpus <= 2"));
    assert_true(eval("offering.vcpus > 1"));
    assert_false(eval("offering.vcpus > 2"));
    assert_true(eval("offering.vcpus >= 2"));
    assert_true(eval("offering.price_per_hour < 0.1"));
    assert_true(eval("offering.price_per_hour > 0.091999"));
    assert_true(eval("-1 < 0"));
    assert_true(eval("offering.ram_mb >= 4096 && offering.ram_mb <= 4096"));
    /* strings order bytewise */
    assert_true(eval("cloud.name < \"b\""));
    assert_true(eval("region.name > \"eu-west-0\""));
    /* mixed types are unordered */
    assert_false(eval("cloud.labels.tier < \"2\""));
    assert_false(eval("cloud.labels.tier > \"0\""));
}

static void test_null(void **state)
{
    (void)state;
    /* a missing field is null */
    assert_true(eval("region.labels.missing == null"));
    assert_false(eval("region.labels.missing != null"));
    assert_true(eval("region.labels.jurisdiction != null"));
    assert_true(eval("request.nothing.at.all == null"));
    /* ordering with null is false, both ways */
    assert_false(eval("region.labels.missing < 1"));
    assert_false(eval("region.labels.missing > 1"));
    assert_false(eval("region.labels.missing <= 1"));
    assert_false(eval("region.labels.missing >= 1"));
    assert_false(eval("1 < region.labels.missing"));
    /* null is not true; ! of it is */
    assert_false(eval("region.labels.missing"));
    assert_true(eval("!region.labels.missing"));
    assert_true(eval("null == null"));
    assert_true(eval("region.labels.missing in [\"EU\", null]"));
}

static void test_logic(void **state)
{
    (void)state;
    assert_true(eval("true && true"));
    assert_false(eval("true && false"));
    assert_true(eval("false || true"));
    assert_false(eval("false || false"));
    assert_true(eval("!false"));
    assert_false(eval("!true"));
    assert_true(eval("!!true"));
    /* precedence: ! > comparison > && > || */
    assert_true(eval("true || false && false"));
    assert_false(eval("(true || false) && false"));
    assert_true(eval("!(request.gpus > 0 && offering.labels.market == \"on-demand\")"));
    assert_false(eval("!(request.gpus > 0 && offering.labels.market == \"spot\")"));
    /* labels that are booleans act as conditions */
    assert_true(eval("cloud.labels.flag || false"));
    /* non-boolean values are not true */
    assert_false(eval("cloud.labels.tier && true"));
}

static void test_in(void **state)
{
    (void)state;
    assert_true(eval("cloud.name in [\"home\", \"aws\"]"));
    assert_false(eval("cloud.name in [\"home\"]"));
    assert_false(eval("cloud.name in []"));
    assert_true(eval("offering.vcpus in [1, 2, 4]"));
    assert_true(eval("!(cloud.name in ['x', 'y'])"));
    assert_true(eval("region.labels.jurisdiction in ['EU', 'UK'] && cloud.kind == 'ec2'"));
}

static void test_request_fields(void **state)
{
    (void)state;
    assert_true(eval("request.project == \"acme\""));
    assert_true(eval("request.project_labels.gdpr == \"true\""));
    assert_true(eval("request.gpus > 0"));
    assert_false(eval("request.project_labels.gdpr == true"));
}

static void test_strings_escapes(void **state)
{
    (void)state;
    assert_true(eval("\"a\\\"b\" != 'a\"b'") == 0);
    assert_true(eval("'it\\'s' == \"it's\""));
    assert_true(eval("\"\" != cloud.name"));
}

static void test_deps_and_slots(void **state)
{
    (void)state;
    struct pol_symtab st;
    struct pol_expr *a, *b, *c;
    struct pol_expr_error pe;
    pol_symtab_init(&st);
    assert_int_equal(pol_expr_parse("request.project == 'x'", &st, &a, &pe), 0);
    assert_int_equal(pol_expr_deps(a), POL_DEP_REQUEST);
    assert_int_equal(
        pol_expr_parse("region.labels.j == 'EU' && cloud.labels.j == 'EU'", &st, &b, &pe), 0);
    assert_int_equal(pol_expr_deps(b), POL_DEP_REGION | POL_DEP_CLOUD);
    assert_int_equal(
        pol_expr_parse("offering.labels.j == region.labels.j && region.labels.k", &st, &c, &pe), 0);
    assert_int_equal(pol_expr_deps(c), POL_DEP_REGION | POL_DEP_OFFERING);
    /* label keys are interned once per scope */
    assert_int_equal(st.count[POL_S_REGION], 2);
    assert_int_equal(st.count[POL_S_CLOUD], 1);
    assert_int_equal(st.count[POL_S_OFFERING], 1);
    assert_int_equal(pol_symtab_slots(&st, POL_S_OFFERING), POL_OFF__FIXED + 1);
    assert_string_equal(pol_symtab_name(&st, POL_S_REGION, POL_REGION__FIXED), "j");
    assert_string_equal(pol_expr_source(a), "request.project == 'x'");
    pol_expr_free(a);
    pol_expr_free(b);
    pol_expr_free(c);
    pol_symtab_fini(&st);
}

static void test_explain(void **state)
{
    (void)state;
    struct world w;
    struct pol_expr *e;
    struct pol_expr_error pe;
    char buf[128];
    pol_symtab_init(&w.st);
    assert_int_equal(pol_expr_parse("cloud.name == 'aws' && (region.labels.jurisdiction == 'US' "
                                    "|| request.gpus > 3) && offering.vcpus > 1",
                                    &w.st, &e, &pe),
                     0);
    fill(&w);
    assert_false(pol_expr_true(e, &w.env));
    pol_expr_explain(e, &w.env, buf, sizeof(buf));
    assert_string_equal(buf, "(region.labels.jurisdiction == 'US' || request.gpus > 3)");
    pol_expr_free(e);
    assert_int_equal(pol_expr_parse("cloud.name == 'home'", &w.st, &e, &pe), 0);
    pol_expr_explain(e, &w.env, buf, sizeof(buf));
    assert_string_equal(buf, "cloud.name == 'home'");
    pol_expr_free(e);
    pol_symtab_fini(&w.st);
}

static void test_parse_errors(void **state)
{
    (void)state;
    char msg[256];
    assert_int_equal(parse_error("region.labels.j = 'EU'", msg, sizeof(msg)), 17);
    assert_non_null(strstr(msg, "'=='"));
    assert_int_equal(parse_error("region.labels.j == ", msg, sizeof(msg)), 20);
    assert_non_null(strstr(msg, "expected a value"));
    assert_int_equal(parse_error("cloud.zone == 'x'", msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "unknown field 'cloud.zone'"));
    assert_int_equal(parse_error("clod.name == 'x'", msg, sizeof(msg)), 1);
    assert_int_equal(parse_error("EU == region.name", msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "quoted"));
    assert_int_equal(parse_error("region.name == 'EU", msg, sizeof(msg)), 16);
    assert_non_null(strstr(msg, "unterminated"));
    assert_int_equal(parse_error("(cloud.name == 'x'", msg, sizeof(msg)), 19);
    assert_non_null(strstr(msg, "column 1"));
    assert_int_equal(parse_error("cloud.name == 'x')", msg, sizeof(msg)), 18);
    assert_int_equal(parse_error("offering.vcpus == 'two'", msg, sizeof(msg)), 16);
    assert_non_null(strstr(msg, "always false"));
    assert_int_equal(parse_error("offering.vcpus < null", msg, sizeof(msg)), 16);
    assert_int_equal(parse_error("1 < 2 < 3", msg, sizeof(msg)), 7);
    assert_int_equal(parse_error("offering.vcpus && true", msg, sizeof(msg)), 1);
    assert_int_equal(parse_error("offering.vcpus", msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "not a condition"));
    assert_int_equal(parse_error("", msg, sizeof(msg)), 1);
    assert_int_equal(parse_error("0.1234567 < 1", msg, sizeof(msg)), 1);
    assert_int_equal(parse_error("cloud.name in ('a')", msg, sizeof(msg)), 15);
    assert_int_equal(parse_error("cloud.name in ['a' 'b']", msg, sizeof(msg)), 20);
    assert_int_equal(parse_error("cloud.name in [cloud.kind]", msg, sizeof(msg)), 16);
    assert_int_equal(parse_error("cloud.name == 'a' & true", msg, sizeof(msg)), 19);
    assert_int_equal(parse_error("cloud.name == 'a' # x", msg, sizeof(msg)), 19);
    assert_int_equal(parse_error("'a\\n' == cloud.name", msg, sizeof(msg)), 3);
    /* nesting is bounded */
    char deep[400];
    memset(deep, '(', 200);
    snprintf(deep + 200, sizeof(deep) - 200, "true");
    memset(deep + 204, ')', 195);
    deep[399] = '\0';
    parse_error(deep, msg, sizeof(msg));
    assert_non_null(strstr(msg, "nested too deeply"));
    char bang[300];
    memset(bang, '!', 290);
    snprintf(bang + 290, sizeof(bang) - 290, "true");
    parse_error(bang, msg, sizeof(msg));
}

static void test_value_format(void **state)
{
    (void)state;
    char buf[64];
    struct pol_value v = pol_value_num(92000);
    assert_string_equal(pol_value_format(&v, buf, sizeof(buf)), "0.092");
    v = pol_value_num(-2 * POL_MICRO);
    assert_string_equal(pol_value_format(&v, buf, sizeof(buf)), "-2");
    v = pol_value_str("EU");
    assert_string_equal(pol_value_format(&v, buf, sizeof(buf)), "\"EU\"");
    v = pol_value_null();
    assert_string_equal(pol_value_format(&v, buf, sizeof(buf)), "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_in),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_strings_escapes),
        cmocka_unit_test(test_deps_and_slots),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_value_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
