/*
 * openstack_swift.c - the object family over Swift's API (the catalog's object-store
 * endpoint, the account of the cloud's credentials): containers (PUT, HEAD, DELETE), object
 * listings (JSON, marker and prefix), and objects. Uploads and downloads are streamed with
 * their own libcurl handle: the body is read from its file as curl sends it and handed to the
 * sink as it arrives, never gathered in memory. Swift's fault bodies (text or HTML pages)
 * become nph_errors through os_fault_error; an upload sends its MD5 as ETag, so Swift refuses
 * (422) content damaged on the way.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nph_clock.h"
#include "nph_json.h"
#include "openstack_internal.h"

#define SWIFT_FAULT_MAX 4096

static int name_path(const char *bucket, const char *name, char **out, struct nph_error *err)
{
    char *eb = os_escape(bucket), *en = name ? os_escape(name) : NULL;
    int rc = 0;
    if (!eb || (name && !en))
        rc = nph_error_nomem(err);
    else if ((name ? asprintf(out, "/%s/%s", eb, en) : asprintf(out, "/%s", eb)) < 0) {
        *out = NULL;
        rc = nph_error_nomem(err);
    }
    free(eb);
    free(en);
    return rc;
}

static uint64_t header_u64(const struct nph_http_response *r, const char *name)
{
    const char *v = nph_http_response_header(r, name);
    return v ? strtoull(v, NULL, 10) : 0;
}

static int swift_bucket_create(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const char *name, struct nph_error *err)
{
    struct os_call call;
    struct nph_http_response resp;
    char *path = NULL;
    if (name_path(name, NULL, &path, err))
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request_raw(&call, OS_SVC_OBJECT, "PUT", path, NULL, &resp, err);
    if (rc == 0) {
        if (resp.status == 202) /* Swift: it already existed (metadata updated) */
            rc = nph_error_set(err, NPH_E_CONFLICT, "container '%s' exists on cloud '%s'", name,
                               b->name);
        nph_http_response_fini(&resp);
    }
    free(path);
    os_call_fini(&call);
    return rc;
}

static int swift_bucket_head(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             const char *name, struct nph_bucket *out, struct nph_error *err)
{
    struct os_call call;
    struct nph_http_response resp;
    char *path = NULL;
    if (name_path(name, NULL, &path, err))
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request_raw(&call, OS_SVC_OBJECT, "HEAD", path, NULL, &resp, err);
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        nph_backend_strlcpy(out->name, sizeof(out->name), name);
        out->objects = header_u64(&resp, "X-Container-Object-Count");
        out->bytes = header_u64(&resp, "X-Container-Bytes-Used");
        nph_http_response_fini(&resp);
    }
    free(path);
    os_call_fini(&call);
    return rc;
}

static int swift_bucket_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const char *name, struct nph_error *err)
{
    struct os_call call;
    char *path = NULL;
    if (name_path(name, NULL, &path, err))
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_OBJECT, "DELETE", path, NULL, NULL, err);
    free(path);
    os_call_fini(&call);
    return rc;
}

/* GET a listing (the account's, or a container's) as JSON: an array, empty on 204; garbage is
 * NPH_E_BACKEND naming `what`. */
static json_t *swift_list_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                              const char *path, const char *what, struct nph_error *err)
{
    struct os_call call;
    struct nph_http_response resp;
    struct nph_error perr = NPH_ERROR_INIT;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request_raw(&call, OS_SVC_OBJECT, "GET", path, NULL, &resp, err);
    os_call_fini(&call);
    if (rc != 0)
        return NULL;
    json_t *doc =
        resp.status == 204 ? json_array() : nph_json_parse(resp.body, resp.body_len, 8, 0, &perr);
    nph_http_response_fini(&resp);
    if (!json_is_array(doc)) {
        os_garbage(err, b->name, "GET", what, doc ? "not a JSON array" : perr.msg);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int swift_bucket_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             const char *marker, int limit, struct nph_bucket_list *out,
                             struct nph_error *err)
{
    char *path = NULL, *em = marker ? os_escape(marker) : NULL;
    json_t *doc = NULL;
    int rc = -1;
    if (limit <= 0 || limit > 1000)
        limit = 1000;
    if (marker && !em) {
        nph_error_nomem(err);
        goto done;
    }
    /* the account itself: its URL is the endpoint's */
    if (asprintf(&path, "?format=json&limit=%d%s%s", limit + 1, em ? "&marker=" : "",
                 em ? em : "") < 0) {
        path = NULL;
        nph_error_nomem(err);
        goto done;
    }
    if (!(doc = swift_list_get(b, ctx, path, "/", err)))
        goto done;
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        if (out->n >= (size_t)limit) {
            out->truncated = 1;
            break;
        }
        const char *n = json_string_value(json_object_get(o, "name"));
        const json_t *count = json_object_get(o, "count"), *bytes = json_object_get(o, "bytes");
        if (!n || !json_is_integer(count) || json_integer_value(count) < 0 ||
            !json_is_integer(bytes) || json_integer_value(bytes) < 0) {
            os_garbage(err, b->name, "GET", "/", "a container without a name, count or bytes");
            goto done;
        }
        struct nph_bucket c;
        memset(&c, 0, sizeof(c));
        nph_backend_strlcpy(c.name, sizeof(c.name), n);
        c.objects = (uint64_t)json_integer_value(count);
        c.bytes = (uint64_t)json_integer_value(bytes);
        if (nph_bucket_list_push(out, &c) != 0) {
            nph_error_nomem(err);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(doc);
    free(em);
    free(path);
    return rc;
}

static int swift_object_list(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             const char *bucket, const char *prefix, const char *marker, int limit,
                             struct nph_object_list *out, struct nph_error *err)
{
    char *base = NULL, *path = NULL, *ep = prefix ? os_escape(prefix) : NULL,
         *em = marker ? os_escape(marker) : NULL;
    json_t *doc = NULL;
    int rc = -1;
    if (limit <= 0 || limit > 1000)
        limit = 1000;
    if ((prefix && !ep) || (marker && !em)) {
        nph_error_nomem(err);
        goto done;
    }
    if (name_path(bucket, NULL, &base, err))
        goto done;
    /* one more than asked: its presence says the listing goes on */
    if (asprintf(&path, "%s?format=json&limit=%d%s%s%s%s", base, limit + 1, ep ? "&prefix=" : "",
                 ep ? ep : "", em ? "&marker=" : "", em ? em : "") < 0) {
        path = NULL;
        nph_error_nomem(err);
        goto done;
    }
    if (!(doc = swift_list_get(b, ctx, path, "/{container}", err)))
        goto done;
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        if (out->n >= (size_t)limit) {
            out->truncated = 1;
            break;
        }
        struct nph_object_info info;
        memset(&info, 0, sizeof(info));
        const char *n = json_string_value(json_object_get(o, "name"));
        const json_t *bytes = json_object_get(o, "bytes");
        if (!n) /* a "subdir" entry (no delimiter is sent) or garbage */
            continue;
        if (!json_is_integer(bytes) || json_integer_value(bytes) < 0) {
            os_garbage(err, b->name, "GET", "/{container}", "'bytes' is not a count");
            goto done;
        }
        nph_backend_strlcpy(info.name, sizeof(info.name), n);
        info.size = (uint64_t)json_integer_value(bytes);
        nph_backend_strlcpy(info.etag, sizeof(info.etag),
                            json_string_value(json_object_get(o, "hash")));
        nph_backend_strlcpy(info.content_type, sizeof(info.content_type),
                            json_string_value(json_object_get(o, "content_type")));
        nph_backend_strlcpy(info.last_modified, sizeof(info.last_modified),
                            json_string_value(json_object_get(o, "last_modified")));
        if (nph_object_list_push(out, &info) != 0) {
            nph_error_nomem(err);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(doc);
    free(ep);
    free(em);
    free(base);
    free(path);
    return rc;
}

/* ---- streamed transfers -------------------------------------------------------------------- */

struct xfer {
    FILE *in;                /* upload body, or NULL */
    nph_object_sink_fn sink; /* download: where 2xx bytes go */
    void *arg;
    struct nph_error *err; /* the sink's error */
    int sink_failed;
    long status;                     /* of the last status line */
    char fault[SWIFT_FAULT_MAX + 1]; /* a non-2xx body, bounded */
    size_t fault_len;
    struct nph_object_info *info;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t r = fread(buf, 1, size * n, x->in);
    if (r == 0 && ferror(x->in))
        return CURL_READFUNC_ABORT;
    return r;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1),
             buf);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon || !x->info)
        return len;
    *colon = '\0';
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "Content-Length") == 0)
        x->info->size = strtoull(v, NULL, 10);
    else if (strcasecmp(line, "ETag") == 0)
        nph_backend_strlcpy(x->info->etag, sizeof(x->info->etag), v);
    else if (strcasecmp(line, "Content-Type") == 0)
        nph_backend_strlcpy(x->info->content_type, sizeof(x->info->content_type), v);
    else if (strcasecmp(line, "Last-Modified") == 0)
        nph_backend_strlcpy(x->info->last_modified, sizeof(x->info->last_modified), v);
    return len;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (x->status < 200 || x->status > 299 || !x->sink) {
        size_t room = SWIFT_FAULT_MAX - x->fault_len;
        size_t k = len < room ? len : room;
        memcpy(x->fault + x->fault_len, buf, k);
        x->fault_len += k;
        x->fault[x->fault_len] = '\0';
        return len;
    }
    if (x->sink(x->arg, buf, len, x->err) != 0) {
        x->sink_failed = 1;
        return 0;
    }
    return len;
}

/* One streamed request to the object store: PUT of `body` (from its file) or GET into sink.
 * A 401 re-authenticates once and sends the request again (an upload rewinds its file; a
 * download has handed nothing to the sink yet: a 401 carries no object). */
static int stream(struct os_call *call, const char *method, const char *path,
                  const struct nph_object_body *body, nph_object_sink_fn sink, void *arg,
                  struct nph_object_info *info, struct nph_error *err)
{
    struct os_backend *os = call->os;
    FILE *in = NULL;
    char *url = NULL;
    int rc = -1;
    if (os_call_session(call, err) != 0 || os_call_service(call, OS_SVC_OBJECT, err) != 0)
        return -1;
    if (asprintf(&url, "%s%s", call->ep.url[OS_SVC_OBJECT], path) < 0)
        return nph_error_nomem(err);
    if (body && !(in = fopen(body->path, "rb"))) {
        free(url);
        return nph_error_set(err, NPH_E_IO, "cannot open the upload's file");
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        struct xfer x;
        memset(&x, 0, sizeof(x));
        x.in = in;
        x.sink = sink;
        x.arg = arg;
        x.err = err;
        x.info = info;
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        char hb[256];
        if (!h) {
            nph_error_nomem(err);
            break;
        }
        char *auth = NULL;
        if (asprintf(&auth, "X-Auth-Token: %s", call->token) < 0) {
            curl_easy_cleanup(h);
            nph_error_nomem(err);
            break;
        }
        hdrs = curl_slist_append(hdrs, auth);
        memset(auth, 0, strlen(auth));
        free(auth);
        if (body) {
            snprintf(hb, sizeof(hb), "ETag: %s", body->md5);
            hdrs = curl_slist_append(hdrs, hb);
            snprintf(hb, sizeof(hb), "Content-Type: %.200s",
                     body->content_type ? body->content_type : "application/octet-stream");
            hdrs = curl_slist_append(hdrs, hb);
            hdrs = curl_slist_append(hdrs, "Expect:");
            rewind(in);
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &x);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->size);
        } else if (strcmp(method, "HEAD") == 0) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        }
        long budget = os->cfg.timeout_ms > 0 ? os->cfg.timeout_ms : 0;
        if (call->deadline) {
            long left = (long)((call->deadline - nph_clock_mono()) / 1000);
            if (left <= 0) {
                nph_error_set(err, NPH_E_TIMEOUT, "cloud '%s': %s %s: out of time", os->cfg.name,
                              method, path);
                curl_slist_free_all(hdrs);
                curl_easy_cleanup(h);
                break;
            }
            budget = left;
        }
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        if (budget > 0)
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, os->cfg.verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, os->cfg.verify ? 2L : 0L);
        if (os->cfg.cacert)
            curl_easy_setopt(h, CURLOPT_CAINFO, os->cfg.cacert);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "nephele");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        if (!body && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        if (x.sink_failed)
            break; /* err set by the sink */
        if (cc != CURLE_OK) {
            nph_error_set(err,
                          cc == CURLE_OPERATION_TIMEDOUT ? NPH_E_TIMEOUT
                          : cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                                  cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR
                              ? NPH_E_UNAVAILABLE
                              : NPH_E_BACKEND,
                          "cloud '%s': %s %s: %s", os->cfg.name, method, path,
                          *errbuf ? errbuf : curl_easy_strerror(cc));
            break;
        }
        if (x.status == 401 && attempt == 0) {
            os_call_reauth_prepare(call);
            if (os_call_session(call, err) != 0)
                break;
            continue;
        }
        if (x.status < 200 || x.status > 299) {
            os_fault_error(os->cfg.name, x.status, method, path, x.fault, x.fault_len, err);
            break;
        }
        rc = 0;
        break;
    }
    if (in)
        fclose(in);
    free(url);
    return rc;
}

static int swift_object_put(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *bucket, const char *name,
                            const struct nph_object_body *body, struct nph_object_info *out,
                            struct nph_error *err)
{
    struct os_call call;
    struct nph_object_info info;
    char *path = NULL;
    if (name_path(bucket, name, &path, err))
        return -1;
    memset(&info, 0, sizeof(info));
    os_call_init(&call, b->priv, ctx);
    int rc = stream(&call, "PUT", path, body, NULL, NULL, &info, err);
    os_call_fini(&call);
    free(path);
    if (rc == 0 && out) {
        /* a PUT answers with the ETag only: the rest is what was sent */
        nph_backend_strlcpy(info.name, sizeof(info.name), name);
        info.size = body->size;
        nph_backend_strlcpy(info.content_type, sizeof(info.content_type),
                            body->content_type ? body->content_type : "application/octet-stream");
        if (!info.etag[0])
            nph_backend_strlcpy(info.etag, sizeof(info.etag), body->md5);
        *out = info;
    }
    return rc;
}

static int swift_object_get(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                            const char *bucket, const char *name, nph_object_sink_fn sink,
                            void *arg, struct nph_object_info *out, struct nph_error *err)
{
    struct os_call call;
    char *path = NULL;
    if (name_path(bucket, name, &path, err))
        return -1;
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->name, sizeof(out->name), name);
    os_call_init(&call, b->priv, ctx);
    int rc = stream(&call, "GET", path, NULL, sink, arg, out, err);
    os_call_fini(&call);
    free(path);
    return rc;
}

static int swift_object_head(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                             const char *bucket, const char *name, struct nph_object_info *out,
                             struct nph_error *err)
{
    struct os_call call;
    char *path = NULL;
    if (name_path(bucket, name, &path, err))
        return -1;
    memset(out, 0, sizeof(*out));
    nph_backend_strlcpy(out->name, sizeof(out->name), name);
    os_call_init(&call, b->priv, ctx);
    int rc = stream(&call, "HEAD", path, NULL, NULL, NULL, out, err);
    os_call_fini(&call);
    free(path);
    return rc;
}

static int swift_object_delete(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                               const char *bucket, const char *name, struct nph_error *err)
{
    struct os_call call;
    char *path = NULL;
    if (name_path(bucket, name, &path, err))
        return -1;
    os_call_init(&call, b->priv, ctx);
    int rc = os_request(&call, OS_SVC_OBJECT, "DELETE", path, NULL, NULL, err);
    os_call_fini(&call);
    free(path);
    return rc;
}

const struct nph_object_ops os_object_ops = {
    .bucket_create = swift_bucket_create,
    .bucket_list = swift_bucket_list,
    .bucket_head = swift_bucket_head,
    .bucket_delete = swift_bucket_delete,
    .object_list = swift_object_list,
    .object_put = swift_object_put,
    .object_get = swift_object_get,
    .object_head = swift_object_head,
    .object_delete = swift_object_delete,
};
