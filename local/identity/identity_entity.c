/*
 * identity_entity.c - the identity entities as data (one column table per kind) and the one
 * generic create/get/list/update/delete path driven by those tables, with each kind's
 * reference checks and delete cascades.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity_internal.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_json.h"

#define DESC_MAX 10000
#define URL_MAX  2048

static const struct ident_col domain_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER, 64, NULL},
    {"description", COL_STR, 0, DESC_MAX, ""},
    {"enabled", COL_BOOL, COLF_FILTER, 0, "1"},
    {"tags", COL_TAGS, 0, 0, "[]"},
};
static const struct ident_col project_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER, 64, NULL},
    {"domain_id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, "default"},
    {"parent_id", COL_NSTR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"description", COL_STR, 0, DESC_MAX, ""},
    {"enabled", COL_BOOL, COLF_FILTER, 0, "1"},
    {"tags", COL_TAGS, 0, 0, "[]"},
};
static const struct ident_col user_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER, IDENT_NAME_MAX, NULL},
    {"domain_id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, "default"},
    {"description", COL_NSTR, 0, DESC_MAX, NULL},
    {"email", COL_NSTR, 0, IDENT_NAME_MAX, NULL},
    {"default_project_id", COL_NSTR, 0, IDENT_ID_MAX, NULL},
    {"enabled", COL_BOOL, COLF_FILTER, 0, "1"},
};
static const struct ident_col group_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER, 64, NULL},
    {"domain_id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, "default"},
    {"description", COL_STR, 0, DESC_MAX, ""},
};
static const struct ident_col role_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER, IDENT_NAME_MAX, NULL},
    {"domain_id", COL_NSTR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, ""},
    {"description", COL_NSTR, 0, DESC_MAX, NULL},
};
static const struct ident_col region_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_NAME_MAX, NULL},
    {"description", COL_STR, 0, DESC_MAX, ""},
    {"parent_region_id", COL_NSTR, COLF_FILTER, IDENT_NAME_MAX, NULL},
};
static const struct ident_col service_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"type", COL_STR, COLF_REQUIRED | COLF_FILTER, IDENT_NAME_MAX, NULL},
    {"name", COL_STR, COLF_FILTER, IDENT_NAME_MAX, ""},
    {"description", COL_STR, 0, DESC_MAX, ""},
    {"enabled", COL_BOOL, COLF_FILTER, 0, "1"},
};
static const struct ident_col endpoint_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"service_id", COL_STR, COLF_REQUIRED | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"interface", COL_STR, COLF_REQUIRED | COLF_FILTER, 16, NULL},
    {"url", COL_STR, COLF_REQUIRED, URL_MAX, NULL},
    {"region_id", COL_NSTR, COLF_FILTER, IDENT_NAME_MAX, NULL},
    {"enabled", COL_BOOL, COLF_FILTER, 0, "1"},
};
static const struct ident_col app_cred_cols[] = {
    {"id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"name", COL_STR, COLF_REQUIRED | COLF_FILTER | COLF_IMMUTABLE, IDENT_NAME_MAX, NULL},
    {"user_id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"project_id", COL_STR, COLF_IMMUTABLE | COLF_FILTER, IDENT_ID_MAX, NULL},
    {"description", COL_NSTR, COLF_IMMUTABLE, DESC_MAX, NULL},
    {"expires_at", COL_TIME, COLF_IMMUTABLE, 0, NULL},
    {"unrestricted", COL_BOOL, COLF_IMMUTABLE, 0, "0"},
    {"roles", COL_JSONARR, COLF_IMMUTABLE, 0, "[]"},
};

#define N(a) (sizeof(a) / sizeof(a[0]))
static const struct ident_entity entities[IDENT__KIND_COUNT] = {
    [IDENT_DOMAIN] = {IDENT_DOMAIN, "domain", "domains", "identity_domain", domain_cols,
                      N(domain_cols), 0, 1},
    [IDENT_PROJECT] = {IDENT_PROJECT, "project", "projects", "identity_project", project_cols,
                       N(project_cols), 0, 1},
    [IDENT_USER] = {IDENT_USER, "user", "users", "identity_user", user_cols, N(user_cols), 0, 1},
    [IDENT_GROUP] = {IDENT_GROUP, "group", "groups", "identity_group", group_cols, N(group_cols), 0,
                     1},
    [IDENT_ROLE] = {IDENT_ROLE, "role", "roles", "identity_role", role_cols, N(role_cols), 0, 1},
    [IDENT_REGION] = {IDENT_REGION, "region", "regions", "identity_region", region_cols,
                      N(region_cols), 1, 1},
    [IDENT_SERVICE] = {IDENT_SERVICE, "service", "services", "identity_service", service_cols,
                       N(service_cols), 0, 1},
    [IDENT_ENDPOINT] = {IDENT_ENDPOINT, "endpoint", "endpoints", "identity_endpoint", endpoint_cols,
                        N(endpoint_cols), 0, 1},
    [IDENT_APP_CRED] = {IDENT_APP_CRED, "application_credential", "application_credentials",
                        "identity_app_cred", app_cred_cols, N(app_cred_cols), 0, 1},
};

/* Attributes the API accepts and ignores (read-only or handled elsewhere). */
static const char *const ignored_attrs[] = {
    "links",    "options", "is_domain",    "password_expires_at",
    "password", "secret",  "access_rules", NULL};

const struct ident_entity *ident_entity(enum ident_kind kind)
{
    return &entities[kind];
}

const char *ident_kind_name(enum ident_kind kind)
{
    return entities[kind].name;
}

const char *ident_kind_plural(enum ident_kind kind)
{
    return entities[kind].plural;
}

struct nph_db *ident_db(struct local_identity *li, struct nph_error *err)
{
    return nph_store_acquire(li->store, err);
}

void ident_select_sql(const struct ident_entity *e, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "SELECT ");
    for (size_t i = 0; i < e->n_cols; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s, ", e->cols[i].name);
    snprintf(buf + off, len - off, "extra FROM %s", e->table);
}

static void format_time_nozone(int64_t us, char *buf, size_t len)
{
    /* Keystone renders application credential expiry like Python's isoformat(): microseconds
     * and no zone. */
    nph_time_format(us, 6, buf, len);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == 'Z')
        buf[n - 1] = '\0';
}

json_t *ident_row_to_json(const struct ident_entity *e, struct nph_stmt *st)
{
    json_t *o = json_object();
    const char *extra;
    if (!o)
        return NULL;
    for (size_t i = 0; i < e->n_cols; i++) {
        const struct ident_col *c = &e->cols[i];
        const char *txt = nph_stmt_col_text(st, (int)i);
        json_t *v = NULL;
        switch (c->type) {
        case COL_STR:
            v = json_string(txt ? txt : "");
            break;
        case COL_NSTR:
            v = (txt && *txt) ? json_string(txt) : json_null();
            break;
        case COL_BOOL:
            v = json_boolean(nph_stmt_col_int64(st, (int)i) != 0);
            break;
        case COL_TIME:
            if (nph_stmt_col_is_null(st, (int)i)) {
                v = json_null();
            } else {
                char tb[40];
                format_time_nozone(nph_stmt_col_int64(st, (int)i), tb, sizeof(tb));
                v = json_string(tb);
            }
            break;
        case COL_TAGS:
        case COL_JSONARR:
            v = txt ? json_loads(txt, 0, NULL) : NULL;
            if (!v)
                v = json_array();
            break;
        }
        json_object_set_new(o, c->name, v ? v : json_null());
    }
    extra = nph_stmt_col_text(st, (int)e->n_cols);
    if (extra && *extra) {
        json_t *x = json_loads(extra, 0, NULL);
        if (json_is_object(x)) {
            const char *k;
            json_t *v;
            json_object_foreach(x, k, v)
            {
                if (!json_object_get(o, k))
                    json_object_set(o, k, v);
            }
        }
        json_decref(x);
    }
    return o;
}

json_t *ident_collect_rows(const struct ident_entity *e, struct nph_stmt *st, struct nph_error *err)
{
    json_t *out = json_array();
    int rc;
    if (!out) {
        nph_error_nomem(err);
        return NULL;
    }
    while ((rc = nph_stmt_step(st, err)) == 1)
        json_array_append_new(out, ident_row_to_json(e, st));
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static const struct ident_col *find_col(const struct ident_entity *e, const char *name)
{
    for (size_t i = 0; i < e->n_cols; i++) {
        if (strcmp(e->cols[i].name, name) == 0)
            return &e->cols[i];
    }
    return NULL;
}

static int is_ignored(const char *k)
{
    for (size_t i = 0; ignored_attrs[i]; i++) {
        if (strcmp(ignored_attrs[i], k) == 0)
            return 1;
    }
    return 0;
}

/* A column value converted for binding: text, or int64 for BOOL/TIME, or NULL. */
struct bound {
    int is_null, is_int;
    int64_t i;
    char *text; /* malloc'd */
};

static int convert_value(const struct ident_entity *e, const struct ident_col *c, const json_t *v,
                         struct bound *out, struct nph_error *err)
{
    size_t max = c->max_len ? c->max_len : IDENT_NAME_MAX;
    memset(out, 0, sizeof(*out));
    switch (c->type) {
    case COL_STR:
    case COL_NSTR:
        if (json_is_null(v) && c->type == COL_NSTR) {
            /* null is how the column renders its default ('' for a global role's domain) */
            if (c->def) {
                out->text = strdup(c->def);
                return out->text ? 0 : nph_error_nomem(err);
            }
            out->is_null = 1;
            return 0;
        }
        if (!json_is_string(v))
            return nph_error_set(err, NPH_E_INVALID, "'%s.%s' must be a string", e->name, c->name);
        if (json_string_length(v) > max)
            return nph_error_set(err, NPH_E_INVALID, "'%s.%s' is longer than %zu characters",
                                 e->name, c->name, max);
        if ((c->flags & COLF_REQUIRED) && json_string_length(v) == 0)
            return nph_error_set(err, NPH_E_INVALID, "'%s.%s' must not be empty", e->name, c->name);
        out->text = strdup(json_string_value(v));
        break;
    case COL_BOOL:
        if (!json_is_boolean(v))
            return nph_error_set(err, NPH_E_INVALID, "'%s.%s' must be a boolean", e->name, c->name);
        out->is_int = 1;
        out->i = json_is_true(v);
        return 0;
    case COL_TIME:
        if (json_is_null(v)) {
            out->is_null = 1;
            return 0;
        }
        if (!json_is_string(v) || nph_time_parse(json_string_value(v), &out->i))
            return nph_error_set(err, NPH_E_INVALID,
                                 "'%s.%s' must be an ISO 8601 time such as "
                                 "2030-01-01T00:00:00",
                                 e->name, c->name);
        out->is_int = 1;
        return 0;
    case COL_TAGS:
    case COL_JSONARR:
        if (!json_is_array(v))
            return nph_error_set(err, NPH_E_INVALID, "'%s.%s' must be an array", e->name, c->name);
        if (c->type == COL_TAGS) {
            size_t i;
            json_t *t;
            if (json_array_size(v) > 80)
                return nph_error_set(err, NPH_E_INVALID, "'%s.tags' holds more than 80 tags",
                                     e->name);
            json_array_foreach(v, i, t)
            {
                if (!json_is_string(t) || json_string_length(t) == 0 ||
                    json_string_length(t) > 255 || strchr(json_string_value(t), '/') ||
                    strchr(json_string_value(t), ','))
                    return nph_error_set(err, NPH_E_INVALID,
                                         "'%s.tags' must hold non-empty strings of at most 255 "
                                         "characters without '/' or ','",
                                         e->name);
            }
        }
        out->text = json_dumps(v, JSON_COMPACT);
        break;
    }
    if (!out->text)
        return nph_error_nomem(err);
    return 0;
}

static int bind_bound(struct nph_stmt *st, int idx, const struct bound *b, struct nph_error *err)
{
    if (b->is_null)
        return nph_stmt_bind_null(st, idx, err);
    if (b->is_int)
        return nph_stmt_bind_int64(st, idx, b->i, err);
    return nph_stmt_bind_text(st, idx, b->text, err);
}

static int bound_default(const struct ident_col *c, struct bound *out)
{
    memset(out, 0, sizeof(*out));
    if (!c->def) {
        out->is_null = 1;
        return 0;
    }
    if (c->type == COL_BOOL) {
        out->is_int = 1;
        out->i = atoi(c->def);
        return 0;
    }
    out->text = strdup(c->def);
    return out->text ? 0 : -1;
}

/* 1 if a row with this id exists in the kind's table, 0 if not, -1 on error. */
static int row_exists(struct nph_db *db, enum ident_kind kind, const char *id,
                      struct nph_error *err)
{
    char sql[128];
    struct nph_stmt *st;
    int rc;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?", entities[kind].table);
    st = nph_db_prepare(db, sql, err);
    if (!st || nph_stmt_bind_text(st, 1, id, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc;
}

static int must_exist(struct nph_db *db, enum ident_kind kind, const char *id, const char *what,
                      struct nph_error *err)
{
    int rc;
    if (!id) /* given, but not as a string */
        return nph_error_set(err, NPH_E_INVALID, "'%s_id' must be a string", what);
    rc = row_exists(db, kind, id, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s", what, id);
    return 0;
}

/* Reference checks and derived values, kind by kind, on the object about to be written. */
static int check_refs(struct nph_db *db, enum ident_kind kind, json_t *obj, struct nph_error *err)
{
    const char *s;
    switch (kind) {
    case IDENT_PROJECT: {
        const char *dom = json_string_value(json_object_get(obj, "domain_id"));
        const char *parent = json_string_value(json_object_get(obj, "parent_id"));
        if (must_exist(db, IDENT_DOMAIN, dom, "domain", err))
            return -1;
        if (!parent || strcmp(parent, dom) == 0) {
            json_object_set_new(obj, "parent_id", json_string(dom));
        } else {
            json_t *p;
            struct nph_stmt *st =
                nph_db_prepare(db, "SELECT domain_id FROM identity_project WHERE id = ?", err);
            int rc;
            if (!st || nph_stmt_bind_text(st, 1, parent, err))
                return -1;
            rc = nph_stmt_step(st, err);
            p = rc == 1 ? json_string(nph_stmt_col_text(st, 0)) : NULL;
            nph_stmt_done(st);
            if (rc < 0)
                return -1;
            if (!p)
                return nph_error_set(err, NPH_E_NOT_FOUND, "could not find project: %s", parent);
            rc = strcmp(json_string_value(p), dom);
            json_decref(p);
            if (rc != 0)
                return nph_error_set(err, NPH_E_INVALID,
                                     "cannot create project: parent '%s' is in another domain",
                                     parent);
        }
        return 0;
    }
    case IDENT_USER:
    case IDENT_GROUP:
        return must_exist(db, IDENT_DOMAIN, json_string_value(json_object_get(obj, "domain_id")),
                          "domain", err);
    case IDENT_ROLE:
        s = json_string_value(json_object_get(obj, "domain_id"));
        return (s && *s) ? must_exist(db, IDENT_DOMAIN, s, "domain", err) : 0;
    case IDENT_REGION:
        s = json_string_value(json_object_get(obj, "parent_region_id"));
        if (s && *s && strcmp(s, json_string_value(json_object_get(obj, "id"))) == 0)
            return nph_error_set(err, NPH_E_INVALID, "a region cannot be its own parent");
        return (s && *s) ? must_exist(db, IDENT_REGION, s, "region", err) : 0;
    case IDENT_ENDPOINT:
        s = json_string_value(json_object_get(obj, "interface"));
        if (!s || (strcmp(s, "public") && strcmp(s, "internal") && strcmp(s, "admin")))
            return nph_error_set(err, NPH_E_INVALID,
                                 "'endpoint.interface' must be public, internal or admin");
        s = json_string_value(json_object_get(obj, "url"));
        if (!s || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
            return nph_error_set(err, NPH_E_INVALID, "'endpoint.url' must be an http(s) URL");
        if (must_exist(db, IDENT_SERVICE, json_string_value(json_object_get(obj, "service_id")),
                       "service", err))
            return -1;
        s = json_string_value(json_object_get(obj, "region_id"));
        return (s && *s) ? must_exist(db, IDENT_REGION, s, "region", err) : 0;
    default:
        return 0;
    }
}

/* Build the object to store: defaults, then attrs over them (validated), unknown attributes
 * into "extra". On success *vals holds one bound per column and *extra the extra text. */
static int prepare_row(const struct ident_entity *e, const json_t *attrs, json_t *obj,
                       struct nph_error *err)
{
    const char *k;
    json_t *v;
    json_t *extra = json_object();
    if (!extra)
        return nph_error_nomem(err);
    json_object_foreach((json_t *)attrs, k, v)
    {
        const struct ident_col *c = find_col(e, k);
        if (c) {
            if (strcmp(k, "id") == 0 && !e->id_settable)
                continue;
            json_object_set(obj, k, v);
        } else if (!is_ignored(k)) {
            if (!e->has_extra) {
                json_decref(extra);
                return nph_error_set(err, NPH_E_INVALID, "unknown attribute '%s.%s'", e->name, k);
            }
            json_object_set(extra, k, v);
        }
    }
    if (json_object_size(extra) > 32) {
        json_decref(extra);
        return nph_error_set(err, NPH_E_INVALID, "too many extra attributes on '%s'", e->name);
    }
    json_object_set_new(obj, "extra", extra);
    return 0;
}

static int write_row(struct nph_db *db, const struct ident_entity *e, json_t *obj, int update,
                     struct nph_error *err)
{
    char sql[1024];
    size_t off = 0;
    struct bound vals[16];
    size_t n = e->n_cols;
    int rc = -1, idx = 1;
    char *extra_txt = NULL;
    struct nph_stmt *st = NULL;
    memset(vals, 0, sizeof(vals));

    for (size_t i = 0; i < n; i++) {
        const struct ident_col *c = &e->cols[i];
        json_t *v = json_object_get(obj, c->name);
        if (v) {
            if (convert_value(e, c, v, &vals[i], err))
                goto cleanup;
        } else if (c->flags & COLF_REQUIRED) {
            nph_error_set(err, NPH_E_INVALID, "'%s.%s' is required", e->name, c->name);
            goto cleanup;
        } else if (bound_default(c, &vals[i])) {
            nph_error_nomem(err);
            goto cleanup;
        }
    }
    json_t *x = json_object_get(obj, "extra");
    extra_txt = json_object_size(x) ? json_dumps(x, JSON_COMPACT) : NULL;
    if (extra_txt && strlen(extra_txt) > 65536) {
        nph_error_set(err, NPH_E_INVALID, "extra attributes of '%s' are too large", e->name);
        goto cleanup;
    }

    if (update) {
        off = (size_t)snprintf(sql, sizeof(sql), "UPDATE %s SET ", e->table);
        for (size_t i = 1; i < n; i++)
            off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s = ?, ", e->cols[i].name);
        snprintf(sql + off, sizeof(sql) - off, "extra = ? WHERE id = ?");
    } else {
        off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s (", e->table);
        for (size_t i = 0; i < n; i++)
            off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s, ", e->cols[i].name);
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, "extra) VALUES (");
        for (size_t i = 0; i < n; i++)
            off += (size_t)snprintf(sql + off, sizeof(sql) - off, "?, ");
        snprintf(sql + off, sizeof(sql) - off, "?)");
    }
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto cleanup;
    for (size_t i = update ? 1 : 0; i < n; i++) {
        if (bind_bound(st, idx++, &vals[i], err))
            goto cleanup;
    }
    if (nph_stmt_bind_text(st, idx++, extra_txt, err))
        goto cleanup;
    if (update && bind_bound(st, idx++, &vals[0], err))
        goto cleanup;
    if (nph_stmt_step(st, err) < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "conflicting %s: a %s with that name exists",
                          e->name, e->name);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (st)
        nph_stmt_done(st);
    for (size_t i = 0; i < n; i++)
        free(vals[i].text);
    free(extra_txt);
    return rc;
}

static json_t *get_row(struct nph_db *db, const struct ident_entity *e, const char *id,
                       struct nph_error *err)
{
    char sql[512];
    struct nph_stmt *st;
    json_t *o = NULL;
    int rc;
    size_t off;
    ident_select_sql(e, sql, sizeof(sql));
    off = strlen(sql);
    snprintf(sql + off, sizeof(sql) - off, " WHERE id = ?");
    st = nph_db_prepare(db, sql, err);
    if (!st || nph_stmt_bind_text(st, 1, id, err))
        return NULL;
    rc = nph_stmt_step(st, err);
    if (rc == 1)
        o = ident_row_to_json(e, st);
    nph_stmt_done(st);
    if (rc == 0)
        nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s", e->name, id);
    return o;
}

/* Users: hash a new password, record it in the history. */
static int set_password(struct local_identity *li, struct nph_db *db, const char *user_id,
                        const char *password, struct nph_error *err)
{
    struct nph_stmt *st;
    char *hash;
    int64_t now = nph_clock_now();
    if (strlen(password) > 4096)
        return nph_error_set(err, NPH_E_INVALID, "'user.password' is too long");
    hash = nph_password_hash(password, li->opts.password_iterations, err);
    if (!hash)
        return -1;
    st = nph_db_prepare(db,
                        "UPDATE identity_user SET password_hash = ?, password_created_at = ?,"
                        " failed_auth_count = 0 WHERE id = ?",
                        err);
    if (!st || nph_stmt_bind_text(st, 1, hash, err) || nph_stmt_bind_int64(st, 2, now, err) ||
        nph_stmt_bind_text(st, 3, user_id, err) || nph_stmt_step(st, err) < 0)
        goto fail;
    nph_stmt_done(st);
    st = nph_db_prepare(db,
                        "INSERT INTO identity_password_history (user_id, hash, created_at)"
                        " VALUES (?, ?, ?)",
                        err);
    if (!st || nph_stmt_bind_text(st, 1, user_id, err) || nph_stmt_bind_text(st, 2, hash, err) ||
        nph_stmt_bind_int64(st, 3, now, err) || nph_stmt_step(st, err) < 0)
        goto fail;
    nph_stmt_done(st);
    free(hash);
    return 0;
fail:
    if (st)
        nph_stmt_done(st);
    free(hash);
    return -1;
}

int ident_user_set_password(struct local_identity *li, struct nph_db *db, const char *user_id,
                            const char *password, struct nph_error *err);
int ident_user_set_password(struct local_identity *li, struct nph_db *db, const char *user_id,
                            const char *password, struct nph_error *err)
{
    return set_password(li, db, user_id, password, err);
}

static json_t *create_in(struct local_identity *li, struct nph_db *db, enum ident_kind kind,
                         const json_t *attrs, const char *forced_id, struct nph_error *err)
{
    const struct ident_entity *e = &entities[kind];
    json_t *obj = json_object();
    json_t *pw = json_object_get(attrs, "password");
    char id[NPH_UUID_HEX_LEN + 1];
    if (!obj) {
        nph_error_nomem(err);
        return NULL;
    }
    if (!json_is_object(attrs)) {
        nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", e->name);
        goto fail;
    }
    if (prepare_row(e, attrs, obj, err))
        goto fail;
    if (forced_id) {
        json_object_set_new(obj, "id", json_string(forced_id));
    } else if (!json_object_get(obj, "id")) {
        if (nph_uuid4_hex(id)) {
            nph_error_set(err, NPH_E_INTERNAL, "random source failed");
            goto fail;
        }
        json_object_set_new(obj, "id", json_string(id));
    }
    for (size_t i = 0; i < e->n_cols; i++) {
        const struct ident_col *c = &e->cols[i];
        if (!json_object_get(obj, c->name) && c->def && c->type == COL_STR)
            json_object_set_new(obj, c->name, json_string(c->def));
    }
    if (kind == IDENT_USER && pw && !json_is_null(pw) && !json_is_string(pw)) {
        nph_error_set(err, NPH_E_INVALID, "'user.password' must be a string");
        goto fail;
    }
    if (check_refs(db, kind, obj, err) || write_row(db, e, obj, 0, err))
        goto fail;
    if (kind == IDENT_USER && json_is_string(pw) &&
        set_password(li, db, json_string_value(json_object_get(obj, "id")), json_string_value(pw),
                     err))
        goto fail;
    json_t *out = get_row(db, e, json_string_value(json_object_get(obj, "id")), err);
    json_decref(obj);
    return out;
fail:
    json_decref(obj);
    return NULL;
}

json_t *ident_create_with_id(struct local_identity *li, struct nph_db *db, enum ident_kind kind,
                             const json_t *attrs, const char *id, struct nph_error *err);
json_t *ident_create_with_id(struct local_identity *li, struct nph_db *db, enum ident_kind kind,
                             const json_t *attrs, const char *id, struct nph_error *err)
{
    return create_in(li, db, kind, attrs, id, err);
}

json_t *local_identity_create(struct local_identity *li, enum ident_kind kind, const json_t *attrs,
                              struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    json_t *out = NULL;
    if (!db)
        return NULL;
    if (nph_db_begin(db, err) == 0) {
        out = create_in(li, db, kind, attrs, NULL, err);
        if (out && nph_db_commit(db, err)) {
            json_decref(out);
            out = NULL;
        }
    }
    nph_store_release(db);
    return out;
}

json_t *local_identity_get(struct local_identity *li, enum ident_kind kind, const char *id,
                           struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    json_t *out;
    if (!db)
        return NULL;
    out = get_row(db, &entities[kind], id, err);
    nph_store_release(db);
    return out;
}

/* Append " AND col = ?" for each usable filter; returns the values to bind (array). */
static json_t *list_rows(struct nph_db *db, const struct ident_entity *e, const json_t *filters,
                         struct nph_error *err)
{
    char sql[1024];
    size_t off;
    const char *k;
    json_t *v, *binds = json_array(), *out = NULL;
    struct nph_stmt *st = NULL;
    int idx = 1, first = 1;
    ident_select_sql(e, sql, sizeof(sql));
    off = strlen(sql);
    json_object_foreach((json_t *)filters, k, v)
    {
        const struct ident_col *c = find_col(e, k);
        if (!c || !(c->flags & COLF_FILTER))
            continue;
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, " %s %s = ?", first ? "WHERE" : "AND",
                                c->name);
        first = 0;
        if (c->type == COL_BOOL) {
            const char *s = json_string_value(v);
            int b =
                json_is_true(v) ||
                (s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "1") == 0));
            json_array_append_new(binds, json_integer(b));
        } else {
            json_array_append_new(binds,
                                  json_string(json_is_string(v) ? json_string_value(v) : ""));
        }
    }
    snprintf(sql + off, sizeof(sql) - off, " ORDER BY %s",
             e->kind == IDENT_REGION ? "id" : (find_col(e, "name") ? "name, id" : "id"));
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto cleanup;
    size_t i;
    json_array_foreach(binds, i, v)
    {
        if ((json_is_integer(v) ? nph_stmt_bind_int64(st, idx++, json_integer_value(v), err)
                                : nph_stmt_bind_text(st, idx++, json_string_value(v), err)))
            goto cleanup;
    }
    out = ident_collect_rows(e, st, err);
cleanup:
    if (st)
        nph_stmt_done(st);
    json_decref(binds);
    return out;
}

json_t *local_identity_list(struct local_identity *li, enum ident_kind kind, const json_t *filters,
                            struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    json_t *out;
    if (!db)
        return NULL;
    out = list_rows(db, &entities[kind], filters, err);
    nph_store_release(db);
    return out;
}

json_t *local_identity_find(struct local_identity *li, enum ident_kind kind, const char *name,
                            const char *domain_id, struct nph_error *err)
{
    json_t *f = json_object(), *list, *out = NULL;
    json_object_set_new(f, kind == IDENT_REGION ? "id" : "name", json_string(name));
    if (domain_id && find_col(&entities[kind], "domain_id"))
        json_object_set_new(f, "domain_id", json_string(domain_id));
    list = local_identity_list(li, kind, f, err);
    json_decref(f);
    if (!list)
        return NULL;
    if (json_array_size(list) >= 1)
        out = json_incref(json_array_get(list, 0));
    else
        nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s", entities[kind].name, name);
    json_decref(list);
    return out;
}

/* Revoke every token of the domain's users and of its projects: one event keyed
 * "domain:<id>" in the project column, matched against the token's user and scope domains. */
static int revoke_in_domain(struct nph_db *db, const char *domain_id, struct nph_error *err)
{
    char key[IDENT_ID_MAX + 16];
    snprintf(key, sizeof(key), "domain:%s", domain_id);
    return ident_revoke_event(db, NULL, NULL, key, 0, err);
}

/* Revoke the tokens that carry role or application credential `id`: an event keyed
 * "<what>:<id>" in the audit column. */
static int revoke_tagged(struct nph_db *db, const char *what, const char *id, struct nph_error *err)
{
    char key[IDENT_ID_MAX + 16];
    snprintf(key, sizeof(key), "%s:%s", what, id);
    return ident_revoke_event(db, key, NULL, NULL, 0, err);
}

json_t *local_identity_update(struct local_identity *li, enum ident_kind kind, const char *id,
                              const json_t *patch, struct nph_error *err)
{
    const struct ident_entity *e = &entities[kind];
    struct nph_db *db;
    json_t *cur = NULL, *out = NULL, *pw;
    const char *k;
    json_t *v;
    if (!json_is_object(patch)) {
        nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", e->name);
        return NULL;
    }
    json_object_foreach((json_t *)patch, k, v)
    {
        const struct ident_col *c = find_col(e, k);
        if (c && (c->flags & COLF_IMMUTABLE)) {
            if (strcmp(k, "id") == 0 && json_is_string(v) && strcmp(json_string_value(v), id) == 0)
                continue;
            nph_error_set(err, NPH_E_INVALID, "'%s.%s' cannot be updated", e->name, k);
            return NULL;
        }
    }
    db = ident_db(li, err);
    if (!db)
        return NULL;
    if (nph_db_begin(db, err))
        goto cleanup;
    cur = get_row(db, e, id, err);
    if (!cur)
        goto cleanup;
    {
        json_t *extra = json_object();
        json_t *obj = json_object();
        json_object_foreach(cur, k, v)
        {
            if (find_col(e, k))
                json_object_set(obj, k, v);
            else
                json_object_set(extra, k, v);
        }
        json_object_set_new(obj, "extra", extra);
        json_object_foreach((json_t *)patch, k, v)
        {
            if (find_col(e, k))
                json_object_set(obj, k, v);
            else if (!is_ignored(k))
                json_object_set(extra, k, v);
        }
        /* Values rendered from COL_TIME columns are text again: re-parse works. */
        if (check_refs(db, kind, obj, err) || write_row(db, e, obj, 1, err)) {
            json_decref(obj);
            goto cleanup;
        }
        json_decref(obj);
    }
    pw = json_object_get(patch, "password");
    if (kind == IDENT_USER && pw) {
        if (!json_is_string(pw)) {
            nph_error_set(err, NPH_E_INVALID, "'user.password' must be a string");
            goto cleanup;
        }
        if (ident_check_password_history(li, db, id, json_string_value(pw), err) ||
            set_password(li, db, id, json_string_value(pw), err) ||
            ident_revoke_event(db, NULL, id, NULL, 0, err))
            goto cleanup;
    }
    if ((kind == IDENT_USER || kind == IDENT_PROJECT) &&
        json_is_false(json_object_get(patch, "enabled"))) {
        if (ident_revoke_event(db, NULL, kind == IDENT_USER ? id : NULL,
                               kind == IDENT_PROJECT ? id : NULL, 0, err))
            goto cleanup;
    }
    if (kind == IDENT_DOMAIN && json_is_false(json_object_get(patch, "enabled")) &&
        revoke_in_domain(db, id, err))
        goto cleanup;
    out = get_row(db, e, id, err);
    if (out && nph_db_commit(db, err)) {
        json_decref(out);
        out = NULL;
    }
    if (out && (kind == IDENT_USER || kind == IDENT_PROJECT || kind == IDENT_DOMAIN))
        ident_revocations_changed(li);
cleanup:
    json_decref(cur);
    nph_store_release(db);
    return out;
}

static int exec_bind1(struct nph_db *db, const char *sql, const char *id, struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc;
    if (!st)
        return -1;
    rc = nph_stmt_bind_text(st, 1, id, err);
    if (rc == 0)
        rc = nph_stmt_step(st, err) < 0 ? -1 : 0;
    nph_stmt_done(st);
    return rc;
}

static int count_bind1(struct nph_db *db, const char *sql, const char *id, int64_t *n,
                       struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_text(st, 1, id, err)) {
        nph_stmt_done(st);
        return -1;
    }
    rc = nph_stmt_step(st, err);
    *n = rc == 1 ? nph_stmt_col_int64(st, 0) : 0;
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

/* What refers to a domain's users, groups, roles and projects, deleted with the domain. */
static const char *const domain_cascade[] = {
    "DELETE FROM identity_assignment WHERE actor_id IN"
    " (SELECT id FROM identity_group WHERE domain_id = ?)",
    "DELETE FROM identity_assignment WHERE role_id IN"
    " (SELECT id FROM identity_role WHERE domain_id = ?)",
    "DELETE FROM identity_role_implication WHERE prior_role_id IN"
    " (SELECT id FROM identity_role WHERE domain_id = ?)",
    "DELETE FROM identity_role_implication WHERE implied_role_id IN"
    " (SELECT id FROM identity_role WHERE domain_id = ?)",
    "DELETE FROM identity_group_member WHERE group_id IN"
    " (SELECT id FROM identity_group WHERE domain_id = ?)",
    "DELETE FROM identity_group_member WHERE user_id IN"
    " (SELECT id FROM identity_user WHERE domain_id = ?)",
    "DELETE FROM identity_app_cred WHERE user_id IN"
    " (SELECT id FROM identity_user WHERE domain_id = ?)",
    "DELETE FROM identity_app_cred WHERE project_id IN"
    " (SELECT id FROM identity_project WHERE domain_id = ?)",
    "DELETE FROM identity_password_history WHERE user_id IN"
    " (SELECT id FROM identity_user WHERE domain_id = ?)",
};

/* Revoke the tokens of a domain's users and those scoped to its projects. */
static int delete_cascade(struct nph_db *db, enum ident_kind kind, const char *id,
                          struct nph_error *err)
{
    int64_t n = 0;
    switch (kind) {
    case IDENT_DOMAIN:
        if (count_bind1(db, "SELECT enabled FROM identity_domain WHERE id = ?", id, &n, err))
            return -1;
        if (n)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "cannot delete a domain that is enabled, please disable it "
                                 "first");
        if (revoke_in_domain(db, id, err))
            return -1;
        for (size_t i = 0; i < sizeof(domain_cascade) / sizeof(domain_cascade[0]); i++) {
            if (exec_bind1(db, domain_cascade[i], id, err))
                return -1;
        }
        if (exec_bind1(db,
                       "DELETE FROM identity_assignment WHERE target_id IN (SELECT id FROM "
                       "identity_project WHERE domain_id = ?)",
                       id, err) ||
            exec_bind1(db,
                       "DELETE FROM identity_assignment WHERE actor_id IN (SELECT id FROM "
                       "identity_user WHERE domain_id = ?)",
                       id, err) ||
            exec_bind1(db, "DELETE FROM identity_assignment WHERE target_id = ?", id, err) ||
            exec_bind1(db, "DELETE FROM identity_project WHERE domain_id = ?", id, err) ||
            exec_bind1(db, "DELETE FROM identity_user WHERE domain_id = ?", id, err) ||
            exec_bind1(db, "DELETE FROM identity_group WHERE domain_id = ?", id, err) ||
            exec_bind1(db, "DELETE FROM identity_role WHERE domain_id = ?", id, err))
            return -1;
        return 0;
    case IDENT_PROJECT:
        if (count_bind1(db, "SELECT COUNT(*) FROM identity_project WHERE parent_id = ?", id, &n,
                        err))
            return -1;
        if (n)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "cannot delete project '%s': it has child projects", id);
        return exec_bind1(db, "DELETE FROM identity_assignment WHERE target_id = ?", id, err) ||
                       exec_bind1(db, "DELETE FROM identity_app_cred WHERE project_id = ?", id,
                                  err) ||
                       ident_revoke_event(db, NULL, NULL, id, 0, err)
                   ? -1
                   : 0;
    case IDENT_USER:
        return exec_bind1(db, "DELETE FROM identity_assignment WHERE actor_id = ?", id, err) ||
                       exec_bind1(db, "DELETE FROM identity_group_member WHERE user_id = ?", id,
                                  err) ||
                       exec_bind1(db, "DELETE FROM identity_app_cred WHERE user_id = ?", id, err) ||
                       exec_bind1(db, "DELETE FROM identity_password_history WHERE user_id = ?", id,
                                  err) ||
                       ident_revoke_event(db, NULL, id, NULL, 0, err)
                   ? -1
                   : 0;
    case IDENT_GROUP:
        return exec_bind1(db, "DELETE FROM identity_assignment WHERE actor_id = ?", id, err) ||
                       exec_bind1(db, "DELETE FROM identity_group_member WHERE group_id = ?", id,
                                  err)
                   ? -1
                   : 0;
    case IDENT_APP_CRED:
        return revoke_tagged(db, "appcred", id, err);
    case IDENT_ROLE:
        return revoke_tagged(db, "role", id, err) ||
                       exec_bind1(db, "DELETE FROM identity_assignment WHERE role_id = ?", id,
                                  err) ||
                       exec_bind1(db,
                                  "DELETE FROM identity_role_implication WHERE ? IN "
                                  "(prior_role_id, implied_role_id)",
                                  id, err)
                   ? -1
                   : 0;
    case IDENT_SERVICE:
        return exec_bind1(db, "DELETE FROM identity_endpoint WHERE service_id = ?", id, err);
    case IDENT_REGION:
        if (count_bind1(db, "SELECT COUNT(*) FROM identity_region WHERE parent_region_id = ?", id,
                        &n, err))
            return -1;
        if (n)
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "cannot delete region '%s': it has child regions", id);
        return 0;
    default:
        return 0;
    }
}

int local_identity_delete(struct local_identity *li, enum ident_kind kind, const char *id,
                          struct nph_error *err)
{
    const struct ident_entity *e = &entities[kind];
    struct nph_db *db = ident_db(li, err);
    char sql[128];
    int rc = -1, ex;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto cleanup;
    ex = row_exists(db, kind, id, err);
    if (ex <= 0) {
        if (ex == 0)
            nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s", e->name, id);
        goto cleanup;
    }
    if (delete_cascade(db, kind, id, err))
        goto cleanup;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?", e->table);
    if (exec_bind1(db, sql, id, err) || nph_db_commit(db, err))
        goto cleanup;
    if (kind == IDENT_USER || kind == IDENT_PROJECT || kind == IDENT_DOMAIN || kind == IDENT_ROLE ||
        kind == IDENT_APP_CRED)
        ident_revocations_changed(li);
    rc = 0;
cleanup:
    nph_store_release(db);
    return rc;
}
