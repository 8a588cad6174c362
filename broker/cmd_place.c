/*
 * cmd_place.c - `nephele place --config CONFIG.yaml --policy POLICY.yaml --request REQUEST.json
 * [--format json|text] [--at TIME]`: loads the three files, runs the placement engine once and
 * prints the decision as a table (default) or as JSON. Every input error names the file, the
 * line and what is wrong.
 */
#include "cmd_place.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nph_clock.h"
#include "nph_config.h"
#include "nph_json.h"
#include "pol_place.h"
#include "pol_time.h"
#include "pol_yaml.h"

#define PLACE_MAX_FILE (16u << 20)

static const char place_usage[] =
    "usage: nephele place --config CONFIG.yaml --policy POLICY.yaml --request REQUEST.json\n"
    "                     [--format text|json] [--at YYYY-MM-DDTHH:MM:SSZ]\n"
    "\nEvaluate a placement request offline: which (cloud, region, offering) the policy picks,\n"
    "and why every other candidate lost. Exit status 0 when placed, 3 when no candidate\n"
    "survives, 2 on bad input. See docs/placement.md.\n\noptions:\n"
    "  -c, --config FILE    the broker's configuration (clouds, currency, sizes, exchange_rates)\n"
    "  -p, --policy FILE    the policy document (policies, budgets)\n"
    "  -r, --request FILE   the request, a JSON object\n"
    "  -f, --format F       text (a table, the default) or json\n"
    "      --at TIME        the decision time (default now), for dated prices, rates, budgets\n"
    "  -h, --help           this text\n";

/* Read a whole file into a NUL-terminated buffer. NULL with err. */
static char *read_file(const char *path, size_t *len, struct nph_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        nph_error_set(err, NPH_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 8192;
            char *nb = nc > PLACE_MAX_FILE + 4097 ? NULL : realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                nph_error_set(err, NPH_E_INVALID, "%s: larger than 16 MiB", path);
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        nph_error_set(err, NPH_E_IO, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* 1-based line of the first occurrence of "key" in a JSON text, or 0. */
static int json_key_line(const char *text, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *at = strstr(text, pat);
    int line = 1;
    if (!at)
        return 0;
    for (const char *s = text; s < at; s++)
        line += *s == '\n';
    return line;
}

static void print_text(const struct pol_decision *d, FILE *out)
{
    const struct pol_cands *c = d->cands;
    size_t *idx = pol_decision_order(d);
    char price[48], reason[1024], at[32];
    static const char *const verdicts[] = {"chosen", "eligible", "rejected"};
    if (!idx)
        return;
    fprintf(out,
            "request: %s, project %s, %lld vcpus, %lld MB RAM, %lld GB disk, %lld GPUs%s%s%s\n",
            d->req.kind, d->req.project ? d->req.project : "(none)", (long long)d->req.vcpus,
            (long long)d->req.ram_mb, (long long)d->req.disk_gb, (long long)d->req.gpus,
            d->req.size ? " (size " : "", d->req.size ? d->req.size : "", d->req.size ? ")" : "");
    fprintf(out, "at %s; weights: cost %g, headroom %g, spread %g, preference %g\n\n",
            pol_time_format(d->at, at, sizeof(at)), d->weights[POL_W_COST],
            d->weights[POL_W_HEADROOM], d->weights[POL_W_SPREAD], d->weights[POL_W_PREFERENCE]);
    fprintf(out, "%-16s %-16s %-16s %12s %-8s %7s  %s\n", "CLOUD", "REGION", "OFFERING", "PRICE/H",
            "VERDICT", "SCORE", "DETAIL");
    for (size_t k = 0; k < d->n; k++) {
        const struct pol_result *r = &d->c[idx[k]];
        int priced = r->reason != POL_REASON_NO_PRICE && r->reason != POL_REASON_NO_RATE;
        fprintf(out, "%-16s %-16s %-16s %12s %-8s ", c->clouds[r->cloud].name,
                c->regions[r->region].name, c->offerings[r->offering].name,
                priced ? pol_decimal_format(r->price, price, sizeof(price)) : "-",
                verdicts[r->verdict]);
        if (r->verdict == POL_VERDICT_REJECTED) {
            pol_result_reason(d, idx[k], reason, sizeof(reason), NULL, NULL, 0);
            fprintf(out, "%7s  %s\n", "-", reason);
        } else {
            fprintf(out, "%7.3f  cost %.3f, headroom %.3f, spread %.3f, preference %.3f\n",
                    r->score, r->w[POL_W_COST], r->w[POL_W_HEADROOM], r->w[POL_W_SPREAD],
                    r->w[POL_W_PREFERENCE]);
        }
    }
    free(idx);
    if (d->chosen >= 0) {
        const struct pol_result *r = &d->c[d->chosen];
        fprintf(out, "\ndecision: cloud %s, region %s, offering %s at %s %s an hour (score %.3f)\n",
                c->clouds[r->cloud].name, c->regions[r->region].name,
                c->offerings[r->offering].name, pol_decimal_format(r->price, price, sizeof(price)),
                c->currency, r->score);
    } else {
        fprintf(out, "\n%s\n", pol_decision_why(d, reason, sizeof(reason)));
    }
}

static const struct option place_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"policy", required_argument, NULL, 'p'},
    {"request", required_argument, NULL, 'r'},
    {"format", required_argument, NULL, 'f'},
    {"at", required_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_place(int argc, char **argv)
{
    const char *config = NULL, *policy = NULL, *request = NULL, *format = "text", *at_s = NULL;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_config cfg;
    struct pol_cands *cands = NULL;
    struct pol_policy *pol = NULL;
    struct pol_request req;
    struct pol_decision d;
    json_t *lines = NULL, *rj = NULL, *out = NULL;
    char *ctext = NULL, *ptext = NULL, *rtext = NULL;
    size_t clen = 0, plen = 0, rlen = 0;
    int64_t at;
    int c, ret = 2, have_cfg = 0;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:p:r:f:h", place_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            policy = optarg;
            break;
        case 'r':
            request = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'a':
            at_s = optarg;
            break;
        case 'h':
            fputs(place_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "nephele place: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], place_usage);
            return 2;
        }
    }
    if (optind < argc || !config || !policy || !request ||
        (strcmp(format, "json") != 0 && strcmp(format, "text") != 0)) {
        fprintf(stderr, "nephele place: %s\n%s",
                optind < argc                      ? "unexpected argument"
                : (!config || !policy || !request) ? "--config, --policy and --request are required"
                                                   : "--format is text or json",
                place_usage);
        return 2;
    }
    if (at_s) {
        if (pol_time_parse(at_s, &at) < 0) {
            fprintf(stderr,
                    "nephele place: --at '%s': expected YYYY-MM-DD or "
                    "YYYY-MM-DDTHH:MM:SSZ\n",
                    at_s);
            return 2;
        }
    } else {
        at = nph_clock_now() / 1000000;
    }
    pol_decision_init(&d);

    /* The configuration: the broker's loader, then placement's sections with line numbers. */
    if (nph_config_init(&cfg, &err) < 0) {
        ret = 1;
        goto fail;
    }
    have_cfg = 1;
    if (nph_config_load_file(&cfg, config, &err) < 0 || !(ctext = read_file(config, &clen, &err)))
        goto fail;
    lines = pol_yaml_lines(ctext, clen);
    if (!(cands = pol_cands_from_config(cfg.sections, lines, config, &err)))
        goto fail;

    if (!(ptext = read_file(policy, &plen, &err)) ||
        !(pol = pol_policy_load(policy, ptext, plen, &err)))
        goto fail;

    if (!(rtext = read_file(request, &rlen, &err)))
        goto fail;
    if (!(rj = nph_json_parse(rtext, rlen, NPH_JSON_MAX_DEPTH_DEFAULT, 1, &err))) {
        nph_error_prefix(&err, "%s", request);
        goto fail;
    }
    const char *bad = NULL;
    if (pol_request_parse(&req, rj, cands, &bad, &err) < 0) {
        int line = bad ? json_key_line(rtext, bad) : 1;
        if (line)
            nph_error_prefix(&err, "%s:%d", request, line);
        else
            nph_error_prefix(&err, "%s", request);
        goto fail;
    }

    int rc = pol_place(&d, pol, cands, &req, at, &err);
    if (rc < 0) {
        if (err.code == NPH_E_NOMEM)
            ret = 1;
        else
            nph_error_prefix(&err, "%s", policy);
        goto fail;
    }
    if (strcmp(format, "json") == 0) {
        char *s;
        if (!(out = pol_decision_to_json(&d)) ||
            !(s = json_dumps(out,
                             JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)))) {
            nph_error_nomem(&err);
            ret = 1;
            goto fail;
        }
        puts(s);
        free(s);
    } else {
        print_text(&d, stdout);
    }
    if (rc == 1) {
        char why[2048];
        fprintf(stderr, "nephele place: %s\n", pol_decision_why(&d, why, sizeof(why)));
    }
    ret = rc == 0 ? 0 : 3;
    goto done;
fail:
    fprintf(stderr, "nephele place: %s%s%s\n", err.msg, err.detail[0] ? ": " : "", err.detail);
done:
    json_decref(out);
    json_decref(rj);
    json_decref(lines);
    pol_decision_fini(&d);
    pol_policy_free(pol);
    pol_cands_free(cands);
    if (have_cfg)
        nph_config_fini(&cfg);
    free(ctext);
    free(ptext);
    free(rtext);
    return ret;
}
