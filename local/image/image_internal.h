/* image_internal.h - what the image service's files share (not part of its API). */
#ifndef IMAGE_INTERNAL_H
#define IMAGE_INTERNAL_H

#include "local_image.h"

struct local_image {
    struct nph_store *store;
    char dir[3900];          /* image data: <dir>/<id>, uploads in progress <dir>/<id>.part */
    int64_t max_image_bytes; /* 0 = no limit */
};

/* Move src to dst: rename(2), or a streamed copy when they are on different filesystems.
 * src is gone afterwards whatever happens; dst exists only on success. */
int image_move_file(const char *src, const char *dst, struct nph_error *err);

#endif
