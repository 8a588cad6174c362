/*
 * test_http.c - unit tests of nph_http against a real HTTP/1.1 server on 127.0.0.1 (an
 * ephemeral port) run in a thread of the test. The server answers each connection with the next
 * response of a script (status, headers, body, an optional delay, or raw bytes) and records what
 * it received, so the tests can assert how many attempts were made, that GET is retried on
 * 503/429/timeouts and POST never is, that timeouts map to NPH_E_TIMEOUT, refused connections to
 * NPH_E_UNAVAILABLE, and oversized bodies and TLS failures to NPH_E_BACKEND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nph_clock.h"
#include "nph_http.h"

#define MAX_STEPS 8

struct step {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    size_t body_len;     /* body of 'x' bytes */
    int no_length;       /* close-delimited body without Content-Length */
    long delay_ms;       /* before answering */
    const char *raw;     /* send these bytes instead of a response */
};

struct server {
    int fd;
    int port;
    pthread_t thread;
    _Atomic int stop;
    struct step steps[MAX_STEPS];
    int n_steps;
    int hits; /* connections accepted */
    pthread_mutex_t lock;
    pthread_t conn_threads[32];
    int n_conn;
    char method[MAX_STEPS][16];
    char probe[MAX_STEPS][64]; /* value of the X-Probe request header */
    size_t body_seen[MAX_STEPS];
    char user_agent[64];
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void copy_header(const char *head, const char *name, char *out, size_t len)
{
    const char *p = strcasestr(head, name);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(name);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    if (n >= len)
        n = len - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

struct conn {
    struct server *s;
    int fd;
    int idx; /* which step answers this connection */
};

static void serve_one(struct server *s, int cfd, int idx)
{
    char req[16384];
    size_t got = 0, body = 0, clen = 0;
    char *end = NULL;
    const struct step *st = &s->steps[idx < s->n_steps ? idx : s->n_steps - 1];
    struct pollfd pfd = {cfd, POLLIN, 0};

    if (st->raw) { /* answer whatever arrives first, without parsing it */
        if (poll(&pfd, 1, 2000) > 0)
            (void)recv(cfd, req, sizeof(req), 0);
        send_all(cfd, st->raw, strlen(st->raw));
        return;
    }
    /* read the head, then count the body announced by Content-Length */
    while (got < sizeof(req) - 1 && poll(&pfd, 1, 2000) > 0) {
        ssize_t r = recv(cfd, req + got, sizeof(req) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if ((end = strstr(req, "\r\n\r\n")))
            break;
    }
    if (!end)
        return;
    {
        char v[32];
        copy_header(req, "\r\nContent-Length:", v, sizeof(v));
        clen = (size_t)strtoul(v, NULL, 10);
    }
    body = got - (size_t)(end + 4 - req);
    while (body < clen && poll(&pfd, 1, 2000) > 0) {
        char scratch[65536];
        ssize_t r = recv(cfd, scratch, sizeof(scratch), 0);
        if (r <= 0)
            break;
        body += (size_t)r;
    }
    pthread_mutex_lock(&s->lock);
    if (idx < MAX_STEPS) {
        sscanf(req, "%15s", s->method[idx]);
        copy_header(req, "\r\nX-Probe:", s->probe[idx], sizeof(s->probe[0]));
        s->body_seen[idx] = body;
    }
    copy_header(req, "\r\nUser-Agent:", s->user_agent, sizeof(s->user_agent));
    pthread_mutex_unlock(&s->lock);

    for (long waited = 0; waited < st->delay_ms && !s->stop; waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char head[1024];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d Scripted\r\nConnection: close\r\n%s",
                     st->status, st->headers ? st->headers : "");
    if (!st->no_length)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", st->body_len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    send_all(cfd, head, (size_t)n);
    if (strncmp(req, "HEAD ", 5) == 0)
        return;
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    for (size_t left = st->body_len; left > 0;) {
        size_t k = left < sizeof(chunk) ? left : sizeof(chunk);
        send_all(cfd, chunk, k);
        left -= k;
    }
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    serve_one(c->s, c->fd, c->idx);
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    free(c);
    return NULL;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    while (!s->stop) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            continue;
        struct conn *c = malloc(sizeof(*c));
        if (!c || s->n_conn >= 32) {
            free(c);
            close(cfd);
            continue;
        }
        c->s = s;
        c->fd = cfd;
        pthread_mutex_lock(&s->lock);
        c->idx = s->hits++;
        pthread_mutex_unlock(&s->lock);
        if (pthread_create(&s->conn_threads[s->n_conn], NULL, conn_main, c) != 0) {
            close(cfd);
            free(c);
            continue;
        }
        s->n_conn++;
    }
    for (int i = 0; i < s->n_conn; i++)
        pthread_join(s->conn_threads[i], NULL);
    return NULL;
}

static int server_start(struct server *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 16) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) < 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, server_main, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

static struct server *script(const struct step *steps, int n)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    memcpy(s->steps, steps, (size_t)n * sizeof(*steps));
    s->n_steps = n;
    pthread_mutex_init(&s->lock, NULL);
    assert_int_equal(server_start(s), 0);
    return s;
}

static struct nph_http_client *client(long timeout_ms, int retries, size_t max_bytes)
{
    struct nph_http_opts o;
    struct nph_error err = NPH_ERROR_INIT;
    nph_http_opts_default(&o);
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 1000;
    o.max_retries = retries;
    o.backoff_base_ms = 5;
    o.backoff_max_ms = 1500;
    if (max_bytes)
        o.max_response_bytes = max_bytes;
    struct nph_http_client *c = nph_http_client_new(&o, &err);
    assert_non_null(c);
    return c;
}

static void url_of(const struct server *s, const char *path, char *out, size_t len)
{
    snprintf(out, len, "http://127.0.0.1:%d%s", s->port, path);
}

static void test_defaults(void **state)
{
    struct nph_http_opts o;
    (void)state;
    nph_http_opts_default(&o);
    assert_int_equal(o.connect_timeout_ms, 5000);
    assert_int_equal(o.timeout_ms, 30000);
    assert_int_equal(o.verify_tls, 1);
    assert_null(o.ca_file);
    assert_int_equal(o.max_retries, 2);
    assert_int_equal(o.backoff_base_ms, 200);
    assert_int_equal(o.backoff_max_ms, 5000);
    assert_int_equal(o.max_response_bytes, 64u * 1024 * 1024);
    nph_http_client_free(NULL);
    nph_http_response_fini(NULL);
}

static void test_get_ok_headers(void **state)
{
    static const struct step steps[] = {
        {200, "X-Request-Id: abc\r\nContent-Type: application/json\r\n", 5, 0, 0, NULL}};
    struct server *s = script(steps, 1);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    const struct nph_http_header h[] = {{"X-Probe", "hello"}, {"Accept", "application/json"}};
    char url[128];
    (void)state;
    url_of(s, "/v1/x?secret=1", url, sizeof(url));
    assert_int_equal(nph_http_request(c, "GET", url, h, 2, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "xxxxx");
    assert_string_equal(nph_http_response_header(&r, "x-request-id"), "abc");
    assert_string_equal(nph_http_response_header(&r, "CONTENT-TYPE"), "application/json");
    assert_null(nph_http_response_header(&r, "X-Missing"));
    assert_null(nph_http_response_header(&r, "X-Request")); /* prefix is not a match */
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 1);
    assert_string_equal(s->method[0], "GET");
    assert_string_equal(s->probe[0], "hello");
    assert_true(strncmp(s->user_agent, "nephele/", 8) == 0);
    free(s);
    nph_http_client_free(c);
}

static void test_get_retries_503(void **state)
{
    static const struct step steps[] = {
        {503, NULL, 0, 0, 0, NULL}, {503, NULL, 0, 0, 0, NULL}, {200, NULL, 2, 0, 0, NULL}};
    struct server *s = script(steps, 3);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    (void)state;
    url_of(s, "/", url, sizeof(url));
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 3);
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 3);
    free(s);
    nph_http_client_free(c);
}

static void test_retries_exhausted(void **state)
{
    static const struct step steps[] = {{502, NULL, 3, 0, 0, NULL},
                                        {504, NULL, 3, 0, 0, NULL},
                                        {503, NULL, 3, 0, 0, NULL},
                                        {200, NULL, 0, 0, 0, NULL}};
    struct server *s = script(steps, 4);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    (void)state;
    url_of(s, "/", url, sizeof(url));
    /* DELETE is idempotent: 3 attempts, the last answer returned as it is */
    assert_int_equal(nph_http_request(c, "DELETE", url, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 3);
    assert_string_equal(r.body, "xxx");
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 3);
    assert_string_equal(s->method[2], "DELETE");
    free(s);
    nph_http_client_free(c);
}

static void test_post_patch_never_retried(void **state)
{
    static const struct step steps[] = {
        {503, NULL, 0, 0, 0, NULL}, {429, NULL, 0, 0, 0, NULL}, {200, NULL, 0, 0, 0, NULL}};
    struct server *s = script(steps, 3);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    const struct nph_http_header h[] = {{"Content-Type", "application/json"}};
    char url[128];
    (void)state;
    url_of(s, "/servers", url, sizeof(url));
    assert_int_equal(nph_http_request(c, "POST", url, h, 1, "{\"a\":1}", 7, &r, &err), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 1);
    nph_http_response_fini(&r);
    assert_int_equal(nph_http_request(c, "PATCH", url, h, 1, "{}", 2, &r, &err), 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.attempts, 1);
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 2);
    assert_string_equal(s->method[0], "POST");
    assert_int_equal(s->body_seen[0], 7);
    assert_string_equal(s->method[1], "PATCH");
    free(s);
    nph_http_client_free(c);
}

static void test_put_head_body(void **state)
{
    static const struct step steps[] = {{201, NULL, 0, 0, 0, NULL}, {200, NULL, 10, 0, 0, NULL}};
    struct server *s = script(steps, 2);
    struct nph_http_client *c = client(2000, 0, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    static char big[200000];
    char url[128];
    (void)state;
    memset(big, 'b', sizeof(big));
    url_of(s, "/obj", url, sizeof(url));
    assert_int_equal(nph_http_request(c, "PUT", url, NULL, 0, big, sizeof(big), &r, &err), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.body, "");
    nph_http_response_fini(&r);
    assert_int_equal(nph_http_request(c, "HEAD", url, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    nph_http_response_fini(&r);
    server_stop(s);
    assert_string_equal(s->method[0], "PUT");
    assert_int_equal(s->body_seen[0], sizeof(big));
    assert_string_equal(s->method[1], "HEAD");
    free(s);
    nph_http_client_free(c);
}

static void test_timeout(void **state)
{
    static const struct step steps[] = {{200, NULL, 0, 0, 1000, NULL}};
    struct server *s = script(steps, 1);
    struct nph_http_client *c = client(150, 1, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    (void)state;
    url_of(s, "/slow?token=secret", url, sizeof(url));
    int64_t t0 = nph_clock_mono();
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_TIMEOUT);
    assert_null(strstr(err.msg, "secret")); /* the query is left out of messages */
    assert_non_null(strstr(err.msg, "/slow"));
    assert_true(nph_clock_mono() - t0 < 1500000);
    /* POST times out once, GET was retried once */
    assert_int_equal(nph_http_request(c, "POST", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_TIMEOUT);
    server_stop(s);
    assert_int_equal(s->hits, 3);
    assert_string_equal(s->method[2], "POST");
    free(s);
    nph_http_client_free(c);
}

static void test_oversize(void **state)
{
    static const struct step steps[] = {{200, NULL, 10000, 0, 0, NULL},
                                        {200, NULL, 10000, 1, 0, NULL},
                                        {200, NULL, 1000, 1, 0, NULL}};
    struct server *s = script(steps, 3);
    struct nph_http_client *c = client(2000, 2, 1000);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    (void)state;
    url_of(s, "/big", url, sizeof(url));
    /* announced by Content-Length */
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "larger than 1000 bytes"));
    /* close-delimited: caught in the write callback */
    nph_error_clear(&err);
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "larger than 1000 bytes"));
    /* exactly at the limit is fine */
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.body_len, 1000);
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 3); /* oversize is not retried */
    free(s);
    nph_http_client_free(c);
}

static void test_refused(void **state)
{
    struct nph_http_client *c = client(1000, 1, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char url[128];
    (void)state;
    /* a port that was free a moment ago and has no listener now */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    assert_true(err.detail[0] != '\0');
    assert_int_equal(nph_http_request(c, "POST", url, NULL, 0, "x", 1, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    nph_http_client_free(c);
}

static void test_retry_after(void **state)
{
    static const struct step steps[] = {{429, "Retry-After: 1\r\n", 0, 0, 0, NULL},
                                        {200, NULL, 0, 0, 0, NULL},
                                        {429, "Retry-After: 120\r\n", 0, 0, 0, NULL},
                                        {200, NULL, 0, 0, 0, NULL}};
    struct server *s = script(steps, 4);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    char url[128];
    (void)state;
    url_of(s, "/", url, sizeof(url));
    int64_t t0 = nph_clock_mono();
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), 0);
    int64_t took = nph_clock_mono() - t0;
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 2);
    assert_true(took >= 990000); /* waited the second the server asked for */
    assert_true(took < 1500000);
    nph_http_response_fini(&r);
    /* longer than backoff_max_ms (1500): handed back at once */
    t0 = nph_clock_mono();
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.attempts, 1);
    assert_string_equal(nph_http_response_header(&r, "retry-after"), "120");
    assert_true(nph_clock_mono() - t0 < 500000);
    nph_http_response_fini(&r);
    server_stop(s);
    assert_int_equal(s->hits, 3);
    free(s);
    nph_http_client_free(c);
}

static void test_tls_failure(void **state)
{
    /* A "TLS server" that answers the ClientHello with plain HTTP: the handshake fails. */
    static const struct step steps[] = {{0, NULL, 0, 0, 0, "HTTP/1.1 400 Bad\r\n\r\nnot tls"}};
    struct server *s = script(steps, 1);
    struct nph_http_client *c = client(2000, 2, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_http_opts o;
    char url[128];
    (void)state;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", s->port);
    assert_int_equal(nph_http_request(c, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "TLS"));

    /* A CA file that cannot be read fails closed too, before verification could be skipped. */
    nph_http_opts_default(&o);
    o.ca_file = "/nonexistent/ca.pem";
    struct nph_http_client *c2 = nph_http_client_new(&o, &err);
    assert_non_null(c2);
    nph_error_clear(&err);
    assert_int_equal(nph_http_request(c2, "GET", url, NULL, 0, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_BACKEND);
    server_stop(s);
    assert_int_equal(s->hits, 2); /* TLS failures are not retried */
    free(s);
    nph_http_client_free(c2);
    nph_http_client_free(c);
}

static void test_bad_input(void **state)
{
    struct nph_http_client *c = client(1000, 0, 0);
    struct nph_http_response r;
    struct nph_error err = NPH_ERROR_INIT;
    const struct nph_http_header inj[] = {{"X-A", "v\r\nX-Injected: 1"}};
    const struct nph_http_header bad_name[] = {{"X A", "v"}};
    (void)state;
    assert_int_equal(nph_http_request(c, "GET", "http://127.0.0.1:1/", inj, 1, NULL, 0, &r, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(
        nph_http_request(c, "GET", "http://127.0.0.1:1/", bad_name, 1, NULL, 0, &r, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_http_request(c, "get", "http://127.0.0.1:1/", NULL, 0, NULL, 0, &r, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_http_request(c, "GET", "ftp://127.0.0.1/x", NULL, 0, NULL, 0, &r, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(nph_http_request(c, "GET", "file:///etc/passwd", NULL, 0, NULL, 0, &r, &err),
                     -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    nph_http_client_free(c);
}

static int group_setup(void **state)
{
    (void)state;
    return nph_http_global_init(NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    nph_http_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_get_ok_headers),
        cmocka_unit_test(test_get_retries_503),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_post_patch_never_retried),
        cmocka_unit_test(test_put_head_body),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_tls_failure),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
