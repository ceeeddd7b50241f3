/*
 * keystore_find.c: the escrowed key a CMS RecipientInfo names, by the
 * issuer and serial number of the recipient's certificate or by its
 * subject key identifier, among the entries of one address (those whose
 * certificate names it: the index's slots).  Every such entry counts,
 * expired or not: old mail must still open with the key it was encrypted
 * to.  A key of another address never answers.
 *
 * The key comes through the cache of decrypted keys (keystore_keycache.c),
 * asked for the entry found here only.
 *
 * Threads: works on an index snapshot (see keystore.c).
 */
#include "keystore/keystore_entry.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_keycache.h"
#include "keystore/keystore_keys.h"
#include "keystore/keystore_retire.h"
#include "keystore/keystore_snapshot.h"

#include <openssl/x509v3.h>

static int
entry_matches(const keystore_entry_t *e, const X509_NAME *issuer,
    const ASN1_INTEGER *serial, const ASN1_OCTET_STRING *skid)
{
	const ASN1_OCTET_STRING *own;

	if (issuer != NULL && serial != NULL)
		return X509_NAME_cmp(X509_get_issuer_name(e->cert), issuer) == 0
		    && ASN1_INTEGER_cmp(X509_get0_serialNumber(e->cert), serial) == 0;
	if (skid != NULL) {
		own = X509_get0_subject_key_id(e->cert);
		return own != NULL && ASN1_OCTET_STRING_cmp(own, skid) == 0;
	}
	return 0;
}

/* The entry of address matching in idx, or NULL; *addr: the normalized
 * address of its slot (valid while idx is). */
static const keystore_entry_t *
find_in(const keystore_index_t *idx, const char *address, const X509_NAME *issuer,
    const ASN1_INTEGER *serial, const ASN1_OCTET_STRING *skid, const char **addr)
{
	const keystore_slot_t *slots;
	size_t n = keystore_index_find(idx, address, &slots);

	for (size_t i = 0; i < n; i++)
		if (entry_matches(slots[i].entry, issuer, serial, skid)) {
			*addr = slots[i].addr;
			return slots[i].entry;
		}
	return NULL;
}

/* 1 when address is retired and its keys destroyed (err says when). */
static int
retired_gone(keystore_t *ks, const char *address, keystore_err_t *err)
{
	keystore_retired_t r;
	char *const one[] = { (char *)address, NULL };

	return keystore_retired_get(ks, address, &r, NULL) == KEYSTORE_OK
	    && r.destroyed > 0 && keystore_retired_check(ks, one, err) == KEYSTORE_RETIRED;
}

keystore_status_t
keystore_decrypter(keystore_t *ks, const char *address, const X509_NAME *issuer,
    const ASN1_INTEGER *serial, const ASN1_OCTET_STRING *skid, EVP_PKEY **key,
    X509 **cert, keystore_err_t *err)
{
	const keystore_entry_t *e;
	const char *addr = NULL;
	keystore_index_t *idx;
	keystore_status_t rc;

	if (address == NULL)
		return util_err_set(err, KEYSTORE_NOTFOUND, "no address to decrypt for");
	if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
		return rc;
	if ((e = find_in(idx, address, issuer, serial, skid, &addr)) == NULL
	    && keystore_miss(ks, idx, address)) {
		keystore_index_unref(idx);
		if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
			return rc;
		e = find_in(idx, address, issuer, serial, skid, &addr);
	}
	if (e == NULL && retired_gone(ks, address, err)) {
		keystore_keycache_drop_address(ks->keycache, address);
		rc = KEYSTORE_RETIRED;
	}
	else if (e == NULL)
		rc = util_err_set(err, KEYSTORE_NOTFOUND,
		    "no escrowed key of %s for that RecipientInfo", address);
	else if ((rc = keystore_key_kept(ks, addr, e, key, err)) == KEYSTORE_OK
	    && cert != NULL) {
		X509_up_ref(e->cert);
		*cert = e->cert;
	}
	keystore_index_unref(idx);
	return rc;
}
