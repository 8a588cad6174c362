/*
 * local_image.h - the native cloud's image service: an image catalog in the store and image
 * data on disk under <data_dir>/images, disk formats raw and qcow2 checked against the bytes,
 * md5 and sha256 checksums, Glance's statuses (queued, saving, active, deleted).
 *
 * The part other services rely on (compute boots servers from images) is local_image_locate;
 * the rest of the API is the image service's own.
 */
#ifndef LOCAL_IMAGE_H
#define LOCAL_IMAGE_H

#include <jansson.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

struct local_image;

/* What compute needs to boot from an image. */
struct local_image_ref {
    char id[64];
    char name[256];
    char status[16];      /* "active" for a bootable image */
    char disk_format[16]; /* "qcow2" or "raw" (as detected from the bytes) */
    char path[4096];      /* absolute path of the image data on disk */
    int64_t size;         /* bytes */
    int64_t min_disk_gb, min_ram_mb;
    /* Direct kernel boot, from the image properties of the same names (Nova's): the ids of the
     * kernel and ramdisk images and the kernel command line; "" when not set. */
    char kernel_id[64], ramdisk_id[64];
    char os_command_line[1024];
};

/* The image `image_id` as visible to project_id (public, shared or owned images; admins see
 * all). NPH_E_NOT_FOUND when it does not exist or is not visible; NPH_E_CONFLICT when it is
 * not active (no data yet). */
int local_image_locate(struct local_image *li, const char *image_id, const char *project_id,
                       int is_admin, struct local_image_ref *out, struct nph_error *err);

/* ---- the image service's own API ------------------------------------------------------- */

/* Images are JSON objects in Glance's vocabulary (the compatible API adds only links):
 *   id, name (or null), status ("queued" | "saving" | "active"), visibility ("public" |
 *   "private" | "shared" | "community"), protected (bool), owner (project id), disk_format,
 *   container_format (or null), size, virtual_size, checksum (md5 hex), os_hash_algo
 *   ("sha256"), os_hash_value (or null while there is no data), min_disk (GB), min_ram (MB),
 *   tags (array of strings), properties (object of string values: the custom properties),
 *   created_at, updated_at ("YYYY-MM-DDTHH:MM:SSZ").
 *
 * Who sees what (Glance's default policy): an admin sees every image; others see public and
 * community images and the images their project owns ("shared" images have no members here,
 * so only their owner sees them). Only the owner (or an admin) changes an image; only an
 * admin makes one public. An image that exists but is not visible is NPH_E_NOT_FOUND. */

#define LOCAL_IMAGE_MAX_TAGS   128
#define LOCAL_IMAGE_MAX_PROPS  128
#define LOCAL_IMAGE_NAME_MAX   255
#define LOCAL_IMAGE_PROP_MAX   65535 /* bytes of one property value */
#define LOCAL_IMAGE_LIST_LIMIT 1000  /* largest page */

struct local_image_caller {
    const char *project_id; /* the token's project ("" when unscoped) */
    int is_admin;
};

/* Open the service over `store` (migrated) keeping image data in `dir` (created, 0700).
 * max_image_bytes: the largest image accepted (0 = no limit). Returns NULL with err set. */
struct local_image *local_image_open(struct nph_store *store, const char *dir,
                                     int64_t max_image_bytes, struct nph_error *err);
/* NULL is a no-op. */
void local_image_close(struct local_image *li);
/* Apply the "image" component's migrations. */
int local_image_migrate(struct nph_store *store, int *applied, struct nph_error *err);
/* The data directory (borrowed). */
const char *local_image_dir(const struct local_image *li);

/* Create an image record (status queued, no data) from attrs: name, id (a UUID, optional),
 * visibility (default "shared"), protected, disk_format, container_format, min_disk, min_ram,
 * tags, properties. NPH_E_INVALID for a bad value, NPH_E_FORBIDDEN for public by a non-admin,
 * NPH_E_CONFLICT for an id in use. Returns the image (new reference) or NULL. */
json_t *local_image_create(struct local_image *li, const struct local_image_caller *c,
                           const json_t *attrs, struct nph_error *err);
/* The image (new reference) or NULL (NPH_E_NOT_FOUND). */
json_t *local_image_get(struct local_image *li, const struct local_image_caller *c, const char *id,
                        struct nph_error *err);
/* Change the mutable attributes present in `changes` (same names as create, without id;
 * properties replaces the whole set). disk_format and container_format change only while the
 * image is queued (else NPH_E_FORBIDDEN). Returns the updated image or NULL. */
json_t *local_image_update(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const json_t *changes, struct nph_error *err);
/* Delete the record and its data: afterwards the image is gone (NPH_E_NOT_FOUND).
 * NPH_E_FORBIDDEN when protected or not the caller's. */
int local_image_delete(struct local_image *li, const struct local_image_caller *c, const char *id,
                       struct nph_error *err);
/* Add a tag (no-op if present; NPH_E_LIMIT past LOCAL_IMAGE_MAX_TAGS) or remove one
 * (NPH_E_NOT_FOUND if absent). */
int local_image_tag_add(struct local_image *li, const struct local_image_caller *c, const char *id,
                        const char *tag, struct nph_error *err);
int local_image_tag_delete(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const char *tag, struct nph_error *err);

/* List filters; NULL / -1 fields do not filter. */
struct local_image_filter {
    const char *name, *status, *visibility, *disk_format, *container_format, *owner, *tag;
    int64_t size, size_min, size_max; /* -1 = none */
    const char *marker;               /* id of the last image of the previous page */
    int limit;                        /* 1..LOCAL_IMAGE_LIST_LIMIT; 0 = 25 */
    const char *sort_key;             /* name, status, size, created_at (default), ... */
    int sort_desc;                    /* default (for created_at) descending */
};
/* Initialise a filter to "everything, newest first, 25 per page". */
void local_image_filter_init(struct local_image_filter *f);
/* One page of the images visible to c (new array), *more = 1 when another page follows.
 * NPH_E_INVALID for a bad sort key or visibility, NPH_E_NOT_FOUND for an unknown marker. */
json_t *local_image_list(struct local_image *li, const struct local_image_caller *c,
                         const struct local_image_filter *f, int *more, struct nph_error *err);

/* Store the data of a queued image from the file at src_path. The file is always consumed
 * (moved into the data directory, or removed on failure). The image goes queued -> saving ->
 * active; the format found in the bytes must agree with disk_format (qcow2 bytes are refused
 * under any other format, other bytes under qcow2: NPH_E_INVALID), and on any failure the image
 * is back to queued with no data kept. NPH_E_CONFLICT when the image is not queued,
 * NPH_E_INVALID when disk_format or container_format is unset, NPH_E_TOO_LARGE past the
 * configured size, NPH_E_IO when the disk refuses. Returns the active image or NULL. */
json_t *local_image_upload(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const char *src_path, struct nph_error *err);
/* Where the data of a visible image is: 0 with path (and the image, new reference, in *image
 * if not NULL), 1 when the image has no data (not active), -1 with err. */
int local_image_data(struct local_image *li, const struct local_image_caller *c, const char *id,
                     char path[4096], json_t **image, struct nph_error *err);

/* 1 when `name` is a base or read-only attribute of an image, not a custom property. */
int local_image_is_reserved(const char *name);

/* ---- data helpers (exposed for tests) -------------------------------------------------- */

enum local_image_format { LOCAL_IMAGE_FMT_RAW, LOCAL_IMAGE_FMT_QCOW2 };
/* Look at the first bytes of a file: qcow2 when it has the magic "QFI\xfb", version 2 or 3
 * and a sane cluster size (*virtual_size from the header), raw otherwise (*virtual_size = file
 * size). NPH_E_INVALID when the magic is there but the header is not a valid qcow2 header. */
int local_image_detect(const char *path, enum local_image_format *fmt, int64_t *virtual_size,
                       struct nph_error *err);
/* md5 (hex, 33) and sha256 (hex, 65) of a file, read in 64 KiB pieces, and its size. */
int local_image_digest(const char *path, char md5[33], char sha256[65], int64_t *size,
                       struct nph_error *err);

#endif
