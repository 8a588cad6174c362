/*
 * compat_nova_fed.c - the Nova-compatible API over the federation: servers on clouds other
 * than the native one, in Nova's shapes. compat_nova.c hands a request here when the server's
 * cloud is remote (its availability zone, the scheduler hint `cloud`, or the default cloud
 * on create; the server's record otherwise).
 *
 * Every cloud is an availability zone named after it; "nova" is accepted as the default
 * cloud's alias, so clients that send Nova's default zone keep working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "compat_nova_fed.h"
#include "local_compute.h"
#include "nph_crypto.h"

static void nf_url(const struct nova_fed_req *r, char *buf, size_t len, const char *fmt,
                   const char *a)
{
    int n = snprintf(buf, len, "%s/compute/v2.1", r->app->cfg.public_url);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, fmt, a);
}

static json_t *nf_links(const struct nova_fed_req *r, const char *id)
{
    char self[2048], book[2048];
    nf_url(r, self, sizeof(self), "/servers/%s", id);
    snprintf(book, sizeof(book), "%s/compute/servers/%s", r->app->cfg.public_url, id);
    return json_pack("[{s:s,s:s},{s:s,s:s}]", "rel", "self", "href", self, "rel", "bookmark",
                     "href", book);
}

const char *nova_fed_target(struct nph_app *app, const struct fed_caller *who, const json_t *root,
                            const json_t *server, const char *flavor_id, char placement_id[40],
                            struct nph_error *err)
{
    placement_id[0] = '\0';
    const json_t *azv = json_object_get(server, "availability_zone");
    if (azv && !json_is_null(azv) && !json_is_string(azv)) {
        nph_error_set(err, NPH_E_INVALID,
                      "Invalid input for field/attribute availability_zone: must be a string");
        return NULL;
    }
    const json_t *hv = json_object_get(json_object_get(root, "os:scheduler_hints"), "cloud");
    if (hv && !json_is_string(hv)) {
        nph_error_set(err, NPH_E_INVALID, "scheduler hint 'cloud' must be a string");
        return NULL;
    }
    const char *az = json_string_value(azv);
    const char *hint = json_string_value(hv);
    const char *name = hint ? hint : az;
    if (az && hint && strcmp(az, hint) != 0 && strcmp(az, "nova") != 0) {
        nph_error_set(err, NPH_E_INVALID,
                      "availability_zone '%.64s' and scheduler hint cloud '%.64s' disagree", az,
                      hint);
        return NULL;
    }
    if (name && *name && strcmp(name, "nova") != 0) {
        if (!fed_cloud_name(app->fed, name)) {
            nph_error_set(err, NPH_E_INVALID, "Availability zone '%.64s' is invalid", name);
            return NULL;
        }
        return fed_cloud_name(app->fed, name);
    }
    /* no cloud named: the policy engine places it (a remote create is placed again, on the
     * chosen cloud, by the federation) */
    struct local_compute_caller admin = {.project_id = "", .user_id = "", .is_admin = 1};
    struct nph_error ferr = NPH_ERROR_INIT;
    json_t *fl =
        flavor_id ? local_compute_flavor_get(app->compute, &admin, flavor_id, &ferr) : NULL;
    if (!fl) /* the native cloud reports a bad flavor in Nova's words */
        return fed_local_cloud_name(app->fed)[0] ? fed_local_cloud_name(app->fed)
                                                 : fed_default_cloud(app->fed);
    json_t *labels = app_project_labels(app, who->project_id);
    json_t *req =
        json_pack("{s:s,s:s,s:o,s:O?,s:O,s:O,s:O}", "kind", "server", "project", who->project_id,
                  "project_labels", labels, "name", json_object_get(server, "name"), "vcpus",
                  json_object_get(fl, "vcpus"), "ram_mb", json_object_get(fl, "ram"), "disk_gb",
                  json_object_get(fl, "disk"));
    json_decref(fl);
    if (!req) {
        nph_error_nomem(err);
        return NULL;
    }
    struct fed_placement pl;
    json_t *doc = fed_place(app->fed, who, req, NULL, 1, &pl, err);
    json_decref(req);
    if (!doc)
        return NULL;
    json_decref(doc);
    if (!pl.placed && pl.quota_only && fed_local_cloud_name(app->fed)[0])
        /* only the project's quota stands in the way: the native cloud answers Nova's
         * "Quota exceeded" (403) in Nova's words */
        return fed_cloud_name(app->fed, fed_local_cloud_name(app->fed));
    if (!pl.placed) {
        nph_error_set(err, NPH_E_UNPROCESSABLE, "No valid host was found: %s", pl.why);
        return NULL;
    }
    memcpy(placement_id, pl.id, 40);
    return fed_cloud_name(app->fed, pl.cloud);
}

int nova_fed_create(const struct nova_fed_req *r, const char *cloud, const json_t *server,
                    const char *flavor_id, const char *image_id, struct http_resp *resp,
                    struct nph_error *err)
{
    json_t *req =
        json_pack("{s:O?,s:s,s:s?,s:s}", "name", json_object_get(server, "name"), "flavor",
                  flavor_id ? flavor_id : "", "image", image_id, "cloud", cloud);
    if (!req)
        return nph_error_nomem(err);
    json_t *v;
    if (json_is_string(v = json_object_get(server, "key_name")))
        json_object_set(req, "key_name", v);
    if (json_is_object(v = json_object_get(server, "metadata")))
        json_object_set(req, "metadata", v);
    if (json_is_string(v = json_object_get(server, "user_data")))
        json_object_set(req, "user_data", v);
    if (!image_id) {
        json_decref(req);
        return nph_error_set(err, NPH_E_INVALID,
                             "servers on cloud '%s' boot from an image: imageRef is required",
                             cloud);
    }
    json_t *out = fed_server_create(r->app->fed, &r->who, req, err);
    json_decref(req);
    if (!out)
        return -1;
    const char *id = json_string_value(json_object_get(json_object_get(out, "server"), "id"));
    char loc[2048], pass[24];
    uint8_t raw[12];
    if (nph_random_bytes(raw, sizeof(raw), err)) {
        json_decref(out);
        return -1;
    }
    nph_b64url_encode(raw, sizeof(raw), pass);
    nf_url(r, loc, sizeof(loc), "/servers/%s", id);
    http_resp_header(resp, "Location", loc);
    int rc = http_resp_json(resp, 202,
                            json_pack("{s:{s:s,s:o,s:s,s:[{s:s}],s:s}}", "server", "id", id,
                                      "links", nf_links(r, id), "OS-DCF:diskConfig", "MANUAL",
                                      "security_groups", "name", "default", "adminPass", pass));
    json_decref(out);
    return rc ? nph_error_nomem(err) : 0;
}

/* Nova's power_state and vm_state for a status. */
static void nf_states(const char *status, int *power, const char **vm)
{
    static const struct {
        const char *status, *vm;
        int power;
    } map[] = {
        {"ACTIVE", "active", 1},         {"BUILD", "building", 0},     {"SHUTOFF", "stopped", 4},
        {"REBOOT", "active", 1},         {"HARD_REBOOT", "active", 1}, {"RESIZE", "active", 1},
        {"VERIFY_RESIZE", "resized", 1}, {"ERROR", "error", 0},        {"DELETED", "deleted", 0},
        {"PAUSED", "paused", 3},         {"SUSPENDED", "suspended", 4}};
    *power = 0;
    *vm = "building";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].status, status) == 0) {
            *power = map[i].power;
            *vm = map[i].vm;
        }
}

json_t *nova_fed_view(const struct nova_fed_req *r, const json_t *s, int detail)
{
    const char *id = json_string_value(json_object_get(s, "id"));
    if (!detail)
        return json_pack("{s:s,s:O,s:o}", "id", id, "name", json_object_get(s, "name"), "links",
                         nf_links(r, id));
    const char *status = json_string_value(json_object_get(s, "status"));
    const char *image = json_string_value(json_object_get(s, "image"));
    const char *cloud = json_string_value(json_object_get(s, "cloud"));
    const char *fault = json_string_value(json_object_get(s, "fault"));
    char book[2048], hostid[65], buf[512];
    int power;
    const char *vm;
    nf_states(status ? status : "", &power, &vm);
    snprintf(buf, sizeof(buf), "%s%s", json_string_value(json_object_get(s, "project_id")), cloud);
    nph_sha256_hex(buf, strlen(buf), hostid);
    hostid[56] = '\0';
    nf_url(r, book, sizeof(book), "/images/%s", image ? image : "");
    json_t *out = json_pack(
        "{s:s,s:O,s:s,s:O,s:O,s:{},s:s,s:{s:s,s:[{s:s,s:s}]},s:O,s:O,s:O,s:s,s:s,s:o,s:s,s:s}",
        "id", id, "name", json_object_get(s, "name"), "status", status ? status : "UNKNOWN",
        "tenant_id", json_object_get(s, "project_id"), "user_id", json_object_get(s, "user_id"),
        "metadata", "hostId", hostid, "image", "id", image ? image : "", "links", "rel", "bookmark",
        "href", book, "created", json_object_get(s, "created"), "updated",
        json_object_get(s, "updated"), "addresses", json_object_get(s, "addresses"), "accessIPv4",
        "", "accessIPv6", "", "links", nf_links(r, id), "OS-DCF:diskConfig", "MANUAL",
        "OS-EXT-AZ:availability_zone", cloud ? cloud : "");
    if (!out)
        return NULL;
    json_object_set_new(out, "key_name", json_null());
    json_object_set_new(out, "OS-SRV-USG:launched_at", json_null());
    json_object_set_new(out, "OS-SRV-USG:terminated_at", json_null());
    json_object_set_new(out, "OS-EXT-STS:task_state", json_null());
    json_object_set_new(out, "OS-EXT-STS:vm_state", json_string(vm));
    json_object_set_new(out, "OS-EXT-STS:power_state", json_integer(power));
    json_object_set_new(out, "os-extended-volumes:volumes_attached", json_array());
    json_object_set_new(out, "config_drive", json_string(""));
    json_object_set_new(out, "security_groups", json_pack("[{s:s}]", "name", "default"));
    if (r->minor >= 47)
        json_object_set_new(
            out, "flavor",
            json_pack("{s:O,s:{}}", "original_name", json_object_get(s, "flavor"), "extra_specs"));
    else {
        char fb[2048];
        const char *fid = json_string_value(json_object_get(s, "flavor"));
        nf_url(r, fb, sizeof(fb), "/flavors/%s", fid ? fid : "");
        json_object_set_new(out, "flavor",
                            json_pack("{s:s,s:[{s:s,s:s}]}", "id", fid ? fid : "", "links", "rel",
                                      "bookmark", "href", fb));
    }
    if (r->minor >= 9)
        json_object_set_new(out, "locked", json_false());
    if (r->minor >= 19)
        json_object_set_new(out, "description", json_null());
    if (r->minor >= 26)
        json_object_set_new(out, "tags", json_array());
    if (r->minor >= 16)
        json_object_set_new(
            out, "host_status",
            json_string(strcmp(status ? status : "", "UNKNOWN") ? "UP" : "UNKNOWN"));
    if (fault && status && strcmp(status, "ERROR") == 0)
        json_object_set_new(out, "fault",
                            json_pack("{s:i,s:O,s:s}", "code", 500, "created",
                                      json_object_get(s, "updated"), "message", fault));
    if (r->who.is_admin) {
        json_object_set_new(out, "OS-EXT-SRV-ATTR:host", json_string(cloud ? cloud : ""));
        json_object_set_new(out, "OS-EXT-SRV-ATTR:hypervisor_hostname",
                            json_string(cloud ? cloud : ""));
        json_object_set(out, "OS-EXT-SRV-ATTR:instance_name", json_object_get(s, "remote_id"));
    }
    return out;
}

int nova_fed_show(const struct nova_fed_req *r, const char *id, struct http_resp *resp,
                  struct nph_error *err)
{
    json_t *s = fed_server_get(r->app->fed, &r->who, id, err);
    if (!s)
        return -1;
    json_t *v = nova_fed_view(r, s, 1);
    json_decref(s);
    if (!v)
        return nph_error_nomem(err);
    return http_resp_json(resp, 200, json_pack("{s:o}", "server", v)) ? nph_error_nomem(err) : 0;
}

int nova_fed_delete(const struct nova_fed_req *r, const char *id, struct http_resp *resp,
                    struct nph_error *err)
{
    json_t *op = fed_server_delete(r->app->fed, &r->who, id, err);
    if (!op)
        return -1;
    json_decref(op);
    resp->status = 204;
    return 0;
}

int nova_fed_action(const struct nova_fed_req *r, const char *id, const char *name,
                    const json_t *body, struct http_resp *resp, struct nph_error *err)
{
    enum nph_server_action a;
    const char *arg = NULL;
    int status = 202;
    if (strcmp(name, "os-start") == 0)
        a = NPH_SA_START;
    else if (strcmp(name, "os-stop") == 0)
        a = NPH_SA_STOP;
    else if (strcmp(name, "reboot") == 0) {
        const char *t = json_string_value(json_object_get(body, "type"));
        if (!t || (strcasecmp(t, "SOFT") != 0 && strcasecmp(t, "HARD") != 0))
            return nph_error_set(err, NPH_E_INVALID, "reboot 'type' must be SOFT or HARD");
        a = strcasecmp(t, "HARD") == 0 ? NPH_SA_REBOOT_HARD : NPH_SA_REBOOT_SOFT;
    } else if (strcmp(name, "resize") == 0) {
        a = NPH_SA_RESIZE;
        arg = json_string_value(json_object_get(body, "flavorRef"));
        const char *slash = arg ? strrchr(arg, '/') : NULL;
        if (slash)
            arg = slash + 1;
        if (!arg)
            return nph_error_set(err, NPH_E_INVALID, "'flavorRef' is a required property");
    } else if (strcmp(name, "confirmResize") == 0) {
        a = NPH_SA_CONFIRM_RESIZE;
        status = 204;
    } else if (strcmp(name, "revertResize") == 0)
        a = NPH_SA_REVERT_RESIZE;
    else
        return nph_error_set(err, NPH_E_NOT_SUPPORTED,
                             "action '%.64s' is not supported for servers on remote clouds", name);
    json_t *op = fed_server_action(r->app->fed, &r->who, id, a, arg, err);
    if (!op)
        return -1;
    json_decref(op);
    resp->status = status;
    return 0;
}

json_t *nova_fed_list(const struct nova_fed_req *r, const char *status, int all_projects,
                      const char *project_id, int detail, struct nph_error *err)
{
    struct fed_server_filter flt = {0};
    flt.status = status;
    flt.all_projects = all_projects;
    flt.project_id = project_id;
    flt.remote_only = 1;
    json_t *l = fed_server_list(r->app->fed, &r->who, &flt, err);
    if (!l)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(l, "servers"), i, s)
        json_array_append_new(out, nova_fed_view(r, s, detail));
    json_decref(l);
    return out;
}

json_t *nova_fed_zones(struct nph_app *app, int detail, struct nph_error *err)
{
    json_t *clouds = fed_cloud_list(app->fed, err);
    if (!clouds)
        return NULL;
    json_t *zones = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(clouds, i, c)
    {
        if (!json_array_size(json_object_get(c, "families")))
            continue;
        const char *state = json_string_value(json_object_get(c, "state"));
        json_t *z = json_pack("{s:O,s:{s:b},s:n}", "zoneName", json_object_get(c, "name"),
                              "zoneState", "available", strcmp(state, "down") != 0, "hosts");
        if (z && detail)
            json_object_set_new(z, "hosts",
                                json_pack("{s:{}}", json_string_value(json_object_get(c, "name"))));
        json_array_append_new(zones, z);
    }
    json_decref(clouds);
    return zones;
}

int nova_fed_has_remote(struct nph_app *app)
{
    return fed_has_remote(app->fed);
}
