/*
 * compute_flavor.c - flavors: sizes of servers (vcpus, RAM, root and ephemeral disk, swap),
 * extra specs, public or granted to projects. Managed by admins; the default set is created
 * on first start like devstack's (m1.tiny, m1.small, m1.medium with ids 1, 2, 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_internal.h"
#include "nph_clock.h"
#include "nph_json.h"

#define FLAVOR_COLS                                                                                \
    "SELECT id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, is_public, description,"      \
    " extra_specs FROM compute_flavor"

static json_t *flavor_row(struct nph_stmt *st)
{
    const char *desc = nph_stmt_col_text(st, 8);
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:o,s:o}", "id", nph_stmt_col_text(st, 0), "name",
        nph_stmt_col_text(st, 1), "vcpus", (json_int_t)nph_stmt_col_int64(st, 2), "ram",
        (json_int_t)nph_stmt_col_int64(st, 3), "disk", (json_int_t)nph_stmt_col_int64(st, 4),
        "ephemeral", (json_int_t)nph_stmt_col_int64(st, 5), "swap",
        (json_int_t)nph_stmt_col_int64(st, 6), "is_public", (int)nph_stmt_col_int64(st, 7),
        "description", desc ? json_string(desc) : json_null(), "extra_specs",
        cmp_json_load(nph_stmt_col_text(st, 9), json_object()));
}

json_t *cmp_flavor_get_any(struct nph_db *db, const char *id, struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *out;
    int rc = nph_db_queryf(db, err, &st, FLAVOR_COLS " WHERE id = ?", "s", id);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s could not be found.", id);
        return NULL;
    }
    out = flavor_row(st);
    nph_stmt_done(st);
    if (!out)
        nph_error_nomem(err);
    return out;
}

/* 1 if the caller may use the flavor, 0 if not, -1 on error. */
static int flavor_visible(struct nph_db *db, const struct local_compute_caller *c, const json_t *f,
                          struct nph_error *err)
{
    struct nph_stmt *st;
    int rc;
    if (c->is_admin || json_is_true(json_object_get(f, "is_public")))
        return 1;
    rc = nph_db_queryf(db, err, &st,
                       "SELECT 1 FROM compute_flavor_access WHERE flavor_id = ? AND project_id = ?",
                       "ss", json_string_value(json_object_get(f, "id")), c->project_id);
    if (rc == 1)
        nph_stmt_done(st);
    return rc;
}

static int get_int(const json_t *attrs, const char *key, int required, int64_t min, int64_t max,
                   int64_t *out, struct nph_error *err)
{
    json_t *v = json_object_get(attrs, key);
    int64_t n;
    if (!v || json_is_null(v)) {
        if (required)
            return nph_error_set(err, NPH_E_INVALID, "'%s' is a required property", key);
        return 0;
    }
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        char *end;
        n = strtoll(json_string_value(v), &end, 10);
        if (!*json_string_value(v) || *end)
            return nph_error_set(err, NPH_E_INVALID, "'%s' must be an integer", key);
    } else {
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be an integer", key);
    }
    if (n < min || n > max)
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be between %lld and %lld", key,
                             (long long)min, (long long)max);
    *out = n;
    return 0;
}

/* Create within db's open transaction or as a statement of its own. */
static json_t *flavor_insert(struct nph_db *db, const json_t *attrs, struct nph_error *err)
{
    const char *name = NULL, *id = NULL, *desc = NULL;
    int64_t vcpus = 0, ram = 0, disk = 0, eph = 0, swap = 0;
    int is_public = 1;
    char uuid[NPH_UUID_LEN + 1];
    char *specs = NULL;
    json_t *js = json_object_get(attrs, "extra_specs");
    int64_t rc;
    if (nph_json_get_str(attrs, "name", "flavor.name", 1, 255, &name, err) < 0 ||
        nph_json_get_str(attrs, "id", "flavor.id", 0, 255, &id, err) < 0 ||
        nph_json_get_str(attrs, "description", "flavor.description", 0, 65535, &desc, err) < 0 ||
        get_int(attrs, "vcpus", 1, 1, 1 << 16, &vcpus, err) ||
        get_int(attrs, "ram", 1, 1, (int64_t)1 << 32, &ram, err) ||
        get_int(attrs, "disk", 1, 0, (int64_t)1 << 31, &disk, err) ||
        get_int(attrs, "ephemeral", 0, 0, (int64_t)1 << 31, &eph, err) ||
        get_int(attrs, "swap", 0, 0, (int64_t)1 << 31, &swap, err) ||
        nph_json_get_bool(attrs, "is_public", "flavor.is_public", 0, &is_public, err) < 0)
        return NULL;
    if (!*name || strspn(name, " ") == strlen(name)) {
        nph_error_set(err, NPH_E_INVALID, "'name' must not be empty");
        return NULL;
    }
    if (js && !json_is_object(js)) {
        nph_error_set(err, NPH_E_INVALID, "'extra_specs' must be an object");
        return NULL;
    }
    if (!id || !*id || strcmp(id, "auto") == 0) {
        if (nph_uuid4(uuid)) {
            nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
            return NULL;
        }
        id = uuid;
    }
    specs = js ? cmp_json_dump(js) : NULL;
    rc = nph_db_execf(db, err,
                      "INSERT INTO compute_flavor (id, name, vcpus, ram_mb, disk_gb, ephemeral_gb,"
                      " swap_mb, is_public, description, extra_specs, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssiiiiiissi", id, name, vcpus, ram, disk, eph, swap, (int64_t)is_public,
                      desc, specs ? specs : "{}", nph_clock_now());
    free(specs);
    if (rc < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "Flavor with name %s or ID %s already exists.", name,
                          id);
        return NULL;
    }
    return cmp_flavor_get_any(db, id, err);
}

json_t *local_compute_flavor_create(struct local_compute *lc, const json_t *attrs,
                                    struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *out;
    if (!db)
        return NULL;
    out = flavor_insert(db, attrs, err);
    nph_store_release(db);
    return out;
}

int cmp_flavors_bootstrap(struct local_compute *lc, struct nph_error *err)
{
    static const struct {
        const char *id, *name;
        int vcpus, ram, disk;
    } defaults[] = {
        {"1", "m1.tiny", 1, 512, 1},
        {"2", "m1.small", 1, 2048, 20},
        {"3", "m1.medium", 2, 4096, 40},
    };
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st;
    int rc = -1, have;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto cleanup;
    have = nph_db_queryf(db, err, &st, "SELECT 1 FROM compute_flavor", NULL);
    if (have < 0)
        goto cleanup;
    if (have == 1) {
        nph_stmt_done(st);
    } else {
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
            json_t *a = json_pack("{s:s,s:s,s:i,s:i,s:i}", "id", defaults[i].id, "name",
                                  defaults[i].name, "vcpus", defaults[i].vcpus, "ram",
                                  defaults[i].ram, "disk", defaults[i].disk);
            json_t *f = a ? flavor_insert(db, a, err) : NULL;
            json_decref(a);
            if (!f)
                goto cleanup;
            json_decref(f);
        }
    }
    rc = nph_db_commit(db, err);
cleanup:
    nph_store_release(db);
    return rc;
}

json_t *local_compute_flavor_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *id, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *f;
    int vis;
    if (!db)
        return NULL;
    f = cmp_flavor_get_any(db, id, err);
    if (f && (vis = flavor_visible(db, c, f, err)) != 1) {
        json_decref(f);
        f = NULL;
        if (vis == 0)
            nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s could not be found.", id);
    }
    nph_store_release(db);
    return f;
}

json_t *local_compute_flavor_list(struct local_compute *lc, const struct local_compute_caller *c,
                                  int is_public, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st = NULL;
    json_t *out = json_array();
    int rc;
    if (!db || !out) {
        nph_store_release(db);
        json_decref(out);
        if (db)
            nph_error_nomem(err);
        return NULL;
    }
    if (c->is_admin)
        rc = nph_db_queryf(db, err, &st,
                           FLAVOR_COLS " WHERE ? = -1 OR is_public = ? ORDER BY ram_mb, id", "ii",
                           (int64_t)is_public, (int64_t)is_public);
    else
        rc = nph_db_queryf(db, err, &st,
                           FLAVOR_COLS " WHERE is_public = 1 OR id IN (SELECT flavor_id"
                                       " FROM compute_flavor_access WHERE project_id = ?)"
                                       " ORDER BY ram_mb, id",
                           "s", c->project_id);
    while (rc == 1) {
        json_array_append_new(out, flavor_row(st));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int local_compute_flavor_delete(struct local_compute *lc, const char *id, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    int64_t n;
    if (!db)
        return -1;
    n = nph_db_execf(db, err, "DELETE FROM compute_flavor WHERE id = ?", "s", id);
    if (n > 0)
        n = nph_db_execf(db, err, "DELETE FROM compute_flavor_access WHERE flavor_id = ?", "s",
                         id) < 0
                ? -1
                : 1;
    nph_store_release(db);
    if (n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s could not be found.", id);
    return n < 0 ? -1 : 0;
}

json_t *local_compute_flavor_update(struct local_compute *lc, const char *id,
                                    const char *description, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *out = NULL;
    int64_t n;
    if (!db)
        return NULL;
    n = nph_db_execf(db, err, "UPDATE compute_flavor SET description = ? WHERE id = ?", "ss",
                     description, id);
    if (n == 0)
        nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s could not be found.", id);
    else if (n > 0)
        out = cmp_flavor_get_any(db, id, err);
    nph_store_release(db);
    return out;
}

/* Read-modify-write of the extra specs in one transaction. key != NULL: delete that key. */
static json_t *specs_change(struct local_compute *lc, const char *id, const json_t *specs,
                            const char *key, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *f = NULL, *cur = NULL, *out = NULL;
    const char *k;
    json_t *v;
    char *text = NULL;
    if (!db)
        return NULL;
    if (nph_db_begin(db, err) || !(f = cmp_flavor_get_any(db, id, err)))
        goto cleanup;
    cur = json_deep_copy(json_object_get(f, "extra_specs"));
    if (key) {
        if (json_object_del(cur, key) != 0) {
            nph_error_set(err, NPH_E_NOT_FOUND, "Flavor %s has no extra specs with key %s.", id,
                          key);
            goto cleanup;
        }
    } else {
        json_object_foreach((json_t *)specs, k, v)
        {
            if (strlen(k) > 255 || !*k) {
                nph_error_set(err, NPH_E_INVALID, "extra spec keys must be 1 to 255 characters");
                goto cleanup;
            }
            if (json_is_string(v)) {
                if (strlen(json_string_value(v)) > 255) {
                    nph_error_set(err, NPH_E_INVALID, "extra spec '%s' is longer than 255", k);
                    goto cleanup;
                }
                json_object_set(cur, k, v);
            } else if (json_is_number(v) || json_is_boolean(v)) {
                char *s = json_dumps(v, JSON_ENCODE_ANY);
                json_object_set_new(cur, k, json_string(s ? s : ""));
                free(s);
            } else {
                nph_error_set(err, NPH_E_INVALID, "extra spec '%s' must be a string", k);
                goto cleanup;
            }
        }
    }
    text = cmp_json_dump(cur);
    if (!text ||
        nph_db_execf(db, err, "UPDATE compute_flavor SET extra_specs = ? WHERE id = ?", "ss", text,
                     id) < 0 ||
        nph_db_commit(db, err))
        goto cleanup;
    out = json_incref(cur);
cleanup:
    free(text);
    json_decref(cur);
    json_decref(f);
    nph_store_release(db);
    return out;
}

json_t *local_compute_flavor_set_specs(struct local_compute *lc, const char *id,
                                       const json_t *specs, struct nph_error *err)
{
    if (!json_is_object(specs)) {
        nph_error_set(err, NPH_E_INVALID, "'extra_specs' must be an object");
        return NULL;
    }
    return specs_change(lc, id, specs, NULL, err);
}

int local_compute_flavor_unset_spec(struct local_compute *lc, const char *id, const char *key,
                                    struct nph_error *err)
{
    json_t *r = specs_change(lc, id, NULL, key, err);
    if (!r)
        return -1;
    json_decref(r);
    return 0;
}

int local_compute_flavor_access(struct local_compute *lc, const char *id, const char *project_id,
                                int grant, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *f;
    int64_t n = -1;
    if (!db)
        return -1;
    f = cmp_flavor_get_any(db, id, err);
    if (!f)
        goto cleanup;
    if (json_is_true(json_object_get(f, "is_public"))) {
        nph_error_set(err, NPH_E_CONFLICT, "Can not add access to a public flavor.");
        goto cleanup;
    }
    if (grant) {
        n = nph_db_execf(db, err,
                         "INSERT INTO compute_flavor_access (flavor_id, project_id) VALUES (?, ?)",
                         "ss", id, project_id);
        if (n < 0 && err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT,
                          "Flavor access already exists for flavor %s and project %s combination.",
                          id, project_id);
    } else {
        n = nph_db_execf(db, err,
                         "DELETE FROM compute_flavor_access WHERE flavor_id = ? AND project_id = ?",
                         "ss", id, project_id);
        if (n == 0) {
            nph_error_set(err, NPH_E_NOT_FOUND, "Flavor access not found for %s / %s combination.",
                          id, project_id);
            n = -1;
        }
    }
cleanup:
    json_decref(f);
    nph_store_release(db);
    return n < 0 ? -1 : 0;
}

json_t *local_compute_flavor_access_list(struct local_compute *lc, const char *id,
                                         struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st = NULL;
    json_t *f, *out = NULL;
    int rc;
    if (!db)
        return NULL;
    f = cmp_flavor_get_any(db, id, err);
    if (!f)
        goto cleanup;
    if (json_is_true(json_object_get(f, "is_public"))) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Access list not available for public flavors.");
        goto cleanup;
    }
    out = json_array();
    rc = nph_db_queryf(db, err, &st,
                       "SELECT project_id FROM compute_flavor_access WHERE flavor_id = ?"
                       " ORDER BY project_id",
                       "s", id);
    while (rc == 1) {
        json_array_append_new(
            out, json_pack("{s:s,s:s}", "flavor_id", id, "tenant_id", nph_stmt_col_text(st, 0)));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    json_decref(f);
    nph_store_release(db);
    return out;
}
