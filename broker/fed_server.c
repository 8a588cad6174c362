/*
 * fed_server.c - servers across clouds: records (fed_server), journaled operations
 * (fed_operation) and the workers that run them, the merged list, and reconciliation.
 *
 * An operation moves pending -> running -> done | error. Its phase says what the next step
 * is: "submit" (call the cloud) or "wait" (poll until the end state). A worker claims a due
 * operation by a compare-and-set on (lease_owner, lease_until), so one process runs each step
 * even with many brokers on one store; attempts counts submits, and a create with attempts > 0
 * first looks for a server stamped with its id before creating one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fed_internal.h"
#include "image/local_image.h"
#include "local_compute.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_ledger.h"
#include "nph_log.h"

#define LEASE_US          (30LL * 1000000)
#define OP_DEADLINE_US    (30LL * 60 * 1000000) /* give up on an operation after 30 min */
#define LIST_MAX          1000
#define NAME_MAX_LEN      255
#define RETRY_BACKOFF_MAX (30LL * 1000000)

static const struct nph_migration fed_migrations[] = {
    {1, "federation records",
     "CREATE TABLE fed_cloud (name TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL,"
     " created_at BIGINT NOT NULL);"
     "CREATE TABLE fed_server (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " user_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT NOT NULL, remote_id TEXT,"
     " name TEXT NOT NULL, flavor TEXT NOT NULL, offering_id TEXT NOT NULL,"
     " offering_name TEXT NOT NULL, image TEXT NOT NULL, image_id TEXT NOT NULL,"
     " status TEXT NOT NULL, fault TEXT NOT NULL DEFAULT '', op_id TEXT NOT NULL,"
     " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, deleted_at BIGINT);"
     "CREATE INDEX fed_server_remote ON fed_server (cloud, remote_id);"
     "CREATE INDEX fed_server_project ON fed_server (project_id, created_at);"
     "CREATE TABLE fed_operation (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
     " server_id TEXT NOT NULL, cloud TEXT NOT NULL, project_id TEXT NOT NULL,"
     " user_id TEXT NOT NULL, state TEXT NOT NULL, phase TEXT NOT NULL, arg TEXT NOT NULL,"
     " target TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,"
     " lease_owner TEXT NOT NULL DEFAULT '', lease_until BIGINT NOT NULL DEFAULT 0,"
     " next_at BIGINT NOT NULL, deadline BIGINT NOT NULL, created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL);"
     "CREATE INDEX fed_operation_due ON fed_operation (state, next_at);"
     "CREATE INDEX fed_operation_server ON fed_operation (server_id);"
     "CREATE TABLE fed_orphan (cloud TEXT NOT NULL, remote_id TEXT NOT NULL,"
     " name TEXT NOT NULL, status TEXT NOT NULL, op_key TEXT NOT NULL,"
     " first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, PRIMARY KEY (cloud, remote_id));"},
    {2, "placement decisions and policies",
     "CREATE TABLE fed_policy (name TEXT NOT NULL, version INTEGER NOT NULL,"
     " document TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (name, version));"
     "CREATE TABLE fed_placement (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " decision TEXT NOT NULL, server_id TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL);"
     "CREATE INDEX fed_placement_server ON fed_placement (server_id);"
     "ALTER TABLE fed_server ADD COLUMN placement_id TEXT NOT NULL DEFAULT '';"},
};

int fed_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "federation", fed_migrations,
                             sizeof(fed_migrations) / sizeof(fed_migrations[0]), applied, err);
}

/* ---- small store helper ------------------------------------------------------------------- */

typedef int (*row_fn)(struct nph_stmt *st, void *ctx);

/* Prepare sql, bind the arguments typed by `types` ('s' text, NULL = SQL NULL; 'i' int64),
 * run it, hand each row to fn (may be NULL). Returns the changed-row count or -1. */
static int64_t q(struct nph_db *db, struct nph_error *err, row_fn fn, void *ctx, const char *sql,
                 const char *types, ...)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    if (!st)
        return -1;
    va_list ap;
    va_start(ap, types);
    int rc = 0;
    for (int i = 0; types[i] && rc == 0; i++) {
        if (types[i] == 's')
            rc = nph_stmt_bind_text(st, i + 1, va_arg(ap, const char *), err);
        else
            rc = nph_stmt_bind_int64(st, i + 1, va_arg(ap, int64_t), err);
    }
    va_end(ap);
    int step = 0;
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1)
        if (fn && fn(st, ctx) != 0)
            rc = nph_error_set(err, NPH_E_NOMEM, "out of memory");
    int64_t changes = rc == 0 && step == 0 ? nph_stmt_changes(st) : -1;
    nph_stmt_done(st);
    return changes;
}

static const char *col(struct nph_stmt *st, int i)
{
    const char *s = nph_stmt_col_text(st, i);
    return s ? s : "";
}

/* ---- records ------------------------------------------------------------------------------ */

#define SERVER_COLS                                                                                \
    "id, project_id, user_id, cloud, region, remote_id, name, flavor, offering_id, "               \
    "offering_name, image, image_id, status, fault, op_id, created_at, updated_at, placement_id"

struct rec {
    char id[40], project_id[72], user_id[72], cloud[FED_NAME_MAX + 1], region[64], remote_id[64];
    char name[NAME_MAX_LEN + 1], flavor[64], offering_id[64], offering_name[128], image[256];
    char image_id[64], status[24], fault[256], op_id[40], placement_id[40];
    int64_t created_at, updated_at;
};

static void rec_from_row(struct nph_stmt *st, struct rec *r)
{
    struct {
        char *dst;
        size_t size;
    } f[] = {{r->id, sizeof(r->id)},
             {r->project_id, sizeof(r->project_id)},
             {r->user_id, sizeof(r->user_id)},
             {r->cloud, sizeof(r->cloud)},
             {r->region, sizeof(r->region)},
             {r->remote_id, sizeof(r->remote_id)},
             {r->name, sizeof(r->name)},
             {r->flavor, sizeof(r->flavor)},
             {r->offering_id, sizeof(r->offering_id)},
             {r->offering_name, sizeof(r->offering_name)},
             {r->image, sizeof(r->image)},
             {r->image_id, sizeof(r->image_id)},
             {r->status, sizeof(r->status)},
             {r->fault, sizeof(r->fault)},
             {r->op_id, sizeof(r->op_id)}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        nph_backend_strlcpy(f[i].dst, f[i].size, col(st, (int)i));
    r->created_at = nph_stmt_col_int64(st, 15);
    r->updated_at = nph_stmt_col_int64(st, 16);
    nph_backend_strlcpy(r->placement_id, sizeof(r->placement_id), col(st, 17));
}

struct recs {
    struct rec *v;
    size_t n, cap;
};

static int recs_row(struct nph_stmt *st, void *ctx)
{
    struct recs *rs = ctx;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        struct rec *v = realloc(rs->v, cap * sizeof(*v));
        if (!v)
            return -1;
        rs->v = v;
        rs->cap = cap;
    }
    rec_from_row(st, &rs->v[rs->n++]);
    return 0;
}

static int one_rec_row(struct nph_stmt *st, void *ctx)
{
    rec_from_row(st, ctx);
    ((struct rec *)ctx)->created_at = nph_stmt_col_int64(st, 15) ? nph_stmt_col_int64(st, 15) : 1;
    return 0;
}

/* The record of server `id` visible to the caller: 0, or -1 with NPH_E_NOT_FOUND. */
static int rec_get(struct nph_db *db, const struct fed_caller *c, const char *id, struct rec *r,
                   struct nph_error *err)
{
    memset(r, 0, sizeof(*r));
    if (q(db, err, one_rec_row, r,
          "SELECT " SERVER_COLS " FROM fed_server WHERE id = ? AND status <> 'DELETED'", "s",
          id) < 0)
        return -1;
    if (!r->created_at || (c && !c->is_admin && strcmp(r->project_id, c->project_id) != 0))
        return nph_error_set(err, NPH_E_NOT_FOUND, "Server %.64s could not be found.", id);
    return 0;
}

static int ledger(struct nph_db *db, const struct rec *r, enum nph_ledger_kind kind,
                  const char *offering, struct nph_error *err)
{
    struct nph_ledger_event ev = {
        .kind = kind,
        .resource_id = r->id,
        .resource_type = "server",
        .project_id = r->project_id,
        .cloud = r->cloud,
        .region = r->region,
        .offering = offering ? offering : r->offering_name,
        .size_gb = -1,
    };
    return nph_ledger_append(db, &ev, err);
}

/* ---- rendering ---------------------------------------------------------------------------- */

static json_t *server_json(const struct rec *r, const struct nph_server *live)
{
    char created[32], updated[32];
    fed_iso8601(r->created_at, created);
    fed_iso8601(r->updated_at, updated);
    const char *status = live ? live->status : r->status;
    const char *fault = live ? live->fault : r->fault;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:s,s:{s:s,s:s},s:s,s:s?,s:s,s:s?,s:s,s:s}", "id", r->id,
        "name", live && live->name[0] ? live->name : r->name, "cloud", r->cloud, "region",
        r->region, "project_id", r->project_id, "user_id", r->user_id, "remote_id",
        r->remote_id[0] ? r->remote_id : NULL, "status", status, "flavor", r->flavor, "offering",
        "id", r->offering_id, "name", r->offering_name, "image", r->image, "image_id",
        r->image_id[0] ? r->image_id : NULL, "created", created, "fault", fault[0] ? fault : NULL,
        "updated", live && live->updated[0] ? live->updated : updated, "operation", r->op_id);
    if (o)
        json_object_set_new(o, "placement",
                            r->placement_id[0] ? json_string(r->placement_id) : json_null());
    if (o)
        json_object_set(o, "addresses", live && live->addresses ? live->addresses : json_object());
    if (o && !(live && live->addresses))
        json_decref(json_object_get(o, "addresses"));
    return o;
}

static json_t *op_json(struct nph_stmt *st)
{
    char created[32], updated[32];
    fed_iso8601(nph_stmt_col_int64(st, 10), created);
    fed_iso8601(nph_stmt_col_int64(st, 11), updated);
    const char *error = col(st, 7);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:I,s:s,s:s}", "id", col(st, 0), "kind",
                     col(st, 1), "server_id", col(st, 2), "cloud", col(st, 3), "state", col(st, 4),
                     "phase", col(st, 5), "target", col(st, 6)[0] ? col(st, 6) : NULL, "error",
                     error[0] ? error : NULL, "attempts", (json_int_t)nph_stmt_col_int64(st, 8),
                     "created", created, "updated", updated);
}

#define OP_COLS                                                                                    \
    "id, kind, server_id, cloud, state, phase, target, error, attempts, project_id, created_at, "  \
    "updated_at"

static int op_row(struct nph_stmt *st, void *ctx)
{
    json_t **out = ctx;
    *out = op_json(st);
    return *out ? 0 : -1;
}

json_t *fed_operation_get(struct fed *f, const struct fed_caller *c, const char *id,
                          struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    json_t *op = NULL;
    if (!db)
        return NULL;
    int64_t rc =
        q(db, err, op_row, &op, "SELECT " OP_COLS " FROM fed_operation WHERE id = ?", "s", id);
    nph_store_release(db);
    if (rc < 0)
        return NULL;
    if (op && !c->is_admin) {
        /* operations are visible to their project only: re-check through the server row */
        struct nph_db *d2 = nph_store_acquire(f->store, err);
        int64_t mine = 0;
        if (!d2) {
            json_decref(op);
            return NULL;
        }
        struct rec r;
        memset(&r, 0, sizeof(r));
        q(d2, err, one_rec_row, &r, "SELECT " SERVER_COLS " FROM fed_server WHERE id = ?", "s",
          json_string_value(json_object_get(op, "server_id")));
        mine = r.created_at && strcmp(r.project_id, c->project_id) == 0;
        nph_store_release(d2);
        if (!mine) {
            json_decref(op);
            op = NULL;
        }
    }
    if (!op)
        nph_error_set(err, NPH_E_NOT_FOUND, "operation %.64s could not be found", id);
    return op;
}

/* ---- journaling operations ---------------------------------------------------------------- */

static const char *const target_of[] = {
    [NPH_SA_START] = "ACTIVE",         [NPH_SA_STOP] = "SHUTOFF",
    [NPH_SA_REBOOT_SOFT] = "ACTIVE",   [NPH_SA_REBOOT_HARD] = "ACTIVE",
    [NPH_SA_RESIZE] = "VERIFY_RESIZE", [NPH_SA_CONFIRM_RESIZE] = "ACTIVE",
    [NPH_SA_REVERT_RESIZE] = "ACTIVE",
};

struct op_new {
    const char *kind; /* "create", "delete" or an action name */
    const char *server_id, *cloud, *project_id, *user_id;
    const char *state, *phase, *arg, *target;
    int attempts;
    const char *lease_owner;
};

static int op_insert(struct fed *f, struct nph_db *db, const struct op_new *o, char id[40],
                     struct nph_error *err)
{
    int64_t now = nph_clock_now();
    if (!id[0] && nph_uuid4(id) != 0)
        return nph_error_set(err, NPH_E_INTERNAL, "cannot draw an id");
    return q(db, err, NULL, NULL,
             "INSERT INTO fed_operation (id, kind, server_id, cloud, project_id, user_id, state,"
             " phase, arg, target, attempts, lease_owner, lease_until, next_at, deadline,"
             " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             "ssssssssssisiiiii", id, o->kind, o->server_id, o->cloud, o->project_id, o->user_id,
             o->state, o->phase, o->arg ? o->arg : "", o->target ? o->target : "",
             (int64_t)o->attempts, o->lease_owner ? o->lease_owner : "",
             o->lease_owner ? now + LEASE_US : (int64_t)0,
             now + (o->lease_owner ? f->cfg->federation_poll_interval_ms * 1000 : 0),
             now + OP_DEADLINE_US, now, now) < 0
               ? -1
               : 0;
}

static json_t *op_fetch(struct fed *f, const char *id, struct nph_error *err)
{
    struct fed_caller admin = {.is_admin = 1};
    return fed_operation_get(f, &admin, id, err);
}

/* An operation still in progress on the server (other than `except`), into busy. */
static int op_in_progress(struct nph_db *db, const char *server_id, char busy[40],
                          struct nph_error *err)
{
    busy[0] = '\0';
    struct nph_stmt *st =
        nph_db_prepare(db,
                       "SELECT id, kind FROM fed_operation WHERE server_id = ? AND state IN "
                       "('pending','running') ORDER BY created_at LIMIT 1",
                       err);
    if (!st || nph_stmt_bind_text(st, 1, server_id, err))
        return -1;
    int rc = nph_stmt_step(st, err);
    if (rc == 1)
        nph_backend_strlcpy(busy, 40, col(st, 0));
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

/* ---- size and image resolution ------------------------------------------------------------ */

/* The Nephele flavor (by id or name) from the native catalog: the size catalog. */
static int resolve_flavor(struct fed *f, const char *ref, unsigned *vcpus, uint64_t *ram,
                          uint64_t *disk, char name[64], char id[64], struct nph_error *err)
{
    struct local_compute *lc = f->host ? f->host->compute : NULL;
    struct local_compute_caller admin = {.project_id = "", .user_id = "", .is_admin = 1};
    if (!lc)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "no size catalog");
    struct nph_error e2 = {0};
    json_t *fl = local_compute_flavor_get(lc, &admin, ref, &e2);
    if (!fl) {
        json_t *all = local_compute_flavor_list(lc, &admin, -1, err);
        size_t i;
        json_t *x;
        json_array_foreach(all, i, x)
        {
            if (!fl && strcmp(json_string_value(json_object_get(x, "name")), ref) == 0)
                fl = json_incref(x);
        }
        json_decref(all);
    }
    if (!fl)
        return nph_error_set(err, NPH_E_INVALID, "no flavor '%.64s' in Nephele's size catalog",
                             ref);
    *vcpus = (unsigned)json_integer_value(json_object_get(fl, "vcpus"));
    *ram = (uint64_t)json_integer_value(json_object_get(fl, "ram"));
    *disk = (uint64_t)json_integer_value(json_object_get(fl, "disk"));
    nph_backend_strlcpy(name, 64, json_string_value(json_object_get(fl, "name")));
    nph_backend_strlcpy(id, 64, json_string_value(json_object_get(fl, "id")));
    json_decref(fl);
    return 0;
}

/* The image on cloud c: the cloud's `images:` mapping, else by the Nephele image's name (when
 * ref is a Nephele image), else ref itself as the cloud's id or name. */
static int resolve_image(struct fed *f, struct fed_cloud *c, const struct fed_caller *who,
                         const char *ref, struct nph_image *out, struct nph_error *err)
{
    const struct nph_image_ops *ops = nph_backend_image(c->b, err);
    if (!ops)
        return -1;
    char name[256];
    nph_backend_strlcpy(name, sizeof(name), ref);
    struct local_image *li = f->host ? f->host->image : NULL;
    if (li && strcmp(c->kind, "local") != 0) {
        struct local_image_caller lic = {.project_id = who->project_id, .is_admin = who->is_admin};
        struct nph_error ignore = {0};
        json_t *im = local_image_get(li, &lic, ref, &ignore);
        if (im) {
            nph_backend_strlcpy(name, sizeof(name), json_string_value(json_object_get(im, "name")));
            json_decref(im);
        }
    }
    const char *mapped =
        json_string_value(json_object_get(json_object_get(c->config, "images"), name));
    if (!mapped)
        mapped = json_string_value(json_object_get(json_object_get(c->config, "images"), ref));
    struct fed_call k;
    if (fed_call_begin(f, c, FED_OP_IMAGE_FIND, who, &k, err))
        return -1;
    int rc = fed_call_end(&k, ops->image_find(c->b, &k.ctx, mapped ? mapped : name, out, err), err);
    if (rc != 0 && err->code == NPH_E_NOT_FOUND)
        nph_error_set(err, NPH_E_INVALID, "image '%.128s' is not available on cloud '%s'%s%s%s",
                      ref, c->name, strcmp(name, ref) ? " (looked for '" : "",
                      strcmp(name, ref) ? name : "", strcmp(name, ref) ? "')" : "");
    return rc;
}

/* ---- create ------------------------------------------------------------------------------- */

/* The placement hook: which cloud gets this create. The policy engine fills this in; until
 * then the request's cloud, else the default. */
/* The placement hook: the policy engine picks the cloud and offering (only `cloud` when the
 * request names one). Fills the record's region, offering name and placement id. */
static struct fed_cloud *place(struct fed *f, const struct fed_caller *who, const json_t *req,
                               unsigned vcpus, uint64_t ram, uint64_t disk, struct rec *r,
                               struct nph_error *err)
{
    const char *only = json_string_value(json_object_get(req, "cloud"));
    if (fed_cloud_check(f, only, err))
        return NULL;
    json_t *preq =
        json_pack("{s:s,s:s,s:O?,s:I,s:I,s:I}", "kind", "server", "project", who->project_id,
                  "name", json_object_get(req, "name"), "vcpus", (json_int_t)vcpus, "ram_mb",
                  (json_int_t)ram, "disk_gb", (json_int_t)disk);
    if (!preq) {
        nph_error_nomem(err);
        return NULL;
    }
    json_object_set_new(preq, "project_labels",
                        json_is_object(who->project_labels) ? json_deep_copy(who->project_labels)
                                                            : json_object());
    json_t *meta = json_object_get(req, "metadata");
    json_object_set_new(preq, "labels",
                        json_is_object(meta) ? json_deep_copy(meta) : json_object());
    struct fed_placement pl;
    json_t *doc = fed_place(f, who, preq, only, 1, &pl, err);
    json_decref(preq);
    if (!doc)
        return NULL;
    json_decref(doc);
    if (!pl.placed) {
        /* the project's quota alone stands in the way: that is a quota error, not a policy one */
        nph_error_set(err, pl.quota_only ? NPH_E_FORBIDDEN : NPH_E_UNPROCESSABLE,
                      "no cloud can take this server: %s", pl.why);
        nph_error_detail(err, "placement %s explains every candidate", pl.id);
        return NULL;
    }
    struct fed_cloud *c = fed_cloud_find(f, pl.cloud, err);
    if (!c)
        return NULL;
    nph_backend_strlcpy(r->placement_id, sizeof(r->placement_id), pl.id);
    nph_backend_strlcpy(r->offering_name, sizeof(r->offering_name), pl.offering);
    nph_backend_strlcpy(r->region, sizeof(r->region), pl.region);
    return c;
}

static int check_create(const json_t *req, struct nph_error *err)
{
    static const char *const keys[] = {"name",     "flavor",   "image",     "cloud",
                                       "key_name", "metadata", "user_data", NULL};
    const char *s;
    json_t *meta = NULL;
    if (!json_is_object(req))
        return nph_error_set(err, NPH_E_INVALID, "'server' must be an object");
    if (nph_json_check_keys(req, "server", keys, err) ||
        nph_json_get_str(req, "name", "server.name", 1, NAME_MAX_LEN, &s, err) < 0 ||
        nph_json_get_str(req, "flavor", "server.flavor", 1, 255, &s, err) < 0 ||
        nph_json_get_str(req, "image", "server.image", 1, 255, &s, err) < 0 ||
        nph_json_get_str(req, "cloud", "server.cloud", 0, FED_NAME_MAX, &s, err) < 0 ||
        nph_json_get_str(req, "key_name", "server.key_name", 0, 255, &s, err) < 0 ||
        nph_json_get_str(req, "user_data", "server.user_data", 0, 65535, &s, err) < 0 ||
        nph_json_get_obj(req, "metadata", "server.metadata", 0, &meta, err) < 0)
        return -1;
    if (!*json_string_value(json_object_get(req, "name")))
        return nph_error_set(err, NPH_E_INVALID, "'server.name' must not be empty");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
    {
        if (!json_is_string(v) || strlen(k) > 255 || json_string_length(v) > 255)
            return nph_error_set(err, NPH_E_INVALID,
                                 "'server.metadata' holds string values of up to 255 bytes");
        if (strcmp(k, NPH_BACKEND_OP_KEY) == 0)
            return nph_error_set(err, NPH_E_INVALID, "metadata key '%s' is reserved",
                                 NPH_BACKEND_OP_KEY);
    }
    if (json_object_size(meta) > 128)
        return nph_error_set(err, NPH_E_INVALID, "at most 128 metadata items");
    return 0;
}

static json_t *create_result(json_t *server, json_t *op, struct nph_error *err)
{
    json_t *o = server && op ? json_pack("{s:o,s:o}", "server", server, "operation", op) : NULL;
    if (!o) {
        if (!(server && op))
            json_decref(server), json_decref(op);
        if (!err->code)
            nph_error_nomem(err);
    }
    return o;
}

/* Insert the record (status from `s` or BUILD). */
static int rec_insert(struct nph_db *db, const struct rec *r, struct nph_error *err)
{
    return q(db, err, NULL, NULL,
             "INSERT INTO fed_server (" SERVER_COLS
             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             "sssssssssssssssiis", r->id, r->project_id, r->user_id, r->cloud, r->region,
             r->remote_id[0] ? r->remote_id : NULL, r->name, r->flavor, r->offering_id,
             r->offering_name, r->image, r->image_id, r->status, r->fault, r->op_id, r->created_at,
             r->updated_at, r->placement_id) < 0
               ? -1
               : 0;
}

json_t *fed_server_create(struct fed *f, const struct fed_caller *who, const json_t *req,
                          struct nph_error *err)
{
    if (check_create(req, err))
        return NULL;
    if (!who->project_id || !*who->project_id) {
        nph_error_set(err, NPH_E_FORBIDDEN, "a project-scoped token is required");
        return NULL;
    }
    unsigned vcpus;
    uint64_t ram, disk;
    struct rec r;
    memset(&r, 0, sizeof(r));
    struct nph_offering off;
    struct nph_image img;
    const char *flavor = json_string_value(json_object_get(req, "flavor"));
    const char *image = json_string_value(json_object_get(req, "image"));
    if (resolve_flavor(f, flavor, &vcpus, &ram, &disk, r.flavor, r.offering_id, err))
        return NULL;
    struct fed_cloud *c = place(f, who, req, vcpus, ram, disk, &r, err);
    if (!c || !nph_backend_compute(c->b, err))
        return NULL;
    if (strcmp(c->kind, "local") == 0) {
        /* the native cloud sells Nephele's catalog itself: the flavor asked for */
        nph_backend_strlcpy(off.id, sizeof(off.id), r.offering_id);
        nph_backend_strlcpy(off.name, sizeof(off.name), r.flavor);
    } else if (fed_cloud_offering(f, c, who, r.offering_name, &off, err)) {
        return NULL;
    }
    if (resolve_image(f, c, who, image, &img, err))
        return NULL;
    nph_backend_strlcpy(r.offering_id, sizeof(r.offering_id), off.id);
    nph_backend_strlcpy(r.offering_name, sizeof(r.offering_name), off.name);
    nph_backend_strlcpy(r.image, sizeof(r.image), image);
    nph_backend_strlcpy(r.image_id, sizeof(r.image_id), img.id);
    nph_backend_strlcpy(r.project_id, sizeof(r.project_id), who->project_id);
    nph_backend_strlcpy(r.user_id, sizeof(r.user_id), who->user_id);
    nph_backend_strlcpy(r.cloud, sizeof(r.cloud), c->name);
    if (!r.region[0])
        nph_backend_strlcpy(r.region, sizeof(r.region), c->region);
    nph_backend_strlcpy(r.name, sizeof(r.name), json_string_value(json_object_get(req, "name")));
    nph_backend_strlcpy(r.status, sizeof(r.status), "BUILD");
    r.created_at = r.updated_at = nph_clock_now();

    /* The request as the cloud will get it, journaled with the operation. */
    json_t *arg =
        json_pack("{s:s,s:s,s:s,s:O?,s:O?,s:O?}", "name", r.name, "offering_id", r.offering_id,
                  "image_id", r.image_id, "key_name", json_object_get(req, "key_name"), "metadata",
                  json_object_get(req, "metadata"), "user_data", json_object_get(req, "user_data"));
    char *arg_text = arg ? nph_json_dumps(arg) : NULL;
    json_decref(arg);
    if (!arg_text) {
        nph_error_nomem(err);
        return NULL;
    }
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db) {
        free(arg_text);
        return NULL;
    }
    int local = strcmp(c->kind, "local") == 0;
    struct op_new o = {.kind = "create",
                       .server_id = "",
                       .cloud = c->name,
                       .project_id = r.project_id,
                       .user_id = r.user_id,
                       .state = local ? "running" : "pending",
                       .phase = "submit",
                       .arg = arg_text,
                       .target = "ACTIVE",
                       .attempts = local,
                       .lease_owner = local ? f->instance : NULL};
    if (!local && nph_uuid4(r.id) != 0) {
        nph_store_release(db);
        free(arg_text);
        nph_error_set(err, NPH_E_INTERNAL, "cannot draw an id");
        return NULL;
    }
    o.server_id = r.id;
    int rc = nph_db_begin(db, err) || op_insert(f, db, &o, r.op_id, err) ||
             (!local && rec_insert(db, &r, err)) || nph_db_commit(db, err);
    nph_store_release(db);
    free(arg_text);
    if (rc)
        return NULL;
    if (!local) {
        fed_wake(f);
        return create_result(server_json(&r, NULL), op_fetch(f, r.op_id, err), err);
    }

    /* The native cloud answers at once (its own build is asynchronous): submit inline so the
     * server keeps one id, the native one. */
    struct nph_server s = {0};
    struct nph_server_spec spec = {
        .name = r.name,
        .offering_id = r.offering_id,
        .image_id = r.image_id,
        .key_name = json_string_value(json_object_get(req, "key_name")),
        .metadata = json_object_get(req, "metadata"),
        .user_data = json_string_value(json_object_get(req, "user_data")),
        .idempotency_key = r.op_id,
    };
    struct fed_call k;
    int64_t now = nph_clock_now();
    if (fed_call_begin(f, c, FED_OP_SERVER_CREATE, who, &k, err) ||
        fed_call_end(&k, c->b->ops->compute->server_create(c->b, &k.ctx, &spec, &s, err), err)) {
        struct nph_error e2 = {0};
        char msg[512];
        nph_utf8_sanitize(err->msg, msg, sizeof(msg));
        if ((db = nph_store_acquire(f->store, &e2))) {
            q(db, &e2, NULL, NULL,
              "UPDATE fed_operation SET state = 'error', error = ?, lease_owner = '',"
              " updated_at = ? WHERE id = ?",
              "sis", msg, now, r.op_id);
            nph_store_release(db);
        }
        return NULL;
    }
    nph_backend_strlcpy(r.id, sizeof(r.id), s.remote_id);
    nph_backend_strlcpy(r.remote_id, sizeof(r.remote_id), s.remote_id);
    nph_backend_strlcpy(r.status, sizeof(r.status), s.status);
    nph_server_fini(&s);
    db = nph_store_acquire(f->store, err);
    rc = !db || nph_db_begin(db, err) || rec_insert(db, &r, err) ||
         q(db, err, NULL, NULL,
           "UPDATE fed_operation SET server_id = ?, phase = 'wait', lease_owner = '',"
           " lease_until = 0, next_at = ?, updated_at = ? WHERE id = ?",
           "siis", r.id, now, now, r.op_id) < 0 ||
         nph_db_commit(db, err);
    nph_store_release(db);
    if (rc)
        return NULL;
    fed_wake(f);
    return create_result(server_json(&r, NULL), op_fetch(f, r.op_id, err), err);
}

/* ---- get / list --------------------------------------------------------------------------- */

static int live_get(struct fed *f, const struct fed_caller *who, const struct rec *r,
                    struct nph_server *s, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, r->cloud, err);
    const struct nph_compute_ops *ops = c ? nph_backend_compute(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_SERVER_GET, who, &k, err))
        return -1;
    return fed_call_end(&k, ops->server_get(c->b, &k.ctx, r->remote_id, s, err), err);
}

/* The native cloud's own servers have no record when the Nova-compatible API made them: a
 * record in memory from what the cloud says. */
static void rec_from_live(struct fed_cloud *c, const struct nph_server *s, const char *project,
                          struct rec *r)
{
    memset(r, 0, sizeof(*r));
    nph_backend_strlcpy(r->id, sizeof(r->id), s->remote_id);
    nph_backend_strlcpy(r->remote_id, sizeof(r->remote_id), s->remote_id);
    nph_backend_strlcpy(r->project_id, sizeof(r->project_id), project);
    nph_backend_strlcpy(r->cloud, sizeof(r->cloud), c->name);
    nph_backend_strlcpy(r->region, sizeof(r->region), c->region);
    nph_backend_strlcpy(r->name, sizeof(r->name), s->name);
    nph_backend_strlcpy(r->flavor, sizeof(r->flavor), s->offering_id);
    nph_backend_strlcpy(r->offering_id, sizeof(r->offering_id), s->offering_id);
    nph_backend_strlcpy(r->image, sizeof(r->image), s->image_id);
    nph_backend_strlcpy(r->image_id, sizeof(r->image_id), s->image_id);
    nph_backend_strlcpy(r->status, sizeof(r->status), s->status);
    r->created_at = r->updated_at = nph_clock_now();
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strptime(s->created, "%Y-%m-%dT%H:%M:%S", &tm))
        r->created_at = (int64_t)timegm(&tm) * 1000000;
}

json_t *fed_server_get(struct fed *f, const struct fed_caller *who, const char *id,
                       struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct rec r;
    if (!db)
        return NULL;
    struct nph_error e2 = {0};
    int rc = rec_get(db, who, id, &r, &e2);
    nph_store_release(db);
    struct nph_server s = {0};
    if (rc != 0) {
        /* not a record: a native server the Nova-compatible API created? */
        struct fed_cloud *lc = fed_cloud_local(f);
        if (e2.code != NPH_E_NOT_FOUND || !lc) {
            *err = e2;
            return NULL;
        }
        struct fed_caller scoped = *who;
        if (!who->is_admin)
            scoped.project_id = who->project_id;
        else
            scoped.project_id = ""; /* admins see every project's */
        memset(&r, 0, sizeof(r));
        nph_backend_strlcpy(r.cloud, sizeof(r.cloud), lc->name);
        nph_backend_strlcpy(r.remote_id, sizeof(r.remote_id), id);
        if (live_get(f, &scoped, &r, &s, err)) {
            if (err->code == NPH_E_NOT_FOUND)
                nph_error_set(err, NPH_E_NOT_FOUND, "Server %.64s could not be found.", id);
            return NULL;
        }
        rec_from_live(lc, &s, who->project_id, &r);
        fed_placement_of(f, id, r.placement_id);
        json_t *o = server_json(&r, &s);
        nph_server_fini(&s);
        return o;
    }
    if (!r.remote_id[0])
        return server_json(&r, NULL);
    struct fed_caller scoped = *who;
    scoped.project_id = r.project_id;
    if (live_get(f, &scoped, &r, &s, &e2) != 0) {
        /* the cloud is down or the server is gone: say what Nephele knows */
        if (e2.code == NPH_E_NOT_FOUND)
            nph_backend_strlcpy(r.status, sizeof(r.status), "DELETED");
        else
            nph_backend_strlcpy(r.status, sizeof(r.status), "UNKNOWN");
        nph_utf8_sanitize(e2.msg, r.fault, sizeof(r.fault));
        return server_json(&r, NULL);
    }
    json_t *o = server_json(&r, &s);
    nph_server_fini(&s);
    return o;
}

struct list_job {
    struct fed *f;
    struct fed_cloud *c;
    const struct fed_caller *who;
    const char *project; /* NULL = all projects */
    struct nph_server_list live;
    struct nph_error err;
    int rc;
};

static void *list_job_main(void *arg)
{
    struct list_job *j = arg;
    const struct nph_compute_ops *ops = nph_backend_compute(j->c->b, &j->err);
    struct fed_caller scoped = *j->who;
    struct fed_call k;
    /* the native cloud filters by project itself; remote accounts hold every project's */
    scoped.project_id = strcmp(j->c->kind, "local") == 0 && j->project ? j->project : "";
    j->rc = !ops || fed_call_begin(j->f, j->c, FED_OP_SERVER_LIST, &scoped, &k, &j->err) ||
                    fed_call_end(&k, ops->server_list(j->c->b, &k.ctx, &j->live, &j->err), &j->err)
                ? -1
                : 0;
    return NULL;
}

struct merged {
    json_t *server;
    int64_t created;
    char id[40];
};

static int merged_cmp(const void *a, const void *b)
{
    const struct merged *x = a, *y = b;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1; /* newest first */
    return strcmp(x->id, y->id);
}

static int status_match(const char *want, const char *status)
{
    return !want || strcasecmp(want, status) == 0;
}

json_t *fed_server_list(struct fed *f, const struct fed_caller *who,
                        const struct fed_server_filter *flt, struct nph_error *err)
{
    const char *project = who->is_admin ? (flt->project_id     ? flt->project_id
                                           : flt->all_projects ? NULL
                                                               : who->project_id)
                                        : who->project_id;
    if (!who->is_admin && flt->project_id && strcmp(flt->project_id, who->project_id) != 0) {
        nph_error_set(err, NPH_E_FORBIDDEN, "only admins may list other projects' servers");
        return NULL;
    }
    struct list_job jobs[FED_MAX_CLOUDS];
    pthread_t threads[FED_MAX_CLOUDS];
    int started[FED_MAX_CLOUDS] = {0};
    size_t n = 0;
    memset(jobs, 0, sizeof(jobs));
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++) {
        struct fed_cloud *c = f->clouds[i];
        if (c->removed || (flt->cloud && strcmp(flt->cloud, c->name) != 0) ||
            !(nph_backend_families(c->b) & NPH_FAM_COMPUTE) ||
            (flt->remote_only && strcmp(c->kind, "local") == 0))
            continue;
        jobs[n].f = f;
        jobs[n].c = c;
        jobs[n].who = who;
        jobs[n].project = project;
        n++;
    }
    pthread_rwlock_unlock(&f->lock);
    if (flt->cloud && n == 0) {
        nph_error_set(err, NPH_E_INVALID, "no cloud '%.64s'", flt->cloud);
        return NULL;
    }
    /* remote clouds in parallel, the native one (in process, fast) on this thread */
    for (size_t i = 0; i < n; i++)
        if (n > 1 && strcmp(jobs[i].c->kind, "local") != 0)
            started[i] = pthread_create(&threads[i], NULL, list_job_main, &jobs[i]) == 0;
    for (size_t i = 0; i < n; i++)
        if (!started[i])
            list_job_main(&jobs[i]);
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);

    struct recs rs = {0};
    struct nph_db *db = nph_store_acquire(f->store, err);
    int64_t rc = db ? q(db, err, recs_row, &rs,
                        project ? "SELECT " SERVER_COLS " FROM fed_server WHERE status <> "
                                  "'DELETED' AND project_id = ?"
                                : "SELECT " SERVER_COLS " FROM fed_server WHERE status <> "
                                  "'DELETED' AND ? = ''",
                        "s", project ? project : "")
                    : -1;
    nph_store_release(db);
    json_t *out = NULL, *unavailable = json_array();
    struct merged *m = NULL;
    size_t nm = 0, cap = 0;
    if (rc < 0 || !unavailable)
        goto done;
    for (size_t i = 0; i < n; i++) {
        struct list_job *j = &jobs[i];
        int local = strcmp(j->c->kind, "local") == 0;
        if (j->rc != 0)
            json_array_append_new(unavailable,
                                  json_pack("{s:s,s:s,s:s}", "cloud", j->c->name, "error",
                                            nph_error_name(j->err.code), "message", j->err.msg));
        /* records of this cloud */
        for (size_t r = 0; r < rs.n; r++) {
            struct rec *rec = &rs.v[r];
            const struct nph_server *live = NULL;
            if (strcmp(rec->cloud, j->c->name) != 0)
                continue;
            for (size_t s = 0; rec->remote_id[0] && s < j->live.n && !live; s++)
                if (strcmp(j->live.v[s].remote_id, rec->remote_id) == 0)
                    live = &j->live.v[s];
            if (j->rc != 0)
                nph_backend_strlcpy(rec->status, sizeof(rec->status), "UNKNOWN");
            if (!status_match(flt->status, live ? live->status : rec->status))
                continue;
            if (nm == cap) {
                cap = cap ? cap * 2 : 64;
                struct merged *nmv = realloc(m, cap * sizeof(*m));
                if (!nmv)
                    goto nomem;
                m = nmv;
            }
            m[nm].server = server_json(rec, live);
            m[nm].created = rec->created_at;
            nph_backend_strlcpy(m[nm].id, sizeof(m[nm].id), rec->id);
            nm++;
        }
        /* the native cloud's servers that have no record */
        for (size_t s = 0; local && s < j->live.n; s++) {
            const struct nph_server *live = &j->live.v[s];
            int known = 0;
            for (size_t r = 0; r < rs.n && !known; r++)
                known = strcmp(rs.v[r].cloud, j->c->name) == 0 &&
                        strcmp(rs.v[r].remote_id, live->remote_id) == 0;
            if (known || strcmp(live->status, "DELETED") == 0 ||
                !status_match(flt->status, live->status))
                continue;
            struct rec tmp;
            rec_from_live(j->c, live, project ? project : "", &tmp);
            if (nm == cap) {
                cap = cap ? cap * 2 : 64;
                struct merged *nmv = realloc(m, cap * sizeof(*m));
                if (!nmv)
                    goto nomem;
                m = nmv;
            }
            m[nm].server = server_json(&tmp, live);
            if (!project)
                json_object_del(m[nm].server, "project_id");
            m[nm].created = tmp.created_at;
            nph_backend_strlcpy(m[nm].id, sizeof(m[nm].id), tmp.id);
            nm++;
        }
    }
    if (nm)
        qsort(m, nm, sizeof(*m), merged_cmp);
    size_t start = 0;
    if (flt->marker) {
        size_t i = 0;
        while (i < nm && strcmp(m[i].id, flt->marker) != 0)
            i++;
        if (i == nm) {
            nph_error_set(err, NPH_E_INVALID, "marker %.64s not found", flt->marker);
            goto done;
        }
        start = i + 1;
    }
    size_t limit = flt->limit > 0 && flt->limit < LIST_MAX ? (size_t)flt->limit : LIST_MAX;
    json_t *servers = json_array();
    size_t i;
    for (i = start; servers && i < nm && i < start + limit; i++)
        json_array_append(servers, m[i].server);
    out = servers ? json_pack("{s:o,s:O,s:s?}", "servers", servers, "unavailable", unavailable,
                              "next", i < nm && i > start ? m[i - 1].id : NULL)
                  : NULL;
    if (!out)
        goto nomem;
    goto done;
nomem:
    nph_error_nomem(err);
done:
    for (size_t x = 0; x < nm; x++)
        json_decref(m[x].server);
    free(m);
    free(rs.v);
    json_decref(unavailable);
    for (size_t x = 0; x < n; x++)
        nph_server_list_fini(&jobs[x].live);
    return out;
}

int fed_server_is_remote(struct fed *f, const char *id)
{
    struct nph_error err = {0};
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct rec r;
    if (!db)
        return 0;
    int rc = rec_get(db, NULL, id, &r, &err);
    nph_store_release(db);
    return rc == 0 && !fed_cloud_is_local(f, r.cloud);
}

/* ---- actions and delete ------------------------------------------------------------------- */

static json_t *journal_on(struct fed *f, const struct fed_caller *who, const char *id,
                          const char *kind, const char *arg, const char *target,
                          enum nph_server_action action, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct rec r;
    char busy[40], op_id[40] = "";
    if (!db)
        return NULL;
    int rc = rec_get(db, who, id, &r, err);
    if (rc != 0 && err->code == NPH_E_NOT_FOUND) {
        /* a native server without a record: adopt it so that the operation has one */
        struct fed_cloud *lc = fed_cloud_local(f);
        struct nph_server s = {0};
        struct nph_error e2 = {0};
        struct fed_caller scoped = *who;
        if (who->is_admin)
            scoped.project_id = "";
        memset(&r, 0, sizeof(r));
        if (lc) {
            nph_backend_strlcpy(r.cloud, sizeof(r.cloud), lc->name);
            nph_backend_strlcpy(r.remote_id, sizeof(r.remote_id), id);
        }
        if (lc && live_get(f, &scoped, &r, &s, &e2) == 0) {
            rec_from_live(lc, &s, who->project_id, &r);
            nph_server_fini(&s);
            if (nph_uuid4(r.op_id) == 0 && rec_insert(db, &r, err) == 0)
                rc = rec_get(db, NULL, id, &r, err);
        }
    }
    if (rc == 0 && op_in_progress(db, r.id, busy, err) == 0 && busy[0] &&
        strcmp(kind, "delete") != 0)
        rc = nph_error_set(err, NPH_E_CONFLICT,
                           "server %s has operation %s in progress; try again when it is done",
                           r.id, busy);
    if (rc != 0) {
        nph_store_release(db);
        return NULL;
    }
    struct fed_cloud *c = fed_cloud_find(f, r.cloud, err);
    if (!c || !nph_backend_compute(c->b, err)) {
        nph_store_release(db);
        return NULL;
    }
    int local = strcmp(c->kind, "local") == 0;
    struct op_new o = {.kind = kind,
                       .server_id = r.id,
                       .cloud = r.cloud,
                       .project_id = r.project_id,
                       .user_id = who->user_id,
                       .state = local ? "running" : "pending",
                       .phase = "submit",
                       .arg = arg,
                       .target = target,
                       .attempts = local,
                       .lease_owner = local ? f->instance : NULL};
    rc = op_insert(f, db, &o, op_id, err);
    nph_store_release(db);
    if (rc)
        return NULL;
    if (local) {
        /* the native cloud checks the state and queues the work itself: answer its verdict
         * now (a stop of a stopped server is a 409 here, as in Nova) */
        struct fed_call k;
        struct fed_caller scoped = *who;
        scoped.project_id = r.project_id;
        const struct nph_compute_ops *ops = c->b->ops->compute;
        int crc = fed_call_begin(
            f, c, strcmp(kind, "delete") ? FED_OP_SERVER_ACTION : FED_OP_SERVER_DELETE, &scoped, &k,
            err);
        if (!crc)
            crc = fed_call_end(&k,
                               strcmp(kind, "delete")
                                   ? ops->server_action(c->b, &k.ctx, r.remote_id, action, arg, err)
                                   : ops->server_delete(c->b, &k.ctx, r.remote_id, err),
                               err);
        struct nph_error e2 = {0};
        char msg[512];
        nph_utf8_sanitize(crc ? err->msg : "", msg, sizeof(msg));
        int64_t now = nph_clock_now();
        if ((db = nph_store_acquire(f->store, &e2))) {
            q(db, &e2, NULL, NULL,
              crc ? "UPDATE fed_operation SET state = 'error', error = ?, lease_owner = '',"
                    " updated_at = ? WHERE id = ?"
                  : "UPDATE fed_operation SET phase = 'wait', error = ?, lease_owner = '',"
                    " lease_until = 0, updated_at = ? WHERE id = ?",
              "sis", msg, now, op_id);
            nph_store_release(db);
        }
        if (crc)
            return NULL;
    }
    fed_wake(f);
    return op_fetch(f, op_id, err);
}

json_t *fed_server_action(struct fed *f, const struct fed_caller *who, const char *id,
                          enum nph_server_action action, const char *arg, struct nph_error *err)
{
    if ((unsigned)action >= sizeof(target_of) / sizeof(target_of[0])) {
        nph_error_set(err, NPH_E_INVALID, "unknown action");
        return NULL;
    }
    if (action == NPH_SA_RESIZE) {
        /* arg is a Nephele flavor; the cloud gets its smallest fitting offering */
        struct nph_db *db = nph_store_acquire(f->store, err);
        struct rec r;
        if (!db)
            return NULL;
        int rc = rec_get(db, who, id, &r, err);
        nph_store_release(db);
        struct fed_cloud *c = rc ? NULL : fed_cloud_find(f, r.cloud, err);
        unsigned vcpus;
        uint64_t ram, disk;
        char fname[64], fid[64];
        struct nph_offering off;
        if (!c || !arg || resolve_flavor(f, arg, &vcpus, &ram, &disk, fname, fid, err))
            return arg || !c ? NULL
                             : (nph_error_set(err, NPH_E_INVALID, "resize needs a flavor"), NULL);
        if (strcmp(c->kind, "local") == 0)
            return journal_on(f, who, id, nph_server_action_name(action), fid, target_of[action],
                              action, err);
        if (fed_cloud_fit(f, c, who, vcpus, ram, disk, &off, err))
            return NULL;
        return journal_on(f, who, id, nph_server_action_name(action), off.id, target_of[action],
                          action, err);
    }
    return journal_on(f, who, id, nph_server_action_name(action), arg, target_of[action], action,
                      err);
}

json_t *fed_server_delete(struct fed *f, const struct fed_caller *who, const char *id,
                          struct nph_error *err)
{
    return journal_on(f, who, id, "delete", NULL, "DELETED", NPH_SA_START, err);
}

/* ---- the workers -------------------------------------------------------------------------- */

struct op {
    char id[40], kind[24], server_id[40], cloud[FED_NAME_MAX + 1], project_id[72], user_id[72];
    char state[16], phase[16], arg[4096], target[24];
    int64_t attempts, deadline, created_at;
};

static int op_full_row(struct nph_stmt *st, void *ctx)
{
    struct op *o = ctx;
    nph_backend_strlcpy(o->id, sizeof(o->id), col(st, 0));
    nph_backend_strlcpy(o->kind, sizeof(o->kind), col(st, 1));
    nph_backend_strlcpy(o->server_id, sizeof(o->server_id), col(st, 2));
    nph_backend_strlcpy(o->cloud, sizeof(o->cloud), col(st, 3));
    nph_backend_strlcpy(o->project_id, sizeof(o->project_id), col(st, 4));
    nph_backend_strlcpy(o->user_id, sizeof(o->user_id), col(st, 5));
    nph_backend_strlcpy(o->state, sizeof(o->state), col(st, 6));
    nph_backend_strlcpy(o->phase, sizeof(o->phase), col(st, 7));
    nph_backend_strlcpy(o->arg, sizeof(o->arg), col(st, 8));
    nph_backend_strlcpy(o->target, sizeof(o->target), col(st, 9));
    o->attempts = nph_stmt_col_int64(st, 10);
    o->deadline = nph_stmt_col_int64(st, 11);
    o->created_at = nph_stmt_col_int64(st, 12);
    return 0;
}

struct due {
    char ids[16][40];
    int n;
};

static int due_row(struct nph_stmt *st, void *ctx)
{
    struct due *d = ctx;
    if (d->n < 16)
        nph_backend_strlcpy(d->ids[d->n++], 40, col(st, 0));
    return 0;
}

/* Finish an operation step: state/phase/next poll, optionally the server's status, fault,
 * remote id and a ledger event, in one transaction. */
struct step_out {
    const char *state, *phase;
    int64_t next_in_us;
    const char *error;
    int set_server;
    const char *status, *fault, *remote_id;
    int deleted;
    int has_ledger;
    enum nph_ledger_kind ledger_kind;
    const char *ledger_offering;
    const char *offering_id; /* resize confirmed: the record's new offering */
};

static int step_commit(struct fed *f, const struct op *o, const struct step_out *s,
                       struct nph_error *err)
{
    int64_t now = nph_clock_now();
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct rec r;
    if (!db)
        return -1;
    int rc = nph_db_begin(db, err);
    if (!rc)
        rc = q(db, err, NULL, NULL,
               "UPDATE fed_operation SET state = ?, phase = ?, error = ?, lease_owner = '',"
               " lease_until = 0, next_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ?",
               "sssiiss", s->state, s->phase, s->error ? s->error : "", now + s->next_in_us, now,
               o->id, f->instance) == 1
                 ? 0
                 : nph_error_set(err, NPH_E_CONFLICT, "lost the lease of operation %s", o->id);
    if (!rc && s->set_server) {
        rc = rec_get(db, NULL, o->server_id, &r, err);
        if (!rc && s->remote_id)
            rc = q(db, err, NULL, NULL, "UPDATE fed_server SET remote_id = ? WHERE id = ?", "ss",
                   s->remote_id, r.id) < 0;
        if (!rc && s->offering_id)
            rc = q(db, err, NULL, NULL,
                   "UPDATE fed_server SET offering_id = ?, offering_name = ? WHERE id = ?", "sss",
                   s->offering_id, s->ledger_offering ? s->ledger_offering : "", r.id) < 0;
        if (!rc && s->deleted)
            rc = q(db, err, NULL, NULL,
                   "UPDATE fed_server SET status = 'DELETED', fault = ?, updated_at = ?,"
                   " deleted_at = ? WHERE id = ?",
                   "siis", s->fault ? s->fault : "", now, now, r.id) < 0;
        else if (!rc)
            rc = q(db, err, NULL, NULL,
                   "UPDATE fed_server SET status = ?, fault = ?, updated_at = ? WHERE id = ?",
                   "ssis", s->status ? s->status : r.status, s->fault ? s->fault : "", now,
                   r.id) < 0;
        /* the native cloud writes its own ledger */
        if (!rc && s->has_ledger && !fed_cloud_is_local(f, r.cloud))
            rc = ledger(db, &r, s->ledger_kind, s->ledger_offering, err);
    }
    if (!rc)
        rc = nph_db_commit(db, err);
    nph_store_release(db);
    return rc;
}

/* A create that was submitted more than once (a call timed out after its request reached the
 * cloud, and the retry found no stamp yet) may have made twins: every server stamped with the
 * operation's id except the one recorded is deleted. Best effort; reconciliation catches the
 * rest. */
static void create_dedup(struct fed *f, struct fed_cloud *c, const struct nph_compute_ops *ops,
                         const struct op *o, const char *keep)
{
    struct nph_error err = {0};
    struct nph_server_list l = {0};
    struct fed_caller any = {.project_id = fed_cloud_is_local(f, o->cloud) ? "" : o->project_id,
                             .user_id = o->user_id,
                             .is_admin = 1};
    struct fed_call k;
    if (fed_call_begin(f, c, FED_OP_SERVER_LIST, &any, &k, &err) ||
        fed_call_end(&k, ops->server_list(c->b, &k.ctx, &l, &err), &err)) {
        nph_log(NPH_LOG_WARN, "federation.dedup_failed", "op", o->id, "cloud", c->name, "msg",
                err.msg, NULL);
        nph_server_list_fini(&l);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct nph_server *sv = &l.v[i];
        if (strcmp(sv->op_key, o->id) != 0 || strcmp(sv->remote_id, keep) == 0 ||
            strcmp(sv->status, "DELETED") == 0)
            continue;
        nph_error_clear(&err);
        if (fed_call_begin(f, c, FED_OP_SERVER_DELETE, &any, &k, &err) ||
            fed_call_end(&k, ops->server_delete(c->b, &k.ctx, sv->remote_id, &err), &err))
            nph_log(NPH_LOG_WARN, "federation.dedup_failed", "op", o->id, "cloud", c->name,
                    "remote_id", sv->remote_id, "msg", err.msg, NULL);
        else
            nph_log(NPH_LOG_WARN, "federation.cleanup", "cloud", c->name, "remote_id",
                    sv->remote_id, "op", o->id, "msg", "a twin of a retried create", NULL);
    }
    nph_server_list_fini(&l);
}

static void run_step(struct fed *f, struct op *o)
{
    struct nph_error err = {0};
    struct step_out out = {.state = "running", .phase = o->phase};
    struct fed_caller who = {.project_id = o->project_id, .user_id = o->user_id, .is_admin = 1};
    char fault[256] = "";
    int64_t poll = f->cfg->federation_poll_interval_ms * 1000;
    int64_t now = nph_clock_now();
    struct fed_cloud *c = fed_cloud_find(f, o->cloud, &err);
    const struct nph_compute_ops *ops = c ? nph_backend_compute(c->b, &err) : NULL;
    struct nph_db *db;
    struct rec r;
    memset(&r, 0, sizeof(r));
    if (ops && (db = nph_store_acquire(f->store, &err))) {
        if (o->server_id[0])
            rec_get(db, NULL, o->server_id, &r, &err);
        nph_store_release(db);
    }
    if (!ops) {
        out.state = "error";
        out.error = err.msg;
        goto commit;
    }
    if (now > o->deadline) {
        out.state = "error";
        out.error = "the cloud did not finish the operation in time";
        out.set_server = strcmp(o->kind, "create") == 0;
        out.status = "ERROR";
        out.fault = out.error;
        goto commit;
    }
    struct fed_call k;
    int create = strcmp(o->kind, "create") == 0, del = strcmp(o->kind, "delete") == 0;
    if (strcmp(o->phase, "submit") == 0) {
        int rc;
        if (create) {
            /* a previous attempt may have reached the cloud: look for our stamp first */
            struct nph_server found = {0};
            int have = 0;
            if (o->attempts > 1) {
                struct nph_server_list l = {0};
                struct fed_caller any = who;
                any.project_id = fed_cloud_is_local(f, o->cloud) ? "" : o->project_id;
                if (fed_call_begin(f, c, FED_OP_SERVER_LIST, &any, &k, &err) ||
                    fed_call_end(&k, ops->server_list(c->b, &k.ctx, &l, &err), &err)) {
                    nph_server_list_fini(&l);
                    goto retry;
                }
                for (size_t i = 0; i < l.n && !have; i++)
                    if (strcmp(l.v[i].op_key, o->id) == 0) {
                        found = l.v[i];
                        l.v[i].addresses = NULL;
                        have = 1;
                    }
                nph_server_list_fini(&l);
            }
            if (!have) {
                json_t *a = nph_json_parse(o->arg, strlen(o->arg), 16, 1, &err);
                struct nph_server_spec spec = {
                    .name = json_string_value(json_object_get(a, "name")),
                    .offering_id = json_string_value(json_object_get(a, "offering_id")),
                    .image_id = json_string_value(json_object_get(a, "image_id")),
                    .key_name = json_string_value(json_object_get(a, "key_name")),
                    .metadata = json_is_object(json_object_get(a, "metadata"))
                                    ? json_object_get(a, "metadata")
                                    : NULL,
                    .user_data = json_string_value(json_object_get(a, "user_data")),
                    .idempotency_key = o->id,
                };
                rc = !a || fed_call_begin(f, c, FED_OP_SERVER_CREATE, &who, &k, &err) ||
                     fed_call_end(&k, ops->server_create(c->b, &k.ctx, &spec, &found, &err), &err);
                json_decref(a);
                if (rc)
                    goto failed;
            }
            if (!o->server_id[0]) {
                /* a native create journaled inline and interrupted before its record */
                nph_server_fini(&found);
                out.state = "error";
                out.error = "interrupted before the server was recorded; reconciliation "
                            "adopts it";
                goto commit;
            }
            out.set_server = 1;
            out.remote_id = found.remote_id;
            out.status = found.status;
            out.phase = "wait";
            out.next_in_us = poll;
            char rid[64];
            nph_backend_strlcpy(rid, sizeof(rid), found.remote_id);
            out.remote_id = rid;
            nph_server_fini(&found);
            if (step_commit(f, o, &out, &err))
                nph_log(NPH_LOG_WARN, "federation.op_commit", "op", o->id, "msg", err.msg, NULL);
            return;
        }
        if (!r.remote_id[0]) {
            /* the create has not reached the cloud yet: wait for it, or end with it */
            char busy[40] = "";
            if ((db = nph_store_acquire(f->store, &err))) {
                op_in_progress(db, o->server_id, busy, &err);
                nph_store_release(db);
            }
            if (busy[0] && strcmp(busy, o->id) != 0) {
                out.next_in_us = poll;
                goto commit;
            }
            if (del) {
                out.state = "done";
                out.set_server = 1;
                out.status = "DELETED";
                out.deleted = 1;
                goto commit;
            }
            out.state = "error";
            out.error = "the server was never created on its cloud";
            goto commit;
        }
        enum nph_server_action act = NPH_SA_START;
        for (int i = 0; i <= NPH_SA_REVERT_RESIZE; i++)
            if (strcmp(nph_server_action_name((enum nph_server_action)i), o->kind) == 0)
                act = (enum nph_server_action)i;
        rc = fed_call_begin(f, c, del ? FED_OP_SERVER_DELETE : FED_OP_SERVER_ACTION, &who, &k,
                            &err) ||
             fed_call_end(&k,
                          del ? ops->server_delete(c->b, &k.ctx, r.remote_id, &err)
                              : ops->server_action(c->b, &k.ctx, r.remote_id, act,
                                                   o->arg[0] ? o->arg : NULL, &err),
                          &err);
        if (rc && !(del && err.code == NPH_E_NOT_FOUND))
            goto failed;
        out.phase = "wait";
        out.next_in_us = poll;
        goto commit;
    }

    /* phase wait: poll until the target status */
    if (!r.remote_id[0] && !del) {
        out.state = "error";
        out.error = "the server has no remote id";
        goto commit;
    }
    struct nph_server s = {0};
    int rc = fed_call_begin(f, c, FED_OP_SERVER_GET, &who, &k, &err) ||
             fed_call_end(&k, ops->server_get(c->b, &k.ctx, r.remote_id, &s, &err), &err);
    if (rc) {
        if (err.code == NPH_E_NOT_FOUND) {
            nph_server_fini(&s);
            out.set_server = 1;
            out.status = "DELETED";
            out.deleted = 1;
            out.has_ledger = 1;
            out.ledger_kind = NPH_LEDGER_DELETED;
            out.state = del ? "done" : "error";
            out.error = del ? NULL : "the server vanished from its cloud";
            goto commit;
        }
        goto retry;
    }
    nph_backend_strlcpy(fault, sizeof(fault), s.fault);
    char status[24];
    nph_backend_strlcpy(status, sizeof(status), s.status);
    nph_server_fini(&s);
    out.set_server = 1;
    out.status = status;
    if (strcmp(status, "ERROR") == 0 && strcmp(o->target, "ERROR") != 0) {
        out.state = "error";
        out.error = fault[0] ? fault : "the cloud put the server in ERROR";
        out.fault = out.error;
        goto commit;
    }
    if (strcmp(status, o->target) == 0) {
        out.state = "done";
        out.has_ledger = !del;
        if (create && o->attempts > 1)
            create_dedup(f, c, ops, o, r.remote_id);
        if (create)
            out.ledger_kind = NPH_LEDGER_CREATED;
        else if (strcmp(o->kind, "stop") == 0)
            out.ledger_kind = NPH_LEDGER_STOPPED;
        else if (strcmp(o->kind, "start") == 0)
            out.ledger_kind = NPH_LEDGER_STARTED;
        else if (strcmp(o->kind, "resize") == 0) {
            out.ledger_kind = NPH_LEDGER_RESIZED;
            /* the new offering: name from the cache */
            static __thread char oname[128];
            oname[0] = '\0';
            pthread_mutex_lock(&c->mu);
            for (size_t i = 0; i < c->offerings.n; i++)
                if (strcmp(c->offerings.v[i].id, o->arg) == 0)
                    nph_backend_strlcpy(oname, sizeof(oname), c->offerings.v[i].name);
            pthread_mutex_unlock(&c->mu);
            out.ledger_offering = oname[0] ? oname : o->arg;
            out.offering_id = o->arg;
        } else
            out.has_ledger = 0;
        goto commit;
    }
    out.next_in_us = poll;
    goto commit;

failed:
    if (err.code == NPH_E_UNAVAILABLE || err.code == NPH_E_TIMEOUT || err.code == NPH_E_BACKEND)
        goto retry;
    out.state = "error";
    out.error = err.msg;
    if (create) {
        out.set_server = 1;
        out.status = "ERROR";
        nph_utf8_sanitize(err.msg, fault, sizeof(fault));
        out.fault = fault;
    }
    goto commit;
retry : {
    /* the cloud is unwell: try again later (the deadline ends it) */
    int64_t back = poll << (o->attempts < 5 ? o->attempts : 5);
    out.next_in_us = back < RETRY_BACKOFF_MAX ? back : RETRY_BACKOFF_MAX;
    nph_utf8_sanitize(err.msg, fault, sizeof(fault));
    out.error = fault;
}
commit:
    if (step_commit(f, o, &out, &err))
        nph_log(NPH_LOG_WARN, "federation.op_commit", "op", o->id, "msg", err.msg, NULL);
    else if (strcmp(out.state, "running") != 0)
        nph_log(NPH_LOG_INFO, "federation.op_finished", "op", o->id, "kind", o->kind, "server",
                o->server_id, "cloud", o->cloud, "state", out.state, "error",
                out.error ? out.error : "", NULL);
}

/* Claim one due operation: 1 claimed (o filled), 0 none due, -1 error. */
static int claim(struct fed *f, struct op *o, struct nph_error *err)
{
    int64_t now = nph_clock_now();
    struct due d = {0};
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return -1;
    int rc = q(db, err, due_row, &d,
               "SELECT id FROM fed_operation WHERE state IN ('pending','running') AND next_at <= ?"
               " AND lease_until < ? ORDER BY next_at LIMIT 16",
               "ii", now, now) < 0
                 ? -1
                 : 0;
    for (int i = 0; rc == 0 && i < d.n; i++) {
        /* start at a random offset so that workers do not all race for the first */
        const char *id = d.ids[(i + (int)(now / 7 % (d.n ? d.n : 1))) % d.n];
        int64_t got = q(db, err, NULL, NULL,
                        "UPDATE fed_operation SET lease_owner = ?, lease_until = ?, state ="
                        " 'running', attempts = attempts + CASE WHEN phase = 'submit' THEN 1"
                        " ELSE 0 END, updated_at = ? WHERE id = ? AND lease_until < ? AND state"
                        " IN ('pending','running')",
                        "siisi", f->instance, now + LEASE_US, now, id, now);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 1) {
            memset(o, 0, sizeof(*o));
            rc = q(db, err, op_full_row, o,
                   "SELECT id, kind, server_id, cloud, project_id, user_id, state, phase, arg,"
                   " target, attempts, deadline, created_at FROM fed_operation WHERE id = ?",
                   "s", id) < 0
                     ? -1
                     : 1;
            break;
        }
    }
    nph_store_release(db);
    return rc;
}

void *fed_worker_main(void *arg)
{
    struct fed *f = arg;
    for (;;) {
        struct op o;
        struct nph_error err = {0};
        int rc = claim(f, &o, &err);
        if (rc == 1) {
            run_step(f, &o);
            continue;
        }
        if (rc < 0)
            nph_log(NPH_LOG_WARN, "federation.claim", "msg", err.msg, NULL);
        if (fed_sleep(f, rc < 0 ? 1000 : f->cfg->federation_poll_interval_ms))
            return NULL;
    }
}

/* ---- reconciliation ----------------------------------------------------------------------- */

struct op_lookup {
    char state[16], server_id[40];
    int found;
};

static int op_lookup_row(struct nph_stmt *st, void *ctx)
{
    struct op_lookup *l = ctx;
    nph_backend_strlcpy(l->state, sizeof(l->state), col(st, 0));
    nph_backend_strlcpy(l->server_id, sizeof(l->server_id), col(st, 1));
    l->found = 1;
    return 0;
}

int fed_reconcile_cloud(struct fed *f, struct fed_cloud *c, json_t **summary, struct nph_error *err)
{
    const struct nph_compute_ops *ops = nph_backend_compute(c->b, err);
    struct nph_server_list live = {0};
    struct fed_caller all = {.project_id = "", .user_id = "", .is_admin = 1};
    struct fed_call k;
    int local = strcmp(c->kind, "local") == 0;
    struct recs rs = {0};
    /* The records first, then the cloud's list: a server whose remote id a record held before
     * the list was taken is in that list unless it is really gone (the other order lost a
     * create finishing in between: its server was marked deleted, then cleaned up). */
    struct nph_db *db = ops ? nph_store_acquire(f->store, err) : NULL;
    int rc =
        db ? q(db, err, recs_row, &rs,
               "SELECT " SERVER_COLS " FROM fed_server WHERE cloud = ? AND status <> 'DELETED'",
               "s", c->name) < 0
           : -1;
    nph_store_release(db);
    db = NULL;
    if (rc || fed_call_begin(f, c, FED_OP_SERVER_LIST, &all, &k, err) ||
        fed_call_end(&k, ops->server_list(c->b, &k.ctx, &live, err), err)) {
        nph_server_list_fini(&live);
        free(rs.v);
        return -1;
    }
    int64_t now = nph_clock_now();
    int checked = 0, marked = 0, orphans = 0, adopted = 0, cleaned = 0;
    db = nph_store_acquire(f->store, err);
    rc = db ? 0 : -1;
    /* records whose server is gone (and no operation is working on them) */
    for (size_t i = 0; !rc && i < rs.n; i++) {
        struct rec *r = &rs.v[i];
        char busy[40];
        int present = 0;
        checked++;
        if (!r->remote_id[0])
            continue;
        for (size_t s = 0; s < live.n && !present; s++)
            present = strcmp(live.v[s].remote_id, r->remote_id) == 0 &&
                      strcmp(live.v[s].status, "DELETED") != 0;
        if (present || op_in_progress(db, r->id, busy, err) != 0 || busy[0])
            continue;
        /* missing from the list: the cloud itself must say it is gone */
        struct nph_server one = {0};
        struct nph_error gerr = NPH_ERROR_INIT;
        struct fed_caller scoped = all;
        scoped.project_id = r->project_id;
        if (live_get(f, &scoped, r, &one, &gerr) == 0) {
            int gone = strcmp(one.status, "DELETED") == 0;
            nph_server_fini(&one);
            if (!gone)
                continue;
        } else if (gerr.code != NPH_E_NOT_FOUND) {
            continue; /* cannot tell now: the next pass will */
        }
        rc = nph_db_begin(db, err) ||
             q(db, err, NULL, NULL,
               "UPDATE fed_server SET status = 'DELETED', fault = 'deleted outside Nephele',"
               " updated_at = ?, deleted_at = ? WHERE id = ? AND status <> 'DELETED'",
               "iis", now, now, r->id) < 0 ||
             (!local && ledger(db, r, NPH_LEDGER_DELETED, NULL, err)) || nph_db_commit(db, err);
        if (!rc) {
            marked++;
            nph_log(NPH_LOG_WARN, "federation.drift", "cloud", c->name, "server", r->id,
                    "remote_id", r->remote_id, "msg", "deleted outside Nephele", NULL);
        }
    }
    /* servers the cloud holds that Nephele does not know */
    for (size_t s = 0; !local && !rc && s < live.n; s++) {
        struct nph_server *sv = &live.v[s];
        int known = 0;
        for (size_t i = 0; i < rs.n && !known; i++)
            known = strcmp(rs.v[i].remote_id, sv->remote_id) == 0;
        if (known || strcmp(sv->status, "DELETED") == 0)
            continue;
        struct op_lookup l = {0};
        if (sv->op_key[0] &&
            q(db, err, op_lookup_row, &l,
              "SELECT state, server_id FROM fed_operation WHERE id = ? AND kind = 'create'", "s",
              sv->op_key) < 0) {
            rc = -1;
            break;
        }
        if (l.found) {
            struct rec r;
            int have = rec_get(db, NULL, l.server_id, &r, err) == 0;
            if (have && strcmp(r.remote_id, sv->remote_id) == 0)
                continue; /* recorded since the records were read */
            if (have && !r.remote_id[0]) {
                /* a create that reached the cloud but whose answer was lost: adopt */
                if (q(db, err, NULL, NULL,
                      "UPDATE fed_server SET remote_id = ?, updated_at = ? WHERE id = ?", "sis",
                      sv->remote_id, now, r.id) >= 0)
                    adopted++;
                continue;
            }
            int finished = strcmp(l.state, "running") != 0 && strcmp(l.state, "pending") != 0;
            if (finished && (!have || r.remote_id[0])) {
                /* ours, but its server was deleted or its create failed, or a twin of a
                 * create submitted twice (the record holds the other one): clean it up */
                struct fed_call k2;
                if (fed_call_begin(f, c, FED_OP_SERVER_DELETE, &all, &k2, err) == 0 &&
                    fed_call_end(&k2, ops->server_delete(c->b, &k2.ctx, sv->remote_id, err), err) ==
                        0) {
                    cleaned++;
                    nph_log(NPH_LOG_WARN, "federation.cleanup", "cloud", c->name, "remote_id",
                            sv->remote_id, "op", sv->op_key, "msg",
                            have ? "a twin of a retried create" : "its server is gone", NULL);
                }
                continue;
            }
            continue; /* its create is still running */
        }
        orphans++;
        rc = q(db, err, NULL, NULL,
               "INSERT INTO fed_orphan (cloud, remote_id, name, status, op_key, first_seen,"
               " last_seen) VALUES (?,?,?,?,?,?,?) ON CONFLICT (cloud, remote_id) DO UPDATE SET"
               " name = excluded.name, status = excluded.status, last_seen = excluded.last_seen",
               "sssssii", c->name, sv->remote_id, sv->name, sv->status, sv->op_key, now, now) < 0;
    }
    /* orphans not seen in this pass are gone (deleted, or adopted); "not at now" rather than
     * "before now": the clock may have stepped back since an earlier pass */
    if (!rc)
        rc = q(db, err, NULL, NULL, "DELETE FROM fed_orphan WHERE cloud = ? AND last_seen <> ?",
               "si", c->name, now) < 0;
    nph_store_release(db);
    free(rs.v);
    nph_server_list_fini(&live);
    if (rc)
        return -1;
    json_t *vols = NULL, *bkts = NULL;
    if (fed_storage_reconcile_cloud(f, c, &vols, &bkts, err))
        return -1;
    if (summary) {
        *summary = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:o?,s:o?}", "cloud", c->name, "checked",
                             checked, "marked_deleted", marked, "orphans", orphans, "adopted",
                             adopted, "cleaned", cleaned, "volumes", vols, "buckets", bkts);
    } else {
        json_decref(vols);
        json_decref(bkts);
    }
    return 0;
}

json_t *fed_cloud_reconcile(struct fed *f, const char *name, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, name, err);
    json_t *out = NULL;
    if (c && fed_reconcile_cloud(f, c, &out, err) == 0 && !out)
        nph_error_nomem(err);
    return out;
}

static int orphan_row(struct nph_stmt *st, void *ctx)
{
    char first[32], last[32];
    fed_iso8601(nph_stmt_col_int64(st, 4), first);
    fed_iso8601(nph_stmt_col_int64(st, 5), last);
    return json_array_append_new(
        ctx, json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s,s:s}", "type", "server", "remote_id", col(st, 0),
                       "name", col(st, 1), "status", col(st, 2), "op_key",
                       col(st, 3)[0] ? col(st, 3) : NULL, "first_seen", first, "last_seen", last));
}

json_t *fed_cloud_orphans(struct fed *f, const char *name, struct nph_error *err)
{
    if (!fed_cloud_find(f, name, err))
        return NULL;
    struct nph_db *db = nph_store_acquire(f->store, err);
    json_t *arr = json_array();
    if (!db || !arr ||
        q(db, err, orphan_row, arr,
          "SELECT remote_id, name, status, op_key, first_seen, last_seen FROM fed_orphan"
          " WHERE cloud = ? ORDER BY first_seen, remote_id",
          "s", name) < 0) {
        nph_store_release(db);
        json_decref(arr);
        return NULL;
    }
    nph_store_release(db);
    if (fed_storage_orphans(f, name, arr, err)) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* One reconciler across the fleet: on PostgreSQL the session advisory lock below (held on a
 * connection for the pass); on SQLite the store serves one process. */
#define RECONCILE_LOCK_KEY 0x4e50485245434fLL /* "NPHRECO" */

void *fed_reconcile_main(void *arg)
{
    struct fed *f = arg;
    if (f->cfg->federation_reconcile_interval == 0)
        return NULL;
    while (!fed_sleep(f, f->cfg->federation_reconcile_interval * 1000)) {
        struct nph_error err = {0};
        struct nph_db *lockdb = NULL;
        if (nph_store_engine(f->store) == NPH_STORE_POSTGRES) {
            int got = 0;
            lockdb = nph_store_acquire(f->store, &err);
            struct nph_stmt *st =
                lockdb ? nph_db_prepare(lockdb, "SELECT pg_try_advisory_lock(?)", &err) : NULL;
            if (st && nph_stmt_bind_int64(st, 1, RECONCILE_LOCK_KEY, &err) == 0 &&
                nph_stmt_step(st, &err) == 1) {
                const char *v = nph_stmt_col_text(st, 0);
                got = v && (v[0] == 't' || v[0] == '1');
            }
            nph_stmt_done(st);
            if (!got) {
                nph_store_release(lockdb);
                continue; /* another broker reconciles */
            }
        }
        struct fed_cloud *list[FED_MAX_CLOUDS];
        size_t n = 0;
        pthread_rwlock_rdlock(&f->lock);
        for (size_t i = 0; i < f->n_clouds; i++)
            if (!f->clouds[i]->removed && (nph_backend_families(f->clouds[i]->b) & NPH_FAM_COMPUTE))
                list[n++] = f->clouds[i];
        pthread_rwlock_unlock(&f->lock);
        for (size_t i = 0; i < n; i++) {
            json_t *sum = NULL;
            if (fed_reconcile_cloud(f, list[i], &sum, &err) != 0)
                nph_log(NPH_LOG_WARN, "federation.reconcile", "cloud", list[i]->name, "msg",
                        err.msg, NULL);
            json_decref(sum);
        }
        if (lockdb) {
            struct nph_stmt *st = nph_db_prepare(lockdb, "SELECT pg_advisory_unlock(?)", &err);
            if (st && nph_stmt_bind_int64(st, 1, RECONCILE_LOCK_KEY, &err) == 0)
                nph_stmt_step(st, &err);
            nph_stmt_done(st);
            nph_store_release(lockdb);
        }
    }
    return NULL;
}
