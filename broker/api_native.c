/*
 * api_native.c - the native REST API (/v1). For now the version document at GET /, which
 * tells clients which APIs this broker serves and where.
 */
#include <stdio.h>

#include "app.h"

static int native_root(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    static const struct {
        const char *id, *kind, *path;
    } apis[] = {
        {"v1", "native", "/v1"},
        {"identity-v3", "openstack-identity", "/identity"},
        {"compute-v2.1", "openstack-compute", "/compute/v2.1"},
        {"image-v2", "openstack-image", "/image"},
    };
    struct nph_app *app = req->app;
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof(apis) / sizeof(apis[0]); i++) {
        char href[1024];
        snprintf(href, sizeof(href), "%s%s", app->cfg.public_url, apis[i].path);
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s}", "id", apis[i].id, "kind", apis[i].kind, "href", href));
    }
    json_t *body =
        list ? json_pack("{s:s,s:s,s:o}", "name", "nephele", "version", NPH_VERSION, "apis", list)
             : NULL;
    if (!body)
        return nph_error_nomem(err);
    return http_resp_json(resp, 200, body) ? nph_error_nomem(err) : 0;
}

const struct http_route api_native_routes[] = {
    {"GET", "/", native_root, "root", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
