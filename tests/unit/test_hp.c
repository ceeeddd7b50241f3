/*
 * test_hp.c: header protection (RFC 9788) in smime/: which fields are
 * protected, the baseline confidentiality policy, the header block of a
 * payload, the verdict on a protected field that differs from the outer
 * one (table-driven: got/want with the case's name), and the inbound
 * reader on small entities (the legacy display element taken out, the
 * draft's legacy display part, a payload under a signature left alone).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smime/smime.h"
#include "tests/unit/unit_util.h"

static void
test_fields(void **state)
{
	static const struct { const char *name; int structural, protectable, restorable,
		user_facing; } t[] = {
		{ "Subject", 0, 1, 1, 1 },
		{ "from", 0, 1, 1, 1 },
		{ "Content-Type", 1, 0, 0, 0 },
		{ "MIME-Version", 1, 0, 0, 0 },
		{ "Received", 0, 0, 0, 0 },
		{ "DKIM-Signature", 0, 0, 0, 0 },
		{ "ARC-Seal", 0, 0, 0, 0 },
		{ "HP-Outer", 0, 0, 0, 0 },
		{ "Keywords", 0, 1, 1, 0 },
		{ "Message-ID", 0, 1, 1, 0 },
		{ "User-Agent", 0, 1, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (smime_hp_structural(t[i].name) != t[i].structural ||
		    smime_hp_protectable(t[i].name) != t[i].protectable ||
		    smime_hp_restorable(t[i].name) != t[i].restorable ||
		    smime_hp_user_facing(t[i].name) != t[i].user_facing)
			fail_msg("%s: got structural %d protectable %d restorable %d "
			    "user-facing %d", t[i].name, smime_hp_structural(t[i].name),
			    smime_hp_protectable(t[i].name), smime_hp_restorable(t[i].name),
			    smime_hp_user_facing(t[i].name));
	}
}

static void
test_baseline(void **state)
{
	const char *v = "value";

	(void)state;
	assert_string_equal(smime_hp_baseline("Subject", "Secret"), "[...]");
	assert_string_equal(smime_hp_baseline("SUBJECT", "Secret"), "[...]");
	assert_null(smime_hp_baseline("Keywords", "a, b"));
	assert_null(smime_hp_baseline("Comments", "c"));
	/* every other field stays, the very same string */
	assert_ptr_equal(smime_hp_baseline("From", v), v);
	assert_ptr_equal(smime_hp_baseline("To", v), v);
	assert_ptr_equal(smime_hp_baseline("Message-ID", v), v);
}

static void
test_judge(void **state)
{
	static const struct {
		const char *what, *name, *inner, *outer, *recorded;
		int verified;
		const char *signer;
		smime_hp_verdict_t want;
	} t[] = {
		{ "same value", "Subject", "Hi", "Hi", NULL, 0, NULL, SMIME_HP_SAME },
		{ "same, folded differently", "To", "a@x,\n b@x", "a@x, b@x", NULL, 0, NULL,
		  SMIME_HP_SAME },
		{ "Subject obscured as HP-Outer says", "Subject", "Hi", "[...]", "[...]", 0,
		  NULL, SMIME_HP_RESTORE },
		{ "Subject [...] without HP-Outer (drafts)", "Subject", "Hi", "[...]", NULL,
		  0, NULL, SMIME_HP_RESTORE },
		{ "Subject ... (drafts)", "Subject", "Hi", "...", NULL, 0, NULL,
		  SMIME_HP_RESTORE },
		{ "Keywords removed by the sender", "Keywords", "k", NULL, NULL, 0, NULL,
		  SMIME_HP_RESTORE },
		{ "Subject changed on the way, unsigned", "Subject", "Hi", "Pay now", NULL,
		  0, NULL, SMIME_HP_REFUSED },
		{ "Subject changed on the way, signed", "Subject", "Hi", "Pay now", NULL,
		  1, "a@x", SMIME_HP_OVERRIDE },
		{ "Subject differs from what HP-Outer recorded", "Subject", "Hi", "Other",
		  "[...]", 0, NULL, SMIME_HP_REFUSED },
		{ "From override, unsigned", "From", "CEO <ceo@x>", "M <m@y>", NULL, 0, NULL,
		  SMIME_HP_REFUSED },
		{ "From override, HP-Outer lies, unsigned", "From", "CEO <ceo@x>", "M <m@y>",
		  "M <m@y>", 0, NULL, SMIME_HP_REFUSED },
		{ "From override, signed by someone else", "From", "CEO <ceo@x>", "M <m@y>",
		  NULL, 1, "m@y", SMIME_HP_REFUSED },
		{ "From differs, signed by the inner From", "From", "Ann <ann@x>",
		  "ann@x", NULL, 1, "ANN@x", SMIME_HP_OVERRIDE },
		{ "From missing outside, unsigned", "From", "ann@x", NULL, NULL, 0, NULL,
		  SMIME_HP_REFUSED },
		{ "Reply-To differs, signed", "Reply-To", "r@x", "m@y", NULL, 1, "ann@x",
		  SMIME_HP_OVERRIDE },
		{ "Reply-To differs, unsigned", "Reply-To", "r@x", "m@y", NULL, 0, NULL,
		  SMIME_HP_REFUSED },
		{ "To added inside, unsigned", "To", "b@x", NULL, NULL, 0, NULL,
		  SMIME_HP_RESTORE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smime_hp_verdict_t got = smime_hp_judge(t[i].name, t[i].inner, t[i].outer,
		    t[i].recorded, t[i].verified, t[i].signer);
		if (got != t[i].want)
			fail_msg("%s: got %s, want %s", t[i].what, smime_hp_verdict_name(got),
			    smime_hp_verdict_name(t[i].want));
	}
}

/* ---- the reader ---- */

typedef struct { char buf[16384]; size_t len; } sink_t;

static int
sink_write(void *arg, const void *p, size_t len)
{
	sink_t *s = arg;

	if (s->len + len >= sizeof(s->buf))
		return -1;
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

static smime_hp_in_t *
read_entity(const char *headers, const char *body, sink_t *out)
{
	smime_hp_in_t *h = smime_hp_in_new();
	smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };

	assert_non_null(h);
	memset(out, 0, sizeof(*out));
	if (smime_hp_in_run(h, headers, &b, sink_write, out) != SMIME_OK)
		fail_msg("smime_hp_in_run: %s", smime_hp_in_error(h));
	return h;
}

static const char *
header(const smime_hp_in_t *h, const char *name)
{
	for (size_t i = 0; i < smime_hp_in_nheaders(h); i++)
		if (strcasecmp(smime_hp_in_header_name(h, i), name) == 0)
			return smime_hp_in_header_value(h, i);
	return NULL;
}

static void
test_in_cipher(void **state)
{
	sink_t out;
	smime_hp_in_t *h = read_entity(
	    "Subject: Real one\nFrom: ann@x\nHP-Outer: Subject: [...]\nHP-Outer: From: ann@x\n"
	    "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"; hp-legacy-display=\"1\"\n",
	    "Subject: Real one\n\nHello.\n", &out);

	(void)state;
	assert_int_equal(smime_hp_in_mode(h), SMIME_HP_CIPHER);
	assert_int_equal(smime_hp_in_signed(h), 0);
	assert_string_equal(smime_hp_in_field(h, "subject"), "Real one");
	assert_string_equal(smime_hp_in_recorded(h, "Subject"), "[...]");
	assert_string_equal(smime_hp_in_recorded(h, "From"), "ann@x");
	assert_null(smime_hp_in_field(h, "HP-Outer"));
	assert_int_equal(smime_hp_in_legacy(h), 2);
	assert_int_equal(smime_hp_in_rewritten(h), 1);
	assert_string_equal(out.buf, "Hello.\n");
	assert_non_null(header(h, "Content-Type"));
	if (strstr(header(h, "Content-Type"), "hp") != NULL)
		fail_msg("the marks stay: %s", header(h, "Content-Type"));
	assert_null(header(h, "Subject"));
	smime_hp_in_free(h);
}

static void
test_in_ld_not_fields(void **state)
{
	sink_t out;
	smime_hp_in_t *h = read_entity(
	    "Subject: S\nContent-Type: text/plain; hp=\"cipher\"; hp-legacy-display=\"1\"\n",
	    "Dear Bob,\n\nthis first paragraph is no header block.\n", &out);

	(void)state;
	/* flagged, but the first lines are not header fields: the text stays */
	assert_int_equal(smime_hp_in_legacy(h), 1);
	assert_non_null(strstr(out.buf, "Dear Bob,"));
	smime_hp_in_free(h);
}

static void
test_in_v1(void **state)
{
	sink_t out;
	smime_hp_in_t *h = read_entity(
	    "Subject: Real\nContent-Type: multipart/mixed; boundary=\"b\"; protected-headers=\"v1\"\n",
	    "--b\nContent-Type: text/plain; protected-headers=\"v1\"\n\nSubject: Real\n\n"
	    "--b\nContent-Type: text/plain\n\nThe text.\n--b--\n", &out);

	(void)state;
	assert_int_equal(smime_hp_in_mode(h), SMIME_HP_V1);
	assert_int_equal(smime_hp_in_legacy(h), 2);
	assert_null(strstr(out.buf, "Subject: Real"));
	assert_non_null(strstr(out.buf, "The text."));
	smime_hp_in_free(h);
}

static void
test_in_signed(void **state)
{
	sink_t out;
	smime_hp_in_t *h = read_entity(
	    "Content-Type: multipart/signed; boundary=\"s\"; protocol=\"application/pkcs7-signature\"\n",
	    "--s\nContent-Type: text/plain; hp=\"clear\"\nSubject: Signed one\n\nText.\n"
	    "--s\nContent-Type: application/pkcs7-signature\n\nAAAA\n--s--\n", &out);

	(void)state;
	assert_int_equal(smime_hp_in_mode(h), SMIME_HP_CLEAR);
	assert_int_equal(smime_hp_in_signed(h), 1);
	assert_string_equal(smime_hp_in_field(h, "Subject"), "Signed one");
	assert_int_equal(smime_hp_in_rewritten(h), 0);
	assert_int_equal((int)out.len, 0);
	smime_hp_in_free(h);
}

static void
test_in_none(void **state)
{
	sink_t out;
	smime_hp_in_t *h = read_entity("Subject: x\nContent-Type: text/plain\n", "Hi.\n", &out);

	(void)state;
	assert_int_equal(smime_hp_in_mode(h), SMIME_HP_NONE);
	assert_int_equal(smime_hp_in_nfields(h), 0);
	assert_int_equal(smime_hp_in_rewritten(h), 0);
	smime_hp_in_free(h);
}

/* Outbound through a real signing job: the payload carries the fields,
 * the hp mark and the legacy display element; HP-Outer only for cipher. */
static void
test_out_sign(void **state)
{
	static const smime_hp_field_t f[] = {
		{ "From", "Ann <ann@example.com>" }, { "Subject", "Secret =?utf-8?q?caf=C3=A9?=" },
		{ "Keywords", "k" }, { "Received", "from x" },
	};
	smime_hp_out_t hp = { SMIME_HP_CIPHER, f, 4, 1 };
	EVP_PKEY *cakey = unit_key(UNIT_P256), *key = unit_key(UNIT_P256);
	X509 *ca = unit_ca(cakey, "HP test CA");
	X509 *cert = unit_cert(key, ca, cakey, "ann@example.com", -1, 30);
	smime_sign_t *s = smime_sign_new();
	smime_body_t b = { (const unsigned char *)"Hello.\n", 7, -1 };
	sink_t out = { .len = 0 };

	(void)state;
	assert_int_equal(smime_sign_set_signer(s, key, cert, NULL), SMIME_OK);
	smime_sign_set_hp(s, &hp);
	if (smime_sign_run(s, "Content-Type: text/plain; charset=us-ascii\n", &b,
	    sink_write, &out) != SMIME_OK)
		fail_msg("sign: %s", smime_sign_error(s));
	assert_non_null(strstr(out.buf, "hp=cipher"));
	assert_non_null(strstr(out.buf, "hp-legacy-display=1"));
	assert_non_null(strstr(out.buf, "Subject: Secret =?utf-8?q?caf=C3=A9?="));
	assert_non_null(strstr(out.buf, "HP-Outer: Subject: [...]"));
	assert_non_null(strstr(out.buf, "HP-Outer: From: Ann <ann@example.com>"));
	assert_null(strstr(out.buf, "HP-Outer: Keywords"));
	assert_null(strstr(out.buf, "Received"));
	assert_non_null(strstr(out.buf, "charset=utf-8"));     /* the LD decoded: café */
	smime_sign_free(s);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	X509_free(cert);
	X509_free(ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_in_cipher),
		cmocka_unit_test(test_in_ld_not_fields),
		cmocka_unit_test(test_in_v1),
		cmocka_unit_test(test_in_signed),
		cmocka_unit_test(test_in_none),
		cmocka_unit_test(test_out_sign),
	};

	smime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
