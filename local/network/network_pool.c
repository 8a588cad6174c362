/*
 * network_pool.c - subnet pools (Neutron's subnet_allocation extension): a set of prefixes of
 * one IP version from which subnets take their CIDRs, by prefix length (the first free aligned
 * block, lowest address first) or by a CIDR that must lie inside the pool.
 *
 * A pool's prefixes are kept compacted (duplicates and contained prefixes dropped, adjacent
 * halves merged), sorted by address, as Neutron shows them. Bounds: min_prefixlen (default 8
 * for IPv4, 64 for IPv6) <= default_prefixlen (default: min) <= max_prefixlen (default 32 /
 * 128). Allocation runs in the subnet's transaction; writers of a pool are serialised (SQLite:
 * the service's writer lock; PostgreSQL: an advisory lock on the pool), so two subnets never
 * get overlapping blocks. A pool with subnets cannot be deleted; its prefixes may only grow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network_internal.h"

#define POOL_PREFIXES_MAX 64

static const char *const pool_attrs[] = {"name",
                                         "description",
                                         "prefixes",
                                         "min_prefixlen",
                                         "max_prefixlen",
                                         "default_prefixlen",
                                         "is_default",
                                         "shared",
                                         "address_scope_id",
                                         "default_quota",
                                         "tenant_id",
                                         "project_id",
                                         NULL};

static int bounds_error(struct nph_error *err, const char *type, int64_t len, const char *base,
                        int64_t base_len)
{
    return LN_SET(err, NPH_E_INVALID, "IllegalSubnetPoolPrefixBounds",
                  "Illegal prefix bounds: %s=%lld, %s=%lld.", type, (long long)len, base,
                  (long long)base_len);
}

static int max_bits(int version)
{
    return version == 4 ? 32 : 128;
}

/* a + 2^(maxbits - prefix): the next block of that size; 1 when it wrapped past the top. */
static int next_block(struct ln_addr *a, int prefix)
{
    int bit = max_bits(a->version) - prefix; /* the bit to add, from the right */
    int n = a->version == 4 ? 4 : 16;
    int byte = n - 1 - bit / 8;
    unsigned carry = 1u << (bit % 8);
    if (bit >= max_bits(a->version))
        return 1;
    for (int i = byte; i >= 0 && carry; i--) {
        unsigned v = a->b[i] + carry;
        a->b[i] = (uint8_t)v;
        carry = v >> 8;
    }
    return carry != 0;
}

static int cidr_cmp(const void *x, const void *y)
{
    const struct ln_cidr *a = x, *b = y;
    int r = ln_addr_cmp(&a->addr, &b->addr);
    return r ? r : (a->prefix > b->prefix) - (a->prefix < b->prefix);
}

/* Drop prefixes contained in others, merge sibling halves until nothing changes, sort. */
static size_t compact(struct ln_cidr *v, size_t n)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        qsort(v, n, sizeof(*v), cidr_cmp);
        for (size_t i = 0; i + 1 < n; i++) {
            struct ln_cidr *a = &v[i], *b = &v[i + 1];
            if (ln_cidr_overlap(a, b)) { /* sorted: a starts first, so a holds b */
                memmove(b, b + 1, (n - i - 2) * sizeof(*v));
                n--;
                changed = 1;
                break;
            }
            if (a->prefix == b->prefix && a->prefix > 0) {
                /* a is the lower half of a/(len-1) when a's address has no host bits there;
                 * b the upper half when it starts right after a */
                struct ln_cidr parent = {a->addr, a->prefix - 1};
                struct ln_addr after = a->addr;
                if (ln_cidr_contains(&parent, &a->addr) && !next_block(&after, a->prefix) &&
                    ln_addr_cmp(&after, &b->addr) == 0) {
                    a->prefix--;
                    memmove(b, b + 1, (n - i - 2) * sizeof(*v));
                    n--;
                    changed = 1;
                    break;
                }
            }
        }
    }
    return n;
}

/* prefixes -> compacted CIDRs; the IP version into *version. */
static int read_prefixes(const json_t *v, struct ln_cidr *out, size_t *n, int *version,
                         struct nph_error *err)
{
    size_t i, k = 0;
    json_t *p;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return LN_SET(err, NPH_E_INVALID, "EmptySubnetPoolPrefixList",
                      "Empty subnet pool prefix list.");
    if (json_array_size(v) > POOL_PREFIXES_MAX)
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for prefixes. Reason: more than %d prefixes.",
                      POOL_PREFIXES_MAX);
    *version = 0;
    json_array_foreach(v, i, p)
    {
        if (!json_is_string(p) || ln_cidr_parse(json_string_value(p), 1, &out[k], NULL))
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Invalid input for prefixes. Reason: '%.64s' is not a valid IP subnet.",
                          json_is_string(p) ? json_string_value(p) : "value");
        if (*version && out[k].addr.version != *version)
            return LN_SET(err, NPH_E_INVALID, "PrefixVersionMismatch",
                          "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.");
        *version = out[k].addr.version;
        k++;
    }
    *n = compact(out, k);
    return 0;
}

static json_t *prefixes_json(const struct ln_cidr *v, size_t n)
{
    json_t *a = json_array();
    char buf[64];
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(ln_cidr_format(&v[i], buf, sizeof(buf))));
    return a;
}

/* An integer attribute (Neutron converts "24" too): 1 absent, 0 read, -1 bad. */
static int get_len(const json_t *attrs, const char *key, int64_t *out, struct nph_error *err)
{
    json_t *v = json_object_get(attrs, key);
    char *end;
    if (!v || json_is_null(v))
        return 1;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && *json_string_value(v)) {
        long long x = strtoll(json_string_value(v), &end, 10);
        if (!*end) {
            *out = x;
            return 0;
        }
    }
    return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                  "Invalid input for %s. Reason: '%.32s' is not an integer.", key,
                  json_is_string(v) ? json_string_value(v) : "value");
}

/* Read and check the bounds against doc's current ones (create: the version's defaults). */
static int read_bounds(json_t *doc, const json_t *attrs, int version, int create,
                       struct nph_error *err)
{
    int64_t min = create ? (version == 4 ? 8 : 64)
                         : json_integer_value(json_object_get(doc, "min_prefixlen"));
    int64_t max =
        create ? max_bits(version) : json_integer_value(json_object_get(doc, "max_prefixlen"));
    int64_t def = -1;
    int rmin, rmax, rdef;
    if ((rmin = get_len(attrs, "min_prefixlen", &min, err)) < 0 ||
        (rmax = get_len(attrs, "max_prefixlen", &max, err)) < 0 ||
        (rdef = get_len(attrs, "default_prefixlen", &def, err)) < 0)
        return -1;
    if (rdef)
        def = create || rmin == 0 ? min
                                  : json_integer_value(json_object_get(doc, "default_prefixlen"));
    if (min < 0)
        return LN_SET(err, NPH_E_INVALID, "UnsupportedMinSubnetPoolPrefix",
                      "Prefix '%lld' not supported in IPv%d pool.", (long long)min, version);
    if (min > max)
        return bounds_error(err, "min_prefixlen", min, "max_prefixlen", max);
    if (max > max_bits(version))
        return bounds_error(err, "max_prefixlen", max, "ip_version_max", max_bits(version));
    if (def < min)
        return bounds_error(err, "default_prefixlen", def, "min_prefixlen", min);
    if (def > max)
        return bounds_error(err, "default_prefixlen", def, "max_prefixlen", max);
    char wild[64];
    snprintf(wild, sizeof(wild), "%s", version == 4 ? "0.0.0.0" : "::");
    const struct {
        const char *key;
        int64_t len;
    } b[] = {{"min", min}, {"max", max}, {"default", def}};
    for (size_t i = 0; i < 3; i++) {
        char k1[32], k2[32], val[80];
        snprintf(k1, sizeof(k1), "%s_prefixlen", b[i].key);
        snprintf(k2, sizeof(k2), "%s_prefix", b[i].key);
        snprintf(val, sizeof(val), "%s/%lld", wild, (long long)b[i].len);
        json_object_set_new(doc, k1, json_integer(b[i].len));
        json_object_set_new(doc, k2, json_string(val));
    }
    return 0;
}

/* is_default / shared: admin only; one default pool per IP version. */
static int read_flags(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                      const json_t *attrs, int version, const char *action, struct nph_error *err)
{
    int b, rc;
    const char *flags[] = {"is_default", "shared"};
    for (size_t i = 0; i < 2; i++) {
        if ((rc = ln_get_bool(attrs, flags[i], &b, err)) < 0)
            return -1;
        if (rc)
            continue;
        if (!c->is_admin && b != json_is_true(json_object_get(doc, flags[i])))
            return LN_SET(err, NPH_E_FORBIDDEN, "PolicyNotAuthorized",
                          "(rule:%s_subnetpool:%s) is disallowed by policy", action, flags[i]);
        json_object_set_new(doc, flags[i], json_boolean(b));
    }
    if (json_is_true(json_object_get(doc, "is_default"))) {
        json_t *all = ln_children(db, LN_SUBNETPOOL, NULL, err), *p;
        size_t i;
        if (!all)
            return -1;
        json_array_foreach(all, i, p)
        {
            if (json_is_true(json_object_get(p, "is_default")) &&
                json_integer_value(json_object_get(p, "ip_version")) == version &&
                !json_equal(json_object_get(p, "id"), json_object_get(doc, "id"))) {
                json_decref(all);
                return LN_SET(err, NPH_E_INVALID, "InvalidInput",
                              "Invalid input for operation: A default subnetpool for this IP "
                              "family has already been set. Only one default may exist per IP "
                              "family.");
            }
        }
        json_decref(all);
    }
    return 0;
}

static int read_scope(const json_t *attrs, struct nph_error *err)
{
    json_t *v = json_object_get(attrs, "address_scope_id");
    if (v && !json_is_null(v))
        return LN_SET(err, NPH_E_NOT_FOUND, "AddressScopeNotFound",
                      "Address scope %.64s could not be found.",
                      json_is_string(v) ? json_string_value(v) : "");
    v = json_object_get(attrs, "default_quota");
    if (v && !json_is_null(v))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for default_quota: per-pool quotas are not supported here.");
    return 0;
}

json_t *ln_pool_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err)
{
    struct ln_cidr pre[POOL_PREFIXES_MAX];
    size_t n = 0;
    int version = 0;
    json_t *doc = NULL;
    if (ln_check_attrs(attrs, pool_attrs, err))
        return NULL;
    if (!json_object_get(attrs, "prefixes")) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Failed to parse request. Required attribute 'prefixes' not specified");
        return NULL;
    }
    if (read_prefixes(json_object_get(attrs, "prefixes"), pre, &n, &version, err) ||
        read_scope(attrs, err) || !(doc = ln_doc_new(c, attrs, err)))
        return NULL;
    json_object_set_new(doc, "ip_version", json_integer(version));
    json_object_set_new(doc, "prefixes", prefixes_json(pre, n));
    json_object_set_new(doc, "is_default", json_false());
    json_object_set_new(doc, "shared", json_false());
    json_object_set_new(doc, "address_scope_id", json_null());
    json_object_set_new(doc, "default_quota", json_null());
    if (read_bounds(doc, attrs, version, 1, err) ||
        read_flags(db, c, doc, attrs, version, "create", err) || ln_copy_common(doc, attrs, err) ||
        ln_row_insert(db, LN_SUBNETPOOL, doc, NULL, json_is_true(json_object_get(doc, "shared")),
                      err)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int ln_pool_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                   const json_t *attrs, struct nph_error *err)
{
    static const char *const ro[] = {"tenant_id", "project_id", "ip_version", NULL};
    int version = (int)json_integer_value(json_object_get(doc, "ip_version"));
    json_t *v;
    if (ln_check_attrs(attrs, pool_attrs, err))
        return -1;
    for (const char *const *r = ro; *r; r++)
        if (json_object_get(attrs, *r))
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Cannot update read-only attribute %s", *r);
    if ((v = json_object_get(attrs, "prefixes"))) {
        struct ln_cidr pre[POOL_PREFIXES_MAX], now;
        size_t n = 0, i;
        int nv = 0;
        json_t *p;
        if (read_prefixes(v, pre, &n, &nv, err))
            return -1;
        if (nv != version)
            return LN_SET(err, NPH_E_INVALID, "PrefixVersionMismatch",
                          "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.");
        /* prefixes only grow: every current one must lie inside the new set */
        json_array_foreach(json_object_get(doc, "prefixes"), i, p)
        {
            int inside = 0;
            if (ln_cidr_parse(json_string_value(p), 1, &now, NULL))
                continue;
            for (size_t k = 0; k < n && !inside; k++)
                inside = pre[k].prefix <= now.prefix && ln_cidr_contains(&pre[k], &now.addr);
            if (!inside)
                return LN_SET(err, NPH_E_INVALID, "IllegalSubnetPoolPrefixUpdate",
                              "Illegal update to prefixes: Existing prefixes must be a subset of "
                              "the new prefixes.");
        }
        json_object_set_new(doc, "prefixes", prefixes_json(pre, n));
    }
    if (read_scope(attrs, err) || read_bounds(doc, attrs, version, 0, err) ||
        read_flags(db, c, doc, attrs, version, "update", err) || ln_copy_common(doc, attrs, err))
        return -1;
    return ln_row_update(db, doc, json_is_true(json_object_get(doc, "shared")), err);
}

/* The pool's subnets (any network). */
static json_t *pool_subnets(struct nph_db *db, const char *pool_id, struct nph_error *err)
{
    json_t *all = ln_children(db, LN_SUBNET, NULL, err), *out, *s;
    size_t i;
    if (!all)
        return NULL;
    out = json_array();
    json_array_foreach(all, i, s)
    {
        const char *p = json_string_value(json_object_get(s, "subnetpool_id"));
        if (p && strcmp(p, pool_id) == 0)
            json_array_append(out, s);
    }
    json_decref(all);
    return out;
}

int ln_pool_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *subs = pool_subnets(db, id, err);
    size_t n;
    if (!subs)
        return -1;
    n = json_array_size(subs);
    json_decref(subs);
    if (n)
        return LN_SET(err, NPH_E_CONFLICT, "SubnetPoolInUse",
                      "Unable to complete operation on subnet pool %s. %zu subnet(s) are "
                      "allocated from it.",
                      id, n);
    return ln_row_delete(db, id, err);
}

/* The first free block of length `len` inside the pool's prefixes, lowest address first. */
static int first_free(const json_t *prefixes, const struct ln_cidr *used, size_t nused, int len,
                      struct ln_cidr *out)
{
    size_t i;
    json_t *p;
    json_array_foreach(prefixes, i, p)
    {
        struct ln_cidr pre, cand;
        if (ln_cidr_parse(json_string_value(p), 1, &pre, NULL) || pre.prefix > len)
            continue;
        cand.addr = pre.addr;
        cand.prefix = len;
        while (ln_cidr_contains(&pre, &cand.addr)) {
            const struct ln_cidr *hit = NULL;
            for (size_t k = 0; k < nused && !hit; k++)
                if (ln_cidr_overlap(&used[k], &cand))
                    hit = &used[k];
            if (!hit) {
                *out = cand;
                return 0;
            }
            /* step past whichever is larger: the block or the subnet in the way */
            struct ln_addr next = hit->prefix < len ? hit->addr : cand.addr;
            int step = hit->prefix < len ? hit->prefix : len;
            if (next_block(&next, step))
                break; /* past the top of the address space */
            cand.addr = next;
        }
    }
    return -1;
}

int ln_pool_subnet_cidr(struct nph_db *db, const struct local_network_caller *c,
                        const json_t *attrs, int version, char cidr_out[64],
                        char pool_id_out[NPH_UUID_LEN + 1], struct nph_error *err)
{
    json_t *pid = json_object_get(attrs, "subnetpool_id"), *pool = NULL, *subs = NULL, *s;
    int use_default = 0, rc = -1;
    int64_t len = -1;
    size_t i, nused = 0;
    struct ln_cidr *used = NULL, want;
    if (ln_get_bool(attrs, "use_default_subnetpool", &use_default, err) < 0)
        return -1;
    if (pid && !json_is_null(pid) && !json_is_string(pid))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for subnetpool_id. Reason: it is not a string.");
    if (use_default && pid && !json_is_null(pid))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Bad subnets request: subnetpool_id and use_default_subnetpool cannot both "
                      "be specified.");
    if (use_default) {
        json_t *all = ln_children(db, LN_SUBNETPOOL, NULL, err), *p;
        if (!all)
            return -1;
        json_array_foreach(all, i, p)
        {
            if (!pool && json_is_true(json_object_get(p, "is_default")) &&
                json_integer_value(json_object_get(p, "ip_version")) == version)
                pool = json_incref(p);
        }
        json_decref(all);
        if (!pool)
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Bad subnets request: No default subnetpool found for IPv%d.", version);
    } else if (!pid || json_is_null(pid)) {
        return 0;
    } else if (!(pool = ln_fetch(db, c, LN_SUBNETPOOL, json_string_value(pid), err))) {
        return -1;
    }
    const char *id = json_string_value(json_object_get(pool, "id"));
    if (json_integer_value(json_object_get(pool, "ip_version")) != version) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Bad subnets request: Cannot allocate IPv%d subnet from IPv%d subnet pool.", version,
               (int)json_integer_value(json_object_get(pool, "ip_version")));
        goto done;
    }
    /* advisory lock class of subnet pools (IPAM is 1313953105) */
    if (ln_lock(db, "1313953107", id, err) || !(subs = pool_subnets(db, id, err)))
        goto done;
    used = calloc(json_array_size(subs) + 1, sizeof(*used));
    if (!used) {
        nph_error_nomem(err);
        goto done;
    }
    json_array_foreach(subs, i, s)
    {
        if (ln_cidr_parse(json_string_value(json_object_get(s, "cidr")), 1, &used[nused], NULL) ==
            0)
            nused++;
    }
    int64_t min = json_integer_value(json_object_get(pool, "min_prefixlen"));
    int64_t max = json_integer_value(json_object_get(pool, "max_prefixlen"));
    json_t *cv = json_object_get(attrs, "cidr");
    if (cv && !json_is_null(cv)) {
        /* a specific CIDR: inside one of the pool's prefixes and free in the pool */
        int inside = 0;
        json_t *p;
        if (ln_cidr_parse(json_string_value(cv), 0, &want, err))
            goto done;
        len = want.prefix;
        json_array_foreach(json_object_get(pool, "prefixes"), i, p)
        {
            struct ln_cidr pre;
            if (ln_cidr_parse(json_string_value(p), 1, &pre, NULL) == 0 &&
                pre.prefix <= want.prefix && ln_cidr_contains(&pre, &want.addr))
                inside = 1;
        }
        for (size_t k = 0; inside && k < nused; k++)
            inside = !ln_cidr_overlap(&used[k], &want);
        if (!inside) {
            LN_SET(err, NPH_E_CONFLICT, "SubnetAllocationError",
                   "Failed to allocate subnet: Cannot allocate requested subnet from the "
                   "available set of prefixes.");
            goto done;
        }
    } else if (get_len(attrs, "prefixlen", &len, err) < 0) {
        goto done;
    } else if (len < 0) {
        len = json_integer_value(json_object_get(pool, "default_prefixlen"));
    }
    if (len > max) {
        LN_SET(err, NPH_E_INVALID, "MaxPrefixSubnetAllocationError",
               "Unable to allocate subnet with prefix length %lld, maximum allowed prefix is "
               "%lld.",
               (long long)len, (long long)max);
        goto done;
    }
    if (len < min) {
        LN_SET(err, NPH_E_INVALID, "MinPrefixSubnetAllocationError",
               "Unable to allocate subnet with prefix length %lld, minimum allowed prefix is "
               "%lld.",
               (long long)len, (long long)min);
        goto done;
    }
    if (!(cv && !json_is_null(cv)) &&
        first_free(json_object_get(pool, "prefixes"), used, nused, (int)len, &want)) {
        LN_SET(
            err, NPH_E_CONFLICT, "SubnetAllocationError",
            "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /%lld.",
            (long long)len);
        goto done;
    }
    ln_cidr_format(&want, cidr_out, 64);
    snprintf(pool_id_out, NPH_UUID_LEN + 1, "%s", id);
    rc = 1;
done:
    free(used);
    json_decref(subs);
    json_decref(pool);
    return rc;
}
