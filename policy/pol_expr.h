/*
 * pol_expr.h - placement's condition language: parsed once into a compact node array,
 * evaluated without allocation.
 *
 *   expr   := or
 *   or     := and ('||' and)*
 *   and    := unary ('&&' unary)*
 *   unary  := '!' unary | cmp
 *   cmp    := term [ ('==' | '!=' | '<' | '<=' | '>' | '>=') term | 'in' '[' [lit (',' lit)*] ']' ]
 *   term   := '(' expr ')' | lit | path
 *   lit    := "string" | 'string' | number | true | false | null
 *   path   := request.a.b... | cloud.(name|kind|labels.K) | region.(name|labels.K)
 *           | offering.(name|vcpus|ram_mb|disk_gb|gpus|price_per_hour|labels.K)
 *
 * Values are a small tagged union: null, boolean, number, string. Numbers are exact decimals
 * held as int64 micro-units (at most 6 fraction digits), so money compares exactly and never
 * passes through floating point. A missing field is null. `==`/`!=` compare type and value
 * (a number never equals a string); the ordering operators are true only when both sides are
 * numbers or both are strings (bytewise), so any comparison with null is false. `&&`, `||` and
 * `!` treat boolean true as true and everything else (false, null, numbers, strings) as false.
 * `x in [a, b]` is `x == a || x == b`.
 *
 * Field paths are resolved when the expression is parsed: each becomes (scope, slot), an index
 * into a value vector that the caller fills once per request, cloud, region and offering (see
 * struct pol_env). Label keys and request paths are interned in a pol_symtab shared by all
 * expressions of a policy.
 */
#ifndef POL_EXPR_H
#define POL_EXPR_H

#include <stddef.h>
#include <stdint.h>

enum pol_vtype { POL_V_NULL = 0, POL_V_BOOL, POL_V_NUM, POL_V_STR };

/* A value. Strings are borrowed (not NUL-terminated necessarily; use len). */
struct pol_value {
    uint8_t type; /* enum pol_vtype */
    uint8_t b;    /* POL_V_BOOL */
    uint32_t len; /* POL_V_STR */
    union {
        int64_t num;     /* POL_V_NUM: micro-units */
        const char *str; /* POL_V_STR */
    };
};

/* Scopes of a field reference; each is a value vector in struct pol_env. */
enum pol_scope { POL_S_REQUEST = 0, POL_S_CLOUD, POL_S_REGION, POL_S_OFFERING, POL_S__COUNT };

/* Fixed slots at the start of each scope's vector; label slots follow. */
enum { POL_CLOUD_NAME = 0, POL_CLOUD_KIND, POL_CLOUD__FIXED };
enum { POL_REGION_NAME = 0, POL_REGION__FIXED };
enum {
    POL_OFF_NAME = 0,
    POL_OFF_VCPUS,
    POL_OFF_RAM_MB,
    POL_OFF_DISK_GB,
    POL_OFF_GPUS,
    POL_OFF_PRICE, /* price_per_hour in the configuration's currency, micro-units */
    POL_OFF__FIXED
};

/* Dependency bits of an expression: which scopes it reads. */
#define POL_DEP_REQUEST  (1u << POL_S_REQUEST)
#define POL_DEP_CLOUD    (1u << POL_S_CLOUD)
#define POL_DEP_REGION   (1u << POL_S_REGION)
#define POL_DEP_OFFERING (1u << POL_S_OFFERING)

/* Interned names: request paths ("project_labels.gdpr") and label keys per scope. The slot of
 * a label is the scope's fixed count + its index here; of a request path, its index. */
struct pol_symtab {
    char **names[POL_S__COUNT];
    uint32_t count[POL_S__COUNT];
    uint32_t cap[POL_S__COUNT];
};

void pol_symtab_init(struct pol_symtab *st);
void pol_symtab_fini(struct pol_symtab *st);
/* Number of slots of a scope's vector (fixed slots + labels, or request paths). */
uint32_t pol_symtab_slots(const struct pol_symtab *st, enum pol_scope s);
/* Name of a label slot (slot >= fixed) or request path; NULL for fixed slots. Borrowed. */
const char *pol_symtab_name(const struct pol_symtab *st, enum pol_scope s, uint32_t slot);

/* The value vectors an expression reads. Each is indexed by slot; borrowed. */
struct pol_env {
    const struct pol_value *v[POL_S__COUNT];
};

struct pol_expr;

#define POL_EXPR_MAX_LEN   4096 /* bytes of source */
#define POL_EXPR_MAX_DEPTH 64   /* nesting of (), ! and operators */
#define POL_EXPR_MAX_LIST  1024 /* elements of an `in` list */

/* Where and why parsing failed. col is 1-based, in bytes of the source. */
struct pol_expr_error {
    int col;
    char msg[256];
};

/* Parse src (NUL-terminated) into *out, interning names into st. Returns 0, -1 on a syntax or
 * type error (perr filled, st may have gained names, *out untouched) or -2 when out of memory.
 * The expression keeps a copy of src. */
int pol_expr_parse(const char *src, struct pol_symtab *st, struct pol_expr **out,
                   struct pol_expr_error *perr);
void pol_expr_free(struct pol_expr *e);

/* Evaluate. Never allocates; reads only the vectors of the scopes in pol_expr_deps(). */
void pol_expr_eval(const struct pol_expr *e, const struct pol_env *env, struct pol_value *out);
/* 1 when the expression evaluates to boolean true, else 0. */
int pol_expr_true(const struct pol_expr *e, const struct pol_env *env);

/* POL_DEP_* bits of the scopes the expression reads. */
unsigned pol_expr_deps(const struct pol_expr *e);
/* The source text (borrowed). */
const char *pol_expr_source(const struct pol_expr *e);
/* Source of the first conjunct (at the top-level && chain, under the outermost parentheses)
 * that is not true under env, for explanations; the whole source when the expression is not
 * a conjunction. Writes at most len bytes (NUL-terminated) to buf and returns buf. */
char *pol_expr_explain(const struct pol_expr *e, const struct pol_env *env, char *buf, size_t len);

/* Equality of two values (type and value). */
int pol_value_equal(const struct pol_value *a, const struct pol_value *b);
/* Value constructors. */
static inline struct pol_value pol_value_null(void)
{
    struct pol_value v = {0};
    return v;
}
static inline struct pol_value pol_value_num(int64_t micros)
{
    struct pol_value v = {0};
    v.type = POL_V_NUM;
    v.num = micros;
    return v;
}
static inline struct pol_value pol_value_bool(int b)
{
    struct pol_value v = {0};
    v.type = POL_V_BOOL;
    v.b = b ? 1 : 0;
    return v;
}
struct pol_value pol_value_str(const char *s);
/* Render a value as text (strings quoted) into buf. */
char *pol_value_format(const struct pol_value *v, char *buf, size_t len);

#endif
