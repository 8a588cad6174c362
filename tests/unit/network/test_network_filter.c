/* test_network_filter.c - security groups and ports as libvirt nwfilter XML
 * (local/network/network_filter.c), read back with libxml2's XPath: each group rule an accept
 * rule of its direction, protocol element, remote address and ports; a remote group expanded
 * to its members' addresses of the rule's family; protocols without a libvirt element left
 * out; a port's filter the base accepts, a reference to each of its groups and the final
 * drops. And the guard: libvirt's test driver has no nwfilters, so no port gets a filterref. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "local_network.h"
#include "network_internal.h" /* ln_port_filtered */
#include "nph_store.h"

#define SG   "5f0c2d7e-1111-4a4a-9b9b-000000000001"
#define G2   "5f0c2d7e-2222-4a4a-9b9b-000000000002"
#define PORT "5f0c2d7e-3333-4a4a-9b9b-000000000003"

struct xp {
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
};

static void xp_open(struct xp *x, const char *xml)
{
    assert_non_null(xml);
    x->doc = xmlReadMemory(xml, (int)strlen(xml), "filter.xml", NULL, XML_PARSE_NONET);
    assert_non_null(x->doc);
    x->ctx = xmlXPathNewContext(x->doc);
    assert_non_null(x->ctx);
}

static void xp_close(struct xp *x)
{
    xmlXPathFreeContext(x->ctx);
    xmlFreeDoc(x->doc);
}

/* The number of nodes matching expr. */
static int count(struct xp *x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, x->ctx);
    int n;
    assert_non_null(o);
    n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

static void expect(struct xp *x, const char *expr, int n, const char *xml)
{
    int got = count(x, expr);
    if (got != n)
        fail_msg("%s: %d match(es), expected %d, in:\n%s", expr, got, n, xml);
}

static json_t *rule(const char *json)
{
    json_t *r = json_loads(json, 0, NULL);
    struct nph_error err = NPH_ERROR_INIT;
    assert_non_null(r);
    /* normalised as the service stores it */
    if (ln_rule_validate(r, &err))
        fail_msg("%s: %s", json, err.msg);
    return r;
}

static void test_sg_rules(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct xp x;
    json_t *rules = json_array();
    json_t *members =
        json_pack("{s:[s,s,s]}", G2, "10.1.0.5", "fd00::5", "10.1.0.6"); /* two v4, one v6 */
    char *xml;
    (void)state;
    json_array_append_new(rules, rule("{\"direction\":\"ingress\",\"protocol\":\"tcp\","
                                      "\"port_range_min\":22,\"port_range_max\":22,"
                                      "\"remote_ip_prefix\":\"10.0.0.0/8\"}"));
    json_array_append_new(rules, rule("{\"direction\":\"egress\",\"ethertype\":\"IPv4\"}"));
    json_array_append_new(rules, rule("{\"direction\":\"egress\",\"ethertype\":\"IPv6\","
                                      "\"remote_ip_prefix\":\"::/0\"}"));
    json_array_append_new(rules, rule("{\"direction\":\"ingress\",\"protocol\":\"icmp\","
                                      "\"port_range_min\":8}"));
    json_array_append_new(rules, rule("{\"direction\":\"ingress\",\"protocol\":\"17\","
                                      "\"port_range_min\":5000,\"port_range_max\":5010,"
                                      "\"ethertype\":\"IPv6\"}"));
    json_array_append_new(rules,
                          rule("{\"direction\":\"ingress\",\"remote_group_id\":\"" G2 "\"}"));
    json_array_append_new(rules, rule("{\"direction\":\"ingress\",\"ethertype\":\"IPv6\","
                                      "\"protocol\":\"icmpv6\",\"remote_group_id\":\"" G2 "\"}"));
    json_array_append_new(rules, rule("{\"direction\":\"ingress\",\"protocol\":\"gre\"}"));
    json_array_append_new(rules,
                          rule("{\"direction\":\"ingress\",\"remote_group_id\":\"" SG "\"}"));
    xml = ln_filter_sg_xml(SG, rules, members, &err);
    xp_open(&x, xml);
    expect(&x, "/filter[@name='nephele-sg-" SG "'][@chain='root']", 1, xml);
    expect(&x, "/filter/uuid[text()='" SG "']", 1, xml);
    /* 1 tcp + 1 egress v4 + 1 egress v6 + 1 icmp + 1 udp v6 + 2 remote v4 + 1 remote v6;
     * no gre element; a remote group without members (SG itself here) is no rule */
    expect(&x, "/filter/rule", 8, xml);
    expect(&x, "/filter/rule[@action!='accept' or @priority!='500']", 0, xml);
    expect(&x,
           "/filter/rule[@direction='in']/tcp[@srcipaddr='10.0.0.0'][@srcipmask='8']"
           "[@dstportstart='22'][@dstportend='22']",
           1, xml);
    expect(&x, "/filter/rule[@direction='out']/all[not(@dstipaddr)]", 1, xml);
    expect(&x, "/filter/rule[@direction='out']/all-ipv6[not(@dstipaddr)]", 1, xml);
    expect(&x, "/filter/rule[@direction='in']/icmp[@type='8'][not(@code)][not(@srcipaddr)]", 1,
           xml);
    expect(&x, "/filter/rule[@direction='in']/udp-ipv6[@dstportstart='5000'][@dstportend='5010']",
           1, xml);
    expect(&x, "/filter/rule[@direction='in']/all[@srcipaddr='10.1.0.5'][@srcipmask='32']", 1, xml);
    expect(&x, "/filter/rule[@direction='in']/all[@srcipaddr='10.1.0.6'][@srcipmask='32']", 1, xml);
    expect(&x, "/filter/rule[@direction='in']/icmpv6[@srcipaddr='fd00::5'][@srcipmask='128']", 1,
           xml);
    expect(&x, "//*[@srcipaddr='fd00::5' and local-name()='all']", 0, xml);
    xp_close(&x);
    free(xml);
    json_decref(rules);
    json_decref(members);
}

static void test_port(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct xp x;
    json_t *port = json_pack("{s:s,s:[s,s],s:b}", "id", PORT, "security_groups", SG, G2,
                             "port_security_enabled", 1);
    char *xml = ln_filter_port_xml(port, &err);
    (void)state;
    xp_open(&x, xml);
    expect(&x, "/filter[@name='nephele-port-" PORT "'][@chain='root']/uuid[text()='" PORT "']", 1,
           xml);
    expect(&x, "/filter/filterref", 2, xml);
    expect(&x, "/filter/filterref[1][@filter='nephele-sg-" SG "']", 1, xml);
    expect(&x, "/filter/filterref[2][@filter='nephele-sg-" G2 "']", 1, xml);
    /* the base: DHCP client traffic, DHCPv6, neighbour discovery; before the groups' rules */
    expect(&x,
           "/filter/rule[@action='accept'][@direction='out'][@priority='100']/"
           "udp[@srcportstart='68'][@dstportstart='67']",
           1, xml);
    expect(&x,
           "/filter/rule[@action='accept'][@direction='in'][@priority='100']/"
           "udp[@srcportstart='67'][@dstportstart='68']",
           1, xml);
    expect(&x, "/filter/rule[@priority='100']/udp-ipv6", 2, xml);
    expect(&x, "/filter/rule[@priority='100']/icmpv6[@type='135']", 2, xml);
    expect(&x, "/filter/rule[@priority='100']/icmpv6", 8, xml);
    /* and the rest dropped both ways, last */
    expect(&x, "/filter/rule[@action='drop'][@direction='inout'][@priority='1000']/all", 1, xml);
    expect(&x, "/filter/rule[@action='drop'][@direction='inout'][@priority='1000']/all-ipv6", 1,
           xml);
    expect(&x, "/filter/rule[@action='drop']", 2, xml);
    xp_close(&x);
    free(xml);
    /* no groups: the base and the drops only */
    json_object_set_new(port, "security_groups", json_array());
    xml = ln_filter_port_xml(port, &err);
    xp_open(&x, xml);
    expect(&x, "/filter/filterref", 0, xml);
    expect(&x, "/filter/rule[@action='drop']", 2, xml);
    xp_close(&x);
    free(xml);
    /* port security off: the same filter, empty (accepts everything), still the port's: the
     * interface that references it keeps it while port security is turned off and on */
    json_object_set_new(port, "port_security_enabled", json_false());
    assert_true(ln_port_filtered(port));
    xml = ln_filter_port_xml(port, &err);
    xp_open(&x, xml);
    expect(&x, "/filter[@name='nephele-port-" PORT "'][@chain='root']", 1, xml);
    expect(&x, "/filter/rule", 0, xml);
    expect(&x, "/filter/filterref", 0, xml);
    xp_close(&x);
    free(xml);
    /* router and floating IP ports have none */
    json_object_set_new(port, "device_owner", json_string("network:router_interface"));
    assert_false(ln_port_filtered(port));
    json_decref(port);
}

/* libvirt's test driver has no nwfilters: ports and groups are made as before, and no port
 * gets a filter for its interface. Without libvirt neither. */
static void test_no_nwfilter(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_store *store;
    struct local_network *ln;
    char dir[64], url[128], buf[96], cmd[128];
    json_t *net, *port, *sg, *a;
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/nph-netfilter-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite://%s/t.db", dir);
    assert_int_equal(nph_store_open(url, 4, &store, &err), 0);
    assert_int_equal(local_network_migrate(store, NULL, &err), 0);
    ln = local_network_open(store, &err);
    assert_non_null(ln);
    struct local_network_caller c = {"proj-f", 0};
    a = json_pack("{s:s}", "name", "f");
    net = local_network_create(ln, &c, LN_NETWORK, a, &err);
    json_decref(a);
    assert_non_null(net);
    a = json_pack("{s:s}", "network_id", json_string_value(json_object_get(net, "id")));
    port = local_network_create(ln, &c, LN_PORT, a, &err);
    assert_non_null(port);
    assert_null(local_network_port_filter(ln, port, buf, sizeof(buf))); /* no libvirt */
    json_decref(port);
    assert_int_equal(local_network_set_libvirt(ln, "test:///default", &err), 0);
    json_t *sa = json_pack("{s:s}", "name", "web");
    sg = local_network_create(ln, &c, LN_SECGROUP, sa, &err);
    json_decref(sa);
    assert_non_null(sg);
    port = local_network_create(ln, &c, LN_PORT, a, &err);
    if (!port)
        fail_msg("port on test:///default: %s", err.msg);
    assert_int_equal(json_array_size(json_object_get(port, "security_groups")), 1);
    assert_null(local_network_port_filter(ln, port, buf, sizeof(buf)));
    assert_int_equal(
        local_network_delete(ln, &c, LN_PORT, json_string_value(json_object_get(port, "id")), &err),
        0);
    assert_int_equal(local_network_delete(ln, &c, LN_SECGROUP,
                                          json_string_value(json_object_get(sg, "id")), &err),
                     0);
    json_decref(a);
    json_decref(port);
    json_decref(sg);
    json_decref(net);
    local_network_close(ln);
    nph_store_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sg_rules),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_no_nwfilter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
