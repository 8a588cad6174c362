/*
 * network_cidr.c - IPv4 and IPv6 addresses and CIDRs for IPAM: parsing (inet_pton, so only
 * what the C library accepts), canonical formatting, containment, overlap, arithmetic over the
 * 128 bits and EUI-64 addresses for SLAAC subnets. Pure: no store, no allocation.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_network.h"

static int addr_len(int version)
{
    return version == 4 ? 4 : 16;
}

int ln_addr_parse(const char *s, struct ln_addr *out, struct nph_error *err)
{
    struct ln_addr a;
    memset(&a, 0, sizeof(a));
    if (s && strchr(s, ':') && inet_pton(AF_INET6, s, a.b) == 1) {
        a.version = 6;
    } else if (s && inet_pton(AF_INET, s, a.b) == 1) {
        a.version = 4;
    } else {
        nph_error_set(err, NPH_E_INVALID, "'%.64s' is not a valid IP address", s ? s : "");
        return nph_error_detail(err, "InvalidInput");
    }
    *out = a;
    return 0;
}

const char *ln_addr_format(const struct ln_addr *a, char *buf, size_t cap)
{
    if (!inet_ntop(a->version == 4 ? AF_INET : AF_INET6, a->b, buf, (socklen_t)cap))
        snprintf(buf, cap, "?");
    return buf;
}

static int host_bits_set(const struct ln_addr *a, int prefix)
{
    int n = addr_len(a->version);
    for (int i = 0; i < n; i++) {
        int bits = prefix - i * 8; /* network bits in this byte */
        uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        if (a->b[i] & (uint8_t)~mask)
            return 1;
    }
    return 0;
}

static void clear_host_bits(struct ln_addr *a, int prefix)
{
    int n = addr_len(a->version);
    for (int i = 0; i < n; i++) {
        int bits = prefix - i * 8;
        uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        a->b[i] &= mask;
    }
}

int ln_cidr_parse(const char *s, int lenient, struct ln_cidr *out, struct nph_error *err)
{
    char buf[64];
    const char *slash;
    char *end;
    long prefix;
    struct ln_cidr c;
    if (!s || strlen(s) >= sizeof(buf) || !(slash = strchr(s, '/')) || !slash[1])
        goto bad;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    if (ln_addr_parse(buf, &c.addr, NULL))
        goto bad;
    prefix = strtol(slash + 1, &end, 10);
    if (*end || slash[1] == '-' || slash[1] == '+' || prefix < 0 ||
        prefix > (c.addr.version == 4 ? 32 : 128))
        goto bad;
    c.prefix = (int)prefix;
    if (host_bits_set(&c.addr, c.prefix)) {
        if (!lenient) {
            char net[64];
            clear_host_bits(&c.addr, c.prefix);
            nph_error_set(err, NPH_E_INVALID,
                          "'%s' isn't a recognized IP subnet cidr, '%s/%d' is recommended", s,
                          ln_addr_format(&c.addr, net, sizeof(net)), c.prefix);
            return nph_error_detail(err, "InvalidInput");
        }
        clear_host_bits(&c.addr, c.prefix);
    }
    *out = c;
    return 0;
bad:
    nph_error_set(err, NPH_E_INVALID, "'%.64s' is not a valid IP subnet", s ? s : "");
    return nph_error_detail(err, "InvalidInput");
}

const char *ln_cidr_format(const struct ln_cidr *c, char *buf, size_t cap)
{
    char a[64];
    snprintf(buf, cap, "%s/%d", ln_addr_format(&c->addr, a, sizeof(a)), c->prefix);
    return buf;
}

int ln_cidr_contains(const struct ln_cidr *c, const struct ln_addr *a)
{
    struct ln_addr x;
    if (a->version != c->addr.version)
        return 0;
    x = *a;
    clear_host_bits(&x, c->prefix);
    return memcmp(x.b, c->addr.b, 16) == 0;
}

int ln_cidr_overlap(const struct ln_cidr *a, const struct ln_cidr *b)
{
    if (a->addr.version != b->addr.version)
        return 0;
    /* two prefixes overlap iff the shorter one contains the other's network address */
    return a->prefix <= b->prefix ? ln_cidr_contains(a, &b->addr) : ln_cidr_contains(b, &a->addr);
}

int ln_addr_cmp(const struct ln_addr *a, const struct ln_addr *b)
{
    int r;
    if (a->version != b->version)
        return a->version < b->version ? -1 : 1;
    r = memcmp(a->b, b->b, (size_t)addr_len(a->version));
    return r < 0 ? -1 : r > 0;
}

void ln_addr_add(struct ln_addr *a, uint64_t n)
{
    int i = addr_len(a->version) - 1;
    unsigned carry = 0;
    for (; i >= 0 && (n || carry); i--) {
        unsigned v = a->b[i] + (unsigned)(n & 0xff) + carry;
        a->b[i] = (uint8_t)v;
        carry = v >> 8;
        n >>= 8;
    }
}

void ln_cidr_nth(const struct ln_cidr *c, uint64_t n, struct ln_addr *out)
{
    *out = c->addr;
    ln_addr_add(out, n);
}

void ln_cidr_last(const struct ln_cidr *c, struct ln_addr *out)
{
    int n = addr_len(c->addr.version);
    *out = c->addr;
    for (int i = 0; i < n; i++) {
        int bits = c->prefix - i * 8;
        uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        out->b[i] |= (uint8_t)~mask;
    }
}

int ln_addr_eui64(const struct ln_cidr *prefix, const char *mac, struct ln_addr *out,
                  struct nph_error *err)
{
    unsigned m[6];
    struct ln_addr a;
    if (prefix->addr.version != 6 || prefix->prefix != 64)
        return nph_error_set(err, NPH_E_INVALID, "EUI-64 addresses need an IPv6 /64 prefix");
    if (!mac ||
        sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        return nph_error_set(err, NPH_E_INVALID, "'%.32s' is not a valid MAC address",
                             mac ? mac : "");
    a = prefix->addr;
    a.b[8] = (uint8_t)(m[0] ^ 0x02);
    a.b[9] = (uint8_t)m[1];
    a.b[10] = (uint8_t)m[2];
    a.b[11] = 0xff;
    a.b[12] = 0xfe;
    a.b[13] = (uint8_t)m[3];
    a.b[14] = (uint8_t)m[4];
    a.b[15] = (uint8_t)m[5];
    *out = a;
    return 0;
}
