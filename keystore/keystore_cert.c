/*
 * keystore_cert.c: what a certificate tells the keystore: the mail
 * addresses it names, its fingerprint, the lines smimectl lists, and
 * whether it may sign mail now.  Also the RFC 5321 address comparison.
 *
 * Threads: pure functions of their arguments.
 */
#include "keystore/keystore_cert.h"
#include "util/util.h"
#include "util/util_addr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* ---- addresses ---- */

/* A plausible mailbox: local@domain, both non-empty, printable, no space. */
static int
addr_plausible(const char *s, size_t len)
{
	const char *at;
	size_t i;

	if (len == 0 || len > 320)
		return 0;
	for (i = 0; i < len; i++)   /* also refuses an embedded NUL */
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	at = memrchr(s, '@', len);
	return at != NULL && at != s && at != s + len - 1;
}

void
keystore_strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Appends s[0..len) to *v (of *n) unless invalid or already there. */
static int
strv_add(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv, *a;
	size_t i;

	if (!addr_plausible(s, len))
		return 0;
	if ((a = strndup(s, len)) == NULL)
		return -1;
	for (i = 0; i < *n; i++)
		if (util_addr_equal((*v)[i], a)) {
			free(a);
			return 0;
		}
	if ((nv = realloc(*v, (*n + 2) * sizeof(*nv))) == NULL) {
		free(a);
		return -1;
	}
	*v = nv;
	nv[(*n)++] = a;
	nv[*n] = NULL;
	return 0;
}

static int
addrs_from_san(X509 *cert, char ***v, size_t *n)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *g;
	int i, rc = 0;

	for (i = 0; rc == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_EMAIL)
			rc = strv_add(v, n, (const char *)ASN1_STRING_get0_data(g->d.rfc822Name),
			    (size_t)ASN1_STRING_length(g->d.rfc822Name));
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
addrs_from_subject(X509 *cert, char ***v, size_t *n)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	unsigned char *utf8;
	int i = -1, len, rc = 0;

	while (rc == 0 && (i = X509_NAME_get_index_by_NID(name,
	    NID_pkcs9_emailAddress, i)) >= 0) {
		len = ASN1_STRING_to_UTF8(&utf8,
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
		if (len < 0)
			continue;
		rc = strv_add(v, n, (const char *)utf8, (size_t)len);
		OPENSSL_free(utf8);
	}
	return rc;
}

char **
keystore_cert_addresses(X509 *cert, int *nomem)
{
	char **v = NULL;
	size_t n = 0;

	*nomem = addrs_from_san(cert, &v, &n) != 0;
	if (!*nomem && n == 0)
		*nomem = addrs_from_subject(cert, &v, &n) != 0;
	ERR_clear_error();
	if (*nomem || n == 0) {
		keystore_strv_free(v);
		return NULL;
	}
	return v;
}

/* ---- description ---- */

int
keystore_cert_fingerprint(X509 *cert, char hex[65],
    unsigned char raw[KEYSTORE_FP_LEN])
{
	unsigned int n = 0;

	if (!X509_digest(cert, util_alg_sha256(), raw, &n) || n != KEYSTORE_FP_LEN)
		return -1;
	util_hex(hex, raw, KEYSTORE_FP_LEN);
	return 0;
}

static void
time_text(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)
	    || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "?");
}

static int
name_text(const X509_NAME *name, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	if (b == NULL || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(b);
		return -1;
	}
	n = BIO_read(b, buf, (int)size - 1);   /* truncates a very long name */
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return 0;
}

static int
serial_text(X509 *cert, char *buf, size_t size)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	if (hex == NULL)
		return -1;
	snprintf(buf, size, "%s", hex);
	OPENSSL_free(hex);
	return 0;
}

/* t as a time_t (0 when unreadable). */
static time_t
time_of(const ASN1_TIME *t)
{
	struct tm tm;

	return ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : 0;
}

int
keystore_cert_info(X509 *cert, keystore_info_t *info)
{
	uint32_t ku = X509_get_key_usage(cert);
	unsigned char raw[KEYSTORE_FP_LEN];

	memset(info, 0, sizeof(*info));
	if (keystore_cert_fingerprint(cert, info->fingerprint, raw) != 0
	    || serial_text(cert, info->serial, sizeof(info->serial)) != 0
	    || name_text(X509_get_subject_name(cert), info->subject,
	    sizeof(info->subject)) != 0
	    || name_text(X509_get_issuer_name(cert), info->issuer,
	    sizeof(info->issuer)) != 0)
		return -1;
	time_text(X509_get0_notBefore(cert), info->not_before,
	    sizeof(info->not_before));
	time_text(X509_get0_notAfter(cert), info->not_after,
	    sizeof(info->not_after));
	info->expires = time_of(X509_get0_notAfter(cert));
	/* X509_get_key_usage() gives all bits when there is no keyUsage. */
	info->can_sign = (ku & KU_DIGITAL_SIGNATURE) != 0;
	info->can_encrypt = (ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) != 0;
	return 0;
}

int
keystore_cert_describe(X509 *cert, keystore_info_t *info, char *first, size_t size)
{
	int nomem, rc = keystore_cert_info(cert, info);
	char **v = keystore_cert_addresses(cert, &nomem);

	snprintf(first, size, "%s", v != NULL ? v[0] : "");
	keystore_strv_free(v);
	return rc == 0 && !nomem ? 0 : -1;
}

/* ---- signing ---- */

const char *
keystore_cert_why_not_signer(X509 *cert, char *buf, size_t size)
{
	const ASN1_TIME *nb = X509_get0_notBefore(cert);
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	uint32_t xku = X509_get_extended_key_usage(cert);
	char when[32];

	if (X509_cmp_current_time(nb) >= 0) {
		time_text(nb, when, sizeof(when));
		snprintf(buf, size, "not valid before %.10s", when);
		return buf;
	}
	if (X509_cmp_current_time(na) <= 0) {
		time_text(na, when, sizeof(when));
		snprintf(buf, size, "expired %.10s", when);
		return buf;
	}
	if ((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0)
		return "keyUsage does not allow digitalSignature";
	/* All bits when there is no extendedKeyUsage. */
	if ((xku & XKU_SMIME) == 0)
		return "extendedKeyUsage lacks emailProtection";
	return NULL;
}
