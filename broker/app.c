/*
 * app.c - opening and closing the broker's state (store, migrations, identity, bootstrap) and
 * assembling the route table from the APIs' tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "app.h"
#include "net_realise.h"
#include "nph_crypto.h"
#include "meter_poller.h"
#include "nph_ledger.h"
#include "nph_log.h"
#include "nph_meter.h"

/* The services Nephele lists in its catalog: type, name, path under the public URL. */
static const char *const catalog_services[] = {
    "identity",      "keystone",     "/identity",     "image",
    "glance",        "/image",       "compute",       "nova",
    "/compute/v2.1", "object-store", "swift",         "/object-store/v1/AUTH_%(project_id)s",
    "network",       "neutron",      "/network",      "volumev3",
    "cinderv3",      "/volume/v3",   "block-storage", "cinder",
    "/volume/v3",    NULL,
};

/* local_image_locate in the shape compute expects (the service as an opaque context). */
static int app_image_locate(void *ctx, const char *image_id, const char *project_id, int is_admin,
                            struct local_image_ref *out, struct nph_error *err)
{
    return local_image_locate(ctx, image_id, project_id, is_admin, out, err);
}

/* Volumes are plugged into servers by compute (storage does not know compute). */
static int app_volume_plug(void *ctx, const struct local_volume_caller *c, const char *server_id,
                           const char *disk_xml, struct nph_error *err)
{
    struct local_compute_caller cc = {c->project_id, c->user_id, c->is_admin, NULL};
    return local_compute_server_attach_device(ctx, &cc, server_id, disk_xml, err);
}

static int app_volume_unplug(void *ctx, const struct local_volume_caller *c, const char *server_id,
                             const char *disk_xml, struct nph_error *err)
{
    struct local_compute_caller cc = {c->project_id, c->user_id, c->is_admin, NULL};
    return local_compute_server_detach_device(ctx, &cc, server_id, disk_xml, err);
}

int app_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    int n = 0;
    int c = 0, l = 0;
    int fm = 0, bm = 0, nw = 0, vm = 0;
    if (local_identity_migrate(store, applied, err) || local_image_migrate(store, &n, err) ||
        nph_ledger_migrate(store, &l, err) || nph_meter_migrate(store, NULL, err) ||
        local_compute_migrate(store, &c, err) || fed_migrate(store, &fm, err) ||
        budget_migrate(store, &bm, err) || local_network_migrate(store, &nw, err) ||
        local_volume_migrate(store, &vm, err) || fed_storage_migrate(store, NULL, err))
        return -1;
    {
        int ob = 0;
        if (local_object_migrate(store, &ob, err))
            return -1;
        n += ob;
    }
    if (applied)
        *applied += n + c + l + fm + bm + nw + vm;
    return 0;
}

int app_mkdir_p(const char *path, struct nph_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return nph_error_set(err, NPH_E_IO, "cannot create directory '%s': %s", buf,
                                     strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return nph_error_set(err, NPH_E_IO, "cannot create directory '%s': %s", buf,
                             strerror(errno));
    return 0;
}

/* The password as a single-quoted shell word: ' becomes '\''. */
static void fput_shell_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* Write the admin credentials as an openrc file, 0600. */
static int write_openrc(struct nph_app *app, const char *password, struct nph_error *err)
{
    char path[4096];
    FILE *f;
    int fd;
    snprintf(path, sizeof(path), "%s/admin-openrc", app->cfg.data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return nph_error_set(err, NPH_E_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    fprintf(f,
            "# Nephele admin credentials, written at bootstrap. Keep this file private.\n"
            "export OS_AUTH_URL=%s/identity/v3\n"
            "export OS_IDENTITY_API_VERSION=3\n"
            "export OS_USERNAME=admin\n"
            "export OS_PROJECT_NAME=admin\n"
            "export OS_USER_DOMAIN_NAME=Default\n"
            "export OS_PROJECT_DOMAIN_NAME=Default\n"
            "export OS_REGION_NAME=%s\n",
            app->cfg.public_url, app->cfg.identity_region);
    fputs("export OS_PASSWORD=", f);
    fput_shell_quoted(f, password);
    fputc('\n', f);
    if (fclose(f) != 0)
        return nph_error_set(err, NPH_E_IO, "cannot write '%s'", path);
    return 0;
}

int app_bootstrap(struct nph_app *app, const char *password, int *created, struct nph_error *err)
{
    if (local_identity_bootstrap(app->identity, password, app->cfg.identity_region,
                                 app->cfg.public_url, catalog_services, created, err))
        return -1;
    if (*created)
        return write_openrc(app, password, err);
    return 0;
}

int app_open(struct nph_app *app, struct nph_error *err)
{
    struct local_identity_opts io;
    int applied = 0, created = 0;
    const char *env_pw = getenv("NEPHELE_BOOTSTRAP_PASSWORD");
    char generated[64];
    if (app_mkdir_p(app->cfg.data_dir, err))
        return -1;
    if (nph_store_open(app->cfg.store_url, (int)app->cfg.store_pool_size, &app->store, err))
        return nph_error_prefix(err, "opening the store");
    if (app_migrate(app->store, &applied, err))
        return nph_error_prefix(err, "migrating the store");
    if (applied)
        nph_logf(NPH_LOG_INFO, "store.migrated", "applied %d migration(s)", applied);
    memset(&io, 0, sizeof(io));
    io.keys_dir = app->cfg.identity_token_keys_dir;
    io.max_active_keys = (int)app->cfg.identity_max_active_keys;
    io.token_lifetime_s = app->cfg.identity_token_lifetime;
    io.password_iterations = (unsigned)app->cfg.identity_password_hash_iterations;
    io.lockout_failure_attempts = (int)app->cfg.identity_lockout_failure_attempts;
    io.lockout_duration_s = app->cfg.identity_lockout_duration;
    io.unique_last_password_count = (int)app->cfg.identity_unique_last_password_count;
    app->compute = local_compute_open(app->cfg.compute_libvirt_uri, err);
    if (!app->compute)
        return nph_error_prefix(err, "opening the native cloud");
    app->identity = local_identity_open(app->store, &io, err);
    if (!app->identity)
        return nph_error_prefix(err, "opening the identity service");
    app->network = local_network_open(app->store, err);
    if (!app->network)
        return nph_error_prefix(err, "opening the network service");
    {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/images", app->cfg.data_dir);
        app->image = local_image_open(app->store, dir, 0, err);
        if (!app->image)
            return nph_error_prefix(err, "opening the image service");
    }
    if (strncmp(app->cfg.compute_libvirt_uri, "test:", 5) != 0) {
        /* A real hypervisor runs qemu as its own user (libvirt-qemu on Debian), which must
         * reach the disks, images and kernels under the data directory: those directories get
         * search permission for others (0711: no listing); the files in them stay 0600 and
         * libvirt hands each guest's files to qemu when it starts the guest. */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/images", app->cfg.data_dir);
        if (chmod(app->cfg.data_dir, 0711) != 0 || chmod(dir, 0711) != 0)
            nph_log(NPH_LOG_WARN, "compute.permissions", "msg",
                    "cannot open the data directory to the hypervisor's user", "dir",
                    app->cfg.data_dir, NULL);
    }
    if (net_realise_wire(app, err)) /* networks in libvirt, ports on domains */
        return nph_error_prefix(err, "realising networks");
    {
        struct local_compute_opts co;
        memset(&co, 0, sizeof(co));
        co.store = app->store;
        co.data_dir = app->cfg.data_dir;
        co.region = app->cfg.identity_region;
        /* the ledger names the native cloud as the configuration does (billing prices it) */
        size_t ci;
        json_t *ce;
        json_array_foreach(json_object_get(app->cfg.sections, "clouds"), ci, ce)
        {
            const char *kind = json_string_value(json_object_get(ce, "kind"));
            if (!co.cloud && kind && strcmp(kind, "local") == 0)
                co.cloud = json_string_value(json_object_get(ce, "name"));
        }
        co.image_locate = app_image_locate;
        co.image_ctx = app->image;
        co.bootstrap_flavors = 1;
        if (local_compute_start(app->compute, &co, err))
            return nph_error_prefix(err, "starting the compute service");
        struct local_volume_opts vo;
        memset(&vo, 0, sizeof(vo));
        vo.store = app->store;
        vo.data_dir = app->cfg.data_dir;
        vo.region = co.region;
        vo.cloud = co.cloud;
        vo.image_locate = app_image_locate;
        vo.image_ctx = app->image;
        vo.attach.attach = app_volume_plug;
        vo.attach.detach = app_volume_unplug;
        vo.attach.ctx = app->compute;
        if (!(app->volume = local_volume_open(app->cfg.compute_libvirt_uri, err)) ||
            local_volume_start(app->volume, &vo, err))
            return nph_error_prefix(err, "starting the volume service");
    }
    {
        struct local_object_opts oo;
        char dir[4096];
        memset(&oo, 0, sizeof(oo));
        char updir[4096];
        snprintf(dir, sizeof(dir), "%s/objects", app->cfg.data_dir);
        snprintf(updir, sizeof(updir), "%s/images", app->cfg.data_dir); /* main.c's upload_dir */
        oo.dir = dir;
        oo.upload_dir = updir;
        oo.region = app->cfg.identity_region;
        json_t *ce;
        size_t ci;
        json_array_foreach(json_object_get(app->cfg.sections, "clouds"), ci, ce)
        {
            const char *kind = json_string_value(json_object_get(ce, "kind"));
            if (!oo.cloud && kind && strcmp(kind, "local") == 0)
                oo.cloud = json_string_value(json_object_get(ce, "name"));
        }
        app->object = local_object_open(app->store, &oo, err);
        if (!app->object)
            return nph_error_prefix(err, "opening the object store");
    }
    app->host.compute = app->compute;
    app->host.image = app->image;
    app->host.region = app->cfg.identity_region;
    app->host.volume = app->volume;
    app->host.object = app->object;
    app->fed = fed_open(app->store, &app->cfg, &app->host, err);
    if (!app->fed)
        return nph_error_prefix(err, "opening the clouds");
    if (!(app->budget = budget_open(app->store, &app->cfg, err)))
        return nph_error_prefix(err, "opening the budgets");
    if (!env_pw || !*env_pw) {
        uint8_t raw[18];
        if (nph_random_bytes(raw, sizeof(raw), err))
            return -1;
        nph_b64url_encode(raw, sizeof(raw), generated);
        OPENSSL_cleanse(raw, sizeof(raw));
        env_pw = generated;
    }
    if (app_bootstrap(app, env_pw, &created, err)) {
        OPENSSL_cleanse(generated, sizeof(generated));
        return nph_error_prefix(err, "bootstrapping identity");
    }
    OPENSSL_cleanse(generated, sizeof(generated));
    if (created)
        nph_log(NPH_LOG_INFO, "identity.bootstrapped", "user", "admin", "project", "admin",
                "credentials", "admin-openrc in the data directory", NULL);
    return 0;
}

int app_ready(void *ctx, struct nph_error *err)
{
    struct nph_app *app = ctx;
    /* Ready = the store answers. A cloud that is down (the native one included) is that
     * cloud's health, not the broker's: the broker keeps serving every other cloud. */
    if (nph_store_ping(app->store, err))
        return nph_error_prefix(err, "store");
    return 0;
}

int app_upload_allowed(void *ctx, const char *auth_token, struct nph_error *err)
{
    struct nph_app *app = ctx;
    struct ident_token t;
    if (!auth_token || !*auth_token)
        return nph_error_set(err, NPH_E_UNAUTHORIZED,
                             "the request you have made requires authentication");
    return local_identity_token_validate(app->identity, auth_token, 0, &t, err);
}

int app_start(struct nph_app *app, struct nph_error *err)
{
    if (fed_start(app->fed, err))
        return -1;
    /* metering: samples of the native servers (docs/billing.md, "Samples") */
    if (app->compute && app->cfg.metering_sample_interval > 0) {
        const char *cloud = "local";
        size_t ci;
        json_t *ce;
        json_array_foreach(json_object_get(app->cfg.sections, "clouds"), ci, ce)
        {
            const char *kind = json_string_value(json_object_get(ce, "kind"));
            if (kind && strcmp(kind, "local") == 0 && json_object_get(ce, "name")) {
                cloud = json_string_value(json_object_get(ce, "name"));
                break;
            }
        }
        app->meters =
            meter_poller_start(app->store, app->compute, cloud, app->cfg.metering_sample_interval,
                               app->cfg.metering_raw_retention, app->cfg.metering_retention, err);
        if (!app->meters)
            return -1;
    }
    return budget_start(app->budget, err) ? -1 : 0;
}

char *app_extra_metrics(void *ctx, size_t *len)
{
    struct nph_app *app = ctx;
    return app->fed ? fed_metrics_render(app->fed, len) : NULL;
}

void app_close(struct nph_app *app)
{
    budget_close(app->budget);
    app->budget = NULL;
    meter_poller_stop(app->meters); /* first: it samples the native cloud */
    app->meters = NULL;
    fed_close(app->fed); /* first: its workers call the native cloud */
    app->fed = NULL;
    local_volume_close(app->volume); /* before compute: it plugs volumes through compute */
    app->volume = NULL;
    local_compute_close(app->compute); /* first: its workers use the image service */
    app->compute = NULL;
    local_identity_close(app->identity);
    app->identity = NULL;
    local_image_close(app->image);
    app->image = NULL;
    local_object_close(app->object);
    app->object = NULL;
    local_network_close(app->network);
    app->network = NULL;
    nph_store_close(app->store);
    app->store = NULL;
}

static struct http_route all_routes[1024];

/* Every route of every table, in order, NULL-terminated; built once, at start-up. A table
 * that outgrows all_routes is a build mistake: abort rather than serve without routes. */
const struct http_route *app_routes(void)
{
    const struct http_route *tables[] = {
        api_native_routes,   api_v1_routes,          api_billing_routes,
        api_meters_routes,   compat_keystone_routes, compat_glance_routes,
        compat_nova_routes,  api_budgets_routes,     compat_nova_usage_routes,
        compat_swift_routes, compat_neutron_routes,  compat_nova_net_routes,
        compat_cinder_routes};
    size_t n = 0;
    if (all_routes[0].method)
        return all_routes;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct http_route *r = tables[t]; r->method; r++) {
            if (n + 1 >= sizeof(all_routes) / sizeof(all_routes[0])) {
                fprintf(stderr, "nephele: more than %zu routes: enlarge all_routes in app.c\n",
                        sizeof(all_routes) / sizeof(all_routes[0]) - 1);
                abort();
            }
            all_routes[n++] = *r;
        }
    }
    return all_routes;
}
