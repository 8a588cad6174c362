/*
 * compat_nova_net.c - the native cloud's servers on its networks, for the Nova compatible API:
 * the `networks` of a server create ([{uuid}|{port}|{fixed_ip}], "auto", "none", absent) checked
 * before the server exists and bound to it after (a port per network, device_owner
 * compute:nova), the `addresses` and `security_groups` of the server view, the ports released
 * with the server, and os-interface (list, show, attach, detach).
 *
 * local/compute does not know about networks: the broker joins the two services here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "compat_nova_net.h"

static int nova_net_plan_nets(struct nph_app *app, const char *project_id, int is_admin,
                              const json_t *nets, json_t **plan, struct nph_error *err);

static struct local_network_caller net_caller(const char *project_id, int is_admin)
{
    struct local_network_caller c = {project_id ? project_id : "", is_admin};
    return c;
}

/* The one network "auto" (or no networks given) means, as Nova picks it: the project's own or
 * shared, not external. *out = NULL when there is none. */
static int pick_auto(struct nph_app *app, const char *project_id, json_t **out,
                     struct nph_error *err)
{
    struct local_network_caller c = net_caller(project_id, 0);
    json_t *all = local_network_list(app->network, &c, LN_NETWORK, err), *n, *found = NULL;
    size_t i;
    if (!all)
        return -1;
    json_array_foreach(all, i, n)
    {
        if (json_is_true(json_object_get(n, "router:external")))
            continue;
        if (found) {
            json_decref(all);
            return nph_error_set(err, NPH_E_CONFLICT,
                                 "Multiple possible networks found, use a Network ID to be more "
                                 "specific.");
        }
        found = n;
    }
    *out = found ? json_pack("[{s:O}]", "network_id", json_object_get(found, "id")) : NULL;
    json_decref(all);
    return 0;
}

/* Nova's security_groups ([{"name"}], names or ids) -> the caller's group ids (NULL: none
 * asked, the default group). */
static int group_ids(struct nph_app *app, const struct local_network_caller *c,
                     const json_t *groups, json_t **out, struct nph_error *err)
{
    json_t *all, *ids, *g, *sg;
    size_t i, j;
    *out = NULL;
    if (!json_is_array(groups) || !json_array_size(groups))
        return 0;
    if (!(all = local_network_list(app->network, c, LN_SECGROUP, err)))
        return -1;
    ids = json_array();
    json_array_foreach(groups, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        json_t *found = NULL;
        json_array_foreach(all, j, sg)
        {
            if (name &&
                strcmp(json_string_value(json_object_get(sg, "project_id")), c->project_id) == 0 &&
                (strcmp(json_string_value(json_object_get(sg, "name")), name) == 0 ||
                 strcmp(json_string_value(json_object_get(sg, "id")), name) == 0))
                found = json_object_get(sg, "id");
        }
        if (!found) {
            json_decref(all);
            json_decref(ids);
            return nph_error_set(err, NPH_E_INVALID, "Security group %s not found.",
                                 name ? name : "");
        }
        json_array_append(ids, found);
    }
    json_decref(all);
    *out = ids;
    return 0;
}

int nova_net_plan(struct nph_app *app, const char *project_id, int is_admin, const json_t *nets,
                  const json_t *groups, json_t **plan, struct nph_error *err)
{
    struct local_network_caller c = net_caller(project_id, is_admin);
    json_t *ids = NULL, *e;
    size_t i;
    if (nova_net_plan_nets(app, project_id, is_admin, nets, plan, err))
        return -1;
    if (!*plan)
        return 0;
    if (group_ids(app, &c, groups, &ids, err)) {
        json_decref(*plan);
        *plan = NULL;
        return -1;
    }
    json_array_foreach(*plan, i, e) if (ids && json_object_get(e, "network_id"))
        json_object_set(e, "security_groups", ids);
    json_decref(ids);
    return 0;
}

static int nova_net_plan_nets(struct nph_app *app, const char *project_id, int is_admin,
                              const json_t *nets, json_t **plan, struct nph_error *err)
{
    struct local_network_caller c = net_caller(project_id, is_admin);
    json_t *out, *e;
    size_t i;
    *plan = NULL;
    if (!app->network)
        return 0;
    if (json_is_string(nets) && strcmp(json_string_value(nets), "none") == 0)
        return 0;
    if (!nets || json_is_string(nets))
        return pick_auto(app, project_id, plan, err);
    out = json_array();
    json_array_foreach(nets, i, e)
    {
        const char *uuid = json_string_value(json_object_get(e, "uuid"));
        const char *port = json_string_value(json_object_get(e, "port"));
        json_t *r;
        if (!json_is_object(e) || (!uuid && !port)) {
            json_decref(out);
            return nph_error_set(err, NPH_E_INVALID,
                                 "Invalid input for field/attribute networks: each entry needs "
                                 "'uuid' or 'port'");
        }
        if (port) {
            r = local_network_get(app->network, &c, LN_PORT, port, err);
            if (!r) {
                json_decref(out);
                return nph_error_set(err, NPH_E_INVALID, "Port %s could not be found.", port);
            }
            if (*json_string_value(json_object_get(r, "device_id"))) {
                json_decref(r);
                json_decref(out);
                return nph_error_set(err, NPH_E_CONFLICT, "Port %s is still in use.", port);
            }
            json_array_append_new(out, json_pack("{s:s}", "port_id", port));
        } else {
            r = local_network_get(app->network, &c, LN_NETWORK, uuid, err);
            if (!r) {
                json_decref(out);
                return nph_error_set(err, NPH_E_INVALID, "Network %s could not be found.", uuid);
            }
            json_array_append_new(out, json_pack("{s:s}", "network_id", uuid));
        }
        json_decref(r);
    }
    *plan = out;
    return 0;
}

int nova_net_attach(struct nph_app *app, const char *project_id, int is_admin,
                    const char *server_id, const json_t *plan, struct nph_error *err)
{
    struct local_network_caller c = net_caller(project_id, is_admin);
    json_t *e;
    size_t i;
    json_array_foreach(plan, i, e)
    {
        json_t *p = local_network_port_bind(app->network, &c,
                                            json_string_value(json_object_get(e, "network_id")),
                                            json_string_value(json_object_get(e, "port_id")),
                                            server_id, json_object_get(e, "security_groups"), err);
        if (!p) {
            local_network_server_release(app->network, server_id, NULL);
            return -1;
        }
        json_decref(p);
    }
    return 0;
}

void nova_net_release(struct nph_app *app, const char *server_id)
{
    if (app->network)
        local_network_server_release(app->network, server_id, NULL);
}

void nova_net_view(struct nph_app *app, const char *server_id, json_t *view)
{
    struct local_network_caller admin = net_caller("", 1);
    json_t *ports, *p, *addresses = json_object(), *groups = json_array();
    size_t i, j;
    if (!app->network || !(ports = local_network_server_ports(app->network, server_id, NULL))) {
        json_decref(groups);
        json_decref(addresses);
        return;
    }
    json_array_foreach(ports, i, p)
    {
        json_t *net = local_network_get(app->network, &admin, LN_NETWORK,
                                        json_string_value(json_object_get(p, "network_id")), NULL);
        const char *name = net ? json_string_value(json_object_get(net, "name")) : "";
        json_t *list = json_object_get(addresses, name), *f, *g;
        if (!list) {
            list = json_array();
            json_object_set_new(addresses, name, list);
        }
        json_array_foreach(json_object_get(p, "fixed_ips"), j, f)
        {
            const char *ip = json_string_value(json_object_get(f, "ip_address"));
            json_array_append_new(
                list, json_pack("{s:i,s:s,s:s,s:O}", "version", strchr(ip, ':') ? 6 : 4, "addr", ip,
                                "OS-EXT-IPS:TYPE", "fixed", "OS-EXT-IPS-MAC:mac_addr",
                                json_object_get(p, "mac_address")));
        }
        json_array_foreach(json_object_get(p, "security_groups"), j, g)
        {
            json_t *sg =
                local_network_get(app->network, &admin, LN_SECGROUP, json_string_value(g), NULL);
            int seen = 0;
            size_t k;
            json_t *h;
            if (!sg)
                continue;
            json_array_foreach(groups, k, h) seen |=
                json_equal(json_object_get(h, "name"), json_object_get(sg, "name"));
            if (!seen)
                json_array_append_new(groups,
                                      json_pack("{s:O}", "name", json_object_get(sg, "name")));
            json_decref(sg);
        }
        json_decref(net);
    }
    json_decref(ports);
    json_object_set_new(view, "addresses", addresses);
    if (json_array_size(groups))
        json_object_set_new(view, "security_groups", groups);
    else
        json_decref(groups);
}

/* ---- os-interface ------------------------------------------------------------------------- */

static json_t *attachment(const json_t *p)
{
    json_t *fixed = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(p, "fixed_ips"), i, f) json_array_append_new(
        fixed, json_pack("{s:O,s:O}", "subnet_id", json_object_get(f, "subnet_id"), "ip_address",
                         json_object_get(f, "ip_address")));
    return json_pack("{s:O,s:o,s:O,s:O,s:O}", "port_state", json_object_get(p, "status"),
                     "fixed_ips", fixed, "port_id", json_object_get(p, "id"), "net_id",
                     json_object_get(p, "network_id"), "mac_addr",
                     json_object_get(p, "mac_address"));
}

/* Authenticate and check the server is the caller's (Nova's 404 otherwise). */
static int iface_begin(struct http_req *req, struct local_compute_caller *cc, struct nph_error *err)
{
    struct nph_app *app = req->app;
    const struct ident_token *t;
    json_t *s;
    if (app_authenticate(req, err))
        return -1;
    t = req->auth;
    memset(cc, 0, sizeof(*cc));
    cc->project_id = t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "";
    cc->user_id = t->user_id;
    cc->is_admin = ident_token_is_admin(t);
    cc->request_id = req->request_id;
    if (!(s = local_compute_server_get(app->compute, cc, req->params[0], err)))
        return -1;
    json_decref(s);
    if (!app->network)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "networks are not supported here");
    return 0;
}

static int iface_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_compute_caller cc;
    struct nph_app *app = req->app;
    json_t *ports, *out, *p;
    size_t i;
    if (iface_begin(req, &cc, err) ||
        !(ports = local_network_server_ports(app->network, req->params[0], err)))
        return -1;
    out = json_array();
    json_array_foreach(ports, i, p) json_array_append_new(out, attachment(p));
    json_decref(ports);
    return http_resp_json(resp, 200, json_pack("{s:o}", "interfaceAttachments", out));
}

static int iface_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_compute_caller cc;
    struct nph_app *app = req->app;
    json_t *ports, *p;
    size_t i;
    if (iface_begin(req, &cc, err) ||
        !(ports = local_network_server_ports(app->network, req->params[0], err)))
        return -1;
    json_array_foreach(ports, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "id")), req->params[1]) == 0) {
            json_t *a = attachment(p);
            json_decref(ports);
            return http_resp_json(resp, 200, json_pack("{s:o}", "interfaceAttachment", a));
        }
    }
    json_decref(ports);
    return nph_error_set(err, NPH_E_NOT_FOUND, "Port %.64s is not attached", req->params[1]);
}

static int iface_attach(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_compute_caller cc;
    struct nph_app *app = req->app;
    struct local_network_caller c;
    json_t *body, *in, *p;
    const char *net, *port;
    if (iface_begin(req, &cc, err) || !(body = http_req_json(req, err)))
        return -1;
    in = json_object_get(body, "interfaceAttachment");
    net = json_string_value(json_object_get(in, "net_id"));
    port = json_string_value(json_object_get(in, "port_id"));
    if (!json_is_object(in) || (net && port)) {
        json_decref(body);
        return nph_error_set(err, NPH_E_INVALID,
                             "Invalid input for field/attribute interfaceAttachment");
    }
    c = net_caller(cc.project_id, cc.is_admin);
    if (!net && !port) {
        json_t *plan = NULL;
        if (nova_net_plan(app, cc.project_id, cc.is_admin, NULL, NULL, &plan, err)) {
            json_decref(body);
            return -1;
        }
        if (!plan) {
            json_decref(body);
            return nph_error_set(err, NPH_E_INVALID, "No network is available to attach");
        }
        p = local_network_port_bind(
            app->network, &c,
            json_string_value(json_object_get(json_array_get(plan, 0), "network_id")), NULL,
            req->params[0], NULL, err);
        json_decref(plan);
    } else {
        p = local_network_port_bind(app->network, &c, net, port, req->params[0], NULL, err);
    }
    json_decref(body);
    if (!p)
        return -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "interfaceAttachment", attachment(p)));
}

static int iface_detach(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_compute_caller cc;
    struct nph_app *app = req->app;
    struct local_network_caller c;
    json_t *ports, *p, *mine = NULL;
    size_t i;
    if (iface_begin(req, &cc, err) ||
        !(ports = local_network_server_ports(app->network, req->params[0], err)))
        return -1;
    json_array_foreach(ports, i, p) if (strcmp(json_string_value(json_object_get(p, "id")),
                                               req->params[1]) == 0) mine = p;
    if (!mine) {
        json_decref(ports);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Port %.64s is not attached", req->params[1]);
    }
    c = net_caller(cc.project_id, cc.is_admin);
    if (json_is_true(json_object_get(mine, "nph:bound"))) {
        json_t *u = json_pack("{s:s,s:s}", "device_id", "", "device_owner", "");
        json_t *r = local_network_update(app->network, &c, LN_PORT, req->params[1], u, err);
        json_decref(u);
        json_decref(ports);
        if (!r)
            return -1;
        json_decref(r);
    } else {
        json_decref(ports);
        if (local_network_delete(app->network, &c, LN_PORT, req->params[1], err))
            return -1;
    }
    resp->status = 202;
    return 0;
}

#define NV "/compute/v2.1/servers/{server_id}/os-interface"
const struct http_route compat_nova_net_routes[] = {
    {"GET", NV, iface_list, "compute.interfaces.list", NPH_FAULT_OPENSTACK},
    {"POST", NV, iface_attach, "compute.interfaces.attach", NPH_FAULT_OPENSTACK},
    {"GET", NV "/{port_id}", iface_show, "compute.interfaces.get", NPH_FAULT_OPENSTACK},
    {"DELETE", NV "/{port_id}", iface_detach, "compute.interfaces.detach", NPH_FAULT_OPENSTACK},
    {NULL, NULL, NULL, NULL, 0},
};
