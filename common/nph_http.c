/*
 * nph_http.c - the HTTP client every backend uses, over libcurl (see nph_http.h).
 *
 * Each nph_http_request call owns one curl easy handle, reused across its retries and freed
 * before it returns, so a client shared by many threads holds no mutable state. The handle is
 * restricted to http and https, never follows redirects, sends no "Expect: 100-continue",
 * verifies TLS unless the client was created with verify_tls = 0, and aborts the transfer in the
 * write callback once the body exceeds max_response_bytes.
 *
 * Retries: only idempotent methods (GET HEAD PUT DELETE OPTIONS) are retried, on connection
 * failures, timeouts and 502/503/504/429. The pause before retry n (0-based) is drawn uniformly
 * from [0, min(backoff_max, backoff_base * 2^n)] ("full jitter"). A Retry-After of whole seconds
 * on a 429 or 503 replaces the drawn pause when it fits under backoff_max_ms; when the server
 * asks for longer than that, the response is returned as is instead of retrying early.
 */
#include "nph_http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <pthread.h>

#include "nph_clock.h"
#include "nph_crypto.h"

#ifndef NPH_VERSION
#define NPH_VERSION "0"
#endif

#define HTTP_MAX_HEADER_LINES 512
#define HTTP_MAX_HEADER_BYTES (256 * 1024)

struct nph_http_client {
    struct nph_http_opts opts; /* string members point at the copies below */
    char *ca_file;
    char *user_agent;
    /* Connections, DNS answers and TLS sessions are shared by every request of the client, so
     * calls to one cloud reuse kept-alive connections instead of a handshake each. */
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    /* Idle easy handles, reused (after curl_easy_reset) so a call costs no handle set-up. */
    pthread_mutex_t idle_mu;
    CURL *idle[16];
    int n_idle;
};

static CURL *handle_take(struct nph_http_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->idle_mu);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->idle_mu);
    if (h)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    return h;
}

static void handle_give(struct nph_http_client *c, CURL *h)
{
    pthread_mutex_lock(&c->idle_mu);
    if (c->n_idle < (int)(sizeof(c->idle) / sizeof(c->idle[0]))) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->idle_mu);
    if (h)
        curl_easy_cleanup(h);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
    struct nph_http_client *c = ctx;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->locks[(unsigned)data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    struct nph_http_client *c = ctx;
    (void)h;
    pthread_mutex_unlock(&c->locks[(unsigned)data < CURL_LOCK_DATA_LAST ? data : 0]);
}

/* Per-attempt accumulation of one response. */
struct http_sink {
    char *body;
    size_t len, cap, max;
    char **headers;
    size_t n_headers, cap_headers, header_bytes;
    int oversize;     /* body exceeded max */
    int header_flood; /* too many header lines or bytes */
};

void nph_http_opts_default(struct nph_http_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = 5000;
    opts->timeout_ms = 30000;
    opts->verify_tls = 1;
    opts->ca_file = NULL;
    opts->max_retries = 2;
    opts->backoff_base_ms = 200;
    opts->backoff_max_ms = 5000;
    opts->max_response_bytes = 64u * 1024 * 1024;
    opts->user_agent = NULL;
}

int nph_http_global_init(struct nph_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return nph_error_set(err, NPH_E_INTERNAL, "cannot initialise libcurl");
    return 0;
}

void nph_http_global_cleanup(void)
{
    curl_global_cleanup();
}

struct nph_http_client *nph_http_client_new(const struct nph_http_opts *opts, struct nph_error *err)
{
    struct nph_http_client *c = calloc(1, sizeof(*c));
    if (!c) {
        nph_error_nomem(err);
        return NULL;
    }
    if (opts)
        c->opts = *opts;
    else
        nph_http_opts_default(&c->opts);
    if (c->opts.connect_timeout_ms < 0 || c->opts.timeout_ms < 0 || c->opts.max_retries < 0 ||
        c->opts.backoff_base_ms < 0 || c->opts.backoff_max_ms < 0) {
        free(c);
        nph_error_set(err, NPH_E_INVALID, "negative HTTP client timeout, retry or backoff");
        return NULL;
    }
    if (c->opts.max_response_bytes == 0)
        c->opts.max_response_bytes = 64u * 1024 * 1024;
    c->user_agent = strdup(c->opts.user_agent ? c->opts.user_agent : "nephele/" NPH_VERSION);
    c->ca_file = c->opts.ca_file ? strdup(c->opts.ca_file) : NULL;
    if (!c->user_agent || (c->opts.ca_file && !c->ca_file)) {
        nph_http_client_free(c);
        nph_error_nomem(err);
        return NULL;
    }
    c->opts.user_agent = c->user_agent;
    c->opts.ca_file = c->ca_file;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    pthread_mutex_init(&c->idle_mu, NULL);
    c->share = curl_share_init();
    if (!c->share || curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        nph_http_client_free(c);
        nph_error_set(err, NPH_E_INTERNAL, "cannot set up libcurl's connection sharing");
        return NULL;
    }
    return c;
}

void nph_http_client_free(struct nph_http_client *c)
{
    if (!c)
        return;
    if (c->share) {
        for (int i = 0; i < c->n_idle; i++)
            curl_easy_cleanup(c->idle[i]);
        pthread_mutex_destroy(&c->idle_mu);
        curl_share_cleanup(c->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&c->locks[i]);
    }
    free(c->ca_file);
    free(c->user_agent);
    free(c);
}

/* ---- response accumulation ----------------------------------------------------------------- */

static void sink_reset(struct http_sink *s)
{
    for (size_t i = 0; i < s->n_headers; i++)
        free(s->headers[i]);
    free(s->headers);
    free(s->body);
    size_t max = s->max;
    memset(s, 0, sizeof(*s));
    s->max = max;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http_sink *s = userp;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->oversize = 1;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *grown;
        while (cap < s->len + n + 1)
            cap *= 2;
        grown = realloc(s->body, cap);
        if (!grown)
            return 0;
        s->body = grown;
        s->cap = cap;
    }
    memcpy(s->body + s->len, data, n);
    s->len += n;
    s->body[s->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http_sink *s = userp;
    size_t n = size * nmemb, len = n;
    char *line;

    /* A new status line (after 1xx, or from a proxy) starts a new header block. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < s->n_headers; i++)
            free(s->headers[i]);
        s->n_headers = 0;
        s->header_bytes = 0;
        return n;
    }
    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len == 0)
        return n;
    s->header_bytes += len;
    if (s->n_headers >= HTTP_MAX_HEADER_LINES || s->header_bytes > HTTP_MAX_HEADER_BYTES) {
        s->header_flood = 1;
        return 0;
    }
    if (s->n_headers == s->cap_headers) {
        size_t cap = s->cap_headers ? s->cap_headers * 2 : 16;
        char **grown = realloc(s->headers, cap * sizeof(*grown));
        if (!grown)
            return 0;
        s->headers = grown;
        s->cap_headers = cap;
    }
    line = malloc(len + 1);
    if (!line)
        return 0;
    memcpy(line, data, len);
    line[len] = '\0';
    s->headers[s->n_headers++] = line;
    return n;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int method_is_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "DELETE") == 0 || strcmp(m, "OPTIONS") == 0;
}

static int method_is_valid(const char *m)
{
    if (!m || !*m || strlen(m) > 32)
        return 0;
    for (const char *p = m; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return 1;
}

static int header_text_ok(const char *s, int is_name)
{
    if (!s || (is_name && !*s))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\r' || *p == '\n' || (is_name && (*p == ':' || *p <= ' ' || *p >= 127)))
            return 0;
    }
    return 1;
}

static const char *header_lookup(char *const *headers, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++) {
        const char *h = headers[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}

/* Retry-After in whole seconds, or -1 when absent or not a plain number. */
static long retry_after_ms(const struct http_sink *s)
{
    const char *v = header_lookup(s->headers, s->n_headers, "Retry-After");
    long secs = 0;
    if (!v || !*v)
        return -1;
    for (; *v && *v != ' ' && *v != '\t'; v++) {
        if (*v < '0' || *v > '9' || secs > 86400 * 365)
            return -1;
        secs = secs * 10 + (*v - '0');
    }
    return secs * 1000;
}

/* Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
static long backoff_ms(const struct nph_http_opts *o, int attempt)
{
    long cap = o->backoff_base_ms;
    uint32_t r = 0;
    for (int i = 0; i < attempt && cap < o->backoff_max_ms; i++)
        cap *= 2;
    if (cap > o->backoff_max_ms)
        cap = o->backoff_max_ms;
    if (cap <= 0)
        return 0;
    if (nph_random_bytes(&r, sizeof(r), NULL) < 0)
        return cap; /* no randomness: wait the whole window, which is still correct */
    return (long)(r % ((uint32_t)cap + 1));
}

static void sleep_ms(long ms)
{
    int64_t deadline = nph_clock_mono() + (int64_t)ms * 1000;
    for (;;) {
        int64_t left = deadline - nph_clock_mono();
        struct timespec ts;
        if (left <= 0)
            return;
        ts.tv_sec = (time_t)(left / 1000000);
        ts.tv_nsec = (long)(left % 1000000) * 1000;
        if (nanosleep(&ts, NULL) == 0)
            return;
        if (errno != EINTR)
            return;
    }
}

static int curl_is_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

static int status_is_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* The URL without its query or fragment, for messages: presigned URLs carry secrets there. */
static void url_for_message(const char *url, char *out, size_t len)
{
    size_t n = strcspn(url, "?#");
    if (n >= len)
        n = len - 1;
    memcpy(out, url, n);
    out[n] = '\0';
}

static int map_curl_error(CURLcode rc, const struct http_sink *s, const char *method,
                          const char *url, const char *errbuf, size_t max, struct nph_error *err)
{
    char where[160];
    enum nph_err_code code;
    const char *what;

    url_for_message(url, where, sizeof(where));
    if (s->oversize || rc == CURLE_FILESIZE_EXCEEDED) {
        nph_error_set(err, NPH_E_BACKEND, "%s %s: response larger than %zu bytes", method, where,
                      max);
        return -1;
    }
    if (s->header_flood) {
        nph_error_set(err, NPH_E_BACKEND, "%s %s: response headers too large", method, where);
        return -1;
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        code = NPH_E_UNAVAILABLE;
        what = "cannot reach the server";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        code = NPH_E_TIMEOUT;
        what = "timed out";
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
        code = NPH_E_BACKEND;
        what = "TLS failure";
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        code = NPH_E_INVALID;
        what = "bad URL";
        break;
    case CURLE_OUT_OF_MEMORY:
        return nph_error_nomem(err);
    default:
        code = NPH_E_BACKEND;
        what = "transfer failed";
        break;
    }
    nph_error_set(err, code, "%s %s: %s", method, where, what);
    nph_error_detail(err, "curl %d: %s", (int)rc, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return -1;
}

/* Configure h for one attempt. Returns CURLE_OK or the first failing setopt's code. */
static CURLcode setup_handle(CURL *h, const struct nph_http_client *c, long connect_ms,
                             long timeout_ms, const char *method, const char *url,
                             struct curl_slist *hdrs, const void *body, size_t body_len,
                             struct http_sink *sink, char *errbuf)
{
    const struct nph_http_opts *o = &c->opts;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, url);
    if (c->share)
        SET(CURLOPT_SHARE, c->share);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, sink);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, sink);
    if (o->max_response_bytes <= (size_t)INT64_MAX)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response_bytes);
    if (strcmp(method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
            strcmp(method, "PATCH") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            SET(CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        }
    }
#undef SET
    return rc;
}

/* The smaller of a configured timeout (0 = none) and the budget left (-1 = no budget). */
static long bounded_ms(long configured, long left)
{
    if (left < 0)
        return configured;
    if (left < 1)
        left = 1;
    return configured > 0 && configured < left ? configured : left;
}

static int request(struct nph_http_client *c, long budget_ms, const char *method, const char *url,
                   const struct nph_http_header *headers, size_t n_headers, const void *body,
                   size_t body_len, struct nph_http_response *resp, struct nph_error *err)
{
    char errbuf[CURL_ERROR_SIZE];
    int64_t deadline = budget_ms > 0 ? nph_clock_mono() + (int64_t)budget_ms * 1000 : 0;
    struct http_sink sink;
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    int retryable, attempt = 0, ret = -1;
    long status = 0;

    memset(&sink, 0, sizeof(sink));
    if (!c || !url || !resp)
        return nph_error_set(err, NPH_E_INVALID, "HTTP request without client, URL or response");
    if (!method_is_valid(method))
        return nph_error_set(err, NPH_E_INVALID, "invalid HTTP method '%.32s'",
                             method ? method : "");
    sink.max = c->opts.max_response_bytes;
    retryable = method_is_idempotent(method);

    /* "Expect:" turns off 100-continue, which costs a round trip (or a second) per upload. */
    if (!(hdrs = curl_slist_append(NULL, "Expect:"))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (size_t i = 0; i < n_headers; i++) {
        size_t n;
        char *line;
        struct curl_slist *next;
        if (!header_text_ok(headers[i].name, 1) || !header_text_ok(headers[i].value, 0)) {
            nph_error_set(err, NPH_E_INVALID, "invalid HTTP header '%.64s'",
                          headers[i].name ? headers[i].name : "");
            goto cleanup;
        }
        n = strlen(headers[i].name) + strlen(headers[i].value) + 3;
        if (!(line = malloc(n))) {
            nph_error_nomem(err);
            goto cleanup;
        }
        /* curl drops "Name:" with an empty value; "Name;" sends it empty. */
        if (headers[i].value[0])
            snprintf(line, n, "%s: %s", headers[i].name, headers[i].value);
        else
            snprintf(line, n, "%s;", headers[i].name);
        next = curl_slist_append(hdrs, line);
        free(line);
        if (!next) {
            nph_error_nomem(err);
            goto cleanup;
        }
        hdrs = next;
    }
    if (!(h = handle_take(c))) {
        nph_error_nomem(err);
        goto cleanup;
    }

    for (;;) {
        CURLcode rc;
        long pause = -1;
        int again = 0;

        sink_reset(&sink);
        errbuf[0] = '\0';
        attempt++;
        long left = deadline ? (long)((deadline - nph_clock_mono()) / 1000) : -1;
        rc = setup_handle(h, c, bounded_ms(c->opts.connect_timeout_ms, left),
                          bounded_ms(c->opts.timeout_ms, left), method, url, hdrs, body, body_len,
                          &sink, errbuf);
        if (rc != CURLE_OK) {
            map_curl_error(rc, &sink, method, url, errbuf, sink.max, err);
            goto cleanup;
        }
        rc = curl_easy_perform(h);
        status = 0;
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (retryable && status_is_retryable(status)) {
                long ra = (status == 429 || status == 503) ? retry_after_ms(&sink) : -1;
                if (ra > c->opts.backoff_max_ms) {
                    again = 0; /* the server wants longer than we wait: hand it back */
                } else {
                    again = 1;
                    pause = ra;
                }
            }
        } else {
            again = retryable && curl_is_retryable(rc) && !sink.oversize && !sink.header_flood;
        }
        if (again && deadline) {
            /* No retry that could not start before the budget ends. */
            long wait = pause >= 0 ? pause : backoff_ms(&c->opts, attempt - 1);
            if (nph_clock_mono() + (int64_t)wait * 1000 >= deadline)
                again = 0;
            else
                pause = wait;
        }
        if (!again || attempt > c->opts.max_retries) {
            if (rc != CURLE_OK) {
                map_curl_error(rc, &sink, method, url, errbuf, sink.max, err);
                goto cleanup;
            }
            break;
        }
        sleep_ms(pause >= 0 ? pause : backoff_ms(&c->opts, attempt - 1));
    }

    /* Success: hand the sink over to the response. */
    if (!sink.body) {
        sink.body = calloc(1, 1);
        if (!sink.body) {
            nph_error_nomem(err);
            goto cleanup;
        }
    }
    resp->status = status;
    resp->body = sink.body;
    resp->body_len = sink.len;
    resp->headers = sink.headers;
    resp->n_headers = sink.n_headers;
    resp->attempts = attempt;
    memset(&sink, 0, sizeof(sink));
    ret = 0;
cleanup:
    sink_reset(&sink);
    if (h)
        handle_give(c, h);
    curl_slist_free_all(hdrs);
    return ret;
}

int nph_http_request(struct nph_http_client *c, const char *method, const char *url,
                     const struct nph_http_header *headers, size_t n_headers, const void *body,
                     size_t body_len, struct nph_http_response *resp, struct nph_error *err)
{
    return request(c, 0, method, url, headers, n_headers, body, body_len, resp, err);
}

int nph_http_request_timeout(struct nph_http_client *c, long budget_ms, const char *method,
                             const char *url, const struct nph_http_header *headers,
                             size_t n_headers, const void *body, size_t body_len,
                             struct nph_http_response *resp, struct nph_error *err)
{
    return request(c, budget_ms > 0 ? budget_ms : 0, method, url, headers, n_headers, body,
                   body_len, resp, err);
}

const char *nph_http_response_header(const struct nph_http_response *resp, const char *name)
{
    if (!resp || !name)
        return NULL;
    return header_lookup(resp->headers, resp->n_headers, name);
}

void nph_http_response_fini(struct nph_http_response *resp)
{
    if (!resp)
        return;
    for (size_t i = 0; i < resp->n_headers; i++)
        free(resp->headers[i]);
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
