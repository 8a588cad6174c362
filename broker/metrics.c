/*
 * metrics.c - lock-free HTTP metrics and their Prometheus text rendering (see metrics.h).
 *
 * Layout: one flat array of counters indexed by (route, method, status slot), one histogram
 * (13 finite buckets + the +Inf bucket, a sum in microseconds and a count) per route, and the
 * in-flight gauge. Status codes map to a slot through a 600-entry table built at creation:
 * the common codes have a slot each, anything else falls into its class ("4xx"). All updates
 * are relaxed atomic adds; nothing on the request path allocates or locks.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_OPTIONS, M_OTHER, N_METHODS };

static const char *const method_names[N_METHODS] = {"GET",   "HEAD",   "POST",    "PUT",
                                                    "PATCH", "DELETE", "OPTIONS", "OTHER"};

/* Codes with a slot of their own; the five class slots ("1xx".."5xx") follow them. */
static const int tracked_status[] = {200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
                                     400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415,
                                     416, 422, 429, 431, 500, 501, 502, 503, 504};
#define N_TRACKED   (sizeof(tracked_status) / sizeof(tracked_status[0]))
#define N_STATUS    (N_TRACKED + 5)
#define STATUS_SPAN 600

/* Upper bounds of the finite buckets, in microseconds (0.0005 s .. 5 s). */
static const int64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                        "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                        "1",      "2.5",   "5"};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]) + 1) /* + the +Inf bucket */

struct histogram {
    atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; cumulated when rendered */
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t count;
};

struct metrics_http {
    size_t n_routes;                /* real routes; index n_routes is "unmatched" */
    const char *const *route_names; /* borrowed */
    uint8_t status_slot[STATUS_SPAN];
    atomic_uint_fast64_t *requests; /* (n_routes + 1) * N_METHODS * N_STATUS */
    struct histogram *hist;         /* n_routes + 1 */
    atomic_int_fast64_t in_flight;
};

struct metrics_http *metrics_http_new(size_t n_routes, const char *const *route_names)
{
    struct metrics_http *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->n_routes = n_routes;
    m->route_names = route_names;
    /* calloc'd zero bytes are valid zero-initialised atomics on every platform we target. */
    m->requests = calloc((n_routes + 1) * N_METHODS * N_STATUS, sizeof(*m->requests));
    m->hist = calloc(n_routes + 1, sizeof(*m->hist));
    if (!m->requests || !m->hist) {
        metrics_http_free(m);
        return NULL;
    }
    for (int s = 0; s < STATUS_SPAN; s++) {
        int cls = s / 100;
        if (cls < 1)
            cls = 5;
        m->status_slot[s] = (uint8_t)(N_TRACKED + (size_t)(cls - 1));
    }
    for (size_t i = 0; i < N_TRACKED; i++)
        m->status_slot[tracked_status[i]] = (uint8_t)i;
    atomic_init(&m->in_flight, 0);
    return m;
}

void metrics_http_free(struct metrics_http *m)
{
    if (!m)
        return;
    free(m->requests);
    free(m->hist);
    free(m);
}

static int method_index(const char *method)
{
    if (!method)
        return M_OTHER;
    for (int i = 0; i < M_OTHER; i++)
        if (strcmp(method, method_names[i]) == 0)
            return i;
    return M_OTHER;
}

void metrics_http_observe(struct metrics_http *m, size_t route, const char *method, int status,
                          int64_t duration_us)
{
    if (route > m->n_routes)
        route = m->n_routes;
    int slot = m->status_slot[(status >= 0 && status < STATUS_SPAN) ? status : 500];
    size_t idx = (route * N_METHODS + (size_t)method_index(method)) * N_STATUS + (size_t)slot;
    atomic_fetch_add_explicit(&m->requests[idx], 1, memory_order_relaxed);

    if (duration_us < 0)
        duration_us = 0;
    size_t b = 0;
    while (b < N_BUCKETS - 1 && duration_us > bucket_us[b])
        b++;
    struct histogram *h = &m->hist[route];
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint_fast64_t)duration_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_http_in_flight_add(struct metrics_http *m, int delta)
{
    atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

int64_t metrics_http_in_flight(const struct metrics_http *m)
{
    return (int64_t)atomic_load_explicit(&((struct metrics_http *)m)->in_flight,
                                         memory_order_relaxed);
}

/* A growing output buffer; `failed` sticks after the first allocation failure. */
struct out {
    char *buf;
    size_t len;
    size_t cap;
    int failed;
};

static void out_grow(struct out *o, size_t need)
{
    if (o->failed || o->len + need + 1 <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + need + 1)
        cap *= 2;
    char *nb = realloc(o->buf, cap);
    if (!nb) {
        o->failed = 1;
        return;
    }
    o->buf = nb;
    o->cap = cap;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char tmp[512];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        out_grow(o, (size_t)n);
        if (o->failed)
            return;
        memcpy(o->buf + o->len, tmp, (size_t)n + 1);
        o->len += (size_t)n;
        return;
    }
    out_grow(o, (size_t)n);
    if (o->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* A label value with '\\', '"' and newlines escaped, truncated to 127 bytes. */
static const char *label_escape(const char *s, char out[256])
{
    size_t j = 0;
    for (size_t i = 0; s[i] && i < 127; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            out[j++] = '\\';
            out[j++] = s[i];
        } else if (s[i] == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

static const char *route_label(const struct metrics_http *m, size_t r, char out[256])
{
    if (r >= m->n_routes || !m->route_names[r])
        return "unmatched";
    return label_escape(m->route_names[r], out);
}

static void status_label(size_t slot, char out[8])
{
    if (slot < N_TRACKED)
        snprintf(out, 8, "%d", tracked_status[slot]);
    else
        snprintf(out, 8, "%dxx", (int)(slot - N_TRACKED + 1));
}

/* Resident set size from /proc/self/statm (pages); 0 when unreadable. */
static uint64_t resident_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

char *metrics_http_render(const struct metrics_http *m, size_t *len)
{
    struct out o = {0};
    char lbl[256];
    char st[8];

    out_printf(&o, "# HELP nephele_http_requests_total HTTP requests answered.\n"
                   "# TYPE nephele_http_requests_total counter\n");
    for (size_t r = 0; r <= m->n_routes; r++) {
        const char *route = route_label(m, r, lbl);
        for (size_t me = 0; me < N_METHODS; me++) {
            for (size_t s = 0; s < N_STATUS; s++) {
                size_t idx = (r * N_METHODS + me) * N_STATUS + s;
                uint_fast64_t v = atomic_load_explicit(&m->requests[idx], memory_order_relaxed);
                if (!v)
                    continue;
                status_label(s, st);
                out_printf(&o,
                           "nephele_http_requests_total{route=\"%s\",method=\"%s\","
                           "status=\"%s\"} %llu\n",
                           route, method_names[me], st, (unsigned long long)v);
            }
        }
    }

    out_printf(&o, "# HELP nephele_http_request_duration_seconds Time from the request's headers "
                   "to its response being queued.\n"
                   "# TYPE nephele_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= m->n_routes; r++) {
        const struct histogram *h = &m->hist[r];
        uint_fast64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
        if (!count)
            continue;
        const char *route = route_label(m, r, lbl);
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
            out_printf(&o,
                       "nephele_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} "
                       "%llu\n",
                       route, b < N_BUCKETS - 1 ? bucket_le[b] : "+Inf", (unsigned long long)cum);
        }
        uint_fast64_t sum = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
        out_printf(&o, "nephele_http_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n",
                   route, (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
        /* The count is the +Inf bucket so that the two always agree within one scrape. */
        out_printf(&o, "nephele_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route,
                   (unsigned long long)cum);
    }

    out_printf(&o,
               "# HELP nephele_http_requests_in_flight Requests being received or handled.\n"
               "# TYPE nephele_http_requests_in_flight gauge\n"
               "nephele_http_requests_in_flight %lld\n",
               (long long)metrics_http_in_flight(m));
    out_printf(&o,
               "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
               "# TYPE process_resident_memory_bytes gauge\n"
               "process_resident_memory_bytes %llu\n",
               (unsigned long long)resident_bytes());

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
