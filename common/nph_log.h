/*
 * nph_log.h - structured logging: levels, request ids, key=value text or JSON lines.
 *
 * A line is an event name plus key/value fields:
 *   nph_log(NPH_LOG_INFO, "http.request", "method", "GET", "path", "/healthz", NULL);
 * Text format:  ts=2026-11-26T04:00:00.000Z level=info event=http.request req=req-... method=GET
 * JSON format:  {"ts":"...","level":"info","event":"http.request","req":"req-...","method":"GET"}
 * The current thread's request id (nph_log_set_request_id) is added to every line as "req".
 * Values are escaped; secrets must never be passed. Thread-safe; one write(2) per line.
 */
#ifndef NPH_LOG_H
#define NPH_LOG_H

enum nph_log_level { NPH_LOG_DEBUG, NPH_LOG_INFO, NPH_LOG_WARN, NPH_LOG_ERROR };
enum nph_log_format { NPH_LOG_TEXT, NPH_LOG_JSON };

/* Configure the process-wide logger (defaults: INFO, TEXT, fd 2). */
void nph_log_init(enum nph_log_level level, enum nph_log_format format, int fd);
/* Parse "debug|info|warn|error" / "text|json"; return -1 on an unknown name. */
int nph_log_level_parse(const char *s, enum nph_log_level *out);
int nph_log_format_parse(const char *s, enum nph_log_format *out);
int nph_log_enabled(enum nph_log_level level);

/* Request id of the calling thread, copied (NULL clears). nph_log_request_id() borrows. */
void nph_log_set_request_id(const char *id);
const char *nph_log_request_id(void);

/* Log an event with NULL-terminated key, value (const char *) pairs. */
void nph_log(enum nph_log_level level, const char *event, ...) __attribute__((sentinel));

/* Convenience: one free-form message as field "msg" (printf-style). */
void nph_logf(enum nph_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
