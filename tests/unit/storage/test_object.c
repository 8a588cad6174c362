/*
 * test_object.c - object storage: listing parameters and folding (prefix, delimiter, marker,
 * end_marker, limit, reverse), Range parsing, name checks, SLO manifest parsing, header casing;
 * and the store itself on SQLite in a temporary directory: put/get/verify, overwrite, copy,
 * expiry, quotas, container delete conflicts, corruption detection, the crash sweep and the
 * bucket's ledger events; concurrent PUTs through the group committer (every object and the
 * container's counters exact, a quota failing some requests of a batch and not the others).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local_object.h"
#include "nph_crc32c.h"
#include "nph_clock.h"
#include "nph_ledger.h"

/* ---- listings ------------------------------------------------------------------------------ */

static const char *const names[] = {"a", "dir1/a", "dir1/b", "dir1/sub/c", "dir2/c", "top", NULL};

/* Fold names (forward or reversed) and return the listing as "x y z/ ..." in out. */
static void fold(const struct lobj_list_params *p, char *out, size_t cap)
{
    struct lobj_lister l;
    char sub[LOBJ_OBJECT_NAME_MAX + 2];
    size_t n = 0;
    while (names[n])
        n++;
    out[0] = '\0';
    lobj_lister_init(&l, p);
    for (size_t i = 0; i < n; i++) {
        const char *name = p->reverse ? names[n - 1 - i] : names[i];
        enum lobj_feed f = lobj_lister_feed(&l, name, sub, sizeof(sub));
        if (f == LOBJ_FEED_DONE)
            break;
        if (f == LOBJ_FEED_SKIP)
            continue;
        if (out[0])
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, f == LOBJ_FEED_SUBDIR ? sub : name, cap - strlen(out) - 1);
    }
}

static void parse_ok(struct lobj_list_params *p, const char *prefix, const char *delim,
                     const char *marker, const char *end, const char *limit, const char *rev)
{
    static char pathbuf[64];
    struct nph_error err = NPH_ERROR_INIT;
    assert_int_equal(lobj_list_params_parse(p, prefix, delim, marker, end, limit, rev, NULL,
                                            pathbuf, sizeof(pathbuf), &err),
                     0);
}

static void test_listing(void **state)
{
    struct lobj_list_params p;
    char out[256];
    (void)state;
    parse_ok(&p, NULL, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(p.limit, LOBJ_LISTING_LIMIT);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "a dir1/a dir1/b dir1/sub/c dir2/c top");

    parse_ok(&p, "dir1/", NULL, NULL, NULL, NULL, NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "dir1/a dir1/b dir1/sub/c");

    parse_ok(&p, NULL, "/", NULL, NULL, NULL, NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "a dir1/ dir2/ top");

    parse_ok(&p, "dir1/", "/", NULL, NULL, NULL, NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "dir1/a dir1/b dir1/sub/");

    /* paging by the last entry: a subdir as the marker is not listed again */
    parse_ok(&p, NULL, "/", "dir1/", NULL, NULL, NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "dir2/ top");

    parse_ok(&p, NULL, NULL, "dir1/a", "dir2/c", NULL, NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "dir1/b dir1/sub/c");

    parse_ok(&p, NULL, NULL, NULL, NULL, "2", NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "a dir1/a");

    parse_ok(&p, NULL, NULL, NULL, NULL, "2", "true");
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "top dir2/c");

    parse_ok(&p, NULL, NULL, "dir2/c", "dir1/a", NULL, "on");
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "dir1/sub/c dir1/b");

    parse_ok(&p, NULL, NULL, NULL, NULL, "0", NULL);
    fold(&p, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_listing_params_bad(void **state)
{
    struct lobj_list_params p;
    struct nph_error err = NPH_ERROR_INIT;
    char pathbuf[64];
    (void)state;
    assert_int_equal(lobj_list_params_parse(&p, NULL, NULL, NULL, NULL, "-1", NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(lobj_list_params_parse(&p, NULL, NULL, NULL, NULL, "10001", NULL, NULL,
                                            pathbuf, sizeof(pathbuf), &err),
                     -1);
    assert_int_equal(lobj_list_params_parse(&p, NULL, NULL, NULL, NULL, "5x", NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     -1);
    assert_int_equal(lobj_list_params_parse(&p, NULL, "//", NULL, NULL, NULL, NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     -1);
    /* path=dir1 is prefix dir1/ with delimiter / */
    assert_int_equal(lobj_list_params_parse(&p, NULL, NULL, NULL, NULL, NULL, NULL, "dir1", pathbuf,
                                            sizeof(pathbuf), &err),
                     0);
    assert_string_equal(p.prefix, "dir1/");
    assert_string_equal(p.delimiter, "/");
}

/* ---- ranges, names, manifests ------------------------------------------------------------- */

static void test_range(void **state)
{
    int64_t a = -1, b = -1;
    (void)state;
    assert_int_equal(lobj_range_parse("bytes=2-5", 10, &a, &b), 1);
    assert_int_equal(a, 2);
    assert_int_equal(b, 5);
    assert_int_equal(lobj_range_parse("bytes=7-", 10, &a, &b), 1);
    assert_int_equal(a, 7);
    assert_int_equal(b, 9);
    assert_int_equal(lobj_range_parse("bytes=-3", 10, &a, &b), 1);
    assert_int_equal(a, 7);
    assert_int_equal(b, 9);
    assert_int_equal(lobj_range_parse("bytes=-30", 10, &a, &b), 1);
    assert_int_equal(a, 0);
    assert_int_equal(lobj_range_parse("bytes=5-100", 10, &a, &b), 1);
    assert_int_equal(b, 9);
    assert_int_equal(lobj_range_parse("bytes=10-", 10, &a, &b), 0);
    assert_int_equal(lobj_range_parse("bytes=-0", 10, &a, &b), 0);
    assert_int_equal(lobj_range_parse("bytes=0-0", 0, &a, &b), 0);
    assert_int_equal(lobj_range_parse("bytes=5-2", 10, &a, &b), -1);
    assert_int_equal(lobj_range_parse("bytes=1-2,4-5", 10, &a, &b), -1);
    assert_int_equal(lobj_range_parse("items=1-2", 10, &a, &b), -1);
    assert_int_equal(lobj_range_parse("bytes=x-2", 10, &a, &b), -1);
    assert_int_equal(lobj_range_parse("bytes=-", 10, &a, &b), -1);
    assert_int_equal(lobj_range_parse(NULL, 10, &a, &b), -1);
}

static void test_names(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    char longname[LOBJ_OBJECT_NAME_MAX + 2];
    (void)state;
    assert_int_equal(lobj_object_name_check("a/b/c.txt", &err), 0);
    assert_int_equal(lobj_object_name_check("dir/", &err), 0);
    assert_int_equal(lobj_object_name_check("a..b", &err), 0);
    assert_int_equal(lobj_object_name_check("../x", &err), -1);
    assert_int_equal(lobj_object_name_check("a/../x", &err), -1);
    assert_int_equal(lobj_object_name_check("a/./x", &err), -1);
    assert_int_equal(lobj_object_name_check("a/..", &err), -1);
    assert_int_equal(lobj_object_name_check("", &err), -1);
    assert_int_equal(lobj_object_name_check("\xff\xfe", &err), -1);
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(lobj_object_name_check(longname, &err), -1);
    longname[LOBJ_OBJECT_NAME_MAX] = '\0';
    assert_int_equal(lobj_object_name_check(longname, &err), 0);
    assert_int_equal(lobj_container_name_check("photos", &err), 0);
    assert_int_equal(lobj_container_name_check("a/b", &err), -1);
    assert_int_equal(lobj_container_name_check("..", &err), -1);
    assert_int_equal(lobj_container_name_check("", &err), -1);
}

static void test_slo_parse(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    const char *ok = "[{\"path\":\"/segs/one\",\"etag\":\"0123456789abcdef0123456789abcdef\","
                     "\"size_bytes\":5},{\"path\":\"segs/two/deep\",\"etag\":null}]";
    json_t *m;
    (void)state;
    m = lobj_slo_parse(ok, strlen(ok), &err);
    assert_non_null(m);
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "container")),
                        "segs");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "name")),
                        "two/deep");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "size_bytes")), 5);
    assert_true(json_is_null(json_object_get(json_array_get(m, 1), "etag")));
    json_decref(m);

    static const char *const bad[] = {
        "",
        "{}",
        "[]",
        "not json",
        "[{\"path\":\"/onlycontainer\"}]",
        "[{\"path\":\"/c/o\",\"etag\":\"xyz\"}]",
        "[{\"path\":\"/c/o\",\"size_bytes\":-1}]",
        "[{\"path\":5}]",
        "[{\"path\":\"/c/\"}]",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        m = lobj_slo_parse(bad[i], strlen(bad[i]), &err);
        assert_null(m);
        assert_int_equal(err.code, NPH_E_INVALID);
    }
}

static void test_header_title(void **state)
{
    char out[64];
    (void)state;
    lobj_header_title("x-object-meta-color", out, sizeof(out));
    assert_string_equal(out, "X-Object-Meta-Color");
    lobj_header_title("x-container-meta-quota-bytes", out, sizeof(out));
    assert_string_equal(out, "X-Container-Meta-Quota-Bytes");
    lobj_header_title("x-object-meta-a", out, 6);
    assert_string_equal(out, "X-Obj");
}

/* ---- the store ------------------------------------------------------------------------------ */

struct fx {
    char dir[256];
    char objdir[300];
    struct nph_store *store;
    struct local_object *lo;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nph_error err = NPH_ERROR_INIT;
    struct local_object_opts o = {0};
    char url[400];
    int n = 0;
    snprintf(f->dir, sizeof(f->dir), "/tmp/nph-objtest.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(url, sizeof(url), "sqlite://%s/db.sqlite", f->dir);
    assert_int_equal(nph_store_open(url, 2, &f->store, &err), 0);
    assert_int_equal(nph_ledger_migrate(f->store, &n, &err), 0);
    assert_int_equal(local_object_migrate(f->store, &n, &err), 0);
    snprintf(f->objdir, sizeof(f->objdir), "%s/objects", f->dir);
    o.dir = f->objdir;
    o.cloud = "native";
    f->lo = local_object_open(f->store, &o, &err);
    assert_non_null(f->lo);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[400];
    nph_clock_set_offset(0);
    local_object_close(f->lo);
    nph_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Write text to a new temporary file under the fixture; returns its path (static buffer). */
static const char *tmpfile_with(struct fx *f, const char *text, char md5[33])
{
    static char path[400];
    struct nph_error err = NPH_ERROR_INIT;
    FILE *fp;
    snprintf(path, sizeof(path), "%s/upload-XXXXXX", f->dir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(lobj_file_md5(path, 0, -1, md5, &err), 0);
    return path;
}

static int put_text(struct fx *f, const char *cont, const char *name, const char *text,
                    int64_t delete_at, json_t **out, struct nph_error *err)
{
    char md5[33];
    struct lobj_put p;
    memset(&p, 0, sizeof(p));
    p.account = "AUTH_p1";
    p.container = cont;
    p.name = name;
    p.src_path = tmpfile_with(f, text, md5);
    p.size = (int64_t)strlen(text);
    p.quota_size = p.size;
    p.md5 = md5;
    p.delete_at = delete_at;
    return local_object_put(f->lo, &p, out, err);
}

static int count_files(const char *dir)
{
    char cmd[400];
    int n = -1;
    FILE *p;
    snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void test_store_objects(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *o = NULL, *c, *list, *changes = json_pack("{s:s}", "x-container-meta-a", "1");
    int created = -1;
    struct lobj_list_params p;
    char pathbuf[8];

    /* no container yet */
    assert_int_equal(put_text(f, "box", "x", "data", 0, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(count_files(f->objdir), 0);

    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "box", changes, &created, &err),
                     0);
    assert_int_equal(created, 1);
    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "box", changes, &created, &err),
                     0);
    assert_int_equal(created, 0);
    json_decref(changes);

    assert_int_equal(put_text(f, "box", "x", "hello", 0, &o, &err), 0);
    assert_string_equal(json_string_value(json_object_get(o, "etag")),
                        "5d41402abc4b2a76b9719d911017c592");
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 5);
    assert_int_equal(local_object_verify(o, &err), 0);
    json_decref(o);

    /* an overwrite leaves one file */
    assert_int_equal(put_text(f, "box", "x", "hello again", 0, NULL, &err), 0);
    assert_int_equal(count_files(f->objdir), 1);
    c = local_object_container_get(f->lo, "AUTH_p1", "box", &err);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), 11);
    json_decref(c);

    /* copy is a link of the same bytes */
    assert_int_equal(local_object_copy(f->lo, "AUTH_p1", "box", "x", "AUTH_p1", "box", "y", NULL,
                                       NULL, 0, 0, &o, &err),
                     0);
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 11);
    json_decref(o);
    assert_int_equal(local_object_delete(f->lo, "AUTH_p1", "box", "x", &err), 0);
    o = local_object_get(f->lo, "AUTH_p1", "box", "y", &err);
    assert_non_null(o);
    assert_int_equal(local_object_verify(o, &err), 0);

    /* the record carries the CRC-32C reads verify (the copy kept the source's) */
    assert_true(json_is_integer(json_object_get(o, "crc32c")));
    assert_int_equal(json_integer_value(json_object_get(o, "crc32c")),
                     nph_crc32c(0, "hello again", 11));

    /* a corrupted byte is detected: by the CRC, and by the MD5 for a record without one (an
     * object stored before CRCs were recorded) */
    FILE *fp = fopen(json_string_value(json_object_get(o, "path")), "r+");
    assert_non_null(fp);
    fputc('H', fp);
    fclose(fp);
    assert_int_equal(local_object_verify(o, &err), -1);
    assert_int_equal(err.code, NPH_E_IO);
    assert_non_null(strstr(err.detail, "crc32c"));
    nph_error_clear(&err);
    json_object_set_new(o, "crc32c", json_null());
    assert_int_equal(local_object_verify(o, &err), -1);
    assert_int_equal(err.code, NPH_E_IO);
    assert_non_null(strstr(err.detail, "md5"));
    nph_error_clear(&err);
    fp = fopen(json_string_value(json_object_get(o, "path")), "r+");
    assert_non_null(fp);
    fputc('h', fp);
    fclose(fp);
    assert_int_equal(local_object_verify(o, &err), 0);
    json_decref(o);

    /* non-empty container: conflict */
    assert_int_equal(local_object_container_delete(f->lo, "AUTH_p1", "box", &err), -1);
    assert_int_equal(err.code, NPH_E_CONFLICT);

    /* listing through the store */
    assert_int_equal(put_text(f, "box", "d/1", "1", 0, NULL, &err), 0);
    assert_int_equal(put_text(f, "box", "d/2", "2", 0, NULL, &err), 0);
    assert_int_equal(lobj_list_params_parse(&p, NULL, "/", NULL, NULL, NULL, NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     0);
    list = local_object_object_list(f->lo, "AUTH_p1", "box", &p, &err);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "subdir")),
                        "d/");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")), "y");
    json_decref(list);

    /* bad names store nothing */
    assert_int_equal(put_text(f, "box", "../etc", "x", 0, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_int_equal(count_files(f->objdir), 3);
}

static void test_store_expiry_quota(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *changes = json_pack("{s:s}", "x-container-meta-quota-bytes", "10");
    int created;
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
    json_t *o;

    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "q", changes, &created, &err), 0);
    json_decref(changes);
    assert_int_equal(put_text(f, "q", "a", "12345678", 0, NULL, &err), 0);
    assert_int_equal(put_text(f, "q", "b", "123", 0, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    /* replacing counts the new size instead of the old */
    assert_int_equal(put_text(f, "q", "a", "1234567890", 0, NULL, &err), 0);
    /* ... and credits the old one once: 15 bytes in place of 10 do not fit in 10, and the
     * 10 stay */
    assert_int_equal(put_text(f, "q", "a", "123456789012345", 0, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    o = local_object_get(f->lo, "AUTH_p1", "q", "a", &err);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 10);
    json_decref(o);

    assert_int_equal(put_text(f, "q", "a", "short", now + 5, NULL, &err), 0);
    o = local_object_get(f->lo, "AUTH_p1", "q", "a", &err);
    assert_non_null(o);
    json_decref(o);
    nph_clock_set_offset(10 * NPH_USEC_PER_SEC);
    o = local_object_get(f->lo, "AUTH_p1", "q", "a", &err);
    assert_null(o);
    assert_int_equal(err.code, NPH_E_NOT_FOUND);
    assert_int_equal(count_files(f->objdir), 0); /* reaped, file and all */
    assert_int_equal(local_object_container_delete(f->lo, "AUTH_p1", "q", &err), 0);
    nph_clock_set_offset(0);

    /* account quota */
    changes = json_pack("{s:s}", "x-account-meta-quota-bytes", "4");
    assert_int_equal(local_object_account_update(f->lo, "AUTH_p1", changes, &err), 0);
    json_decref(changes);
    changes = json_object();
    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "r", changes, &created, &err), 0);
    json_decref(changes);
    assert_int_equal(put_text(f, "r", "a", "12345", 0, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_TOO_LARGE);
    assert_int_equal(put_text(f, "r", "a", "1234", 0, NULL, &err), 0);
}

static int count_events(struct fx *f, const char *kind)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_db *db = nph_store_acquire(f->store, &err);
    struct nph_stmt *st = nph_db_prepare(
        db, "SELECT COUNT(*) FROM ledger_event WHERE resource_type = 'bucket' AND event = ?", &err);
    int n;
    assert_non_null(st);
    assert_int_equal(nph_stmt_bind_text(st, 1, kind, &err), 0);
    assert_int_equal(nph_stmt_step(st, &err), 1);
    n = (int)nph_stmt_col_int64(st, 0);
    nph_stmt_done(st);
    nph_store_release(db);
    return n;
}

static void test_store_ledger_and_sweep(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct local_object_opts o = {0};
    json_t *changes = json_object();
    char stray[600];
    int created;
    FILE *fp;

    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "b", changes, &created, &err), 0);
    json_decref(changes);
    assert_int_equal(count_events(f, "created"), 1);
    assert_int_equal(local_object_container_delete(f->lo, "AUTH_p1", "b", &err), 0);
    assert_int_equal(count_events(f, "deleted"), 1);

    /* a data file no row names (a crash between rename and commit) is swept at open; other
     * files are left alone */
    snprintf(stray, sizeof(stray), "%s/ab", f->objdir);
    mkdir(stray, 0700);
    snprintf(stray, sizeof(stray), "%s/ab/ab0123456789abcdef0123456789abcd", f->objdir);
    fp = fopen(stray, "w");
    fputs("half", fp);
    fclose(fp);
    snprintf(stray, sizeof(stray), "%s/keep.txt", f->dir);
    fp = fopen(stray, "w");
    fputs("mine", fp);
    fclose(fp);
    local_object_close(f->lo);
    o.dir = f->objdir;
    f->lo = local_object_open(f->store, &o, &err);
    assert_non_null(f->lo);
    assert_int_equal(count_files(f->objdir), 0);
    assert_int_equal(access(stray, F_OK), 0);
}

/* ---- concurrent PUTs (group commit) -----------------------------------------------------------
 */

#define CC_THREADS 8
#define CC_PUTS    40 /* per thread; names "n<i>" are shared by all threads, "t<k>-<i>" not */

struct cc_arg {
    struct fx *f;
    const char *container;
    int id;
    int ok, too_large, other;
    char stored[CC_PUTS]; /* put i succeeded */
};

/* The body of thread id's put i: its length varies so that the byte counters are tested. */
static void cc_body(int id, int i, char *buf, size_t cap)
{
    int len = 1 + (id * 37 + i * 11) % 200;
    snprintf(buf, cap, "%d-%d:", id, i);
    size_t n = strlen(buf);
    for (; (int)n < len && n + 1 < cap; n++)
        buf[n] = (char)('a' + (id + i + (int)n) % 26);
    buf[n] = '\0';
}

static void *cc_main(void *p)
{
    struct cc_arg *a = p;
    for (int i = 0; i < CC_PUTS; i++) {
        struct nph_error err = NPH_ERROR_INIT;
        char body[256], name[64], path[400], md5[33];
        struct lobj_put put;
        json_t *out = NULL;
        FILE *fp;
        int fd;
        cc_body(a->id, i, body, sizeof(body));
        /* every fourth put overwrites a name shared by all threads */
        if (i % 4 == 0)
            snprintf(name, sizeof(name), "n%d", i);
        else
            snprintf(name, sizeof(name), "t%d-%d", a->id, i);
        snprintf(path, sizeof(path), "%s/upload-XXXXXX", a->f->dir);
        fd = mkstemp(path);
        if (fd < 0 || !(fp = fdopen(fd, "w"))) {
            a->other++;
            continue;
        }
        fputs(body, fp);
        fclose(fp);
        if (lobj_file_md5(path, 0, -1, md5, &err)) {
            a->other++;
            continue;
        }
        memset(&put, 0, sizeof(put));
        put.account = "AUTH_p1";
        put.container = a->container;
        put.name = name;
        put.src_path = path;
        put.size = (int64_t)strlen(body);
        put.quota_size = put.size;
        put.md5 = md5;
        if (local_object_put(a->f->lo, &put, &out, &err) == 0) {
            const char *etag = json_string_value(json_object_get(out, "etag"));
            if (etag && strcmp(etag, md5) == 0) {
                a->ok++;
                a->stored[i] = 1;
            } else
                a->other++;
        } else if (err.code == NPH_E_TOO_LARGE) {
            a->too_large++;
        } else {
            a->other++;
        }
        json_decref(out);
    }
    return NULL;
}

static void cc_run(struct fx *f, const char *container, struct cc_arg *args)
{
    pthread_t th[CC_THREADS];
    for (int t = 0; t < CC_THREADS; t++) {
        memset(&args[t], 0, sizeof(args[t]));
        args[t].f = f;
        args[t].container = container;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, cc_main, &args[t]), 0);
    }
    for (int t = 0; t < CC_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
}

static void test_store_concurrent_puts(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    struct cc_arg args[CC_THREADS];
    json_t *changes = json_object(), *c, *list, *e;
    struct lobj_list_params lp;
    char pathbuf[8];
    int created, ok = 0, too_large = 0;
    int64_t want_bytes = 0, listed_bytes = 0;
    size_t i;

    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "cc", changes, &created, &err),
                     0);
    json_decref(changes);
    cc_run(f, "cc", args);
    for (int t = 0; t < CC_THREADS; t++) {
        assert_int_equal(args[t].other, 0);
        assert_int_equal(args[t].too_large, 0);
        ok += args[t].ok;
    }
    assert_int_equal(ok, CC_THREADS * CC_PUTS);

    /* every object is there with the bytes of one of its writers, verified */
    assert_int_equal(lobj_list_params_parse(&lp, NULL, NULL, NULL, NULL, NULL, NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     0);
    list = local_object_object_list(f->lo, "AUTH_p1", "cc", &lp, &err);
    assert_non_null(list);
    /* names: the shared ones once, each thread's own ones once */
    assert_int_equal(json_array_size(list), CC_PUTS / 4 + CC_THREADS * (CC_PUTS - CC_PUTS / 4));
    json_array_foreach(list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *o = local_object_get(f->lo, "AUTH_p1", "cc", name, &err);
        char body[256];
        int id, n;
        assert_non_null(o);
        assert_int_equal(local_object_verify(o, &err), 0);
        if (name[0] == 't') {
            assert_int_equal(sscanf(name, "t%d-%d", &id, &n), 2);
            cc_body(id, n, body, sizeof(body));
            assert_int_equal(json_integer_value(json_object_get(o, "size")), (int)strlen(body));
        }
        want_bytes += json_integer_value(json_object_get(o, "size"));
        listed_bytes += json_integer_value(json_object_get(e, "bytes"));
        json_decref(o);
    }
    assert_int_equal(listed_bytes, want_bytes);
    c = local_object_container_get(f->lo, "AUTH_p1", "cc", &err);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), json_array_size(list));
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), want_bytes);
    json_decref(c);
    /* overwritten versions left no files behind */
    assert_int_equal(count_files(f->objdir), (int)json_array_size(list));
    json_decref(list);

    /* a bytes quota below what the threads put: some requests fail, alone (their batch's
     * neighbours commit; a failed overwrite leaves the previous version), and the counters
     * agree with the rows */
    changes = json_pack("{s:s}", "x-container-meta-quota-bytes", "8000");
    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "cq", changes, &created, &err),
                     0);
    json_decref(changes);
    cc_run(f, "cq", args);
    ok = 0;
    for (int t = 0; t < CC_THREADS; t++) {
        assert_int_equal(args[t].other, 0);
        ok += args[t].ok;
        too_large += args[t].too_large;
        for (int k = 0; k < CC_PUTS; k++) {
            char name[64];
            json_t *o;
            if (!args[t].stored[k])
                continue;
            if (k % 4 == 0)
                snprintf(name, sizeof(name), "n%d", k);
            else
                snprintf(name, sizeof(name), "t%d-%d", t, k);
            o = local_object_get(f->lo, "AUTH_p1", "cq", name, &err);
            assert_non_null(o);
            assert_int_equal(local_object_verify(o, &err), 0);
            json_decref(o);
        }
    }
    assert_int_equal(ok + too_large, CC_THREADS * CC_PUTS);
    assert_true(ok > 0);
    assert_true(too_large > 0);
    list = local_object_object_list(f->lo, "AUTH_p1", "cq", &lp, &err);
    assert_non_null(list);
    listed_bytes = 0;
    json_array_foreach(list, i, e) listed_bytes += json_integer_value(json_object_get(e, "bytes"));
    c = local_object_container_get(f->lo, "AUTH_p1", "cq", &err);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), json_array_size(list));
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), listed_bytes);
    assert_true(listed_bytes <= 8000);
    json_decref(c);
    json_decref(list);
}

/* Counters with expiry: an expired object not yet reaped is left out of the usage, and reaping
 * or deleting keeps the counters exact. */
static void test_store_counters_expiry(void **state)
{
    struct fx *f = *state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *changes = json_object(), *c, *a, *list;
    struct lobj_list_params lp;
    char pathbuf[8];
    int created;
    int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;

    assert_int_equal(local_object_container_put(f->lo, "AUTH_p1", "e", changes, &created, &err), 0);
    json_decref(changes);
    assert_int_equal(put_text(f, "e", "keep", "12345", 0, NULL, &err), 0);
    assert_int_equal(put_text(f, "e", "soon", "123", now + 5, NULL, &err), 0);
    c = local_object_container_get(f->lo, "AUTH_p1", "e", &err);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), 8);
    json_decref(c);
    nph_clock_set_offset(10 * NPH_USEC_PER_SEC);
    c = local_object_container_get(f->lo, "AUTH_p1", "e", &err);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), 5);
    json_decref(c);
    a = local_object_account_get(f->lo, "AUTH_p1", &err);
    assert_int_equal(json_integer_value(json_object_get(a, "objects")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "bytes")), 5);
    json_decref(a);
    assert_int_equal(lobj_list_params_parse(&lp, NULL, NULL, NULL, NULL, NULL, NULL, NULL, pathbuf,
                                            sizeof(pathbuf), &err),
                     0);
    list = local_object_container_list(f->lo, "AUTH_p1", &lp, &err);
    assert_non_null(list);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "bytes")), 5);
    json_decref(list);
    /* reaped: the same usage; an overwrite of the expired name counts once */
    assert_int_equal(local_object_reap(f->lo, &err), 1);
    assert_int_equal(put_text(f, "e", "keep", "1234567", 0, NULL, &err), 0);
    assert_int_equal(put_text(f, "e", "soon", "1", 0, NULL, &err), 0);
    assert_int_equal(local_object_delete(f->lo, "AUTH_p1", "e", "soon", &err), 0);
    c = local_object_container_get(f->lo, "AUTH_p1", "e", &err);
    assert_int_equal(json_integer_value(json_object_get(c, "objects")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "bytes")), 7);
    json_decref(c);
    assert_int_equal(local_object_delete(f->lo, "AUTH_p1", "e", "keep", &err), 0);
    assert_int_equal(local_object_container_delete(f->lo, "AUTH_p1", "e", &err), 0);
    nph_clock_set_offset(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_listing_params_bad),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_slo_parse),
        cmocka_unit_test(test_header_title),
        cmocka_unit_test_setup_teardown(test_store_objects, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_expiry_quota, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_ledger_and_sweep, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_concurrent_puts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_counters_expiry, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
