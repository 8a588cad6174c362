/*
 * compat_nova_usage.c - Nova's os-simple-tenant-usage on the Nova-compatible API, computed
 * from the ledger for the native cloud (billing_usage.h has the rule), so that
 * `openstack usage list|show` and a federating broker's cross-check read Nephele as they
 * read Nova:
 *   GET /compute/v2.1/os-simple-tenant-usage?start=&end=&detailed=1   admin: every project
 *   GET /compute/v2.1/os-simple-tenant-usage/{tenant_id}?start=&end=  admin or the project
 * From microversion 2.40 both take `limit` and `marker` (an instance id) and page over
 * instances in the order they were created, with a `tenant_usages_links` /
 * `tenant_usage_links` "next" link when a page is full; before 2.40 every instance is in one
 * answer. Faults are Nova's ({"badRequest": {...}}, "Policy doesn't allow ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "billing_usage.h"
#include "cmd_usage.h"
#include "compat_nova_fed.h"
#include "nph_clock.h"

#define P          "/compute/v2.1"
#define MAX_LIMIT  1000 /* Nova's [api] max_limit default */
#define NOVA_USAGE "os_compute_api:os-simple-tenant-usage:"

struct usage_req {
    struct nph_app *app;
    int minor, detailed, all;
    int64_t from, to; /* UTC microseconds as asked */
    long limit;       /* 0 = none (before 2.40) */
    const char *marker, *tenant;
};

/* Nova's _parse_datetime: empty = now; "%Y-%m-%dT%H:%M:%S", with ".%f", or "%Y-%m-%d
 * %H:%M:%S.%f"; no zone (UTC). */
static int parse_when(const char *v, int64_t now, int64_t *out, struct nph_error *err)
{
    if (!v || !*v) {
        *out = now;
        return 0;
    }
    size_t n = strlen(v);
    int ok = n >= 19 && n <= 26 && v[4] == '-' && v[7] == '-' && (v[10] == 'T' || v[10] == ' ') &&
             v[13] == ':' && v[16] == ':' && (n == 19 || v[19] == '.') &&
             (v[10] == 'T' || n > 19) && !strpbrk(v, "Zz+");
    if (!ok || nph_time_parse(v, out) != 0)
        return nph_error_set(err, NPH_E_INVALID, "Datetime is in invalid format");
    return 0;
}

static void nova_time(int64_t us, char out[32])
{
    nph_time_format(us, 6, out, 32);
    out[strlen(out) - 1] = '\0'; /* Nova's naive UTC: no "Z" */
}

static int flavor_of(void *ctx, const char *name, struct tu_flavor *out)
{
    json_t *list = ctx;
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0) {
            out->vcpus = (unsigned)json_integer_value(json_object_get(f, "vcpus"));
            out->ram_mb = (uint64_t)json_integer_value(json_object_get(f, "ram"));
            out->disk_gb = (uint64_t)(json_integer_value(json_object_get(f, "disk")) +
                                      json_integer_value(json_object_get(f, "ephemeral")));
            return 0;
        }
    }
    return -1;
}

/* {id: name} of every native server, deleted ones included (one query per answer). */
static json_t *server_names(struct nph_app *app)
{
    struct local_compute_caller admin = {.project_id = "", .user_id = "", .is_admin = 1};
    struct local_compute_server_filter flt = {.all_projects = 1, .changes_since = 1};
    struct nph_error err = NPH_ERROR_INIT;
    json_t *list = local_compute_server_list(app->compute, &admin, &flt, &err);
    json_t *names = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (id && names)
            json_object_set(names, id, json_object_get(s, "name"));
    }
    json_decref(list);
    return names;
}

static json_t *server_usage(const json_t *names, const struct tu_server *s, int64_t now_us)
{
    const char *name = json_string_value(json_object_get(names, s->resource));
    char started[32], ended[32];
    nova_time(s->started * NPH_USEC_PER_SEC, started);
    if (s->ended)
        nova_time(s->ended * NPH_USEC_PER_SEC, ended);
    int64_t uptime = s->ended ? s->ended - s->started : now_us / NPH_USEC_PER_SEC - s->started;
    json_t *o = json_pack(
        "{s:s?,s:s,s:f,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:i}", "ended_at", s->ended ? ended : NULL,
        "flavor", s->offering, "hours", tu_hours(s->seconds), "instance_id", s->resource,
        "local_gb", (json_int_t)s->flavor.disk_gb, "memory_mb", (json_int_t)s->flavor.ram_mb,
        "name", name ? name : "", "started_at", started, "state",
        s->ended     ? "terminated"
        : s->stopped ? "stopped"
                     : "active",
        "tenant_id", s->project, "uptime", (json_int_t)uptime, "vcpus", (int)s->flavor.vcpus);
    return o;
}

static int answer(struct http_req *req, struct http_resp *resp, struct usage_req *u,
                  struct nph_error *err)
{
    struct nph_app *app = u->app;
    struct pol_uevents ev;
    struct tu_report r = {0};
    struct local_compute_caller admin = {.project_id = "", .user_id = "", .is_admin = 1};
    json_t *flavors = NULL, *tenants = NULL, *order = NULL, *names = NULL;
    int64_t now = nph_clock_now();
    int rc = -1;
    pol_uevents_init(&ev);
    const char *cloud = fed_local_cloud_name(app->fed);
    struct nph_db *db = nph_store_acquire(app->store, err);
    if (!db || usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC,
                                 (u->to + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC, u->tenant, &ev,
                                 err) != 0)
        goto cleanup;
    nph_store_release(db);
    db = NULL;
    if (!(flavors = local_compute_flavor_list(app->compute, &admin, -1, err)))
        goto cleanup;
    /* seconds: Nova's period is exact to the microsecond, the ledger to the second */
    if (tu_compute(&ev, cloud && *cloud ? cloud : "local", u->tenant, u->from / NPH_USEC_PER_SEC,
                   (u->to + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC, flavor_of, flavors, &r,
                   err) != 0)
        goto cleanup;
    size_t first = 0;
    if (u->marker) {
        size_t k = 0;
        while (k < r.n && strcmp(r.v[k].resource, u->marker) != 0)
            k++;
        if (k == r.n) {
            nph_error_set(err, NPH_E_INVALID, "Marker %.64s could not be found.", u->marker);
            goto cleanup;
        }
        first = k + 1;
    }
    size_t last = r.n;
    if (u->limit > 0 && first + (size_t)u->limit < last)
        last = first + (size_t)u->limit;
    char start_s[32], stop_s[32];
    nova_time(u->from, start_s);
    nova_time(u->to, stop_s);
    tenants = json_object();
    order = json_array();
    names = server_names(app);
    if (!tenants || !order || !names) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (size_t i = first; i < last; i++) {
        const struct tu_server *s = &r.v[i];
        json_t *t = json_object_get(tenants, s->project);
        if (!t) {
            t = json_pack("{s:s,s:f,s:f,s:f,s:f,s:s,s:s,s:[]}", "tenant_id", s->project,
                          "total_local_gb_usage", 0.0, "total_vcpus_usage", 0.0,
                          "total_memory_mb_usage", 0.0, "total_hours", 0.0, "start", start_s,
                          "stop", stop_s, "server_usages");
            if (!t || json_object_set_new(tenants, s->project, t) != 0 ||
                json_array_append_new(order, json_string(s->project)) != 0) {
                nph_error_nomem(err);
                goto cleanup;
            }
        }
        const char *k[] = {"total_local_gb_usage", "total_vcpus_usage", "total_memory_mb_usage",
                           "total_hours"};
        double add[] = {tu_hours(s->gb_s), tu_hours(s->vcpu_s), tu_hours(s->mb_s),
                        tu_hours(s->seconds)};
        for (int x = 0; x < 4; x++)
            json_object_set_new(t, k[x],
                                json_real(json_real_value(json_object_get(t, k[x])) + add[x]));
        json_t *su = server_usage(names, s, now);
        if (!su || json_array_append_new(json_object_get(t, "server_usages"), su) != 0) {
            nph_error_nomem(err);
            goto cleanup;
        }
    }
    json_t *links = NULL;
    if (u->limit > 0 && last > first && last - first == (size_t)u->limit) {
        char href[2048];
        snprintf(href, sizeof(href),
                 "%s" P "/os-simple-tenant-usage%s%s?detailed=%d&end=%s&limit=%ld&marker=%s"
                 "&start=%s",
                 app->cfg.public_url, u->tenant ? "/" : "", u->tenant ? u->tenant : "", u->detailed,
                 stop_s, u->limit, r.v[last - 1].resource, start_s);
        links = json_pack("[{s:s,s:s}]", "href", href, "rel", "next");
    }
    json_t *body;
    if (u->tenant) {
        json_t *t = json_object_get(tenants, u->tenant);
        body = t ? json_pack("{s:O}", "tenant_usage", t) : json_pack("{s:{}}", "tenant_usage");
        if (body && links)
            json_object_set_new(body, "tenant_usage_links", links);
    } else {
        json_t *arr = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(order, i, p)
        {
            json_t *t = json_object_get(tenants, json_string_value(p));
            if (!u->detailed)
                json_object_del(t, "server_usages");
            json_array_append(arr, t);
        }
        body = json_pack("{s:o}", "tenant_usages", arr);
        if (body && links)
            json_object_set_new(body, "tenant_usages_links", links);
    }
    if (!body || http_resp_json(resp, 200, body) != 0) {
        nph_error_nomem(err);
        goto cleanup;
    }
    (void)req;
    rc = 0;
cleanup:
    nph_store_release(db);
    json_decref(flavors);
    json_decref(tenants);
    json_decref(order);
    json_decref(names);
    tu_report_fini(&r);
    pol_uevents_fini(&ev);
    return rc;
}

static int usage_begin(struct http_req *req, struct http_resp *resp, struct usage_req *u,
                       const char *tenant, struct nph_error *err)
{
    memset(u, 0, sizeof(*u));
    u->app = req->app;
    if (nova_request_microversion(req, resp, &u->minor, err) != 0 || app_authenticate(req, err))
        return -1;
    const struct ident_token *t = req->auth;
    int admin = ident_token_is_admin(t);
    if (!admin && (!tenant || t->scope != IDENT_SCOPE_PROJECT || strcmp(t->scope_id, tenant)))
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow " NOVA_USAGE "%s to be performed.",
                             tenant ? "show" : "list");
    u->tenant = tenant;
    int64_t now = nph_clock_now();
    if (parse_when(http_req_query(req, "start"), now, &u->from, err) ||
        parse_when(http_req_query(req, "end"), now, &u->to, err))
        return -1;
    if (!(u->from < u->to))
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid start time. The start time cannot "
                             "occur after the end time.");
    const char *d = http_req_query(req, "detailed");
    u->detailed = d && strcmp(d, "1") == 0;
    if (u->minor >= 40) {
        const char *l = http_req_query(req, "limit");
        u->marker = http_req_query(req, "marker");
        if (u->marker && !*u->marker)
            u->marker = NULL;
        u->limit = MAX_LIMIT;
        if (l) {
            char *end;
            long v = strtol(l, &end, 10);
            if (!*l || *end || v < 0)
                return nph_error_set(err, NPH_E_INVALID,
                                     "Invalid input for query parameters limit. Value: %.32s. "
                                     "'%.32s' is not a 'non-negative integer'",
                                     l, l);
            u->limit = v == 0 || v > MAX_LIMIT ? MAX_LIMIT : v;
        }
    }
    return 0;
}

static int nova_usage_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct usage_req u;
    if (usage_begin(req, resp, &u, NULL, err))
        return resp->status == 406 ? 0 : -1;
    return answer(req, resp, &u, err);
}

static int nova_usage_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct usage_req u;
    if (usage_begin(req, resp, &u, req->params[0], err))
        return resp->status == 406 ? 0 : -1;
    u.detailed = 1;
    return answer(req, resp, &u, err);
}

const struct http_route compat_nova_usage_routes[] = {
    {"GET", P "/os-simple-tenant-usage", nova_usage_list, "compute.usage.list",
     NPH_FAULT_OPENSTACK},
    {"GET", P "/os-simple-tenant-usage/{tenant_id}", nova_usage_show, "compute.usage.show",
     NPH_FAULT_OPENSTACK},
    {NULL, NULL, NULL, NULL, 0},
};
