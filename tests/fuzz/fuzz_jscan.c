/*
 * fuzz_jscan.c - libFuzzer target for the JSON pull scanner: any bytes are walked (every string
 * decoded into a small buffer, cut at code points, every integer read) and skipped, and the
 * verdict must be jansson's: well-formed for one is well-formed for the other (jansson's own
 * limits on numbers and depth, and its reading of NUL bytes, aside). A disagreement aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nph_jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk one value, decoding what can be decoded; 0 when it was well-formed. */
static int walk(struct nph_jscan *s)
{
    char small[5];
    int64_t v;
    int r;
    switch (nph_jscan_peek(s)) {
    case NPH_J_OBJECT:
        if (nph_jscan_enter(s, NPH_J_OBJECT))
            return -1;
        while ((r = nph_jscan_member(s)) == 1)
            if (walk(s))
                return -1;
        return r;
    case NPH_J_ARRAY:
        if (nph_jscan_enter(s, NPH_J_ARRAY))
            return -1;
        while ((r = nph_jscan_element(s)) == 1)
            if (walk(s))
                return -1;
        return r;
    case NPH_J_STRING: {
        long n = nph_jscan_string(s, small, sizeof(small), 1);
        if (n >= 0 && (size_t)n != strlen(small))
            abort();
        return n < 0 ? -1 : 0;
    }
    case NPH_J_NUMBER: {
        struct nph_jscan save = *s;
        if (nph_jscan_int64(s, &v) == 0)
            return 0;
        *s = save; /* a fraction, an exponent or a big one: still a number */
        s->err = NULL;
        return nph_jscan_skip(s);
    }
    case NPH_J_BAD:
        return -1;
    default:
        return nph_jscan_skip(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nph_jscan s;
    json_error_t e;
    nph_jscan_init(&s, (const char *)data, size, 64);
    int walked = walk(&s) == 0 && nph_jscan_end(&s) == 0;
    nph_jscan_init(&s, (const char *)data, size, 64);
    int skipped = nph_jscan_skip(&s) == 0 && nph_jscan_end(&s) == 0;
    if (walked != skipped)
        abort();
    /* jansson reads a NUL byte outside a string as the end of the text; RFC 8259 does not */
    if (memchr(data, 0, size))
        return 0;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &e);
    int jok = j != NULL;
    json_decref(j);
    /* jansson's own limits: numbers it cannot hold, nesting past 2048 (ours is 64) */
    if (!jok && (strstr(e.text, "too big") || strstr(e.text, "overflow")))
        return 0;
    if (jok && !skipped && s.err && strcmp(s.err, "nested too deeply") == 0)
        return 0;
    if (jok != skipped)
        abort();
    return 0;
}
