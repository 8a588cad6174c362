/*
 * cmd_bill.h - `nephele bill`: rate usage (a JSON-lines file offline, or the store's ledger)
 * with the configuration's price catalog and print the bill as JSON, CSV or HTML
 * (docs/billing.md).
 */
#ifndef CMD_BILL_H
#define CMD_BILL_H

#include <stddef.h>

#include "nph_error.h"
#include "pol_rate.h"

/* argv[0] is "bill". Exit status: 0 printed, 2 bad input or usage, 1 a store or I/O failure. */
int cmd_bill(int argc, char **argv);

/* A bill as "json" (indented, with a final newline), "csv" or "html" into a malloc'd *out of
 * *len bytes (NUL-terminated). -1 with err for another format or on nomem. */
int bill_render(const struct pol_bill *b, const char *format, char **out, size_t *len,
                struct nph_error *err);

#endif
