/*
 * test_ca.c: the embedded CA (ca/ca.c, ca/ca_crl.c): init, the
 * profiles' extensions (table-driven, got/want), escrow, revocation in the
 * CRL, the OCSP responder (ca_ocsp.c: good, revoked with its reason,
 * unknown, the nonce, malformed and oversized requests), and a CA that
 * does not open under another master key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ocsp.h>
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

/* The status ca_ocsp_respond() gives for cert (issued by issuer), its
 * response checked against issuer; -1 when not a successful answer. */
static int
ocsp_status_of(ca_t *ca, X509 *cert, X509 *issuer, int *reason)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	unsigned char *der = NULL, *resp = NULL;
	const unsigned char *p;
	size_t rlen = 0;
	int n, status = -1;
	OCSP_RESPONSE *r;
	OCSP_BASICRESP *bs = NULL;
	STACK_OF(X509) *certs = sk_X509_new_null();

	sk_X509_push(certs, issuer);
	assert_non_null(OCSP_request_add0_id(req, OCSP_CERTID_dup(id)));
	assert_true(OCSP_request_add1_nonce(req, NULL, -1));
	n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(ca_ocsp_respond(ca, der, (size_t)n, 3600, &resp, &rlen), 0);
	p = resp;
	r = d2i_OCSP_RESPONSE(NULL, &p, (long)rlen);
	assert_non_null(r);
	if (OCSP_response_status(r) == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		bs = OCSP_response_get1_basic(r);
		assert_non_null(bs);
		assert_int_equal(OCSP_check_nonce(req, bs), 1);
		/* Signed by the issuing CA; OCSP_TRUSTOTHER: issuer is the anchor here. */
		assert_int_equal(OCSP_basic_verify(bs, certs, NULL, OCSP_TRUSTOTHER
		    | OCSP_NOVERIFY), 1);
		assert_true(OCSP_resp_find_status(bs, id, &status, reason, NULL, NULL, NULL));
	}
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	OPENSSL_free(resp);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	sk_X509_free(certs);
	return status;
}

/* The OCSP response status ca_ocsp_respond() gives for der. */
static int
ocsp_rstatus(ca_t *ca, const unsigned char *der, size_t len)
{
	unsigned char *resp = NULL;
	const unsigned char *p;
	size_t rlen = 0;
	OCSP_RESPONSE *r;
	int st;

	assert_int_equal(ca_ocsp_respond(ca, der, len, 3600, &resp, &rlen), 0);
	p = resp;
	r = d2i_OCSP_RESPONSE(NULL, &p, (long)rlen);
	assert_non_null(r);
	st = OCSP_response_status(r);
	OCSP_RESPONSE_free(r);
	OPENSSL_free(resp);
	return st;
}

static void
test_ocsp(void **state)
{
	fx_t *f = *state;
	ca_t *ca = ca_open(f->ks, &f->s, &f->err);
	X509 *good = NULL, *bad = NULL, *issuer, *stranger;
	EVP_PKEY *k = unit_key(UNIT_RSA2048);
	char serial[80];
	BIGNUM *bn;
	char *hex;
	int reason = -2;
	unsigned char junk[3000];
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	unsigned char *der = NULL;
	int n;

	assert_non_null(ca);
	issuer = ca_issuer(ca);
	assert_int_equal(ca_issue(ca, "g@example.net", CA_EXTERNAL, &good, &f->err), KEYSTORE_OK);
	assert_int_equal(ca_issue(ca, "r@example.net", CA_EXTERNAL, &bad, &f->err), KEYSTORE_OK);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(bad), NULL);
	hex = BN_bn2hex(bn);
	snprintf(serial, sizeof(serial), "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	assert_int_equal(ca_revoke_reason(ca, serial, 4, &f->err), KEYSTORE_OK);
	assert_int_equal(ocsp_status_of(ca, good, issuer, &reason), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ocsp_status_of(ca, bad, issuer, &reason), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 4);          /* superseded */
	/* Same serial, another issuer: unknown. */
	stranger = unit_ca(k, "stranger");
	assert_int_equal(ocsp_status_of(ca, good, stranger, &reason), V_OCSP_CERTSTATUS_UNKNOWN);
	/* Malformed, oversized, empty, too many certificates. */
	memset(junk, 0x30, sizeof(junk));
	assert_int_equal(ocsp_rstatus(ca, junk, 100), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	assert_int_equal(ocsp_rstatus(ca, junk, sizeof(junk)), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	assert_int_equal(ocsp_rstatus(ca, junk, 0), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	for (int i = 0; i < 9; i++)
		OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, good, issuer));
	n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(ocsp_rstatus(ca, der, (size_t)n), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	/* A bad reason code is refused. */
	assert_int_not_equal(ca_revoke_reason(ca, serial, 7, &f->err), KEYSTORE_OK);
	assert_int_equal(ca_reason_code("keyCompromise"), 1);
	assert_int_equal(ca_reason_code("whim"), -1);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	X509_free(good);
	X509_free(bad);
	X509_free(issuer);
	X509_free(stranger);
	EVP_PKEY_free(k);
	ca_free(ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escrow_and_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_master_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ocsp, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
