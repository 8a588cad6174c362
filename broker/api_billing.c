/*
 * api_billing.c - the native API's billing resources (docs/openapi.yaml, docs/billing.md):
 *   GET /v1/billing/reports?from=&to=&group_by=&currency=&format=json|csv|html
 * A report rates the ledger with the configuration's price catalog (the same rating core as
 * `nephele bill`). Administrators see every project; a project-scoped token sees its project
 * only. Intervals still open end at the earlier of `to` and now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cmd_bill.h"
#include "cmd_usage.h"
#include "nph_clock.h"
#include "pol_rate.h"
#include "pol_time.h"

/* A time query argument; `dflt` when absent. -1 with err naming the argument. */
static int query_time(struct http_req *req, const char *name, int64_t dflt, int64_t *out,
                      struct nph_error *err)
{
    const char *v = http_req_query(req, name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    if (pol_time_parse(v, out) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'%s' must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got '%.64s'", name,
                             v);
    return 0;
}

static int billing_reports(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    const struct ident_token *t;
    const char *project = NULL, *format = http_req_query(req, "format");
    const char *group = http_req_query(req, "group_by");
    struct pol_bill_query q;
    struct pol_catalog *cat = NULL;
    struct pol_bill *bill = NULL;
    struct nph_db *db = NULL;
    char *doc = NULL;
    size_t len = 0;
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC, month0;
    int rc = -1;
    int64_t y;
    int m, d;
    if (app_authenticate(req, err))
        return -1;
    t = req->auth;
    if (!ident_token_is_admin(t)) {
        if (t->scope != IDENT_SCOPE_PROJECT)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "billing reports need a project-scoped or an admin token");
        project = t->scope_id;
    }
    memset(&q, 0, sizeof(q));
    pol_time_to_civil(now, &y, &m, &d);
    month0 = pol_time_from_civil(y, m, 1, 0, 0, 0);
    format = format && *format ? format : "json";
    if (strcmp(format, "json") && strcmp(format, "csv") && strcmp(format, "html"))
        return nph_error_set(err, NPH_E_INVALID, "'format' must be json, csv or html");
    if (query_time(req, "from", month0, &q.from, err) ||
        query_time(req, "to", pol_time_month_end(now), &q.to, err))
        return -1;
    if (q.to <= q.from)
        return nph_error_set(err, NPH_E_INVALID, "'to' must come after 'from'");
    if (pol_group_parse(group && *group ? group : "project,cloud", &q.group_by, err))
        return -1;
    q.currency = http_req_query(req, "currency");
    if (q.currency && !*q.currency)
        q.currency = NULL;
    q.open_end = now < q.to ? now : q.to;
    if (!(cat = pol_catalog_from_config(app->cfg.sections, NULL, "configuration", err)))
        goto cleanup;
    /* PostgreSQL: the usage is aggregated in SQL; SQLite: the events are rated in memory. */
    if (!(db = nph_store_acquire(app->store, err)) || usage_bill(db, cat, &q, project, &bill, err))
        goto cleanup;
    nph_store_release(db);
    db = NULL;
    if (!strcmp(format, "json")) {
        json_t *j = pol_bill_to_json(bill);
        if (!j || http_resp_json(resp, 200, j)) {
            nph_error_nomem(err);
            goto cleanup;
        }
    } else {
        if (bill_render(bill, format, &doc, &len, err))
            goto cleanup;
        free(resp->body);
        resp->body = doc;
        resp->body_len = len;
        resp->content_type =
            !strcmp(format, "csv") ? "text/csv; charset=utf-8" : "text/html; charset=utf-8";
        resp->status = 200;
        doc = NULL;
    }
    rc = 0;
cleanup:
    free(doc);
    nph_store_release(db);
    pol_bill_free(bill);
    pol_catalog_free(cat);
    return rc;
}

const struct http_route api_billing_routes[] = {
    {"GET", "/v1/billing/reports", billing_reports, "v1.billing.reports", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
