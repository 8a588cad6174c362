/* test_crc32c.c - CRC-32C: the published check values, both paths agreeing at every length and
 * alignment, and the running form (a checksum continued across chunks equals the whole one). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "nph_crc32c.h"

static void test_check_values(void **state)
{
    (void)state;
    /* RFC 3720 B.4 and the common "123456789" check value */
    assert_int_equal(nph_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(nph_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    unsigned char z[32] = {0}, o[32], inc[32];
    memset(o, 0xff, sizeof(o));
    for (int i = 0; i < 32; i++)
        inc[i] = (unsigned char)i;
    assert_int_equal(nph_crc32c(0, z, 32), 0x8A9136AAu);
    assert_int_equal(nph_crc32c(0, o, 32), 0x62A8AB43u);
    assert_int_equal(nph_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(nph_crc32c(0, "", 0), 0u);
}

static void test_paths_agree(void **state)
{
    (void)state;
    unsigned char buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len++)
            assert_int_equal(nph_crc32c(0, buf + off, len), nph_crc32c_sw(0, buf + off, len));
}

static void test_running(void **state)
{
    (void)state;
    static const char s[] = "The quick brown fox jumps over the lazy dog, twice over and again.";
    size_t n = strlen(s);
    uint32_t whole = nph_crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(nph_crc32c(nph_crc32c(0, s, cut), s + cut, n - cut), whole);
        assert_int_equal(nph_crc32c_sw(nph_crc32c(0, s, cut), s + cut, n - cut), whole);
    }
    /* one flipped bit changes it */
    char t[sizeof(s)];
    memcpy(t, s, sizeof(s));
    t[10] ^= 0x04;
    assert_int_not_equal(nph_crc32c(0, t, n), whole);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
