/*
 * compute_xml.c - the one place where libvirt domain XML is written, with libxml2's tree API
 * (never by string pasting, so names and paths are always escaped).
 *
 * The shape follows what works on this project's hosts (peers/README.md): <domain type='kvm'>
 * when /dev/kvm is usable (and, on x86, the CPU has vmx or svm), else 'qemu' (TCG);
 * <features><acpi/></features>, without which a guest's poweroff hangs; a serial console written to
 * a file (<serial type='file'> with a matching <console>), which is what console output reads; no
 * <graphics> at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "compute_internal.h"

int local_compute_cpuinfo_has_virt(const char *cpuinfo)
{
    const char *line = cpuinfo;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 5 && strncmp(line, "flags", 5) == 0 && (line[5] == '\t' || line[5] == ' ')) {
            for (const char *p = line; p + 4 <= line + len; p++)
                if ((p[0] == ' ' || p[0] == '\t') &&
                    (strncmp(p + 1, "vmx", 3) == 0 || strncmp(p + 1, "svm", 3) == 0) &&
                    (p + 4 == line + len || p[4] == ' ' || p[4] == '\t'))
                    return 1;
            return 0; /* every CPU lists the same flags: the first line decides */
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

int local_compute_have_kvm(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    /* A /dev/kvm without the CPU's virtualisation extensions is not one a stock guest kernel
     * boots on: seen on hosts whose /dev/kvm is a paravirtual (PVM) KVM inside a nested VM,
     * where a Debian kernel under <domain type='kvm'> never prints a console line. TCG then. */
    char buf[16384];
    FILE *f = fopen("/proc/cpuinfo", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return local_compute_cpuinfo_has_virt(buf);
#else
    return 1;
#endif
}

#define X(s) ((const xmlChar *)(s))

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, X(name), text ? X(text) : NULL);
}

static void attr(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, X(name), X(value));
}

/* <interface type='network'><mac/><source network/><model type='virtio'/>[<filterref/>] */
static void nic_node(xmlNodePtr parent, const struct local_compute_nic *nic)
{
    xmlNodePtr n = child(parent, "interface", NULL);
    attr(n, "type", "network");
    attr(child(n, "mac", NULL), "address", nic->mac);
    attr(child(n, "source", NULL), "network", nic->network);
    attr(child(n, "model", NULL), "type", "virtio");
    if (nic->filter)
        attr(child(n, "filterref", NULL), "filter", nic->filter);
}

static char *dump(xmlDocPtr doc, xmlNodePtr node, struct nph_error *err)
{
    xmlBufferPtr buf = xmlBufferCreate();
    char *out = NULL;
    if (buf && xmlNodeDump(buf, doc, node, 0, 1) >= 0)
        out = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    if (!out)
        nph_error_nomem(err);
    return out;
}

char *local_compute_nic_xml(const struct local_compute_nic *nic, struct nph_error *err)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    char *out;
    if (!nic->mac || !nic->network) {
        nph_error_set(err, NPH_E_INVALID, "a network interface needs a MAC and a network");
        return NULL;
    }
    doc = xmlNewDoc(X("1.0"));
    root = xmlNewNode(NULL, X("devices"));
    if (!doc || !root) {
        xmlFreeDoc(doc);
        xmlFreeNode(root);
        nph_error_nomem(err);
        return NULL;
    }
    xmlDocSetRootElement(doc, root);
    nic_node(root, nic);
    out = dump(doc, root->children, err);
    xmlFreeDoc(doc);
    return out;
}

char *local_compute_domain_xml(const struct local_compute_domain *d, struct nph_error *err)
{
    xmlDocPtr doc;
    xmlNodePtr root, n, os, dev, disk, meta;
    xmlChar *mem = NULL;
    int len = 0;
    char buf[64];
    char *out = NULL;
    if (!d->name || !d->uuid || !d->vcpus || !d->ram_mb) {
        nph_error_set(err, NPH_E_INVALID, "a domain needs a name, a uuid, vcpus and memory");
        return NULL;
    }
    doc = xmlNewDoc(X("1.0"));
    root = xmlNewNode(NULL, X("domain"));
    if (!doc || !root) {
        xmlFreeDoc(doc);
        nph_error_nomem(err);
        return NULL;
    }
    xmlDocSetRootElement(doc, root);
    attr(root, "type", d->kvm ? "kvm" : "qemu");
    child(root, "name", d->name);
    child(root, "uuid", d->uuid);
    if (d->project_id || d->flavor_name) {
        meta = child(root, "metadata", NULL);
        xmlNsPtr ns = NULL;
        n = xmlNewChild(meta, NULL, X("instance"), NULL);
        ns = xmlNewNs(n, X("https://nephele.dev/xmlns/compute/1"), X("nephele"));
        xmlSetNs(n, ns);
        if (d->project_id)
            xmlNewTextChild(n, ns, X("project"), X(d->project_id));
        if (d->flavor_name)
            xmlNewTextChild(n, ns, X("flavor"), X(d->flavor_name));
    }
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->ram_mb);
    attr(child(root, "memory", buf), "unit", "MiB");
    attr(child(root, "currentMemory", buf), "unit", "MiB");
    snprintf(buf, sizeof(buf), "%u", d->vcpus);
    attr(child(root, "vcpu", buf), "placement", "static");
    os = child(root, "os", NULL);
    n = child(os, "type", "hvm");
    attr(n, "arch", "x86_64");
    if (d->kernel) {
        child(os, "kernel", d->kernel);
        if (d->initrd)
            child(os, "initrd", d->initrd);
        child(os, "cmdline", d->cmdline ? d->cmdline : "console=ttyS0");
    } else {
        attr(child(os, "boot", NULL), "dev", "hd");
    }
    n = child(root, "features", NULL);
    child(n, "acpi", NULL);
    child(n, "apic", NULL);
    child(root, "on_poweroff", "destroy");
    child(root, "on_reboot", "restart");
    child(root, "on_crash", "destroy");
    dev = child(root, "devices", NULL);
    if (d->disk_path) {
        disk = child(dev, "disk", NULL);
        attr(disk, "type", "file");
        attr(disk, "device", "disk");
        n = child(disk, "driver", NULL);
        attr(n, "name", "qemu");
        attr(n, "type", d->disk_format ? d->disk_format : "qcow2");
        attr(child(disk, "source", NULL), "file", d->disk_path);
        n = child(disk, "target", NULL);
        attr(n, "dev", "vda");
        attr(n, "bus", "virtio");
    }
    for (size_t i = 0; i < d->n_nics; i++) {
        if (!d->nics[i].mac || !d->nics[i].network) {
            xmlFreeDoc(doc);
            nph_error_set(err, NPH_E_INVALID, "a network interface needs a MAC and a network");
            return NULL;
        }
        nic_node(dev, &d->nics[i]);
    }
    if (d->console_log) {
        n = child(dev, "serial", NULL);
        attr(n, "type", "file");
        attr(child(n, "source", NULL), "path", d->console_log);
        attr(child(n, "target", NULL), "port", "0");
        n = child(dev, "console", NULL);
        attr(n, "type", "file");
        attr(child(n, "source", NULL), "path", d->console_log);
        xmlNodePtr t = child(n, "target", NULL);
        attr(t, "type", "serial");
        attr(t, "port", "0");
    }
    attr(child(dev, "memballoon", NULL), "model", "virtio");
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (!mem) {
        nph_error_nomem(err);
        return NULL;
    }
    out = strdup((const char *)mem);
    xmlFree(mem);
    if (!out)
        nph_error_nomem(err);
    return out;
}
