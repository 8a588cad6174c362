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
#include <strings.h>

#include "app.h"
#include "compat_nova_fed.h"
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
    json_t *ports, *p, *addresses = json_object(), *groups = json_array(), *fips = NULL;
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
                                "OS-EXT-IPS:type", "fixed", "OS-EXT-IPS-MAC:mac_addr",
                                json_object_get(p, "mac_address")));
        }
        /* floating IPs on the port follow its fixed ones, as Nova lists them */
        json_decref(fips);
        fips = local_network_port_floatingips(app->network,
                                              json_string_value(json_object_get(p, "id")), NULL);
        json_array_foreach(fips, j, f)
        {
            const char *ip = json_string_value(json_object_get(f, "floating_ip_address"));
            if (ip && json_equal(json_object_get(f, "port_id"), json_object_get(p, "id")))
                json_array_append_new(
                    list, json_pack("{s:i,s:s,s:s,s:O}", "version", strchr(ip, ':') ? 6 : 4, "addr",
                                    ip, "OS-EXT-IPS:type", "floating", "OS-EXT-IPS-MAC:mac_addr",
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
    json_decref(fips);
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

/* ---- os-security-groups and os-security-group-rules ---------------------------------------
 * Nova's proxy of the network API's security groups, for microversions below 2.36 (from 2.36
 * on these paths are 404, as in Nova). Groups are shown in Nova's form: {"id","name",
 * "description","tenant_id","rules"} with the ingress rules only, each {"id","parent_group_id",
 * "ip_protocol","from_port","to_port","ip_range":{"cidr"}|{},"group":{"name","tenant_id"}|{}}.
 * Network-API conflicts (a group in use, the default group) are Nova's 400. */

static int sg_begin(struct http_req *req, struct http_resp *resp, struct local_network_caller *c,
                    struct nph_error *err)
{
    struct nph_app *app = req->app;
    const struct ident_token *t;
    int minor;
    if (nova_request_microversion(req, resp, &minor, err))
        return -1;
    if (app_authenticate(req, err))
        return -1;
    if (minor >= 36)
        return nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
    if (!app->network)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "networks are not supported here");
    t = req->auth;
    *c = net_caller(t->scope == IDENT_SCOPE_PROJECT ? t->scope_id : "", ident_token_is_admin(t));
    return 0;
}

/* What a handler returns when sg_begin failed: 0 when the 406 is already written. */
static int sg_fail(const struct http_resp *resp)
{
    return resp->status == 406 ? 0 : -1;
}

/* The network API's conflicts are Nova's 400; its 404 names the group as Nova does. */
static int sg_error(struct nph_error *err, const char *id)
{
    if (err->code == NPH_E_CONFLICT)
        err->code = NPH_E_INVALID;
    else if (err->code == NPH_E_NOT_FOUND && id)
        nph_error_set(err, NPH_E_NOT_FOUND, "Security group %.64s not found.", id);
    return -1;
}

static json_t *nova_rule(const json_t *r, const json_t *groups)
{
    const char *proto = json_string_value(json_object_get(r, "protocol"));
    json_t *min = json_object_get(r, "port_range_min"), *max = json_object_get(r, "port_range_max");
    json_t *from, *to, *range = json_object(), *group = json_object(), *g;
    const char *remote = json_string_value(json_object_get(r, "remote_group_id"));
    size_t i;
    if (proto && json_is_null(min ? min : json_null())) {
        int all = strcasecmp(proto, "tcp") == 0 || strcasecmp(proto, "udp") == 0;
        from = json_integer(all ? 1 : -1);
        to = json_integer(all ? 65535 : -1);
    } else {
        from = json_deep_copy(min ? min : json_null());
        to = json_deep_copy(max ? max : json_null());
    }
    if (remote) {
        json_array_foreach(groups, i, g)
        {
            if (strcmp(json_string_value(json_object_get(g, "id")), remote) == 0) {
                json_object_set(group, "name", json_object_get(g, "name"));
                json_object_set(group, "tenant_id", json_object_get(g, "project_id"));
            }
        }
    } else {
        const char *cidr = json_string_value(json_object_get(r, "remote_ip_prefix"));
        json_object_set_new(range, "cidr", json_string(cidr ? cidr : "0.0.0.0/0"));
    }
    return json_pack("{s:O,s:O,s:s?,s:o,s:o,s:o,s:o}", "id", json_object_get(r, "id"),
                     "parent_group_id", json_object_get(r, "security_group_id"), "ip_protocol",
                     proto, "from_port", from, "to_port", to, "ip_range", range, "group", group);
}

static json_t *nova_group(const json_t *sg, const json_t *groups)
{
    json_t *rules = json_array(), *r;
    size_t i;
    json_array_foreach(json_object_get(sg, "security_group_rules"), i, r)
    {
        const char *dir = json_string_value(json_object_get(r, "direction"));
        if (dir && strcmp(dir, "ingress") == 0)
            json_array_append_new(rules, nova_rule(r, groups));
    }
    return json_pack("{s:O,s:O,s:O,s:O,s:o}", "id", json_object_get(sg, "id"), "name",
                     json_object_get(sg, "name"), "description", json_object_get(sg, "description"),
                     "tenant_id", json_object_get(sg, "project_id"), "rules", rules);
}

/* One group in Nova's form (a remote group named by a rule is looked up among the visible). */
static int sg_reply(struct nph_app *app, const struct local_network_caller *c,
                    struct http_resp *resp, json_t *sg, struct nph_error *err)
{
    json_t *all = local_network_list(app->network, c, LN_SECGROUP, err);
    if (!all) {
        json_decref(sg);
        return -1;
    }
    json_t *out = nova_group(sg, all);
    json_decref(all);
    json_decref(sg);
    return http_resp_json(resp, 200, json_pack("{s:o}", "security_group", out));
}

/* Nova's checks of a group's name and description (both required strings, 1..255). */
static int sg_attrs(struct http_req *req, json_t **attrs, struct nph_error *err)
{
    json_t *body = http_req_json(req, err), *in;
    static const char *const keys[] = {"name", "description"};
    *attrs = NULL;
    if (!body)
        return -1;
    in = json_object_get(body, "security_group");
    if (!json_is_object(in)) {
        json_decref(body);
        return nph_error_set(err, NPH_E_INVALID, "Missing parameter security_group");
    }
    for (size_t i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(in, keys[i]));
        size_t n = v ? strlen(v) : 0, lead = v ? strspn(v, " \t\n\r") : 0;
        if (!v || (i == 0 && lead == n) || n > 255) {
            json_decref(body);
            return nph_error_set(err, NPH_E_INVALID,
                                 !v        ? "Security group %s is not a string or unicode"
                                 : n > 255 ? "Security group %s should not be greater than 255 "
                                             "characters."
                                           : "Security group %s cannot be empty.",
                                 keys[i]);
        }
    }
    *attrs = json_pack("{s:O,s:O}", "name", json_object_get(in, "name"), "description",
                       json_object_get(in, "description"));
    json_decref(body);
    return 0;
}

static int sg_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    const char *all_tenants = http_req_query(req, "all_tenants");
    json_t *all, *out, *sg;
    size_t i;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (!(all = local_network_list(app->network, &c, LN_SECGROUP, err)))
        return -1;
    int every = c.is_admin && all_tenants && strcmp(all_tenants, "0") != 0 &&
                strcasecmp(all_tenants, "false") != 0;
    out = json_array();
    json_array_foreach(all, i, sg)
    {
        if (every ||
            strcmp(json_string_value(json_object_get(sg, "project_id")), c.project_id) == 0)
            json_array_append_new(out, nova_group(sg, all));
    }
    json_decref(all);
    return http_resp_json(resp, 200, json_pack("{s:o}", "security_groups", out));
}

static int sg_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    json_t *sg;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (!(sg = local_network_get(app->network, &c, LN_SECGROUP, req->params[0], err)))
        return sg_error(err, req->params[0]);
    return sg_reply(app, &c, resp, sg, err);
}

static int sg_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    json_t *attrs, *sg;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (sg_attrs(req, &attrs, err))
        return -1;
    sg = local_network_create(app->network, &c, LN_SECGROUP, attrs, err);
    json_decref(attrs);
    if (!sg)
        return sg_error(err, NULL);
    return sg_reply(app, &c, resp, sg, err);
}

static int sg_update(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    json_t *attrs, *sg;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (!(sg = local_network_get(app->network, &c, LN_SECGROUP, req->params[0], err)))
        return sg_error(err, req->params[0]);
    json_decref(sg);
    if (sg_attrs(req, &attrs, err))
        return -1;
    sg = local_network_update(app->network, &c, LN_SECGROUP, req->params[0], attrs, err);
    json_decref(attrs);
    if (!sg)
        return sg_error(err, req->params[0]);
    return sg_reply(app, &c, resp, sg, err);
}

static int sg_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (local_network_delete(app->network, &c, LN_SECGROUP, req->params[0], err))
        return sg_error(err, req->params[0]);
    resp->status = 202;
    return 0;
}

/* POST os-security-group-rules: {"parent_group_id","ip_protocol","from_port","to_port",
 * "cidr"|"group_id"} becomes an ingress rule of the network API. */
static int sgr_create(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    json_t *body, *in, *sg, *attrs = NULL, *rule = NULL, *all;
    const char *parent, *proto, *cidr, *group;
    int rc = -1;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (!(body = http_req_json(req, err)))
        return -1;
    in = json_object_get(body, "security_group_rule");
    parent = json_string_value(json_object_get(in, "parent_group_id"));
    proto = json_string_value(json_object_get(in, "ip_protocol"));
    cidr = json_string_value(json_object_get(in, "cidr"));
    group = json_string_value(json_object_get(in, "group_id"));
    if (!json_is_object(in) || !parent) {
        nph_error_set(err, NPH_E_INVALID, "Invalid input for field/attribute security_group_rule");
        goto out;
    }
    if (!(sg = local_network_get(app->network, &c, LN_SECGROUP, parent, err))) {
        sg_error(err, parent);
        goto out;
    }
    json_decref(sg);
    if (proto && strcasecmp(proto, "tcp") != 0 && strcasecmp(proto, "udp") != 0 &&
        strcasecmp(proto, "icmp") != 0) {
        nph_error_set(err, NPH_E_INVALID, "Invalid IP protocol %.32s.", proto);
        goto out;
    }
    attrs = json_pack("{s:s,s:s,s:s}", "security_group_id", parent, "direction", "ingress",
                      "ethertype", cidr && strchr(cidr, ':') ? "IPv6" : "IPv4");
    if (proto) {
        char lower[8];
        size_t i;
        for (i = 0; proto[i] && i < sizeof(lower) - 1; i++)
            lower[i] = (char)(proto[i] | 0x20);
        lower[i] = '\0';
        json_object_set_new(attrs, "protocol", json_string(lower));
        json_t *from = json_object_get(in, "from_port"), *to = json_object_get(in, "to_port");
        long long f = json_is_integer(from)  ? json_integer_value(from)
                      : json_is_string(from) ? atoll(json_string_value(from))
                                             : -1;
        long long t = json_is_integer(to)  ? json_integer_value(to)
                      : json_is_string(to) ? atoll(json_string_value(to))
                                           : -1;
        int icmp = strcmp(lower, "icmp") == 0;
        if (!icmp && (f < 1 || t > 65535 || f > t)) {
            nph_error_set(err, NPH_E_INVALID,
                          "Invalid port range %lld:%lld. Valid TCP ports should be between "
                          "1-65535",
                          f, t);
            goto out;
        }
        if (!icmp || f != -1)
            json_object_set_new(attrs, "port_range_min", json_integer(f));
        if (!icmp || (f != -1 && t != -1))
            json_object_set_new(attrs, "port_range_max", json_integer(t));
    }
    if (group)
        json_object_set_new(attrs, "remote_group_id", json_string(group));
    else
        json_object_set_new(attrs, "remote_ip_prefix", json_string(cidr ? cidr : "0.0.0.0/0"));
    if (!(rule = local_network_create(app->network, &c, LN_SGRULE, attrs, err))) {
        sg_error(err, NULL);
        goto out;
    }
    if (!(all = local_network_list(app->network, &c, LN_SECGROUP, err)))
        goto out;
    rc = http_resp_json(resp, 200, json_pack("{s:o}", "security_group_rule", nova_rule(rule, all)));
    json_decref(all);
out:
    json_decref(rule);
    json_decref(attrs);
    json_decref(body);
    return rc;
}

static int sgr_delete(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct nph_app *app = req->app;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (local_network_delete(app->network, &c, LN_SGRULE, req->params[0], err)) {
        if (err->code == NPH_E_NOT_FOUND)
            nph_error_set(err, NPH_E_NOT_FOUND, "Security group rule %.64s not found.",
                          req->params[0]);
        return sg_error(err, NULL);
    }
    resp->status = 202;
    return 0;
}

/* ---- ips: GET /servers/{id}/ips[/{network}] (addresses by network, version and addr only) -- */

static int ips_begin(struct http_req *req, struct http_resp *resp, json_t **addresses,
                     struct nph_error *err)
{
    struct local_compute_caller cc;
    int minor;
    const char *net;
    json_t *view, *list, *a;
    size_t i;
    if (nova_request_microversion(req, resp, &minor, err) || iface_begin(req, &cc, err))
        return -1;
    view = json_object();
    nova_net_view(req->app, req->params[0], view);
    *addresses = json_incref(json_object_get(view, "addresses"));
    json_decref(view);
    if (!*addresses)
        *addresses = json_object();
    json_object_foreach(*addresses, net, list)
    {
        json_array_foreach(list, i, a)
        {
            json_object_del(a, "OS-EXT-IPS:type");
            json_object_del(a, "OS-EXT-IPS-MAC:mac_addr");
        }
    }
    return 0;
}

static int ips_list(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *addresses;
    if (ips_begin(req, resp, &addresses, err))
        return resp->status == 406 ? 0 : -1;
    return http_resp_json(resp, 200, json_pack("{s:o}", "addresses", addresses));
}

static int ips_show(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    json_t *addresses, *list;
    if (ips_begin(req, resp, &addresses, err))
        return resp->status == 406 ? 0 : -1;
    list = json_object_get(addresses, req->params[1]);
    if (!list) {
        json_decref(addresses);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Instance is not a member of specified network");
    }
    json_t *out = json_pack("{s:O}", req->params[1], list);
    json_decref(addresses);
    return http_resp_json(resp, 200, out);
}

/* DELETE os-security-groups/ without an id: Nova's 404 (not the 405 of a collection). */
static int sg_delete_no_id(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    return nph_error_set(err, NPH_E_NOT_FOUND, "The resource could not be found.");
}

/* GET /servers/{id}/os-security-groups: the groups of the server's ports. */
static int sg_by_server(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct local_network_caller c;
    struct local_compute_caller cc;
    struct nph_app *app = req->app;
    json_t *ports, *all, *out, *p, *g, *sg;
    size_t i, j, k;
    if (sg_begin(req, resp, &c, err))
        return sg_fail(resp);
    if (iface_begin(req, &cc, err) ||
        !(ports = local_network_server_ports(app->network, req->params[0], err)))
        return -1;
    if (!(all = local_network_list(app->network, &c, LN_SECGROUP, err))) {
        json_decref(ports);
        return -1;
    }
    out = json_array();
    json_array_foreach(all, k, sg)
    {
        int used = 0;
        json_array_foreach(ports, i, p)
            json_array_foreach(json_object_get(p, "security_groups"), j, g) used |=
            json_equal(g, json_object_get(sg, "id"));
        if (used)
            json_array_append_new(out, nova_group(sg, all));
    }
    json_decref(all);
    json_decref(ports);
    return http_resp_json(resp, 200, json_pack("{s:o}", "security_groups", out));
}

int nova_net_server_group(struct nph_app *app, const struct local_compute_caller *cc,
                          const char *server_id, const json_t *arg, int add, struct nph_error *err)
{
    const char *name = json_string_value(json_object_get(arg, "name"));
    struct local_network_caller c = net_caller(cc->project_id, cc->is_admin);
    json_t *ports, *all, *sg, *p, *found = NULL;
    size_t i;
    int rc = -1, changed = 0;
    if (!name || !name[0])
        return nph_error_set(err, NPH_E_INVALID, "Security group name cannot be empty");
    if (!app->network)
        return nph_error_set(err, NPH_E_NOT_SUPPORTED, "networks are not supported here");
    if (!(all = local_network_list(app->network, &c, LN_SECGROUP, err)))
        return -1;
    json_array_foreach(all, i, sg)
    {
        if (strcmp(json_string_value(json_object_get(sg, "project_id")), c.project_id) != 0)
            continue;
        if (strcmp(json_string_value(json_object_get(sg, "name")), name) == 0 ||
            strcmp(json_string_value(json_object_get(sg, "id")), name) == 0) {
            if (found) {
                json_decref(all);
                return nph_error_set(err, NPH_E_CONFLICT,
                                     "Multiple security groups found matching '%.255s'. Use an "
                                     "ID to be more specific.",
                                     name);
            }
            found = json_object_get(sg, "id");
        }
    }
    if (!found) {
        json_decref(all);
        return nph_error_set(err, NPH_E_NOT_FOUND, "Security group %.255s not found.", name);
    }
    if (!(ports = local_network_server_ports(app->network, server_id, err)))
        goto out;
    if (!json_array_size(ports)) {
        nph_error_set(err, NPH_E_NOT_FOUND,
                      "instance_id %s could not be found as device id on any ports", server_id);
        goto out;
    }
    json_array_foreach(ports, i, p)
    {
        json_t *groups = json_deep_copy(json_object_get(p, "security_groups")), *g, *u, *r;
        size_t j, at = (size_t)-1;
        if (!json_is_array(groups)) {
            json_decref(groups);
            groups = json_array();
        }
        json_array_foreach(groups, j, g) if (json_equal(g, found)) at = j;
        if (add && at == (size_t)-1)
            json_array_append(groups, found);
        else if (!add && at != (size_t)-1)
            json_array_remove(groups, at);
        else {
            json_decref(groups);
            continue;
        }
        u = json_pack("{s:o}", "security_groups", groups);
        r = local_network_update(app->network, &c, LN_PORT,
                                 json_string_value(json_object_get(p, "id")), u, err);
        json_decref(u);
        if (!r)
            goto out;
        json_decref(r);
        changed = 1;
    }
    if (!add && !changed) {
        nph_error_set(err, NPH_E_INVALID,
                      "Security group %.255s not associated with the instance %s", name, server_id);
        goto out;
    }
    rc = 0;
out:
    json_decref(ports);
    json_decref(all);
    return rc;
}

#define NV "/compute/v2.1/servers/{server_id}/os-interface"
const struct http_route compat_nova_net_routes[] = {
    {"GET", NV, iface_list, "compute.interfaces.list", NPH_FAULT_OPENSTACK},
    {"POST", NV, iface_attach, "compute.interfaces.attach", NPH_FAULT_OPENSTACK},
    {"GET", NV "/{port_id}", iface_show, "compute.interfaces.get", NPH_FAULT_OPENSTACK},
    {"DELETE", NV "/{port_id}", iface_detach, "compute.interfaces.detach", NPH_FAULT_OPENSTACK},
    {"GET", "/compute/v2.1/servers/{server_id}/ips", ips_list, "compute.ips.list",
     NPH_FAULT_OPENSTACK},
    {"GET", "/compute/v2.1/servers/{server_id}/ips/{network}", ips_show, "compute.ips.get",
     NPH_FAULT_OPENSTACK},
    {"GET", "/compute/v2.1/servers/{server_id}/os-security-groups", sg_by_server,
     "compute.security_groups.by_server", NPH_FAULT_OPENSTACK},
    {"GET", "/compute/v2.1/os-security-groups", sg_list, "compute.security_groups.list",
     NPH_FAULT_OPENSTACK},
    {"POST", "/compute/v2.1/os-security-groups", sg_create, "compute.security_groups.create",
     NPH_FAULT_OPENSTACK},
    {"GET", "/compute/v2.1/os-security-groups/{id}", sg_show, "compute.security_groups.get",
     NPH_FAULT_OPENSTACK},
    {"PUT", "/compute/v2.1/os-security-groups/{id}", sg_update, "compute.security_groups.update",
     NPH_FAULT_OPENSTACK},
    {"DELETE", "/compute/v2.1/os-security-groups", sg_delete_no_id,
     "compute.security_groups.delete", NPH_FAULT_OPENSTACK},
    {"DELETE", "/compute/v2.1/os-security-groups/{id}", sg_delete, "compute.security_groups.delete",
     NPH_FAULT_OPENSTACK},
    {"POST", "/compute/v2.1/os-security-group-rules", sgr_create,
     "compute.security_group_rules.create", NPH_FAULT_OPENSTACK},
    {"DELETE", "/compute/v2.1/os-security-group-rules/{id}", sgr_delete,
     "compute.security_group_rules.delete", NPH_FAULT_OPENSTACK},
    {NULL, NULL, NULL, NULL, 0},
};
