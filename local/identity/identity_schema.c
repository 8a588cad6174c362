/* identity_schema.c - the identity tables, as versioned portable-SQL migrations. */
#include "identity_internal.h"

static const struct nph_migration identity_migrations[] = {
    {1, "identity base schema",
     "CREATE TABLE identity_domain (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " description TEXT, enabled INTEGER NOT NULL DEFAULT 1, tags TEXT, extra TEXT);"
     "CREATE TABLE identity_project (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " domain_id TEXT NOT NULL, parent_id TEXT, description TEXT,"
     " enabled INTEGER NOT NULL DEFAULT 1, tags TEXT, extra TEXT, UNIQUE (domain_id, name));"
     "CREATE TABLE identity_user (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " domain_id TEXT NOT NULL, description TEXT, email TEXT, default_project_id TEXT,"
     " enabled INTEGER NOT NULL DEFAULT 1, password_hash TEXT, password_created_at BIGINT,"
     " failed_auth_count INTEGER NOT NULL DEFAULT 0, failed_auth_at BIGINT, extra TEXT,"
     " UNIQUE (domain_id, name));"
     "CREATE TABLE identity_password_history (user_id TEXT NOT NULL, hash TEXT NOT NULL,"
     " created_at BIGINT NOT NULL);"
     "CREATE INDEX identity_password_history_user ON identity_password_history (user_id);"
     "CREATE TABLE identity_group (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " domain_id TEXT NOT NULL, description TEXT, extra TEXT, UNIQUE (domain_id, name));"
     "CREATE TABLE identity_group_member (group_id TEXT NOT NULL, user_id TEXT NOT NULL,"
     " PRIMARY KEY (group_id, user_id));"
     "CREATE INDEX identity_group_member_user ON identity_group_member (user_id);"
     "CREATE TABLE identity_role (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " domain_id TEXT NOT NULL DEFAULT '', description TEXT, extra TEXT,"
     " UNIQUE (domain_id, name));"
     "CREATE TABLE identity_role_implication (prior_role_id TEXT NOT NULL,"
     " implied_role_id TEXT NOT NULL, PRIMARY KEY (prior_role_id, implied_role_id));"
     "CREATE TABLE identity_assignment (type TEXT NOT NULL, actor_id TEXT NOT NULL,"
     " target_id TEXT NOT NULL, role_id TEXT NOT NULL,"
     " PRIMARY KEY (type, actor_id, target_id, role_id));"
     "CREATE INDEX identity_assignment_actor ON identity_assignment (actor_id);"
     "CREATE INDEX identity_assignment_target ON identity_assignment (target_id);"
     "CREATE TABLE identity_region (id TEXT PRIMARY KEY, description TEXT,"
     " parent_region_id TEXT, extra TEXT);"
     "CREATE TABLE identity_service (id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT,"
     " description TEXT, enabled INTEGER NOT NULL DEFAULT 1, extra TEXT);"
     "CREATE TABLE identity_endpoint (id TEXT PRIMARY KEY, service_id TEXT NOT NULL,"
     " interface TEXT NOT NULL, url TEXT NOT NULL, region_id TEXT,"
     " enabled INTEGER NOT NULL DEFAULT 1, extra TEXT);"
     "CREATE TABLE identity_app_cred (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " user_id TEXT NOT NULL, project_id TEXT NOT NULL, description TEXT,"
     " secret_hash TEXT NOT NULL DEFAULT '', expires_at BIGINT, unrestricted INTEGER NOT NULL "
     "DEFAULT 0,"
     " roles TEXT NOT NULL, extra TEXT, UNIQUE (user_id, name));"
     "CREATE TABLE identity_revocation (audit_id TEXT, user_id TEXT, project_id TEXT,"
     " issued_before BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
     "CREATE INDEX identity_revocation_audit ON identity_revocation (audit_id);"
     "CREATE INDEX identity_revocation_user ON identity_revocation (user_id);"
     "CREATE INDEX identity_revocation_project ON identity_revocation (project_id);"},
};

int local_identity_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "identity", identity_migrations,
                             sizeof(identity_migrations) / sizeof(identity_migrations[0]), applied,
                             err);
}
