/*
 * keystore_p12.c: PKCS#12 in and out of the keystore.  Import parses the
 * file with PKCS12_parse(), stores one entry per certificate matching the
 * private key (the other certificates become its chain) and marks the
 * index stale.  Export decrypts the newest entry's key and builds the
 * file with PKCS12_create(): OpenSSL 3's defaults (AES-256-CBC, PBKDF2,
 * HMAC-SHA-256 MAC), or for old clients PBE-SHA1-3DES with a SHA-1 MAC.
 *
 * Ownership: the private key lives in an EVP_PKEY only during the call
 * (OpenSSL clears its private parts when it is freed); the DER handed out
 * is the caller's, to free with OPENSSL_clear_free().  ks->last keeps the
 * last imported entry so that info->addresses stay valid after return.
 *
 * keystore_escrow() stores a key and certificate made elsewhere (the
 * embedded CA's, CMP's) as an import does.
 *
 * Threads: imports on one handle are serialized by ks->import_lock.
 */
#include "keystore/keystore_entry.h"
#include "keystore/keystore_cert.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_keys.h"
#include "keystore/keystore_retire.h"
#include "keystore/keystore_snapshot.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

/* ---- import ---- */

/* The key and every certificate of the PKCS#12 (the key's own first). */
static keystore_status_t
p12_parse(const unsigned char *der, size_t len, const char *password,
    EVP_PKEY **key, STACK_OF(X509) **certs, keystore_err_t *err)
{
	const unsigned char *p = der;
	PKCS12 *p12 = len <= LONG_MAX ? d2i_PKCS12(NULL, &p, (long)len) : NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	int ok;

	if (p12 == NULL)
		return util_err_ssl(err, KEYSTORE_ERR_INPUT, "not a PKCS#12 file");
	*key = NULL;
	ok = PKCS12_parse(p12, password, key, &cert, &ca);
	PKCS12_free(p12);
	if (!ok && util_err_ssl_last_is(ERR_LIB_PKCS12, PKCS12_R_MAC_VERIFY_FAILURE))
		return util_err_set(err, KEYSTORE_ERR_PASSWORD,
		    "wrong password (the PKCS#12 MAC does not verify)");
	if (!ok)
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "cannot read the PKCS#12");
	if (ca == NULL)
		ca = sk_X509_new_null();
	if (ca == NULL || (cert != NULL && !sk_X509_unshift(ca, cert))) {
		X509_free(cert);
		sk_X509_pop_free(ca, X509_free);
		EVP_PKEY_free(*key);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	*certs = ca;
	if (*key == NULL)
		return util_err_set(err, KEYSTORE_ERR_INPUT,
		    "the PKCS#12 holds no private key");
	return KEYSTORE_OK;
}

/* Splits certs into those matching key and the others (new stacks whose
 * pointers are borrowed from certs). */
static keystore_status_t
split_certs(STACK_OF(X509) *certs, EVP_PKEY *key, STACK_OF(X509) **match,
    STACK_OF(X509) **rest, keystore_err_t *err)
{
	X509 *c;
	int i, ok;

	*match = sk_X509_new_null();
	*rest = sk_X509_new_null();
	ok = *match != NULL && *rest != NULL;
	for (i = 0; ok && i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		ok = sk_X509_push(EVP_PKEY_eq(X509_get0_pubkey(c), key) == 1
		    ? *match : *rest, c) > 0;
	}
	ERR_clear_error();              /* EVP_PKEY_eq of unlike key types */
	if (!ok)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (sk_X509_num(*match) == 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT,
		    "no certificate in the PKCS#12 matches its private key");
	return KEYSTORE_OK;
}

/* Stores one entry per certificate in match; *newest gets the one valid
 * from the latest date. */
static keystore_status_t
store_entries(keystore_t *ks, STACK_OF(X509) *match, STACK_OF(X509) *rest,
    EVP_PKEY *key, keystore_entry_t **newest, keystore_err_t *err)
{
	unsigned char master[KEYSTORE_MASTER_LEN];
	keystore_entry_t *e;
	keystore_status_t rc = KEYSTORE_OK;
	int i;

	*newest = NULL;
	keystore_master_current(ks, master);
	for (i = 0; i < sk_X509_num(match); i++) {
		rc = keystore_entry_new(sk_X509_value(match, i), rest, key,
		    NULL, master, &e, err);
		if (rc == KEYSTORE_ERR_INPUT)       /* no address: skip it */
			continue;
		if (rc == KEYSTORE_OK)
			rc = keystore_retired_check(ks, e->addresses, err);
		if (rc == KEYSTORE_OK)
			rc = keystore_entry_store(ks, e, err);
		if (rc != KEYSTORE_OK) {
			keystore_entry_free(e);
			break;
		}
		if (*newest == NULL || ASN1_TIME_compare(X509_get0_notBefore(e->cert),
		    X509_get0_notBefore((*newest)->cert)) > 0) {
			keystore_entry_free(*newest);
			*newest = e;
		} else
			keystore_entry_free(e);
	}
	OPENSSL_cleanse(master, sizeof(master));
	if (rc != KEYSTORE_OK && rc != KEYSTORE_ERR_INPUT) {
		keystore_entry_free(*newest);
		*newest = NULL;
		return rc;
	}
	return *newest != NULL ? KEYSTORE_OK : rc;
}

keystore_status_t
keystore_import_p12(keystore_t *ks, const unsigned char *der, size_t len,
    const char *password, keystore_info_t *info, keystore_err_t *err)
{
	STACK_OF(X509) *certs = NULL, *match = NULL, *rest = NULL;
	keystore_entry_t *e = NULL;
	EVP_PKEY *key = NULL;
	keystore_status_t rc;

	int lock = -1;

	pthread_mutex_lock(&ks->import_lock);
	/* Under the directory lock, with the keys as they are now: a rekey
	 * never runs between choosing the master key and writing the entry. */
	if ((rc = keystore_dir_lock(ks->dir, &lock, err)) == KEYSTORE_OK
	    && (rc = keystore_keys_load(ks, err)) == KEYSTORE_OK
	    && (rc = p12_parse(der, len, password, &key, &certs, err)) == KEYSTORE_OK
	    && (rc = split_certs(certs, key, &match, &rest, err)) == KEYSTORE_OK
	    && (rc = store_entries(ks, match, rest, key, &e, err)) == KEYSTORE_OK) {
		keystore_touch(ks);
		keystore_entry_free(ks->last);
		ks->last = e;
		if (info != NULL)
			*info = e->info;
	}
	keystore_dir_unlock(lock);
	pthread_mutex_unlock(&ks->import_lock);
	sk_X509_free(match);
	sk_X509_free(rest);
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- export ---- */

static keystore_status_t
p12_build(const keystore_entry_t *e, EVP_PKEY *key, const char *password,
    int legacy, unsigned char **der, size_t *len, keystore_err_t *err)
{
	int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : 0;
	const char *pass = password != NULL ? password : "";
	PKCS12 *p12;
	int n;

	/* Legacy: no MAC from PKCS12_create (its default is SHA-256 in
	 * OpenSSL 3), then a SHA-1 one. */
	p12 = PKCS12_create(pass, e->addresses[0], key, e->cert, e->chain,
	    nid, nid, 0, legacy ? -1 : 0, 0);
	if (p12 == NULL || (legacy && !PKCS12_set_mac(p12, pass, -1, NULL, 0,
	    PKCS12_DEFAULT_ITER, EVP_sha1()))) {
		PKCS12_free(p12);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "%s: cannot make the PKCS#12", e->file);
	}
	*der = NULL;
	n = i2d_PKCS12(p12, der);
	PKCS12_free(p12);
	if (n <= 0)
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "%s: cannot encode the PKCS#12", e->file);
	*len = (size_t)n;
	return KEYSTORE_OK;
}

keystore_status_t
keystore_export_p12(keystore_t *ks, const char *address, const char *password,
    int legacy, unsigned char **der, size_t *len, keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	EVP_PKEY *key = NULL;
	keystore_status_t rc;

	if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
		return rc;
	/* Escrowed by another gateway (LDAP): read the directory again once. */
	if (keystore_index_find(idx, address, &slots) == 0 && keystore_miss(ks, idx, address)) {
		keystore_index_unref(idx);
		if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
			return rc;
	}
	if (keystore_index_find(idx, address, &slots) == 0)
		rc = util_err_set(err, KEYSTORE_NOTFOUND, "no key for %s", address);
	else if ((rc = keystore_key_of(ks, slots[0].entry, &key, err))
	    == KEYSTORE_OK)
		rc = p12_build(slots[0].entry, key, password, legacy, der, len, err);
	EVP_PKEY_free(key);
	keystore_index_unref(idx);
	return rc;
}

keystore_status_t
keystore_escrow(keystore_t *ks, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
    keystore_err_t *err)
{
	return keystore_escrow_origin(ks, cert, chain, key, NULL, err);
}

keystore_status_t
keystore_escrow_origin(keystore_t *ks, X509 *cert, STACK_OF(X509) *chain,
    EVP_PKEY *key, const char *origin, keystore_err_t *err)
{
	unsigned char master[KEYSTORE_MASTER_LEN];
	keystore_entry_t *e = NULL;
	keystore_status_t rc;

	keystore_master_current(ks, master);
	rc = keystore_entry_new(cert, chain, key, origin, master, &e, err);
	OPENSSL_cleanse(master, sizeof(master));
	if (rc == KEYSTORE_OK)
		rc = keystore_retired_check(ks, e->addresses, err);
	if (rc == KEYSTORE_OK)
		rc = keystore_entry_store(ks, e, err);
	keystore_entry_free(e);
	keystore_touch(ks);
	return rc;
}
