/*
 * meter_poller.c - see meter_poller.h. One thread; it sleeps on a condition variable (so that
 * stopping does not wait for the interval) against the monotonic clock.
 */
#include "meter_poller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nph_clock.h"
#include "nph_log.h"
#include "nph_meter.h"

struct meter_poller {
    struct nph_store *store;
    struct local_compute *compute;
    char *cloud;
    int64_t interval, raw_keep, retention; /* seconds */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    pthread_t thread;
};

static void poll_once(struct meter_poller *p)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db;
    size_t n = 0;
    int64_t now = nph_clock_now();
    char num[24];
    if (local_compute_sample(p->compute, p->store, p->cloud, now, &n, &err)) {
        nph_log(NPH_LOG_WARN, "meter.sample_failed", "error", err.msg, "detail", err.detail, NULL);
        return;
    }
    if (!(db = nph_store_acquire(p->store, &err)) ||
        nph_meter_compact(db, now, p->raw_keep * NPH_USEC_PER_SEC, p->retention * NPH_USEC_PER_SEC,
                          NULL, NULL, &err))
        nph_log(NPH_LOG_WARN, "meter.compact_failed", "error", err.msg, "detail", err.detail, NULL);
    nph_store_release(db);
    snprintf(num, sizeof(num), "%zu", n);
    nph_log(NPH_LOG_DEBUG, "meter.sampled", "samples", num, NULL);
}

static void *poller_main(void *arg)
{
    struct meter_poller *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec until;
        pthread_mutex_unlock(&p->lock);
        poll_once(p);
        pthread_mutex_lock(&p->lock);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)p->interval;
        while (!p->stopping && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct meter_poller *meter_poller_start(struct nph_store *store, struct local_compute *compute,
                                        const char *cloud, int64_t interval, int64_t raw_keep,
                                        int64_t retention, struct nph_error *err)
{
    struct meter_poller *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    if (!p || (cloud && !(p->cloud = strdup(cloud)))) {
        free(p);
        nph_error_nomem(err);
        return NULL;
    }
    p->store = store;
    p->compute = compute;
    p->interval = interval;
    p->raw_keep = raw_keep;
    p->retention = retention;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->cloud);
        free(p);
        nph_error_set(err, NPH_E_INTERNAL, "cannot start the metering thread");
        return NULL;
    }
    return p;
}

void meter_poller_stop(struct meter_poller *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->cloud);
    free(p);
}
