/*
 * keystore_master.c: the master key, 32 random bytes alone in a file of
 * mode 0600.  Created (when asked) with link() from a synced temporary
 * file, so two processes creating it at once agree on one key.
 *
 * Ownership: the key is copied into the caller's buffer; every other copy
 * is cleansed before it is freed.
 */
#include "keystore/keystore_master.h"
#include "keystore/keystore_file.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

static keystore_status_t
master_read(const char *path, unsigned char key[KEYSTORE_MASTER_LEN],
    keystore_err_t *err)
{
	unsigned char *data;
	size_t len;
	keystore_status_t rc;

	rc = keystore_file_read(path, KEYSTORE_MASTER_LEN + 1L, &data, &len, err);
	if (rc != KEYSTORE_OK)
		return rc;
	if (len != KEYSTORE_MASTER_LEN) {
		OPENSSL_clear_free(data, len);
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: %zu bytes, want %d", path, len, KEYSTORE_MASTER_LEN);
	}
	memcpy(key, data, KEYSTORE_MASTER_LEN);
	OPENSSL_clear_free(data, len);
	return KEYSTORE_OK;
}

static keystore_status_t
master_create(const char *path, keystore_err_t *err)
{
	unsigned char key[KEYSTORE_MASTER_LEN];
	char *dir = strdup(path), *slash;
	const char *d = ".", *name = path;
	keystore_status_t rc;
	int exists;

	if (dir == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory",
		    path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		d = slash == dir ? "/" : dir;
		name = slash + 1;
	}
	if (RAND_priv_bytes(key, sizeof(key)) != 1) {
		free(dir);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "%s: no random bytes", path);
	}
	rc = keystore_file_write(d, name, key, sizeof(key), 1, &exists, err);
	OPENSSL_cleanse(key, sizeof(key));
	free(dir);
	return rc;
}

keystore_status_t
keystore_master_load(const char *path, int create,
    unsigned char key[KEYSTORE_MASTER_LEN], keystore_err_t *err)
{
	keystore_status_t rc = master_read(path, key, err);

	if (rc == KEYSTORE_NOTFOUND && create) {
		/* Another process may have won the race: read what is there. */
		if ((rc = master_create(path, err)) == KEYSTORE_OK)
			rc = master_read(path, key, err);
	}
	if (rc == KEYSTORE_NOTFOUND)
		rc = util_err_set(err, KEYSTORE_ERR_IO,
		    "%s: no master key file", path);
	return rc;
}
