/*
 * identity_assign.c - role assignments (user/group x project/domain/system x role), implied
 * roles, group membership, and the effective roles a token is issued with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity_internal.h"

static const char *assign_type(enum ident_actor at, enum ident_target tt)
{
    static const char *const names[2][3] = {{"UserProject", "UserDomain", "UserSystem"},
                                            {"GroupProject", "GroupDomain", "GroupSystem"}};
    return names[at][tt];
}

/* Check that actor, target and role exist; NPH_E_NOT_FOUND naming the missing one. */
static int check_parts(struct nph_db *db, enum ident_actor at, const char *actor_id,
                       enum ident_target tt, const char *target_id, const char *role_id,
                       struct nph_error *err)
{
    struct {
        enum ident_kind kind;
        const char *id;
    } parts[3] = {{at == IDENT_ACTOR_USER ? IDENT_USER : IDENT_GROUP, actor_id},
                  {tt == IDENT_TARGET_PROJECT ? IDENT_PROJECT : IDENT_DOMAIN, target_id},
                  {IDENT_ROLE, role_id}};
    for (int i = 0; i < 3; i++) {
        char sql[128];
        struct nph_stmt *st;
        int rc;
        if (i == 1 && tt == IDENT_TARGET_SYSTEM)
            continue;
        snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?",
                 ident_entity(parts[i].kind)->table);
        st = nph_db_prepare(db, sql, err);
        if (!st || nph_stmt_bind_text(st, 1, parts[i].id, err))
            return -1;
        rc = nph_stmt_step(st, err);
        nph_stmt_done(st);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s",
                                 ident_kind_name(parts[i].kind), parts[i].id);
    }
    return 0;
}

static int assignment_op(struct local_identity *li, const char *sql, enum ident_actor at,
                         const char *actor_id, enum ident_target tt, const char *target_id,
                         const char *role_id, int64_t *changes, struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st = NULL;
    int rc = -1;
    if (!db)
        return -1;
    if (tt == IDENT_TARGET_SYSTEM)
        target_id = "system";
    if (nph_db_begin(db, err) || check_parts(db, at, actor_id, tt, target_id, role_id, err))
        goto cleanup;
    st = nph_db_prepare(db, sql, err);
    if (!st || nph_stmt_bind_text(st, 1, assign_type(at, tt), err) ||
        nph_stmt_bind_text(st, 2, actor_id, err) || nph_stmt_bind_text(st, 3, target_id, err) ||
        nph_stmt_bind_text(st, 4, role_id, err))
        goto cleanup;
    rc = nph_stmt_step(st, err);
    if (rc < 0)
        goto cleanup;
    *changes = rc == 1 ? 1 : nph_stmt_changes(st);
    nph_stmt_done(st);
    st = NULL;
    rc = -1;
    if (strncmp(sql, "DELETE", 6) == 0 && *changes > 0) {
        /* Tokens carry their roles: revoke the actor's tokens on that target. Group grants
         * revoke nothing per user here; members' tokens expire with their lifetime. */
        if (at == IDENT_ACTOR_USER &&
            ident_revoke_event(db, NULL, actor_id, tt == IDENT_TARGET_PROJECT ? target_id : NULL, 0,
                               err))
            goto cleanup;
    }
    if (nph_db_commit(db, err))
        goto cleanup;
    if (*changes > 0 && strncmp(sql, "DELETE", 6) == 0)
        ident_revocations_changed(li);
    rc = 0;
cleanup:
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

int local_identity_grant(struct local_identity *li, enum ident_actor at, const char *actor_id,
                         enum ident_target tt, const char *target_id, const char *role_id,
                         struct nph_error *err)
{
    int64_t n;
    return assignment_op(li,
                         "INSERT INTO identity_assignment (type, actor_id, target_id, role_id)"
                         " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         at, actor_id, tt, target_id, role_id, &n, err);
}

int local_identity_revoke_grant(struct local_identity *li, enum ident_actor at,
                                const char *actor_id, enum ident_target tt, const char *target_id,
                                const char *role_id, struct nph_error *err)
{
    int64_t n = 0;
    if (assignment_op(li,
                      "DELETE FROM identity_assignment WHERE type = ? AND actor_id = ? AND"
                      " target_id = ? AND role_id = ?",
                      at, actor_id, tt, target_id, role_id, &n, err))
        return -1;
    if (n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "could not find role assignment");
    return 0;
}

int local_identity_check_grant(struct local_identity *li, enum ident_actor at, const char *actor_id,
                               enum ident_target tt, const char *target_id, const char *role_id,
                               struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    int rc = -1;
    if (!db)
        return -1;
    if (tt == IDENT_TARGET_SYSTEM)
        target_id = "system";
    if (check_parts(db, at, actor_id, tt, target_id, role_id, err))
        goto cleanup;
    st = nph_db_prepare(db,
                        "SELECT 1 FROM identity_assignment WHERE type = ? AND actor_id = ? AND"
                        " target_id = ? AND role_id = ?",
                        err);
    if (!st)
        goto cleanup;
    if (nph_stmt_bind_text(st, 1, assign_type(at, tt), err) == 0 &&
        nph_stmt_bind_text(st, 2, actor_id, err) == 0 &&
        nph_stmt_bind_text(st, 3, target_id, err) == 0 &&
        nph_stmt_bind_text(st, 4, role_id, err) == 0)
        rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
cleanup:
    nph_store_release(db);
    return rc;
}

json_t *local_identity_list_grants(struct local_identity *li, enum ident_actor at,
                                   const char *actor_id, enum ident_target tt,
                                   const char *target_id, struct nph_error *err)
{
    const struct ident_entity *re = ident_entity(IDENT_ROLE);
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    char sql[512], sel[384];
    json_t *out = NULL;
    if (!db)
        return NULL;
    if (tt == IDENT_TARGET_SYSTEM)
        target_id = "system";
    ident_select_sql(re, sel, sizeof(sel));
    snprintf(sql, sizeof(sql),
             "%s WHERE id IN (SELECT role_id FROM identity_assignment WHERE type = ? AND"
             " actor_id = ? AND target_id = ?) ORDER BY name",
             sel);
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto cleanup;
    if (nph_stmt_bind_text(st, 1, assign_type(at, tt), err) == 0 &&
        nph_stmt_bind_text(st, 2, actor_id, err) == 0 &&
        nph_stmt_bind_text(st, 3, target_id, err) == 0) {
        out = ident_collect_rows(re, st, err);
    }
    nph_stmt_done(st);
cleanup:
    nph_store_release(db);
    return out;
}

int ident_expand_roles(struct nph_db *db, const char *const *role_ids, int n,
                       struct ident_role_ref *out, int *n_out, struct nph_error *err)
{
    int count = 0;
    for (int i = 0; i < n && count < IDENT_MAX_ROLES; i++) {
        int dup = 0;
        for (int j = 0; j < count; j++)
            dup |= strcmp(out[j].id, role_ids[i]) == 0;
        if (!dup)
            snprintf(out[count++].id, sizeof(out[0].id), "%s", role_ids[i]);
    }
    /* Breadth-first over implications; out[] doubles as the queue. */
    for (int i = 0; i < count; i++) {
        struct nph_stmt *st = nph_db_prepare(
            db,
            "SELECT i.implied_role_id FROM identity_role_implication i WHERE i.prior_role_id = ?",
            err);
        int rc;
        if (!st || nph_stmt_bind_text(st, 1, out[i].id, err))
            return -1;
        while ((rc = nph_stmt_step(st, err)) == 1 && count < IDENT_MAX_ROLES) {
            const char *rid = nph_stmt_col_text(st, 0);
            int dup = 0;
            for (int j = 0; j < count; j++)
                dup |= strcmp(out[j].id, rid) == 0;
            if (!dup)
                snprintf(out[count++].id, sizeof(out[0].id), "%s", rid);
        }
        nph_stmt_done(st);
        if (rc < 0)
            return -1;
    }
    for (int i = 0; i < count; i++) {
        struct nph_stmt *st =
            nph_db_prepare(db, "SELECT name FROM identity_role WHERE id = ?", err);
        int rc;
        if (!st || nph_stmt_bind_text(st, 1, out[i].id, err))
            return -1;
        rc = nph_stmt_step(st, err);
        snprintf(out[i].name, sizeof(out[i].name), "%s", rc == 1 ? nph_stmt_col_text(st, 0) : "");
        nph_stmt_done(st);
        if (rc < 0)
            return -1;
    }
    *n_out = count;
    return 0;
}

/* Direct and group role ids of a user on a target, expanded. Exposed to identity_auth.c. */
int ident_effective_roles(struct nph_db *db, const char *user_id, const char *target_id,
                          struct ident_role_ref *out, int *n_out, struct nph_error *err);
int ident_effective_roles(struct nph_db *db, const char *user_id, const char *target_id,
                          struct ident_role_ref *out, int *n_out, struct nph_error *err)
{
    char *ids[IDENT_MAX_ROLES];
    int n = 0, rc;
    struct nph_stmt *st = nph_db_prepare(
        db,
        "SELECT DISTINCT role_id FROM identity_assignment WHERE target_id = ? AND"
        " (actor_id = ? OR actor_id IN (SELECT group_id FROM identity_group_member WHERE"
        " user_id = ?)) ORDER BY role_id",
        err);
    if (!st || nph_stmt_bind_text(st, 1, target_id, err) ||
        nph_stmt_bind_text(st, 2, user_id, err) || nph_stmt_bind_text(st, 3, user_id, err))
        return -1;
    while ((rc = nph_stmt_step(st, err)) == 1 && n < IDENT_MAX_ROLES)
        ids[n++] = strdup(nph_stmt_col_text(st, 0));
    nph_stmt_done(st);
    if (rc >= 0)
        rc = ident_expand_roles(db, (const char *const *)ids, n, out, n_out, err);
    for (int i = 0; i < n; i++)
        free(ids[i]);
    return rc < 0 ? -1 : 0;
}

json_t *local_identity_user_targets(struct local_identity *li, const char *user_id,
                                    enum ident_target tt, struct nph_error *err)
{
    enum ident_kind kind = tt == IDENT_TARGET_PROJECT ? IDENT_PROJECT : IDENT_DOMAIN;
    const struct ident_entity *e = ident_entity(kind);
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    char sql[768], sel[384];
    json_t *out = NULL;
    if (!db)
        return NULL;
    ident_select_sql(e, sel, sizeof(sel));
    snprintf(sql, sizeof(sql),
             "%s WHERE id IN (SELECT target_id FROM identity_assignment WHERE type IN (?, ?) AND"
             " (actor_id = ? OR actor_id IN (SELECT group_id FROM identity_group_member WHERE"
             " user_id = ?))) ORDER BY name",
             sel);
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto cleanup;
    if (nph_stmt_bind_text(st, 1, assign_type(IDENT_ACTOR_USER, tt), err) == 0 &&
        nph_stmt_bind_text(st, 2, assign_type(IDENT_ACTOR_GROUP, tt), err) == 0 &&
        nph_stmt_bind_text(st, 3, user_id, err) == 0 &&
        nph_stmt_bind_text(st, 4, user_id, err) == 0) {
        out = ident_collect_rows(e, st, err);
    }
    nph_stmt_done(st);
cleanup:
    nph_store_release(db);
    return out;
}

static void add_named(json_t *obj, const char *key, const char *id, json_t *names)
{
    json_t *ref = json_pack("{s:s}", "id", id);
    json_t *n = names ? json_object_get(names, id) : NULL;
    if (n)
        json_object_update(ref, n);
    json_object_set_new(obj, key, ref);
}

/* id -> {"name":..., "domain": {...}} for include_names. */
static json_t *name_index(struct nph_db *db, struct nph_error *err)
{
    static const char *const sql[] = {
        "SELECT id, name, domain_id FROM identity_user",
        "SELECT id, name, domain_id FROM identity_group",
        "SELECT id, name, domain_id FROM identity_project",
        "SELECT id, name, '' FROM identity_domain",
        "SELECT id, name, domain_id FROM identity_role",
    };
    json_t *idx = json_object(), *domains = json_object();
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        struct nph_stmt *st = nph_db_prepare(db, sql[i], err);
        int rc;
        if (!st)
            goto fail;
        while ((rc = nph_stmt_step(st, err)) == 1) {
            const char *dom = nph_stmt_col_text(st, 2);
            json_t *e = json_pack("{s:s}", "name", nph_stmt_col_text(st, 1));
            if (dom && *dom)
                json_object_set_new(e, "domain", json_pack("{s:s}", "id", dom));
            json_object_set_new(idx, nph_stmt_col_text(st, 0), e);
            if (i == 3)
                json_object_set_new(domains, nph_stmt_col_text(st, 0),
                                    json_string(nph_stmt_col_text(st, 1)));
        }
        nph_stmt_done(st);
        if (rc < 0)
            goto fail;
    }
    /* Fill the domains' names into the references. */
    const char *k;
    json_t *v;
    json_object_foreach(idx, k, v)
    {
        json_t *d = json_object_get(v, "domain");
        json_t *dn =
            d ? json_object_get(domains, json_string_value(json_object_get(d, "id"))) : NULL;
        if (dn)
            json_object_set(d, "name", dn);
    }
    json_decref(domains);
    return idx;
fail:
    json_decref(idx);
    json_decref(domains);
    return NULL;
}

json_t *local_identity_role_assignments(struct local_identity *li, const char *user_id,
                                        const char *group_id, const char *project_id,
                                        const char *domain_id, const char *role_id, int effective,
                                        int include_names, struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st = NULL, *mem = NULL;
    json_t *out = NULL, *names = NULL;
    int rc;
    if (!db)
        return NULL;
    if (include_names && !(names = name_index(db, err)))
        goto cleanup;
    st = nph_db_prepare(db,
                        "SELECT type, actor_id, target_id, role_id FROM identity_assignment"
                        " ORDER BY type, actor_id, target_id, role_id",
                        err);
    if (!st)
        goto cleanup;
    out = json_array();
    while ((rc = nph_stmt_step(st, err)) == 1) {
        const char *type = nph_stmt_col_text(st, 0), *actor = nph_stmt_col_text(st, 1);
        const char *target = nph_stmt_col_text(st, 2), *role = nph_stmt_col_text(st, 3);
        int is_group = type[0] == 'G';
        const char *scope = strstr(type, "Project")  ? "project"
                            : strstr(type, "Domain") ? "domain"
                                                     : "system";
        struct ident_role_ref roles[IDENT_MAX_ROLES];
        int n_roles = 1;
        const char *rids[1] = {role};
        if (project_id && (strcmp(scope, "project") || strcmp(target, project_id)))
            continue;
        if (domain_id && (strcmp(scope, "domain") || strcmp(target, domain_id)))
            continue;
        if (group_id && (!is_group || strcmp(actor, group_id)))
            continue;
        if (effective) {
            if (ident_expand_roles(db, rids, 1, roles, &n_roles, err))
                goto fail;
        } else {
            snprintf(roles[0].id, sizeof(roles[0].id), "%s", role);
        }
        /* Members of a group, for effective listings; else the actor itself. */
        json_t *actors = json_array();
        if (effective && is_group) {
            int mrc;
            mem = nph_db_prepare(db, "SELECT user_id FROM identity_group_member WHERE group_id = ?",
                                 err);
            if (!mem || nph_stmt_bind_text(mem, 1, actor, err)) {
                json_decref(actors);
                goto fail;
            }
            while ((mrc = nph_stmt_step(mem, err)) == 1)
                json_array_append_new(actors, json_string(nph_stmt_col_text(mem, 0)));
            nph_stmt_done(mem);
            mem = NULL;
            if (mrc < 0) {
                json_decref(actors);
                goto fail;
            }
        } else {
            json_array_append_new(actors, json_string(actor));
        }
        size_t ai;
        json_t *av;
        json_array_foreach(actors, ai, av)
        {
            const char *aid = json_string_value(av);
            int as_user = !is_group || effective;
            if (user_id && (!as_user || strcmp(aid, user_id)))
                continue;
            for (int r = 0; r < n_roles; r++) {
                json_t *a, *sc;
                if (role_id && strcmp(roles[r].id, role_id))
                    continue;
                a = json_object();
                sc = json_object();
                add_named(a, "role", roles[r].id, names);
                add_named(a, as_user ? "user" : "group", aid, names);
                if (strcmp(scope, "system") == 0)
                    json_object_set_new(sc, "system", json_pack("{s:b}", "all", 1));
                else
                    add_named(sc, scope, target, names);
                json_object_set_new(a, "scope", sc);
                if (effective && is_group)
                    json_object_set_new(a, "links", json_pack("{s:s}", "membership", actor));
                json_array_append_new(out, a);
            }
        }
        json_decref(actors);
    }
    if (rc < 0)
        goto fail;
    goto cleanup;
fail:
    json_decref(out);
    out = NULL;
cleanup:
    if (st)
        nph_stmt_done(st);
    json_decref(names);
    nph_store_release(db);
    return out;
}

static int membership_op(struct local_identity *li, const char *sql, const char *group_id,
                         const char *user_id, int64_t *result, struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    int rc = -1;
    if (!db)
        return -1;
    {
        /* Check user and group exist. */
        const char *checks[2][2] = {{"SELECT 1 FROM identity_user WHERE id = ?", user_id},
                                    {"SELECT 1 FROM identity_group WHERE id = ?", group_id}};
        for (int i = 0; i < 2; i++) {
            struct nph_stmt *c = nph_db_prepare(db, checks[i][0], err);
            int ex;
            if (!c || nph_stmt_bind_text(c, 1, checks[i][1], err))
                goto cleanup;
            ex = nph_stmt_step(c, err);
            nph_stmt_done(c);
            if (ex < 0)
                goto cleanup;
            if (ex == 0) {
                nph_error_set(err, NPH_E_NOT_FOUND, "could not find %s: %s",
                              i == 0 ? "user" : "group", checks[i][1]);
                goto cleanup;
            }
        }
    }
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto cleanup;
    if (nph_stmt_bind_text(st, 1, group_id, err) == 0 &&
        nph_stmt_bind_text(st, 2, user_id, err) == 0) {
        int s = nph_stmt_step(st, err);
        if (s >= 0) {
            *result = strncmp(sql, "SELECT", 6) == 0 ? s : nph_stmt_changes(st);
            rc = 0;
        }
    }
    nph_stmt_done(st);
cleanup:
    nph_store_release(db);
    return rc;
}

int local_identity_group_add_user(struct local_identity *li, const char *group_id,
                                  const char *user_id, struct nph_error *err)
{
    int64_t n;
    return membership_op(li,
                         "INSERT INTO identity_group_member (group_id, user_id) VALUES (?, ?)"
                         " ON CONFLICT DO NOTHING",
                         group_id, user_id, &n, err);
}

int local_identity_group_remove_user(struct local_identity *li, const char *group_id,
                                     const char *user_id, struct nph_error *err)
{
    int64_t n = 0;
    if (membership_op(li, "DELETE FROM identity_group_member WHERE group_id = ? AND user_id = ?",
                      group_id, user_id, &n, err))
        return -1;
    if (n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "user '%s' is not in group '%s'", user_id,
                             group_id);
    return 0;
}

int local_identity_group_check_user(struct local_identity *li, const char *group_id,
                                    const char *user_id, struct nph_error *err)
{
    int64_t n = 0;
    if (membership_op(li, "SELECT 1 FROM identity_group_member WHERE group_id = ? AND user_id = ?",
                      group_id, user_id, &n, err))
        return -1;
    return n ? 1 : 0;
}

static json_t *member_list(struct local_identity *li, enum ident_kind kind, const char *sql_where,
                           const char *id, struct nph_error *err)
{
    const struct ident_entity *e = ident_entity(kind);
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    char sql[768], sel[384];
    json_t *out = NULL;
    if (!db)
        return NULL;
    ident_select_sql(e, sel, sizeof(sel));
    snprintf(sql, sizeof(sql), "%s WHERE %s ORDER BY name", sel, sql_where);
    st = nph_db_prepare(db, sql, err);
    if (st && nph_stmt_bind_text(st, 1, id, err) == 0) {
        out = ident_collect_rows(e, st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    return out;
}

json_t *local_identity_group_users(struct local_identity *li, const char *group_id,
                                   struct nph_error *err)
{
    json_t *g = local_identity_get(li, IDENT_GROUP, group_id, err);
    if (!g)
        return NULL;
    json_decref(g);
    return member_list(li, IDENT_USER,
                       "id IN (SELECT user_id FROM identity_group_member WHERE group_id = ?)",
                       group_id, err);
}

json_t *local_identity_user_groups(struct local_identity *li, const char *user_id,
                                   struct nph_error *err)
{
    json_t *u = local_identity_get(li, IDENT_USER, user_id, err);
    if (!u)
        return NULL;
    json_decref(u);
    return member_list(li, IDENT_GROUP,
                       "id IN (SELECT group_id FROM identity_group_member WHERE user_id = ?)",
                       user_id, err);
}
