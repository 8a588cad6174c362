/*
 * nph_crc32c.h - CRC-32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41, reflected), the
 * checksum the object store keeps next to each object's MD5 to verify its bytes on every read:
 * the MD5 is the object's ETag and must be computed once on upload, but re-computing it on
 * every GET costs a core at ~800 MB/s, where CRC-32C runs at several GB/s on the SSE4.2 crc32
 * instruction (x86-64, chosen at run time; a table-driven fallback elsewhere).
 */
#ifndef NPH_CRC32C_H
#define NPH_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The running CRC-32C of len more bytes after crc (start with 0):
 *   nph_crc32c(nph_crc32c(0, a, n), b, m) == nph_crc32c(0, a || b, n + m). */
uint32_t nph_crc32c(uint32_t crc, const void *data, size_t len);

/* The same, always by the portable table (for tests that compare both paths). */
uint32_t nph_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
