/*
 * local_compute.c - the libvirt connection of the native cloud, its health check, the
 * service's start and close, the compute schema and the store helpers the other files share.
 * The connection is opened on first use (an idle broker does not pay libvirt's memory) and
 * reopened when it dies. libvirt's default error handler prints to stderr; it is replaced by one
 * that does nothing, and errors are read back with virGetLastErrorMessage() where they happen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "compute_internal.h"
#include "nph_clock.h"
#include "nph_log.h"

static const struct nph_migration compute_migrations[] = {
    {1, "compute base schema",
     "CREATE TABLE compute_flavor (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " vcpus INTEGER NOT NULL, ram_mb INTEGER NOT NULL, disk_gb INTEGER NOT NULL,"
     " ephemeral_gb INTEGER NOT NULL DEFAULT 0, swap_mb INTEGER NOT NULL DEFAULT 0,"
     " is_public INTEGER NOT NULL DEFAULT 1, description TEXT,"
     " extra_specs TEXT NOT NULL DEFAULT '{}', created_at BIGINT NOT NULL);"
     "CREATE TABLE compute_flavor_access (flavor_id TEXT NOT NULL, project_id TEXT NOT NULL,"
     " PRIMARY KEY (flavor_id, project_id));"
     "CREATE TABLE compute_server (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " project_id TEXT NOT NULL, user_id TEXT NOT NULL, vm_state TEXT NOT NULL, task_state TEXT,"
     " power_state INTEGER NOT NULL DEFAULT 0, flavor_id TEXT NOT NULL, flavor TEXT NOT NULL,"
     " old_flavor TEXT, vcpus INTEGER NOT NULL, ram_mb INTEGER NOT NULL, image_id TEXT,"
     " key_name TEXT, availability_zone TEXT, description TEXT,"
     " locked INTEGER NOT NULL DEFAULT 0, locked_reason TEXT,"
     " metadata TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', fault TEXT,"
     " host TEXT, disk_path TEXT, user_data TEXT, created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL, launched_at BIGINT, deleted_at BIGINT,"
     " deleted INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX compute_server_project ON compute_server (project_id, deleted);"
     "CREATE INDEX compute_server_task ON compute_server (task_state);"
     "CREATE TABLE compute_action (id TEXT PRIMARY KEY, server_id TEXT NOT NULL,"
     " project_id TEXT NOT NULL, user_id TEXT NOT NULL, action TEXT NOT NULL,"
     " request_id TEXT NOT NULL, start_time BIGINT NOT NULL, finish_time BIGINT,"
     " result TEXT, message TEXT);"
     "CREATE INDEX compute_action_server ON compute_action (server_id, start_time);"
     "CREATE TABLE compute_keypair (user_id TEXT NOT NULL, name TEXT NOT NULL,"
     " type TEXT NOT NULL, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL,"
     " created_at BIGINT NOT NULL, PRIMARY KEY (user_id, name));"
     "CREATE TABLE compute_quota (project_id TEXT NOT NULL, resource TEXT NOT NULL,"
     " hard_limit BIGINT NOT NULL, PRIMARY KEY (project_id, resource));"},
    {2, "server access addresses",
     "ALTER TABLE compute_server ADD COLUMN access_ipv4 TEXT;"
     "ALTER TABLE compute_server ADD COLUMN access_ipv6 TEXT;"},
};

int local_compute_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "compute", compute_migrations,
                             sizeof(compute_migrations) / sizeof(compute_migrations[0]), applied,
                             err);
}

static void quiet_errors(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

struct local_compute *local_compute_open(const char *uri, struct nph_error *err)
{
    struct local_compute *lc;
    if (!uri || !*uri) {
        nph_error_set(err, NPH_E_INVALID, "'compute.libvirt_uri' must not be empty");
        return NULL;
    }
    virSetErrorFunc(NULL, quiet_errors);
    lc = calloc(1, sizeof(*lc));
    if (!lc || !(lc->uri = strdup(uri))) {
        free(lc);
        nph_error_nomem(err);
        return NULL;
    }
    lc->is_test = strncmp(uri, "test://", 7) == 0;
    pthread_mutex_init(&lc->lock, NULL);
    pthread_mutex_init(&lc->qlock, NULL);
    pthread_cond_init(&lc->qcond, NULL);
    pthread_cond_init(&lc->idlecond, NULL);
    pthread_mutex_init(&lc->snap_lock, NULL);
    pthread_mutex_init(&lc->nic_lock, NULL);
    return lc;
}

void local_compute_set_nics(struct local_compute *lc, local_compute_nics_fn fn, void *ctx)
{
    lc->nics = fn;
    lc->nics_ctx = ctx;
}

int local_compute_start(struct local_compute *lc, const struct local_compute_opts *opts,
                        struct nph_error *err)
{
    int n = opts->workers > 0 ? opts->workers : 4;
    if (!opts->store)
        return nph_error_set(err, NPH_E_INVALID, "the compute service needs a store");
    if (lc->store)
        return nph_error_set(err, NPH_E_CONFLICT, "the compute service is started already");
    lc->store = opts->store;
    lc->data_dir = strdup(opts->data_dir ? opts->data_dir : ".");
    lc->region = strdup(opts->region ? opts->region : "RegionOne");
    lc->cloud = strdup(opts->cloud && *opts->cloud ? opts->cloud : "local");
    if (!lc->data_dir || !lc->region || !lc->cloud)
        return nph_error_nomem(err);
    lc->stop_timeout_s = opts->stop_timeout_s > 0 ? opts->stop_timeout_s : 60;
    lc->image_locate = opts->image_locate;
    lc->image_ctx = opts->image_ctx;
    if (n > CMP_MAX_WORKERS)
        n = CMP_MAX_WORKERS;
    if (opts->bootstrap_flavors && cmp_flavors_bootstrap(lc, err))
        return nph_error_prefix(err, "bootstrapping flavors");
    if (cmp_workers_start(lc, n, err))
        return -1;
    return cmp_requeue(lc, err);
}

virConnectPtr cmp_conn(struct local_compute *lc, struct nph_error *err)
{
    virConnectPtr c;
    pthread_mutex_lock(&lc->lock);
    if (lc->conn && virConnectIsAlive(lc->conn) != 1) {
        virConnectClose(lc->conn);
        lc->conn = NULL;
    }
    if (!lc->conn)
        lc->conn = virConnectOpen(lc->uri);
    c = lc->conn;
    if (!c) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to the hypervisor at '%s'", lc->uri);
        nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    pthread_mutex_unlock(&lc->lock);
    return c;
}

int cmp_virt_error(struct nph_error *err, enum nph_err_code code, const char *what)
{
    nph_error_set(err, code, "%s", what);
    return nph_error_detail(err, "%s", virGetLastErrorMessage());
}

void local_compute_close(struct local_compute *lc)
{
    if (!lc)
        return;
    cmp_workers_stop(lc);
    if (lc->conn)
        virConnectClose(lc->conn);
    pthread_mutex_destroy(&lc->lock);
    pthread_mutex_destroy(&lc->qlock);
    pthread_cond_destroy(&lc->qcond);
    pthread_cond_destroy(&lc->idlecond);
    pthread_mutex_destroy(&lc->snap_lock);
    pthread_mutex_destroy(&lc->nic_lock);
    free(lc->snap);
    free(lc->uri);
    free(lc->data_dir);
    free(lc->region);
    free(lc->cloud);
    free(lc);
}

const char *local_compute_uri(const struct local_compute *lc)
{
    return lc->uri;
}

int local_compute_health(struct local_compute *lc, struct local_compute_node *node,
                         struct nph_error *err)
{
    virNodeInfo info;
    const char *type;
    virConnectPtr conn = cmp_conn(lc, err);
    if (!conn)
        return -1;
    if (virNodeGetInfo(conn, &info) != 0) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "the hypervisor at '%s' does not answer", lc->uri);
        return nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    if (node) {
        memset(node, 0, sizeof(*node));
        snprintf(node->model, sizeof(node->model), "%s", info.model);
        node->cpus = info.cpus;
        node->memory_kib = info.memory;
        type = virConnectGetType(conn);
        snprintf(node->hypervisor, sizeof(node->hypervisor), "%s", type ? type : "unknown");
    }
    return 0;
}

/* ---- store helpers ------------------------------------------------------------------------ */

struct nph_db *cmp_db(struct local_compute *lc, struct nph_error *err)
{
    if (!lc->store) {
        nph_error_set(err, NPH_E_INVALID, "the compute service was not started");
        return NULL;
    }
    return nph_store_acquire(lc->store, err);
}

json_t *cmp_json_load(const char *text, json_t *fallback)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

char *cmp_json_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

json_t *cmp_time_json(int64_t us)
{
    char buf[40];
    if (!us)
        return json_null();
    return json_string(nph_time_format(us, 0, buf, sizeof(buf)));
}
