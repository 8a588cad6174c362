/*
 * local_volume.h - the native cloud's block storage: volume types, volumes (qcow2 files in a
 * libvirt storage pool), snapshots, attachments to servers and per-project quotas, with
 * Cinder's vocabulary and statuses.
 *
 * Vocabulary (jansson objects close to Cinder's, so that the compatible API only decorates):
 *   type     {"id","name","description","is_public","extra_specs":{}}
 *   volume   {"id","name","description","project_id","user_id","size" (GiB),"status",
 *             "volume_type" (type name),"volume_type_id","image_id","source_volid",
 *             "snapshot_id","bootable" (bool),"metadata":{},"attachments":[{"id",
 *             "attachment_id","volume_id","server_id","device","attached_at"}],
 *             "path","fault","created_at","updated_at"}
 *   snapshot {"id","name","description","volume_id","project_id","size","status",
 *             "metadata":{},"created_at","updated_at"}
 *
 * Statuses (Cinder's): a volume is creating -> available (or error); available -> attaching
 * -> in-use -> detaching -> available; available -> extending -> available; available|error
 * -> deleting -> (gone). A snapshot is creating -> available (or error); -> deleting -> gone.
 * Transitions are checked in local_volume_transition_ok (the one table), in one transaction
 * with the row's current status ("UPDATE ... WHERE status = ?"), so two racing requests
 * cannot both win.
 *
 * Work. Create, extend and delete touch the storage pool: the request records the new status
 * and queues a job; one worker thread runs it and records the outcome (status, and the ledger
 * event for volumes) in one transaction. Jobs left by a stopped process are requeued at start.
 *
 * Attachments go through a hook (struct local_volume_attach_hook) that the broker wires to
 * local_compute: storage builds the <disk> XML and picks the target (vdb, vdc, ...), compute
 * hot-plugs it into the server's domain. Storage never includes compute, nor compute storage.
 *
 * Callers identify themselves with struct local_volume_caller; a project sees only its own
 * volumes and snapshots (NPH_E_NOT_FOUND for the others); admins see all.
 */
#ifndef LOCAL_VOLUME_H
#define LOCAL_VOLUME_H

#include <jansson.h>
#include <stdint.h>

#include "image/local_image.h"
#include "nph_error.h"
#include "nph_store.h"

struct local_volume;

#define LOCAL_VOLUME_DEFAULT_TYPE "__DEFAULT__"
#define LOCAL_VOLUME_MAX_GB       16384 /* one volume: 16 TiB */
#define LOCAL_VOLUME_NAME_MAX     255
#define LOCAL_VOLUME_LIST_LIMIT   1000

struct local_volume_caller {
    const char *project_id;
    const char *user_id;
    int is_admin;
};

/* How storage finds an image's file (local_image_locate's shape, the service as ctx). */
typedef int (*local_volume_image_fn)(void *ctx, const char *image_id, const char *project_id,
                                     int is_admin, struct local_image_ref *out,
                                     struct nph_error *err);

/* How storage plugs a disk into a server and out again. attach: check that server_id exists
 * and is visible to the caller, then hot-plug the device described by `disk_xml` (libvirt
 * <disk>) into the server's domain, live when it runs and in its definition. detach: the
 * reverse (the same XML). Both return 0 or -1 with err (NPH_E_NOT_FOUND for an unknown
 * server, NPH_E_CONFLICT for a server in a state that does not allow it). */
struct local_volume_attach_hook {
    int (*attach)(void *ctx, const struct local_volume_caller *c, const char *server_id,
                  const char *disk_xml, struct nph_error *err);
    int (*detach)(void *ctx, const struct local_volume_caller *c, const char *server_id,
                  const char *disk_xml, struct nph_error *err);
    void *ctx;
};

struct local_volume_opts {
    struct nph_store *store;            /* migrated (local_volume_migrate, nph_ledger_migrate) */
    const char *data_dir;               /* volumes live under <data_dir>/volumes on a real host */
    const char *region;                 /* ledger events; NULL = "RegionOne" */
    const char *cloud;                  /* ledger events; NULL = "local" */
    local_volume_image_fn image_locate; /* NULL: no volumes from images */
    void *image_ctx;
    struct local_volume_attach_hook attach; /* attach NULL: attachments not supported */
};

/* Set up the service over the hypervisor at `uri` (the connection is made on first use).
 * NULL only for an empty URI or out of memory. */
struct local_volume *local_volume_open(const char *uri, struct nph_error *err);
/* Attach the store, make sure the default type exists, start the worker and requeue the work a
 * previous process left unfinished. The options' strings and store are borrowed. */
int local_volume_start(struct local_volume *lv, const struct local_volume_opts *opts,
                       struct nph_error *err);
/* Stop the worker (the running job finishes; queued ones are requeued by the next start),
 * close the connection, free. NULL is a no-op. */
void local_volume_close(struct local_volume *lv);
/* Apply the "volume" component's migrations. */
int local_volume_migrate(struct nph_store *store, int *applied, struct nph_error *err);
/* Block until no job is queued or running. */
void local_volume_drain(struct local_volume *lv);

/* ---- pure helpers (volume_rules.c), unit-tested on their own ----------------------------- */

/* 1 if Cinder allows a volume to go from status `from` to `to`, else 0. */
int local_volume_transition_ok(const char *from, const char *to);
/* 1 if `status` is a Cinder volume status, else 0. */
int local_volume_status_known(const char *status);
/* A size from a request: a JSON integer (or a string of digits, as cinderclient may send) in
 * [1, LOCAL_VOLUME_MAX_GB]. NPH_E_INVALID with Cinder's words otherwise. */
int local_volume_parse_size(const json_t *v, int64_t *out, struct nph_error *err);
/* The quota check: adding (volumes, gigabytes, snapshots) to `used` against `limit` (-1 =
 * unlimited). NPH_E_TOO_LARGE (413) with Cinder's message when over. */
struct local_volume_usage {
    int64_t volumes, gigabytes, snapshots;
};
int local_volume_quota_check(const struct local_volume_usage *limit,
                             const struct local_volume_usage *used, int64_t add_volumes,
                             int64_t add_gb, int64_t add_snapshots, struct nph_error *err);
/* The libvirt <disk> of a volume attached as `target` ("vdb"): file source, qemu driver of
 * `format`, virtio bus, serial = the volume id (so the guest finds it in /dev/disk/by-id).
 * readonly adds <readonly/>. Returns a malloc'd string or NULL with err. */
char *local_volume_disk_xml(const char *path, const char *format, const char *target,
                            const char *volume_id, int readonly, struct nph_error *err);
/* The first free virtio target after vda (the root disk): "vdb", "vdc", ... "vdz", given the
 * targets in use. Writes into out (>= 8 bytes); -1 with NPH_E_CONFLICT when all are taken. */
int local_volume_next_target(const char *const *used, int n_used, char *out, size_t len,
                             struct nph_error *err);

/* ---- volume types (volume_meta.c) -------------------------------------------------------- */

/* attrs: name (required, unique), description, is_public (default true), extra_specs.
 * Admin only (the caller checks). */
json_t *local_volume_type_create(struct local_volume *lv, const json_t *attrs,
                                 struct nph_error *err);
/* By id or name. Private types are visible to admins only. */
json_t *local_volume_type_get(struct local_volume *lv, const struct local_volume_caller *c,
                              const char *id_or_name, struct nph_error *err);
json_t *local_volume_type_list(struct local_volume *lv, const struct local_volume_caller *c,
                               struct nph_error *err);
/* attrs: name, description, is_public. */
json_t *local_volume_type_update(struct local_volume *lv, const char *id, const json_t *attrs,
                                 struct nph_error *err);
/* Refused (NPH_E_INVALID as Cinder) for the default type and for a type in use. */
int local_volume_type_delete(struct local_volume *lv, const char *id, struct nph_error *err);
/* Merge specs (string values) into the type's extra specs; remove one key. */
json_t *local_volume_type_set_specs(struct local_volume *lv, const char *id, const json_t *specs,
                                    struct nph_error *err);
int local_volume_type_unset_spec(struct local_volume *lv, const char *id, const char *key,
                                 struct nph_error *err);

/* ---- quotas (volume_meta.c) -------------------------------------------------------------- */

/* The limits of a project over the defaults (project_id NULL: the defaults):
 * {"volumes","gigabytes","snapshots"}. */
json_t *local_volume_quota_get(struct local_volume *lv, const char *project_id,
                               struct nph_error *err);
/* What a project uses: {"volumes","gigabytes","snapshots"}. */
json_t *local_volume_quota_usage(struct local_volume *lv, const char *project_id,
                                 struct nph_error *err);
/* Set limits (resource -> integer >= -1); unknown resources or bad values are NPH_E_INVALID,
 * and nothing is written then. Returns the resulting limits. */
json_t *local_volume_quota_set(struct local_volume *lv, const char *project_id,
                               const json_t *limits, struct nph_error *err);
int local_volume_quota_delete(struct local_volume *lv, const char *project_id,
                              struct nph_error *err);

/* ---- volumes (volume_volume.c) ----------------------------------------------------------- */

/* spec: size (required unless from a snapshot or volume: then their size), name,
 * description, volume_type (id or name; default __DEFAULT__), image_id, source_volid,
 * snapshot_id, metadata (string values), availability_zone ("nova" or the region's zone or
 * absent). Checks the quotas, records the volume "creating" and queues the work. Returns the
 * volume (new reference). */
json_t *local_volume_create(struct local_volume *lv, const struct local_volume_caller *c,
                            const json_t *spec, struct nph_error *err);
json_t *local_volume_get(struct local_volume *lv, const struct local_volume_caller *c,
                         const char *id, struct nph_error *err);

struct local_volume_filter {
    const char *name;       /* exact */
    const char *status;     /* exact; an unknown status matches nothing (as in Cinder) */
    const json_t *metadata; /* every key/value must match */
    const char *availability_zone;
    int all_projects;       /* admins */
    const char *project_id; /* admins with all_projects: this project only */
    const char *marker;     /* id of the last volume of the previous page */
    int limit;              /* 0 = no limit */
    const char *sort_key;   /* created_at (default), id, name, size, status, updated_at */
    int sort_asc;           /* default descending */
};
/* NPH_E_INVALID for an unknown marker ("marker [id] not found") or a bad sort key. Returns
 * an array (new reference). */
json_t *local_volume_list(struct local_volume *lv, const struct local_volume_caller *c,
                          const struct local_volume_filter *f, struct nph_error *err);
/* attrs: name, description, metadata (replaces). */
json_t *local_volume_update(struct local_volume *lv, const struct local_volume_caller *c,
                            const char *id, const json_t *attrs, struct nph_error *err);
/* Merge (replace=0) or replace the metadata; delete one key with meta NULL and key. */
json_t *local_volume_metadata(struct local_volume *lv, const struct local_volume_caller *c,
                              const char *id, const json_t *meta, int replace,
                              struct nph_error *err);
int local_volume_metadata_delete(struct local_volume *lv, const struct local_volume_caller *c,
                                 const char *id, const char *key, struct nph_error *err);
/* Queue the deletion. Refused (NPH_E_INVALID with Cinder's words) while the volume is not
 * available/error or has snapshots. */
int local_volume_delete(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, struct nph_error *err);
/* Grow an available volume to new_gb (> its size; quota checked) and queue the work. */
int local_volume_extend(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, int64_t new_gb, struct nph_error *err);
/* Write the volume's bytes to the new file `dst` in `format` ("raw", "qcow2", ...: qemu-img
 * convert), for os-volume_upload_image. The volume must be available, or in-use with force
 * (a crash-consistent copy); NPH_E_INVALID with Cinder's words otherwise. On test:/// volumes
 * have no bytes and dst is created empty. */
int local_volume_export(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, int force, const char *format, const char *dst,
                        struct nph_error *err);
/* Admin: force a status (os-reset_status); attach_status "detached" drops attachments. */
int local_volume_reset_status(struct local_volume *lv, const char *id, const char *status,
                              struct nph_error *err);
/* Set the bootable / readonly flags. */
int local_volume_set_flag(struct local_volume *lv, const struct local_volume_caller *c,
                          const char *id, const char *flag, int value, struct nph_error *err);

/* ---- attachments (volume_attach.c) ------------------------------------------------------- */

/* Cinder's reserve / unreserve (available <-> attaching) for a caller that attaches itself. */
int local_volume_reserve(struct local_volume *lv, const struct local_volume_caller *c,
                         const char *id, int reserve, struct nph_error *err);
/* Attach volume `id` to server `server_id` through the hook: the volume must be available
 * (or reserved by the caller: attaching); it is "attaching" while libvirt works, then
 * "in-use" with the attachment recorded, or back to "available" when the hook fails.
 * device: the requested target ("/dev/vdb", or NULL to pick the next free one). Returns the
 * attachment {"id","volume_id","server_id","device"} (new reference). */
json_t *local_volume_attach(struct local_volume *lv, const struct local_volume_caller *c,
                            const char *id, const char *server_id, const char *device,
                            struct nph_error *err);
/* Detach (in-use -> detaching -> available). server_id NULL: from its only server.
 * NPH_E_NOT_FOUND when the volume is not attached to that server. */
int local_volume_detach(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, const char *server_id, struct nph_error *err);
/* The attachments of a server: [{"id","volume_id","server_id","device"}] (new reference). */
json_t *local_volume_server_attachments(struct local_volume *lv, const char *server_id,
                                        struct nph_error *err);
/* A server is going away: its volumes become available without touching the domain. */
int local_volume_server_gone(struct local_volume *lv, const char *server_id, struct nph_error *err);

/* ---- snapshots (volume_snapshot.c) ------------------------------------------------------- */

/* spec: volume_id (required), name, description, metadata, force (snapshot of an in-use
 * volume; without it only available volumes). Quota "snapshots" and "gigabytes". */
json_t *local_volume_snapshot_create(struct local_volume *lv, const struct local_volume_caller *c,
                                     const json_t *spec, struct nph_error *err);
json_t *local_volume_snapshot_get(struct local_volume *lv, const struct local_volume_caller *c,
                                  const char *id, struct nph_error *err);
/* Filters: name, status, volume_id (NULL = any); all_projects for admins. */
json_t *local_volume_snapshot_list(struct local_volume *lv, const struct local_volume_caller *c,
                                   const char *name, const char *status, const char *volume_id,
                                   int all_projects, struct nph_error *err);
json_t *local_volume_snapshot_update(struct local_volume *lv, const struct local_volume_caller *c,
                                     const char *id, const json_t *attrs, struct nph_error *err);
json_t *local_volume_snapshot_metadata(struct local_volume *lv, const struct local_volume_caller *c,
                                       const char *id, const json_t *meta, int replace,
                                       struct nph_error *err);
int local_volume_snapshot_metadata_delete(struct local_volume *lv,
                                          const struct local_volume_caller *c, const char *id,
                                          const char *key, struct nph_error *err);
int local_volume_snapshot_delete(struct local_volume *lv, const struct local_volume_caller *c,
                                 const char *id, struct nph_error *err);

#endif
