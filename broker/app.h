/*
 * app.h - the broker's process-wide state: configuration, store, the native identity service,
 * and the route table that the HTTP server dispatches on.
 */
#ifndef NPH_APP_H
#define NPH_APP_H

#include "backend.h"
#include "budget.h"
#include "federation.h"
#include "http_server.h"
#include "image/local_image.h"
#include "local_compute.h"
#include "local_identity.h"
#include "local_object.h"
#include "local_network.h"
#include "local_volume.h"
#include "nph_config.h"
#include "nph_store.h"

struct nph_app {
    struct nph_config cfg;
    struct nph_store *store;
    struct local_identity *identity;
    struct local_compute *compute; /* the native cloud's hypervisor connection */
    struct local_image *image;     /* the native cloud's images, data in <data_dir>/images */
    struct local_object *object;   /* the native cloud's objects, data in <data_dir>/objects */
    struct local_network *network; /* the native cloud's networks (Neutron-compatible) */
    struct local_volume *volume;   /* the native cloud's block storage */
    struct http_server *http;
    struct nph_backend_host host; /* what the local cloud driver borrows */
    struct fed *fed;              /* the clouds and servers across them */
    struct budget_svc *budget;    /* budgets' thresholds, alerts and webhook (budget.h) */
    struct meter_poller *meters;  /* samples of the native servers (app_start), or NULL */
};

/* Open the store, apply migrations, open the identity service, bootstrap when the store is
 * empty (password from NEPHELE_BOOTSTRAP_PASSWORD, else generated into
 * <data_dir>/admin-openrc, 0600). cfg must be finished (nph_config_finish). */
int app_open(struct nph_app *app, struct nph_error *err);
void app_close(struct nph_app *app);

/* Uploads (body-to-file routes) need a valid token before their bytes reach the disk. */
int app_upload_allowed(void *app, const char *auth_token, struct nph_error *err);

/* A project's labels for placement rules (its extra string properties and key=value tags);
 * a new object, empty when the project is unknown. */
json_t *app_project_labels(struct nph_app *app, const char *project_id);

/* Start the federation's workers and loops (`nephele serve` only). */
int app_start(struct nph_app *app, struct nph_error *err);

/* /metrics additions: the backend-call histograms and breaker gauges (malloc'd). */
char *app_extra_metrics(void *app, size_t *len);

/* /readyz: the store answers. */
int app_ready(void *app, struct nph_error *err);

/* mkdir -p with mode 0700. */
int app_mkdir_p(const char *path, struct nph_error *err);

/* Apply every component's migrations. */
int app_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Bootstrap the identity service with the given admin password (idempotent). */
int app_bootstrap(struct nph_app *app, const char *password, int *created, struct nph_error *err);

/* The full route table (native + OpenStack-compatible), terminated by {NULL}. */
const struct http_route *app_routes(void);

/* Keystone-compatible API routes (compat_keystone.c), terminated by {NULL}. */
extern const struct http_route compat_keystone_routes[];
/* Glance v2 compatible image API routes (compat_glance.c), terminated by {NULL}. */
extern const struct http_route compat_glance_routes[];
/* Swift v1 compatible object storage routes (compat_swift.c), terminated by {NULL}. */
extern const struct http_route compat_swift_routes[];
/* Nova v2.1 compatible compute API routes (compat_nova.c), terminated by {NULL}. */
extern const struct http_route compat_nova_routes[];
/* Neutron v2.0 compatible network API routes (compat_neutron.c), terminated by {NULL}. */
extern const struct http_route compat_neutron_routes[];
/* Nova os-interface routes over local/network (compat_nova_net.c), terminated by {NULL}. */
extern const struct http_route compat_nova_net_routes[];
/* Cinder v3 compatible block-storage API routes (compat_cinder.c), terminated by {NULL}. */
extern const struct http_route compat_cinder_routes[];
/* Native federation API routes (api_v1.c), terminated by {NULL}. */
extern const struct http_route api_v1_routes[];
/* Native billing API routes (api_billing.c: /v1/billing/reports), terminated by {NULL}. */
extern const struct http_route api_billing_routes[];
/* Budgets, alerts, the usage cross-check and the test clock (api_budgets.c). */
extern const struct http_route api_budgets_routes[];
/* Nova's os-simple-tenant-usage (compat_nova_usage.c), terminated by {NULL}. */
extern const struct http_route compat_nova_usage_routes[];
/* Samples of the native servers (api_meters.c: /v1/meters), terminated by {NULL}. */
extern const struct http_route api_meters_routes[];
/* Native API routes (api_native.c), terminated by {NULL}. */
extern const struct http_route api_native_routes[];

/* Authenticate the request's X-Auth-Token into req->auth (a struct ident_token owned by the
 * request). Returns 0, or -1 with NPH_E_UNAUTHORIZED. */
int app_authenticate(struct http_req *req, struct nph_error *err);

#endif
