/*
 * nph_http.h - the HTTP client every backend uses, over libcurl.
 *
 * Timeouts (connect and total), TLS verification on by default (an explicit CA file may be
 * given; turning verification off must be asked for), a response body limit, and retries with
 * exponential backoff and jitter for idempotent requests only (GET, HEAD, PUT, DELETE,
 * OPTIONS) on connection errors, timeouts and 502/503/504 (and 429 honouring Retry-After up to
 * the backoff cap). POST and PATCH are never retried.
 */
#ifndef NPH_HTTP_H
#define NPH_HTTP_H

#include <stddef.h>

#include "nph_error.h"

struct nph_http_client; /* opaque; thread-safe to share, one curl easy handle per call */

struct nph_http_opts {
    long connect_timeout_ms;   /* default 5000 */
    long timeout_ms;           /* whole request, default 30000 */
    int verify_tls;            /* default 1 */
    const char *ca_file;       /* NULL = system store */
    int max_retries;           /* default 2 (so at most 3 attempts) */
    long backoff_base_ms;      /* default 200 */
    long backoff_max_ms;       /* default 5000 */
    size_t max_response_bytes; /* default 64 MiB */
    const char *user_agent;    /* default "nephele/<version>" */
};

struct nph_http_header {
    const char *name;
    const char *value;
};

struct nph_http_response {
    long status;
    char *body; /* NUL-terminated, malloc'd (owned by the response) */
    size_t body_len;
    char **headers; /* "Name: value" lines, malloc'd, count in n_headers */
    size_t n_headers;
    int attempts; /* how many tries were made */
};

/* Defaults into opts. */
void nph_http_opts_default(struct nph_http_opts *opts);
/* Returns a new client or NULL (err set). opts NULL = defaults. Strings in opts are copied. */
struct nph_http_client *nph_http_client_new(const struct nph_http_opts *opts,
                                            struct nph_error *err);
void nph_http_client_free(struct nph_http_client *c);

/* Perform a request. `headers` is an array of n_headers; body may be NULL. On success (any
 * HTTP status, including 4xx/5xx after retries) returns 0 and fills *resp (free with
 * nph_http_response_fini). On a transport failure returns -1 with NPH_E_UNAVAILABLE
 * (connection refused/reset, DNS), NPH_E_TIMEOUT, NPH_E_BACKEND (TLS failure, oversize body). */
int nph_http_request(struct nph_http_client *c, const char *method, const char *url,
                     const struct nph_http_header *headers, size_t n_headers, const void *body,
                     size_t body_len, struct nph_http_response *resp, struct nph_error *err);
/* As nph_http_request, within a budget: when budget_ms > 0 the whole call (every attempt and
 * the pauses between them) ends within about budget_ms. Each attempt's connect and total
 * timeouts are the smaller of the client's and what is left, and no retry starts that could not
 * begin before the budget ends (the last answer, or the last transport error, is returned then).
 * An attempt cut short by the budget fails with NPH_E_TIMEOUT. budget_ms <= 0 is
 * nph_http_request. */
int nph_http_request_timeout(struct nph_http_client *c, long budget_ms, const char *method,
                             const char *url, const struct nph_http_header *headers,
                             size_t n_headers, const void *body, size_t body_len,
                             struct nph_http_response *resp, struct nph_error *err);
/* First header value by case-insensitive name, borrowed from resp, or NULL. */
const char *nph_http_response_header(const struct nph_http_response *resp, const char *name);
void nph_http_response_fini(struct nph_http_response *resp);

/* curl_global_init; call once from main before threads start. */
int nph_http_global_init(struct nph_error *err);
void nph_http_global_cleanup(void);

#endif
