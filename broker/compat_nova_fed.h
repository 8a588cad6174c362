/*
 * compat_nova_fed.h - the Nova-compatible API's door to the federation (compat_nova_fed.c):
 * servers on remote clouds in Nova's shapes, availability zones = clouds.
 */
#ifndef NPH_COMPAT_NOVA_FED_H
#define NPH_COMPAT_NOVA_FED_H

#include <jansson.h>

#include "app.h"
#include "federation.h"
#include "http_server.h"

struct nova_fed_req {
    struct nph_app *app;
    struct fed_caller who;
    int minor; /* microversion 2.<minor> */
};

/* The cloud a create goes to: the scheduler hint `cloud`, else availability_zone ("nova" =
 * none), else where the policy engine places it (placement_id gets the stored decision).
 * Borrowed name, or NULL with NPH_E_INVALID ("Availability zone 'x' is invalid") or
 * NPH_E_UNPROCESSABLE when no cloud can take it. */
const char *nova_fed_target(struct nph_app *app, const struct fed_caller *who, const json_t *root,
                            const json_t *server, const char *flavor_id, char placement_id[40],
                            struct nph_error *err);
/* Create on a remote cloud; answers Nova's 202 body. */
int nova_fed_create(const struct nova_fed_req *r, const char *cloud, const json_t *server,
                    const char *flavor_id, const char *image_id, struct http_resp *resp,
                    struct nph_error *err);
/* A federation server (fed_server_get's shape) in Nova's view (detail 0: id/name/links). */
json_t *nova_fed_view(const struct nova_fed_req *r, const json_t *s, int detail);
int nova_fed_show(const struct nova_fed_req *r, const char *id, struct http_resp *resp,
                  struct nph_error *err);
int nova_fed_delete(const struct nova_fed_req *r, const char *id, struct http_resp *resp,
                    struct nph_error *err);
/* os-start, os-stop, reboot, resize, confirmResize, revertResize; others NPH_E_NOT_SUPPORTED. */
int nova_fed_action(const struct nova_fed_req *r, const char *id, const char *name,
                    const json_t *body, struct http_resp *resp, struct nph_error *err);
/* The remote clouds' servers in Nova's view (array). */
json_t *nova_fed_list(const struct nova_fed_req *r, const char *status, int all_projects,
                      const char *project_id, int detail, struct nph_error *err);
/* availabilityZoneInfo entries, one per cloud with a compute service. */
json_t *nova_fed_zones(struct nph_app *app, int detail, struct nph_error *err);
/* 1 when some cloud is not the native one (lists cannot be cached on the native stamp). */
int nova_fed_has_remote(struct nph_app *app);

/* The request's microversion (compat_nova.c): 0 with *minor (and the answer's version
 * headers), -1 with err for a malformed one, or -1 with resp->status 406 already written for
 * one out of range (the caller then returns 0). */
int nova_request_microversion(struct http_req *req, struct http_resp *resp, int *minor,
                              struct nph_error *err);

#endif
