/*
 * audit_view.c: the report as its writers (audit_report_fmt.c,
 * audit_html.c) take it: every section's rows sorted once, the trend
 * computed once, and the figures they all print (audit_pct).  The report
 * (audit_report.c) counts; this file orders; the writers only format, and
 * none of them fails for want of memory once the view is built.
 *
 * Ownership: a view borrows the report's data and owns its arrays of
 * pointers into the report's tables; audit_view_free() releases them.
 * Threads: one view, one thread.
 */
#include "audit/audit_view.h"
#include "audit/audit_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The Monday (UTC) of the week of day ("YYYY-MM-DD") into out[11]. */
static void
week_of(const char *day, char out[11])
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (strptime(day, "%Y-%m-%d", &tm) == NULL) {
		snprintf(out, 11, "%.10s", day);
		return;
	}
	t = timegm(&tm);
	t -= (time_t)((tm.tm_wday + 6) % 7) * 86400;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 11, "%.10s", day);
}

static int
point_cmp(const void *a, const void *b)
{
	return strcmp(((const audit_trend_point_t *)a)->start,
	    ((const audit_trend_point_t *)b)->start);
}

/* Days between the first and the last of the sorted points. */
static long
span_days(const audit_trend_point_t *p, size_t n)
{
	struct tm a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (n < 2 || strptime(p[0].start, "%Y-%m-%d", &a) == NULL ||
	    strptime(p[n - 1].start, "%Y-%m-%d", &b) == NULL)
		return 0;
	return (long)((timegm(&b) - timegm(&a)) / 86400);
}

/* The trend of outbound shares over the report's period, in days (a
 * period of up to AUDIT_TREND_DAYS days) or weeks from Monday: a malloc'ed
 * array in time order (*n 0 and NULL when there is no outbound record),
 * *unit "day" or "week".  0, or -1 without memory. */
static int
trend_make(const audit_report_data_t *d, audit_trend_point_t **pts,
    size_t *n, const char **unit)
{
	size_t nd = 0, k = 0;
	audit_map_item_t **v = audit_map_sorted(d->by_day, M_TOTAL, &nd);
	audit_trend_point_t *p;

	*pts = NULL;
	*n = 0;
	*unit = "day";
	if (v == NULL)
		return audit_map_count(d->by_day) > 0 ? -1 : 0;
	if ((p = calloc(nd, sizeof(*p))) == NULL) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < nd; i++) {
		snprintf(p[i].start, sizeof(p[i].start), "%.10s", v[i]->key);
		memcpy(p[i].n, v[i]->n, sizeof(p[i].n));
	}
	free(v);
	qsort(p, nd, sizeof(*p), point_cmp);
	if (d->since != 0 && d->until != 0 ? d->until - d->since > AUDIT_TREND_DAYS * 86400L
	    : span_days(p, nd) > AUDIT_TREND_DAYS) {
		*unit = "week";
		for (size_t i = 0; i < nd; i++) {
			char w[11];

			week_of(p[i].start, w);
			if (k > 0 && strcmp(p[k - 1].start, w) == 0) {
				for (int j = 0; j < 5; j++)
					p[k - 1].n[j] += p[i].n[j];
				continue;
			}
			p[k] = p[i];
			memcpy(p[k].start, w, sizeof(w));
			k++;
		}
		nd = k;
	}
	*pts = p;
	*n = nd;
	return 0;
}

void
audit_pct(uint64_t num, uint64_t den, char *out, size_t outlen)
{
	uint64_t tenths = den ? (num * 1000 + den / 2) / den : 0;

	snprintf(out, outlen, "%llu.%llu", (unsigned long long)(tenths / 10),
	    (unsigned long long)(tenths % 10));
}

/* The items of m sorted by their first counter, most first (then by key);
 * with until_zero, only those before the first whose counter is 0. */
static int
rows_make(const audit_map_t *m, int until_zero, audit_rows_t *r)
{
	r->v = audit_map_sorted(m, 0, &r->n);
	if (r->v == NULL) {
		r->n = 0;
		return audit_map_count(m) > 0 ? -1 : 0;
	}
	while (until_zero && r->n > 0 && r->v[r->n - 1]->n[0] == 0)
		r->n--;
	return 0;
}

int
audit_view_build(const audit_report_data_t *d, audit_view_t *v)
{
	memset(v, 0, sizeof(*v));
	v->d = d;
	if (rows_make(d->by_domain, 0, &v->by_domain) < 0 ||
	    rows_make(d->by_sender, 0, &v->by_sender) < 0 ||
	    rows_make(d->unenc, 1, &v->unenc) < 0 ||
	    rows_make(d->no_cert, 0, &v->no_cert) < 0 ||
	    rows_make(d->enrolled, 0, &v->enrolled) < 0 ||
	    rows_make(d->decrypted, 0, &v->decrypted) < 0 ||
	    rows_make(d->failures, 0, &v->failures) < 0 ||
	    rows_make(d->key_events, 0, &v->key_events) < 0 ||
	    trend_make(d, &v->trend, &v->ntrend, &v->unit) < 0) {
		audit_view_free(v);
		return -1;
	}
	return 0;
}

void
audit_view_free(audit_view_t *v)
{
	free(v->by_domain.v);
	free(v->by_sender.v);
	free(v->unenc.v);
	free(v->no_cert.v);
	free(v->enrolled.v);
	free(v->decrypted.v);
	free(v->failures.v);
	free(v->key_events.v);
	free(v->trend);
	memset(v, 0, sizeof(*v));
}

const char *
audit_failure_split(const char *key, char *action, size_t len)
{
	const char *sep = strchr(key, '\x1f');
	size_t n = sep ? (size_t)(sep - key) : strlen(key);

	snprintf(action, len, "%.*s", (int)n, key);
	return sep ? sep + 1 : "";
}
