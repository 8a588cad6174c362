/*
 * test_pol_rate.c - rating: interval derivation (resize, stop/start with and without
 * bill_stopped, a price change in mid-interval, hour granularity, intervals crossing the report
 * boundary, open intervals), volumes per GB-month, FX with the dated table (both directions,
 * missing rate), half-even rounding per line to the currency's minor unit (EUR, KRW), the
 * adding-up rule, the JSON-lines reader and its errors, the catalog's errors and the JSON, CSV
 * and HTML renderings.
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

static const char config_yaml[] =
    "currency: EUR\n"
    "exchange_rates:\n"
    "  - { from: USD, to: EUR, rate: \"0.9\", date: \"2026-11-01\" }\n"
    "  - { from: USD, to: EUR, rate: \"0.8\", date: \"2026-11-02\" }\n"
    "  - { from: EUR, to: KRW, rate: \"1500\", date: \"2026-01-01\" }\n"
    "clouds:\n"
    "  - name: home\n"
    "    kind: local\n"
    "    prices:\n"
    "      volume_gb_month: { amount: \"0.10\", currency: EUR }\n"
    "    offerings:\n"
    "      - { name: small, vcpus: 1, ram_mb: 1024, price: { per_hour: \"1.00\" } }\n"
    "      - { name: large, vcpus: 4, ram_mb: 8192, price: { per_hour: \"2.00\" } }\n"
    "      - { name: tiny, vcpus: 1, ram_mb: 512, price: { per_hour: \"0.01\" } }\n"
    "      - name: m1.medium\n"
    "        vcpus: 2\n"
    "        ram_mb: 4096\n"
    "        price:\n"
    "          - { per_hour: \"0.040\", currency: EUR, until: \"2026-11-15T00:00:00Z\" }\n"
    "          - { per_hour: \"0.050\", currency: EUR, from: \"2026-11-15T00:00:00Z\" }\n"
    "  - name: hourly\n"
    "    billing: { granularity: hour, bill_stopped: true }\n"
    "    offerings:\n"
    "      - { name: small, vcpus: 1, ram_mb: 1024, price: { per_hour: \"1.00\" } }\n"
    "  - name: us\n"
    "    offerings:\n"
    "      - { name: small, vcpus: 1, ram_mb: 1024, price: { per_hour: \"1.00\", currency: USD } "
    "}\n";

static struct pol_catalog *catalog(const char *yaml, struct nph_error *err)
{
    json_t *doc = nph_yaml_to_json("config.yaml", yaml, strlen(yaml), err);
    json_t *lines = pol_yaml_lines(yaml, strlen(yaml));
    struct pol_catalog *c = doc ? pol_catalog_from_config(doc, lines, "config.yaml", err) : NULL;
    json_decref(doc);
    json_decref(lines);
    return c;
}

static int64_t T(const char *s)
{
    int64_t t = 0;
    assert_int_equal(pol_time_parse(s, &t), 0);
    return t;
}

/* Rate the JSON-lines `events` over [from, to) grouped by `group`; NULL with err on failure. */
static struct pol_bill *rate(const char *events, const char *from, const char *to,
                             const char *currency, const char *group, struct nph_error *err)
{
    struct nph_error e2 = NPH_ERROR_INIT;
    struct pol_catalog *c = catalog(config_yaml, &e2);
    struct pol_uevents ev;
    struct pol_bill *b = NULL;
    struct pol_bill_query q = {T(from), T(to), T(to), currency, 0};
    if (!c)
        fail_msg("config: %s", e2.msg);
    assert_int_equal(pol_group_parse(group, &q.group_by, &e2), 0);
    pol_uevents_init(&ev);
    if (pol_uevents_parse(&ev, "events.jsonl", events, strlen(events), &e2) < 0)
        fail_msg("events: %s", e2.msg);
    if (pol_bill_rate(c, &ev, &q, &b, err) < 0)
        b = NULL;
    pol_uevents_fini(&ev);
    pol_catalog_free(c);
    return b;
}

static struct pol_bill *rate_ok(const char *events, const char *from, const char *to,
                                const char *currency, const char *group)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_bill *b = rate(events, from, to, currency, group, &err);
    if (!b)
        fail_msg("rate: %s", err.msg);
    return b;
}

static const char *money(const struct pol_bill *b, int64_t v)
{
    static char buf[4][64];
    static int k;
    k = (k + 1) % 4;
    return pol_money_format(v, b->digits, buf[k], sizeof(buf[k]));
}

/* The line of (project-or-NULL, offering-or-NULL); fails the test when absent. */
static const struct pol_bill_line *line_of(const struct pol_bill *b, const char *project,
                                           const char *offering)
{
    for (size_t i = 0; i < b->nlines; i++) {
        const struct pol_bill_line *l = &b->lines[i];
        if ((!project || (l->project && !strcmp(l->project, project))) &&
            (!offering || (l->offering && !strcmp(l->offering, offering))))
            return l;
    }
    fail_msg("no line %s/%s", project ? project : "*", offering ? offering : "*");
    return NULL;
}

#define EV(ts, kind, res, cloud, off)                                                              \
    "{\"ts\":\"" ts "\",\"event\":\"" kind "\",\"resource\":\"" res                                \
    "\",\"type\":\"server\",\"project\":\"p1\",\"cloud\":\"" cloud "\",\"region\":\"r1\","         \
    "\"offering\":\"" off "\"}\n"

static void test_resize(void **state)
{
    (void)state;
    /* small 00:00-02:00 = 2 h x 1.00 = 2.00; large 02:00-03:30 = 1.5 h x 2.00 = 3.00. */
    struct pol_bill *b =
        rate_ok(EV("2026-11-03T00:00:00Z", "created", "s1", "home", "small")
                    EV("2026-11-03T02:00:00Z", "resized", "s1", "home", "large")
                        EV("2026-11-03T03:30:00Z", "deleted", "s1", "home", "large"),
                "2026-11-01", "2026-12-01", NULL, "offering");
    char q[32];
    assert_int_equal(b->nlines, 2);
    assert_string_equal(money(b, line_of(b, NULL, "small")->amount), "2.00");
    assert_string_equal(pol_bill_quantity(line_of(b, NULL, "small"), q, sizeof(q)), "2");
    assert_string_equal(money(b, line_of(b, NULL, "large")->amount), "3.00");
    assert_string_equal(pol_bill_quantity(line_of(b, NULL, "large"), q, sizeof(q)), "1.5");
    assert_string_equal(money(b, b->total), "5.00");
    pol_bill_free(b);
}

static void test_stop_start(void **state)
{
    (void)state;
    /* home: running 00:00-01:00 and 03:00-04:00 = 2 h; stopped time is free. */
    const char *ev = EV("2026-11-03T00:00:00Z", "created", "s1", "home", "small")
        EV("2026-11-03T01:00:00Z", "stopped", "s1", "home", "small")
            EV("2026-11-03T03:00:00Z", "started", "s1", "home", "small")
                EV("2026-11-03T04:00:00Z", "deleted", "s1", "home", "small");
    struct pol_bill *b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "cloud");
    assert_string_equal(money(b, b->total), "2.00");
    pol_bill_free(b);
    /* hourly has bill_stopped: true, so the whole 4 h count. */
    ev = EV("2026-11-03T00:00:00Z", "created", "s2", "hourly", "small")
        EV("2026-11-03T01:00:00Z", "stopped", "s2", "hourly", "small")
            EV("2026-11-03T03:00:00Z", "started", "s2", "hourly", "small")
                EV("2026-11-03T04:00:00Z", "deleted", "s2", "hourly", "small");
    b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "cloud");
    assert_string_equal(money(b, b->total), "4.00");
    pol_bill_free(b);
}

static void test_price_change(void **state)
{
    (void)state;
    /* 11-14T12:00 to 11-15T12:00: 12 h x 0.040 + 12 h x 0.050 = 0.48 + 0.60 = 1.08. A report of
     * November still prices the first half at the old price (re-rating uses the prices valid at
     * the time of use). */
    struct pol_bill *b =
        rate_ok(EV("2026-11-14T12:00:00Z", "created", "s1", "home", "m1.medium")
                    EV("2026-11-15T12:00:00Z", "deleted", "s1", "home", "m1.medium"),
                "2026-11-01", "2026-12-01", NULL, "offering");
    assert_int_equal(b->nlines, 1);
    assert_int_equal(b->lines[0].raw, 1080000);
    assert_string_equal(money(b, b->total), "1.08");
    /* The daily line has the two days: 0.48 and 0.60. */
    assert_int_equal(b->ndays, 30);
    assert_int_equal(b->daily[13], 480000);
    assert_int_equal(b->daily[14], 600000);
    pol_bill_free(b);
}

static void test_hour_granularity(void **state)
{
    (void)state;
    /* 1 s rounds up to 1 h; 1 h 0 min 1 s to 2 h: 3 hours at 1.00. The same on the per-second
     * cloud costs 1 s + 3601 s = 3602 s = 1.000555... -> 1.00. */
    const char *hourly = EV("2026-11-03T00:00:00Z", "created", "a", "hourly", "small")
        EV("2026-11-03T00:00:01Z", "deleted", "a", "hourly", "small")
            EV("2026-11-03T05:00:00Z", "created", "b", "hourly", "small")
                EV("2026-11-03T06:00:01Z", "deleted", "b", "hourly", "small");
    struct pol_bill *b = rate_ok(hourly, "2026-11-01", "2026-12-01", NULL, "");
    char q[32];
    assert_string_equal(money(b, b->total), "3.00");
    assert_string_equal(pol_bill_quantity(&b->lines[0], q, sizeof(q)), "3");
    pol_bill_free(b);
    const char *secs = EV("2026-11-03T00:00:00Z", "created", "a", "home", "small")
        EV("2026-11-03T00:00:01Z", "deleted", "a", "home", "small")
            EV("2026-11-03T05:00:00Z", "created", "b", "home", "small")
                EV("2026-11-03T06:00:01Z", "deleted", "b", "home", "small");
    b = rate_ok(secs, "2026-11-01", "2026-12-01", NULL, "");
    assert_int_equal(b->lines[0].usage, 3602);
    assert_int_equal(b->lines[0].raw, 1000556); /* 3602/3600, half-even per piece */
    assert_string_equal(money(b, b->total), "1.00");
    pol_bill_free(b);
}

static void test_report_boundary(void **state)
{
    (void)state;
    /* 10-31T22:00 to 11-01T02:00: October gets 2 h, November 2 h; together the whole 4 h. */
    const char *ev = EV("2026-10-31T22:00:00Z", "created", "s1", "home", "small")
        EV("2026-11-01T02:00:00Z", "deleted", "s1", "home", "small");
    struct pol_bill *b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "");
    assert_string_equal(money(b, b->total), "2.00");
    pol_bill_free(b);
    b = rate_ok(ev, "2026-10-01", "2026-11-01", NULL, "");
    assert_string_equal(money(b, b->total), "2.00");
    pol_bill_free(b);
    /* Hour granularity rounds the interval before it is cut: 22:30-00:10 is 1 h 40 min, billed
     * 2 h from 22:30, so 1.5 h in October and 0.5 h in November (adjacent reports add up). */
    ev = EV("2026-10-31T22:30:00Z", "created", "s2", "hourly", "small")
        EV("2026-11-01T00:10:00Z", "deleted", "s2", "hourly", "small");
    b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "");
    assert_string_equal(money(b, b->total), "0.50");
    pol_bill_free(b);
    b = rate_ok(ev, "2026-10-01", "2026-11-01", NULL, "");
    assert_string_equal(money(b, b->total), "1.50");
    pol_bill_free(b);
    /* Still running: billed to the end of the report (open_end). */
    b = rate_ok(EV("2026-11-30T20:00:00Z", "created", "s3", "home", "small"), "2026-11-01",
                "2026-12-01", NULL, "");
    assert_string_equal(money(b, b->total), "4.00");
    pol_bill_free(b);
    /* Events after the report's end are ignored. */
    b = rate_ok(EV("2026-12-02T00:00:00Z", "created", "s4", "home", "small"), "2026-11-01",
                "2026-12-01", NULL, "");
    assert_int_equal(b->nlines, 0);
    assert_string_equal(money(b, b->total), "0.00");
    pol_bill_free(b);
}

static void test_volume(void **state)
{
    (void)state;
    /* 100 GB x 73 h = 100 x 0.1 GB-month x 0.10 = 1.00; resized to 200 GB for 36.5 h: 1.00. */
    const char *ev =
        "{\"ts\":\"2026-11-02T00:00:00Z\",\"event\":\"created\",\"resource\":\"v1\",\"type\":"
        "\"volume\",\"project\":\"p1\",\"cloud\":\"home\",\"region\":null,\"offering\":null,"
        "\"size_gb\":100}\n"
        "{\"ts\":\"2026-11-05T01:00:00Z\",\"event\":\"resized\",\"resource\":\"v1\",\"type\":"
        "\"volume\",\"project\":\"p1\",\"cloud\":\"home\",\"size_gb\":200}\n"
        "{\"ts\":\"2026-11-06T13:30:00Z\",\"event\":\"deleted\",\"resource\":\"v1\",\"type\":"
        "\"volume\",\"project\":\"p1\",\"cloud\":\"home\"}\n";
    struct pol_bill *b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "project");
    char q[32];
    assert_int_equal(b->nlines, 1);
    assert_int_equal(b->lines[0].type, POL_RT_VOLUME);
    assert_string_equal(pol_bill_unit(b->lines[0].type), "GB-month");
    assert_string_equal(pol_bill_quantity(&b->lines[0], q, sizeof(q)), "20");
    assert_string_equal(money(b, b->total), "2.00");
    pol_bill_free(b);
}

static void test_fx(void **state)
{
    (void)state;
    /* USD 1.00/h from 11-01T12:00 to 11-02T12:00: 12 h at 0.9 + 12 h at 0.8 = 20.40 EUR. */
    const char *ev = EV("2026-11-01T12:00:00Z", "created", "s1", "us", "small")
        EV("2026-11-02T12:00:00Z", "deleted", "s1", "us", "small");
    struct pol_bill *b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "cloud");
    assert_string_equal(b->currency, "EUR");
    assert_string_equal(money(b, b->total), "20.40");
    pol_bill_free(b);
    /* The same in USD: no conversion at all, 24.00. */
    b = rate_ok(ev, "2026-11-01", "2026-12-01", "USD", "cloud");
    assert_string_equal(money(b, b->total), "24.00");
    pol_bill_free(b);
    /* EUR prices in USD use the USD->EUR rates inversely: 2 h x 1.00 EUR / 0.8 = 2.50 USD. */
    b = rate_ok(EV("2026-11-03T00:00:00Z", "created", "s2", "home", "small")
                    EV("2026-11-03T02:00:00Z", "deleted", "s2", "home", "small"),
                "2026-11-01", "2026-12-01", "USD", "");
    assert_string_equal(money(b, b->total), "2.50");
    pol_bill_free(b);
    /* Before the first USD rate: an error naming the pair and the day. */
    struct nph_error err = NPH_ERROR_INIT;
    b = rate(EV("2026-10-31T12:00:00Z", "created", "s3", "us", "small"), "2026-10-31", "2026-11-01",
             NULL, "", &err);
    assert_null(b);
    assert_non_null(strstr(err.msg, "no exchange rate from USD to EUR"));
    assert_non_null(strstr(err.msg, "2026-10-31"));
}

static void test_rounding_and_adding_up(void **state)
{
    (void)state;
    /* tiny 0.01/h: 30 min = 0.005 -> 0.00 (half-even to the even cent), 90 min = 0.015 -> 0.02. */
    struct pol_bill *b = rate_ok(EV("2026-11-03T00:00:00Z", "created", "a", "home", "tiny")
                                     EV("2026-11-03T00:30:00Z", "deleted", "a", "home", "tiny"),
                                 "2026-11-01", "2026-12-01", NULL, "");
    assert_int_equal(b->lines[0].raw, 5000);
    assert_string_equal(money(b, b->total), "0.00");
    pol_bill_free(b);
    b = rate_ok(EV("2026-11-03T00:00:00Z", "created", "a", "home", "tiny")
                    EV("2026-11-03T01:30:00Z", "deleted", "a", "home", "tiny"),
                "2026-11-01", "2026-12-01", NULL, "");
    assert_string_equal(money(b, b->total), "0.02");
    pol_bill_free(b);
    /* Three projects 20 min each of small: 0.333333 each -> three lines of 0.33, total 0.99
     * (the sum of the rounded lines, not the rounded sum 1.00). */
    const char *ev =
        "{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":\"a\",\"type\":"
        "\"server\",\"project\":\"pa\",\"cloud\":\"home\",\"offering\":\"small\"}\n"
        "{\"ts\":\"2026-11-03T00:20:00Z\",\"event\":\"deleted\",\"resource\":\"a\",\"type\":"
        "\"server\",\"project\":\"pa\",\"cloud\":\"home\",\"offering\":\"small\"}\n"
        "{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":\"b\",\"type\":"
        "\"server\",\"project\":\"pb\",\"cloud\":\"home\",\"offering\":\"small\"}\n"
        "{\"ts\":\"2026-11-03T00:20:00Z\",\"event\":\"deleted\",\"resource\":\"b\",\"type\":"
        "\"server\",\"project\":\"pb\",\"cloud\":\"home\",\"offering\":\"small\"}\n"
        "{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":\"c\",\"type\":"
        "\"server\",\"project\":\"pc\",\"cloud\":\"home\",\"offering\":\"small\"}\n"
        "{\"ts\":\"2026-11-03T00:20:00Z\",\"event\":\"deleted\",\"resource\":\"c\",\"type\":"
        "\"server\",\"project\":\"pc\",\"cloud\":\"home\",\"offering\":\"small\"}\n";
    b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "project");
    assert_int_equal(b->nlines, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(money(b, b->lines[i].amount), "0.33");
    assert_string_equal(b->lines[0].project, "pa");
    assert_string_equal(b->lines[2].project, "pc");
    assert_string_equal(money(b, b->total), "0.99");
    pol_bill_free(b);
    /* Grouped by nothing the three merge into one line: 0.999999 -> 1.00. */
    b = rate_ok(ev, "2026-11-01", "2026-12-01", NULL, "");
    assert_int_equal(b->nlines, 1);
    assert_string_equal(money(b, b->total), "1.00");
    pol_bill_free(b);
    /* KRW has no minor unit: tiny for 18 min = 0.003 EUR x 1500 = 4.5 KRW -> 4 (half-even). */
    b = rate_ok(EV("2026-11-03T00:00:00Z", "created", "a", "home", "tiny")
                    EV("2026-11-03T00:18:00Z", "deleted", "a", "home", "tiny"),
                "2026-11-01", "2026-12-01", "KRW", "");
    assert_int_equal(b->digits, 0);
    assert_int_equal(b->lines[0].raw, 4500000);
    assert_string_equal(money(b, b->total), "4");
    pol_bill_free(b);
    assert_int_equal(pol_currency_digits("JPY"), 0);
    assert_int_equal(pol_currency_digits("USD"), 2);
}

static void test_errors(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct pol_bill *b;
    b = rate(EV("2026-11-03T00:00:00Z", "created", "s1", "mars", "small"), "2026-11-01",
             "2026-12-01", NULL, "", &err);
    assert_null(b);
    assert_non_null(strstr(err.msg, "cloud 'mars' is not in the price catalog"));
    b = rate(EV("2026-11-03T00:00:00Z", "created", "s1", "home", "huge"), "2026-11-01",
             "2026-12-01", NULL, "", &err);
    assert_null(b);
    assert_non_null(strstr(err.msg, "offering 'huge' of cloud 'home'"));
    unsigned m;
    assert_int_equal(pol_group_parse("project,colour", &m, &err), -1);
    assert_non_null(strstr(err.msg, "'colour'"));
    assert_int_equal(pol_group_parse("project,cloud,region,offering", &m, &err), 0);
    assert_int_equal(m, 31u);
}

static void test_jsonl(void **state)
{
    (void)state;
    struct pol_uevents ev;
    struct nph_error err = NPH_ERROR_INIT;
    const char *good = EV("2026-11-03T00:00:00Z", "created", "s1", "home", "small") "  \n";
    pol_uevents_init(&ev);
    assert_int_equal(pol_uevents_parse(&ev, "f.jsonl", good, strlen(good), &err), 0);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.v[0].ts, T("2026-11-03T00:00:00Z"));
    assert_string_equal(ev.v[0].region, "r1");
    /* The round trip. */
    json_t *j = pol_uevent_to_json(&ev.v[0]);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":"
                           "\"s1\",\"type\":\"server\",\"project\":\"p1\",\"cloud\":\"home\","
                           "\"region\":\"r1\",\"offering\":\"small\"}");
    free(s);
    json_decref(j);
    /* All or nothing: line 3 is bad, nothing of lines 1-2 is kept; the message names the line. */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"ts\":\"2026-11-03\",\"event\":\"created\",\"resource\":\"x\",\"type\":\"server\","
         "\"project\":\"p\",\"cloud\":\"c\",\"offering\":\"o\"}",
         "f.jsonl:3: 'ts' must be an RFC 3339 time"},
        {"{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"exploded\",\"resource\":\"x\",\"type\":"
         "\"server\",\"project\":\"p\",\"cloud\":\"c\"}",
         "f.jsonl:3: 'event' must be"},
        {"{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":\"x\",\"type\":"
         "\"volume\",\"project\":\"p\",\"cloud\":\"c\"}",
         "f.jsonl:3: 'size_gb' is required for a volume created event"},
        {"{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"resource\":\"x\",\"type\":"
         "\"server\",\"project\":\"p\",\"cloud\":\"c\",\"colour\":1}",
         "f.jsonl:3: unknown key 'colour'"},
        {"{\"ts\":\"2026-11-03T00:00:00Z\",\"event\":\"created\",\"type\":\"server\","
         "\"project\":\"p\",\"cloud\":\"c\",\"offering\":\"o\"}",
         "f.jsonl:3: 'resource' is required"},
        {"{\"event\":\"sample\",\"meter\":\"cpu\",\"value\":1}", "f.jsonl:3: sample lines"},
        {"not json", "f.jsonl:3: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s%s\n", good, bad[i].text);
        assert_int_equal(pol_uevents_parse(&ev, "f.jsonl", buf, strlen(buf), &err), -1);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, bad[i].msg);
        assert_int_equal(ev.n, 1);
    }
    pol_uevents_fini(&ev);
}

static void test_catalog_errors(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"clouds:\n  - name: a\n    billing: { granularity: minute }\n",
         "config.yaml:3: clouds[0].billing: 'granularity' must be second or hour"},
        {"clouds:\n  - name: a\n    billing:\n      bill_stopped: maybe\n",
         "clouds[0].billing: 'bill_stopped' must be true or false"},
        {"clouds:\n  - name: a\n    prices:\n      volume_gb_month: { amount: 0.1 }\n",
         "config.yaml:4: clouds[0].prices.volume_gb_month: 'amount' must be"},
        {"clouds:\n  - name: a\n    prices:\n      gold_bars: { amount: \"1\" }\n",
         "unknown key 'gold_bars'"},
        {"clouds:\n  - name: a\n    prices:\n      egress_gb:\n        - { amount: \"1\", from: "
         "\"2026-02-01\", until: \"2026-01-01\" }\n",
         "'until' must come after 'from'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pol_catalog *c = catalog(bad[i].yaml, &err);
        assert_null(c);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, bad[i].msg);
    }
    /* Dated meter prices split like offerings' prices. */
    struct pol_catalog *c = catalog("clouds:\n  - name: a\n    prices:\n      volume_gb_month:\n"
                                    "        - { amount: \"0.10\", until: \"2026-11-15\" }\n"
                                    "        - { amount: \"0.20\", from: \"2026-11-15\" }\n",
                                    &err);
    if (!c)
        fail_msg("%s", err.msg);
    assert_int_equal(c->clouds[0].nprices[POL_M_VOLUME_GB_MONTH], 2);
    assert_int_equal(c->clouds[0].prices[POL_M_VOLUME_GB_MONTH][1].amount, 200000);
    pol_catalog_free(c);
}

static void test_renderings(void **state)
{
    (void)state;
    struct pol_bill *b = rate_ok(EV("2026-11-03T00:00:00Z", "created", "s1", "home", "small")
                                     EV("2026-11-03T02:00:00Z", "deleted", "s1", "home", "small"),
                                 "2026-11-01", "2026-12-01", NULL, "project,cloud");
    json_t *j = pol_bill_to_json(b);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"from\":\"2026-11-01T00:00:00Z\",\"to\":\"2026-12-01T00:00:00Z\","
                           "\"currency\":\"EUR\",\"total\":\"2.00\",\"lines\":[{\"project\":"
                           "\"p1\",\"cloud\":\"home\",\"resource_type\":\"server\",\"quantity\":"
                           "\"2\",\"unit\":\"hour\",\"amount\":\"2.00\"}]}");
    free(s);
    json_decref(j);
    s = pol_bill_to_csv(b);
    assert_string_equal(s, "project,cloud,resource_type,quantity,unit,amount,currency\r\n"
                           "p1,home,server,2,hour,2.00,EUR\r\n");
    free(s);
    s = pol_bill_to_html(b);
    assert_non_null(s);
    assert_non_null(strstr(s, "<span id=\"total\">2.00</span> EUR"));
    assert_non_null(strstr(s, "<svg class=\"bars\""));
    assert_non_null(strstr(s, "<svg class=\"daily\""));
    assert_null(strstr(s, "src=\"http"));
    assert_null(strstr(s, "href=\"http"));
    free(s);
    pol_bill_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_stop_start),
        cmocka_unit_test(test_price_change),
        cmocka_unit_test(test_hour_granularity),
        cmocka_unit_test(test_report_boundary),
        cmocka_unit_test(test_volume),
        cmocka_unit_test(test_fx),
        cmocka_unit_test(test_rounding_and_adding_up),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_catalog_errors),
        cmocka_unit_test(test_renderings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
