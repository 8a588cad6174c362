/*
 * billing_usage.c - Nova's os-simple-tenant-usage figures from ledger events (see
 * billing_usage.h).
 */
#include "billing_usage.h"

#include <stdlib.h>
#include <string.h>

double tu_hours(int64_t seconds)
{
    return (double)seconds / 3600.0;
}

void tu_report_fini(struct tu_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].resource);
        free(r->v[i].project);
        free(r->v[i].offering);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* An event and its position (ties keep the order events were written in). */
struct ref {
    const struct pol_uevent *e;
    size_t i;
};

static int by_resource_time(const void *a, const void *b)
{
    const struct ref *p = a, *q = b;
    int c = strcmp(p->e->resource, q->e->resource);
    if (c)
        return c;
    if (p->e->ts != q->e->ts)
        return p->e->ts < q->e->ts ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

static int by_start(const void *a, const void *b)
{
    const struct tu_server *x = a, *y = b;
    if (x->started != y->started)
        return x->started < y->started ? -1 : 1;
    return strcmp(x->resource, y->resource);
}

/* Add [a, b) clipped to [from, to) at flavor f to s. */
static void add_span(struct tu_server *s, int64_t a, int64_t b, int64_t from, int64_t to,
                     const struct tu_flavor *f)
{
    if (a < from)
        a = from;
    if (b > to)
        b = to;
    if (b <= a)
        return;
    int64_t d = b - a;
    s->seconds += d;
    s->vcpu_s += d * (int64_t)f->vcpus;
    s->mb_s += d * (int64_t)f->ram_mb;
    s->gb_s += d * (int64_t)f->disk_gb;
}

static void lookup(tu_flavor_fn fn, void *ctx, const char *name, struct tu_flavor *out)
{
    memset(out, 0, sizeof(*out));
    if (fn && name && fn(ctx, name, out) != 0)
        memset(out, 0, sizeof(*out));
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

int tu_compute(const struct pol_uevents *ev, const char *cloud, const char *project, int64_t from,
               int64_t to, tu_flavor_fn flavor, void *ctx, struct tu_report *out,
               struct nph_error *err)
{
    struct tu_report r = {0};
    struct ref *idx = ev->n ? malloc(ev->n * sizeof(*idx)) : NULL;
    if (ev->n && !idx)
        return nph_error_nomem(err);
    for (size_t i = 0; i < ev->n; i++)
        idx[i] = (struct ref){&ev->v[i], i};
    if (ev->n)
        qsort(idx, ev->n, sizeof(*idx), by_resource_time);
    size_t i = 0;
    while (i < ev->n) {
        const struct pol_uevent *first = idx[i].e;
        size_t j = i;
        while (j < ev->n && strcmp(idx[j].e->resource, first->resource) == 0)
            j++;
        if (first->type != POL_RT_SERVER || (cloud && strcmp(first->cloud, cloud) != 0) ||
            (project && strcmp(first->project, project) != 0)) {
            i = j;
            continue;
        }
        /* walk the server's events: it exists from its first event to `deleted` */
        struct tu_server s = {0};
        struct tu_flavor f;
        const char *off = first->offering;
        int64_t since = first->ts, created = first->ts, deleted = 0;
        lookup(flavor, ctx, off, &f);
        for (size_t k = i; k < j; k++) {
            const struct pol_uevent *e = idx[k].e;
            if (e->ts >= to)
                break;
            if (e->kind == POL_UEV_RESIZED && e->offering) {
                add_span(&s, since, e->ts, from, to, &f);
                since = e->ts;
                off = e->offering;
                lookup(flavor, ctx, off, &f);
            } else if (e->kind == POL_UEV_STOPPED) {
                s.stopped = 1;
            } else if (e->kind == POL_UEV_STARTED) {
                s.stopped = 0;
            } else if (e->kind == POL_UEV_DELETED) {
                deleted = e->ts;
                break;
            }
        }
        i = j;
        if (created >= to || (deleted && deleted <= from))
            continue;
        add_span(&s, since, deleted ? deleted : to, from, to, &f);
        s.started = created;
        s.ended = deleted;
        s.flavor = f;
        s.resource = strdup(first->resource);
        s.project = strdup(first->project);
        s.offering = dup_or_empty(off);
        struct tu_server *nv = realloc(r.v, (r.n + 1) * sizeof(*nv));
        if (!s.resource || !s.project || !s.offering || !nv) {
            free(s.resource);
            free(s.project);
            free(s.offering);
            if (nv)
                r.v = nv;
            tu_report_fini(&r);
            free(idx);
            return nph_error_nomem(err);
        }
        r.v = nv;
        r.v[r.n++] = s;
    }
    free(idx);
    if (r.n)
        qsort(r.v, r.n, sizeof(*r.v), by_start);
    *out = r;
    return 0;
}
