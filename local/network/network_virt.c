/*
 * network_virt.c - networks realised in libvirt (docs/network.md, "Realisation").
 *
 * Each Nephele network is a persistent libvirt network named "nephele-<id>" with the network's
 * id as its UUID, on a bridge "nph<12 hex digits of the id>": isolated (no <forward>), or NAT
 * (<forward mode='nat'/>) for an external network (router:external) once it has an address
 * (libvirt's NAT needs one on the bridge), with the network's MTU.
 * Its first IPv4 subnet with DHCP enabled and a gateway gives the <ip>: the bridge takes the
 * gateway address, dnsmasq serves the subnet's allocation pools as <range>s and every port with
 * an address on that subnet as a <host mac ip> entry, so a guest's DHCP answer is the port's
 * fixed IP. Ports coming and going are virNetworkUpdate calls on the <host> entries (live and
 * persistent); a subnet added, changed or removed, or a changed MTU or external flag, defines
 * the network anew (destroy, define, start). Deleting the network destroys and undefines it.
 *
 * Everything here runs inside the transaction of the Nephele change (local_network.c calls
 * ln_virt_apply before committing): a libvirt failure fails the change, which is rolled back.
 * Without a libvirt URI (local_network_set_libvirt not called) nothing is realised.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/tree.h>

#include "network_internal.h"
#include "nph_log.h"

#define X(s)    ((const xmlChar *)(s))
#define S(o, k) json_string_value(json_object_get((o), (k)))

#define LN_DHCP_RANGE_MAX 65534 /* addresses in one libvirt <range> ("> 65535" in its words) */

struct ln_virt {
    pthread_mutex_t lock;
    char *uri;
    virConnectPtr conn;
    int nwfilter;          /* the connection has nwfilters: 1, none (test driver): 0, unknown: -1 */
    json_t *pending;       /* names of filters whose undefine failed (in use): retried */
    pthread_mutex_t flock; /* filter changes, one at a time */
};

static void quiet(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

const char *local_network_virt_name(const char *network_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "nephele-%s", network_id);
    return buf;
}

/* "nph" + the first 12 hex digits of the id: a Linux interface name has at most 15 bytes. */
static void bridge_name(const char *id, char *out)
{
    size_t n = 0;
    memcpy(out, "nph", 3);
    for (const char *p = id; *p && n < 12; p++)
        if (*p != '-')
            out[3 + n++] = *p;
    out[3 + n] = '\0';
}

static int virt_error(struct nph_error *err, const char *what, const char *name)
{
    nph_error_set(err, NPH_E_BACKEND, "%s '%s' in libvirt: %s", what, name,
                  virGetLastErrorMessage());
    return nph_error_detail(err, "%s", "NetworkRealisationFailed");
}

static virConnectPtr conn_get(struct ln_virt *v, struct nph_error *err)
{
    virConnectPtr c;
    pthread_mutex_lock(&v->lock);
    if (v->conn && virConnectIsAlive(v->conn) != 1) {
        virConnectClose(v->conn);
        v->conn = NULL;
    }
    if (!v->conn)
        v->conn = virConnectOpen(v->uri);
    c = v->conn;
    pthread_mutex_unlock(&v->lock);
    if (!c) {
        nph_error_set(err, NPH_E_UNAVAILABLE, "cannot connect to libvirt at '%s': %s", v->uri,
                      virGetLastErrorMessage());
        nph_error_detail(err, "%s", "NetworkRealisationFailed");
    }
    return c;
}

/* The subnet that gets the libvirt <ip> and DHCP: the first IPv4 one with DHCP and a gateway. */
static const json_t *dhcp_subnet(const json_t *subnets)
{
    size_t i;
    const json_t *s;
    json_array_foreach(subnets, i, s)
    {
        if (json_integer_value(json_object_get(s, "ip_version")) == 4 &&
            json_is_true(json_object_get(s, "enable_dhcp")) && S(s, "gateway_ip"))
            return s;
    }
    return NULL;
}

/* The port's address on the DHCP subnet, or NULL. Only ports bound to a server (device_owner
 * "compute:...", a device_id) are DHCP clients: a port gets its host entry when a server takes
 * it, not at its create (which costs no libvirt call then), and loses it when it is unbound.
 * Ports of routers and floating IPs are not DHCP clients (a router interface holds the gateway
 * address, which is the bridge's). */
static const char *port_dhcp_ip(const json_t *port, const char *subnet_id)
{
    const char *owner = S(port, "device_owner"), *dev = S(port, "device_id");
    size_t i;
    const json_t *f;
    if (!subnet_id || !owner || strncmp(owner, "compute:", 8) != 0 || !dev || !*dev)
        return NULL;
    json_array_foreach(json_object_get(port, "fixed_ips"), i, f)
    {
        const char *sid = S(f, "subnet_id");
        if (sid && strcmp(sid, subnet_id) == 0)
            return S(f, "ip_address");
    }
    return NULL;
}

static char *host_xml(const char *mac, const char *ip)
{
    xmlNodePtr n = xmlNewNode(NULL, X("host"));
    xmlBufferPtr b = xmlBufferCreate();
    char *out = NULL;
    if (n && b) {
        xmlNewProp(n, X("mac"), X(mac));
        xmlNewProp(n, X("ip"), X(ip));
        if (xmlNodeDump(b, NULL, n, 0, 0) >= 0)
            out = strdup((const char *)xmlBufferContent(b));
    }
    xmlFreeNode(n);
    xmlBufferFree(b);
    return out;
}

/* The libvirt network XML of a Nephele network, its subnets and ports. */
static char *network_xml(const json_t *net, const json_t *subnets, const json_t *ports,
                         struct nph_error *err)
{
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr root = xmlNewNode(NULL, X("network")), n, ip, dhcp;
    const json_t *sub = dhcp_subnet(subnets), *p;
    const char *id = S(net, "id");
    char name[64], br[16], buf[32];
    size_t i;
    if (!doc || !root) {
        xmlFreeDoc(doc);
        xmlFreeNode(root);
        nph_error_nomem(err);
        return NULL;
    }
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, X("name"), X(local_network_virt_name(id, name, sizeof(name))));
    xmlNewTextChild(root, NULL, X("uuid"), X(id));
    /* NAT needs an address on the bridge: an external network without one is isolated */
    if (sub && json_is_true(json_object_get(net, "router:external")))
        xmlNewProp(xmlNewChild(root, NULL, X("forward"), NULL), X("mode"), X("nat"));
    bridge_name(id, br);
    n = xmlNewChild(root, NULL, X("bridge"), NULL);
    xmlNewProp(n, X("name"), X(br));
    xmlNewProp(n, X("stp"), X("off"));
    snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(json_object_get(net, "mtu")));
    if (json_integer_value(json_object_get(net, "mtu")) > 0)
        xmlNewProp(xmlNewChild(root, NULL, X("mtu"), NULL), X("size"), X(buf));
    if (sub) {
        struct ln_cidr c;
        if (ln_cidr_parse(S(sub, "cidr"), 1, &c, err)) {
            xmlFreeDoc(doc);
            return NULL;
        }
        ip = xmlNewChild(root, NULL, X("ip"), NULL);
        xmlNewProp(ip, X("address"), X(S(sub, "gateway_ip")));
        snprintf(buf, sizeof(buf), "%d", c.prefix);
        xmlNewProp(ip, X("prefix"), X(buf));
        dhcp = xmlNewChild(ip, NULL, X("dhcp"), NULL);
        json_array_foreach(json_object_get(sub, "allocation_pools"), i, p)
        {
            /* libvirt refuses a range of 65,535 addresses or more: a larger pool (a /15 say)
             * is served by its first 65,534 for dynamic leases; every port's address, in the
             * range or not, is served by its host entry below. */
            struct ln_addr a, b, last;
            char end[64];
            snprintf(end, sizeof(end), "%s", S(p, "end"));
            if (ln_addr_parse(S(p, "start"), &a, NULL) == 0 &&
                ln_addr_parse(S(p, "end"), &b, NULL) == 0) {
                last = a;
                ln_addr_add(&last, LN_DHCP_RANGE_MAX - 1);
                if (ln_addr_cmp(&last, &b) < 0)
                    ln_addr_format(&last, end, sizeof(end));
            }
            n = xmlNewChild(dhcp, NULL, X("range"), NULL);
            xmlNewProp(n, X("start"), X(S(p, "start")));
            xmlNewProp(n, X("end"), X(end));
        }
        json_array_foreach(ports, i, p)
        {
            const char *addr = port_dhcp_ip(p, S(sub, "id"));
            if (!addr)
                continue;
            n = xmlNewChild(dhcp, NULL, X("host"), NULL);
            xmlNewProp(n, X("mac"), X(S(p, "mac_address")));
            xmlNewProp(n, X("ip"), X(addr));
        }
    }
    return net_xml_dump(doc, err);
}

/* Define (or redefine) and start the libvirt network of `net_id` from the store as `db` sees it
 * now. On failure the previous definition is put back. */
static int net_sync(struct ln_virt *v, struct nph_db *db, const char *net_id, struct nph_error *err)
{
    virConnectPtr conn = conn_get(v, err);
    json_t *net = NULL, *subnets = NULL, *ports = NULL;
    virNetworkPtr old = NULL, nw = NULL;
    char *xml = NULL, *old_xml = NULL, name[64];
    int rc = -1, was_active = 0;
    if (!conn)
        return -1;
    local_network_virt_name(net_id, name, sizeof(name));
    if (!(net = ln_fetch(db, NULL, LN_NETWORK, net_id, err)) ||
        !(subnets = ln_children(db, LN_SUBNET, net_id, err)) ||
        !(ports = ln_children(db, LN_PORT, net_id, err)) ||
        !(xml = network_xml(net, subnets, ports, err)))
        goto cleanup;
    if ((old = virNetworkLookupByUUIDString(conn, net_id))) {
        was_active = virNetworkIsActive(old) == 1;
        old_xml = virNetworkGetXMLDesc(old, VIR_NETWORK_XML_INACTIVE);
        if (was_active && virNetworkDestroy(old) != 0) {
            virt_error(err, "cannot stop network", name);
            goto cleanup;
        }
    }
    if (!(nw = virNetworkDefineXML(conn, xml))) {
        virt_error(err, "cannot define network", name);
        goto restore;
    }
    if (virNetworkCreate(nw) != 0) {
        virt_error(err, "cannot start network", name);
        if (!old)
            virNetworkUndefine(nw);
        goto restore;
    }
    rc = 0;
    goto cleanup;
restore:
    if (old_xml) {
        virNetworkPtr back = virNetworkDefineXML(conn, old_xml);
        if (back && was_active)
            virNetworkCreate(back);
        if (back)
            virNetworkFree(back);
    }
cleanup:
    if (nw)
        virNetworkFree(nw);
    if (old)
        virNetworkFree(old);
    free(xml);
    free(old_xml);
    json_decref(net);
    json_decref(subnets);
    json_decref(ports);
    return rc;
}

static int net_remove(struct ln_virt *v, const char *net_id, struct nph_error *err)
{
    virConnectPtr conn = conn_get(v, err);
    virNetworkPtr nw;
    char name[64];
    int rc = 0;
    if (!conn)
        return -1;
    local_network_virt_name(net_id, name, sizeof(name));
    if (!(nw = virNetworkLookupByUUIDString(conn, net_id)))
        return 0; /* never realised (or removed by hand): nothing to do */
    if (virNetworkIsActive(nw) == 1 && virNetworkDestroy(nw) != 0)
        rc = virt_error(err, "cannot stop network", name);
    else if (virNetworkIsPersistent(nw) == 1 && virNetworkUndefine(nw) != 0)
        rc = virt_error(err, "cannot undefine network", name);
    virNetworkFree(nw);
    return rc;
}

/* Add (add = 1) or delete the <host> entry of a port. */
static int host_update(struct ln_virt *v, struct nph_db *db, const json_t *port, int add,
                       struct nph_error *err)
{
    const char *net_id = S(port, "network_id");
    virConnectPtr conn;
    virNetworkPtr nw;
    json_t *subnets;
    const char *addr;
    char *xml, name[64];
    unsigned flags = VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    int rc;
    const char *owner = S(port, "device_owner"), *dev = S(port, "device_id");
    /* not a server's: no DHCP client (port_dhcp_ip), nothing to read */
    if (!owner || strncmp(owner, "compute:", 8) != 0 || !dev || !*dev)
        return 0;
    if (!net_id || !(subnets = ln_children(db, LN_SUBNET, net_id, err)))
        return net_id ? -1 : 0;
    const json_t *sub = dhcp_subnet(subnets);
    addr = sub ? port_dhcp_ip(port, S(sub, "id")) : NULL;
    if (!addr || !S(port, "mac_address")) {
        json_decref(subnets);
        return 0; /* no address served by DHCP */
    }
    xml = host_xml(S(port, "mac_address"), addr);
    json_decref(subnets);
    if (!xml)
        return nph_error_nomem(err);
    if (!(conn = conn_get(v, err))) {
        free(xml);
        return -1;
    }
    if (!(nw = virNetworkLookupByUUIDString(conn, net_id))) {
        free(xml);
        /* not realised yet (made before libvirt was configured): realise it whole, which
         * takes the port's entry as the transaction sees it; a deleted one has nothing left */
        return add ? net_sync(v, db, net_id, err) : 0;
    }
    if (virNetworkIsActive(nw) == 1)
        flags |= VIR_NETWORK_UPDATE_AFFECT_LIVE;
    rc = virNetworkUpdate(
        nw, add ? VIR_NETWORK_UPDATE_COMMAND_ADD_LAST : VIR_NETWORK_UPDATE_COMMAND_DELETE,
        VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, flags);
    if (rc != 0 && !add) {
        virErrorPtr e = virGetLastError();
        /* an entry already gone (a network defined anew without it) is what we want */
        if (e && e->code == VIR_ERR_OPERATION_INVALID)
            rc = 0;
    }
    if (rc != 0)
        virt_error(err,
                   add ? "cannot add the port's DHCP host entry to network"
                       : "cannot remove the port's DHCP host entry from network",
                   local_network_virt_name(net_id, name, sizeof(name)));
    virNetworkFree(nw);
    free(xml);
    return rc == 0 ? 0 : -1;
}

static int same(const json_t *a, const json_t *b, const char *key)
{
    return json_equal(json_object_get(a, key), json_object_get(b, key));
}

/* ---- security groups as nwfilters (network_filter.c builds the XML) ----------------------- */

/* 1 when the connection has nwfilters (libvirt's test driver has none), 0 not, -1 no connection */
static int nwf_probe(struct ln_virt *v, struct nph_error *err)
{
    virConnectPtr conn;
    int have;
    pthread_mutex_lock(&v->lock);
    have = v->nwfilter;
    pthread_mutex_unlock(&v->lock);
    if (have >= 0)
        return have;
    if (!(conn = conn_get(v, err)))
        return -1;
    have = virConnectNumOfNWFilters(conn) >= 0;
    if (!have)
        nph_log(NPH_LOG_INFO, "network.no_nwfilter", "uri", v->uri, "error",
                virGetLastErrorMessage(), NULL);
    pthread_mutex_lock(&v->lock);
    v->nwfilter = have;
    pthread_mutex_unlock(&v->lock);
    return have;
}

static int filter_define(virConnectPtr conn, const char *xml, const char *name,
                         struct nph_error *err)
{
    virNWFilterPtr f;
    if (!xml)
        return -1;
    if (!(f = virNWFilterDefineXML(conn, xml))) {
        nph_error_set(err, NPH_E_BACKEND, "cannot define nwfilter '%s' in libvirt: %s", name,
                      virGetLastErrorMessage());
        return nph_error_detail(err, "%s", "NetworkRealisationFailed");
    }
    virNWFilterFree(f);
    return 0;
}

/* Undefine a filter; one in use (a domain being deleted still has it) goes to the pending list.
 * 1 when it is gone (or never was), 0 pending. */
static int filter_undefine(struct ln_virt *v, virConnectPtr conn, const char *name)
{
    virNWFilterPtr f = virNWFilterLookupByName(conn, name);
    int rc;
    if (!f)
        return 1;
    rc = virNWFilterUndefine(f);
    virNWFilterFree(f);
    if (rc == 0)
        return 1;
    nph_log(NPH_LOG_DEBUG, "network.nwfilter_pending", "name", name, "error",
            virGetLastErrorMessage(), NULL);
    pthread_mutex_lock(&v->lock);
    json_array_append_new(v->pending, json_string(name));
    pthread_mutex_unlock(&v->lock);
    return 0;
}

/* Try the pending undefines again. */
static void filter_sweep(struct ln_virt *v, virConnectPtr conn)
{
    json_t *names;
    size_t i;
    json_t *n;
    pthread_mutex_lock(&v->lock);
    names = v->pending;
    v->pending = json_array_size(names) ? json_array() : NULL;
    if (!v->pending) {
        v->pending = names;
        names = NULL;
    }
    pthread_mutex_unlock(&v->lock);
    if (!names)
        return;
    json_array_foreach(names, i, n) filter_undefine(v, conn, json_string_value(n));
    json_decref(names);
}

/* {"<group id>": [addresses of the ports in the group]} over every port. */
static json_t *group_members(struct nph_db *db, struct nph_error *err)
{
    json_t *ports = ln_children(db, LN_PORT, NULL, err), *out, *p, *g, *f;
    size_t i, j, k;
    if (!ports)
        return NULL;
    out = json_object();
    json_array_foreach(ports, i, p)
    {
        json_array_foreach(json_object_get(p, "security_groups"), j, g)
        {
            json_t *list;
            if (!json_is_string(g))
                continue;
            if (!(list = json_object_get(out, json_string_value(g)))) {
                list = json_array();
                json_object_set_new(out, json_string_value(g), list);
            }
            json_array_foreach(json_object_get(p, "fixed_ips"), k, f)
                json_array_append(list, json_object_get(f, "ip_address"));
        }
    }
    json_decref(ports);
    return out;
}

static int sg_sync(virConnectPtr conn, struct nph_db *db, const char *sg_id, struct nph_error *err)
{
    json_t *rules = ln_children(db, LN_SGRULE, sg_id, err), *members = NULL, *r;
    char name[96];
    size_t i;
    int rc = -1, remote = 0;
    if (!rules)
        return -1;
    json_array_foreach(rules, i, r) remote |= json_is_string(json_object_get(r, "remote_group_id"));
    if (!remote || (members = group_members(db, err))) {
        char *xml = ln_filter_sg_xml(sg_id, rules, members, err);
        rc = filter_define(conn, xml, local_network_filter_name("sg", sg_id, name, sizeof(name)),
                           err);
        free(xml);
    }
    json_decref(members);
    json_decref(rules);
    return rc;
}

static int in_list(const json_t *list, const char *s)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i,
                       e) if (json_is_string(e) && strcmp(json_string_value(e), s) == 0) return 1;
    return 0;
}

/* The groups with a rule whose remote group is one of `groups`: define them anew (their member
 * addresses changed). */
static int sg_remote_refresh(virConnectPtr conn, struct nph_db *db, const json_t *groups,
                             struct nph_error *err)
{
    json_t *rules, *done, *r;
    size_t i;
    int rc = 0;
    if (!json_array_size(groups))
        return 0;
    if (!(rules = ln_children(db, LN_SGRULE, NULL, err)))
        return -1;
    done = json_array();
    json_array_foreach(rules, i, r)
    {
        const char *rg = S(r, "remote_group_id"), *sg = S(r, "security_group_id");
        if (!rg || !sg || !in_list(groups, rg) || in_list(done, sg))
            continue;
        json_array_append_new(done, json_string(sg));
        if ((rc = sg_sync(conn, db, sg, err)))
            break;
    }
    json_decref(done);
    json_decref(rules);
    return rc;
}

/* Define a port's filter (and its groups' filters libvirt lacks), or undefine it when the port
 * has none. */
static int port_sync(struct ln_virt *v, virConnectPtr conn, struct nph_db *db, const json_t *port,
                     struct nph_error *err)
{
    char name[96];
    size_t i;
    const json_t *g;
    char *xml;
    int rc;
    local_network_filter_name("port", S(port, "id"), name, sizeof(name));
    if (!ln_port_filtered(port)) {
        filter_undefine(v, conn, name);
        return 0;
    }
    json_array_foreach(json_object_get(port, "security_groups"), i, g)
    {
        char sg[96];
        virNWFilterPtr f;
        if (!json_is_string(g))
            continue;
        f = virNWFilterLookupByName(
            conn, local_network_filter_name("sg", json_string_value(g), sg, sizeof(sg)));
        if (f)
            virNWFilterFree(f);
        else if (sg_sync(conn, db, json_string_value(g), err))
            return -1;
    }
    xml = ln_filter_port_xml(port, err);
    rc = filter_define(conn, xml, name, err);
    free(xml);
    return rc;
}

/* The groups of a port before and after a change (either may be NULL). */
static json_t *groups_of(const json_t *a, const json_t *b)
{
    json_t *out = json_array(), *g;
    size_t i;
    json_array_foreach(json_object_get(a, "security_groups"), i, g) json_array_append(out, g);
    json_array_foreach(json_object_get(b, "security_groups"), i,
                       g) if (json_is_string(g) && !in_list(out, json_string_value(g)))
        json_array_append(out, g);
    return out;
}

static int filter_apply(struct ln_virt *v, struct nph_db *db, enum local_network_kind kind,
                        int create, int del, const json_t *doc, const json_t *old,
                        struct nph_error *err)
{
    virConnectPtr conn;
    char name[96];
    int rc = 0;
    if (!(conn = conn_get(v, err)))
        return -1;
    filter_sweep(v, conn); /* any change retries the undefines left pending */
    switch (kind) {
    case LN_SECGROUP:
        if (del)
            filter_undefine(v, conn,
                            local_network_filter_name("sg", S(doc, "id"), name, sizeof(name)));
        else if (create)
            rc = sg_sync(conn, db, S(doc, "id"), err);
        return rc;
    case LN_SGRULE:
        return sg_sync(conn, db, S(doc, "security_group_id"), err);
    default: {
        json_t *groups;
        if (!del && (rc = port_sync(v, conn, db, doc, err)))
            return rc;
        /* the groups naming the port's groups as remote groups see its addresses */
        if (!create && !del && old && same(doc, old, "fixed_ips") &&
            same(doc, old, "security_groups"))
            return 0;
        groups = groups_of(doc, old);
        rc = sg_remote_refresh(conn, db, groups, err);
        json_decref(groups);
        return rc;
    }
    }
}

void ln_virt_port_gone(struct local_network *ln, const char *port_id)
{
    struct ln_virt *v = ln->virt;
    struct nph_error e = {0};
    virConnectPtr conn;
    char name[96];
    if (!v || nwf_probe(v, &e) != 1 || !(conn = conn_get(v, &e)))
        return;
    filter_undefine(v, conn, local_network_filter_name("port", port_id, name, sizeof(name)));
}

const char *local_network_port_filter(struct local_network *ln, const json_t *port, char *buf,
                                      size_t cap)
{
    struct nph_error e = {0};
    if (!ln->virt || !ln_port_filtered(port) || nwf_probe(ln->virt, &e) != 1)
        return NULL;
    return local_network_filter_name("port", S(port, "id"), buf, cap);
}

/* Networks, subnets and ports in libvirt networks. */
static int net_apply(struct ln_virt *v, struct nph_db *db, enum local_network_kind kind, int create,
                     int del, const json_t *doc, const json_t *old, struct nph_error *err)
{
    switch (kind) {
    case LN_NETWORK:
        if (del)
            return net_remove(v, S(doc, "id"), err);
        if (create || !old || !same(doc, old, "mtu") || !same(doc, old, "router:external"))
            return net_sync(v, db, S(doc, "id"), err);
        return 0;
    case LN_SUBNET:
        if (!create && !del && old && same(doc, old, "gateway_ip") &&
            same(doc, old, "enable_dhcp") && same(doc, old, "allocation_pools"))
            return 0;
        return net_sync(v, db, S(doc, "network_id"), err);
    case LN_PORT:
        if (create)
            return host_update(v, db, doc, 1, err);
        if (del)
            return host_update(v, db, doc, 0, err);
        if (old && same(doc, old, "mac_address") && same(doc, old, "fixed_ips") &&
            same(doc, old, "device_owner") && same(doc, old, "device_id"))
            return 0;
        if (old && host_update(v, db, old, 0, err))
            return -1;
        return host_update(v, db, doc, 1, err);
    default:
        return 0; /* routers and floating IPs are records (docs/network.md) */
    }
}

int ln_virt_apply(struct local_network *ln, struct nph_db *db, enum local_network_kind kind,
                  const char *what, const json_t *doc, const json_t *old, struct nph_error *err)
{
    struct ln_virt *v = ln->virt;
    int create = strcmp(what, "create") == 0, del = strcmp(what, "delete") == 0;
    if (!v)
        return 0;
    return net_apply(v, db, kind, create, del, doc, old, err);
}

int ln_virt_filters(struct local_network *ln, enum local_network_kind kind, const char *what,
                    const json_t *doc, const json_t *old, struct nph_error *err)
{
    struct ln_virt *v = ln->virt;
    struct nph_db *db;
    int rc, have;
    if (!v || (kind != LN_SECGROUP && kind != LN_SGRULE && kind != LN_PORT))
        return 0;
    if ((have = nwf_probe(v, err)) <= 0)
        return have;
    if (!(db = nph_store_acquire(ln->store, err)))
        return -1;
    /* one at a time, each reading the store after its own commit: the last one defines the
     * filters from a state that has every change committed before it */
    pthread_mutex_lock(&v->flock);
    rc = filter_apply(v, db, kind, strcmp(what, "create") == 0, strcmp(what, "delete") == 0, doc,
                      old, err);
    pthread_mutex_unlock(&v->flock);
    nph_store_release(db);
    return rc;
}

/* Every filtered port's filter (and its groups') that libvirt lacks; the filters of ports that
 * are gone undefined. */
static int filters_sync_all(struct ln_virt *v, virConnectPtr conn, struct nph_db *db,
                            struct nph_error *err)
{
    json_t *ports = ln_children(db, LN_PORT, NULL, err), *p;
    virNWFilterPtr *all = NULL;
    size_t i;
    int n, rc = 0;
    if (!ports)
        return -1;
    json_array_foreach(ports, i, p)
    {
        char name[96];
        virNWFilterPtr f;
        if (!ln_port_filtered(p))
            continue;
        f = virNWFilterLookupByName(
            conn, local_network_filter_name("port", S(p, "id"), name, sizeof(name)));
        if (f)
            virNWFilterFree(f);
        else if ((rc = port_sync(v, conn, db, p, err)))
            break;
    }
    n = rc ? 0 : virConnectListAllNWFilters(conn, &all, 0);
    for (int k = 0; k < n; k++) {
        const char *name = virNWFilterGetName(all[k]);
        int found = 0;
        if (name && strncmp(name, "nephele-port-", 13) == 0) {
            json_array_foreach(ports, i, p) found |= strcmp(S(p, "id"), name + 13) == 0;
            if (!found)
                filter_undefine(v, conn, name);
        }
        virNWFilterFree(all[k]);
    }
    free(all);
    json_decref(ports);
    return rc;
}

/* Realise every network of the store that libvirt does not have. */
static int sync_all(struct local_network *ln, struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(ln->store, err);
    json_t *nets;
    size_t i;
    json_t *n;
    int rc = 0;
    virConnectPtr conn;
    if (!db)
        return -1;
    if (!(conn = conn_get(ln->virt, err)) || !(nets = ln_children(db, LN_NETWORK, NULL, err))) {
        nph_store_release(db);
        return -1;
    }
    json_array_foreach(nets, i, n)
    {
        virNetworkPtr nw = virNetworkLookupByUUIDString(conn, S(n, "id"));
        if (nw) {
            if (virNetworkIsActive(nw) != 1 && virNetworkCreate(nw) != 0) {
                char name[64];
                rc = virt_error(err, "cannot start network",
                                local_network_virt_name(S(n, "id"), name, sizeof(name)));
            }
            virNetworkFree(nw);
        } else if (net_sync(ln->virt, db, S(n, "id"), err)) {
            rc = -1;
        }
        if (rc)
            break;
    }
    json_decref(nets);
    if (rc == 0 && nwf_probe(ln->virt, err) == 1)
        rc = filters_sync_all(ln->virt, conn, db, err);
    nph_store_release(db);
    return rc;
}

int local_network_set_libvirt(struct local_network *ln, const char *uri, struct nph_error *err)
{
    struct ln_virt *v;
    if (ln->virt || !uri || !*uri)
        return nph_error_set(err, NPH_E_INVALID, "the network service has a libvirt URI already");
    virSetErrorFunc(NULL, quiet);
    if (!(v = calloc(1, sizeof(*v))) || !(v->uri = strdup(uri))) {
        free(v);
        return nph_error_nomem(err);
    }
    if (!(v->pending = json_array())) {
        free(v->uri);
        free(v);
        return nph_error_nomem(err);
    }
    v->nwfilter = -1;
    pthread_mutex_init(&v->lock, NULL);
    pthread_mutex_init(&v->flock, NULL);
    ln->virt = v;
    /* Networks made while libvirt was elsewhere (or before a test:/// process, whose state
     * dies with it): realise them now. Failing here is not fatal: each change tries again. */
    struct nph_error e2 = {0};
    if (sync_all(ln, &e2))
        nph_log(NPH_LOG_WARN, "network.realise_failed", "uri", uri, "error", e2.msg, NULL);
    return 0;
}

void ln_virt_close(struct local_network *ln)
{
    struct ln_virt *v = ln->virt;
    if (!v)
        return;
    if (v->conn)
        virConnectClose(v->conn);
    pthread_mutex_destroy(&v->lock);
    pthread_mutex_destroy(&v->flock);
    json_decref(v->pending);
    free(v->uri);
    free(v);
    ln->virt = NULL;
}
