/*
 * pol_policy.c - loading policy documents (see pol_policy.h): YAML through nph_yaml_to_json,
 * then a strict walk over the JSON with a line map for messages, compiling every expression
 * into the policy's shared symbol table.
 */
#include "pol_policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_config.h"
#include "pol_money.h"
#include "pol_yaml.h"

#define RULE_NAME_MAX 128
#define MAX_RULES     4096
#define MAX_BUDGETS   4096
#define MAX_PREFER    256
#define MAX_WEIGHT    1e6

static const char *const weigher_names[POL_W__COUNT] = {"cost", "headroom", "spread", "preference"};

static const char *const weigh_keys[] = {"cost", "headroom", "spread", "preference", NULL};

const char *pol_weigher_name(enum pol_weigher w)
{
    return (unsigned)w < POL_W__COUNT ? weigher_names[w] : "?";
}

struct load {
    const char *name;
    const json_t *lines;
    struct pol_policy *p;
    struct nph_error *err;
};

/* "name:line: <message>" (line 0 leaves it out). Returns -1. */
static int fail(struct load *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct load *l, int line, const char *fmt, ...)
{
    char msg[NPH_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        return nph_error_set(l->err, NPH_E_INVALID, "%s:%d: %s", l->name, line, msg);
    return nph_error_set(l->err, NPH_E_INVALID, "%s: %s", l->name, msg);
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Fail on a key of obj outside allowed; `path` locates obj in the line map. */
static int check_keys(struct load *l, const json_t *obj, const char *path, const char *what,
                      const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= strcmp(allowed[i], k) == 0;
        if (!ok) {
            char list[160] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         allowed[i]);
            return fail(l, pol_yaml_line(l->lines, "%s%s%s", path, *path ? "." : "", k),
                        "%s: unknown key '%.64s' (expected %s)", what, k, list);
        }
    }
    return 0;
}

static int number_of(const json_t *v, double *out)
{
    if (json_is_integer(v))
        *out = (double)json_integer_value(v);
    else if (json_is_real(v))
        *out = json_real_value(v);
    else
        return -1;
    return isfinite(*out) ? 0 : -1;
}

static int compile(struct load *l, const json_t *v, const char *path, const char *what,
                   const char *key, struct pol_expr **out)
{
    struct pol_expr_error pe;
    int line = pol_yaml_line(l->lines, "%s", path);
    if (!json_is_string(v))
        return fail(l, line, "%s: '%s' must be a string holding an expression, got %s", what, key,
                    json_kind(v));
    const char *src = json_string_value(v);
    if (strlen(src) != json_string_length(v))
        return fail(l, line, "%s: '%s' contains a NUL character", what, key);
    int rc = pol_expr_parse(src, &l->p->sym, out, &pe);
    if (rc == -2)
        return nph_error_nomem(l->err);
    if (rc < 0)
        return fail(l, line, "%s: '%s': column %d: %s", what, key, pe.col, pe.msg);
    return 0;
}

static int load_prefer(struct load *l, struct pol_rule *r, const json_t *v, const char *path,
                       const char *what)
{
    static const char *const keys[] = {"expr", "bonus", NULL};
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    int line = pol_yaml_line(l->lines, "%s", path);
    if (!json_is_array(v) && !json_is_object(v))
        return fail(l, line,
                    "%s: 'prefer' must be a mapping {expr, bonus} or a list of them, got %s", what,
                    json_kind(v));
    if (n == 0 || n > MAX_PREFER)
        return fail(l, line, "%s: 'prefer' needs 1 to %d entries", what, MAX_PREFER);
    if (!(r->prefer = calloc(n, sizeof(*r->prefer))))
        return nph_error_nomem(l->err);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        char ep[256];
        if (json_is_array(v))
            snprintf(ep, sizeof(ep), "%s.%zu", path, i);
        else
            snprintf(ep, sizeof(ep), "%s", path);
        if (!json_is_object(e))
            return fail(l, pol_yaml_line(l->lines, "%s", ep),
                        "%s: a 'prefer' entry must be a mapping {expr, bonus}, got %s", what,
                        json_kind(e));
        if (check_keys(l, e, ep, what, keys) < 0)
            return -1;
        const json_t *x = json_object_get(e, "expr"), *b = json_object_get(e, "bonus");
        char xp[300];
        snprintf(xp, sizeof(xp), "%s.expr", ep);
        if (!x)
            return fail(l, pol_yaml_line(l->lines, "%s", ep), "%s: 'prefer' needs 'expr'", what);
        if (compile(l, x, xp, what, "prefer.expr", &r->prefer[i].expr) < 0)
            return -1;
        r->nprefer = i + 1;
        r->prefer[i].bonus = 1.0;
        if (b && (number_of(b, &r->prefer[i].bonus) < 0 || fabs(r->prefer[i].bonus) > MAX_WEIGHT))
            return fail(l, pol_yaml_line(l->lines, "%s.bonus", ep),
                        "%s: 'prefer.bonus' must be a number between -1e6 and 1e6", what);
    }
    return 0;
}

static int load_rule(struct load *l, const json_t *e, size_t i)
{
    static const char *const keys[] = {"name",  "description", "when", "require",
                                       "weigh", "prefer",      NULL};
    struct pol_rule *r = &l->p->rules[i];
    char path[64], what[RULE_NAME_MAX + 16], kp[96];
    const json_t *v;
    snprintf(path, sizeof(path), "policies.%zu", i);
    r->line = pol_yaml_line(l->lines, "%s", path);
    if (!json_is_object(e))
        return fail(l, r->line, "policies[%zu]: a rule must be a mapping, got %s", i, json_kind(e));
    v = json_object_get(e, "name");
    if (!v)
        return fail(l, r->line, "policies[%zu]: a rule needs a 'name'", i);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > RULE_NAME_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(l, pol_yaml_line(l->lines, "%s.name", path),
                    "policies[%zu]: 'name' must be a non-empty string of at most %d bytes", i,
                    RULE_NAME_MAX);
    if (!(r->name = strdup(json_string_value(v))))
        return nph_error_nomem(l->err);
    snprintf(what, sizeof(what), "rule '%s'", r->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(l->p->rules[j].name, r->name) == 0)
            return fail(l, pol_yaml_line(l->lines, "%s.name", path),
                        "%s: the name is used twice (first at line %d)", what, l->p->rules[j].line);
    if (check_keys(l, e, path, what, keys) < 0)
        return -1;
    if ((v = json_object_get(e, "description")) && !json_is_string(v))
        return fail(l, pol_yaml_line(l->lines, "%s.description", path),
                    "%s: 'description' must be a string", what);
    if ((v = json_object_get(e, "when"))) {
        snprintf(kp, sizeof(kp), "%s.when", path);
        if (compile(l, v, kp, what, "when", &r->when) < 0)
            return -1;
        if (pol_expr_deps(r->when) & ~POL_DEP_REQUEST)
            return fail(l, pol_yaml_line(l->lines, "%s", kp),
                        "%s: 'when' may read request.* only (it decides whether the rule applies "
                        "to a request; filter candidates with 'require')",
                        what);
    }
    if ((v = json_object_get(e, "require"))) {
        snprintf(kp, sizeof(kp), "%s.require", path);
        if (compile(l, v, kp, what, "require", &r->require) < 0)
            return -1;
    }
    if ((v = json_object_get(e, "weigh"))) {
        const char *k;
        json_t *w;
        snprintf(kp, sizeof(kp), "%s.weigh", path);
        if (!json_is_object(v))
            return fail(l, pol_yaml_line(l->lines, "%s", kp),
                        "%s: 'weigh' must be a mapping of weigher to weight, got %s", what,
                        json_kind(v));
        if (check_keys(l, v, kp, what, weigh_keys) < 0)
            return -1;
        json_object_foreach((json_t *)v, k, w)
        {
            double d;
            int wi = 0;
            while (strcmp(weigher_names[wi], k) != 0)
                wi++;
            if (number_of(w, &d) < 0 || d < 0 || d > MAX_WEIGHT)
                return fail(l, pol_yaml_line(l->lines, "%s.%s", kp, k),
                            "%s: 'weigh.%s' must be a number from 0 to 1e6, got %s", what, k,
                            json_kind(w));
            r->weigh[wi] = d;
        }
        r->has_weigh = 1;
    }
    if ((v = json_object_get(e, "prefer"))) {
        snprintf(kp, sizeof(kp), "%s.prefer", path);
        if (load_prefer(l, r, v, kp, what) < 0)
            return -1;
    }
    if (!r->require && !r->has_weigh && !r->nprefer)
        return fail(l, r->line, "%s: a rule needs 'require', 'weigh' or 'prefer'", what);
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

static int load_budget(struct load *l, const json_t *e, size_t i)
{
    static const char *const keys[] = {"project",    "monthly", "on_exceed",
                                       "thresholds", "name",    NULL};
    static const char *const mkeys[] = {"amount", "currency", NULL};
    struct pol_budget *b = &l->p->budgets[i];
    char path[64], what[64], mp[80];
    const json_t *v, *m;
    snprintf(path, sizeof(path), "budgets.%zu", i);
    snprintf(what, sizeof(what), "budgets[%zu]", i);
    b->line = pol_yaml_line(l->lines, "%s", path);
    if (!json_is_object(e))
        return fail(l, b->line, "%s: a budget must be a mapping, got %s", what, json_kind(e));
    if (check_keys(l, e, path, what, keys) < 0)
        return -1;
    v = json_object_get(e, "project");
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(l, v ? pol_yaml_line(l->lines, "%s.project", path) : b->line,
                    "%s: 'project' must be a non-empty string (a project name or \"*\")", what);
    if (!(b->project = strdup(json_string_value(v))))
        return nph_error_nomem(l->err);
    snprintf(mp, sizeof(mp), "%s.monthly", path);
    m = json_object_get(e, "monthly");
    if (!json_is_object(m))
        return fail(l, m ? pol_yaml_line(l->lines, "%s", mp) : b->line,
                    "%s: 'monthly' must be a mapping {amount, currency}", what);
    if (check_keys(l, m, mp, what, mkeys) < 0)
        return -1;
    v = json_object_get(m, "amount");
    int aline = v ? pol_yaml_line(l->lines, "%s.amount", mp) : pol_yaml_line(l->lines, "%s", mp);
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= INT64_MAX / POL_MICRO)
        b->amount = json_integer_value(v) * POL_MICRO;
    else if (!json_is_string(v) || pol_money_parse(json_string_value(v), &b->amount) < 0 ||
             b->amount < 0)
        return fail(l, aline,
                    "%s: 'monthly.amount' must be a non-negative decimal string such as "
                    "\"5000.00\" (at most 6 fraction digits; quote it)",
                    what);
    v = json_object_get(m, "currency");
    if (!json_is_string(v) || !valid_currency(json_string_value(v)))
        return fail(l, v ? pol_yaml_line(l->lines, "%s.currency", mp) : aline,
                    "%s: 'monthly.currency' must be a 3-letter currency code such as EUR", what);
    snprintf(b->currency, sizeof(b->currency), "%s", json_string_value(v));
    b->deny = 1;
    if ((v = json_object_get(e, "on_exceed"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "deny") != 0 && strcmp(s, "warn") != 0)
            return fail(l, pol_yaml_line(l->lines, "%s.on_exceed", path),
                        "%s: 'on_exceed' must be deny or warn", what);
        b->deny = strcmp(s, "deny") == 0;
    }
    if ((v = json_object_get(e, "name"))) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64 ||
            strlen(json_string_value(v)) != json_string_length(v))
            return fail(l, pol_yaml_line(l->lines, "%s.name", path),
                        "%s: 'name' must be a non-empty string of at most 64 bytes", what);
        if (!(b->name = strdup(json_string_value(v))))
            return nph_error_nomem(l->err);
    }
    static const int dflt[] = {50, 80, 100};
    b->nthresholds = 3;
    memcpy(b->thresholds, dflt, sizeof(dflt));
    if ((v = json_object_get(e, "thresholds"))) {
        int tl = pol_yaml_line(l->lines, "%s.thresholds", path);
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0 || n > POL_BUDGET_MAX_THRESHOLDS)
            return fail(l, tl, "%s: 'thresholds' must be a list of 1 to %d percentages", what,
                        POL_BUDGET_MAX_THRESHOLDS);
        for (size_t k = 0; k < n; k++) {
            const json_t *t = json_array_get(v, k);
            json_int_t pc = json_is_integer(t) ? json_integer_value(t) : -1;
            if (pc < 1 || pc > 1000 || (k > 0 && pc <= b->thresholds[k - 1]))
                return fail(l, tl,
                            "%s: 'thresholds' must be ascending whole percentages from 1 to "
                            "1000 (thresholds[%zu])",
                            what, k);
            b->thresholds[k] = (int)pc;
        }
        b->nthresholds = n;
    }
    return 0;
}

void pol_policy_free(struct pol_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        struct pol_rule *r = &p->rules[i];
        free(r->name);
        pol_expr_free(r->when);
        pol_expr_free(r->require);
        for (size_t j = 0; j < r->nprefer; j++)
            pol_expr_free(r->prefer[j].expr);
        free(r->prefer);
    }
    free(p->rules);
    for (size_t i = 0; i < p->nbudgets; i++) {
        free(p->budgets[i].project);
        free(p->budgets[i].name);
    }
    free(p->budgets);
    pol_symtab_fini(&p->sym);
    free(p->name);
    free(p);
}

struct pol_policy *pol_policy_from_json(const char *name, const json_t *doc, const json_t *lines,
                                        struct nph_error *err)
{
    static const char *const keys[] = {"policies", "budgets", NULL};
    struct load l = {name ? name : "<policy>", lines, NULL, err};
    const json_t *rules, *budgets;
    if (!(l.p = calloc(1, sizeof(*l.p))) || !(l.p->name = strdup(l.name))) {
        free(l.p);
        nph_error_nomem(err);
        return NULL;
    }
    pol_symtab_init(&l.p->sym);
    if (json_is_null(doc) || !doc)
        return l.p;
    if (!json_is_object(doc)) {
        fail(&l, 1, "a policy document is a mapping with 'policies' and 'budgets', got %s",
             json_kind(doc));
        goto fail;
    }
    if (check_keys(&l, doc, "", "policy document", keys) < 0)
        goto fail;
    rules = json_object_get(doc, "policies");
    if (rules && !json_is_null(rules)) {
        if (!json_is_array(rules) || json_array_size(rules) > MAX_RULES) {
            fail(&l, pol_yaml_line(lines, "policies"), "'policies' must be a list of rules");
            goto fail;
        }
        size_t n = json_array_size(rules);
        if (n && !(l.p->rules = calloc(n, sizeof(*l.p->rules)))) {
            nph_error_nomem(err);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            l.p->nrules = i + 1;
            if (load_rule(&l, json_array_get(rules, i), i) < 0)
                goto fail;
        }
    }
    budgets = json_object_get(doc, "budgets");
    if (budgets && !json_is_null(budgets)) {
        if (!json_is_array(budgets) || json_array_size(budgets) > MAX_BUDGETS) {
            fail(&l, pol_yaml_line(lines, "budgets"), "'budgets' must be a list of budgets");
            goto fail;
        }
        size_t n = json_array_size(budgets);
        if (n && !(l.p->budgets = calloc(n, sizeof(*l.p->budgets)))) {
            nph_error_nomem(err);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            l.p->nbudgets = i + 1;
            if (load_budget(&l, json_array_get(budgets, i), i) < 0)
                goto fail;
        }
    }
    return l.p;
fail:
    pol_policy_free(l.p);
    return NULL;
}

struct pol_policy *pol_policy_load(const char *name, const char *buf, size_t len,
                                   struct nph_error *err)
{
    json_t *doc, *lines;
    struct pol_policy *p;
    if (!name)
        name = "<policy>";
    if (!(doc = nph_yaml_to_json(name, buf, len, err)))
        return NULL;
    lines = pol_yaml_lines(buf, len);
    p = pol_policy_from_json(name, doc, lines, err);
    json_decref(lines);
    json_decref(doc);
    return p;
}

int pol_budget_applies(const struct pol_budget *bu, const char *project)
{
    return strcmp(bu->project, "*") == 0 || (project && strcmp(bu->project, project) == 0);
}

int pol_policy_has_budget(const struct pol_policy *p, const char *project)
{
    for (size_t b = 0; b < p->nbudgets; b++)
        if (pol_budget_applies(&p->budgets[b], project))
            return 1;
    return 0;
}
