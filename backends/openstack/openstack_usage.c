/*
 * openstack_usage.c - the usage family over Nova's os-simple-tenant-usage: what the cloud
 * itself counts for the project Nephele acts in (GET /os-simple-tenant-usage/{tenant_id},
 * which Nova's default policy allows the project's own members, unlike the all-tenants
 * list). The tenant is the session token's project. At the microversion the driver speaks
 * (2.37, or 2.1) Nova answers the whole period in one document, without pagination.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "openstack_internal.h"

static int num(const json_t *o, const char *key, double *out, struct nph_error *err)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is missing or not a number", key);
    *out = json_number_value(v);
    return 0;
}

/* A time as Nova writes it ("2012-10-08T20:10:44.541277", UTC); null or absent is 0. */
static int when(const json_t *o, const char *key, int64_t *out, struct nph_error *err)
{
    const json_t *v = json_object_get(o, key);
    int64_t us;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || nph_time_parse(json_string_value(v), &us) != 0)
        return nph_error_set(err, NPH_E_BACKEND, "'%s' is not a time", key);
    *out = us / 1000000;
    return 0;
}

int os_usage_from_json(const json_t *j, struct nph_usage_report *out, struct nph_error *err)
{
    struct nph_usage_report r = {0};
    if (!json_is_object(j))
        return nph_error_set(err, NPH_E_BACKEND, "'tenant_usage' is not an object");
    if (json_object_size(j) == 0) { /* Nova's answer for a project without usage */
        *out = r;
        return 0;
    }
    const char *tenant = json_string_value(json_object_get(j, "tenant_id"));
    const json_t *su = json_object_get(j, "server_usages");
    if (!tenant)
        return nph_error_set(err, NPH_E_BACKEND, "'tenant_id' is missing or not a string");
    if (num(j, "total_hours", &r.total_hours, err) ||
        num(j, "total_vcpus_usage", &r.total_vcpus_usage, err) ||
        num(j, "total_memory_mb_usage", &r.total_memory_mb_usage, err) ||
        num(j, "total_local_gb_usage", &r.total_local_gb_usage, err))
        return -1;
    if (su && !json_is_array(su))
        return nph_error_set(err, NPH_E_BACKEND, "'server_usages' is not a list");
    nph_backend_strlcpy(r.tenant_id, sizeof(r.tenant_id), tenant);
    size_t i;
    const json_t *e;
    json_array_foreach(su, i, e)
    {
        struct nph_usage_server s = {0};
        const char *id = json_string_value(json_object_get(e, "instance_id"));
        double vcpus = 0, mem = 0, gb = 0;
        if (!json_is_object(e) || !id || !*id || strlen(id) >= sizeof(s.remote_id)) {
            nph_usage_report_fini(&r);
            return nph_error_set(err, NPH_E_BACKEND,
                                 "server_usages[%zu]: 'instance_id' is missing or not an id", i);
        }
        if (num(e, "hours", &s.hours, err) || num(e, "vcpus", &vcpus, err) ||
            num(e, "memory_mb", &mem, err) || num(e, "local_gb", &gb, err) ||
            when(e, "started_at", &s.started, err) || when(e, "ended_at", &s.ended, err)) {
            nph_usage_report_fini(&r);
            return nph_error_prefix(err, "server_usages[%zu]", i);
        }
        nph_backend_strlcpy(s.remote_id, sizeof(s.remote_id), id);
        nph_backend_strlcpy(s.name, sizeof(s.name), json_string_value(json_object_get(e, "name")));
        nph_backend_strlcpy(s.offering, sizeof(s.offering),
                            json_string_value(json_object_get(e, "flavor")));
        nph_backend_strlcpy(s.state, sizeof(s.state),
                            json_string_value(json_object_get(e, "state")));
        s.vcpus = vcpus > 0 ? (unsigned)vcpus : 0;
        s.memory_mb = mem > 0 ? (uint64_t)mem : 0;
        s.local_gb = gb > 0 ? (uint64_t)gb : 0;
        if (nph_usage_report_push(&r, &s) != 0) {
            nph_usage_report_fini(&r);
            return nph_error_nomem(err);
        }
    }
    *out = r;
    return 0;
}

static int os_usage_get(struct nph_backend *b, const struct nph_backend_ctx *ctx, int64_t from,
                        int64_t to, struct nph_usage_report *out, struct nph_error *err)
{
    struct os_backend *os = b->priv;
    struct os_call call;
    json_t *doc = NULL;
    char *path = NULL, *tenant = NULL;
    char s[32], e[32];
    int rc = -1;
    os_call_init(&call, os, ctx);
    if (os_call_session(&call, err) != 0 || os_call_service(&call, OS_SVC_COMPUTE, err) != 0)
        goto cleanup;
    if (!call.project_id[0]) {
        nph_error_set(err, NPH_E_BACKEND,
                      "cloud '%s' gave a token without a project: cannot ask its usage",
                      os->cfg.name);
        goto cleanup;
    }
    /* Nova parses "%Y-%m-%dT%H:%M:%S" (no zone: UTC) */
    nph_time_format(from * 1000000, 0, s, sizeof(s));
    nph_time_format(to * 1000000, 0, e, sizeof(e));
    s[strlen(s) - 1] = e[strlen(e) - 1] = '\0';
    if (!(tenant = os_escape(call.project_id)) ||
        asprintf(&path, "/os-simple-tenant-usage/%s?start=%s&end=%s", tenant, s, e) < 0) {
        path = NULL;
        nph_error_nomem(err);
        goto cleanup;
    }
    if (os_request(&call, OS_SVC_COMPUTE, "GET", path, NULL, &doc, err) != 0)
        goto cleanup;
    struct nph_usage_report r;
    struct nph_error perr = NPH_ERROR_INIT;
    if (os_usage_from_json(json_object_get(doc, "tenant_usage"), &r, &perr) != 0) {
        os_garbage(err, os->cfg.name, "GET", "/os-simple-tenant-usage/{tenant_id}", perr.msg);
        goto cleanup;
    }
    if (!r.tenant_id[0])
        nph_backend_strlcpy(r.tenant_id, sizeof(r.tenant_id), call.project_id);
    *out = r;
    rc = 0;
cleanup:
    json_decref(doc);
    free(path);
    free(tenant);
    os_call_fini(&call);
    return rc;
}

const struct nph_usage_ops os_usage_ops = {
    .usage_get = os_usage_get,
};
