/* pol_money.c - integer money (see pol_money.h). */
#include "pol_money.h"

#include <stdint.h>
#include <stdio.h>

int pol_money_parse(const char *s, int64_t *out)
{
    int neg = 0, frac_digits = 0, any = 0;
    int64_t whole = 0, frac = 0;
    if (!s)
        return -1;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    for (; *s >= '0' && *s <= '9'; s++, any = 1) {
        if (whole > (INT64_MAX / POL_MICRO - 9) / 10)
            return -1;
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, any = 1) {
            if (++frac_digits > 6)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
    }
    if (*s || !any)
        return -1;
    for (; frac_digits < 6; frac_digits++)
        frac *= 10;
    *out = (whole * POL_MICRO + frac) * (neg ? -1 : 1);
    return 0;
}

int64_t pol_money_round(int64_t micros, int digits)
{
    int64_t unit = 1, q, r;
    if (digits < 0)
        digits = 0;
    for (int i = digits; i < 6; i++)
        unit *= 10;
    if (unit == 1)
        return micros;
    q = micros / unit;
    r = micros % unit;
    if (r < 0) {
        r += unit;
        q -= 1;
    }
    if (2 * r > unit || (2 * r == unit && (q & 1)))
        q += 1;
    return q * unit;
}

char *pol_money_format(int64_t micros, int digits, char *buf, size_t len)
{
    int64_t v = pol_money_round(micros, digits);
    int neg = v < 0;
    uint64_t a = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    uint64_t whole = a / POL_MICRO, frac = a % POL_MICRO;
    if (digits <= 0) {
        snprintf(buf, len, "%s%llu", neg ? "-" : "", (unsigned long long)whole);
    } else {
        char f[8];
        snprintf(f, sizeof(f), "%06llu", (unsigned long long)frac);
        snprintf(buf, len, "%s%llu.%.*s", neg ? "-" : "", (unsigned long long)whole,
                 digits > 6 ? 6 : digits, f);
    }
    return buf;
}
