/*
 * pol_money.h - money as integer micro-units of a currency (int64), never floating point.
 * Rounding happens once, at report lines, half-even (banker's rounding).
 */
#ifndef POL_MONEY_H
#define POL_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define POL_MICRO 1000000LL

/* Parse a decimal amount ("5000.00", "-0.125", "12") into micro-units. At most 6 fraction
 * digits; returns 0, or -1 on malformed input or overflow. */
int pol_money_parse(const char *s, int64_t *out);
/* Round micro-units half-even to `digits` fraction digits (0..6), still in micro-units. */
int64_t pol_money_round(int64_t micros, int digits);
/* Format micro-units with `digits` fraction digits (after half-even rounding) into buf. */
char *pol_money_format(int64_t micros, int digits, char *buf, size_t len);

#endif
