/*
 * test_image.c - local/image over a throwaway SQLite store and data directory: format
 * detection (raw, a hand-written qcow2 header, a broken one), md5/sha256 of known bytes, the
 * catalog (create, get, update, tags, filters, sort, pagination, delete), visibility and
 * ownership, and uploads: queued -> active, and every refusal leaving the image queued with
 * no file left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/local_image.h"
#include "nph_store.h"

static char g_dir[] = "/tmp/nph-test-image-XXXXXX";
static char g_data[4200];
static struct nph_store *g_store;
static struct local_image *g_li;

static const struct local_image_caller admin = {"proj-admin", 1};
static const struct local_image_caller alice = {"proj-a", 0};
static const struct local_image_caller bob = {"proj-b", 0};

/* ---- helpers ------------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A minimal qcow2 header: magic, version 3, cluster_bits 16, virtual size, zero-filled to
 * 104 bytes (the v3 header length). */
static void write_qcow2(const char *path, uint64_t vsize, uint32_t version)
{
    unsigned char h[104] = {'Q', 'F', 'I', 0xfb};
    h[7] = (unsigned char)version;
    h[23] = 16; /* cluster_bits */
    for (int i = 0; i < 8; i++)
        h[24 + i] = (unsigned char)(vsize >> (56 - 8 * i));
    h[103] = 104;
    write_file(path, h, sizeof(h));
}

static void tmp_path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* Files in the image data directory. */
static int data_files(void)
{
    int n = 0;
    DIR *d = opendir(g_data);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static json_t *create(const struct local_image_caller *c, const char *fmt, ...)
{
    struct nph_error err = NPH_ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    json_t *attrs = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    assert_non_null(attrs);
    json_t *img = local_image_create(g_li, c, attrs, &err);
    json_decref(attrs);
    if (!img)
        fail_msg("create: %s", err.msg);
    return img;
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t i(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* ---- format and digests -------------------------------------------------------------------- */

static void test_detect(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    enum local_image_format fmt;
    int64_t vs;
    char p[512];
    (void)state;

    tmp_path("raw.img", p, sizeof(p));
    write_file(p, "hello, raw world", 16);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), 0);
    assert_int_equal(fmt, LOCAL_IMAGE_FMT_RAW);
    assert_int_equal(vs, 16);

    tmp_path("empty.img", p, sizeof(p));
    write_file(p, "", 0);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), 0);
    assert_int_equal(fmt, LOCAL_IMAGE_FMT_RAW);
    assert_int_equal(vs, 0);

    tmp_path("disk.qcow2", p, sizeof(p));
    write_qcow2(p, 1ULL << 30, 3);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), 0);
    assert_int_equal(fmt, LOCAL_IMAGE_FMT_QCOW2);
    assert_int_equal(vs, 1LL << 30);

    write_qcow2(p, 4096, 2);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), 0);
    assert_int_equal(fmt, LOCAL_IMAGE_FMT_QCOW2);
    assert_int_equal(vs, 4096);

    /* The magic with a version no qcow2 has, or a header cut short. */
    write_qcow2(p, 4096, 9);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    write_file(p, "QFI\xfb\0\0\0\3", 8);
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), -1);

    tmp_path("missing", p, sizeof(p));
    assert_int_equal(local_image_detect(p, &fmt, &vs, &err), -1);
    assert_int_equal(err.code, NPH_E_IO);
}

static void test_digest(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char md5[33], sha[65], p[512];
    int64_t size;
    (void)state;

    tmp_path("abc", p, sizeof(p));
    write_file(p, "abc", 3);
    assert_int_equal(local_image_digest(p, md5, sha, &size, &err), 0);
    assert_string_equal(md5, "900150983cd24fb0d6963f7d28e17f72");
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);

    write_file(p, "", 0);
    assert_int_equal(local_image_digest(p, md5, sha, &size, &err), 0);
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(size, 0);

    /* Larger than one read: a million 'a's (the classic test vector). */
    char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    write_file(p, m, 1000000);
    free(m);
    assert_int_equal(local_image_digest(p, md5, sha, &size, &err), 0);
    assert_string_equal(md5, "7707d6ae4e027c70eea2a935c2296f21");
    assert_string_equal(sha, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_int_equal(size, 1000000);
}

/* ---- catalog ------------------------------------------------------------------------------- */

static void test_catalog(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    (void)state;

    json_t *a =
        create(&alice, "{s:s,s:s,s:s,s:[ss],s:{s:s}}", "name", "cirros", "disk_format", "qcow2",
               "container_format", "bare", "tags", "t1", "t1", "properties", "os_distro", "cirros");
    assert_string_equal(s(a, "status"), "queued");
    assert_string_equal(s(a, "visibility"), "shared");
    assert_string_equal(s(a, "owner"), "proj-a");
    assert_true(json_is_null(json_object_get(a, "size")));
    assert_true(json_is_null(json_object_get(a, "checksum")));
    assert_int_equal(json_array_size(json_object_get(a, "tags")), 1); /* de-duplicated */
    assert_string_equal(s(json_object_get(a, "properties"), "os_distro"), "cirros");
    const char *id = s(a, "id");

    json_t *g = local_image_get(g_li, &alice, id, &err);
    assert_non_null(g);
    assert_true(json_equal(g, a));
    json_decref(g);

    /* Bad values. */
    json_t *bad[] = {
        json_pack("{s:s}", "disk_format", "wrong"),
        json_pack("{s:s}", "container_format", "wrong"),
        json_pack("{s:i}", "min_ram", -1),
        json_pack("{s:s}", "id", "not-a-uuid"),
        json_pack("{s:s}", "visibility", "everyone"),
        json_pack("{s:i}", "name", 3),
        json_pack("{s:{s:i}}", "properties", "k", 1),
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        assert_null(local_image_create(g_li, &alice, bad[k], &err));
        assert_int_equal(err.code, NPH_E_INVALID);
        json_decref(bad[k]);
    }
    json_t *ro = json_pack("{s:s}", "status", "active");
    assert_null(local_image_create(g_li, &alice, ro, &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    json_decref(ro);

    /* A chosen id, then the same id again. */
    json_t *b =
        create(&alice, "{s:s,s:s}", "id", "11111111-2222-3333-4444-555555555555", "name", "second");
    json_t *dup = json_pack("{s:s}", "id", "11111111-2222-3333-4444-555555555555");
    assert_null(local_image_create(g_li, &alice, dup, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    json_decref(dup);

    /* Update. */
    json_t *ch =
        json_pack("{s:s,s:i,s:{s:s}}", "name", "renamed", "min_disk", 2, "properties", "k", "v");
    json_t *u = local_image_update(g_li, &alice, id, ch, &err);
    json_decref(ch);
    assert_non_null(u);
    assert_string_equal(s(u, "name"), "renamed");
    assert_int_equal(i(u, "min_disk"), 2);
    assert_null(json_object_get(json_object_get(u, "properties"), "os_distro"));
    assert_string_equal(s(json_object_get(u, "properties"), "k"), "v");
    json_decref(u);

    /* Tags. */
    assert_int_equal(local_image_tag_add(g_li, &alice, id, "t2", &err), 0);
    assert_int_equal(local_image_tag_add(g_li, &alice, id, "t2", &err), 0);
    assert_int_equal(local_image_tag_delete(g_li, &alice, id, "t1", &err), 0);
    assert_int_equal(local_image_tag_delete(g_li, &alice, id, "t1", &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    g = local_image_get(g_li, &alice, id, &err);
    assert_int_equal(json_array_size(json_object_get(g, "tags")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(g, "tags"), 0)), "t2");
    json_decref(g);

    /* List: filters, tag, sort, pagination. */
    struct local_image_filter f;
    int more = 0;
    local_image_filter_init(&f);
    json_t *l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 2);
    assert_int_equal(more, 0);
    json_decref(l);
    f.tag = "t2";
    l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(s(json_array_get(l, 0), "id"), id);
    json_decref(l);
    f.tag = "t%";
    l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 0); /* LIKE metacharacters are literal */
    json_decref(l);
    local_image_filter_init(&f);
    f.name = "second";
    l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    local_image_filter_init(&f);
    f.sort_key = "name";
    f.sort_desc = 0;
    f.limit = 1;
    l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(more, 1);
    assert_string_equal(s(json_array_get(l, 0), "name"), "renamed");
    f.marker = s(json_array_get(l, 0), "id");
    json_t *l2 = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l2), 1);
    assert_int_equal(more, 0);
    assert_string_equal(s(json_array_get(l2, 0), "name"), "second");
    json_decref(l2);
    json_decref(l);
    f.marker = "00000000-0000-0000-0000-000000000000";
    assert_null(local_image_list(g_li, &alice, &f, &more, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    local_image_filter_init(&f);
    f.sort_key = "nonsense";
    assert_null(local_image_list(g_li, &alice, &f, &more, &err));
    assert_int_equal(err.code, NPH_E_INVALID);

    /* Protected images stay; deleted ones are gone. */
    ch = json_pack("{s:b}", "protected", 1);
    json_decref(local_image_update(g_li, &alice, s(b, "id"), ch, &err));
    json_decref(ch);
    assert_int_equal(local_image_delete(g_li, &alice, s(b, "id"), &err), -1);
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    ch = json_pack("{s:b}", "protected", 0);
    json_decref(local_image_update(g_li, &alice, s(b, "id"), ch, &err));
    json_decref(ch);
    assert_int_equal(local_image_delete(g_li, &alice, s(b, "id"), &err), 0);
    assert_int_equal(local_image_delete(g_li, &alice, id, &err), 0);
    assert_null(local_image_get(g_li, &alice, id, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(local_image_delete(g_li, &alice, id, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    json_decref(a);
    json_decref(b);
}

static void test_visibility(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_image_filter f;
    int more;
    (void)state;

    json_t *priv = create(&alice, "{s:s,s:s}", "name", "a-private", "visibility", "private");
    json_t *shared = create(&alice, "{s:s}", "name", "a-shared");
    json_t *comm = create(&alice, "{s:s,s:s}", "name", "a-community", "visibility", "community");
    json_t *pub = create(&admin, "{s:s,s:s}", "name", "public", "visibility", "public");

    /* Only an admin publicizes. */
    json_t *attrs = json_pack("{s:s}", "visibility", "public");
    assert_null(local_image_create(g_li, &alice, attrs, &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    assert_null(local_image_update(g_li, &alice, s(priv, "id"), attrs, &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    json_decref(attrs);

    /* Bob sees the public and community images, not Alice's private or shared ones. */
    assert_null(local_image_get(g_li, &bob, s(priv, "id"), &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_null(local_image_get(g_li, &bob, s(shared, "id"), &err));
    json_t *g = local_image_get(g_li, &bob, s(comm, "id"), &err);
    assert_non_null(g);
    json_decref(g);
    g = local_image_get(g_li, &bob, s(pub, "id"), &err);
    assert_non_null(g);
    json_decref(g);
    /* ... and changes none of them. */
    assert_int_equal(local_image_delete(g_li, &bob, s(pub, "id"), &err), -1);
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    assert_int_equal(local_image_delete(g_li, &bob, s(priv, "id"), &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(local_image_tag_add(g_li, &bob, s(comm, "id"), "x", &err), -1);
    assert_int_equal(err.code, NPH_E_FORBIDDEN);

    /* Lists: Bob's default list holds only the public image; community on request. */
    local_image_filter_init(&f);
    json_t *l = local_image_list(g_li, &bob, &f, &more, &err);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(s(json_array_get(l, 0), "name"), "public");
    json_decref(l);
    f.visibility = "community";
    l = local_image_list(g_li, &bob, &f, &more, &err);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    f.visibility = "private";
    l = local_image_list(g_li, &bob, &f, &more, &err);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    f.visibility = "bogus";
    assert_null(local_image_list(g_li, &bob, &f, &more, &err));
    assert_int_equal(err.code, NPH_E_INVALID);

    /* Alice: her three and the public one; admin: all four. */
    local_image_filter_init(&f);
    l = local_image_list(g_li, &alice, &f, &more, &err);
    assert_int_equal(json_array_size(l), 4);
    json_decref(l);
    l = local_image_list(g_li, &admin, &f, &more, &err);
    assert_int_equal(json_array_size(l), 4);
    json_decref(l);
    g = local_image_get(g_li, &admin, s(priv, "id"), &err);
    assert_non_null(g);
    json_decref(g);

    json_t *all[] = {priv, shared, comm, pub};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(local_image_delete(g_li, &admin, s(all[k], "id"), &err), 0);
        json_decref(all[k]);
    }
}

/* ---- uploads ------------------------------------------------------------------------------- */

static json_t *get_admin(const char *id)
{
    struct nph_error err = NPH_ERROR_INIT;
    json_t *g = local_image_get(g_li, &admin, id, &err);
    assert_non_null(g);
    return g;
}

static void test_upload(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_image_ref ref;
    char src[512], path[4096];
    json_t *g;
    (void)state;

    /* raw: queued -> active with checksums; the source file is taken. */
    json_t *raw = create(&alice, "{s:s,s:s,s:s}", "name", "raw", "disk_format", "raw",
                         "container_format", "bare");
    const char *rid = s(raw, "id");
    assert_int_equal(local_image_locate(g_li, rid, "proj-a", 0, &ref, &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(local_image_data(g_li, &alice, rid, path, NULL, &err), 1);
    tmp_path("up1", src, sizeof(src));
    write_file(src, "abc", 3);
    g = local_image_upload(g_li, &alice, rid, src, &err);
    assert_non_null(g);
    assert_string_equal(s(g, "status"), "active");
    assert_int_equal(i(g, "size"), 3);
    assert_int_equal(i(g, "virtual_size"), 3);
    assert_string_equal(s(g, "checksum"), "900150983cd24fb0d6963f7d28e17f72");
    assert_string_equal(s(g, "os_hash_algo"), "sha256");
    assert_string_equal(s(g, "os_hash_value"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    json_decref(g);
    assert_int_equal(access(src, F_OK), -1);
    assert_int_equal(data_files(), 1);
    assert_int_equal(local_image_data(g_li, &alice, rid, path, NULL, &err), 0);
    assert_int_equal(access(path, R_OK), 0);
    /* compute's view */
    assert_int_equal(local_image_locate(g_li, rid, "proj-a", 0, &ref, &err), 0);
    assert_string_equal(ref.disk_format, "raw");
    assert_string_equal(ref.status, "active");
    assert_string_equal(ref.path, path);
    assert_int_equal(ref.size, 3);
    assert_int_equal(local_image_locate(g_li, rid, "proj-b", 0, &ref, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);

    /* Once active: no second upload, formats frozen. */
    write_file(src, "abc", 3);
    assert_null(local_image_upload(g_li, &alice, rid, src, &err));
    assert_int_equal(err.code, NPH_E_CONFLICT);
    assert_int_equal(access(src, F_OK), -1);
    json_t *ch = json_pack("{s:s}", "disk_format", "qcow2");
    assert_null(local_image_update(g_li, &alice, rid, ch, &err));
    assert_int_equal(err.code, NPH_E_FORBIDDEN);
    json_decref(ch);

    /* Declared qcow2, bytes raw: refused, back to queued, nothing kept. */
    json_t *q = create(&alice, "{s:s,s:s,s:s}", "name", "q", "disk_format", "qcow2",
                       "container_format", "bare");
    const char *qid = s(q, "id");
    write_file(src, "not a qcow2 image at all", 24);
    assert_null(local_image_upload(g_li, &alice, qid, src, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    g = get_admin(qid);
    assert_string_equal(s(g, "status"), "queued");
    assert_true(json_is_null(json_object_get(g, "checksum")));
    json_decref(g);
    assert_int_equal(access(src, F_OK), -1);
    assert_int_equal(data_files(), 1);

    /* ... then real qcow2 bytes are accepted, with the virtual size from the header. */
    write_qcow2(src, 1ULL << 30, 3);
    g = local_image_upload(g_li, &alice, qid, src, &err);
    assert_non_null(g);
    assert_string_equal(s(g, "status"), "active");
    assert_int_equal(i(g, "size"), 104);
    assert_int_equal(i(g, "virtual_size"), 1LL << 30);
    json_decref(g);
    assert_int_equal(local_image_locate(g_li, qid, "proj-b", 1, &ref, &err), 0);
    assert_string_equal(ref.disk_format, "qcow2");
    assert_int_equal(data_files(), 2);

    /* Declared raw, bytes qcow2: refused. */
    json_t *r2 = create(&alice, "{s:s,s:s,s:s}", "name", "r2", "disk_format", "raw",
                        "container_format", "bare");
    write_qcow2(src, 4096, 3);
    assert_null(local_image_upload(g_li, &alice, s(r2, "id"), src, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    g = get_admin(s(r2, "id"));
    assert_string_equal(s(g, "status"), "queued");
    json_decref(g);
    assert_int_equal(data_files(), 2);

    /* Someone else's image, an image without formats, a missing source. */
    write_file(src, "abc", 3);
    assert_null(local_image_upload(g_li, &bob, s(r2, "id"), src, &err));
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(access(src, F_OK), -1);
    json_t *nf = create(&alice, "{s:s}", "name", "noformat");
    write_file(src, "abc", 3);
    assert_null(local_image_upload(g_li, &alice, s(nf, "id"), src, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(local_image_upload(g_li, &alice, s(r2, "id"), "/nonexistent/file", &err));
    assert_int_equal(err.code, NPH_E_IO);
    g = get_admin(s(r2, "id"));
    assert_string_equal(s(g, "status"), "queued");
    json_decref(g);
    assert_int_equal(data_files(), 2);

    /* Delete removes the data. */
    assert_int_equal(local_image_delete(g_li, &alice, rid, &err), 0);
    assert_int_equal(local_image_delete(g_li, &alice, qid, &err), 0);
    assert_int_equal(data_files(), 0);
    assert_int_equal(local_image_delete(g_li, &alice, s(r2, "id"), &err), 0);
    assert_int_equal(local_image_delete(g_li, &alice, s(nf, "id"), &err), 0);
    json_decref(raw);
    json_decref(q);
    json_decref(r2);
    json_decref(nf);
}

static void test_size_limit(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char src[512], dir[4200];
    (void)state;
    snprintf(dir, sizeof(dir), "%s/small", g_dir);
    struct local_image *li = local_image_open(g_store, dir, 10, &err);
    assert_non_null(li);
    json_t *attrs = json_pack("{s:s,s:s}", "disk_format", "raw", "container_format", "bare");
    json_t *img = local_image_create(li, &alice, attrs, &err);
    json_decref(attrs);
    assert_non_null(img);
    tmp_path("big", src, sizeof(src));
    write_file(src, "0123456789abcdef", 16);
    assert_null(local_image_upload(li, &alice, s(img, "id"), src, &err));
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    json_t *g = local_image_get(li, &alice, s(img, "id"), &err);
    assert_string_equal(s(g, "status"), "queued");
    json_decref(g);
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(n, 0);
    assert_int_equal(local_image_delete(li, &alice, s(img, "id"), &err), 0);
    json_decref(img);
    local_image_close(li);
    rmdir(dir);
}

/* ---- setup --------------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char url[4200];
    (void)state;
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite://%s/store.db", g_dir);
    snprintf(g_data, sizeof(g_data), "%s/images", g_dir);
    if (nph_store_open(url, 2, &g_store, &err) || local_image_migrate(g_store, NULL, &err)) {
        fprintf(stderr, "store: %s %s\n", err.msg, err.detail);
        return -1;
    }
    g_li = local_image_open(g_store, g_data, 0, &err);
    return g_li ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[4300];
    (void)state;
    local_image_close(g_li);
    nph_store_close(g_store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),  cmocka_unit_test(test_digest),
        cmocka_unit_test(test_catalog), cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_upload),  cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
