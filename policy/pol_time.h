/*
 * pol_time.h - civil-calendar arithmetic on UTC seconds for placement (dated prices and rates,
 * the rest of a budget month). Pure: no clock reads, no time zone database.
 */
#ifndef POL_TIME_H
#define POL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Seconds since 1970-01-01T00:00:00Z of a civil UTC date and time (proleptic Gregorian). */
int64_t pol_time_from_civil(int64_t y, int m, int d, int hh, int mm, int ss);
/* The civil date of t. */
void pol_time_to_civil(int64_t t, int64_t *y, int *m, int *d);

/* Parse "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ" (also with a space for 'T' and
 * "+00:00" for 'Z'). Returns 0 with *out written, or -1. */
int pol_time_parse(const char *s, int64_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). Returns buf. */
char *pol_time_format(int64_t t, char *buf, size_t len);
/* "YYYY-MM-DD" into buf (>= 11 bytes). Returns buf. */
char *pol_date_format(int64_t t, char *buf, size_t len);

/* The first second of the calendar month after the one that holds t. */
int64_t pol_time_month_end(int64_t t);

#endif
