/*
 * volume_volume.c - volumes: create (empty, from an image, a snapshot or another volume),
 * show, list with filters, sort and marker pagination, update, metadata, extend, delete,
 * flags and an admin's status reset. Every change checks the current status in the same
 * UPDATE (WHERE status = ?), so racing requests cannot both win; work on the pool is queued.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nph_clock.h"
#include "nph_log.h"
#include "volume_internal.h"

#define VCOLS                                                                                      \
    "SELECT v.id, v.project_id, v.user_id, v.name, v.description, v.size_gb, v.status,"            \
    " v.type_id, t.name, v.image_id, v.image_name, v.source_volid, v.snapshot_id, v.bootable,"     \
    " v.readonly, v.metadata, v.path, v.format, v.fault, v.created_at, v.updated_at"               \
    " FROM volume_volume v LEFT JOIN volume_type t ON t.id = v.type_id"

#define T(i) nph_stmt_col_text(st, (i))

static json_t *attachments_of(struct nph_db *db, const char *id, struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = nph_db_queryf(db, err, &st,
                           "SELECT id, server_id, device, created_at FROM volume_attachment"
                           " WHERE volume_id = ? ORDER BY created_at",
                           "s", id);
    while (rc == 1) {
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", T(0), "attachment_id",
                                        T(0), "volume_id", id, "server_id", T(1), "device", T(2),
                                        "attached_at", vol_time_json(nph_stmt_col_int64(st, 3))));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *volume_row(struct nph_stmt *st)
{
    return json_pack(
        "{s:s,s:s,s:s,s:s?,s:s?,s:I,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:b,s:b,s:o,s:s?,s:s,s:s?,"
        "s:o,s:o,s:b}",
        "id", T(0), "project_id", T(1), "user_id", T(2), "name", T(3), "description", T(4), "size",
        (json_int_t)nph_stmt_col_int64(st, 5), "status", T(6), "volume_type_id", T(7),
        "volume_type", T(8), "image_id", T(9), "image_name", T(10), "source_volid", T(11),
        "snapshot_id", T(12), "bootable", (int)nph_stmt_col_int64(st, 13), "readonly",
        nph_stmt_col_int64(st, 14) == 1, "metadata", vol_json_load(T(15), json_object()), "path",
        T(16), "format", T(17), "fault", T(18), "created_at",
        vol_time_json(nph_stmt_col_int64(st, 19)), "updated_at",
        vol_time_json(nph_stmt_col_int64(st, 20)), "readonly_set", nph_stmt_col_int64(st, 14) != 0);
}

/* The volume `id` as the caller may see it, with its attachments; NULL with err. */
static json_t *volume_load(struct nph_db *db, const struct local_volume_caller *c, const char *id,
                           struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *v, *att;
    int rc = nph_db_queryf(db, err, &st, VCOLS " WHERE v.id = ? AND (v.project_id = ? OR ? = 1)",
                           "ssi", id, c->project_id ? c->project_id : "", (int64_t)c->is_admin);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume %s could not be found.", id);
        return NULL;
    }
    v = volume_row(st);
    nph_stmt_done(st);
    if (!(att = attachments_of(db, id, err))) {
        json_decref(v);
        return NULL;
    }
    json_object_set_new(v, "attachments", att);
    return v;
}

json_t *local_volume_get(struct local_volume *lv, const struct local_volume_caller *c,
                         const char *id, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    json_t *v;
    if (!db)
        return NULL;
    v = volume_load(db, c, id, err);
    nph_store_release(db);
    return v;
}

static int check_text(const json_t *v, const char *field, size_t max, struct nph_error *err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) > max)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute %s. Value: %s. It must be a "
                             "string of at most %zu characters.",
                             field, json_is_string(v) ? "too long" : "not a string", max);
    return 0;
}

/* A reference field (image_id, source_volid, snapshot_id, volume_type): a string or absent. */
static const char *ref_field(const json_t *spec, const char *k, int *bad)
{
    const json_t *v = json_object_get(spec, k);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || !*json_string_value(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

json_t *local_volume_create(struct local_volume *lv, const struct local_volume_caller *c,
                            const json_t *spec, struct nph_error *err)
{
    int bad = 0;
    const char *type_ref = ref_field(spec, "volume_type", &bad);
    const char *image_id = ref_field(spec, "image_id", &bad);
    const char *src_id = ref_field(spec, "source_volid", &bad);
    const char *snap_id = ref_field(spec, "snapshot_id", &bad);
    const char *az = ref_field(spec, "availability_zone", &bad);
    const json_t *size_v = json_object_get(spec, "size");
    const json_t *meta = json_object_get(spec, "metadata");
    struct local_image_ref img;
    int64_t size = 0, min_gb = 1, now = nph_clock_now();
    char id[NPH_UUID_LEN + 1], *meta_text = NULL;
    struct nph_db *db = NULL;
    json_t *type = NULL, *out = NULL;
    const char *what = NULL;
    if (bad) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input: a reference must be a non-empty string.");
        return NULL;
    }
    if (check_text(json_object_get(spec, "name"), "name", LOCAL_VOLUME_NAME_MAX, err) ||
        check_text(json_object_get(spec, "description"), "description", 255, err) ||
        (meta && !json_is_null(meta) && vol_check_metadata(meta, err)))
        return NULL;
    if (size_v && !json_is_null(size_v) && local_volume_parse_size(size_v, &size, err))
        return NULL;
    if (!size && !src_id && !snap_id && !image_id) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input for field/attribute size. Value: None. None is not of type "
                      "'integer', 'string'");
        return NULL;
    }
    if (az && strcmp(az, "nova") != 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input received: Availability zone '%s' is "
                      "invalid.",
                      az);
        return NULL;
    }
    if ((image_id != NULL) + (src_id != NULL) + (snap_id != NULL) > 1) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input received: only one of image, source volume or snapshot may "
                      "be given.");
        return NULL;
    }
    if (image_id) {
        if (!lv->image_locate) {
            nph_error_set(err, NPH_E_NOT_SUPPORTED, "volumes from images are not supported here");
            return NULL;
        }
        if (lv->image_locate(lv->image_ctx, image_id, c->project_id, c->is_admin, &img, err)) {
            if (err && err->code == NPH_E_NOT_FOUND)
                nph_error_set(err, NPH_E_NOT_FOUND, "Image %s could not be found.", image_id);
            else if (err && err->code == NPH_E_CONFLICT)
                nph_error_set(err, NPH_E_INVALID,
                              "Invalid image identifier or unable to access requested image: "
                              "image %s is not active.",
                              image_id);
            return NULL;
        }
        min_gb = (img.size + (1LL << 30) - 1) >> 30;
        if (img.min_disk_gb > min_gb)
            min_gb = img.min_disk_gb;
        if (min_gb < 1)
            min_gb = 1;
        if (!size)
            size = min_gb;
        if (size < min_gb) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input received: Image %s is unacceptable: Size is %" PRId64
                          "GB and doesn't fit in a volume of size %" PRId64 "GB.",
                          image_id, min_gb, size);
            return NULL;
        }
    }
    if (nph_uuid4(id) ||
        !(meta_text = (meta && !json_is_null(meta) ? vol_json_dump(meta) : strdup("{}")))) {
        nph_error_nomem(err);
        return NULL;
    }
    if (!(db = vol_db(lv, err)) || nph_db_begin(db, err))
        goto cleanup;
    if (!(type = vol_type_lookup(db, type_ref ? type_ref : LOCAL_VOLUME_DEFAULT_TYPE, err)))
        goto cleanup;
    if (!c->is_admin && !json_is_true(json_object_get(type, "is_public"))) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume type %s could not be found.", type_ref);
        goto cleanup;
    }
    if (snap_id || src_id) {
        struct nph_stmt *st;
        int rc = snap_id ? nph_db_queryf(db, err, &st,
                                         "SELECT size_gb, status FROM volume_snapshot WHERE id = ?"
                                         " AND (project_id = ? OR ? = 1)",
                                         "ssi", snap_id, c->project_id, (int64_t)c->is_admin)
                         : nph_db_queryf(db, err, &st,
                                         "SELECT size_gb, status FROM volume_volume WHERE id = ?"
                                         " AND (project_id = ? OR ? = 1)",
                                         "ssi", src_id, c->project_id, (int64_t)c->is_admin);
        int64_t src_gb;
        char status[32];
        if (rc < 0)
            goto cleanup;
        if (rc == 0) {
            if (snap_id)
                nph_error_set(err, NPH_E_NOT_FOUND, "Snapshot %s could not be found.", snap_id);
            else
                nph_error_set(err, NPH_E_NOT_FOUND, "Volume %s could not be found.", src_id);
            goto cleanup;
        }
        src_gb = nph_stmt_col_int64(st, 0);
        snprintf(status, sizeof(status), "%s", T(1));
        nph_stmt_done(st);
        what = snap_id ? "snapshot" : "volume";
        if (snap_id ? strcmp(status, "available") != 0
                    : strcmp(status, "available") != 0 && strcmp(status, "in-use") != 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid %s: the source %s must be available, but its status is %s.",
                          what, what, status);
            goto cleanup;
        }
        if (!size)
            size = src_gb;
        if (size < src_gb) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input received: Volume size '%" PRId64
                          "'GB cannot be smaller than the %s size %" PRId64
                          "GB. They must be >= original %s size.",
                          size, what, src_gb, what);
            goto cleanup;
        }
    }
    if (vol_quota_check_db(db, c->project_id, 1, size, 0, err))
        goto cleanup;
    if (nph_db_execf(
            db, err,
            "INSERT INTO volume_volume (id, project_id, user_id, name, description, size_gb,"
            " status, type_id, image_id, image_name, source_volid, snapshot_id, bootable,"
            " metadata, format, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, 'qcow2', ?, ?)",
            "sssssisssssisii", id, c->project_id, c->user_id ? c->user_id : "",
            json_string_value(json_object_get(spec, "name")),
            json_string_value(json_object_get(spec, "description")), size,
            json_string_value(json_object_get(type, "id")), image_id, image_id ? img.name : NULL,
            src_id, snap_id, (int64_t)(image_id != NULL), meta_text, now, now) < 0)
        goto cleanup;
    if (nph_db_commit(db, err))
        goto cleanup;
    /* the answer as committed ("creating", as Cinder answers), before the worker can move it */
    if (!(out = volume_load(db, c, id, err)))
        goto cleanup;
    if (vol_queue(lv, VOL_JOB_CREATE, id, err)) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (db)
        nph_db_rollback(db, NULL);
    nph_store_release(db);
    json_decref(type);
    free(meta_text);
    return out;
}

/* ---- list ----------------------------------------------------------------------------------- */

static const char *sort_column(const char *key)
{
    static const char *const map[][2] = {
        {"created_at", "v.created_at"},
        {"id", "v.id"},
        {"name", "v.name"},
        {"display_name", "v.name"},
        {"size", "v.size_gb"},
        {"status", "v.status"},
        {"updated_at", "v.updated_at"},
        {"bootable", "v.bootable"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], key) == 0)
            return map[i][1];
    return NULL;
}

static int meta_matches(const json_t *have, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        if (!json_equal(json_object_get(have, k), v))
            return 0;
    }
    return 1;
}

json_t *local_volume_list(struct local_volume *lv, const struct local_volume_caller *c,
                          const struct local_volume_filter *f, struct nph_error *err)
{
    char sql[1024];
    const char *col = sort_column(f->sort_key ? f->sort_key : "created_at");
    struct nph_db *db;
    struct nph_stmt *st = NULL;
    json_t *all, *out = NULL;
    int rc, scoped = !(c->is_admin && f->all_projects);
    const char *proj = scoped ? c->project_id : f->project_id;
    size_t start = 0, i;
    json_t *v;
    if (!col) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input received: Invalid sort key %s.",
                      f->sort_key);
        return NULL;
    }
    if (f->availability_zone && strcmp(f->availability_zone, "nova") != 0)
        return json_array();
    snprintf(sql, sizeof(sql),
             VCOLS " WHERE (CAST(? AS TEXT) IS NULL OR v.project_id = ?) ORDER BY %s %s, v.id %s",
             col, f->sort_asc ? "ASC" : "DESC", f->sort_asc ? "ASC" : "DESC");
    if (!(db = vol_db(lv, err)))
        return NULL;
    all = json_array();
    rc = nph_db_queryf(db, err, &st, sql, "ss", proj, proj);
    while (rc == 1) {
        int keep = (!f->name || (T(3) && strcmp(T(3), f->name) == 0)) &&
                   (!f->status || strcmp(T(6), f->status) == 0);
        if (keep) {
            json_t *row = volume_row(st);
            if (f->metadata && !meta_matches(json_object_get(row, "metadata"), f->metadata))
                json_decref(row);
            else
                json_array_append_new(all, row);
        }
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0)
        goto cleanup;
    if (f->marker) {
        json_array_foreach(all, i, v)
        {
            if (strcmp(json_string_value(json_object_get(v, "id")), f->marker) == 0)
                break;
        }
        if (i == json_array_size(all)) {
            nph_error_set(err, NPH_E_INVALID, "Invalid input received: marker [%s] not found",
                          f->marker);
            goto cleanup;
        }
        start = i + 1;
    }
    out = json_array();
    for (i = start; i < json_array_size(all); i++) {
        json_t *row = json_array_get(all, i), *att;
        if (f->limit > 0 && json_array_size(out) >= (size_t)f->limit)
            break;
        if (!(att = attachments_of(db, json_string_value(json_object_get(row, "id")), err))) {
            json_decref(out);
            out = NULL;
            goto cleanup;
        }
        json_object_set_new(row, "attachments", att);
        json_array_append(out, row);
    }
cleanup:
    json_decref(all);
    nph_store_release(db);
    return out;
}

/* ---- update and metadata --------------------------------------------------------------------- */

json_t *local_volume_update(struct local_volume *lv, const struct local_volume_caller *c,
                            const char *id, const json_t *attrs, struct nph_error *err)
{
    const json_t *name = json_object_get(attrs, "name"),
                 *desc = json_object_get(attrs, "description"),
                 *meta = json_object_get(attrs, "metadata");
    struct nph_db *db;
    json_t *v, *out = NULL;
    char *meta_text = NULL;
    if (check_text(name, "name", LOCAL_VOLUME_NAME_MAX, err) ||
        check_text(desc, "description", 255, err) || (meta && vol_check_metadata(meta, err)))
        return NULL;
    if (!(db = vol_db(lv, err)))
        return NULL;
    if (!(v = volume_load(db, c, id, err)))
        goto cleanup;
    if (meta && !(meta_text = vol_json_dump(meta))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (nph_db_execf(db, err,
                     "UPDATE volume_volume SET name = CASE WHEN ? = 1 THEN ? ELSE name END,"
                     " description = CASE WHEN ? = 1 THEN ? ELSE description END,"
                     " metadata = COALESCE(?, metadata), updated_at = ? WHERE id = ?",
                     "isissis", (int64_t)(name != NULL), json_string_value(name),
                     (int64_t)(desc != NULL), json_string_value(desc), meta_text, nph_clock_now(),
                     id) < 0)
        goto cleanup;
    out = volume_load(db, c, id, err);
cleanup:
    free(meta_text);
    json_decref(v);
    nph_store_release(db);
    return out;
}

json_t *local_volume_metadata(struct local_volume *lv, const struct local_volume_caller *c,
                              const char *id, const json_t *meta, int replace,
                              struct nph_error *err)
{
    struct nph_db *db;
    json_t *v, *m = NULL, *out = NULL;
    char *text = NULL;
    if (meta && vol_check_metadata(meta, err))
        return NULL;
    if (!(db = vol_db(lv, err)))
        return NULL;
    if (!(v = volume_load(db, c, id, err)))
        goto cleanup;
    if (!meta) {
        out = json_incref(json_object_get(v, "metadata"));
        goto cleanup;
    }
    m = replace ? json_object() : json_deep_copy(json_object_get(v, "metadata"));
    json_object_update(m, (json_t *)meta);
    if (vol_check_metadata(m, err))
        goto cleanup;
    if (!(text = vol_json_dump(m))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (nph_db_execf(db, err, "UPDATE volume_volume SET metadata = ?, updated_at = ? WHERE id = ?",
                     "sis", text, nph_clock_now(), id) < 0)
        goto cleanup;
    out = json_incref(m);
cleanup:
    free(text);
    json_decref(m);
    json_decref(v);
    nph_store_release(db);
    return out;
}

int local_volume_metadata_delete(struct local_volume *lv, const struct local_volume_caller *c,
                                 const char *id, const char *key, struct nph_error *err)
{
    struct nph_db *db;
    json_t *v, *m = NULL;
    char *text = NULL;
    int rc = -1;
    if (!(db = vol_db(lv, err)))
        return -1;
    if (!(v = volume_load(db, c, id, err)))
        goto cleanup;
    m = json_deep_copy(json_object_get(v, "metadata"));
    if (json_object_del(m, key) != 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume %s has no metadata with key %s.", id, key);
        goto cleanup;
    }
    if (!(text = vol_json_dump(m))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (nph_db_execf(db, err, "UPDATE volume_volume SET metadata = ?, updated_at = ? WHERE id = ?",
                     "sis", text, nph_clock_now(), id) >= 0)
        rc = 0;
cleanup:
    free(text);
    json_decref(m);
    json_decref(v);
    nph_store_release(db);
    return rc;
}

/* ---- status changes ---------------------------------------------------------------------- */

#define NOT_DELETABLE                                                                              \
    "Invalid volume: Volume status must be available or error or error_restoring or "              \
    "error_extending or error_managing and must not be migrating, attached, belong to a group, "   \
    "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "        \
    "transfer."

int local_volume_delete(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, struct nph_error *err)
{
    struct nph_db *db;
    struct nph_stmt *st;
    json_t *v;
    const char *status;
    int rc = -1;
    if (!(db = vol_db(lv, err)))
        return -1;
    if (nph_db_begin(db, err) || !(v = volume_load(db, c, id, err)))
        goto cleanup;
    status = json_string_value(json_object_get(v, "status"));
    if (!local_volume_transition_ok(status, "deleting") ||
        json_array_size(json_object_get(v, "attachments")) > 0) {
        nph_error_set(err, NPH_E_INVALID, NOT_DELETABLE);
        goto done;
    }
    rc = nph_db_queryf(db, err, &st, "SELECT id FROM volume_snapshot WHERE volume_id = ? LIMIT 1",
                       "s", id);
    if (rc != 0) {
        if (rc == 1) {
            nph_stmt_done(st);
            rc = nph_error_set(err, NPH_E_INVALID, NOT_DELETABLE);
        }
        goto done;
    }
    rc = -1;
    if (nph_db_execf(db, err,
                     "UPDATE volume_volume SET status = 'deleting', updated_at = ? WHERE id = ?"
                     " AND status = ?",
                     "iss", nph_clock_now(), id, status) != 1) {
        if (!err || err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "volume '%s' changed meanwhile", id);
        goto done;
    }
    if (nph_db_commit(db, err) == 0 && vol_queue(lv, VOL_JOB_DELETE, id, err) == 0)
        rc = 0;
done:
    json_decref(v);
cleanup:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}

int local_volume_extend(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, int64_t new_gb, struct nph_error *err)
{
    struct nph_db *db;
    json_t *v;
    const char *status;
    int64_t size;
    int rc = -1;
    if (new_gb < 1 || new_gb > LOCAL_VOLUME_MAX_GB)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute new_size. Value: %" PRId64 ".",
                             new_gb);
    if (!(db = vol_db(lv, err)))
        return -1;
    if (nph_db_begin(db, err) || !(v = volume_load(db, c, id, err)))
        goto cleanup;
    status = json_string_value(json_object_get(v, "status"));
    size = json_integer_value(json_object_get(v, "size"));
    if (strcmp(status, "available") != 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid volume: Volume %s status must be available to extend, but "
                      "current status is: %s.",
                      id, status);
        goto done;
    }
    if (new_gb <= size) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input received: New size for extend must be greater than current "
                      "size. (current: %" PRId64 ", extended: %" PRId64 ").",
                      size, new_gb);
        goto done;
    }
    if (vol_quota_check_db(db, json_string_value(json_object_get(v, "project_id")), 0,
                           new_gb - size, 0, err))
        goto done;
    if (nph_db_execf(
            db, err,
            "UPDATE volume_volume SET status = 'extending', new_size_gb = ?, updated_at = ?"
            " WHERE id = ? AND status = 'available'",
            "iis", new_gb, nph_clock_now(), id) != 1) {
        if (!err || err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "volume '%s' changed meanwhile", id);
        goto done;
    }
    if (nph_db_commit(db, err) == 0 && vol_queue(lv, VOL_JOB_EXTEND, id, err) == 0)
        rc = 0;
done:
    json_decref(v);
cleanup:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}

int local_volume_reset_status(struct local_volume *lv, const char *id, const char *status,
                              struct nph_error *err)
{
    struct nph_db *db;
    int64_t n;
    if (!local_volume_status_known(status))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input received: Invalid status %s.",
                             status ? status : "None");
    if (!(db = vol_db(lv, err)))
        return -1;
    n = nph_db_execf(db, err, "UPDATE volume_volume SET status = ?, updated_at = ? WHERE id = ?",
                     "sis", status, nph_clock_now(), id);
    if (n >= 0 && strcmp(status, "available") == 0)
        n = nph_db_execf(db, err, "DELETE FROM volume_attachment WHERE volume_id = ?", "s", id) < 0
                ? -1
                : 1;
    nph_store_release(db);
    if (n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "Volume %s could not be found.", id);
    return n < 0 ? -1 : 0;
}

int local_volume_set_flag(struct local_volume *lv, const struct local_volume_caller *c,
                          const char *id, const char *flag, int value, struct nph_error *err)
{
    struct nph_db *db;
    json_t *v;
    int rc = -1;
    const char *sql = strcmp(flag, "bootable") == 0
                          ? "UPDATE volume_volume SET bootable = ?, updated_at = ? WHERE id = ?"
                      : strcmp(flag, "readonly") == 0
                          ? "UPDATE volume_volume SET readonly = ?, updated_at = ? WHERE id = ?"
                          : NULL;
    if (!sql)
        return nph_error_set(err, NPH_E_INVALID, "unknown volume flag '%s'", flag);
    if (!(db = vol_db(lv, err)))
        return -1;
    if ((v = volume_load(db, c, id, err))) {
        /* readonly: 1 set, -1 cleared (shown as "False"), 0 never set */
        int64_t stored = strcmp(flag, "readonly") == 0 ? (value ? 1 : -1) : (value != 0);
        if (nph_db_execf(db, err, sql, "iis", stored, nph_clock_now(), id) >= 0)
            rc = 0;
        json_decref(v);
    }
    nph_store_release(db);
    return rc;
}
