/*
 * backend.h - the driver interface: one table of functions per kind of cloud (DESIGN.md
 * section 4), in the way libvirt declares its hypervisor drivers.
 *
 * A driver is `struct nph_backend_ops`: open/close/health plus one pointer per operation
 * family (compute, image, ...). A family a kind of cloud never offers is NULL in the table; a
 * family a particular cloud lacks (an OpenStack cloud without an image service in its catalog)
 * is cleared from that backend's `families` mask by open(). The broker checks both through
 * nph_backend_compute() & co. and answers NPH_E_NOT_SUPPORTED "not supported by cloud 'x'".
 *
 * Drivers never include broker/: everything a call needs arrives in its arguments. Each call
 * gets a struct nph_backend_ctx naming the Nephele project and request it is made for. The
 * broker's one wrapper (broker/federation.c) logs, times, applies timeouts/retries/breakers
 * around every call; drivers just do the work and report errors with the one error type:
 *   NPH_E_NOT_FOUND     the remote resource does not exist (any more)
 *   NPH_E_UNAUTHORIZED  the cloud refused our credentials (after one re-authentication)
 *   NPH_E_UNAVAILABLE   the cloud cannot be reached (refused, reset, DNS)
 *   NPH_E_TIMEOUT       the cloud did not answer in time
 *   NPH_E_BACKEND       the cloud answered with an error or garbage (detail: what it said)
 *   NPH_E_INVALID / CONFLICT / LIMIT / FORBIDDEN  the cloud's 400 / 409 / 413,429 / 403
 *
 * Servers cross the interface as struct nph_server (fixed fields) so that the broker never
 * parses a cloud's JSON. Strings are truncated to their buffers, never overflowed.
 */
#ifndef NPH_BACKEND_H
#define NPH_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "nph_error.h"

struct nph_backend;

/* Operation families (bits of nph_backend.families). */
enum {
    NPH_FAM_COMPUTE = 1u << 0,
    NPH_FAM_IMAGE = 1u << 1,
    NPH_FAM_VOLUME = 1u << 2,
    NPH_FAM_OBJECT = 1u << 3,
    NPH_FAM_NETWORK = 1u << 4,
    NPH_FAM_USAGE = 1u << 5,
};

/* Who a call is made for. project_id is Nephele's project owning the resource; remote clouds
 * act with the cloud's configured account whatever the project, the local cloud acts in that
 * project. request_id is logged and, where the cloud takes one, passed on. */
struct nph_backend_ctx {
    const char *project_id;
    const char *user_id;
    const char *request_id;
    long timeout_ms; /* whole call budget; 0 = the backend's default */
};

/* ---- data crossing the interface --------------------------------------------------------- */

/* A size a cloud sells: an OpenStack flavor, an EC2 instance type, a local flavor. */
struct nph_offering {
    char id[64];    /* the cloud's id for it */
    char name[128]; /* the cloud's name ("m1.small", "t3.micro") */
    unsigned vcpus;
    uint64_t ram_mb;
    uint64_t disk_gb;
    unsigned gpus;
};

struct nph_offering_list {
    struct nph_offering *v;
    size_t n;
};

struct nph_image {
    char id[64];
    char name[256];
    char status[16];      /* Glance's: queued, saving, active, ... */
    char disk_format[16]; /* raw, qcow2, ... ("" if unknown) */
    uint64_t size;        /* bytes, 0 if unknown */
};

struct nph_image_list {
    struct nph_image *v;
    size_t n;
};

/* Metadata key a driver stamps on every server it creates, holding spec->idempotency_key, so
 * that a create that may or may not have reached the cloud can be found again. */
#define NPH_BACKEND_OP_KEY "nephele_op"

struct nph_server_spec {
    const char *name;
    const char *offering_id;       /* the cloud's flavor / instance type id */
    const char *image_id;          /* the cloud's image id */
    const char *key_name;          /* NULL = none */
    const char *availability_zone; /* inside the cloud; NULL = the cloud's default */
    const json_t *metadata;        /* object of string values, or NULL */
    const char *user_data;         /* base64 as Nova takes it, or NULL */
    const char *idempotency_key;   /* required: Nephele's operation id */
};

struct nph_server {
    char remote_id[64];
    char name[256];
    char status[24]; /* Nova's vocabulary: BUILD, ACTIVE, SHUTOFF, REBOOT, HARD_REBOOT, RESIZE,
                        VERIFY_RESIZE, ERROR, DELETED, UNKNOWN, ... */
    char offering_id[64];
    char image_id[64];
    char availability_zone[64]; /* inside the cloud */
    char created[32];           /* ISO 8601 UTC as the cloud wrote it, "" if unknown */
    char updated[32];
    char op_key[64];   /* NPH_BACKEND_OP_KEY metadata found on the server, "" if none */
    char fault[256];   /* the cloud's fault message for ERROR, "" if none */
    json_t *addresses; /* Nova's "addresses" object (owned; nph_server_fini drops it) or NULL */
};

struct nph_server_list {
    struct nph_server *v;
    size_t n;
};

enum nph_server_action {
    NPH_SA_START,
    NPH_SA_STOP,
    NPH_SA_REBOOT_SOFT,
    NPH_SA_REBOOT_HARD,
    NPH_SA_RESIZE, /* arg: the cloud's offering id */
    NPH_SA_CONFIRM_RESIZE,
    NPH_SA_REVERT_RESIZE,
};

/* "start", "stop", "reboot-soft", ... */
const char *nph_server_action_name(enum nph_server_action a);

void nph_server_fini(struct nph_server *s);
void nph_server_list_fini(struct nph_server_list *l);
void nph_offering_list_fini(struct nph_offering_list *l);
void nph_image_list_fini(struct nph_image_list *l);
/* Append one element (copied; addresses reference moved into the list). -1 on ENOMEM. */
int nph_server_list_push(struct nph_server_list *l, struct nph_server *s);
int nph_offering_list_push(struct nph_offering_list *l, const struct nph_offering *o);
int nph_image_list_push(struct nph_image_list *l, const struct nph_image *i);
/* Copy a string into a fixed buffer, truncating at a UTF-8 boundary; NULL copies "". */
void nph_backend_strlcpy(char *dst, size_t size, const char *src);

/* ---- the families ------------------------------------------------------------------------ */

struct nph_compute_ops {
    int (*list_offerings)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          struct nph_offering_list *out, struct nph_error *err);
    /* Start building a server; returns at once with the server as the cloud first reports it
     * (usually BUILD). The driver stamps spec->idempotency_key as NPH_BACKEND_OP_KEY. */
    int (*server_create)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const struct nph_server_spec *spec, struct nph_server *out,
                         struct nph_error *err);
    /* NPH_E_NOT_FOUND when the cloud has no such server (or reports it DELETED). */
    int (*server_get)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                      const char *remote_id, struct nph_server *out, struct nph_error *err);
    /* Every server of the cloud's account (all pages), for merging and reconciliation. */
    int (*server_list)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                       struct nph_server_list *out, struct nph_error *err);
    /* Start deleting; NPH_E_NOT_FOUND if already gone (callers treat that as done). */
    int (*server_delete)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, struct nph_error *err);
    int (*server_action)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, enum nph_server_action action, const char *arg,
                         struct nph_error *err);
    /* The last `lines` lines of the console log (0 = all) as a malloc'd string; may be NULL. */
    int (*server_console)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                          const char *remote_id, int lines, char **out, struct nph_error *err);
};

struct nph_image_ops {
    int (*image_list)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                      struct nph_image_list *out, struct nph_error *err);
    /* One image by id, or by exact name when no image has that id; NPH_E_NOT_FOUND if none,
     * NPH_E_CONFLICT if the name is ambiguous. */
    int (*image_find)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                      const char *id_or_name, struct nph_image *out, struct nph_error *err);
};

/* What a cloud itself reports about its usage (Nova's os-simple-tenant-usage): one server. */
struct nph_usage_server {
    char remote_id[64];
    char name[256];
    char offering[128]; /* the flavor's name */
    char state[24];     /* "active", "terminated", ... as the cloud says */
    int64_t started;    /* UTC seconds; 0 unknown */
    int64_t ended;      /* UTC seconds; 0 while it runs */
    double hours;       /* inside the period */
    unsigned vcpus;
    uint64_t memory_mb, local_gb;
};

/* The usage of the cloud account's project over a period. */
struct nph_usage_report {
    char tenant_id[64];
    double total_hours, total_vcpus_usage, total_memory_mb_usage, total_local_gb_usage;
    struct nph_usage_server *v;
    size_t n;
};
void nph_usage_report_fini(struct nph_usage_report *r);
int nph_usage_report_push(struct nph_usage_report *r, const struct nph_usage_server *s);

struct nph_usage_ops {
    /* The usage the cloud reports for the project the backend acts in, over [from, to) (UTC
     * seconds), with every server it counts. */
    int (*usage_get)(struct nph_backend *b, const struct nph_backend_ctx *ctx, int64_t from,
                     int64_t to, struct nph_usage_report *out, struct nph_error *err);
};

/* A block volume as a cloud reports it (Cinder's vocabulary: creating, available, in-use,
 * extending, deleting, error, ...). */
struct nph_volume {
    char remote_id[64];
    char name[256];
    char status[24];
    int64_t size_gb;
    char image_id[64];    /* the image it was created from, "" if none */
    char attached_to[64]; /* the cloud's id of the first server it is attached to, "" if none */
    char device[32];      /* that attachment's device ("/dev/vdb"), "" if none */
    char created[32];     /* ISO 8601 UTC as the cloud wrote it, "" if unknown */
    char stamp[40];       /* the id Nephele stamped it with at create ("" if none) */
};

struct nph_volume_list {
    struct nph_volume *v;
    size_t n;
};
void nph_volume_list_fini(struct nph_volume_list *l);
int nph_volume_list_push(struct nph_volume_list *l, const struct nph_volume *v);

struct nph_volume_spec {
    const char *name;
    int64_t size_gb;      /* >= 1 */
    const char *image_id; /* the cloud's image id, or NULL for an empty volume */
    const char *description;
    const char *stamp; /* Nephele's id, kept with the volume (metadata "nephele_id"), or NULL */
};

struct nph_volume_ops {
    /* Start creating; returns at once with the volume as the cloud first reports it. */
    int (*volume_create)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const struct nph_volume_spec *spec, struct nph_volume *out,
                         struct nph_error *err);
    /* NPH_E_NOT_FOUND when the cloud has no such volume. */
    int (*volume_get)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                      const char *remote_id, struct nph_volume *out, struct nph_error *err);
    /* Every volume of the cloud's account (all pages). */
    int (*volume_list)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                       struct nph_volume_list *out, struct nph_error *err);
    /* Start deleting; NPH_E_NOT_FOUND if already gone. */
    int (*volume_delete)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, struct nph_error *err);
    /* Grow an available volume to new_gb (> its size). */
    int (*volume_extend)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *remote_id, int64_t new_gb, struct nph_error *err);
};

/* A container of objects (a Swift container, an S3 bucket) and an object in it. */
struct nph_bucket {
    char name[257];
    uint64_t objects, bytes;
};

struct nph_bucket_list {
    struct nph_bucket *v;
    size_t n;
    int truncated; /* more names follow the last one (ask again with it as the marker) */
};
void nph_bucket_list_fini(struct nph_bucket_list *l);
int nph_bucket_list_push(struct nph_bucket_list *l, const struct nph_bucket *b);

#define NPH_OBJECT_NAME_MAX 1024

struct nph_object_info {
    char name[NPH_OBJECT_NAME_MAX + 1];
    uint64_t size;
    char etag[72];          /* the MD5 of the content for plain objects, as the cloud says */
    char content_type[128]; /* "" if unknown */
    char last_modified[32]; /* as the cloud wrote it, "" if unknown */
};

struct nph_object_list {
    struct nph_object_info *v;
    size_t n;
    int truncated; /* more names follow the last one (ask again with it as the marker) */
};
void nph_object_list_fini(struct nph_object_list *l);
int nph_object_list_push(struct nph_object_list *l, const struct nph_object_info *o);

/* A body to upload: a complete file. A driver may take the file (rename it away); the caller
 * removes whatever is left at `path` afterwards. */
struct nph_object_body {
    const char *path;
    uint64_t size;
    const char *md5; /* 32 lower-case hex digits of the content (checked by the cloud) */
    bool has_crc32c; /* crc32c is the content's CRC-32C (a store may record it) */
    uint32_t crc32c;
    const char *content_type; /* NULL = application/octet-stream */
};

/* Where a download goes, in order, as it arrives (never gathered in memory): 0 to go on, -1
 * to abort the transfer (err set by the sink). */
typedef int (*nph_object_sink_fn)(void *arg, const char *buf, size_t len, struct nph_error *err);

struct nph_object_ops {
    int (*bucket_create)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *name,
                         struct nph_error *err);
    /* Object count and bytes; NPH_E_NOT_FOUND when there is no such container. */
    int (*bucket_head)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *name,
                       struct nph_bucket *out, struct nph_error *err);
    /* NPH_E_CONFLICT while it holds objects, NPH_E_NOT_FOUND when it does not exist. */
    int (*bucket_delete)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *name,
                         struct nph_error *err);
    /* Up to `limit` (1..1000) objects after `marker` (NULL = from the start) whose names start
     * with `prefix` (NULL = any), in name order. */
    int (*object_list)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *bucket,
                       const char *prefix, const char *marker, int limit,
                       struct nph_object_list *out, struct nph_error *err);
    /* Store the body under `name` (replacing any previous object); *out what was stored. */
    int (*object_put)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *bucket,
                      const char *name, const struct nph_object_body *body,
                      struct nph_object_info *out, struct nph_error *err);
    /* The object's content through sink (info first into *out, before any byte). */
    int (*object_get)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *bucket,
                      const char *name, nph_object_sink_fn sink, void *arg,
                      struct nph_object_info *out, struct nph_error *err);
    int (*object_head)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *bucket,
                       const char *name, struct nph_object_info *out, struct nph_error *err);
    int (*object_delete)(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                         const char *bucket, const char *name, struct nph_error *err);
    /* Up to `limit` (1..1000) containers of the account after `marker` (NULL = from the
     * start), in name order, with their counts. */
    int (*bucket_list)(struct nph_backend *b, const struct nph_backend_ctx *ctx, const char *marker,
                       int limit, struct nph_bucket_list *out, struct nph_error *err);
};

/* The network family is declared as its issue lands. */

struct nph_backend_ops {
    const char *kind; /* "local", "openstack", "ec2", ... */
    /* Validate `config` (the cloud's entry of the configuration, as JSON: name, kind, auth, ...)
     * and set b->priv and b->families. Must not need the cloud to be up: connecting is lazy,
     * failures show in health() and in calls. NPH_E_INVALID naming the bad field otherwise. */
    int (*open)(struct nph_backend *b, const json_t *config, struct nph_error *err);
    void (*close)(struct nph_backend *b);
    /* A cheap probe that the cloud answers and our credentials work. */
    int (*health)(struct nph_backend *b, const struct nph_backend_ctx *ctx, struct nph_error *err);

    const struct nph_compute_ops *compute; /* NULL = never offered by this kind */
    const struct nph_image_ops *image;
    const struct nph_usage_ops *usage; /* NULL = the cloud reports no usage of its own */
    const struct nph_volume_ops *volume;
    const struct nph_object_ops *object;
};

/* Services the host process lends to in-process drivers (the `local` kind). Opaque here so
 * that backends/ never includes broker/; the local driver knows the types. */
struct nph_backend_host {
    void *compute; /* struct local_compute * */
    void *image;   /* struct local_image * */
    const char *region;
    void *volume; /* struct local_volume * (NULL: no volumes) */
    void *object; /* struct local_object * (NULL: no object store) */
};

struct nph_backend {
    const struct nph_backend_ops *ops;
    char *name;                          /* the operator's name for this cloud */
    unsigned families;                   /* NPH_FAM_* this cloud offers; set by open() */
    const struct nph_backend_host *host; /* set before open(); may be NULL */
    void *priv;                          /* the driver's state */
};

/* The families the cloud offers now (a driver may narrow them once it has seen the cloud's
 * catalog, from another thread: read them through this). */
static inline unsigned nph_backend_families(const struct nph_backend *b)
{
    return __atomic_load_n(&b->families, __ATOMIC_ACQUIRE);
}

/* The driver table for `kind`, or NULL (err: NPH_E_INVALID, "unknown cloud kind 'x'"). */
const struct nph_backend_ops *nph_backend_lookup(const char *kind, struct nph_error *err);
/* NULL-terminated list of all registered drivers. */
const struct nph_backend_ops *const *nph_backend_drivers(void);

/* Create a backend of config's "kind" named config's "name" and open it. NULL with err. */
struct nph_backend *nph_backend_open(const json_t *config, const struct nph_backend_host *host,
                                     struct nph_error *err);
void nph_backend_close(struct nph_backend *b);

/* The family's table if this cloud offers it, else NULL with NPH_E_NOT_SUPPORTED
 * "<family> is not supported by cloud '<name>'". */
const struct nph_compute_ops *nph_backend_compute(const struct nph_backend *b,
                                                  struct nph_error *err);
const struct nph_image_ops *nph_backend_image(const struct nph_backend *b, struct nph_error *err);
const struct nph_usage_ops *nph_backend_usage(const struct nph_backend *b, struct nph_error *err);
const struct nph_volume_ops *nph_backend_volume(const struct nph_backend *b, struct nph_error *err);
const struct nph_object_ops *nph_backend_object(const struct nph_backend *b, struct nph_error *err);

/* Driver tables (one file or folder each). */
extern const struct nph_backend_ops nph_backend_local_ops;     /* backends/local/ */
extern const struct nph_backend_ops nph_backend_openstack_ops; /* backends/openstack/ */

#endif
