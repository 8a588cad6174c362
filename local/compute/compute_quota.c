/*
 * compute_quota.c - per-project quotas (instances, cores, ram and Nova's other limits, with
 * Nova's defaults) enforced at create and resize, and key pairs: OpenSSH public keys imported
 * (fingerprint = MD5 of the key blob, as Nova shows it) or RSA 2048 pairs generated with
 * OpenSSL, the private key handed out once and never stored; x509 key pairs likewise: a PEM
 * certificate imported, or an RSA key and a self-signed certificate (CN=<user id>) generated,
 * the fingerprint being SHA-1 of the certificate's DER as Nova shows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "compute_internal.h"
#include "nph_clock.h"
#include "nph_crypto.h"

static const struct {
    const char *name;
    int64_t def;
} quota_defaults[] = {
    {"instances", 10},
    {"cores", 20},
    {"ram", 51200},
    {"key_pairs", 100},
    {"metadata_items", 128},
    {"injected_files", 5},
    {"injected_file_content_bytes", 10240},
    {"injected_file_path_bytes", 255},
    {"server_groups", 10},
    {"server_group_members", 10},
    /* Nova's network quotas, shown before microversion 2.36 and not enforced */
    {"fixed_ips", -1},
    {"floating_ips", 10},
    {"security_groups", 10},
    {"security_group_rules", 20},
};
#define N_QUOTAS (sizeof(quota_defaults) / sizeof(quota_defaults[0]))

/* The first key of the two-key pg_advisory_xact_lock taken per project around the quota check:
 * "NQUO" in ASCII (the migrators' lock uses the one-key form). */
#define CMP_QUOTA_LOCK_CLASS "1313953103"

static json_t *quota_read(struct nph_db *db, const char *project_id, struct nph_error *err)
{
    json_t *out = json_object();
    struct nph_stmt *st = NULL;
    int rc = 0;
    if (!out) {
        nph_error_nomem(err);
        return NULL;
    }
    for (size_t i = 0; i < N_QUOTAS; i++)
        json_object_set_new(out, quota_defaults[i].name, json_integer(quota_defaults[i].def));
    if (project_id)
        rc = nph_db_queryf(db, err, &st,
                           "SELECT resource, hard_limit FROM compute_quota WHERE project_id = ?",
                           "s", project_id);
    while (rc == 1) {
        json_object_set_new(out, nph_stmt_col_text(st, 0), json_integer(nph_stmt_col_int64(st, 1)));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *local_compute_quota_get(struct local_compute *lc, const char *project_id,
                                struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    json_t *out;
    if (!db)
        return NULL;
    out = quota_read(db, project_id, err);
    nph_store_release(db);
    return out;
}

static int usage_read(struct nph_db *db, const char *project_id, int64_t u[3],
                      struct nph_error *err)
{
    struct nph_stmt *st;
    int rc = nph_db_queryf(db, err, &st,
                           "SELECT COUNT(*), SUM(vcpus), SUM(ram_mb) FROM compute_server"
                           " WHERE project_id = ? AND deleted = 0",
                           "s", project_id);
    if (rc < 0)
        return -1;
    u[0] = u[1] = u[2] = 0;
    if (rc == 1) {
        for (int i = 0; i < 3; i++)
            u[i] = nph_stmt_col_int64(st, i);
        nph_stmt_done(st);
    }
    return 0;
}

json_t *local_compute_quota_usage(struct local_compute *lc, const char *project_id,
                                  struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    int64_t u[3];
    json_t *out = NULL;
    if (!db)
        return NULL;
    if (usage_read(db, project_id, u, err) == 0)
        out = json_pack("{s:I,s:I,s:I}", "instances", (json_int_t)u[0], "cores", (json_int_t)u[1],
                        "ram", (json_int_t)u[2]);
    nph_store_release(db);
    return out;
}

int cmp_quota_check(struct nph_db *db, const char *project_id, int64_t instances, int64_t cores,
                    int64_t ram, struct nph_error *err)
{
    static const char *const names[3] = {"instances", "cores", "ram"};
    int64_t want[3] = {instances, cores, ram}, used[3];
    json_t *q;
    /* Check and insert must be atomic: two creates that both read the usage before either
     * wrote would both pass the last free slot. SQLite's transactions are single-writer
     * (BEGIN IMMEDIATE) already. PostgreSQL runs READ COMMITTED, so the project's creates and
     * resizes queue on a per-project lock held to the end of the transaction, and each
     * statement after it sees what the previous holder committed. An advisory lock rather than
     * SELECT ... FOR UPDATE: a project without limits of its own has no row to lock. */
    if (nph_db_engine(db) == NPH_STORE_POSTGRES) {
        struct nph_stmt *st;
        int rc = nph_db_queryf(
            db, err, &st, "SELECT pg_advisory_xact_lock(" CMP_QUOTA_LOCK_CLASS ", hashtext(?))",
            "s", project_id ? project_id : "");
        if (rc < 0)
            return -1;
        if (rc == 1)
            nph_stmt_done(st);
    }
    if (!(q = quota_read(db, project_id, err)))
        return -1;
    if (usage_read(db, project_id, used, err)) {
        json_decref(q);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        int64_t limit = json_integer_value(json_object_get(q, names[i]));
        if (want[i] <= 0 || limit < 0)
            continue;
        if (used[i] + want[i] > limit) {
            json_decref(q);
            return nph_error_set(err, NPH_E_FORBIDDEN,
                                 "Quota exceeded for %s: Requested %lld, but already used %lld of "
                                 "%lld %s",
                                 names[i], (long long)want[i], (long long)used[i], (long long)limit,
                                 names[i]);
        }
    }
    json_decref(q);
    return 0;
}

json_t *local_compute_quota_set(struct local_compute *lc, const char *project_id,
                                const json_t *limits, struct nph_error *err)
{
    struct nph_db *db;
    const char *k;
    json_t *v, *out = NULL;
    if (!json_is_object(limits)) {
        nph_error_set(err, NPH_E_INVALID, "'quota_set' must be an object");
        return NULL;
    }
    json_object_foreach((json_t *)limits, k, v)
    {
        size_t i;
        if (strcmp(k, "force") == 0 || strcmp(k, "tenant_id") == 0 || strcmp(k, "id") == 0)
            continue;
        for (i = 0; i < N_QUOTAS && strcmp(quota_defaults[i].name, k) != 0; i++)
            ;
        if (i == N_QUOTAS) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid input for field/attribute quota_set. Additional properties are "
                          "not allowed ('%s' was unexpected)",
                          k);
            return NULL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < -1) {
            nph_error_set(err, NPH_E_INVALID, "'%s' must be an integer >= -1", k);
            return NULL;
        }
    }
    if (!(db = cmp_db(lc, err)))
        return NULL;
    if (nph_db_begin(db, err))
        goto cleanup;
    json_object_foreach((json_t *)limits, k, v)
    {
        if (!json_is_integer(v) || strcmp(k, "force") == 0)
            continue;
        if (nph_db_execf(db, err, "DELETE FROM compute_quota WHERE project_id = ? AND resource = ?",
                         "ss", project_id, k) < 0 ||
            nph_db_execf(
                db, err,
                "INSERT INTO compute_quota (project_id, resource, hard_limit) VALUES (?, ?, ?)",
                "ssi", project_id, k, (int64_t)json_integer_value(v)) < 0)
            goto cleanup;
    }
    if (nph_db_commit(db, err))
        goto cleanup;
    out = quota_read(db, project_id, err);
cleanup:
    nph_store_release(db);
    return out;
}

int local_compute_quota_delete(struct local_compute *lc, const char *project_id,
                               struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    int64_t n;
    if (!db)
        return -1;
    n = nph_db_execf(db, err, "DELETE FROM compute_quota WHERE project_id = ?", "s", project_id);
    nph_store_release(db);
    return n < 0 ? -1 : 0;
}

/* ---- key pairs --------------------------------------------------------------------------- */

/* MD5 of the blob as "aa:bb:...", Nova's ssh fingerprint. */
static void md5_fingerprint(const uint8_t *blob, size_t n, char out[48])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(blob, n, md, &mdlen, EVP_md5(), NULL);
    out[0] = '\0';
    for (unsigned i = 0; i < mdlen && i < 16; i++)
        sprintf(out + strlen(out), i ? ":%02x" : "%02x", md[i]);
}

/* Check "type base64 [comment]" and compute the fingerprint. */
static int ssh_public_key_check(const char *key, char fp[48], struct nph_error *err)
{
    const char *sp = strchr(key, ' '), *b64, *end;
    uint8_t *blob;
    long n;
    size_t tlen, blen;
    if (!sp || sp == key || sp - key > 64)
        return nph_error_set(err, NPH_E_INVALID, "Keypair data is invalid: failed to parse key");
    tlen = (size_t)(sp - key);
    b64 = sp + 1;
    end = strpbrk(b64, " \r\n");
    blen = end ? (size_t)(end - b64) : strlen(b64);
    if (blen == 0 || blen > 16384)
        return nph_error_set(err, NPH_E_INVALID, "Keypair data is invalid: failed to parse key");
    blob = malloc(blen * 3 / 4 + 3);
    if (!blob)
        return nph_error_nomem(err);
    n = nph_b64_decode(b64, blen, blob);
    /* The blob starts with the key type as an SSH string: uint32 length, bytes. */
    if (n < 4 + (long)tlen ||
        ((uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3]) !=
            tlen ||
        memcmp(blob + 4, key, tlen) != 0) {
        free(blob);
        return nph_error_set(err, NPH_E_INVALID, "Keypair data is invalid: failed to parse key");
    }
    md5_fingerprint(blob, (size_t)n, fp);
    free(blob);
    return 0;
}

static void put_string(uint8_t *buf, size_t *pos, const uint8_t *s, size_t n)
{
    buf[(*pos)++] = (uint8_t)(n >> 24);
    buf[(*pos)++] = (uint8_t)(n >> 16);
    buf[(*pos)++] = (uint8_t)(n >> 8);
    buf[(*pos)++] = (uint8_t)n;
    memcpy(buf + *pos, s, n);
    *pos += n;
}

/* An SSH mpint: big-endian, a leading 0 when the top bit is set. */
static void put_mpint(uint8_t *buf, size_t *pos, const BIGNUM *bn)
{
    uint8_t tmp[1024];
    int n = BN_bn2bin(bn, tmp + 1);
    tmp[0] = 0;
    if (n > 0 && (tmp[1] & 0x80))
        put_string(buf, pos, tmp, (size_t)n + 1);
    else
        put_string(buf, pos, tmp + 1, (size_t)n);
}

/* Generate RSA 2048: *pub "ssh-rsa AAAA... nephele", *priv PEM (both malloc'd). */
static int rsa_generate(char **pub, char **priv, char fp[48], struct nph_error *err)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    BIGNUM *n = NULL, *e = NULL;
    BIO *bio = NULL;
    uint8_t blob[1200];
    size_t pos = 0;
    char *b64 = NULL;
    int rc = -1;
    long plen;
    char *pdata;
    *pub = *priv = NULL;
    if (!pkey || !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) || BN_num_bytes(n) > 512) {
        nph_error_set(err, NPH_E_INTERNAL, "generating an RSA key failed");
        goto cleanup;
    }
    put_string(blob, &pos, (const uint8_t *)"ssh-rsa", 7);
    put_mpint(blob, &pos, e);
    put_mpint(blob, &pos, n);
    md5_fingerprint(blob, pos, fp);
    b64 = malloc(nph_b64_encoded_len(pos) + 1);
    if (!b64 || !(*pub = malloc(nph_b64_encoded_len(pos) + 32))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    nph_b64_encode(blob, pos, b64);
    sprintf(*pub, "ssh-rsa %s Generated-by-Nephele", b64);
    bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        nph_error_set(err, NPH_E_INTERNAL, "writing the private key failed");
        goto cleanup;
    }
    plen = BIO_get_mem_data(bio, &pdata);
    if (!(*priv = malloc((size_t)plen + 1))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    memcpy(*priv, pdata, (size_t)plen);
    (*priv)[plen] = '\0';
    rc = 0;
cleanup:
    if (rc) {
        free(*pub);
        *pub = NULL;
    }
    free(b64);
    BIO_free(bio);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pkey);
    return rc;
}

static json_t *keypair_row(struct nph_stmt *st)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "user_id", nph_stmt_col_text(st, 0), "name",
                     nph_stmt_col_text(st, 1), "type", nph_stmt_col_text(st, 2), "public_key",
                     nph_stmt_col_text(st, 3), "fingerprint", nph_stmt_col_text(st, 4),
                     "created_at", cmp_time_json(nph_stmt_col_int64(st, 5)));
}

#define KP_COLS                                                                                    \
    "SELECT user_id, name, type, public_key, fingerprint, created_at FROM compute_keypair"

json_t *local_compute_keypair_get(struct local_compute *lc, const char *user_id, const char *name,
                                  struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st;
    json_t *out = NULL;
    int rc;
    if (!db)
        return NULL;
    rc =
        nph_db_queryf(db, err, &st, KP_COLS " WHERE user_id = ? AND name = ?", "ss", user_id, name);
    if (rc == 1) {
        out = keypair_row(st);
        nph_stmt_done(st);
    } else if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "Keypair %s not found for user %s", name, user_id);
    }
    nph_store_release(db);
    return out;
}

json_t *local_compute_keypair_list(struct local_compute *lc, const char *user_id,
                                   struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    struct nph_stmt *st = NULL;
    json_t *out = json_array();
    int rc;
    if (!db) {
        json_decref(out);
        return NULL;
    }
    rc = nph_db_queryf(db, err, &st, KP_COLS " WHERE user_id = ? ORDER BY name", "s", user_id);
    while (rc == 1) {
        json_array_append_new(out, keypair_row(st));
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* SHA-1 of a certificate's DER as "aa:bb:...", Nova's x509 fingerprint. */
static int x509_fingerprint(X509 *cert, char out[64], struct nph_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_digest(cert, EVP_sha1(), md, &n) || n != 20)
        return nph_error_set(err, NPH_E_INTERNAL, "hashing the certificate failed");
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 3 * i, i + 1 < n ? "%02x:" : "%02x", md[i]);
    return 0;
}

/* An imported x509 key pair: one PEM certificate; its fingerprint. */
static int x509_public_check(const char *pem, char fp[64], struct nph_error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rc;
    BIO_free(bio);
    if (!cert)
        return nph_error_set(err, NPH_E_INVALID,
                             "Keypair data is invalid: failed to generate fingerprint");
    rc = x509_fingerprint(cert, fp, err);
    X509_free(cert);
    return rc;
}

static char *bio_text(BIO *bio)
{
    char *data, *out;
    long n = BIO_get_mem_data(bio, &data);
    if (n < 0 || !(out = malloc((size_t)n + 1)))
        return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

/* Generate an x509 key pair as Nova does: an RSA 2048 key and a self-signed certificate for
 * CN=<user_id>, valid 10 years. *pub the certificate PEM, *priv the key PEM (malloc'd). */
static int x509_generate(const char *user_id, char **pub, char **priv, char fp[64],
                         struct nph_error *err)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    X509 *cert = X509_new();
    X509_NAME *subj;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    unsigned char serial[8];
    BIGNUM *sn = NULL;
    int rc = -1;
    *pub = *priv = NULL;
    if (!pkey || !cert || !cb || !kb || nph_random_bytes(serial, sizeof(serial), err)) {
        if (err && err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_INTERNAL, "generating an x509 key pair failed");
        goto cleanup;
    }
    serial[0] &= 0x7f;
    subj = X509_get_subject_name(cert);
    if (!(sn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
        !BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(cert)) || !X509_set_version(cert, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600) ||
        !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)user_id, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(cert, subj) || !X509_set_pubkey(cert, pkey) ||
        !X509_sign(cert, pkey, EVP_sha256()) || !PEM_write_bio_X509(cb, cert) ||
        !PEM_write_bio_PrivateKey_traditional(kb, pkey, NULL, NULL, 0, NULL, NULL)) {
        nph_error_set(err, NPH_E_INTERNAL, "generating an x509 key pair failed");
        goto cleanup;
    }
    if (x509_fingerprint(cert, fp, err))
        goto cleanup;
    if (!(*pub = bio_text(cb)) || !(*priv = bio_text(kb))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc) {
        free(*pub);
        if (*priv) {
            OPENSSL_cleanse(*priv, strlen(*priv));
            free(*priv);
        }
        *pub = *priv = NULL;
    }
    BN_free(sn);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rc;
}

json_t *local_compute_keypair_create(struct local_compute *lc, const char *user_id,
                                     const char *name, const char *type, const char *public_key,
                                     struct nph_error *err)
{
    char fp[64] = "";
    char *gen_pub = NULL, *gen_priv = NULL;
    struct nph_db *db = NULL;
    json_t *out = NULL;
    int64_t n;
    if (!name || !*name || strlen(name) > 255 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- .@") !=
            strlen(name)) {
        nph_error_set(err, NPH_E_INVALID,
                      "Keypair data is invalid: Keypair name contains unsafe characters");
        return NULL;
    }
    if (!type)
        type = "ssh";
    if (strcmp(type, "ssh") != 0 && strcmp(type, "x509") != 0) {
        nph_error_set(err, NPH_E_INVALID, "'type' must be 'ssh' or 'x509'");
        return NULL;
    }
    if (public_key) {
        if (strcmp(type, "ssh") == 0 && ssh_public_key_check(public_key, fp, err))
            return NULL;
        if (strcmp(type, "x509") == 0 && x509_public_check(public_key, fp, err))
            return NULL;
    } else {
        if (strcmp(type, "x509") == 0 ? x509_generate(user_id, &gen_pub, &gen_priv, fp, err)
                                      : rsa_generate(&gen_pub, &gen_priv, fp, err))
            return NULL;
        public_key = gen_pub;
    }
    if (!(db = cmp_db(lc, err)))
        goto cleanup;
    n = nph_db_execf(db, err,
                     "INSERT INTO compute_keypair (user_id, name, type, public_key, fingerprint,"
                     " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                     "sssssi", user_id, name, type, public_key, fp, nph_clock_now());
    if (n < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "Key pair '%s' already exists.", name);
        goto cleanup;
    }
    nph_store_release(db);
    db = NULL;
    out = local_compute_keypair_get(lc, user_id, name, err);
    if (out && gen_priv)
        json_object_set_new(out, "private_key", json_string(gen_priv));
cleanup:
    nph_store_release(db);
    free(gen_pub);
    if (gen_priv) {
        OPENSSL_cleanse(gen_priv, strlen(gen_priv));
        free(gen_priv);
    }
    return out;
}

int local_compute_keypair_delete(struct local_compute *lc, const char *user_id, const char *name,
                                 struct nph_error *err)
{
    struct nph_db *db = cmp_db(lc, err);
    int64_t n;
    if (!db)
        return -1;
    n = nph_db_execf(db, err, "DELETE FROM compute_keypair WHERE user_id = ? AND name = ?", "ss",
                     user_id, name);
    nph_store_release(db);
    if (n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "Keypair %s not found for user %s", name,
                             user_id);
    return n < 0 ? -1 : 0;
}
