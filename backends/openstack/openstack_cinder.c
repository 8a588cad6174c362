/*
 * openstack_cinder.c - the volume family over Cinder's v3 API: create (empty or from an
 * image), get, list (all pages of /volumes/detail), delete and os-extend. Cinder's fault
 * bodies ({"itemNotFound": {"message", "code"}}, {"badRequest": ...}) become nph_errors in
 * os_fault_error like Nova's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openstack_internal.h"

int os_volume_from_json(const json_t *j, struct nph_volume *out, struct nph_error *err)
{
    struct nph_volume v;
    memset(&v, 0, sizeof(v));
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_BACKEND, "a volume is not an object");
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!id || !*id || strlen(id) >= sizeof(v.remote_id))
        return nph_error_set(err, NPH_E_BACKEND, "'id' is missing, not a string or too long");
    const char *status = json_string_value(json_object_get(j, "status"));
    if (!status)
        return nph_error_set(err, NPH_E_BACKEND, "'status' is missing or not a string");
    const json_t *size = json_object_get(j, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return nph_error_set(err, NPH_E_BACKEND, "'size' is not a non-negative integer");
    static const char *const strs[] = {"name", "created_at", "description"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const json_t *s = json_object_get(j, strs[i]);
        if (s && !json_is_null(s) && !json_is_string(s))
            return nph_error_set(err, NPH_E_BACKEND, "'%s' is not a string", strs[i]);
    }
    const json_t *att = json_object_get(j, "attachments");
    if (att && !json_is_array(att))
        return nph_error_set(err, NPH_E_BACKEND, "'attachments' is not an array");
    nph_backend_strlcpy(v.remote_id, sizeof(v.remote_id), id);
    nph_backend_strlcpy(v.name, sizeof(v.name), json_string_value(json_object_get(j, "name")));
    nph_backend_strlcpy(v.status, sizeof(v.status), status);
    v.size_gb = json_integer_value(size);
    nph_backend_strlcpy(v.created, sizeof(v.created),
                        json_string_value(json_object_get(j, "created_at")));
    const json_t *img = json_object_get(j, "volume_image_metadata");
    nph_backend_strlcpy(v.image_id, sizeof(v.image_id),
                        json_string_value(json_object_get(img, "image_id")));
    nph_backend_strlcpy(
        v.stamp, sizeof(v.stamp),
        json_string_value(json_object_get(json_object_get(j, "metadata"), "nephele_id")));
    const json_t *a0 = json_array_get(att, 0);
    nph_backend_strlcpy(v.attached_to, sizeof(v.attached_to),
                        json_string_value(json_object_get(a0, "server_id")));
    nph_backend_strlcpy(v.device, sizeof(v.device),
                        json_string_value(json_object_get(a0, "device")));
    *out = v;
    return 0;
}

/* The {"volume": {...}} of a response into *out. */
static int volume_doc(struct os_call *call, const char *method, const char *path, json_t *doc,
                      struct nph_volume *out, struct nph_error *err)
{
    struct nph_error perr = NPH_ERROR_INIT;
    if (os_volume_from_json(json_object_get(doc, "volume"), out, &perr) != 0)
        return os_garbage(err, call->os->cfg.name, method, path, perr.msg);
    return 0;
}

static int cinder_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const struct nph_volume_spec *spec, struct nph_volume *out,
                         struct nph_error *err)
{
    struct os_call call;
    json_t *doc = NULL;
    json_t *v = json_pack("{s:I}", "size", (json_int_t)spec->size_gb);
    json_t *body = v ? json_pack("{s:o}", "volume", v) : NULL;
    if (!body)
        return nph_error_nomem(err);
    if (spec->name)
        json_object_set_new(v, "name", json_string(spec->name));
    if (spec->description)
        json_object_set_new(v, "description", json_string(spec->description));
    if (spec->image_id)
        json_object_set_new(v, "imageRef", json_string(spec->image_id));
    if (spec->stamp)
        json_object_set_new(v, "metadata", json_pack("{s:s}", "nephele_id", spec->stamp));
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_VOLUME, "POST", "/volumes", body, &doc, err);
    if (rc == 0)
        rc = volume_doc(&call, "POST", "/volumes", doc, out, err);
    json_decref(doc);
    json_decref(body);
    os_call_fini(&call);
    return rc;
}

/* "/volumes/<escaped id><suffix>" (malloc'd) or NULL with NPH_E_NOMEM / NPH_E_INVALID. */
static char *volume_path(const char *remote_id, const char *suffix, struct nph_error *err)
{
    if (!remote_id || !*remote_id) {
        nph_error_set(err, NPH_E_INVALID, "a volume id is required");
        return NULL;
    }
    char *e = os_escape(remote_id), *path = NULL;
    if (!e || asprintf(&path, "/volumes/%s%s", e, suffix) < 0) {
        path = NULL;
        nph_error_nomem(err);
    }
    free(e);
    return path;
}

static int cinder_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                      const char *remote_id, struct nph_volume *out, struct nph_error *err)
{
    struct os_call call;
    json_t *doc = NULL;
    char *path = volume_path(remote_id, "", err);
    if (!path)
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_VOLUME, "GET", path, NULL, &doc, err);
    if (rc == 0)
        rc = volume_doc(&call, "GET", "/volumes/{id}", doc, out, err);
    json_decref(doc);
    free(path);
    os_call_fini(&call);
    return rc;
}

static int volume_item(const json_t *item, void *arg, struct nph_error *err)
{
    struct nph_volume v;
    if (os_volume_from_json(item, &v, err) != 0)
        return -1;
    return nph_volume_list_push(arg, &v) == 0 ? 0 : nph_error_nomem(err);
}

static int cinder_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                       struct nph_volume_list *out, struct nph_error *err)
{
    struct os_call call;
    struct nph_volume_list l = {0};
    os_call_init(&call, b->priv, ctx);
    int rc = os_list_all(&call, OS_SVC_VOLUME, "/volumes/detail", "volumes", volume_item, &l, err);
    os_call_fini(&call);
    if (rc != 0) {
        nph_volume_list_fini(&l);
        return -1;
    }
    *out = l;
    return 0;
}

static int cinder_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, struct nph_error *err)
{
    struct os_call call;
    char *path = volume_path(remote_id, "", err);
    if (!path)
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_VOLUME, "DELETE", path, NULL, NULL, err);
    free(path);
    os_call_fini(&call);
    return rc;
}

static int cinder_extend(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, int64_t new_gb, struct nph_error *err)
{
    struct os_call call;
    char *path = volume_path(remote_id, "/action", err);
    if (!path)
        return -1;
    json_t *body = json_pack("{s:{s:I}}", "os-extend", "new_size", (json_int_t)new_gb);
    if (!body) {
        free(path);
        return nph_error_nomem(err);
    }
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_VOLUME, "POST", path, body, NULL, err);
    json_decref(body);
    free(path);
    os_call_fini(&call);
    return rc;
}

const struct nph_volume_ops os_volume_ops = {
    .volume_create = cinder_create,
    .volume_get = cinder_get,
    .volume_list = cinder_list,
    .volume_delete = cinder_delete,
    .volume_extend = cinder_extend,
};
