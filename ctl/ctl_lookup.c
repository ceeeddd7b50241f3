/*
 * ctl_lookup.c: `smimectl lookup` and `smimectl cache flush` (see
 * ctl_lookup.h).  The lookup is the daemon's own (dir_lookup_find), so
 * what it prints is what the gateway would do now; it fills the cache as
 * the daemon would.
 */
#include "ctl/ctl_lookup.h"

#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>

static const char *
status_word(dir_status_t st)
{
	switch (st) {
	case DIR_OK: return "found";
	case DIR_NOTFOUND: return "no usable certificate";
	case DIR_ERR_UNAVAILABLE: return "unavailable";
	case DIR_ERR_INPUT: return "not an address";
	default: return "error";
	}
}

static void
print_cert(const char *label, X509 *cert)
{
	char subj[256];
	unsigned char md[32];
	unsigned int len = 0;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	printf("%s: %s\n  serial: %s\n  sha256: ", label, subj, hex ? hex : "?");
	if (X509_digest(cert, EVP_sha256(), md, &len))
		for (unsigned i = 0; i < len; i++)
			printf("%02x", md[i]);
	printf("\n");
	OPENSSL_free(hex);
	BN_free(bn);
}

static int
lookup_one(dir_lookup_t *l, const char *addr)
{
	dir_answer_t a;
	unsigned long before = dir_lookup_searches(l);
	dir_status_t st = dir_lookup_find(l, addr, &a);

	printf("address: %s\nresult: %s\n", addr, status_word(st));
	if (a.cert != NULL) {
		printf("source: %s\n", a.source);
		print_cert("certificate", a.cert);
		printf("cipher: %s\n", a.gcm ? "aes-256-gcm announced" : "aes-256-cbc");
	} else if (a.source[0] != '\0') {
		printf("source: %s\n", a.source);
	}
	if (a.err[0] != '\0')
		printf("reason: %s\n", a.err);
	if (a.note[0] != '\0')
		printf("note: %s\n", a.note);
	printf("directory searches: %lu\n", dir_lookup_searches(l) - before);
	printf("candidates: %zu\n", a.ncands);
	for (size_t i = 0; i < a.ncands; i++)
		printf("  %zu. %s serial %s, not after %s, from %s: %s\n", i + 1,
		    a.cands[i].subject, a.cands[i].serial, a.cands[i].not_after,
		    a.cands[i].source, a.cands[i].verdict);
	dir_answer_clear(&a);
	return st == DIR_OK ? 0 : st == DIR_ERR_UNAVAILABLE ? 3 : 1;
}

int
ctl_lookup(dir_lookup_t *l, int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "smimectl: lookup: want one or more ADDRESS\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r = lookup_one(l, argv[i]);

		if (i + 1 < argc)
			printf("\n");
		if (r > rc)
			rc = r;
	}
	fflush(stdout);
	return rc;
}

int
ctl_cache(dir_lookup_t *l, int argc, char **argv)
{
	char err[256];

	if (argc < 2 || strcmp(argv[1], "flush") != 0) {
		fprintf(stderr, "smimectl: cache: want flush [ADDRESS...]\n");
		return 2;
	}
	if (argc == 2) {
		if (dir_lookup_flush(l, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "smimectl: cache flush: %s\n", err);
			return 1;
		}
		printf("flushed every entry\n");
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (dir_lookup_flush(l, argv[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "smimectl: cache flush %s: %s\n", argv[i], err);
			return 1;
		}
		printf("flushed %s\n", argv[i]);
	}
	return 0;
}
