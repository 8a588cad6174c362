/*
 * metrics.h - the HTTP server's Prometheus metrics: request counters per route, method and
 * status, a latency histogram per route, the in-flight gauge and the resident memory of the
 * process, rendered in the Prometheus text format 0.0.4.
 *
 * The hot path (metrics_http_observe) takes no lock: every series lives in a fixed array sized
 * at creation (routes x methods x statuses) and is bumped with relaxed atomics. Rendering reads
 * the counters without stopping writers, so one scrape may see a request in a counter and not
 * yet in its histogram; Prometheus tolerates that.
 */
#ifndef NPH_METRICS_H
#define NPH_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics_http;

/* Create the series for n_routes routes, route index n_routes being "unmatched". route_names
 * (n_routes entries, borrowed: they must outlive the object) label the series. Returns NULL
 * when memory runs out. */
struct metrics_http *metrics_http_new(size_t n_routes, const char *const *route_names);
/* NULL is a no-op. */
void metrics_http_free(struct metrics_http *m);

/* Count one finished request. route may be n_routes (unmatched); method is any string (unknown
 * methods are counted as "OTHER"); status any code (codes outside the tracked set are counted
 * under their class, e.g. "5xx"). Thread-safe, lock-free. */
void metrics_http_observe(struct metrics_http *m, size_t route, const char *method, int status,
                          int64_t duration_us);

/* The in-flight gauge: +1 when a request starts, -1 when its state is freed. */
void metrics_http_in_flight_add(struct metrics_http *m, int delta);
int64_t metrics_http_in_flight(const struct metrics_http *m);

/* Render everything in the text format 0.0.4. Returns a malloc'd NUL-terminated string (the
 * caller frees it) and its length in *len, or NULL when memory runs out. */
char *metrics_http_render(const struct metrics_http *m, size_t *len);

#endif
