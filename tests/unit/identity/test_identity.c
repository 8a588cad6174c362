/*
 * test_identity.c - unit tests of local/identity: bootstrap, password authentication and
 * scoping, effective roles, the generic resource CRUD with its validation, references and
 * cascades, grants, groups, role assignments and application credentials. Each test runs on
 * a fresh SQLite store in a temporary directory (see identity_fixture.h).
 */
#include "identity_fixture.h"

/* ---- bootstrap ------------------------------------------------------------------------ */

static size_t list_count(struct fx *f, enum ident_kind kind, const char *filters)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *flt = filters ? json_loads(filters, 0, NULL) : json_object();
    json_t *l = local_identity_list(f->li, kind, flt, &err);
    size_t n;
    json_decref(flt);
    if (!l)
        fail_msg("list %s: %s", ident_kind_plural(kind), err.msg);
    n = json_array_size(l);
    json_decref(l);
    return n;
}

static void check_bootstrap(struct fx *f)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o, *l;
    struct ident_token t;

    o = local_identity_get(f->li, IDENT_DOMAIN, "default", &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "Default");
    assert_true(json_is_true(json_object_get(o, "enabled")));
    json_decref(o);
    assert_int_equal(list_count(f, IDENT_DOMAIN, NULL), 1);
    assert_int_equal(list_count(f, IDENT_PROJECT, NULL), 1);
    assert_int_equal(list_count(f, IDENT_USER, NULL), 1);
    assert_int_equal(list_count(f, IDENT_ROLE, NULL), 3);
    assert_int_equal(list_count(f, IDENT_REGION, NULL), 1);
    assert_int_equal(list_count(f, IDENT_SERVICE, NULL), 2);
    assert_int_equal(list_count(f, IDENT_ENDPOINT, NULL), 6);
    assert_int_equal(list_count(f, IDENT_ENDPOINT, "{\"interface\":\"public\"}"), 2);

    o = local_identity_get(f->li, IDENT_REGION, FX_REGION, &err);
    assert_non_null(o);
    json_decref(o);
    o = local_identity_find(f->li, IDENT_SERVICE, "nova", NULL, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "compute");
    l = json_pack("{s:s,s:s}", "service_id", json_string_value(json_object_get(o, "id")),
                  "interface", "admin");
    json_decref(o);
    o = local_identity_list(f->li, IDENT_ENDPOINT, l, &err);
    json_decref(l);
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "url")),
                        FX_URL "/compute/v2.1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "region_id")),
                        FX_REGION);
    json_decref(o);

    /* admin has admin on the admin project, and through implications member and reader. */
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, f->admin_user,
                                                IDENT_TARGET_PROJECT, f->admin_project,
                                                f->role_admin, &err),
                     1);
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, f->admin_user,
                                                IDENT_TARGET_SYSTEM, NULL, f->role_admin, &err),
                     1);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    assert_int_equal(t.n_roles, 3);
    assert_true(ident_token_has_role(&t, "admin"));
    assert_true(ident_token_has_role(&t, "member"));
    assert_true(ident_token_has_role(&t, "reader"));
    assert_true(ident_token_is_admin(&t));
    assert_string_equal(t.scope_name, "admin");
    assert_string_equal(t.scope_domain_id, "default");
    assert_string_equal(t.scope_domain_name, "Default");
}

static void test_bootstrap(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    int created = -1;
    struct ident_token t;

    check_bootstrap(f);
    /* member implies reader only. */
    char member_only[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1];
    fx_user(f, "m", "pw-m", member_only, sizeof(member_only));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_grant(f, IDENT_ACTOR_USER, member_only, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_auth_ok(f, member_only, "pw-m", p, &t);
    assert_int_equal(t.n_roles, 2);
    assert_true(fx_has_role(&t, f->role_member));
    assert_true(fx_has_role(&t, f->role_reader));
    assert_false(ident_token_is_admin(&t));
    assert_int_equal(local_identity_delete(f->li, IDENT_USER, member_only, &err), 0);
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), 0);

    /* Twice: nothing changes, the password is kept. */
    assert_int_equal(local_identity_bootstrap(f->li, "another-password", FX_REGION, FX_URL,
                                              fx_services, &created, &err),
                     0);
    assert_int_equal(created, 0);
    check_bootstrap(f);
    assert_int_equal(fx_auth(f, f->admin_user, "another-password", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
}

/* ---- authentication ------------------------------------------------------------------- */

static void test_auth_user_forms(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_auth_request r;
    struct ident_token t;

    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_PASSWORD;
    r.password = FX_PASSWORD;
    r.user_name = "admin";
    r.user_domain_id = "default";
    r.unscoped_explicit = 1;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_string_equal(t.user_id, f->admin_user);
    assert_string_equal(t.user_name, "admin");
    assert_string_equal(t.user_domain_id, "default");
    assert_string_equal(t.user_domain_name, "Default");
    assert_int_equal(t.scope, IDENT_SCOPE_UNSCOPED);
    assert_int_equal(t.n_roles, 0);
    assert_int_equal(t.methods, IDENT_M_PASSWORD);
    assert_true(t.expires_at - t.issued_at == 3600 * NPH_USEC_PER_SEC);
    assert_true(strlen(t.audit_id) > 10);
    assert_string_equal(t.parent_audit_id, "");
    assert_false(ident_token_is_admin(&t));

    r.user_domain_id = NULL;
    r.user_domain_name = "Default";
    r.scope = IDENT_SCOPE_PROJECT;
    r.project_name = "admin";
    r.project_domain_name = "Default";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_string_equal(t.user_id, f->admin_user);
    assert_int_equal(t.scope, IDENT_SCOPE_PROJECT);
    assert_string_equal(t.scope_id, f->admin_project);

    r.project_domain_name = NULL;
    r.project_domain_id = "default";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_string_equal(t.scope_id, f->admin_project);

    /* System scope through the bootstrap's system grant. */
    r.scope = IDENT_SCOPE_SYSTEM;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_SYSTEM);
    assert_string_equal(t.scope_id, "system");
    assert_true(ident_token_is_admin(&t));

    /* Name in the wrong domain / no domain at all. */
    r.scope = IDENT_SCOPE_UNSCOPED;
    r.user_domain_name = "Nope";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    r.user_domain_name = NULL;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), -1);
    fx_expect(&err, NPH_E_INVALID, NULL);
    r.methods = 0;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), -1);
    fx_expect(&err, NPH_E_INVALID, "methods");
}

static void test_auth_failures(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], q[IDENT_ID_MAX + 1];

    fx_user(f, "alice", "alice-pw", u, sizeof(u));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"q\"}", q, sizeof(q));
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);

    assert_int_equal(fx_auth(f, u, "wrong", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(fx_auth(f, u, "", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(fx_auth(f, "no-such-user", "alice-pw", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);

    /* A project without roles, an unknown project, a disabled project. */
    assert_int_equal(fx_auth(f, u, "alice-pw", q, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access to project");
    assert_int_equal(fx_auth(f, u, "alice-pw", "no-such-project", &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);
    fx_auth_ok(f, u, "alice-pw", p, &t);
    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":false}");
    assert_int_equal(fx_auth(f, u, "alice-pw", p, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "disabled");
    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":true}");
    fx_auth_ok(f, u, "alice-pw", p, &t);

    /* Domain scope without a domain grant. */
    struct ident_auth_request r;
    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_PASSWORD;
    r.user_id = u;
    r.password = "alice-pw";
    r.scope = IDENT_SCOPE_DOMAIN;
    r.domain_id = "default";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access to domain");
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_DOMAIN, "default", f->role_reader);
    r.domain_id = NULL;
    r.domain_name = "Default";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_DOMAIN);
    assert_string_equal(t.scope_id, "default");
    assert_int_equal(t.n_roles, 1);
    r.scope = IDENT_SCOPE_SYSTEM;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access to the system");

    /* A disabled user, even with the right password. */
    fx_update_ok(f, IDENT_USER, u, "{\"enabled\":false}");
    assert_int_equal(fx_auth(f, u, "alice-pw", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);
    fx_update_ok(f, IDENT_USER, u, "{\"enabled\":true}");
    fx_auth_ok(f, u, "alice-pw", NULL, &t);

    /* A user without a password cannot log in. */
    char nopw[IDENT_ID_MAX + 1];
    fx_create_id(f, IDENT_USER, "{\"name\":\"nopw\"}", nopw, sizeof(nopw));
    assert_int_equal(fx_auth(f, nopw, "", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
}

static void test_effective_roles(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1], r[IDENT_ID_MAX + 1];

    fx_user(f, "bob", "bob-pw", u, sizeof(u));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_create_id(f, IDENT_GROUP, "{\"name\":\"g\"}", g, sizeof(g));
    fx_create_id(f, IDENT_ROLE, "{\"name\":\"custom\"}", r, sizeof(r));

    /* Group grant only: not a member yet -> no access. */
    fx_grant(f, IDENT_ACTOR_GROUP, g, IDENT_TARGET_PROJECT, p, f->role_admin);
    assert_int_equal(fx_auth(f, u, "bob-pw", p, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access");
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);
    fx_auth_ok(f, u, "bob-pw", p, &t);
    assert_int_equal(t.n_roles, 3);
    assert_true(fx_has_role(&t, f->role_admin));
    assert_true(fx_has_role(&t, f->role_member));
    assert_true(fx_has_role(&t, f->role_reader));
    assert_true(ident_token_is_admin(&t));

    /* Direct plus group grants merge without duplicates. */
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, r);
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_reader);
    fx_auth_ok(f, u, "bob-pw", p, &t);
    assert_int_equal(t.n_roles, 4);
    assert_true(fx_has_role(&t, r));
    assert_true(ident_token_has_role(&t, "custom"));
    assert_false(ident_token_has_role(&t, "nope"));

    /* Leaving the group drops its roles. */
    assert_int_equal(local_identity_group_remove_user(f->li, g, u, &err), 0);
    fx_auth_ok(f, u, "bob-pw", p, &t);
    assert_int_equal(t.n_roles, 2);
    assert_false(ident_token_is_admin(&t));
}

static void test_default_project(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_auth_request r;
    struct ident_token t;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], q[IDENT_ID_MAX + 1];
    char patch[256];

    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"q\"}", q, sizeof(q));
    fx_user(f, "carol", "carol-pw", u, sizeof(u));
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    snprintf(patch, sizeof(patch), "{\"default_project_id\":\"%s\"}", p);
    fx_update_ok(f, IDENT_USER, u, patch);

    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_PASSWORD;
    r.user_id = u;
    r.password = "carol-pw";
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_PROJECT);
    assert_string_equal(t.scope_id, p);
    assert_int_equal(t.n_roles, 2);

    /* "scope": "unscoped" wins over the default project. */
    r.unscoped_explicit = 1;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_UNSCOPED);
    r.unscoped_explicit = 0;

    /* An explicit scope wins as well. */
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, q, f->role_reader);
    r.scope = IDENT_SCOPE_PROJECT;
    r.project_id = q;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_string_equal(t.scope_id, q);
    r.scope = IDENT_SCOPE_UNSCOPED;
    r.project_id = NULL;

    /* A disabled default project: unscoped rather than a failure. */
    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":false}");
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_UNSCOPED);
    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":true}");

    /* A default project the user has no role on: unscoped too (as Keystone). */
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT,
                                                 p, f->role_member, &err),
                     0);
    if (local_identity_authenticate(f->li, &r, &t, &err))
        fail_msg("default project without roles: %s", err.msg);
    assert_int_equal(t.scope, IDENT_SCOPE_UNSCOPED);
    assert_int_equal(t.n_roles, 0);

    /* A deleted default project: unscoped. */
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), 0);
    assert_int_equal(local_identity_authenticate(f->li, &r, &t, &err), 0);
    assert_int_equal(t.scope, IDENT_SCOPE_UNSCOPED);
}

/* ---- generic CRUD --------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(not a string)";
}

static void test_crud_projects(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o, *l;
    char d[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], c[IDENT_ID_MAX + 1], dp[IDENT_ID_MAX + 1];
    char attrs[512];

    fx_create_id(f, IDENT_DOMAIN, "{\"name\":\"D1\",\"description\":\"first\"}", d, sizeof(d));
    fx_create_fails(f, IDENT_DOMAIN, "{\"name\":\"D1\"}", NPH_E_CONFLICT, "conflicting domain");

    o = fx_create(f, IDENT_PROJECT,
                  "{\"name\":\"p1\",\"description\":\"one\",\"tags\":[\"a\",\"b\"],"
                  "\"color\":\"blue\",\"nested\":{\"k\":[1,2]},\"links\":{\"self\":\"x\"}}");
    fx_copy_id(p, sizeof(p), o);
    assert_string_equal(jstr(o, "name"), "p1");
    assert_string_equal(jstr(o, "domain_id"), "default");
    assert_string_equal(jstr(o, "parent_id"), "default");
    assert_string_equal(jstr(o, "description"), "one");
    assert_true(json_is_true(json_object_get(o, "enabled")));
    assert_int_equal(json_array_size(json_object_get(o, "tags")), 2);
    assert_string_equal(jstr(o, "color"), "blue");
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_object_get(o, "nested"), "k"), 1)),
        2);
    assert_null(json_object_get(o, "links"));
    json_decref(o);
    o = local_identity_get(f->li, IDENT_PROJECT, p, &err);
    assert_non_null(o);
    assert_string_equal(jstr(o, "color"), "blue");
    json_decref(o);

    /* Same name in the same domain conflicts, in another domain not. */
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"p1\"}", NPH_E_CONFLICT, "conflicting project");
    snprintf(attrs, sizeof(attrs), "{\"name\":\"p1\",\"domain_id\":\"%s\"}", d);
    fx_create_id(f, IDENT_PROJECT, attrs, dp, sizeof(dp));

    /* Children: parent in the same domain; deleting the parent is refused. */
    snprintf(attrs, sizeof(attrs), "{\"name\":\"child\",\"parent_id\":\"%s\"}", p);
    fx_create_id(f, IDENT_PROJECT, attrs, c, sizeof(c));
    snprintf(attrs, sizeof(attrs), "{\"name\":\"bad\",\"parent_id\":\"%s\",\"domain_id\":\"%s\"}",
             p, d);
    fx_create_fails(f, IDENT_PROJECT, attrs, NPH_E_INVALID, "another domain");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"x\",\"parent_id\":\"nope\"}", NPH_E_NOT_FOUND,
                    "could not find project: nope");
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), -1);
    fx_expect(&err, NPH_E_FORBIDDEN, "child projects");

    /* Validation. */
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":5}", NPH_E_INVALID,
                    "'project.name' must be a string");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"e\",\"enabled\":\"yes\"}", NPH_E_INVALID,
                    "'project.enabled' must be a boolean");
    fx_create_fails(f, IDENT_PROJECT, "{\"description\":\"no name\"}", NPH_E_INVALID,
                    "'project.name' is required");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"\"}", NPH_E_INVALID, "must not be empty");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"t\",\"tags\":[\"a/b\"]}", NPH_E_INVALID,
                    "'project.tags'");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"t\",\"tags\":\"a\"}", NPH_E_INVALID,
                    "'project.tags' must be an array");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"x\",\"domain_id\":\"nope\"}", NPH_E_NOT_FOUND,
                    "could not find domain: nope");
    fx_create_fails(f, IDENT_PROJECT, "{\"name\":\"x\",\"domain_id\":7}", NPH_E_INVALID,
                    "domain_id");
    fx_create_fails(f, IDENT_PROJECT, "[1]", NPH_E_INVALID, "must be an object");
    {
        char longname[100];
        memset(longname, 'n', 65);
        longname[65] = '\0';
        snprintf(attrs, sizeof(attrs), "{\"name\":\"%s\"}", longname);
        fx_create_fails(f, IDENT_PROJECT, attrs, NPH_E_INVALID, "longer than 64");
    }

    /* Updates: immutable attributes, type errors, extras merge, id echo allowed. */
    o = fx_update(f, IDENT_PROJECT, p, "{\"domain_id\":\"default\"}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_INVALID, "'project.domain_id' cannot be updated");
    o = fx_update(f, IDENT_PROJECT, p, "{\"parent_id\":null}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_INVALID, "'project.parent_id' cannot be updated");
    o = fx_update(f, IDENT_PROJECT, p, "{\"enabled\":\"false\"}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_INVALID, "'project.enabled' must be a boolean");
    o = fx_update(f, IDENT_PROJECT, p, "{\"name\":\"child\"}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_CONFLICT, NULL);
    o = fx_update(f, IDENT_PROJECT, "nope", "{\"name\":\"zz\"}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find project: nope");
    snprintf(attrs, sizeof(attrs), "{\"id\":\"%s\",\"color\":\"red\",\"description\":\"1b\"}", p);
    o = fx_update(f, IDENT_PROJECT, p, attrs, &err);
    assert_non_null(o);
    assert_string_equal(jstr(o, "color"), "red");
    assert_string_equal(jstr(o, "description"), "1b");
    assert_string_equal(jstr(o, "name"), "p1");
    assert_non_null(json_object_get(o, "nested"));
    json_decref(o);

    /* Lists and filters. */
    assert_int_equal(list_count(f, IDENT_PROJECT, NULL), 4);
    assert_int_equal(list_count(f, IDENT_PROJECT, "{\"name\":\"p1\"}"), 2);
    snprintf(attrs, sizeof(attrs), "{\"name\":\"p1\",\"domain_id\":\"%s\"}", d);
    assert_int_equal(list_count(f, IDENT_PROJECT, attrs), 1);
    snprintf(attrs, sizeof(attrs), "{\"parent_id\":\"%s\"}", p);
    assert_int_equal(list_count(f, IDENT_PROJECT, attrs), 1);
    fx_update_ok(f, IDENT_PROJECT, c, "{\"enabled\":false}");
    assert_int_equal(list_count(f, IDENT_PROJECT, "{\"enabled\":\"false\"}"), 1);
    assert_int_equal(list_count(f, IDENT_PROJECT, "{\"enabled\":true}"), 3);
    assert_int_equal(list_count(f, IDENT_PROJECT, "{\"no_such_filter\":\"x\"}"), 4);
    assert_int_equal(list_count(f, IDENT_PROJECT, "{\"description\":\"1b\"}"), 4);

    /* Delete child then parent; deleting again is NOT_FOUND. */
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, c, &err), 0);
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), 0);
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find project");
    assert_null(local_identity_get(f->li, IDENT_PROJECT, p, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find project");

    /* SQL-looking names are data. */
    o = fx_create(f, IDENT_PROJECT, "{\"name\":\"x'); DROP TABLE identity_project; --\"}");
    l = local_identity_find(f->li, IDENT_PROJECT, "x'); DROP TABLE identity_project; --", "default",
                            &err);
    assert_non_null(l);
    assert_string_equal(jstr(l, "id"), jstr(o, "id"));
    json_decref(l);
    json_decref(o);
    assert_int_equal(list_count(f, IDENT_PROJECT, NULL), 3);
    assert_null(local_identity_find(f->li, IDENT_PROJECT, "' OR '1'='1", "default", &err));
    fx_expect(&err, NPH_E_NOT_FOUND, NULL);
}

static void test_crud_users_groups_roles(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    char d[IDENT_ID_MAX + 1], u[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1], r[IDENT_ID_MAX + 1];
    char dr[IDENT_ID_MAX + 1], attrs[256];
    struct ident_token t;

    fx_create_id(f, IDENT_DOMAIN, "{\"name\":\"D2\"}", d, sizeof(d));

    /* Users: password hashed and never shown, extras, email null, duplicates. */
    o = fx_create(f, IDENT_USER,
                  "{\"name\":\"dave\",\"password\":\"dave-pw\",\"email\":\"d@x\","
                  "\"options\":{},\"shoe\":42}");
    fx_copy_id(u, sizeof(u), o);
    assert_null(json_object_get(o, "password"));
    assert_null(json_object_get(o, "password_hash"));
    assert_string_equal(jstr(o, "email"), "d@x");
    assert_true(json_is_null(json_object_get(o, "description")));
    assert_int_equal(json_integer_value(json_object_get(o, "shoe")), 42);
    json_decref(o);
    fx_create_fails(f, IDENT_USER, "{\"name\":\"dave\"}", NPH_E_CONFLICT, "conflicting user");
    snprintf(attrs, sizeof(attrs), "{\"name\":\"dave\",\"domain_id\":\"%s\"}", d);
    o = fx_create(f, IDENT_USER, attrs);
    json_decref(o);
    fx_create_fails(f, IDENT_USER, "{\"name\":\"eve\",\"password\":12}", NPH_E_INVALID,
                    "'user.password' must be a string");
    fx_create_fails(f, IDENT_USER, "{\"name\":\"eve\",\"domain_id\":\"nope\"}", NPH_E_NOT_FOUND,
                    "could not find domain: nope");
    fx_create_fails(f, IDENT_USER, "{\"name\":\"eve\",\"enabled\":1}", NPH_E_INVALID,
                    "'user.enabled' must be a boolean");
    o = fx_update(f, IDENT_USER, u, "{\"domain_id\":\"x\"}", &err);
    assert_null(o);
    fx_expect(&err, NPH_E_INVALID, "'user.domain_id' cannot be updated");
    o = fx_update(f, IDENT_USER, u, "{\"email\":null,\"password\":\"dave-pw2\"}", &err);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "email")));
    assert_int_equal(json_integer_value(json_object_get(o, "shoe")), 42);
    json_decref(o);
    assert_int_equal(fx_auth(f, u, "dave-pw", NULL, &t, &err), -1);
    fx_auth_ok(f, u, "dave-pw2", NULL, &t);
    snprintf(attrs, sizeof(attrs), "{\"domain_id\":\"%s\"}", d);
    assert_int_equal(list_count(f, IDENT_USER, attrs), 1);
    assert_int_equal(list_count(f, IDENT_USER, "{\"name\":\"dave\"}"), 2);

    /* Groups. */
    fx_create_id(f, IDENT_GROUP, "{\"name\":\"devs\",\"description\":\"d\"}", g, sizeof(g));
    fx_create_fails(f, IDENT_GROUP, "{\"name\":\"devs\"}", NPH_E_CONFLICT, "conflicting group");
    fx_create_fails(f, IDENT_GROUP, "{\"name\":[\"devs\"]}", NPH_E_INVALID,
                    "'group.name' must be a string");
    o = fx_update(f, IDENT_GROUP, g, "{\"description\":\"developers\"}", &err);
    assert_non_null(o);
    assert_string_equal(jstr(o, "description"), "developers");
    json_decref(o);
    assert_int_equal(local_identity_delete(f->li, IDENT_GROUP, g, &err), 0);
    assert_int_equal(list_count(f, IDENT_GROUP, NULL), 0);

    /* Roles: global names unique, domain-specific roles their own namespace. */
    o = fx_create(f, IDENT_ROLE, "{\"name\":\"viewer\"}");
    fx_copy_id(r, sizeof(r), o);
    assert_true(json_is_null(json_object_get(o, "domain_id")));
    json_decref(o);
    fx_create_fails(f, IDENT_ROLE, "{\"name\":\"viewer\"}", NPH_E_CONFLICT, "conflicting role");
    fx_create_fails(f, IDENT_ROLE, "{\"name\":\"admin\"}", NPH_E_CONFLICT, "conflicting role");
    snprintf(attrs, sizeof(attrs), "{\"name\":\"viewer\",\"domain_id\":\"%s\"}", d);
    fx_create_id(f, IDENT_ROLE, attrs, dr, sizeof(dr));
    fx_create_fails(f, IDENT_ROLE, "{\"name\":\"v\",\"domain_id\":\"nope\"}", NPH_E_NOT_FOUND,
                    "could not find domain: nope");
    o = fx_update(f, IDENT_ROLE, r, "{\"description\":\"read-only viewer\"}", &err);
    if (!o)
        fail_msg("updating a global role: %s (%s)", err.msg, err.detail);
    assert_string_equal(jstr(o, "description"), "read-only viewer");
    assert_true(json_is_null(json_object_get(o, "domain_id")));
    json_decref(o);
    /* A global role given with "domain_id": null, as GET renders it. */
    o = fx_create(f, IDENT_ROLE, "{\"name\":\"nulldom\",\"domain_id\":null}");
    assert_true(json_is_null(json_object_get(o, "domain_id")));
    json_decref(o);
    fx_create_fails(f, IDENT_ROLE, "{\"name\":\"nulldom\"}", NPH_E_CONFLICT, NULL);
    assert_int_equal(list_count(f, IDENT_ROLE, "{\"name\":\"viewer\"}"), 2);
    assert_int_equal(local_identity_delete(f->li, IDENT_ROLE, r, &err), 0);
    assert_int_equal(local_identity_delete(f->li, IDENT_ROLE, r, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find role");

    /* Deleting a user. */
    assert_int_equal(local_identity_delete(f->li, IDENT_USER, u, &err), 0);
    assert_null(local_identity_get(f->li, IDENT_USER, u, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find user");
    assert_int_equal(fx_auth(f, u, "dave-pw2", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
}

static void test_crud_catalog(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    char s[IDENT_ID_MAX + 1], e[IDENT_ID_MAX + 1], attrs[512];

    /* Regions: caller-chosen ids, parents, no self-parenting, no deleting parents. */
    o = fx_create(f, IDENT_REGION, "{\"id\":\"RegionTwo\",\"parent_region_id\":\"RegionOne\"}");
    assert_string_equal(jstr(o, "id"), "RegionTwo");
    assert_string_equal(jstr(o, "parent_region_id"), FX_REGION);
    json_decref(o);
    fx_create_fails(f, IDENT_REGION, "{\"id\":\"RegionTwo\"}", NPH_E_CONFLICT, NULL);
    fx_create_fails(f, IDENT_REGION, "{\"id\":\"R3\",\"parent_region_id\":\"nope\"}",
                    NPH_E_NOT_FOUND, "could not find region: nope");
    fx_create_fails(f, IDENT_REGION, "{\"id\":\"R4\",\"parent_region_id\":\"R4\"}", NPH_E_INVALID,
                    "own parent");
    o = fx_create(f, IDENT_REGION, "{\"description\":\"generated id\"}");
    assert_true(strlen(jstr(o, "id")) >= 32);
    json_decref(o);
    assert_int_equal(local_identity_delete(f->li, IDENT_REGION, FX_REGION, &err), -1);
    fx_expect(&err, NPH_E_FORBIDDEN, "child regions");
    o = fx_update(f, IDENT_REGION, "RegionTwo", "{\"description\":\"second\"}", &err);
    assert_non_null(o);
    assert_string_equal(jstr(o, "description"), "second");
    json_decref(o);
    assert_int_equal(list_count(f, IDENT_REGION, "{\"parent_region_id\":\"RegionOne\"}"), 1);
    assert_int_equal(local_identity_delete(f->li, IDENT_REGION, "RegionTwo", &err), 0);

    /* Services. */
    o = fx_create(f, IDENT_SERVICE, "{\"type\":\"image\",\"name\":\"glance\"}");
    fx_copy_id(s, sizeof(s), o);
    assert_true(json_is_true(json_object_get(o, "enabled")));
    json_decref(o);
    fx_create_fails(f, IDENT_SERVICE, "{\"name\":\"typeless\"}", NPH_E_INVALID,
                    "'service.type' is required");
    fx_create_fails(f, IDENT_SERVICE, "{\"type\":\"x\",\"enabled\":\"true\"}", NPH_E_INVALID,
                    "'service.enabled' must be a boolean");
    assert_int_equal(list_count(f, IDENT_SERVICE, "{\"type\":\"image\"}"), 1);
    o = fx_update(f, IDENT_SERVICE, s, "{\"enabled\":false}", &err);
    assert_non_null(o);
    assert_true(json_is_false(json_object_get(o, "enabled")));
    json_decref(o);

    /* Endpoints. */
    snprintf(attrs, sizeof(attrs),
             "{\"service_id\":\"%s\",\"interface\":\"public\",\"url\":\"https://img/v2\","
             "\"region_id\":\"RegionOne\"}",
             s);
    o = fx_create(f, IDENT_ENDPOINT, attrs);
    fx_copy_id(e, sizeof(e), o);
    assert_string_equal(jstr(o, "url"), "https://img/v2");
    json_decref(o);
    fx_create_fails(f, IDENT_ENDPOINT,
                    "{\"service_id\":\"nope\",\"interface\":\"public\",\"url\":\"http://x\"}",
                    NPH_E_NOT_FOUND, "could not find service: nope");
    snprintf(attrs, sizeof(attrs),
             "{\"service_id\":\"%s\",\"interface\":\"sideways\",\"url\":\"http://x\"}", s);
    fx_create_fails(f, IDENT_ENDPOINT, attrs, NPH_E_INVALID, "'endpoint.interface'");
    snprintf(attrs, sizeof(attrs),
             "{\"service_id\":\"%s\",\"interface\":\"admin\",\"url\":\"ftp://x\"}", s);
    fx_create_fails(f, IDENT_ENDPOINT, attrs, NPH_E_INVALID, "'endpoint.url'");
    snprintf(attrs, sizeof(attrs),
             "{\"service_id\":\"%s\",\"interface\":\"admin\",\"url\":\"http://x\","
             "\"region_id\":\"nope\"}",
             s);
    fx_create_fails(f, IDENT_ENDPOINT, attrs, NPH_E_NOT_FOUND, "could not find region: nope");
    fx_create_fails(f, IDENT_ENDPOINT,
                    "{\"service_id\":5,\"interface\":\"public\",\"url\":\"http://x\"}",
                    NPH_E_INVALID, "service_id");
    o = fx_update(f, IDENT_ENDPOINT, e, "{\"url\":\"https://img2/v2\"}", &err);
    assert_non_null(o);
    assert_string_equal(jstr(o, "url"), "https://img2/v2");
    json_decref(o);
    snprintf(attrs, sizeof(attrs), "{\"service_id\":\"%s\",\"interface\":\"public\"}", s);
    assert_int_equal(list_count(f, IDENT_ENDPOINT, attrs), 1);

    /* Deleting a service deletes its endpoints. */
    assert_int_equal(local_identity_delete(f->li, IDENT_SERVICE, s, &err), 0);
    assert_null(local_identity_get(f->li, IDENT_ENDPOINT, e, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find endpoint");
    assert_int_equal(list_count(f, IDENT_ENDPOINT, NULL), 6);
}

static void test_domain_delete(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    char d[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], u[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1];
    char r[IDENT_ID_MAX + 1], attrs[256];
    struct ident_token t;
    char *tok_user, *tok_admin;

    fx_create_id(f, IDENT_DOMAIN, "{\"name\":\"Doomed\"}", d, sizeof(d));
    snprintf(attrs, sizeof(attrs), "{\"name\":\"p\",\"domain_id\":\"%s\"}", d);
    fx_create_id(f, IDENT_PROJECT, attrs, p, sizeof(p));
    snprintf(attrs, sizeof(attrs), "{\"name\":\"u\",\"domain_id\":\"%s\",\"password\":\"pw\"}", d);
    fx_create_id(f, IDENT_USER, attrs, u, sizeof(u));
    snprintf(attrs, sizeof(attrs), "{\"name\":\"g\",\"domain_id\":\"%s\"}", d);
    fx_create_id(f, IDENT_GROUP, attrs, g, sizeof(g));
    snprintf(attrs, sizeof(attrs), "{\"name\":\"r\",\"domain_id\":\"%s\"}", d);
    fx_create_id(f, IDENT_ROLE, attrs, r, sizeof(r));
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, f->admin_project, f->role_reader);
    fx_grant(f, IDENT_ACTOR_USER, f->admin_user, IDENT_TARGET_PROJECT, p, f->role_admin);
    fx_grant(f, IDENT_ACTOR_GROUP, g, IDENT_TARGET_PROJECT, f->admin_project, f->role_member);
    fx_grant(f, IDENT_ACTOR_USER, f->admin_user, IDENT_TARGET_PROJECT, f->admin_project, r);
    assert_int_equal(local_identity_group_add_user(f->li, g, f->admin_user, &err), 0);

    fx_auth_ok(f, u, "pw", f->admin_project, &t);
    tok_user = fx_encode(f, &t);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, p, &t);
    tok_admin = fx_encode(f, &t);

    assert_int_equal(local_identity_delete(f->li, IDENT_DOMAIN, d, &err), -1);
    fx_expect(&err, NPH_E_FORBIDDEN, "disable it first");
    assert_int_equal(local_identity_delete(f->li, IDENT_DOMAIN, "default", &err), -1);
    fx_expect(&err, NPH_E_FORBIDDEN, NULL);
    fx_update_ok(f, IDENT_DOMAIN, d, "{\"enabled\":false}");
    /* A disabled domain's users cannot log in nor scope to its projects. */
    assert_int_equal(fx_auth(f, u, "pw", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);
    assert_int_equal(fx_auth(f, f->admin_user, FX_PASSWORD, p, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);

    assert_int_equal(local_identity_delete(f->li, IDENT_DOMAIN, d, &err), 0);
    assert_null(local_identity_get(f->li, IDENT_DOMAIN, d, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find domain");
    assert_null(local_identity_get(f->li, IDENT_PROJECT, p, &err));
    assert_null(local_identity_get(f->li, IDENT_USER, u, &err));
    assert_null(local_identity_get(f->li, IDENT_GROUP, g, &err));
    assert_null(local_identity_get(f->li, IDENT_ROLE, r, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, NULL);

    /* Nothing refers to the deleted objects any more. */
    o = local_identity_role_assignments(f->li, NULL, NULL, NULL, NULL, NULL, 0, 0, &err);
    assert_non_null(o);
    if (json_array_size(o) != 2) {
        char *dump = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        fail_msg("assignments left after the domain cascade: %s", dump);
    }
    json_decref(o);
    o = local_identity_user_groups(f->li, f->admin_user, &err);
    assert_non_null(o);
    assert_int_equal(json_array_size(o), 0);
    json_decref(o);

    /* Tokens of the domain's users and on its projects are no longer valid. */
    fx_invalid(f, tok_user, NULL);
    fx_invalid(f, tok_admin, NULL);
    free(tok_user);
    free(tok_admin);
    assert_int_equal(list_count(f, IDENT_DOMAIN, NULL), 1);
}

/* ---- grants, groups, role assignments ------------------------------------------------- */

static void test_grants(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1];

    fx_user(f, "gina", "pw", u, sizeof(u));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_create_id(f, IDENT_GROUP, "{\"name\":\"g\"}", g, sizeof(g));

    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p,
                                                f->role_member, &err),
                     0);
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member); /* idempotent */
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_reader);
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_DOMAIN, "default", f->role_reader);
    fx_grant(f, IDENT_ACTOR_GROUP, g, IDENT_TARGET_PROJECT, f->admin_project, f->role_reader);
    fx_grant(f, IDENT_ACTOR_GROUP, g, IDENT_TARGET_SYSTEM, NULL, f->role_reader);
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p,
                                                f->role_member, &err),
                     1);
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_GROUP, g, IDENT_TARGET_SYSTEM,
                                                NULL, f->role_reader, &err),
                     1);
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p,
                                                f->role_admin, &err),
                     0);

    o = local_identity_list_grants(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, &err);
    assert_non_null(o);
    assert_int_equal(json_array_size(o), 2);
    assert_string_equal(jstr(json_array_get(o, 0), "name"), "member");
    assert_string_equal(jstr(json_array_get(o, 1), "name"), "reader");
    json_decref(o);
    o = local_identity_list_grants(f->li, IDENT_ACTOR_GROUP, g, IDENT_TARGET_SYSTEM, NULL, &err);
    assert_int_equal(json_array_size(o), 1);
    json_decref(o);

    /* Unknown parts, each named. */
    assert_int_equal(local_identity_grant(f->li, IDENT_ACTOR_USER, "nope", IDENT_TARGET_PROJECT, p,
                                          f->role_member, &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find user: nope");
    assert_int_equal(local_identity_grant(f->li, IDENT_ACTOR_GROUP, "nope", IDENT_TARGET_PROJECT, p,
                                          f->role_member, &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find group: nope");
    assert_int_equal(local_identity_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, "nope",
                                          f->role_member, &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find project: nope");
    assert_int_equal(local_identity_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_DOMAIN, "nope",
                                          f->role_member, &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find domain: nope");
    assert_int_equal(
        local_identity_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, "nope", &err),
        -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find role: nope");
    assert_int_equal(local_identity_check_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p,
                                                "nope", &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find role: nope");

    /* Targets. */
    o = local_identity_user_targets(f->li, u, IDENT_TARGET_PROJECT, &err);
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(jstr(json_array_get(o, 0), "id"), p);
    json_decref(o);
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);
    o = local_identity_user_targets(f->li, u, IDENT_TARGET_PROJECT, &err);
    assert_int_equal(json_array_size(o), 2);
    json_decref(o);
    o = local_identity_user_targets(f->li, u, IDENT_TARGET_DOMAIN, &err);
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(jstr(json_array_get(o, 0), "id"), "default");
    json_decref(o);

    /* Revoke. */
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT,
                                                 p, f->role_member, &err),
                     0);
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT,
                                                 p, f->role_member, &err),
                     -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find role assignment");
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_GROUP, g, IDENT_TARGET_SYSTEM,
                                                 NULL, f->role_reader, &err),
                     0);
    o = local_identity_list_grants(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, &err);
    assert_int_equal(json_array_size(o), 1);
    json_decref(o);

    /* Deleting a role removes its assignments. */
    assert_int_equal(local_identity_delete(f->li, IDENT_ROLE, f->role_reader, &err), 0);
    o = local_identity_user_targets(f->li, u, IDENT_TARGET_PROJECT, &err);
    assert_int_equal(json_array_size(o), 0);
    json_decref(o);
}

static void test_groups(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    char u[IDENT_ID_MAX + 1], v[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1];

    fx_user(f, "hank", "pw", u, sizeof(u));
    fx_user(f, "ivy", "pw", v, sizeof(v));
    fx_create_id(f, IDENT_GROUP, "{\"name\":\"g\"}", g, sizeof(g));

    assert_int_equal(local_identity_group_check_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_group_add_user(f->li, g, v, &err), 0);
    assert_int_equal(local_identity_group_check_user(f->li, g, u, &err), 1);
    o = local_identity_group_users(f->li, g, &err);
    assert_int_equal(json_array_size(o), 2);
    assert_string_equal(jstr(json_array_get(o, 0), "name"), "hank");
    json_decref(o);
    o = local_identity_user_groups(f->li, u, &err);
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(jstr(json_array_get(o, 0), "id"), g);
    json_decref(o);

    assert_int_equal(local_identity_group_add_user(f->li, "nope", u, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find group: nope");
    assert_int_equal(local_identity_group_add_user(f->li, g, "nope", &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find user: nope");
    assert_int_equal(local_identity_group_check_user(f->li, "nope", u, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find group: nope");
    assert_null(local_identity_group_users(f->li, "nope", &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find group: nope");
    assert_null(local_identity_user_groups(f->li, "nope", &err));
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find user: nope");

    assert_int_equal(local_identity_group_remove_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_group_check_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_group_remove_user(f->li, g, u, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "is not in group");

    /* Deleting the user or the group drops memberships. */
    assert_int_equal(local_identity_delete(f->li, IDENT_USER, v, &err), 0);
    o = local_identity_group_users(f->li, g, &err);
    assert_int_equal(json_array_size(o), 0);
    json_decref(o);
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);
    assert_int_equal(local_identity_delete(f->li, IDENT_GROUP, g, &err), 0);
    o = local_identity_user_groups(f->li, u, &err);
    assert_int_equal(json_array_size(o), 0);
    json_decref(o);
}

static const json_t *find_assignment(const json_t *list, const char *actor_kind, const char *actor,
                                     const char *role)
{
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const json_t *ac = json_object_get(a, actor_kind);
        if (ac && strcmp(jstr(ac, "id"), actor) == 0 &&
            strcmp(jstr(json_object_get(a, "role"), "id"), role) == 0)
            return a;
    }
    return NULL;
}

static void test_role_assignments(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o;
    const json_t *a;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1], g[IDENT_ID_MAX + 1];

    fx_user(f, "jill", "pw", u, sizeof(u));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_create_id(f, IDENT_GROUP, "{\"name\":\"g\"}", g, sizeof(g));
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_grant(f, IDENT_ACTOR_GROUP, g, IDENT_TARGET_PROJECT, p, f->role_admin);
    assert_int_equal(local_identity_group_add_user(f->li, g, u, &err), 0);

    /* Direct: the user's own assignment only. */
    o = local_identity_role_assignments(f->li, u, NULL, NULL, NULL, NULL, 0, 0, &err);
    assert_non_null(o);
    assert_int_equal(json_array_size(o), 1);
    a = json_array_get(o, 0);
    assert_string_equal(jstr(json_object_get(a, "role"), "id"), f->role_member);
    assert_string_equal(jstr(json_object_get(json_object_get(a, "scope"), "project"), "id"), p);
    json_decref(o);

    /* Effective: implied roles and group grants expanded to the member. */
    o = local_identity_role_assignments(f->li, u, NULL, p, NULL, NULL, 1, 0, &err);
    assert_non_null(o);
    assert_int_equal(json_array_size(o), 5); /* member, reader; admin, member, reader */
    a = find_assignment(o, "user", u, f->role_admin);
    assert_non_null(a);
    assert_string_equal(jstr(json_object_get(a, "links"), "membership"), g);
    assert_null(find_assignment(o, "group", g, f->role_admin));
    json_decref(o);

    /* Filters: group, role (also in effective mode), domain, system. */
    o = local_identity_role_assignments(f->li, NULL, g, NULL, NULL, NULL, 0, 0, &err);
    assert_int_equal(json_array_size(o), 1);
    assert_non_null(find_assignment(o, "group", g, f->role_admin));
    json_decref(o);
    o = local_identity_role_assignments(f->li, NULL, NULL, NULL, NULL, f->role_reader, 1, 0, &err);
    assert_non_null(o);
    /* reader via: admin's admin on admin project and system, jill's member, g's admin. */
    assert_int_equal(json_array_size(o), 4);
    json_decref(o);
    o = local_identity_role_assignments(f->li, NULL, NULL, NULL, NULL, f->role_admin, 0, 0, &err);
    assert_int_equal(json_array_size(o), 3);
    json_decref(o);
    o = local_identity_role_assignments(f->li, NULL, NULL, NULL, "default", NULL, 0, 0, &err);
    assert_int_equal(json_array_size(o), 0);
    json_decref(o);
    o = local_identity_role_assignments(f->li, f->admin_user, NULL, NULL, NULL, NULL, 0, 0, &err);
    assert_int_equal(json_array_size(o), 2);
    a = json_array_get(o, 1);
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(a, "scope"), "system"), "all")));
    json_decref(o);

    /* include_names. */
    o = local_identity_role_assignments(f->li, u, NULL, NULL, NULL, NULL, 0, 1, &err);
    assert_non_null(o);
    a = json_array_get(o, 0);
    assert_string_equal(jstr(json_object_get(a, "role"), "name"), "member");
    assert_string_equal(jstr(json_object_get(a, "user"), "name"), "jill");
    assert_string_equal(jstr(json_object_get(json_object_get(a, "user"), "domain"), "name"),
                        "Default");
    assert_string_equal(jstr(json_object_get(json_object_get(a, "scope"), "project"), "name"), "p");
    json_decref(o);
}

/* ---- application credentials ---------------------------------------------------------- */

static int app_auth(struct fx *f, const char *id, const char *name, const char *user_id,
                    const char *secret, struct ident_token *t, struct nph_error *err)
{
    struct ident_auth_request r;
    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_APP_CRED;
    r.app_cred_id = id;
    r.app_cred_name = name;
    r.user_id = user_id;
    r.app_cred_secret = secret;
    return local_identity_authenticate(f->li, &r, t, err);
}

static void test_app_creds(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t, at, t2;
    struct ident_auth_request r;
    json_t *a, *o;
    char id[IDENT_ID_MAX + 1], secret[200], expiring[IDENT_ID_MAX + 1], other[IDENT_ID_MAX + 1];
    char *tok;

    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    fx_create_id(f, IDENT_ROLE, "{\"name\":\"other\"}", other, sizeof(other));

    a = json_pack("{s:s,s:[{s:s}]}", "name", "ci", "roles", "name", "reader");
    o = local_identity_app_cred_create(f->li, &t, a, &err);
    json_decref(a);
    if (!o)
        fail_msg("app cred create: %s", err.msg);
    fx_copy_id(id, sizeof(id), o);
    snprintf(secret, sizeof(secret), "%s", jstr(o, "secret"));
    assert_true(strlen(secret) >= 32);
    assert_string_equal(jstr(o, "user_id"), f->admin_user);
    assert_string_equal(jstr(o, "project_id"), f->admin_project);
    assert_int_equal(json_array_size(json_object_get(o, "roles")), 1);
    json_decref(o);
    o = local_identity_get(f->li, IDENT_APP_CRED, id, &err);
    assert_non_null(o);
    assert_null(json_object_get(o, "secret"));
    assert_null(json_object_get(o, "secret_hash"));
    json_decref(o);

    /* Same name again, a role the caller lacks, a bad roles type, an unscoped token. */
    a = json_pack("{s:s}", "name", "ci");
    assert_null(local_identity_app_cred_create(f->li, &t, a, &err));
    fx_expect(&err, NPH_E_CONFLICT, NULL);
    json_decref(a);
    a = json_pack("{s:s,s:[{s:s}]}", "name", "x", "roles", "id", other);
    assert_null(local_identity_app_cred_create(f->li, &t, a, &err));
    fx_expect(&err, NPH_E_FORBIDDEN, other);
    json_decref(a);
    a = json_pack("{s:s,s:s}", "name", "x", "roles", "reader");
    assert_null(local_identity_app_cred_create(f->li, &t, a, &err));
    fx_expect(&err, NPH_E_INVALID, "must be an array");
    json_decref(a);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &t2);
    a = json_pack("{s:s}", "name", "x");
    assert_null(local_identity_app_cred_create(f->li, &t2, a, &err));
    fx_expect(&err, NPH_E_FORBIDDEN, "project-scoped");
    json_decref(a);

    /* Authenticate by id and by name + user. */
    assert_int_equal(app_auth(f, id, NULL, NULL, secret, &at, &err), 0);
    assert_int_equal(at.methods, IDENT_M_APP_CRED);
    assert_string_equal(at.app_cred_id, id);
    assert_string_equal(at.app_cred_name, "ci");
    assert_string_equal(at.user_id, f->admin_user);
    assert_int_equal(at.scope, IDENT_SCOPE_PROJECT);
    assert_string_equal(at.scope_id, f->admin_project);
    assert_int_equal(at.n_roles, 1);
    assert_string_equal(at.roles[0].name, "reader");
    assert_false(ident_token_is_admin(&at));
    assert_int_equal(app_auth(f, NULL, "ci", f->admin_user, secret, &at, &err), 0);
    assert_string_equal(at.app_cred_id, id);
    assert_int_equal(app_auth(f, id, NULL, NULL, "wrong", &at, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(app_auth(f, "nope", NULL, NULL, secret, &at, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(app_auth(f, NULL, "ci", "nope", secret, &at, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(app_auth(f, id, NULL, NULL, NULL, &at, &err), -1);
    fx_expect(&err, NPH_E_INVALID, NULL);

    /* An app-cred token can neither be re-scoped nor turned into an unrestricted token, nor
     * create another credential. */
    assert_int_equal(app_auth(f, id, NULL, NULL, secret, &at, &err), 0);
    tok = fx_encode(f, &at);
    fx_valid(f, tok, &t2);
    assert_string_equal(t2.app_cred_id, id);
    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_TOKEN;
    r.token = tok;
    r.scope = IDENT_SCOPE_PROJECT;
    r.project_id = f->admin_project;
    assert_int_equal(local_identity_authenticate(f->li, &r, &t2, &err), -1);
    fx_expect(&err, NPH_E_FORBIDDEN, NULL);
    r.scope = IDENT_SCOPE_UNSCOPED;
    r.project_id = NULL;
    r.unscoped_explicit = 1;
    if (local_identity_authenticate(f->li, &r, &t2, &err) == 0)
        fail_msg("an application credential token was exchanged for an unrestricted token");
    fx_expect(&err, NPH_E_FORBIDDEN, NULL);
    free(tok);
    a = json_pack("{s:s}", "name", "x");
    assert_null(local_identity_app_cred_create(f->li, &at, a, &err));
    fx_expect(&err, NPH_E_FORBIDDEN, NULL);
    json_decref(a);

    /* A chosen secret and an expiry. */
    {
        char exp[40];
        nph_time_format(nph_clock_now() + 3600 * NPH_USEC_PER_SEC, 0, exp, sizeof(exp));
        a = json_pack("{s:s,s:s,s:s}", "name", "exp", "secret", "my-secret", "expires_at", exp);
        o = local_identity_app_cred_create(f->li, &t, a, &err);
        json_decref(a);
        if (!o)
            fail_msg("app cred create: %s", err.msg);
        assert_string_equal(jstr(o, "secret"), "my-secret");
        assert_int_equal(json_array_size(json_object_get(o, "roles")), 3);
        fx_copy_id(expiring, sizeof(expiring), o);
        json_decref(o);
    }
    assert_int_equal(app_auth(f, expiring, NULL, NULL, "my-secret", &at, &err), 0);
    assert_int_equal(at.n_roles, 3);
    nph_clock_set_offset(2 * 3600 * NPH_USEC_PER_SEC);
    assert_int_equal(app_auth(f, expiring, NULL, NULL, "my-secret", &at, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "expired");
    nph_clock_set_offset(0);

    /* The roles the user lost are dropped; with none left, no token. */
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_USER, f->admin_user,
                                                 IDENT_TARGET_PROJECT, f->admin_project,
                                                 f->role_admin, &err),
                     0);
    assert_int_equal(app_auth(f, id, NULL, NULL, secret, &at, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access");

    /* Deleting the user deletes the credentials. */
    assert_int_equal(local_identity_delete(f->li, IDENT_USER, f->admin_user, &err), 0);
    assert_null(local_identity_get(f->li, IDENT_APP_CRED, id, &err));
    fx_expect(&err, NPH_E_NOT_FOUND, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bootstrap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_user_forms, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_effective_roles, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_default_project, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crud_projects, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crud_users_groups_roles, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crud_catalog, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_domain_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_grants, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_groups, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_role_assignments, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_app_creds, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
