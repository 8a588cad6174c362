/*
 * compat_nova_net.h - servers of the native cloud on its networks (compat_nova_net.c): what the
 * Nova compatible API asks of local/network, so that local/compute stays unaware of networks.
 */
#ifndef COMPAT_NOVA_NET_H
#define COMPAT_NOVA_NET_H

#include <jansson.h>

#include "nph_error.h"

struct nph_app;

/* Check a server create's `networks` (absent, "auto", "none" or a list of {uuid}/{port}) for
 * the caller and turn it into a plan: an array of {"network_id"} / {"port_id"}, or NULL for no
 * network. NPH_E_INVALID for unknown networks or ports (Nova's 400), NPH_E_CONFLICT for a port
 * in use or an ambiguous "auto". groups: Nova's security_groups ([{"name"}], NULL = the default
 * group) for the ports created. Nothing is written. */
int nova_net_plan(struct nph_app *app, const char *project_id, int is_admin, const json_t *nets,
                  const json_t *groups, json_t **plan, struct nph_error *err);
/* Give server_id its ports as planned (all or none). */
int nova_net_attach(struct nph_app *app, const char *project_id, int is_admin,
                    const char *server_id, const json_t *plan, struct nph_error *err);
/* Delete the server's ports (unbind the ones it was given). Failures are ignored. */
void nova_net_release(struct nph_app *app, const char *server_id);
/* Set view's "addresses" (by network name, Nova's form) and "security_groups" (when the ports
 * have any). */
void nova_net_view(struct nph_app *app, const char *server_id, json_t *view);

/* addSecurityGroup / removeSecurityGroup ({"name"}: a group of the caller's project, by name or
 * id) on every port of the server. Nova's errors: 404 for an unknown group or a server without
 * ports, 400 for removing a group the server does not have, 409 for an ambiguous name. */
struct local_compute_caller;
int nova_net_server_group(struct nph_app *app, const struct local_compute_caller *cc,
                          const char *server_id, const json_t *arg, int add, struct nph_error *err);

#endif
