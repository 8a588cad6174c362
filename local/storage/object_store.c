/*
 * object_store.c - object storage in the store and on disk (see local_object.h): the "object"
 * component's migrations, accounts, containers, objects, listings, quotas, expiry and the
 * ledger events of buckets.
 *
 * Three tables: obj_account (metadata of the accounts that have any), obj_container and
 * obj_object (one row per visible object version, naming its immutable data file). Usage: a
 * container row counts its object rows and their bytes (objects, bytes), changed in the same
 * transaction as every row insert or delete (object_rows_changed), so it cannot drift from the
 * rows; what a client sees leaves out expired rows not yet reaped, found through the index
 * obj_object_expiry (account, container, delete_at, stored) without touching the others. So a
 * PUT or a HEAD costs the same in a container of ten objects or of a million. "stored" is what
 * an object counts against quotas and usage (an SLO manifest counts its own bytes, its segments
 * count where they live).
 *
 * Group commit: object PUTs (and copies) that arrive while another one is committing queue up;
 * the next committer writes all their rows in one transaction (a savepoint each, so one
 * request's failure, a quota say, does not fail the others) and wakes them. Each request has
 * fsync'd and renamed its own file before it queues, and hears "stored" only after the commit
 * that names it: durability is the same as one transaction per PUT, with one commit (and one
 * pass through the write lock) for many.
 *
 * Metering: a container is a "bucket" in the ledger: "created" (size_gb 0) when it is created,
 * "resized" whenever its bytes cross a GiB boundary (size_gb = ceil(bytes / GiB)), "deleted"
 * when deleted; the event commits with the change it records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local_object.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_ledger.h"
#include "nph_log.h"

#define GIB (1024LL * 1024 * 1024)

struct gc_req;

struct local_object {
    struct nph_store *store; /* borrowed */
    char *dir;
    char *cloud;
    char *region;
    /* group commit of object rows (object_commit) */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
    struct gc_req *gc_head, **gc_tail; /* waiting to be committed */
    int gc_busy;                       /* a thread is committing a batch */
};

static const struct nph_migration object_migrations[] = {
    {1, "object storage",
     "CREATE TABLE obj_account (account TEXT PRIMARY KEY, meta TEXT NOT NULL DEFAULT '{}',"
     " created_at BIGINT NOT NULL);"
     "CREATE TABLE obj_container (account TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL,"
     " meta TEXT NOT NULL DEFAULT '{}', ledger_gb BIGINT NOT NULL DEFAULT 0,"
     " created_at BIGINT NOT NULL, modified_at BIGINT NOT NULL, PRIMARY KEY (account, name));"
     "CREATE TABLE obj_object (account TEXT NOT NULL, container TEXT NOT NULL,"
     " name TEXT NOT NULL, file_id TEXT NOT NULL, size BIGINT NOT NULL,"
     " stored BIGINT NOT NULL, etag TEXT NOT NULL, md5 TEXT NOT NULL,"
     " content_type TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',"
     " kind INTEGER NOT NULL DEFAULT 0, manifest TEXT, delete_at BIGINT,"
     " created_at BIGINT NOT NULL, modified_at BIGINT NOT NULL,"
     " PRIMARY KEY (account, container, name));"
     "CREATE INDEX obj_object_delete_at ON obj_object (delete_at);"
     "CREATE INDEX obj_object_file ON obj_object (file_id);"},
    {2, "container usage counters",
     "ALTER TABLE obj_container ADD COLUMN objects BIGINT NOT NULL DEFAULT 0;"
     "ALTER TABLE obj_container ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;"
     "UPDATE obj_container SET objects = (SELECT COUNT(*) FROM obj_object o"
     " WHERE o.account = obj_container.account AND o.container = obj_container.name),"
     " bytes = (SELECT COALESCE(SUM(o.stored), 0) FROM obj_object o"
     " WHERE o.account = obj_container.account AND o.container = obj_container.name);"
     "CREATE INDEX obj_object_expiry ON obj_object (account, container, delete_at, stored);"},
    /* The CRC-32C reads verify (the MD5 stays the ETag); NULL for objects stored before it,
     * which reads verify by their MD5 as before. */
    {3, "object crc32c", "ALTER TABLE obj_object ADD COLUMN crc32c BIGINT;"},
};

int local_object_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "object", object_migrations,
                             sizeof(object_migrations) / sizeof(object_migrations[0]), applied,
                             err);
}

/* ---- files ------------------------------------------------------------------------------- */

static void file_path(const struct local_object *lo, const char *file_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%.2s/%s", lo->dir, file_id, file_id);
}

static void unlink_file(const struct local_object *lo, const char *file_id)
{
    char path[4200];
    file_path(lo, file_id, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        nph_log(NPH_LOG_WARN, "object.unlink", "path", path, "msg", strerror(errno), NULL);
}

static int io_fail(struct nph_error *err, const char *what, const char *path)
{
    int e = errno ? errno : EIO;
    nph_error_set(err, NPH_E_IO, "cannot %s the object's data", what);
    return nph_error_detail(err, "'%s': %s", path, strerror(e));
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Copy src to dst (a new file), fsync'd. For uploads that arrive on another filesystem. */
static int copy_file(const char *src, const char *dst, struct nph_error *err)
{
    char buf[64 * 1024];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0)
        return io_fail(err, "read", src);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        io_fail(err, "write", dst);
        goto cleanup;
    }
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            io_fail(err, "read", src);
            goto cleanup;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                io_fail(err, "write", dst);
                goto cleanup;
            }
            off += w;
        }
    }
    if (fsync(out) != 0) {
        io_fail(err, "sync", dst);
        goto cleanup;
    }
    rc = 0;
cleanup:
    close(in);
    if (out >= 0) {
        close(out);
        if (rc)
            unlink(dst);
    }
    return rc;
}

/* Move the complete file src under a new file id: fsync it, rename (or copy across
 * filesystems), fsync the directory. src is gone afterwards whatever happens. */
static int file_place(const struct local_object *lo, const char *src, char file_id[33],
                      struct nph_error *err)
{
    char sub[4200], dst[4200];
    int rc = -1;
    if (nph_uuid4_hex(file_id)) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        goto cleanup;
    }
    snprintf(sub, sizeof(sub), "%s/%.2s", lo->dir, file_id);
    if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
        io_fail(err, "store", sub);
        goto cleanup;
    }
    file_path(lo, file_id, dst, sizeof(dst));
    if (fsync_path(src, 0) != 0) {
        io_fail(err, "sync", src);
        goto cleanup;
    }
    if (rename(src, dst) != 0) {
        if (errno != EXDEV) {
            io_fail(err, "store", dst);
            goto cleanup;
        }
        if (copy_file(src, dst, err))
            goto cleanup;
    }
    if (fsync_path(sub, 1) != 0) {
        io_fail(err, "sync", sub);
        unlink(dst);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (unlink(src) != 0 && errno != ENOENT)
        nph_log(NPH_LOG_WARN, "object.unlink", "path", src, "msg", strerror(errno), NULL);
    return rc;
}

static int is_hex_name(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Remove data files that no row names (a crash between rename and commit). Only names of the
 * store's own shape (<2 hex>/<32 hex>) are ever considered. */
static void sweep(struct local_object *lo, struct nph_db *db)
{
    DIR *top = opendir(lo->dir);
    struct dirent *d;
    int removed = 0;
    if (!top)
        return;
    while ((d = readdir(top)) != NULL) {
        char sub[4200];
        DIR *dd;
        struct dirent *f;
        if (!is_hex_name(d->d_name, 2))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", lo->dir, d->d_name);
        dd = opendir(sub);
        if (!dd)
            continue;
        while ((f = readdir(dd)) != NULL) {
            struct nph_error e = NPH_ERROR_INIT;
            struct nph_stmt *st;
            int found;
            if (!is_hex_name(f->d_name, 32) || strncmp(f->d_name, d->d_name, 2) != 0)
                continue;
            st = nph_db_prepare(db, "SELECT 1 FROM obj_object WHERE file_id = ?", &e);
            if (!st || nph_stmt_bind_text(st, 1, f->d_name, &e)) {
                nph_stmt_done(st);
                continue;
            }
            found = nph_stmt_step(st, &e);
            nph_stmt_done(st);
            if (found == 0) {
                char p[4500];
                snprintf(p, sizeof(p), "%s/%s", sub, f->d_name);
                if (unlink(p) == 0)
                    removed++;
            }
        }
        closedir(dd);
    }
    closedir(top);
    if (removed) {
        char n[24];
        snprintf(n, sizeof(n), "%d", removed);
        nph_log(NPH_LOG_WARN, "object.sweep", "msg", "removed data files no object names", "count",
                n, NULL);
    }
}

/* The HTTP server's temporary upload files left by a broker that died mid-upload. */
static void sweep_uploads(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int removed = 0;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char p[4200];
        if (strncmp(e->d_name, "nph-upload-", 11) != 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) == 0)
            removed++;
    }
    closedir(d);
    if (removed) {
        char n[24];
        snprintf(n, sizeof(n), "%d", removed);
        nph_log(NPH_LOG_WARN, "object.sweep", "msg", "removed interrupted uploads", "count", n,
                NULL);
    }
}

/* ---- open / close ------------------------------------------------------------------------ */

struct local_object *local_object_open(struct nph_store *store,
                                       const struct local_object_opts *opts, struct nph_error *err)
{
    struct local_object *lo = calloc(1, sizeof(*lo));
    struct nph_db *db;
    if (!lo) {
        nph_error_nomem(err);
        return NULL;
    }
    lo->store = store;
    pthread_mutex_init(&lo->gc_lock, NULL);
    pthread_cond_init(&lo->gc_cond, NULL);
    lo->gc_tail = &lo->gc_head;
    lo->dir = strdup(opts->dir);
    lo->cloud = strdup(opts->cloud ? opts->cloud : "local");
    lo->region = opts->region ? strdup(opts->region) : NULL;
    if (!lo->dir || !lo->cloud || (opts->region && !lo->region)) {
        nph_error_nomem(err);
        goto fail;
    }
    if (mkdir(lo->dir, 0700) != 0 && errno != EEXIST) {
        io_fail(err, "create the directory for", lo->dir);
        goto fail;
    }
    db = nph_store_acquire(store, err);
    if (!db)
        goto fail;
    sweep(lo, db);
    if (opts->upload_dir)
        sweep_uploads(opts->upload_dir);
    nph_store_release(db);
    return lo;
fail:
    local_object_close(lo);
    return NULL;
}

void local_object_close(struct local_object *lo)
{
    if (!lo)
        return;
    pthread_mutex_destroy(&lo->gc_lock);
    pthread_cond_destroy(&lo->gc_cond);
    free(lo->dir);
    free(lo->cloud);
    free(lo->region);
    free(lo);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static struct nph_db *obj_db(struct local_object *lo, struct nph_error *err)
{
    return nph_store_acquire(lo->store, err);
}

static int64_t now_s(void)
{
    return nph_clock_now() / NPH_USEC_PER_SEC;
}

static json_t *meta_parse(const char *text)
{
    json_t *m = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(m)) {
        json_decref(m);
        m = json_object();
    }
    return m;
}

/* Apply {"key": "value" | "" | null} to meta (in place). */
static void meta_apply(json_t *meta, const json_t *changes)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)changes, k, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s)
            json_object_del(meta, k);
        else
            json_object_set_new(meta, k, json_string(s));
    }
}

static int64_t meta_int(const json_t *meta, const char *key)
{
    const char *s = json_string_value(json_object_get(meta, key));
    char *end;
    long long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return -1;
    return v;
}

static int stmt_run(struct nph_db *db, const char *sql, struct nph_error *err, int n,
                    const char *const *texts)
{
    struct nph_stmt *st = nph_db_prepare(db, sql, err);
    int rc;
    if (!st)
        return -1;
    for (int i = 0; i < n; i++) {
        if (nph_stmt_bind_text(st, i + 1, texts[i], err)) {
            nph_stmt_done(st);
            return -1;
        }
    }
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

/* Count and bytes of one container's live objects (or the whole account when container is
 * NULL): the counters of the container rows less the expired rows not yet reaped (an index
 * range over obj_object_expiry). */
static int usage_of(struct nph_db *db, const char *account, const char *container, int64_t *objects,
                    int64_t *bytes, struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(
        db,
        container ? "SELECT COALESCE(SUM(objects), 0), COALESCE(SUM(bytes), 0) FROM obj_container"
                    " WHERE account = ? AND name = ?"
                  : "SELECT COALESCE(SUM(objects), 0), COALESCE(SUM(bytes), 0) FROM obj_container"
                    " WHERE account = ? AND COALESCE(?, '') = ''",
        err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_text(st, 1, account, err) || nph_stmt_bind_text(st, 2, container, err) ||
        (rc = nph_stmt_step(st, err)) < 0) {
        nph_stmt_done(st);
        return -1;
    }
    *objects = rc ? nph_stmt_col_int64(st, 0) : 0;
    *bytes = rc ? nph_stmt_col_int64(st, 1) : 0;
    nph_stmt_done(st);
    st = nph_db_prepare(
        db,
        container ? "SELECT COUNT(*), COALESCE(SUM(stored), 0) FROM obj_object WHERE account = ?"
                    " AND container = ? AND delete_at IS NOT NULL AND delete_at <= ?"
                  : "SELECT COUNT(*), COALESCE(SUM(stored), 0) FROM obj_object WHERE account = ?"
                    " AND COALESCE(?, '') = '' AND delete_at IS NOT NULL AND delete_at <= ?",
        err);
    if (!st)
        return -1;
    if (nph_stmt_bind_text(st, 1, account, err) || nph_stmt_bind_text(st, 2, container, err) ||
        nph_stmt_bind_int64(st, 3, now_s(), err) || (rc = nph_stmt_step(st, err)) < 0) {
        nph_stmt_done(st);
        return -1;
    }
    if (rc) {
        *objects -= nph_stmt_col_int64(st, 0);
        *bytes -= nph_stmt_col_int64(st, 1);
    }
    nph_stmt_done(st);
    return 0;
}

/* Keep a container's counters in step with its rows: every insert (+1, +stored) and delete
 * (-1, -stored) of an obj_object row calls this in the same transaction. */
static int object_rows_changed(struct nph_db *db, const char *account, const char *container,
                               int64_t d_objects, int64_t d_bytes, struct nph_error *err)
{
    if (d_objects == 0 && d_bytes == 0)
        return 0;
    return nph_db_execf(db, err,
                        "UPDATE obj_container SET objects = objects + ?, bytes = bytes + ?"
                        " WHERE account = ? AND name = ?",
                        "iiss", d_objects, d_bytes, account, container) < 0
               ? -1
               : 0;
}

/* The container row: its id, metadata (new) and ledger_gb. NPH_E_NOT_FOUND when absent. */
static int container_row(struct nph_db *db, const char *account, const char *name, char id[64],
                         json_t **meta, int64_t *ledger_gb, int64_t *created, int64_t *modified,
                         struct nph_error *err)
{
    struct nph_stmt *st =
        nph_db_prepare(db,
                       "SELECT id, meta, ledger_gb, created_at, modified_at FROM obj_container"
                       " WHERE account = ? AND name = ?",
                       err);
    int rc;
    if (!st)
        return -1;
    if (nph_stmt_bind_text(st, 1, account, err) || nph_stmt_bind_text(st, 2, name, err) ||
        (rc = nph_stmt_step(st, err)) < 0) {
        nph_stmt_done(st);
        return -1;
    }
    if (rc == 0) {
        nph_stmt_done(st);
        return nph_error_set(err, NPH_E_NOT_FOUND, "container '%.256s' not found", name);
    }
    if (id)
        snprintf(id, 64, "%s", nph_stmt_col_text(st, 0));
    if (meta)
        *meta = meta_parse(nph_stmt_col_text(st, 1));
    if (ledger_gb)
        *ledger_gb = nph_stmt_col_int64(st, 2);
    if (created)
        *created = nph_stmt_col_int64(st, 3);
    if (modified)
        *modified = nph_stmt_col_int64(st, 4);
    nph_stmt_done(st);
    return 0;
}

static int ledger_event(struct local_object *lo, struct nph_db *db, enum nph_ledger_kind kind,
                        const char *id, const char *account, int64_t gb, struct nph_error *err)
{
    struct nph_ledger_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.resource_id = id;
    ev.resource_type = "bucket";
    ev.project_id = account;
    ev.cloud = lo->cloud;
    ev.region = lo->region;
    ev.size_gb = gb;
    return nph_ledger_append(db, &ev, err);
}

/* After a change in a container's bytes: a "resized" event when its GiB count changed. */
static int ledger_resize(struct local_object *lo, struct nph_db *db, const char *account,
                         const char *container, struct nph_error *err)
{
    char id[64];
    int64_t old_gb = 0, objects = 0, bytes = 0, gb;
    if (container_row(db, account, container, id, NULL, &old_gb, NULL, NULL, err) ||
        usage_of(db, account, container, &objects, &bytes, err))
        return -1;
    gb = (bytes + GIB - 1) / GIB;
    if (gb == old_gb)
        return 0;
    struct nph_stmt *st = nph_db_prepare(
        db, "UPDATE obj_container SET ledger_gb = ? WHERE account = ? AND name = ?", err);
    if (!st)
        return -1;
    int rc = nph_stmt_bind_int64(st, 1, gb, err) || nph_stmt_bind_text(st, 2, account, err) ||
                     nph_stmt_bind_text(st, 3, container, err) || nph_stmt_step(st, err) < 0
                 ? -1
                 : 0;
    nph_stmt_done(st);
    if (rc)
        return -1;
    return ledger_event(lo, db, NPH_LEDGER_RESIZED, id, account, gb, err);
}

/* ---- accounts ---------------------------------------------------------------------------- */

static json_t *account_meta(struct nph_db *db, const char *account, int64_t *created,
                            struct nph_error *err)
{
    struct nph_stmt *st =
        nph_db_prepare(db, "SELECT meta, created_at FROM obj_account WHERE account = ?", err);
    json_t *m = NULL;
    int rc;
    if (!st)
        return NULL;
    if (nph_stmt_bind_text(st, 1, account, err) || (rc = nph_stmt_step(st, err)) < 0) {
        nph_stmt_done(st);
        return NULL;
    }
    m = meta_parse(rc ? nph_stmt_col_text(st, 0) : NULL);
    if (created)
        *created = rc ? nph_stmt_col_int64(st, 1) : 0;
    nph_stmt_done(st);
    return m;
}

json_t *local_object_account_get(struct local_object *lo, const char *account,
                                 struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *meta = NULL, *out = NULL;
    int64_t created = 0, objects = 0, bytes = 0, containers = 0;
    struct nph_stmt *st;
    if (!db)
        return NULL;
    meta = account_meta(db, account, &created, err);
    if (!meta || usage_of(db, account, NULL, &objects, &bytes, err))
        goto done;
    st = nph_db_prepare(db, "SELECT COUNT(*), MIN(created_at) FROM obj_container WHERE account = ?",
                        err);
    if (!st)
        goto done;
    if (nph_stmt_bind_text(st, 1, account, err) || nph_stmt_step(st, err) < 0) {
        nph_stmt_done(st);
        goto done;
    }
    containers = nph_stmt_col_int64(st, 0);
    if (!created)
        created = nph_stmt_col_int64(st, 1);
    nph_stmt_done(st);
    if (!created)
        created = nph_clock_now();
    out = json_pack("{s:s,s:O,s:I,s:I,s:I,s:I}", "account", account, "meta", meta, "containers",
                    (json_int_t)containers, "objects", (json_int_t)objects, "bytes",
                    (json_int_t)bytes, "created", (json_int_t)created);
    if (!out)
        nph_error_nomem(err);
done:
    json_decref(meta);
    nph_store_release(db);
    return out;
}

/* Write an account's metadata (creating its row). */
static int account_write(struct nph_db *db, const char *account, const json_t *meta,
                         struct nph_error *err)
{
    char *text = nph_json_dumps(meta);
    struct nph_stmt *st;
    int rc = -1;
    if (!text)
        return nph_error_nomem(err);
    st = nph_db_prepare(db, "UPDATE obj_account SET meta = ? WHERE account = ?", err);
    if (!st)
        goto done;
    if (nph_stmt_bind_text(st, 1, text, err) || nph_stmt_bind_text(st, 2, account, err) ||
        nph_stmt_step(st, err) < 0) {
        nph_stmt_done(st);
        goto done;
    }
    if (nph_stmt_changes(st) == 0) {
        nph_stmt_done(st);
        st = nph_db_prepare(
            db, "INSERT INTO obj_account (account, meta, created_at) VALUES (?, ?, ?)", err);
        if (!st || nph_stmt_bind_text(st, 1, account, err) ||
            nph_stmt_bind_text(st, 2, text, err) ||
            nph_stmt_bind_int64(st, 3, nph_clock_now(), err) || nph_stmt_step(st, err) < 0) {
            nph_stmt_done(st);
            goto done;
        }
    }
    nph_stmt_done(st);
    rc = 0;
done:
    free(text);
    return rc;
}

int local_object_account_update(struct local_object *lo, const char *account, const json_t *changes,
                                struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *meta = NULL;
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    meta = account_meta(db, account, NULL, err);
    if (!meta)
        goto done;
    meta_apply(meta, changes);
    if (account_write(db, account, meta, err) || nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    json_decref(meta);
    nph_store_release(db);
    return rc;
}

static void fmt_listing_time(int64_t us, char *buf, size_t cap)
{
    time_t t = (time_t)(us / NPH_USEC_PER_SEC);
    struct tm tm;
    gmtime_r(&t, &tm);
    unsigned frac = (unsigned)(((us % NPH_USEC_PER_SEC) + NPH_USEC_PER_SEC) % NPH_USEC_PER_SEC);
    char date[48];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%.32s.%06u", date, frac);
}

/* Run a listing query (rows: name first, then row_fn's columns) through the lister. */
static json_t *run_listing(struct nph_stmt *st, const struct lobj_list_params *p,
                           json_t *(*row_fn)(struct nph_stmt *st), struct nph_error *err)
{
    struct lobj_lister l;
    json_t *out = json_array();
    char subdir[LOBJ_OBJECT_NAME_MAX + 2];
    int rc;
    lobj_lister_init(&l, p);
    while ((rc = nph_stmt_step(st, err)) == 1) {
        const char *name = nph_stmt_col_text(st, 0);
        enum lobj_feed f = lobj_lister_feed(&l, name ? name : "", subdir, sizeof(subdir));
        if (f == LOBJ_FEED_DONE)
            break;
        if (f == LOBJ_FEED_SUBDIR)
            json_array_append_new(out, json_pack("{s:s}", "subdir", subdir));
        else if (f == LOBJ_FEED_ITEM)
            json_array_append_new(out, row_fn(st));
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *container_list_row(struct nph_stmt *st)
{
    char lm[40];
    fmt_listing_time(nph_stmt_col_int64(st, 3), lm, sizeof(lm));
    return json_pack("{s:s,s:I,s:I,s:s}", "name", nph_stmt_col_text(st, 0), "count",
                     (json_int_t)nph_stmt_col_int64(st, 1), "bytes",
                     (json_int_t)nph_stmt_col_int64(st, 2), "last_modified", lm);
}

/* Bind the listing bounds: ?2 lower / upper bound by marker (or prefix) in listing order. */
static const char *listing_start(const struct lobj_list_params *p)
{
    if (p->reverse)
        return p->marker;
    if (p->marker && (!p->prefix || strcmp(p->marker, p->prefix) > 0))
        return p->marker;
    return p->prefix;
}

json_t *local_object_container_list(struct local_object *lo, const char *account,
                                    const struct lobj_list_params *p, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    struct nph_stmt *st;
    json_t *out = NULL;
    const char *start = listing_start(p);
    char sql[1024];
    if (!db)
        return NULL;
    snprintf(
        sql, sizeof(sql),
        "SELECT c.name,"
        " c.objects - (SELECT COUNT(*) FROM obj_object o WHERE o.account = c.account AND"
        " o.container = c.name AND o.delete_at IS NOT NULL AND o.delete_at <= ?),"
        " c.bytes - (SELECT COALESCE(SUM(o.stored), 0) FROM obj_object o WHERE o.account ="
        " c.account AND o.container = c.name AND o.delete_at IS NOT NULL AND o.delete_at <= ?),"
        " c.modified_at FROM obj_container c WHERE c.account = ? %s ORDER BY c.name %s",
        start ? (p->reverse ? "AND c.name < ?" : "AND c.name >= ?") : "",
        p->reverse ? "DESC" : "ASC");
    st = nph_db_prepare(db, sql, err);
    if (st && !nph_stmt_bind_int64(st, 1, now_s(), err) &&
        !nph_stmt_bind_int64(st, 2, now_s(), err) && !nph_stmt_bind_text(st, 3, account, err) &&
        (!start || !nph_stmt_bind_text(st, 4, start, err)))
        out = run_listing(st, p, container_list_row, err);
    nph_stmt_done(st);
    nph_store_release(db);
    return out;
}

/* ---- containers -------------------------------------------------------------------------- */

static int container_write_meta(struct nph_db *db, const char *account, const char *name,
                                const json_t *meta, struct nph_error *err)
{
    char *text = nph_json_dumps(meta);
    struct nph_stmt *st;
    int rc = -1;
    if (!text)
        return nph_error_nomem(err);
    st = nph_db_prepare(
        db, "UPDATE obj_container SET meta = ?, modified_at = ? WHERE account = ? AND name = ?",
        err);
    if (st && !nph_stmt_bind_text(st, 1, text, err) &&
        !nph_stmt_bind_int64(st, 2, nph_clock_now(), err) &&
        !nph_stmt_bind_text(st, 3, account, err) && !nph_stmt_bind_text(st, 4, name, err) &&
        nph_stmt_step(st, err) >= 0)
        rc = 0;
    nph_stmt_done(st);
    free(text);
    return rc;
}

int local_object_container_put(struct local_object *lo, const char *account, const char *name,
                               const json_t *changes, int *created, struct nph_error *err)
{
    struct nph_db *db;
    json_t *meta = NULL;
    int rc = -1;
    if (lobj_container_name_check(name, err))
        return -1;
    db = obj_db(lo, err);
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    if (container_row(db, account, name, NULL, &meta, NULL, NULL, NULL, err) == 0) {
        *created = 0;
        meta_apply(meta, changes);
        if (container_write_meta(db, account, name, meta, err))
            goto done;
    } else if (err->code == NPH_E_NOT_FOUND) {
        char id[NPH_UUID_LEN + 1];
        char *text;
        struct nph_stmt *st;
        int64_t now = nph_clock_now();
        nph_error_clear(err);
        *created = 1;
        meta = json_object();
        meta_apply(meta, changes);
        if (nph_uuid4(id)) {
            nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
            goto done;
        }
        text = nph_json_dumps(meta);
        if (!text) {
            nph_error_nomem(err);
            goto done;
        }
        st = nph_db_prepare(db,
                            "INSERT INTO obj_container (account, name, id, meta, ledger_gb,"
                            " created_at, modified_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                            err);
        int bad = !st || nph_stmt_bind_text(st, 1, account, err) ||
                  nph_stmt_bind_text(st, 2, name, err) || nph_stmt_bind_text(st, 3, id, err) ||
                  nph_stmt_bind_text(st, 4, text, err) || nph_stmt_bind_int64(st, 5, now, err) ||
                  nph_stmt_bind_int64(st, 6, now, err) || nph_stmt_step(st, err) < 0;
        nph_stmt_done(st);
        free(text);
        if (bad || ledger_event(lo, db, NPH_LEDGER_CREATED, id, account, 0, err))
            goto done;
    } else {
        goto done;
    }
    if (nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    json_decref(meta);
    nph_store_release(db);
    return rc;
}

json_t *local_object_container_get(struct local_object *lo, const char *account, const char *name,
                                   struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *meta = NULL, *out = NULL;
    int64_t objects = 0, bytes = 0, created = 0, modified = 0;
    if (!db)
        return NULL;
    if (container_row(db, account, name, NULL, &meta, NULL, &created, &modified, err) == 0 &&
        usage_of(db, account, name, &objects, &bytes, err) == 0) {
        out = json_pack("{s:s,s:s,s:O,s:I,s:I,s:I,s:I}", "account", account, "name", name, "meta",
                        meta, "objects", (json_int_t)objects, "bytes", (json_int_t)bytes, "created",
                        (json_int_t)created, "modified", (json_int_t)modified);
        if (!out)
            nph_error_nomem(err);
    }
    json_decref(meta);
    nph_store_release(db);
    return out;
}

int local_object_container_update(struct local_object *lo, const char *account, const char *name,
                                  const json_t *changes, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *meta = NULL;
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err) ||
        container_row(db, account, name, NULL, &meta, NULL, NULL, NULL, err))
        goto done;
    meta_apply(meta, changes);
    if (container_write_meta(db, account, name, meta, err) || nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    json_decref(meta);
    nph_store_release(db);
    return rc;
}

int local_object_container_delete(struct local_object *lo, const char *account, const char *name,
                                  struct nph_error *err)
{
    struct nph_db *db;
    char id[64];
    int64_t objects = 0, bytes = 0;
    int rc = -1;
    if (local_object_reap(lo, err) < 0)
        return -1;
    db = obj_db(lo, err);
    if (!db)
        return -1;
    if (nph_db_begin(db, err) ||
        container_row(db, account, name, id, NULL, NULL, NULL, NULL, err) ||
        usage_of(db, account, name, &objects, &bytes, err))
        goto done;
    if (objects > 0) {
        nph_error_set(err, NPH_E_CONFLICT,
                      "There was a conflict when trying to complete your request.");
        goto done;
    }
    {
        const char *args[] = {account, name};
        if (stmt_run(db, "DELETE FROM obj_object WHERE account = ? AND container = ?", err, 2,
                     args) ||
            stmt_run(db, "DELETE FROM obj_container WHERE account = ? AND name = ?", err, 2, args))
            goto done;
    }
    if (ledger_event(lo, db, NPH_LEDGER_DELETED, id, account, -1, err) || nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    nph_store_release(db);
    return rc;
}

static json_t *object_list_row(struct nph_stmt *st)
{
    char lm[40];
    fmt_listing_time(nph_stmt_col_int64(st, 4), lm, sizeof(lm));
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "name", nph_stmt_col_text(st, 0), "hash",
                          nph_stmt_col_text(st, 1), "bytes", (json_int_t)nph_stmt_col_int64(st, 2),
                          "content_type", nph_stmt_col_text(st, 3), "last_modified", lm);
    if (o && nph_stmt_col_int64(st, 5) == LOBJ_SLO)
        json_object_set_new(o, "slo_etag", json_sprintf("\"%s\"", nph_stmt_col_text(st, 1)));
    return o;
}

json_t *local_object_object_list(struct local_object *lo, const char *account,
                                 const char *container, const struct lobj_list_params *p,
                                 struct nph_error *err)
{
    struct nph_db *db;
    struct nph_stmt *st;
    json_t *out = NULL;
    const char *start = listing_start(p);
    char sql[1024];
    if (local_object_reap(lo, err) < 0)
        return NULL;
    db = obj_db(lo, err);
    if (!db)
        return NULL;
    if (container_row(db, account, container, NULL, NULL, NULL, NULL, NULL, err))
        goto done;
    snprintf(sql, sizeof(sql),
             "SELECT name, etag, size, content_type, modified_at, kind FROM obj_object"
             " WHERE account = ? AND container = ? AND (delete_at IS NULL OR delete_at > ?) %s"
             " ORDER BY name %s",
             start ? (p->reverse ? "AND name < ?" : "AND name >= ?") : "",
             p->reverse ? "DESC" : "ASC");
    st = nph_db_prepare(db, sql, err);
    if (st && !nph_stmt_bind_text(st, 1, account, err) &&
        !nph_stmt_bind_text(st, 2, container, err) && !nph_stmt_bind_int64(st, 3, now_s(), err) &&
        (!start || !nph_stmt_bind_text(st, 4, start, err)))
        out = run_listing(st, p, object_list_row, err);
    nph_stmt_done(st);
done:
    nph_store_release(db);
    return out;
}

/* ---- objects ----------------------------------------------------------------------------- */

#define OBJ_COLS                                                                                   \
    "name, file_id, size, stored, etag, md5, content_type, meta, kind, manifest, delete_at,"       \
    " created_at, modified_at, crc32c"

static json_t *object_row(struct local_object *lo, const char *account, const char *container,
                          struct nph_stmt *st)
{
    char path[4200];
    const char *manifest = nph_stmt_col_text(st, 9);
    file_path(lo, nph_stmt_col_text(st, 1), path, sizeof(path));
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:i,s:o,s:o,s:I,s:I,s:s}", "account", account,
        "container", container, "name", nph_stmt_col_text(st, 0), "file_id",
        nph_stmt_col_text(st, 1), "size", (json_int_t)nph_stmt_col_int64(st, 2), "stored",
        (json_int_t)nph_stmt_col_int64(st, 3), "etag", nph_stmt_col_text(st, 4), "md5",
        nph_stmt_col_text(st, 5), "content_type", nph_stmt_col_text(st, 6), "meta",
        meta_parse(nph_stmt_col_text(st, 7)), "kind", (int)nph_stmt_col_int64(st, 8), "manifest",
        manifest ? json_string(manifest) : json_null(), "delete_at",
        nph_stmt_col_is_null(st, 10) ? json_null() : json_integer(nph_stmt_col_int64(st, 10)),
        "created", (json_int_t)nph_stmt_col_int64(st, 11), "modified",
        (json_int_t)nph_stmt_col_int64(st, 12), "path", path);
    if (o)
        json_object_set_new(
            o, "crc32c",
            nph_stmt_col_is_null(st, 13) ? json_null() : json_integer(nph_stmt_col_int64(st, 13)));
    return o;
}

/* The object row (any expiry): new record, NULL with NPH_E_NOT_FOUND. */
static json_t *object_fetch(struct local_object *lo, struct nph_db *db, const char *account,
                            const char *container, const char *name, struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(
        db, "SELECT " OBJ_COLS " FROM obj_object WHERE account = ? AND container = ? AND name = ?",
        err);
    json_t *o = NULL;
    int rc;
    if (!st)
        return NULL;
    if (nph_stmt_bind_text(st, 1, account, err) || nph_stmt_bind_text(st, 2, container, err) ||
        nph_stmt_bind_text(st, 3, name, err) || (rc = nph_stmt_step(st, err)) < 0) {
        nph_stmt_done(st);
        return NULL;
    }
    if (rc == 0)
        nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
    else if (!(o = object_row(lo, account, container, st)))
        nph_error_nomem(err);
    nph_stmt_done(st);
    return o;
}

static int expired(const json_t *o)
{
    const json_t *d = json_object_get(o, "delete_at");
    return json_is_integer(d) && json_integer_value(d) <= now_s();
}

/* Delete the row of object o (in db's transaction) and take it off its container's counters;
 * the caller unlinks its file after the commit. */
static int object_row_delete(struct nph_db *db, const json_t *o, struct nph_error *err)
{
    const char *account = json_string_value(json_object_get(o, "account"));
    const char *container = json_string_value(json_object_get(o, "container"));
    const char *args[] = {account, container, json_string_value(json_object_get(o, "name"))};
    if (stmt_run(db, "DELETE FROM obj_object WHERE account = ? AND container = ? AND name = ?", err,
                 3, args))
        return -1;
    return object_rows_changed(db, account, container, -1,
                               -json_integer_value(json_object_get(o, "stored")), err);
}

/* Quotas: the container's X-Container-Meta-Quota-Bytes/-Count and the account's
 * X-Account-Meta-Quota-Bytes, with the new object added. In the transaction that already
 * deleted the version it replaces (its row and its share of the counters), so that version is
 * not counted, and not credited a second time either. */
static int quota_check(struct nph_db *db, const char *account, const char *container,
                       const json_t *cmeta, int64_t add_bytes, struct nph_error *err)
{
    int64_t objects, bytes, qb, qc, aqb;
    json_t *ameta;
    qb = meta_int(cmeta, "x-container-meta-quota-bytes");
    qc = meta_int(cmeta, "x-container-meta-quota-count");
    if (qb >= 0 || qc >= 0) {
        if (usage_of(db, account, container, &objects, &bytes, err))
            return -1;
        if (qb >= 0 && bytes + add_bytes > qb)
            return nph_error_set(err, NPH_E_TOO_LARGE, "Upload exceeds quota.");
        if (qc >= 0 && objects + 1 > qc)
            return nph_error_set(err, NPH_E_TOO_LARGE, "Upload exceeds quota.");
    }
    ameta = account_meta(db, account, NULL, err);
    if (!ameta)
        return -1;
    aqb = meta_int(ameta, "x-account-meta-quota-bytes");
    json_decref(ameta);
    if (aqb >= 0) {
        if (usage_of(db, account, NULL, &objects, &bytes, err))
            return -1;
        if (bytes + add_bytes > aqb)
            return nph_error_set(err, NPH_E_TOO_LARGE, "Upload exceeds quota.");
    }
    return 0;
}

/* Insert the row of a placed file, replacing any previous version (whose file id is written
 * to old_file, "" when none). In db's open transaction. */
static int object_row_put(struct local_object *lo, struct nph_db *db, const struct lobj_put *p,
                          const char *file_id, char old_file[64], struct nph_error *err)
{
    json_t *cmeta = NULL, *old = NULL;
    char *metatext = NULL;
    struct nph_stmt *st = NULL;
    int64_t now = nph_clock_now(), created = now;
    int rc = -1;
    old_file[0] = '\0';
    if (container_row(db, p->account, p->container, NULL, &cmeta, NULL, NULL, NULL, err))
        goto done;
    old = object_fetch(lo, db, p->account, p->container, p->name, err);
    if (old) {
        snprintf(old_file, 64, "%s", json_string_value(json_object_get(old, "file_id")));
        if (object_row_delete(db, old, err))
            goto done;
    } else if (err->code != NPH_E_NOT_FOUND) {
        goto done;
    }
    nph_error_clear(err);
    if (quota_check(db, p->account, p->container, cmeta, p->quota_size, err))
        goto done;
    metatext = p->meta ? nph_json_dumps(p->meta) : strdup("{}");
    if (!metatext) {
        nph_error_nomem(err);
        goto done;
    }
    st = nph_db_prepare(db,
                        "INSERT INTO obj_object (account, container, name, file_id, size, stored,"
                        " etag, md5, content_type, meta, kind, manifest, delete_at, created_at,"
                        " modified_at, crc32c) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                        " ?)",
                        err);
    if (!st || nph_stmt_bind_text(st, 1, p->account, err) ||
        nph_stmt_bind_text(st, 2, p->container, err) || nph_stmt_bind_text(st, 3, p->name, err) ||
        nph_stmt_bind_text(st, 4, file_id, err) || nph_stmt_bind_int64(st, 5, p->size, err) ||
        nph_stmt_bind_int64(st, 6, p->quota_size, err) ||
        nph_stmt_bind_text(st, 7, p->etag ? p->etag : p->md5, err) ||
        nph_stmt_bind_text(st, 8, p->md5, err) ||
        nph_stmt_bind_text(st, 9, p->content_type ? p->content_type : "application/octet-stream",
                           err) ||
        nph_stmt_bind_text(st, 10, metatext, err) || nph_stmt_bind_int64(st, 11, p->kind, err) ||
        nph_stmt_bind_text(st, 12, p->manifest, err) ||
        (p->delete_at > 0 ? nph_stmt_bind_int64(st, 13, p->delete_at, err)
                          : nph_stmt_bind_null(st, 13, err)) ||
        nph_stmt_bind_int64(st, 14, created, err) || nph_stmt_bind_int64(st, 15, now, err) ||
        (p->has_crc32c ? nph_stmt_bind_int64(st, 16, p->crc32c, err)
                       : nph_stmt_bind_null(st, 16, err)) ||
        nph_stmt_step(st, err) < 0)
        goto done;
    nph_stmt_done(st);
    st = NULL;
    if (object_rows_changed(db, p->account, p->container, 1, p->quota_size, err) ||
        ledger_resize(lo, db, p->account, p->container, err))
        goto done;
    rc = 0;
done:
    nph_stmt_done(st);
    free(metatext);
    json_decref(cmeta);
    json_decref(old);
    return rc;
}

/* One object waiting for its row to be committed (group commit, see the top). The committer
 * fills rc, err, old_file and out, then sets done under gc_lock. */
struct gc_req {
    const struct lobj_put *p;
    const char *file_id;
    int want_out;
    json_t *out;
    char old_file[64];
    int rc;
    struct nph_error err;
    int done;
    struct gc_req *next;
};

static void gc_fail_all(struct gc_req *batch, const struct nph_error *e)
{
    for (struct gc_req *r = batch; r; r = r->next) {
        if (r->rc == 0) {
            json_decref(r->out);
            r->out = NULL;
            r->old_file[0] = '\0';
        }
        r->rc = -1;
        if (r->err.code == NPH_E_OK)
            r->err = *e;
    }
}

/* Write the rows of a batch in one transaction, a savepoint per request. */
static void gc_run(struct local_object *lo, struct gc_req *batch)
{
    struct nph_error e = NPH_ERROR_INIT;
    struct nph_db *db = obj_db(lo, &e);
    int ok = 0;
    for (struct gc_req *r = batch; r; r = r->next)
        r->rc = -1;
    if (!db || nph_db_begin(db, &e))
        goto done;
    for (struct gc_req *r = batch; r; r = r->next) {
        if (nph_db_exec(db, "SAVEPOINT lobj_put", &e))
            goto done;
        if (object_row_put(lo, db, r->p, r->file_id, r->old_file, &r->err) == 0 &&
            (!r->want_out ||
             (r->out = object_fetch(lo, db, r->p->account, r->p->container, r->p->name, &r->err))))
            r->rc = 0;
        if (r->rc) {
            r->old_file[0] = '\0';
            if (nph_db_exec(db, "ROLLBACK TO SAVEPOINT lobj_put", &e))
                goto done;
        }
        if (nph_db_exec(db, "RELEASE SAVEPOINT lobj_put", &e))
            goto done;
    }
    if (nph_db_commit(db, &e))
        goto done;
    ok = 1;
done:
    nph_store_release(db); /* rolls back what was not committed */
    if (!ok)
        gc_fail_all(batch, &e);
}

/* Commit a placed file as object p (through the group committer); on failure the file is
 * removed. */
static int object_commit(struct local_object *lo, const struct lobj_put *p, const char *file_id,
                         json_t **out, struct nph_error *err)
{
    struct gc_req r;
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.file_id = file_id;
    r.want_out = out != NULL;
    pthread_mutex_lock(&lo->gc_lock);
    *lo->gc_tail = &r;
    lo->gc_tail = &r.next;
    while (!r.done) {
        if (lo->gc_busy) {
            pthread_cond_wait(&lo->gc_cond, &lo->gc_lock);
            continue;
        }
        /* Commit everything queued so far (this request among it). */
        struct gc_req *batch = lo->gc_head;
        lo->gc_head = NULL;
        lo->gc_tail = &lo->gc_head;
        lo->gc_busy = 1;
        pthread_mutex_unlock(&lo->gc_lock);
        gc_run(lo, batch);
        pthread_mutex_lock(&lo->gc_lock);
        for (struct gc_req *b = batch, *next; b; b = next) {
            next = b->next; /* b may be gone once done is set and the lock dropped */
            b->done = 1;
        }
        lo->gc_busy = 0;
        pthread_cond_broadcast(&lo->gc_cond);
    }
    pthread_mutex_unlock(&lo->gc_lock);
    if (r.rc) {
        *err = r.err;
        unlink_file(lo, file_id);
        return -1;
    }
    if (r.old_file[0])
        unlink_file(lo, r.old_file);
    if (out)
        *out = r.out;
    return 0;
}

int local_object_put(struct local_object *lo, const struct lobj_put *p, json_t **out,
                     struct nph_error *err)
{
    char file_id[33];
    struct lobj_put q = *p;
    if (lobj_container_name_check(p->container, err) || lobj_object_name_check(p->name, err) ||
        (!q.has_crc32c && lobj_file_crc32c(p->src_path, &q.crc32c, err))) {
        unlink(p->src_path);
        return -1;
    }
    q.has_crc32c = true;
    if (file_place(lo, q.src_path, file_id, err))
        return -1;
    return object_commit(lo, &q, file_id, out, err);
}

/* Remove one expired object if it still is (row and file). */
static int reap_one(struct local_object *lo, const char *account, const char *container,
                    const char *name, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *o = NULL;
    char file_id[64] = "";
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    o = object_fetch(lo, db, account, container, name, err);
    if (!o || !expired(o)) {
        nph_error_clear(err);
        rc = 0;
        goto done;
    }
    snprintf(file_id, sizeof(file_id), "%s", json_string_value(json_object_get(o, "file_id")));
    if (object_row_delete(db, o, err) || ledger_resize(lo, db, account, container, err) ||
        nph_db_commit(db, err)) {
        file_id[0] = '\0';
        goto done;
    }
    rc = 0;
done:
    nph_store_release(db);
    json_decref(o);
    if (file_id[0])
        unlink_file(lo, file_id);
    return rc;
}

int local_object_reap(struct local_object *lo, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    struct nph_stmt *st;
    json_t *victims = json_array();
    size_t i;
    json_t *v;
    int n = 0, rc;
    if (!db) {
        json_decref(victims);
        return -1;
    }
    st = nph_db_prepare(db,
                        "SELECT account, container, name FROM obj_object WHERE delete_at IS NOT"
                        " NULL AND delete_at <= ? LIMIT 1000",
                        err);
    if (!st || nph_stmt_bind_int64(st, 1, now_s(), err)) {
        nph_stmt_done(st);
        nph_store_release(db);
        json_decref(victims);
        return -1;
    }
    while ((rc = nph_stmt_step(st, err)) == 1)
        json_array_append_new(victims,
                              json_pack("[sss]", nph_stmt_col_text(st, 0), nph_stmt_col_text(st, 1),
                                        nph_stmt_col_text(st, 2)));
    nph_stmt_done(st);
    nph_store_release(db);
    if (rc < 0) {
        json_decref(victims);
        return -1;
    }
    json_array_foreach(victims, i, v)
    {
        if (reap_one(lo, json_string_value(json_array_get(v, 0)),
                     json_string_value(json_array_get(v, 1)),
                     json_string_value(json_array_get(v, 2)), err)) {
            json_decref(victims);
            return -1;
        }
        n++;
    }
    json_decref(victims);
    return n;
}

json_t *local_object_get(struct local_object *lo, const char *account, const char *container,
                         const char *name, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *o;
    if (!db)
        return NULL;
    o = object_fetch(lo, db, account, container, name, err);
    nph_store_release(db);
    if (o && expired(o)) {
        json_decref(o);
        if (reap_one(lo, account, container, name, err))
            return NULL;
        nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
        return NULL;
    }
    return o;
}

int local_object_update(struct local_object *lo, const char *account, const char *container,
                        const char *name, const json_t *meta, const char *content_type,
                        int64_t delete_at, const char *dlo_manifest, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *o = NULL;
    char *metatext = NULL;
    struct nph_stmt *st = NULL;
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    o = object_fetch(lo, db, account, container, name, err);
    if (!o)
        goto done;
    if (expired(o)) {
        nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
        goto done;
    }
    metatext = nph_json_dumps(meta ? meta : json_object_get(o, "meta"));
    if (!metatext) {
        nph_error_nomem(err);
        goto done;
    }
    if (dlo_manifest) {
        int64_t kind = json_integer_value(json_object_get(o, "kind"));
        if (kind == LOBJ_SLO) {
            nph_error_set(err, NPH_E_INVALID, "a static large object cannot become a dynamic one");
            goto done;
        }
        st = nph_db_prepare(db,
                            "UPDATE obj_object SET kind = ?, manifest = ? WHERE account = ?"
                            " AND container = ? AND name = ?",
                            err);
        if (!st || nph_stmt_bind_int64(st, 1, *dlo_manifest ? LOBJ_DLO : LOBJ_PLAIN, err) ||
            nph_stmt_bind_text(st, 2, *dlo_manifest ? dlo_manifest : NULL, err) ||
            nph_stmt_bind_text(st, 3, account, err) || nph_stmt_bind_text(st, 4, container, err) ||
            nph_stmt_bind_text(st, 5, name, err) || nph_stmt_step(st, err) < 0)
            goto done;
        nph_stmt_done(st);
    }
    st = nph_db_prepare(db,
                        "UPDATE obj_object SET meta = ?, content_type = ?, delete_at = ?,"
                        " modified_at = ? WHERE account = ? AND container = ? AND name = ?",
                        err);
    {
        json_t *jd = json_object_get(o, "delete_at");
        int64_t d = delete_at > 0   ? delete_at
                    : delete_at < 0 ? 0
                                    : (json_is_integer(jd) ? json_integer_value(jd) : 0);
        if (!st || nph_stmt_bind_text(st, 1, metatext, err) ||
            nph_stmt_bind_text(st, 2,
                               content_type ? content_type
                                            : json_string_value(json_object_get(o, "content_type")),
                               err) ||
            (d > 0 ? nph_stmt_bind_int64(st, 3, d, err) : nph_stmt_bind_null(st, 3, err)) ||
            nph_stmt_bind_int64(st, 4, nph_clock_now(), err) ||
            nph_stmt_bind_text(st, 5, account, err) || nph_stmt_bind_text(st, 6, container, err) ||
            nph_stmt_bind_text(st, 7, name, err) || nph_stmt_step(st, err) < 0)
            goto done;
    }
    nph_stmt_done(st);
    st = NULL;
    if (nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    nph_stmt_done(st);
    free(metatext);
    json_decref(o);
    nph_store_release(db);
    return rc;
}

int local_object_delete(struct local_object *lo, const char *account, const char *container,
                        const char *name, struct nph_error *err)
{
    struct nph_db *db = obj_db(lo, err);
    json_t *o = NULL;
    char file_id[64] = "";
    int rc = -1, was_expired;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    o = object_fetch(lo, db, account, container, name, err);
    if (!o)
        goto done;
    was_expired = expired(o);
    if (object_row_delete(db, o, err) || ledger_resize(lo, db, account, container, err) ||
        nph_db_commit(db, err))
        goto done;
    snprintf(file_id, sizeof(file_id), "%s", json_string_value(json_object_get(o, "file_id")));
    if (was_expired) {
        nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
        goto done;
    }
    rc = 0;
done:
    nph_store_release(db);
    json_decref(o);
    if (file_id[0])
        unlink_file(lo, file_id);
    return rc;
}

int local_object_copy(struct local_object *lo, const char *src_account, const char *src_container,
                      const char *src_name, const char *dst_account, const char *dst_container,
                      const char *dst_name, const json_t *meta, const char *content_type, int fresh,
                      int64_t delete_at, json_t **out, struct nph_error *err)
{
    json_t *src = NULL, *newmeta = NULL;
    char file_id[33], sub[4200], dst[4200];
    struct lobj_put p;
    int rc = -1;
    if (lobj_container_name_check(dst_container, err) || lobj_object_name_check(dst_name, err))
        return -1;
    src = local_object_get(lo, src_account, src_container, src_name, err);
    if (!src)
        return -1;
    if (nph_uuid4_hex(file_id)) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        goto done;
    }
    snprintf(sub, sizeof(sub), "%s/%.2s", lo->dir, file_id);
    if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
        io_fail(err, "store", sub);
        goto done;
    }
    file_path(lo, file_id, dst, sizeof(dst));
    if (link(json_string_value(json_object_get(src, "path")), dst) != 0) {
        if (errno == ENOENT)
            nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
        else
            io_fail(err, "copy", dst);
        goto done;
    }
    if (fsync_path(sub, 1) != 0) {
        io_fail(err, "sync", sub);
        unlink(dst);
        goto done;
    }
    if (fresh) {
        newmeta = json_object();
    } else {
        newmeta = json_deep_copy(json_object_get(src, "meta"));
    }
    if (meta)
        meta_apply(newmeta, meta);
    memset(&p, 0, sizeof(p));
    p.account = dst_account;
    p.container = dst_container;
    p.name = dst_name;
    p.size = json_integer_value(json_object_get(src, "size"));
    p.quota_size = json_integer_value(json_object_get(src, "stored"));
    p.md5 = json_string_value(json_object_get(src, "md5"));
    p.has_crc32c = json_is_integer(json_object_get(src, "crc32c"));
    p.crc32c = (uint32_t)json_integer_value(json_object_get(src, "crc32c"));
    p.etag = json_string_value(json_object_get(src, "etag"));
    p.content_type =
        content_type ? content_type : json_string_value(json_object_get(src, "content_type"));
    p.meta = newmeta;
    p.delete_at = delete_at;
    p.kind = (enum lobj_kind)json_integer_value(json_object_get(src, "kind"));
    p.manifest = json_string_value(json_object_get(src, "manifest"));
    rc = object_commit(lo, &p, file_id, out, err);
done:
    json_decref(src);
    json_decref(newmeta);
    return rc;
}

int local_object_verify(const json_t *obj, struct nph_error *err)
{
    char md5[33];
    const char *want = json_string_value(json_object_get(obj, "md5"));
    const char *path = json_string_value(json_object_get(obj, "path"));
    const json_t *crc = json_object_get(obj, "crc32c");
    if (json_is_integer(crc)) {
        uint32_t got;
        if (lobj_file_crc32c(path, &got, err))
            return -1;
        if (got == (uint32_t)json_integer_value(crc))
            return 0;
        nph_error_set(err, NPH_E_IO, "the object's data failed its checksum");
        return nph_error_detail(err, "'%s': crc32c %08x, recorded %08x", path, (unsigned)got,
                                (unsigned)json_integer_value(crc));
    }
    if (lobj_file_md5(path, 0, -1, md5, err))
        return -1;
    if (!want || strcmp(md5, want) != 0) {
        nph_error_set(err, NPH_E_IO, "the object's data failed its checksum");
        return nph_error_detail(err, "'%s': md5 %s, recorded %s",
                                json_string_value(json_object_get(obj, "path")), md5,
                                want ? want : "none");
    }
    return 0;
}
