/*
 * nph_json.h - JSON helpers over jansson: bounded parsing of untrusted bodies and typed field
 * access that reports which field was wrong.
 *
 * Reference conventions follow jansson: "new" references are the caller's to json_decref,
 * "borrowed" ones are not.
 */
#ifndef NPH_JSON_H
#define NPH_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

#define NPH_JSON_MAX_DEPTH_DEFAULT 32

/* Parse an untrusted body. Rejects (NPH_E_INVALID, message naming line/column or the limit):
 * empty input, invalid UTF-8, nesting deeper than max_depth (checked by a pre-scan, before
 * jansson allocates anything), NUL bytes, duplicate keys, anything but an object at the top
 * when require_object. Returns a new reference or NULL. */
json_t *nph_json_parse(const char *buf, size_t len, int max_depth, int require_object,
                       struct nph_error *err);

/* Typed getters. `path` is only used in messages (e.g. "user.name").
 * Return 0 on success (out written), 1 if the key is absent and !required (out untouched),
 * -1 with NPH_E_INVALID and a message such as "'user.name' must be a string" otherwise.
 * String getters reject strings longer than max_len bytes (0 = no limit) and borrow the
 * result from obj. */
int nph_json_get_str(const json_t *obj, const char *key, const char *path, int required,
                     size_t max_len, const char **out, struct nph_error *err);
int nph_json_get_bool(const json_t *obj, const char *key, const char *path, int required, int *out,
                      struct nph_error *err);
int nph_json_get_int(const json_t *obj, const char *key, const char *path, int required,
                     int64_t *out, struct nph_error *err);
/* Borrowed object/array member. */
int nph_json_get_obj(const json_t *obj, const char *key, const char *path, int required,
                     json_t **out, struct nph_error *err);
int nph_json_get_arr(const json_t *obj, const char *key, const char *path, int required,
                     json_t **out, struct nph_error *err);

/* Fail with NPH_E_INVALID ("unknown field 'x' in 'user'") if obj has a key outside the
 * NULL-terminated list `allowed`. */
int nph_json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                        struct nph_error *err);

/* 1 if buf[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), else 0. */
int nph_utf8_valid(const char *buf, size_t len);
/* Copy the NUL-terminated `in` into out (size outlen >= 1), replacing each byte that is not
 * part of a well-formed UTF-8 sequence with '?', truncating at a character boundary. */
void nph_utf8_sanitize(const char *in, char *out, size_t outlen);

/* Serialise compactly; returns a malloc'd string (caller frees) or NULL. */
char *nph_json_dumps(const json_t *v);

#endif
