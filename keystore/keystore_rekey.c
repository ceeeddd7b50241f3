/*
 * keystore_rekey.c: the master keys in use, and their rotation
 * (keystore_rekey(), `smimectl keystore rekey`).
 *
 * A rekey never leaves an entry that no key opens, even when it is
 * interrupted at any point:
 *
 *   1. a new key goes to "<master file>.new" (0600, synced); a rekey that
 *      finds one there was interrupted and carries on with it;
 *   2. each entry is sealed again under the new key and replaced
 *      atomically (temporary file, fsync, rename); an entry the new key
 *      already opens is left as it is;
 *   3. the new key file is renamed over the master key file, and the
 *      directory synced.
 *
 * Until step 3 an entry is sealed under one key or the other, and every
 * reader tries both (keystore_key_of()); a reader whose keys open neither
 * reads the key files again, so a daemon running across a rekey keeps
 * opening its entries.  Import and rekey hold an advisory lock on
 * dir/.lock, so no entry is sealed under a key that is on its way out.
 *
 * keystore_master_derive() gives others a secret derived from the
 * current key (the embedded CA encrypts its own keys with one).
 *
 * Threads: ks->master_lock guards the key copies in the handle; key
 * material copied out of it is cleansed by whoever took it.
 */
#include "keystore/keystore_int.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

char *
keystore_master_next_path(const char *master_file)
{
	size_t n = strlen(master_file) + 5;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s.new", master_file);
	return p;
}

keystore_status_t
keystore_keys_load(keystore_t *ks, keystore_err_t *err)
{
	unsigned char cur[KEYSTORE_MASTER_LEN], next[KEYSTORE_MASTER_LEN];
	char *np = keystore_master_next_path(ks->master_file);
	keystore_status_t rc, nrc = KEYSTORE_NOTFOUND;

	if (np == NULL)
		return keystore_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = keystore_master_load(ks->master_file, 0, cur, err);
	if (rc == KEYSTORE_OK) {
		keystore_err_t nerr;

		nrc = keystore_master_load(np, 0, next, &nerr);
		if (nrc != KEYSTORE_OK && access(np, F_OK) == 0) {
			/* Present but unreadable: say so rather than ignore it. */
			rc = keystore_err_set(err, nerr.code, "%s", nerr.msg);
		}
	}
	free(np);
	if (rc == KEYSTORE_OK) {
		pthread_mutex_lock(&ks->master_lock);
		memcpy(ks->master, cur, sizeof(cur));
		if ((ks->has_next = nrc == KEYSTORE_OK))
			memcpy(ks->next, next, sizeof(next));
		else
			OPENSSL_cleanse(ks->next, sizeof(ks->next));
		pthread_mutex_unlock(&ks->master_lock);
	}
	OPENSSL_cleanse(cur, sizeof(cur));
	OPENSSL_cleanse(next, sizeof(next));
	return rc;
}

void
keystore_master_current(keystore_t *ks, unsigned char key[KEYSTORE_MASTER_LEN])
{
	pthread_mutex_lock(&ks->master_lock);
	memcpy(key, ks->master, KEYSTORE_MASTER_LEN);
	pthread_mutex_unlock(&ks->master_lock);
}

void
keystore_master_derive(keystore_t *ks, const char *label, char hex[65])
{
	unsigned char master[KEYSTORE_MASTER_LEN], mac[32];
	unsigned int n = 0;

	keystore_master_current(ks, master);
	HMAC(EVP_sha256(), master, sizeof(master), (const unsigned char *)label,
	    strlen(label), mac, &n);
	util_hex(hex, mac, 32);
	OPENSSL_cleanse(master, sizeof(master));
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* Tries the keys the handle holds now; KEYSTORE_ERR_CORRUPT when neither
 * opens the entry. */
static keystore_status_t
key_try(keystore_t *ks, const keystore_entry_t *e, EVP_PKEY **key,
    keystore_err_t *err)
{
	unsigned char keys[2][KEYSTORE_MASTER_LEN];
	keystore_status_t rc;
	int n;

	pthread_mutex_lock(&ks->master_lock);
	memcpy(keys[0], ks->master, KEYSTORE_MASTER_LEN);
	memcpy(keys[1], ks->next, KEYSTORE_MASTER_LEN);
	n = ks->has_next ? 2 : 1;
	pthread_mutex_unlock(&ks->master_lock);
	rc = keystore_entry_key(e, keys[0], ks->dir, key, err);
	if (rc == KEYSTORE_ERR_CORRUPT && n == 2)
		rc = keystore_entry_key(e, keys[1], ks->dir, key, err);
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

keystore_status_t
keystore_key_of(keystore_t *ks, const keystore_entry_t *e, EVP_PKEY **key,
    keystore_err_t *err)
{
	keystore_status_t rc = key_try(ks, e, key, err);

	/* Rekeyed since we read the key files: read them again, once. */
	if (rc == KEYSTORE_ERR_CORRUPT && keystore_keys_load(ks, NULL) == KEYSTORE_OK)
		rc = key_try(ks, e, key, err);
	return rc;
}

keystore_status_t
keystore_dir_lock(const char *dir, int *fd, keystore_err_t *err)
{
	char *path = keystore_path_join(dir, ".lock");
	int f;

	*fd = -1;
	if (path == NULL)
		return keystore_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0 || flock(f, LOCK_EX) != 0) {
		keystore_err_set(err, KEYSTORE_ERR_IO, "%s: %s", path, strerror(errno));
		if (f >= 0)
			close(f);
		free(path);
		return KEYSTORE_ERR_IO;
	}
	free(path);
	*fd = f;
	return KEYSTORE_OK;
}

void
keystore_dir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);              /* releases the flock */
}

/* ---- rotation ---- */

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
	if ((rc = key_try(ks, e, &key, err)) != KEYSTORE_OK)
		return rc;
	rc = keystore_entry_new(e->cert, e->chain, key, next, &ne, err);
	EVP_PKEY_free(key);
	if (rc == KEYSTORE_OK && strcmp(ne->file, e->file) != 0)
		rc = keystore_err_set(err, KEYSTORE_ERR_CORRUPT,
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
		return keystore_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (rename(np, ks->master_file) != 0) {
		keystore_err_set(err, KEYSTORE_ERR_IO, "rename %s to %s: %s", np,
		    ks->master_file, strerror(errno));
		free(dir);
		return KEYSTORE_ERR_IO;
	}
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		keystore_err_set(err, KEYSTORE_ERR_IO, "%s: fsync: %s", dir,
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
	size_t i, done = 0;
	int lock = -1;

	if (np == NULL)
		return keystore_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if ((rc = keystore_dir_lock(ks->dir, &lock, err)) != KEYSTORE_OK)
		goto out;
	if ((rc = rekey_next(ks, np, next, err)) != KEYSTORE_OK
	    || (rc = keystore_keys_load(ks, err)) != KEYSTORE_OK
	    || (rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
		goto out;
	for (i = 0; rc == KEYSTORE_OK && i < idx->n_entries; i++)
		rc = rekey_entry(ks, idx->entries[i], next, &done, err);
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
