/*
 * openstack_driver.c - the `openstack` cloud kind: any OpenStack cloud reached over its public
 * APIs (Keystone v3, Nova v2.1, Glance v2, Cinder v3, Swift) with libcurl. This file holds the
 * driver table, open/close and the health probe; see openstack_internal.h for the other files.
 *
 * open() validates the configuration and creates the HTTP client but sends nothing: the first
 * call authenticates. Until then the backend claims the compute and image families; the first
 * token's catalog narrows them to the services the cloud lists.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack_internal.h"

static int os_open(struct nph_backend *b, const json_t *config, struct nph_error *err)
{
    struct os_backend *os = calloc(1, sizeof(*os));
    struct nph_http_opts o;
    if (!os)
        return nph_error_nomem(err);
    if (os_config_parse(config, &os->cfg, err) != 0) {
        free(os);
        return -1;
    }
    nph_http_opts_default(&o);
    o.verify_tls = os->cfg.verify;
    o.ca_file = os->cfg.cacert;
    if (os->cfg.timeout_ms > 0) {
        o.timeout_ms = os->cfg.timeout_ms;
        if (o.connect_timeout_ms > o.timeout_ms)
            o.connect_timeout_ms = o.timeout_ms;
    }
    if (!(os->http = nph_http_client_new(&o, err))) {
        os_config_fini(&os->cfg);
        free(os);
        return -1;
    }
    pthread_condattr_t ca;
    int ok = 0;
    if (pthread_condattr_init(&ca) == 0) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&os->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&os->mu, NULL) != 0) {
        pthread_cond_destroy(&os->cv);
        ok = 0;
    }
    if (!ok) {
        nph_http_client_free(os->http);
        os_config_fini(&os->cfg);
        free(os);
        return nph_error_set(err, NPH_E_INTERNAL, "cannot create a mutex");
    }
    os->b = b;
    b->priv = os;
    b->families = NPH_FAM_COMPUTE | NPH_FAM_IMAGE | NPH_FAM_USAGE | NPH_FAM_VOLUME | NPH_FAM_OBJECT;
    return 0;
}

static void os_close(struct nph_backend *b)
{
    struct os_backend *os = b->priv;
    if (!os)
        return;
    pthread_mutex_destroy(&os->mu);
    pthread_cond_destroy(&os->cv);
    os_token_fini(&os->tok);
    free(os->compute_url);
    nph_http_client_free(os->http);
    os_config_fini(&os->cfg);
    free(os);
    b->priv = NULL;
}

/* Authenticate if needed, then GET the compute API's root (or Keystone's when the cloud has
 * no compute service). */
static int os_health(struct nph_backend *b, const struct nph_backend_ctx *ctx,
                     struct nph_error *err)
{
    struct os_call call;
    int rc = -1;
    os_call_init(&call, b->priv, ctx);
    if (os_call_session(&call, err) != 0)
        goto cleanup;
    if (call.ep.url[OS_SVC_COMPUTE]) {
        rc = os_request(&call, OS_SVC_COMPUTE, "GET", "", NULL, NULL, err);
    } else {
        rc = os_request(&call, OS_SVC_IDENTITY, "GET", "", NULL, NULL, err);
    }
cleanup:
    os_call_fini(&call);
    return rc;
}

const struct nph_backend_ops nph_backend_openstack_ops = {
    .kind = "openstack",
    .open = os_open,
    .close = os_close,
    .health = os_health,
    .compute = &os_compute_ops,
    .image = &os_image_ops,
    .usage = &os_usage_ops,
    .volume = &os_volume_ops,
    .object = &os_object_ops,
};
