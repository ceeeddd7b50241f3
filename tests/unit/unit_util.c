/*
 * unit_util.c: the test PKI and file helpers of unit_util.h.  Failures here
 * are test-setup failures: they abort the test run loudly.
 */
#include "tests/unit/unit_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/ec.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static void
die(const char *what)
{
	fprintf(stderr, "unit_util: %s failed\n", what);
	abort();
}

EVP_PKEY *
unit_key(enum unit_keytype type)
{
	EVP_PKEY *k;

	if (type == UNIT_P256)
		k = EVP_EC_gen("P-256");
	else
		k = EVP_RSA_gen(2048);
	if (k == NULL)
		die("key generation");
	return k;
}

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		die("X509 extension");
	X509_EXTENSION_free(ext);
}

static X509 *
new_cert(EVP_PKEY *key, const char *cn, int from_days, int to_days)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	ASN1_INTEGER *serial;
	BIGNUM *bn = BN_new();

	if (cert == NULL || bn == NULL || !X509_set_version(cert, 2))
		die("X509_new");
	if (!BN_rand(bn, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY))
		die("serial");
	serial = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(cert, serial);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(cert), (long)from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(cert), (long)to_days * 86400);
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"smimegate tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	return cert;
}

X509 *
unit_ca(EVP_PKEY *key, const char *cn)
{
	X509 *cert = new_cert(key, cn, -1, 3650);

	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(cert, cert, NID_subject_key_identifier, "hash");
	if (!X509_sign(cert, key, EVP_sha256()))
		die("CA signature");
	return cert;
}

X509 *
unit_cert_ext(EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key, const char *email,
    int from_days, int to_days, const char *ku, const char *eku,
    int subject_email)
{
	X509 *cert = new_cert(key, email ? email : "no address", from_days, to_days);
	char san[512];

	if (email != NULL && subject_email
	    && !X509_NAME_add_entry_by_txt(X509_get_subject_name(cert),
	    "emailAddress", MBSTRING_ASC, (const unsigned char *)email, -1, -1, 0))
		die("emailAddress");
	X509_set_issuer_name(cert, X509_get_subject_name(ca_cert));
	add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
	if (ku != NULL)
		add_ext(cert, ca_cert, NID_key_usage, ku);
	if (eku != NULL)
		add_ext(cert, ca_cert, NID_ext_key_usage, eku);
	add_ext(cert, ca_cert, NID_subject_key_identifier, "hash");
	add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid");
	if (email != NULL && !subject_email) {
		snprintf(san, sizeof(san), "email:%s", email);
		add_ext(cert, ca_cert, NID_subject_alt_name, san);
	}
	if (!X509_sign(cert, ca_key, EVP_sha256()))
		die("certificate signature");
	return cert;
}

X509 *
unit_cert(EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key, const char *email,
    int from_days, int to_days)
{
	return unit_cert_ext(key, ca_cert, ca_key, email, from_days, to_days,
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
	    ? "critical,digitalSignature,keyAgreement"
	    : "critical,digitalSignature,keyEncipherment",
	    "emailProtection", 0);
}

unsigned char *
unit_p12(EVP_PKEY *key, X509 *cert, X509 *ca, const char *password, size_t *len)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12;
	unsigned char *der = NULL;
	int n;

	if (ca != NULL)
		sk_X509_push(cas, ca);
	p12 = PKCS12_create(password, "test", key, cert, cas, 0, 0, 0, 0, 0);
	sk_X509_free(cas);
	if (p12 == NULL)
		die("PKCS12_create");
	n = i2d_PKCS12(p12, &der);
	PKCS12_free(p12);
	if (n <= 0)
		die("i2d_PKCS12");
	*len = (size_t)n;
	return der;
}

void
unit_group_ca(const char *cn, EVP_PKEY **key, X509 **cert)
{
	*key = unit_key(UNIT_P256);
	*cert = unit_ca(*key, cn);
}

void
unit_group_ca_free(EVP_PKEY *key, X509 *cert)
{
	X509_free(cert);
	EVP_PKEY_free(key);
}

keystore_t *
unit_keystore_new(char **tmp, char *dir, size_t dirlen, keystore_err_t *err)
{
	*tmp = unit_tmpdir();
	if ((size_t)snprintf(dir, dirlen, "%s/ks", *tmp) >= dirlen)
		die("keystore path too long");
	return keystore_open(dir, NULL, KEYSTORE_CREATE, err);
}

void
unit_keystore_free(keystore_t *ks, char *tmp)
{
	keystore_free(ks);
	unit_rmtree(tmp);
	free(tmp);
}

char *
unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char path[4096];

	snprintf(path, sizeof(path), "%s/smimegate-unit.XXXXXX",
	    base && *base ? base : "/tmp");
	if (mkdtemp(path) == NULL)
		die("mkdtemp");
	return strdup(path);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
unit_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
unit_read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4097) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("realloc");
		}
		r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
		if (r == 0)
			break;
	}
	fclose(fp);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int
unit_write_file(const char *path, const void *data, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, data, len);
	if (fchmod(fd, mode) != 0 || close(fd) != 0 || w != (ssize_t)len)
		return -1;
	return 0;
}
