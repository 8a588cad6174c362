/*
 * openstack_http.c - one authenticated call to an OpenStack service: the token and microversion
 * headers, the call's time budget, one re-authentication and retry on a 401, pagination, and
 * the translation of error answers (Nova faults, Keystone errors, Glance's HTML pages) into
 * struct nph_error. Nothing here logs or quotes a token or a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nph_clock.h"
#include "nph_json.h"
#include "openstack_internal.h"

#define OS_FAULT_TEXT_MAX 320
#define OS_MAX_PAGES      10000

void os_call_init(struct os_call *call, struct os_backend *os, const struct nph_backend_ctx *ctx)
{
    memset(call, 0, sizeof(*call));
    call->os = os;
    if (ctx && ctx->timeout_ms > 0)
        call->deadline = nph_clock_mono() + (int64_t)ctx->timeout_ms * 1000;
    call->request_id = ctx ? ctx->request_id : NULL;
}

void os_call_fini(struct os_call *call)
{
    if (call->token) {
        memset(call->token, 0, strlen(call->token));
        free(call->token);
    }
    os_endpoints_fini(&call->ep);
    free(call->compute_url);
    free(call->image_url);
    call->token = call->compute_url = call->image_url = NULL;
}

int os_garbage(struct nph_error *err, const char *cloud, const char *method, const char *path,
               const char *why)
{
    char p[128];
    snprintf(p, sizeof(p), "%.*s", (int)strcspn(path, "?"), path);
    return nph_error_set(err, NPH_E_BACKEND, "cloud '%s' answered garbage to %s %s: %s", cloud,
                         method, *p ? p : "/", why);
}

/* ---- fault bodies ---------------------------------------------------------------------------- */

/* Text of a body with control characters and runs of whitespace collapsed to one space; with
 * `html`, tags and the <head> are dropped too. */
static void html_text(const char *in, size_t len, int html, char *out, size_t outlen)
{
    size_t o = 0;
    int in_tag = 0, in_head = 0, space = 1;
    for (size_t i = 0; i < len && o + 1 < outlen; i++) {
        char c = in[i];
        if (c == '<' && html) {
            in_tag = 1;
            if (len - i >= 5 && strncasecmp(in + i, "<head", 5) == 0)
                in_head = 1;
            else if (len - i >= 7 && strncasecmp(in + i, "</head>", 7) == 0)
                in_head = 0;
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            if (!in_tag && !space) {
                out[o++] = ' ';
                space = 1;
            }
            continue;
        }
        if (in_head)
            continue;
        if ((unsigned char)c < 0x20 || c == 0x7f || c == ' ') {
            if (!space)
                out[o++] = ' ';
            space = 1;
            continue;
        }
        out[o++] = c;
        space = 0;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* The fault's name and message from a JSON error document; 0 if recognised. Borrowed. */
static int json_fault(const json_t *doc, const char **name, const char **msg)
{
    const json_t *e = json_object_get(doc, "error");
    if (json_is_object(e)) { /* Keystone */
        *name = json_string_value(json_object_get(e, "title"));
        *msg = json_string_value(json_object_get(e, "message"));
        return *msg ? 0 : -1;
    }
    e = json_array_get(json_object_get(doc, "errors"), 0);
    if (json_is_object(e)) { /* API-WG errors (placement, ...) */
        *name = json_string_value(json_object_get(e, "title"));
        *msg = json_string_value(json_object_get(e, "detail"));
        return *msg ? 0 : -1;
    }
    if (json_is_string(json_object_get(doc, "message"))) { /* a bare {"message": ...} */
        *name = json_string_value(json_object_get(doc, "title"));
        *msg = json_string_value(json_object_get(doc, "message"));
        return 0;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    { /* Nova {"itemNotFound": {...}}, Neutron {"NeutronError": {...}} */
        if (json_is_object(v) && json_is_string(json_object_get(v, "message"))) {
            *name = key;
            *msg = json_string_value(json_object_get(v, "message"));
            return 0;
        }
    }
    return -1;
}

/* Bounded, valid UTF-8 without control characters. */
static void clean_text(const char *in, char *out, size_t outlen)
{
    char tmp[OS_FAULT_TEXT_MAX * 2];
    html_text(in, strlen(in), 0, tmp, sizeof(tmp));
    nph_utf8_sanitize(tmp, out, outlen);
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

int os_fault_error(const char *cloud, long status, const char *method, const char *path,
                   const char *body, size_t len, struct nph_error *err)
{
    char text[OS_FAULT_TEXT_MAX] = "", name[64] = "", p[128];
    const char *fname = NULL, *fmsg = NULL;
    json_t *doc = NULL;
    enum nph_err_code code;

    if (body && len)
        doc = nph_json_parse(body, len, 32, 1, NULL);
    if (doc && json_fault(doc, &fname, &fmsg) == 0) {
        clean_text(fmsg, text, sizeof(text));
        if (fname)
            clean_text(fname, name, sizeof(name));
    } else if (body && len) {
        char tmp[OS_FAULT_TEXT_MAX * 2];
        html_text(body, len, 1, tmp, sizeof(tmp));
        nph_utf8_sanitize(tmp, text, sizeof(text));
    }
    json_decref(doc);

    switch (status) {
    case 400:
        code = NPH_E_INVALID;
        break;
    case 401:
        code = NPH_E_UNAUTHORIZED;
        break;
    case 403: /* Nova answers a quota refusal with 403 "Quota exceeded ..." */
        code = strcmp(name, "overLimit") == 0 || contains_ci(text, "quota exceeded")
                   ? NPH_E_LIMIT
                   : NPH_E_FORBIDDEN;
        break;
    case 404:
        code = NPH_E_NOT_FOUND;
        break;
    case 409:
        code = NPH_E_CONFLICT;
        break;
    case 413:
    case 429:
        code = NPH_E_LIMIT;
        break;
    case 503:
        code = NPH_E_UNAVAILABLE;
        break;
    case 504:
        code = NPH_E_TIMEOUT;
        break;
    default:
        code = NPH_E_BACKEND;
        break;
    }
    snprintf(p, sizeof(p), "%.*s", (int)strcspn(path, "?"), path);
    nph_error_set(err, code, "cloud '%s' answered %ld to %s %s%s%s", cloud, status, method,
                  *p ? p : "/", text[0] ? ": " : "", text);
    if (text[0])
        nph_error_detail(err, "%s%s%s", name, name[0] ? ": " : "", text);
    return -1;
}

/* ---- requests -------------------------------------------------------------------------------- */

char *os_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *os_link_query(const char *href)
{
    const char *q = href ? strchr(href, '?') : NULL;
    if (!q || !q[1])
        return NULL;
    q++;
    return strndup(q, strcspn(q, "#"));
}

/* Forget the token the call used (unless another thread already replaced it). */
static void invalidate(struct os_call *call)
{
    struct os_backend *os = call->os;
    pthread_mutex_lock(&os->mu);
    if (os->gen == call->gen)
        os->tok.expires_at = 0;
    pthread_mutex_unlock(&os->mu);
}

void os_call_reauth_prepare(struct os_call *call)
{
    invalidate(call);
}

/* A request id Nova and the others accept as a global request id ("req-" + UUID). */
static int is_request_id(const char *s)
{
    return s && strlen(s) == 40 && strncmp(s, "req-", 4) == 0 &&
           strspn(s + 4, "0123456789abcdef-") == 36;
}

/* Send one request with the call's token; on a 401, re-authenticate once and send it again.
 * Fills *resp (any status). */
static int exchange(struct os_call *call, int microversion, const char *method, const char *url,
                    const char *text, struct nph_http_response *resp, struct nph_error *err)
{
    struct os_backend *os = call->os;
    for (int attempt = 0;; attempt++) {
        struct nph_http_header h[6];
        size_t n = 0;
        h[n++] = (struct nph_http_header){"X-Auth-Token", call->token};
        h[n++] = (struct nph_http_header){"Accept", "application/json"};
        if (text)
            h[n++] = (struct nph_http_header){"Content-Type", "application/json"};
        if (microversion) {
            h[n++] = (struct nph_http_header){"OpenStack-API-Version", "compute 2.37"};
            h[n++] = (struct nph_http_header){"X-OpenStack-Nova-API-Version", "2.37"};
        }
        if (is_request_id(call->request_id))
            h[n++] = (struct nph_http_header){"X-OpenStack-Request-ID", call->request_id};
        long budget = 0;
        if (call->deadline) {
            budget = (long)((call->deadline - nph_clock_mono()) / 1000);
            if (budget <= 0)
                return nph_error_set(err, NPH_E_TIMEOUT, "cloud '%s': %s %s: out of time",
                                     os->cfg.name, method, url);
        }
        memset(resp, 0, sizeof(*resp));
        if (nph_http_request_timeout(os->http, budget, method, url, h, n, text,
                                     text ? strlen(text) : 0, resp, err) != 0) {
            nph_error_prefix(err, "cloud '%s'", os->cfg.name);
            return -1;
        }
        if (resp->status != 401 || attempt > 0)
            return 0;
        nph_http_response_fini(resp);
        invalidate(call);
        if (os_call_session(call, err) != 0)
            return -1;
    }
}

int os_call_service(struct os_call *call, enum os_service svc, struct nph_error *err)
{
    struct os_backend *os = call->os;
    const char *base = call->ep.url[svc];
    if (svc == OS_SVC_IDENTITY)
        return 0;
    if (!base)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED,
                             "%s is not supported by cloud '%s' (no '%s' endpoint in its catalog "
                             "for interface '%s'%s%s)",
                             os_service_name(svc), os->cfg.name, os_service_name(svc),
                             os->cfg.interface, os->cfg.region ? " in region " : "",
                             os->cfg.region ? os->cfg.region : "");
    if (svc == OS_SVC_IMAGE && !call->image_url && !(call->image_url = os_image_root(base)))
        return nph_error_nomem(err);
    if (svc != OS_SVC_COMPUTE || call->compute_mv)
        return 0;

    /* Learn the compute API's version document once: the v2.1 root and its microversion. */
    struct nph_http_response resp;
    struct nph_error perr = NPH_ERROR_INIT;
    char *root = NULL;
    int mv = 0, rc = -1;
    json_t *doc = NULL;
    if (exchange(call, 0, "GET", base, NULL, &resp, err) != 0)
        return -1;
    if (resp.status != 200 && resp.status != 300) {
        os_fault_error(os->cfg.name, resp.status, "GET", "/", resp.body, resp.body_len, err);
        goto cleanup;
    }
    if (!(doc = nph_json_parse(resp.body, resp.body_len, 32, 1, &perr))) {
        os_garbage(err, os->cfg.name, "GET", "/", perr.msg);
        goto cleanup;
    }
    const json_t *v = json_object_get(doc, "version");
    if (!v) { /* an unversioned root: find v2.1 in the list */
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(doc, "versions"), i, e)
        {
            if (json_is_string(json_object_get(e, "id")) &&
                strcmp(json_string_value(json_object_get(e, "id")), "v2.1") == 0)
                v = e;
        }
        if (v && asprintf(&root, "%s/v2.1", base) < 0)
            root = NULL;
    } else {
        root = strdup(base);
    }
    const char *ver = json_string_value(json_object_get(v, "version"));
    if (!v || !ver || !root) {
        os_garbage(err, os->cfg.name, "GET", "/", "no v2.1 version document");
        goto cleanup;
    }
    mv = *ver ? os_microversion_parse(ver) : 2001;
    if (mv < 2001) {
        os_garbage(err, os->cfg.name, "GET", "/", "the compute version is not MAJOR.MINOR");
        goto cleanup;
    }
    pthread_mutex_lock(&os->mu);
    if (!os->compute_mv) {
        os->compute_mv = mv;
        os->compute_url = root;
        root = NULL;
    }
    pthread_mutex_unlock(&os->mu);
    free(call->compute_url);
    call->compute_url = NULL;
    pthread_mutex_lock(&os->mu);
    call->compute_mv = os->compute_mv;
    call->compute_url = strdup(os->compute_url);
    pthread_mutex_unlock(&os->mu);
    rc = call->compute_url ? 0 : nph_error_nomem(err);
cleanup:
    free(root);
    json_decref(doc);
    nph_http_response_fini(&resp);
    return rc;
}

int os_request_raw(struct os_call *call, enum os_service svc, const char *method, const char *path,
                   const json_t *body, struct nph_http_response *resp, struct nph_error *err)
{
    struct os_backend *os = call->os;
    char *text = NULL, *url = NULL;
    int rc = -1;

    if (os_call_session(call, err) != 0 || os_call_service(call, svc, err) != 0)
        return -1;
    const char *base = svc == OS_SVC_COMPUTE    ? call->compute_url
                       : svc == OS_SVC_IMAGE    ? call->image_url
                       : svc == OS_SVC_IDENTITY ? os->cfg.auth_url
                                                : call->ep.url[svc];
    if (asprintf(&url, "%s%s", base, path) < 0)
        return nph_error_nomem(err);
    if (body && !(text = json_dumps(body, JSON_COMPACT))) {
        free(url);
        return nph_error_nomem(err);
    }
    int mv = svc == OS_SVC_COMPUTE && call->compute_mv >= OS_COMPUTE_MV;
    if (exchange(call, mv, method, url, text, resp, err) == 0) {
        if (resp->status < 200 || resp->status > 299) {
            os_fault_error(os->cfg.name, resp->status, method, path, resp->body, resp->body_len,
                           err);
            nph_http_response_fini(resp);
        } else {
            rc = 0;
        }
    }
    free(text);
    free(url);
    return rc;
}

int os_request(struct os_call *call, enum os_service svc, const char *method, const char *path,
               const json_t *body, json_t **out, struct nph_error *err)
{
    struct nph_http_response resp;
    struct nph_error perr = NPH_ERROR_INIT;
    int rc = -1;
    if (os_request_raw(call, svc, method, path, body, &resp, err) != 0)
        return -1;
    if (!out)
        rc = 0;
    else if (!(*out = nph_json_parse(resp.body, resp.body_len, 64, 1, &perr)))
        os_garbage(err, call->os->cfg.name, method, path, perr.msg);
    else
        rc = 0;
    nph_http_response_fini(&resp);
    return rc;
}

/* The next page's link of a collection document, borrowed, or NULL. */
static const char *next_link(const json_t *doc, const char *key)
{
    char lk[64];
    size_t i;
    const json_t *l;
    snprintf(lk, sizeof(lk), "%s_links", key);
    json_array_foreach(json_object_get(doc, lk), i, l)
    {
        const char *rel = json_string_value(json_object_get(l, "rel"));
        if (rel && strcmp(rel, "next") == 0)
            return json_string_value(json_object_get(l, "href"));
    }
    return json_string_value(json_object_get(doc, "next"));
}

/* Follow a page's next link (href, NULL when none) from *cur: 1 with *cur the next page's path,
 * 0 at the last page, -1 for a link without a query or one that does not advance. */
static int advance(const char *cloud, const char *path, const char *href, char **cur,
                   struct nph_error *err)
{
    size_t base_len = strcspn(path, "?");
    char *next = NULL;
    if (!href)
        return 0;
    char *q = os_link_query(href);
    if (!q)
        return os_garbage(err, cloud, "GET", path, "a next link without a query");
    if (asprintf(&next, "%.*s?%s", (int)base_len, path, q) < 0) {
        free(q);
        return nph_error_nomem(err);
    }
    free(q);
    if (strcmp(next, *cur) == 0) {
        free(next);
        return os_garbage(err, cloud, "GET", path, "the next link does not advance");
    }
    free(*cur);
    *cur = next;
    return 1;
}

int os_list_all(struct os_call *call, enum os_service svc, const char *path, const char *key,
                os_item_fn fn, void *arg, struct nph_error *err)
{
    const char *cloud = call->os->cfg.name;
    char *cur = strdup(path);
    int rc = -1;
    if (!cur)
        return nph_error_nomem(err);
    for (int page = 0;; page++) {
        json_t *doc = NULL, *arr, *item;
        size_t i;
        if (page == OS_MAX_PAGES) {
            os_garbage(err, cloud, "GET", path, "more than 10000 pages");
            break;
        }
        if (os_request(call, svc, "GET", cur, NULL, &doc, err) != 0)
            break;
        if (!json_is_array(arr = json_object_get(doc, key))) {
            char why[96];
            snprintf(why, sizeof(why), "no '%s' array", key);
            os_garbage(err, cloud, "GET", path, why);
            json_decref(doc);
            break;
        }
        int bad = 0;
        json_array_foreach(arr, i, item)
        {
            struct nph_error ierr = NPH_ERROR_INIT;
            if (fn(item, arg, &ierr) != 0) {
                if (ierr.code == NPH_E_NOMEM)
                    nph_error_nomem(err);
                else
                    os_garbage(err, cloud, "GET", path, ierr.msg);
                bad = 1;
                break;
            }
        }
        const char *href = bad ? NULL : next_link(doc, key);
        int adv = bad ? -1 : advance(cloud, path, href, &cur, err);
        json_decref(doc);
        if (adv <= 0) {
            rc = adv;
            break;
        }
    }
    free(cur);
    return rc;
}

int os_list_scan(struct os_call *call, enum os_service svc, const char *path, const char *key,
                 os_scan_fn fn, void *arg, struct nph_error *err)
{
    const char *cloud = call->os->cfg.name;
    char lk[64], href[2048];
    char *cur = strdup(path);
    int rc = -1;
    if (!cur)
        return nph_error_nomem(err);
    snprintf(lk, sizeof(lk), "%s_links", key);
    for (int page = 0;; page++) {
        struct nph_http_response resp;
        struct nph_jscan s;
        int seen = 0, r, bad = 0;
        char rel[16];
        if (page == OS_MAX_PAGES) {
            os_garbage(err, cloud, "GET", path, "more than 10000 pages");
            break;
        }
        if (os_request_raw(call, svc, "GET", cur, NULL, &resp, err) != 0)
            break;
        href[0] = '\0';
        nph_jscan_init(&s, resp.body, resp.body_len, 64);
        if (nph_jscan_enter(&s, NPH_J_OBJECT) == 0) {
            while (!bad && (r = nph_jscan_member(&s)) == 1) {
                if (nph_jscan_key_is(&s, key)) {
                    seen = 1;
                    if (nph_jscan_enter(&s, NPH_J_ARRAY))
                        break;
                    while (!bad && nph_jscan_element(&s) == 1) {
                        struct nph_error ierr = NPH_ERROR_INIT;
                        if (fn(&s, arg, &ierr) != 0 && !s.err) {
                            if (ierr.code == NPH_E_NOMEM)
                                nph_error_nomem(err);
                            else
                                os_garbage(err, cloud, "GET", path, ierr.msg);
                            bad = 1;
                        }
                    }
                } else if (nph_jscan_key_is(&s, lk) && nph_jscan_peek(&s) == NPH_J_ARRAY) {
                    /* [{"rel": "next", "href": ...}, ...] */
                    nph_jscan_enter(&s, NPH_J_ARRAY);
                    while (nph_jscan_element(&s) == 1 && nph_jscan_enter(&s, NPH_J_OBJECT) == 0) {
                        char h[sizeof(href)] = "";
                        rel[0] = '\0';
                        while (nph_jscan_member(&s) == 1) {
                            if (nph_jscan_key_is(&s, "rel"))
                                nph_jscan_string_or_null(&s, rel, sizeof(rel), 1);
                            else if (nph_jscan_key_is(&s, "href"))
                                nph_jscan_string_or_null(&s, h, sizeof(h), 0);
                            else
                                nph_jscan_skip(&s);
                        }
                        if (strcmp(rel, "next") == 0)
                            memcpy(href, h, sizeof(href));
                    }
                } else {
                    nph_jscan_skip(&s);
                }
            }
        }
        if (!bad && nph_jscan_end(&s) != 0) {
            char why[160];
            snprintf(why, sizeof(why), "invalid JSON at byte %zu: %s", s.pos, s.err);
            os_garbage(err, cloud, "GET", path, why);
            bad = 1;
        } else if (!bad && !seen) {
            char why[96];
            snprintf(why, sizeof(why), "no '%s' array", key);
            os_garbage(err, cloud, "GET", path, why);
            bad = 1;
        }
        nph_http_response_fini(&resp);
        int adv = bad ? -1 : advance(cloud, path, href[0] ? href : NULL, &cur, err);
        if (adv <= 0) {
            rc = adv;
            break;
        }
    }
    free(cur);
    return rc;
}
