/*
 * volume_attach.c - attaching volumes to servers and detaching them, through the hook the
 * broker wires to local_compute (struct local_volume_attach_hook). The status moves first
 * (available -> attaching, in-use -> detaching) in its own transaction, so a second request
 * for the same volume is refused while libvirt works; the outcome is recorded afterwards (the
 * attachment and in-use, or back to available; available, or back to in-use).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "volume_internal.h"

static int set_status(struct nph_db *db, const char *id, const char *from_list, const char *to,
                      struct nph_error *err)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE volume_volume SET status = ?, updated_at = ? WHERE id = ? AND status IN (%s)",
             from_list);
    return (int)nph_db_execf(db, err, sql, "sis", to, nph_clock_now(), id);
}

int local_volume_reserve(struct local_volume *lv, const struct local_volume_caller *c,
                         const char *id, int reserve, struct nph_error *err)
{
    json_t *v = local_volume_get(lv, c, id, err);
    struct nph_db *db;
    int n;
    if (!v)
        return -1;
    json_decref(v);
    if (!(db = vol_db(lv, err)))
        return -1;
    n = reserve ? set_status(db, id, "'available'", "attaching", err)
                : set_status(db, id, "'attaching'", "available", err);
    nph_store_release(db);
    if (n == 0)
        return nph_error_set(err, NPH_E_INVALID,
                             reserve ? "Invalid volume: Volume status must be available to "
                                       "reserve."
                                     : "Invalid volume: Unable to unreserve volume: it is not "
                                       "attaching.");
    return n < 0 ? -1 : 0;
}

/* The targets in use on a server (by attachments), into a fixed array. */
static int targets_used(struct nph_db *db, const char *server_id, char used[24][16], int *n,
                        struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    int rc = nph_db_queryf(db, err, &st, "SELECT device FROM volume_attachment WHERE server_id = ?",
                           "s", server_id);
    *n = 0;
    while (rc == 1) {
        if (*n < 24)
            snprintf(used[(*n)++], 16, "%s", nph_stmt_col_text(st, 0));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

json_t *local_volume_attach(struct local_volume *lv, const struct local_volume_caller *c,
                            const char *id, const char *server_id, const char *device,
                            struct nph_error *err)
{
    json_t *v = NULL, *out = NULL;
    struct nph_db *db = NULL;
    char used[24][16], target[16], att_id[NPH_UUID_LEN + 1], dev_path[32], *xml = NULL;
    const char *used_p[24];
    const char *status;
    int n_used = 0, moved = 0;
    if (!lv->hook.attach) {
        nph_error_set(err, NPH_E_NOT_SUPPORTED, "attaching volumes is not supported here");
        return NULL;
    }
    if (!server_id || !*server_id) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input received: an instance is required.");
        return NULL;
    }
    if (!(v = local_volume_get(lv, c, id, err)))
        return NULL;
    status = json_string_value(json_object_get(v, "status"));
    if (strcmp(status, "available") != 0 && strcmp(status, "attaching") != 0 &&
        strcmp(status, "reserved") != 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid volume: volume %s status must be available or attaching, but "
                      "current status is: %s.",
                      id, status);
        goto cleanup;
    }
    if (!(db = vol_db(lv, err)) || nph_db_begin(db, err) ||
        targets_used(db, server_id, used, &n_used, err))
        goto cleanup;
    for (int i = 0; i < n_used; i++)
        used_p[i] = used[i];
    if (device && *device) {
        const char *d = strncmp(device, "/dev/", 5) == 0 ? device + 5 : device;
        if (strlen(d) != 3 || strncmp(d, "vd", 2) != 0 || d[2] < 'b' || d[2] > 'z') {
            nph_error_set(err, NPH_E_INVALID,
                          "The supplied device path (%s) is invalid: use /dev/vdb to /dev/vdz.",
                          device);
            goto cleanup;
        }
        for (int i = 0; i < n_used; i++)
            if (strcmp(used[i], d) == 0) {
                nph_error_set(err, NPH_E_CONFLICT, "The supplied device path (%s) is in use.",
                              device);
                goto cleanup;
            }
        snprintf(target, sizeof(target), "%s", d);
    } else if (local_volume_next_target(used_p, n_used, target, sizeof(target), err)) {
        goto cleanup;
    }
    if (set_status(db, id, "'available', 'attaching', 'reserved'", "attaching", err) != 1 ||
        nph_db_commit(db, err)) {
        if (err && err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "volume '%s' changed meanwhile", id);
        goto cleanup;
    }
    moved = 1;
    xml = local_volume_disk_xml(json_string_value(json_object_get(v, "path")),
                                json_string_value(json_object_get(v, "format")), target, id,
                                json_is_true(json_object_get(v, "readonly")), err);
    if (!xml || lv->hook.attach(lv->hook.ctx, c, server_id, xml, err))
        goto cleanup;
    snprintf(dev_path, sizeof(dev_path), "/dev/%s", target);
    if (nph_uuid4(att_id) || nph_db_begin(db, err) ||
        nph_db_execf(db, err,
                     "INSERT INTO volume_attachment (id, volume_id, server_id, device, created_at)"
                     " VALUES (?, ?, ?, ?, ?)",
                     "ssssi", att_id, id, server_id, target, nph_clock_now()) < 0 ||
        set_status(db, id, "'attaching'", "in-use", err) < 0 || nph_db_commit(db, err)) {
        struct nph_error e2 = NPH_ERROR_INIT;
        lv->hook.detach(lv->hook.ctx, c, server_id, xml, &e2);
        goto cleanup;
    }
    moved = 0;
    out = json_pack("{s:s,s:s,s:s,s:s}", "id", att_id, "volume_id", id, "server_id", server_id,
                    "device", dev_path);
cleanup:
    if (db) {
        nph_db_rollback(db, NULL);
        if (moved)
            set_status(db, id, "'attaching'", "available", NULL);
    }
    nph_store_release(db);
    free(xml);
    json_decref(v);
    return out;
}

int local_volume_detach(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, const char *server_id, struct nph_error *err)
{
    json_t *v, *att, *a, *hit = NULL;
    struct nph_db *db = NULL;
    size_t i;
    char *xml = NULL;
    int rc = -1, moved = 0;
    if (!(v = local_volume_get(lv, c, id, err)))
        return -1;
    att = json_object_get(v, "attachments");
    json_array_foreach(att, i, a)
    {
        if (!server_id ||
            strcmp(json_string_value(json_object_get(a, "server_id")), server_id) == 0)
            hit = a;
    }
    if (!hit) {
        if (server_id)
            nph_error_set(err, NPH_E_NOT_FOUND, "volume %s is not attached to server %s", id,
                          server_id);
        else
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid volume: Volume must be attached in order to detach.");
        goto cleanup;
    }
    if (!lv->hook.detach) {
        nph_error_set(err, NPH_E_NOT_SUPPORTED, "detaching volumes is not supported here");
        goto cleanup;
    }
    if (!(db = vol_db(lv, err)))
        goto cleanup;
    if (set_status(db, id, "'in-use', 'detaching'", "detaching", err) != 1) {
        if (err && err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid volume: Unable to detach volume. Volume status must be "
                          "'in-use' and attach_status must be 'attached' to detach.");
        goto cleanup;
    }
    moved = 1;
    xml = local_volume_disk_xml(json_string_value(json_object_get(v, "path")),
                                json_string_value(json_object_get(v, "format")),
                                json_string_value(json_object_get(hit, "device")), id,
                                json_is_true(json_object_get(v, "readonly")), err);
    if (!xml || lv->hook.detach(lv->hook.ctx, c,
                                json_string_value(json_object_get(hit, "server_id")), xml, err))
        goto cleanup;
    if (nph_db_begin(db, err) ||
        nph_db_execf(db, err, "DELETE FROM volume_attachment WHERE id = ?", "s",
                     json_string_value(json_object_get(hit, "id"))) < 0 ||
        nph_db_execf(db, err,
                     "UPDATE volume_volume SET status = CASE WHEN EXISTS (SELECT 1 FROM"
                     " volume_attachment WHERE volume_id = ?) THEN 'in-use' ELSE 'available' END,"
                     " updated_at = ? WHERE id = ?",
                     "sis", id, nph_clock_now(), id) < 0 ||
        nph_db_commit(db, err))
        goto cleanup;
    moved = 0;
    rc = 0;
cleanup:
    if (db) {
        nph_db_rollback(db, NULL);
        if (moved)
            set_status(db, id, "'detaching'", "in-use", NULL);
    }
    nph_store_release(db);
    free(xml);
    json_decref(v);
    return rc;
}

json_t *local_volume_server_attachments(struct local_volume *lv, const char *server_id,
                                        struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct nph_stmt *st = NULL;
    json_t *arr;
    int rc;
    if (!db)
        return NULL;
    arr = json_array();
    rc = nph_db_queryf(db, err, &st,
                       "SELECT id, volume_id, device FROM volume_attachment WHERE server_id = ?"
                       " ORDER BY device",
                       "s", server_id);
    while (rc == 1) {
        char dev[32];
        snprintf(dev, sizeof(dev), "/dev/%s", nph_stmt_col_text(st, 2));
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "id", nph_stmt_col_text(st, 0),
                                             "volume_id", nph_stmt_col_text(st, 1), "server_id",
                                             server_id, "device", dev));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

int local_volume_server_gone(struct local_volume *lv, const char *server_id, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err) == 0 &&
        nph_db_execf(db, err,
                     "UPDATE volume_volume SET status = 'available', updated_at = ? WHERE id IN"
                     " (SELECT volume_id FROM volume_attachment WHERE server_id = ?) AND"
                     " status IN ('in-use', 'detaching', 'attaching')",
                     "is", nph_clock_now(), server_id) >= 0 &&
        nph_db_execf(db, err, "DELETE FROM volume_attachment WHERE server_id = ?", "s",
                     server_id) >= 0 &&
        nph_db_commit(db, err) == 0)
        rc = 0;
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}
