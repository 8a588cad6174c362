/*
 * local_storage.c - the `local` cloud's volume and object families: the native block storage
 * (local/storage/local_volume.h) and object store (local_object.h) adapted to the driver
 * interface, in process. Calls act inside the Nephele project of the context: its volumes, and
 * its object account AUTH_<project>.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "local_internal.h"
#include "local_object.h"
#include "local_volume.h"

static struct local_volume *LV(struct nph_backend *b)
{
    return b->host ? b->host->volume : NULL;
}

static struct local_object *LO(struct nph_backend *b)
{
    return b->host ? b->host->object : NULL;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int need_project(const struct nph_backend_ctx *ctx, struct nph_error *err)
{
    if (ctx && ctx->project_id && *ctx->project_id)
        return 0;
    return nph_error_set(err, NPH_E_FORBIDDEN,
                         "the native cloud's storage is used inside a project (the token is not "
                         "project-scoped)");
}

/* ---- volumes ------------------------------------------------------------------------------- */

static struct local_volume_caller vcaller(const struct nph_backend_ctx *ctx)
{
    struct local_volume_caller c = {
        .project_id = ctx && ctx->project_id ? ctx->project_id : "",
        .user_id = ctx && ctx->user_id ? ctx->user_id : "",
        .is_admin = !(ctx && ctx->project_id && *ctx->project_id),
    };
    return c;
}

static void volume_from_json(const json_t *j, struct nph_volume *out)
{
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->remote_id, sizeof(out->remote_id), str(j, "id"));
    nph_backend_strlcpy(out->name, sizeof(out->name), str(j, "name"));
    nph_backend_strlcpy(out->status, sizeof(out->status), str(j, "status"));
    out->size_gb = json_integer_value(json_object_get(j, "size"));
    nph_backend_strlcpy(out->image_id, sizeof(out->image_id), str(j, "image_id"));
    const json_t *a = json_array_get(json_object_get(j, "attachments"), 0);
    nph_backend_strlcpy(out->attached_to, sizeof(out->attached_to), str(a, "server_id"));
    nph_backend_strlcpy(out->device, sizeof(out->device), str(a, "device"));
    nph_backend_strlcpy(out->created, sizeof(out->created), str(j, "created_at"));
    nph_backend_strlcpy(out->stamp, sizeof(out->stamp),
                        str(json_object_get(j, "metadata"), "nephele_id"));
}

static int lv_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                     const struct nph_volume_spec *spec, struct nph_volume *out,
                     struct nph_error *err)
{
    struct local_volume_caller c = vcaller(ctx);
    if (need_project(ctx, err))
        return -1;
    json_t *s = json_pack("{s:I}", "size", (json_int_t)spec->size_gb);
    if (!s)
        return nph_error_nomem(err);
    if (spec->name)
        json_object_set_new(s, "name", json_string(spec->name));
    if (spec->description)
        json_object_set_new(s, "description", json_string(spec->description));
    if (spec->image_id)
        json_object_set_new(s, "image_id", json_string(spec->image_id));
    if (spec->stamp)
        json_object_set_new(s, "metadata", json_pack("{s:s}", "nephele_id", spec->stamp));
    json_t *v = local_volume_create(LV(b), &c, s, err);
    json_decref(s);
    if (!v)
        return -1;
    volume_from_json(v, out);
    json_decref(v);
    return 0;
}

static int lv_get(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *remote_id,
                  struct nph_volume *out, struct nph_error *err)
{
    struct local_volume_caller c = vcaller(ctx);
    json_t *v = local_volume_get(LV(b), &c, remote_id, err);
    if (!v)
        return -1;
    volume_from_json(v, out);
    json_decref(v);
    return 0;
}

static int lv_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                   struct nph_volume_list *out, struct nph_error *err)
{
    struct local_volume_caller c = vcaller(ctx);
    struct local_volume_filter f = {0};
    f.all_projects = c.is_admin;
    json_t *arr = local_volume_list(LV(b), &c, &f, err);
    if (!arr)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j)
    {
        struct nph_volume v;
        volume_from_json(j, &v);
        if (nph_volume_list_push(out, &v) != 0) {
            json_decref(arr);
            return nph_error_nomem(err);
        }
    }
    json_decref(arr);
    return 0;
}

static int lv_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                     const char *remote_id, struct nph_error *err)
{
    struct local_volume_caller c = vcaller(ctx);
    return local_volume_delete(LV(b), &c, remote_id, err);
}

static int lv_extend(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                     const char *remote_id, int64_t new_gb, struct nph_error *err)
{
    struct local_volume_caller c = vcaller(ctx);
    return local_volume_extend(LV(b), &c, remote_id, new_gb, err);
}

const struct nph_volume_ops local_volume_family = {
    .volume_create = lv_create,
    .volume_get = lv_get,
    .volume_list = lv_list,
    .volume_delete = lv_delete,
    .volume_extend = lv_extend,
};

/* ---- objects ------------------------------------------------------------------------------- */

static int account_of(const struct nph_backend_ctx *ctx, char *out, size_t len,
                      struct nph_error *err)
{
    if (need_project(ctx, err))
        return -1;
    if ((size_t)snprintf(out, len, "AUTH_%s", ctx->project_id) >= len)
        return nph_error_set(err, NPH_E_INVALID, "the project id is too long");
    return 0;
}

static void iso_of(int64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

static void info_from_record(const json_t *o, struct nph_object_info *out)
{
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->name, sizeof(out->name), str(o, "name"));
    out->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    nph_backend_strlcpy(out->etag, sizeof(out->etag), str(o, "etag"));
    nph_backend_strlcpy(out->content_type, sizeof(out->content_type), str(o, "content_type"));
    iso_of(json_integer_value(json_object_get(o, "modified")), out->last_modified);
}

static int lo_bucket_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *name, struct nph_error *err)
{
    char acct[128];
    int created = 0;
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    if (local_object_container_put(LO(b), acct, name, NULL, &created, err))
        return -1;
    return created ? 0
                   : nph_error_set(err, NPH_E_CONFLICT, "container '%s' exists on cloud '%s'", name,
                                   b->name);
}

static int lo_bucket_head(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          const char *name, struct nph_bucket *out, struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    json_t *c = local_object_container_get(LO(b), acct, name, err);
    if (!c)
        return -1;
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->name, sizeof(out->name), name);
    out->objects = (uint64_t)json_integer_value(json_object_get(c, "objects"));
    out->bytes = (uint64_t)json_integer_value(json_object_get(c, "bytes"));
    json_decref(c);
    return 0;
}

static int lo_bucket_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *name, struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    return local_object_container_delete(LO(b), acct, name, err);
}

static int lo_bucket_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          const char *marker, int limit, struct nph_bucket_list *out,
                          struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    struct lobj_list_params p = {0};
    p.marker = marker;
    if (limit <= 0 || limit >= LOBJ_LISTING_LIMIT)
        limit = LOBJ_LISTING_LIMIT - 1;
    p.limit = limit + 1; /* one more than asked: its presence says the listing goes on */
    json_t *arr = local_object_container_list(LO(b), acct, &p, err);
    if (!arr)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j)
    {
        if ((long)i >= limit) {
            out->truncated = 1;
            break;
        }
        struct nph_bucket c;
        memset(&c, 0, sizeof(c));
        nph_backend_strlcpy(c.name, sizeof(c.name), str(j, "name"));
        c.objects = (uint64_t)json_integer_value(json_object_get(j, "count"));
        c.bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
        if (nph_bucket_list_push(out, &c) != 0) {
            json_decref(arr);
            return nph_error_nomem(err);
        }
    }
    json_decref(arr);
    return 0;
}

static int lo_object_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          const char *bucket, const char *prefix, const char *marker, int limit,
                          struct nph_object_list *out, struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    struct lobj_list_params p = {0};
    p.prefix = prefix;
    p.marker = marker;
    p.limit = limit > 0 && limit <= LOBJ_LISTING_LIMIT ? limit + 1 : LOBJ_LISTING_LIMIT;
    json_t *arr = local_object_object_list(LO(b), acct, bucket, &p, err);
    if (!arr)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j)
    {
        if (limit > 0 && (long)i >= limit) {
            out->truncated = 1;
            break;
        }
        struct nph_object_info o;
        memset(&o, 0, sizeof(o));
        nph_backend_strlcpy(o.name, sizeof(o.name), str(j, "name"));
        o.size = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
        nph_backend_strlcpy(o.etag, sizeof(o.etag), str(j, "hash"));
        nph_backend_strlcpy(o.content_type, sizeof(o.content_type), str(j, "content_type"));
        nph_backend_strlcpy(o.last_modified, sizeof(o.last_modified), str(j, "last_modified"));
        if (nph_object_list_push(out, &o) != 0) {
            json_decref(arr);
            return nph_error_nomem(err);
        }
    }
    json_decref(arr);
    return 0;
}

static int lo_object_put(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *bucket, const char *name, const struct nph_object_body *body,
                         struct nph_object_info *out, struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    struct lobj_put p = {0};
    p.account = acct;
    p.container = bucket;
    p.name = name;
    p.src_path = body->path;
    p.size = (int64_t)body->size;
    p.md5 = body->md5;
    p.has_crc32c = body->has_crc32c;
    p.crc32c = body->crc32c;
    p.content_type = body->content_type ? body->content_type : "application/octet-stream";
    p.kind = LOBJ_PLAIN;
    p.quota_size = (int64_t)body->size;
    json_t *rec = NULL;
    if (local_object_put(LO(b), &p, &rec, err))
        return -1;
    if (out)
        info_from_record(rec, out);
    json_decref(rec);
    return 0;
}

static int lo_object_head(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          const char *bucket, const char *name, struct nph_object_info *out,
                          struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    json_t *o = local_object_get(LO(b), acct, bucket, name, err);
    if (!o)
        return -1;
    int plain = json_integer_value(json_object_get(o, "kind")) == LOBJ_PLAIN;
    if (plain)
        info_from_record(o, out);
    json_decref(o);
    if (!plain)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED,
                             "object '%s' is a large-object manifest; read it through the Swift "
                             "API",
                             name);
    return 0;
}

static int lo_object_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *bucket, const char *name, nph_object_sink_fn sink, void *arg,
                         struct nph_object_info *out, struct nph_error *err)
{
    char acct[128], buf[65536];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    json_t *o = local_object_get(LO(b), acct, bucket, name, err);
    if (!o)
        return -1;
    int rc = -1, fd = -1;
    if (json_integer_value(json_object_get(o, "kind")) != LOBJ_PLAIN) {
        nph_error_set(err, NPH_E_NOT_SUPPORTED,
                      "object '%s' is a large-object manifest; read it through the Swift API",
                      name);
        goto done;
    }
    /* verified before the first byte leaves: corrupted data is refused, never served */
    if (local_object_verify(o, err))
        goto done;
    info_from_record(o, out);
    if ((fd = open(str(o, "path"), O_RDONLY | O_CLOEXEC)) < 0) {
        nph_error_set(err, NPH_E_IO, "cannot open the data of object '%s'", name);
        goto done;
    }
    uint64_t left = out->size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
        if (n <= 0) {
            nph_error_set(err, NPH_E_IO, "cannot read the data of object '%s'", name);
            goto done;
        }
        if (sink(arg, buf, (size_t)n, err))
            goto done;
        left -= (uint64_t)n;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    json_decref(o);
    return rc;
}

static int lo_object_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *bucket, const char *name, struct nph_error *err)
{
    char acct[128];
    if (account_of(ctx, acct, sizeof(acct), err))
        return -1;
    return local_object_delete(LO(b), acct, bucket, name, err);
}

const struct nph_object_ops local_object_family = {
    .bucket_create = lo_bucket_create,
    .bucket_head = lo_bucket_head,
    .bucket_delete = lo_bucket_delete,
    .bucket_list = lo_bucket_list,
    .object_list = lo_object_list,
    .object_put = lo_object_put,
    .object_get = lo_object_get,
    .object_head = lo_object_head,
    .object_delete = lo_object_delete,
};
