/*
 * backend.h - the driver interface: one table of functions per kind of cloud (DESIGN.md
 * section 4). Operation families a cloud does not offer stay NULL; the broker turns NULL into
 * NPH_E_NOT_SUPPORTED. Drivers are registered in backend.c.
 */
#ifndef NPH_BACKEND_H
#define NPH_BACKEND_H

#include <jansson.h>

#include "nph_error.h"

struct nph_backend;

struct nph_backend_ops {
    const char *kind; /* "local", "openstack", "ec2", ... */
    int (*open)(struct nph_backend *b, const json_t *config, struct nph_error *err);
    void (*close)(struct nph_backend *b);
    int (*health)(struct nph_backend *b, struct nph_error *err);
};

struct nph_backend {
    const struct nph_backend_ops *ops;
    char *name; /* the operator's name for this cloud */
    void *priv; /* the driver's state */
};

/* The driver table for `kind`, or NULL (err: NPH_E_INVALID, "unknown cloud kind 'x'"). */
const struct nph_backend_ops *nph_backend_lookup(const char *kind, struct nph_error *err);
/* NULL-terminated list of all registered drivers. */
const struct nph_backend_ops *const *nph_backend_drivers(void);

#endif
