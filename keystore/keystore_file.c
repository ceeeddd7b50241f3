/*
 * keystore_file.c: the keystore's file system work: reading a key file
 * only when it is a private regular file (util_secret_read), and writing
 * one atomically
 * (temporary file, fsync, rename or link, fsync of the directory) so that
 * a reader never sees half an entry, even after a crash.
 *
 * Threads: no shared state; errno and the calling thread's OpenSSL error
 * queue only.
 */
#include "keystore/keystore_file.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

char *
keystore_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

keystore_status_t
keystore_file_read(const char *path, long max, unsigned char **data,
    size_t *len, keystore_err_t *err)
{
	char msg[sizeof(err->msg)];
	keystore_status_t code;

	if (util_secret_read(path, max < 0 ? 0 : (size_t)max, data, len, msg,
	    sizeof(msg)) == 0)
		return KEYSTORE_OK;
	switch (errno) {
	case ENOENT: code = KEYSTORE_NOTFOUND; break;
	case ELOOP: case EPERM: code = KEYSTORE_ERR_PERM; break;
	case EFBIG: code = KEYSTORE_ERR_CORRUPT; break;
	case ENOMEM: code = KEYSTORE_ERR_NOMEM; break;
	default: code = KEYSTORE_ERR_IO; break;
	}
	return util_err_set(err, code, "%s", msg);
}

keystore_status_t
keystore_dir_check(const char *dir, struct stat *st, keystore_err_t *err)
{
	if (stat(dir, st) != 0)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st->st_mode))
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: not a directory",
		    dir);
	if ((st->st_mode & 022) != 0)
		return util_err_set(err, KEYSTORE_ERR_PERM,
		    "%s: directory mode 0%03o, writable by group or others",
		    dir, (unsigned)(st->st_mode & 07777));
	return KEYSTORE_OK;
}

/* Fills a new temporary file in dir with data, mode 0600, synced. */
static keystore_status_t
write_temp(const char *dir, char *tmp, const void *data, size_t len,
    keystore_err_t *err)
{
	struct stat st;
	int fd = mkostemp(tmp, O_CLOEXEC);

	if (fd < 0)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", tmp,
		    strerror(errno));
	/* Root writes for whoever owns the keystore (the daemon's user). */
	if (fchmod(fd, 0600) != 0
	    || (geteuid() == 0 && stat(dir, &st) == 0
	    && fchown(fd, st.st_uid, st.st_gid) != 0)
	    || util_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return KEYSTORE_ERR_IO;
	}
	if (close(fd) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return KEYSTORE_ERR_IO;
	}
	return KEYSTORE_OK;
}

static keystore_status_t
sync_dir(const char *dir, keystore_err_t *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: fsync: %s", dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return KEYSTORE_ERR_IO;
	}
	close(fd);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_file_write(const char *dir, const char *name, const void *data,
    size_t len, int exclusive, int *exists, keystore_err_t *err)
{
	size_t n = strlen(dir) + strlen(name) + 16;
	char *final = keystore_path_join(dir, name), *tmp = malloc(n);
	keystore_status_t rc;
	int moved;

	if (exists != NULL)
		*exists = 0;
	if (final == NULL || tmp == NULL) {
		free(final);
		free(tmp);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory",
		    name);
	}
	snprintf(tmp, n, "%s/.%s.XXXXXX", dir, name);
	if ((rc = write_temp(dir, tmp, data, len, err)) != KEYSTORE_OK)
		goto out;
	/* link() never replaces: whoever created the file first wins. */
	moved = exclusive ? link(tmp, final) : rename(tmp, final);
	if (moved != 0 && exclusive && errno == EEXIST && exists != NULL)
		*exists = 1;
	else if (moved != 0)
		rc = util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", final,
		    strerror(errno));
	if (exclusive || moved != 0)
		unlink(tmp);
	if (rc == KEYSTORE_OK && moved == 0)
		rc = sync_dir(dir, err);
out:
	free(final);
	free(tmp);
	return rc;
}
