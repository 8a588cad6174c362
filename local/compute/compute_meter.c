/*
 * compute_meter.c - samples of the native cloud's servers, read from libvirt (docs/billing.md,
 * "Samples"): per server not deleted, cumulative CPU time (virDomainGetCPUStats, total; else
 * virDomainGetInfo's cpuTime), disk bytes read and written summed over its disks
 * (virDomainBlockStats) and network bytes received and sent summed over its interfaces
 * (virDomainInterfaceStats), the devices taken from the domain's XML. A server whose domain is
 * missing or whose statistics libvirt cannot give is skipped (the next poll tries again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_internal.h"
#include "nph_meter.h"

/* Call fn for each `<target dev='X'` inside the elements named `elem` of xml. */
static void each_target(const char *xml, const char *elem, void (*fn)(void *, const char *),
                        void *ctx)
{
    char open[32], close[32];
    snprintf(open, sizeof(open), "<%s ", elem);
    snprintf(close, sizeof(close), "</%s>", elem);
    for (const char *p = strstr(xml, open); p; p = strstr(p + 1, open)) {
        const char *end = strstr(p, close), *t = strstr(p, "<target dev=");
        if (!end || !t || t > end)
            continue;
        t += strlen("<target dev=");
        char q = *t++;
        const char *e = strchr(t, q);
        if ((q != '\'' && q != '"') || !e || e - t >= 64)
            continue;
        char dev[64];
        memcpy(dev, t, (size_t)(e - t));
        dev[e - t] = '\0';
        fn(ctx, dev);
    }
}

struct dom_io {
    virDomainPtr dom;
    long long rd, wr, rx, tx;
    int have_disk, have_net;
};

static void add_disk(void *ctx, const char *dev)
{
    struct dom_io *io = ctx;
    virDomainBlockStatsStruct bs;
    if (virDomainBlockStats(io->dom, dev, &bs, sizeof(bs)) < 0)
        return;
    if (bs.rd_bytes >= 0)
        io->rd += bs.rd_bytes;
    if (bs.wr_bytes >= 0)
        io->wr += bs.wr_bytes;
    io->have_disk = 1;
}

static void add_net(void *ctx, const char *dev)
{
    struct dom_io *io = ctx;
    virDomainInterfaceStatsStruct is;
    if (virDomainInterfaceStats(io->dom, dev, &is, sizeof(is)) < 0)
        return;
    if (is.rx_bytes >= 0)
        io->rx += is.rx_bytes;
    if (is.tx_bytes >= 0)
        io->tx += is.tx_bytes;
    io->have_net = 1;
}

/* Cumulative CPU time of dom in nanoseconds, or -1. */
static long long cpu_time(virDomainPtr dom)
{
    virTypedParameter params[8];
    virDomainInfo info;
    int n = virDomainGetCPUStats(dom, params, 8, -1, 1, 0);
    for (int i = 0; i < n; i++)
        if (strcmp(params[i].field, VIR_DOMAIN_CPU_STATS_CPUTIME) == 0 &&
            params[i].type == VIR_TYPED_PARAM_ULLONG)
            return (long long)params[i].value.ul;
    if (virDomainGetInfo(dom, &info) == 0)
        return (long long)info.cpuTime;
    return -1;
}

struct srv {
    char id[NPH_UUID_LEN + 1];
    char *project;
};

int local_compute_sample(struct local_compute *lc, struct nph_store *store, const char *cloud,
                         int64_t now, size_t *written, struct nph_error *err)
{
    static const char *const names[] = {"cpu", "disk.read.bytes", "disk.write.bytes",
                                        "network.incoming.bytes", "network.outgoing.bytes"};
    struct nph_db *db = NULL;
    struct nph_stmt *st;
    struct srv *srv = NULL;
    struct nph_meter_sample *out = NULL;
    size_t n = 0, cap = 0, m = 0;
    virConnectPtr conn;
    int rc = -1, step;

    if (written)
        *written = 0;
    if (!(conn = cmp_conn(lc, err)) || !(db = nph_store_acquire(store, err)))
        return -1;
    st = nph_db_prepare(db, "SELECT id, project_id FROM compute_server WHERE deleted = 0", err);
    if (!st)
        goto cleanup;
    while ((step = nph_stmt_step(st, err)) == 1) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct srv *ns = realloc(srv, nc * sizeof(*ns));
            if (!ns) {
                nph_stmt_done(st);
                nph_error_nomem(err);
                goto cleanup;
            }
            srv = ns;
            cap = nc;
        }
        snprintf(srv[n].id, sizeof(srv[n].id), "%s", nph_stmt_col_text(st, 0));
        if (!(srv[n].project = strdup(nph_stmt_col_text(st, 1)))) {
            nph_stmt_done(st);
            nph_error_nomem(err);
            goto cleanup;
        }
        n++;
    }
    nph_stmt_done(st);
    if (step < 0)
        goto cleanup;
    if (n && !(out = calloc(n * 5, sizeof(*out)))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        virDomainPtr dom = virDomainLookupByUUIDString(conn, srv[i].id);
        struct dom_io io = {dom, 0, 0, 0, 0, 0, 0};
        long long v[5];
        char *xml;
        if (!dom)
            continue;
        v[0] = cpu_time(dom);
        if ((xml = virDomainGetXMLDesc(dom, 0)) != NULL) {
            each_target(xml, "disk", add_disk, &io);
            each_target(xml, "interface", add_net, &io);
            free(xml);
        }
        v[1] = io.have_disk ? io.rd : -1;
        v[2] = io.have_disk ? io.wr : -1;
        v[3] = io.have_net ? io.rx : -1;
        v[4] = io.have_net ? io.tx : -1;
        virDomainFree(dom);
        for (int k = 0; k < 5; k++)
            if (v[k] >= 0)
                out[m++] = (struct nph_meter_sample){
                    now, srv[i].id, "server", srv[i].project, cloud, names[k], v[k], 0, v[k], 1};
    }
    if (nph_meter_append_many(db, out, m, NULL, err))
        goto cleanup;
    if (written)
        *written = m;
    rc = 0;
cleanup:
    nph_store_release(db);
    for (size_t i = 0; i < n; i++)
        free(srv[i].project);
    free(srv);
    free(out);
    return rc;
}
