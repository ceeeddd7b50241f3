/*
 * ca_crl.c: the embedded CA's revocations (revoked.txt, "SERIAL UNIXTIME"
 * lines, "SERIAL UNIXTIME REASON" when a CRL reason code was given), its CRLs (crl.der) and the list of what it issued (see ca.h).
 * OpenSSL signs the CRLs; calls are serialized by the handle's lock.
 */
#include "ca/ca_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

/* ---- revocation and CRLs ---- */

/* Calls fn(serial, when, reason or -1) per line of revoked.txt. */
static keystore_status_t
revoked_each(ca_t *ca, int (*fn)(const char *, long, int, void *), void *arg,
    keystore_err_t *err)
{
	BIO *b = NULL;
	char line[200], serial[100];
	long when;
	int reason, n;
	keystore_status_t rc = ca_file_read_bio(ca->s.dir, "revoked.txt", &b, err);

	if (rc == KEYSTORE_NOTFOUND) {
		if (err != NULL)
			err->code = KEYSTORE_OK;
		return KEYSTORE_OK;
	}
	while (rc == KEYSTORE_OK && BIO_gets(b, line, sizeof(line)) > 0) {
		reason = -1;
		if ((n = sscanf(line, "%99s %ld %d", serial, &when, &reason)) >= 2
		    && fn(serial, when, n == 3 && reason >= 0 && reason <= 10 ? reason : -1,
		    arg) != 0)
			break;
	}
	BIO_free(b);
	return rc;
}

static int
add_revoked(const char *serial, long when, int reason, void *arg)
{
	X509_CRL *crl = arg;
	X509_REVOKED *r = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	ASN1_ENUMERATED *code = reason >= 0 ? ASN1_ENUMERATED_new() : NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
	int ok = r != NULL && t != NULL && BN_hex2bn(&bn, serial) > 0
	    && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL
	    && X509_REVOKED_set_serialNumber(r, ai)
	    && X509_REVOKED_set_revocationDate(r, t)
	    && (reason < 0 || (code != NULL && ASN1_ENUMERATED_set(code, reason)
	    && X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, code, 0, 0)))
	    && X509_CRL_add0_revoked(crl, r);

	if (!ok)
		X509_REVOKED_free(r);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	ASN1_ENUMERATED_free(code);
	ASN1_TIME_free(t);
	return ok ? 0 : -1;
}

static keystore_status_t
make_crl(ca_t *ca, unsigned char **der, size_t *len, keystore_err_t *err)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
	ASN1_TIME *next = X509_time_adj_ex(NULL, (int)ca->s.crl_days, 0, NULL);
	X509V3_CTX ctx;
	X509_EXTENSION *akid;
	unsigned char *buf = NULL;
	int n = -1, ok;
	keystore_status_t rc;

	ok = crl != NULL && now != NULL && next != NULL && X509_CRL_set_version(crl, 1)
	    && X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuer))
	    && X509_CRL_set1_lastUpdate(crl, now) && X509_CRL_set1_nextUpdate(crl, next);
	rc = ok ? revoked_each(ca, add_revoked, crl, err) : KEYSTORE_ERR_CRYPTO;
	if (ok && rc == KEYSTORE_OK) {
		X509V3_set_ctx(&ctx, ca->issuer, NULL, NULL, crl, 0);
		akid = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
		ok = akid != NULL && X509_CRL_add_ext(crl, akid, -1);
		X509_EXTENSION_free(akid);
		ok = ok && X509_CRL_sort(crl)
		    && X509_CRL_sign(crl, ca->issuer_key, EVP_sha256()) > 0
		    && (n = i2d_X509_CRL(crl, &buf)) > 0;
	}
	if (rc == KEYSTORE_OK && !ok)
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot sign a CRL");
	if (rc == KEYSTORE_OK)
		rc = keystore_file_write(ca->s.dir, "crl.der", buf, (size_t)n, 0, NULL, err);
	if (rc == KEYSTORE_OK && der != NULL) {
		*der = buf;
		*len = (size_t)n;
		buf = NULL;
	}
	OPENSSL_free(buf);
	X509_CRL_free(crl);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	return rc;
}

keystore_status_t
ca_crl(ca_t *ca, unsigned char **der, size_t *len, keystore_err_t *err)
{
	keystore_status_t rc;

	pthread_mutex_lock(&ca->lock);
	rc = make_crl(ca, der, len, err);
	pthread_mutex_unlock(&ca->lock);
	return rc;
}

typedef struct find_rev {
	const char *serial;
	long when;
	int reason;
} find_rev_t;

static int
find_revoked(const char *serial, long when, int reason, void *arg)
{
	find_rev_t *f = arg;

	if (strcasecmp(serial, f->serial) == 0) {
		f->when = when;
		f->reason = reason;
	}
	return 0;
}

/* Appends "SERIAL TIME [REASON]" to revoked.txt (rewritten atomically). */
static keystore_status_t
revoked_add(ca_t *ca, const char *serial, int reason, keystore_err_t *err)
{
	BIO *b = NULL, *out = BIO_new(BIO_s_mem());
	char buf[512];
	int n;
	keystore_status_t rc = ca_file_read_bio(ca->s.dir, "revoked.txt", &b, err);

	if (out == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else if (rc == KEYSTORE_OK)
		while ((n = BIO_read(b, buf, sizeof(buf))) > 0)
			BIO_write(out, buf, n);
	if (rc == KEYSTORE_NOTFOUND)
		rc = KEYSTORE_OK;
	if (rc == KEYSTORE_OK && (reason >= 0
	    ? BIO_printf(out, "%s %ld %d\n", serial, (long)time(NULL), reason)
	    : BIO_printf(out, "%s %ld\n", serial, (long)time(NULL))) <= 0)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (rc == KEYSTORE_OK)
		rc = ca_file_write_bio(ca->s.dir, "revoked.txt", out, err);
	BIO_free(b);
	BIO_free(out);
	return rc;
}

keystore_status_t
ca_revoke(ca_t *ca, const char *serial, keystore_err_t *err)
{
	return ca_revoke_reason(ca, serial, -1, err);
}

int
ca_reason_code(const char *name)
{
	for (int i = 0; i <= 10; i++)
		if (i != 7 && strcasecmp(name, OCSP_crl_reason_str(i)) == 0)
			return i;
	return -1;
}

keystore_status_t
ca_revoke_reason(ca_t *ca, const char *serial, int reason, keystore_err_t *err)
{
	char name[120], *dir = keystore_path_join(ca->s.dir, "issued"), *path = NULL;
	find_rev_t f = { name, 0, -1 };
	struct stat st;
	size_t i, n = strlen(serial);
	keystore_status_t rc = KEYSTORE_OK;

	if (n == 0 || n > 100 || strspn(serial, "0123456789abcdefABCDEF") != n)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a serial number: %s", serial);
	else if (reason < -1 || reason > 10 || reason == 7)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a CRL reason code: %d", reason);
	for (i = 0; i <= n && i < sizeof(name); i++)
		name[i] = (char)toupper((unsigned char)serial[i]);
	if (rc == KEYSTORE_OK && (dir == NULL || asprintf(&path, "%s/%s.pem", dir, name) < 0)) {
		path = NULL;
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	if (rc == KEYSTORE_OK) {
		if (stat(path, &st) != 0)
			rc = util_err_set(err, KEYSTORE_ERR_INPUT,
			    "CA: no certificate with serial %s", serial);
	}
	pthread_mutex_lock(&ca->lock);
	if (rc == KEYSTORE_OK)
		rc = revoked_each(ca, find_revoked, &f, err);
	if (rc == KEYSTORE_OK && f.when == 0)
		rc = revoked_add(ca, name, reason, err);
	if (rc == KEYSTORE_OK)
		rc = make_crl(ca, NULL, NULL, err);
	pthread_mutex_unlock(&ca->lock);
	free(path);
	free(dir);
	return rc;
}

/* ---- one certificate's state ---- */

int
ca_revoked(ca_t *ca, X509 *cert)
{
	BIGNUM *bn;
	char *hex;
	char serial[120];
	find_rev_t f = { serial, 0, -1 };
	keystore_status_t rc;

	if (X509_NAME_cmp(X509_get_issuer_name(cert),
	    X509_get_subject_name(ca->issuer)) != 0)
		return 0;                 /* not ours to say */
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (hex == NULL)
		return -1;
	snprintf(serial, sizeof(serial), "%s", hex);
	OPENSSL_free(hex);
	pthread_mutex_lock(&ca->lock);
	rc = revoked_each(ca, find_revoked, &f, NULL);
	pthread_mutex_unlock(&ca->lock);
	if (rc != KEYSTORE_OK)
		return -1;
	return f.when != 0;
}

ca_status_t
ca_cert_status(ca_t *ca, const char *serial, long *when, int *reason)
{
	char name[120], *dir = keystore_path_join(ca->s.dir, "issued"), *path = NULL;
	find_rev_t f = { name, 0, -1 };
	struct stat st;
	size_t i, n = strlen(serial);
	ca_status_t rc = CA_STATUS_UNKNOWN;

	*when = 0;
	*reason = -1;
	if (n == 0 || n > 100 || strspn(serial, "0123456789abcdefABCDEF") != n || dir == NULL) {
		free(dir);
		return CA_STATUS_UNKNOWN;
	}
	for (i = 0; i <= n; i++)
		name[i] = (char)toupper((unsigned char)serial[i]);
	if (asprintf(&path, "%s/%s.pem", dir, name) < 0)
		path = NULL;
	pthread_mutex_lock(&ca->lock);
	if (path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode)
	    && revoked_each(ca, find_revoked, &f, NULL) == KEYSTORE_OK) {
		rc = f.when != 0 ? CA_STATUS_REVOKED : CA_STATUS_GOOD;
		*when = f.when;
		*reason = f.reason;
	}
	pthread_mutex_unlock(&ca->lock);
	free(path);
	free(dir);
	return rc;
}

/* ---- listing ---- */

keystore_status_t
ca_issued_cert(ca_t *ca, const char *serial, X509 **cert, keystore_err_t *err)
{
	char name[128], *dir;
	size_t i, n = strlen(serial);
	keystore_status_t rc;

	*cert = NULL;
	if (n == 0 || n > 100 || strspn(serial, "0123456789abcdefABCDEF") != n)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a serial number: %s", serial);
	for (i = 0; i < n; i++)
		name[i] = (char)toupper((unsigned char)serial[i]);
	snprintf(name + n, sizeof(name) - n, ".pem");
	if ((dir = keystore_path_join(ca->s.dir, "issued")) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = ca_file_load_cert(dir, name, cert, err);
	free(dir);
	return rc;
}

int
ca_foreach(ca_t *ca, int (*fn)(const ca_cert_t *, void *),
    void *arg, keystore_err_t *err)
{
	char *dir = keystore_path_join(ca->s.dir, "issued"), serial[120];
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	keystore_info_t info;
	X509 *x;
	char addr[400];
	int rc = 0;

	if (d == NULL) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: cannot read: %s",
		    dir ? dir : ca->s.dir, strerror(errno));
		free(dir);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		find_rev_t f = { serial, 0, -1 };

		if (n < 5 || n > 100 || strcmp(de->d_name + n - 4, ".pem") != 0
		    || ca_file_load_cert(dir, de->d_name, &x, err) != KEYSTORE_OK)
			continue;
		snprintf(serial, sizeof(serial), "%.*s", (int)(n - 4), de->d_name);
		revoked_each(ca, find_revoked, &f, NULL);
		(void)keystore_cert_describe(x, &info, addr, sizeof(addr));
		{
			ca_cert_t c = { serial, addr, info.not_after, f.when };
			rc = fn(&c, arg);
		}
		X509_free(x);
	}
	closedir(d);
	free(dir);
	return rc;
}
