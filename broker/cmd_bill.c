/*
 * cmd_bill.c - `nephele bill --config C [--events F.jsonl] --from T --to T [--group-by LIST]
 * [--currency CUR] [--format json|csv|html] [--output FILE]`: rates usage with the prices of
 * the configuration and prints the bill (docs/billing.md). With --events it rates that
 * JSON-lines file offline, without a store or a broker; otherwise it reads the ledger of the
 * configuration's store. Every input error names the file and the line.
 */
#include "cmd_bill.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_usage.h"
#include "nph_clock.h"
#include "pol_rate.h"
#include "pol_time.h"
#include "pol_yaml.h"

#define BILL_MAX_FILE ((size_t)1 << 30)

static const char bill_usage[] =
    "usage: nephele bill --config CONFIG.yaml [--events FILE.jsonl] --from TIME --to TIME\n"
    "                    [--group-by FIELDS] [--currency CUR] [--format json|csv|html]\n"
    "                    [--output FILE] [--data-dir DIR]\n"
    "\nRate usage over [FROM, TO) with the price catalog of the configuration (clouds[].offerings\n"
    "prices, clouds[].prices, clouds[].billing, exchange_rates) and print one bill across all\n"
    "clouds. With --events the JSON-lines file is rated offline; without it the ledger of the\n"
    "configured store is read (intervals still open end at the earlier of TO and now). Lines\n"
    "are rounded half-even to the currency's minor unit and the total is their sum. Exit status\n"
    "0, 2 on bad input (the message names the file and line), 1 on a store failure.\n"
    "See docs/billing.md.\n\noptions:\n"
    "  -c, --config FILE    the broker's configuration (prices, currency, exchange_rates)\n"
    "  -e, --events FILE    rate this JSON-lines file (`nephele usage export` format) offline\n"
    "      --from TIME      YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ\n"
    "      --to TIME        end of the period, exclusive\n"
    "  -g, --group-by F     comma-separated: project, cloud, region, resource_type, offering\n"
    "                       (default project,cloud; resource_type is always a line key)\n"
    "      --currency CUR   report currency (default: the configuration's `currency`, EUR)\n"
    "  -f, --format F       json (default), csv or html\n"
    "  -o, --output FILE    write there instead of standard output\n"
    "  -d, --data-dir DIR   data directory (for the default SQLite store)\n"
    "  -h, --help           this text\n";

int bill_render(const struct pol_bill *b, const char *format, char **out, size_t *len,
                struct nph_error *err)
{
    char *s = NULL;
    if (!strcmp(format, "json")) {
        json_t *j = pol_bill_to_json(b);
        s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (s) {
            size_t n = strlen(s);
            char *t = realloc(s, n + 2);
            if (!t) {
                free(s);
                return nph_error_nomem(err);
            }
            s = t;
            s[n] = '\n';
            s[n + 1] = '\0';
        }
    } else if (!strcmp(format, "csv")) {
        s = pol_bill_to_csv(b);
    } else if (!strcmp(format, "html")) {
        s = pol_bill_to_html(b);
    } else {
        return nph_error_set(err, NPH_E_INVALID, "format '%.32s' is not json, csv or html", format);
    }
    if (!s)
        return nph_error_nomem(err);
    *out = s;
    *len = strlen(s);
    return 0;
}

static void bill_err(const struct nph_error *err)
{
    fprintf(stderr, "nephele bill: %s%s%s\n", err->msg, err->detail[0] ? ": " : "", err->detail);
}

int cmd_bill(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"events", required_argument, NULL, 'e'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"group-by", required_argument, NULL, 'g'},
        {"currency", required_argument, NULL, 'C'},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *events = NULL, *from_s = NULL, *to_s = NULL;
    const char *group = "project,cloud", *currency = NULL, *format = "json", *output = NULL;
    const char *data_dir = NULL;
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_config cfg;
    int have_cfg = 0, c, rc = 2;
    char *ctext = NULL, *etext = NULL, *doc = NULL;
    size_t clen = 0, elen = 0, dlen = 0;
    json_t *lines = NULL;
    struct pol_catalog *cat = NULL;
    struct pol_uevents ev;
    struct pol_usamples samples = {0}; /* sample lines of --events: read, not rated */
    struct pol_bill *bill = NULL;
    struct pol_bill_query q;
    struct nph_store *store = NULL;
    struct nph_db *db = NULL;
    memset(&q, 0, sizeof(q));
    pol_uevents_init(&ev);
    ev.samples = &samples;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:e:g:f:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'e':
            events = optarg;
            break;
        case 'F':
            from_s = optarg;
            break;
        case 'T':
            to_s = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'C':
            currency = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'h':
            fputs(bill_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "nephele bill: unknown or incomplete option '%s'\n%s", argv[optind - 1],
                    bill_usage);
            return 2;
        }
    }
    if (optind < argc || !config || !from_s || !to_s) {
        fprintf(stderr, "nephele bill: %s\n%s",
                optind < argc ? "unexpected argument" : "--config, --from and --to are required",
                bill_usage);
        return 2;
    }
    if (pol_time_parse(from_s, &q.from) || pol_time_parse(to_s, &q.to) || q.to <= q.from) {
        fprintf(stderr, "nephele bill: --from and --to must be YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM:SSZ, --to after --from\n");
        return 2;
    }
    if (strcmp(format, "json") && strcmp(format, "csv") && strcmp(format, "html")) {
        fprintf(stderr, "nephele bill: --format must be json, csv or html\n");
        return 2;
    }
    q.currency = currency;
    q.open_end = q.to;
    if (pol_group_parse(group, &q.group_by, &err))
        goto fail;
    /* The configuration: the broker's loader (store, sections), then the catalog with lines. */
    if (usage_load_config(&cfg, config, data_dir, &err))
        goto fail;
    have_cfg = 1;
    if (!(ctext = usage_read_file(config, BILL_MAX_FILE, &clen, &err)))
        goto fail;
    lines = pol_yaml_lines(ctext, clen);
    if (!(cat = pol_catalog_from_config(cfg.sections, lines, config, &err)))
        goto fail;
    if (events) {
        if (!(etext = usage_read_file(events, BILL_MAX_FILE, &elen, &err)) ||
            pol_uevents_parse(&ev, events, etext, elen, &err))
            goto fail;
    } else {
        int64_t now = nph_clock_now() / NPH_USEC_PER_SEC;
        rc = 1;
        if (usage_open_store(&cfg, &store, &err) || !(db = nph_store_acquire(store, &err)))
            goto fail;
        if (now < q.open_end)
            q.open_end = now;
        rc = 2;
        /* PostgreSQL: aggregated in SQL; SQLite: the events rated in memory */
        if (usage_bill(db, cat, &q, NULL, &bill, &err)) {
            rc = err.code == NPH_E_INVALID ? 2 : 1;
            goto fail;
        }
    }
    if (!bill && pol_bill_rate(cat, &ev, &q, &bill, &err))
        goto fail;
    rc = 1;
    if (bill_render(bill, format, &doc, &dlen, &err))
        goto fail;
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        nph_error_set(&err, NPH_E_IO, "%s: cannot open: %s", output, strerror(errno));
        goto fail;
    }
    size_t w = fwrite(doc, 1, dlen, out);
    int ferr = fflush(out) || ferror(out) || w != dlen;
    if (output)
        ferr |= fclose(out) != 0;
    if (ferr) {
        nph_error_set(&err, NPH_E_IO, "writing the bill failed: %s", strerror(errno));
        goto fail;
    }
    rc = 0;
    goto cleanup;
fail:
    bill_err(&err);
cleanup:
    free(doc);
    pol_bill_free(bill);
    nph_store_release(db);
    nph_store_close(store);
    pol_uevents_fini(&ev);
    pol_usamples_fini(&samples);
    pol_catalog_free(cat);
    json_decref(lines);
    free(etext);
    free(ctext);
    if (have_cfg)
        nph_config_fini(&cfg);
    return rc;
}
