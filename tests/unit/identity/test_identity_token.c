/*
 * test_identity_token.c - unit tests of local/identity tokens: encode/validate round trips,
 * expiry, tampering and garbage, revocation (by token, user, project, grant), re-scoping,
 * key rotation and the key repository, password lockout and password history.
 */
#include <sys/stat.h>

#include "identity_fixture.h"
#include "nph_crypto.h"

static void fill_token(struct ident_token *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->user_id, sizeof(t->user_id), "u-1");
    snprintf(t->user_name, sizeof(t->user_name), "name \"quoted\" \xc3\xa9");
    snprintf(t->user_domain_id, sizeof(t->user_domain_id), "d-1");
    snprintf(t->user_domain_name, sizeof(t->user_domain_name), "Dom");
    t->scope = IDENT_SCOPE_PROJECT;
    snprintf(t->scope_id, sizeof(t->scope_id), "p-1");
    snprintf(t->scope_name, sizeof(t->scope_name), "proj");
    snprintf(t->scope_domain_id, sizeof(t->scope_domain_id), "d-2");
    snprintf(t->scope_domain_name, sizeof(t->scope_domain_name), "Dom2");
    t->n_roles = IDENT_MAX_ROLES;
    for (int i = 0; i < t->n_roles; i++) {
        snprintf(t->roles[i].id, sizeof(t->roles[i].id), "r-%d", i);
        snprintf(t->roles[i].name, sizeof(t->roles[i].name), "role%d", i);
    }
    t->methods = IDENT_M_PASSWORD | IDENT_M_TOKEN;
    t->issued_at = nph_clock_now() - 5;
    t->expires_at = nph_clock_now() + 3600 * NPH_USEC_PER_SEC;
    snprintf(t->audit_id, sizeof(t->audit_id), "audit-aaaa");
    snprintf(t->parent_audit_id, sizeof(t->parent_audit_id), "audit-parent");
    snprintf(t->app_cred_id, sizeof(t->app_cred_id), "ac-1");
    snprintf(t->app_cred_name, sizeof(t->app_cred_name), "acname");
}

static void assert_token_equal(const struct ident_token *a, const struct ident_token *b)
{
    assert_string_equal(a->user_id, b->user_id);
    assert_string_equal(a->user_name, b->user_name);
    assert_string_equal(a->user_domain_id, b->user_domain_id);
    assert_string_equal(a->user_domain_name, b->user_domain_name);
    assert_int_equal(a->scope, b->scope);
    assert_string_equal(a->scope_id, b->scope_id);
    assert_string_equal(a->scope_name, b->scope_name);
    assert_string_equal(a->scope_domain_id, b->scope_domain_id);
    assert_string_equal(a->scope_domain_name, b->scope_domain_name);
    assert_int_equal(a->n_roles, b->n_roles);
    for (int i = 0; i < a->n_roles; i++) {
        assert_string_equal(a->roles[i].id, b->roles[i].id);
        assert_string_equal(a->roles[i].name, b->roles[i].name);
    }
    assert_int_equal(a->methods, b->methods);
    assert_true(a->issued_at == b->issued_at);
    assert_true(a->expires_at == b->expires_at);
    assert_string_equal(a->audit_id, b->audit_id);
    assert_string_equal(a->parent_audit_id, b->parent_audit_id);
    assert_string_equal(a->app_cred_id, b->app_cred_id);
    assert_string_equal(a->app_cred_name, b->app_cred_name);
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct ident_token t, back;
    char *tok, *tok2;

    fill_token(&t);
    tok = fx_encode(f, &t);
    assert_true(strlen(tok) < 8192);
    assert_null(strpbrk(tok, "+/=")); /* base64url, unpadded */
    fx_valid(f, tok, &back);
    assert_token_equal(&t, &back);
    tok2 = fx_encode(f, &t);
    assert_string_not_equal(tok, tok2); /* fresh IV each time */
    free(tok);
    free(tok2);

    /* A real token, and validation in another service instance over the same keys. */
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    tok = fx_encode(f, &t);
    fx_reopen(f);
    fx_valid(f, tok, &back);
    assert_token_equal(&t, &back);
    free(tok);
}

static void test_expiry(void **state)
{
    struct fx *f = *state;
    struct ident_token t;
    char *tok;

    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &t);
    tok = fx_encode(f, &t);
    nph_clock_set_fixed(t.expires_at - 1);
    fx_valid(f, tok, NULL);
    nph_clock_set_fixed(t.expires_at);
    fx_invalid(f, tok, "expired");
    nph_clock_set_fixed(0);
    nph_clock_set_offset(3601 * NPH_USEC_PER_SEC);
    fx_invalid(f, tok, "expired");
    nph_clock_set_offset(0);
    fx_valid(f, tok, NULL);
    free(tok);
}

static void test_tamper(void **state)
{
    struct fx *f = *state;
    struct ident_token t;
    char *tok, *copy, *enc;
    uint8_t *raw;
    size_t len;
    long rl;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    tok = fx_encode(f, &t);
    len = strlen(tok);

    /* Every bit of every decoded byte (version, kid, IV, ciphertext, tag). */
    raw = malloc(len);
    enc = malloc(len + 8);
    rl = nph_b64url_decode(tok, len, raw);
    assert_true(rl > 33);
    for (long i = 0; i < rl; i++) {
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (uint8_t)(1u << bit);
            nph_b64url_encode(raw, (size_t)rl, enc);
            fx_invalid(f, enc, NULL);
            raw[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Every character of the text replaced by another base64url character. */
    copy = strdup(tok);
    for (size_t i = 0; i < len; i++) {
        const char *pos = strchr(alphabet, tok[i]);
        assert_non_null(pos);
        copy[i] = alphabet[((size_t)(pos - alphabet) + 1) % 64];
        fx_invalid(f, copy, NULL);
        copy[i] = '.';
        fx_invalid(f, copy, NULL);
        copy[i] = tok[i];
    }
    fx_valid(f, copy, NULL);
    free(copy);
    free(enc);
    free(raw);
    free(tok);
}

static void test_garbage(void **state)
{
    struct fx *f = *state;
    struct ident_token t;
    char *tok, *buf;
    size_t len;
    static const char *const junk[] = {
        "",
        "a",
        "not a token",
        "AAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "====================",
        "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\xef",
    };
    struct nph_error err = NPH_ERROR_INIT;

    assert_int_equal(local_identity_token_validate(f->li, NULL, 0, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "malformed");
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        fx_invalid(f, junk[i], NULL);

    /* Huge inputs. */
    buf = malloc(1 << 20);
    memset(buf, 'A', (1 << 20) - 1);
    buf[(1 << 20) - 1] = '\0';
    fx_invalid(f, buf, "malformed");
    buf[8192] = '\0';
    fx_invalid(f, buf, NULL);
    buf[8193] = '\0';
    buf[8192] = 'A';
    fx_invalid(f, buf, "malformed");
    free(buf);

    /* Every prefix of a real token, and the token with something appended. */
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &t);
    tok = fx_encode(f, &t);
    len = strlen(tok);
    buf = malloc(len + 16);
    for (size_t n = 0; n < len; n++) {
        memcpy(buf, tok, n);
        buf[n] = '\0';
        fx_invalid(f, buf, NULL);
    }
    snprintf(buf, len + 16, "%sAAAA", tok);
    fx_invalid(f, buf, NULL);
    snprintf(buf, len + 16, "%s.", tok);
    fx_invalid(f, buf, NULL);
    free(buf);
    fx_valid(f, tok, NULL);
    free(tok);

    /* Sealed by a different repository's key. */
    {
        struct local_identity_opts o = f->opts;
        char other[400];
        struct local_identity *li2;
        struct ident_token t2;
        char *foreign;
        snprintf(other, sizeof(other), "%s/otherkeys", f->dir);
        o.keys_dir = other;
        li2 = local_identity_open(f->store, &o, &err);
        assert_non_null(li2);
        fill_token(&t2);
        foreign = local_identity_token_encode(li2, &t2, &err);
        assert_non_null(foreign);
        local_identity_close(li2);
        fx_invalid(f, foreign, "retired");
        free(foreign);
    }
}

/* ---- revocation ----------------------------------------------------------------------- */

static void test_revoke_token(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token a, b;
    char *ta, *tb;

    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &a);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &b);
    ta = fx_encode(f, &a);
    tb = fx_encode(f, &b);
    assert_string_not_equal(a.audit_id, b.audit_id);
    assert_int_equal(local_identity_token_revoke(f->li, &a, &err), 0);
    fx_invalid(f, ta, "revoked");
    fx_valid(f, tb, NULL);
    assert_int_equal(local_identity_token_revoke(f->li, &a, &err), 0); /* twice is fine */
    fx_invalid(f, ta, "revoked");
    free(ta);
    free(tb);
}

static void test_revoke_user(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t, other;
    char u[IDENT_ID_MAX + 1], p[IDENT_ID_MAX + 1];
    char *tok, *tok_other;

    fx_user(f, "kim", "kim-pw", u, sizeof(u));
    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &other);
    tok_other = fx_encode(f, &other);

    /* Password change. */
    fx_auth_ok(f, u, "kim-pw", p, &t);
    tok = fx_encode(f, &t);
    fx_valid(f, tok, NULL);
    assert_int_equal(local_identity_change_password(f->li, u, "kim-pw", "kim-pw2", &err), 0);
    fx_invalid(f, tok, "revoked");
    free(tok);
    fx_auth_ok(f, u, "kim-pw2", p, &t);
    tok = fx_encode(f, &t);
    fx_valid(f, tok, NULL); /* issued after the change */

    /* Password set by an administrator. */
    fx_update_ok(f, IDENT_USER, u, "{\"password\":\"kim-pw3\"}");
    fx_invalid(f, tok, "revoked");
    free(tok);

    /* Disabled, then re-enabled: the old token stays revoked. */
    fx_auth_ok(f, u, "kim-pw3", p, &t);
    tok = fx_encode(f, &t);
    fx_update_ok(f, IDENT_USER, u, "{\"enabled\":false}");
    fx_invalid(f, tok, "revoked");
    fx_update_ok(f, IDENT_USER, u, "{\"enabled\":true}");
    fx_invalid(f, tok, "revoked");
    free(tok);

    /* Removing the grant the token was scoped with. */
    fx_auth_ok(f, u, "kim-pw3", p, &t);
    tok = fx_encode(f, &t);
    assert_int_equal(local_identity_revoke_grant(f->li, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT,
                                                 p, f->role_member, &err),
                     0);
    fx_invalid(f, tok, "revoked");
    free(tok);

    /* Deleted. */
    fx_auth_ok(f, u, "kim-pw3", NULL, &t);
    tok = fx_encode(f, &t);
    fx_valid(f, tok, NULL);
    assert_int_equal(local_identity_delete(f->li, IDENT_USER, u, &err), 0);
    fx_invalid(f, tok, "revoked");
    free(tok);

    /* Others are unaffected. */
    fx_valid(f, tok_other, NULL);
    free(tok_other);
}

static void test_revoke_project(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t, un;
    char p[IDENT_ID_MAX + 1];
    char *tok, *tok_un, *tok_admin;

    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_grant(f, IDENT_ACTOR_USER, f->admin_user, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, p, &t);
    tok = fx_encode(f, &t);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &un);
    tok_un = fx_encode(f, &un);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    tok_admin = fx_encode(f, &t);

    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":false}");
    fx_invalid(f, tok, "revoked");
    fx_valid(f, tok_un, NULL);
    fx_valid(f, tok_admin, NULL);
    free(tok);

    fx_update_ok(f, IDENT_PROJECT, p, "{\"enabled\":true}");
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, p, &t);
    tok = fx_encode(f, &t);
    fx_valid(f, tok, NULL);
    assert_int_equal(local_identity_delete(f->li, IDENT_PROJECT, p, &err), 0);
    fx_invalid(f, tok, "revoked");
    fx_valid(f, tok_un, NULL);
    fx_valid(f, tok_admin, NULL);
    free(tok);
    free(tok_un);
    free(tok_admin);
}

/* Deleting a role or an application credential, and disabling a domain, revoke the tokens
 * that carry them (these stayed valid until their expiry before). */
static void test_revoke_role_app_cred_domain(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t, other, at;
    struct ident_auth_request r;
    char role[IDENT_ID_MAX + 1], dom[IDENT_ID_MAX + 1], u[IDENT_ID_MAX + 1];
    char p[IDENT_ID_MAX + 1], ac_id[IDENT_ID_MAX + 1], secret[128];
    char *tok, *tok_other, *tok_ac;
    json_t *ac;

    /* A custom role on the admin project: deleting it revokes tokens that hold it. */
    fx_create_id(f, IDENT_ROLE, "{\"name\":\"auditor\"}", role, sizeof(role));
    fx_grant(f, IDENT_ACTOR_USER, f->admin_user, IDENT_TARGET_PROJECT, f->admin_project, role);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    assert_true(fx_has_role(&t, role));
    tok = fx_encode(f, &t);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &other); /* unscoped: holds no role */
    tok_other = fx_encode(f, &other);
    assert_int_equal(local_identity_delete(f->li, IDENT_ROLE, role, &err), 0);
    fx_invalid(f, tok, "revoked");
    fx_valid(f, tok_other, NULL);
    free(tok);

    /* An application credential: deleting it revokes the tokens it issued. */
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    {
        json_t *attrs = json_pack("{s:s}", "name", "ci");
        ac = local_identity_app_cred_create(f->li, &t, attrs, &err);
        json_decref(attrs);
    }
    assert_non_null(ac);
    fx_copy_id(ac_id, sizeof(ac_id), ac);
    snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(ac, "secret")));
    json_decref(ac);
    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_APP_CRED;
    r.app_cred_id = ac_id;
    r.app_cred_secret = secret;
    assert_int_equal(local_identity_authenticate(f->li, &r, &at, &err), 0);
    tok_ac = fx_encode(f, &at);
    tok = fx_encode(f, &t);
    fx_valid(f, tok_ac, NULL);
    assert_int_equal(local_identity_delete(f->li, IDENT_APP_CRED, ac_id, &err), 0);
    fx_invalid(f, tok_ac, "revoked");
    fx_valid(f, tok, NULL); /* the password token it was made with stays valid */
    free(tok);
    free(tok_ac);

    /* A domain: disabling it revokes its users' tokens and tokens scoped to its projects. */
    fx_create_id(f, IDENT_DOMAIN, "{\"name\":\"corp\"}", dom, sizeof(dom));
    {
        char attrs[256];
        snprintf(attrs, sizeof(attrs),
                 "{\"name\":\"dee\",\"password\":\"dee-pw\","
                 "\"domain_id\":\"%s\"}",
                 dom);
        fx_create_id(f, IDENT_USER, attrs, u, sizeof(u));
        snprintf(attrs, sizeof(attrs), "{\"name\":\"cp\",\"domain_id\":\"%s\"}", dom);
        fx_create_id(f, IDENT_PROJECT, attrs, p, sizeof(p));
    }
    fx_grant(f, IDENT_ACTOR_USER, u, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_grant(f, IDENT_ACTOR_USER, f->admin_user, IDENT_TARGET_PROJECT, p, f->role_member);
    fx_auth_ok(f, u, "dee-pw", p, &t);
    tok = fx_encode(f, &t);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, p, &t);
    char *tok_admin_in_corp = fx_encode(f, &t);
    fx_update_ok(f, IDENT_DOMAIN, dom, "{\"enabled\":false}");
    fx_invalid(f, tok, "revoked");
    fx_invalid(f, tok_admin_in_corp, "revoked");
    fx_valid(f, tok_other, NULL); /* the Default domain is untouched */
    free(tok);
    free(tok_admin_in_corp);
    free(tok_other);
}

static void test_rescope(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_auth_request r;
    struct ident_token un, sc, sc2, v;
    char p[IDENT_ID_MAX + 1];
    char *tok_un, *tok_sc, *tok_sc2, *tok_other;

    fx_create_id(f, IDENT_PROJECT, "{\"name\":\"p\"}", p, sizeof(p));
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &un);
    tok_un = fx_encode(f, &un);

    memset(&r, 0, sizeof(r));
    r.methods = IDENT_M_TOKEN;
    r.token = tok_un;
    r.scope = IDENT_SCOPE_PROJECT;
    r.project_id = f->admin_project;
    fx_sleep_ms(2);
    assert_int_equal(local_identity_authenticate(f->li, &r, &sc, &err), 0);
    assert_int_equal(sc.scope, IDENT_SCOPE_PROJECT);
    assert_string_equal(sc.scope_id, f->admin_project);
    assert_int_equal(sc.n_roles, 3);
    assert_true(sc.expires_at == un.expires_at);
    assert_true(sc.issued_at > un.issued_at);
    assert_string_equal(sc.parent_audit_id, un.audit_id);
    assert_string_not_equal(sc.audit_id, un.audit_id);
    assert_int_equal(sc.methods, IDENT_M_PASSWORD | IDENT_M_TOKEN);
    tok_sc = fx_encode(f, &sc);
    fx_valid(f, tok_sc, &v);
    assert_string_equal(v.parent_audit_id, un.audit_id);

    /* Re-scoping the re-scoped token keeps the original audit id as parent. */
    r.token = tok_sc;
    r.scope = IDENT_SCOPE_SYSTEM;
    r.project_id = NULL;
    assert_int_equal(local_identity_authenticate(f->li, &r, &sc2, &err), 0);
    assert_string_equal(sc2.parent_audit_id, un.audit_id);
    assert_true(sc2.expires_at == un.expires_at);
    tok_sc2 = fx_encode(f, &sc2);

    /* To a project without roles: refused. Through an invalid token: refused. */
    r.scope = IDENT_SCOPE_PROJECT;
    r.project_id = p;
    assert_int_equal(local_identity_authenticate(f->li, &r, &v, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "has no access");
    r.token = "garbage-garbage-garbage";
    r.project_id = f->admin_project;
    assert_int_equal(local_identity_authenticate(f->li, &r, &v, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);

    /* Revoking the original revokes everything derived from it, and nothing else. */
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &v);
    tok_other = fx_encode(f, &v);
    assert_int_equal(local_identity_token_revoke(f->li, &un, &err), 0);
    fx_invalid(f, tok_un, "revoked");
    fx_invalid(f, tok_sc, "revoked");
    fx_invalid(f, tok_sc2, "revoked");
    fx_valid(f, tok_other, NULL);
    r.token = tok_un;
    assert_int_equal(local_identity_authenticate(f->li, &r, &v, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "revoked");

    /* A token re-scoped from a disabled user's token is refused. */
    r.token = tok_other;
    fx_update_ok(f, IDENT_USER, f->admin_user, "{\"enabled\":false}");
    assert_int_equal(local_identity_authenticate(f->li, &r, &v, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);
    free(tok_un);
    free(tok_sc);
    free(tok_sc2);
    free(tok_other);
}

/* ---- key repository ------------------------------------------------------------------- */

static void assert_mode(const char *path, mode_t mode)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("stat %s failed", path);
    if ((sb.st_mode & 0777) != mode)
        fail_msg("%s has mode %o, expected %o", path, (unsigned)(sb.st_mode & 0777),
                 (unsigned)mode);
}

static int file_exists(const char *dir, int index)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%d", dir, index);
    return stat(path, &sb) == 0;
}

/* 1 if the token was sealed with key file `index` of the repository. */
static int sealed_with(struct fx *f, const char *tok, int index)
{
    char path[512], b64[128];
    uint8_t key[64], digest[NPH_SHA256_LEN], *raw;
    FILE *fp;
    size_t n;
    long kl, rl;
    int same;
    snprintf(path, sizeof(path), "%s/%d", f->keys, index);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(b64, 1, sizeof(b64) - 1, fp);
    fclose(fp);
    kl = nph_b64_decode(b64, n, key);
    assert_int_equal(kl, NPH_AEAD_KEY_LEN);
    nph_sha256(key, (size_t)kl, digest);
    raw = malloc(strlen(tok));
    rl = nph_b64url_decode(tok, strlen(tok), raw);
    assert_true(rl > 5);
    same = memcmp(raw + 1, digest, 4) == 0;
    free(raw);
    return same;
}

static void test_key_rotation(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    char *t1, *t2, *t3;
    int primary = -1;

    /* The repository: staged 0 and primary 1, private. */
    assert_mode(f->keys, 0700);
    assert_true(file_exists(f->keys, 0));
    assert_true(file_exists(f->keys, 1));
    assert_false(file_exists(f->keys, 2));
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, f->admin_project, &t);
    t1 = fx_encode(f, &t);
    assert_true(sealed_with(f, t1, 1));

    assert_int_equal(ident_keys_rotate(f->keys, 3, &primary, &err), 0);
    assert_int_equal(primary, 2);
    assert_true(file_exists(f->keys, 0) && file_exists(f->keys, 1) && file_exists(f->keys, 2));
    fx_valid(f, t1, NULL);
    /* The running service notices the rotation within a second. */
    fx_sleep_ms(1100);
    fx_valid(f, t1, NULL);
    t2 = fx_encode(f, &t);
    if (!sealed_with(f, t2, 2))
        fail_msg("a second after the rotation the service still seals with the old key");
    fx_valid(f, t2, NULL);

    /* Beyond max_active the oldest secondary is removed and its tokens fail. */
    assert_int_equal(ident_keys_rotate(f->keys, 3, &primary, &err), 0);
    assert_int_equal(primary, 3);
    assert_false(file_exists(f->keys, 1));
    assert_true(file_exists(f->keys, 0) && file_exists(f->keys, 2) && file_exists(f->keys, 3));
    fx_reopen(f);
    fx_invalid(f, t1, "retired");
    fx_valid(f, t2, NULL);
    t3 = fx_encode(f, &t);
    assert_true(sealed_with(f, t3, 3));
    fx_valid(f, t3, NULL);

    /* Modes of everything in the repository. */
    assert_mode(f->keys, 0700);
    for (int i = 0; i <= 3; i++) {
        char path[512];
        if (!file_exists(f->keys, i))
            continue;
        snprintf(path, sizeof(path), "%s/%d", f->keys, i);
        assert_mode(path, 0600);
    }

    /* A fresh repository from ident_keys_setup; rotating creates it too. */
    {
        char dir[400];
        snprintf(dir, sizeof(dir), "%s/fresh", f->dir);
        assert_int_equal(ident_keys_rotate(dir, 2, &primary, &err), 0);
        assert_int_equal(primary, 2);
        assert_mode(dir, 0700);
        assert_true(file_exists(dir, 0) && file_exists(dir, 2) && !file_exists(dir, 1));
        assert_int_equal(ident_keys_setup(dir, &err), 0);
        assert_false(file_exists(dir, 1));
    }
    free(t1);
    free(t2);
    free(t3);
}

/* ---- lockout and password history ------------------------------------------------------ */

static void test_lockout(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    char u[IDENT_ID_MAX + 1];

    f->opts.lockout_failure_attempts = 2;
    f->opts.lockout_duration_s = 5;
    fx_reopen(f);
    fx_user(f, "lou", "lou-pw", u, sizeof(u));

    /* A success resets the counter. */
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_auth_ok(f, u, "lou-pw", NULL, &t);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_auth_ok(f, u, "lou-pw", NULL, &t);

    /* Two failures in a row lock, even against the right password. */
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(fx_auth(f, u, "lou-pw", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "locked");
    assert_int_equal(local_identity_change_password(f->li, u, "lou-pw", "new-pw", &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "locked");
    nph_clock_set_offset(4 * NPH_USEC_PER_SEC);
    assert_int_equal(fx_auth(f, u, "lou-pw", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, "locked");

    /* After the duration the right password works again; the counter starts afresh. */
    nph_clock_set_offset(6 * NPH_USEC_PER_SEC);
    fx_auth_ok(f, u, "lou-pw", NULL, &t);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_auth_ok(f, u, "lou-pw", NULL, &t);

    /* Lock again, then expire the lock with a wrong password first. */
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    nph_clock_set_offset(12 * NPH_USEC_PER_SEC);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    fx_auth_ok(f, u, "lou-pw", NULL, &t);

    /* An administrator setting the password unlocks. */
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_update_ok(f, IDENT_USER, u, "{\"password\":\"reset-pw\"}");
    fx_auth_ok(f, u, "reset-pw", NULL, &t);

    /* Other users are unaffected by one user's lock. */
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    assert_int_equal(fx_auth(f, u, "bad", NULL, &t, &err), -1);
    fx_auth_ok(f, f->admin_user, FX_PASSWORD, NULL, &t);
}

static void test_password_history(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct ident_token t;
    char u[IDENT_ID_MAX + 1];

    f->opts.unique_last_password_count = 2;
    fx_reopen(f);
    fx_user(f, "pat", "pw-1", u, sizeof(u));

    assert_int_equal(local_identity_change_password(f->li, u, "wrong", "pw-2", &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, AUTH_FAILED);
    assert_int_equal(local_identity_change_password(f->li, u, "pw-1", "pw-1", &err), -1);
    fx_expect(&err, NPH_E_INVALID, "last 2 passwords must be unique");
    assert_int_equal(local_identity_change_password(f->li, u, "pw-1", "pw-2", &err), 0);
    fx_auth_ok(f, u, "pw-2", NULL, &t);
    assert_int_equal(fx_auth(f, u, "pw-1", NULL, &t, &err), -1);
    assert_int_equal(local_identity_change_password(f->li, u, "pw-2", "pw-2", &err), -1);
    fx_expect(&err, NPH_E_INVALID, "unique");
    /* With 2, the current and the previous passwords are refused, older ones allowed. */
    assert_int_equal(local_identity_change_password(f->li, u, "pw-2", "pw-1", &err), -1);
    fx_expect(&err, NPH_E_INVALID, "last 2 passwords must be unique");
    assert_int_equal(local_identity_change_password(f->li, u, "pw-2", "pw-3", &err), 0);
    assert_int_equal(local_identity_change_password(f->li, u, "pw-3", "pw-2", &err), -1);
    fx_expect(&err, NPH_E_INVALID, "unique");
    assert_int_equal(local_identity_change_password(f->li, u, "pw-3", "pw-1", &err), 0);
    fx_auth_ok(f, u, "pw-1", NULL, &t);
    assert_int_equal(local_identity_change_password(f->li, "nope", "x", "y", &err), -1);
    fx_expect(&err, NPH_E_NOT_FOUND, "could not find user: nope");

    /* With 3, the last three. */
    f->opts.unique_last_password_count = 3;
    fx_reopen(f);
    assert_int_equal(local_identity_change_password(f->li, u, "pw-1", "pw-2", &err), -1);
    fx_expect(&err, NPH_E_INVALID, "last 3 passwords must be unique");
    assert_int_equal(local_identity_change_password(f->li, u, "pw-1", "pw-4", &err), 0);
    fx_auth_ok(f, u, "pw-4", NULL, &t);
    /* An administrator's reset obeys the history too, and changes nothing when refused. */
    {
        json_t *patch = json_pack("{s:s}", "password", "pw-1");
        assert_null(local_identity_update(f->li, IDENT_USER, u, patch, &err));
        json_decref(patch);
    }
    fx_expect(&err, NPH_E_INVALID, "last 3 passwords must be unique");
    fx_auth_ok(f, u, "pw-4", NULL, &t);

    /* Without history any password goes, the same one included. */
    f->opts.unique_last_password_count = 0;
    fx_reopen(f);
    assert_int_equal(local_identity_change_password(f->li, u, "pw-4", "pw-4", &err), 0);

    /* A disabled user cannot change the password. */
    fx_update_ok(f, IDENT_USER, u, "{\"enabled\":false}");
    assert_int_equal(local_identity_change_password(f->li, u, "pw-4", "pw-5", &err), -1);
    fx_expect(&err, NPH_E_UNAUTHORIZED, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tamper, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_token, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_user, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_project, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_role_app_cred_domain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rescope, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_key_rotation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lockout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_password_history, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
