/*
 * fuzz_sign.c: MIME canonicalisation and signing (smime_sign_run) on
 * hostile MIME, as outbound mail reaches it.
 *
 * Input: byte 0 picks the mode (bit 0: opaque signed-data; bit 1: body
 * from a file rather than memory); the rest is the message's Content-*
 * header lines, a blank line and the body.  The output goes to a writer
 * that counts it; a signed result must list its new headers.
 */
#include "smime/smime.h"
#include "tests/fuzz/fuzz_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	smime_init();
	return 0;
}

static int
count_out(void *arg, const void *buf, size_t len)
{
	*(size_t *)arg += len;
	return 0;
}

/* Offset of the body: after the first empty line, or the end. */
static size_t
body_start(const uint8_t *d, size_t n, size_t *hlen)
{
	for (size_t i = 0; i < n; i++) {
		if (d[i] != '\n')
			continue;
		if (i + 1 < n && d[i + 1] == '\n')
			return *hlen = i + 1, i + 2;
		if (i + 2 < n && d[i + 1] == '\r' && d[i + 2] == '\n')
			return *hlen = i + 1, i + 3;
	}
	return *hlen = n, n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *key;
	X509 *cert;
	smime_sign_t *s;
	smime_body_t body = { NULL, 0, -1 };
	size_t hlen, off, out = 0;
	char *hdrs, *path = NULL;
	smime_status_t st;

	if (size < 1)
		return 0;
	off = body_start(data + 1, size - 1, &hlen) + 1;
	hdrs = fuzz_strndup(data + 1, hlen);
	if (data[0] & 2) {
		path = fuzz_file("body", data + off, size - off);
		if ((body.fd = open(path, O_RDONLY)) < 0)
			abort();
	} else {
		body.mem = data + off;
		body.len = size - off;
	}
	fuzz_signer(&key, &cert, NULL, NULL);
	if ((s = smime_sign_new()) == NULL)
		abort();
	smime_sign_set_opaque(s, data[0] & 1);
	smime_sign_set_tmpdir(s, fuzz_dir(), 4096);
	st = smime_sign_set_signer(s, key, cert, NULL);
	if (st == SMIME_OK)
		st = smime_sign_run(s, hdrs, &body, count_out, &out);
	if (st == SMIME_OK && (smime_sign_nheaders(s) == 0 || out == 0))
		abort();
	if (st != SMIME_OK && smime_sign_error(s)[0] == '\0')
		abort();
	for (size_t i = 0; i < smime_sign_nheaders(s); i++)
		if (smime_sign_header_name(s, i) == NULL || smime_sign_header_value(s, i) == NULL)
			abort();
	smime_sign_free(s);
	if (body.fd >= 0)
		close(body.fd);
	free(path);
	free(hdrs);
	return 0;
}
