/*
 * compat_neutron.c - the Neutron v2.0 compatible network API under /network, over
 * local/network: version discovery, the resources and extensions lists, networks, subnets,
 * ports, security groups and rules, routers (with the add/remove_router_interface actions),
 * floating IPs and quotas.
 *
 * Lists take Neutron's query language: any attribute as a filter (repeated = any of the
 * values; booleans as true/false; fixed_ips=ip_address=... or subnet_id=... on ports; tags,
 * tags-any, not-tags, not-tags-any), fields= selection, sort_key/sort_dir (repeatable) and
 * limit/marker/page_reverse pagination with the <collection>_links Neutron writes. Creates take
 * one resource or a bulk list. Faults are Neutron's {"NeutronError":{"type","message",
 * "detail"}}, the type being the exception name local/network records in err->detail (or one
 * derived from the status).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "local_network.h"
#include "nph_json.h"

#define NT_PREFIX "/network"
#define NT_V2     NT_PREFIX "/v2.0"
#define NT        NPH_FAULT_NATIVE /* never used: every handler renders its own faults */

static struct nph_app *app_of(struct http_req *req)
{
    return req->app;
}

/* ---- faults ------------------------------------------------------------------------------- */

/* Render err as Neutron does and report the request answered. */
static int nt_fault(struct http_resp *resp, const struct nph_error *err)
{
    enum nph_err_code code = err->code == NPH_E_OK ? NPH_E_INTERNAL : err->code;
    int status = nph_error_http_status(code);
    const char *type = err->detail;
    char clean[NPH_ERR_MSG_MAX];
    /* a type is an identifier: anything else in the detail is internal and not sent */
    if (!type[0] ||
        strspn(type, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
            strlen(type) ||
        strcmp(type, "Retry") == 0) {
        switch (status) {
        case 400:
            type = "HTTPBadRequest";
            break;
        case 401:
            type = "HTTPUnauthorized";
            break;
        case 403:
            type = "HTTPForbidden";
            break;
        case 404:
            type = "HTTPNotFound";
            break;
        case 405:
            type = "HTTPMethodNotAllowed";
            break;
        case 409:
            type = "HTTPConflict";
            break;
        case 413:
            type = "HTTPRequestEntityTooLarge";
            break;
        case 415:
            type = "HTTPUnsupportedMediaType";
            break;
        default:
            type = status >= 500 ? "HTTPInternalServerError" : "HTTPBadRequest";
        }
    }
    nph_utf8_sanitize(err->msg[0] ? err->msg : nph_error_doc(code), clean, sizeof(clean));
    if (status >= 500)
        http_resp_fault(resp, NPH_FAULT_NATIVE, err, NULL); /* logs it */
    return http_resp_json(resp, status,
                          json_pack("{s:{s:s,s:s,s:s}}", "NeutronError", "type", type, "message",
                                    clean, "detail", ""));
}

/* Authenticate and describe the caller. */
static int nt_caller(struct http_req *req, struct local_network_caller *c, struct nph_error *err)
{
    const struct ident_token *t;
    if (app_authenticate(req, err))
        return -1;
    t = req->auth;
    c->project_id = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "";
    c->is_admin = ident_token_is_admin(t);
    if (t->scope != IDENT_SCOPE_PROJECT && !c->is_admin)
        return nph_error_set(err, NPH_E_FORBIDDEN, "a project-scoped token is required");
    return 0;
}

/* ---- kinds and paths ---------------------------------------------------------------------- */

static const struct {
    const char *path; /* the collection's URL segment */
    enum local_network_kind kind;
} collections[] = {
    {"networks", LN_NETWORK},
    {"subnets", LN_SUBNET},
    {"ports", LN_PORT},
    {"security-groups", LN_SECGROUP},
    {"security-group-rules", LN_SGRULE},
    {"routers", LN_ROUTER},
    {"floatingips", LN_FLOATINGIP},
    {"subnetpools", LN_SUBNETPOOL},
};
#define N_COLLECTIONS (sizeof(collections) / sizeof(collections[0]))

/* The kind of the request's collection: the segment after /network/v2.0/. */
static int kind_of(const struct http_req *req, enum local_network_kind *out)
{
    const char *p = req->path + strlen(NT_V2 "/");
    size_t n = strcspn(p, "/");
    for (size_t i = 0; i < N_COLLECTIONS; i++) {
        if (strlen(collections[i].path) == n && strncmp(p, collections[i].path, n) == 0) {
            *out = collections[i].kind;
            return 0;
        }
    }
    return -1;
}

/* A view: the doc without Nephele's own keys. Consumes doc. */
static json_t *view(json_t *doc)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(doc, tmp, k, v)
    {
        if (strncmp(k, "nph:", 4) == 0)
            json_object_del(doc, k);
    }
    return doc;
}

/* ---- the query language ------------------------------------------------------------------- */

#define NT_MAX_ARGS 64

struct nt_query {
    struct {
        const char *key, *value;
    } args[NT_MAX_ARGS];
    int n;
};

static void collect(const char *key, const char *value, void *ctx)
{
    struct nt_query *q = ctx;
    if (q->n < NT_MAX_ARGS) {
        q->args[q->n].key = key;
        q->args[q->n].value = value ? value : "";
        q->n++;
    }
}

static int is_control(const char *k)
{
    static const char *const control[] = {"fields",   "limit",        "marker", "sort_key",
                                          "sort_dir", "page_reverse", NULL};
    for (const char *const *c = control; *c; c++)
        if (strcmp(*c, k) == 0)
            return 1;
    return 0;
}

/* 1 if value (a query string) equals the attribute v. */
static int value_matches(const json_t *v, const char *value)
{
    char buf[64];
    if (json_is_string(v))
        return strcmp(json_string_value(v), value) == 0;
    if (json_is_boolean(v))
        return strcasecmp(value, json_is_true(v) ? "true" : "false") == 0 ||
               strcmp(value, json_is_true(v) ? "1" : "0") == 0;
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return strcmp(buf, value) == 0;
    }
    if (json_is_null(v))
        return !*value || strcasecmp(value, "none") == 0 || strcasecmp(value, "null") == 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (value_matches(e, value)) return 1;
    }
    return 0;
}

/* fixed_ips=ip_address=X / subnet_id=Y / ip_address_substr=Z */
static int fixed_ip_matches(const json_t *doc, const char *value)
{
    const char *eq = strchr(value, '=');
    size_t i;
    json_t *f;
    char key[64];
    if (!eq || (size_t)(eq - value) >= sizeof(key))
        return 0;
    snprintf(key, sizeof(key), "%.*s", (int)(eq - value), value);
    json_array_foreach(json_object_get(doc, "fixed_ips"), i, f)
    {
        if (strcmp(key, "ip_address_substr") == 0) {
            if (strstr(json_string_value(json_object_get(f, "ip_address")), eq + 1))
                return 1;
        } else if (value_matches(json_object_get(f, key), eq + 1)) {
            return 1;
        }
    }
    return 0;
}

static int tags_match(const json_t *doc, const char *key, const char *value)
{
    json_t *tags = json_object_get(doc, "tags");
    char buf[1024];
    int all = 1, any = 0, n = 0;
    snprintf(buf, sizeof(buf), "%s", value);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int has = value_matches(tags, t);
        all &= has;
        any |= has;
        n++;
    }
    if (!n)
        return 1;
    if (strcmp(key, "tags") == 0)
        return all;
    if (strcmp(key, "tags-any") == 0)
        return any;
    if (strcmp(key, "not-tags") == 0)
        return !all;
    return !any; /* not-tags-any */
}

/* 1 if doc passes every filter (values of one key OR-ed). */
static int passes(const json_t *doc, const struct nt_query *q)
{
    for (int i = 0; i < q->n; i++) {
        const char *k = q->args[i].key;
        int seen = 0, ok = 0;
        if (is_control(k))
            continue;
        for (int j = 0; j < i; j++)
            if (strcmp(q->args[j].key, k) == 0)
                seen = 1;
        if (seen)
            continue;
        for (int j = i; j < q->n; j++) {
            if (strcmp(q->args[j].key, k) != 0)
                continue;
            if (strcmp(k, "fixed_ips") == 0)
                ok |= fixed_ip_matches(doc, q->args[j].value);
            else if (strncmp(k, "tags", 4) == 0 || strncmp(k, "not-tags", 8) == 0)
                ok |= tags_match(doc, k, q->args[j].value);
            else if (json_object_get(doc, k))
                ok |= value_matches(json_object_get(doc, k), q->args[j].value);
            else
                ok = 1; /* Neutron ignores filters on attributes a resource does not have */
        }
        if (!ok)
            return 0;
    }
    return 1;
}

struct sort_spec {
    const char *keys[8];
    int desc[8];
    int n;
};

static struct sort_spec *sort_ctx; /* qsort has no context argument; guarded by sort_lock */
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int json_cmp(const json_t *a, const json_t *b)
{
    if (!a || json_is_null(a))
        return (!b || json_is_null(b)) ? 0 : -1;
    if (!b || json_is_null(b))
        return 1;
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) < json_number_value(b)   ? -1
               : json_number_value(a) > json_number_value(b) ? 1
                                                             : 0;
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) - json_is_true(b);
    return 0;
}

static int doc_cmp(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    for (int i = 0; i < sort_ctx->n; i++) {
        int c =
            json_cmp(json_object_get(a, sort_ctx->keys[i]), json_object_get(b, sort_ctx->keys[i]));
        if (c)
            return sort_ctx->desc[i] ? -c : c;
    }
    return json_cmp(json_object_get(a, "id"), json_object_get(b, "id"));
}

static int parse_sort(const struct nt_query *q, struct sort_spec *s, struct nph_error *err)
{
    int nd = 0;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < q->n; i++) {
        if (strcmp(q->args[i].key, "sort_key") == 0 && s->n < 8)
            s->keys[s->n++] = q->args[i].value;
    }
    for (int i = 0; i < q->n; i++) {
        if (strcmp(q->args[i].key, "sort_dir") != 0)
            continue;
        if (strcmp(q->args[i].value, "asc") && strcmp(q->args[i].value, "desc"))
            return nph_error_set(err, NPH_E_INVALID,
                                 "%.16s is an invalid value for sort_dir, valid values are "
                                 "'asc' and 'desc'",
                                 q->args[i].value);
        if (nd < 8)
            s->desc[nd++] = strcmp(q->args[i].value, "desc") == 0;
    }
    if (nd && nd != s->n)
        return nph_error_set(err, NPH_E_INVALID,
                             "The number of sort_keys and sort_dirs must be same");
    return 0;
}

/* Keep only the requested fields (none requested: all). */
static json_t *select_fields(json_t *doc, const struct nt_query *q)
{
    json_t *out;
    int any = 0;
    for (int i = 0; i < q->n; i++)
        any |= strcmp(q->args[i].key, "fields") == 0;
    if (!any)
        return doc;
    out = json_object();
    for (int i = 0; i < q->n; i++) {
        char buf[1024];
        if (strcmp(q->args[i].key, "fields") != 0)
            continue;
        snprintf(buf, sizeof(buf), "%s", q->args[i].value);
        for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save))
            if (json_object_get(doc, f))
                json_object_set(out, f, json_object_get(doc, f));
    }
    json_decref(doc);
    return out;
}

static const char *query_get(const struct nt_query *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->args[i].key, key) == 0)
            return q->args[i].value;
    return NULL;
}

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

/* A link to the same list with marker = id (and page_reverse for "previous"). */
static json_t *page_link(struct http_req *req, const struct nt_query *q, const char *rel,
                         const char *marker)
{
    char buf[4096], k[256], v[512];
    size_t len =
        (size_t)snprintf(buf, sizeof(buf), "%s%s?", app_of(req)->cfg.public_url, req->path);
    for (int i = 0; i < q->n && len < sizeof(buf); i++) {
        if (strcmp(q->args[i].key, "marker") == 0 || strcmp(q->args[i].key, "page_reverse") == 0)
            continue;
        url_encode(q->args[i].key, k, sizeof(k));
        url_encode(q->args[i].value, v, sizeof(v));
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s=%s&", k, v);
    }
    url_encode(marker, v, sizeof(v));
    if (len < sizeof(buf))
        snprintf(buf + len, sizeof(buf) - len, "marker=%s%s", v,
                 strcmp(rel, "previous") == 0 ? "&page_reverse=True" : "");
    return json_pack("{s:s,s:s}", "rel", rel, "href", buf);
}

/* ---- generic handlers --------------------------------------------------------------------- */

static int do_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    enum local_network_kind kind;
    struct nt_query q;
    struct sort_spec s;
    json_t *all, *out, *body, *d;
    size_t i, n, start = 0;
    const char *lim_s, *marker;
    long limit = 0;
    int reverse;
    if (nt_caller(req, &c, err) || kind_of(req, &kind))
        return -1;
    memset(&q, 0, sizeof(q));
    http_req_query_each(req, collect, &q);
    if (parse_sort(&q, &s, err))
        return -1;
    lim_s = query_get(&q, "limit");
    if (lim_s) {
        char *end;
        limit = strtol(lim_s, &end, 10);
        if (!*lim_s || *end || limit < 0)
            return nph_error_set(err, NPH_E_INVALID,
                                 "Bad limit request: Limit must be an integer 0 or greater and "
                                 "not '%.16s'.",
                                 lim_s);
    }
    marker = query_get(&q, "marker");
    reverse =
        query_get(&q, "page_reverse") && strcasecmp(query_get(&q, "page_reverse"), "true") == 0;
    if (!(all = local_network_list(app_of(req)->network, &c, kind, err)))
        return -1;
    out = json_array();
    json_array_foreach(all, i, d) if (passes(d, &q)) json_array_append(out, d);
    json_decref(all);
    n = json_array_size(out);
    if (s.n && n > 1) {
        json_t **v = malloc(n * sizeof(*v));
        if (!v) {
            json_decref(out);
            return nph_error_nomem(err);
        }
        for (i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(out, i));
        pthread_mutex_lock(&sort_lock);
        sort_ctx = &s;
        qsort(v, n, sizeof(*v), doc_cmp);
        pthread_mutex_unlock(&sort_lock);
        json_array_clear(out);
        for (i = 0; i < n; i++)
            json_array_append_new(out, v[i]);
        free(v);
    }
    if (reverse) {
        json_t *r = json_array();
        for (i = n; i-- > 0;)
            json_array_append(r, json_array_get(out, i));
        json_decref(out);
        out = r;
    }
    if (marker) {
        for (i = 0; i < n; i++)
            if (strcmp(json_string_value(json_object_get(json_array_get(out, i), "id")), marker) ==
                0)
                break;
        if (i == n) {
            json_decref(out);
            nph_error_set(err, NPH_E_NOT_FOUND, "Marker %.64s could not be found.", marker);
            return -1;
        }
        start = i + 1;
    }
    body = json_object();
    {
        json_t *page = json_array();
        size_t end = limit > 0 && start + (size_t)limit < n ? start + (size_t)limit : n;
        char key[64];
        for (i = start; i < end; i++)
            json_array_append_new(page,
                                  select_fields(view(json_deep_copy(json_array_get(out, i))), &q));
        if (reverse) { /* a reversed page is shown in the forward order */
            json_t *r = json_array();
            for (i = json_array_size(page); i-- > 0;)
                json_array_append(r, json_array_get(page, i));
            json_decref(page);
            page = r;
        }
        if (limit > 0) {
            json_t *links = json_array();
            if (end < n && end > start)
                json_array_append_new(links, page_link(req, &q, reverse ? "previous" : "next",
                                                       json_string_value(json_object_get(
                                                           json_array_get(out, end - 1), "id"))));
            if (marker && end > start)
                json_array_append_new(links, page_link(req, &q, reverse ? "next" : "previous",
                                                       json_string_value(json_object_get(
                                                           json_array_get(out, start), "id"))));
            snprintf(key, sizeof(key), "%s_links", local_network_kind_plural(kind));
            if (json_array_size(links))
                json_object_set_new(body, key, links);
            else
                json_decref(links);
        }
        json_object_set_new(body, local_network_kind_plural(kind), page);
    }
    json_decref(out);
    return http_resp_json(resp, 200, body);
}

static int do_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    enum local_network_kind kind;
    struct nt_query q;
    json_t *doc;
    if (nt_caller(req, &c, err) || kind_of(req, &kind))
        return -1;
    memset(&q, 0, sizeof(q));
    http_req_query_each(req, collect, &q);
    if (!(doc = local_network_get(app_of(req)->network, &c, kind, req->params[0], err)))
        return -1;
    return http_resp_json(
        resp, 200, json_pack("{s:o}", local_network_kind_name(kind), select_fields(view(doc), &q)));
}

static int do_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    enum local_network_kind kind;
    json_t *body, *one, *many, *out;
    if (nt_caller(req, &c, err) || kind_of(req, &kind))
        return -1;
    if (!(body = http_req_json(req, err)))
        return -1;
    one = json_object_get(body, local_network_kind_name(kind));
    many = json_object_get(body, local_network_kind_plural(kind));
    if (json_is_object(one)) {
        out = local_network_create(app_of(req)->network, &c, kind, one, err);
        json_decref(body);
        if (!out)
            return -1;
        return http_resp_json(resp, 201,
                              json_pack("{s:o}", local_network_kind_name(kind), view(out)));
    }
    if (json_is_array(many) && json_array_size(many)) {
        /* bulk: all or nothing, as Neutron's native bulk */
        json_t *done = json_array(), *a;
        size_t i;
        json_array_foreach(many, i, a)
        {
            json_t *r = json_is_object(a)
                            ? local_network_create(app_of(req)->network, &c, kind, a, err)
                            : NULL;
            if (!r) {
                json_t *d;
                size_t j;
                if (!json_is_object(a))
                    nph_error_set(err, NPH_E_INVALID, "Resource body required");
                json_array_foreach(done, j, d)
                    local_network_delete(app_of(req)->network, &c, kind,
                                         json_string_value(json_object_get(d, "id")), NULL);
                json_decref(done);
                json_decref(body);
                return -1;
            }
            json_array_append_new(done, view(r));
        }
        json_decref(body);
        return http_resp_json(resp, 201, json_pack("{s:o}", local_network_kind_plural(kind), done));
    }
    json_decref(body);
    return nph_error_set(err, NPH_E_INVALID, "Resource body required");
}

static int do_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    enum local_network_kind kind;
    json_t *body, *out;
    if (nt_caller(req, &c, err) || kind_of(req, &kind))
        return -1;
    if (!(body = http_req_json(req, err)))
        return -1;
    out = local_network_update(app_of(req)->network, &c, kind, req->params[0],
                               json_object_get(body, local_network_kind_name(kind)), err);
    json_decref(body);
    if (!out)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", local_network_kind_name(kind), view(out)));
}

static int do_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    enum local_network_kind kind;
    if (nt_caller(req, &c, err) || kind_of(req, &kind) ||
        local_network_delete(app_of(req)->network, &c, kind, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

static int do_router_iface(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    json_t *body, *out;
    int add = strstr(req->path, "/add_router_interface") != NULL;
    if (nt_caller(req, &c, err) || !(body = http_req_json(req, err)))
        return -1;
    out = local_network_router_interface(app_of(req)->network, &c, req->params[0], body, add, err);
    json_decref(body);
    if (!out)
        return -1;
    return http_resp_json(resp, 200, out);
}

/* ---- quotas ------------------------------------------------------------------------------- */

static int quota_allowed(const struct local_network_caller *c, const char *project,
                         struct nph_error *err)
{
    if (c->is_admin || strcmp(c->project_id, project) == 0)
        return 0;
    nph_error_set(err, NPH_E_FORBIDDEN, "(rule:get_quota) is disallowed by policy");
    return nph_error_detail(err, "PolicyNotAuthorized");
}

static int do_quota_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    json_t *q;
    int details = strstr(req->path, "/details") != NULL;
    int deflt = strstr(req->path, "/default") != NULL;
    if (nt_caller(req, &c, err) || quota_allowed(&c, req->params[0], err))
        return -1;
    if (!(q = local_network_quota_get(app_of(req)->network, deflt ? "" : req->params[0], err)))
        return -1;
    if (details) {
        const char *k;
        json_t *v, *d = json_object(), *all;
        static const enum local_network_kind order[] = {
            LN_NETWORK, LN_SUBNET, LN_PORT, LN_SECGROUP, LN_SGRULE, LN_ROUTER, LN_FLOATINGIP};
        struct local_network_caller owner = {req->params[0], 0};
        json_object_foreach(q, k, v)
        {
            int64_t used = 0;
            for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                if (strcmp(local_network_kind_name(order[i]), k) != 0)
                    continue;
                all = local_network_list(app_of(req)->network, &owner, order[i], NULL);
                if (all) {
                    size_t j;
                    json_t *e;
                    json_array_foreach(all, j, e) used +=
                        strcmp(json_string_value(json_object_get(e, "project_id")),
                               req->params[0]) == 0;
                }
                json_decref(all);
            }
            json_object_set_new(
                d, k,
                json_pack("{s:O,s:I,s:i}", "limit", v, "used", (json_int_t)used, "reserved", 0));
        }
        json_decref(q);
        q = d;
    }
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota", q));
}

static int do_quota_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    if (nt_caller(req, &c, err))
        return -1;
    if (!c.is_admin) {
        nph_error_set(err, NPH_E_FORBIDDEN, "(rule:get_quota) is disallowed by policy");
        return nph_error_detail(err, "PolicyNotAuthorized");
    }
    return http_resp_json(resp, 200, json_pack("{s:[]}", "quotas"));
}

static int do_quota_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    json_t *body, *q;
    if (nt_caller(req, &c, err))
        return -1;
    if (!c.is_admin) {
        nph_error_set(err, NPH_E_FORBIDDEN, "(rule:update_quota) is disallowed by policy");
        return nph_error_detail(err, "PolicyNotAuthorized");
    }
    if (!(body = http_req_json(req, err)))
        return -1;
    q = local_network_quota_set(app_of(req)->network, req->params[0],
                                json_object_get(body, "quota"), err);
    json_decref(body);
    if (!q)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "quota", q));
}

static int do_quota_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    if (nt_caller(req, &c, err))
        return -1;
    if (!c.is_admin) {
        nph_error_set(err, NPH_E_FORBIDDEN, "(rule:delete_quota) is disallowed by policy");
        return nph_error_detail(err, "PolicyNotAuthorized");
    }
    if (local_network_quota_reset(app_of(req)->network, req->params[0], err))
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- discovery ---------------------------------------------------------------------------- */

static const struct {
    const char *alias, *name, *description;
} extensions[] = {
    {"agent", "agent", "The agent management extension."},
    {"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"},
    {"binding", "Port Binding", "Expose port bindings of a virtual port to external application"},
    {"default-subnetpools", "Default Subnetpools",
     "Provides ability to mark and use a subnetpool "
     "as the default."},
    {"external-net", "Neutron external network",
     "Adds external network attribute to network "
     "resource."},
    {"extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."},
    {"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"},
    {"fip-port-details", "Floating IP Port Details Extension",
     "Add port_details attribute to Floating IP resource"},
    {"network-ip-availability", "Network IP Availability", "Provides IP availability data."},
    {"network_availability_zone", "Network Availability Zone",
     "Availability zone support for network."},
    {"net-mtu", "Network MTU", "Provides MTU attribute for a network resource."},
    {"port-security", "Port Security", "Provides port security"},
    {"project-id", "project_id field enabled",
     "Extension that indicates that project_id field "
     "is enabled."},
    {"quotas", "Quota management support", "Expose functions for quotas management per tenant"},
    {"quota_details", "Quota details management support",
     "Expose functions for quotas usage statistics per project"},
    {"router", "Neutron L3 Router",
     "Router abstraction for basic L3 forwarding between L2 "
     "Neutron networks and access to external networks via a NAT "
     "gateway."},
    {"security-group", "security-group", "The security groups extension."},
    {"sort-key-validation", "Sort Key Validation", "Validation of sort keys"},
    {"subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool"},
    {"standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes"},
    {"standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources."},
    {"standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard "
     "attributes."},
    {"pagination", "Pagination support", "Extension that indicates that pagination is enabled."},
    {"sorting", "Sorting support", "Extension that indicates that sorting is enabled."},
    {"filter-validation", "Filter parameters validation",
     "Provides validation on filtered "
     "attributes."},
    {"fields", "Fields selection", "Lists select the attributes named by fields="},
};

static json_t *ext_doc(size_t i)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:[]}", "alias", extensions[i].alias, "name",
                     extensions[i].name, "description", extensions[i].description, "updated",
                     "2022-10-01T00:00:00-00:00", "links");
}

static int do_extensions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    json_t *arr = json_array();
    if (nt_caller(req, &c, err)) {
        json_decref(arr);
        return -1;
    }
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
        json_array_append_new(arr, ext_doc(i));
    return http_resp_json(resp, 200, json_pack("{s:o}", "extensions", arr));
}

static int do_extension(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    if (nt_caller(req, &c, err))
        return -1;
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
        if (strcmp(extensions[i].alias, req->params[0]) == 0)
            return http_resp_json(resp, 200, json_pack("{s:o}", "extension", ext_doc(i)));
    return nph_error_set(err, NPH_E_NOT_FOUND, "Extension with alias %.64s does not exist",
                         req->params[0]);
}

static int do_versions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    char url[2048];
    (void)err;
    snprintf(url, sizeof(url), "%s" NT_V2 "/", app_of(req)->cfg.public_url);
    return http_resp_json(resp, 200,
                          json_pack("{s:[{s:s,s:s,s:[{s:s,s:s}]}]}", "versions", "id", "v2.0",
                                    "status", "CURRENT", "links", "href", url, "rel", "self"));
}

static int do_resources(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *arr = json_array();
    char url[2048];
    (void)err;
    for (size_t i = 0; i < N_COLLECTIONS; i++) {
        snprintf(url, sizeof(url), "%s" NT_V2 "/%s", app_of(req)->cfg.public_url,
                 collections[i].path);
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "name",
                                        local_network_kind_name(collections[i].kind), "collection",
                                        collections[i].path, "links", "href", url, "rel", "self"));
    }
    return http_resp_json(resp, 200, json_pack("{s:o}", "resources", arr));
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* Every route goes through here, so that every fault is Neutron's. */
#define NT_WRAP(fn)                                                                                \
    static int fn##_r(struct http_req *req, struct http_resp *resp, struct nph_error *err)         \
    {                                                                                              \
        if (fn(req, resp, err) == 0)                                                               \
            return 0;                                                                              \
        return nt_fault(resp, err);                                                                \
    }

NT_WRAP(do_list)
NT_WRAP(do_show)
NT_WRAP(do_create)
NT_WRAP(do_update)
NT_WRAP(do_delete)
NT_WRAP(do_router_iface)
NT_WRAP(do_quota_show)
NT_WRAP(do_quota_list)
NT_WRAP(do_quota_update)
NT_WRAP(do_quota_delete)
NT_WRAP(do_extensions)
NT_WRAP(do_extension)
NT_WRAP(do_versions)
NT_WRAP(do_resources)

#define NT_COLLECTION(path, name)                                                                  \
    {"GET", NT_V2 "/" path, do_list_r, "network." name ".list", NT},                               \
        {"POST", NT_V2 "/" path, do_create_r, "network." name ".create", NT},                      \
        {"GET", NT_V2 "/" path "/{id}", do_show_r, "network." name ".get", NT},                    \
        {"PUT", NT_V2 "/" path "/{id}", do_update_r, "network." name ".update", NT},               \
    {                                                                                              \
        "DELETE", NT_V2 "/" path "/{id}", do_delete_r, "network." name ".delete", NT               \
    }

const struct http_route compat_neutron_routes[] = {
    {"GET", NT_PREFIX, do_versions_r, "network.versions", NT},
    {"GET", NT_V2, do_resources_r, "network.resources", NT},
    {"GET", NT_V2 "/extensions", do_extensions_r, "network.extensions.list", NT},
    {"GET", NT_V2 "/extensions/{alias}", do_extension_r, "network.extensions.get", NT},
    NT_COLLECTION("networks", "networks"),
    NT_COLLECTION("subnets", "subnets"),
    NT_COLLECTION("ports", "ports"),
    NT_COLLECTION("security-groups", "security_groups"),
    NT_COLLECTION("security-group-rules", "security_group_rules"),
    NT_COLLECTION("routers", "routers"),
    NT_COLLECTION("floatingips", "floatingips"),
    NT_COLLECTION("subnetpools", "subnetpools"),
    {"PUT", NT_V2 "/routers/{id}/add_router_interface", do_router_iface_r,
     "network.routers.add_interface", NT},
    {"PUT", NT_V2 "/routers/{id}/remove_router_interface", do_router_iface_r,
     "network.routers.remove_interface", NT},
    {"GET", NT_V2 "/quotas", do_quota_list_r, "network.quotas.list", NT},
    {"GET", NT_V2 "/quotas/{project_id}", do_quota_show_r, "network.quotas.get", NT},
    {"GET", NT_V2 "/quotas/{project_id}/default", do_quota_show_r, "network.quotas.default", NT},
    {"GET", NT_V2 "/quotas/{project_id}/details", do_quota_show_r, "network.quotas.details", NT},
    {"PUT", NT_V2 "/quotas/{project_id}", do_quota_update_r, "network.quotas.update", NT},
    {"DELETE", NT_V2 "/quotas/{project_id}", do_quota_delete_r, "network.quotas.delete", NT},
    {NULL, NULL, NULL, NULL, 0},
};
