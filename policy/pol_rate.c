/*
 * pol_rate.c - rating (see pol_rate.h): ledger events and their JSON-lines form, the billing
 * part of the price catalog (each cloud's `billing` and `prices` keys; offerings and exchange
 * rates come from pol_cands), interval derivation per resource, pieces cut at price, day and
 * report boundaries, and the grouping of priced pieces into rounded report lines.
 */
#include "pol_rate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "pol_money.h"
#include "pol_time.h"
#include "pol_yaml.h"

#define GB_MONTH_SECONDS ((int64_t)POL_GB_MONTH_HOURS * 3600)
#define MAX_SIZE_GB      1000000000LL
#define MAX_STR          1024

/* ---- names -------------------------------------------------------------------------------- */

static const char *const kind_names[] = {"created", "resized", "stopped", "started", "deleted"};
static const char *const rtype_names[] = {"server", "volume", "bucket"};

const char *pol_uev_kind_name(enum pol_uev_kind k)
{
    return (unsigned)k < 5 ? kind_names[k] : NULL;
}

const char *pol_rtype_name(enum pol_rtype t)
{
    return (unsigned)t < 3 ? rtype_names[t] : NULL;
}

int pol_uev_kind_parse(const char *s, enum pol_uev_kind *out)
{
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum pol_uev_kind)i;
            return 0;
        }
    return -1;
}

int pol_rtype_parse(const char *s, enum pol_rtype *out)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, rtype_names[i]) == 0) {
            *out = (enum pol_rtype)i;
            return 0;
        }
    return -1;
}

const char *pol_bill_unit(enum pol_rtype t)
{
    return t == POL_RT_SERVER ? "hour" : "GB-month";
}

int pol_currency_digits(const char *c)
{
    static const char *const zero[] = {"JPY", "KRW", "ISK", "CLP", "VND", "PYG",
                                       "UGX", "XAF", "XOF", "XPF", "BIF", "DJF",
                                       "GNF", "KMF", "RWF", "VUV", NULL};
    static const char *const three[] = {"BHD", "JOD", "KWD", "OMR", "TND", "IQD", "LYD", NULL};
    for (int i = 0; zero[i]; i++)
        if (strcmp(c, zero[i]) == 0)
            return 0;
    for (int i = 0; three[i]; i++)
        if (strcmp(c, three[i]) == 0)
            return 3;
    return 2;
}

/* ---- event lists -------------------------------------------------------------------------- */

void pol_uevents_init(struct pol_uevents *l)
{
    memset(l, 0, sizeof(*l));
}

static void uevent_strings_free(struct pol_uevent *e)
{
    free(e->resource);
    free(e->project);
    free(e->cloud);
    free(e->region);
    free(e->offering);
}

void pol_uevents_fini(struct pol_uevents *l)
{
    for (size_t i = 0; i < l->n; i++)
        uevent_strings_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int dup_opt(char **dst, const char *s)
{
    *dst = NULL;
    return s && !(*dst = strdup(s)) ? -1 : 0;
}

int pol_uevents_add(struct pol_uevents *l, const struct pol_uevent *ev, struct nph_error *err)
{
    struct pol_uevent e = *ev;
    if (!ev->resource || !ev->project || !ev->cloud)
        return nph_error_set(err, NPH_E_INVALID,
                             "a usage event needs a resource, a project and a cloud");
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct pol_uevent *v = realloc(l->v, nc * sizeof(*v));
        if (!v)
            return nph_error_nomem(err);
        l->v = v;
        l->cap = nc;
    }
    if (dup_opt(&e.resource, ev->resource) || dup_opt(&e.project, ev->project) ||
        dup_opt(&e.cloud, ev->cloud) || dup_opt(&e.region, ev->region) ||
        dup_opt(&e.offering, ev->offering)) {
        uevent_strings_free(&e);
        return nph_error_nomem(err);
    }
    l->v[l->n++] = e;
    return 0;
}

/* ---- the JSON-lines form ------------------------------------------------------------------ */

static int str_field(const json_t *obj, const char *key, int required, const char **out,
                     struct nph_error *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return nph_error_set(err, NPH_E_INVALID, "'%s' is required", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > MAX_STR ||
        strlen(json_string_value(v)) != json_string_length(v))
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a non-empty string", key);
    *out = json_string_value(v);
    return 0;
}

int pol_uevent_from_json(const json_t *obj, struct pol_uevent *ev, struct nph_error *err)
{
    static const char *const keys[] = {"ts",    "event",  "resource", "type",    "project",
                                       "cloud", "region", "offering", "size_gb", NULL};
    const char *ts, *kind, *type, *k;
    const json_t *v;
    int64_t us;
    struct pol_uevent e;
    memset(&e, 0, sizeof(e));
    e.size_gb = -1;
    if (!json_is_object(obj))
        return nph_error_set(err, NPH_E_INVALID, "a line must be a JSON object");
    kind = json_string_value(json_object_get(obj, "event"));
    if (kind && strcmp(kind, "sample") == 0)
        return 1;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (int i = 0; keys[i]; i++)
            ok |= strcmp(keys[i], k) == 0;
        if (!ok)
            return nph_error_set(err, NPH_E_INVALID,
                                 "unknown key '%.64s' (expected ts, event, resource, type, "
                                 "project, cloud, region, offering, size_gb)",
                                 k);
    }
    if (str_field(obj, "ts", 1, &ts, err) || str_field(obj, "event", 1, &kind, err) ||
        str_field(obj, "type", 1, &type, err) ||
        str_field(obj, "resource", 1, (const char **)&e.resource, err) ||
        str_field(obj, "project", 1, (const char **)&e.project, err) ||
        str_field(obj, "cloud", 1, (const char **)&e.cloud, err) ||
        str_field(obj, "region", 0, (const char **)&e.region, err) ||
        str_field(obj, "offering", 0, (const char **)&e.offering, err))
        return -1;
    if (!strchr(ts, 'T') || nph_time_parse(ts, &us) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'ts' must be an RFC 3339 time such as \"2026-11-01T08:00:00Z\", "
                             "got '%.64s'",
                             ts);
    e.ts = us >= 0 ? us / NPH_USEC_PER_SEC : -((-us + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC);
    if (pol_uev_kind_parse(kind, &e.kind) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'event' must be created, resized, stopped, started, deleted or "
                             "sample, got '%.64s'",
                             kind);
    if (pol_rtype_parse(type, &e.type) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'type' must be server, volume or bucket, got '%.64s'", type);
    v = json_object_get(obj, "size_gb");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_SIZE_GB)
            return nph_error_set(err, NPH_E_INVALID, "'size_gb' must be an integer from 0 to %lld",
                                 (long long)MAX_SIZE_GB);
        if (e.type == POL_RT_SERVER)
            return nph_error_set(err, NPH_E_INVALID, "'size_gb' is for volumes and buckets");
        e.size_gb = json_integer_value(v);
    }
    if (e.type == POL_RT_VOLUME && e.size_gb < 0 &&
        (e.kind == POL_UEV_CREATED || e.kind == POL_UEV_RESIZED))
        return nph_error_set(err, NPH_E_INVALID, "'size_gb' is required for a volume %s event",
                             kind);
    if (e.type == POL_RT_SERVER && !e.offering &&
        (e.kind == POL_UEV_CREATED || e.kind == POL_UEV_RESIZED))
        return nph_error_set(err, NPH_E_INVALID, "'offering' is required for a server %s event",
                             kind);
    *ev = e;
    return 0;
}

void pol_usamples_fini(struct pol_usamples *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].resource);
        free(l->v[i].project);
        free(l->v[i].cloud);
        free(l->v[i].meter);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int int_field(const json_t *obj, const char *key, int required, int64_t dflt, int64_t *out,
                     struct nph_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return nph_error_set(err, NPH_E_INVALID, "'%s' is required", key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return nph_error_set(err, NPH_E_INVALID, "'%s' must be a non-negative integer", key);
    *out = json_integer_value(v);
    return 0;
}

int pol_usample_from_json(const json_t *obj, struct pol_usample *smp, struct nph_error *err)
{
    static const char *const keys[] = {"ts",    "event", "resource", "type", "project", "cloud",
                                       "meter", "value", "period",   "max",  "count",   NULL};
    const char *ts, *type, *k;
    const json_t *v;
    int64_t us;
    struct pol_usample e;
    memset(&e, 0, sizeof(e));
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (int i = 0; keys[i]; i++)
            ok |= strcmp(keys[i], k) == 0;
        if (!ok)
            return nph_error_set(err, NPH_E_INVALID,
                                 "unknown key '%.64s' in a sample line (expected ts, event, "
                                 "resource, type, project, cloud, meter, value, period, max, "
                                 "count)",
                                 k);
    }
    if (str_field(obj, "ts", 1, &ts, err) || str_field(obj, "type", 1, &type, err) ||
        str_field(obj, "resource", 1, (const char **)&e.resource, err) ||
        str_field(obj, "project", 1, (const char **)&e.project, err) ||
        str_field(obj, "cloud", 0, (const char **)&e.cloud, err) ||
        str_field(obj, "meter", 1, (const char **)&e.meter, err) ||
        int_field(obj, "value", 1, 0, &e.value, err) ||
        int_field(obj, "period", 0, 0, &e.period, err) ||
        int_field(obj, "max", 0, e.value, &e.max, err) ||
        int_field(obj, "count", 0, 1, &e.count, err))
        return -1;
    if (!strchr(ts, 'T') || nph_time_parse(ts, &us) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'ts' must be an RFC 3339 time such as \"2026-11-01T08:00:00Z\", "
                             "got '%.64s'",
                             ts);
    e.ts = us >= 0 ? us / NPH_USEC_PER_SEC : -((-us + NPH_USEC_PER_SEC - 1) / NPH_USEC_PER_SEC);
    if (pol_rtype_parse(type, &e.type) < 0)
        return nph_error_set(err, NPH_E_INVALID,
                             "'type' must be server, volume or bucket, got '%.64s'", type);
    if (e.period != 0 && e.period != 3600)
        return nph_error_set(err, NPH_E_INVALID, "'period' must be 0 (raw) or 3600 (hourly)");
    if (e.count < 1 || (e.period == 0 && (e.count != 1 || e.max != e.value)))
        return nph_error_set(err, NPH_E_INVALID,
                             "'max' and 'count' are for hourly rows (period 3600); 'count' is "
                             "at least 1");
    *smp = e;
    return 0;
}

json_t *pol_usample_to_json(const struct pol_usample *s)
{
    char ts[32];
    json_t *o = json_object();
    if (!o)
        return NULL;
    pol_time_format(s->ts, ts, sizeof(ts));
    if (json_object_set_new(o, "ts", json_string(ts)) ||
        json_object_set_new(o, "event", json_string("sample")) ||
        json_object_set_new(o, "resource", json_string(s->resource)) ||
        json_object_set_new(o, "type", json_string(pol_rtype_name(s->type))) ||
        json_object_set_new(o, "project", json_string(s->project)) ||
        json_object_set_new(o, "cloud", s->cloud ? json_string(s->cloud) : json_null()) ||
        json_object_set_new(o, "meter", json_string(s->meter)) ||
        json_object_set_new(o, "value", json_integer(s->value)) ||
        (s->period && (json_object_set_new(o, "period", json_integer(s->period)) ||
                       json_object_set_new(o, "max", json_integer(s->max)) ||
                       json_object_set_new(o, "count", json_integer(s->count))))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int usamples_add(struct pol_usamples *l, const struct pol_usample *s, struct nph_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct pol_usample *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv)
            return nph_error_nomem(err);
        l->v = nv;
        l->cap = nc;
    }
    struct pol_usample *d = &l->v[l->n];
    *d = *s;
    d->resource = d->project = d->cloud = d->meter = NULL;
    if (dup_opt(&d->resource, s->resource) || dup_opt(&d->project, s->project) ||
        dup_opt(&d->cloud, s->cloud) || dup_opt(&d->meter, s->meter)) {
        free(d->resource);
        free(d->project);
        free(d->cloud);
        free(d->meter);
        return nph_error_nomem(err);
    }
    l->n++;
    return 0;
}

json_t *pol_uevent_to_json(const struct pol_uevent *ev)
{
    char ts[32];
    json_t *o = json_object();
    if (!o)
        return NULL;
    pol_time_format(ev->ts, ts, sizeof(ts));
    if (json_object_set_new(o, "ts", json_string(ts)) ||
        json_object_set_new(o, "event", json_string(pol_uev_kind_name(ev->kind))) ||
        json_object_set_new(o, "resource", json_string(ev->resource)) ||
        json_object_set_new(o, "type", json_string(pol_rtype_name(ev->type))) ||
        json_object_set_new(o, "project", json_string(ev->project)) ||
        json_object_set_new(o, "cloud", json_string(ev->cloud)) ||
        json_object_set_new(o, "region", ev->region ? json_string(ev->region) : json_null()) ||
        json_object_set_new(o, "offering",
                            ev->offering ? json_string(ev->offering) : json_null()) ||
        (ev->size_gb >= 0 && json_object_set_new(o, "size_gb", json_integer(ev->size_gb)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pol_uevents_parse(struct pol_uevents *l, const char *name, const char *buf, size_t len,
                      struct nph_error *err)
{
    size_t start_n = l->n, line = 0, start_samples = l->samples ? l->samples->n : 0;
    const char *p = buf, *end = buf + len;
    name = name ? name : "<events>";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        line++;
        p = nl ? nl + 1 : end;
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        if (s == le)
            continue;
        json_error_t jerr;
        struct nph_error e2 = NPH_ERROR_INIT;
        struct pol_uevent ev;
        json_t *obj = json_loadb(s, (size_t)(le - s), JSON_REJECT_DUPLICATES, &jerr);
        int rc;
        if (!obj) {
            nph_error_set(err, NPH_E_INVALID, "%s:%zu: not a JSON object: %s", name, line,
                          jerr.text);
            goto fail;
        }
        rc = pol_uevent_from_json(obj, &ev, &e2);
        if (rc == 1 && l->samples) {
            struct pol_usample smp;
            if (pol_usample_from_json(obj, &smp, &e2) == 0) {
                smp.line = line;
                rc = usamples_add(l->samples, &smp, err);
                json_decref(obj);
                if (rc < 0)
                    goto fail;
                continue;
            }
            rc = -1;
        }
        if (rc == 1) {
            json_decref(obj);
            nph_error_set(err, NPH_E_INVALID,
                          "%s:%zu: sample lines are not rated yet (only ledger events: created, "
                          "resized, stopped, started, deleted)",
                          name, line);
            goto fail;
        }
        if (rc < 0) {
            json_decref(obj);
            if (e2.code == NPH_E_NOMEM)
                nph_error_nomem(err);
            else
                nph_error_set(err, NPH_E_INVALID, "%s:%zu: %s", name, line, e2.msg);
            goto fail;
        }
        ev.line = line;
        rc = pol_uevents_add(l, &ev, err);
        json_decref(obj);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    while (l->n > start_n)
        uevent_strings_free(&l->v[--l->n]);
    while (l->samples && l->samples->n > start_samples) {
        struct pol_usample *d = &l->samples->v[--l->samples->n];
        free(d->resource);
        free(d->project);
        free(d->cloud);
        free(d->meter);
    }
    return -1;
}

/* ---- the catalog -------------------------------------------------------------------------- */

static int cat_fail(const json_t *lines, const char *name, const char *path, struct nph_error *err,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int cat_fail(const json_t *lines, const char *name, const char *path, struct nph_error *err,
                    const char *fmt, ...)
{
    char msg[NPH_ERR_MSG_MAX], p[256];
    int line = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p, sizeof(p), "%s", path);
    while (!(line = pol_yaml_line(lines, "%s", p))) {
        char *dot = strrchr(p, '.');
        if (!dot)
            break;
        *dot = '\0';
    }
    if (line > 0)
        return nph_error_set(err, NPH_E_INVALID, "%s:%d: %s", name, line, msg);
    return nph_error_set(err, NPH_E_INVALID, "%s: %s", name, msg);
}

static const char *const meter_names[] = {"volume_gb_month", "object_gb_month",
                                          "object_1k_requests", "egress_gb"};

static int load_mprice(const json_t *lines, const char *name, size_t ci, struct pol_bill_cloud *bc,
                       int m, const json_t *pv, const char *dflt_cur, struct nph_error *err)
{
    size_t n = json_is_array(pv) ? json_array_size(pv) : 1;
    char path[128];
    snprintf(path, sizeof(path), "clouds.%zu.prices.%s", ci, meter_names[m]);
    if (!json_is_object(pv) && !(json_is_array(pv) && n > 0))
        return cat_fail(lines, name, path, err,
                        "clouds[%zu].prices.%s: must be a mapping {amount, currency} or a list "
                        "of dated ones",
                        ci, meter_names[m]);
    if (!(bc->prices[m] = calloc(n, sizeof(struct pol_mprice))))
        return nph_error_nomem(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_is_array(pv) ? json_array_get(pv, i) : pv;
        struct pol_mprice *mp = &bc->prices[m][i];
        const json_t *a, *c, *f, *u;
        const char *k;
        json_t *x;
        char pp[160];
        if (json_is_array(pv))
            snprintf(pp, sizeof(pp), "%s.%zu", path, i);
        else
            snprintf(pp, sizeof(pp), "%s", path);
        if (!json_is_object(p))
            return cat_fail(lines, name, pp, err,
                            "clouds[%zu].prices.%s: a price must be a mapping", ci, meter_names[m]);
        json_object_foreach((json_t *)p, k, x)
        {
            if (strcmp(k, "amount") && strcmp(k, "currency") && strcmp(k, "from") &&
                strcmp(k, "until"))
                return cat_fail(lines, name, pp, err,
                                "clouds[%zu].prices.%s: unknown key '%.64s' (expected amount, "
                                "currency, from, until)",
                                ci, meter_names[m], k);
        }
        a = json_object_get(p, "amount");
        c = json_object_get(p, "currency");
        f = json_object_get(p, "from");
        u = json_object_get(p, "until");
        if (json_is_integer(a) && json_integer_value(a) >= 0 &&
            json_integer_value(a) <= INT64_MAX / POL_MICRO)
            mp->amount = json_integer_value(a) * POL_MICRO;
        else if (!json_is_string(a) || pol_money_parse(json_string_value(a), &mp->amount) < 0 ||
                 mp->amount < 0)
            return cat_fail(lines, name, pp, err,
                            "clouds[%zu].prices.%s: 'amount' must be a non-negative decimal "
                            "string such as \"0.10\" (quote it so that YAML keeps it exact)",
                            ci, meter_names[m]);
        if (c && (!json_is_string(c) || json_string_length(c) != 3 ||
                  strspn(json_string_value(c), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
            return cat_fail(lines, name, pp, err,
                            "clouds[%zu].prices.%s: 'currency' must be a 3-letter code such as EUR",
                            ci, meter_names[m]);
        snprintf(mp->currency, sizeof(mp->currency), "%s", c ? json_string_value(c) : dflt_cur);
        mp->from = INT64_MIN;
        mp->until = INT64_MAX;
        if ((f && (!json_is_string(f) || pol_time_parse(json_string_value(f), &mp->from) < 0)) ||
            (u && (!json_is_string(u) || pol_time_parse(json_string_value(u), &mp->until) < 0)))
            return cat_fail(lines, name, pp, err,
                            "clouds[%zu].prices.%s: 'from' and 'until' must be dates YYYY-MM-DD "
                            "or times YYYY-MM-DDTHH:MM:SSZ",
                            ci, meter_names[m]);
        if (mp->from >= mp->until)
            return cat_fail(lines, name, pp, err,
                            "clouds[%zu].prices.%s: 'until' must come after 'from'", ci,
                            meter_names[m]);
        bc->nprices[m]++;
    }
    return 0;
}

static int load_bill_cloud(const json_t *lines, const char *name, size_t ci, const json_t *e,
                           struct pol_bill_cloud *bc, const char *dflt_cur, struct nph_error *err)
{
    const json_t *b = json_object_get(e, "billing"), *pr = json_object_get(e, "prices");
    const char *k;
    json_t *x;
    char path[96];
    if (b && !json_is_null(b)) {
        snprintf(path, sizeof(path), "clouds.%zu.billing", ci);
        if (!json_is_object(b))
            return cat_fail(lines, name, path, err,
                            "clouds[%zu].billing: must be a mapping {granularity, bill_stopped}",
                            ci);
        json_object_foreach((json_t *)b, k, x)
        {
            if (strcmp(k, "granularity") == 0) {
                const char *g = json_string_value(x);
                if (!g || (strcmp(g, "second") && strcmp(g, "hour")))
                    return cat_fail(lines, name, path, err,
                                    "clouds[%zu].billing: 'granularity' must be second or hour",
                                    ci);
                bc->hourly = strcmp(g, "hour") == 0;
            } else if (strcmp(k, "bill_stopped") == 0) {
                if (!json_is_boolean(x))
                    return cat_fail(lines, name, path, err,
                                    "clouds[%zu].billing: 'bill_stopped' must be true or false",
                                    ci);
                bc->bill_stopped = json_is_true(x);
            } else {
                return cat_fail(lines, name, path, err,
                                "clouds[%zu].billing: unknown key '%.64s' (expected granularity, "
                                "bill_stopped)",
                                ci, k);
            }
        }
    }
    if (pr && !json_is_null(pr)) {
        snprintf(path, sizeof(path), "clouds.%zu.prices", ci);
        if (!json_is_object(pr))
            return cat_fail(lines, name, path, err, "clouds[%zu].prices: must be a mapping", ci);
        json_object_foreach((json_t *)pr, k, x)
        {
            int m = -1;
            for (int i = 0; i < POL_M__COUNT; i++)
                if (strcmp(k, meter_names[i]) == 0)
                    m = i;
            if (m < 0)
                return cat_fail(lines, name, path, err,
                                "clouds[%zu].prices: unknown key '%.64s' (expected "
                                "volume_gb_month, object_gb_month, object_1k_requests, egress_gb)",
                                ci, k);
            if (load_mprice(lines, name, ci, bc, m, x, dflt_cur, err) < 0)
                return -1;
        }
    }
    return 0;
}

void pol_catalog_free(struct pol_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nclouds; i++) {
        free(c->clouds[i].name);
        for (int m = 0; m < POL_M__COUNT; m++)
            free(c->clouds[i].prices[m]);
    }
    free(c->clouds);
    pol_cands_free(c->cands);
    free(c);
}

struct pol_catalog *pol_catalog_from_config(const json_t *sections, const json_t *lines,
                                            const char *name, struct nph_error *err)
{
    struct pol_catalog *c = calloc(1, sizeof(*c));
    const json_t *list;
    name = name ? name : "<config>";
    if (!c) {
        nph_error_nomem(err);
        return NULL;
    }
    if (!(c->cands = pol_cands_from_config(sections, lines, name, err)))
        goto fail;
    if (c->cands->nclouds &&
        !(c->clouds = calloc(c->cands->nclouds, sizeof(struct pol_bill_cloud)))) {
        nph_error_nomem(err);
        goto fail;
    }
    list = json_object_get(sections, "clouds");
    for (size_t i = 0; i < c->cands->nclouds; i++) {
        struct pol_bill_cloud *bc = &c->clouds[i];
        c->nclouds++;
        if (!(bc->name = strdup(c->cands->clouds[i].name))) {
            nph_error_nomem(err);
            goto fail;
        }
        if (load_bill_cloud(lines, name, i, json_array_get(list, i), bc, c->cands->currency, err) <
            0)
            goto fail;
    }
    return c;
fail:
    pol_catalog_free(c);
    return NULL;
}

/* ---- grouping ----------------------------------------------------------------------------- */

int pol_group_parse(const char *s, unsigned *mask, struct nph_error *err)
{
    static const char *const names[] = {"project", "cloud", "region", "resource_type", "offering"};
    unsigned m = POL_G_RESOURCE_TYPE;
    const char *p = s ? s : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < 5; i++)
            if (n == strlen(names[i]) && strncmp(p, names[i], n) == 0) {
                m |= 1u << i;
                found = 1;
            }
        if (!found && n > 0)
            return nph_error_set(err, NPH_E_INVALID,
                                 "unknown group-by field '%.*s' (expected project, cloud, region, "
                                 "resource_type, offering)",
                                 (int)(n > 64 ? 64 : n), p);
        p += n;
        if (*p == ',')
            p++;
    }
    *mask = m;
    return 0;
}

/* An atom: the finest grouping (project, cloud, region, type, offering). */
struct atom {
    char *project, *cloud, *region, *offering;
    enum pol_rtype type;
    int64_t usage, raw;
    uint64_t hash;
};

struct rater {
    const struct pol_catalog *cat;
    const struct pol_bill_query *q;
    const char *currency;
    struct atom *atoms;
    size_t natoms, capatoms;
    uint32_t *table; /* open addressing: atom index + 1, 0 = empty */
    size_t tcap;
    int64_t day0, *daily;
    size_t ndays;
    struct bucket *buckets;
    size_t nbuckets, capbuckets;
    uint32_t *btable; /* open addressing: bucket index + 1, 0 = empty */
    size_t btcap;
    struct nph_error *err;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    if (!s)
        return (h ^ 0xffu) * 1099511628211ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0x1fu) * 1099511628211ULL;
}

static int streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int atom_rehash(struct rater *r, size_t ncap)
{
    uint32_t *t = calloc(ncap, sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < r->natoms; i++) {
        size_t j = r->atoms[i].hash & (ncap - 1);
        while (t[j])
            j = (j + 1) & (ncap - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(r->table);
    r->table = t;
    r->tcap = ncap;
    return 0;
}

/* The atom of a segment, created on first use. NULL with r->err on nomem. */
static struct atom *atom_get(struct rater *r, const struct pol_uevent *e, const char *offering)
{
    uint64_t h = 14695981039346656037ULL;
    /* Region is part of the atom only when the report groups by it: usage is priced per atom,
     * day and price (a bucket), and the SQL aggregation groups the same way. */
    const char *region = (r->q->group_by & POL_G_REGION) ? e->region : NULL;
    h = fnv(h, e->project);
    h = fnv(h, e->cloud);
    h = fnv(h, region);
    h = fnv(h, offering);
    h = (h ^ (uint64_t)e->type) * 1099511628211ULL;
    if (r->tcap == 0 || (r->natoms + 1) * 2 > r->tcap) {
        if (r->natoms >= UINT32_MAX / 4 || atom_rehash(r, r->tcap ? r->tcap * 2 : 64)) {
            nph_error_nomem(r->err);
            return NULL;
        }
    }
    size_t j = h & (r->tcap - 1);
    for (; r->table[j]; j = (j + 1) & (r->tcap - 1)) {
        struct atom *a = &r->atoms[r->table[j] - 1];
        if (a->hash == h && a->type == e->type && streq(a->project, e->project) &&
            streq(a->cloud, e->cloud) && streq(a->region, region) && streq(a->offering, offering))
            return a;
    }
    if (r->natoms == r->capatoms) {
        size_t nc = r->capatoms ? r->capatoms * 2 : 64;
        struct atom *na = realloc(r->atoms, nc * sizeof(*na));
        if (!na) {
            nph_error_nomem(r->err);
            return NULL;
        }
        r->atoms = na;
        r->capatoms = nc;
    }
    struct atom *a = &r->atoms[r->natoms];
    memset(a, 0, sizeof(*a));
    a->type = e->type;
    a->hash = h;
    if (dup_opt(&a->project, e->project) || dup_opt(&a->cloud, e->cloud) ||
        dup_opt(&a->region, region) || dup_opt(&a->offering, offering)) {
        free(a->project);
        free(a->cloud);
        free(a->region);
        free(a->offering);
        nph_error_nomem(r->err);
        return NULL;
    }
    r->table[j] = (uint32_t)(++r->natoms);
    return a;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A price list as a common view (offerings' struct pol_price, meters' struct pol_mprice). */
struct plist {
    const struct pol_price *op;
    const struct pol_mprice *mp;
    size_t n;
};

static void plist_get(const struct plist *pl, size_t i, int64_t *amount, const char **cur,
                      int64_t *from, int64_t *until)
{
    if (pl->op) {
        *amount = pl->op[i].per_hour;
        *cur = pl->op[i].currency;
        *from = pl->op[i].from;
        *until = pl->op[i].until;
    } else {
        *amount = pl->mp[i].amount;
        *cur = pl->mp[i].currency;
        *from = pl->mp[i].from;
        *until = pl->mp[i].until;
    }
}

/* The price valid at t (of those, the one that started last) and the next time the choice can
 * change. Returns the index or -1 when none is valid at t. */
static long plist_at(const struct plist *pl, int64_t t, int64_t *next)
{
    long best = -1;
    int64_t best_from = 0;
    *next = INT64_MAX;
    for (size_t i = 0; i < pl->n; i++) {
        int64_t a, f, u;
        const char *c;
        plist_get(pl, i, &a, &c, &f, &u);
        if (f > t && f < *next)
            *next = f;
        if (u > t && u < *next)
            *next = u;
        if (f <= t && t < u && (best < 0 || f > best_from)) {
            best = (long)i;
            best_from = f;
        }
    }
    return best;
}

/* A bucket: the usage of one atom on one UTC day at one price, summed before it is priced
 * (once per bucket, half-even to the micro-unit, then converted at the day's rate). The
 * in-memory rating and the SQL aggregation fill the same buckets, so they give the same bill. */
struct bucket {
    uint32_t atom;
    long pi; /* index in pl, -1 = free of charge */
    int64_t day;
    struct plist pl;
    int server;
    int64_t units;                /* seconds (servers) or GB-seconds */
    const char *type_name, *what; /* for messages: a resource (or project) it holds */
    uint64_t hash;
};

static int bucket_rehash(struct rater *r, size_t ncap)
{
    uint32_t *t = calloc(ncap, sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < r->nbuckets; i++) {
        size_t j = r->buckets[i].hash & (ncap - 1);
        while (t[j])
            j = (j + 1) & (ncap - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(r->btable);
    r->btable = t;
    r->btcap = ncap;
    return 0;
}

/* Add units to the bucket of (atom, day, price), created on first use. */
static int bucket_add(struct rater *r, const struct atom *a, int64_t day, const struct plist *pl,
                      long pi, int server, int64_t units, const char *type_name, const char *what)
{
    uint32_t ai = (uint32_t)(a - r->atoms);
    uint64_t h = ((uint64_t)ai * 1099511628211ULL) ^ ((uint64_t)day * 0x9e3779b97f4a7c15ULL) ^
                 ((uint64_t)(pi + 1) * 0xc2b2ae3d27d4eb4fULL);
    h ^= h >> 29;
    if (r->btcap == 0 || (r->nbuckets + 1) * 2 > r->btcap) {
        if (r->nbuckets >= UINT32_MAX / 4 || bucket_rehash(r, r->btcap ? r->btcap * 2 : 256))
            return nph_error_nomem(r->err);
    }
    size_t j = h & (r->btcap - 1);
    for (; r->btable[j]; j = (j + 1) & (r->btcap - 1)) {
        struct bucket *b = &r->buckets[r->btable[j] - 1];
        if (b->atom == ai && b->day == day && b->pi == pi) {
            if (__builtin_add_overflow(b->units, units, &b->units))
                return nph_error_set(r->err, NPH_E_INVALID, "%s '%s': the usage overflows",
                                     type_name, what);
            return 0;
        }
    }
    if (r->nbuckets == r->capbuckets) {
        size_t nc = r->capbuckets ? r->capbuckets * 2 : 256;
        struct bucket *nb = realloc(r->buckets, nc * sizeof(*nb));
        if (!nb)
            return nph_error_nomem(r->err);
        r->buckets = nb;
        r->capbuckets = nc;
    }
    r->buckets[r->nbuckets] = (struct bucket){ai, pi, day, *pl, server, units, type_name, what, h};
    r->btable[j] = (uint32_t)(++r->nbuckets);
    return 0;
}

/* Price every bucket into its atom's raw amount and the daily costs. */
static int price_buckets(struct rater *r)
{
    char t2[32];
    for (size_t i = 0; i < r->nbuckets; i++) {
        const struct bucket *b = &r->buckets[i];
        struct atom *a = &r->atoms[b->atom];
        int64_t amount = 0, pf, pu, cost = 0, conv = 0;
        const char *cur = r->currency;
        if (b->pi >= 0)
            plist_get(&b->pl, (size_t)b->pi, &amount, &cur, &pf, &pu);
        if (pol_muldiv(amount, b->units, b->server ? 3600 : GB_MONTH_SECONDS, &cost) < 0)
            return nph_error_set(r->err, NPH_E_INVALID, "%s '%s': the cost overflows", b->type_name,
                                 b->what);
        int rc = pol_cands_convert(r->cat->cands, cost, cur, r->currency, b->day, &conv);
        if (rc == -1)
            return nph_error_set(r->err, NPH_E_INVALID,
                                 "no exchange rate from %s to %s dated on or before %s (%s '%s')",
                                 cur, r->currency, pol_date_format(b->day, t2, sizeof(t2)),
                                 b->type_name, b->what);
        if (rc < 0 || __builtin_add_overflow(a->raw, conv, &a->raw))
            return nph_error_set(r->err, NPH_E_INVALID, "%s '%s': the cost overflows", b->type_name,
                                 b->what);
        size_t di = (size_t)((b->day - r->day0) / POL_DAY);
        if (b->day >= r->day0 && di < r->ndays)
            r->daily[di] += conv;
    }
    return 0;
}

/* Bill the segment [s, e) of event ev's resource with the given offering and size. */
static int bill_segment(struct rater *r, const struct pol_uevent *ev, const char *offering,
                        int64_t size_gb, int64_t s, int64_t e)
{
    const struct pol_catalog *cat = r->cat;
    const struct pol_bill_query *q = r->q;
    int64_t ci = pol_cands_find_cloud(cat->cands, ev->cloud);
    struct plist pl = {0};
    struct atom *a;
    char t1[32], t2[32];
    if (ci < 0)
        return nph_error_set(r->err, NPH_E_INVALID,
                             "%s '%s': cloud '%s' is not in the price catalog",
                             pol_rtype_name(ev->type), ev->resource, ev->cloud);
    const struct pol_bill_cloud *bc = &cat->clouds[ci];
    if (bc->hourly && e > s) {
        int64_t d = e - s;
        int64_t hours = d / 3600 + (d % 3600 != 0);
        e = s + hours * 3600;
    }
    if (s < q->from)
        s = q->from;
    if (e > q->to)
        e = q->to;
    if (e <= s)
        return 0;
    if (ev->type == POL_RT_SERVER) {
        int64_t oi = offering ? pol_cands_find_offering(cat->cands, (uint32_t)ci, offering) : -1;
        if (oi < 0)
            return nph_error_set(r->err, NPH_E_INVALID,
                                 "server '%s': offering '%s' of cloud '%s' is not in the price "
                                 "catalog",
                                 ev->resource, offering ? offering : "(none)", ev->cloud);
        pl.op = cat->cands->offerings[oi].prices;
        pl.n = cat->cands->offerings[oi].nprices;
    } else {
        int m = ev->type == POL_RT_VOLUME ? POL_M_VOLUME_GB_MONTH : POL_M_OBJECT_GB_MONTH;
        pl.mp = bc->prices[m];
        pl.n = bc->nprices[m];
        if (size_gb < 0)
            size_gb = 0;
    }
    if (!(a = atom_get(r, ev, offering)))
        return -1;
    for (int64_t t = s; t < e;) {
        int64_t day = floor_div(t, POL_DAY) * POL_DAY, next, end = day + POL_DAY;
        int64_t amount = 0, pf, pu, secs, units, conv = 0;
        const char *cur = r->currency;
        long pi = plist_at(&pl, t, &next);
        if (pl.n > 0 && pi < 0)
            return nph_error_set(r->err, NPH_E_INVALID,
                                 "%s '%s' on cloud '%s': no price is valid at %s",
                                 pol_rtype_name(ev->type), ev->resource, ev->cloud,
                                 pol_time_format(t, t1, sizeof(t1)));
        if (pi >= 0)
            plist_get(&pl, (size_t)pi, &amount, &cur, &pf, &pu);
        if (next < end)
            end = next;
        if (e < end)
            end = e;
        secs = end - t;
        units = ev->type == POL_RT_SERVER ? secs : secs * size_gb;
        /* A missing rate is reported here, naming the resource (pricing happens later). */
        if (pol_cands_convert(cat->cands, 0, cur, r->currency, day, &conv) == -1)
            return nph_error_set(r->err, NPH_E_INVALID,
                                 "no exchange rate from %s to %s dated on or before %s (%s '%s')",
                                 cur, r->currency, pol_date_format(day, t2, sizeof(t2)),
                                 pol_rtype_name(ev->type), ev->resource);
        if (__builtin_add_overflow(a->usage, units, &a->usage))
            return nph_error_set(r->err, NPH_E_INVALID, "%s '%s': the usage overflows",
                                 pol_rtype_name(ev->type), ev->resource);
        if (bucket_add(r, a, day, &pl, pi, ev->type == POL_RT_SERVER, units,
                       pol_rtype_name(ev->type), ev->resource) < 0)
            return -1;
        t = end;
    }
    return 0;
}

/* Order of events: by resource, then time, then position (stable). */
static int ev_cmp(const void *pa, const void *pb)
{
    const struct pol_uevent *a = *(const struct pol_uevent *const *)pa;
    const struct pol_uevent *b = *(const struct pol_uevent *const *)pb;
    int c = strcmp(a->resource, b->resource);
    if (c)
        return c;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Walk one resource's events [i, j) of the sorted order. */
static int rate_resource(struct rater *r, struct pol_uevent **ev, size_t n)
{
    enum { GONE, RUNNING, STOPPED } st = GONE;
    const struct pol_uevent *open_ev = NULL; /* the event that opened the segment */
    int64_t open_at = 0, size_gb = -1;
    const char *offering = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct pol_uevent *e = ev[k];
        int64_t ci = pol_cands_find_cloud(r->cat->cands, e->cloud);
        int bill_stopped = ci >= 0 && r->cat->clouds[ci].bill_stopped;
        int server = e->type == POL_RT_SERVER;
        if (e->ts >= r->q->to)
            break;
        if (open_ev && bill_segment(r, open_ev, offering, size_gb, open_at, e->ts) < 0)
            return -1;
        open_ev = NULL;
        switch (e->kind) {
        case POL_UEV_CREATED:
        case POL_UEV_STARTED:
            if (e->kind == POL_UEV_CREATED || server || st == GONE)
                st = RUNNING;
            break;
        case POL_UEV_RESIZED:
            if (st == GONE)
                st = RUNNING;
            break;
        case POL_UEV_STOPPED:
            st = server ? STOPPED : (st == GONE ? RUNNING : st);
            break;
        case POL_UEV_DELETED:
            st = GONE;
            break;
        }
        if (e->offering || e->kind == POL_UEV_CREATED)
            offering = e->offering;
        if (e->size_gb >= 0 || e->kind == POL_UEV_CREATED)
            size_gb = e->size_gb;
        if (st == RUNNING || (st == STOPPED && bill_stopped)) {
            open_ev = e;
            open_at = e->ts;
        }
    }
    if (open_ev) {
        int64_t end = r->q->open_end > open_at ? r->q->open_end : open_at;
        if (bill_segment(r, open_ev, offering, size_gb, open_at, end) < 0)
            return -1;
    }
    return 0;
}

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    return strcmp(a, b);
}

static int line_cmp(const void *pa, const void *pb)
{
    const struct pol_bill_line *a = pa, *b = pb;
    int c;
    if ((c = strcmp_null(a->project, b->project)) || (c = strcmp_null(a->cloud, b->cloud)) ||
        (c = strcmp_null(a->region, b->region)))
        return c;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    return strcmp_null(a->offering, b->offering);
}

static int cell_cmp(const void *pa, const void *pb)
{
    const struct pol_bill_cell *a = pa, *b = pb;
    int c = strcmp_null(a->key, b->key);
    return c ? c : (a->type > b->type) - (a->type < b->type);
}

void pol_bill_free(struct pol_bill *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nlines; i++) {
        free(b->lines[i].project);
        free(b->lines[i].cloud);
        free(b->lines[i].region);
        free(b->lines[i].offering);
    }
    for (size_t i = 0; i < b->nby_cloud; i++)
        free(b->by_cloud[i].key);
    for (size_t i = 0; i < b->nby_project; i++)
        free(b->by_project[i].key);
    free(b->lines);
    free(b->daily);
    free(b->by_cloud);
    free(b->by_project);
    free(b);
}

/* Group the atoms into b's lines (by mask) and chart cells. */
static int build_lines(struct rater *r, struct pol_bill *b, struct nph_error *err)
{
    unsigned m = b->group_by;
    size_t n = r->natoms;
    if (n == 0)
        return 0;
    b->lines = calloc(n, sizeof(*b->lines));
    b->by_cloud = calloc(n, sizeof(*b->by_cloud));
    b->by_project = calloc(n, sizeof(*b->by_project));
    if (!b->lines || !b->by_cloud || !b->by_project)
        return nph_error_nomem(err);
    for (size_t i = 0; i < n; i++) {
        const struct atom *a = &r->atoms[i];
        struct pol_bill_line *l = &b->lines[b->nlines++];
        struct pol_bill_cell *cc = &b->by_cloud[b->nby_cloud++];
        struct pol_bill_cell *cp = &b->by_project[b->nby_project++];
        l->type = cc->type = cp->type = a->type;
        l->usage = a->usage;
        l->raw = cc->raw = cp->raw = a->raw;
        if (dup_opt(&l->project, (m & POL_G_PROJECT) ? a->project : NULL) ||
            dup_opt(&l->cloud, (m & POL_G_CLOUD) ? a->cloud : NULL) ||
            dup_opt(&l->region, (m & POL_G_REGION) ? a->region : NULL) ||
            dup_opt(&l->offering, (m & POL_G_OFFERING) ? a->offering : NULL) ||
            dup_opt(&cc->key, a->cloud) || dup_opt(&cp->key, a->project))
            return nph_error_nomem(err);
    }
    /* Sort, then merge runs of equal keys. */
    qsort(b->lines, b->nlines, sizeof(*b->lines), line_cmp);
    size_t o = 0;
    for (size_t i = 0; i < b->nlines; i++) {
        if (o > 0 && line_cmp(&b->lines[o - 1], &b->lines[i]) == 0) {
            struct pol_bill_line *d = &b->lines[o - 1], *s = &b->lines[i];
            if (__builtin_add_overflow(d->raw, s->raw, &d->raw) ||
                __builtin_add_overflow(d->usage, s->usage, &d->usage))
                return nph_error_set(err, NPH_E_INVALID, "a report line overflows");
            free(s->project);
            free(s->cloud);
            free(s->region);
            free(s->offering);
        } else {
            b->lines[o++] = b->lines[i];
        }
    }
    b->nlines = o;
    for (int pass = 0; pass < 2; pass++) {
        struct pol_bill_cell *c = pass ? b->by_project : b->by_cloud;
        size_t *nc = pass ? &b->nby_project : &b->nby_cloud;
        qsort(c, *nc, sizeof(*c), cell_cmp);
        o = 0;
        for (size_t i = 0; i < *nc; i++) {
            if (o > 0 && cell_cmp(&c[o - 1], &c[i]) == 0) {
                c[o - 1].raw += c[i].raw;
                free(c[i].key);
            } else {
                c[o++] = c[i];
            }
        }
        *nc = o;
    }
    b->total = 0;
    for (size_t i = 0; i < b->nlines; i++) {
        b->lines[i].amount = pol_money_round(b->lines[i].raw, b->digits);
        if (__builtin_add_overflow(b->total, b->lines[i].amount, &b->total))
            return nph_error_set(err, NPH_E_INVALID, "the report total overflows");
    }
    return 0;
}

/* Check the query and set up r and a new, empty *bill. */
static int rater_init(struct rater *r, const struct pol_catalog *cat,
                      const struct pol_bill_query *q, struct pol_bill **bill, struct nph_error *err)
{
    struct pol_bill *b;
    memset(r, 0, sizeof(*r));
    r->cat = cat;
    r->q = q;
    r->err = err;
    r->currency = q->currency ? q->currency : cat->cands->currency;
    if (q->to <= q->from)
        return nph_error_set(err, NPH_E_INVALID, "the report period is empty ('to' <= 'from')");
    if ((q->to - q->from) / POL_DAY > 366 * 100)
        return nph_error_set(err, NPH_E_INVALID, "the report period is longer than a century");
    if (strlen(r->currency) != 3 || strspn(r->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
        return nph_error_set(err, NPH_E_INVALID, "currency '%.16s' is not a 3-letter code",
                             r->currency);
    if (!(b = calloc(1, sizeof(*b))))
        return nph_error_nomem(err);
    snprintf(b->currency, sizeof(b->currency), "%s", r->currency);
    b->digits = pol_currency_digits(b->currency);
    b->from = q->from;
    b->to = q->to;
    b->group_by = q->group_by | POL_G_RESOURCE_TYPE;
    r->day0 = floor_div(q->from, POL_DAY) * POL_DAY;
    r->ndays = (size_t)((floor_div(q->to - 1, POL_DAY) * POL_DAY - r->day0) / POL_DAY + 1);
    if (!(r->daily = calloc(r->ndays, sizeof(*r->daily)))) {
        free(b);
        return nph_error_nomem(err);
    }
    *bill = b;
    return 0;
}

/* Price the buckets, build the lines into b and hand it to *out; frees r's state. */
static int rater_finish(struct rater *r, struct pol_bill *b, int ok, struct pol_bill **out)
{
    int rc = -1;
    if (ok && price_buckets(r) == 0 && build_lines(r, b, r->err) == 0) {
        b->daily = r->daily;
        b->ndays = r->ndays;
        r->daily = NULL;
        *out = b;
        b = NULL;
        rc = 0;
    }
    for (size_t i = 0; i < r->natoms; i++) {
        free(r->atoms[i].project);
        free(r->atoms[i].cloud);
        free(r->atoms[i].region);
        free(r->atoms[i].offering);
    }
    free(r->atoms);
    free(r->table);
    free(r->buckets);
    free(r->btable);
    free(r->daily);
    pol_bill_free(b);
    return rc;
}

int pol_bill_rate(const struct pol_catalog *cat, struct pol_uevents *ev,
                  const struct pol_bill_query *q, struct pol_bill **out, struct nph_error *err)
{
    struct rater r;
    struct pol_bill *b = NULL;
    struct pol_uevent **order = NULL;
    int ok = 0;
    if (rater_init(&r, cat, q, &b, err))
        return -1;
    if (ev->n && !(order = malloc(ev->n * sizeof(*order)))) {
        nph_error_nomem(err);
        goto cleanup;
    }
    for (size_t i = 0; i < ev->n; i++)
        order[i] = &ev->v[i];
    if (ev->n)
        qsort(order, ev->n, sizeof(*order), ev_cmp);
    for (size_t i = 0; i < ev->n;) {
        size_t j = i + 1;
        while (j < ev->n && strcmp(order[j]->resource, order[i]->resource) == 0)
            j++;
        if (rate_resource(&r, order + i, j - i) < 0)
            goto cleanup;
        i = j;
    }
    ok = 1;
cleanup:
    free(order);
    return rater_finish(&r, b, ok, out);
}

/* ---- rating usage aggregated elsewhere (SQL) ---------------------------------------------- */

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

int pol_bill_cuts(const struct pol_catalog *cat, const struct pol_bill_query *q, int64_t **cuts,
                  size_t *n, struct nph_error *err)
{
    size_t cap = 64, k = 0;
    int64_t *v = malloc(cap * sizeof(*v));
    if (!v)
        return nph_error_nomem(err);
#define CUT_ADD(x)                                                                                 \
    do {                                                                                           \
        int64_t x_ = (x);                                                                          \
        if (x_ >= q->from && x_ <= q->to) {                                                        \
            if (k == cap) {                                                                        \
                int64_t *nv = realloc(v, (cap *= 2) * sizeof(*v));                                 \
                if (!nv) {                                                                         \
                    free(v);                                                                       \
                    return nph_error_nomem(err);                                                   \
                }                                                                                  \
                v = nv;                                                                            \
            }                                                                                      \
            v[k++] = x_;                                                                           \
        }                                                                                          \
    } while (0)
    if (q->to <= q->from || (q->to - q->from) / POL_DAY > 366 * 100) {
        free(v);
        return nph_error_set(err, NPH_E_INVALID, "the report period is empty or too long");
    }
    CUT_ADD(q->from);
    CUT_ADD(q->to);
    for (int64_t d = floor_div(q->from, POL_DAY) * POL_DAY + POL_DAY; d < q->to; d += POL_DAY)
        CUT_ADD(d);
    for (size_t o = 0; o < cat->cands->noffers; o++)
        for (size_t i = 0; i < cat->cands->offerings[o].nprices; i++) {
            CUT_ADD(cat->cands->offerings[o].prices[i].from);
            CUT_ADD(cat->cands->offerings[o].prices[i].until);
        }
    for (size_t c = 0; c < cat->nclouds; c++)
        for (int m = 0; m < POL_M__COUNT; m++)
            for (size_t i = 0; i < cat->clouds[c].nprices[m]; i++) {
                CUT_ADD(cat->clouds[c].prices[m][i].from);
                CUT_ADD(cat->clouds[c].prices[m][i].until);
            }
#undef CUT_ADD
    qsort(v, k, sizeof(*v), cmp_i64);
    size_t o = 0;
    for (size_t i = 0; i < k; i++)
        if (o == 0 || v[o - 1] != v[i])
            v[o++] = v[i];
    *cuts = v;
    *n = o;
    return 0;
}

int pol_bill_rate_usage(const struct pol_catalog *cat, const struct pol_usage_row *rows, size_t n,
                        const struct pol_bill_query *q, struct pol_bill **out,
                        struct nph_error *err)
{
    struct rater r;
    struct pol_bill *b = NULL;
    char t1[32];
    int ok = 0;
    if (rater_init(&r, cat, q, &b, err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct pol_usage_row *u = &rows[i];
        struct pol_uevent e = {0};
        struct plist pl = {0};
        struct atom *a;
        int64_t ci = pol_cands_find_cloud(cat->cands, u->cloud), next, conv = 0, amount = 0, pf, pu;
        const char *cur = r.currency;
        const char *tn = pol_rtype_name(u->type);
        if (u->start < q->from || u->start >= q->to || u->units < 0) {
            nph_error_set(err, NPH_E_INTERNAL, "aggregated usage row %zu is out of the report", i);
            goto cleanup;
        }
        if (ci < 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "%s usage of project '%s': cloud '%s' is not in "
                          "the price catalog",
                          tn, u->project, u->cloud);
            goto cleanup;
        }
        if (u->type == POL_RT_SERVER) {
            int64_t oi =
                u->offering ? pol_cands_find_offering(cat->cands, (uint32_t)ci, u->offering) : -1;
            if (oi < 0) {
                nph_error_set(err, NPH_E_INVALID,
                              "server usage of project '%s': offering '%s' of cloud '%s' is not "
                              "in the price catalog",
                              u->project, u->offering ? u->offering : "(none)", u->cloud);
                goto cleanup;
            }
            pl.op = cat->cands->offerings[oi].prices;
            pl.n = cat->cands->offerings[oi].nprices;
        } else {
            int m = u->type == POL_RT_VOLUME ? POL_M_VOLUME_GB_MONTH : POL_M_OBJECT_GB_MONTH;
            pl.mp = cat->clouds[ci].prices[m];
            pl.n = cat->clouds[ci].nprices[m];
        }
        long pi = plist_at(&pl, u->start, &next);
        int64_t day = floor_div(u->start, POL_DAY) * POL_DAY;
        if (pl.n > 0 && pi < 0) {
            nph_error_set(err, NPH_E_INVALID,
                          "%s usage of project '%s' on cloud '%s': no price is valid at %s", tn,
                          u->project, u->cloud, pol_time_format(u->start, t1, sizeof(t1)));
            goto cleanup;
        }
        if (pi >= 0)
            plist_get(&pl, (size_t)pi, &amount, &cur, &pf, &pu);
        if (pol_cands_convert(cat->cands, 0, cur, r.currency, day, &conv) == -1) {
            nph_error_set(err, NPH_E_INVALID,
                          "no exchange rate from %s to %s dated on or before %s (%s usage of "
                          "project '%s')",
                          cur, r.currency, pol_date_format(day, t1, sizeof(t1)), tn, u->project);
            goto cleanup;
        }
        e.type = u->type;
        e.project = (char *)u->project;
        e.cloud = (char *)u->cloud;
        e.region = (char *)u->region;
        if (!(a = atom_get(&r, &e, u->offering)))
            goto cleanup;
        if (__builtin_add_overflow(a->usage, u->units, &a->usage)) {
            nph_error_set(err, NPH_E_INVALID, "%s usage of project '%s' overflows", tn, u->project);
            goto cleanup;
        }
        if (bucket_add(&r, a, day, &pl, pi, u->type == POL_RT_SERVER, u->units, tn, a->project) < 0)
            goto cleanup;
    }
    ok = 1;
cleanup:
    return rater_finish(&r, b, ok, out);
}

char *pol_bill_quantity(const struct pol_bill_line *l, char *buf, size_t len)
{
    int64_t q = 0;
    pol_muldiv(l->usage, POL_MICRO, l->type == POL_RT_SERVER ? 3600 : GB_MONTH_SECONDS, &q);
    pol_money_format(q, 6, buf, len);
    if (strchr(buf, '.')) {
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    }
    return buf;
}
