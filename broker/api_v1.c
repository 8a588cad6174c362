/*
 * api_v1.c - the native API's federation resources (docs/openapi.yaml):
 *   /v1/clouds[/{name}[/orphans|/reconcile|/fault]]   clouds, their health and drift
 *   /v1/servers[/{id}[/action]]                        servers on any cloud
 *   /v1/operations/{id}                                asynchronous operations
 *   /v1/volumes[/{id}[/extend]]                        block volumes on any cloud
 *   /v1/buckets[/{name}[/objects[/{key...}]]]          buckets and their objects on any cloud
 * Errors in the native format {"error":{"code","message","request_id"}}.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "federation.h"
#include "nph_json.h"

struct v1 {
    struct nph_app *app;
    struct fed_caller who;
    json_t *labels; /* the project's labels (owned) */
};

static const char *const project_std_keys[] = {"id",      "name",      "domain_id", "description",
                                               "enabled", "parent_id", "is_domain", "tags",
                                               "links",   "options",   "extra",     NULL};

/* A project's labels for placement rules: its extra string properties (`openstack project
 * create --property gdpr=true`) and its tags of the form key=value. */
json_t *app_project_labels(struct nph_app *app, const char *project_id)
{
    json_t *labels = json_object();
    struct nph_error err = NPH_ERROR_INIT;
    json_t *p = project_id && *project_id
                    ? local_identity_get(app->identity, IDENT_PROJECT, project_id, &err)
                    : NULL;
    const char *k;
    json_t *v;
    json_t *extra = json_object_get(p, "extra");
    for (int pass = 0; pass < 2; pass++) {
        json_object_foreach(pass ? extra : p, k, v)
        {
            int std = 0;
            for (size_t i = 0; project_std_keys[i] && !std; i++)
                std = strcmp(project_std_keys[i], k) == 0;
            if ((!std || pass) && json_is_string(v))
                json_object_set(labels, k, v);
        }
    }
    size_t i;
    json_array_foreach(json_object_get(p, "tags"), i, v)
    {
        const char *t = json_string_value(v);
        const char *eq = t ? strchr(t, '=') : NULL;
        if (eq && eq > t) {
            char key[128];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - t), t);
            json_object_set_new(labels, key, json_string(eq + 1));
        }
    }
    json_decref(p);
    return labels;
}

static void v1_end(struct v1 *v)
{
    json_decref(v->labels);
    v->labels = NULL;
}

static int v1_begin(struct http_req *req, struct v1 *v, struct nph_error *err)
{
    memset(v, 0, sizeof(*v));
    v->app = req->app;
    if (app_authenticate(req, err))
        return -1;
    const struct ident_token *t = req->auth;
    v->who.is_admin = ident_token_is_admin(t);
    v->who.project_id = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "";
    v->who.user_id = t->user_id;
    v->who.request_id = req->request_id;
    if (!v->app->fed)
        return nph_error_set(err, NPH_E_UNAVAILABLE, "federation is not running");
    return 0;
}

static int need_admin(const struct v1 *v, struct nph_error *err)
{
    return v->who.is_admin
               ? 0
               : nph_error_set(err, NPH_E_FORBIDDEN, "this operation is for administrators");
}

static int reply(struct http_resp *resp, int status, json_t *body, struct nph_error *err)
{
    if (!body)
        return err->code ? -1 : nph_error_nomem(err);
    return http_resp_json(resp, status, body) ? nph_error_nomem(err) : 0;
}

/* ---- clouds ------------------------------------------------------------------------------- */

/* Non-admins see a cloud's name, kind, state and labels, not its configuration. */
static void strip_config(json_t *cloud, const struct v1 *v)
{
    if (!v->who.is_admin)
        json_object_del(cloud, "config");
}

static int clouds_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *arr = fed_cloud_list(v.app->fed, err);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) strip_config(c, &v);
    return reply(resp, 200, arr ? json_pack("{s:o}", "clouds", arr) : NULL, err);
}

static int clouds_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *c = fed_cloud_get(v.app->fed, req->params[0], err);
    if (c)
        strip_config(c, &v);
    return reply(resp, 200, c ? json_pack("{s:o}", "cloud", c) : NULL, err);
}

static int clouds_add(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *body, *entry;
    if (v1_begin(req, &v, err) || need_admin(&v, err) || !(body = http_req_json(req, err)))
        return -1;
    entry = json_object_get(body, "cloud");
    if (!json_is_object(entry)) {
        json_decref(body);
        return nph_error_set(err, NPH_E_INVALID, "the body must be {\"cloud\": {...}}");
    }
    json_t *c = fed_cloud_add(v.app->fed, entry, err);
    json_decref(body);
    if (c) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/clouds/%s", v.app->cfg.public_url,
                 json_string_value(json_object_get(c, "name")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 201, c ? json_pack("{s:o}", "cloud", c) : NULL, err);
}

static int clouds_remove(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err) ||
        fed_cloud_remove(v.app->fed, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

static int clouds_orphans(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err))
        return -1;
    json_t *arr = fed_cloud_orphans(v.app->fed, req->params[0], err);
    return reply(resp, 200,
                 arr ? json_pack("{s:s,s:o}", "cloud", req->params[0], "orphans", arr) : NULL, err);
}

static int clouds_reconcile(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err))
        return -1;
    json_t *sum = fed_cloud_reconcile(v.app->fed, req->params[0], err);
    return reply(resp, 200, sum ? json_pack("{s:o}", "reconciliation", sum) : NULL, err);
}

static int clouds_fault(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *body;
    if (v1_begin(req, &v, err) || need_admin(&v, err) || !(body = http_req_json(req, err)))
        return -1;
    int rc = fed_cloud_set_fault(v.app->fed, req->params[0], json_object_get(body, "fault"), err);
    json_decref(body);
    if (rc)
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- servers ------------------------------------------------------------------------------ */

static int servers_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    struct fed_server_filter flt = {0};
    if (v1_begin(req, &v, err))
        return -1;
    flt.cloud = http_req_query(req, "cloud");
    flt.status = http_req_query(req, "status");
    flt.project_id = http_req_query(req, "project");
    flt.marker = http_req_query(req, "marker");
    const char *all = http_req_query(req, "all_projects");
    flt.all_projects = all && (!strcmp(all, "1") || !strcasecmp(all, "true"));
    const char *limit = http_req_query(req, "limit");
    if (limit) {
        char *end;
        long n = strtol(limit, &end, 10);
        if (*end || n < 1 || n > 1000)
            return nph_error_set(err, NPH_E_INVALID, "'limit' must be an integer 1..1000");
        flt.limit = (int)n;
    }
    if (!v.who.project_id[0] && !v.who.is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN, "a project-scoped token is required");
    return reply(resp, 200, fed_server_list(v.app->fed, &v.who, &flt, err), err);
}

static int servers_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *body;
    if (v1_begin(req, &v, err) || !(body = http_req_json(req, err)))
        return -1;
    if (json_object_size(body) != 1 || !json_object_get(body, "server")) {
        json_decref(body);
        return nph_error_set(err, NPH_E_INVALID, "the body must be {\"server\": {...}}");
    }
    v.labels = app_project_labels(v.app, v.who.project_id);
    v.who.project_labels = v.labels;
    json_t *out = fed_server_create(v.app->fed, &v.who, json_object_get(body, "server"), err);
    v1_end(&v);
    json_decref(body);
    if (out) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/operations/%s", v.app->cfg.public_url,
                 json_string_value(json_object_get(json_object_get(out, "operation"), "id")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 202, out, err);
}

static int servers_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *s = fed_server_get(v.app->fed, &v.who, req->params[0], err);
    return reply(resp, 200, s ? json_pack("{s:o}", "server", s) : NULL, err);
}

static int op_reply(struct v1 *v, struct http_resp *resp, json_t *op, struct nph_error *err)
{
    if (op) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/operations/%s", v->app->cfg.public_url,
                 json_string_value(json_object_get(op, "id")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 202, op ? json_pack("{s:o}", "operation", op) : NULL, err);
}

static int servers_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    return op_reply(&v, resp, fed_server_delete(v.app->fed, &v.who, req->params[0], err), err);
}

/* {"action": "start|stop|reboot|resize|confirm-resize|revert-resize", "type": "soft|hard",
 *  "flavor": "..."} */
static int servers_action(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    static const char *const keys[] = {"action", "type", "flavor", NULL};
    struct v1 v;
    json_t *body;
    const char *action = NULL, *type = NULL, *flavor = NULL;
    if (v1_begin(req, &v, err) || !(body = http_req_json(req, err)))
        return -1;
    int rc = nph_json_check_keys(body, "body", keys, err) ||
             nph_json_get_str(body, "action", "action", 1, 32, &action, err) < 0 ||
             nph_json_get_str(body, "type", "type", 0, 8, &type, err) < 0 ||
             nph_json_get_str(body, "flavor", "flavor", 0, 255, &flavor, err) < 0;
    enum nph_server_action a = NPH_SA_START;
    if (!rc) {
        if (!strcmp(action, "start"))
            a = NPH_SA_START;
        else if (!strcmp(action, "stop"))
            a = NPH_SA_STOP;
        else if (!strcmp(action, "reboot"))
            a = type && !strcmp(type, "hard") ? NPH_SA_REBOOT_HARD : NPH_SA_REBOOT_SOFT;
        else if (!strcmp(action, "resize"))
            a = NPH_SA_RESIZE;
        else if (!strcmp(action, "confirm-resize"))
            a = NPH_SA_CONFIRM_RESIZE;
        else if (!strcmp(action, "revert-resize"))
            a = NPH_SA_REVERT_RESIZE;
        else
            rc = nph_error_set(err, NPH_E_INVALID,
                               "unknown action '%.32s' (start, stop, reboot, resize, "
                               "confirm-resize, revert-resize)",
                               action);
        if (!rc && type && strcmp(action, "reboot") != 0)
            rc = nph_error_set(err, NPH_E_INVALID, "'type' applies to reboot only");
        if (!rc && type && strcmp(type, "soft") && strcmp(type, "hard"))
            rc = nph_error_set(err, NPH_E_INVALID, "'type' must be 'soft' or 'hard'");
        if (!rc && (a == NPH_SA_RESIZE) != (flavor != NULL))
            rc = nph_error_set(err, NPH_E_INVALID,
                               a == NPH_SA_RESIZE ? "resize needs a 'flavor'"
                                                  : "'flavor' applies to resize only");
    }
    json_t *op = rc ? NULL : fed_server_action(v.app->fed, &v.who, req->params[0], a, flavor, err);
    json_decref(body);
    if (rc)
        return -1;
    return op_reply(&v, resp, op, err);
}

static int operations_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *op = fed_operation_get(v.app->fed, &v.who, req->params[0], err);
    return reply(resp, 200, op ? json_pack("{s:o}", "operation", op) : NULL, err);
}

/* ---- placements and policies -------------------------------------------------------------- */

/* POST /v1/placements {"request": {...}} - the dry run over the live clouds (stored). */
static int placements_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *body;
    if (v1_begin(req, &v, err) || !(body = http_req_json(req, err)))
        return -1;
    json_t *r = json_object_get(body, "request");
    if (!json_is_object(r)) {
        json_decref(body);
        return nph_error_set(err, NPH_E_INVALID, "the body must be {\"request\": {...}}");
    }
    json_t *preq = json_deep_copy(r);
    json_decref(body);
    if (!preq)
        return nph_error_nomem(err);
    /* a project may only ask for itself; admins for any */
    const char *proj = json_string_value(json_object_get(preq, "project"));
    if (!proj || !v.who.is_admin)
        json_object_set_new(preq, "project", json_string(v.who.project_id));
    if (!json_object_get(preq, "project_labels")) {
        v.labels = app_project_labels(v.app, json_string_value(json_object_get(preq, "project")));
        json_object_set(preq, "project_labels", v.labels);
    }
    const char *only = json_string_value(json_object_get(preq, "cloud"));
    char cloud[72] = "";
    if (only)
        snprintf(cloud, sizeof(cloud), "%s", only);
    json_object_del(preq, "cloud");
    if (fed_cloud_check(v.app->fed, cloud[0] ? cloud : NULL, err)) {
        json_decref(preq);
        v1_end(&v);
        return -1;
    }
    struct fed_placement pl;
    json_t *doc = fed_place(v.app->fed, &v.who, preq, cloud[0] ? cloud : NULL, 1, &pl, err);
    json_decref(preq);
    v1_end(&v);
    if (doc) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/placements/%s", v.app->cfg.public_url, pl.id);
        http_resp_header(resp, "Location", loc);
        if (!pl.placed)
            json_object_set_new(doc, "why", json_string(pl.why));
    }
    return reply(resp, 201, doc ? json_pack("{s:o}", "placement", doc) : NULL, err);
}

static int placements_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *doc = fed_placement_get(v.app->fed, &v.who, req->params[0], err);
    return reply(resp, 200, doc ? json_pack("{s:o}", "placement", doc) : NULL, err);
}

static int policies_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err))
        return -1;
    json_t *l = fed_policy_list(v.app->fed, NULL, err);
    return reply(resp, 200, l ? json_pack("{s:o}", "policies", l) : NULL, err);
}

/* POST /v1/policies {"name": "...", "document": "<YAML>"} - a new version. */
static int policies_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    static const char *const keys[] = {"name", "document", NULL};
    struct v1 v;
    json_t *body;
    const char *name = NULL, *doc = NULL;
    if (v1_begin(req, &v, err) || need_admin(&v, err) || !(body = http_req_json(req, err)))
        return -1;
    json_t *p = NULL;
    if (!nph_json_check_keys(body, "body", keys, err) &&
        nph_json_get_str(body, "name", "name", 1, 64, &name, err) >= 0 &&
        nph_json_get_str(body, "document", "document", 1, 0, &doc, err) >= 0)
        p = fed_policy_put(v.app->fed, name, doc, err);
    json_decref(body);
    if (p) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/policies/%s", v.app->cfg.public_url,
                 json_string_value(json_object_get(p, "name")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 201, p ? json_pack("{s:o}", "policy", p) : NULL, err);
}

static int policies_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err))
        return -1;
    json_t *l = fed_policy_list(v.app->fed, req->params[0], err);
    return reply(resp, 200,
                 l ? json_pack("{s:s,s:o}", "name", req->params[0], "versions", l) : NULL, err);
}

static int policies_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || need_admin(&v, err) ||
        fed_policy_delete(v.app->fed, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- volumes ------------------------------------------------------------------------------ */

/* The caller with its project's labels (placement rules read them). */
static int v1_begin_labels(struct http_req *req, struct v1 *v, struct nph_error *err)
{
    if (v1_begin(req, v, err))
        return -1;
    v->labels = app_project_labels(v->app, v->who.project_id);
    v->who.project_labels = v->labels;
    return 0;
}

/* The {"<key>": {...}} envelope of a create body; a new reference to the inner object. */
static json_t *envelope(struct http_req *req, const char *key, struct nph_error *err)
{
    json_t *body = http_req_json(req, err);
    if (!body)
        return NULL;
    json_t *in = json_object_get(body, key);
    if (json_object_size(body) != 1 || !json_is_object(in)) {
        json_decref(body);
        nph_error_set(err, NPH_E_INVALID, "the body must be {\"%s\": {...}}", key);
        return NULL;
    }
    json_incref(in);
    json_decref(body);
    return in;
}

static int volumes_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    const char *cloud = http_req_query(req, "cloud");
    if (fed_cloud_check(v.app->fed, cloud, err))
        return -1;
    return reply(resp, 200, fed_volume_list(v.app->fed, &v.who, cloud, err), err);
}

static int volumes_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *in;
    if (v1_begin_labels(req, &v, err))
        return -1;
    if (!(in = envelope(req, "volume", err))) {
        v1_end(&v);
        return -1;
    }
    json_t *out = fed_volume_create(v.app->fed, &v.who, in, err);
    json_decref(in);
    v1_end(&v);
    if (out) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/volumes/%s", v.app->cfg.public_url,
                 json_string_value(json_object_get(out, "id")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 202, out ? json_pack("{s:o}", "volume", out) : NULL, err);
}

static int volumes_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *out = fed_volume_get(v.app->fed, &v.who, req->params[0], err);
    return reply(resp, 200, out ? json_pack("{s:o}", "volume", out) : NULL, err);
}

static int volumes_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || fed_volume_delete(v.app->fed, &v.who, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* POST /v1/volumes/{id}/extend {"size_gb": n} */
static int volumes_extend(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *body;
    if (v1_begin(req, &v, err) || !(body = http_req_json(req, err)))
        return -1;
    json_t *out = fed_volume_extend(v.app->fed, &v.who, req->params[0], body, err);
    json_decref(body);
    return reply(resp, 202, out ? json_pack("{s:o}", "volume", out) : NULL, err);
}

/* ---- buckets and objects ------------------------------------------------------------------- */

static int buckets_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    const char *cloud = http_req_query(req, "cloud");
    if (fed_cloud_check(v.app->fed, cloud, err))
        return -1;
    return reply(resp, 200, fed_bucket_list(v.app->fed, &v.who, cloud, err), err);
}

static int buckets_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    json_t *in;
    if (v1_begin_labels(req, &v, err))
        return -1;
    if (!(in = envelope(req, "bucket", err))) {
        v1_end(&v);
        return -1;
    }
    json_t *out = fed_bucket_create(v.app->fed, &v.who, in, err);
    json_decref(in);
    v1_end(&v);
    if (out) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/v1/buckets/%s", v.app->cfg.public_url,
                 json_string_value(json_object_get(out, "name")));
        http_resp_header(resp, "Location", loc);
    }
    return reply(resp, 201, out ? json_pack("{s:o}", "bucket", out) : NULL, err);
}

static int buckets_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    json_t *out = fed_bucket_get(v.app->fed, &v.who, req->params[0], err);
    return reply(resp, 200, out ? json_pack("{s:o}", "bucket", out) : NULL, err);
}

static int buckets_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) || fed_bucket_delete(v.app->fed, &v.who, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

static int objects_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    const char *lim = http_req_query(req, "limit");
    long limit = 0;
    if (lim) {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > 1000)
            return nph_error_set(err, NPH_E_INVALID, "'limit' must be an integer from 1 to 1000");
    }
    json_t *out = fed_object_list(v.app->fed, &v.who, req->params[0], http_req_query(req, "prefix"),
                                  http_req_query(req, "marker"), (int)limit, err);
    return reply(resp, 200, out, err);
}

static void object_headers(struct http_resp *resp, const json_t *o)
{
    const char *etag = json_string_value(json_object_get(o, "etag"));
    const char *lm = json_string_value(json_object_get(o, "last_modified"));
    if (etag && *etag)
        http_resp_header(resp, "ETag", etag);
    if (lm && *lm)
        http_resp_header(resp, "X-Last-Modified", lm);
}

/* PUT: the body was streamed to a temporary file (with its MD5) by the server. An "ETag" or
 * "Content-MD5"-free check: when the client sends ETag, the content must match it. */
static int objects_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    if (!req->body_path)
        return nph_error_set(err, NPH_E_INTERNAL, "the upload has no file");
    const char *etag = http_req_header(req, "ETag");
    if (etag) {
        char want[64];
        snprintf(want, sizeof(want), "%.*s", (int)strcspn(etag + (*etag == '"'), "\""),
                 etag + (*etag == '"'));
        if (strcasecmp(want, req->body_md5) != 0)
            return nph_error_set(err, NPH_E_UNPROCESSABLE,
                                 "the body's MD5 (%s) does not match the ETag sent (%.40s)",
                                 req->body_md5, want);
    }
    struct nph_object_body body = {.path = req->body_path,
                                   .size = req->body_len,
                                   .md5 = req->body_md5,
                                   .has_crc32c = req->body_crc32c >= 0,
                                   .crc32c = (uint32_t)req->body_crc32c,
                                   .content_type = http_req_header(req, "Content-Type")};
    json_t *out = fed_object_put(v.app->fed, &v.who, req->params[0], req->params[1], &body, err);
    if (out)
        object_headers(resp, out);
    return reply(resp, 201, out ? json_pack("{s:o}", "object", out) : NULL, err);
}

struct spool {
    int fd;
    struct nph_error *err;
};

static int spool_write(void *arg, const char *buf, size_t len, struct nph_error *err)
{
    struct spool *s = arg;
    while (len > 0) {
        ssize_t n = write(s->fd, buf, len);
        if (n < 0)
            return nph_error_set(err, NPH_E_IO, "cannot spool the object to disk");
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The response's content type must outlive the handler (the server sends it on this thread
 * after the handler returned), as compat_swift.c does. */
static _Thread_local char obj_ct[160];

static const char *object_ct(const char *ct)
{
    snprintf(obj_ct, sizeof(obj_ct), "%s", ct && *ct ? ct : "application/octet-stream");
    return obj_ct;
}

static long no_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx, (void)pos, (void)buf, (void)max;
    return -1;
}

/* GET (and HEAD): the object arrives from its cloud into a spool file under the data
 * directory, is checked against the ETag the cloud gave (plain objects: their MD5), and is
 * sent from the file; the file is unlinked once open, so nothing is left behind. */
static int objects_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err))
        return -1;
    if (strcmp(req->method, "HEAD") == 0) {
        json_t *o = fed_object_head(v.app->fed, &v.who, req->params[0], req->params[1], err);
        if (!o)
            return -1;
        object_headers(resp, o);
        const char *ct = json_string_value(json_object_get(o, "content_type"));
        http_resp_stream(resp, 200, object_ct(ct),
                         (uint64_t)json_integer_value(json_object_get(o, "size")), no_read, NULL,
                         NULL);
        json_decref(o);
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/images/nph-upload-spool-XXXXXX", v.app->cfg.data_dir);
    struct spool s = {.fd = mkstemp(path), .err = err};
    if (s.fd < 0)
        return nph_error_set(err, NPH_E_IO, "cannot create a spool file");
    struct nph_object_info info;
    int rc = fed_object_get(v.app->fed, &v.who, req->params[0], req->params[1], spool_write, &s,
                            &info, err);
    if (close(s.fd) != 0 && rc == 0)
        rc = nph_error_set(err, NPH_E_IO, "cannot spool the object to disk");
    char md5[33];
    char etag[sizeof(info.etag)];
    if (rc == 0) {
        snprintf(etag, sizeof(etag), "%.*s", (int)strcspn(info.etag + (info.etag[0] == '"'), "\""),
                 info.etag + (info.etag[0] == '"'));
        if (strlen(etag) == 32 && lobj_file_md5(path, 0, -1, md5, err) == 0 &&
            strcasecmp(md5, etag) != 0)
            rc = nph_error_set(err, NPH_E_BACKEND,
                               "the object's content from its cloud does not match its ETag");
        else if (strlen(etag) == 32 && err->code)
            rc = -1;
    }
    if (rc == 0) {
        rc = http_resp_file(resp, 200, object_ct(info.content_type), path, err);
        if (rc == 0 && info.etag[0])
            http_resp_header(resp, "ETag", info.etag);
    }
    unlink(path);
    return rc;
}

static int objects_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct v1 v;
    if (v1_begin(req, &v, err) ||
        fed_object_delete(v.app->fed, &v.who, req->params[0], req->params[1], err))
        return -1;
    resp->status = 204;
    return 0;
}

const struct http_route api_v1_routes[] = {
    {"GET", "/v1/clouds", clouds_list, "v1.clouds.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/clouds", clouds_add, "v1.clouds.add", NPH_FAULT_NATIVE},
    {"GET", "/v1/clouds/{name}", clouds_get, "v1.clouds.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/clouds/{name}", clouds_remove, "v1.clouds.remove", NPH_FAULT_NATIVE},
    {"GET", "/v1/clouds/{name}/orphans", clouds_orphans, "v1.clouds.orphans", NPH_FAULT_NATIVE},
    {"POST", "/v1/clouds/{name}/reconcile", clouds_reconcile, "v1.clouds.reconcile",
     NPH_FAULT_NATIVE},
    {"PUT", "/v1/clouds/{name}/fault", clouds_fault, "v1.clouds.fault", NPH_FAULT_NATIVE},
    {"GET", "/v1/servers", servers_list, "v1.servers.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/servers", servers_create, "v1.servers.create", NPH_FAULT_NATIVE},
    {"GET", "/v1/servers/{id}", servers_get, "v1.servers.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/servers/{id}", servers_delete, "v1.servers.delete", NPH_FAULT_NATIVE},
    {"POST", "/v1/servers/{id}/action", servers_action, "v1.servers.action", NPH_FAULT_NATIVE},
    {"GET", "/v1/operations/{id}", operations_get, "v1.operations.get", NPH_FAULT_NATIVE},
    {"POST", "/v1/placements", placements_create, "v1.placements.create", NPH_FAULT_NATIVE},
    {"GET", "/v1/placements/{id}", placements_get, "v1.placements.get", NPH_FAULT_NATIVE},
    {"GET", "/v1/policies", policies_list, "v1.policies.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/policies", policies_put, "v1.policies.put", NPH_FAULT_NATIVE},
    {"GET", "/v1/policies/{name}", policies_get, "v1.policies.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/policies/{name}", policies_delete, "v1.policies.delete", NPH_FAULT_NATIVE},
    {"GET", "/v1/volumes", volumes_list, "v1.volumes.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/volumes", volumes_create, "v1.volumes.create", NPH_FAULT_NATIVE},
    {"GET", "/v1/volumes/{id}", volumes_get, "v1.volumes.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/volumes/{id}", volumes_delete, "v1.volumes.delete", NPH_FAULT_NATIVE},
    {"POST", "/v1/volumes/{id}/extend", volumes_extend, "v1.volumes.extend", NPH_FAULT_NATIVE},
    {"GET", "/v1/buckets", buckets_list, "v1.buckets.list", NPH_FAULT_NATIVE},
    {"POST", "/v1/buckets", buckets_create, "v1.buckets.create", NPH_FAULT_NATIVE},
    {"GET", "/v1/buckets/{name}", buckets_get, "v1.buckets.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/buckets/{name}", buckets_delete, "v1.buckets.delete", NPH_FAULT_NATIVE},
    {"GET", "/v1/buckets/{name}/objects", objects_list, "v1.objects.list", NPH_FAULT_NATIVE},
    {"PUT", "/v1/buckets/{name}/objects/{*}", objects_put, "v1.objects.put",
     NPH_FAULT_NATIVE | HTTP_ROUTE_BODY_TO_FILE},
    {"GET", "/v1/buckets/{name}/objects/{*}", objects_get, "v1.objects.get", NPH_FAULT_NATIVE},
    {"DELETE", "/v1/buckets/{name}/objects/{*}", objects_delete, "v1.objects.delete",
     NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
