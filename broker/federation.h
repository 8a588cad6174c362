/*
 * federation.h - one API over many clouds (DESIGN.md sections 1, 4 and 7).
 *
 * Clouds. The `clouds:` section of the configuration and the clouds admins add at runtime
 * (stored in fed_cloud, credentials sealed with AES-256-GCM under the master key) each become a
 * struct nph_backend. Every call to a backend passes through one wrapper (fed_cloud.c) that
 * checks the cloud's circuit breaker, applies the call timeout, times the call into Prometheus
 * histograms per cloud and operation, logs failures, counts them into the breaker and is where
 * tests inject faults.
 *
 * Servers. A server's id is Nephele's; fed_server maps it to (cloud, region, remote id). On the
 * native (`local`) cloud the remote id is the id, and servers the Nova-compatible API created
 * directly are Nephele's too. Creates, deletes and actions are operations (fed_operation):
 * journaled before any cloud is touched, run by worker threads that claim them with a lease
 * (a compare-and-set on the row, so several brokers on one PostgreSQL run each once), and
 * polled until the cloud reports the end state. A create stamps its operation id on the remote
 * server (NPH_BACKEND_OP_KEY), so a broker killed between journal and cloud finds the server
 * on restart, or creates it then.
 *
 * Loops. Health probes (per process: breakers are per process); reconciliation (one process at
 * a time: a PostgreSQL advisory lock, or the single process on SQLite) marks servers deleted
 * behind Nephele's back (closing their ledger interval), finishes what crashed operations left
 * and reports remote servers Nephele does not know as orphans.
 */
#ifndef NPH_FEDERATION_H
#define NPH_FEDERATION_H

#include <jansson.h>
#include <stdint.h>

#include "backend.h"
#include "nph_config.h"
#include "nph_error.h"
#include "nph_store.h"

struct fed;

struct fed_caller {
    const char *project_id; /* the token's project ("" when not project-scoped) */
    const char *user_id;
    int is_admin;
    const char *request_id;
    const json_t *project_labels; /* the project's labels for placement rules; may be NULL */
};

/* Apply the "federation" component's migrations. */
int fed_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* Open every configured and stored cloud (lazily connected; a cloud that is down opens fine
 * and shows down). `host` lends the native core to the local driver (borrowed). Starts no
 * thread. NULL with err (a bad `clouds:` entry names its index and field). */
struct fed *fed_open(struct nph_store *store, const struct nph_config *cfg,
                     const struct nph_backend_host *host, struct nph_error *err);
/* Start the operation workers and the health and reconciliation loops. */
int fed_start(struct fed *f, struct nph_error *err);
/* Stop the threads (operations in flight stay journaled for the next start), close. */
void fed_close(struct fed *f);

/* Validate a `clouds:` section without opening anything that needs the broker (`nephele
 * config check`). */
int fed_check_clouds(const json_t *clouds, struct nph_error *err);

/* ---- clouds ------------------------------------------------------------------------------- */

/* [{"name","kind","source":"config|api","state":"up|degraded|down","breaker":"closed|open|
 * half-open","failures","last_error","last_probe","labels","families":[...],"default"}] */
json_t *fed_cloud_list(struct fed *f, struct nph_error *err);
json_t *fed_cloud_get(struct fed *f, const char *name, struct nph_error *err);
/* Admin: add a cloud from its configuration entry (same shape as in `clouds:`); credentials
 * are stored sealed. NPH_E_CONFLICT for a taken name. Returns the cloud as fed_cloud_get. */
json_t *fed_cloud_add(struct fed *f, const json_t *config, struct nph_error *err);
/* Admin: remove a cloud added through the API. NPH_E_CONFLICT while Nephele has servers on it
 * or when it comes from the configuration file. */
int fed_cloud_remove(struct fed *f, const char *name, struct nph_error *err);
/* Remote servers on the cloud that Nephele does not know, as the last reconciliation saw
 * them: [{"remote_id","name","status","op_key","first_seen","last_seen"}]. */
json_t *fed_cloud_orphans(struct fed *f, const char *name, struct nph_error *err);
/* Run one reconciliation of the cloud now (admin, tests). Returns a summary object
 * {"cloud","checked","marked_deleted","orphans","adopted","cleaned"}. */
json_t *fed_cloud_reconcile(struct fed *f, const char *name, struct nph_error *err);
/* The name of the cloud a create without one goes to (borrowed; NULL when none). */
const char *fed_default_cloud(struct fed *f);
/* The cloud's name as registered (borrowed, valid until fed_close), or NULL when no cloud is
 * called `name`. */
const char *fed_cloud_name(struct fed *f, const char *name);
/* 0 when name is NULL or a registered cloud; else NPH_E_INVALID "no cloud 'x' (GET /v1/clouds
 * lists them)", the one answer to a request naming an unknown cloud. */
int fed_cloud_check(struct fed *f, const char *name, struct nph_error *err);
/* The native cloud's name ("local" unless configured otherwise), or "" when none. */
const char *fed_local_cloud_name(struct fed *f);
/* 1 when a cloud other than the native one is configured. */
int fed_has_remote(struct fed *f);
/* 1 when `name` is a cloud of kind local. */
int fed_cloud_is_local(struct fed *f, const char *name);

/* Prometheus text of the backend-call histograms and breaker gauges (malloc'd). */
char *fed_metrics_render(struct fed *f, size_t *len);

/* Test-only fault injection (enabled with NEPHELE_FAULT_INJECTION=1 in the environment):
 * spec {"op": "server_create" | "*", "error": "<nph error name>", "delay_ms": n, "count": n,
 * "exit": true (the process _exits at that point, as if killed)}; NULL spec clears. */
int fed_cloud_set_fault(struct fed *f, const char *name, const json_t *spec, struct nph_error *err);

/* ---- servers and operations --------------------------------------------------------------- */

/* req: {"name" (required), "flavor" (Nephele flavor id or name, required), "image" (Nephele
 * image id or name, or a name known to the target cloud), "cloud" (optional; else the
 * placement hook picks: today the default cloud), "key_name", "metadata" (object of strings),
 * "user_data"}. Resolves the size and image on the chosen cloud before returning (clear errors
 * naming both), journals the operation and returns {"server": {...}, "operation": {...}}. */
json_t *fed_server_create(struct fed *f, const struct fed_caller *c, const json_t *req,
                          struct nph_error *err);
json_t *fed_server_get(struct fed *f, const struct fed_caller *c, const char *id,
                       struct nph_error *err);

struct fed_server_filter {
    const char *cloud;      /* only this cloud */
    const char *status;     /* Nova status, case-insensitive */
    const char *project_id; /* admins: only this project (else their own unless all) */
    int all_projects;       /* admins */
    int remote_only;        /* leave out the native cloud */
    const char *marker;     /* id of the last server of the previous page */
    int limit;              /* 0 = 1000 */
};
/* Merged list over all clouds, newest first: {"servers":[...],"unavailable":[{"cloud",
 * "error"}],"next": marker or null}. A cloud that does not answer contributes its servers from
 * Nephele's records with status "UNKNOWN" and is named in "unavailable". */
json_t *fed_server_list(struct fed *f, const struct fed_caller *c,
                        const struct fed_server_filter *flt, struct nph_error *err);
/* Journal an action or delete; returns the operation. */
json_t *fed_server_action(struct fed *f, const struct fed_caller *c, const char *id,
                          enum nph_server_action action, const char *arg, struct nph_error *err);
json_t *fed_server_delete(struct fed *f, const struct fed_caller *c, const char *id,
                          struct nph_error *err);
json_t *fed_operation_get(struct fed *f, const struct fed_caller *c, const char *id,
                          struct nph_error *err);
/* 1 when `id` is a server Nephele keeps on a cloud other than the local one (the
 * Nova-compatible API hands those to the federation). */
int fed_server_is_remote(struct fed *f, const char *id);

/* ---- volumes and buckets (fed_storage.c) ------------------------------------------------- */

/* Apply the "fed_storage" component's migrations (fed_volume, fed_bucket). */
int fed_storage_migrate(struct nph_store *store, int *applied, struct nph_error *err);
/* A volume size from a request: an integer in [1, LOCAL_VOLUME_MAX_GB]; NPH_E_INVALID. */
int fed_volume_size_parse(const json_t *v, int64_t *out, struct nph_error *err);
/* Reconcile a cloud's volumes and buckets with Nephele's records.
 * Volumes (stamped with Nephele's id at create): a record whose volume is gone is marked
 * deleted (ledger closed); a stamped volume whose create lost its answer is adopted; a stamped
 * volume no live record holds (failed create, twin, deleted) is deleted; an unstamped unknown
 * one is an orphan (not on the native cloud); a create that never reached the cloud is given up
 * after 10 minutes.
 * Buckets (named "nephele-<project>-<name>" on other clouds): a record whose container is gone
 * is marked deleted (ledger closed); an empty container of that form that no live record holds
 * (a create that failed after the cloud made it) is deleted; any other unknown container is an
 * orphan (not on the native cloud, whose containers are its users').
 * *volumes / *buckets get the counts (NULL when the cloud offers no such family). */
struct fed_cloud;
int fed_storage_reconcile_cloud(struct fed *f, struct fed_cloud *c, json_t **volumes,
                                json_t **buckets, struct nph_error *err);
/* Append the cloud's storage orphans ({"type":"volume"|"bucket",...}) to arr. */
int fed_storage_orphans(struct fed *f, const char *cloud, json_t *arr, struct nph_error *err);
/* req: {"size_gb" (required), "name", "description", "cloud" (else placement, kind
 * "volume"), "image" (a name or id on the chosen cloud)}. Project-scoped callers only. Returns
 * the volume {"id","name","cloud","region","remote_id","size_gb","status",...}. */
json_t *fed_volume_create(struct fed *f, const struct fed_caller *c, const json_t *req,
                          struct nph_error *err);
/* The volume with its live status; a cloud that does not answer gives the record with status
 * "unknown" and "cloud_error". */
json_t *fed_volume_get(struct fed *f, const struct fed_caller *c, const char *id,
                       struct nph_error *err);
/* {"volumes":[...],"unavailable":[{"cloud","error"}]}: the project's volumes (admins without a
 * project: all), cloud (may be NULL) only that cloud's. */
json_t *fed_volume_list(struct fed *f, const struct fed_caller *c, const char *cloud,
                        struct nph_error *err);
int fed_volume_delete(struct fed *f, const struct fed_caller *c, const char *id,
                      struct nph_error *err);
/* req: {"size_gb": larger than now}. Returns the volume. */
json_t *fed_volume_extend(struct fed *f, const struct fed_caller *c, const char *id,
                          const json_t *req, struct nph_error *err);

/* 3..63 of [a-z0-9.-], starting and ending with a letter or digit (S3's rule). */
int fed_bucket_name_check(const char *name, struct nph_error *err);
/* req: {"name" (required), "cloud" (else placement, kind "bucket"), "size_gb" (expected size,
 * for placement rules)}. Names are unique per project. */
json_t *fed_bucket_create(struct fed *f, const struct fed_caller *c, const json_t *req,
                          struct nph_error *err);
json_t *fed_bucket_get(struct fed *f, const struct fed_caller *c, const char *name,
                       struct nph_error *err);
/* {"buckets":[...],"unavailable":[...]}. */
json_t *fed_bucket_list(struct fed *f, const struct fed_caller *c, const char *cloud,
                        struct nph_error *err);
/* NPH_E_CONFLICT while it holds objects. */
int fed_bucket_delete(struct fed *f, const struct fed_caller *c, const char *name,
                      struct nph_error *err);
/* Objects in a bucket: {"key","size","etag","content_type","last_modified"}. */
json_t *fed_object_put(struct fed *f, const struct fed_caller *c, const char *bucket,
                       const char *key, const struct nph_object_body *body, struct nph_error *err);
int fed_object_get(struct fed *f, const struct fed_caller *c, const char *bucket, const char *key,
                   nph_object_sink_fn sink, void *arg, struct nph_object_info *out,
                   struct nph_error *err);
json_t *fed_object_head(struct fed *f, const struct fed_caller *c, const char *bucket,
                        const char *key, struct nph_error *err);
int fed_object_delete(struct fed *f, const struct fed_caller *c, const char *bucket,
                      const char *key, struct nph_error *err);
/* {"objects":[...],"next": the marker for the next page or null}. */
json_t *fed_object_list(struct fed *f, const struct fed_caller *c, const char *bucket,
                        const char *prefix, const char *marker, int limit, struct nph_error *err);

/* ---- placement (fed_place.c) -------------------------------------------------------------- */

struct fed_placement {
    char id[40]; /* the stored decision */
    int placed;
    char cloud[64], region[64], offering[128];
    char why[2048]; /* when not placed: why each cloud was ruled out */
    int quota_only; /* when not placed: every candidate was ruled out by the project's quota */
};
/* Ask the policy engine where `request` (pol_request_parse's shape: kind, project,
 * project_labels, labels, size | vcpus/ram_mb/disk_gb/gpus) goes over the live clouds; only_cloud
 * (may be NULL) rules out every other cloud. Stores the decision when `store`. Returns the
 * decision document (new reference; "id" included) with out filled, or NULL with err. */
json_t *fed_place(struct fed *f, const struct fed_caller *who, const json_t *request,
                  const char *only_cloud, int store, struct fed_placement *out,
                  struct nph_error *err);
json_t *fed_placement_get(struct fed *f, const struct fed_caller *who, const char *id,
                          struct nph_error *err);
/* Tie a stored decision to the server it placed (the Nova API's native creates), and find
 * the decision of a server ("" when none). */
void fed_placement_bind(struct fed *f, const char *placement_id, const char *server_id);
void fed_placement_of(struct fed *f, const char *server_id, char out[40]);
/* Policy documents (admin): store a new version (validated first), list (latest versions, or
 * every version of one), delete every version. */
json_t *fed_policy_put(struct fed *f, const char *name, const char *document,
                       struct nph_error *err);
json_t *fed_policy_list(struct fed *f, const char *name, struct nph_error *err);
int fed_policy_delete(struct fed *f, const char *name, struct nph_error *err);

#endif
