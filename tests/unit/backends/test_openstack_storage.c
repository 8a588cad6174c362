/*
 * test_openstack_storage.c - the openstack driver's volume (Cinder v3) and object (Swift)
 * families against a scripted fake cloud on 127.0.0.1: requests as Cinder and Swift document
 * them (bodies, ETag on uploads, the container listing query), two pages of volumes, faults
 * (Cinder's {"badRequest": ...}, Swift's HTML pages) mapped to errors naming the cloud, a 401
 * in the middle of a streamed upload answered by one re-authentication and a resend from the
 * file's start, a download streamed into a sink that may abort, garbage refused, and a catalog
 * without the services clearing the families.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nph_clock.h"
#include "nph_http.h"
#include "openstack/openstack_internal.h"

#define BIG (300 * 1024 + 7) /* an object larger than any one buffer */

static struct fake {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    int stop;
    int no_storage; /* the catalog lists no volume or object service */
    int fail_401;   /* how many requests answer 401 */
    int auths;
    char token[32];
    /* what the last request was */
    char method[16], path[1024], etag[64], ctype[128];
    char *body;
    size_t body_len;
} F;

static void reply_ct(int fd, int status, const char *ctype, const char *extra, const char *body,
                     size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\n%s\r\n",
                     status, ctype, len, extra);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

static void reply(int fd, int status, const char *extra, const char *body)
{
    reply_ct(fd, status, "application/json", extra, body, strlen(body));
}

static void header_value(const char *req, const char *name, char *out, size_t len)
{
    char key[80];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *p = strcasestr(req, key);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(key);
    while (*p == ' ')
        p++;
    snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
}

/* A body of BIG bytes: byte i is (i * 7) & 0xff. */
static char *big_body(void)
{
    char *b = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        b[i] = (char)((i * 7) & 0xff);
    return b;
}

static void handle(int fd)
{
    size_t cap = 1 << 20, n = 0, head_len = 0;
    char *req = malloc(cap + 1), method[16], path[1024], tok[64], cl[32], body[4096];
    long want = -1;
    while (n < cap) {
        ssize_t r = recv(fd, req + n, cap - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        if (end && want < 0) {
            head_len = (size_t)(end + 4 - req);
            header_value(req, "Content-Length", cl, sizeof(cl));
            want = atol(cl);
        }
        if (want >= 0 && n >= head_len + (size_t)want)
            break;
    }
    req[n] = '\0';
    if (sscanf(req, "%15s %1023s", method, path) != 2) {
        free(req);
        return;
    }
    header_value(req, "X-Auth-Token", tok, sizeof(tok));

    pthread_mutex_lock(&F.mu);
    if (strcmp(path, "/v3/auth/tokens") == 0) {
        char exp[40], hdr[96];
        nph_time_format(nph_clock_now() + 3600LL * 1000000, 0, exp, sizeof(exp));
        snprintf(F.token, sizeof(F.token), "tok-%d", ++F.auths);
        snprintf(hdr, sizeof(hdr), "X-Subject-Token: %s\r\n", F.token);
        char storage[512] = "";
        if (!F.no_storage)
            snprintf(storage, sizeof(storage),
                     ", {\"type\": \"volumev3\", \"endpoints\": [{\"interface\": \"public\", "
                     "\"region_id\": \"R\", \"url\": \"http://127.0.0.1:%d/volume/v3/p\"}]}, "
                     "{\"type\": \"object-store\", \"endpoints\": [{\"interface\": \"public\", "
                     "\"region_id\": \"R\", \"url\": \"http://127.0.0.1:%d/swift/v1/AUTH_p\"}]}",
                     F.port, F.port);
        snprintf(body, sizeof(body),
                 "{\"token\": {\"expires_at\": \"%s\", \"catalog\": [{\"type\": \"compute\", "
                 "\"endpoints\": [{\"interface\": \"public\", \"region_id\": \"R\", \"url\": "
                 "\"http://127.0.0.1:%d/compute/v2.1\"}]}%s]}}",
                 exp, F.port, storage);
        pthread_mutex_unlock(&F.mu);
        reply(fd, 201, hdr, body);
        free(req);
        return;
    }
    snprintf(F.method, sizeof(F.method), "%s", method);
    snprintf(F.path, sizeof(F.path), "%s", path);
    header_value(req, "ETag", F.etag, sizeof(F.etag));
    header_value(req, "Content-Type", F.ctype, sizeof(F.ctype));
    free(F.body);
    F.body_len = n > head_len ? n - head_len : 0;
    F.body = malloc(F.body_len + 1);
    memcpy(F.body, req + head_len, F.body_len);
    F.body[F.body_len] = '\0';
    if (strcmp(tok, F.token) != 0 || F.fail_401 > 0) {
        if (F.fail_401 > 0)
            F.fail_401--;
        pthread_mutex_unlock(&F.mu);
        reply_ct(fd, 401, "text/html", "", "<html><h1>Unauthorized</h1></html>", 34);
        free(req);
        return;
    }
    pthread_mutex_unlock(&F.mu);
    free(req);

    if (!strcmp(method, "POST") && !strcmp(path, "/volume/v3/p/volumes")) {
        reply(fd, 202, "",
              "{\"volume\": {\"id\": \"v-1\", \"name\": \"data\", \"status\": \"creating\", "
              "\"size\": 2, \"attachments\": [], \"created_at\": \"2026-11-26T10:00:00.000000\"}}");
    } else if (!strcmp(path, "/volume/v3/p/volumes/detail")) {
        snprintf(body, sizeof(body),
                 "{\"volumes\": [{\"id\": \"v-1\", \"name\": \"data\", \"status\": \"in-use\", "
                 "\"size\": 2, \"attachments\": [{\"server_id\": \"s-9\", \"device\": "
                 "\"/dev/vdb\"}], \"volume_image_metadata\": {\"image_id\": \"i-3\"}}], "
                 "\"volumes_links\": [{\"rel\": \"next\", \"href\": "
                 "\"http://127.0.0.1:%d/volume/v3/p/volumes/detail?marker=v-1\"}]}",
                 F.port);
        reply(fd, 200, "", body);
    } else if (!strcmp(path, "/volume/v3/p/volumes/detail?marker=v-1")) {
        reply(fd, 200, "",
              "{\"volumes\": [{\"id\": \"v-2\", \"name\": null, \"status\": \"available\", "
              "\"size\": 1}]}");
    } else if (!strcmp(path, "/volume/v3/p/volumes/v-2")) {
        reply(fd, 200, "", "{\"volume\": {\"id\": \"v-2\", \"status\": \"available\"}}");
    } else if (!strcmp(path, "/volume/v3/p/volumes/v-1/action")) {
        reply(fd, 400, "",
              "{\"badRequest\": {\"code\": 400, \"message\": \"Invalid volume: Volume status "
              "must be available to extend.\"}}");
    } else if (!strcmp(path, "/volume/v3/p/volumes/gone")) {
        reply(fd, 404, "",
              "{\"itemNotFound\": {\"code\": 404, \"message\": \"Volume gone could not be "
              "found.\"}}");
    } else if (!strcmp(method, "PUT") && !strcmp(path, "/swift/v1/AUTH_p/c1")) {
        reply_ct(fd, 201, "text/html", "", "", 0);
    } else if (!strcmp(method, "PUT") && !strcmp(path, "/swift/v1/AUTH_p/old")) {
        reply_ct(fd, 202, "text/html", "", "", 0);
    } else if (!strcmp(method, "HEAD") && !strcmp(path, "/swift/v1/AUTH_p/c1")) {
        reply_ct(fd, 204, "text/plain",
                 "X-Container-Object-Count: 3\r\nX-Container-Bytes-Used: 12345\r\n", "", 0);
    } else if (!strcmp(method, "DELETE") && !strcmp(path, "/swift/v1/AUTH_p/c1")) {
        const char *page = "<html><h1>Conflict</h1><p>There was a conflict when trying to "
                           "complete your request.</p></html>";
        reply_ct(fd, 409, "text/html", "", page, strlen(page));
    } else if (!strncmp(path, "/swift/v1/AUTH_p?format=json", 28) && strstr(path, "marker=zz")) {
        reply(fd, 200, "", "[{\"name\": \"zz1\", \"bytes\": 3}]"); /* no count */
    } else if (!strncmp(path, "/swift/v1/AUTH_p?format=json", 28)) {
        reply(fd, 200, "",
              "[{\"name\": \"a\", \"count\": 2, \"bytes\": 10}, {\"name\": \"nephele-p-b\", "
              "\"count\": 0, \"bytes\": 0, \"last_modified\": \"2026-11-26T10:00:00.000000\"}, "
              "{\"name\": \"z\", \"count\": 1, \"bytes\": 1}]");
    } else if (!strncmp(path, "/swift/v1/AUTH_p/c1?format=json", 31)) {
        reply(fd, 200, "",
              "[{\"name\": \"a/b\", \"bytes\": 5, \"hash\": \"h1\", \"content_type\": "
              "\"text/plain\", \"last_modified\": \"2026-11-26T10:00:00.000000\"}, {\"subdir\": "
              "\"x/\"}, {\"name\": \"c\", \"bytes\": 7, \"hash\": \"h2\"}, {\"name\": \"d\", "
              "\"bytes\": 1, \"hash\": \"h3\"}]");
    } else if (!strncmp(path, "/swift/v1/AUTH_p/bad?format=json", 32)) {
        reply(fd, 200, "", "{\"not\": \"a list\"}");
    } else if (!strcmp(method, "PUT") && !strcmp(path, "/swift/v1/AUTH_p/c1/dir%2Fobj")) {
        reply_ct(fd, 201, "text/html", "Etag: 0123456789abcdef0123456789abcdef\r\n", "", 0);
    } else if (!strcmp(path, "/swift/v1/AUTH_p/c1/big")) {
        if (!strcmp(method, "HEAD")) { /* the length of what a GET would send, no body */
            char head[256];
            int hn = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Type: application/x-big\r\nEtag: "
                              "\"feedface\"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                              BIG);
            send(fd, head, (size_t)hn, MSG_NOSIGNAL);
        } else {
            char *b = big_body();
            reply_ct(fd, 200, "application/x-big", "Etag: \"feedface\"\r\n", b, BIG);
            free(b);
        }
    } else {
        const char *page = "<html><h1>Not Found</h1><p>The resource could not be found.</p>"
                           "</html>";
        reply_ct(fd, 404, "text/html", "", page, strlen(page));
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p = {F.fd, POLLIN, 0};
        pthread_mutex_lock(&F.mu);
        int stop = F.stop;
        pthread_mutex_unlock(&F.mu);
        if (stop)
            return NULL;
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(F.fd, NULL, NULL);
        if (c < 0)
            continue;
        handle(c);
        close(c);
    }
}

static struct nph_backend *open_fake(void)
{
    char cfg[512];
    struct nph_error err = NPH_ERROR_INIT;
    snprintf(cfg, sizeof(cfg),
             "{\"name\": \"fake\", \"kind\": \"openstack\", \"region_name\": \"R\", \"auth\": "
             "{\"auth_url\": \"http://127.0.0.1:%d/v3\", \"user_id\": \"u\", \"password\": "
             "\"p\", \"project_id\": \"p\"}}",
             F.port);
    json_t *j = json_loads(cfg, 0, NULL);
    struct nph_backend *b = nph_backend_open(j, NULL, &err);
    json_decref(j);
    if (!b)
        fail_msg("open: %s", err.msg);
    return b;
}

static void script(int no_storage, int fail_401)
{
    pthread_mutex_lock(&F.mu);
    F.no_storage = no_storage;
    F.fail_401 = fail_401;
    F.auths = 0;
    pthread_mutex_unlock(&F.mu);
}

static const struct nph_backend_ctx ctx = {"p", "u", NULL, 5000};

static void test_volumes(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_volume v;
    struct nph_volume_list l = {0};
    script(0, 0);
    struct nph_backend *b = open_fake();
    const struct nph_volume_ops *ops = nph_backend_volume(b, &err);
    assert_non_null(ops);
    struct nph_volume_spec spec = {.name = "data", .size_gb = 2, .image_id = "i-3"};
    if (ops->volume_create(b, &ctx, &spec, &v, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(v.remote_id, "v-1");
    assert_string_equal(v.status, "creating");
    assert_int_equal(v.size_gb, 2);
    /* the body Cinder documents */
    json_t *sent = json_loads(F.body, 0, NULL);
    assert_non_null(sent);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sent, "volume"), "size")),
                     2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sent, "volume"), "imageRef")), "i-3");
    json_decref(sent);

    if (ops->volume_list(b, &ctx, &l, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(l.n, 2); /* two pages */
    assert_string_equal(l.v[0].attached_to, "s-9");
    assert_string_equal(l.v[0].device, "/dev/vdb");
    assert_string_equal(l.v[0].image_id, "i-3");
    assert_string_equal(l.v[1].remote_id, "v-2");
    assert_string_equal(l.v[1].name, "");
    nph_volume_list_fini(&l);

    /* a volume without its size is garbage */
    assert_int_equal(ops->volume_get(b, &ctx, "v-2", &v, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "cloud 'fake' answered garbage to GET /volumes/{id}"));
    assert_non_null(strstr(err.msg, "'size'"));

    assert_int_equal(ops->volume_get(b, &ctx, "gone", &v, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "Volume gone could not be found."));

    assert_int_equal(ops->volume_extend(b, &ctx, "v-1", 5, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "Volume status must be available to extend."));
    sent = json_loads(F.body, 0, NULL);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(sent, "os-extend"), "new_size")), 5);
    json_decref(sent);

    assert_int_equal(ops->volume_delete(b, &ctx, "gone", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_string_equal(F.method, "DELETE");
    nph_backend_close(b);
}

static void test_containers(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_bucket bk;
    struct nph_object_list l = {0};
    script(0, 0);
    struct nph_backend *b = open_fake();
    const struct nph_object_ops *ops = nph_backend_object(b, &err);
    assert_non_null(ops);
    assert_int_equal(ops->bucket_create(b, &ctx, "c1", &err), 0);
    assert_int_equal(ops->bucket_create(b, &ctx, "old", &err), -1); /* 202: it existed */
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(ops->bucket_head(b, &ctx, "c1", &bk, &err), 0);
    assert_int_equal(bk.objects, 3);
    assert_int_equal(bk.bytes, 12345);
    assert_int_equal(ops->bucket_head(b, &ctx, "nope", &bk, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(ops->bucket_delete(b, &ctx, "c1", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_non_null(strstr(err.msg, "There was a conflict when trying to complete your request."));

    /* limit 2 asks for 3: the third says the listing goes on; subdirs are skipped */
    if (ops->object_list(b, &ctx, "c1", "a b", "m/n", 2, &l, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(F.path,
                        "/swift/v1/AUTH_p/c1?format=json&limit=3&prefix=a%20b&marker=m%2Fn");
    assert_int_equal(l.n, 2);
    assert_true(l.truncated);
    assert_string_equal(l.v[0].name, "a/b");
    assert_int_equal(l.v[0].size, 5);
    assert_string_equal(l.v[0].content_type, "text/plain");
    assert_string_equal(l.v[1].name, "c");
    nph_object_list_fini(&l);
    assert_int_equal(ops->object_list(b, &ctx, "bad", NULL, NULL, 10, &l, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "garbage"));
    nph_object_list_fini(&l);

    /* the account's containers: the account URL itself, limit + 1, the marker escaped */
    struct nph_bucket_list bl = {0};
    if (ops->bucket_list(b, &ctx, "m/n", 2, &bl, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(F.path, "/swift/v1/AUTH_p?format=json&limit=3&marker=m%2Fn");
    assert_int_equal(bl.n, 2);
    assert_true(bl.truncated);
    assert_string_equal(bl.v[0].name, "a");
    assert_int_equal(bl.v[0].objects, 2);
    assert_int_equal(bl.v[0].bytes, 10);
    assert_string_equal(bl.v[1].name, "nephele-p-b");
    nph_bucket_list_fini(&bl);
    if (ops->bucket_list(b, &ctx, NULL, 10, &bl, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(F.path, "/swift/v1/AUTH_p?format=json&limit=11");
    assert_int_equal(bl.n, 3);
    assert_false(bl.truncated);
    nph_bucket_list_fini(&bl);
    assert_int_equal(ops->bucket_list(b, &ctx, "zz", 10, &bl, &err), -1); /* a count missing */
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "garbage"));
    nph_bucket_list_fini(&bl);
    nph_backend_close(b);
}

static int collect(void *arg, const char *buf, size_t len, struct nph_error *err)
{
    (void)err;
    struct {
        char *p;
        size_t n;
    } *c = arg;
    c->p = realloc(c->p, c->n + len);
    memcpy(c->p + c->n, buf, len);
    c->n += len;
    return 0;
}

static int refuse(void *arg, const char *buf, size_t len, struct nph_error *err)
{
    (void)arg, (void)buf, (void)len;
    return nph_error_set(err, NPH_E_IO, "the disk is full");
}

static void test_objects_streamed(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_object_info info;
    char path[] = "/tmp/nph-os-obj-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *big = big_body();
    assert_int_equal(write(fd, big, BIG), BIG);
    close(fd);

    script(0, 0);
    struct nph_backend *b = open_fake();
    const struct nph_object_ops *ops = nph_backend_object(b, &err);
    struct nph_object_body body = {.path = path,
                                   .size = BIG,
                                   .md5 = "00112233445566778899aabbccddeeff",
                                   .content_type = "application/x-test"};
    /* the first try meets a 401: one re-authentication, the file sent again from its start */
    script(0, 1);
    if (ops->object_put(b, &ctx, "c1", "dir/obj", &body, &info, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(F.auths, 2);
    assert_string_equal(F.path, "/swift/v1/AUTH_p/c1/dir%2Fobj");
    assert_string_equal(F.etag, "00112233445566778899aabbccddeeff");
    assert_string_equal(F.ctype, "application/x-test");
    assert_int_equal(F.body_len, BIG);
    assert_memory_equal(F.body, big, BIG);
    assert_string_equal(info.etag, "0123456789abcdef0123456789abcdef");
    assert_int_equal(info.size, BIG);
    assert_string_equal(info.name, "dir/obj");

    /* a download goes to the sink as it arrives, with the headers' metadata */
    struct {
        char *p;
        size_t n;
    } got = {NULL, 0};
    if (ops->object_get(b, &ctx, "c1", "big", collect, &got, &info, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(got.n, BIG);
    assert_memory_equal(got.p, big, BIG);
    assert_int_equal(info.size, BIG);
    assert_string_equal(info.etag, "\"feedface\"");
    assert_string_equal(info.content_type, "application/x-big");
    free(got.p);
    /* a sink that fails ends the transfer with its error */
    assert_int_equal(ops->object_get(b, &ctx, "c1", "big", refuse, NULL, &info, &err), -1);
    assert_int_equal(err.code, NPH_E_IO);
    assert_string_equal(err.msg, "the disk is full");
    /* HEAD: the metadata only */
    assert_int_equal(ops->object_head(b, &ctx, "c1", "big", &info, &err), 0);
    assert_int_equal(info.size, BIG);
    /* Swift's 404 page */
    got.p = NULL;
    got.n = 0;
    assert_int_equal(ops->object_get(b, &ctx, "c1", "nope", collect, &got, &info, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "cloud 'fake' answered 404"));
    assert_non_null(strstr(err.msg, "The resource could not be found."));
    assert_null(got.p); /* the fault page never reaches the sink */
    /* a 401 that persists is unauthorized */
    script(0, 5);
    assert_int_equal(ops->object_put(b, &ctx, "c1", "dir/obj", &body, &info, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAUTHORIZED);
    script(0, 0);
    nph_backend_close(b);
    free(big);
    unlink(path);
}

static void test_no_storage_in_catalog(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_volume_list l = {0};
    script(1, 0);
    struct nph_backend *b = open_fake();
    /* before the first token the driver cannot know; the call finds out */
    const struct nph_volume_ops *ops = nph_backend_volume(b, &err);
    assert_non_null(ops);
    assert_int_equal(ops->volume_list(b, &ctx, &l, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_SUPPORTED);
    assert_non_null(strstr(err.msg, "not supported by cloud 'fake'"));
    /* now the families follow the catalog: the broker answers without a call */
    assert_null(nph_backend_volume(b, &err));
    assert_string_equal(err.msg, "block storage is not supported by cloud 'fake'");
    assert_null(nph_backend_object(b, &err));
    assert_string_equal(err.msg, "object storage is not supported by cloud 'fake'");
    assert_non_null(nph_backend_compute(b, &err));
    nph_backend_close(b);
    script(0, 0);
}

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    pthread_mutex_init(&F.mu, NULL);
    F.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (F.fd < 0 || bind(F.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(F.fd, 64) != 0 ||
        getsockname(F.fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    F.port = ntohs(a.sin_port);
    return pthread_create(&F.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&F.mu);
    F.stop = 1;
    pthread_mutex_unlock(&F.mu);
    pthread_join(F.thread, NULL);
    close(F.fd);
    free(F.body);
    return 0;
}

int main(void)
{
    if (nph_http_global_init(NULL) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_volumes),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_objects_streamed),
        cmocka_unit_test(test_no_storage_in_catalog),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    nph_http_global_cleanup();
    return rc;
}
