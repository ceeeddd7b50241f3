/*
 * mail_audit.c: the daemon's audit log (see mail_audit.h).  The result of
 * a message (mail_msg.c) becomes one audit record per recipient; the
 * timer thread seals the log with a checkpoint every AuditCheckpointInterval
 * seconds and rotates it past AuditRotateSize.  Every checkpoint goes to
 * syslog too (AuditSyslogCheckpoints), the last one is remembered in
 * AuditHeadFile, and the fingerprint of a new audit key is logged once.
 */
#include "mail/mail_audit.h"
#include "mail/mail_policy.h"
#include "ops/ops_log.h"
#include "audit/audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

struct mail_audit {
	audit_t *log;
	char *path;                 /* the current file, for its size */
	int flags;                  /* AUDIT_SUBJECT */
	int to_syslog;
	long long interval;         /* seconds between checkpoints */
	long long rotate_size;      /* 0: never */
	pthread_t thread;
	int running;
	pthread_mutex_t lock;       /* guards stop, with cond */
	pthread_cond_t cond;
	int stop;
};

/* A copy of every checkpoint in syslog, off the gateway's disk. */
static void
log_checkpoint(void *arg, uint64_t seq, const char *time, const char *hash)
{
	ops_log(LOG_NOTICE, NULL, "audit checkpoint: seq=%llu time=%s hash=%s",
	    (unsigned long long)seq, time, hash);
}

/* What the open found worth saying: a new key's fingerprint, a gap. */
static void
log_opened(const mail_audit_t *ma, const conf_t *conf)
{
	if (audit_key_created(ma->log))
		ops_log(LOG_NOTICE, NULL, "audit: new audit key %s, fingerprint "
		    "(SHA-256 of its public key) %s: give it to whoever verifies the "
		    "log (smimectl audit verify --fingerprint, or AuditKeyFingerprint)",
		    conf->audit_key_file, audit_key_fingerprint(ma->log));
	if (audit_gap_note(ma->log) != NULL)
		ops_log(LOG_WARNING, NULL, "audit: gap recorded in %s: %s",
		    conf->audit_dir, audit_gap_note(ma->log));
}

mail_audit_t *
mail_audit_open(const conf_t *conf, EVP_PKEY *key, char *err, size_t errlen)
{
	mail_audit_t *ma = calloc(1, sizeof(*ma));
	audit_options_t opts = { conf->audit_key_file, conf->audit_head_file,
		conf->audit_syslog_checkpoints ? log_checkpoint : NULL, NULL, key };
	audit_err_t aerr;

	if (ma == NULL || asprintf(&ma->path, "%s/audit.log", conf->audit_dir) < 0) {
		free(ma);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ma->flags = conf->audit_subject ? AUDIT_SUBJECT : 0;
	ma->to_syslog = conf->audit_syslog;
	ma->interval = conf->audit_checkpoint_seconds;
	ma->rotate_size = conf->audit_rotate_size;
	pthread_mutex_init(&ma->lock, NULL);
	pthread_cond_init(&ma->cond, NULL);
	/* A log cut in a crash is set aside (audit.log.<time>.damaged, which
	 * `smimectl audit verify` reports) rather than keeping mail waiting. */
	ma->log = audit_open_ex(conf->audit_dir, &opts,
	    AUDIT_CREATE | AUDIT_RECOVER | ma->flags, &aerr);
	if (ma->log == NULL) {
		snprintf(err, errlen, "audit log: %s", aerr.msg);
		mail_audit_close(ma);
		return NULL;
	}
	audit_set_checkpoint_every(ma->log, (unsigned)conf->audit_checkpoint_records);
	log_opened(ma, conf);
	return ma;
}

/* Rotates when the current file has grown past AuditRotateSize. */
static void
audit_maybe_rotate(mail_audit_t *ma)
{
	struct stat st;
	audit_err_t aerr;

	if (ma->rotate_size == 0 || stat(ma->path, &st) != 0 ||
	    st.st_size < ma->rotate_size)
		return;
	if (audit_rotate(ma->log, &aerr) != AUDIT_OK)
		ops_log(LOG_ERR, NULL, "audit log rotation: %s", aerr.msg);
	else
		ops_log(LOG_INFO, NULL, "audit log rotated at %lld octets",
		    (long long)st.st_size);
}

static void *
audit_timer(void *arg)
{
	mail_audit_t *ma = arg;
	audit_err_t aerr;
	struct timespec until;

	pthread_mutex_lock(&ma->lock);
	while (!ma->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ma->interval;
		while (!ma->stop &&
		    pthread_cond_timedwait(&ma->cond, &ma->lock, &until) != ETIMEDOUT)
			;
		if (ma->stop)
			break;
		pthread_mutex_unlock(&ma->lock);
		if (audit_checkpoint(ma->log, &aerr) != AUDIT_OK)
			ops_log(LOG_ERR, NULL, "audit checkpoint: %s", aerr.msg);
		audit_maybe_rotate(ma);
		pthread_mutex_lock(&ma->lock);
	}
	pthread_mutex_unlock(&ma->lock);
	return NULL;
}

audit_t *
mail_audit_log(mail_audit_t *ma)
{
	return ma != NULL ? ma->log : NULL;
}

int
mail_audit_start(mail_audit_t *ma)
{
	if (pthread_create(&ma->thread, NULL, audit_timer, ma) != 0)
		return -1;
	ma->running = 1;
	return 0;
}

void
mail_audit_close(mail_audit_t *ma)
{
	audit_err_t aerr;

	if (ma == NULL)
		return;
	if (ma->running) {
		pthread_mutex_lock(&ma->lock);
		ma->stop = 1;
		pthread_cond_signal(&ma->cond);
		pthread_mutex_unlock(&ma->lock);
		pthread_join(ma->thread, NULL);
	}
	if (ma->log != NULL && audit_close(ma->log, &aerr) != AUDIT_OK)
		ops_log(LOG_ERR, NULL, "audit log close: %s", aerr.msg);
	pthread_cond_destroy(&ma->cond);
	pthread_mutex_destroy(&ma->lock);
	free(ma->path);
	free(ma);
}

/* The result's action in the audit's words. */
static audit_action_t
audit_action_of(const mail_result_t *r)
{
	static const struct { const char *action; audit_action_t a; } map[] = {
		{ "signed", AUDIT_SIGNED },
		{ "encrypted", AUDIT_ENCRYPTED },
		{ "signed+encrypted", AUDIT_SIGNED_ENCRYPTED },
		{ "pass", AUDIT_PASS },
		{ "unsigned", AUDIT_CLEAR },     /* left the gateway unsigned */
		{ "rejected", AUDIT_REJECTED },
		{ "tempfail", AUDIT_TEMPFAILED },
		{ "decrypted", AUDIT_DECRYPTED },
		{ "verified", AUDIT_VERIFIED },
		{ "decrypted+verified", AUDIT_DECRYPTED_VERIFIED },
		{ "held", AUDIT_HELD },
		{ "reinjected", AUDIT_RELEASED },   /* a spool copy back */
	};

	for (size_t i = 0; r->action != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].action, r->action) == 0)
			return map[i].a;
	return AUDIT_ACTION_UNKNOWN;
}

static audit_direction_t
audit_direction_of(const mail_result_t *r)
{
	if (r->direction == NULL)
		return AUDIT_DIR_NONE;
	return strcmp(r->direction, "outbound") == 0 ? AUDIT_OUTBOUND : AUDIT_INBOUND;
}

/* One message's records, written with one audit_append_all (one sync
 * for all its recipients): each entry holds what its record points to. */
typedef struct rec_entry {
	audit_record_t rec;
	audit_cert_t cert;
	const char *algs[2];
	char rule[600];
} rec_entry_t;

typedef struct rec_set {
	rec_entry_t *e;
	size_t n, max;
} rec_set_t;

/* The entry a record of m's result gets (its result's common part);
 * NULL when the set is full (it was counted first, so never). */
static rec_entry_t *
set_add(rec_set_t *set, const mail_msg_t *m)
{
	const mail_result_t *r = &m->result;
	rec_entry_t *e;

	if (set->n == set->max)
		return NULL;
	e = &set->e[set->n++];
	e->rec.qid = m->qid;
	e->rec.msgid = mail_msg_header(m, "Message-ID");
	e->rec.subject = mail_msg_header(m, "Subject");
	e->rec.direction = audit_direction_of(r);
	e->rec.sender = m->sender;
	e->rec.action = audit_action_of(r);
	e->rec.reason = r->reason[0] ? r->reason : NULL;
	if (r->signer_sha256[0] != '\0') {
		e->cert.sha256 = r->signer_sha256;
		e->cert.serial = r->signer_serial;
		e->algs[0] = r->sig_alg;
		e->rec.ncerts = 1;
		e->rec.nalgorithms = 1;
	}
	return e;
}

/* One record per recipient of m's result (one with no recipient when it
 * has none). */
static void
add_result(rec_set_t *set, const mail_msg_t *m)
{
	size_t n = m->nrcpts ? m->nrcpts : 1;
	rec_entry_t *e;

	for (size_t i = 0; i < n && (e = set_add(set, m)) != NULL; i++) {
		e->rec.rcpt = m->nrcpts ? m->rcpts[i] : NULL;
		e->rec.rule = mail_policy_rule(m, i, e->rule, sizeof(e->rule));
	}
}

/* Recipients split off and held, or refused by policy, are
 * not in the transaction any more; one record each, while the message is
 * known (copies handed on are recorded when they come back). */
static void
add_dropped(rec_set_t *set, const mail_msg_t *m)
{
	const char *rcpt, *why;
	rec_entry_t *e;
	int held;

	for (size_t k = 0; mail_msg_dropped(m, k, &rcpt, &held, &why)
	    && (e = set_add(set, m)) != NULL; k++) {
		e->rec.ncerts = 0;
		e->rec.nalgorithms = 0;
		e->rec.rcpt = rcpt;
		e->rec.action = held ? AUDIT_HELD : AUDIT_REJECTED;
		e->rec.reason = why[0] ? why : NULL;
	}
}

/* 1 when m's result refused the whole message (then its copies and
 * dropped recipients are not recorded: the refusal is). */
static int
refused(const mail_msg_t *m)
{
	audit_action_t a = audit_action_of(&m->result);

	return a == AUDIT_TEMPFAILED || a == AUDIT_REJECTED;
}

/* How many records m makes. */
static size_t
count_records(const mail_msg_t *m)
{
	const char *rcpt, *why;
	const mail_msg_t *c;
	size_t n = m->nrcpts ? m->nrcpts : 1;
	int held;

	for (size_t k = 0; !refused(m) && (c = mail_msg_copy(m, k)) != NULL; k++)
		n += c->nrcpts ? c->nrcpts : 1;
	for (size_t k = 0; !refused(m) && mail_msg_dropped(m, k, &rcpt, &held, &why); k++)
		n++;
	return n;
}

/* The records as one array for audit_append_all (NULL without memory);
 * their pointers into the entries set now that these stay put. */
static audit_record_t *
set_records(rec_set_t *set)
{
	audit_record_t *recs = calloc(set->n ? set->n : 1, sizeof(*recs));

	for (size_t i = 0; recs != NULL && i < set->n; i++) {
		rec_entry_t *e = &set->e[i];

		recs[i] = e->rec;
		recs[i].certs = e->rec.ncerts ? &e->cert : NULL;
		recs[i].algorithms = e->rec.nalgorithms ? e->algs : NULL;
	}
	return recs;
}

/* A copy of each record in syslog (AuditSyslog), once on disk. */
static void
log_records(const mail_audit_t *ma, const mail_msg_t *m,
    const audit_record_t *recs, size_t n)
{
	audit_err_t aerr;

	for (size_t i = 0; ma->to_syslog && i < n; i++) {
		char *json = audit_record_json(&recs[i], ma->flags, &aerr);

		if (json != NULL)
			ops_log(LOG_INFO, m->qid, "audit: %s", json);
		free(json);
	}
}

int
mail_audit_record(mail_audit_t *ma, const mail_msg_t *m, char *err, size_t errlen)
{
	rec_set_t set = { NULL, 0, count_records(m) };
	audit_record_t *recs = NULL;
	const mail_msg_t *c;
	audit_err_t aerr;
	int rc = -1;

	if ((set.e = calloc(set.max, sizeof(*set.e))) == NULL) {
		snprintf(err, errlen, "audit log: out of memory");
		return -1;
	}
	add_result(&set, m);
	/* A split message's copies handed on in their own form
	 * (an outsider's encrypted copy next to a colleague's signed one)
	 * are recorded as they leave, so that reports count them by form;
	 * their return through the MTA is recorded as "released". */
	for (size_t k = 0; !refused(m) && (c = mail_msg_copy(m, k)) != NULL; k++)
		add_result(&set, c);
	if (!refused(m))
		add_dropped(&set, m);
	if ((recs = set_records(&set)) == NULL)
		snprintf(err, errlen, "audit log: out of memory");
	else if (audit_append_all(ma->log, recs, set.n, &aerr) != AUDIT_OK)
		snprintf(err, errlen, "audit log: %s", aerr.msg);
	else {
		log_records(ma, m, recs, set.n);
		rc = 0;
	}
	free(recs);
	free(set.e);
	return rc;
}
