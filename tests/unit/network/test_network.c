/* test_network.c - local/network: CIDR parsing and overlap (IPv4 and IPv6), security group rule
 * validation, subnets and ports through the service (pools, gateway, overlap, visibility,
 * addresses returned on delete), and IPAM under 16 concurrent port creates on a /28: no address
 * handed out twice, IpAddressGenerationFailure for the creates past the pool.
 *
 * The service cases run on SQLite and, through tests/pg_throwaway.sh, on a real PostgreSQL
 * server (the binary runs itself again with NPH_TEST_PG_URL set; 77 from there, no PostgreSQL
 * installed, is reported and not a failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "local_network.h"
#include "nph_store.h"

static const char *pg_url; /* NULL: SQLite */

#define S(o, k) json_string_value(json_object_get((o), (k)))

/* ---- pure helpers ------------------------------------------------------------------------- */

static void test_cidr_parse(void **state)
{
    struct ln_cidr c;
    struct ln_addr a;
    struct nph_error err = NPH_ERROR_INIT;
    char buf[64];
    (void)state;
    assert_int_equal(ln_cidr_parse("10.0.0.0/24", 0, &c, &err), 0);
    assert_int_equal(c.addr.version, 4);
    assert_int_equal(c.prefix, 24);
    assert_string_equal(ln_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/24");
    assert_int_equal(ln_cidr_parse("2001:DB8:0::/48", 0, &c, &err), 0);
    assert_string_equal(ln_cidr_format(&c, buf, sizeof(buf)), "2001:db8::/48");
    /* host bits: refused strictly, cleared leniently */
    assert_int_equal(ln_cidr_parse("10.0.0.5/24", 0, &c, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "10.0.0.0/24"));
    assert_int_equal(ln_cidr_parse("10.0.0.5/24", 1, &c, &err), 0);
    assert_string_equal(ln_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/24");
    /* not CIDRs */
    const char *bad[] = {"10.0.0.0",    "10.0.0.0/33", "10.0.0/24", "fd00::/129",  "banana/8",
                         "10.0.0.0/-1", "10.0.0.0/",   "/24",       "10.0.0.0/2x", "",
                         "::/+4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nph_error_clear(&err);
        assert_int_equal(ln_cidr_parse(bad[i], 1, &c, &err), -1);
        assert_int_equal(err.code, NPH_E_INVALID);
    }
    assert_int_equal(ln_addr_parse("fe80::1", &a, &err), 0);
    assert_int_equal(a.version, 6);
    assert_int_equal(ln_addr_parse("300.1.1.1", &a, &err), -1);
}

static void test_cidr_overlap(void **state)
{
    struct ln_cidr a, b;
    struct ln_addr x;
    char buf[64];
    (void)state;
    assert_int_equal(ln_cidr_parse("10.0.0.0/24", 0, &a, NULL), 0);
    assert_int_equal(ln_cidr_parse("10.0.0.128/25", 0, &b, NULL), 0);
    assert_true(ln_cidr_overlap(&a, &b));
    assert_true(ln_cidr_overlap(&b, &a));
    assert_int_equal(ln_cidr_parse("10.0.1.0/24", 0, &b, NULL), 0);
    assert_false(ln_cidr_overlap(&a, &b));
    assert_int_equal(ln_cidr_parse("0.0.0.0/0", 0, &b, NULL), 0);
    assert_true(ln_cidr_overlap(&a, &b));
    assert_int_equal(ln_cidr_parse("fd00::/64", 0, &a, NULL), 0);
    assert_int_equal(ln_cidr_parse("fd00::/48", 0, &b, NULL), 0);
    assert_true(ln_cidr_overlap(&a, &b));
    assert_int_equal(ln_cidr_parse("fd00:0:0:1::/64", 0, &b, NULL), 0);
    assert_false(ln_cidr_overlap(&a, &b));
    /* families never overlap */
    assert_int_equal(ln_cidr_parse("::/0", 0, &b, NULL), 0);
    assert_int_equal(ln_cidr_parse("10.0.0.0/8", 0, &a, NULL), 0);
    assert_false(ln_cidr_overlap(&a, &b));
    /* arithmetic: last address, carry across bytes */
    assert_int_equal(ln_cidr_parse("10.0.0.0/28", 0, &a, NULL), 0);
    ln_cidr_last(&a, &x);
    assert_string_equal(ln_addr_format(&x, buf, sizeof(buf)), "10.0.0.15");
    assert_int_equal(ln_addr_parse("10.0.0.255", &x, NULL), 0);
    ln_addr_add(&x, 1);
    assert_string_equal(ln_addr_format(&x, buf, sizeof(buf)), "10.0.1.0");
    assert_int_equal(ln_cidr_parse("fd00::/64", 0, &a, NULL), 0);
    assert_int_equal(ln_addr_eui64(&a, "fa:16:3e:11:22:33", &x, NULL), 0);
    assert_string_equal(ln_addr_format(&x, buf, sizeof(buf)), "fd00::f816:3eff:fe11:2233");
}

/* Validate a rule given as JSON text: the result code, and the error type when it fails. */
static void rule_case(const char *text, int ok, const char *type)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *r = json_loads(text, 0, NULL);
    int rc;
    assert_non_null(r);
    rc = ln_rule_validate(r, &err);
    if (ok != (rc == 0))
        fail_msg("%s: expected %s, got %s (%s)", text, ok ? "valid" : "invalid",
                 rc == 0 ? "valid" : "invalid", err.msg);
    if (!ok && type)
        assert_string_equal(err.detail, type);
    json_decref(r);
}

static void test_rule_validate(void **state)
{
    (void)state;
    rule_case("{\"direction\":\"ingress\"}", 1, NULL);
    rule_case("{\"direction\":\"egress\",\"ethertype\":\"ipv6\"}", 1, NULL);
    rule_case("{\"direction\":\"sideways\"}", 0, "HTTPBadRequest");
    rule_case("{\"direction\":\"ingress\",\"ethertype\":\"IPv5\"}", 0, "HTTPBadRequest");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_range_min\":22,"
              "\"port_range_max\":22}",
              1, NULL);
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_range_min\":30,"
              "\"port_range_max\":20}",
              0, "SecurityGroupInvalidPortRange");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"udp\",\"port_range_min\":0,"
              "\"port_range_max\":10}",
              0, "SecurityGroupInvalidPortValue");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_range_min\":1,"
              "\"port_range_max\":70000}",
              0, "SecurityGroupInvalidPortValue");
    rule_case("{\"direction\":\"ingress\",\"port_range_min\":22,\"port_range_max\":22}", 0,
              "SecurityGroupProtocolRequiredWithPorts");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"port_range_min\":8,"
              "\"port_range_max\":0}",
              1, NULL);
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"port_range_max\":0}", 0,
              "SecurityGroupMissingIcmpType");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"port_range_min\":256}", 0,
              "SecurityGroupInvalidIcmpValue");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"gre\",\"port_range_min\":1,"
              "\"port_range_max\":2}",
              0, "SecurityGroupInvalidProtocolForPortRange");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"banana\"}", 0,
              "SecurityGroupRuleInvalidProtocol");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"256\"}", 0,
              "SecurityGroupRuleInvalidProtocol");
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"47\"}", 1, NULL);
    rule_case("{\"direction\":\"ingress\",\"protocol\":\"icmpv6\"}", 0,
              "SecurityGroupEthertypeConflictWithProtocol");
    rule_case("{\"direction\":\"ingress\",\"remote_ip_prefix\":\"fd00::/64\"}", 0,
              "SecurityGroupRuleParameterConflict");
    rule_case("{\"direction\":\"ingress\",\"remote_ip_prefix\":\"10.0.0.0/8\","
              "\"remote_group_id\":\"x\"}",
              0, "SecurityGroupRemoteGroupAndRemoteIpPrefix");
    rule_case("{\"direction\":\"ingress\",\"remote_ip_prefix\":\"not-a-cidr\"}", 0,
              "HTTPBadRequest");
    {
        json_t *r =
            json_pack("{s:s,s:s}", "direction", "ingress", "remote_ip_prefix", "10.1.2.3/8");
        assert_int_equal(ln_rule_validate(r, NULL), 0);
        assert_string_equal(S(r, "remote_ip_prefix"), "10.0.0.0/8");
        json_decref(r);
    }
}

/* ---- the service -------------------------------------------------------------------------- */

struct fx {
    char dir[64];
    struct nph_store *store;
    struct local_network *ln;
};

static void pg_reset(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "psql -q '%s' -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null 2>&1",
             pg_url);
    assert_int_equal(system(cmd), 0);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    char url[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-network-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (pg_url) {
        pg_reset();
        snprintf(url, sizeof(url), "%s", pg_url);
    } else {
        snprintf(url, sizeof(url), "sqlite://%s/t.db", f->dir);
    }
    assert_int_equal(nph_store_open(url, 20, &f->store, &err), 0);
    assert_int_equal(local_network_migrate(f->store, NULL, &err), 0);
    f->ln = local_network_open(f->store, &err);
    assert_non_null(f->ln);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    local_network_close(f->ln);
    nph_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const struct local_network_caller alice = {"proj-a", 0};
static const struct local_network_caller bob = {"proj-b", 0};

static json_t *mk(struct fx *f, const struct local_network_caller *c, enum local_network_kind k,
                  const char *text, struct nph_error *err)
{
    json_t *a = json_loads(text, 0, NULL);
    json_t *r;
    assert_non_null(a);
    r = local_network_create(f->ln, c, k, a, err);
    json_decref(a);
    return r;
}

static json_t *mk_net_subnet(struct fx *f, const char *cidr, char *subnet_id)
{
    struct nph_error err = NPH_ERROR_INIT;
    char text[256];
    json_t *net = mk(f, &alice, LN_NETWORK, "{\"name\":\"n\"}", &err), *sub;
    if (!net)
        fail_msg("network: %s (%s)", err.msg, err.detail);
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\",\"ip_version\":4,\"cidr\":\"%s\"}",
             S(net, "id"), cidr);
    sub = mk(f, &alice, LN_SUBNET, text, &err);
    if (!sub)
        fail_msg("subnet: %s", err.msg);
    if (subnet_id)
        snprintf(subnet_id, 37, "%s", S(sub, "id"));
    json_decref(sub);
    return net;
}

static void test_subnets(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char text[512];
    json_t *net = mk_net_subnet(f, "10.1.0.0/24", NULL), *s, *list;
    const char *nid = S(net, "id");
    /* overlap refused, and nothing written */
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"ip_version\":4,\"cidr\":\"10.1.0.0/25\"}", nid);
    assert_null(mk(f, &alice, LN_SUBNET, text, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_non_null(strstr(err.msg, "overlaps with another subnet"));
    list = local_network_list(f->ln, &alice, LN_SUBNET, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    /* version mismatch, not a CIDR */
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"ip_version\":6,\"cidr\":\"10.2.0.0/24\"}", nid);
    assert_null(mk(f, &alice, LN_SUBNET, text, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\",\"ip_version\":4,\"cidr\":\"10.2.0\"}",
             nid);
    assert_null(mk(f, &alice, LN_SUBNET, text, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    /* IPv6 with explicit pools, DNS, routes; gateway inside a pool refused */
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"ip_version\":6,\"cidr\":\"fd00:1::/64\","
             "\"allocation_pools\":[{\"start\":\"fd00:1::10\",\"end\":\"fd00:1::20\"}],"
             "\"dns_nameservers\":[\"fd00:1::53\"],"
             "\"host_routes\":[{\"destination\":\"fd00:2::/64\",\"nexthop\":\"fd00:1::1\"}]}",
             nid);
    s = mk(f, &alice, LN_SUBNET, text, &err);
    if (!s)
        fail_msg("v6 subnet: %s", err.msg);
    assert_string_equal(S(s, "gateway_ip"), "fd00:1::1");
    json_decref(s);
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"ip_version\":4,\"cidr\":\"10.3.0.0/24\","
             "\"gateway_ip\":\"10.3.0.5\","
             "\"allocation_pools\":[{\"start\":\"10.3.0.2\",\"end\":\"10.3.0.9\"}]}",
             nid);
    assert_null(mk(f, &alice, LN_SUBNET, text, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_string_equal(err.detail, "GatewayConflictWithAllocationPools");
    /* another project neither sees nor uses the network */
    assert_null(local_network_get(f->ln, &bob, LN_NETWORK, nid, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\"}", nid);
    assert_null(mk(f, &bob, LN_PORT, text, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    list = local_network_list(f->ln, &bob, LN_NETWORK, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_decref(net);
}

static void test_port_addresses(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char sid[37], text[512];
    json_t *net = mk_net_subnet(f, "10.9.0.0/29", sid), *p1, *p2, *p3;
    const char *nid = S(net, "id");
    /* a /29 with the gateway at .1: .2 to .6 */
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\"}", nid);
    p1 = mk(f, &alice, LN_PORT, text, &err);
    assert_non_null(p1);
    assert_string_equal(S(json_array_get(json_object_get(p1, "fixed_ips"), 0), "ip_address"),
                        "10.9.0.2");
    assert_int_equal(strncmp(S(p1, "mac_address"), "fa:16:3e:", 9), 0);
    assert_int_equal(json_array_size(json_object_get(p1, "security_groups")), 1);
    /* a requested address: taken twice is a conflict */
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"fixed_ips\":[{\"ip_address\":\"10.9.0.6\"}]}", nid);
    p2 = mk(f, &alice, LN_PORT, text, &err);
    assert_non_null(p2);
    assert_null(mk(f, &alice, LN_PORT, text, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_string_equal(err.detail, "IpAddressAlreadyAllocated");
    /* outside the subnet */
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"fixed_ips\":[{\"subnet_id\":\"%s\",\"ip_address\":"
             "\"10.9.1.1\"}]}",
             nid, sid);
    assert_null(mk(f, &alice, LN_PORT, text, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    /* a MAC in use */
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\",\"mac_address\":\"%s\"}", nid,
             S(p1, "mac_address"));
    assert_null(mk(f, &alice, LN_PORT, text, &err));
    assert_string_equal(err.detail, "MacAddressInUse");
    /* delete returns the address: the allocator goes on past the last address it gave (.3,
     * .4, .5; .6 is taken), wraps around and gives .2 again; then the pool is full */
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p1, "id"), &err), 0);
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\"}", nid);
    for (int k = 3; k <= 5; k++) {
        char want[16];
        json_t *q = mk(f, &alice, LN_PORT, text, &err);
        assert_non_null(q);
        snprintf(want, sizeof(want), "10.9.0.%d", k);
        assert_string_equal(S(json_array_get(json_object_get(q, "fixed_ips"), 0), "ip_address"),
                            want);
        assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(q, "id"), &err), 0);
        json_decref(q);
    }
    p3 = mk(f, &alice, LN_PORT, text, &err);
    assert_non_null(p3);
    assert_string_equal(S(json_array_get(json_object_get(p3, "fixed_ips"), 0), "ip_address"),
                        "10.9.0.2");
    /* the subnet is in use, the network too */
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK, nid, &err), -1);
    assert_string_equal(err.detail, "NetworkInUse");
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p2, "id"), &err), 0);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_PORT, S(p3, "id"), &err), 0);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK, nid, &err), 0);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    json_decref(net);
}

struct race {
    struct fx *f;
    const char *net_id;
    json_t *port;
    struct nph_error err;
};

static void *race_create(void *arg)
{
    struct race *r = arg;
    char text[128];
    json_t *a;
    snprintf(text, sizeof(text), "{\"network_id\":\"%s\"}", r->net_id);
    a = json_loads(text, 0, NULL);
    r->port = local_network_create(r->f->ln, &alice, LN_PORT, a, &r->err);
    json_decref(a);
    return NULL;
}

static void test_ipam_race(void **state)
{
    struct fx *f = *state;
    struct race r[16];
    pthread_t t[16];
    json_t *net = mk_net_subnet(f, "10.7.0.0/28", NULL);
    int ok = 0, exhausted = 0;
    char seen[16][64];
    /* make the default group first, so that the 16 creates race on addresses only */
    char sg[40];
    struct nph_error err = NPH_ERROR_INIT;
    assert_int_equal(local_network_default_sg(f->ln, "proj-a", sg, &err), 0);
    for (int i = 0; i < 16; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].f = f;
        r[i].net_id = S(net, "id");
        assert_int_equal(pthread_create(&t[i], NULL, race_create, &r[i]), 0);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++) {
        if (r[i].port) {
            const char *ip =
                S(json_array_get(json_object_get(r[i].port, "fixed_ips"), 0), "ip_address");
            for (int j = 0; j < ok; j++)
                if (strcmp(seen[j], ip) == 0)
                    fail_msg("address %s handed out twice", ip);
            snprintf(seen[ok++], sizeof(seen[0]), "%s", ip);
            json_decref(r[i].port);
        } else {
            if (strcmp(r[i].err.detail, "IpAddressGenerationFailure") != 0)
                fail_msg("create %d failed otherwise: %s (%s)", i, r[i].err.msg, r[i].err.detail);
            assert_int_equal(r[i].err.code, NPH_E_CONFLICT);
            assert_non_null(strstr(r[i].err.msg, "No more IP addresses available on network"));
            exhausted++;
        }
    }
    /* a /28 has 14 hosts, less the gateway */
    assert_int_equal(ok, 13);
    assert_int_equal(exhausted, 3);
    json_decref(net);
}

/* Subnet pools: prefixes compacted, blocks handed out first-free and never twice under 20
 * concurrent subnet creates (16 /28s in a /24), the rest "Insufficient prefix space". */
struct pool_race {
    struct fx *f;
    const char *net_id, *pool_id;
    json_t *sub;
    struct nph_error err;
};

static void *pool_race_create(void *arg)
{
    struct pool_race *r = arg;
    char text[256];
    json_t *a;
    snprintf(text, sizeof(text),
             "{\"network_id\":\"%s\",\"ip_version\":4,\"subnetpool_id\":\"%s\"}", r->net_id,
             r->pool_id);
    a = json_loads(text, 0, NULL);
    r->sub = local_network_create(r->f->ln, &alice, LN_SUBNET, a, &r->err);
    json_decref(a);
    return NULL;
}

static void test_subnet_pools(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *p6 = mk(f, &alice, LN_SUBNETPOOL,
                    "{\"name\":\"v6\",\"prefixes\":[\"2001:db8::/33\",\"2001:db8:8000::/33\","
                    "\"2001:db8::/48\"],\"min_prefixlen\":48}",
                    &err);
    if (!p6)
        fail_msg("v6 pool: %s", err.msg);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p6, "prefixes"), 0)),
                        "2001:db8::/32");
    assert_int_equal(json_array_size(json_object_get(p6, "prefixes")), 1);
    assert_int_equal(json_integer_value(json_object_get(p6, "default_prefixlen")), 48);
    assert_int_equal(json_integer_value(json_object_get(p6, "max_prefixlen")), 128);
    json_t *net = mk(f, &alice, LN_NETWORK, "{\"name\":\"pools\"}", &err);
    assert_non_null(net);
    /* two /48s: the second one is the next block, past 64 bits of arithmetic */
    const char *want6[] = {"2001:db8::/48", "2001:db8:1::/48"};
    for (int i = 0; i < 2; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"network_id\":\"%s\",\"ip_version\":6,\"subnetpool_id\":\"%s\"}", S(net, "id"),
                 S(p6, "id"));
        json_t *sub = mk(f, &alice, LN_SUBNET, text, &err);
        if (!sub)
            fail_msg("v6 subnet %d: %s", i, err.msg);
        assert_string_equal(S(sub, "cidr"), want6[i]);
        assert_string_equal(S(sub, "subnetpool_id"), S(p6, "id"));
        json_decref(sub);
    }
    /* bob cannot see alice's pool */
    assert_null(local_network_get(f->ln, &bob, LN_SUBNETPOOL, S(p6, "id"), &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    json_t *p4 =
        mk(f, &alice, LN_SUBNETPOOL,
           "{\"name\":\"v4\",\"prefixes\":[\"10.9.0.0/24\"],\"default_prefixlen\":28}", &err);
    assert_non_null(p4);
    struct pool_race r[20];
    pthread_t t[20];
    for (int i = 0; i < 20; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].f = f;
        r[i].net_id = S(net, "id");
        r[i].pool_id = S(p4, "id");
        assert_int_equal(pthread_create(&t[i], NULL, pool_race_create, &r[i]), 0);
    }
    for (int i = 0; i < 20; i++)
        pthread_join(t[i], NULL);
    int ok = 0, full = 0;
    int seen[16] = {0};
    for (int i = 0; i < 20; i++) {
        if (r[i].sub) {
            struct ln_cidr c;
            assert_int_equal(ln_cidr_parse(S(r[i].sub, "cidr"), 0, &c, &err), 0);
            assert_int_equal(c.prefix, 28);
            int k = c.addr.b[3] / 16;
            if (seen[k]++)
                fail_msg("block %s handed out twice", S(r[i].sub, "cidr"));
            ok++;
            json_decref(r[i].sub);
        } else {
            if (strcmp(r[i].err.detail, "SubnetAllocationError") != 0)
                fail_msg("create %d failed otherwise: %s (%s)", i, r[i].err.msg, r[i].err.detail);
            assert_non_null(strstr(r[i].err.msg, "Insufficient prefix space"));
            full++;
        }
    }
    assert_int_equal(ok, 16);
    assert_int_equal(full, 4);
    /* in use: no delete; prefixes only grow */
    assert_int_equal(local_network_delete(f->ln, &alice, LN_SUBNETPOOL, S(p4, "id"), &err), -1);
    assert_string_equal(err.detail, "SubnetPoolInUse");
    json_t *shrink = json_loads("{\"prefixes\":[\"10.9.0.0/25\"]}", 0, NULL);
    assert_null(local_network_update(f->ln, &alice, LN_SUBNETPOOL, S(p4, "id"), shrink, &err));
    assert_string_equal(err.detail, "IllegalSubnetPoolPrefixUpdate");
    json_decref(shrink);
    json_t *grow = json_loads("{\"prefixes\":[\"10.9.1.0/24\",\"10.9.0.0/24\"]}", 0, NULL);
    json_t *up = local_network_update(f->ln, &alice, LN_SUBNETPOOL, S(p4, "id"), grow, &err);
    if (!up)
        fail_msg("grow: %s", err.msg);
    assert_string_equal(json_string_value(json_array_get(json_object_get(up, "prefixes"), 0)),
                        "10.9.0.0/23");
    json_decref(up);
    json_decref(grow);
    json_decref(p4);
    json_decref(p6);
    json_decref(net);
}

/* A port's floating IPs come from the indexed device column; rows written before it carried
 * the port (device_id NULL) are filled in when the service migrates. */
static void test_fip_by_port(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    assert_non_null(db);
    assert_true(nph_db_execf(db, &err,
                             "INSERT INTO net_resource (id, kind, project_id, parent_id, shared, "
                             "doc, created_at, device_id) VALUES ('fip-1', 'floatingip', "
                             "'proj-a', NULL, 0, ?, 1, NULL)",
                             "s",
                             "{\"id\":\"fip-1\",\"port_id\":\"port-9\","
                             "\"floating_ip_address\":\"172.24.4.9\"}") >= 0);
    nph_store_release(db);
    json_t *l = local_network_port_floatingips(f->ln, "port-9", &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 0); /* not yet: the old row has no device */
    json_decref(l);
    assert_int_equal(local_network_migrate(f->store, NULL, &err), 0);
    l = local_network_port_floatingips(f->ln, "port-9", &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(S(json_array_get(l, 0), "floating_ip_address"), "172.24.4.9");
    json_decref(l);
}

static void test_quota_and_groups(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *q = json_pack("{s:i}", "network", 1), *r, *sg, *list;
    char text[256];
    r = local_network_quota_set(f->ln, "proj-a", q, &err);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "network")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "port")), 500);
    json_decref(r);
    json_decref(q);
    r = mk(f, &alice, LN_NETWORK, "{\"name\":\"one\"}", &err);
    assert_non_null(r);
    json_decref(r);
    assert_null(mk(f, &alice, LN_NETWORK, "{\"name\":\"two\"}", &err));
    assert_string_equal(err.detail, "OverQuota");
    q = json_pack("{s:s}", "nonsense", "1");
    assert_null(local_network_quota_set(f->ln, "proj-a", q, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(q);
    /* the default group comes with Neutron's four rules; a new one with two */
    list = local_network_list(f->ln, &bob, LN_SECGROUP, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(S(json_array_get(list, 0), "name"), "default");
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(list, 0), "security_group_rules")), 4);
    json_decref(list);
    sg = mk(f, &bob, LN_SECGROUP, "{\"name\":\"web\"}", &err);
    assert_non_null(sg);
    assert_int_equal(json_array_size(json_object_get(sg, "security_group_rules")), 2);
    snprintf(text, sizeof(text),
             "{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
             "\"port_range_min\":80,\"port_range_max\":80}",
             S(sg, "id"));
    r = mk(f, &bob, LN_SGRULE, text, &err);
    assert_non_null(r);
    json_decref(r);
    assert_null(mk(f, &bob, LN_SGRULE, text, &err));
    assert_string_equal(err.detail, "SecurityGroupRuleExists");
    /* alice cannot add rules to bob's group */
    assert_null(mk(f, &alice, LN_SGRULE, text, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    json_decref(sg);
}

/* The change stamp moves with every write (create, update, delete, a refused write does not)
 * and not with reads, so that cached views of network state are never stale. */
static void test_change_stamp(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    uint64_t s0, s1, s2, s3, s4;
    json_t *net, *sg, *u, *r;
    assert_int_equal(local_network_stamp(f->ln, &s0, &err), 0);
    net = mk(f, &alice, LN_NETWORK, "{\"name\": \"n\"}", &err);
    assert_non_null(net);
    assert_int_equal(local_network_stamp(f->ln, &s1, &err), 0);
    assert_true(s1 != s0);
    sg = mk(f, &alice, LN_SECGROUP, "{\"name\": \"web\"}", &err);
    assert_non_null(sg);
    r = local_network_list(f->ln, &alice, LN_NETWORK, &err);
    json_decref(r);
    assert_int_equal(local_network_stamp(f->ln, &s2, &err), 0);
    u = json_pack("{s:s}", "name", "web2");
    r = local_network_update(f->ln, &alice, LN_SECGROUP,
                             json_string_value(json_object_get(sg, "id")), u, &err);
    assert_non_null(r);
    json_decref(r);
    assert_int_equal(local_network_stamp(f->ln, &s3, &err), 0);
    assert_true(s3 != s2);
    /* bob cannot rename alice's group: nothing written, the stamp stays */
    r = local_network_update(f->ln, &bob, LN_SECGROUP, json_string_value(json_object_get(sg, "id")),
                             u, &err);
    assert_null(r);
    assert_int_equal(local_network_stamp(f->ln, &s4, &err), 0);
    assert_true(s4 == s3);
    assert_int_equal(local_network_delete(f->ln, &alice, LN_NETWORK,
                                          json_string_value(json_object_get(net, "id")), &err),
                     0);
    assert_int_equal(local_network_stamp(f->ln, &s4, &err), 0);
    assert_true(s4 != s3);
    json_decref(u);
    json_decref(sg);
    json_decref(net);
}

static int run_group(const char *engine)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_overlap),
        cmocka_unit_test(test_rule_validate),
        cmocka_unit_test_setup_teardown(test_subnets, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_port_addresses, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_race, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_subnet_pools, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_by_port, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota_and_groups, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_change_stamp, fx_setup, fx_teardown),
    };
    char name[64];
    snprintf(name, sizeof(name), "network (%s)", engine);
    return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(void)
{
    const char *src = getenv("NPH_SOURCE_DIR");
    char cmd[8192], self[4096];
    ssize_t n;
    int rc, st;
    pg_url = getenv("NPH_TEST_PG_URL");
    if (pg_url && *pg_url)
        return run_group("PostgreSQL");
    pg_url = NULL;
    rc = run_group("SQLite");
    if (!src) {
        print_message("NPH_SOURCE_DIR is not set: the PostgreSQL pass is skipped\n");
        return rc;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return rc ? rc : 1;
    self[n] = '\0';
    snprintf(cmd, sizeof(cmd), "'%s/tests/pg_throwaway.sh' '%s'", src, self);
    st = system(cmd);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        print_message("PostgreSQL is not installed: the PostgreSQL pass is skipped\n");
        return rc;
    }
    return rc ? rc : (WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}
