/*
 * nph_jscan.c - the JSON pull scanner (see nph_jscan.h). One pass, no allocation; strings are
 * decoded straight into the caller's buffer.
 */
#include "nph_jscan.h"

#include <string.h>

#define IS_ARRAY 2u
#define HAS_MORE 1u

static int fail(struct nph_jscan *s, const char *msg)
{
    if (!s->err) {
        s->err = msg;
        s->pos = (size_t)(s->p - s->start);
    }
    return -1;
}

void nph_jscan_init(struct nph_jscan *s, const char *buf, size_t len, int max_depth)
{
    s->start = s->p = buf ? buf : "";
    s->end = s->p + (buf ? len : 0);
    s->depth = 0;
    s->max_depth =
        max_depth <= 0 || max_depth > NPH_JSCAN_MAX_DEPTH ? NPH_JSCAN_MAX_DEPTH : max_depth;
    s->key[0] = '\0';
    s->key_len = 0;
    s->err = NULL;
    s->pos = 0;
}

static void ws(struct nph_jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

enum nph_jtype nph_jscan_peek(struct nph_jscan *s)
{
    if (s->err)
        return NPH_J_BAD;
    ws(s);
    if (s->p == s->end) {
        fail(s, "unexpected end of the text");
        return NPH_J_BAD;
    }
    switch (*s->p) {
    case '{':
        return NPH_J_OBJECT;
    case '[':
        return NPH_J_ARRAY;
    case '"':
        return NPH_J_STRING;
    case 't':
        return NPH_J_TRUE;
    case 'f':
        return NPH_J_FALSE;
    case 'n':
        return NPH_J_NULL;
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return NPH_J_NUMBER;
        fail(s, "expected a value");
        return NPH_J_BAD;
    }
}

int nph_jscan_enter(struct nph_jscan *s, enum nph_jtype t)
{
    if (t != NPH_J_OBJECT && t != NPH_J_ARRAY)
        return fail(s, "only objects and arrays are entered");
    enum nph_jtype got = nph_jscan_peek(s);
    if (got == NPH_J_BAD)
        return -1;
    if (got != t)
        return fail(s, t == NPH_J_OBJECT ? "expected an object" : "expected an array");
    if (s->depth >= s->max_depth)
        return fail(s, "nested too deeply");
    s->more[s->depth++] = t == NPH_J_ARRAY ? IS_ARRAY : 0;
    s->p++;
    return 0;
}

/* The 4 hex digits at p (p + 4 <= end checked by the caller). */
static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Encode a code point as UTF-8 into b; its length. */
static size_t utf8_put(unsigned cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The string at s->p (at its '"'), decoded into out[cap] when out is not NULL: whole code points
 * only, NUL-terminated. *full is the decoded length, *fits whether all of it was written. */
static int scan_string(struct nph_jscan *s, char *out, size_t cap, size_t *full, int *fits)
{
    size_t n = 0, w = 0;
    int ok = 1;
    s->p++; /* the opening quote */
    for (;;) {
        const char *run = s->p;
        while (s->p < s->end && (unsigned char)*s->p >= 0x20 && (unsigned char)*s->p < 0x80 &&
               *s->p != '"' && *s->p != '\\')
            s->p++;
        size_t rl = (size_t)(s->p - run);
        if (rl) {
            if (out && ok) {
                size_t room = w + 1 < cap ? cap - 1 - w : 0;
                size_t c = rl < room ? rl : room;
                memcpy(out + w, run, c);
                w += c;
                ok = c == rl;
            }
            n += rl;
        }
        if (s->p == s->end)
            return fail(s, "unterminated string");
        unsigned char c = (unsigned char)*s->p;
        char buf[4];
        size_t bl;
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20)
            return fail(s, "a control character in a string");
        if (c == '\\') {
            if (s->end - s->p < 2)
                return fail(s, "unterminated string");
            char e = s->p[1];
            s->p += 2;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                buf[0] = e;
                bl = 1;
                break;
            case 'b':
                buf[0] = '\b';
                bl = 1;
                break;
            case 'f':
                buf[0] = '\f';
                bl = 1;
                break;
            case 'n':
                buf[0] = '\n';
                bl = 1;
                break;
            case 'r':
                buf[0] = '\r';
                bl = 1;
                break;
            case 't':
                buf[0] = '\t';
                bl = 1;
                break;
            case 'u': {
                int cp;
                if (s->end - s->p < 4 || (cp = hex4(s->p)) < 0)
                    return fail(s, "a bad \\u escape");
                s->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail(s, "a lone low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo;
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                        (lo = hex4(s->p + 2)) < 0xDC00 || lo > 0xDFFF)
                        return fail(s, "a lone high surrogate");
                    s->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0)
                    return fail(s, "\\u0000 in a string");
                bl = utf8_put((unsigned)cp, buf);
                break;
            }
            default:
                return fail(s, "a bad escape in a string");
            }
        } else {
            bl = utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end);
            if (!bl)
                return fail(s, "invalid UTF-8 in a string");
            memcpy(buf, s->p, bl);
            s->p += bl;
        }
        if (out && ok) {
            if (w + bl < cap) {
                memcpy(out + w, buf, bl);
                w += bl;
            } else {
                ok = 0;
            }
        }
        n += bl;
    }
    if (out && cap)
        out[w] = '\0';
    *full = n;
    *fits = ok;
    return 0;
}

static int scan_number(struct nph_jscan *s)
{
    const char *p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p == s->end || *p < '0' || *p > '9')
        return fail(s, "a bad number");
    if (*p == '0')
        p++;
    else
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    if (p < s->end && *p == '.') {
        p++;
        if (p == s->end || *p < '0' || *p > '9')
            return fail(s, "a bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p == s->end || *p < '0' || *p > '9')
            return fail(s, "a bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

static int scan_literal(struct nph_jscan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "expected a value");
    s->p += n;
    return 0;
}

/* After a member's value or an element: ',' or the closer; 1 = more follows, 0 = closed. */
static int next_in(struct nph_jscan *s, char closer)
{
    uint8_t *st = &s->more[s->depth - 1];
    ws(s);
    if (s->p == s->end)
        return fail(s, "unexpected end of the text");
    if (*s->p == closer) {
        s->p++;
        s->depth--;
        return 0;
    }
    if (*st & HAS_MORE) {
        if (*s->p != ',')
            return fail(s, closer == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        s->p++;
        ws(s);
    }
    *st |= HAS_MORE;
    return 1;
}

int nph_jscan_member(struct nph_jscan *s)
{
    if (s->err)
        return -1;
    if (s->depth == 0 || (s->more[s->depth - 1] & IS_ARRAY))
        return fail(s, "not in an object");
    int r = next_in(s, '}');
    if (r != 1)
        return r;
    if (s->p == s->end || *s->p != '"')
        return fail(s, "expected a member name");
    size_t full;
    int fits;
    if (scan_string(s, s->key, sizeof(s->key), &full, &fits))
        return -1;
    s->key_len = fits ? full : sizeof(s->key); /* never equal to a name that fits */
    ws(s);
    if (s->p == s->end || *s->p != ':')
        return fail(s, "expected ':'");
    s->p++;
    return 1;
}

int nph_jscan_element(struct nph_jscan *s)
{
    if (s->err)
        return -1;
    if (s->depth == 0 || !(s->more[s->depth - 1] & IS_ARRAY))
        return fail(s, "not in an array");
    return next_in(s, ']');
}

int nph_jscan_key_is(const struct nph_jscan *s, const char *name)
{
    size_t n = strlen(name);
    return !s->err && n == s->key_len && memcmp(s->key, name, n) == 0;
}

long nph_jscan_string(struct nph_jscan *s, char *out, size_t cap, int truncate)
{
    size_t full;
    int fits;
    enum nph_jtype t = nph_jscan_peek(s);
    if (t == NPH_J_BAD)
        return -1;
    if (t != NPH_J_STRING)
        return fail(s, "expected a string");
    if (!out || cap == 0)
        return fail(s, "no room for a string");
    if (scan_string(s, out, cap, &full, &fits))
        return -1;
    if (!fits && !truncate)
        return fail(s, "a string is too long");
    return (long)(fits ? full : strlen(out));
}

long nph_jscan_string_or_null(struct nph_jscan *s, char *out, size_t cap, int truncate)
{
    if (nph_jscan_peek(s) == NPH_J_NULL) {
        if (cap)
            out[0] = '\0';
        return scan_literal(s, "null", 4) ? -1 : 0;
    }
    return nph_jscan_string(s, out, cap, truncate);
}

int nph_jscan_int64(struct nph_jscan *s, int64_t *out)
{
    if (nph_jscan_peek(s) != NPH_J_NUMBER)
        return s->err ? -1 : fail(s, "expected a number");
    const char *p = s->p;
    if (scan_number(s))
        return -1;
    int neg = *p == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (p += neg; p < s->p; p++) {
        if (*p < '0' || *p > '9')
            return fail(s, "expected an integer");
        if (v > (lim - (uint64_t)(*p - '0')) / 10)
            return fail(s, "an integer out of range");
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int nph_jscan_skip(struct nph_jscan *s)
{
    size_t full;
    int fits, r;
    switch (nph_jscan_peek(s)) {
    case NPH_J_OBJECT:
        if (nph_jscan_enter(s, NPH_J_OBJECT))
            return -1;
        while ((r = nph_jscan_member(s)) == 1)
            if (nph_jscan_skip(s))
                return -1;
        return r;
    case NPH_J_ARRAY:
        if (nph_jscan_enter(s, NPH_J_ARRAY))
            return -1;
        while ((r = nph_jscan_element(s)) == 1)
            if (nph_jscan_skip(s))
                return -1;
        return r;
    case NPH_J_STRING:
        return scan_string(s, NULL, 0, &full, &fits);
    case NPH_J_NUMBER:
        return scan_number(s);
    case NPH_J_TRUE:
        return scan_literal(s, "true", 4);
    case NPH_J_FALSE:
        return scan_literal(s, "false", 5);
    case NPH_J_NULL:
        return scan_literal(s, "null", 4);
    default:
        return -1;
    }
}

int nph_jscan_span(struct nph_jscan *s, const char **start, size_t *len)
{
    if (nph_jscan_peek(s) == NPH_J_BAD)
        return -1;
    const char *b = s->p;
    if (nph_jscan_skip(s))
        return -1;
    *start = b;
    *len = (size_t)(s->p - b);
    return 0;
}

int nph_jscan_end(struct nph_jscan *s)
{
    if (s->err)
        return -1;
    if (s->depth)
        return fail(s, "an object or array is not closed");
    ws(s);
    return s->p == s->end ? 0 : fail(s, "trailing characters after the value");
}
