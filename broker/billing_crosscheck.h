/*
 * billing_crosscheck.h - Nephele's usage of a remote cloud against the cloud's own report
 * (billing_crosscheck.c).
 */
#ifndef NPH_BILLING_CROSSCHECK_H
#define NPH_BILLING_CROSSCHECK_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "federation.h"

/* Compare, over [from, to) (UTC seconds), the hours the ledger counts for each Nephele
 * project's servers on `cloud` with the hours the cloud's usage API reports for them.
 * {"cloud","from","to","remote_project","projects":[{"project","nephele_hours","cloud_hours",
 * "difference","nephele_servers","cloud_servers","nephele_only":[...],"cloud_only":[...]}],
 * "unattributed":[...],"totals":{...}} (new reference), or NULL with err: NPH_E_NOT_FOUND for
 * an unknown cloud, NPH_E_NOT_SUPPORTED when the cloud reports no usage (the native one), the
 * cloud's error otherwise. */
json_t *billing_crosscheck(struct nph_app *app, const struct fed_caller *who, const char *cloud,
                           int64_t from, int64_t to, struct nph_error *err);

#endif
