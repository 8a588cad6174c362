/*
 * compute_internal.h - private to local/compute: the service struct, the job queue, and the
 * store helpers its files share.
 */
#ifndef COMPUTE_INTERNAL_H
#define COMPUTE_INTERNAL_H

#include <pthread.h>

#include <libvirt/libvirt.h>

#include "local_compute.h"
#include "nph_id.h"

#define CMP_MAX_WORKERS 16

enum cmp_job_kind {
    CMP_JOB_BUILD,
    CMP_JOB_STOP,
    CMP_JOB_START,
    CMP_JOB_REBOOT_SOFT,
    CMP_JOB_REBOOT_HARD,
    CMP_JOB_RESIZE,
    CMP_JOB_CONFIRM,
    CMP_JOB_REVERT,
    CMP_JOB_REBUILD,
    CMP_JOB_DELETE,
    CMP_JOB_SNAPSHOT,
};

struct cmp_job {
    struct cmp_job *next;
    enum cmp_job_kind kind;
    char server_id[NPH_UUID_LEN + 1];
    char action_id[NPH_UUID_LEN + 1]; /* the instance action to finish; "" = none */
    /* CMP_JOB_SNAPSHOT: the image to fill and where to put it (no store: a requeued
     * snapshot, abandoned) */
    char image_id[NPH_UUID_LEN + 1];
    struct local_compute_image_sink sink;
};

struct local_compute {
    pthread_mutex_t lock;
    virConnectPtr conn; /* opened on first use, reopened when it dies */
    char *uri;
    int is_test; /* test:///: no files, no pools of our own */
    /* set by local_compute_start */
    struct nph_store *store;
    char *data_dir, *region, *cloud;
    int stop_timeout_s;
    local_compute_image_fn image_locate;
    void *image_ctx;
    /* a server's network interfaces; nic_lock serialises a domain's definition (which asks
     * for them) with hot-plugs (local_compute_server_nic) */
    local_compute_nics_fn nics;
    void *nics_ctx;
    pthread_mutex_t nic_lock;
    /* job queue */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;    /* a job was queued, or stopping */
    pthread_cond_t idlecond; /* a job finished */
    struct cmp_job *head, *tail;
    int stopping;
    int running;                                  /* jobs in progress */
    char busy[CMP_MAX_WORKERS][NPH_UUID_LEN + 1]; /* their servers */
    pthread_t threads[CMP_MAX_WORKERS];
    int n_threads;
    /* The power state of every domain, as lists read it: refreshed when older than
     * CMP_DOMAIN_SNAPSHOT_US or when a job has changed a domain (dom_gen moved). Asking libvirt
     * for 100 domains costs ~0.3 ms (it formats UUIDs for its logs), too much per list. */
    pthread_mutex_t snap_lock;
    void *snap; /* struct dom_state[], compute_server.c */
    int snap_n;
    int64_t snap_mono;
    unsigned snap_gen;
    unsigned dom_gen; /* moved by the workers (under qlock) after every job */
};

#define CMP_DOMAIN_SNAPSHOT_US (200 * 1000)

/* The live connection (compute_conn.c), opening it as needed; NULL with err set. */
virConnectPtr cmp_conn(struct local_compute *lc, struct nph_error *err);
/* Fill err from libvirt's last error: code, "what" as the message, libvirt's text as detail. */
int cmp_virt_error(struct nph_error *err, enum nph_err_code code, const char *what);
/* The domain definition `xml` with the <disk>s of the existing definition of domain `uuid`
 * whose target `xml` does not have (hot-plugged volumes), so that a redefinition (hard reboot,
 * resize, revert) keeps them attached. A new string (a copy of xml when there is nothing to
 * carry), or NULL with err. (compute_attach.c) */
char *cmp_carry_disks(virConnectPtr conn, const char *uuid, const char *xml, struct nph_error *err);

/* A store connection, or NULL with err (NPH_E_INVALID if the service was not started). */
struct nph_db *cmp_db(struct local_compute *lc, struct nph_error *err);

/* Queue a job (compute_worker.c). */
int cmp_queue(struct local_compute *lc, enum cmp_job_kind kind, const char *server_id,
              const char *action_id, struct nph_error *err);
/* Queue a snapshot job (the sink is copied). */
int cmp_queue_snapshot(struct local_compute *lc, const char *server_id, const char *action_id,
                       const char *image_id, const struct local_compute_image_sink *sink,
                       struct nph_error *err);
int cmp_workers_start(struct local_compute *lc, int n, struct nph_error *err);
void cmp_workers_stop(struct local_compute *lc);
/* Run one job (compute_server.c). */
void cmp_job_run(struct local_compute *lc, const struct cmp_job *job);
/* Requeue the servers left in a task by a previous process (compute_server.c). */
int cmp_requeue(struct local_compute *lc, struct nph_error *err);

/* Flavor row -> JSON (compute_flavor.c), for servers. */
json_t *cmp_flavor_get_any(struct nph_db *db, const char *id, struct nph_error *err);
/* Bootstrap the default flavors when there is none. */
int cmp_flavors_bootstrap(struct local_compute *lc, struct nph_error *err);
/* Quota check for adding instances/cores/ram to a project within db's transaction:
 * NPH_E_FORBIDDEN with Nova's message when over. */
int cmp_quota_check(struct nph_db *db, const char *project_id, int64_t instances, int64_t cores,
                    int64_t ram, struct nph_error *err);

/* JSON text helpers. */
json_t *cmp_json_load(const char *text, json_t *fallback);
char *cmp_json_dump(const json_t *v);
/* ISO 8601 "2026-01-02T03:04:05Z" of us (0 -> JSON null). */
json_t *cmp_time_json(int64_t us);

#endif
