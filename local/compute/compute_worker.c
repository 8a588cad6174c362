/*
 * compute_worker.c - the job queue and the worker threads that run hypervisor operations off
 * the request path. Jobs for one server run one at a time and in order: a worker takes the
 * first queued job whose server no other worker is busy with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_internal.h"
#include "nph_log.h"

static int server_busy(struct local_compute *lc, const char *id)
{
    for (int i = 0; i < lc->n_threads; i++)
        if (strcmp(lc->busy[i], id) == 0)
            return 1;
    return 0;
}

/* Unlink and return the first runnable job, or NULL. Called with qlock held. */
static struct cmp_job *take(struct local_compute *lc)
{
    struct cmp_job *prev = NULL;
    for (struct cmp_job *j = lc->head; j; prev = j, j = j->next) {
        if (server_busy(lc, j->server_id))
            continue;
        if (prev)
            prev->next = j->next;
        else
            lc->head = j->next;
        if (lc->tail == j)
            lc->tail = prev;
        j->next = NULL;
        return j;
    }
    return NULL;
}

struct worker_arg {
    struct local_compute *lc;
    int slot;
};

static void *worker_main(void *p)
{
    struct worker_arg *wa = p;
    struct local_compute *lc = wa->lc;
    int slot = wa->slot;
    free(wa);
    pthread_mutex_lock(&lc->qlock);
    for (;;) {
        struct cmp_job *job = NULL;
        while (!lc->stopping && !(job = take(lc)))
            pthread_cond_wait(&lc->qcond, &lc->qlock);
        if (!job)
            break; /* stopping: queued jobs stay recorded as tasks, requeued at next start */
        memcpy(lc->busy[slot], job->server_id, sizeof(lc->busy[slot]));
        lc->running++;
        pthread_mutex_unlock(&lc->qlock);
        cmp_job_run(lc, job);
        free(job);
        pthread_mutex_lock(&lc->qlock);
        lc->busy[slot][0] = '\0';
        lc->running--;
        __atomic_add_fetch(&lc->dom_gen, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&lc->idlecond);
        pthread_cond_broadcast(&lc->qcond); /* a job held back for this server may run now */
    }
    pthread_mutex_unlock(&lc->qlock);
    return NULL;
}

static int queue_job(struct local_compute *lc, struct cmp_job *j)
{
    pthread_mutex_lock(&lc->qlock);
    if (lc->tail)
        lc->tail->next = j;
    else
        lc->head = j;
    lc->tail = j;
    pthread_cond_signal(&lc->qcond);
    pthread_mutex_unlock(&lc->qlock);
    return 0;
}

int cmp_queue(struct local_compute *lc, enum cmp_job_kind kind, const char *server_id,
              const char *action_id, struct nph_error *err)
{
    struct cmp_job *j = calloc(1, sizeof(*j));
    if (!j)
        return nph_error_nomem(err);
    j->kind = kind;
    snprintf(j->server_id, sizeof(j->server_id), "%s", server_id);
    snprintf(j->action_id, sizeof(j->action_id), "%s", action_id ? action_id : "");
    return queue_job(lc, j);
}

int cmp_queue_snapshot(struct local_compute *lc, const char *server_id, const char *action_id,
                       const char *image_id, const struct local_compute_image_sink *sink,
                       struct nph_error *err)
{
    struct cmp_job *j = calloc(1, sizeof(*j));
    if (!j)
        return nph_error_nomem(err);
    j->kind = CMP_JOB_SNAPSHOT;
    snprintf(j->server_id, sizeof(j->server_id), "%s", server_id);
    snprintf(j->action_id, sizeof(j->action_id), "%s", action_id ? action_id : "");
    snprintf(j->image_id, sizeof(j->image_id), "%s", image_id);
    if (sink)
        j->sink = *sink;
    return queue_job(lc, j);
}

int cmp_workers_start(struct local_compute *lc, int n, struct nph_error *err)
{
    for (int i = 0; i < n; i++) {
        struct worker_arg *wa = malloc(sizeof(*wa));
        if (!wa)
            return nph_error_nomem(err);
        wa->lc = lc;
        wa->slot = i;
        lc->busy[i][0] = '\0';
        pthread_mutex_lock(&lc->qlock);
        lc->n_threads = i + 1;
        pthread_mutex_unlock(&lc->qlock);
        if (pthread_create(&lc->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pthread_mutex_lock(&lc->qlock);
            lc->n_threads = i;
            pthread_mutex_unlock(&lc->qlock);
            return nph_error_set(err, NPH_E_INTERNAL, "cannot start a compute worker thread");
        }
    }
    return 0;
}

void local_compute_drain(struct local_compute *lc)
{
    pthread_mutex_lock(&lc->qlock);
    while ((lc->head && lc->n_threads > 0) || lc->running > 0)
        pthread_cond_wait(&lc->idlecond, &lc->qlock);
    pthread_mutex_unlock(&lc->qlock);
}

void cmp_workers_stop(struct local_compute *lc)
{
    int n;
    pthread_mutex_lock(&lc->qlock);
    lc->stopping = 1;
    n = lc->n_threads;
    pthread_cond_broadcast(&lc->qcond);
    pthread_mutex_unlock(&lc->qlock);
    for (int i = 0; i < n; i++)
        pthread_join(lc->threads[i], NULL);
    while (lc->head) {
        struct cmp_job *j = lc->head;
        lc->head = j->next;
        free(j);
    }
    lc->tail = NULL;
    lc->n_threads = 0;
}
