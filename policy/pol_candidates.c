/*
 * pol_candidates.c - the candidate set (see pol_candidates.h): growable arrays of clouds,
 * regions and offerings, the configuration reader with strict checks and line numbers, dated
 * prices and exchange rates in integer micro-units.
 */
#include "pol_candidates.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol_money.h"
#include "pol_time.h"
#include "pol_yaml.h"

#define NAME_MAX_LEN 255
#define MAX_ITEMS    1000000

__extension__ typedef __int128 i128;

int pol_muldiv(int64_t a, int64_t b, int64_t d, int64_t *out)
{
    if (d == 0)
        return -1;
    i128 p = (i128)a * b;
    if (d < 0) {
        p = -p;
        d = -d;
    }
    i128 q = p / d, r = p % d;
    if (r < 0) {
        r += d;
        q -= 1;
    }
    if (2 * r > d || (2 * r == d && (q & 1)))
        q += 1;
    if (q > INT64_MAX || q < INT64_MIN)
        return -1;
    *out = (int64_t)q;
    return 0;
}

/* Grow *arr (of elem bytes) so that it holds n + 1 elements. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    if (n >= MAX_ITEMS)
        return -1;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

struct pol_cands *pol_cands_new(const char *currency, struct nph_error *err)
{
    struct pol_cands *c = calloc(1, sizeof(*c));
    if (!c) {
        nph_error_nomem(err);
        return NULL;
    }
    snprintf(c->currency, sizeof(c->currency), "%s", currency ? currency : "EUR");
    return c;
}

void pol_cands_free(struct pol_cands *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nclouds; i++) {
        free(c->clouds[i].name);
        free(c->clouds[i].kind);
        json_decref(c->clouds[i].labels);
        free(c->clouds[i].health_reason);
        free(c->clouds[i].regions);
        free(c->clouds[i].offerings);
    }
    for (size_t i = 0; i < c->nregions; i++) {
        free(c->regions[i].name);
        json_decref(c->regions[i].labels);
        free(c->regions[i].health_reason);
    }
    for (size_t i = 0; i < c->noffers; i++) {
        free(c->offerings[i].name);
        json_decref(c->offerings[i].labels);
        free(c->offerings[i].prices);
        free(c->offerings[i].regions);
    }
    for (size_t i = 0; i < c->nsizes; i++)
        free(c->sizes[i].name);
    for (size_t i = 0; i < c->nspends; i++)
        free(c->spends[i].project);
    free(c->clouds);
    free(c->regions);
    free(c->offerings);
    free(c->sizes);
    free(c->rates);
    free(c->spends);
    free(c);
}

static json_t *labels_ref(json_t *labels)
{
    return labels ? json_incref(labels) : json_object();
}

int64_t pol_cands_find_cloud(const struct pol_cands *c, const char *name)
{
    for (size_t i = 0; i < c->nclouds; i++)
        if (strcmp(c->clouds[i].name, name) == 0)
            return (int64_t)i;
    return -1;
}

int64_t pol_cands_find_region(const struct pol_cands *c, uint32_t cloud, const char *name)
{
    const struct pol_cloud *cl = &c->clouds[cloud];
    for (size_t i = 0; i < cl->nregions; i++)
        if (strcmp(c->regions[cl->regions[i]].name, name) == 0)
            return cl->regions[i];
    return -1;
}

int64_t pol_cands_find_offering(const struct pol_cands *c, uint32_t cloud, const char *name)
{
    const struct pol_cloud *cl = &c->clouds[cloud];
    for (size_t i = 0; i < cl->noffers; i++)
        if (strcmp(c->offerings[cl->offerings[i]].name, name) == 0)
            return cl->offerings[i];
    return -1;
}

const struct pol_size *pol_cands_find_size(const struct pol_cands *c, const char *name)
{
    for (size_t i = 0; i < c->nsizes; i++)
        if (strcmp(c->sizes[i].name, name) == 0)
            return &c->sizes[i];
    return NULL;
}

int64_t pol_cands_add_cloud(struct pol_cands *c, const char *name, const char *kind, json_t *labels,
                            struct nph_error *err)
{
    if (pol_cands_find_cloud(c, name) >= 0)
        return nph_error_set(err, NPH_E_INVALID, "cloud '%s' is declared twice", name);
    if (grow((void **)&c->clouds, &c->capc, c->nclouds, sizeof(*c->clouds)))
        return nph_error_nomem(err);
    struct pol_cloud *cl = &c->clouds[c->nclouds];
    memset(cl, 0, sizeof(*cl));
    cl->quota_vcpus = cl->quota_ram_mb = cl->quota_instances = POL_UNLIMITED;
    if (!(cl->name = strdup(name)) || !(cl->kind = strdup(kind ? kind : "")) ||
        !(cl->labels = labels_ref(labels))) {
        free(cl->name);
        free(cl->kind);
        return nph_error_nomem(err);
    }
    return (int64_t)c->nclouds++;
}

int64_t pol_cands_add_region(struct pol_cands *c, uint32_t cloud, const char *name, json_t *labels,
                             struct nph_error *err)
{
    struct pol_cloud *cl = &c->clouds[cloud];
    if (pol_cands_find_region(c, cloud, name) >= 0)
        return nph_error_set(err, NPH_E_INVALID, "region '%s' of cloud '%s' is declared twice",
                             name, cl->name);
    if (grow((void **)&c->regions, &c->capr, c->nregions, sizeof(*c->regions)) ||
        grow((void **)&cl->regions, &cl->capr, cl->nregions, sizeof(*cl->regions)))
        return nph_error_nomem(err);
    struct pol_region *r = &c->regions[c->nregions];
    memset(r, 0, sizeof(*r));
    r->cloud = cloud;
    r->cap_vcpus = r->cap_ram_mb = POL_UNLIMITED;
    if (!(r->name = strdup(name)) || !(r->labels = labels_ref(labels))) {
        free(r->name);
        return nph_error_nomem(err);
    }
    cl->regions[cl->nregions++] = (uint32_t)c->nregions;
    return (int64_t)c->nregions++;
}

int64_t pol_cands_add_offering(struct pol_cands *c, uint32_t cloud, const char *name, int64_t vcpus,
                               int64_t ram_mb, int64_t disk_gb, int64_t gpus, json_t *labels,
                               struct nph_error *err)
{
    struct pol_cloud *cl = &c->clouds[cloud];
    int64_t have = pol_cands_find_offering(c, cloud, name);
    struct pol_offering *o;
    if (have >= 0) {
        o = &c->offerings[have];
    } else {
        if (grow((void **)&c->offerings, &c->capo, c->noffers, sizeof(*c->offerings)) ||
            grow((void **)&cl->offerings, &cl->capo, cl->noffers, sizeof(*cl->offerings)))
            return nph_error_nomem(err);
        o = &c->offerings[c->noffers];
        memset(o, 0, sizeof(*o));
        o->cloud = cloud;
        if (!(o->name = strdup(name)) || !(o->labels = labels_ref(labels))) {
            free(o->name);
            return nph_error_nomem(err);
        }
        cl->offerings[cl->noffers++] = (uint32_t)c->noffers;
        have = (int64_t)c->noffers++;
    }
    o->vcpus = vcpus;
    o->ram_mb = ram_mb;
    o->disk_gb = disk_gb;
    o->gpus = gpus;
    return have;
}

int pol_cands_add_price(struct pol_cands *c, uint32_t offering, int64_t per_hour,
                        const char *currency, int64_t from, int64_t until, struct nph_error *err)
{
    struct pol_offering *o = &c->offerings[offering];
    struct pol_price *p = realloc(o->prices, (o->nprices + 1) * sizeof(*p));
    if (!p)
        return nph_error_nomem(err);
    o->prices = p;
    p = &o->prices[o->nprices++];
    memset(p, 0, sizeof(*p));
    p->per_hour = per_hour;
    snprintf(p->currency, sizeof(p->currency), "%s", currency ? currency : c->currency);
    p->from = from;
    p->until = until;
    return 0;
}

int pol_cands_set_offering_regions(struct pol_cands *c, uint32_t offering, const uint32_t *regions,
                                   size_t n, struct nph_error *err)
{
    struct pol_offering *o = &c->offerings[offering];
    uint32_t *r = malloc((n ? n : 1) * sizeof(*r));
    if (!r)
        return nph_error_nomem(err);
    memcpy(r, regions, n * sizeof(*r));
    free(o->regions);
    o->regions = r;
    o->nregions = n;
    return 0;
}

int pol_cands_add_size(struct pol_cands *c, const char *name, int64_t vcpus, int64_t ram_mb,
                       int64_t disk_gb, int64_t gpus, struct nph_error *err)
{
    if (pol_cands_find_size(c, name))
        return nph_error_set(err, NPH_E_INVALID, "size '%s' is declared twice", name);
    if (grow((void **)&c->sizes, &c->caps, c->nsizes, sizeof(*c->sizes)))
        return nph_error_nomem(err);
    struct pol_size *s = &c->sizes[c->nsizes];
    if (!(s->name = strdup(name)))
        return nph_error_nomem(err);
    s->vcpus = vcpus;
    s->ram_mb = ram_mb;
    s->disk_gb = disk_gb;
    s->gpus = gpus;
    c->nsizes++;
    return 0;
}

int pol_cands_add_rate(struct pol_cands *c, const char *from, const char *to, int64_t rate,
                       int64_t date, struct nph_error *err)
{
    if (rate <= 0)
        return nph_error_set(err, NPH_E_INVALID, "an exchange rate must be positive");
    if (grow((void **)&c->rates, &c->capx, c->nrates, sizeof(*c->rates)))
        return nph_error_nomem(err);
    struct pol_rate *r = &c->rates[c->nrates++];
    snprintf(r->from, sizeof(r->from), "%s", from);
    snprintf(r->to, sizeof(r->to), "%s", to);
    r->rate = rate;
    r->date = date;
    return 0;
}

static int set_reason(char **dst, const char *reason, struct nph_error *err)
{
    char *s = reason ? strdup(reason) : NULL;
    if (reason && !s)
        return nph_error_nomem(err);
    free(*dst);
    *dst = s;
    return 0;
}

int pol_cands_set_cloud_health(struct pol_cands *c, uint32_t cloud, enum pol_health h,
                               const char *reason, struct nph_error *err)
{
    if (cloud >= c->nclouds)
        return nph_error_set(err, NPH_E_INVALID, "no cloud %u", cloud);
    if (set_reason(&c->clouds[cloud].health_reason, reason, err))
        return -1;
    c->clouds[cloud].health = h;
    return 0;
}

int pol_cands_set_region_health(struct pol_cands *c, uint32_t region, enum pol_health h,
                                const char *reason, struct nph_error *err)
{
    if (region >= c->nregions)
        return nph_error_set(err, NPH_E_INVALID, "no region %u", region);
    if (set_reason(&c->regions[region].health_reason, reason, err))
        return -1;
    c->regions[region].health = h;
    return 0;
}

void pol_cands_set_capacity(struct pol_cands *c, uint32_t region, int64_t vcpus, int64_t ram_mb)
{
    if (region >= c->nregions)
        return;
    c->regions[region].cap_vcpus = vcpus < 0 ? POL_UNLIMITED : vcpus;
    c->regions[region].cap_ram_mb = ram_mb < 0 ? POL_UNLIMITED : ram_mb;
}

void pol_cands_set_quota(struct pol_cands *c, uint32_t cloud, int64_t vcpus, int64_t ram_mb,
                         int64_t instances)
{
    if (cloud >= c->nclouds)
        return;
    c->clouds[cloud].quota_vcpus = vcpus < 0 ? POL_UNLIMITED : vcpus;
    c->clouds[cloud].quota_ram_mb = ram_mb < 0 ? POL_UNLIMITED : ram_mb;
    c->clouds[cloud].quota_instances = instances < 0 ? POL_UNLIMITED : instances;
}

void pol_cands_set_servers(struct pol_cands *c, uint32_t region, int64_t count)
{
    if (region >= c->nregions)
        return;
    c->regions[region].servers = count < 0 ? 0 : count;
}

int pol_cands_set_spend(struct pol_cands *c, const char *project, int64_t micros,
                        struct nph_error *err)
{
    for (size_t i = 0; i < c->nspends; i++)
        if (strcmp(c->spends[i].project, project) == 0) {
            c->spends[i].micros = micros;
            return 0;
        }
    if (grow((void **)&c->spends, &c->capsp, c->nspends, sizeof(*c->spends)) ||
        !(c->spends[c->nspends].project = strdup(project)))
        return nph_error_nomem(err);
    c->spends[c->nspends++].micros = micros;
    return 0;
}

int64_t pol_cands_spend(const struct pol_cands *c, const char *project)
{
    for (size_t i = 0; project && i < c->nspends; i++)
        if (strcmp(c->spends[i].project, project) == 0)
            return c->spends[i].micros;
    return 0;
}

int pol_cands_convert(const struct pol_cands *c, int64_t amount, const char *from, const char *to,
                      int64_t t, int64_t *out)
{
    const struct pol_rate *best = NULL;
    int inverse = 0;
    if (strcmp(from, to) == 0) {
        *out = amount;
        return 0;
    }
    for (size_t i = 0; i < c->nrates; i++) {
        const struct pol_rate *r = &c->rates[i];
        int direct = !strcmp(r->from, from) && !strcmp(r->to, to);
        int inv = !strcmp(r->from, to) && !strcmp(r->to, from);
        if ((!direct && !inv) || r->date > t)
            continue;
        /* Latest date wins; on the same date a direct rate beats an inverse one. */
        if (!best || r->date > best->date || (r->date == best->date && direct && inverse)) {
            best = r;
            inverse = !direct;
        }
    }
    if (!best)
        return -1;
    if (inverse ? pol_muldiv(amount, POL_MICRO, best->rate, out)
                : pol_muldiv(amount, best->rate, POL_MICRO, out))
        return -2;
    return 0;
}

int pol_cands_price_at(const struct pol_cands *c, uint32_t offering, int64_t t, int64_t *out,
                       const char **cur)
{
    const struct pol_offering *o = &c->offerings[offering];
    const struct pol_price *best = NULL;
    if (o->nprices == 0) {
        *out = 0;
        return 0;
    }
    /* Of the prices valid at t, the one that started last. */
    for (size_t i = 0; i < o->nprices; i++) {
        const struct pol_price *p = &o->prices[i];
        if (p->from <= t && t < p->until && (!best || p->from > best->from))
            best = p;
    }
    if (!best)
        return -1;
    *cur = best->currency;
    int rc = pol_cands_convert(c, best->per_hour, best->currency, c->currency, t, out);
    return rc == -1 ? -2 : rc == -2 ? -3 : 0;
}

/* ---- the configuration's sections ------------------------------------------------------------ */

/* snprintf for paths (they are short; a truncated one only loses a line number). */
static void pjoin(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pjoin(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

struct cfgload {
    const char *name;
    const json_t *lines;
    struct pol_cands *c;
    struct nph_error *err;
};

static int cfail(struct cfgload *l, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "name:line: where: message", the line of `path` in the line map (or of its parents). */
static int cfail(struct cfgload *l, const char *path, const char *fmt, ...)
{
    char msg[NPH_ERR_MSG_MAX], p[256];
    int line = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pjoin(p, sizeof(p), "%s", path);
    while (!(line = pol_yaml_line(l->lines, "%s", p))) {
        char *dot = strrchr(p, '.');
        if (!dot)
            break;
        *dot = '\0';
    }
    if (line > 0)
        return nph_error_set(l->err, NPH_E_INVALID, "%s:%d: %s", l->name, line, msg);
    return nph_error_set(l->err, NPH_E_INVALID, "%s: %s", l->name, msg);
}

/* "clouds.1.offerings.0" -> "clouds[1].offerings[0]" for messages. */
static const char *where(const char *path, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *s = path; *s && o + 2 < len; s++) {
        if (*s == '.' && s[1] >= '0' && s[1] <= '9') {
            buf[o++] = '[';
            while (s[1] >= '0' && s[1] <= '9' && o + 2 < len)
                buf[o++] = *++s;
            buf[o++] = ']';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static int ccheck_keys(struct cfgload *l, const json_t *obj, const char *path,
                       const char *const *allowed)
{
    const char *k;
    json_t *v;
    char w[256], kp[300];
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= strcmp(allowed[i], k) == 0;
        if (!ok) {
            char list[200] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         allowed[i]);
            pjoin(kp, sizeof(kp), "%s.%s", path, k);
            return cfail(l, kp, "%s: unknown key '%.64s' (expected %s)", where(path, w, sizeof(w)),
                         k, list);
        }
    }
    return 0;
}

static int get_name(struct cfgload *l, const json_t *obj, const char *path, const char *key,
                    int required, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.%s", path, key);
    if (!v && !required)
        return 1;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > NAME_MAX_LEN ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cfail(l, kp, "%s: '%s' must be a non-empty string", where(path, w, sizeof(w)), key);
    *out = json_string_value(v);
    return 0;
}

static int get_count(struct cfgload *l, const json_t *obj, const char *path, const char *key,
                     int required, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.%s", path, key);
    if (!v && !required)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > INT64_MAX / POL_MICRO)
        return cfail(l, kp, "%s: '%s' must be a non-negative integer", where(path, w, sizeof(w)),
                     key);
    *out = json_integer_value(v);
    return 0;
}

static int valid_currency(const char *s)
{
    if (strlen(s) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

static int get_currency(struct cfgload *l, const json_t *obj, const char *path, const char *key,
                        const char **out)
{
    const json_t *v = json_object_get(obj, key);
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.%s", path, key);
    if (!v)
        return 1;
    if (!json_is_string(v) || !valid_currency(json_string_value(v)))
        return cfail(l, kp, "%s: '%s' must be a 3-letter currency code such as EUR",
                     where(path, w, sizeof(w)), key);
    *out = json_string_value(v);
    return 0;
}

/* A decimal amount: a string ("0.010") or an integer; a YAML float is refused (quote it). */
static int get_decimal(struct cfgload *l, const json_t *obj, const char *path, const char *key,
                       int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.%s", path, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= INT64_MAX / POL_MICRO) {
        *out = json_integer_value(v) * POL_MICRO;
        return 0;
    }
    if (json_is_string(v) && pol_money_parse(json_string_value(v), out) == 0 && *out >= 0)
        return 0;
    return cfail(l, kp,
                 "%s: '%s' must be a non-negative decimal string such as \"0.092\" (at most 6 "
                 "fraction digits; quote it so that YAML keeps it exact)",
                 where(path, w, sizeof(w)), key);
}

static int get_time(struct cfgload *l, const json_t *obj, const char *path, const char *key,
                    int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.%s", path, key);
    if (!v)
        return 1;
    if (!json_is_string(v) || pol_time_parse(json_string_value(v), out) < 0)
        return cfail(l, kp, "%s: '%s' must be a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SSZ",
                     where(path, w, sizeof(w)), key);
    return 0;
}

static int get_labels(struct cfgload *l, const json_t *obj, const char *path, json_t **out)
{
    json_t *v = json_object_get(obj, "labels");
    const char *k;
    json_t *x;
    char w[256], kp[300];
    pjoin(kp, sizeof(kp), "%s.labels", path);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return cfail(l, kp, "%s: 'labels' must be a mapping", where(path, w, sizeof(w)));
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x) && !json_is_integer(x) && !json_is_boolean(x) && !json_is_real(x)) {
            pjoin(kp, sizeof(kp), "%s.labels.%s", path, k);
            return cfail(l, kp, "%s: label '%.64s' must be a string, number or boolean",
                         where(path, w, sizeof(w)), k);
        }
    }
    *out = v;
    return 0;
}

static int load_prices(struct cfgload *l, uint32_t off, const json_t *pv, const char *path)
{
    static const char *const keys[] = {"per_hour", "currency", "from", "until", NULL};
    size_t n = json_is_array(pv) ? json_array_size(pv) : 1;
    char w[256];
    if (!json_is_object(pv) && !json_is_array(pv))
        return cfail(l, path,
                     "%s: must be a mapping {per_hour, currency} or a list of dated prices",
                     where(path, w, sizeof(w)));
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_is_array(pv) ? json_array_get(pv, i) : pv;
        char pp[300];
        int64_t per_hour, from = INT64_MIN, until = INT64_MAX;
        const char *cur = l->c->currency;
        if (json_is_array(pv))
            pjoin(pp, sizeof(pp), "%s.%zu", path, i);
        else
            pjoin(pp, sizeof(pp), "%s", path);
        if (!json_is_object(p))
            return cfail(l, pp, "%s: a price must be a mapping", where(pp, w, sizeof(w)));
        if (ccheck_keys(l, p, pp, keys) < 0 || get_decimal(l, p, pp, "per_hour", &per_hour) < 0 ||
            get_currency(l, p, pp, "currency", &cur) < 0 || get_time(l, p, pp, "from", &from) < 0 ||
            get_time(l, p, pp, "until", &until) < 0)
            return -1;
        if (from >= until)
            return cfail(l, pp, "%s: 'until' must come after 'from'", where(pp, w, sizeof(w)));
        if (pol_cands_add_price(l->c, off, per_hour, cur, from, until, l->err) < 0)
            return -1;
    }
    return 0;
}

static int load_offering(struct cfgload *l, uint32_t cloud, const json_t *e, const char *path)
{
    static const char *const keys[] = {"name",   "vcpus", "ram_mb",  "disk_gb", "gpus",
                                       "labels", "price", "regions", NULL};
    const char *name;
    int64_t vcpus, ram, disk = 0, gpus = 0;
    json_t *labels, *regs;
    char w[256], kp[300];
    if (!json_is_object(e))
        return cfail(l, path, "%s: an offering must be a mapping", where(path, w, sizeof(w)));
    if (ccheck_keys(l, e, path, keys) < 0 || get_name(l, e, path, "name", 1, &name) < 0 ||
        get_count(l, e, path, "vcpus", 1, &vcpus) < 0 ||
        get_count(l, e, path, "ram_mb", 1, &ram) < 0 ||
        get_count(l, e, path, "disk_gb", 0, &disk) < 0 ||
        get_count(l, e, path, "gpus", 0, &gpus) < 0 || get_labels(l, e, path, &labels) < 0)
        return -1;
    if (pol_cands_find_offering(l->c, cloud, name) >= 0)
        return cfail(l, path, "%s: offering '%s' is declared twice in this cloud",
                     where(path, w, sizeof(w)), name);
    int64_t o = pol_cands_add_offering(l->c, cloud, name, vcpus, ram, disk, gpus, labels, l->err);
    if (o < 0)
        return -1;
    if (json_object_get(e, "price")) {
        pjoin(kp, sizeof(kp), "%s.price", path);
        if (load_prices(l, (uint32_t)o, json_object_get(e, "price"), kp) < 0)
            return -1;
    }
    if ((regs = json_object_get(e, "regions"))) {
        size_t n = json_is_array(regs) ? json_array_size(regs) : 0;
        uint32_t *idx = malloc((n ? n : 1) * sizeof(*idx));
        pjoin(kp, sizeof(kp), "%s.regions", path);
        if (!idx)
            return nph_error_nomem(l->err);
        if (!json_is_array(regs) || n == 0) {
            free(idx);
            return cfail(l, kp, "%s: 'regions' must be a non-empty list of region names",
                         where(path, w, sizeof(w)));
        }
        for (size_t i = 0; i < n; i++) {
            const char *rn = json_string_value(json_array_get(regs, i));
            int64_t r = rn ? pol_cands_find_region(l->c, cloud, rn) : -1;
            if (r < 0) {
                free(idx);
                return cfail(l, kp, "%s: 'regions': '%.64s' is no region of cloud '%s'",
                             where(path, w, sizeof(w)), rn ? rn : "(not a string)",
                             l->c->clouds[cloud].name);
            }
            idx[i] = (uint32_t)r;
        }
        int rc = pol_cands_set_offering_regions(l->c, (uint32_t)o, idx, n, l->err);
        free(idx);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int load_region(struct cfgload *l, uint32_t cloud, const json_t *e, const char *path)
{
    static const char *const keys[] = {"name", "labels", "capacity", NULL};
    static const char *const ckeys[] = {"vcpus", "ram_mb", NULL};
    const char *name;
    json_t *labels, *cap;
    int64_t vcpus = POL_UNLIMITED, ram = POL_UNLIMITED;
    char w[256], kp[300];
    if (!json_is_object(e))
        return cfail(l, path, "%s: a region must be a mapping", where(path, w, sizeof(w)));
    if (ccheck_keys(l, e, path, keys) < 0 || get_name(l, e, path, "name", 1, &name) < 0 ||
        get_labels(l, e, path, &labels) < 0)
        return -1;
    if (pol_cands_find_region(l->c, cloud, name) >= 0)
        return cfail(l, path, "%s: region '%s' is declared twice in this cloud",
                     where(path, w, sizeof(w)), name);
    if ((cap = json_object_get(e, "capacity"))) {
        pjoin(kp, sizeof(kp), "%s.capacity", path);
        if (!json_is_object(cap))
            return cfail(l, kp, "%s: 'capacity' must be a mapping {vcpus, ram_mb}",
                         where(path, w, sizeof(w)));
        if (ccheck_keys(l, cap, kp, ckeys) < 0 || get_count(l, cap, kp, "vcpus", 0, &vcpus) < 0 ||
            get_count(l, cap, kp, "ram_mb", 0, &ram) < 0)
            return -1;
    }
    int64_t r = pol_cands_add_region(l->c, cloud, name, labels, l->err);
    if (r < 0)
        return -1;
    pol_cands_set_capacity(l->c, (uint32_t)r, vcpus, ram);
    return 0;
}

static int load_cloud(struct cfgload *l, const json_t *e, const char *path)
{
    const char *name, *kind = "";
    json_t *labels, *list;
    char w[256], kp[300];
    if (!json_is_object(e))
        return cfail(l, path, "%s: a cloud must be a mapping", where(path, w, sizeof(w)));
    if (get_name(l, e, path, "name", 1, &name) < 0 || get_name(l, e, path, "kind", 0, &kind) < 0 ||
        get_labels(l, e, path, &labels) < 0)
        return -1;
    if (pol_cands_find_cloud(l->c, name) >= 0)
        return cfail(l, path, "%s: cloud '%s' is declared twice", where(path, w, sizeof(w)), name);
    int64_t c = pol_cands_add_cloud(l->c, name, kind, labels, l->err);
    if (c < 0)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        const char *key = pass ? "offerings" : "regions";
        pjoin(kp, sizeof(kp), "%s.%s", path, key);
        list = json_object_get(e, key);
        if (!list || json_is_null(list))
            continue;
        if (!json_is_array(list))
            return cfail(l, kp, "%s: '%s' must be a list", where(path, w, sizeof(w)), key);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char ip[300];
            pjoin(ip, sizeof(ip), "%s.%zu", kp, i);
            if ((pass ? load_offering(l, (uint32_t)c, json_array_get(list, i), ip)
                      : load_region(l, (uint32_t)c, json_array_get(list, i), ip)) < 0)
                return -1;
        }
    }
    return 0;
}

struct pol_cands *pol_cands_from_config(const json_t *sections, const json_t *lines,
                                        const char *name, struct nph_error *err)
{
    static const char *const skeys[] = {"name", "vcpus", "ram_mb", "disk_gb", "gpus", NULL};
    static const char *const rkeys[] = {"from", "to", "rate", "date", NULL};
    struct cfgload l = {name ? name : "<config>", lines, NULL, err};
    const json_t *v;
    const char *cur = "EUR";
    char w[256];
    v = sections ? json_object_get(sections, "currency") : NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !valid_currency(json_string_value(v))) {
            cfail(&l, "currency", "'currency' must be a 3-letter currency code such as EUR");
            return NULL;
        }
        cur = json_string_value(v);
    }
    if (!(l.c = pol_cands_new(cur, err)))
        return NULL;
    v = sections ? json_object_get(sections, "exchange_rates") : NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            cfail(&l, "exchange_rates", "'exchange_rates' must be a list");
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            char p[64];
            const char *from, *to;
            int64_t rate, date;
            pjoin(p, sizeof(p), "exchange_rates.%zu", i);
            if (!json_is_object(e)) {
                cfail(&l, p, "%s: an exchange rate must be a mapping", where(p, w, sizeof(w)));
                goto fail;
            }
            if (ccheck_keys(&l, e, p, rkeys) < 0 || get_currency(&l, e, p, "from", &from) != 0 ||
                get_currency(&l, e, p, "to", &to) != 0 ||
                get_decimal(&l, e, p, "rate", &rate) < 0 ||
                get_time(&l, e, p, "date", &date) != 0) {
                if (err && err->code == NPH_E_OK)
                    cfail(&l, p, "%s: needs from, to, rate and date", where(p, w, sizeof(w)));
                goto fail;
            }
            if (rate <= 0 || strcmp(from, to) == 0) {
                cfail(&l, p, "%s: 'rate' must be positive and 'from' differ from 'to'",
                      where(p, w, sizeof(w)));
                goto fail;
            }
            if (pol_cands_add_rate(l.c, from, to, rate, date, err) < 0)
                goto fail;
        }
    }
    v = sections ? json_object_get(sections, "sizes") : NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            cfail(&l, "sizes", "'sizes' must be a list");
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            char p[64];
            const char *sn;
            int64_t vc, ram, disk = 0, gpus = 0;
            pjoin(p, sizeof(p), "sizes.%zu", i);
            if (!json_is_object(e)) {
                cfail(&l, p, "%s: a size must be a mapping", where(p, w, sizeof(w)));
                goto fail;
            }
            if (ccheck_keys(&l, e, p, skeys) < 0 || get_name(&l, e, p, "name", 1, &sn) < 0 ||
                get_count(&l, e, p, "vcpus", 1, &vc) < 0 ||
                get_count(&l, e, p, "ram_mb", 1, &ram) < 0 ||
                get_count(&l, e, p, "disk_gb", 0, &disk) < 0 ||
                get_count(&l, e, p, "gpus", 0, &gpus) < 0)
                goto fail;
            if (pol_cands_find_size(l.c, sn)) {
                cfail(&l, p, "%s: size '%s' is declared twice", where(p, w, sizeof(w)), sn);
                goto fail;
            }
            if (pol_cands_add_size(l.c, sn, vc, ram, disk, gpus, err) < 0)
                goto fail;
        }
    }
    v = sections ? json_object_get(sections, "clouds") : NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            cfail(&l, "clouds", "'clouds' must be a list");
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            char p[64];
            pjoin(p, sizeof(p), "clouds.%zu", i);
            if (load_cloud(&l, json_array_get(v, i), p) < 0)
                goto fail;
        }
    }
    return l.c;
fail:
    pol_cands_free(l.c);
    return NULL;
}
