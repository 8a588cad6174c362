/*
 * volume_meta.c - volume types (admin-managed; "__DEFAULT__" always exists) and the
 * per-project quotas of block storage (volumes, gigabytes, snapshots), with Cinder's defaults
 * (10 volumes, 1000 GB, 10 snapshots). Gigabytes count volumes and snapshots, as Cinder does
 * unless told otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "volume_internal.h"

#define TYPE_COLS "SELECT id, name, description, is_public, extra_specs FROM volume_type"

static json_t *type_row(struct nph_stmt *st)
{
    return json_pack("{s:s,s:s,s:s?,s:b,s:o}", "id", nph_stmt_col_text(st, 0), "name",
                     nph_stmt_col_text(st, 1), "description", nph_stmt_col_text(st, 2), "is_public",
                     (int)nph_stmt_col_int64(st, 3), "extra_specs",
                     vol_json_load(nph_stmt_col_text(st, 4), json_object()));
}

json_t *vol_type_lookup(struct nph_db *db, const char *id_or_name, struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *t;
    int rc = nph_db_queryf(db, err, &st, TYPE_COLS " WHERE id = ?", "s", id_or_name);
    if (rc == 0)
        rc = nph_db_queryf(db, err, &st, TYPE_COLS " WHERE name = ?", "s", id_or_name);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume type %s could not be found.", id_or_name);
        return NULL;
    }
    t = type_row(st);
    nph_stmt_done(st);
    return t;
}

static int check_name(const json_t *v, struct nph_error *err)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > LOCAL_VOLUME_NAME_MAX)
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute name. Value: %s.",
                             s ? s : "not a string");
    return 0;
}

static int check_specs(const json_t *specs, struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(specs))
        return nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute extra_specs.");
    json_object_foreach((json_t *)specs, k, v)
    {
        if (!*k || strlen(k) > 255 || !json_is_string(v) || strlen(json_string_value(v)) > 255)
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input for field/attribute extra_specs. Value: %s.", k);
    }
    return 0;
}

json_t *local_volume_type_create(struct local_volume *lv, const json_t *attrs,
                                 struct nph_error *err)
{
    char id[NPH_UUID_LEN + 1];
    const json_t *specs = json_object_get(attrs, "extra_specs");
    const json_t *pub = json_object_get(attrs, "is_public");
    const json_t *desc = json_object_get(attrs, "description");
    char *specs_text = NULL;
    struct nph_db *db;
    json_t *out = NULL;
    if (check_name(json_object_get(attrs, "name"), err) || (specs && check_specs(specs, err)))
        return NULL;
    if (pub && !json_is_boolean(pub)) {
        nph_error_set(err, NPH_E_INVALID, "Invalid value for is_public: it must be a boolean.");
        return NULL;
    }
    if (desc && !json_is_null(desc) &&
        (!json_is_string(desc) || strlen(json_string_value(desc)) > 255)) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute description.");
        return NULL;
    }
    if (!(db = vol_db(lv, err)))
        return NULL;
    specs_text = specs ? vol_json_dump(specs) : strdup("{}");
    if (nph_uuid4(id) || !specs_text) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (nph_db_execf(db, err,
                     "INSERT INTO volume_type (id, name, description, is_public, extra_specs,"
                     " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                     "sssisi", id, json_string_value(json_object_get(attrs, "name")),
                     json_string_value(desc), (int64_t)(pub ? json_is_true(pub) : 1), specs_text,
                     nph_clock_now()) < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "Volume Type %s already exists.",
                          json_string_value(json_object_get(attrs, "name")));
        goto cleanup;
    }
    out = vol_type_lookup(db, id, err);
cleanup:
    free(specs_text);
    nph_store_release(db);
    return out;
}

json_t *local_volume_type_get(struct local_volume *lv, const struct local_volume_caller *c,
                              const char *id_or_name, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    json_t *t;
    if (!db)
        return NULL;
    t = vol_type_lookup(db, id_or_name, err);
    nph_store_release(db);
    if (t && !c->is_admin && !json_is_true(json_object_get(t, "is_public"))) {
        json_decref(t);
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume type %s could not be found.", id_or_name);
        return NULL;
    }
    return t;
}

json_t *local_volume_type_list(struct local_volume *lv, const struct local_volume_caller *c,
                               struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct nph_stmt *st = NULL;
    json_t *arr;
    int rc;
    if (!db)
        return NULL;
    arr = json_array();
    rc = nph_db_queryf(db, err, &st, TYPE_COLS " WHERE is_public = 1 OR ? = 1 ORDER BY name", "i",
                       (int64_t)c->is_admin);
    while (rc == 1) {
        json_array_append_new(arr, type_row(st));
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

json_t *local_volume_type_update(struct local_volume *lv, const char *id, const json_t *attrs,
                                 struct nph_error *err)
{
    struct nph_db *db;
    json_t *t, *out = NULL;
    const json_t *name = json_object_get(attrs, "name"),
                 *desc = json_object_get(attrs, "description"),
                 *pub = json_object_get(attrs, "is_public");
    if ((name && check_name(name, err)) ||
        (pub && !json_is_boolean(pub) &&
         nph_error_set(err, NPH_E_INVALID, "Invalid value for is_public.")))
        return NULL;
    if (desc && !json_is_null(desc) && !json_is_string(desc)) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute description.");
        return NULL;
    }
    if (!(db = vol_db(lv, err)))
        return NULL;
    if (!(t = vol_type_lookup(db, id, err)))
        goto cleanup;
    if (name &&
        strcmp(json_string_value(json_object_get(t, "name")), LOCAL_VOLUME_DEFAULT_TYPE) == 0 &&
        strcmp(json_string_value(name), LOCAL_VOLUME_DEFAULT_TYPE) != 0) {
        nph_error_set(err, NPH_E_INVALID, "The default volume type cannot be renamed.");
        goto cleanup;
    }
    if (nph_db_execf(db, err,
                     "UPDATE volume_type SET name = COALESCE(?, name),"
                     " description = CASE WHEN ? = 1 THEN ? ELSE description END,"
                     " is_public = CASE WHEN ? = 1 THEN ? ELSE is_public END WHERE id = ?",
                     "sisiis", json_string_value(name), (int64_t)(desc != NULL),
                     json_string_value(desc), (int64_t)(pub != NULL), (int64_t)json_is_true(pub),
                     json_string_value(json_object_get(t, "id"))) < 0)
        goto cleanup;
    out = vol_type_lookup(db, json_string_value(json_object_get(t, "id")), err);
cleanup:
    json_decref(t);
    nph_store_release(db);
    return out;
}

int local_volume_type_delete(struct local_volume *lv, const char *id, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct nph_stmt *st;
    json_t *t;
    int rc = -1;
    if (!db)
        return -1;
    if (!(t = vol_type_lookup(db, id, err)))
        goto cleanup;
    if (strcmp(json_string_value(json_object_get(t, "name")), LOCAL_VOLUME_DEFAULT_TYPE) == 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid volume type: Default volume type can not be deleted.");
        goto cleanup;
    }
    rc = nph_db_queryf(db, err, &st, "SELECT id FROM volume_volume WHERE type_id = ? LIMIT 1", "s",
                       json_string_value(json_object_get(t, "id")));
    if (rc == 1) {
        nph_stmt_done(st);
        rc = nph_error_set(err, NPH_E_INVALID, "Target volume type is still in use.");
        goto cleanup;
    }
    if (rc == 0)
        rc = nph_db_execf(db, err, "DELETE FROM volume_type WHERE id = ?", "s",
                          json_string_value(json_object_get(t, "id"))) < 0
                 ? -1
                 : 0;
cleanup:
    json_decref(t);
    nph_store_release(db);
    return rc;
}

static json_t *specs_write(struct local_volume *lv, const char *id, const json_t *merge,
                           const char *del, struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    json_t *t, *specs = NULL;
    char *text = NULL;
    if (!db)
        return NULL;
    if (!(t = vol_type_lookup(db, id, err)))
        goto cleanup;
    specs = json_deep_copy(json_object_get(t, "extra_specs"));
    if (merge)
        json_object_update(specs, (json_t *)merge);
    if (del && json_object_del(specs, del) != 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Volume Type %s has no extra specs with key %s.", id,
                      del);
        json_decref(specs);
        specs = NULL;
        goto cleanup;
    }
    text = vol_json_dump(specs);
    if (!text || nph_db_execf(db, err, "UPDATE volume_type SET extra_specs = ? WHERE id = ?", "ss",
                              text, json_string_value(json_object_get(t, "id"))) < 0) {
        json_decref(specs);
        specs = NULL;
    }
cleanup:
    free(text);
    json_decref(t);
    nph_store_release(db);
    return specs;
}

json_t *local_volume_type_set_specs(struct local_volume *lv, const char *id, const json_t *specs,
                                    struct nph_error *err)
{
    if (check_specs(specs, err))
        return NULL;
    return specs_write(lv, id, specs, NULL, err);
}

int local_volume_type_unset_spec(struct local_volume *lv, const char *id, const char *key,
                                 struct nph_error *err)
{
    json_t *s = specs_write(lv, id, NULL, key, err);
    json_decref(s);
    return s ? 0 : -1;
}

/* ---- quotas --------------------------------------------------------------------------------- */

static const char *const resources[] = {"volumes", "gigabytes", "snapshots"};
static const int64_t defaults[] = {10, 1000, 10};

static int limits_db(struct nph_db *db, const char *project_id, struct local_volume_usage *out,
                     struct nph_error *err)
{
    int64_t v[3] = {defaults[0], defaults[1], defaults[2]};
    struct nph_stmt *st = NULL;
    int rc;
    if (project_id) {
        rc = nph_db_queryf(db, err, &st,
                           "SELECT resource, hard_limit FROM volume_quota WHERE project_id = ?",
                           "s", project_id);
        while (rc == 1) {
            for (int i = 0; i < 3; i++)
                if (strcmp(nph_stmt_col_text(st, 0), resources[i]) == 0)
                    v[i] = nph_stmt_col_int64(st, 1);
            rc = nph_stmt_step(st, err);
        }
        if (st)
            nph_stmt_done(st);
        if (rc < 0)
            return -1;
    }
    out->volumes = v[0];
    out->gigabytes = v[1];
    out->snapshots = v[2];
    return 0;
}

static int usage_db(struct nph_db *db, const char *project_id, struct local_volume_usage *out,
                    struct nph_error *err)
{
    struct nph_stmt *st;
    int rc =
        nph_db_queryf(db, err, &st,
                      "SELECT COUNT(*), COALESCE(SUM(CASE WHEN new_size_gb > size_gb THEN"
                      " new_size_gb ELSE size_gb END), 0) FROM volume_volume WHERE project_id = ?",
                      "s", project_id);
    if (rc < 0)
        return -1;
    out->volumes = rc == 1 ? nph_stmt_col_int64(st, 0) : 0;
    out->gigabytes = rc == 1 ? nph_stmt_col_int64(st, 1) : 0;
    if (rc == 1)
        nph_stmt_done(st);
    rc = nph_db_queryf(db, err, &st,
                       "SELECT COUNT(*), COALESCE(SUM(size_gb), 0) FROM volume_snapshot"
                       " WHERE project_id = ?",
                       "s", project_id);
    if (rc < 0)
        return -1;
    out->snapshots = rc == 1 ? nph_stmt_col_int64(st, 0) : 0;
    out->gigabytes += rc == 1 ? nph_stmt_col_int64(st, 1) : 0;
    if (rc == 1)
        nph_stmt_done(st);
    return 0;
}

int vol_quota_check_db(struct nph_db *db, const char *project_id, int64_t add_volumes,
                       int64_t add_gb, int64_t add_snapshots, struct nph_error *err)
{
    struct local_volume_usage lim, used;
    if (limits_db(db, project_id, &lim, err) || usage_db(db, project_id, &used, err))
        return -1;
    return local_volume_quota_check(&lim, &used, add_volumes, add_gb, add_snapshots, err);
}

static json_t *usage_json(const struct local_volume_usage *u)
{
    return json_pack("{s:I,s:I,s:I}", "volumes", (json_int_t)u->volumes, "gigabytes",
                     (json_int_t)u->gigabytes, "snapshots", (json_int_t)u->snapshots);
}

json_t *local_volume_quota_get(struct local_volume *lv, const char *project_id,
                               struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct local_volume_usage lim;
    json_t *out = NULL;
    if (!db)
        return NULL;
    if (limits_db(db, project_id, &lim, err) == 0)
        out = usage_json(&lim);
    nph_store_release(db);
    return out;
}

json_t *local_volume_quota_usage(struct local_volume *lv, const char *project_id,
                                 struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    struct local_volume_usage u;
    json_t *out = NULL;
    if (!db)
        return NULL;
    if (usage_db(db, project_id, &u, err) == 0)
        out = usage_json(&u);
    nph_store_release(db);
    return out;
}

json_t *local_volume_quota_set(struct local_volume *lv, const char *project_id,
                               const json_t *limits, struct nph_error *err)
{
    const char *k;
    json_t *v;
    struct nph_db *db;
    json_object_foreach((json_t *)limits, k, v)
    {
        int known = 0;
        for (int i = 0; i < 3; i++)
            known |= strcmp(k, resources[i]) == 0;
        if (!known) {
            nph_error_set(err, NPH_E_INVALID, "Bad key(s) in quota set: %s", k);
            return NULL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < -1 ||
            json_integer_value(v) > INT32_MAX) {
            nph_error_set(err, NPH_E_INVALID,
                          "Quota limit for %s must be an integer of -1 or more.", k);
            return NULL;
        }
    }
    if (!(db = vol_db(lv, err)))
        return NULL;
    if (nph_db_begin(db, err))
        goto fail;
    json_object_foreach((json_t *)limits, k, v)
    {
        if (nph_db_execf(db, err, "DELETE FROM volume_quota WHERE project_id = ? AND resource = ?",
                         "ss", project_id, k) < 0 ||
            nph_db_execf(
                db, err,
                "INSERT INTO volume_quota (project_id, resource, hard_limit) VALUES (?, ?, ?)",
                "ssi", project_id, k, (int64_t)json_integer_value(v)) < 0)
            goto fail;
    }
    if (nph_db_commit(db, err))
        goto fail;
    nph_store_release(db);
    return local_volume_quota_get(lv, project_id, err);
fail:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return NULL;
}

int local_volume_quota_delete(struct local_volume *lv, const char *project_id,
                              struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    int64_t n;
    if (!db)
        return -1;
    n = nph_db_execf(db, err, "DELETE FROM volume_quota WHERE project_id = ?", "s", project_id);
    nph_store_release(db);
    return n < 0 ? -1 : 0;
}
