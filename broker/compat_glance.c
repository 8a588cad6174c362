/*
 * compat_glance.c - the Glance v2 compatible image API under /image, over local/image:
 * version discovery, the image and images schemas, images (create, list with filters, sort and
 * marker pagination, show, JSON-patch update, delete), image data (upload streamed to a file,
 * download sent from the file) and tags, with Glance's bodies and statuses. Faults use the
 * Keystone-style JSON body, which the OpenStack clients accept.
 *
 * Glance's image view is local/image's with the custom properties lifted to the top level and
 * the links (self, file, schema) added, all relative to the endpoint as Glance writes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "nph_json.h"

#define GL_PREFIX "/image"
#define GL        NPH_FAULT_KEYSTONE

static struct nph_app *app_of(struct http_req *req)
{
    return req->app;
}

/* Authenticate and describe the caller for local/image. */
static int gl_caller(struct http_req *req, struct local_image_caller *c, struct nph_error *err)
{
    const struct ident_token *t;
    if (app_authenticate(req, err))
        return -1;
    t = req->auth;
    c->project_id = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "";
    c->is_admin = ident_token_is_admin(t);
    return 0;
}

/* ---- views ----------------------------------------------------------------------------- */

/* local/image's image -> Glance's view (consumes img, returns a new reference). */
static json_t *gl_view(json_t *img)
{
    const char *k;
    json_t *v;
    char path[256];
    json_t *props = json_object_get(img, "properties");
    json_incref(props);
    json_object_del(img, "properties");
    json_object_foreach(props, k, v)
    {
        if (!json_object_get(img, k))
            json_object_set(img, k, v);
    }
    json_decref(props);
    snprintf(path, sizeof(path), "/v2/images/%s", json_string_value(json_object_get(img, "id")));
    json_object_set_new(img, "self", json_string(path));
    snprintf(path, sizeof(path), "/v2/images/%s/file",
             json_string_value(json_object_get(img, "id")));
    json_object_set_new(img, "file", json_string(path));
    json_object_set_new(img, "schema", json_string("/v2/schemas/image"));
    json_object_set_new(img, "os_hidden", json_false());
    return img;
}

static int reply_image(struct http_resp *resp, int status, json_t *img, struct nph_error *err)
{
    if (!img)
        return -1;
    if (http_resp_json(resp, status, gl_view(img)) != 0)
        return nph_error_nomem(err);
    return 0;
}

/* ---- versions and schemas -------------------------------------------------------------- */

static json_t *versions_doc(struct http_req *req)
{
    static const char *const ids[] = {"v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"};
    char url[2048];
    json_t *arr = json_array();
    snprintf(url, sizeof(url), "%s" GL_PREFIX "/v2/", app_of(req)->cfg.public_url);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "id", ids[i], "status",
                                             i == 0 ? "CURRENT" : "SUPPORTED", "links", "rel",
                                             "self", "href", url));
    return json_pack("{s:o}", "versions", arr);
}

static int gl_versions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(resp, 300, versions_doc(req));
}

static int gl_versions_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(resp, 200, versions_doc(req));
}

static json_t *image_schema(void)
{
    json_t *s = json_pack(
        "{s:s,s:{"
        "s:{s:s,s:s,s:s},s:{s:[ss],s:i,s:s},s:{s:s,s:[sssssssss],s:s,s:b},"
        "s:{s:s,s:[ssss],s:s},s:{s:s,s:s},s:{s:[ss],s:s},s:{s:[ss],s:i,s:s},"
        "s:{s:[ss],s:s},s:{s:[ss],s:s},s:{s:[ss],s:s},"
        "s:{s:[ss],s:[sssssssssss],s:s},s:{s:[ss],s:[ssssssss],s:s},"
        "s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:{s:s,s:i},s:s},"
        "s:{s:s,s:s,s:b},s:{s:s,s:s,s:b},s:{s:s,s:s,s:b},s:{s:s,s:s,s:b},"
        "s:{s:s,s:b,s:s},s:{s:s,s:b,s:s},s:{s:s,s:s}},"
        "s:{s:s},s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}",
        "name", "image", "properties",
        /* id */ "id", "type", "string", "pattern",
        "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
        "description", "An identifier for the image",
        /* name */ "name", "type", "null", "string", "maxLength", 255, "description",
        "Descriptive name for the image",
        /* status */ "status", "type", "string", "enum", "queued", "saving", "active", "killed",
        "deleted", "uploading", "importing", "pending_delete", "deactivated", "description",
        "Status of the image", "readOnly", 1,
        /* visibility */ "visibility", "type", "string", "enum", "community", "public", "private",
        "shared", "description", "Scope of image accessibility",
        /* protected */ "protected", "type", "boolean", "description",
        "If true, image will not be deletable.",
        /* checksum */ "checksum", "type", "null", "string", "description",
        "md5 hash of image contents.",
        /* owner */ "owner", "type", "null", "string", "maxLength", 255, "description",
        "Owner of the image",
        /* size */ "size", "type", "null", "integer", "description", "Size of image file in bytes",
        /* virtual_size */ "virtual_size", "type", "null", "integer", "description",
        "Virtual size of image in bytes",
        /* os_hash_value */ "os_hash_value", "type", "null", "string", "description",
        "Secure hash of image data",
        /* disk_format */ "disk_format", "type", "null", "string", "enum", "ami", "ari", "aki",
        "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop", "description",
        "Format of the disk",
        /* container_format */ "container_format", "type", "null", "string", "enum", "ami", "ari",
        "aki", "bare", "ovf", "ova", "docker", "compressed", "description",
        "Format of the container",
        /* min_ram */ "min_ram", "type", "integer", "description",
        "Amount of ram (in MB) required to boot image.",
        /* min_disk */ "min_disk", "type", "integer", "description",
        "Amount of disk space (in GB) required to boot image.",
        /* tags */ "tags", "type", "array", "items", "type", "string", "maxLength", 255,
        "description", "List of strings related to the image",
        /* created_at */ "created_at", "type", "string", "description",
        "Date and time of image registration", "readOnly", 1,
        /* updated_at */ "updated_at", "type", "string", "description",
        "Date and time of the last image modification", "readOnly", 1,
        /* self */ "self", "type", "string", "description", "An image self url", "readOnly", 1,
        /* file */ "file", "type", "string", "description", "An image file url", "readOnly", 1,
        /* os_hidden */ "os_hidden", "type", "boolean", "readOnly", 0, "description",
        "If true, image will not appear in default image list response.",
        /* os_hash_algo */ "os_hash_algo", "type", "string", "readOnly", 1, "description",
        "Algorithm to calculate the os_hash_value",
        /* schema */ "schema", "type", "string", "description", "An image schema url",
        "additionalProperties", "type", "string", "links", "rel", "self", "href", "{self}", "rel",
        "enclosure", "href", "{file}", "rel", "describedby", "href", "{schema}");
    return s;
}

static int gl_schema_image(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    if (app_authenticate(req, err))
        return -1;
    json_t *s = image_schema();
    if (!s)
        return nph_error_nomem(err);
    return http_resp_json(resp, 200, s);
}

static int gl_schema_images(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    if (app_authenticate(req, err))
        return -1;
    json_t *item = image_schema();
    json_t *s = item
                    ? json_pack("{s:s,s:{s:{s:s,s:o},s:{s:s},s:{s:s},s:{s:s}},"
                                "s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}",
                                "name", "images", "properties", "images", "type", "array", "items",
                                item, "schema", "type", "string", "first", "type", "string", "next",
                                "type", "string", "links", "rel", "first", "href", "{first}", "rel",
                                "next", "href", "{next}", "rel", "describedby", "href", "{schema}")
                    : NULL;
    if (!s)
        return nph_error_nomem(err);
    return http_resp_json(resp, 200, s);
}

/* ---- images ---------------------------------------------------------------------------- */

/* POST /v2/images: Glance's body is the image itself, custom properties at the top level. */
static int gl_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    const char *k;
    json_t *v, *body, *attrs, *props, *img;
    if (gl_caller(req, &c, err))
        return -1;
    body = http_req_json(req, err);
    if (!body)
        return -1;
    attrs = json_object();
    props = json_object();
    json_object_foreach(body, k, v)
    {
        if (local_image_is_reserved(k))
            json_object_set(attrs, k, v);
        else
            json_object_set(props, k, v);
    }
    json_object_set_new(attrs, "properties", props);
    img = local_image_create(app_of(req)->image, &c, attrs, err);
    json_decref(attrs);
    json_decref(body);
    if (img) {
        char loc[2048];
        snprintf(loc, sizeof(loc), "%s" GL_PREFIX "/v2/images/%s", app_of(req)->cfg.public_url,
                 json_string_value(json_object_get(img, "id")));
        http_resp_header(resp, "Location", loc);
    }
    return reply_image(resp, 201, img, err);
}

static int gl_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    if (gl_caller(req, &c, err))
        return -1;
    return reply_image(resp, 200, local_image_get(app_of(req)->image, &c, req->params[0], err),
                       err);
}

static int gl_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    if (gl_caller(req, &c, err) || local_image_delete(app_of(req)->image, &c, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* DELETE /v2/images/ (an empty id) is a 404 as in Glance; DELETE /v2/images a 405. */
static int gl_delete_collection(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    size_t n = strlen(req->path);
    (void)resp;
    if (n && req->path[n - 1] == '/')
        return nph_error_set(err, NPH_E_NOT_FOUND, "no image with an empty id");
    http_resp_header(resp, "Allow", "GET, HEAD, POST");
    return nph_error_set(err, NPH_E_METHOD, "method 'DELETE' is not allowed here");
}

/* Percent-encode a query value into out. */
static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

struct next_link {
    char buf[4096];
    size_t len;
};

static void next_add(const char *key, const char *value, void *ctx)
{
    struct next_link *nl = ctx;
    char k[512], v[1024];
    if (strcmp(key, "marker") == 0)
        return;
    url_encode(key, k, sizeof(k));
    url_encode(value, v, sizeof(v));
    if (nl->len < sizeof(nl->buf))
        nl->len += (size_t)snprintf(nl->buf + nl->len, sizeof(nl->buf) - nl->len, "%s=%s&", k, v);
}

static int parse_int_param(struct http_req *req, const char *name, int64_t *out,
                           struct nph_error *err)
{
    const char *v = http_req_query(req, name);
    char *end;
    long long n;
    if (!v)
        return 0;
    n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0)
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a non-negative integer", name);
    *out = n;
    return 0;
}

/* "size:desc,name" -> the first key and its direction (Glance sorts by the first key; the
 * later ones only break ties, which id does here). */
static int parse_sort(struct http_req *req, struct local_image_filter *f, char *key, size_t cap,
                      struct nph_error *err)
{
    const char *sort = http_req_query(req, "sort");
    const char *sk = http_req_query(req, "sort_key");
    const char *sd = http_req_query(req, "sort_dir");
    if (sort && *sort) {
        size_t n = strcspn(sort, ",:");
        snprintf(key, cap, "%.*s", (int)n, sort);
        f->sort_desc = 1;
        if (sort[n] == ':') {
            const char *d = sort + n + 1;
            size_t dl = strcspn(d, ",");
            if (dl == 3 && strncmp(d, "asc", 3) == 0)
                f->sort_desc = 0;
            else if (!(dl == 4 && strncmp(d, "desc", 4) == 0))
                return nph_error_set(err, NPH_E_INVALID, "invalid sort direction");
        }
    } else if (sk && *sk) {
        snprintf(key, cap, "%s", sk);
    }
    if (sd) {
        if (strcmp(sd, "asc") == 0)
            f->sort_desc = 0;
        else if (strcmp(sd, "desc") == 0)
            f->sort_desc = 1;
        else
            return nph_error_set(err, NPH_E_INVALID, "invalid sort direction '%.16s'", sd);
    }
    f->sort_key = key[0] ? key : NULL;
    return 0;
}

static int gl_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    struct local_image_filter f;
    char sort_key[64] = "";
    int64_t limit = 0;
    int more = 0;
    size_t plen = strlen(req->path);
    json_t *arr, *body, *v;
    size_t i;

    if (gl_caller(req, &c, err))
        return -1;
    /* GET /v2/images/ is Glance's "show the image with an empty id": 404. */
    if (plen && req->path[plen - 1] == '/')
        return nph_error_set(err, NPH_E_NOT_FOUND, "no image with an empty id");
    local_image_filter_init(&f);
    f.name = http_req_query(req, "name");
    f.status = http_req_query(req, "status");
    f.visibility = http_req_query(req, "visibility");
    f.disk_format = http_req_query(req, "disk_format");
    f.container_format = http_req_query(req, "container_format");
    f.owner = http_req_query(req, "owner");
    f.tag = http_req_query(req, "tag");
    f.marker = http_req_query(req, "marker");
    if (parse_int_param(req, "size", &f.size, err) ||
        parse_int_param(req, "size_min", &f.size_min, err) ||
        parse_int_param(req, "size_max", &f.size_max, err) ||
        parse_int_param(req, "limit", &limit, err) ||
        parse_sort(req, &f, sort_key, sizeof(sort_key), err))
        return -1;
    if (http_req_query(req, "limit"))
        f.limit = limit > LOCAL_IMAGE_LIST_LIMIT ? LOCAL_IMAGE_LIST_LIMIT : (int)limit;
    if (http_req_query(req, "limit") && limit == 0)
        f.limit = 0; /* Glance: limit=0 is the default page */
    arr = local_image_list(app_of(req)->image, &c, &f, &more, err);
    if (!arr)
        return -1;
    json_array_foreach(arr, i, v)
    {
        json_incref(v);
        json_array_set_new(arr, i, gl_view(v));
    }
    body = json_pack("{s:o,s:s,s:s}", "images", arr, "first", "/v2/images", "schema",
                     "/v2/schemas/images");
    if (body && more && json_array_size(arr)) {
        struct next_link nl;
        char m[256];
        memset(&nl, 0, sizeof(nl));
        nl.len = (size_t)snprintf(nl.buf, sizeof(nl.buf), "/v2/images?");
        http_req_query_each(req, next_add, &nl);
        url_encode(
            json_string_value(json_object_get(json_array_get(arr, json_array_size(arr) - 1), "id")),
            m, sizeof(m));
        if (nl.len < sizeof(nl.buf))
            snprintf(nl.buf + nl.len, sizeof(nl.buf) - nl.len, "marker=%s", m);
        json_object_set_new(body, "next", json_string(nl.buf));
    }
    if (!body)
        return nph_error_nomem(err);
    return http_resp_json(resp, 200, body);
}

/* ---- PATCH (JSON patch, application/openstack-images-v2.1-json-patch) ------------------- */

/* The attribute named by a JSON pointer of one segment ("/name", "/a~1b" -> "a/b"). */
static int patch_attr(const char *path, char *out, size_t cap, struct nph_error *err)
{
    size_t o = 0;
    if (!path || path[0] != '/' || !path[1] || strchr(path + 1, '/'))
        return nph_error_set(err, NPH_E_INVALID, "invalid path '%.64s'", path ? path : "");
    for (const char *p = path + 1; *p && o + 1 < cap; p++) {
        if (p[0] == '~' && p[1] == '1') {
            out[o++] = '/';
            p++;
        } else if (p[0] == '~' && p[1] == '0') {
            out[o++] = '~';
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return 0;
}

static const char *const mutable_attrs[] = {
    "name",     "visibility", "protected", "disk_format", "container_format",
    "min_disk", "min_ram",    "tags",      NULL};

static int is_mutable(const char *k)
{
    for (const char *const *m = mutable_attrs; *m; m++)
        if (strcmp(*m, k) == 0)
            return 1;
    return 0;
}

/* Apply the operations to doc (a local/image image: base attributes + properties). */
static int apply_patch(json_t *doc, const json_t *ops, struct nph_error *err)
{
    size_t i;
    json_t *op;
    json_t *props = json_object_get(doc, "properties");
    if (!json_is_array(ops))
        return nph_error_set(err, NPH_E_INVALID, "the request body must be a JSON-patch array");
    json_array_foreach(ops, i, op)
    {
        const char *kind = NULL, *path = NULL;
        char attr[512];
        json_t *value = json_object_get(op, "value");
        if (!json_is_object(op))
            return nph_error_set(err, NPH_E_INVALID, "a patch operation must be an object");
        /* Glance's v2.0 form {"replace": "/name", "value": ...} and v2.1's op/path. */
        if (json_is_string(json_object_get(op, "op"))) {
            kind = json_string_value(json_object_get(op, "op"));
            path = json_string_value(json_object_get(op, "path"));
        } else {
            static const char *const kinds[] = {"add", "replace", "remove", NULL};
            for (const char *const *k = kinds; *k; k++) {
                if (json_is_string(json_object_get(op, *k))) {
                    kind = *k;
                    path = json_string_value(json_object_get(op, *k));
                }
            }
        }
        if (!kind || (strcmp(kind, "add") && strcmp(kind, "replace") && strcmp(kind, "remove")))
            return nph_error_set(err, NPH_E_INVALID, "unsupported patch operation");
        if (patch_attr(path, attr, sizeof(attr), err))
            return -1;
        if (strcmp(kind, "remove") != 0 && !value)
            return nph_error_set(err, NPH_E_INVALID, "operation '%s' needs a value", kind);
        if (is_mutable(attr)) {
            if (strcmp(kind, "remove") == 0)
                return nph_error_set(err, NPH_E_FORBIDDEN, "attribute '%.64s' cannot be removed",
                                     attr);
            json_object_set(doc, attr, value);
        } else if (local_image_is_reserved(attr) || strcmp(attr, "os_hidden") == 0) {
            return nph_error_set(err, NPH_E_FORBIDDEN, "attribute '%.64s' is read-only", attr);
        } else if (strcmp(kind, "add") == 0) {
            json_object_set(props, attr, value);
        } else if (!json_object_get(props, attr)) {
            return nph_error_set(err, NPH_E_CONFLICT, "property '%.64s' does not exist", attr);
        } else if (strcmp(kind, "replace") == 0) {
            json_object_set(props, attr, value);
        } else {
            json_object_del(props, attr);
        }
    }
    return 0;
}

static int gl_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    const char *ct = http_req_header(req, "Content-Type");
    json_t *ops = NULL, *doc = NULL, *changes = NULL, *img = NULL;
    int rc = -1;
    if (gl_caller(req, &c, err))
        return -1;
    if (!ct || (strncasecmp(ct, "application/openstack-images-v2.1-json-patch", 44) != 0 &&
                strncasecmp(ct, "application/openstack-images-v2.0-json-patch", 44) != 0)) {
        nph_error_set(err, NPH_E_UNSUPPORTED_MEDIA, "content type '%.64s' is not supported",
                      ct ? ct : "");
        return nph_error_detail(err, "expected application/openstack-images-v2.1-json-patch");
    }
    if (!req->body || !req->body_len)
        return nph_error_set(err, NPH_E_INVALID, "the request body is empty");
    ops = nph_json_parse(req->body, req->body_len, req->max_json_depth, 0, err);
    if (!ops)
        return -1;
    doc = local_image_get(app_of(req)->image, &c, req->params[0], err);
    if (!doc || apply_patch(doc, ops, err))
        goto done;
    changes = json_object();
    for (const char *const *m = mutable_attrs; *m; m++)
        json_object_set(changes, *m, json_object_get(doc, *m));
    json_object_set(changes, "properties", json_object_get(doc, "properties"));
    img = local_image_update(app_of(req)->image, &c, req->params[0], changes, err);
    rc = reply_image(resp, 200, img, err);
done:
    json_decref(changes);
    json_decref(doc);
    json_decref(ops);
    return rc;
}

/* ---- data ------------------------------------------------------------------------------ */

static int gl_upload(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    const char *ct = http_req_header(req, "Content-Type");
    const char *path = req->body_path;
    json_t *img;
    if (gl_caller(req, &c, err))
        return -1;
    if (ct && strncasecmp(ct, "application/octet-stream", 24) != 0) {
        nph_error_set(err, NPH_E_UNSUPPORTED_MEDIA, "content type '%.64s' is not supported", ct);
        return nph_error_detail(err, "expected application/octet-stream");
    }
    if (!path)
        return nph_error_set(err, NPH_E_INTERNAL, "the upload has no file");
    /* local_image_upload consumes the file whatever happens. */
    req->body_path = NULL;
    img = local_image_upload(app_of(req)->image, &c, req->params[0], path, err);
    if (!img)
        return -1;
    json_decref(img);
    resp->status = 204;
    return 0;
}

static int gl_download(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    char path[4096];
    json_t *img = NULL;
    int rc;
    if (gl_caller(req, &c, err))
        return -1;
    rc = local_image_data(app_of(req)->image, &c, req->params[0], path, &img, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        json_decref(img);
        resp->status = 204; /* no data yet, as Glance answers */
        return 0;
    }
    rc = http_resp_file(resp, 200, "application/octet-stream", path, err);
    if (rc == 0) {
        const char *md5 = json_string_value(json_object_get(img, "checksum"));
        if (md5)
            http_resp_header(resp, "Content-MD5", md5);
    } else if (err && err->code == NPH_E_NOT_FOUND) {
        /* Deleted between the lookup and the open. */
        nph_error_set(err, NPH_E_NOT_FOUND, "no image with id '%.64s'", req->params[0]);
    }
    json_decref(img);
    return rc;
}

static int gl_tag_add(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    if (gl_caller(req, &c, err) ||
        local_image_tag_add(app_of(req)->image, &c, req->params[0], req->params[1], err))
        return -1;
    resp->status = 204;
    return 0;
}

static int gl_tag_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_image_caller c;
    if (gl_caller(req, &c, err) ||
        local_image_tag_delete(app_of(req)->image, &c, req->params[0], req->params[1], err))
        return -1;
    resp->status = 204;
    return 0;
}

const struct http_route compat_glance_routes[] = {
    {"GET", GL_PREFIX, gl_versions, "image.versions", GL},
    {"GET", GL_PREFIX "/versions", gl_versions_list, "image.versions.list", GL},
    {"GET", GL_PREFIX "/v2/schemas/image", gl_schema_image, "image.schemas.image", GL},
    {"GET", GL_PREFIX "/v2/schemas/images", gl_schema_images, "image.schemas.images", GL},
    {"POST", GL_PREFIX "/v2/images", gl_create, "image.images.create", GL},
    {"GET", GL_PREFIX "/v2/images", gl_list, "image.images.list", GL},
    {"DELETE", GL_PREFIX "/v2/images", gl_delete_collection, "image.images.delete", GL},
    {"GET", GL_PREFIX "/v2/images/{image_id}", gl_show, "image.images.get", GL},
    {"PATCH", GL_PREFIX "/v2/images/{image_id}", gl_update, "image.images.update", GL},
    {"DELETE", GL_PREFIX "/v2/images/{image_id}", gl_delete, "image.images.delete", GL},
    {"PUT", GL_PREFIX "/v2/images/{image_id}/file", gl_upload, "image.images.upload",
     GL | HTTP_ROUTE_BODY_TO_FILE},
    {"GET", GL_PREFIX "/v2/images/{image_id}/file", gl_download, "image.images.download", GL},
    {"PUT", GL_PREFIX "/v2/images/{image_id}/tags/{tag}", gl_tag_add, "image.tags.add", GL},
    {"DELETE", GL_PREFIX "/v2/images/{image_id}/tags/{tag}", gl_tag_delete, "image.tags.delete",
     GL},
    {NULL, NULL, NULL, NULL, 0},
};
