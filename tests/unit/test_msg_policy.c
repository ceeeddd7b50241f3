/*
 * test_msg_policy.c: the policy at the end of outbound mail
 * (mail/mail_policy.c): a refusal for one recipient among others drops
 * that recipient only, a refusal for all refuses the message (550 5.7.1),
 * a hold holds it in the gateway's spool, a stripped Subject tag
 * replaces the Subject, and each recipient's rule is there for the audit.
 * Each recipient's certificate is looked up once per message (the memo),
 * a copy split off getting the answers for its own recipients only.
 * Sign is off, so no keystore is needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "directory/dir_int.h"
#include "mail/mail_msg.h"
#include "mail/mail_policy.h"
#include "mail/mail_pipeline.h"
#include "tests/unit/unit_util.h"

static const char rules[] =
    "to rival.test action=reject\n"
    "to partner.test encrypt=always fallback=hold\n"
    "subject \"[secure]\" strip\n";

static char *tmp;
static conf_t *conf;

static int
setup(void **state)
{
	char err[512], *ov[4], *path;

	tmp = unit_tmpdir();
	assert_true(asprintf(&path, "%s/policy", tmp) > 0);
	assert_int_equal(unit_write_file(path, rules, strlen(rules), 0644), 0);
	assert_true(asprintf(&ov[0], "StateDirectory=%s", tmp) > 0);
	assert_true(asprintf(&ov[1], "PolicyFile=%s", path) > 0);
	ov[2] = "LocalDomains=example.com";
	ov[3] = "Sign=no";
	if ((conf = conf_load(NULL, ov, 4, err, sizeof(err))) == NULL)
		fail_msg("conf: %s", err);
	/* The start's re-injection key: mail is split per recipient. */
	if (conf_prepare(conf, err, sizeof(err)) != 0)
		fail_msg("prepare: %s", err);
	mkdir(conf->spool_dir, 0700);
	free(ov[0]);
	free(ov[1]);
	free(path);
	return 0;
}

static int
teardown(void **state)
{
	conf_unref(conf);
	unit_rmtree(tmp);
	free(tmp);
	return 0;
}

static mail_msg_t *
message(const char *subject, const char *rcpt1, const char *rcpt2)
{
	mail_msg_t *m = mail_msg_new(conf, NULL);

	assert_non_null(m);
	m->client_internal = 1;
	assert_int_equal(mail_msg_set_sender(m, "<a@example.com>"), 0);
	assert_int_equal(mail_msg_add_rcpt(m, rcpt1), 0);
	if (rcpt2 != NULL)
		assert_int_equal(mail_msg_add_rcpt(m, rcpt2), 0);
	assert_int_equal(mail_msg_add_header(m, "From", "a@example.com"), 0);
	assert_int_equal(mail_msg_add_header(m, "Subject", subject), 0);
	assert_int_equal(mail_msg_add_body(m, "hi\r\n", 4), 0);
	return m;
}

/* One refused recipient among others leaves the transaction;
 * the other is kept and the rule of each is there for the audit. */
static void
test_reject_one_keeps_others(void **state)
{
	mail_msg_t *m = message("x", "<b@other.test>", "<c@rival.test>");
	const mail_result_t *r = mail_pipeline_process(m);
	char rule[600];

	assert_int_equal(r->what, MAIL_DO_PASS);
	assert_int_equal(m->nrcpts, 1);
	assert_string_equal(m->rcpts[0], "b@other.test");
	assert_non_null(strstr(mail_policy_rule(m, 0, rule, sizeof(rule)), "built-in"));
	mail_msg_free(m);
}

/* Every recipient refused: the message, 550 5.7.1. */
static void
test_reject_all(void **state)
{
	mail_msg_t *m = message("x", "<c@rival.test>", NULL);
	const mail_result_t *r = mail_pipeline_process(m);
	char rule[600];

	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "550");
	assert_string_equal(r->xcode, "5.7.1");
	assert_non_null(strstr(r->reason, "<c@rival.test>"));
	assert_non_null(strstr(mail_policy_rule(m, 0, rule, sizeof(rule)), "policy:1: to rival.test"));
	mail_msg_free(m);
}

/* Held: in the gateway's spool, the MTA's copy discarded. */
static void
test_hold(void **state)
{
	mail_msg_t *m = message("x", "<b@partner.test>", NULL);
	const mail_result_t *r = mail_pipeline_process(m);

	assert_int_equal(r->what, MAIL_DO_DISCARD);
	assert_string_equal(r->action, "held");
	assert_non_null(strstr(r->reason, "fallback=hold"));
	mail_msg_free(m);
}

static void
test_strip_subject(void **state)
{
	mail_msg_t *m = message("[secure] plans", "<b@other.test>", NULL);
	const mail_result_t *r = mail_pipeline_process(m);

	assert_int_equal(r->what, MAIL_DO_PASS);
	assert_true(mail_result_strips(r, "Subject"));
	assert_int_equal(r->nset, 1);
	assert_string_equal(r->set_name[0], "Subject");
	assert_string_equal(r->set_value[0], "plans");
	mail_msg_free(m);
}

/* Inbound mail (an outside sender) meets no outbound rule. */
static void
test_inbound_untouched(void **state)
{
	mail_msg_t *m = message("[secure] x", "<b@rival.test>", NULL);
	const mail_result_t *r;
	char rule[600];

	m->client_internal = 0;
	assert_int_equal(mail_msg_set_sender(m, "<x@outside.test>"), 0);
	r = mail_pipeline_process(m);
	assert_string_equal(r->direction, "inbound");
	assert_int_not_equal(r->what, MAIL_DO_REJECT);
	assert_null(mail_policy_rule(m, 0, rule, sizeof(rule)));
	mail_msg_free(m);
}

/* A local sender's mail that leaves from a client the gateway
 * does not trust (no login, not internal) is outbound all the same: the
 * rules apply (here action=reject); to local recipients only it is
 * inbound. */
static void
test_untrusted_leaving(void **state)
{
	mail_msg_t *m = message("x", "<b@rival.test>", NULL);
	const mail_result_t *r;

	m->client_internal = 0;
	r = mail_pipeline_process(m);
	assert_string_equal(r->direction, "outbound");
	assert_int_equal(r->what, MAIL_DO_REJECT);
	mail_msg_free(m);
	m = message("x", "<b@example.com>", NULL);
	m->client_internal = 0;
	assert_string_equal(mail_pipeline_process(m)->direction, "inbound");
	mail_msg_free(m);
}

/* Lookups the cache answered (hits and misses of its table). */
static unsigned long
cache_gets(void)
{
	dir_cache_stats_t st;

	dir_lookup_cache_stats(conf->lookup, &st);
	return st.tier_hits + st.tier_misses;
}

/* The split's plan, the policy and the copies split off ask the
 * directories once per recipient of a message: two recipients in two
 * forms (one held for want of a certificate: a split), two lookups. */
static void
test_one_lookup_per_rcpt(void **state)
{
	char note[256] = "";
	dir_cache_t *c = dir_lookup_cache_of(conf->lookup);
	mail_msg_t *m = message("x", "<b@other.test>", "<c@partner.test>");
	unsigned long before;
	(void)state;

	dir_cache_put(c, "b@other.test", NULL, NULL, 0, NULL, note, sizeof(note));
	dir_cache_put(c, "c@partner.test", NULL, NULL, 0, NULL, note, sizeof(note));
	before = cache_gets();
	(void)mail_pipeline_process(m);
	if (cache_gets() - before != 2)
		fail_msg("got %lu lookups, want 2", cache_gets() - before);
	assert_int_equal(m->nmemo >= 1, 1);
	mail_msg_free(m);
}

/* A copy gets what was asked for each of its own recipients, by
 * address (in any order), and nothing for one the message never had. */
static void
test_memo_pass_own_rcpts(void **state)
{
	mail_msg_t *m = message("x", "<x@other.test>", "<y@other.test>");
	mail_msg_t *sub = message("x", "<y@other.test>", "<w@other.test>");
	X509 *cx = X509_new(), *cy = X509_new();
	(void)state;

	assert_int_equal(mail_msg_add_rcpt(m, "<z@other.test>"), 0);
	assert_int_equal(mail_msg_add_rcpt(sub, "<x@other.test>"), 0);
	m->memo = calloc(m->nrcpts, sizeof(*m->memo));
	assert_non_null(m->memo);
	m->nmemo = m->nrcpts;
	m->memo[0] = (mail_cert_memo_t){ strdup("x@other.test"), 1, cx, 1 };
	m->memo[1] = (mail_cert_memo_t){ strdup("y@other.test"), 1, cy, 0 };
	m->memo[2] = (mail_cert_memo_t){ strdup("z@other.test"), 3, NULL, 0 };
	mail_policy_memo_pass(m, sub);
	assert_int_equal(sub->nmemo, 3);
	assert_string_equal(sub->memo[0].addr, "y@other.test");
	assert_ptr_equal(sub->memo[0].cert, cy);
	assert_int_equal(sub->memo[0].gcm, 0);
	assert_null(sub->memo[1].addr);         /* w: never asked */
	assert_null(sub->memo[1].cert);
	assert_string_equal(sub->memo[2].addr, "x@other.test");
	assert_ptr_equal(sub->memo[2].cert, cx);
	assert_int_equal(sub->memo[2].gcm, 1);
	mail_msg_free(m);                       /* the copy's references stay */
	assert_non_null(X509_get_subject_name(sub->memo[2].cert));
	mail_msg_free(sub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reject_one_keeps_others),
		cmocka_unit_test(test_reject_all),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_strip_subject),
		cmocka_unit_test(test_untrusted_leaving),
		cmocka_unit_test(test_inbound_untouched),
		cmocka_unit_test(test_one_lookup_per_rcpt),
		cmocka_unit_test(test_memo_pass_own_rcpts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
