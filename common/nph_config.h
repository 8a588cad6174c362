/*
 * nph_config.h - the daemon's configuration, as a table.
 *
 * Each setting is one row of a table (dotted key, type, default, validator, one-line doc);
 * YAML parsing, environment overrides, validation, `--help` text and the sample config in
 * docs/configuration.md all come from that table (nph_config_keys()).
 *
 * Precedence, lowest first: built-in defaults < YAML file < environment < command-line flags.
 * Environment names are NEPHELE_ + the dotted key upper-cased with '.' -> '_'
 * (store.url -> NEPHELE_STORE_URL).
 * YAML: nested mappings spell the dotted keys (store: {url: ...}). Unknown keys, wrong types
 * and invalid values are errors that name the key and the line:
 *   "config.yaml:12: 'http.max_body_bytes': expected an integer, got 'lots'"
 */
#ifndef NPH_CONFIG_H
#define NPH_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

#define NPH_DEFAULT_LISTEN "127.0.0.1:8787"

struct nph_config {
    char *listen;     /* "HOST:PORT" ("127.0.0.1:8787"; IPv6 as "[::1]:8787") */
    char *public_url; /* base URL advertised in the catalog; "" = http://<listen> */
    char *data_dir;   /* "./data" */

    char *log_level;  /* debug|info|warn|error */
    char *log_format; /* text|json */

    char *store_url;         /* "" = sqlite://<data_dir>/nephele.db; or sqlite:///abs/path,
                                postgresql://user:pw@host:port/db (libpq URI) */
    int64_t store_pool_size; /* connections per process, 1..256 (default 8) */

    int64_t http_threads;            /* 0 = number of CPUs */
    int64_t http_max_body_bytes;     /* default 1 MiB */
    int64_t http_max_header_bytes;   /* default 16 KiB (libmicrohttpd memory limit derives) */
    int64_t http_max_json_depth;     /* default 32 */
    int64_t http_connection_timeout; /* seconds, default 30 */

    char *identity_region;                       /* "RegionOne" */
    int64_t identity_token_lifetime;             /* seconds, default 3600, 60..604800 */
    char *identity_token_keys_dir;               /* "" = <data_dir>/token-keys */
    int64_t identity_max_active_keys;            /* default 3, 2..64 */
    int64_t identity_password_hash_iterations;   /* default 100000, 1000..10000000 */
    int64_t identity_lockout_failure_attempts;   /* 0 = off */
    int64_t identity_lockout_duration;           /* seconds, default 1800 */
    int64_t identity_unique_last_password_count; /* 0 = off */

    char *compute_libvirt_uri; /* "test:///default" */

    char *federation_default_cloud;        /* "" = the first cloud */
    char *federation_master_key_file;      /* "" = <data_dir>/master.key (created 0600) */
    int64_t federation_call_timeout_ms;    /* one backend call, default 30000 */
    int64_t federation_health_interval;    /* seconds between probes, default 10 */
    int64_t federation_breaker_failures;   /* consecutive failures that open it, default 3 */
    int64_t federation_breaker_cooldown;   /* seconds before a half-open probe, default 30 */
    int64_t federation_reconcile_interval; /* seconds, default 60; 0 = never */
    int64_t federation_poll_interval_ms;   /* operation status polls, default 1000 */
    int64_t federation_workers;            /* operation worker threads, default 4 */
    int64_t metering_sample_interval; /* seconds between libvirt samples, default 60; 0 = off */
    int64_t metering_raw_retention;   /* seconds raw samples are kept, default 86400 */
    int64_t metering_retention;       /* seconds any sample is kept, default 90 days */

    int64_t billing_budget_check_interval; /* seconds, default 300; 0 = after placements only */
    char *billing_alert_webhook;           /* "" = no webhook */

    /* Document sections: top-level keys whose values are structures rather than settings
     * (`clouds:`, and placement's `currency:`, `sizes:`, `exchange_rates:`), kept as JSON (a YAML
     * scalar becomes a string, an integer, a real, a boolean or null as YAML 1.2's core schema
     * reads it; quoted scalars stay strings). Each section's owner validates it. An object
     * {"clouds": [...], ...}; never NULL after init. */
    json_t *sections;
};

enum nph_config_type { NPH_CFG_STR, NPH_CFG_INT, NPH_CFG_BOOL };

struct nph_config_key {
    const char *key; /* dotted: "http.max_body_bytes" */
    enum nph_config_type type;
    size_t offset;              /* into struct nph_config */
    const char *def;            /* default, as text */
    int64_t min, max;           /* for integers */
    const char *const *choices; /* for strings with a fixed set, NULL-terminated, or NULL */
    const char *doc;            /* one line */
};

/* The table, terminated by a row with key == NULL. */
const struct nph_config_key *nph_config_keys(void);

/* Fill cfg with the defaults. Returns 0 or -1 (nomem). Free with nph_config_fini. */
int nph_config_init(struct nph_config *cfg, struct nph_error *err);
void nph_config_fini(struct nph_config *cfg);

/* Merge a YAML file into cfg. On error cfg is unchanged and err names file, line and key. */
int nph_config_load_file(struct nph_config *cfg, const char *path, struct nph_error *err);
/* Same from a buffer; `name` is used in messages. */
int nph_config_load_yaml(struct nph_config *cfg, const char *name, const char *buf, size_t len,
                         struct nph_error *err);
/* Apply NEPHELE_* environment variables (envp NULL = environ). */
int nph_config_load_env(struct nph_config *cfg, char *const *envp, struct nph_error *err);
/* Set one key from text (used for flags); validates like the file path does. */
int nph_config_set(struct nph_config *cfg, const char *key, const char *value,
                   struct nph_error *err);
/* Fill derived defaults (public_url, store_url, token_keys_dir from data_dir) and check
 * cross-key constraints. Call once after all sources are merged. */
int nph_config_finish(struct nph_config *cfg, struct nph_error *err);

/* The environment variable of a dotted key ("store.url" -> "NEPHELE_STORE_URL") into out.
 * Returns 0, or -1 if out (len bytes) is too small. */
int nph_config_env_name(const char *key, char *out, size_t len);

/* Parse one YAML document into JSON with the conversion above. `name` is used in messages
 * ("clouds.yaml:3: invalid YAML: ..."). Returns a new reference or NULL with err. */
json_t *nph_yaml_to_json(const char *name, const char *buf, size_t len, struct nph_error *err);

/* Write a complete sample YAML (every key, its default and doc as a comment) to a malloc'd
 * string. */
char *nph_config_sample(void);

#endif
