/*
 * local_network.h - the native cloud's networks: networks, subnets, ports with IP address
 * management and MAC addresses, security groups and their rules, routers, floating IPs and
 * per-project quotas.
 *
 * Vocabulary. Resources are jansson objects shaped as Neutron v2.0 shows them, so that the
 * compatible API (broker/compat_neutron.c) only filters, selects fields and pages:
 *   network   {"id","name","project_id","tenant_id","admin_state_up","mtu","shared",
 *              "router:external","status","subnets":[ids],"description","created_at",...}
 *   subnet    {"id","name","network_id","ip_version","cidr","gateway_ip","allocation_pools",
 *              "dns_nameservers","host_routes","enable_dhcp","ipv6_address_mode",...}
 *   port      {"id","name","network_id","mac_address","fixed_ips":[{"subnet_id","ip_address"}],
 *              "device_id","device_owner","security_groups":[ids],"status",...}
 *   security_group {"id","name","description","security_group_rules":[rules],...}
 *   security_group_rule {"id","security_group_id","direction","ethertype","protocol",
 *              "port_range_min","port_range_max","remote_ip_prefix","remote_group_id",...}
 *   router    {"id","name","external_gateway_info","admin_state_up","status",...}
 *   floatingip {"id","floating_ip_address","floating_network_id","port_id","fixed_ip_address",
 *              "router_id","status",...}
 *   subnetpool {"id","name","prefixes","ip_version","min_prefixlen","max_prefixlen",
 *              "default_prefixlen","is_default","shared",...}; a subnet created with
 *              subnetpool_id (or use_default_subnetpool) takes its CIDR from the pool
 *
 * Visibility: a project sees its own resources, shared networks (and their subnets) and
 * external networks; others are NPH_E_NOT_FOUND ("Network <id> could not be found."). Admins
 * see everything. Errors carry Neutron's exception name (e.g. "IpAddressGenerationFailure",
 * "NetworkNotFound", "OverQuota") in err->detail, for Neutron's fault "type".
 *
 * Addresses. An address belongs to at most one port: table net_ip has the primary key
 * (subnet_id, address); allocation runs in the port's transaction (SQLite: BEGIN IMMEDIATE
 * serialises writers; PostgreSQL: a per-subnet advisory lock, and a unique violation is retried).
 * Deleting a port returns its addresses.
 */
#ifndef LOCAL_NETWORK_H
#define LOCAL_NETWORK_H

#include <jansson.h>
#include <stdint.h>

#include "nph_error.h"
#include "nph_store.h"

struct local_network;

enum local_network_kind {
    LN_NETWORK,
    LN_SUBNET,
    LN_PORT,
    LN_SECGROUP,
    LN_SGRULE,
    LN_ROUTER,
    LN_FLOATINGIP,
    LN_SUBNETPOOL,
    LN__KINDS
};

struct local_network_caller {
    const char *project_id;
    int is_admin;
};

/* Called when a resource changes, for what lies outside the network service (a port's
 * interface on a server's domain): `what` is "create"/"update" (after the commit; `old` the
 * resource before an update) or "delete" (before the commit). A failure (-1 with err) undoes
 * the change: a created resource is deleted again, an update is written back, a delete is
 * rolled back; the caller gets the error. Not called for server_release (the server's domain
 * goes away with it). */
typedef int (*local_network_hook_fn)(void *ctx, enum local_network_kind kind, const char *what,
                                     const json_t *res, const json_t *old, struct nph_error *err);

/* Apply the network schema migrations (component "network"). */
int local_network_migrate(struct nph_store *store, int *applied, struct nph_error *err);
/* A service over a migrated store (borrowed for the service's lifetime). NULL on no memory. */
struct local_network *local_network_open(struct nph_store *store, struct nph_error *err);
void local_network_set_hook(struct local_network *ln, local_network_hook_fn fn, void *ctx);
void local_network_close(struct local_network *ln);
/* Realise networks in libvirt at `uri` (network_virt.c, docs/network.md): each network a libvirt
 * network named by local_network_virt_name with DHCP host entries for its ports, kept in step
 * with every change, in the change's transaction (a libvirt failure is NPH_E_BACKEND or
 * NPH_E_UNAVAILABLE, and the change is not made). Networks libvirt lacks are realised now
 * (failures logged). NPH_E_INVALID if set twice. */
int local_network_set_libvirt(struct local_network *ln, const char *uri, struct nph_error *err);
/* The libvirt network name of a Nephele network: "nephele-<id>" into buf (>= 48 bytes). */
const char *local_network_virt_name(const char *network_id, char *buf, size_t cap);

/* The libvirt nwfilter of a security group (what "sg") or a port (what "port"):
 * "nephele-<what>-<id>" into buf (>= 96 bytes). */
const char *local_network_filter_name(const char *what, const char *id, char *buf, size_t cap);
/* The nwfilter a server's interface for `port` references (into buf, >= 96 bytes), or NULL when
 * there is none: no libvirt URI, a connection without nwfilter support (libvirt's test
 * driver), or a port without port security (docs/network.md). */
const char *local_network_port_filter(struct local_network *ln, const json_t *port, char *buf,
                                      size_t cap);

/* The singular name ("network", "security_group", ...) and collection name ("networks",
 * "security_groups") of a kind, as Neutron's bodies use them. */
const char *local_network_kind_name(enum local_network_kind kind);
const char *local_network_kind_plural(enum local_network_kind kind);

/* Create a resource from Neutron's request attributes (the object inside {"network": ...}).
 * Validates everything before writing; NPH_E_INVALID (400) for bad input, NPH_E_CONFLICT (409)
 * for overlapping subnets, exhausted pools, MACs or addresses in use, NPH_E_NOT_FOUND for a
 * parent the caller cannot see, NPH_E_CONFLICT with "OverQuota" when over quota. Returns the
 * resource (new reference). A security group gets Neutron's two default egress rules. */
json_t *local_network_create(struct local_network *ln, const struct local_network_caller *c,
                             enum local_network_kind kind, const json_t *attrs,
                             struct nph_error *err);
json_t *local_network_get(struct local_network *ln, const struct local_network_caller *c,
                          enum local_network_kind kind, const char *id, struct nph_error *err);
/* Every resource of the kind visible to the caller, oldest first. Listing security groups
 * creates the caller's "default" group on first use. Returns an array (new reference). */
json_t *local_network_list(struct local_network *ln, const struct local_network_caller *c,
                           enum local_network_kind kind, struct nph_error *err);
/* Update the mutable attributes (others: NPH_E_INVALID, as Neutron refuses them). */
json_t *local_network_update(struct local_network *ln, const struct local_network_caller *c,
                             enum local_network_kind kind, const char *id, const json_t *attrs,
                             struct nph_error *err);
/* Delete; a network with ports of other owners, a subnet with allocated addresses, a group in
 * use, a router with interfaces are NPH_E_CONFLICT ("...InUse"). A network's own ports (DHCP,
 * none here) and subnets go with it. */
int local_network_delete(struct local_network *ln, const struct local_network_caller *c,
                         enum local_network_kind kind, const char *id, struct nph_error *err);

/* PUT /routers/{id}/add_router_interface: body {"subnet_id"} or {"port_id"}. Returns Neutron's
 * {"id","subnet_id","subnet_ids","port_id","network_id","tenant_id","project_id"}. */
json_t *local_network_router_interface(struct local_network *ln,
                                       const struct local_network_caller *c, const char *router_id,
                                       const json_t *body, int add, struct nph_error *err);

/* The caller's "default" security group (created with Neutron's default rules on first use):
 * copies its id into id_out (37 bytes). */
int local_network_default_sg(struct local_network *ln, const char *project_id, char *id_out,
                             struct nph_error *err);

/* A number that moves whenever any resource is written (by this process or another on the
 * same store), for caches of views that show network state (a server's addresses and groups). */
int local_network_stamp(struct local_network *ln, uint64_t *out, struct nph_error *err);

/* Quotas: {"network":100,"subnet":100,"port":500,"security_group":10,
 * "security_group_rule":100,"router":10,"floatingip":50} with the project's overrides (-1 =
 * unlimited). set: admin only (the caller checks); unknown keys or values below -1 are
 * NPH_E_INVALID. Returns the resulting set. */
json_t *local_network_quota_get(struct local_network *ln, const char *project_id,
                                struct nph_error *err);
json_t *local_network_quota_set(struct local_network *ln, const char *project_id,
                                const json_t *limits, struct nph_error *err);
int local_network_quota_reset(struct local_network *ln, const char *project_id,
                              struct nph_error *err);

/* ---- for compute: the ports of servers ---------------------------------------------------- */

/* Create a port for a server on network `network_id` (or bind the existing `port_id`, which
 * must be free and the caller's): device_owner "compute:nova", device_id server_id. Returns the
 * port (new reference). security_groups: ids for a created port (NULL: the default group). */
json_t *local_network_port_bind(struct local_network *ln, const struct local_network_caller *c,
                                const char *network_id, const char *port_id, const char *server_id,
                                const json_t *security_groups, struct nph_error *err);
/* The floating IPs associated with a port (an array, new reference; an index lookup). */
json_t *local_network_port_floatingips(struct local_network *ln, const char *port_id,
                                       struct nph_error *err);
/* Ports whose device_id is server_id (an array, new reference). */
json_t *local_network_server_ports(struct local_network *ln, const char *server_id,
                                   struct nph_error *err);
/* Delete the ports created for the server and unbind the ones given to it. */
int local_network_server_release(struct local_network *ln, const char *server_id,
                                 struct nph_error *err);

/* ---- addresses (network_cidr.c): pure helpers, exposed for tests -------------------------- */

struct ln_addr {
    int version;   /* 4 or 6 */
    uint8_t b[16]; /* network byte order; IPv4 in b[0..3] */
};
struct ln_cidr {
    struct ln_addr addr; /* the network address (host bits cleared) */
    int prefix;
};

/* Parse an address; 0 or -1 (NPH_E_INVALID "'x' is not a valid IP address"). */
int ln_addr_parse(const char *s, struct ln_addr *out, struct nph_error *err);
/* Canonical text (inet_ntop) into buf (>= 46 bytes). */
const char *ln_addr_format(const struct ln_addr *a, char *buf, size_t cap);
/* Parse "a/len"; strict: host bits set is NPH_E_INVALID unless `lenient` (then cleared). */
int ln_cidr_parse(const char *s, int lenient, struct ln_cidr *out, struct nph_error *err);
const char *ln_cidr_format(const struct ln_cidr *c, char *buf, size_t cap);
int ln_cidr_contains(const struct ln_cidr *c, const struct ln_addr *a);
int ln_cidr_overlap(const struct ln_cidr *a, const struct ln_cidr *b);
/* -1, 0, 1 as a < b; addresses of different versions compare by version. */
int ln_addr_cmp(const struct ln_addr *a, const struct ln_addr *b);
/* a + n within its family (wraps inside the 128 bits; callers bound it). */
void ln_addr_add(struct ln_addr *a, uint64_t n);
/* The address at offset n of the CIDR (n = 1: the first host). */
void ln_cidr_nth(const struct ln_cidr *c, uint64_t n, struct ln_addr *out);
/* The last address of the CIDR (broadcast for IPv4). */
void ln_cidr_last(const struct ln_cidr *c, struct ln_addr *out);
/* EUI-64 address of `mac` ("fa:16:3e:..") in an IPv6 /64 prefix. */
int ln_addr_eui64(const struct ln_cidr *prefix, const char *mac, struct ln_addr *out,
                  struct nph_error *err);

/* Rule validation, exposed for tests: normalises attrs of a security group rule (direction,
 * ethertype, protocol names to lower case / numbers, port ranges, remote prefix matching the
 * ethertype); NPH_E_INVALID with Neutron's words otherwise. */
int ln_rule_validate(json_t *rule, struct nph_error *err);

/* nwfilter XML (network_filter.c), exposed for tests. A group's filter from its rules, with
 * members {"<group id>": ["address", ...]} giving the addresses of each remote group's member
 * ports; a port's filter from the port (its "id" and "security_groups"). malloc'd. */
char *ln_filter_sg_xml(const char *sg_id, const json_t *rules, const json_t *members,
                       struct nph_error *err);
char *ln_filter_port_xml(const json_t *port, struct nph_error *err);

#endif
