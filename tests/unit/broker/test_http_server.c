/*
 * test_http_server.c - drives a real http_server on 127.0.0.1:<ephemeral> with libcurl:
 * routing and params, 404/405, HEAD, body and header limits, request ids, JSON bodies and
 * content types, fault styles, keep-alive, the built-in /healthz, /readyz and /metrics, the
 * access log, a graceful stop with a slow request in flight, and the streaming paths: bodies
 * written to a temporary file (removed afterwards unless the handler takes it, 413 past the
 * upload limit) and files sent from their descriptor.
 *
 * The server's log goes to a temporary file so that tests can look for lines in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_server.h"
#include "nph_log.h"

#define MAX_BODY   1024
#define MAX_HEADER 4096
#define MAX_UPLOAD (256 * 1024)

static struct http_server *g_server;
static int g_port;
static int g_ready = 1;
static FILE *g_log;
static char g_upload_dir[] = "/tmp/nph-test-upload-XXXXXX";

/* ---- handlers ------------------------------------------------------------------------------ */

static int h_parts(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *j = json_pack("{s:s,s:s,s:i}", "id", req->params[0], "part", req->params[1], "n",
                          req->n_params);
    if (http_resp_json(resp, 200, j) != 0)
        return nph_error_nomem(err);
    return 0;
}

static int h_parts_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)req;
    (void)err;
    resp->status = 204;
    return 0;
}

static int h_files(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    if (http_resp_text(resp, 200, "text/plain", req->params[0]) != 0)
        return nph_error_nomem(err);
    return 0;
}

static int h_echo(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *j = http_req_json(req, err);
    if (!j)
        return -1;
    if (http_resp_json(resp, 200, j) != 0)
        return nph_error_nomem(err);
    http_resp_header(resp, "X-Echo", "yes");
    return 0;
}

static int h_missing(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)req;
    (void)resp;
    nph_error_set(err, NPH_E_NOT_FOUND, "project 'p1' not found");
    nph_error_detail(err, "secret-internal-detail");
    return -1;
}

static int h_slow(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    (void)req;
    nanosleep(&ts, NULL);
    if (http_resp_text(resp, 200, NULL, "slow") != 0)
        return nph_error_nomem(err);
    return 0;
}

static int h_zero(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)req;
    (void)err;
    resp->status = 0;
    return 0;
}

static int h_query(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    const char *v = http_req_query(req, "name");
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", v ? v : "(none)");
    if (http_resp_text(resp, 200, NULL, buf) != 0)
        return nph_error_nomem(err);
    return 0;
}

/* Body-to-file: report what arrived (length, a byte sum, whether a file was there). */
static int h_upload(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    unsigned long sum = 0;
    size_t n = 0;
    char buf[4096];
    int fd = req->body_path ? open(req->body_path, O_RDONLY) : -1;
    if (fd >= 0) {
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
            for (ssize_t i = 0; i < r; i++)
                sum += (unsigned char)buf[i];
            n += (size_t)r;
        }
        close(fd);
    }
    json_t *j = json_pack("{s:I,s:I,s:I,s:b,s:s}", "len", (json_int_t)req->body_len, "read",
                          (json_int_t)n, "sum", (json_int_t)sum, "in_memory", req->body != NULL,
                          "path", req->body_path ? req->body_path : "");
    if (http_resp_json(resp, 200, j) != 0)
        return nph_error_nomem(err);
    return 0;
}

/* Body-to-file, and the handler keeps the file (renames it, clears body_path). */
static int h_keep(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    char dst[512];
    snprintf(dst, sizeof(dst), "%s/kept-%s", g_upload_dir, req->params[0]);
    if (!req->body_path || rename(req->body_path, dst) != 0)
        return nph_error_set(err, NPH_E_IO, "cannot keep the upload");
    req->body_path = NULL;
    resp->status = 204;
    return 0;
}

/* Send the file named by the path from the upload directory. */
static int h_download(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_upload_dir, req->params[0]);
    if (http_resp_file(resp, 200, "application/octet-stream", path, err) != 0)
        return -1;
    http_resp_header(resp, "X-Echo", "file");
    return 0;
}

/* A file response replaced by a fault: the fault wins. */
static int h_download_fails(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kept-a", g_upload_dir);
    (void)req;
    if (http_resp_file(resp, 200, NULL, path, err) != 0)
        return -1;
    return nph_error_set(err, NPH_E_CONFLICT, "changed my mind");
}

static int app_ready(void *app, struct nph_error *err)
{
    (void)app;
    if (g_ready)
        return 0;
    return nph_error_set(err, NPH_E_STORE, "the store is not open");
}

/* Uploads carrying "X-Auth-Token: deny" are refused before their bytes reach the disk. */
static int app_upload_allowed(void *app, const char *token, struct nph_error *err)
{
    (void)app;
    if (token && strcmp(token, "deny") == 0)
        return nph_error_set(err, NPH_E_UNAUTHORIZED, "the token is not valid");
    return 0;
}

static const struct http_route routes[] = {
    {"GET", "/items/{id}/parts/{part}", h_parts, "items.parts.get", NPH_FAULT_NATIVE},
    {"DELETE", "/items/{id}/parts/{part}", h_parts_delete, "items.parts.delete", NPH_FAULT_NATIVE},
    {"GET", "/files/{*}", h_files, "files.get", NPH_FAULT_NATIVE},
    {"POST", "/echo", h_echo, "echo", NPH_FAULT_NATIVE},
    {"POST", "/ks/echo", h_echo, "ks.echo", NPH_FAULT_KEYSTONE},
    {"GET", "/ks/missing", h_missing, "ks.missing", NPH_FAULT_KEYSTONE},
    {"GET", "/native/missing", h_missing, "native.missing", NPH_FAULT_NATIVE},
    {"GET", "/os/missing", h_missing, "os.missing", NPH_FAULT_OPENSTACK},
    {"GET", "/slow", h_slow, "slow", NPH_FAULT_NATIVE},
    {"GET", "/zero", h_zero, "zero", NPH_FAULT_NATIVE},
    {"GET", "/query", h_query, "query", NPH_FAULT_NATIVE},
    {"PUT", "/up/{name}", h_upload, "up", NPH_FAULT_KEYSTONE | HTTP_ROUTE_BODY_TO_FILE},
    {"PUT", "/keep/{name}", h_keep, "keep", NPH_FAULT_KEYSTONE | HTTP_ROUTE_BODY_TO_FILE},
    {"POST", "/up/{name}", h_upload, "up.memory", NPH_FAULT_KEYSTONE},
    {"GET", "/dl/{name}", h_download, "dl", NPH_FAULT_KEYSTONE},
    {"GET", "/dl-fails", h_download_fails, "dl.fails", NPH_FAULT_KEYSTONE},
    {NULL, NULL, NULL, NULL, NPH_FAULT_NATIVE},
};

static struct http_server *start_server(const char *listen, int threads, struct nph_error *err)
{
    struct http_server_opts o = {
        .listen = listen,
        .threads = threads,
        .max_body_bytes = MAX_BODY,
        .max_header_bytes = MAX_HEADER,
        .max_json_depth = 8,
        .connection_timeout_s = 10,
        .routes = routes,
        .app = NULL,
        .ready = app_ready,
        .upload_allowed = app_upload_allowed,
        .upload_dir = g_upload_dir,
        .max_upload_bytes = MAX_UPLOAD,
    };
    return http_server_start(&o, err);
}

/* ---- a small libcurl client ---------------------------------------------------------------- */

struct reply {
    long status;
    char body[65536];
    size_t len;
    char request_id[64];
    char os_request_id[64];
    char compute_request_id[64];
    char allow[128];
    char ctype[128];
    char echo[16];
    long num_connects;
    curl_off_t content_length;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n;
    size_t room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && *v == ' ')
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    snprintf(out, cap, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n;
    header_value(p, len, "X-Request-Id", r->request_id, sizeof(r->request_id));
    header_value(p, len, "X-Openstack-Request-Id", r->os_request_id, sizeof(r->os_request_id));
    header_value(p, len, "X-Compute-Request-Id", r->compute_request_id,
                 sizeof(r->compute_request_id));
    header_value(p, len, "Allow", r->allow, sizeof(r->allow));
    header_value(p, len, "Content-Type", r->ctype, sizeof(r->ctype));
    header_value(p, len, "X-Echo", r->echo, sizeof(r->echo));
    return len;
}

/* Send one request on handle h (NULL: a fresh handle). extra: NULL-terminated header lines. */
static void do_req_on(CURL *h, int port, const char *method, const char *path, const char *body,
                      size_t body_len, const char *const *extra, struct reply *r)
{
    char url[1024];
    struct curl_slist *hdrs = NULL;
    int own = h == NULL;
    if (own)
        h = curl_easy_init();
    assert_non_null(h);
    memset(r, 0, sizeof(*r));
    curl_easy_reset(h);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    for (; extra && *extra; extra++)
        hdrs = curl_slist_append(hdrs, *extra);
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->num_connects);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length);
    curl_slist_free_all(hdrs);
    if (own)
        curl_easy_cleanup(h);
}

static void do_req(const char *method, const char *path, const char *body, const char *const *extra,
                   struct reply *r)
{
    do_req_on(NULL, g_port, method, path, body, body ? strlen(body) : 0, extra, r);
}

/* The error object of a fault body (member `key` of the top object), borrowed from *root. */
static json_t *fault_of(const struct reply *r, const char *key, json_t **root)
{
    *root = json_loads(r->body, 0, NULL);
    assert_non_null(*root);
    json_t *e = json_object_get(*root, key);
    assert_true(json_is_object(e));
    return e;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Upload `len` bytes of pattern data with PUT (chunked when `chunked`). */
static void do_upload(const char *path, size_t len, int chunked, struct reply *r)
{
    char *data = malloc(len + 1);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7 + 3);
    static const char *const chunked_hdr[] = {"Transfer-Encoding: chunked",
                                              "Content-Type: application/octet-stream", NULL};
    static const char *const plain_hdr[] = {"Content-Type: application/octet-stream", NULL};
    do_req_on(NULL, g_port, "PUT", path, data, len, chunked ? chunked_hdr : plain_hdr, r);
    free(data);
}

static unsigned long pattern_sum(size_t len)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += (unsigned char)(char)(i * 7 + 3);
    return sum;
}

/* Temporary upload files left in the upload directory. */
static int leftover_uploads(void)
{
    int n = 0;
    DIR *d = opendir(g_upload_dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "nph-upload-", 11) == 0;
    closedir(d);
    return n;
}

static void test_body_to_file(void **state)
{
    struct reply r;
    json_t *j;
    (void)state;

    /* Far past max_body_bytes (1 KiB), under the upload limit: streamed to a file. */
    for (int chunked = 0; chunked < 2; chunked++) {
        size_t len = 200 * 1024 + 17;
        do_upload("/up/x", len, chunked, &r);
        assert_int_equal(r.status, 200);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "len")), len);
        assert_int_equal(json_integer_value(json_object_get(j, "read")), len);
        assert_int_equal(json_integer_value(json_object_get(j, "sum")), pattern_sum(len));
        assert_true(json_is_false(json_object_get(j, "in_memory")));
        const char *p = json_string_value(json_object_get(j, "path"));
        assert_true(strncmp(p, g_upload_dir, strlen(g_upload_dir)) == 0);
        assert_int_equal(access(p, F_OK), -1); /* removed after the request */
        json_decref(j);
    }

    /* An upload the application refuses up front: 401, and nothing was written to disk. */
    {
        size_t len = 100 * 1024;
        char *data = calloc(1, len);
        static const char *const deny_hdr[] = {"X-Auth-Token: deny",
                                               "Content-Type: application/octet-stream", NULL};
        assert_non_null(data);
        do_req_on(NULL, g_port, "PUT", "/up/denied", data, len, deny_hdr, &r);
        free(data);
        assert_int_equal(r.status, 401);
        assert_int_equal(leftover_uploads(), 0);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }

    /* An empty body: a file of 0 bytes. */
    do_req("PUT", "/up/empty", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 0);
    json_decref(j);

    /* The same path without the flag (POST) keeps the in-memory limit. */
    do_req_on(NULL, g_port, "POST", "/up/x", "hello", 5, NULL, &r);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_true(json_is_true(json_object_get(j, "in_memory")));
    json_decref(j);
    {
        char *big = calloc(1, 4096);
        assert_non_null(big);
        do_req_on(NULL, g_port, "POST", "/up/x", big, 4096, NULL, &r);
        assert_int_equal(r.status, 413);
        free(big);
    }

    /* Over the upload limit: 413 in the route's style, declared or discovered (chunked). */
    do_upload("/up/big", MAX_UPLOAD + 1, 0, &r);
    assert_int_equal(r.status, 413);
    j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 413);
    json_decref(j);
    do_upload("/up/big", MAX_UPLOAD + 4096, 1, &r);
    assert_int_equal(r.status, 413);

    /* A handler that takes the file keeps it. */
    do_upload("/keep/a", 3000, 0, &r);
    assert_int_equal(r.status, 204);
    char kept[512];
    snprintf(kept, sizeof(kept), "%s/kept-a", g_upload_dir);
    struct stat sb;
    assert_int_equal(stat(kept, &sb), 0);
    assert_int_equal(sb.st_size, 3000);

    assert_int_equal(leftover_uploads(), 0);
    do_req("GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
}

static void test_file_response(void **state)
{
    struct reply r;
    json_t *root, *e;
    char path[512];
    (void)state;

    /* test_body_to_file left kept-a (3000 pattern bytes); write another file too. */
    snprintf(path, sizeof(path), "%s/data.bin", g_upload_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 50000; i++)
        fputc((char)(i * 7 + 3), f);
    fclose(f);

    do_req("GET", "/dl/data.bin", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 50000);
    assert_int_equal(r.content_length, 50000);
    assert_string_equal(r.ctype, "application/octet-stream");
    assert_string_equal(r.echo, "file");
    for (int i = 0; i < 50000; i++)
        assert_int_equal((unsigned char)r.body[i], (unsigned char)(char)(i * 7 + 3));

    do_req("HEAD", "/dl/data.bin", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_int_equal(r.content_length, 50000);

    /* An empty file is a 200 with Content-Length 0. */
    snprintf(path, sizeof(path), "%s/empty.bin", g_upload_dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    do_req("GET", "/dl/empty.bin", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);

    do_req("GET", "/dl/none.bin", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    e = fault_of(&r, "error", &root);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 404);
    json_decref(root);

    /* A fault after http_resp_file: the fault is sent, the descriptor closed. */
    do_req("GET", "/dl-fails", NULL, NULL, &r);
    assert_int_equal(r.status, 409);
    e = fault_of(&r, "error", &root);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 409);
    json_decref(root);
}

static void test_params(void **state)
{
    struct reply r;
    json_t *j;
    (void)state;
    do_req("GET", "/items/abc/parts/x%20y", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "abc");
    assert_string_equal(json_string_value(json_object_get(j, "part")), "x y");
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 2);
    json_decref(j);

    /* Trailing slash = no trailing slash. */
    do_req("GET", "/items/abc/parts/p/", NULL, NULL, &r);
    assert_int_equal(r.status, 200);

    /* {*} takes the rest, slashes (and a trailing one) included. */
    do_req("GET", "/files/a/b/c.txt", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "a/b/c.txt");
    do_req("GET", "/files/dir/", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "dir/");
    do_req("GET", "/files", NULL, NULL, &r);
    assert_int_equal(r.status, 404);

    do_req("GET", "/query?name=n%201&other=2", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "n 1");

    /* A handler returning 0 without a status answers 200. */
    do_req("GET", "/zero", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
}

static void test_not_found_and_method(void **state)
{
    struct reply r;
    json_t *root, *e;
    (void)state;
    do_req("GET", "/nope", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), r.request_id);
    json_decref(root);

    /* Too few / too many segments. */
    do_req("GET", "/items/abc/parts", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    do_req("GET", "/items/abc/parts/p/q", NULL, NULL, &r);
    assert_int_equal(r.status, 404);

    do_req("POST", "/items/abc/parts/p", "{}", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD, DELETE");
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "method_not_allowed");
    json_decref(root);

    do_req("DELETE", "/items/abc/parts/p", NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);

    do_req("POST", "/healthz", "", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
}

static void test_head(void **state)
{
    struct reply get, head;
    (void)state;
    do_req("GET", "/items/abc/parts/p", NULL, NULL, &get);
    do_req("HEAD", "/items/abc/parts/p", NULL, NULL, &head);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.len, 0);
    assert_int_equal(head.content_length, (curl_off_t)get.len);
    assert_string_equal(head.ctype, "application/json");
}

static void test_json_body(void **state)
{
    struct reply r;
    json_t *root, *e;
    static const char *const json_ct[] = {"Content-Type: application/json; charset=UTF-8", NULL};
    static const char *const no_ct[] = {"Content-Type:", NULL};
    static const char *const text_ct[] = {"Content-Type: text/plain", NULL};
    static const char *const latin_ct[] = {"Content-Type: application/json; charset=latin1", NULL};
    (void)state;

    do_req("POST", "/echo", "{\"a\":[1,2,{\"b\":null}]}", json_ct, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.echo, "yes");
    root = json_loads(r.body, 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "a")), 3);
    json_decref(root);

    /* No content type at all is accepted. */
    do_req("POST", "/echo", "{\"x\":1}", no_ct, &r);
    assert_int_equal(r.status, 200);

    do_req("POST", "/echo", "{\"x\":", json_ct, &r);
    assert_int_equal(r.status, 400);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_request");
    json_decref(root);

    do_req("POST", "/echo", "", json_ct, &r);
    assert_int_equal(r.status, 400);

    do_req("POST", "/echo", "[1]", json_ct, &r);
    assert_int_equal(r.status, 400);

    do_req("POST", "/echo", "{\"x\":1}", text_ct, &r);
    assert_int_equal(r.status, 415);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unsupported_media_type");
    json_decref(root);
    do_req("POST", "/echo", "{\"x\":1}", latin_ct, &r);
    assert_int_equal(r.status, 415);
    /* libcurl's default for POST data is a form: also refused. */
    do_req("POST", "/echo", "{\"x\":1}", NULL, &r);
    assert_int_equal(r.status, 415);

    /* Deeper than max_json_depth (8). */
    do_req("POST", "/echo", "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", json_ct, &r);
    assert_int_equal(r.status, 400);
}

static void test_body_limit(void **state)
{
    struct reply r;
    json_t *root, *e;
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    char *big = malloc(64 * 1024);
    CURL *h = curl_easy_init();
    (void)state;
    assert_non_null(big);
    memset(big, ' ', 64 * 1024);
    big[0] = '{';
    big[64 * 1024 - 2] = '}';
    big[64 * 1024 - 1] = '\0';

    do_req_on(h, g_port, "POST", "/echo", big, 4096, json_ct, &r);
    assert_int_equal(r.status, 413);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "payload_too_large");
    json_decref(root);

    /* The fault style follows the route. */
    do_req_on(h, g_port, "POST", "/ks/echo", big, 64 * 1024 - 1, json_ct, &r);
    assert_int_equal(r.status, 413);
    e = fault_of(&r, "error", &root);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 413);
    assert_non_null(json_object_get(e, "title"));
    json_decref(root);

    /* Exactly at the limit is fine, and the server keeps serving on the same connection. */
    memset(big, ' ', MAX_BODY);
    big[0] = '{';
    big[MAX_BODY - 1] = '}';
    do_req_on(h, g_port, "POST", "/echo", big, MAX_BODY, json_ct, &r);
    assert_int_equal(r.status, 200);
    do_req_on(h, g_port, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    curl_easy_cleanup(h);
    free(big);

    /* Far over the limit (more than 16 MiB to drop): the server hangs up without an answer
     * rather than reading on, and keeps serving others. */
    size_t huge_len = 20 * 1024 * 1024;
    char *huge = calloc(1, huge_len);
    char url[64];
    long status = 0;
    assert_non_null(huge);
    h = curl_easy_init();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", g_port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, huge);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)huge_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    memset(&r, 0, sizeof(r));
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_true(rc != CURLE_OK || status == 413);
    curl_easy_cleanup(h);
    free(huge);
    do_req("GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
}

static void test_header_limit(void **state)
{
    struct reply r;
    char *line = malloc(64 * 1024);
    const char *extra[] = {line, NULL};
    (void)state;
    assert_non_null(line);

    snprintf(line, 64 * 1024, "X-Pad: %0*d", MAX_HEADER / 2, 0);
    do_req("GET", "/healthz", NULL, extra, &r);
    assert_int_equal(r.status, 200);

    snprintf(line, 64 * 1024, "X-Pad: %0*d", MAX_HEADER + 100, 0);
    do_req("GET", "/healthz", NULL, extra, &r);
    assert_int_equal(r.status, 431);

    /* Far over: libmicrohttpd's own pool limit answers. */
    snprintf(line, 64 * 1024, "X-Pad: %0*d", 60 * 1024, 0);
    do_req("GET", "/healthz", NULL, extra, &r);
    assert_true(r.status == 431 || r.status == 413);

    do_req("GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(line);
}

static void test_request_id(void **state)
{
    struct reply r;
    static const char *const sane[] = {"X-Request-Id: abc.DEF_123-x", NULL};
    static const char *const os[] = {"X-Openstack-Request-Id: req-from-openstack", NULL};
    static const char *const spaces[] = {"X-Request-Id: bad id", NULL};
    static const char *const inject[] = {"X-Request-Id: a\"b", NULL};
    static const char *const too_long[] = {
        "X-Request-Id: 0123456789012345678901234567890123456789x", NULL};
    (void)state;

    do_req("GET", "/healthz", NULL, sane, &r);
    assert_string_equal(r.request_id, "abc.DEF_123-x");
    assert_string_equal(r.os_request_id, "abc.DEF_123-x");
    do_req("GET", "/healthz", NULL, os, &r);
    assert_string_equal(r.request_id, "req-from-openstack");

    const char *const *bad[] = {spaces, inject, too_long, NULL};
    for (int i = 0; bad[i]; i++) {
        do_req("GET", "/healthz", NULL, bad[i], &r);
        assert_int_equal(strncmp(r.request_id, "req-", 4), 0);
        assert_int_equal(strlen(r.request_id), 40);
        assert_string_equal(r.request_id, r.os_request_id);
    }
    /* Fresh ids differ. */
    char first[64];
    do_req("GET", "/healthz", NULL, NULL, &r);
    snprintf(first, sizeof(first), "%s", r.request_id);
    do_req("GET", "/healthz", NULL, NULL, &r);
    assert_string_not_equal(first, r.request_id);
}

static void test_fault_styles(void **state)
{
    struct reply r;
    json_t *root, *e;
    (void)state;

    do_req("GET", "/ks/missing", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    e = fault_of(&r, "error", &root);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 404);
    assert_string_equal(json_string_value(json_object_get(e, "title")), "Not Found");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "project 'p1' not found");
    json_decref(root);
    assert_null(strstr(r.body, "secret-internal-detail"));

    do_req("GET", "/native/missing", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "project 'p1' not found");
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), r.request_id);
    json_decref(root);
    assert_null(strstr(r.body, "secret-internal-detail"));

    do_req("GET", "/os/missing", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    e = fault_of(&r, "itemNotFound", &root);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 404);
    json_decref(root);
    /* Nova-style routes also name the request id the way Nova does. */
    assert_string_equal(r.compute_request_id, r.request_id);
    do_req("GET", "/zero", NULL, NULL, &r);
    assert_string_equal(r.compute_request_id, "");
}

static void test_keep_alive(void **state)
{
    struct reply r;
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    CURL *h = curl_easy_init();
    (void)state;
    do_req_on(h, g_port, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.num_connects, 1);
    do_req_on(h, g_port, "GET", "/items/a/parts/b", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.num_connects, 0);
    do_req_on(h, g_port, "POST", "/echo", "{\"k\":1}", 7, json_ct, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.num_connects, 0);
    do_req_on(h, g_port, "GET", "/nope", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    do_req_on(h, g_port, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.num_connects, 0);
    curl_easy_cleanup(h);
}

static void test_builtins(void **state)
{
    struct reply r;
    json_t *root, *e;
    (void)state;
    do_req("GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");

    do_req("GET", "/readyz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    g_ready = 0;
    do_req("GET", "/readyz", NULL, NULL, &r);
    g_ready = 1;
    assert_int_equal(r.status, 503);
    e = fault_of(&r, "error", &root);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unavailable");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "the store is not open");
    json_decref(root);
}

static void test_metrics(void **state)
{
    struct reply r;
    (void)state;
    do_req("GET", "/items/m/parts/n", NULL, NULL, &r);
    do_req("GET", "/items/m/parts/n", NULL, NULL, &r);
    do_req("GET", "/metrics-nope", NULL, NULL, &r);
    do_req("GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "# TYPE nephele_http_requests_total counter"));
    assert_non_null(strstr(r.body, "nephele_http_requests_total{route=\"items.parts.get\","
                                   "method=\"GET\",status=\"200\"} "));
    assert_non_null(strstr(r.body, "nephele_http_requests_total{route=\"unmatched\","
                                   "method=\"GET\",status=\"404\"} "));
    assert_non_null(strstr(r.body, "nephele_http_request_duration_seconds_bucket{route=\""
                                   "items.parts.get\",le=\"+Inf\"} "));
    assert_non_null(strstr(r.body, "nephele_http_request_duration_seconds_sum{route=\""
                                   "items.parts.get\"} "));
    assert_non_null(strstr(r.body, "nephele_http_request_duration_seconds_count{route=\""
                                   "items.parts.get\"} "));
    assert_non_null(strstr(r.body, "\nnephele_http_requests_in_flight 1\n"));
    assert_non_null(strstr(r.body, "\nprocess_resident_memory_bytes "));

    /* The counter moves by one per request. */
    const char *key = "nephele_http_requests_total{route=\"items.parts.get\",method=\"GET\","
                      "status=\"200\"} ";
    long before = strtol(strstr(r.body, key) + strlen(key), NULL, 10);
    do_req("GET", "/items/m/parts/n", NULL, NULL, &r);
    do_req("GET", "/metrics", NULL, NULL, &r);
    long after = strtol(strstr(r.body, key) + strlen(key), NULL, 10);
    assert_int_equal(after, before + 1);
}

static void test_access_log(void **state)
{
    struct reply r;
    char buf[1 << 16];
    static const char *const rid[] = {"X-Request-Id: log-check-1", NULL};
    (void)state;
    do_req("GET", "/native/missing?token=zzsecretzz", NULL, rid, &r);
    fflush(g_log);
    rewind(g_log);
    size_t n = fread(buf, 1, sizeof(buf) - 1, g_log);
    buf[n] = '\0';
    const char *line = strstr(buf, "event=http.access req=log-check-1");
    assert_non_null(line);
    assert_non_null(strstr(line, "method=GET path=/native/missing status=404"));
    assert_null(strstr(buf, "zzsecretzz"));
    /* The detail is logged, not sent. */
    assert_non_null(strstr(buf, "detail=secret-internal-detail"));
}

static void test_listen_errors(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char addr[64];
    (void)state;
    assert_null(start_server("nonsense", 1, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(start_server("127.0.0.1:99999", 1, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(start_server("[::1:80", 1, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", g_port);
    assert_null(start_server(addr, 1, &err));
    assert_int_equal(err.code, NPH_E_IO);

    /* IPv6 where the machine has it. */
    struct http_server *s6 = start_server("[::1]:0", 1, &err);
    if (!s6) {
        print_message("skipping IPv6: %s (%s)\n", err.msg, err.detail);
        return;
    }
    assert_true(http_server_port(s6) > 0);
    CURL *h = curl_easy_init();
    char url[64];
    long status = 0;
    snprintf(url, sizeof(url), "http://[::1]:%d/healthz", http_server_port(s6));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    curl_easy_cleanup(h);
    http_server_stop(s6);
}

struct slow_call {
    int port;
    struct reply r;
};

static void *slow_thread(void *arg)
{
    struct slow_call *sc = arg;
    do_req_on(NULL, sc->port, "GET", "/slow", NULL, 0, NULL, &sc->r);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct slow_call sc;
    pthread_t t;
    (void)state;
    struct http_server *s = start_server("127.0.0.1:0", 2, &err);
    assert_non_null(s);
    sc.port = http_server_port(s);
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &sc), 0);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    http_server_stop(s);
    pthread_join(t, NULL);
    assert_int_equal(sc.r.status, 200);
    assert_string_equal(sc.r.body, "slow");

    /* A stopped server does not listen any more. */
    CURL *h = curl_easy_init();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", sc.port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 2L);
    assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);

    http_server_stop(NULL);
}

static int group_setup(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!mkdtemp(g_upload_dir))
        return -1;
    g_log = tmpfile();
    if (!g_log)
        return -1;
    nph_log_init(NPH_LOG_INFO, NPH_LOG_TEXT, fileno(g_log));
    g_server = start_server("127.0.0.1:0", 2, &err);
    if (!g_server) {
        fprintf(stderr, "cannot start the server: %s (%s)\n", err.msg, err.detail);
        return -1;
    }
    g_port = http_server_port(g_server);
    return g_port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_stop(g_server);
    nph_log_init(NPH_LOG_INFO, NPH_LOG_TEXT, 2);
    fclose(g_log);
    curl_global_cleanup();
    DIR *d = opendir(g_upload_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", g_upload_dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(g_upload_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_head),          cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_body_limit),    cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_request_id),    cmocka_unit_test(test_fault_styles),
        cmocka_unit_test(test_keep_alive),    cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_metrics),       cmocka_unit_test(test_access_log),
        cmocka_unit_test(test_listen_errors), cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_body_to_file),  cmocka_unit_test(test_file_response),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
