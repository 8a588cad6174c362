/*
 * identity_token.c - self-contained tokens and their key repository.
 *
 * A token is base64url( 0x01 | kid[4] | iv[12] | AES-256-GCM(payload) | tag[16] ), where kid
 * is the first four bytes of SHA-256 of the key that sealed it and the version byte and kid
 * are authenticated as associated data. The payload is a compact JSON object holding the
 * user, the scope, the roles, the methods, the issue and expiry times and the audit ids, so
 * validation needs no database read but the revocation check.
 *
 * The key repository is a directory of files named 0, 1, 2 ... each holding one base64 key,
 * in the manner of Keystone's Fernet repository: 0 is the staged key (the next primary, so
 * every process already accepts tokens sealed with it), the highest index is the primary
 * (seals new tokens), the others are secondary (still validate). Processes notice a
 * rotation by the directory's mtime, looked at no more than once a second.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "identity_internal.h"
#include "nph_clock.h"
#include "nph_json.h"

#define TOKEN_VERSION      0x01
#define TOKEN_MAX_LEN      8192
#define REVOCATION_KEEP_US (8LL * 24 * 3600 * NPH_USEC_PER_SEC)

static int write_key_file(const char *dir, int index, struct nph_error *err)
{
    uint8_t key[NPH_AEAD_KEY_LEN];
    char b64[64], tmp[4096], path[4096];
    int fd;
    size_t n;
    if (nph_random_bytes(key, sizeof(key), err))
        return -1;
    n = nph_b64_encode(key, sizeof(key), b64);
    OPENSSL_cleanse(key, sizeof(key));
    snprintf(tmp, sizeof(tmp), "%s/.tmp.%d", dir, index);
    snprintf(path, sizeof(path), "%s/%d", dir, index);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return nph_error_set(err, NPH_E_IO, "cannot write token key '%s': %s", tmp,
                             strerror(errno));
    if (write(fd, b64, n) != (ssize_t)n || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        OPENSSL_cleanse(b64, sizeof(b64));
        return nph_error_set(err, NPH_E_IO, "cannot write token key '%s'", tmp);
    }
    close(fd);
    OPENSSL_cleanse(b64, sizeof(b64));
    if (rename(tmp, path) != 0)
        return nph_error_set(err, NPH_E_IO, "cannot install token key '%s': %s", path,
                             strerror(errno));
    return 0;
}

/* Sorted indexes of the key files in dir. */
static int list_indexes(const char *dir, int *idx, int max, struct nph_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (!d)
        return nph_error_set(err, NPH_E_IO, "cannot open token key repository '%s': %s", dir,
                             strerror(errno));
    while ((de = readdir(d)) && n < max) {
        char *end;
        long v;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        v = strtol(de->d_name, &end, 10);
        if (*end || v < 0 || v > 1000000000)
            continue;
        idx[n++] = (int)v;
    }
    closedir(d);
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    }
    return n;
}

int ident_keys_setup(const char *dir, struct nph_error *err)
{
    int idx[IDENT_MAX_KEYS], n;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return nph_error_set(err, NPH_E_IO, "cannot create token key repository '%s': %s", dir,
                             strerror(errno));
    n = list_indexes(dir, idx, IDENT_MAX_KEYS, err);
    if (n < 0)
        return -1;
    if (n == 0 && (write_key_file(dir, 0, err) || write_key_file(dir, 1, err)))
        return -1;
    if (n == 1 && idx[0] == 0 && write_key_file(dir, 1, err))
        return -1;
    return 0;
}

int ident_keys_rotate(const char *dir, int max_active, int *primary, struct nph_error *err)
{
    int idx[IDENT_MAX_KEYS], n, next;
    char from[4096], to[4096];
    if (ident_keys_setup(dir, err))
        return -1;
    n = list_indexes(dir, idx, IDENT_MAX_KEYS, err);
    if (n < 0)
        return -1;
    next = idx[n - 1] + 1;
    /* The staged key becomes the primary: every process already accepts it. */
    snprintf(from, sizeof(from), "%s/0", dir);
    snprintf(to, sizeof(to), "%s/%d", dir, next);
    if (rename(from, to) != 0)
        return nph_error_set(err, NPH_E_IO, "cannot promote staged key: %s", strerror(errno));
    if (write_key_file(dir, 0, err))
        return -1;
    /* Keep staged + primary + (max_active - 2) secondaries. */
    n = list_indexes(dir, idx, IDENT_MAX_KEYS, err);
    if (n < 0)
        return -1;
    for (int i = 1; i <= n - max_active; i++) {
        snprintf(from, sizeof(from), "%s/%d", dir, idx[i]);
        unlink(from);
    }
    if (primary)
        *primary = next;
    return 0;
}

int ident_keys_load(struct local_identity *li, int force, struct nph_error *err)
{
    const char *dir = li->opts.keys_dir;
    struct stat sb;
    int idx[IDENT_MAX_KEYS], n;
    struct ident_key keys[IDENT_MAX_KEYS];
    int64_t now = nph_clock_mono(), mtime;
    if (!force && now - li->keys_checked_mono < NPH_USEC_PER_SEC)
        return 0;
    if (stat(dir, &sb) != 0)
        return nph_error_set(err, NPH_E_IO, "cannot stat token key repository '%s': %s", dir,
                             strerror(errno));
    mtime = (int64_t)sb.st_mtim.tv_sec * NPH_USEC_PER_SEC + sb.st_mtim.tv_nsec / 1000;
    if (!force && mtime == li->keys_mtime) {
        li->keys_checked_mono = now;
        return 0;
    }
    n = list_indexes(dir, idx, IDENT_MAX_KEYS, err);
    if (n < 0)
        return -1;
    if (n < 2)
        return nph_error_set(err, NPH_E_INTERNAL,
                             "token key repository '%s' holds fewer than 2 keys", dir);
    for (int i = 0; i < n; i++) {
        char path[4096], buf[128];
        uint8_t raw[96];
        FILE *f;
        size_t len;
        long dl;
        snprintf(path, sizeof(path), "%s/%d", dir, idx[i]);
        f = fopen(path, "r");
        if (!f)
            return nph_error_set(err, NPH_E_IO, "cannot read token key '%s': %s", path,
                                 strerror(errno));
        len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            len--;
        dl = nph_b64_decode(buf, len, raw);
        OPENSSL_cleanse(buf, sizeof(buf));
        if (dl != NPH_AEAD_KEY_LEN) {
            OPENSSL_cleanse(raw, sizeof(raw));
            return nph_error_set(err, NPH_E_INTERNAL, "token key '%s' is not a 32-byte key", path);
        }
        uint8_t digest[NPH_SHA256_LEN];
        keys[i].index = idx[i];
        memcpy(keys[i].key, raw, NPH_AEAD_KEY_LEN);
        nph_sha256(raw, NPH_AEAD_KEY_LEN, digest);
        memcpy(keys[i].kid, digest, sizeof(keys[i].kid));
        OPENSSL_cleanse(raw, sizeof(raw));
    }
    pthread_rwlock_wrlock(&li->keys_lock);
    memcpy(li->keys, keys, sizeof(keys[0]) * (size_t)n);
    li->n_keys = n;
    li->primary = n - 1;
    li->keys_mtime = mtime;
    li->keys_checked_mono = now;
    pthread_rwlock_unlock(&li->keys_lock);
    ident_token_cache_flush(li); /* a removed key must stop validating its tokens */
    OPENSSL_cleanse(keys, sizeof(keys));
    return 0;
}

static json_t *token_to_json(const struct ident_token *t)
{
    json_t *roles = json_array();
    for (int i = 0; i < t->n_roles; i++)
        json_array_append_new(roles, json_pack("[ss]", t->roles[i].id, t->roles[i].name));
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:o,s:i,s:I,s:I,s:s,s:s,s:s,s:s}", "u",
                     t->user_id, "un", t->user_name, "ud", t->user_domain_id, "udn",
                     t->user_domain_name, "s", (int)t->scope, "si", t->scope_id, "sn",
                     t->scope_name, "sd", t->scope_domain_id, "sdn", t->scope_domain_name, "r",
                     roles, "m", (int)t->methods, "ia", (json_int_t)t->issued_at, "ea",
                     (json_int_t)t->expires_at, "a", t->audit_id, "pa", t->parent_audit_id, "ac",
                     t->app_cred_id, "acn", t->app_cred_name);
}

static const char *str_or_empty(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

#define COPY(dst, key) snprintf(dst, sizeof(dst), "%s", str_or_empty(json_object_get(o, key)))

static int token_from_json(const json_t *o, struct ident_token *t)
{
    json_t *roles = json_object_get(o, "r"), *r;
    size_t i;
    if (!json_is_object(o) || !json_is_array(roles) || !json_is_string(json_object_get(o, "u")))
        return -1;
    memset(t, 0, sizeof(*t));
    COPY(t->user_id, "u");
    COPY(t->user_name, "un");
    COPY(t->user_domain_id, "ud");
    COPY(t->user_domain_name, "udn");
    t->scope = (enum ident_scope)json_integer_value(json_object_get(o, "s"));
    COPY(t->scope_id, "si");
    COPY(t->scope_name, "sn");
    COPY(t->scope_domain_id, "sd");
    COPY(t->scope_domain_name, "sdn");
    json_array_foreach(roles, i, r)
    {
        if (t->n_roles >= IDENT_MAX_ROLES)
            break;
        snprintf(t->roles[t->n_roles].id, sizeof(t->roles[0].id), "%s",
                 str_or_empty(json_array_get(r, 0)));
        snprintf(t->roles[t->n_roles].name, sizeof(t->roles[0].name), "%s",
                 str_or_empty(json_array_get(r, 1)));
        t->n_roles++;
    }
    t->methods = (unsigned)json_integer_value(json_object_get(o, "m"));
    t->issued_at = json_integer_value(json_object_get(o, "ia"));
    t->expires_at = json_integer_value(json_object_get(o, "ea"));
    COPY(t->audit_id, "a");
    COPY(t->parent_audit_id, "pa");
    COPY(t->app_cred_id, "ac");
    COPY(t->app_cred_name, "acn");
    return 0;
}

char *local_identity_token_encode(struct local_identity *li, const struct ident_token *t,
                                  struct nph_error *err)
{
    json_t *o;
    char *plain, *out = NULL;
    size_t plen;
    uint8_t *buf = NULL;
    long n;
    if (ident_keys_load(li, 0, err))
        return NULL;
    o = token_to_json(t);
    plain = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!plain) {
        nph_error_nomem(err);
        return NULL;
    }
    plen = strlen(plain);
    buf = malloc(5 + plen + NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN);
    if (!buf) {
        nph_error_nomem(err);
        goto cleanup;
    }
    pthread_rwlock_rdlock(&li->keys_lock);
    buf[0] = TOKEN_VERSION;
    memcpy(buf + 1, li->keys[li->primary].kid, 4);
    n = nph_aead_encrypt(li->keys[li->primary].key, buf, 5, plain, plen, buf + 5, err);
    pthread_rwlock_unlock(&li->keys_lock);
    if (n < 0)
        goto cleanup;
    out = malloc(nph_b64_encoded_len((size_t)n + 5) + 1);
    if (!out) {
        nph_error_nomem(err);
        goto cleanup;
    }
    nph_b64url_encode(buf, (size_t)n + 5, out);
cleanup:
    free(buf);
    free(plain);
    return out;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void ident_revcache_free(struct ident_revcache *rc)
{
    for (size_t i = 0; i < rc->cap; i++)
        free(rc->keys[i]);
    free(rc->keys);
    free(rc->vals);
    memset(rc, 0, sizeof(*rc));
}

/* Insert or raise key -> v. Returns 0, -1 on allocation failure. */
static int revcache_put(struct ident_revcache *rc, const char *key, int64_t v)
{
    size_t i = (size_t)fnv1a(key) & (rc->cap - 1);
    while (rc->keys[i]) {
        if (strcmp(rc->keys[i], key) == 0) {
            if (v > rc->vals[i])
                rc->vals[i] = v;
            return 0;
        }
        i = (i + 1) & (rc->cap - 1);
    }
    rc->keys[i] = strdup(key);
    if (!rc->keys[i])
        return -1;
    rc->vals[i] = v;
    rc->n++;
    return 0;
}

static int64_t revcache_get(const struct ident_revcache *rc, const char *key)
{
    size_t i;
    if (!rc->cap)
        return INT64_MIN;
    i = (size_t)fnv1a(key) & (rc->cap - 1);
    while (rc->keys[i]) {
        if (strcmp(rc->keys[i], key) == 0)
            return rc->vals[i];
        i = (i + 1) & (rc->cap - 1);
    }
    return INT64_MIN;
}

/* Read every live revocation event into a new table. */
static int revcache_load(struct local_identity *li, struct ident_revcache *out,
                         struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    struct nph_stmt *st;
    struct ident_revcache rc;
    int64_t count = 0;
    int s = -1;
    memset(&rc, 0, sizeof(rc));
    if (!db)
        return -1;
    st = nph_db_prepare(db, "SELECT COUNT(*) FROM identity_revocation WHERE expires_at > ?", err);
    if (!st || nph_stmt_bind_int64(st, 1, nph_clock_now(), err))
        goto cleanup;
    if (nph_stmt_step(st, err) == 1)
        count = nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    rc.cap = 64;
    while (rc.cap < (size_t)count * 3)
        rc.cap <<= 1;
    rc.keys = calloc(rc.cap, sizeof(*rc.keys));
    rc.vals = calloc(rc.cap, sizeof(*rc.vals));
    if (!rc.keys || !rc.vals) {
        nph_error_nomem(err);
        goto cleanup;
    }
    st = nph_db_prepare(db,
                        "SELECT audit_id, user_id, project_id, issued_before FROM"
                        " identity_revocation WHERE expires_at > ?",
                        err);
    if (!st || nph_stmt_bind_int64(st, 1, nph_clock_now(), err))
        goto cleanup;
    while ((s = nph_stmt_step(st, err)) == 1 && rc.n * 3 < rc.cap * 2) {
        const char *a = nph_stmt_col_text(st, 0), *u = nph_stmt_col_text(st, 1);
        const char *p = nph_stmt_col_text(st, 2);
        char key[2 * IDENT_ID_MAX + 40];
        if (a && *a)
            snprintf(key, sizeof(key), "a:%s", a);
        else if (u && p)
            snprintf(key, sizeof(key), "up:%s|%s", u, p);
        else if (u)
            snprintf(key, sizeof(key), "u:%s", u);
        else if (p)
            snprintf(key, sizeof(key), "p:%s", p);
        else
            continue;
        if (revcache_put(&rc, key, nph_stmt_col_int64(st, 3))) {
            nph_error_nomem(err);
            s = -1;
            break;
        }
    }
    nph_stmt_done(st);
    if (s < 0)
        goto cleanup;
    *out = rc;
    memset(&rc, 0, sizeof(rc));
cleanup:
    ident_revcache_free(&rc);
    nph_store_release(db);
    return s < 0 ? -1 : 0;
}

void ident_revocations_changed(struct local_identity *li)
{
    pthread_rwlock_wrlock(&li->rev_lock);
    li->rev_stale = 1;
    pthread_rwlock_unlock(&li->rev_lock);
}

/* 1 if a revocation event matches the token, 0 if not, -1 on error. The events come from
 * memory, reloaded when older than IDENT_REVOCATION_REFRESH_US or after a local revocation. */
static int is_revoked(struct local_identity *li, const struct ident_token *t, struct nph_error *err)
{
    int64_t now = nph_clock_mono(), newest = INT64_MIN, v;
    char key[2 * IDENT_ID_MAX + 40];
    int fresh;
    pthread_rwlock_rdlock(&li->rev_lock);
    fresh =
        !li->rev_stale && li->rev.cap && now - li->rev_loaded_mono < IDENT_REVOCATION_REFRESH_US;
    pthread_rwlock_unlock(&li->rev_lock);
    if (!fresh) {
        struct ident_revcache next, old;
        pthread_rwlock_wrlock(&li->rev_lock);
        /* Someone may have reloaded while we waited for the lock. */
        if (li->rev_stale || !li->rev.cap ||
            nph_clock_mono() - li->rev_loaded_mono >= IDENT_REVOCATION_REFRESH_US) {
            li->rev_stale = 0;
            if (revcache_load(li, &next, err)) {
                li->rev_stale = 1;
                pthread_rwlock_unlock(&li->rev_lock);
                return -1;
            }
            old = li->rev;
            li->rev = next;
            li->rev_loaded_mono = nph_clock_mono();
            ident_revcache_free(&old);
        }
        pthread_rwlock_unlock(&li->rev_lock);
    }
    pthread_rwlock_rdlock(&li->rev_lock);
    snprintf(key, sizeof(key), "a:%s", t->audit_id);
    newest = revcache_get(&li->rev, key);
    if (t->parent_audit_id[0]) {
        snprintf(key, sizeof(key), "a:%s", t->parent_audit_id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
    }
    snprintf(key, sizeof(key), "u:%s", t->user_id);
    v = revcache_get(&li->rev, key);
    newest = v > newest ? v : newest;
    /* Domain-wide events (the user's domain or the token's), roles and application
     * credentials deleted since the token was issued. */
    snprintf(key, sizeof(key), "p:domain:%s", t->user_domain_id);
    v = revcache_get(&li->rev, key);
    newest = v > newest ? v : newest;
    if (t->scope == IDENT_SCOPE_PROJECT || t->scope == IDENT_SCOPE_DOMAIN) {
        snprintf(key, sizeof(key), "p:domain:%s",
                 t->scope == IDENT_SCOPE_DOMAIN ? t->scope_id : t->scope_domain_id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
    }
    for (int i = 0; i < t->n_roles; i++) {
        snprintf(key, sizeof(key), "a:role:%s", t->roles[i].id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
    }
    if (t->app_cred_id[0]) {
        snprintf(key, sizeof(key), "a:appcred:%s", t->app_cred_id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
    }
    if (t->scope == IDENT_SCOPE_PROJECT) {
        snprintf(key, sizeof(key), "up:%s|%s", t->user_id, t->scope_id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
        snprintf(key, sizeof(key), "p:%s", t->scope_id);
        v = revcache_get(&li->rev, key);
        newest = v > newest ? v : newest;
    }
    pthread_rwlock_unlock(&li->rev_lock);
    return t->issued_at <= newest;
}

void ident_token_cache_flush(struct local_identity *li)
{
    pthread_rwlock_wrlock(&li->cache_lock);
    for (size_t i = 0; i < IDENT_TOKEN_CACHE_SLOTS; i++) {
        free(li->cache[i].token);
        free(li->cache[i].t);
        li->cache[i].token = NULL;
        li->cache[i].t = NULL;
    }
    pthread_rwlock_unlock(&li->cache_lock);
}

static int is_revoked(struct local_identity *li, const struct ident_token *t,
                      struct nph_error *err);

/* A cached token: 1 valid (*out written), -1 expired, revoked or error (err set, with code
 * `bad` for the first two), 0 not cached. Checked in place: one copy, into out, on success. */
static int cache_lookup(struct local_identity *li, const char *token, uint64_t h,
                        enum nph_err_code bad, struct ident_token *out, struct nph_error *err)
{
    struct ident_token_slot *slot = &li->cache[h & (IDENT_TOKEN_CACHE_SLOTS - 1)];
    int rc = 0;
    pthread_rwlock_rdlock(&li->cache_lock);
    if (slot->token && slot->hash == h && strcmp(slot->token, token) == 0) {
        int rev;
        if (slot->t->expires_at <= nph_clock_now()) {
            rc = nph_error_set(err, bad, "the token has expired");
        } else if ((rev = is_revoked(li, slot->t, err)) != 0) {
            rc = rev < 0 ? -1 : nph_error_set(err, bad, "the token has been revoked");
        } else {
            memcpy(out, slot->t, sizeof(*out));
            rc = 1;
        }
    }
    pthread_rwlock_unlock(&li->cache_lock);
    return rc;
}

static void cache_put(struct local_identity *li, const char *token, uint64_t h,
                      const struct ident_token *t)
{
    struct ident_token_slot *slot = &li->cache[h & (IDENT_TOKEN_CACHE_SLOTS - 1)];
    char *copy = strdup(token);
    struct ident_token *tc = malloc(sizeof(*tc));
    if (!copy || !tc) {
        free(copy);
        free(tc);
        return;
    }
    memcpy(tc, t, sizeof(*tc));
    pthread_rwlock_wrlock(&li->cache_lock);
    free(slot->token);
    free(slot->t);
    slot->hash = h;
    slot->token = copy;
    slot->t = tc;
    pthread_rwlock_unlock(&li->cache_lock);
}

int local_identity_token_validate(struct local_identity *li, const char *token, int as_subject,
                                  struct ident_token *out, struct nph_error *err)
{
    enum nph_err_code bad = as_subject ? NPH_E_NOT_FOUND : NPH_E_UNAUTHORIZED;
    size_t len = token ? strlen(token) : 0;
    uint8_t *raw = NULL, *plain = NULL;
    long rl, pl = -1;
    json_t *o = NULL;
    struct ident_token t;
    int rc = -1, found = 0;
    uint64_t h;
    if (len < 16 || len > TOKEN_MAX_LEN)
        return nph_error_set(err, bad, "the token is malformed");
    if (ident_keys_load(li, 0, err))
        return -1;
    h = fnv1a(token);
    rc = cache_lookup(li, token, h, bad, out, err);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    rc = -1;
    raw = malloc(len);
    plain = malloc(len);
    if (!raw || !plain) {
        nph_error_nomem(err);
        goto cleanup;
    }
    rl = nph_b64url_decode(token, len, raw);
    if (rl < 5 + NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN || raw[0] != TOKEN_VERSION) {
        nph_error_set(err, bad, "the token is malformed");
        goto cleanup;
    }
    pthread_rwlock_rdlock(&li->keys_lock);
    for (int i = 0; i < li->n_keys; i++) {
        if (memcmp(li->keys[i].kid, raw + 1, 4) == 0) {
            found = 1;
            pl = nph_aead_decrypt(li->keys[i].key, raw, 5, raw + 5, (size_t)rl - 5, plain, NULL);
            break;
        }
    }
    pthread_rwlock_unlock(&li->keys_lock);
    if (!found || pl < 0) {
        nph_error_set(err, bad, "the token is invalid or its key has been retired");
        goto cleanup;
    }
    o = json_loadb((const char *)plain, (size_t)pl, 0, NULL);
    if (!o || token_from_json(o, &t)) {
        nph_error_set(err, bad, "the token is malformed");
        goto cleanup;
    }
    if (t.expires_at <= nph_clock_now()) {
        nph_error_set(err, bad, "the token has expired");
        goto cleanup;
    }
    int rev = is_revoked(li, &t, err);
    if (rev < 0)
        goto cleanup;
    if (rev) {
        nph_error_set(err, bad, "the token has been revoked");
        goto cleanup;
    }
    cache_put(li, token, h, &t);
    *out = t;
    rc = 0;
cleanup:
    json_decref(o);
    free(raw);
    if (plain && pl > 0)
        OPENSSL_cleanse(plain, (size_t)pl);
    free(plain);
    return rc;
}

int ident_revoke_event(struct nph_db *db, const char *audit_id, const char *user_id,
                       const char *project_id, int64_t expires_at, struct nph_error *err)
{
    int64_t now = nph_clock_now();
    struct nph_stmt *st;
    int rc;
    if (!expires_at)
        expires_at = now + REVOCATION_KEEP_US;
    st = nph_db_prepare(db, "DELETE FROM identity_revocation WHERE expires_at < ?", err);
    if (!st || nph_stmt_bind_int64(st, 1, now, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    if (rc < 0)
        return -1;
    st = nph_db_prepare(db,
                        "INSERT INTO identity_revocation (audit_id, user_id, project_id,"
                        " issued_before, expires_at) VALUES (?, ?, ?, ?, ?)",
                        err);
    if (!st || nph_stmt_bind_text(st, 1, audit_id, err) ||
        nph_stmt_bind_text(st, 2, user_id, err) || nph_stmt_bind_text(st, 3, project_id, err) ||
        nph_stmt_bind_int64(st, 4, now, err) || nph_stmt_bind_int64(st, 5, expires_at, err))
        return -1;
    rc = nph_stmt_step(st, err);
    nph_stmt_done(st);
    return rc < 0 ? -1 : 0;
}

int local_identity_token_revoke(struct local_identity *li, const struct ident_token *t,
                                struct nph_error *err)
{
    struct nph_db *db = ident_db(li, err);
    int rc = -1;
    if (!db)
        return -1;
    if (nph_db_begin(db, err) == 0 &&
        ident_revoke_event(db, t->audit_id, NULL, NULL, t->expires_at + NPH_USEC_PER_SEC, err) ==
            0 &&
        nph_db_commit(db, err) == 0)
        rc = 0;
    nph_store_release(db);
    if (rc == 0)
        ident_revocations_changed(li);
    return rc;
}
