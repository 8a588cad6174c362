/*
 * volume_internal.h - private to the block-storage files of local/storage: the service
 * struct, the job queue and the store helpers they share.
 */
#ifndef VOLUME_INTERNAL_H
#define VOLUME_INTERNAL_H

#include <pthread.h>

#include <libvirt/libvirt.h>

#include "local_volume.h"
#include "nph_id.h"

enum vol_job_kind {
    VOL_JOB_CREATE,
    VOL_JOB_EXTEND,
    VOL_JOB_DELETE,
    VOL_JOB_SNAP_CREATE,
    VOL_JOB_SNAP_DELETE,
};

struct vol_job {
    struct vol_job *next;
    enum vol_job_kind kind;
    char id[NPH_UUID_LEN + 1]; /* the volume, or the snapshot for VOL_JOB_SNAP_* */
};

struct local_volume {
    pthread_mutex_t lock; /* the connection */
    virConnectPtr conn;
    char *uri;
    int is_test; /* test:///: the pool is in memory, volumes have no bytes */
    /* set by local_volume_start */
    struct nph_store *store;
    char *data_dir, *region, *cloud;
    local_volume_image_fn image_locate;
    void *image_ctx;
    struct local_volume_attach_hook hook;
    /* the job queue and its one worker */
    pthread_mutex_t qlock;
    pthread_cond_t qcond, idlecond;
    struct vol_job *head, *tail;
    int stopping, running, have_thread;
    pthread_t thread;
};

/* The live connection, opened (or reopened) as needed; NULL with NPH_E_UNAVAILABLE. */
virConnectPtr vol_conn(struct local_volume *lv, struct nph_error *err);
/* The pool volumes live in (created on a real host); NULL with err. Free with
 * virStoragePoolFree. */
virStoragePoolPtr vol_pool(struct local_volume *lv, virConnectPtr conn, struct nph_error *err);
/* err from libvirt's last error: `what` as the message, libvirt's text as the detail. */
int vol_virt_error(struct nph_error *err, enum nph_err_code code, const char *what);

struct nph_db *vol_db(struct local_volume *lv, struct nph_error *err);
json_t *vol_json_load(const char *text, json_t *fallback);
char *vol_json_dump(const json_t *v);
json_t *vol_time_json(int64_t us);
/* A metadata object of string values (Cinder: keys 1..255 chars, values <= 255). */
int vol_check_metadata(const json_t *meta, struct nph_error *err);

/* Queue a job (volume_core.c). */
int vol_queue(struct local_volume *lv, enum vol_job_kind kind, const char *id,
              struct nph_error *err);
/* Run one (volume_job.c); requeue what a previous process left (volume_job.c). */
void vol_job_run(struct local_volume *lv, const struct vol_job *job);
int vol_requeue(struct local_volume *lv, struct nph_error *err);

/* Quota: check adding to a project inside db's transaction (volume_meta.c). */
int vol_quota_check_db(struct nph_db *db, const char *project_id, int64_t add_volumes,
                       int64_t add_gb, int64_t add_snapshots, struct nph_error *err);
/* A type row by id or name -> JSON (volume_meta.c); NULL with NPH_E_NOT_FOUND. */
json_t *vol_type_lookup(struct nph_db *db, const char *id_or_name, struct nph_error *err);

#endif
