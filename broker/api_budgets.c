/*
 * api_budgets.c - the native API's budgets, the usage cross-check and the test clock
 * (docs/openapi.yaml, docs/billing.md):
 *   GET  /v1/budgets                     budgets with this month's spend, percent and alerts
 *                                        (admins: every project, or ?project=; others: their
 *                                        project)
 *   GET  /v1/budgets/{project}/alerts    the project's alerts (?month=YYYY-MM), newest first
 *   POST /v1/budgets/check               admin: check the thresholds now; the alerts raised
 *   GET  /v1/clouds/{name}/usage-check   admin: Nephele's hours against the cloud's own usage
 *   GET|PUT /v1/clock                    admin, NEPHELE_FAULT_INJECTION=1 only: the broker's
 *                                        clock, shifted by tests
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "billing_crosscheck.h"
#include "budget.h"
#include "nph_clock.h"
#include "pol_time.h"

struct who {
    int admin;
    const char *project; /* the token's project, or NULL */
    struct fed_caller caller;
};

static int begin(struct http_req *req, struct who *w, struct nph_error *err)
{
    memset(w, 0, sizeof(*w));
    if (app_authenticate(req, err))
        return -1;
    const struct ident_token *t = req->auth;
    w->admin = ident_token_is_admin(t);
    w->project = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : NULL;
    w->caller.project_id = w->project ? w->project : "";
    w->caller.user_id = t->user_id;
    w->caller.is_admin = w->admin;
    w->caller.request_id = req->request_id;
    return 0;
}

static int need_admin(const struct who *w, struct nph_error *err)
{
    return w->admin ? 0
                    : nph_error_set(err, NPH_E_FORBIDDEN, "this operation is for administrators");
}

static int reply(struct http_resp *resp, int status, json_t *body, struct nph_error *err)
{
    if (!body)
        return err->code ? -1 : nph_error_nomem(err);
    return http_resp_json(resp, status, body) ? nph_error_nomem(err) : 0;
}

static int budgets_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    struct who w;
    if (begin(req, &w, err))
        return -1;
    const char *project = http_req_query(req, "project");
    if (project && !*project)
        project = NULL;
    if (!w.admin) {
        if (!w.project)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "budgets need a project-scoped or an admin token");
        if (project && strcmp(project, w.project) != 0)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "the budgets of project '%.64s' are not yours to see", project);
        project = w.project;
    }
    return reply(resp, 200, budget_list(app->budget, project, err), err);
}

static int budgets_alerts(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    struct who w;
    if (begin(req, &w, err))
        return -1;
    const char *project = req->params[0];
    if (!w.admin && (!w.project || strcmp(project, w.project) != 0))
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "the alerts of project '%.64s' are not yours to see", project);
    const char *month = http_req_query(req, "month");
    return reply(resp, 200,
                 budget_alerts(app->budget, project, month && *month ? month : NULL, err), err);
}

static int budgets_check(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    struct who w;
    if (begin(req, &w, err) || need_admin(&w, err))
        return -1;
    json_t *raised = json_array();
    if (!raised)
        return nph_error_nomem(err);
    if (budget_check(app->budget, raised, err) != 0) {
        json_decref(raised);
        return -1;
    }
    return reply(resp, 200, json_pack("{s:o}", "raised", raised), err);
}

/* A time argument (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ). */
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

static int usage_check(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    struct who w;
    if (begin(req, &w, err) || need_admin(&w, err))
        return -1;
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC, from, to;
    int64_t y;
    int m, d;
    pol_time_to_civil(now, &y, &m, &d);
    if (query_time(req, "from", pol_time_from_civil(y, m, 1, 0, 0, 0), &from, err) ||
        query_time(req, "to", now, &to, err))
        return -1;
    if (to <= from)
        return nph_error_set(err, NPH_E_INVALID, "'to' must come after 'from'");
    json_t *doc = billing_crosscheck(app, &w.caller, req->params[0], from, to, err);
    return reply(resp, 200, doc ? json_pack("{s:o}", "usage_check", doc) : NULL, err);
}

/* ---- the test clock ----------------------------------------------------------------------- */

static _Atomic long long clock_offset_s; /* what PUT /v1/clock set, for GET */

static int clock_allowed(struct http_req *req, struct who *w, struct nph_error *err)
{
    const char *fi = getenv("NEPHELE_FAULT_INJECTION");
    if (begin(req, w, err) || need_admin(w, err))
        return -1;
    if (!fi || strcmp(fi, "1") != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "the test clock is off (NEPHELE_FAULT_INJECTION=1 turns it on)");
    return 0;
}

static json_t *clock_doc(void)
{
    char now[32];
    nph_time_format(nph_clock_now(), 0, now, sizeof(now));
    return json_pack("{s:{s:s,s:I}}", "clock", "now", now, "offset", (json_int_t)clock_offset_s);
}

static int clock_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct who w;
    if (clock_allowed(req, &w, err))
        return -1;
    return reply(resp, 200, clock_doc(), err);
}

/* {"clock": {"now": "2026-11-10T00:00:00Z"}} (the clock runs on from there),
 * {"clock": {"offset": seconds}}, or {"clock": null} (the real time). */
static int clock_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct who w;
    json_t *body;
    if (clock_allowed(req, &w, err) || !(body = http_req_json(req, err)))
        return -1;
    json_t *c = json_object_get(body, "clock");
    const char *now = json_string_value(json_object_get(c, "now"));
    json_t *off = json_object_get(c, "offset");
    long long offset = 0;
    int rc = 0;
    if (json_is_null(c) && json_object_get(body, "clock")) {
        offset = 0;
    } else if (now) {
        int64_t t;
        if (pol_time_parse(now, &t) < 0)
            rc = nph_error_set(err, NPH_E_INVALID,
                               "'clock.now' must be YYYY-MM-DDTHH:MM:SSZ, got '%.64s'", now);
        else
            offset = t - (nph_clock_now() / NPH_USEC_PER_SEC - clock_offset_s);
    } else if (json_is_integer(off)) {
        offset = json_integer_value(off);
    } else {
        rc = nph_error_set(err, NPH_E_INVALID,
                           "the body is {\"clock\": {\"now\": TIME} | {\"offset\": SECONDS} | "
                           "null}");
    }
    json_decref(body);
    if (rc)
        return -1;
    clock_offset_s = offset;
    nph_clock_set_offset((int64_t)offset * NPH_USEC_PER_SEC);
    return reply(resp, 200, clock_doc(), err);
}

const struct http_route api_budgets_routes[] = {
    {"GET", "/v1/budgets", budgets_list, "v1.budgets.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/budgets/check", budgets_check, "v1.budgets.check", NPH_FAULT_NATIVE},
    {"GET", "/v1/budgets/{project}/alerts", budgets_alerts, "v1.budgets.alerts", NPH_FAULT_NATIVE},
    {"GET", "/v1/clouds/{name}/usage-check", usage_check, "v1.clouds.usage_check",
     NPH_FAULT_NATIVE},
    {"GET", "/v1/clock", clock_get, "v1.clock.get", NPH_FAULT_NATIVE},
    {"PUT", "/v1/clock", clock_put, "v1.clock.put", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
