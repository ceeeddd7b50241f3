/*
 * ca_ocsp.c: the embedded CA's OCSP responder (RFC 6960; see ca.h,
 * ca_ocsp_respond()).  OpenSSL parses the request and builds and signs
 * the response; what it says of each certificate comes from
 * ca_cert_status(), the CA's one answer about a serial.  The responder is
 * the issuing CA itself (its certificate and key sign, the response
 * names it by name and carries it), so a client needs nothing but the
 * issuer it already knows; no delegated OCSP signing certificate.
 *
 * Threads: any; ca_cert_status() takes the handle's lock, the issuing key
 * is only read.
 */
#include "ca/ca_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#define OCSP_MAX_IDS 8          /* certificates asked about in one request */

/* What the CA says of one CertID: V_OCSP_CERTSTATUS_*, *when and *reason
 * (-1: none) if revoked. */
static int
id_status(ca_t *ca, OCSP_CERTID *cid, long *when, int *reason)
{
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *serial = NULL;
	const EVP_MD *dgst;
	OCSP_CERTID *ours = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int status = V_OCSP_CERTSTATUS_UNKNOWN;
	ca_status_t st;

	*when = 0;
	*reason = -1;
	if (!OCSP_id_get0_info(NULL, &md, NULL, &serial, cid)
	    || (dgst = EVP_get_digestbyobj(md)) == NULL
	    || (ours = OCSP_cert_to_id(dgst, NULL, ca->issuer)) == NULL
	    || OCSP_id_issuer_cmp(ours, cid) != 0
	    || (bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL
	    || BN_is_negative(bn) || (hex = BN_bn2hex(bn)) == NULL)
		goto done;
	st = ca_cert_status(ca, hex, when, reason);
	status = st == CA_STATUS_GOOD ? V_OCSP_CERTSTATUS_GOOD : st == CA_STATUS_REVOKED
	    ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_UNKNOWN;
done:
	OCSP_CERTID_free(ours);
	BN_free(bn);
	OPENSSL_free(hex);
	return status;
}

/* One SingleResponse per request in req, in bs; 0 or -1. */
static int
add_statuses(ca_t *ca, OCSP_REQUEST *req, OCSP_BASICRESP *bs, long next)
{
	ASN1_TIME *now = X509_gmtime_adj(NULL, 0), *upto = X509_gmtime_adj(NULL, next);
	ASN1_TIME *rev = NULL;
	int ok = now != NULL && upto != NULL;

	for (int i = 0; ok && i < OCSP_request_onereq_count(req); i++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		long when;
		int reason, status = id_status(ca, cid, &when, &reason);

		ASN1_TIME_free(rev);
		rev = status == V_OCSP_CERTSTATUS_REVOKED ? ASN1_TIME_set(NULL, (time_t)when)
		    : NULL;
		ok = (status != V_OCSP_CERTSTATUS_REVOKED || rev != NULL)
		    && OCSP_basic_add1_status(bs, cid, status, reason >= 0 ? reason
		    : OCSP_REVOKED_STATUS_NOSTATUS, rev, now, upto) != NULL;
	}
	ASN1_TIME_free(rev);
	ASN1_TIME_free(now);
	ASN1_TIME_free(upto);
	return ok ? 0 : -1;
}

/* The response's DER; 0 or -1. */
static int
response_der(int status, OCSP_BASICRESP *bs, unsigned char **out, size_t *outlen)
{
	OCSP_RESPONSE *resp = OCSP_response_create(status, bs);
	int n = resp != NULL ? i2d_OCSP_RESPONSE(resp, out) : -1;

	OCSP_RESPONSE_free(resp);
	if (n <= 0)
		return -1;
	*outlen = (size_t)n;
	return 0;
}

int
ca_ocsp_respond(ca_t *ca, const unsigned char *der, size_t len, long next,
    unsigned char **out, size_t *outlen)
{
	const unsigned char *p = der;
	OCSP_REQUEST *req = len > 0 && len <= CA_OCSP_MAX_REQUEST
	    ? d2i_OCSP_REQUEST(NULL, &p, (long)len) : NULL;
	OCSP_BASICRESP *bs = NULL;
	int n = req != NULL ? OCSP_request_onereq_count(req) : 0, rc;

	*out = NULL;
	if (req == NULL || n < 1 || n > OCSP_MAX_IDS || p != der + len) {
		rc = response_der(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, NULL, out, outlen);
		goto done;
	}
	if ((bs = OCSP_BASICRESP_new()) == NULL || add_statuses(ca, req, bs, next) != 0
	    || !OCSP_copy_nonce(bs, req)
	    || !OCSP_basic_sign(bs, ca->issuer, ca->issuer_key, EVP_sha256(), NULL, 0))
		rc = response_der(OCSP_RESPONSE_STATUS_INTERNALERROR, NULL, out, outlen);
	else
		rc = response_der(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs, out, outlen);
done:
	ERR_clear_error();
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	return rc;
}
