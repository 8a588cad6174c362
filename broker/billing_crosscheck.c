/*
 * billing_crosscheck.c - Nephele's usage of a remote cloud against what the cloud itself
 * reports (GET /v1/clouds/{name}/usage-check, docs/billing.md "Cross-check").
 *
 * A remote OpenStack cloud runs every Nephele project's servers in the one project Nephele's
 * account acts in, so the cloud's os-simple-tenant-usage for that project is split back into
 * Nephele projects through the server records (fed_server: cloud, remote id -> Nephele server
 * and project). Nephele's side is the ledger of that cloud counted by Nova's rule
 * (billing_usage.h), so the two figures measure the same thing: hours of existence inside the
 * period. Per project: both figures, their difference (Nephele minus cloud), and the servers
 * only one side knows; servers the cloud reports that Nephele has no record of are
 * `unattributed`.
 */
#include "billing_crosscheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing_usage.h"
#include "cmd_usage.h"
#include "fed_internal.h"
#include "nph_clock.h"

/* Six decimals: what the report promises of hours. */
static double h6(double h)
{
    return round(h * 1e6) / 1e6;
}

/* fed_server rows of the cloud: {remote_id: {"id","project","name"}} and {id: remote_id}. */
static int records(struct nph_store *store, const char *cloud, json_t *by_remote, json_t *by_id,
                   struct nph_error *err)
{
    struct nph_db *db = nph_store_acquire(store, err);
    struct nph_stmt *st =
        db ? nph_db_prepare(
                 db, "SELECT id, remote_id, project_id, name FROM fed_server WHERE cloud = ?", err)
           : NULL;
    int rc = st && nph_stmt_bind_text(st, 1, cloud, err) == 0 ? 0 : -1, step = 0;
    while (rc == 0 && (step = nph_stmt_step(st, err)) == 1) {
        const char *id = nph_stmt_col_text(st, 0), *rid = nph_stmt_col_text(st, 1);
        const char *proj = nph_stmt_col_text(st, 2), *name = nph_stmt_col_text(st, 3);
        if (!id || !rid || !*rid)
            continue;
        if (json_object_set_new(by_remote, rid,
                                json_pack("{s:s,s:s,s:s}", "id", id, "project", proj ? proj : "",
                                          "name", name ? name : "")) != 0 ||
            json_object_set_new(by_id, id, json_string(rid)) != 0)
            rc = nph_error_nomem(err);
    }
    if (step < 0)
        rc = -1;
    nph_stmt_done(st);
    nph_store_release(db);
    return rc;
}

/* The project's entry of `projects` (created on first use). */
static json_t *project_entry(json_t *projects, const char *project)
{
    json_t *p = json_object_get(projects, project);
    if (!p) {
        p = json_pack("{s:s,s:f,s:f,s:f,s:i,s:i,s:[],s:[]}", "project", project, "nephele_hours",
                      0.0, "cloud_hours", 0.0, "difference", 0.0, "nephele_servers", 0,
                      "cloud_servers", 0, "nephele_only", "cloud_only");
        if (p && json_object_set_new(projects, project, p) != 0)
            p = NULL;
    }
    return p;
}

static void add_num(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, json_real(json_number_value(json_object_get(o, key)) + v));
}

static void add_int(json_t *o, const char *key, int v)
{
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + v));
}

json_t *billing_crosscheck(struct nph_app *app, const struct fed_caller *who, const char *cloud,
                           int64_t from, int64_t to, struct nph_error *err)
{
    struct fed_cloud *c = fed_cloud_find(app->fed, cloud, err);
    if (!c)
        return NULL;
    const struct nph_usage_ops *ops = nph_backend_usage(c->b, err);
    if (!ops)
        return NULL;
    struct nph_usage_report rep = {0};
    struct pol_uevents ev;
    struct tu_report mine = {0};
    json_t *by_remote = json_object(), *by_id = json_object(), *projects = json_object();
    json_t *unattributed = json_array(), *out = NULL, *cloud_seen = json_object();
    struct fed_call k;
    pol_uevents_init(&ev);
    if (!by_remote || !by_id || !projects || !unattributed || !cloud_seen) {
        nph_error_nomem(err);
        goto cleanup;
    }
    if (fed_call_begin(app->fed, c, FED_OP_USAGE_GET, who, &k, err) != 0 ||
        fed_call_end(&k, ops->usage_get(c->b, &k.ctx, from, to, &rep, err), err) != 0)
        goto cleanup;
    struct nph_db *db = nph_store_acquire(app->store, err);
    int lrc = db ? usage_ledger_load(db, INT64_MIN / NPH_USEC_PER_SEC, to, NULL, &ev, err) : -1;
    nph_store_release(db);
    if (lrc != 0 || records(app->store, c->name, by_remote, by_id, err) != 0 ||
        tu_compute(&ev, c->name, NULL, from, to, NULL, NULL, &mine, err) != 0)
        goto cleanup;
    /* the cloud's side */
    double cloud_total = 0, mine_total = 0;
    for (size_t i = 0; i < rep.n; i++) {
        const struct nph_usage_server *s = &rep.v[i];
        json_t *r = json_object_get(by_remote, s->remote_id);
        cloud_total += s->hours;
        json_object_set_new(cloud_seen, s->remote_id, json_real(s->hours));
        if (!r) {
            json_array_append_new(unattributed,
                                  json_pack("{s:s,s:s,s:s,s:f}", "remote_id", s->remote_id, "name",
                                            s->name, "flavor", s->offering, "hours", h6(s->hours)));
            continue;
        }
        json_t *p = project_entry(projects, json_string_value(json_object_get(r, "project")));
        if (!p) {
            nph_error_nomem(err);
            goto cleanup;
        }
        add_num(p, "cloud_hours", s->hours);
        add_int(p, "cloud_servers", 1);
    }
    /* Nephele's side */
    for (size_t i = 0; i < mine.n; i++) {
        const struct tu_server *s = &mine.v[i];
        json_t *p = project_entry(projects, s->project);
        if (!p) {
            nph_error_nomem(err);
            goto cleanup;
        }
        double h = tu_hours(s->seconds);
        mine_total += h;
        add_num(p, "nephele_hours", h);
        add_int(p, "nephele_servers", 1);
        const char *rid = json_string_value(json_object_get(by_id, s->resource));
        if (!rid || !json_object_get(cloud_seen, rid))
            json_array_append_new(json_object_get(p, "nephele_only"),
                                  json_pack("{s:s,s:s?,s:f}", "server", s->resource, "remote_id",
                                            rid, "hours", h6(h)));
        if (rid)
            json_object_set_new(cloud_seen, rid, json_null()); /* matched */
    }
    /* servers the cloud counted, known to Nephele, without ledger usage in the period */
    for (size_t i = 0; i < rep.n; i++) {
        const struct nph_usage_server *s = &rep.v[i];
        json_t *r = json_object_get(by_remote, s->remote_id);
        json_t *seen = json_object_get(cloud_seen, s->remote_id);
        if (!r || !seen || json_is_null(seen))
            continue;
        json_t *p = json_object_get(projects, json_string_value(json_object_get(r, "project")));
        json_array_append_new(json_object_get(p, "cloud_only"),
                              json_pack("{s:s,s:s,s:f}", "server",
                                        json_string_value(json_object_get(r, "id")), "remote_id",
                                        s->remote_id, "hours", h6(s->hours)));
    }
    json_t *list = json_array();
    const char *pk;
    json_t *pv;
    json_object_foreach(projects, pk, pv)
    {
        double n = json_number_value(json_object_get(pv, "nephele_hours"));
        double cl = json_number_value(json_object_get(pv, "cloud_hours"));
        json_object_set_new(pv, "nephele_hours", json_real(h6(n)));
        json_object_set_new(pv, "cloud_hours", json_real(h6(cl)));
        json_object_set_new(pv, "difference", json_real(h6(n - cl)));
        json_array_append(list, pv);
    }
    char f[32], t[32];
    nph_time_format(from * NPH_USEC_PER_SEC, 0, f, sizeof(f));
    nph_time_format(to * NPH_USEC_PER_SEC, 0, t, sizeof(t));
    out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:O,s:{s:f,s:f,s:f}}", "cloud", c->name, "from", f, "to",
                    t, "remote_project", rep.tenant_id, "projects", list, "unattributed",
                    unattributed, "totals", "nephele_hours", h6(mine_total), "cloud_hours",
                    h6(cloud_total), "difference", h6(mine_total - cloud_total));
    if (!out)
        nph_error_nomem(err);
cleanup:
    nph_usage_report_fini(&rep);
    pol_uevents_fini(&ev);
    tu_report_fini(&mine);
    json_decref(by_remote);
    json_decref(by_id);
    json_decref(projects);
    json_decref(unattributed);
    json_decref(cloud_seen);
    return out;
}
