/*
 * test_msg.c: the decision at end of message (milter/mail_msg.c) and the
 * body spool (milter/mail_spool.c), with a real keystore holding a key for
 * alice@example.com: direction, the signing-oracle check, already signed
 * mail, senders without keys, size limits, and the spool's move from
 * memory to a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "mail/mail_msg.h"
#include "mail/mail_spool.h"
#include "keystore/keystore.h"
#include "smime/smime.h"
#include "tests/unit/unit_util.h"

static char *tmp;
static keystore_t *ks;
static conf_t *conf;

static int
setup(void **state)
{
	EVP_PKEY *cakey = unit_key(UNIT_P256), *key = unit_key(UNIT_P256);
	X509 *ca = unit_ca(cakey, "Test CA");
	X509 *cert = unit_cert(key, ca, cakey, "alice@example.com", -1, 365);
	char err[512], *map, *ov[3];
	keystore_err_t kerr;
	unsigned char *p12;
	size_t len;

	smime_init();
	tmp = unit_tmpdir();
	assert_true(asprintf(&map, "%s/signers", tmp) > 0);
	assert_int_equal(unit_write_file(map, "shared alice@example.com\n", 25, 0644), 0);
	assert_true(asprintf(&ov[0], "StateDirectory=%s", tmp) > 0);
	assert_true(asprintf(&ov[1], "SignerMap=%s", map) > 0);
	ov[2] = "LocalDomains=example.com";
	conf = conf_load(NULL, ov, 3, err, sizeof(err));
	if (conf == NULL)
		fail_msg("conf: %s", err);
	free(ov[0]);
	free(ov[1]);
	free(map);
	mkdir(conf->spool_dir, 0700);
	ks = keystore_open(conf->keystore_dir, NULL, KEYSTORE_CREATE, &kerr);
	if (ks == NULL)
		fail_msg("keystore: %s", kerr.msg);
	p12 = unit_p12(key, cert, ca, "pw", &len);
	if (keystore_import_p12(ks, p12, len, "pw", NULL, &kerr) != KEYSTORE_OK)
		fail_msg("import: %s", kerr.msg);
	free(p12);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return 0;
}

static int
teardown(void **state)
{
	keystore_free(ks);
	conf_unref(conf);
	unit_rmtree(tmp);
	free(tmp);
	return 0;
}

typedef struct msg_case {
	const char *name;
	const char *auth;        /* login, or NULL */
	int internal;            /* client in InternalHosts */
	const char *sender;      /* envelope */
	const char *from;        /* From header */
	const char *ctype;       /* Content-Type, or NULL */
	mail_do_t want_do;
	const char *want_dir;
	const char *want_action;
	const char *want_reason; /* substring, or NULL */
} msg_case_t;

static mail_msg_t *
make_msg(const msg_case_t *c)
{
	mail_msg_t *m = mail_msg_new(conf, ks);
	const char *body = "Hello,\r\nthis is a test.\r\n";

	assert_non_null(m);
	if (c->auth != NULL)
		m->auth = strdup(c->auth);
	m->client_internal = c->internal;
	assert_int_equal(mail_msg_set_sender(m, c->sender), 0);
	assert_int_equal(mail_msg_add_rcpt(m, "<bob@elsewhere.example>"), 0);
	assert_int_equal(mail_msg_add_header(m, "From", c->from), 0);
	assert_int_equal(mail_msg_add_header(m, "Subject", "test"), 0);
	if (c->ctype != NULL)
		assert_int_equal(mail_msg_add_header(m, "Content-Type", c->ctype), 0);
	assert_int_equal(mail_msg_add_body(m, body, strlen(body)), 0);
	return m;
}

static void
test_decisions(void **state)
{
	static const msg_case_t cases[] = {
		{ "internal host, key holder", NULL, 1, "<alice@example.com>",
		  "Alice <alice@example.com>", "text/plain", MAIL_DO_REPLACE,
		  "outbound", "signed", NULL },
		{ "authenticated as herself", "alice@example.com", 0, "<alice@example.com>",
		  "alice@example.com", NULL, MAIL_DO_REPLACE, "outbound", "signed", NULL },
		{ "login in SignerMap", "shared", 0, "<alice@example.com>",
		  "alice@example.com", NULL, MAIL_DO_REPLACE, "outbound", "signed", NULL },
		{ "login signing as someone else", "mallory@example.com", 0,
		  "<alice@example.com>", "alice@example.com", NULL, MAIL_DO_PASS,
		  "outbound", "unsigned", "may not sign as <alice@example.com>" },
		/* Mail that leaves is outbound whoever the client is;
		 * a client neither logged in nor internal is never signed for. */
		{ "untrusted client, leaving", NULL, 0, "<alice@example.com>",
		  "alice@example.com", NULL, MAIL_DO_PASS, "outbound", "unsigned",
		  "is not trusted to sign as <alice@example.com>" },
		{ "foreign sender from inside", NULL, 1, "<x@elsewhere.example>",
		  "x@elsewhere.example", NULL, MAIL_DO_PASS, "inbound", "pass", NULL },
		{ "local sender without key", NULL, 1, "<carol@example.com>",
		  "carol@example.com", NULL, MAIL_DO_PASS, "outbound", "unsigned",
		  "carol@example.com" },
		{ "already signed", NULL, 1, "<alice@example.com>", "alice@example.com",
		  "multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=x",
		  MAIL_DO_PASS, "outbound", "pass", "already signed" },
		/* The label alone does not pass (the body is plain
		 * text); a real EnvelopedData does (test_encrypt, 28-trust-defaults). */
		{ "labelled encrypted, plain body", NULL, 1, "<alice@example.com>",
		  "alice@example.com", "application/pkcs7-mime; smime-type=enveloped-data",
		  MAIL_DO_REPLACE, "outbound", "signed", NULL },
		{ "From not local", NULL, 1, "<alice@example.com>", "eve@elsewhere.example",
		  NULL, MAIL_DO_PASS, "outbound", "unsigned", "not in LocalDomains" },
		{ "two From addresses", NULL, 1, "<alice@example.com>",
		  "alice@example.com, bob@example.com", NULL, MAIL_DO_PASS, "outbound",
		  "unsigned", "no single From" },
		{ "null sender from inside, leaving", NULL, 1, "<>", "alice@example.com", NULL,
		  MAIL_DO_PASS, "outbound", "unsigned", "null sender is not signed for" },
		{ "null sender from an untrusted client, leaving", NULL, 0, "<>",
		  "alice@example.com", NULL, MAIL_DO_PASS, "outbound", "unsigned",
		  "null sender is not signed for" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const msg_case_t *c = &cases[i];
		mail_msg_t *m = make_msg(c);
		const mail_result_t *r = mail_msg_process(m);

		if (r->what != c->want_do || strcmp(r->direction, c->want_dir) != 0 ||
		    strcmp(r->action, c->want_action) != 0)
			fail_msg("%s: got %d/%s/%s (%s), want %d/%s/%s", c->name, r->what,
			    r->direction, r->action, r->reason, c->want_do, c->want_dir,
			    c->want_action);
		if (c->want_reason != NULL && strstr(r->reason, c->want_reason) == NULL)
			fail_msg("%s: reason \"%s\", want it to contain \"%s\"", c->name,
			    r->reason, c->want_reason);
		if (r->what == MAIL_DO_REPLACE) {
			assert_non_null(r->new_body);
			assert_true(r->nadd >= 2);
			assert_string_equal(r->signer, "alice@example.com");
			assert_true(mail_spool_size(r->new_body) > 500);
		}
		mail_msg_free(m);
	}
}

static void
test_unauthorized_reject(void **state)
{
	char err[512], *ov[] = { "UnauthorizedSender=reject" };
	conf_t *saved = conf;
	msg_case_t c = { "", "mallory@example.com", 0, "<alice@example.com>",
	    "alice@example.com", NULL, 0, NULL, NULL, NULL };
	mail_msg_t *m;
	const mail_result_t *r;
	char *state_ov;

	assert_true(asprintf(&state_ov, "StateDirectory=%s", tmp) > 0);
	char *ovs[] = { ov[0], state_ov, "LocalDomains=example.com" };
	conf = conf_load(NULL, ovs, 3, err, sizeof(err));
	assert_non_null(conf);
	m = make_msg(&c);
	r = mail_msg_process(m);
	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "550");
	assert_string_equal(r->xcode, "5.7.1");
	mail_msg_free(m);
	conf_unref(conf);
	conf = saved;
	free(state_ov);
}

static void
test_too_big(void **state)
{
	char err[512], *state_ov;
	conf_t *saved = conf;
	msg_case_t c = { "", NULL, 1, "<alice@example.com>", "alice@example.com",
	    NULL, 0, NULL, NULL, NULL };
	char big[4096];
	mail_msg_t *m;
	const mail_result_t *r;
	int rc = 0;

	assert_true(asprintf(&state_ov, "StateDirectory=%s", tmp) > 0);
	char *ovs[] = { "MaximumMessageSize=8K", state_ov, "LocalDomains=example.com" };
	conf = conf_load(NULL, ovs, 3, err, sizeof(err));
	assert_non_null(conf);
	m = make_msg(&c);
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = mail_msg_add_body(m, big, sizeof(big));
	assert_int_equal(rc, -1);
	assert_true(m->too_big);
	r = mail_msg_process(m);
	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "552");
	assert_string_equal(r->xcode, "5.3.4");
	mail_msg_free(m);
	conf_unref(conf);
	conf = saved;
	free(state_ov);
}

static void
test_spool(void **state)
{
	mail_spool_t *sp = mail_spool_new(tmp, 100, 1000);
	unsigned char buf[300], back[1000];
	size_t len;
	long long off = 0;
	ssize_t n;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	assert_int_equal(mail_spool_write(sp, buf, 60), MAIL_SPOOL_OK);
	assert_non_null(mail_spool_mem(sp, &len));
	assert_int_equal(len, 60);
	assert_int_equal(mail_spool_fd(sp), -1);
	assert_int_equal(mail_spool_write(sp, buf, 300), MAIL_SPOOL_OK);
	assert_null(mail_spool_mem(sp, &len));
	assert_true(mail_spool_fd(sp) >= 0);
	assert_int_equal(mail_spool_size(sp), 360);
	while ((n = mail_spool_read(sp, off, back + off, 77)) > 0)
		off += n;
	assert_int_equal(off, 360);
	assert_memory_equal(back, buf, 60);
	assert_memory_equal(back + 60, buf, 300);
	assert_int_equal(mail_spool_write(sp, buf, 300), MAIL_SPOOL_OK);
	assert_int_equal(mail_spool_write(sp, buf, 300), MAIL_SPOOL_OK);
	assert_int_equal(mail_spool_write(sp, buf, 300), MAIL_SPOOL_TOOBIG);
	assert_int_equal(mail_spool_size(sp), 960);
	mail_spool_free(sp);
}

static void
test_unbracket(void **state)
{
	static const char *const cases[][2] = {
		{ "<a@b>", "a@b" }, { "<>", "" }, { "a@b", "a@b" },
		{ "<a@b> SIZE=10", "a@b" }, { " <a@b", "a@b" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = mail_msg_unbracket(cases[i][0]);
		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("unbracket(%s): got \"%s\", want \"%s\"", cases[i][0], got,
			    cases[i][1]);
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_unauthorized_reject),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_unbracket),
	};

	return cmocka_run_group_tests_name("msg", tests, setup, teardown);
}
