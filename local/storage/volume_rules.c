/*
 * volume_rules.c - the pure parts of block storage, apart so that unit tests reach them
 * without a store or a hypervisor: Cinder's status machine, size validation, the quota
 * arithmetic, the <disk> XML of an attachment and the choice of its target device.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "local_volume.h"

static const char *const statuses[] = {
    "creating", "available", "attaching", "in-use",         "detaching",       "extending",
    "deleting", "error",     "reserved",  "error_deleting", "error_extending", "maintenance",
};

int local_volume_status_known(const char *status)
{
    for (size_t i = 0; status && i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (strcmp(statuses[i], status) == 0)
            return 1;
    return 0;
}

/* from -> the statuses it may move to (besides an admin's reset). */
static const struct {
    const char *from;
    const char *to[6];
} transitions[] = {
    {"creating", {"available", "error"}},
    {"available", {"attaching", "reserved", "extending", "deleting"}},
    {"reserved", {"attaching", "available", "in-use"}},
    {"attaching", {"in-use", "available"}},
    {"in-use", {"detaching"}},
    {"detaching", {"available", "in-use"}},
    {"extending", {"available", "error_extending"}},
    {"error", {"deleting"}},
    {"error_extending", {"deleting"}},
    {"deleting", {"error_deleting"}},
    {"error_deleting", {"deleting"}},
};

int local_volume_transition_ok(const char *from, const char *to)
{
    if (!from || !to)
        return 0;
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        if (strcmp(transitions[i].from, from) != 0)
            continue;
        for (size_t k = 0; k < 6 && transitions[i].to[k]; k++)
            if (strcmp(transitions[i].to[k], to) == 0)
                return 1;
        return 0;
    }
    return 0;
}

int local_volume_parse_size(const json_t *v, int64_t *out, struct nph_error *err)
{
    long long n;
    char shown[64];
    if (json_is_integer(v)) {
        n = json_integer_value(v);
        snprintf(shown, sizeof(shown), "%lld", n);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        snprintf(shown, sizeof(shown), "%s", s);
        if (!*s || strlen(s) > 12)
            goto bad;
        for (const char *p = s; *p; p++)
            if (!isdigit((unsigned char)*p))
                goto bad;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno)
            goto bad;
    } else {
        snprintf(shown, sizeof(shown), "%s", json_is_null(v) || !v ? "None" : "not an integer");
        goto bad;
    }
    if (n < 1)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute size. Value: %s. %s is less than "
                             "the minimum of 1",
                             shown, shown);
    if (n > LOCAL_VOLUME_MAX_GB)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute size. Value: %s. %s is greater "
                             "than the maximum of %d",
                             shown, shown, LOCAL_VOLUME_MAX_GB);
    *out = n;
    return 0;
bad:
    return nph_error_set(err, NPH_E_INVALID,
                         "Invalid input for field/attribute size. Value: %s. '%s' is not a "
                         "positive integer",
                         shown, shown);
}

int local_volume_quota_check(const struct local_volume_usage *limit,
                             const struct local_volume_usage *used, int64_t add_volumes,
                             int64_t add_gb, int64_t add_snapshots, struct nph_error *err)
{
    if (add_volumes > 0 && limit->volumes >= 0 && used->volumes + add_volumes > limit->volumes)
        return nph_error_set(err, NPH_E_TOO_LARGE,
                             "VolumeLimitExceeded: Maximum number of volumes allowed (%" PRId64
                             ") exceeded for quota 'volumes'.",
                             limit->volumes);
    if (add_snapshots > 0 && limit->snapshots >= 0 &&
        used->snapshots + add_snapshots > limit->snapshots)
        return nph_error_set(err, NPH_E_TOO_LARGE,
                             "SnapshotLimitExceeded: Maximum number of snapshots allowed (%" PRId64
                             ") exceeded",
                             limit->snapshots);
    if (add_gb > 0 && limit->gigabytes >= 0 && used->gigabytes + add_gb > limit->gigabytes)
        return nph_error_set(err, NPH_E_TOO_LARGE,
                             "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                             "exceeds allowed gigabytes quota. Requested %" PRId64
                             "G, quota is %" PRId64 "G and %" PRId64 "G has been consumed.",
                             add_gb, limit->gigabytes, used->gigabytes);
    return 0;
}

#define X(s) ((const xmlChar *)(s))

char *local_volume_disk_xml(const char *path, const char *format, const char *target,
                            const char *volume_id, int readonly, struct nph_error *err)
{
    xmlDocPtr doc;
    xmlNodePtr disk, n;
    xmlChar *mem = NULL;
    int len = 0;
    char *out;
    if (!path || !*path || !target || !*target || !volume_id) {
        nph_error_set(err, NPH_E_INVALID, "a volume's disk needs a path, a target and an id");
        return NULL;
    }
    if (!format || (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0)) {
        nph_error_set(err, NPH_E_INVALID, "unknown volume format '%s'", format ? format : "");
        return NULL;
    }
    doc = xmlNewDoc(X("1.0"));
    disk = xmlNewNode(NULL, X("disk"));
    if (!doc || !disk) {
        xmlFreeDoc(doc);
        xmlFreeNode(disk);
        nph_error_nomem(err);
        return NULL;
    }
    xmlDocSetRootElement(doc, disk);
    xmlNewProp(disk, X("type"), X("file"));
    xmlNewProp(disk, X("device"), X("disk"));
    n = xmlNewChild(disk, NULL, X("driver"), NULL);
    xmlNewProp(n, X("name"), X("qemu"));
    xmlNewProp(n, X("type"), X(format));
    xmlNewProp(xmlNewChild(disk, NULL, X("source"), NULL), X("file"), X(path));
    n = xmlNewChild(disk, NULL, X("target"), NULL);
    xmlNewProp(n, X("dev"), X(target));
    xmlNewProp(n, X("bus"), X("virtio"));
    xmlNewTextChild(disk, NULL, X("serial"), X(volume_id));
    if (readonly)
        xmlNewChild(disk, NULL, X("readonly"), NULL);
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (!mem) {
        nph_error_nomem(err);
        return NULL;
    }
    out = strdup((const char *)mem);
    xmlFree(mem);
    if (!out)
        nph_error_nomem(err);
    return out;
}

int local_volume_next_target(const char *const *used, int n_used, char *out, size_t len,
                             struct nph_error *err)
{
    for (char c = 'b'; c <= 'z'; c++) {
        char dev[8];
        int taken = 0;
        snprintf(dev, sizeof(dev), "vd%c", c);
        for (int i = 0; i < n_used && !taken; i++) {
            const char *u = used[i];
            if (u && strncmp(u, "/dev/", 5) == 0)
                u += 5;
            taken = u && strcmp(u, dev) == 0;
        }
        if (!taken) {
            snprintf(out, len, "%s", dev);
            return 0;
        }
    }
    return nph_error_set(err, NPH_E_CONFLICT, "the server has no free disk target (vdb to vdz)");
}
