/*
 * compat_nova.c - the Nova v2.1 compatible compute API under /compute, over local/compute:
 * version discovery and microversions (2.1 to NOVA_MAX_VERSION), servers (create, list,
 * detail, show, update, delete, actions, metadata, tags, instance actions, console output),
 * flavors (with extra specs and private access), an images proxy over local/image, limits,
 * availability zones, key pairs and quota sets, in Nova's bodies, statuses and fault format.
 *
 * Microversions: the request's "OpenStack-API-Version: compute X.Y" (or the legacy
 * "X-OpenStack-Nova-API-Version: X.Y"; "latest" = the maximum) picks the response shape; both
 * headers are echoed with "Vary". What changes with the version here: 2.9 "locked", 2.19
 * server "description", 2.26 server "tags" and the tags API, 2.37 "networks" ("none" and
 * "auto" are accepted at every version, as the stock client sends them), 2.47 the server's
 * flavor embedded instead of linked. 2.47 is the maximum: later versions change bodies this
 * module does not produce yet.
 *
 * RBAC: a project sees and changes only its own servers; admins see every project's servers
 * with all_tenants=1, and manage flavors and quotas.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "compat_nova_fed.h"
#include "compat_nova_net.h"
#include "nph_clock.h"
#include "nph_crypto.h"
#include "nph_json.h"
#include "nph_log.h"

#define NOVA_PREFIX      "/compute/v2.1"
#define NOVA_MAX_MINOR   47
#define NOVA_MAX_VERSION "2.47"
#define OS               NPH_FAULT_OPENSTACK

struct nova_ctx {
    struct nph_app *app;
    struct ident_token *tok;
    struct local_compute_caller caller;
    int minor; /* microversion 2.<minor> */
};

/* A version string as Nova parses it: "X.Y" with X >= 1 and Y without leading zeros. */
static int parse_version(const char *v, int *maj, int *min)
{
    long a, b;
    char *end;
    if (!(*v >= '1' && *v <= '9'))
        return -1;
    a = strtol(v, &end, 10);
    if (*end != '.' || !(end[1] >= '0' && end[1] <= '9') || (end[1] == '0' && end[2] != '\0'))
        return -1;
    b = strtol(end + 1, &end, 10);
    if (*end != '\0' || a > 1000 || b > 100000)
        return -1;
    *maj = (int)a;
    *min = (int)b;
    return 0;
}

/* Read the requested microversion. A malformed one is 400 (err set, -1); a well-formed one
 * outside [2.1, NOVA_MAX_VERSION] is Nova's 406, written into resp here (no error type maps
 * to 406): -1 with resp->status 406, which the handlers turn into a success (nova_fail). */
static int nova_microversion(struct http_req *req, struct http_resp *resp, int *minor,
                             struct nph_error *err)
{
    const char *h = http_req_header(req, "OpenStack-API-Version");
    const char *v = NULL;
    char buf[32], ver[32];
    int maj = 2, min = 1;
    if (h) {
        while (*h == ' ')
            h++;
        if (strncasecmp(h, "compute ", 8) == 0)
            v = h + 8;
    }
    if (!v)
        v = http_req_header(req, "X-OpenStack-Nova-API-Version");
    http_resp_header(resp, "Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
    if (v) {
        size_t n;
        while (*v == ' ')
            v++;
        snprintf(ver, sizeof(ver), "%s", v);
        n = strlen(ver);
        while (n && ver[n - 1] == ' ')
            ver[--n] = '\0';
        if (strcasecmp(ver, "latest") == 0) {
            min = NOVA_MAX_MINOR;
        } else if (strlen(v) >= sizeof(ver) || parse_version(ver, &maj, &min)) {
            return nph_error_set(err, NPH_E_INVALID,
                                 "API Version String %.16s is of invalid format. Must be of "
                                 "format MajorNum.MinorNum.",
                                 v);
        } else if (maj != 2 || min < 1 || min > NOVA_MAX_MINOR) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "Version %s is not supported by the API. Minimum is 2.1 and maximum is "
                     "" NOVA_MAX_VERSION ".",
                     ver);
            http_resp_json(resp, 406,
                           json_pack("{s:{s:i,s:s}}", "computeFault", "code", 406, "message", msg));
            return nph_error_set(err, NPH_E_INVALID, "%s", msg);
        }
    }
    *minor = min;
    snprintf(buf, sizeof(buf), "compute 2.%d", min);
    http_resp_header(resp, "OpenStack-API-Version", buf);
    http_resp_header(resp, "X-OpenStack-Nova-API-Version", buf + 8);
    return 0;
}

int nova_request_microversion(struct http_req *req, struct http_resp *resp, int *minor,
                              struct nph_error *err)
{
    return nova_microversion(req, resp, minor, err);
}

/* What a handler returns when nova_begin (or what follows it in the same statement) failed:
 * 0 when the answer is already written (the 406 of an unsupported microversion), else -1. */
static int nova_fail(const struct http_resp *resp)
{
    return resp->status == 406 ? 0 : -1;
}

/* Authenticate, read the microversion, fill the caller. */
static int nova_begin(struct http_req *req, struct http_resp *resp, struct nova_ctx *ctx,
                      struct nph_error *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->app = req->app;
    if (nova_microversion(req, resp, &ctx->minor, err))
        return -1;
    if (app_authenticate(req, err))
        return -1;
    ctx->tok = req->auth;
    ctx->caller.project_id = ctx->tok->scope_id;
    ctx->caller.user_id = ctx->tok->user_id;
    ctx->caller.is_admin = ident_token_is_admin(ctx->tok);
    ctx->caller.request_id = req->request_id;
    if (ctx->tok->scope != IDENT_SCOPE_PROJECT && !ctx->caller.is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN, "a project-scoped token is required");
    return 0;
}

/* The request as the federation sees it (servers on remote clouds: compat_nova_fed.c). */
static struct nova_fed_req fed_req(const struct nova_ctx *ctx)
{
    struct nova_fed_req r = {
        .app = ctx->app,
        .who = {.project_id = ctx->caller.project_id,
                .user_id = ctx->caller.user_id,
                .is_admin = ctx->caller.is_admin,
                .request_id = ctx->caller.request_id},
        .minor = ctx->minor,
    };
    return r;
}

static int need_admin(struct nova_ctx *ctx, struct nph_error *err)
{
    if (!ctx->caller.is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow this action to be performed.");
    return 0;
}

static void url_of(struct nova_ctx *ctx, char *buf, size_t len, const char *fmt, const char *a)
{
    int n = snprintf(buf, len, "%s" NOVA_PREFIX, ctx->app->cfg.public_url);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, fmt, a);
}

static json_t *links(struct nova_ctx *ctx, const char *collection, const char *id)
{
    char self[2048], book[2048];
    char fmt[128];
    snprintf(fmt, sizeof(fmt), "/%s/%%s", collection);
    url_of(ctx, self, sizeof(self), fmt, id);
    snprintf(book, sizeof(book), "%s/compute/%s/%s", ctx->app->cfg.public_url, collection, id);
    return json_pack("[{s:s,s:s},{s:s,s:s}]", "rel", "self", "href", self, "rel", "bookmark",
                     "href", book);
}

/* The id at the end of a reference that may be a URL ("http://.../flavors/1" -> "1"). */
static const char *ref_id(const char *ref)
{
    const char *slash = ref ? strrchr(ref, '/') : NULL;
    return slash ? slash + 1 : ref;
}

static json_t *body_obj(struct http_req *req, const char *key, json_t **root, struct nph_error *err)
{
    json_t *o;
    *root = http_req_json(req, err);
    if (!*root)
        return NULL;
    o = json_object_get(*root, key);
    if (!json_is_object(o)) {
        json_decref(*root);
        *root = NULL;
        nph_error_set(err, NPH_E_INVALID, "Invalid input: '%s' is a required object", key);
        return NULL;
    }
    return o;
}

/* ---- versions ------------------------------------------------------------------------------ */

static json_t *version_doc(struct http_req *req)
{
    struct nph_app *app = req->app;
    char url[2048];
    snprintf(url, sizeof(url), "%s" NOVA_PREFIX "/", app->cfg.public_url);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}", "id", "v2.1", "status",
                     "CURRENT", "version", NOVA_MAX_VERSION, "min_version", "2.1", "updated",
                     "2013-07-23T11:33:21Z", "links", "rel", "self", "href", url, "media-types",
                     "base", "application/json", "type",
                     "application/vnd.openstack.compute+json;version=2.1");
}

/* The legacy v2.0 API as Nova lists it: SUPPORTED, without microversions. */
static json_t *version_doc_v20(struct http_req *req)
{
    struct nph_app *app = req->app;
    char url[2048];
    snprintf(url, sizeof(url), "%s/compute/v2/", app->cfg.public_url);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}", "id", "v2.0", "status",
                     "SUPPORTED", "version", "", "min_version", "", "updated",
                     "2011-01-21T11:33:21Z", "links", "rel", "self", "href", url, "media-types",
                     "base", "application/json", "type",
                     "application/vnd.openstack.compute+json;version=2");
}

static int nova_versions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(
        resp, 200, json_pack("{s:[o,o]}", "versions", version_doc_v20(req), version_doc(req)));
}

static int nova_version(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    int minor;
    if (nova_microversion(req, resp, &minor, err))
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "version", version_doc(req)));
}

/* ---- flavors -------------------------------------------------------------------------------- */

static json_t *flavor_view(struct nova_ctx *ctx, json_t *f, int detail)
{
    const char *id = json_string_value(json_object_get(f, "id"));
    json_t *out;
    if (!detail)
        return json_pack("{s:O,s:O,s:o}", "id", json_object_get(f, "id"), "name",
                         json_object_get(f, "name"), "links", links(ctx, "flavors", id));
    out = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:b,s:f,s:O,s:o}", "id", json_object_get(f, "id"),
                    "name", json_object_get(f, "name"), "ram", json_object_get(f, "ram"), "disk",
                    json_object_get(f, "disk"), "vcpus", json_object_get(f, "vcpus"),
                    "OS-FLV-EXT-DATA:ephemeral", json_object_get(f, "ephemeral"),
                    "OS-FLV-DISABLED:disabled", 0, "rxtx_factor", 1.0, "os-flavor-access:is_public",
                    json_object_get(f, "is_public"), "links", links(ctx, "flavors", id));
    if (json_integer_value(json_object_get(f, "swap")))
        json_object_set(out, "swap", json_object_get(f, "swap"));
    else
        json_object_set_new(out, "swap", json_string(""));
    return out;
}

static int flavor_list(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                       int detail)
{
    struct nova_ctx ctx;
    const char *p;
    int is_public = 1;
    json_t *arr, *out, *f;
    size_t i;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    p = http_req_query(req, "is_public");
    if (p) {
        if (strcasecmp(p, "none") == 0)
            is_public = -1;
        else if (strcasecmp(p, "false") == 0 || strcmp(p, "0") == 0)
            is_public = 0;
    }
    arr = local_compute_flavor_list(ctx.app->compute, &ctx.caller, is_public, err);
    if (!arr)
        return -1;
    out = json_array();
    json_array_foreach(arr, i, f)
    {
        const char *mv = http_req_query(req, "minRam"), *md = http_req_query(req, "minDisk");
        if (mv && json_integer_value(json_object_get(f, "ram")) < atoll(mv))
            continue;
        if (md && json_integer_value(json_object_get(f, "disk")) < atoll(md))
            continue;
        json_array_append_new(out, flavor_view(&ctx, f, detail));
    }
    json_decref(arr);
    return http_resp_json(resp, 200, json_pack("{s:o}", "flavors", out));
}

static int nova_flavor_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return flavor_list(req, resp, err, 0);
}

static int nova_flavor_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return flavor_list(req, resp, err, 1);
}

static int nova_flavor_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *f;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    f = local_compute_flavor_get(ctx.app->compute, &ctx.caller, req->params[0], err);
    if (!f)
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "flavor", flavor_view(&ctx, f, 1)));
    json_decref(f);
    return 0;
}

static int nova_flavor_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *attrs, *f, *v;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "flavor", &root, err)))
        return -1;
    attrs = json_deep_copy(in);
    json_decref(root);
    if ((v = json_object_get(attrs, "OS-FLV-EXT-DATA:ephemeral")))
        json_object_set(attrs, "ephemeral", v);
    if ((v = json_object_get(attrs, "os-flavor-access:is_public")))
        json_object_set(attrs, "is_public", v);
    if (json_is_string(json_object_get(attrs, "swap")) &&
        !*json_string_value(json_object_get(attrs, "swap")))
        json_object_del(attrs, "swap");
    if (json_is_null(json_object_get(attrs, "id")))
        json_object_del(attrs, "id");
    json_object_del(attrs, "OS-FLV-EXT-DATA:ephemeral");
    json_object_del(attrs, "os-flavor-access:is_public");
    json_object_del(attrs, "rxtx_factor");
    f = local_compute_flavor_create(ctx.app->compute, attrs, err);
    json_decref(attrs);
    if (!f)
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "flavor", flavor_view(&ctx, f, 1)));
    json_decref(f);
    return 0;
}

static int nova_flavor_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err) ||
        local_compute_flavor_delete(ctx.app->compute, req->params[0], err))
        return nova_fail(resp);
    resp->status = 202;
    return 0;
}

static int nova_flavor_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *f;
    const char *desc = NULL;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "flavor", &root, err)))
        return -1;
    if (nph_json_get_str(in, "description", "flavor.description", 1, 65535, &desc, err) < 0) {
        json_decref(root);
        return -1;
    }
    f = local_compute_flavor_update(ctx.app->compute, req->params[0], desc, err);
    json_decref(root);
    if (!f)
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "flavor", flavor_view(&ctx, f, 1)));
    json_decref(f);
    return 0;
}

static int nova_specs_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *f;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(f = local_compute_flavor_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:O}", "extra_specs", json_object_get(f, "extra_specs")));
    json_decref(f);
    return 0;
}

static int nova_specs_set(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *out;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "extra_specs", &root, err)))
        return -1;
    out = local_compute_flavor_set_specs(ctx.app->compute, req->params[0], in, err);
    if (out)
        http_resp_json(resp, 200, json_pack("{s:O}", "extra_specs", in));
    json_decref(out);
    json_decref(root);
    return out ? 0 : -1;
}

static int nova_spec_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *f, *v;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(f = local_compute_flavor_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    v = json_object_get(json_object_get(f, "extra_specs"), req->params[1]);
    if (!v) {
        json_decref(f);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s has no extra specs with key %s.",
                             req->params[0], req->params[1]);
    }
    http_resp_json(resp, 200, json_pack("{s:O}", req->params[1], v));
    json_decref(f);
    return 0;
}

static int nova_spec_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *out, *v;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(root = http_req_json(req, err)))
        return -1;
    v = json_object_get(root, req->params[1]);
    if (json_object_size(root) != 1 || !v) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID, "Request body and URI mismatch");
    }
    out = local_compute_flavor_set_specs(ctx.app->compute, req->params[0], root, err);
    if (out)
        http_resp_json(resp, 200, json_incref(root));
    json_decref(out);
    json_decref(root);
    return out ? 0 : -1;
}

static int nova_spec_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err) ||
        local_compute_flavor_unset_spec(ctx.app->compute, req->params[0], req->params[1], err))
        return nova_fail(resp);
    resp->status = 200;
    return 0;
}

static int nova_flavor_access_list(struct http_req *req, struct http_resp *resp,
                                   struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *arr;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(arr = local_compute_flavor_access_list(ctx.app->compute, req->params[0], err)))
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "flavor_access", arr));
}

static int nova_flavor_action(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *a, *arr;
    const char *tenant = NULL;
    int grant;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(root = http_req_json(req, err)))
        return -1;
    if ((a = json_object_get(root, "addTenantAccess")))
        grant = 1;
    else if ((a = json_object_get(root, "removeTenantAccess")))
        grant = 0;
    else {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID, "unknown flavor action");
    }
    if (!json_is_object(a) || nph_json_get_str(a, "tenant", "tenant", 1, 255, &tenant, err) < 0 ||
        local_compute_flavor_access(ctx.app->compute, req->params[0], tenant, grant, err)) {
        json_decref(root);
        if (!json_is_object(a))
            nph_error_set(err, NPH_E_INVALID, "the action's body must be an object");
        return -1;
    }
    json_decref(root);
    if (!(arr = local_compute_flavor_access_list(ctx.app->compute, req->params[0], err)))
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "flavor_access", arr));
}

/* ---- servers ------------------------------------------------------------------------------- */

#define S_(o, k) json_string_value(json_object_get((o), (k)))

static json_t *server_view(struct nova_ctx *ctx, json_t *s, int detail)
{
    const char *id = json_string_value(json_object_get(s, "id"));
    json_t *out, *f = json_object_get(s, "flavor"), *img;
    const char *status = json_string_value(json_object_get(s, "status"));
    const char *image_id = json_string_value(json_object_get(s, "image_id"));
    char hostid[65];
    if (!detail)
        return json_pack("{s:O,s:O,s:o}", "id", json_object_get(s, "id"), "name",
                         json_object_get(s, "name"), "links", links(ctx, "servers", id));
    {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s", json_string_value(json_object_get(s, "project_id")),
                 "nephele");
        nph_sha256_hex(buf, strlen(buf), hostid);
        hostid[56] = '\0';
    }
    if (image_id) {
        char fmt[] = "/images/%s";
        char book[2048];
        url_of(ctx, book, sizeof(book), fmt, image_id);
        img = json_pack("{s:s,s:[{s:s,s:s}]}", "id", image_id, "links", "rel", "bookmark", "href",
                        book);
    } else {
        img = json_string("");
    }
    out = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:O,s:s,s:o,s:O,s:O,s:o,s:s,s:s,s:o,s:s,s:s,s:O,s:O,s:O,s:O,s:O,"
        "s:O,s:[],s:i,s:s}",
        "id", json_object_get(s, "id"), "name", json_object_get(s, "name"), "status",
        json_object_get(s, "status"), "tenant_id", json_object_get(s, "project_id"), "user_id",
        json_object_get(s, "user_id"), "metadata", json_object_get(s, "metadata"), "hostId", hostid,
        "image", img, "created", json_object_get(s, "created"), "updated",
        json_object_get(s, "updated"), "addresses", json_object(), "accessIPv4",
        json_string_value(json_object_get(s, "access_ipv4")) ? S_(s, "access_ipv4") : "",
        "accessIPv6",
        json_string_value(json_object_get(s, "access_ipv6")) ? S_(s, "access_ipv6") : "", "links",
        links(ctx, "servers", id), "OS-DCF:diskConfig", "MANUAL", "OS-EXT-AZ:availability_zone",
        fed_local_cloud_name(ctx->app->fed), "key_name", json_object_get(s, "key_name"),
        "OS-SRV-USG:launched_at", json_object_get(s, "launched_at"), "OS-SRV-USG:terminated_at",
        json_object_get(s, "terminated_at"), "OS-EXT-STS:task_state",
        json_object_get(s, "task_state"), "OS-EXT-STS:vm_state", json_object_get(s, "vm_state"),
        "OS-EXT-STS:power_state", json_object_get(s, "power_state"),
        "os-extended-volumes:volumes_attached", "progress",
        status && strcmp(status, "BUILD") == 0 ? 0 : 100, "config_drive", "");
    {
        /* the volumes attached through block storage (local/storage) */
        json_t *atts = ctx->app->volume
                           ? local_volume_server_attachments(ctx->app->volume, id, NULL)
                           : NULL,
               *a, *va = json_object_get(out, "os-extended-volumes:volumes_attached");
        size_t ai;
        json_array_foreach(atts, ai, a)
        {
            json_t *e = json_pack("{s:O}", "id", json_object_get(a, "volume_id"));
            if (ctx->minor >= 3)
                json_object_set_new(e, "delete_on_termination", json_false());
            json_array_append_new(va, e);
        }
        json_decref(atts);
    }
    /* Nova shows progress only while a server is (or may be) in motion */
    if (!status || (strcmp(status, "ACTIVE") != 0 && strcmp(status, "BUILD") != 0 &&
                    strcmp(status, "REBUILD") != 0 && strcmp(status, "RESIZE") != 0 &&
                    strcmp(status, "VERIFY_RESIZE") != 0))
        json_object_del(out, "progress");
    if (ctx->minor >= 47) {
        json_object_set_new(
            out, "flavor",
            json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "vcpus", json_object_get(f, "vcpus"), "ram",
                      json_object_get(f, "ram"), "disk", json_object_get(f, "disk"), "ephemeral",
                      json_object_get(f, "ephemeral"), "swap", json_object_get(f, "swap"),
                      "original_name", json_object_get(f, "name"), "extra_specs",
                      json_object_get(f, "extra_specs")));
    } else {
        const char *fid = json_string_value(json_object_get(f, "id"));
        char book[2048];
        url_of(ctx, book, sizeof(book), "/flavors/%s", fid ? fid : "");
        json_object_set_new(out, "flavor",
                            json_pack("{s:s,s:[{s:s,s:s}]}", "id", fid ? fid : "", "links", "rel",
                                      "bookmark", "href", book));
    }
    if (ctx->minor >= 9)
        json_object_set(out, "locked", json_object_get(s, "locked"));
    if (ctx->minor >= 19)
        json_object_set(out, "description", json_object_get(s, "description"));
    if (ctx->minor >= 26)
        json_object_set(out, "tags", json_object_get(s, "tags"));
    if (ctx->minor >= 16)
        json_object_set_new(out, "host_status", json_string("UP"));
    if (status && strcmp(status, "ERROR") == 0 && json_is_string(json_object_get(s, "fault")))
        json_object_set_new(out, "fault",
                            json_pack("{s:i,s:O,s:O}", "code", 500, "created",
                                      json_object_get(s, "updated"), "message",
                                      json_object_get(s, "fault")));
    if (ctx->caller.is_admin) {
        json_object_set_new(out, "OS-EXT-SRV-ATTR:host", json_string("nephele"));
        json_object_set_new(out, "OS-EXT-SRV-ATTR:hypervisor_hostname", json_string("nephele"));
        json_object_set(out, "OS-EXT-SRV-ATTR:instance_name", json_object_get(s, "domain"));
    }
    json_object_set_new(out, "security_groups", json_array());
    nova_net_view(ctx->app, id, out); /* addresses and groups of its ports */
    if (detail == 2) {
        /* Update and rebuild answer Nova's basic view: no extension attributes. */
        static const char *const keep[] = {
            "id",         "name",        "status", "tenant_id",         "user_id",  "metadata",
            "hostId",     "image",       "flavor", "created",           "updated",  "addresses",
            "accessIPv4", "accessIPv6",  "links",  "OS-DCF:diskConfig", "progress", "fault",
            "locked",     "description", "tags"};
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(out, tmp, k, v)
        {
            size_t i;
            (void)v;
            for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                if (strcmp(k, keep[i]) == 0)
                    break;
            if (i == sizeof(keep) / sizeof(keep[0]))
                json_object_del(out, k);
        }
    }
    return out;
}

static int parse_bool_q(const char *v)
{
    return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                 strcasecmp(v, "yes") == 0 || strcasecmp(v, "t") == 0);
}

struct qs_buf {
    char buf[2048];
};

static void keep_query(const char *k, const char *v, void *p)
{
    struct qs_buf *q = p;
    size_t n = strlen(q->buf);
    if (strcmp(k, "marker") == 0 || n + strlen(k) + strlen(v) + 3 >= sizeof(q->buf))
        return;
    snprintf(q->buf + n, sizeof(q->buf) - n, "%s%s=%s", n ? "&" : "", k, v);
}

/* Rendered server lists, keyed by everything the body depends on (the request, the caller,
 * the microversion and local_compute_list_stamp), so that a list nobody changed is not
 * rendered again: rendering 100 servers with jansson costs ~2 ms, a hit ~0.1 ms. */
#define LIST_CACHE_SLOTS 64

static struct {
    pthread_mutex_t lock;
    struct {
        char *key;
        char *body;
        size_t len;
        uint64_t used;
    } e[LIST_CACHE_SLOTS];
    uint64_t tick;
} list_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The stamp of a server list: the servers' (local_compute_list_stamp) mixed with the network
 * service's, since the views show the ports' addresses and security groups. */
static int list_stamp(struct nova_ctx *ctx, const struct local_compute_server_filter *f,
                      uint64_t *stamp)
{
    uint64_t net = 0;
    if (local_compute_list_stamp(ctx->app->compute, &ctx->caller, f, stamp, NULL) ||
        (ctx->app->network && local_network_stamp(ctx->app->network, &net, NULL)))
        return -1;
    *stamp ^= (net + 1) * 0x9e3779b97f4a7c15ULL;
    return 0;
}

static int list_cache_get(const char *key, struct http_resp *resp)
{
    int hit = 0;
    pthread_mutex_lock(&list_cache.lock);
    for (int i = 0; i < LIST_CACHE_SLOTS; i++) {
        if (list_cache.e[i].key && strcmp(list_cache.e[i].key, key) == 0) {
            char *b = malloc(list_cache.e[i].len + 1);
            if (b) {
                memcpy(b, list_cache.e[i].body, list_cache.e[i].len + 1);
                free(resp->body);
                resp->body = b;
                resp->body_len = list_cache.e[i].len;
                resp->status = 200;
                list_cache.e[i].used = ++list_cache.tick;
                hit = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&list_cache.lock);
    return hit;
}

static void list_cache_put(const char *key, const struct http_resp *resp)
{
    int victim = 0;
    char *k, *b;
    if (!resp->body || resp->status != 200)
        return;
    k = strdup(key);
    b = malloc(resp->body_len + 1);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, resp->body, resp->body_len);
    b[resp->body_len] = '\0';
    pthread_mutex_lock(&list_cache.lock);
    for (int i = 0; i < LIST_CACHE_SLOTS; i++) {
        if (!list_cache.e[i].key || strcmp(list_cache.e[i].key, key) == 0) {
            victim = i;
            break;
        }
        if (list_cache.e[i].used < list_cache.e[victim].used)
            victim = i;
    }
    free(list_cache.e[victim].key);
    free(list_cache.e[victim].body);
    list_cache.e[victim].key = k;
    list_cache.e[victim].body = b;
    list_cache.e[victim].len = resp->body_len;
    list_cache.e[victim].used = ++list_cache.tick;
    pthread_mutex_unlock(&list_cache.lock);
}

static void all_query(const char *k, const char *v, void *p)
{
    struct qs_buf *q = p;
    size_t n = strlen(q->buf);
    snprintf(q->buf + n, sizeof(q->buf) - n, "&%s=%s", k, v);
}

static int server_list(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                       int detail)
{
    char key[2600];
    struct qs_buf qall = {""};
    uint64_t stamp = 0;
    int have_stamp = 0;
    struct nova_ctx ctx;
    struct local_compute_server_filter f;
    json_t *arr, *out, *s, *body;
    const char *v;
    size_t i;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    memset(&f, 0, sizeof(f));
    f.name_regex = http_req_query(req, "name");
    f.status = http_req_query(req, "status");
    f.flavor_id = http_req_query(req, "flavor");
    f.image_id = http_req_query(req, "image");
    f.marker = http_req_query(req, "marker");
    if ((v = http_req_query(req, "limit"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0)
            return nph_error_set(err, NPH_E_INVALID, "limit must be a non-negative integer");
        f.limit = n > 1000 ? 1000 : (int)n;
        if (n == 0)
            f.limit = -1;
    }
    if ((v = http_req_query(req, "changes-since")) && nph_time_parse(v, &f.changes_since))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute changes-since");
    if (ctx.caller.is_admin) {
        f.all_projects =
            parse_bool_q(http_req_query(req, "all_tenants")) ||
            (http_req_query(req, "all_tenants") && !*http_req_query(req, "all_tenants"));
        f.project_id = http_req_query(req, "project_id");
        if (!f.project_id)
            f.project_id = http_req_query(req, "tenant_id");
        if (f.project_id)
            f.all_projects = 1;
        f.deleted = parse_bool_q(http_req_query(req, "deleted"));
    }
    {
        http_req_query_each(req, all_query, &qall);
        if (list_stamp(&ctx, &f, &stamp) == 0)
            have_stamp = 1;
        snprintf(key, sizeof(key), "%d|%s|%d|%d|%016llx|%s", detail, ctx.caller.project_id,
                 ctx.caller.is_admin, ctx.minor, (unsigned long long)stamp, qall.buf);
        if (nova_fed_has_remote(ctx.app))
            have_stamp = 0; /* remote clouds' servers are not under the native stamp */
        if (have_stamp && list_cache_get(key, resp))
            return 0;
    }
    if (f.limit < 0) {
        arr = json_array();
    } else {
        arr = local_compute_server_list(ctx.app->compute, &ctx.caller, &f, err);
        if (!arr)
            return -1;
    }
    out = json_array();
    json_array_foreach(arr, i, s) json_array_append_new(out, server_view(&ctx, s, detail));
    if (!have_stamp && f.limit >= 0 && (f.limit == 0 || (int)json_array_size(arr) < f.limit) &&
        !f.deleted && nova_fed_has_remote(ctx.app)) {
        /* the remote clouds' servers follow the native ones (the last page of them) */
        struct nova_fed_req r = fed_req(&ctx);
        json_t *more = nova_fed_list(&r, f.status, f.all_projects, f.project_id, detail, err);
        if (!more) {
            json_decref(out);
            json_decref(arr);
            return -1;
        }
        json_array_extend(out, more);
        json_decref(more);
    }
    body = json_pack("{s:o}", "servers", out);
    if (f.limit > 0 && (int)json_array_size(arr) == f.limit) {
        struct qs_buf q = {""};
        char href[4096], suffix[2600];
        http_req_query_each(req, keep_query, &q);
        snprintf(suffix, sizeof(suffix), "/servers%s?%s%smarker=%s", detail ? "/detail" : "", q.buf,
                 q.buf[0] ? "&" : "",
                 json_string_value(
                     json_object_get(json_array_get(arr, json_array_size(arr) - 1), "id")));
        url_of(&ctx, href, sizeof(href), "%s", suffix);
        json_object_set_new(body, "servers_links",
                            json_pack("[{s:s,s:s}]", "rel", "next", "href", href));
    }
    json_decref(arr);
    if (http_resp_json(resp, 200, body))
        return nph_error_nomem(err);
    /* Cache under the stamp as it is now: rendering may have recorded a reconciliation. */
    if (have_stamp && list_stamp(&ctx, &f, &stamp) == 0) {
        snprintf(key, sizeof(key), "%d|%s|%d|%d|%016llx|%s", detail, ctx.caller.project_id,
                 ctx.caller.is_admin, ctx.minor, (unsigned long long)stamp, qall.buf);
        list_cache_put(key, resp);
    }
    return 0;
}

static int nova_server_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return server_list(req, resp, err, 0);
}

static int nova_server_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return server_list(req, resp, err, 1);
}

static int nova_server_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *s;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (fed_server_is_remote(ctx.app->fed, req->params[0])) {
        struct nova_fed_req r = fed_req(&ctx);
        return nova_fed_show(&r, req->params[0], resp, err);
    }
    if (!(s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "server", server_view(&ctx, s, 1)));
    json_decref(s);
    return 0;
}

/* The boot image: imageRef, or the image of a block_device_mapping_v2 entry with boot_index
 * 0 and source_type image. */
static const char *boot_image(json_t *in)
{
    const char *ref = json_string_value(json_object_get(in, "imageRef"));
    json_t *bdm = json_object_get(in, "block_device_mapping_v2"), *b;
    size_t i;
    if (ref && *ref)
        return ref_id(ref);
    json_array_foreach(bdm, i, b)
    {
        const char *src = json_string_value(json_object_get(b, "source_type"));
        if (src && strcmp(src, "image") == 0)
            return json_string_value(json_object_get(b, "uuid"));
    }
    return NULL;
}

/* min_count / max_count as Nova's schema takes them: a positive integer, or a string of
 * digits. 0 with *out set, 1 when absent, -1 with err (400). */
static int count_get(const json_t *in, const char *key, int64_t *out, struct nph_error *err)
{
    json_t *v = json_object_get(in, key);
    const char *t = json_string_value(v);
    if (!v)
        return 1;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (t && *t && strlen(t) <= 9 && strspn(t, "0123456789") == strlen(t)) {
        *out = strtoll(t, NULL, 10);
        return 0;
    }
    return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute %s", key);
}

static int nova_server_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *spec = NULL, *s = NULL, *nets, *v, *net_plan = NULL;
    const char *flavor, *image;
    int64_t min_count = 1, max_count = 1, count;
    char pass[24], loc[2048], resv[16], *base = NULL, placement[40] = "";
    uint8_t raw[12];
    int rc = -1, has_min, has_max, want_resv = 0;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "server", &root, err)))
        return -1;
    nets = json_object_get(in, "networks");
    if (nets && json_is_string(nets)) {
        if (strcmp(json_string_value(nets), "none") != 0 &&
            strcmp(json_string_value(nets), "auto") != 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input for field/attribute networks: must be 'auto', 'none' or "
                          "a list");
            goto cleanup;
        }
    } else if (nets && !json_is_array(nets)) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute networks");
        goto cleanup;
    }
    if ((has_min = count_get(in, "min_count", &min_count, err)) < 0 ||
        (has_max = count_get(in, "max_count", &max_count, err)) < 0)
        goto cleanup;
    if ((v = json_object_get(in, "adminPass")) && !json_is_string(v)) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute adminPass");
        goto cleanup;
    }
    if (has_max != 0) /* absent: as many as min_count, like Nova */
        max_count = min_count;
    if (min_count < 1 || max_count < 1 || min_count > max_count || max_count > 1000) {
        nph_error_set(err, NPH_E_INVALID,
                      min_count > max_count
                          ? "min_count must be <= max_count"
                          : "Invalid input for field/attribute min_count/max_count");
        goto cleanup;
    }
    if (nph_json_get_bool(in, "return_reservation_id", "server.return_reservation_id", 0,
                          &want_resv, err) < 0)
        goto cleanup;
    flavor = json_string_value(json_object_get(in, "flavorRef"));
    if (!flavor) {
        nph_error_set(err, NPH_E_INVALID, "'flavorRef' is a required property");
        goto cleanup;
    }
    image = boot_image(in);
    {
        /* which cloud: the scheduler hint `cloud`, the zone, else the default cloud */
        struct nova_fed_req fr = fed_req(&ctx);
        const char *cloud =
            nova_fed_target(ctx.app, &fr.who, root, in, ref_id(flavor), placement, err);
        if (!cloud)
            goto cleanup;
        if (!fed_cloud_is_local(ctx.app->fed, cloud)) {
            struct nova_fed_req r = fed_req(&ctx);
            if (max_count > 1) {
                nph_error_set(err, NPH_E_INVALID, "multiple create is not supported on cloud '%s'",
                              cloud);
                goto cleanup;
            }
            rc = nova_fed_create(&r, cloud, in, ref_id(flavor), image, resp, err);
            goto cleanup;
        }
    }
    /* the native cloud's networks (compat_nova_net.c): checked before anything is created */
    if (nova_net_plan(ctx.app, ctx.caller.project_id, ctx.caller.is_admin, nets,
                      json_object_get(in, "security_groups"), &net_plan, err))
        goto cleanup;
    spec = json_pack("{s:O,s:s}", "name",
                     json_object_get(in, "name") ? json_object_get(in, "name") : json_null(),
                     "flavor_id", ref_id(flavor));
    if (!json_is_string(json_object_get(spec, "name"))) {
        nph_error_set(err, NPH_E_INVALID, "'name' is a required property");
        goto cleanup;
    }
    if (image)
        json_object_set_new(spec, "image_id", json_string(image));
    if ((v = json_object_get(in, "key_name")) && !json_is_null(v))
        json_object_set(spec, "key_name", v);
    if ((v = json_object_get(in, "metadata")))
        json_object_set(spec, "metadata", v);
    /* the zone named the native cloud (checked above): nothing more to tell it */
    if ((v = json_object_get(in, "description")) && !json_is_null(v))
        json_object_set(spec, "description", v);
    if ((v = json_object_get(in, "user_data")) && !json_is_null(v))
        json_object_set(spec, "user_data", v);
    if ((v = json_object_get(in, "tags")))
        json_object_set(spec, "tags", v);
    if ((v = json_object_get(in, "accessIPv4")))
        json_object_set(spec, "access_ipv4", v);
    if ((v = json_object_get(in, "accessIPv6")))
        json_object_set(spec, "access_ipv6", v);
    /* Multiple create: as many as the quota allows between min_count and max_count (the first
     * server checks the quota for them all), named name-1 .. name-N as Nova does. */
    count = max_count;
    if (count > 1 && !(base = strdup(json_string_value(json_object_get(spec, "name"))))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (int64_t i = 1; i <= count; i++) {
        json_t *one;
        if (count > 1) {
            char nm[320];
            snprintf(nm, sizeof(nm), "%s-%lld", base, (long long)i);
            json_object_set_new(spec, "name", json_string(nm));
        }
        json_object_set_new(spec, "quota_count", json_integer(i == 1 ? count : 1));
        one = local_compute_server_create(ctx.app->compute, &ctx.caller, spec, err);
        if (!one && i == 1 && count > min_count && err && err->code == NPH_E_FORBIDDEN) {
            count = min_count; /* not room for max_count: try min_count */
            if (count == 1)
                json_object_set(spec, "name", json_object_get(in, "name"));
            i = 0;
            continue;
        }
        if (!one)
            goto cleanup;
        if (net_plan &&
            nova_net_attach(ctx.app, ctx.caller.project_id, ctx.caller.is_admin,
                            json_string_value(json_object_get(one, "id")), net_plan, err)) {
            local_compute_server_delete(ctx.app->compute, &ctx.caller,
                                        json_string_value(json_object_get(one, "id")), NULL);
            json_decref(one);
            goto cleanup;
        }
        if (!s)
            s = one;
        else
            json_decref(one);
    }
    if (placement[0]) /* the server shows its placement decision (GET /v1/servers/{id}) */
        fed_placement_bind(ctx.app->fed, placement, json_string_value(json_object_get(s, "id")));
    if (want_resv) {
        if (nph_random_bytes(raw, 4, err))
            goto cleanup;
        snprintf(resv, sizeof(resv), "r-%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
        http_resp_json(resp, 202, json_pack("{s:s}", "reservation_id", resv));
        rc = 0;
        goto cleanup;
    }
    if (json_is_string(v = json_object_get(in, "adminPass"))) {
        snprintf(pass, sizeof(pass), "%s", ""); /* the client's, answered as given */
    } else {
        if (nph_random_bytes(raw, sizeof(raw), err))
            goto cleanup;
        nph_b64url_encode(raw, sizeof(raw), pass);
        v = NULL;
    }
    url_of(&ctx, loc, sizeof(loc), "/servers/%s", json_string_value(json_object_get(s, "id")));
    http_resp_header(resp, "Location", loc);
    http_resp_json(resp, 202,
                   json_pack("{s:{s:O,s:o,s:s,s:[{s:s}],s:s}}", "server", "id",
                             json_object_get(s, "id"), "links",
                             links(&ctx, "servers", json_string_value(json_object_get(s, "id"))),
                             "OS-DCF:diskConfig", "MANUAL", "security_groups", "name", "default",
                             "adminPass", v ? json_string_value(v) : pass));
    rc = 0;
cleanup:
    free(base);
    json_decref(net_plan);
    json_decref(s);
    json_decref(spec);
    json_decref(root);
    return rc;
}

static int nova_server_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *s, *v;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "server", &root, err)))
        return -1;
    if ((v = json_object_get(in, "accessIPv4")))
        json_object_set(in, "access_ipv4", v);
    if ((v = json_object_get(in, "accessIPv6")))
        json_object_set(in, "access_ipv6", v);
    s = local_compute_server_update(ctx.app->compute, &ctx.caller, req->params[0], in, err);
    json_decref(root);
    if (!s)
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "server", server_view(&ctx, s, 2)));
    json_decref(s);
    return 0;
}

static int nova_server_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (fed_server_is_remote(ctx.app->fed, req->params[0])) {
        struct nova_fed_req r = fed_req(&ctx);
        return nova_fed_delete(&r, req->params[0], resp, err);
    }
    if (local_compute_server_delete(ctx.app->compute, &ctx.caller, req->params[0], err))
        return nova_fail(resp);
    nova_net_release(ctx.app, req->params[0]); /* its ports go with it */
    /* its volumes are free again (the domain and its disks go with the deletion) */
    if (ctx.app->volume && local_volume_server_gone(ctx.app->volume, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- os-volume_attachments (over local/storage) -------------------------------------------- */

static json_t *attachment_view(json_t *a, const char *server_id)
{
    return json_pack("{s:O,s:s,s:O,s:O}", "id", json_object_get(a, "volume_id"), "serverId",
                     server_id, "volumeId", json_object_get(a, "volume_id"), "device",
                     json_object_get(a, "device"));
}

static int attachments_begin(struct http_req *req, struct http_resp *resp, struct nova_ctx *ctx,
                             json_t **atts, struct nph_error *err)
{
    json_t *s;
    if (nova_begin(req, resp, ctx, err))
        return -1;
    if (!(s = local_compute_server_get(ctx->app->compute, &ctx->caller, req->params[0], err)))
        return -1;
    json_decref(s);
    if (!atts)
        return 0;
    *atts = local_volume_server_attachments(ctx->app->volume, req->params[0], err);
    return *atts ? 0 : -1;
}

static int nova_vol_att_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *atts, *a, *out;
    size_t i;
    if (attachments_begin(req, resp, &ctx, &atts, err))
        return nova_fail(resp);
    out = json_array();
    json_array_foreach(atts, i, a) json_array_append_new(out, attachment_view(a, req->params[0]));
    json_decref(atts);
    return http_resp_json(resp, 200, json_pack("{s:o}", "volumeAttachments", out));
}

static int nova_vol_att_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *atts, *a;
    size_t i;
    if (attachments_begin(req, resp, &ctx, &atts, err))
        return nova_fail(resp);
    json_array_foreach(atts, i, a)
    {
        if (strcmp(S_(a, "volume_id"), req->params[1]) == 0) {
            http_resp_json(
                resp, 200,
                json_pack("{s:o}", "volumeAttachment", attachment_view(a, req->params[0])));
            json_decref(atts);
            return 0;
        }
    }
    json_decref(atts);
    return nph_error_set(err, NPH_E_NOT_FOUND, "volume_id not found: %s", req->params[1]);
}

static int nova_vol_att_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    struct local_volume_caller vc;
    json_t *root, *in, *a;
    const char *vol;
    if (attachments_begin(req, resp, &ctx, NULL, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "volumeAttachment", &root, err)))
        return -1;
    vol = S_(in, "volumeId");
    if (!vol || !*vol) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute volumeAttachment. 'volumeId' is "
                             "a required property");
    }
    vc.project_id = ctx.caller.project_id;
    vc.user_id = ctx.caller.user_id;
    vc.is_admin = ctx.caller.is_admin;
    a = local_volume_attach(ctx.app->volume, &vc, vol, req->params[0], S_(in, "device"), err);
    json_decref(root);
    if (!a)
        return -1;
    http_resp_json(resp, 200,
                   json_pack("{s:o}", "volumeAttachment", attachment_view(a, req->params[0])));
    json_decref(a);
    return 0;
}

static int nova_vol_att_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    struct local_volume_caller vc;
    if (attachments_begin(req, resp, &ctx, NULL, err))
        return nova_fail(resp);
    vc.project_id = ctx.caller.project_id;
    vc.user_id = ctx.caller.user_id;
    vc.is_admin = ctx.caller.is_admin;
    if (local_volume_detach(ctx.app->volume, &vc, req->params[1], req->params[0], err)) {
        if (err->code == NPH_E_NOT_FOUND)
            nph_error_set(err, NPH_E_NOT_FOUND, "volume_id not found: %s", req->params[1]);
        return -1;
    }
    resp->status = 202;
    return 0;
}

/* ---- createImage --------------------------------------------------------------------------- */

/* The snapshot sink over local/image (runs on a compute worker; the image service outlives
 * the compute service, see app.c). As an admin: the image is the caller's, made here. */
static int snapshot_store(void *ctx, const char *image_id, const char *path, struct nph_error *err)
{
    struct local_image_caller ic = {"", 1};
    json_t *img = local_image_upload(ctx, &ic, image_id, path, err);
    json_decref(img);
    return img ? 0 : -1;
}

static void snapshot_discard(void *ctx, const char *image_id)
{
    struct local_image_caller ic = {"", 1};
    struct nph_error e = NPH_ERROR_INIT;
    if (local_image_delete(ctx, &ic, image_id, &e) && e.code != NPH_E_NOT_FOUND)
        nph_log(NPH_LOG_WARN, "compute.snapshot_discard_failed", "image", image_id, "error", e.msg,
                NULL);
}

/* POST /servers/{id}/action {"createImage": {"name", "metadata"}}: a queued qcow2 image in
 * the image service, private to the caller's project, carrying the base image's properties,
 * min_ram and min_disk (at least the flavor's disk) plus image_type "snapshot",
 * instance_uuid, user_id and base_image_ref, then the request's metadata over them (as Nova
 * does); the server's disk is copied into it in the background (queued -> saving -> active).
 * 202 with a Location header; from 2.45 {"image_id"} instead. */
static int server_create_image(struct nova_ctx *ctx, struct http_req *req, struct http_resp *resp,
                               json_t *v, struct nph_error *err)
{
    struct local_image_caller ic = {ctx->caller.project_id ? ctx->caller.project_id : "",
                                    ctx->caller.is_admin};
    struct local_compute_image_sink sink = {snapshot_store, snapshot_discard, ctx->app->image};
    json_t *s = NULL, *base = NULL, *attrs = NULL, *props, *meta, *img = NULL, *mv;
    const char *name = NULL, *task, *vm, *base_id, *k, *image_id;
    char loc[2048];
    int64_t min_disk = 0, flavor_disk;
    int rc = -1;
    if (!json_is_object(v))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute createImage");
    if (nph_json_get_str(v, "name", "createImage.name", 1, 255, &name, err) < 0)
        return -1;
    if (!*name || name[0] == ' ' || name[strlen(name) - 1] == ' ')
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute name: leading or trailing "
                             "whitespace, or empty");
    meta = json_object_get(v, "metadata");
    if (meta && !json_is_object(meta))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute metadata");
    json_object_foreach(meta, k, mv)
    {
        if (!*k || strlen(k) > 255 || !json_is_string(mv) || json_string_length(mv) > 255 ||
            local_image_is_reserved(k))
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input for field/attribute metadata: '%.64s'", k);
    }
    if (!(s = local_compute_server_get(ctx->app->compute, &ctx->caller, req->params[0], err)))
        return -1;
    /* The state check before the image exists, so that a busy server leaves no image
     * behind; local_compute_server_snapshot checks again under its transaction. */
    task = json_string_value(json_object_get(s, "task_state"));
    vm = json_string_value(json_object_get(s, "vm_state"));
    if (task || !vm || (strcmp(vm, "active") != 0 && strcmp(vm, "stopped") != 0)) {
        nph_error_set(err, NPH_E_CONFLICT, "Cannot 'createImage' instance %s while it is in %s %s",
                      req->params[0], task ? "task_state" : "vm_state", task ? task : vm);
        goto cleanup;
    }
    attrs = json_pack("{s:s,s:s,s:s,s:s,s:{}}", "name", name, "disk_format", "qcow2",
                      "container_format", "bare", "visibility", "private", "properties");
    if (!attrs) {
        nph_error_nomem(err);
        goto cleanup;
    }
    props = json_object_get(attrs, "properties");
    base_id = json_string_value(json_object_get(s, "image_id"));
    if (base_id) {
        struct local_image_caller admin = {"", 1};
        base = local_image_get(ctx->app->image, &admin, base_id, NULL);
    }
    if (base) {
        json_object_update(props, json_object_get(base, "properties"));
        json_object_set(attrs, "min_ram", json_object_get(base, "min_ram"));
        min_disk = json_integer_value(json_object_get(base, "min_disk"));
    }
    flavor_disk = json_integer_value(json_object_get(json_object_get(s, "flavor"), "disk"));
    json_object_set_new(attrs, "min_disk",
                        json_integer(flavor_disk > min_disk ? flavor_disk : min_disk));
    json_object_set_new(props, "image_type", json_string("snapshot"));
    json_object_set(props, "instance_uuid", json_object_get(s, "id"));
    json_object_set(props, "user_id", json_object_get(s, "user_id"));
    if (base_id)
        json_object_set_new(props, "base_image_ref", json_string(base_id));
    if (meta)
        json_object_update(props, meta);
    if (!(img = local_image_create(ctx->app->image, &ic, attrs, err)))
        goto cleanup;
    image_id = json_string_value(json_object_get(img, "id"));
    if (local_compute_server_snapshot(ctx->app->compute, &ctx->caller, req->params[0], image_id,
                                      &sink, err)) {
        snapshot_discard(ctx->app->image, image_id);
        goto cleanup;
    }
    if (ctx->minor >= 45) {
        http_resp_json(resp, 202, json_pack("{s:s}", "image_id", image_id));
    } else {
        snprintf(loc, sizeof(loc), "%s/image/v2/images/%s", ctx->app->cfg.public_url, image_id);
        http_resp_header(resp, "Location", loc);
        resp->status = 202;
    }
    rc = 0;
cleanup:
    json_decref(img);
    json_decref(base);
    json_decref(attrs);
    json_decref(s);
    return rc;
}

static int nova_server_action(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *v;
    const char *name, *arg = NULL;
    enum local_compute_action a;
    int rc = -1;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(root = http_req_json(req, err)))
        return -1;
    if (json_object_size(root) != 1) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID, "an action body holds exactly one action");
    }
    name = json_object_iter_key(json_object_iter(root));
    v = json_object_get(root, name);
    if (fed_server_is_remote(ctx.app->fed, req->params[0])) {
        struct nova_fed_req r = fed_req(&ctx);
        rc = nova_fed_action(&r, req->params[0], name, v, resp, err);
        goto cleanup;
    }
    if (strcmp(name, "os-start") == 0) {
        a = LC_ACT_START;
    } else if (strcmp(name, "os-stop") == 0) {
        a = LC_ACT_STOP;
    } else if (strcmp(name, "reboot") == 0) {
        const char *t = json_string_value(json_object_get(v, "type"));
        if (!t || (strcasecmp(t, "SOFT") != 0 && strcasecmp(t, "HARD") != 0)) {
            nph_error_set(err, NPH_E_INVALID, "reboot 'type' must be SOFT or HARD");
            goto cleanup;
        }
        a = strcasecmp(t, "HARD") == 0 ? LC_ACT_REBOOT_HARD : LC_ACT_REBOOT_SOFT;
    } else if (strcmp(name, "resize") == 0) {
        a = LC_ACT_RESIZE;
        arg = ref_id(json_string_value(json_object_get(v, "flavorRef")));
    } else if (strcmp(name, "confirmResize") == 0) {
        a = LC_ACT_CONFIRM_RESIZE;
    } else if (strcmp(name, "revertResize") == 0) {
        a = LC_ACT_REVERT_RESIZE;
    } else if (strcmp(name, "rebuild") == 0) {
        a = LC_ACT_REBUILD;
        arg = ref_id(json_string_value(json_object_get(v, "imageRef")));
        if (!arg) {
            nph_error_set(err, NPH_E_INVALID, "'imageRef' is a required property");
            goto cleanup;
        }
    } else if (strcmp(name, "lock") == 0) {
        a = LC_ACT_LOCK;
        arg = json_string_value(json_object_get(v, "locked_reason"));
    } else if (strcmp(name, "unlock") == 0) {
        a = LC_ACT_UNLOCK;
    } else if (strcmp(name, "addSecurityGroup") == 0 || strcmp(name, "removeSecurityGroup") == 0) {
        json_t *s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err);
        if (!s)
            goto cleanup;
        json_decref(s);
        if (nova_net_server_group(ctx.app, &ctx.caller, req->params[0], v,
                                  strcmp(name, "addSecurityGroup") == 0, err))
            goto cleanup;
        resp->status = 202;
        rc = 0;
        goto cleanup;
    } else if (strcmp(name, "createImage") == 0) {
        rc = server_create_image(&ctx, req, resp, v, err);
        goto cleanup;
    } else if (strcmp(name, "os-getConsoleOutput") == 0) {
        json_t *len = json_object_get(v, "length");
        int lines = 0;
        char *text;
        if (json_is_integer(len))
            lines = (int)json_integer_value(len);
        else if (json_is_string(len))
            lines = atoi(json_string_value(len));
        text =
            local_compute_console_output(ctx.app->compute, &ctx.caller, req->params[0], lines, err);
        if (!text)
            goto cleanup;
        size_t cl = strlen(text) + 1;
        char *clean = malloc(cl);
        if (clean)
            nph_utf8_sanitize(text, clean, cl);
        free(text);
        if (!clean) {
            nph_error_nomem(err);
            goto cleanup;
        }
        http_resp_json(resp, 200, json_pack("{s:s}", "output", clean));
        free(clean);
        rc = 0;
        goto cleanup;
    } else {
        nph_error_set(err, NPH_E_INVALID, "There is no such action: %s", name);
        goto cleanup;
    }
    if (local_compute_server_action(ctx.app->compute, &ctx.caller, req->params[0], a, arg, err))
        goto cleanup;
    if (a == LC_ACT_REBUILD) {
        /* Rebuild may also rename, readdress and replace the metadata, and answers the basic
         * view with the admin password (the client's, else generated), like Nova. */
        json_t *s, *attrs = json_object(), *out, *meta = json_object_get(v, "metadata"), *pw;
        char pass[24];
        uint8_t raw[12];
        static const char *const map[][2] = {
            {"name", "name"}, {"accessIPv4", "access_ipv4"}, {"accessIPv6", "access_ipv6"}};
        for (size_t i = 0; attrs && i < sizeof(map) / sizeof(map[0]); i++)
            if (json_object_get(v, map[i][0]))
                json_object_set(attrs, map[i][1], json_object_get(v, map[i][0]));
        if (ctx.minor >= 19 && json_object_get(v, "description"))
            json_object_set(attrs, "description", json_object_get(v, "description"));
        s = attrs && json_object_size(attrs)
                ? local_compute_server_update(ctx.app->compute, &ctx.caller, req->params[0], attrs,
                                              err)
                : json_object();
        json_decref(attrs);
        if (!s)
            goto cleanup;
        json_decref(s);
        if (json_is_object(meta)) {
            json_t *m = local_compute_server_metadata(ctx.app->compute, &ctx.caller, req->params[0],
                                                      meta, 1, err);
            if (!m)
                goto cleanup;
            json_decref(m);
        }
        s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err);
        if (!s)
            goto cleanup;
        pw = json_object_get(v, "adminPass");
        if (!json_is_string(pw)) {
            if (nph_random_bytes(raw, sizeof(raw), err)) {
                json_decref(s);
                goto cleanup;
            }
            nph_b64url_encode(raw, sizeof(raw), pass);
        }
        out = server_view(&ctx, s, 2);
        /* rebuild answers addresses without the extended attributes, as Nova does */
        const char *net;
        json_t *list, *addr;
        size_t k;
        json_object_foreach(json_object_get(out, "addresses"), net, list)
        {
            json_array_foreach(list, k, addr)
            {
                json_object_del(addr, "OS-EXT-IPS:type");
                json_object_del(addr, "OS-EXT-IPS-MAC:mac_addr");
            }
        }
        json_object_set_new(out, "adminPass",
                            json_string(json_is_string(pw) ? json_string_value(pw) : pass));
        http_resp_json(resp, 202, json_pack("{s:o}", "server", out));
        json_decref(s);
    } else {
        resp->status = a == LC_ACT_CONFIRM_RESIZE || a == LC_ACT_LOCK || a == LC_ACT_UNLOCK
                           ? (a == LC_ACT_CONFIRM_RESIZE ? 204 : 202)
                           : 202;
    }
    rc = 0;
cleanup:
    json_decref(root);
    return rc;
}

/* ---- metadata and tags ---------------------------------------------------------------------- */

static int nova_meta_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *s;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:O}", "metadata", json_object_get(s, "metadata")));
    json_decref(s);
    return 0;
}

static int meta_write(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                      int replace)
{
    struct nova_ctx ctx;
    json_t *root, *in, *m;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "metadata", &root, err)))
        return -1;
    m = local_compute_server_metadata(ctx.app->compute, &ctx.caller, req->params[0], in, replace,
                                      err);
    json_decref(root);
    if (!m)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "metadata", m));
}

static int nova_meta_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return meta_write(req, resp, err, 0);
}

static int nova_meta_replace(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return meta_write(req, resp, err, 1);
}

static int nova_meta_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *s, *v;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    v = json_object_get(json_object_get(s, "metadata"), req->params[1]);
    if (!v) {
        json_decref(s);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Metadata item was not found");
    }
    http_resp_json(resp, 200, json_pack("{s:{s:O}}", "meta", req->params[1], v));
    json_decref(s);
    return 0;
}

static int nova_meta_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *m;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "meta", &root, err)))
        return -1;
    if (json_object_size(in) != 1 || !json_object_get(in, req->params[1])) {
        json_decref(root);
        return nph_error_set(err, NPH_E_INVALID, "Request body and URI mismatch");
    }
    m = local_compute_server_metadata(ctx.app->compute, &ctx.caller, req->params[0], in, 0, err);
    if (m)
        http_resp_json(resp, 200, json_pack("{s:O}", "meta", in));
    json_decref(m);
    json_decref(root);
    return m ? 0 : -1;
}

static int nova_meta_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err) ||
        local_compute_server_metadata_delete(ctx.app->compute, &ctx.caller, req->params[0],
                                             req->params[1], err))
        return nova_fail(resp);
    resp->status = 204;
    return 0;
}

static int tags_begin(struct http_req *req, struct http_resp *resp, struct nova_ctx *ctx,
                      struct nph_error *err)
{
    if (nova_begin(req, resp, ctx, err))
        return -1;
    if (ctx->minor < 26)
        return nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
    return 0;
}

static int nova_tags_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *s;
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:O}", "tags", json_object_get(s, "tags")));
    json_decref(s);
    return 0;
}

static int nova_tags_replace(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *t;
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(root = http_req_json(req, err)))
        return -1;
    t = local_compute_server_tags(ctx.app->compute, &ctx.caller, req->params[0],
                                  json_object_get(root, "tags") ? json_object_get(root, "tags")
                                                                : json_null(),
                                  NULL, NULL, 0, err);
    json_decref(root);
    if (!t)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "tags", t));
}

static int nova_tags_clear(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *t;
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    t = local_compute_server_tags(ctx.app->compute, &ctx.caller, req->params[0], NULL, NULL, NULL,
                                  1, err);
    if (!t)
        return -1;
    json_decref(t);
    resp->status = 204;
    return 0;
}

static int nova_tag_check(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *s, *t;
    size_t i;
    int found = 0;
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(s = local_compute_server_get(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    json_array_foreach(json_object_get(s, "tags"), i, t) found |=
        strcmp(json_string_value(t), req->params[1]) == 0;
    json_decref(s);
    if (!found)
        return nph_error_set(err, NPH_E_NOT_FOUND, "Tag %s could not be found.", req->params[1]);
    resp->status = 204;
    return 0;
}

static int nova_tag_add(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *t;
    char loc[2048];
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    t = local_compute_server_tags(ctx.app->compute, &ctx.caller, req->params[0], NULL,
                                  req->params[1], NULL, 0, err);
    if (!t)
        return -1;
    json_decref(t);
    url_of(&ctx, loc, sizeof(loc), "/servers/%s/tags", req->params[0]);
    http_resp_header(resp, "Location", loc);
    resp->status = 201;
    return 0;
}

static int nova_tag_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *t;
    if (tags_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    t = local_compute_server_tags(ctx.app->compute, &ctx.caller, req->params[0], NULL, NULL,
                                  req->params[1], 0, err);
    if (!t)
        return -1;
    json_decref(t);
    resp->status = 204;
    return 0;
}

/* ---- instance actions ------------------------------------------------------------------------ */

static int nova_actions_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *arr, *a;
    size_t i;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(arr = local_compute_actions_list(ctx.app->compute, &ctx.caller, req->params[0], err)))
        return -1;
    json_array_foreach(arr, i, a)
    {
        /* Nova's actions carry no outcome: that is in their events */
        json_object_del(a, "finish_time");
        json_object_del(a, "result");
    }
    return http_resp_json(resp, 200, json_pack("{s:o}", "instanceActions", arr));
}

static int nova_action_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *a;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(a = local_compute_action_get(ctx.app->compute, &ctx.caller, req->params[0],
                                       req->params[1], err)))
        return -1;
    if (!ctx.caller.is_admin)
        json_object_del(a, "events");
    json_object_del(a, "finish_time");
    json_object_del(a, "result");
    return http_resp_json(resp, 200, json_pack("{s:o}", "instanceAction", a));
}

/* ---- images proxy ---------------------------------------------------------------------------- */

static json_t *image_view(struct nova_ctx *ctx, json_t *img, int detail)
{
    const char *id = json_string_value(json_object_get(img, "id"));
    const char *st = json_string_value(json_object_get(img, "status"));
    json_t *out = json_pack("{s:O,s:O,s:o}", "id", json_object_get(img, "id"), "name",
                            json_object_get(img, "name"), "links", links(ctx, "images", id));
    if (detail) {
        json_object_set_new(out, "status",
                            json_string(st && strcmp(st, "active") == 0 ? "ACTIVE" : "SAVING"));
        json_object_set(out, "minDisk", json_object_get(img, "min_disk"));
        json_object_set(out, "minRam", json_object_get(img, "min_ram"));
        json_object_set(out, "created", json_object_get(img, "created_at"));
        json_object_set(out, "updated", json_object_get(img, "updated_at"));
        json_object_set_new(out, "progress",
                            json_integer(st && strcmp(st, "active") == 0 ? 100 : 0));
        json_object_set(out, "OS-EXT-IMG-SIZE:size", json_object_get(img, "size"));
        json_object_set(out, "metadata", json_object_get(img, "properties"));
    }
    return out;
}

static int image_list(struct http_req *req, struct http_resp *resp, struct nph_error *err,
                      int detail)
{
    struct nova_ctx ctx;
    struct local_image_caller ic;
    struct local_image_filter f;
    json_t *arr, *out, *img;
    size_t i;
    int more = 0;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    ic.project_id = ctx.caller.project_id;
    ic.is_admin = ctx.caller.is_admin;
    local_image_filter_init(&f);
    f.limit = LOCAL_IMAGE_LIST_LIMIT;
    f.marker = http_req_query(req, "marker");
    f.name = http_req_query(req, "name");
    if (!(arr = local_image_list(ctx.app->image, &ic, &f, &more, err)))
        return -1;
    out = json_array();
    json_array_foreach(arr, i, img) json_array_append_new(out, image_view(&ctx, img, detail));
    json_decref(arr);
    return http_resp_json(resp, 200, json_pack("{s:o}", "images", out));
}

static int nova_image_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return image_list(req, resp, err, 0);
}

static int nova_image_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return image_list(req, resp, err, 1);
}

static int nova_image_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    struct local_image_caller ic;
    json_t *img;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    ic.project_id = ctx.caller.project_id;
    ic.is_admin = ctx.caller.is_admin;
    if (!(img = local_image_get(ctx.app->image, &ic, req->params[0], err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "image", image_view(&ctx, img, 1)));
    json_decref(img);
    return 0;
}

static int nova_image_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    struct local_image_caller ic;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    ic.project_id = ctx.caller.project_id;
    ic.is_admin = ctx.caller.is_admin;
    if (local_image_delete(ctx.app->image, &ic, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- limits, availability zones ----------------------------------------------------------- */

static int nova_limits(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *q, *u;
    const char *project;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    project = ctx.caller.project_id;
    if (ctx.caller.is_admin && http_req_query(req, "tenant_id"))
        project = http_req_query(req, "tenant_id");
    if (!(q = local_compute_quota_get(ctx.app->compute, project, err)))
        return -1;
    if (!(u = local_compute_quota_usage(ctx.app->compute, project, err))) {
        json_decref(q);
        return -1;
    }
#define QV(k) json_object_get(q, k)
    json_t *abs = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:i,s:i,s:i,s:i}", "maxTotalInstances",
        QV("instances"), "maxTotalCores", QV("cores"), "maxTotalRAMSize", QV("ram"),
        "maxServerMeta", QV("metadata_items"), "maxPersonality", QV("injected_files"),
        "maxPersonalitySize", QV("injected_file_content_bytes"), "maxTotalKeypairs",
        QV("key_pairs"), "maxServerGroups", QV("server_groups"), "maxServerGroupMembers",
        QV("server_group_members"), "totalInstancesUsed", json_object_get(u, "instances"),
        "totalCoresUsed", json_object_get(u, "cores"), "totalRAMUsed", 0, "totalServerGroupsUsed",
        0, "maxImageMeta", 128, "totalFloatingIpsUsed", 0);
#undef QV
    json_object_set(abs, "totalRAMUsed", json_object_get(u, "ram"));
    if (ctx.minor >= 39)
        json_object_del(abs, "maxImageMeta");
    if (ctx.minor >= 36)
        json_object_del(abs, "totalFloatingIpsUsed");
    json_decref(q);
    json_decref(u);
    return http_resp_json(resp, 200,
                          json_pack("{s:{s:o,s:[]}}", "limits", "absolute", abs, "rate"));
}

static int nova_azs(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    json_t *zones = nova_fed_zones(ctx.app, strstr(req->path, "/detail") != NULL, err);
    if (!zones)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "availabilityZoneInfo", zones))
               ? nph_error_nomem(err)
               : 0;
}

/* ---- key pairs ----------------------------------------------------------------------------- */

static json_t *keypair_view(struct nova_ctx *ctx, json_t *k, int full)
{
    json_t *out = json_pack("{s:O,s:O,s:O}", "name", json_object_get(k, "name"), "public_key",
                            json_object_get(k, "public_key"), "fingerprint",
                            json_object_get(k, "fingerprint"));
    if (ctx->minor >= 2)
        json_object_set(out, "type", json_object_get(k, "type"));
    if (full) {
        json_object_set(out, "user_id", json_object_get(k, "user_id"));
        json_object_set(out, "created_at", json_object_get(k, "created_at"));
        json_object_set_new(out, "deleted", json_false());
        json_object_set_new(out, "id", json_integer(0));
        json_object_set_new(out, "updated_at", json_null());
        json_object_set_new(out, "deleted_at", json_null());
    }
    if (json_object_get(k, "private_key"))
        json_object_set(out, "private_key", json_object_get(k, "private_key"));
    return out;
}

/* The user whose key pairs are meant: the caller, or ?user_id= for admins (2.10+). */
static const char *keypair_user(struct http_req *req, struct nova_ctx *ctx)
{
    const char *u = http_req_query(req, "user_id");
    if (u && ctx->caller.is_admin && ctx->minor >= 10)
        return u;
    return ctx->caller.user_id;
}

static int nova_keypair_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *arr, *out, *k;
    size_t i;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(arr = local_compute_keypair_list(ctx.app->compute, keypair_user(req, &ctx), err)))
        return -1;
    out = json_array();
    json_array_foreach(arr, i, k)
        json_array_append_new(out, json_pack("{s:o}", "keypair", keypair_view(&ctx, k, 0)));
    json_decref(arr);
    return http_resp_json(resp, 200, json_pack("{s:o}", "keypairs", out));
}

static int nova_keypair_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *k, *v;
    const char *name = NULL, *pub = NULL, *type = NULL, *user = NULL;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "keypair", &root, err)))
        return -1;
    if (nph_json_get_str(in, "name", "keypair.name", 1, 255, &name, err) < 0 ||
        nph_json_get_str(in, "public_key", "keypair.public_key", 0, 65535, &pub, err) < 0 ||
        nph_json_get_str(in, "type", "keypair.type", 0, 16, &type, err) < 0 ||
        nph_json_get_str(in, "user_id", "keypair.user_id", 0, 64, &user, err) < 0) {
        json_decref(root);
        return -1;
    }
    if (!user || !ctx.caller.is_admin || ctx.minor < 10)
        user = ctx.caller.user_id;
    k = local_compute_keypair_create(ctx.app->compute, user, name, type, pub, err);
    json_decref(root);
    if (!k)
        return -1;
    v = keypair_view(&ctx, k, 0);
    json_object_set(v, "user_id", json_object_get(k, "user_id")); /* Nova's create shows it */
    http_resp_json(resp, ctx.minor >= 2 ? 201 : 200, json_pack("{s:o}", "keypair", v));
    json_decref(k);
    return 0;
}

static int nova_keypair_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *k;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(k = local_compute_keypair_get(ctx.app->compute, keypair_user(req, &ctx), req->params[0],
                                        err)))
        return -1;
    http_resp_json(resp, 200, json_pack("{s:o}", "keypair", keypair_view(&ctx, k, 1)));
    json_decref(k);
    return 0;
}

static int nova_keypair_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err) ||
        local_compute_keypair_delete(ctx.app->compute, keypair_user(req, &ctx), req->params[0],
                                     err))
        return nova_fail(resp);
    resp->status = ctx.minor >= 2 ? 204 : 202;
    return 0;
}

/* ---- quota sets ---------------------------------------------------------------------------- */

/* Microversion 2.36 dropped the network quotas from the quota set bodies. */
static json_t *quota_view(struct nova_ctx *ctx, json_t *q)
{
    static const char *const net[] = {"fixed_ips", "floating_ips", "security_groups",
                                      "security_group_rules"};
    if (ctx->minor >= 36)
        for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++)
            json_object_del(q, net[i]);
    return q;
}

static int nova_quota_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *q;
    const char *project = req->params[0];
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!ctx.caller.is_admin && strcmp(project, ctx.caller.project_id) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Policy doesn't allow os_compute_api:os-quota-sets:show to be "
                             "performed.");
    if (!(q = local_compute_quota_get(ctx.app->compute, project, err)))
        return -1;
    quota_view(&ctx, q);
    if (parse_bool_q(http_req_query(req, "usage")) ||
        (req->route && strstr(req->route->pattern, "/detail"))) {
        /* /detail: {"in_use","limit","reserved"} per resource */
        json_t *u = local_compute_quota_usage(ctx.app->compute, project, err), *v;
        const char *k;
        if (!u) {
            json_decref(q);
            return -1;
        }
        json_object_foreach(q, k, v)
        {
            json_t *used = json_object_get(u, k);
            json_object_set_new(q, k,
                                json_pack("{s:O,s:I,s:i}", "limit", v, "in_use",
                                          used ? json_integer_value(used) : 0, "reserved", 0));
        }
        json_decref(u);
    }
    json_object_set_new(q, "id", json_string(project));
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota_set", q));
}

static int nova_quota_detail(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    return nova_quota_get(req, resp, err);
}

static int nova_quota_defaults(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *q;
    if (nova_begin(req, resp, &ctx, err))
        return nova_fail(resp);
    if (!(q = local_compute_quota_get(ctx.app->compute, NULL, err)))
        return -1;
    quota_view(&ctx, q);
    json_object_set_new(q, "id", json_string(req->params[0]));
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota_set", q));
}

static int nova_quota_put(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    json_t *root, *in, *q;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err))
        return nova_fail(resp);
    if (!(in = body_obj(req, "quota_set", &root, err)))
        return -1;
    q = local_compute_quota_set(ctx.app->compute, req->params[0], in, err);
    json_decref(root);
    if (!q)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota_set", quota_view(&ctx, q)));
}

static int nova_quota_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nova_ctx ctx;
    if (nova_begin(req, resp, &ctx, err) || need_admin(&ctx, err) ||
        local_compute_quota_delete(ctx.app->compute, req->params[0], err))
        return nova_fail(resp);
    resp->status = 202;
    return 0;
}

#define P NOVA_PREFIX
const struct http_route compat_nova_routes[] = {
    {"GET", "/compute", nova_versions, "compute.versions", OS},
    {"GET", P, nova_version, "compute.version", OS},
    {"GET", P "/flavors", nova_flavor_list, "compute.flavors.list", OS},
    {"GET", P "/flavors/detail", nova_flavor_detail, "compute.flavors.detail", OS},
    {"POST", P "/flavors", nova_flavor_create, "compute.flavors.create", OS},
    {"GET", P "/flavors/{id}", nova_flavor_get, "compute.flavors.get", OS},
    {"PUT", P "/flavors/{id}", nova_flavor_update, "compute.flavors.update", OS},
    {"DELETE", P "/flavors/{id}", nova_flavor_delete, "compute.flavors.delete", OS},
    {"POST", P "/flavors/{id}/action", nova_flavor_action, "compute.flavors.action", OS},
    {"GET", P "/flavors/{id}/os-flavor-access", nova_flavor_access_list, "compute.flavors.access",
     OS},
    {"GET", P "/flavors/{id}/os-extra_specs", nova_specs_list, "compute.specs.list", OS},
    {"POST", P "/flavors/{id}/os-extra_specs", nova_specs_set, "compute.specs.set", OS},
    {"GET", P "/flavors/{id}/os-extra_specs/{key}", nova_spec_get, "compute.specs.get", OS},
    {"PUT", P "/flavors/{id}/os-extra_specs/{key}", nova_spec_put, "compute.specs.put", OS},
    {"DELETE", P "/flavors/{id}/os-extra_specs/{key}", nova_spec_delete, "compute.specs.delete",
     OS},
    {"GET", P "/servers", nova_server_list, "compute.servers.list", OS},
    {"GET", P "/servers/detail", nova_server_detail, "compute.servers.detail", OS},
    {"POST", P "/servers", nova_server_create, "compute.servers.create", OS},
    {"GET", P "/servers/{id}", nova_server_get, "compute.servers.get", OS},
    {"PUT", P "/servers/{id}", nova_server_update, "compute.servers.update", OS},
    {"DELETE", P "/servers/{id}", nova_server_delete, "compute.servers.delete", OS},
    {"POST", P "/servers/{id}/action", nova_server_action, "compute.servers.action", OS},
    {"GET", P "/servers/{id}/metadata", nova_meta_list, "compute.metadata.list", OS},
    {"POST", P "/servers/{id}/metadata", nova_meta_update, "compute.metadata.update", OS},
    {"PUT", P "/servers/{id}/metadata", nova_meta_replace, "compute.metadata.replace", OS},
    {"GET", P "/servers/{id}/metadata/{key}", nova_meta_get, "compute.metadata.get", OS},
    {"PUT", P "/servers/{id}/metadata/{key}", nova_meta_put, "compute.metadata.put", OS},
    {"DELETE", P "/servers/{id}/metadata/{key}", nova_meta_delete, "compute.metadata.delete", OS},
    {"GET", P "/servers/{id}/tags", nova_tags_list, "compute.tags.list", OS},
    {"PUT", P "/servers/{id}/tags", nova_tags_replace, "compute.tags.replace", OS},
    {"DELETE", P "/servers/{id}/tags", nova_tags_clear, "compute.tags.clear", OS},
    {"GET", P "/servers/{id}/tags/{tag}", nova_tag_check, "compute.tags.check", OS},
    {"PUT", P "/servers/{id}/tags/{tag}", nova_tag_add, "compute.tags.add", OS},
    {"DELETE", P "/servers/{id}/tags/{tag}", nova_tag_delete, "compute.tags.delete", OS},
    {"GET", P "/servers/{id}/os-instance-actions", nova_actions_list, "compute.actions.list", OS},
    {"GET", P "/servers/{id}/os-instance-actions/{req}", nova_action_get, "compute.actions.get",
     OS},
    {"GET", P "/servers/{id}/os-volume_attachments", nova_vol_att_list,
     "compute.volume_attachments.list", OS},
    {"POST", P "/servers/{id}/os-volume_attachments", nova_vol_att_create,
     "compute.volume_attachments.create", OS},
    {"GET", P "/servers/{id}/os-volume_attachments/{volume}", nova_vol_att_get,
     "compute.volume_attachments.get", OS},
    {"DELETE", P "/servers/{id}/os-volume_attachments/{volume}", nova_vol_att_delete,
     "compute.volume_attachments.delete", OS},
    {"GET", P "/images", nova_image_list, "compute.images.list", OS},
    {"GET", P "/images/detail", nova_image_detail, "compute.images.detail", OS},
    {"GET", P "/images/{id}", nova_image_get, "compute.images.get", OS},
    {"DELETE", P "/images/{id}", nova_image_delete, "compute.images.delete", OS},
    {"GET", P "/limits", nova_limits, "compute.limits", OS},
    {"GET", P "/os-availability-zone", nova_azs, "compute.azs", OS},
    {"GET", P "/os-availability-zone/detail", nova_azs, "compute.azs.detail", OS},
    {"GET", P "/os-keypairs", nova_keypair_list, "compute.keypairs.list", OS},
    {"POST", P "/os-keypairs", nova_keypair_create, "compute.keypairs.create", OS},
    {"GET", P "/os-keypairs/{name}", nova_keypair_get, "compute.keypairs.get", OS},
    {"DELETE", P "/os-keypairs/{name}", nova_keypair_delete, "compute.keypairs.delete", OS},
    {"GET", P "/os-quota-sets/{project}/defaults", nova_quota_defaults, "compute.quotas.defaults",
     OS},
    {"GET", P "/os-quota-sets/{project}/detail", nova_quota_detail, "compute.quotas.detail", OS},
    {"GET", P "/os-quota-sets/{project}", nova_quota_get, "compute.quotas.get", OS},
    {"PUT", P "/os-quota-sets/{project}", nova_quota_put, "compute.quotas.put", OS},
    {"DELETE", P "/os-quota-sets/{project}", nova_quota_delete, "compute.quotas.delete", OS},
    {NULL, NULL, NULL, NULL, 0},
};
