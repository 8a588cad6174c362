/*
 * test_crypto.c - unit tests of nph_crypto: published test vectors for SHA-256 (FIPS 180-2),
 * HMAC-SHA256 (RFC 4231), PBKDF2-HMAC-SHA256 and base64 (RFC 4648), AES-256-GCM round trips
 * and tamper detection, and the strictness of the decoders and the password-hash parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_crypto.h"

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    nph_hex_encode(b, n, out);
}

static void test_sha256_vectors(void **state)
{
    char hex[65];
    (void)state;
    nph_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    nph_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    nph_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    nph_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_rfc4231(void **state)
{
    uint8_t key[131], mac[32];
    char hex[65];
    (void)state;

    memset(key, 0x0b, 20); /* test case 1 */
    nph_hmac_sha256(key, 20, "Hi There", 8, mac);
    hex_of(mac, 32, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    const char *d2 = "what do ya want for nothing?"; /* test case 2 */
    nph_hmac_sha256("Jefe", 4, d2, strlen(d2), mac);
    hex_of(mac, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(key, 0xaa, 131); /* test case 6: key longer than the block */
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    nph_hmac_sha256(key, 131, d6, strlen(d6), mac);
    hex_of(mac, 32, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* Build "$pbkdf2-sha256$<iter>$<b64 salt>$<b64 of hex dk>" from a published vector. */
static char *encoded_from_vector(unsigned iter, const char *salt, const char *dk_hex)
{
    uint8_t dk[64];
    char salt_b64[64], dk_b64[128];
    size_t n = strlen(dk_hex) / 2;
    char *out = malloc(256);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(dk_hex + 2 * i, "%2x", &v);
        dk[i] = (uint8_t)v;
    }
    nph_b64_encode(salt, strlen(salt), salt_b64);
    nph_b64_encode(dk, n, dk_b64);
    snprintf(out, 256, "$pbkdf2-sha256$%u$%s$%s", iter, salt_b64, dk_b64);
    return out;
}

static void test_pbkdf2_vectors(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    static const struct {
        unsigned iter;
        const char *pw, *salt, *dk;
    } v[] = {
        {1, "password", "salt", "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
        {2, "password", "salt", "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"},
        {4096, "password", "salt",
         "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"},
        /* RFC 7914 section 11, 64-byte output */
        {1, "passwd", "salt",
         "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b3"
         "9d77ef317c71b845b1e30bd509112041d3a19783"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *enc = encoded_from_vector(v[i].iter, v[i].salt, v[i].dk);
        assert_int_equal(nph_password_verify(v[i].pw, enc, &err), 1);
        assert_int_equal(nph_password_verify("Password", enc, &err), 0);
        free(enc);
    }
}

static void test_password_round_trip(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    char *a = nph_password_hash("s3cret pass", 1000, &err);
    char *b = nph_password_hash("s3cret pass", 1000, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(strncmp(a, "$pbkdf2-sha256$1000$", 20) == 0);
    assert_string_not_equal(a, b); /* fresh salt each time */
    assert_int_equal(nph_password_verify("s3cret pass", a, &err), 1);
    assert_int_equal(nph_password_verify("s3cret pas", a, &err), 0);
    assert_int_equal(nph_password_verify("", a, &err), 0);
    free(a);
    free(b);

    a = nph_password_hash("x", 0, &err); /* default iterations */
    assert_non_null(a);
    assert_true(strncmp(a, "$pbkdf2-sha256$100000$", 22) == 0);
    free(a);

    assert_null(nph_password_hash("x", 10000001, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(nph_password_hash(NULL, 1000, &err));
}

static void test_password_malformed(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    static const char *bad[] = {
        "", "plain", "$pbkdf2-sha1$1000$c2FsdA==$ZGlnZXN0ZGlnZXN0ZGlnZXN0", "$pbkdf2-sha256$",
        "$pbkdf2-sha256$1000", "$pbkdf2-sha256$1000$",
        "$pbkdf2-sha256$1000$c2FsdA==", "$pbkdf2-sha256$1000$c2FsdA==$",
        "$pbkdf2-sha256$0$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$-1$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$01$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$1x$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        /* iterations above the 10,000,000 cap must be refused, not computed */
        "$pbkdf2-sha256$10000001$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$99999999999999999999$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$1$c2Fs*A==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$1$$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
        "$pbkdf2-sha256$1$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs",
        "$pbkdf2-sha256$1$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=$",
        "$pbkdf2-sha256$1$c2FsdA==$Zm9v", /* 3-byte hash: too short to mean anything */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nph_error_clear(&err);
        assert_int_equal(nph_password_verify("password", bad[i], &err), -1);
        assert_int_equal(err.code, NPH_E_INVALID);
        assert_true(err.msg[0] != '\0');
    }
    /* The well-formed twin of the lines above verifies. */
    assert_int_equal(nph_password_verify("password",
                                         "$pbkdf2-sha256$1$c2FsdA==$"
                                         "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
                                         &err),
                     1);
    assert_int_equal(nph_password_verify(NULL, "x", &err), -1);
}

static void test_aead(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    uint8_t key[NPH_AEAD_KEY_LEN], key2[NPH_AEAD_KEY_LEN];
    const char *msg = "the backend password";
    size_t len = strlen(msg);
    uint8_t ct[128], ct2[128], pt[128];
    (void)state;
    assert_int_equal(nph_random_bytes(key, sizeof(key), &err), 0);
    memcpy(key2, key, sizeof(key));
    key2[0] ^= 1;

    long n = nph_aead_encrypt(key, "cloud-1", 7, msg, len, ct, &err);
    assert_int_equal(n, (long)len + NPH_AEAD_IV_LEN + NPH_AEAD_TAG_LEN);
    long n2 = nph_aead_encrypt(key, "cloud-1", 7, msg, len, ct2, &err);
    assert_int_equal(n2, n);
    assert_memory_not_equal(ct, ct2, NPH_AEAD_IV_LEN); /* fresh IV */

    long m = nph_aead_decrypt(key, "cloud-1", 7, ct, (size_t)n, pt, &err);
    assert_int_equal(m, (long)len);
    assert_memory_equal(pt, msg, len);

    /* Wrong AAD, wrong key, flipped IV/ciphertext/tag bits, truncation: all refused. */
    assert_int_equal(nph_aead_decrypt(key, "cloud-2", 7, ct, (size_t)n, pt, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAUTHORIZED);
    assert_int_equal(nph_aead_decrypt(key, NULL, 0, ct, (size_t)n, pt, &err), -1);
    assert_int_equal(nph_aead_decrypt(key2, "cloud-1", 7, ct, (size_t)n, pt, &err), -1);
    for (long i = 0; i < n; i += 5) {
        ct[i] ^= 0x40;
        nph_error_clear(&err);
        assert_int_equal(nph_aead_decrypt(key, "cloud-1", 7, ct, (size_t)n, pt, &err), -1);
        assert_int_equal(err.code, NPH_E_UNAUTHORIZED);
        ct[i] ^= 0x40;
    }
    assert_int_equal(nph_aead_decrypt(key, "cloud-1", 7, ct, (size_t)n - 1, pt, &err), -1);
    assert_int_equal(nph_aead_decrypt(key, "cloud-1", 7, ct, 27, pt, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAUTHORIZED);

    /* Empty plaintext still authenticates. */
    n = nph_aead_encrypt(key, NULL, 0, "", 0, ct, &err);
    assert_int_equal(n, 28);
    assert_int_equal(nph_aead_decrypt(key, NULL, 0, ct, 28, pt, &err), 0);
    ct[27] ^= 1;
    assert_int_equal(nph_aead_decrypt(key, NULL, 0, ct, 28, pt, &err), -1);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(nph_ct_equal("abcd", "abcd", 4), 1);
    assert_int_equal(nph_ct_equal("abcd", "abce", 4), 0);
    assert_int_equal(nph_ct_equal("x", "y", 0), 1);
}

static void test_b64_vectors(void **state)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[64];
    uint8_t dec[64];
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(nph_b64_encoded_len(n), strlen(std[i]));
        assert_int_equal(nph_b64_encode(plain[i], n, out), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(nph_b64_decode(std[i], strlen(std[i]), dec), (long)n);
        assert_memory_equal(dec, plain[i], n);
        assert_int_equal(nph_b64url_encode(plain[i], n, out), strlen(url[i]));
        assert_string_equal(out, url[i]);
        assert_int_equal(nph_b64url_decode(url[i], strlen(url[i]), dec), (long)n);
        assert_memory_equal(dec, plain[i], n);
        /* url decoder also takes the padded form */
        assert_int_equal(nph_b64url_decode(std[i], strlen(std[i]), dec), (long)n);
    }
    /* Alphabet difference: 0xfb 0xff -> "+/8=" vs "-_8" */
    const uint8_t bin[] = {0xfb, 0xff};
    nph_b64_encode(bin, 2, out);
    assert_string_equal(out, "+/8=");
    nph_b64url_encode(bin, 2, out);
    assert_string_equal(out, "-_8");
    assert_int_equal(nph_b64url_decode("-_8", 3, dec), 2);
    assert_memory_equal(dec, bin, 2);
}

static void test_b64_strict(void **state)
{
    static const char *bad_std[] = {"Zg",   "Zg=",  "Zg===", "Z===", "Zm9v=",    "Zm 9", "Zm9\n",
                                    "-_8=", "Zm=v", "=Zm9",  "Zh==", "Zm9vYmF*", "Zm9",  "Z"};
    static const char *bad_url[] = {"Z",  "Zg=",  "+/8",  "Zm 9", "Zm9vY",
                                    "Zh", "Zg=x", "Zm=v", "Zm9v="};
    uint8_t dec[64];
    (void)state;
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++)
        assert_int_equal(nph_b64_decode(bad_std[i], strlen(bad_std[i]), dec), -1);
    for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
        assert_int_equal(nph_b64url_decode(bad_url[i], strlen(bad_url[i]), dec), -1);
    /* Embedded NUL counts as an invalid character. */
    assert_int_equal(nph_b64_decode("Zm\0v", 4, dec), -1);
}

static void test_hex_random(void **state)
{
    char out[16];
    uint8_t a[32] = {0}, b[32] = {0};
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;
    nph_hex_encode("\x00\x7f\xff", 3, out);
    assert_string_equal(out, "007fff");
    nph_hex_encode("", 0, out);
    assert_string_equal(out, "");
    assert_int_equal(nph_random_bytes(a, sizeof(a), &err), 0);
    assert_int_equal(nph_random_bytes(b, sizeof(b), &err), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(nph_random_bytes(a, 0, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),     cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_pbkdf2_vectors),     cmocka_unit_test(test_password_round_trip),
        cmocka_unit_test(test_password_malformed), cmocka_unit_test(test_aead),
        cmocka_unit_test(test_ct_equal),           cmocka_unit_test(test_b64_vectors),
        cmocka_unit_test(test_b64_strict),         cmocka_unit_test(test_hex_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
