/*
 * openstack_internal.h - the private side of the `openstack` driver: its configuration, its
 * shared session (Keystone token and service endpoints) and the pure functions that translate
 * between OpenStack's documents and Nephele's structs, exposed here for the unit tests.
 *
 * Files: openstack_driver.c (the table, open/close/health), openstack_config.c (config keys,
 * clouds.yaml merge), openstack_clouds_yaml.c (finding and reading clouds.yaml),
 * openstack_auth.c (Keystone v3, catalog, token cache), openstack_http.c (one authenticated
 * call with re-authentication, fault bodies into errors), openstack_nova.c (compute family),
 * openstack_glance.c (image family).
 *
 * Ownership: struct os_config owns every string in it (os_config_fini frees them and wipes the
 * secrets). Functions returning json_t * return new references.
 */
#ifndef NPH_OPENSTACK_INTERNAL_H
#define NPH_OPENSTACK_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "nph_error.h"
#include "nph_http.h"
#include "nph_jscan.h"

/* ---- configuration (openstack_config.c) ---------------------------------------------------- */

enum os_auth_type { OS_AUTH_PASSWORD, OS_AUTH_APPCRED };
enum os_network_mode { OS_NET_NONE, OS_NET_AUTO, OS_NET_UUID };

struct os_config {
    char *name;
    char *auth_url; /* Keystone v3 root, no trailing '/' ("https://keystone:5000/v3") */
    enum os_auth_type auth_type;
    char *username, *user_id, *password;
    char *project_name, *project_id;
    char *user_domain_name, *user_domain_id, *project_domain_name, *project_domain_id;
    char *app_cred_id, *app_cred_name, *app_cred_secret;
    char *region;    /* NULL = the first endpoint of any region */
    char *interface; /* "public", "internal" or "admin" */
    int verify;      /* TLS verification, default 1 */
    char *cacert;    /* NULL = the system store */
    long timeout_ms; /* one HTTP request; 0 = nph_http's default */
    enum os_network_mode net_mode;
    char *network_id; /* OS_NET_UUID only */
    char *source;     /* the clouds.yaml the entry came from, or NULL */
};

/* Validate a cloud's config (merging its clouds.yaml entry when it names one) into *out.
 * NPH_E_INVALID naming the offending key otherwise; *out is written only on success. */
int os_config_parse(const json_t *config, struct os_config *out, struct nph_error *err);
/* Free and wipe; safe on a zeroed struct. */
void os_config_fini(struct os_config *cfg);

/* ---- clouds.yaml (openstack_clouds_yaml.c) ------------------------------------------------- */

/* Read a YAML file into JSON (scalars typed the way PyYAML's safe loader reads clouds.yaml:
 * true/false/yes/no/on/off booleans, integers, null/~; quoted scalars stay strings). New
 * reference or NULL with err (NPH_E_INVALID naming the file and line, NPH_E_IO). */
json_t *os_yaml_load_file(const char *path, struct nph_error *err);
/* The entry `cloud` of the first clouds.yaml found: `explicit_path` if given, else
 * $OS_CLIENT_CONFIG_FILE, ./clouds.yaml, $HOME/.config/openstack/clouds.yaml,
 * /etc/openstack/clouds.yaml. On success returns a new reference to the entry and a malloc'd
 * copy of the file's path in *path_out; NULL with NPH_E_INVALID otherwise. */
json_t *os_clouds_yaml_find(const char *cloud, const char *explicit_path, char **path_out,
                            struct nph_error *err);

/* ---- Keystone and the catalog (openstack_auth.c) ------------------------------------------- */

enum os_service {
    OS_SVC_COMPUTE,
    OS_SVC_IMAGE,
    OS_SVC_VOLUME,
    OS_SVC_OBJECT,
    OS_SVC_NETWORK,
    OS_SVC_IDENTITY, /* requests go to the configured auth_url, not the catalog's */
};
#define OS_SVC_COUNT 6

/* A service's name in messages ("compute"). */
const char *os_service_name(enum os_service svc);

/* Endpoints of the services Nephele uses, picked from a catalog (NULL = not offered). */
struct os_endpoints {
    char *url[OS_SVC_COUNT];
};
void os_endpoints_fini(struct os_endpoints *ep);

/* The URL of the first endpoint of a service of `type` with `interface` in `region` (NULL =
 * any) in a Keystone v3 catalog (the token's "catalog" array). Returns 0 and a malloc'd URL
 * without trailing '/' in *url, 1 when the catalog has no such endpoint, -1 (NPH_E_BACKEND) when
 * the catalog is not the shape Keystone documents or NPH_E_NOMEM. */
int os_catalog_find(const json_t *catalog, const char *type, const char *region,
                    const char *interface, char **url, struct nph_error *err);
/* Every service of os_service from the catalog (block-storage falls back to volumev3). */
int os_catalog_endpoints(const json_t *catalog, const char *region, const char *interface,
                         struct os_endpoints *out, struct nph_error *err);

/* The Keystone v3 POST /auth/tokens body for cfg (holds the secret: wipe after use). */
json_t *os_auth_body(const struct os_config *cfg);

/* What a token response yields. */
struct os_token {
    char *id;           /* X-Subject-Token (a secret) */
    int64_t expires_at; /* UTC microseconds */
    struct os_endpoints ep;
    char project_id[64]; /* the token's project ("" when the token does not say) */
};
void os_token_fini(struct os_token *t);
/* Parse a 201 from POST /auth/tokens. NPH_E_BACKEND "cloud 'x' answered garbage to POST
 * /auth/tokens: ..." when the header or body is not what Keystone sends. */
int os_token_parse(const char *cloud, const char *subject_token, const char *body, size_t len,
                   const char *region, const char *interface, struct os_token *out,
                   struct nph_error *err);

/* "2.37" -> 2037; -1 if not MAJOR.MINOR. */
int os_microversion_parse(const char *s);
/* Glance's v2 root from a catalog URL with or without a version suffix (malloc'd). */
char *os_image_root(const char *url);

/* ---- the shared session and one call (openstack_http.c) ------------------------------------ */

#define OS_COMPUTE_MV      2037 /* the microversion we speak when the cloud has it */
#define OS_TOKEN_MARGIN_US (60 * 1000000LL)

struct os_backend {
    struct os_config cfg;
    struct nph_backend *b; /* our backend, for b->families */
    struct nph_http_client *http;
    pthread_mutex_t mu; /* guards the session below; never held during HTTP */
    pthread_cond_t cv;  /* signalled when an authentication ends (CLOCK_MONOTONIC) */
    int authenticating; /* a thread is authenticating: the others wait on cv */
    struct os_token tok;
    uint64_t gen;      /* bumped for each new token; 0 = none yet */
    int compute_mv;    /* the cloud's max compute microversion; 0 = not learnt yet */
    char *compute_url; /* the v2.1 root, once learnt from the compute version document */
};

/* One driver call: its deadline and a snapshot of the session it uses. */
struct os_call {
    struct os_backend *os;
    int64_t deadline; /* monotonic microseconds; 0 = none */
    const char *request_id;
    char *token;
    uint64_t gen;
    struct os_endpoints ep;
    int compute_mv;
    char *compute_url;
    char *image_url;     /* Glance's /v2 root, set by os_call_service */
    char project_id[64]; /* the session token's project */
};

void os_call_init(struct os_call *call, struct os_backend *os, const struct nph_backend_ctx *ctx);
void os_call_fini(struct os_call *call);

/* Give the call a token: at the call's start one valid for at least another minute, later the
 * one it has until it expires or is invalidated; authenticating (once for all threads) when
 * there is none. Snapshots the session into the call. */
int os_call_session(struct os_call *call, struct nph_error *err);
/* Forget the call's token (a 401 from a request made outside os_request): the next
 * os_call_session authenticates again. */
void os_call_reauth_prepare(struct os_call *call);
/* Make sure the service exists in the catalog (NPH_E_NOT_SUPPORTED otherwise) and, for
 * compute, that the microversion and v2.1 root are known. */
int os_call_service(struct os_call *call, enum os_service svc, struct nph_error *err);

/* One request to a service: `path` is appended to the service root (or is "" for the root).
 * `body` (may be NULL) is sent as JSON. A 401 re-authenticates once and retries; a non-2xx is
 * turned into an error by os_fault_error. On 2xx with `out` non-NULL the body must be a JSON
 * object (NPH_E_BACKEND "... answered garbage ..." otherwise), returned as a new reference. */
int os_request(struct os_call *call, enum os_service svc, const char *method, const char *path,
               const json_t *body, json_t **out, struct nph_error *err);
/* The same, answering the 2xx response itself (the caller finis it). */
int os_request_raw(struct os_call *call, enum os_service svc, const char *method, const char *path,
                   const json_t *body, struct nph_http_response *resp, struct nph_error *err);

/* GET every page of a collection: `path` first, then each "next" link (Nova's `<key>_links`,
 * Glance's `next`), calling fn on each element of the array `key`. fn reports a malformed item
 * with NPH_E_BACKEND and the reason, which becomes "... answered garbage to GET <path>". */
typedef int (*os_item_fn)(const json_t *item, void *arg, struct nph_error *err);
int os_list_all(struct os_call *call, enum os_service svc, const char *path, const char *key,
                os_item_fn fn, void *arg, struct nph_error *err);
/* The same over the raw pages with the JSON scanner (no tree is built: large lists are read
 * several times faster): fn is called at each element of `key` and must consume it; Nova's
 * `<key>_links` gives the next page. A malformed page is garbage, wherever the fault lies. */
typedef int (*os_scan_fn)(struct nph_jscan *s, void *arg, struct nph_error *err);
int os_list_scan(struct os_call *call, enum os_service svc, const char *path, const char *key,
                 os_scan_fn fn, void *arg, struct nph_error *err);

/* The error for a non-2xx answer: code from the status (400 INVALID, 401 UNAUTHORIZED, 403
 * FORBIDDEN or LIMIT for quota faults, 404 NOT_FOUND, 409 CONFLICT, 413/429 LIMIT, 503
 * UNAVAILABLE, 504 TIMEOUT, else BACKEND), message "cloud 'x' answered <status> to <METHOD>
 * <path>: <the cloud's message>", detail the fault's name and message. The cloud's text comes
 * from a Nova fault ({"itemNotFound": {"message", "code"}}), a Keystone error ({"error": {...}}),
 * a Neutron or API-WG error, or a text/HTML page (tags dropped); bounded and UTF-8 sanitized.
 * Always returns -1. */
int os_fault_error(const char *cloud, long status, const char *method, const char *path,
                   const char *body, size_t len, struct nph_error *err);
/* NPH_E_BACKEND "cloud 'x' answered garbage to <METHOD> <path>: <why>". Returns -1. */
int os_garbage(struct nph_error *err, const char *cloud, const char *method, const char *path,
               const char *why);

/* Percent-encode a path segment or query value (malloc'd; NULL on ENOMEM). */
char *os_escape(const char *s);
/* The query part of a pagination link ("marker=...&limit=..."), or NULL when there is none;
 * only the query is kept so that tokens never follow a link to another host. Malloc'd. */
char *os_link_query(const char *href);

/* ---- translations (openstack_nova.c, openstack_glance.c) ----------------------------------- */

/* A Nova server document (the object inside {"server": ...}) into *out. NPH_E_BACKEND with
 * the reason (naming the field) when it is not a server; *out written only on success. */
int os_server_from_json(const json_t *j, struct nph_server *out, struct nph_error *err);
/* The same from the scanner standing at the server's object (consumed). */
int os_server_scan(struct nph_jscan *s, struct nph_server *out, struct nph_error *err);
/* A Nova flavor into an offering; -1 with the reason in err (NPH_E_BACKEND). */
int os_offering_from_json(const json_t *j, struct nph_offering *out, struct nph_error *err);
/* A Glance v2 image into *out; -1 with the reason in err (NPH_E_BACKEND). */
int os_image_from_json(const json_t *j, struct nph_image *out, struct nph_error *err);
/* The body of POST /servers for spec (metadata stamped with the idempotency key; networks
 * per mode when mv >= 2.37). NULL with NPH_E_INVALID (bad spec) or NPH_E_NOMEM. */
json_t *os_server_create_body(const struct nph_server_spec *spec, enum os_network_mode mode,
                              const char *network_id, int mv, struct nph_error *err);
/* The body of POST /servers/{id}/action; NULL with NPH_E_INVALID. */
json_t *os_action_body(enum nph_server_action action, const char *arg, struct nph_error *err);

/* Nova's os-simple-tenant-usage document (the object inside {"tenant_usage": ...}) into *out
 * (server_usages included). NPH_E_BACKEND naming the field when it is not that shape; an
 * empty object is a project without usage. *out written only on success. */
int os_usage_from_json(const json_t *j, struct nph_usage_report *out, struct nph_error *err);

extern const struct nph_compute_ops os_compute_ops;
extern const struct nph_usage_ops os_usage_ops;
extern const struct nph_image_ops os_image_ops;
extern const struct nph_volume_ops os_volume_ops; /* openstack_cinder.c */
extern const struct nph_object_ops os_object_ops; /* openstack_swift.c */

/* A Cinder v3 volume document (the object inside {"volume": ...}) into *out; NPH_E_BACKEND
 * naming the field when it is not a volume. */
int os_volume_from_json(const json_t *j, struct nph_volume *out, struct nph_error *err);

#endif
