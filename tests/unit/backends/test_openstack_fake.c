/*
 * test_openstack_fake.c - the openstack driver's request flow against a scripted fake cloud on
 * 127.0.0.1 (a thread of the test speaking just enough HTTP/1.1): pagination through next links
 * (whose host is ignored), the microversion header, one re-authentication on a 401 and
 * `unauthorized` on the second, tokens renewed a minute before expiry, garbage 2xx bodies,
 * families following the catalog, the call's time budget, ambiguous image names, and many
 * threads sharing one session.
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
#include <time.h>
#include <unistd.h>

#include "nph_clock.h"
#include "nph_http.h"
#include "openstack/openstack_internal.h"

static struct fake {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    int stop;
    /* script */
    int fail_401; /* how many service requests answer 401 */
    int expires_in_s;
    int no_image;
    int garbage;
    long slow_ms;
    /* record */
    int auths;
    char last_mv[64];
    char token[32];
} F;

static void reply(int fd, int status, const char *extra, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n%s\r\n",
                     status, strlen(body), extra);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    send(fd, body, strlen(body), MSG_NOSIGNAL);
}

static void header_value(const char *req, const char *name, char *out, size_t len)
{
    const char *p = strcasestr(req, name);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(name);
    while (*p == ' ' || *p == ':')
        p++;
    snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
}

static void handle(int fd)
{
    char req[16384], method[16], path[1024], tok[64], mv[64], body[4096];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        char cl[32];
        header_value(req, "Content-Length", cl, sizeof(cl));
        if (end && (size_t)(end + 4 - req) + (size_t)atol(cl) <= n)
            break;
    }
    req[n] = '\0';
    if (sscanf(req, "%15s %1023s", method, path) != 2)
        return;
    header_value(req, "X-Auth-Token", tok, sizeof(tok));
    header_value(req, "OpenStack-API-Version", mv, sizeof(mv));

    pthread_mutex_lock(&F.mu);
    if (strcmp(path, "/v3/auth/tokens") == 0) {
        char exp[40], hdr[96];
        nph_time_format(nph_clock_now() + (int64_t)F.expires_in_s * 1000000, 0, exp, sizeof(exp));
        snprintf(F.token, sizeof(F.token), "tok-%d", ++F.auths);
        snprintf(hdr, sizeof(hdr), "X-Subject-Token: %s\r\n", F.token);
        char image[192] = "";
        if (!F.no_image)
            snprintf(image, sizeof(image),
                     ", {\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", "
                     "\"region_id\": \"R\", \"url\": \"http://127.0.0.1:%d/image\"}]}",
                     F.port);
        snprintf(body, sizeof(body),
                 "{\"token\": {\"expires_at\": \"%s\", \"catalog\": [{\"type\": \"compute\", "
                 "\"endpoints\": [{\"interface\": \"public\", \"region_id\": \"R\", \"url\": "
                 "\"http://127.0.0.1:%d/compute/v2.1\"}]}%s]}}",
                 exp, F.port, image);
        pthread_mutex_unlock(&F.mu);
        reply(fd, 201, hdr, body);
        return;
    }
    if (strcmp(tok, F.token) != 0 || F.fail_401 > 0) {
        if (F.fail_401 > 0)
            F.fail_401--;
        pthread_mutex_unlock(&F.mu);
        reply(fd, 401, "",
              "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"The "
              "request you have made requires authentication.\"}}");
        return;
    }
    snprintf(F.last_mv, sizeof(F.last_mv), "%s", mv);
    int garbage = F.garbage;
    long slow = F.slow_ms;
    pthread_mutex_unlock(&F.mu);

    if (strcmp(path, "/compute/v2.1") == 0) {
        reply(fd, 200, "",
              "{\"version\": {\"id\": \"v2.1\", \"status\": \"CURRENT\", \"version\": \"2.90\", "
              "\"min_version\": \"2.1\"}}");
    } else if (strcmp(path, "/compute/v2.1/flavors/detail") == 0) {
        reply(fd, 200, "",
              "{\"flavors\": [{\"id\": \"1\", \"name\": \"a\", \"vcpus\": 1, \"ram\": 512, "
              "\"disk\": 1}], \"flavors_links\": [{\"rel\": \"next\", \"href\": "
              "\"http://elsewhere.invalid/compute/v2.1/flavors/detail?marker=1\"}]}");
    } else if (strcmp(path, "/compute/v2.1/flavors/detail?marker=1") == 0) {
        reply(fd, 200, "",
              "{\"flavors\": [{\"id\": \"2\", \"name\": \"b\", \"vcpus\": 2, \"ram\": 1024, "
              "\"disk\": 2}]}");
    } else if (strcmp(path, "/compute/v2.1/servers/detail") == 0) {
        if (slow) {
            struct timespec ts = {slow / 1000, (slow % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        reply(fd, 200, "",
              garbage ? "<html>not json</html>"
                      : "{\"servers\": [{\"id\": \"s1\", \"status\": \"ACTIVE\", \"name\": "
                        "\"x\"}, {\"id\": \"s0\", \"status\": \"DELETED\"}]}");
    } else if (strcmp(path, "/image/v2/images?name=dup") == 0) {
        reply(fd, 200, "",
              "{\"images\": [{\"id\": \"i1\", \"name\": \"dup\"}, {\"id\": \"i2\", "
              "\"name\": \"dup\"}]}");
    } else {
        reply(fd, 404, "", "{\"itemNotFound\": {\"message\": \"no route\", \"code\": 404}}");
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

static void script(int fail_401, int expires_in_s, int no_image, int garbage, long slow_ms)
{
    pthread_mutex_lock(&F.mu);
    F.fail_401 = fail_401;
    F.expires_in_s = expires_in_s;
    F.no_image = no_image;
    F.garbage = garbage;
    F.slow_ms = slow_ms;
    F.auths = 0;
    F.last_mv[0] = '\0';
    pthread_mutex_unlock(&F.mu);
}

static int auths(void)
{
    pthread_mutex_lock(&F.mu);
    int n = F.auths;
    pthread_mutex_unlock(&F.mu);
    return n;
}

static void set_401(int n)
{
    pthread_mutex_lock(&F.mu);
    F.fail_401 = n;
    pthread_mutex_unlock(&F.mu);
}

static void expect_mv(const char *want)
{
    pthread_mutex_lock(&F.mu);
    char got[64];
    snprintf(got, sizeof(got), "%s", F.last_mv);
    pthread_mutex_unlock(&F.mu);
    assert_string_equal(got, want);
}

static const struct nph_backend_ctx ctx = {"p", "u", NULL, 0};

static void test_paging_and_microversion(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_offering_list l = {0};
    script(0, 3600, 0, 0, 0);
    struct nph_backend *b = open_fake();
    assert_int_equal(b->families, NPH_FAM_COMPUTE | NPH_FAM_IMAGE | NPH_FAM_USAGE | NPH_FAM_VOLUME |
                                      NPH_FAM_OBJECT);
    if (b->ops->compute->list_offerings(b, &ctx, &l, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[1].id, "2"); /* page 2 came from us, not from elsewhere.invalid */
    expect_mv("compute 2.37");
    assert_int_equal(auths(), 1);
    nph_offering_list_fini(&l);
    assert_int_equal(b->ops->health(b, &ctx, &err), 0);
    assert_int_equal(auths(), 1); /* the cached token */
    nph_backend_close(b);
}

static void test_reauth(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server_list l = {0};
    script(0, 3600, 0, 0, 0);
    struct nph_backend *b = open_fake();
    assert_int_equal(b->ops->health(b, &ctx, &err), 0);
    set_401(1); /* the token is revoked once */
    assert_int_equal(b->ops->compute->server_list(b, &ctx, &l, &err), 0);
    assert_int_equal(l.n, 1); /* DELETED servers are left out */
    assert_string_equal(l.v[0].remote_id, "s1");
    nph_server_list_fini(&l);
    assert_int_equal(auths(), 2);

    set_401(100); /* refused whatever the token */
    assert_int_equal(b->ops->compute->server_list(b, &ctx, &l, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAUTHORIZED);
    assert_non_null(strstr(err.msg, "requires authentication"));
    assert_null(strstr(err.msg, "tok-"));
    assert_int_equal(auths(), 3); /* exactly one more */
    nph_backend_close(b);
}

static void test_expiry(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    script(0, 30, 0, 0, 0); /* tokens live 30 s: always inside the 60 s margin */
    struct nph_backend *b = open_fake();
    assert_int_equal(b->ops->health(b, &ctx, &err), 0);
    assert_int_equal(b->ops->health(b, &ctx, &err), 0);
    assert_int_equal(auths(), 2);
    nph_backend_close(b);
}

static void test_garbage_and_families(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server_list l = {0};
    struct nph_image_list il = {0};
    script(0, 3600, 1, 1, 0);
    struct nph_backend *b = open_fake();
    assert_int_equal(b->ops->compute->server_list(b, &ctx, &l, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "cloud 'fake' answered garbage to GET /servers/detail"));
    assert_int_equal(b->families,
                     NPH_FAM_COMPUTE | NPH_FAM_USAGE); /* no image service in the catalog */
    assert_int_equal(b->ops->image->image_list(b, &ctx, &il, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_SUPPORTED);
    nph_backend_close(b);
}

static void test_budget(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server_list l = {0};
    const struct nph_backend_ctx quick = {"p", "u", NULL, 300};
    script(0, 3600, 0, 0, 1500);
    struct nph_backend *b = open_fake();
    int64_t t0 = nph_clock_mono();
    assert_int_equal(b->ops->compute->server_list(b, &quick, &l, &err), -1);
    int64_t ms = (nph_clock_mono() - t0) / 1000;
    assert_int_equal(err.code, NPH_E_TIMEOUT);
    assert_true(ms < 1200);
    script(0, 3600, 0, 0, 0);
    nph_backend_close(b);
}

static void test_ambiguous_image(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_image im;
    script(0, 3600, 0, 0, 0);
    struct nph_backend *b = open_fake();
    assert_int_equal(b->ops->image->image_find(b, &ctx, "dup", &im, &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_non_null(strstr(err.msg, "2 images are named 'dup' on cloud 'fake'"));
    nph_backend_close(b);
}

static struct nph_backend *g_shared;

static void *worker(void *arg)
{
    long bad = 0;
    (void)arg;
    for (int i = 0; i < 5; i++) {
        struct nph_error err = NPH_ERROR_INIT;
        struct nph_server_list l = {0};
        if (g_shared->ops->compute->server_list(g_shared, &ctx, &l, &err) != 0)
            bad++;
        nph_server_list_fini(&l);
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[6];
    script(0, 3600, 0, 0, 0);
    g_shared = open_fake();
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 6; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    nph_backend_close(g_shared);
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
    return 0;
}

int main(void)
{
    if (nph_http_global_init(NULL) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging_and_microversion),
        cmocka_unit_test(test_reauth),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_garbage_and_families),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_ambiguous_image),
        cmocka_unit_test(test_threads),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    nph_http_global_cleanup();
    return rc;
}
