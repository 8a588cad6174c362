/* nph_id.c - random identifiers (see nph_id.h). */
#include "nph_id.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int uuid_bytes(uint8_t b[16])
{
    if (RAND_bytes(b, 16) != 1)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return 0;
}

int nph_uuid4(char out[NPH_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    char *p = out;
    if (uuid_bytes(b))
        return -1;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return 0;
}

int nph_uuid4_hex(char out[NPH_UUID_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    if (uuid_bytes(b))
        return -1;
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

int nph_request_id(char out[41])
{
    char u[NPH_UUID_LEN + 1];
    if (nph_uuid4(u))
        return -1;
    snprintf(out, 41, "req-%s", u);
    return 0;
}
