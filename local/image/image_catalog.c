/*
 * image_catalog.c - the image catalog in the store: the "image" component's migrations, create,
 * get, update, delete, tags, filtered and paginated listing, the upload state machine
 * (queued -> saving -> active, back to queued on any failure) and local_image_locate for
 * compute. Visibility and ownership follow Glance's default policy (see local_image.h).
 *
 * One table, image; tags (a JSON array) and custom properties (a JSON object) are columns of
 * it, so one row is one image and listing is one query. Times are BIGINT UTC microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"
#include "nph_clock.h"
#include "nph_id.h"
#include "nph_json.h"
#include "nph_log.h"

#define INT32_LIMIT 2147483647LL
#define TAG_MAX     255

static const struct nph_migration image_migrations[] = {
    {1, "image catalog",
     "CREATE TABLE image (id TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL,"
     " visibility TEXT NOT NULL, protected INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL,"
     " disk_format TEXT, container_format TEXT, size BIGINT, virtual_size BIGINT,"
     " checksum TEXT, os_hash_algo TEXT, os_hash_value TEXT,"
     " min_disk BIGINT NOT NULL DEFAULT 0, min_ram BIGINT NOT NULL DEFAULT 0,"
     " tags TEXT NOT NULL DEFAULT '[]', properties TEXT NOT NULL DEFAULT '{}',"
     " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, detected_format TEXT);"
     "CREATE INDEX image_owner ON image (owner);"
     "CREATE INDEX image_visibility ON image (visibility);"
     "CREATE INDEX image_created ON image (created_at);"},
};

int local_image_migrate(struct nph_store *store, int *applied, struct nph_error *err)
{
    return nph_store_migrate(store, "image", image_migrations,
                             sizeof(image_migrations) / sizeof(image_migrations[0]), applied, err);
}

static const char *const disk_formats[] = {"ami", "ari",   "aki", "vhd", "vhdx",  "vmdk",
                                           "raw", "qcow2", "vdi", "iso", "ploop", NULL};
static const char *const container_formats[] = {"bare", "ovf",    "ova",        "aki", "ari",
                                                "ami",  "docker", "compressed", NULL};
static const char *const visibilities[] = {"public", "private", "shared", "community", NULL};

/* Attribute names that are not custom properties (Glance's base and read-only ones). */
static const char *const reserved_names[] = {
    "id",         "name",         "status",           "visibility", "protected",
    "owner",      "disk_format",  "container_format", "size",       "virtual_size",
    "checksum",   "os_hash_algo", "os_hash_value",    "min_disk",   "min_ram",
    "tags",       "properties",   "created_at",       "updated_at", "self",
    "file",       "schema",       "locations",        "direct_url", "deleted",
    "deleted_at", "location",     "stores",           NULL};

static int in_list(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

int local_image_is_reserved(const char *name)
{
    return in_list(name, reserved_names);
}

/* ---- open / close ---------------------------------------------------------------------- */

struct local_image *local_image_open(struct nph_store *store, const char *dir,
                                     int64_t max_image_bytes, struct nph_error *err)
{
    struct local_image *li;
    if (!dir || !*dir || strlen(dir) >= sizeof(li->dir) - 64) {
        nph_error_set(err, NPH_E_INVALID, "the image directory is missing or too long");
        return NULL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        nph_error_set(err, NPH_E_IO, "cannot create the image directory '%s'", dir);
        nph_error_detail(err, "%s", strerror(errno));
        return NULL;
    }
    li = calloc(1, sizeof(*li));
    if (!li) {
        nph_error_nomem(err);
        return NULL;
    }
    li->store = store;
    snprintf(li->dir, sizeof(li->dir), "%s", dir);
    li->max_image_bytes = max_image_bytes > 0 ? max_image_bytes : 0;
    return li;
}

void local_image_close(struct local_image *li)
{
    free(li);
}

const char *local_image_dir(const struct local_image *li)
{
    return li->dir;
}

static void data_path(const struct local_image *li, const char *id, const char *suffix, char *out,
                      size_t cap)
{
    snprintf(out, cap, "%s/%s%s", li->dir, id, suffix);
}

/* ---- rows ------------------------------------------------------------------------------ */

#define COLS                                                                                       \
    "id, name, status, visibility, protected, owner, disk_format, container_format, size,"         \
    " virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, tags, properties,"   \
    " created_at, updated_at, detected_format"

enum {
    C_ID,
    C_NAME,
    C_STATUS,
    C_VIS,
    C_PROT,
    C_OWNER,
    C_DISK,
    C_CONT,
    C_SIZE,
    C_VSIZE,
    C_MD5,
    C_ALGO,
    C_HASH,
    C_MIN_DISK,
    C_MIN_RAM,
    C_TAGS,
    C_PROPS,
    C_CREATED,
    C_UPDATED,
    C_DETECTED
};

static json_t *text_or_null(struct nph_stmt *st, int col)
{
    const char *v = nph_stmt_col_text(st, col);
    return v ? json_string(v) : json_null();
}

static json_t *int_or_null(struct nph_stmt *st, int col)
{
    return nph_stmt_col_is_null(st, col) ? json_null() : json_integer(nph_stmt_col_int64(st, col));
}

static json_t *time_json(int64_t us)
{
    char buf[40];
    return json_string(nph_time_format(us, 0, buf, sizeof(buf)));
}

static json_t *row_json(struct nph_stmt *st)
{
    const char *tags = nph_stmt_col_text(st, C_TAGS);
    const char *props = nph_stmt_col_text(st, C_PROPS);
    json_t *t = tags ? json_loads(tags, 0, NULL) : NULL;
    json_t *p = props ? json_loads(props, 0, NULL) : NULL;
    json_t *o = json_object();
    if (!o) {
        json_decref(t);
        json_decref(p);
        return NULL;
    }
    json_object_set_new(o, "id", text_or_null(st, C_ID));
    json_object_set_new(o, "name", text_or_null(st, C_NAME));
    json_object_set_new(o, "status", text_or_null(st, C_STATUS));
    json_object_set_new(o, "visibility", text_or_null(st, C_VIS));
    json_object_set_new(o, "protected", json_boolean(nph_stmt_col_int64(st, C_PROT) != 0));
    json_object_set_new(o, "owner", text_or_null(st, C_OWNER));
    json_object_set_new(o, "disk_format", text_or_null(st, C_DISK));
    json_object_set_new(o, "container_format", text_or_null(st, C_CONT));
    json_object_set_new(o, "size", int_or_null(st, C_SIZE));
    json_object_set_new(o, "virtual_size", int_or_null(st, C_VSIZE));
    json_object_set_new(o, "checksum", text_or_null(st, C_MD5));
    json_object_set_new(o, "os_hash_algo", text_or_null(st, C_ALGO));
    json_object_set_new(o, "os_hash_value", text_or_null(st, C_HASH));
    json_object_set_new(o, "min_disk", json_integer(nph_stmt_col_int64(st, C_MIN_DISK)));
    json_object_set_new(o, "min_ram", json_integer(nph_stmt_col_int64(st, C_MIN_RAM)));
    json_object_set_new(o, "tags", json_is_array(t) ? t : json_array());
    json_object_set_new(o, "properties", json_is_object(p) ? p : json_object());
    if (!json_is_array(t))
        json_decref(t);
    if (!json_is_object(p))
        json_decref(p);
    json_object_set_new(o, "created_at", time_json(nph_stmt_col_int64(st, C_CREATED)));
    json_object_set_new(o, "updated_at", time_json(nph_stmt_col_int64(st, C_UPDATED)));
    return o;
}

/* The image row (new reference), or NULL with NPH_E_NOT_FOUND (whatever the caller). */
static json_t *fetch(struct nph_db *db, const char *id, char detected[16], struct nph_error *err)
{
    json_t *o = NULL;
    struct nph_stmt *st = nph_db_prepare(db, "SELECT " COLS " FROM image WHERE id = ?", err);
    if (!st || nph_stmt_bind_text(st, 1, id, err))
        goto done;
    int rc = nph_stmt_step(st, err);
    if (rc == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "no image with id '%.64s'", id);
    } else if (rc == 1) {
        o = row_json(st);
        if (!o)
            nph_error_nomem(err);
        if (detected) {
            const char *d = nph_stmt_col_text(st, C_DETECTED);
            snprintf(detected, 16, "%s", d ? d : "");
        }
    }
done:
    if (st)
        nph_stmt_done(st);
    return o;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int can_see(const struct local_image_caller *c, const json_t *img)
{
    const char *vis = jstr(img, "visibility");
    const char *owner = jstr(img, "owner");
    if (c->is_admin)
        return 1;
    if (vis && (strcmp(vis, "public") == 0 || strcmp(vis, "community") == 0))
        return 1;
    return owner && c->project_id && *c->project_id && strcmp(owner, c->project_id) == 0;
}

static int can_change(const struct local_image_caller *c, const json_t *img)
{
    const char *owner = jstr(img, "owner");
    return c->is_admin ||
           (owner && c->project_id && *c->project_id && strcmp(owner, c->project_id) == 0);
}

/* Fetch an image the caller may see (else NPH_E_NOT_FOUND) and, when `change`, may change
 * (else NPH_E_FORBIDDEN). */
static json_t *fetch_for(struct nph_db *db, const struct local_image_caller *c, const char *id,
                         int change, char detected[16], struct nph_error *err)
{
    json_t *img = fetch(db, id, detected, err);
    if (!img)
        return NULL;
    if (!can_see(c, img)) {
        json_decref(img);
        nph_error_set(err, NPH_E_NOT_FOUND, "no image with id '%.64s'", id);
        return NULL;
    }
    if (change && !can_change(c, img)) {
        json_decref(img);
        nph_error_set(err, NPH_E_FORBIDDEN, "you are not permitted to modify image '%.64s'", id);
        return NULL;
    }
    return img;
}

static struct nph_db *img_db(struct local_image *li, struct nph_error *err)
{
    return nph_store_acquire(li->store, err);
}

/* ---- validation ------------------------------------------------------------------------ */

static int is_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    if (strlen(s) != NPH_UUID_LEN)
        return 0;
    for (int i = 0, d = 0; i < NPH_UUID_LEN; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return 0;
            d++;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                     (s[i] >= 'A' && s[i] <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

static int check_enum(const json_t *v, const char *key, const char *const *allowed,
                      struct nph_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v) || !in_list(json_string_value(v), allowed))
        return nph_error_set(err, NPH_E_INVALID, "invalid value for '%s'", key);
    return 0;
}

static int check_tag(const char *tag, struct nph_error *err)
{
    size_t n = tag ? strlen(tag) : 0;
    if (n == 0 || n > TAG_MAX || !nph_utf8_valid(tag, n))
        return nph_error_set(err, NPH_E_INVALID, "a tag must be 1 to %d bytes of UTF-8", TAG_MAX);
    return 0;
}

/* A validated, de-duplicated copy of a tags array (new reference) or NULL. */
static json_t *clean_tags(const json_t *v, struct nph_error *err)
{
    size_t i;
    json_t *t, *out;
    if (!json_is_array(v)) {
        nph_error_set(err, NPH_E_INVALID, "'tags' must be an array of strings");
        return NULL;
    }
    out = json_array();
    json_array_foreach(v, i, t)
    {
        size_t k;
        json_t *u;
        int dup = 0;
        if (!json_is_string(t) || check_tag(json_string_value(t), err)) {
            if (!json_is_string(t))
                nph_error_set(err, NPH_E_INVALID, "'tags' must be an array of strings");
            json_decref(out);
            return NULL;
        }
        json_array_foreach(out, k, u) dup |= json_equal(u, t);
        if (!dup)
            json_array_append(out, t);
    }
    if (json_array_size(out) > LOCAL_IMAGE_MAX_TAGS) {
        json_decref(out);
        nph_error_set(err, NPH_E_LIMIT, "an image has at most %d tags", LOCAL_IMAGE_MAX_TAGS);
        return NULL;
    }
    return out;
}

static int check_props(const json_t *v, struct nph_error *err)
{
    const char *k;
    json_t *p;
    if (!json_is_object(v))
        return nph_error_set(err, NPH_E_INVALID, "'properties' must be an object");
    if (json_object_size(v) > LOCAL_IMAGE_MAX_PROPS)
        return nph_error_set(err, NPH_E_LIMIT, "an image has at most %d properties",
                             LOCAL_IMAGE_MAX_PROPS);
    json_object_foreach((json_t *)v, k, p)
    {
        if (!*k || strlen(k) > 255)
            return nph_error_set(err, NPH_E_INVALID, "a property name must be 1 to 255 bytes");
        if (in_list(k, reserved_names))
            return nph_error_set(err, NPH_E_FORBIDDEN, "attribute '%.64s' is reserved", k);
        if (!json_is_string(p))
            return nph_error_set(err, NPH_E_INVALID, "property '%.64s' must be a string", k);
        if (json_string_length(p) > LOCAL_IMAGE_PROP_MAX)
            return nph_error_set(err, NPH_E_INVALID, "property '%.64s' is too long", k);
    }
    return 0;
}

/* Validate `attrs` and write them into img. creating: id may be given; everything is new. */
static int apply_attrs(const struct local_image_caller *c, json_t *img, const json_t *attrs,
                       int creating, struct nph_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(attrs))
        return nph_error_set(err, NPH_E_INVALID, "the image attributes must be an object");
    json_object_foreach((json_t *)attrs, k, v)
    {
        if (strcmp(k, "id") == 0 && creating) {
            if (!json_is_string(v) || !is_uuid(json_string_value(v)))
                return nph_error_set(err, NPH_E_INVALID, "'id' must be a UUID");
        } else if (strcmp(k, "name") == 0) {
            if (!json_is_null(v) &&
                (!json_is_string(v) || json_string_length(v) > LOCAL_IMAGE_NAME_MAX))
                return nph_error_set(err, NPH_E_INVALID,
                                     "'name' must be a string of at most "
                                     "%d bytes",
                                     LOCAL_IMAGE_NAME_MAX);
        } else if (strcmp(k, "visibility") == 0) {
            if (json_is_null(v) || check_enum(v, k, visibilities, err))
                return nph_error_set(err, NPH_E_INVALID, "invalid value for 'visibility'");
            if (strcmp(json_string_value(v), "public") == 0 && !c->is_admin &&
                !json_equal(v, json_object_get(img, "visibility")))
                return nph_error_set(err, NPH_E_FORBIDDEN,
                                     "only an administrator may publicize an image");
        } else if (strcmp(k, "protected") == 0) {
            if (!json_is_boolean(v))
                return nph_error_set(err, NPH_E_INVALID, "'protected' must be a boolean");
        } else if (strcmp(k, "disk_format") == 0 || strcmp(k, "container_format") == 0) {
            if (check_enum(v, k, k[0] == 'd' ? disk_formats : container_formats, err))
                return -1;
            if (!creating && !json_equal(v, json_object_get(img, k)) &&
                strcmp(jstr(img, "status"), "queued") != 0)
                return nph_error_set(err, NPH_E_FORBIDDEN,
                                     "'%s' can only be changed while the image is queued", k);
        } else if (strcmp(k, "min_disk") == 0 || strcmp(k, "min_ram") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_LIMIT)
                return nph_error_set(err, NPH_E_INVALID, "'%s' must be an integer from 0 to %lld",
                                     k, INT32_LIMIT);
        } else if (strcmp(k, "tags") == 0) {
            json_t *t = clean_tags(v, err);
            if (!t)
                return -1;
            json_object_set_new(img, k, t);
            continue;
        } else if (strcmp(k, "properties") == 0) {
            if (check_props(v, err))
                return -1;
        } else if (in_list(k, reserved_names)) {
            return nph_error_set(err, NPH_E_FORBIDDEN, "attribute '%.64s' is read-only", k);
        } else {
            return nph_error_set(err, NPH_E_INVALID, "unknown attribute '%.64s'", k);
        }
        json_object_set(img, k, v);
    }
    return 0;
}

static int bind_opt_text(struct nph_stmt *st, int idx, const json_t *v, struct nph_error *err)
{
    return json_is_string(v) ? nph_stmt_bind_text(st, idx, json_string_value(v), err)
                             : nph_stmt_bind_null(st, idx, err);
}

/* Run one prepared, fully bound statement to completion; the number of changed rows. */
static int64_t exec_stmt(struct nph_stmt *st, struct nph_error *err)
{
    int rc = nph_stmt_step(st, err);
    int64_t n = rc < 0 ? -1 : nph_stmt_changes(st);
    nph_stmt_done(st);
    return n;
}

/* Write the mutable columns of img to its row (INSERT when inserting). */
static int write_row(struct nph_db *db, const json_t *img, int inserting, struct nph_error *err)
{
    char *tags = nph_json_dumps(json_object_get(img, "tags"));
    char *props = nph_json_dumps(json_object_get(img, "properties"));
    int64_t now = nph_clock_now();
    int rc = -1;
    struct nph_stmt *st;
    if (!tags || !props) {
        nph_error_nomem(err);
        goto done;
    }
    st = nph_db_prepare(db,
                        inserting
                            ? "INSERT INTO image (name, visibility, protected, disk_format,"
                              " container_format, min_disk, min_ram, tags, properties, updated_at,"
                              " id, owner, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
                              " ?, ?, ?, 'queued', ?)"
                            : "UPDATE image SET name = ?, visibility = ?, protected = ?,"
                              " disk_format = ?, container_format = ?, min_disk = ?, min_ram = ?,"
                              " tags = ?, properties = ?, updated_at = ? WHERE id = ?",
                        err);
    if (!st)
        goto done;
    if (bind_opt_text(st, 1, json_object_get(img, "name"), err) ||
        nph_stmt_bind_text(st, 2, jstr(img, "visibility"), err) ||
        nph_stmt_bind_int64(st, 3, json_is_true(json_object_get(img, "protected")), err) ||
        bind_opt_text(st, 4, json_object_get(img, "disk_format"), err) ||
        bind_opt_text(st, 5, json_object_get(img, "container_format"), err) ||
        nph_stmt_bind_int64(st, 6, json_integer_value(json_object_get(img, "min_disk")), err) ||
        nph_stmt_bind_int64(st, 7, json_integer_value(json_object_get(img, "min_ram")), err) ||
        nph_stmt_bind_text(st, 8, tags, err) || nph_stmt_bind_text(st, 9, props, err) ||
        nph_stmt_bind_int64(st, 10, now, err) || nph_stmt_bind_text(st, 11, jstr(img, "id"), err) ||
        (inserting && (nph_stmt_bind_text(st, 12, jstr(img, "owner"), err) ||
                       nph_stmt_bind_int64(st, 13, now, err)))) {
        nph_stmt_done(st);
        goto done;
    }
    int64_t n = exec_stmt(st, err);
    if (n < 0) {
        if (err && err->code == NPH_E_CONFLICT)
            nph_error_set(err, NPH_E_CONFLICT, "an image with id '%s' exists already",
                          jstr(img, "id"));
        goto done;
    }
    if (n == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "no image with id '%.64s'", jstr(img, "id"));
        goto done;
    }
    rc = 0;
done:
    free(tags);
    free(props);
    return rc;
}

/* ---- create / get / update / delete ---------------------------------------------------- */

json_t *local_image_create(struct local_image *li, const struct local_image_caller *c,
                           const json_t *attrs, struct nph_error *err)
{
    char id[NPH_UUID_LEN + 1];
    json_t *img = NULL, *out = NULL;
    struct nph_db *db = NULL;
    if (nph_uuid4(id) != 0) {
        nph_error_set(err, NPH_E_INTERNAL, "the random source failed");
        return NULL;
    }
    img = json_pack("{s:s,s:n,s:s,s:s,s:b,s:n,s:n,s:i,s:i,s:[],s:{}}", "id", id, "name", "status",
                    "queued", "visibility", "shared", "protected", 0, "disk_format",
                    "container_format", "min_disk", 0, "min_ram", 0, "tags", "properties");
    if (!img) {
        nph_error_nomem(err);
        return NULL;
    }
    json_object_set_new(img, "owner", json_string(c->project_id ? c->project_id : ""));
    if (apply_attrs(c, img, attrs, 1, err))
        goto done;
    db = img_db(li, err);
    if (!db || write_row(db, img, 1, err))
        goto done;
    out = fetch(db, jstr(img, "id"), NULL, err);
done:
    nph_store_release(db);
    json_decref(img);
    return out;
}

json_t *local_image_get(struct local_image *li, const struct local_image_caller *c, const char *id,
                        struct nph_error *err)
{
    struct nph_db *db = img_db(li, err);
    json_t *img;
    if (!db)
        return NULL;
    img = fetch_for(db, c, id, 0, NULL, err);
    nph_store_release(db);
    return img;
}

json_t *local_image_update(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const json_t *changes, struct nph_error *err)
{
    struct nph_db *db = img_db(li, err);
    json_t *img = NULL, *out = NULL;
    if (!db)
        return NULL;
    if (nph_db_begin(db, err))
        goto done;
    img = fetch_for(db, c, id, 1, NULL, err);
    if (!img || apply_attrs(c, img, changes, 0, err) || write_row(db, img, 0, err))
        goto done;
    out = fetch(db, id, NULL, err);
    if (out && nph_db_commit(db, err)) {
        json_decref(out);
        out = NULL;
    }
done:
    json_decref(img);
    nph_store_release(db); /* rolls back an open transaction */
    return out;
}

static void unlink_data(const struct local_image *li, const char *id)
{
    char path[4200];
    data_path(li, id, "", path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        nph_log(NPH_LOG_WARN, "image.unlink", "path", path, "msg", strerror(errno), NULL);
}

int local_image_delete(struct local_image *li, const struct local_image_caller *c, const char *id,
                       struct nph_error *err)
{
    struct nph_db *db = img_db(li, err);
    json_t *img = NULL;
    int rc = -1;
    struct nph_stmt *st;
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    img = fetch_for(db, c, id, 1, NULL, err);
    if (!img)
        goto done;
    if (json_is_true(json_object_get(img, "protected"))) {
        nph_error_set(err, NPH_E_FORBIDDEN, "image '%.64s' is protected and cannot be deleted", id);
        goto done;
    }
    st = nph_db_prepare(db, "DELETE FROM image WHERE id = ?", err);
    if (!st || nph_stmt_bind_text(st, 1, id, err)) {
        if (st)
            nph_stmt_done(st);
        goto done;
    }
    if (exec_stmt(st, err) < 0 || nph_db_commit(db, err))
        goto done;
    /* An upload in progress finds its row gone and removes its own file. */
    unlink_data(li, id);
    rc = 0;
done:
    json_decref(img);
    nph_store_release(db);
    return rc;
}

static int tag_change(struct local_image *li, const struct local_image_caller *c, const char *id,
                      const char *tag, int add, struct nph_error *err)
{
    struct nph_db *db;
    json_t *img = NULL, *tags = NULL;
    int rc = -1;
    if (check_tag(tag, err))
        return -1;
    db = img_db(li, err);
    if (!db)
        return -1;
    if (nph_db_begin(db, err))
        goto done;
    img = fetch_for(db, c, id, 1, NULL, err);
    if (!img)
        goto done;
    tags = json_array();
    {
        size_t i;
        json_t *t;
        int found = 0;
        json_array_foreach(json_object_get(img, "tags"), i, t)
        {
            if (strcmp(json_string_value(t), tag) == 0)
                found = 1;
            else
                json_array_append(tags, t);
        }
        if (!add && !found) {
            nph_error_set(err, NPH_E_NOT_FOUND, "image '%.64s' has no tag '%.64s'", id, tag);
            goto done;
        }
        if (add)
            json_array_append_new(tags, json_string(tag));
        if (json_array_size(tags) > LOCAL_IMAGE_MAX_TAGS) {
            nph_error_set(err, NPH_E_LIMIT, "an image has at most %d tags", LOCAL_IMAGE_MAX_TAGS);
            goto done;
        }
    }
    json_object_set(img, "tags", tags);
    if (write_row(db, img, 0, err) || nph_db_commit(db, err))
        goto done;
    rc = 0;
done:
    json_decref(tags);
    json_decref(img);
    nph_store_release(db);
    return rc;
}

int local_image_tag_add(struct local_image *li, const struct local_image_caller *c, const char *id,
                        const char *tag, struct nph_error *err)
{
    return tag_change(li, c, id, tag, 1, err);
}

int local_image_tag_delete(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const char *tag, struct nph_error *err)
{
    return tag_change(li, c, id, tag, 0, err);
}

/* ---- listing --------------------------------------------------------------------------- */

void local_image_filter_init(struct local_image_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->size = f->size_min = f->size_max = -1;
    f->sort_desc = 1;
}

struct sort_key {
    const char *name;
    const char *expr; /* SQL over the row, never NULL */
    int is_int;
};

static const struct sort_key sort_keys[] = {
    {"created_at", "created_at", 1},
    {"updated_at", "updated_at", 1},
    {"name", "COALESCE(name, '')", 0},
    {"status", "status", 0},
    {"size", "COALESCE(size, -1)", 1},
    {"virtual_size", "COALESCE(virtual_size, -1)", 1},
    {"id", "id", 0},
    {"disk_format", "COALESCE(disk_format, '')", 0},
    {"container_format", "COALESCE(container_format, '')", 0},
    {"visibility", "visibility", 0},
    {"owner", "owner", 0},
    {"min_disk", "min_disk", 1},
    {"min_ram", "min_ram", 1},
};

#define MAX_BINDS 24

struct binds {
    int n;
    struct {
        const char *text; /* borrowed unless owned */
        int64_t i;
        int is_int;
    } v[MAX_BINDS];
    char owned[3][600];
};

static void bind_text_add(struct binds *b, const char *s)
{
    b->v[b->n].text = s;
    b->v[b->n].is_int = 0;
    b->n++;
}

static void bind_int_add(struct binds *b, int64_t i)
{
    b->v[b->n].i = i;
    b->v[b->n].is_int = 1;
    b->n++;
}

/* "%<json of tag>%" with LIKE's metacharacters escaped by '!'. */
static int tag_pattern(const char *tag, char *out, size_t cap)
{
    json_t *s = json_string(tag);
    char *enc = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    size_t o = 0;
    json_decref(s);
    if (!enc)
        return -1;
    out[o++] = '%';
    for (const char *p = enc; *p && o + 3 < cap; p++) {
        if (*p == '%' || *p == '_' || *p == '!')
            out[o++] = '!';
        out[o++] = *p;
    }
    out[o++] = '%';
    out[o] = '\0';
    free(enc);
    return 0;
}

json_t *local_image_list(struct local_image *li, const struct local_image_caller *c,
                         const struct local_image_filter *f, int *more, struct nph_error *err)
{
    char sql[2048];
    size_t off;
    struct binds b;
    const struct sort_key *sk = NULL;
    const char *sort = f->sort_key && *f->sort_key ? f->sort_key : "created_at";
    const char *dir = f->sort_desc ? "DESC" : "ASC";
    int limit = f->limit > 0 ? f->limit : 25;
    const char *proj = c->project_id ? c->project_id : "";
    struct nph_db *db = NULL;
    struct nph_stmt *st = NULL;
    json_t *out = NULL;

    memset(&b, 0, sizeof(b));
    for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
        if (strcmp(sort_keys[i].name, sort) == 0)
            sk = &sort_keys[i];
    if (!sk) {
        nph_error_set(err, NPH_E_INVALID, "invalid sort key '%.64s'", sort);
        return NULL;
    }
    if (limit > LOCAL_IMAGE_LIST_LIMIT)
        limit = LOCAL_IMAGE_LIST_LIMIT;
    off = (size_t)snprintf(sql, sizeof(sql), "SELECT " COLS " FROM image WHERE 1 = 1");
#define APPEND(...) off += (size_t)snprintf(sql + off, sizeof(sql) - off, __VA_ARGS__)

    /* What the caller sees. */
    if (f->visibility && *f->visibility && strcmp(f->visibility, "all") != 0) {
        if (!in_list(f->visibility, visibilities)) {
            nph_error_set(err, NPH_E_INVALID, "invalid visibility value '%.32s'", f->visibility);
            return NULL;
        }
        APPEND(" AND visibility = ?");
        bind_text_add(&b, f->visibility);
        if (!c->is_admin &&
            (strcmp(f->visibility, "private") == 0 || strcmp(f->visibility, "shared") == 0)) {
            APPEND(" AND owner = ?");
            bind_text_add(&b, proj);
        }
    } else if (!c->is_admin) {
        if (f->visibility && strcmp(f->visibility, "all") == 0)
            APPEND(" AND (visibility IN ('public', 'community') OR owner = ?)");
        else
            APPEND(" AND (visibility = 'public' OR owner = ?)");
        bind_text_add(&b, proj);
    }
    const struct {
        const char *col, *val;
    } eq[] = {{"name", f->name},
              {"status", f->status},
              {"disk_format", f->disk_format},
              {"container_format", f->container_format},
              {"owner", f->owner}};
    for (size_t i = 0; i < sizeof(eq) / sizeof(eq[0]); i++) {
        if (eq[i].val) {
            APPEND(" AND %s = ?", eq[i].col);
            bind_text_add(&b, eq[i].val);
        }
    }
    if (f->size >= 0) {
        APPEND(" AND size = ?");
        bind_int_add(&b, f->size);
    }
    if (f->size_min >= 0) {
        APPEND(" AND size >= ?");
        bind_int_add(&b, f->size_min);
    }
    if (f->size_max >= 0) {
        APPEND(" AND size <= ?");
        bind_int_add(&b, f->size_max);
    }
    if (f->tag) {
        if (check_tag(f->tag, err) || tag_pattern(f->tag, b.owned[0], sizeof(b.owned[0])))
            return NULL;
        APPEND(" AND tags LIKE ? ESCAPE '!'");
        bind_text_add(&b, b.owned[0]);
    }

    db = img_db(li, err);
    if (!db)
        return NULL;
    if (f->marker) {
        /* Keyset pagination: rows strictly after the marker in (sort key, id) order. */
        char msql[256];
        snprintf(msql, sizeof(msql), "SELECT %s FROM image WHERE id = ?", sk->expr);
        st = nph_db_prepare(db, msql, err);
        if (!st || nph_stmt_bind_text(st, 1, f->marker, err))
            goto done;
        int rc = nph_stmt_step(st, err);
        if (rc < 0)
            goto done;
        if (rc == 0) {
            nph_error_set(err, NPH_E_INVALID, "marker '%.64s' could not be found", f->marker);
            goto done;
        }
        const char *op = f->sort_desc ? "<" : ">";
        APPEND(" AND (%s %s ? OR (%s = ? AND id %s ?))", sk->expr, op, sk->expr, op);
        for (int k = 0; k < 2; k++) {
            if (sk->is_int) {
                bind_int_add(&b, nph_stmt_col_int64(st, 0));
            } else {
                const char *v = nph_stmt_col_text(st, 0);
                snprintf(b.owned[1 + k], sizeof(b.owned[1 + k]), "%s", v ? v : "");
                bind_text_add(&b, b.owned[1 + k]);
            }
        }
        bind_text_add(&b, f->marker);
        nph_stmt_done(st);
        st = NULL;
    }
    APPEND(" ORDER BY %s %s, id %s LIMIT ?", sk->expr, dir, dir);
    bind_int_add(&b, limit + 1);
#undef APPEND
    if (off >= sizeof(sql)) {
        nph_error_set(err, NPH_E_INTERNAL, "the image query is too long");
        goto done;
    }
    st = nph_db_prepare(db, sql, err);
    if (!st)
        goto done;
    for (int i = 0; i < b.n; i++) {
        if (b.v[i].is_int ? nph_stmt_bind_int64(st, i + 1, b.v[i].i, err)
                          : nph_stmt_bind_text(st, i + 1, b.v[i].text, err))
            goto done;
    }
    out = json_array();
    *more = 0;
    for (;;) {
        int rc = nph_stmt_step(st, err);
        if (rc < 0) {
            json_decref(out);
            out = NULL;
            goto done;
        }
        if (rc == 0)
            break;
        if ((int)json_array_size(out) == limit) {
            *more = 1;
            break;
        }
        json_array_append_new(out, row_json(st));
    }
done:
    if (st)
        nph_stmt_done(st);
    nph_store_release(db);
    return out;
}

/* ---- data ------------------------------------------------------------------------------ */

/* Set the status of an image from `from` to `to` (and clear the data columns when going back
 * to queued). Returns the rows changed (0 or 1) or -1. */
static int64_t set_status(struct nph_db *db, const char *id, const char *from, const char *to,
                          struct nph_error *err)
{
    struct nph_stmt *st = nph_db_prepare(
        db,
        "UPDATE image SET status = ?, updated_at = ?, size = NULL, virtual_size = NULL,"
        " checksum = NULL, os_hash_algo = NULL, os_hash_value = NULL, detected_format = NULL"
        " WHERE id = ? AND status = ?",
        err);
    if (!st || nph_stmt_bind_text(st, 1, to, err) ||
        nph_stmt_bind_int64(st, 2, nph_clock_now(), err) || nph_stmt_bind_text(st, 3, id, err) ||
        nph_stmt_bind_text(st, 4, from, err)) {
        if (st)
            nph_stmt_done(st);
        return -1;
    }
    return exec_stmt(st, err);
}

/* Put an image whose upload failed back to queued (best effort: logged on failure). */
static void back_to_queued(struct local_image *li, const char *id)
{
    struct nph_error e2 = NPH_ERROR_INIT;
    struct nph_db *db = img_db(li, &e2);
    if (!db || set_status(db, id, "saving", "queued", &e2) < 0)
        nph_log(NPH_LOG_ERROR, "image.requeue", "image", id, "msg", e2.msg, NULL);
    nph_store_release(db);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

json_t *local_image_upload(struct local_image *li, const struct local_image_caller *c,
                           const char *id, const char *src_path, struct nph_error *err)
{
    char part[4200], final[4200], md5[33], sha[65], detected[16];
    const char *declared;
    json_t *img = NULL, *out = NULL;
    struct nph_db *db;
    struct nph_stmt *st;
    enum local_image_format fmt;
    int64_t vsize = 0, size = 0;
    int saving = 0, moved = 0;

    /* queued -> saving, so that a second upload or a delete sees the upload. */
    db = img_db(li, err);
    if (!db)
        goto fail;
    if (nph_db_begin(db, err))
        goto fail_db;
    img = fetch_for(db, c, id, 1, NULL, err);
    if (!img)
        goto fail_db;
    if (strcmp(jstr(img, "status"), "queued") != 0) {
        nph_error_set(err, NPH_E_CONFLICT,
                      "image '%.64s' is %s: data can only be uploaded to a "
                      "queued image",
                      id, jstr(img, "status"));
        goto fail_db;
    }
    if (!jstr(img, "disk_format") || !jstr(img, "container_format")) {
        nph_error_set(err, NPH_E_INVALID,
                      "disk_format and container_format must be set before uploading data");
        goto fail_db;
    }
    if (set_status(db, id, "queued", "saving", err) != 1 || nph_db_commit(db, err)) {
        if (err && err->code == NPH_E_OK)
            nph_error_set(err, NPH_E_CONFLICT, "image '%.64s' changed meanwhile", id);
        goto fail_db;
    }
    saving = 1;
    nph_store_release(db);
    db = NULL;

    /* Take the file, look at it, check it. */
    data_path(li, id, ".part", part, sizeof(part));
    data_path(li, id, "", final, sizeof(final));
    unlink(part);
    moved = 1;
    if (image_move_file(src_path, part, err))
        goto fail;
    if (local_image_digest(part, md5, sha, &size, err) ||
        local_image_detect(part, &fmt, &vsize, err))
        goto fail;
    if (li->max_image_bytes && size > li->max_image_bytes) {
        nph_error_set(err, NPH_E_TOO_LARGE, "the image is larger than %lld bytes",
                      (long long)li->max_image_bytes);
        goto fail;
    }
    declared = jstr(img, "disk_format");
    if (strcmp(declared, "qcow2") == 0 && fmt != LOCAL_IMAGE_FMT_QCOW2) {
        nph_error_set(err, NPH_E_INVALID, "the image data is not in the declared format 'qcow2'");
        goto fail;
    }
    if (strcmp(declared, "qcow2") != 0 && fmt == LOCAL_IMAGE_FMT_QCOW2) {
        nph_error_set(err, NPH_E_INVALID,
                      "the image data is qcow2, not the declared format '%.16s'", declared);
        goto fail;
    }
    if (fsync_path(part) != 0 || rename(part, final) != 0) {
        nph_error_set(err, NPH_E_IO, "cannot store the image data");
        nph_error_detail(err, "'%s': %s", final, strerror(errno));
        goto fail;
    }
    snprintf(detected, sizeof(detected), "%s", fmt == LOCAL_IMAGE_FMT_QCOW2 ? "qcow2" : "raw");

    /* saving -> active, unless the image was deleted meanwhile. */
    db = img_db(li, err);
    if (!db)
        goto fail_final;
    st = nph_db_prepare(db,
                        "UPDATE image SET status = 'active', size = ?, virtual_size = ?,"
                        " checksum = ?, os_hash_algo = 'sha256', os_hash_value = ?,"
                        " detected_format = ?, updated_at = ? WHERE id = ? AND status = 'saving'",
                        err);
    if (!st || nph_stmt_bind_int64(st, 1, size, err) ||
        (strcmp(declared, "raw") == 0 || fmt == LOCAL_IMAGE_FMT_QCOW2
             ? nph_stmt_bind_int64(st, 2, vsize, err)
             : nph_stmt_bind_null(st, 2, err)) ||
        nph_stmt_bind_text(st, 3, md5, err) || nph_stmt_bind_text(st, 4, sha, err) ||
        nph_stmt_bind_text(st, 5, detected, err) ||
        nph_stmt_bind_int64(st, 6, nph_clock_now(), err) || nph_stmt_bind_text(st, 7, id, err)) {
        if (st)
            nph_stmt_done(st);
        goto fail_final;
    }
    int64_t n = exec_stmt(st, err);
    if (n < 0)
        goto fail_final;
    if (n == 0) {
        nph_error_set(err, NPH_E_NOT_FOUND, "image '%.64s' was deleted during the upload", id);
        unlink(final);
        saving = 0;
        goto fail_db;
    }
    out = fetch(db, id, NULL, err);
    nph_store_release(db);
    json_decref(img);
    return out;

fail_final:
    unlink(final);
fail_db:
    nph_store_release(db);
fail:
    if (moved)
        unlink(part);
    else
        unlink(src_path);
    if (saving)
        back_to_queued(li, id);
    json_decref(img);
    return NULL;
}

int local_image_data(struct local_image *li, const struct local_image_caller *c, const char *id,
                     char path[4096], json_t **image, struct nph_error *err)
{
    json_t *img = local_image_get(li, c, id, err);
    if (!img)
        return -1;
    if (strcmp(jstr(img, "status"), "active") != 0) {
        if (image)
            *image = img;
        else
            json_decref(img);
        return 1;
    }
    snprintf(path, 4096, "%s/%.64s", li->dir, id);
    if (image)
        *image = img;
    else
        json_decref(img);
    return 0;
}

int local_image_locate(struct local_image *li, const char *image_id, const char *project_id,
                       int is_admin, struct local_image_ref *out, struct nph_error *err)
{
    struct local_image_caller c = {project_id, is_admin};
    char detected[16] = "";
    struct nph_db *db = img_db(li, err);
    json_t *img;
    if (!db)
        return -1;
    img = fetch_for(db, &c, image_id, 0, detected, err);
    nph_store_release(db);
    if (!img)
        return -1;
    if (strcmp(jstr(img, "status"), "active") != 0) {
        nph_error_set(err, NPH_E_CONFLICT, "image '%.64s' is %s, not active", image_id,
                      jstr(img, "status"));
        json_decref(img);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", jstr(img, "id"));
    snprintf(out->name, sizeof(out->name), "%s", jstr(img, "name") ? jstr(img, "name") : "");
    snprintf(out->status, sizeof(out->status), "%s", jstr(img, "status"));
    snprintf(out->disk_format, sizeof(out->disk_format), "%s", detected);
    snprintf(out->path, sizeof(out->path), "%s/%s", li->dir, out->id);
    out->size = json_integer_value(json_object_get(img, "size"));
    out->min_disk_gb = json_integer_value(json_object_get(img, "min_disk"));
    out->min_ram_mb = json_integer_value(json_object_get(img, "min_ram"));
    {
        json_t *props = json_object_get(img, "properties");
        const char *kid = json_string_value(json_object_get(props, "kernel_id"));
        const char *rid = json_string_value(json_object_get(props, "ramdisk_id"));
        const char *cmd = json_string_value(json_object_get(props, "os_command_line"));
        snprintf(out->kernel_id, sizeof(out->kernel_id), "%s", kid ? kid : "");
        snprintf(out->ramdisk_id, sizeof(out->ramdisk_id), "%s", rid ? rid : "");
        snprintf(out->os_command_line, sizeof(out->os_command_line), "%s", cmd ? cmd : "");
    }
    json_decref(img);
    return 0;
}
