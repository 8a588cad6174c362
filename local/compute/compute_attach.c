/*
 * compute_attach.c - hot-plugging devices (block storage's volumes) into a server's domain.
 * Compute knows nothing of volumes: it receives the device's XML from the caller (the broker
 * wires local/storage to these two functions) and plugs it in or out.
 *
 * virDomainAttachDeviceFlags / DetachDeviceFlags act on the live domain when it runs and on
 * its persistent definition always. libvirt's test driver implements neither: there the
 * persistent definition is edited instead (the device added to or removed from <devices> and
 * the domain redefined), which is what a running test domain can show.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "compute_internal.h"
#include "nph_clock.h"

/* A disk's <target dev=...>; "" if none. */
static void target_of(xmlNodePtr disk, char *out, size_t len)
{
    out[0] = '\0';
    for (xmlNodePtr n = disk ? disk->children : NULL; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"target") == 0) {
            xmlChar *dev = xmlGetProp(n, (const xmlChar *)"dev");
            snprintf(out, len, "%s", dev ? (const char *)dev : "");
            xmlFree(dev);
        }
    }
}

/* What identifies a device on detach: "disk:<target dev>" for a disk, "interface:<mac
 * address>" for an interface; "" for anything else. */
static void key_of(xmlNodePtr dev, char *out, size_t len)
{
    const char *kind = NULL, *sub = NULL, *prop = NULL;
    out[0] = '\0';
    if (!dev)
        return;
    if (xmlStrcmp(dev->name, (const xmlChar *)"disk") == 0)
        kind = "disk", sub = "target", prop = "dev";
    else if (xmlStrcmp(dev->name, (const xmlChar *)"interface") == 0)
        kind = "interface", sub = "mac", prop = "address";
    else
        return;
    for (xmlNodePtr n = dev->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)sub) == 0) {
            xmlChar *v = xmlGetProp(n, (const xmlChar *)prop);
            snprintf(out, len, "%s:%s", kind, v ? (const char *)v : "");
            xmlFree(v);
        }
    }
}

/* Edit the persistent definition: add the device (attach) or remove the disk with the same
 * target (detach). */
static int edit_definition(virConnectPtr conn, virDomainPtr dom, const char *device_xml, int attach,
                           struct nph_error *err)
{
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, 0) : NULL;
    xmlDocPtr dev = xmlReadMemory(device_xml, (int)strlen(device_xml), "device.xml", NULL, 0);
    xmlNodePtr devices = NULL, root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlChar *out = NULL;
    int len = 0, rc = -1, found = 0;
    char want[64], have[64];
    virDomainPtr d2;
    free(xml);
    if (!doc || !dev || !root) {
        nph_error_set(err, NPH_E_BACKEND, "cannot read the domain or device definition");
        goto cleanup;
    }
    for (xmlNodePtr n = root->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"devices") == 0)
            devices = n;
    if (!devices) {
        nph_error_set(err, NPH_E_BACKEND, "the domain has no <devices>");
        goto cleanup;
    }
    key_of(xmlDocGetRootElement(dev), want, sizeof(want));
    for (xmlNodePtr n = devices->children, next; n; n = next) {
        next = n->next;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        key_of(n, have, sizeof(have));
        if (*want && strcmp(have, want) == 0) {
            found = 1;
            if (!attach) {
                xmlUnlinkNode(n);
                xmlFreeNode(n);
            }
        }
    }
    if (attach && found) {
        nph_error_set(err, NPH_E_CONFLICT, "the server has a device '%s' already", want);
        goto cleanup;
    }
    if (!attach && !found) {
        rc = 0; /* nothing to remove */
        goto cleanup;
    }
    if (attach)
        xmlAddChild(devices, xmlDocCopyNode(xmlDocGetRootElement(dev), doc, 1));
    xmlDocDumpMemory(doc, &out, &len);
    if (!out || !(d2 = virDomainDefineXML(conn, (const char *)out))) {
        cmp_virt_error(err, NPH_E_BACKEND, "libvirt refused the domain definition");
        goto cleanup;
    }
    virDomainFree(d2);
    rc = 0;
cleanup:
    xmlFree(out);
    xmlFreeDoc(doc);
    xmlFreeDoc(dev);
    return rc;
}

static xmlNodePtr devices_of(xmlDocPtr doc)
{
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"devices") == 0)
            return n;
    return NULL;
}

char *cmp_carry_disks(virConnectPtr conn, const char *uuid, const char *xml, struct nph_error *err)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
    char *old = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
    xmlDocPtr od = old ? xmlReadMemory(old, (int)strlen(old), "old.xml", NULL, 0) : NULL;
    xmlDocPtr nd = NULL;
    xmlChar *out = NULL;
    char *res = NULL;
    int len = 0, carried = 0;
    if (dom)
        virDomainFree(dom);
    free(old);
    xmlNodePtr odev = devices_of(od), ndev;
    if (!odev) /* no previous definition: nothing to carry */
        goto plain;
    if (!(nd = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, 0)) ||
        !(ndev = devices_of(nd))) {
        nph_error_set(err, NPH_E_INTERNAL, "cannot read the new domain definition");
        goto done;
    }
    for (xmlNodePtr n = odev->children; n; n = n->next) {
        char have[32], other[32];
        int taken = 0;
        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, (const xmlChar *)"disk") != 0)
            continue;
        target_of(n, have, sizeof(have));
        for (xmlNodePtr m = ndev->children; m && !taken && have[0]; m = m->next) {
            if (m->type != XML_ELEMENT_NODE || xmlStrcmp(m->name, (const xmlChar *)"disk") != 0)
                continue;
            target_of(m, other, sizeof(other));
            taken = strcmp(have, other) == 0;
        }
        if (!taken && have[0]) {
            xmlAddChild(ndev, xmlDocCopyNode(n, nd, 1));
            carried++;
        }
    }
    if (!carried)
        goto plain;
    xmlDocDumpMemory(nd, &out, &len);
    if (!out || !(res = strdup((const char *)out)))
        nph_error_nomem(err);
    goto done;
plain:
    if (!(res = strdup(xml)))
        nph_error_nomem(err);
done:
    xmlFree(out);
    xmlFreeDoc(nd);
    xmlFreeDoc(od);
    return res;
}

static int plug(struct local_compute *lc, const struct local_compute_caller *c,
                const char *server_id, const char *device_xml, int attach, struct nph_error *err)
{
    json_t *s = local_compute_server_get(lc, c, server_id, err);
    const char *vm, *task;
    virConnectPtr conn;
    virDomainPtr dom;
    int state = 0, reason = 0, rc = -1;
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
    struct nph_db *db;
    if (!s)
        return -1;
    vm = json_string_value(json_object_get(s, "vm_state"));
    task = json_string_value(json_object_get(s, "task_state"));
    if (task || !vm || (strcmp(vm, "active") != 0 && strcmp(vm, "stopped") != 0)) {
        nph_error_set(err, NPH_E_CONFLICT, "Cannot '%s' instance %s while it is in %s %s",
                      attach ? "attach_volume" : "detach_volume", server_id,
                      task ? "task_state" : "vm_state", task ? task : (vm ? vm : "unknown"));
        json_decref(s);
        return -1;
    }
    json_decref(s);
    if (!(conn = cmp_conn(lc, err)))
        return -1;
    if (!(dom = virDomainLookupByUUIDString(conn, server_id))) {
        if (!attach)
            return 0; /* no domain, nothing plugged */
        return nph_error_set(err, NPH_E_CONFLICT, "the server '%s' has no domain", server_id);
    }
    if (virDomainGetState(dom, &state, &reason, 0) == 0 && state != VIR_DOMAIN_SHUTOFF)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    rc = attach ? virDomainAttachDeviceFlags(dom, device_xml, flags)
                : virDomainDetachDeviceFlags(dom, device_xml, flags);
    if (rc != 0) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_SUPPORT)
            rc = edit_definition(conn, dom, device_xml, attach, err);
        else
            cmp_virt_error(err, NPH_E_BACKEND,
                           attach ? "cannot attach the disk" : "cannot detach the disk");
    }
    virDomainFree(dom);
    if (rc == 0 && (db = cmp_db(lc, NULL))) {
        /* the server's listing changes (its volumes): move its stamp */
        nph_db_execf(db, NULL, "UPDATE compute_server SET updated_at = ? WHERE id = ?", "is",
                     nph_clock_now(), server_id);
        nph_store_release(db);
    }
    return rc;
}

int local_compute_server_attach_device(struct local_compute *lc,
                                       const struct local_compute_caller *c, const char *server_id,
                                       const char *device_xml, struct nph_error *err)
{
    return plug(lc, c, server_id, device_xml, 1, err);
}

int local_compute_server_detach_device(struct local_compute *lc,
                                       const struct local_compute_caller *c, const char *server_id,
                                       const char *device_xml, struct nph_error *err)
{
    return plug(lc, c, server_id, device_xml, 0, err);
}

/* Whether the domain's definition has an interface with this MAC (libvirt writes MACs in
 * lower case, as <mac address='..'/>). */
static int has_mac(virDomainPtr dom, const char *mac)
{
    char want[64], *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    int found = 0;
    snprintf(want, sizeof(want), "<mac address='%s'/>", mac ? mac : "");
    for (char *w = want; *w; w++)
        *w = (char)tolower((unsigned char)*w);
    found = xml && strstr(xml, want) != NULL;
    free(xml);
    return found;
}

int local_compute_server_nic(struct local_compute *lc, const char *server_id,
                             const struct local_compute_nic *nic, int plug, struct nph_error *err)
{
    char *xml = local_compute_nic_xml(nic, err);
    virConnectPtr conn;
    virDomainPtr dom = NULL;
    int state = 0, reason = 0, rc = -1;
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
    if (!xml)
        return -1;
    pthread_mutex_lock(&lc->nic_lock);
    if (!(conn = cmp_conn(lc, err)))
        goto cleanup;
    if (!(dom = virDomainLookupByUUIDString(conn, server_id))) {
        rc = 0; /* not defined yet (its definition asks for its nics) or gone */
        goto cleanup;
    }
    if (plug && has_mac(dom, nic->mac)) {
        rc = 0; /* its definition took the nic already (defined after the port was bound) */
        goto cleanup;
    }
    if (virDomainGetState(dom, &state, &reason, 0) == 0 && state != VIR_DOMAIN_SHUTOFF)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    rc = plug ? virDomainAttachDeviceFlags(dom, xml, flags)
              : virDomainDetachDeviceFlags(dom, xml, flags);
    if (rc != 0) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_SUPPORT)
            rc = edit_definition(conn, dom, xml, plug, err);
        else if (!plug && e && e->code == VIR_ERR_DEVICE_MISSING)
            rc = 0; /* not plugged: nothing to unplug */
        else
            cmp_virt_error(err, NPH_E_BACKEND,
                           plug ? "cannot plug the network interface into the server"
                                : "cannot unplug the network interface from the server");
    }
cleanup:
    if (dom)
        virDomainFree(dom);
    pthread_mutex_unlock(&lc->nic_lock);
    free(xml);
    return rc;
}
