/*
 * volume_core.c - the block-storage service's life: its schema (component "volume"), the
 * libvirt connection and storage pool, the store helpers the volume files share, and the job
 * queue with its one worker thread.
 *
 * Pool: on a real host a dir pool "nephele-volumes-<12 hex of SHA-256(dir)>" over
 * <data_dir>/volumes (one per data directory, as compute does for instances); on test:///
 * the test driver's in-memory "default-pool", where volumes have a size but no bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libvirt/virterror.h>
#include <libxml/tree.h>

#include "nph_clock.h"
#include "nph_crypto.h"
#include "nph_log.h"
#include "volume_internal.h"

static const struct nph_migration volume_migrations[] = {
    {1, "volume base schema",
     "CREATE TABLE volume_type (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " description TEXT, is_public INTEGER NOT NULL DEFAULT 1,"
     " extra_specs TEXT NOT NULL DEFAULT '{}', created_at BIGINT NOT NULL);"
     "CREATE TABLE volume_volume (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " user_id TEXT NOT NULL, name TEXT, description TEXT, size_gb BIGINT NOT NULL,"
     " new_size_gb BIGINT, status TEXT NOT NULL, type_id TEXT NOT NULL, image_id TEXT,"
     " image_name TEXT, source_volid TEXT, snapshot_id TEXT,"
     " bootable INTEGER NOT NULL DEFAULT 0, readonly INTEGER NOT NULL DEFAULT 0,"
     " metadata TEXT NOT NULL DEFAULT '{}', path TEXT, format TEXT NOT NULL DEFAULT 'qcow2',"
     " fault TEXT, billed INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL);"
     "CREATE INDEX volume_volume_project ON volume_volume (project_id);"
     "CREATE INDEX volume_volume_status ON volume_volume (status);"
     "CREATE TABLE volume_attachment (id TEXT PRIMARY KEY, volume_id TEXT NOT NULL,"
     " server_id TEXT NOT NULL, device TEXT NOT NULL, created_at BIGINT NOT NULL);"
     "CREATE INDEX volume_attachment_volume ON volume_attachment (volume_id);"
     "CREATE INDEX volume_attachment_server ON volume_attachment (server_id);"
     "CREATE TABLE volume_snapshot (id TEXT PRIMARY KEY, volume_id TEXT NOT NULL,"
     " project_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT, description TEXT,"
     " size_gb BIGINT NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',"
     " path TEXT, fault TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
     "CREATE INDEX volume_snapshot_volume ON volume_snapshot (volume_id);"
     "CREATE TABLE volume_quota (project_id TEXT NOT NULL, resource TEXT NOT NULL,"
     " hard_limit BIGINT NOT NULL, PRIMARY KEY (project_id, resource));"},
};

int local_volume_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "volume", volume_migrations,
                             sizeof(volume_migrations) / sizeof(volume_migrations[0]), applied,
                             err);
}

static void quiet_errors(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

struct local_volume *local_volume_open(const char *uri, struct nph_error *err)
{
    struct local_volume *lv;
    if (!uri || !*uri) {
        nph_error_set(err, NPH_E_INVALID, "'compute.libvirt_uri' must not be empty");
        return NULL;
    }
    virSetErrorFunc(NULL, quiet_errors);
    lv = calloc(1, sizeof(*lv));
    if (!lv || !(lv->uri = strdup(uri))) {
        free(lv);
        nph_error_nomem(err);
        return NULL;
    }
    lv->is_test = strncmp(uri, "test://", 7) == 0;
    pthread_mutex_init(&lv->lock, NULL);
    pthread_mutex_init(&lv->qlock, NULL);
    pthread_cond_init(&lv->qcond, NULL);
    pthread_cond_init(&lv->idlecond, NULL);
    return lv;
}

/* The default type, as Cinder has it since Train. */
static int default_type(struct local_volume *lv, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    char id[NPH_UUID_LEN + 1];
    int rc = -1;
    if (!db)
        return -1;
    if (nph_uuid4(id) == 0 &&
        nph_db_execf(db, err,
                     "INSERT INTO volume_type (id, name, description, is_public, extra_specs,"
                     " created_at) VALUES (?, ?, 'Default Volume Type', 1, '{}', ?)"
                     " ON CONFLICT DO NOTHING",
                     "ssi", id, LOCAL_VOLUME_DEFAULT_TYPE, nph_clock_now()) >= 0)
        rc = 0;
    nph_store_release(db);
    return rc;
}

static void *worker_main(void *p);

int local_volume_start(struct local_volume *lv, const struct local_volume_opts *opts,
                       struct nph_error *err)
{
    if (!opts->store)
        return nph_error_set(err, NPH_E_INVALID, "the volume service needs a store");
    if (lv->store)
        return nph_error_set(err, NPH_E_CONFLICT, "the volume service is started already");
    lv->store = opts->store;
    lv->data_dir = strdup(opts->data_dir ? opts->data_dir : ".");
    lv->region = strdup(opts->region ? opts->region : "RegionOne");
    lv->cloud = strdup(opts->cloud && *opts->cloud ? opts->cloud : "local");
    if (!lv->data_dir || !lv->region || !lv->cloud)
        return nph_error_nomem(err);
    lv->image_locate = opts->image_locate;
    lv->image_ctx = opts->image_ctx;
    lv->hook = opts->attach;
    if (default_type(lv, err))
        return nph_error_prefix(err, "creating the default volume type");
    if (pthread_create(&lv->thread, NULL, worker_main, lv) != 0)
        return nph_error_set(err, NPH_E_INTERNAL, "cannot start the volume worker thread");
    lv->have_thread = 1;
    return vol_requeue(lv, err);
}

void local_volume_close(struct local_volume *lv)
{
    if (!lv)
        return;
    pthread_mutex_lock(&lv->qlock);
    lv->stopping = 1;
    pthread_cond_broadcast(&lv->qcond);
    pthread_mutex_unlock(&lv->qlock);
    if (lv->have_thread)
        pthread_join(lv->thread, NULL);
    while (lv->head) {
        struct vol_job *j = lv->head;
        lv->head = j->next;
        free(j);
    }
    if (lv->conn)
        virConnectClose(lv->conn);
    pthread_mutex_destroy(&lv->lock);
    pthread_mutex_destroy(&lv->qlock);
    pthread_cond_destroy(&lv->qcond);
    pthread_cond_destroy(&lv->idlecond);
    free(lv->uri);
    free(lv->data_dir);
    free(lv->region);
    free(lv->cloud);
    free(lv);
}

/* ---- libvirt ------------------------------------------------------------------------------ */

virConnectPtr vol_conn(struct local_volume *lv, struct nph_error *err)
{
    virConnectPtr c;
    pthread_mutex_lock(&lv->lock);
    if (lv->conn && virConnectIsAlive(lv->conn) != 1) {
        virConnectClose(lv->conn);
        lv->conn = NULL;
    }
    if (!lv->conn)
        lv->conn = virConnectOpen(lv->uri);
    c = lv->conn;
    if (!c) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to the hypervisor at '%s'", lv->uri);
        nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    pthread_mutex_unlock(&lv->lock);
    return c;
}

int vol_virt_error(struct nph_error *err, enum nph_err_code code, const char *what)
{
    nph_error_set(err, code, "%s", what);
    return nph_error_detail(err, "%s", virGetLastErrorMessage());
}

virStoragePoolPtr vol_pool(struct local_volume *lv, virConnectPtr conn, struct nph_error *err)
{
    char name[64], hash[2 * NPH_SHA256_LEN + 1], dir[4096];
    virStoragePoolPtr p;
    xmlDocPtr doc;
    xmlNodePtr root, t;
    xmlChar *xml = NULL;
    int len = 0;
    snprintf(dir, sizeof(dir), "%s/volumes", lv->data_dir);
    nph_sha256_hex(dir, strlen(dir), hash);
    if (lv->is_test)
        snprintf(name, sizeof(name), "default-pool");
    else
        snprintf(name, sizeof(name), "nephele-volumes-%.12s", hash);
    p = virStoragePoolLookupByName(conn, name);
    if (p) {
        if (virStoragePoolIsActive(p) == 1)
            return p;
        if (mkdir(dir, 0711) != 0 && errno != EEXIST)
            nph_log(NPH_LOG_WARN, "volume.pool_dir", "dir", dir, "error", strerror(errno), NULL);
        if (virStoragePoolCreate(p, 0) == 0)
            return p;
        if (lv->is_test) {
            virStoragePoolFree(p);
            vol_virt_error(err, NPH_E_UNAVAILABLE, "cannot start the volume storage pool");
            return NULL;
        }
        virStoragePoolUndefine(p);
        virStoragePoolFree(p);
    }
    if (mkdir(dir, 0711) == 0 || errno == EEXIST)
        chmod(dir, 0711);
    doc = xmlNewDoc((const xmlChar *)"1.0");
    root = xmlNewNode(NULL, (const xmlChar *)"pool");
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *)"type", (const xmlChar *)"dir");
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    t = xmlNewChild(root, NULL, (const xmlChar *)"target", NULL);
    xmlNewTextChild(t, NULL, (const xmlChar *)"path", (const xmlChar *)dir);
    xmlDocDumpMemory(doc, &xml, &len);
    xmlFreeDoc(doc);
    p = xml ? virStoragePoolDefineXML(conn, (const char *)xml, 0) : NULL;
    xmlFree(xml);
    if (!p || virStoragePoolCreate(p, 0) != 0) {
        if (p)
            virStoragePoolFree(p);
        vol_virt_error(err, NPH_E_UNAVAILABLE, "cannot create the volume storage pool");
        return NULL;
    }
    virStoragePoolSetAutostart(p, 1);
    return p;
}

/* ---- store helpers ------------------------------------------------------------------------ */

struct nph_db *vol_db(struct local_volume *lv, struct nph_error *err)
{
    if (!lv->store) {
        nph_error_set(err, NPH_E_INVALID, "the volume service was not started");
        return NULL;
    }
    return nph_store_acquire(lv->store, err);
}

json_t *vol_json_load(const char *text, json_t *fallback)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

char *vol_json_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

json_t *vol_time_json(int64_t us)
{
    char buf[40];
    if (!us)
        return json_null();
    return json_string(nph_time_format(us, 6, buf, sizeof(buf)));
}

int vol_check_metadata(const json_t *meta, struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(meta))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute metadata.");
    if (json_object_size(meta) > 128)
        return nph_error_set(err, NPH_E_INVALID, "Too many metadata items (at most 128).");
    json_object_foreach((json_t *)meta, k, v)
    {
        if (!*k || strlen(k) > 255)
            return nph_error_set(err, NPH_E_INVALID,
                                 "Metadata property key blank or greater than 255 characters.");
        if (!json_is_string(v))
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input for field/attribute %s. Value: not a string.", k);
        if (strlen(json_string_value(v)) > 255)
            return nph_error_set(err, NPH_E_INVALID,
                                 "Metadata property value greater than 255 characters.");
    }
    return 0;
}

/* ---- the worker --------------------------------------------------------------------------- */

int vol_queue(struct local_volume *lv, enum vol_job_kind kind, const char *id,
              struct nph_error *err)
{
    struct vol_job *j = calloc(1, sizeof(*j));
    if (!j)
        return nph_error_nomem(err);
    j->kind = kind;
    snprintf(j->id, sizeof(j->id), "%s", id);
    pthread_mutex_lock(&lv->qlock);
    if (lv->tail)
        lv->tail->next = j;
    else
        lv->head = j;
    lv->tail = j;
    pthread_cond_signal(&lv->qcond);
    pthread_mutex_unlock(&lv->qlock);
    return 0;
}

static void *worker_main(void *p)
{
    struct local_volume *lv = p;
    pthread_mutex_lock(&lv->qlock);
    for (;;) {
        struct vol_job *j;
        while (!lv->stopping && !lv->head)
            pthread_cond_wait(&lv->qcond, &lv->qlock);
        if (lv->stopping)
            break; /* queued jobs stay recorded as statuses, requeued at the next start */
        j = lv->head;
        lv->head = j->next;
        if (!lv->head)
            lv->tail = NULL;
        lv->running++;
        pthread_mutex_unlock(&lv->qlock);
        vol_job_run(lv, j);
        free(j);
        pthread_mutex_lock(&lv->qlock);
        lv->running--;
        pthread_cond_broadcast(&lv->idlecond);
    }
    pthread_mutex_unlock(&lv->qlock);
    return NULL;
}

void local_volume_drain(struct local_volume *lv)
{
    pthread_mutex_lock(&lv->qlock);
    while ((lv->head && lv->have_thread) || lv->running > 0)
        pthread_cond_wait(&lv->idlecond, &lv->qlock);
    pthread_mutex_unlock(&lv->qlock);
}
