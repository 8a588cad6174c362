/* pol_time.c - civil calendar arithmetic (see pol_time.h); days from civil after the
 * well-known era-based formulation (400-year cycles of 146097 days). */
#include "pol_time.h"

#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t pol_time_from_civil(int64_t y, int m, int d, int hh, int mm, int ss)
{
    return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

void pol_time_to_civil(int64_t t, int64_t *y, int *m, int *d)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int pol_time_parse(const char *s, int64_t *out)
{
    int y, m, d, hh = 0, mi = 0, ss = 0;
    if (!s || strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m) ||
        s[7] != '-' || digits(s + 8, 2, &d))
        return -1;
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -1;
    s += 10;
    if (*s) {
        if ((*s != 'T' && *s != ' ') || digits(s + 1, 2, &hh) || s[3] != ':' ||
            digits(s + 4, 2, &mi) || s[6] != ':' || digits(s + 7, 2, &ss))
            return -1;
        s += 9;
        if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
            return -1;
        if (hh > 23 || mi > 59 || ss > 59)
            return -1;
    }
    *out = pol_time_from_civil(y, m, d, hh, mi, ss);
    return 0;
}

char *pol_time_format(int64_t t, char *buf, size_t len)
{
    int64_t y;
    int m, d;
    int64_t sod = ((t % 86400) + 86400) % 86400;
    pol_time_to_civil(t, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
    return buf;
}

char *pol_date_format(int64_t t, char *buf, size_t len)
{
    int64_t y;
    int m, d;
    pol_time_to_civil(t, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
    return buf;
}

int64_t pol_time_month_end(int64_t t)
{
    int64_t y;
    int m, d;
    pol_time_to_civil(t, &y, &m, &d);
    return m == 12 ? pol_time_from_civil(y + 1, 1, 1, 0, 0, 0)
                   : pol_time_from_civil(y, m + 1, 1, 0, 0, 0);
}
