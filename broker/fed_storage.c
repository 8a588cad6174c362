/*
 * fed_storage.c - volumes and buckets on any cloud (federation.h, docs/federation.md).
 *
 * A volume's or bucket's id is Nephele's; the record (fed_volume, fed_bucket) maps it to
 * (cloud, region, remote id or container name). A create without a cloud asks the placement
 * engine (a request of kind "volume" or "bucket" with size_gb); the record is written before
 * the cloud is called and removed again when the cloud refuses, so a resource Nephele made is
 * never unknown to it. Calls pass through the federation's one wrapper (fed_call_begin/end).
 *
 * Ledger: the native cloud's storage writes its own events (volumes and containers); for other
 * clouds the federation writes them here, with the record's change in one transaction:
 * volume created / resized (extend) / deleted with size_gb, bucket created (0 GiB) / resized
 * when its bytes cross a GiB boundary after an upload or delete through Nephele / deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed_internal.h"
#include "local_volume.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_ledger.h"
#include "nph_log.h"

#define GIB              (1024LL * 1024 * 1024)
#define VOL_NAME_MAX     255
#define XFER_TIMEOUT_MS  (30L * 60 * 1000) /* an object transfer: 30 min */
#define STORAGE_LIST_MAX 1000

static const struct nph_migration storage_migrations[] = {
    {1, "volumes and buckets across clouds",
     "CREATE TABLE fed_volume (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " user_id TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT NOT NULL, remote_id TEXT,"
     " name TEXT NOT NULL, size_gb BIGINT NOT NULL, image TEXT NOT NULL,"
     " status TEXT NOT NULL, placement_id TEXT NOT NULL, created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL, deleted_at BIGINT);"
     "CREATE INDEX fed_volume_project ON fed_volume (project_id, created_at);"
     "CREATE TABLE fed_bucket (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " name TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT NOT NULL,"
     " remote_name TEXT NOT NULL, placement_id TEXT NOT NULL, ledger_gb BIGINT NOT NULL,"
     " created_at BIGINT NOT NULL, deleted_at BIGINT);"
     "CREATE INDEX fed_bucket_project ON fed_bucket (project_id, name);"},
    {2, "storage orphans",
     "CREATE TABLE fed_storage_orphan (cloud TEXT NOT NULL, kind TEXT NOT NULL,"
     " remote_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"
     " first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
     " PRIMARY KEY (cloud, kind, remote_id));"},
};

int fed_storage_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "fed_storage", storage_migrations,
                             sizeof(storage_migrations) / sizeof(storage_migrations[0]), applied,
                             err);
}

/* ---- shared ---------------------------------------------------------------------------------- */

static int need_project(const struct fed_caller *who, const char *what, struct nph_error *err)
{
    if (who->project_id && *who->project_id)
        return 0;
    return nph_error_set(err, NPH_E_INVALID,
                         "a %s belongs to a project: use a project-scoped token", what);
}

/* Only the listed keys in a request body. */
static int check_keys(const json_t *req, const char *const *keys, const char *what,
                      struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(req))
        return nph_error_set(err, NPH_E_INVALID, "the %s must be a JSON object", what);
    json_object_foreach((json_t *)req, k, v)
    {
        int ok = 0;
        for (size_t i = 0; keys[i] && !ok; i++)
            ok = strcmp(keys[i], k) == 0;
        if (!ok)
            return nph_error_set(err, NPH_E_INVALID, "unknown key '%.64s' in the %s", k, what);
    }
    return 0;
}

/* The cloud for a create: the one named (it must offer `fam`), else the placement engine's
 * choice among the clouds that do. *placement receives the decision's id. */
static struct fed_cloud *choose_cloud(struct fed *f, const struct fed_caller *who, const char *kind,
                                      const char *named, int64_t size_gb, const char *name,
                                      char placement[40], struct nph_error *err)
{
    unsigned fam = strcmp(kind, "volume") == 0 ? NPH_FAM_VOLUME : NPH_FAM_OBJECT;
    placement[0] = '\0';
    if (named) {
        struct fed_cloud *c = fed_cloud_find(f, named, NULL);
        if (!c) {
            fed_cloud_check(f, named, err);
            return NULL;
        }
        pthread_mutex_lock(&c->mu);
        enum fed_breaker br = c->breaker;
        char last[sizeof(c->last_error)];
        memcpy(last, c->last_error, sizeof(last));
        pthread_mutex_unlock(&c->mu);
        if (br != FED_BREAKER_CLOSED) { /* placement rules it out too: say why plainly */
            nph_error_set(err, NPH_E_UNAVAILABLE, "cloud '%s' is down: its circuit breaker is %s",
                          c->name, br == FED_BREAKER_OPEN ? "open" : "half-open (recovering)");
            if (last[0])
                nph_error_detail(err, "last error: %s", last);
            return NULL;
        }
        if (!(nph_backend_families(c->b) & fam)) {
            nph_error_set(err, NPH_E_NOT_SUPPORTED, "%s is not supported by cloud '%s'",
                          fam == NPH_FAM_VOLUME ? "block storage" : "object storage", c->name);
            return NULL;
        }
    }
    json_t *preq =
        json_pack("{s:s,s:s,s:s,s:I,s:s}", "kind", kind, "type", kind, "project", who->project_id,
                  "size_gb", (json_int_t)size_gb, "name", name ? name : "");
    if (!preq) {
        nph_error_nomem(err);
        return NULL;
    }
    json_object_set_new(preq, "project_labels",
                        json_is_object(who->project_labels) ? json_deep_copy(who->project_labels)
                                                            : json_object());
    struct fed_placement pl;
    json_t *doc = fed_place(f, who, preq, named, 1, &pl, err);
    json_decref(preq);
    if (!doc)
        return NULL;
    json_decref(doc);
    if (!pl.placed) {
        nph_error_set(err, NPH_E_UNPROCESSABLE, "no cloud can take this %s: %s", kind,
                      pl.why[0] ? pl.why : "no cloud offers it");
        nph_error_detail(err, "placement %s explains every candidate", pl.id);
        return NULL;
    }
    memcpy(placement, pl.id, 40);
    return fed_cloud_find(f, pl.cloud, err);
}

static int is_local(const struct fed_cloud *c)
{
    return strcmp(c->kind, "local") == 0;
}

static int ledger(struct nph_db *db, enum nph_ledger_kind kind, const char *type, const char *id,
                  const char *project, const char *cloud, const char *region, int64_t gb,
                  struct nph_error *err)
{
    struct nph_ledger_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.resource_id = id;
    ev.resource_type = type;
    ev.project_id = project;
    ev.cloud = cloud;
    ev.region = region;
    ev.size_gb = gb;
    return nph_ledger_append(db, &ev, err);
}

/* Run `sql` (with the ledger event when ev_kind >= 0) in one transaction. */
static int commit_change(struct fed *f, const char *sql, const char *types, const char *a1,
                         int64_t i1, int64_t i2, const char *a2, int ev_kind, const char *type,
                         const char *id, const char *project, const char *cloud, const char *region,
                         int64_t gb, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return -1;
    int rc = nph_db_begin(db, err);
    if (!rc)
        rc = strcmp(types, "siis") == 0  ? (nph_db_execf(db, err, sql, types, a1, i1, i2, a2) < 0)
             : strcmp(types, "iis") == 0 ? (nph_db_execf(db, err, sql, types, i1, i2, a2) < 0)
                                         : (nph_db_execf(db, err, sql, types, i1, a2) < 0);
    if (!rc && ev_kind >= 0)
        rc = ledger(db, (enum nph_ledger_kind)ev_kind, type, id, project, cloud, region, gb, err);
    if (!rc)
        rc = nph_db_commit(db, err);
    else
        nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}

/* ---- volume records ---------------------------------------------------------------------- */

struct vrec {
    char id[40], project_id[64], user_id[64], cloud[64], region[64], remote_id[64];
    char name[VOL_NAME_MAX + 1], image[256], status[24], placement_id[40];
    int64_t size_gb, created_at, updated_at;
};

#define VREC_COLS                                                                                  \
    "id, project_id, user_id, cloud, region, COALESCE(remote_id, ''), name, size_gb, image, "      \
    "status, placement_id, created_at, updated_at"

static void vrec_read(struct nph_stmt *st, struct vrec *r)
{
    memset(r, 0, sizeof(*r));
    nph_backend_strlcpy(r->id, sizeof(r->id), nph_stmt_col_text(st, 0));
    nph_backend_strlcpy(r->project_id, sizeof(r->project_id), nph_stmt_col_text(st, 1));
    nph_backend_strlcpy(r->user_id, sizeof(r->user_id), nph_stmt_col_text(st, 2));
    nph_backend_strlcpy(r->cloud, sizeof(r->cloud), nph_stmt_col_text(st, 3));
    nph_backend_strlcpy(r->region, sizeof(r->region), nph_stmt_col_text(st, 4));
    nph_backend_strlcpy(r->remote_id, sizeof(r->remote_id), nph_stmt_col_text(st, 5));
    nph_backend_strlcpy(r->name, sizeof(r->name), nph_stmt_col_text(st, 6));
    r->size_gb = nph_stmt_col_int64(st, 7);
    nph_backend_strlcpy(r->image, sizeof(r->image), nph_stmt_col_text(st, 8));
    nph_backend_strlcpy(r->status, sizeof(r->status), nph_stmt_col_text(st, 9));
    nph_backend_strlcpy(r->placement_id, sizeof(r->placement_id), nph_stmt_col_text(st, 10));
    r->created_at = nph_stmt_col_int64(st, 11);
    r->updated_at = nph_stmt_col_int64(st, 12);
}

static int vrec_get(struct fed *f, const struct fed_caller *who, const char *id, struct vrec *r,
                    struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    int rc = -1;
    if (!db)
        return -1;
    int got = nph_db_queryf(db, err, &st,
                            "SELECT " VREC_COLS " FROM fed_volume WHERE id = ? AND deleted_at IS "
                            "NULL",
                            "s", id);
    if (got == 1 && (who->is_admin || strcmp(nph_stmt_col_text(st, 1), who->project_id) == 0)) {
        vrec_read(st, r);
        rc = 0;
    } else if (got >= 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "volume %.64s could not be found", id);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

static json_t *volume_json(const struct vrec *r, const struct nph_volume *live)
{
    char created[32];
    fed_iso8601(r->created_at, created);
    return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:I,s:s,s:s?,s:s,s:s,s:s?,s:s?,s:s?}", "id", r->id,
                     "name", r->name, "cloud", r->cloud, "region", r->region, "remote_id",
                     r->remote_id[0] ? r->remote_id : NULL, "size_gb",
                     (json_int_t)(live ? live->size_gb : r->size_gb), "status",
                     live ? live->status : r->status, "image", r->image[0] ? r->image : NULL,
                     "project_id", r->project_id, "created", created, "attached_to",
                     live && live->attached_to[0] ? live->attached_to : NULL, "device",
                     live && live->device[0] ? live->device : NULL, "placement_id",
                     r->placement_id[0] ? r->placement_id : NULL);
}

static int vcall_get(struct fed *f, const struct fed_caller *who, const struct vrec *r,
                     struct nph_volume *out, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, r->cloud, err);
    const struct nph_volume_ops *ops = c ? nph_backend_volume(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_VOLUME_GET, who, &k, err))
        return -1;
    return fed_call_end(&k, ops->volume_get(c->b, &k.ctx, r->remote_id, out, err), err);
}

/* ---- volumes ------------------------------------------------------------------------------- */

int fed_volume_size_parse(const json_t *v, int64_t *out, struct nph_error *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > LOCAL_VOLUME_MAX_GB)
        return nph_error_set(err, NPH_E_INVALID, "'size_gb' must be an integer from 1 to %d",
                             LOCAL_VOLUME_MAX_GB);
    *out = json_integer_value(v);
    return 0;
}

json_t *fed_volume_create(struct fed *f, const struct fed_caller *who, const json_t *req,
                          struct nph_error *err)
{
    static const char *const keys[] = {"name", "size_gb", "cloud", "image", "description", NULL};
    int64_t size = 0;
    if (need_project(who, "volume", err) || check_keys(req, keys, "volume", err))
        return NULL;
    const json_t *jn = json_object_get(req, "name"), *jc = json_object_get(req, "cloud"),
                 *ji = json_object_get(req, "image"), *jd = json_object_get(req, "description");
    if ((jn && !json_is_string(jn)) || (jc && !json_is_string(jc)) || (ji && !json_is_string(ji)) ||
        (jd && !json_is_string(jd))) {
        nph_error_set(err, NPH_E_INVALID, "'name', 'cloud', 'image' and 'description' are strings");
        return NULL;
    }
    const char *name = jn ? json_string_value(jn) : "";
    if (strlen(name) > VOL_NAME_MAX ||
        strcspn(name, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r"
                      "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
                      "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f") != strlen(name)) {
        nph_error_set(err, NPH_E_INVALID,
                      "'name' must have at most %d bytes and no control characters", VOL_NAME_MAX);
        return NULL;
    }
    if (fed_volume_size_parse(json_object_get(req, "size_gb"), &size, err))
        return NULL;
    if (jd && json_string_length(jd) > 255) {
        nph_error_set(err, NPH_E_INVALID, "'description' must have at most 255 bytes");
        return NULL;
    }
    struct vrec r;
    memset(&r, 0, sizeof(r));
    struct fed_cloud *c =
        choose_cloud(f, who, "volume", json_string_value(jc), size, name, r.placement_id, err);
    const struct nph_volume_ops *ops = c ? nph_backend_volume(c->b, err) : NULL;
    if (!ops)
        return NULL;
    /* an image by Nephele's name or the cloud's id, found on the chosen cloud */
    struct nph_image im;
    const char *image = ji ? json_string_value(ji) : NULL;
    if (image) {
        const struct nph_image_ops *iops = nph_backend_image(c->b, err);
        struct fed_call k;
        if (!iops || fed_call_begin(f, c, FED_OP_IMAGE_FIND, who, &k, err) ||
            fed_call_end(&k, iops->image_find(c->b, &k.ctx, image, &im, err), err)) {
            nph_error_prefix(err, "image '%.128s' on cloud '%s'", image, c->name);
            return NULL;
        }
    }
    if (nph_uuid4(r.id) != 0) {
        nph_error_set(err, NPH_E_INTERNAL, "cannot draw an id");
        return NULL;
    }
    nph_backend_strlcpy(r.project_id, sizeof(r.project_id), who->project_id);
    nph_backend_strlcpy(r.user_id, sizeof(r.user_id), who->user_id ? who->user_id : "");
    nph_backend_strlcpy(r.cloud, sizeof(r.cloud), c->name);
    nph_backend_strlcpy(r.region, sizeof(r.region), c->region);
    nph_backend_strlcpy(r.name, sizeof(r.name), name);
    nph_backend_strlcpy(r.image, sizeof(r.image), image ? image : "");
    nph_backend_strlcpy(r.status, sizeof(r.status), "creating");
    r.size_gb = size;
    r.created_at = r.updated_at = nph_clock_now();

    /* the record first: a volume Nephele asked for is never unknown to it */
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return NULL;
    int64_t n = nph_db_execf(
        db, err,
        "INSERT INTO fed_volume (id, project_id, user_id, cloud, region, remote_id, name,"
        " size_gb, image, status, placement_id, created_at, updated_at) VALUES"
        " (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
        "ssssssisssii", r.id, r.project_id, r.user_id, r.cloud, r.region, r.name, r.size_gb,
        r.image, r.status, r.placement_id, r.created_at, r.updated_at);
    nph_store_release(db);
    if (n < 0)
        return NULL;

    struct nph_volume_spec spec = {.name = name,
                                   .size_gb = size,
                                   .image_id = image ? im.id : NULL,
                                   .description = jd ? json_string_value(jd) : NULL,
                                   .stamp = r.id};
    struct nph_volume v;
    struct fed_call k;
    int rc = fed_call_begin(f, c, FED_OP_VOLUME_CREATE, who, &k, err);
    if (!rc)
        rc = fed_call_end(&k, ops->volume_create(c->b, &k.ctx, &spec, &v, err), err);
    if (rc) {
        struct nph_error e2 = NPH_ERROR_INIT;
        db = nph_store_acquire(f->store, &e2);
        if (db)
            nph_db_execf(db, &e2, "DELETE FROM fed_volume WHERE id = ?", "s", r.id);
        nph_store_release(db);
        return NULL;
    }
    nph_backend_strlcpy(r.remote_id, sizeof(r.remote_id), v.remote_id);
    nph_backend_strlcpy(r.status, sizeof(r.status), v.status);
    if (commit_change(f,
                      "UPDATE fed_volume SET remote_id = ?, updated_at = ?, size_gb = ? "
                      "WHERE id = ?",
                      "siis", v.remote_id, nph_clock_now(), size, r.id,
                      is_local(c) ? -1 : (int)NPH_LEDGER_CREATED, "volume", r.id, r.project_id,
                      r.cloud, r.region, size, err)) {
        nph_log(NPH_LOG_ERROR, "federation.volume_record", "volume", r.id, "cloud", r.cloud,
                "remote_id", v.remote_id, "msg", err->msg, NULL);
        return NULL;
    }
    nph_log(NPH_LOG_INFO, "federation.volume_created", "volume", r.id, "cloud", r.cloud,
            "remote_id", v.remote_id, NULL);
    if (r.placement_id[0])
        fed_placement_bind(f, r.placement_id, r.id);
    return volume_json(&r, &v);
}

json_t *fed_volume_get(struct fed *f, const struct fed_caller *who, const char *id,
                       struct nph_error *err)
{
    struct vrec r;
    if (vrec_get(f, who, id, &r, err))
        return NULL;
    struct nph_volume v;
    struct nph_error lerr = NPH_ERROR_INIT;
    if (vcall_get(f, who, &r, &v, &lerr) == 0)
        return volume_json(&r, &v);
    /* the cloud did not answer (or lost the volume): Nephele's record, marked */
    nph_backend_strlcpy(r.status, sizeof(r.status),
                        lerr.code == NPH_E_NOT_FOUND ? "missing" : "unknown");
    json_t *out = volume_json(&r, NULL);
    if (out)
        json_object_set_new(out, "cloud_error", json_string(lerr.msg));
    return out;
}

json_t *fed_volume_list(struct fed *f, const struct fed_caller *who, const char *cloud,
                        struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    json_t *out = NULL, *volumes = json_array(), *unavailable = json_array();
    if (!db || !volumes || !unavailable)
        goto done;
    /* admins without a project see every project's; anyone else needs one */
    const char *project = who->project_id ? who->project_id : "";
    if (!*project && !who->is_admin) {
        need_project(who, "volume", err);
        goto done;
    }
    int got = nph_db_queryf(db, err, &st,
                            "SELECT " VREC_COLS " FROM fed_volume WHERE deleted_at IS NULL AND"
                            " (? = '' OR project_id = ?) AND (? = '' OR cloud = ?)"
                            " ORDER BY created_at DESC, id LIMIT 1000",
                            "ssss", project, project, cloud ? cloud : "", cloud ? cloud : "");
    struct vrec *rs = NULL;
    size_t n = 0;
    while (got == 1) {
        struct vrec *nr = realloc(rs, (n + 1) * sizeof(*rs));
        if (!nr) {
            got = nph_error_nomem(err);
            break;
        }
        rs = nr;
        vrec_read(st, &rs[n++]);
        got = nph_stmt_step(st, err);
    }
    nph_stmt_done(st);
    st = NULL;
    nph_store_release(db);
    db = NULL;
    if (got < 0) {
        free(rs);
        goto done;
    }
    /* one list call per cloud holding any of them */
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(rs[i].cloud, rs[j].cloud) == 0;
        if (seen)
            continue;
        struct nph_volume_list l = {0};
        struct nph_error lerr = NPH_ERROR_INIT;
        struct fed_cloud *c = fed_cloud_find(f, rs[i].cloud, &lerr);
        const struct nph_volume_ops *ops = c ? nph_backend_volume(c->b, &lerr) : NULL;
        struct fed_call k;
        int ok = ops && !fed_call_begin(f, c, FED_OP_VOLUME_LIST, who, &k, &lerr) &&
                 !fed_call_end(&k, ops->volume_list(c->b, &k.ctx, &l, &lerr), &lerr);
        if (!ok)
            json_array_append_new(unavailable,
                                  json_pack("{s:s,s:s,s:s}", "cloud", rs[i].cloud, "error",
                                            nph_error_name(lerr.code), "message", lerr.msg));
        for (size_t j = i; j < n; j++) {
            if (strcmp(rs[j].cloud, rs[i].cloud) != 0)
                continue;
            const struct nph_volume *live = NULL;
            for (size_t m = 0; ok && m < l.n && !live; m++)
                if (strcmp(l.v[m].remote_id, rs[j].remote_id) == 0)
                    live = &l.v[m];
            if (!live)
                nph_backend_strlcpy(rs[j].status, sizeof(rs[j].status), ok ? "missing" : "unknown");
            json_t *vj = volume_json(&rs[j], live);
            json_object_set_new(vj, "_order", json_integer((json_int_t)j));
            json_array_append_new(volumes, vj);
        }
        nph_volume_list_fini(&l);
    }
    free(rs);
    /* back to the records' order (newest first) */
    size_t cnt = json_array_size(volumes);
    json_t *sorted = json_array();
    for (size_t want = 0; sorted && want < n; want++)
        for (size_t i = 0; i < cnt; i++) {
            json_t *vj = json_array_get(volumes, i);
            if ((size_t)json_integer_value(json_object_get(vj, "_order")) == want) {
                json_object_del(vj, "_order");
                json_array_append(sorted, vj);
            }
        }
    if (!sorted)
        goto done;
    out = json_pack("{s:o,s:O}", "volumes", sorted, "unavailable", unavailable);
done:
    if (!out && err && !err->code)
        nph_error_nomem(err);
    nph_stmt_done(st);
    nph_store_release(db);
    json_decref(volumes);
    json_decref(unavailable);
    return out;
}

int fed_volume_delete(struct fed *f, const struct fed_caller *who, const char *id,
                      struct nph_error *err)
{
    struct vrec r;
    if (vrec_get(f, who, id, &r, err))
        return -1;
    struct fed_cloud *c = fed_cloud_find(f, r.cloud, err);
    const struct nph_volume_ops *ops = c ? nph_backend_volume(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_VOLUME_DELETE, who, &k, err))
        return -1;
    struct nph_error derr = NPH_ERROR_INIT;
    int rc = r.remote_id[0] ? ops->volume_delete(c->b, &k.ctx, r.remote_id, &derr) : 0;
    if (fed_call_end(&k, rc, &derr) && derr.code != NPH_E_NOT_FOUND) {
        *err = derr;
        return -1;
    }
    int64_t now = nph_clock_now();
    return commit_change(f, "UPDATE fed_volume SET deleted_at = ?, status = 'deleted' WHERE id = ?",
                         "is", NULL, now, 0, r.id, is_local(c) ? -1 : (int)NPH_LEDGER_DELETED,
                         "volume", r.id, r.project_id, r.cloud, r.region, r.size_gb, err);
}

/* ---- volume reconciliation ---------------------------------------------------------------- */

/* Every record of a cloud, live or deleted (a deleted one still owns its stamp). */
struct vrecs {
    struct vrec *v;
    size_t n;
    int64_t *deleted_at; /* parallel: 0 while live */
};

static int vrecs_load(struct fed *f, const char *cloud, struct vrecs *out, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    size_t cap = 0;
    if (!db)
        return -1;
    int rc = nph_db_queryf(db, err, &st,
                           "SELECT " VREC_COLS ", COALESCE(deleted_at, 0) FROM fed_volume"
                           " WHERE cloud = ?",
                           "s", cloud);
    while (rc == 1) {
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct vrec *v = realloc(out->v, nc * sizeof(*v));
            int64_t *d = v ? realloc(out->deleted_at, nc * sizeof(*d)) : NULL;
            if (v)
                out->v = v;
            if (!d) {
                rc = nph_error_nomem(err);
                break;
            }
            out->deleted_at = d;
            cap = nc;
        }
        vrec_read(st, &out->v[out->n]);
        out->deleted_at[out->n++] = nph_stmt_col_int64(st, 13);
        rc = nph_stmt_step(st, err);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    return rc < 0 ? -1 : 0;
}

/* The record stamped `id` (live or deleted), or NULL. */
static struct vrec *vrecs_find(struct vrecs *rs, const char *id, int64_t *deleted_at)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].id, id) == 0) {
            *deleted_at = rs->deleted_at[i];
            return &rs->v[i];
        }
    return NULL;
}

/* A create that never reached the cloud (the broker died first) is given up after this long. */
#define VOL_ABANDON_US (10LL * 60 * 1000000)

/* An unknown object of the cloud's, reported (or seen again) at `now`. */
static int orphan_seen(struct fed *f, const char *cloud, const char *kind, const char *remote_id,
                       const char *name, const char *status, int64_t now, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    int rc = !db || nph_db_execf(db, err,
                                 "INSERT INTO fed_storage_orphan (cloud, kind, remote_id, name,"
                                 " status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)"
                                 " ON CONFLICT (cloud, kind, remote_id) DO UPDATE SET"
                                 " name = excluded.name, status = excluded.status,"
                                 " last_seen = excluded.last_seen",
                                 "sssssii", cloud, kind, remote_id, name, status, now, now) < 0;
    nph_store_release(db);
    return rc ? -1 : 0;
}

/* Orphans of `kind` not seen by the pass that began at `now` are gone (not "before now": the
 * clock may have stepped back since an earlier pass). */
static int orphans_gone(struct fed *f, const char *cloud, const char *kind, int64_t now,
                        struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    int rc = !db || nph_db_execf(db, err,
                                 "DELETE FROM fed_storage_orphan WHERE cloud = ? AND kind = ?"
                                 " AND last_seen <> ?",
                                 "ssi", cloud, kind, now) < 0;
    nph_store_release(db);
    return rc ? -1 : 0;
}

static int reconcile_volumes(struct fed *f, struct fed_cloud *c, json_t **summary,
                             struct nph_error *err)
{
    *summary = NULL;
    if (!(nph_backend_families(c->b) & NPH_FAM_VOLUME))
        return 0;
    const struct nph_volume_ops *ops = nph_backend_volume(c->b, err);
    struct fed_caller all = {.project_id = "", .user_id = "", .is_admin = 1};
    struct nph_volume_list live = {0};
    struct vrecs rs = {0};
    struct fed_call k;
    int local = is_local(c);
    /* the records first, then the cloud's list (as for servers: a create recorded in between
     * is in both, or found again through its stamp) */
    if (!ops || vrecs_load(f, c->name, &rs, err) ||
        fed_call_begin(f, c, FED_OP_VOLUME_LIST, &all, &k, err) ||
        fed_call_end(&k, ops->volume_list(c->b, &k.ctx, &live, err), err)) {
        nph_volume_list_fini(&live);
        free(rs.v);
        free(rs.deleted_at);
        return -1;
    }
    int64_t now = nph_clock_now();
    int checked = 0, marked = 0, adopted = 0, cleaned = 0, orphans = 0, abandoned = 0, rc = 0;
    /* records whose volume is gone from the cloud */
    for (size_t i = 0; !rc && i < rs.n; i++) {
        struct vrec *r = &rs.v[i];
        int present = 0;
        if (rs.deleted_at[i])
            continue;
        checked++;
        for (size_t s = 0; s < live.n && !present; s++)
            present = r->remote_id[0] ? strcmp(live.v[s].remote_id, r->remote_id) == 0
                                      : strcmp(live.v[s].stamp, r->id) == 0;
        if (present)
            continue;
        if (!r->remote_id[0]) {
            /* its create never reached the cloud: given up once it is old */
            if (now - r->created_at < VOL_ABANDON_US)
                continue;
            struct nph_db *db = nph_store_acquire(f->store, err);
            rc = !db ||
                 nph_db_execf(db, err, "DELETE FROM fed_volume WHERE id = ? AND remote_id IS NULL",
                              "s", r->id) < 0;
            nph_store_release(db);
            abandoned += !rc;
            continue;
        }
        struct nph_volume one;
        struct nph_error gerr = NPH_ERROR_INIT;
        struct fed_caller scoped = all;
        scoped.project_id = r->project_id;
        if (vcall_get(f, &scoped, r, &one, &gerr) == 0 || gerr.code != NPH_E_NOT_FOUND)
            continue; /* there after all, or cannot tell now: the next pass will */
        rc = commit_change(f,
                           "UPDATE fed_volume SET deleted_at = ?, status = 'deleted' WHERE id = ?"
                           " AND deleted_at IS NULL",
                           "is", NULL, now, 0, r->id, local ? -1 : (int)NPH_LEDGER_DELETED,
                           "volume", r->id, r->project_id, r->cloud, r->region, r->size_gb, err);
        if (!rc) {
            marked++;
            nph_log(NPH_LOG_WARN, "federation.drift", "cloud", c->name, "volume", r->id,
                    "remote_id", r->remote_id, "msg", "deleted outside Nephele", NULL);
        }
    }
    /* volumes the cloud holds that no live record names (the native cloud's own Cinder volumes
     * are its users', not Nephele's to judge) */
    for (size_t s = 0; !local && !rc && s < live.n; s++) {
        struct nph_volume *v = &live.v[s];
        int known = 0;
        for (size_t i = 0; i < rs.n && !known; i++)
            known = !rs.deleted_at[i] && strcmp(rs.v[i].remote_id, v->remote_id) == 0;
        if (known || strcmp(v->status, "deleting") == 0)
            continue;
        int64_t del = 0;
        struct vrec *r = v->stamp[0] ? vrecs_find(&rs, v->stamp, &del) : NULL;
        if (r && !del && !r->remote_id[0]) {
            /* a create that reached the cloud but whose answer was lost: adopt it */
            rc = commit_change(f,
                               "UPDATE fed_volume SET remote_id = ?, updated_at = ?, size_gb = ?"
                               " WHERE id = ?",
                               "siis", v->remote_id, now, v->size_gb, r->id,
                               local ? -1 : (int)NPH_LEDGER_CREATED, "volume", r->id, r->project_id,
                               r->cloud, r->region, v->size_gb, err);
            adopted += !rc;
            continue;
        }
        if (v->stamp[0]) {
            /* stamped by Nephele but no live record holds it: its create failed after all, it
             * was deleted, or it is a twin of a retried create. A record written after the
             * records were read would hold its remote id already: look once more. */
            struct vrec now_r;
            struct nph_error lerr = NPH_ERROR_INIT;
            if (vrec_get(f, &all, v->stamp, &now_r, &lerr) == 0 &&
                (strcmp(now_r.remote_id, v->remote_id) == 0 || !now_r.remote_id[0]))
                continue;
            struct fed_call k2;
            struct nph_error derr = NPH_ERROR_INIT;
            if (fed_call_begin(f, c, FED_OP_VOLUME_DELETE, &all, &k2, &derr) == 0 &&
                fed_call_end(&k2, ops->volume_delete(c->b, &k2.ctx, v->remote_id, &derr), &derr) ==
                    0) {
                cleaned++;
                nph_log(NPH_LOG_WARN, "federation.cleanup", "cloud", c->name, "volume_remote_id",
                        v->remote_id, "stamp", v->stamp, "msg",
                        r ? "its volume is gone or a twin" : "its create failed", NULL);
            }
            continue;
        }
        /* not Nephele's: reported */
        rc = orphan_seen(f, c->name, "volume", v->remote_id, v->name, v->status, now, err);
        orphans += !rc;
    }
    if (!rc)
        rc = orphans_gone(f, c->name, "volume", now, err);
    nph_volume_list_fini(&live);
    free(rs.v);
    free(rs.deleted_at);
    if (rc)
        return -1;
    *summary = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}", "checked", checked, "marked_deleted", marked,
                         "adopted", adopted, "cleaned", cleaned, "orphans", orphans, "abandoned",
                         abandoned);
    return *summary ? 0 : nph_error_nomem(err);
}

/* The cloud's storage orphans, appended to arr. */
int fed_storage_orphans(struct fed *f, const char *cloud, json_t *arr, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    if (!db)
        return -1;
    int rc = nph_db_queryf(db, err, &st,
                           "SELECT kind, remote_id, name, status, first_seen, last_seen FROM"
                           " fed_storage_orphan WHERE cloud = ? ORDER BY first_seen, remote_id",
                           "s", cloud);
    while (rc == 1) {
        char first[32], last[32];
        fed_iso8601(nph_stmt_col_int64(st, 4), first);
        fed_iso8601(nph_stmt_col_int64(st, 5), last);
        json_array_append_new(
            arr,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", nph_stmt_col_text(st, 0), "remote_id",
                      nph_stmt_col_text(st, 1), "name", nph_stmt_col_text(st, 2), "status",
                      nph_stmt_col_text(st, 3), "first_seen", first, "last_seen", last));
        rc = nph_stmt_step(st, err);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    return rc < 0 ? -1 : 0;
}

json_t *fed_volume_extend(struct fed *f, const struct fed_caller *who, const char *id,
                          const json_t *req, struct nph_error *err)
{
    static const char *const keys[] = {"size_gb", NULL};
    int64_t size = 0;
    struct vrec r;
    if (check_keys(req, keys, "extension", err) ||
        fed_volume_size_parse(json_object_get(req, "size_gb"), &size, err) ||
        vrec_get(f, who, id, &r, err))
        return NULL;
    struct nph_volume v;
    if (vcall_get(f, who, &r, &v, err))
        return NULL;
    if (size <= v.size_gb) {
        nph_error_set(err, NPH_E_INVALID,
                      "'size_gb' (%lld) must be larger than the volume's size (%lld GiB)",
                      (long long)size, (long long)v.size_gb);
        return NULL;
    }
    struct fed_cloud *c = fed_cloud_find(f, r.cloud, err);
    const struct nph_volume_ops *ops = c ? nph_backend_volume(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_VOLUME_EXTEND, who, &k, err) ||
        fed_call_end(&k, ops->volume_extend(c->b, &k.ctx, r.remote_id, size, err), err))
        return NULL;
    if (commit_change(f, "UPDATE fed_volume SET updated_at = ?, size_gb = ? WHERE id = ?", "iis",
                      NULL, nph_clock_now(), size, r.id, is_local(c) ? -1 : (int)NPH_LEDGER_RESIZED,
                      "volume", r.id, r.project_id, r.cloud, r.region, size, err))
        return NULL;
    r.size_gb = size;
    struct nph_error lerr = NPH_ERROR_INIT;
    if (vcall_get(f, who, &r, &v, &lerr) == 0)
        return volume_json(&r, &v);
    nph_backend_strlcpy(r.status, sizeof(r.status), "extending");
    return volume_json(&r, NULL);
}

/* ---- bucket records ------------------------------------------------------------------------ */

struct brec {
    char id[40], project_id[64], name[64], cloud[64], region[64], remote_name[160];
    char placement_id[40];
    int64_t ledger_gb, created_at;
};

#define BREC_COLS                                                                                  \
    "id, project_id, name, cloud, region, remote_name, placement_id, ledger_gb, created_at"

static void brec_read(struct nph_stmt *st, struct brec *r)
{
    memset(r, 0, sizeof(*r));
    nph_backend_strlcpy(r->id, sizeof(r->id), nph_stmt_col_text(st, 0));
    nph_backend_strlcpy(r->project_id, sizeof(r->project_id), nph_stmt_col_text(st, 1));
    nph_backend_strlcpy(r->name, sizeof(r->name), nph_stmt_col_text(st, 2));
    nph_backend_strlcpy(r->cloud, sizeof(r->cloud), nph_stmt_col_text(st, 3));
    nph_backend_strlcpy(r->region, sizeof(r->region), nph_stmt_col_text(st, 4));
    nph_backend_strlcpy(r->remote_name, sizeof(r->remote_name), nph_stmt_col_text(st, 5));
    nph_backend_strlcpy(r->placement_id, sizeof(r->placement_id), nph_stmt_col_text(st, 6));
    r->ledger_gb = nph_stmt_col_int64(st, 7);
    r->created_at = nph_stmt_col_int64(st, 8);
}

int fed_bucket_name_check(const char *name, struct nph_error *err)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 3 && n <= 63 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n &&
             name[0] != '.' && name[0] != '-' && name[n - 1] != '.' && name[n - 1] != '-' &&
             !strstr(name, "..");
    if (ok)
        return 0;
    return nph_error_set(err, NPH_E_INVALID,
                         "a bucket name has 3 to 63 lower-case letters, digits, '.' or '-', "
                         "starting and ending with a letter or digit");
}

/* Bucket records chosen by `sql` (selecting BREC_COLS) with up to three string arguments. */
static int brecs_select(struct fed *f, const char *sql, const char *types, const char *a1,
                        const char *a2, const char *a3, struct brec **out, size_t *n,
                        struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    if (!db)
        return -1;
    int got = nph_db_queryf(db, err, &st, sql, types, a1, a2, a3);
    while (got == 1) {
        struct brec *nr = realloc(*out, (*n + 1) * sizeof(**out));
        if (!nr) {
            got = nph_error_nomem(err);
            break;
        }
        *out = nr;
        brec_read(st, &(*out)[(*n)++]);
        got = nph_stmt_step(st, err);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    if (got < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* A bucket of the caller's project by name (admins: any project's, when project is given). */
static int brec_get(struct fed *f, const struct fed_caller *who, const char *name, struct brec *r,
                    struct nph_error *err)
{
    if (need_project(who, "bucket", err))
        return -1;
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    int rc = -1;
    if (!db)
        return -1;
    int got = nph_db_queryf(db, err, &st,
                            "SELECT " BREC_COLS " FROM fed_bucket WHERE project_id = ? AND name = ?"
                            " AND deleted_at IS NULL",
                            "ss", who->project_id, name);
    if (got == 1) {
        brec_read(st, r);
        rc = 0;
    } else if (got == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "bucket '%.64s' could not be found", name);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

static json_t *bucket_json(const struct brec *r, const struct nph_bucket *live)
{
    char created[32];
    fed_iso8601(r->created_at, created);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s?}", "id", r->id, "name", r->name,
                          "cloud", r->cloud, "region", r->region, "remote_name", r->remote_name,
                          "project_id", r->project_id, "created", created, "placement_id",
                          r->placement_id[0] ? r->placement_id : NULL);
    if (o && live) {
        json_object_set_new(o, "objects", json_integer((json_int_t)live->objects));
        json_object_set_new(o, "bytes", json_integer((json_int_t)live->bytes));
    }
    return o;
}

static int bcall_head(struct fed *f, const struct fed_caller *who, const struct brec *r,
                      struct nph_bucket *out, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, r->cloud, err);
    const struct nph_object_ops *ops = c ? nph_backend_object(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_BUCKET_HEAD, who, &k, err))
        return -1;
    return fed_call_end(&k, ops->bucket_head(c->b, &k.ctx, r->remote_name, out, err), err);
}

/* ---- buckets ------------------------------------------------------------------------------- */

json_t *fed_bucket_create(struct fed *f, const struct fed_caller *who, const json_t *req,
                          struct nph_error *err)
{
    static const char *const keys[] = {"name", "cloud", "size_gb", NULL};
    if (need_project(who, "bucket", err) || check_keys(req, keys, "bucket", err))
        return NULL;
    const json_t *jn = json_object_get(req, "name"), *jc = json_object_get(req, "cloud"),
                 *js = json_object_get(req, "size_gb");
    if (jc && !json_is_string(jc)) {
        nph_error_set(err, NPH_E_INVALID, "'cloud' must be a string");
        return NULL;
    }
    if (js && (!json_is_integer(js) || json_integer_value(js) < 0 ||
               json_integer_value(js) > 1024 * 1024)) {
        nph_error_set(err, NPH_E_INVALID,
                      "'size_gb' (the expected size, for placement) must be an integer from 0 to "
                      "1048576");
        return NULL;
    }
    const char *name = json_string_value(jn);
    struct brec r, old;
    if (fed_bucket_name_check(name, err))
        return NULL;
    struct nph_error gerr = NPH_ERROR_INIT;
    if (brec_get(f, who, name, &old, &gerr) == 0) {
        nph_error_set(err, NPH_E_CONFLICT, "bucket '%s' exists (on cloud '%s')", name, old.cloud);
        return NULL;
    } else if (gerr.code != NPH_E_NOT_FOUND) {
        *err = gerr;
        return NULL;
    }
    memset(&r, 0, sizeof(r));
    struct fed_cloud *c = choose_cloud(f, who, "bucket", json_string_value(jc),
                                       js ? json_integer_value(js) : 0, name, r.placement_id, err);
    const struct nph_object_ops *ops = c ? nph_backend_object(c->b, err) : NULL;
    if (!ops)
        return NULL;
    if (nph_uuid4(r.id) != 0) {
        nph_error_set(err, NPH_E_INTERNAL, "cannot draw an id");
        return NULL;
    }
    nph_backend_strlcpy(r.project_id, sizeof(r.project_id), who->project_id);
    nph_backend_strlcpy(r.name, sizeof(r.name), name);
    nph_backend_strlcpy(r.cloud, sizeof(r.cloud), c->name);
    nph_backend_strlcpy(r.region, sizeof(r.region), c->region);
    /* inside the project's own account on the native cloud; in the one account Nephele has on
     * another cloud, prefixed so that projects never meet */
    if (is_local(c))
        nph_backend_strlcpy(r.remote_name, sizeof(r.remote_name), name);
    else
        snprintf(r.remote_name, sizeof(r.remote_name), "nephele-%.64s-%s", who->project_id, name);
    r.created_at = nph_clock_now();
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return NULL;
    int64_t n = nph_db_execf(db, err,
                             "INSERT INTO fed_bucket (id, project_id, name, cloud, region,"
                             " remote_name, placement_id, ledger_gb, created_at) VALUES"
                             " (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                             "sssssssi", r.id, r.project_id, r.name, r.cloud, r.region,
                             r.remote_name, r.placement_id, r.created_at);
    nph_store_release(db);
    if (n < 0)
        return NULL;
    struct fed_call k;
    int rc = fed_call_begin(f, c, FED_OP_BUCKET_CREATE, who, &k, err);
    if (!rc)
        rc = fed_call_end(&k, ops->bucket_create(c->b, &k.ctx, r.remote_name, err), err);
    if (!rc && !is_local(c))
        rc = commit_change(f, "UPDATE fed_bucket SET ledger_gb = ? WHERE id = ?", "is", NULL, 0, 0,
                           r.id, NPH_LEDGER_CREATED, "bucket", r.id, r.project_id, r.cloud,
                           r.region, 0, err);
    if (rc) {
        struct nph_error e2 = NPH_ERROR_INIT;
        db = nph_store_acquire(f->store, &e2);
        if (db)
            nph_db_execf(db, &e2, "DELETE FROM fed_bucket WHERE id = ?", "s", r.id);
        nph_store_release(db);
        return NULL;
    }
    nph_log(NPH_LOG_INFO, "federation.bucket_created", "bucket", r.id, "cloud", r.cloud,
            "remote_name", r.remote_name, NULL);
    if (r.placement_id[0])
        fed_placement_bind(f, r.placement_id, r.id);
    struct nph_bucket b = {.objects = 0, .bytes = 0};
    return bucket_json(&r, &b);
}

json_t *fed_bucket_get(struct fed *f, const struct fed_caller *who, const char *name,
                       struct nph_error *err)
{
    struct brec r;
    if (brec_get(f, who, name, &r, err))
        return NULL;
    struct nph_bucket b;
    struct nph_error lerr = NPH_ERROR_INIT;
    if (bcall_head(f, who, &r, &b, &lerr) == 0)
        return bucket_json(&r, &b);
    json_t *out = bucket_json(&r, NULL);
    if (out)
        json_object_set_new(out, "cloud_error", json_string(lerr.msg));
    return out;
}

json_t *fed_bucket_list(struct fed *f, const struct fed_caller *who, const char *cloud,
                        struct nph_error *err)
{
    if (need_project(who, "bucket", err))
        return NULL;
    json_t *buckets = json_array(), *unavailable = json_array(), *out = NULL;
    struct brec *rs = NULL;
    size_t n = 0;
    if (!buckets || !unavailable ||
        brecs_select(f,
                     "SELECT " BREC_COLS " FROM fed_bucket WHERE project_id = ? AND"
                     " deleted_at IS NULL AND (? = '' OR cloud = ?) ORDER BY name LIMIT 1000",
                     "sss", who->project_id, cloud ? cloud : "", cloud ? cloud : "", &rs, &n, err))
        goto done;
    for (size_t i = 0; i < n; i++) {
        /* a cloud that failed once in this listing is not asked again */
        int down = 0;
        size_t k;
        json_t *u;
        json_array_foreach(unavailable, k, u) down |=
            strcmp(json_string_value(json_object_get(u, "cloud")), rs[i].cloud) == 0;
        struct nph_bucket b;
        struct nph_error lerr = NPH_ERROR_INIT;
        int ok = !down && bcall_head(f, who, &rs[i], &b, &lerr) == 0;
        if (!ok && !down && lerr.code != NPH_E_NOT_FOUND)
            json_array_append_new(unavailable,
                                  json_pack("{s:s,s:s,s:s}", "cloud", rs[i].cloud, "error",
                                            nph_error_name(lerr.code), "message", lerr.msg));
        json_t *bj = bucket_json(&rs[i], ok ? &b : NULL);
        if (bj && !ok)
            json_object_set_new(bj, "status",
                                json_string(lerr.code == NPH_E_NOT_FOUND ? "missing" : "unknown"));
        json_array_append_new(buckets, bj);
    }
    out = json_pack("{s:O,s:O}", "buckets", buckets, "unavailable", unavailable);
done:
    if (!out && err && !err->code)
        nph_error_nomem(err);
    free(rs);
    json_decref(buckets);
    json_decref(unavailable);
    return out;
}

int fed_bucket_delete(struct fed *f, const struct fed_caller *who, const char *name,
                      struct nph_error *err)
{
    struct brec r;
    if (brec_get(f, who, name, &r, err))
        return -1;
    struct fed_cloud *c = fed_cloud_find(f, r.cloud, err);
    const struct nph_object_ops *ops = c ? nph_backend_object(c->b, err) : NULL;
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_BUCKET_DELETE, who, &k, err))
        return -1;
    struct nph_error derr = NPH_ERROR_INIT;
    int rc = ops->bucket_delete(c->b, &k.ctx, r.remote_name, &derr);
    if (fed_call_end(&k, rc, &derr) && derr.code != NPH_E_NOT_FOUND) {
        *err = derr;
        if (err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "bucket '%s' is not empty: delete its objects first",
                          name);
        return -1;
    }
    return commit_change(f, "UPDATE fed_bucket SET deleted_at = ? WHERE id = ?", "is", NULL,
                         nph_clock_now(), 0, r.id, is_local(c) ? -1 : (int)NPH_LEDGER_DELETED,
                         "bucket", r.id, r.project_id, r.cloud, r.region, -1, err);
}

/* Whether a live record names the container now (one written after a pass read the records). */
static int bucket_recorded(struct fed *f, const char *cloud, const char *remote_name,
                           struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st = NULL;
    if (!db)
        return -1;
    int got = nph_db_queryf(db, err, &st,
                            "SELECT id FROM fed_bucket WHERE cloud = ? AND remote_name = ? AND"
                            " deleted_at IS NULL",
                            "ss", cloud, remote_name);
    nph_stmt_done(st);
    nph_store_release(db);
    return got;
}

/* The cloud's containers, page by page, up to RECONCILE_BUCKETS_MAX. */
#define RECONCILE_BUCKETS_MAX 100000

static int bucket_list_all(struct fed *f, struct fed_cloud *c, const struct nph_object_ops *ops,
                           struct nph_bucket_list *out, struct nph_error *err)
{
    struct fed_caller all = {.project_id = "", .user_id = "", .is_admin = 1};
    do {
        struct nph_bucket_list page = {0};
        char marker[sizeof(page.v->name)];
        struct fed_call k;
        if (out->n)
            nph_backend_strlcpy(marker, sizeof(marker), out->v[out->n - 1].name);
        if (fed_call_begin(f, c, FED_OP_BUCKET_LIST, &all, &k, err) ||
            fed_call_end(&k,
                         ops->bucket_list(c->b, &k.ctx, out->n ? marker : NULL, 1000, &page, err),
                         err)) {
            nph_bucket_list_fini(&page);
            return -1;
        }
        for (size_t i = 0; i < page.n; i++)
            if (nph_bucket_list_push(out, &page.v[i]) != 0) {
                nph_bucket_list_fini(&page);
                return nph_error_nomem(err);
            }
        out->truncated = page.truncated && page.n > 0;
        nph_bucket_list_fini(&page);
    } while (out->truncated && out->n < RECONCILE_BUCKETS_MAX);
    return 0;
}

/* A bucket record younger than this may be a create still under way: not judged. */
#define BUCKET_YOUNG_US (60LL * 1000000)

static int reconcile_buckets(struct fed *f, struct fed_cloud *c, json_t **summary,
                             struct nph_error *err)
{
    *summary = NULL;
    if (!(nph_backend_families(c->b) & NPH_FAM_OBJECT))
        return 0;
    const struct nph_object_ops *ops = nph_backend_object(c->b, err);
    struct brec *rs = NULL;
    size_t n = 0;
    struct nph_bucket_list live = {0};
    int local = is_local(c);
    /* the records first, then the cloud's list: a create recorded in between is in both, or
     * looked up again before its container is judged */
    if (!ops ||
        brecs_select(f,
                     "SELECT " BREC_COLS " FROM fed_bucket WHERE cloud = ? AND deleted_at IS NULL"
                     " ORDER BY remote_name",
                     "s", c->name, NULL, NULL, &rs, &n, err) ||
        (!local && ops->bucket_list && bucket_list_all(f, c, ops, &live, err))) {
        free(rs);
        nph_bucket_list_fini(&live);
        return -1;
    }
    int listed = !local && ops->bucket_list;
    int64_t now = nph_clock_now();
    int checked = 0, marked = 0, cleaned = 0, orphans = 0, rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct brec *r = &rs[i];
        checked++;
        int present = 0;
        for (size_t s = 0; listed && s < live.n && !present; s++)
            present = strcmp(live.v[s].name, r->remote_name) == 0;
        if (present || now - r->created_at < BUCKET_YOUNG_US)
            continue;
        /* asked by name, in the record's project (the native cloud's account is the project's) */
        struct fed_caller scoped = {.project_id = r->project_id, .user_id = "", .is_admin = 1};
        struct nph_bucket one;
        struct nph_error herr = NPH_ERROR_INIT;
        if (bcall_head(f, &scoped, r, &one, &herr) == 0 || herr.code != NPH_E_NOT_FOUND)
            continue; /* there after all, or cannot tell now: the next pass will */
        rc = commit_change(f,
                           "UPDATE fed_bucket SET deleted_at = ? WHERE id = ? AND deleted_at IS"
                           " NULL",
                           "is", NULL, now, 0, r->id, local ? -1 : (int)NPH_LEDGER_DELETED,
                           "bucket", r->id, r->project_id, r->cloud, r->region, -1, err);
        if (!rc) {
            marked++;
            nph_log(NPH_LOG_WARN, "federation.drift", "cloud", c->name, "bucket", r->id,
                    "remote_name", r->remote_name, "msg", "deleted outside Nephele", NULL);
        }
    }
    for (size_t s = 0; listed && !rc && s < live.n; s++) {
        struct nph_bucket *b = &live.v[s];
        int known = 0;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(rs[i].remote_name, b->name) == 0;
        if (known)
            continue;
        int again = bucket_recorded(f, c->name, b->name, err);
        if (again != 0) {
            rc = again < 0;
            continue;
        }
        if (strncmp(b->name, "nephele-", 8) == 0 && b->objects == 0) {
            /* Nephele's naming, empty, and no record holds it: a create that failed after the
             * cloud made the container, or a delete whose answer was lost */
            struct fed_caller all = {.project_id = "", .user_id = "", .is_admin = 1};
            struct fed_call k;
            struct nph_error derr = NPH_ERROR_INIT;
            if (fed_call_begin(f, c, FED_OP_BUCKET_DELETE, &all, &k, &derr) == 0 &&
                fed_call_end(&k, ops->bucket_delete(c->b, &k.ctx, b->name, &derr), &derr) == 0) {
                cleaned++;
                nph_log(NPH_LOG_WARN, "federation.cleanup", "cloud", c->name, "container", b->name,
                        "msg", "empty and no bucket names it", NULL);
            }
            continue;
        }
        /* not Nephele's, or Nephele's name but holding data no record accounts for: reported,
         * never deleted */
        char status[64];
        snprintf(status, sizeof(status), "%llu objects, %llu bytes", (unsigned long long)b->objects,
                 (unsigned long long)b->bytes);
        rc = orphan_seen(f, c->name, "bucket", b->name, b->name, status, now, err);
        orphans += !rc;
    }
    if (!rc && listed)
        rc = orphans_gone(f, c->name, "bucket", now, err);
    free(rs);
    nph_bucket_list_fini(&live);
    if (rc)
        return -1;
    *summary = json_pack("{s:i,s:i,s:i,s:i}", "checked", checked, "marked_deleted", marked,
                         "cleaned", cleaned, "orphans", orphans);
    return *summary ? 0 : nph_error_nomem(err);
}

int fed_storage_reconcile_cloud(struct fed *f, struct fed_cloud *c, json_t **volumes,
                                json_t **buckets, struct nph_error *err)
{
    *buckets = NULL;
    if (reconcile_volumes(f, c, volumes, err))
        return -1;
    if (reconcile_buckets(f, c, buckets, err)) {
        json_decref(*volumes);
        *volumes = NULL;
        return -1;
    }
    return 0;
}

/* ---- objects ------------------------------------------------------------------------------- */

static json_t *object_json(const struct nph_object_info *o)
{
    return json_pack("{s:s,s:I,s:s,s:s?,s:s?}", "key", o->name, "size", (json_int_t)o->size, "etag",
                     o->etag, "content_type", o->content_type[0] ? o->content_type : NULL,
                     "last_modified", o->last_modified[0] ? o->last_modified : NULL);
}

/* The bucket, its cloud and the object family for one object call. */
static const struct nph_object_ops *object_target(struct fed *f, const struct fed_caller *who,
                                                  const char *bucket, const char *key,
                                                  struct brec *r, struct fed_cloud **c,
                                                  struct nph_error *err)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > NPH_OBJECT_NAME_MAX) {
        nph_error_set(err, NPH_E_INVALID, "an object key has 1 to %d bytes", NPH_OBJECT_NAME_MAX);
        return NULL;
    }
    if (brec_get(f, who, bucket, r, err) || !(*c = fed_cloud_find(f, r->cloud, err)))
        return NULL;
    return nph_backend_object((*c)->b, err);
}

/* After a change through Nephele: a "resized" event when a remote bucket crossed a GiB. */
static void bucket_reledger(struct fed *f, const struct fed_caller *who, struct fed_cloud *c,
                            const struct brec *r)
{
    struct nph_bucket b;
    struct nph_error e = NPH_ERROR_INIT;
    if (is_local(c) || bcall_head(f, who, r, &b, &e))
        return;
    int64_t gb = (int64_t)((b.bytes + GIB - 1) / GIB);
    if (gb != r->ledger_gb && commit_change(f, "UPDATE fed_bucket SET ledger_gb = ? WHERE id = ?",
                                            "is", NULL, gb, 0, r->id, NPH_LEDGER_RESIZED, "bucket",
                                            r->id, r->project_id, r->cloud, r->region, gb, &e))
        nph_log(NPH_LOG_WARN, "federation.bucket_ledger", "bucket", r->id, "msg", e.msg, NULL);
}

json_t *fed_object_put(struct fed *f, const struct fed_caller *who, const char *bucket,
                       const char *key, const struct nph_object_body *body, struct nph_error *err)
{
    struct brec r;
    struct fed_cloud *c = NULL;
    const struct nph_object_ops *ops = object_target(f, who, bucket, key, &r, &c, err);
    struct fed_call k;
    struct nph_object_info info;
    if (!ops || fed_call_begin(f, c, FED_OP_OBJECT_PUT, who, &k, err))
        return NULL;
    k.ctx.timeout_ms = XFER_TIMEOUT_MS;
    if (fed_call_end(&k, ops->object_put(c->b, &k.ctx, r.remote_name, key, body, &info, err), err))
        return NULL;
    bucket_reledger(f, who, c, &r);
    return object_json(&info);
}

int fed_object_get(struct fed *f, const struct fed_caller *who, const char *bucket, const char *key,
                   nph_object_sink_fn sink, void *arg, struct nph_object_info *out,
                   struct nph_error *err)
{
    struct brec r;
    struct fed_cloud *c = NULL;
    const struct nph_object_ops *ops = object_target(f, who, bucket, key, &r, &c, err);
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_OBJECT_GET, who, &k, err))
        return -1;
    k.ctx.timeout_ms = XFER_TIMEOUT_MS;
    return fed_call_end(&k, ops->object_get(c->b, &k.ctx, r.remote_name, key, sink, arg, out, err),
                        err);
}

json_t *fed_object_head(struct fed *f, const struct fed_caller *who, const char *bucket,
                        const char *key, struct nph_error *err)
{
    struct brec r;
    struct fed_cloud *c = NULL;
    struct nph_object_info info;
    const struct nph_object_ops *ops = object_target(f, who, bucket, key, &r, &c, err);
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_OBJECT_HEAD, who, &k, err) ||
        fed_call_end(&k, ops->object_head(c->b, &k.ctx, r.remote_name, key, &info, err), err))
        return NULL;
    return object_json(&info);
}

int fed_object_delete(struct fed *f, const struct fed_caller *who, const char *bucket,
                      const char *key, struct nph_error *err)
{
    struct brec r;
    struct fed_cloud *c = NULL;
    const struct nph_object_ops *ops = object_target(f, who, bucket, key, &r, &c, err);
    struct fed_call k;
    if (!ops || fed_call_begin(f, c, FED_OP_OBJECT_DELETE, who, &k, err) ||
        fed_call_end(&k, ops->object_delete(c->b, &k.ctx, r.remote_name, key, err), err))
        return -1;
    bucket_reledger(f, who, c, &r);
    return 0;
}

json_t *fed_object_list(struct fed *f, const struct fed_caller *who, const char *bucket,
                        const char *prefix, const char *marker, int limit, struct nph_error *err)
{
    struct brec r;
    struct fed_cloud *c = NULL;
    struct nph_object_list l = {0};
    if (brec_get(f, who, bucket, &r, err) || !(c = fed_cloud_find(f, r.cloud, err)))
        return NULL;
    const struct nph_object_ops *ops = nph_backend_object(c->b, err);
    struct fed_call k;
    if (limit <= 0 || limit > STORAGE_LIST_MAX)
        limit = STORAGE_LIST_MAX;
    if (!ops || fed_call_begin(f, c, FED_OP_OBJECT_LIST, who, &k, err) ||
        fed_call_end(&k,
                     ops->object_list(c->b, &k.ctx, r.remote_name, prefix, marker, limit, &l, err),
                     err)) {
        nph_object_list_fini(&l);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l.n; i++)
        if (json_array_append_new(arr, object_json(&l.v[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    json_t *out = arr ? json_pack("{s:o,s:s?}", "objects", arr, "next",
                                  l.truncated && l.n ? l.v[l.n - 1].name : NULL)
                      : NULL;
    nph_object_list_fini(&l);
    if (!out)
        nph_error_nomem(err);
    return out;
}
