/*
 * nph_error.h - the one error type that flows from the bottom layer to the top.
 *
 * Every fallible function takes a `struct nph_error *err` (which may be NULL when the caller
 * does not care), fills it on failure and returns -1 (or NULL). The function that detects a
 * failure reports it; callers pass it up, adding context at most with nph_error_prefix().
 *
 * Codes come from one X-macro, NPH_ERROR_CODES, which also yields the HTTP status and the
 * stable string name used in API bodies and docs/errors.md.
 */
#ifndef NPH_ERROR_H
#define NPH_ERROR_H

#include <stdarg.h>

/* X(ENUM_SUFFIX, "name", http_status, "one-line doc") */
#define NPH_ERROR_CODES(X)                                                                         \
    X(OK, "ok", 200, "no error")                                                                   \
    X(INVALID, "invalid_request", 400, "the request is malformed or a field has a bad value")      \
    X(UNAUTHORIZED, "unauthorized", 401, "no, bad, expired or revoked credentials")                \
    X(FORBIDDEN, "forbidden", 403, "the caller's roles do not allow this operation")               \
    X(NOT_FOUND, "not_found", 404, "the resource does not exist or is not visible to the caller")  \
    X(METHOD, "method_not_allowed", 405, "the resource does not support this method")              \
    X(CONFLICT, "conflict", 409, "the resource exists already or is in the wrong state")           \
    X(TOO_LARGE, "payload_too_large", 413, "the request body exceeds the configured limit")        \
    X(HEADERS_TOO_LARGE, "request_header_too_large", 431, "the request headers exceed the limit")  \
    X(UNSUPPORTED_MEDIA, "unsupported_media_type", 415, "the body is not of a supported type")     \
    X(UNPROCESSABLE, "unprocessable", 422, "the request is well-formed but cannot be applied")     \
    X(LIMIT, "limit_exceeded", 429, "a quota or rate limit was reached")                           \
    X(INTERNAL, "internal", 500, "an internal error; the detail is in the log")                    \
    X(NOT_SUPPORTED, "not_supported", 501, "the operation is not supported by this cloud")         \
    X(BACKEND, "backend_error", 502, "a backend cloud answered with an error or garbage")          \
    X(UNAVAILABLE, "unavailable", 503, "a backend or the store is down")                           \
    X(TIMEOUT, "timeout", 504, "a backend or the store did not answer in time")                    \
    X(NOMEM, "out_of_memory", 500, "memory allocation failed")                                     \
    X(IO, "io_error", 500, "a file or socket operation failed")                                    \
    X(STORE, "store_error", 500, "the store rejected a statement")

enum nph_err_code {
#define NPH_X_ENUM(name, str, status, doc) NPH_E_##name,
    NPH_ERROR_CODES(NPH_X_ENUM)
#undef NPH_X_ENUM
        NPH_E__COUNT
};

#define NPH_ERR_MSG_MAX    1024
#define NPH_ERR_DETAIL_MAX 512

struct nph_error {
    enum nph_err_code code;
    char msg[NPH_ERR_MSG_MAX];       /* short primary line, lower case, subject in quotes */
    char detail[NPH_ERR_DETAIL_MAX]; /* technical part, may be empty */
};

#define NPH_ERROR_INIT                                                                             \
    {                                                                                              \
        NPH_E_OK, "", ""                                                                           \
    }

/* Stable name ("not_found") and HTTP status of a code; unknown codes map to "internal"/500. */
const char *nph_error_name(enum nph_err_code code);
int nph_error_http_status(enum nph_err_code code);
const char *nph_error_doc(enum nph_err_code code);

/* Fill err (if not NULL) with code and a printf-style message; clears the detail.
 * Always returns -1 so that `return nph_error_set(...)` reads naturally. */
int nph_error_set(struct nph_error *err, enum nph_err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int nph_error_vset(struct nph_error *err, enum nph_err_code code, const char *fmt, va_list ap);

/* Set the detail of an already set error (printf-style). Returns -1. */
int nph_error_detail(struct nph_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepend context to the message: "loading config: <old message>". Returns -1. */
int nph_error_prefix(struct nph_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void nph_error_clear(struct nph_error *err);

/* Shorthand for allocation failures. Returns -1. */
int nph_error_nomem(struct nph_error *err);

#endif
