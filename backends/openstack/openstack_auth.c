/*
 * openstack_auth.c - Keystone v3 for the `openstack` driver: the POST /auth/tokens body
 * (password or application credential), the token response (X-Subject-Token, expires_at, the
 * catalog), endpoint selection by service type, region and interface, and the token cache
 * shared by every thread calling the backend.
 *
 * The cache lives in struct os_backend under its mutex, which is never held during HTTP: a
 * call takes a snapshot of the token and endpoints (os_call_session), authenticating first when
 * the cached token is missing or within a minute of expiry. One thread authenticates at a
 * time; the others wait on a condition variable for its token (or for their call's budget).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "nph_clock.h"
#include "nph_json.h"
#include "openstack_internal.h"

static const char *const svc_names[OS_SVC_COUNT] = {
    [OS_SVC_COMPUTE] = "compute", [OS_SVC_IMAGE] = "image",     [OS_SVC_VOLUME] = "volume",
    [OS_SVC_OBJECT] = "object",   [OS_SVC_NETWORK] = "network", [OS_SVC_IDENTITY] = "identity",
};

/* Catalog types per service, in order of preference. */
static const char *const svc_types[OS_SVC_COUNT][3] = {
    [OS_SVC_COMPUTE] = {"compute", NULL},
    [OS_SVC_IMAGE] = {"image", NULL},
    [OS_SVC_VOLUME] = {"block-storage", "volumev3", NULL},
    [OS_SVC_OBJECT] = {"object-store", NULL},
    [OS_SVC_NETWORK] = {"network", NULL},
    [OS_SVC_IDENTITY] = {"identity", NULL},
};

const char *os_service_name(enum os_service svc)
{
    return (unsigned)svc < OS_SVC_COUNT ? svc_names[svc] : "?";
}

void os_endpoints_fini(struct os_endpoints *ep)
{
    for (int i = 0; ep && i < OS_SVC_COUNT; i++) {
        free(ep->url[i]);
        ep->url[i] = NULL;
    }
}

static char *dup_trimmed(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, url, n);
        s[n] = '\0';
    }
    return s;
}

int os_catalog_find(const json_t *catalog, const char *type, const char *region,
                    const char *interface, char **url, struct nph_error *err)
{
    size_t i, k;
    const json_t *svc, *ep;
    if (!json_is_array(catalog))
        return nph_error_set(err, NPH_E_BACKEND, "the catalog is not an array");
    json_array_foreach(catalog, i, svc)
    {
        const char *t = json_string_value(json_object_get(svc, "type"));
        const json_t *eps = json_object_get(svc, "endpoints");
        if (!json_is_object(svc) || !t)
            return nph_error_set(err, NPH_E_BACKEND, "catalog entry %zu has no 'type'", i);
        if (strcmp(t, type) != 0)
            continue;
        if (!json_is_array(eps))
            return nph_error_set(err, NPH_E_BACKEND,
                                 "catalog entry '%.32s' has no 'endpoints' array", t);
        json_array_foreach(eps, k, ep)
        {
            const char *u = json_string_value(json_object_get(ep, "url"));
            const char *itf = json_string_value(json_object_get(ep, "interface"));
            const char *r = json_string_value(json_object_get(ep, "region_id"));
            if (!r)
                r = json_string_value(json_object_get(ep, "region"));
            if (!u || !itf)
                return nph_error_set(err, NPH_E_BACKEND,
                                     "an endpoint of '%.32s' lacks 'url' or 'interface'", t);
            if (strcmp(itf, interface) != 0 || (region && (!r || strcmp(r, region) != 0)))
                continue;
            if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
                return nph_error_set(err, NPH_E_BACKEND,
                                     "the '%.32s' endpoint is not an http(s) URL", t);
            if (!(*url = dup_trimmed(u)))
                return nph_error_nomem(err);
            return 0;
        }
    }
    return 1;
}

int os_catalog_endpoints(const json_t *catalog, const char *region, const char *interface,
                         struct os_endpoints *out, struct nph_error *err)
{
    struct os_endpoints ep = {0};
    for (int s = 0; s < OS_SVC_COUNT; s++) {
        for (int t = 0; svc_types[s][t] && !ep.url[s]; t++) {
            if (os_catalog_find(catalog, svc_types[s][t], region, interface, &ep.url[s], err) < 0) {
                os_endpoints_fini(&ep);
                return -1;
            }
        }
    }
    *out = ep;
    return 0;
}

/* {"id": id} or {"name": name, "domain": {"id"|"name": ...}}; NULL on ENOMEM. */
static json_t *named(const char *id, const char *name, const char *dom_id, const char *dom_name)
{
    if (id)
        return json_pack("{s:s}", "id", id);
    return json_pack("{s:s,s:{s:s}}", "name", name, "domain", dom_id ? "id" : "name",
                     dom_id ? dom_id : dom_name);
}

json_t *os_auth_body(const struct os_config *c)
{
    json_t *identity;
    if (c->auth_type == OS_AUTH_APPCRED) {
        json_t *ac = json_pack("{s:s}", "secret", c->app_cred_secret);
        if (ac && c->app_cred_id) {
            json_object_set_new(ac, "id", json_string(c->app_cred_id));
        } else if (ac) {
            json_object_set_new(ac, "name", json_string(c->app_cred_name));
            json_object_set_new(
                ac, "user", named(c->user_id, c->username, c->user_domain_id, c->user_domain_name));
        }
        identity = json_pack("{s:[s],s:o*}", "methods", "application_credential",
                             "application_credential", ac);
        /* an application credential carries its own project: no scope may be asked */
        return identity ? json_pack("{s:{s:o}}", "auth", "identity", identity) : NULL;
    }
    json_t *user = named(c->user_id, c->username, c->user_domain_id, c->user_domain_name);
    if (user)
        json_object_set_new(user, "password", json_string(c->password));
    identity = json_pack("{s:[s],s:{s:o*}}", "methods", "password", "password", "user", user);
    json_t *project =
        named(c->project_id, c->project_name, c->project_domain_id, c->project_domain_name);
    return json_pack("{s:{s:o*,s:{s:o*}}}", "auth", "identity", identity, "scope", "project",
                     project);
}

void os_token_fini(struct os_token *t)
{
    if (!t)
        return;
    if (t->id) {
        OPENSSL_cleanse(t->id, strlen(t->id));
        free(t->id);
    }
    os_endpoints_fini(&t->ep);
    memset(t, 0, sizeof(*t));
}

int os_token_parse(const char *cloud, const char *subject_token, const char *body, size_t len,
                   const char *region, const char *interface, struct os_token *out,
                   struct nph_error *err)
{
    struct os_token t = {0};
    struct nph_error perr = NPH_ERROR_INIT;
    const char *why = NULL;
    json_t *doc = NULL;

    if (!subject_token || !*subject_token || strlen(subject_token) > 8192) {
        why = "no usable X-Subject-Token header";
        goto garbage;
    }
    if (!(doc = nph_json_parse(body, len, 64, 1, &perr))) {
        why = perr.msg;
        goto garbage;
    }
    const json_t *tok = json_object_get(doc, "token");
    const char *exp = json_string_value(json_object_get(tok, "expires_at"));
    const json_t *catalog = json_object_get(tok, "catalog");
    if (!json_is_object(tok)) {
        why = "no 'token' object";
        goto garbage;
    }
    if (!exp || nph_time_parse(exp, &t.expires_at) != 0) {
        why = "'token.expires_at' is missing or not a time";
        goto garbage;
    }
    if (!catalog) {
        why = "the token has no catalog (is the user allowed a project-scoped token?)";
        goto garbage;
    }
    if (os_catalog_endpoints(catalog, region, interface, &t.ep, &perr) != 0) {
        if (perr.code == NPH_E_NOMEM)
            goto nomem;
        why = perr.msg;
        goto garbage;
    }
    if (!(t.id = strdup(subject_token)))
        goto nomem;
    snprintf(t.project_id, sizeof(t.project_id), "%s",
             json_string_value(json_object_get(json_object_get(tok, "project"), "id"))
                 ? json_string_value(json_object_get(json_object_get(tok, "project"), "id"))
                 : "");
    json_decref(doc);
    *out = t;
    return 0;
nomem:
    json_decref(doc);
    os_token_fini(&t);
    return nph_error_nomem(err);
garbage : {
    char reason[NPH_ERR_MSG_MAX];
    snprintf(reason, sizeof(reason), "%s", why);
    json_decref(doc);
    os_token_fini(&t);
    return os_garbage(err, cloud, "POST", "/auth/tokens", reason);
}
}

int os_microversion_parse(const char *s)
{
    int major = 0, minor = 0, n = 0;
    if (!s)
        return -1;
    for (; *s >= '0' && *s <= '9' && major < 100; s++, n++)
        major = major * 10 + (*s - '0');
    if (!n || *s++ != '.')
        return -1;
    for (n = 0; *s >= '0' && *s <= '9' && minor < 1000; s++, n++)
        minor = minor * 10 + (*s - '0');
    if (!n || *s || minor >= 1000)
        return -1;
    return major * 1000 + minor;
}

char *os_image_root(const char *url)
{
    char *u = dup_trimmed(url);
    if (!u)
        return NULL;
    /* drop a version suffix ("/v2", "/v2.1", "/v1") so that exactly "/v2" is appended */
    char *slash = strrchr(u, '/');
    if (slash && slash[1] == 'v' && slash[2] >= '0' && slash[2] <= '9' &&
        strspn(slash + 2, "0123456789.") == strlen(slash + 2))
        *slash = '\0';
    size_t n = strlen(u);
    char *r = realloc(u, n + 4);
    if (!r) {
        free(u);
        return NULL;
    }
    memcpy(r + n, "/v2", 4);
    return r;
}

/* Authenticate and install the new token as the session's. */
static int authenticate(struct os_call *call, struct nph_error *err)
{
    struct os_backend *os = call->os;
    struct nph_http_response resp = {0};
    struct os_token t = {0};
    char url[2200];
    int rc = -1;

    json_t *body = os_auth_body(&os->cfg);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return nph_error_nomem(err);
    snprintf(url, sizeof(url), "%s/auth/tokens", os->cfg.auth_url);
    const struct nph_http_header h[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
    };
    long budget = 0;
    if (call->deadline) {
        budget = (long)((call->deadline - nph_clock_mono()) / 1000);
        if (budget <= 0) {
            OPENSSL_cleanse(text, strlen(text));
            free(text);
            return nph_error_set(err, NPH_E_TIMEOUT, "cloud '%s': no time left to authenticate",
                                 os->cfg.name);
        }
    }
    rc = nph_http_request_timeout(os->http, budget, "POST", url, h, 2, text, strlen(text), &resp,
                                  err);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc != 0) {
        nph_error_prefix(err, "cloud '%s': authenticating", os->cfg.name);
        return -1;
    }
    rc = -1;
    if (resp.status < 200 || resp.status > 299) {
        os_fault_error(os->cfg.name, resp.status, "POST", "/auth/tokens", resp.body, resp.body_len,
                       err);
        goto cleanup;
    }
    if (os_token_parse(os->cfg.name, nph_http_response_header(&resp, "X-Subject-Token"), resp.body,
                       resp.body_len, os->cfg.region, os->cfg.interface, &t, err) != 0)
        goto cleanup;

    unsigned fam = (t.ep.url[OS_SVC_COMPUTE] ? NPH_FAM_COMPUTE | NPH_FAM_USAGE : 0) |
                   (t.ep.url[OS_SVC_IMAGE] ? NPH_FAM_IMAGE : 0) |
                   (t.ep.url[OS_SVC_VOLUME] ? NPH_FAM_VOLUME : 0) |
                   (t.ep.url[OS_SVC_OBJECT] ? NPH_FAM_OBJECT : 0);
    pthread_mutex_lock(&os->mu);
    os_token_fini(&os->tok);
    os->tok = t;
    os->gen++;
    pthread_mutex_unlock(&os->mu);
    memset(&t, 0, sizeof(t));
    /* families follow the catalog; the broker reads the mask without our lock */
    __atomic_store_n(&os->b->families, fam, __ATOMIC_RELAXED);
    rc = 0;
cleanup:
    nph_http_response_fini(&resp);
    return rc;
}

static int token_valid(const struct os_backend *os, int64_t margin)
{
    return os->gen && os->tok.id && os->tok.expires_at - margin > nph_clock_now();
}

/* Copy the cached session into the call (os->mu held). -1 on ENOMEM. */
static int snapshot_locked(struct os_call *call)
{
    struct os_backend *os = call->os;
    os_call_fini(call);
    call->gen = os->gen;
    call->compute_mv = os->compute_mv;
    memcpy(call->project_id, os->tok.project_id, sizeof(call->project_id));
    if (!(call->token = strdup(os->tok.id)) ||
        (os->compute_url && !(call->compute_url = strdup(os->compute_url))))
        return -1;
    for (int i = 0; i < OS_SVC_COUNT; i++)
        if (os->tok.ep.url[i] && !(call->ep.url[i] = strdup(os->tok.ep.url[i])))
            return -1;
    return 0;
}

/* Wait for another thread's authentication (os->mu held); -1 when the call's budget ends. */
static int wait_for_auth(struct os_call *call)
{
    struct os_backend *os = call->os;
    if (!call->deadline) {
        pthread_cond_wait(&os->cv, &os->mu);
        return 0;
    }
    int64_t left = call->deadline - nph_clock_mono();
    struct timespec ts;
    if (left <= 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left / 1000000);
    ts.tv_nsec += (long)(left % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&os->cv, &os->mu, &ts) == ETIMEDOUT ? -1 : 0;
}

int os_call_session(struct os_call *call, struct nph_error *err)
{
    struct os_backend *os = call->os;
    /* A call starts with a token good for another minute; once started it keeps its token
     * until the token really expires (or a 401 says otherwise). */
    int64_t margin = call->token ? 0 : OS_TOKEN_MARGIN_US;
    int rc;

    pthread_mutex_lock(&os->mu);
    if (call->token && call->gen == os->gen && token_valid(os, 0)) {
        pthread_mutex_unlock(&os->mu);
        return 0;
    }
    /* one thread authenticates at a time; the others wait for its token */
    while (os->authenticating && !token_valid(os, margin)) {
        if (wait_for_auth(call) != 0) {
            pthread_mutex_unlock(&os->mu);
            return nph_error_set(err, NPH_E_TIMEOUT,
                                 "cloud '%s': out of time waiting for authentication",
                                 os->cfg.name);
        }
    }
    if (token_valid(os, margin)) {
        rc = snapshot_locked(call);
        pthread_mutex_unlock(&os->mu);
        return rc == 0 ? 0 : nph_error_nomem(err);
    }
    os->authenticating = 1;
    pthread_mutex_unlock(&os->mu);

    rc = authenticate(call, err);

    pthread_mutex_lock(&os->mu);
    os->authenticating = 0;
    pthread_cond_broadcast(&os->cv);
    /* a fresh token is used even when the cloud issues them for less than the margin */
    if (rc == 0 && !token_valid(os, 0))
        rc = nph_error_set(err, NPH_E_BACKEND, "cloud '%s' issued a token that has expired",
                           os->cfg.name);
    else if (rc == 0 && snapshot_locked(call) != 0)
        rc = nph_error_nomem(err);
    pthread_mutex_unlock(&os->mu);
    return rc;
}
