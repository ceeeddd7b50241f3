/*
 * ca_shared.c: the embedded CA kept in the directory, so that several
 * gateways with one keystore there (KeystoreBackend ldap) are one CA
 * (see ca_int.h).  Through keystore's shared records (keystore.h,
 * keystore_record_add()), each sealed under the master key:
 *
 *   ca/keys          root and issuing certificates, then their keys
 *                    (PKCS#8: the record's seal protects them, and a
 *                    rekey of the master key seals it again)
 *   caissued/SERIAL  a certificate the CA issued (PEM)
 *   carevoked/SERIAL when it was revoked (Unix time) and the reason
 *                    (a CRLReason code, -1: none), decimal
 *
 * The first gateway to add ca/keys makes the CA; one that finds it made
 * (a race of two first starts) drops its own and loads the other's.
 * Serial numbers are random (127 bits), so gateways issuing at once need
 * not agree on a counter; a revocation is a record of its own, added
 * once, so every gateway's CRL lists what any of them revoked.
 *
 * Whether a certificate is revoked (at each signing) is answered from a
 * copy of every revocation record, kept sorted in ca->revs under
 * ca->rev_lock and read again by the keystore's rules for copies read
 * whole (keystore_reading_due(): KeystoreLDAPRefresh, and through an
 * outage KeystoreLDAPMaxStale); a revocation this gateway writes goes
 * into the copy at once, another gateway's shows within the refresh.
 * CRLs read the records afresh.
 */
#include "ca/ca_int.h"
#include "util/util.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define K_CA "ca"
#define K_ISSUED "caissued"
#define K_REVOKED "carevoked"

keystore_status_t
ca_shared_save(ca_t *ca, EVP_PKEY *rkey, EVP_PKEY *ikey, int *exists,
    keystore_err_t *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	keystore_status_t rc;

	if (b == NULL || !PEM_write_bio_X509(b, ca->root) || !PEM_write_bio_X509(b, ca->issuer)
	    || !PEM_write_bio_PKCS8PrivateKey(b, rkey, NULL, NULL, 0, NULL, NULL)
	    || !PEM_write_bio_PKCS8PrivateKey(b, ikey, NULL, NULL, 0, NULL, NULL)
	    || (len = BIO_get_mem_data(b, &data)) <= 0) {
		BIO_free(b);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot encode its keys");
	}
	rc = keystore_record_add(ca->ks, K_CA, "keys", data, (size_t)len, exists, err);
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(b);
	return rc;
}

keystore_status_t
ca_shared_load(ca_t *ca, keystore_err_t *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *b;
	EVP_PKEY *rkey = NULL;
	keystore_status_t rc = keystore_record_get(ca->ks, K_CA, "keys", &data, &len, NULL, err);

	if (rc != KEYSTORE_OK)
		return rc;
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL
	    || (ca->root = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL
	    || (ca->issuer = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL
	    || (rkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL
	    || (ca->issuer_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CORRUPT, "CA in the directory: "
		    "cannot read its certificates and keys (another master key?)");
	EVP_PKEY_free(rkey);        /* the root key signs nothing day to day */
	BIO_free(b);
	OPENSSL_clear_free(data, len + 1);
	return rc;
}

keystore_status_t
ca_shared_issued(ca_t *ca, const char *serial, X509 *x, keystore_err_t *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int exists = 0;
	keystore_status_t rc;

	if (b == NULL || !PEM_write_bio_X509(b, x) || (len = BIO_get_mem_data(b, &data)) <= 0) {
		BIO_free(b);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot encode %s", serial);
	}
	rc = keystore_record_add(ca->ks, K_ISSUED, serial, data, (size_t)len, &exists, err);
	BIO_free(b);
	if (rc == KEYSTORE_OK && exists)
		rc = util_err_set(err, KEYSTORE_ERR_CRYPTO, "CA: serial %s issued twice", serial);
	return rc;
}

keystore_status_t
ca_shared_cert(ca_t *ca, const char *serial, X509 **x, keystore_err_t *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *b;
	X509 *c = NULL;
	keystore_status_t rc = keystore_record_get(ca->ks, K_ISSUED, serial, &data, &len,
	    NULL, err);

	if (rc != KEYSTORE_OK)
		return rc;
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL
	    || (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CORRUPT, "CA: issued %s: not a certificate",
		    serial);
	if (x != NULL && rc == KEYSTORE_OK)
		*x = c;
	else
		X509_free(c);
	BIO_free(b);
	OPENSSL_clear_free(data, len + 1);
	return rc;
}

/* ---- the copy of the revocations ---- */

struct ca_rev {
	char serial[104];
	long when;
	int reason;
};

struct ca_revset {
	keystore_reading_t rd;
	struct ca_rev *v;
	size_t n, cap;
	int nomem;
};

void
ca_shared_revset_free(struct ca_revset *set)
{
	if (set == NULL)
		return;
	free(set->v);
	free(set);
}

static int
rev_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct ca_rev *)a)->serial,
	    ((const struct ca_rev *)b)->serial);
}

static struct ca_rev *
revset_find(const struct ca_revset *set, const char *serial)
{
	struct ca_rev key;

	if (set->n == 0 || strlen(serial) >= sizeof(key.serial))
		return NULL;
	snprintf(key.serial, sizeof(key.serial), "%s", serial);
	return bsearch(&key, set->v, set->n, sizeof(key), rev_cmp);
}

/* Appends a revocation (unsorted); a serial too long is no serial of ours. */
static int
revset_take(const char *serial, long when, int reason, void *arg)
{
	struct ca_revset *set = arg;
	struct ca_rev *v;

	if (strlen(serial) >= sizeof(v->serial))
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;

		if ((v = realloc(set->v, cap * sizeof(*v))) == NULL) {
			set->nomem = 1;
			return 1;
		}
		set->v = v;
		set->cap = cap;
	}
	v = &set->v[set->n++];
	snprintf(v->serial, sizeof(v->serial), "%s", serial);
	v->when = when;
	v->reason = reason;
	return 0;
}

/* Every revocation record read into a new ca->revs (rev_lock held); on
 * failure the old copy stays. */
static keystore_status_t
revset_read(ca_t *ca, time_t now, keystore_err_t *err)
{
	struct ca_revset *set = calloc(1, sizeof(*set));
	keystore_status_t rc;

	if (set == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = ca_shared_revoked(ca, revset_take, set, err);
	if (rc == KEYSTORE_OK && set->nomem)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (rc != KEYSTORE_OK) {
		ca_shared_revset_free(set);
		return rc;
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), rev_cmp);
	set->rd.at = now;
	ca_shared_revset_free(ca->revs);
	ca->revs = set;
	return KEYSTORE_OK;
}

keystore_status_t
ca_shared_revocation(ca_t *ca, const char *serial, long *when, int *reason,
    keystore_err_t *err)
{
	struct timespec now;
	struct ca_rev *r;
	keystore_status_t rc = KEYSTORE_OK;

	*when = 0;
	*reason = -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&ca->rev_lock);
	if ((ca->revs == NULL || keystore_reading_due(ca->ks, &ca->revs->rd, now.tv_sec))
	    && (rc = revset_read(ca, now.tv_sec, err)) != KEYSTORE_OK
	    && ca->revs != NULL && keystore_reading_keep(ca->ks, &ca->revs->rd, now.tv_sec))
		rc = KEYSTORE_OK;            /* the copy read last, through the outage */
	if (rc == KEYSTORE_OK && (r = revset_find(ca->revs, serial)) != NULL) {
		*when = r->when > 0 ? r->when : 1;
		*reason = r->reason;
	}
	pthread_mutex_unlock(&ca->rev_lock);
	return rc;
}

/* This gateway's revocation in the copy at once (the first one kept). */
static void
revset_note(ca_t *ca, const char *serial, long when, int reason)
{
	pthread_mutex_lock(&ca->rev_lock);
	if (ca->revs != NULL && revset_find(ca->revs, serial) == NULL) {
		if (revset_take(serial, when, reason, ca->revs) == 0 && ca->revs->n > 1)
			qsort(ca->revs->v, ca->revs->n, sizeof(*ca->revs->v), rev_cmp);
		else if (ca->revs->nomem) {  /* the copy cannot hold it: read again */
			ca_shared_revset_free(ca->revs);
			ca->revs = NULL;
		}
	}
	pthread_mutex_unlock(&ca->rev_lock);
}

keystore_status_t
ca_shared_revoke(ca_t *ca, const char *serial, long when, int reason,
    keystore_err_t *err)
{
	char t[48];
	int exists = 0;
	keystore_status_t rc;

	snprintf(t, sizeof(t), "%ld %d", when, reason);
	rc = keystore_record_add(ca->ks, K_REVOKED, serial, t, strlen(t), &exists, err);
	if (rc == KEYSTORE_OK)
		revset_note(ca, serial, when, reason);
	return rc;
}

struct rev_walk {
	int (*fn)(const char *, long, int, void *);
	void *arg;
};

static int
rev_one(const char *name, const unsigned char *data, size_t len, long version, void *arg)
{
	struct rev_walk *w = arg;
	long when = 0;
	int reason = -1;

	(void)len;
	(void)version;
	if (sscanf((const char *)data, "%ld %d", &when, &reason) < 1)
		return 0;
	return w->fn(name, when, reason >= 0 && reason <= 10 ? reason : -1, w->arg);
}

keystore_status_t
ca_shared_revoked(ca_t *ca, int (*fn)(const char *, long, int, void *), void *arg,
    keystore_err_t *err)
{
	struct rev_walk w = { fn, arg };

	if (keystore_record_foreach(ca->ks, K_REVOKED, rev_one, &w, err) < 0)
		return err != NULL && err->code != KEYSTORE_OK ? err->code : KEYSTORE_ERR_IO;
	return KEYSTORE_OK;
}

struct iss_walk {
	int (*fn)(const char *, X509 *, void *);
	void *arg;
};

static int
iss_one(const char *name, const unsigned char *data, size_t len, long version, void *arg)
{
	struct iss_walk *w = arg;
	BIO *b = BIO_new_mem_buf(data, (int)len);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int rc = 0;

	(void)version;
	if (x != NULL)
		rc = w->fn(name, x, w->arg);
	X509_free(x);
	BIO_free(b);
	return rc;
}

int
ca_shared_each(ca_t *ca, int (*fn)(const char *, X509 *, void *), void *arg,
    keystore_err_t *err)
{
	struct iss_walk w = { fn, arg };

	return keystore_record_foreach(ca->ks, K_ISSUED, iss_one, &w, err);
}
