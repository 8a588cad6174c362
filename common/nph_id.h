/*
 * nph_id.h - identifiers: random (v4) UUIDs from the OpenSSL CSPRNG.
 */
#ifndef NPH_ID_H
#define NPH_ID_H

#define NPH_UUID_LEN     36 /* 8-4-4-4-12 */
#define NPH_UUID_HEX_LEN 32 /* the same 128 bits without dashes (Keystone's id style) */

/* Write a new v4 UUID, NUL-terminated, into out[NPH_UUID_LEN + 1]. Returns 0, -1 if the
 * random source fails. */
int nph_uuid4(char out[NPH_UUID_LEN + 1]);
/* Same, as 32 lower-case hex digits into out[NPH_UUID_HEX_LEN + 1]. */
int nph_uuid4_hex(char out[NPH_UUID_HEX_LEN + 1]);
/* A request id "req-<uuid4>" into out[41]. */
int nph_request_id(char out[41]);

#endif
