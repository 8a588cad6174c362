/*
 * object_util.c - the pure parts of object storage: Swift's listing parameters and the folding
 * of sorted names into a listing (prefix, delimiter -> subdir entries, limit), Range header
 * parsing, name validation, SLO manifest parsing, header-name casing and file checksums.
 * Nothing here touches the store; only lobj_file_md5 and lobj_file_crc32c read a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "local_object.h"
#include "nph_crc32c.h"
#include "nph_json.h"

int lobj_list_params_parse(struct lobj_list_params *p, const char *prefix, const char *delimiter,
                           const char *marker, const char *end_marker, const char *limit,
                           const char *reverse, const char *path, char *path_prefix,
                           size_t path_prefix_len, struct nph_error *err)
{
    memset(p, 0, sizeof(*p));
    p->limit = LOBJ_LISTING_LIMIT;
    if (limit && *limit) {
        char *end;
        errno = 0;
        long n = strtol(limit, &end, 10);
        if (errno || *end || end == limit || n < 0)
            return nph_error_set(err, NPH_E_INVALID, "limit must be a non-negative integer");
        if (n > LOBJ_LISTING_LIMIT)
            return nph_error_set(err, NPH_E_INVALID, "maximum limit is %d", LOBJ_LISTING_LIMIT);
        p->limit = n;
    }
    if (delimiter && *delimiter) {
        if (strlen(delimiter) != 1)
            return nph_error_set(err, NPH_E_INVALID, "bad delimiter: must be one character");
        p->delimiter = delimiter;
    }
    p->prefix = prefix && *prefix ? prefix : NULL;
    p->marker = marker && *marker ? marker : NULL;
    p->end_marker = end_marker && *end_marker ? end_marker : NULL;
    if (reverse && (strcasecmp(reverse, "true") == 0 || strcmp(reverse, "1") == 0 ||
                    strcasecmp(reverse, "yes") == 0 || strcasecmp(reverse, "on") == 0 ||
                    strcasecmp(reverse, "t") == 0 || strcasecmp(reverse, "y") == 0))
        p->reverse = 1;
    if (path) {
        /* Swift: path=<dir> lists the objects directly under <dir>/ (prefix, delimiter '/'). */
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
            n--;
        if (n + 2 > path_prefix_len)
            return nph_error_set(err, NPH_E_INVALID, "path is too long");
        memcpy(path_prefix, path, n);
        if (n)
            path_prefix[n++] = '/';
        path_prefix[n] = '\0';
        p->prefix = n ? path_prefix : NULL;
        p->delimiter = "/";
    }
    return 0;
}

void lobj_lister_init(struct lobj_lister *l, const struct lobj_list_params *p)
{
    memset(l, 0, sizeof(*l));
    l->p = p;
}

enum lobj_feed lobj_lister_feed(struct lobj_lister *l, const char *name, char *subdir, size_t cap)
{
    const struct lobj_list_params *p = l->p;
    size_t plen = p->prefix ? strlen(p->prefix) : 0;
    if (l->emitted >= p->limit)
        return LOBJ_FEED_DONE;
    if (p->marker) {
        int c = strcmp(name, p->marker);
        if (p->reverse ? c >= 0 : c <= 0)
            return LOBJ_FEED_SKIP;
    }
    if (p->end_marker) {
        int c = strcmp(name, p->end_marker);
        if (p->reverse ? c <= 0 : c >= 0)
            return LOBJ_FEED_DONE;
    }
    if (plen && strncmp(name, p->prefix, plen) != 0) {
        /* Sorted input: once past the prefix's range (forward) or before it (reverse), no
         * later name can match. */
        int c = strncmp(name, p->prefix, plen);
        if (p->reverse ? c < 0 : c > 0)
            return LOBJ_FEED_DONE;
        return LOBJ_FEED_SKIP;
    }
    if (p->delimiter) {
        const char *d = strchr(name + plen, p->delimiter[0]);
        if (d) {
            size_t n = (size_t)(d - name) + 1;
            if (n + 1 > cap || n + 1 > sizeof(l->last_subdir))
                return LOBJ_FEED_SKIP;
            if (l->last_subdir[0] && strlen(l->last_subdir) == n &&
                memcmp(l->last_subdir, name, n) == 0)
                return LOBJ_FEED_SKIP;
            /* A client paging by the last entry passes the subdir as the marker: it was
             * listed already (Swift skips it too). */
            if (p->marker && strlen(p->marker) == n && memcmp(p->marker, name, n) == 0)
                return LOBJ_FEED_SKIP;
            memcpy(l->last_subdir, name, n);
            l->last_subdir[n] = '\0';
            memcpy(subdir, name, n);
            subdir[n] = '\0';
            l->emitted++;
            return LOBJ_FEED_SUBDIR;
        }
    }
    l->emitted++;
    return LOBJ_FEED_ITEM;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int lobj_range_parse(const char *hdr, int64_t size, int64_t *first, int64_t *last)
{
    const char *p, *dash;
    int64_t a = 0, b = 0;
    int has_a, has_b;
    if (!hdr)
        return -1;
    while (*hdr == ' ')
        hdr++;
    if (strncasecmp(hdr, "bytes=", 6) != 0)
        return -1;
    p = hdr + 6;
    if (strchr(p, ','))
        return -1; /* several ranges: not supported, the whole object */
    dash = strchr(p, '-');
    if (!dash)
        return -1;
    size_t alen = (size_t)(dash - p), blen = strlen(dash + 1);
    while (alen && p[alen - 1] == ' ')
        alen--;
    while (blen && dash[blen] == ' ')
        blen--;
    has_a = alen > 0;
    has_b = blen > 0;
    if ((has_a && parse_i64(p, alen, &a)) || (has_b && parse_i64(dash + 1, blen, &b)))
        return -1;
    if (!has_a && !has_b)
        return -1;
    if (has_a && has_b && b < a)
        return -1;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return 0;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (a >= size)
        return 0;
    *first = a;
    *last = has_b && b < size ? b : size - 1;
    return 1;
}

int lobj_object_name_check(const char *name, struct nph_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return nph_error_set(err, NPH_E_INVALID, "the object name is empty");
    if (n > LOBJ_OBJECT_NAME_MAX)
        return nph_error_set(err, NPH_E_INVALID, "Object name length of %zu longer than %d", n,
                             LOBJ_OBJECT_NAME_MAX);
    if (!nph_utf8_valid(name, n))
        return nph_error_set(err, NPH_E_INVALID, "Invalid UTF8 or contains NULL");
    /* "." and ".." segments would make a name that means a different path to any client
     * that normalises it: refused. */
    for (const char *s = name; s;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return nph_error_set(err, NPH_E_INVALID,
                                 "object names may not contain '.' or '..' path segments");
        s = slash ? slash + 1 : NULL;
    }
    return 0;
}

int lobj_container_name_check(const char *name, struct nph_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return nph_error_set(err, NPH_E_INVALID, "the container name is empty");
    if (n > LOBJ_CONTAINER_NAME_MAX)
        return nph_error_set(err, NPH_E_INVALID, "Container name length of %zu longer than %d", n,
                             LOBJ_CONTAINER_NAME_MAX);
    if (strchr(name, '/'))
        return nph_error_set(err, NPH_E_INVALID, "container names may not contain '/'");
    if (!nph_utf8_valid(name, n))
        return nph_error_set(err, NPH_E_INVALID, "Invalid UTF8 or contains NULL");
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return nph_error_set(err, NPH_E_INVALID, "the container name '%s' is reserved", name);
    return 0;
}

static int is_md5_hex(const char *s)
{
    if (!s || strlen(s) != 32)
        return 0;
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

json_t *lobj_slo_parse(const char *text, size_t len, struct nph_error *err)
{
    json_error_t je;
    json_t *doc, *out = NULL, *seg;
    size_t i;
    if (!text || len == 0) {
        nph_error_set(err, NPH_E_INVALID, "Manifest must be valid JSON.");
        return NULL;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc || !json_is_array(doc)) {
        nph_error_set(err, NPH_E_INVALID, "Manifest must be valid JSON.");
        json_decref(doc);
        return NULL;
    }
    if (json_array_size(doc) == 0 || json_array_size(doc) > LOBJ_SLO_SEGMENTS_MAX) {
        nph_error_set(err, NPH_E_INVALID, "Manifest must have between 1 and %d segments.",
                      LOBJ_SLO_SEGMENTS_MAX);
        goto fail;
    }
    out = json_array();
    json_array_foreach(doc, i, seg)
    {
        const char *path, *slash, *etag = NULL;
        json_t *jetag, *jsize;
        json_int_t size = -1;
        if (!json_is_object(seg) || !json_is_string(json_object_get(seg, "path"))) {
            nph_error_set(err, NPH_E_INVALID, "Index %zu: \"path\" must be a string.", i);
            goto fail;
        }
        path = json_string_value(json_object_get(seg, "path"));
        if (path[0] == '/')
            path++;
        slash = strchr(path, '/');
        if (!slash || slash == path || !slash[1]) {
            nph_error_set(err, NPH_E_INVALID,
                          "Index %zu: path does not refer to an object. Path must be of the "
                          "form /container/object.",
                          i);
            goto fail;
        }
        jetag = json_object_get(seg, "etag");
        if (jetag && !json_is_null(jetag)) {
            etag = json_string_value(jetag);
            if (!is_md5_hex(etag)) {
                nph_error_set(err, NPH_E_INVALID, "Index %zu: \"etag\" must be an MD5 or null.", i);
                goto fail;
            }
        }
        jsize = json_object_get(seg, "size_bytes");
        if (jsize && !json_is_null(jsize)) {
            if (!json_is_integer(jsize) || json_integer_value(jsize) < 0) {
                nph_error_set(err, NPH_E_INVALID,
                              "Index %zu: invalid size_bytes: must be a non-negative integer.", i);
                goto fail;
            }
            size = json_integer_value(jsize);
        }
        json_t *e = json_pack("{s:s%,s:s,s:o,s:o}", "container", path, (size_t)(slash - path),
                              "name", slash + 1, "etag", etag ? json_string(etag) : json_null(),
                              "size_bytes", size >= 0 ? json_integer(size) : json_null());
        if (!e || json_array_append_new(out, e)) {
            nph_error_nomem(err);
            goto fail;
        }
    }
    json_decref(doc);
    return out;
fail:
    json_decref(doc);
    json_decref(out);
    return NULL;
}

void lobj_header_title(const char *lower, char *out, size_t cap)
{
    size_t i = 0;
    int up = 1;
    if (cap == 0)
        return;
    for (; lower[i] && i + 1 < cap; i++) {
        char c = lower[i];
        out[i] = up && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        up = c == '-';
    }
    out[i] = '\0';
}

/* Read a file region (whole file when len < 0) through fn. */
static int file_scan(const char *path, int64_t off, int64_t len,
                     void (*fn)(void *ctx, const unsigned char *p, size_t n), void *ctx,
                     struct nph_error *err)
{
    unsigned char buf[64 * 1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (fd < 0) {
        int e = errno;
        nph_error_set(err, e == ENOENT ? NPH_E_NOT_FOUND : NPH_E_IO,
                      "the object's data cannot be read");
        return nph_error_detail(err, "open '%s': %s", path, strerror(e));
    }
    if (off > 0 && lseek(fd, off, SEEK_SET) < 0) {
        nph_error_set(err, NPH_E_IO, "the object's data cannot be read");
        goto cleanup;
    }
    for (;;) {
        size_t want = sizeof(buf);
        if (len >= 0 && (int64_t)want > len)
            want = (size_t)len;
        if (want == 0)
            break;
        ssize_t r = read(fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            nph_error_set(err, NPH_E_IO, "the object's data cannot be read");
            nph_error_detail(err, "read '%s': %s", path, strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        fn(ctx, buf, (size_t)r);
        if (len >= 0)
            len -= r;
    }
    rc = 0;
cleanup:
    close(fd);
    return rc;
}

static void md5_update(void *ctx, const unsigned char *p, size_t n)
{
    EVP_DigestUpdate(ctx, p, n);
}

int lobj_file_md5(const char *path, int64_t off, int64_t len, char out[33], struct nph_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
        nph_error_nomem(err);
    } else if (file_scan(path, off, len, md5_update, ctx, err) == 0) {
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        for (unsigned i = 0; i < mdlen && i < 16; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
        out[32] = '\0';
        rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

static void crc_update(void *ctx, const unsigned char *p, size_t n)
{
    uint32_t *crc = ctx;
    *crc = nph_crc32c(*crc, p, n);
}

int lobj_file_crc32c(const char *path, uint32_t *out, struct nph_error *err)
{
    uint32_t crc = 0;
    if (file_scan(path, 0, -1, crc_update, &crc, err))
        return -1;
    *out = crc;
    return 0;
}
