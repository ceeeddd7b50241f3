/*
 * test_ca.c: the embedded CA (ca/ca.c, ca/ca_crl.c): init, the
 * profiles' extensions (table-driven, got/want), escrow, revocation in the
 * CRL, and a CA that does not open under another master key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/unit_util.h"

typedef struct fx {
	char *dir, cadir[600], ksdir[600];
	keystore_t *ks;
	ca_settings_t s;
	keystore_err_t err;
} fx_t;

static int
setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));

	f->dir = unit_tmpdir();
	snprintf(f->cadir, sizeof(f->cadir), "%s/ca", f->dir);
	snprintf(f->ksdir, sizeof(f->ksdir), "%s/ks", f->dir);
	f->ks = keystore_open(f->ksdir, NULL, KEYSTORE_CREATE, &f->err);
	if (f->ks == NULL)
		fail_msg("keystore_open: %s", f->err.msg);
	f->s = (ca_settings_t){ .dir = f->cadir, .key_type = CA_RSA2048,
	    .days = 365, .ca_days = 3650, .crl_days = 7, .subject = "O=Test,C=DE",
	    .crl_url = "http://127.0.0.1:1/ca.crl", .issuer_url = "http://127.0.0.1:1/ca.crt" };
	if (ca_init(f->ks, &f->s, &f->err) != KEYSTORE_OK)
		fail_msg("ca_init: %s", f->err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx_t *f = *state;

	keystore_free(f->ks);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void
test_profiles(void **state)
{
	static const struct {
		ca_profile_t p;
		uint32_t ku_want, ku_not;
	} cases[] = {
		{ CA_SIGN, KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION, KU_KEY_ENCIPHERMENT },
		{ CA_ENCRYPT, KU_KEY_ENCIPHERMENT, KU_DIGITAL_SIGNATURE },
		{ CA_EXTERNAL, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, KU_KEY_CERT_SIGN },
	};
	fx_t *f = *state;
	ca_t *ca = ca_open(f->ks, &f->s, &f->err);
	size_t i;

	assert_non_null(ca);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x = NULL;
		GENERAL_NAMES *san;
		GENERAL_NAME *gn;
		uint32_t ku;

		assert_int_equal(ca_issue(ca, "p@example.net", cases[i].p, &x, &f->err),
		    KEYSTORE_OK);
		ku = X509_get_key_usage(x);
		if ((ku & cases[i].ku_want) != cases[i].ku_want || (ku & cases[i].ku_not) != 0)
			fail_msg("profile %d: keyUsage got %#x, want %#x without %#x",
			    cases[i].p, ku, cases[i].ku_want, cases[i].ku_not);
		assert_true(X509_get_extended_key_usage(x) & XKU_SMIME);
		assert_int_equal(X509_check_ca(x), 0);
		san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		assert_non_null(san);
		gn = sk_GENERAL_NAME_value(san, 0);
		assert_int_equal(gn->type, GEN_EMAIL);
		assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
		    "p@example.net");
		GENERAL_NAMES_free(san);
		{
			CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points,
			    NULL, NULL);

			assert_non_null(cdp);
			CRL_DIST_POINTS_free(cdp);
		}
		X509_free(x);
	}
	ca_free(ca);
}

static int
count_entries(const keystore_info_t *info, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_escrow_and_revoke(void **state)
{
	fx_t *f = *state;
	ca_t *ca = ca_open(f->ks, &f->s, &f->err);
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;
	X509_REVOKED *rev = NULL;
	BIGNUM *bn;
	char *hex;
	int n = 0;

	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, "q@example.net", CA_EXTERNAL, &x,
	    &f->err), KEYSTORE_OK);
	assert_int_equal(keystore_foreach(f->ks, count_entries, &n, &f->err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(keystore_signer(f->ks, "q@example.net", &key, NULL, NULL, &f->err),
	    KEYSTORE_OK);
	assert_int_equal(X509_check_private_key(x, key), 1);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = BN_bn2hex(bn);
	assert_int_equal(ca_revoked(ca, x), 0);
	assert_int_equal(ca_revoke(ca, hex, &f->err), KEYSTORE_OK);
	assert_int_equal(ca_revoked(ca, x), 1);
	{
		/* Another issuer's certificate: not this CA's to say. */
		X509 *root = ca_root(ca);

		assert_int_equal(ca_revoked(ca, root), 0);
		X509_free(root);
	}
	assert_int_equal(ca_revoke(ca, "00DEAD", &f->err), KEYSTORE_ERR_INPUT);
	assert_int_equal(ca_crl(ca, &der, &len, &f->err), KEYSTORE_OK);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	{
		X509 *issuer = ca_issuer(ca);

		assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(issuer)), 1);
		X509_free(issuer);
	}
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rev,
	    (ASN1_INTEGER *)X509_get0_serialNumber(x)), 1);
	X509_CRL_free(crl);
	OPENSSL_free(der);
	OPENSSL_free(hex);
	BN_free(bn);
	EVP_PKEY_free(key);
	X509_free(x);
	ca_free(ca);
}

static void
test_other_master_key(void **state)
{
	fx_t *f = *state;
	char other[700];
	keystore_t *ks2;

	snprintf(other, sizeof(other), "%s/other", f->dir);
	ks2 = keystore_open(other, NULL, KEYSTORE_CREATE, &f->err);
	assert_non_null(ks2);
	assert_null(ca_open(ks2, &f->s, &f->err));
	assert_int_equal(f->err.code, KEYSTORE_ERR_CORRUPT);
	assert_int_equal(ca_init(ks2, &f->s, &f->err), KEYSTORE_ERR_INPUT);
	keystore_free(ks2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escrow_and_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_master_key, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
