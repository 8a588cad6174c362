/*
 * fuzz_expr.c - libFuzzer target for placement's expression parser and evaluator: any bytes
 * are parsed as an expression; one that parses is evaluated (and explained) against value
 * vectors holding every kind of value, so the evaluator's slot indices are checked by ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pol_expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    struct pol_symtab st;
    struct pol_expr *e = NULL;
    struct pol_expr_error pe;
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    pol_symtab_init(&st);
    if (pol_expr_parse(src, &st, &e, &pe) == 0) {
        struct pol_value *vec[POL_S__COUNT];
        struct pol_env env;
        struct pol_value v;
        char buf[256];
        for (int s = 0; s < POL_S__COUNT; s++) {
            uint32_t n = pol_symtab_slots(&st, (enum pol_scope)s);
            vec[s] = malloc((n ? n : 1) * sizeof(struct pol_value));
            for (uint32_t i = 0; vec[s] && i < n; i++) {
                switch ((i + (uint32_t)s) % 4) {
                case 0:
                    vec[s][i] = pol_value_null();
                    break;
                case 1:
                    vec[s][i] = pol_value_bool((int)(i & 1));
                    break;
                case 2:
                    vec[s][i] = pol_value_num((int64_t)i * 1000000);
                    break;
                default:
                    vec[s][i] = pol_value_str("EU");
                }
            }
            env.v[s] = vec[s];
        }
        if (vec[0] && vec[1] && vec[2] && vec[3]) {
            pol_expr_eval(e, &env, &v);
            pol_value_format(&v, buf, sizeof(buf));
            (void)pol_expr_true(e, &env);
            pol_expr_explain(e, &env, buf, sizeof(buf));
        }
        for (int s = 0; s < POL_S__COUNT; s++)
            free(vec[s]);
        pol_expr_free(e);
    }
    pol_symtab_fini(&st);
    free(src);
    return 0;
}
