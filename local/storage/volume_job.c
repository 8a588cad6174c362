/*
 * volume_job.c - what the worker does to the storage pool for each queued change, and the
 * transaction that records the outcome: the new status and, for volumes, the ledger event
 * (created / resized / deleted, resource_type "volume", size_gb) in the same commit.
 *
 * Bytes. An empty volume is a qcow2 volume made by virStorageVolCreateXML. A volume from a
 * snapshot or another volume is virStorageVolCreateXMLFrom (a full copy; snapshots are full
 * copies too, so a snapshot outlives changes to its volume). A volume from an image is created
 * empty, then filled with `qemu-img convert -n` on a real host; on test:/// the pool is in
 * memory and volumes have a size but no bytes, as compute's root disks there.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/tree.h>

#include "nph_clock.h"
#include "nph_ledger.h"
#include "nph_log.h"
#include "volume_internal.h"

#define X(s) ((const xmlChar *)(s))

/* <volume> XML for a qcow2 volume of gb GiB named `name`; malloc'd or NULL. */
static char *vol_xml(const char *name, int64_t gb)
{
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr root = xmlNewNode(NULL, X("volume")), n;
    xmlChar *mem = NULL;
    int len = 0;
    char cap[32], *out;
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, X("name"), X(name));
    snprintf(cap, sizeof(cap), "%lld", (long long)gb);
    xmlNewProp(xmlNewTextChild(root, NULL, X("capacity"), X(cap)), X("unit"), X("G"));
    n = xmlNewChild(root, NULL, X("target"), NULL);
    xmlNewProp(xmlNewChild(n, NULL, X("format"), NULL), X("type"), X("qcow2"));
    xmlDocDumpMemory(doc, &mem, &len);
    xmlFreeDoc(doc);
    out = mem ? strdup((const char *)mem) : NULL;
    xmlFree(mem);
    return out;
}

extern char **environ;

static int run_qemu_img(char *const argv[], const char *src, struct nph_error *err);

/* qemu-img convert -n -O qcow2 src dst: fill an existing volume with an image's bytes. */
static int fill_from_image(const char *src, const char *src_format, const char *dst,
                           struct nph_error *err)
{
    char *argv[] = {"qemu-img", "convert", "-n",        "-f",        (char *)src_format,
                    "-O",       "qcow2",   (char *)src, (char *)dst, NULL};
    return run_qemu_img(argv, src, err);
}

int local_volume_export(struct local_volume *lv, const struct local_volume_caller *c,
                        const char *id, int force, const char *format, const char *dst,
                        struct nph_error *err)
{
    json_t *v = local_volume_get(lv, c, id, err);
    if (!v)
        return -1;
    const char *status = json_string_value(json_object_get(v, "status"));
    char path[4096], vfmt[16];
    snprintf(path, sizeof(path), "%s", json_string_value(json_object_get(v, "path")));
    const char *f = json_string_value(json_object_get(v, "format"));
    snprintf(vfmt, sizeof(vfmt), "%s", f && *f ? f : "qcow2");
    int ok =
        status && (strcmp(status, "available") == 0 || (force && strcmp(status, "in-use") == 0));
    json_decref(v);
    if (!ok)
        return nph_error_set(err, NPH_E_INVALID, "Invalid volume: Volume status must be %s.",
                             force ? "available/in-use" : "available");
    if (lv->is_test) { /* volumes of the test driver hold no bytes: nor does their copy */
        int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return nph_error_set(err, NPH_E_IO, "cannot create %s", dst);
        close(fd);
        return 0;
    }
    char *argv[] = {"qemu-img",     "convert", "-f",        vfmt, "-O",
                    (char *)format, path,      (char *)dst, NULL};
    return run_qemu_img(argv, path, err);
}

static int run_qemu_img(char *const argv[], const char *src, struct nph_error *err)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = 0, rc;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, "qemu-img", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return nph_error_set(err, rc == ENOENT ? NPH_E_NOT_SUPPORTED : NPH_E_IO,
                             "cannot run qemu-img: %s", strerror(rc));
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return nph_error_set(err, NPH_E_BACKEND, "qemu-img could not convert '%s'", src);
    return 0;
}

struct row {
    char id[NPH_UUID_LEN + 1];
    char project_id[128], status[32], type_name[256];
    char image_id[128], source_volid[128], snapshot_id[128], volume_id[128];
    char path[4096];
    int64_t size_gb, new_size_gb, billed;
};

static void cp(char *dst, size_t len, const char *s)
{
    snprintf(dst, len, "%s", s ? s : "");
}

static int load_volume(struct nph_db *db, const char *id, struct row *r, struct nph_error *err)
{
    struct nph_stmt *st;
    int rc =
        nph_db_queryf(db, err, &st,
                      "SELECT v.project_id, v.status, t.name, v.image_id, v.source_volid,"
                      " v.snapshot_id, v.path, v.size_gb, v.new_size_gb, v.billed FROM"
                      " volume_volume v LEFT JOIN volume_type t ON t.id = v.type_id WHERE v.id = ?",
                      "s", id);
    if (rc <= 0)
        return rc == 0 ? nph_error_set(err, NPH_E_NOT_FOUND, "volume '%s' is gone", id) : -1;
    memset(r, 0, sizeof(*r));
    cp(r->id, sizeof(r->id), id);
    cp(r->project_id, sizeof(r->project_id), nph_stmt_col_text(st, 0));
    cp(r->status, sizeof(r->status), nph_stmt_col_text(st, 1));
    cp(r->type_name, sizeof(r->type_name), nph_stmt_col_text(st, 2));
    cp(r->image_id, sizeof(r->image_id), nph_stmt_col_text(st, 3));
    cp(r->source_volid, sizeof(r->source_volid), nph_stmt_col_text(st, 4));
    cp(r->snapshot_id, sizeof(r->snapshot_id), nph_stmt_col_text(st, 5));
    cp(r->path, sizeof(r->path), nph_stmt_col_text(st, 6));
    r->size_gb = nph_stmt_col_int64(st, 7);
    r->new_size_gb = nph_stmt_col_int64(st, 8);
    r->billed = nph_stmt_col_int64(st, 9);
    nph_stmt_done(st);
    return 0;
}

static int load_snapshot(struct nph_db *db, const char *id, struct row *r, struct nph_error *err)
{
    struct nph_stmt *st;
    int rc =
        nph_db_queryf(db, err, &st,
                      "SELECT project_id, status, volume_id, path, size_gb FROM volume_snapshot"
                      " WHERE id = ?",
                      "s", id);
    if (rc <= 0)
        return rc == 0 ? nph_error_set(err, NPH_E_NOT_FOUND, "snapshot '%s' is gone", id) : -1;
    memset(r, 0, sizeof(*r));
    cp(r->id, sizeof(r->id), id);
    cp(r->project_id, sizeof(r->project_id), nph_stmt_col_text(st, 0));
    cp(r->status, sizeof(r->status), nph_stmt_col_text(st, 1));
    cp(r->volume_id, sizeof(r->volume_id), nph_stmt_col_text(st, 2));
    cp(r->path, sizeof(r->path), nph_stmt_col_text(st, 3));
    r->size_gb = nph_stmt_col_int64(st, 4);
    nph_stmt_done(st);
    return 0;
}

/* The path of a volume or snapshot row's storage volume ("" when it has none yet). */
static int path_of(struct nph_db *db, const char *table_sql, const char *id, char *out, size_t len,
                   struct nph_error *err)
{
    struct nph_stmt *st;
    int rc = nph_db_queryf(db, err, &st, table_sql, "s", id);
    if (rc < 0)
        return -1;
    out[0] = '\0';
    if (rc == 1) {
        cp(out, len, nph_stmt_col_text(st, 0));
        nph_stmt_done(st);
    }
    if (!out[0])
        return nph_error_set(err, NPH_E_NOT_FOUND, "the source '%s' has no storage", id);
    return 0;
}

/* Make storage volume `name` of gb GiB: empty, or a copy of the volume at from_path. */
static int make_volume(struct local_volume *lv, virConnectPtr conn, const char *name, int64_t gb,
                       const char *from_path, char *path_out, size_t len, struct nph_error *err)
{
    virStoragePoolPtr pool = vol_pool(lv, conn, err);
    virStorageVolPtr vol = NULL, src = NULL;
    char *xml, *path;
    if (!pool)
        return -1;
    if (!(xml = vol_xml(name, gb))) {
        virStoragePoolFree(pool);
        return nph_error_nomem(err);
    }
    vol = virStorageVolLookupByName(pool, name); /* left by a crashed job */
    if (vol) {
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
        vol = NULL;
    }
    if (from_path) {
        src = virStorageVolLookupByPath(conn, from_path);
        if (!src)
            vol_virt_error(err, NPH_E_BACKEND, "cannot find the source volume's storage");
        else if (!(vol = virStorageVolCreateXMLFrom(pool, xml, src, 0)))
            vol_virt_error(err, NPH_E_BACKEND, "cannot copy the source volume");
        if (src)
            virStorageVolFree(src);
    } else if (!(vol = virStorageVolCreateXML(pool, xml, 0))) {
        vol_virt_error(err, NPH_E_BACKEND, "cannot create the volume in the storage pool");
    }
    free(xml);
    virStoragePoolFree(pool);
    if (!vol)
        return -1;
    if (from_path && virStorageVolResize(vol, (unsigned long long)gb << 30, 0) != 0 && !lv->is_test)
        nph_log(NPH_LOG_WARN, "volume.resize_failed", "volume", name, "error",
                virGetLastErrorMessage(), NULL);
    path = virStorageVolGetPath(vol);
    virStorageVolFree(vol);
    if (!path)
        return vol_virt_error(err, NPH_E_BACKEND, "cannot read the volume's path");
    cp(path_out, len, path);
    free(path);
    return 0;
}

static void drop_volume(virConnectPtr conn, const char *path)
{
    virStorageVolPtr vol;
    if (!path || !*path)
        return;
    if ((vol = virStorageVolLookupByPath(conn, path))) {
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
    }
}

static int ledger(struct local_volume *lv, struct nph_db *db, const struct row *r,
                  enum nph_ledger_kind kind, int64_t gb, int64_t now, struct nph_error *err)
{
    struct nph_ledger_event ev = {0};
    ev.ts = now;
    ev.kind = kind;
    ev.resource_id = r->id;
    ev.resource_type = "volume";
    ev.project_id = r->project_id;
    ev.cloud = lv->cloud;
    ev.region = lv->region;
    ev.offering = r->type_name[0] ? r->type_name : NULL;
    ev.size_gb = gb;
    return nph_ledger_append(db, &ev, err);
}

/* Run `sql` (bound by types/args) and, when it changed exactly one row, the ledger event; one
 * transaction. */
static int record(struct local_volume *lv, const struct row *r, int ledger_kind, int64_t gb,
                  const char *sql, const char *types, const char *a1, const char *a2,
                  struct nph_error *err)
{
    struct nph_db *db = vol_db(lv, err);
    int64_t now = nph_clock_now(), n;
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto cleanup;
    if (strcmp(types, "iss") == 0)
        n = nph_db_execf(db, err, sql, types, now, a1, a2);
    else
        n = nph_db_execf(db, err, sql, types, now, a1);
    if (n < 0)
        goto cleanup;
    if (n == 1 && ledger_kind >= 0 &&
        ledger(lv, db, r, (enum nph_ledger_kind)ledger_kind, gb, now, err))
        goto cleanup;
    rc = nph_db_commit(db, err);
cleanup:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}

static void fail(struct local_volume *lv, const char *table, const struct row *r,
                 const char *expect, const char *status, const struct nph_error *why)
{
    struct nph_db *db = vol_db(lv, NULL);
    char sql[256], fault[NPH_ERR_MSG_MAX + NPH_ERR_DETAIL_MAX + 4];
    snprintf(fault, sizeof(fault), "%s%s%s", why->msg, why->detail[0] ? ": " : "", why->detail);
    nph_log(NPH_LOG_WARN, "volume.job_failed", "id", r->id, "status", status, "error", why->msg,
            "detail", why->detail, NULL);
    if (!db)
        return;
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET status = ?, fault = ?, updated_at = ? WHERE id = ? AND status = ?",
             table);
    nph_db_execf(db, NULL, sql, "ssiss", status, fault, nph_clock_now(), r->id, expect);
    nph_store_release(db);
}

static void run_create(struct local_volume *lv, virConnectPtr conn, struct row *r,
                       struct nph_error *err)
{
    char name[96], from[4096] = "", path[4096] = "";
    struct nph_db *db = vol_db(lv, err);
    int bad = !db;
    if (!bad && r->snapshot_id[0])
        bad = path_of(db, "SELECT path FROM volume_snapshot WHERE id = ?", r->snapshot_id, from,
                      sizeof(from), err);
    else if (!bad && r->source_volid[0])
        bad = path_of(db, "SELECT path FROM volume_volume WHERE id = ?", r->source_volid, from,
                      sizeof(from), err);
    nph_store_release(db);
    snprintf(name, sizeof(name), "volume-%s", r->id);
    if (bad ||
        make_volume(lv, conn, name, r->size_gb, from[0] ? from : NULL, path, sizeof(path), err))
        goto failed;
    if (r->image_id[0] && !lv->is_test) {
        struct local_image_ref img;
        if (!lv->image_locate ||
            lv->image_locate(lv->image_ctx, r->image_id, r->project_id, 1, &img, err) ||
            fill_from_image(img.path, img.disk_format[0] ? img.disk_format : "raw", path, err)) {
            if (err->code == NPH_E_OK)
                nph_error_set(err, NPH_E_NOT_SUPPORTED, "no image service");
            drop_volume(conn, path);
            goto failed;
        }
        virStoragePoolPtr pool = vol_pool(lv, conn, NULL);
        if (pool) {
            virStoragePoolRefresh(pool, 0);
            virStoragePoolFree(pool);
        }
    }
    if (record(lv, r, NPH_LEDGER_CREATED, r->size_gb,
               "UPDATE volume_volume SET status = 'available', billed = 1, fault = NULL,"
               " updated_at = ?, path = ? WHERE id = ? AND status = 'creating'",
               "iss", path, r->id, err) == 0)
        return;
    drop_volume(conn, path);
failed:
    fail(lv, "volume_volume", r, "creating", "error", err);
}

static void run_extend(struct local_volume *lv, virConnectPtr conn, struct row *r,
                       struct nph_error *err)
{
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, r->path);
    if (!vol) {
        vol_virt_error(err, NPH_E_BACKEND, "cannot find the volume's storage");
        goto failed;
    }
    if (virStorageVolResize(vol, (unsigned long long)r->new_size_gb << 30, 0) != 0 &&
        !lv->is_test) { /* the test driver cannot resize: its volumes have no bytes */
        vol_virt_error(err, NPH_E_BACKEND, "cannot grow the volume");
        virStorageVolFree(vol);
        goto failed;
    }
    virStorageVolFree(vol);
    if (record(lv, r, NPH_LEDGER_RESIZED, r->new_size_gb,
               "UPDATE volume_volume SET status = 'available', size_gb = new_size_gb,"
               " new_size_gb = NULL, updated_at = ? WHERE id = ? AND status = 'extending'",
               "is", r->id, NULL, err) == 0)
        return;
failed:
    fail(lv, "volume_volume", r, "extending", "error_extending", err);
}

static void run_delete(struct local_volume *lv, virConnectPtr conn, struct row *r,
                       struct nph_error *err)
{
    struct nph_db *db;
    int64_t now = nph_clock_now(), n;
    drop_volume(conn, r->path);
    if (!(db = vol_db(lv, err)))
        goto failed;
    if (nph_db_begin(db, err))
        goto rollback;
    n = nph_db_execf(db, err, "DELETE FROM volume_volume WHERE id = ? AND status = 'deleting'", "s",
                     r->id);
    if (n < 0 ||
        nph_db_execf(db, err, "DELETE FROM volume_attachment WHERE volume_id = ?", "s", r->id) < 0)
        goto rollback;
    if (n == 1 && r->billed && ledger(lv, db, r, NPH_LEDGER_DELETED, r->size_gb, now, err))
        goto rollback;
    if (nph_db_commit(db, err) == 0) {
        nph_store_release(db);
        return;
    }
rollback:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
failed:
    fail(lv, "volume_volume", r, "deleting", "error_deleting", err);
}

static void run_snap_create(struct local_volume *lv, virConnectPtr conn, struct row *r,
                            struct nph_error *err)
{
    char name[96], from[4096] = "", path[4096] = "";
    struct nph_db *db = vol_db(lv, err);
    int bad = !db || path_of(db, "SELECT path FROM volume_volume WHERE id = ?", r->volume_id, from,
                             sizeof(from), err);
    nph_store_release(db);
    snprintf(name, sizeof(name), "snapshot-%s", r->id);
    if (bad || make_volume(lv, conn, name, r->size_gb, from, path, sizeof(path), err))
        goto failed;
    if (record(lv, r, -1, 0,
               "UPDATE volume_snapshot SET status = 'available', updated_at = ?, path = ?"
               " WHERE id = ? AND status = 'creating'",
               "iss", path, r->id, err) == 0)
        return;
    drop_volume(conn, path);
failed:
    fail(lv, "volume_snapshot", r, "creating", "error", err);
}

static void run_snap_delete(struct local_volume *lv, virConnectPtr conn, struct row *r,
                            struct nph_error *err)
{
    struct nph_db *db;
    drop_volume(conn, r->path);
    if ((db = vol_db(lv, err))) {
        int64_t n = nph_db_execf(db, err,
                                 "DELETE FROM volume_snapshot WHERE id = ? AND status = 'deleting'",
                                 "s", r->id);
        nph_store_release(db);
        if (n >= 0)
            return;
    }
    fail(lv, "volume_snapshot", r, "deleting", "error_deleting", err);
}

void vol_job_run(struct local_volume *lv, const struct vol_job *job)
{
    static const char *const expect[] = {"creating", "extending", "deleting", "creating",
                                         "deleting"};
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = vol_db(lv, &err);
    int snap = job->kind == VOL_JOB_SNAP_CREATE || job->kind == VOL_JOB_SNAP_DELETE;
    virConnectPtr conn;
    struct row r;
    if (!db || (snap ? load_snapshot(db, job->id, &r, &err) : load_volume(db, job->id, &r, &err))) {
        nph_store_release(db);
        nph_log(NPH_LOG_WARN, "volume.job_skipped", "id", job->id, "error", err.msg, NULL);
        return;
    }
    nph_store_release(db);
    if (strcmp(r.status, expect[job->kind]) != 0)
        return; /* superseded (an admin reset it, or a requeue of finished work) */
    if (!(conn = vol_conn(lv, &err))) {
        fail(lv, snap ? "volume_snapshot" : "volume_volume", &r, r.status,
             strcmp(r.status, "deleting") == 0 ? "error_deleting" : "error", &err);
        return;
    }
    switch (job->kind) {
    case VOL_JOB_CREATE:
        run_create(lv, conn, &r, &err);
        break;
    case VOL_JOB_EXTEND:
        run_extend(lv, conn, &r, &err);
        break;
    case VOL_JOB_DELETE:
        run_delete(lv, conn, &r, &err);
        break;
    case VOL_JOB_SNAP_CREATE:
        run_snap_create(lv, conn, &r, &err);
        break;
    case VOL_JOB_SNAP_DELETE:
        run_snap_delete(lv, conn, &r, &err);
        break;
    }
}

int vol_requeue(struct local_volume *lv, struct nph_error *err)
{
    static const struct {
        const char *sql;
        enum vol_job_kind kind;
    } work[] = {
        {"SELECT id FROM volume_volume WHERE status = 'creating'", VOL_JOB_CREATE},
        {"SELECT id FROM volume_volume WHERE status = 'extending'", VOL_JOB_EXTEND},
        {"SELECT id FROM volume_volume WHERE status = 'deleting'", VOL_JOB_DELETE},
        {"SELECT id FROM volume_snapshot WHERE status = 'creating'", VOL_JOB_SNAP_CREATE},
        {"SELECT id FROM volume_snapshot WHERE status = 'deleting'", VOL_JOB_SNAP_DELETE},
    };
    struct nph_db *db = vol_db(lv, err);
    int n = 0, rc = 0;
    if (!db)
        return -1;
    /* An attach or detach cut short by a stop: the hypervisor's side is unknown, so the
     * volume goes back to where it came from (an admin's reset fixes the rest). */
    if (nph_db_execf(db, err,
                     "UPDATE volume_volume SET status = 'available' WHERE status = 'attaching'"
                     " AND id NOT IN (SELECT volume_id FROM volume_attachment)",
                     NULL) < 0 ||
        nph_db_execf(db, err,
                     "UPDATE volume_volume SET status = 'in-use' WHERE status IN"
                     " ('attaching', 'detaching')",
                     NULL) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < sizeof(work) / sizeof(work[0]); i++) {
        struct nph_stmt *st = NULL;
        int q = nph_db_queryf(db, err, &st, work[i].sql, NULL);
        while (q == 1) {
            if (vol_queue(lv, work[i].kind, nph_stmt_col_text(st, 0), err) == 0)
                n++;
            q = nph_stmt_step(st, err);
        }
        if (st)
            nph_stmt_done(st);
        if (q < 0)
            rc = -1;
    }
    nph_store_release(db);
    if (n)
        nph_logf(NPH_LOG_INFO, "volume.requeued", "%d unfinished volume job(s) requeued", n);
    return rc;
}
