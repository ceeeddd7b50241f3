/*
 * enroll_text.c: fields of the gateway's texts (see enroll_text.h).
 */
#include "enroll/enroll_text.h"

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

void
enroll_text_fingerprint(const conf_t *c, char fp[ENROLL_TEXT_FP_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char path[4200];
	FILE *f;
	X509 *x = NULL;

	fp[0] = '\0';
	if (!c->ca_enable)
		return;
	snprintf(path, sizeof(path), "%s/root.crt", c->ca_dir);
	if ((f = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (x != NULL && X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32)
		for (unsigned i = 0; i < n; i++)
			snprintf(fp + 3 * i, ENROLL_TEXT_FP_MAX - 3 * i, i + 1 < n ? "%02X:" : "%02X",
			    md[i]);
	X509_free(x);
	ERR_clear_error();
}

void
enroll_text_time(time_t when, char *buf, size_t size)
{
	struct tm tm;

	strftime(buf, size, "%Y-%m-%d %H:%M UTC", gmtime_r(&when, &tm));
}
