/*
 * openstack_nova.c - the compute family over Nova's v2.1 API: flavors as offerings, servers
 * (create, get, list, delete), server actions and the console log. Nova's documents are
 * translated here and nowhere else: os_server_from_json reads a server whether the cloud
 * embeds the flavor (microversion >= 2.47: no id, `original_name`) or links it, and whether the
 * server booted from an image or a volume (image "").
 *
 * We speak microversion 2.37 when the cloud has it (networks "none" / "auto" on create) and
 * the base 2.1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openstack_internal.h"

/* ---- translations ---------------------------------------------------------------------------- */

/* Optional string member: 0 and *out (borrowed, "" when absent or null); -1 on a wrong type. */
static int opt_str(const json_t *o, const char *key, const char **out, struct nph_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = "";
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is not a string", key);
    *out = json_string_value(v);
    return 0;
}

/* Required string member that must fit `max` bytes (ids are never truncated). */
static int req_id(const json_t *o, const char *key, size_t max, const char **out,
                  struct nph_error *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || !*s)
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is missing or not a string", key);
    if (strlen(s) >= max)
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is longer than %zu bytes", key, max - 1);
    *out = s;
    return 0;
}

static int opt_obj(const json_t *o, const char *key, const json_t **out, struct nph_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is not an object", key);
    *out = v;
    return 0;
}

/* The scanner's reading of a member that must be a string or null (""), cut to fit when
 * `cut`, else refused when longer. */
static int scan_str(struct nph_jscan *s, const char *what, char *out, size_t cap, int cut,
                    struct nph_error *err)
{
    enum nph_jtype t = nph_jscan_peek(s);
    if (t != NPH_J_STRING && t != NPH_J_NULL)
        return t == NPH_J_BAD ? -1
                              : nph_error_set(err, NPH_E_BACKEND, "'%s' is not a string", what);
    if (nph_jscan_string_or_null(s, out, cap, cut) >= 0)
        return 0;
    if (s->err && strcmp(s->err, "a string is too long") == 0)
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is longer than %zu bytes", what, cap - 1);
    return -1;
}

/* A required string (ids are never cut): a missing one is found at the end. */
static int scan_req(struct nph_jscan *s, const char *what, char *out, size_t cap,
                    struct nph_error *err)
{
    enum nph_jtype t = nph_jscan_peek(s);
    if (t != NPH_J_STRING)
        return t == NPH_J_BAD
                   ? -1
                   : nph_error_set(err, NPH_E_BACKEND, "'%s' is missing or not a string", what);
    return scan_str(s, what, out, cap, 0, err);
}

/* An object member (or null): 1 entered, 0 null (consumed), -1 not an object. */
static int scan_obj(struct nph_jscan *s, const char *what, struct nph_error *err)
{
    switch (nph_jscan_peek(s)) {
    case NPH_J_OBJECT:
        return nph_jscan_enter(s, NPH_J_OBJECT) ? -1 : 1;
    case NPH_J_NULL:
        return nph_jscan_skip(s) ? -1 : 0;
    case NPH_J_BAD:
        return -1;
    default:
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is not an object", what);
    }
}

/* Within an entered object: the string member `key` into out (others skipped). */
static int scan_pick(struct nph_jscan *s, const char *key, const char *what, char *out, size_t cap,
                     struct nph_error *err)
{
    int r;
    while ((r = nph_jscan_member(s)) == 1) {
        if (nph_jscan_key_is(s, key) ? scan_str(s, what, out, cap, 1, err) : nph_jscan_skip(s))
            return -1;
    }
    return r;
}

int os_server_scan(struct nph_jscan *js, struct nph_server *out, struct nph_error *err)
{
    struct nph_server s = {0};
    char fl_id[sizeof(s.offering_id)] = "", fl_name[sizeof(s.offering_id)] = "";
    int has_fl_id = 0, r;
    const char *a_start = NULL;
    size_t a_len = 0;
    enum nph_jtype t = nph_jscan_peek(js);
    if (t != NPH_J_OBJECT)
        return t == NPH_J_BAD ? -1 : nph_error_set(err, NPH_E_BACKEND, "a server is not an object");
    if (nph_jscan_enter(js, NPH_J_OBJECT))
        return -1;
    while ((r = nph_jscan_member(js)) == 1) {
        int rc = 0;
        if (nph_jscan_key_is(js, "id"))
            rc = scan_req(js, "id", s.remote_id, sizeof(s.remote_id), err);
        else if (nph_jscan_key_is(js, "status"))
            rc = scan_req(js, "status", s.status, sizeof(s.status), err);
        else if (nph_jscan_key_is(js, "name"))
            rc = scan_str(js, "name", s.name, sizeof(s.name), 1, err);
        else if (nph_jscan_key_is(js, "OS-EXT-AZ:availability_zone"))
            rc = scan_str(js, "OS-EXT-AZ:availability_zone", s.availability_zone,
                          sizeof(s.availability_zone), 1, err);
        else if (nph_jscan_key_is(js, "created"))
            rc = scan_str(js, "created", s.created, sizeof(s.created), 1, err);
        else if (nph_jscan_key_is(js, "updated"))
            rc = scan_str(js, "updated", s.updated, sizeof(s.updated), 1, err);
        else if (nph_jscan_key_is(js, "flavor")) {
            /* linked {"id", "links"} before 2.47, embedded {"original_name", ...} from it */
            if ((rc = scan_obj(js, "flavor", err)) == 1) {
                while ((rc = nph_jscan_member(js)) == 1) {
                    if (nph_jscan_key_is(js, "id")) {
                        if (nph_jscan_peek(js) != NPH_J_STRING) {
                            rc = nph_jscan_peek(js) == NPH_J_BAD
                                     ? -1
                                     : nph_error_set(err, NPH_E_BACKEND,
                                                     "'flavor.id' is not a string");
                            break;
                        }
                        has_fl_id = 1;
                        rc = scan_str(js, "flavor.id", fl_id, sizeof(fl_id), 1, err);
                    } else if (nph_jscan_key_is(js, "original_name")) {
                        rc = scan_str(js, "original_name", fl_name, sizeof(fl_name), 1, err);
                    } else {
                        rc = nph_jscan_skip(js);
                    }
                    if (rc)
                        break;
                }
            }
        } else if (nph_jscan_key_is(js, "image")) {
            t = nph_jscan_peek(js);
            if (t == NPH_J_OBJECT)
                rc = nph_jscan_enter(js, NPH_J_OBJECT)
                         ? -1
                         : scan_pick(js, "id", "id", s.image_id, sizeof(s.image_id), err);
            else if (t == NPH_J_NULL || t == NPH_J_STRING) /* "" when booted from a volume */
                rc = nph_jscan_skip(js);
            else
                rc = t == NPH_J_BAD ? -1
                                    : nph_error_set(err, NPH_E_BACKEND,
                                                    "'image' is neither an object nor \"\"");
        } else if (nph_jscan_key_is(js, "metadata")) {
            if ((rc = scan_obj(js, "metadata", err)) == 1)
                rc = scan_pick(js, NPH_BACKEND_OP_KEY, NPH_BACKEND_OP_KEY, s.op_key,
                               sizeof(s.op_key), err);
        } else if (nph_jscan_key_is(js, "fault")) {
            if ((rc = scan_obj(js, "fault", err)) == 1)
                rc = scan_pick(js, "message", "message", s.fault, sizeof(s.fault), err);
        } else if (nph_jscan_key_is(js, "addresses")) {
            t = nph_jscan_peek(js);
            if (t == NPH_J_OBJECT)
                rc = nph_jscan_span(js, &a_start, &a_len);
            else if (t == NPH_J_NULL)
                rc = nph_jscan_skip(js);
            else
                rc = t == NPH_J_BAD
                         ? -1
                         : nph_error_set(err, NPH_E_BACKEND, "'addresses' is not an object");
        } else {
            rc = nph_jscan_skip(js);
        }
        if (rc < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    if (!s.remote_id[0])
        return nph_error_set(err, NPH_E_BACKEND, "'id' is missing or not a string");
    if (!s.status[0])
        return nph_error_set(err, NPH_E_BACKEND, "'status' is missing or not a string");
    nph_backend_strlcpy(s.offering_id, sizeof(s.offering_id), has_fl_id ? fl_id : fl_name);
    if (a_start) {
        json_error_t jerr;
        /* the scanner validated it; only memory can fail here */
        if (!(s.addresses = json_loadb(a_start, a_len, 0, &jerr)))
            return nph_error_nomem(err);
    }
    *out = s;
    return 0;
}

int os_server_from_json(const json_t *j, struct nph_server *out, struct nph_error *err)
{
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_BACKEND, "a server is not an object");
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return nph_error_nomem(err);
    struct nph_jscan s;
    nph_jscan_init(&s, text, strlen(text), 64);
    int rc = os_server_scan(&s, out, err);
    if (rc == 0 && nph_jscan_end(&s) != 0) {
        nph_server_fini(out);
        rc = -1;
    }
    if (rc != 0 && s.err && !err->msg[0])
        nph_error_set(err, NPH_E_BACKEND, "invalid JSON at byte %zu: %s", s.pos, s.err);
    free(text);
    return rc;
}

/* A non-negative integer member (absent = 0). */
static int opt_count(const json_t *o, const char *key, uint64_t *out, struct nph_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is not a non-negative integer", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int os_offering_from_json(const json_t *j, struct nph_offering *out, struct nph_error *err)
{
    struct nph_offering o = {0};
    const char *id = "", *name = "";
    const json_t *specs;
    uint64_t vcpus, gpus = 0;
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_BACKEND, "a flavor is not an object");
    if (req_id(j, "id", sizeof(o.id), &id, err) || opt_str(j, "name", &name, err) ||
        opt_count(j, "vcpus", &vcpus, err) || opt_count(j, "ram", &o.ram_mb, err) ||
        opt_count(j, "disk", &o.disk_gb, err) || opt_obj(j, "extra_specs", &specs, err))
        return -1;
    /* GPUs from the placement resource a flavor asks for, when the cloud shows extra specs */
    const char *vgpu = json_string_value(json_object_get(specs, "resources:VGPU"));
    if (vgpu)
        gpus = strtoull(vgpu, NULL, 10);
    nph_backend_strlcpy(o.id, sizeof(o.id), id);
    nph_backend_strlcpy(o.name, sizeof(o.name), name);
    o.vcpus = vcpus > 1000000 ? 1000000 : (unsigned)vcpus;
    o.gpus = gpus > 1000 ? 1000 : (unsigned)gpus;
    *out = o;
    return 0;
}

json_t *os_server_create_body(const struct nph_server_spec *spec, enum os_network_mode mode,
                              const char *network_id, int mv, struct nph_error *err)
{
    if (!spec || !spec->name || !*spec->name || !spec->offering_id || !*spec->offering_id ||
        !spec->idempotency_key || !*spec->idempotency_key) {
        nph_error_set(err, NPH_E_INVALID,
                      "a server needs a name, an offering and an "
                      "idempotency key");
        return NULL;
    }
    if (spec->metadata && !json_is_object(spec->metadata)) {
        nph_error_set(err, NPH_E_INVALID, "server metadata must be an object");
        return NULL;
    }
    json_t *meta = json_object(), *s = NULL;
    const char *k;
    const json_t *v;
    if (!meta)
        goto nomem;
    json_object_foreach((json_t *)spec->metadata, k, v)
    {
        if (!json_is_string(v) || strlen(k) > 255 || json_string_length(v) > 255) {
            nph_error_set(err, NPH_E_INVALID,
                          "metadata '%.64s' must be a string of at most 255 bytes (key too)", k);
            json_decref(meta);
            return NULL;
        }
        json_object_set(meta, k, (json_t *)v);
    }
    if (json_object_set_new(meta, NPH_BACKEND_OP_KEY, json_string(spec->idempotency_key)))
        goto nomem;
    s = json_pack("{s:s,s:s,s:O}", "name", spec->name, "flavorRef", spec->offering_id, "metadata",
                  meta);
    if (!s)
        goto nomem;
    if (spec->image_id && *spec->image_id)
        json_object_set_new(s, "imageRef", json_string(spec->image_id));
    if (spec->key_name && *spec->key_name)
        json_object_set_new(s, "key_name", json_string(spec->key_name));
    if (spec->availability_zone && *spec->availability_zone)
        json_object_set_new(s, "availability_zone", json_string(spec->availability_zone));
    if (spec->user_data && *spec->user_data)
        json_object_set_new(s, "user_data", json_string(spec->user_data));
    if (mode == OS_NET_UUID)
        json_object_set_new(s, "networks", json_pack("[{s:s}]", "uuid", network_id));
    else if (mv >= OS_COMPUTE_MV)
        json_object_set_new(s, "networks", json_string(mode == OS_NET_AUTO ? "auto" : "none"));
    json_decref(meta);
    json_t *body = json_pack("{s:o}", "server", s);
    if (!body)
        nph_error_nomem(err);
    return body;
nomem:
    json_decref(meta);
    json_decref(s);
    nph_error_nomem(err);
    return NULL;
}

json_t *os_action_body(enum nph_server_action action, const char *arg, struct nph_error *err)
{
    switch (action) {
    case NPH_SA_START:
        return json_pack("{s:n}", "os-start");
    case NPH_SA_STOP:
        return json_pack("{s:n}", "os-stop");
    case NPH_SA_REBOOT_SOFT:
        return json_pack("{s:{s:s}}", "reboot", "type", "SOFT");
    case NPH_SA_REBOOT_HARD:
        return json_pack("{s:{s:s}}", "reboot", "type", "HARD");
    case NPH_SA_RESIZE:
        if (!arg || !*arg) {
            nph_error_set(err, NPH_E_INVALID, "resize needs the offering to resize to");
            return NULL;
        }
        return json_pack("{s:{s:s}}", "resize", "flavorRef", arg);
    case NPH_SA_CONFIRM_RESIZE:
        return json_pack("{s:n}", "confirmResize");
    case NPH_SA_REVERT_RESIZE:
        return json_pack("{s:n}", "revertResize");
    }
    nph_error_set(err, NPH_E_INVALID, "unknown server action %d", (int)action);
    return NULL;
}

/* ---- operations ------------------------------------------------------------------------------ */

static struct os_backend *OS(struct nph_backend *b)
{
    return b->priv;
}

/* "/servers/<escaped id><suffix>" (malloc'd) or NULL with err. */
static char *server_path(const char *id, const char *suffix, struct nph_error *err)
{
    char *e = id && *id ? os_escape(id) : NULL, *p = NULL;
    if (!id || !*id) {
        nph_error_set(err, NPH_E_INVALID, "a server id is required");
        return NULL;
    }
    if (!e || asprintf(&p, "/servers/%s%s", e, suffix) < 0) {
        p = NULL;
        nph_error_nomem(err);
    }
    free(e);
    return p;
}

static int offering_item(const json_t *item, void *arg, struct nph_error *err)
{
    struct nph_offering o;
    if (os_offering_from_json(item, &o, err) != 0)
        return -1;
    return nph_offering_list_push(arg, &o) == 0 ? 0 : nph_error_nomem(err);
}

static int os_list_offerings(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             struct nph_offering_list *out, struct nph_error *err)
{
    struct os_call call;
    struct nph_offering_list l = {0};
    os_call_init(&call, OS(b), ctx);
    int rc =
        os_list_all(&call, OS_SVC_COMPUTE, "/flavors/detail", "flavors", offering_item, &l, err);
    os_call_fini(&call);
    if (rc != 0) {
        nph_offering_list_fini(&l);
        return -1;
    }
    *out = l;
    return 0;
}

/* A 404 on /servers/{id}... says the server is gone: name it. */
static void not_found_is_server(struct nph_error *err, const char *id, const char *cloud)
{
    if (err && err->code == NPH_E_NOT_FOUND) {
        char detail[NPH_ERR_DETAIL_MAX];
        snprintf(detail, sizeof(detail), "%s", err->detail);
        nph_error_set(err, NPH_E_NOT_FOUND, "no server '%.64s' on cloud '%s'", id, cloud);
        if (detail[0])
            nph_error_detail(err, "%s", detail);
    }
}

/* GET /servers/{id} into *out; NOT_FOUND for 404 and for DELETED/SOFT_DELETED. */
static int get_server(struct os_call *call, const char *id, struct nph_server *out,
                      struct nph_error *err)
{
    const char *cloud = call->os->cfg.name;
    char *path = server_path(id, "", err);
    json_t *doc = NULL;
    int rc = -1;
    if (!path)
        return -1;
    if (os_request(call, OS_SVC_COMPUTE, "GET", path, NULL, &doc, err) != 0) {
        not_found_is_server(err, id, cloud);
        goto cleanup;
    }
    struct nph_server s;
    struct nph_error perr = NPH_ERROR_INIT;
    if (os_server_from_json(json_object_get(doc, "server"), &s, &perr) != 0) {
        if (perr.code == NPH_E_NOMEM)
            nph_error_nomem(err);
        else
            os_garbage(err, cloud, "GET", "/servers/{id}", perr.msg);
        goto cleanup;
    }
    if (strcmp(s.status, "DELETED") == 0 || strcmp(s.status, "SOFT_DELETED") == 0) {
        nph_server_fini(&s);
        nph_error_set(err, NPH_E_NOT_FOUND, "no server '%.64s' on cloud '%s' (it is %s)", id, cloud,
                      strcmp(s.status, "DELETED") == 0 ? "deleted" : "soft-deleted");
        goto cleanup;
    }
    *out = s;
    rc = 0;
cleanup:
    json_decref(doc);
    free(path);
    return rc;
}

static int os_server_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, struct nph_server *out, struct nph_error *err)
{
    struct os_call call;
    os_call_init(&call, OS(b), ctx);
    int rc = get_server(&call, remote_id, out, err);
    os_call_fini(&call);
    return rc;
}

static int os_server_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const struct nph_server_spec *spec, struct nph_server *out,
                            struct nph_error *err)
{
    struct os_backend *os = OS(b);
    struct os_call call;
    json_t *body = NULL, *doc = NULL;
    int rc = -1;
    os_call_init(&call, os, ctx);
    /* the microversion decides how "none"/"auto" are said: learn it first */
    if (os_call_session(&call, err) != 0 || os_call_service(&call, OS_SVC_COMPUTE, err) != 0)
        goto cleanup;
    if (!(body = os_server_create_body(spec, os->cfg.net_mode, os->cfg.network_id, call.compute_mv,
                                       err)))
        goto cleanup;
    if (os_request(&call, OS_SVC_COMPUTE, "POST", "/servers", body, &doc, err) != 0)
        goto cleanup;
    const char *id = json_string_value(json_object_get(json_object_get(doc, "server"), "id"));
    if (!id || !*id || strlen(id) >= sizeof(out->remote_id)) {
        os_garbage(err, os->cfg.name, "POST", "/servers", "no usable 'server.id'");
        goto cleanup;
    }
    /* The create answer is not a full server: read it back. If that read fails the server
     * still exists, so answer what we know (BUILD) rather than an error. */
    struct nph_error gerr = NPH_ERROR_INIT;
    if (get_server(&call, id, out, &gerr) != 0) {
        memset(out, 0, sizeof(*out));
        nph_backend_strlcpy(out->remote_id, sizeof(out->remote_id), id);
        nph_backend_strlcpy(out->name, sizeof(out->name), spec->name);
        nph_backend_strlcpy(out->status, sizeof(out->status), "BUILD");
        nph_backend_strlcpy(out->offering_id, sizeof(out->offering_id), spec->offering_id);
        nph_backend_strlcpy(out->image_id, sizeof(out->image_id), spec->image_id);
        nph_backend_strlcpy(out->op_key, sizeof(out->op_key), spec->idempotency_key);
    }
    rc = 0;
cleanup:
    json_decref(body);
    json_decref(doc);
    os_call_fini(&call);
    return rc;
}

static int server_item(struct nph_jscan *js, void *arg, struct nph_error *err)
{
    struct nph_server s;
    if (os_server_scan(js, &s, err) != 0)
        return -1;
    if (strcmp(s.status, "DELETED") == 0 || strcmp(s.status, "SOFT_DELETED") == 0) {
        nph_server_fini(&s);
        return 0;
    }
    if (nph_server_list_push(arg, &s) != 0) {
        nph_server_fini(&s);
        return nph_error_nomem(err);
    }
    return 0;
}

static int os_server_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          struct nph_server_list *out, struct nph_error *err)
{
    struct os_call call;
    struct nph_server_list l = {0};
    os_call_init(&call, OS(b), ctx);
    int rc =
        os_list_scan(&call, OS_SVC_COMPUTE, "/servers/detail", "servers", server_item, &l, err);
    os_call_fini(&call);
    if (rc != 0) {
        nph_server_list_fini(&l);
        return -1;
    }
    *out = l;
    return 0;
}

static int os_server_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *remote_id, struct nph_error *err)
{
    struct os_call call;
    char *path = server_path(remote_id, "", err);
    if (!path)
        return -1;
    os_call_init(&call, OS(b), ctx);
    int rc = os_request(&call, OS_SVC_COMPUTE, "DELETE", path, NULL, NULL, err);
    if (rc != 0)
        not_found_is_server(err, remote_id, OS(b)->cfg.name);
    os_call_fini(&call);
    free(path);
    return rc;
}

static int os_server_action(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *remote_id, enum nph_server_action action, const char *arg,
                            struct nph_error *err)
{
    struct os_call call;
    json_t *body = os_action_body(action, arg, err);
    char *path = body ? server_path(remote_id, "/action", err) : NULL;
    int rc = -1;
    if (path) {
        os_call_init(&call, OS(b), ctx);
        rc = os_request(&call, OS_SVC_COMPUTE, "POST", path, body, NULL, err);
        if (rc != 0)
            not_found_is_server(err, remote_id, OS(b)->cfg.name);
        os_call_fini(&call);
    }
    json_decref(body);
    free(path);
    return rc;
}

static int os_server_console(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             const char *remote_id, int lines, char **out, struct nph_error *err)
{
    struct os_call call;
    json_t *body = lines > 0 ? json_pack("{s:{s:i}}", "os-getConsoleOutput", "length", lines)
                             : json_pack("{s:{}}", "os-getConsoleOutput");
    json_t *doc = NULL;
    char *path = body ? server_path(remote_id, "/action", err) : NULL;
    int rc = -1;
    if (!body)
        nph_error_nomem(err);
    if (!path)
        goto cleanup;
    os_call_init(&call, OS(b), ctx);
    rc = os_request(&call, OS_SVC_COMPUTE, "POST", path, body, &doc, err);
    os_call_fini(&call);
    if (rc != 0) {
        not_found_is_server(err, remote_id, OS(b)->cfg.name);
        goto cleanup;
    }
    rc = -1;
    const json_t *o = json_object_get(doc, "output");
    if (o && !json_is_string(o) && !json_is_null(o)) {
        os_garbage(err, OS(b)->cfg.name, "POST", "/servers/{id}/action",
                   "'output' is not a string");
        goto cleanup;
    }
    char *text = strdup(json_is_string(o) ? json_string_value(o) : "");
    if (!text) {
        nph_error_nomem(err);
        goto cleanup;
    }
    *out = text;
    rc = 0;
cleanup:
    json_decref(body);
    json_decref(doc);
    free(path);
    return rc;
}

const struct nph_compute_ops os_compute_ops = {
    .list_offerings = os_list_offerings,
    .server_create = os_server_create,
    .server_get = os_server_get,
    .server_list = os_server_list,
    .server_delete = os_server_delete,
    .server_action = os_server_action,
    .server_console = os_server_console,
};
