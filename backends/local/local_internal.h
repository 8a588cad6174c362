/* local_internal.h - what the files of the `local` driver share. */
#ifndef NPH_LOCAL_INTERNAL_H
#define NPH_LOCAL_INTERNAL_H

#include "backend.h"

/* The volume and object families (local_storage.c), over the host's services. */
extern const struct nph_volume_ops local_volume_family;
extern const struct nph_object_ops local_object_family;

#endif
