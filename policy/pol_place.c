/*
 * pol_place.c - the placement engine (see pol_place.h).
 *
 * Speed comes from evaluating each condition at the coarsest level its fields allow: a
 * condition that reads only request.* is evaluated once, one that reads cloud/region fields
 * once per region, one that reads cloud/offering fields once per offering, and only one that
 * mixes region and offering fields once per candidate. Field values live in flat vectors built
 * once per decision (pol_env), so evaluation is index arithmetic without allocation or lookups.
 * The decision's arrays are reused across calls.
 */
#include "pol_place.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol_money.h"
#include "pol_time.h"

/* ---- requests -------------------------------------------------------------------------------- */

static int req_count(const json_t *j, const char *key, int64_t *out, const char **bad,
                     struct nph_error *err)
{
    const json_t *v = json_object_get(j, key);
    if (!v)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > INT64_MAX / POL_MICRO) {
        if (bad)
            *bad = key;
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a non-negative integer", key);
    }
    *out = json_integer_value(v);
    return 0;
}

int pol_request_parse(struct pol_request *r, const json_t *j, const struct pol_cands *c,
                      const char **bad_key, struct nph_error *err)
{
    static const char *const keys[] = {"kind",  "project", "project_labels", "labels", "name",
                                       "image", "size",    "vcpus",          "ram_mb", "disk_gb",
                                       "gpus",  "type",    "size_gb",        NULL};
    static const char *const strs[] = {"kind", "project", "name", "image", "size", "type", NULL};
    struct pol_request q;
    const char *k;
    json_t *v;
    int have_numbers = 0;
    if (bad_key)
        *bad_key = NULL;
    memset(&q, 0, sizeof(q));
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_INVALID, "a request must be a JSON object");
    json_object_foreach((json_t *)j, k, v)
    {
        int ok = 0;
        for (int i = 0; keys[i]; i++)
            ok |= strcmp(keys[i], k) == 0;
        if (!ok) {
            if (bad_key)
                *bad_key = k;
            return nph_error_set(err, NPH_E_INVALID,
                                 "unknown key '%.64s' (expected kind, type, project, "
                                 "project_labels, labels, name, image, size_gb, and size or "
                                 "vcpus, ram_mb, disk_gb, gpus)",
                                 k);
        }
    }
    for (int i = 0; strs[i]; i++) {
        v = json_object_get(j, strs[i]);
        if (v && !json_is_string(v)) {
            if (bad_key)
                *bad_key = strs[i];
            return nph_error_set(err, NPH_E_INVALID, "'%s' must be a string", strs[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        const char *ok = i ? "labels" : "project_labels";
        v = json_object_get(j, ok);
        if (v && !json_is_object(v)) {
            if (bad_key)
                *bad_key = ok;
            return nph_error_set(err, NPH_E_INVALID, "'%s' must be an object", ok);
        }
    }
    q.json = j;
    q.kind = json_string_value(json_object_get(j, "kind"));
    if (!q.kind) /* "type" is the storage requests' word for the same thing */
        q.kind = json_string_value(json_object_get(j, "type"));
    if (!q.kind)
        q.kind = "server";
    q.project = json_string_value(json_object_get(j, "project"));
    q.size = json_string_value(json_object_get(j, "size"));
    if (q.size) {
        const struct pol_size *s = c ? pol_cands_find_size(c, q.size) : NULL;
        if (!s) {
            if (bad_key)
                *bad_key = "size";
            return nph_error_set(err, NPH_E_INVALID,
                                 "unknown size '%.64s' (see 'sizes' in the "
                                 "configuration)",
                                 q.size);
        }
        q.vcpus = s->vcpus;
        q.ram_mb = s->ram_mb;
        q.disk_gb = s->disk_gb;
        q.gpus = s->gpus;
    }
    int rc;
    if ((rc = req_count(j, "vcpus", &q.vcpus, bad_key, err)) < 0)
        return -1;
    have_numbers |= rc == 0;
    if ((rc = req_count(j, "ram_mb", &q.ram_mb, bad_key, err)) < 0)
        return -1;
    have_numbers |= rc == 0;
    int64_t size_gb = 0;
    if (req_count(j, "disk_gb", &q.disk_gb, bad_key, err) < 0 ||
        req_count(j, "gpus", &q.gpus, bad_key, err) < 0 ||
        req_count(j, "size_gb", &size_gb, bad_key, err) < 0)
        return -1;
    /* volumes and buckets are sized by size_gb alone */
    (void)size_gb; /* read by rules as request.size_gb */
    int storage = strcmp(q.kind, "volume") == 0 || strcmp(q.kind, "bucket") == 0;
    if (!q.size && !have_numbers && !storage)
        return nph_error_set(err, NPH_E_INVALID,
                             "a request needs 'size' or at least one of 'vcpus' and 'ram_mb'");
    *r = q;
    return 0;
}

/* ---- values from JSON ------------------------------------------------------------------------ */

static struct pol_value json_value(const json_t *v)
{
    struct pol_value out = pol_value_null();
    if (!v)
        return out;
    switch (json_typeof(v)) {
    case JSON_STRING:
        out.type = POL_V_STR;
        out.str = json_string_value(v);
        out.len = (uint32_t)json_string_length(v);
        break;
    case JSON_INTEGER:
        if (json_integer_value(v) <= INT64_MAX / POL_MICRO &&
            json_integer_value(v) >= INT64_MIN / POL_MICRO)
            out = pol_value_num(json_integer_value(v) * POL_MICRO);
        break;
    case JSON_REAL: {
        /* A count or label written as a YAML/JSON float: not money; read to 6 digits. */
        char buf[64];
        int64_t m;
        double r = json_real_value(v);
        if (isfinite(r) && fabs(r) < 9e12) {
            snprintf(buf, sizeof(buf), "%.6f", r);
            if (pol_money_parse(buf, &m) == 0)
                out = pol_value_num(m);
        }
        break;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        out = pol_value_bool(json_is_true(v));
        break;
    default:
        break;
    }
    return out;
}

/* request.<path>: the resolved numbers and size name, else a walk through the JSON. */
static struct pol_value request_value(const struct pol_request *r, const char *path)
{
    if (!strcmp(path, "vcpus"))
        return pol_value_num(r->vcpus * POL_MICRO);
    if (!strcmp(path, "ram_mb"))
        return pol_value_num(r->ram_mb * POL_MICRO);
    if (!strcmp(path, "disk_gb"))
        return pol_value_num(r->disk_gb * POL_MICRO);
    if (!strcmp(path, "gpus"))
        return pol_value_num(r->gpus * POL_MICRO);
    if (!strcmp(path, "kind"))
        return pol_value_str(r->kind);
    const json_t *cur = r->json;
    const char *s = path;
    while (cur && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (!json_is_object(cur))
            return pol_value_null();
        cur = json_object_getn(cur, s, n);
        s += n + (dot ? 1 : 0);
    }
    return json_value(cur);
}

/* ---- decisions ------------------------------------------------------------------------------- */

void pol_decision_init(struct pol_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->chosen = -1;
}

void pol_decision_fini(struct pol_decision *d)
{
    if (!d)
        return;
    free(d->c);
    for (int s = 0; s < POL_S__COUNT; s++)
        free(d->vec[s]);
    free(d->scratch);
    memset(d, 0, sizeof(*d));
    d->chosen = -1;
}

static int ensure(void **p, size_t *cap, size_t bytes)
{
    if (bytes <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < bytes)
        nc *= 2;
    void *q = realloc(*p, nc);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

enum { LEVEL_CONST, LEVEL_REGION, LEVEL_OFFERING, LEVEL_CANDIDATE };

/* One applying condition: a rule's require or one of its prefer expressions. */
struct cond {
    const struct pol_expr *e;
    uint32_t rule;
    uint8_t prefer;
    uint8_t level;
    uint8_t value; /* LEVEL_CONST */
    double bonus;
};

/* Per region or offering: the first false require of its level and its prefer bonuses. */
struct levelstate {
    uint32_t first_fail; /* index into conds, or NO_FAIL */
    double pref;
};

#define NO_FAIL UINT32_MAX

struct offstate {
    int64_t price;
    int8_t fits;
    int8_t price_rc; /* pol_cands_price_at */
    uint16_t deny;   /* 1 + budget, or 0 */
    uint16_t warn;
};

/* Carve aligned pieces out of the scratch buffer. */
struct carve {
    char *base;
    size_t off;
};

static void *take(struct carve *cv, size_t bytes)
{
    size_t a = (cv->off + 15) & ~(size_t)15;
    cv->off = a + bytes;
    return cv->base ? cv->base + a : NULL;
}

/* Evaluate the conditions of one level in env: the first false require and the bonuses. */
static void level_eval(const struct cond *conds, size_t nconds, size_t nreq, int level,
                       const struct pol_env *env, struct levelstate *out)
{
    out->first_fail = NO_FAIL;
    out->pref = 0;
    for (size_t k = 0; k < nconds; k++) {
        if (conds[k].level != level)
            continue;
        if (k < nreq) {
            if (out->first_fail == NO_FAIL && !pol_expr_true(conds[k].e, env))
                out->first_fail = (uint32_t)k;
        } else if (pol_expr_true(conds[k].e, env)) {
            out->pref += conds[k].bonus;
        }
    }
}

static int level_of(unsigned deps)
{
    int r = (deps & (POL_DEP_REGION | POL_DEP_CLOUD)) != 0, o = (deps & POL_DEP_OFFERING) != 0;
    if ((deps & POL_DEP_REGION) && o)
        return LEVEL_CANDIDATE;
    if (o)
        return LEVEL_OFFERING;
    return r ? LEVEL_REGION : LEVEL_CONST;
}

static void fill_labels(struct pol_value *v, const struct pol_symtab *st, enum pol_scope s,
                        uint32_t fixed, const json_t *labels)
{
    for (uint32_t k = 0; k < st->count[s]; k++)
        v[fixed + k] = json_value(json_object_get(labels, st->names[s][k]));
}

static int better(const struct pol_decision *d, const struct pol_result *a,
                  const struct pol_result *b)
{
    const struct pol_cands *c = d->cands;
    int r;
    if (a->score != b->score)
        return a->score > b->score;
    if (a->price != b->price)
        return a->price < b->price;
    if ((r = strcmp(c->clouds[a->cloud].name, c->clouds[b->cloud].name)))
        return r < 0;
    if ((r = strcmp(c->regions[a->region].name, c->regions[b->region].name)))
        return r < 0;
    return strcmp(c->offerings[a->offering].name, c->offerings[b->offering].name) < 0;
}

static double headroom(const struct pol_cloud *cl, const struct pol_region *r,
                       const struct pol_offering *o)
{
    double h = 1.0;
    const int64_t have[5] = {r->cap_vcpus, r->cap_ram_mb, cl->quota_vcpus, cl->quota_ram_mb,
                             cl->quota_instances};
    const int64_t need[5] = {o->vcpus, o->ram_mb, o->vcpus, o->ram_mb, 1};
    for (int i = 0; i < 5; i++)
        if (have[i] > 0) {
            double f = (double)(have[i] - need[i]) / (double)have[i];
            if (f < h)
                h = f;
        }
    return h;
}

int pol_place(struct pol_decision *d, const struct pol_policy *p, const struct pol_cands *c,
              const struct pol_request *req, int64_t at, struct nph_error *err)
{
    const struct pol_symtab *st = &p->sym;
    uint32_t slots[POL_S__COUNT];
    size_t nconds = 0, nreq_conds = 0, n_cand = 0;
    struct pol_env env;
    int any_weigh = 0;

    d->policy = p;
    d->cands = c;
    d->req = *req;
    d->at = at;
    d->n = 0;
    d->chosen = -1;
    d->neligible = 0;
    memset(d->weights, 0, sizeof(d->weights));

    /* Value vectors. */
    size_t counts[POL_S__COUNT] = {1, c->nclouds, c->nregions, c->noffers};
    for (int s = 0; s < POL_S__COUNT; s++) {
        slots[s] = pol_symtab_slots(st, (enum pol_scope)s);
        size_t bytes =
            (slots[s] ? slots[s] : 1) * (counts[s] ? counts[s] : 1) * sizeof(struct pol_value);
        if (ensure((void **)&d->vec[s], &d->veccap[s], bytes))
            return nph_error_nomem(err);
    }
    for (uint32_t k = 0; k < st->count[POL_S_REQUEST]; k++)
        d->vec[POL_S_REQUEST][k] = request_value(req, st->names[POL_S_REQUEST][k]);
    for (size_t i = 0; i < c->nclouds; i++) {
        struct pol_value *v = d->vec[POL_S_CLOUD] + i * slots[POL_S_CLOUD];
        v[POL_CLOUD_NAME] = pol_value_str(c->clouds[i].name);
        v[POL_CLOUD_KIND] = pol_value_str(c->clouds[i].kind);
        fill_labels(v, st, POL_S_CLOUD, POL_CLOUD__FIXED, c->clouds[i].labels);
    }
    for (size_t i = 0; i < c->nregions; i++) {
        struct pol_value *v = d->vec[POL_S_REGION] + i * slots[POL_S_REGION];
        v[POL_REGION_NAME] = pol_value_str(c->regions[i].name);
        fill_labels(v, st, POL_S_REGION, POL_REGION__FIXED, c->regions[i].labels);
    }

    /* Scratch: per rule and budget, the conditions, per-offering state, and per-region and
     * per-offering condition results, carved from one reusable buffer. */
    size_t max_conds = 0;
    for (size_t i = 0; i < p->nrules; i++)
        max_conds += (p->rules[i].require ? 1 : 0) + p->rules[i].nprefer;
    struct carve cv = {NULL, 0};
    struct cond *conds = NULL;
    struct offstate *os = NULL;
    struct levelstate *ls_region = NULL, *ls_off = NULL;
    uint32_t *cand_conds = NULL;
    for (int pass = 0; pass < 2; pass++) {
        cv.off = 0;
        d->rule_on = take(&cv, p->nrules + 1);
        d->budget_limit = take(&cv, (p->nbudgets + 1) * sizeof(int64_t));
        conds = take(&cv, (max_conds + 1) * sizeof(struct cond));
        os = take(&cv, (c->noffers + 1) * sizeof(struct offstate));
        ls_region = take(&cv, (c->nregions + 1) * sizeof(struct levelstate));
        ls_off = take(&cv, (c->noffers + 1) * sizeof(struct levelstate));
        cand_conds = take(&cv, (max_conds + 1) * sizeof(uint32_t));
        if (pass == 0) {
            if (ensure(&d->scratch, &d->scratch_cap, cv.off + 16))
                return nph_error_nomem(err);
            cv.base = d->scratch;
        }
    }

    /* Rules that apply, their conditions and weights. */
    env.v[POL_S_REQUEST] = d->vec[POL_S_REQUEST];
    env.v[POL_S_CLOUD] = env.v[POL_S_REGION] = env.v[POL_S_OFFERING] = NULL;
    for (size_t i = 0; i < p->nrules; i++) {
        const struct pol_rule *r = &p->rules[i];
        d->rule_on[i] = !r->when || pol_expr_true(r->when, &env);
        if (!d->rule_on[i])
            continue;
        nconds += (r->require ? 1 : 0) + r->nprefer;
        if (r->has_weigh) {
            any_weigh = 1;
            for (int w = 0; w < POL_W__COUNT; w++)
                d->weights[w] += r->weigh[w];
        }
    }
    if (!any_weigh)
        d->weights[POL_W_COST] = 1.0;

    /* Budgets that apply, in the set's currency. */
    int64_t month_end = pol_time_month_end(at), spend = pol_cands_spend(c, req->project);
    int nbud = 0;
    for (size_t b = 0; b < p->nbudgets; b++) {
        const struct pol_budget *bu = &p->budgets[b];
        d->budget_limit[b] = -1;
        if (!pol_budget_applies(bu, req->project))
            continue;
        if (pol_cands_convert(c, bu->amount, bu->currency, c->currency, at, &d->budget_limit[b]) <
            0) {
            char day[16];
            return nph_error_set(err, NPH_E_INVALID,
                                 "no exchange rate from %s to %s on or before %s for the budget "
                                 "of project '%s'",
                                 bu->currency, c->currency, pol_date_format(at, day, sizeof(day)),
                                 bu->project);
        }
        nbud++;
    }

    {
        /* Conditions in rule order: requires first (the first false one is the reason). */
        size_t k = 0;
        for (size_t i = 0; i < p->nrules; i++)
            if (d->rule_on[i] && p->rules[i].require) {
                struct cond *cd = &conds[k++];
                cd->e = p->rules[i].require;
                cd->rule = (uint32_t)i;
                cd->prefer = 0;
                cd->bonus = 0;
            }
        nreq_conds = k;
        for (size_t i = 0; i < p->nrules; i++)
            for (size_t j = 0; d->rule_on[i] && j < p->rules[i].nprefer; j++) {
                struct cond *cd = &conds[k++];
                cd->e = p->rules[i].prefer[j].expr;
                cd->rule = (uint32_t)i;
                cd->prefer = 1;
                cd->bonus = p->rules[i].prefer[j].bonus;
            }
        size_t ncand_conds = 0;
        for (k = 0; k < nconds; k++) {
            conds[k].level = (uint8_t)level_of(pol_expr_deps(conds[k].e));
            if (conds[k].level == LEVEL_CANDIDATE)
                cand_conds[ncand_conds++] = (uint32_t)k;
        }
        struct levelstate const_ls;
        level_eval(conds, nconds, nreq_conds, LEVEL_CONST, &env, &const_ls);

        /* Offerings: fit, price, budget, vector, offering-level conditions. */
        for (size_t i = 0; i < c->noffers; i++) {
            const struct pol_offering *o = &c->offerings[i];
            struct offstate *s = &os[i];
            struct pol_value *v = d->vec[POL_S_OFFERING] + i * slots[POL_S_OFFERING];
            const char *cur = NULL;
            memset(s, 0, sizeof(*s));
            s->fits = o->vcpus >= req->vcpus && o->ram_mb >= req->ram_mb &&
                      o->disk_gb >= req->disk_gb && o->gpus >= req->gpus;
            if (!s->fits)
                continue;
            s->price_rc = (int8_t)pol_cands_price_at(c, (uint32_t)i, at, &s->price, &cur);
            v[POL_OFF_NAME] = pol_value_str(o->name);
            v[POL_OFF_VCPUS] = pol_value_num(o->vcpus * POL_MICRO);
            v[POL_OFF_RAM_MB] = pol_value_num(o->ram_mb * POL_MICRO);
            v[POL_OFF_DISK_GB] = pol_value_num(o->disk_gb * POL_MICRO);
            v[POL_OFF_GPUS] = pol_value_num(o->gpus * POL_MICRO);
            v[POL_OFF_PRICE] = s->price_rc == 0 ? pol_value_num(s->price) : pol_value_null();
            fill_labels(v, st, POL_S_OFFERING, POL_OFF__FIXED, o->labels);
            if (s->price_rc == 0 && nbud) {
                int64_t rest, total;
                if (pol_muldiv(s->price, month_end - at, 3600, &rest) < 0 ||
                    __builtin_add_overflow(rest, spend, &total))
                    total = INT64_MAX;
                for (size_t b = 0; b < p->nbudgets; b++) {
                    if (d->budget_limit[b] < 0 || total <= d->budget_limit[b])
                        continue;
                    if (p->budgets[b].deny && !s->deny)
                        s->deny = (uint16_t)(b + 1);
                    else if (!p->budgets[b].deny && !s->warn)
                        s->warn = (uint16_t)(b + 1);
                }
            }
            env.v[POL_S_CLOUD] = d->vec[POL_S_CLOUD] + o->cloud * slots[POL_S_CLOUD];
            env.v[POL_S_OFFERING] = v;
            level_eval(conds, nconds, nreq_conds, LEVEL_OFFERING, &env, &ls_off[i]);
        }
        /* Region-level conditions. */
        env.v[POL_S_OFFERING] = NULL;
        for (size_t i = 0; i < c->nregions; i++) {
            env.v[POL_S_CLOUD] = d->vec[POL_S_CLOUD] + c->regions[i].cloud * slots[POL_S_CLOUD];
            env.v[POL_S_REGION] = d->vec[POL_S_REGION] + i * slots[POL_S_REGION];
            level_eval(conds, nconds, nreq_conds, LEVEL_REGION, &env, &ls_region[i]);
        }

        /* Count candidates, then judge each. */
        for (size_t ci = 0; ci < c->nclouds; ci++) {
            const struct pol_cloud *cl = &c->clouds[ci];
            for (size_t oi = 0; oi < cl->noffers; oi++) {
                const struct pol_offering *o = &c->offerings[cl->offerings[oi]];
                if (os[cl->offerings[oi]].fits)
                    n_cand += o->regions ? o->nregions : cl->nregions;
            }
        }
        if (ensure((void **)&d->c, &d->cap, (n_cand ? n_cand : 1) * sizeof(struct pol_result)))
            return nph_error_nomem(err);

        int64_t pmin = INT64_MAX, pmax = INT64_MIN, smin = INT64_MAX, smax = INT64_MIN;
        double hmin = INFINITY, hmax = -INFINITY, fmin = INFINITY, fmax = -INFINITY;
        size_t n = 0;
        for (size_t ci = 0; ci < c->nclouds; ci++) {
            const struct pol_cloud *cl = &c->clouds[ci];
            env.v[POL_S_CLOUD] = d->vec[POL_S_CLOUD] + ci * slots[POL_S_CLOUD];
            for (size_t oi = 0; oi < cl->noffers; oi++) {
                uint32_t off = cl->offerings[oi];
                const struct pol_offering *o = &c->offerings[off];
                const struct offstate *s = &os[off];
                if (!s->fits)
                    continue;
                size_t nr = o->regions ? o->nregions : cl->nregions;
                env.v[POL_S_OFFERING] = d->vec[POL_S_OFFERING] + off * slots[POL_S_OFFERING];
                for (size_t ri = 0; ri < nr; ri++) {
                    uint32_t reg = o->regions ? o->regions[ri] : cl->regions[ri];
                    const struct pol_region *r = &c->regions[reg];
                    struct pol_result *res = &d->c[n++];
                    res->cloud = (uint32_t)ci;
                    res->region = reg;
                    res->offering = off;
                    res->verdict = POL_VERDICT_REJECTED;
                    res->reason = POL_REASON_NONE;
                    res->warn = s->warn;
                    res->index = 0;
                    res->price = s->price;
                    res->score = 0;
                    if (cl->health == POL_HEALTH_DOWN) {
                        res->reason = POL_REASON_CLOUD_DOWN;
                        continue;
                    }
                    if (r->health == POL_HEALTH_DOWN) {
                        res->reason = POL_REASON_REGION_DOWN;
                        continue;
                    }
                    if ((r->cap_vcpus >= 0 && o->vcpus > r->cap_vcpus) ||
                        (r->cap_ram_mb >= 0 && o->ram_mb > r->cap_ram_mb)) {
                        res->reason = POL_REASON_CAPACITY;
                        continue;
                    }
                    if ((cl->quota_vcpus >= 0 && o->vcpus > cl->quota_vcpus) ||
                        (cl->quota_ram_mb >= 0 && o->ram_mb > cl->quota_ram_mb) ||
                        cl->quota_instances == 0) {
                        res->reason = POL_REASON_QUOTA;
                        continue;
                    }
                    if (s->price_rc) {
                        res->reason = s->price_rc == -1 ? POL_REASON_NO_PRICE : POL_REASON_NO_RATE;
                        continue;
                    }
                    env.v[POL_S_REGION] = d->vec[POL_S_REGION] + reg * slots[POL_S_REGION];
                    /* The first false require over all levels, in rule order: only
                     * candidate-level ones before the cached first failure need evaluating. */
                    uint32_t first = const_ls.first_fail;
                    if (ls_region[reg].first_fail < first)
                        first = ls_region[reg].first_fail;
                    if (ls_off[off].first_fail < first)
                        first = ls_off[off].first_fail;
                    double pref = const_ls.pref + ls_region[reg].pref + ls_off[off].pref;
                    for (size_t q = 0; q < ncand_conds; q++) {
                        uint32_t kk = cand_conds[q];
                        if (kk < nreq_conds) {
                            if (kk < first && !pol_expr_true(conds[kk].e, &env))
                                first = kk;
                        } else if (first == NO_FAIL && pol_expr_true(conds[kk].e, &env)) {
                            pref += conds[kk].bonus;
                        }
                    }
                    if (first != NO_FAIL) {
                        res->reason = POL_REASON_RULE;
                        res->index = conds[first].rule;
                        continue;
                    }
                    if (s->deny) {
                        res->reason = POL_REASON_BUDGET;
                        res->index = s->deny - 1u;
                        continue;
                    }
                    res->verdict = POL_VERDICT_ELIGIBLE;
                    res->w[POL_W_COST] = (double)s->price;
                    res->w[POL_W_HEADROOM] = headroom(cl, r, o);
                    res->w[POL_W_SPREAD] = (double)r->servers;
                    res->w[POL_W_PREFERENCE] = pref;
                    if (s->price < pmin)
                        pmin = s->price;
                    if (s->price > pmax)
                        pmax = s->price;
                    if (r->servers < smin)
                        smin = r->servers;
                    if (r->servers > smax)
                        smax = r->servers;
                    if (res->w[POL_W_HEADROOM] < hmin)
                        hmin = res->w[POL_W_HEADROOM];
                    if (res->w[POL_W_HEADROOM] > hmax)
                        hmax = res->w[POL_W_HEADROOM];
                    if (pref < fmin)
                        fmin = pref;
                    if (pref > fmax)
                        fmax = pref;
                    d->neligible++;
                }
            }
        }
        d->n = n;

        /* Normalise, score, choose. */
        for (size_t i = 0; i < n; i++) {
            struct pol_result *res = &d->c[i];
            if (res->verdict != POL_VERDICT_ELIGIBLE)
                continue;
            res->w[POL_W_COST] =
                pmax == pmin ? 1.0 : (double)(pmax - res->price) / (double)(pmax - pmin);
            res->w[POL_W_HEADROOM] =
                hmax == hmin ? 1.0 : (res->w[POL_W_HEADROOM] - hmin) / (hmax - hmin);
            res->w[POL_W_SPREAD] = smax == smin ? 1.0
                                                : (double)(smax - (int64_t)res->w[POL_W_SPREAD]) /
                                                      (double)(smax - smin);
            res->w[POL_W_PREFERENCE] =
                fmax == fmin ? 1.0 : (res->w[POL_W_PREFERENCE] - fmin) / (fmax - fmin);
            double score = 0;
            for (int w = 0; w < POL_W__COUNT; w++)
                score += d->weights[w] * res->w[w];
            res->score = score;
            if (d->chosen < 0 || better(d, res, &d->c[d->chosen]))
                d->chosen = (int64_t)i;
        }
    }
    if (d->chosen < 0)
        return 1;
    d->c[d->chosen].verdict = POL_VERDICT_CHOSEN;
    return 0;
}

/* ---- explanations ---------------------------------------------------------------------------- */

char *pol_decimal_format(int64_t micros, char *buf, size_t len)
{
    char tmp[48];
    pol_money_format(micros, 6, tmp, sizeof(tmp));
    char *dot = strchr(tmp, '.');
    if (dot) {
        char *end = tmp + strlen(tmp) - 1;
        while (end > dot + 2 && *end == '0')
            *end-- = '\0';
    }
    snprintf(buf, len, "%s", tmp);
    return buf;
}

static const char *limit_text(int64_t v, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

/* The environment a candidate was judged in. */
static void candidate_env(const struct pol_decision *d, const struct pol_result *r,
                          struct pol_env *env)
{
    const struct pol_symtab *st = &d->policy->sym;
    env->v[POL_S_REQUEST] = d->vec[POL_S_REQUEST];
    env->v[POL_S_CLOUD] = d->vec[POL_S_CLOUD] + r->cloud * pol_symtab_slots(st, POL_S_CLOUD);
    env->v[POL_S_REGION] = d->vec[POL_S_REGION] + r->region * pol_symtab_slots(st, POL_S_REGION);
    env->v[POL_S_OFFERING] =
        d->vec[POL_S_OFFERING] + r->offering * pol_symtab_slots(st, POL_S_OFFERING);
}

static void budget_text(const struct pol_decision *d, const struct pol_result *r, uint32_t b,
                        char *buf, size_t len)
{
    const struct pol_cands *c = d->cands;
    const struct pol_budget *bu = &d->policy->budgets[b];
    int64_t spend = pol_cands_spend(c, d->req.project), rest, total;
    char s1[48], s2[48], s3[48], s4[48], s5[48];
    if (pol_muldiv(r->price, pol_time_month_end(d->at) - d->at, 3600, &rest) < 0 ||
        __builtin_add_overflow(rest, spend, &total))
        rest = total = INT64_MAX;
    snprintf(buf, len,
             "budget of project '%s' (%s %s a month, %s) exceeded: %s %s spent so far + %s %s to "
             "the end of the month at %s an hour = %s %s",
             bu->project, pol_decimal_format(bu->amount, s1, sizeof(s1)), bu->currency,
             bu->deny ? "deny" : "warn", pol_decimal_format(spend, s2, sizeof(s2)), c->currency,
             pol_decimal_format(rest, s3, sizeof(s3)), c->currency,
             pol_decimal_format(r->price, s4, sizeof(s4)),
             pol_decimal_format(total, s5, sizeof(s5)), c->currency);
}

char *pol_result_reason(const struct pol_decision *d, size_t i, char *buf, size_t len,
                        const char **rule, char *expr, size_t exprlen)
{
    const struct pol_result *r = &d->c[i];
    const struct pol_cands *c = d->cands;
    const struct pol_cloud *cl = &c->clouds[r->cloud];
    const struct pol_region *rg = &c->regions[r->region];
    const struct pol_offering *o = &c->offerings[r->offering];
    char a[24], b[24], e[24], f[24], g[24], day[32];
    const char *cur = NULL;
    int64_t dummy;
    if (rule)
        *rule = NULL;
    if (expr && exprlen)
        expr[0] = '\0';
    switch (r->reason) {
    case POL_REASON_CLOUD_DOWN:
        snprintf(buf, len, "cloud '%s' is down%s%s", cl->name, cl->health_reason ? ": " : "",
                 cl->health_reason ? cl->health_reason : "");
        break;
    case POL_REASON_REGION_DOWN:
        snprintf(buf, len, "region '%s' of cloud '%s' is down%s%s", rg->name, cl->name,
                 rg->health_reason ? ": " : "", rg->health_reason ? rg->health_reason : "");
        break;
    case POL_REASON_CAPACITY:
        snprintf(buf, len,
                 "not enough free capacity: region '%s' has %s vcpus and %s MB RAM free, "
                 "'%s' needs %lld vcpus and %lld MB",
                 rg->name, limit_text(rg->cap_vcpus, a, sizeof(a)),
                 limit_text(rg->cap_ram_mb, b, sizeof(b)), o->name, (long long)o->vcpus,
                 (long long)o->ram_mb);
        break;
    case POL_REASON_QUOTA:
        snprintf(buf, len,
                 "over quota: the project has %s vcpus, %s MB RAM and %s instances left on cloud "
                 "'%s', '%s' needs %lld vcpus and %lld MB",
                 limit_text(cl->quota_vcpus, e, sizeof(e)),
                 limit_text(cl->quota_ram_mb, f, sizeof(f)),
                 limit_text(cl->quota_instances, g, sizeof(g)), cl->name, o->name,
                 (long long)o->vcpus, (long long)o->ram_mb);
        break;
    case POL_REASON_NO_PRICE:
        snprintf(buf, len, "no price of offering '%s' is valid at %s", o->name,
                 pol_time_format(d->at, day, sizeof(day)));
        break;
    case POL_REASON_NO_RATE:
        pol_cands_price_at(c, r->offering, d->at, &dummy, &cur);
        snprintf(buf, len, "no exchange rate between %s and %s on or before %s", cur ? cur : "?",
                 c->currency, pol_date_format(d->at, day, sizeof(day)));
        break;
    case POL_REASON_RULE: {
        const struct pol_rule *ru = &d->policy->rules[r->index];
        struct pol_env env;
        char part[512];
        candidate_env(d, r, &env);
        pol_expr_explain(ru->require, &env, part, sizeof(part));
        if (rule)
            *rule = ru->name;
        if (expr)
            snprintf(expr, exprlen, "%s", part);
        snprintf(buf, len, "rule '%s': %s is false", ru->name, part);
        break;
    }
    case POL_REASON_BUDGET:
        budget_text(d, r, r->index, buf, len);
        break;
    default:
        snprintf(buf, len, "%s", "");
    }
    return buf;
}

char *pol_decision_why(const struct pol_decision *d, char *buf, size_t len)
{
    const struct pol_cands *c = d->cands;
    size_t o = 0;
    buf[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (o < len) {                                                                             \
            int w_ = snprintf(buf + o, len - o, __VA_ARGS__);                                      \
            o += w_ > 0 ? (size_t)w_ : 0;                                                          \
        }                                                                                          \
    } while (0)
    APPEND("no candidate survives");
    if (c->nclouds == 0)
        APPEND(": no clouds are configured");
    for (size_t ci = 0; ci < c->nclouds; ci++) {
        const struct pol_cloud *cl = &c->clouds[ci];
        size_t first = d->n, total = 0, shown = 0;
        for (size_t i = 0; i < d->n; i++)
            if (d->c[i].cloud == ci && total++ == 0)
                first = i;
        APPEND("%s cloud '%s': ", ci ? ";" : ":", cl->name);
        if (cl->nregions == 0) {
            APPEND("declares no regions");
            continue;
        }
        if (total == 0) {
            APPEND("no offering fits %lld vcpus, %lld MB RAM, %lld GB disk, %lld GPUs",
                   (long long)d->req.vcpus, (long long)d->req.ram_mb, (long long)d->req.disk_gb,
                   (long long)d->req.gpus);
            continue;
        }
        /* Distinct reasons in order of first appearance, with counts (at most 3 shown). */
        for (size_t i = first; i < d->n && shown < 3; i++) {
            const struct pol_result *r = &d->c[i];
            int seen = 0;
            size_t count = 0;
            if (r->cloud != ci)
                continue;
            for (size_t j = first; j < i && !seen; j++)
                seen =
                    d->c[j].cloud == ci && d->c[j].reason == r->reason && d->c[j].index == r->index;
            if (seen)
                continue;
            for (size_t j = i; j < d->n; j++)
                count +=
                    d->c[j].cloud == ci && d->c[j].reason == r->reason && d->c[j].index == r->index;
            char why[512];
            pol_result_reason(d, i, why, sizeof(why), NULL, NULL, 0);
            APPEND("%s%s (%zu of %zu candidates)", shown ? "; " : "", why, count, total);
            shown++;
        }
    }
#undef APPEND
    return buf;
}

static int order_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct pol_decision *sort_d = ctx;
    const struct pol_result *a = &sort_d->c[*(const size_t *)pa];
    const struct pol_result *b = &sort_d->c[*(const size_t *)pb];
    const struct pol_cands *c = sort_d->cands;
    int r;
    if (a->verdict != b->verdict)
        return a->verdict < b->verdict ? -1 : 1;
    if (a->verdict != POL_VERDICT_REJECTED)
        return better(sort_d, a, b) ? -1 : better(sort_d, b, a) ? 1 : 0;
    if ((r = strcmp(c->clouds[a->cloud].name, c->clouds[b->cloud].name)))
        return r;
    if ((r = strcmp(c->regions[a->region].name, c->regions[b->region].name)))
        return r;
    return strcmp(c->offerings[a->offering].name, c->offerings[b->offering].name);
}

size_t *pol_decision_order(const struct pol_decision *d)
{
    size_t *idx = malloc((d->n ? d->n : 1) * sizeof(*idx));
    if (!idx)
        return NULL;
    for (size_t i = 0; i < d->n; i++)
        idx[i] = i;
    qsort_r(idx, d->n, sizeof(*idx), order_cmp, (void *)d);
    return idx;
}

static json_t *score_json(double v)
{
    return json_real(round(v * 1e6) / 1e6);
}

static json_t *price_json(const struct pol_decision *d, int64_t price)
{
    char p[48];
    return json_pack("{s:s, s:s}", "per_hour", pol_decimal_format(price, p, sizeof(p)), "currency",
                     d->cands->currency);
}

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

json_t *pol_decision_to_json(const struct pol_decision *d)
{
    const struct pol_cands *c = d->cands;
    json_t *out = json_object(), *cands = json_array(), *warns = json_array(), *w = json_object();
    size_t *idx = pol_decision_order(d);
    char buf[1024], expr[512], at[32];
    int bad = !out || !cands || !warns || !w || !idx;
    for (int i = 0; !bad && i < POL_W__COUNT; i++)
        bad |= set_new(w, pol_weigher_name((enum pol_weigher)i), score_json(d->weights[i]));
    bad |= set_new(out, "at", json_string(pol_time_format(d->at, at, sizeof(at))));
    bad |= set_new(out, "currency", json_string(c->currency));
    bad |=
        set_new(out, "request",
                json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:I, s:I}", "kind", d->req.kind, "project",
                          d->req.project, "size", d->req.size, "vcpus", (json_int_t)d->req.vcpus,
                          "ram_mb", (json_int_t)d->req.ram_mb, "disk_gb",
                          (json_int_t)d->req.disk_gb, "gpus", (json_int_t)d->req.gpus));
    if (!bad) {
        json_object_set(out, "weights", w);
        if (d->chosen >= 0) {
            const struct pol_result *r = &d->c[d->chosen];
            bad |= set_new(out, "decision",
                           json_pack("{s:s, s:s, s:s, s:o, s:o}", "cloud", c->clouds[r->cloud].name,
                                     "region", c->regions[r->region].name, "offering",
                                     c->offerings[r->offering].name, "price",
                                     price_json(d, r->price), "score", score_json(r->score)));
            if (r->warn) {
                budget_text(d, r, r->warn - 1u, buf, sizeof(buf));
                bad |= json_array_append_new(warns, json_string(buf));
            }
            if (c->clouds[r->cloud].health == POL_HEALTH_DEGRADED) {
                snprintf(buf, sizeof(buf), "cloud '%s' is degraded%s%s", c->clouds[r->cloud].name,
                         c->clouds[r->cloud].health_reason ? ": " : "",
                         c->clouds[r->cloud].health_reason ? c->clouds[r->cloud].health_reason
                                                           : "");
                bad |= json_array_append_new(warns, json_string(buf));
            }
            if (c->regions[r->region].health == POL_HEALTH_DEGRADED) {
                snprintf(
                    buf, sizeof(buf), "region '%s' is degraded%s%s", c->regions[r->region].name,
                    c->regions[r->region].health_reason ? ": " : "",
                    c->regions[r->region].health_reason ? c->regions[r->region].health_reason : "");
                bad |= json_array_append_new(warns, json_string(buf));
            }
        } else {
            bad |= json_object_set_new(out, "decision", json_null());
            bad |= set_new(out, "error", json_string(pol_decision_why(d, buf, sizeof(buf))));
        }
    }
    static const char *const verdicts[] = {"chosen", "eligible", "rejected"};
    for (size_t k = 0; !bad && k < d->n; k++) {
        const struct pol_result *r = &d->c[idx[k]];
        json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "cloud", c->clouds[r->cloud].name, "region",
                              c->regions[r->region].name, "offering",
                              c->offerings[r->offering].name, "verdict", verdicts[r->verdict]);
        if (!e || json_array_append_new(cands, e)) {
            bad = 1;
            break;
        }
        if (r->reason != POL_REASON_NO_PRICE && r->reason != POL_REASON_NO_RATE)
            bad |= set_new(e, "price", price_json(d, r->price));
        if (r->verdict == POL_VERDICT_REJECTED) {
            const char *rule;
            pol_result_reason(d, idx[k], buf, sizeof(buf), &rule, expr, sizeof(expr));
            bad |= set_new(e, "reason", json_string(buf));
            if (rule) {
                bad |= set_new(e, "rule", json_string(rule));
                bad |= set_new(e, "expression", json_string(expr));
            }
        } else {
            json_t *s = json_object();
            for (int i = 0; s && i < POL_W__COUNT; i++)
                bad |= set_new(s, pol_weigher_name((enum pol_weigher)i), score_json(r->w[i]));
            bad |= set_new(s, "total", score_json(r->score));
            bad |= set_new(e, "scores", s);
        }
    }
    if (!bad) {
        bad |= json_object_set(out, "candidates", cands);
        bad |= json_object_set(out, "warnings", warns);
    }
    json_decref(cands);
    json_decref(warns);
    json_decref(w);
    free(idx);
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}
