/*
 * keystore.c: the keystore handle: opening (directory, master key, first
 * scan), health, and the lookups keystore_signer(), keystore_recipient()
 * and keystore_foreach().  Keeping the index fresh is keystore_snapshot.c;
 * PKCS#12 import and export are in keystore_p12.c.
 *
 * Threads: ks->lock (a writer-preferring rwlock) guards ks->idx and
 * ks->stale only; a lookup takes a reference to the index under the read
 * lock (keystore_snapshot()) and works on that snapshot without any lock.
 */
#include "keystore/keystore_int.h"
#include "keystore/keystore_cert.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_keycache.h"
#include "keystore/keystore_keys.h"
#include "keystore/keystore_ldap.h"
#include "keystore/keystore_master.h"
#include "keystore/keystore_retire.h"
#include "keystore/keystore_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>
#include <openssl/crypto.h>

/* ---- opening ---- */

static keystore_status_t
ks_paths(keystore_t *ks, const char *dir, const char *master_key_file,
    keystore_err_t *err)
{
	ks->dir = strdup(dir);
	if (master_key_file != NULL && *master_key_file != '\0')
		ks->master_file = strdup(master_key_file);
	else
		ks->master_file = keystore_path_join(dir, "master.key");
	if (ks->dir == NULL || ks->master_file == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory",
		    dir);
	return KEYSTORE_OK;
}

static keystore_status_t
ks_locks(keystore_t *ks, keystore_err_t *err)
{
	pthread_rwlockattr_t attr;
	int rc;

	if ((rc = pthread_rwlockattr_init(&attr)) != 0)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "rwlock: %s",
		    strerror(rc));
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&ks->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc == 0 && (rc = pthread_mutex_init(&ks->import_lock, NULL)) != 0)
		pthread_rwlock_destroy(&ks->lock);
	if (rc == 0 && (rc = pthread_mutex_init(&ks->master_lock, NULL)) != 0) {
		pthread_mutex_destroy(&ks->import_lock);
		pthread_rwlock_destroy(&ks->lock);
	}
	if (rc == 0 && (rc = pthread_mutex_init(&ks->retired_lock, NULL)) != 0) {
		pthread_mutex_destroy(&ks->master_lock);
		pthread_mutex_destroy(&ks->import_lock);
		pthread_rwlock_destroy(&ks->lock);
	}
	if (rc != 0)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "locks: %s",
		    strerror(rc));
	return KEYSTORE_OK;
}

static void
ks_release(keystore_t *ks)
{
	keystore_index_unref(ks->idx);
	keystore_entry_free(ks->last);
	keystore_ldap_free(ks->ldap);
	keystore_retired_set_free(ks->retired);
	keystore_keycache_free(ks->keycache);
	OPENSSL_cleanse(ks->master, sizeof(ks->master));
	OPENSSL_cleanse(ks->next, sizeof(ks->next));
	free(ks->dir);
	free(ks->master_file);
	free(ks);
}

/* The first index: the directory scanned, or the entries read from LDAP.
 * An LDAP server that does not answer at start leaves an empty index
 * marked stale (lookups then fail until it answers), unless a master key
 * is to be made: never one without knowing that no entry needs the old. */
static keystore_status_t
ks_first_index(keystore_t *ks, int create, keystore_err_t *err)
{
	keystore_status_t rc;

	if (ks->ldap == NULL)
		return keystore_index_build(ks->dir, &ks->idx, err);
	rc = keystore_index_build_ldap(ks->ldap, &ks->idx, err);
	if (rc != KEYSTORE_ERR_IO || (create && access(ks->master_file, F_OK) != 0))
		return rc;
	if ((ks->idx = calloc(1, sizeof(*ks->idx))) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	atomic_init(&ks->idx->refs, 1);
	ks->stale = 1;
	return KEYSTORE_OK;
}

keystore_t *
keystore_open_ex(const char *dir, const char *master_key_file, int flags,
    const keystore_ldap_settings_t *ldap, keystore_err_t *err)
{
	keystore_t *ks = calloc(1, sizeof(*ks));
	struct stat st;
	keystore_status_t rc;
	int create = (flags & KEYSTORE_CREATE) != 0;

	if (ks == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", dir);
		return NULL;
	}
	if ((rc = ks_paths(ks, dir, master_key_file, err)) != KEYSTORE_OK)
		goto fail;
	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	/* A new master key only for an empty keystore: entries sealed under
	 * a lost one must make noise, not become silently useless. */
	if (keystore_dir_check(dir, &st, err) != KEYSTORE_OK
	    || (ldap != NULL && keystore_ldap_new(ldap, &ks->ldap, err) != KEYSTORE_OK)
	    || ks_first_index(ks, create, err) != KEYSTORE_OK
	    || keystore_master_load(ks->master_file, create
	    && ks->idx->n_entries == 0 && !ks->stale, ks->master, err) != KEYSTORE_OK
	    || ks_locks(ks, err) != KEYSTORE_OK)
		goto fail;
	if ((ks->keycache = keystore_keycache_new()) == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", dir);
		keystore_free(ks);
		return NULL;
	}
	if (keystore_keys_load(ks, err) != KEYSTORE_OK) {
		keystore_free(ks);
		return NULL;
	}
	return ks;
fail:
	ks_release(ks);
	return NULL;
}

keystore_t *
keystore_open(const char *dir, const char *master_key_file, int flags,
    keystore_err_t *err)
{
	return keystore_open_ex(dir, master_key_file, flags, NULL, err);
}

void
keystore_free(keystore_t *ks)
{
	if (ks == NULL)
		return;
	pthread_rwlock_destroy(&ks->lock);
	pthread_mutex_destroy(&ks->import_lock);
	pthread_mutex_destroy(&ks->master_lock);
	pthread_mutex_destroy(&ks->retired_lock);
	ks_release(ks);
}

void
keystore_health(keystore_t *ks, keystore_health_t *h)
{
	keystore_index_t *idx = NULL;
	keystore_err_t err;
	unsigned char zero[KEYSTORE_MASTER_LEN] = { 0 };

	memset(h, 0, sizeof(*h));
	snprintf(h->backend, sizeof(h->backend), "%s", ks->ldap ? "ldap" : "file");
	pthread_mutex_lock(&ks->master_lock);
	h->master_loaded = CRYPTO_memcmp(ks->master, zero, sizeof(zero)) != 0;
	pthread_mutex_unlock(&ks->master_lock);
	if (ks->ldap != NULL && keystore_ldap_ping(ks->ldap, &err) != KEYSTORE_OK) {
		snprintf(h->why, sizeof(h->why), "%.*s", (int)sizeof(h->why) - 1, err.msg);
		return;
	}
	if (keystore_snapshot(ks, &idx, &err) != KEYSTORE_OK) {
		snprintf(h->why, sizeof(h->why), "%.*s", (int)sizeof(h->why) - 1, err.msg);
		return;
	}
	h->readable = 1;
	h->entries = idx->n_entries;
	h->skipped = idx->n_skipped;
	keystore_index_unref(idx);
}

size_t
keystore_skipped(keystore_t *ks, int *fresh, char *why, size_t len)
{
	keystore_index_t *idx;
	size_t n;

	pthread_rwlock_rdlock(&ks->lock);
	idx = ks->idx != NULL ? keystore_index_ref(ks->idx) : NULL;
	pthread_rwlock_unlock(&ks->lock);
	*fresh = 0;
	if (why != NULL && len > 0)
		why[0] = '\0';
	if (idx == NULL)
		return 0;
	n = idx->n_skipped;
	if (n > 0) {
		*fresh = atomic_exchange(&idx->reported, 1) == 0;
		if (why != NULL)
			snprintf(why, len, "%s", idx->skipped);
	}
	keystore_index_unref(idx);
	return n;
}

/* ---- lookups ---- */

/* Appends "certificate <fp>..: why" to buf for a refused entry. */
static void
why_append(char *buf, size_t size, const keystore_entry_t *e, const char *why)
{
	size_t n = strlen(buf);

	if (n < size)
		snprintf(buf + n, size - n, "%scertificate %.16s..: %s",
		    n > 0 ? "; " : "", e->info.fingerprint, why);
}

/* The newest entry in slots[0..n) that may sign now, or NULL with the
 * reasons in why.  The key kept of an entry refused (expired, revoked)
 * is dropped. */
static const keystore_entry_t *
pick_signer(keystore_t *ks, const keystore_slot_t *slots, size_t n,
    keystore_check_fn check, void *arg, char *why, size_t size)
{
	char date[48];
	const char *reason;
	size_t i;

	why[0] = '\0';
	for (i = 0; i < n; i++) {           /* newest first */
		reason = keystore_cert_why_not_signer(slots[i].entry->cert, date,
		    sizeof(date));
		if (reason == NULL && check != NULL)
			reason = check(slots[i].entry->cert, slots[i].entry->chain, arg);
		if (reason == NULL)
			return slots[i].entry;
		why_append(why, size, slots[i].entry, reason);
		keystore_keycache_drop_entry(ks->keycache, slots[i].entry);
	}
	return NULL;
}

/* Hands out the entry's key (kept for addr, the normalized address of
 * its slot), certificate and chain (each optional). */
static keystore_status_t
give_signer(keystore_t *ks, const char *addr, const keystore_entry_t *e,
    EVP_PKEY **key, X509 **cert, STACK_OF(X509) **chain, keystore_err_t *err)
{
	STACK_OF(X509) *c = NULL;
	keystore_status_t rc;

	if (chain != NULL && (c = X509_chain_up_ref(e->chain)) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (key != NULL
	    && (rc = keystore_key_kept(ks, addr, e, key, err)) != KEYSTORE_OK) {
		sk_X509_pop_free(c, X509_free);
		return rc;
	}
	if (cert != NULL) {
		X509_up_ref(e->cert);
		*cert = e->cert;
	}
	if (chain != NULL)
		*chain = c;
	return KEYSTORE_OK;
}

/*
 * A snapshot of the index and address's slots in it, read again once when
 * the address is missing and the store says it may have changed (another
 * gateway's import, on the LDAP backend).  The caller unrefs *idx.
 */
static keystore_status_t
snapshot_find(keystore_t *ks, const char *address, keystore_index_t **idx,
    const keystore_slot_t **slots, size_t *n, keystore_err_t *err)
{
	keystore_status_t rc;

	if ((rc = keystore_snapshot(ks, idx, err)) != KEYSTORE_OK)
		return rc;
	if ((*n = keystore_index_find(*idx, address, slots)) == 0
	    && keystore_miss(ks, *idx, address)) {
		keystore_index_unref(*idx);
		if ((rc = keystore_snapshot(ks, idx, err)) != KEYSTORE_OK)
			return rc;
		*n = keystore_index_find(*idx, address, slots);
	}
	return KEYSTORE_OK;
}

/* KEYSTORE_OK unless address is retired (KEYSTORE_RETIRED, with when)
 * or its record cannot be read (then neither signed as nor encrypted to;
 * the keys kept for it are dropped). */
static keystore_status_t
address_active(keystore_t *ks, const char *address, keystore_err_t *err)
{
	char *const one[] = { (char *)address, NULL };
	keystore_status_t rc = keystore_retired_check(ks, one, err);

	if (rc != KEYSTORE_OK)
		keystore_keycache_drop_address(ks->keycache, address);
	return rc;
}

keystore_status_t
keystore_signer(keystore_t *ks, const char *address, EVP_PKEY **key,
    X509 **cert, STACK_OF(X509) **chain, keystore_err_t *err)
{
	return keystore_signer_checked(ks, address, NULL, NULL, key, cert, chain, err);
}

/* The newest of slots[0..n-1] that may be encrypted to now (n: none). */
static size_t
find_enc(const keystore_slot_t *slots, size_t n)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < n; i++) {           /* newest first */
		X509 *x = slots[i].entry->cert;

		if (slots[i].entry->info.can_encrypt
		    && X509_cmp_time(X509_get0_notBefore(x), &now) < 0
		    && X509_cmp_time(X509_get0_notAfter(x), &now) > 0)
			break;
	}
	return i;
}

keystore_status_t
keystore_signer_checked(keystore_t *ks, const char *address,
    keystore_check_fn check, void *arg, EVP_PKEY **key, X509 **cert,
    STACK_OF(X509) **chain, keystore_err_t *err)
{
	return keystore_signer_enc(ks, address, check, arg, key, cert, chain,
	    NULL, err);
}

keystore_status_t
keystore_signer_enc(keystore_t *ks, const char *address,
    keystore_check_fn check, void *arg, EVP_PKEY **key, X509 **cert,
    STACK_OF(X509) **chain, X509 **enc, keystore_err_t *err)
{
	const keystore_entry_t *e;
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	char why[sizeof(err->msg)];
	size_t n, i;

	if (enc != NULL)
		*enc = NULL;
	if ((rc = address_active(ks, address, err)) != KEYSTORE_OK)
		return rc;
	if ((rc = snapshot_find(ks, address, &idx, &slots, &n, err)) != KEYSTORE_OK)
		return rc;
	if (n == 0)
		rc = util_err_set(err, KEYSTORE_NOTFOUND, "no key for %s", address);
	else if ((e = pick_signer(ks, slots, n, check, arg, why, sizeof(why))) == NULL)
		rc = util_err_set(err, KEYSTORE_NOTFOUND, "%s: %s", address, why);
	else
		rc = give_signer(ks, slots[0].addr, e, key, cert, chain, err);
	/* The same address's slots, so the same owner as the key. */
	if (rc == KEYSTORE_OK && enc != NULL && (i = find_enc(slots, n)) < n) {
		X509_up_ref(slots[i].entry->cert);
		*enc = slots[i].entry->cert;
	}
	keystore_index_unref(idx);
	return rc;
}

keystore_status_t
keystore_recipient_chain(keystore_t *ks, const char *address, X509 **cert,
    STACK_OF(X509) **chain, keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	size_t n, i;

	*cert = NULL;
	if (chain != NULL)
		*chain = NULL;
	if ((rc = address_active(ks, address, err)) != KEYSTORE_OK)
		return rc;
	if ((rc = snapshot_find(ks, address, &idx, &slots, &n, err)) != KEYSTORE_OK)
		return rc;
	if ((i = find_enc(slots, n)) == n)
		rc = util_err_set(err, KEYSTORE_NOTFOUND,
		    "no certificate to encrypt to for %s", address);
	else if (chain != NULL && (*chain = X509_chain_up_ref(slots[i].entry->chain)) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else {
		X509_up_ref(slots[i].entry->cert);
		*cert = slots[i].entry->cert;
	}
	keystore_index_unref(idx);
	return rc;
}

keystore_status_t
keystore_recipient(keystore_t *ks, const char *address, X509 **cert,
    keystore_err_t *err)
{
	return keystore_recipient_chain(ks, address, cert, NULL, err);
}

int
keystore_foreach(keystore_t *ks, int (*fn)(const keystore_info_t *, void *),
    void *arg, keystore_err_t *err)
{
	keystore_index_t *idx;
	size_t i;
	int r = 0;

	if (err != NULL)
		err->code = KEYSTORE_OK;
	if (keystore_snapshot(ks, &idx, err) != KEYSTORE_OK)
		return -1;
	for (i = 0; r == 0 && i < idx->n_entries; i++)
		r = fn(&idx->entries[i]->info, arg);
	keystore_index_unref(idx);
	return r;
}
