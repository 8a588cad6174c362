/*
 * pol_expr.c - the condition language (see pol_expr.h): a recursive-descent parser over the
 * source bytes that emits a flat node array with resolved field slots and static types, and an
 * evaluator that walks it with short-circuiting and no allocation.
 */
#include "pol_expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol_money.h"

/* ---- symbol table -------------------------------------------------------------------------- */

static const uint32_t scope_fixed[POL_S__COUNT] = {0, POL_CLOUD__FIXED, POL_REGION__FIXED,
                                                   POL_OFF__FIXED};

void pol_symtab_init(struct pol_symtab *st)
{
    memset(st, 0, sizeof(*st));
}

void pol_symtab_fini(struct pol_symtab *st)
{
    if (!st)
        return;
    for (int s = 0; s < POL_S__COUNT; s++) {
        for (uint32_t i = 0; i < st->count[s]; i++)
            free(st->names[s][i]);
        free(st->names[s]);
    }
    memset(st, 0, sizeof(*st));
}

uint32_t pol_symtab_slots(const struct pol_symtab *st, enum pol_scope s)
{
    return scope_fixed[s] + st->count[s];
}

const char *pol_symtab_name(const struct pol_symtab *st, enum pol_scope s, uint32_t slot)
{
    if (slot < scope_fixed[s] || slot - scope_fixed[s] >= st->count[s])
        return NULL;
    return st->names[s][slot - scope_fixed[s]];
}

/* Slot of name (len bytes) in scope s, interned on first use; -1 when out of memory. */
static int64_t symtab_intern(struct pol_symtab *st, enum pol_scope s, const char *name, size_t len)
{
    for (uint32_t i = 0; i < st->count[s]; i++)
        if (strlen(st->names[s][i]) == len && memcmp(st->names[s][i], name, len) == 0)
            return scope_fixed[s] + i;
    if (st->count[s] == st->cap[s]) {
        uint32_t cap = st->cap[s] ? st->cap[s] * 2 : 8;
        char **n = realloc(st->names[s], cap * sizeof(*n));
        if (!n)
            return -1;
        st->names[s] = n;
        st->cap[s] = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, name, len);
    copy[len] = '\0';
    st->names[s][st->count[s]] = copy;
    return scope_fixed[s] + st->count[s]++;
}

/* ---- values ---------------------------------------------------------------------------------- */

struct pol_value pol_value_str(const char *s)
{
    struct pol_value v = {0};
    v.type = POL_V_STR;
    v.str = s;
    v.len = (uint32_t)strlen(s);
    return v;
}

int pol_value_equal(const struct pol_value *a, const struct pol_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case POL_V_NULL:
        return 1;
    case POL_V_BOOL:
        return a->b == b->b;
    case POL_V_NUM:
        return a->num == b->num;
    default:
        return a->len == b->len && (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
    }
}

char *pol_value_format(const struct pol_value *v, char *buf, size_t len)
{
    char num[40];
    switch (v->type) {
    case POL_V_NULL:
        snprintf(buf, len, "null");
        break;
    case POL_V_BOOL:
        snprintf(buf, len, "%s", v->b ? "true" : "false");
        break;
    case POL_V_NUM: {
        pol_money_format(v->num, 6, num, sizeof(num));
        char *dot = strchr(num, '.');
        if (dot) {
            char *end = num + strlen(num) - 1;
            while (end > dot && *end == '0')
                *end-- = '\0';
            if (end == dot)
                *end = '\0';
        }
        snprintf(buf, len, "%s", num);
        break;
    }
    default:
        snprintf(buf, len, "\"%.*s\"", (int)v->len, v->str);
    }
    return buf;
}

/* ---- the compiled form ----------------------------------------------------------------------- */

enum op {
    OP_LIT,
    OP_FIELD,
    OP_NOT,
    OP_AND,
    OP_OR,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN
};

/* Static types, for checks at parse time. */
enum stype { ST_ANY, ST_BOOL, ST_NUM, ST_STR, ST_NULL };

struct node {
    uint8_t op;
    uint8_t scope; /* OP_FIELD */
    uint8_t stype;
    uint8_t pad;
    uint32_t a;          /* LIT: const; FIELD: slot; unary/binary: left child; IN: child */
    uint32_t b;          /* binary: right child; IN: first const */
    uint32_t n;          /* IN: number of consts */
    uint32_t start, end; /* source span [start, end) */
};

struct pol_expr {
    struct node *nodes;
    uint32_t nnodes, root;
    struct pol_value *consts;
    uint32_t nconsts;
    unsigned deps;
    char *src;  /* copy of the source */
    char *pool; /* unescaped string literals */
};

/* ---- parser ---------------------------------------------------------------------------------- */

enum tok {
    T_EOF,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_COMMA,
    T_NOT,
    T_AND,
    T_OR,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_STR,
    T_NUM,
    T_PATH,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_IN,
    T_BAD
};

struct parser {
    const char *src;
    size_t pos;
    struct pol_symtab *st;
    struct pol_expr *e;
    uint32_t ncap, ccap;
    size_t pool_used;
    int depth;
    int oom;
    struct pol_expr_error *perr;
    /* current token */
    enum tok t;
    size_t tstart, tend;
    int64_t tnum;
    const char *tstr; /* into pool, for T_STR */
    uint32_t tlen;
};

static int perror_at(struct parser *p, size_t at, const char *fmt, const char *arg)
{
    if (p->perr && p->perr->msg[0] == '\0') {
        p->perr->col = (int)at + 1;
        snprintf(p->perr->msg, sizeof(p->perr->msg), fmt, arg ? arg : "");
    }
    return -1;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '/';
}

static const char *tok_text(enum tok t)
{
    static const char *const names[] = {"the end",
                                        "'('",
                                        "')'",
                                        "'['",
                                        "']'",
                                        "','",
                                        "'!'",
                                        "'&&'",
                                        "'||'",
                                        "'=='",
                                        "'!='",
                                        "'<'",
                                        "'<='",
                                        "'>'",
                                        "'>='",
                                        "a string",
                                        "a number",
                                        "a field",
                                        "'true'",
                                        "'false'",
                                        "'null'",
                                        "'in'",
                                        "a bad character"};
    return names[t];
}

/* Scan a number at p->pos: -?digits(.digits)? with at most 6 fraction digits. */
static int lex_number(struct parser *p)
{
    const char *s = p->src + p->pos;
    size_t i = 0;
    char buf[48];
    if (s[i] == '-')
        i++;
    while (s[i] >= '0' && s[i] <= '9')
        i++;
    if (s[i] == '.') {
        i++;
        if (!(s[i] >= '0' && s[i] <= '9'))
            return perror_at(p, p->pos + i, "expected digits after '.'%s", NULL);
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (is_ident_char(s[i]) || s[i] == '.')
        return perror_at(p, p->pos + i, "malformed number%s", NULL);
    if (i >= sizeof(buf) || (memcpy(buf, s, i), buf[i] = '\0', pol_money_parse(buf, &p->tnum)))
        return perror_at(p, p->pos, "number out of range or with more than 6 fraction digits%s",
                         NULL);
    p->t = T_NUM;
    p->tend = p->pos + i;
    return 0;
}

static int lex_string(struct parser *p)
{
    char q = p->src[p->pos];
    size_t i = p->pos + 1;
    char *out = p->e->pool + p->pool_used;
    uint32_t n = 0;
    for (;;) {
        char c = p->src[i];
        if (c == '\0')
            return perror_at(p, p->pos, "unterminated string%s", NULL);
        if (c == q)
            break;
        if (c == '\\') {
            char d = p->src[i + 1];
            if (d != '\\' && d != '"' && d != '\'')
                return perror_at(p, i, "unknown escape in string (use \\\\, \\\" or \\')%s", NULL);
            c = d;
            i++;
        }
        out[n++] = c;
        i++;
    }
    out[n] = '\0';
    p->pool_used += n + 1;
    p->t = T_STR;
    p->tstr = out;
    p->tlen = n;
    p->tend = i + 1;
    return 0;
}

/* Read the next token into p->t. Returns 0 or -1 (perr set). */
static int lex(struct parser *p)
{
    const char *s = p->src;
    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
        p->pos++;
    p->tstart = p->pos;
    char c = s[p->pos], d = c ? s[p->pos + 1] : '\0';
    size_t w = 1;
    switch (c) {
    case '\0':
        p->t = T_EOF;
        w = 0;
        break;
    case '(':
        p->t = T_LPAREN;
        break;
    case ')':
        p->t = T_RPAREN;
        break;
    case '[':
        p->t = T_LBRACK;
        break;
    case ']':
        p->t = T_RBRACK;
        break;
    case ',':
        p->t = T_COMMA;
        break;
    case '!':
        p->t = d == '=' ? T_NE : T_NOT;
        w = d == '=' ? 2 : 1;
        break;
    case '=':
        if (d != '=')
            return perror_at(p, p->pos, "'=' is not an operator; did you mean '=='?%s", NULL);
        p->t = T_EQ;
        w = 2;
        break;
    case '<':
        p->t = d == '=' ? T_LE : T_LT;
        w = d == '=' ? 2 : 1;
        break;
    case '>':
        p->t = d == '=' ? T_GE : T_GT;
        w = d == '=' ? 2 : 1;
        break;
    case '&':
        if (d != '&')
            return perror_at(p, p->pos, "'&' is not an operator; did you mean '&&'?%s", NULL);
        p->t = T_AND;
        w = 2;
        break;
    case '|':
        if (d != '|')
            return perror_at(p, p->pos, "'|' is not an operator; did you mean '||'?%s", NULL);
        p->t = T_OR;
        w = 2;
        break;
    case '"':
    case '\'':
        if (lex_string(p))
            return -1;
        p->pos = p->tend;
        return 0;
    default:
        if ((c >= '0' && c <= '9') || (c == '-' && d >= '0' && d <= '9')) {
            if (lex_number(p))
                return -1;
            p->pos = p->tend;
            return 0;
        }
        if (is_ident_start(c)) {
            size_t i = p->pos;
            for (;;) {
                while (is_ident_char(s[i]))
                    i++;
                if (s[i] == '.' && is_ident_char(s[i + 1]))
                    i++;
                else
                    break;
            }
            size_t len = i - p->pos;
            const char *id = s + p->pos;
            p->t = T_PATH;
            if (len == 4 && !memcmp(id, "true", 4))
                p->t = T_TRUE;
            else if (len == 5 && !memcmp(id, "false", 5))
                p->t = T_FALSE;
            else if (len == 4 && !memcmp(id, "null", 4))
                p->t = T_NULL;
            else if (len == 2 && !memcmp(id, "in", 2))
                p->t = T_IN;
            p->tend = i;
            p->pos = i;
            return 0;
        }
        {
            char what[8];
            snprintf(what, sizeof(what), "%c", (c >= 32 && c < 127) ? c : '?');
            return perror_at(p, p->pos, "unexpected character '%s'", what);
        }
    }
    p->tend = p->pos + w;
    p->pos += w;
    return 0;
}

static int64_t add_node(struct parser *p, const struct node *n)
{
    struct pol_expr *e = p->e;
    if (e->nnodes == p->ncap) {
        uint32_t cap = p->ncap ? p->ncap * 2 : 16;
        struct node *nn = realloc(e->nodes, cap * sizeof(*nn));
        if (!nn) {
            p->oom = 1;
            return -1;
        }
        e->nodes = nn;
        p->ncap = cap;
    }
    e->nodes[e->nnodes] = *n;
    return e->nnodes++;
}

static int64_t add_const(struct parser *p, const struct pol_value *v)
{
    struct pol_expr *e = p->e;
    if (e->nconsts == p->ccap) {
        uint32_t cap = p->ccap ? p->ccap * 2 : 8;
        struct pol_value *nc = realloc(e->consts, cap * sizeof(*nc));
        if (!nc) {
            p->oom = 1;
            return -1;
        }
        e->consts = nc;
        p->ccap = cap;
    }
    e->consts[e->nconsts] = *v;
    return e->nconsts++;
}

static const char *stype_name(int t)
{
    static const char *const names[] = {"a value", "a condition", "a number", "a string", "null"};
    return names[t];
}

/* The current token as a literal value; 1 if it is one, 0 if not. */
static int token_literal(struct parser *p, struct pol_value *v, uint8_t *stype)
{
    memset(v, 0, sizeof(*v));
    switch (p->t) {
    case T_STR:
        v->type = POL_V_STR;
        v->str = p->tstr;
        v->len = p->tlen;
        *stype = ST_STR;
        return 1;
    case T_NUM:
        v->type = POL_V_NUM;
        v->num = p->tnum;
        *stype = ST_NUM;
        return 1;
    case T_TRUE:
    case T_FALSE:
        v->type = POL_V_BOOL;
        v->b = p->t == T_TRUE;
        *stype = ST_BOOL;
        return 1;
    case T_NULL:
        v->type = POL_V_NULL;
        *stype = ST_NULL;
        return 1;
    default:
        return 0;
    }
}

/* Resolve a field path (the current T_PATH token) into a FIELD node. */
static int64_t parse_path(struct parser *p)
{
    const char *s = p->src + p->tstart;
    size_t len = p->tend - p->tstart;
    struct node n = {0};
    n.op = OP_FIELD;
    n.stype = ST_ANY;
    n.start = (uint32_t)p->tstart;
    n.end = (uint32_t)p->tend;
    char path[96];
    snprintf(path, sizeof(path), "%.*s", (int)(len > 80 ? 80 : len), s);
#define IS(lit) (rest_len == sizeof(lit) - 1 && memcmp(rest, lit, sizeof(lit) - 1) == 0)
    const char *dot = memchr(s, '.', len);
    if (!dot)
        return perror_at(p, p->tstart,
                         "unknown name '%s' (fields start with request., cloud., region. or "
                         "offering.; strings are quoted)",
                         path);
    size_t root_len = (size_t)(dot - s);
    const char *rest = dot + 1;
    size_t rest_len = len - root_len - 1;
    int64_t slot = -2;
    int label = rest_len > 7 && memcmp(rest, "labels.", 7) == 0;
    if (root_len == 7 && !memcmp(s, "request", 7)) {
        n.scope = POL_S_REQUEST;
        slot = symtab_intern(p->st, POL_S_REQUEST, rest, rest_len);
        if (IS("vcpus") || IS("ram_mb") || IS("disk_gb") || IS("gpus"))
            n.stype = ST_NUM;
    } else if (root_len == 5 && !memcmp(s, "cloud", 5)) {
        n.scope = POL_S_CLOUD;
        if (IS("name") || IS("kind")) {
            slot = IS("name") ? POL_CLOUD_NAME : POL_CLOUD_KIND;
            n.stype = ST_STR;
        } else if (label) {
            slot = symtab_intern(p->st, POL_S_CLOUD, rest + 7, rest_len - 7);
        }
    } else if (root_len == 6 && !memcmp(s, "region", 6)) {
        n.scope = POL_S_REGION;
        if (IS("name")) {
            slot = POL_REGION_NAME;
            n.stype = ST_STR;
        } else if (label) {
            slot = symtab_intern(p->st, POL_S_REGION, rest + 7, rest_len - 7);
        }
    } else if (root_len == 8 && !memcmp(s, "offering", 8)) {
        n.scope = POL_S_OFFERING;
        n.stype = ST_NUM;
        if (IS("name")) {
            slot = POL_OFF_NAME;
            n.stype = ST_STR;
        } else if (IS("vcpus")) {
            slot = POL_OFF_VCPUS;
        } else if (IS("ram_mb")) {
            slot = POL_OFF_RAM_MB;
        } else if (IS("disk_gb")) {
            slot = POL_OFF_DISK_GB;
        } else if (IS("gpus")) {
            slot = POL_OFF_GPUS;
        } else if (IS("price_per_hour")) {
            slot = POL_OFF_PRICE;
        } else if (label) {
            n.stype = ST_ANY;
            slot = symtab_intern(p->st, POL_S_OFFERING, rest + 7, rest_len - 7);
        }
    } else {
        return perror_at(p, p->tstart,
                         "unknown field '%s' (fields start with request., cloud., region. or "
                         "offering.)",
                         path);
    }
#undef IS
    if (slot == -1) {
        p->oom = 1;
        return -1;
    }
    if (slot == -2)
        return perror_at(p, p->tstart,
                         "unknown field '%s' (cloud.name|kind|labels.K, region.name|labels.K, "
                         "offering.name|vcpus|ram_mb|disk_gb|gpus|price_per_hour|labels.K)",
                         path);
    n.a = (uint32_t)slot;
    p->e->deps |= 1u << n.scope;
    return add_node(p, &n);
}

static int64_t parse_or(struct parser *p);

static int64_t parse_term(struct parser *p)
{
    struct pol_value v;
    uint8_t st;
    if (p->t == T_LPAREN) {
        size_t open = p->tstart;
        if (lex(p))
            return -1;
        int64_t i = parse_or(p);
        if (i < 0)
            return -1;
        if (p->t != T_RPAREN) {
            char what[64];
            snprintf(what, sizeof(what), "%zu, got %s", open + 1, tok_text(p->t));
            return perror_at(p, p->tstart, "expected ')' to close the '(' at column %s", what);
        }
        /* The span of a parenthesised expression includes its parentheses. */
        p->e->nodes[i].start = (uint32_t)open;
        p->e->nodes[i].end = (uint32_t)p->tend;
        if (lex(p))
            return -1;
        return i;
    }
    if (p->t == T_PATH) {
        int64_t i = parse_path(p);
        if (i < 0 || lex(p))
            return -1;
        return i;
    }
    if (token_literal(p, &v, &st)) {
        struct node n = {0};
        int64_t c = add_const(p, &v);
        if (c < 0)
            return -1;
        n.op = OP_LIT;
        n.stype = st;
        n.a = (uint32_t)c;
        n.start = (uint32_t)p->tstart;
        n.end = (uint32_t)p->tend;
        if (lex(p))
            return -1;
        return add_node(p, &n);
    }
    return perror_at(p, p->tstart, "expected a value, a field or '(', got %s", tok_text(p->t));
}

static int types_clash(uint8_t a, uint8_t b)
{
    return a != ST_ANY && b != ST_ANY && a != ST_NULL && b != ST_NULL && a != b;
}

static int64_t parse_cmp(struct parser *p)
{
    int64_t l = parse_term(p);
    if (l < 0)
        return -1;
    enum tok t = p->t;
    size_t opat = p->tstart;
    struct node n = {0};
    n.start = p->e->nodes[l].start;
    n.stype = ST_BOOL;
    n.a = (uint32_t)l;
    if (t == T_IN) {
        uint8_t lt = p->e->nodes[l].stype;
        if (lex(p))
            return -1;
        if (p->t != T_LBRACK)
            return perror_at(p, p->tstart, "expected '[' after 'in', got %s", tok_text(p->t));
        if (lex(p))
            return -1;
        n.op = OP_IN;
        n.b = p->e->nconsts;
        while (p->t != T_RBRACK) {
            struct pol_value v;
            uint8_t st;
            if (n.n && p->t != T_COMMA)
                return perror_at(p, p->tstart, "expected ',' or ']' in the list, got %s",
                                 tok_text(p->t));
            if (n.n && lex(p))
                return -1;
            if (!token_literal(p, &v, &st))
                return perror_at(p, p->tstart, "expected a literal in the list, got %s",
                                 tok_text(p->t));
            if (types_clash(lt, st))
                return perror_at(p, p->tstart, "list element is %s, never equal to the left side",
                                 stype_name(st));
            if (n.n >= POL_EXPR_MAX_LIST)
                return perror_at(p, p->tstart, "list longer than 1024 elements%s", NULL);
            if (add_const(p, &v) < 0)
                return -1;
            n.n++;
            if (lex(p))
                return -1;
        }
        n.end = (uint32_t)p->tend;
        if (lex(p))
            return -1;
        return add_node(p, &n);
    }
    switch (t) {
    case T_EQ:
        n.op = OP_EQ;
        break;
    case T_NE:
        n.op = OP_NE;
        break;
    case T_LT:
        n.op = OP_LT;
        break;
    case T_LE:
        n.op = OP_LE;
        break;
    case T_GT:
        n.op = OP_GT;
        break;
    case T_GE:
        n.op = OP_GE;
        break;
    default:
        return l;
    }
    if (lex(p))
        return -1;
    int64_t r = parse_term(p);
    if (r < 0)
        return -1;
    uint8_t lt = p->e->nodes[l].stype, rt = p->e->nodes[r].stype;
    if (n.op >= OP_LT && (lt == ST_BOOL || lt == ST_NULL || rt == ST_BOOL || rt == ST_NULL))
        return perror_at(p, opat, "'%s' orders numbers or strings, not conditions or null",
                         tok_text(t));
    if (types_clash(lt, rt)) {
        if (p->perr && !p->perr->msg[0]) {
            p->perr->col = (int)opat + 1;
            snprintf(p->perr->msg, sizeof(p->perr->msg), "comparing %s with %s is always %s",
                     stype_name(lt), stype_name(rt), n.op == OP_NE ? "true" : "false");
        }
        return -1;
    }
    if (p->t >= T_EQ && p->t <= T_GE)
        return perror_at(p, p->tstart, "comparisons do not chain; use && between them%s", NULL);
    n.b = (uint32_t)r;
    n.end = p->e->nodes[r].end;
    return add_node(p, &n);
}

static int check_cond(struct parser *p, int64_t i, const char *op)
{
    uint8_t t = p->e->nodes[i].stype;
    if (t != ST_ANY && t != ST_BOOL) {
        if (p->perr && !p->perr->msg[0]) {
            p->perr->col = (int)p->e->nodes[i].start + 1;
            snprintf(p->perr->msg, sizeof(p->perr->msg), "%s needs a condition, got %s", op,
                     stype_name(t));
        }
        return -1;
    }
    return 0;
}

static int64_t parse_unary(struct parser *p)
{
    if (p->t == T_NOT) {
        struct node n = {0};
        n.start = (uint32_t)p->tstart;
        if (++p->depth > POL_EXPR_MAX_DEPTH)
            return perror_at(p, p->tstart, "expression nested too deeply%s", NULL);
        if (lex(p))
            return -1;
        int64_t c = parse_unary(p);
        p->depth--;
        if (c < 0 || check_cond(p, c, "'!'"))
            return -1;
        n.op = OP_NOT;
        n.stype = ST_BOOL;
        n.a = (uint32_t)c;
        n.end = p->e->nodes[c].end;
        return add_node(p, &n);
    }
    return parse_cmp(p);
}

static int64_t parse_and(struct parser *p)
{
    int64_t l = parse_unary(p);
    while (l >= 0 && p->t == T_AND) {
        struct node n = {0};
        if (check_cond(p, l, "'&&'") || lex(p))
            return -1;
        int64_t r = parse_unary(p);
        if (r < 0 || check_cond(p, r, "'&&'"))
            return -1;
        n.op = OP_AND;
        n.stype = ST_BOOL;
        n.a = (uint32_t)l;
        n.b = (uint32_t)r;
        n.start = p->e->nodes[l].start;
        n.end = p->e->nodes[r].end;
        l = add_node(p, &n);
    }
    return l;
}

static int64_t parse_or(struct parser *p)
{
    if (++p->depth > POL_EXPR_MAX_DEPTH)
        return perror_at(p, p->tstart, "expression nested too deeply%s", NULL);
    int64_t l = parse_and(p);
    while (l >= 0 && p->t == T_OR) {
        struct node n = {0};
        if (check_cond(p, l, "'||'") || lex(p))
            return -1;
        int64_t r = parse_and(p);
        if (r < 0 || check_cond(p, r, "'||'"))
            return -1;
        n.op = OP_OR;
        n.stype = ST_BOOL;
        n.a = (uint32_t)l;
        n.b = (uint32_t)r;
        n.start = p->e->nodes[l].start;
        n.end = p->e->nodes[r].end;
        l = add_node(p, &n);
    }
    p->depth--;
    return l;
}

void pol_expr_free(struct pol_expr *e)
{
    if (!e)
        return;
    free(e->nodes);
    free(e->consts);
    free(e->src);
    free(e->pool);
    free(e);
}

int pol_expr_parse(const char *src, struct pol_symtab *st, struct pol_expr **out,
                   struct pol_expr_error *perr)
{
    struct parser p;
    size_t len = strlen(src);
    if (perr) {
        perr->col = 0;
        perr->msg[0] = '\0';
    }
    memset(&p, 0, sizeof(p));
    p.perr = perr;
    p.src = src;
    p.st = st;
    if (len > POL_EXPR_MAX_LEN) {
        perror_at(&p, POL_EXPR_MAX_LEN, "expression longer than 4096 bytes%s", NULL);
        return -1;
    }
    if (!(p.e = calloc(1, sizeof(*p.e))) || !(p.e->src = malloc(len + 1)) ||
        !(p.e->pool = malloc(len + 1))) {
        pol_expr_free(p.e);
        return -2;
    }
    memcpy(p.e->src, src, len + 1);
    int64_t root = -1;
    if (lex(&p) == 0) {
        if (p.t == T_EOF)
            perror_at(&p, 0, "empty expression%s", NULL);
        else
            root = parse_or(&p);
    }
    if (root >= 0 && p.t != T_EOF) {
        perror_at(&p, p.tstart, "unexpected %s after the expression", tok_text(p.t));
        root = -1;
    }
    if (root >= 0 && !p.oom) {
        uint8_t t = p.e->nodes[root].stype;
        if (t != ST_ANY && t != ST_BOOL) {
            perror_at(&p, 0, "the expression is %s, not a condition", stype_name(t));
            root = -1;
        }
    }
    if (p.oom || root < 0) {
        pol_expr_free(p.e);
        return p.oom ? -2 : -1;
    }
    p.e->root = (uint32_t)root;
    *out = p.e;
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

static int truth(const struct pol_expr *e, uint32_t i, const struct pol_env *env);

/* The value of node i: a pointer into the constants or the env, or tmp filled. */
static const struct pol_value *operand(const struct pol_expr *e, uint32_t i,
                                       const struct pol_env *env, struct pol_value *tmp)
{
    const struct node *n = &e->nodes[i];
    if (n->op == OP_FIELD)
        return &env->v[n->scope][n->a];
    if (n->op == OP_LIT)
        return &e->consts[n->a];
    *tmp = pol_value_bool(truth(e, i, env));
    return tmp;
}

/* <0, 0, >0 for ordered operands; 2 (unordered) otherwise. */
static int order(const struct pol_value *a, const struct pol_value *b, int *cmp)
{
    if (a->type == POL_V_NUM && b->type == POL_V_NUM) {
        *cmp = (a->num > b->num) - (a->num < b->num);
        return 1;
    }
    if (a->type == POL_V_STR && b->type == POL_V_STR) {
        uint32_t m = a->len < b->len ? a->len : b->len;
        int c = m ? memcmp(a->str, b->str, m) : 0;
        *cmp = c ? (c > 0) - (c < 0) : (a->len > b->len) - (a->len < b->len);
        return 1;
    }
    return 0;
}

static int truth(const struct pol_expr *e, uint32_t i, const struct pol_env *env)
{
    const struct node *n = &e->nodes[i];
    struct pol_value ta, tb;
    const struct pol_value *a, *b;
    int c;
    switch (n->op) {
    case OP_AND:
        return truth(e, n->a, env) && truth(e, n->b, env);
    case OP_OR:
        return truth(e, n->a, env) || truth(e, n->b, env);
    case OP_NOT:
        return !truth(e, n->a, env);
    case OP_LIT:
    case OP_FIELD:
        a = operand(e, i, env, &ta);
        return a->type == POL_V_BOOL && a->b;
    case OP_IN:
        a = operand(e, n->a, env, &ta);
        for (uint32_t k = 0; k < n->n; k++)
            if (pol_value_equal(a, &e->consts[n->b + k]))
                return 1;
        return 0;
    default:
        break;
    }
    a = operand(e, n->a, env, &ta);
    b = operand(e, n->b, env, &tb);
    switch (n->op) {
    case OP_EQ:
        return pol_value_equal(a, b);
    case OP_NE:
        return !pol_value_equal(a, b);
    case OP_LT:
        return order(a, b, &c) && c < 0;
    case OP_LE:
        return order(a, b, &c) && c <= 0;
    case OP_GT:
        return order(a, b, &c) && c > 0;
    default:
        return order(a, b, &c) && c >= 0;
    }
}

void pol_expr_eval(const struct pol_expr *e, const struct pol_env *env, struct pol_value *out)
{
    struct pol_value tmp;
    *out = *operand(e, e->root, env, &tmp);
}

int pol_expr_true(const struct pol_expr *e, const struct pol_env *env)
{
    return truth(e, e->root, env);
}

unsigned pol_expr_deps(const struct pol_expr *e)
{
    return e->deps;
}

const char *pol_expr_source(const struct pol_expr *e)
{
    return e->src;
}

/* First false conjunct under node i, or -1 when none. */
static int64_t first_false(const struct pol_expr *e, uint32_t i, const struct pol_env *env)
{
    const struct node *n = &e->nodes[i];
    if (n->op == OP_AND) {
        int64_t l = first_false(e, n->a, env);
        return l >= 0 ? l : first_false(e, n->b, env);
    }
    return truth(e, i, env) ? -1 : (int64_t)i;
}

char *pol_expr_explain(const struct pol_expr *e, const struct pol_env *env, char *buf, size_t len)
{
    int64_t i = e->nodes[e->root].op == OP_AND ? first_false(e, e->root, env) : -1;
    if (i < 0) {
        snprintf(buf, len, "%s", e->src);
        return buf;
    }
    const struct node *n = &e->nodes[i];
    snprintf(buf, len, "%.*s", (int)(n->end - n->start), e->src + n->start);
    return buf;
}
