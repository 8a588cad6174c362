/*
 * fed_place.c - the federation's placement hook: every create asks the policy engine
 * (policy/pol_place.h) where to go, over the live clouds.
 *
 * Candidates are the configuration's (clouds[].regions/offerings with prices and labels,
 * sizes, exchange rates) merged with what each registered cloud offers now (its offering list,
 * its region), with the cloud's health from its circuit breaker and the project's servers per
 * region for spread. Policies are documents admins store through /v1/policies, versioned; the
 * engine reads the latest version of every document, their rules and budgets together. Every
 * decision is stored (fed_placement) and can be read back by id.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "fed_internal.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_log.h"
#include "cmd_usage.h"
#include "local_compute.h"
#include "pol_place.h"
#include "pol_rate.h"
#include "pol_time.h"

#define POLICY_MAX_BYTES (256 * 1024)
#define POLICY_NAME_MAX  64

/* ---- policies ----------------------------------------------------------------------------- */

struct doc_rows {
    json_t *arr; /* [{"name","version","document","created"}] */
    int latest_only;
};

static int doc_row(struct nph_stmt *st, void *ctx)
{
    struct doc_rows *d = ctx;
    const char *name = nph_stmt_col_text(st, 0);
    char created[32];
    fed_iso8601(nph_stmt_col_int64(st, 3), created);
    if (d->latest_only) {
        /* rows come ordered by name, version descending: keep the first of each name */
        size_t n = json_array_size(d->arr);
        json_t *last = n ? json_array_get(d->arr, n - 1) : NULL;
        if (last && strcmp(json_string_value(json_object_get(last, "name")), name) == 0)
            return 0;
    }
    return json_array_append_new(d->arr,
                                 json_pack("{s:s,s:I,s:s,s:s}", "name", name, "version",
                                           (json_int_t)nph_stmt_col_int64(st, 1), "document",
                                           nph_stmt_col_text(st, 2), "created", created));
}

static json_t *policy_rows(struct fed *f, const char *name, int latest_only, struct nph_error *err)
{
    struct doc_rows d = {json_array(), latest_only};
    struct nph_db *db = d.arr ? nph_store_acquire(f->store, err) : NULL;
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            name ? "SELECT name, version, document, created_at FROM fed_policy "
                                   "WHERE name = ? ORDER BY name, version DESC"
                                 : "SELECT name, version, document, created_at FROM fed_policy "
                                   "WHERE ? = '' ORDER BY name, version DESC",
                            err)
           : NULL;
    int rc = st && nph_stmt_bind_text(st, 1, name ? name : "", err) == 0 ? 0 : -1, step = 0;
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1)
        if (doc_row(st, &d) != 0)
            rc = nph_error_nomem(err);
    if (step < 0)
        rc = -1;
    nph_stmt_done(st);
    nph_store_release(db);
    if (rc) {
        json_decref(d.arr);
        return NULL;
    }
    return d.arr;
}

/* The latest version of every document, merged into one policy. NULL with err; a store with no
 * policy gives an empty policy (the defaults: cheapest wins). */
static struct pol_policy *merged_policy(struct fed *f, const char *name, const char *document,
                                        struct nph_error *err)
{
    json_t *docs = policy_rows(f, NULL, 1, err);
    if (!docs)
        return NULL;
    if (name) {
        /* the document `name` as it would be with `document` */
        size_t k;
        json_t *row;
        json_array_foreach(docs, k, row)
        {
            if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0) {
                json_array_remove(docs, k);
                break;
            }
        }
        json_array_append_new(docs, json_pack("{s:s,s:s}", "name", name, "document", document));
    }
    json_t *merged = json_pack("{s:[],s:[]}", "policies", "budgets");
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        const char *text = json_string_value(json_object_get(d, "document"));
        json_t *doc = nph_yaml_to_json("policy", text, strlen(text), err);
        if (!doc) {
            json_decref(docs);
            json_decref(merged);
            return NULL;
        }
        json_array_extend(json_object_get(merged, "policies"), json_object_get(doc, "policies"));
        json_array_extend(json_object_get(merged, "budgets"), json_object_get(doc, "budgets"));
        json_decref(doc);
    }
    json_decref(docs);
    struct pol_policy *p = pol_policy_from_json("policies", merged, NULL, err);
    json_decref(merged);
    return p;
}

static struct pol_policy *active_policy(struct fed *f, struct nph_error *err)
{
    return merged_policy(f, NULL, NULL, err);
}

json_t *fed_policy_put(struct fed *f, const char *name, const char *document, struct nph_error *err)
{
    size_t len = document ? strlen(document) : 0;
    if (!name || !*name || strlen(name) > POLICY_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            strlen(name)) {
        nph_error_set(err, NPH_E_INVALID,
                      "a policy name has 1 to %d letters, digits, '-', '_' or '.'",
                      POLICY_NAME_MAX);
        return NULL;
    }
    if (!document || len == 0 || len > POLICY_MAX_BYTES) {
        nph_error_set(err, NPH_E_INVALID, "'document' must be a YAML text of 1 to %d bytes",
                      POLICY_MAX_BYTES);
        return NULL;
    }
    /* validated with its lines before anything is stored, then with the other documents */
    struct pol_policy *p = pol_policy_load(name, document, len, err);
    if (!p)
        return NULL;
    pol_policy_free(p);
    if (!(p = merged_policy(f, name, document, err))) {
        nph_error_prefix(err, "policy '%s' does not fit the stored policies", name);
        return NULL;
    }
    pol_policy_free(p);
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return NULL;
    int64_t version = 0;
    struct nph_stmt *st = NULL;
    int rc = nph_db_begin(db, err);
    if (!rc &&
        (st = nph_db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM fed_policy WHERE name = ?",
                             err)) &&
        nph_stmt_bind_text(st, 1, name, err) == 0 && nph_stmt_step(st, err) == 1)
        version = nph_stmt_col_int64(st, 0) + 1;
    else
        rc = -1;
    nph_stmt_done(st);
    if (!rc) {
        st = nph_db_prepare(db,
                            "INSERT INTO fed_policy (name, version, document, created_at) VALUES "
                            "(?, ?, ?, ?)",
                            err);
        rc = st && !nph_stmt_bind_text(st, 1, name, err) &&
                     !nph_stmt_bind_int64(st, 2, version, err) &&
                     !nph_stmt_bind_text(st, 3, document, err) &&
                     !nph_stmt_bind_int64(st, 4, nph_clock_now(), err) &&
                     nph_stmt_step(st, err) >= 0
                 ? 0
                 : -1;
        nph_stmt_done(st);
    }
    if (!rc)
        rc = nph_db_commit(db, err);
    nph_store_release(db);
    if (rc) {
        if (err->code == NPH_E_STORE)
            nph_error_set(err, NPH_E_CONFLICT, "policy '%s' changed meanwhile; try again", name);
        return NULL;
    }
    nph_log(NPH_LOG_INFO, "placement.policy_stored", "policy", name, NULL);
    json_t *rows = policy_rows(f, name, 1, err);
    json_t *one = rows ? json_incref(json_array_get(rows, 0)) : NULL;
    json_decref(rows);
    return one;
}

json_t *fed_policy_list(struct fed *f, const char *name, struct nph_error *err)
{
    json_t *rows = policy_rows(f, name, name == NULL, err);
    if (rows && name && json_array_size(rows) == 0) {
        json_decref(rows);
        nph_error_set(err, NPH_E_NOT_FOUND, "no policy '%.64s'", name);
        return NULL;
    }
    return rows;
}

int fed_policy_delete(struct fed *f, const char *name, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    if (!db)
        return -1;
    struct nph_stmt *st = nph_db_prepare(db, "DELETE FROM fed_policy WHERE name = ?", err);
    int rc =
        st && nph_stmt_bind_text(st, 1, name, err) == 0 && nph_stmt_step(st, err) >= 0 ? 0 : -1;
    int64_t n = rc == 0 ? nph_stmt_changes(st) : 0;
    nph_stmt_done(st);
    nph_store_release(db);
    if (rc == 0 && n == 0)
        return nph_error_set(err, NPH_E_NOT_FOUND, "no policy '%.64s'", name);
    return rc;
}

/* The project's spend this calendar month so far, rated from the ledger in the configuration's
 * currency (budgets; the same figure /v1/budgets shows: budget_project_spend). A ledger the
 * configuration cannot price (a cloud without prices) counts as nothing spent, with a warning
 * in the log. */
static int set_spend(struct fed *f, struct pol_cands *c, const char *project, struct nph_error *err)
{
    struct nph_error rerr = NPH_ERROR_INIT;
    int64_t spent = 0;
    if (budget_project_spend(f->store, f->cfg->sections, project, nph_clock_now() / 1000000, &spent,
                             &rerr) != 0) {
        nph_log(NPH_LOG_WARN, "placement.spend_unknown", "project", project, "msg", rerr.msg, NULL);
        spent = 0;
    }
    return pol_cands_set_spend(c, project, spent, err);
}

/* ---- candidates --------------------------------------------------------------------------- */

/* The project's servers per (cloud, region), for the spread weigher. */
static int set_spread(struct fed *f, struct pol_cands *c, const char *project,
                      struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "SELECT cloud, region, COUNT(*) FROM fed_server WHERE project_id = ? "
                            "AND status <> 'DELETED' GROUP BY cloud, region",
                            err)
           : NULL;
    int rc = st && nph_stmt_bind_text(st, 1, project, err) == 0 ? 0 : -1, step = 0;
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1) {
        int64_t cl = pol_cands_find_cloud(c, nph_stmt_col_text(st, 0));
        int64_t r = cl >= 0 ? pol_cands_find_region(c, (uint32_t)cl, nph_stmt_col_text(st, 1)) : -1;
        if (r >= 0)
            pol_cands_set_servers(c, (uint32_t)r, nph_stmt_col_int64(st, 2));
    }
    if (step < 0)
        rc = -1;
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

/* Merge one live cloud into the set: the cloud, its region, its offerings, its health. */
static int merge_cloud(struct fed *f, struct pol_cands *c, struct fed_cloud *fc,
                       const struct fed_caller *who, const char *only, const int64_t need[3],
                       struct nph_error *err)
{
    int64_t ci = pol_cands_find_cloud(c, fc->name);
    if (ci < 0) {
        json_t *labels = json_object_get(fc->config, "labels");
        ci = pol_cands_add_cloud(c, fc->name, fc->kind, labels, err);
        if (ci < 0)
            return -1;
    }
    int has_region = 0;
    for (size_t r = 0; r < c->nregions; r++)
        if (c->regions[r].cloud == (uint32_t)ci)
            has_region = 1;
    if (!has_region && pol_cands_add_region(c, (uint32_t)ci, fc->region, NULL, err) < 0)
        return -1;
    /* the offerings as the cloud sells them now (cached for a minute) */
    struct nph_error oerr = NPH_ERROR_INIT;
    struct nph_offering dummy;
    pthread_mutex_lock(&fc->mu);
    /* an open or half-open breaker rules the cloud out: the health probe, not a create,
     * finds out whether it is back (offerings may answer from the cache meanwhile) */
    enum fed_breaker br = fc->breaker;
    char last[sizeof(fc->last_error)];
    memcpy(last, fc->last_error, sizeof(last));
    pthread_mutex_unlock(&fc->mu);
    int ok = br != FED_BREAKER_CLOSED ? 0 : fed_cloud_fit(f, fc, who, 0, 0, 0, &dummy, &oerr) == 0;
    /* Offerings the configuration prices all compete; of the others (unpriced, so free to the
     * engine) only the cloud's smallest that fits, as a cloud without a price list would
     * give (federation.md: size resolution). */
    struct nph_offering smallest;
    int have_smallest = ok && fed_cloud_fit(f, fc, who, (unsigned)need[0], (uint64_t)need[1],
                                            (uint64_t)need[2], &smallest, &oerr) == 0;
    if (ok) {
        pthread_mutex_lock(&fc->mu);
        for (size_t i = 0; ok && i < fc->offerings.n; i++) {
            const struct nph_offering *o = &fc->offerings.v[i];
            if (pol_cands_find_offering(c, (uint32_t)ci, o->name) < 0 &&
                !(have_smallest && strcmp(o->name, smallest.name) == 0))
                continue;
            if (pol_cands_add_offering(c, (uint32_t)ci, o->name, o->vcpus, (int64_t)o->ram_mb,
                                       (int64_t)o->disk_gb, o->gpus, NULL, err) < 0)
                ok = -1;
        }
        pthread_mutex_unlock(&fc->mu);
        if (ok < 0)
            return -1;
    }
    if (strcmp(fc->kind, "local") == 0 && who->project_id && *who->project_id && f->host &&
        f->host->compute) {
        /* the native cloud's quota left for the project (-1 limits: unlimited) */
        struct nph_error qerr = NPH_ERROR_INIT;
        json_t *lim = local_compute_quota_get(f->host->compute, who->project_id, &qerr);
        json_t *use =
            lim ? local_compute_quota_usage(f->host->compute, who->project_id, &qerr) : NULL;
        if (use) {
            int64_t left[3];
            static const char *const keys[3] = {"cores", "ram", "instances"};
            for (int k = 0; k < 3; k++) {
                int64_t l = json_integer_value(json_object_get(lim, keys[k]));
                int64_t u = json_integer_value(json_object_get(use, keys[k]));
                left[k] = l < 0 ? POL_UNLIMITED : (l > u ? l - u : 0);
            }
            pol_cands_set_quota(c, (uint32_t)ci, left[0], left[1], left[2]);
        }
        json_decref(lim);
        json_decref(use);
    }
    char reason[1400];
    if (only && strcmp(only, fc->name) != 0) {
        snprintf(reason, sizeof(reason), "the request names cloud '%s'", only);
        return pol_cands_set_cloud_health(c, (uint32_t)ci, POL_HEALTH_DOWN, reason, err);
    }
    if (br != FED_BREAKER_CLOSED) {
        snprintf(reason, sizeof(reason), "circuit breaker %s%s%s",
                 br == FED_BREAKER_OPEN ? "open" : "half-open (recovering)", last[0] ? ": " : "",
                 last);
        return pol_cands_set_cloud_health(c, (uint32_t)ci, POL_HEALTH_DOWN, reason, err);
    }
    if (!ok) {
        snprintf(reason, sizeof(reason), "its offerings could not be listed: %s", oerr.msg);
        return pol_cands_set_cloud_health(c, (uint32_t)ci, POL_HEALTH_DOWN, reason, err);
    }
    return 0;
}

static struct pol_cands *live_candidates(struct fed *f, const struct pol_policy *p,
                                         const struct fed_caller *who, const char *only,
                                         const int64_t need[3], struct nph_error *err)
{
    struct pol_cands *c = pol_cands_from_config(f->cfg->sections, NULL, "configuration", err);
    if (!c)
        return NULL;
    struct fed_cloud *list[FED_MAX_CLOUDS];
    size_t n = 0;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++)
        if (!f->clouds[i]->removed && (nph_backend_families(f->clouds[i]->b) & NPH_FAM_COMPUTE))
            list[n++] = f->clouds[i];
    pthread_rwlock_unlock(&f->lock);
    for (size_t i = 0; i < n; i++)
        if (merge_cloud(f, c, list[i], who, only, need, err) != 0) {
            pol_cands_free(c);
            return NULL;
        }
    /* configured clouds that are not registered (offline only) cannot take a server */
    for (size_t i = 0; i < c->nclouds; i++) {
        int live = 0;
        for (size_t j = 0; j < n && !live; j++)
            live = strcmp(c->clouds[i].name, list[j]->name) == 0;
        if (!live && pol_cands_set_cloud_health(c, (uint32_t)i, POL_HEALTH_DOWN,
                                                "not a cloud of this broker", err) != 0) {
            pol_cands_free(c);
            return NULL;
        }
    }
    /* the month's spend (the ledger rated) only when a budget of the policy reads it */
    if (who->project_id && *who->project_id &&
        (set_spread(f, c, who->project_id, err) != 0 ||
         (pol_policy_has_budget(p, who->project_id) &&
          set_spend(f, c, who->project_id, err) != 0))) {
        pol_cands_free(c);
        return NULL;
    }
    return c;
}

/* The configured price of `size_gb` of storage per hour on cloud `name`: each dated
 * `volume_gb_month` (or `object_gb_month`) price x size / 730 hours, added to offering `o`
 * with its validity and currency. A cloud without such a price stays free of charge, like an
 * unpriced server offering. */
static int storage_prices(struct pol_cands *c, uint32_t o, const struct pol_catalog *cat,
                          const char *name, enum pol_meter m, int64_t size_gb,
                          struct nph_error *err)
{
    int64_t ci = pol_cands_find_cloud(cat->cands, name);
    if (ci < 0 || (size_t)ci >= cat->nclouds)
        return 0;
    const struct pol_bill_cloud *bc = &cat->clouds[ci];
    for (size_t i = 0; i < bc->nprices[m]; i++) {
        const struct pol_mprice *mp = &bc->prices[m][i];
        int64_t per_hour;
        if (pol_muldiv(mp->amount, size_gb, 730, &per_hour) < 0)
            return nph_error_set(err, NPH_E_INVALID,
                                 "the price of %" PRId64 " GB on cloud '%s' overflows", size_gb,
                                 name);
        if (pol_cands_add_price(c, o, per_hour, mp->currency, mp->from, mp->until, err) != 0)
            return -1;
    }
    return 0;
}

/* Volumes and buckets: one candidate per live cloud offering the family (block storage or
 * object storage), a pseudo-offering named after the kind ("volume", "bucket") that fits any
 * size, priced from the cloud's `volume_gb_month` / `object_gb_month` for the request's size_gb
 * (so the cost weigher and budgets see what the storage will cost per hour), with the
 * configuration's exchange rates; the region is the cloud's own, labelled as the configuration
 * labels a region of that name. Rules (`require`, `prefer`) and health decide the rest, and
 * ties go to the cloud's name (docs/placement.md). */
static struct pol_cands *storage_candidates(struct fed *f, const char *kind, const char *currency,
                                            int64_t size_gb, const char *only,
                                            struct nph_error *err)
{
    unsigned fam = strcmp(kind, "volume") == 0 ? NPH_FAM_VOLUME : NPH_FAM_OBJECT;
    enum pol_meter meter = fam == NPH_FAM_VOLUME ? POL_M_VOLUME_GB_MONTH : POL_M_OBJECT_GB_MONTH;
    struct pol_catalog *cat = pol_catalog_from_config(f->cfg->sections, NULL, "configuration", err);
    struct pol_cands *c = cat ? pol_cands_new(currency, err) : NULL;
    if (!c) {
        pol_catalog_free(cat);
        return NULL;
    }
    for (size_t i = 0; i < cat->cands->nrates; i++) {
        const struct pol_rate *r = &cat->cands->rates[i];
        if (pol_cands_add_rate(c, r->from, r->to, r->rate, r->date, err) != 0) {
            pol_cands_free(c);
            pol_catalog_free(cat);
            return NULL;
        }
    }
    struct fed_cloud *list[FED_MAX_CLOUDS];
    size_t n = 0;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->n_clouds; i++)
        if (!f->clouds[i]->removed && (nph_backend_families(f->clouds[i]->b) & fam))
            list[n++] = f->clouds[i];
    pthread_rwlock_unlock(&f->lock);
    for (size_t i = 0; i < n; i++) {
        struct fed_cloud *fc = list[i];
        int64_t ci =
            pol_cands_add_cloud(c, fc->name, fc->kind, json_object_get(fc->config, "labels"), err);
        /* the cloud's region, with the labels the configuration gives a region of that name */
        int64_t cc = pol_cands_find_cloud(cat->cands, fc->name);
        int64_t cr = cc >= 0 ? pol_cands_find_region(cat->cands, (uint32_t)cc, fc->region) : -1;
        json_t *rlabels = cr >= 0 ? cat->cands->regions[cr].labels : NULL;
        int64_t oi = -1;
        if (ci < 0 || pol_cands_add_region(c, (uint32_t)ci, fc->region, rlabels, err) < 0 ||
            (oi = pol_cands_add_offering(c, (uint32_t)ci, kind, 0, 0, 0, 0, NULL, err)) < 0 ||
            storage_prices(c, (uint32_t)oi, cat, fc->name, meter, size_gb, err) != 0) {
            pol_cands_free(c);
            pol_catalog_free(cat);
            return NULL;
        }
        pthread_mutex_lock(&fc->mu);
        enum fed_breaker br = fc->breaker;
        char last[sizeof(fc->last_error)];
        memcpy(last, fc->last_error, sizeof(last));
        pthread_mutex_unlock(&fc->mu);
        char reason[400];
        int down = 1;
        if (only && strcmp(only, fc->name) != 0)
            snprintf(reason, sizeof(reason), "the request names cloud '%s'", only);
        else if (br != FED_BREAKER_CLOSED)
            snprintf(reason, sizeof(reason), "circuit breaker %s%s%.300s",
                     br == FED_BREAKER_OPEN ? "open" : "half-open (recovering)",
                     last[0] ? ": " : "", last);
        else
            down = 0;
        if (down && pol_cands_set_cloud_health(c, (uint32_t)ci, POL_HEALTH_DOWN, reason, err)) {
            pol_cands_free(c);
            pol_catalog_free(cat);
            return NULL;
        }
    }
    pol_catalog_free(cat);
    return c;
}

/* ---- decisions ---------------------------------------------------------------------------- */

static int store_decision(struct fed *f, const char *id, const char *project, const json_t *doc,
                          struct nph_error *err)
{
    char *text = nph_json_dumps(doc);
    if (!text)
        return nph_error_nomem(err);
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db,
                            "INSERT INTO fed_placement (id, project_id, decision, created_at) "
                            "VALUES (?, ?, ?, ?)",
                            err)
           : NULL;
    int rc = st && !nph_stmt_bind_text(st, 1, id, err) &&
                     !nph_stmt_bind_text(st, 2, project ? project : "", err) &&
                     !nph_stmt_bind_text(st, 3, text, err) &&
                     !nph_stmt_bind_int64(st, 4, nph_clock_now(), err) &&
                     nph_stmt_step(st, err) >= 0
                 ? 0
                 : -1;
    nph_stmt_done(st);
    nph_store_release(db);
    free(text);
    return rc;
}

json_t *fed_place(struct fed *f, const struct fed_caller *who, const json_t *request,
                  const char *only_cloud, int store, struct fed_placement *out,
                  struct nph_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pol_policy *p = active_policy(f, err);
    if (!p)
        return NULL;
    /* the request's size first (a named size comes from the configured catalog) */
    struct pol_cands *base = pol_cands_from_config(f->cfg->sections, NULL, "configuration", err);
    struct pol_request req;
    const char *bad = NULL;
    if (!base || pol_request_parse(&req, request, base, &bad, err) != 0) {
        if (base && bad)
            nph_error_prefix(err, "request '%s'", bad);
        pol_cands_free(base);
        pol_policy_free(p);
        return NULL;
    }
    int64_t need[3] = {req.vcpus, req.ram_mb, req.disk_gb};
    int storage = strcmp(req.kind, "volume") == 0 || strcmp(req.kind, "bucket") == 0;
    struct pol_cands *c =
        storage ? storage_candidates(f, req.kind, base->currency,
                                     json_integer_value(json_object_get(request, "size_gb")),
                                     only_cloud, err)
                : live_candidates(f, p, who, only_cloud, need, err);
    /* a deny budget weighs a volume's price against the month's spend as a server's */
    if (c && storage && who->project_id && *who->project_id &&
        pol_policy_has_budget(p, who->project_id) && set_spend(f, c, who->project_id, err) != 0) {
        pol_cands_free(c);
        c = NULL;
    }
    pol_cands_free(base);
    if (!c) {
        pol_policy_free(p);
        return NULL;
    }
    json_t *doc = NULL;
    struct pol_decision d;
    pol_decision_init(&d);
    if (pol_request_parse(&req, request, c, &bad, err) != 0) {
        if (bad)
            nph_error_prefix(err, "request '%s'", bad);
        goto done;
    }
    int rc = pol_place(&d, p, c, &req, nph_clock_now() / 1000000, err);
    if (rc < 0)
        goto done;
    if (!(doc = pol_decision_to_json(&d))) {
        nph_error_nomem(err);
        goto done;
    }
    if (nph_uuid4(out->id) != 0) {
        nph_error_set(err, NPH_E_INTERNAL, "cannot draw an id");
        json_decref(doc);
        doc = NULL;
        goto done;
    }
    json_object_set_new(doc, "id", json_string(out->id));
    if (store && store_decision(f, out->id, who->project_id, doc, err) != 0) {
        json_decref(doc);
        doc = NULL;
        goto done;
    }
    if (rc == 0) {
        const struct pol_result *r = &d.c[d.chosen];
        out->placed = 1;
        if (store)
            budget_poke(); /* the budgets' thresholds are checked again soon */
        nph_backend_strlcpy(out->cloud, sizeof(out->cloud), c->clouds[r->cloud].name);
        nph_backend_strlcpy(out->region, sizeof(out->region), c->regions[r->region].name);
        nph_backend_strlcpy(out->offering, sizeof(out->offering), c->offerings[r->offering].name);
    } else {
        pol_decision_why(&d, out->why, sizeof(out->why));
        out->quota_only = d.n > 0;
        for (size_t i = 0; i < d.n; i++)
            if (d.c[i].reason != POL_REASON_QUOTA)
                out->quota_only = 0;
        /* a cloud that is down and lists no offering has no candidate to carry the reason */
        for (size_t i = 0; i < c->nclouds; i++) {
            const struct pol_cloud *cl = &c->clouds[i];
            if (cl->health != POL_HEALTH_DOWN || cl->noffers || !cl->health_reason)
                continue;
            size_t n = strlen(out->why);
            snprintf(out->why + n, sizeof(out->why) - n, "; cloud '%s' is down: %s", cl->name,
                     cl->health_reason);
        }
    }
done:
    pol_decision_fini(&d);
    pol_cands_free(c);
    pol_policy_free(p);
    return doc;
}

json_t *fed_placement_get(struct fed *f, const struct fed_caller *who, const char *id,
                          struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(f->store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db, "SELECT project_id, decision FROM fed_placement WHERE id = ?", err)
           : NULL;
    json_t *doc = NULL;
    int step = st && nph_stmt_bind_text(st, 1, id, err) == 0 ? nph_stmt_step(st, err) : -1;
    if (step == 1 && (who->is_admin || strcmp(nph_stmt_col_text(st, 0), who->project_id) == 0)) {
        const char *text = nph_stmt_col_text(st, 1);
        doc = nph_json_parse(text, strlen(text), 64, 1, err);
    } else if (step >= 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "placement %.64s could not be found", id);
    }
    nph_stmt_done(st);
    nph_store_release(db);
    return doc;
}

void fed_placement_bind(struct fed *f, const char *placement_id, const char *server_id)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = server_id ? nph_store_acquire(f->store, &err) : NULL;
    struct nph_stmt *st =
        db ? nph_db_prepare(db, "UPDATE fed_placement SET server_id = ? WHERE id = ?", &err) : NULL;
    if (st && nph_stmt_bind_text(st, 1, server_id, &err) == 0 &&
        nph_stmt_bind_text(st, 2, placement_id, &err) == 0)
        nph_stmt_step(st, &err);
    nph_stmt_done(st);
    nph_store_release(db);
}

void fed_placement_of(struct fed *f, const char *server_id, char out[40])
{
    struct nph_error err = NPH_ERROR_INIT;
    out[0] = '\0';
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct nph_stmt *st =
        db ? nph_db_prepare(db, "SELECT id FROM fed_placement WHERE server_id = ? LIMIT 1", &err)
           : NULL;
    if (st && nph_stmt_bind_text(st, 1, server_id, &err) == 0 && nph_stmt_step(st, &err) == 1)
        nph_backend_strlcpy(out, 40, nph_stmt_col_text(st, 0));
    nph_stmt_done(st);
    nph_store_release(db);
}
