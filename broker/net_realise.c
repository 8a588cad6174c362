/*
 * net_realise.c - see net_realise.h. A port belongs on a server's domain when its device_owner
 * is "compute:..." and its device_id is the server: it is an <interface type='network'> on the
 * port's libvirt network with the port's MAC, and a <filterref> to the port's nwfilter (its
 * security groups) where the connection has nwfilters.
 */
#include <string.h>

#include "net_realise.h"

static int on_server(const json_t *port)
{
    const char *owner = json_string_value(json_object_get(port, "device_owner"));
    const char *dev = json_string_value(json_object_get(port, "device_id"));
    return port && owner && strncmp(owner, "compute:", 8) == 0 && dev && *dev;
}

static int same_server(const json_t *a, const json_t *b)
{
    return on_server(a) && on_server(b) &&
           json_equal(json_object_get(a, "device_id"), json_object_get(b, "device_id")) &&
           json_equal(json_object_get(a, "mac_address"), json_object_get(b, "mac_address")) &&
           json_equal(json_object_get(a, "network_id"), json_object_get(b, "network_id"));
}

static int plug(struct nph_app *app, const json_t *port, int in, struct nph_error *err)
{
    char net[64], filter[96];
    struct local_compute_nic nic = {
        json_string_value(json_object_get(port, "mac_address")),
        local_network_virt_name(json_string_value(json_object_get(port, "network_id")), net,
                                sizeof(net)),
        local_network_port_filter(app->network, port, filter, sizeof(filter))};
    return local_compute_server_nic(
        app->compute, json_string_value(json_object_get(port, "device_id")), &nic, in, err);
}

static int port_hook(void *ctx, enum local_network_kind kind, const char *what, const json_t *res,
                     const json_t *old, struct nph_error *err)
{
    struct nph_app *app = ctx;
    if (kind != LN_PORT)
        return 0;
    if (strcmp(what, "delete") == 0)
        return on_server(res) ? plug(app, res, 0, err) : 0;
    if (same_server(res, old))
        return 0;
    if (on_server(old) && plug(app, old, 0, err))
        return -1;
    if (on_server(res) && plug(app, res, 1, err)) {
        if (on_server(old))
            plug(app, old, 1, NULL); /* put the old one back */
        return -1;
    }
    return 0;
}

static json_t *server_nics(void *ctx, const char *server_id, struct nph_error *err)
{
    struct nph_app *app = ctx;
    json_t *ports = local_network_server_ports(app->network, server_id, err), *out, *p;
    size_t i;
    char net[64], filter[96];
    if (!ports)
        return NULL;
    out = json_array();
    json_array_foreach(ports, i, p)
    {
        json_t *nic;
        local_network_virt_name(json_string_value(json_object_get(p, "network_id")), net,
                                sizeof(net));
        nic = json_pack("{s:O,s:s}", "mac", json_object_get(p, "mac_address"), "network", net);
        if (nic && local_network_port_filter(app->network, p, filter, sizeof(filter)))
            json_object_set_new(nic, "filter", json_string(filter));
        json_array_append_new(out, nic);
    }
    json_decref(ports);
    return out;
}

int net_realise_wire(struct nph_app *app, struct nph_error *err)
{
    if (!app->network || !app->compute)
        return 0;
    if (local_network_set_libvirt(app->network, local_compute_uri(app->compute), err))
        return -1;
    local_network_set_hook(app->network, port_hook, app);
    local_compute_set_nics(app->compute, server_nics, app);
    return 0;
}
