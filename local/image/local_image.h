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
};

/* The image `image_id` as visible to project_id (public, shared or owned images; admins see
 * all). NPH_E_NOT_FOUND when it does not exist or is not visible; NPH_E_CONFLICT when it is
 * not active (no data yet). */
int local_image_locate(struct local_image *li, const char *image_id, const char *project_id,
                       int is_admin, struct local_image_ref *out, struct nph_error *err);

#endif
