/*
 * audit_report.c: counting the records of a period for the compliance
 * report: outbound shares encrypted and signed by recipient domain, by
 * sender and by day (the trend), the recipient domains most often sent
 * mail unencrypted, recipients without certificates, certificates
 * learned, decryptions and failures.  The writers (audit_report_fmt.c,
 * audit_html.c) only format.
 *
 * Outbound figures count records whose direction is "outbound"; each is
 * one recipient of one message.  Failures count held, rejected and
 * tempfailed records of any direction, by action and reason.  What the
 * milter writes (milter/mail_audit.c) decides what is counted: a
 * recipient without a certificate is named in the reason next to
 * AUDIT_REASON_NO_CERT; mail to a colleague has the rule
 * AUDIT_RULE_INTERNAL; a certificate is learned from an inbound signature
 * that verified (AUDIT_REASON_SIGNER).
 *
 * Ownership: the report owns its tables; entries added are copied.
 * Threads: one report, one thread.
 */
#include "audit/audit_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

audit_report_t *
audit_report_new(time_t since, time_t until, audit_err_t *err)
{
	audit_report_t *rp = calloc(1, sizeof(*rp));
	audit_report_data_t *d;

	if (rp == NULL) {
		audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	d = &rp->d;
	d->since = since;
	d->until = until;
	d->by_domain = audit_map_new();
	d->by_sender = audit_map_new();
	d->no_cert = audit_map_new();
	d->enrolled = audit_map_new();
	d->decrypted = audit_map_new();
	d->failures = audit_map_new();
	d->unenc = audit_map_new();
	d->by_day = audit_map_new();
	if (!d->by_domain || !d->by_sender || !d->no_cert || !d->enrolled ||
	    !d->decrypted || !d->failures || !d->unenc || !d->by_day) {
		audit_report_free(rp);
		audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return rp;
}

void
audit_report_free(audit_report_t *rp)
{
	audit_report_data_t *d;

	if (rp == NULL)
		return;
	d = &rp->d;
	audit_map_free(d->by_domain);
	audit_map_free(d->by_sender);
	audit_map_free(d->no_cert);
	audit_map_free(d->enrolled);
	audit_map_free(d->decrypted);
	audit_map_free(d->failures);
	audit_map_free(d->unenc);
	audit_map_free(d->by_day);
	free(d->integrity);
	free(rp);
}

const audit_totals_t *
audit_report_totals(const audit_report_t *rp)
{
	return &rp->d.t;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* An address with its domain in lower case; "(none)" for none. */
static char *
address_key(const char *addr)
{
	char *k, *at;

	if (addr == NULL)
		return strdup("(none)");
	if (*addr == '\0')
		return strdup("(empty)");
	k = strdup(addr);
	if (k != NULL && (at = strrchr(k, '@')) != NULL)
		lower(at);
	return k;
}

/* The domain of an address, lower case; "(none)" without one. */
static char *
domain_key(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	char *k;

	if (at == NULL || at[1] == '\0')
		return strdup("(none)");
	k = strdup(at + 1);
	if (k != NULL)
		lower(k);
	return k;
}

/* Adds the outbound flags to key's item of m; 0 or -1 without memory. */
static int
count_out(audit_map_t *m, char *key, const int flags[5])
{
	audit_map_item_t *it;
	int i;

	if (key == NULL || (it = audit_map_get(m, key)) == NULL) {
		free(key);
		return -1;
	}
	free(key);
	for (i = 0; i < 5; i++)
		it->n[i] += (uint64_t)flags[i];
	return 0;
}

/* The UTC day of t as "YYYY-MM-DD". */
static char *
day_key(time_t t)
{
	char day[16];
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
		return strdup("(no time)");
	return strdup(day);
}

/* 1 when reason names a recipient without a certificate and rcpt is one
 * of them ("<rcpt>", case-insensitive), as the milter writes it. */
static int
reason_no_cert(const char *reason, const char *rcpt)
{
	char *want;
	int r;

	if (reason == NULL || rcpt == NULL || strstr(reason, AUDIT_REASON_NO_CERT) == NULL
	    || asprintf(&want, "<%s>", rcpt) < 0)
		return 0;
	r = strcasestr(reason, want) != NULL;
	free(want);
	return r;
}

static int
is_internal(const audit_record_t *r)
{
	return r->rule != NULL && strstr(r->rule, AUDIT_RULE_INTERNAL) != NULL;
}

/* Issue 16: recipient domains sent mail unencrypted (not colleagues:
 * mail between local users is never encrypted by design). */
static int
add_unencrypted(audit_report_data_t *d, const audit_record_t *r)
{
	audit_map_item_t *it;
	char *key;

	if (is_internal(r)) {
		d->t.out_internal++;
		return 0;
	}
	if ((key = domain_key(r->rcpt)) == NULL || (it = audit_map_get(d->unenc, key)) == NULL) {
		free(key);
		return -1;
	}
	free(key);
	it->n[U_TOTAL]++;
	if (r->action != AUDIT_SIGNED && r->action != AUDIT_CLEAR)
		return 0;
	d->t.out_unenc++;
	it->n[U_UNENC]++;
	it->n[U_NO_CERT] += (uint64_t)reason_no_cert(r->reason, r->rcpt);
	return 0;
}

static int
add_outbound(audit_report_data_t *d, const audit_record_t *r)
{
	audit_action_t a = r->action;
	int flags[5] = { 1, 0, 0, 0, 0 };

	flags[M_ENC] = a == AUDIT_ENCRYPTED || a == AUDIT_SIGNED_ENCRYPTED;
	flags[M_SIGNED] = a == AUDIT_SIGNED || a == AUDIT_SIGNED_ENCRYPTED;
	flags[M_BOTH] = a == AUDIT_SIGNED_ENCRYPTED;
	flags[M_CLEAR] = a == AUDIT_CLEAR || a == AUDIT_PASS;
	d->t.out_delivered++;
	d->t.out_encrypted += (uint64_t)flags[M_ENC];
	d->t.out_signed += (uint64_t)flags[M_SIGNED];
	d->t.out_both += (uint64_t)flags[M_BOTH];
	d->t.out_clear += (uint64_t)flags[M_CLEAR];
	if (count_out(d->by_domain, domain_key(r->rcpt), flags) < 0 ||
	    count_out(d->by_sender, address_key(r->sender), flags) < 0 ||
	    count_out(d->by_day, day_key(r->time), flags) < 0)
		return -1;
	return add_unencrypted(d, r);
}

/* key's item of m counted once; extra remembered when given. */
static int
count_one(audit_map_t *m, char *key, const char *extra)
{
	audit_map_item_t *it = key ? audit_map_get(m, key) : NULL;

	free(key);
	if (it == NULL)
		return -1;
	it->n[0]++;
	if (extra != NULL) {
		free(it->extra);
		if ((it->extra = strdup(extra)) == NULL)
			return -1;
	}
	return 0;
}

static int
add_failure(audit_report_data_t *d, const audit_record_t *r)
{
	const char *reason = r->reason ? r->reason : "(no reason given)";
	char *key;

	d->t.failures++;
	if (asprintf(&key, "%s\x1f%s", audit_action_name(r->action), reason) < 0)
		return -1;
	return count_one(d->failures, key, NULL);
}

/* An inbound signature that verified: its signer's certificate is learned
 * (harvested); the milter writes "pass (signer=<addr>)" in the reason. */
static int
add_learned(audit_report_data_t *d, const audit_record_t *r)
{
	const char *p = r->reason ? strstr(r->reason, AUDIT_REASON_SIGNER) : NULL;
	const char *end;
	char *addr;

	if (p == NULL)
		return 0;
	p += strlen(AUDIT_REASON_SIGNER);
	if ((end = strchr(p, '>')) == NULL || end == p)
		return 0;
	if ((addr = strndup(p, (size_t)(end - p))) == NULL)
		return -1;
	d->t.enrolled++;
	if (count_one(d->enrolled, address_key(addr), NULL) < 0) {
		free(addr);
		return -1;
	}
	free(addr);
	return 0;
}

/* Counts the action of one record; 0 or -1 without memory. */
static int
add_action(audit_report_data_t *d, const audit_record_t *r)
{
	audit_action_t a = r->action;
	audit_totals_t *t = &d->t;
	int out = r->direction == AUDIT_OUTBOUND;

	if (out && (a == AUDIT_SIGNED || a == AUDIT_ENCRYPTED || a == AUDIT_PASS ||
	    a == AUDIT_SIGNED_ENCRYPTED || a == AUDIT_CLEAR) && add_outbound(d, r) < 0)
		return -1;
	if (a == AUDIT_VERIFIED || a == AUDIT_DECRYPTED_VERIFIED)
		t->verified++;
	if ((a == AUDIT_VERIFIED || a == AUDIT_DECRYPTED_VERIFIED) && add_learned(d, r) < 0)
		return -1;
	if (a == AUDIT_DECRYPTED || a == AUDIT_DECRYPTED_VERIFIED) {
		t->decrypted++;
		return count_one(d->decrypted, address_key(r->rcpt), NULL);
	}
	if (a == AUDIT_ENROLLED) {
		t->enrolled++;
		return count_one(d->enrolled, address_key(r->sender),
		    r->ncerts > 0 ? r->certs[0].sha256 : NULL);
	}
	t->held += a == AUDIT_HELD;
	t->rejected += a == AUDIT_REJECTED;
	t->tempfailed += a == AUDIT_TEMPFAILED;
	t->released += a == AUDIT_RELEASED;
	if (a == AUDIT_HELD || a == AUDIT_REJECTED || a == AUDIT_TEMPFAILED)
		return add_failure(d, r);
	return 0;
}

audit_status_t
audit_report_add(audit_report_t *rp, const audit_entry_t *e, audit_err_t *err)
{
	audit_report_data_t *d = &rp->d;
	const audit_record_t *r = &e->rec;

	if (e->checkpoint || (d->since && r->time < d->since) ||
	    (d->until && r->time > d->until))
		return AUDIT_OK;
	d->t.records++;
	if (r->direction == AUDIT_INBOUND)
		d->t.in_total++;
	if (r->direction == AUDIT_OUTBOUND && reason_no_cert(r->reason, r->rcpt)) {
		d->t.no_cert++;
		if (count_one(d->no_cert, address_key(r->rcpt), NULL) < 0)
			return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		d->t.no_cert_rcpts = audit_map_count(d->no_cert);
	}
	if (add_action(d, r) < 0)
		return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	return AUDIT_OK;
}

audit_status_t
audit_report_read(audit_report_t *rp, const char *const *files, size_t nfiles,
    audit_err_t *err)
{
	audit_reader_t *r = audit_reader_open(files, nfiles, err);
	const audit_entry_t *e;
	audit_status_t st;

	if (r == NULL)
		return AUDIT_ERR_NOMEM;
	for (;;) {
		st = audit_reader_next(r, &e, err);
		if (st == AUDIT_ERR_CORRUPT) {
			rp->d.t.unreadable++;
			continue;
		}
		if (st == AUDIT_OK)
			st = audit_report_add(rp, e, err);
		if (st != AUDIT_OK)
			break;
	}
	audit_reader_free(r);
	return st == AUDIT_END ? AUDIT_OK : st;
}

audit_status_t
audit_report_set_integrity(audit_report_t *rp, const char *text, int ok,
    audit_err_t *err)
{
	char *copy = strdup(text ? text : "");

	if (copy == NULL)
		return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	free(rp->d.integrity);
	rp->d.integrity = copy;
	rp->d.integrity_ok = ok;
	rp->d.has_integrity = 1;
	return AUDIT_OK;
}

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

int
audit_report_trend(const audit_report_data_t *d, audit_trend_point_t **pts,
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

int
audit_format_parse(const char *name, audit_format_t *fmt)
{
	static const char *const names[] = { "text", "csv", "json", "html" };
	size_t i;

	for (i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*fmt = (audit_format_t)i;
			return 0;
		}
	}
	return -1;
}

audit_status_t
audit_report_write(const audit_report_t *rp, audit_format_t fmt,
    time_t generated, FILE *out, audit_err_t *err)
{
	audit_status_t st;

	switch (fmt) {
	case AUDIT_FMT_TEXT:
		st = audit_report_text(&rp->d, generated, out, err);
		break;
	case AUDIT_FMT_CSV:
		st = audit_report_csv(&rp->d, generated, out, err);
		break;
	case AUDIT_FMT_JSON:
		st = audit_report_json(&rp->d, generated, out, err);
		break;
	case AUDIT_FMT_HTML:
		st = audit_report_html(&rp->d, generated, out, err);
		break;
	default:
		return audit_err_set(err, AUDIT_ERR_USAGE, "unknown report format");
	}
	if (st == AUDIT_OK && (fflush(out) != 0 || ferror(out)))
		st = audit_err_set(err, AUDIT_ERR_IO, "cannot write the report");
	return st;
}
