/* nph_error.c - the error type, its names and HTTP statuses (see nph_error.h). */
#include "nph_error.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
    const char *doc;
} error_table[] = {
#define NPH_X_ROW(name, str, status, doc) {str, status, doc},
    NPH_ERROR_CODES(NPH_X_ROW)
#undef NPH_X_ROW
};

const char *nph_error_name(enum nph_err_code code)
{
    if ((unsigned)code >= NPH_E__COUNT)
        return "internal";
    return error_table[code].name;
}

int nph_error_http_status(enum nph_err_code code)
{
    if ((unsigned)code >= NPH_E__COUNT)
        return 500;
    return error_table[code].status;
}

const char *nph_error_doc(enum nph_err_code code)
{
    if ((unsigned)code >= NPH_E__COUNT)
        return "";
    return error_table[code].doc;
}

int nph_error_vset(struct nph_error *err, enum nph_err_code code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    err->detail[0] = '\0';
    return -1;
}

int nph_error_set(struct nph_error *err, enum nph_err_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nph_error_vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int nph_error_detail(struct nph_error *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return -1;
}

int nph_error_prefix(struct nph_error *err, const char *fmt, ...)
{
    char prefix[NPH_ERR_MSG_MAX];
    char old[NPH_ERR_MSG_MAX];
    va_list ap;
    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* "prefix: old", truncated to the buffer (assembled by hand: truncation is intended). */
    size_t pl = strnlen(prefix, sizeof(err->msg) - 1), ol = strnlen(old, sizeof(old));
    memcpy(err->msg, prefix, pl);
    if (pl + 2 < sizeof(err->msg)) {
        memcpy(err->msg + pl, ": ", 2);
        pl += 2;
    }
    if (ol > sizeof(err->msg) - 1 - pl)
        ol = sizeof(err->msg) - 1 - pl;
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
    return -1;
}

void nph_error_clear(struct nph_error *err)
{
    if (!err)
        return;
    err->code = NPH_E_OK;
    err->msg[0] = '\0';
    err->detail[0] = '\0';
}

int nph_error_nomem(struct nph_error *err)
{
    return nph_error_set(err, NPH_E_NOMEM, "out of memory");
}
