/*
 * fuzz_ocspreq.c: an OCSP request as a client sends it to the embedded
 * CA's responder (POST /ocsp, any bytes from the network), through
 * ca_ocsp_respond(): parsed, each certificate looked up
 * (ca_cert_status()), the response signed.  A CA made at start-up in
 * the harness's directory has issued one certificate (serial fixed by
 * the CA: random), so requests can hit "good".
 * Invariant: an answer is always made, and it parses as an OCSP response.
 */
#include "ca/ca.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static ca_t *ca;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char cadir[4096], ksdir[4096];
	keystore_err_t err;
	keystore_t *ks;
	ca_settings_t s = { .key_type = CA_P256, .days = 30, .ca_days = 30, .crl_days = 7,
		.subject = "O=fuzz", .crl_url = "", .issuer_url = "" };

	(void)argc;
	(void)argv;
	snprintf(cadir, sizeof(cadir), "%s/ca", fuzz_dir());
	snprintf(ksdir, sizeof(ksdir), "%s/ks", fuzz_dir());
	s.dir = cadir;
	if ((ks = keystore_open(ksdir, NULL, KEYSTORE_CREATE, &err)) == NULL
	    || ca_init(ks, &s, &err) != KEYSTORE_OK
	    || (ca = ca_open(ks, &s, &err)) == NULL
	    || ca_issue(ca, "f@example.net", CA_EXTERNAL, NULL, &err) != KEYSTORE_OK)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *resp = NULL;
	const unsigned char *p;
	size_t len = 0;
	OCSP_RESPONSE *r;

	if (ca_ocsp_respond(ca, data, size, 3600, &resp, &len) != 0)
		abort();
	p = resp;
	if ((r = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL)
		abort();
	OCSP_RESPONSE_free(r);
	OPENSSL_free(resp);
	ERR_clear_error();
	return 0;
}
