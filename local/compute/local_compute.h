/*
 * local_compute.h - the native cloud's compute service over libvirt. This first part holds the
 * connection to the hypervisor (test:///default by default, qemu:///system on a real host)
 * and its health; servers, flavors and images build on it.
 */
#ifndef LOCAL_COMPUTE_H
#define LOCAL_COMPUTE_H

#include <stdint.h>

#include "nph_error.h"

struct local_compute;

struct local_compute_node {
    char model[64];      /* CPU model as libvirt reports it */
    unsigned cpus;       /* active CPUs */
    uint64_t memory_kib; /* node memory */
    char hypervisor[32]; /* "Test", "QEMU", ... */
};

/* Set up the service for the hypervisor at `uri`; the connection itself is made on first use
 * (health or any operation), and errors to reach it are reported there, as NPH_E_UNAVAILABLE
 * with libvirt's message in the detail. NULL only for an empty URI or out of memory. */
struct local_compute *local_compute_open(const char *uri, struct nph_error *err);
void local_compute_close(struct local_compute *lc);
/* The URI the service is connected to (borrowed). */
const char *local_compute_uri(const struct local_compute *lc);
/* 0 if the hypervisor can be reached and its node answers; else -1 with NPH_E_UNAVAILABLE. Fills
 * node (may be NULL) from virNodeGetInfo. */
int local_compute_health(struct local_compute *lc, struct local_compute_node *node,
                         struct nph_error *err);

#endif
