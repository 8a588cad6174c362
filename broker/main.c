/*
 * main.c - the `nephele` binary: git-style subcommands over the broker library.
 *
 *   nephele serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--log-format F]
 *   nephele db migrate|status [--config FILE] [--data-dir DIR]
 *   nephele bootstrap [--password-file F] [--config FILE] [--data-dir DIR]
 *   nephele token-keys rotate [--config FILE] [--data-dir DIR]
 *   nephele config sample|check [--config FILE]
 *   nephele version
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "app.h"
#include "cmd_bill.h"
#include "cmd_place.h"
#include "cmd_usage.h"
#include "nph_http.h"
#include "nph_log.h"

struct common_opts {
    const char *config;
    const char *listen;
    const char *data_dir;
    const char *log_format;
    const char *log_level;
    const char *password_file;
};

static void die_err(const char *what, const struct nph_error *err)
{
    fprintf(stderr, "nephele %s: %s%s%s\n", what, err->msg, err->detail[0] ? ": " : "",
            err->detail);
}

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"data-dir", required_argument, NULL, 'd'},
    {"log-format", required_argument, NULL, 'f'},
    {"log-level", required_argument, NULL, 'v'},
    {"password-file", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse the options every subcommand shares; 1 = --help was asked, -1 = bad usage. */
static int parse_opts(int argc, char **argv, struct common_opts *o, const char *usage)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:l:d:f:v:p:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'f':
            o->log_format = optarg;
            break;
        case 'v':
            o->log_level = optarg;
            break;
        case 'p':
            o->password_file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            fprintf(stderr, "nephele: unknown or incomplete option '%s'\n%s", argv[optind - 1],
                    usage);
            return -1;
        }
    }
    return 0;
}

/* Layer the configuration: defaults < file < environment < flags. */
static int load_config(struct nph_config *cfg, const struct common_opts *o, struct nph_error *err)
{
    if (nph_config_init(cfg, err))
        return -1;
    if (o->config && nph_config_load_file(cfg, o->config, err))
        return -1;
    if (nph_config_load_env(cfg, NULL, err))
        return -1;
    if (o->listen && nph_config_set(cfg, "listen", o->listen, err))
        return -1;
    if (o->data_dir && nph_config_set(cfg, "data_dir", o->data_dir, err))
        return -1;
    if (o->log_format && nph_config_set(cfg, "log.format", o->log_format, err))
        return -1;
    if (o->log_level && nph_config_set(cfg, "log.level", o->log_level, err))
        return -1;
    if (nph_config_finish(cfg, err))
        return -1;
    enum nph_log_level lv = NPH_LOG_INFO;
    enum nph_log_format lf = NPH_LOG_TEXT;
    nph_log_level_parse(cfg->log_level, &lv);
    nph_log_format_parse(cfg->log_format, &lf);
    nph_log_init(lv, lf, 2);
    return 0;
}

#define CONFIG_OPTS                                                                                \
    "  -c, --config FILE      YAML configuration (see docs/configuration.md)\n"                    \
    "  -d, --data-dir DIR     data directory (default ./data)\n"                                   \
    "      --log-format F     text or json\n"                                                      \
    "      --log-level L      debug, info, warn or error\n"                                        \
    "  -h, --help             this text\n"

static const char serve_usage[] =
    "usage: nephele serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR]\n"
    "                     [--log-format text|json] [--log-level LEVEL]\n"
    "\nRun the broker daemon. With no configuration it runs on embedded defaults: a SQLite\n"
    "store under the data directory, the native cloud on libvirt's test:///default driver,\n"
    "listening on 127.0.0.1:8787. On first start it bootstraps identity (admin user, admin\n"
    "project, roles, region, catalog) with the password in NEPHELE_BOOTSTRAP_PASSWORD, or a\n"
    "generated one written to <data-dir>/admin-openrc (mode 0600).\n\noptions:\n"
    "  -l, --listen ADDR      HOST:PORT to listen on (default 127.0.0.1:8787)\n" CONFIG_OPTS;

static int cmd_serve(int argc, char **argv)
{
    struct common_opts o = {0};
    struct nph_app app;
    struct nph_error err = NPH_ERROR_INIT;
    struct http_server_opts ho;
    sigset_t set;
    int sig = 0, rc = parse_opts(argc, argv, &o, serve_usage);
    char creds[4200];
    if (rc)
        return rc > 0 ? 0 : 2;
    memset(&app, 0, sizeof(app));
    if (load_config(&app.cfg, &o, &err)) {
        die_err("serve", &err);
        return 1;
    }
    /* Block the stop signals in every thread; the main thread waits for them below. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (nph_http_global_init(&err) || app_open(&app, &err)) {
        die_err("serve", &err);
        app_close(&app);
        nph_config_fini(&app.cfg);
        return 1;
    }
    memset(&ho, 0, sizeof(ho));
    ho.listen = app.cfg.listen;
    ho.threads = (int)app.cfg.http_threads;
    if (ho.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ho.threads = n > 0 ? (int)n : 2;
    }
    ho.max_body_bytes = (size_t)app.cfg.http_max_body_bytes;
    ho.max_header_bytes = (size_t)app.cfg.http_max_header_bytes;
    ho.max_json_depth = (int)app.cfg.http_max_json_depth;
    ho.connection_timeout_s = (unsigned)app.cfg.http_connection_timeout;
    /* Uploads land beside the image store, so finishing one is a rename, not a copy. */
    char upload_dir[4200];
    snprintf(upload_dir, sizeof(upload_dir), "%s/images", app.cfg.data_dir);
    ho.upload_dir = upload_dir;
    ho.routes = app_routes();
    ho.app = &app;
    ho.ready = app_ready;
    ho.upload_allowed = app_upload_allowed;
    ho.extra_metrics = app_extra_metrics;
    app.http = http_server_start(&ho, &err);
    if (!app.http || app_start(&app, &err)) {
        die_err("serve", &err);
        http_server_stop(app.http);
        app_close(&app);
        nph_config_fini(&app.cfg);
        return 1;
    }
    snprintf(creds, sizeof(creds), "%s/admin-openrc", app.cfg.data_dir);
    printf("nephele %s serving on %s (store %s, native cloud on %s)\n", NPH_VERSION,
           app.cfg.public_url, nph_store_url_redacted(app.store), local_compute_uri(app.compute));
    if (access(creds, R_OK) == 0)
        printf("admin credentials: %s  (source it, then: openstack token issue)\n", creds);
    fflush(stdout);
    nph_log(NPH_LOG_INFO, "serve.started", "url", app.cfg.public_url, NULL);
    sigwait(&set, &sig);
    nph_log(NPH_LOG_INFO, "serve.stopping", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
    http_server_stop(app.http);
    app_close(&app);
    nph_http_global_cleanup();
    nph_log(NPH_LOG_INFO, "serve.stopped", NULL);
    nph_config_fini(&app.cfg);
    return 0;
}

static const char db_usage[] =
    "usage: nephele db migrate|status [--config FILE] [--data-dir DIR]\n"
    "\n  migrate   apply pending schema migrations to the configured store\n"
    "  status    print the store and each component's schema version\n\noptions:\n" CONFIG_OPTS;

static int cmd_db(int argc, char **argv)
{
    struct common_opts o = {0};
    struct nph_config cfg;
    struct nph_store *store = NULL;
    struct nph_error err = NPH_ERROR_INIT;
    const char *sub = argc > 1 ? argv[1] : NULL;
    int rc, applied = 0, version = 0;
    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(db_usage, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (strcmp(sub, "migrate") && strcmp(sub, "status")) {
        fprintf(stderr, "nephele db: unknown subcommand '%s'\n%s", sub, db_usage);
        return 2;
    }
    rc = parse_opts(argc - 1, argv + 1, &o, db_usage);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (load_config(&cfg, &o, &err)) {
        die_err("db", &err);
        return 1;
    }
    rc = 1;
    if (strncmp(cfg.store_url, "sqlite:", 7) == 0 && app_mkdir_p(cfg.data_dir, &err)) {
        die_err("db", &err);
        goto cleanup;
    }
    if (nph_store_open(cfg.store_url, 1, &store, &err)) {
        die_err("db", &err);
        goto cleanup;
    }
    if (strcmp(sub, "migrate") == 0) {
        if (app_migrate(store, &applied, &err)) {
            die_err("db migrate", &err);
            goto cleanup;
        }
        printf("applied %d migration(s) to %s\n", applied, nph_store_url_redacted(store));
    } else {
        if (nph_store_schema_version(store, "identity", &version, &err)) {
            die_err("db status", &err);
            goto cleanup;
        }
        printf("store: %s (%s)\n", nph_store_url_redacted(store),
               nph_store_engine(store) == NPH_STORE_SQLITE ? "sqlite" : "postgresql");
        printf("%-12s %s\n", "component", "version");
        printf("%-12s %d%s\n", "identity", version, version == 0 ? " (not migrated)" : "");
    }
    rc = 0;
cleanup:
    nph_store_close(store);
    nph_config_fini(&cfg);
    return rc;
}

static const char bootstrap_usage[] =
    "usage: nephele bootstrap [--password-file F] [--config FILE] [--data-dir DIR]\n"
    "\nCreate the Default domain, the admin project, the admin user (with role admin on the\n"
    "admin project and on the system scope), the\n"
    "roles admin, member and reader, the region and the catalog, like\n"
    "`keystone-manage bootstrap`. Existing objects are kept. The password comes from\n"
    "--password-file, else NEPHELE_BOOTSTRAP_PASSWORD, else it is generated; a new admin's\n"
    "credentials are written to <data-dir>/admin-openrc (mode 0600).\n\noptions:\n"
    "  -p, --password-file F  file whose first line is the admin password\n" CONFIG_OPTS;

static int cmd_bootstrap(int argc, char **argv)
{
    struct common_opts o = {0};
    struct nph_app app;
    struct nph_error err = NPH_ERROR_INIT;
    int rc = parse_opts(argc, argv, &o, bootstrap_usage), created = 0;
    char pw[4097] = "";
    if (rc)
        return rc > 0 ? 0 : 2;
    memset(&app, 0, sizeof(app));
    if (o.password_file) {
        FILE *f = fopen(o.password_file, "r");
        if (!f || !fgets(pw, sizeof(pw), f)) {
            fprintf(stderr, "nephele bootstrap: cannot read password file '%s': %s\n",
                    o.password_file, f ? "empty file" : strerror(errno));
            if (f)
                fclose(f);
            return 1;
        }
        fclose(f);
        pw[strcspn(pw, "\r\n")] = '\0';
        if (!pw[0]) {
            fprintf(stderr, "nephele bootstrap: password file '%s' is empty\n", o.password_file);
            return 1;
        }
        setenv("NEPHELE_BOOTSTRAP_PASSWORD", pw, 1);
    }
    rc = 1;
    if (load_config(&app.cfg, &o, &err) || app_open(&app, &err)) {
        die_err("bootstrap", &err);
        goto cleanup;
    }
    /* app_open bootstraps an empty store; run again to report on an existing one. */
    if (app_bootstrap(&app, pw[0] ? pw : "unused-existing-admin", &created, &err)) {
        die_err("bootstrap", &err);
        goto cleanup;
    }
    {
        char creds[4200];
        snprintf(creds, sizeof(creds), "%s/admin-openrc", app.cfg.data_dir);
        if (access(creds, R_OK) == 0)
            printf("identity bootstrapped in %s; admin credentials: %s\n",
                   nph_store_url_redacted(app.store), creds);
        else
            printf("identity bootstrapped in %s; the admin user existed already (its password "
                   "is unchanged)\n",
                   nph_store_url_redacted(app.store));
    }
    rc = 0;
cleanup:
    OPENSSL_cleanse(pw, sizeof(pw));
    app_close(&app);
    nph_config_fini(&app.cfg);
    return rc;
}

static const char keys_usage[] =
    "usage: nephele token-keys rotate [--config FILE] [--data-dir DIR]\n"
    "\nRotate the token keys: the staged key becomes primary, a new staged key is written and\n"
    "keys beyond identity.max_active_keys are removed. Running daemons pick the change up\n"
    "within a second. Tokens sealed with a removed key stop validating.\n\noptions:\n" CONFIG_OPTS;

static int cmd_token_keys(int argc, char **argv)
{
    struct common_opts o = {0};
    struct nph_config cfg;
    struct nph_error err = NPH_ERROR_INIT;
    const char *sub = argc > 1 ? argv[1] : NULL;
    int rc, primary = 0;
    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(keys_usage, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (strcmp(sub, "rotate") != 0) {
        fprintf(stderr, "nephele token-keys: unknown subcommand '%s'\n%s", sub, keys_usage);
        return 2;
    }
    rc = parse_opts(argc - 1, argv + 1, &o, keys_usage);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (load_config(&cfg, &o, &err) ||
        ident_keys_rotate(cfg.identity_token_keys_dir, (int)cfg.identity_max_active_keys, &primary,
                          &err)) {
        die_err("token-keys rotate", &err);
        nph_config_fini(&cfg);
        return 1;
    }
    printf("rotated token keys in %s: primary key is now %d\n", cfg.identity_token_keys_dir,
           primary);
    nph_config_fini(&cfg);
    return 0;
}

static const char config_usage[] =
    "usage: nephele config sample|check [--config FILE]\n"
    "\n  sample   print a complete configuration file with every key, default and doc\n"
    "  check    load FILE (and the environment) and report the first error, if any\n"
    "\noptions:\n"
    "  -c, --config FILE      the YAML file to check\n"
    "  -h, --help             this text\n";

static int cmd_config(int argc, char **argv)
{
    struct common_opts o = {0};
    struct nph_config cfg;
    struct nph_error err = NPH_ERROR_INIT;
    const char *sub = argc > 1 ? argv[1] : NULL;
    int rc;
    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(config_usage, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (strcmp(sub, "sample") == 0) {
        char *s = nph_config_sample();
        if (!s)
            return 1;
        fputs(s, stdout);
        free(s);
        return 0;
    }
    if (strcmp(sub, "check") != 0) {
        fprintf(stderr, "nephele config: unknown subcommand '%s'\n%s", sub, config_usage);
        return 2;
    }
    rc = parse_opts(argc - 1, argv + 1, &o, config_usage);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (load_config(&cfg, &o, &err)) {
        die_err("config check", &err);
        return 1;
    }
    /* the clouds: the broker's keys, then each driver's own (opening contacts no cloud) */
    const json_t *clouds = json_object_get(cfg.sections, "clouds");
    size_t i;
    json_t *e;
    if (fed_check_clouds(clouds, &err)) {
        die_err("config check", &err);
        nph_config_fini(&cfg);
        return 1;
    }
    json_array_foreach(clouds, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "kind")), "local") == 0)
            continue;
        struct nph_backend *b = nph_backend_open(e, NULL, &err);
        if (!b) {
            nph_error_prefix(&err, "clouds[%zu]", i);
            die_err("config check", &err);
            nph_config_fini(&cfg);
            return 1;
        }
        nph_backend_close(b);
    }
    printf("configuration is valid (%zu cloud(s))\n", json_array_size(clouds));
    nph_config_fini(&cfg);
    return 0;
}

static const char main_usage[] =
    "usage: nephele <command> [options]\n"
    "\nNephele, a federation service broker across clouds.\n\ncommands:\n"
    "  serve                run the broker daemon\n"
    "  db migrate|status    manage the store's schema\n"
    "  bootstrap            create the initial admin, project, roles, region and catalog\n"
    "  token-keys rotate    rotate the token encryption keys\n"
    "  config sample|check  print a sample configuration or check one\n"
    "  place                evaluate a placement offline (config, policy, request)\n"
    "  usage export|import  export or import the ledger as JSON lines\n"
    "  bill                 rate usage and print a bill (json, csv or html)\n"
    "  version              print the version\n"
    "\n`nephele <command> --help` tells more about each.\n";

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    /* Everything Nephele writes (store, keys, credentials) is private to its user. */
    umask(077);
    if (!cmd || strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(main_usage, cmd ? stdout : stderr);
        return cmd ? 0 : 2;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("nephele %s\n", NPH_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "db") == 0)
        return cmd_db(argc - 1, argv + 1);
    if (strcmp(cmd, "bootstrap") == 0)
        return cmd_bootstrap(argc - 1, argv + 1);
    if (strcmp(cmd, "token-keys") == 0)
        return cmd_token_keys(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "place") == 0)
        return cmd_place(argc - 1, argv + 1);
    if (strcmp(cmd, "usage") == 0)
        return cmd_usage(argc - 1, argv + 1);
    if (strcmp(cmd, "bill") == 0)
        return cmd_bill(argc - 1, argv + 1);
    fprintf(stderr, "nephele: '%s' is not a nephele command\n%s", cmd, main_usage);
    return 2;
}
