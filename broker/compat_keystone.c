/*
 * compat_keystone.c - the Keystone v3 compatible identity API under /identity, over
 * local/identity: version discovery, tokens (issue, validate, check, revoke), the catalog,
 * domains, projects, users, groups, roles, grants, role assignments, regions, services,
 * endpoints and application credentials, with Keystone's bodies, statuses and fault format.
 *
 * RBAC: the admin role (on any scope) may do everything; other callers may read what their
 * assignments make visible (their projects and domains, themselves, the catalog), change
 * their own password and manage their own application credentials.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "nph_clock.h"
#include "nph_json.h"
#include "nph_log.h"

#define KS_PREFIX "/identity/v3"

static struct nph_app *app_of(struct http_req *req)
{
    return req->app;
}

static struct ident_token *caller(struct http_req *req)
{
    return req->auth;
}

static int need_admin(struct http_req *req, struct nph_error *err)
{
    if (app_authenticate(req, err))
        return -1;
    if (!ident_token_is_admin(caller(req)))
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "you are not authorized to perform the requested action");
    return 0;
}

static json_t *link_self(struct http_req *req, const char *suffix)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", app_of(req)->cfg.public_url, suffix);
    return json_pack("{s:s}", "self", url);
}

static void add_links(struct http_req *req, json_t *obj, const char *collection)
{
    char path[1024];
    snprintf(path, sizeof(path), KS_PREFIX "/%s/%s", collection,
             json_string_value(json_object_get(obj, "id")));
    json_object_set_new(obj, "links", link_self(req, path));
}

/* Keystone's extra fields per kind. */
static void decorate(struct http_req *req, enum ident_kind kind, json_t *obj)
{
    switch (kind) {
    case IDENT_PROJECT:
        json_object_set_new(obj, "is_domain", json_false());
        json_object_set_new(obj, "options", json_object());
        break;
    case IDENT_USER:
        json_object_set_new(obj, "options", json_object());
        json_object_set_new(obj, "password_expires_at", json_null());
        if (json_is_null(json_object_get(obj, "description")))
            json_object_del(obj, "description");
        if (json_is_null(json_object_get(obj, "email")))
            json_object_del(obj, "email");
        if (json_is_null(json_object_get(obj, "default_project_id")))
            json_object_del(obj, "default_project_id");
        break;
    case IDENT_ROLE:
        json_object_set_new(obj, "options", json_object());
        break;
    case IDENT_REGION:
        break;
    case IDENT_ENDPOINT:
        json_object_set(obj, "region", json_object_get(obj, "region_id"));
        break;
    case IDENT_APP_CRED:
        json_object_set_new(obj, "access_rules", json_array());
        break;
    default:
        break;
    }
    if (kind == IDENT_APP_CRED) {
        char path[1024];
        snprintf(path, sizeof(path), KS_PREFIX "/users/%s/application_credentials/%s",
                 json_string_value(json_object_get(obj, "user_id")),
                 json_string_value(json_object_get(obj, "id")));
        json_object_set_new(obj, "links", link_self(req, path));
    } else {
        add_links(req, obj, ident_kind_plural(kind));
    }
}

static int reply_one(struct http_req *req, struct http_resp *resp, int status, enum ident_kind kind,
                     json_t *obj)
{
    decorate(req, kind, obj);
    return http_resp_json(resp, status, json_pack("{s:o}", ident_kind_name(kind), obj));
}

static int reply_list(struct http_req *req, struct http_resp *resp, enum ident_kind kind,
                      json_t *arr, const char *self_path)
{
    size_t i;
    json_t *o;
    json_t *links;
    json_array_foreach(arr, i, o) decorate(req, kind, o);
    links = link_self(req, self_path);
    json_object_set_new(links, "previous", json_null());
    json_object_set_new(links, "next", json_null());
    return http_resp_json(resp, 200,
                          json_pack("{s:o,s:o}", ident_kind_plural(kind), arr, "links", links));
}

/* ---- version discovery ------------------------------------------------------------------ */

static json_t *v3_version(struct http_req *req)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s" KS_PREFIX "/", app_of(req)->cfg.public_url);
    return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}", "id", "v3.14", "status", "stable",
                     "updated", "2020-04-07T00:00:00Z", "links", "rel", "self", "href", url,
                     "media-types", "base", "application/json", "type",
                     "application/vnd.openstack.identity-v3+json");
}

static int ks_versions(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(resp, 300,
                          json_pack("{s:{s:[o]}}", "versions", "values", v3_version(req)));
}

static int ks_version(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    (void)err;
    return http_resp_json(resp, 200, json_pack("{s:o}", "version", v3_version(req)));
}

/* ---- tokens ------------------------------------------------------------------------------ */

static json_t *catalog_json(struct http_req *req, struct nph_error *err)
{
    struct local_identity *li = app_of(req)->identity;
    json_t *services = local_identity_list(li, IDENT_SERVICE, NULL, err), *endpoints, *out;
    size_t i, j;
    json_t *s, *e;
    if (!services)
        return NULL;
    endpoints = local_identity_list(li, IDENT_ENDPOINT, NULL, err);
    if (!endpoints) {
        json_decref(services);
        return NULL;
    }
    out = json_array();
    json_array_foreach(services, i, s)
    {
        json_t *eps = json_array();
        if (!json_is_true(json_object_get(s, "enabled"))) {
            json_decref(eps);
            continue;
        }
        json_array_foreach(endpoints, j, e)
        {
            if (!json_is_true(json_object_get(e, "enabled")) ||
                !json_equal(json_object_get(e, "service_id"), json_object_get(s, "id")))
                continue;
            json_array_append_new(
                eps, json_pack("{s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(e, "id"), "interface",
                               json_object_get(e, "interface"), "region_id",
                               json_object_get(e, "region_id"), "region",
                               json_object_get(e, "region_id"), "url", json_object_get(e, "url")));
        }
        json_array_append_new(out, json_pack("{s:O,s:O,s:O,s:o}", "id", json_object_get(s, "id"),
                                             "type", json_object_get(s, "type"), "name",
                                             json_object_get(s, "name"), "endpoints", eps));
    }
    json_decref(services);
    json_decref(endpoints);
    return out;
}

/* The catalog changes rarely: keep one copy per process, refreshed at most every 2 s and at
 * once after a change made through this process. */
static pthread_mutex_t catalog_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *catalog_cache;
static int64_t catalog_at;

static void catalog_invalidate(void)
{
    pthread_mutex_lock(&catalog_lock);
    catalog_at = 0;
    pthread_mutex_unlock(&catalog_lock);
}

static json_t *catalog_get(struct http_req *req, struct nph_error *err)
{
    json_t *c;
    int64_t now = nph_clock_mono();
    pthread_mutex_lock(&catalog_lock);
    if (catalog_cache && now - catalog_at < 2 * NPH_USEC_PER_SEC) {
        c = json_deep_copy(catalog_cache);
        pthread_mutex_unlock(&catalog_lock);
        return c;
    }
    pthread_mutex_unlock(&catalog_lock);
    c = catalog_json(req, err);
    if (!c)
        return NULL;
    pthread_mutex_lock(&catalog_lock);
    json_decref(catalog_cache);
    catalog_cache = json_deep_copy(c);
    catalog_at = now;
    pthread_mutex_unlock(&catalog_lock);
    return c;
}

/* Keystone substitutes the token's project into endpoint URLs ("%(project_id)s", also
 * "$(project_id)s" and the tenant_id spellings, as Swift's AUTH_%(project_id)s); endpoints
 * that need a project are left out of catalogs without one. Modifies cat in place. */
static void catalog_substitute(json_t *cat, const struct ident_token *t)
{
    static const char *const keys[] = {"%(project_id)s", "$(project_id)s", "%(tenant_id)s",
                                       "$(tenant_id)s"};
    const char *pid = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : NULL;
    size_t i, j;
    json_t *svc, *ep;
    json_array_foreach(cat, i, svc)
    {
        json_t *eps = json_object_get(svc, "endpoints");
        for (j = 0; j < json_array_size(eps);) {
            ep = json_array_get(eps, j);
            const char *url = json_string_value(json_object_get(ep, "url"));
            const char *hit = NULL;
            size_t k, kl = 0;
            for (k = 0; url && k < sizeof(keys) / sizeof(keys[0]) && !hit; k++) {
                hit = strstr(url, keys[k]);
                kl = strlen(keys[k]);
            }
            if (!hit) {
                j++;
                continue;
            }
            if (!pid) {
                json_array_remove(eps, j);
                continue;
            }
            json_object_set_new(ep, "url",
                                json_sprintf("%.*s%s%s", (int)(hit - url), url, pid, hit + kl));
            j++;
        }
    }
}

static json_t *token_json(struct http_req *req, const struct ident_token *t, int with_catalog,
                          struct nph_error *err)
{
    char issued[40], expires[40];
    json_t *methods = json_array(), *audit = json_array(), *tok;
    if (t->methods & IDENT_M_PASSWORD)
        json_array_append_new(methods, json_string("password"));
    if (t->methods & IDENT_M_TOKEN)
        json_array_append_new(methods, json_string("token"));
    if (t->methods & IDENT_M_APP_CRED)
        json_array_append_new(methods, json_string("application_credential"));
    json_array_append_new(audit, json_string(t->audit_id));
    if (t->parent_audit_id[0])
        json_array_append_new(audit, json_string(t->parent_audit_id));
    nph_time_format(t->issued_at, 6, issued, sizeof(issued));
    nph_time_format(t->expires_at, 6, expires, sizeof(expires));
    tok = json_pack("{s:o,s:{s:{s:s,s:s},s:s,s:s,s:n},s:o,s:s,s:s}", "methods", methods, "user",
                    "domain", "id", t->user_domain_id, "name", t->user_domain_name, "id",
                    t->user_id, "name", t->user_name, "password_expires_at", "audit_ids", audit,
                    "expires_at", expires, "issued_at", issued);
    if (t->scope != IDENT_SCOPE_UNSCOPED) {
        json_t *roles = json_array();
        for (int i = 0; i < t->n_roles; i++)
            json_array_append_new(
                roles, json_pack("{s:s,s:s}", "id", t->roles[i].id, "name", t->roles[i].name));
        json_object_set_new(tok, "roles", roles);
    }
    if (t->scope == IDENT_SCOPE_PROJECT) {
        json_object_set_new(tok, "project",
                            json_pack("{s:{s:s,s:s},s:s,s:s}", "domain", "id", t->scope_domain_id,
                                      "name", t->scope_domain_name, "id", t->scope_id, "name",
                                      t->scope_name));
        json_object_set_new(tok, "is_domain", json_false());
    } else if (t->scope == IDENT_SCOPE_DOMAIN) {
        json_object_set_new(tok, "domain",
                            json_pack("{s:s,s:s}", "id", t->scope_id, "name", t->scope_name));
    } else if (t->scope == IDENT_SCOPE_SYSTEM) {
        json_object_set_new(tok, "system", json_pack("{s:b}", "all", 1));
    }
    if (t->app_cred_id[0])
        json_object_set_new(tok, "application_credential",
                            json_pack("{s:s,s:s,s:b}", "id", t->app_cred_id, "name",
                                      t->app_cred_name, "restricted", 1));
    if (with_catalog && t->scope != IDENT_SCOPE_UNSCOPED) {
        json_t *cat = catalog_get(req, err);
        if (!cat) {
            json_decref(tok);
            return NULL;
        }
        catalog_substitute(cat, t);
        json_object_set_new(tok, "catalog", cat);
    }
    return json_pack("{s:o}", "token", tok);
}

static _Thread_local struct ident_token tls_caller;

int app_authenticate(struct http_req *req, struct nph_error *err)
{
    const char *tok = http_req_header(req, "X-Auth-Token");
    if (req->auth)
        return 0;
    if (!tok || !*tok)
        return nph_error_set(err, NPH_E_UNAUTHORIZED,
                             "the request you have made requires authentication");
    if (local_identity_token_validate(app_of(req)->identity, tok, 0, &tls_caller, err))
        return -1;
    req->auth = &tls_caller;
    return 0;
}

/* Parse {"user": {"id"|"name", "domain": {"id"|"name"}, "password"}} into the request. */
static int parse_user_ref(const json_t *user, const char *path, struct ident_auth_request *ar,
                          int want_password, struct nph_error *err)
{
    json_t *dom = NULL;
    char p[128];
    if (!json_is_object(user))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", path);
    snprintf(p, sizeof(p), "%s.id", path);
    if (nph_json_get_str(user, "id", p, 0, IDENT_ID_MAX, &ar->user_id, err) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s.name", path);
    if (nph_json_get_str(user, "name", p, 0, IDENT_NAME_MAX, &ar->user_name, err) < 0)
        return -1;
    if (want_password) {
        snprintf(p, sizeof(p), "%s.password", path);
        if (nph_json_get_str(user, "password", p, 1, 4096, &ar->password, err) < 0)
            return -1;
    }
    snprintf(p, sizeof(p), "%s.domain", path);
    if (nph_json_get_obj(user, "domain", p, 0, &dom, err) < 0)
        return -1;
    if (dom) {
        snprintf(p, sizeof(p), "%s.domain.id", path);
        if (nph_json_get_str(dom, "id", p, 0, IDENT_ID_MAX, &ar->user_domain_id, err) < 0)
            return -1;
        snprintf(p, sizeof(p), "%s.domain.name", path);
        if (nph_json_get_str(dom, "name", p, 0, IDENT_NAME_MAX, &ar->user_domain_name, err) < 0)
            return -1;
    }
    if (!ar->user_id && !ar->user_name)
        return nph_error_set(err, NPH_E_INVALID, "'%s' needs an 'id' or a 'name'", path);
    if (!ar->user_id && !ar->user_domain_id && !ar->user_domain_name)
        return nph_error_set(err, NPH_E_INVALID, "'%s.domain' is required with a user name", path);
    return 0;
}

static int parse_auth(struct http_req *req, const json_t *body, struct ident_auth_request *ar,
                      struct nph_error *err)
{
    json_t *auth, *identity, *methods, *m, *scope;
    size_t i;
    memset(ar, 0, sizeof(*ar));
    if (nph_json_get_obj(body, "auth", "auth", 1, &auth, err) < 0 ||
        nph_json_get_obj(auth, "identity", "auth.identity", 1, &identity, err) < 0 ||
        nph_json_get_arr(identity, "methods", "auth.identity.methods", 1, &methods, err) < 0)
        return -1;
    json_array_foreach(methods, i, m)
    {
        const char *name = json_string_value(m);
        if (!name)
            return nph_error_set(err, NPH_E_INVALID, "'auth.identity.methods' must hold strings");
        if (strcmp(name, "password") == 0)
            ar->methods |= IDENT_M_PASSWORD;
        else if (strcmp(name, "token") == 0)
            ar->methods |= IDENT_M_TOKEN;
        else if (strcmp(name, "application_credential") == 0)
            ar->methods |= IDENT_M_APP_CRED;
        else
            return nph_error_set(err, NPH_E_UNAUTHORIZED,
                                 "attempted to authenticate with an unsupported method '%.64s'",
                                 name);
    }
    if (!ar->methods)
        return nph_error_set(err, NPH_E_INVALID, "'auth.identity.methods' must not be empty");
    if (ar->methods & IDENT_M_PASSWORD) {
        json_t *pw, *user;
        if (nph_json_get_obj(identity, "password", "auth.identity.password", 1, &pw, err) < 0 ||
            nph_json_get_obj(pw, "user", "auth.identity.password.user", 1, &user, err) < 0 ||
            parse_user_ref(user, "auth.identity.password.user", ar, 1, err))
            return -1;
    }
    if (ar->methods & IDENT_M_TOKEN) {
        json_t *tk;
        if (nph_json_get_obj(identity, "token", "auth.identity.token", 0, &tk, err) < 0)
            return -1;
        if (tk &&
            nph_json_get_str(tk, "id", "auth.identity.token.id", 1, 8192, &ar->token, err) < 0)
            return -1;
        if (!ar->token)
            ar->token = http_req_header(req, "X-Auth-Token");
        if (!ar->token)
            return nph_error_set(err, NPH_E_INVALID, "'auth.identity.token.id' is required");
    }
    if (ar->methods & IDENT_M_APP_CRED) {
        json_t *ac, *user = NULL;
        const char *p = "auth.identity.application_credential";
        if (nph_json_get_obj(identity, "application_credential", p, 1, &ac, err) < 0 ||
            nph_json_get_str(ac, "id", "auth.identity.application_credential.id", 0, IDENT_ID_MAX,
                             &ar->app_cred_id, err) < 0 ||
            nph_json_get_str(ac, "name", "auth.identity.application_credential.name", 0,
                             IDENT_NAME_MAX, &ar->app_cred_name, err) < 0 ||
            nph_json_get_str(ac, "secret", "auth.identity.application_credential.secret", 1, 1024,
                             &ar->app_cred_secret, err) < 0 ||
            nph_json_get_obj(ac, "user", "auth.identity.application_credential.user", 0, &user,
                             err) < 0)
            return -1;
        if (user && parse_user_ref(user, "auth.identity.application_credential.user", ar, 0, err))
            return -1;
    }
    scope = json_object_get(auth, "scope");
    if (!scope || json_is_null(scope)) {
        ar->scope = IDENT_SCOPE_UNSCOPED;
    } else if (json_is_string(scope) && strcmp(json_string_value(scope), "unscoped") == 0) {
        ar->scope = IDENT_SCOPE_UNSCOPED;
        ar->unscoped_explicit = 1;
    } else if (json_is_object(scope)) {
        json_t *p = json_object_get(scope, "project"), *d = json_object_get(scope, "domain");
        json_t *s = json_object_get(scope, "system");
        if ((p != NULL) + (d != NULL) + (s != NULL) != 1)
            return nph_error_set(err, NPH_E_INVALID,
                                 "'auth.scope' must name exactly one of project, domain, system");
        if (p) {
            json_t *pd = NULL;
            ar->scope = IDENT_SCOPE_PROJECT;
            if (!json_is_object(p))
                return nph_error_set(err, NPH_E_INVALID, "'auth.scope.project' must be an object");
            if (nph_json_get_str(p, "id", "auth.scope.project.id", 0, IDENT_ID_MAX, &ar->project_id,
                                 err) < 0 ||
                nph_json_get_str(p, "name", "auth.scope.project.name", 0, IDENT_NAME_MAX,
                                 &ar->project_name, err) < 0 ||
                nph_json_get_obj(p, "domain", "auth.scope.project.domain", 0, &pd, err) < 0)
                return -1;
            if (pd && (nph_json_get_str(pd, "id", "auth.scope.project.domain.id", 0, IDENT_ID_MAX,
                                        &ar->project_domain_id, err) < 0 ||
                       nph_json_get_str(pd, "name", "auth.scope.project.domain.name", 0,
                                        IDENT_NAME_MAX, &ar->project_domain_name, err) < 0))
                return -1;
            if (!ar->project_id && !ar->project_name)
                return nph_error_set(err, NPH_E_INVALID,
                                     "'auth.scope.project' needs an 'id' or a 'name'");
        } else if (d) {
            ar->scope = IDENT_SCOPE_DOMAIN;
            if (!json_is_object(d))
                return nph_error_set(err, NPH_E_INVALID, "'auth.scope.domain' must be an object");
            if (nph_json_get_str(d, "id", "auth.scope.domain.id", 0, IDENT_ID_MAX, &ar->domain_id,
                                 err) < 0 ||
                nph_json_get_str(d, "name", "auth.scope.domain.name", 0, IDENT_NAME_MAX,
                                 &ar->domain_name, err) < 0)
                return -1;
            if (!ar->domain_id && !ar->domain_name)
                return nph_error_set(err, NPH_E_INVALID,
                                     "'auth.scope.domain' needs an 'id' or a 'name'");
        } else {
            if (!json_is_object(s) || !json_is_true(json_object_get(s, "all")))
                return nph_error_set(err, NPH_E_INVALID,
                                     "'auth.scope.system' must be {\"all\": true}");
            ar->scope = IDENT_SCOPE_SYSTEM;
        }
    } else {
        return nph_error_set(err, NPH_E_INVALID, "'auth.scope' must be an object");
    }
    return 0;
}

static int ks_token_issue(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = app_of(req);
    json_t *body = http_req_json(req, err), *out = NULL;
    struct ident_auth_request ar;
    struct ident_token t;
    char *tok = NULL;
    int rc = -1;
    if (!body)
        return -1;
    if (parse_auth(req, body, &ar, err) || local_identity_authenticate(app->identity, &ar, &t, err))
        goto cleanup;
    tok = local_identity_token_encode(app->identity, &t, err);
    if (!tok)
        goto cleanup;
    out = token_json(req, &t, http_req_query(req, "nocatalog") == NULL, err);
    if (!out)
        goto cleanup;
    http_resp_header(resp, "X-Subject-Token", tok);
    rc = http_resp_json(resp, 201, out);
    out = NULL;
    nph_log(NPH_LOG_INFO, "identity.token.issued", "user_id", t.user_id, "audit_id", t.audit_id,
            NULL);
cleanup:
    free(tok);
    json_decref(out);
    json_decref(body);
    return rc;
}

static int subject(struct http_req *req, struct ident_token *sub, struct nph_error *err)
{
    const char *s = http_req_header(req, "X-Subject-Token");
    if (app_authenticate(req, err))
        return -1;
    if (!s || !*s)
        return nph_error_set(err, NPH_E_INVALID, "the X-Subject-Token header is required");
    if (local_identity_token_validate(app_of(req)->identity, s, 1, sub, err))
        return -1;
    if (!ident_token_is_admin(caller(req)) && strcmp(sub->user_id, caller(req)->user_id) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "you are not authorized to perform the requested action");
    return 0;
}

static int ks_token_validate(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct ident_token sub;
    json_t *out;
    if (subject(req, &sub, err))
        return -1;
    out = token_json(req, &sub, http_req_query(req, "nocatalog") == NULL, err);
    if (!out)
        return -1;
    http_resp_header(resp, "X-Subject-Token", http_req_header(req, "X-Subject-Token"));
    return http_resp_json(resp, 200, out);
}

static int ks_token_revoke(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct ident_token sub;
    if (subject(req, &sub, err) || local_identity_token_revoke(app_of(req)->identity, &sub, err))
        return -1;
    nph_log(NPH_LOG_INFO, "identity.token.revoked", "user_id", sub.user_id, "audit_id",
            sub.audit_id, NULL);
    resp->status = 204;
    return 0;
}

static int ks_auth_catalog(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *cat;
    if (app_authenticate(req, err))
        return -1;
    if (caller(req)->scope == IDENT_SCOPE_UNSCOPED)
        return nph_error_set(err, NPH_E_FORBIDDEN, "the catalog needs a scoped token");
    cat = catalog_get(req, err);
    if (!cat)
        return -1;
    catalog_substitute(cat, caller(req));
    return http_resp_json(
        resp, 200,
        json_pack("{s:o,s:o}", "catalog", cat, "links", link_self(req, KS_PREFIX "/auth/catalog")));
}

static int ks_auth_projects(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *list;
    if (app_authenticate(req, err))
        return -1;
    list = local_identity_user_targets(app_of(req)->identity, caller(req)->user_id,
                                       IDENT_TARGET_PROJECT, err);
    return list ? reply_list(req, resp, IDENT_PROJECT, list, KS_PREFIX "/auth/projects") : -1;
}

static int ks_auth_domains(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *list;
    if (app_authenticate(req, err))
        return -1;
    list = local_identity_user_targets(app_of(req)->identity, caller(req)->user_id,
                                       IDENT_TARGET_DOMAIN, err);
    return list ? reply_list(req, resp, IDENT_DOMAIN, list, KS_PREFIX "/auth/domains") : -1;
}

static int ks_auth_system(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct ident_token *t;
    json_t *arr = json_array();
    if (app_authenticate(req, err)) {
        json_decref(arr);
        return -1;
    }
    t = caller(req);
    if (ident_token_is_admin(t))
        json_array_append_new(arr, json_pack("{s:b}", "all", 1));
    return http_resp_json(
        resp, 200,
        json_pack("{s:o,s:o}", "system", arr, "links", link_self(req, KS_PREFIX "/auth/system")));
}

/* ---- generic resources --------------------------------------------------------------------- */

struct filter_ctx {
    json_t *filters;
};

static void add_filter(const char *key, const char *value, void *ctx)
{
    struct filter_ctx *fc = ctx;
    if (value)
        json_object_set_new(fc->filters, key, json_string(value));
}

static json_t *query_filters(struct http_req *req)
{
    struct filter_ctx fc = {json_object()};
    http_req_query_each(req, add_filter, &fc);
    return fc.filters;
}

/* The kind a route serves, from its pattern: /identity/v3/<plural>... */
static enum ident_kind route_kind(struct http_req *req)
{
    const char *p = req->route->pattern + strlen(KS_PREFIX "/");
    for (int k = 0; k < IDENT__KIND_COUNT; k++) {
        size_t n = strlen(ident_kind_plural((enum ident_kind)k));
        if (strncmp(p, ident_kind_plural((enum ident_kind)k), n) == 0 &&
            (p[n] == '\0' || p[n] == '/'))
            return (enum ident_kind)k;
    }
    return IDENT_DOMAIN;
}

/* May a non-admin caller read this resource? */
static int may_read(struct http_req *req, enum ident_kind kind, const json_t *obj)
{
    struct ident_token *t = caller(req);
    const char *id = json_string_value(json_object_get(obj, "id"));
    switch (kind) {
    case IDENT_PROJECT: {
        json_t *mine;
        size_t i;
        json_t *p;
        int found = 0;
        if (t->scope == IDENT_SCOPE_PROJECT && strcmp(id, t->scope_id) == 0)
            return 1;
        mine = local_identity_user_targets(app_of(req)->identity, t->user_id, IDENT_TARGET_PROJECT,
                                           NULL);
        json_array_foreach(mine, i, p) found |=
            json_equal(json_object_get(p, "id"), json_object_get(obj, "id"));
        json_decref(mine);
        return found;
    }
    case IDENT_DOMAIN:
        return strcmp(id, t->user_domain_id) == 0 ||
               (t->scope == IDENT_SCOPE_PROJECT && strcmp(id, t->scope_domain_id) == 0) ||
               (t->scope == IDENT_SCOPE_DOMAIN && strcmp(id, t->scope_id) == 0);
    case IDENT_USER:
        return strcmp(id, t->user_id) == 0;
    case IDENT_REGION:
        return 1;
    case IDENT_ROLE:
    case IDENT_SERVICE:
    case IDENT_ENDPOINT:
        return ident_token_has_role(t, "reader");
    default:
        return 0;
    }
}

static int ks_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_kind kind = route_kind(req);
    struct local_identity *li = app_of(req)->identity;
    json_t *filters, *list;
    char self[256];
    if (app_authenticate(req, err))
        return -1;
    filters = query_filters(req);
    if (!ident_token_is_admin(caller(req))) {
        if (kind == IDENT_PROJECT) {
            /* A non-admin sees the projects it has roles on, filtered like the full list. */
            json_t *mine =
                local_identity_user_targets(li, caller(req)->user_id, IDENT_TARGET_PROJECT, err);
            size_t i;
            json_t *p;
            if (!mine) {
                json_decref(filters);
                return -1;
            }
            list = json_array();
            json_array_foreach(mine, i, p)
            {
                const char *k;
                json_t *v;
                int keep = 1;
                json_object_foreach(filters, k, v)
                {
                    json_t *have = json_object_get(p, k);
                    if ((strcmp(k, "name") == 0 || strcmp(k, "domain_id") == 0) &&
                        (!json_is_string(have) ||
                         strcmp(json_string_value(have), json_string_value(v)) != 0))
                        keep = 0;
                }
                if (keep)
                    json_array_append(list, p);
            }
            json_decref(mine);
            json_decref(filters);
            snprintf(self, sizeof(self), KS_PREFIX "/%s", ident_kind_plural(kind));
            return reply_list(req, resp, kind, list, self);
        }
        /* Anyone may list regions; a reader may list roles, services and endpoints. */
        int readable = kind == IDENT_REGION ||
                       ((kind == IDENT_ROLE || kind == IDENT_SERVICE || kind == IDENT_ENDPOINT) &&
                        ident_token_has_role(caller(req), "reader"));
        if (!readable) {
            json_decref(filters);
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "you are not authorized to perform the requested action");
        }
    }
    list = local_identity_list(li, kind, filters, err);
    json_decref(filters);
    if (!list)
        return -1;
    snprintf(self, sizeof(self), KS_PREFIX "/%s", ident_kind_plural(kind));
    return reply_list(req, resp, kind, list, self);
}

static int ks_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_kind kind = route_kind(req);
    json_t *obj;
    if (app_authenticate(req, err))
        return -1;
    obj = local_identity_get(app_of(req)->identity, kind, req->params[0], err);
    if (!obj)
        return -1;
    if (!ident_token_is_admin(caller(req)) && !may_read(req, kind, obj)) {
        json_decref(obj);
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "you are not authorized to perform the requested action");
    }
    return reply_one(req, resp, 200, kind, obj);
}

static json_t *body_member(struct http_req *req, const char *name, json_t **body,
                           struct nph_error *err)
{
    json_t *m;
    char path[64];
    *body = http_req_json(req, err);
    if (!*body)
        return NULL;
    snprintf(path, sizeof(path), "%s", name);
    if (nph_json_get_obj(*body, name, path, 1, &m, err) < 0) {
        json_decref(*body);
        *body = NULL;
        return NULL;
    }
    return m;
}

static int ks_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_kind kind = route_kind(req);
    json_t *body, *attrs, *obj;
    if (need_admin(req, err))
        return -1;
    attrs = body_member(req, ident_kind_name(kind), &body, err);
    if (!attrs)
        return -1;
    if (kind == IDENT_REGION && req->params[0] && req->n_params == 1)
        json_object_set_new(attrs, "id", json_string(req->params[0]));
    if ((kind == IDENT_PROJECT || kind == IDENT_USER || kind == IDENT_GROUP) &&
        !json_object_get(attrs, "domain_id")) {
        const char *dom =
            caller(req)->scope == IDENT_SCOPE_DOMAIN
                ? caller(req)->scope_id
                : (caller(req)->scope == IDENT_SCOPE_PROJECT ? caller(req)->scope_domain_id
                                                             : "default");
        json_object_set_new(attrs, "domain_id", json_string(dom));
    }
    if (kind == IDENT_PROJECT && json_is_true(json_object_get(attrs, "is_domain"))) {
        json_decref(body);
        return nph_error_set(err, NPH_E_NOT_SUPPORTED,
                             "projects acting as domains are not supported; create a domain");
    }
    obj = local_identity_create(app_of(req)->identity, kind, attrs, err);
    json_decref(body);
    if (!obj)
        return -1;
    if (kind == IDENT_SERVICE || kind == IDENT_ENDPOINT || kind == IDENT_REGION)
        catalog_invalidate();
    nph_log(NPH_LOG_INFO, "identity.created", "kind", ident_kind_name(kind), "id",
            json_string_value(json_object_get(obj, "id")), "by", caller(req)->user_id, NULL);
    return reply_one(req, resp, 201, kind, obj);
}

static int ks_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_kind kind = route_kind(req);
    json_t *body, *attrs, *obj;
    if (need_admin(req, err))
        return -1;
    attrs = body_member(req, ident_kind_name(kind), &body, err);
    if (!attrs)
        return -1;
    obj = local_identity_update(app_of(req)->identity, kind, req->params[0], attrs, err);
    json_decref(body);
    if (!obj)
        return -1;
    if (kind == IDENT_SERVICE || kind == IDENT_ENDPOINT || kind == IDENT_REGION)
        catalog_invalidate();
    return reply_one(req, resp, 200, kind, obj);
}

static int ks_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_kind kind = route_kind(req);
    if (need_admin(req, err) ||
        local_identity_delete(app_of(req)->identity, kind, req->params[0], err))
        return -1;
    if (kind == IDENT_SERVICE || kind == IDENT_ENDPOINT || kind == IDENT_REGION)
        catalog_invalidate();
    nph_log(NPH_LOG_INFO, "identity.deleted", "kind", ident_kind_name(kind), "id", req->params[0],
            "by", caller(req)->user_id, NULL);
    resp->status = 204;
    return 0;
}

/* ---- users: own projects, groups, password ------------------------------------------------ */

static int self_or_admin(struct http_req *req, const char *user_id, struct nph_error *err)
{
    if (app_authenticate(req, err))
        return -1;
    if (!ident_token_is_admin(caller(req)) && strcmp(caller(req)->user_id, user_id) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "you are not authorized to perform the requested action");
    return 0;
}

static int ks_user_projects(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *list, *u;
    char self[256];
    if (self_or_admin(req, req->params[0], err))
        return -1;
    u = local_identity_get(app_of(req)->identity, IDENT_USER, req->params[0], err);
    if (!u)
        return -1;
    json_decref(u);
    list = local_identity_user_targets(app_of(req)->identity, req->params[0], IDENT_TARGET_PROJECT,
                                       err);
    snprintf(self, sizeof(self), KS_PREFIX "/users/%s/projects", req->params[0]);
    return list ? reply_list(req, resp, IDENT_PROJECT, list, self) : -1;
}

static int ks_user_groups(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *list;
    char self[256];
    if (self_or_admin(req, req->params[0], err))
        return -1;
    list = local_identity_user_groups(app_of(req)->identity, req->params[0], err);
    snprintf(self, sizeof(self), KS_PREFIX "/users/%s/groups", req->params[0]);
    return list ? reply_list(req, resp, IDENT_GROUP, list, self) : -1;
}

static int ks_user_password(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *body, *user;
    const char *orig, *pw;
    int rc = -1;
    user = body_member(req, "user", &body, err);
    if (!user)
        return -1;
    if (nph_json_get_str(user, "original_password", "user.original_password", 1, 4096, &orig, err) <
            0 ||
        nph_json_get_str(user, "password", "user.password", 1, 4096, &pw, err) < 0)
        goto cleanup;
    if (!*pw) {
        nph_error_set(err, NPH_E_INVALID, "'user.password' must not be empty");
        goto cleanup;
    }
    if (local_identity_change_password(app_of(req)->identity, req->params[0], orig, pw, err))
        goto cleanup;
    resp->status = 204;
    rc = 0;
cleanup:
    json_decref(body);
    return rc;
}

/* ---- groups -------------------------------------------------------------------------------- */

static int ks_group_users(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *list;
    char self[256];
    if (need_admin(req, err))
        return -1;
    list = local_identity_group_users(app_of(req)->identity, req->params[0], err);
    snprintf(self, sizeof(self), KS_PREFIX "/groups/%s/users", req->params[0]);
    return list ? reply_list(req, resp, IDENT_USER, list, self) : -1;
}

static int ks_group_member(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_identity *li = app_of(req)->identity;
    const char *g = req->params[0], *u = req->params[1];
    int rc;
    if (need_admin(req, err))
        return -1;
    if (strcmp(req->method, "PUT") == 0)
        rc = local_identity_group_add_user(li, g, u, err);
    else if (strcmp(req->method, "DELETE") == 0)
        rc = local_identity_group_remove_user(li, g, u, err);
    else {
        rc = local_identity_group_check_user(li, g, u, err);
        if (rc == 0)
            return nph_error_set(err, NPH_E_NOT_FOUND, "user '%s' is not in group '%s'", u, g);
        rc = rc < 0 ? -1 : 0;
    }
    if (rc)
        return -1;
    resp->status = 204;
    return 0;
}

/* ---- grants: /{projects|domains}/{t}/{users|groups}/{a}/roles[/{r}] -------------------- */

static void grant_parts(struct http_req *req, enum ident_target *tt, enum ident_actor *at)
{
    const char *p = req->route->pattern + strlen(KS_PREFIX "/");
    *tt = strncmp(p, "projects", 8) == 0 ? IDENT_TARGET_PROJECT : IDENT_TARGET_DOMAIN;
    *at = strstr(p, "/users/") ? IDENT_ACTOR_USER : IDENT_ACTOR_GROUP;
}

static int ks_grant_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    enum ident_target tt;
    enum ident_actor at;
    json_t *list;
    if (need_admin(req, err))
        return -1;
    grant_parts(req, &tt, &at);
    {
        json_t *t = local_identity_get(app_of(req)->identity,
                                       tt == IDENT_TARGET_PROJECT ? IDENT_PROJECT : IDENT_DOMAIN,
                                       req->params[0], err);
        json_t *a = t ? local_identity_get(app_of(req)->identity,
                                           at == IDENT_ACTOR_USER ? IDENT_USER : IDENT_GROUP,
                                           req->params[1], err)
                      : NULL;
        int ok = t && a;
        json_decref(t);
        json_decref(a);
        if (!ok)
            return -1;
    }
    list = local_identity_list_grants(app_of(req)->identity, at, req->params[1], tt, req->params[0],
                                      err);
    return list ? reply_list(req, resp, IDENT_ROLE, list, req->path) : -1;
}

static int ks_grant(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_identity *li = app_of(req)->identity;
    enum ident_target tt;
    enum ident_actor at;
    int rc;
    if (need_admin(req, err))
        return -1;
    grant_parts(req, &tt, &at);
    if (strcmp(req->method, "PUT") == 0) {
        rc = local_identity_grant(li, at, req->params[1], tt, req->params[0], req->params[2], err);
    } else if (strcmp(req->method, "DELETE") == 0) {
        rc = local_identity_revoke_grant(li, at, req->params[1], tt, req->params[0], req->params[2],
                                         err);
    } else {
        rc = local_identity_check_grant(li, at, req->params[1], tt, req->params[0], req->params[2],
                                        err);
        if (rc == 0)
            return nph_error_set(err, NPH_E_NOT_FOUND, "could not find role assignment");
        rc = rc < 0 ? -1 : 0;
    }
    if (rc)
        return -1;
    resp->status = 204;
    return 0;
}

static int ks_role_assignments(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    const char *user = http_req_query(req, "user.id");
    json_t *list, *links;
    if (app_authenticate(req, err))
        return -1;
    if (!ident_token_is_admin(caller(req)) && (!user || strcmp(user, caller(req)->user_id)))
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "you are not authorized to perform the requested action");
    list = local_identity_role_assignments(
        app_of(req)->identity, user, http_req_query(req, "group.id"),
        http_req_query(req, "scope.project.id"), http_req_query(req, "scope.domain.id"),
        http_req_query(req, "role.id"), http_req_query(req, "effective") != NULL,
        http_req_query(req, "include_names") != NULL &&
            strcmp(http_req_query(req, "include_names"), "0") != 0 &&
            strcasecmp(http_req_query(req, "include_names"), "false") != 0,
        err);
    if (!list)
        return -1;
    links = link_self(req, KS_PREFIX "/role_assignments");
    json_object_set_new(links, "previous", json_null());
    json_object_set_new(links, "next", json_null());
    return http_resp_json(resp, 200,
                          json_pack("{s:o,s:o}", "role_assignments", list, "links", links));
}

/* ---- application credentials ---------------------------------------------------------------- */

static int ks_app_cred_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *body, *attrs, *obj;
    if (app_authenticate(req, err))
        return -1;
    if (strcmp(caller(req)->user_id, req->params[0]) != 0)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "application credentials can only be created for oneself");
    attrs = body_member(req, "application_credential", &body, err);
    if (!attrs)
        return -1;
    obj = local_identity_app_cred_create(app_of(req)->identity, caller(req), attrs, err);
    json_decref(body);
    if (!obj)
        return -1;
    {
        /* Render roles as objects, as Keystone does. */
        json_t *ids = json_object_get(obj, "roles"), *roles = json_array(), *r;
        size_t i;
        json_array_foreach(ids, i, r)
        {
            for (int k = 0; k < caller(req)->n_roles; k++) {
                if (strcmp(caller(req)->roles[k].id, json_string_value(r)) == 0)
                    json_array_append_new(
                        roles, json_pack("{s:s,s:s,s:n}", "id", caller(req)->roles[k].id, "name",
                                         caller(req)->roles[k].name, "domain_id"));
            }
        }
        json_object_set_new(obj, "roles", roles);
    }
    return reply_one(req, resp, 201, IDENT_APP_CRED, obj);
}

static void app_cred_roles(struct http_req *req, json_t *obj)
{
    json_t *ids = json_object_get(obj, "roles"), *roles = json_array(), *r;
    size_t i;
    json_array_foreach(ids, i, r)
    {
        json_t *role = json_is_string(r) ? local_identity_get(app_of(req)->identity, IDENT_ROLE,
                                                              json_string_value(r), NULL)
                                         : NULL;
        if (role) {
            json_array_append_new(roles,
                                  json_pack("{s:O,s:O,s:O}", "id", json_object_get(role, "id"),
                                            "name", json_object_get(role, "name"), "domain_id",
                                            json_object_get(role, "domain_id")));
            json_decref(role);
        }
    }
    json_object_set_new(obj, "roles", roles);
}

static int ks_app_cred_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *filters, *list, *o;
    size_t i;
    char self[256];
    if (self_or_admin(req, req->params[0], err))
        return -1;
    filters = json_object();
    json_object_set_new(filters, "user_id", json_string(req->params[0]));
    if (http_req_query(req, "name"))
        json_object_set_new(filters, "name", json_string(http_req_query(req, "name")));
    list = local_identity_list(app_of(req)->identity, IDENT_APP_CRED, filters, err);
    json_decref(filters);
    if (!list)
        return -1;
    json_array_foreach(list, i, o) app_cred_roles(req, o);
    snprintf(self, sizeof(self), KS_PREFIX "/users/%s/application_credentials", req->params[0]);
    return reply_list(req, resp, IDENT_APP_CRED, list, self);
}

static json_t *own_app_cred(struct http_req *req, struct nph_error *err)
{
    json_t *obj;
    if (self_or_admin(req, req->params[0], err))
        return NULL;
    obj = local_identity_get(app_of(req)->identity, IDENT_APP_CRED, req->params[1], err);
    if (obj && strcmp(json_string_value(json_object_get(obj, "user_id")), req->params[0]) != 0) {
        json_decref(obj);
        nph_error_set(err, NPH_E_NOT_FOUND, "could not find application credential: %s",
                      req->params[1]);
        return NULL;
    }
    return obj;
}

static int ks_app_cred_get(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *obj = own_app_cred(req, err);
    if (!obj)
        return -1;
    app_cred_roles(req, obj);
    return reply_one(req, resp, 200, IDENT_APP_CRED, obj);
}

static int ks_app_cred_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *obj = own_app_cred(req, err);
    if (!obj)
        return -1;
    json_decref(obj);
    if (local_identity_delete(app_of(req)->identity, IDENT_APP_CRED, req->params[1], err))
        return -1;
    resp->status = 204;
    return 0;
}

#define KS NPH_FAULT_KEYSTONE
#define CRUD(plural)                                                                               \
    {"GET", KS_PREFIX "/" plural, ks_list, "identity." plural ".list", KS},                        \
        {"POST", KS_PREFIX "/" plural, ks_create, "identity." plural ".create", KS},               \
        {"GET", KS_PREFIX "/" plural "/{id}", ks_get, "identity." plural ".get", KS},              \
        {"PATCH", KS_PREFIX "/" plural "/{id}", ks_update, "identity." plural ".update", KS},      \
    {                                                                                              \
        "DELETE", KS_PREFIX "/" plural "/{id}", ks_delete, "identity." plural ".delete", KS        \
    }
#define GRANTS(t, a)                                                                               \
    {"GET", KS_PREFIX "/" t "/{t}/" a "/{a}/roles", ks_grant_list, "identity.grants.list", KS},    \
        {"PUT", KS_PREFIX "/" t "/{t}/" a "/{a}/roles/{r}", ks_grant, "identity.grants.put", KS},  \
        {"GET", KS_PREFIX "/" t "/{t}/" a "/{a}/roles/{r}", ks_grant, "identity.grants.check",     \
         KS},                                                                                      \
    {                                                                                              \
        "DELETE", KS_PREFIX "/" t "/{t}/" a "/{a}/roles/{r}", ks_grant, "identity.grants.delete",  \
            KS                                                                                     \
    }

const struct http_route compat_keystone_routes[] = {
    {"GET", "/identity", ks_versions, "identity.versions", KS},
    {"GET", KS_PREFIX, ks_version, "identity.version", KS},
    {"POST", KS_PREFIX "/auth/tokens", ks_token_issue, "identity.tokens.issue", KS},
    {"GET", KS_PREFIX "/auth/tokens", ks_token_validate, "identity.tokens.validate", KS},
    {"DELETE", KS_PREFIX "/auth/tokens", ks_token_revoke, "identity.tokens.revoke", KS},
    {"GET", KS_PREFIX "/auth/catalog", ks_auth_catalog, "identity.auth.catalog", KS},
    {"GET", KS_PREFIX "/auth/projects", ks_auth_projects, "identity.auth.projects", KS},
    {"GET", KS_PREFIX "/auth/domains", ks_auth_domains, "identity.auth.domains", KS},
    {"GET", KS_PREFIX "/auth/system", ks_auth_system, "identity.auth.system", KS},
    CRUD("domains"),
    CRUD("projects"),
    CRUD("users"),
    CRUD("groups"),
    CRUD("roles"),
    CRUD("regions"),
    {"PUT", KS_PREFIX "/regions/{id}", ks_create, "identity.regions.create", KS},
    CRUD("services"),
    CRUD("endpoints"),
    {"GET", KS_PREFIX "/users/{id}/projects", ks_user_projects, "identity.users.projects", KS},
    {"GET", KS_PREFIX "/users/{id}/groups", ks_user_groups, "identity.users.groups", KS},
    {"POST", KS_PREFIX "/users/{id}/password", ks_user_password, "identity.users.password", KS},
    {"GET", KS_PREFIX "/users/{id}/application_credentials", ks_app_cred_list,
     "identity.app_creds.list", KS},
    {"POST", KS_PREFIX "/users/{id}/application_credentials", ks_app_cred_create,
     "identity.app_creds.create", KS},
    {"GET", KS_PREFIX "/users/{id}/application_credentials/{ac}", ks_app_cred_get,
     "identity.app_creds.get", KS},
    {"DELETE", KS_PREFIX "/users/{id}/application_credentials/{ac}", ks_app_cred_delete,
     "identity.app_creds.delete", KS},
    {"GET", KS_PREFIX "/groups/{id}/users", ks_group_users, "identity.groups.users", KS},
    {"PUT", KS_PREFIX "/groups/{id}/users/{u}", ks_group_member, "identity.groups.add", KS},
    {"GET", KS_PREFIX "/groups/{id}/users/{u}", ks_group_member, "identity.groups.check", KS},
    {"DELETE", KS_PREFIX "/groups/{id}/users/{u}", ks_group_member, "identity.groups.remove", KS},
    GRANTS("projects", "users"),
    GRANTS("projects", "groups"),
    GRANTS("domains", "users"),
    GRANTS("domains", "groups"),
    {"GET", KS_PREFIX "/role_assignments", ks_role_assignments, "identity.role_assignments", KS},
    {NULL, NULL, NULL, NULL, 0},
};
