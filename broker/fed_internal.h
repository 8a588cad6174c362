/*
 * fed_internal.h - what the federation's files share (see federation.h): the cloud registry,
 * the call wrapper and the records.
 */
#ifndef NPH_FED_INTERNAL_H
#define NPH_FED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "federation.h"

#define FED_MAX_CLOUDS 64
#define FED_NAME_MAX   63

/* Operations of the driver interface, for metrics and fault injection. */
enum fed_op {
    FED_OP_HEALTH,
    FED_OP_LIST_OFFERINGS,
    FED_OP_SERVER_CREATE,
    FED_OP_SERVER_GET,
    FED_OP_SERVER_LIST,
    FED_OP_SERVER_DELETE,
    FED_OP_SERVER_ACTION,
    FED_OP_SERVER_CONSOLE,
    FED_OP_IMAGE_LIST,
    FED_OP_IMAGE_FIND,
    FED_OP_USAGE_GET,
    FED_OP_VOLUME_CREATE,
    FED_OP_VOLUME_GET,
    FED_OP_VOLUME_LIST,
    FED_OP_VOLUME_DELETE,
    FED_OP_VOLUME_EXTEND,
    FED_OP_BUCKET_CREATE,
    FED_OP_BUCKET_HEAD,
    FED_OP_BUCKET_DELETE,
    FED_OP_BUCKET_LIST,
    FED_OP_OBJECT_LIST,
    FED_OP_OBJECT_PUT,
    FED_OP_OBJECT_GET,
    FED_OP_OBJECT_HEAD,
    FED_OP_OBJECT_DELETE,
    FED_OP_COUNT
};
const char *fed_op_name(enum fed_op op);

#define FED_N_BUCKETS 15 /* 14 finite + the +Inf bucket */

struct fed_histogram {
    atomic_uint_fast64_t bucket[FED_N_BUCKETS]; /* non-cumulative */
    atomic_uint_fast64_t sum_us, count, errors;
};

enum fed_breaker { FED_BREAKER_CLOSED, FED_BREAKER_OPEN, FED_BREAKER_HALF_OPEN };

struct fed_fault {
    int active;
    char op[32];    /* "*" or an op name */
    int code;       /* enum nph_err_code; 0 = none */
    long delay_ms;  /* sleep before the call */
    int count;      /* remaining triggers; < 0 = unlimited */
    int exit;       /* _exit(137) before the call: a kill between journal and cloud */
    int exit_after; /* _exit(137) after the call returned: a kill before its outcome is kept */
};

struct fed_cloud {
    char name[FED_NAME_MAX + 1];
    char kind[32];
    char source[8];  /* "config" or "api" */
    char region[64]; /* region_name, or the broker's region */
    json_t *config;  /* the entry as given (secrets included; never rendered as is) */
    struct nph_backend *b;
    int removed; /* removed at runtime: kept (calls may be in flight) but not listed */

    pthread_mutex_t mu; /* breaker, probe state, fault, offering cache */
    enum fed_breaker breaker;
    int failures; /* consecutive */
    int64_t opened_at, last_probe, last_ok;
    char last_error[256];
    int probe_in_flight; /* half-open: one call goes through */
    struct fed_fault fault;
    struct nph_offering_list offerings;
    int64_t offerings_at;

    struct fed_histogram hist[FED_OP_COUNT];
};

struct fed {
    struct nph_store *store;
    const struct nph_config *cfg;
    const struct nph_backend_host *host;
    uint8_t master_key[32];
    char instance[40]; /* this process, as lease owner */
    int fault_injection;

    pthread_rwlock_t lock; /* the cloud table */
    struct fed_cloud *clouds[FED_MAX_CLOUDS];
    size_t n_clouds;
    char default_cloud[FED_NAME_MAX + 1];
    pthread_mutex_t cloud_mu; /* runtime adds/removes and the sync with the store, one at a time */

    pthread_mutex_t mu; /* threads */
    pthread_cond_t cv;
    int stopping, started;
    pthread_t workers[64];
    int n_workers;
    pthread_t health_thread, reconcile_thread, sync_thread;
};

/* The cloud named `name` (not removed), or NULL with NPH_E_NOT_FOUND "no cloud 'x'". Clouds
 * live until fed_close, so the pointer stays valid. */
struct fed_cloud *fed_cloud_find(struct fed *f, const char *name, struct nph_error *err);
/* The local cloud, or NULL. */
struct fed_cloud *fed_cloud_local(struct fed *f);

/* The call wrapper. begin: breaker (fail fast while open), fault injection, the context;
 * end: metrics, breaker accounting, a log line on failure. Use as
 *   struct fed_call k; if (fed_call_begin(f, c, FED_OP_X, caller, &k, err)) return -1;
 *   rc = fed_call_end(&k, ops->x(c->b, &k.ctx, ..., err), err);                            */
struct fed_call {
    struct fed *f;
    struct fed_cloud *cloud;
    enum fed_op op;
    struct nph_backend_ctx ctx;
    int64_t t0;
    int probe;      /* this call is the half-open probe */
    int exit_after; /* fault injection: die once the call returns */
};
int fed_call_begin(struct fed *f, struct fed_cloud *c, enum fed_op op, const struct fed_caller *who,
                   struct fed_call *k, struct nph_error *err);
int fed_call_end(struct fed_call *k, int rc, struct nph_error *err);

/* Offerings of the cloud (cached for a minute) and the smallest one that fits. */
int fed_cloud_fit(struct fed *f, struct fed_cloud *c, const struct fed_caller *who, unsigned vcpus,
                  uint64_t ram_mb, uint64_t disk_gb, struct nph_offering *out,
                  struct nph_error *err);

/* The cloud's offering called `name` (from the same cache). */
int fed_cloud_offering(struct fed *f, struct fed_cloud *c, const struct fed_caller *who,
                       const char *name, struct nph_offering *out, struct nph_error *err);

/* Loops (fed_server.c). */
void *fed_worker_main(void *arg);
void *fed_reconcile_main(void *arg);
int fed_reconcile_cloud(struct fed *f, struct fed_cloud *c, json_t **summary,
                        struct nph_error *err);
/* Wake the workers (a new operation was journaled). */
void fed_wake(struct fed *f);
/* Sleep up to ms or until stopping; returns 1 when stopping. */
int fed_sleep(struct fed *f, int64_t ms);

/* ISO 8601 UTC of a clock value. */
void fed_iso8601(int64_t us, char out[32]);

#endif
