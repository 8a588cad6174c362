/*
 * local_compute.c - the libvirt connection of the native cloud and its health check.
 * libvirt's default error handler prints to stderr; it is replaced by one that does nothing,
 * and errors are read back with virGetLastErrorMessage() where they happen.
 */
#include "local_compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

struct local_compute {
    virConnectPtr conn;
    char *uri;
};

static void quiet_errors(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

struct local_compute *local_compute_open(const char *uri, struct nph_error *err)
{
    struct local_compute *lc;
    virSetErrorFunc(NULL, quiet_errors);
    lc = calloc(1, sizeof(*lc));
    if (!lc || !(lc->uri = strdup(uri))) {
        free(lc);
        nph_error_nomem(err);
        return NULL;
    }
    lc->conn = virConnectOpen(uri);
    if (!lc->conn) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to the hypervisor at '%s'", uri);
        nph_error_detail(err, "%s", virGetLastErrorMessage());
        local_compute_close(lc);
        return NULL;
    }
    return lc;
}

void local_compute_close(struct local_compute *lc)
{
    if (!lc)
        return;
    if (lc->conn)
        virConnectClose(lc->conn);
    free(lc->uri);
    free(lc);
}

const char *local_compute_uri(const struct local_compute *lc)
{
    return lc->uri;
}

int local_compute_health(struct local_compute *lc, struct local_compute_node *node,
                         struct nph_error *err)
{
    virNodeInfo info;
    const char *type;
    if (virConnectIsAlive(lc->conn) != 1 || virNodeGetInfo(lc->conn, &info) != 0) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "the hypervisor at '%s' does not answer", lc->uri);
        return nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    if (node) {
        memset(node, 0, sizeof(*node));
        snprintf(node->model, sizeof(node->model), "%s", info.model);
        node->cpus = info.cpus;
        node->memory_kib = info.memory;
        type = virConnectGetType(lc->conn);
        snprintf(node->hypervisor, sizeof(node->hypervisor), "%s", type ? type : "unknown");
    }
    return 0;
}
