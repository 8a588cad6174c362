/*
 * local_network.c - the network service: its schema, the resource rows every kind shares
 * (fetch with visibility, insert, update, delete), the public create/get/list/update/delete
 * entry points that run each operation in one transaction and dispatch per kind, and quotas.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "network_internal.h"
#include "nph_clock.h"
#include "nph_log.h"

static const struct nph_migration network_migrations[] = {
    {1, "network base schema",
     "CREATE TABLE net_resource (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
     " project_id TEXT NOT NULL, parent_id TEXT, shared INTEGER NOT NULL DEFAULT 0,"
     " doc TEXT NOT NULL, created_at BIGINT NOT NULL);"
     "CREATE INDEX net_resource_kind ON net_resource (kind, project_id);"
     "CREATE INDEX net_resource_parent ON net_resource (parent_id, kind);"
     "CREATE TABLE net_ip (subnet_id TEXT NOT NULL, address TEXT NOT NULL,"
     " network_id TEXT NOT NULL, port_id TEXT NOT NULL, PRIMARY KEY (subnet_id, address));"
     "CREATE INDEX net_ip_port ON net_ip (port_id);"
     "CREATE TABLE net_mac (mac TEXT PRIMARY KEY, port_id TEXT NOT NULL);"
     "CREATE TABLE net_default_sg (project_id TEXT PRIMARY KEY, sg_id TEXT NOT NULL);"
     "CREATE TABLE net_quota (project_id TEXT NOT NULL, resource TEXT NOT NULL,"
     " hard_limit BIGINT NOT NULL, PRIMARY KEY (project_id, resource));"},
    {2, "ports by device",
     "ALTER TABLE net_resource ADD COLUMN device_id TEXT;"
     "CREATE INDEX net_resource_device ON net_resource (device_id);"},
    {3, "change stamp",
     "CREATE TABLE net_stamp (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);"
     "INSERT INTO net_stamp (id, n) VALUES (1, 0);"},
    {4, "IPAM hints",
     "CREATE TABLE net_ipam_hint (subnet_id TEXT PRIMARY KEY, next_addr TEXT NOT NULL);"},
};

/* The row's device column: a port's device_id, a floating IP's port_id (indexed lookups of
 * a server's ports and of a port's floating IPs). */
static const char *row_device(const json_t *doc)
{
    const char *d = json_string_value(json_object_get(doc, "device_id"));
    return d ? d : json_string_value(json_object_get(doc, "port_id"));
}

/* Floating IPs written before the device column carried their port: fill it in (once; rows
 * without a port stay NULL and cost a scan of the unassociated ones at start-up). */
static int backfill_fip_ports(struct nph_store *store, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(store, err);
    struct nph_stmt *st = NULL;
    json_t *docs;
    size_t i;
    json_t *d;
    int rc;
    if (!db)
        return -1;
    docs = json_array();
    rc = nph_db_queryf(db, err, &st,
                       "SELECT doc FROM net_resource WHERE kind = 'floatingip' AND device_id IS "
                       "NULL",
                       "");
    while (rc == 1) {
        json_t *doc = json_loads(nph_stmt_col_text(st, 0), 0, NULL);
        if (doc && row_device(doc))
            json_array_append(docs, doc);
        json_decref(doc);
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc >= 0 && json_array_size(docs)) {
        rc = nph_db_begin(db, err);
        json_array_foreach(docs, i, d) if (rc >= 0) rc =
            (int)nph_db_execf(db, err, "UPDATE net_resource SET device_id = ? WHERE id = ?", "ss",
                              row_device(d), json_string_value(json_object_get(d, "id")));
        rc = rc >= 0 ? nph_db_commit(db, err) : (nph_db_rollback(db, NULL), -1);
    }
    json_decref(docs);
    nph_store_release(db);
    return rc < 0 ? -1 : 0;
}

int local_network_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    if (nph_store_migrate(store, "network", network_migrations,
                          sizeof(network_migrations) / sizeof(network_migrations[0]), applied, err))
        return -1;
    return backfill_fip_ports(store, err);
}

static const struct {
    const char *name, *plural, *title, *notfound_fmt, *type;
} kinds[LN__KINDS] = {
    [LN_NETWORK] = {"network", "networks", "Network", "Network %s could not be found.",
                    "NetworkNotFound"},
    [LN_SUBNET] = {"subnet", "subnets", "Subnet", "Subnet %s could not be found.",
                   "SubnetNotFound"},
    [LN_PORT] = {"port", "ports", "Port", "Port %s could not be found.", "PortNotFound"},
    [LN_SECGROUP] = {"security_group", "security_groups", "Security group",
                     "Security group %s does not exist", "SecurityGroupNotFound"},
    [LN_SGRULE] = {"security_group_rule", "security_group_rules", "Security group rule",
                   "Security group rule %s does not exist", "SecurityGroupRuleNotFound"},
    [LN_ROUTER] = {"router", "routers", "Router", "Router %s could not be found", "RouterNotFound"},
    [LN_FLOATINGIP] = {"floatingip", "floatingips", "Floating IP",
                       "Floating IP %s could not be found", "FloatingIPNotFound"},
    [LN_SUBNETPOOL] = {"subnetpool", "subnetpools", "Subnet pool",
                       "Subnet pool %s could not be found.", "SubnetPoolNotFound"},
};

const char *local_network_kind_name(enum local_network_kind kind)
{
    return kinds[kind].name;
}

const char *local_network_kind_plural(enum local_network_kind kind)
{
    return kinds[kind].plural;
}

struct local_network *local_network_open(struct nph_store *store, struct nph_error *err)
{
    struct local_network *ln = calloc(1, sizeof(*ln));
    if (!ln) {
        nph_error_nomem(err);
        return NULL;
    }
    ln->store = store;
    pthread_mutex_init(&ln->wlock, NULL);
    return ln;
}

void ln_wlock(struct local_network *ln, struct nph_db *db)
{
    if (nph_db_engine(db) == NPH_STORE_SQLITE)
        pthread_mutex_lock(&ln->wlock);
}

void ln_wunlock(struct local_network *ln, struct nph_db *db)
{
    if (nph_db_engine(db) == NPH_STORE_SQLITE)
        pthread_mutex_unlock(&ln->wlock);
}

void local_network_set_hook(struct local_network *ln, local_network_hook_fn fn, void *ctx)
{
    ln->hook = fn;
    ln->hook_ctx = ctx;
}

void local_network_close(struct local_network *ln)
{
    if (!ln)
        return;
    ln_virt_close(ln);
    pthread_mutex_destroy(&ln->wlock);
    free(ln);
}

/* ---- store helpers ------------------------------------------------------------------------ */

int ln_lock(struct nph_db *db, const char *cls, const char *key, struct nph_error *err)
{
    struct nph_stmt *st;
    char sql[128];
    int rc;
    if (nph_db_engine(db) != NPH_STORE_POSTGRES)
        return 0; /* SQLite: BEGIN IMMEDIATE made this transaction the only writer */
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%s, hashtext(?))", cls);
    rc = nph_db_queryf(db, err, &st, sql, "s", key ? key : "");
    if (rc == 1)
        nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

int ln_not_found(struct nph_error *err, enum local_network_kind kind, const char *id)
{
    nph_error_set(err, NPH_E_NOT_FOUND, kinds[kind].notfound_fmt, id);
    return nph_error_detail(err, "%s", kinds[kind].type);
}

static int visible(const struct local_network_caller *c, const char *project, int shared)
{
    return !c || c->is_admin || shared || (project && strcmp(project, c->project_id) == 0);
}

json_t *ln_fetch(struct nph_db *db, const struct local_network_caller *c,
                 enum local_network_kind kind, const char *id, struct nph_error *err)
{
    struct nph_stmt *st;
    json_t *doc = NULL;
    int rc = nph_db_queryf(
        db, err, &st, "SELECT doc, project_id, shared FROM net_resource WHERE id = ? AND kind = ?",
        "ss", id ? id : "", kinds[kind].name);
    if (rc < 0)
        return NULL;
    if (rc == 1) {
        if (visible(c, nph_stmt_col_text(st, 1), (int)nph_stmt_col_int64(st, 2)))
            doc = json_loads(nph_stmt_col_text(st, 0), 0, NULL);
        nph_stmt_done(st);
    }
    if (!doc)
        ln_not_found(err, kind, id ? id : "");
    return doc;
}

int ln_owner_check(const struct local_network_caller *c, const json_t *doc, const char *action,
                   struct nph_error *err)
{
    const char *p = json_string_value(json_object_get(doc, "project_id"));
    if (c->is_admin || (p && strcmp(p, c->project_id) == 0))
        return 0;
    return LN_SET(err, NPH_E_FORBIDDEN, "PolicyNotAuthorized", "(rule:%s) is disallowed by policy",
                  action);
}

/* Every write of a resource moves the change stamp, in the writer's transaction. */
static int64_t bump(struct nph_db *db, int64_t rc, struct nph_error *err)
{
    if (rc < 0)
        return rc;
    return nph_db_execf(db, err, "UPDATE net_stamp SET n = n + 1 WHERE id = 1", "");
}

int local_network_stamp(struct local_network *ln, uint64_t *out, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    struct nph_stmt *st;
    int rc;
    if (!db)
        return -1;
    rc = nph_db_queryf(db, err, &st, "SELECT n FROM net_stamp WHERE id = 1", "");
    if (rc == 1) {
        *out = (uint64_t)nph_stmt_col_int64(st, 0);
        nph_stmt_done(st);
    }
    nph_store_release(db);
    return rc == 1 ? 0 : rc < 0 ? -1 : nph_error_set(err, NPH_E_INTERNAL, "no network stamp");
}

int ln_row_insert(struct nph_db *db, enum local_network_kind kind, const json_t *doc,
                  const char *parent_id, int shared, struct nph_error *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    int64_t rc;
    if (!text)
        return nph_error_nomem(err);
    rc = nph_db_execf(db, err,
                      "INSERT INTO net_resource (id, kind, project_id, parent_id, shared, doc,"
                      " created_at, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssssisis", json_string_value(json_object_get(doc, "id")), kinds[kind].name,
                      json_string_value(json_object_get(doc, "project_id")), parent_id,
                      (int64_t)shared, text, nph_clock_now(), row_device(doc));
    free(text);
    return bump(db, rc, err) < 0 ? -1 : 0;
}

static void stamp_now(json_t *doc, const char *key)
{
    char buf[40];
    json_object_set_new(doc, key, json_string(nph_time_format(nph_clock_now(), 0, buf, 40)));
}

int ln_row_update(struct nph_db *db, json_t *doc, int shared, struct nph_error *err)
{
    char *text;
    int64_t rc;
    json_object_set_new(
        doc, "revision_number",
        json_integer(json_integer_value(json_object_get(doc, "revision_number")) + 1));
    stamp_now(doc, "updated_at");
    if (!(text = json_dumps(doc, JSON_COMPACT)))
        return nph_error_nomem(err);
    rc = nph_db_execf(
        db, err, "UPDATE net_resource SET doc = ?, shared = ?, device_id = ? WHERE id = ?", "siss",
        text, (int64_t)shared, row_device(doc), json_string_value(json_object_get(doc, "id")));
    free(text);
    return bump(db, rc, err) < 0 ? -1 : 0;
}

int ln_row_delete(struct nph_db *db, const char *id, struct nph_error *err)
{
    return bump(db, nph_db_execf(db, err, "DELETE FROM net_resource WHERE id = ?", "s", id), err) <
                   0
               ? -1
               : 0;
}

json_t *ln_children(struct nph_db *db, enum local_network_kind kind, const char *parent,
                    struct nph_error *err)
{
    struct nph_stmt *st = NULL;
    json_t *out = json_array();
    int rc;
    if (!out) {
        nph_error_nomem(err);
        return NULL;
    }
    rc = nph_db_queryf(
        db, err, &st,
        "SELECT doc FROM net_resource WHERE kind = ? AND (CAST(? AS TEXT) IS NULL OR parent_id = ?)"
        " ORDER BY created_at, id",
        "sss", kinds[kind].name, parent, parent);
    while (rc == 1) {
        json_t *d = json_loads(nph_stmt_col_text(st, 0), 0, NULL);
        if (d)
            json_array_append_new(out, d);
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- attributes --------------------------------------------------------------------------- */

int ln_check_attrs(const json_t *attrs, const char *const *allowed, struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(attrs))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Resource body required");
    json_object_foreach((json_t *)attrs, k, v)
    {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, k) != 0; a++)
            ;
        if (!*a)
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Unrecognized attribute(s) '%.64s'",
                          k);
    }
    return 0;
}

int ln_get_bool(const json_t *attrs, const char *key, int *out, struct nph_error *err)
{
    json_t *v = json_object_get(attrs, key);
    const char *s;
    if (!v)
        return 1;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    s = json_string_value(v);
    if (s && (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)) {
        *out = 1;
        return 0;
    }
    if (s && (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)) {
        *out = 0;
        return 0;
    }
    return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                  "Invalid input for %s. Reason: '%.32s' cannot be converted to boolean.", key,
                  s ? s : "value");
}

int ln_get_str(const json_t *attrs, const char *key, size_t max, int nullable, const char **out,
               struct nph_error *err)
{
    json_t *v = json_object_get(attrs, key);
    if (!v)
        return 1;
    if (json_is_null(v) && nullable) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for %s. Reason: it is not a string.", key);
    if (max && json_string_length(v) > max)
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for %s. Reason: '%.32s...' exceeds maximum length of %zu.",
                      key, json_string_value(v), max);
    *out = json_string_value(v);
    return 0;
}

int ln_copy_common(json_t *doc, const json_t *attrs, struct nph_error *err)
{
    const char *s = NULL;
    int b = 0, rc;
    if ((rc = ln_get_str(attrs, "name", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "name", json_string(s));
    if ((rc = ln_get_str(attrs, "description", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "description", json_string(s));
    if ((rc = ln_get_bool(attrs, "admin_state_up", &b, err)) < 0)
        return -1;
    if (rc == 0 && json_object_get(doc, "admin_state_up"))
        json_object_set_new(doc, "admin_state_up", json_boolean(b));
    return 0;
}

json_t *ln_doc_new(const struct local_network_caller *c, const json_t *attrs, struct nph_error *err)
{
    char id[NPH_UUID_LEN + 1];
    const char *project = c->project_id;
    const char *tp = NULL, *pp = NULL;
    json_t *doc;
    if (ln_get_str(attrs, "tenant_id", 255, 0, &tp, err) < 0 ||
        ln_get_str(attrs, "project_id", 255, 0, &pp, err) < 0)
        return NULL;
    if (tp && pp && strcmp(tp, pp) != 0) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "'project_id' and 'tenant_id' do not match");
        return NULL;
    }
    if (pp || tp) {
        const char *want = pp ? pp : tp;
        if (!c->is_admin && strcmp(want, c->project_id) != 0) {
            LN_SET(err, NPH_E_FORBIDDEN, "HTTPForbidden",
                   "Specifying 'project_id' or 'tenant_id' other than the authenticated project "
                   "in request requires admin privileges");
            return NULL;
        }
        project = want;
    }
    if (nph_uuid4(id)) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        return NULL;
    }
    doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:[]}", "id", id, "name", "", "project_id", project,
                    "tenant_id", project, "description", "", "revision_number", 0, "tags");
    if (!doc) {
        nph_error_nomem(err);
        return NULL;
    }
    stamp_now(doc, "created_at");
    stamp_now(doc, "updated_at");
    return doc;
}

/* ---- quotas ------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum local_network_kind kind;
    int64_t def;
} quota_defaults[] = {
    {"network", LN_NETWORK, 100},
    {"subnet", LN_SUBNET, 100},
    {"port", LN_PORT, 500},
    {"security_group", LN_SECGROUP, 10},
    {"security_group_rule", LN_SGRULE, 100},
    {"router", LN_ROUTER, 10},
    {"floatingip", LN_FLOATINGIP, 50},
};
#define N_QUOTAS (sizeof(quota_defaults) / sizeof(quota_defaults[0]))

static json_t *quota_read(struct nph_db *db, const char *project_id, struct nph_error *err)
{
    json_t *out = json_object();
    struct nph_stmt *st = NULL;
    int rc;
    for (size_t i = 0; i < N_QUOTAS; i++)
        json_object_set_new(out, quota_defaults[i].name, json_integer(quota_defaults[i].def));
    rc = nph_db_queryf(db, err, &st,
                       "SELECT resource, hard_limit FROM net_quota WHERE project_id = ?", "s",
                       project_id);
    while (rc == 1) {
        json_object_set_new(out, nph_stmt_col_text(st, 0), json_integer(nph_stmt_col_int64(st, 1)));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int ln_quota_check(struct nph_db *db, const char *project_id, enum local_network_kind kind,
                   struct nph_error *err)
{
    struct nph_stmt *st;
    const char *name = NULL;
    json_t *q;
    int64_t limit, used = 0;
    int rc;
    for (size_t i = 0; i < N_QUOTAS; i++)
        if (quota_defaults[i].kind == kind)
            name = quota_defaults[i].name;
    if (!name || !project_id || !*project_id)
        return 0;
    if (ln_lock(db, "1313953104", project_id, err))
        return -1;
    if (!(q = quota_read(db, project_id, err)))
        return -1;
    limit = json_integer_value(json_object_get(q, name));
    json_decref(q);
    if (limit < 0)
        return 0;
    rc = nph_db_queryf(db, err, &st,
                       "SELECT COUNT(*) FROM net_resource WHERE kind = ? AND project_id = ?", "ss",
                       kinds[kind].name, project_id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        used = nph_stmt_col_int64(st, 0);
        nph_stmt_done(st);
    }
    if (used + 1 > limit)
        return LN_SET(err, NPH_E_CONFLICT, "OverQuota", "Quota exceeded for resources: ['%s'].",
                      name);
    return 0;
}

json_t *local_network_quota_get(struct local_network *ln, const char *project_id,
                                struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    json_t *out;
    if (!db)
        return NULL;
    out = quota_read(db, project_id, err);
    nph_store_release(db);
    return out;
}

json_t *local_network_quota_set(struct local_network *ln, const char *project_id,
                                const json_t *limits, struct nph_error *err)
{
    struct nph_db *db;
    const char *k;
    json_t *v, *out = NULL;
    if (!json_is_object(limits)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Resource body required");
        return NULL;
    }
    json_object_foreach((json_t *)limits, k, v)
    {
        size_t i;
        int64_t n;
        for (i = 0; i < N_QUOTAS && strcmp(quota_defaults[i].name, k) != 0; i++)
            ;
        if (i == N_QUOTAS) {
            LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Unrecognized attribute(s) '%.64s'", k);
            return NULL;
        }
        if (json_is_string(v)) {
            char *end;
            n = strtoll(json_string_value(v), &end, 10);
            if (!*json_string_value(v) || *end)
                n = -2;
        } else {
            n = json_is_integer(v) ? json_integer_value(v) : -2;
        }
        if (n < -1) {
            LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                   "Invalid input for %s. Reason: '%.32s' is not an integer >= -1.", k,
                   json_is_string(v) ? json_string_value(v) : "value");
            return NULL;
        }
    }
    if (!(db = nph_store_acquire(ln->store, err)))
        return NULL;
    if (nph_db_begin(db, err))
        goto cleanup;
    json_object_foreach((json_t *)limits, k, v)
    {
        int64_t n =
            json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
        if (nph_db_execf(db, err, "DELETE FROM net_quota WHERE project_id = ? AND resource = ?",
                         "ss", project_id, k) < 0 ||
            nph_db_execf(
                db, err,
                "INSERT INTO net_quota (project_id, resource, hard_limit) VALUES (?, ?, ?)", "ssi",
                project_id, k, n) < 0)
            goto cleanup;
    }
    if (nph_db_commit(db, err))
        goto cleanup;
    out = quota_read(db, project_id, err);
cleanup:
    nph_store_release(db);
    return out;
}

int local_network_quota_reset(struct local_network *ln, const char *project_id,
                              struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    int64_t rc;
    if (!db)
        return -1;
    rc = nph_db_execf(db, err, "DELETE FROM net_quota WHERE project_id = ?", "s", project_id);
    nph_store_release(db);
    return rc < 0 ? -1 : 0;
}

/* ---- the entry points --------------------------------------------------------------------- */

/* Fill the fields derived at read time. */
static int decorate(struct nph_db *db, enum local_network_kind kind, json_t *doc,
                    struct nph_error *err)
{
    if (kind == LN_NETWORK) {
        json_t *subs =
            ln_children(db, LN_SUBNET, json_string_value(json_object_get(doc, "id")), err);
        json_t *ids = json_array();
        size_t i;
        json_t *s;
        if (!subs) {
            json_decref(ids);
            return -1;
        }
        json_array_foreach(subs, i, s) json_array_append(ids, json_object_get(s, "id"));
        json_decref(subs);
        json_object_set_new(doc, "subnets", ids);
    } else if (kind == LN_SECGROUP) {
        return ln_sg_decorate(db, doc, err);
    }
    return 0;
}

/* Undo a committed create or update whose hook failed: the created resource is removed, the
 * updated one written back as it was (and both realised again). Failures are logged. */
static void undo(struct local_network *ln, enum local_network_kind kind, const char *what,
                 const json_t *doc, const json_t *old)
{
    struct nph_error e = {0};
    struct nph_db *db = nph_store_acquire(ln->store, &e);
    int rc = -1;
    if (db && nph_db_begin(db, &e) == 0) {
        if (strcmp(what, "create") == 0) {
            rc = kind == LN_PORT
                     ? ln_port_remove(db, doc, &e)
                     : ln_row_delete(db, json_string_value(json_object_get(doc, "id")), &e);
            if (rc == 0)
                rc = ln_virt_apply(ln, db, kind, "delete", doc, NULL, &e);
            if (rc == 0 && kind == LN_PORT)
                ln_virt_port_gone(ln, json_string_value(json_object_get(doc, "id")));
        } else if (old) {
            json_t *back = json_deep_copy(old);
            rc = ln_row_update(db, back, json_is_true(json_object_get(old, "shared")), &e);
            if (rc == 0)
                rc = ln_virt_apply(ln, db, kind, "update", back, doc, &e);
            json_decref(back);
        }
        rc = rc == 0 ? nph_db_commit(db, &e) : (nph_db_rollback(db, NULL), -1);
    }
    nph_store_release(db); /* (before ln_virt_filters takes a connection of its own) */
    if (rc == 0 && strcmp(what, "create") == 0)
        rc = ln_virt_filters(ln, kind, "delete", doc, NULL, &e);
    else if (rc == 0 && old)
        rc = ln_virt_filters(ln, kind, "update", old, doc, &e);
    if (rc)
        nph_log(NPH_LOG_ERROR, "network.undo_failed", "id",
                json_string_value(json_object_get(doc, "id")), "error", e.msg, NULL);
}

/* The hook after a committed create/update; on its failure the change is undone. */
static int run_hook(struct local_network *ln, enum local_network_kind kind, const char *what,
                    const json_t *doc, const json_t *old, struct nph_error *err)
{
    if (!ln->hook || ln->hook(ln->hook_ctx, kind, what, doc, old, err) == 0)
        return 0;
    undo(ln, kind, what, doc, old);
    return -1;
}

json_t *local_network_create(struct local_network *ln, const struct local_network_caller *c,
                             enum local_network_kind kind, const json_t *attrs,
                             struct nph_error *err)
{
    struct nph_db *db;
    json_t *doc = NULL;
    if (!json_is_object(attrs)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Resource body required");
        return NULL;
    }
    if (!(db = nph_store_acquire(ln->store, err)))
        return NULL;
    ln_wlock(ln, db);
    /* PostgreSQL: a unique violation on an address raced by another transaction is retried */
    for (int attempt = 0; attempt < 5; attempt++) {
        if (nph_db_begin(db, err))
            break;
        switch (kind) {
        case LN_NETWORK:
            doc = ln_network_create(db, c, attrs, err);
            break;
        case LN_SUBNET:
            doc = ln_subnet_create(db, c, attrs, err);
            break;
        case LN_PORT:
            doc = ln_port_create(db, c, attrs, err);
            break;
        case LN_SECGROUP:
            doc = ln_sg_create(db, c, attrs, err);
            break;
        case LN_SGRULE:
            doc = ln_rule_create(db, c, attrs, err);
            break;
        case LN_ROUTER:
            doc = ln_router_create(db, c, attrs, err);
            break;
        case LN_FLOATINGIP:
            doc = ln_fip_create(db, c, attrs, err);
            break;
        case LN_SUBNETPOOL:
            doc = ln_pool_create(db, c, attrs, err);
            break;
        default:
            nph_error_set(err, NPH_E_INVALID, "unknown resource kind");
        }
        if (doc && decorate(db, kind, doc, err) == 0 &&
            ln_virt_apply(ln, db, kind, "create", doc, NULL, err) == 0 &&
            nph_db_commit(db, err) == 0)
            break;
        json_decref(doc);
        doc = NULL;
        nph_db_rollback(db, NULL);
        if (!err || err->code != NPH_E_CONFLICT || strcmp(err->detail, "Retry") != 0)
            break;
    }
    ln_wunlock(ln, db);
    nph_store_release(db);
    if (doc && ln_virt_filters(ln, kind, "create", doc, NULL, err)) {
        undo(ln, kind, "create", doc, NULL);
        json_decref(doc);
        doc = NULL;
    }
    if (doc && run_hook(ln, kind, "create", doc, NULL, err)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

json_t *local_network_get(struct local_network *ln, const struct local_network_caller *c,
                          enum local_network_kind kind, const char *id, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    json_t *doc;
    if (!db)
        return NULL;
    doc = ln_fetch(db, c, kind, id, err);
    if (doc && decorate(db, kind, doc, err)) {
        json_decref(doc);
        doc = NULL;
    }
    nph_store_release(db);
    return doc;
}

json_t *local_network_list(struct local_network *ln, const struct local_network_caller *c,
                           enum local_network_kind kind, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    struct nph_stmt *st = NULL;
    json_t *out = NULL;
    int rc;
    if (!db)
        return NULL;
    if (kind == LN_SECGROUP && c->project_id && *c->project_id) {
        char sg[NPH_UUID_LEN + 1];
        if (nph_db_begin(db, err) || ln_default_sg(db, c->project_id, sg, err) ||
            nph_db_commit(db, err))
            goto cleanup;
    }
    out = json_array();
    rc = nph_db_queryf(db, err, &st,
                       "SELECT doc FROM net_resource WHERE kind = ? AND (? = 1 OR shared = 1 OR"
                       " project_id = ?) ORDER BY created_at, id",
                       "sis", kinds[kind].name, (int64_t)(c->is_admin != 0), c->project_id);
    while (rc == 1) {
        json_t *d = json_loads(nph_stmt_col_text(st, 0), 0, NULL);
        if (d)
            json_array_append_new(out, d);
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc >= 0 && (kind == LN_NETWORK || kind == LN_SECGROUP)) {
        size_t i;
        json_t *d;
        json_array_foreach(out, i, d) if (decorate(db, kind, d, err))
        {
            rc = -1;
            break;
        }
    }
    if (rc < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    nph_store_release(db);
    return out;
}

json_t *local_network_update(struct local_network *ln, const struct local_network_caller *c,
                             enum local_network_kind kind, const char *id, const json_t *attrs,
                             struct nph_error *err)
{
    struct nph_db *db;
    json_t *doc = NULL, *old = NULL;
    int rc = -1;
    if (!json_is_object(attrs)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", "Resource body required");
        return NULL;
    }
    if (!(db = nph_store_acquire(ln->store, err)))
        return NULL;
    ln_wlock(ln, db);
    for (int attempt = 0; attempt < 5; attempt++) {
        char action[64];
        snprintf(action, sizeof(action), "update_%s", kinds[kind].name);
        if (nph_db_begin(db, err))
            break;
        if (!(doc = ln_fetch(db, c, kind, id, err)) || ln_owner_check(c, doc, action, err))
            goto next;
        json_decref(old);
        if (!(old = json_deep_copy(doc))) {
            nph_error_nomem(err);
            goto next;
        }
        switch (kind) {
        case LN_NETWORK:
            rc = ln_network_update(db, doc, attrs, c, err);
            break;
        case LN_SUBNET:
            rc = ln_subnet_update(db, doc, attrs, err);
            break;
        case LN_PORT:
            rc = ln_port_update(db, c, doc, attrs, err);
            break;
        case LN_SECGROUP:
            rc = ln_sg_update(db, doc, attrs, err);
            break;
        case LN_SGRULE:
            rc = LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                        "Resource security_group_rule cannot be updated");
            break;
        case LN_ROUTER:
            rc = ln_router_update(db, c, doc, attrs, err);
            break;
        case LN_FLOATINGIP:
            rc = ln_fip_update(db, c, doc, attrs, err);
            break;
        case LN_SUBNETPOOL:
            rc = ln_pool_update(db, c, doc, attrs, err);
            break;
        default:
            rc = -1;
        }
        if (rc == 0 && decorate(db, kind, doc, err) == 0 &&
            ln_virt_apply(ln, db, kind, "update", doc, old, err) == 0 &&
            nph_db_commit(db, err) == 0)
            break;
    next:
        rc = -1;
        json_decref(doc);
        doc = NULL;
        nph_db_rollback(db, NULL);
        if (!err || err->code != NPH_E_CONFLICT || strcmp(err->detail, "Retry") != 0)
            break;
    }
    ln_wunlock(ln, db);
    nph_store_release(db);
    if (doc && ln_virt_filters(ln, kind, "update", doc, old, err)) {
        undo(ln, kind, "update", doc, old);
        json_decref(doc);
        doc = NULL;
    }
    if (doc && run_hook(ln, kind, "update", doc, old, err)) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(old);
    return doc;
}

int local_network_delete(struct local_network *ln, const struct local_network_caller *c,
                         enum local_network_kind kind, const char *id, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    json_t *doc = NULL;
    char action[64];
    int rc = -1;
    if (!db)
        return -1;
    snprintf(action, sizeof(action), "delete_%s", kinds[kind].name);
    ln_wlock(ln, db);
    if (nph_db_begin(db, err))
        goto cleanup;
    if (!(doc = ln_fetch(db, c, kind, id, err)) || ln_owner_check(c, doc, action, err))
        goto cleanup;
    switch (kind) {
    case LN_NETWORK:
        rc = ln_network_delete(db, doc, err);
        break;
    case LN_SUBNET:
        rc = ln_subnet_delete(db, doc, err);
        break;
    case LN_PORT:
        rc = ln_port_delete(db, doc, err);
        break;
    case LN_SECGROUP:
        rc = ln_sg_delete(db, c, doc, err);
        break;
    case LN_SGRULE:
        rc = ln_row_delete(db, id, err);
        break;
    case LN_ROUTER:
        rc = ln_router_delete(db, doc, err);
        break;
    case LN_FLOATINGIP:
        rc = ln_fip_delete(db, doc, err);
        break;
    case LN_SUBNETPOOL:
        rc = ln_pool_delete(db, doc, err);
        break;
    default:
        rc = -1;
    }
    if (rc == 0)
        rc = ln_virt_apply(ln, db, kind, "delete", doc, NULL, err);
    if (rc == 0 && ln->hook)
        rc = ln->hook(ln->hook_ctx, kind, "delete", doc, NULL, err);
    if (rc == 0)
        rc = nph_db_commit(db, err);
    else
        nph_db_rollback(db, NULL);
cleanup:
    ln_wunlock(ln, db);
    nph_store_release(db);
    if (rc == 0) {
        struct nph_error e2 = {0};
        if (ln_virt_filters(ln, kind, "delete", doc, NULL, &e2))
            nph_log(NPH_LOG_ERROR, "network.nwfilter_failed", "id", id, "error", e2.msg, NULL);
        if (kind == LN_PORT)
            ln_virt_port_gone(ln, id); /* after the unplug: its nwfilter is no longer in use */
    }
    json_decref(doc);
    return rc;
}

int local_network_default_sg(struct local_network *ln, const char *project_id, char *id_out,
                             struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err) == 0 && ln_default_sg(db, project_id, id_out, err) == 0)
        rc = nph_db_commit(db, err);
    nph_store_release(db);
    return rc;
}
