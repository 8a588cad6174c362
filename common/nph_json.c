/*
 * nph_json.c - bounded parsing of untrusted JSON and typed field access over jansson (see
 * nph_json.h).
 *
 * nph_json_parse runs a linear pre-scan over the raw bytes before jansson sees them: it rejects
 * empty input and raw NUL bytes and counts the nesting of '[' and '{' outside strings (honouring
 * backslash escapes), so a body like "[[[[...]]]]" a million deep is refused without a single
 * allocation. jansson then parses with duplicate keys refused and without JSON_ALLOW_NUL, so
 * "\u0000" is refused too; it validates UTF-8 itself. The getters produce the messages the API
 * returns verbatim, so they name the field by its dotted path: "'user.name' must be a string".
 */
#include "nph_json.h"

#include <inttypes.h>
#include <string.h>

/* Pre-scan: returns 0 if buf is non-empty, free of NUL bytes and nested at most max_depth
 * deep; -1 with err set otherwise. Line and column in messages are 1-based. */
static int json_prescan(const char *buf, size_t len, int max_depth, struct nph_error *err)
{
    int depth = 0, in_str = 0, esc = 0, blank = 1;
    int line = 1, col = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        col++;
        if (c == '\0')
            return nph_error_set(err, NPH_E_INVALID, "invalid JSON at line %d, column %d: NUL byte",
                                 line, col);
        if (c == '\n') {
            line++;
            col = 0;
        }
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            blank = 0;
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            break;
        case '[':
        case '{':
            if (++depth > max_depth)
                return nph_error_set(err, NPH_E_INVALID,
                                     "invalid JSON at line %d, column %d: nesting deeper "
                                     "than %d levels",
                                     line, col, max_depth);
            break;
        case ']':
        case '}':
            /* Unbalanced closers are jansson's to report; just never go negative. */
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    if (blank)
        return nph_error_set(err, NPH_E_INVALID, "empty JSON body");
    return 0;
}

json_t *nph_json_parse(const char *buf, size_t len, int max_depth, int require_object,
                       struct nph_error *err)
{
    json_error_t jerr;
    json_t *v;

    if (max_depth <= 0)
        max_depth = NPH_JSON_MAX_DEPTH_DEFAULT;
    if (!buf || len == 0) {
        nph_error_set(err, NPH_E_INVALID, "empty JSON body");
        return NULL;
    }
    if (json_prescan(buf, len, max_depth, err) < 0)
        return NULL;
    /* jansson refuses "\u0000" in strings unless JSON_ALLOW_NUL is given, which it is not. */
    v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            nph_error_nomem(err);
        else
            nph_error_set(err, NPH_E_INVALID, "invalid JSON at line %d, column %d: %s", jerr.line,
                          jerr.column, jerr.text);
        return NULL;
    }
    if (require_object && !json_is_object(v)) {
        json_decref(v);
        nph_error_set(err, NPH_E_INVALID, "the JSON body must be an object");
        return NULL;
    }
    return v;
}

/* Look up key in obj. Returns 0 with *out set when present; 1 when absent and optional; -1
 * (NPH_E_INVALID "'path' is required") when absent and required. */
static int json_member(const json_t *obj, const char *key, const char *path, int required,
                       json_t **out, struct nph_error *err)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v) {
        if (required)
            return nph_error_set(err, NPH_E_INVALID, "'%s' is required", path ? path : key);
        return 1;
    }
    *out = v;
    return 0;
}

#define JSON_PATH(path, key) ((path) ? (path) : (key))

int nph_json_get_str(const json_t *obj, const char *key, const char *path, int required,
                     size_t max_len, const char **out, struct nph_error *err)
{
    json_t *v = NULL;
    const char *s;
    size_t n;
    int rc = json_member(obj, key, path, required, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_string(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a string", JSON_PATH(path, key));
    s = json_string_value(v);
    n = json_string_length(v);
    if (strlen(s) != n)
        return nph_error_set(err, NPH_E_INVALID, "'%s' must not contain NUL characters",
                             JSON_PATH(path, key));
    if (max_len > 0 && n > max_len)
        return nph_error_set(err, NPH_E_INVALID, "'%s' is longer than %zu characters",
                             JSON_PATH(path, key), max_len);
    *out = s;
    return 0;
}

int nph_json_get_bool(const json_t *obj, const char *key, const char *path, int required, int *out,
                      struct nph_error *err)
{
    json_t *v = NULL;
    int rc = json_member(obj, key, path, required, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_boolean(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a boolean", JSON_PATH(path, key));
    *out = json_is_true(v);
    return 0;
}

int nph_json_get_int(const json_t *obj, const char *key, const char *path, int required,
                     int64_t *out, struct nph_error *err)
{
    json_t *v = NULL;
    int rc = json_member(obj, key, path, required, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_integer(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be an integer", JSON_PATH(path, key));
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int nph_json_get_obj(const json_t *obj, const char *key, const char *path, int required,
                     json_t **out, struct nph_error *err)
{
    json_t *v = NULL;
    int rc = json_member(obj, key, path, required, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_object(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", JSON_PATH(path, key));
    *out = v;
    return 0;
}

int nph_json_get_arr(const json_t *obj, const char *key, const char *path, int required,
                     json_t **out, struct nph_error *err)
{
    json_t *v = NULL;
    int rc = json_member(obj, key, path, required, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_array(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be an array", JSON_PATH(path, key));
    *out = v;
    return 0;
}

int nph_json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                        struct nph_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        if (path && *path)
            return nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", path);
        return nph_error_set(err, NPH_E_INVALID, "the JSON body must be an object");
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        (void)v;
        while (allowed && allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed || !allowed[i]) {
            if (path && *path)
                return nph_error_set(err, NPH_E_INVALID, "unknown field '%s' in '%s'", key, path);
            return nph_error_set(err, NPH_E_INVALID, "unknown field '%s'", key);
        }
    }
    return 0;
}

char *nph_json_dumps(const json_t *v)
{
    if (!v)
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int nph_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(p + i, len - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void nph_utf8_sanitize(const char *in, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = strlen(in), i = 0, o = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            if (o + 1 >= outlen)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + k >= outlen)
            break;
        memcpy(out + o, in + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
}
