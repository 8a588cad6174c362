/*
 * compat_cinder.c - the Cinder v3 compatible block-storage API under /volume, over
 * local/storage's volumes: version discovery and microversions (3.0 to CINDER_MAX_VERSION),
 * volumes (create, list, detail, show, update, delete, metadata, actions), snapshots (with
 * metadata), volume types (with extra specs), quota sets, limits, availability zones and
 * extensions, in Cinder's bodies, statuses and fault format ({"itemNotFound": {"code",
 * "message"}}, badRequest, overLimit ...).
 *
 * URLs: every route answers both /volume/v3/{project_id}/... (the classic form) and
 * /volume/v3/... (project-less, as Cinder accepts since 3.67); the catalog lists the latter.
 * The project is always the token's: a project id in the URL that is not the caller's is
 * refused for non-admins (403), as Cinder's policy does.
 *
 * Microversions: "OpenStack-API-Version: volume 3.X" is read and echoed; bodies do not change
 * with it in the range served (the fields of later versions are always present).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "nph_json.h"

#define CV               "/volume/v3"
#define CINDER_MAX_MINOR 50
#define CINDER_MAX       "3.50"
#define OS               NPH_FAULT_OPENSTACK

struct cinder_ctx {
    struct nph_app *app;
    struct local_volume_caller caller;
    int off; /* 1 when the route has {project_id} first */
    int put; /* an update: Cinder's smaller views */
};

static const char *param(const struct http_req *req, const struct cinder_ctx *ctx, int i)
{
    return req->params[i + ctx->off];
}

static int need_admin(struct cinder_ctx *ctx, struct nph_error *err)
{
    if (!ctx->caller.is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow this action to be performed.");
    return 0;
}

/* Microversion: -1 with resp already 406 (handlers then return 0), or with err for 400. */
static int microversion(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    const char *h = http_req_header(req, "OpenStack-API-Version");
    char ver[32] = "3.0";
    http_resp_header(resp, "Vary", "OpenStack-API-Version");
    if (h) {
        while (*h == ' ')
            h++;
        if (strncasecmp(h, "volume ", 7) == 0) {
            const char *v = h + 7;
            int maj, min, used = 0;
            while (*v == ' ')
                v++;
            if (strcasecmp(v, "latest") == 0) {
                snprintf(ver, sizeof(ver), "%s", CINDER_MAX);
            } else if (strlen(v) >= 16 || sscanf(v, "%d.%d%n", &maj, &min, &used) != 2 ||
                       v[used] != '\0' || min < 0) {
                return nph_error_set(err, NPH_E_INVALID,
                                     "API Version String %.16s is of invalid format. Must be of "
                                     "format MajorNum.MinorNum.",
                                     v);
            } else if (maj != 3 || min > CINDER_MAX_MINOR) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "Version %s is not supported by the API. Minimum is 3.0 and maximum is "
                         "%s.",
                         v, CINDER_MAX);
                http_resp_json(
                    resp, 406,
                    json_pack("{s:{s:i,s:s}}", "computeFault", "code", 406, "message", msg));
                return nph_error_set(err, NPH_E_INVALID, "%s", msg);
            } else {
                snprintf(ver, sizeof(ver), "3.%d", min);
            }
        }
    }
    {
        char buf[48];
        snprintf(buf, sizeof(buf), "volume %s", ver);
        http_resp_header(resp, "OpenStack-API-Version", buf);
    }
    return 0;
}

static int fail(const struct http_resp *resp)
{
    return resp->status == 406 ? 0 : -1;
}

static int cinder_begin(struct http_req *req, struct http_resp *resp, struct cinder_ctx *ctx,
                        struct nph_error *err)
{
    const struct ident_token *t;
    memset(ctx, 0, sizeof(*ctx));
    ctx->app = req->app;
    ctx->off = req->route && strstr(req->route->pattern, "{project_id}") ? 1 : 0;
    if (microversion(req, resp, err) || app_authenticate(req, err))
        return -1;
    t = req->auth;
    ctx->caller.project_id = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "";
    ctx->caller.user_id = t->user_id;
    ctx->caller.is_admin = ident_token_is_admin(t);
    if (t->scope != IDENT_SCOPE_PROJECT && !ctx->caller.is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN, "a project-scoped token is required");
    if (ctx->off && !ctx->caller.is_admin && strcmp(req->params[0], ctx->caller.project_id) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow this action to be performed: the URL names "
                             "another project.");
    return 0;
}

/* An id segment given empty ("volumes/"): Cinder answers 404 there, not the collection. */
static int trailing_slash(const struct http_req *req)
{
    size_t n = strlen(req->path);
    return n > 1 && req->path[n - 1] == '/';
}

static json_t *body_obj(struct http_req *req, const char *key, json_t **root, struct nph_error *err)
{
    json_t *o;
    if (!(*root = http_req_json(req, err)))
        return NULL;
    o = json_object_get(*root, key);
    if (!json_is_object(o)) {
        json_decref(*root);
        *root = NULL;
        nph_error_set(err, NPH_E_INVALID, "Missing required element '%s' in request body.", key);
        return NULL;
    }
    return o;
}

/* The base of links: the request's own form (with the project id or without). */
static void url_base(struct cinder_ctx *ctx, char *buf, size_t len)
{
    if (ctx->off)
        snprintf(buf, len, "%s" CV "/%s", ctx->app->cfg.public_url, ctx->caller.project_id);
    else
        snprintf(buf, len, "%s" CV, ctx->app->cfg.public_url);
}

static json_t *links(struct cinder_ctx *ctx, const char *coll, const char *id)
{
    char base[1024], self[2048], book[2048];
    url_base(ctx, base, sizeof(base));
    snprintf(self, sizeof(self), "%s/%s/%s", base, coll, id);
    if (ctx->off)
        snprintf(book, sizeof(book), "%s/volume/%s/%s/%s", ctx->app->cfg.public_url,
                 ctx->caller.project_id, coll, id);
    else
        snprintf(book, sizeof(book), "%s/volume/%s/%s", ctx->app->cfg.public_url, coll, id);
    return json_pack("[{s:s,s:s},{s:s,s:s}]", "href", self, "rel", "self", "href", book, "rel",
                     "bookmark");
}

/* ---- versions ----------------------------------------------------------------------------- */

static json_t *version_v3(struct http_req *req)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s" CV "/", ((struct nph_app *)req->app)->cfg.public_url);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s},{s:s,s:s,s:s}],s:[{s:s,s:s}]}", "id",
                     "v3.0", "status", "CURRENT", "version", CINDER_MAX, "min_version", "3.0",
                     "updated", "2023-01-01T00:00:00Z", "links", "href", url, "rel", "self", "href",
                     "https://docs.openstack.org/", "rel", "describedby", "type", "text/html",
                     "media-types", "base", "application/json", "type",
                     "application/vnd.openstack.volume+json;version=3");
}

static int cinder_versions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(resp, 300, json_pack("{s:[o]}", "versions", version_v3(req)));
}

static int cinder_version(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    if (microversion(req, resp, err))
        return fail(resp);
    return http_resp_json(resp, 200, json_pack("{s:[o]}", "versions", version_v3(req)));
}

/* ---- volumes ------------------------------------------------------------------------------ */

/* The metadata, with "readonly" ("True"/"False") once the flag was set, as Cinder shows it. */
static json_t *view_metadata(json_t *v)
{
    json_t *m = json_deep_copy(json_object_get(v, "metadata"));
    json_t *ro = json_object_get(v, "readonly_set");
    if (m && json_is_true(ro))
        json_object_set_new(
            m, "readonly",
            json_string(json_is_true(json_object_get(v, "readonly")) ? "True" : "False"));
    return m ? m : json_object();
}

static json_t *volume_view(struct cinder_ctx *ctx, json_t *v, int detail)
{
    json_t *out, *atts, *a;
    const char *id = json_string_value(json_object_get(v, "id"));
    size_t i;
    if (!detail)
        return json_pack("{s:O,s:O,s:o}", "id", json_object_get(v, "id"), "name",
                         json_object_get(v, "name"), "links", links(ctx, "volumes", id));
    atts = json_array();
    json_array_foreach(json_object_get(v, "attachments"), i, a)
    {
        json_array_append_new(
            atts, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:s}", "id", json_object_get(v, "id"),
                            "attachment_id", json_object_get(a, "id"), "volume_id",
                            json_object_get(v, "id"), "server_id", json_object_get(a, "server_id"),
                            "attached_at", json_object_get(a, "attached_at"), "device",
                            json_object_get(a, "device"), "host_name", "nephele"));
        /* Cinder shows the device as a path */
        json_t *last = json_array_get(atts, json_array_size(atts) - 1);
        const char *d = json_string_value(json_object_get(last, "device"));
        if (d && strncmp(d, "/dev/", 5) != 0) {
            char p[32];
            snprintf(p, sizeof(p), "/dev/%s", d);
            json_object_set_new(last, "device", json_string(p));
        }
    }
    out = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:s,s:O,s:O,s:o,s:O,s:O,s:O,s:o,s:o,s:O,s:s,s:b,s:n,s:n,s:b,s:O,"
        "s:n,s:n,s:n,s:n,s:n,s:b,s:s}",
        "id", json_object_get(v, "id"), "name", json_object_get(v, "name"), "description",
        json_object_get(v, "description"), "status", json_object_get(v, "status"), "size",
        json_object_get(v, "size"), "availability_zone", "nova", "created_at",
        json_object_get(v, "created_at"), "updated_at", json_object_get(v, "updated_at"),
        "attachments", atts, "volume_type", json_object_get(v, "volume_type"), "snapshot_id",
        json_object_get(v, "snapshot_id"), "source_volid", json_object_get(v, "source_volid"),
        "metadata", view_metadata(v), "links", links(ctx, "volumes", id), "user_id",
        json_object_get(v, "user_id"), "bootable",
        json_is_true(json_object_get(v, "bootable")) ? "true" : "false", "encrypted", 0,
        "replication_status", "consistencygroup_id", "multiattach", 0,
        "os-vol-tenant-attr:tenant_id", json_object_get(v, "project_id"), "migration_status",
        "os-vol-mig-status-attr:migstat", "os-vol-mig-status-attr:name_id", "group_id",
        "provider_id", "shared_targets", 0, "service_uuid", "nephele-volume");
    if (detail == 2) {
        /* create and update answer without the extension attributes, as Cinder does */
        static const char *const ext[] = {"os-vol-tenant-attr:tenant_id", "migration_status",
                                          "os-vol-mig-status-attr:migstat",
                                          "os-vol-mig-status-attr:name_id"};
        for (size_t k = 0; k < sizeof(ext) / sizeof(ext[0]); k++)
            json_object_del(out, ext[k]);
        json_object_set_new(out, "migration_status", json_null());
        return out;
    }
    if (json_is_string(json_object_get(v, "image_id")))
        json_object_set_new(out, "volume_image_metadata",
                            json_pack("{s:O,s:O}", "image_id", json_object_get(v, "image_id"),
                                      "image_name", json_object_get(v, "image_name")));
    if (ctx->caller.is_admin)
        json_object_set_new(out, "os-vol-host-attr:host", json_string("nephele@local#nephele"));
    return out;
}

static int reply_volume(struct cinder_ctx *ctx, struct http_resp *resp, int status, json_t *v)
{
    if (!v)
        return -1;
    /* 202 (create) and PUT answer the smaller view */
    http_resp_json(
        resp, status,
        json_pack("{s:o}", "volume", volume_view(ctx, v, status == 202 || ctx->put ? 2 : 1)));
    json_decref(v);
    return 0;
}

/* Both spellings Cinder accepts: name/display_name, description/display_description. */
static void alias(json_t *o, const char *old, const char *new)
{
    json_t *v = json_object_get(o, old);
    if (v && !json_object_get(o, new))
        json_object_set(o, new, v);
}

static int cinder_volume_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *spec, *v;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "volume", &root, err)))
        return -1;
    spec = json_deep_copy(in);
    json_decref(root);
    alias(spec, "display_name", "name");
    alias(spec, "display_description", "description");
    alias(spec, "imageRef", "image_id");
    v = local_volume_create(ctx.app->volume, &ctx.caller, spec, err);
    json_decref(spec);
    return reply_volume(&ctx, resp, 202, v);
}

static int cinder_volume_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    return reply_volume(&ctx, resp, 200,
                        local_volume_get(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), err));
}

/* metadata={"k":"v"} as JSON, or as the Python dict literal Tempest sends ({'k': 'v'}). */
static json_t *parse_meta_q(const char *s)
{
    json_t *m = json_loads(s, 0, NULL);
    if (!m) {
        char *dup = strdup(s);
        if (!dup)
            return NULL;
        for (char *p = dup; *p; p++)
            if (*p == '\'')
                *p = '"';
        m = json_loads(dup, 0, NULL);
        free(dup);
    }
    if (m && !json_is_object(m)) {
        json_decref(m);
        m = NULL;
    }
    return m;
}

struct qs {
    char buf[1024];
};

static void keep_query(const char *k, const char *v, void *p)
{
    struct qs *q = p;
    size_t n = strlen(q->buf);
    if (strcmp(k, "marker") == 0 || n + strlen(k) + strlen(v) + 3 >= sizeof(q->buf))
        return;
    snprintf(q->buf + n, sizeof(q->buf) - n, "%s%s=%s", n ? "&" : "", k, v);
}

static int parse_bool_q(const char *v)
{
    return v &&
           (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static int volume_list(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                       int detail)
{
    struct cinder_ctx ctx;
    struct local_volume_filter f;
    json_t *arr, *out, *v, *meta = NULL;
    const char *lim = http_req_query(req, "limit"), *sort = http_req_query(req, "sort");
    char sort_key[64] = "", *colon;
    size_t i;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    memset(&f, 0, sizeof(f));
    f.name = http_req_query(req, "name");
    if (!f.name)
        f.name = http_req_query(req, "display_name");
    f.status = http_req_query(req, "status");
    f.availability_zone = http_req_query(req, "availability_zone");
    f.all_projects = parse_bool_q(http_req_query(req, "all_tenants"));
    f.project_id = http_req_query(req, "project_id");
    f.marker = http_req_query(req, "marker");
    if (http_req_query(req, "metadata")) {
        if (!(meta = parse_meta_q(http_req_query(req, "metadata"))))
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input received: metadata must be a dictionary.");
        f.metadata = meta;
    }
    if (lim) {
        char *end;
        long n = strtol(lim, &end, 10);
        if (!*lim || *end || n < 0 || n > 100000) {
            json_decref(meta);
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input received: limit param must be an integer");
        }
        f.limit = n > LOCAL_VOLUME_LIST_LIMIT ? LOCAL_VOLUME_LIST_LIMIT : (int)n;
        if (n == 0)
            f.limit = -1;
    }
    if (sort) {
        snprintf(sort_key, sizeof(sort_key), "%s", sort);
        if ((colon = strchr(sort_key, ',')))
            *colon = '\0';
        if ((colon = strchr(sort_key, ':'))) {
            *colon = '\0';
            f.sort_asc = strcasecmp(colon + 1, "asc") == 0;
        }
        f.sort_key = sort_key;
    } else {
        f.sort_key = http_req_query(req, "sort_key");
        f.sort_asc = http_req_query(req, "sort_dir") &&
                     strcasecmp(http_req_query(req, "sort_dir"), "asc") == 0;
    }
    if (f.limit < 0) {
        arr = json_array();
    } else if (!(arr = local_volume_list(ctx.app->volume, &ctx.caller, &f, err))) {
        json_decref(meta);
        return -1;
    }
    json_decref(meta);
    out = json_array();
    json_array_foreach(arr, i, v) json_array_append_new(out, volume_view(&ctx, v, detail));
    json_t *body = json_pack("{s:o}", "volumes", out);
    if (f.limit > 0 && json_array_size(arr) == (size_t)f.limit) {
        struct qs q = {""};
        char base[1024], href[4096];
        http_req_query_each(req, keep_query, &q);
        url_base(&ctx, base, sizeof(base));
        snprintf(href, sizeof(href), "%s/volumes%s?%s%smarker=%s", base, detail ? "/detail" : "",
                 q.buf, q.buf[0] ? "&" : "",
                 json_string_value(json_object_get(json_array_get(arr, i - 1), "id")));
        json_object_set_new(body, "volumes_links",
                            json_pack("[{s:s,s:s}]", "href", href, "rel", "next"));
    }
    json_decref(arr);
    return http_resp_json(resp, 200, body);
}

static int cinder_volume_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return volume_list(req, resp, err, 0);
}

static int cinder_volume_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return volume_list(req, resp, err, 1);
}

static int cinder_volume_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *attrs, *v;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "volume", &root, err)))
        return -1;
    attrs = json_deep_copy(in);
    json_decref(root);
    alias(attrs, "display_name", "name");
    alias(attrs, "display_description", "description");
    ctx.put = 1;
    v = local_volume_update(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), attrs, err);
    json_decref(attrs);
    return reply_volume(&ctx, resp, 200, v);
}

static int cinder_volume_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (local_volume_delete(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), err))
        return -1;
    resp->status = 202;
    return 0;
}

/* GET/PUT/DELETE on the collection itself with an empty id ("volumes/"): 404 as Cinder. */
static int cinder_no_id(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    return nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
}

static int cinder_volume_list_or_404(struct http_req *req, struct http_resp *resp,
                                     struct nph_error *err)
{
    if (trailing_slash(req))
        return cinder_no_id(req, resp, err);
    return cinder_volume_list(req, resp, err);
}

/* ---- volume metadata ---------------------------------------------------------------------- */

/* kind 0 = volumes, 1 = snapshots */
static json_t *meta_call(struct cinder_ctx *ctx, int kind, const char *id, const json_t *m,
                         int replace, struct nph_error *err)
{
    return kind
               ? local_volume_snapshot_metadata(ctx->app->volume, &ctx->caller, id, m, replace, err)
               : local_volume_metadata(ctx->app->volume, &ctx->caller, id, m, replace, err);
}

static int meta_list(struct http_req *req, struct http_resp *resp, struct nph_error *err, int kind)
{
    struct cinder_ctx ctx;
    json_t *m;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(m = meta_call(&ctx, kind, param(req, &ctx, 0), NULL, 0, err)))
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "metadata", m));
}

static int meta_write(struct http_req *req, struct http_resp *resp, struct nph_error *err, int kind,
                      int replace)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *m;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "metadata", &root, err)))
        return -1;
    m = meta_call(&ctx, kind, param(req, &ctx, 0), in, replace, err);
    json_decref(root);
    if (!m)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "metadata", m));
}

static int meta_get(struct http_req *req, struct http_resp *resp, struct nph_error *err, int kind)
{
    struct cinder_ctx ctx;
    json_t *m, *v;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(m = meta_call(&ctx, kind, param(req, &ctx, 0), NULL, 0, err)))
        return -1;
    v = json_object_get(m, param(req, &ctx, 1));
    if (!v) {
        json_decref(m);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Metadata item was not found");
    }
    http_resp_json(resp, 200, json_pack("{s:{s:O}}", "meta", param(req, &ctx, 1), v));
    json_decref(m);
    return 0;
}

static int meta_put(struct http_req *req, struct http_resp *resp, struct nph_error *err, int kind)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *m, *v;
    const char *key;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    key = param(req, &ctx, 1);
    if (!(in = body_obj(req, "meta", &root, err)))
        return -1;
    if (json_object_size(in) != 1 || !(v = json_object_get(in, key))) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID, "Request body and URI mismatch");
    }
    m = meta_call(&ctx, kind, param(req, &ctx, 0), in, 0, err);
    json_decref(root);
    if (!m)
        return -1;
    http_resp_json(resp, 200, json_pack("{s:{s:O}}", "meta", key, json_object_get(m, key)));
    json_decref(m);
    return 0;
}

static int meta_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                       int kind)
{
    struct cinder_ctx ctx;
    int rc;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    rc = kind ? local_volume_snapshot_metadata_delete(ctx.app->volume, &ctx.caller,
                                                      param(req, &ctx, 0), param(req, &ctx, 1), err)
              : local_volume_metadata_delete(ctx.app->volume, &ctx.caller, param(req, &ctx, 0),
                                             param(req, &ctx, 1), err);
    if (rc)
        return -1;
    resp->status = 200;
    return 0;
}

#define META_HANDLERS(pfx, kind)                                                                   \
    static int pfx##_meta_list(struct http_req *r, struct http_resp *s, struct nph_error *e)       \
    {                                                                                              \
        return meta_list(r, s, e, kind);                                                           \
    }                                                                                              \
    static int pfx##_meta_update(struct http_req *r, struct http_resp *s, struct nph_error *e)     \
    {                                                                                              \
        return meta_write(r, s, e, kind, 0);                                                       \
    }                                                                                              \
    static int pfx##_meta_replace(struct http_req *r, struct http_resp *s, struct nph_error *e)    \
    {                                                                                              \
        return meta_write(r, s, e, kind, 1);                                                       \
    }                                                                                              \
    static int pfx##_meta_get(struct http_req *r, struct http_resp *s, struct nph_error *e)        \
    {                                                                                              \
        return meta_get(r, s, e, kind);                                                            \
    }                                                                                              \
    static int pfx##_meta_put(struct http_req *r, struct http_resp *s, struct nph_error *e)        \
    {                                                                                              \
        return meta_put(r, s, e, kind);                                                            \
    }                                                                                              \
    static int pfx##_meta_delete(struct http_req *r, struct http_resp *s, struct nph_error *e)     \
    {                                                                                              \
        return meta_delete(r, s, e, kind);                                                         \
    }

META_HANDLERS(vol, 0)
META_HANDLERS(snap, 1)

/* ---- volume actions ----------------------------------------------------------------------- */

static int bool_of(const json_t *v, int *out)
{
    const char *s = json_string_value(v);
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (s && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)) {
        *out = strcasecmp(s, "true") == 0;
        return 0;
    }
    return -1;
}

/* os-volume_upload_image: a new image of the caller's project (queued), the volume's bytes
 * converted to its disk_format into a file beside the image store, uploaded (active). Done
 * before the answer: the image is active and the volume available when the client sees 202. */
static int upload_image(struct cinder_ctx *ctx, struct http_resp *resp, const char *id,
                        const json_t *a, struct nph_error *err)
{
    static const char *const formats[] = {"raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", NULL};
    const char *name = json_string_value(json_object_get(a, "image_name"));
    const char *df = json_string_value(json_object_get(a, "disk_format"));
    const char *cf = json_string_value(json_object_get(a, "container_format"));
    const char *vis = json_string_value(json_object_get(a, "visibility"));
    int force = 0, known = 0, rc = -1;
    if (!json_is_object(a) || !name || !*name)
        return nph_error_set(err, NPH_E_INVALID, "No image_name was specified in request.");
    if (json_object_get(a, "force") && bool_of(json_object_get(a, "force"), &force))
        return nph_error_set(err, NPH_E_INVALID, "Invalid value for 'force': must be a boolean.");
    df = df ? df : "raw";
    cf = cf ? cf : "bare";
    for (size_t i = 0; formats[i]; i++)
        known |= strcmp(formats[i], df) == 0;
    if (!known)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid disk-format '%.32s' is specified. Allowed disk-formats are "
                             "raw, qcow2, vmdk, vdi, vhd, vhdx.",
                             df);
    if (!ctx->app->image)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "there is no image service");
    json_t *vol = local_volume_get(ctx->app->volume, &ctx->caller, id, err);
    if (!vol)
        return -1;
    struct local_image_caller ic = {.project_id = ctx->caller.project_id,
                                    .is_admin = ctx->caller.is_admin};
    json_t *attrs = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "disk_format", df,
                              "container_format", cf, "visibility", vis ? vis : "private");
    json_t *im = attrs ? local_image_create(ctx->app->image, &ic, attrs, err) : NULL;
    json_decref(attrs);
    char path[4200] = "", image_id[64] = "";
    if (!im)
        goto done;
    snprintf(image_id, sizeof(image_id), "%s", json_string_value(json_object_get(im, "id")));
    snprintf(path, sizeof(path), "%s/images/nph-upload-volume-XXXXXX", ctx->app->cfg.data_dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        path[0] = '\0';
        nph_error_set(err, NPH_E_IO, "cannot create a file for the volume's bytes");
        goto done;
    }
    close(fd);
    json_t *active = NULL;
    if (local_volume_export(ctx->app->volume, &ctx->caller, id, force, df, path, err) == 0 &&
        (active = local_image_upload(ctx->app->image, &ic, image_id, path, err)))
        rc = 0;
    json_decref(active);
    if (rc == 0) {
        json_t *type = json_pack("{s:O,s:O}", "id", json_object_get(vol, "volume_type_id"), "name",
                                 json_object_get(vol, "volume_type"));
        http_resp_json(
            resp, 202,
            json_pack("{s:{s:O,s:O,s:s,s:O,s:O,s:o,s:s,s:s,s:s,s:s,s:b,s:O}}",
                      "os-volume_upload_image", "id", json_object_get(vol, "id"), "updated_at",
                      json_object_get(vol, "updated_at"), "status", "uploading",
                      "display_description", json_object_get(vol, "description"), "size",
                      json_object_get(vol, "size"), "volume_type", type, "image_id", image_id,
                      "container_format", cf, "disk_format", df, "image_name", name, "protected", 0,
                      "visibility", json_object_get(im, "visibility")));
    }
done:
    if (rc != 0 && image_id[0]) { /* no half-made image stays behind */
        struct nph_error derr = NPH_ERROR_INIT;
        local_image_delete(ctx->app->image, &ic, image_id, &derr);
    }
    if (path[0])
        unlink(path); /* the image store took it, or it is left over */
    json_decref(im);
    json_decref(vol);
    return rc;
}

static int cinder_volume_action(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *a;
    const char *name, *id;
    int rc = -1;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    id = param(req, &ctx, 0);
    if (!(root = http_req_json(req, err)))
        return -1;
    if (json_object_size(root) != 1) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID,
                             "There is either no action or more than one "
                             "action in the request body.");
    }
    name = json_object_iter_key(json_object_iter(root));
    a = json_object_iter_value(json_object_iter(root));
    resp->status = 202;
    if (strcmp(name, "os-extend") == 0) {
        int64_t n;
        if (local_volume_parse_size(json_object_get(a, "new_size"), &n, err) == 0)
            rc = local_volume_extend(ctx.app->volume, &ctx.caller, id, n, err);
    } else if (strcmp(name, "os-reserve") == 0 || strcmp(name, "os-unreserve") == 0) {
        rc = local_volume_reserve(ctx.app->volume, &ctx.caller, id, strcmp(name, "os-reserve") == 0,
                                  err);
    } else if (strcmp(name, "os-attach") == 0) {
        json_t *att = local_volume_attach(ctx.app->volume, &ctx.caller, id,
                                          json_string_value(json_object_get(a, "instance_uuid")),
                                          json_string_value(json_object_get(a, "mountpoint")), err);
        rc = att ? 0 : -1;
        json_decref(att);
    } else if (strcmp(name, "os-detach") == 0) {
        rc = local_volume_detach(ctx.app->volume, &ctx.caller, id, NULL, err);
    } else if (strcmp(name, "os-initialize_connection") == 0) {
        json_t *v = local_volume_get(ctx.app->volume, &ctx.caller, id, err);
        if (v) {
            http_resp_json(
                resp, 200,
                json_pack("{s:{s:s,s:{s:O,s:O,s:O}}}", "connection_info", "driver_volume_type",
                          "local", "data", "device_path", json_object_get(v, "path"), "volume_id",
                          json_object_get(v, "id"), "format", json_object_get(v, "format")));
            json_decref(v);
            rc = 0;
        }
    } else if (strcmp(name, "os-terminate_connection") == 0) {
        json_t *v = local_volume_get(ctx.app->volume, &ctx.caller, id, err);
        rc = v ? 0 : -1;
        json_decref(v);
    } else if (strcmp(name, "os-volume_upload_image") == 0) {
        rc = upload_image(&ctx, resp, id, a, err);
    } else if (strcmp(name, "os-reset_status") == 0) {
        if (need_admin(&ctx, err) == 0)
            rc = local_volume_reset_status(ctx.app->volume, id,
                                           json_string_value(json_object_get(a, "status")), err);
    } else if (strcmp(name, "os-set_bootable") == 0 ||
               strcmp(name, "os-update_readonly_flag") == 0) {
        int b = strcmp(name, "os-set_bootable") == 0, val;
        if (bool_of(json_object_get(a, b ? "bootable" : "readonly"), &val))
            nph_error_set(err, NPH_E_INVALID, "Invalid input received: %s must be a boolean.",
                          b ? "bootable" : "readonly");
        else
            rc = local_volume_set_flag(ctx.app->volume, &ctx.caller, id,
                                       b ? "bootable" : "readonly", val, err);
        if (rc == 0 && b)
            resp->status = 200;
    } else {
        nph_error_set(err, NPH_E_INVALID, "There is no such action: %s", name);
    }
    json_decref(root);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

/* detail: with Cinder's extended snapshot attributes (show, list/detail); else without
 * (create, update, list). */
static json_t *snap_view(json_t *s, int detail)
{
    json_t *out = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(s, "id"), "name",
        json_object_get(s, "name"), "description", json_object_get(s, "description"), "status",
        json_object_get(s, "status"), "size", json_object_get(s, "size"), "volume_id",
        json_object_get(s, "volume_id"), "created_at", json_object_get(s, "created_at"),
        "updated_at", json_object_get(s, "updated_at"), "metadata", json_object_get(s, "metadata"));
    if (detail) {
        json_object_set_new(
            out, "os-extended-snapshot-attributes:progress",
            json_string(strcmp(json_string_value(json_object_get(s, "status")), "available") == 0
                            ? "100%"
                            : "0%"));
        json_object_set(out, "os-extended-snapshot-attributes:project_id",
                        json_object_get(s, "project_id"));
    }
    return out;
}

static int reply_snap(struct http_resp *resp, int status, json_t *s, int detail)
{
    if (!s)
        return -1;
    http_resp_json(resp, status, json_pack("{s:o}", "snapshot", snap_view(s, detail)));
    json_decref(s);
    return 0;
}

static int cinder_snap_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *spec, *s;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "snapshot", &root, err)))
        return -1;
    spec = json_deep_copy(in);
    json_decref(root);
    alias(spec, "display_name", "name");
    alias(spec, "display_description", "description");
    s = local_volume_snapshot_create(ctx.app->volume, &ctx.caller, spec, err);
    json_decref(spec);
    return reply_snap(resp, 202, s, 0);
}

static int cinder_snap_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    return reply_snap(
        resp, 200,
        local_volume_snapshot_get(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), err), 1);
}

/* Compare two snapshots by key (ascending). */
static const char *snap_sort_key;
static int snap_cmp(const void *a, const void *b)
{
    json_t *x = json_object_get(*(json_t *const *)a, snap_sort_key);
    json_t *y = json_object_get(*(json_t *const *)b, snap_sort_key);
    int c;
    if (json_is_integer(x) && json_is_integer(y))
        c = json_integer_value(x) < json_integer_value(y)   ? -1
            : json_integer_value(x) > json_integer_value(y) ? 1
                                                            : 0;
    else
        c = strcmp(json_string_value(x) ? json_string_value(x) : "",
                   json_string_value(y) ? json_string_value(y) : "");
    if (c == 0)
        c = strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                   json_string_value(json_object_get(*(json_t *const *)b, "id")));
    return c;
}

/* Sort (sort=key:dir or sort_key/sort_dir; created_at, id, name, size, status; default
 * created_at desc), then marker, offset and limit, as Cinder pages snapshots. A new array, or
 * NULL with err. */
static pthread_mutex_t snap_sort_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *snap_page(struct http_req *req, json_t *arr, struct nph_error *err)
{
    static const char *const keys[] = {"created_at", "id", "name", "size", "status", "updated_at"};
    char key[64] = "created_at";
    const char *sort = http_req_query(req, "sort"), *marker = http_req_query(req, "marker");
    const char *lim = http_req_query(req, "limit"), *off = http_req_query(req, "offset");
    int asc = 0, known = 0;
    long limit = -1, offset = 0;
    size_t n = json_array_size(arr), start = 0;
    json_t **items, *out;
    if (sort) {
        char *colon;
        snprintf(key, sizeof(key), "%s", sort);
        if ((colon = strchr(key, ',')))
            *colon = '\0';
        if ((colon = strchr(key, ':'))) {
            *colon = '\0';
            asc = strcasecmp(colon + 1, "asc") == 0;
        }
    } else {
        if (http_req_query(req, "sort_key"))
            snprintf(key, sizeof(key), "%s", http_req_query(req, "sort_key"));
        asc = http_req_query(req, "sort_dir") &&
              strcasecmp(http_req_query(req, "sort_dir"), "asc") == 0;
    }
    if (strcmp(key, "display_name") == 0)
        snprintf(key, sizeof(key), "name");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        known |= strcmp(key, keys[i]) == 0;
    if (!known) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input received: Invalid sort key %s.", key);
        return NULL;
    }
    if (lim) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input received: limit param must be an integer");
            return NULL;
        }
    }
    if (off) {
        char *end;
        offset = strtol(off, &end, 10);
        if (!*off || *end || offset < 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input received: offset param must be an integer");
            return NULL;
        }
    }
    if (!(items = calloc(n ? n : 1, sizeof(*items)))) {
        nph_error_nomem(err);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(arr, i);
    pthread_mutex_lock(&snap_sort_lock);
    snap_sort_key = key;
    qsort(items, n, sizeof(*items), snap_cmp);
    pthread_mutex_unlock(&snap_sort_lock);
    if (!asc)
        for (size_t i = 0; i < n / 2; i++) {
            json_t *t = items[i];
            items[i] = items[n - 1 - i];
            items[n - 1 - i] = t;
        }
    if (marker) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(json_string_value(json_object_get(items[i], "id")), marker) == 0)
                break;
        if (i == n) {
            free(items);
            nph_error_set(err, NPH_E_INVALID, "Invalid input received: marker [%s] not found",
                          marker);
            return NULL;
        }
        start = i + 1;
    }
    start += (size_t)offset;
    out = json_array();
    for (size_t i = start; i < n && (limit < 0 || json_array_size(out) < (size_t)limit); i++)
        json_array_append(out, items[i]);
    free(items);
    return out;
}

static int snap_list(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                     int detail)
{
    struct cinder_ctx ctx;
    json_t *arr, *out, *s;
    size_t i;
    const char *name;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    name = http_req_query(req, "name") ? http_req_query(req, "name")
                                       : http_req_query(req, "display_name");
    if (!(arr = local_volume_snapshot_list(ctx.app->volume, &ctx.caller, name,
                                           http_req_query(req, "status"),
                                           http_req_query(req, "volume_id"),
                                           parse_bool_q(http_req_query(req, "all_tenants")), err)))
        return -1;
    {
        json_t *page = snap_page(req, arr, err);
        json_decref(arr);
        if (!(arr = page))
            return -1;
    }
    out = json_array();
    json_array_foreach(arr, i, s) json_array_append_new(out, snap_view(s, detail));
    json_decref(arr);
    return http_resp_json(resp, 200, json_pack("{s:o}", "snapshots", out));
}

static int cinder_snap_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    if (trailing_slash(req))
        return cinder_no_id(req, resp, err);
    return snap_list(req, resp, err, 0);
}

static int cinder_snap_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return snap_list(req, resp, err, 1);
}

static int cinder_snap_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *attrs, *s;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "snapshot", &root, err)))
        return -1;
    attrs = json_deep_copy(in);
    json_decref(root);
    alias(attrs, "display_name", "name");
    alias(attrs, "display_description", "description");
    s = local_volume_snapshot_update(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), attrs, err);
    json_decref(attrs);
    return reply_snap(resp, 200, s, 0);
}

static int cinder_snap_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (local_volume_snapshot_delete(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), err))
        return -1;
    resp->status = 202;
    return 0;
}

/* ---- types -------------------------------------------------------------------------------- */

/* full: show and list (with qos_specs_id); create answers without it; update answers
 * neither it nor the access attribute. */
static json_t *type_view(json_t *t, int full)
{
    if (full >= 0)
        json_object_set(t, "os-volume-type-access:is_public", json_object_get(t, "is_public"));
    if (full > 0)
        json_object_set_new(t, "qos_specs_id", json_null());
    return t;
}

static int cinder_type_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *arr, *t;
    size_t i;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(arr = local_volume_type_list(ctx.app->volume, &ctx.caller, err)))
        return -1;
    json_array_foreach(arr, i, t) type_view(t, 1);
    return http_resp_json(resp, 200, json_pack("{s:o}", "volume_types", arr));
}

static int cinder_type_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *t;
    const char *id;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    id = param(req, &ctx, 0);
    if (strcmp(id, "default") == 0)
        id = LOCAL_VOLUME_DEFAULT_TYPE;
    if (!(t = local_volume_type_get(ctx.app->volume, &ctx.caller, id, err)))
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "volume_type", type_view(t, 1)));
}

static int cinder_type_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *attrs, *t;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "volume_type", &root, err)))
        return -1;
    attrs = json_deep_copy(in);
    json_decref(root);
    alias(attrs, "os-volume-type-access:is_public", "is_public");
    t = local_volume_type_create(ctx.app->volume, attrs, err);
    json_decref(attrs);
    if (!t)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "volume_type", type_view(t, 0)));
}

static int cinder_type_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *t;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "volume_type", &root, err)))
        return -1;
    t = local_volume_type_update(ctx.app->volume, param(req, &ctx, 0), in, err);
    json_decref(root);
    if (!t)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "volume_type", type_view(t, -1)));
}

static int cinder_type_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (local_volume_type_delete(ctx.app->volume, param(req, &ctx, 0), err))
        return -1;
    resp->status = 202;
    return 0;
}

static int cinder_specs_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *t;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(t = local_volume_type_get(ctx.app->volume, &ctx.caller, param(req, &ctx, 0), err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:O}", "extra_specs", json_object_get(t, "extra_specs")));
    json_decref(t);
    return 0;
}

static int cinder_specs_set(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *s;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "extra_specs", &root, err)))
        return -1;
    s = local_volume_type_set_specs(ctx.app->volume, param(req, &ctx, 0), in, err);
    json_decref(root);
    if (!s)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "extra_specs", s));
}

static int cinder_spec_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (local_volume_type_unset_spec(ctx.app->volume, param(req, &ctx, 0), param(req, &ctx, 1),
                                     err))
        return -1;
    resp->status = 202;
    return 0;
}

/* ---- quotas, limits, zones, extensions --------------------------------------------------- */

/* Cinder's quota set: ours, the per-type ones (unlimited) and the backup/group ones Nephele
 * does not have (Cinder's defaults, never in use). */
static json_t *quota_view(json_t *q, const char *project)
{
    json_object_set_new(q, "per_volume_gigabytes", json_integer(-1));
    json_object_set_new(q, "backups", json_integer(10));
    json_object_set_new(q, "backup_gigabytes", json_integer(1000));
    json_object_set_new(q, "groups", json_integer(10));
    json_object_set_new(q, "volumes_" LOCAL_VOLUME_DEFAULT_TYPE, json_integer(-1));
    json_object_set_new(q, "gigabytes_" LOCAL_VOLUME_DEFAULT_TYPE, json_integer(-1));
    json_object_set_new(q, "snapshots_" LOCAL_VOLUME_DEFAULT_TYPE, json_integer(-1));
    if (project)
        json_object_set_new(q, "id", json_string(project));
    return q;
}

static int cinder_quota_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *q, *u = NULL;
    const char *project;
    int defaults = strstr(req->route->pattern, "/defaults") != NULL;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    project = param(req, &ctx, 0);
    if (!defaults && !ctx.caller.is_admin && strcmp(project, ctx.caller.project_id) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow volume_extension:quotas:show to be performed.");
    if (!(q = local_volume_quota_get(ctx.app->volume, defaults ? NULL : project, err)))
        return -1;
    quota_view(q, project);
    if (!defaults && parse_bool_q(http_req_query(req, "usage"))) {
        const char *k;
        json_t *v;
        void *tmp;
        if (!(u = local_volume_quota_usage(ctx.app->volume, project, err))) {
            json_decref(q);
            return -1;
        }
        json_object_foreach_safe(q, tmp, k, v)
        {
            if (strcmp(k, "id") == 0)
                continue;
            json_object_set_new(q, k,
                                json_pack("{s:O,s:I,s:i,s:i}", "limit", v, "in_use",
                                          json_integer_value(json_object_get(u, k)), "reserved", 0,
                                          "allocated", 0));
        }
        json_decref(u);
    }
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota_set", q));
}

static int cinder_quota_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *root, *in, *q;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (!(in = body_obj(req, "quota_set", &root, err)))
        return -1;
    json_object_del(in, "tenant_id"); /* old clients send it along */
    q = local_volume_quota_set(ctx.app->volume, param(req, &ctx, 0), in, err);
    json_decref(root);
    if (!q)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota_set", quota_view(q, NULL)));
}

static int cinder_quota_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return fail(resp);
    if (local_volume_quota_delete(ctx.app->volume, param(req, &ctx, 0), err))
        return -1;
    resp->status = 200;
    return 0;
}

static int cinder_limits(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    json_t *q, *u;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    if (!(q = local_volume_quota_get(ctx.app->volume, ctx.caller.project_id, err)))
        return -1;
    if (!(u = local_volume_quota_usage(ctx.app->volume, ctx.caller.project_id, err))) {
        json_decref(q);
        return -1;
    }
    json_t *abs = json_pack(
        "{s:O,s:O,s:O,s:i,s:i,s:O,s:O,s:O,s:i,s:i}", "maxTotalVolumes",
        json_object_get(q, "volumes"), "maxTotalSnapshots", json_object_get(q, "snapshots"),
        "maxTotalVolumeGigabytes", json_object_get(q, "gigabytes"), "maxTotalBackups", 10,
        "maxTotalBackupGigabytes", 1000, "totalVolumesUsed", json_object_get(u, "volumes"),
        "totalGigabytesUsed", json_object_get(u, "gigabytes"), "totalSnapshotsUsed",
        json_object_get(u, "snapshots"), "totalBackupsUsed", 0, "totalBackupGigabytesUsed", 0);
    json_decref(q);
    json_decref(u);
    return http_resp_json(resp, 200,
                          json_pack("{s:{s:[],s:o}}", "limits", "rate", "absolute", abs));
}

static int cinder_azs(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct cinder_ctx ctx;
    if (cinder_begin(req, resp, &ctx, err))
        return fail(resp);
    return http_resp_json(resp, 200,
                          json_pack("{s:[{s:s,s:{s:b}}]}", "availabilityZoneInfo", "zoneName",
                                    "nova", "zoneState", "available", 1));
}

static int cinder_extensions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    static const char *const ext[][3] = {
        {"os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
         "Extended SnapshotAttributes support."},
        {"os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id."},
        {"os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."},
        {"os-quota-sets", "Quotas", "Quota management support."},
        {"os-volume-actions", "VolumeActions", "Enable volume actions."},
        {"os-types-manage", "TypesManage", "Types manage support."},
        {"os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."},
        {"os-availability-zone", "AvailabilityZones", "Describe Availability Zones."},
        {"os-admin-actions", "AdminActions", "Enable admin actions."},
    };
    struct cinder_ctx ctx;
    json_t *arr = json_array();
    if (cinder_begin(req, resp, &ctx, err)) {
        json_decref(arr);
        return fail(resp);
    }
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:[]}", "alias", ext[i][0], "name",
                                             ext[i][1], "description", ext[i][2], "updated",
                                             "2023-01-01T00:00:00+00:00", "links"));
    return http_resp_json(resp, 200, json_pack("{s:o}", "extensions", arr));
}

/* Every route twice: project-less first (a project id never equals these words), then with
 * the project id Cinder's classic URLs carry. */
#define R(m, p, h, n)                                                                              \
    {m, CV p, h, n, OS},                                                                           \
    {                                                                                              \
        m, CV "/{project_id}" p, h, n, OS                                                          \
    }
const struct http_route compat_cinder_routes[] = {
    {"GET", "/volume", cinder_versions, "volume.versions", OS},
    {"GET", CV, cinder_version, "volume.version", OS},
    R("GET", "/volumes", cinder_volume_list_or_404, "volume.volumes.list"),
    R("GET", "/volumes/detail", cinder_volume_detail, "volume.volumes.detail"),
    R("POST", "/volumes", cinder_volume_create, "volume.volumes.create"),
    R("PUT", "/volumes", cinder_no_id, "volume.volumes.noid"),
    R("DELETE", "/volumes", cinder_no_id, "volume.volumes.noid"),
    R("GET", "/volumes/{id}", cinder_volume_get, "volume.volumes.get"),
    R("PUT", "/volumes/{id}", cinder_volume_update, "volume.volumes.update"),
    R("DELETE", "/volumes/{id}", cinder_volume_delete, "volume.volumes.delete"),
    R("POST", "/volumes/{id}/action", cinder_volume_action, "volume.volumes.action"),
    R("GET", "/volumes/{id}/metadata", vol_meta_list, "volume.metadata.list"),
    R("POST", "/volumes/{id}/metadata", vol_meta_update, "volume.metadata.update"),
    R("PUT", "/volumes/{id}/metadata", vol_meta_replace, "volume.metadata.replace"),
    R("GET", "/volumes/{id}/metadata/{key}", vol_meta_get, "volume.metadata.get"),
    R("PUT", "/volumes/{id}/metadata/{key}", vol_meta_put, "volume.metadata.put"),
    R("DELETE", "/volumes/{id}/metadata/{key}", vol_meta_delete, "volume.metadata.delete"),
    R("GET", "/snapshots", cinder_snap_list, "volume.snapshots.list"),
    R("GET", "/snapshots/detail", cinder_snap_detail, "volume.snapshots.detail"),
    R("POST", "/snapshots", cinder_snap_create, "volume.snapshots.create"),
    R("GET", "/snapshots/{id}", cinder_snap_get, "volume.snapshots.get"),
    R("PUT", "/snapshots/{id}", cinder_snap_update, "volume.snapshots.update"),
    R("DELETE", "/snapshots/{id}", cinder_snap_delete, "volume.snapshots.delete"),
    R("GET", "/snapshots/{id}/metadata", snap_meta_list, "volume.snapmeta.list"),
    R("POST", "/snapshots/{id}/metadata", snap_meta_update, "volume.snapmeta.update"),
    R("PUT", "/snapshots/{id}/metadata", snap_meta_replace, "volume.snapmeta.replace"),
    R("GET", "/snapshots/{id}/metadata/{key}", snap_meta_get, "volume.snapmeta.get"),
    R("PUT", "/snapshots/{id}/metadata/{key}", snap_meta_put, "volume.snapmeta.put"),
    R("DELETE", "/snapshots/{id}/metadata/{key}", snap_meta_delete, "volume.snapmeta.delete"),
    R("GET", "/types", cinder_type_list, "volume.types.list"),
    R("POST", "/types", cinder_type_create, "volume.types.create"),
    R("GET", "/types/{id}", cinder_type_get, "volume.types.get"),
    R("PUT", "/types/{id}", cinder_type_update, "volume.types.update"),
    R("DELETE", "/types/{id}", cinder_type_delete, "volume.types.delete"),
    R("GET", "/types/{id}/extra_specs", cinder_specs_list, "volume.specs.list"),
    R("POST", "/types/{id}/extra_specs", cinder_specs_set, "volume.specs.set"),
    R("DELETE", "/types/{id}/extra_specs/{key}", cinder_spec_delete, "volume.specs.delete"),
    R("GET", "/os-quota-sets/{project}/defaults", cinder_quota_get, "volume.quotas.defaults"),
    R("GET", "/os-quota-sets/{project}", cinder_quota_get, "volume.quotas.get"),
    R("PUT", "/os-quota-sets/{project}", cinder_quota_put, "volume.quotas.put"),
    R("DELETE", "/os-quota-sets/{project}", cinder_quota_delete, "volume.quotas.delete"),
    R("GET", "/limits", cinder_limits, "volume.limits"),
    R("GET", "/os-availability-zone", cinder_azs, "volume.azs"),
    R("GET", "/extensions", cinder_extensions, "volume.extensions"),
    {NULL, NULL, NULL, NULL, 0},
};
