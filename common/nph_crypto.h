/*
 * nph_crypto.h - cryptography over OpenSSL (libcrypto): random bytes, SHA-256, HMAC-SHA256,
 * AES-256-GCM, password hashing (PBKDF2-HMAC-SHA256, salted, tunable), constant-time
 * comparison and base64/base64url. Secrets passing through here are wiped with
 * OPENSSL_cleanse where this module owns a copy.
 */
#ifndef NPH_CRYPTO_H
#define NPH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"

#define NPH_SHA256_LEN   32
#define NPH_AEAD_KEY_LEN 32 /* AES-256 */
#define NPH_AEAD_IV_LEN  12 /* GCM nonce */
#define NPH_AEAD_TAG_LEN 16

/* Fill buf with n cryptographically secure random bytes. Returns 0 or -1 (err set). */
int nph_random_bytes(void *buf, size_t n, struct nph_error *err);

void nph_sha256(const void *data, size_t len, uint8_t out[NPH_SHA256_LEN]);
/* Lower-case hex of SHA-256 into out[65]. */
void nph_sha256_hex(const void *data, size_t len, char out[2 * NPH_SHA256_LEN + 1]);
void nph_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t out[NPH_SHA256_LEN]);

/* AES-256-GCM. Encrypt: out receives iv(12) | ciphertext(len) | tag(16), so out must hold
 * len + NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN bytes; a fresh random IV is drawn. `aad` (may be
 * NULL/0) is authenticated but not encrypted. Returns the number of bytes written or -1.
 * Decrypt: takes that layout, writes plaintext (in_len - 28 bytes) to out; returns its length,
 * or -1 with NPH_E_UNAUTHORIZED when the tag does not verify or the input is too short. */
long nph_aead_encrypt(const uint8_t key[NPH_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                      const void *plain, size_t len, uint8_t *out, struct nph_error *err);
long nph_aead_decrypt(const uint8_t key[NPH_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                      const uint8_t *in, size_t in_len, uint8_t *out, struct nph_error *err);

/* Password hashing. The encoded form is self-describing:
 *   $pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>
 * nph_password_hash: 16-byte random salt, 32-byte hash; `iterations` 0 means the default
 * (NPH_PBKDF2_DEFAULT_ITER). Returns a malloc'd string (caller frees) or NULL (err set).
 * nph_password_verify: 1 if it matches, 0 if not, -1 if `encoded` is malformed (err set).
 * Comparison is constant-time. */
#define NPH_PBKDF2_DEFAULT_ITER 100000
char *nph_password_hash(const char *password, unsigned iterations, struct nph_error *err);
int nph_password_verify(const char *password, const char *encoded, struct nph_error *err);

/* Constant-time equality of two buffers of length n: 1 equal, 0 different. */
int nph_ct_equal(const void *a, const void *b, size_t n);

/* Base64 (standard, padded) and base64url (RFC 4648 section 5, unpadded).
 * Encode: writes NUL-terminated text into out (size >= nph_b64_encoded_len(n) + 1); returns
 * length. Decode: out must hold at least (len * 3) / 4 + 3 bytes; returns decoded length or
 * -1 on any invalid character or bad length. Decoders accept only their own alphabet; the
 * url decoder accepts missing padding. */
size_t nph_b64_encoded_len(size_t n);
size_t nph_b64_encode(const void *in, size_t n, char *out);
long nph_b64_decode(const char *in, size_t len, uint8_t *out);
size_t nph_b64url_encode(const void *in, size_t n, char *out);
long nph_b64url_decode(const char *in, size_t len, uint8_t *out);

/* Lower-case hex of n bytes into out (2n + 1). */
void nph_hex_encode(const void *in, size_t n, char *out);

#endif
