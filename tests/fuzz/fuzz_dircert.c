/*
 * fuzz_dircert.c: a certificate attribute value from the directory
 * (dir_ldap_parse_value): a DER certificate (userCertificate;binary) or a
 * PKCS#7 certs-only blob (userSMIMECertificate), as any LDAP server the
 * gateway asks may return.  Each certificate found is looked at as the
 * lookup does (is it a CA? its addresses).
 *
 * Input: the attribute value.
 */
#include "directory/dir_int.h"
#include "util/util_addr.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdlib.h>
#include <openssl/x509v3.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	int n;

	if (certs == NULL)
		abort();
	n = dir_ldap_parse_value(data, size, certs);
	if (n > 0 && n > sk_X509_num(certs))
		abort();
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		GENERAL_NAMES *gens;

		(void)dir_check_is_ca(x);
		gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		for (int j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens); j++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);
			if (g->type == GEN_EMAIL)
				(void)util_addr_equal((const char *)ASN1_STRING_get0_data(g->d.rfc822Name),
				    "alice@example.com");
		}
		GENERAL_NAMES_free(gens);
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}
