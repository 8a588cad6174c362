/*
 * pol_yaml.h - line numbers for documents that nph_yaml_to_json turned into JSON.
 *
 * The JSON form carries no positions, so validators look them up in a line map: a JSON object
 * from a path ("policies.2.require", "clouds.0.offerings.1") to the 1-based line where that
 * key (for a mapping member) or item (for a sequence element) starts. Pure: the document is a
 * buffer.
 */
#ifndef POL_YAML_H
#define POL_YAML_H

#include <jansson.h>
#include <stddef.h>

/* Build the line map of a YAML buffer. Returns a new reference, or NULL when the buffer does
 * not parse or memory runs out (callers then report errors without lines). */
json_t *pol_yaml_lines(const char *buf, size_t len);

/* Line of a path (printf-style) in a map; 0 when map is NULL or the path is not there. */
int pol_yaml_line(const json_t *map, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
