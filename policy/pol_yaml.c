/* pol_yaml.c - the line map of a YAML document (see pol_yaml.h), walked with libyaml's
 * document API alongside the paths that the JSON conversion produces. */
#include "pol_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define LINES_MAX_DEPTH 64
#define LINES_MAX_PATH  512

static int walk(yaml_document_t *doc, yaml_node_t *n, char *path, size_t plen, int depth,
                json_t *map)
{
    if (depth > LINES_MAX_DEPTH)
        return 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        size_t i = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++, i++) {
            yaml_node_t *c = yaml_document_get_node(doc, *it);
            int w = snprintf(path + plen, LINES_MAX_PATH - plen, "%s%zu", plen ? "." : "", i);
            if (!c || w < 0 || (size_t)w >= LINES_MAX_PATH - plen)
                continue;
            json_object_set_new(map, path, json_integer((json_int_t)c->start_mark.line + 1));
            if (walk(doc, c, path, plen + (size_t)w, depth + 1, map) < 0)
                return -1;
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            yaml_node_t *v = yaml_document_get_node(doc, p->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE)
                continue;
            int w = snprintf(path + plen, LINES_MAX_PATH - plen, "%s%s", plen ? "." : "",
                             (const char *)k->data.scalar.value);
            if (w < 0 || (size_t)w >= LINES_MAX_PATH - plen)
                continue;
            json_object_set_new(map, path, json_integer((json_int_t)k->start_mark.line + 1));
            if (walk(doc, v, path, plen + (size_t)w, depth + 1, map) < 0)
                return -1;
        }
    }
    path[plen] = '\0';
    return 0;
}

json_t *pol_yaml_lines(const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *map = NULL;
    char path[LINES_MAX_PATH];
    if (!buf || !yaml_parser_initialize(&parser))
        return NULL;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (yaml_parser_load(&parser, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        map = json_object();
        path[0] = '\0';
        if (map && root && walk(&doc, root, path, 0, 0, map) < 0) {
            json_decref(map);
            map = NULL;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return map;
}

int pol_yaml_line(const json_t *map, const char *fmt, ...)
{
    char path[LINES_MAX_PATH];
    va_list ap;
    if (!map)
        return 0;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return (int)json_integer_value(json_object_get(map, path));
}
