/*
 * mail_pipeline.c: the stages in order (see mail_pipeline.h).  A split
 * is driven from here: mail_split.c plans it and makes each copy's
 * message, this pipeline decides that message, mail_split.c records it.
 */
#include "mail/mail_pipeline.h"
#include "mail/mail_inbound.h"
#include "mail/mail_outbound.h"
#include "mail/mail_policy.h"
#include "mail/mail_split.h"

#include <stdlib.h>
#include <string.h>

/* Splits m by group (outcome: the policy's per recipient, or NULL for
 * inbound), each copy's message decided by the pipeline.  0: go on with
 * m (split or not), 1: m->result is final. */
static int
split_run(mail_msg_t *m, const size_t *group, const enum policy_outcome *outcome,
    size_t ng)
{
	mail_split_t *s;
	mail_msg_t *sub;
	int rc = mail_split_plan(m, group, outcome, ng, &s);

	if (rc <= 0)
		return rc < 0;
	for (size_t k = 0; k < s->nc; k++) {
		if ((sub = mail_split_sub(m, s, k)) == NULL) {
			mail_result_split_free(s);
			return 1;
		}
		mail_policy_memo_pass(m, sub);  /* its recipients asked once */
		mail_pipeline_process(sub);
		if (mail_split_record(m, s, k, sub) != 0) {
			mail_result_split_free(s);
			return 1;
		}
	}
	return mail_split_finish(m, s) != 0;
}

int
mail_pipeline_split(mail_msg_t *m)
{
	mail_result_t *r = &m->result;
	size_t n = m->nrcpts;
	enum policy_outcome *out;
	int rc;

	if (!mail_msg_can_split(m) || n < 2)
		return 0;
	/* The decisions the split is planned on stay in the result while it
	 * runs: what OnInternalError accept reads (mail_msg_fail()). */
	if ((out = calloc(n, sizeof(*out))) == NULL || (r->plan = mail_policy_groups(m)) == NULL) {
		free(out);
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), 1;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = r->plan->forms[i].outcome;
	rc = split_run(m, r->plan->group, out, r->plan->ngroups);
	mail_result_policy_free(r->plan);
	r->plan = NULL;
	free(out);
	return rc;
}

/* Outbound: who may sign is known before any hold, split or spool
 * decision, so that no copy is made for a refused submitter and each
 * copy is decided for the submitter it came with. */
static void
outbound(mail_msg_t *m)
{
	if (mail_outbound_signer(m) != 0 || mail_pipeline_split(m) != 0)
		return;
	mail_outbound_process(m);
	mail_split_respool(m);      /* held as a whole: in our spool */
}

/* Inbound: when the recipients' decryption differs, the inbound stage
 * hands their groups back; the other groups' copies are made, and the
 * stage goes on with the group that stays. */
static void
inbound(mail_msg_t *m)
{
	mail_result_t *r = &m->result;

	if (mail_inbound_process(m) == 0)
		return;
	if (split_run(m, r->group, NULL, r->ngroups) == 0)
		(void)mail_inbound_process(m);
}

const mail_result_t *
mail_pipeline_process(mail_msg_t *m)
{
	mail_result_t *r = &m->result;

	mail_result_clear(r);
	r->direction = mail_msg_outbound(m) ? "outbound" : "inbound";
	if (m->too_big && m->over_limit == MAIL_LIMIT_HEADER_LENGTH)
		mail_msg_fail(m, MAIL_FAIL_LIMIT, "header field too long (MaximumHeaderLength)");
	else if (m->too_big && m->over_limit == MAIL_LIMIT_HEADERS)
		mail_msg_fail(m, MAIL_FAIL_LIMIT, "too many header fields (MaximumHeaders)");
	else if (m->too_big)
		mail_msg_fail(m, MAIL_FAIL_TOOBIG, "message too large (MaximumMessageSize)");
	else if (mail_split_mark(m))
		;                       /* our own copy, re-injected */
	else if (strcmp(r->direction, "outbound") == 0)
		outbound(m);
	else
		inbound(m);
	/* Our result header is ours alone, whichever way the mail goes: a
	 * message held in the MTA (released later without us) included. */
	if ((r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE || r->what == MAIL_DO_HOLD)
	    && !mail_result_strips(r, m->conf->result_header)
	    && mail_result_strip(r, m->conf->result_header) != 0)
		mail_pipeline_tempfail(m, "out of memory");
	if (!m->defer_commit)
		mail_split_commit(m);   /* copies durable before the answer */
	return r;
}

void
mail_pipeline_tempfail(mail_msg_t *m, const char *reason)
{
	mail_split_cancel(m);
	mail_msg_tempfail(m, reason);
}
