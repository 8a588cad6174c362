/*
 * api_meters.c - the native API's metering samples (docs/openapi.yaml, docs/billing.md):
 *   GET /v1/meters                       one entry per resource and meter: the number of
 *                                        samples in [from, to) and the latest one
 *   GET /v1/meters?resource=ID[&meter=M] the samples of one resource, oldest first
 * `from`/`to` (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) default to the last 24 hours; `limit`
 * (1..10000, default 1000) caps the samples returned (then "truncated": true). Administrators
 * see every project; a project-scoped token its own project's resources only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "nph_clock.h"
#include "nph_meter.h"
#include "pol_time.h"

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

static const char *meter_unit(const char *meter)
{
    return strcmp(meter, "cpu") == 0 ? "ns" : "B";
}

static json_t *time_json(int64_t us)
{
    char buf[32];
    int64_t s =
        us >= 0 ? us / NPH_USEC_PER_SEC : -((-us + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC);
    return json_string(pol_time_format(s, buf, sizeof(buf)));
}

struct visit {
    json_t *list;
    int64_t limit, n;
    int per_resource; /* 1: one entry per resource and meter */
    int truncated;
};

static int visit_sample(void *ctx, const struct nph_meter_sample *s, struct nph_error *err)
{
    struct visit *v = ctx;
    json_t *o;
    if (v->per_resource) {
        size_t last = json_array_size(v->list);
        json_t *prev = last ? json_array_get(v->list, last - 1) : NULL;
        if (prev && !strcmp(json_string_value(json_object_get(prev, "resource")), s->resource_id) &&
            !strcmp(json_string_value(json_object_get(prev, "meter")), s->meter)) {
            json_object_set_new(
                prev, "samples",
                json_integer(json_integer_value(json_object_get(prev, "samples")) + 1));
            json_object_set_new(
                prev, "latest",
                json_pack("{s:o,s:I}", "ts", time_json(s->ts), "value", (json_int_t)s->value));
            return 0;
        }
        if (v->n >= v->limit) {
            v->truncated = 1;
            return 1;
        }
        o = json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s,s:I,s:{s:o,s:I}}", "resource", s->resource_id,
                      "type", s->resource_type, "project", s->project_id, "cloud", s->cloud,
                      "meter", s->meter, "unit", meter_unit(s->meter), "samples", (json_int_t)1,
                      "latest", "ts", time_json(s->ts), "value", (json_int_t)s->value);
    } else {
        if (v->n >= v->limit) {
            v->truncated = 1;
            return 1;
        }
        o = json_pack("{s:o,s:s,s:s,s:I,s:I,s:I,s:I}", "ts", time_json(s->ts), "meter", s->meter,
                      "unit", meter_unit(s->meter), "value", (json_int_t)s->value, "period",
                      (json_int_t)s->period, "max", (json_int_t)s->max, "count",
                      (json_int_t)s->count);
    }
    if (!o || json_array_append_new(v->list, o))
        return nph_error_nomem(err);
    v->n++;
    return 0;
}

static int meters_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    const struct ident_token *t;
    const char *project = NULL, *resource = http_req_query(req, "resource");
    const char *meter = http_req_query(req, "meter"), *limit_s = http_req_query(req, "limit");
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC, from, to;
    struct visit v = {0};
    struct nph_db *db = NULL;
    json_t *body = NULL;
    int rc = -1;
    char *end = NULL;
    if (app_authenticate(req, err))
        return -1;
    t = req->auth;
    if (!ident_token_is_admin(t)) {
        if (t->scope != IDENT_SCOPE_PROJECT)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "meters need a project-scoped or an admin token");
        project = t->scope_id;
    }
    if (query_time(req, "from", now - 86400, &from, err) ||
        query_time(req, "to", now + 1, &to, err))
        return -1;
    if (to <= from)
        return nph_error_set(err, NPH_E_INVALID, "'to' must come after 'from'");
    if (from < -(INT64_MAX / NPH_USEC_PER_SEC) || to > INT64_MAX / NPH_USEC_PER_SEC)
        return nph_error_set(err, NPH_E_INVALID, "'from' or 'to' is out of range");
    v.limit = 1000;
    if (limit_s && *limit_s) {
        v.limit = strtoll(limit_s, &end, 10);
        if (*end || v.limit < 1 || v.limit > 10000)
            return nph_error_set(err, NPH_E_INVALID, "'limit' must be an integer in 1..10000");
    }
    if (resource && !*resource)
        return nph_error_set(err, NPH_E_INVALID, "'resource' must not be empty");
    if (meter && !*meter)
        meter = NULL;
    v.per_resource = resource == NULL;
    if (!(v.list = json_array()))
        return nph_error_nomem(err);
    if (!(db = nph_store_acquire(app->store, err)) ||
        nph_meter_scan(db, from * NPH_USEC_PER_SEC, to * NPH_USEC_PER_SEC, resource, project, meter,
                       visit_sample, &v, err) < 0)
        goto cleanup;
    body = resource ? json_pack("{s:s,s:o,s:b}", "resource", resource, "samples", v.list,
                                "truncated", v.truncated)
                    : json_pack("{s:o,s:b}", "meters", v.list, "truncated", v.truncated);
    v.list = NULL;
    if (body) {
        json_object_set_new(body, "from", time_json(from * NPH_USEC_PER_SEC));
        json_object_set_new(body, "to", time_json(to * NPH_USEC_PER_SEC));
    }
    int failed = !body || http_resp_json(resp, 200, body); /* steals body */
    body = NULL;
    if (failed) {
        nph_error_nomem(err);
        goto cleanup;
    }
    body = NULL;
    rc = 0;
cleanup:
    nph_store_release(db);
    json_decref(v.list);
    json_decref(body);
    return rc;
}

const struct http_route api_meters_routes[] = {
    {"GET", "/v1/meters", meters_list, "v1.meters.list", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
