/*
 * fuzz_cmp.c: the answer of a CMP server (ca_cmp_enroll(): OpenSSL's
 * HTTP client and CMP message parsing and checks as the gateway sets them
 * up, CMPServer, shared-secret protection).  The server is the fuzz
 * responder on 127.0.0.1 (fuzz_util.h).  The key is fixed (fuzz_signer())
 * so that no key is generated per input.
 *
 * Input: byte 0 bit 0 set: the rest is the whole HTTP response; clear: the
 * rest is a CMP message (DER), sent as the body of an HTTP 200 answer of
 * type application/pkixcmp.
 *
 * FUZZ_CMP_SEEDS=DIR writes seeds to DIR and exits: the initialization
 * request the client sends (a protected PKIMessage the same client then
 * parses and checks as an answer), and HTTP errors.
 */
#include "keystore/keystore.h"
#include "ca/ca_cmp.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keystore_t *ks;
static char server[64];
static ca_cmp_settings_t settings = { server, "pkix/", "fuzzref", "fuzz-secret",
	"O=smimegate fuzz", CA_P256, 2 };

static void
enroll(void)
{
	keystore_err_t err;
	EVP_PKEY *key;
	X509 *cert, *x = NULL;

	fuzz_signer(&key, &cert, NULL, NULL);
	if (ca_cmp_enroll(ks, &settings, "xena@example.net", key, &x, &err) == KEYSTORE_OK)
		X509_free(x);
	ERR_clear_error();
}

static void
seed(const char *dir, const char *name, const void *head, size_t hlen,
    const void *body, size_t blen)
{
	char path[4200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(head, 1, hlen, fp) != hlen
	    || fwrite(body, 1, blen, fp) != blen)
		abort();
	fclose(fp);
}

/* The client's own request, as the answer's body. */
static void
seeds_write(const char *dir)
{
	static const char err500[] = "\001HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	static const char chunked[] = "\001HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n4\r\n0\202\000\000\r\n0\r\n\r\n";
	const unsigned char *got, *body;
	size_t len;

	fuzz_responder_set("", 0);
	enroll();
	if (fuzz_responder_wait(1) != 0 || (got = fuzz_responder_got(&len)) == NULL
	    || (body = memmem(got, len, "\r\n\r\n", 4)) == NULL)
		abort();
	body += 4;
	seed(dir, "own-request", "\000", 1, body, len - (size_t)(body - got));
	seed(dir, "http-500", err500, sizeof(err500) - 1, "", 0);
	seed(dir, "chunked-short", chunked, sizeof(chunked) - 1, "", 0);
	exit(0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	keystore_err_t err;

	(void)argc;
	(void)argv;
	snprintf(server, sizeof(server), "127.0.0.1:%d", fuzz_responder_start());
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/keystore", fuzz_dir());
	if ((ks = keystore_open(dir, NULL, KEYSTORE_CREATE, &err)) == NULL) {
		fprintf(stderr, "fuzz_cmp: keystore: %s\n", err.msg);
		abort();
	}
	if (getenv("FUZZ_CMP_SEEDS") != NULL)
		seeds_write(getenv("FUZZ_CMP_SEEDS"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *answer;
	int n;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_responder_set(data + 1, size - 1);
	} else {
		n = asprintf(&answer, "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", size - 1);
		if (n < 0 || (answer = realloc(answer, (size_t)n + size)) == NULL)
			abort();
		memcpy(answer + n, data + 1, size - 1);
		fuzz_responder_set(answer, (size_t)n + size - 1);
		free(answer);
	}
	enroll();
	return 0;
}
