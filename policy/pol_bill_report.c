/*
 * pol_bill_report.c - a rated bill (pol_rate.h) as JSON, CSV and one self-contained HTML page
 * with inline SVG charts. Chart geometry is integer arithmetic on micro-units (no floating
 * point touches money); amounts shown are the lines' rounded amounts, chart cells and daily
 * points are rounded for display only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol_money.h"
#include "pol_rate.h"
#include "pol_time.h"

/* ---- JSON --------------------------------------------------------------------------------- */

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

json_t *pol_bill_to_json(const struct pol_bill *b)
{
    char buf[64], qty[64];
    json_t *o = json_object(), *lines = json_array();
    if (!o || !lines)
        goto fail;
    if (set_str(o, "from", pol_time_format(b->from, buf, sizeof(buf))) ||
        set_str(o, "to", pol_time_format(b->to, buf, sizeof(buf))) ||
        set_str(o, "currency", b->currency) ||
        set_str(o, "total", pol_money_format(b->total, b->digits, buf, sizeof(buf))))
        goto fail;
    for (size_t i = 0; i < b->nlines; i++) {
        const struct pol_bill_line *l = &b->lines[i];
        json_t *j = json_object();
        if (!j || json_array_append_new(lines, j) ||
            ((b->group_by & POL_G_PROJECT) && set_str(j, "project", l->project)) ||
            ((b->group_by & POL_G_CLOUD) && set_str(j, "cloud", l->cloud)) ||
            ((b->group_by & POL_G_REGION) && set_str(j, "region", l->region)) ||
            set_str(j, "resource_type", pol_rtype_name(l->type)) ||
            ((b->group_by & POL_G_OFFERING) && set_str(j, "offering", l->offering)) ||
            set_str(j, "quantity", pol_bill_quantity(l, qty, sizeof(qty))) ||
            set_str(j, "unit", pol_bill_unit(l->type)) ||
            set_str(j, "amount", pol_money_format(l->amount, b->digits, buf, sizeof(buf))))
            goto fail;
    }
    if (json_object_set_new(o, "lines", lines) == 0)
        return o;
    lines = NULL;
fail:
    json_decref(lines);
    json_decref(o);
    return NULL;
}

/* ---- a string builder --------------------------------------------------------------------- */

struct sb {
    char *s;
    size_t n, cap;
    int failed;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int need;
    if (b->failed)
        return;
    va_start(ap, fmt);
    need = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->failed = 1;
        return;
    }
    if (!b->s || b->n + (size_t)need + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + (size_t)need + 1)
            nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
        va_start(ap, fmt);
        vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)need;
}

static char *sb_done(struct sb *b)
{
    if (b->failed || !b->s) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void csv_field(struct sb *b, const char *v, int last)
{
    if (v && strpbrk(v, ",\"\r\n")) {
        sb_add(b, "\"");
        for (const char *p = v; *p; p++)
            if (*p == '"')
                sb_add(b, "\"\"");
            else
                sb_add(b, "%c", *p);
        sb_add(b, "\"");
    } else {
        sb_add(b, "%s", v ? v : "");
    }
    sb_add(b, last ? "\r\n" : ",");
}

char *pol_bill_to_csv(const struct pol_bill *b)
{
    struct sb s = {0};
    char buf[64], qty[64];
    unsigned m = b->group_by;
    if (m & POL_G_PROJECT)
        sb_add(&s, "project,");
    if (m & POL_G_CLOUD)
        sb_add(&s, "cloud,");
    if (m & POL_G_REGION)
        sb_add(&s, "region,");
    sb_add(&s, "resource_type,");
    if (m & POL_G_OFFERING)
        sb_add(&s, "offering,");
    sb_add(&s, "quantity,unit,amount,currency\r\n");
    for (size_t i = 0; i < b->nlines; i++) {
        const struct pol_bill_line *l = &b->lines[i];
        if (m & POL_G_PROJECT)
            csv_field(&s, l->project, 0);
        if (m & POL_G_CLOUD)
            csv_field(&s, l->cloud, 0);
        if (m & POL_G_REGION)
            csv_field(&s, l->region, 0);
        csv_field(&s, pol_rtype_name(l->type), 0);
        if (m & POL_G_OFFERING)
            csv_field(&s, l->offering, 0);
        csv_field(&s, pol_bill_quantity(l, qty, sizeof(qty)), 0);
        csv_field(&s, pol_bill_unit(l->type), 0);
        csv_field(&s, pol_money_format(l->amount, b->digits, buf, sizeof(buf)), 0);
        csv_field(&s, b->currency, 1);
    }
    return sb_done(&s);
}

/* ---- HTML --------------------------------------------------------------------------------- */

static const char *const type_colors[] = {"#4e79a7", "#f28e2b", "#59a14f"};

static void html_esc(struct sb *b, const char *v)
{
    for (const char *p = v ? v : "-"; *p; p++) {
        switch (*p) {
        case '<':
            sb_add(b, "&lt;");
            break;
        case '>':
            sb_add(b, "&gt;");
            break;
        case '&':
            sb_add(b, "&amp;");
            break;
        case '"':
            sb_add(b, "&quot;");
            break;
        case '\'':
            sb_add(b, "&#39;");
            break;
        default:
            sb_add(b, "%c", *p);
        }
    }
}

/* v scaled to [0, px] against max, in integers. */
static int64_t scale(int64_t v, int64_t max, int64_t px)
{
    int64_t out = 0;
    if (max <= 0 || v <= 0)
        return 0;
    pol_muldiv(v, px, max, &out);
    return out;
}

/* A horizontal stacked bar chart: one bar per key, segments per resource type. */
static void html_bars(struct sb *s, const struct pol_bill *b, const char *title,
                      const struct pol_bill_cell *c, size_t n)
{
    enum { LABEL = 160, WIDTH = 440, BAR = 22, GAP = 8 };
    int64_t max = 0, sum = 0;
    size_t bars = 0;
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        sum += c[i].raw;
        if (i + 1 == n || strcmp(c[i].key, c[i + 1].key)) {
            if (sum > max)
                max = sum;
            sum = 0;
            bars++;
        }
    }
    sb_add(s,
           "<h2>%s</h2>\n<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
           "height=\"%zu\" role=\"img\">\n",
           title, LABEL + WIDTH + 110, bars * (BAR + GAP) + GAP);
    size_t row = 0;
    int64_t x = 0;
    sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t y = (int64_t)(row * (BAR + GAP) + GAP);
        int64_t w = scale(c[i].raw, max, WIDTH);
        if (x == 0) {
            sb_add(s, "<text x=\"0\" y=\"%lld\" class=\"lbl\">", (long long)(y + BAR - 6));
            html_esc(s, c[i].key);
            sb_add(s, "</text>\n");
        }
        sb_add(s,
               "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"%d\" fill=\"%s\">"
               "<title>",
               (long long)(LABEL + x), (long long)y, (long long)w, BAR, type_colors[c[i].type]);
        html_esc(s, c[i].key);
        sb_add(s, " %s %s %s</title></rect>\n", pol_rtype_name(c[i].type),
               pol_money_format(c[i].raw, b->digits, buf, sizeof(buf)), b->currency);
        x += w;
        sum += c[i].raw;
        if (i + 1 == n || strcmp(c[i].key, c[i + 1].key)) {
            sb_add(s, "<text x=\"%lld\" y=\"%lld\" class=\"val\">%s</text>\n",
                   (long long)(LABEL + x + 6), (long long)(y + BAR - 6),
                   pol_money_format(sum, b->digits, buf, sizeof(buf)));
            x = 0;
            sum = 0;
            row++;
        }
    }
    sb_add(s, "</svg>\n");
}

static void html_daily(struct sb *s, const struct pol_bill *b)
{
    enum { LEFT = 70, WIDTH = 640, HEIGHT = 180, TOP = 10 };
    int64_t max = 0;
    char buf[64], d1[16], d2[16];
    for (size_t i = 0; i < b->ndays; i++)
        if (b->daily[i] > max)
            max = b->daily[i];
    sb_add(s,
           "<h2>Daily cost</h2>\n<svg class=\"daily\" xmlns=\"http://www.w3.org/2000/svg\" "
           "width=\"%d\" height=\"%d\" role=\"img\">\n"
           "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n"
           "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n"
           "<text x=\"0\" y=\"%d\" class=\"val\">%s</text>\n"
           "<text x=\"0\" y=\"%d\" class=\"val\">0</text>\n<polyline fill=\"none\" "
           "stroke=\"#e15759\" stroke-width=\"2\" points=\"",
           LEFT + WIDTH + 20, HEIGHT + TOP + 30, LEFT, TOP, LEFT, TOP + HEIGHT, LEFT, TOP + HEIGHT,
           LEFT + WIDTH, TOP + HEIGHT, TOP + 10, pol_money_format(max, b->digits, buf, sizeof(buf)),
           TOP + HEIGHT);
    for (size_t i = 0; i < b->ndays; i++) {
        int64_t x = LEFT + (b->ndays > 1 ? (int64_t)i * WIDTH / (int64_t)(b->ndays - 1) : 0);
        int64_t y = TOP + HEIGHT - scale(b->daily[i], max, HEIGHT);
        sb_add(s, "%s%lld,%lld", i ? " " : "", (long long)x, (long long)y);
    }
    sb_add(s, "\"/>\n");
    for (size_t i = 0; i < b->ndays; i++) {
        int64_t x = LEFT + (b->ndays > 1 ? (int64_t)i * WIDTH / (int64_t)(b->ndays - 1) : 0);
        int64_t y = TOP + HEIGHT - scale(b->daily[i], max, HEIGHT);
        sb_add(s,
               "<circle cx=\"%lld\" cy=\"%lld\" r=\"2.5\" fill=\"#e15759\"><title>%s: %s %s"
               "</title></circle>\n",
               (long long)x, (long long)y,
               pol_date_format(b->from + (int64_t)i * POL_DAY, d1, sizeof(d1)),
               pol_money_format(b->daily[i], b->digits, buf, sizeof(buf)), b->currency);
    }
    sb_add(s,
           "<text x=\"%d\" y=\"%d\" class=\"val\">%s</text>\n<text x=\"%d\" y=\"%d\" "
           "class=\"val\" text-anchor=\"end\">%s</text>\n</svg>\n",
           LEFT, TOP + HEIGHT + 20, pol_date_format(b->from, d1, sizeof(d1)), LEFT + WIDTH,
           TOP + HEIGHT + 20, pol_date_format(b->to - 1, d2, sizeof(d2)));
}

char *pol_bill_to_html(const struct pol_bill *b)
{
    struct sb s = {0};
    char from[32], to[32], total[64], buf[64], qty[64];
    unsigned m = b->group_by;
    pol_time_format(b->from, from, sizeof(from));
    pol_time_format(b->to, to, sizeof(to));
    pol_money_format(b->total, b->digits, total, sizeof(total));
    sb_add(&s,
           "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<title>Nephele bill %s to %s</title>\n<style>\n"
           "body{font-family:sans-serif;margin:2em;color:#222}\n"
           "table{border-collapse:collapse;margin-top:1em}\n"
           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
           "td.num,th.num{text-align:right}\n.lbl,.val{font-size:12px}\n"
           ".total{font-size:1.6em;font-weight:bold}\n"
           ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}\n"
           "@media print{body{margin:0}}\n</style>\n</head>\n<body>\n"
           "<h1>Bill</h1>\n<p>Period %s to %s (UTC), currency %s</p>\n"
           "<p class=\"total\">Total: <span id=\"total\">%s</span> %s</p>\n"
           "<p class=\"legend\">",
           from, to, from, to, b->currency, total, b->currency);
    for (int t = 0; t < 3; t++)
        sb_add(&s, "<span style=\"background:%s\"></span>%s", type_colors[t],
               pol_rtype_name((enum pol_rtype)t));
    sb_add(&s, "</p>\n");
    html_bars(&s, b, "Cost per cloud", b->by_cloud, b->nby_cloud);
    html_bars(&s, b, "Cost per project", b->by_project, b->nby_project);
    html_daily(&s, b);
    sb_add(&s, "<h2>Lines</h2>\n<table>\n<tr>");
    if (m & POL_G_PROJECT)
        sb_add(&s, "<th>project</th>");
    if (m & POL_G_CLOUD)
        sb_add(&s, "<th>cloud</th>");
    if (m & POL_G_REGION)
        sb_add(&s, "<th>region</th>");
    sb_add(&s, "<th>resource type</th>");
    if (m & POL_G_OFFERING)
        sb_add(&s, "<th>offering</th>");
    sb_add(&s, "<th class=\"num\">quantity</th><th>unit</th><th class=\"num\">amount</th></tr>\n");
    for (size_t i = 0; i < b->nlines; i++) {
        const struct pol_bill_line *l = &b->lines[i];
        const char *cols[4] = {l->project, l->cloud, l->region, NULL};
        sb_add(&s, "<tr>");
        for (int k = 0; k < 3; k++)
            if (m & (1u << k)) {
                sb_add(&s, "<td>");
                html_esc(&s, cols[k]);
                sb_add(&s, "</td>");
            }
        sb_add(&s, "<td>%s</td>", pol_rtype_name(l->type));
        if (m & POL_G_OFFERING) {
            sb_add(&s, "<td>");
            html_esc(&s, l->offering);
            sb_add(&s, "</td>");
        }
        sb_add(&s, "<td class=\"num\">%s</td><td>%s</td><td class=\"num\">%s</td></tr>\n",
               pol_bill_quantity(l, qty, sizeof(qty)), pol_bill_unit(l->type),
               pol_money_format(l->amount, b->digits, buf, sizeof(buf)));
    }
    sb_add(&s, "<tr><th colspan=\"%d\">total</th><th class=\"num\">%s</th></tr>\n</table>\n",
           3 + !!(m & POL_G_PROJECT) + !!(m & POL_G_CLOUD) + !!(m & POL_G_REGION) +
               !!(m & POL_G_OFFERING),
           total);
    sb_add(&s, "</body>\n</html>\n");
    return sb_done(&s);
}
