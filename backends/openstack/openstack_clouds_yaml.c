/*
 * openstack_clouds_yaml.c - find an OpenStack clouds.yaml and read one cloud's entry from it,
 * with libyaml, into JSON.
 *
 * The search order is the OpenStack clients' own: an explicit path, $OS_CLIENT_CONFIG_FILE,
 * ./clouds.yaml, $HOME/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; the first file
 * that exists is the one read (no merging across files, no secure.yaml). Scalars are typed as
 * PyYAML's safe loader types them for the keys that matter here (verify: false, timeouts).
 * Aliases are followed, within a budget of nodes so that a "billion laughs" file fails cleanly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "openstack_internal.h"

#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 100000
#define YAML_MAX_BYTES (4 * 1024 * 1024)

struct yaml_walk {
    yaml_document_t *doc;
    const char *path;
    long budget;
};

static int is_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s || strlen(s) > 18)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static json_t *scalar_json(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strlen(v) == len) {
        static const char *const yes[] = {"true", "yes", "on", NULL};
        static const char *const no[] = {"false", "no", "off", NULL};
        for (int i = 0; yes[i]; i++) {
            if (strcasecmp(v, yes[i]) == 0)
                return json_true();
            if (strcasecmp(v, no[i]) == 0)
                return json_false();
        }
        if (len == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0)
            return json_null();
        if (is_int(v))
            return json_integer(strtoll(v, NULL, 10));
    }
    return json_stringn(v, len);
}

static json_t *node_json(struct yaml_walk *w, yaml_node_t *n, int depth, struct nph_error *err)
{
    if (depth > YAML_MAX_DEPTH || --w->budget < 0) {
        nph_error_set(err, NPH_E_INVALID, "%s:%lu: YAML nested too deep or too large", w->path,
                      (unsigned long)n->start_mark.line + 1);
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        json_t *j = scalar_json(n);
        if (!j)
            nph_error_set(err, NPH_E_INVALID, "%s:%lu: a scalar is not valid UTF-8", w->path,
                          (unsigned long)n->start_mark.line + 1);
        return j;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             a && it < n->data.sequence.items.top; it++) {
            yaml_node_t *c = yaml_document_get_node(w->doc, *it);
            json_t *j = c ? node_json(w, c, depth + 1, err) : json_null();
            if (!j) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, j);
        }
        if (!a)
            nph_error_nomem(err);
        return a;
    }
    if (n->type != YAML_MAPPING_NODE) {
        nph_error_set(err, NPH_E_INVALID, "%s: empty YAML node", w->path);
        return NULL;
    }
    json_t *o = json_object();
    if (!o) {
        nph_error_nomem(err);
        return NULL;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            nph_error_set(err, NPH_E_INVALID, "%s:%lu: mapping keys must be scalars", w->path,
                          (unsigned long)(k ? k->start_mark.line : 0) + 1);
            json_decref(o);
            return NULL;
        }
        json_t *j = node_json(w, v, depth + 1, err);
        if (!j) {
            json_decref(o);
            return NULL;
        }
        if (json_object_set_new(o, (const char *)k->data.scalar.value, j) != 0) {
            nph_error_set(err, NPH_E_INVALID, "%s:%lu: bad mapping key", w->path,
                          (unsigned long)k->start_mark.line + 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *os_yaml_load_file(const char *path, struct nph_error *err)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    struct stat st;

    if (!f) {
        nph_error_set(err, NPH_E_IO, "cannot open '%.200s': %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size > YAML_MAX_BYTES) {
        fclose(f);
        nph_error_set(err, NPH_E_INVALID, "'%.200s' is larger than %d bytes", path, YAML_MAX_BYTES);
        return NULL;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        nph_error_nomem(err);
        return NULL;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        nph_error_set(err, NPH_E_INVALID, "%.200s:%lu: invalid YAML: %s", path,
                      (unsigned long)parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        nph_error_set(err, NPH_E_INVALID, "%.200s: empty YAML document", path);
    } else {
        struct yaml_walk w = {&doc, path, YAML_MAX_NODES};
        out = node_json(&w, root, 0, err);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return out;
}

/* The candidate files in search order; entries may be NULL (unset variables). */
static int candidates(const char *explicit_path, char paths[5][1024])
{
    const char *env = getenv("OS_CLIENT_CONFIG_FILE");
    const char *home = getenv("HOME");
    int n = 0;
    if (explicit_path) {
        snprintf(paths[n++], 1024, "%s", explicit_path);
        return n;
    }
    if (env && *env)
        snprintf(paths[n++], 1024, "%s", env);
    snprintf(paths[n++], 1024, "clouds.yaml");
    if (home && *home)
        snprintf(paths[n++], 1024, "%s/.config/openstack/clouds.yaml", home);
    snprintf(paths[n++], 1024, "/etc/openstack/clouds.yaml");
    return n;
}

json_t *os_clouds_yaml_find(const char *cloud, const char *explicit_path, char **path_out,
                            struct nph_error *err)
{
    char paths[5][1024];
    int n = candidates(explicit_path, paths);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            if (explicit_path)
                break;
            continue;
        }
        json_t *doc = os_yaml_load_file(paths[i], err);
        if (!doc)
            return NULL;
        json_t *entry = json_object_get(json_object_get(doc, "clouds"), cloud);
        if (!json_is_object(entry)) {
            nph_error_set(err, NPH_E_INVALID, "no cloud '%.64s' in '%.200s'", cloud, paths[i]);
            json_decref(doc);
            return NULL;
        }
        char *p = strdup(paths[i]);
        if (!p) {
            json_decref(doc);
            nph_error_nomem(err);
            return NULL;
        }
        json_incref(entry);
        json_decref(doc);
        *path_out = p;
        return entry;
    }
    if (explicit_path) {
        nph_error_set(err, NPH_E_INVALID, "'clouds_yaml' file '%.200s' does not exist",
                      explicit_path);
        return NULL;
    }
    nph_error_set(err, NPH_E_INVALID,
                  "no clouds.yaml found for cloud '%.64s' ($OS_CLIENT_CONFIG_FILE, "
                  "./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml)",
                  cloud);
    return NULL;
}
