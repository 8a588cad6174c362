/* nph_log.c - structured logging (see nph_log.h). One write(2) per line, so lines from
 * different threads never interleave. */
#include "nph_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nph_clock.h"
#include "nph_json.h"

#define LOG_LINE_MAX 4096

static enum nph_log_level log_level = NPH_LOG_INFO;
static enum nph_log_format log_format = NPH_LOG_TEXT;
static int log_fd = 2;
static _Thread_local char log_req_id[48];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void nph_log_init(enum nph_log_level level, enum nph_log_format format, int fd)
{
    log_level = level;
    log_format = format;
    log_fd = fd;
}

int nph_log_level_parse(const char *s, enum nph_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (enum nph_log_level)i;
            return 0;
        }
    }
    return -1;
}

int nph_log_format_parse(const char *s, enum nph_log_format *out)
{
    if (s && strcasecmp(s, "text") == 0)
        *out = NPH_LOG_TEXT;
    else if (s && strcasecmp(s, "json") == 0)
        *out = NPH_LOG_JSON;
    else
        return -1;
    return 0;
}

int nph_log_enabled(enum nph_log_level level)
{
    return level >= log_level;
}

void nph_log_set_request_id(const char *id)
{
    if (!id) {
        log_req_id[0] = '\0';
        return;
    }
    snprintf(log_req_id, sizeof(log_req_id), "%s", id);
}

const char *nph_log_request_id(void)
{
    return log_req_id[0] ? log_req_id : NULL;
}

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof(l->buf) - 2)
        n = sizeof(l->buf) - 2 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putc_(struct line *l, char c)
{
    put(l, &c, 1);
}

/* Append a value: JSON string escaping, or text quoting when it holds spaces, quotes or '='. */
static void put_value(struct line *l, const char *v)
{
    char clean[1024];
    if (!nph_utf8_valid(v, strlen(v))) { /* log lines stay valid UTF-8 (and JSON) */
        nph_utf8_sanitize(v, clean, sizeof(clean));
        v = clean;
    }
    int json = log_format == NPH_LOG_JSON;
    int quote = json || v[0] == '\0' || strpbrk(v, " \"=\t\n\\") != NULL;
    if (quote)
        putc_(l, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            putc_(l, '\\');
            putc_(l, (char)*p);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            int n = snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put(l, esc, (size_t)n);
        } else {
            putc_(l, (char)*p);
        }
    }
    if (quote)
        putc_(l, '"');
}

static void put_field(struct line *l, int *first, const char *k, const char *v)
{
    if (log_format == NPH_LOG_JSON) {
        if (!*first)
            putc_(l, ',');
        putc_(l, '"');
        put(l, k, strlen(k));
        put(l, "\":", 2);
    } else {
        if (!*first)
            putc_(l, ' ');
        put(l, k, strlen(k));
        putc_(l, '=');
    }
    put_value(l, v ? v : "");
    *first = 0;
}

static void vlog(enum nph_log_level level, const char *event, va_list ap)
{
    struct line l;
    char ts[40];
    int first = 1;
    l.len = 0;
    nph_time_format(nph_clock_now(), 3, ts, sizeof(ts));
    if (log_format == NPH_LOG_JSON)
        putc_(&l, '{');
    put_field(&l, &first, "ts", ts);
    put_field(&l, &first, "level", level_names[level]);
    put_field(&l, &first, "event", event);
    if (log_req_id[0])
        put_field(&l, &first, "req", log_req_id);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        const char *v;
        if (!k)
            break;
        v = va_arg(ap, const char *);
        put_field(&l, &first, k, v);
    }
    if (log_format == NPH_LOG_JSON)
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < l.len) {
        ssize_t w = write(log_fd, l.buf + off, l.len - (size_t)off);
        if (w <= 0)
            break;
        off += w;
    }
}

void nph_log(enum nph_log_level level, const char *event, ...)
{
    va_list ap;
    if (level < log_level)
        return;
    va_start(ap, event);
    vlog(level, event, ap);
    va_end(ap);
}

static void log_msg(enum nph_log_level level, const char *event, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    vlog(level, event, ap);
    va_end(ap);
}

void nph_logf(enum nph_log_level level, const char *event, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (level < log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_msg(level, event, NULL, "msg", msg, (const char *)NULL);
}
