/*
 * identity_fixture.h - shared fixture of the local/identity unit tests: a fresh SQLite store
 * and key repository in a temporary directory, migrated and bootstrapped, plus small helpers
 * for creating resources, authenticating and asserting errors. Header-only (static inline)
 * so that each test_*.c stays one self-contained executable.
 */
#ifndef IDENTITY_FIXTURE_H
#define IDENTITY_FIXTURE_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "local_identity.h"
#include "nph_clock.h"

#define FX_PASSWORD "s3cret-Admin"
#define FX_REGION   "RegionOne"
#define FX_URL      "http://nephele.test:5000"
#define AUTH_FAILED "the request you have made requires authentication"

struct fx {
    char dir[256];
    char keys[300];
    char url[320];
    struct nph_store *store;
    struct local_identity *li;
    struct local_identity_opts opts;
    char admin_user[IDENT_ID_MAX + 1];
    char admin_project[IDENT_ID_MAX + 1];
    char role_admin[IDENT_ID_MAX + 1];
    char role_member[IDENT_ID_MAX + 1];
    char role_reader[IDENT_ID_MAX + 1];
};

static const char *const fx_services[] = {"identity", "keystone",      "/v3", "compute",
                                          "nova",     "/compute/v2.1", NULL};

static inline int fx_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void fx_copy_id(char *dst, size_t len, const json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    assert_non_null(id);
    snprintf(dst, len, "%s", id);
}

/* Open (or reopen) the service over the fixture's store with the fixture's opts. */
static inline void fx_reopen(struct fx *f)
{
    struct nph_error err = NPH_ERROR_INIT;
    local_identity_close(f->li);
    f->li = local_identity_open(f->store, &f->opts, &err);
    if (!f->li)
        fail_msg("local_identity_open: %s (%s)", err.msg, err.detail);
}

static inline int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    int created = -1, applied = 0;
    json_t *o;
    assert_non_null(f);
    nph_clock_set_fixed(0);
    nph_clock_set_offset(0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-idt-XXXXXX");
    if (!mkdtemp(f->dir))
        fail_msg("mkdtemp failed");
    snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
    snprintf(f->url, sizeof(f->url), "sqlite://%s/identity.db", f->dir);
    if (nph_store_open(f->url, 4, &f->store, &err))
        fail_msg("nph_store_open: %s (%s)", err.msg, err.detail);
    if (local_identity_migrate(f->store, &applied, &err))
        fail_msg("migrate: %s (%s)", err.msg, err.detail);
    assert_int_equal(applied, 1);
    f->opts.keys_dir = f->keys;
    f->opts.max_active_keys = 3;
    f->opts.token_lifetime_s = 3600;
    f->opts.password_iterations = 1000;
    fx_reopen(f);
    if (local_identity_bootstrap(f->li, FX_PASSWORD, FX_REGION, FX_URL, fx_services, &created,
                                 &err))
        fail_msg("bootstrap: %s (%s)", err.msg, err.detail);
    assert_int_equal(created, 1);
    o = local_identity_find(f->li, IDENT_USER, "admin", "default", &err);
    assert_non_null(o);
    fx_copy_id(f->admin_user, sizeof(f->admin_user), o);
    json_decref(o);
    o = local_identity_find(f->li, IDENT_PROJECT, "admin", "default", &err);
    assert_non_null(o);
    fx_copy_id(f->admin_project, sizeof(f->admin_project), o);
    json_decref(o);
    o = local_identity_find(f->li, IDENT_ROLE, "admin", NULL, &err);
    assert_non_null(o);
    fx_copy_id(f->role_admin, sizeof(f->role_admin), o);
    json_decref(o);
    o = local_identity_find(f->li, IDENT_ROLE, "member", NULL, &err);
    assert_non_null(o);
    fx_copy_id(f->role_member, sizeof(f->role_member), o);
    json_decref(o);
    o = local_identity_find(f->li, IDENT_ROLE, "reader", NULL, &err);
    assert_non_null(o);
    fx_copy_id(f->role_reader, sizeof(f->role_reader), o);
    json_decref(o);
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;
    nph_clock_set_fixed(0);
    nph_clock_set_offset(0);
    if (!f)
        return 0;
    local_identity_close(f->li);
    nph_store_close(f->store);
    nftw(f->dir, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Assert that err holds code and (when msg is not NULL) a message containing msg. */
static inline void fx_expect(const struct nph_error *err, enum nph_err_code code, const char *msg)
{
    if (err->code != code)
        fail_msg("expected error %s, got %s: %s", nph_error_name(code), nph_error_name(err->code),
                 err->msg);
    if (msg && !strstr(err->msg, msg))
        fail_msg("expected a message containing \"%s\", got \"%s\"", msg, err->msg);
}

/* Parse attrs (JSON text) and create; fails the test on error. Returns a new reference. */
static inline json_t *fx_create(struct fx *f, enum ident_kind kind, const char *attrs)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *a = json_loads(attrs, 0, NULL), *o;
    if (!a)
        fail_msg("bad test JSON: %s", attrs);
    o = local_identity_create(f->li, kind, a, &err);
    json_decref(a);
    if (!o)
        fail_msg("create %s %s: %s (%s)", ident_kind_name(kind), attrs, err.msg, err.detail);
    return o;
}

/* Create and copy the new id into id; returns nothing. */
static inline void fx_create_id(struct fx *f, enum ident_kind kind, const char *attrs, char *id,
                                size_t len)
{
    json_t *o = fx_create(f, kind, attrs);
    fx_copy_id(id, len, o);
    json_decref(o);
}

/* Create expecting failure with code and message fragment. */
static inline void fx_create_fails(struct fx *f, enum ident_kind kind, const char *attrs,
                                   enum nph_err_code code, const char *msg)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *a = json_loads(attrs, 0, NULL), *o;
    if (!a)
        fail_msg("bad test JSON: %s", attrs);
    o = local_identity_create(f->li, kind, a, &err);
    json_decref(a);
    if (o) {
        json_decref(o);
        fail_msg("create %s %s succeeded", ident_kind_name(kind), attrs);
    }
    fx_expect(&err, code, msg);
}

static inline json_t *fx_update(struct fx *f, enum ident_kind kind, const char *id,
                                const char *patch, struct nph_error *err)
{
    json_t *p = json_loads(patch, 0, NULL), *o;
    if (!p)
        fail_msg("bad test JSON: %s", patch);
    o = local_identity_update(f->li, kind, id, p, err);
    json_decref(p);
    return o;
}

static inline void fx_update_ok(struct fx *f, enum ident_kind kind, const char *id,
                                const char *patch)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o = fx_update(f, kind, id, patch, &err);
    if (!o)
        fail_msg("update %s %s: %s (%s)", ident_kind_name(kind), patch, err.msg, err.detail);
    json_decref(o);
}

/* A user in the default domain with a password; returns its id in id. */
static inline void fx_user(struct fx *f, const char *name, const char *password, char *id,
                           size_t len)
{
    json_t *a = json_pack("{s:s,s:s}", "name", name, "password", password), *o;
    struct nph_error err = NPH_ERROR_INIT;
    o = local_identity_create(f->li, IDENT_USER, a, &err);
    json_decref(a);
    if (!o)
        fail_msg("create user %s: %s", name, err.msg);
    fx_copy_id(id, len, o);
    json_decref(o);
}

static inline void fx_grant(struct fx *f, enum ident_actor at, const char *actor,
                            enum ident_target tt, const char *target, const char *role)
{
    struct nph_error err = NPH_ERROR_INIT;
    if (local_identity_grant(f->li, at, actor, tt, target, role, &err))
        fail_msg("grant: %s", err.msg);
}

/* Password authentication by user id, scoped to project_id (NULL: explicitly unscoped). */
static inline int fx_auth(struct fx *f, const char *user_id, const char *password,
                          const char *project_id, struct ident_token *t, struct nph_error *err)
{
    struct ident_auth_request r;
    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_PASSWORD;
    r.user_id = user_id;
    r.password = password;
    if (project_id) {
        r.scope = IDENT_SCOPE_PROJECT;
        r.project_id = project_id;
    } else {
        r.unscoped_explicit = 1;
    }
    return local_identity_authenticate(f->li, &r, t, err);
}

static inline void fx_auth_ok(struct fx *f, const char *user_id, const char *password,
                              const char *project_id, struct ident_token *t)
{
    struct nph_error err = NPH_ERROR_INIT;
    if (fx_auth(f, user_id, password, project_id, t, &err))
        fail_msg("authenticate %s: %s", user_id, err.msg);
}

static inline char *fx_encode(struct fx *f, const struct ident_token *t)
{
    struct nph_error err = NPH_ERROR_INIT;
    char *s = local_identity_token_encode(f->li, t, &err);
    if (!s)
        fail_msg("encode: %s", err.msg);
    return s;
}

/* Validate expecting success. */
static inline void fx_valid(struct fx *f, const char *tok, struct ident_token *out)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token tmp;
    if (local_identity_token_validate(f->li, tok, 0, out ? out : &tmp, &err))
        fail_msg("validate: %s", err.msg);
}

/* Validate expecting failure: UNAUTHORIZED, and NOT_FOUND as subject; msg fragment. */
static inline void fx_invalid(struct fx *f, const char *tok, const char *msg)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    assert_int_equal(local_identity_token_validate(f->li, tok, 0, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, msg);
    nph_error_clear(&err);
    assert_int_equal(local_identity_token_validate(f->li, tok, 1, &t, &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, msg);
}

static inline int fx_has_role(const struct ident_token *t, const char *role_id)
{
    for (int i = 0; i < t->n_roles; i++) {
        if (strcmp(t->roles[i].id, role_id) == 0)
            return 1;
    }
    return 0;
}

static inline void fx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif
