/*
 * volume_snapshot.c - snapshots of volumes: create (of an available volume, or of an in-use
 * one with force), show, list, update, metadata, delete. The copy itself is queued work
 * (volume_job.c); quotas "snapshots" and "gigabytes" are checked in the creating transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "volume_internal.h"

#define SCOLS                                                                                      \
    "SELECT id, volume_id, project_id, name, description, size_gb, status, metadata,"              \
    " created_at, updated_at FROM volume_snapshot"

#define T(i) nph_stmt_col_text(st, (i))

static json_t *snap_row(struct nph_stmt *st)
{
    return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:I,s:s,s:o,s:o,s:o}", "id", T(0), "volume_id", T(1),
                     "project_id", T(2), "name", T(3), "description", T(4), "size",
                     (json_int_t)nph_stmt_col_int64(st, 5), "status", T(6), "metadata",
                     vol_json_load(T(7), json_object()), "created_at",
                     vol_time_json(nph_stmt_col_int64(st, 8)), "updated_at",
                     vol_time_json(nph_stmt_col_int64(st, 9)));
}

static json_t *snap_load(struct nph_db *db, const struct local_volume_caller *c, const char *id,
                         struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *s;
    int rc = nph_db_queryf(db, err, &st, SCOLS " WHERE id = ? AND (project_id = ? OR ? = 1)", "ssi",
                           id, c->project_id ? c->project_id : "", (int64_t)c->is_admin);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Snapshot %s could not be found.", id);
        return NULL;
    }
    s = snap_row(st);
    nph_stmt_done(st);
    return s;
}

static int check_text(const json_t *v, const char *field, struct nph_error *err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) > 255)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute %s. It must be a string of at "
                             "most 255 characters.",
                             field);
    return 0;
}

json_t *local_volume_snapshot_create(struct local_volume *lv, const struct local_volume_caller *c,
                                     const json_t *spec, struct nph_error *err)
{
    const char *vol_id = json_string_value(json_object_get(spec, "volume_id"));
    const json_t *meta = json_object_get(spec, "metadata"), *force = json_object_get(spec, "force");
    char id[NPH_UUID_LEN + 1], status[32], *meta_text = NULL, project[128];
    int64_t size, now = nph_clock_now();
    int force_on = 0;
    struct nph_db *db = NULL;
    struct nph_stmt *st;
    json_t *out = NULL;
    int rc;
    if (!vol_id || !*vol_id) {
        /* Cinder looks the volume up and answers 404 */
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume None could not be found.");
        return NULL;
    }
    if (force && !json_is_null(force)) {
        const char *fs = json_string_value(force);
        if (json_is_boolean(force))
            force_on = json_is_true(force);
        else if (fs && (strcmp(fs, "true") == 0 || strcmp(fs, "True") == 0))
            force_on = 1;
        else if (!fs || (strcmp(fs, "false") != 0 && strcmp(fs, "False") != 0)) {
            nph_error_set(err, NPH_E_INVALID, "Invalid value for force: it must be a boolean.");
            return NULL;
        }
    }
    if (check_text(json_object_get(spec, "name"), "name", err) ||
        check_text(json_object_get(spec, "description"), "description", err) ||
        (meta && !json_is_null(meta) && vol_check_metadata(meta, err)))
        return NULL;
    if (nph_uuid4(id) ||
        !(meta_text = (meta && !json_is_null(meta) ? vol_json_dump(meta) : strdup("{}")))) {
        nph_error_nomem(err);
        return NULL;
    }
    if (!(db = vol_db(lv, err)) || nph_db_begin(db, err))
        goto cleanup;
    rc = nph_db_queryf(db, err, &st,
                       "SELECT size_gb, status, project_id FROM volume_volume WHERE id = ? AND"
                       " (project_id = ? OR ? = 1)",
                       "ssi", vol_id, c->project_id ? c->project_id : "", (int64_t)c->is_admin);
    if (rc <= 0) {
        if (rc == 0)
            nph_error_set(err, NPH_E_NOT_FOUND, "Volume %s could not be found.", vol_id);
        goto cleanup;
    }
    size = nph_stmt_col_int64(st, 0);
    snprintf(status, sizeof(status), "%s", T(1));
    snprintf(project, sizeof(project), "%s", T(2));
    nph_stmt_done(st);
    if (strcmp(status, "available") != 0 && !(force_on && strcmp(status, "in-use") == 0)) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid volume: Volume %s status must be available, but current status "
                      "is: %s.",
                      vol_id, status);
        goto cleanup;
    }
    if (vol_quota_check_db(db, project, 0, size, 1, err))
        goto cleanup;
    if (nph_db_execf(db, err,
                     "INSERT INTO volume_snapshot (id, volume_id, project_id, user_id, name,"
                     " description, size_gb, status, metadata, created_at, updated_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?)",
                     "ssssssisii", id, vol_id, project, c->user_id ? c->user_id : "",
                     json_string_value(json_object_get(spec, "name")),
                     json_string_value(json_object_get(spec, "description")), size, meta_text, now,
                     now) < 0 ||
        nph_db_commit(db, err) || vol_queue(lv, VOL_JOB_SNAP_CREATE, id, err))
        goto cleanup;
    out = snap_load(db, c, id, err);
cleanup:
    if (db)
        nph_db_rollback(db, NULL);
    nph_store_release(db);
    free(meta_text);
    return out;
}

json_t *local_volume_snapshot_get(struct local_volume *lv, const struct local_volume_caller *c,
                                  const char *id, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    json_t *s;
    if (!db)
        return NULL;
    s = snap_load(db, c, id, err);
    nph_store_release(db);
    return s;
}

json_t *local_volume_snapshot_list(struct local_volume *lv, const struct local_volume_caller *c,
                                   const char *name, const char *status, const char *volume_id,
                                   int all_projects, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct nph_stmt *st = NULL;
    const char *proj = c->is_admin && all_projects ? NULL : (c->project_id ? c->project_id : "");
    json_t *arr;
    int rc;
    if (!db)
        return NULL;
    arr = json_array();
    rc = nph_db_queryf(
        db, err, &st,
        SCOLS
        " WHERE (CAST(? AS TEXT) IS NULL OR project_id = ?) AND (CAST(? AS TEXT) IS NULL OR name = "
        "?) AND"
        " (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR volume_id = ?)"
        " ORDER BY created_at DESC, id DESC",
        "ssssssss", proj, proj, name, name, status, status, volume_id, volume_id);
    while (rc == 1) {
        json_array_append_new(arr, snap_row(st));
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

json_t *local_volume_snapshot_update(struct local_volume *lv, const struct local_volume_caller *c,
                                     const char *id, const json_t *attrs, struct nph_error *err)
{
    const json_t *name = json_object_get(attrs, "name"),
                 *desc = json_object_get(attrs, "description");
    struct nph_db *db;
    json_t *s, *out = NULL;
    if (check_text(name, "name", err) || check_text(desc, "description", err))
        return NULL;
    if (!(db = vol_db(lv, err)))
        return NULL;
    if ((s = snap_load(db, c, id, err))) {
        if (nph_db_execf(db, err,
                         "UPDATE volume_snapshot SET name = CASE WHEN ? = 1 THEN ? ELSE name END,"
                         " description = CASE WHEN ? = 1 THEN ? ELSE description END,"
                         " updated_at = ? WHERE id = ?",
                         "isisis", (int64_t)(name != NULL), json_string_value(name),
                         (int64_t)(desc != NULL), json_string_value(desc), nph_clock_now(),
                         id) >= 0)
            out = snap_load(db, c, id, err);
        json_decref(s);
    }
    nph_store_release(db);
    return out;
}

static int meta_write(struct nph_db *db, const char *id, const json_t *m, struct nph_error *err)
{
    char *text = vol_json_dump(m);
    int64_t n;
    if (!text)
        return nph_error_nomem(err);
    n = nph_db_execf(db, err,
                     "UPDATE volume_snapshot SET metadata = ?, updated_at = ? WHERE id = ?", "sis",
                     text, nph_clock_now(), id);
    free(text);
    return n < 0 ? -1 : 0;
}

json_t *local_volume_snapshot_metadata(struct local_volume *lv, const struct local_volume_caller *c,
                                       const char *id, const json_t *meta, int replace,
                                       struct nph_error *err)
{
    struct nph_db *db;
    json_t *s, *m = NULL, *out = NULL;
    if (meta && vol_check_metadata(meta, err))
        return NULL;
    if (!(db = vol_db(lv, err)))
        return NULL;
    if (!(s = snap_load(db, c, id, err)))
        goto cleanup;
    if (!meta) {
        out = json_incref(json_object_get(s, "metadata"));
        goto cleanup;
    }
    m = replace ? json_object() : json_deep_copy(json_object_get(s, "metadata"));
    json_object_update(m, (json_t *)meta);
    if (vol_check_metadata(m, err) == 0 && meta_write(db, id, m, err) == 0)
        out = json_incref(m);
cleanup:
    json_decref(m);
    json_decref(s);
    nph_store_release(db);
    return out;
}

int local_volume_snapshot_metadata_delete(struct local_volume *lv,
                                          const struct local_volume_caller *c, const char *id,
                                          const char *key, struct nph_error *err)
{
    struct nph_db *db;
    json_t *s, *m = NULL;
    int rc = -1;
    if (!(db = vol_db(lv, err)))
        return -1;
    if ((s = snap_load(db, c, id, err))) {
        m = json_deep_copy(json_object_get(s, "metadata"));
        if (json_object_del(m, key) != 0)
            nph_error_set(err, NPH_E_NOT_FOUND, "Snapshot %s has no metadata with key %s.", id,
                          key);
        else
            rc = meta_write(db, id, m, err);
        json_decref(m);
        json_decref(s);
    }
    nph_store_release(db);
    return rc;
}

int local_volume_snapshot_delete(struct local_volume *lv, const struct local_volume_caller *c,
                                 const char *id, struct nph_error *err)
{
    struct nph_db *db;
    json_t *s;
    const char *status;
    int rc = -1;
    if (!(db = vol_db(lv, err)))
        return -1;
    if (!(s = snap_load(db, c, id, err)))
        goto cleanup;
    status = json_string_value(json_object_get(s, "status"));
    if (strcmp(status, "available") != 0 && strcmp(status, "error") != 0 &&
        strcmp(status, "error_deleting") != 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid snapshot: Volume Snapshot status must be available or error or "
                      "error_restoring or unmanage_error, but current status is %s.",
                      status);
        goto done;
    }
    if (nph_db_execf(db, err,
                     "UPDATE volume_snapshot SET status = 'deleting', updated_at = ? WHERE id = ?"
                     " AND status = ?",
                     "iss", nph_clock_now(), id, status) != 1) {
        if (!err || err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "snapshot '%s' changed meanwhile", id);
        goto done;
    }
    rc = vol_queue(lv, VOL_JOB_SNAP_DELETE, id, err);
done:
    json_decref(s);
cleanup:
    nph_store_release(db);
    return rc;
}
