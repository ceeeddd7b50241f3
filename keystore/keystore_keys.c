/*
 * keystore_keys.c: the master keys in use.  The handle holds the current
 * master key and, while a rekey is unfinished (keystore_rekey.c), the next
 * one; every reader tries both (keystore_key_of()), and a reader whose
 * keys open neither reads the key files again, so a daemon running across
 * a rekey keeps opening its entries.  Import and rekey hold an advisory
 * lock on dir/.lock (keystore_dir_lock()), so no entry is sealed under a
 * key that is on its way out.
 *
 * keystore_master_derive() gives others a secret derived from the
 * current key (the embedded CA encrypts its own keys with one).
 *
 * keystore_key_kept() is keystore_key_of() through the cache of decrypted
 * keys (keystore_keycache.c), which every new master key read empties.
 *
 * Threads: ks->master_lock guards the key copies in the handle; key
 * material copied out of it is cleansed by whoever took it.
 */
#include "keystore/keystore_keys.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_keycache.h"
#include "keystore/keystore_master.h"
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
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = keystore_master_load(ks->master_file, 0, cur, err);
	if (rc == KEYSTORE_OK) {
		keystore_err_t nerr;

		nrc = keystore_master_load(np, 0, next, &nerr);
		if (nrc != KEYSTORE_OK && access(np, F_OK) == 0) {
			/* Present but unreadable: say so rather than ignore it. */
			rc = util_err_set(err, nerr.code, "%s", nerr.msg);
		}
	}
	free(np);
	if (rc == KEYSTORE_OK) {
		int changed;

		pthread_mutex_lock(&ks->master_lock);
		changed = CRYPTO_memcmp(ks->master, cur, sizeof(cur)) != 0
		    || ks->has_next != (nrc == KEYSTORE_OK)
		    || (ks->has_next && CRYPTO_memcmp(ks->next, next, sizeof(next)) != 0);
		memcpy(ks->master, cur, sizeof(cur));
		if ((ks->has_next = nrc == KEYSTORE_OK))
			memcpy(ks->next, next, sizeof(next));
		else
			OPENSSL_cleanse(ks->next, sizeof(ks->next));
		pthread_mutex_unlock(&ks->master_lock);
		/* A rekey (ours or another process's): keys decrypted under
		 * the old keys are not kept on. */
		if (changed)
			keystore_keycache_drop_all(ks->keycache);
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

keystore_status_t
keystore_keys_try(keystore_t *ks, const keystore_entry_t *e, EVP_PKEY **key,
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
	keystore_status_t rc = keystore_keys_try(ks, e, key, err);

	/* Rekeyed since we read the key files: read them again, once. */
	if (rc == KEYSTORE_ERR_CORRUPT && keystore_keys_load(ks, NULL) == KEYSTORE_OK)
		rc = keystore_keys_try(ks, e, key, err);
	return rc;
}

keystore_status_t
keystore_key_kept(keystore_t *ks, const char *addr, const keystore_entry_t *e,
    EVP_PKEY **key, keystore_err_t *err)
{
	unsigned long long gen;
	keystore_status_t rc;

	if (keystore_keycache_get(ks->keycache, addr, e, key, &gen))
		return KEYSTORE_OK;
	if ((rc = keystore_key_of(ks, e, key, err)) == KEYSTORE_OK)
		keystore_keycache_put(ks->keycache, addr, e, *key, gen);
	return rc;
}

keystore_status_t
keystore_dir_lock(const char *dir, int *fd, keystore_err_t *err)
{
	char *path = keystore_path_join(dir, ".lock");
	int f;

	*fd = -1;
	if (path == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0 || flock(f, LOCK_EX) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", path, strerror(errno));
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
