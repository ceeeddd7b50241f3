/*
 * smime_certsonly.c: certificates as a certs-only message (RFC 8551
 * 3.6: a PKCS#7 SignedData without content or signers, the certificates
 * in its certificates field), DER, as application/pkcs7-mime;
 * smime-type=certs-only carries it and userSMIMECertificate holds it.
 *
 * Threads: no state.
 */
#include "smime/smime_int.h"

#include <openssl/err.h>
#include <openssl/pkcs7.h>

int
smime_certs_only(STACK_OF(X509) *certs, unsigned char **der, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	int ok, n = -1;

	*der = NULL;
	*len = 0;
	ok = p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed)
	    && PKCS7_content_new(p7, NID_pkcs7_data);
	for (int i = 0; ok && i < sk_X509_num(certs); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(certs, i));
	if (ok)
		n = i2d_PKCS7(p7, der);
	PKCS7_free(p7);
	ERR_clear_error();
	if (n <= 0) {
		*der = NULL;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}
