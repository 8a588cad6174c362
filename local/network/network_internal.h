/*
 * network_internal.h - private to local/network: the service struct, the resource rows and the
 * helpers the files share.
 *
 * Every resource is one row of net_resource (id, kind, project_id, parent_id, shared, doc): the
 * doc is the resource as Neutron shows it, less what is derived at read time (a network's
 * subnets, a group's rules). parent_id is a subnet's or port's network, a rule's group, a
 * router port's router. shared = 1 makes the row visible to every project (shared or external
 * networks, subnets of shared networks). Addresses live in net_ip, MACs in net_mac: their
 * primary keys are what keeps an address or a MAC from being handed out twice.
 */
#ifndef NETWORK_INTERNAL_H
#define NETWORK_INTERNAL_H

#include <pthread.h>

#include <libxml/tree.h>

#include "local_network.h"
#include "nph_id.h"

struct local_network {
    struct nph_store *store;
    local_network_hook_fn hook;
    void *hook_ctx;
    struct ln_virt *virt; /* libvirt realisation (network_virt.c); NULL: none */
    /* SQLite has one writer at a time: this service's writers queue here instead of in
     * SQLite's busy handler, whose sleeps (up to 100 ms) make a convoy under concurrency */
    pthread_mutex_t wlock;
};
/* Take / give back wlock around a write transaction on SQLite (nothing on PostgreSQL). */
void ln_wlock(struct local_network *ln, struct nph_db *db);
void ln_wunlock(struct local_network *ln, struct nph_db *db);

/* Realise a change in libvirt networks (network_virt.c), inside the change's transaction,
 * before its commit: `what` "create"/"update"/"delete", old the resource before an update (or
 * NULL). 0 when there is no libvirt URI. */
int ln_virt_apply(struct local_network *ln, struct nph_db *db, enum local_network_kind kind,
                  const char *what, const json_t *doc, const json_t *old, struct nph_error *err);
void ln_virt_close(struct local_network *ln);
/* Security groups and ports as nwfilters (network_virt.c), after the change's commit (libvirt
 * re-instantiating a filter on running domains is slow: not inside a write transaction), and
 * before the hook plugs a port's interface. */
int ln_virt_filters(struct local_network *ln, enum local_network_kind kind, const char *what,
                    const json_t *doc, const json_t *old, struct nph_error *err);
/* After a port's delete and its interface's unplug: undefine its nwfilter (one still in use by
 * a domain being deleted is retried at the next change). */
void ln_virt_port_gone(struct local_network *ln, const char *port_id);
/* The port's interface references an nwfilter: any port but network:* (router, floating IP)
 * ones. Without port security the filter is empty (accepts everything), so turning port
 * security on or off on a bound port redefines the filter its running interface references. */
int ln_port_filtered(const json_t *port);

/* Neutron's exception names, written into err->detail. */
#define LN_SET(err, code, type, ...)                                                               \
    (nph_error_set((err), (code), __VA_ARGS__), nph_error_detail((err), "%s", (type)))

/* A row's doc by id and kind, NULL (NPH_E_NOT_FOUND with Neutron's words) if absent or not
 * visible to c (c NULL: no visibility check). */
json_t *ln_fetch(struct nph_db *db, const struct local_network_caller *c,
                 enum local_network_kind kind, const char *id, struct nph_error *err);
/* The caller may change the resource (admin or owner): else NPH_E_FORBIDDEN. */
int ln_owner_check(const struct local_network_caller *c, const json_t *doc, const char *action,
                   struct nph_error *err);
int ln_not_found(struct nph_error *err, enum local_network_kind kind, const char *id);
int ln_row_insert(struct nph_db *db, enum local_network_kind kind, const json_t *doc,
                  const char *parent_id, int shared, struct nph_error *err);
/* Rewrite the doc (bumping revision_number and updated_at). */
int ln_row_update(struct nph_db *db, json_t *doc, int shared, struct nph_error *err);
int ln_row_delete(struct nph_db *db, const char *id, struct nph_error *err);
/* Docs of a kind with parent_id = parent (NULL: any), oldest first. */
json_t *ln_children(struct nph_db *db, enum local_network_kind kind, const char *parent,
                    struct nph_error *err);

/* A new doc with id, project_id/tenant_id, timestamps, revision 0, description, tags. */
json_t *ln_doc_new(const struct local_network_caller *c, const json_t *attrs,
                   struct nph_error *err);
/* Unknown attributes -> NPH_E_INVALID "Unrecognized attribute(s) 'x'". */
int ln_check_attrs(const json_t *attrs, const char *const *allowed, struct nph_error *err);
/* Typed attribute readers with Neutron's conversions (booleans from "true"/"false").
 * 1 absent (out untouched), 0 read, -1 bad. */
int ln_get_bool(const json_t *attrs, const char *key, int *out, struct nph_error *err);
int ln_get_str(const json_t *attrs, const char *key, size_t max, int nullable, const char **out,
               struct nph_error *err);
/* Copy the listed string/bool attributes present in attrs into doc after checking them. */
int ln_copy_common(json_t *doc, const json_t *attrs, struct nph_error *err);

/* Quota check for one more `kind` in the caller's project (inside the transaction). */
int ln_quota_check(struct nph_db *db, const char *project_id, enum local_network_kind kind,
                   struct nph_error *err);
/* PostgreSQL: a transaction-scoped advisory lock on (class, key); SQLite: nothing. */
int ln_lock(struct nph_db *db, const char *cls, const char *key, struct nph_error *err);

/* ---- per kind (network_net.c, network_port.c, network_sg.c, network_router.c) ------------- */

json_t *ln_network_create(struct nph_db *db, const struct local_network_caller *c,
                          const json_t *attrs, struct nph_error *err);
int ln_network_update(struct nph_db *db, json_t *doc, const json_t *attrs,
                      const struct local_network_caller *c, struct nph_error *err);
int ln_network_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);
json_t *ln_subnet_create(struct nph_db *db, const struct local_network_caller *c,
                         const json_t *attrs, struct nph_error *err);
int ln_subnet_update(struct nph_db *db, json_t *doc, const json_t *attrs, struct nph_error *err);
int ln_subnet_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);

json_t *ln_port_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err);
int ln_port_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                   const json_t *attrs, struct nph_error *err);
/* Release the port's addresses and MAC, then delete its row. */
int ln_port_remove(struct nph_db *db, const json_t *doc, struct nph_error *err);
int ln_port_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);
/* Allocate fixed IPs on `net` for the requested list (NULL = Neutron's default choice) and
 * record them for port_id. Returns the fixed_ips array. */
json_t *ln_ipam_allocate(struct nph_db *db, const json_t *net, const json_t *requested,
                         const char *port_id, const char *mac, int is_router,
                         struct nph_error *err);
int ln_ipam_release(struct nph_db *db, const char *port_id, struct nph_error *err);
/* A port doc (internal owners, no quota, no security groups): device_owner/device_id, on
 * `net`, fixed_ips requested (NULL: default). project "" for gateway/floating IP ports. */
json_t *ln_port_internal(struct nph_db *db, const json_t *net, const char *project_id,
                         const char *owner, const char *device_id, const json_t *fixed_ips,
                         struct nph_error *err);

json_t *ln_sg_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                     struct nph_error *err);
int ln_sg_update(struct nph_db *db, json_t *doc, const json_t *attrs, struct nph_error *err);
int ln_sg_delete(struct nph_db *db, const struct local_network_caller *c, const json_t *doc,
                 struct nph_error *err);
json_t *ln_rule_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err);
/* Ensure the project's default group exists (inside db's transaction); id into out. */
int ln_default_sg(struct nph_db *db, const char *project_id, char *out, struct nph_error *err);
/* Add the rules of a group to its doc (read time). */
int ln_sg_decorate(struct nph_db *db, json_t *doc, struct nph_error *err);

json_t *ln_router_create(struct nph_db *db, const struct local_network_caller *c,
                         const json_t *attrs, struct nph_error *err);
int ln_router_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                     const json_t *attrs, struct nph_error *err);
int ln_router_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);
json_t *ln_fip_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                      struct nph_error *err);
int ln_fip_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                  const json_t *attrs, struct nph_error *err);
int ln_fip_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);
/* Subnet pools (network_pool.c). */
json_t *ln_pool_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err);
int ln_pool_update(struct nph_db *db, const struct local_network_caller *c, json_t *doc,
                   const json_t *attrs, struct nph_error *err);
int ln_pool_delete(struct nph_db *db, const json_t *doc, struct nph_error *err);
/* A subnet's CIDR from its pool (attrs' subnetpool_id, or the default pool of the version with
 * use_default_subnetpool): a given cidr must lie free inside the pool, else the first free
 * block of prefixlen (default: the pool's). 1 with cidr_out and pool_id_out, 0 when the
 * request names no pool, -1 with err. */
int ln_pool_subnet_cidr(struct nph_db *db, const struct local_network_caller *c,
                        const json_t *attrs, int version, char cidr_out[64],
                        char pool_id_out[NPH_UUID_LEN + 1], struct nph_error *err);
/* Disassociate the floating IPs bound to a port being deleted. */
int ln_fip_port_gone(struct nph_db *db, const char *port_id, struct nph_error *err);

/* doc serialised as indented UTF-8 text (freed, whatever happens); NULL on no memory. */
char *net_xml_dump(xmlDocPtr doc, struct nph_error *err);

#endif
