/*
 * mail_split.c: mixed recipients, the mark, and the copies a message
 * leaves in the spool (see mail_split.h).  Every copy made of a client's
 * message records the submitter (login, client class); a held copy
 * decided again is decided for that submitter (mail_runner.c).
 */
#include "mail/mail_split.h"
#include "mail/mail_entry.h"
#include "ops/ops_log.h"
#include "queue/queue.h"
#include "queue/queue_wake.h"
#include "util/util_alg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

/* ---- the mark ---- */

/* 1 when copy id was released unencrypted by an operator (its record
 * QueueDirectory/clear/ID, made by smimectl spool release --clear). */
static int
released_clear(const mail_msg_t *m, const char *id)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;
	int r = 0;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) == QUEUE_OK)
		r = queue_noted(q, "clear", id);
	queue_close(q);
	return r;
}

/* Claims copy id as come back through the MTA (queue_back_claim()): 1
 * claimed (the MTA has it; a crash before the runner removed it does not
 * make it go out again), 0 not out or back already, -1 cannot be told. */
static int
claim(const mail_msg_t *m, const char *id, char *err, size_t errlen)
{
	queue_t *q;
	int r = -1;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, errlen) == QUEUE_OK)
		r = queue_back_claim(q, id, err, errlen);
	queue_close(q);
	return r;
}

/* Gives back the claim of the copy m is (the message was tempfailed:
 * the MTA brings it again, and its mark must then be honoured). */
static void
unclaim(const mail_msg_t *m)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK
	    || queue_back_unclaim(q, m->result.marked, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_WARNING, m->qid, "spool: copy %s: its mark stays used: %s",
		    m->result.marked, err);
	queue_close(q);
}

/* A copy made in its form carries the result header of its own
 * processing (an inbound copy: decrypted, or no-key), rendered after
 * every incoming one was dropped; it stays when the copy comes back (the
 * header is deleted from all mail and set again). */
static void
keep_result(mail_msg_t *m)
{
	const char *v = mail_msg_header(m, m->conf->result_header);

	if (v != NULL && mail_result_set(&m->result, m->conf->result_header, v) != 0)
		ops_log(LOG_WARNING, m->qid, "spool copy: its %s not kept (out of memory)",
		    m->conf->result_header);
}

int
mail_split_mark(mail_msg_t *m)
{
	const char *v = mail_msg_header(m, QUEUE_MARK_HEADER);
	char id[QUEUE_ID_MAX], mac[65], err[QUEUE_ERR_MAX];
	unsigned char digest[32];

	if (mail_result_strip(&m->result, QUEUE_MARK_HEADER) != 0 || v == NULL
	    || m->conf->reinject_keylen == 0)
		return 0;
	if (sscanf(v, "%47s %64s", id, mac) != 2 || mail_entry_digest(m->body, digest) != 0
	    || !queue_mark_check(m->conf->reinject_key, m->conf->reinject_keylen, mac, id,
	    m->sender ? m->sender : "", (const char *const *)m->rcpts, m->nrcpts, digest)) {
		ops_log(LOG_WARNING, m->qid, "%s: a mark that does not verify (not ours, or "
		    "on another envelope or body): not honoured", QUEUE_MARK_HEADER);
		return 0;
	}
	switch (claim(m, id, err, sizeof(err))) {
	case 0:
		ops_log(LOG_WARNING, m->qid, "%s: spool copy %s is not out, or came back "
		    "already (a replay): its mark is not honoured", QUEUE_MARK_HEADER, id);
		return 0;
	case -1:
		mail_msg_tempfail(m, err);
		return 1;
	}
	snprintf(m->result.marked, sizeof(m->result.marked), "%s", id);
	if (released_clear(m, id))
		mail_msg_pass(m, "reinjected", "spool copy %s, released unencrypted by the "
		    "operator (smimectl spool release --clear)", id);
	else {
		mail_msg_pass(m, "reinjected", "spool copy %s", id);
		keep_result(m);
	}
	return 1;
}

/* ---- planning ---- */

/* 1 for the headers that differ each time the same message is received
 * (trace headers the MTA adds, our mark): not part of its digest. */
static int
hdr_varies(const char *name)
{
	return strcasecmp(name, "Received") == 0 || strcasecmp(name, "Return-Path") == 0
	    || strcasecmp(name, QUEUE_MARK_HEADER) == 0;
}

/* SHA-256 of m as received: its headers (but those of hdr_varies()), then
 * its body; what a copy's ID is made from (queue_dedup_id()).  0 or -1. */
static int
msg_digest(const mail_msg_t *m, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;
	char chunk[8192];
	long long off = 0;
	ssize_t n = 0;
	int ok = c != NULL && EVP_DigestInit_ex(c, util_alg_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < m->nhdrs; i++)
		if (!hdr_varies(m->hdrs[i].name))
			ok = EVP_DigestUpdate(c, m->hdrs[i].name, strlen(m->hdrs[i].name) + 1) == 1
			    && EVP_DigestUpdate(c, m->hdrs[i].value, strlen(m->hdrs[i].value) + 1) == 1;
	ok = ok && EVP_DigestUpdate(c, "", 1) == 1;
	while (ok && (n = mail_spool_read(m->body, off, chunk, sizeof(chunk))) > 0) {
		ok = EVP_DigestUpdate(c, chunk, (size_t)n) == 1;
		off += n;
	}
	ok = ok && n == 0 && EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* The group m keeps in the transaction: the first that is delivered, else
 * the first held; *keep, or -1 when every group is refused. */
static int
keep_group(const size_t *group, const enum policy_outcome *out, size_t n, size_t *keep)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] == POLICY_DELIVER)
			return *keep = group[i], 0;
	for (size_t i = 0; i < n; i++)
		if (out[i] == POLICY_HOLD)
			return *keep = group[i], 0;
	return -1;
}

/* The outcome of group g. */
static enum policy_outcome
group_outcome(const size_t *group, const enum policy_outcome *out, size_t n, size_t g)
{
	for (size_t i = 0; i < n; i++)
		if (group[i] == g)
			return out[i];
	return POLICY_DELIVER;
}

int
mail_split_plan(mail_msg_t *m, const size_t *group, const enum policy_outcome *outcome,
    size_t ng, mail_split_t **sp)
{
	size_t n = m->nrcpts, keep;
	mail_split_t *s;

	*sp = NULL;
	if (!mail_msg_can_split(m) || n < 2 || ng < 2)
		return 0;
	keep = group[0];
	for (size_t i = 0; outcome != NULL && i < n; i++)
		if (outcome[i] == POLICY_TEMPFAIL)
			return 0;       /* a directory down: the whole message waits */
	if (outcome != NULL && keep_group(group, outcome, n, &keep) != 0)
		return 0;       /* every recipient refused: as a whole */
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->c = calloc(ng, sizeof(*s->c))) == NULL
	    || (s->group = calloc(n, sizeof(*s->group))) == NULL) {
		mail_result_split_free(s);
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), -1;
	}
	if (msg_digest(m, s->digest) != 0) {
		mail_result_split_free(s);
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no digest"), -1;
	}
	memcpy(s->group, group, n * sizeof(*group));
	s->keep = keep;
	s->inbound = outcome == NULL;
	for (size_t g = 0; g < ng; g++) {
		if (g == keep)
			continue;
		s->c[s->nc].group = g;
		s->c[s->nc++].outcome = outcome != NULL ? group_outcome(group, outcome, n, g)
		    : POLICY_DELIVER;
	}
	*sp = s;
	return 1;
}

/* ---- the copies ---- */

mail_msg_t *
mail_split_sub(mail_msg_t *m, const mail_split_t *s, size_t k)
{
	mail_msg_t *c = mail_msg_new(m->conf, m->keystore);
	char chunk[8192];
	long long off = 0;
	ssize_t n;
	int bad = c == NULL;

	if (!bad) {
		snprintf(c->qid, sizeof(c->qid), "%s", m->qid);
		c->no_split = 1;            /* one group already */
		snprintf(c->client_addr, sizeof(c->client_addr), "%s", m->client_addr);
		c->client_internal = m->client_internal;
		bad |= m->auth != NULL && (c->auth = strdup(m->auth)) == NULL;
		bad |= (c->sender = strdup(m->sender ? m->sender : "")) == NULL;
	}
	for (size_t i = 0; !bad && i < m->nrcpts; i++)
		if (s->group[i] == s->c[k].group)
			bad |= mail_msg_add_rcpt(c, m->rcpts[i]) != 0;
	for (size_t i = 0; !bad && i < m->nhdrs; i++)
		bad |= mail_msg_add_header(c, m->hdrs[i].name, m->hdrs[i].value) != 0;
	while (!bad && (n = mail_spool_read(m->body, off, chunk, sizeof(chunk))) > 0) {
		bad |= mail_msg_add_body(c, chunk, (size_t)n) != 0;
		off += n;
	}
	if (bad) {
		mail_msg_free(c);
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory");
		return NULL;
	}
	return c;
}

/* Copy cp is sub in its form, to re-inject: its ID from what it is made
 * of (a message sent again, after a crash or a tempfail, makes the same
 * ID, not a second copy), and its mark.  0, or -1 with m's result final. */
static int
copy_send(mail_msg_t *m, const mail_split_t *s, mail_copy_t *cp, mail_msg_t *sub)
{
	unsigned char body[32];
	char mac[65];

	cp->kind = MAIL_COPY_SEND;
	if (queue_dedup_id(sub->sender, (const char *const *)sub->rcpts, sub->nrcpts,
	    mail_msg_header(m, "Message-ID"), s->digest, cp->id) != 0)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no copy ID"), -1;
	if (mail_entry_digest(mail_entry_body(sub, &sub->result), body) != 0
	    || queue_mark_make(m->conf->reinject_key, m->conf->reinject_keylen, cp->id,
	    sub->sender, (const char *const *)sub->rcpts, sub->nrcpts, body, mac) != 0)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no mark"), -1;
	snprintf(cp->mark, sizeof(cp->mark), "%s %s", cp->id, mac);
	return 0;
}

/*
 * Records what copy k became, decided as sub: the copy in its form
 * (SEND), the original (HOLD), or, for recipients the policy refuses
 * (reject, or a fallback=notice), nothing but the reason (REFUSED).
 */
int
mail_split_record(mail_msg_t *m, mail_split_t *s, size_t k, mail_msg_t *sub)
{
	mail_copy_t *cp = &s->c[k];
	const mail_result_t *r = &sub->result;
	char why[900];

	queue_new_id(cp->id);
	snprintf(cp->form, sizeof(cp->form), "%s", r->action ? r->action : "");
	snprintf(cp->reason, sizeof(cp->reason), "%.*s", (int)sizeof(cp->reason) - 1, r->reason);
	if (cp->outcome == POLICY_REJECT || cp->outcome == POLICY_NOTICE
	    || r->what == MAIL_DO_REJECT) {
		cp->kind = MAIL_COPY_REFUSED;
	} else if (r->what == MAIL_DO_HOLD) {
		cp->kind = MAIL_COPY_HOLD;      /* the original, from m at commit */
	} else if (r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE) {
		if (copy_send(m, s, cp, sub) != 0) {
			mail_msg_free(sub);
			return -1;
		}
		cp->sub = sub;          /* written at commit, streamed */
		return 0;
	} else {
		snprintf(why, sizeof(why), "copy for <%s>: %s", sub->rcpts[0], r->reason);
		mail_msg_tempfail(m, why);
		mail_msg_free(sub);
		return -1;
	}
	mail_msg_free(sub);
	if (s->inbound) {
		/* a whole-message refusal or hold comes before any split */
		mail_msg_tempfail(m, "split: an inbound copy was not made");
		return -1;
	}
	return 0;
}

/* Moves the recipients not in the group kept from m to s->del, and those
 * of each copy's group to the copy.  0, or -1 out of memory. */
static int
take_rcpts(mail_msg_t *m, mail_split_t *s)
{
	size_t k = 0, c;

	if ((s->del = calloc(m->nrcpts, sizeof(*s->del))) == NULL)
		return -1;
	for (size_t i = 0; i < s->nc; i++)
		if ((s->c[i].rcpts = calloc(m->nrcpts, sizeof(char *))) == NULL)
			return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (s->group[i] == s->keep) {
			m->rcpts[k++] = m->rcpts[i];
			continue;
		}
		for (c = 0; c < s->nc && s->c[c].group != s->group[i]; c++)
			;
		s->c[c].rcpts[s->c[c].n++] = m->rcpts[i];
		s->c[c].dropped = 1;
		s->del[s->ndel++] = m->rcpts[i];
	}
	m->nrcpts = k;
	return 0;
}

/* A header value on one line, for the notice's text (bounded). */
static void
one_line(char *out, size_t size, const char *v)
{
	size_t k = 0;

	for (; v != NULL && *v != '\0' && k + 1 < size; v++)
		out[k++] = (*v == '\r' || *v == '\n' || *v == '\t') ? ' ' : *v;
	out[k] = '\0';
}

/*
 * Adds to s the notice to m's sender naming the recipients of its REFUSED
 * copies (none for the null sender: a notice about a notice could loop).
 * Its text: the template refusal.txt.  0, or -1 out of memory.
 */
static int
add_notice(const mail_msg_t *m, mail_split_t *s)
{
	char *list = NULL, *text = NULL, mac[65], mark[QUEUE_ID_MAX + 70], subj[201];
	unsigned char body[32];
	mail_copy_t cp = { .kind = MAIL_COPY_NOTICE };
	mail_copy_t *grown;
	int rc = -1;

	if (m->sender == NULL || m->sender[0] == '\0')
		return 0;
	for (size_t i = 0; i < s->nc; i++)
		for (size_t j = 0; s->c[i].kind == MAIL_COPY_REFUSED && j < s->c[i].n; j++)
			if (mail_entry_list_add(&list, s->c[i].rcpts[j], s->c[i].reason) != 0)
				goto out;
	if (list == NULL)
		return 0;
	one_line(subj, sizeof(subj), mail_msg_header(m, "Subject"));
	queue_new_id(cp.id);
	snprintf(cp.form, sizeof(cp.form), "notice");
	snprintf(cp.reason, sizeof(cp.reason), "recipients refused by policy");
	if ((cp.rcpts = calloc(1, sizeof(char *))) == NULL
	    || (cp.rcpts[0] = strdup(m->sender)) == NULL)
		goto out;
	cp.n = 1;
	if ((text = mail_entry_notice(m->conf, CONF_TMPL_REFUSAL_TXT, m->sender, m->qid, subj,
	    list)) == NULL
	    || queue_digest_message(text, strlen(text), body) != 0
	    || queue_mark_make(m->conf->reinject_key, m->conf->reinject_keylen, cp.id, "",
	    (const char *const *)cp.rcpts, 1, body, mac) != 0)
		goto out;
	snprintf(mark, sizeof(mark), "%s %s", cp.id, mac);
	if (asprintf(&cp.data, "%s: %s\r\n%s", QUEUE_MARK_HEADER, mark, text) < 0)
		cp.data = NULL;
	if (cp.data == NULL || (grown = realloc(s->c, (s->nc + 1) * sizeof(*s->c))) == NULL)
		goto out;
	s->c = grown;
	s->c[s->nc++] = cp;
	memset(&cp, 0, sizeof(cp));
	rc = 0;
out:
	free(text);
	free(list);
	if (cp.rcpts != NULL)
		free(cp.rcpts[0]);
	free(cp.rcpts);
	free(cp.data);
	return rc;
}

int
mail_split_finish(mail_msg_t *m, mail_split_t *s)
{
	if (take_rcpts(m, s) != 0 || (!s->inbound && add_notice(m, s) != 0)) {
		mail_result_split_free(s);
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), -1;
	}
	free(s->group);
	s->group = NULL;
	m->result.split = s;
	return 0;
}

/* ---- held as a whole ---- */

/* 1 when some recipient of m is held (not only refused with a notice). */
static int
any_held(const mail_msg_t *m)
{
	const mail_policy_res_t *p = m->result.policy;

	for (size_t i = 0; p != NULL && p->forms != NULL && i < p->res.n; i++)
		if (p->forms[i].outcome == POLICY_HOLD)
			return 1;
	return p == NULL || p->forms == NULL;
}

/* Adds an empty copy to s (grown by one); NULL out of memory. */
static mail_copy_t *
copy_add(mail_split_t *s)
{
	mail_copy_t *grown = realloc(s->c, (s->nc + 1) * sizeof(*s->c));

	if (grown == NULL)
		return NULL;
	s->c = grown;
	memset(&s->c[s->nc], 0, sizeof(*s->c));
	return &s->c[s->nc++];
}

void
mail_split_respool(mail_msg_t *m)
{
	mail_result_t *r = &m->result;
	mail_split_t *s = r->split;
	mail_copy_t *cp;
	char why[sizeof(r->reason)];
	int held = any_held(m);

	if (r->what != MAIL_DO_HOLD || !mail_msg_can_split(m) || m->nrcpts == 0)
		return;
	/* A notice to the null sender is never sent: refused instead of
	 * discarded, so the MTA's bounce (to its postmaster) says what
	 * happened and nothing vanishes. */
	if (!held && (m->sender == NULL || m->sender[0] == '\0')) {
		snprintf(why, sizeof(why), "%s", r->reason);
		return mail_msg_fail(m, MAIL_FAIL_POLICY, why);
	}
	if (s == NULL && (s = r->split = calloc(1, sizeof(*s))) == NULL)
		return mail_msg_tempfail(m, "spool: out of memory");
	if ((cp = copy_add(s)) == NULL || (cp->rcpts = calloc(m->nrcpts, sizeof(char *))) == NULL)
		return mail_msg_tempfail(m, "spool: out of memory");
	queue_new_id(cp->id);
	for (size_t i = 0; i < m->nrcpts; i++)
		cp->rcpts[cp->n++] = m->rcpts[i];
	snprintf(cp->reason, sizeof(cp->reason), "%s", r->reason);
	cp->kind = held ? MAIL_COPY_HOLD : MAIL_COPY_REFUSED;
	snprintf(cp->form, sizeof(cp->form), "%s", held ? "held" : "");
	/* add_notice() grows s->c: cp is not used after it. */
	if (!held && add_notice(m, s) != 0)
		return mail_msg_tempfail(m, "spool: out of memory");
	r->what = MAIL_DO_DISCARD;
	snprintf(why, sizeof(why), "%s", r->reason);
	snprintf(r->reason, sizeof(r->reason), "%.440s (in the gateway's spool%s)", why,
	    held ? ", held" : ", the sender notified");
	r->action = held ? "held" : "rejected";
}

/* ---- writing and removing ---- */

void
mail_split_cancel(mail_msg_t *m)
{
	mail_split_t *s = m->result.split;
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (m->result.marked[0] != '\0') {
		unclaim(m);
		m->result.marked[0] = '\0';
	}
	if (s == NULL || queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return;
	for (size_t i = 0; i < s->nc; i++)
		if (s->c[i].written && queue_remove(q, s->c[i].id, err, sizeof(err)) == QUEUE_OK)
			s->c[i].written = 0;
	queue_close(q);
}

/* The log lines of a copy written (or, REFUSED, of recipients dropped). */
static void
copy_log(const mail_msg_t *m, const mail_copy_t *cp, const char *notice_id)
{
	for (size_t j = 0; j < cp->n; j++) {
		if (cp->kind == MAIL_COPY_REFUSED)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, refused: %s; %s%s", cp->rcpts[j],
			    cp->reason, notice_id ? "notice=" : "no notice (null sender)",
			    notice_id ? notice_id : "");
		else if (cp->again)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, made by an earlier "
			    "attempt of this message (in the spool or handed on): not again",
			    cp->rcpts[j], cp->id);
		else if (cp->kind == MAIL_COPY_NOTICE)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, notice of refused "
			    "recipients", cp->rcpts[j], cp->id);
		else
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, %s, form=%s",
			    cp->rcpts[j], cp->id, cp->kind == MAIL_COPY_HOLD ? "held" : "to re-inject",
			    cp->form);
	}
}

/* A failure while the copies are written: those written go, m is
 * tempfailed. */
static void
commit_failed(mail_msg_t *m, queue_t *q, const char *err)
{
	char why[QUEUE_ERR_MAX];

	snprintf(why, sizeof(why), "%s", err);
	queue_close(q);
	mail_split_cancel(m);
	mail_msg_tempfail(m, why);
}

void
mail_split_commit(mail_msg_t *m)
{
	mail_split_t *s = m->result.split;
	mail_do_t what = m->result.what;
	const char *notice_id = NULL;
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (s == NULL || (what != MAIL_DO_PASS && what != MAIL_DO_REPLACE &&
	    what != MAIL_DO_HOLD && what != MAIL_DO_DISCARD))
		return;
	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return commit_failed(m, NULL, err);
	for (size_t i = 0; i < s->nc; i++) {
		mail_copy_t *cp = &s->c[i];
		int own = cp->kind == MAIL_COPY_NOTICE;  /* the gateway's: no submitter */
		queue_env_t env = { own ? "" : m->sender ? m->sender : "",
			(const char *const *)cp->rcpts, cp->n, cp->form, cp->reason, m->qid,
			own ? NULL : m->auth, own ? NULL : mail_entry_client(m) };
		mail_entry_src_t src = { cp->sub ? cp->sub : m, cp->sub ? &cp->sub->result : NULL,
			cp->sub ? cp->mark : NULL, cp->data };

		if (cp->kind == MAIL_COPY_REFUSED)
			continue;
		if (cp->kind == MAIL_COPY_SEND && (cp->again = queue_seen(q, cp->id,
		    m->conf->queue_dedup_time, err, sizeof(err))) != 0) {
			if (cp->again == 1)
				continue;
			cp->again = 0;
			return commit_failed(m, q, err);
		}
		if (queue_put_with(q, &env, mail_entry_writer, &src, cp->kind == MAIL_COPY_HOLD
		    ? QUEUE_HOLD : QUEUE_ACTIVE, cp->id, err, sizeof(err)) != QUEUE_OK)
			return commit_failed(m, q, err);
		cp->written = 1;
		if (cp->kind == MAIL_COPY_NOTICE)
			notice_id = cp->id;
	}
	queue_close(q);
	for (size_t i = 0; i < s->nc; i++)
		copy_log(m, &s->c[i], notice_id);
	queue_kick();
}
