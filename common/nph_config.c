/*
 * nph_config.c - the daemon's configuration as one table (see nph_config.h).
 *
 * config_table below has one row per field of struct nph_config: dotted key, type, offset,
 * default text, integer range, fixed choices and a one-line doc. Everything else is driven by
 * it: nph_config_init parses the default texts, the YAML loader walks nested mappings into
 * dotted keys and looks rows up, the environment loader derives NEPHELE_* names, and
 * nph_config_sample prints the rows as a commented YAML file. A few string keys have a
 * syntactic check beyond the table (listen, store.url, public_url), in config_check_str.
 *
 * Every source is applied to a deep copy of the configuration which replaces the caller's only
 * when the whole source was accepted, so a failed load leaves cfg exactly as it was.
 */
#include "nph_config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#define CONFIG_MAX_FILE_BYTES (4 * 1024 * 1024)
#define CONFIG_MAX_KEY_LEN    128
#define CONFIG_WHY_LEN        200

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

#define STR_ROW(k, field, def, choices, doc)                                                       \
    {                                                                                              \
        k, NPH_CFG_STR, offsetof(struct nph_config, field), def, 0, 0, choices, doc                \
    }
#define INT_ROW(k, field, def, lo, hi, doc)                                                        \
    {                                                                                              \
        k, NPH_CFG_INT, offsetof(struct nph_config, field), def, lo, hi, NULL, doc                 \
    }

/* Rows are grouped by section, top-level keys first: nph_config_sample relies on it. */
static const struct nph_config_key config_table[] = {
    STR_ROW("listen", listen, NPH_DEFAULT_LISTEN, NULL,
            "address the API listens on, HOST:PORT ([v6]:PORT for IPv6; port 0 = any free port)"),
    STR_ROW("public_url", public_url, "", NULL,
            "base URL advertised in the service catalog; empty = http://<listen>"),
    STR_ROW("data_dir", data_dir, "./data", NULL,
            "directory for the SQLite store, token keys and local state"),
    STR_ROW("log.level", log_level, "info", log_levels, "minimum level written to the log"),
    STR_ROW("log.format", log_format, "text", log_formats,
            "log line format: key=value text or one JSON object per line"),
    STR_ROW("store.url", store_url, "", NULL,
            "sqlite:///abs/path.db or postgresql://user:pw@host:port/db; "
            "empty = <data_dir>/nephele.db"),
    INT_ROW("store.pool_size", store_pool_size, "8", 1, 256, "store connections per process"),
    INT_ROW("http.threads", http_threads, "0", 0, 1024, "HTTP worker threads; 0 = one per CPU"),
    INT_ROW("http.max_body_bytes", http_max_body_bytes, "1048576", 1024, 1073741824,
            "largest request body accepted, in bytes (larger: 413)"),
    INT_ROW("http.max_header_bytes", http_max_header_bytes, "16384", 1024, 1048576,
            "largest request head (request line and headers) accepted, in bytes"),
    INT_ROW("http.max_json_depth", http_max_json_depth, "32", 1, 512,
            "deepest nesting of arrays and objects accepted in a JSON body"),
    INT_ROW("http.connection_timeout", http_connection_timeout, "30", 1, 3600,
            "seconds an idle client connection is kept open"),
    STR_ROW("identity.region", identity_region, "RegionOne", NULL,
            "region name advertised in the service catalog"),
    INT_ROW("identity.token_lifetime", identity_token_lifetime, "3600", 60, 604800,
            "seconds a newly issued token stays valid"),
    STR_ROW("identity.token_keys_dir", identity_token_keys_dir, "", NULL,
            "directory of the token signing keys; empty = <data_dir>/token-keys"),
    INT_ROW("identity.max_active_keys", identity_max_active_keys, "3", 2, 64,
            "token keys kept on rotation (primary, staged and secondaries)"),
    INT_ROW("identity.password_hash_iterations", identity_password_hash_iterations, "100000", 1000,
            10000000, "PBKDF2-HMAC-SHA256 iterations for newly set passwords"),
    INT_ROW("identity.lockout_failure_attempts", identity_lockout_failure_attempts, "0", 0, 1000,
            "failed logins before a user is locked out; 0 = never"),
    INT_ROW("identity.lockout_duration", identity_lockout_duration, "1800", 1, 31536000,
            "seconds a locked-out user stays locked"),
    INT_ROW("identity.unique_last_password_count", identity_unique_last_password_count, "0", 0, 64,
            "a new password must differ from this many previous ones; 0 = no history"),
    STR_ROW("compute.libvirt_uri", compute_libvirt_uri, "test:///default", NULL,
            "libvirt connection URI of the native compute service"),
    STR_ROW("federation.default_cloud", federation_default_cloud, "", NULL,
            "cloud that gets a create naming none; empty = the first of `clouds`"),
    STR_ROW("federation.master_key_file", federation_master_key_file, "", NULL,
            "32-byte key sealing stored cloud credentials; empty = <data_dir>/master.key"),
    INT_ROW("federation.call_timeout_ms", federation_call_timeout_ms, "30000", 100, 600000,
            "time budget of one call to a cloud, in milliseconds"),
    INT_ROW("federation.health_interval", federation_health_interval, "10", 1, 3600,
            "seconds between health probes of each cloud"),
    INT_ROW("federation.breaker_failures", federation_breaker_failures, "3", 1, 1000,
            "consecutive failed calls or probes that open a cloud's circuit breaker"),
    INT_ROW("federation.breaker_cooldown", federation_breaker_cooldown, "30", 1, 86400,
            "seconds an open breaker fails fast before a probe may close it"),
    INT_ROW("federation.reconcile_interval", federation_reconcile_interval, "60", 0, 86400,
            "seconds between reconciliations of records with each cloud; 0 = never"),
    INT_ROW("federation.poll_interval_ms", federation_poll_interval_ms, "1000", 10, 60000,
            "milliseconds between status polls of an operation in progress"),
    INT_ROW("federation.workers", federation_workers, "4", 1, 64,
            "threads running federated operations"),
    INT_ROW("billing.budget_check_interval", billing_budget_check_interval, "300", 0, 86400,
            "seconds between checks of the budgets' thresholds; 0 = only after placements"),
    STR_ROW("billing.alert_webhook", billing_alert_webhook, "", NULL,
            "URL that receives each budget alert as a JSON POST; empty = none"),
    INT_ROW("metering.sample_interval", metering_sample_interval, "60", 0, 86400,
            "seconds between samples of the native servers (CPU, disk, network); 0 = off"),
    INT_ROW("metering.raw_retention", metering_raw_retention, "86400", 3600, 31536000,
            "seconds raw samples are kept before they become hourly averages and maxima"),
    INT_ROW("metering.retention", metering_retention, "7776000", 3600, 315360000,
            "seconds samples (hourly ones included) are kept"),
    {NULL, NPH_CFG_STR, 0, NULL, 0, 0, NULL, NULL},
};

#define CONFIG_ROWS (sizeof(config_table) / sizeof(config_table[0]) - 1)

const struct nph_config_key *nph_config_keys(void)
{
    return config_table;
}

static const struct nph_config_key *config_find(const char *key)
{
    for (size_t i = 0; i < CONFIG_ROWS; i++)
        if (strcmp(config_table[i].key, key) == 0)
            return &config_table[i];
    return NULL;
}

/* 1 if some key lives under "prefix." (prefix is a section such as "http"). */
static int config_is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < CONFIG_ROWS; i++)
        if (strncmp(config_table[i].key, prefix, n) == 0 && config_table[i].key[n] == '.')
            return 1;
    return 0;
}

static char **config_str_field(struct nph_config *cfg, const struct nph_config_key *row)
{
    return (char **)(void *)((char *)cfg + row->offset);
}

static int64_t *config_int_field(struct nph_config *cfg, const struct nph_config_key *row)
{
    return (int64_t *)(void *)((char *)cfg + row->offset);
}

/* Bool rows (none today) are stored as int. */
static int *config_bool_field(struct nph_config *cfg, const struct nph_config_key *row)
{
    return (int *)(void *)((char *)cfg + row->offset);
}

/* ---- values ------------------------------------------------------------------------------- */

/* Validate "HOST:PORT" / "[v6]:PORT" with PORT 0..65535; 0 or -1 with why filled. */
static int config_check_listen(const char *s, char *why, size_t why_len)
{
    const char *colon, *p;
    long port = 0;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':')
            goto bad;
        /* hex digits, ':' and '.', then an optional zone after '%' ("fe80::1%eth0") */
        for (p = s + 1; p < close && *p != '%'; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p))
                goto bad;
        if (*p == '%' && p + 1 == close)
            goto bad;
        for (; p < close; p++)
            if (*p == '[' || *p == ']' || *p == '/' || *p == ' ')
                goto bad;
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        if (!colon || colon == s || strchr(colon + 1, ':'))
            goto bad;
        for (p = s; p < colon; p++)
            if (*p == '/' || *p == ' ' || *p == '[' || *p == ']' || *p == '@')
                goto bad;
    }
    p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        goto bad;
    return 0;
bad:
    snprintf(why, why_len, "expected HOST:PORT or [IPv6]:PORT with a port 0..65535, got '%.64s'",
             s);
    return -1;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Syntactic checks of particular string keys beyond the table. */
static int config_check_str(const struct nph_config_key *row, const char *s, char *why,
                            size_t why_len)
{
    if (strcmp(row->key, "listen") == 0)
        return config_check_listen(s, why, why_len);
    if (strcmp(row->key, "store.url") == 0 && *s && !has_prefix(s, "sqlite://") &&
        !has_prefix(s, "postgresql://") && !has_prefix(s, "postgres://")) {
        snprintf(why, why_len, "expected a sqlite:// or postgresql:// URL, got '%.64s'", s);
        return -1;
    }
    if (strcmp(row->key, "public_url") == 0 && *s && !has_prefix(s, "http://") &&
        !has_prefix(s, "https://")) {
        snprintf(why, why_len, "expected an http:// or https:// URL, got '%.64s'", s);
        return -1;
    }
    return 0;
}

static int config_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Apply text to one row of cfg. Returns 0; -1 with a reason in why (the value is bad); -2
 * when memory ran out. cfg's field is replaced only on success. */
static int config_apply(struct nph_config *cfg, const struct nph_config_key *row, const char *text,
                        char *why, size_t why_len)
{
    switch (row->type) {
    case NPH_CFG_INT: {
        char *end = NULL;
        long long v;
        if (text[0] == '\0' ||
            !((text[0] >= '0' && text[0] <= '9') || text[0] == '-' || text[0] == '+')) {
            snprintf(why, why_len, "expected an integer, got '%.64s'", text);
            return -1;
        }
        errno = 0;
        v = strtoll(text, &end, 10);
        if (*end != '\0' || end == text) {
            snprintf(why, why_len, "expected an integer, got '%.64s'", text);
            return -1;
        }
        if (errno == ERANGE || v < row->min || v > row->max) {
            snprintf(why, why_len, "%.32s is out of range %lld..%lld", text, (long long)row->min,
                     (long long)row->max);
            return -1;
        }
        *config_int_field(cfg, row) = (int64_t)v;
        return 0;
    }
    case NPH_CFG_BOOL: {
        int b;
        if (config_parse_bool(text, &b) < 0) {
            snprintf(why, why_len, "expected true or false, got '%.64s'", text);
            return -1;
        }
        *config_bool_field(cfg, row) = b;
        return 0;
    }
    case NPH_CFG_STR: {
        char **field = config_str_field(cfg, row);
        char *copy;
        if (row->choices) {
            size_t i = 0, o = 0;
            char list[128];
            while (row->choices[i] && strcmp(row->choices[i], text) != 0)
                i++;
            if (!row->choices[i]) {
                list[0] = '\0';
                for (i = 0; row->choices[i] && o < sizeof(list); i++)
                    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                          row->choices[i]);
                snprintf(why, why_len, "expected one of %s, got '%.64s'", list, text);
                return -1;
            }
        }
        /* Only keys whose default is empty (derived later) may be set to "". */
        if (text[0] == '\0' && row->def[0] != '\0') {
            snprintf(why, why_len, "must not be empty");
            return -1;
        }
        if (config_check_str(row, text, why, why_len) < 0)
            return -1;
        copy = strdup(text);
        if (!copy)
            return -2;
        free(*field);
        *field = copy;
        return 0;
    }
    }
    snprintf(why, why_len, "unsupported type");
    return -1;
}

/* ---- init, copy, fini ----------------------------------------------------------------------- */

void nph_config_fini(struct nph_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CONFIG_ROWS; i++)
        if (config_table[i].type == NPH_CFG_STR)
            free(*config_str_field(cfg, &config_table[i]));
    json_decref(cfg->sections);
    memset(cfg, 0, sizeof(*cfg));
}

int nph_config_init(struct nph_config *cfg, struct nph_error *err)
{
    char why[CONFIG_WHY_LEN];
    memset(cfg, 0, sizeof(*cfg));
    if (!(cfg->sections = json_object()))
        return nph_error_nomem(err);
    for (size_t i = 0; i < CONFIG_ROWS; i++) {
        int rc = config_apply(cfg, &config_table[i], config_table[i].def, why, sizeof(why));
        if (rc == -2) {
            nph_config_fini(cfg);
            return nph_error_nomem(err);
        }
        if (rc < 0) { /* a bad default is a programming error, but report it */
            nph_config_fini(cfg);
            return nph_error_set(err, NPH_E_INTERNAL, "default of '%s': %s", config_table[i].key,
                                 why);
        }
    }
    return 0;
}

/* Deep copy of src into dst (uninitialised). Returns 0 or -1 (nomem, dst left zeroed). */
static int config_copy(struct nph_config *dst, const struct nph_config *src)
{
    memcpy(dst, src, sizeof(*dst));
    for (size_t i = 0; i < CONFIG_ROWS; i++)
        if (config_table[i].type == NPH_CFG_STR)
            *config_str_field(dst, &config_table[i]) = NULL;
    dst->sections = src->sections ? json_deep_copy(src->sections) : json_object();
    if (!dst->sections) {
        nph_config_fini(dst);
        return -1;
    }
    for (size_t i = 0; i < CONFIG_ROWS; i++) {
        const struct nph_config_key *row = &config_table[i];
        const char *s;
        if (row->type != NPH_CFG_STR)
            continue;
        s = *config_str_field((struct nph_config *)src, row);
        if (s && !(*config_str_field(dst, row) = strdup(s))) {
            nph_config_fini(dst);
            return -1;
        }
    }
    return 0;
}

/* Replace *cfg by *next (moved; next is left zeroed). */
static void config_commit(struct nph_config *cfg, struct nph_config *next)
{
    nph_config_fini(cfg);
    memcpy(cfg, next, sizeof(*cfg));
    memset(next, 0, sizeof(*next));
}

/* ---- single keys and the environment ------------------------------------------------------ */

int nph_config_set(struct nph_config *cfg, const char *key, const char *value,
                   struct nph_error *err)
{
    const struct nph_config_key *row = key ? config_find(key) : NULL;
    char why[CONFIG_WHY_LEN];
    int rc;

    if (!row)
        return nph_error_set(err, NPH_E_INVALID, "unknown key '%.128s'", key ? key : "");
    if (!value)
        return nph_error_set(err, NPH_E_INVALID, "'%s': a value is required", row->key);
    /* A single field is replaced only on success, so no copy of the whole struct is needed. */
    rc = config_apply(cfg, row, value, why, sizeof(why));
    if (rc == -2)
        return nph_error_nomem(err);
    if (rc < 0)
        return nph_error_set(err, NPH_E_INVALID, "'%s': %s", row->key, why);
    return 0;
}

/* The environment name of a key: NEPHELE_ + upper-cased key with '.' -> '_'. */
int nph_config_env_name(const char *key, char *out, size_t len)
{
    size_t n = strlen("NEPHELE_");
    if (!key || len < n + strlen(key) + 1)
        return -1;
    memcpy(out, "NEPHELE_", n);
    for (const char *p = key; *p; p++)
        out[n++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    out[n] = '\0';
    return 0;
}

int nph_config_load_env(struct nph_config *cfg, char *const *envp, struct nph_error *err)
{
    struct nph_config next;
    char name[CONFIG_MAX_KEY_LEN + 16];
    char why[CONFIG_WHY_LEN];

    if (!envp)
        envp = environ;
    if (config_copy(&next, cfg) < 0)
        return nph_error_nomem(err);
    /* Table order, so the result does not depend on the order of the environment. Unknown
     * NEPHELE_* names are left alone: other parts of the program read their own. */
    for (size_t i = 0; i < CONFIG_ROWS; i++) {
        const struct nph_config_key *row = &config_table[i];
        size_t n;
        const char *value = NULL;
        int rc;
        if (nph_config_env_name(row->key, name, sizeof(name)) < 0)
            continue;
        n = strlen(name);
        for (char *const *e = envp; *e; e++)
            if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                value = *e + n + 1; /* the last one wins, as in getenv on most libcs */
        if (!value)
            continue;
        rc = config_apply(&next, row, value, why, sizeof(why));
        if (rc == -2) {
            nph_config_fini(&next);
            return nph_error_nomem(err);
        }
        if (rc < 0) {
            nph_config_fini(&next);
            return nph_error_set(err, NPH_E_INVALID, "environment %s: '%s': %s", name, row->key,
                                 why);
        }
    }
    config_commit(cfg, &next);
    return 0;
}

/* ---- YAML ---------------------------------------------------------------------------------- */

struct yaml_walk {
    const char *name;
    yaml_document_t *doc;
    struct nph_config *cfg;
    unsigned char seen[CONFIG_ROWS];
    unsigned seen_sections; /* bits of the document sections this file set */
    struct nph_error *err;
};

static const char *yaml_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    default:
        return "a scalar";
    }
}

static int yaml_is_null(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* Sections of the document that are structures, kept as JSON in cfg->sections. */
static const char *const config_sections[] = {"clouds", "currency", "sizes", "exchange_rates",
                                              NULL};

/* 1 + the section's index, or 0 when key is no document section. */
static int config_document_section(const char *key)
{
    for (int i = 0; config_sections[i]; i++)
        if (strcmp(config_sections[i], key) == 0)
            return i + 1;
    return 0;
}

/* A plain scalar as YAML 1.2's core schema reads it; other styles are strings. */
static json_t *yaml_scalar_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    char *end;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (yaml_is_null(n))
            return json_null();
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            return json_true();
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            return json_false();
        if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && s[1])) {
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (!*end && errno == 0)
                return json_integer(v);
            double d = strtod(s, &end);
            if (!*end && errno == 0)
                return json_real(d);
        }
    }
    return json_stringn(s, n->data.scalar.length);
}

#define YAML_JSON_MAX_DEPTH 64

/* Convert a node tree. Duplicate keys and non-scalar keys are errors naming the line. */
static json_t *yaml_node_json(const char *name, yaml_document_t *doc, yaml_node_t *n, int depth,
                              struct nph_error *err)
{
    size_t line = n->start_mark.line + 1;
    if (depth > YAML_JSON_MAX_DEPTH) {
        nph_error_set(err, NPH_E_INVALID, "%s:%zu: nested deeper than %d levels", name, line,
                      YAML_JSON_MAX_DEPTH);
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: value contains a NUL character", name, line);
            return NULL;
        }
        json_t *j = yaml_scalar_json(n);
        if (!j)
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: value is not valid UTF-8", name, line);
        return j;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             arr && it < n->data.sequence.items.top; it++) {
            yaml_node_t *c = yaml_document_get_node(doc, *it);
            json_t *j = c ? yaml_node_json(name, doc, c, depth + 1, err) : NULL;
            if (!j || json_array_append_new(arr, j) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        if (!arr)
            nph_error_nomem(err);
        return arr;
    }
    json_t *obj = json_object();
    if (!obj) {
        nph_error_nomem(err);
        return NULL;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: keys must be scalars", name,
                          k ? k->start_mark.line + 1 : line);
            json_decref(obj);
            return NULL;
        }
        const char *ks = (const char *)k->data.scalar.value;
        if (json_object_get(obj, ks)) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: duplicate key '%.64s'", name,
                          k->start_mark.line + 1, ks);
            json_decref(obj);
            return NULL;
        }
        json_t *j = yaml_node_json(name, doc, v, depth + 1, err);
        if (!j || json_object_set_new(obj, ks, j) != 0) {
            if (j)
                nph_error_set(err, NPH_E_INVALID, "%s:%zu: key is not valid UTF-8", name,
                              k->start_mark.line + 1);
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *nph_yaml_to_json(const char *name, const char *buf, size_t len, struct nph_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        nph_error_nomem(err);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
    if (!yaml_parser_load(&parser, &doc)) {
        nph_error_set(err, NPH_E_INVALID, "%s:%zu: invalid YAML: %s", name,
                      parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    out = root ? yaml_node_json(name, &doc, root, 0, err) : json_null();
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

static int yaml_walk_mapping(struct yaml_walk *w, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, pair->value);
        size_t kline = k ? k->start_mark.line + 1 : 0;
        size_t vline = v ? v->start_mark.line + 1 : kline;
        const struct nph_config_key *row;
        char full[CONFIG_MAX_KEY_LEN + 1];
        char why[CONFIG_WHY_LEN];
        const char *ks, *value;
        int rc;

        if (!k || !v)
            return nph_error_set(w->err, NPH_E_INVALID, "%s: malformed YAML document", w->name);
        if (k->type != YAML_SCALAR_NODE)
            return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: keys must be scalars, got %s",
                                 w->name, kline, yaml_kind(k));
        ks = (const char *)k->data.scalar.value;
        if (strlen(ks) != k->data.scalar.length ||
            (size_t)snprintf(full, sizeof(full), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                             ks) >= sizeof(full))
            return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: unknown key '%.64s'", w->name,
                                 kline, ks);
        row = config_find(full);
        int section = row || prefix ? 0 : config_document_section(full);
        if (section) {
            unsigned bit = 1u << (section - 1);
            if (w->seen_sections & bit)
                return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: '%s': duplicate key", w->name,
                                     kline, full);
            json_t *j = yaml_node_json(w->name, w->doc, v, 1, w->err);
            if (!j)
                return -1;
            w->seen_sections |= bit;
            json_object_set_new(w->cfg->sections, full, j);
            continue;
        }
        if (!row) {
            if (!config_is_section(full))
                return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: unknown key '%s'", w->name,
                                     kline, full);
            if (v->type == YAML_MAPPING_NODE) {
                if (yaml_walk_mapping(w, v, full) < 0)
                    return -1;
            } else if (!yaml_is_null(v)) {
                return nph_error_set(w->err, NPH_E_INVALID,
                                     "%s:%zu: '%s': expected a mapping of keys, got %s", w->name,
                                     vline, full, yaml_kind(v));
            }
            continue;
        }
        if (w->seen[row - config_table])
            return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: '%s': duplicate key", w->name,
                                 kline, full);
        w->seen[row - config_table] = 1;
        if (v->type != YAML_SCALAR_NODE)
            return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: '%s': expected a scalar, got %s",
                                 w->name, vline, full, yaml_kind(v));
        if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
            return nph_error_set(w->err, NPH_E_INVALID,
                                 "%s:%zu: '%s': value contains a NUL character", w->name, vline,
                                 full);
        /* A null value ("key:" or "key: ~") means "the built-in default". */
        value = yaml_is_null(v) ? row->def : (const char *)v->data.scalar.value;
        rc = config_apply(w->cfg, row, value, why, sizeof(why));
        if (rc == -2)
            return nph_error_nomem(w->err);
        if (rc < 0)
            return nph_error_set(w->err, NPH_E_INVALID, "%s:%zu: '%s': %s", w->name, vline, full,
                                 why);
    }
    return 0;
}

int nph_config_load_yaml(struct nph_config *cfg, const char *name, const char *buf, size_t len,
                         struct nph_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_parser = 0, have_doc = 0, have_extra = 0, ret = -1;
    struct nph_config next;
    struct yaml_walk w;
    yaml_node_t *root;

    memset(&next, 0, sizeof(next));
    if (!name)
        name = "<config>";
    if (!yaml_parser_initialize(&parser))
        return nph_error_nomem(err);
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR)
            nph_error_nomem(err);
        else
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: invalid YAML: %s%s%s", name,
                          parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "syntax error",
                          parser.context ? " " : "", parser.context ? parser.context : "");
        goto cleanup;
    }
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root) {
        if (!yaml_parser_load(&parser, &extra)) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: invalid YAML: %s", name,
                          parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "syntax error");
            goto cleanup;
        }
        have_extra = 1;
        if (yaml_document_get_root_node(&extra)) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: only one YAML document is allowed", name,
                          extra.start_mark.line + 1);
            goto cleanup;
        }
    }
    if (config_copy(&next, cfg) < 0) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (root && !yaml_is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: expected a mapping of keys, got %s", name,
                          root->start_mark.line + 1, yaml_kind(root));
            goto cleanup;
        }
        memset(&w, 0, sizeof(w));
        w.name = name;
        w.doc = &doc;
        w.cfg = &next;
        w.err = err;
        if (yaml_walk_mapping(&w, root, NULL) < 0)
            goto cleanup;
    }
    config_commit(cfg, &next);
    ret = 0;
cleanup:
    nph_config_fini(&next);
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    return ret;
}

int nph_config_load_file(struct nph_config *cfg, const char *path, struct nph_error *err)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ret = -1;

    f = fopen(path, "rb");
    if (!f)
        return nph_error_set(err, NPH_E_IO, "cannot open config file '%s': %s", path,
                             strerror(errno));
    for (;;) {
        size_t n;
        if (len == cap) {
            char *grown;
            if (cap >= CONFIG_MAX_FILE_BYTES) {
                nph_error_set(err, NPH_E_INVALID, "config file '%s' is larger than %d bytes", path,
                              CONFIG_MAX_FILE_BYTES);
                goto cleanup;
            }
            cap = cap ? cap * 2 : 8192;
            grown = realloc(buf, cap);
            if (!grown) {
                nph_error_nomem(err);
                goto cleanup;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                nph_error_set(err, NPH_E_IO, "cannot read config file '%s'", path);
                goto cleanup;
            }
            break;
        }
    }
    ret = nph_config_load_yaml(cfg, path, buf, len, err);
cleanup:
    free(buf);
    fclose(f);
    return ret;
}

/* ---- derived values ------------------------------------------------------------------------ */

/* Absolute form of dir without "./" segments or a trailing '/'; malloc'd or NULL. */
static char *config_abs_dir(const char *dir, struct nph_error *err)
{
    char cwd[PATH_MAX];
    const char *rel = dir;
    size_t need;
    char *out;

    if (dir[0] == '/') {
        out = strdup(dir);
    } else {
        if (!getcwd(cwd, sizeof(cwd))) {
            nph_error_set(err, NPH_E_IO, "cannot resolve 'data_dir': %s", strerror(errno));
            return NULL;
        }
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        if (strcmp(rel, ".") == 0)
            rel = "";
        need = strlen(cwd) + strlen(rel) + 2;
        out = malloc(need);
        if (out)
            snprintf(out, need, "%s%s%s", cwd, (rel[0] && strcmp(cwd, "/") != 0) ? "/" : "", rel);
    }
    if (!out) {
        nph_error_nomem(err);
        return NULL;
    }
    for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
        out[n - 1] = '\0';
    return out;
}

static char *config_concat(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

int nph_config_finish(struct nph_config *cfg, struct nph_error *err)
{
    struct nph_config next;
    char why[CONFIG_WHY_LEN];
    char *abs = NULL;
    int ret = -1;

    memset(&next, 0, sizeof(next));
    for (size_t i = 0; i < CONFIG_ROWS; i++) {
        const struct nph_config_key *row = &config_table[i];
        const char *s;
        if (row->type != NPH_CFG_STR)
            continue;
        s = *config_str_field(cfg, row);
        if (!s)
            return nph_error_set(err, NPH_E_INTERNAL, "'%s' is not set", row->key);
        if ((row->def[0] && !s[0]) || config_check_str(row, s, why, sizeof(why)) < 0)
            return nph_error_set(err, NPH_E_INVALID, "'%s': %s", row->key,
                                 s[0] ? why : "must not be empty");
    }
    if (config_copy(&next, cfg) < 0)
        return nph_error_nomem(err);
    abs = config_abs_dir(cfg->data_dir, err);
    if (!abs)
        goto cleanup;
    if (!next.public_url[0]) {
        free(next.public_url);
        if (!(next.public_url = config_concat("http://", next.listen, "")))
            goto nomem;
    }
    if (!next.store_url[0]) {
        free(next.store_url);
        if (!(next.store_url = config_concat("sqlite://", abs, "/nephele.db")))
            goto nomem;
    }
    if (!next.identity_token_keys_dir[0]) {
        free(next.identity_token_keys_dir);
        if (!(next.identity_token_keys_dir = config_concat(abs, "/token-keys", "")))
            goto nomem;
    }
    config_commit(cfg, &next);
    ret = 0;
    goto cleanup;
nomem:
    nph_error_nomem(err);
cleanup:
    free(abs);
    nph_config_fini(&next);
    return ret;
}

/* ---- the sample ---------------------------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
};

static void sbuf_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sbuf_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
}

char *nph_config_sample(void)
{
    struct sbuf b = {NULL, 0, 0, 0};
    char section[CONFIG_MAX_KEY_LEN] = "";
    char env[CONFIG_MAX_KEY_LEN + 16];

    sbuf_add(&b, "# Nephele configuration (YAML). Every key is listed with its built-in default.\n"
                 "# Precedence, lowest first: defaults < this file < NEPHELE_* environment "
                 "variables\n"
                 "# < command-line flags. Unknown keys are errors. A key left without a value "
                 "(\"key:\")\n"
                 "# takes its default.\n");
    for (size_t i = 0; i < CONFIG_ROWS; i++) {
        const struct nph_config_key *row = &config_table[i];
        const char *dot = strchr(row->key, '.');
        const char *leaf = row->key;
        const char *indent = "";
        int opens_section = 0;
        if (dot) {
            size_t n = (size_t)(dot - row->key);
            if (strlen(section) != n || strncmp(section, row->key, n) != 0) {
                snprintf(section, sizeof(section), "%.*s", (int)n, row->key);
                sbuf_add(&b, "\n%s:\n", section);
                opens_section = 1;
            }
            leaf = dot + 1;
            indent = "  ";
        }
        nph_config_env_name(row->key, env, sizeof(env));
        sbuf_add(&b, "%s%s# %s.\n", opens_section ? "" : "\n", indent, row->doc);
        if (row->choices) {
            sbuf_add(&b, "%s# One of:", indent);
            for (size_t c = 0; row->choices[c]; c++)
                sbuf_add(&b, "%s %s", c ? "," : "", row->choices[c]);
            sbuf_add(&b, ".");
        } else if (row->type == NPH_CFG_INT) {
            sbuf_add(&b, "%s# Range %lld..%lld.", indent, (long long)row->min, (long long)row->max);
        } else {
            sbuf_add(&b, "%s#", indent);
        }
        sbuf_add(&b, " Environment: %s.\n", env);
        if (row->type == NPH_CFG_STR)
            sbuf_add(&b, "%s%s: \"%s\"\n", indent, leaf, row->def);
        else
            sbuf_add(&b, "%s%s: %s\n", indent, leaf, row->def);
    }
    sbuf_add(
        &b, "\n# The clouds this broker fronts (docs/federation.md). Without a `clouds:` list the\n"
            "# native cloud alone serves, named \"local\". Uncomment and adapt:\n"
            "# clouds:\n"
            "#   - name: home\n"
            "#     kind: local\n"
            "#   - name: remote\n"
            "#     kind: openstack\n"
            "#     auth:\n"
            "#       auth_url: http://127.0.0.1:5000/v3\n"
            "#       username: admin\n"
            "#       password: secret\n"
            "#       project_name: admin\n"
            "#       user_domain_name: Default\n"
            "#       project_domain_name: Default\n"
            "#     region_name: RegionOne\n"
            "#     labels: { jurisdiction: KR }\n"
            "#   - name: lab\n"
            "#     kind: openstack\n"
            "#     cloud: lab            # an entry of the user's clouds.yaml instead of auth\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
