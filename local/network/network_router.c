/*
 * network_router.c - routers (an external gateway on a router:external network, interfaces on
 * subnets through ports owned by the router) and floating IPs (an address of an external
 * network, held by a port owned by the floating IP, associated with a fixed IP of a port whose
 * subnet a router connects to that external network).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network_internal.h"

/* Ports with device_id = id and device_owner = owner (NULL: any owner). */
static json_t *ports_of(struct nph_db *db, const char *id, const char *owner, struct nph_error *err)
{
    json_t *all = ln_children(db, LN_PORT, NULL, err), *out, *p;
    size_t i;
    if (!all)
        return NULL;
    out = json_array();
    json_array_foreach(all, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "device_id")), id) == 0 &&
            (!owner || strcmp(json_string_value(json_object_get(p, "device_owner")), owner) == 0))
            json_array_append(out, p);
    }
    json_decref(all);
    return out;
}

static json_t *external_net(struct nph_db *db, const struct local_network_caller *c,
                            const char *net_id, const char *what, struct nph_error *err)
{
    json_t *net = ln_fetch(db, c, LN_NETWORK, net_id, err);
    if (net && !json_is_true(json_object_get(net, "router:external"))) {
        LN_SET(err, NPH_E_INVALID, "BadRequest",
               "Bad %s request: Network %.64s is not a valid external network.", what, net_id);
        json_decref(net);
        return NULL;
    }
    return net;
}

/* Set (info an object) or clear (null) the router's gateway. */
static int set_gateway(struct nph_db *db, const struct local_network_caller *c, json_t *router,
                       const json_t *info, struct nph_error *err)
{
    const char *rid = json_string_value(json_object_get(router, "id"));
    json_t *old = ports_of(db, rid, "network:router_gateway", err), *p, *net, *port, *fixed;
    const char *net_id;
    size_t i;
    int snat = 1;
    if (!old)
        return -1;
    json_array_foreach(old, i, p) if (ln_port_remove(db, p, err))
    {
        json_decref(old);
        return -1;
    }
    json_decref(old);
    json_object_set_new(router, "external_gateway_info", json_null());
    if (!info || json_is_null(info) || (json_is_object(info) && !json_object_size(info)))
        return 0;
    net_id = json_string_value(json_object_get(info, "network_id"));
    if (!json_is_object(info) || !net_id)
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Invalid input for external_gateway_info. Reason: Validation of "
                      "dictionary's keys failed. Expected keys: {'network_id'}");
    if (ln_get_bool(info, "enable_snat", &snat, err) < 0)
        return -1;
    if (!snat && !c->is_admin)
        return LN_SET(err, NPH_E_FORBIDDEN, "PolicyNotAuthorized",
                      "(rule:update_router:external_gateway_info:enable_snat) is disallowed by "
                      "policy");
    if (!(net = external_net(db, c, net_id, "router", err)))
        return -1;
    fixed = json_object_get(info, "external_fixed_ips");
    port = ln_port_internal(db, net, "", "network:router_gateway", rid,
                            json_is_array(fixed) && json_array_size(fixed) ? fixed : NULL, err);
    json_decref(net);
    if (!port)
        return -1;
    json_object_set_new(router, "external_gateway_info",
                        json_pack("{s:s,s:b,s:O}", "network_id", net_id, "enable_snat", snat,
                                  "external_fixed_ips", json_object_get(port, "fixed_ips")));
    json_decref(port);
    return 0;
}

json_t *ln_router_create(struct nph_db *db, const struct local_network_caller *c,
                         const json_t *attrs, struct nph_error *err)
{
    static const char *const allowed[] = {"name",
                                          "description",
                                          "admin_state_up",
                                          "external_gateway_info",
                                          "tenant_id",
                                          "project_id",
                                          "distributed",
                                          "ha",
                                          "availability_zone_hints",
                                          "flavor_id",
                                          NULL};
    json_t *doc;
    if (ln_check_attrs(attrs, allowed, err) || !(doc = ln_doc_new(c, attrs, err)))
        return NULL;
    json_object_set_new(doc, "admin_state_up", json_true());
    json_object_set_new(doc, "status", json_string("ACTIVE"));
    json_object_set_new(doc, "external_gateway_info", json_null());
    json_object_set_new(doc, "routes", json_array());
    json_object_set_new(doc, "distributed", json_false());
    json_object_set_new(doc, "ha", json_false());
    json_object_set_new(doc, "availability_zone_hints", json_array());
    json_object_set_new(doc, "availability_zones", json_pack("[s]", "nova"));
    json_object_set_new(doc, "flavor_id", json_null());
    if (ln_copy_common(doc, attrs, err) ||
        ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_ROUTER, err) ||
        set_gateway(db, c, doc, json_object_get(attrs, "external_gateway_info"), err) ||
        ln_row_insert(db, LN_ROUTER, doc, NULL, 0, err)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int ln_router_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                     const json_t *attrs, struct nph_error *err)
{
    static const char *const allowed[] = {
        "name", "description", "admin_state_up", "external_gateway_info", "routes", NULL};
    json_t *v;
    if (ln_check_attrs(attrs, allowed, err) || ln_copy_common(doc, attrs, err))
        return -1;
    if ((v = json_object_get(attrs, "external_gateway_info")) && set_gateway(db, c, doc, v, err))
        return -1;
    if (json_is_null(json_object_get(attrs, "routes"))) {
        json_object_set_new(doc, "routes", json_array()); /* Neutron: null clears them */
    } else if ((v = json_object_get(attrs, "routes"))) {
        size_t i;
        json_t *r;
        if (!json_is_array(v))
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Invalid input for routes. Reason: %s is not a list.", "value");
        json_array_foreach(v, i, r)
        {
            struct ln_cidr d;
            struct ln_addr n;
            if (!json_is_object(r) ||
                ln_cidr_parse(json_string_value(json_object_get(r, "destination")), 1, &d, NULL) ||
                ln_addr_parse(json_string_value(json_object_get(r, "nexthop")), &n, NULL))
                return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                              "Invalid input for routes. Reason: Validation of dictionary's keys "
                              "failed. Expected keys: {'destination', 'nexthop'}");
        }
        json_object_set(doc, "routes", v);
    }
    return ln_row_update(db, doc, 0, err);
}

int ln_router_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *ports = ports_of(db, id, NULL, err), *p;
    size_t i;
    if (!ports)
        return -1;
    json_array_foreach(ports, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "device_owner")),
                   "network:router_gateway") != 0) {
            json_decref(ports);
            return LN_SET(err, NPH_E_CONFLICT, "RouterInUse", "Router %s still has ports", id);
        }
    }
    json_array_foreach(ports, i, p) if (ln_port_remove(db, p, err))
    {
        json_decref(ports);
        return -1;
    }
    json_decref(ports);
    return ln_row_delete(db, id, err);
}

static json_t *iface_info(const json_t *router, const json_t *port)
{
    json_t *fixed = json_object_get(port, "fixed_ips");
    json_t *sub = json_object_get(json_array_get(fixed, 0), "subnet_id");
    json_t *ids = json_array(), *f;
    size_t i;
    json_array_foreach(fixed, i, f) json_array_append(ids, json_object_get(f, "subnet_id"));
    return json_pack("{s:O,s:O,s:o,s:O,s:O,s:O,s:O,s:[]}", "id", json_object_get(router, "id"),
                     "subnet_id", sub ? sub : json_null(), "subnet_ids", ids, "port_id",
                     json_object_get(port, "id"), "network_id", json_object_get(port, "network_id"),
                     "tenant_id", json_object_get(router, "project_id"), "project_id",
                     json_object_get(router, "project_id"), "tags");
}

static json_t *iface_add(struct nph_db *db, const struct local_network_caller *c, json_t *router,
                         const char *subnet_id, const char *port_id, struct nph_error *err)
{
    const char *rid = json_string_value(json_object_get(router, "id"));
    json_t *ifaces = ports_of(db, rid, "network:router_interface", err), *p, *f;
    json_t *port = NULL, *sub = NULL, *net = NULL, *out = NULL;
    size_t i, j;
    if (!ifaces)
        return NULL;
    if (port_id) {
        if (!(port = ln_fetch(db, c, LN_PORT, port_id, err)))
            goto cleanup;
        if (*json_string_value(json_object_get(port, "device_id"))) {
            LN_SET(err, NPH_E_CONFLICT, "PortInUse",
                   "Unable to complete operation on port %s for network %s. Port already has an "
                   "attached device %s.",
                   port_id, json_string_value(json_object_get(port, "network_id")),
                   json_string_value(json_object_get(port, "device_id")));
            goto cleanup;
        }
        if (!json_array_size(json_object_get(port, "fixed_ips"))) {
            LN_SET(err, NPH_E_INVALID, "BadRequest",
                   "Bad router request: Router port must have at least one fixed IP.");
            goto cleanup;
        }
        json_object_set_new(port, "device_id", json_string(rid));
        json_object_set_new(port, "device_owner", json_string("network:router_interface"));
        json_object_set_new(port, "status", json_string("ACTIVE"));
        if (ln_row_update(db, port, 0, err))
            goto cleanup;
    } else {
        json_t *want;
        if (!(sub = ln_fetch(db, c, LN_SUBNET, subnet_id, err)))
            goto cleanup;
        if (json_is_null(json_object_get(sub, "gateway_ip"))) {
            LN_SET(err, NPH_E_INVALID, "BadRequest",
                   "Bad router request: Subnet for router interface must have a gateway IP.");
            goto cleanup;
        }
        json_array_foreach(ifaces, i, p)
        {
            json_array_foreach(json_object_get(p, "fixed_ips"), j, f)
            {
                const char *other = json_string_value(json_object_get(f, "subnet_id"));
                json_t *os;
                struct ln_cidr a, b;
                if (strcmp(other, subnet_id) == 0) {
                    LN_SET(err, NPH_E_INVALID, "BadRequest",
                           "Bad router request: Router already has a port on subnet %s.",
                           subnet_id);
                    goto cleanup;
                }
                /* a router cannot route between overlapping subnets */
                if (!(os = ln_fetch(db, NULL, LN_SUBNET, other, err)))
                    goto cleanup;
                if (ln_cidr_parse(json_string_value(json_object_get(os, "cidr")), 1, &a, NULL) ==
                        0 &&
                    ln_cidr_parse(json_string_value(json_object_get(sub, "cidr")), 1, &b, NULL) ==
                        0 &&
                    ln_cidr_overlap(&a, &b)) {
                    LN_SET(err, NPH_E_INVALID, "BadRequest",
                           "Bad router request: Cidr %s of subnet %s overlaps with cidr %s of "
                           "subnet %s.",
                           json_string_value(json_object_get(sub, "cidr")), subnet_id,
                           json_string_value(json_object_get(os, "cidr")), other);
                    json_decref(os);
                    goto cleanup;
                }
                json_decref(os);
            }
        }
        if (!(net = ln_fetch(db, NULL, LN_NETWORK,
                             json_string_value(json_object_get(sub, "network_id")), err)))
            goto cleanup;
        want = json_pack("[{s:s,s:O}]", "subnet_id", subnet_id, "ip_address",
                         json_object_get(sub, "gateway_ip"));
        port = ln_port_internal(db, net, json_string_value(json_object_get(router, "project_id")),
                                "network:router_interface", rid, want, err);
        json_decref(want);
        if (!port)
            goto cleanup;
    }
    out = iface_info(router, port);
cleanup:
    json_decref(ifaces);
    json_decref(port);
    json_decref(sub);
    json_decref(net);
    return out;
}

static json_t *iface_remove(struct nph_db *db, json_t *router, const char *subnet_id,
                            const char *port_id, struct nph_error *err)
{
    const char *rid = json_string_value(json_object_get(router, "id"));
    json_t *ifaces = ports_of(db, rid, "network:router_interface", err), *p, *f, *out = NULL;
    size_t i, j;
    if (!ifaces)
        return NULL;
    json_array_foreach(ifaces, i, p)
    {
        int match = port_id && strcmp(json_string_value(json_object_get(p, "id")), port_id) == 0;
        json_array_foreach(json_object_get(p, "fixed_ips"), j,
                           f) if (subnet_id &&
                                  strcmp(json_string_value(json_object_get(f, "subnet_id")),
                                         subnet_id) == 0) match = 1;
        if (match) {
            out = iface_info(router, p);
            if (ln_port_remove(db, p, err)) {
                json_decref(out);
                out = NULL;
            }
            json_decref(ifaces);
            return out;
        }
    }
    json_decref(ifaces);
    if (port_id)
        LN_SET(err, NPH_E_NOT_FOUND, "RouterInterfaceNotFound",
               "Router %s does not have an interface with id %.64s", rid, port_id);
    else
        LN_SET(err, NPH_E_NOT_FOUND, "RouterInterfaceNotFoundForSubnet",
               "Router %s has no interface on subnet %.64s", rid, subnet_id);
    return NULL;
}

json_t *local_network_router_interface(struct local_network *ln,
                                       const struct local_network_caller *c, const char *router_id,
                                       const json_t *body, int add, struct nph_error *err)
{
    const char *sid = json_string_value(json_object_get(body, "subnet_id"));
    const char *pid = json_string_value(json_object_get(body, "port_id"));
    struct nph_db *db;
    json_t *router = NULL, *out = NULL;
    if (!json_is_object(body) || (!sid && !pid)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Bad router request: Either subnet_id or port_id must be specified.");
        return NULL;
    }
    if (sid && pid && add) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Bad router request: Cannot specify both subnet-id and port-id.");
        return NULL;
    }
    if (!(db = nph_store_acquire(ln->store, err)))
        return NULL;
    if (nph_db_begin(db, err) || !(router = ln_fetch(db, c, LN_ROUTER, router_id, err)) ||
        ln_owner_check(c, router, add ? "add_router_interface" : "remove_router_interface", err))
        goto cleanup;
    out = add ? iface_add(db, c, router, sid, pid, err) : iface_remove(db, router, sid, pid, err);
    if (out && nph_db_commit(db, err)) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    json_decref(router);
    nph_store_release(db);
    return out;
}

/* ---- floating IPs ------------------------------------------------------------------------- */

/* Associate doc (a floating IP) with port_id / fixed (may be NULL: the port's first IPv4). */
static int fip_associate(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                         const char *port_id, const char *fixed, struct nph_error *err)
{
    json_t *port, *f, *routers = NULL, *r, *fips = NULL, *o;
    const char *ext = json_string_value(json_object_get(doc, "floating_network_id"));
    const char *addr = NULL, *subnet = NULL, *router_id = NULL;
    size_t i, j;
    int rc = -1;
    if (!(port = ln_fetch(db, c, LN_PORT, port_id, err)))
        return -1;
    json_array_foreach(json_object_get(port, "fixed_ips"), i, f)
    {
        const char *ip = json_string_value(json_object_get(f, "ip_address"));
        if ((fixed && strcmp(ip, fixed) == 0) || (!fixed && !addr && !strchr(ip, ':'))) {
            addr = ip;
            subnet = json_string_value(json_object_get(f, "subnet_id"));
        }
    }
    if (!addr) {
        if (fixed)
            LN_SET(err, NPH_E_INVALID, "BadRequest",
                   "Bad floatingip request: Port %s does not have fixed ip %.64s.", port_id, fixed);
        else
            LN_SET(err, NPH_E_INVALID, "BadRequest",
                   "Bad floatingip request: Port %s does not have any IPv4 address.", port_id);
        goto cleanup;
    }
    /* a router with a gateway on the external network and an interface on the subnet */
    if (!(routers = ln_children(db, LN_ROUTER, NULL, err)))
        goto cleanup;
    json_array_foreach(routers, i, r)
    {
        json_t *gw = json_object_get(r, "external_gateway_info"), *ifs;
        const char *rid = json_string_value(json_object_get(r, "id"));
        if (!json_is_object(gw) ||
            strcmp(json_string_value(json_object_get(gw, "network_id")), ext) != 0)
            continue;
        if (!(ifs = ports_of(db, rid, "network:router_interface", err)))
            goto cleanup;
        json_array_foreach(ifs, j, o)
        {
            size_t k;
            json_t *ff;
            json_array_foreach(json_object_get(o, "fixed_ips"), k,
                               ff) if (strcmp(json_string_value(json_object_get(ff, "subnet_id")),
                                              subnet) == 0) router_id = rid;
        }
        json_decref(ifs);
        if (router_id)
            break;
    }
    if (!router_id) {
        LN_SET(err, NPH_E_NOT_FOUND, "ExternalGatewayForFloatingIPNotFound",
               "External network %s is not reachable from subnet %s.  Therefore, cannot "
               "associate Port %s with a Floating IP.",
               ext, subnet, port_id);
        goto cleanup;
    }
    if (!(fips = ln_children(db, LN_FLOATINGIP, NULL, err)))
        goto cleanup;
    json_array_foreach(fips, i, o)
    {
        if (json_equal(json_object_get(o, "port_id"), json_object_get(port, "id")) &&
            strcmp(json_string_value(json_object_get(o, "fixed_ip_address")), addr) == 0 &&
            !json_equal(json_object_get(o, "id"), json_object_get(doc, "id"))) {
            LN_SET(err, NPH_E_CONFLICT, "FloatingIPPortAlreadyAssociated",
                   "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that "
                   "fixed IP already has a floating IP on external network %s.",
                   json_string_value(json_object_get(doc, "floating_ip_address")),
                   json_string_value(json_object_get(doc, "id")), port_id, addr, ext);
            goto cleanup;
        }
    }
    json_object_set_new(doc, "port_id", json_string(port_id));
    json_object_set_new(doc, "fixed_ip_address", json_string(addr));
    json_object_set_new(doc, "router_id", json_string(router_id));
    json_object_set_new(doc, "status", json_string("ACTIVE"));
    rc = 0;
cleanup:
    json_decref(fips);
    json_decref(routers);
    json_decref(port);
    return rc;
}

static void fip_clear(json_t *doc)
{
    json_object_set_new(doc, "port_id", json_null());
    json_object_set_new(doc, "fixed_ip_address", json_null());
    json_object_set_new(doc, "router_id", json_null());
    json_object_set_new(doc, "status", json_string("DOWN"));
}

json_t *ln_fip_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                      struct nph_error *err)
{
    static const char *const allowed[] = {"floating_network_id",
                                          "floating_ip_address",
                                          "subnet_id",
                                          "port_id",
                                          "fixed_ip_address",
                                          "description",
                                          "tenant_id",
                                          "project_id",
                                          "dns_name",
                                          "dns_domain",
                                          "qos_policy_id",
                                          NULL};
    const char *ext = json_string_value(json_object_get(attrs, "floating_network_id"));
    const char *want = json_string_value(json_object_get(attrs, "floating_ip_address"));
    const char *sub = json_string_value(json_object_get(attrs, "subnet_id"));
    const char *pid = json_string_value(json_object_get(attrs, "port_id"));
    json_t *doc = NULL, *net = NULL, *port = NULL, *req = NULL;
    if (ln_check_attrs(attrs, allowed, err))
        return NULL;
    if (!ext) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Failed to parse request. Required attribute 'floating_network_id' not specified");
        return NULL;
    }
    if (!(net = external_net(db, c, ext, "floatingip", err)) || !(doc = ln_doc_new(c, attrs, err)))
        goto fail;
    json_object_del(doc, "name");
    if (ln_copy_common(doc, attrs, err) ||
        ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_FLOATINGIP,
                       err))
        goto fail;
    if (want || sub) {
        req = json_array();
        json_array_append_new(req, json_object());
        if (want)
            json_object_set_new(json_array_get(req, 0), "ip_address", json_string(want));
        if (sub)
            json_object_set_new(json_array_get(req, 0), "subnet_id", json_string(sub));
    }
    port = ln_port_internal(db, net, "", "network:floatingip",
                            json_string_value(json_object_get(doc, "id")), req, err);
    if (!port)
        goto fail;
    {
        json_t *f = json_array_get(json_object_get(port, "fixed_ips"), 0);
        if (!f) {
            LN_SET(err, NPH_E_CONFLICT, "IpAddressGenerationFailure",
                   "No more IP addresses available on network %s.", ext);
            goto fail;
        }
        json_object_set(doc, "floating_ip_address", json_object_get(f, "ip_address"));
    }
    json_object_set_new(doc, "floating_network_id", json_string(ext));
    json_object_set(doc, "floating_port_id", json_object_get(port, "id"));
    fip_clear(doc);
    json_object_set_new(doc, "port_details", json_null());
    if (pid && fip_associate(db, c, doc, pid,
                             json_string_value(json_object_get(attrs, "fixed_ip_address")), err))
        goto fail;
    if (ln_row_insert(db, LN_FLOATINGIP, doc, ext, 0, err))
        goto fail;
    json_decref(req);
    json_decref(port);
    json_decref(net);
    return doc;
fail:
    json_decref(req);
    json_decref(port);
    json_decref(net);
    json_decref(doc);
    return NULL;
}

int ln_fip_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                  const json_t *attrs, struct nph_error *err)
{
    static const char *const allowed[] = {"port_id", "fixed_ip_address", "description",
                                          "qos_policy_id", NULL};
    json_t *pid = json_object_get(attrs, "port_id");
    if (ln_check_attrs(attrs, allowed, err) || ln_copy_common(doc, attrs, err))
        return -1;
    if (pid && json_is_null(pid))
        fip_clear(doc);
    else if (pid &&
             fip_associate(db, c, doc, json_string_value(pid),
                           json_string_value(json_object_get(attrs, "fixed_ip_address")), err))
        return -1;
    return ln_row_update(db, doc, 0, err);
}

int ln_fip_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    json_t *port = ln_fetch(db, NULL, LN_PORT,
                            json_string_value(json_object_get(doc, "floating_port_id")), err);
    if (port) {
        int rc = ln_port_remove(db, port, err);
        json_decref(port);
        if (rc)
            return -1;
    }
    return ln_row_delete(db, json_string_value(json_object_get(doc, "id")), err);
}

int ln_fip_port_gone(struct nph_db *db, const char *port_id, struct nph_error *err)
{
    json_t *fips = ln_children(db, LN_FLOATINGIP, NULL, err), *f;
    size_t i;
    if (!fips)
        return -1;
    json_array_foreach(fips, i, f)
    {
        if (json_is_string(json_object_get(f, "port_id")) &&
            strcmp(json_string_value(json_object_get(f, "port_id")), port_id) == 0) {
            fip_clear(f);
            if (ln_row_update(db, f, 0, err)) {
                json_decref(fips);
                return -1;
            }
        }
    }
    json_decref(fips);
    return 0;
}
