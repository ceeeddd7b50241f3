/*
 * audit_view.h: the report as its writers take it: every section's rows
 * sorted once, the trend computed once, and the percentages they print.
 * The report (audit_report.c) counts, audit_view.c orders, the writers
 * (audit_report_fmt.c, audit_html.c) only format.
 *
 * Internal to audit/: declares audit_view.c's functions only; each file
 * of audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_VIEW_H
#define AUDIT_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "audit/audit_int.h"
#include "audit/audit_map.h"

/* One point of the trend: outbound deliveries of one day or week (UTC). */
typedef struct audit_trend_point {
	char start[11];             /* YYYY-MM-DD: the day, or the week's Monday */
	uint64_t n[5];              /* M_TOTAL, M_ENC, M_SIGNED, M_BOTH, M_CLEAR */
} audit_trend_point_t;

/* A period of up to this many days has a point per day, a longer one a
 * point per week (from Monday). */
#define AUDIT_TREND_DAYS 62

/* The rows of one section: items of a table of the report, most first by
 * their first counter (M_TOTAL, U_UNENC or the count), then by key. */
typedef struct audit_rows {
	audit_map_item_t **v;       /* NULL when n is 0 */
	size_t n;
} audit_rows_t;

typedef struct audit_view {
	const audit_report_data_t *d;   /* totals, period, integrity */
	audit_rows_t by_domain;         /* M_* counters */
	audit_rows_t by_sender;         /* M_* counters */
	audit_rows_t unenc;             /* U_*: only domains sent mail unencrypted */
	audit_rows_t no_cert;           /* n[0]: the count */
	audit_rows_t enrolled;          /* n[0]; extra: a fingerprint */
	audit_rows_t decrypted;         /* n[0] */
	audit_rows_t failures;          /* n[0]; key "action\x1freason" */
	audit_rows_t key_events;        /* n[0]; key "action\x1faddress";
	                                   extra: the last serial */
	audit_trend_point_t *trend;     /* in time order; NULL when ntrend is 0 */
	size_t ntrend;
	const char *unit;               /* of the trend: "day" or "week" */
} audit_view_t;

/* Builds v from d (which must outlive it); 0, or -1 without memory. */
int audit_view_build(const audit_report_data_t *d, audit_view_t *v);
void audit_view_free(audit_view_t *v);

/* The share num/den in percent rounded to one decimal ("0.0" when den 0). */
void audit_pct(uint64_t num, uint64_t den, char *out, size_t outlen);

/* The action of a failures key into action (len octets) and its reason
 * (a pointer into key; "" when the key has none). */
const char *audit_failure_split(const char *key, char *action, size_t len);

#endif
