/*
 * image_data.c - image bytes on disk: format detection (qcow2 by its header, raw otherwise),
 * md5 + sha256 digests computed in one streamed pass, and moving an uploaded file into the
 * data directory (rename, or a streamed copy across filesystems). Nothing here holds an image
 * in memory: files are read and written in 64 KiB pieces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "image_internal.h"
#include "nph_crypto.h"

#define IO_CHUNK (64 * 1024)

/* qcow2 header (big-endian): magic(4) version(4) backing_file_offset(8) backing_file_size(4)
 * cluster_bits(4) size(8) crypt_method(4) ... ; version 3 headers are at least 104 bytes, but
 * the fields above (the first 40 bytes) are all detection needs. */
#define QCOW2_MAGIC      "QFI\xfb"
#define QCOW2_HEADER_MIN 72

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int io_error(struct nph_error *err, const char *what, const char *path)
{
    int e = errno;
    nph_error_set(err, NPH_E_IO, "cannot %s the image data", what);
    return nph_error_detail(err, "'%s': %s", path, strerror(e ? e : EIO));
}

int local_image_detect(const char *path, enum local_image_format *fmt, int64_t *virtual_size,
                       struct nph_error *err)
{
    unsigned char h[QCOW2_HEADER_MIN];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, "open", path);
    ssize_t n = read_full(fd, h, sizeof(h));
    if (n < 0 || fstat(fd, &sb) != 0) {
        io_error(err, "read", path);
        close(fd);
        return -1;
    }
    close(fd);
    if (n >= 4 && memcmp(h, QCOW2_MAGIC, 4) == 0) {
        uint32_t version = n >= 8 ? be32(h + 4) : 0;
        uint32_t cluster_bits = n >= 24 ? be32(h + 20) : 0;
        if (n < QCOW2_HEADER_MIN || (version != 2 && version != 3) || cluster_bits < 9 ||
            cluster_bits > 21) {
            nph_error_set(err, NPH_E_INVALID,
                          "the image data has a qcow2 magic but no valid "
                          "qcow2 header");
            return nph_error_detail(err, "version %u, cluster_bits %u, %zd header bytes", version,
                                    cluster_bits, n);
        }
        uint64_t vs = be64(h + 24);
        *fmt = LOCAL_IMAGE_FMT_QCOW2;
        *virtual_size = vs > INT64_MAX ? INT64_MAX : (int64_t)vs;
        return 0;
    }
    *fmt = LOCAL_IMAGE_FMT_RAW;
    *virtual_size = (int64_t)sb.st_size;
    return 0;
}

int local_image_digest(const char *path, char md5[33], char sha256[65], int64_t *size,
                       struct nph_error *err)
{
    int rc = -1;
    int64_t total = 0;
    unsigned char dm[EVP_MAX_MD_SIZE], ds[EVP_MAX_MD_SIZE];
    unsigned int lm = 0, ls = 0;
    unsigned char *buf = malloc(IO_CHUNK);
    EVP_MD_CTX *cm = EVP_MD_CTX_new(), *cs = EVP_MD_CTX_new();
    int fd = -1;
    if (!buf || !cm || !cs) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (!EVP_DigestInit_ex(cm, EVP_md5(), NULL) || !EVP_DigestInit_ex(cs, EVP_sha256(), NULL)) {
        nph_error_set(err, NPH_E_INTERNAL, "the digests are not available");
        goto cleanup;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        io_error(err, "open", path);
        goto cleanup;
    }
    for (;;) {
        ssize_t n = read(fd, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            io_error(err, "read", path);
            goto cleanup;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(cm, buf, (size_t)n);
        EVP_DigestUpdate(cs, buf, (size_t)n);
        total += n;
    }
    if (!EVP_DigestFinal_ex(cm, dm, &lm) || !EVP_DigestFinal_ex(cs, ds, &ls) || lm != 16 ||
        ls != 32) {
        nph_error_set(err, NPH_E_INTERNAL, "computing the digests failed");
        goto cleanup;
    }
    nph_hex_encode(dm, lm, md5);
    nph_hex_encode(ds, ls, sha256);
    *size = total;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(cm);
    EVP_MD_CTX_free(cs);
    free(buf);
    return rc;
}

/* Copy src to dst (created exclusively, 0600), fsync'd. dst is removed on failure. */
static int copy_file(const char *src, const char *dst, struct nph_error *err)
{
    int rc = -1;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = -1;
    char *buf = malloc(IO_CHUNK);
    if (!buf) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (in < 0) {
        io_error(err, "open", src);
        goto cleanup;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        io_error(err, "create", dst);
        goto cleanup;
    }
    for (;;) {
        ssize_t n = read(in, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            io_error(err, "read", src);
            goto cleanup;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                io_error(err, "write", dst);
                goto cleanup;
            }
            off += w;
        }
    }
    if (fsync(out) != 0) {
        io_error(err, "write", dst);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = io_error(err, "write", dst);
    if (rc != 0 && out >= 0)
        unlink(dst);
    free(buf);
    return rc;
}

int image_move_file(const char *src, const char *dst, struct nph_error *err)
{
    int rc;
    if (rename(src, dst) == 0)
        return 0;
    if (errno != EXDEV) {
        rc = io_error(err, "move", src);
        unlink(src);
        return rc;
    }
    rc = copy_file(src, dst, err);
    unlink(src);
    return rc;
}
