/*
 * net_realise.h - the native cloud's networks realised in libvirt, joined to its servers: the
 * network service realises networks and DHCP host entries on the compute service's libvirt
 * connection URI, compute asks for a server's interfaces (its ports) when it defines a domain,
 * and ports bound to or released from a server are plugged into or out of its domain.
 */
#ifndef NET_REALISE_H
#define NET_REALISE_H

#include "app.h"

/* Wire app->network and app->compute together (both open, compute not started yet). */
int net_realise_wire(struct nph_app *app, struct nph_error *err);

#endif
