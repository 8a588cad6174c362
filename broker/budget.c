/*
 * budget.c - budgets with thresholds and their alerts (see budget.h): the month-to-date spend
 * that placement and budgets share, the threshold rule, the budget_alert table, the check, the
 * listings behind /v1/budgets and the webhook deliveries with their retry schedule.
 */
#include "budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_usage.h"
#include "nph_clock.h"
#include "nph_http.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_log.h"
#include "pol_money.h"
#include "pol_rate.h"
#include "pol_time.h"

__extension__ typedef __int128 i128;

#define BUDGET_CLAIM_S      60 /* a delivery in flight holds its alert this long */
#define BUDGET_HOOK_TIMEOUT 10000L

static const struct nph_migration budget_migrations[] = {
    {1, "budget alerts",
     "CREATE TABLE budget_alert (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
     " budget TEXT NOT NULL, document TEXT NOT NULL, month TEXT NOT NULL,"
     " threshold INTEGER NOT NULL, spend BIGINT NOT NULL, budget_limit BIGINT NOT NULL,"
     " currency TEXT NOT NULL, on_exceed TEXT NOT NULL, created_at BIGINT NOT NULL,"
     " delivery TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt_at BIGINT NOT NULL DEFAULT 0, delivered_at BIGINT,"
     " last_error TEXT NOT NULL DEFAULT '',"
     " UNIQUE (project_id, budget, month, threshold));"
     "CREATE INDEX budget_alert_due ON budget_alert (delivery, next_attempt_at);"
     "CREATE INDEX budget_alert_project ON budget_alert (project_id, month);"},
};

int budget_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "budget", budget_migrations,
                             sizeof(budget_migrations) / sizeof(budget_migrations[0]), applied,
                             err);
}

/* ---- the figures -------------------------------------------------------------------------- */

size_t budget_crossed(const struct pol_budget *b, int64_t spend, int64_t limit, int *out)
{
    size_t n = 0;
    if (spend <= 0)
        return 0;
    for (size_t i = 0; i < b->nthresholds && i < POL_BUDGET_MAX_THRESHOLDS; i++)
        if ((i128)spend * 100 >= (i128)limit * b->thresholds[i])
            out[n++] = b->thresholds[i];
    return n;
}

int64_t budget_retry_delay(int attempts)
{
    if (attempts < 1)
        return 0;
    if (attempts >= BUDGET_MAX_ATTEMPTS)
        return -1;
    int64_t d = BUDGET_RETRY_BASE_S;
    for (int i = 1; i < attempts && d < BUDGET_RETRY_MAX_S; i++)
        d *= 2;
    return d < BUDGET_RETRY_MAX_S ? d : BUDGET_RETRY_MAX_S;
}

void budget_month_key(int64_t t, char out[8])
{
    int64_t y;
    int m, d;
    pol_time_to_civil(t, &y, &m, &d);
    snprintf(out, 8, "%04u-%02u", (unsigned)(y % 10000), (unsigned)m % 100u);
}

static int64_t month_start(int64_t t)
{
    int64_t y;
    int m, d;
    pol_time_to_civil(t, &y, &m, &d);
    return pol_time_from_civil(y, m, 1, 0, 0, 0);
}

/* ---- month-to-date spend ------------------------------------------------------------------ */

static json_t *month_spend(struct nph_store *store, const struct pol_catalog *cat,
                           const char *project, int64_t now_s, struct nph_error *err)
{
    struct pol_bill_query q = {.from = month_start(now_s),
                               .to = now_s + 1,
                               .open_end = now_s,
                               .currency = NULL,
                               .group_by = POL_G_PROJECT};
    struct pol_uevents ev;
    struct pol_bill *bill = NULL;
    json_t *out = NULL;
    pol_uevents_init(&ev);
    struct nph_db *db = nph_store_acquire(store, err);
    int rc = db && usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC, q.to, project, &ev, err) == 0
                 ? 0
                 : -1;
    nph_store_release(db);
    if (rc == 0 && pol_bill_rate(cat, &ev, &q, &bill, err) == 0) {
        if (!(out = json_object()))
            nph_error_nomem(err);
        for (size_t i = 0; out && i < bill->nlines; i++) {
            const struct pol_bill_line *l = &bill->lines[i];
            if (!l->project)
                continue;
            json_int_t was = json_integer_value(json_object_get(out, l->project));
            if (json_object_set_new(out, l->project, json_integer(was + l->raw)) != 0) {
                json_decref(out);
                out = NULL;
                nph_error_nomem(err);
            }
        }
    }
    pol_bill_free(bill);
    pol_uevents_fini(&ev);
    return out;
}

json_t *budget_month_spend(struct nph_store *store, const json_t *sections, const char *project,
                           int64_t now_s, struct nph_error *err)
{
    struct pol_catalog *cat = pol_catalog_from_config(sections, NULL, "configuration", err);
    if (!cat)
        return NULL;
    json_t *out = month_spend(store, cat, project, now_s, err);
    pol_catalog_free(cat);
    return out;
}

int budget_project_spend(struct nph_store *store, const json_t *sections, const char *project,
                         int64_t now_s, int64_t *out, struct nph_error *err)
{
    json_t *all = budget_month_spend(store, sections, project, now_s, err);
    if (!all)
        return -1;
    *out = json_integer_value(json_object_get(all, project));
    json_decref(all);
    return 0;
}

/* ---- the service -------------------------------------------------------------------------- */

struct budget_svc {
    struct nph_store *store;
    const struct nph_config *cfg;
    struct nph_http_client *http; /* NULL without a webhook */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, started, poked;
    pthread_t thread;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct budget_svc *g_running; /* the process's running service, for budget_poke */

struct budget_svc *budget_open(struct nph_store *store, const struct nph_config *cfg,
                               struct nph_error *err)
{
    struct budget_svc *s = calloc(1, sizeof(*s));
    if (!s) {
        nph_error_nomem(err);
        return NULL;
    }
    s->store = store;
    s->cfg = cfg;
    const char *hook = cfg->billing_alert_webhook;
    if (hook && *hook) {
        if (strncmp(hook, "http://", 7) != 0 && strncmp(hook, "https://", 8) != 0) {
            free(s);
            nph_error_set(err, NPH_E_INVALID,
                          "billing.alert_webhook: '%.200s' is not an http:// or https:// URL",
                          hook);
            return NULL;
        }
        struct nph_http_opts o;
        nph_http_opts_default(&o);
        o.timeout_ms = BUDGET_HOOK_TIMEOUT;
        o.max_retries = 0; /* the alert's own schedule retries */
        o.max_response_bytes = 64 * 1024;
        if (!(s->http = nph_http_client_new(&o, err))) {
            free(s);
            return NULL;
        }
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

/* ---- policies' budgets --------------------------------------------------------------------- */

struct budget_docs {
    char **names;
    struct pol_policy **pols;
    size_t n;
};

static void docs_fini(struct budget_docs *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->names[i]);
        pol_policy_free(d->pols[i]);
    }
    free(d->names);
    free(d->pols);
    memset(d, 0, sizeof(*d));
}

/* The latest version of every stored policy document, compiled. A document that no longer
 * loads (it loaded when stored) is skipped with a warning. */
static int docs_load(struct nph_store *store, struct budget_docs *d, struct nph_error *err)
{
    memset(d, 0, sizeof(*d));
    struct nph_db *db = nph_store_acquire(store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db, "SELECT name, document FROM fed_policy ORDER BY name, version DESC",
                            err)
           : NULL;
    int rc = st ? 0 : -1, step = 0;
    char *last = NULL;
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1) {
        const char *name = nph_stmt_col_text(st, 0), *text = nph_stmt_col_text(st, 1);
        if (!name || !text || (last && strcmp(last, name) == 0))
            continue;
        struct nph_error perr = NPH_ERROR_INIT;
        struct pol_policy *p = pol_policy_load(name, text, strlen(text), &perr);
        char *dup = strdup(name);
        free(last);
        last = strdup(name);
        if (!p || !dup || !last) {
            if (!p)
                nph_log(NPH_LOG_WARN, "budget.policy_skipped", "policy", name, "msg", perr.msg,
                        NULL);
            pol_policy_free(p);
            free(dup);
            if (!last)
                rc = nph_error_nomem(err);
            continue;
        }
        char **nn = realloc(d->names, (d->n + 1) * sizeof(*nn));
        if (nn)
            d->names = nn;
        struct pol_policy **np = nn ? realloc(d->pols, (d->n + 1) * sizeof(*np)) : NULL;
        if (np)
            d->pols = np;
        if (!nn || !np) {
            pol_policy_free(p);
            free(dup);
            rc = nph_error_nomem(err);
            break;
        }
        d->names[d->n] = dup;
        d->pols[d->n++] = p;
    }
    if (step < 0)
        rc = -1;
    free(last);
    nph_stmt_done(st);
    nph_store_release(db);
    if (rc)
        docs_fini(d);
    return rc;
}

/* The budget's key in alerts: "<document>/<name>", the name defaulting to its project. */
static void budget_key(const char *doc, const struct pol_budget *b, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", doc, b->name ? b->name : b->project);
}

static json_t *money(int64_t micros, const char *currency)
{
    char buf[48];
    pol_money_format(micros, pol_currency_digits(currency), buf, sizeof(buf));
    return json_pack("{s:s,s:s}", "amount", buf, "currency", currency);
}

/* spend / limit in percent, one decimal (display only; the rule compares exact amounts). */
static double percent(int64_t spend, int64_t limit)
{
    if (limit <= 0)
        return spend > 0 ? 100.0 * 1000 : 0.0;
    i128 tenths = ((i128)spend * 1000 + limit / 2) / limit;
    return (double)(int64_t)tenths / 10.0;
}

/* ---- alerts -------------------------------------------------------------------------------- */

#define ALERT_SELECT                                                                               \
    "SELECT id, project_id, budget, document, month, threshold, spend, budget_limit, currency,"    \
    " on_exceed, created_at, delivery, attempts, next_attempt_at, delivered_at, last_error"        \
    " FROM budget_alert "

static json_t *alert_row(struct nph_stmt *st)
{
    char created[32], next[32], delivered[32];
    const char *cur = nph_stmt_col_text(st, 8);
    int64_t spend = nph_stmt_col_int64(st, 6), limit = nph_stmt_col_int64(st, 7);
    const char *delivery = nph_stmt_col_text(st, 11);
    nph_time_format(nph_stmt_col_int64(st, 10), 0, created, sizeof(created));
    nph_time_format(nph_stmt_col_int64(st, 13) * NPH_USEC_PER_SEC, 0, next, sizeof(next));
    int has_deliv = !nph_stmt_col_is_null(st, 14);
    if (has_deliv)
        nph_time_format(nph_stmt_col_int64(st, 14), 0, delivered, sizeof(delivered));
    const char *le = nph_stmt_col_text(st, 15);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:f,s:s,s:s,s:{s:s,s:I,s:s?,s:s?,s:s?}}",
                     "id", nph_stmt_col_text(st, 0), "project", nph_stmt_col_text(st, 1), "budget",
                     nph_stmt_col_text(st, 2), "document", nph_stmt_col_text(st, 3), "month",
                     nph_stmt_col_text(st, 4), "threshold", (int)nph_stmt_col_int64(st, 5), "spend",
                     money(spend, cur), "limit", money(limit, cur), "percent",
                     percent(spend, limit), "on_exceed", nph_stmt_col_text(st, 9), "created",
                     created, "delivery", "state", delivery, "attempts",
                     (json_int_t)nph_stmt_col_int64(st, 12), "next_attempt",
                     strcmp(delivery, "pending") == 0 ? next : NULL, "delivered",
                     has_deliv ? delivered : NULL, "last_error", le && *le ? le : NULL);
}

/* Rows of `sql` (binding texts) as alert objects appended to arr. */
static int alert_query(struct nph_store *store, json_t *arr, const char *sql, const char *a,
                       const char *b, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(store, err);
    struct nph_stmt *st = db ? nph_db_prepare(db, sql, err) : NULL;
    int rc = st ? 0 : -1, step = 0;
    if (rc == 0 && a)
        rc = nph_stmt_bind_text(st, 1, a, err);
    if (rc == 0 && b)
        rc = nph_stmt_bind_text(st, 2, b, err);
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1) {
        json_t *o = alert_row(st);
        if (!o || json_array_append_new(arr, o) != 0)
            rc = nph_error_nomem(err);
    }
    if (step < 0)
        rc = -1;
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

/* Insert the alert unless it exists. 1 when it is new, 0 when it was there, -1 on error. */
static int alert_insert(struct budget_svc *s, const char *project, const char *key, const char *doc,
                        const char *month, int threshold, int64_t spend, int64_t limit,
                        const char *currency, int deny, char id[NPH_UUID_LEN + 1],
                        struct nph_error *err)
{
    if (nph_uuid4(id) != 0)
        return nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
    int hook = s->http != NULL;
    int64_t now = nph_clock_now();
    struct nph_db *db = nph_store_acquire(s->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "INSERT INTO budget_alert (id, project_id, budget, document, month,"
                            " threshold, spend, budget_limit, currency, on_exceed, created_at,"
                            " delivery, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                            " ?, ?) ON CONFLICT DO NOTHING",
                            err)
           : NULL;
    int rc = st && nph_stmt_bind_text(st, 1, id, err) == 0 &&
                     nph_stmt_bind_text(st, 2, project, err) == 0 &&
                     nph_stmt_bind_text(st, 3, key, err) == 0 &&
                     nph_stmt_bind_text(st, 4, doc, err) == 0 &&
                     nph_stmt_bind_text(st, 5, month, err) == 0 &&
                     nph_stmt_bind_int64(st, 6, threshold, err) == 0 &&
                     nph_stmt_bind_int64(st, 7, spend, err) == 0 &&
                     nph_stmt_bind_int64(st, 8, limit, err) == 0 &&
                     nph_stmt_bind_text(st, 9, currency, err) == 0 &&
                     nph_stmt_bind_text(st, 10, deny ? "deny" : "warn", err) == 0 &&
                     nph_stmt_bind_int64(st, 11, now, err) == 0 &&
                     nph_stmt_bind_text(st, 12, hook ? "pending" : "none", err) == 0 &&
                     nph_stmt_bind_int64(st, 13, now / NPH_USEC_PER_SEC, err) == 0 &&
                     nph_stmt_step(st, err) >= 0
                 ? (int)nph_stmt_changes(st)
                 : -1;
    nph_stmt_done(st);
    nph_store_release(db);
    return rc < 0 ? -1 : rc > 0;
}

int budget_check(struct budget_svc *s, json_t *raised, struct nph_error *err)
{
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    char month[8];
    budget_month_key(now, month);
    struct budget_docs d;
    if (docs_load(s->store, &d, err) != 0)
        return -1;
    size_t nbud = 0;
    for (size_t i = 0; i < d.n; i++)
        nbud += d.pols[i]->nbudgets;
    if (nbud == 0) {
        docs_fini(&d);
        return 0;
    }
    int rc = -1;
    json_t *spends = NULL;
    struct pol_catalog *cat = pol_catalog_from_config(s->cfg->sections, NULL, "configuration", err);
    if (!cat || !(spends = month_spend(s->store, cat, NULL, now, err)))
        goto cleanup;
    const char *cur = cat->cands->currency;
    rc = 0;
    for (size_t i = 0; i < d.n && rc == 0; i++) {
        for (size_t k = 0; k < d.pols[i]->nbudgets && rc == 0; k++) {
            const struct pol_budget *b = &d.pols[i]->budgets[k];
            int64_t limit;
            if (pol_cands_convert(cat->cands, b->amount, b->currency, cur, now, &limit) != 0) {
                nph_log(NPH_LOG_WARN, "budget.no_rate", "policy", d.names[i], "project", b->project,
                        "from", b->currency, "to", cur, NULL);
                continue;
            }
            char key[200];
            budget_key(d.names[i], b, key, sizeof(key));
            const char *pk;
            json_t *pv;
            json_object_foreach(spends, pk, pv)
            {
                if (strcmp(b->project, "*") != 0 && strcmp(b->project, pk) != 0)
                    continue;
                int crossed[POL_BUDGET_MAX_THRESHOLDS];
                int64_t spend = json_integer_value(pv);
                size_t nc = budget_crossed(b, spend, limit, crossed);
                for (size_t c = 0; c < nc && rc == 0; c++) {
                    char id[NPH_UUID_LEN + 1];
                    int n = alert_insert(s, pk, key, d.names[i], month, crossed[c], spend, limit,
                                         cur, b->deny, id, err);
                    if (n < 0) {
                        rc = -1;
                    } else if (n > 0) {
                        char pc[16], sp[48], li[48];
                        snprintf(pc, sizeof(pc), "%d", crossed[c]);
                        pol_money_format(spend, 6, sp, sizeof(sp));
                        pol_money_format(limit, 6, li, sizeof(li));
                        nph_log(NPH_LOG_WARN, "budget.alert", "project", pk, "budget", key, "month",
                                month, "threshold", pc, "spend", sp, "limit", li, "currency", cur,
                                NULL);
                        if (raised && alert_query(s->store, raised, ALERT_SELECT "WHERE id = ?", id,
                                                  NULL, err) != 0)
                            rc = -1;
                    }
                }
            }
        }
    }
cleanup:
    json_decref(spends);
    pol_catalog_free(cat);
    docs_fini(&d);
    return rc;
}

/* ---- listings ----------------------------------------------------------------------------- */

json_t *budget_list(struct budget_svc *s, const char *project, struct nph_error *err)
{
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    char month[8];
    budget_month_key(now, month);
    struct budget_docs d;
    if (docs_load(s->store, &d, err) != 0)
        return NULL;
    json_t *out = NULL, *list = json_array(), *spends = NULL, *alerts = json_array();
    struct pol_catalog *cat = pol_catalog_from_config(s->cfg->sections, NULL, "configuration", err);
    if (!list || !alerts) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (!cat || !(spends = month_spend(s->store, cat, project, now, err)))
        goto cleanup;
    if (project ? alert_query(s->store, alerts,
                              ALERT_SELECT
                              "WHERE month = ? AND project_id = ? ORDER BY created_at, threshold",
                              month, project, err)
                : alert_query(s->store, alerts,
                              ALERT_SELECT "WHERE month = ? ORDER BY created_at, threshold", month,
                              NULL, err))
        goto cleanup;
    const char *cur = cat->cands->currency;
    for (size_t i = 0; i < d.n; i++) {
        for (size_t k = 0; k < d.pols[i]->nbudgets; k++) {
            const struct pol_budget *b = &d.pols[i]->budgets[k];
            char key[200];
            budget_key(d.names[i], b, key, sizeof(key));
            /* the projects this budget is shown for */
            json_t *projects = json_object();
            if (!projects) {
                nph_error_nomem(err);
                goto cleanup;
            }
            if (strcmp(b->project, "*") != 0) {
                if (!project || strcmp(project, b->project) == 0)
                    json_object_set_new(projects, b->project, json_true());
            } else if (project) {
                json_object_set_new(projects, project, json_true());
            } else {
                const char *pk;
                json_t *pv;
                size_t ai;
                json_object_foreach(spends, pk, pv) json_object_set_new(projects, pk, json_true());
                json_array_foreach(alerts, ai, pv)
                {
                    if (strcmp(json_string_value(json_object_get(pv, "budget")), key) == 0)
                        json_object_set_new(projects,
                                            json_string_value(json_object_get(pv, "project")),
                                            json_true());
                }
            }
            int64_t limit = -1;
            int conv = pol_cands_convert(cat->cands, b->amount, b->currency, cur, now, &limit);
            const char *pk;
            json_t *pv;
            json_object_foreach(projects, pk, pv)
            {
                int64_t spend = json_integer_value(json_object_get(spends, pk));
                json_t *mine = json_array(), *ths = json_array();
                size_t ai;
                json_t *a;
                json_array_foreach(alerts, ai, a)
                {
                    if (strcmp(json_string_value(json_object_get(a, "budget")), key) == 0 &&
                        strcmp(json_string_value(json_object_get(a, "project")), pk) == 0)
                        json_array_append(mine, a);
                }
                for (size_t t = 0; t < b->nthresholds; t++)
                    json_array_append_new(ths, json_integer(b->thresholds[t]));
                json_t *e = json_pack(
                    "{s:s,s:s,s:s,s:s?,s:s,s:o,s:s,s:o,s:o,s:o?,s:o?,s:o}", "budget", key,
                    "document", d.names[i], "project", pk, "name", b->name, "applies_to",
                    b->project, "monthly", money(b->amount, b->currency), "on_exceed",
                    b->deny ? "deny" : "warn", "thresholds", ths, "spend", money(spend, cur),
                    "limit", conv == 0 ? money(limit, cur) : NULL, "percent",
                    conv == 0 ? json_real(percent(spend, limit)) : NULL, "alerts", mine);
                if (!e || json_array_append_new(list, e) != 0) {
                    json_decref(projects);
                    nph_error_nomem(err);
                    goto cleanup;
                }
            }
            json_decref(projects);
        }
    }
    out = json_pack("{s:s,s:s,s:O}", "month", month, "currency", cur, "budgets", list);
    if (!out)
        nph_error_nomem(err);
cleanup:
    json_decref(list);
    json_decref(alerts);
    json_decref(spends);
    pol_catalog_free(cat);
    docs_fini(&d);
    return out;
}

json_t *budget_alerts(struct budget_svc *s, const char *project, const char *month,
                      struct nph_error *err)
{
    if (month && (strlen(month) != 7 || month[4] != '-' || strspn(month, "0123456789") != 4 ||
                  strspn(month + 5, "0123456789") != 2)) {
        nph_error_set(err, NPH_E_INVALID, "'month' must be YYYY-MM, got '%.32s'", month);
        return NULL;
    }
    json_t *arr = json_array();
    if (!arr) {
        nph_error_nomem(err);
        return NULL;
    }
    int rc = month ? alert_query(s->store, arr,
                                 ALERT_SELECT "WHERE project_id = ? AND month = ?"
                                              " ORDER BY created_at DESC, threshold DESC",
                                 project, month, err)
                   : alert_query(s->store, arr,
                                 ALERT_SELECT "WHERE project_id = ?"
                                              " ORDER BY created_at DESC, threshold DESC",
                                 project, NULL, err);
    if (rc) {
        json_decref(arr);
        return NULL;
    }
    json_t *out = json_pack("{s:s,s:o}", "project", project, "alerts", arr);
    if (!out)
        nph_error_nomem(err);
    return out;
}

/* ---- webhook deliveries ------------------------------------------------------------------- */

struct due {
    char id[NPH_UUID_LEN + 1];
    int64_t next;
    int attempts;
    json_t *alert;
};

static int deliver_one(struct budget_svc *s, struct due *a, struct nph_error *err)
{
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    /* claim: whoever moves next_attempt_at first sends */
    struct nph_db *db = nph_store_acquire(s->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "UPDATE budget_alert SET next_attempt_at = ? WHERE id = ? AND"
                            " next_attempt_at = ? AND delivery = 'pending'",
                            err)
           : NULL;
    int claimed = st && nph_stmt_bind_int64(st, 1, now + BUDGET_CLAIM_S, err) == 0 &&
                          nph_stmt_bind_text(st, 2, a->id, err) == 0 &&
                          nph_stmt_bind_int64(st, 3, a->next, err) == 0 &&
                          nph_stmt_step(st, err) >= 0
                      ? (int)nph_stmt_changes(st)
                      : -1;
    nph_stmt_done(st);
    nph_store_release(db);
    if (claimed <= 0)
        return claimed;
    json_t *body = json_pack("{s:O}", "alert", a->alert);
    char *text = body ? nph_json_dumps(body) : NULL;
    json_decref(body);
    if (!text)
        return nph_error_nomem(err);
    struct nph_http_header h[] = {{"Content-Type", "application/json"}};
    struct nph_http_response resp;
    struct nph_error herr = NPH_ERROR_INIT;
    char why[256] = "";
    int ok = 0;
    memset(&resp, 0, sizeof(resp));
    if (nph_http_request(s->http, "POST", s->cfg->billing_alert_webhook, h, 1, text, strlen(text),
                         &resp, &herr) != 0)
        snprintf(why, sizeof(why), "%.200s", herr.msg);
    else if (resp.status < 200 || resp.status > 299)
        snprintf(why, sizeof(why), "the webhook answered %ld", resp.status);
    else
        ok = 1;
    nph_http_response_fini(&resp);
    free(text);
    int attempts = a->attempts + 1;
    int64_t delay = ok ? 0 : budget_retry_delay(attempts);
    const char *state = ok ? "delivered" : delay < 0 ? "failed" : "pending";
    now = nph_clock_now();
    db = nph_store_acquire(s->store, err);
    st = db ? nph_db_prepare(db,
                             "UPDATE budget_alert SET delivery = ?, attempts = ?,"
                             " next_attempt_at = ?, delivered_at = ?, last_error = ? WHERE id = ?",
                             err)
            : NULL;
    int rc =
        st && nph_stmt_bind_text(st, 1, state, err) == 0 &&
                nph_stmt_bind_int64(st, 2, attempts, err) == 0 &&
                nph_stmt_bind_int64(st, 3, now / NPH_USEC_PER_SEC + (delay > 0 ? delay : 0), err) ==
                    0 &&
                (ok ? nph_stmt_bind_int64(st, 4, now, err) : nph_stmt_bind_null(st, 4, err)) == 0 &&
                nph_stmt_bind_text(st, 5, why, err) == 0 &&
                nph_stmt_bind_text(st, 6, a->id, err) == 0 && nph_stmt_step(st, err) >= 0
            ? 0
            : -1;
    nph_stmt_done(st);
    nph_store_release(db);
    char n[16];
    snprintf(n, sizeof(n), "%d", attempts);
    if (ok)
        nph_log(NPH_LOG_INFO, "budget.alert_delivered", "alert", a->id, "attempts", n, NULL);
    else
        nph_log(NPH_LOG_WARN, "budget.alert_undelivered", "alert", a->id, "attempts", n, "state",
                state, "msg", why, NULL);
    return rc < 0 ? -1 : ok;
}

int budget_deliver_due(struct budget_svc *s, struct nph_error *err)
{
    if (!s->http)
        return 0;
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    struct due *v = NULL;
    size_t n = 0;
    int rc = -1, delivered = 0;
    /* the alerts, then their claim keys (same order) */
    struct nph_db *db = nph_store_acquire(s->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "SELECT id, next_attempt_at, attempts FROM budget_alert WHERE"
                            " delivery = 'pending' AND next_attempt_at <= ?"
                            " ORDER BY created_at, threshold LIMIT 100",
                            err)
           : NULL;
    int ok = st && nph_stmt_bind_int64(st, 1, now, err) == 0, step = 0;
    while (ok && (step = nph_stmt_step(st, err)) == 1) {
        struct due *nv = realloc(v, (n + 1) * sizeof(*nv));
        if (!nv) {
            ok = 0;
            nph_error_nomem(err);
            break;
        }
        v = nv;
        memset(&v[n], 0, sizeof(v[n]));
        snprintf(v[n].id, sizeof(v[n].id), "%s", nph_stmt_col_text(st, 0));
        v[n].next = nph_stmt_col_int64(st, 1);
        v[n].attempts = (int)nph_stmt_col_int64(st, 2);
        n++;
    }
    if (step < 0)
        ok = 0;
    nph_stmt_done(st);
    nph_store_release(db);
    if (!ok)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_array();
        if (!one ||
            alert_query(s->store, one, ALERT_SELECT "WHERE id = ?", v[i].id, NULL, err) != 0) {
            json_decref(one);
            goto cleanup;
        }
        json_t *a = json_array_get(one, 0);
        if (a) {
            json_object_del(a, "delivery");
            v[i].alert = json_incref(a);
        }
        json_decref(one);
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].alert)
            continue;
        int r = deliver_one(s, &v[i], err);
        if (r < 0)
            goto cleanup;
        delivered += r;
    }
    rc = delivered;
cleanup:
    for (size_t i = 0; i < n; i++)
        json_decref(v[i].alert);
    free(v);
    return rc;
}

/* ---- the thread --------------------------------------------------------------------------- */

static void *budget_main(void *arg)
{
    struct budget_svc *s = arg;
    int64_t interval = s->cfg->billing_budget_check_interval * NPH_USEC_PER_SEC;
    int64_t next_check = interval > 0 ? nph_clock_mono() : INT64_MAX;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int due = s->poked || nph_clock_mono() >= next_check;
        s->poked = 0;
        pthread_mutex_unlock(&s->mu);
        struct nph_error err = NPH_ERROR_INIT;
        if (due) {
            if (budget_check(s, NULL, &err) != 0)
                nph_log(NPH_LOG_WARN, "budget.check_failed", "msg", err.msg, NULL);
            if (interval > 0)
                next_check = nph_clock_mono() + interval;
        }
        nph_error_clear(&err);
        if (budget_deliver_due(s, &err) < 0)
            nph_log(NPH_LOG_WARN, "budget.delivery_failed", "msg", err.msg, NULL);
        pthread_mutex_lock(&s->mu);
        if (s->stopping || s->poked)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int budget_start(struct budget_svc *s, struct nph_error *err)
{
    if (pthread_create(&s->thread, NULL, budget_main, s) != 0)
        return nph_error_set(err, NPH_E_INTERNAL, "cannot start the budget thread");
    s->started = 1;
    pthread_mutex_lock(&g_mu);
    g_running = s;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

void budget_poke(void)
{
    pthread_mutex_lock(&g_mu);
    struct budget_svc *s = g_running;
    if (s) {
        pthread_mutex_lock(&s->mu);
        s->poked = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&g_mu);
}

void budget_close(struct budget_svc *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g_mu);
    if (g_running == s)
        g_running = NULL;
    pthread_mutex_unlock(&g_mu);
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    nph_http_client_free(s->http);
    free(s);
}
