/* test_network_virt.c - networks realised in libvirt's test driver (test:///default, shared by
 * every connection of this process): a network and its subnet become a libvirt network with
 * the gateway and a DHCP range, each port a <host mac ip> entry, kept in step when ports come
 * and go, removed with the network; an external network is NAT; a libvirt refusal fails the
 * change and leaves the Nephele records as they were; and a port's interface is plugged into
 * and out of a server's domain (local_compute_server_nic), read back with
 * virDomainGetXMLDesc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "local_compute.h"
#include "local_network.h"
#include "nph_store.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define URI     "test:///default"

struct fx {
    char dir[64];
    struct nph_store *store;
    struct local_network *ln;
    virConnectPtr conn;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    char url[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-netvirt-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    assert_int_equal(nph_store_open(url, 4, &f->store, &err), 0);
    assert_int_equal(local_network_migrate(f->store, NULL, &err), 0);
    f->ln = local_network_open(f->store, &err);
    assert_non_null(f->ln);
    assert_int_equal(local_network_set_libvirt(f->ln, URI, &err), 0);
    f->conn = virConnectOpen(URI);
    assert_non_null(f->conn);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    local_network_close(f->ln);
    nph_store_close(f->store);
    virConnectClose(f->conn);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const struct local_network_caller alice = {"proj-a", 0};
static const struct local_network_caller admin = {"proj-admin", 1};

static json_t *mk(struct fx *f, const struct local_network_caller *c, enum local_network_kind k,
                  const char *fmt, ...)
{
    struct nph_error err = NPH_ERROR_INIT;
    char text[1024];
    va_list ap;
    json_t *a, *r;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    a = json_loads(text, 0, NULL);
    assert_non_null(a);
    r = local_network_create(f->ln, c, k, a, &err);
    json_decref(a);
    if (!r)
        fail_msg("create %s: %s (%s)", text, err.msg, err.detail);
    return r;
}

/* The libvirt network's XML (live), or NULL when libvirt has no such network. malloc'd. */
static char *net_xml(struct fx *f, const char *id)
{
    virNetworkPtr nw = virNetworkLookupByUUIDString(f->conn, id);
    char *xml;
    if (!nw)
        return NULL;
    xml = virNetworkGetXMLDesc(nw, 0);
    assert_int_equal(virNetworkIsActive(nw), 1);
    virNetworkFree(nw);
    return xml;
}

static void assert_has(const char *xml, const char *what)
{
    if (!xml || !strstr(xml, what))
        fail_msg("expected %s in:\n%s", what, xml ? xml : "(no XML)");
}

static void assert_lacks(const char *xml, const char *what)
{
    if (xml && strstr(xml, what))
        fail_msg("did not expect %s in:\n%s", what, xml);
}

static void test_network_dhcp(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *net = mk(f, &alice, LN_NETWORK, "{\"name\":\"blue\",\"mtu\":1400}");
    char *xml, want[256], name[64];
    const char *id = S(net, "id");
    xml = net_xml(f, id);
    snprintf(want, sizeof(want), "<name>%s</name>",
             local_network_virt_name(id, name, sizeof(name)));
    assert_has(xml, want);
    assert_has(xml, "<bridge name='nph");
    assert_has(xml, "<mtu size='1400'/>");
    assert_lacks(xml, "<forward");
    assert_lacks(xml, "<ip");
    free(xml);

    json_t *sub = mk(f, &alice, LN_SUBNET,
                     "{\"network_id\":\"%s\",\"cidr\":\"10.9.0.0/24\",\"ip_version\":4,"
                     "\"allocation_pools\":[{\"start\":\"10.9.0.10\",\"end\":\"10.9.0.20\"}]}",
                     id);
    xml = net_xml(f, id);
    assert_has(xml, "<ip address='10.9.0.1' prefix='24'>");
    assert_has(xml, "<range start='10.9.0.10' end='10.9.0.20'");
    free(xml);

    /* a port without a server is no DHCP client: no host entry (and no libvirt call) */
    json_t *p0 = mk(f, &alice, LN_PORT, "{\"network_id\":\"%s\"}", id);
    assert_string_equal(S(json_array_get(json_object_get(p0, "fixed_ips"), 0), "ip_address"),
                        "10.9.0.10");
    xml = net_xml(f, id);
    assert_lacks(xml, "<host ");
    free(xml);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p0, "id"), &err), 0);
    json_decref(p0);
    /* bound to a server: an entry each */
    json_t *p1 = mk(f, &alice, LN_PORT,
                    "{\"network_id\":\"%s\",\"device_owner\":\"compute:nova\","
                    "\"device_id\":\"srv-1\"}",
                    id);
    json_t *p2 = mk(f, &alice, LN_PORT,
                    "{\"network_id\":\"%s\",\"fixed_ips\":[{\"ip_address\":\"10.9.0.15\"}],"
                    "\"device_owner\":\"compute:nova\",\"device_id\":\"srv-2\"}",
                    id);
    /* (the allocator goes on past the address it gave last) */
    const char *ip1 = S(json_array_get(json_object_get(p1, "fixed_ips"), 0), "ip_address");
    assert_string_equal(ip1, "10.9.0.11");
    xml = net_xml(f, id);
    snprintf(want, sizeof(want), "<host mac='%s' ip='10.9.0.11'/>", S(p1, "mac_address"));
    assert_has(xml, want);
    snprintf(want, sizeof(want), "<host mac='%s' ip='10.9.0.15'/>", S(p2, "mac_address"));
    assert_has(xml, want);
    free(xml);

    /* a port's address changes: its entry follows */
    json_t *u = json_pack("{s:[{s:s}]}", "fixed_ips", "ip_address", "10.9.0.16");
    json_t *p2b = local_network_update(f->ln, &alice, LN_PORT, S(p2, "id"), u, &err);
    json_decref(u);
    assert_non_null(p2b);
    xml = net_xml(f, id);
    assert_lacks(xml, want);
    snprintf(want, sizeof(want), "<host mac='%s' ip='10.9.0.16'/>", S(p2, "mac_address"));
    assert_has(xml, want);
    free(xml);
    json_decref(p2b);

    /* unbound (device cleared): its entry goes; bound again: it comes back */
    u = json_pack("{s:s,s:s}", "device_id", "", "device_owner", "");
    p2b = local_network_update(f->ln, &alice, LN_PORT, S(p2, "id"), u, &err);
    json_decref(u);
    assert_non_null(p2b);
    json_decref(p2b);
    xml = net_xml(f, id);
    assert_lacks(xml, "ip='10.9.0.16'");
    free(xml);
    u = json_pack("{s:s,s:s}", "device_id", "srv-2", "device_owner", "compute:nova");
    p2b = local_network_update(f->ln, &alice, LN_PORT, S(p2, "id"), u, &err);
    json_decref(u);
    assert_non_null(p2b);
    json_decref(p2b);
    xml = net_xml(f, id);
    assert_has(xml, want);
    free(xml);

    /* a port goes: its entry goes */
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p1, "id"), &err), 0);
    xml = net_xml(f, id);
    assert_lacks(xml, "ip='10.9.0.11'");
    assert_has(xml, "ip='10.9.0.16'");
    free(xml);

    /* the network goes (its subnet with it, once its ports are gone) */
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p2, "id"), &err), 0);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK, id, &err), 0);
    assert_null(net_xml(f, id));
    json_decref(p1);
    json_decref(p2);
    json_decref(sub);
    json_decref(net);
}

/* A pool larger than one libvirt <range> (65,535 addresses): the network is still realised,
 * its range clamped, and a port bound past the range still gets its host entry. */
static void test_large_pool(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *net = mk(f, &alice, LN_NETWORK, "{\"name\":\"wide\"}");
    const char *id = S(net, "id");
    json_t *sub = mk(f, &alice, LN_SUBNET,
                     "{\"network_id\":\"%s\",\"cidr\":\"10.242.0.0/15\",\"ip_version\":4}", id);
    char *xml = net_xml(f, id), want[256];
    assert_has(xml, "<ip address='10.242.0.1' prefix='15'>");
    assert_has(xml, "<range start='10.242.0.2' end='10.242.255.255'");
    free(xml);
    json_t *p = mk(f, &alice, LN_PORT,
                   "{\"network_id\":\"%s\",\"fixed_ips\":[{\"ip_address\":\"10.243.200.5\"}],"
                   "\"device_owner\":\"compute:nova\",\"device_id\":\"srv-w\"}",
                   id);
    xml = net_xml(f, id);
    snprintf(want, sizeof(want), "<host mac='%s' ip='10.243.200.5'/>", S(p, "mac_address"));
    assert_has(xml, want);
    free(xml);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p, "id"), &err), 0);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK, id, &err), 0);
    json_decref(p);
    json_decref(sub);
    json_decref(net);
}

static void test_external_nat(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *net = mk(f, &admin, LN_NETWORK, "{\"name\":\"public\",\"router:external\":true}");
    /* NAT needs an address on the bridge: none until a subnet with a gateway */
    char *xml = net_xml(f, S(net, "id"));
    assert_lacks(xml, "<forward");
    free(xml);
    json_t *sub = mk(f, &admin, LN_SUBNET,
                     "{\"network_id\":\"%s\",\"cidr\":\"172.24.4.0/24\",\"ip_version\":4,"
                     "\"gateway_ip\":null}",
                     S(net, "id"));
    xml = net_xml(f, S(net, "id"));
    assert_lacks(xml, "<ip");
    assert_lacks(xml, "<forward");
    free(xml);
    /* with one, the network is NAT with the gateway on the bridge */
    json_t *sub2 =
        mk(f, &admin, LN_SUBNET,
           "{\"network_id\":\"%s\",\"cidr\":\"172.24.5.0/24\",\"ip_version\":4}", S(net, "id"));
    xml = net_xml(f, S(net, "id"));
    assert_has(xml, "<forward mode='nat'");
    assert_has(xml, "<ip address='172.24.5.1' prefix='24'>");
    free(xml);
    json_decref(sub2);
    assert_int_equal(local_network_delete(f->ln, &admin, LN_NETWORK, S(net, "id"), &err), 0);
    assert_null(net_xml(f, S(net, "id")));
    json_decref(sub);
    json_decref(net);
}

/* libvirt refuses the port's DHCP entry (another host holds the address there): the port is
 * not created, its address stays free. */
static void test_libvirt_refusal(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *net = mk(f, &alice, LN_NETWORK, "{\"name\":\"red\"}");
    json_t *sub =
        mk(f, &alice, LN_SUBNET,
           "{\"network_id\":\"%s\",\"cidr\":\"10.8.0.0/29\",\"ip_version\":4}", S(net, "id"));
    virNetworkPtr nw = virNetworkLookupByUUIDString(f->conn, S(net, "id"));
    const char *stray = "<host mac='52:54:00:aa:bb:cc' ip='10.8.0.2'/>";
    assert_non_null(nw);
    assert_int_equal(
        virNetworkUpdate(nw, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_SECTION_IP_DHCP_HOST,
                         -1, stray,
                         VIR_NETWORK_UPDATE_AFFECT_CONFIG | VIR_NETWORK_UPDATE_AFFECT_LIVE),
        0);
    json_t *a = json_pack("{s:s,s:s,s:s}", "network_id", S(net, "id"), "device_owner",
                          "compute:nova", "device_id", "srv-r");
    assert_null(local_network_create(f->ln, &alice, LN_PORT, a, &err));
    assert_int_equal(err.code, NPH_E_BACKEND);
    assert_non_null(strstr(err.msg, "DHCP host entry"));
    json_t *ports = local_network_list(f->ln, &alice, LN_PORT, &err);
    assert_int_equal(json_array_size(ports), 0);
    json_decref(ports);
    /* libvirt gives way: the same create succeeds with the first address */
    assert_int_equal(
        virNetworkUpdate(nw, VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_IP_DHCP_HOST,
                         -1, stray,
                         VIR_NETWORK_UPDATE_AFFECT_CONFIG | VIR_NETWORK_UPDATE_AFFECT_LIVE),
        0);
    json_t *p = local_network_create(f->ln, &alice, LN_PORT, a, &err);
    assert_non_null(p);
    assert_string_equal(S(json_array_get(json_object_get(p, "fixed_ips"), 0), "ip_address"),
                        "10.8.0.2");
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p, "id"), &err), 0);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK, S(net, "id"), &err), 0);
    virNetworkFree(nw);
    json_decref(p);
    json_decref(a);
    json_decref(sub);
    json_decref(net);
}

/* A network made before libvirt was configured is realised when it is. */
static void test_realised_at_start(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct local_network *plain = local_network_open(f->store, &err);
    json_t *a = json_pack("{s:s}", "name", "early");
    json_t *net = local_network_create(plain, &alice, LN_NETWORK, a, &err);
    char *xml;
    assert_non_null(net);
    assert_null(net_xml(f, S(net, "id")));
    assert_int_equal(local_network_set_libvirt(plain, URI, &err), 0);
    xml = net_xml(f, S(net, "id"));
    assert_has(xml, "<bridge name='nph");
    free(xml);
    assert_int_equal(local_network_delete(plain, &alice, LN_NETWORK, S(net, "id"), &err), 0);
    assert_null(net_xml(f, S(net, "id")));
    local_network_close(plain);
    json_decref(a);
    json_decref(net);
}

/* A server's interface: plugged into and out of its domain by MAC. */
static void test_domain_nic(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    const char *uuid = "3f1c2b9a-7d4e-4f60-9a51-0c2d3e4f5a6b";
    struct local_compute_domain d = {
        .name = "nephele-nic-test", .uuid = uuid, .vcpus = 1, .ram_mb = 64};
    struct local_compute_nic nic = {"fa:16:3e:01:02:03", "nephele-net-x", NULL};
    struct local_compute *lc = local_compute_open(URI, &err);
    char *xml = local_compute_domain_xml(&d, &err);
    virDomainPtr dom;
    assert_non_null(lc);
    assert_non_null(xml);
    dom = virDomainDefineXML(f->conn, xml);
    free(xml);
    assert_non_null(dom);
    /* no domain: nothing to do */
    assert_int_equal(
        local_compute_server_nic(lc, "00000000-0000-4000-8000-000000000000", &nic, 1, &err), 0);
    assert_int_equal(local_compute_server_nic(lc, uuid, &nic, 1, &err), 0);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_has(xml, "<interface type='network'>");
    assert_has(xml, "<mac address='fa:16:3e:01:02:03'/>");
    assert_has(xml, "<source network='nephele-net-x'/>");
    assert_has(xml, "<model type='virtio'/>");
    free(xml);
    /* twice is a no-op: a domain defined after its port was bound has the nic already, and
     * the bind's plug that follows must not fail the create (Tempest's test_update_server_name
     * saw that 409) */
    assert_int_equal(local_compute_server_nic(lc, uuid, &nic, 1, &err), 0);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_has(xml, "fa:16:3e:01:02:03");
    assert_null(strstr(strstr(xml, "fa:16:3e:01:02:03") + 1, "fa:16:3e:01:02:03")); /* once */
    free(xml);
    /* a second nic, then the first out: the second stays */
    struct local_compute_nic nic2 = {"fa:16:3e:01:02:04", "nephele-net-y", NULL};
    assert_int_equal(local_compute_server_nic(lc, uuid, &nic2, 1, &err), 0);
    assert_int_equal(local_compute_server_nic(lc, uuid, &nic, 0, &err), 0);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_lacks(xml, "fa:16:3e:01:02:03");
    assert_has(xml, "<mac address='fa:16:3e:01:02:04'/>");
    free(xml);
    /* the domain XML of a server with nics, built at once */
    d.nics = (struct local_compute_nic[]){nic, nic2};
    d.n_nics = 2;
    xml = local_compute_domain_xml(&d, &err);
    assert_non_null(xml);
    char *first = strstr(xml, "fa:16:3e:01:02:03"), *second = strstr(xml, "fa:16:3e:01:02:04");
    assert_true(first && second && first < second);
    free(xml);
    virDomainUndefine(dom);
    virDomainFree(dom);
    local_compute_close(lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_network_dhcp, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_pool, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_external_nat, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_libvirt_refusal, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_realised_at_start, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_domain_nic, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
