/*
 * compat_swift.c - the Swift (OpenStack Object Storage v1) compatible API under
 * /object-store/v1/AUTH_<project_id>, over local/storage's object store, and Swift's
 * capabilities document at /info.
 *
 * Accounts are projects: AUTH_<project_id>. The caller may act on an account when its token is
 * scoped to that project, or holds the admin role (Swift's reseller admin: it alone sets
 * X-Account-Meta-Quota-Bytes). Other callers reach a container through its ACLs:
 * X-Container-Read (".r:*" anyone, object reads only; ".rlistings" listings too; "*:*" any
 * authenticated user; "<project_id>:<user_id>", "<project_id>:*", "*:<user_id>") and
 * X-Container-Write (the same forms minus the referrer ones).
 *
 * Bodies: an object PUT arrives as a file (HTTP_ROUTE_BODY_TO_FILE) whose MD5 the server
 * computed while writing it; the ETag header is checked against it (422 on a mismatch, nothing
 * stored). GETs stream from the data files through http_resp_stream (plain objects, Range,
 * static and dynamic large objects alike). Verification: objects (or all the segments of a
 * large object) up to LOBJ_VERIFY_MAX bytes are checked against their recorded CRC-32C (the
 * MD5 for objects stored before CRCs were recorded) before the first byte is sent, and
 * refused with 500 when they fail; larger ones are checked while streaming, segment by
 * segment, and the response is cut short (the connection closed before the segment's last
 * bytes) on a mismatch, so a client never receives a complete corrupted body. Ranges of objects
 * above LOBJ_VERIFY_MAX are not verified.
 *
 * Errors are Swift's: short HTML or plain-text bodies with the status, not JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "app.h"
#include "local_object.h"
#include "nph_crc32c.h"
#include "nph_clock.h"
#include "nph_crypto.h"
#include "nph_json.h"
#include "nph_log.h"

#define SW_PREFIX       "/object-store/v1"
#define SW              NPH_FAULT_KEYSTONE
#define SW_POLICY       "Policy-0"
#define SW_MANIFEST_MAX (2 * 1024 * 1024)
#define SW_META_TOTAL   4096
#define CT_TEXT         "text/plain; charset=utf-8"
#define CT_HTML         "text/html; charset=UTF-8"

static struct nph_app *app_of(struct http_req *req)
{
    return req->app;
}

/* ---- the caller -------------------------------------------------------------------------- */

struct sw_ctx {
    struct http_req *req;
    struct http_resp *resp;
    const struct ident_token *tok; /* NULL: anonymous */
    const char *account;           /* "AUTH_<project>" (borrowed from the path) */
    const char *project;           /* after "AUTH_" */
    int owner;                     /* the token's project is the account's */
    int admin;                     /* reseller admin */
};

/* Swift's transaction id: tx + 21 hex + "-" + the time in 10 hex digits. */
static void set_trans_id(struct http_req *req)
{
    uint8_t raw[11];
    char hex[23];
    if (nph_random_bytes(raw, sizeof(raw), NULL) == 0) {
        nph_hex_encode(raw, sizeof(raw), hex);
        hex[21] = '\0';
        snprintf(req->request_id, sizeof(req->request_id), "tx%s-%010llx", hex,
                 (unsigned long long)(nph_clock_now() / NPH_USEC_PER_SEC));
    }
}

struct query_find {
    const char *key;
    int found;
};

static void query_find_cb(const char *key, const char *value, void *ctx)
{
    struct query_find *q = ctx;
    (void)value;
    if (strcmp(key, q->key) == 0)
        q->found = 1;
}

/* Is `key` in the query string, with or without a value ("?bulk-delete")? */
static int query_has(struct http_req *req, const char *key)
{
    struct query_find q = {key, 0};
    http_req_query_each(req, query_find_cb, &q);
    return q.found;
}

static void hdr(struct http_resp *resp, const char *name, const char *value)
{
    http_resp_header(resp, name, value);
}

static void hdr_i64(struct http_resp *resp, const char *name, int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%lld", (long long)v);
    http_resp_header(resp, name, b);
}

/* A response without a body still says its type, as Swift's do (Tempest checks). */
static void empty(struct http_resp *resp, int status, const char *ctype)
{
    resp->status = status;
    if (!resp->body && !resp->has_file && !resp->has_stream)
        hdr(resp, "Content-Type", ctype ? ctype : CT_HTML);
}

/* Statuses Swift uses that the error codes do not have (412, 416): set by sw_status for the
 * fault rendered next on this thread. */
static _Thread_local int sw_status_override;

static int sw_status(struct nph_error *err, int status, const char *msg)
{
    sw_status_override = status;
    return nph_error_set(err, NPH_E_INVALID, "%s", msg);
}

/* Swift's error bodies. */
static void sw_fault(struct http_resp *resp, const struct nph_error *err)
{
    int status = nph_error_http_status(err->code);
    if (sw_status_override) {
        status = sw_status_override;
        sw_status_override = 0;
    }
    const char *reason = MHD_get_reason_phrase_for((unsigned)status);
    char body[1400], clean[NPH_ERR_MSG_MAX];
    if (status >= 500 || err->detail[0])
        nph_log(status >= 500 ? NPH_LOG_ERROR : NPH_LOG_WARN, "swift.fault", "msg", err->msg,
                "detail", err->detail, NULL);
    nph_utf8_sanitize(err->msg[0] ? err->msg : nph_error_doc(err->code), clean, sizeof(clean));
    for (int i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->n_headers = 0;
    if (status == 400 || status == 413 || status == 411 || status == 412) {
        snprintf(body, sizeof(body), "%s", clean);
        http_resp_text(resp, status, CT_TEXT, body);
    } else {
        snprintf(body, sizeof(body), "<html><h1>%s</h1><p>%s</p></html>", reason, clean);
        http_resp_text(resp, status, CT_HTML, body);
    }
    if (status == 401)
        hdr(resp, "Www-Authenticate", "Keystone uri='/identity/v3'");
}

/* Parse the account and identify the caller (anonymous when there is no token). */
/* Temporary URLs (Swift's tempurl): ?temp_url_sig=<hmac>&temp_url_expires=<unix time> on an
 * object, the HMAC over "<METHOD>\n<expires>\n<path>" keyed by the account's
 * X-Account-Meta-Temp-URL-Key or -Key-2; SHA-1 or SHA-256 as hex, or "sha256:<base64>". A HEAD
 * is allowed by a GET, HEAD or PUT signature. Returns 1 when valid (the request acts as the
 * account's owner), 0 otherwise. */
static int tempurl_valid(struct http_req *req, const char *account, const char *sig,
                         const char *expires)
{
    static const char *const keys[] = {"x-account-meta-temp-url-key",
                                       "x-account-meta-temp-url-key-2"};
    static const char *const head_methods[] = {"HEAD", "GET", "PUT"};
    const char *method = req->method;
    char *end;
    long long exp;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *a;
    int ok = 0;
    errno = 0;
    exp = strtoll(expires, &end, 10);
    if (errno || *end || end == expires || exp <= nph_clock_now() / NPH_USEC_PER_SEC)
        return 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "PUT") != 0)
        return 0;
    a = local_object_account_get(app_of(req)->object, account, &err);
    if (!a)
        return 0;
    for (size_t k = 0; k < 2 && !ok; k++) {
        const char *key = json_string_value(json_object_get(json_object_get(a, "meta"), keys[k]));
        if (!key || !*key)
            continue;
        for (size_t m = 0; m < (strcmp(method, "HEAD") == 0 ? 3u : 1u) && !ok; m++) {
            const char *mm = strcmp(method, "HEAD") == 0 ? head_methods[m] : method;
            char body[4400], hex[2 * EVP_MAX_MD_SIZE + 1], b64[200];
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;
            int n = snprintf(body, sizeof(body), "%s\n%s\n%s", mm, expires, req->path);
            if (n < 0 || (size_t)n >= sizeof(body))
                continue;
            for (int alg = 0; alg < 2 && !ok; alg++) {
                if (!HMAC(alg ? EVP_sha256() : EVP_sha1(), key, (int)strlen(key),
                          (const unsigned char *)body, (size_t)n, md, &mdlen))
                    continue;
                nph_hex_encode(md, mdlen, hex);
                hex[2 * mdlen] = '\0';
                if (strlen(sig) == 2 * mdlen && nph_ct_equal(sig, hex, 2 * mdlen))
                    ok = 1;
                if (alg && strncmp(sig, "sha256:", 7) == 0) {
                    size_t bl = nph_b64_encode(md, mdlen, b64);
                    while (bl && b64[bl - 1] == '=')
                        bl--;
                    size_t sl = strlen(sig + 7);
                    while (sl && sig[7 + sl - 1] == '=')
                        sl--;
                    for (size_t i = 0; i < bl; i++)
                        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
                    char norm[200];
                    snprintf(norm, sizeof(norm), "%.*s", (int)sl, sig + 7);
                    for (size_t i = 0; i < sl; i++)
                        norm[i] = norm[i] == '+' ? '-' : norm[i] == '/' ? '_' : norm[i];
                    if (sl == bl && nph_ct_equal(norm, b64, bl))
                        ok = 1;
                }
            }
        }
    }
    json_decref(a);
    return ok;
}

static int sw_begin(struct http_req *req, struct http_resp *resp, struct sw_ctx *c,
                    struct nph_error *err)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->resp = resp;
    set_trans_id(req);
    hdr(resp, "X-Trans-Id", req->request_id);
    c->account = req->params[0];
    if (strncmp(c->account, "AUTH_", 5) != 0 || !c->account[5] || strlen(c->account) > 100)
        return nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
    c->project = c->account + 5;
    {
        const char *sig = http_req_query(req, "temp_url_sig");
        const char *exp = http_req_query(req, "temp_url_expires");
        if (sig || exp) {
            if (req->n_params < 3 || !sig || !exp || !tempurl_valid(req, c->account, sig, exp))
                return nph_error_set(err, NPH_E_UNAUTHORIZED, "Temp URL invalid");
            c->owner = 1; /* for this object and method only */
            return 0;
        }
    }
    if (http_req_header(req, "X-Auth-Token")) {
        if (app_authenticate(req, err))
            return -1;
        c->tok = req->auth;
        c->admin = ident_token_is_admin(c->tok) || ident_token_has_role(c->tok, "ResellerAdmin");
        c->owner =
            c->tok->scope == IDENT_SCOPE_PROJECT && strcmp(c->tok->scope_id, c->project) == 0;
    }
    return 0;
}

static int deny(const struct sw_ctx *c, struct nph_error *err)
{
    if (!c->tok)
        return nph_error_set(err, NPH_E_UNAUTHORIZED,
                             "This server could not verify that you are authorized to access the "
                             "document you requested.");
    return nph_error_set(err, NPH_E_FORBIDDEN, "Access was denied to this resource.");
}

static int acl_item_matches(const struct sw_ctx *c, const char *item, size_t n, int reading,
                            int listing)
{
    char buf[300];
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, item, n);
    buf[n] = '\0';
    if (reading && (strcmp(buf, ".r:*") == 0 || strncmp(buf, ".r:", 3) == 0))
        return strcmp(buf, ".r:*") == 0 && !listing ? 1 : 0;
    if (!c->tok)
        return 0;
    char *colon = strchr(buf, ':');
    if (!colon)
        return 0;
    *colon = '\0';
    const char *proj = buf, *user = colon + 1;
    int pm = strcmp(proj, "*") == 0 || strcmp(proj, c->tok->scope_id) == 0 ||
             strcmp(proj, c->tok->scope_name) == 0;
    int um = strcmp(user, "*") == 0 || strcmp(user, c->tok->user_id) == 0 ||
             strcmp(user, c->tok->user_name) == 0;
    return c->tok->scope == IDENT_SCOPE_PROJECT && pm && um;
}

/* Does the container's ACL (x-container-read / -write) let the caller in? */
static int acl_allows(const struct sw_ctx *c, const json_t *cmeta, int write, int listing)
{
    const char *acl = json_string_value(json_object_get(
        json_object_get(cmeta, "meta"), write ? "x-container-write" : "x-container-read"));
    int rlistings = 0, any = 0;
    if (!acl)
        return 0;
    for (const char *p = acl; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 11 && strncmp(p, ".rlistings", 10) == 0)
            rlistings = 1;
        if (n == 10 && strncmp(p, ".rlistings", 10) == 0)
            rlistings = 1;
        if (acl_item_matches(c, p, n, !write, 0)) {
            if (!listing || strncmp(p, ".r:", 3) != 0)
                any = 1;
            else
                any = 2; /* referrer: listing only with .rlistings */
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (any == 1)
        return 1;
    return any == 2 && rlistings;
}

/* Access to a container: the owner and the admin always; others by its ACLs. cinfo is the
 * container record (NULL: the container does not exist -> only owner/admin). */
static int may(const struct sw_ctx *c, const json_t *cinfo, int write, int listing,
               struct nph_error *err)
{
    if (c->owner || c->admin)
        return 0;
    if (cinfo && acl_allows(c, cinfo, write, listing))
        return 0;
    return deny(c, err);
}

/* ---- headers in and out ------------------------------------------------------------------ */

struct meta_collect {
    const char *prefix;       /* "x-container-meta-" */
    const char *remove;       /* "x-remove-container-meta-" */
    const char *const *extra; /* other headers kept (lower-case) */
    json_t *changes;
    int bad;
    size_t total;
    char why[200];
};

static void meta_cb(const char *name, const char *value, void *ctx)
{
    struct meta_collect *m = ctx;
    char lower[300];
    size_t n = strlen(name);
    if (n >= sizeof(lower))
        n = sizeof(lower) - 1;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
    lower[n] = '\0';
    size_t pl = strlen(m->prefix);
    if (strncmp(lower, m->prefix, pl) == 0) {
        if (n - pl == 0) {
            m->bad = 1;
            snprintf(m->why, sizeof(m->why), "Metadata name cannot be empty");
            return;
        }
        if (n - pl > LOBJ_META_NAME_MAX) {
            m->bad = 1;
            snprintf(m->why, sizeof(m->why), "Metadata name too long; max %d", LOBJ_META_NAME_MAX);
            return;
        }
        if (strlen(value) > LOBJ_META_VALUE_MAX) {
            m->bad = 1;
            snprintf(m->why, sizeof(m->why), "Metadata value longer than %d", LOBJ_META_VALUE_MAX);
            return;
        }
        m->total += n - pl + strlen(value);
        json_object_set_new(m->changes, lower, json_string(value));
        return;
    }
    if (m->remove && strncmp(lower, m->remove, strlen(m->remove)) == 0) {
        char key[300];
        snprintf(key, sizeof(key), "%s%s", m->prefix, lower + strlen(m->remove));
        json_object_set_new(m->changes, key, json_null());
        return;
    }
    for (const char *const *e = m->extra; e && *e; e++) {
        if (strcmp(lower, *e) == 0)
            json_object_set_new(m->changes, lower, json_string(value));
    }
}

/* The metadata changes a request carries; NULL with NPH_E_INVALID on a bad one. */
static json_t *collect_meta(struct http_req *req, const char *prefix, const char *remove,
                            const char *const *extra, struct nph_error *err)
{
    struct meta_collect m = {prefix, remove, extra, json_object(), 0, 0, ""};
    http_req_header_each(req, meta_cb, &m);
    if (!m.bad && json_object_size(m.changes) > LOBJ_META_COUNT_MAX) {
        m.bad = 1;
        snprintf(m.why, sizeof(m.why), "Too many metadata items; max %d", LOBJ_META_COUNT_MAX);
    }
    if (!m.bad && m.total > SW_META_TOTAL) {
        m.bad = 1;
        snprintf(m.why, sizeof(m.why), "Total metadata too large; max %d", SW_META_TOTAL);
    }
    if (m.bad) {
        json_decref(m.changes);
        nph_error_set(err, NPH_E_INVALID, "%s", m.why);
        return NULL;
    }
    return m.changes;
}

static void put_meta_headers(struct http_resp *resp, const json_t *meta, int with_acl)
{
    const char *k;
    json_t *v;
    char name[300];
    json_object_foreach((json_t *)meta, k, v)
    {
        if (!with_acl &&
            (strcmp(k, "x-container-read") == 0 || strcmp(k, "x-container-write") == 0))
            continue;
        lobj_header_title(k, name, sizeof(name));
        hdr(resp, name, json_string_value(v));
    }
}

static void http_date(int64_t us, char *buf, size_t cap)
{
    time_t t = (time_t)(us / NPH_USEC_PER_SEC);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void put_time_headers(struct http_resp *resp, int64_t created, int64_t modified)
{
    char b[64];
    snprintf(b, sizeof(b), "%lld.%05lld", (long long)(created / NPH_USEC_PER_SEC),
             (long long)(created % NPH_USEC_PER_SEC / 10));
    hdr(resp, "X-Timestamp", b);
    http_date(modified + NPH_USEC_PER_SEC - 1, b, sizeof(b)); /* rounded up, as Swift */
    hdr(resp, "Last-Modified", b);
}

/* ---- listings ---------------------------------------------------------------------------- */

enum sw_format { SW_TEXT, SW_JSON, SW_XML };

static enum sw_format pick_format(struct http_req *req)
{
    const char *f = http_req_query(req, "format");
    const char *acc = http_req_header(req, "Accept");
    if (f) {
        if (strcasecmp(f, "json") == 0)
            return SW_JSON;
        if (strcasecmp(f, "xml") == 0)
            return SW_XML;
        return SW_TEXT;
    }
    if (acc) {
        if (strstr(acc, "application/json"))
            return SW_JSON;
        if (strstr(acc, "application/xml") || strstr(acc, "text/xml"))
            return SW_XML;
    }
    return SW_TEXT;
}

static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* Render a listing (array from local/storage) in the chosen format into resp. is_account:
 * containers, else objects. */
static int render_listing(struct http_req *req, struct http_resp *resp, json_t *list,
                          const char *owner_name, int is_account, struct nph_error *err)
{
    enum sw_format fmt = pick_format(req);
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    size_t i;
    json_t *e;
    if (json_array_size(list) == 0 && fmt == SW_TEXT) {
        empty(resp, 204, CT_TEXT);
        return 0;
    }
    if (fmt == SW_JSON) {
        json_incref(list);
        if (http_resp_json(resp, 200, list))
            return nph_error_nomem(err);
        resp->content_type = "application/json; charset=utf-8";
        return 0;
    }
    f = open_memstream(&buf, &len);
    if (!f)
        return nph_error_nomem(err);
    if (fmt == SW_XML) {
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
        fprintf(f, "<%s name=\"", is_account ? "account" : "container");
        xml_escape(f, owner_name);
        fputs("\">", f);
    }
    json_array_foreach(list, i, e)
    {
        const char *sub = json_string_value(json_object_get(e, "subdir"));
        const char *name = sub ? sub : json_string_value(json_object_get(e, "name"));
        if (fmt == SW_TEXT) {
            fprintf(f, "%s\n", name);
            continue;
        }
        if (sub) {
            fputs("<subdir name=\"", f);
            xml_escape(f, sub);
            fputs("\"><name>", f);
            xml_escape(f, sub);
            fputs("</name></subdir>", f);
            continue;
        }
        fputs(is_account ? "<container><name>" : "<object><name>", f);
        xml_escape(f, name);
        fputs("</name>", f);
        if (is_account) {
            fprintf(f,
                    "<count>%lld</count><bytes>%lld</bytes><last_modified>%s</last_modified>"
                    "</container>",
                    (long long)json_integer_value(json_object_get(e, "count")),
                    (long long)json_integer_value(json_object_get(e, "bytes")),
                    json_string_value(json_object_get(e, "last_modified")));
        } else {
            fprintf(f, "<hash>%s</hash><bytes>%lld</bytes><content_type>",
                    json_string_value(json_object_get(e, "hash")),
                    (long long)json_integer_value(json_object_get(e, "bytes")));
            xml_escape(f, json_string_value(json_object_get(e, "content_type")));
            fprintf(f, "</content_type><last_modified>%s</last_modified></object>",
                    json_string_value(json_object_get(e, "last_modified")));
        }
    }
    if (fmt == SW_XML)
        fprintf(f, "</%s>", is_account ? "account" : "container");
    if (fclose(f) != 0) {
        free(buf);
        return nph_error_nomem(err);
    }
    free(resp->body);
    resp->body = buf;
    resp->body_len = len;
    resp->status = 200;
    resp->content_type = fmt == SW_XML ? "application/xml; charset=utf-8" : CT_TEXT;
    return 0;
}

static int parse_list_params(struct http_req *req, struct lobj_list_params *p, char *pathbuf,
                             size_t cap, struct nph_error *err)
{
    return lobj_list_params_parse(p, http_req_query(req, "prefix"),
                                  http_req_query(req, "delimiter"), http_req_query(req, "marker"),
                                  http_req_query(req, "end_marker"), http_req_query(req, "limit"),
                                  http_req_query(req, "reverse"), http_req_query(req, "path"),
                                  pathbuf, cap, err);
}

/* ---- /info ------------------------------------------------------------------------------- */

static int sw_info(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *doc = json_pack(
        "{s:{s:s,s:i,s:i,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:b,s:b,s:[{s:s,s:b}]},"
        "s:{s:i,s:i,s:I},s:{},s:{},s:{}}",
        "swift", "version", "nephele", "max_file_size", 0, "container_listing_limit",
        LOBJ_LISTING_LIMIT, "account_listing_limit", LOBJ_LISTING_LIMIT, "max_object_name_length",
        (json_int_t)LOBJ_OBJECT_NAME_MAX, "max_container_name_length", LOBJ_CONTAINER_NAME_MAX,
        "max_meta_name_length", LOBJ_META_NAME_MAX, "max_meta_value_length", LOBJ_META_VALUE_MAX,
        "max_meta_count", LOBJ_META_COUNT_MAX, "max_meta_overall_size", SW_META_TOTAL,
        "max_header_size", 8192, "strict_cors_mode", 1, "allow_account_management", 0, "policies",
        "name", SW_POLICY, "default", 1, "slo", "max_manifest_segments", LOBJ_SLO_SEGMENTS_MAX,
        "max_manifest_size", SW_MANIFEST_MAX, "min_segment_size", (json_int_t)1, "account_quotas",
        "container_quotas", "dlo");
    (void)err;
    json_object_set_new(json_object_get(doc, "swift"), "max_file_size", json_integer(5368709122LL));
    json_object_set_new(
        doc, "bulk_delete",
        json_pack("{s:i,s:i}", "max_deletes_per_request", 10000, "max_failed_deletes", 1000));
    json_object_set_new(doc, "bulk_upload",
                        json_pack("{s:i,s:i}", "max_containers_per_extraction", 10000,
                                  "max_failed_extractions", 1000));
    json_object_set_new(doc, "tempurl",
                        json_pack("{s:[s,s,s],s:[s,s]}", "methods", "GET", "HEAD", "PUT",
                                  "allowed_digests", "sha1", "sha256"));
    json_object_set_new(
        doc, "versioned_writes",
        json_pack("{s:[s,s]}", "allowed_flags", "x-versions-location", "x-history-location"));
    set_trans_id(req);
    hdr(resp, "X-Trans-Id", req->request_id);
    http_resp_json(resp, 200, doc);
    resp->content_type = "application/json; charset=UTF-8";
    return 0;
}

/* ---- account ----------------------------------------------------------------------------- */

static void account_headers(struct http_resp *resp, const json_t *a)
{
    int64_t containers = json_integer_value(json_object_get(a, "containers"));
    int64_t objects = json_integer_value(json_object_get(a, "objects"));
    int64_t bytes = json_integer_value(json_object_get(a, "bytes"));
    int64_t created = json_integer_value(json_object_get(a, "created"));
    char b[64];
    hdr_i64(resp, "X-Account-Container-Count", containers);
    hdr_i64(resp, "X-Account-Object-Count", objects);
    hdr_i64(resp, "X-Account-Bytes-Used", bytes);
    if (containers > 0) {
        hdr_i64(resp, "X-Account-Storage-Policy-" SW_POLICY "-Container-Count", containers);
        hdr_i64(resp, "X-Account-Storage-Policy-" SW_POLICY "-Object-Count", objects);
        hdr_i64(resp, "X-Account-Storage-Policy-" SW_POLICY "-Bytes-Used", bytes);
    }
    snprintf(b, sizeof(b), "%lld.%05lld", (long long)(created / NPH_USEC_PER_SEC),
             (long long)(created % NPH_USEC_PER_SEC / 10));
    hdr(resp, "X-Timestamp", b);
    hdr(resp, "X-Put-Timestamp", b);
    hdr(resp, "Accept-Ranges", "bytes");
    put_meta_headers(resp, json_object_get(a, "meta"), 1);
}

static int sw_account_get_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    struct lobj_list_params p;
    char pathbuf[LOBJ_OBJECT_NAME_MAX + 2];
    json_t *a = NULL, *list = NULL;
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (!c.owner && !c.admin)
        return deny(&c, err);
    a = local_object_account_get(app_of(req)->object, c.account, err);
    if (!a)
        goto done;
    account_headers(resp, a);
    if (strcmp(req->method, "HEAD") == 0) {
        empty(resp, 204, CT_TEXT);
        rc = 0;
        goto done;
    }
    if (parse_list_params(req, &p, pathbuf, sizeof(pathbuf), err))
        goto done;
    list = local_object_container_list(app_of(req)->object, c.account, &p, err);
    if (!list)
        goto done;
    rc = render_listing(req, resp, list, c.account, 1, err);
done:
    json_decref(a);
    json_decref(list);
    return rc;
}

static int sw_account_bulk_(struct http_req *req, struct http_resp *resp, struct nph_error *err);
static int sw_bulk_delete(struct sw_ctx *c, struct nph_error *err);

static int sw_account_post_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *changes;
    int rc = -1;
    if (query_has(req, "bulk-delete"))
        return sw_account_bulk_(req, resp, err);
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (!c.owner && !c.admin)
        return deny(&c, err);
    changes = collect_meta(req, "x-account-meta-", "x-remove-account-meta-", NULL, err);
    if (!changes)
        return -1;
    if (!c.admin && (json_object_get(changes, "x-account-meta-quota-bytes"))) {
        json_decref(changes);
        return nph_error_set(err, NPH_E_FORBIDDEN, "Access was denied to this resource.");
    }
    if (json_object_get(changes, "x-account-meta-quota-bytes")) {
        const char *q = json_string_value(json_object_get(changes, "x-account-meta-quota-bytes"));
        char *end;
        if (q && *q && (strtoll(q, &end, 10) < 0 || *end)) {
            json_decref(changes);
            return nph_error_set(err, NPH_E_INVALID, "Invalid bytes quota.");
        }
    }
    if (local_object_account_update(app_of(req)->object, c.account, changes, err) == 0) {
        empty(resp, 204, CT_HTML);
        rc = 0;
    }
    json_decref(changes);
    return rc;
}

/* ---- bulk operations (Swift's bulk middleware) ------------------------------------------------
 */

static void url_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && r[1] && r[2] &&
            (hi = (r[1] >= '0' && r[1] <= '9')               ? r[1] - '0'
                  : (r[1] | 32) >= 'a' && (r[1] | 32) <= 'f' ? (r[1] | 32) - 'a' + 10
                                                             : -1) >= 0 &&
            (lo = (r[2] >= '0' && r[2] <= '9')               ? r[2] - '0'
                  : (r[2] | 32) >= 'a' && (r[2] | 32) <= 'f' ? (r[2] | 32) - 'a' + 10
                                                             : -1) >= 0 &&
            (hi || lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static int bulk_reply(struct http_req *req, struct http_resp *resp, const char *count_name,
                      int done, int not_found, const char *status, json_t *errors)
{
    const char *acc = http_req_header(req, "Accept");
    if (acc && strstr(acc, "application/json")) {
        json_t *b = json_pack("{s:i,s:s,s:s,s:O}", count_name, done, "Response Status", status,
                              "Response Body", "", "Errors", errors);
        if (not_found >= 0)
            json_object_set_new(b, "Number Not Found", json_integer(not_found));
        return http_resp_json(resp, 200, b);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    size_t i;
    json_t *e;
    if (!f)
        return -1;
    fprintf(f, "%s: %d\n", count_name, done);
    if (not_found >= 0)
        fprintf(f, "Number Not Found: %d\n", not_found);
    fprintf(f, "Response Body: \nResponse Status: %s\nErrors: \n", status);
    json_array_foreach(errors, i, e)
    {
        fprintf(f, "%s, %s\n", json_string_value(json_array_get(e, 0)),
                json_string_value(json_array_get(e, 1)));
    }
    fclose(f);
    free(resp->body);
    resp->body = buf;
    resp->body_len = len;
    resp->status = 200;
    resp->content_type = CT_TEXT;
    return 0;
}

/* DELETE or POST <account>?bulk-delete: the body lists "/container/object" or "/container"
 * (URL-encoded), one a line, deleted in order. */
static int sw_bulk_delete(struct sw_ctx *c, struct nph_error *err)
{
    struct http_req *req = c->req;
    char *body, *line, *save = NULL;
    int deleted = 0, not_found = 0, rc;
    json_t *errors = json_array();
    if (!c->owner && !c->admin) {
        json_decref(errors);
        return deny(c, err);
    }
    body = strndup(req->body ? req->body : "", req->body_len);
    if (!body) {
        json_decref(errors);
        return nph_error_nomem(err);
    }
    for (line = strtok_r(body, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        struct nph_error e = NPH_ERROR_INIT;
        char *slash;
        url_decode(line);
        while (*line == '/')
            line++;
        if (!*line)
            continue;
        slash = strchr(line, '/');
        if (slash && slash[1]) {
            *slash = '\0';
            rc = local_object_delete(app_of(req)->object, c->account, line, slash + 1, &e);
            *slash = '/';
        } else {
            if (slash)
                *slash = '\0';
            rc = local_object_container_delete(app_of(req)->object, c->account, line, &e);
        }
        if (rc == 0)
            deleted++;
        else if (e.code == NPH_E_NOT_FOUND)
            not_found++;
        else
            json_array_append_new(
                errors,
                json_pack("[s,s]", line, e.code == NPH_E_CONFLICT ? "409 Conflict" : "500 Error"));
    }
    free(body);
    rc = bulk_reply(req, c->resp, "Number Deleted", deleted, not_found,
                    json_array_size(errors) ? "400 Bad Request" : "200 OK", errors);
    json_decref(errors);
    return rc ? nph_error_nomem(err) : 0;
}

static int64_t tar_octal(const unsigned char *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n && p[i]; i++) {
        if (p[i] == ' ')
            continue;
        if (p[i] < '0' || p[i] > '7')
            return -1;
        v = v * 8 + (p[i] - '0');
    }
    return v;
}

/* PUT <account>?extract-archive=tar: every regular file of an uncompressed tar becomes the
 * object <rest> of container <first path segment> (created when missing). Each file is copied
 * into its own temporary file with its MD5 and stored like any upload. */
static int sw_extract_archive(struct sw_ctx *c, struct nph_error *err)
{
    struct http_req *req = c->req;
    unsigned char hdrb[512];
    char longname[LOBJ_OBJECT_NAME_MAX + 300] = "";
    int created = 0, rc = -1;
    json_t *errors = json_array();
    const char *fmt = http_req_query(req, "extract-archive");
    FILE *in = NULL;
    if (!c->owner && !c->admin) {
        json_decref(errors);
        return deny(c, err);
    }
    if (!fmt || strcmp(fmt, "tar") != 0) {
        json_decref(errors);
        return nph_error_set(err, NPH_E_INVALID, "Unsupported archive format (only 'tar')");
    }
    in = req->body_path ? fopen(req->body_path, "rb") : NULL;
    if (!in) {
        json_decref(errors);
        return nph_error_set(err, NPH_E_INTERNAL, "the upload has no file");
    }
    while (fread(hdrb, 1, 512, in) == 512) {
        char name[LOBJ_OBJECT_NAME_MAX + 300];
        int64_t size;
        char type = (char)hdrb[156];
        if (hdrb[0] == 0)
            break; /* the end-of-archive blocks */
        size = tar_octal(hdrb + 124, 12);
        if (size < 0) {
            nph_error_set(err, NPH_E_INVALID, "Invalid Tar File: bad header");
            goto done;
        }
        if (longname[0]) {
            snprintf(name, sizeof(name), "%s", longname);
            longname[0] = '\0';
        } else if (memcmp(hdrb + 257, "ustar", 5) == 0 && hdrb[345]) {
            snprintf(name, sizeof(name), "%.155s/%.100s", (char *)hdrb + 345, (char *)hdrb);
        } else {
            snprintf(name, sizeof(name), "%.100s", (char *)hdrb);
        }
        int64_t padded = (size + 511) / 512 * 512;
        if (type == 'L') { /* GNU long name: the data is the next entry's name */
            size_t n = size < (int64_t)sizeof(longname) - 1 ? (size_t)size : sizeof(longname) - 1;
            if (fread(longname, 1, n, in) != n) {
                nph_error_set(err, NPH_E_INVALID, "Invalid Tar File: truncated");
                goto done;
            }
            longname[n] = '\0';
            fseeko(in, (off_t)(padded - (int64_t)n), SEEK_CUR);
            continue;
        }
        if (type != '0' && type != '\0') { /* directories, links, pax headers: skipped */
            fseeko(in, (off_t)padded, SEEK_CUR);
            continue;
        }
        /* copy the member into a temporary file of its own, hashing it */
        char tmp[4300], md5[33];
        const char *nm = name;
        while (*nm == '/' || (nm[0] == '.' && nm[1] == '/'))
            nm += nm[0] == '.' ? 2 : 1;
        snprintf(tmp, sizeof(tmp), "%s/images/nph-upload-XXXXXX", app_of(req)->cfg.data_dir);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            nph_error_set(err, NPH_E_IO, "cannot store the archive's files");
            goto done;
        }
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_md5(), NULL);
        int64_t left = size;
        char buf[64 * 1024];
        int bad = 0;
        while (left > 0 && !bad) {
            size_t want = left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf);
            if (fread(buf, 1, want, in) != want || write(fd, buf, want) != (ssize_t)want)
                bad = 1;
            EVP_DigestUpdate(md, buf, want);
            left -= (int64_t)want;
        }
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        EVP_MD_CTX_free(md);
        nph_hex_encode(d, 16, md5);
        md5[32] = '\0';
        close(fd);
        fseeko(in, (off_t)(padded - size), SEEK_CUR);
        if (bad) {
            unlink(tmp);
            nph_error_set(err, NPH_E_INVALID, "Invalid Tar File: truncated");
            goto done;
        }
        char *slash = strchr(nm, '/');
        if (!slash || slash == nm || !slash[1]) {
            unlink(tmp);
            json_array_append_new(errors, json_pack("[s,s]", nm, "400 Bad Request"));
            continue;
        }
        char cont[LOBJ_CONTAINER_NAME_MAX + 1];
        snprintf(cont, sizeof(cont), "%.*s", (int)(slash - nm), nm);
        struct nph_error e = NPH_ERROR_INIT;
        int was_created = 0;
        json_t *nochange = json_object();
        struct lobj_put p;
        memset(&p, 0, sizeof(p));
        p.account = c->account;
        p.container = cont;
        p.name = slash + 1;
        p.src_path = tmp;
        p.size = size;
        p.quota_size = size;
        p.md5 = md5;
        if (local_object_container_put(app_of(req)->object, c->account, cont, nochange,
                                       &was_created, &e) == 0 &&
            local_object_put(app_of(req)->object, &p, NULL, &e) == 0) {
            created++;
        } else {
            unlink(tmp);
            json_array_append_new(errors, json_pack("[s,s]", nm, e.msg));
        }
        json_decref(nochange);
    }
    rc = bulk_reply(req, c->resp, "Number Files Created", created, -1,
                    json_array_size(errors) ? "400 Bad Request" : "201 Created", errors)
             ? nph_error_nomem(err)
             : 0;
done:
    fclose(in);
    json_decref(errors);
    return rc;
}

static int sw_account_bulk_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (strcmp(req->method, "PUT") == 0) {
        if (!http_req_query(req, "extract-archive"))
            return nph_error_set(err, NPH_E_METHOD, "Method Not Allowed");
        return sw_extract_archive(&c, err);
    }
    if (!query_has(req, "bulk-delete"))
        return nph_error_set(err, NPH_E_METHOD, "Method Not Allowed");
    return sw_bulk_delete(&c, err);
}

/* ---- containers -------------------------------------------------------------------------- */

static const char *const container_extra[] = {"x-container-read", "x-container-write",
                                              "x-versions-location", "x-history-location", NULL};

/* X-Remove-Container-Read/Write remove the ACLs. */
static void acl_removals(struct http_req *req, json_t *changes)
{
    if (http_req_header(req, "X-Remove-Container-Read"))
        json_object_set_new(changes, "x-container-read", json_null());
    if (http_req_header(req, "X-Remove-Container-Write"))
        json_object_set_new(changes, "x-container-write", json_null());
}

static int check_quota_values(const json_t *changes, struct nph_error *err)
{
    static const char *const keys[] = {"x-container-meta-quota-bytes",
                                       "x-container-meta-quota-count"};
    for (size_t i = 0; i < 2; i++) {
        const char *q = json_string_value(json_object_get(changes, keys[i]));
        char *end;
        if (q && *q && (strtoll(q, &end, 10) < 0 || *end))
            return nph_error_set(err, NPH_E_INVALID, "Invalid %s quota.",
                                 i == 0 ? "bytes" : "count");
    }
    return 0;
}

static int sw_container_put_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *changes;
    int created = 0, rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (!c.owner && !c.admin)
        return deny(&c, err);
    if (lobj_container_name_check(req->params[1], err))
        return -1;
    changes =
        collect_meta(req, "x-container-meta-", "x-remove-container-meta-", container_extra, err);
    if (!changes)
        return -1;
    acl_removals(req, changes);
    if (check_quota_values(changes, err) == 0 &&
        local_object_container_put(app_of(req)->object, c.account, req->params[1], changes,
                                   &created, err) == 0) {
        empty(resp, created ? 201 : 202, CT_HTML);
        rc = 0;
    }
    json_decref(changes);
    return rc;
}

static int sw_container_post_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *changes, *ci;
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    ci = local_object_container_get(app_of(req)->object, c.account, req->params[1], err);
    if (!c.owner && !c.admin) {
        json_decref(ci);
        return deny(&c, err);
    }
    if (!ci)
        return -1;
    json_decref(ci);
    changes =
        collect_meta(req, "x-container-meta-", "x-remove-container-meta-", container_extra, err);
    if (!changes)
        return -1;
    acl_removals(req, changes);
    if (check_quota_values(changes, err) == 0 &&
        local_object_container_update(app_of(req)->object, c.account, req->params[1], changes,
                                      err) == 0) {
        empty(resp, 204, CT_HTML);
        rc = 0;
    }
    json_decref(changes);
    return rc;
}

static int sw_container_delete_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (!c.owner && !c.admin)
        return deny(&c, err);
    if (local_object_container_delete(app_of(req)->object, c.account, req->params[1], err))
        return -1;
    empty(resp, 204, CT_HTML);
    return 0;
}

static int sw_container_get_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    struct lobj_list_params p;
    char pathbuf[LOBJ_OBJECT_NAME_MAX + 2];
    json_t *ci = NULL, *list = NULL;
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    ci = local_object_container_get(app_of(req)->object, c.account, req->params[1], err);
    if (may(&c, ci, 0, 1, err) || !ci)
        goto done;
    hdr_i64(resp, "X-Container-Object-Count", json_integer_value(json_object_get(ci, "objects")));
    hdr_i64(resp, "X-Container-Bytes-Used", json_integer_value(json_object_get(ci, "bytes")));
    hdr(resp, "X-Storage-Policy", SW_POLICY);
    hdr(resp, "Accept-Ranges", "bytes");
    put_time_headers(resp, json_integer_value(json_object_get(ci, "created")),
                     json_integer_value(json_object_get(ci, "modified")));
    put_meta_headers(resp, json_object_get(ci, "meta"), c.owner || c.admin);
    if (strcmp(req->method, "HEAD") == 0) {
        empty(resp, 204, CT_TEXT);
        rc = 0;
        goto done;
    }
    if (parse_list_params(req, &p, pathbuf, sizeof(pathbuf), err))
        goto done;
    list = local_object_object_list(app_of(req)->object, c.account, req->params[1], &p, err);
    if (!list)
        goto done;
    rc = render_listing(req, resp, list, req->params[1], 0, err);
done:
    json_decref(ci);
    json_decref(list);
    return rc;
}

/* ---- streaming bodies -------------------------------------------------------------------- */

/* A segment sent whole is verified while it streams: by its CRC-32C when the store recorded
 * one (has_crc), else by its MD5 (objects stored before CRCs were); md5 "" and no has_crc =
 * not verified. */
struct seg {
    char *path;
    int64_t off, len; /* the part of the file sent */
    char md5[33];
    bool has_crc;
    uint32_t crc;
};

struct seg_stream {
    struct seg *segs;
    size_t n, cap;
    size_t cur;      /* segment being sent */
    int64_t cur_pos; /* bytes of it sent */
    int fd;
    EVP_MD_CTX *md;
    uint32_t crc_run; /* the current segment's CRC so far */
};

static void seg_stream_free(void *ctx)
{
    struct seg_stream *s = ctx;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->segs[i].path);
    free(s->segs);
    if (s->fd >= 0)
        close(s->fd);
    EVP_MD_CTX_free(s->md);
    free(s);
}

static struct seg_stream *seg_stream_new(void)
{
    struct seg_stream *s = calloc(1, sizeof(*s));
    if (s)
        s->fd = -1;
    return s;
}

/* Add part of a file; verify names the object record to verify the part against (sent whole
 * only), or is NULL. */
static int seg_add(struct seg_stream *s, const char *path, int64_t off, int64_t len,
                   const json_t *verify)
{
    if (len <= 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct seg *ns = realloc(s->segs, cap * sizeof(*ns));
        if (!ns)
            return -1;
        s->segs = ns;
        s->cap = cap;
    }
    struct seg *g = &s->segs[s->n];
    g->path = strdup(path);
    if (!g->path)
        return -1;
    g->off = off;
    g->len = len;
    const json_t *crc = json_object_get(verify, "crc32c");
    g->has_crc = json_is_integer(crc);
    g->crc = (uint32_t)json_integer_value(crc);
    snprintf(g->md5, sizeof(g->md5), "%s",
             verify && !g->has_crc ? json_string_value(json_object_get(verify, "md5")) : "");
    s->n++;
    return 0;
}

/* The whole of segment g was read: does its file match its record (and end there)? */
static bool seg_matches(struct seg_stream *s, const struct seg *g)
{
    char extra[1];
    bool ok;
    if (read(s->fd, extra, 1) != 0) /* the file grew or shrank: not ours */
        return false;
    if (g->has_crc) {
        ok = s->crc_run == g->crc;
    } else {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char hex[33];
        EVP_DigestFinal_ex(s->md, md, &mdlen);
        nph_hex_encode(md, 16, hex);
        hex[32] = '\0';
        ok = strcasecmp(hex, g->md5) == 0;
    }
    if (!ok)
        nph_log(NPH_LOG_ERROR, "swift.checksum", "path", g->path, "msg",
                "the object's data failed its checksum; response cut short", NULL);
    return ok;
}

static long seg_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct seg_stream *s = ctx;
    (void)pos; /* libmicrohttpd reads sequentially */
    while (s->cur < s->n) {
        struct seg *g = &s->segs[s->cur];
        if (s->fd < 0) {
            s->fd = open(g->path, O_RDONLY | O_CLOEXEC);
            if (s->fd < 0 || (g->off && lseek(s->fd, g->off, SEEK_SET) < 0)) {
                nph_log(NPH_LOG_ERROR, "swift.read", "path", g->path, "msg", strerror(errno), NULL);
                return -1;
            }
            s->cur_pos = 0;
            s->crc_run = 0;
            if (g->md5[0]) {
                if (!s->md)
                    s->md = EVP_MD_CTX_new();
                if (!s->md || !EVP_DigestInit_ex(s->md, EVP_md5(), NULL))
                    return -1;
            }
        }
        int64_t left = g->len - s->cur_pos;
        if (left <= 0) {
            close(s->fd);
            s->fd = -1;
            s->cur++;
            continue;
        }
        size_t want = (int64_t)max < left ? max : (size_t)left;
        ssize_t r;
        do
            r = read(s->fd, buf, want);
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            nph_log(NPH_LOG_ERROR, "swift.read", "path", g->path, "msg",
                    r < 0 ? strerror(errno) : "the file is shorter than its record", NULL);
            return -1;
        }
        s->cur_pos += r;
        if (g->has_crc)
            s->crc_run = nph_crc32c(s->crc_run, buf, (size_t)r);
        else if (g->md5[0])
            EVP_DigestUpdate(s->md, buf, (size_t)r);
        if ((g->has_crc || g->md5[0]) && s->cur_pos == g->len && !seg_matches(s, g))
            return -1; /* the segment's last bytes go out only when the whole file matches */
        return (long)r;
    }
    return -1;
}

/* ---- objects ----------------------------------------------------------------------------- */

static const char *const object_extra[] = {"content-disposition", "content-encoding",
                                           "x-object-manifest", NULL};

static void etag_header(struct http_resp *resp, const json_t *o, const char *etag_override)
{
    char b[80];
    int kind = (int)json_integer_value(json_object_get(o, "kind"));
    const char *etag =
        etag_override ? etag_override : json_string_value(json_object_get(o, "etag"));
    if (kind != LOBJ_PLAIN)
        snprintf(b, sizeof(b), "\"%s\"", etag);
    else
        snprintf(b, sizeof(b), "%s", etag);
    hdr(resp, "Etag", b);
}

static void object_headers(struct http_resp *resp, const json_t *o)
{
    json_t *d = json_object_get(o, "delete_at");
    int kind = (int)json_integer_value(json_object_get(o, "kind"));
    hdr(resp, "Accept-Ranges", "bytes");
    put_time_headers(resp, json_integer_value(json_object_get(o, "modified")),
                     json_integer_value(json_object_get(o, "modified")));
    put_meta_headers(resp, json_object_get(o, "meta"), 1);
    if (json_is_integer(d))
        hdr_i64(resp, "X-Delete-At", json_integer_value(d));
    if (kind == LOBJ_SLO)
        hdr(resp, "X-Static-Large-Object", "True");
}

/* X-Delete-At / X-Delete-After -> seconds (0 = none). -1 with NPH_E_INVALID. */
static int delete_at_of(struct http_req *req, int64_t *out, struct nph_error *err)
{
    const char *at = http_req_header(req, "X-Delete-At");
    const char *after = http_req_header(req, "X-Delete-After");
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    char *end;
    *out = 0;
    if (after) {
        errno = 0;
        long long v = strtoll(after, &end, 10);
        if (errno || *end || end == after || v < 0)
            return nph_error_set(err, NPH_E_INVALID, "Non-integer X-Delete-After");
        *out = now + v;
        return 0;
    }
    if (at) {
        errno = 0;
        long long v = strtoll(at, &end, 10);
        if (errno || (*end && *end != '.') || end == at)
            return nph_error_set(err, NPH_E_INVALID, "Non-integer X-Delete-At");
        if (v <= now)
            return nph_error_set(err, NPH_E_INVALID, "X-Delete-At in past");
        *out = v;
    }
    return 0;
}

/* resp->content_type must outlive the handler (the server reads it right after, on this
 * thread): the object's type is copied here. */
static _Thread_local char ct_buf[512];

static const char *stable_ct(const json_t *o)
{
    snprintf(ct_buf, sizeof(ct_buf), "%s", json_string_value(json_object_get(o, "content_type")));
    return ct_buf;
}

static const char *content_type_of(struct http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    return ct && *ct ? ct : NULL;
}

/* The container record for access checks and existence (NULL + err when absent). */
static json_t *container_for(struct sw_ctx *c, const char *container, int write,
                             struct nph_error *err)
{
    json_t *ci = local_object_container_get(app_of(c->req)->object, c->account, container, err);
    if (may(c, ci, write, 0, err)) {
        json_decref(ci);
        return NULL;
    }
    return ci;
}

/* Split "container/object" (leading '/' allowed) into parts (malloc'd in *buf). */
static int split_path(const char *s, char **buf, const char **cont, const char **obj,
                      struct nph_error *err)
{
    char *slash;
    if (!s)
        return nph_error_set(err, NPH_E_INVALID, "missing path");
    while (*s == '/')
        s++;
    *buf = strdup(s);
    if (!*buf)
        return nph_error_nomem(err);
    slash = strchr(*buf, '/');
    if (!slash || slash == *buf || !slash[1]) {
        free(*buf);
        *buf = NULL;
        return sw_status(err, 412,
                         "X-Copy-From header must be of the form <container name>/<object name>");
    }
    *slash = '\0';
    *cont = *buf;
    *obj = slash + 1;
    return 0;
}

static int do_copy(struct sw_ctx *c, const char *src_cont, const char *src_obj,
                   const char *dst_cont, const char *dst_obj, struct nph_error *err)
{
    struct http_req *req = c->req;
    json_t *src_ci = NULL, *dst_ci = NULL, *meta = NULL, *out = NULL, *src = NULL;
    int64_t delete_at = 0;
    int rc = -1;
    const char *fresh = http_req_header(req, "X-Fresh-Metadata");
    src_ci = container_for(c, src_cont, 0, err);
    if (!src_ci)
        goto done;
    dst_ci = container_for(c, dst_cont, 1, err);
    if (!dst_ci)
        goto done;
    src = local_object_get(app_of(req)->object, c->account, src_cont, src_obj, err);
    if (!src)
        goto done;
    if (delete_at_of(req, &delete_at, err))
        goto done;
    meta = collect_meta(req, "x-object-meta-", NULL, object_extra, err);
    if (!meta)
        goto done;
    if (local_object_copy(app_of(req)->object, c->account, src_cont, src_obj, c->account, dst_cont,
                          dst_obj, meta, content_type_of(req),
                          fresh && strcasecmp(fresh, "true") == 0, delete_at, &out, err))
        goto done;
    {
        char b[2200], d[64];
        snprintf(b, sizeof(b), "%s/%s", src_cont, src_obj);
        hdr(c->resp, "X-Copied-From", b);
        hdr(c->resp, "X-Copied-From-Account", c->account);
        http_date(json_integer_value(json_object_get(src, "modified")) + NPH_USEC_PER_SEC - 1, d,
                  sizeof(d));
        hdr(c->resp, "X-Copied-From-Last-Modified", d);
    }
    etag_header(c->resp, out, NULL);
    put_time_headers(c->resp, json_integer_value(json_object_get(out, "modified")),
                     json_integer_value(json_object_get(out, "modified")));
    empty(c->resp, 201, CT_HTML);
    rc = 0;
done:
    json_decref(src_ci);
    json_decref(dst_ci);
    json_decref(meta);
    json_decref(out);
    json_decref(src);
    return rc;
}

/* ---- legacy versioned writes (X-Versions-Location) ------------------------------------------
 * An overwrite first copies the current version to <versions>/<len:03x><name>/<timestamp>; a
 * DELETE restores the newest saved version (and removes it from the versions container)
 * instead of deleting, until none is left. */

static const char *versions_of(const json_t *ci)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(ci, "meta"), "x-versions-location"));
    return v && *v ? v : NULL;
}

static int version_save(struct sw_ctx *c, const json_t *ci, const char *cont, const char *name,
                        struct nph_error *err)
{
    const char *vc = versions_of(ci);
    json_t *o, *vci;
    char vname[LOBJ_OBJECT_NAME_MAX + 64];
    int64_t m;
    int rc;
    if (!vc)
        return 0;
    vci = container_for(c, vc, 1, err);
    if (!vci)
        return -1;
    json_decref(vci);
    o = local_object_get(app_of(c->req)->object, c->account, cont, name, err);
    if (!o) {
        if (err->code != NPH_E_NOT_FOUND)
            return -1;
        nph_error_clear(err);
        return 0;
    }
    m = json_integer_value(json_object_get(o, "modified"));
    json_decref(o);
    snprintf(vname, sizeof(vname), "%03zx%s/%lld.%06lld", strlen(name), name,
             (long long)(m / NPH_USEC_PER_SEC), (long long)(m % NPH_USEC_PER_SEC));
    rc = local_object_copy(app_of(c->req)->object, c->account, cont, name, c->account, vc, vname,
                           NULL, NULL, 0, 0, NULL, err);
    return rc;
}

/* 1 when a saved version was restored over name, 0 when there is none, -1 on errors. */
static int version_restore(struct sw_ctx *c, const json_t *ci, const char *cont, const char *name,
                           struct nph_error *err)
{
    const char *vc = versions_of(ci);
    char prefix[LOBJ_OBJECT_NAME_MAX + 16];
    struct lobj_list_params p;
    json_t *list, *vci;
    const char *vname;
    int rc = 0;
    if (!vc)
        return 0;
    vci = container_for(c, vc, 1, err);
    if (!vci)
        return -1;
    json_decref(vci);
    snprintf(prefix, sizeof(prefix), "%03zx%s/", strlen(name), name);
    memset(&p, 0, sizeof(p));
    p.prefix = prefix;
    p.reverse = 1;
    p.limit = 1;
    list = local_object_object_list(app_of(c->req)->object, c->account, vc, &p, err);
    if (!list)
        return -1;
    vname = json_string_value(json_object_get(json_array_get(list, 0), "name"));
    if (vname) {
        if (local_object_copy(app_of(c->req)->object, c->account, vc, vname, c->account, cont, name,
                              NULL, NULL, 0, 0, NULL, err) ||
            local_object_delete(app_of(c->req)->object, c->account, vc, vname, err))
            rc = -1;
        else
            rc = 1;
    }
    json_decref(list);
    return rc;
}

/* multipart-manifest=put: validate the segments and build the stored manifest. */
static int slo_build(struct sw_ctx *c, const char *path, int64_t body_len, json_t **stored,
                     int64_t *total, char slo_etag[33], struct nph_error *err)
{
    char *text = NULL;
    json_t *segs = NULL, *out = NULL, *e;
    size_t i;
    EVP_MD_CTX *md = NULL;
    int rc = -1;
    FILE *f;
    if (body_len > SW_MANIFEST_MAX)
        return nph_error_set(err, NPH_E_TOO_LARGE, "Manifest File > %d bytes", SW_MANIFEST_MAX);
    text = malloc((size_t)body_len + 1);
    if (!text)
        return nph_error_nomem(err);
    f = fopen(path, "rb");
    if (!f || fread(text, 1, (size_t)body_len, f) != (size_t)body_len) {
        if (f)
            fclose(f);
        free(text);
        return nph_error_set(err, NPH_E_IO, "cannot read the manifest");
    }
    fclose(f);
    segs = lobj_slo_parse(text, (size_t)body_len, err);
    if (!segs)
        goto done;
    out = json_array();
    md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        nph_error_nomem(err);
        goto done;
    }
    *total = 0;
    json_array_foreach(segs, i, e)
    {
        const char *sc = json_string_value(json_object_get(e, "container"));
        const char *sn = json_string_value(json_object_get(e, "name"));
        json_t *ci = container_for(c, sc, 0, err), *so;
        if (!ci) {
            nph_error_prefix(err, "Errors: /%s/%s", sc, sn);
            goto done;
        }
        json_decref(ci);
        so = local_object_get(app_of(c->req)->object, c->account, sc, sn, err);
        if (!so) {
            nph_error_set(err, NPH_E_INVALID, "Errors:\n/%s/%s, 404 Not Found", sc, sn);
            goto done;
        }
        const char *etag = json_string_value(json_object_get(so, "etag"));
        int64_t size = json_integer_value(json_object_get(so, "size"));
        json_t *we = json_object_get(e, "etag"), *ws = json_object_get(e, "size_bytes");
        if (json_integer_value(json_object_get(so, "kind")) != LOBJ_PLAIN) {
            json_decref(so);
            nph_error_set(err, NPH_E_INVALID,
                          "Errors:\n/%s/%s, nested large objects are not supported", sc, sn);
            goto done;
        }
        if ((json_is_string(we) && strcasecmp(json_string_value(we), etag) != 0) ||
            (json_is_integer(ws) && json_integer_value(ws) != size)) {
            json_decref(so);
            nph_error_set(err, NPH_E_INVALID, "Errors:\n/%s/%s, %s Mismatch", sc, sn,
                          json_is_string(we) && strcasecmp(json_string_value(we), etag) != 0
                              ? "Etag"
                              : "Size");
            goto done;
        }
        EVP_DigestUpdate(md, etag, strlen(etag));
        *total += size;
        json_array_append_new(out,
                              json_pack("{s:s%,s:s,s:I,s:s,s:s}", "name", "", (size_t)0, "hash",
                                        etag, "bytes", (json_int_t)size, "content_type",
                                        json_string_value(json_object_get(so, "content_type")),
                                        "last_modified", ""));
        {
            json_t *last = json_array_get(out, json_array_size(out) - 1);
            char lm[40], nm[2200];
            time_t t =
                (time_t)(json_integer_value(json_object_get(so, "modified")) / NPH_USEC_PER_SEC);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(lm, sizeof(lm), "%Y-%m-%dT%H:%M:%S.000000", &tm);
            snprintf(nm, sizeof(nm), "/%s/%s", sc, sn);
            json_object_set_new(last, "name", json_string(nm));
            json_object_set_new(last, "last_modified", json_string(lm));
        }
        json_decref(so);
    }
    {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        nph_hex_encode(d, 16, slo_etag);
        slo_etag[32] = '\0';
    }
    *stored = out;
    out = NULL;
    rc = 0;
done:
    EVP_MD_CTX_free(md);
    json_decref(segs);
    json_decref(out);
    free(text);
    return rc;
}

static void lower_hex(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
}

static int sw_object_put_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *ci = NULL, *meta = NULL, *out = NULL, *stored = NULL;
    const char *cont = req->params[1], *name = req->params[2];
    const char *copy_from = http_req_header(req, "X-Copy-From");
    const char *mm = http_req_query(req, "multipart-manifest");
    const char *client_etag = http_req_header(req, "ETag");
    char etag_in[40] = "", slo_etag[33] = "", *manifest_text = NULL, *cfbuf = NULL;
    int64_t delete_at = 0, total = 0;
    struct lobj_put p;
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (lobj_object_name_check(name, err))
        return -1;
    ci = container_for(&c, cont, 1, err);
    if (!ci)
        goto done;
    if (copy_from) {
        const char *sc, *so;
        if (split_path(copy_from, &cfbuf, &sc, &so, err))
            goto done;
        rc = do_copy(&c, sc, so, cont, name, err);
        goto done;
    }
    if (!req->body_path || !req->body_md5[0]) {
        nph_error_set(err, NPH_E_INTERNAL, "the upload has no file");
        goto done;
    }
    if (delete_at_of(req, &delete_at, err))
        goto done;
    meta = collect_meta(req, "x-object-meta-", NULL, object_extra, err);
    if (!meta)
        goto done;
    json_object_del(meta, "x-object-manifest"); /* kept in the record, not as metadata */
    if (client_etag) {
        const char *e = client_etag;
        size_t n = strlen(e);
        if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
            e++;
            n -= 2;
        }
        snprintf(etag_in, sizeof(etag_in), "%.*s", (int)(n < 39 ? n : 39), e);
        lower_hex(etag_in);
    }
    memset(&p, 0, sizeof(p));
    p.account = c.account;
    p.container = cont;
    p.name = name;
    p.size = (int64_t)req->body_len;
    p.quota_size = (int64_t)req->body_len;
    p.md5 = req->body_md5;
    p.has_crc32c = req->body_crc32c >= 0;
    p.crc32c = (uint32_t)req->body_crc32c;
    p.content_type = content_type_of(req);
    p.meta = meta;
    p.delete_at = delete_at;
    if (mm && strcmp(mm, "put") == 0) {
        if (slo_build(&c, req->body_path, (int64_t)req->body_len, &stored, &total, slo_etag, err))
            goto done;
        if (etag_in[0] && strcmp(etag_in, slo_etag) != 0) {
            nph_error_set(err, NPH_E_UNPROCESSABLE, "Unable to process the contained instructions");
            goto done;
        }
        manifest_text = nph_json_dumps(stored);
        if (!manifest_text) {
            nph_error_nomem(err);
            goto done;
        }
        p.kind = LOBJ_SLO;
        p.manifest = manifest_text;
        p.size = total;
        p.etag = slo_etag;
    } else {
        if (etag_in[0] && strcmp(etag_in, req->body_md5) != 0) {
            nph_error_set(err, NPH_E_UNPROCESSABLE, "Unable to process the contained instructions");
            goto done;
        }
        const char *dlo = http_req_header(req, "X-Object-Manifest");
        if (dlo) {
            const char *s = dlo;
            while (*s == '/')
                s++;
            if (!strchr(s, '/') || strchr(s, '/') == s) {
                nph_error_set(err, NPH_E_INVALID,
                              "X-Object-Manifest must be in the format container/prefix");
                goto done;
            }
            p.kind = LOBJ_DLO;
            p.manifest = s;
        }
    }
    if (version_save(&c, ci, cont, name, err))
        goto done;
    p.src_path = req->body_path;
    req->body_path = NULL; /* local_object_put consumes it */
    if (local_object_put(app_of(req)->object, &p, &out, err))
        goto done;
    etag_header(resp, out, NULL);
    put_time_headers(resp, json_integer_value(json_object_get(out, "modified")),
                     json_integer_value(json_object_get(out, "modified")));
    empty(resp, 201, CT_HTML);
    rc = 0;
done:
    free(cfbuf);
    free(manifest_text);
    json_decref(stored);
    json_decref(ci);
    json_decref(meta);
    json_decref(out);
    return rc;
}

/* DLO: the segments (objects under container/prefix, in name order). */
static json_t *dlo_segments(struct sw_ctx *c, const char *manifest, int64_t *total, char etag[33],
                            struct nph_error *err)
{
    char *buf = strdup(manifest), *slash;
    struct lobj_list_params p;
    json_t *list = NULL, *out = NULL, *e, *ci;
    size_t i;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!buf || !md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        nph_error_nomem(err);
        goto done;
    }
    slash = strchr(buf, '/');
    if (!slash) {
        nph_error_set(err, NPH_E_INVALID, "bad X-Object-Manifest");
        goto done;
    }
    *slash = '\0';
    ci = container_for(c, buf, 0, err);
    if (!ci)
        goto done;
    json_decref(ci);
    memset(&p, 0, sizeof(p));
    p.prefix = slash[1] ? slash + 1 : NULL;
    p.limit = LOBJ_LISTING_LIMIT;
    list = local_object_object_list(app_of(c->req)->object, c->account, buf, &p, err);
    if (!list)
        goto done;
    out = json_array();
    *total = 0;
    json_array_foreach(list, i, e)
    {
        json_t *o = local_object_get(app_of(c->req)->object, c->account, buf,
                                     json_string_value(json_object_get(e, "name")), err);
        if (!o) {
            nph_error_clear(err);
            continue;
        }
        if (json_integer_value(json_object_get(o, "kind")) != LOBJ_PLAIN) {
            json_decref(o);
            continue;
        }
        const char *et = json_string_value(json_object_get(o, "etag"));
        EVP_DigestUpdate(md, et, strlen(et));
        *total += json_integer_value(json_object_get(o, "size"));
        json_array_append_new(out, o);
    }
    {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        nph_hex_encode(d, 16, etag);
        etag[32] = '\0';
    }
done:
    EVP_MD_CTX_free(md);
    json_decref(list);
    free(buf);
    return out;
}

/* SLO: the segment records in manifest order. */
static json_t *slo_segments(struct sw_ctx *c, const json_t *o, struct nph_error *err)
{
    json_t *man = json_loads(json_string_value(json_object_get(o, "manifest")), 0, NULL);
    json_t *out = json_array(), *e;
    size_t i;
    if (!json_is_array(man)) {
        json_decref(man);
        json_decref(out);
        nph_error_set(err, NPH_E_INTERNAL, "the large object's manifest is unreadable");
        return NULL;
    }
    json_array_foreach(man, i, e)
    {
        const char *nm = json_string_value(json_object_get(e, "name"));
        char *buf = NULL;
        const char *sc, *sn;
        json_t *so, *ci;
        if (split_path(nm, &buf, &sc, &sn, err))
            goto fail;
        ci = container_for(c, sc, 0, err);
        so = ci ? local_object_get(app_of(c->req)->object, c->account, sc, sn, err) : NULL;
        json_decref(ci);
        free(buf);
        if (!so) {
            nph_error_set(err, NPH_E_CONFLICT, "a segment of the large object is missing");
            goto fail;
        }
        if (strcmp(json_string_value(json_object_get(so, "etag")),
                   json_string_value(json_object_get(e, "hash"))) != 0) {
            json_decref(so);
            nph_error_set(err, NPH_E_CONFLICT, "a segment of the large object has changed");
            goto fail;
        }
        json_array_append_new(out, so);
    }
    json_decref(man);
    return out;
fail:
    json_decref(man);
    json_decref(out);
    return NULL;
}

static int etag_matches(const char *list, const char *etag)
{
    /* If-Match / If-None-Match: "*" or a comma-separated list of (quoted) tags. */
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        const char *t = p;
        if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
            t++;
            n -= 2;
        }
        if ((n == 1 && t[0] == '*') || (strlen(etag) == n && strncasecmp(t, etag, n) == 0))
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int sw_object_get_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *ci = NULL, *o = NULL, *segs = NULL, *e;
    const char *cont = req->params[1], *name = req->params[2];
    const char *mm = http_req_query(req, "multipart-manifest");
    int head = strcmp(req->method, "HEAD") == 0;
    struct seg_stream *ss = NULL;
    int64_t size, first = 0, last = 0;
    char big_etag[33] = "";
    int kind, ranged = 0, rc = -1;
    size_t i;
    if (sw_begin(req, resp, &c, err))
        return -1;
    ci = container_for(&c, cont, 0, err);
    if (!ci)
        goto done;
    o = local_object_get(app_of(req)->object, c.account, cont, name, err);
    if (!o)
        goto done;
    kind = (int)json_integer_value(json_object_get(o, "kind"));
    size = json_integer_value(json_object_get(o, "size"));
    object_headers(resp, o);
    if (kind == LOBJ_SLO && mm && strcmp(mm, "get") == 0) {
        /* the manifest itself, as Swift stores it */
        if (http_resp_text(resp, 200, "application/json; charset=utf-8",
                           json_string_value(json_object_get(o, "manifest")))) {
            nph_error_nomem(err);
            goto done;
        }
        rc = 0;
        goto done;
    }
    if (kind == LOBJ_DLO) {
        segs = dlo_segments(&c, json_string_value(json_object_get(o, "manifest")), &size, big_etag,
                            err);
        if (!segs)
            goto done;
        hdr(resp, "X-Object-Manifest", json_string_value(json_object_get(o, "manifest")));
        etag_header(resp, o, big_etag);
    } else if (kind == LOBJ_SLO) {
        segs = slo_segments(&c, o, err);
        if (!segs)
            goto done;
        etag_header(resp, o, NULL);
    } else {
        segs = json_pack("[O]", o);
        etag_header(resp, o, NULL);
    }
    {
        const char *inm = http_req_header(req, "If-None-Match");
        const char *im = http_req_header(req, "If-Match");
        const char *etag =
            kind == LOBJ_DLO ? big_etag : json_string_value(json_object_get(o, "etag"));
        if (im && !etag_matches(im, etag)) {
            sw_status(err, 412, "Precondition Failed");
            goto done;
        }
        if (inm && etag_matches(inm, etag)) {
            resp->status = 304;
            rc = 0;
            goto done;
        }
    }
    {
        const char *range = http_req_header(req, "Range");
        int r = range ? lobj_range_parse(range, size, &first, &last) : -1;
        if (r == 0) {
            char b[64];
            snprintf(b, sizeof(b), "bytes */%lld", (long long)size);
            sw_status(err, 416, "The Range requested is not available.");
            sw_fault(resp, err);
            hdr(resp, "X-Trans-Id", req->request_id);
            hdr(resp, "Content-Range", b);
            nph_error_clear(err);
            rc = 0;
            goto done;
        }
        if (r == 1) {
            char b[96];
            ranged = 1;
            snprintf(b, sizeof(b), "bytes %lld-%lld/%lld", (long long)first, (long long)last,
                     (long long)size);
            hdr(resp, "Content-Range", b);
        } else {
            first = 0;
            last = size - 1;
        }
    }
    /* verify small bodies before sending anything */
    if (!head && size <= LOBJ_VERIFY_MAX) {
        json_array_foreach(segs, i, e)
        {
            if (local_object_verify(e, err))
                goto done;
        }
    }
    ss = seg_stream_new();
    if (!ss) {
        nph_error_nomem(err);
        goto done;
    }
    {
        int64_t at = 0; /* offset of this segment in the whole */
        json_array_foreach(segs, i, e)
        {
            int64_t sz = json_integer_value(json_object_get(e, "size"));
            int64_t s0 = at, s1 = at + sz - 1;
            at += sz;
            if (sz == 0 || s1 < first || s0 > last)
                continue;
            int64_t off = first > s0 ? first - s0 : 0;
            int64_t end = last < s1 ? last - s0 : sz - 1;
            int whole = off == 0 && end == sz - 1;
            if (seg_add(ss, json_string_value(json_object_get(e, "path")), off, end - off + 1,
                        whole && size > LOBJ_VERIFY_MAX ? e : NULL)) {
                nph_error_nomem(err);
                goto done;
            }
        }
    }
    if (size == 0) {
        /* an empty body: nothing to stream, but the type still goes out */
        empty(resp, 200, stable_ct(o));
    } else {
        http_resp_stream(resp, ranged ? 206 : 200, stable_ct(o), (uint64_t)(last - first + 1),
                         seg_read, seg_stream_free, ss);
        ss = NULL;
    }
    rc = 0;
done:
    seg_stream_free(ss);
    json_decref(segs);
    json_decref(ci);
    json_decref(o);
    return rc;
}

static int sw_object_delete_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *ci = NULL, *o = NULL;
    const char *cont = req->params[1], *name = req->params[2];
    const char *mm = http_req_query(req, "multipart-manifest");
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    ci = container_for(&c, cont, 1, err);
    if (!ci)
        goto done;
    if (mm && strcmp(mm, "delete") == 0) {
        o = local_object_get(app_of(req)->object, c.account, cont, name, err);
        if (!o)
            goto done;
        if (json_integer_value(json_object_get(o, "kind")) == LOBJ_SLO) {
            json_t *man = json_loads(json_string_value(json_object_get(o, "manifest")), 0, NULL);
            json_t *e;
            size_t i;
            int deleted = 0, missing = 0;
            json_array_foreach(man, i, e)
            {
                char *buf = NULL;
                const char *sc, *sn;
                struct nph_error e2 = NPH_ERROR_INIT;
                if (split_path(json_string_value(json_object_get(e, "name")), &buf, &sc, &sn,
                               &e2) == 0) {
                    json_t *sci = container_for(&c, sc, 1, &e2);
                    if (sci &&
                        local_object_delete(app_of(req)->object, c.account, sc, sn, &e2) == 0)
                        deleted++;
                    else
                        missing++;
                    json_decref(sci);
                }
                free(buf);
            }
            json_decref(man);
            if (local_object_delete(app_of(req)->object, c.account, cont, name, err))
                goto done;
            deleted++;
            char body[256];
            snprintf(body, sizeof(body),
                     "Number Deleted: %d\nNumber Not Found: %d\nResponse Body: \n"
                     "Response Status: 200 OK\nErrors: \n",
                     deleted, missing);
            http_resp_text(resp, 200, CT_TEXT, body);
            rc = 0;
            goto done;
        }
    }
    {
        int restored = version_restore(&c, ci, cont, name, err);
        if (restored < 0)
            goto done;
        if (!restored && local_object_delete(app_of(req)->object, c.account, cont, name, err))
            goto done;
    }
    empty(resp, 204, CT_HTML);
    rc = 0;
done:
    json_decref(ci);
    json_decref(o);
    return rc;
}

static int sw_object_post_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    json_t *ci = NULL, *meta = NULL, *o = NULL;
    const char *cont = req->params[1], *name = req->params[2];
    int64_t delete_at = 0;
    int rc = -1;
    if (sw_begin(req, resp, &c, err))
        return -1;
    ci = container_for(&c, cont, 1, err);
    if (!ci)
        goto done;
    if (delete_at_of(req, &delete_at, err))
        goto done;
    if (!delete_at && http_req_header(req, "X-Remove-Delete-At"))
        delete_at = -1;
    meta = collect_meta(req, "x-object-meta-", NULL, object_extra, err);
    if (!meta)
        goto done;
    json_object_del(meta, "x-object-manifest");
    /* POST replaces the object's metadata (fast-post), keeping nothing of the old */
    {
        const char *k;
        json_t *v, *tmp;
        json_object_foreach_safe(meta, tmp, k, v)
        {
            if (!json_string_value(v) || !*json_string_value(v))
                json_object_del(meta, k);
        }
    }
    const char *dlo = http_req_header(req, "X-Object-Manifest");
    if (dlo) {
        while (*dlo == '/')
            dlo++;
        if (*dlo && (!strchr(dlo, '/') || strchr(dlo, '/') == dlo)) {
            nph_error_set(err, NPH_E_INVALID,
                          "X-Object-Manifest must be in the format container/prefix");
            goto done;
        }
    }
    if (local_object_update(app_of(req)->object, c.account, cont, name, meta, content_type_of(req),
                            delete_at, dlo, err))
        goto done;
    http_resp_text(resp, 202, CT_HTML,
                   "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>");
    rc = 0;
done:
    json_decref(ci);
    json_decref(meta);
    json_decref(o);
    return rc;
}

static int sw_object_copy_(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct sw_ctx c;
    const char *dest = http_req_header(req, "Destination");
    const char *dacct = http_req_header(req, "Destination-Account");
    const char *dc, *dn;
    char *buf = NULL;
    int rc;
    if (sw_begin(req, resp, &c, err))
        return -1;
    if (!dest)
        return sw_status(err, 412, "You must specify a Destination header");
    if (dacct && strcmp(dacct, c.account) != 0)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "copies across accounts are not supported");
    if (split_path(dest, &buf, &dc, &dn, err))
        return -1;
    if (lobj_object_name_check(dn, err)) {
        free(buf);
        return -1;
    }
    rc = do_copy(&c, req->params[1], req->params[2], dc, dn, err);
    free(buf);
    return rc;
}

/* Every handler renders its own faults in Swift's format. */
#define SW_WRAP(fn)                                                                                \
    static int fn(struct http_req *req, struct http_resp *resp, struct nph_error *err)             \
    {                                                                                              \
        if (fn##_(req, resp, err) == 0)                                                            \
            return 0;                                                                              \
        sw_fault(resp, err);                                                                       \
        if (!req->request_id[0] || strncmp(req->request_id, "tx", 2) != 0)                         \
            set_trans_id(req);                                                                     \
        hdr(resp, "X-Trans-Id", req->request_id);                                                  \
        nph_error_clear(err);                                                                      \
        return 0;                                                                                  \
    }

SW_WRAP(sw_account_get)
SW_WRAP(sw_account_post)
SW_WRAP(sw_account_bulk)
SW_WRAP(sw_container_put)
SW_WRAP(sw_container_post)
SW_WRAP(sw_container_delete)
SW_WRAP(sw_container_get)
SW_WRAP(sw_object_put)
SW_WRAP(sw_object_get)
SW_WRAP(sw_object_delete)
SW_WRAP(sw_object_post)
SW_WRAP(sw_object_copy)

#define ACC  SW_PREFIX "/{account}"
#define CONT SW_PREFIX "/{account}/{container}"
#define OBJ  SW_PREFIX "/{account}/{container}/{*}"

const struct http_route compat_swift_routes[] = {
    {"GET", "/info", sw_info, "object.info", SW},
    {"GET", "/object-store/info", sw_info, "object.info", SW},
    {"GET", ACC, sw_account_get, "object.account.get", SW},
    {"POST", ACC, sw_account_post, "object.account.post", SW},
    {"PUT", ACC, sw_account_bulk, "object.account.extract", SW | HTTP_ROUTE_BODY_TO_FILE},
    {"DELETE", ACC, sw_account_bulk, "object.account.bulk_delete", SW},
    {"GET", CONT, sw_container_get, "object.container.get", SW},
    {"PUT", CONT, sw_container_put, "object.container.put", SW},
    {"POST", CONT, sw_container_post, "object.container.post", SW},
    {"DELETE", CONT, sw_container_delete, "object.container.delete", SW},
    {"GET", OBJ, sw_object_get, "object.object.get", SW},
    {"PUT", OBJ, sw_object_put, "object.object.put", SW | HTTP_ROUTE_BODY_TO_FILE},
    {"POST", OBJ, sw_object_post, "object.object.post", SW},
    {"DELETE", OBJ, sw_object_delete, "object.object.delete", SW},
    {"COPY", OBJ, sw_object_copy, "object.object.copy", SW},
    {NULL, NULL, NULL, NULL, 0},
};
