/*
 * http_server.c - the broker's HTTP front over libmicrohttpd (see http_server.h).
 *
 * Threads: libmicrohttpd runs opts->threads epoll workers; every handler runs on the worker
 * that owns the connection, synchronously. Nothing here takes a lock on the request path:
 * the route table is compiled once at start and read-only afterwards, metrics are atomics.
 *
 * A request's life: the first access-handler call allocates a struct req_state (and counts the
 * request in flight) but queues nothing, because libmicrohttpd 0.9.75 drops keep-alive when a
 * response is queued on the first call. Body chunks are appended up to max_body_bytes; past
 * that the buffer is freed and the rest of the body is read and thrown away (up to 16 MiB, then
 * the connection is closed), because 0.9.75 cannot queue the 413 while a body is arriving.
 * The final call (no more upload data) sets the request id, routes, runs the handler, queues
 * the response, records metrics and logs the access line. The completion callback frees the
 * state.
 *
 * Ownership: the server borrows opts->routes and opts->app; it owns the compiled routes, the
 * metrics and the per-request state. A handler's resp->body and header strings pass to the
 * server when the handler returns; the body then passes to libmicrohttpd (MHD_RESPMEM_MUST_FREE)
 * so it is never copied.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "nph_clock.h"
#include "nph_crc32c.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_log.h"

#define HTTP_MAX_SEGMENTS    32
#define HTTP_DEFAULT_BODY    (1024 * 1024)
#define HTTP_DEFAULT_TIMEOUT 30
#define HTTP_STOP_GRACE_US   (10 * NPH_USEC_PER_SEC)
#define HTTP_REQUEST_ID_MAX  40
/* Past max_body_bytes the rest of a body is read and dropped, so that the 413 can be sent on a
 * connection that stays usable. Beyond this many dropped bytes the connection is closed. */
#define HTTP_DISCARD_MAX     (16 * 1024 * 1024)
#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* A body streamed to a file starts its write-back every this many bytes (and waits for what
 * came before), so the disk works while the body arrives and the handler's fsync finds little
 * left to write. */
#define HTTP_UPLOAD_SYNC_WINDOW (4ULL * 1024 * 1024)
/* Past this many bytes a streamed body's MD5 is computed by a thread of its own, which reads
 * back from the page cache what the connection's thread wrote: the hashing overlaps the
 * receiving and writing instead of adding to them. Smaller bodies are hashed inline. */
#define HTTP_UPLOAD_HASH_THREAD (4ULL * 1024 * 1024)
#define HTTP_UPLOAD_HASH_CHUNK  (1024 * 1024)
#define HTTP_STREAM_BLOCK       (256 * 1024)

/* The MD5 thread of one large upload (see HTTP_UPLOAD_HASH_THREAD). */
struct upload_hasher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more;
    int fd;          /* the upload's file (borrowed) */
    EVP_MD_CTX *md5; /* the upload's digest, the thread's alone until joined */
    uint32_t crc;    /* the upload's CRC-32C, likewise */
    uint64_t pos;    /* hashed so far */
    uint64_t avail;  /* written so far (under lock) */
    bool final;      /* no more bytes will come (under lock) */
    bool stop;       /* give up at once (under lock) */
    int err;         /* a read failed: the digest is unusable */
};

enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST };

struct route_seg {
    enum seg_kind kind;
    const char *text; /* literal text (borrowed from the pattern), not NUL-terminated */
    size_t len;
};

struct compiled_route {
    const struct http_route *route; /* borrowed: the caller's table or the built-ins */
    struct route_seg segs[HTTP_MAX_SEGMENTS];
    int n_segs;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct compiled_route *routes; /* built-ins first, then the caller's table */
    size_t n_routes;
    const char **route_names; /* n_routes metric labels (borrowed strings) */
    struct metrics_http *metrics;
    void *app;
    int (*ready)(void *app, struct nph_error *err);
    char *(*extra_metrics)(void *app, size_t *len);
    int (*upload_allowed)(void *app, const char *auth_token, struct nph_error *err);
    size_t max_body;
    size_t max_header;
    int max_json_depth;
    int port;
    atomic_int stopping;
    char *upload_dir;    /* malloc'd */
    uint64_t max_upload; /* HTTP_ROUTE_BODY_TO_FILE bodies */
};

/* Per-request state; req is the first member so built-in handlers can get back to it. */
struct req_state {
    struct http_req req;
    struct http_server *srv;
    int64_t t0; /* nph_clock_mono() when the headers were complete */
    char *body; /* malloc'd, NUL-terminated; NULL while empty or when too large */
    size_t body_len;
    size_t body_cap;
    size_t discarded;   /* bytes dropped after too_large */
    bool too_large;     /* body (or its declared length) went past max_body */
    bool headers_large; /* headers went past max_header */
    bool nomem;
    bool done;       /* a response was queued */
    char *param_buf; /* malloc'd storage of the param values */
    /* HTTP_ROUTE_BODY_TO_FILE: the body goes to file_path (malloc'd) through file_fd. */
    bool to_file;
    int file_fd;        /* -1 when closed */
    char *file_path;    /* NULL once removed or taken by the handler */
    uint64_t file_len;  /* bytes written */
    uint64_t file_sync; /* write-back started for [0, file_sync) */
    int file_errno;     /* first write/create failure (0 = none) */
    bool upload_denied; /* upload_allowed refused: the body is dropped, deny_err answered */
    EVP_MD_CTX *md5;    /* the body's MD5 while it is written (body-to-file) */
    uint32_t crc;       /* and its CRC-32C (valid while md5 is) */
    struct upload_hasher *hasher; /* large bodies: md5 is fed by this thread */
    struct nph_error deny_err;
};

struct span {
    size_t off;
    size_t len;
};

static int builtin_healthz(struct http_req *req, struct http_resp *resp, struct nph_error *err);
static int builtin_readyz(struct http_req *req, struct http_resp *resp, struct nph_error *err);
static int builtin_metrics(struct http_req *req, struct http_resp *resp, struct nph_error *err);

static const struct http_route builtin_routes[] = {
    {"GET", "/healthz", builtin_healthz, "healthz", NPH_FAULT_NATIVE},
    {"GET", "/readyz", builtin_readyz, "readyz", NPH_FAULT_NATIVE},
    {"GET", "/metrics", builtin_metrics, "metrics", NPH_FAULT_NATIVE},
};
#define N_BUILTINS (sizeof(builtin_routes) / sizeof(builtin_routes[0]))

/* ---- route table ---------------------------------------------------------------------- */

/* Split a pattern into segments. Returns 0, or -1 with err set on a malformed pattern. */
static int route_compile(const struct http_route *r, struct compiled_route *out,
                         struct nph_error *err)
{
    const char *p = r->pattern;
    int n_params = 0;
    out->route = r;
    out->n_segs = 0;
    if (!r->method || !p || p[0] != '/' || !r->handler)
        return nph_error_set(err, NPH_E_INVALID, "route '%s %s' is incomplete",
                             r->method ? r->method : "?", p ? p : "?");
    p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        struct route_seg *sg;
        if (len == 0 && !slash)
            break; /* trailing slash in the pattern */
        if (out->n_segs == HTTP_MAX_SEGMENTS)
            return nph_error_set(err, NPH_E_INVALID, "route '%s' has too many segments",
                                 r->pattern);
        sg = &out->segs[out->n_segs++];
        sg->text = p;
        sg->len = len;
        if (len == 3 && memcmp(p, "{*}", 3) == 0) {
            sg->kind = SEG_REST;
            if (slash && slash[1])
                return nph_error_set(err, NPH_E_INVALID, "route '%s': {*} must be last",
                                     r->pattern);
        } else if (len >= 3 && p[0] == '{' && p[len - 1] == '}') {
            sg->kind = SEG_PARAM;
        } else {
            sg->kind = SEG_LITERAL;
        }
        if (sg->kind != SEG_LITERAL && ++n_params > HTTP_MAX_PARAMS)
            return nph_error_set(err, NPH_E_INVALID, "route '%s' has more than %d params",
                                 r->pattern, HTTP_MAX_PARAMS);
        if (!slash || sg->kind == SEG_REST)
            break;
        p = slash + 1;
    }
    return 0;
}

/*
 * Match path[0..len) (trailing slashes already trimmed; path[0] == '/') against a route.
 * raw_len is the untrimmed length, so a final {*} keeps a trailing slash ("dir/" objects).
 * {name} matches one non-empty segment, {*} one or more characters. Returns the number of
 * params + 1 on a match (spans written), 0 otherwise.
 */
static int route_match(const struct compiled_route *cr, const char *path, size_t len,
                       size_t raw_len, struct span out[HTTP_MAX_PARAMS])
{
    size_t pos = 1;
    bool have = len > 1; /* a segment remains at pos */
    int np = 0;
    for (int i = 0; i < cr->n_segs; i++) {
        const struct route_seg *sg = &cr->segs[i];
        if (!have)
            return 0;
        if (sg->kind == SEG_REST) {
            out[np].off = pos;
            out[np].len = raw_len - pos;
            return np + 2;
        }
        const char *slash = memchr(path + pos, '/', len - pos);
        size_t end = slash ? (size_t)(slash - path) : len;
        size_t sl = end - pos;
        if (sg->kind == SEG_LITERAL) {
            if (sl != sg->len || memcmp(path + pos, sg->text, sl) != 0)
                return 0;
        } else {
            if (sl == 0)
                return 0;
            out[np].off = pos;
            out[np].len = sl;
            np++;
        }
        have = slash != NULL;
        pos = slash ? end + 1 : len;
    }
    return have ? 0 : np + 1;
}

static bool method_matches(const struct http_route *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Append `m` to the Allow list unless present. */
static void allow_add(char *allow, size_t cap, const char *m)
{
    size_t ml = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)) != NULL; p += ml) {
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return;
    }
    size_t len = strlen(allow);
    snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", m);
}

/* ---- request accessors and response helpers -------------------------------------------- */

const char *http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

struct query_iter {
    void (*fn)(const char *key, const char *value, void *ctx);
    void *ctx;
};

static enum MHD_Result query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct query_iter *qi = cls;
    (void)kind;
    qi->fn(key, value ? value : "", qi->ctx);
    return MHD_YES;
}

int http_req_query_each(const struct http_req *req,
                        void (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
    struct query_iter qi = {fn, ctx};
    return MHD_get_connection_values((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                     fn ? query_iter_cb : NULL, &qi);
}

int http_req_header_each(const struct http_req *req,
                         void (*fn)(const char *name, const char *value, void *ctx), void *ctx)
{
    struct query_iter qi = {fn, ctx};
    return MHD_get_connection_values((struct MHD_Connection *)req->conn, MHD_HEADER_KIND,
                                     fn ? query_iter_cb : NULL, &qi);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "application/json" with at most a charset=utf-8 parameter (quotes and case tolerated). */
static bool content_type_is_json(const char *ct)
{
    const char *p = skip_ws(ct);
    if (strncasecmp(p, CONTENT_TYPE_JSON, strlen(CONTENT_TYPE_JSON)) != 0)
        return false;
    p = skip_ws(p + strlen(CONTENT_TYPE_JSON));
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    p = skip_ws(p + 1);
    if (strncasecmp(p, "charset=", 8) != 0)
        return false;
    p += 8;
    bool quoted = *p == '"';
    if (quoted)
        p++;
    if (strncasecmp(p, "utf-8", 5) != 0)
        return false;
    p += 5;
    if (quoted && *p++ != '"')
        return false;
    return *skip_ws(p) == '\0';
}

json_t *http_req_json(const struct http_req *req, struct nph_error *err)
{
    const char *ct = http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && !content_type_is_json(ct)) {
        nph_error_set(err, NPH_E_UNSUPPORTED_MEDIA, "content type '%.64s' is not supported", ct);
        nph_error_detail(err, "expected application/json");
        return NULL;
    }
    if (!req->body || req->body_len == 0) {
        nph_error_set(err, NPH_E_INVALID, "the request body is empty");
        return NULL;
    }
    return nph_json_parse(req->body, req->body_len, req->max_json_depth, 1, err);
}

int http_resp_json(struct http_resp *resp, int status, json_t *body)
{
    char *s = body ? nph_json_dumps(body) : NULL;
    json_decref(body);
    if (!s)
        return -1;
    free(resp->body);
    resp->body = s;
    resp->body_len = strlen(s);
    resp->content_type = CONTENT_TYPE_JSON;
    resp->status = status;
    return 0;
}

int http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text)
{
    char *s = strdup(text ? text : "");
    if (!s)
        return -1;
    free(resp->body);
    resp->body = s;
    resp->body_len = strlen(s);
    resp->content_type = content_type ? content_type : CONTENT_TYPE_TEXT;
    resp->status = status;
    return 0;
}

int http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    if (resp->n_headers >= HTTP_MAX_HEADERS)
        return -1;
    char *n = strdup(name);
    char *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    resp->headers[resp->n_headers].name = n;
    resp->headers[resp->n_headers].value = v;
    resp->n_headers++;
    return 0;
}

int http_resp_file(struct http_resp *resp, int status, const char *content_type, const char *path,
                   struct nph_error *err)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return nph_error_set(err, NPH_E_NOT_FOUND, "the data file is missing");
        nph_error_set(err, NPH_E_IO, "cannot open the data file");
        return nph_error_detail(err, "open '%s': %s", path, strerror(e));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        nph_error_set(err, NPH_E_IO, "cannot read the data file");
        return nph_error_detail(err, "stat '%s': %s", path, e ? strerror(e) : "not a file");
    }
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->has_file)
        close(resp->file_fd);
    resp->has_file = 1;
    resp->file_fd = fd;
    resp->file_size = (uint64_t)sb.st_size;
    resp->content_type = content_type ? content_type : "application/octet-stream";
    resp->status = status;
    return 0;
}

void http_resp_stream(struct http_resp *resp, int status, const char *content_type, uint64_t size,
                      http_stream_read_fn read, void (*free_fn)(void *ctx), void *ctx)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->has_file)
        close(resp->file_fd);
    resp->has_file = 0;
    if (resp->has_stream && resp->stream_free)
        resp->stream_free(resp->stream_ctx);
    resp->has_stream = 1;
    resp->stream_size = size;
    resp->stream_read = read;
    resp->stream_free = free_fn;
    resp->stream_ctx = ctx;
    resp->content_type = content_type ? content_type : "application/octet-stream";
    resp->status = status;
}

/* Nova's fault names by status (everything else is a computeFault). */
static const char *openstack_fault_name(int status)
{
    switch (status) {
    case 400:
        return "badRequest";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "itemNotFound";
    case 405:
        return "badMethod";
    case 409:
        return "conflictingRequest";
    case 413:
        return "overLimit";
    case 415:
        return "badMediaType";
    case 429:
        return "overLimit";
    case 501:
        return "notImplemented";
    case 503:
        return "serviceUnavailable";
    default:
        return "computeFault";
    }
}

void http_resp_fault(struct http_resp *resp, enum http_fault_style style,
                     const struct nph_error *err, const char *request_id)
{
    enum nph_err_code code = err ? err->code : NPH_E_INTERNAL;
    style = (enum http_fault_style)(style & HTTP_FAULT_STYLE_MASK);
    if (code == NPH_E_OK || code >= NPH_E__COUNT)
        code = NPH_E_INTERNAL;
    int status = nph_error_http_status(code);
    const char *msg = err && err->msg[0] ? err->msg : nph_error_doc(code);
    const char *detail = err ? err->detail : "";
    char st[16], clean[NPH_ERR_MSG_MAX];
    json_t *body;

    /* Messages may quote what the client sent: keep the body valid JSON whatever it was. */
    nph_utf8_sanitize(msg, clean, sizeof(clean));
    msg = clean;

    /* The detail may hold internals (paths, SQL, backend answers): logged, never sent. */
    if (status >= 500 || detail[0]) {
        snprintf(st, sizeof(st), "%d", status);
        nph_log(status >= 500 ? NPH_LOG_ERROR : NPH_LOG_WARN, "http.fault", "status", st, "code",
                nph_error_name(code), "msg", msg, "detail", detail, NULL);
    }
    if (!request_id)
        request_id = nph_log_request_id();

    switch (style) {
    case NPH_FAULT_KEYSTONE:
        body = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", status, "title",
                         MHD_get_reason_phrase_for((unsigned)status), "message", msg);
        break;
    case NPH_FAULT_OPENSTACK:
        body = json_pack("{s:{s:i,s:s}}", openstack_fault_name(status), "code", status, "message",
                         msg);
        break;
    case NPH_FAULT_NATIVE:
    default:
        body = json_pack("{s:{s:s,s:s}}", "error", "code", nph_error_name(code), "message", msg);
        if (body && request_id)
            json_object_set_new(json_object_get(body, "error"), "request_id",
                                json_string(request_id));
        break;
    }
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->has_file) {
        close(resp->file_fd);
        resp->has_file = 0;
    }
    if (resp->has_stream) {
        if (resp->stream_free)
            resp->stream_free(resp->stream_ctx);
        resp->has_stream = 0;
    }
    if (http_resp_json(resp, status, body) != 0) {
        resp->status = status; /* out of memory: the status alone */
        resp->content_type = NULL;
    }
}

/* ---- built-in routes ------------------------------------------------------------------- */

static int builtin_healthz(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)req;
    if (http_resp_text(resp, 200, CONTENT_TYPE_TEXT, "ok") != 0)
        return nph_error_nomem(err);
    return 0;
}

static int builtin_readyz(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct http_server *s = ((struct req_state *)req)->srv;
    if (s->ready && s->ready(s->app, err) != 0) {
        /* Whatever the reason, "not ready" is a 503 to load balancers. */
        if (err) {
            err->code = NPH_E_UNAVAILABLE;
            if (!err->msg[0])
                snprintf(err->msg, sizeof(err->msg), "the service is not ready");
        }
        return -1;
    }
    if (http_resp_text(resp, 200, CONTENT_TYPE_JSON, "{\"status\":\"ready\"}") != 0)
        return nph_error_nomem(err);
    return 0;
}

static int builtin_metrics(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct http_server *s = ((struct req_state *)req)->srv;
    size_t len = 0;
    char *text = metrics_http_render(s->metrics, &len);
    if (!text)
        return nph_error_nomem(err);
    size_t more_len = 0;
    char *more = s->extra_metrics ? s->extra_metrics(s->app, &more_len) : NULL;
    if (more) {
        char *all = realloc(text, len + more_len + 1);
        if (all) {
            memcpy(all + len, more, more_len);
            len += more_len;
            all[len] = '\0';
            text = all;
        }
        free(more);
    }
    free(resp->body);
    resp->body = text;
    resp->body_len = len;
    resp->content_type = CONTENT_TYPE_METRICS;
    resp->status = 200;
    return 0;
}

/* ---- the access handler ---------------------------------------------------------------- */

static bool request_id_sane(const char *id)
{
    size_t n = 0;
    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];
        if (n >= HTTP_REQUEST_ID_MAX)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

static void set_request_id(struct http_req *req)
{
    const char *id = http_req_header(req, "X-Openstack-Request-Id");
    if (!request_id_sane(id))
        id = http_req_header(req, "X-Request-Id");
    if (request_id_sane(id)) {
        snprintf(req->request_id, sizeof(req->request_id), "%s", id);
    } else if (nph_request_id(req->request_id) != 0) {
        /* The random source failed: a fixed id still keeps the headers well-formed. */
        snprintf(req->request_id, sizeof(req->request_id), "req-unknown");
    }
}

struct header_sum {
    size_t total;
};

static enum MHD_Result header_size_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct header_sum *hs = cls;
    (void)kind;
    hs->total += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* The flags (HTTP_ROUTE_*) of the route that (method, url) will be dispatched to, 0 if none. */
static unsigned route_flags(struct http_server *s, const char *method, const char *url)
{
    size_t raw_len = strlen(url), len = raw_len;
    struct span spans[HTTP_MAX_PARAMS];
    if (raw_len == 0 || url[0] != '/')
        return 0;
    while (len > 1 && url[len - 1] == '/')
        len--;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct http_route *r = s->routes[i].route;
        if (method_matches(r, method) && route_match(&s->routes[i], url, len, raw_len, spans))
            return (unsigned)r->fault & ~(unsigned)HTTP_FAULT_STYLE_MASK;
    }
    return 0;
}

/* Open the temporary file of a body-to-file request. A failure is remembered (file_errno) and
 * reported when the request is answered; the body is then read and dropped. */
static void upload_open(struct http_server *s, struct req_state *st)
{
    size_t n = strlen(s->upload_dir) + sizeof("/nph-upload-XXXXXX");
    st->file_path = malloc(n);
    if (!st->file_path) {
        st->nomem = true;
        return;
    }
    snprintf(st->file_path, n, "%s/nph-upload-XXXXXX", s->upload_dir);
    st->md5 = EVP_MD_CTX_new();
    if (!st->md5 || !EVP_DigestInit_ex(st->md5, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(st->md5);
        st->md5 = NULL;
    }
    st->file_fd = mkostemp(st->file_path, O_CLOEXEC);
    if (st->file_fd < 0) {
        st->file_errno = errno ? errno : EIO;
        free(st->file_path);
        st->file_path = NULL;
    }
}

static void *hasher_main(void *arg)
{
    struct upload_hasher *h = arg;
    char *buf = malloc(HTTP_UPLOAD_HASH_CHUNK);
    if (!buf)
        h->err = ENOMEM;
    for (;;) {
        uint64_t avail;
        bool final;
        pthread_mutex_lock(&h->lock);
        while (!h->stop && !h->final && h->avail == h->pos)
            pthread_cond_wait(&h->more, &h->lock);
        avail = h->avail;
        final = h->final;
        if (h->stop)
            final = true, avail = h->pos;
        pthread_mutex_unlock(&h->lock);
        while (!h->err && h->pos < avail) {
            uint64_t want = avail - h->pos;
            ssize_t r = pread(h->fd, buf,
                              want < HTTP_UPLOAD_HASH_CHUNK ? (size_t)want : HTTP_UPLOAD_HASH_CHUNK,
                              (off_t)h->pos);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                h->err = r < 0 ? errno : EIO;
                break;
            }
            if (!EVP_DigestUpdate(h->md5, buf, (size_t)r))
                h->err = EIO;
            h->crc = nph_crc32c(h->crc, buf, (size_t)r);
            h->pos += (uint64_t)r;
        }
        if (final || h->err)
            break;
    }
    free(buf);
    return NULL;
}

/* Hand the rest of the upload's MD5 to a thread (from st->file_len on). On failure the
 * hashing simply stays inline. */
static void hasher_start(struct req_state *st)
{
    struct upload_hasher *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->fd = st->file_fd;
    h->md5 = st->md5;
    h->crc = st->crc;
    h->pos = h->avail = st->file_len;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->more, NULL);
    if (pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->more);
        free(h);
        return;
    }
    st->hasher = h;
}

/* The upload's file now holds st->file_len bytes. */
static void hasher_feed(struct req_state *st)
{
    struct upload_hasher *h = st->hasher;
    pthread_mutex_lock(&h->lock);
    h->avail = st->file_len;
    pthread_cond_signal(&h->more);
    pthread_mutex_unlock(&h->lock);
}

/* Wait for the thread (after it hashed everything written, or at once when abandon) and free
 * it. Returns 0 when st->md5 covers the whole body, -1 when it is unusable. */
static int hasher_finish(struct req_state *st, bool abandon)
{
    struct upload_hasher *h = st->hasher;
    int rc;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    h->avail = st->file_len;
    h->final = true;
    h->stop = abandon;
    pthread_cond_signal(&h->more);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    rc = h->err || h->pos != st->file_len ? -1 : 0;
    st->crc = h->crc;
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->more);
    free(h);
    st->hasher = NULL;
    return rc;
}

/* Close and remove the temporary file unless the handler took it. */
static void upload_discard(struct req_state *st)
{
    hasher_finish(st, true); /* before its descriptor closes */
    if (st->file_fd >= 0)
        close(st->file_fd);
    st->file_fd = -1;
    if (st->file_path && unlink(st->file_path) != 0 && errno != ENOENT)
        nph_log(NPH_LOG_WARN, "http.upload_unlink", "path", st->file_path, "msg", strerror(errno),
                NULL);
    free(st->file_path);
    st->file_path = NULL;
}

/* First call: allocate the state, note limits that are known from the headers. */
static enum MHD_Result request_begin(struct http_server *s, struct MHD_Connection *c,
                                     const char *url, const char *method, void **con_cls)
{
    struct req_state *st = calloc(1, sizeof(*st));
    if (!st)
        return MHD_NO; /* libmicrohttpd closes the connection */
    st->srv = s;
    st->file_fd = -1;
    st->to_file = (route_flags(s, method, url) & HTTP_ROUTE_BODY_TO_FILE) != 0;
    st->t0 = nph_clock_mono();
    metrics_http_in_flight_add(s->metrics, 1);
    *con_cls = st;

    if (s->max_header) {
        struct header_sum hs = {strlen(url)};
        MHD_get_connection_values(c, MHD_HEADER_KIND, header_size_cb, &hs);
        st->headers_large = hs.total > s->max_header;
    }
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (st->to_file) {
            if (errno || end == cl || n > s->max_upload)
                st->too_large = true;
        } else if (errno || end == cl || n > s->max_body) {
            st->too_large = true;
        } else if (n > 0) {
            st->body = malloc((size_t)n + 1);
            if (st->body)
                st->body_cap = (size_t)n + 1;
        }
    }
    if (st->to_file && !st->too_large && !st->headers_large && s->upload_allowed &&
        s->upload_allowed(s->app, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token"),
                          &st->deny_err) != 0)
        st->upload_denied = true;
    if (st->to_file && !st->too_large && !st->headers_large && !st->upload_denied)
        upload_open(s, st);
    return MHD_YES;
}

/* Start writing [file_sync, file_len) to the disk, and wait until what came before it is
 * written, which bounds the dirty pages of one upload to about two windows. Only a head start
 * for the fsync that makes the file durable (the handler's): a failure here is ignored, since
 * that fsync reports it. */
static void upload_writeback(struct req_state *st)
{
    (void)sync_file_range(st->file_fd, (off_t)st->file_sync, (off_t)(st->file_len - st->file_sync),
                          SYNC_FILE_RANGE_WRITE);
    if (st->file_sync > 0)
        (void)sync_file_range(st->file_fd, 0, (off_t)st->file_sync,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER);
    st->file_sync = st->file_len;
}

/* A body chunk of a body-to-file request: write it all, or remember why not. */
static enum MHD_Result request_body_file(struct http_server *s, struct req_state *st,
                                         const char *data, size_t n)
{
    if (st->too_large || st->nomem || st->file_errno || st->file_fd < 0 || st->upload_denied) {
        /* Past the limit or after a failure: drop the rest (the answer is an error), and
         * close the connection past HTTP_DISCARD_MAX as for in-memory bodies. */
        st->discarded += n;
        if (st->discarded <= HTTP_DISCARD_MAX)
            return MHD_YES;
        nph_log(NPH_LOG_WARN, "http.body_dropped", "msg", "upload refused, closing the connection",
                NULL);
        return MHD_NO;
    }
    if (n > s->max_upload - st->file_len) {
        st->too_large = true;
        st->discarded = st->file_len + n;
        upload_discard(st);
        return MHD_YES;
    }
    if (st->md5 && !st->hasher) {
        EVP_DigestUpdate(st->md5, data, n);
        st->crc = nph_crc32c(st->crc, data, n);
    }
    while (n > 0) {
        ssize_t w = write(st->file_fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st->file_errno = w < 0 ? errno : EIO;
            st->discarded += n;
            upload_discard(st);
            return MHD_YES;
        }
        data += w;
        n -= (size_t)w;
        st->file_len += (uint64_t)w;
    }
    if (st->hasher)
        hasher_feed(st);
    else if (st->md5 && st->file_len >= HTTP_UPLOAD_HASH_THREAD)
        hasher_start(st);
    if (st->file_len - st->file_sync >= HTTP_UPLOAD_SYNC_WINDOW)
        upload_writeback(st);
    return MHD_YES;
}

/* Later calls with data: append, or count and drop once past the limit. Returns MHD_NO (close
 * the connection, no answer) when more than HTTP_DISCARD_MAX bytes were dropped. */
static enum MHD_Result request_body(struct http_server *s, struct req_state *st, const char *data,
                                    size_t n)
{
    if (st->to_file)
        return request_body_file(s, st, data, n);
    if (st->too_large || st->nomem) {
        st->discarded += n;
        if (st->discarded <= HTTP_DISCARD_MAX)
            return MHD_YES;
        nph_log(NPH_LOG_WARN, "http.body_dropped", "msg",
                "request body far over the limit, closing the connection", NULL);
        return MHD_NO;
    }
    if (n > s->max_body - st->body_len) {
        st->too_large = true;
        st->discarded = st->body_len + n;
        free(st->body);
        st->body = NULL;
        st->body_len = st->body_cap = 0;
        return MHD_YES;
    }
    if (st->body_len + n + 1 > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 1024;
        while (cap < st->body_len + n + 1)
            cap *= 2;
        if (cap > s->max_body + 1)
            cap = s->max_body + 1;
        char *nb = realloc(st->body, cap);
        if (!nb) {
            st->nomem = true;
            free(st->body);
            st->body = NULL;
            st->body_len = st->body_cap = 0;
            return MHD_YES;
        }
        st->body = nb;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, data, n);
    st->body_len += n;
    st->body[st->body_len] = '\0';
    return MHD_YES;
}

/* Find the route for (method, path). Returns its index and fills the params, or -1 with
 * *pattern_hit = index of the first route whose pattern matched (or -1) and the Allow list. */
static int route_find(struct http_server *s, struct req_state *st, const char *method,
                      int *pattern_hit, char *allow, size_t allow_cap)
{
    const char *path = st->req.path;
    size_t raw_len = strlen(path);
    size_t len = raw_len;
    struct span spans[HTTP_MAX_PARAMS];
    *pattern_hit = -1;
    allow[0] = '\0';
    if (raw_len == 0 || path[0] != '/')
        return -1;
    while (len > 1 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < s->n_routes; i++) {
        int m = route_match(&s->routes[i], path, len, raw_len, spans);
        if (!m)
            continue;
        const struct http_route *r = s->routes[i].route;
        if (!method_matches(r, method)) {
            if (*pattern_hit < 0)
                *pattern_hit = (int)i;
            allow_add(allow, allow_cap, r->method);
            if (strcmp(r->method, "GET") == 0)
                allow_add(allow, allow_cap, "HEAD");
            continue;
        }
        int np = m - 1;
        if (np > 0) {
            st->param_buf = malloc(raw_len + HTTP_MAX_PARAMS + 1);
            if (!st->param_buf) {
                st->nomem = true;
                return -1;
            }
            char *p = st->param_buf;
            for (int k = 0; k < np; k++) {
                memcpy(p, path + spans[k].off, spans[k].len);
                p[spans[k].len] = '\0';
                st->req.params[k] = p;
                p += spans[k].len + 1;
            }
        }
        st->req.n_params = np;
        st->req.route = r;
        return (int)i;
    }
    return -1;
}

static void resp_fini(struct http_resp *resp)
{
    if (resp->has_stream && resp->stream_free)
        resp->stream_free(resp->stream_ctx);
    resp->has_stream = 0;
    free(resp->body);
    if (resp->has_file)
        close(resp->file_fd);
    resp->has_file = 0;
    for (int i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
}

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        nph_log(NPH_LOG_WARN, "http.header_dropped", "name", name, NULL);
}

struct stream_box {
    http_stream_read_fn read;
    void (*free_fn)(void *ctx);
    void *ctx;
};

/* The buffer of a streamed response (libmicrohttpd allocates it whole for the response): a
 * large body is read and sent in HTTP_STREAM_BLOCK pieces (a quarter of the calls and sends
 * of 64 KiB ones), a small one gets a buffer of its own size. */
static size_t stream_block(uint64_t size)
{
    if (size >= HTTP_STREAM_BLOCK)
        return HTTP_STREAM_BLOCK;
    return size < 4096 ? 4096 : (size_t)size;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_box *b = cls;
    long n = b->read(b->ctx, pos, buf, max);
    if (n <= 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_free_cb(void *cls)
{
    struct stream_box *b = cls;
    if (b->free_fn)
        b->free_fn(b->ctx);
    free(b);
}

/* Final call: route, run the handler, queue the response. */
static int query_is_utf8(struct MHD_Connection *c);

static enum MHD_Result request_finish(struct http_server *s, struct req_state *st,
                                      struct MHD_Connection *c, const char *url, const char *method)
{
    struct http_req *req = &st->req;
    struct http_resp resp = {0};
    struct nph_error err = NPH_ERROR_INIT;
    char allow[96];
    int hit = -1;
    int idx = -1;
    enum http_fault_style style = NPH_FAULT_NATIVE;

    req->method = method;
    req->path = url;
    req->body = st->body;
    req->body_len = st->body_len;
    req->body_crc32c = -1;
    if (st->to_file) {
        req->body = NULL;
        req->body_len = (size_t)st->file_len;
        req->body_path = st->file_path;
        if (hasher_finish(st, false) != 0) {
            EVP_MD_CTX_free(st->md5); /* the digest missed bytes: no MD5 (body_md5 "") */
            st->md5 = NULL;
        }
        if (st->md5 && st->file_path) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;
            if (EVP_DigestFinal_ex(st->md5, md, &mdlen) && mdlen == 16) {
                for (unsigned i = 0; i < 16; i++)
                    snprintf(req->body_md5 + 2 * i, 3, "%02x", md[i]);
                req->body_crc32c = st->crc;
            }
        }
    }
    req->conn = c;
    req->app = s->app;
    req->max_json_depth = s->max_json_depth;
    set_request_id(req);
    nph_log_set_request_id(req->request_id);
    resp.status = 200;
    resp.head_only = strcmp(method, "HEAD") == 0;

    if (!st->nomem)
        idx = route_find(s, st, method, &hit, allow, sizeof(allow));
    if (idx >= 0)
        style = s->routes[idx].route->fault;
    else if (hit >= 0)
        style = s->routes[hit].route->fault;
    style = (enum http_fault_style)(style & HTTP_FAULT_STYLE_MASK);

    if (st->nomem) {
        nph_error_nomem(&err);
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (st->headers_large) {
        nph_error_set(&err, NPH_E_HEADERS_TOO_LARGE, "the request headers exceed %zu bytes",
                      s->max_header);
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (!nph_utf8_valid(url, strlen(url))) {
        nph_error_set(&err, NPH_E_INVALID, "the request path is not valid UTF-8");
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (!query_is_utf8(c)) {
        nph_error_set(&err, NPH_E_INVALID, "the query string is not valid UTF-8");
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (st->upload_denied) {
        http_resp_fault(&resp, style, &st->deny_err, req->request_id);
    } else if (st->too_large && st->to_file) {
        nph_error_set(&err, NPH_E_TOO_LARGE, "the request body exceeds %llu bytes",
                      (unsigned long long)s->max_upload);
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (st->too_large) {
        nph_error_set(&err, NPH_E_TOO_LARGE, "the request body exceeds %zu bytes", s->max_body);
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (st->file_errno && idx >= 0) {
        nph_error_set(&err, NPH_E_IO, "cannot store the request body: %s",
                      strerror(st->file_errno));
        nph_error_detail(&err, "upload directory '%s'", s->upload_dir);
        http_resp_fault(&resp, style, &err, req->request_id);
    } else if (idx < 0 && hit >= 0) {
        nph_error_set(&err, NPH_E_METHOD, "method '%.16s' is not allowed here", method);
        http_resp_fault(&resp, style, &err, req->request_id);
        http_resp_header(&resp, MHD_HTTP_HEADER_ALLOW, allow);
    } else if (idx < 0) {
        nph_error_set(&err, NPH_E_NOT_FOUND, "no such resource");
        http_resp_fault(&resp, NPH_FAULT_NATIVE, &err, req->request_id);
    } else {
        if (st->file_fd >= 0) {
            close(st->file_fd); /* the handler reads the file by its path */
            st->file_fd = -1;
        }
        int rc = s->routes[idx].route->handler(req, &resp, &err);
        if (st->to_file && !req->body_path) {
            free(st->file_path); /* taken by the handler */
            st->file_path = NULL;
        }
        if (rc != 0) {
            if (err.code == NPH_E_OK)
                nph_error_set(&err, NPH_E_INTERNAL, "the handler failed without an error");
            http_resp_fault(&resp, style, &err, req->request_id);
        } else if (resp.status == 0) {
            resp.status = 200;
        }
    }

    /* 1xx, 204 and 304 carry no body. */
    bool no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
    struct MHD_Response *r;
    size_t body_len = resp.body_len;
    const char *ctype = resp.content_type ? resp.content_type : CONTENT_TYPE_JSON;
    bool has_body = resp.body && resp.body_len && !no_body;
    if (st->to_file)
        upload_discard(st);
    if (resp.has_stream && !no_body) {
        has_body = true;
        body_len = (size_t)resp.stream_size;
        struct stream_box *box = malloc(sizeof(*box));
        r = NULL;
        if (box) {
            box->read = resp.stream_read;
            box->free_fn = resp.stream_free;
            box->ctx = resp.stream_ctx;
            r = MHD_create_response_from_callback(resp.stream_size, stream_block(resp.stream_size),
                                                  stream_reader, box, stream_free_cb);
        }
        if (r)
            resp.has_stream = 0; /* libmicrohttpd owns the box: stream_free_cb frees it */
        else
            free(box);
    } else if (resp.has_file && !no_body) {
        has_body = true;
        body_len = (size_t)resp.file_size;
        r = MHD_create_response_from_fd64(resp.file_size, resp.file_fd);
        if (r)
            resp.has_file = 0; /* libmicrohttpd closes the descriptor */
    } else if (has_body) {
        r = MHD_create_response_from_buffer(resp.body_len, resp.body, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp.body = NULL; /* libmicrohttpd frees it */
    } else {
        body_len = 0;
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    enum MHD_Result ret = MHD_NO;
    if (r) {
        if (has_body)
            add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        for (int i = 0; i < resp.n_headers; i++)
            add_header(r, resp.headers[i].name, resp.headers[i].value);
        add_header(r, "X-Request-Id", req->request_id);
        add_header(r, "X-Openstack-Request-Id", req->request_id);
        if (style == NPH_FAULT_OPENSTACK) /* Nova's own name for it, which its clients read */
            add_header(r, "X-Compute-Request-Id", req->request_id);
        if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
            add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        ret = MHD_queue_response(c, (unsigned)resp.status, r);
        MHD_destroy_response(r);
    }
    st->done = true;

    int64_t us = nph_clock_mono() - st->t0;
    size_t metric_route = idx >= 0 ? (size_t)idx : hit >= 0 ? (size_t)hit : s->n_routes;
    metrics_http_observe(s->metrics, metric_route, method, resp.status, us);
    if (nph_log_enabled(NPH_LOG_INFO)) {
        char status[16], ms[24], bytes[24];
        snprintf(status, sizeof(status), "%d", resp.status);
        snprintf(ms, sizeof(ms), "%.3f", (double)us / 1000.0);
        snprintf(bytes, sizeof(bytes), "%zu", resp.head_only ? (size_t)0 : body_len);
        nph_log(NPH_LOG_INFO, "http.access", "method", method, "path", url, "status", status, "ms",
                ms, "bytes", bytes, NULL);
    }
    nph_log_set_request_id(NULL);
    resp_fini(&resp);
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)version;

    if (!st)
        return request_begin(s, c, url, method, con_cls);
    if (*upload_data_size) {
        enum MHD_Result ret = request_body(s, st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    if (st->done)
        return MHD_YES;
    return request_finish(s, st, c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)c;
    if (!st)
        return;
    if (!st->done && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        nph_log(NPH_LOG_DEBUG, "http.aborted", NULL);
    upload_discard(st);
    EVP_MD_CTX_free(st->md5);
    free(st->body);
    free(st->param_buf);
    free(st);
    *con_cls = NULL;
    metrics_http_in_flight_add(s->metrics, -1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    nph_log(NPH_LOG_WARN, "http.mhd", "msg", msg, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

/* "1.2.3.4:80" or "[::1]:80" into ss. Returns 0, or -1 with err set. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *is_v6,
                        struct nph_error *err)
{
    char host[64];
    const char *colon;
    memset(ss, 0, sizeof(*ss));
    if (!listen || !*listen)
        return nph_error_set(err, NPH_E_INVALID, "the listen address is empty");
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
            return nph_error_set(err, NPH_E_INVALID, "bad listen address '%s'", listen);
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host))
            return nph_error_set(err, NPH_E_INVALID, "bad listen address '%s'", listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    const char *ps = colon + 1;
    char *end;
    errno = 0;
    unsigned long port = strtoul(ps, &end, 10);
    if (!*ps || *end || errno || port > 65535 || *ps == '-' || *ps == '+')
        return nph_error_set(err, NPH_E_INVALID, "bad port in listen address '%s'", listen);

    if (listen[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return nph_error_set(err, NPH_E_INVALID, "bad IPv6 address in '%s'", listen);
        *is_v6 = 1;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return nph_error_set(err, NPH_E_INVALID, "bad IPv4 address in '%s'", listen);
        *is_v6 = 0;
    }
    return 0;
}

static void server_free(struct http_server *s)
{
    if (!s)
        return;
    metrics_http_free(s->metrics);
    free(s->routes);
    free(s->route_names);
    free(s->upload_dir);
    free(s);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decoding for paths and query arguments. libmicrohttpd's own decoder turns "%00" into
 * a NUL, which would silently cut "/projects/<id>%00junk" down to "/projects/<id>". Here a
 * decoded NUL becomes 0xFF instead: never valid UTF-8, so the request is refused with 400
 * (see request_finish) rather than acted on for a shorter path.
 */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *uri)
{
    char *r = uri, *w = uri;
    (void)cls;
    (void)c;
    while (*r) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            int v = hi * 16 + lo;
            *w++ = (char)(v == 0 ? 0xff : v);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - uri);
}

struct utf8_check {
    int bad;
};

static enum MHD_Result query_utf8_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct utf8_check *u = cls;
    (void)kind;
    if ((key && !nph_utf8_valid(key, strlen(key))) ||
        (value && !nph_utf8_valid(value, strlen(value)))) {
        u->bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static int query_is_utf8(struct MHD_Connection *c)
{
    struct utf8_check u = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_utf8_cb, &u);
    return !u.bad;
}

struct http_server *http_server_start(const struct http_server_opts *opts, struct nph_error *err)
{
    struct sockaddr_storage ss;
    int is_v6 = 0;
    size_t n_user = 0;
    struct http_server *s;

    if (parse_listen(opts->listen, &ss, &is_v6, err) != 0)
        return NULL;
    while (opts->routes && opts->routes[n_user].method)
        n_user++;

    s = calloc(1, sizeof(*s));
    if (!s) {
        nph_error_nomem(err);
        return NULL;
    }
    s->n_routes = N_BUILTINS + n_user;
    s->routes = calloc(s->n_routes, sizeof(*s->routes));
    s->route_names = calloc(s->n_routes, sizeof(*s->route_names));
    if (!s->routes || !s->route_names) {
        nph_error_nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct http_route *r =
            i < N_BUILTINS ? &builtin_routes[i] : &opts->routes[i - N_BUILTINS];
        if (route_compile(r, &s->routes[i], err) != 0)
            goto fail;
        s->route_names[i] = r->name ? r->name : r->pattern;
    }
    s->metrics = metrics_http_new(s->n_routes, s->route_names);
    if (!s->metrics) {
        nph_error_nomem(err);
        goto fail;
    }
    s->app = opts->app;
    s->ready = opts->ready;
    s->upload_allowed = opts->upload_allowed;
    s->extra_metrics = opts->extra_metrics;
    s->max_body = opts->max_body_bytes ? opts->max_body_bytes : HTTP_DEFAULT_BODY;
    s->max_header = opts->max_header_bytes;
    s->max_upload = opts->max_upload_bytes ? opts->max_upload_bytes : HTTP_DEFAULT_MAX_UPLOAD;
    {
        const char *dir = opts->upload_dir;
        if (!dir || !*dir)
            dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = "/tmp";
        s->upload_dir = strdup(dir);
        if (!s->upload_dir) {
            nph_error_nomem(err);
            goto fail;
        }
    }
    s->max_json_depth =
        opts->max_json_depth > 0 ? opts->max_json_depth : NPH_JSON_MAX_DEPTH_DEFAULT;
    atomic_init(&s->stopping, 0);

    unsigned threads = opts->threads > 1 ? (unsigned)opts->threads : 1;
    unsigned timeout =
        opts->connection_timeout_s ? opts->connection_timeout_s : HTTP_DEFAULT_TIMEOUT;
    /* The connection's pool holds the read buffer (header lines are parsed in place), the
     * header table and the response's header block: twice the header limit plus room for the
     * rest. libmicrohttpd answers 431 itself when the pool overflows; request_begin enforces
     * the exact limit. 0 keeps libmicrohttpd's default (32 KiB). */
    size_t mem = 0;
    if (s->max_header)
        mem = 2 * s->max_header + 8192;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (is_v6)
        flags |= MHD_USE_IPv6;

    struct MHD_OptionItem ops[8];
    int n = 0;
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL};
    if (threads > 1)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    if (mem)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_cb, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    errno = 0;
    /* The logger goes first, so that libmicrohttpd reports option errors through it. */
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_logger, NULL, MHD_OPTION_ARRAY, ops,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        nph_error_set(err, NPH_E_IO, "cannot listen on '%s'", opts->listen);
        nph_error_detail(err, "libmicrohttpd failed to start: %s", e ? strerror(e) : "?");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : 0;
    char port[16], th[16];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(th, sizeof(th), "%u", threads);
    nph_log(NPH_LOG_INFO, "http.listen", "listen", opts->listen, "port", port, "threads", th, NULL);
    return s;

fail:
    server_free(s);
    return NULL;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* after quiescing, the listening socket is ours to close */

    int64_t t0 = nph_clock_mono();
    while (metrics_http_in_flight(s->metrics) > 0 && nph_clock_mono() - t0 < HTTP_STOP_GRACE_US) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int64_t t1 = nph_clock_mono();
    int64_t left = metrics_http_in_flight(s->metrics);
    if (left > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", (long long)left);
        nph_log(NPH_LOG_WARN, "http.stop", "msg", "grace period over, aborting requests",
                "in_flight", n, NULL);
    }
    MHD_stop_daemon(s->daemon);
    server_free(s);
    char drain[24], total[24];
    snprintf(drain, sizeof(drain), "%.3f", (double)(t1 - t0) / 1000.0);
    snprintf(total, sizeof(total), "%.3f", (double)(nph_clock_mono() - t0) / 1000.0);
    nph_log(NPH_LOG_INFO, "http.stopped", "drain_ms", drain, "total_ms", total, NULL);
}

int http_server_port(const struct http_server *s)
{
    return s ? s->port : 0;
}
