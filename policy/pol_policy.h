/*
 * pol_policy.h - policy documents: placement rules and budgets, validated strictly and compiled
 * once.
 *
 *   policies:
 *     - name: gdpr-stays-in-eu                           # required, unique
 *       description: "..."                               # optional, free text
 *       when: 'request.project_labels.gdpr == "true"'    # request.* only; default true
 *       require: 'region.labels.jurisdiction == "EU"'    # hard filter
 *       weigh: { cost: 1.0, headroom: 0.3, spread: 0.2, preference: 0.5 }   # each >= 0
 *       prefer: { expr: 'cloud.name == "home"', bonus: 2 }  # or a list of such mappings
 *   budgets:
 *     - project: acme                                    # or "*" for every project
 *       monthly: { amount: "5000.00", currency: EUR }
 *       on_exceed: deny                                  # or warn
 *       thresholds: [50, 80, 100]                        # alert percentages (the default)
 *       name: acme-compute                               # optional, names its alerts
 *
 * Every rule needs at least one of require, weigh and prefer. Unknown keys, wrong types and bad
 * expressions are errors naming the file, the line of the offending key, the rule and, for an
 * expression, the column inside it: "policy.yaml:7: rule 'gdpr': require: column 27: ...".
 */
#ifndef POL_POLICY_H
#define POL_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nph_error.h"
#include "pol_expr.h"

enum pol_weigher { POL_W_COST = 0, POL_W_HEADROOM, POL_W_SPREAD, POL_W_PREFERENCE, POL_W__COUNT };

/* "cost", "headroom", "spread", "preference". */
const char *pol_weigher_name(enum pol_weigher w);

struct pol_prefer {
    struct pol_expr *expr;
    double bonus; /* default 1; may be negative (a penalty) */
};

struct pol_rule {
    char *name;
    int line;              /* of the rule's first key */
    struct pol_expr *when; /* NULL = always */
    struct pol_expr *require;
    struct pol_prefer *prefer;
    size_t nprefer;
    int has_weigh;
    double weigh[POL_W__COUNT];
};

#define POL_BUDGET_MAX_THRESHOLDS 8

struct pol_budget {
    char *project;  /* "*" = every project */
    char *name;     /* `name`, or NULL: alerts then key the budget by its project */
    int64_t amount; /* micro-units of currency */
    char currency[8];
    int deny; /* on_exceed: deny (1) or warn (0) */
    int line;
    /* percentages of the amount that raise an alert, ascending, distinct, 1..1000; default
     * 50, 80, 100 */
    int thresholds[POL_BUDGET_MAX_THRESHOLDS];
    size_t nthresholds;
};

struct pol_policy;
/* Whether budget bu covers project (its own id, or "*" for every project). */
int pol_budget_applies(const struct pol_budget *bu, const char *project);
/* Whether any budget of p covers project: only then does placement need its spend. */
int pol_policy_has_budget(const struct pol_policy *p, const char *project);

struct pol_policy {
    char *name; /* the file name, for messages */
    struct pol_rule *rules;
    size_t nrules;
    struct pol_budget *budgets;
    size_t nbudgets;
    struct pol_symtab sym; /* names all expressions of this policy read */
};

/* Parse, validate and compile a YAML policy document. `name` appears in messages. Returns a
 * new policy (free with pol_policy_free) or NULL with err (NPH_E_INVALID, or NPH_E_NOMEM). */
struct pol_policy *pol_policy_load(const char *name, const char *buf, size_t len,
                                   struct nph_error *err);
/* The same from a JSON document; `lines` (a pol_yaml_lines map, may be NULL) adds lines to
 * the messages. doc is borrowed. */
struct pol_policy *pol_policy_from_json(const char *name, const json_t *doc, const json_t *lines,
                                        struct nph_error *err);
void pol_policy_free(struct pol_policy *p);

#endif
