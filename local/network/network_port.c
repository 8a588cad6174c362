/*
 * network_port.c - ports: MAC addresses (fa:16:3e:xx:xx:xx, unique through net_mac's primary
 * key), fixed IPs from IPAM, security groups, device owner/id; and IPAM itself.
 *
 * IPAM. A requested address must lie in its subnet and be free; otherwise the allocator walks
 * the subnet's allocation pools from the subnet's hint (net_ipam_hint: past the last address
 * handed out) and takes the first address not in net_ip, wrapping around once. The probes and
 * the insert run in the port's transaction: on SQLite the
 * transaction is the only writer (BEGIN IMMEDIATE); on PostgreSQL a per-subnet advisory lock
 * queues allocators, and the (subnet_id, address) primary key turns any race left into a
 * conflict that the entry point retries. An exhausted subnet is Neutron's
 * IpAddressGenerationFailure (409).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network_internal.h"
#include "nph_crypto.h"
#include "nph_log.h"

#define LN_IPAM_LOCK_CLASS "1313953105"

/* The subnet's hint: where the last automatic allocation stopped. 1 (*out), 0 none, -1 error. */
static int hint_get(struct nph_db *db, const char *subnet_id, struct ln_addr *out,
                    struct nph_error *err)
{
    struct nph_stmt *st;
    int rc = nph_db_queryf(db, err, &st, "SELECT next_addr FROM net_ipam_hint WHERE subnet_id = ?",
                           "s", subnet_id);
    if (rc == 1) {
        rc = ln_addr_parse(nph_stmt_col_text(st, 0), out, NULL) == 0;
        nph_stmt_done(st);
    }
    return rc;
}

static int hint_set(struct nph_db *db, const char *subnet_id, const struct ln_addr *next,
                    struct nph_error *err)
{
    char buf[64];
    ln_addr_format(next, buf, sizeof(buf));
    return nph_db_execf(db, err,
                        "INSERT INTO net_ipam_hint (subnet_id, next_addr) VALUES (?, ?)"
                        " ON CONFLICT (subnet_id) DO UPDATE SET next_addr = excluded.next_addr",
                        "ss", subnet_id, buf) < 0
               ? -1
               : 0;
}

/* 1 when the address is allocated in the subnet (a primary key lookup), 0 free, -1 error. */
static int taken(struct nph_db *db, const char *subnet_id, const struct ln_addr *a,
                 struct nph_error *err)
{
    struct nph_stmt *st;
    char buf[64];
    int rc = nph_db_queryf(db, err, &st, "SELECT 1 FROM net_ip WHERE subnet_id = ? AND address = ?",
                           "ss", subnet_id, ln_addr_format(a, buf, sizeof(buf)));
    if (rc == 1)
        nph_stmt_done(st);
    return rc;
}

/* A free address of the subnet's pools: 1 found (*out), 0 none, -1 error. The search starts at
 * the subnet's hint (the address after the last one handed out; none: the first pool's start),
 * walks the pools in order and wraps around once, probing each address by its primary key;
 * the hint then moves past the address found. So a create costs a probe or two however many
 * ports the subnet has, and an address given back is handed out again once the pools wrap. */
static int first_free(struct nph_db *db, const json_t *subnet, struct ln_addr *out,
                      struct nph_error *err)
{
    const char *sid = json_string_value(json_object_get(subnet, "id"));
    const json_t *pools = json_object_get(subnet, "allocation_pools"), *p;
    struct ln_addr start[64], end[64], hint, a;
    size_t n = 0, i, first = 0;
    int have_hint, rc;
    json_array_foreach(pools, i, p)
    {
        if (n == sizeof(start) / sizeof(start[0]))
            break;
        if (ln_addr_parse(json_string_value(json_object_get(p, "start")), &start[n], NULL) ||
            ln_addr_parse(json_string_value(json_object_get(p, "end")), &end[n], NULL) ||
            ln_addr_cmp(&start[n], &end[n]) > 0)
            continue;
        n++;
    }
    if (!n)
        return 0;
    if ((have_hint = hint_get(db, sid, &hint, err)) < 0)
        return -1;
    if (have_hint) {
        have_hint = 0;
        for (i = 0; i < n; i++)
            if (ln_addr_cmp(&start[i], &hint) <= 0 && ln_addr_cmp(&hint, &end[i]) <= 0) {
                first = i;
                have_hint = 1;
            }
    }
    /* pool `first` from the hint, the others from their start, pool `first` up to the hint */
    for (size_t k = 0; k <= n; k++) {
        size_t pi = (first + k) % n;
        int wrapped = k == n;
        a = (k == 0 && have_hint) ? hint : start[pi];
        if (wrapped && !have_hint)
            break; /* the first pass covered pool `first` whole */
        for (;;) {
            if (wrapped && ln_addr_cmp(&a, &hint) >= 0)
                break;
            if ((rc = taken(db, sid, &a, err)) < 0)
                return -1;
            if (rc == 0) {
                struct ln_addr next = a;
                *out = a;
                if (ln_addr_cmp(&a, &end[pi]) == 0)
                    next = start[(pi + 1) % n];
                else
                    ln_addr_add(&next, 1);
                return hint_set(db, sid, &next, err) ? -1 : 1;
            }
            if (ln_addr_cmp(&a, &end[pi]) == 0)
                break;
            ln_addr_add(&a, 1);
        }
    }
    return 0;
}

static int record(struct nph_db *db, const json_t *subnet, const struct ln_addr *a,
                  const char *port_id, struct nph_error *err)
{
    char buf[64];
    ln_addr_format(a, buf, sizeof(buf));
    if (nph_db_execf(db, err,
                     "INSERT INTO net_ip (subnet_id, address, network_id, port_id)"
                     " VALUES (?, ?, ?, ?)",
                     "ssss", json_string_value(json_object_get(subnet, "id")), buf,
                     json_string_value(json_object_get(subnet, "network_id")), port_id) < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            return LN_SET(err, NPH_E_CONFLICT, "IpAddressAlreadyAllocated",
                          "IP address %s already allocated in subnet %s", buf,
                          json_string_value(json_object_get(subnet, "id")));
        return -1;
    }
    return 0;
}

static int is_slaac(const json_t *subnet)
{
    const char *m = json_string_value(json_object_get(subnet, "ipv6_address_mode"));
    return m && (strcmp(m, "slaac") == 0 || strcmp(m, "dhcpv6-stateless") == 0);
}

/* Allocate one address from `subnet` (requested: NULL = any) and append it to fixed. */
static int alloc_one(struct nph_db *db, const json_t *subnet, const char *requested,
                     const char *port_id, const char *mac, int is_router, json_t *fixed,
                     struct nph_error *err)
{
    struct ln_cidr cidr;
    struct ln_addr a;
    char buf[64];
    const char *sid = json_string_value(json_object_get(subnet, "id"));
    int rc;
    if (ln_cidr_parse(json_string_value(json_object_get(subnet, "cidr")), 1, &cidr, err) ||
        ln_lock(db, LN_IPAM_LOCK_CLASS, sid, err))
        return -1;
    if (requested) {
        struct ln_addr last;
        if (ln_addr_parse(requested, &a, err))
            return -1;
        ln_cidr_last(&cidr, &last);
        if (!ln_cidr_contains(&cidr, &a) ||
            (cidr.addr.version == 4 && cidr.prefix < 31 &&
             (ln_addr_cmp(&a, &cidr.addr) == 0 || ln_addr_cmp(&a, &last) == 0)))
            return LN_SET(err, NPH_E_INVALID, "InvalidIpForSubnet",
                          "IP address %.64s is not a valid IP for the specified subnet.",
                          requested);
    } else if (cidr.addr.version == 6 && is_slaac(subnet) && !is_router) {
        if (ln_addr_eui64(&cidr, mac, &a, err))
            return -1;
    } else {
        rc = first_free(db, subnet, &a, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return LN_SET(err, NPH_E_CONFLICT, "IpAddressGenerationFailure",
                          "No more IP addresses available on network %s.",
                          json_string_value(json_object_get(subnet, "network_id")));
    }
    if (record(db, subnet, &a, port_id, err)) {
        /* an automatic choice lost a race (PostgreSQL): let the entry point retry */
        if (!requested && err && err->code == NPH_E_CONFLICT)
            nph_error_detail(err, "Retry");
        return -1;
    }
    json_array_append_new(fixed, json_pack("{s:s,s:s}", "subnet_id", sid, "ip_address",
                                           ln_addr_format(&a, buf, sizeof(buf))));
    return 0;
}

json_t *ln_ipam_allocate(struct nph_db *db, const json_t *net, const json_t *requested,
                         const char *port_id, const char *mac, int is_router, struct nph_error *err)
{
    const char *net_id = json_string_value(json_object_get(net, "id"));
    json_t *subs = ln_children(db, LN_SUBNET, net_id, err);
    json_t *fixed = json_array(), *r, *s;
    size_t i, j;
    if (!subs || !fixed)
        goto fail;
    if (requested) {
        json_array_foreach(requested, i, r)
        {
            const char *sid = json_string_value(json_object_get(r, "subnet_id"));
            const char *ip = json_string_value(json_object_get(r, "ip_address"));
            json_t *subnet = NULL;
            if (!json_is_object(r) || (!sid && !ip) || (json_object_get(r, "subnet_id") && !sid) ||
                (json_object_get(r, "ip_address") && !ip)) {
                LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                       "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: "
                       "'%s'.",
                       "entry");
                goto fail;
            }
            json_array_foreach(subs, j, s)
            {
                if (sid && strcmp(sid, json_string_value(json_object_get(s, "id"))) == 0)
                    subnet = s;
                if (!sid && ip) {
                    struct ln_cidr c;
                    struct ln_addr a;
                    if (ln_addr_parse(ip, &a, err))
                        goto fail;
                    if (ln_cidr_parse(json_string_value(json_object_get(s, "cidr")), 1, &c, NULL) ==
                            0 &&
                        ln_cidr_contains(&c, &a))
                        subnet = s;
                }
                if (subnet)
                    break;
            }
            if (!subnet) {
                if (sid)
                    LN_SET(err, NPH_E_INVALID, "InvalidInput",
                           "Invalid input for operation: Failed to create port on network %s, "
                           "because fixed_ips included invalid subnet %.64s.",
                           net_id, sid);
                else
                    LN_SET(err, NPH_E_INVALID, "InvalidIpForNetwork",
                           "IP address %.64s is not a valid IP for any of the subnets on the "
                           "specified network.",
                           ip);
                goto fail;
            }
            if (alloc_one(db, subnet, ip, port_id, mac, is_router, fixed, err))
                goto fail;
        }
    } else {
        /* Neutron's default: one address from an IPv4 subnet with room, one from a stateful
         * IPv6 subnet, and the EUI-64 address on every SLAAC subnet */
        int got4 = 0, got6 = 0;
        json_array_foreach(subs, i, s)
        {
            int v = (int)json_integer_value(json_object_get(s, "ip_version"));
            if ((v == 4 && got4) || (v == 6 && !is_slaac(s) && got6))
                continue;
            if (alloc_one(db, s, NULL, port_id, mac, is_router, fixed, err)) {
                /* a full subnet: try the network's next one of the family */
                if (err && strcmp(err->detail, "IpAddressGenerationFailure") == 0)
                    continue;
                goto fail;
            }
            if (v == 4)
                got4 = 1;
            else if (!is_slaac(s))
                got6 = 1;
        }
        if (json_array_size(subs) && !json_array_size(fixed)) {
            LN_SET(err, NPH_E_CONFLICT, "IpAddressGenerationFailure",
                   "No more IP addresses available on network %s.", net_id);
            goto fail;
        }
    }
    json_decref(subs);
    return fixed;
fail:
    json_decref(subs);
    json_decref(fixed);
    return NULL;
}

int ln_ipam_release(struct nph_db *db, const char *port_id, struct nph_error *err)
{
    return nph_db_execf(db, err, "DELETE FROM net_ip WHERE port_id = ?", "s", port_id) < 0 ? -1 : 0;
}

/* ---- MAC addresses ------------------------------------------------------------------------ */

static int mac_valid(const char *m)
{
    unsigned b[6];
    char tail;
    if (!m || strlen(m) != 17 ||
        sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) !=
            6)
        return 0;
    if (b[0] & 1) /* multicast */
        return 0;
    return strcmp(m, "00:00:00:00:00:00") != 0;
}

/* Take `mac` (NULL: generate one) for port_id; the generated one goes into buf. */
static int mac_take(struct nph_db *db, const char *mac, const char *port_id, const char *network_id,
                    char buf[18], struct nph_error *err)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        uint8_t r[3];
        int64_t rc;
        if (mac) {
            snprintf(buf, 18, "%s", mac);
            for (char *p = buf; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        } else {
            if (nph_random_bytes(r, sizeof(r), err))
                return -1;
            snprintf(buf, 18, "fa:16:3e:%02x:%02x:%02x", r[0], r[1], r[2]);
        }
        rc = nph_db_execf(db, err,
                          "INSERT INTO net_mac (mac, port_id) VALUES (?, ?)"
                          " ON CONFLICT DO NOTHING",
                          "ss", buf, port_id);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return 0;
        if (mac)
            return LN_SET(err, NPH_E_CONFLICT, "MacAddressInUse",
                          "Unable to complete operation for network %s. The mac address %s is in "
                          "use.",
                          network_id, buf);
    }
    return LN_SET(err, NPH_E_UNAVAILABLE, "MacAddressGenerationFailure",
                  "Unable to generate unique mac on network %s.", network_id);
}

/* ---- ports -------------------------------------------------------------------------------- */

static const char *const port_attrs[] = {"name",
                                         "description",
                                         "network_id",
                                         "admin_state_up",
                                         "mac_address",
                                         "fixed_ips",
                                         "device_id",
                                         "device_owner",
                                         "security_groups",
                                         "tenant_id",
                                         "project_id",
                                         "port_security_enabled",
                                         "allowed_address_pairs",
                                         "extra_dhcp_opts",
                                         "binding:host_id",
                                         "binding:vnic_type",
                                         "binding:profile",
                                         "dns_name",
                                         "qos_policy_id",
                                         "propagate_uplink_status",
                                         NULL};

/* Check the requested groups (own, existing) or take the project's default. */
static json_t *port_groups(struct nph_db *db, const struct local_network_caller *c,
                           const char *project, const json_t *req, int port_security,
                           struct nph_error *err)
{
    json_t *out = json_array(), *g;
    size_t i;
    if (req && !json_is_null(req)) {
        struct local_network_caller owner = {project, c->is_admin};
        if (!json_is_array(req)) {
            LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                   "Invalid input for security_groups. Reason: %s is not a list.", "value");
            goto fail;
        }
        json_array_foreach(req, i, g)
        {
            json_t *doc;
            if (!json_is_string(g)) {
                LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                       "Invalid input for security_groups. Reason: '%s' is not a valid UUID.",
                       "value");
                goto fail;
            }
            if (!(doc = ln_fetch(db, &owner, LN_SECGROUP, json_string_value(g), err)))
                goto fail;
            json_decref(doc);
            json_array_append(out, g);
        }
        if (json_array_size(out) && !port_security) {
            LN_SET(err, NPH_E_CONFLICT, "PortSecurityAndIPRequiredForSecurityGroups",
                   "Port security must be enabled and port must have an IP address in order to "
                   "use security groups.");
            goto fail;
        }
        return out;
    }
    if (port_security && project && *project) {
        char id[NPH_UUID_LEN + 1];
        if (ln_default_sg(db, project, id, err))
            goto fail;
        json_array_append_new(out, json_string(id));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static int port_fill(json_t *doc, const json_t *attrs, struct nph_error *err)
{
    const char *s;
    int rc, b;
    if (ln_copy_common(doc, attrs, err))
        return -1;
    if ((rc = ln_get_str(attrs, "device_id", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "device_id", json_string(s));
    if ((rc = ln_get_str(attrs, "device_owner", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "device_owner", json_string(s));
    if ((rc = ln_get_str(attrs, "binding:host_id", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "binding:host_id", json_string(s));
    if ((rc = ln_get_str(attrs, "dns_name", 255, 0, &s, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "dns_name", json_string(s));
    if ((rc = ln_get_bool(attrs, "port_security_enabled", &b, err)) < 0)
        return -1;
    if (rc == 0)
        json_object_set_new(doc, "port_security_enabled", json_boolean(b));
    if (json_object_get(attrs, "allowed_address_pairs")) {
        json_t *v = json_object_get(attrs, "allowed_address_pairs");
        if (!json_is_array(v))
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Invalid input for allowed_address_pairs. Reason: %s is not a list.",
                          "value");
        json_object_set(doc, "allowed_address_pairs", v);
    }
    json_object_set_new(
        doc, "status",
        json_string(*json_string_value(json_object_get(doc, "device_id")) ? "ACTIVE" : "DOWN"));
    return 0;
}

static json_t *port_new(struct nph_db *db, const struct local_network_caller *c, const json_t *net,
                        const json_t *attrs, int internal, struct nph_error *err)
{
    const char *mac = NULL, *net_id = json_string_value(json_object_get(net, "id"));
    json_t *doc, *fixed = NULL, *groups = NULL, *fx = json_object_get(attrs, "fixed_ips");
    char macbuf[18];
    const char *owner;
    int ps;
    if (!(doc = ln_doc_new(c, attrs, err)))
        return NULL;
    json_object_set_new(doc, "network_id", json_string(net_id));
    json_object_set_new(doc, "admin_state_up", json_true());
    json_object_set_new(doc, "device_id", json_string(""));
    json_object_set_new(doc, "device_owner", json_string(""));
    json_object_set_new(doc, "allowed_address_pairs", json_array());
    json_object_set_new(doc, "extra_dhcp_opts", json_array());
    json_object_set_new(doc, "binding:vnic_type", json_string("normal"));
    json_object_set_new(doc, "binding:host_id", json_string(""));
    json_object_set_new(doc, "binding:vif_type", json_string("unbound"));
    json_object_set_new(doc, "binding:vif_details", json_object());
    json_object_set_new(doc, "binding:profile", json_object());
    json_object_set_new(doc, "dns_name", json_string(""));
    json_object_set(doc, "port_security_enabled",
                    json_object_get(net, "port_security_enabled")
                        ? json_object_get(net, "port_security_enabled")
                        : json_true());
    if (port_fill(doc, attrs, err))
        goto fail;
    if (ln_get_str(attrs, "mac_address", 17, 0, &mac, err) < 0)
        goto fail;
    if (mac && !mac_valid(mac)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Invalid input for mac_address. Reason: '%.32s' is not a valid MAC address.", mac);
        goto fail;
    }
    if (fx && !json_is_array(fx)) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Invalid input for fixed_ips. Reason: %s is not a list.", "value");
        goto fail;
    }
    owner = json_string_value(json_object_get(doc, "device_owner"));
    ps = json_is_true(json_object_get(doc, "port_security_enabled"));
    if (!internal &&
        !(groups = port_groups(db, c, json_string_value(json_object_get(doc, "project_id")),
                               json_object_get(attrs, "security_groups"), ps, err)))
        goto fail;
    json_object_set_new(doc, "security_groups", groups ? groups : json_array());
    groups = NULL;
    if (!internal &&
        ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_PORT, err))
        goto fail;
    if (mac_take(db, mac, json_string_value(json_object_get(doc, "id")), net_id, macbuf, err))
        goto fail;
    json_object_set_new(doc, "mac_address", json_string(macbuf));
    fixed = ln_ipam_allocate(db, net, fx, json_string_value(json_object_get(doc, "id")), macbuf,
                             strncmp(owner, "network:router", 14) == 0, err);
    if (!fixed)
        goto fail;
    json_object_set_new(doc, "fixed_ips", fixed);
    if (ln_row_insert(db, LN_PORT, doc, net_id, 0, err))
        goto fail;
    return doc;
fail:
    json_decref(groups);
    json_decref(doc);
    return NULL;
}

json_t *ln_port_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err)
{
    const char *net_id = NULL;
    json_t *net, *doc;
    if (ln_check_attrs(attrs, port_attrs, err))
        return NULL;
    if (ln_get_str(attrs, "network_id", 64, 0, &net_id, err) != 0) {
        if (!err || err->code == NPH_E_OK)
            LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                   "Failed to parse request. Required attribute 'network_id' not specified");
        return NULL;
    }
    if (!(net = ln_fetch(db, c, LN_NETWORK, net_id, err)))
        return NULL;
    /* a project uses its own and shared networks; an external one only through routers and
     * floating IPs */
    if (!c->is_admin && !json_is_true(json_object_get(net, "shared")) &&
        ln_owner_check(c, net, "create_port:network", err)) {
        json_decref(net);
        return NULL;
    }
    doc = port_new(db, c, net, attrs, 0, err);
    json_decref(net);
    return doc;
}

json_t *ln_port_internal(struct nph_db *db, const json_t *net, const char *project_id,
                         const char *owner, const char *device_id, const json_t *fixed_ips,
                         struct nph_error *err)
{
    struct local_network_caller c = {project_id, 1};
    json_t *attrs = json_pack("{s:s,s:s,s:s}", "device_owner", owner, "device_id", device_id,
                              "project_id", project_id);
    json_t *doc;
    if (fixed_ips)
        json_object_set_new(attrs, "fixed_ips", json_deep_copy(fixed_ips));
    doc = port_new(db, &c, net, attrs, 1, err);
    json_decref(attrs);
    return doc;
}

int ln_port_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                   const json_t *attrs, struct nph_error *err)
{
    static const char *const mutable[] = {"name",
                                          "description",
                                          "admin_state_up",
                                          "fixed_ips",
                                          "device_id",
                                          "device_owner",
                                          "security_groups",
                                          "port_security_enabled",
                                          "allowed_address_pairs",
                                          "extra_dhcp_opts",
                                          "binding:host_id",
                                          "binding:vnic_type",
                                          "binding:profile",
                                          "dns_name",
                                          "qos_policy_id",
                                          "mac_address",
                                          NULL};
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *v;
    if (ln_check_attrs(attrs, mutable, err))
        return -1;
    if ((v = json_object_get(attrs, "mac_address")) &&
        !json_equal(v, json_object_get(doc, "mac_address")))
        return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                      "Cannot update read-only attribute mac_address");
    if (port_fill(doc, attrs, err))
        return -1;
    if ((v = json_object_get(attrs, "fixed_ips"))) {
        json_t *net, *fixed;
        if (!json_is_array(v))
            return LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
                          "Invalid input for fixed_ips. Reason: %s is not a list.", "value");
        if (!(net = ln_fetch(db, NULL, LN_NETWORK,
                             json_string_value(json_object_get(doc, "network_id")), err)))
            return -1;
        if (ln_ipam_release(db, id, err)) {
            json_decref(net);
            return -1;
        }
        fixed =
            ln_ipam_allocate(db, net, v, id, json_string_value(json_object_get(doc, "mac_address")),
                             strncmp(json_string_value(json_object_get(doc, "device_owner")),
                                     "network:router", 14) == 0,
                             err);
        json_decref(net);
        if (!fixed)
            return -1;
        json_object_set_new(doc, "fixed_ips", fixed);
    }
    if ((v = json_object_get(attrs, "security_groups"))) {
        json_t *g = port_groups(db, c, json_string_value(json_object_get(doc, "project_id")),
                                json_is_null(v) ? json_array() : v,
                                json_is_true(json_object_get(doc, "port_security_enabled")), err);
        if (!g)
            return -1;
        json_object_set_new(doc, "security_groups", g);
    }
    if (!json_is_true(json_object_get(doc, "port_security_enabled")) &&
        json_array_size(json_object_get(doc, "security_groups")))
        return LN_SET(err, NPH_E_CONFLICT, "PortSecurityPortHasSecurityGroup",
                      "Port has security group associated. Cannot disable port security or ip "
                      "address until security group is removed");
    return ln_row_update(db, doc, 0, err);
}

int ln_port_remove(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (ln_ipam_release(db, id, err) ||
        nph_db_execf(db, err, "DELETE FROM net_mac WHERE port_id = ?", "s", id) < 0 ||
        ln_fip_port_gone(db, id, err))
        return -1;
    return ln_row_delete(db, id, err);
}

int ln_port_delete(struct nph_db *db, const json_t *doc, struct nph_error *err)
{
    const char *owner = json_string_value(json_object_get(doc, "device_owner"));
    if (owner &&
        (strcmp(owner, "network:router_interface") == 0 ||
         strcmp(owner, "network:router_gateway") == 0 || strcmp(owner, "network:floatingip") == 0))
        return LN_SET(err, NPH_E_CONFLICT, "ServicePortInUse",
                      "Port %s cannot be deleted directly via the port API: has device owner %s.",
                      json_string_value(json_object_get(doc, "id")), owner);
    return ln_port_remove(db, doc, err);
}

/* ---- servers' ports ----------------------------------------------------------------------- */

json_t *local_network_port_bind(struct local_network *ln, const struct local_network_caller *c,
                                const char *network_id, const char *port_id, const char *server_id,
                                const json_t *security_groups, struct nph_error *err)
{
    json_t *attrs = NULL, *doc = NULL, *old = NULL;
    struct nph_db *db = NULL;
    if (!port_id) {
        attrs = json_pack("{s:s,s:s,s:s}", "network_id", network_id, "device_owner", "compute:nova",
                          "device_id", server_id);
        if (security_groups)
            json_object_set_new(attrs, "security_groups", json_deep_copy(security_groups));
        doc = local_network_create(ln, c, LN_PORT, attrs, err);
        json_decref(attrs);
        return doc;
    }
    if (!(db = nph_store_acquire(ln->store, err)))
        return NULL;
    if (nph_db_begin(db, err) || !(doc = ln_fetch(db, c, LN_PORT, port_id, err)))
        goto fail;
    if (*json_string_value(json_object_get(doc, "device_id"))) {
        LN_SET(err, NPH_E_CONFLICT, "PortInUse",
               "Unable to complete operation on port %s for network %s. Port already has an "
               "attached device %s.",
               port_id, json_string_value(json_object_get(doc, "network_id")),
               json_string_value(json_object_get(doc, "device_id")));
        goto fail;
    }
    if (!(old = json_deep_copy(doc))) {
        nph_error_nomem(err);
        goto fail;
    }
    json_object_set_new(doc, "device_id", json_string(server_id));
    json_object_set_new(doc, "device_owner", json_string("compute:nova"));
    json_object_set_new(doc, "status", json_string("ACTIVE"));
    json_object_set_new(doc, "nph:bound", json_true()); /* given, not created, for the server */
    if (ln_row_update(db, doc, 0, err) || ln_virt_apply(ln, db, LN_PORT, "update", doc, old, err) ||
        nph_db_commit(db, err))
        goto fail;
    nph_store_release(db);
    db = NULL;
    /* its nwfilter, the interface on the server's domain; on failure the port is given back */
    if (ln_virt_filters(ln, LN_PORT, "update", doc, old, err) ||
        (ln->hook && ln->hook(ln->hook_ctx, LN_PORT, "update", doc, old, err))) {
        struct nph_error e2 = {0};
        json_t *back = NULL;
        if (!(db = nph_store_acquire(ln->store, &e2)) || nph_db_begin(db, &e2) ||
            !(back = json_deep_copy(old)) || ln_row_update(db, back, 0, &e2) ||
            nph_db_commit(db, &e2))
            nph_log(NPH_LOG_ERROR, "network.undo_failed", "id", port_id, "error", e2.msg, NULL);
        json_decref(back);
        goto fail;
    }
    json_decref(old);
    return doc;
fail:
    json_decref(doc);
    json_decref(old);
    nph_store_release(db);
    return NULL;
}

/* The docs of one kind whose device column is `device` (indexed), oldest first. */
static json_t *rows_by_device(struct local_network *ln, const char *device, const char *kind,
                              struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    struct nph_stmt *st = NULL;
    json_t *out;
    int rc;
    if (!db)
        return NULL;
    out = json_array();
    rc = nph_db_queryf(db, err, &st,
                       "SELECT doc FROM net_resource WHERE device_id = ? AND kind = ?"
                       " ORDER BY created_at, id",
                       "ss", device, kind);
    while (rc == 1) {
        json_t *d = json_loads(nph_stmt_col_text(st, 0), 0, NULL);
        if (d)
            json_array_append_new(out, d);
        rc = nph_stmt_step(st, err);
    }
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *local_network_server_ports(struct local_network *ln, const char *server_id,
                                   struct nph_error *err)
{
    return rows_by_device(ln, server_id, "port", err);
}

json_t *local_network_port_floatingips(struct local_network *ln, const char *port_id,
                                       struct nph_error *err)
{
    return rows_by_device(ln, port_id, "floatingip", err);
}

int local_network_server_release(struct local_network *ln, const char *server_id,
                                 struct nph_error *err)
{
    json_t *ports = local_network_server_ports(ln, server_id, err), *p;
    struct nph_db *db;
    size_t i;
    int rc = -1;
    if (!ports)
        return -1;
    if (!(db = nph_store_acquire(ln->store, err)))
        goto cleanup;
    if (nph_db_begin(db, err))
        goto cleanup;
    json_array_foreach(ports, i, p)
    {
        if (json_is_true(json_object_get(p, "nph:bound"))) {
            json_t *was = json_deep_copy(p);
            json_object_del(p, "nph:bound");
            json_object_set_new(p, "device_id", json_string(""));
            json_object_set_new(p, "device_owner", json_string(""));
            json_object_set_new(p, "status", json_string("DOWN"));
            /* unbound: its DHCP host entry goes */
            if (!was || ln_row_update(db, p, 0, err) ||
                ln_virt_apply(ln, db, LN_PORT, "update", p, was, err)) {
                json_decref(was);
                goto cleanup;
            }
            json_decref(was);
        } else if (ln_port_remove(db, p, err) ||
                   ln_virt_apply(ln, db, LN_PORT, "delete", p, NULL, err)) {
            goto cleanup;
        } else {
            json_object_set_new(p, "nph:gone", json_true()); /* (this copy only) */
        }
    }
    rc = nph_db_commit(db, err);
    nph_store_release(db); /* (before ln_virt_filters takes a connection of its own) */
    db = NULL;
    /* their nwfilters: still in use while the server's domain goes, so retried later */
    json_array_foreach(ports, i, p) if (rc == 0 && json_is_true(json_object_get(p, "nph:gone")))
    {
        struct nph_error e2 = {0};
        if (ln_virt_filters(ln, LN_PORT, "delete", p, NULL, &e2))
            nph_log(NPH_LOG_ERROR, "network.nwfilter_failed", "id",
                    json_string_value(json_object_get(p, "id")), "error", e2.msg, NULL);
        ln_virt_port_gone(ln, json_string_value(json_object_get(p, "id")));
    }
cleanup:
    if (rc && db)
        nph_db_rollback(db, NULL);
    nph_store_release(db);
    json_decref(ports);
    return rc;
}
