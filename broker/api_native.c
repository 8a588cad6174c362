/*
 * api_native.c - the native REST API (/v1). For now the version document at GET /, which
 * tells clients which APIs this broker serves and where.
 */
#include <stdio.h>

#include "app.h"

static int native_root(struct http_req *req, struct http_resp *resp, struct nph_error *err)
{
    struct nph_app *app = req->app;
    char v1[1024], identity[1024];
    (void)err;
    snprintf(v1, sizeof(v1), "%s/v1", app->cfg.public_url);
    snprintf(identity, sizeof(identity), "%s/identity", app->cfg.public_url);
    return http_resp_json(resp, 200,
                          json_pack("{s:s,s:s,s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "name", "nephele",
                                    "version", NPH_VERSION, "apis", "id", "v1", "kind", "native",
                                    "href", v1, "id", "identity-v3", "kind", "openstack-identity",
                                    "href", identity));
}

const struct http_route api_native_routes[] = {
    {"GET", "/", native_root, "root", NPH_FAULT_NATIVE},
    {NULL, NULL, NULL, NULL, 0},
};
