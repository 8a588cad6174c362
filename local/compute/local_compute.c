/*
 * local_compute.c - the libvirt connection of the native cloud and its health check.
 * The connection is opened on first use (an idle broker does not pay libvirt's memory) and
 * reopened when it dies. libvirt's default error handler prints to stderr; it is replaced by one
 * that does nothing, and errors are read back with virGetLastErrorMessage() where they happen.
 */
#include "local_compute.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

struct local_compute {
    pthread_mutex_t lock;
    virConnectPtr conn; /* opened on first use, reopened when it dies */
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
    if (!uri || !*uri) {
        nph_error_set(err, NPH_E_INVALID, "'compute.libvirt_uri' must not be empty");
        return NULL;
    }
    virSetErrorFunc(NULL, quiet_errors);
    lc = calloc(1, sizeof(*lc));
    if (!lc || !(lc->uri = strdup(uri))) {
        free(lc);
        nph_error_nomem(err);
        return NULL;
    }
    pthread_mutex_init(&lc->lock, NULL);
    return lc;
}

/* The live connection, opening (or reopening) it as needed; NULL with err set. */
static virConnectPtr connection(struct local_compute *lc, struct nph_error *err)
{
    virConnectPtr c;
    pthread_mutex_lock(&lc->lock);
    if (lc->conn && virConnectIsAlive(lc->conn) != 1) {
        virConnectClose(lc->conn);
        lc->conn = NULL;
    }
    if (!lc->conn)
        lc->conn = virConnectOpen(lc->uri);
    c = lc->conn;
    if (!c) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to the hypervisor at '%s'", lc->uri);
        nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    pthread_mutex_unlock(&lc->lock);
    return c;
}

void local_compute_close(struct local_compute *lc)
{
    if (!lc)
        return;
    if (lc->conn)
        virConnectClose(lc->conn);
    pthread_mutex_destroy(&lc->lock);
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
    virConnectPtr conn = connection(lc, err);
    if (!conn)
        return -1;
    if (virNodeGetInfo(conn, &info) != 0) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "the hypervisor at '%s' does not answer", lc->uri);
        return nph_error_detail(err, "%s", virGetLastErrorMessage());
    }
    if (node) {
        memset(node, 0, sizeof(*node));
        snprintf(node->model, sizeof(node->model), "%s", info.model);
        node->cpus = info.cpus;
        node->memory_kib = info.memory;
        type = virConnectGetType(conn);
        snprintf(node->hypervisor, sizeof(node->hypervisor), "%s", type ? type : "unknown");
    }
    return 0;
}
