/*
 * keystore_public.c: what the keystore may show anyone of an address:
 * the certificates others encrypt to it with, and their chains, for the
 * public-key retrieval service (enroll/enroll_lookup.c).  Never a key,
 * never a certificate that only signs, never one that is not valid now.
 *
 * Threads: works on an index snapshot (see keystore.c).
 */
#include "keystore/keystore_entry.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_retire.h"
#include "keystore/keystore_snapshot.h"

#include <time.h>
#include <openssl/x509v3.h>

/* 1 when cert may be published as an encryption certificate now: valid
 * now, keyEncipherment or keyAgreement (or no keyUsage), emailProtection
 * (or no extendedKeyUsage), not a CA. */
static int
publishable(const keystore_entry_t *e, time_t now)
{
	X509 *x = e->cert;
	uint32_t flags = X509_get_extension_flags(x);

	if (!e->info.can_encrypt || X509_check_ca(x) != 0)
		return 0;
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(x) & XKU_SMIME))
		return 0;
	return X509_cmp_time(X509_get0_notBefore(x), &now) < 0
	    && X509_cmp_time(X509_get0_notAfter(x), &now) > 0;
}

/* Pushes x (a new reference) unless out holds it already; 0 or -1. */
static int
push_once(STACK_OF(X509) *out, X509 *x)
{
	for (int i = 0; i < sk_X509_num(out); i++)
		if (X509_cmp(sk_X509_value(out, i), x) == 0)
			return 0;
	if (!sk_X509_push(out, x))
		return -1;
	X509_up_ref(x);
	return 0;
}

/* The publishable certificates of the n slots, newest first, then the
 * chains, each certificate once. */
static keystore_status_t
collect(const keystore_slot_t *slots, size_t n, STACK_OF(X509) *certs,
    STACK_OF(X509) *chain, keystore_err_t *err)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < n; i++) {
		const keystore_entry_t *e = slots[i].entry;

		if (!publishable(e, now))
			continue;
		if (push_once(certs, e->cert) != 0)
			return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		for (int j = 0; j < sk_X509_num(e->chain); j++)
			if (push_once(chain, sk_X509_value(e->chain, j)) != 0)
				return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	return KEYSTORE_OK;
}

keystore_status_t
keystore_public_certs(keystore_t *ks, const char *address,
    STACK_OF(X509) **certs, STACK_OF(X509) **chain, keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	size_t n;
	char *one[2] = { (char *)address, NULL };

	*certs = sk_X509_new_null();
	*chain = sk_X509_new_null();
	if (*certs == NULL || *chain == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else if ((rc = keystore_retired_check(ks, one, err)) != KEYSTORE_OK) {
		if (rc == KEYSTORE_RETIRED)   /* a leaver's are offered to no one */
			rc = util_err_set(err, KEYSTORE_NOTFOUND,
			    "%s is retired", address);
	} else if ((rc = keystore_snapshot(ks, &idx, err)) == KEYSTORE_OK) {
		if ((n = keystore_index_find(idx, address, &slots)) == 0
		    && keystore_miss(ks, idx, address)) {
			keystore_index_unref(idx);
			if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
				goto out;
			n = keystore_index_find(idx, address, &slots);
		}
		rc = collect(slots, n, *certs, *chain, err);
		keystore_index_unref(idx);
	}
out:
	if (rc == KEYSTORE_OK && sk_X509_num(*certs) == 0)
		rc = util_err_set(err, KEYSTORE_NOTFOUND,
		    "no certificate to publish for %s", address);
	if (rc != KEYSTORE_OK) {
		sk_X509_pop_free(*certs, X509_free);
		sk_X509_pop_free(*chain, X509_free);
		*certs = *chain = NULL;
	}
	return rc;
}
