/*
 * http_server.h - the broker's HTTP front: libmicrohttpd, a thread pool with epoll, a route
 * table, request ids, limits, an access log, Prometheus metrics and graceful shutdown.
 *
 * Lifecycle of a request: libmicrohttpd calls the access handler several times; the first call
 * only allocates the request state (queueing a response on the first call makes libmicrohttpd
 * 0.9.75 drop keep-alive), body chunks are appended (over max_body_bytes -> 413 at once, the
 * rest discarded), and the final call routes and queues the response. The route's handler fills
 * a struct http_resp; the server adds X-Request-Id / X-Openstack-Request-Id, Content-Length,
 * records metrics and writes the access log line.
 *
 * Errors: handlers return -1 with a struct nph_error; the server renders it in the route's
 * fault style: NPH_FAULT_NATIVE -> {"error":{"code":"not_found","message":...,"request_id":...}}
 * NPH_FAULT_KEYSTONE -> {"error":{"code":404,"title":"Not Found","message":...}}
 * NPH_FAULT_OPENSTACK -> {"itemNotFound":{"code":404,"message":...}} (Nova style; later issues).
 *
 * Streaming: a route whose `fault` is OR-ed with HTTP_ROUTE_BODY_TO_FILE gets its body written
 * to a temporary file under http_server_opts.upload_dir (limit max_upload_bytes) instead of
 * memory: the handler sees req->body == NULL, req->body_len = the bytes received and
 * req->body_path. The server removes the file after the handler returns unless the handler took
 * it (renamed it away and set req->body_path to NULL). http_resp_file() answers with a file
 * that libmicrohttpd sends from its descriptor, so neither direction holds a body in memory.
 */
#ifndef NPH_HTTP_SERVER_H
#define NPH_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

/* A route's `fault` is one style, optionally OR-ed with HTTP_ROUTE_* flags. The flags live in
 * this field (rather than a new member of struct http_route) so that every existing
 * positional route table stays complete under -Wmissing-field-initializers. */
enum http_fault_style {
    NPH_FAULT_NATIVE,
    NPH_FAULT_KEYSTONE,
    NPH_FAULT_OPENSTACK,
    HTTP_FAULT_STYLE_MASK = 0xff,
    HTTP_ROUTE_BODY_TO_FILE = 0x100 /* stream the body to a temporary file (see above) */
};

#define HTTP_MAX_PARAMS  8
#define HTTP_MAX_HEADERS 64

struct http_server;
struct http_route;

struct http_req {
    const char *method; /* "GET", ... (borrowed) */
    const char *path;   /* URL path without the query, percent-decoded by libmicrohttpd */
    const char *body;   /* NUL-terminated copy of the body (NULL if none) */
    size_t body_len;
    char request_id[41]; /* "req-<uuid>" (or the client's X-Request-Id/X-Openstack-Request-Id
                            when it is a sane token of <= 40 chars) */
    const struct http_route *route;
    const char *params[HTTP_MAX_PARAMS]; /* values of {name} segments, in pattern order */
    int n_params;
    void *conn; /* struct MHD_Connection *, for the accessors below */
    void *app;  /* http_server_opts.app */
    void *auth; /* filled by the application's middleware (route handler side) */
    int max_json_depth;
    /* HTTP_ROUTE_BODY_TO_FILE routes: the temporary file holding the body (body_len bytes),
     * owned by the server. A handler that keeps the file renames it and sets this to NULL. */
    const char *body_path;
    /* HTTP_ROUTE_BODY_TO_FILE routes: the MD5 of the body, computed while it was written
     * (32 lower-case hex digits; "" when the body was not stored). */
    char body_md5[33];
    /* ... and its CRC-32C (nph_crc32c.h), the checksum reads verify; -1 when not computed. */
    int64_t body_crc32c;
};

/* A streamed body's reader: copy up to max bytes at offset pos into buf; return the count
 * (> 0), or -1 to abort the response (the connection is closed, so the client sees a short
 * body and never a complete one). Runs on the server's thread after the handler returned. */
typedef long (*http_stream_read_fn)(void *ctx, uint64_t pos, char *buf, size_t max);

struct http_resp {
    int status; /* default 200 */
    char *body; /* malloc'd; owned by the server after the handler returns */
    size_t body_len;
    const char *content_type; /* static string; default "application/json" when body set */
    struct {
        char *name;  /* malloc'd */
        char *value; /* malloc'd */
    } headers[HTTP_MAX_HEADERS];
    int n_headers;
    int head_only; /* HEAD: send headers (with Content-Length of body) only */
    /* Set by http_resp_file: the descriptor to send (owned by the server) and its size. */
    int has_file;
    int file_fd;
    uint64_t file_size;
    /* Set by http_resp_stream: the body comes from stream_read (see there). */
    int has_stream;
    uint64_t stream_size;
    http_stream_read_fn stream_read;
    void (*stream_free)(void *ctx);
    void *stream_ctx;
};

/* A handler returns 0 with resp filled, or -1 with err set (the server renders the fault). */
typedef int (*http_handler_fn)(struct http_req *req, struct http_resp *resp, struct nph_error *err);

struct http_route {
    const char *method;  /* "GET", "POST", ...; a GET route also answers HEAD */
    const char *pattern; /* "/identity/v3/projects/{project_id}"; a final "{*}" matches
                            the rest of the path (one param) */
    http_handler_fn handler;
    const char *name; /* metrics label, e.g. "identity.projects.get" */
    enum http_fault_style fault;
};

struct http_server_opts {
    const char *listen; /* "127.0.0.1:8787", "[::1]:8787" */
    int threads;        /* >= 1 */
    size_t max_body_bytes;
    size_t max_header_bytes;
    int max_json_depth;
    unsigned connection_timeout_s;
    const struct http_route *routes; /* array terminated by {NULL} (borrowed, must outlive) */
    void *app;                       /* passed to handlers as req->app */
    /* /readyz asks this (NULL = always ready): 0 ready, -1 not (err says why). */
    int (*ready)(void *app, struct nph_error *err);
    /* Body-to-file routes ask this with the request's X-Auth-Token (may be NULL) as soon as
     * the headers are in, before any byte is written to disk: -1 (err says why) refuses the
     * upload, so an unauthenticated client cannot fill the disk. NULL = no check. */
    int (*upload_allowed)(void *app, const char *auth_token, struct nph_error *err);
    /* HTTP_ROUTE_BODY_TO_FILE bodies: where the temporary files go (NULL = $TMPDIR, else
     * /tmp; put it on the filesystem where handlers keep the data so that they can rename)
     * and the largest accepted body (0 = HTTP_DEFAULT_MAX_UPLOAD). */
    const char *upload_dir;
    uint64_t max_upload_bytes;
    /* More Prometheus text appended to /metrics (malloc'd; NULL = none). */
    char *(*extra_metrics)(void *app, size_t *len);
};

#define HTTP_DEFAULT_MAX_UPLOAD (10ULL * 1024 * 1024 * 1024) /* 10 GiB */

/* Bind and start serving. Built-in routes (not in the table): GET / is left to the table;
 * GET /healthz ("ok"), GET /readyz, GET /metrics. Returns NULL with err set if the address
 * cannot be bound. */
struct http_server *http_server_start(const struct http_server_opts *opts, struct nph_error *err);
/* Stop accepting, let in-flight requests finish (up to 10 s), free. NULL is a no-op. */
void http_server_stop(struct http_server *s);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

/* Request accessors. Header lookup is case-insensitive; results borrowed for the request. */
const char *http_req_header(const struct http_req *req, const char *name);
const char *http_req_query(const struct http_req *req, const char *name);
/* Iterate request headers: calls fn(name, value, ctx) for each; returns the count. */
int http_req_header_each(const struct http_req *req,
                         void (*fn)(const char *name, const char *value, void *ctx), void *ctx);
/* Iterate query arguments: calls fn(key, value, ctx) for each; returns the count. */
int http_req_query_each(const struct http_req *req,
                        void (*fn)(const char *key, const char *value, void *ctx), void *ctx);
/* Parse the body as a JSON object (limits from the server). Requires a JSON content type
 * when a Content-Type is present (else NPH_E_UNSUPPORTED_MEDIA); empty body -> NPH_E_INVALID.
 * Returns a new reference or NULL. */
json_t *http_req_json(const struct http_req *req, struct nph_error *err);

/* Response helpers. http_resp_json steals `body` (json_decref'd after dumping) and sets the
 * status. http_resp_header copies name and value. */
int http_resp_json(struct http_resp *resp, int status, json_t *body);
int http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text);
int http_resp_header(struct http_resp *resp, const char *name, const char *value);
/* Answer with the contents of the file at `path` (opened now, sent by libmicrohttpd from the
 * descriptor; never read into memory). Replaces any body. Returns 0, or -1 with err set
 * (NPH_E_NOT_FOUND when the file does not exist, NPH_E_IO otherwise). */
int http_resp_file(struct http_resp *resp, int status, const char *content_type, const char *path,
                   struct nph_error *err);

/* Answer with `size` bytes produced by read(ctx, ...) as libmicrohttpd sends them (never
 * held whole in memory). free_fn(ctx) runs once when the response is done (also on errors
 * and for HEAD, where read is never called). Replaces any body. */
void http_resp_stream(struct http_resp *resp, int status, const char *content_type, uint64_t size,
                      http_stream_read_fn read, void (*free_fn)(void *ctx), void *ctx);

/* Render an error in a fault style into resp (used by the server and by handlers that
 * need custom faults). */
void http_resp_fault(struct http_resp *resp, enum http_fault_style style,
                     const struct nph_error *err, const char *request_id);

#endif
