/*
 * network_sg.c - security groups and their rules, validated as Neutron validates them
 * (direction, ethertype, protocol by name or number, port ranges or ICMP type/code, a remote
 * prefix of the rule's family or a remote group), duplicates refused; and each project's
 * "default" group, created on first use with Neutron's four default rules (ingress from the
 * group itself and egress anywhere, for IPv4 and IPv6). New groups get the two egress rules.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "network_internal.h"

#define BADRULE(err, type, ...) LN_SET(err, NPH_E_INVALID, type, __VA_ARGS__)

static const struct {
    const char *name;
    int number;
} protocols[] = {
    {"ah", 51},        {"dccp", 33},      {"egp", 8},         {"esp", 50},       {"gre", 47},
    {"icmp", 1},       {"icmpv6", 58},    {"igmp", 2},        {"ipip", 4},       {"ipv6-encap", 41},
    {"ipv6-frag", 44}, {"ipv6-icmp", 58}, {"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"ipv6-route", 43},
    {"ospf", 89},      {"pgm", 113},      {"rsvp", 46},       {"sctp", 132},     {"tcp", 6},
    {"udp", 17},       {"udplite", 136},  {"vrrp", 112},
};

/* Read an optional port number (integer or numeric string, 0..65535). */
static int port_value(json_t *rule, const char *key, int64_t *out, struct nph_error *err)
{
    json_t *v = json_object_get(rule, key);
    char *end;
    if (!v || json_is_null(v)) {
        json_object_set_new(rule, key, json_null());
        *out = -1;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        *out = strtoll(json_string_value(v), &end, 10);
        if (*end)
            return BADRULE(err, "HTTPBadRequest",
                           "Invalid input for %s. Reason: '%.32s' is not an integer.", key,
                           json_string_value(v));
    } else {
        return BADRULE(err, "HTTPBadRequest", "Invalid input for %s. Reason: not an integer.", key);
    }
    if (*out < 0 || *out > 65535)
        return BADRULE(err, "SecurityGroupInvalidPortValue", "Invalid value for port %lld",
                       (long long)*out);
    json_object_set_new(rule, key, json_integer(*out));
    return 0;
}

int ln_rule_validate(json_t *rule, struct nph_error *err)
{
    const char *dir = json_string_value(json_object_get(rule, "direction"));
    json_t *et = json_object_get(rule, "ethertype"), *proto = json_object_get(rule, "protocol");
    json_t *prefix = json_object_get(rule, "remote_ip_prefix");
    json_t *group = json_object_get(rule, "remote_group_id");
    int number = -1, version;
    int64_t min, max;
    char pbuf[16];
    if (!dir || (strcmp(dir, "ingress") && strcmp(dir, "egress")))
        return BADRULE(err, "HTTPBadRequest",
                       "Invalid input for direction. Reason: '%.32s' is not in ['ingress', "
                       "'egress'].",
                       dir ? dir : "None");
    if (!et || json_is_null(et)) {
        json_object_set_new(rule, "ethertype", json_string("IPv4"));
    } else if (json_is_string(et) && strcasecmp(json_string_value(et), "ipv4") == 0) {
        json_object_set_new(rule, "ethertype", json_string("IPv4"));
    } else if (json_is_string(et) && strcasecmp(json_string_value(et), "ipv6") == 0) {
        json_object_set_new(rule, "ethertype", json_string("IPv6"));
    } else {
        return BADRULE(err, "HTTPBadRequest",
                       "Invalid input for ethertype. Reason: '%.32s' is not in ['IPv4', 'IPv6'].",
                       json_is_string(et) ? json_string_value(et) : "value");
    }
    version = strcmp(json_string_value(json_object_get(rule, "ethertype")), "IPv4") == 0 ? 4 : 6;
    /* protocol: null/"any", a name, or a number 0..255 (as an integer or a string) */
    if (!proto || json_is_null(proto) ||
        (json_is_string(proto) && strcasecmp(json_string_value(proto), "any") == 0)) {
        json_object_set_new(rule, "protocol", json_null());
    } else {
        const char *s = json_string_value(proto);
        int was_int = json_is_integer(proto); /* proto is replaced below */
        if (was_int) {
            number = (int)json_integer_value(proto);
            if (json_integer_value(proto) < 0 || json_integer_value(proto) > 255)
                number = -2;
            snprintf(pbuf, sizeof(pbuf), "%d", number);
            s = pbuf;
        } else if (s) {
            char lower[32];
            size_t i;
            for (i = 0; s[i] && i + 1 < sizeof(lower); i++)
                lower[i] = (char)tolower((unsigned char)s[i]);
            lower[i] = '\0';
            for (size_t p = 0; p < sizeof(protocols) / sizeof(protocols[0]); p++)
                if (strcmp(lower, protocols[p].name) == 0)
                    number = protocols[p].number;
            if (number >= 0) {
                json_object_set_new(rule, "protocol", json_string(lower));
            } else if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 3) {
                number = atoi(s);
                if (number > 255)
                    number = -2;
            }
        }
        if (number < 0)
            return BADRULE(err, "SecurityGroupRuleInvalidProtocol",
                           "Security group rule protocol %.32s not supported. Only protocol "
                           "values [None, 'ah', 'dccp', 'egp', 'esp', 'gre', 'icmp', 'icmpv6', "
                           "'igmp', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', "
                           "'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', "
                           "'sctp', 'tcp', 'udp', 'udplite', 'vrrp'] and integer "
                           "representations [0 to 255] are supported.",
                           s ? s : "value");
        if (was_int)
            json_object_set_new(rule, "protocol", json_string(pbuf));
        if (number == 58 && version == 4)
            return BADRULE(err, "SecurityGroupEthertypeConflictWithProtocol",
                           "Invalid ethertype %s for protocol %s.", "IPv4",
                           json_string_value(json_object_get(rule, "protocol")));
    }
    if (port_value(rule, "port_range_min", &min, err) ||
        port_value(rule, "port_range_max", &max, err))
        return -1;
    if (min >= 0 || max >= 0) {
        if (number < 0)
            return BADRULE(err, "SecurityGroupProtocolRequiredWithPorts",
                           "Must also specify protocol if port range is given.");
        if (number == 6 || number == 17 || number == 33 || number == 132 || number == 136) {
            if (min == 0 || max == 0)
                return BADRULE(err, "SecurityGroupInvalidPortValue", "Invalid value for port 0");
            if (min < 0 || max < 0 || min > max)
                return BADRULE(err, "SecurityGroupInvalidPortRange",
                               "For TCP/UDP protocols, port_range_min must be <= port_range_max");
        } else if (number == 1 || number == 58) {
            if (min > 255)
                return BADRULE(err, "SecurityGroupInvalidIcmpValue",
                               "Invalid value for ICMP type (port_range_min) %lld. It must be 0 "
                               "to 255.",
                               (long long)min);
            if (max > 255)
                return BADRULE(err, "SecurityGroupInvalidIcmpValue",
                               "Invalid value for ICMP code (port_range_max) %lld. It must be 0 "
                               "to 255.",
                               (long long)max);
            if (min < 0 && max >= 0)
                return BADRULE(err, "SecurityGroupMissingIcmpType",
                               "ICMP code (port-range-max) %lld is provided but ICMP type "
                               "(port-range-min) is missing.",
                               (long long)max);
        } else {
            return BADRULE(err, "SecurityGroupInvalidProtocolForPortRange",
                           "Ports cannot be specified for protocol %s. Only TCP, UDP, SCTP, "
                           "DCCP, UDP-Lite, ICMP and ICMPv6 support port ranges.",
                           json_string_value(json_object_get(rule, "protocol")));
        }
    }
    if (prefix && !json_is_null(prefix) && group && !json_is_null(group))
        return BADRULE(err, "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                       "Only remote_ip_prefix or remote_group_id may be provided.");
    if (prefix && !json_is_null(prefix)) {
        struct ln_cidr c;
        struct ln_addr a;
        char buf[64];
        const char *ps = json_string_value(prefix);
        if (ps && !strchr(ps, '/') && ln_addr_parse(ps, &a, NULL) == 0) {
            c.addr = a;
            c.prefix = a.version == 4 ? 32 : 128;
        } else if (!ps || ln_cidr_parse(ps, 1, &c, NULL)) {
            return BADRULE(err, "HTTPBadRequest",
                           "Invalid input for remote_ip_prefix. Reason: '%.64s' is not a valid IP "
                           "subnet.",
                           ps ? ps : "value");
        }
        if (c.addr.version != version)
            return BADRULE(err, "SecurityGroupRuleParameterConflict",
                           "Conflicting value ethertype %s for CIDR %.64s",
                           json_string_value(json_object_get(rule, "ethertype")), ps);
        json_object_set_new(rule, "remote_ip_prefix",
                            json_string(ln_cidr_format(&c, buf, sizeof(buf))));
        json_object_set_new(rule, "normalized_cidr", json_string(buf));
    } else {
        json_object_set_new(rule, "remote_ip_prefix", json_null());
        json_object_set_new(rule, "normalized_cidr", json_null());
    }
    if (!group)
        json_object_set_new(rule, "remote_group_id", json_null());
    else if (!json_is_null(group) && !json_is_string(group))
        return BADRULE(err, "HTTPBadRequest",
                       "Invalid input for remote_group_id. Reason: not a valid UUID.");
    return 0;
}

/* ---- rows --------------------------------------------------------------------------------- */

static json_t *rule_doc(const struct local_network_caller *c, const char *sg_id, const char *dir,
                        const char *ethertype, const char *remote_group, struct nph_error *err)
{
    json_t *doc = ln_doc_new(c, NULL, err);
    if (!doc)
        return NULL;
    json_object_del(doc, "name");
    json_object_del(doc, "tags");
    json_object_set_new(doc, "security_group_id", json_string(sg_id));
    json_object_set_new(doc, "direction", json_string(dir));
    json_object_set_new(doc, "ethertype", json_string(ethertype));
    json_object_set_new(doc, "protocol", json_null());
    json_object_set_new(doc, "port_range_min", json_null());
    json_object_set_new(doc, "port_range_max", json_null());
    json_object_set_new(doc, "remote_ip_prefix", json_null());
    json_object_set_new(doc, "normalized_cidr", json_null());
    json_object_set_new(doc, "remote_group_id",
                        remote_group ? json_string(remote_group) : json_null());
    json_object_set_new(doc, "remote_address_group_id", json_null());
    json_object_set_new(doc, "belongs_to_default_sg", json_false());
    return doc;
}

/* A group with its base rules: egress IPv4/IPv6, and for the default group ingress from the
 * group itself. */
static json_t *sg_insert(struct nph_db *db, const struct local_network_caller *c,
                         const json_t *attrs, int is_default, struct nph_error *err)
{
    static const char *const et[] = {"IPv4", "IPv6"};
    json_t *doc = ln_doc_new(c, attrs, err);
    const char *id;
    if (!doc)
        return NULL;
    json_object_set_new(doc, "stateful", json_true());
    if (is_default) {
        json_object_set_new(doc, "name", json_string("default"));
        json_object_set_new(doc, "description", json_string("Default security group"));
    } else if (ln_copy_common(doc, attrs, err)) {
        json_decref(doc);
        return NULL;
    }
    id = json_string_value(json_object_get(doc, "id"));
    if (ln_row_insert(db, LN_SECGROUP, doc, NULL, 0, err))
        goto fail;
    for (int i = 0; i < 2; i++) {
        for (int in = 0; in <= is_default; in++) {
            json_t *r = rule_doc(c, id, in ? "ingress" : "egress", et[i], in ? id : NULL, err);
            if (!r)
                goto fail;
            json_object_set(r, "project_id", json_object_get(doc, "project_id"));
            json_object_set(r, "tenant_id", json_object_get(doc, "project_id"));
            json_object_set_new(r, "belongs_to_default_sg", json_boolean(is_default));
            if (ln_row_insert(db, LN_SGRULE, r, id, 0, err)) {
                json_decref(r);
                goto fail;
            }
            json_decref(r);
        }
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

int ln_default_sg(struct nph_db *db, const char *project_id, char *out, struct nph_error *err)
{
    struct nph_stmt *st;
    struct local_network_caller c = {project_id, 0};
    json_t *doc;
    int rc = nph_db_queryf(db, err, &st, "SELECT sg_id FROM net_default_sg WHERE project_id = ?",
                           "s", project_id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        snprintf(out, NPH_UUID_LEN + 1, "%s", nph_stmt_col_text(st, 0));
        nph_stmt_done(st);
        return 0;
    }
    if (ln_lock(db, "1313953106", project_id, err))
        return -1;
    /* the lock holder before us may have created it (PostgreSQL) */
    rc = nph_db_queryf(db, err, &st, "SELECT sg_id FROM net_default_sg WHERE project_id = ?", "s",
                       project_id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        snprintf(out, NPH_UUID_LEN + 1, "%s", nph_stmt_col_text(st, 0));
        nph_stmt_done(st);
        return 0;
    }
    if (!(doc = sg_insert(db, &c, NULL, 1, err)))
        return -1;
    snprintf(out, NPH_UUID_LEN + 1, "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    return nph_db_execf(db, err, "INSERT INTO net_default_sg (project_id, sg_id) VALUES (?, ?)",
                        "ss", project_id, out) < 0
               ? -1
               : 0;
}

int ln_sg_decorate(struct nph_db *db, json_t *doc, struct nph_error *err)
{
    json_t *rules = ln_children(db, LN_SGRULE, json_string_value(json_object_get(doc, "id")), err);
    if (!rules)
        return -1;
    json_object_set_new(doc, "security_group_rules", rules);
    return 0;
}

json_t *ln_sg_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                     struct nph_error *err)
{
    static const char *const allowed[] = {"name",       "description", "tenant_id",
                                          "project_id", "stateful",    NULL};
    char def[NPH_UUID_LEN + 1], project[256];
    const char *name = json_string_value(json_object_get(attrs, "name"));
    struct local_network_caller owner;
    json_t *tmp;
    if (ln_check_attrs(attrs, allowed, err))
        return NULL;
    /* the owner: the caller's project, or the one an admin names */
    if (!(tmp = ln_doc_new(c, attrs, err)))
        return NULL;
    snprintf(project, sizeof(project), "%s", json_string_value(json_object_get(tmp, "project_id")));
    json_decref(tmp);
    if (ln_default_sg(db, project, def, err))
        return NULL;
    if (name && strcmp(name, "default") == 0) {
        LN_SET(err, NPH_E_CONFLICT, "SecurityGroupDefaultAlreadyExists",
               "Default security group already exists.");
        return NULL;
    }
    owner.project_id = project;
    owner.is_admin = c->is_admin;
    if (ln_quota_check(db, project, LN_SECGROUP, err))
        return NULL;
    return sg_insert(db, &owner, attrs, 0, err);
}

int ln_sg_update(struct nph_db *db, json_t *doc, const json_t *attrs, struct nph_error *err)
{
    static const char *const allowed[] = {"name", "description", "stateful", NULL};
    const char *name = json_string_value(json_object_get(attrs, "name"));
    int is_default = strcmp(json_string_value(json_object_get(doc, "name")), "default") == 0;
    if (ln_check_attrs(attrs, allowed, err))
        return -1;
    if (is_default && name && strcmp(name, "default") != 0)
        return LN_SET(err, NPH_E_CONFLICT, "SecurityGroupCannotUpdateDefault",
                      "Updating default security group not allowed.");
    if (!is_default && name && strcmp(name, "default") == 0)
        return LN_SET(err, NPH_E_CONFLICT, "SecurityGroupDefaultAlreadyExists",
                      "Default security group already exists.");
    if (ln_copy_common(doc, attrs, err))
        return -1;
    json_object_del(doc, "security_group_rules");
    return ln_row_update(db, doc, 0, err);
}

int ln_sg_delete(struct nph_db *db, const struct local_network_caller *c, const json_t *doc,
                 struct nph_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    struct nph_stmt *st;
    json_t *ports, *p;
    size_t i;
    int rc = nph_db_queryf(db, err, &st, "SELECT 1 FROM net_default_sg WHERE sg_id = ?", "s", id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        nph_stmt_done(st);
        if (!c->is_admin)
            return LN_SET(err, NPH_E_CONFLICT, "SecurityGroupCannotRemoveDefault",
                          "Insufficient rights for removing default security group.");
    }
    if (!(ports = ln_children(db, LN_PORT, NULL, err)))
        return -1;
    json_array_foreach(ports, i, p)
    {
        size_t j;
        json_t *g;
        json_array_foreach(json_object_get(p, "security_groups"), j, g)
        {
            if (json_is_string(g) && strcmp(json_string_value(g), id) == 0) {
                json_decref(ports);
                return LN_SET(err, NPH_E_CONFLICT, "SecurityGroupInUse",
                              "Security Group %s in use.", id);
            }
        }
    }
    json_decref(ports);
    if (nph_db_execf(db, err,
                     "DELETE FROM net_resource WHERE kind = 'security_group_rule' AND"
                     " parent_id = ?",
                     "s", id) < 0 ||
        nph_db_execf(db, err, "DELETE FROM net_default_sg WHERE sg_id = ?", "s", id) < 0)
        return -1;
    return ln_row_delete(db, id, err);
}

static int same_rule(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {
        "direction",      "ethertype",        "protocol",        "port_range_min",
        "port_range_max", "remote_ip_prefix", "remote_group_id", NULL};
    for (const char *const *k = keys; *k; k++) {
        json_t *x = json_object_get(a, *k), *y = json_object_get(b, *k);
        if (!json_equal(x ? x : json_null(), y ? y : json_null()))
            return 0;
    }
    return 1;
}

json_t *ln_rule_create(struct nph_db *db, const struct local_network_caller *c, const json_t *attrs,
                       struct nph_error *err)
{
    static const char *const allowed[] = {"security_group_id",
                                          "direction",
                                          "ethertype",
                                          "protocol",
                                          "port_range_min",
                                          "port_range_max",
                                          "remote_ip_prefix",
                                          "remote_group_id",
                                          "description",
                                          "tenant_id",
                                          "project_id",
                                          "remote_address_group_id",
                                          NULL};
    const char *sg_id = json_string_value(json_object_get(attrs, "security_group_id"));
    json_t *sg = NULL, *doc = NULL, *rules = NULL, *r, *rg;
    size_t i;
    const char *k;
    json_t *v;
    if (ln_check_attrs(attrs, allowed, err))
        return NULL;
    if (!sg_id) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Failed to parse request. Required attribute 'security_group_id' not specified");
        return NULL;
    }
    if (!(sg = ln_fetch(db, c, LN_SECGROUP, sg_id, err)))
        return NULL;
    if (!(doc = rule_doc(c, sg_id, "ingress", "IPv4", NULL, err)))
        goto fail;
    json_object_set(doc, "project_id", json_object_get(sg, "project_id"));
    json_object_set(doc, "tenant_id", json_object_get(sg, "project_id"));
    json_object_foreach((json_t *)attrs, k, v)
    {
        if (strcmp(k, "tenant_id") && strcmp(k, "project_id") && strcmp(k, "security_group_id"))
            json_object_set(doc, k, v);
    }
    if (!json_object_get(attrs, "direction"))
        json_object_set_new(doc, "direction", json_null());
    if (!json_object_get(attrs, "ethertype"))
        json_object_del(doc, "ethertype");
    if (ln_rule_validate(doc, err))
        goto fail;
    if (json_is_string(json_object_get(doc, "description")) &&
        json_string_length(json_object_get(doc, "description")) > 255) {
        LN_SET(err, NPH_E_INVALID, "HTTPBadRequest",
               "Invalid input for description. Reason: exceeds maximum length of 255.");
        goto fail;
    }
    rg = json_object_get(doc, "remote_group_id");
    if (json_is_string(rg)) {
        json_t *g = ln_fetch(db, c, LN_SECGROUP, json_string_value(rg), err);
        if (!g)
            goto fail;
        json_decref(g);
    }
    if (!(rules = ln_children(db, LN_SGRULE, sg_id, err)))
        goto fail;
    json_array_foreach(rules, i, r)
    {
        if (same_rule(r, doc)) {
            LN_SET(err, NPH_E_CONFLICT, "SecurityGroupRuleExists",
                   "Security group rule already exists. Rule id is %s.",
                   json_string_value(json_object_get(r, "id")));
            goto fail;
        }
    }
    if (ln_quota_check(db, json_string_value(json_object_get(doc, "project_id")), LN_SGRULE, err) ||
        ln_row_insert(db, LN_SGRULE, doc, sg_id, 0, err))
        goto fail;
    json_decref(rules);
    json_decref(sg);
    return doc;
fail:
    json_decref(rules);
    json_decref(doc);
    json_decref(sg);
    return NULL;
}
