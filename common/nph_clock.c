/* nph_clock.c - the one clock (see nph_clock.h). */
#include "nph_clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int64_t clock_fixed;
static _Atomic int64_t clock_offset;

int64_t nph_clock_now(void)
{
    int64_t fixed = atomic_load(&clock_fixed);
    struct timespec ts;
    if (fixed)
        return fixed;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NPH_USEC_PER_SEC + ts.tv_nsec / 1000 + atomic_load(&clock_offset);
}

int64_t nph_clock_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NPH_USEC_PER_SEC + ts.tv_nsec / 1000;
}

void nph_clock_set_fixed(int64_t us)
{
    atomic_store(&clock_fixed, us);
}

void nph_clock_set_offset(int64_t us)
{
    atomic_store(&clock_offset, us);
}

char *nph_time_format(int64_t us, int frac_digits, char *buf, size_t len)
{
    int64_t secs = us / NPH_USEC_PER_SEC;
    int64_t frac = us % NPH_USEC_PER_SEC;
    time_t t;
    struct tm tm;
    char base[24];
    if (frac < 0) {
        frac += NPH_USEC_PER_SEC;
        secs -= 1;
    }
    t = (time_t)secs;
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac_digits <= 0) {
        snprintf(buf, len, "%sZ", base);
    } else {
        char f[8];
        if (frac_digits > 6)
            frac_digits = 6;
        snprintf(f, sizeof(f), "%06lld", (long long)frac);
        snprintf(buf, len, "%s.%.*sZ", base, frac_digits, f);
    }
    return buf;
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int nph_time_parse(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int Y, M, D, h = 0, mi = 0, sec = 0;
    int64_t frac = 0, zone = 0;
    if (!s || parse_digits(&p, 4, &Y) || *p++ != '-' || parse_digits(&p, 2, &M) || *p++ != '-' ||
        parse_digits(&p, 2, &D))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1])
        return -1;
    if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
        return -1;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (parse_digits(&p, 2, &sec))
                return -1;
        }
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (*p == '.') {
            int64_t scale = 100000;
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            while (*p >= '0' && *p <= '9') {
                frac += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, zh, zm;
            p++;
            if (parse_digits(&p, 2, &zh))
                return -1;
            if (*p == ':')
                p++;
            if (parse_digits(&p, 2, &zm) || zh > 23 || zm > 59)
                return -1;
            zone = sign * (zh * 3600 + zm * 60);
        }
    }
    if (*p != '\0')
        return -1;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - zone;
    *out = secs * NPH_USEC_PER_SEC + frac;
    return 0;
}
