/*
 * test_policy.c: the policy engine (policy/): inheritance (default,
 * domain, wildcard, address; sender side, then recipient side), every
 * trigger, internal mail, calendar and already-encrypted mail, the forms
 * and groups, and malformed rules files reported as file:line.
 * Table-driven: each case says what it wants and what the rule was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/unit_util.h"

static const char rules[] =
    "# test rules\n"                                            /* 1 */
    "default encrypt=if-possible sign=yes\n"                    /* 2 */
    "from example.com sign=yes\n"                               /* 3 */
    "from ceo@example.com encrypt=always fallback=hold enroll=yes\n" /* 4 */
    "from *.example.com sign=no\n"                              /* 5 */
    "to partner.test encrypt=always fallback=notice\n"          /* 6 */
    "to *.gov.test encrypt=always\n"                            /* 7 */
    "to *.x.gov.test encrypt=never\n"                           /* 8 */
    "to bob@partner.test encrypt=never\n"                       /* 9 */
    "to rival.test action=reject\n"                             /* 10 */
    "internal encrypt=never sign=no\n"                          /* 11 */
    "subject \"[secure]\" strip encrypt=always\n"               /* 12 */
    "header \"X-Classification: conf*\" encrypt=always\n"       /* 13 */
    "header X-Hold-Me action=hold\n"                            /* 14 */
    "sensitivity company-confidential encrypt=always fallback=reject\n" /* 15 */
    "sensitivity private action=hold\n";                        /* 16 */

static char *tmp, *path;
static policy_t *pol;

static int
setup(void **state)
{
	policy_err_t err;

	tmp = unit_tmpdir();
	assert_true(asprintf(&path, "%s/policy.rules", tmp) > 0);
	assert_int_equal(unit_write_file(path, rules, strlen(rules), 0644), 0);
	if ((pol = policy_load(path, &err)) == NULL)
		fail_msg("policy_load: %s", err.msg);
	return 0;
}

static int
teardown(void **state)
{
	policy_unref(pol);
	unit_rmtree(tmp);
	free(tmp);
	free(path);
	return 0;
}

typedef struct pcase {
	const char *name;
	const char *from;
	const char *rcpt;
	int local;                  /* sender and recipient local */
	const char *subject;
	const char *hname, *hvalue; /* one header, or NULL */
	const char *ctype;
	int sign, encrypt, action;  /* wanted */
	int line;                   /* the line that decided; 0: built-in */
} pcase_t;

#define E_NEV POLICY_ENC_NEVER
#define E_IFP POLICY_ENC_IF_POSSIBLE
#define E_ALW POLICY_ENC_ALWAYS
#define DLV POLICY_ACT_DELIVER

static const pcase_t cases[] = {
	/* inheritance */
	{ "default only", "x@other.test", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "sender domain", "a@example.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "sender address over domain", "ceo@example.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_ALW, DLV, 4 },
	{ "sender address: domain case-insensitive", "ceo@EXAMPLE.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_ALW, DLV, 4 },
	{ "sender address: local part exact", "CEO@example.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "sender wildcard", "a@sub.example.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 0, E_IFP, DLV, 2 },
	{ "wildcard is not the domain itself", "a@example.com", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "recipient domain", "a@other.test", "y@partner.test", 0, NULL, NULL, NULL, NULL, 1, E_ALW, DLV, 6 },
	{ "recipient address over domain", "a@other.test", "bob@partner.test", 0, NULL, NULL, NULL, NULL, 1, E_NEV, DLV, 9 },
	{ "recipient wildcard", "a@other.test", "y@a.gov.test", 0, NULL, NULL, NULL, NULL, 1, E_ALW, DLV, 7 },
	{ "more specific wildcard wins", "a@other.test", "y@b.x.gov.test", 0, NULL, NULL, NULL, NULL, 1, E_NEV, DLV, 8 },
	{ "recipient side over sender side", "ceo@example.com", "bob@partner.test", 0, NULL, NULL, NULL, NULL, 1, E_NEV, DLV, 9 },
	{ "sender side kept where recipient side is silent", "ceo@example.com", "z@partner.test", 0, NULL, NULL, NULL, NULL, 1, E_ALW, DLV, 6 },
	{ "recipient action=reject", "a@example.com", "z@rival.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, POLICY_ACT_REJECT, 10 },
	{ "null sender", "", "y@else.test", 0, NULL, NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "internal (recorded as the built-in internal delivery)", "a@example.com", "b@example.com", 1, NULL, NULL, NULL, NULL, 0, E_NEV, DLV, 0 },
	/* triggers */
	{ "subject tag", "a@example.com", "y@else.test", 0, "Re: [SECURE] pay", NULL, NULL, NULL, 1, E_ALW, DLV, 12 },
	{ "internal: a subject tag is met by internal delivery", "a@example.com", "b@example.com", 1, "[secure] x", NULL, NULL, NULL, 0, E_NEV, DLV, 0 },
	{ "internal: sensitivity is met by internal delivery", "a@example.com", "b@example.com", 1, NULL, "Sensitivity", "Company-Confidential", NULL, 0, E_NEV, DLV, 0 },
	{ "internal: an action still holds", "a@example.com", "b@example.com", 1, NULL, "Sensitivity", "private", NULL, 0, E_NEV, POLICY_ACT_HOLD, 16 },
	{ "subject without tag", "a@example.com", "y@else.test", 0, "secure", NULL, NULL, NULL, 1, E_IFP, DLV, 2 },
	{ "header pattern", "a@example.com", "y@else.test", 0, NULL, "x-classification", " Confidential ", NULL, 1, E_ALW, DLV, 13 },
	{ "header pattern not matching", "a@example.com", "y@else.test", 0, NULL, "X-Classification", "public", NULL, 1, E_IFP, DLV, 2 },
	{ "header present", "a@example.com", "y@else.test", 0, NULL, "X-Hold-Me", "", NULL, 1, E_IFP, POLICY_ACT_HOLD, 14 },
	{ "sensitivity company-confidential", "a@example.com", "y@else.test", 0, NULL, "Sensitivity", "Company-Confidential", NULL, 1, E_ALW, DLV, 15 },
	{ "sensitivity private", "a@example.com", "y@else.test", 0, NULL, "Sensitivity", "private", NULL, 1, E_IFP, POLICY_ACT_HOLD, 16 },
	{ "sensitivity personal: no rule", "a@example.com", "y@else.test", 0, NULL, "Sensitivity", "Personal", NULL, 1, E_IFP, DLV, 2 },
	/* calendar and already encrypted */
	{ "calendar left unencrypted", "a@other.test", "y@partner.test", 0, NULL, NULL, NULL, "text/calendar; method=REQUEST", 1, E_NEV, DLV, 0 },
	{ "calendar with a trigger", "a@other.test", "y@partner.test", 0, "[secure] meeting", NULL, NULL, "text/calendar", 1, E_ALW, DLV, 12 },
	{ "already encrypted", "ceo@example.com", "y@partner.test", 0, NULL, NULL, NULL, "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m", 0, E_NEV, DLV, 0 },
	{ "already encrypted, no smime-type", "a@example.com", "y@partner.test", 0, "[secure]", NULL, NULL, "application/x-pkcs7-mime", 0, E_NEV, DLV, 0 },
	{ "PGP/MIME encrypted", "a@example.com", "y@partner.test", 0, NULL, NULL, NULL, "multipart/encrypted; protocol=\"application/pgp-encrypted\"", 0, E_NEV, DLV, 0 },
	{ "opaque signed is not encrypted", "a@example.com", "y@partner.test", 0, NULL, NULL, NULL, "application/pkcs7-mime; smime-type=signed-data", 1, E_ALW, DLV, 6 },
	{ "encrypted but rejected still rejected", "a@example.com", "z@rival.test", 0, NULL, NULL, NULL, "application/pkcs7-mime; smime-type=enveloped-data", 0, E_NEV, POLICY_ACT_REJECT, 10 },
};

static int
decided_line(const policy_decision_t *d)
{
	const char *w = policy_rule_where(d->decided), *colon = strrchr(w, ':');

	return strcmp(w, "built-in") == 0 || colon == NULL ? 0 : atoi(colon + 1);
}

static void
test_table(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const pcase_t *c = &cases[i];
		policy_hdr_t h = { c->hname, c->hvalue };
		policy_msg_t m = { c->from, c->local, c->subject, &h, c->hname ? 1 : 0,
			c->ctype, 0, 0, POLICY_OUTBOUND };
		policy_rcpt_t r = { c->rcpt, c->local };
		policy_result_t res;
		policy_err_t err;
		const policy_decision_t *d;

		assert_int_equal(policy_decide(pol, &m, &r, 1, &res, &err), POLICY_OK);
		d = &res.d[0];
		if (d->v[POLICY_SIGN] != c->sign || d->v[POLICY_ENCRYPT] != c->encrypt ||
		    d->v[POLICY_ACTION] != c->action || decided_line(d) != c->line) {
			print_error("%s: got sign=%d encrypt=%s action=%s line %d (%s), "
			    "want sign=%d encrypt=%s action=%s line %d\n", c->name,
			    d->v[POLICY_SIGN], policy_value_name(POLICY_ENCRYPT, d->v[POLICY_ENCRYPT]),
			    policy_value_name(POLICY_ACTION, d->v[POLICY_ACTION]), decided_line(d),
			    d->why, c->sign, policy_value_name(POLICY_ENCRYPT, c->encrypt),
			    policy_value_name(POLICY_ACTION, c->action), c->line);
			failed++;
		}
		policy_result_clear(&res);
	}
	assert_int_equal(failed, 0);
}

static void
test_strip_and_multi(void **state)
{
	policy_msg_t m = { "a@example.com", 1, "Re: [Secure] the plan", NULL, 0,
		NULL, 0, 0, POLICY_OUTBOUND };
	policy_rcpt_t r[3] = { { "b@example.com", 1 }, { "bob@partner.test", 0 },
		{ "z@rival.test", 0 } };
	policy_result_t res;
	policy_err_t err;
	char buf[256];

	assert_int_equal(policy_decide(pol, &m, r, 3, &res, &err), POLICY_OK);
	assert_int_equal(res.n, 3);
	assert_string_equal(res.subject, "Re: the plan");
	assert_non_null(res.stripped_by);
	assert_string_equal(policy_rule_text(res.stripped_by), "subject \"[secure]\" strip");
	/* the trigger comes after both sides */
	assert_int_equal(res.d[1].v[POLICY_ENCRYPT], POLICY_ENC_ALWAYS);
	assert_int_equal(res.d[2].v[POLICY_ACTION], POLICY_ACT_REJECT);
	policy_rule_describe(res.d[2].decided, buf, sizeof(buf));
	assert_non_null(strstr(buf, "policy.rules:10: to rival.test"));
	assert_non_null(strstr(res.d[2].why, "action=reject by"));
	policy_result_clear(&res);

	m.subject = "Hello [secure]";
	assert_int_equal(policy_decide(pol, &m, r, 1, &res, &err), POLICY_OK);
	assert_string_equal(res.subject, "Hello");
	policy_result_clear(&res);
	m.subject = "no tag";
	assert_int_equal(policy_decide(pol, &m, r, 1, &res, &err), POLICY_OK);
	assert_null(res.subject);
	policy_result_clear(&res);
}

/* A caller that parsed the body decides what is encrypted; the
 * Content-Type label alone then counts for nothing. */
static void
test_body_checked(void **state)
{
	static const struct {
		const char *what, *ctype;
		int encrypted, want_passthrough;
	} t[] = {
		{ "label only, body not looked at", "application/pkcs7-mime; "
		  "smime-type=enveloped-data", POLICY_BODY_LABEL, 1 },
		{ "label, body plain", "application/pkcs7-mime; smime-type=enveloped-data",
		  POLICY_BODY_PLAIN, 0 },
		{ "PGP/MIME label, body plain", "multipart/encrypted; "
		  "protocol=\"application/pgp-encrypted\"", POLICY_BODY_PLAIN, 0 },
		{ "body encrypted", "application/pkcs7-mime", POLICY_BODY_ENCRYPTED, 1 },
	};
	policy_rcpt_t r = { "y@partner.test", 0 };
	policy_t *b = policy_builtin();
	(void)state;

	assert_non_null(b);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		policy_msg_t m = { "a@example.com", 1, "[encrypt] x", NULL, 0, t[i].ctype,
			0, t[i].encrypted, POLICY_OUTBOUND };
		policy_result_t res;
		policy_err_t err;

		assert_int_equal(policy_decide(b, &m, &r, 1, &res, &err), POLICY_OK);
		if (res.d[0].passthrough != t[i].want_passthrough)
			fail_msg("%s: got passthrough %d, want %d", t[i].what,
			    res.d[0].passthrough, t[i].want_passthrough);
		/* the [encrypt] trigger stays in force for a plain body */
		if (!t[i].want_passthrough && res.d[0].v[POLICY_ENCRYPT] != POLICY_ENC_ALWAYS)
			fail_msg("%s: got encrypt %d, want always", t[i].what,
			    res.d[0].v[POLICY_ENCRYPT]);
		policy_result_clear(&res);
	}
	policy_unref(b);
}

static void
test_inbound_and_builtin(void **state)
{
	policy_msg_t m = { "x@partner.test", 0, "[secure]", NULL, 0, NULL, 0, 0,
		POLICY_INBOUND };
	policy_rcpt_t r = { "a@example.com", 1 };
	policy_result_t res;
	policy_err_t err;
	policy_t *b = policy_builtin();

	assert_int_equal(policy_decide(pol, &m, &r, 1, &res, &err), POLICY_OK);
	assert_int_equal(res.d[0].v[POLICY_SIGN], 0);
	assert_int_equal(res.d[0].v[POLICY_ENCRYPT], POLICY_ENC_NEVER);
	assert_null(res.subject);
	policy_result_clear(&res);

	m.direction = POLICY_OUTBOUND;
	assert_non_null(b);
	assert_int_equal(policy_decide(b, &m, &r, 1, &res, &err), POLICY_OK);
	assert_int_equal(res.d[0].v[POLICY_SIGN], 1);
	assert_int_equal(res.d[0].v[POLICY_ENCRYPT], POLICY_ENC_IF_POSSIBLE);
	assert_string_equal(policy_rule_where(res.d[0].decided), "built-in");
	policy_result_clear(&res);
	policy_unref(b);
}

/* The built-in triggers (no PolicyFile): got/want per message. */
static void
test_builtin_triggers(void **state)
{
	static const struct {
		const char *subject, *hname, *hvalue;
		int want_enc, want_enroll;
		const char *want_subject;
	} t[] = {
		{ "hello", NULL, NULL, E_IFP, 0, NULL },
		{ "[encrypt] offer", NULL, NULL, E_ALW, 1, "offer" },
		{ "offer [ENCRYPT]", NULL, NULL, E_ALW, 1, "offer" },
		{ "hello", "Sensitivity", "Company-Confidential", E_ALW, 1, NULL },
		{ "hello", "Sensitivity", "private", E_ALW, 1, NULL },
		{ "hello", "Sensitivity", "Personal", E_IFP, 0, NULL },
		{ "[secure] hello", NULL, NULL, E_IFP, 0, NULL },
	};
	policy_t *b = policy_builtin();

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		policy_hdr_t h = { t[i].hname, t[i].hvalue };
		policy_msg_t m = { "a@example.com", 1, t[i].subject, &h, t[i].hname ? 1 : 0,
			NULL, 0, 0, POLICY_OUTBOUND };
		policy_rcpt_t r = { "x@else.test", 0 };
		policy_result_t res;
		policy_err_t err;

		assert_int_equal(policy_decide(b, &m, &r, 1, &res, &err), POLICY_OK);
		if (res.d[0].v[POLICY_ENCRYPT] != t[i].want_enc
		    || res.d[0].v[POLICY_ENROLL] != t[i].want_enroll)
			fail_msg("case %zu (%s): got encrypt=%d enroll=%d, want %d %d", i,
			    t[i].subject, res.d[0].v[POLICY_ENCRYPT], res.d[0].v[POLICY_ENROLL],
			    t[i].want_enc, t[i].want_enroll);
		if (t[i].want_subject != NULL)
			assert_string_equal(res.subject, t[i].want_subject);
		else
			assert_null(res.subject);
		assert_string_equal(policy_rule_where(res.d[0].decided), "built-in");
		policy_result_clear(&res);
	}
	policy_unref(b);
}

/* A colleague (local sender and recipient) is never encrypted
 * to nor enrolled, whatever the built-in triggers ask; an outsider of the
 * same message still is. */
static void
test_builtin_colleague(void **state)
{
	static const char *const subjects[] = { "[encrypt] offer", "hello" };
	policy_hdr_t h = { "Sensitivity", "Company-Confidential" };
	policy_rcpt_t r[2] = { { "bob@example.com", 1 }, { "x@else.test", 0 } };
	policy_t *b = policy_builtin();
	char buf[300];

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < 2; i++) {
		policy_msg_t m = { "a@example.com", 1, subjects[i], &h, i, NULL, 0, 0,
			POLICY_OUTBOUND };
		policy_result_t res;
		policy_err_t err;
		policy_form_t f;

		assert_int_equal(policy_decide(b, &m, r, 2, &res, &err), POLICY_OK);
		assert_int_equal(res.d[0].v[POLICY_ENCRYPT], POLICY_ENC_NEVER);
		assert_int_equal(res.d[0].v[POLICY_ENROLL], 0);
		assert_int_equal(res.d[0].v[POLICY_SIGN], 1);
		assert_non_null(strstr(policy_rule_describe(res.d[0].decided, buf,
		    sizeof(buf)), "internal delivery"));
		policy_resolve(&res.d[0], POLICY_CERT_NONE, &f);
		assert_int_equal(f.outcome, POLICY_DELIVER);
		assert_int_equal(f.encrypt, 0);
		assert_int_equal(f.enroll, 0);
		assert_int_equal(res.d[1].v[POLICY_ENCRYPT], POLICY_ENC_ALWAYS);
		assert_int_equal(res.d[1].v[POLICY_ENROLL], 1);
		policy_result_clear(&res);
	}
	policy_unref(b);
}

/* Each fallback, each certificate state. */
static void
test_resolve(void **state)
{
	static const struct {
		int enc, fb, action, passthrough;
		enum policy_cert cert;
		enum policy_outcome want;
		int want_encrypt;
	} t[] = {
		{ E_NEV, 0, DLV, 0, POLICY_CERT_FOUND, POLICY_DELIVER, 0 },
		{ E_IFP, 0, DLV, 0, POLICY_CERT_FOUND, POLICY_DELIVER, 1 },
		{ E_IFP, 0, DLV, 0, POLICY_CERT_NONE, POLICY_DELIVER, 0 },
		{ E_IFP, 0, DLV, 0, POLICY_CERT_UNKNOWN, POLICY_DELIVER, 0 },
		{ E_IFP, 0, DLV, 0, POLICY_CERT_UNAVAILABLE, POLICY_TEMPFAIL, 0 },
		{ E_ALW, POLICY_FB_REJECT, DLV, 0, POLICY_CERT_FOUND, POLICY_DELIVER, 1 },
		{ E_ALW, POLICY_FB_REJECT, DLV, 0, POLICY_CERT_NONE, POLICY_REJECT, 0 },
		{ E_ALW, POLICY_FB_HOLD, DLV, 0, POLICY_CERT_NONE, POLICY_HOLD, 0 },
		{ E_ALW, POLICY_FB_NOTICE, DLV, 0, POLICY_CERT_UNKNOWN, POLICY_NOTICE, 0 },
		{ E_ALW, POLICY_FB_NOTICE, POLICY_ACT_HOLD, 0, POLICY_CERT_FOUND, POLICY_HOLD, 0 },
		{ E_NEV, 0, DLV, 1, POLICY_CERT_FOUND, POLICY_DELIVER, 0 },
		{ E_NEV, 0, POLICY_ACT_REJECT, 1, POLICY_CERT_FOUND, POLICY_REJECT, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		policy_decision_t d;
		policy_form_t f;

		memset(&d, 0, sizeof(d));
		d.v[POLICY_SIGN] = 1;
		d.v[POLICY_ENCRYPT] = t[i].enc;
		d.v[POLICY_FALLBACK] = t[i].fb;
		d.v[POLICY_ACTION] = t[i].action;
		d.v[POLICY_ENROLL] = 1;
		d.passthrough = t[i].passthrough;
		policy_resolve(&d, t[i].cert, &f);
		if (f.outcome != t[i].want || f.encrypt != t[i].want_encrypt)
			fail_msg("case %zu: got %s encrypt=%d (%s), want %s encrypt=%d", i,
			    policy_outcome_name(f.outcome), f.encrypt, f.why,
			    policy_outcome_name(t[i].want), t[i].want_encrypt);
		if (f.outcome == POLICY_HOLD && t[i].action == DLV)
			assert_int_equal(f.enroll, 1);
	}
}

static void
test_group(void **state)
{
	policy_form_t f[4];
	size_t g[4];

	memset(f, 0, sizeof(f));
	f[0].sign = f[1].sign = f[2].sign = f[3].sign = 1;
	f[1].encrypt = 1;
	f[2].outcome = POLICY_HOLD;
	f[3].encrypt = 1;
	assert_int_equal(policy_group(f, 4, g), 3);
	assert_int_equal(g[0], 0);
	assert_int_equal(g[1], 1);
	assert_int_equal(g[2], 2);
	assert_int_equal(g[3], 1);
	/* An ECDH recipient is a group of its own. */
	f[3].key_agreement = 1;
	assert_int_equal(policy_group(f, 4, g), 4);
	assert_int_equal(g[3], 3);
}

/* Malformed files: each names its file and line. */
/* language=TAG: the recipient's side over the sender's, "default" back
 * to TemplateLanguage (0); tags round-trip. */
static void
test_language(void **state)
{
	static const char text[] = "from boss@example.com language=fr\n"
	    "to de.example language=de\nto *.br.example language=pt-br\n"
	    "to en.de.example language=default\n";
	policy_msg_t m = { "boss@example.com", 1, NULL, NULL, 0, NULL, 0, 0, POLICY_OUTBOUND };
	policy_rcpt_t r[4] = { { "a@de.example", 0 }, { "b@x.br.example", 0 },
		{ "c@other.example", 0 }, { "d@en.de.example", 0 } };
	static const char *const want[4] = { "de", "pt-br", "fr", "" };
	char *f, buf[8];
	policy_result_t res;
	policy_err_t err;
	policy_t *p;

	(void)state;
	assert_true(asprintf(&f, "%s/lang", tmp) > 0);
	assert_int_equal(unit_write_file(f, text, strlen(text), 0644), 0);
	if ((p = policy_load(f, &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(policy_decide(p, &m, r, 4, &res, &err), POLICY_OK);
	for (int i = 0; i < 4; i++)
		if (strcmp(policy_language(res.d[i].v[POLICY_LANGUAGE], buf, sizeof(buf)), want[i]) != 0)
			fail_msg("%s: got language \"%s\", want \"%s\"", r[i].addr, buf, want[i]);
	assert_string_equal(policy_value_name(POLICY_LANGUAGE, res.d[3].v[POLICY_LANGUAGE]), "default");
	policy_result_clear(&res);
	m.sender = "someone@example.com";
	assert_int_equal(policy_decide(p, &m, &r[2], 1, &res, &err), POLICY_OK);
	assert_int_equal(res.d[0].v[POLICY_LANGUAGE], 0);
	policy_result_clear(&res);
	policy_unref(p);
	free(f);
}

static void
test_malformed(void **state)
{
	static const struct { const char *text; int line; const char *what; } t[] = {
		{ "frm example.com sign=yes\n", 1, "unknown selector" },
		{ "# c\n\nto example.com\n", 3, "no settings" },
		{ "to example.com encrypt=sometimes\n", 1, "not one of the allowed values" },
		{ "to example.com colour=red\n", 1, "unknown setting" },
		{ "to example.com encrypt=always encrypt=never\n", 1, "set twice" },
		{ "to *.ex*ample.com sign=no\n", 1, "is not a domain" },
		{ "to a@b@ sign=no\n", 1, "not an address" },
		{ "to * sign=no\n", 1, "is not a domain" },
		{ "to sign=no\n", 1, "missing its argument" },
		{ "subject \"[secure] encrypt=always\n", 1, "unterminated" },
		{ "header \": x\" sign=no\n", 1, "want \"Name\"" },
		{ "to example.com sign=yes\nto EXAMPLE.com sign=no\n", 2, "again (first at" },
		{ "default sign=yes\ndefault sign=no\n", 2, "again" },
		{ "default sign\n", 1, "want key=value" },
		{ "to example.com language=deutsch\n", 1, "not a language tag" },
		{ "to example.com language=de-\n", 1, "not a language tag" },
		{ "to example.com language=DE\n", 1, "not a language tag" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *f, want[600];
		policy_err_t err;
		policy_t *p;

		assert_true(asprintf(&f, "%s/bad%zu", tmp, i) > 0);
		assert_int_equal(unit_write_file(f, t[i].text, strlen(t[i].text), 0644), 0);
		p = policy_load(f, &err);
		if (p != NULL)
			fail_msg("case %zu: loaded, want an error at line %d", i, t[i].line);
		snprintf(want, sizeof(want), "%s:%d: ", f, t[i].line);
		if (strncmp(err.msg, want, strlen(want)) != 0 || strstr(err.msg, t[i].what) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, err.msg, want, t[i].what);
		assert_int_equal(err.code, POLICY_ERR_SYNTAX);
		free(f);
	}
	assert_null(policy_load("/nonexistent/policy", &(policy_err_t){ 0 }));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_strip_and_multi),
		cmocka_unit_test(test_inbound_and_builtin),
		cmocka_unit_test(test_body_checked),
		cmocka_unit_test(test_builtin_triggers),
		cmocka_unit_test(test_builtin_colleague),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_language),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
