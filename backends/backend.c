/* backend.c - the registry of cloud drivers and the helpers every driver shares (see
 * backend.h). Drivers are added to `drivers` as they are written, one table each. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

static const struct nph_backend_ops *const drivers[] = {
    &nph_backend_local_ops,
    &nph_backend_openstack_ops,
    NULL,
};

const struct nph_backend_ops *const *nph_backend_drivers(void)
{
    return drivers;
}

const struct nph_backend_ops *nph_backend_lookup(const char *kind, struct nph_error *err)
{
    for (size_t i = 0; kind && drivers[i]; i++) {
        if (strcmp(drivers[i]->kind, kind) == 0)
            return drivers[i];
    }
    nph_error_set(err, NPH_E_INVALID, "unknown cloud kind '%s'", kind ? kind : "(none)");
    return NULL;
}

struct nph_backend *nph_backend_open(const json_t *config, const struct nph_backend_host *host,
                                     struct nph_error *err)
{
    const char *name = json_string_value(json_object_get(config, "name"));
    const char *kind = json_string_value(json_object_get(config, "kind"));
    if (!name || !*name) {
        nph_error_set(err, NPH_E_INVALID, "a cloud needs a 'name'");
        return NULL;
    }
    const struct nph_backend_ops *ops = nph_backend_lookup(kind, err);
    if (!ops) {
        nph_error_prefix(err, "cloud '%s'", name);
        return NULL;
    }
    struct nph_backend *b = calloc(1, sizeof(*b));
    if (!b || !(b->name = strdup(name))) {
        free(b);
        nph_error_set(err, NPH_E_NOMEM, "out of memory");
        return NULL;
    }
    b->ops = ops;
    b->host = host;
    if (ops->open(b, config, err) != 0) {
        if (!strstr(err->msg, name)) /* drivers usually name the cloud themselves */
            nph_error_prefix(err, "cloud '%s'", name);
        free(b->name);
        free(b);
        return NULL;
    }
    return b;
}

void nph_backend_close(struct nph_backend *b)
{
    if (!b)
        return;
    if (b->ops->close)
        b->ops->close(b);
    free(b->name);
    free(b);
}

static int offers(const struct nph_backend *b, unsigned fam, const void *table, const char *what,
                  struct nph_error *err)
{
    if (table && (nph_backend_families(b) & fam))
        return 1;
    nph_error_set(err, NPH_E_NOT_SUPPORTED, "%s is not supported by cloud '%s'", what, b->name);
    return 0;
}

const struct nph_compute_ops *nph_backend_compute(const struct nph_backend *b,
                                                  struct nph_error *err)
{
    return offers(b, NPH_FAM_COMPUTE, b->ops->compute, "compute", err) ? b->ops->compute : NULL;
}

const struct nph_image_ops *nph_backend_image(const struct nph_backend *b, struct nph_error *err)
{
    return offers(b, NPH_FAM_IMAGE, b->ops->image, "image", err) ? b->ops->image : NULL;
}

const struct nph_usage_ops *nph_backend_usage(const struct nph_backend *b, struct nph_error *err)
{
    return offers(b, NPH_FAM_USAGE, b->ops->usage, "usage reporting", err) ? b->ops->usage : NULL;
}

const struct nph_volume_ops *nph_backend_volume(const struct nph_backend *b, struct nph_error *err)
{
    return offers(b, NPH_FAM_VOLUME, b->ops->volume, "block storage", err) ? b->ops->volume : NULL;
}

const struct nph_object_ops *nph_backend_object(const struct nph_backend *b, struct nph_error *err)
{
    return offers(b, NPH_FAM_OBJECT, b->ops->object, "object storage", err) ? b->ops->object : NULL;
}

void nph_volume_list_fini(struct nph_volume_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int nph_volume_list_push(struct nph_volume_list *l, const struct nph_volume *v)
{
    struct nph_volume *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    nv[l->n++] = *v;
    l->v = nv;
    return 0;
}

void nph_object_list_fini(struct nph_object_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->truncated = 0;
}

int nph_object_list_push(struct nph_object_list *l, const struct nph_object_info *o)
{
    struct nph_object_info *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    nv[l->n++] = *o;
    l->v = nv;
    return 0;
}

void nph_bucket_list_fini(struct nph_bucket_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->truncated = 0;
}

int nph_bucket_list_push(struct nph_bucket_list *l, const struct nph_bucket *b)
{
    struct nph_bucket *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    nv[l->n++] = *b;
    l->v = nv;
    return 0;
}

void nph_usage_report_fini(struct nph_usage_report *r)
{
    if (!r)
        return;
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

int nph_usage_report_push(struct nph_usage_report *r, const struct nph_usage_server *s)
{
    struct nph_usage_server *v = realloc(r->v, (r->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    v[r->n++] = *s;
    r->v = v;
    return 0;
}

const char *nph_server_action_name(enum nph_server_action a)
{
    static const char *const names[] = {
        [NPH_SA_START] = "start",
        [NPH_SA_STOP] = "stop",
        [NPH_SA_REBOOT_SOFT] = "reboot-soft",
        [NPH_SA_REBOOT_HARD] = "reboot-hard",
        [NPH_SA_RESIZE] = "resize",
        [NPH_SA_CONFIRM_RESIZE] = "confirm-resize",
        [NPH_SA_REVERT_RESIZE] = "revert-resize",
    };
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unknown";
}

void nph_backend_strlcpy(char *dst, size_t size, const char *src)
{
    if (!size)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size) {
        n = size - 1;
        /* back off to the start of a UTF-8 sequence so the copy stays valid */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void nph_server_fini(struct nph_server *s)
{
    if (s) {
        json_decref(s->addresses);
        s->addresses = NULL;
    }
}

/* Make room for element n + 1 of a vector whose capacity is implicit: 8, then doubling, so
 * it grows when n is 0 or a power of two from 8 on. */
static int reserve(void **v, size_t n, size_t elem)
{
    if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
        return 0;
    size_t cap = n ? n * 2 : 8;
    void *nv = realloc(*v, cap * elem);
    if (!nv)
        return -1;
    *v = nv;
    return 0;
}

int nph_server_list_push(struct nph_server_list *l, struct nph_server *s)
{
    if (reserve((void **)&l->v, l->n, sizeof(*l->v)) != 0)
        return -1;
    l->v[l->n++] = *s;
    s->addresses = NULL;
    return 0;
}

int nph_offering_list_push(struct nph_offering_list *l, const struct nph_offering *o)
{
    if (reserve((void **)&l->v, l->n, sizeof(*l->v)) != 0)
        return -1;
    l->v[l->n++] = *o;
    return 0;
}

int nph_image_list_push(struct nph_image_list *l, const struct nph_image *i)
{
    if (reserve((void **)&l->v, l->n, sizeof(*l->v)) != 0)
        return -1;
    l->v[l->n++] = *i;
    return 0;
}

void nph_server_list_fini(struct nph_server_list *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        nph_server_fini(&l->v[i]);
    if (l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}

void nph_offering_list_fini(struct nph_offering_list *l)
{
    if (l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}

void nph_image_list_fini(struct nph_image_list *l)
{
    if (l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}
