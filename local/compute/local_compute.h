/*
 * local_compute.h - the native cloud's compute service over libvirt: the hypervisor
 * connection and its health, flavors, servers and their lifecycle, quotas, key pairs and
 * instance actions.
 *
 * Vocabulary. Resources are jansson objects close to Nova's, so that the compatible API only
 * decorates them (links, microversion-dependent fields):
 *   flavor  {"id","name","vcpus","ram" (MiB),"disk" (GiB),"ephemeral","swap","is_public",
 *            "description","extra_specs":{}}
 *   server  {"id","name","project_id","user_id","status" (Nova's: BUILD, ACTIVE, SHUTOFF,
 *            REBOOT, HARD_REBOOT, RESIZE, VERIFY_RESIZE, REVERT_RESIZE, REBUILD, ERROR,
 *            DELETED),"vm_state","task_state","power_state" (Nova's numbers),"flavor" (the
 *            flavor as it was when the server got it),"image_id","key_name",
 *            "availability_zone","description","locked","locked_reason","metadata":{},
 *            "tags":[],"fault","host","created","updated","launched_at" (ISO 8601 or null),
 *            "domain" (libvirt domain name),"access_ipv4","access_ipv6" (or null)}
 *
 * State. The store holds what Nephele decided (vm_state, task_state); the hypervisor holds
 * what is true. Reading a server asks libvirt (virDomainGetState) and, when a domain was shut
 * off or removed behind Nephele's back, records the change (and its ledger event) before
 * answering.
 *
 * Work. Operations that touch the hypervisor (build, stop, start, reboot, resize, revert,
 * rebuild, delete) set a task state, queue a job and return; a pool of worker threads runs the
 * jobs (one job per server at a time) and writes the outcome, its ledger event and the
 * instance action's result in one transaction. A second request for a server that has a task
 * in progress is NPH_E_CONFLICT, as in Nova.
 *
 * Callers identify themselves with struct local_compute_caller; a project sees only its own
 * servers (NPH_E_NOT_FOUND for the others); admins see all.
 */
#ifndef LOCAL_COMPUTE_H
#define LOCAL_COMPUTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "image/local_image.h" /* local/ is on the include path */
#include "nph_error.h"
#include "nph_store.h"

struct local_compute;

struct local_compute_node {
    char model[64];      /* CPU model as libvirt reports it */
    unsigned cpus;       /* active CPUs */
    uint64_t memory_kib; /* node memory */
    char hypervisor[32]; /* "Test", "QEMU", ... */
};

/* How compute finds an image's file: local_image_locate's signature with the service as ctx.
 * The broker passes local_image_locate; unit tests pass their own lookup over fixture files. */
typedef int (*local_compute_image_fn)(void *ctx, const char *image_id, const char *project_id,
                                      int is_admin, struct local_image_ref *out,
                                      struct nph_error *err);

struct local_compute_opts {
    struct nph_store *store; /* migrated (local_compute_migrate, nph_ledger_migrate) */
    const char *data_dir;    /* instances live under <data_dir>/instances */
    const char *region;      /* written into ledger events; NULL = "RegionOne" */
    const char *cloud;       /* the native cloud's name in ledger events; NULL = "local" */
    int workers;             /* job threads; 0 = 4 */
    int stop_timeout_s;      /* graceful shutdown wait before a hard stop; 0 = 60 */
    local_compute_image_fn image_locate; /* NULL: servers cannot boot from images */
    void *image_ctx;
    int bootstrap_flavors; /* create m1.tiny, m1.small, m1.medium when no flavor exists */
};

struct local_compute_caller {
    const char *project_id;
    const char *user_id;
    int is_admin;
    const char *request_id; /* recorded in instance actions; may be NULL */
};

/* Set up the service for the hypervisor at `uri`; the connection itself is made on first use
 * (health or any operation), and errors to reach it are reported there, as NPH_E_UNAVAILABLE
 * with libvirt's message in the detail. NULL only for an empty URI or out of memory. */
struct local_compute *local_compute_open(const char *uri, struct nph_error *err);
/* Attach the store and start the workers (borrows opts' strings and store for the service's
 * lifetime); requeues servers left in a task by a previous process. Required before any
 * flavor or server call. */
int local_compute_start(struct local_compute *lc, const struct local_compute_opts *opts,
                        struct nph_error *err);
/* Stop the workers (letting the running jobs finish; queued ones stay recorded as tasks and
 * are requeued by the next start), close the connection, free. NULL is a no-op. */
void local_compute_close(struct local_compute *lc);
/* The URI the service is connected to (borrowed). */
const char *local_compute_uri(const struct local_compute *lc);
/* 0 if the hypervisor can be reached and its node answers; else -1 with NPH_E_UNAVAILABLE. Fills
 * node (may be NULL) from virNodeGetInfo. */
int local_compute_health(struct local_compute *lc, struct local_compute_node *node,
                         struct nph_error *err);
/* Apply the compute schema migrations (component "compute"). */
int local_compute_migrate(struct nph_store *store, int *applied, struct nph_error *err);
/* Block until no job is queued or running (tests, shutdown). */
void local_compute_drain(struct local_compute *lc);

/* Sample every server not deleted (compute_meter.c): CPU time, disk and network bytes from
 * libvirt, written to the store's meter_sample table at time `now` (UTC microseconds) for
 * `cloud` (may be NULL). *written (may be NULL) receives the number of samples. */
int local_compute_sample(struct local_compute *lc, struct nph_store *store, const char *cloud,
                         int64_t now, size_t *written, struct nph_error *err);

/* ---- domain XML (compute_xml.c) ---------------------------------------------------------- */

/* A network interface of a guest: <interface type='network'> on libvirt network `network` with
 * MAC `mac` (virtio), and <filterref filter=`filter`> when filter is not NULL. */
struct local_compute_nic {
    const char *mac, *network, *filter;
};

struct local_compute_domain {
    const char *name, *uuid;
    unsigned vcpus;
    uint64_t ram_mb;
    int kvm;                               /* 1: <domain type='kvm'>; 0: 'qemu' (TCG) */
    const char *disk_path;                 /* root disk; NULL = no disk */
    const char *disk_format;               /* "qcow2" or "raw" */
    const char *kernel, *initrd, *cmdline; /* direct kernel boot; NULL = boot from disk */
    const char *console_log;               /* serial console file; NULL = no serial device */
    const char *project_id, *flavor_name;  /* written as Nephele metadata; may be NULL */
    const struct local_compute_nic *nics;  /* network interfaces, in order */
    size_t n_nics;
};

/* Build the domain XML (libxml2) for a guest. Returns a malloc'd string or NULL with err. */
char *local_compute_domain_xml(const struct local_compute_domain *d, struct nph_error *err);
/* The <interface> element of a nic alone (for hot-plug). malloc'd, or NULL with err. */
char *local_compute_nic_xml(const struct local_compute_nic *nic, struct nph_error *err);
/* 1 if /dev/kvm is usable (read-write; on x86 also the CPU's vmx or svm flag), else 0: then
 * guests run under TCG. */
int local_compute_have_kvm(void);
/* 1 if a /proc/cpuinfo text lists vmx or svm among the first CPU's flags. */
int local_compute_cpuinfo_has_virt(const char *cpuinfo);

/* ---- flavors (compute_flavor.c) ---------------------------------------------------------- */

/* attrs: name (required), vcpus, ram, disk (required), ephemeral, swap, is_public (default
 * true), description, id (optional; default a UUID), extra_specs. Admin only (the caller
 * checks). NPH_E_CONFLICT for a taken name or id. Returns the flavor (new reference). */
json_t *local_compute_flavor_create(struct local_compute *lc, const json_t *attrs,
                                    struct nph_error *err);
/* A flavor by id, visible to the caller (public, granted to its project, or admin). */
json_t *local_compute_flavor_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *id, struct nph_error *err);
/* Flavors visible to the caller, ordered by (ram, id) ascending like Nova's default.
 * is_public: 1 public only (the default), 0 private only (admins), -1 all (admins; non-admins
 * get public + granted). */
json_t *local_compute_flavor_list(struct local_compute *lc, const struct local_compute_caller *c,
                                  int is_public, struct nph_error *err);
int local_compute_flavor_delete(struct local_compute *lc, const char *id, struct nph_error *err);
/* Update the description (the only mutable attribute, as in Nova). */
json_t *local_compute_flavor_update(struct local_compute *lc, const char *id,
                                    const char *description, struct nph_error *err);
/* Merge `specs` (object of string values) into the flavor's extra specs; NULL value deletes
 * key `key` (when specs is NULL). Returns the resulting extra specs object. */
json_t *local_compute_flavor_set_specs(struct local_compute *lc, const char *id,
                                       const json_t *specs, struct nph_error *err);
int local_compute_flavor_unset_spec(struct local_compute *lc, const char *id, const char *key,
                                    struct nph_error *err);
/* Private flavor access: grant/revoke a project; list [{"flavor_id","tenant_id"}]. */
int local_compute_flavor_access(struct local_compute *lc, const char *id, const char *project_id,
                                int grant, struct nph_error *err);
json_t *local_compute_flavor_access_list(struct local_compute *lc, const char *id,
                                         struct nph_error *err);

/* ---- servers (compute_server.c) ---------------------------------------------------------- */

/* spec: name (required), flavor_id (required), image_id (required unless no image service:
 * then optional), key_name, availability_zone ("nova" or absent), metadata, description,
 * user_data, tags, access_ipv4/access_ipv6 ("" or an address of the family: NPH_E_INVALID
 * otherwise), quota_count (a multiple create: check the quotas for this many servers of
 * the flavor; default 1). Checks quotas (NPH_E_FORBIDDEN "Quota exceeded for ..." as Nova words
 * it), records the server in BUILD and queues its build. Returns the server (new reference). */
json_t *local_compute_server_create(struct local_compute *lc, const struct local_compute_caller *c,
                                    const json_t *spec, struct nph_error *err);
json_t *local_compute_server_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *id, struct nph_error *err);

struct local_compute_server_filter {
    const char *name_regex; /* POSIX extended regex searched in the name */
    const char *status;     /* Nova status, case-insensitive */
    const char *flavor_id, *image_id;
    int64_t changes_since;  /* 0 = none; else updated >= it, deleted servers included */
    int all_projects;       /* admins: every project */
    const char *project_id; /* admins with all_projects: only this project */
    int deleted;            /* admins: deleted servers only */
    const char *marker;     /* id of the last server of the previous page */
    int limit;              /* 0 = no limit */
};
/* Servers visible to the caller, newest first. NPH_E_INVALID for a bad regex or an unknown
 * marker. Returns an array (new reference). */
json_t *local_compute_server_list(struct local_compute *lc, const struct local_compute_caller *c,
                                  const struct local_compute_server_filter *f,
                                  struct nph_error *err);
/* A stamp of everything a list of the caller's servers (with these project filters) depends
 * on: the rows (count and latest change, deleted ones included) and the power states of the
 * hypervisor's domains. Equal stamps mean an equal list, so callers may cache what they
 * rendered from one (compat_nova.c does). Works across broker processes sharing a store,
 * since every change of a server row moves its updated_at. */
int local_compute_list_stamp(struct local_compute *lc, const struct local_compute_caller *c,
                             const struct local_compute_server_filter *f, uint64_t *stamp,
                             struct nph_error *err);
/* Rename / describe / readdress (attrs: name, description, access_ipv4, access_ipv6). */
json_t *local_compute_server_update(struct local_compute *lc, const struct local_compute_caller *c,
                                    const char *id, const json_t *attrs, struct nph_error *err);
/* Queue the deletion (task "deleting"); the row is kept as DELETED. */
int local_compute_server_delete(struct local_compute *lc, const struct local_compute_caller *c,
                                const char *id, struct nph_error *err);

enum local_compute_action {
    LC_ACT_START,
    LC_ACT_STOP,
    LC_ACT_REBOOT_SOFT,
    LC_ACT_REBOOT_HARD,
    LC_ACT_RESIZE, /* arg: flavor id */
    LC_ACT_CONFIRM_RESIZE,
    LC_ACT_REVERT_RESIZE,
    LC_ACT_REBUILD, /* arg: image id (NULL = the same) */
    LC_ACT_LOCK,    /* arg: reason (may be NULL) */
    LC_ACT_UNLOCK,
};
/* Check the server's state allows the action (NPH_E_CONFLICT otherwise, worded like Nova:
 * "Cannot 'os-stop' instance ... while it is in vm_state stopped"), record it and queue the
 * work. A locked server refuses everything but unlock for non-admins (NPH_E_CONFLICT). */
int local_compute_server_action(struct local_compute *lc, const struct local_compute_caller *c,
                                const char *id, enum local_compute_action a, const char *arg,
                                struct nph_error *err);
/* Where a snapshot's data goes (createImage). store: make the qcow2 file at `path` the data
 * of image `image_id` (the file is consumed whatever happens; 0 or -1 with err). discard: drop
 * the image after a failed snapshot. Both run on a worker thread; ctx must outlive the
 * service. */
struct local_compute_image_sink {
    int (*store)(void *ctx, const char *image_id, const char *path, struct nph_error *err);
    void (*discard)(void *ctx, const char *image_id);
    void *ctx;
};
/* createImage: snapshot the server's root disk into image `image_id` (created by the caller,
 * queued, disk_format qcow2). The server must be active or stopped with no task in progress
 * (NPH_E_CONFLICT otherwise, worded like Nova); the task "image_snapshot" is set, the action
 * "createImage" recorded and the work queued: the root disk is flattened into one qcow2 file
 * (qemu-img convert of the overlay; on the test driver, whose volumes have no files, of the
 * image the server booted from; an empty disk of the flavor's size for a diskless server) and
 * handed to sink->store. The server keeps its state either way; on failure the fault is
 * recorded on the server and sink->discard is called. The sink is copied. A snapshot left
 * unfinished by a stopped broker is abandoned at the next start (task cleared, image
 * discarded only if the new process is given the same sink: it is not, so it stays queued). */
int local_compute_server_snapshot(struct local_compute *lc, const struct local_compute_caller *c,
                                  const char *id, const char *image_id,
                                  const struct local_compute_image_sink *sink,
                                  struct nph_error *err);
/* Replace (replace=1) or merge the metadata; a NULL value in `meta` is invalid. Returns the
 * resulting metadata. Key "key" with meta NULL deletes it. */
json_t *local_compute_server_metadata(struct local_compute *lc,
                                      const struct local_compute_caller *c, const char *id,
                                      const json_t *meta, int replace, struct nph_error *err);
int local_compute_server_metadata_delete(struct local_compute *lc,
                                         const struct local_compute_caller *c, const char *id,
                                         const char *key, struct nph_error *err);
/* Tags: replace the set (tags = array), add one (tag), remove one, remove all (tag NULL and
 * tags NULL). Returns the resulting array (new reference) for replace/add, or json_true()
 * otherwise; NULL on error (NPH_E_NOT_FOUND for removing a missing tag). */
json_t *local_compute_server_tags(struct local_compute *lc, const struct local_compute_caller *c,
                                  const char *id, const json_t *tags, const char *add,
                                  const char *remove, int clear, struct nph_error *err);
/* The console log (last `lines` lines, 0 = all); "" on the test driver. malloc'd. */
char *local_compute_console_output(struct local_compute *lc, const struct local_compute_caller *c,
                                   const char *id, int lines, struct nph_error *err);
/* Instance actions, newest first: [{"action","instance_uuid","request_id","user_id",
 * "project_id","start_time","finish_time","message","result"}]; get adds "events". */
json_t *local_compute_actions_list(struct local_compute *lc, const struct local_compute_caller *c,
                                   const char *server_id, struct nph_error *err);
json_t *local_compute_action_get(struct local_compute *lc, const struct local_compute_caller *c,
                                 const char *server_id, const char *request_id,
                                 struct nph_error *err);

/* Hot-plug a device (libvirt XML, e.g. a volume's <disk>) into the server's domain, live
 * when it runs and in its definition (compute_attach.c). The server must be visible to the
 * caller, active or stopped, with no task in progress (NPH_E_CONFLICT otherwise, as Nova
 * words it). On libvirt's test driver, which cannot hot-plug, the definition is edited. */
int local_compute_server_attach_device(struct local_compute *lc,
                                       const struct local_compute_caller *c, const char *server_id,
                                       const char *device_xml, struct nph_error *err);
/* Unplug it (matched by its target); a server without a domain has nothing to unplug (0). */
int local_compute_server_detach_device(struct local_compute *lc,
                                       const struct local_compute_caller *c, const char *server_id,
                                       const char *device_xml, struct nph_error *err);

/* Network interfaces. Compute does not know networks: whoever does (the broker joins
 * local/network here) tells it a server's interfaces, as [{"mac","network","filter"}] (filter
 * may be absent), or NULL with err. Asked each time a server's domain is defined (build,
 * resize, rebuild). Set before local_compute_start. */
typedef json_t *(*local_compute_nics_fn)(void *ctx, const char *server_id, struct nph_error *err);
void local_compute_set_nics(struct local_compute *lc, local_compute_nics_fn fn, void *ctx);
/* Plug (plug = 1) or unplug a nic into the server's domain, live when it runs and in its
 * definition (the test driver: the definition is edited), matched by MAC on unplug. A server
 * with no domain yet is 0 and nothing is done: the domain's definition will ask for its nics,
 * and the two are serialised so that no interface is missed. Does not write the store. */
int local_compute_server_nic(struct local_compute *lc, const char *server_id,
                             const struct local_compute_nic *nic, int plug, struct nph_error *err);

/* ---- quotas and key pairs (compute_quota.c) ---------------------------------------------- */

/* {"instances":10,"cores":20,"ram":51200,"key_pairs":100,"metadata_items":128,...} for a
 * project (its own limits over the defaults); defaults only with project_id NULL. */
json_t *local_compute_quota_get(struct local_compute *lc, const char *project_id,
                                struct nph_error *err);
/* Usage of a project: {"instances":n,"cores":n,"ram":n}. */
json_t *local_compute_quota_usage(struct local_compute *lc, const char *project_id,
                                  struct nph_error *err);
/* Set limits (object of resource -> integer, -1 = unlimited); unknown resources are
 * NPH_E_INVALID. Returns the resulting quota set. */
json_t *local_compute_quota_set(struct local_compute *lc, const char *project_id,
                                const json_t *limits, struct nph_error *err);
int local_compute_quota_delete(struct local_compute *lc, const char *project_id,
                               struct nph_error *err);

/* Import (public_key given) or generate (public_key NULL: RSA 2048, the private key PEM is in
 * the result's "private_key" once) a key pair for a user. type "ssh" or "x509" (imports only).
 * Returns {"name","type","public_key","fingerprint","user_id","created_at"[,"private_key"]}. */
json_t *local_compute_keypair_create(struct local_compute *lc, const char *user_id,
                                     const char *name, const char *type, const char *public_key,
                                     struct nph_error *err);
json_t *local_compute_keypair_get(struct local_compute *lc, const char *user_id, const char *name,
                                  struct nph_error *err);
json_t *local_compute_keypair_list(struct local_compute *lc, const char *user_id,
                                   struct nph_error *err);
int local_compute_keypair_delete(struct local_compute *lc, const char *user_id, const char *name,
                                 struct nph_error *err);

#endif
