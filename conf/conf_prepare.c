/*
 * conf_prepare.c: the files a configuration needs before the gateway
 * starts, made by the start alone (smimegate serving or in offline mode;
 * never -n, a reload or smimectl): StateDirectory, and in it the
 * re-injection key (32 random octets, 0600), which is then read into the
 * configuration, before it is shared.
 */
#include "conf/conf_int.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>

/* A new key at path, when there is none; when it cannot be made (no
 * StateDirectory of ours), mail is not split, as before. */
static void
reinject_key_make(const char *path, size_t len)
{
	unsigned char nk[64];
	int fd, ok;

	if (len > sizeof(nk) || (fd = open(path,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return;
	ok = RAND_bytes(nk, (int)len) == 1 && util_write_all(fd, nk, len) == 0
	    && fsync(fd) == 0;
	OPENSSL_cleanse(nk, sizeof(nk));
	if (close(fd) != 0 || !ok)
		unlink(path);
}

int
conf_prepare(conf_t *c, char *err, size_t errlen)
{
	(void)mkdir(c->state_dir, 0700);     /* the first start: the key goes there */
	reinject_key_make(c->reinject_key_file, sizeof(c->reinject_key));
	return conf_reinject_key_read(c, err, errlen);
}
