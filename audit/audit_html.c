/*
 * audit_html.c: the report as one self-contained HTML page for people who
 * are not engineers: plain titles, a sentence under each figure saying
 * what it shows, bar charts drawn as inline SVG, tables with every row.
 * No scripts, no external files.
 *
 * Everything from the log goes through html_put(), which escapes markup
 * characters and replaces what XML may not contain (control characters,
 * invalid UTF-8, U+FFFE/U+FFFF), so the page is well-formed XML as well
 * as HTML.  Elements holding figures carry ids (n-delivered, pct-encrypted
 * ...) and tables ids (trend, by-domain, by-sender, unencrypted, no-cert,
 * enrolled, decrypted, failures; the trend chart: trend-chart) so that
 * tests and scripts can find them.
 *
 * It takes the report's view (audit_view.h): rows sorted, trend made.
 *
 * Threads: works on the caller's view and stream only.
 */
#include "audit/audit_html.h"
#include "audit/audit_int.h"
#include "audit/audit_map.h"
#include "audit/audit_utf8.h"
#include "audit/audit_view.h"

#include <stdlib.h>
#include <string.h>

#define CHART_ROWS 15       /* bars per chart; the tables have every row */
#define CHART_W    640
#define LABEL_W    250
#define BAR_W      330      /* 100 % */
#define LABEL_MAX  36       /* characters of a label in a chart */

static const char CSS[] =
	"body{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em;"
	"color:#222;line-height:1.45}"
	"h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:"
	"1px solid #ccc}.period{color:#555}"
	".integrity{padding:.6em 1em;border-radius:4px;margin:1em 0}"
	".ok{background:#e6f4ea;border:1px solid #7bb58a}"
	".bad{background:#fde8e8;border:1px solid #d46a6a;font-weight:bold}"
	".unknown{background:#f3f3f3;border:1px solid #bbb}"
	".figures{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}"
	".figure{flex:1 1 10em;border:1px solid #ddd;border-radius:4px;padding:.6em}"
	".num{display:block;font-size:1.8em;font-weight:bold}"
	".explain{color:#444}table{border-collapse:collapse;width:100%;margin:1em 0}"
	"th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #eee;"
	"word-break:break-all}td.n,th.n{text-align:right;word-break:normal}"
	".legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;"
	"vertical-align:middle}";

/* ---- escaping ---- */

/* s as HTML/XML text: markup escaped; controls, invalid UTF-8 and the
 * non-characters U+FFFE/U+FFFF replaced; at most max characters (0: all),
 * then an ellipsis. */
static void
html_put_n(FILE *out, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, k, chars = 0;

	while (i < n) {
		if (max && chars++ == max) {
			fputs("\xE2\x80\xA6", out);
			return;
		}
		k = audit_utf8_seq(s + i, n - i);
		if (k == 0 || (k == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] >= 0xBE))
			fputs("\xEF\xBF\xBD", out);
		else if (s[i] == '&')
			fputs("&amp;", out);
		else if (s[i] == '<')
			fputs("&lt;", out);
		else if (s[i] == '>')
			fputs("&gt;", out);
		else if (s[i] == '"')
			fputs("&quot;", out);
		else if (s[i] == '\'')
			fputs("&#39;", out);
		else if (s[i] < 0x20 || s[i] == 0x7f)
			fprintf(out, "&#x%x;", 0x2400 + (s[i] == 0x7f ? 0x21 : s[i]));
		else
			fwrite(s + i, 1, k, out);
		i += k ? k : 1;
	}
}

static void
html_put(FILE *out, const char *s)
{
	html_put_n(out, s, 0);
}

static void
human_time(time_t t, const char *none, char *out, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, len, "%s", none);
}

/* ---- charts ---- */

typedef struct bar {
	const char *label;
	uint64_t value[2];      /* one or two series */
	uint64_t of;            /* 0: value is a count scaled to max */
} bar_t;

static void
svg_bar(FILE *out, int x, int y, int w, int h, const char *color,
    const char *label, const char *what)
{
	fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
	    "<title>", x, y, w, h, color);
	html_put(out, label);
	fprintf(out, ": %s</title></rect>\n", what);
}

/* A horizontal bar chart: per row a label and one or two bars. */
static void
svg_chart(FILE *out, const char *title, const bar_t *bars, size_t n,
    int series)
{
	static const char *const colors[2] = { "#1f5fa8", "#8cb8e6" };
	int rowh = series == 2 ? 26 : 20, y, w, s;
	uint64_t max = 1;
	char what[64], pct[16];
	size_t i;

	for (i = 0; i < n; i++)
		if (bars[i].of == 0 && bars[i].value[0] > max)
			max = bars[i].value[0];
	fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	    "width=\"100%%\" role=\"img\" aria-label=\"", CHART_W, (int)n * rowh + 10);
	html_put(out, title);
	fputs("\" font-family=\"sans-serif\" font-size=\"12\">\n", out);
	for (i = 0; i < n; i++) {
		y = 5 + (int)i * rowh;
		fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_W - 8,
		    y + rowh / 2 + 3);
		html_put_n(out, bars[i].label, LABEL_MAX);
		fputs("</text>\n", out);
		for (s = 0; s < series; s++) {
			uint64_t den = bars[i].of ? bars[i].of : max;
			w = (int)(bars[i].value[s] * BAR_W / (den ? den : 1));
			audit_pct(bars[i].value[s], bars[i].of, pct, sizeof(pct));
			if (bars[i].of)
				snprintf(what, sizeof(what), "%s%%", pct);
			else
				snprintf(what, sizeof(what), "%llu",
				    (unsigned long long)bars[i].value[s]);
			svg_bar(out, LABEL_W, y + 2 + s * 11, w > 0 ? w : 1,
			    series == 2 ? 10 : 14, colors[s], bars[i].label, what);
			fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>\n",
			    LABEL_W + (w > 0 ? w : 1) + 4, y + 11 + s * 11, what);
		}
	}
	fputs("</svg>\n", out);
}

/* The encrypted and signed share per day or week as columns,
 * two per point, 0 to 100 % high; a label under every few points. */
#define TREND_H     160     /* 100 % */
#define TREND_LEFT  40
static void
svg_trend(FILE *out, const audit_trend_point_t *p, size_t n, const char *unit)
{
	static const char *const colors[2] = { "#1f5fa8", "#8cb8e6" };
	static const char *const names[2] = { "encrypted", "signed" };
	int slot = n ? (CHART_W - TREND_LEFT - 10) / (int)n : 0, bw, every;
	char pct[16];

	slot = slot < 4 ? 4 : slot > 60 ? 60 : slot;
	bw = slot / 2 - 1 > 0 ? slot / 2 - 1 : 1;
	every = 70 / slot + 1;
	fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"trend-chart\" "
	    "viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" aria-label=\"Share of "
	    "outgoing mail encrypted and signed per %s\" font-family=\"sans-serif\" "
	    "font-size=\"11\">\n", TREND_LEFT + (int)n * slot + 10, TREND_H + 40, unit);
	for (int g = 0; g <= 100; g += 50)
		fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>"
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d%%</text>\n", TREND_LEFT,
		    10 + TREND_H - g * TREND_H / 100, TREND_LEFT + (int)n * slot,
		    10 + TREND_H - g * TREND_H / 100, TREND_LEFT - 4,
		    14 + TREND_H - g * TREND_H / 100, g);
	for (size_t i = 0; i < n; i++) {
		int x = TREND_LEFT + (int)i * slot;

		for (int s = 0; s < 2; s++) {
			uint64_t v = p[i].n[s == 0 ? M_ENC : M_SIGNED];
			int h = p[i].n[M_TOTAL] ? (int)(v * TREND_H / p[i].n[M_TOTAL]) : 0;

			audit_pct(v, p[i].n[M_TOTAL], pct, sizeof(pct));
			fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			    "fill=\"%s\"><title>%s %s: %s%% %s (%llu of %llu)</title></rect>\n",
			    x + 1 + s * (bw + 1), 10 + TREND_H - h, bw, h > 0 ? h : 1, colors[s],
			    unit, p[i].start, pct, names[s], (unsigned long long)v,
			    (unsigned long long)p[i].n[M_TOTAL]);
		}
		if (i % (size_t)every == 0)
			fprintf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", x, TREND_H + 28,
			    p[i].start);
	}
	fputs("</svg>\n", out);
}

static void
legend(FILE *out, const char *a, const char *b)
{
	fprintf(out, "<p class=\"legend\"><span style=\"background:#1f5fa8\"></span>%s"
	    "<span style=\"background:#8cb8e6\"></span>%s</p>\n", a, b);
}

/* ---- sections ---- */

/* A box with a big figure and a line under it; a second, smaller figure
 * (id2, NULL for none) in brackets after the label. */
static void
figure(FILE *out, const char *id, const char *value, const char *label,
    const char *id2, uint64_t n2)
{
	fprintf(out, "<div class=\"figure\"><span class=\"num\" id=\"%s\">%s</span>%s",
	    id, value, label);
	if (id2 != NULL)
		fprintf(out, " (<span id=\"%s\">%llu</span>)", id2, (unsigned long long)n2);
	fputs("</div>\n", out);
}

static void
figure_n(FILE *out, const char *id, uint64_t n, const char *label)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
	figure(out, id, v, label, NULL, 0);
}

static void
figure_pct(FILE *out, const char *id, uint64_t n, uint64_t of, const char *label,
    const char *id_n)
{
	char pct[16], v[24];

	audit_pct(n, of, pct, sizeof(pct));
	snprintf(v, sizeof(v), "%s%%", pct);
	figure(out, id, v, label, id_n, n);
}

static void
head(const audit_report_data_t *d, time_t gen, FILE *out)
{
	char a[40], b[40], g[40];

	human_time(d->since, "the first record", a, sizeof(a));
	human_time(d->until, "the last record", b, sizeof(b));
	human_time(gen, "now", g, sizeof(g));
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\"/>\n<title>Mail protection report, %s to %s</title>\n"
	    "<style>%s</style>\n</head>\n<body>\n"
	    "<h1>How our e-mail was protected</h1>\n"
	    "<p class=\"period\">From <strong>%s</strong> to <strong>%s</strong>. "
	    "Produced %s from the mail gateway&#8217;s audit log.</p>\n",
	    a, b, CSS, a, b, g);
	if (!d->has_integrity) {
		fputs("<div class=\"integrity unknown\" id=\"integrity\">The audit log was "
		    "not checked for changes when this report was made.</div>\n", out);
		return;
	}
	fprintf(out, "<div class=\"integrity %s\" id=\"integrity\">%s", d->integrity_ok ?
	    "ok" : "bad", d->integrity_ok ? "Log check passed: " :
	    "Warning: the audit log may have been changed. ");
	html_put(out, d->integrity);
	fputs("</div>\n", out);
}

static void
summary(const audit_report_data_t *d, FILE *out)
{
	const audit_totals_t *t = &d->t;
	bar_t bars[3] = {
		{ "Encrypted", { t->out_encrypted, 0 }, t->out_delivered },
		{ "Signed", { t->out_signed, 0 }, t->out_delivered },
		{ "Neither", { t->out_clear, 0 }, t->out_delivered },
	};

	fputs("<h2>Summary</h2>\n<p class=\"explain\">Every message leaving the "
	    "company passes the gateway.  <em>Encrypted</em> means only the "
	    "recipient can read it; <em>signed</em> means the recipient can check "
	    "it really came from us and was not altered.  A message to three "
	    "people counts three times.</p>\n<div class=\"figures\">\n", out);
	figure_n(out, "n-delivered", t->out_delivered, "messages sent out");
	figure_pct(out, "pct-encrypted", t->out_encrypted, t->out_delivered,
	    "were encrypted", "n-encrypted");
	figure_pct(out, "pct-signed", t->out_signed, t->out_delivered,
	    "were signed", "n-signed");
	figure_pct(out, "pct-clear", t->out_clear, t->out_delivered,
	    "were neither", "n-clear");
	fputs("</div>\n<div class=\"figures\">\n", out);
	figure_n(out, "n-no-cert", t->no_cert, "could not be encrypted because we "
	    "have no certificate for the recipient");
	figure_n(out, "n-failures", t->failures, "were held back, refused or delayed "
	    "(see Failures below)");
	figure_n(out, "n-internal", t->out_internal, "went to colleagues (signed only: "
	    "mail between colleagues is never encrypted)");
	fprintf(out, "</div>\n<p class=\"explain\"><span id=\"n-both\">%llu</span> "
	    "messages were both signed and encrypted.</p>\n",
	    (unsigned long long)t->out_both);
	svg_chart(out, "Share of outgoing mail encrypted, signed, or neither",
	    bars, 3, 1);
}

/* Rows of a share table and the chart of its first CHART_ROWS. */
static void
shares(const audit_rows_t *r, const char *id, const char *title,
    const char *who, const char *explain, FILE *out)
{
	audit_map_item_t *const *v = r->v, *const *it;
	size_t n = r->n, i, nb = n < CHART_ROWS ? n : CHART_ROWS;
	bar_t bars[CHART_ROWS];
	char pe[16], ps[16];

	fprintf(out, "<h2>%s</h2>\n<p class=\"explain\">%s</p>\n", title, explain);
	for (i = 0; i < nb; i++)
		bars[i] = (bar_t){ v[i]->key, { v[i]->n[M_ENC], v[i]->n[M_SIGNED] },
		    v[i]->n[M_TOTAL] };
	if (nb > 0) {
		legend(out, "encrypted", "signed");
		svg_chart(out, title, bars, nb, 2);
	}
	fprintf(out, "<table id=\"%s\">\n<thead><tr><th>%s</th><th class=\"n\">messages"
	    "</th><th class=\"n\">encrypted</th><th class=\"n\">%%</th><th class=\"n\">"
	    "signed</th><th class=\"n\">%%</th></tr></thead>\n<tbody>\n", id, who);
	for (i = 0, it = v; i < n; i++, it++) {
		audit_pct((*it)->n[M_ENC], (*it)->n[M_TOTAL], pe, sizeof(pe));
		audit_pct((*it)->n[M_SIGNED], (*it)->n[M_TOTAL], ps, sizeof(ps));
		fputs("<tr><td>", out);
		html_put(out, (*it)->key);
		fprintf(out, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
		    "<td class=\"n\">%s</td><td class=\"n\">%llu</td><td class=\"n\">%s"
		    "</td></tr>\n", (unsigned long long)(*it)->n[M_TOTAL],
		    (unsigned long long)(*it)->n[M_ENC], pe,
		    (unsigned long long)(*it)->n[M_SIGNED], ps);
	}
	fputs("</tbody>\n</table>\n", out);
}

/* The trend chart and its table (id "trend"). */
static void
trend(const audit_view_t *v, FILE *out)
{
	const audit_trend_point_t *p = v->trend;
	const char *unit = v->unit;
	char pe[16], ps[16];
	size_t n = v->ntrend;

	fprintf(out, "<h2>The trend</h2>\n<p class=\"explain\">The share of outgoing "
	    "mail that was encrypted (dark) and signed (light), per %s over the "
	    "period, so that a change is seen at a glance.</p>\n", unit);
	if (n > 0) {
		legend(out, "encrypted", "signed");
		svg_trend(out, p, n, unit);
	}
	fprintf(out, "<table id=\"trend\">\n<thead><tr><th>%s</th><th class=\"n\">"
	    "messages</th><th class=\"n\">encrypted %%</th><th class=\"n\">signed %%"
	    "</th></tr></thead>\n<tbody>\n", strcmp(unit, "week") == 0 ? "week of" : "day");
	for (size_t i = 0; i < n; i++) {
		audit_pct(p[i].n[M_ENC], p[i].n[M_TOTAL], pe, sizeof(pe));
		audit_pct(p[i].n[M_SIGNED], p[i].n[M_TOTAL], ps, sizeof(ps));
		fprintf(out, "<tr><td>%s</td><td class=\"n\">%llu</td><td class=\"n\">%s</td>"
		    "<td class=\"n\">%s</td></tr>\n", p[i].start,
		    (unsigned long long)p[i].n[M_TOTAL], pe, ps);
	}
	if (n == 0)
		fputs("<tr><td colspan=\"4\">None in this period.</td></tr>\n", out);
	fputs("</tbody>\n</table>\n", out);
}

/* The recipient domains most often sent mail unencrypted (table id
 * "unencrypted"), colleagues left out. */
static void
unencrypted(const audit_rows_t *r, FILE *out)
{
	audit_map_item_t *const *v = r->v;
	char pu[16];

	fputs("<h2>Who most often got our mail unencrypted</h2>\n<p class=\"explain\">"
	    "The organisations (by mail domain) whose people most often received our "
	    "mail without encryption, and how often that was because we hold no "
	    "certificate for the recipient: the people to ask for one.  Mail between "
	    "colleagues is left out (it never leaves the company).</p>\n"
	    "<table id=\"unencrypted\">\n<thead><tr><th>domain</th><th class=\"n\">"
	    "unencrypted</th><th class=\"n\">no certificate</th><th class=\"n\">"
	    "% of its mail</th></tr></thead>\n<tbody>\n", out);
	for (size_t i = 0; i < r->n; i++) {
		audit_pct(v[i]->n[U_UNENC], v[i]->n[U_TOTAL], pu, sizeof(pu));
		fputs("<tr><td>", out);
		html_put(out, v[i]->key);
		fprintf(out, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
		    "<td class=\"n\">%s</td></tr>\n", (unsigned long long)v[i]->n[U_UNENC],
		    (unsigned long long)v[i]->n[U_NO_CERT], pu);
	}
	if (r->n == 0)
		fputs("<tr><td colspan=\"4\">None in this period.</td></tr>\n", out);
	fputs("</tbody>\n</table>\n", out);
}

/* The chart of the first n failures, labelled "action: reason". */
static int
failure_chart(audit_map_item_t *const *v, size_t n, const char *title, FILE *out)
{
	char *labels[CHART_ROWS] = { NULL };
	bar_t bars[CHART_ROWS] = { { NULL, { 0, 0 }, 0 } };
	const char *sep;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		sep = strchr(v[i]->key, '\x1f');
		if (asprintf(&labels[i], "%.*s: %s", sep ? (int)(sep - v[i]->key) : 0,
		    v[i]->key, sep ? sep + 1 : v[i]->key) < 0) {
			labels[i] = NULL;
			rc = -1;
		}
		bars[i] = (bar_t){ labels[i], { v[i]->n[0], 0 }, 0 };
	}
	if (rc == 0)
		svg_chart(out, title, bars, n, 1);
	for (i = 0; i < n; i++)
		free(labels[i]);
	return rc;
}

/* A table of counts: name, count, and a third column (extra string or a
 * failure's reason) when col3 is not NULL. */
static audit_status_t
counts(const audit_rows_t *r, const char *id, const char *title,
    const char *explain, const char *col1, const char *col3, int failures,
    FILE *out, audit_err_t *err)
{
	audit_map_item_t *const *v = r->v;
	size_t n = r->n, i, nb = n < CHART_ROWS ? n : CHART_ROWS;
	const char *sep;

	fprintf(out, "<h2>%s</h2>\n<p class=\"explain\">%s</p>\n", title, explain);
	if (failures && nb > 0 && failure_chart(v, nb, title, out) < 0)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	fprintf(out, "<table id=\"%s\">\n<thead><tr><th>%s</th><th class=\"n\">times"
	    "</th>", id, col1);
	if (col3 != NULL)
		fprintf(out, "<th>%s</th>", col3);
	fputs("</tr></thead>\n<tbody>\n", out);
	for (i = 0; i < n; i++) {
		sep = failures ? strchr(v[i]->key, '\x1f') : NULL;
		fputs("<tr><td>", out);
		if (sep != NULL)
			fprintf(out, "%.*s", (int)(sep - v[i]->key), v[i]->key);
		else
			html_put(out, v[i]->key);
		fprintf(out, "</td><td class=\"n\">%llu</td>", (unsigned long long)v[i]->n[0]);
		if (col3 != NULL) {
			fputs("<td>", out);
			html_put(out, sep ? sep + 1 : v[i]->extra ? v[i]->extra : "");
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	if (n == 0)
		fprintf(out, "<tr><td colspan=\"%d\">None in this period.</td></tr>\n",
		    col3 ? 3 : 2);
	fputs("</tbody>\n</table>\n", out);
	return AUDIT_OK;
}

static void
inbound(const audit_report_data_t *d, FILE *out)
{
	const audit_totals_t *t = &d->t;

	fputs("<h2>Incoming mail</h2>\n<p class=\"explain\">Mail from outside that "
	    "the gateway decrypted for its recipient, or whose signature it checked."
	    "</p>\n<div class=\"figures\">\n", out);
	figure_n(out, "n-inbound", t->in_total, "incoming messages (per recipient)");
	figure_n(out, "n-decrypted", t->decrypted, "decrypted");
	figure_n(out, "n-verified", t->verified, "with a verified signature");
	figure_n(out, "n-enrolled", t->enrolled, "certificates learned");
	fputs("</div>\n", out);
}

static void
about(const audit_report_data_t *d, FILE *out)
{
	const audit_totals_t *t = &d->t;

	fprintf(out, "<h2>About these figures</h2>\n<p class=\"explain\">This report "
	    "counts <span id=\"n-records\">%llu</span> entries of the audit log, one "
	    "per message and recipient.  The gateway records each decision before it "
	    "passes the message on, and seals the log with a digital signature at "
	    "regular intervals, so that later changes to it can be detected.  "
	    "%llu messages were released from hold by an administrator.",
	    (unsigned long long)t->records, (unsigned long long)t->released);
	if (t->unreadable > 0)
		fprintf(out, "  <strong><span id=\"n-unreadable\">%llu</span> lines of the "
		    "log could not be read and are not counted.</strong>",
		    (unsigned long long)t->unreadable);
	fputs("</p>\n</body>\n</html>\n", out);
}

audit_status_t
audit_report_html(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err)
{
	const audit_report_data_t *d = v->d;

	head(d, gen, out);
	summary(d, out);
	trend(v, out);
	shares(&v->by_domain, "by-domain", "Outgoing mail by recipient organisation",
	    "domain", "For each organisation we write to, the share of messages "
	    "that were encrypted (dark) and signed (light).  A short dark bar "
	    "usually means people there have not given us a certificate yet.  The "
	    "chart shows the organisations with the most mail; the table has all.",
	    out);
	shares(&v->by_sender, "by-sender", "Outgoing mail by sender", "sender",
	    "The same for each person or system sending mail.", out);
	unencrypted(&v->unenc, out);
	if (counts(&v->no_cert, "no-cert", "Recipients without a certificate",
	    "We could not encrypt mail to these people because we hold no "
	    "certificate for them.  One signed message from them is usually "
	    "enough to fix this.", "recipient", NULL, 0, out, err) ||
	    counts(&v->failures, "failures", "Failures and their reasons",
	    "Messages the gateway held back, refused, or asked the sending server "
	    "to try again later, and the reason it gave.", "what happened", "reason",
	    1, out, err) ||
	    counts(&v->enrolled, "enrolled", "Certificates learned",
	    "Outside correspondents whose signed mail the gateway verified: their "
	    "certificates are collected (when the gateway is set to), so that mail "
	    "to them can be encrypted.", "address",
	    "certificate fingerprint (SHA-256)", 0, out, err) ||
	    counts(&v->decrypted, "decrypted", "Encrypted mail opened for employees",
	    "Incoming encrypted messages the gateway decrypted, by recipient.",
	    "recipient", NULL, 0, out, err) ||
	    counts(&v->key_events, "key-events", "Key events",
	    "Employees' keys and certificates: imported, exported, issued, "
	    "renewed, revoked, retired and destroyed, by person.", "what happened",
	    "address", 1, out, err))
		return AUDIT_ERR_NOMEM;
	inbound(d, out);
	about(d, out);
	return AUDIT_OK;
}
