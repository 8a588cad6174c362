/*
 * compute_server.c - servers: the rows in the store, their visibility, reading their true
 * state back from libvirt, the API-side checks that turn a request into a task, and the jobs
 * that the workers run against the hypervisor (compute_worker.c).
 *
 * Every state change that matters for billing (active, stopped, resized, deleted) is written
 * with its ledger event in one transaction, guarded by the state it expects
 * (UPDATE ... WHERE task_state = ?), so that two writers never both record a change.
 */
#include <errno.h>
#include <regex.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "compute_internal.h"
#include "nph_clock.h"
#include "nph_json.h"
#include "nph_ledger.h"
#include "nph_log.h"

#define SERVER_COLS                                                                                \
    "SELECT id, name, project_id, user_id, vm_state, task_state, power_state, flavor_id, flavor,"  \
    " old_flavor, vcpus, ram_mb, image_id, key_name, availability_zone, description, locked,"      \
    " locked_reason, metadata, tags, fault, host, disk_path, created_at, updated_at, launched_at," \
    " deleted_at, deleted, access_ipv4, access_ipv6 FROM compute_server"

enum {
    C_ID,
    C_NAME,
    C_PROJECT,
    C_USER,
    C_VM,
    C_TASK,
    C_POWER,
    C_FLAVOR_ID,
    C_FLAVOR,
    C_OLD_FLAVOR,
    C_VCPUS,
    C_RAM,
    C_IMAGE,
    C_KEY,
    C_AZ,
    C_DESC,
    C_LOCKED,
    C_LOCKED_REASON,
    C_META,
    C_TAGS,
    C_FAULT,
    C_HOST,
    C_DISK,
    C_CREATED,
    C_UPDATED,
    C_LAUNCHED,
    C_DELETED_AT,
    C_DELETED,
    C_ACCESS4,
    C_ACCESS6
};

enum { PWR_NOSTATE = 0, PWR_RUNNING = 1, PWR_PAUSED = 3, PWR_SHUTDOWN = 4, PWR_CRASHED = 6 };

static const char *status_of(const char *vm, const char *task)
{
    task = task ? task : "";
    if (strcmp(vm, "building") == 0)
        return "BUILD";
    if (strcmp(vm, "deleted") == 0)
        return "DELETED";
    if (strcmp(vm, "error") == 0)
        return "ERROR";
    if (strcmp(task, "deleting") == 0)
        return strcmp(vm, "stopped") == 0 ? "SHUTOFF" : "ACTIVE";
    if (strcmp(task, "rebooting") == 0)
        return "REBOOT";
    if (strcmp(task, "rebooting_hard") == 0)
        return "HARD_REBOOT";
    if (strcmp(task, "resize_prep") == 0)
        return "RESIZE";
    if (strcmp(task, "resize_reverting") == 0)
        return "REVERT_RESIZE";
    if (strcmp(task, "rebuilding") == 0)
        return "REBUILD";
    if (strcmp(vm, "resized") == 0)
        return "VERIFY_RESIZE";
    if (strcmp(vm, "stopped") == 0)
        return "SHUTOFF";
    return "ACTIVE";
}

static json_t *nstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *server_row(struct nph_stmt *st)
{
    const char *vm = nph_stmt_col_text(st, C_VM), *task = nph_stmt_col_text(st, C_TASK);
    char dom[80];
    snprintf(dom, sizeof(dom), "nephele-%s", nph_stmt_col_text(st, C_ID));
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,"
        "s:o,s:o,s:o,s:o,s:s,s:I,s:I,s:o,s:o,s:o}",
        "id", nph_stmt_col_text(st, C_ID), "name", nph_stmt_col_text(st, C_NAME), "project_id",
        nph_stmt_col_text(st, C_PROJECT), "user_id", nph_stmt_col_text(st, C_USER), "status",
        status_of(vm, task), "vm_state", vm, "task_state", nstr(task), "power_state",
        (json_int_t)nph_stmt_col_int64(st, C_POWER), "flavor_id",
        nph_stmt_col_text(st, C_FLAVOR_ID), "flavor",
        cmp_json_load(nph_stmt_col_text(st, C_FLAVOR), json_object()), "image_id",
        nstr(nph_stmt_col_text(st, C_IMAGE)), "key_name", nstr(nph_stmt_col_text(st, C_KEY)),
        "availability_zone", nstr(nph_stmt_col_text(st, C_AZ)), "description",
        nstr(nph_stmt_col_text(st, C_DESC)), "locked_reason",
        nstr(nph_stmt_col_text(st, C_LOCKED_REASON)), "locked",
        (int)nph_stmt_col_int64(st, C_LOCKED), "metadata",
        cmp_json_load(nph_stmt_col_text(st, C_META), json_object()), "tags",
        cmp_json_load(nph_stmt_col_text(st, C_TAGS), json_array()), "fault",
        nstr(nph_stmt_col_text(st, C_FAULT)), "host", nstr(nph_stmt_col_text(st, C_HOST)),
        "created", cmp_time_json(nph_stmt_col_int64(st, C_CREATED)), "updated",
        cmp_time_json(nph_stmt_col_int64(st, C_UPDATED)), "launched_at",
        cmp_time_json(nph_stmt_col_int64(st, C_LAUNCHED)), "terminated_at",
        cmp_time_json(nph_stmt_col_int64(st, C_DELETED_AT)), "old_flavor",
        cmp_json_load(nph_stmt_col_text(st, C_OLD_FLAVOR), json_null()), "domain", dom,
        "updated_us", (json_int_t)nph_stmt_col_int64(st, C_UPDATED), "created_us",
        (json_int_t)nph_stmt_col_int64(st, C_CREATED), "disk_path",
        nstr(nph_stmt_col_text(st, C_DISK)), "access_ipv4", nstr(nph_stmt_col_text(st, C_ACCESS4)),
        "access_ipv6", nstr(nph_stmt_col_text(st, C_ACCESS6)));
}

/* accessIPv4 / accessIPv6: "" (none) or an address of that family, written into buf in its
 * canonical form (IPv6 compressed, as Nova shows it); worded like Nova's 400 otherwise. */
static int access_ip_get(const json_t *attrs, const char *key, int family,
                         char buf[INET6_ADDRSTRLEN], const char **out, struct nph_error *err)
{
    unsigned char addr[sizeof(struct in6_addr)];
    json_t *v = json_object_get(attrs, key);
    const char *text = json_string_value(v);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (text && !*text) {
        *out = "";
        return 0;
    }
    if (!text || inet_pton(family, text, addr) != 1 ||
        !inet_ntop(family, addr, buf, INET6_ADDRSTRLEN))
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute %s. Value: %.64s. '%.64s' is not "
                             "a '%s'",
                             family == AF_INET ? "accessIPv4" : "accessIPv6", text ? text : "",
                             text ? text : "", family == AF_INET ? "ipv4" : "ipv6");
    *out = buf;
    return 0;
}

#define S(o, k)  json_string_value(json_object_get((o), (k)))
#define SI(o, k) json_integer_value(json_object_get((o), (k)))

/* The server row (deleted ones included when with_deleted), checked against the caller. */
static json_t *server_load(struct nph_db *db, const struct local_compute_caller *c, const char *id,
                           int with_deleted, struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *s;
    int rc = nph_db_queryf(db, err, &st, SERVER_COLS " WHERE id = ?", "s", id);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Instance %s could not be found.", id);
        return NULL;
    }
    s = server_row(st);
    nph_stmt_done(st);
    if (!s) {
        nph_error_nomem(err);
        return NULL;
    }
    if ((c && !c->is_admin && strcmp(S(s, "project_id"), c->project_id) != 0) ||
        (!with_deleted && strcmp(S(s, "vm_state"), "deleted") == 0)) {
        json_decref(s);
        nph_error_set(err, NPH_E_NOT_FOUND, "Instance %s could not be found.", id);
        return NULL;
    }
    return s;
}

static int ledger(struct local_compute *lc, struct nph_db *db, const json_t *s,
                  enum nph_ledger_kind kind, const char *flavor_name, struct nph_error *err)
{
    struct nph_ledger_event ev = {0};
    ev.kind = kind;
    ev.resource_id = S(s, "id");
    ev.resource_type = "server";
    ev.project_id = S(s, "project_id");
    ev.cloud = lc->cloud;
    ev.region = lc->region;
    ev.offering = flavor_name ? flavor_name : S(json_object_get(s, "flavor"), "name");
    ev.size_gb = -1;
    return nph_ledger_append(db, &ev, err);
}

static int action_start(struct nph_db *db, const struct local_compute_caller *c, const json_t *s,
                        const char *action, int finished, char out_id[37], struct nph_error *err)
{
    char rid[41];
    int64_t now = nph_clock_now();
    if (nph_uuid4(out_id))
        return nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
    if (!c->request_id || !*c->request_id)
        nph_request_id(rid);
    else
        snprintf(rid, sizeof(rid), "%s", c->request_id);
    return nph_db_execf(
               db, err,
               "INSERT INTO compute_action (id, server_id, project_id, user_id, action,"
               " request_id, start_time, finish_time, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "ssssssiis", out_id, S(s, "id"), S(s, "project_id"), c->user_id ? c->user_id : "",
               action, rid, now, finished ? now : (int64_t)0, finished ? "Success" : NULL) < 0
               ? -1
               : 0;
}

/* ---- reading the truth from libvirt ------------------------------------------------------- */

/* Power state of the domain: PWR_* or -1 when it does not exist, -2 when libvirt cannot be
 * asked (then nothing is concluded). */
static int domain_power(virConnectPtr conn, const char *uuid)
{
    virDomainPtr d;
    int state = 0, reason = 0;
    if (!conn)
        return -2;
    d = virDomainLookupByUUIDString(conn, uuid);
    if (!d) {
        virErrorPtr e = virGetLastError();
        return e && e->code == VIR_ERR_NO_DOMAIN ? -1 : -2;
    }
    if (virDomainGetState(d, &state, &reason, 0) != 0)
        state = -2;
    virDomainFree(d);
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return PWR_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return PWR_PAUSED;
    case VIR_DOMAIN_SHUTDOWN:
    case VIR_DOMAIN_SHUTOFF:
        return PWR_SHUTDOWN;
    case VIR_DOMAIN_CRASHED:
        return PWR_CRASHED;
    case -2:
        return -2;
    default:
        return PWR_NOSTATE;
    }
}

/* Reconcile one settled server (no task) with the power state observed; records a change
 * and its ledger event; updates s in place. */
static void reconcile(struct local_compute *lc, struct nph_db *db, json_t *s, int power)
{
    const char *vm = S(s, "vm_state");
    const char *new_vm = NULL, *fault = NULL;
    enum nph_ledger_kind kind = NPH_LEDGER_STOPPED;
    int new_power = power;
    struct nph_error err = NPH_ERROR_INIT;
    int was_running;
    if (power == -2 || !json_is_null(json_object_get(s, "task_state")))
        return;
    if (strcmp(vm, "active") != 0 && strcmp(vm, "stopped") != 0 && strcmp(vm, "resized") != 0)
        return;
    was_running = strcmp(vm, "stopped") != 0 && SI(s, "power_state") == PWR_RUNNING;
    if (power == -1) {
        new_vm = "error";
        new_power = PWR_NOSTATE;
        fault = "the domain no longer exists on the hypervisor";
    } else if (power == PWR_CRASHED) {
        new_vm = "error";
        fault = "the domain crashed";
    } else if (power == PWR_SHUTDOWN && strcmp(vm, "active") == 0) {
        new_vm = "stopped";
    } else if (power == PWR_RUNNING && strcmp(vm, "stopped") == 0) {
        new_vm = "active";
        kind = NPH_LEDGER_STARTED;
    } else if (power != SI(s, "power_state")) {
        json_object_set_new(s, "power_state", json_integer(power)); /* not billable */
        return;
    } else {
        return;
    }
    if (nph_db_begin(db, &err))
        goto fail;
    int64_t n =
        nph_db_execf(db, &err,
                     "UPDATE compute_server SET vm_state = ?, power_state = ?, fault = ?,"
                     " updated_at = ? WHERE id = ? AND vm_state = ? AND task_state IS NULL",
                     "sisiss", new_vm, (int64_t)new_power, fault, nph_clock_now(), S(s, "id"), vm);
    if (n < 0)
        goto fail;
    if (n == 1 && ((kind == NPH_LEDGER_STARTED) || was_running) &&
        ledger(lc, db, s, kind, NULL, &err))
        goto fail;
    if (nph_db_commit(db, &err))
        goto fail;
    if (n == 1) {
        nph_log(NPH_LOG_WARN, "compute.reconciled", "server", S(s, "id"), "was", vm, "now", new_vm,
                NULL);
        json_object_set_new(s, "vm_state", json_string(new_vm));
        json_object_set_new(s, "status", json_string(status_of(new_vm, NULL)));
        json_object_set_new(s, "power_state", json_integer(new_power));
        if (fault)
            json_object_set_new(s, "fault", json_string(fault));
    }
    return;
fail:
    nph_db_rollback(db, NULL);
    nph_log(NPH_LOG_WARN, "compute.reconcile_failed", "server", S(s, "id"), "error", err.msg, NULL);
}

/* ---- API side ---------------------------------------------------------------------------- */

json_t *local_compute_server_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *id, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *s;
    if (!db)
        return NULL;
    s = server_load(db, c, id, 0, err);
    if (s) {
        virConnectPtr conn = cmp_conn(lc, NULL);
        reconcile(lc, db, s, domain_power(conn, id));
    }
    nph_store_release(db);
    return s;
}

static int check_meta(const json_t *meta, struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(meta))
        return nph_error_set(err, NPH_E_INVALID, "'metadata' must be an object");
    if (json_object_size(meta) > 128)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Quota exceeded for metadata_items: the limit is 128");
    json_object_foreach((json_t *)meta, k, v)
    {
        if (!*k || strlen(k) > 255 || !json_is_string(v) || strlen(json_string_value(v)) > 255)
            return nph_error_set(err, NPH_E_INVALID,
                                 "metadata keys and values must be strings of at most 255 "
                                 "characters ('%s')",
                                 k);
    }
    return 0;
}

static int check_tags(const json_t *tags, struct nph_error *err)
{
    size_t i;
    json_t *t;
    if (!json_is_array(tags))
        return nph_error_set(err, NPH_E_INVALID, "'tags' must be an array");
    if (json_array_size(tags) > 50)
        return nph_error_set(err, NPH_E_INVALID, "a server has at most 50 tags");
    json_array_foreach(tags, i, t)
    {
        const char *s = json_string_value(t);
        if (!s || !*s || strlen(s) > 60 || strchr(s, '/') || strchr(s, ','))
            return nph_error_set(err, NPH_E_INVALID,
                                 "a tag is a string of 1 to 60 characters without '/' or ','");
    }
    return 0;
}

json_t *local_compute_server_create(struct local_compute *lc, const struct local_compute_caller *c,
                                    const json_t *spec, struct nph_error *err)
{
    const char *name = NULL, *flavor_id = NULL, *image_id = NULL, *key = NULL, *az = NULL,
               *desc = NULL, *user_data = NULL;
    json_t *meta = NULL, *tags = NULL, *flavor = NULL, *out = NULL;
    struct local_image_ref img;
    struct nph_db *db = NULL;
    char id[NPH_UUID_LEN + 1], act[NPH_UUID_LEN + 1];
    char *flavor_text = NULL, *meta_text = NULL, *tags_text = NULL;
    const char *ip4 = NULL, *ip6 = NULL;
    char ip4_buf[INET6_ADDRSTRLEN], ip6_buf[INET6_ADDRSTRLEN];
    int64_t now = nph_clock_now(), quota_count = 1;
    if (nph_json_get_int(spec, "quota_count", "server.quota_count", 0, &quota_count, err) < 0 ||
        access_ip_get(spec, "access_ipv4", AF_INET, ip4_buf, &ip4, err) ||
        access_ip_get(spec, "access_ipv6", AF_INET6, ip6_buf, &ip6, err))
        return NULL;
    if (quota_count < 1)
        quota_count = 1;
    if (nph_json_get_str(spec, "name", "server.name", 1, 255, &name, err) < 0 ||
        nph_json_get_str(spec, "flavor_id", "server.flavorRef", 1, 255, &flavor_id, err) < 0 ||
        nph_json_get_str(spec, "image_id", "server.imageRef", 0, 255, &image_id, err) < 0 ||
        nph_json_get_str(spec, "key_name", "server.key_name", 0, 255, &key, err) < 0 ||
        nph_json_get_str(spec, "availability_zone", "server.availability_zone", 0, 255, &az, err) <
            0 ||
        nph_json_get_str(spec, "description", "server.description", 0, 255, &desc, err) < 0 ||
        nph_json_get_str(spec, "user_data", "server.user_data", 0, 65535, &user_data, err) < 0)
        return NULL;
    if (!*name || name[0] == ' ' || name[strlen(name) - 1] == ' ') {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input for field/attribute name: leading or trailing whitespace, or "
                      "empty");
        return NULL;
    }
    if (az && *az && strcmp(az, "nova") != 0) {
        nph_error_set(err, NPH_E_INVALID, "The requested availability zone is not available");
        return NULL;
    }
    meta = json_object_get(spec, "metadata");
    if (meta && check_meta(meta, err))
        return NULL;
    tags = json_object_get(spec, "tags");
    if (tags && check_tags(tags, err))
        return NULL;
    if (image_id && !*image_id)
        image_id = NULL;
    if (image_id) {
        if (!lc->image_locate) {
            nph_error_set(err, NPH_E_INVALID, "Image %s could not be found.", image_id);
            return NULL;
        }
        if (lc->image_locate(lc->image_ctx, image_id, c->project_id, c->is_admin, &img, err)) {
            if (err && err->code == NPH_E_NOT_FOUND)
                nph_error_set(err, NPH_E_INVALID, "Image %s could not be found.", image_id);
            else if (err && err->code == NPH_E_CONFLICT)
                nph_error_set(err, NPH_E_INVALID, "Image %s is not active.", image_id);
            return NULL;
        }
    } else if (lc->image_locate) {
        nph_error_set(err, NPH_E_INVALID,
                      "Block Device Mapping is Invalid: Boot sequence for the instance and "
                      "image/block device mapping combination is not valid.");
        return NULL;
    }
    if (!(db = cmp_db(lc, err)))
        return NULL;
    flavor = local_compute_flavor_get(lc, c, flavor_id, err);
    if (!flavor) {
        if (err && err->code == NPH_E_NOT_FOUND)
            nph_error_set(err, NPH_E_INVALID, "Flavor %s could not be found.", flavor_id);
        goto cleanup;
    }
    if (image_id && SI(flavor, "disk") > 0 &&
        ((img.min_disk_gb > SI(flavor, "disk")) ||
         img.size > SI(flavor, "disk") * 1024LL * 1024 * 1024)) {
        nph_error_set(err, NPH_E_INVALID, "Flavor's disk is too small for requested image.");
        goto cleanup;
    }
    if (image_id && img.min_ram_mb > SI(flavor, "ram")) {
        nph_error_set(err, NPH_E_INVALID, "Flavor's memory is too small for requested image.");
        goto cleanup;
    }
    if (key) {
        json_t *kp = local_compute_keypair_get(lc, c->user_id, key, err);
        if (!kp) {
            if (err && err->code == NPH_E_NOT_FOUND)
                nph_error_set(err, NPH_E_INVALID, "Invalid key_name provided.");
            goto cleanup;
        }
        json_decref(kp);
    }
    json_object_del(flavor, "is_public");
    json_object_del(flavor, "description");
    flavor_text = cmp_json_dump(flavor);
    meta_text = meta ? cmp_json_dump(meta) : strdup("{}");
    tags_text = tags ? cmp_json_dump(tags) : strdup("[]");
    if (!flavor_text || !meta_text || !tags_text) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (nph_uuid4(id)) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        goto cleanup;
    }
    if (nph_db_begin(db, err) ||
        cmp_quota_check(db, c->project_id, quota_count, quota_count * SI(flavor, "vcpus"),
                        quota_count * SI(flavor, "ram"), err))
        goto cleanup;
    if (nph_db_execf(
            db, err,
            "INSERT INTO compute_server (id, name, project_id, user_id, vm_state, task_state,"
            " power_state, flavor_id, flavor, vcpus, ram_mb, image_id, key_name,"
            " availability_zone, description, metadata, tags, user_data, host, created_at,"
            " updated_at, access_ipv4, access_ipv6) VALUES (?, ?, ?, ?, 'building',"
            " 'spawning', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "ssssssiissssssssiiss", id, name, c->project_id, c->user_id ? c->user_id : "",
            S(flavor, "id"), flavor_text, (int64_t)SI(flavor, "vcpus"), (int64_t)SI(flavor, "ram"),
            image_id, key, "nova", desc, meta_text, tags_text, user_data, "nephele", now, now, ip4,
            ip6) < 0)
        goto cleanup;
    out = server_load(db, NULL, id, 0, err);
    if (!out || action_start(db, c, out, "create", 0, act, err) || nph_db_commit(db, err)) {
        json_decref(out);
        out = NULL;
        goto cleanup;
    }
    if (cmp_queue(lc, CMP_JOB_BUILD, id, act, err)) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (db)
        nph_db_rollback(db, NULL);
    free(flavor_text);
    free(meta_text);
    free(tags_text);
    json_decref(flavor);
    nph_store_release(db);
    return out;
}

/* Sorted (uuid, power) pairs of every domain, for lists. */
struct dom_state {
    unsigned char uuid[VIR_UUID_BUFLEN]; /* raw: formatting 100 UUIDs per list is measurable */
    int power;
};

static int dom_cmp(const void *a, const void *b)
{
    return memcmp(((const struct dom_state *)a)->uuid, ((const struct dom_state *)b)->uuid,
                  VIR_UUID_BUFLEN);
}

/* Parse "6f0e1c8e-3f2a-..." into 16 bytes; -1 if it is not a UUID. */
static int uuid_parse(const char *s, unsigned char out[VIR_UUID_BUFLEN])
{
    int n = 0;
    for (const char *p = s; *p && n < 2 * VIR_UUID_BUFLEN; p++) {
        int v;
        if (*p == '-')
            continue;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            return -1;
        if (n % 2 == 0)
            out[n / 2] = (unsigned char)(v << 4);
        else
            out[n / 2] |= (unsigned char)v;
        n++;
    }
    return n == 2 * VIR_UUID_BUFLEN ? 0 : -1;
}

static struct dom_state *list_domains(struct local_compute *lc, int *n)
{
    virConnectPtr conn = cmp_conn(lc, NULL);
    virDomainPtr *doms = NULL;
    struct dom_state *out;
    int cnt;
    *n = -1;
    if (!conn || (cnt = virConnectListAllDomains(conn, &doms, 0)) < 0)
        return NULL;
    out = calloc((size_t)cnt + 1, sizeof(*out));
    for (int i = 0; i < cnt; i++) {
        int state = 0, reason = 0;
        if (out) {
            virDomainGetUUID(doms[i], out[i].uuid);
            virDomainGetState(doms[i], &state, &reason, 0);
            out[i].power =
                state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED      ? PWR_RUNNING
                : state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_PMSUSPENDED ? PWR_PAUSED
                : state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_SHUTDOWN   ? PWR_SHUTDOWN
                : state == VIR_DOMAIN_CRASHED                                   ? PWR_CRASHED
                                                                                : PWR_NOSTATE;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (out) {
        qsort(out, (size_t)cnt, sizeof(*out), dom_cmp);
        *n = cnt;
    }
    return out;
}

/* A copy of the domain snapshot (see compute_internal.h), refreshed as needed. *n = -1 and
 * NULL when libvirt cannot be asked. */
static struct dom_state *all_domains(struct local_compute *lc, int *n)
{
    struct dom_state *out = NULL;
    unsigned gen = __atomic_load_n(&lc->dom_gen, __ATOMIC_ACQUIRE);
    int64_t now = nph_clock_mono();
    pthread_mutex_lock(&lc->snap_lock);
    if (!lc->snap || lc->snap_gen != gen || now - lc->snap_mono > CMP_DOMAIN_SNAPSHOT_US) {
        int cnt;
        struct dom_state *fresh = list_domains(lc, &cnt);
        if (fresh) {
            free(lc->snap);
            lc->snap = fresh;
            lc->snap_n = cnt;
            lc->snap_mono = now;
            lc->snap_gen = gen;
        } else {
            free(lc->snap);
            lc->snap = NULL;
        }
    }
    *n = -1;
    if (lc->snap && (out = malloc(((size_t)lc->snap_n + 1) * sizeof(*out)))) {
        memcpy(out, lc->snap, (size_t)lc->snap_n * sizeof(*out));
        *n = lc->snap_n;
    }
    pthread_mutex_unlock(&lc->snap_lock);
    return out;
}

json_t *local_compute_server_list(struct local_compute *lc, const struct local_compute_caller *c,
                                  const struct local_compute_server_filter *f,
                                  struct nph_error *err)
{
    struct nph_db *db;
    struct nph_stmt *st = NULL;
    json_t *rows = NULL, *out = NULL;
    regex_t re;
    int have_re = 0, rc, n_dom = -1, marker_found;
    struct dom_state *doms = NULL;
    const char *project = NULL;
    char sql[1024];
    size_t i;
    json_t *s;
    if (f->name_regex) {
        if (strlen(f->name_regex) > 255 || regcomp(&re, f->name_regex, REG_EXTENDED | REG_NOSUB)) {
            nph_error_set(err, NPH_E_INVALID, "Invalid regular expression for 'name'");
            return NULL;
        }
        have_re = 1;
    }
    if (!(db = cmp_db(lc, err)))
        goto cleanup;
    if (!c->is_admin || !f->all_projects)
        project = c->project_id;
    else if (f->project_id)
        project = f->project_id;
    snprintf(sql, sizeof(sql),
             SERVER_COLS " WHERE project_id = COALESCE(?, project_id) AND (deleted = ? OR ? = 1)"
                         " AND updated_at >= ? ORDER BY created_at DESC, id DESC");
    {
        int64_t want_deleted = c->is_admin && f->deleted ? 1 : 0;
        int64_t any_deleted = f->changes_since && !want_deleted ? 1 : 0;
        rc = nph_db_queryf(db, err, &st, sql, "siii", project, want_deleted, any_deleted,
                           f->changes_since);
    }
    rows = json_array();
    while (rc == 1) {
        json_array_append_new(rows, server_row(st));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0)
        goto cleanup;
    if (json_array_size(rows))
        doms = all_domains(lc, &n_dom);
    out = json_array();
    marker_found = f->marker == NULL;
    json_array_foreach(rows, i, s)
    {
        if (!marker_found) {
            if (strcmp(S(s, "id"), f->marker) == 0)
                marker_found = 1;
            continue;
        }
        if (n_dom >= 0) {
            struct dom_state key, *hit = NULL;
            if (uuid_parse(S(s, "id"), key.uuid) == 0)
                hit = bsearch(&key, doms, (size_t)n_dom, sizeof(*doms), dom_cmp);
            reconcile(lc, db, s, hit ? hit->power : -1);
        }
        if (have_re && regexec(&re, S(s, "name"), 0, NULL, 0) != 0)
            continue;
        if (f->status && strcasecmp(f->status, S(s, "status")) != 0)
            continue;
        if (f->flavor_id && strcmp(f->flavor_id, S(s, "flavor_id")) != 0)
            continue;
        if (f->image_id && (!S(s, "image_id") || strcmp(f->image_id, S(s, "image_id")) != 0))
            continue;
        if (f->limit > 0 && (int)json_array_size(out) >= f->limit)
            break;
        json_array_append(out, s);
    }
    if (!marker_found) {
        nph_error_set(err, NPH_E_INVALID, "marker [%s] not found", f->marker);
        json_decref(out);
        out = NULL;
    }
cleanup:
    free(doms);
    json_decref(rows);
    nph_store_release(db);
    if (have_re)
        regfree(&re);
    return out;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int local_compute_list_stamp(struct local_compute *lc, const struct local_compute_caller *c,
                             const struct local_compute_server_filter *f, uint64_t *stamp,
                             struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st;
    const char *project = NULL;
    struct dom_state *doms;
    int64_t v[2] = {0, 0};
    uint64_t h = 0xcbf29ce484222325ULL;
    int rc, n = -1;
    if (!db)
        return -1;
    if (!c->is_admin || !f->all_projects)
        project = c->project_id;
    else if (f->project_id)
        project = f->project_id;
    rc = nph_db_queryf(db, err, &st,
                       "SELECT COUNT(*), MAX(updated_at) FROM compute_server"
                       " WHERE project_id = COALESCE(?, project_id)",
                       "s", project);
    if (rc == 1) {
        v[0] = nph_stmt_col_int64(st, 0);
        v[1] = nph_stmt_col_int64(st, 1);
        nph_stmt_done(st);
    }
    nph_store_release(db);
    if (rc < 0)
        return -1;
    h = fnv1a(h, v, sizeof(v));
    doms = v[0] ? all_domains(lc, &n) : NULL;
    h = fnv1a(h, &n, sizeof(n));
    for (int i = 0; i < n; i++) {
        h = fnv1a(h, doms[i].uuid, sizeof(doms[i].uuid));
        h = fnv1a(h, &doms[i].power, sizeof(doms[i].power));
    }
    free(doms);
    *stamp = h;
    return 0;
}

json_t *local_compute_server_update(struct local_compute *lc, const struct local_compute_caller *c,
                                    const char *id, const json_t *attrs, struct nph_error *err)
{
    const char *name = NULL, *desc = NULL, *ip4 = NULL, *ip6 = NULL;
    char ip4_buf[INET6_ADDRSTRLEN], ip6_buf[INET6_ADDRSTRLEN];
    json_t *s = NULL, *dv = json_object_get(attrs, "description");
    struct nph_db *db;
    if (nph_json_get_str(attrs, "name", "server.name", 0, 255, &name, err) < 0 ||
        access_ip_get(attrs, "access_ipv4", AF_INET, ip4_buf, &ip4, err) ||
        access_ip_get(attrs, "access_ipv6", AF_INET6, ip6_buf, &ip6, err))
        return NULL;
    if (dv && !json_is_null(dv) &&
        nph_json_get_str(attrs, "description", "server.description", 0, 255, &desc, err) < 0)
        return NULL;
    if (name && (!*name || name[0] == ' ' || name[strlen(name) - 1] == ' ')) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute name");
        return NULL;
    }
    if (!(db = cmp_db(lc, err)))
        return NULL;
    s = server_load(db, c, id, 0, err);
    if (!s)
        goto cleanup;
    json_decref(s);
    s = NULL;
    if (nph_db_execf(
            db, err,
            "UPDATE compute_server SET name = COALESCE(?, name), description = CASE WHEN ? = 1"
            " THEN ? ELSE description END, access_ipv4 = COALESCE(?, access_ipv4),"
            " access_ipv6 = COALESCE(?, access_ipv6), updated_at = ? WHERE id = ?",
            "sisssis", name, (int64_t)(dv != NULL), desc, ip4, ip6, nph_clock_now(), id) < 0)
        goto cleanup;
    nph_store_release(db);
    return local_compute_server_get(lc, c, id, err);
cleanup:
    nph_store_release(db);
    return s;
}

int local_compute_server_delete(struct local_compute *lc, const struct local_compute_caller *c,
                                const char *id, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *s = NULL;
    char act[NPH_UUID_LEN + 1];
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err) || !(s = server_load(db, c, id, 0, err)))
        goto cleanup;
    if (json_is_true(json_object_get(s, "locked")) && !c->is_admin) {
        nph_error_set(err, NPH_E_CONFLICT, "Instance %s is locked", id);
        goto cleanup;
    }
    if (S(s, "task_state") && strcmp(S(s, "task_state"), "deleting") == 0) {
        rc = 0; /* already on its way */
        goto cleanup;
    }
    if (nph_db_execf(
            db, err,
            "UPDATE compute_server SET task_state = 'deleting', updated_at = ? WHERE id = ?", "is",
            nph_clock_now(), id) < 0 ||
        action_start(db, c, s, "delete", 0, act, err) || nph_db_commit(db, err))
        goto cleanup;
    rc = cmp_queue(lc, CMP_JOB_DELETE, id, act, err);
cleanup:
    nph_db_rollback(db, NULL);
    json_decref(s);
    nph_store_release(db);
    return rc;
}

static const char *action_api_name(enum local_compute_action a)
{
    static const char *const names[] = {"os-start", "os-stop",       "reboot",       "reboot",
                                        "resize",   "confirmResize", "revertResize", "rebuild",
                                        "lock",     "unlock"};
    return names[a];
}

static const char *action_record_name(enum local_compute_action a)
{
    static const char *const names[] = {"start",  "stop",          "reboot",       "reboot",
                                        "resize", "confirmResize", "revertResize", "rebuild",
                                        "lock",   "unlock"};
    return names[a];
}

static int state_in(const char *vm, const char *list)
{
    size_t n = strlen(vm);
    for (const char *p = list; (p = strstr(p, vm)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

int local_compute_server_action(struct local_compute *lc, const struct local_compute_caller *c,
                                const char *id, enum local_compute_action a, const char *arg,
                                struct nph_error *err)
{
    static const struct {
        const char *states; /* allowed vm_states */
        const char *task;   /* task set; NULL = done at once */
        enum cmp_job_kind job;
    } rules[] = {
        [LC_ACT_START] = {"stopped", "powering-on", CMP_JOB_START},
        [LC_ACT_STOP] = {"active,error", "powering-off", CMP_JOB_STOP},
        [LC_ACT_REBOOT_SOFT] = {"active", "rebooting", CMP_JOB_REBOOT_SOFT},
        [LC_ACT_REBOOT_HARD] = {"active,stopped,error", "rebooting_hard", CMP_JOB_REBOOT_HARD},
        [LC_ACT_RESIZE] = {"active,stopped", "resize_prep", CMP_JOB_RESIZE},
        [LC_ACT_CONFIRM_RESIZE] = {"resized", NULL, CMP_JOB_CONFIRM},
        [LC_ACT_REVERT_RESIZE] = {"resized", "resize_reverting", CMP_JOB_REVERT},
        [LC_ACT_REBUILD] = {"active,stopped,error", "rebuilding", CMP_JOB_REBUILD},
        [LC_ACT_LOCK] = {"building,active,stopped,resized,error", NULL, CMP_JOB_CONFIRM},
        [LC_ACT_UNLOCK] = {"building,active,stopped,resized,error", NULL, CMP_JOB_CONFIRM},
    };
    struct nph_db *db = cmp_db(lc, err);
    json_t *s = NULL, *newf = NULL, *oldf = NULL;
    char act[NPH_UUID_LEN + 1];
    char *newf_text = NULL, *oldf_text = NULL;
    const char *vm, *task;
    int rc = -1;
    int64_t now = nph_clock_now();
    if (!db)
        return -1;
    if ((unsigned)a > LC_ACT_UNLOCK) {
        nph_store_release(db);
        return nph_error_set(err, NPH_E_INVALID, "unknown action");
    }
    if (nph_db_begin(db, err) || !(s = server_load(db, c, id, 0, err)))
        goto cleanup;
    vm = S(s, "vm_state");
    task = S(s, "task_state");
    if (a != LC_ACT_UNLOCK && a != LC_ACT_LOCK && json_is_true(json_object_get(s, "locked")) &&
        !c->is_admin) {
        nph_error_set(err, NPH_E_CONFLICT, "Instance %s is locked", id);
        goto cleanup;
    }
    if (a != LC_ACT_LOCK && a != LC_ACT_UNLOCK && task) {
        nph_error_set(err, NPH_E_CONFLICT, "Cannot '%s' instance %s while it is in task_state %s",
                      action_api_name(a), id, task);
        goto cleanup;
    }
    if (!state_in(vm, rules[a].states)) {
        nph_error_set(err, NPH_E_CONFLICT, "Cannot '%s' instance %s while it is in vm_state %s",
                      action_api_name(a), id, vm);
        goto cleanup;
    }
    switch (a) {
    case LC_ACT_LOCK:
    case LC_ACT_UNLOCK:
        if (nph_db_execf(db, err,
                         "UPDATE compute_server SET locked = ?, locked_reason = ?, updated_at = ?"
                         " WHERE id = ?",
                         "isis", (int64_t)(a == LC_ACT_LOCK), a == LC_ACT_LOCK ? arg : NULL, now,
                         id) < 0 ||
            action_start(db, c, s, action_record_name(a), 1, act, err) || nph_db_commit(db, err))
            goto cleanup;
        rc = 0;
        goto cleanup;
    case LC_ACT_CONFIRM_RESIZE: {
        json_t *of = json_object_get(s, "old_flavor");
        const char *back = json_is_true(json_object_get(of, "was_running")) ? "active" : "stopped";
        if (nph_db_execf(db, err,
                         "UPDATE compute_server SET vm_state = ?, old_flavor = NULL, updated_at = ?"
                         " WHERE id = ? AND vm_state = 'resized' AND task_state IS NULL",
                         "sis", back, now, id) < 0 ||
            action_start(db, c, s, "confirmResize", 1, act, err) || nph_db_commit(db, err))
            goto cleanup;
        rc = 0;
        goto cleanup;
    }
    case LC_ACT_RESIZE: {
        json_t *curf = json_object_get(s, "flavor");
        if (!arg) {
            nph_error_set(err, NPH_E_INVALID, "'flavorRef' is a required property");
            goto cleanup;
        }
        newf = local_compute_flavor_get(lc, c, arg, err);
        if (!newf) {
            if (err && err->code == NPH_E_NOT_FOUND)
                nph_error_set(err, NPH_E_INVALID, "Flavor %s could not be found.", arg);
            goto cleanup;
        }
        if (strcmp(S(newf, "id"), S(curf, "id")) == 0) {
            nph_error_set(err, NPH_E_INVALID, "When resizing, instances must change flavor!");
            goto cleanup;
        }
        if (SI(newf, "disk") < SI(curf, "disk")) {
            nph_error_set(err, NPH_E_INVALID, "Resize error: Unable to resize disk down.");
            goto cleanup;
        }
        if (cmp_quota_check(db, S(s, "project_id"), 0, SI(newf, "vcpus") - SI(curf, "vcpus"),
                            SI(newf, "ram") - SI(curf, "ram"), err))
            goto cleanup;
        json_object_del(newf, "is_public");
        json_object_del(newf, "description");
        oldf = json_pack("{s:O,s:b}", "flavor", curf, "was_running", strcmp(vm, "active") == 0);
        newf_text = cmp_json_dump(newf);
        oldf_text = cmp_json_dump(oldf);
        if (!newf_text || !oldf_text ||
            nph_db_execf(db, err,
                         "UPDATE compute_server SET task_state = 'resize_prep', flavor_id = ?,"
                         " flavor = ?, old_flavor = ?, vcpus = ?, ram_mb = ?, updated_at = ?"
                         " WHERE id = ?",
                         "sssiiis", S(newf, "id"), newf_text, oldf_text, (int64_t)SI(newf, "vcpus"),
                         (int64_t)SI(newf, "ram"), now, id) < 0)
            goto cleanup;
        break;
    }
    case LC_ACT_REBUILD:
        if (arg && *arg) {
            struct local_image_ref img;
            if (!lc->image_locate ||
                lc->image_locate(lc->image_ctx, arg, c->project_id, c->is_admin, &img, err)) {
                nph_error_set(err, NPH_E_INVALID, "Image %s could not be found.", arg);
                goto cleanup;
            }
            if (nph_db_execf(db, err, "UPDATE compute_server SET image_id = ? WHERE id = ?", "ss",
                             arg, id) < 0)
                goto cleanup;
        }
        /* fall through */
    default:
        if (nph_db_execf(db, err,
                         "UPDATE compute_server SET task_state = ?, updated_at = ? WHERE id = ?",
                         "sis", rules[a].task, now, id) < 0)
            goto cleanup;
        break;
    }
    if (action_start(db, c, s, action_record_name(a), 0, act, err) || nph_db_commit(db, err))
        goto cleanup;
    rc = cmp_queue(lc, rules[a].job, id, act, err);
cleanup:
    nph_db_rollback(db, NULL);
    free(newf_text);
    free(oldf_text);
    json_decref(newf);
    json_decref(oldf);
    json_decref(s);
    nph_store_release(db);
    return rc;
}

int local_compute_server_snapshot(struct local_compute *lc, const struct local_compute_caller *c,
                                  const char *id, const char *image_id,
                                  const struct local_compute_image_sink *sink,
                                  struct nph_error *err)
{
    struct nph_db *db;
    json_t *s = NULL;
    char act[NPH_UUID_LEN + 1];
    const char *vm, *task;
    int rc = -1;
    if (!image_id || !*image_id || strlen(image_id) > NPH_UUID_LEN || !sink || !sink->store)
        return nph_error_set(err, NPH_E_INVALID, "a snapshot needs an image and a sink");
    if (!(db = cmp_db(lc, err)))
        return -1;
    if (nph_db_begin(db, err) || !(s = server_load(db, c, id, 0, err)))
        goto cleanup;
    vm = S(s, "vm_state");
    task = S(s, "task_state");
    if (json_is_true(json_object_get(s, "locked")) && !c->is_admin) {
        nph_error_set(err, NPH_E_CONFLICT, "Instance %s is locked", id);
        goto cleanup;
    }
    if (task) {
        nph_error_set(err, NPH_E_CONFLICT,
                      "Cannot 'createImage' instance %s while it is in task_state %s", id, task);
        goto cleanup;
    }
    if (!state_in(vm, "active,stopped")) {
        nph_error_set(err, NPH_E_CONFLICT,
                      "Cannot 'createImage' instance %s while it is in vm_state %s", id, vm);
        goto cleanup;
    }
    if (nph_db_execf(db, err,
                     "UPDATE compute_server SET task_state = 'image_snapshot', updated_at = ?"
                     " WHERE id = ? AND task_state IS NULL",
                     "is", nph_clock_now(), id) != 1) {
        if (err && err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "Instance %s changed meanwhile", id);
        goto cleanup;
    }
    if (action_start(db, c, s, "createImage", 0, act, err) || nph_db_commit(db, err))
        goto cleanup;
    rc = cmp_queue_snapshot(lc, id, act, image_id, sink, err);
cleanup:
    nph_db_rollback(db, NULL);
    json_decref(s);
    nph_store_release(db);
    return rc;
}

/* Read-modify-write of a JSON column of a visible server. */
static json_t *column_change(struct local_compute *lc, const struct local_compute_caller *c,
                             const char *id, const char *column,
                             int (*change)(json_t *cur, void *ctx, struct nph_error *err),
                             void *ctx, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *s = NULL, *cur, *out = NULL;
    char *text = NULL, sql[160];
    if (!db)
        return NULL;
    if (nph_db_begin(db, err) || !(s = server_load(db, c, id, 0, err)))
        goto cleanup;
    if (json_is_true(json_object_get(s, "locked")) && !c->is_admin) {
        nph_error_set(err, NPH_E_CONFLICT, "Instance %s is locked", id);
        goto cleanup;
    }
    cur = json_object_get(s, column);
    if (change(cur, ctx, err))
        goto cleanup;
    snprintf(sql, sizeof(sql), "UPDATE compute_server SET %s = ?, updated_at = ? WHERE id = ?",
             column);
    if (!(text = cmp_json_dump(cur)) ||
        nph_db_execf(db, err, sql, "sis", text, nph_clock_now(), id) < 0 || nph_db_commit(db, err))
        goto cleanup;
    out = json_incref(cur);
cleanup:
    nph_db_rollback(db, NULL);
    free(text);
    json_decref(s);
    nph_store_release(db);
    return out;
}

struct meta_ctx {
    const json_t *meta;
    int replace;
    const char *del;
};

static int meta_change(json_t *cur, void *p, struct nph_error *err)
{
    struct meta_ctx *m = p;
    if (m->del) {
        if (json_object_del(cur, m->del) != 0)
            return nph_error_set(err, NPH_E_NOT_FOUND, "Metadata item was not found");
        return 0;
    }
    if (m->replace)
        json_object_clear(cur);
    json_object_update(cur, (json_t *)m->meta);
    if (json_object_size(cur) > 128)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "Quota exceeded for metadata_items: the limit is 128");
    return 0;
}

json_t *local_compute_server_metadata(struct local_compute *lc,
                                      const struct local_compute_caller *c, const char *id,
                                      const json_t *meta, int replace, struct nph_error *err)
{
    struct meta_ctx m = {meta, replace, NULL};
    if (check_meta(meta, err))
        return NULL;
    return column_change(lc, c, id, "metadata", meta_change, &m, err);
}

int local_compute_server_metadata_delete(struct local_compute *lc,
                                         const struct local_compute_caller *c, const char *id,
                                         const char *key, struct nph_error *err)
{
    struct meta_ctx m = {NULL, 0, key};
    json_t *r = column_change(lc, c, id, "metadata", meta_change, &m, err);
    json_decref(r);
    return r ? 0 : -1;
}

struct tag_ctx {
    const json_t *tags;
    const char *add, *remove;
    int clear;
};

static int tag_change(json_t *cur, void *p, struct nph_error *err)
{
    struct tag_ctx *t = p;
    size_t i;
    json_t *v;
    if (t->tags || t->clear) {
        json_array_clear(cur);
        if (t->tags)
            json_array_extend(cur, (json_t *)t->tags);
        return 0;
    }
    json_array_foreach(cur, i, v)
    {
        const char *s = json_string_value(v);
        if (t->add && strcmp(s, t->add) == 0)
            return 0;
        if (t->remove && strcmp(s, t->remove) == 0)
            return json_array_remove(cur, i);
    }
    if (t->remove)
        return nph_error_set(err, NPH_E_NOT_FOUND, "Tag %s could not be found.", t->remove);
    if (json_array_size(cur) >= 50)
        return nph_error_set(err, NPH_E_INVALID, "a server has at most 50 tags");
    return json_array_append_new(cur, json_string(t->add));
}

json_t *local_compute_server_tags(struct local_compute *lc, const struct local_compute_caller *c,
                                  const char *id, const json_t *tags, const char *add,
                                  const char *remove, int clear, struct nph_error *err)
{
    struct tag_ctx t = {tags, add, remove, clear};
    if (tags && check_tags(tags, err))
        return NULL;
    if (add) {
        json_t *one = json_pack("[s]", add);
        int bad = check_tags(one, err);
        json_decref(one);
        if (bad)
            return NULL;
    }
    return column_change(lc, c, id, "tags", tag_change, &t, err);
}

static void console_path(struct local_compute *lc, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/console/%s.log", lc->data_dir, id);
}

char *local_compute_console_output(struct local_compute *lc, const struct local_compute_caller *c,
                                   const char *id, int lines, struct nph_error *err)
{
    json_t *s = local_compute_server_get(lc, c, id, err);
    char path[4096];
    FILE *f;
    char *buf = NULL, *start;
    long size;
    if (!s)
        return NULL;
    json_decref(s);
    console_path(lc, id, path, sizeof(path));
    f = lc->is_test ? NULL : fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    if (size > 1024 * 1024) /* the tail is what a user wants */
        fseek(f, size - 1024 * 1024, SEEK_SET), size = 1024 * 1024;
    else
        fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        nph_error_nomem(err);
        return NULL;
    }
    size = (long)fread(buf, 1, (size_t)size, f);
    fclose(f);
    buf[size] = '\0';
    for (long i = 0; i < size; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
    start = buf;
    if (lines > 0) {
        int seen = 0;
        for (long i = size - 1; i >= 0; i--) {
            if (buf[i] == '\n' && i != size - 1 && ++seen == lines) {
                start = buf + i + 1;
                break;
            }
        }
    }
    if (start != buf)
        memmove(buf, start, strlen(start) + 1);
    return buf;
}

static json_t *action_row(struct nph_stmt *st)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "action", nph_stmt_col_text(st, 0),
                     "instance_uuid", nph_stmt_col_text(st, 1), "request_id",
                     nph_stmt_col_text(st, 2), "user_id", nph_stmt_col_text(st, 3), "project_id",
                     nph_stmt_col_text(st, 4), "start_time",
                     cmp_time_json(nph_stmt_col_int64(st, 5)), "finish_time",
                     cmp_time_json(nph_stmt_col_int64(st, 6)), "message",
                     nstr(nph_stmt_col_text(st, 7)), "result", nstr(nph_stmt_col_text(st, 8)));
}

#define ACTION_COLS                                                                                \
    "SELECT action, server_id, request_id, user_id, project_id, start_time, finish_time,"          \
    " message, result FROM compute_action"

json_t *local_compute_actions_list(struct local_compute *lc, const struct local_compute_caller *c,
                                   const char *server_id, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st = NULL;
    json_t *s, *out = NULL;
    int rc;
    if (!db)
        return NULL;
    if (!(s = server_load(db, c, server_id, 1, err)))
        goto cleanup;
    json_decref(s);
    out = json_array();
    rc =
        nph_db_queryf(db, err, &st, ACTION_COLS " WHERE server_id = ? ORDER BY start_time DESC, id",
                      "s", server_id);
    while (rc == 1) {
        json_array_append_new(out, action_row(st));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    nph_store_release(db);
    return out;
}

json_t *local_compute_action_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *server_id, const char *request_id,
                                 struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st;
    json_t *s, *out = NULL;
    int rc;
    if (!db)
        return NULL;
    if (!(s = server_load(db, c, server_id, 1, err)))
        goto cleanup;
    json_decref(s);
    rc = nph_db_queryf(db, err, &st, ACTION_COLS " WHERE server_id = ? AND request_id = ?", "ss",
                       server_id, request_id);
    if (rc == 1) {
        out = action_row(st);
        nph_stmt_done(st);
        json_object_set_new(out, "events",
                            json_pack("[{s:s,s:O,s:O,s:O}]", "event", "compute_", "start_time",
                                      json_object_get(out, "start_time"), "finish_time",
                                      json_object_get(out, "finish_time"), "result",
                                      json_object_get(out, "result")));
        {
            json_t *ev = json_array_get(json_object_get(out, "events"), 0);
            char name[64];
            snprintf(name, sizeof(name), "compute_%s", S(out, "action"));
            json_object_set_new(ev, "event", json_string(name));
        }
    } else if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Action for request_id %s on instance %s not found",
                      request_id, server_id);
    }
cleanup:
    nph_store_release(db);
    return out;
}
