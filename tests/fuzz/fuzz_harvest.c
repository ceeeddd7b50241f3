/*
 * fuzz_harvest.c: the harvest store (dir_harvest.c) and the lookup that
 * reads it (dir_lookup_find: the certificate checks, the announced
 * SMIMECapabilities).  What goes in comes from signed inbound mail: the
 * sender's address, certificate and capabilities are the sender's choice;
 * a store file may also have been damaged on disk.
 *
 * Input: byte 0: mode; then a 2-octet length and the address, a 2-octet
 * length and the capabilities DER, 8 octets of signing time, the rest:
 *   mode 0  the rest is a certificate (DER), stored with the address and
 *           capabilities (dir_harvest_put), as it is; mode 1 issued again
 *           by the fuzz CA (fuzz_resign) so that the checks past the
 *           signature run; then looked up for the address;
 *   mode 2  the rest is written as a store file of alice@example.com
 *           (a damaged or planted file), then alice is looked up.
 */
#include "util/util_addr.h"
#include "directory/dir_harvest.h"
#include "directory/dir_lookup.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char *ca_path, *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k, *cak;
	X509 *c, *ca;
	BIO *b;

	(void)argc;
	(void)argv;
	fuzz_signer(&k, &c, &ca, &cak);
	if (asprintf(&ca_path, "%s/ca.pem", fuzz_dir()) < 0
	    || asprintf(&store, "%s/harvest", fuzz_dir()) < 0
	    || (b = BIO_new_file(ca_path, "w")) == NULL || !PEM_write_bio_X509(b, ca))
		abort();
	BIO_free(b);
	return 0;
}

/* Takes a 2-octet length and that many octets; NULL when short. */
static const uint8_t *
take(const uint8_t **p, size_t *left, size_t *len)
{
	const uint8_t *s;

	if (*left < 2)
		return NULL;
	*len = (size_t)((*p)[0] << 8 | (*p)[1]);
	if (*len > *left - 2)
		return NULL;
	s = *p + 2;
	*p += 2 + *len;
	*left -= 2 + *len;
	return s;
}

/* A planted file for alice, named as the store names hers. */
static void
plant(const uint8_t *data, size_t len)
{
	unsigned char md[32];
	char name[200], *n = util_addr_normalize("alice@example.com");
	int o;

	if (n == NULL || !EVP_Digest(n, strlen(n), md, NULL, EVP_sha256(), NULL))
		abort();
	free(n);
	o = snprintf(name, sizeof(name), "harvest/");
	for (int i = 0; i < 32; i++)
		o += snprintf(name + o, sizeof(name) - (size_t)o, "%02x", md[i]);
	snprintf(name + o, sizeof(name) - (size_t)o, "-%064d.pem", 0);
	free(fuzz_file(name, data, len));
}

static void
look_up(const char *address)
{
	dir_settings_t s;
	dir_lookup_t *l;
	dir_answer_t a;
	char err[256];

	memset(&s, 0, sizeof(s));
	s.ca_file = ca_path;
	s.redis = "";
	s.mem_cache_size = 0;
	s.harvest_dir = store;
	if ((l = dir_lookup_new(&s, err, sizeof(err))) == NULL)
		abort();
	memset(&a, 0, sizeof(a));
	(void)dir_lookup_find(l, address, &a);
	if (memchr(a.err, '\0', sizeof(a.err)) == NULL || (a.gcm != 0 && a.gcm != 1))
		abort();
	dir_answer_clear(&a);
	dir_lookup_free(l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *addr, *caps;
	size_t left, alen, clen;
	int mode;
	char *address;
	time_t t = 0;

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	p = data + 1;
	left = size - 1;
	if ((addr = take(&p, &left, &alen)) == NULL || (caps = take(&p, &left, &clen)) == NULL
	    || left < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		t = (time_t)(((uint64_t)t << 8) | p[i]);
	p += 8;
	left -= 8;
	unit_rmtree(store);
	if (mkdir(store, 0700) != 0)
		abort();
	address = fuzz_strndup(addr, alen);
	if (mode == 2) {
		plant(p, left);
		look_up("alice@example.com");
	} else {
		const unsigned char *q = p;
		X509 *x = d2i_X509(NULL, &q, (long)left), *y = NULL;
		dir_harvest_t *h;
		char err[256];

		ERR_clear_error();
		if (x != NULL && mode == 1)
			y = fuzz_resign(x);
		if ((h = dir_harvest_open(store, err, sizeof(err))) == NULL)
			abort();
		if ((y ? y : x) != NULL && strlen(address) == alen
		    && dir_harvest_put(h, address, y ? y : x, caps, clen, t, err, sizeof(err)) == 0)
			look_up(address);
		dir_harvest_free(h);
		X509_free(x);
		X509_free(y);
	}
	free(address);
	return 0;
}
