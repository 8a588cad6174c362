/*
 * test_openstack_live.c - the openstack driver against a real OpenStack-compatible cloud: a
 * second Nephele (tests/integration/backend_openstack.sh starts one) or a real OpenStack.
 *
 *   NPH_TEST_OS_CLOUD_JSON  the cloud's config as JSON (required; the test skips, exit 77,
 *                           without it): {"name": "peer", "kind": "openstack", "auth": {...}}
 *   NPH_TEST_OS_IMAGE       name of an image the account can boot (default "nph-live-image")
 *   NPH_TEST_OS_FLAVOR      flavor name or id (default: the offering with the least RAM)
 *   NPH_TEST_OS_WAIT_S      seconds to wait for a status (default 120)
 *
 * It creates one server (network "none" unless the config says otherwise), drives it through
 * stop/start, lists, reads its console and deletes it; then checks that a wrong password is
 * NPH_E_UNAUTHORIZED and an unreachable Keystone NPH_E_UNAVAILABLE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "nph_http.h"

static json_t *g_config;
static struct nph_backend *g_b;
static char g_flavor[64], g_image[64], g_server[64], g_op[64];
static int g_wait_s = 120;

static const struct nph_backend_ctx ctx = {"test-project", "test-user", NULL, 60000};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void print_err(const char *what, const struct nph_error *err)
{
    print_message("%s: [%s] %s%s%s\n", what, nph_error_name(err->code), err->msg,
                  err->detail[0] ? " -- " : "", err->detail);
}

#define OK(call, what)                                                                             \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            print_err(what, &err);                                                                 \
            fail_msg("%s failed", what);                                                           \
        }                                                                                          \
    } while (0)

/* Poll server_get until the status is `want` (0) or the wait runs out / ERROR (-1). */
static int wait_status(const char *id, const char *want)
{
    char last[24] = "";
    for (int i = 0; i < g_wait_s * 4; i++) {
        struct nph_error err = NPH_ERROR_INIT;
        struct nph_server s;
        if (g_b->ops->compute->server_get(g_b, &ctx, id, &s, &err) != 0) {
            print_err("server_get while waiting", &err);
            return -1;
        }
        snprintf(last, sizeof(last), "%s", s.status);
        int done = strcmp(s.status, want) == 0, bad = strcmp(s.status, "ERROR") == 0;
        if (bad)
            print_message("server %s is ERROR: %s\n", id, s.fault);
        nph_server_fini(&s);
        if (done)
            return 0;
        if (bad)
            return -1;
        sleep_ms(250);
    }
    print_message("server %s is %s after %d s, not %s\n", id, last, g_wait_s, want);
    return -1;
}

static void test_health(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    OK(g_b->ops->health(g_b, &ctx, &err), "health");
    assert_true(g_b->families & NPH_FAM_COMPUTE);
    assert_true(g_b->families & NPH_FAM_IMAGE);
}

static void test_offerings(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_offering_list l = {0};
    const char *want = getenv("NPH_TEST_OS_FLAVOR");
    OK(g_b->ops->compute->list_offerings(g_b, &ctx, &l, &err), "list_offerings");
    assert_true(l.n > 0);
    size_t best = 0;
    for (size_t i = 0; i < l.n; i++) {
        assert_true(l.v[i].id[0]);
        if (want && (strcmp(l.v[i].name, want) == 0 || strcmp(l.v[i].id, want) == 0)) {
            best = i;
            break;
        }
        if (l.v[i].ram_mb < l.v[best].ram_mb)
            best = i;
    }
    snprintf(g_flavor, sizeof(g_flavor), "%s", l.v[best].id);
    print_message("flavor %s (%s, %u vcpus, %llu MB) of %zu\n", l.v[best].id, l.v[best].name,
                  l.v[best].vcpus, (unsigned long long)l.v[best].ram_mb, l.n);
    nph_offering_list_fini(&l);
}

static void test_images(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_image im;
    struct nph_image_list l = {0};
    const char *name = getenv("NPH_TEST_OS_IMAGE");
    if (!name)
        name = "nph-live-image";
    OK(g_b->ops->image->image_find(g_b, &ctx, name, &im, &err), "image_find by name");
    assert_string_equal(im.name, name);
    snprintf(g_image, sizeof(g_image), "%s", im.id);
    struct nph_image by_id;
    OK(g_b->ops->image->image_find(g_b, &ctx, im.id, &by_id, &err), "image_find by id");
    assert_string_equal(by_id.id, im.id);
    OK(g_b->ops->image->image_list(g_b, &ctx, &l, &err), "image_list");
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        seen |= strcmp(l.v[i].id, im.id) == 0;
    assert_true(seen);
    nph_image_list_fini(&l);
    assert_int_equal(g_b->ops->image->image_find(g_b, &ctx, "no-such-image-nph-live", &im, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no image 'no-such-image-nph-live'"));
}

static void test_server_lifecycle(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server s;
    json_t *meta = json_pack("{s:s}", "purpose", "nephele live test");
    snprintf(g_op, sizeof(g_op), "op-live-%ld-%ld", (long)getpid(), (long)time(NULL));
    struct nph_server_spec spec = {
        .name = "nph-live-vm",
        .offering_id = g_flavor,
        .image_id = g_image,
        .metadata = meta,
        .idempotency_key = g_op,
    };
    assert_true(g_flavor[0] && g_image[0]);
    OK(g_b->ops->compute->server_create(g_b, &ctx, &spec, &s, &err), "server_create");
    json_decref(meta);
    snprintf(g_server, sizeof(g_server), "%s", s.remote_id);
    print_message("server %s created, status %s\n", s.remote_id, s.status);
    assert_string_equal(s.op_key, g_op);
    nph_server_fini(&s);
    assert_int_equal(wait_status(g_server, "ACTIVE"), 0);

    OK(g_b->ops->compute->server_get(g_b, &ctx, g_server, &s, &err), "server_get");
    assert_string_equal(s.name, "nph-live-vm");
    assert_string_equal(s.offering_id[0] ? "set" : "", "set");
    nph_server_fini(&s);

    struct nph_server_list l = {0};
    OK(g_b->ops->compute->server_list(g_b, &ctx, &l, &err), "server_list");
    int found = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.v[i].remote_id, g_server) == 0 && strcmp(l.v[i].op_key, g_op) == 0)
            found = 1;
    nph_server_list_fini(&l);
    assert_true(found);

    OK(g_b->ops->compute->server_action(g_b, &ctx, g_server, NPH_SA_STOP, NULL, &err), "stop");
    assert_int_equal(wait_status(g_server, "SHUTOFF"), 0);
    OK(g_b->ops->compute->server_action(g_b, &ctx, g_server, NPH_SA_START, NULL, &err), "start");
    assert_int_equal(wait_status(g_server, "ACTIVE"), 0);

    char *console = NULL;
    OK(g_b->ops->compute->server_console(g_b, &ctx, g_server, 10, &console, &err), "console");
    free(console);

    /* resize without an offering is refused before any request */
    assert_int_equal(
        g_b->ops->compute->server_action(g_b, &ctx, g_server, NPH_SA_RESIZE, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);

    OK(g_b->ops->compute->server_delete(g_b, &ctx, g_server, &err), "server_delete");
    int gone = 0;
    for (int i = 0; i < g_wait_s * 4 && !gone; i++) {
        struct nph_error gerr = NPH_ERROR_INIT;
        if (g_b->ops->compute->server_get(g_b, &ctx, g_server, &s, &gerr) == 0) {
            nph_server_fini(&s);
            sleep_ms(250);
            continue;
        }
        if (gerr.code != NPH_E_NOT_FOUND)
            print_err("server_get after delete", &gerr);
        assert_int_equal(gerr.code, NPH_E_NOT_FOUND);
        gone = 1;
    }
    assert_true(gone);
    g_server[0] = '\0';
}

static void test_missing_server(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server s;
    const char *id = "00000000-0000-4000-8000-000000000000";
    assert_int_equal(g_b->ops->compute->server_get(g_b, &ctx, id, &s, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(g_b->ops->compute->server_delete(g_b, &ctx, id, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
}

/* Open a copy of the config with `edit` applied to its auth object; health's error code. */
static int health_with(void (*edit)(json_t *auth, void *arg), void *arg)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *cfg = json_deep_copy(g_config);
    json_t *auth = json_object_get(cfg, "auth");
    if (!auth) {
        auth = json_object();
        json_object_set_new(cfg, "auth", auth);
    }
    edit(auth, arg);
    struct nph_backend *b = nph_backend_open(cfg, NULL, &err);
    json_decref(cfg);
    if (!b) {
        print_err("open", &err);
        return -1;
    }
    int rc = b->ops->health(b, &ctx, &err);
    nph_backend_close(b);
    print_err("health as expected", &err);
    return rc == 0 ? NPH_E_OK : (int)err.code;
}

static void wrong_secret(json_t *auth, void *arg)
{
    (void)arg;
    if (json_object_get(auth, "application_credential_secret"))
        json_object_set_new(auth, "application_credential_secret", json_string("wrong-secret"));
    else
        json_object_set_new(auth, "password", json_string("wrong-password-nph"));
}

static void closed_port(json_t *auth, void *arg)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v3", *(int *)arg);
    json_object_set_new(auth, "auth_url", json_string(url));
}

static void test_wrong_password(void **state)
{
    (void)state;
    assert_int_equal(health_with(wrong_secret, NULL), NPH_E_UNAUTHORIZED);
}

static void test_unreachable(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd); /* bound, never listened: connections are refused */
    assert_int_equal(health_with(closed_port, &port), NPH_E_UNAVAILABLE);
}

static int setup(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    json_error_t je;
    if (!(g_config = json_loads(getenv("NPH_TEST_OS_CLOUD_JSON"), 0, &je))) {
        print_message("NPH_TEST_OS_CLOUD_JSON is not JSON: %s\n", je.text);
        return -1;
    }
    if (!json_object_get(g_config, "kind"))
        json_object_set_new(g_config, "kind", json_string("openstack"));
    if (!json_object_get(g_config, "name"))
        json_object_set_new(g_config, "name", json_string("live"));
    if (!(g_b = nph_backend_open(g_config, NULL, &err))) {
        print_err("nph_backend_open", &err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_b && g_server[0]) { /* a failed test left its server behind */
        struct nph_error err = NPH_ERROR_INIT;
        g_b->ops->compute->server_delete(g_b, &ctx, g_server, &err);
    }
    nph_backend_close(g_b);
    json_decref(g_config);
    return 0;
}

int main(void)
{
    if (!getenv("NPH_TEST_OS_CLOUD_JSON") || !*getenv("NPH_TEST_OS_CLOUD_JSON")) {
        printf("SKIP: NPH_TEST_OS_CLOUD_JSON is not set (tests/integration/backend_openstack.sh "
               "sets it)\n");
        return 77;
    }
    if (getenv("NPH_TEST_OS_WAIT_S"))
        g_wait_s =
            atoi(getenv("NPH_TEST_OS_WAIT_S")) > 0 ? atoi(getenv("NPH_TEST_OS_WAIT_S")) : 120;
    if (nph_http_global_init(NULL) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),         cmocka_unit_test(test_offerings),
        cmocka_unit_test(test_images),         cmocka_unit_test(test_server_lifecycle),
        cmocka_unit_test(test_missing_server), cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_unreachable),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    nph_http_global_cleanup();
    return rc;
}
