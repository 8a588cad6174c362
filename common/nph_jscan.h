/*
 * nph_jscan.h - a pull scanner over a JSON text (RFC 8259) that builds nothing: the caller walks
 * objects and arrays, copies out the strings it wants and skips the rest. It validates what it
 * passes over (structure, string escapes, UTF-8, numbers, depth), so a document it walks to the
 * end is well-formed. For hot paths that read a few fields of large answers (a cloud's server
 * list), where building a jansson tree costs far more than the read itself.
 *
 *   struct nph_jscan s;
 *   nph_jscan_init(&s, buf, len, 64);
 *   if (nph_jscan_enter(&s, NPH_J_OBJECT) == 0)
 *       while (nph_jscan_member(&s) == 1)
 *           if (nph_jscan_key_is(&s, "name")) nph_jscan_string(&s, name, sizeof(name));
 *           else nph_jscan_skip(&s);
 *   ... nph_jscan_end(&s) == 0: nothing but whitespace follows; s.err says what went wrong.
 *
 * Every call returns -1 on malformed input and sets s.err (a static message) and s.pos; once
 * failed, every later call fails too.
 */
#ifndef NPH_JSCAN_H
#define NPH_JSCAN_H

#include <stddef.h>
#include <stdint.h>

enum nph_jtype {
    NPH_J_BAD = -1, /* malformed, or the end of the text */
    NPH_J_OBJECT = 1,
    NPH_J_ARRAY,
    NPH_J_STRING,
    NPH_J_NUMBER,
    NPH_J_TRUE,
    NPH_J_FALSE,
    NPH_J_NULL,
};

#define NPH_JSCAN_MAX_DEPTH 128
#define NPH_JSCAN_KEY_MAX   256

struct nph_jscan {
    const char *p, *end, *start;
    int depth, max_depth;
    uint8_t more[NPH_JSCAN_MAX_DEPTH]; /* per open container: a member/element was read */
    char key[NPH_JSCAN_KEY_MAX];       /* the member name just read (unescaped) */
    size_t key_len;
    const char *err; /* NULL while all is well */
    size_t pos;      /* byte offset of the error */
};

void nph_jscan_init(struct nph_jscan *s, const char *buf, size_t len, int max_depth);

/* The type of the next value (whitespace skipped), without consuming it. */
enum nph_jtype nph_jscan_peek(struct nph_jscan *s);

/* Consume the '{' or '[' that opens the next value, which must be of type t. */
int nph_jscan_enter(struct nph_jscan *s, enum nph_jtype t);

/* In an object: 1 with the next member's name in s->key (the scanner then stands at its value,
 * which the caller must consume), 0 at the closing '}' (consumed), -1 on error. */
int nph_jscan_member(struct nph_jscan *s);
/* In an array: 1 when an element follows (to be consumed), 0 at the closing ']', -1. */
int nph_jscan_element(struct nph_jscan *s);

/* Whether the member name just read is `name`. */
int nph_jscan_key_is(const struct nph_jscan *s, const char *name);

/* A string value, unescaped, NUL-terminated into out. A longer string is an error unless
 * truncate is set (then cut at a UTF-8 boundary). Returns its length or -1. */
long nph_jscan_string(struct nph_jscan *s, char *out, size_t cap, int truncate);
/* A string or null (null gives ""). */
long nph_jscan_string_or_null(struct nph_jscan *s, char *out, size_t cap, int truncate);
/* An integer value in [INT64_MIN, INT64_MAX] (no fraction or exponent). */
int nph_jscan_int64(struct nph_jscan *s, int64_t *out);

/* Skip the next value whatever it is (validated). With span, its text: [*start, *start+*len). */
int nph_jscan_skip(struct nph_jscan *s);
int nph_jscan_span(struct nph_jscan *s, const char **start, size_t *len);

/* 0 when only whitespace is left, -1 otherwise. */
int nph_jscan_end(struct nph_jscan *s);

#endif
