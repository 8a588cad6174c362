/*
 * cmd_usage.h - `nephele usage export|import`: the ledger as JSON lines (docs/billing.md), and
 * the helpers that `nephele bill` and GET /v1/billing/reports share to read the ledger into
 * the rating core's event list.
 */
#ifndef CMD_USAGE_H
#define CMD_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "nph_config.h"
#include "nph_error.h"
#include "nph_store.h"
#include "pol_rate.h"

/* argv[0] is "usage". Exit status: 0 done, 2 bad input or usage, 1 a store or I/O failure. */
int cmd_usage(int argc, char **argv);

/* Append the ledger's events with from <= ts < to (UTC seconds), only project_id's when not
 * NULL, to out (times truncated to the second). Returns 0, or -1 with err. */
int usage_ledger_load(struct nph_db *db, int64_t from, int64_t to, const char *project_id,
                      struct pol_uevents *out, struct nph_error *err);

/* Rate the store's ledger for q (project_id's events only when not NULL): on PostgreSQL the
 * usage is aggregated in SQL (usage_bill_sql) and only sums come back, elsewhere the events
 * are loaded and rated in memory; both give the same bill. A rating error found on the SQL
 * path is reported from the in-memory path, so that it names the resource. */
int usage_bill(struct nph_db *db, const struct pol_catalog *cat, const struct pol_bill_query *q,
               const char *project_id, struct pol_bill **out, struct nph_error *err);
/* The SQL aggregation alone (PostgreSQL only): one GROUP BY over the daily roll-up and the
 * usage intervals the ledger maintains at ingestion (usage_day, usage_interval, usage_open;
 * nph_ledger.h). */
int usage_bill_sql(struct nph_db *db, const struct pol_catalog *cat, const struct pol_bill_query *q,
                   const char *project_id, struct pol_bill **out, struct nph_error *err);
/* The same over the usage intervals only, every day split from the segments, as before the
 * roll-up: the bench's baseline and a cross-check in the tests. */
int usage_bill_sql_intervals(struct nph_db *db, const struct pol_catalog *cat,
                             const struct pol_bill_query *q, const char *project_id,
                             struct pol_bill **out, struct nph_error *err);
/* The same aggregation deriving the intervals from the events with window functions, as
 * before the interval tables: the bench's baseline and a cross-check in the tests. */
int usage_bill_sql_events(struct nph_db *db, const struct pol_catalog *cat,
                          const struct pol_bill_query *q, const char *project_id,
                          struct pol_bill **out, struct nph_error *err);

/* Append every event of ev to the ledger in one transaction (all or nothing). Returns 0, or -1
 * with err naming the line of the first event that failed. */
int usage_ledger_import(struct nph_db *db, const struct pol_uevents *ev, struct nph_error *err);

/* Read a whole file (at most max bytes) into a NUL-terminated malloc'd buffer; "-" is stdin.
 * NULL with err naming the file. */
char *usage_read_file(const char *path, size_t max, size_t *len, struct nph_error *err);

/* The configuration: defaults < file (may be NULL) < environment < --data-dir (may be NULL),
 * finished. Returns 0, or -1 with err (cfg is then finalised). */
int usage_load_config(struct nph_config *cfg, const char *file, const char *data_dir,
                      struct nph_error *err);

/* Open the configured store (one connection) and apply the ledger's migrations. */
int usage_open_store(const struct nph_config *cfg, struct nph_store **out, struct nph_error *err);

#endif
