/*
 * network_filter.c - security groups as libvirt nwfilter XML (docs/network.md, "Security
 * groups in libvirt"). Pure: the libvirt calls are in network_virt.c.
 *
 * A group is the filter "nephele-sg-<id>" (its UUID the group's id): one accept rule per
 * security group rule, direction 'in' for ingress and 'out' for egress, on the layer-3
 * protocol element of the rule's ethertype and protocol (all / all-ipv6 for any protocol),
 * with the remote prefix as the source (ingress) or destination (egress) address and mask, the
 * port range as the destination ports (ICMP: type and code). A rule with a remote group is one
 * rule per address of the group's member ports of the rule's family (none: no rule). libvirt
 * tracks connections for these rules (statematch defaults to on), so the replies of an
 * accepted flow pass both ways: the groups are stateful as Neutron's are.
 * A port is the filter "nephele-port-<id>" (UUID the port's id): the base (DHCP and DHCPv6
 * client traffic, IPv6 neighbour discovery, at priority 100), a <filterref> to each of its
 * groups' filters, and at priority 1000 a drop of every other IPv4 and IPv6 packet both ways.
 * ARP is not filtered (the rules are iptables/ip6tables rules, not ebtables ones).
 * Protocols libvirt has no layer-3 element for (gre, vrrp, ...) are not realised: a rule for
 * one lets nothing through, so such traffic stays dropped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "network_internal.h"

#define X(s)    ((const xmlChar *)(s))
#define S(o, k) json_string_value(json_object_get((o), (k)))

#define PRIO_BASE   "100"
#define PRIO_ACCEPT "500"
#define PRIO_DROP   "1000"

const char *local_network_filter_name(const char *what, const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "nephele-%s-%s", what, id);
    return buf;
}

/* The libvirt protocol element of (ethertype, protocol); NULL: none. */
static const char *proto_element(int v6, const json_t *proto)
{
    static const struct {
        const char *name;
        int number;
        const char *v4, *v6;
    } map[] = {
        {"tcp", 6, "tcp", "tcp-ipv6"},
        {"udp", 17, "udp", "udp-ipv6"},
        {"udplite", 136, "udplite", "udplite-ipv6"},
        {"sctp", 132, "sctp", "sctp-ipv6"},
        {"icmp", 1, "icmp", NULL},
        {"icmpv6", 58, NULL, "icmpv6"},
        {"ipv6-icmp", 58, NULL, "icmpv6"},
        {"igmp", 2, "igmp", NULL},
        {"esp", 50, "esp", "esp-ipv6"},
        {"ah", 51, "ah", "ah-ipv6"},
    };
    const char *p = json_string_value(proto);
    int number = -1;
    if (!p)
        return v6 ? "all-ipv6" : "all";
    if (*p >= '0' && *p <= '9')
        number = atoi(p);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (number >= 0 ? number == map[i].number : strcmp(p, map[i].name) == 0)
            return v6 ? map[i].v6 : map[i].v4;
    return NULL;
}

static xmlNodePtr rule_node(xmlNodePtr parent, const char *action, const char *dir,
                            const char *prio)
{
    xmlNodePtr r = xmlNewChild(parent, NULL, X("rule"), NULL);
    xmlNewProp(r, X("action"), X(action));
    xmlNewProp(r, X("direction"), X(dir));
    xmlNewProp(r, X("priority"), X(prio));
    return r;
}

static void int_prop(xmlNodePtr n, const char *name, const json_t *v)
{
    char buf[16];
    if (!json_is_integer(v))
        return;
    snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    xmlNewProp(n, X(name), X(buf));
}

/* One accept rule of a group's rule, with the remote address `remote` ("a/len", NULL: any). */
static void add_rule(xmlNodePtr root, const json_t *rule, const char *elem, const char *remote)
{
    int in = strcmp(S(rule, "direction"), "ingress") == 0;
    xmlNodePtr p =
        xmlNewChild(rule_node(root, "accept", in ? "in" : "out", PRIO_ACCEPT), NULL, X(elem), NULL);
    const json_t *min = json_object_get(rule, "port_range_min");
    const json_t *max = json_object_get(rule, "port_range_max");
    if (remote) {
        char addr[64];
        const char *slash = strchr(remote, '/');
        size_t n = slash ? (size_t)(slash - remote) : strlen(remote);
        snprintf(addr, sizeof(addr), "%.*s", (int)n, remote);
        /* 0.0.0.0/0 and ::/0 are any address: no match */
        if (!slash || strcmp(slash + 1, "0") != 0) {
            xmlNewProp(p, X(in ? "srcipaddr" : "dstipaddr"), X(addr));
            if (slash)
                xmlNewProp(p, X(in ? "srcipmask" : "dstipmask"), X(slash + 1));
        }
    }
    if (strcmp(elem, "icmp") == 0 || strcmp(elem, "icmpv6") == 0) {
        int_prop(p, "type", min);
        int_prop(p, "code", max);
    } else if (strncmp(elem, "all", 3) != 0 && strncmp(elem, "esp", 3) != 0 &&
               strncmp(elem, "ah", 2) != 0 && strcmp(elem, "igmp") != 0) {
        int_prop(p, "dstportstart", min);
        int_prop(p, "dstportend", max);
    }
}

char *net_xml_dump(xmlDocPtr doc, struct nph_error *err)
{
    xmlChar *mem = NULL;
    int len = 0;
    char *out = NULL;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (mem)
        out = strdup((const char *)mem);
    xmlFree(mem);
    if (!out)
        nph_error_nomem(err);
    return out;
}

static xmlDocPtr filter_doc(const char *what, const char *id, struct nph_error *err)
{
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr root = xmlNewNode(NULL, X("filter"));
    char name[96];
    if (!doc || !root) {
        xmlFreeDoc(doc);
        xmlFreeNode(root);
        nph_error_nomem(err);
        return NULL;
    }
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, X("name"), X(local_network_filter_name(what, id, name, sizeof(name))));
    xmlNewProp(root, X("chain"), X("root"));
    xmlNewTextChild(root, NULL, X("uuid"), X(id));
    return doc;
}

char *ln_filter_sg_xml(const char *sg_id, const json_t *rules, const json_t *members,
                       struct nph_error *err)
{
    xmlDocPtr doc = filter_doc("sg", sg_id, err);
    xmlNodePtr root;
    size_t i, j;
    const json_t *r, *a;
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    json_array_foreach(rules, i, r)
    {
        int v6 = S(r, "ethertype") && strcmp(S(r, "ethertype"), "IPv6") == 0;
        const char *elem = proto_element(v6, json_object_get(r, "protocol"));
        const char *group = S(r, "remote_group_id");
        if (!elem || !S(r, "direction"))
            continue; /* no libvirt element for the protocol: nothing accepted */
        if (!group) {
            add_rule(root, r, elem, S(r, "remote_ip_prefix"));
            continue;
        }
        json_array_foreach(json_object_get(members, group), j, a)
        {
            const char *ip = json_string_value(a);
            char buf[64];
            if (!ip || (strchr(ip, ':') != NULL) != v6)
                continue;
            snprintf(buf, sizeof(buf), "%s/%d", ip, v6 ? 128 : 32);
            add_rule(root, r, elem, buf);
        }
    }
    return net_xml_dump(doc, err);
}

/* A base accept rule: elem with the listed attributes (name, value pairs, NULL-ended). */
static void base_rule(xmlNodePtr root, const char *dir, const char *elem, ...)
{
    xmlNodePtr p = xmlNewChild(rule_node(root, "accept", dir, PRIO_BASE), NULL, X(elem), NULL);
    va_list ap;
    const char *k;
    va_start(ap, elem);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        xmlNewProp(p, X(k), X(v));
    }
    va_end(ap);
}

char *ln_filter_port_xml(const json_t *port, struct nph_error *err)
{
    xmlDocPtr doc = filter_doc("port", S(port, "id"), err);
    xmlNodePtr root;
    size_t i;
    const json_t *g;
    static const char *const nd[] = {"133", "134", "135", "136"};
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    /* Port security off: no rule at all, the filter accepts everything. The interface still
     * references it, so turning port security on again redefines the filter in place. */
    if (!json_is_true(json_object_get(port, "port_security_enabled")))
        return net_xml_dump(doc, err);
    /* DHCP: the client's requests (from 0.0.0.0 before it has an address) and the answers */
    base_rule(root, "out", "udp", "srcportstart", "68", "dstportstart", "67", NULL);
    base_rule(root, "in", "udp", "srcportstart", "67", "dstportstart", "68", NULL);
    base_rule(root, "out", "udp-ipv6", "srcportstart", "546", "dstportstart", "547", NULL);
    base_rule(root, "in", "udp-ipv6", "srcportstart", "547", "dstportstart", "546", NULL);
    /* IPv6 neighbour discovery: router and neighbour solicitations and advertisements */
    for (size_t k = 0; k < sizeof(nd) / sizeof(nd[0]); k++) {
        base_rule(root, "out", "icmpv6", "type", nd[k], NULL);
        base_rule(root, "in", "icmpv6", "type", nd[k], NULL);
    }
    json_array_foreach(json_object_get(port, "security_groups"), i, g)
    {
        char name[96];
        if (!json_is_string(g))
            continue;
        xmlNewProp(xmlNewChild(root, NULL, X("filterref"), NULL), X("filter"),
                   X(local_network_filter_name("sg", json_string_value(g), name, sizeof(name))));
    }
    xmlNewChild(rule_node(root, "drop", "inout", PRIO_DROP), NULL, X("all"), NULL);
    xmlNewChild(rule_node(root, "drop", "inout", PRIO_DROP), NULL, X("all-ipv6"), NULL);
    return net_xml_dump(doc, err);
}

int ln_port_filtered(const json_t *port)
{
    const char *owner = S(port, "device_owner");
    return port && S(port, "id") && !(owner && strncmp(owner, "network:", 8) == 0);
}
