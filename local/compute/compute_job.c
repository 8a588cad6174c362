/*
 * compute_job.c - what the workers do to the hypervisor for each task, and the transaction
 * that records the outcome (state, ledger event, instance action) afterwards.
 *
 * Disks: a root disk is a qcow2 volume whose backing store is the image file, created in a
 * libvirt storage pool: a dir pool "nephele-instances" under <data_dir>/instances on a real
 * host, the test driver's "default-pool" on test:///. Console: a serial port written to
 * <data_dir>/console/<id>.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/tree.h>

#include "compute_internal.h"
#include "nph_clock.h"
#include "nph_crypto.h"
#include "nph_ledger.h"
#include "nph_log.h"

#define S(o, k)  json_string_value(json_object_get((o), (k)))
#define SI(o, k) json_integer_value(json_object_get((o), (k)))

#define SERVER_JOB_COLS                                                                            \
    "SELECT id, project_id, vm_state, task_state, flavor, old_flavor, image_id, disk_path,"        \
    " launched_at FROM compute_server WHERE id = ?"

struct job_server {
    char id[NPH_UUID_LEN + 1];
    char project_id[128];
    char vm_state[32], task_state[32];
    json_t *flavor, *old_flavor;
    char image_id[128];
    char disk_path[4096];
    int64_t launched_at;
};

static int job_load(struct nph_db *db, const char *id, struct job_server *js, struct nph_error *err)
{
    struct nph_stmt *st;
    int rc = nph_db_queryf(db, err, &st, SERVER_JOB_COLS, "s", id);
    if (rc <= 0)
        return rc == 0 ? nph_error_set(err, NPH_E_NOT_FOUND, "server '%s' is gone", id) : -1;
    memset(js, 0, sizeof(*js));
#define CP(f, col)                                                                                 \
    snprintf(js->f, sizeof(js->f), "%s",                                                           \
             nph_stmt_col_text(st, col) ? nph_stmt_col_text(st, col) : "")
    CP(id, 0);
    CP(project_id, 1);
    CP(vm_state, 2);
    CP(task_state, 3);
    CP(image_id, 6);
    CP(disk_path, 7);
#undef CP
    js->flavor = cmp_json_load(nph_stmt_col_text(st, 4), json_object());
    js->old_flavor = cmp_json_load(nph_stmt_col_text(st, 5), json_null());
    js->launched_at = nph_stmt_col_int64(st, 8);
    nph_stmt_done(st);
    return 0;
}

static void job_server_fini(struct job_server *js)
{
    json_decref(js->flavor);
    json_decref(js->old_flavor);
}

/* ---- hypervisor helpers ----------------------------------------------------------------- */

/* A directory the hypervisor's user may traverse (0711). chmod after mkdir: the process umask
 * (077) would strip the search bits. */
static void mkdir_shared(const char *dir)
{
    if (mkdir(dir, 0711) == 0 || errno == EEXIST)
        chmod(dir, 0711);
}

static virStoragePoolPtr instances_pool(struct local_compute *lc, virConnectPtr conn,
                                        struct nph_error *err)
{
    /* One pool per data directory (brokers with different data directories may share a
     * libvirtd): "nephele-instances-" + the first 12 hex digits of SHA-256(path). */
    char name[64], hash[2 * NPH_SHA256_LEN + 1];
    char dir[4096];
    virStoragePoolPtr p;
    xmlDocPtr doc;
    xmlNodePtr root, t;
    xmlChar *xml = NULL;
    int len = 0;
    snprintf(dir, sizeof(dir), "%s/instances", lc->data_dir);
    nph_sha256_hex(dir, strlen(dir), hash);
    if (lc->is_test)
        snprintf(name, sizeof(name), "default-pool");
    else
        snprintf(name, sizeof(name), "nephele-instances-%.12s", hash);
    p = virStoragePoolLookupByName(conn, name);
    if (p) {
        if (virStoragePoolIsActive(p) == 1)
            return p;
        mkdir_shared(dir); /* the directory may have been removed under an inactive pool */
        if (virStoragePoolCreate(p, 0) == 0)
            return p;
        if (lc->is_test) {
            virStoragePoolFree(p);
            cmp_virt_error(err, NPH_E_UNAVAILABLE, "cannot start the instances storage pool");
            return NULL;
        }
        virStoragePoolUndefine(p); /* stale definition: define it afresh below */
        virStoragePoolFree(p);
    }
    mkdir_shared(dir);
    doc = xmlNewDoc((const xmlChar *)"1.0");
    root = xmlNewNode(NULL, (const xmlChar *)"pool");
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *)"type", (const xmlChar *)"dir");
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    t = xmlNewChild(root, NULL, (const xmlChar *)"target", NULL);
    xmlNewTextChild(t, NULL, (const xmlChar *)"path", (const xmlChar *)dir);
    xmlDocDumpMemory(doc, &xml, &len);
    xmlFreeDoc(doc);
    p = xml ? virStoragePoolDefineXML(conn, (const char *)xml, 0) : NULL;
    xmlFree(xml);
    if (!p || virStoragePoolCreate(p, 0) != 0) {
        if (p)
            virStoragePoolFree(p);
        cmp_virt_error(err, NPH_E_UNAVAILABLE, "cannot create the instances storage pool");
        return NULL;
    }
    virStoragePoolSetAutostart(p, 1);
    return p;
}

/* The user qemu runs as under a system libvirtd (Debian: libvirt-qemu; elsewhere qemu). 0 and
 * the ids, or -1 when there is none (then files keep their modes). */
static int qemu_ids(uid_t *uid, gid_t *gid)
{
    static const char *const names[] = {"libvirt-qemu", "qemu"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct passwd *pw = getpwnam(names[i]);
        if (pw) {
            *uid = pw->pw_uid;
            *gid = pw->pw_gid;
            return 0;
        }
    }
    return -1;
}

/* qemu reads image files (backing files, kernels, ramdisks) as its own user, before libvirt
 * relabels anything: give its group read access (0640), nobody else. */
static void share_with_qemu(struct local_compute *lc, const char *path)
{
    uid_t uid;
    gid_t gid;
    struct stat st;
    if (lc->is_test || !path || !*path || qemu_ids(&uid, &gid))
        return;
    /* Owned by qemu's user: libvirt has labelled it for a running guest (a kernel or backing
     * file two servers share) and remembers the label; changing its group now would make
     * libvirt refuse the next guest ("Setting different DAC user or group ... in use"). */
    if (stat(path, &st) == 0 && st.st_uid == uid)
        return;
    if (chown(path, (uid_t)-1, gid) != 0 || chmod(path, 0640) != 0)
        nph_log(NPH_LOG_WARN, "compute.permissions", "path", path, "error", strerror(errno), NULL);
}

/* Create the root disk: a qcow2 overlay on the image. Writes its path into js->disk_path. */
static int disk_create(struct local_compute *lc, virConnectPtr conn, struct job_server *js,
                       struct nph_error *err)
{
    struct local_image_ref img;
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    xmlDocPtr doc;
    xmlNodePtr root, n;
    xmlChar *xml = NULL;
    int len = 0;
    char name[96], cap[32];
    char *path;
    int64_t gb = SI(js->flavor, "disk");
    if (!js->image_id[0] || !lc->image_locate)
        return 0; /* no image: a diskless guest (test driver, kernel boot) */
    if (lc->image_locate(lc->image_ctx, js->image_id, js->project_id, 1, &img, err))
        return -1;
    if (gb <= 0)
        gb = (img.size + (1LL << 30) - 1) >> 30;
    if (gb <= 0)
        gb = 1;
    if (!(pool = instances_pool(lc, conn, err)))
        return -1;
    snprintf(name, sizeof(name), "%s-disk.qcow2", js->id);
    snprintf(cap, sizeof(cap), "%lld", (long long)gb);
    doc = xmlNewDoc((const xmlChar *)"1.0");
    root = xmlNewNode(NULL, (const xmlChar *)"volume");
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    n = xmlNewTextChild(root, NULL, (const xmlChar *)"capacity", (const xmlChar *)cap);
    xmlNewProp(n, (const xmlChar *)"unit", (const xmlChar *)"G");
    n = xmlNewChild(root, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"format", NULL), (const xmlChar *)"type",
               (const xmlChar *)"qcow2");
    {
        uid_t quid;
        gid_t qgid;
        if (!lc->is_test && qemu_ids(&quid, &qgid) == 0) {
            /* The overlay belongs to qemu's user: libvirt reads its header as that user. */
            char id[32];
            xmlNodePtr perm = xmlNewChild(n, NULL, (const xmlChar *)"permissions", NULL);
            snprintf(id, sizeof(id), "%u", (unsigned)quid);
            xmlNewTextChild(perm, NULL, (const xmlChar *)"owner", (const xmlChar *)id);
            snprintf(id, sizeof(id), "%u", (unsigned)qgid);
            xmlNewTextChild(perm, NULL, (const xmlChar *)"group", (const xmlChar *)id);
            xmlNewTextChild(perm, NULL, (const xmlChar *)"mode", (const xmlChar *)"0600");
        }
        share_with_qemu(lc, img.path);
    }
    n = xmlNewChild(root, NULL, (const xmlChar *)"backingStore", NULL);
    xmlNewTextChild(n, NULL, (const xmlChar *)"path", (const xmlChar *)img.path);
    xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"format", NULL), (const xmlChar *)"type",
               (const xmlChar *)(img.disk_format[0] ? img.disk_format : "raw"));
    xmlDocDumpMemory(doc, &xml, &len);
    xmlFreeDoc(doc);
    vol = virStorageVolLookupByName(pool, name); /* left by a crashed build */
    if (!vol && !xml) {
        virStoragePoolFree(pool);
        return nph_error_nomem(err);
    }
    if (!vol)
        vol = virStorageVolCreateXML(pool, (const char *)xml, 0);
    xmlFree(xml);
    /* read libvirt's error before virStoragePoolFree, which resets it */
    int rc = vol ? 0 : cmp_virt_error(err, NPH_E_BACKEND, "cannot create the server's root disk");
    virStoragePoolFree(pool);
    if (rc)
        return rc;
    path = virStorageVolGetPath(vol);
    if (!path)
        cmp_virt_error(err, NPH_E_BACKEND, "cannot read the root disk's path");
    virStorageVolFree(vol);
    if (!path)
        return -1;
    snprintf(js->disk_path, sizeof(js->disk_path), "%s", path);
    free(path);
    return 0;
}

static void disk_delete(virConnectPtr conn, const char *path)
{
    virStorageVolPtr vol;
    if (!path || !*path)
        return;
    vol = virStorageVolLookupByPath(conn, path);
    if (vol) {
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
    }
}

/* Grow the root disk to the flavor's size (shrinking is refused at the API). The test driver
 * cannot resize volumes: that is not an error there. */
static void disk_grow(struct local_compute *lc, virConnectPtr conn, struct job_server *js)
{
    virStorageVolPtr vol;
    if (!js->disk_path[0] || SI(js->flavor, "disk") <= 0)
        return;
    vol = virStorageVolLookupByPath(conn, js->disk_path);
    if (!vol)
        return;
    if (virStorageVolResize(vol, (unsigned long long)SI(js->flavor, "disk") << 30, 0) != 0 &&
        !lc->is_test)
        nph_log(NPH_LOG_WARN, "compute.disk_resize_failed", "server", js->id, "error",
                virGetLastErrorMessage(), NULL);
    virStorageVolFree(vol);
}

/* (Re)define the domain from the server's current flavor and disk. */
static virDomainPtr domain_define(struct local_compute *lc, virConnectPtr conn,
                                  struct job_server *js, struct nph_error *err)
{
    struct local_compute_domain d = {0};
    char name[80], console[4200], dir[4096];
    char *xml;
    virDomainPtr dom;
    snprintf(name, sizeof(name), "nephele-%s", js->id);
    snprintf(dir, sizeof(dir), "%s/console", lc->data_dir);
    snprintf(console, sizeof(console), "%s/%s.log", dir, js->id);
    if (!lc->is_test)
        mkdir_shared(dir);
    d.name = name;
    d.uuid = js->id;
    d.vcpus = (unsigned)SI(js->flavor, "vcpus");
    d.ram_mb = (uint64_t)SI(js->flavor, "ram");
    d.kvm = local_compute_have_kvm();
    d.disk_path = js->disk_path[0] ? js->disk_path : NULL;
    d.disk_format = "qcow2";
    d.console_log = console;
    d.project_id = js->project_id;
    d.flavor_name = S(js->flavor, "name");
    /* Direct kernel boot when the image names a kernel (and ramdisk) image, as Nova does with
     * the kernel_id / ramdisk_id / os_command_line image properties. */
    struct local_image_ref img, kernel, ramdisk;
    if (js->image_id[0] && lc->image_locate &&
        lc->image_locate(lc->image_ctx, js->image_id, js->project_id, 1, &img, NULL) == 0 &&
        img.kernel_id[0]) {
        if (lc->image_locate(lc->image_ctx, img.kernel_id, js->project_id, 1, &kernel, err))
            return NULL;
        share_with_qemu(lc, kernel.path);
        d.kernel = kernel.path;
        if (img.ramdisk_id[0]) {
            if (lc->image_locate(lc->image_ctx, img.ramdisk_id, js->project_id, 1, &ramdisk, err))
                return NULL;
            share_with_qemu(lc, ramdisk.path);
            d.initrd = ramdisk.path;
        }
        d.cmdline = img.os_command_line[0] ? img.os_command_line : "console=ttyS0";
    }
    /* The interfaces are read and the domain defined under nic_lock: a port bound meanwhile is
     * either read here or plugged into the defined domain (local_compute_server_nic). */
    struct local_compute_nic nics[16];
    json_t *nl = NULL, *e;
    size_t i;
    pthread_mutex_lock(&lc->nic_lock);
    if (lc->nics && !(nl = lc->nics(lc->nics_ctx, js->id, err))) {
        pthread_mutex_unlock(&lc->nic_lock);
        return NULL;
    }
    json_array_foreach(nl, i, e)
    {
        if (i >= sizeof(nics) / sizeof(nics[0])) {
            nph_error_set(err, NPH_E_INVALID, "a server has at most %zu network interfaces",
                          sizeof(nics) / sizeof(nics[0]));
            json_decref(nl);
            pthread_mutex_unlock(&lc->nic_lock);
            return NULL;
        }
        nics[i].mac = S(e, "mac");
        nics[i].network = S(e, "network");
        nics[i].filter = S(e, "filter");
        d.n_nics = i + 1;
    }
    d.nics = nics;
    xml = local_compute_domain_xml(&d, err);
    json_decref(nl);
    if (!xml) {
        pthread_mutex_unlock(&lc->nic_lock);
        return NULL;
    }
    char *full = cmp_carry_disks(conn, js->id, xml, err); /* volumes stay attached */
    free(xml);
    if (!(xml = full)) {
        pthread_mutex_unlock(&lc->nic_lock);
        return NULL;
    }
    dom = virDomainDefineXML(conn, xml);
    free(xml);
    if (!dom)
        cmp_virt_error(err, NPH_E_BACKEND, "libvirt refused the domain definition");
    pthread_mutex_unlock(&lc->nic_lock);
    return dom;
}

static virDomainPtr domain_get(virConnectPtr conn, const char *id)
{
    return virDomainLookupByUUIDString(conn, id);
}

static int domain_running(virDomainPtr dom)
{
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) != 0)
        return 0;
    return state != VIR_DOMAIN_SHUTOFF && state != VIR_DOMAIN_CRASHED;
}

/* Graceful shutdown (ACPI) for up to stop_timeout_s, then a hard stop. */
static int domain_stop(struct local_compute *lc, virDomainPtr dom, int graceful,
                       struct nph_error *err)
{
    if (!domain_running(dom))
        return 0;
    if (graceful && virDomainShutdown(dom) == 0) {
        int64_t deadline = nph_clock_mono() + (int64_t)lc->stop_timeout_s * NPH_USEC_PER_SEC;
        while (domain_running(dom) && nph_clock_mono() < deadline) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!domain_running(dom))
            return 0;
    }
    if (virDomainDestroy(dom) != 0 && domain_running(dom))
        return cmp_virt_error(err, NPH_E_BACKEND, "cannot stop the domain");
    return 0;
}

static int domain_start(virDomainPtr dom, struct nph_error *err)
{
    if (domain_running(dom))
        return 0;
    if (virDomainCreate(dom) != 0)
        return cmp_virt_error(err, NPH_E_BACKEND, "cannot start the domain");
    return 0;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

extern char **environ;

/* Run qemu-img with argv (argv[0] = "qemu-img"), its stderr kept in log_path for the error
 * detail. 0 on exit status 0; -1 with err (NPH_E_NOT_SUPPORTED when qemu-img is missing). */
static int run_qemu_img(char *const argv[], const char *log_path, struct nph_error *err)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = 0, rc;
    char detail[512] = "";
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = posix_spawnp(&pid, "qemu-img", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        unlink(log_path);
        nph_error_set(err, rc == ENOENT ? NPH_E_NOT_SUPPORTED : NPH_E_IO,
                      "cannot run qemu-img to copy the server's disk");
        return nph_error_detail(err, "%s", strerror(rc));
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    {
        FILE *f = fopen(log_path, "r");
        if (f) {
            size_t n = fread(detail, 1, sizeof(detail) - 1, f);
            detail[n] = '\0';
            fclose(f);
        }
        unlink(log_path);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "qemu-img is not installed");
    nph_error_set(err, NPH_E_BACKEND, "qemu-img could not copy the server's disk");
    return nph_error_detail(err, "%s", detail);
}

/* Flatten the server's root disk into a new qcow2 file at out (see
 * local_compute_server_snapshot for where the bytes come from). */
static int snapshot_file(struct local_compute *lc, virDomainPtr dom, struct job_server *js,
                         const char *out, struct nph_error *err)
{
    char log_path[4200], size[32];
    struct stat st;
    struct local_image_ref img;
    if ((size_t)snprintf(log_path, sizeof(log_path), "%s.log", out) >= sizeof(log_path))
        return nph_error_set(err, NPH_E_INTERNAL, "snapshot path too long");
    if (js->disk_path[0] && stat(js->disk_path, &st) == 0 && S_ISREG(st.st_mode)) {
        /* The overlay and its backing image, read while the guest may be writing (-U: no
         * lock; a running guest's snapshot is crash-consistent, as Nova's live snapshot). */
        char *argv[] = {"qemu-img", "convert", "-O", "qcow2", NULL, NULL, NULL, NULL};
        int i = 4;
        if (dom && domain_running(dom))
            argv[i++] = "-U";
        argv[i++] = js->disk_path;
        argv[i] = (char *)out;
        return run_qemu_img(argv, log_path, err);
    }
    if (js->image_id[0] && lc->image_locate &&
        lc->image_locate(lc->image_ctx, js->image_id, js->project_id, 1, &img, NULL) == 0) {
        /* The test driver's volumes have no files: the image the server booted from. */
        char *argv[] = {
            "qemu-img", "convert", "-f",     img.disk_format[0] ? img.disk_format : "raw",
            "-O",       "qcow2",   img.path, (char *)out,
            NULL};
        return run_qemu_img(argv, log_path, err);
    }
    snprintf(size, sizeof(size), "%lldG",
             (long long)(SI(js->flavor, "disk") > 0 ? SI(js->flavor, "disk") : 1));
    {
        char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", (char *)out, size, NULL};
        return run_qemu_img(argv, log_path, err);
    }
}

/* The snapshot job: the file, then the sink. The server's state does not change. */
static int snapshot_run(struct local_compute *lc, virDomainPtr dom, struct job_server *js,
                        const struct cmp_job *job, struct nph_error *err)
{
    char dir[4096], out[4200];
    int rc;
    if (!job->sink.store)
        return nph_error_set(err, NPH_E_UNAVAILABLE,
                             "the snapshot was interrupted by a restart of the service");
    snprintf(dir, sizeof(dir), "%s/snapshots", lc->data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        nph_error_set(err, NPH_E_IO, "cannot create the snapshot directory");
        return nph_error_detail(err, "'%s': %s", dir, strerror(errno));
    }
    snprintf(out, sizeof(out), "%s/%s.qcow2", dir, job->image_id);
    unlink(out);
    if (snapshot_file(lc, dom, js, out, err)) {
        unlink(out);
        return -1;
    }
    rc = job->sink.store(job->sink.ctx, job->image_id, out, err);
    unlink(out); /* consumed by the sink; a no-op unless it failed early */
    return rc;
}

/* ---- recording outcomes -------------------------------------------------------------------- */

struct outcome {
    const char *vm_state;    /* new vm_state */
    int power;               /* new power state */
    int ledger;              /* -1 none, else enum nph_ledger_kind */
    int set_launched;        /* launched_at = now */
    int keep_old_flavor;     /* resize: old_flavor stays (VERIFY_RESIZE) */
    const char *fault;       /* error text */
    const char *flavor_text; /* revert: the flavor to restore */
};

static int record(struct local_compute *lc, struct job_server *js, const struct cmp_job *job,
                  const struct outcome *o, struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    int64_t now = nph_clock_now(), n;
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto cleanup;
    if (o->flavor_text) {
        json_t *f = cmp_json_load(o->flavor_text, json_object());
        n = nph_db_execf(
            db, err,
            "UPDATE compute_server SET flavor = ?, flavor_id = ?, vcpus = ?, ram_mb = ?"
            " WHERE id = ?",
            "ssiis", o->flavor_text, S(f, "id") ? S(f, "id") : "", (int64_t)SI(f, "vcpus"),
            (int64_t)SI(f, "ram"), js->id);
        json_decref(f);
        if (n < 0)
            goto cleanup;
    }
    n = nph_db_execf(db, err,
                     "UPDATE compute_server SET vm_state = ?, task_state = NULL, power_state = ?,"
                     " fault = ?, disk_path = ?, updated_at = ?,"
                     " launched_at = CASE WHEN ? = 1 THEN ? ELSE launched_at END,"
                     " old_flavor = CASE WHEN ? = 1 THEN old_flavor ELSE NULL END"
                     " WHERE id = ? AND task_state = ?",
                     "sissiiiiss", o->vm_state, (int64_t)o->power, o->fault,
                     js->disk_path[0] ? js->disk_path : NULL, now, (int64_t)o->set_launched, now,
                     (int64_t)o->keep_old_flavor, js->id, js->task_state);
    if (n < 0)
        goto cleanup;
    if (n == 1 && o->ledger >= 0) {
        struct nph_ledger_event ev = {0};
        json_t *f =
            o->flavor_text ? cmp_json_load(o->flavor_text, json_object()) : json_incref(js->flavor);
        ev.ts = now;
        ev.kind = (enum nph_ledger_kind)o->ledger;
        ev.resource_id = js->id;
        ev.resource_type = "server";
        ev.project_id = js->project_id;
        ev.cloud = lc->cloud;
        ev.region = lc->region;
        ev.offering = S(f, "name");
        ev.size_gb = -1;
        int bad = nph_ledger_append(db, &ev, err);
        json_decref(f);
        if (bad)
            goto cleanup;
    }
    if (nph_db_execf(
            db, err,
            "UPDATE compute_action SET finish_time = ?, result = ?, message = ? WHERE id = ?",
            "isss", now, o->fault ? "Error" : "Success", o->fault ? "Error" : NULL,
            job->action_id) < 0)
        goto cleanup;
    rc = nph_db_commit(db, err);
cleanup:
    nph_db_rollback(db, NULL);
    nph_store_release(db);
    return rc;
}

/* ---- the jobs ----------------------------------------------------------------------------- */

static const char *expected_task(enum cmp_job_kind k)
{
    switch (k) {
    case CMP_JOB_BUILD:
        return "spawning";
    case CMP_JOB_STOP:
        return "powering-off";
    case CMP_JOB_START:
        return "powering-on";
    case CMP_JOB_REBOOT_SOFT:
        return "rebooting";
    case CMP_JOB_REBOOT_HARD:
        return "rebooting_hard";
    case CMP_JOB_RESIZE:
        return "resize_prep";
    case CMP_JOB_REVERT:
        return "resize_reverting";
    case CMP_JOB_REBUILD:
        return "rebuilding";
    case CMP_JOB_DELETE:
        return "deleting";
    case CMP_JOB_SNAPSHOT:
        return "image_snapshot";
    case CMP_JOB_CONFIRM:
        break;
    }
    return "";
}

void cmp_job_run(struct local_compute *lc, const struct cmp_job *job)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct job_server js;
    struct nph_db *db = cmp_db(lc, &err);
    virConnectPtr conn;
    virDomainPtr dom = NULL;
    struct outcome o = {NULL, 0, -1, 0, 0, NULL, NULL};
    char *old_text = NULL;
    int ok = -1;
    if (!db || job_load(db, job->server_id, &js, &err)) {
        nph_store_release(db);
        nph_log(NPH_LOG_WARN, "compute.job_skipped", "server", job->server_id, "error", err.msg,
                NULL);
        return;
    }
    nph_store_release(db);
    if (strcmp(js.task_state, expected_task(job->kind)) != 0) {
        job_server_fini(&js); /* superseded (deleted meanwhile, or a requeue of a done task) */
        return;
    }
    if (!(conn = cmp_conn(lc, &err)))
        goto done;
    dom = domain_get(conn, js.id);
    switch (job->kind) {
    case CMP_JOB_BUILD:
        if (!dom &&
            (disk_create(lc, conn, &js, &err) || !(dom = domain_define(lc, conn, &js, &err))))
            break;
        if (domain_start(dom, &err))
            break;
        o.vm_state = "active";
        o.power = 1;
        o.ledger = NPH_LEDGER_CREATED;
        o.set_launched = 1;
        ok = 0;
        break;
    case CMP_JOB_STOP:
        if (dom && domain_stop(lc, dom, 1, &err))
            break;
        o.vm_state = "stopped";
        o.power = 4;
        o.ledger = strcmp(js.vm_state, "active") == 0 ? NPH_LEDGER_STOPPED : -1;
        ok = 0;
        break;
    case CMP_JOB_START:
        if (!dom && !(dom = domain_define(lc, conn, &js, &err)))
            break;
        if (domain_start(dom, &err))
            break;
        o.vm_state = "active";
        o.power = 1;
        o.ledger = NPH_LEDGER_STARTED;
        ok = 0;
        break;
    case CMP_JOB_REBOOT_SOFT:
        if (!dom) {
            nph_error_set(&err, NPH_E_BACKEND, "the domain does not exist");
            break;
        }
        if (virDomainReboot(dom, 0) != 0) {
            /* a guest without ACPI: fall back to a hard reboot */
            if (domain_stop(lc, dom, 0, &err) || domain_start(dom, &err))
                break;
        }
        o.vm_state = "active";
        o.power = 1;
        ok = 0;
        break;
    case CMP_JOB_REBOOT_HARD:
        if (dom && domain_stop(lc, dom, 0, &err))
            break;
        if (dom)
            virDomainFree(dom);
        if (!(dom = domain_define(lc, conn, &js, &err)) || domain_start(dom, &err))
            break;
        o.vm_state = "active";
        o.power = 1;
        o.ledger = strcmp(js.vm_state, "active") == 0 ? -1 : NPH_LEDGER_STARTED;
        ok = 0;
        break;
    case CMP_JOB_RESIZE:
    case CMP_JOB_REVERT: {
        json_t *old = json_object_get(js.old_flavor, "flavor");
        int run_after = json_is_true(json_object_get(js.old_flavor, "was_running"));
        if (job->kind == CMP_JOB_REVERT) {
            if (!old) {
                nph_error_set(&err, NPH_E_BACKEND, "the server has no flavor to revert to");
                break;
            }
            old_text = cmp_json_dump(old);
            json_decref(js.flavor);
            js.flavor = json_incref(old);
        }
        if (dom && domain_stop(lc, dom, 1, &err))
            break;
        if (dom)
            virDomainFree(dom);
        disk_grow(lc, conn, &js);
        if (!(dom = domain_define(lc, conn, &js, &err)) || (run_after && domain_start(dom, &err)))
            break;
        if (job->kind == CMP_JOB_RESIZE) {
            o.vm_state = "resized";
            o.keep_old_flavor = 1;
        } else {
            o.vm_state = run_after ? "active" : "stopped";
            o.flavor_text = old_text;
        }
        o.power = run_after ? 1 : 4;
        o.ledger = NPH_LEDGER_RESIZED;
        ok = 0;
        break;
    }
    case CMP_JOB_REBUILD:
        if (dom) {
            if (domain_stop(lc, dom, 0, &err))
                break;
            virDomainUndefine(dom);
            virDomainFree(dom);
            dom = NULL;
        }
        disk_delete(conn, js.disk_path);
        js.disk_path[0] = '\0';
        if (disk_create(lc, conn, &js, &err) || !(dom = domain_define(lc, conn, &js, &err)))
            break;
        if (strcmp(js.vm_state, "stopped") != 0 && domain_start(dom, &err))
            break;
        o.vm_state = strcmp(js.vm_state, "stopped") == 0 ? "stopped" : "active";
        o.power = strcmp(js.vm_state, "stopped") == 0 ? 4 : 1;
        ok = 0;
        break;
    case CMP_JOB_DELETE:
        if (dom) {
            if (domain_stop(lc, dom, 0, &err))
                break;
            if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                                VIR_DOMAIN_UNDEFINE_NVRAM) != 0 &&
                virDomainUndefine(dom) != 0) {
                cmp_virt_error(&err, NPH_E_BACKEND, "cannot undefine the domain");
                break;
            }
        }
        disk_delete(conn, js.disk_path);
        if (!lc->is_test) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/console/%s.log", lc->data_dir, js.id);
            unlink(path);
        }
        {
            /* The deletion is a state change of its own (deleted = 1). */
            struct nph_db *d2 = cmp_db(lc, &err);
            int64_t now = nph_clock_now(), n;
            if (!d2 || nph_db_begin(d2, &err)) {
                nph_store_release(d2);
                break;
            }
            n = nph_db_execf(d2, &err,
                             "UPDATE compute_server SET vm_state = 'deleted', task_state = NULL,"
                             " power_state = 0, deleted = 1, deleted_at = ?, updated_at = ?"
                             " WHERE id = ? AND task_state = 'deleting'",
                             "iis", now, now, js.id);
            if (n == 1 && js.launched_at) {
                struct nph_ledger_event ev = {0};
                ev.ts = now;
                ev.kind = NPH_LEDGER_DELETED;
                ev.resource_id = js.id;
                ev.resource_type = "server";
                ev.project_id = js.project_id;
                ev.cloud = lc->cloud;
                ev.region = lc->region;
                ev.offering = S(js.flavor, "name");
                ev.size_gb = -1;
                if (nph_ledger_append(d2, &ev, &err))
                    n = -1;
            }
            if (n >= 0 &&
                nph_db_execf(d2, &err,
                             "UPDATE compute_action SET finish_time = ?, result = 'Success'"
                             " WHERE id = ?",
                             "is", now, job->action_id) >= 0 &&
                nph_db_commit(d2, &err) == 0)
                ok = 1; /* recorded here */
            nph_db_rollback(d2, NULL);
            nph_store_release(d2);
        }
        break;
    case CMP_JOB_SNAPSHOT:
        if (snapshot_run(lc, dom, &js, job, &err))
            break;
        o.vm_state = js.vm_state;
        o.power = strcmp(js.vm_state, "active") == 0 ? 1 : 4;
        ok = 0;
        break;
    case CMP_JOB_CONFIRM:
        ok = 1;
        break;
    }
done:
    if (dom)
        virDomainFree(dom);
    if (ok == 0) {
        if (record(lc, &js, job, &o, &err))
            nph_log(NPH_LOG_ERROR, "compute.record_failed", "server", js.id, "error", err.msg,
                    NULL);
    } else if (ok < 0) {
        struct outcome fo = {"error", 0, -1, 0, 0, err.msg[0] ? err.msg : "failed", NULL};
        struct nph_error e2 = NPH_ERROR_INIT;
        char fault[NPH_ERR_MSG_MAX + NPH_ERR_DETAIL_MAX + 4];
        snprintf(fault, sizeof(fault), "%s%s%s", err.msg, err.detail[0] ? ": " : "", err.detail);
        fo.fault = fault;
        nph_log(NPH_LOG_WARN, "compute.job_failed", "server", js.id, "task", js.task_state, "error",
                err.msg, "detail", err.detail, NULL);
        if (job->kind == CMP_JOB_DELETE || job->kind == CMP_JOB_SNAPSHOT) {
            /* the server stays as it was, with its task cleared, so the user may retry */
            fo.vm_state = js.vm_state;
            fo.power = strcmp(js.vm_state, "active") == 0 ? 1 : 4;
            if (job->kind == CMP_JOB_SNAPSHOT && job->sink.discard)
                job->sink.discard(job->sink.ctx, job->image_id);
        } else if (job->kind == CMP_JOB_RESIZE && js.old_flavor && json_is_object(js.old_flavor)) {
            old_text =
                old_text ? old_text : cmp_json_dump(json_object_get(js.old_flavor, "flavor"));
            fo.flavor_text = old_text;
        }
        if (record(lc, &js, job, &fo, &e2))
            nph_log(NPH_LOG_ERROR, "compute.record_failed", "server", js.id, "error", e2.msg, NULL);
    }
    free(old_text);
    job_server_fini(&js);
}

int cmp_requeue(struct local_compute *lc, struct nph_error *err)
{
    static const struct {
        const char *task;
        enum cmp_job_kind kind;
    } map[] = {
        {"spawning", CMP_JOB_BUILD},
        {"powering-off", CMP_JOB_STOP},
        {"powering-on", CMP_JOB_START},
        {"rebooting", CMP_JOB_REBOOT_SOFT},
        {"rebooting_hard", CMP_JOB_REBOOT_HARD},
        {"resize_prep", CMP_JOB_RESIZE},
        {"resize_reverting", CMP_JOB_REVERT},
        {"rebuilding", CMP_JOB_REBUILD},
        {"deleting", CMP_JOB_DELETE},
        {"image_snapshot", CMP_JOB_SNAPSHOT}, /* without its sink: abandoned */
    };
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st = NULL;
    int rc, n = 0;
    if (!db)
        return -1;
    rc = nph_db_queryf(
        db, err, &st,
        "SELECT s.id, s.task_state, (SELECT a.id FROM compute_action a WHERE"
        " a.server_id = s.id AND a.finish_time = 0 ORDER BY a.start_time DESC LIMIT 1)"
        " FROM compute_server s WHERE s.task_state IS NOT NULL AND s.deleted = 0",
        NULL);
    while (rc == 1) {
        const char *task = nph_stmt_col_text(st, 1);
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (strcmp(task, map[i].task) == 0) {
                if (cmp_queue(lc, map[i].kind, nph_stmt_col_text(st, 0), nph_stmt_col_text(st, 2),
                              err) == 0)
                    n++;
                break;
            }
        }
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    if (n)
        nph_logf(NPH_LOG_INFO, "compute.requeued", "%d unfinished task(s) requeued", n);
    return rc < 0 ? -1 : 0;
}
