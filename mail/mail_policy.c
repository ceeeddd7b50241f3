/*
 * mail_policy.c: the policy at the end of an outbound message (see
 * mail_policy.h).  The certificate of each recipient is looked up with
 * the configuration's dir_lookup_t (directory/dir_lookup.h) by rcpt_cert()
 * and kept for the encryption (mail_outbound.c); why the candidates not
 * chosen were refused, and a cache outage, go to the log.  Each
 * recipient is looked up once per message: the answer is kept in the
 * message's memo (mail_cert_memo_t), for the split's plan, the policy
 * and the copies split off (mail_policy_memo_pass()).
 */
#include "mail/mail_policy.h"
#include "directory/dir_lookup.h"
#include "ops/ops_log.h"
#include "enroll/enroll.h"
#include "ops/ops_metrics.h"
#include "smime/smime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Logs what the lookup said of each candidate that was not taken. */
static void
log_answer(const mail_msg_t *m, const char *rcpt, const dir_answer_t *a)
{
	if (a->note[0] != '\0')
		ops_log(LOG_WARNING, m->qid, "%s", a->note);
	for (size_t i = 0; i < a->ncands; i++)
		if (strcmp(a->cands[i].verdict, "chosen") != 0)
			ops_log(LOG_INFO, m->qid, "recipient <%s>: certificate %s serial %s "
			    "from %s not used: %s", rcpt, a->cands[i].subject,
			    a->cands[i].serial, a->cands[i].source, a->cands[i].verdict);
}

/* Asks the directories for recipient i's certificate: *cert (a new
 * reference, or NULL) and *gcm.  UNKNOWN when there was nothing to look
 * in (no directory configured, nothing harvested or cached for it). */
static enum policy_cert
lookup_now(const mail_msg_t *m, size_t i, X509 **cert, int *gcm)
{
	dir_lookup_t *l = m->conf->lookup;
	enum policy_cert c;
	dir_answer_t a;
	dir_status_t st;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = dir_lookup_find(l, m->rcpts[i], &a);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ops_metrics_lookup((int)st, a.source, (double)(t1.tv_sec - t0.tv_sec)
	    + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	log_answer(m, m->rcpts[i], &a);
	if (st == DIR_OK) {
		*cert = a.cert;
		*gcm = a.gcm;
		a.cert = NULL;
		c = POLICY_CERT_FOUND;
	} else if (st == DIR_ERR_UNAVAILABLE || st == DIR_ERR_NOMEM) {
		ops_log(LOG_WARNING, m->qid, "recipient <%s>: certificate lookup: %s",
		    m->rcpts[i], a.err);
		c = POLICY_CERT_UNAVAILABLE;
	} else {
		c = dir_lookup_ndirs(l) == 0 && dir_lookup_partner(l, m->rcpts[i]) == NULL
		    && a.ncands == 0 ? POLICY_CERT_UNKNOWN : POLICY_CERT_NONE;
	}
	dir_answer_clear(&a);
	return c;
}

/* The memo's entry for recipient i (m->memo grown to m->nrcpts), or
 * NULL when out of memory. */
static mail_cert_memo_t *
memo_slot(mail_msg_t *m, size_t i)
{
	mail_cert_memo_t *p;

	if (i < m->nmemo)
		return &m->memo[i];
	if ((p = realloc(m->memo, m->nrcpts * sizeof(*p))) == NULL)
		return NULL;
	memset(p + m->nmemo, 0, (m->nrcpts - m->nmemo) * sizeof(*p));
	m->memo = p;
	m->nmemo = m->nrcpts;
	return &m->memo[i];
}

/* Keeps found, cert (a reference of the memo's own) and gcm for
 * recipient i; nothing when out of memory (it is asked again). */
static void
memo_keep(mail_msg_t *m, size_t i, enum policy_cert found, X509 *cert, int gcm)
{
	mail_cert_memo_t *e = memo_slot(m, i);
	char *addr;

	if (e == NULL || (addr = strdup(m->rcpts[i])) == NULL)
		return;
	free(e->addr);
	X509_free(e->cert);
	e->addr = addr;
	e->found = (int)found;
	e->cert = cert;
	e->gcm = gcm;
	if (cert != NULL)
		X509_up_ref(cert);
}

/*
 * Recipient i's lookup, asked once per message: from the memo when it
 * holds this very recipient, else asked and kept.  A refusal is not kept
 * where the embedded CA may enroll: the next asking sees what it issued,
 * as without the memo.
 */
static enum policy_cert
rcpt_lookup(mail_msg_t *m, size_t i, X509 **cert, int *gcm)
{
	const mail_cert_memo_t *e = i < m->nmemo ? &m->memo[i] : NULL;
	enum policy_cert c;

	if (e != NULL && e->addr != NULL && strcmp(e->addr, m->rcpts[i]) == 0) {
		if ((*cert = e->cert) != NULL)
			X509_up_ref(*cert);
		*gcm = e->gcm;
		return (enum policy_cert)e->found;
	}
	c = lookup_now(m, i, cert, gcm);
	if (c == POLICY_CERT_FOUND || c == POLICY_CERT_UNAVAILABLE
	    || !enroll_possible(m->conf))
		memo_keep(m, i, c, *cert, *gcm);
	return c;
}

void
mail_policy_memo_pass(const mail_msg_t *from, mail_msg_t *to)
{
	size_t k = 0;

	if (from->conf != to->conf || from->nmemo == 0)
		return;
	for (size_t j = 0; j < to->nrcpts; j++) {
		/* The copy's recipients are the message's, in its order. */
		for (size_t n = 0; n < from->nmemo; n++, k = (k + 1) % from->nmemo) {
			const mail_cert_memo_t *e = &from->memo[k];

			if (e->addr != NULL && strcmp(e->addr, to->rcpts[j]) == 0) {
				memo_keep(to, j, (enum policy_cert)e->found, e->cert, e->gcm);
				break;
			}
		}
	}
}

/*
 * What is known of recipient i's certificate: looked up only when its
 * rule may encrypt (rcpt_lookup()).
 */
static enum policy_cert
rcpt_cert(mail_msg_t *m, mail_policy_res_t *p, size_t i)
{
	enum policy_cert c;

	if (m->conf->lookup == NULL || p->res.d[i].passthrough ||
	    p->res.d[i].v[POLICY_ENCRYPT] == POLICY_ENC_NEVER)
		return POLICY_CERT_UNKNOWN;
	c = rcpt_lookup(m, i, &p->certs[i], &p->gcm[i]);
	/* Enrollment by the embedded CA: fails closed. */
	if ((c == POLICY_CERT_NONE || c == POLICY_CERT_UNKNOWN) && enroll_possible(m->conf)
	    && (p->res.d[i].v[POLICY_ENCRYPT] == POLICY_ENC_ALWAYS
	    || p->res.d[i].v[POLICY_ENROLL])) {
		char lang[8];
		enroll_req_t r = { m->conf, m->keystore, m->qid, m->sender,
			policy_language(p->res.d[i].v[POLICY_LANGUAGE], lang, sizeof(lang)) };
		int e = enroll_rcpt(&r, m->rcpts[i], &p->certs[i]);

		c = e == 0 ? POLICY_CERT_FOUND : e < 0 ? POLICY_CERT_UNAVAILABLE : c;
	}
	return c;
}

/* 1 when buf[0..len) holds a calendar media type (any case): each '/'
 * is looked at with what stands around it. */
static int
names_calendar(const char *buf, size_t len)
{
	static const struct { const char *type; size_t slash; } types[] = {
		{ "text/calendar", 4 }, { "application/ics", 11 },
	};
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '/', (size_t)(end - p))) != NULL) {
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			size_t tl = strlen(types[t].type), at = (size_t)(p - buf);

			if (at >= types[t].slash && at - types[t].slash + tl <= len &&
			    strncasecmp(p - types[t].slash, types[t].type, tl) == 0)
				return 1;
		}
		p++;
	}
	return 0;
}

/* 1 when the body names a calendar media type (text/calendar,
 * application/ics, any case) somewhere: read in chunks, nothing kept. */
static int
body_names_calendar(mail_spool_t *sp)
{
	enum { OVERLAP = 15 };      /* strlen("application/ics") - 1 */
	char buf[65536 + OVERLAP];
	size_t keep = 0;
	long long off = 0;
	ssize_t n;

	while ((n = mail_spool_read(sp, off, buf + keep, sizeof(buf) - keep)) > 0) {
		size_t len = keep + (size_t)n;

		if (names_calendar(buf, len))
			return 1;
		off += n;
		keep = len < OVERLAP ? len : OVERLAP;
		memmove(buf, buf + len - keep, keep);
	}
	return 0;
}

/*
 * 1 when a calendar invitation is somewhere in m's MIME tree
 * (smime_calendar_find()), for the policy's calendar rule.  Only
 * multipart mail whose body names a calendar type is parsed (a top-level
 * text/calendar the engine sees itself); mail that does not parse or
 * passes the MIME limits is not taken for an invitation (signing refuses
 * what passes the limits).
 */
static int
msg_has_calendar(const mail_msg_t *m)
{
	const char *ct = mail_msg_header(m, "Content-Type");
	smime_body_t body = { NULL, 0, -1 };
	char *hdrs, why[256];
	int r;

	while (ct != NULL && (*ct == ' ' || *ct == '\t'))
		ct++;
	if (ct == NULL || strncasecmp(ct, "multipart/", 10) != 0 ||
	    !body_names_calendar(m->body) || (hdrs = mail_msg_content_headers(m)) == NULL)
		return 0;
	body.mem = mail_spool_mem(m->body, &body.len);
	body.fd = mail_spool_fd(m->body);
	r = smime_calendar_find(hdrs, &body, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth, why, sizeof(why));
	if (r < 0)
		ops_log(LOG_INFO, m->qid, "calendar: not looked for: %s", why);
	free(hdrs);
	return r > 0;
}

/* The plain data the engine looks at. */
static policy_status_t
decide(mail_msg_t *m, mail_policy_res_t *p, policy_err_t *err)
{
	policy_hdr_t *hdrs = calloc(m->nhdrs ? m->nhdrs : 1, sizeof(*hdrs));
	policy_rcpt_t *rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*rcpts));
	policy_msg_t pm = { m->sender, 1, mail_msg_header(m, "Subject"), hdrs, m->nhdrs,
		mail_msg_header(m, "Content-Type"), msg_has_calendar(m), 0, POLICY_OUTBOUND };
	policy_status_t st = POLICY_ERR_NOMEM;
	/* Passed through as encrypted only when the body really is. */
	int enc = mail_msg_encrypted(m);

	pm.encrypted = enc == 1 ? POLICY_BODY_ENCRYPTED : POLICY_BODY_PLAIN;
	if (hdrs != NULL && rcpts != NULL && enc >= 0) {
		for (size_t i = 0; i < m->nhdrs; i++) {
			hdrs[i].name = m->hdrs[i].name;
			hdrs[i].value = m->hdrs[i].value;
		}
		for (size_t i = 0; i < m->nrcpts; i++) {
			rcpts[i].addr = m->rcpts[i];
			rcpts[i].local = conf_is_local_domain(m->conf,
			    util_addr_domain(m->rcpts[i]));
		}
		st = policy_decide(p->policy, &pm, rcpts, m->nrcpts, &p->res, err);
	}
	free(hdrs);
	free(rcpts);
	return st;
}

/* A recipient encrypted to an EC key (an ECDH
 * KeyAgreeRecipientInfo) is a form of its own when SplitKeyAgreement is
 * on: NSS refuses a whole message that holds one, so RSA recipients get a
 * copy without it. */
static void
form_key_agreement(const mail_msg_t *m, mail_policy_res_t *p, size_t i)
{
	if (m->conf->split_key_agreement && p->forms[i].encrypt && p->certs[i] != NULL)
		p->forms[i].key_agreement = mail_cert_key_agreement(p->certs[i]);
}

int
mail_cert_key_agreement(X509 *cert)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);

	return k != NULL && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA;
}

/* The forms and their groups. */
static int
resolve(mail_msg_t *m, mail_policy_res_t *p)
{
	size_t n = p->res.n;

	p->forms = calloc(n ? n : 1, sizeof(*p->forms));
	p->group = calloc(n ? n : 1, sizeof(*p->group));
	p->certs = calloc(n ? n : 1, sizeof(*p->certs));
	p->gcm = calloc(n ? n : 1, sizeof(*p->gcm));
	if (p->forms == NULL || p->group == NULL || p->certs == NULL || p->gcm == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		policy_decision_t d = p->res.d[i];

		/* Released by an operator: the hold is met, nothing else is. */
		if (m->released && d.v[POLICY_ACTION] == POLICY_ACT_HOLD)
			d.v[POLICY_ACTION] = POLICY_ACT_DELIVER;
		policy_resolve(&d, rcpt_cert(m, p, i), &p->forms[i]);
		form_key_agreement(m, p, i);
	}
	p->ngroups = policy_group(p->forms, n, p->group);
	return 0;
}

/* The first recipient whose outcome is o, or -1. */
static long
first_with(const mail_policy_res_t *p, enum policy_outcome o)
{
	for (size_t i = 0; i < p->res.n; i++)
		if (p->forms[i].outcome == o)
			return (long)i;
	return -1;
}

/* Refused, held or tempfailed as a whole because of recipient i. */
static int
whole_message(mail_msg_t *m, const mail_policy_res_t *p, long i)
{
	mail_result_t *r = &m->result;
	enum policy_outcome o = p->forms[i].outcome;
	char why[1200];

	snprintf(why, sizeof(why), "policy: <%.300s>: %s; %s", m->rcpts[i],
	    p->forms[i].why, p->res.d[i].why);
	if (o == POLICY_REJECT) {
		mail_msg_fail(m, MAIL_FAIL_POLICY, why);
	} else if (o == POLICY_TEMPFAIL) {
		mail_msg_tempfail(m, why);
	} else {
		r->what = MAIL_DO_HOLD;
		r->action = "held";
		snprintf(r->reason, sizeof(r->reason), "%.*s", (int)sizeof(r->reason) - 1, why);
	}
	return 1;
}

int
mail_policy_outbound(mail_msg_t *m, int *sign)
{
	mail_result_t *r = &m->result;
	mail_policy_res_t *p = calloc(1, sizeof(*p));
	static const enum policy_outcome order[] = { POLICY_TEMPFAIL, POLICY_REJECT,
		POLICY_HOLD, POLICY_NOTICE };
	policy_err_t err;
	long i;

	*sign = 0;
	if (p == NULL)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "policy: out of memory"), 1;
	p->policy = policy_ref(m->conf->policy);
	r->policy = p;
	if (decide(m, p, &err) != POLICY_OK || resolve(m, p) != 0)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "policy: out of memory"), 1;
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
		if ((i = first_with(p, order[k])) >= 0)
			return whole_message(m, p, i);
	for (size_t k = 0; k < p->res.n; k++)
		*sign |= p->forms[k].sign && !p->forms[k].passthrough;
	if (p->res.subject != NULL && (mail_result_strip(r, "Subject") != 0 ||
	    mail_result_set(r, "Subject", p->res.subject) != 0))
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "policy: out of memory"), 1;
	return 0;
}

const char *
mail_policy_rule(const mail_msg_t *m, size_t i, char *buf, size_t len)
{
	const mail_policy_res_t *p = m->result.policy;

	if (p == NULL || i >= p->res.n)
		return NULL;
	return policy_rule_describe(p->res.d[i].decided, buf, len);
}

/* The forms and groups alone, result untouched. */
mail_policy_res_t *
mail_policy_groups(mail_msg_t *m)
{
	mail_policy_res_t *p = calloc(1, sizeof(*p));
	policy_err_t err;

	if (p == NULL)
		return NULL;
	p->policy = policy_ref(m->conf->policy);
	if (decide(m, p, &err) != POLICY_OK || resolve(m, p) != 0) {
		mail_result_policy_free(p);
		return NULL;
	}
	return p;
}
