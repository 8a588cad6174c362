/*
 * network_net.c - networks (shared or per project, external, admin state, MTU) and subnets
 * (IPv4/IPv6 CIDRs, gateway, allocation pools, DNS servers, host routes, DHCP, IPv6 modes),
 * validated the way Neutron validates them, with Neutron's messages. Overlapping subnets on one
 * network are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network_internal.h"

static int net_shared_flag(const json_t *doc)
{
    return json_is_true(json_object_get(doc, "shared")) ||
           json_is_true(json_object_get(doc, "router:external"));
}

static const char *const network_attrs[] = {"name",
                                            "description",
                                            "admin_state_up",
                                            "mtu",
                                            "shared",
                                            "router:external",
                                            "tenant_id",
                                            "project_id",
                                            "port_security_enabled",
                                            "availability_zone_hints",
                                            "provider:network_type",
                                            "provider:physical_network",
                                            "provider:segmentation_id",
                                            "dns_domain",
                                            "is_default",
                                            "qos_policy_id",
                                            NULL};

static int network_apply(json_t *doc, const json_t *attrs, const struct local_network_caller *c,
                         struct nph_error *err)
{
    json_t *mtu = json_object_get(attrs, "mtu");
    int b, rc;
    if (ln_copy_common(doc, attrs, err))
        return -1;
    if (mtu) {
        /* Neutron converts numeric strings ("1400", as the client sends it) */
        char *end = NULL;
        long long n = json_is_integer(mtu)  ? json_integer_value(mtu)
                      : json_is_string(mtu) ? strtoll(json_string_value(mtu), &end, 10)
                                            : -1;
        if ((end && (*end || !*json_string_value(mtu))) || n < 68 || n > 9216)
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Invalid input for mtu. Reason: the MTU must be an integer between 68 "
                          "and 9216.");
        json_object_set_new(doc, "mtu", json_integer(n));
    }
    if ((rc = ln_get_bool(attrs, "shared", &b, err)) < 0)
        return -1;
    if (rc == 0) {
        if (!c->is_admin && b != json_is_true(json_object_get(doc, "shared")))
            return LN_SET(err, NPH_E_FORBIDDEN, "PolicyNotAuthorized",
                          "(rule:create_network:shared) is disallowed by policy");
        json_object_set_new(doc, "shared", json_boolean(b));
    }
    if ((rc = ln_get_bool(attrs, "router:external", &b, err)) < 0)
        return -1;
    if (rc == 0) {
        if (!c->is_admin && b != json_is_true(json_object_get(doc, "router:external")))
            return LN_SET(err, NPH_E_FORBIDDEN, "PolicyNotAuthorized",
                          "(rule:create_network:router:external) is disallowed by policy");
        json_object_set_new(doc, "router:external", json_boolean(b));
    }
    if ((rc = ln_get_bool(attrs, "port_security_enabled", &b, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "port_security_enabled", json_boolean(b));
    if (json_is_array(json_object_get(attrs, "availability_zone_hints")))
        json_object_set(doc, "availability_zone_hints",
                        json_object_get(attrs, "availability_zone_hints"));
    return 0;
}

json_t *ln_network_create(struct nph_db *db, const struct local_network_caller *c,
                          const json_t *attrs, struct nph_error *err)
{
    json_t *doc;
    if (ln_check_attrs(attrs, network_attrs, err) || !(doc = ln_doc_new(c, attrs, err)))
        return NULL;
    json_object_set_new(doc, "admin_state_up", json_true());
    json_object_set_new(doc, "mtu", json_integer(1500));
    json_object_set_new(doc, "shared", json_false());
    json_object_set_new(doc, "router:external", json_false());
    json_object_set_new(doc, "status", json_string("ACTIVE"));
    json_object_set_new(doc, "port_security_enabled", json_true());
    json_object_set_new(doc, "availability_zone_hints", json_array());
    json_object_set_new(doc, "availability_zones", json_pack("[s]", "nova"));
    json_object_set_new(doc, "ipv4_address_scope", json_null());
    json_object_set_new(doc, "ipv6_address_scope", json_null());
    json_object_set_new(doc, "l2_adjacency", json_true());
    json_object_set_new(doc, "is_default", json_false());
    json_object_set_new(doc, "provider:network_type", json_string("local"));
    json_object_set_new(doc, "provider:physical_network", json_null());
    json_object_set_new(doc, "provider:segmentation_id", json_null());
    if (network_apply(doc, attrs, c, err) ||
        ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_NETWORK,
                       err) ||
        ln_row_insert(db, LN_NETWORK, doc, NULL, net_shared_flag(doc), err)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int ln_network_update(struct nph_db *db, json_t *doc, const json_t *attrs,
                      const struct local_network_caller *c, struct nph_error *err)
{
    static const char *const mutable[] = {"name",
                                          "description",
                                          "admin_state_up",
                                          "mtu",
                                          "shared",
                                          "router:external",
                                          "port_security_enabled",
                                          "dns_domain",
                                          "qos_policy_id",
                                          "is_default",
                                          NULL};
    int was_shared = json_is_true(json_object_get(doc, "shared"));
    if (ln_check_attrs(attrs, mutable, err) || network_apply(doc, attrs, c, err))
        return -1;
    if (was_shared != json_is_true(json_object_get(doc, "shared"))) {
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (was_shared) {
            /* Neutron refuses to unshare a network other projects have ports on */
            struct nph_stmt *st;
            int rc =
                nph_db_queryf(db, err, &st,
                              "SELECT 1 FROM net_resource WHERE kind = 'port' AND parent_id = ?"
                              " AND project_id <> ? AND project_id <> ''",
                              "ss", id, json_string_value(json_object_get(doc, "project_id")));
            if (rc < 0)
                return -1;
            if (rc == 1) {
                nph_stmt_done(st);
                return LN_SET(err, NPH_E_CONFLICT, "InvalidSharedSetting",
                              "Unable to reconfigure sharing settings for network %s. Multiple "
                              "tenants are using it.",
                              id);
            }
        }
        if (nph_db_execf(db, err,
                         "UPDATE net_resource SET shared = ? WHERE kind = 'subnet' AND"
                         " parent_id = ?",
                         "is", (int64_t)json_is_true(json_object_get(doc, "shared")), id) < 0)
            return -1;
    }
    return ln_row_update(db, doc, net_shared_flag(doc), err);
}

int ln_network_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *ports = ln_children(db, LN_PORT, id, err), *p;
    json_t *subs;
    size_t i;
    if (!ports)
        return -1;
    json_array_foreach(ports, i, p)
    {
        const char *owner = json_string_value(json_object_get(p, "device_owner"));
        if (!owner || strcmp(owner, "network:dhcp") != 0) {
            json_decref(ports);
            return LN_SET(err, NPH_E_CONFLICT, "NetworkInUse",
                          "Unable to complete operation on network %s. There are one or more "
                          "ports still in use on the network.",
                          id);
        }
    }
    json_array_foreach(ports, i, p) if (ln_port_remove(db, p, err))
    {
        json_decref(ports);
        return -1;
    }
    json_decref(ports);
    if (!(subs = ln_children(db, LN_SUBNET, id, err)))
        return -1;
    json_array_foreach(subs, i,
                       p) if (ln_row_delete(db, json_string_value(json_object_get(p, "id")), err))
    {
        json_decref(subs);
        return -1;
    }
    json_decref(subs);
    return ln_row_delete(db, id, err);
}

/* ---- subnets ------------------------------------------------------------------------------ */

static const char *const subnet_attrs[] = {
    "name",        "description",   "network_id",       "ip_version",
    "cidr",        "gateway_ip",    "allocation_pools", "dns_nameservers",
    "host_routes", "enable_dhcp",   "ipv6_ra_mode",     "ipv6_address_mode",
    "tenant_id",   "project_id",    "subnetpool_id",    "use_default_subnetpool",
    "prefixlen",   "service_types", "segment_id",       "use_default_subnetpool",
    NULL};

static int bad(struct nph_error *err, const char *fmt, const char *a, const char *b)
{
    return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest", fmt, a, b);
}

/* dns_nameservers: a list of distinct addresses. */
static int check_dns(const json_t *v, struct nph_error *err)
{
    size_t i, j;
    json_t *e;
    if (!json_is_array(v))
        return bad(err, "Invalid input for dns_nameservers. Reason: %s%s is not a list.", "", "");
    json_array_foreach(v, i, e)
    {
        struct ln_addr a;
        if (!json_is_string(e) || ln_addr_parse(json_string_value(e), &a, NULL))
            return bad(err,
                       "Invalid input for dns_nameservers. Reason: '%.64s'%s is not a valid "
                       "nameserver.",
                       json_is_string(e) ? json_string_value(e) : "value", "");
        for (j = 0; j < i; j++)
            if (json_equal(json_array_get(v, j), e))
                return bad(err,
                           "Invalid input for dns_nameservers. Reason: Duplicate nameserver "
                           "'%.64s'.%s",
                           json_string_value(e), "");
    }
    return 0;
}

static int check_routes(const json_t *v, int version, struct nph_error *err)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return bad(err, "Invalid input for host_routes. Reason: %s%s is not a list.", "", "");
    json_array_foreach(v, i, e)
    {
        struct ln_cidr d;
        struct ln_addr n;
        const char *ds = json_string_value(json_object_get(e, "destination"));
        const char *ns = json_string_value(json_object_get(e, "nexthop"));
        if (!json_is_object(e) || !ds || !ns || json_object_size(e) != 2 ||
            ln_cidr_parse(ds, 1, &d, NULL) || ln_addr_parse(ns, &n, NULL))
            return bad(err,
                       "Invalid input for host_routes. Reason: Validation of dictionary's "
                       "keys failed. Expected keys: {'destination', 'nexthop'}%s%s",
                       "", "");
        if (d.addr.version != version || n.version != version)
            return bad(err,
                       "Invalid input for operation: host_route %.64s has the wrong IP "
                       "version%s.",
                       ds, "");
    }
    return 0;
}

/* Parse and check the allocation pools against the CIDR and gateway; fills `out` with the
 * normalised pools. */
static int check_pools(const json_t *v, const struct ln_cidr *cidr, const struct ln_addr *gw,
                       json_t *out, struct nph_error *err)
{
    struct ln_addr s[64], e[64];
    size_t i, n;
    json_t *p;
    char b1[64], b2[64];
    if (!json_is_array(v))
        return bad(err, "Invalid input for allocation_pools. Reason: %s%s is not a list.", "", "");
    n = json_array_size(v);
    if (n > 64)
        return bad(err, "Invalid input for allocation_pools. Reason: too many pools%s%s.", "", "");
    json_array_foreach(v, i, p)
    {
        const char *ss = json_string_value(json_object_get(p, "start"));
        const char *es = json_string_value(json_object_get(p, "end"));
        if (!json_is_object(p) || !ss || !es || ln_addr_parse(ss, &s[i], NULL) ||
            ln_addr_parse(es, &e[i], NULL))
            return bad(err,
                       "Invalid input for allocation_pools. Reason: Validation of "
                       "dictionary's keys failed. Expected keys: {'start', 'end'}%s%s",
                       "", "");
        if (!ln_cidr_contains(cidr, &s[i]) || !ln_cidr_contains(cidr, &e[i]))
            return bad(err, "The allocation pool %.64s-%.64s spans beyond the subnet cidr.", ss,
                       es);
        if (ln_addr_cmp(&s[i], &e[i]) > 0)
            return bad(err,
                       "Invalid input for operation: The allocation pool %.64s-%.64s is "
                       "invalid: start is after end.",
                       ss, es);
        if (gw && ln_addr_cmp(gw, &s[i]) >= 0 && ln_addr_cmp(gw, &e[i]) <= 0)
            return LN_SET(err, NPH_E_CONFLICT, "GatewayConflictWithAllocationPools",
                          "Gateway ip %s conflicts with allocation pool %s-%s.",
                          ln_addr_format(gw, b1, sizeof(b1)), ss, es);
        for (size_t j = 0; j < i; j++)
            if (ln_addr_cmp(&s[i], &e[j]) <= 0 && ln_addr_cmp(&s[j], &e[i]) <= 0)
                return LN_SET(err, NPH_E_CONFLICT, "OverlappingAllocationPools",
                              "Found overlapping allocation pools: %s-%s and %s-%s.", ss, es,
                              ln_addr_format(&s[j], b1, sizeof(b1)),
                              ln_addr_format(&e[j], b2, sizeof(b2)));
        json_array_append_new(out,
                              json_pack("{s:s,s:s}", "start", ln_addr_format(&s[i], b1, sizeof(b1)),
                                        "end", ln_addr_format(&e[i], b2, sizeof(b2))));
    }
    return 0;
}

/* Neutron's default pools: the CIDR's hosts less the gateway (and for IPv4 the network and
 * broadcast addresses; for IPv6 the subnet-router anycast address). */
static void default_pools(const struct ln_cidr *cidr, const struct ln_addr *gw, json_t *out)
{
    struct ln_addr first, last;
    char b1[64], b2[64];
    ln_cidr_nth(cidr, 1, &first);
    ln_cidr_last(cidr, &last);
    if (cidr->addr.version == 4 && cidr->prefix >= 31) {
        first = cidr->addr; /* point-to-point: every address */
    } else if (cidr->addr.version == 4) {
        /* last - 1: adding 2^32 - 1 within the four bytes subtracts one */
        ln_addr_add(&last, 0xffffffffu);
    }
    if (ln_addr_cmp(&first, &last) > 0)
        return;
    if (gw && ln_addr_cmp(gw, &first) >= 0 && ln_addr_cmp(gw, &last) <= 0) {
        struct ln_addr before = *gw, after = *gw;
        if (ln_addr_cmp(gw, &first) > 0) {
            ln_addr_add(&before, cidr->addr.version == 4 ? 0xffffffffu : 0);
            if (cidr->addr.version == 6) {
                /* gw - 1 on 128 bits */
                for (int i = 15; i >= 0; i--)
                    if (before.b[i]-- != 0)
                        break;
            }
            json_array_append_new(out,
                                  json_pack("{s:s,s:s}", "start", ln_addr_format(&first, b1, 64),
                                            "end", ln_addr_format(&before, b2, 64)));
        }
        if (ln_addr_cmp(gw, &last) < 0) {
            ln_addr_add(&after, 1);
            json_array_append_new(out,
                                  json_pack("{s:s,s:s}", "start", ln_addr_format(&after, b1, 64),
                                            "end", ln_addr_format(&last, b2, 64)));
        }
        return;
    }
    json_array_append_new(out, json_pack("{s:s,s:s}", "start", ln_addr_format(&first, b1, 64),
                                         "end", ln_addr_format(&last, b2, 64)));
}

static int check_v6_mode(const json_t *attrs, const char *key, int version, json_t *doc,
                         struct nph_error *err)
{
    const char *m = NULL;
    int rc = ln_get_str(attrs, key, 32, 1, &m, err);
    if (rc < 0)
        return -1;
    if (rc == 1 || !m) {
        json_object_set_new(doc, key, json_null());
        return 0;
    }
    if (version != 6)
        return bad(err, "Invalid input for operation: %s is not valid when ip_version is 4.%s", key,
                   "");
    if (strcmp(m, "slaac") && strcmp(m, "dhcpv6-stateful") && strcmp(m, "dhcpv6-stateless"))
        return bad(err,
                   "Invalid input for %s. Reason: '%.32s' is not in [None, 'dhcpv6-stateful', "
                   "'dhcpv6-stateless', 'slaac'].",
                   key, m);
    json_object_set_new(doc, key, json_string(m));
    return 0;
}

json_t *ln_subnet_create(struct nph_db *db, const struct local_network_caller *c,
                         const json_t *attrs, struct nph_error *err)
{
    const char *net_id = NULL, *cidr_s = NULL, *gw_s = NULL;
    json_t *v, *net = NULL, *doc = NULL, *others = NULL, *pools = NULL, *o;
    int64_t version = 0;
    struct ln_cidr cidr;
    struct ln_addr gw;
    int have_gw = 0, b;
    size_t i;
    char buf[64], pool_cidr[64], pool_id[NPH_UUID_LEN + 1];
    if (ln_check_attrs(attrs, subnet_attrs, err))
        return NULL;
    if (ln_get_str(attrs, "network_id", 64, 0, &net_id, err) != 0) {
        if (!err || err->code == NPH_E_OK)
            bad(err, "Failed to parse request. Required attribute 'network_id' not specified%s%s",
                "", "");
        return NULL;
    }
    v = json_object_get(attrs, "ip_version");
    if (json_is_string(v))
        version = strtoll(json_string_value(v), NULL, 10);
    else if (json_is_integer(v))
        version = json_integer_value(v);
    else if (!v) {
        bad(err, "Failed to parse request. Required attribute 'ip_version' not specified%s%s", "",
            "");
        return NULL;
    }
    if (version != 4 && version != 6) {
        bad(err, "Invalid input for ip_version. Reason: '%s' is not in [4, 6].%s",
            json_is_string(v) ? json_string_value(v) : "value", "");
        return NULL;
    }
    int from_pool = ln_pool_subnet_cidr(db, c, attrs, (int)version, pool_cidr, pool_id, err);
    if (from_pool < 0)
        return NULL;
    if (from_pool)
        cidr_s = pool_cidr;
    else if (ln_get_str(attrs, "cidr", 64, 0, &cidr_s, err) != 0) {
        if (!err || err->code == NPH_E_OK)
            bad(err,
                "Bad subnets request: a subnetpool must be specified in the absence of a "
                "cidr.%s%s",
                "", "");
        return NULL;
    }
    if (ln_cidr_parse(cidr_s, 0, &cidr, err))
        return NULL;
    if (cidr.addr.version != version) {
        bad(err, "Invalid input for operation: Cidr %.64s does not match the IP version %s.",
            cidr_s, version == 4 ? "4" : "6");
        return NULL;
    }
    if ((version == 4 && cidr.prefix > 32) || (version == 6 && cidr.prefix > 128) ||
        (version == 4 && cidr.prefix == 0) || (version == 6 && cidr.prefix == 0)) {
        bad(err, "Invalid input for operation: Invalid CIDR %.64s for IP version %s.", cidr_s,
            version == 4 ? "4" : "6");
        return NULL;
    }
    if (!(net = ln_fetch(db, c, LN_NETWORK, net_id, err)))
        return NULL;
    if (ln_owner_check(c, net, "create_subnet", err))
        goto fail;
    if (!(doc = ln_doc_new(c, attrs, err)))
        goto fail;
    json_object_set_new(doc, "network_id", json_string(net_id));
    json_object_set_new(doc, "ip_version", json_integer(version));
    json_object_set_new(doc, "cidr", json_string(ln_cidr_format(&cidr, buf, sizeof(buf))));
    /* gateway: absent = the first host; null = none */
    v = json_object_get(attrs, "gateway_ip");
    if (!v) {
        if (!(version == 4 && cidr.prefix >= 31)) {
            ln_cidr_nth(&cidr, 1, &gw);
            have_gw = 1;
        }
    } else if (!json_is_null(v)) {
        if (!json_is_string(v) || ln_addr_parse(json_string_value(v), &gw, NULL)) {
            bad(err, "Invalid input for gateway_ip. Reason: '%.64s' is not a valid IP address.%s",
                json_is_string(v) ? json_string_value(v) : "value", "");
            goto fail;
        }
        gw_s = json_string_value(v);
        if (gw.version != version) {
            bad(err,
                "Invalid input for operation: gateway_ip %.64s does not match the IP "
                "version%s.",
                gw_s, "");
            goto fail;
        }
        if (!ln_cidr_contains(&cidr, &gw)) {
            bad(err, "Invalid input for operation: Gateway is not valid on subnet %.64s%s.", cidr_s,
                "");
            goto fail;
        }
        {
            struct ln_addr last;
            ln_cidr_last(&cidr, &last);
            if (version == 4 && cidr.prefix < 31 &&
                (ln_addr_cmp(&gw, &cidr.addr) == 0 || ln_addr_cmp(&gw, &last) == 0)) {
                bad(err, "Invalid input for operation: Gateway is not valid on subnet %.64s%s.",
                    cidr_s, "");
                goto fail;
            }
        }
        have_gw = 1;
    }
    json_object_set_new(doc, "gateway_ip",
                        have_gw ? json_string(ln_addr_format(&gw, buf, sizeof(buf))) : json_null());
    pools = json_array();
    v = json_object_get(attrs, "allocation_pools");
    if (v && !json_is_null(v)) {
        if (check_pools(v, &cidr, have_gw ? &gw : NULL, pools, err))
            goto fail;
    } else {
        default_pools(&cidr, have_gw ? &gw : NULL, pools);
    }
    json_object_set_new(doc, "allocation_pools", pools);
    pools = NULL;
    v = json_object_get(attrs, "dns_nameservers");
    if (v && !json_is_null(v) && check_dns(v, err))
        goto fail;
    json_object_set_new(doc, "dns_nameservers",
                        v && json_is_array(v) ? json_deep_copy(v) : json_array());
    v = json_object_get(attrs, "host_routes");
    if (v && !json_is_null(v) && check_routes(v, (int)version, err))
        goto fail;
    json_object_set_new(doc, "host_routes",
                        v && json_is_array(v) ? json_deep_copy(v) : json_array());
    b = 1;
    if (ln_get_bool(attrs, "enable_dhcp", &b, err) < 0)
        goto fail;
    json_object_set_new(doc, "enable_dhcp", json_boolean(b));
    if (check_v6_mode(attrs, "ipv6_ra_mode", (int)version, doc, err) ||
        check_v6_mode(attrs, "ipv6_address_mode", (int)version, doc, err))
        goto fail;
    {
        json_t *ra = json_object_get(doc, "ipv6_ra_mode");
        json_t *am = json_object_get(doc, "ipv6_address_mode");
        if (!json_is_null(ra) && !json_is_null(am) && !json_equal(ra, am)) {
            bad(err,
                "Invalid input for operation: ipv6_ra_mode set to '%s' with "
                "ipv6_address_mode set to '%s' is not valid. If both attributes are set, "
                "they must be the same value.",
                json_string_value(ra), json_string_value(am));
            goto fail;
        }
        if ((!json_is_null(am) && strcmp(json_string_value(am), "dhcpv6-stateful")) &&
            cidr.prefix != 64) {
            bad(err,
                "Invalid input for operation: Invalid CIDR %.64s for IPv6 address mode. "
                "OpenStack uses the EUI-64 address format, which requires the prefix to be "
                "/64%s.",
                cidr_s, "");
            goto fail;
        }
    }
    if (ln_copy_common(doc, attrs, err))
        goto fail;
    json_object_set_new(doc, "subnetpool_id", from_pool ? json_string(pool_id) : json_null());
    json_object_set_new(doc, "service_types", json_array());
    json_object_set_new(doc, "segment_id", json_null());
    /* overlap with the network's other subnets */
    if (!(others = ln_children(db, LN_SUBNET, net_id, err)))
        goto fail;
    json_array_foreach(others, i, o)
    {
        struct ln_cidr oc;
        if (ln_cidr_parse(json_string_value(json_object_get(o, "cidr")), 1, &oc, NULL) == 0 &&
            ln_cidr_overlap(&oc, &cidr)) {
            bad(err,
                "Invalid input for operation: Requested subnet with cidr: %.64s for network: "
                "%.64s overlaps with another subnet.",
                cidr_s, net_id);
            goto fail;
        }
    }
    if (ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_SUBNET, err) ||
        ln_row_insert(db, LN_SUBNET, doc, net_id, json_is_true(json_object_get(net, "shared")),
                      err))
        goto fail;
    json_decref(others);
    json_decref(net);
    return doc;
fail:
    json_decref(pools);
    json_decref(others);
    json_decref(doc);
    json_decref(net);
    return NULL;
}

int ln_subnet_update(struct nph_db *db, json_t *doc, const json_t *attrs, struct nph_error *err)
{
    static const char *const mutable[] = {"name",          "description", "dns_nameservers",
                                          "host_routes",   "enable_dhcp", "gateway_ip",
                                          "service_types", NULL};
    struct ln_cidr cidr;
    json_t *v;
    int b, rc;
    static const char *const ro[] = {"cidr",
                                     "ip_version",
                                     "network_id",
                                     "allocation_pools",
                                     "ipv6_ra_mode",
                                     "ipv6_address_mode",
                                     "tenant_id",
                                     "project_id",
                                     NULL};
    for (const char *const *r = ro; *r; r++)
        if (json_object_get(attrs, *r))
            return bad(err, "Cannot update read-only attribute %s%s", *r, "");
    if (ln_check_attrs(attrs, mutable, err) || ln_copy_common(doc, attrs, err))
        return -1;
    ln_cidr_parse(json_string_value(json_object_get(doc, "cidr")), 1, &cidr, NULL);
    if ((v = json_object_get(attrs, "dns_nameservers"))) {
        if (check_dns(v, err))
            return -1;
        json_object_set(doc, "dns_nameservers", v);
    }
    if ((v = json_object_get(attrs, "host_routes"))) {
        if (check_routes(v, cidr.addr.version, err))
            return -1;
        json_object_set(doc, "host_routes", v);
    }
    if ((rc = ln_get_bool(attrs, "enable_dhcp", &b, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "enable_dhcp", json_boolean(b));
    if ((v = json_object_get(attrs, "gateway_ip"))) {
        struct ln_addr gw;
        size_t i;
        json_t *p;
        if (!json_is_null(v)) {
            if (!json_is_string(v) || ln_addr_parse(json_string_value(v), &gw, NULL) ||
                !ln_cidr_contains(&cidr, &gw))
                return bad(err,
                           "Invalid input for operation: Gateway is not valid on subnet "
                           "%.64s%s.",
                           json_string_value(json_object_get(doc, "cidr")), "");
            json_array_foreach(json_object_get(doc, "allocation_pools"), i, p)
            {
                struct ln_addr s, e;
                if (ln_addr_parse(json_string_value(json_object_get(p, "start")), &s, NULL) ||
                    ln_addr_parse(json_string_value(json_object_get(p, "end")), &e, NULL))
                    continue;
                if (ln_addr_cmp(&gw, &s) >= 0 && ln_addr_cmp(&gw, &e) <= 0)
                    return LN_SET(err, NPH_E_CONFLICT, "GatewayConflictWithAllocationPools",
                                  "Gateway ip %s conflicts with allocation pool %s-%s.",
                                  json_string_value(v),
                                  json_string_value(json_object_get(p, "start")),
                                  json_string_value(json_object_get(p, "end")));
            }
        }
        json_object_set(doc, "gateway_ip", v);
    }
    {
        json_t *net = ln_fetch(db, NULL, LN_NETWORK,
                               json_string_value(json_object_get(doc, "network_id")), err);
        if (!net)
            return -1;
        rc = ln_row_update(db, doc, json_is_true(json_object_get(net, "shared")), err);
        json_decref(net);
        return rc;
    }
}

int ln_subnet_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    struct nph_stmt *st;
    int rc = nph_db_queryf(db, err, &st, "SELECT 1 FROM net_ip WHERE subnet_id = ?", "s", id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        nph_stmt_done(st);
        return LN_SET(err, NPH_E_CONFLICT, "SubnetInUse",
                      "Unable to complete operation on subnet %s: One or more ports have an IP "
                      "allocation from this subnet.",
                      id);
    }
    if (nph_db_execf(db, err, "DELETE FROM net_ipam_hint WHERE subnet_id = ?", "s", id) < 0)
        return -1;
    return ln_row_delete(db, id, err);
}
