/* test_compute_snapshot_quota.c - two things that need more than one thread or more than one
 * engine: the quota check under concurrent creates (the check and the insert are atomic, so
 * exactly the limit's worth of creates pass), on SQLite and, through tests/pg_throwaway.sh, on a
 * real PostgreSQL server; and createImage (local_compute_server_snapshot): the qcow2 handed to
 * the sink, the server's state kept, a busy server refused, a failing sink discarding the image.
 *
 * The PostgreSQL pass: when NPH_TEST_PG_URL is not set, the binary runs itself once more under
 * $NPH_SOURCE_DIR/tests/pg_throwaway.sh (which sets it); 77 from there (no PostgreSQL installed)
 * is reported and not a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <pthread.h>

#include "local_compute.h"
#include "nph_ledger.h"
#include "nph_store.h"

static const char *pg_url; /* NULL: SQLite */

struct fx {
    char dir[64];
    char image[128]; /* the qcow2 fixture file fixture_locate answers for "img-1" */
    struct nph_store *store;
    struct local_compute *lc;
};

static int fixture_locate(void *ctx, const char *image_id, const char *project_id, int is_admin,
                          struct local_image_ref *out, struct nph_error *err)
{
    struct fx *f = ctx;
    (void)project_id;
    (void)is_admin;
    if (strcmp(image_id, "img-1") != 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "no image '%s'", image_id);
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "img-1");
    snprintf(out->status, sizeof(out->status), "active");
    snprintf(out->disk_format, sizeof(out->disk_format), "qcow2");
    snprintf(out->path, sizeof(out->path), "%s", f->image);
    out->size = 1 << 20;
    return 0;
}

static int have_qemu_img(void)
{
    return system("qemu-img --version >/dev/null 2>&1") == 0;
}

/* Drop every table, so that each PostgreSQL case starts from an empty database. */
static void pg_reset(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "psql -q '%s' -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null 2>&1",
             pg_url);
    assert_int_equal(system(cmd), 0);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_opts o;
    char url[256], cmd[512];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-compute-snap-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->image, sizeof(f->image), "%s/base.qcow2", f->dir);
    if (have_qemu_img()) {
        snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 '%s' 8M", f->image);
        assert_int_equal(system(cmd), 0);
    }
    if (pg_url) {
        pg_reset();
        snprintf(url, sizeof(url), "%s", pg_url);
    } else {
        snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    }
    assert_int_equal(nph_store_open(url, 12, &f->store, &err), 0);
    assert_int_equal(nph_ledger_migrate(f->store, NULL, &err), 0);
    assert_int_equal(local_compute_migrate(f->store, NULL, &err), 0);
    f->lc = local_compute_open("test:///default", &err);
    assert_non_null(f->lc);
    memset(&o, 0, sizeof(o));
    o.store = f->store;
    o.data_dir = f->dir;
    o.workers = 2;
    o.stop_timeout_s = 1;
    o.image_locate = fixture_locate;
    o.image_ctx = f;
    o.bootstrap_flavors = 1;
    assert_int_equal(local_compute_start(f->lc, &o, &err), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    local_compute_close(f->lc);
    nph_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

#define S(o, k) json_string_value(json_object_get((o), (k)))

static const struct local_compute_caller alice = {"proj-a", "user-a", 0, NULL};

static json_t *create(struct fx *f, const char *name, struct nph_error *err)
{
    json_t *spec = json_pack("{s:s,s:s,s:s}", "name", name, "flavor_id", "1", "image_id", "img-1");
    json_t *s = local_compute_server_create(f->lc, &alice, spec, err);
    json_decref(spec);
    return s;
}

static json_t *wait_settled(struct fx *f, const char *id)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *s;
    local_compute_drain(f->lc);
    s = local_compute_server_get(f->lc, &alice, id, &err);
    assert_non_null(s);
    return s;
}

/* ---- quotas under concurrent creates ----------------------------------------------------- */

#define RACERS 8
#define LIMIT  3

struct racer {
    struct fx *f;
    pthread_barrier_t *go;
    int k;
    int ok, over, other;
};

static void *race_one(void *p)
{
    struct racer *r = p;
    struct nph_error err = NPH_ERROR_INIT;
    char name[32];
    json_t *s;
    snprintf(name, sizeof(name), "racer-%d", r->k);
    pthread_barrier_wait(r->go);
    s = create(r->f, name, &err);
    if (s)
        r->ok = 1;
    else if (err.code == NPH_E_FORBIDDEN)
        r->over = 1;
    else
        r->other = 1, fprintf(stderr, "racer %d: %s (%s)\n", r->k, err.msg, err.detail);
    json_decref(s);
    return NULL;
}

static void test_quota_race(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *lim = json_pack("{s:i}", "instances", LIMIT), *q, *u;
    pthread_t t[RACERS];
    struct racer r[RACERS];
    pthread_barrier_t go;
    int ok = 0, over = 0, other = 0;
    q = local_compute_quota_set(f->lc, "proj-a", lim, &err);
    assert_non_null(q);
    json_decref(q);
    json_decref(lim);
    for (int round = 0; round < 3; round++) {
        pthread_barrier_init(&go, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
            r[i] = (struct racer){f, &go, round * RACERS + i, 0, 0, 0};
            assert_int_equal(pthread_create(&t[i], NULL, race_one, &r[i]), 0);
        }
        for (int i = 0; i < RACERS; i++) {
            pthread_join(t[i], NULL);
            ok += r[i].ok, over += r[i].over, other += r[i].other;
        }
        pthread_barrier_destroy(&go);
        if (ok > LIMIT)
            break;
    }
    /* Every round after the first finds the quota full. */
    assert_int_equal(other, 0);
    assert_int_equal(ok, LIMIT);
    local_compute_drain(f->lc);
    u = local_compute_quota_usage(f->lc, "proj-a", &err);
    assert_non_null(u);
    assert_int_equal(json_integer_value(json_object_get(u, "instances")), LIMIT);
    json_decref(u);
}

/* ---- createImage --------------------------------------------------------------------------- */

struct sink_log {
    int stored, discarded, fail;
    char path_seen[4200];
    char format[32];
    char image_id[64];
};

static int sink_store(void *ctx, const char *image_id, const char *path, struct nph_error *err)
{
    struct sink_log *l = ctx;
    FILE *fp;
    char magic[4] = {0};
    snprintf(l->image_id, sizeof(l->image_id), "%s", image_id);
    snprintf(l->path_seen, sizeof(l->path_seen), "%s", path);
    fp = fopen(path, "rb");
    if (fp) {
        if (fread(magic, 1, 4, fp) == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
            snprintf(l->format, sizeof(l->format), "qcow2");
        fclose(fp);
    }
    unlink(path); /* consumed */
    if (l->fail)
        return nph_error_set(err, NPH_E_IO, "the image store is full");
    l->stored++;
    return 0;
}

static void sink_discard(void *ctx, const char *image_id)
{
    struct sink_log *l = ctx;
    snprintf(l->image_id, sizeof(l->image_id), "%s", image_id);
    l->discarded++;
}

static void test_snapshot(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct sink_log log = {0};
    struct local_compute_image_sink sink = {sink_store, sink_discard, &log};
    json_t *s, *acts;
    char id[64];
    if (!have_qemu_img()) {
        print_message("qemu-img is not installed: snapshot case skipped\n");
        return;
    }
    s = create(f, "snap-me", &err);
    assert_non_null(s);
    snprintf(id, sizeof(id), "%s", S(s, "id"));
    json_decref(s);
    json_decref(wait_settled(f, id));

    /* An active server: the image gets a qcow2 file, the server stays ACTIVE. */
    assert_int_equal(local_compute_server_snapshot(
                         f->lc, &alice, id, "11111111-2222-4333-8444-555555555555", &sink, &err),
                     0);
    s = wait_settled(f, id);
    assert_string_equal(S(s, "status"), "ACTIVE");
    assert_true(json_is_null(json_object_get(s, "task_state")));
    json_decref(s);
    assert_int_equal(log.stored, 1);
    assert_int_equal(log.discarded, 0);
    assert_string_equal(log.format, "qcow2");
    assert_string_equal(log.image_id, "11111111-2222-4333-8444-555555555555");
    assert_int_not_equal(access(log.path_seen, F_OK), 0); /* nothing left behind */
    acts = local_compute_actions_list(f->lc, &alice, id, &err);
    assert_non_null(acts);
    assert_string_equal(S(json_array_get(acts, 0), "action"), "createImage");
    assert_string_equal(S(json_array_get(acts, 0), "result"), "Success");
    json_decref(acts);

    /* A stopped server may be snapshotted too, and stays SHUTOFF. */
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_STOP, NULL, &err), 0);
    json_decref(wait_settled(f, id));
    assert_int_equal(local_compute_server_snapshot(
                         f->lc, &alice, id, "21111111-2222-4333-8444-555555555555", &sink, &err),
                     0);
    s = wait_settled(f, id);
    assert_string_equal(S(s, "status"), "SHUTOFF");
    json_decref(s);
    assert_int_equal(log.stored, 2);

    /* A failing store: the image is discarded, the server keeps its state (not ERROR). */
    log.fail = 1;
    assert_int_equal(local_compute_server_snapshot(
                         f->lc, &alice, id, "31111111-2222-4333-8444-555555555555", &sink, &err),
                     0);
    s = wait_settled(f, id);
    assert_string_equal(S(s, "status"), "SHUTOFF");
    assert_true(json_is_null(json_object_get(s, "task_state")));
    json_decref(s);
    assert_int_equal(log.discarded, 1);
    assert_string_equal(log.image_id, "31111111-2222-4333-8444-555555555555");

    /* Busy (a task in progress), another project's, unknown: refused. */
    log.fail = 0;
    assert_int_equal(local_compute_server_action(f->lc, &alice, id, LC_ACT_START, NULL, &err), 0);
    err = (struct nph_error)NPH_ERROR_INIT;
    if (local_compute_server_snapshot(f->lc, &alice, id, "41111111-2222-4333-8444-555555555555",
                                      &sink, &err) != 0)
        assert_int_equal(err.code, NPH_E_CONFLICT); /* else the start had already finished */
    local_compute_drain(f->lc);
    {
        const struct local_compute_caller bob = {"proj-b", "user-b", 0, NULL};
        err = (struct nph_error)NPH_ERROR_INIT;
        assert_int_equal(local_compute_server_snapshot(f->lc, &bob, id, "51111111-2222-4333-8444-5",
                                                       &sink, &err),
                         -1);
        assert_int_equal(err.code, NPH_E_NOT_FOUND);
    }
    err = (struct nph_error)NPH_ERROR_INIT;
    assert_int_equal(local_compute_server_snapshot(f->lc, &alice, "no-such-server",
                                                   "61111111-2222-4333-8444-5", &sink, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    /* A deleted server: 404. */
    assert_int_equal(local_compute_server_delete(f->lc, &alice, id, &err), 0);
    local_compute_drain(f->lc);
    err = (struct nph_error)NPH_ERROR_INIT;
    assert_int_equal(
        local_compute_server_snapshot(f->lc, &alice, id, "71111111-2222-4333-8444-5", &sink, &err),
        -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
}

static int run_group(const char *engine)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quota_race, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, fx_setup, fx_teardown),
    };
    char name[64];
    snprintf(name, sizeof(name), "compute snapshot+quota (%s)", engine);
    return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(int argc, char **argv)
{
    const char *src = getenv("NPH_SOURCE_DIR");
    char cmd[8192], self[4096];
    ssize_t n;
    int rc, st;
    (void)argc;
    virInitialize();
    pg_url = getenv("NPH_TEST_PG_URL");
    if (pg_url && *pg_url)
        return run_group("PostgreSQL"); /* the second pass, under pg_throwaway.sh */
    pg_url = NULL;
    rc = run_group("SQLite");
    if (!src) {
        print_message("NPH_SOURCE_DIR is not set: the PostgreSQL pass is skipped\n");
        return rc;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return rc ? rc : 1;
    self[n] = '\0';
    snprintf(cmd, sizeof(cmd), "'%s/tests/pg_throwaway.sh' '%s'", src, self);
    st = system(cmd);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        print_message("PostgreSQL is not installed: the PostgreSQL pass is skipped\n");
        return rc;
    }
    (void)argv;
    return rc ? rc : (WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}
