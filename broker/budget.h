/*
 * budget.h - budgets with thresholds (docs/billing.md, Budgets): each project's month-to-date
 * spend, rated from the ledger exactly as placement reads it, against the `budgets` of the
 * stored policy documents; an alert per (project, budget, month, threshold) when the spend
 * crosses one of the budget's thresholds (default 50, 80 and 100 %), stored once, listed at
 * /v1/budgets and POSTed to an optional webhook with retries and backoff.
 *
 * The service runs one background thread per process: it checks every
 * `billing.budget_check_interval` seconds and soon after each placement (budget_poke), and
 * delivers due webhook alerts. Alerts are rows of budget_alert (component "budget"), unique
 * per (project, budget, month, threshold), so several brokers on one store raise each alert
 * once; a delivery is claimed by a compare-and-set on its next attempt time, and an alert not
 * yet delivered when a broker stops is sent by the next one that runs.
 */
#ifndef NPH_BUDGET_H
#define NPH_BUDGET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_config.h"
#include "nph_error.h"
#include "nph_store.h"
#include "pol_policy.h"

/* Webhook deliveries: attempts before an alert is given up ("failed"), and the pause after
 * the n-th failed attempt (n >= 1): BUDGET_RETRY_BASE_S x 2^(n-1), at most
 * BUDGET_RETRY_MAX_S. */
#define BUDGET_MAX_ATTEMPTS 10
#define BUDGET_RETRY_BASE_S 5
#define BUDGET_RETRY_MAX_S  600

struct budget_svc;

/* Apply the "budget" component's migrations (table budget_alert). */
int budget_migrate(struct nph_store *store, int *applied, struct nph_error *err);

/* ---- the figures (pure) ------------------------------------------------------------------- */

/* The thresholds of b crossed by `spend` against `limit` (both micro-units of one currency):
 * every t with spend x 100 >= limit x t, ascending, into out (room for
 * POL_BUDGET_MAX_THRESHOLDS). A limit of 0 is crossed by any spend above 0. Returns the count. */
size_t budget_crossed(const struct pol_budget *b, int64_t spend, int64_t limit, int *out);

/* Seconds to wait after the n-th failed delivery attempt (n >= 1); -1 once n reaches
 * BUDGET_MAX_ATTEMPTS (give up). */
int64_t budget_retry_delay(int attempts);

/* "YYYY-MM" of a UTC time in seconds; out needs 8 bytes. */
void budget_month_key(int64_t t, char out[8]);

/* ---- month-to-date spend (shared with placement, broker/fed_place.c) ------------------------ */

/* Every project's spend (project NULL) or one project's, from the first instant of now_s's
 * calendar month (UTC) to now_s, rated from the ledger with the configuration's catalog in the
 * configuration's currency, unrounded micro-units (a budget compares exact amounts). Returns a
 * new object {project_id: micros} (a project without usage is absent), or NULL with err (a
 * ledger the catalog cannot price fails with the rating error). */
json_t *budget_month_spend(struct nph_store *store, const json_t *sections, const char *project,
                           int64_t now_s, struct nph_error *err);
/* One project's figure of budget_month_spend (0 when it has none). */
int budget_project_spend(struct nph_store *store, const json_t *sections, const char *project,
                         int64_t now_s, int64_t *out, struct nph_error *err);

/* ---- the service -------------------------------------------------------------------------- */

/* Borrowed store and configuration (they outlive the service). Starts nothing. */
struct budget_svc *budget_open(struct nph_store *store, const struct nph_config *cfg,
                               struct nph_error *err);
/* Start the background thread (`nephele serve`). */
int budget_start(struct budget_svc *s, struct nph_error *err);
/* Stop the thread and free; NULL is a no-op. Alerts not delivered stay pending in the store. */
void budget_close(struct budget_svc *s);

/* Ask the running service of this process (if any) for a check soon: a create was placed.
 * Never blocks. */
void budget_poke(void);

/* Check every budget now; the alerts raised by this check are appended to `raised` (may be
 * NULL) as budget_alert_json objects. Returns 0, or -1 with err. */
int budget_check(struct budget_svc *s, json_t *raised, struct nph_error *err);

/* The budgets with this month's spend, percent and alerts: every project's for project NULL
 * (a "*" budget is shown once per project with spend or alerts this month), else the
 * project's. {"month","currency","budgets":[...]} (docs/openapi.yaml), or NULL with err. */
json_t *budget_list(struct budget_svc *s, const char *project, struct nph_error *err);

/* The project's alerts, newest first, only of `month` ("YYYY-MM") when not NULL:
 * {"project","alerts":[...]}, or NULL with err (NPH_E_INVALID for a malformed month). */
json_t *budget_alerts(struct budget_svc *s, const char *project, const char *month,
                      struct nph_error *err);

/* Try every due webhook delivery once now (the thread does this every second). Returns the
 * number delivered, or -1 with err. */
int budget_deliver_due(struct budget_svc *s, struct nph_error *err);

#endif
