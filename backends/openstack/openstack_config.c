/*
 * openstack_config.c - a cloud's configuration for the `openstack` kind: the keys of its entry
 * in Nephele's `clouds:` list, merged over the entry of an OpenStack clouds.yaml when `cloud`
 * names one (inline keys win, `auth` merged key by key), validated into struct os_config.
 *
 * Top-level keys that belong to the broker (labels, prices, regions, ...) are ignored; keys
 * inside `auth` must be known, so that a misspelt credential is an error, not a silent
 * fallback. Secrets are wiped when the config is released.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "openstack_internal.h"

static const char *const auth_keys[] = {
    "auth_url",
    "username",
    "password",
    "user_id",
    "project_name",
    "project_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    NULL,
};

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void os_config_fini(struct os_config *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->auth_url);
    free(c->username);
    free(c->user_id);
    free_secret(c->password);
    free(c->project_name);
    free(c->project_id);
    free(c->user_domain_name);
    free(c->user_domain_id);
    free(c->project_domain_name);
    free(c->project_domain_id);
    free(c->app_cred_id);
    free(c->app_cred_name);
    free_secret(c->app_cred_secret);
    free(c->region);
    free(c->interface);
    free(c->cacert);
    free(c->network_id);
    free(c->source);
    memset(c, 0, sizeof(*c));
}

/* An optional string key of `obj` ("" counts as absent) duplicated into *out. */
static int take_str(const json_t *obj, const char *key, const char *path, char **out,
                    struct nph_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a string", path);
    if (json_string_length(v) > 4096 || strlen(json_string_value(v)) != json_string_length(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' is too long or holds a NUL byte", path);
    if (!json_string_length(v))
        return 0;
    if (!(*out = strdup(json_string_value(v))))
        return nph_error_nomem(err);
    return 0;
}

static int is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        int hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                  (s[i] >= 'A' && s[i] <= 'F');
        if (shape[i] == '-' ? s[i] != '-' : !hex)
            return 0;
    }
    return 1;
}

/* The effective auth object: the clouds.yaml entry's, overridden key by key by the inline
 * one. New reference. */
static json_t *merged_auth(const json_t *file_entry, const json_t *inline_auth)
{
    json_t *auth = json_object();
    const json_t *fa = json_object_get(file_entry, "auth");
    if (!auth)
        return NULL;
    if (json_is_object(fa))
        json_object_update(auth, (json_t *)fa);
    if (json_is_object(inline_auth))
        json_object_update(auth, (json_t *)inline_auth);
    return auth;
}

/* Check who authenticates and in which project: the error names what is missing. */
static int check_auth(const struct os_config *c, const char *where, struct nph_error *err)
{
    if (!c->auth_url)
        return nph_error_set(err, NPH_E_INVALID, "%s: missing 'auth.auth_url'", where);
    if (strncmp(c->auth_url, "http://", 7) != 0 && strncmp(c->auth_url, "https://", 8) != 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "%s: 'auth.auth_url' must be an http:// or https:// URL", where);
    int named_user = c->username && !c->user_id;
    if (c->auth_type == OS_AUTH_APPCRED) {
        if (!c->app_cred_secret)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: missing 'auth.application_credential_secret'", where);
        if (c->app_cred_id)
            return 0;
        if (!c->app_cred_name)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: missing 'auth.application_credential_id' (or "
                                 "'auth.application_credential_name' with the user)",
                                 where);
        if (!c->user_id && !c->username)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: 'auth.application_credential_name' needs 'auth.user_id' "
                                 "or 'auth.username'",
                                 where);
    } else {
        if (!c->username && !c->user_id)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: missing 'auth.username' (or 'auth.user_id')", where);
        if (!c->password)
            return nph_error_set(err, NPH_E_INVALID, "%s: missing 'auth.password'", where);
        if (!c->project_id && !c->project_name)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: missing 'auth.project_name' (or 'auth.project_id')", where);
        if (!c->project_id && !c->project_domain_name && !c->project_domain_id)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: 'auth.project_name' needs 'auth.project_domain_name' or "
                                 "'auth.project_domain_id'",
                                 where);
    }
    if (named_user && !c->user_domain_name && !c->user_domain_id)
        return nph_error_set(err, NPH_E_INVALID,
                             "%s: 'auth.username' needs 'auth.user_domain_name' or "
                             "'auth.user_domain_id'",
                             where);
    return 0;
}

/* A key of the effective settings: inline first, then the clouds.yaml entry. Borrowed. */
static const json_t *setting(const json_t *config, const json_t *file_entry, const char *key)
{
    const json_t *v = json_object_get(config, key);
    return v ? v : json_object_get(file_entry, key);
}

static int parse_settings(const json_t *config, const json_t *file, struct os_config *c,
                          const char *where, struct nph_error *err)
{
    json_t *tmp = json_object();
    int rc = -1;
    if (!tmp)
        return nph_error_nomem(err);
    /* Gather the top-level settings into one object so that take_str can read them. */
    static const char *const keys[] = {"auth_type", "region_name", "interface", "cacert",
                                       "network",   "verify",      "timeout_ms"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = setting(config, file, keys[i]);
        if (v)
            json_object_set(tmp, keys[i], (json_t *)v);
    }
    char *auth_type = NULL, *network = NULL;
    if (take_str(tmp, "auth_type", "auth_type", &auth_type, err) ||
        take_str(tmp, "region_name", "region_name", &c->region, err) ||
        take_str(tmp, "interface", "interface", &c->interface, err) ||
        take_str(tmp, "cacert", "cacert", &c->cacert, err) ||
        take_str(tmp, "network", "network", &network, err))
        goto cleanup;

    if (!auth_type || strcmp(auth_type, "password") == 0 || strcmp(auth_type, "v3password") == 0) {
        c->auth_type = OS_AUTH_PASSWORD;
    } else if (strcmp(auth_type, "v3applicationcredential") == 0) {
        c->auth_type = OS_AUTH_APPCRED;
    } else {
        nph_error_set(err, NPH_E_INVALID,
                      "%s: 'auth_type' must be 'password' or 'v3applicationcredential', not "
                      "'%.64s'",
                      where, auth_type);
        goto cleanup;
    }
    if (!c->interface && !(c->interface = strdup("public"))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (strcmp(c->interface, "public") && strcmp(c->interface, "internal") &&
        strcmp(c->interface, "admin")) {
        nph_error_set(err, NPH_E_INVALID,
                      "%s: 'interface' must be public, internal or admin, not '%.32s'", where,
                      c->interface);
        goto cleanup;
    }
    const json_t *verify = json_object_get(tmp, "verify");
    c->verify = 1;
    if (verify && !json_is_null(verify)) {
        if (!json_is_boolean(verify)) {
            nph_error_set(err, NPH_E_INVALID, "%s: 'verify' must be true or false", where);
            goto cleanup;
        }
        c->verify = json_is_true(verify);
    }
    if (c->cacert && access(c->cacert, R_OK) != 0) {
        nph_error_set(err, NPH_E_INVALID, "%s: 'cacert' file '%.200s' cannot be read", where,
                      c->cacert);
        goto cleanup;
    }
    const json_t *to = json_object_get(tmp, "timeout_ms");
    if (to && !json_is_null(to)) {
        if (!json_is_integer(to) || json_integer_value(to) < 1 ||
            json_integer_value(to) > 3600000) {
            nph_error_set(err, NPH_E_INVALID,
                          "%s: 'timeout_ms' must be an integer from 1 to 3600000", where);
            goto cleanup;
        }
        c->timeout_ms = (long)json_integer_value(to);
    }
    if (!network || strcmp(network, "none") == 0) {
        c->net_mode = OS_NET_NONE;
    } else if (strcmp(network, "auto") == 0) {
        c->net_mode = OS_NET_AUTO;
    } else if (is_uuid(network)) {
        c->net_mode = OS_NET_UUID;
        c->network_id = network;
        network = NULL;
    } else {
        nph_error_set(err, NPH_E_INVALID,
                      "%s: 'network' must be 'none', 'auto' or a network UUID, not '%.64s'", where,
                      network);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(auth_type);
    free(network);
    json_decref(tmp);
    return rc;
}

int os_config_parse(const json_t *config, struct os_config *out, struct nph_error *err)
{
    struct os_config c = {0};
    json_t *file = NULL, *auth = NULL;
    char where[200];
    int rc = -1;

    if (!json_is_object(config))
        return nph_error_set(err, NPH_E_INVALID, "a cloud's config must be an object");
    if (take_str(config, "name", "name", &c.name, err))
        goto cleanup;
    snprintf(where, sizeof(where), "cloud '%.64s'", c.name ? c.name : "?");

    const json_t *inline_auth = json_object_get(config, "auth");
    if (inline_auth && !json_is_object(inline_auth)) {
        nph_error_set(err, NPH_E_INVALID, "%s: 'auth' must be an object", where);
        goto cleanup;
    }
    char *cloud = NULL, *cy = NULL;
    if (take_str(config, "cloud", "cloud", &cloud, err) ||
        take_str(config, "clouds_yaml", "clouds_yaml", &cy, err)) {
        free(cloud);
        goto cleanup;
    }
    if (cloud) {
        file = os_clouds_yaml_find(cloud, cy, &c.source, err);
        free(cloud);
        free(cy);
        if (!file) {
            nph_error_prefix(err, "%s", where);
            goto cleanup;
        }
        if (!json_is_object(file)) {
            nph_error_set(err, NPH_E_INVALID, "%s: the entry in '%.120s' is not a mapping", where,
                          c.source);
            goto cleanup;
        }
        snprintf(where, sizeof(where), "cloud '%.64s' (%.120s)", c.name ? c.name : "?", c.source);
    } else {
        free(cy);
        if (!inline_auth) {
            nph_error_set(err, NPH_E_INVALID,
                          "%s: missing 'auth' (or 'cloud' naming a "
                          "clouds.yaml entry)",
                          where);
            goto cleanup;
        }
    }
    if (!(auth = merged_auth(file, inline_auth))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    const char *key;
    json_t *v;
    json_object_foreach(auth, key, v)
    {
        size_t i = 0;
        while (auth_keys[i] && strcmp(auth_keys[i], key) != 0)
            i++;
        if (!auth_keys[i]) {
            nph_error_set(err, NPH_E_INVALID, "%s: unknown key 'auth.%.64s'", where, key);
            goto cleanup;
        }
    }
    char path[64];
#define AUTH(key, field)                                                                           \
    (snprintf(path, sizeof(path), "auth.%s", key), take_str(auth, key, path, &c.field, err))
    if (AUTH("auth_url", auth_url) || AUTH("username", username) || AUTH("password", password) ||
        AUTH("user_id", user_id) || AUTH("project_name", project_name) ||
        AUTH("project_id", project_id) || AUTH("user_domain_name", user_domain_name) ||
        AUTH("user_domain_id", user_domain_id) ||
        AUTH("project_domain_name", project_domain_name) ||
        AUTH("project_domain_id", project_domain_id) ||
        AUTH("application_credential_id", app_cred_id) ||
        AUTH("application_credential_name", app_cred_name) ||
        AUTH("application_credential_secret", app_cred_secret)) {
        nph_error_prefix(err, "%s", where);
        goto cleanup;
    }
#undef AUTH
    if (parse_settings(config, file, &c, where, err) != 0)
        goto cleanup;
    if (check_auth(&c, where, err) != 0)
        goto cleanup;
    /* "https://keystone/v3/" -> "https://keystone/v3"; a versionless URL gets "/v3". */
    size_t n = strlen(c.auth_url);
    while (n > 0 && c.auth_url[n - 1] == '/')
        c.auth_url[--n] = '\0';
    if (n < 3 || strcmp(c.auth_url + n - 3, "/v3") != 0) {
        char *v3 = malloc(n + 4);
        if (!v3) {
            nph_error_nomem(err);
            goto cleanup;
        }
        memcpy(v3, c.auth_url, n);
        memcpy(v3 + n, "/v3", 4);
        free(c.auth_url);
        c.auth_url = v3;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
cleanup:
    json_decref(auth);
    json_decref(file);
    os_config_fini(&c);
    return rc;
}
