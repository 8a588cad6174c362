/*
 * local_object.h - the native cloud's object storage: accounts (one per project), containers and
 * objects, with the metadata in the store (component "object") and the bytes on disk under
 * <data_dir>/objects.
 *
 * Data on disk: every object version is one immutable file <dir>/<xx>/<file_id> (file_id 32 hex
 * digits, xx its first two). A PUT takes a file that is already complete (the HTTP server
 * streamed the body into a temporary file on the same filesystem and computed its MD5 on the
 * way), fsyncs it, renames it under its file id, fsyncs the directory and only then commits the
 * row that names it, in one transaction that also swaps out the previous version. A crash
 * before the commit leaves an unnamed file (removed by local_object_open's sweep), never a
 * half-written object. A copy is a hard link (files are never modified in place).
 *
 * Reads are verified: the row keeps the MD5 of the file; local_object_verify() recomputes it
 * (the Swift layer does this before sending any byte of an object up to LOBJ_VERIFY_MAX, and
 * while streaming larger ones, withholding the final bytes on a mismatch).
 *
 * Records are jansson objects (new references owned by the caller):
 *  account   {"account","meta":{lower-case header: value},"containers","objects","bytes",
 *             "created"}
 *  container {"account","name","meta":{...},"objects","bytes","created","modified"}
 *  object    {"account","container","name","size","etag","md5","content_type",
 *             "meta":{...},"kind":0 plain|1 SLO|2 DLO,"manifest":string|null,
 *             "delete_at":seconds|null,"created","modified","path":file path,
 *             "crc32c":the file's CRC-32C|null (objects stored before it was recorded)}
 * Times are UTC microseconds. Metadata keys are full lower-case header names
 * ("x-container-meta-color", "x-container-read"), values as the client sent them.
 *
 * Errors: every function returns -1 / NULL with err set; NPH_E_NOT_FOUND for a missing
 * container or object, NPH_E_CONFLICT for deleting a non-empty container, NPH_E_TOO_LARGE for a
 * quota (413 as Swift), NPH_E_INVALID for bad names, NPH_E_IO for the disk.
 */
#ifndef NPH_LOCAL_OBJECT_H
#define NPH_LOCAL_OBJECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

#define LOBJ_OBJECT_NAME_MAX    1024 /* bytes, as Swift's max_object_name_length */
#define LOBJ_CONTAINER_NAME_MAX 256
#define LOBJ_META_VALUE_MAX     256
#define LOBJ_META_NAME_MAX      128
#define LOBJ_META_COUNT_MAX     90
#define LOBJ_LISTING_LIMIT      10000
#define LOBJ_SLO_SEGMENTS_MAX   1000
#define LOBJ_VERIFY_MAX         (64LL * 1024 * 1024) /* verified before the first byte is sent */

enum lobj_kind { LOBJ_PLAIN = 0, LOBJ_SLO = 1, LOBJ_DLO = 2 };

struct local_object;

struct local_object_opts {
    const char *dir;    /* <data_dir>/objects (created 0700) */
    const char *cloud;  /* the native cloud's name in the ledger (NULL = "local") */
    const char *region; /* may be NULL */
    /* The HTTP server's upload directory: its leftover "nph-upload-*" files (a broker killed
     * during an upload) are removed at open, before any server runs. NULL = none. */
    const char *upload_dir;
};

int local_object_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Open over the store (borrowed) and the data directory; removes files no row names (a crash
 * between rename and commit) and temporary files. Returns NULL with err set. */
struct local_object *local_object_open(struct nph_store *store,
                                       const struct local_object_opts *opts, struct nph_error *err);
void local_object_close(struct local_object *lo);

/* ---- listings (pure; object_list.c) ------------------------------------------------------ */

struct lobj_list_params {
    const char *prefix;     /* NULL = none */
    const char *delimiter;  /* one character in Swift; NULL = none */
    const char *marker;     /* names strictly after (before when reverse) */
    const char *end_marker; /* names strictly before (after when reverse) */
    long limit;             /* 1..LOBJ_LISTING_LIMIT */
    int reverse;
};

/* Parse Swift's listing query values (any may be NULL) into p (borrowing the strings).
 * limit: default and maximum LOBJ_LISTING_LIMIT, a bad or negative one is NPH_E_INVALID;
 * reverse: "true", "1", "yes", "on" (case-insensitive). delimiter must be one character.
 * "path=" is the same as prefix "<path>/" with delimiter "/". */
int lobj_list_params_parse(struct lobj_list_params *p, const char *prefix, const char *delimiter,
                           const char *marker, const char *end_marker, const char *limit,
                           const char *reverse, const char *path, char *path_prefix,
                           size_t path_prefix_len, struct nph_error *err);

enum lobj_feed { LOBJ_FEED_SKIP, LOBJ_FEED_ITEM, LOBJ_FEED_SUBDIR, LOBJ_FEED_DONE };

/* Folding sorted names into a listing: feed names in listing order; each returns what to
 * emit. LOBJ_FEED_SUBDIR writes the subdir name (prefix + up to and including the delimiter)
 * into subdir (cap bytes); a repeat of the last subdir is skipped; DONE once limit entries
 * were emitted or the names left the prefix for good. */
struct lobj_lister {
    const struct lobj_list_params *p;
    long emitted;
    char last_subdir[LOBJ_OBJECT_NAME_MAX + 2];
};
void lobj_lister_init(struct lobj_lister *l, const struct lobj_list_params *p);
enum lobj_feed lobj_lister_feed(struct lobj_lister *l, const char *name, char *subdir, size_t cap);

/* ---- pure helpers (object_util.c) -------------------------------------------------------- */

/* A single Range header value against an object of `size` bytes: "bytes=a-b", "bytes=a-",
 * "bytes=-n". Returns 1 with [*first, *last] for a satisfiable range, 0 when it is not
 * satisfiable (416), -1 when the header is malformed or has several ranges (ignored: the
 * whole object, as Swift does for syntactically invalid ranges). */
int lobj_range_parse(const char *hdr, int64_t size, int64_t *first, int64_t *last);

/* Validate an object name (1..LOBJ_OBJECT_NAME_MAX bytes, valid UTF-8, no NUL, and no "." or
 * ".." segment) or a container name (1..256, no '/'). 0 or -1 with NPH_E_INVALID / PRECOND. */
int lobj_object_name_check(const char *name, struct nph_error *err);
int lobj_container_name_check(const char *name, struct nph_error *err);

/* Parse an SLO manifest body (Swift's multipart-manifest=put: a JSON array of {"path":
 * "/container/object", "etag": md5|null, "size_bytes": n|null}) into a new array of
 * {"container","name","etag","size_bytes"} (etag/size_bytes null when not given). At least one
 * and at most LOBJ_SLO_SEGMENTS_MAX segments. NULL with NPH_E_INVALID naming the entry. */
json_t *lobj_slo_parse(const char *text, size_t len, struct nph_error *err);

/* "Content-Type"-style: "x-object-meta-foo-bar" -> "X-Object-Meta-Foo-Bar" into out. */
void lobj_header_title(const char *lower, char *out, size_t cap);

/* MD5 of a file region (whole file when len < 0) as 32 lower-case hex digits. */
int lobj_file_md5(const char *path, int64_t off, int64_t len, char out[33], struct nph_error *err);
/* CRC-32C (nph_crc32c.h) of a whole file. */
int lobj_file_crc32c(const char *path, uint32_t *out, struct nph_error *err);

/* ---- accounts ------------------------------------------------------------------------------ */

json_t *local_object_account_get(struct local_object *lo, const char *account,
                                 struct nph_error *err);
/* Apply changes {"lower-case header": "value" | "" | null}: empty or null removes. */
int local_object_account_update(struct local_object *lo, const char *account, const json_t *changes,
                                struct nph_error *err);
/* The containers of an account: array of {"name","count","bytes","last_modified"} or
 * {"subdir"}. */
json_t *local_object_container_list(struct local_object *lo, const char *account,
                                    const struct lobj_list_params *p, struct nph_error *err);

/* ---- containers ---------------------------------------------------------------------------- */

/* Create (or update the metadata of) a container; *created says which. */
int local_object_container_put(struct local_object *lo, const char *account, const char *name,
                               const json_t *changes, int *created, struct nph_error *err);
json_t *local_object_container_get(struct local_object *lo, const char *account, const char *name,
                                   struct nph_error *err);
int local_object_container_update(struct local_object *lo, const char *account, const char *name,
                                  const json_t *changes, struct nph_error *err);
int local_object_container_delete(struct local_object *lo, const char *account, const char *name,
                                  struct nph_error *err);
/* The objects of a container: array of {"name","hash","bytes","content_type",
 * "last_modified"} or {"subdir"}. Expired objects are reaped first. */
json_t *local_object_object_list(struct local_object *lo, const char *account,
                                 const char *container, const struct lobj_list_params *p,
                                 struct nph_error *err);

/* ---- objects ------------------------------------------------------------------------------- */

struct lobj_put {
    const char *account, *container, *name;
    const char *src_path; /* the complete body; renamed into the store (or removed) */
    int64_t size;
    const char *md5; /* of the file, 32 hex */
    bool has_crc32c; /* crc32c is the file's CRC-32C (else the store computes it) */
    uint32_t crc32c;
    const char *etag; /* what the object reports (NULL = md5; SLO: quoted md5 of etags) */
    const char *content_type;
    const json_t *meta; /* {"x-object-meta-...": value, ...} (borrowed; may be NULL) */
    int64_t delete_at;  /* seconds since the epoch, 0 = none */
    enum lobj_kind kind;
    const char *manifest; /* SLO: the segments (JSON text); DLO: "container/prefix" */
    int64_t quota_size;   /* bytes that count against quotas (SLO: 0 beyond the manifest) */
};

/* Store an object (replacing any previous version). The source file is consumed whatever
 * happens. On success *out (may be NULL) receives the object record. */
int local_object_put(struct local_object *lo, const struct lobj_put *p, json_t **out,
                     struct nph_error *err);
/* Look up an object (NPH_E_NOT_FOUND when absent or expired; an expired one is reaped). */
json_t *local_object_get(struct local_object *lo, const char *account, const char *container,
                         const char *name, struct nph_error *err);
/* POST: replace the object's metadata (and content type when not NULL; delete_at: 0 keeps,
 * -1 removes, > 0 sets; dlo_manifest not NULL makes the object a dynamic large object over
 * "container/prefix", "" makes a DLO a plain object again). */
int local_object_update(struct local_object *lo, const char *account, const char *container,
                        const char *name, const json_t *meta, const char *content_type,
                        int64_t delete_at, const char *dlo_manifest, struct nph_error *err);
int local_object_delete(struct local_object *lo, const char *account, const char *container,
                        const char *name, struct nph_error *err);
/* Copy src to dst (a hard link of the data; the same kind and manifest). meta NULL keeps the
 * source's metadata, else merges it over (fresh: replaces). */
int local_object_copy(struct local_object *lo, const char *src_account, const char *src_container,
                      const char *src_name, const char *dst_account, const char *dst_container,
                      const char *dst_name, const json_t *meta, const char *content_type, int fresh,
                      int64_t delete_at, json_t **out, struct nph_error *err);

/* Recompute the MD5 of an object's file and compare it with the record's: 0, or -1 with
 * NPH_E_IO ("the object's data failed its checksum"). */
int local_object_verify(const json_t *obj, struct nph_error *err);

/* Reap every expired object (all accounts); returns the count or -1. */
int local_object_reap(struct local_object *lo, struct nph_error *err);

#endif
