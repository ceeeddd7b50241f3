/*
 * audit_report_fmt.c: the report as text (for a terminal or mail), CSV
 * (for a spreadsheet) and JSON (for other programs).  The HTML report is
 * audit_html.c.
 *
 * Strings from the log are untrusted: text and CSV show control characters
 * as \xNN (no terminal escape sequences get through), CSV quotes every
 * text cell and defuses cells a spreadsheet would run as a formula
 * (=, +, -, @ first) with a leading apostrophe; json-c escapes for JSON.
 *
 * Each takes the report's view (audit_view.h): rows sorted, trend made,
 * so that writing never fails for want of memory (JSON's objects aside).
 *
 * Threads: works on the caller's view and stream only.
 */
#include "audit/audit_report_fmt.h"
#include "audit/audit_int.h"
#include "audit/audit_map.h"
#include "audit/audit_view.h"

#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

/* ---- shared ---- */

static void
when(time_t t, const char *none, char *out, size_t outlen)
{
	if (t == 0)
		snprintf(out, outlen, "%s", none);
	else
		audit_time_format(t, out, outlen);
}

/* s with control characters (C0, DEL, C1) as \xNN; s is valid UTF-8. */
static void
put_safe(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			fprintf(out, "\\x%02x", *++p);
		else
			fputc(*p, out);
	}
}

/* ---- text ---- */

static void
text_figure(FILE *out, const char *label, uint64_t n, uint64_t of)
{
	char pct[16];

	fprintf(out, "  %-40s %8llu", label, (unsigned long long)n);
	if (of != 0) {
		audit_pct(n, of, pct, sizeof(pct));
		fprintf(out, "  (%s%%)", pct);
	}
	fputc('\n', out);
}

static void
text_header(const audit_report_data_t *d, time_t gen, FILE *out)
{
	char a[AUDIT_TIME_LEN], b[AUDIT_TIME_LEN], g[AUDIT_TIME_LEN];

	when(d->since, "the first record", a, sizeof(a));
	when(d->until, "the last record", b, sizeof(b));
	when(gen, "-", g, sizeof(g));
	fprintf(out, "smimegate audit report\n\nPeriod:     %s to %s\n"
	    "Generated:  %s\nIntegrity:  ", a, b, g);
	if (d->has_integrity)
		put_safe(out, d->integrity);
	else
		fputs("not checked", out);
	fputs("\n\n", out);
}

static void
text_outbound(const audit_report_data_t *d, FILE *out)
{
	const audit_totals_t *t = &d->t;
	char label[64];

	fputs("Outbound mail (each figure counts one recipient of one message)\n", out);
	text_figure(out, "Delivered", t->out_delivered, 0);
	text_figure(out, "Encrypted", t->out_encrypted, t->out_delivered);
	text_figure(out, "Signed", t->out_signed, t->out_delivered);
	text_figure(out, "Signed and encrypted", t->out_both, t->out_delivered);
	text_figure(out, "Neither signed nor encrypted", t->out_clear, t->out_delivered);
	snprintf(label, sizeof(label), "No recipient certificate (%llu people)",
	    (unsigned long long)t->no_cert_rcpts);
	text_figure(out, label, t->no_cert, 0);
	text_figure(out, "To colleagues (internal, not encrypted)", t->out_internal,
	    t->out_delivered);
	fputc('\n', out);
}

/* The recipient domains most often sent mail unencrypted. */
static void
text_unencrypted(const audit_rows_t *r, FILE *out)
{
	audit_map_item_t *const *v = r->v;
	char pu[16];

	fprintf(out, "Recipients most often sent mail unencrypted (by domain, colleagues "
	    "left out)\n  %-40s %11s %14s %16s\n", "DOMAIN", "UNENCRYPTED",
	    "NO CERTIFICATE", "OF ITS MAIL");
	for (size_t i = 0; i < r->n; i++) {
		audit_pct(v[i]->n[U_UNENC], v[i]->n[U_TOTAL], pu, sizeof(pu));
		fputs("  ", out);
		put_safe(out, v[i]->key);
		fprintf(out, "%*s %11llu %14llu %15s%%\n",
		    (int)(strlen(v[i]->key) < 40 ? 40 - strlen(v[i]->key) : 0), "",
		    (unsigned long long)v[i]->n[U_UNENC],
		    (unsigned long long)v[i]->n[U_NO_CERT], pu);
	}
	if (r->n == 0)
		fputs("  (none)\n", out);
	fputc('\n', out);
}

/* The encrypted and signed share per day or week. */
static void
text_trend(const audit_view_t *v, FILE *out)
{
	const audit_trend_point_t *p = v->trend;
	const char *unit = v->unit;
	char pe[16], ps[16];
	size_t n = v->ntrend;

	fprintf(out, "Outbound shares per %s\n  %-12s %8s %10s %10s\n", unit,
	    strcmp(unit, "week") == 0 ? "WEEK OF" : "DAY", "TOTAL", "ENCRYPTED", "SIGNED");
	for (size_t i = 0; i < n; i++) {
		audit_pct(p[i].n[M_ENC], p[i].n[M_TOTAL], pe, sizeof(pe));
		audit_pct(p[i].n[M_SIGNED], p[i].n[M_TOTAL], ps, sizeof(ps));
		fprintf(out, "  %-12s %8llu %9s%% %9s%%\n", p[i].start,
		    (unsigned long long)p[i].n[M_TOTAL], pe, ps);
	}
	if (n == 0)
		fputs("  (none)\n", out);
	fputc('\n', out);
}

static void
text_shares(const audit_rows_t *r, const char *title, const char *col,
    FILE *out)
{
	audit_map_item_t *const *v = r->v;
	char pe[16], ps[16];
	size_t n = r->n, i;

	fprintf(out, "%s\n  %-40s %8s %16s %16s\n", title, col, "TOTAL",
	    "ENCRYPTED", "SIGNED");
	for (i = 0; i < n; i++) {
		audit_pct(v[i]->n[M_ENC], v[i]->n[M_TOTAL], pe, sizeof(pe));
		audit_pct(v[i]->n[M_SIGNED], v[i]->n[M_TOTAL], ps, sizeof(ps));
		fputs("  ", out);
		put_safe(out, v[i]->key);
		fprintf(out, "%*s %8llu %8llu %6s%% %8llu %6s%%\n",
		    (int)(strlen(v[i]->key) < 40 ? 40 - strlen(v[i]->key) : 0), "",
		    (unsigned long long)v[i]->n[M_TOTAL],
		    (unsigned long long)v[i]->n[M_ENC], pe,
		    (unsigned long long)v[i]->n[M_SIGNED], ps);
	}
	if (n == 0)
		fputs("  (none)\n", out);
	fputc('\n', out);
}

/* A table of one count per key; col3 names a third column: the extra
 * string, or for failures the reason (the key's second part). */
static void
text_counts(const audit_rows_t *r, const char *title, const char *col1,
    const char *col3, int failures, FILE *out)
{
	audit_map_item_t *const *v = r->v;
	const char *name, *third;
	char action[32];
	size_t n = r->n, i, len;

	fprintf(out, "%s\n  %-40s %8s  %s\n", title, col1, "COUNT", col3 ? col3 : "");
	for (i = 0; i < n; i++) {
		third = failures ? audit_failure_split(v[i]->key, action, sizeof(action)) :
		    v[i]->extra;
		name = failures ? action : v[i]->key;
		len = strlen(name);
		fputs("  ", out);
		put_safe(out, name);
		fprintf(out, "%*s %8llu  ", (int)(len < 40 ? 40 - len : 0), "",
		    (unsigned long long)v[i]->n[0]);
		put_safe(out, third && col3 ? third : "");
		fputc('\n', out);
	}
	if (n == 0)
		fputs("  (none)\n", out);
	fputc('\n', out);
}

audit_status_t
audit_report_text(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err)
{
	const audit_report_data_t *d = v->d;
	const audit_totals_t *t = &d->t;

	text_header(d, gen, out);
	text_outbound(d, out);
	text_trend(v, out);
	text_shares(&v->by_domain, "Outbound by recipient domain", "DOMAIN", out);
	text_shares(&v->by_sender, "Outbound by sender", "SENDER", out);
	text_unencrypted(&v->unenc, out);
	text_counts(&v->no_cert, "Recipients without a certificate", "RECIPIENT",
	    NULL, 0, out);
	text_counts(&v->enrolled, "Certificates learned (signatures verified)",
	    "ADDRESS", "CERTIFICATE SHA-256", 0, out);
	text_counts(&v->decrypted, "Decrypted for", "RECIPIENT", NULL, 0, out);
	text_counts(&v->failures, "Failures", "WHAT", "REASON", 1, out);
	text_counts(&v->key_events, "Key events (imports, exports, issues, renewals, "
	    "revocations, retirements, destruction)", "WHAT", "ADDRESS", 1, out);
	fputs("Inbound mail\n", out);
	text_figure(out, "Received", t->in_total, 0);
	text_figure(out, "Decrypted", t->decrypted, 0);
	text_figure(out, "Signature verified", t->verified, 0);
	fputs("\nOther\n", out);
	text_figure(out, "Records in the period", t->records, 0);
	text_figure(out, "Released from hold", t->released, 0);
	text_figure(out, "Key events", t->key_events, 0);
	text_figure(out, "Unreadable lines skipped", t->unreadable, 0);
	return AUDIT_OK;
}

/* ---- CSV ---- */

static void
csv_cell(FILE *out, const char *s)
{
	fputc('"', out);
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
		fputc('\'', out);
	for (; *s; s++) {
		if (*s == '"')
			fputs("\"\"", out);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

/* section,name,detail then up to 6 numbers (NULL cells are empty). */
static void
csv_row(FILE *out, const char *section, const char *name, const char *detail,
    int nnum, const uint64_t *num)
{
	int i;

	fprintf(out, "%s,", section);
	csv_cell(out, name);
	fputc(',', out);
	if (detail != NULL)
		csv_cell(out, detail);
	for (i = 0; i < nnum; i++)
		fprintf(out, ",%llu", (unsigned long long)num[i]);
	fputs("\r\n", out);
}

static void
csv_shares(const audit_rows_t *r, const char *section, FILE *out)
{
	audit_map_item_t *const *v = r->v;
	char pe[16], ps[16];

	for (size_t i = 0; i < r->n; i++) {
		audit_pct(v[i]->n[M_ENC], v[i]->n[M_TOTAL], pe, sizeof(pe));
		audit_pct(v[i]->n[M_SIGNED], v[i]->n[M_TOTAL], ps, sizeof(ps));
		fprintf(out, "%s,", section);
		csv_cell(out, v[i]->key);
		fprintf(out, ",,%llu,%llu,%llu,%llu,%s,%s\r\n",
		    (unsigned long long)v[i]->n[M_TOTAL],
		    (unsigned long long)v[i]->n[M_ENC],
		    (unsigned long long)v[i]->n[M_SIGNED],
		    (unsigned long long)v[i]->n[M_BOTH], pe, ps);
	}
}

static void
csv_counts(const audit_rows_t *r, const char *section, int failures, FILE *out)
{
	audit_map_item_t *const *v = r->v;
	char action[32];
	const char *detail;

	for (size_t i = 0; i < r->n; i++) {
		detail = failures ? audit_failure_split(v[i]->key, action, sizeof(action)) :
		    v[i]->extra;
		csv_row(out, section, failures ? action : v[i]->key, detail, 1, &v[i]->n[0]);
	}
}

/* unencrypted,DOMAIN,,unencrypted,no_certificate,total (of its mail) */
static void
csv_unencrypted(const audit_rows_t *r, FILE *out)
{
	for (size_t i = 0; i < r->n; i++)
		csv_row(out, "unencrypted", r->v[i]->key, NULL, 3, r->v[i]->n);
}

/* trend,START,day|week,total,encrypted,signed,signed_and_encrypted,%,% */
static void
csv_trend(const audit_view_t *v, FILE *out)
{
	const audit_trend_point_t *p = v->trend;
	const char *unit = v->unit;
	char pe[16], ps[16];

	for (size_t i = 0; i < v->ntrend; i++) {
		audit_pct(p[i].n[M_ENC], p[i].n[M_TOTAL], pe, sizeof(pe));
		audit_pct(p[i].n[M_SIGNED], p[i].n[M_TOTAL], ps, sizeof(ps));
		fprintf(out, "trend,\"%s\",\"%s\",%llu,%llu,%llu,%llu,%s,%s\r\n", p[i].start,
		    unit, (unsigned long long)p[i].n[M_TOTAL],
		    (unsigned long long)p[i].n[M_ENC], (unsigned long long)p[i].n[M_SIGNED],
		    (unsigned long long)p[i].n[M_BOTH], pe, ps);
	}
}

static void
csv_totals(const audit_report_data_t *d, time_t gen, FILE *out)
{
	const audit_totals_t *t = &d->t;
	const struct { const char *name; uint64_t v; } rows[] = {
		{ "records", t->records }, { "outbound_delivered", t->out_delivered },
		{ "outbound_encrypted", t->out_encrypted },
		{ "outbound_signed", t->out_signed },
		{ "outbound_signed_and_encrypted", t->out_both },
		{ "outbound_clear", t->out_clear },
		{ "outbound_no_certificate", t->no_cert },
		{ "outbound_internal", t->out_internal },
		{ "outbound_unencrypted", t->out_unenc },
		{ "recipients_without_certificate", t->no_cert_rcpts },
		{ "inbound", t->in_total }, { "decrypted", t->decrypted },
		{ "verified", t->verified }, { "enrolled", t->enrolled },
		{ "held", t->held }, { "released", t->released },
		{ "rejected", t->rejected }, { "tempfailed", t->tempfailed },
		{ "failures", t->failures }, { "unreadable_lines", t->unreadable },
		{ "key_events", t->key_events },
	};
	char a[AUDIT_TIME_LEN], b[AUDIT_TIME_LEN], g[AUDIT_TIME_LEN];
	size_t i;

	when(d->since, "", a, sizeof(a));
	when(d->until, "", b, sizeof(b));
	when(gen, "", g, sizeof(g));
	csv_row(out, "period", "since", a, 0, NULL);
	csv_row(out, "period", "until", b, 0, NULL);
	csv_row(out, "period", "generated", g, 0, NULL);
	if (d->has_integrity)
		csv_row(out, "integrity", d->integrity_ok ? "ok" : "PROBLEM",
		    d->integrity, 0, NULL);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		csv_row(out, "total", rows[i].name, NULL, 1, &rows[i].v);
}

audit_status_t
audit_report_csv(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err)
{
	fputs("section,name,detail,total,encrypted,signed,signed_and_encrypted,"
	    "percent_encrypted,percent_signed\r\n", out);
	csv_totals(v->d, gen, out);
	csv_shares(&v->by_domain, "domain", out);
	csv_shares(&v->by_sender, "sender", out);
	csv_trend(v, out);
	csv_unencrypted(&v->unenc, out);
	csv_counts(&v->no_cert, "no_certificate", 0, out);
	csv_counts(&v->enrolled, "enrolled", 0, out);
	csv_counts(&v->decrypted, "decrypted", 0, out);
	csv_counts(&v->failures, "failure", 1, out);
	csv_counts(&v->key_events, "key_event", 1, out);
	return AUDIT_OK;
}

/* ---- JSON ---- */

/* Adds val under key; a NULL val (no memory) or failure sets *failed. */
static void
jset(json_object *o, const char *key, json_object *val, int *failed)
{
	if (*failed || val == NULL || json_object_object_add(o, key, val) < 0) {
		json_object_put(val);
		*failed = 1;
	}
}

static json_object *
jnum(uint64_t n)
{
	return json_object_new_int64((int64_t)n);
}

static json_object *
jpct(uint64_t num, uint64_t den)
{
	char pct[16];

	audit_pct(num, den, pct, sizeof(pct));
	return json_object_new_double_s(strtod(pct, NULL), pct);
}

/* A time under key, null for 0. */
static void
jset_time(json_object *o, const char *key, time_t t, int *failed)
{
	char s[AUDIT_TIME_LEN];

	if (t == 0) {
		if (!*failed && json_object_object_add(o, key, NULL) < 0)
			*failed = 1;
		return;
	}
	audit_time_format(t, s, sizeof(s));
	jset(o, key, json_object_new_string(s), failed);
}

static json_object *
json_totals(const audit_totals_t *t, int *failed)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		*failed = 1;
	jset(o, "records", jnum(t->records), failed);
	jset(o, "outbound_delivered", jnum(t->out_delivered), failed);
	jset(o, "outbound_encrypted", jnum(t->out_encrypted), failed);
	jset(o, "outbound_signed", jnum(t->out_signed), failed);
	jset(o, "outbound_signed_and_encrypted", jnum(t->out_both), failed);
	jset(o, "outbound_clear", jnum(t->out_clear), failed);
	jset(o, "percent_encrypted", jpct(t->out_encrypted, t->out_delivered), failed);
	jset(o, "percent_signed", jpct(t->out_signed, t->out_delivered), failed);
	jset(o, "outbound_no_certificate", jnum(t->no_cert), failed);
	jset(o, "recipients_without_certificate", jnum(t->no_cert_rcpts), failed);
	jset(o, "outbound_internal", jnum(t->out_internal), failed);
	jset(o, "outbound_unencrypted", jnum(t->out_unenc), failed);
	jset(o, "inbound", jnum(t->in_total), failed);
	jset(o, "decrypted", jnum(t->decrypted), failed);
	jset(o, "verified", jnum(t->verified), failed);
	jset(o, "enrolled", jnum(t->enrolled), failed);
	jset(o, "held", jnum(t->held), failed);
	jset(o, "released", jnum(t->released), failed);
	jset(o, "rejected", jnum(t->rejected), failed);
	jset(o, "tempfailed", jnum(t->tempfailed), failed);
	jset(o, "failures", jnum(t->failures), failed);
	jset(o, "unreadable_lines", jnum(t->unreadable), failed);
	jset(o, "key_events", jnum(t->key_events), failed);
	return o;
}

static json_object *
json_share(const audit_map_item_t *it, const char *name, int *failed)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		*failed = 1;
	jset(o, name, json_object_new_string(it->key), failed);
	jset(o, "total", jnum(it->n[M_TOTAL]), failed);
	jset(o, "encrypted", jnum(it->n[M_ENC]), failed);
	jset(o, "signed", jnum(it->n[M_SIGNED]), failed);
	jset(o, "signed_and_encrypted", jnum(it->n[M_BOTH]), failed);
	jset(o, "percent_encrypted", jpct(it->n[M_ENC], it->n[M_TOTAL]), failed);
	jset(o, "percent_signed", jpct(it->n[M_SIGNED], it->n[M_TOTAL]), failed);
	return o;
}

/* second: the name of a split key's second part ("reason", "address"),
 * or NULL for a key of one part named name. */
static json_object *
json_count(const audit_map_item_t *it, const char *name, const char *extra,
    const char *second, int *failed)
{
	json_object *o = json_object_new_object();
	char action[32];
	const char *reason;

	if (o == NULL)
		*failed = 1;
	if (second != NULL) {
		reason = audit_failure_split(it->key, action, sizeof(action));
		jset(o, "action", json_object_new_string(action), failed);
		jset(o, second, json_object_new_string(reason), failed);
	} else
		jset(o, name, json_object_new_string(it->key), failed);
	jset(o, "count", jnum(it->n[0]), failed);
	if (extra != NULL && it->extra != NULL)
		jset(o, extra, json_object_new_string(it->extra), failed);
	return o;
}

/* kind 0: shares named name; 1: counts; 2: failures; 3: key events. */
static json_object *
json_list(const audit_rows_t *r, int kind, const char *name, const char *extra,
    int *failed)
{
	json_object *arr = json_object_new_array(), *o;
	audit_map_item_t *const *v = r->v;

	if (arr == NULL)
		*failed = 1;
	for (size_t i = 0; !*failed && i < r->n; i++) {
		o = kind == 0 ? json_share(v[i], name, failed) :
		    json_count(v[i], name, extra, kind == 2 ? "reason" : kind == 3
		    ? "address" : NULL, failed);
		if (o == NULL || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			*failed = 1;
		}
	}
	return arr;
}

/* [{"domain":..,"unencrypted":..,"no_certificate":..,"total":..}] */
static json_object *
json_unencrypted(const audit_rows_t *r, int *failed)
{
	json_object *arr = json_object_new_array(), *o;
	audit_map_item_t *const *v = r->v;

	if (arr == NULL)
		*failed = 1;
	for (size_t i = 0; !*failed && i < r->n; i++) {
		if ((o = json_object_new_object()) == NULL)
			*failed = 1;
		jset(o, "domain", json_object_new_string(v[i]->key), failed);
		jset(o, "unencrypted", jnum(v[i]->n[U_UNENC]), failed);
		jset(o, "no_certificate", jnum(v[i]->n[U_NO_CERT]), failed);
		jset(o, "total", jnum(v[i]->n[U_TOTAL]), failed);
		jset(o, "percent_unencrypted", jpct(v[i]->n[U_UNENC], v[i]->n[U_TOTAL]), failed);
		if (*failed || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			*failed = 1;
		}
	}
	return arr;
}

/* {"unit":"day"|"week","points":[{"start":..,"total":..,...}]} */
static json_object *
json_trend(const audit_view_t *v, int *failed)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array(), *pt;
	const audit_trend_point_t *p = v->trend;

	if (o == NULL || arr == NULL)
		*failed = 1;
	for (size_t i = 0; !*failed && i < v->ntrend; i++) {
		if ((pt = json_object_new_object()) == NULL)
			*failed = 1;
		jset(pt, "start", json_object_new_string(p[i].start), failed);
		jset(pt, "total", jnum(p[i].n[M_TOTAL]), failed);
		jset(pt, "encrypted", jnum(p[i].n[M_ENC]), failed);
		jset(pt, "signed", jnum(p[i].n[M_SIGNED]), failed);
		jset(pt, "percent_encrypted", jpct(p[i].n[M_ENC], p[i].n[M_TOTAL]), failed);
		jset(pt, "percent_signed", jpct(p[i].n[M_SIGNED], p[i].n[M_TOTAL]), failed);
		if (*failed || json_object_array_add(arr, pt) < 0) {
			json_object_put(pt);
			*failed = 1;
		}
	}
	jset(o, "unit", json_object_new_string(v->unit), failed);
	jset(o, "points", arr, failed);
	return o;
}

/* {"ok":..,"text":..}, or null when the log was not checked. */
static void
jset_integrity(json_object *parent, const audit_report_data_t *d, int *failed)
{
	json_object *o;

	if (!d->has_integrity) {
		if (!*failed && json_object_object_add(parent, "integrity", NULL) < 0)
			*failed = 1;
		return;
	}
	o = json_object_new_object();
	if (o == NULL)
		*failed = 1;
	jset(o, "ok", json_object_new_boolean(d->integrity_ok), failed);
	jset(o, "text", json_object_new_string(d->integrity), failed);
	jset(parent, "integrity", o, failed);
}

audit_status_t
audit_report_json(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err)
{
	const audit_report_data_t *d = v->d;
	json_object *o = json_object_new_object();
	int failed = o == NULL;

	jset_time(o, "generated", gen, &failed);
	jset_time(o, "since", d->since, &failed);
	jset_time(o, "until", d->until, &failed);
	jset_integrity(o, d, &failed);
	jset(o, "totals", json_totals(&d->t, &failed), &failed);
	jset(o, "by_domain", json_list(&v->by_domain, 0, "domain", NULL, &failed), &failed);
	jset(o, "by_sender", json_list(&v->by_sender, 0, "sender", NULL, &failed), &failed);
	jset(o, "trend", json_trend(v, &failed), &failed);
	jset(o, "unencrypted", json_unencrypted(&v->unenc, &failed), &failed);
	jset(o, "no_certificate", json_list(&v->no_cert, 1, "recipient", NULL, &failed),
	    &failed);
	jset(o, "enrolled", json_list(&v->enrolled, 1, "address", "sha256", &failed),
	    &failed);
	jset(o, "decrypted", json_list(&v->decrypted, 1, "recipient", NULL, &failed),
	    &failed);
	jset(o, "failures", json_list(&v->failures, 2, NULL, NULL, &failed), &failed);
	jset(o, "key_events", json_list(&v->key_events, 3, NULL, "serial", &failed),
	    &failed);
	if (!failed)
		fprintf(out, "%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return failed ? util_err_set(err, AUDIT_ERR_NOMEM, "out of memory") : AUDIT_OK;
}
