/*
 * fed_cloud.c - the federation's clouds: the registry (configuration + runtime additions with
 * sealed credentials), the one wrapper every backend call passes through (breaker, timeout,
 * metrics, fault injection), health probes, and the offering cache.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fed_internal.h"
#include "nph_clock.h"
#include "nph_crypto.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_log.h"

#define OFFERINGS_TTL_US (60LL * 1000000)

static const char *const op_names[FED_OP_COUNT] = {
    [FED_OP_HEALTH] = "health",
    [FED_OP_LIST_OFFERINGS] = "list_offerings",
    [FED_OP_SERVER_CREATE] = "server_create",
    [FED_OP_SERVER_GET] = "server_get",
    [FED_OP_SERVER_LIST] = "server_list",
    [FED_OP_SERVER_DELETE] = "server_delete",
    [FED_OP_SERVER_ACTION] = "server_action",
    [FED_OP_SERVER_CONSOLE] = "server_console",
    [FED_OP_IMAGE_LIST] = "image_list",
    [FED_OP_IMAGE_FIND] = "image_find",
    [FED_OP_USAGE_GET] = "usage_get",
    [FED_OP_VOLUME_CREATE] = "volume_create",
    [FED_OP_VOLUME_GET] = "volume_get",
    [FED_OP_VOLUME_LIST] = "volume_list",
    [FED_OP_VOLUME_DELETE] = "volume_delete",
    [FED_OP_VOLUME_EXTEND] = "volume_extend",
    [FED_OP_BUCKET_CREATE] = "bucket_create",
    [FED_OP_BUCKET_HEAD] = "bucket_head",
    [FED_OP_BUCKET_DELETE] = "bucket_delete",
    [FED_OP_BUCKET_LIST] = "bucket_list",
    [FED_OP_OBJECT_LIST] = "object_list",
    [FED_OP_OBJECT_PUT] = "object_put",
    [FED_OP_OBJECT_GET] = "object_get",
    [FED_OP_OBJECT_HEAD] = "object_head",
    [FED_OP_OBJECT_DELETE] = "object_delete",
};

const char *fed_op_name(enum fed_op op)
{
    return (unsigned)op < FED_OP_COUNT ? op_names[op] : "unknown";
}

void fed_iso8601(int64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- validation of a cloud entry ---------------------------------------------------------- */

/* Keys the broker reads from a cloud entry; the driver validates the rest. */
static int check_entry(const json_t *e, const char *where, struct nph_error *err)
{
    const char *name = NULL, *kind = NULL;
    json_t *labels = NULL, *images = NULL;
    int isdef;
    if (!json_is_object(e))
        return nph_error_set(err, NPH_E_INVALID, "%s: a cloud must be a mapping", where);
    if (nph_json_get_str(e, "name", "name", 1, FED_NAME_MAX, &name, err) < 0 ||
        nph_json_get_str(e, "kind", "kind", 1, 31, &kind, err) < 0)
        return nph_error_prefix(err, "%s", where);
    if (!*name)
        return nph_error_set(err, NPH_E_INVALID, "%s: 'name' must not be empty", where);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: 'name' may hold letters, digits, '-', '_' and '.' only",
                                 where);
    if (!nph_backend_lookup(kind, err))
        return nph_error_prefix(err, "%s", where);
    if (nph_json_get_obj(e, "labels", "labels", 0, &labels, err) < 0 ||
        nph_json_get_obj(e, "images", "images", 0, &images, err) < 0 ||
        nph_json_get_bool(e, "default", "default", 0, &isdef, err) < 0)
        return nph_error_prefix(err, "%s", where);
    for (int pass = 0; pass < 2; pass++) {
        const json_t *o = pass ? images : labels;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)o, k, v)
        {
            if (!json_is_string(v))
                return nph_error_set(err, NPH_E_INVALID, "%s: '%s.%s' must be a string", where,
                                     pass ? "images" : "labels", k);
        }
    }
    return 0;
}

int fed_check_clouds(const json_t *clouds, struct nph_error *err)
{
    size_t i, j;
    json_t *e;
    int locals = 0;
    if (!clouds || json_is_null(clouds))
        return 0;
    if (!json_is_array(clouds))
        return nph_error_set(err, NPH_E_INVALID, "'clouds' must be a list of mappings");
    if (json_array_size(clouds) > FED_MAX_CLOUDS)
        return nph_error_set(err, NPH_E_INVALID, "at most %d clouds", FED_MAX_CLOUDS);
    int defaults = 0;
    json_array_foreach(clouds, i, e)
    {
        char where[64];
        snprintf(where, sizeof(where), "clouds[%zu]", i);
        if (check_entry(e, where, err) < 0)
            return -1;
        if (json_is_true(json_object_get(e, "default")) && ++defaults > 1)
            return nph_error_set(err, NPH_E_INVALID, "%s: only one cloud may be the default",
                                 where);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (strcmp(json_string_value(json_object_get(e, "kind")), "local") == 0 && ++locals > 1)
            return nph_error_set(err, NPH_E_INVALID,
                                 "%s: only one cloud may be of kind 'local' (the native cloud)",
                                 where);
        for (j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(clouds, j), "name")),
                       name) == 0)
                return nph_error_set(err, NPH_E_INVALID, "%s: cloud name '%s' is used twice", where,
                                     name);
    }
    return 0;
}

/* ---- the registry ------------------------------------------------------------------------- */

static struct fed_cloud *cloud_new(struct fed *f, const json_t *entry, const char *source,
                                   struct nph_error *err)
{
    struct fed_cloud *c = calloc(1, sizeof(*c));
    if (!c) {
        nph_error_nomem(err);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    nph_backend_strlcpy(c->name, sizeof(c->name),
                        json_string_value(json_object_get(entry, "name")));
    nph_backend_strlcpy(c->kind, sizeof(c->kind),
                        json_string_value(json_object_get(entry, "kind")));
    nph_backend_strlcpy(c->source, sizeof(c->source), source);
    const char *region = json_string_value(json_object_get(entry, "region_name"));
    nph_backend_strlcpy(c->region, sizeof(c->region), region ? region : f->cfg->identity_region);
    c->config = json_deep_copy(entry);
    c->b = c->config ? nph_backend_open(c->config, f->host, err) : NULL;
    if (!c->b) {
        if (!c->config)
            nph_error_nomem(err);
        json_decref(c->config);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    return c;
}

static void cloud_free(struct fed_cloud *c)
{
    if (!c)
        return;
    nph_backend_close(c->b);
    json_decref(c->config);
    nph_offering_list_fini(&c->offerings);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

struct fed_cloud *fed_cloud_find(struct fed *f, const char *name, struct nph_error *err)
{
    struct fed_cloud *found = NULL;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; name && i < f->n_clouds; i++)
        if (!f->clouds[i]->removed && strcmp(f->clouds[i]->name, name) == 0)
            found = f->clouds[i];
    pthread_rwlock_unlock(&f->lock);
    if (!found)
        nph_error_set(err, NPH_E_NOT_FOUND, "no cloud '%.64s'", name ? name : "");
    return found;
}

struct fed_cloud *fed_cloud_local(struct fed *f)
{
    struct fed_cloud *found = NULL;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds && !found; i++)
        if (!f->clouds[i]->removed && strcmp(f->clouds[i]->kind, "local") == 0)
            found = f->clouds[i];
    pthread_rwlock_unlock(&f->lock);
    return found;
}

const char *fed_cloud_name(struct fed *f, const char *name)
{
    struct fed_cloud *c = fed_cloud_find(f, name, NULL);
    return c ? c->name : NULL;
}

int fed_cloud_check(struct fed *f, const char *name, struct nph_error *err)
{
    if (!name || fed_cloud_find(f, name, NULL))
        return 0;
    return nph_error_set(err, NPH_E_INVALID, "no cloud '%.64s' (GET /v1/clouds lists them)", name);
}

const char *fed_local_cloud_name(struct fed *f)
{
    struct fed_cloud *c = f ? fed_cloud_local(f) : NULL;
    return c ? c->name : "";
}

int fed_has_remote(struct fed *f)
{
    int any = 0;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds && !any; i++)
        any = !f->clouds[i]->removed && strcmp(f->clouds[i]->kind, "local") != 0;
    pthread_rwlock_unlock(&f->lock);
    return any;
}

int fed_cloud_is_local(struct fed *f, const char *name)
{
    struct fed_cloud *c = fed_cloud_find(f, name, NULL);
    return c && strcmp(c->kind, "local") == 0;
}

const char *fed_default_cloud(struct fed *f)
{
    return f->default_cloud[0] ? f->default_cloud : NULL;
}

static int registry_add(struct fed *f, struct fed_cloud *c, struct nph_error *err)
{
    int rc = 0;
    pthread_rwlock_wrlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++)
        if (!f->clouds[i]->removed && strcmp(f->clouds[i]->name, c->name) == 0)
            rc = nph_error_set(err, NPH_E_CONFLICT, "a cloud named '%s' exists already", c->name);
    if (!rc && f->n_clouds >= FED_MAX_CLOUDS)
        rc = nph_error_set(err, NPH_E_LIMIT, "at most %d clouds", FED_MAX_CLOUDS);
    if (!rc && strcmp(c->kind, "local") == 0) {
        for (size_t i = 0; i < f->n_clouds; i++)
            if (!f->clouds[i]->removed && strcmp(f->clouds[i]->kind, "local") == 0)
                rc = nph_error_set(err, NPH_E_CONFLICT,
                                   "cloud '%s' is the native cloud already; only one cloud "
                                   "may be of kind 'local'",
                                   f->clouds[i]->name);
    }
    if (!rc) {
        f->clouds[f->n_clouds++] = c;
        if (!f->default_cloud[0])
            nph_backend_strlcpy(f->default_cloud, sizeof(f->default_cloud), c->name);
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* ---- sealed credentials ------------------------------------------------------------------- */

/* The master key: NEPHELE_MASTER_KEY (base64 of 32 bytes), or the key file (created with 32
 * random bytes, 0600, when missing). */
static int load_master_key(struct fed *f, struct nph_error *err)
{
    const char *env = getenv("NEPHELE_MASTER_KEY");
    char path[4096];
    if (env && *env) {
        uint8_t buf[64];
        if (strlen(env) > 88 || nph_b64_decode(env, strlen(env), buf) != 32)
            return nph_error_set(err, NPH_E_INVALID,
                                 "NEPHELE_MASTER_KEY must be 32 bytes in base64");
        memcpy(f->master_key, buf, 32);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
    }
    if (f->cfg->federation_master_key_file[0])
        snprintf(path, sizeof(path), "%s", f->cfg->federation_master_key_file);
    else
        snprintf(path, sizeof(path), "%s/master.key", f->cfg->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        uint8_t key[32];
        if (nph_random_bytes(key, sizeof(key), err))
            return -1;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, key, sizeof(key));
            if (close(fd) != 0 || w != (ssize_t)sizeof(key)) {
                unlink(path);
                return nph_error_set(err, NPH_E_IO, "cannot write master key '%s'", path);
            }
            nph_log(NPH_LOG_INFO, "federation.master_key", "msg", "created a master key", "path",
                    path, NULL);
        }
        OPENSSL_cleanse(key, sizeof(key));
        fd = open(path, O_RDONLY | O_CLOEXEC); /* a concurrent creator may have won */
    }
    if (fd < 0)
        return nph_error_set(err, NPH_E_IO, "cannot open master key '%s': %s", path,
                             strerror(errno));
    ssize_t n = read(fd, f->master_key, sizeof(f->master_key));
    char extra;
    ssize_t more = read(fd, &extra, 1);
    close(fd);
    if (n != 32 || more != 0)
        return nph_error_set(err, NPH_E_INVALID, "master key '%s' must hold exactly 32 bytes",
                             path);
    return 0;
}

/* base64(AES-256-GCM(config JSON)) with the cloud name as associated data. */
static char *seal(struct fed *f, const char *name, const json_t *config, struct nph_error *err)
{
    char *plain = nph_json_dumps(config);
    if (!plain) {
        nph_error_nomem(err);
        return NULL;
    }
    size_t len = strlen(plain);
    uint8_t *ct = malloc(len + NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN);
    char *out = NULL;
    long n = ct ? nph_aead_encrypt(f->master_key, name, strlen(name), plain, len, ct, err) : -1;
    if (n > 0 && (out = malloc(nph_b64_encoded_len((size_t)n) + 1)))
        out[nph_b64_encode(ct, (size_t)n, out)] = '\0';
    if (!ct || (n > 0 && !out))
        nph_error_nomem(err);
    OPENSSL_cleanse(plain, len);
    free(plain);
    free(ct);
    return out;
}

static json_t *unseal(struct fed *f, const char *name, const char *sealed, struct nph_error *err)
{
    size_t len = strlen(sealed);
    uint8_t *ct = malloc(len);
    uint8_t *plain = malloc(len + 1);
    json_t *out = NULL;
    long n = ct ? nph_b64_decode(sealed, len, ct) : -1;
    long m = (n > 0 && plain)
                 ? nph_aead_decrypt(f->master_key, name, strlen(name), ct, (size_t)n, plain, err)
                 : -1;
    if (m >= 0) {
        out = nph_json_parse((const char *)plain, (size_t)m, 64, 1, err);
        OPENSSL_cleanse(plain, (size_t)m);
    } else if (n <= 0) {
        nph_error_set(err, NPH_E_INTERNAL, "stored credentials of cloud '%s' are corrupt", name);
    } else {
        nph_error_prefix(err, "cannot unseal the credentials of cloud '%s' (wrong master key?)",
                         name);
    }
    free(ct);
    free(plain);
    return out;
}

/* ---- open / close ------------------------------------------------------------------------- */

static int load_stored_clouds(struct fed *f, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return -1;
    struct nph_stmt *st =
        nph_db_prepare(db, "SELECT name, config FROM fed_cloud ORDER BY created_at, name", err);
    int rc = st ? 0 : -1, step;
    while (st && (step = nph_stmt_step(st, err)) == 1) {
        const char *name = nph_stmt_col_text(st, 0);
        json_t *conf = unseal(f, name, nph_stmt_col_text(st, 1), err);
        struct fed_cloud *c = conf ? cloud_new(f, conf, "api", err) : NULL;
        json_decref(conf);
        if (!c || registry_add(f, c, err) != 0) {
            cloud_free(c);
            rc = nph_error_prefix(err, "stored cloud '%s'", name);
            break;
        }
    }
    if (st && step < 0)
        rc = -1;
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

struct fed *fed_open(struct nph_store *store, const struct nph_config *cfg,
                     const struct nph_backend_host *host, struct nph_error *err)
{
    const json_t *clouds = json_object_get(cfg->sections, "clouds");
    struct fed *f = calloc(1, sizeof(*f));
    if (!f) {
        nph_error_nomem(err);
        return NULL;
    }
    f->store = store;
    f->cfg = cfg;
    f->host = host;
    pthread_rwlock_init(&f->lock, NULL);
    pthread_mutex_init(&f->cloud_mu, NULL);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    const char *fi = getenv("NEPHELE_FAULT_INJECTION");
    f->fault_injection = fi && strcmp(fi, "1") == 0;
    if (nph_uuid4(f->instance) != 0 || fed_check_clouds(clouds, err) != 0 ||
        load_master_key(f, err) != 0)
        goto fail;
    if (!clouds || json_array_size(clouds) == 0) {
        /* No `clouds:` section: the native cloud alone, named "local". */
        json_t *e = json_pack("{s:s,s:s}", "name", "local", "kind", "local");
        struct fed_cloud *c = e ? cloud_new(f, e, "config", err) : NULL;
        json_decref(e);
        if (!c || registry_add(f, c, err) != 0) {
            cloud_free(c);
            goto fail;
        }
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(clouds, i, e)
        {
            struct fed_cloud *c = cloud_new(f, e, "config", err);
            if (!c || registry_add(f, c, err) != 0) {
                cloud_free(c);
                nph_error_prefix(err, "clouds[%zu]", i);
                goto fail;
            }
            if (json_is_true(json_object_get(e, "default")))
                nph_backend_strlcpy(f->default_cloud, sizeof(f->default_cloud), c->name);
        }
    }
    if (cfg->federation_default_cloud[0]) {
        if (!fed_cloud_find(f, cfg->federation_default_cloud, err)) {
            nph_error_prefix(err, "'federation.default_cloud'");
            goto fail;
        }
        nph_backend_strlcpy(f->default_cloud, sizeof(f->default_cloud),
                            cfg->federation_default_cloud);
    }
    if (load_stored_clouds(f, err) != 0)
        goto fail;
    return f;
fail:
    fed_close(f);
    return NULL;
}

static void *health_main(void *arg);
static void *sync_main(void *arg);

int fed_start(struct fed *f, struct nph_error *err)
{
    int n = (int)f->cfg->federation_workers;
    if (nph_store_engine(f->store) == NPH_STORE_SQLITE) {
        /* one process serves a SQLite store: leases left by a previous process (killed mid-
         * operation) are void now, so its operations resume at once */
        struct nph_db *db = nph_store_acquire(f->store, err);
        int rc = !db || nph_db_exec(db,
                                    "UPDATE fed_operation SET lease_owner = '', lease_until = 0"
                                    " WHERE state IN ('pending','running')",
                                    err);
        nph_store_release(db);
        if (rc)
            return -1;
    }
    pthread_mutex_lock(&f->mu);
    f->stopping = 0;
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < n && i < 64; i++) {
        if (pthread_create(&f->workers[i], NULL, fed_worker_main, f) != 0)
            return nph_error_set(err, NPH_E_INTERNAL, "cannot start federation workers");
        f->n_workers++;
    }
    if (pthread_create(&f->health_thread, NULL, health_main, f) != 0 ||
        pthread_create(&f->reconcile_thread, NULL, fed_reconcile_main, f) != 0 ||
        pthread_create(&f->sync_thread, NULL, sync_main, f) != 0)
        return nph_error_set(err, NPH_E_INTERNAL, "cannot start federation loops");
    f->started = 1;
    return 0;
}

void fed_close(struct fed *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < f->n_workers; i++)
        pthread_join(f->workers[i], NULL);
    if (f->started) {
        pthread_join(f->health_thread, NULL);
        pthread_join(f->reconcile_thread, NULL);
        pthread_join(f->sync_thread, NULL);
    }
    for (size_t i = 0; i < f->n_clouds; i++)
        cloud_free(f->clouds[i]);
    OPENSSL_cleanse(f->master_key, sizeof(f->master_key));
    pthread_rwlock_destroy(&f->lock);
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->cloud_mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

void fed_wake(struct fed *f)
{
    pthread_mutex_lock(&f->mu);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

int fed_sleep(struct fed *f, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&f->mu);
    if (!f->stopping)
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    int stop = f->stopping;
    pthread_mutex_unlock(&f->mu);
    return stop;
}

/* ---- the call wrapper --------------------------------------------------------------------- */

static const int64_t hist_bounds_us[FED_N_BUCKETS - 1] = {250,    500,     1000,    2500,    5000,
                                                          10000,  25000,   50000,   100000,  250000,
                                                          500000, 1000000, 2500000, 10000000};
static const char *const hist_le[FED_N_BUCKETS] = {"0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                                   "0.01",    "0.025",  "0.05",  "0.1",    "0.25",
                                                   "0.5",     "1",      "2.5",   "10",     "+Inf"};

/* Whether an error means the cloud is unwell (counts toward opening the breaker). */
static int is_cloud_failure(int code)
{
    return code == NPH_E_UNAVAILABLE || code == NPH_E_TIMEOUT || code == NPH_E_BACKEND;
}

int fed_call_begin(struct fed *f, struct fed_cloud *c, enum fed_op op, const struct fed_caller *who,
                   struct fed_call *k, struct nph_error *err)
{
    struct fed_fault fault = {0};
    int64_t now = nph_clock_now();
    memset(k, 0, sizeof(*k));
    k->f = f;
    k->cloud = c;
    k->op = op;
    k->ctx.project_id = who ? who->project_id : NULL;
    k->ctx.user_id = who ? who->user_id : NULL;
    k->ctx.request_id = who ? who->request_id : NULL;
    k->ctx.timeout_ms = (long)f->cfg->federation_call_timeout_ms;

    pthread_mutex_lock(&c->mu);
    if (c->breaker == FED_BREAKER_OPEN &&
        now - c->opened_at >= f->cfg->federation_breaker_cooldown * 1000000LL) {
        c->breaker = FED_BREAKER_HALF_OPEN;
        c->probe_in_flight = 0;
    }
    int refuse = c->breaker == FED_BREAKER_OPEN ||
                 (c->breaker == FED_BREAKER_HALF_OPEN && c->probe_in_flight);
    if (!refuse && c->breaker == FED_BREAKER_HALF_OPEN) {
        c->probe_in_flight = 1;
        k->probe = 1;
    }
    char last[sizeof(c->last_error)];
    memcpy(last, c->last_error, sizeof(last));
    int64_t retry_s = f->cfg->federation_breaker_cooldown - (now - c->opened_at) / 1000000;
    if (c->fault.active && c->fault.count != 0 &&
        (strcmp(c->fault.op, "*") == 0 || strcmp(c->fault.op, fed_op_name(op)) == 0)) {
        fault = c->fault;
        if (c->fault.count > 0 && --c->fault.count == 0)
            c->fault.active = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (refuse) {
        atomic_fetch_add_explicit(&c->hist[op].errors, 1, memory_order_relaxed);
        nph_error_set(err, NPH_E_UNAVAILABLE,
                      "cloud '%s' is down: its circuit breaker is open (retry in %llds)", c->name,
                      (long long)(retry_s > 0 ? retry_s : 1));
        if (last[0])
            nph_error_detail(err, "last error: %s", last);
        return -1;
    }
    k->t0 = nph_clock_mono();
    if (fault.active) {
        k->exit_after = fault.exit_after;
        if (fault.exit) {
            nph_log(NPH_LOG_WARN, "federation.fault", "cloud", c->name, "op", fed_op_name(op),
                    "action", "exit", NULL);
            _exit(137);
        }
        if (fault.delay_ms > 0) {
            struct timespec ts = {fault.delay_ms / 1000, (fault.delay_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        if (fault.code) {
            nph_error_set(err, (enum nph_err_code)fault.code, "injected fault on cloud '%s' (%s)",
                          c->name, fed_op_name(op));
            fed_call_end(k, -1, err);
            return -1;
        }
    }
    return 0;
}

int fed_call_end(struct fed_call *k, int rc, struct nph_error *err)
{
    struct fed_cloud *c = k->cloud;
    if (k->exit_after) {
        nph_log(NPH_LOG_WARN, "federation.fault", "cloud", c->name, "op", fed_op_name(k->op),
                "action", "exit_after", NULL);
        _exit(137);
    }
    int64_t us = nph_clock_mono() - k->t0;
    struct fed_histogram *h = &c->hist[k->op];
    size_t b = 0;
    while (b < FED_N_BUCKETS - 1 && us > hist_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint_fast64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    int failed = rc != 0 && is_cloud_failure(err->code);
    int opened = 0;
    pthread_mutex_lock(&c->mu);
    if (k->probe)
        c->probe_in_flight = 0;
    if (failed) {
        c->failures++;
        nph_utf8_sanitize(err->msg, c->last_error, sizeof(c->last_error));
        if (c->breaker == FED_BREAKER_HALF_OPEN ||
            (c->breaker == FED_BREAKER_CLOSED &&
             c->failures >= k->f->cfg->federation_breaker_failures)) {
            opened = c->breaker != FED_BREAKER_OPEN;
            c->breaker = FED_BREAKER_OPEN;
            c->opened_at = nph_clock_now();
        }
    } else {
        c->failures = 0;
        c->breaker = FED_BREAKER_CLOSED;
        c->last_ok = nph_clock_now();
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        atomic_fetch_add_explicit(&h->errors, 1, memory_order_relaxed);
        if (failed)
            nph_log(NPH_LOG_WARN, "federation.call_failed", "cloud", c->name, "op",
                    fed_op_name(k->op), "error", nph_error_name(err->code), "msg", err->msg, NULL);
    }
    if (opened)
        nph_log(NPH_LOG_WARN, "federation.breaker_open", "cloud", c->name, "last_error", err->msg,
                NULL);
    return rc;
}

/* ---- health ------------------------------------------------------------------------------- */

static void probe(struct fed *f, struct fed_cloud *c)
{
    struct nph_error err = {0};
    struct fed_call k;
    pthread_mutex_lock(&c->mu);
    /* the probe is what closes an open breaker: let it through once the cooldown is over */
    int64_t now = nph_clock_now();
    int skip = c->breaker == FED_BREAKER_OPEN &&
               now - c->opened_at < f->cfg->federation_breaker_cooldown * 1000000LL;
    c->last_probe = now;
    pthread_mutex_unlock(&c->mu);
    if (skip)
        return;
    if (fed_call_begin(f, c, FED_OP_HEALTH, NULL, &k, &err) == 0) {
        int was_open = c->breaker != FED_BREAKER_CLOSED;
        if (fed_call_end(&k, c->b->ops->health(c->b, &k.ctx, &err), &err) == 0 && was_open)
            nph_log(NPH_LOG_INFO, "federation.breaker_closed", "cloud", c->name, NULL);
    }
}

/* A cloud leaves the registry (f->lock held for writing); the default moves to the first left. */
static void mark_removed_locked(struct fed *f, struct fed_cloud *c)
{
    c->removed = 1;
    if (strcmp(f->default_cloud, c->name) != 0)
        return;
    f->default_cloud[0] = '\0';
    for (size_t i = 0; i < f->n_clouds && !f->default_cloud[0]; i++)
        if (!f->clouds[i]->removed)
            nph_backend_strlcpy(f->default_cloud, sizeof(f->default_cloud), f->clouds[i]->name);
}

/* Another broker on the same store may have added or removed clouds through /v1/clouds:
 * take up the stored clouds this registry lacks and drop the API clouds the store no longer
 * has. Runs each health interval, so a change reaches every broker within one. */
static void sync_stored_clouds_locked(struct fed *f)
{
    struct nph_error err = NPH_ERROR_INIT;
    char names[FED_MAX_CLOUDS][64];
    size_t n = 0;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db, "SELECT name, config FROM fed_cloud ORDER BY created_at, name",
                            &err)
           : NULL;
    int step = st ? 0 : -1;
    while (st && (step = nph_stmt_step(st, &err)) == 1) {
        const char *name = nph_stmt_col_text(st, 0);
        if (n < FED_MAX_CLOUDS)
            nph_backend_strlcpy(names[n++], sizeof(names[0]), name);
        if (fed_cloud_find(f, name, NULL))
            continue;
        struct nph_error e2 = NPH_ERROR_INIT;
        json_t *conf = unseal(f, name, nph_stmt_col_text(st, 1), &e2);
        struct fed_cloud *c = conf ? cloud_new(f, conf, "api", &e2) : NULL;
        json_decref(conf);
        if (c && registry_add(f, c, &e2) == 0) {
            nph_log(NPH_LOG_INFO, "federation.cloud_added", "cloud", name, "kind", c->kind,
                    "source", "store", NULL);
        } else {
            cloud_free(c);
            if (e2.code != NPH_E_CONFLICT) /* a concurrent add of ours: nothing to do */
                nph_log(NPH_LOG_WARN, "federation.cloud_sync", "cloud", name, "msg", e2.msg, NULL);
        }
    }
    nph_stmt_done(st);
    nph_store_release(db);
    if (step < 0) {
        nph_log(NPH_LOG_WARN, "federation.cloud_sync", "msg", err.msg, NULL);
        return; /* never drop clouds on a failed read */
    }
    pthread_rwlock_wrlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++) {
        struct fed_cloud *c = f->clouds[i];
        int stored = 0;
        if (c->removed || strcmp(c->source, "api") != 0)
            continue;
        for (size_t k = 0; k < n && !stored; k++)
            stored = strcmp(names[k], c->name) == 0;
        if (stored)
            continue;
        mark_removed_locked(f, c);
        nph_log(NPH_LOG_INFO, "federation.cloud_removed", "cloud", c->name, "source", "store",
                NULL);
    }
    pthread_rwlock_unlock(&f->lock);
}

static void sync_stored_clouds(struct fed *f)
{
    pthread_mutex_lock(&f->cloud_mu);
    sync_stored_clouds_locked(f);
    pthread_mutex_unlock(&f->cloud_mu);
}

/* The sync runs on its own thread, so that a slow probe never delays it. */
static void *sync_main(void *arg)
{
    struct fed *f = arg;
    int64_t every = f->cfg->federation_health_interval * 1000000, next = nph_clock_mono() + every;
    for (;;) {
        int64_t left = next - nph_clock_mono();
        if (left > 0) { /* fed_wake (every create) ends a sleep early: sleep the rest */
            if (fed_sleep(f, (left + 999) / 1000))
                return NULL;
            continue;
        }
        sync_stored_clouds(f);
        next = nph_clock_mono() + every;
    }
}

static void *health_main(void *arg)
{
    struct fed *f = arg;
    for (;;) {
        struct fed_cloud *list[FED_MAX_CLOUDS];
        size_t n = 0;
        pthread_rwlock_rdlock(&f->lock);
        for (size_t i = 0; i < f->n_clouds; i++)
            if (!f->clouds[i]->removed)
                list[n++] = f->clouds[i];
        pthread_rwlock_unlock(&f->lock);
        for (size_t i = 0; i < n; i++)
            probe(f, list[i]);
        if (fed_sleep(f, f->cfg->federation_health_interval * 1000))
            return NULL;
    }
}

/* ---- offerings ---------------------------------------------------------------------------- */

int fed_cloud_fit(struct fed *f, struct fed_cloud *c, const struct fed_caller *who, unsigned vcpus,
                  uint64_t ram_mb, uint64_t disk_gb, struct nph_offering *out,
                  struct nph_error *err)
{
    const struct nph_compute_ops *ops = nph_backend_compute(c->b, err);
    if (!ops)
        return -1;
    int64_t now = nph_clock_now();
    pthread_mutex_lock(&c->mu);
    int fresh = c->offerings_at && now - c->offerings_at < OFFERINGS_TTL_US;
    pthread_mutex_unlock(&c->mu);
    if (!fresh) {
        struct nph_offering_list l = {0};
        struct fed_call k;
        if (fed_call_begin(f, c, FED_OP_LIST_OFFERINGS, who, &k, err) ||
            fed_call_end(&k, ops->list_offerings(c->b, &k.ctx, &l, err), err)) {
            nph_offering_list_fini(&l);
            return -1;
        }
        pthread_mutex_lock(&c->mu);
        nph_offering_list_fini(&c->offerings);
        c->offerings = l;
        c->offerings_at = now;
        pthread_mutex_unlock(&c->mu);
    }
    /* the smallest that fits: least RAM, then vCPUs, then disk, then name */
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->offerings.n; i++) {
        const struct nph_offering *o = &c->offerings.v[i];
        if (o->vcpus < vcpus || o->ram_mb < ram_mb || o->disk_gb < disk_gb)
            continue;
        if (!found || o->ram_mb < out->ram_mb ||
            (o->ram_mb == out->ram_mb &&
             (o->vcpus < out->vcpus ||
              (o->vcpus == out->vcpus &&
               (o->disk_gb < out->disk_gb ||
                (o->disk_gb == out->disk_gb && strcmp(o->name, out->name) < 0)))))) {
            *out = *o;
            found = 1;
        }
    }
    size_t n = c->offerings.n;
    pthread_mutex_unlock(&c->mu);
    if (!found)
        return nph_error_set(err, NPH_E_INVALID,
                             "cloud '%s' offers no size with at least %u vCPUs, %llu MiB RAM and "
                             "%llu GiB disk (%zu offerings)",
                             c->name, vcpus, (unsigned long long)ram_mb,
                             (unsigned long long)disk_gb, n);
    return 0;
}

int fed_cloud_offering(struct fed *f, struct fed_cloud *c, const struct fed_caller *who,
                       const char *name, struct nph_offering *out, struct nph_error *err)
{
    struct nph_offering any;
    if (fed_cloud_fit(f, c, who, 0, 0, 0, &any, err)) /* fills the cache */
        return -1;
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->offerings.n && !found; i++)
        if (strcmp(c->offerings.v[i].name, name) == 0) {
            *out = c->offerings.v[i];
            found = 1;
        }
    pthread_mutex_unlock(&c->mu);
    return found ? 0
                 : nph_error_set(err, NPH_E_INVALID, "cloud '%s' offers no size named '%s'",
                                 c->name, name);
}

/* ---- rendering and admin ------------------------------------------------------------------ */

static const char *const secret_keys[] = {"password", "application_credential_secret", "token",
                                          "secret", NULL};

/* A deep copy of the entry with every secret replaced by "***". */
static json_t *redacted(const json_t *v)
{
    json_t *copy = json_deep_copy(v);
    json_t *auth = json_object_get(copy, "auth");
    for (size_t i = 0; auth && secret_keys[i]; i++)
        if (json_object_get(auth, secret_keys[i]))
            json_object_set_new(auth, secret_keys[i], json_string("***"));
    return copy;
}

static json_t *cloud_json(struct fed *f, struct fed_cloud *c)
{
    static const char *const breakers[] = {"closed", "open", "half-open"};
    char probe_at[32] = "", ok_at[32] = "";
    pthread_mutex_lock(&c->mu);
    enum fed_breaker br = c->breaker;
    int failures = c->failures;
    int64_t last_probe = c->last_probe, last_ok = c->last_ok;
    char last_error[sizeof(c->last_error)];
    memcpy(last_error, c->last_error, sizeof(last_error));
    pthread_mutex_unlock(&c->mu);
    if (last_probe)
        fed_iso8601(last_probe, probe_at);
    if (last_ok)
        fed_iso8601(last_ok, ok_at);
    const char *state = br == FED_BREAKER_OPEN                          ? "down"
                        : (br == FED_BREAKER_HALF_OPEN || failures > 0) ? "degraded"
                                                                        : "up";
    json_t *families = json_array();
    static const struct {
        unsigned bit;
        const char *name;
    } fams[] = {{NPH_FAM_COMPUTE, "compute"}, {NPH_FAM_IMAGE, "image"},
                {NPH_FAM_VOLUME, "volume"},   {NPH_FAM_OBJECT, "object"},
                {NPH_FAM_NETWORK, "network"}, {NPH_FAM_USAGE, "usage"}};
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
        if (nph_backend_families(c->b) & fams[i].bit)
            json_array_append_new(families, json_string(fams[i].name));
    json_t *labels = json_object_get(c->config, "labels");
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s?,s:s?,s:s?,s:O,s:o,s:b,s:o}", "id", c->name, "name",
        c->name, "kind", c->kind, "source", c->source, "region", c->region, "state", state,
        "failures", failures, "last_error", last_error[0] ? last_error : NULL, "last_probe",
        probe_at[0] ? probe_at : NULL, "last_ok", ok_at[0] ? ok_at : NULL, "labels",
        labels ? labels : json_object(), "families", families, "default",
        strcmp(c->name, f->default_cloud) == 0, "config", redacted(c->config));
    if (o)
        json_object_set_new(o, "breaker", json_string(breakers[br]));
    if (!labels)
        json_decref(json_object_get(o, "labels")); /* s:O took a reference of the temporary */
    return o;
}

json_t *fed_cloud_list(struct fed *f, struct nph_error *err)
{
    json_t *arr = json_array();
    if (!arr) {
        nph_error_nomem(err);
        return NULL;
    }
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++)
        if (!f->clouds[i]->removed)
            json_array_append_new(arr, cloud_json(f, f->clouds[i]));
    pthread_rwlock_unlock(&f->lock);
    return arr;
}

json_t *fed_cloud_get(struct fed *f, const char *name, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, name, err);
    json_t *o = c ? cloud_json(f, c) : NULL;
    if (c && !o)
        nph_error_nomem(err);
    return o;
}

static json_t *cloud_add(struct fed *f, const json_t *config, struct nph_error *err)
{
    if (check_entry(config, "cloud", err) != 0)
        return NULL;
    if (strcmp(json_string_value(json_object_get(config, "kind")), "local") == 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "the native cloud (kind 'local') is configured in the configuration file");
        return NULL;
    }
    if (json_object_get(config, "default")) {
        nph_error_set(err, NPH_E_INVALID,
                      "'default' is set in the configuration file (federation.default_cloud)");
        return NULL;
    }
    const char *name = json_string_value(json_object_get(config, "name"));
    if (fed_cloud_find(f, name, NULL)) {
        nph_error_set(err, NPH_E_CONFLICT, "a cloud named '%s' exists already", name);
        return NULL;
    }
    struct fed_cloud *c = cloud_new(f, config, "api", err);
    if (!c)
        return NULL;
    char *sealed = seal(f, name, config, err);
    struct nph_db *db = sealed ? nph_store_acquire(f->store, err) : NULL;
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "INSERT INTO fed_cloud (name, kind, config, created_at) VALUES "
                            "(?, ?, ?, ?)",
                            err)
           : NULL;
    int rc =
        st && !nph_stmt_bind_text(st, 1, name, err) && !nph_stmt_bind_text(st, 2, c->kind, err) &&
                !nph_stmt_bind_text(st, 3, sealed, err) &&
                !nph_stmt_bind_int64(st, 4, nph_clock_now(), err) && nph_stmt_step(st, err) >= 0
            ? 0
            : -1;
    nph_stmt_done(st);
    nph_store_release(db);
    if (sealed)
        OPENSSL_cleanse(sealed, strlen(sealed));
    free(sealed);
    if (rc == 0 && registry_add(f, c, err) != 0) {
        /* lost a race with a concurrent add of the same name (or the table is full): the
         * row this call wrote goes again */
        struct nph_error e2 = {0};
        struct nph_db *d2 = nph_store_acquire(f->store, &e2);
        struct nph_stmt *del =
            d2 ? nph_db_prepare(d2, "DELETE FROM fed_cloud WHERE name = ?", &e2) : NULL;
        if (del && nph_stmt_bind_text(del, 1, name, &e2) == 0)
            nph_stmt_step(del, &e2);
        nph_stmt_done(del);
        nph_store_release(d2);
        cloud_free(c);
        return NULL;
    }
    if (rc != 0) {
        if (err->code == NPH_E_STORE)
            nph_error_set(err, NPH_E_CONFLICT, "a cloud named '%s' exists already", name);
        cloud_free(c);
        return NULL;
    }
    nph_log(NPH_LOG_INFO, "federation.cloud_added", "cloud", name, "kind", c->kind, NULL);
    return cloud_json(f, c);
}

static int cloud_remove(struct fed *f, const char *name, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(f, name, err);
    if (!c)
        return -1;
    if (strcmp(c->source, "config") == 0)
        return nph_error_set(err, NPH_E_CONFLICT,
                             "cloud '%s' comes from the configuration file; remove it there", name);
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return -1;
    int64_t live = 0;
    struct nph_stmt *st = nph_db_prepare(
        db, "SELECT COUNT(*) FROM fed_server WHERE cloud = ? AND status <> 'DELETED'", err);
    int rc = st && !nph_stmt_bind_text(st, 1, name, err) && nph_stmt_step(st, err) == 1 ? 0 : -1;
    if (rc == 0)
        live = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    if (rc == 0 && live > 0)
        rc = nph_error_set(err, NPH_E_CONFLICT,
                           "cloud '%s' still holds %lld server(s) of Nephele's; delete them first",
                           name, (long long)live);
    if (rc == 0) {
        st = nph_db_prepare(db, "DELETE FROM fed_cloud WHERE name = ?", err);
        rc = st && !nph_stmt_bind_text(st, 1, name, err) && nph_stmt_step(st, err) >= 0 ? 0 : -1;
        nph_stmt_done(st);
    }
    nph_store_release(db);
    if (rc != 0)
        return -1;
    pthread_rwlock_wrlock(&f->lock);
    mark_removed_locked(f, c);
    pthread_rwlock_unlock(&f->lock);
    nph_log(NPH_LOG_INFO, "federation.cloud_removed", "cloud", name, NULL);
    return 0;
}

json_t *fed_cloud_add(struct fed *f, const json_t *config, struct nph_error *err)
{
    pthread_mutex_lock(&f->cloud_mu);
    json_t *out = cloud_add(f, config, err);
    pthread_mutex_unlock(&f->cloud_mu);
    return out;
}

int fed_cloud_remove(struct fed *f, const char *name, struct nph_error *err)
{
    pthread_mutex_lock(&f->cloud_mu);
    int rc = cloud_remove(f, name, err);
    pthread_mutex_unlock(&f->cloud_mu);
    return rc;
}

int fed_cloud_set_fault(struct fed *f, const char *name, const json_t *spec, struct nph_error *err)
{
    if (!f->fault_injection)
        return nph_error_set(err, NPH_E_FORBIDDEN,
                             "fault injection is off (NEPHELE_FAULT_INJECTION=1 turns it on)");
    struct fed_cloud *c = fed_cloud_find(f, name, err);
    if (!c)
        return -1;
    struct fed_fault fault = {0};
    if (spec && !json_is_null(spec)) {
        static const char *const keys[] = {"op",   "error",      "delay_ms", "count",
                                           "exit", "exit_after", NULL};
        const char *op = "*", *code = NULL;
        int64_t delay = 0, count = -1;
        int ex = 0, ex_after = 0;
        if (nph_json_check_keys(spec, "fault", keys, err) ||
            nph_json_get_str(spec, "op", "op", 0, 31, &op, err) < 0 ||
            nph_json_get_str(spec, "error", "error", 0, 64, &code, err) < 0 ||
            nph_json_get_int(spec, "delay_ms", "delay_ms", 0, &delay, err) < 0 ||
            nph_json_get_int(spec, "count", "count", 0, &count, err) < 0 ||
            nph_json_get_bool(spec, "exit", "exit", 0, &ex, err) < 0 ||
            nph_json_get_bool(spec, "exit_after", "exit_after", 0, &ex_after, err) < 0)
            return -1;
        fault.active = 1;
        nph_backend_strlcpy(fault.op, sizeof(fault.op), op);
        fault.delay_ms = delay < 0 ? 0 : delay > 600000 ? 600000 : (long)delay;
        fault.count = (int)(count > 1000000 ? 1000000 : count);
        fault.exit = ex;
        fault.exit_after = ex_after;
        if (code) {
            for (int i = 1; i < 64 && !fault.code; i++)
                if (strcmp(nph_error_name((enum nph_err_code)i), code) == 0)
                    fault.code = i;
            if (!fault.code)
                return nph_error_set(err, NPH_E_INVALID, "unknown error name '%s'", code);
        }
    }
    pthread_mutex_lock(&c->mu);
    c->fault = fault;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- metrics ------------------------------------------------------------------------------ */

struct mbuf {
    char *s;
    size_t len, cap;
    int oom;
};

__attribute__((format(printf, 2, 3))) static void madd(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

char *fed_metrics_render(struct fed *f, size_t *len)
{
    struct mbuf b = {0};
    madd(&b, "# HELP nephele_backend_call_seconds Time of calls to clouds, per cloud and "
             "operation.\n# TYPE nephele_backend_call_seconds histogram\n");
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++) {
        struct fed_cloud *c = f->clouds[i];
        for (int op = 0; op < FED_OP_COUNT; op++) {
            struct fed_histogram *h = &c->hist[op];
            uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
            if (!count)
                continue;
            uint64_t cum = 0;
            for (int bk = 0; bk < FED_N_BUCKETS; bk++) {
                cum += atomic_load_explicit(&h->bucket[bk], memory_order_relaxed);
                madd(&b,
                     "nephele_backend_call_seconds_bucket{cloud=\"%s\",op=\"%s\",le=\"%s\"} "
                     "%llu\n",
                     c->name, op_names[op], hist_le[bk], (unsigned long long)cum);
            }
            uint64_t sum = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
            madd(&b,
                 "nephele_backend_call_seconds_sum{cloud=\"%s\",op=\"%s\"} %llu.%06llu\n"
                 "nephele_backend_call_seconds_count{cloud=\"%s\",op=\"%s\"} %llu\n",
                 c->name, op_names[op], (unsigned long long)(sum / 1000000),
                 (unsigned long long)(sum % 1000000), c->name, op_names[op],
                 (unsigned long long)count);
        }
    }
    madd(&b, "# HELP nephele_backend_call_errors_total Failed or refused calls to clouds.\n"
             "# TYPE nephele_backend_call_errors_total counter\n");
    for (size_t i = 0; i < f->n_clouds; i++)
        for (int op = 0; op < FED_OP_COUNT; op++) {
            uint64_t e = atomic_load_explicit(&f->clouds[i]->hist[op].errors, memory_order_relaxed);
            if (e)
                madd(&b, "nephele_backend_call_errors_total{cloud=\"%s\",op=\"%s\"} %llu\n",
                     f->clouds[i]->name, op_names[op], (unsigned long long)e);
        }
    madd(&b, "# HELP nephele_cloud_breaker_state 0 closed, 1 half-open, 2 open.\n"
             "# TYPE nephele_cloud_breaker_state gauge\n");
    for (size_t i = 0; i < f->n_clouds; i++) {
        struct fed_cloud *c = f->clouds[i];
        if (c->removed)
            continue;
        pthread_mutex_lock(&c->mu);
        int v = c->breaker == FED_BREAKER_OPEN ? 2 : c->breaker == FED_BREAKER_HALF_OPEN ? 1 : 0;
        pthread_mutex_unlock(&c->mu);
        madd(&b, "nephele_cloud_breaker_state{cloud=\"%s\"} %d\n", c->name, v);
    }
    pthread_rwlock_unlock(&f->lock);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}
