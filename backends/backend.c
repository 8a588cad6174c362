/* backend.c - the registry of cloud drivers (see backend.h). Drivers are added here as they
 * are written, one table each. */
#include "backend.h"

#include <stddef.h>
#include <string.h>

static const struct nph_backend_ops *const drivers[] = {NULL};

const struct nph_backend_ops *const *nph_backend_drivers(void)
{
    return drivers;
}

const struct nph_backend_ops *nph_backend_lookup(const char *kind, struct nph_error *err)
{
    for (size_t i = 0; drivers[i]; i++) {
        if (strcmp(drivers[i]->kind, kind) == 0)
            return drivers[i];
    }
    nph_error_set(err, NPH_E_INVALID, "unknown cloud kind '%s'", kind);
    return NULL;
}
