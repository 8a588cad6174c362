/*
 * local_identity.h - the native identity service: domains, projects, users, groups, roles,
 * role assignments, regions, services, endpoints, application credentials; password
 * authentication (with lockout and password history), self-contained encrypted tokens and
 * their revocation, and RBAC decisions.
 *
 * Resources are passed as jansson objects in the identity vocabulary (which Keystone v3
 * shares): {"id":..., "name":..., "domain_id":..., "enabled":true, ...}. Every entity kind is
 * described by a table of columns (identity_entity.c), so create/get/list/update/delete is
 * one generic code path validated by that table.
 *
 * Tokens carry everything a validation needs (user, scope, roles, methods, times, audit ids),
 * encrypted and authenticated with AES-256-GCM under keys kept in a key repository directory
 * (see identity_token.c); validating one reads the database only to check revocations.
 */
#ifndef LOCAL_IDENTITY_H
#define LOCAL_IDENTITY_H

#include <jansson.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

enum ident_kind {
    IDENT_DOMAIN,
    IDENT_PROJECT,
    IDENT_USER,
    IDENT_GROUP,
    IDENT_ROLE,
    IDENT_REGION,
    IDENT_SERVICE,
    IDENT_ENDPOINT,
    IDENT_APP_CRED,
    IDENT__KIND_COUNT
};

/* "domain", "project", ... (the JSON member name of one resource); "domains", ... (list). */
const char *ident_kind_name(enum ident_kind kind);
const char *ident_kind_plural(enum ident_kind kind);

#define IDENT_ID_MAX    64
#define IDENT_NAME_MAX  255
#define IDENT_MAX_ROLES 32

enum ident_scope {
    IDENT_SCOPE_UNSCOPED,
    IDENT_SCOPE_PROJECT,
    IDENT_SCOPE_DOMAIN,
    IDENT_SCOPE_SYSTEM
};

enum ident_method {
    IDENT_M_PASSWORD = 1,
    IDENT_M_TOKEN = 2,
    IDENT_M_APP_CRED = 4,
};

struct ident_role_ref {
    char id[IDENT_ID_MAX + 1];
    char name[IDENT_NAME_MAX + 1];
};

/* A decoded token: everything a request needs to know about its caller. */
struct ident_token {
    char user_id[IDENT_ID_MAX + 1];
    char user_name[IDENT_NAME_MAX + 1];
    char user_domain_id[IDENT_ID_MAX + 1];
    char user_domain_name[IDENT_NAME_MAX + 1];
    enum ident_scope scope;
    char scope_id[IDENT_ID_MAX + 1]; /* project or domain id; "all" for system */
    char scope_name[IDENT_NAME_MAX + 1];
    char scope_domain_id[IDENT_ID_MAX + 1]; /* the project's domain */
    char scope_domain_name[IDENT_NAME_MAX + 1];
    int n_roles;
    struct ident_role_ref roles[IDENT_MAX_ROLES];
    unsigned methods;              /* enum ident_method bits */
    int64_t issued_at, expires_at; /* UTC microseconds */
    char audit_id[32];             /* this token's */
    char parent_audit_id[32];      /* the original token's when re-scoped, else "" */
    char app_cred_id[IDENT_ID_MAX + 1];
    char app_cred_name[IDENT_NAME_MAX + 1];
};

struct local_identity_opts {
    const char *keys_dir; /* token key repository */
    int max_active_keys;
    int64_t token_lifetime_s;
    unsigned password_iterations;
    int lockout_failure_attempts; /* 0 = no lockout */
    int64_t lockout_duration_s;
    int unique_last_password_count; /* new passwords must differ from the last N; 0 = off */
};

struct local_identity;

/* Apply the identity schema migrations to the store. */
int local_identity_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Open the service over a migrated store: load (creating on first use) the token keys.
 * Borrows store and opts strings for its lifetime. */
struct local_identity *local_identity_open(struct nph_store *store,
                                           const struct local_identity_opts *opts,
                                           struct nph_error *err);
void local_identity_close(struct local_identity *li);

/* Bootstrap like `keystone-manage bootstrap`: domain "default" (name Default), project admin,
 * user admin (password as given) with role admin on it, roles admin/member/reader (admin
 * implies member implies reader), region `region`, and the catalog's endpoints from
 * `services` (NULL-terminated triples type, name, url-path-suffix appended to public_url).
 * Idempotent: existing objects are kept (the admin password is not changed). *created = 1
 * when the admin user was created by this call. */
int local_identity_bootstrap(struct local_identity *li, const char *admin_password,
                             const char *region, const char *public_url,
                             const char *const *services, int *created, struct nph_error *err);

/* ---- generic resources ---------------------------------------------------------------- */

/* Create from attributes (validated against the kind's table; unknown attributes are kept in
 * "extra" for users/projects as Keystone does, rejected for the others). For users a
 * "password" attribute is hashed. Returns the new resource (new reference) or NULL. */
json_t *local_identity_create(struct local_identity *li, enum ident_kind kind, const json_t *attrs,
                              struct nph_error *err);
/* The resource, or NULL with NPH_E_NOT_FOUND ("could not find project 'x'"). */
json_t *local_identity_get(struct local_identity *li, enum ident_kind kind, const char *id,
                           struct nph_error *err);
/* Resolve a name within a domain (domain_id NULL for kinds without one) to the resource. */
json_t *local_identity_find(struct local_identity *li, enum ident_kind kind, const char *name,
                            const char *domain_id, struct nph_error *err);
/* List with equality filters given as a JSON object of column -> string/bool (unknown
 * filters are ignored, as Keystone does). Returns a new array. */
json_t *local_identity_list(struct local_identity *li, enum ident_kind kind, const json_t *filters,
                            struct nph_error *err);
/* Update the attributes in `patch` (immutable ones -> NPH_E_INVALID). Returns the updated
 * resource. Disabling a user/project revokes its tokens. */
json_t *local_identity_update(struct local_identity *li, enum ident_kind kind, const char *id,
                              const json_t *patch, struct nph_error *err);
/* Delete, with the cascades a user expects (assignments, memberships, app credentials) and
 * token revocation. Domains must be disabled first (NPH_E_FORBIDDEN otherwise). */
int local_identity_delete(struct local_identity *li, enum ident_kind kind, const char *id,
                          struct nph_error *err);

/* ---- assignments and groups -------------------------------------------------------------- */

enum ident_actor { IDENT_ACTOR_USER, IDENT_ACTOR_GROUP };
enum ident_target { IDENT_TARGET_PROJECT, IDENT_TARGET_DOMAIN, IDENT_TARGET_SYSTEM };

/* Grant / check / revoke a role. Unknown actor, target or role -> NPH_E_NOT_FOUND. Revoking
 * revokes the actor's tokens on that target. check returns 1 granted, 0 not, -1 error. */
int local_identity_grant(struct local_identity *li, enum ident_actor at, const char *actor_id,
                         enum ident_target tt, const char *target_id, const char *role_id,
                         struct nph_error *err);
int local_identity_revoke_grant(struct local_identity *li, enum ident_actor at,
                                const char *actor_id, enum ident_target tt, const char *target_id,
                                const char *role_id, struct nph_error *err);
int local_identity_check_grant(struct local_identity *li, enum ident_actor at, const char *actor_id,
                               enum ident_target tt, const char *target_id, const char *role_id,
                               struct nph_error *err);
/* Roles granted directly to an actor on a target: array of role resources. */
json_t *local_identity_list_grants(struct local_identity *li, enum ident_actor at,
                                   const char *actor_id, enum ident_target tt,
                                   const char *target_id, struct nph_error *err);
/* GET /v3/role_assignments: filters user_id, group_id, project_id, domain_id, role_id, each
 * may be NULL; effective expands group memberships and implied roles; include_names adds
 * names. Returns an array in Keystone's role_assignment shape (without links). */
json_t *local_identity_role_assignments(struct local_identity *li, const char *user_id,
                                        const char *group_id, const char *project_id,
                                        const char *domain_id, const char *role_id, int effective,
                                        int include_names, struct nph_error *err);
/* Projects (or domains) on which the user holds any role, directly or via groups. */
json_t *local_identity_user_targets(struct local_identity *li, const char *user_id,
                                    enum ident_target tt, struct nph_error *err);

int local_identity_group_add_user(struct local_identity *li, const char *group_id,
                                  const char *user_id, struct nph_error *err);
int local_identity_group_remove_user(struct local_identity *li, const char *group_id,
                                     const char *user_id, struct nph_error *err);
/* 1 member, 0 not, -1 error. */
int local_identity_group_check_user(struct local_identity *li, const char *group_id,
                                    const char *user_id, struct nph_error *err);
json_t *local_identity_group_users(struct local_identity *li, const char *group_id,
                                   struct nph_error *err);
json_t *local_identity_user_groups(struct local_identity *li, const char *user_id,
                                   struct nph_error *err);

/* ---- authentication and tokens ------------------------------------------------------------ */

/* What POST /auth/tokens asked for, already parsed. */
struct ident_auth_request {
    unsigned methods;
    /* password */
    const char *user_id, *user_name, *user_domain_id, *user_domain_name, *password;
    /* token */
    const char *token;
    /* application credential */
    const char *app_cred_id, *app_cred_name, *app_cred_secret;
    /* scope */
    enum ident_scope scope;
    const char *project_id, *project_name, *project_domain_id, *project_domain_name;
    const char *domain_id, *domain_name;
    int unscoped_explicit; /* "scope": "unscoped" or no scope given */
};

/* Authenticate and build the token. Wrong credentials, disabled or locked users, expired app
 * credentials -> NPH_E_UNAUTHORIZED with a message that does not tell which part was wrong;
 * a scope the user has no role on -> NPH_E_UNAUTHORIZED; an unknown project or domain in the
 * scope -> NPH_E_UNAUTHORIZED too (as Keystone). */
int local_identity_authenticate(struct local_identity *li, const struct ident_auth_request *req,
                                struct ident_token *out, struct nph_error *err);

/* Serialise and encrypt with the primary key. Returns a malloc'd token string. */
char *local_identity_token_encode(struct local_identity *li, const struct ident_token *t,
                                  struct nph_error *err);
/* Decrypt, check expiry and revocation. Invalid/expired/revoked -> NPH_E_NOT_FOUND when
 * `as_subject` (validating someone else's token), NPH_E_UNAUTHORIZED otherwise. */
int local_identity_token_validate(struct local_identity *li, const char *token, int as_subject,
                                  struct ident_token *out, struct nph_error *err);
/* Revoke this token (by audit id). */
int local_identity_token_revoke(struct local_identity *li, const struct ident_token *t,
                                struct nph_error *err);

/* Change a user's own password (POST /users/{id}/password): checks the original, password
 * history and writes the new hash; revokes the user's tokens. */
int local_identity_change_password(struct local_identity *li, const char *user_id,
                                   const char *original, const char *password,
                                   struct nph_error *err);

/* Create an application credential for the token's user and scope; returns the resource
 * including the one-time "secret". */
json_t *local_identity_app_cred_create(struct local_identity *li, const struct ident_token *t,
                                       const json_t *attrs, struct nph_error *err);

/* ---- token key repository ------------------------------------------------------------------ */

/* Create the repository with a staged and a primary key when it is empty (0700 dir, 0600
 * files). */
int ident_keys_setup(const char *dir, struct nph_error *err);
/* Rotate: the staged key becomes primary, a new staged key is written, keys beyond
 * max_active are removed (oldest first). *primary receives the new primary index. */
int ident_keys_rotate(const char *dir, int max_active, int *primary, struct nph_error *err);

/* ---- RBAC ------------------------------------------------------------------------------------ */

/* 1 if the token holds role `name` (admin implies member implies reader, resolved at issue). */
int ident_token_has_role(const struct ident_token *t, const char *name);
/* Cloud admin: the admin role on any scope (project admin of the bootstrap project or
 * system scope). Nephele, like Keystone's legacy policy, treats admin as cloud-wide. */
int ident_token_is_admin(const struct ident_token *t);

#endif
