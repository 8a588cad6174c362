/*
 * local_driver.c - the `local` cloud kind: Nephele's own IaaS core (local/compute, local/image)
 * adapted to the driver interface, in process. The host lends the services through
 * nph_backend_host; calls act inside the Nephele project of the context, as that project's
 * admin would, so the broker's own RBAC is what limits callers.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "image/local_image.h"
#include "local_compute.h"
#include "local_internal.h"

struct local_backend {
    struct local_compute *lc;
    struct local_image *li;
};

static int local_open(struct nph_backend *b, const json_t *config, struct nph_error *err)
{
    (void)config;
    if (!b->host || !b->host->compute) {
        nph_error_set(err, NPH_E_INVALID,
                      "kind 'local' is the broker's own cloud and exists only inside 'nephele "
                      "serve'");
        return -1;
    }
    struct local_backend *lb = calloc(1, sizeof(*lb));
    if (!lb) {
        nph_error_set(err, NPH_E_NOMEM, "out of memory");
        return -1;
    }
    lb->lc = b->host->compute;
    lb->li = b->host->image;
    b->priv = lb;
    b->families = NPH_FAM_COMPUTE | (lb->li ? NPH_FAM_IMAGE : 0) |
                  (b->host->volume ? NPH_FAM_VOLUME : 0) | (b->host->object ? NPH_FAM_OBJECT : 0);
    return 0;
}

static void local_close(struct nph_backend *b)
{
    free(b->priv);
    b->priv = NULL;
}

static struct local_backend *LB(struct nph_backend *b)
{
    return b->priv;
}

static int local_health(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                        struct nph_error *err)
{
    (void)ctx;
    return local_compute_health(LB(b)->lc, NULL, err);
}

/* Inside a project the calls see that project only; without one (reconciliation, an admin
 * looking across projects) they see the whole cloud. */
static struct local_compute_caller caller_of(const struct nph_backend_ctx *ctx)
{
    int scoped = ctx && ctx->project_id && *ctx->project_id;
    struct local_compute_caller c = {
        .project_id = scoped ? ctx->project_id : "",
        .user_id = ctx && ctx->user_id ? ctx->user_id : "",
        .is_admin = !scoped,
        .request_id = ctx ? ctx->request_id : NULL,
    };
    return c;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A local server object (local_compute.h's vocabulary) into the interface's struct. */
static void server_from_json(const json_t *j, struct nph_server *out)
{
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->remote_id, sizeof(out->remote_id), str(j, "id"));
    nph_backend_strlcpy(out->name, sizeof(out->name), str(j, "name"));
    nph_backend_strlcpy(out->status, sizeof(out->status), str(j, "status"));
    nph_backend_strlcpy(out->offering_id, sizeof(out->offering_id),
                        str(json_object_get(j, "flavor"), "id"));
    nph_backend_strlcpy(out->image_id, sizeof(out->image_id), str(j, "image_id"));
    nph_backend_strlcpy(out->availability_zone, sizeof(out->availability_zone),
                        str(j, "availability_zone"));
    nph_backend_strlcpy(out->created, sizeof(out->created), str(j, "created"));
    nph_backend_strlcpy(out->updated, sizeof(out->updated), str(j, "updated"));
    nph_backend_strlcpy(out->op_key, sizeof(out->op_key),
                        str(json_object_get(j, "metadata"), NPH_BACKEND_OP_KEY));
    nph_backend_strlcpy(out->fault, sizeof(out->fault),
                        str(json_object_get(j, "fault"), "message"));
    out->addresses = json_object();
}

static int local_offerings(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                           struct nph_offering_list *out, struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    json_t *flavors = local_compute_flavor_list(LB(b)->lc, &c, 1, err);
    if (!flavors)
        return -1;
    size_t i;
    json_t *f;
    json_array_foreach(flavors, i, f)
    {
        struct nph_offering o = {0};
        nph_backend_strlcpy(o.id, sizeof(o.id), str(f, "id"));
        nph_backend_strlcpy(o.name, sizeof(o.name), str(f, "name"));
        o.vcpus = (unsigned)json_integer_value(json_object_get(f, "vcpus"));
        o.ram_mb = (uint64_t)json_integer_value(json_object_get(f, "ram"));
        o.disk_gb = (uint64_t)json_integer_value(json_object_get(f, "disk"));
        if (nph_offering_list_push(out, &o) != 0) {
            json_decref(flavors);
            return nph_error_set(err, NPH_E_NOMEM, "out of memory");
        }
    }
    json_decref(flavors);
    return 0;
}

static int local_server_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const struct nph_server_spec *spec, struct nph_server *out,
                               struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    json_t *meta = spec->metadata ? json_deep_copy(spec->metadata) : json_object();
    json_t *s = json_pack("{s:s,s:s,s:o}", "name", spec->name, "flavor_id", spec->offering_id,
                          "metadata", meta);
    if (!s)
        return nph_error_set(err, NPH_E_NOMEM, "out of memory");
    json_object_set_new(json_object_get(s, "metadata"), NPH_BACKEND_OP_KEY,
                        json_string(spec->idempotency_key));
    if (spec->image_id)
        json_object_set_new(s, "image_id", json_string(spec->image_id));
    if (spec->key_name)
        json_object_set_new(s, "key_name", json_string(spec->key_name));
    if (spec->user_data)
        json_object_set_new(s, "user_data", json_string(spec->user_data));
    json_t *server = local_compute_server_create(LB(b)->lc, &c, s, err);
    json_decref(s);
    if (!server)
        return -1;
    server_from_json(server, out);
    json_decref(server);
    return 0;
}

static int local_server_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *remote_id, struct nph_server *out, struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    json_t *server = local_compute_server_get(LB(b)->lc, &c, remote_id, err);
    if (!server)
        return -1;
    int deleted = strcmp(str(server, "status"), "DELETED") == 0;
    if (!deleted)
        server_from_json(server, out);
    json_decref(server);
    if (deleted)
        return nph_error_set(err, NPH_E_NOT_FOUND, "server %s is deleted", remote_id);
    return 0;
}

static int local_server_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             struct nph_server_list *out, struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    struct local_compute_server_filter f = {0};
    f.all_projects = c.is_admin; /* no project in the context: the whole cloud */
    json_t *servers = local_compute_server_list(LB(b)->lc, &c, &f, err);
    if (!servers)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(servers, i, j)
    {
        struct nph_server s;
        server_from_json(j, &s);
        if (nph_server_list_push(out, &s) != 0) {
            nph_server_fini(&s);
            json_decref(servers);
            return nph_error_set(err, NPH_E_NOMEM, "out of memory");
        }
    }
    json_decref(servers);
    return 0;
}

static int local_server_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const char *remote_id, struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    return local_compute_server_delete(LB(b)->lc, &c, remote_id, err);
}

static int local_server_action(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const char *remote_id, enum nph_server_action action,
                               const char *arg, struct nph_error *err)
{
    static const enum local_compute_action map[] = {
        [NPH_SA_START] = LC_ACT_START,
        [NPH_SA_STOP] = LC_ACT_STOP,
        [NPH_SA_REBOOT_SOFT] = LC_ACT_REBOOT_SOFT,
        [NPH_SA_REBOOT_HARD] = LC_ACT_REBOOT_HARD,
        [NPH_SA_RESIZE] = LC_ACT_RESIZE,
        [NPH_SA_CONFIRM_RESIZE] = LC_ACT_CONFIRM_RESIZE,
        [NPH_SA_REVERT_RESIZE] = LC_ACT_REVERT_RESIZE,
    };
    if ((unsigned)action >= sizeof(map) / sizeof(map[0]))
        return nph_error_set(err, NPH_E_INVALID, "unknown server action %d", (int)action);
    struct local_compute_caller c = caller_of(ctx);
    return local_compute_server_action(LB(b)->lc, &c, remote_id, map[action], arg, err);
}

static int local_server_console(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                                const char *remote_id, int lines, char **out, struct nph_error *err)
{
    struct local_compute_caller c = caller_of(ctx);
    *out = local_compute_console_output(LB(b)->lc, &c, remote_id, lines, err);
    return *out ? 0 : -1;
}

static void image_from_json(const json_t *j, struct nph_image *out)
{
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->id, sizeof(out->id), str(j, "id"));
    nph_backend_strlcpy(out->name, sizeof(out->name), str(j, "name"));
    nph_backend_strlcpy(out->status, sizeof(out->status), str(j, "status"));
    nph_backend_strlcpy(out->disk_format, sizeof(out->disk_format), str(j, "disk_format"));
    json_int_t size = json_integer_value(json_object_get(j, "size"));
    out->size = size > 0 ? (uint64_t)size : 0;
}

static struct local_image_caller image_caller(const struct nph_backend_ctx *ctx)
{
    struct local_image_caller c = {
        .project_id = ctx && ctx->project_id ? ctx->project_id : "",
        .is_admin = 0, /* images are visible as to the project: its own, shared, public */
    };
    return c;
}

static int local_image_list_all(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                                const char *name, struct nph_image_list *out, struct nph_error *err)
{
    struct local_image_caller c = image_caller(ctx);
    struct local_image_filter f;
    local_image_filter_init(&f);
    f.limit = LOCAL_IMAGE_LIST_LIMIT;
    f.name = name;
    char marker[64] = "";
    for (;;) {
        int more = 0;
        f.marker = *marker ? marker : NULL;
        json_t *page = local_image_list(LB(b)->li, &c, &f, &more, err);
        if (!page)
            return -1;
        size_t i;
        json_t *j;
        json_array_foreach(page, i, j)
        {
            struct nph_image im;
            image_from_json(j, &im);
            if (nph_image_list_push(out, &im) != 0) {
                json_decref(page);
                return nph_error_set(err, NPH_E_NOMEM, "out of memory");
            }
            nph_backend_strlcpy(marker, sizeof(marker), im.id);
        }
        size_t n = json_array_size(page);
        json_decref(page);
        if (!more || n == 0)
            return 0;
    }
}

static int local_images(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                        struct nph_image_list *out, struct nph_error *err)
{
    return local_image_list_all(b, ctx, NULL, out, err);
}

static int local_image_find(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *id_or_name, struct nph_image *out, struct nph_error *err)
{
    struct local_image_caller c = image_caller(ctx);
    struct nph_error e2 = {0};
    json_t *im = local_image_get(LB(b)->li, &c, id_or_name, &e2);
    if (im) {
        image_from_json(im, out);
        json_decref(im);
        return 0;
    }
    if (e2.code != NPH_E_NOT_FOUND && e2.code != NPH_E_INVALID) {
        *err = e2;
        return -1;
    }
    struct nph_image_list l = {0};
    if (local_image_list_all(b, ctx, id_or_name, &l, err) != 0)
        return -1;
    int rc = 0;
    if (l.n == 0)
        rc =
            nph_error_set(err, NPH_E_NOT_FOUND, "no image '%s' on cloud '%s'", id_or_name, b->name);
    else if (l.n > 1)
        rc =
            nph_error_set(err, NPH_E_CONFLICT, "%zu images are named '%s' on cloud '%s'; use an id",
                          l.n, id_or_name, b->name);
    else
        *out = l.v[0];
    nph_image_list_fini(&l);
    return rc;
}

static const struct nph_compute_ops local_compute_ops = {
    .list_offerings = local_offerings,
    .server_create = local_server_create,
    .server_get = local_server_get,
    .server_list = local_server_list,
    .server_delete = local_server_delete,
    .server_action = local_server_action,
    .server_console = local_server_console,
};

static const struct nph_image_ops local_image_ops = {
    .image_list = local_images,
    .image_find = local_image_find,
};

const struct nph_backend_ops nph_backend_local_ops = {
    .kind = "local",
    .open = local_open,
    .close = local_close,
    .health = local_health,
    .compute = &local_compute_ops,
    .image = &local_image_ops,
    .volume = &local_volume_family,
    .object = &local_object_family,
};
