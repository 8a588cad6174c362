/*
 * nph_crypto.c - cryptography over OpenSSL libcrypto (see nph_crypto.h).
 *
 * Random bytes come from RAND_bytes; hashing, HMAC, AES-256-GCM and PBKDF2 go through the EVP
 * layer. Base64, base64url and hex are written by hand so that the decoders are strict: only
 * their own alphabet, canonical padding and no whitespace. Every buffer this file owns that
 * held key material or a derived hash is wiped with OPENSSL_cleanse before it is released.
 */
#include "nph_crypto.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define PBKDF2_PREFIX      "$pbkdf2-sha256$"
#define PBKDF2_SALT_LEN    16
#define PBKDF2_HASH_LEN    32
#define PBKDF2_MAX_ITER    10000000u
#define PBKDF2_MAX_B64_LEN 128 /* longest salt or hash text accepted when verifying */

int nph_random_bytes(void *buf, size_t n, struct nph_error *err)
{
    unsigned char *p = buf;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return nph_error_set(err, NPH_E_INTERNAL, "random source failed");
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void nph_sha256(const void *data, size_t len, uint8_t out[NPH_SHA256_LEN])
{
    static const uint8_t empty[1];
    unsigned int out_len = 0;
    /* EVP_Digest only fails on allocation failure; the output is then zeroed so that a
     * failure can never be mistaken for a real digest of attacker-chosen data. */
    if (EVP_Digest(data ? data : empty, len, out, &out_len, EVP_sha256(), NULL) != 1)
        memset(out, 0, NPH_SHA256_LEN);
}

void nph_sha256_hex(const void *data, size_t len, char out[2 * NPH_SHA256_LEN + 1])
{
    uint8_t md[NPH_SHA256_LEN];
    nph_sha256(data, len, md);
    nph_hex_encode(md, sizeof(md), out);
}

void nph_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t out[NPH_SHA256_LEN])
{
    static const uint8_t empty[1];
    unsigned int out_len = 0;
    if (key_len > INT_MAX || !HMAC(EVP_sha256(), key ? key : empty, (int)key_len,
                                   data ? data : empty, len, out, &out_len))
        memset(out, 0, NPH_SHA256_LEN);
}

long nph_aead_encrypt(const uint8_t key[NPH_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                      const void *plain, size_t len, uint8_t *out, struct nph_error *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *iv = out;
    uint8_t *ct = out + NPH_AEAD_IV_LEN;
    int n = 0, fin = 0;
    long ret = -1;

    if (len > (size_t)INT_MAX - NPH_AEAD_IV_LEN - NPH_AEAD_TAG_LEN || aad_len > INT_MAX)
        return nph_error_set(err, NPH_E_INVALID, "plaintext too large to encrypt");
    if (nph_random_bytes(iv, NPH_AEAD_IV_LEN, err) < 0)
        return -1;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return nph_error_nomem(err);
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NPH_AEAD_IV_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
        goto fail;
    if (aad && aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto fail;
    n = 0;
    if (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1)
        goto fail;
    if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1)
        goto fail;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, NPH_AEAD_TAG_LEN, ct + n + fin) != 1)
        goto fail;
    ret = (long)NPH_AEAD_IV_LEN + n + fin + NPH_AEAD_TAG_LEN;
    goto cleanup;
fail:
    nph_error_set(err, NPH_E_INTERNAL, "encryption failed");
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

long nph_aead_decrypt(const uint8_t key[NPH_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                      const uint8_t *in, size_t in_len, uint8_t *out, struct nph_error *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    const uint8_t *iv = in;
    const uint8_t *ct = in + NPH_AEAD_IV_LEN;
    size_t ct_len;
    uint8_t tag[NPH_AEAD_TAG_LEN];
    int n = 0, fin = 0;
    long ret = -1;

    if (in_len < NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN)
        return nph_error_set(err, NPH_E_UNAUTHORIZED, "ciphertext too short");
    if (in_len > (size_t)INT_MAX || aad_len > INT_MAX)
        return nph_error_set(err, NPH_E_INVALID, "ciphertext too large to decrypt");
    ct_len = in_len - NPH_AEAD_IV_LEN - NPH_AEAD_TAG_LEN;
    memcpy(tag, ct + ct_len, sizeof(tag));
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return nph_error_nomem(err);
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NPH_AEAD_IV_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv) != 1) {
        nph_error_set(err, NPH_E_INTERNAL, "decryption failed");
        goto cleanup;
    }
    if (aad && aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto bad;
    n = 0;
    if (ct_len > 0 && EVP_DecryptUpdate(ctx, out, &n, ct, (int)ct_len) != 1)
        goto bad;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, NPH_AEAD_TAG_LEN, tag) != 1)
        goto bad;
    if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1)
        goto bad;
    ret = (long)n + fin;
    goto cleanup;
bad:
    /* Never hand out unauthenticated plaintext. */
    OPENSSL_cleanse(out, ct_len);
    nph_error_set(err, NPH_E_UNAUTHORIZED, "ciphertext does not authenticate");
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

int nph_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- password hashing ---------------------------------------------------------------------- */

static int pbkdf2(const char *password, const uint8_t *salt, size_t salt_len, unsigned iter,
                  uint8_t *out, size_t out_len)
{
    size_t pw_len = strlen(password);
    if (pw_len > INT_MAX || salt_len > INT_MAX || out_len > INT_MAX || iter > INT_MAX)
        return -1;
    return PKCS5_PBKDF2_HMAC(password, (int)pw_len, salt, (int)salt_len, (int)iter, EVP_sha256(),
                             (int)out_len, out) == 1
               ? 0
               : -1;
}

char *nph_password_hash(const char *password, unsigned iterations, struct nph_error *err)
{
    uint8_t salt[PBKDF2_SALT_LEN];
    uint8_t hash[PBKDF2_HASH_LEN];
    char salt_b64[64], hash_b64[64];
    char *out = NULL;
    size_t cap;

    if (!password) {
        nph_error_set(err, NPH_E_INVALID, "password is missing");
        return NULL;
    }
    if (iterations == 0)
        iterations = NPH_PBKDF2_DEFAULT_ITER;
    if (iterations > PBKDF2_MAX_ITER) {
        nph_error_set(err, NPH_E_INVALID, "password hash iterations %u exceed the limit %u",
                      iterations, PBKDF2_MAX_ITER);
        return NULL;
    }
    if (nph_random_bytes(salt, sizeof(salt), err) < 0)
        return NULL;
    if (pbkdf2(password, salt, sizeof(salt), iterations, hash, sizeof(hash)) < 0) {
        nph_error_set(err, NPH_E_INTERNAL, "password hashing failed");
        goto cleanup;
    }
    nph_b64_encode(salt, sizeof(salt), salt_b64);
    nph_b64_encode(hash, sizeof(hash), hash_b64);
    cap = sizeof(PBKDF2_PREFIX) + 12 + strlen(salt_b64) + strlen(hash_b64) + 2;
    out = malloc(cap);
    if (!out) {
        nph_error_nomem(err);
        goto cleanup;
    }
    snprintf(out, cap, PBKDF2_PREFIX "%u$%s$%s", iterations, salt_b64, hash_b64);
cleanup:
    OPENSSL_cleanse(hash, sizeof(hash));
    OPENSSL_cleanse(hash_b64, sizeof(hash_b64));
    return out;
}

/* Decode one '$'-delimited base64 field [s, end) into out; returns its length or -1. */
static long decode_field(const char *s, const char *end, uint8_t *out, size_t out_cap)
{
    size_t len = (size_t)(end - s);
    if (len == 0 || len > PBKDF2_MAX_B64_LEN || (len * 3) / 4 + 3 > out_cap)
        return -1;
    return nph_b64_decode(s, len, out);
}

int nph_password_verify(const char *password, const char *encoded, struct nph_error *err)
{
    uint8_t salt[PBKDF2_MAX_B64_LEN];
    uint8_t want[PBKDF2_MAX_B64_LEN];
    uint8_t got[PBKDF2_MAX_B64_LEN];
    const char *p, *salt_end, *hash_end;
    unsigned long iter = 0;
    long salt_len, hash_len;
    int ret = -1;

    if (!password || !encoded)
        return nph_error_set(err, NPH_E_INVALID, "password or hash is missing");
    if (strncmp(encoded, PBKDF2_PREFIX, strlen(PBKDF2_PREFIX)) != 0)
        return nph_error_set(err, NPH_E_INVALID, "unsupported password hash scheme");
    p = encoded + strlen(PBKDF2_PREFIX);
    /* iterations: 1..PBKDF2_MAX_ITER, decimal, no sign, no leading zero */
    if (*p < '1' || *p > '9')
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: bad iteration count");
    while (*p >= '0' && *p <= '9') {
        iter = iter * 10 + (unsigned long)(*p - '0');
        if (iter > PBKDF2_MAX_ITER)
            return nph_error_set(err, NPH_E_INVALID,
                                 "malformed password hash: iteration count exceeds %u",
                                 PBKDF2_MAX_ITER);
        p++;
    }
    if (*p++ != '$')
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: bad iteration count");
    salt_end = strchr(p, '$');
    if (!salt_end)
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: missing hash");
    salt_len = decode_field(p, salt_end, salt, sizeof(salt));
    if (salt_len <= 0)
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: bad salt");
    p = salt_end + 1;
    hash_end = p + strlen(p);
    if (memchr(p, '$', (size_t)(hash_end - p)))
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: too many fields");
    hash_len = decode_field(p, hash_end, want, sizeof(want));
    if (hash_len < 16)
        return nph_error_set(err, NPH_E_INVALID, "malformed password hash: bad hash");
    if (pbkdf2(password, salt, (size_t)salt_len, (unsigned)iter, got, (size_t)hash_len) < 0) {
        nph_error_set(err, NPH_E_INTERNAL, "password hashing failed");
        goto cleanup;
    }
    ret = nph_ct_equal(got, want, (size_t)hash_len);
cleanup:
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(want, sizeof(want));
    return ret;
}

/* ---- base64, base64url, hex ---------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t nph_b64_encoded_len(size_t n)
{
    return ((n + 2) / 3) * 4;
}

static size_t b64_encode_with(const char *alpha, int pad, const void *in, size_t n, char *out)
{
    const uint8_t *s = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t nph_b64_encode(const void *in, size_t n, char *out)
{
    return b64_encode_with(b64_std, 1, in, n, out);
}

size_t nph_b64url_encode(const void *in, size_t n, char *out)
{
    return b64_encode_with(b64_url, 0, in, n, out);
}

static int b64_value(int url, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Strict decoder shared by both alphabets. Standard: length a multiple of 4, padding only at
 * the end. url: padding optional, but if present it must complete the last quantum. Unused
 * low bits of the last symbol must be zero (one encoding per byte string). */
static long b64_decode_with(int url, const char *in, size_t len, uint8_t *out)
{
    size_t pad = 0, body, o = 0, i;
    uint32_t acc = 0;
    int bits = 0;

    if (!in)
        return len == 0 ? 0 : -1;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    body = len - pad;
    if (url) {
        if (pad > 0 && len % 4 != 0)
            return -1;
    } else if (len % 4 != 0) {
        return -1;
    }
    if (body % 4 == 1 || (pad > 0 && body % 4 == 0))
        return -1;
    if (pad > 0 && 4 - body % 4 != pad)
        return -1;
    for (i = 0; i < body; i++) {
        int v = b64_value(url, (unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-zero leftover bits: a non-canonical encoding */
        return -1;
    return (long)o;
}

long nph_b64_decode(const char *in, size_t len, uint8_t *out)
{
    return b64_decode_with(0, in, len, out);
}

long nph_b64url_decode(const char *in, size_t len, uint8_t *out)
{
    return b64_decode_with(1, in, len, out);
}

void nph_hex_encode(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *s = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    out[2 * n] = '\0';
}
