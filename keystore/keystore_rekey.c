/*
 * keystore_rekey.c: rotating the master key (keystore_rekey(),
 * `smimectl keystore rekey`).  The keys in use while it runs are
 * keystore_keys.c's.
 *
 * A rekey never leaves an entry that no key opens, even when it is
 * interrupted at any point:
 *
 *   1. a new key goes to "<master file>.new" (0600, synced); a rekey that
 *      finds one there was interrupted and carries on with it;
 *   2. each entry is sealed again under the new key and replaced
 *      atomically (temporary file, fsync, rename); an entry the new key
 *      already opens is left as it is; so are, on the LDAP backend, the
 *      gateways' shared records (keystore_record.c);
 *   3. the new key file is renamed over the master key file, and the
 *      directory synced.
 *
 * Until step 3 an entry is sealed under one key or the other, and every
 * reader tries both (keystore_key_of()).  The rekey holds the advisory
 * lock on dir/.lock (keystore_dir_lock()) throughout.
 *
 * Threads: the next key is cleansed before returning.
 */
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_keys.h"
#include "keystore/keystore_master.h"
#include "keystore/keystore_record.h"
#include "keystore/keystore_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Step 1: the next key, made now or left by an interrupted rekey. */
static keystore_status_t
rekey_next(keystore_t *ks, const char *np, unsigned char next[KEYSTORE_MASTER_LEN],
    keystore_err_t *err)
{
	keystore_status_t rc = keystore_master_load(np, 0, next, err);

	if (rc != KEYSTORE_NOTFOUND && rc != KEYSTORE_ERR_IO)
		return rc;
	if (access(np, F_OK) == 0)
		return rc;              /* there, but unreadable */
	/* keystore_master_load(create) makes it with link(): exclusive. */
	return keystore_master_load(np, 1, next, err);
}

/* Step 2 for one entry; *done counts the entries sealed again. */
static keystore_status_t
rekey_entry(keystore_t *ks, const keystore_entry_t *e,
    const unsigned char *next, size_t *done, keystore_err_t *err)
{
	keystore_entry_t *ne = NULL;
	keystore_err_t ignore;
	EVP_PKEY *key = NULL;
	keystore_status_t rc;

	if (keystore_entry_key(e, next, ks->dir, &key, &ignore) == KEYSTORE_OK) {
		EVP_PKEY_free(key);     /* already under the new key */
		return KEYSTORE_OK;
	}
	if ((rc = keystore_keys_try(ks, e, &key, err)) != KEYSTORE_OK)
		return rc;
	rc = keystore_entry_new(e->cert, e->chain, key, e->origin, next, &ne, err);
	EVP_PKEY_free(key);
	if (rc == KEYSTORE_OK && strcmp(ne->file, e->file) != 0)
		rc = util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s/%s: file name and certificate disagree", ks->dir, e->file);
	if (rc == KEYSTORE_OK && (rc = keystore_entry_store(ks, ne, err)) == KEYSTORE_OK)
		(*done)++;
	keystore_entry_free(ne);
	return rc;
}

/* Step 3: the new key becomes the master key. */
static keystore_status_t
rekey_commit(keystore_t *ks, const char *np, keystore_err_t *err)
{
	char *dir = strdup(ks->master_file), *slash;
	int fd;

	if (dir == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (rename(np, ks->master_file) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "rename %s to %s: %s", np,
		    ks->master_file, strerror(errno));
		free(dir);
		return KEYSTORE_ERR_IO;
	}
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: fsync: %s", dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		free(dir);
		return KEYSTORE_ERR_IO;
	}
	close(fd);
	free(dir);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_rekey(keystore_t *ks, size_t *count, keystore_err_t *err)
{
	unsigned char next[KEYSTORE_MASTER_LEN];
	keystore_index_t *idx = NULL;
	char *np = keystore_master_next_path(ks->master_file);
	keystore_status_t rc;
	size_t i, done = 0, records = 0;
	int lock = -1;

	if (np == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if ((rc = keystore_dir_lock(ks->dir, &lock, err)) != KEYSTORE_OK)
		goto out;
	if ((rc = rekey_next(ks, np, next, err)) != KEYSTORE_OK
	    || (rc = keystore_keys_load(ks, err)) != KEYSTORE_OK
	    || (rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
		goto out;
	for (i = 0; rc == KEYSTORE_OK && i < idx->n_entries; i++)
		rc = rekey_entry(ks, idx->entries[i], next, &done, err);
	if (rc == KEYSTORE_OK)      /* the gateways' shared records (LDAP) */
		rc = keystore_record_rekey(ks, next, &records, err);
	if (rc == KEYSTORE_OK && (rc = rekey_commit(ks, np, err)) == KEYSTORE_OK)
		rc = keystore_keys_load(ks, err);
	if (rc == KEYSTORE_OK && count != NULL)
		*count = idx->n_entries;
out:
	OPENSSL_cleanse(next, sizeof(next));
	keystore_index_unref(idx);
	keystore_dir_unlock(lock);
	free(np);
	return rc;
}
