/*
 * identity_auth.c - the service object, bootstrap, authentication (password with lockout,
 * token re-scoping, application credentials), password changes with history, application
 * credential creation, and the role checks RBAC is built on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "identity_internal.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_log.h"

json_t *ident_create_with_id(struct local_identity *li, struct nph_db *db, enum ident_kind kind,
                             const json_t *attrs, const char *id, struct nph_error *err);
int ident_user_set_password(struct local_identity *li, struct nph_db *db, const char *user_id,
                            const char *password, struct nph_error *err);
int ident_effective_roles(struct nph_db *db, const char *user_id, const char *target_id,
                          struct ident_role_ref *out, int *n_out, struct nph_error *err);

#define AUTH_FAILED "the request you have made requires authentication"

struct local_identity *local_identity_open(struct nph_store *store,
                                           const struct local_identity_opts *opts,
                                           struct nph_error *err)
{
    struct local_identity *li = calloc(1, sizeof(*li));
    if (!li) {
        nph_error_nomem(err);
        return NULL;
    }
    li->store = store;
    li->opts = *opts;
    if (li->opts.max_active_keys < 2)
        li->opts.max_active_keys = 2;
    pthread_rwlock_init(&li->keys_lock, NULL);
    pthread_rwlock_init(&li->rev_lock, NULL);
    pthread_rwlock_init(&li->cache_lock, NULL);
    li->dummy_hash = nph_password_hash("nephele-dummy", li->opts.password_iterations, err);
    if (!li->dummy_hash) {
        local_identity_close(li);
        return NULL;
    }
    if (ident_keys_setup(opts->keys_dir, err) || ident_keys_load(li, 1, err)) {
        local_identity_close(li);
        return NULL;
    }
    return li;
}

void local_identity_close(struct local_identity *li)
{
    if (!li)
        return;
    OPENSSL_cleanse(li->keys, sizeof(li->keys));
    free(li->dummy_hash);
    ident_revcache_free(&li->rev);
    ident_token_cache_flush(li);
    pthread_rwlock_destroy(&li->cache_lock);
    pthread_rwlock_destroy(&li->rev_lock);
    pthread_rwlock_destroy(&li->keys_lock);
    free(li);
}

/* Find by id or create with attrs (bootstrap helper). Returns a new reference. */
static json_t *ensure(struct local_identity *li, struct nph_db *db, enum ident_kind kind,
                      const char *find_sql, const char *key1, const char *key2, json_t *attrs,
                      const char *id, struct nph_error *err)
{
    const struct ident_entity *e = ident_entity(kind);
    struct nph_stmt *st = nph_db_prepare(db, find_sql, err);
    char found[IDENT_ID_MAX + 1] = "";
    json_t *out = NULL;
    int rc;
    if (!st || nph_stmt_bind_text(st, 1, key1, err) ||
        (key2 && nph_stmt_bind_text(st, 2, key2, err)))
        goto cleanup;
    rc = nph_stmt_step(st, err);
    if (rc == 1)
        snprintf(found, sizeof(found), "%s", nph_stmt_col_text(st, 0));
    nph_stmt_done(st);
    if (rc < 0)
        goto cleanup;
    if (found[0]) {
        char sql[512];
        ident_select_sql(e, sql, sizeof(sql));
        strcat(sql, " WHERE id = ?");
        st = nph_db_prepare(db, sql, err);
        if (st && nph_stmt_bind_text(st, 1, found, err) == 0 && nph_stmt_step(st, err) == 1)
            out = ident_row_to_json(e, st);
        if (st)
            nph_stmt_done(st);
    } else {
        out = ident_create_with_id(li, db, kind, attrs, id, err);
    }
cleanup:
    json_decref(attrs);
    return out;
}

static int grant_in(struct nph_db *db, const char *type, const char *actor, const char *target,
                    const char *role, struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db,
                                         "INSERT INTO identity_assignment (type, actor_id,"
                                         " target_id, role_id) VALUES (?, ?, ?, ?)"
                                         " ON CONFLICT DO NOTHING",
                                         err);
    int rc;
    if (!st || nph_stmt_bind_text(st, 1, type, err) || nph_stmt_bind_text(st, 2, actor, err) ||
        nph_stmt_bind_text(st, 3, target, err) || nph_stmt_bind_text(st, 4, role, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

static int imply_in(struct nph_db *db, const char *prior, const char *implied,
                    struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db,
                                         "INSERT INTO identity_role_implication (prior_role_id,"
                                         " implied_role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                         err);
    int rc;
    if (!st || nph_stmt_bind_text(st, 1, prior, err) || nph_stmt_bind_text(st, 2, implied, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

#define JID(o) json_string_value(json_object_get((o), "id"))

int local_identity_bootstrap(struct local_identity *li, const char *admin_password,
                             const char *region, const char *public_url,
                             const char *const *services, int *created, struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    json_t *dom = NULL, *proj = NULL, *user = NULL, *roles[3] = {NULL, NULL, NULL}, *reg = NULL;
    static const char *const role_names[3] = {"admin", "member", "reader"};
    int rc = -1, had_user = 0;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto cleanup;
    dom =
        ensure(li, db, IDENT_DOMAIN, "SELECT id FROM identity_domain WHERE id = ?", "default", NULL,
               json_pack("{s:s,s:s}", "name", "Default", "description", "The default domain"),
               "default", err);
    if (!dom)
        goto cleanup;
    proj = ensure(li, db, IDENT_PROJECT,
                  "SELECT id FROM identity_project WHERE name = ? AND domain_id = ?", "admin",
                  "default",
                  json_pack("{s:s,s:s,s:s}", "name", "admin", "domain_id", "default", "description",
                            "Bootstrap project for initializing the cloud."),
                  NULL, err);
    if (!proj)
        goto cleanup;
    {
        struct nph_stmt *st = nph_db_prepare(
            db, "SELECT 1 FROM identity_user WHERE name = 'admin' AND domain_id = 'default'", err);
        if (!st)
            goto cleanup;
        had_user = nph_stmt_step(st, err);
        nph_stmt_done(st);
        if (had_user < 0)
            goto cleanup;
    }
    user =
        ensure(li, db, IDENT_USER, "SELECT id FROM identity_user WHERE name = ? AND domain_id = ?",
               "admin", "default",
               json_pack("{s:s,s:s,s:s}", "name", "admin", "domain_id", "default", "password",
                         admin_password),
               NULL, err);
    if (!user)
        goto cleanup;
    for (int i = 0; i < 3; i++) {
        roles[i] = ensure(
            li, db, IDENT_ROLE, "SELECT id FROM identity_role WHERE name = ? AND domain_id = ''",
            role_names[i], NULL, json_pack("{s:s}", "name", role_names[i]), NULL, err);
        if (!roles[i])
            goto cleanup;
    }
    if (imply_in(db, JID(roles[0]), JID(roles[1]), err) ||
        imply_in(db, JID(roles[1]), JID(roles[2]), err) ||
        grant_in(db, "UserProject", JID(user), JID(proj), JID(roles[0]), err) ||
        grant_in(db, "UserSystem", JID(user), "system", JID(roles[0]), err))
        goto cleanup;
    reg = ensure(li, db, IDENT_REGION, "SELECT id FROM identity_region WHERE id = ?", region, NULL,
                 json_pack("{s:s}", "id", region), NULL, err);
    if (!reg)
        goto cleanup;
    for (size_t i = 0; services && services[i]; i += 3) {
        static const char *const ifaces[3] = {"public", "internal", "admin"};
        char url[2048];
        json_t *svc = ensure(
            li, db, IDENT_SERVICE, "SELECT id FROM identity_service WHERE type = ?", services[i],
            NULL, json_pack("{s:s,s:s}", "type", services[i], "name", services[i + 1]), NULL, err);
        if (!svc)
            goto cleanup;
        snprintf(url, sizeof(url), "%s%s", public_url, services[i + 2]);
        for (int k = 0; k < 3; k++) {
            struct nph_stmt *st = nph_db_prepare(
                db,
                "SELECT id FROM identity_endpoint WHERE service_id = ? AND interface = ? AND"
                " region_id = ?",
                err);
            int ex;
            if (!st || nph_stmt_bind_text(st, 1, JID(svc), err) ||
                nph_stmt_bind_text(st, 2, ifaces[k], err) ||
                nph_stmt_bind_text(st, 3, region, err)) {
                json_decref(svc);
                goto cleanup;
            }
            ex = nph_stmt_step(st, err);
            nph_stmt_done(st);
            if (ex < 0) {
                json_decref(svc);
                goto cleanup;
            }
            if (ex == 0) {
                json_t *attrs = json_pack("{s:s,s:s,s:s,s:s}", "service_id", JID(svc), "interface",
                                          ifaces[k], "url", url, "region_id", region);
                json_t *ep = ident_create_with_id(li, db, IDENT_ENDPOINT, attrs, NULL, err);
                json_decref(attrs);
                if (!ep) {
                    json_decref(svc);
                    goto cleanup;
                }
                json_decref(ep);
            }
        }
        json_decref(svc);
    }
    if (nph_db_commit(db, err))
        goto cleanup;
    if (created)
        *created = !had_user;
    rc = 0;
cleanup:
    json_decref(dom);
    json_decref(proj);
    json_decref(user);
    json_decref(reg);
    for (int i = 0; i < 3; i++)
        json_decref(roles[i]);
    nph_store_release(db);
    return rc;
}

/* The user row fields authentication needs. */
struct auth_user {
    char id[IDENT_ID_MAX + 1], name[IDENT_NAME_MAX + 1], domain_id[IDENT_ID_MAX + 1];
    char domain_name[IDENT_NAME_MAX + 1], default_project_id[IDENT_ID_MAX + 1];
    char *password_hash;
    int enabled, domain_enabled;
    int64_t failed_count, failed_at;
};

/* Load a user by id, or by name within a domain given by id or name. 1 found, 0 not, -1. */
static int load_user(struct nph_db *db, const char *user_id, const char *name,
                     const char *domain_id, const char *domain_name, struct auth_user *u,
                     struct nph_error *err)
{
    struct nph_stmt *st;
    int rc;
    const char *base = "SELECT u.id, u.name, u.domain_id, d.name, u.default_project_id,"
                       " u.password_hash, u.enabled, d.enabled, u.failed_auth_count,"
                       " u.failed_auth_at FROM identity_user u JOIN identity_domain d ON"
                       " d.id = u.domain_id WHERE ";
    char sql[640];
    if (user_id) {
        snprintf(sql, sizeof(sql), "%su.id = ?", base);
    } else if (name && domain_id) {
        snprintf(sql, sizeof(sql), "%su.name = ? AND u.domain_id = ?", base);
    } else if (name && domain_name) {
        snprintf(sql, sizeof(sql), "%su.name = ? AND d.name = ?", base);
    } else {
        return nph_error_set(err, NPH_E_INVALID,
                             "'user' needs an 'id', or a 'name' and a 'domain' (id or name)");
    }
    st = nph_db_prepare(db, sql, err);
    if (!st)
        return -1;
    if (user_id)
        rc = nph_stmt_bind_text(st, 1, user_id, err);
    else
        rc = nph_stmt_bind_text(st, 1, name, err) ||
             nph_stmt_bind_text(st, 2, domain_id ? domain_id : domain_name, err);
    if (rc == 0)
        rc = nph_stmt_step(st, err);
    else
        rc = -1;
    if (rc == 1) {
        const char *h = nph_stmt_col_text(st, 5);
        snprintf(u->id, sizeof(u->id), "%s", nph_stmt_col_text(st, 0));
        snprintf(u->name, sizeof(u->name), "%s", nph_stmt_col_text(st, 1));
        snprintf(u->domain_id, sizeof(u->domain_id), "%s", nph_stmt_col_text(st, 2));
        snprintf(u->domain_name, sizeof(u->domain_name), "%s", nph_stmt_col_text(st, 3));
        snprintf(u->default_project_id, sizeof(u->default_project_id), "%s",
                 nph_stmt_col_text(st, 4) ? nph_stmt_col_text(st, 4) : "");
        u->password_hash = h ? strdup(h) : NULL;
        u->enabled = (int)nph_stmt_col_int64(st, 6);
        u->domain_enabled = (int)nph_stmt_col_int64(st, 7);
        u->failed_count = nph_stmt_col_int64(st, 8);
        u->failed_at = nph_stmt_col_int64(st, 9);
    }
    nph_stmt_done(st);
    return rc;
}

static int exec_user_update(struct nph_db *db, const char *sql, int64_t v, const char *id,
                            struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc;
    if (!st || nph_stmt_bind_int64(st, 1, v, err) || nph_stmt_bind_text(st, 2, id, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

/* Verify a password against the user, with lockout bookkeeping. 0 ok, -1 (401 or error). */
static int check_password(struct local_identity *li, struct nph_db *db, struct auth_user *u,
                          const char *password, struct nph_error *err)
{
    int64_t now = nph_clock_now();
    int ok;
    const struct local_identity_opts *o = &li->opts;
    if (o->lockout_failure_attempts > 0 && u->failed_count >= o->lockout_failure_attempts &&
        u->failed_at + o->lockout_duration_s * NPH_USEC_PER_SEC > now) {
        nph_log(NPH_LOG_WARN, "identity.auth.locked", "user_id", u->id, NULL);
        return nph_error_set(err, NPH_E_UNAUTHORIZED, "the account is locked for user: %s", u->id);
    }
    ok = u->password_hash ? nph_password_verify(password, u->password_hash, NULL) : 0;
    if (ok != 1) {
        int64_t count = u->failed_count;
        if (o->lockout_failure_attempts > 0 &&
            u->failed_at + o->lockout_duration_s * NPH_USEC_PER_SEC <= now &&
            count >= o->lockout_failure_attempts)
            count = 0; /* the previous lock has expired: start counting afresh */
        if (o->lockout_failure_attempts > 0 &&
            (nph_db_begin(db, NULL) ||
             exec_user_update(db, "UPDATE identity_user SET failed_auth_count = ? WHERE id = ?",
                              count + 1, u->id, NULL) ||
             exec_user_update(db, "UPDATE identity_user SET failed_auth_at = ? WHERE id = ?", now,
                              u->id, NULL) ||
             nph_db_commit(db, NULL)))
            nph_db_rollback(db, NULL);
        nph_log(NPH_LOG_INFO, "identity.auth.failed", "user_id", u->id, NULL);
        return nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    }
    if (u->failed_count > 0)
        exec_user_update(db, "UPDATE identity_user SET failed_auth_count = ? WHERE id = ?", 0,
                         u->id, NULL);
    return 0;
}

/* Resolve the requested project/domain scope into t (scope ids and names). */
static int resolve_scope(struct nph_db *db, const struct ident_auth_request *req,
                         struct ident_token *t, struct nph_error *err)
{
    struct nph_stmt *st;
    int rc;
    char sql[512];
    if (req->scope == IDENT_SCOPE_PROJECT) {
        const char *base = "SELECT p.id, p.name, p.domain_id, d.name, p.enabled, d.enabled FROM"
                           " identity_project p JOIN identity_domain d ON d.id = p.domain_id"
                           " WHERE ";
        if (req->project_id)
            snprintf(sql, sizeof(sql), "%sp.id = ?", base);
        else if (req->project_name && req->project_domain_id)
            snprintf(sql, sizeof(sql), "%sp.name = ? AND p.domain_id = ?", base);
        else if (req->project_name && req->project_domain_name)
            snprintf(sql, sizeof(sql), "%sp.name = ? AND d.name = ?", base);
        else
            return nph_error_set(err, NPH_E_INVALID,
                                 "'scope.project' needs an 'id', or a 'name' and a 'domain'");
        st = nph_db_prepare(db, sql, err);
        if (!st)
            return -1;
        rc = req->project_id
                 ? nph_stmt_bind_text(st, 1, req->project_id, err)
                 : (nph_stmt_bind_text(st, 1, req->project_name, err) ||
                    nph_stmt_bind_text(st, 2,
                                       req->project_domain_id ? req->project_domain_id
                                                              : req->project_domain_name,
                                       err));
        rc = rc ? -1 : nph_stmt_step(st, err);
        if (rc == 1) {
            snprintf(t->scope_id, sizeof(t->scope_id), "%s", nph_stmt_col_text(st, 0));
            snprintf(t->scope_name, sizeof(t->scope_name), "%s", nph_stmt_col_text(st, 1));
            snprintf(t->scope_domain_id, sizeof(t->scope_domain_id), "%s",
                     nph_stmt_col_text(st, 2));
            snprintf(t->scope_domain_name, sizeof(t->scope_domain_name), "%s",
                     nph_stmt_col_text(st, 3));
            if (!nph_stmt_col_int64(st, 4) || !nph_stmt_col_int64(st, 5))
                rc = 2;
        }
        nph_stmt_done(st);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return nph_error_set(err, NPH_E_UNAUTHORIZED, "could not find project: %s",
                                 req->project_id ? req->project_id : req->project_name);
        if (rc == 2)
            return nph_error_set(err, NPH_E_UNAUTHORIZED, "project '%s' is disabled", t->scope_id);
        t->scope = IDENT_SCOPE_PROJECT;
        return 0;
    }
    if (req->scope == IDENT_SCOPE_DOMAIN) {
        const char *sqlq = req->domain_id
                               ? "SELECT id, name, enabled FROM identity_domain WHERE id = ?"
                               : "SELECT id, name, enabled FROM identity_domain WHERE name = ?";
        st = nph_db_prepare(db, sqlq, err);
        if (!st ||
            nph_stmt_bind_text(st, 1, req->domain_id ? req->domain_id : req->domain_name, err))
            return -1;
        rc = nph_stmt_step(st, err);
        if (rc == 1) {
            snprintf(t->scope_id, sizeof(t->scope_id), "%s", nph_stmt_col_text(st, 0));
            snprintf(t->scope_name, sizeof(t->scope_name), "%s", nph_stmt_col_text(st, 1));
            if (!nph_stmt_col_int64(st, 2))
                rc = 2;
        }
        nph_stmt_done(st);
        if (rc < 0)
            return -1;
        if (rc != 1)
            return nph_error_set(err, NPH_E_UNAUTHORIZED, "could not find domain: %s",
                                 req->domain_id ? req->domain_id : req->domain_name);
        t->scope = IDENT_SCOPE_DOMAIN;
        return 0;
    }
    if (req->scope == IDENT_SCOPE_SYSTEM) {
        snprintf(t->scope_id, sizeof(t->scope_id), "system");
        t->scope = IDENT_SCOPE_SYSTEM;
    }
    return 0;
}

/* Drop a scope resolved from the user's default project. */
static void unscope(struct ident_token *t)
{
    t->scope = IDENT_SCOPE_UNSCOPED;
    t->scope_id[0] = t->scope_name[0] = '\0';
    t->scope_domain_id[0] = t->scope_domain_name[0] = '\0';
    t->n_roles = 0;
}

static int new_audit_id(char out[32], struct nph_error *err)
{
    uint8_t raw[16];
    if (nph_random_bytes(raw, sizeof(raw), err))
        return -1;
    nph_b64url_encode(raw, sizeof(raw), out);
    return 0;
}

/* Application credential authentication: fills user and the fixed scope/roles. */
static int auth_app_cred(struct nph_db *db, const struct ident_auth_request *req,
                         struct auth_user *u, struct ident_token *t, json_t **roles_out,
                         struct nph_error *err)
{
    struct nph_stmt *st;
    int rc;
    char *hash = NULL, *roles = NULL;
    int64_t expires = 0;
    int has_exp = 0;
    char user_id[IDENT_ID_MAX + 1] = "", project_id[IDENT_ID_MAX + 1] = "";
    if (!req->app_cred_secret)
        return nph_error_set(err, NPH_E_INVALID, "'application_credential.secret' is required");
    if (req->app_cred_id) {
        st = nph_db_prepare(db,
                            "SELECT id, name, user_id, project_id, secret_hash, expires_at, roles"
                            " FROM identity_app_cred WHERE id = ?",
                            err);
        if (!st || nph_stmt_bind_text(st, 1, req->app_cred_id, err))
            return -1;
    } else {
        struct auth_user owner;
        memset(&owner, 0, sizeof(owner));
        if (!req->app_cred_name)
            return nph_error_set(err, NPH_E_INVALID,
                                 "'application_credential' needs an 'id' or a 'name' and a "
                                 "'user'");
        rc = load_user(db, req->user_id, req->user_name, req->user_domain_id, req->user_domain_name,
                       &owner, err);
        free(owner.password_hash);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
        st = nph_db_prepare(db,
                            "SELECT id, name, user_id, project_id, secret_hash, expires_at, roles"
                            " FROM identity_app_cred WHERE name = ? AND user_id = ?",
                            err);
        if (!st || nph_stmt_bind_text(st, 1, req->app_cred_name, err) ||
            nph_stmt_bind_text(st, 2, owner.id, err))
            return -1;
    }
    rc = nph_stmt_step(st, err);
    if (rc == 1) {
        snprintf(t->app_cred_id, sizeof(t->app_cred_id), "%s", nph_stmt_col_text(st, 0));
        snprintf(t->app_cred_name, sizeof(t->app_cred_name), "%s", nph_stmt_col_text(st, 1));
        snprintf(user_id, sizeof(user_id), "%s", nph_stmt_col_text(st, 2));
        snprintf(project_id, sizeof(project_id), "%s", nph_stmt_col_text(st, 3));
        hash = strdup(nph_stmt_col_text(st, 4));
        has_exp = !nph_stmt_col_is_null(st, 5);
        expires = nph_stmt_col_int64(st, 5);
        roles = strdup(nph_stmt_col_text(st, 6));
    }
    nph_stmt_done(st);
    if (rc <= 0) {
        if (rc == 0)
            nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
        return -1;
    }
    rc = -1;
    if (nph_password_verify(req->app_cred_secret, hash, NULL) != 1) {
        nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
        goto cleanup;
    }
    if (has_exp && expires <= nph_clock_now()) {
        nph_error_set(err, NPH_E_UNAUTHORIZED, "the application credential has expired");
        goto cleanup;
    }
    int found = load_user(db, user_id, NULL, NULL, NULL, u, err);
    if (found <= 0) {
        if (found == 0)
            nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
        goto cleanup;
    }
    struct ident_auth_request scope_req;
    memset(&scope_req, 0, sizeof(scope_req));
    scope_req.scope = IDENT_SCOPE_PROJECT;
    scope_req.project_id = project_id;
    if (resolve_scope(db, &scope_req, t, err))
        goto cleanup;
    *roles_out = json_loads(roles, 0, NULL);
    rc = 0;
cleanup:
    free(hash);
    free(roles);
    return rc;
}

int local_identity_authenticate(struct local_identity *li, const struct ident_auth_request *req,
                                struct ident_token *out, struct nph_error *err)
{
    struct nph_db *db = NULL;
    struct auth_user u;
    struct ident_token t, prior;
    json_t *app_roles = NULL;
    int rc = -1, found, from_default = 0;
    int64_t now = nph_clock_now();
    memset(&u, 0, sizeof(u));
    memset(&t, 0, sizeof(t));
    memset(&prior, 0, sizeof(prior));
    if (!(req->methods & (IDENT_M_PASSWORD | IDENT_M_TOKEN | IDENT_M_APP_CRED)))
        return nph_error_set(err, NPH_E_INVALID, "'auth.identity.methods' must not be empty");
    if (req->methods & IDENT_M_TOKEN) {
        if (local_identity_token_validate(li, req->token, 0, &prior, err))
            return -1;
        /* Not even unscoped: the new token would lose the credential's restrictions. */
        if (prior.app_cred_id[0])
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "a token created with an application credential cannot be "
                                 "re-scoped");
    }
    db = ident_db(li, err);
    if (!db)
        return -1;
    if (req->methods & IDENT_M_APP_CRED) {
        if (auth_app_cred(db, req, &u, &t, &app_roles, err))
            goto cleanup;
        t.methods = IDENT_M_APP_CRED;
    } else if (req->methods & IDENT_M_PASSWORD) {
        if (!req->password) {
            nph_error_set(err, NPH_E_INVALID, "'password.user.password' is required");
            goto cleanup;
        }
        found = load_user(db, req->user_id, req->user_name, req->user_domain_id,
                          req->user_domain_name, &u, err);
        if (found < 0)
            goto cleanup;
        if (found == 0) {
            /* Same answer as a wrong password: do not tell which users exist. */
            nph_password_verify(req->password, li->dummy_hash, NULL);
            nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
            goto cleanup;
        }
        if (check_password(li, db, &u, req->password, err))
            goto cleanup;
        t.methods = IDENT_M_PASSWORD;
    } else {
        found = load_user(db, prior.user_id, NULL, NULL, NULL, &u, err);
        if (found <= 0) {
            if (found == 0)
                nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
            goto cleanup;
        }
        t.methods = prior.methods | IDENT_M_TOKEN;
        snprintf(t.parent_audit_id, sizeof(t.parent_audit_id), "%s",
                 prior.parent_audit_id[0] ? prior.parent_audit_id : prior.audit_id);
    }
    if (!u.enabled || !u.domain_enabled) {
        nph_error_set(err, NPH_E_UNAUTHORIZED, "user '%s' is disabled", u.id);
        goto cleanup;
    }
    snprintf(t.user_id, sizeof(t.user_id), "%s", u.id);
    snprintf(t.user_name, sizeof(t.user_name), "%s", u.name);
    snprintf(t.user_domain_id, sizeof(t.user_domain_id), "%s", u.domain_id);
    snprintf(t.user_domain_name, sizeof(t.user_domain_name), "%s", u.domain_name);

    if (!(t.methods & IDENT_M_APP_CRED)) {
        struct ident_auth_request sreq = *req;
        if (sreq.scope == IDENT_SCOPE_UNSCOPED && !req->unscoped_explicit &&
            u.default_project_id[0]) {
            sreq.scope = IDENT_SCOPE_PROJECT;
            sreq.project_id = u.default_project_id;
            from_default = 1;
        }
        if (resolve_scope(db, &sreq, &t, err)) {
            if (from_default) { /* a stale default project: stay unscoped */
                unscope(&t);
            } else {
                goto cleanup;
            }
        }
    }
    if (t.scope != IDENT_SCOPE_UNSCOPED) {
        if (ident_effective_roles(db, u.id, t.scope_id, t.roles, &t.n_roles, err))
            goto cleanup;
        if (app_roles) {
            /* Keep only the credential's roles the user still holds. */
            int n = 0;
            for (int i = 0; i < t.n_roles; i++) {
                size_t k;
                json_t *r;
                int keep = 0;
                json_array_foreach(app_roles, k, r)
                {
                    keep |= strcmp(json_string_value(r) ? json_string_value(r) : "",
                                   t.roles[i].id) == 0;
                }
                if (keep)
                    t.roles[n++] = t.roles[i];
            }
            t.n_roles = n;
        }
        if (t.n_roles == 0 && from_default) {
            unscope(&t); /* no role on the default project: unscoped, as Keystone */
        } else if (t.n_roles == 0) {
            nph_error_set(err, NPH_E_UNAUTHORIZED, "user '%s' has no access to %s '%s'", u.id,
                          t.scope == IDENT_SCOPE_PROJECT  ? "project"
                          : t.scope == IDENT_SCOPE_DOMAIN ? "domain"
                                                          : "the system",
                          t.scope_id);
            goto cleanup;
        }
    }
    t.issued_at = now;
    t.expires_at = now + li->opts.token_lifetime_s * NPH_USEC_PER_SEC;
    if ((t.methods & IDENT_M_TOKEN) && prior.expires_at < t.expires_at)
        t.expires_at = prior.expires_at;
    if (new_audit_id(t.audit_id, err))
        goto cleanup;
    *out = t;
    rc = 0;
cleanup:
    if (u.password_hash) {
        OPENSSL_cleanse(u.password_hash, strlen(u.password_hash));
        free(u.password_hash);
    }
    json_decref(app_roles);
    nph_store_release(db);
    return rc;
}

int ident_check_password_history(struct local_identity *li, struct nph_db *db, const char *user_id,
                                 const char *password, struct nph_error *err)
{
    struct nph_stmt *st;
    int s, reused = 0;
    if (li->opts.unique_last_password_count <= 0)
        return 0;
    st = nph_db_prepare(db,
                        "SELECT hash FROM identity_password_history WHERE user_id = ?"
                        " ORDER BY created_at DESC LIMIT ?",
                        err);
    if (!st)
        return -1;
    if (nph_stmt_bind_text(st, 1, user_id, err) ||
        nph_stmt_bind_int64(st, 2, li->opts.unique_last_password_count, err)) {
        nph_stmt_done(st);
        return -1;
    }
    while ((s = nph_stmt_step(st, err)) == 1 && !reused)
        reused = nph_password_verify(password, nph_stmt_col_text(st, 0), NULL) == 1;
    nph_stmt_done(st);
    if (s < 0)
        return -1;
    if (reused)
        return nph_error_set(err, NPH_E_INVALID,
                             "the new password cannot be identical to a previous password; the "
                             "last %d passwords must be unique",
                             li->opts.unique_last_password_count);
    return 0;
}

int local_identity_change_password(struct local_identity *li, const char *user_id,
                                   const char *original, const char *password,
                                   struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct auth_user u;
    int rc = -1, found;
    memset(&u, 0, sizeof(u));
    if (!db)
        return -1;
    found = load_user(db, user_id, NULL, NULL, NULL, &u, err);
    if (found <= 0) {
        if (found == 0)
            nph_error_set(err, NPH_E_NOT_FOUND, "could not find user: %s", user_id);
        goto cleanup;
    }
    if (!u.enabled) {
        nph_error_set(err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
        goto cleanup;
    }
    if (check_password(li, db, &u, original, err))
        goto cleanup;
    if (ident_check_password_history(li, db, user_id, password, err))
        goto cleanup;
    if (nph_db_begin(db, err) || ident_user_set_password(li, db, user_id, password, err) ||
        ident_revoke_event(db, NULL, user_id, NULL, 0, err) || nph_db_commit(db, err))
        goto cleanup;
    ident_revocations_changed(li);
    rc = 0;
cleanup:
    if (u.password_hash) {
        OPENSSL_cleanse(u.password_hash, strlen(u.password_hash));
        free(u.password_hash);
    }
    nph_store_release(db);
    return rc;
}

json_t *local_identity_app_cred_create(struct local_identity *li, const struct ident_token *t,
                                       const json_t *attrs, struct nph_error *err)
{
    struct nph_db *db = NULL;
    json_t *obj = NULL, *out = NULL, *roles = json_array(), *req_roles;
    const char *secret_in = NULL;
    char secret[128];
    char *hash = NULL;
    if (t->scope != IDENT_SCOPE_PROJECT) {
        nph_error_set(err, NPH_E_FORBIDDEN,
                      "an application credential needs a project-scoped token");
        goto cleanup;
    }
    if (t->app_cred_id[0]) {
        nph_error_set(err, NPH_E_FORBIDDEN, "an application credential cannot create another one");
        goto cleanup;
    }
    if (!json_is_object(attrs)) {
        nph_error_set(err, NPH_E_INVALID, "'application_credential' must be an object");
        goto cleanup;
    }
    req_roles = json_object_get(attrs, "roles");
    if (req_roles && !json_is_array(req_roles)) {
        nph_error_set(err, NPH_E_INVALID, "'application_credential.roles' must be an array");
        goto cleanup;
    }
    if (req_roles && json_array_size(req_roles)) {
        size_t i;
        json_t *r;
        json_array_foreach(req_roles, i, r)
        {
            const char *rid = json_string_value(json_object_get(r, "id"));
            const char *rname = json_string_value(json_object_get(r, "name"));
            int ok = 0;
            for (int k = 0; k < t->n_roles && !ok; k++) {
                if ((rid && strcmp(rid, t->roles[k].id) == 0) ||
                    (rname && strcmp(rname, t->roles[k].name) == 0)) {
                    json_array_append_new(roles, json_string(t->roles[k].id));
                    ok = 1;
                }
            }
            if (!ok) {
                nph_error_set(err, NPH_E_FORBIDDEN,
                              "the caller does not hold role '%s' on the project",
                              rid ? rid : (rname ? rname : "?"));
                goto cleanup;
            }
        }
    } else {
        for (int k = 0; k < t->n_roles; k++)
            json_array_append_new(roles, json_string(t->roles[k].id));
    }
    secret_in = json_string_value(json_object_get(attrs, "secret"));
    if (json_object_get(attrs, "secret") && (!secret_in || !*secret_in)) {
        nph_error_set(err, NPH_E_INVALID, "'application_credential.secret' must be a string");
        goto cleanup;
    }
    if (!secret_in) {
        uint8_t raw[48];
        if (nph_random_bytes(raw, sizeof(raw), err))
            goto cleanup;
        nph_b64url_encode(raw, sizeof(raw), secret);
        OPENSSL_cleanse(raw, sizeof(raw));
    } else if (strlen(secret_in) >= sizeof(secret)) {
        nph_error_set(err, NPH_E_INVALID, "'application_credential.secret' is too long");
        goto cleanup;
    } else {
        snprintf(secret, sizeof(secret), "%s", secret_in);
    }
    hash = nph_password_hash(secret, 10000, err);
    if (!hash)
        goto cleanup;
    obj = json_deep_copy(attrs);
    json_object_set_new(obj, "user_id", json_string(t->user_id));
    json_object_set_new(obj, "project_id", json_string(t->scope_id));
    json_object_set(obj, "roles", roles);
    json_object_del(obj, "secret");
    db = ident_db(li, err);
    if (!db || nph_db_begin(db, err))
        goto cleanup;
    out = ident_create_with_id(li, db, IDENT_APP_CRED, obj, NULL, err);
    if (!out)
        goto cleanup;
    {
        struct nph_stmt *st =
            nph_db_prepare(db, "UPDATE identity_app_cred SET secret_hash = ? WHERE id = ?", err);
        int s = -1;
        if (st && nph_stmt_bind_text(st, 1, hash, err) == 0 &&
            nph_stmt_bind_text(st, 2, JID(out), err) == 0)
            s = nph_stmt_step(st, err);
        if (st)
            nph_stmt_done(st);
        if (s < 0 || nph_db_commit(db, err)) {
            json_decref(out);
            out = NULL;
            goto cleanup;
        }
    }
    json_object_set_new(out, "secret", json_string(secret));
cleanup:
    OPENSSL_cleanse(secret, sizeof(secret));
    free(hash);
    json_decref(obj);
    json_decref(roles);
    nph_store_release(db);
    return out;
}

int ident_token_has_role(const struct ident_token *t, const char *name)
{
    for (int i = 0; i < t->n_roles; i++) {
        if (strcmp(t->roles[i].name, name) == 0)
            return 1;
    }
    return 0;
}

int ident_token_is_admin(const struct ident_token *t)
{
    return t->scope != IDENT_SCOPE_UNSCOPED && ident_token_has_role(t, "admin");
}
