/*
 * openstack_glance.c - the image family over Glance's v2 API: every image the account sees
 * (all pages), and one image by id or by exact name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openstack_internal.h"

int os_image_from_json(const json_t *j, struct nph_image *out, struct nph_error *err)
{
    struct nph_image im = {0};
    const char *id = json_string_value(json_object_get(j, "id"));
    const json_t *size = json_object_get(j, "size");
    static const char *const strs[] = {"name", "status", "disk_format"};
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_BACKEND, "an image is not an object");
    if (!id || !*id || strlen(id) >= sizeof(im.id))
        return nph_error_set(err, NPH_E_BACKEND, "'id' is missing, not a string or too long");
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const json_t *v = json_object_get(j, strs[i]);
        if (v && !json_is_null(v) && !json_is_string(v))
            return nph_error_set(err, NPH_E_BACKEND, "'%s' is not a string", strs[i]);
    }
    if (size && !json_is_null(size) && (!json_is_integer(size) || json_integer_value(size) < 0))
        return nph_error_set(err, NPH_E_BACKEND, "'size' is not a non-negative integer");
    nph_backend_strlcpy(im.id, sizeof(im.id), id);
    nph_backend_strlcpy(im.name, sizeof(im.name), json_string_value(json_object_get(j, "name")));
    nph_backend_strlcpy(im.status, sizeof(im.status),
                        json_string_value(json_object_get(j, "status")));
    nph_backend_strlcpy(im.disk_format, sizeof(im.disk_format),
                        json_string_value(json_object_get(j, "disk_format")));
    im.size = json_is_integer(size) ? (uint64_t)json_integer_value(size) : 0;
    *out = im;
    return 0;
}

static int image_item(const json_t *item, void *arg, struct nph_error *err)
{
    struct nph_image im;
    if (os_image_from_json(item, &im, err) != 0)
        return -1;
    return nph_image_list_push(arg, &im) == 0 ? 0 : nph_error_nomem(err);
}

static int list(struct os_call *call, const char *path, struct nph_image_list *out,
                struct nph_error *err)
{
    struct nph_image_list l = {0};
    if (os_list_all(call, OS_SVC_IMAGE, path, "images", image_item, &l, err) != 0) {
        nph_image_list_fini(&l);
        return -1;
    }
    *out = l;
    return 0;
}

static int os_image_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         struct nph_image_list *out, struct nph_error *err)
{
    struct os_call call;
    os_call_init(&call, b->priv, ctx);
    int rc = list(&call, "/images", out, err);
    os_call_fini(&call);
    return rc;
}

/* Glance ids are UUIDs: anything else is only ever a name. */
static int looks_like_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    }
    return 1;
}

static int os_image_find(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *id_or_name, struct nph_image *out, struct nph_error *err)
{
    struct os_backend *os = b->priv;
    struct os_call call;
    struct nph_image_list l = {0};
    char *e = NULL, *path = NULL;
    json_t *doc = NULL;
    int rc = -1;

    if (!id_or_name || !*id_or_name)
        return nph_error_set(err, NPH_E_INVALID, "an image id or name is required");
    os_call_init(&call, os, ctx);
    if (!(e = os_escape(id_or_name))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (looks_like_uuid(id_or_name)) {
        if (asprintf(&path, "/images/%s", e) < 0) {
            path = NULL;
            nph_error_nomem(err);
            goto cleanup;
        }
        struct nph_error gerr = NPH_ERROR_INIT;
        if (os_request(&call, OS_SVC_IMAGE, "GET", path, NULL, &doc, &gerr) == 0) {
            struct nph_error perr = NPH_ERROR_INIT;
            if (os_image_from_json(doc, out, &perr) != 0)
                os_garbage(err, os->cfg.name, "GET", "/images/{id}", perr.msg);
            else
                rc = 0;
            goto cleanup;
        }
        if (gerr.code != NPH_E_NOT_FOUND) {
            if (err)
                *err = gerr;
            goto cleanup;
        }
        free(path);
        path = NULL;
    }
    if (asprintf(&path, "/images?name=%s", e) < 0) {
        path = NULL;
        nph_error_nomem(err);
        goto cleanup;
    }
    if (list(&call, path, &l, err) != 0)
        goto cleanup;
    if (l.n == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "no image '%.128s' on cloud '%s'", id_or_name,
                      os->cfg.name);
    } else if (l.n > 1) {
        nph_error_set(err, NPH_E_CONFLICT,
                      "%zu images are named '%.128s' on cloud '%s': name one by id", l.n,
                      id_or_name, os->cfg.name);
    } else {
        *out = l.v[0];
        rc = 0;
    }
cleanup:
    nph_image_list_fini(&l);
    json_decref(doc);
    free(path);
    free(e);
    os_call_fini(&call);
    return rc;
}

const struct nph_image_ops os_image_ops = {
    .image_list = os_image_list,
    .image_find = os_image_find,
};
