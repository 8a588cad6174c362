/*
 * nph_clock.h - the one clock. All times are UTC microseconds since the Unix epoch (int64).
 * Tests may freeze or shift it; production code never calls time(2) or clock_gettime for
 * wall-clock time directly.
 */
#ifndef NPH_CLOCK_H
#define NPH_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define NPH_USEC_PER_SEC 1000000LL

/* Wall-clock now, in UTC microseconds (honours a test override). */
int64_t nph_clock_now(void);
/* Monotonic microseconds, for durations and timeouts (not affected by overrides). */
int64_t nph_clock_mono(void);

/* Tests: freeze the clock at `us` (0 unfreezes), or add an offset to the real clock. */
void nph_clock_set_fixed(int64_t us);
void nph_clock_set_offset(int64_t us);

/* Format as ISO 8601 UTC. frac_digits 0 -> "2026-11-26T04:34:51Z", 6 -> ".000000Z".
 * buf needs at least 32 bytes. Returns buf. */
char *nph_time_format(int64_t us, int frac_digits, char *buf, size_t len);
/* Parse "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM]" (also with a space or no zone = UTC).
 * Returns 0 and writes *out, or -1 on malformed input. */
int nph_time_parse(const char *s, int64_t *out);

#endif
