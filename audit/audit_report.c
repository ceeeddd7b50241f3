/*
 * audit_report.c: counting the records of a period for the compliance
 * report: outbound shares encrypted and signed by recipient domain, by
 * sender and by day (the trend), the recipient domains most often sent
 * mail unencrypted, recipients without certificates, certificates
 * learned, decryptions and failures.  audit_report_write() orders them
 * (audit_view.c) and hands them to a writer (audit_report_fmt.c,
 * audit_html.c), which only formats.
 *
 * Outbound figures count records whose direction is "outbound"; each is
 * one recipient of one message.  Failures count held, rejected and
 * tempfailed records of any direction, by action and reason.  What the
 * milter writes (milter/mail_audit.c) decides what is counted: a
 * recipient without a certificate is named in the reason next to
 * AUDIT_REASON_NO_CERT; mail to a colleague has the rule
 * AUDIT_RULE_INTERNAL; a certificate is learned from an inbound signature
 * that verified (AUDIT_REASON_SIGNER).  Key events (imports, exports,
 * issues, renewals, revocations, retirements, destruction) are counted by
 * action and address.
 *
 * Ownership: the report owns its tables; entries added are copied.
 * Threads: one report, one thread.
 */
#include "audit/audit_int.h"
#include "audit/audit_html.h"
#include "audit/audit_map.h"
#include "audit/audit_report_fmt.h"
#include "audit/audit_view.h"
#include "util/util_addr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct audit_report {
	audit_report_data_t d;
};

audit_report_t *
audit_report_new(time_t since, time_t until, audit_err_t *err)
{
	audit_report_t *rp = calloc(1, sizeof(*rp));
	audit_report_data_t *d;

	if (rp == NULL) {
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
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
	d->key_events = audit_map_new();
	if (!d->key_events || !d->by_domain || !d->by_sender || !d->no_cert || !d->enrolled ||
	    !d->decrypted || !d->failures || !d->unenc || !d->by_day) {
		audit_report_free(rp);
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
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
	audit_map_free(d->key_events);
	free(d->integrity);
	free(rp);
}

const audit_totals_t *
audit_report_totals(const audit_report_t *rp)
{
	return &rp->d.t;
}

/* An address with its domain in lower case; "(none)" for none. */
static char *
address_key(const char *addr)
{
	if (addr == NULL)
		return strdup("(none)");
	if (*addr == '\0')
		return strdup("(empty)");
	return util_addr_normalize(addr);
}

/* The domain of an address, lower case; "(none)" without one. */
static char *
domain_key(const char *addr)
{
	const char *dom = util_addr_domain(addr);
	char *k;

	if (dom == NULL || *dom == '\0')
		return strdup("(none)");
	if ((k = strdup(dom)) != NULL)
		util_addr_lower(k);
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

/* Recipient domains sent mail unencrypted (not colleagues:
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

/* A key event (import, export, issue, renewal, revocation, retirement,
 * destruction): counted by action and address, the last serial kept. */
static int
add_key_event(audit_report_data_t *d, const audit_record_t *r)
{
	char *addr = address_key(r->sender), *key = NULL;
	int rc;

	if (addr == NULL || asprintf(&key, "%s\x1f%s", audit_action_name(r->action),
	    addr) < 0) {
		free(addr);
		return -1;
	}
	free(addr);
	d->t.key_events++;
	rc = count_one(d->key_events, key, r->ncerts > 0 && r->certs[0].serial
	    ? r->certs[0].serial : NULL);
	return rc;
}

static int
is_key_event(audit_action_t a)
{
	return a >= AUDIT_KEY_IMPORTED && a <= AUDIT_KEY_DESTROYED;
}

/* Counts the action of one record; 0 or -1 without memory. */
static int
add_action(audit_report_data_t *d, const audit_record_t *r)
{
	audit_action_t a = r->action;
	audit_totals_t *t = &d->t;
	int out = r->direction == AUDIT_OUTBOUND;

	if (is_key_event(a))
		return add_key_event(d, r);
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
			return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		d->t.no_cert_rcpts = audit_map_count(d->no_cert);
	}
	if (add_action(d, r) < 0)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
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
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	free(rp->d.integrity);
	rp->d.integrity = copy;
	rp->d.integrity_ok = ok;
	rp->d.has_integrity = 1;
	return AUDIT_OK;
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
	static audit_status_t (*const writers[])(const audit_view_t *, time_t,
	    FILE *, audit_err_t *) = {
		[AUDIT_FMT_TEXT] = audit_report_text,
		[AUDIT_FMT_CSV] = audit_report_csv,
		[AUDIT_FMT_JSON] = audit_report_json,
		[AUDIT_FMT_HTML] = audit_report_html,
	};
	audit_view_t v;
	audit_status_t st;

	if ((unsigned)fmt >= sizeof(writers) / sizeof(writers[0]) || writers[fmt] == NULL)
		return util_err_set(err, AUDIT_ERR_USAGE, "unknown report format");
	if (audit_view_build(&rp->d, &v) != 0)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	st = writers[fmt](&v, generated, out, err);
	audit_view_free(&v);
	if (st == AUDIT_OK && (fflush(out) != 0 || ferror(out)))
		st = util_err_set(err, AUDIT_ERR_IO, "cannot write the report");
	return st;
}
