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

/* Calls fn(serial, when, reason or -1) per line of revoked.txt (per
 * record in the directory). */
static keystore_status_t
revoked_each(ca_t *ca, int (*fn)(const char *, long, int, void *), void *arg,
    keystore_err_t *err)
{
	BIO *b = NULL;
	char line[200], serial[100];
	long when;
	int reason, n;
	keystore_status_t rc;

	if (ca->shared)
		return ca_shared_revoked(ca, fn, arg, err);
	if ((rc = ca_file_read_bio(ca->s.dir, "revoked.txt", &b, err)) == KEYSTORE_NOTFOUND) {
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

/*
 * The CRL number: the time in microseconds, and above the last one this
 * handle gave, so that it grows on each gateway and two gateways signing
 * one CA's CRLs do not give one number to different lists (RFC 5280
 * 5.2.3 wants it to grow; clocks in step keep it so across gateways).
 */
static int
add_crl_number(ca_t *ca, X509_CRL *crl)
{
	struct timespec ts;
	unsigned long long n;
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
	if (n <= ca->crl_last)
		n = ca->crl_last + 1;
	ok = ai != NULL && ASN1_INTEGER_set_uint64(ai, (uint64_t)n)
	    && X509_CRL_add1_ext_i2d(crl, NID_crl_number, ai, 0, 0) == 1;
	if (ok)
		ca->crl_last = n;
	ASN1_INTEGER_free(ai);
	return ok;
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
		ok = akid != NULL && X509_CRL_add_ext(crl, akid, -1) && add_crl_number(ca, crl);
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
	if (rc == KEYSTORE_OK && ca->shared)
		rc = ca_shared_cert(ca, name, NULL, err);
	else if (rc == KEYSTORE_OK && stat(path, &st) != 0)
		rc = KEYSTORE_NOTFOUND;
	if (rc == KEYSTORE_NOTFOUND)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT,
		    "CA: no certificate with serial %s", serial);
	pthread_mutex_lock(&ca->lock);
	if (rc == KEYSTORE_OK && ca->shared)
		rc = ca_shared_revoke(ca, name, (long)time(NULL), reason, err);
	else if (rc == KEYSTORE_OK)
		rc = revoked_each(ca, find_revoked, &f, err);
	if (rc == KEYSTORE_OK && !ca->shared && f.when == 0)
		rc = revoked_add(ca, name, reason, err);
	if (rc == KEYSTORE_OK)
		rc = make_crl(ca, NULL, NULL, err);
	pthread_mutex_unlock(&ca->lock);
	free(path);
	free(dir);
	return rc;
}

/* ---- one certificate's state ---- */

/* serial's (upper-case hex) revocation: *when 0 when none.  The shared
 * CA answers from its copy of the records (ca_shared_revocation()). */
static keystore_status_t
revocation(ca_t *ca, const char *serial, long *when, int *reason)
{
	find_rev_t f = { serial, 0, -1 };
	keystore_status_t rc;

	if (ca->shared)
		return ca_shared_revocation(ca, serial, when, reason, NULL);
	pthread_mutex_lock(&ca->lock);
	rc = revoked_each(ca, find_revoked, &f, NULL);
	pthread_mutex_unlock(&ca->lock);
	*when = f.when;
	*reason = f.reason;
	return rc;
}

int
ca_revoked(ca_t *ca, X509 *cert)
{
	BIGNUM *bn;
	char *hex;
	char serial[120];
	long when;
	int reason;

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
	if (revocation(ca, serial, &when, &reason) != KEYSTORE_OK)
		return -1;
	return when != 0;
}

ca_status_t
ca_cert_status(ca_t *ca, const char *serial, long *when, int *reason)
{
	char name[120], *dir = keystore_path_join(ca->s.dir, "issued"), *path = NULL;
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
	if ((ca->shared ? ca_shared_cert(ca, name, NULL, NULL) == KEYSTORE_OK
	    : path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode))
	    && revocation(ca, name, when, reason) == KEYSTORE_OK)
		rc = *when != 0 ? CA_STATUS_REVOKED : CA_STATUS_GOOD;
	else {
		*when = 0;
		*reason = -1;
	}
	free(path);
	free(dir);
	return rc;
}

/* ---- listing ---- */

/* When serial was revoked (Unix time), or 0. */
static long
revoked_when(ca_t *ca, const char *serial)
{
	find_rev_t f = { serial, 0, -1 };
	unsigned char *data = NULL;
	size_t len = 0;

	if (!ca->shared) {
		revoked_each(ca, find_revoked, &f, NULL);
		return f.when;
	}
	if (keystore_record_get(ca->ks, "carevoked", serial, &data, &len, NULL, NULL)
	    != KEYSTORE_OK)
		return 0;
	f.when = atol((const char *)data);
	OPENSSL_clear_free(data, len + 1);
	return f.when > 0 ? f.when : 1;
}

struct each {
	ca_t *ca;
	int (*fn)(const ca_cert_t *, void *);
	void *arg;
};

static int
each_cert(const char *serial, X509 *x, void *arg)
{
	struct each *e = arg;
	keystore_info_t info;
	char addr[400];
	ca_cert_t c = { serial, addr, info.not_after, 0 };

	(void)keystore_cert_describe(x, &info, addr, sizeof(addr));
	c.revoked = revoked_when(e->ca, serial);
	return e->fn(&c, e->arg);
}

int
ca_foreach(ca_t *ca, int (*fn)(const ca_cert_t *, void *),
    void *arg, keystore_err_t *err)
{
	char *dir, serial[120];
	DIR *d;
	struct dirent *de;
	struct each e = { ca, fn, arg };
	X509 *x;
	int rc = 0;

	if (ca->shared)
		return ca_shared_each(ca, each_cert, &e, err);
	dir = keystore_path_join(ca->s.dir, "issued");
	if ((d = dir ? opendir(dir) : NULL) == NULL) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: cannot read: %s",
		    dir ? dir : ca->s.dir, strerror(errno));
		free(dir);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 5 || n > 100 || strcmp(de->d_name + n - 4, ".pem") != 0
		    || ca_file_load_cert(dir, de->d_name, &x, err) != KEYSTORE_OK)
			continue;
		snprintf(serial, sizeof(serial), "%.*s", (int)(n - 4), de->d_name);
		rc = each_cert(serial, x, &e);
		X509_free(x);
	}
	closedir(d);
	free(dir);
	return rc;
}

/* ---- what a certificate is to this CA ---- */

int
ca_issued_here(ca_t *ca, X509 *cert)
{
	return cert != NULL && X509_check_issued(ca->issuer, cert) == X509_V_OK;
}

keystore_status_t
ca_lookup(ca_t *ca, const char *serial, X509 **cert, long *revoked,
    keystore_err_t *err)
{
	char name[120], file[130], *dir;
	size_t i, n = strlen(serial);
	X509 *x = NULL;
	keystore_status_t rc;

	if (n == 0 || n > 100 || strspn(serial, "0123456789abcdefABCDEF") != n)
		return util_err_set(err, KEYSTORE_NOTFOUND, "CA: not a serial number: %s", serial);
	for (i = 0; i <= n; i++)
		name[i] = (char)toupper((unsigned char)serial[i]);
	if (ca->shared)
		rc = ca_shared_cert(ca, name, &x, err);
	else if ((dir = keystore_path_join(ca->s.dir, "issued")) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else {
		snprintf(file, sizeof(file), "%s.pem", name);
		rc = ca_file_load_cert(dir, file, &x, err);
		free(dir);
	}
	if (rc != KEYSTORE_OK)
		return rc;
	if (revoked != NULL)
		*revoked = revoked_when(ca, name);
	if (cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return KEYSTORE_OK;
}

keystore_status_t
ca_issued_cert(ca_t *ca, const char *serial, X509 **cert, keystore_err_t *err)
{
	size_t n = strlen(serial);

	*cert = NULL;
	if (n == 0 || n > 100 || strspn(serial, "0123456789abcdefABCDEF") != n)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a serial number: %s", serial);
	return ca_lookup(ca, serial, cert, NULL, err);
}
