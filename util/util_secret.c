/*
 * util_secret.c: util_secret_read, the one reader for files that hold a
 * secret (the master key, the re-injection key, the audit key, LDAP bind
 * and Redis passwords, MAC keys): no symbolic link followed, a regular
 * file, owned by us or root, no access for group or others, bounded in
 * size, read into memory that util_secret_free() cleanses.
 *
 * Threads: no shared state; errno only.
 */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

/* Formats the message, sets errno to e and returns -1. */
static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

/* Opens the directory that holds path ("." without a slash); *base points
 * to the last component. */
static int
open_parent(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	size_t n;

	if (slash == NULL) {
		*base = path;
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	*base = slash + 1;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Whether uid may own a secret we read: us, root, or (when we are root)
 * whoever owns its directory, who could replace the file anyway (the
 * service user's state directory, read by smimectl as root). */
static int
owner_ok(uid_t uid, const struct stat *dir)
{
	uid_t me = geteuid();

	return uid == me || uid == 0 || (me == 0 && uid == dir->st_uid);
}

/* Opens path without following a final symbolic link and checks it. */
static int
open_checked(const char *path, struct stat *st, char *err, size_t errlen)
{
	struct stat dst;
	const char *base;
	int dfd, fd, e;

	if ((dfd = open_parent(path, &base)) < 0)
		return fail(err, errlen, errno, "%s: directory: %s", path, strerror(errno));
	if (*base == '\0' || fstat(dfd, &dst) != 0) {
		e = *base == '\0' ? EISDIR : errno;
		close(dfd);
		return fail(err, errlen, e, "%s: %s", path, strerror(e));
	}
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	e = errno;
	close(dfd);
	if (fd < 0 && e == ELOOP)
		return fail(err, errlen, e, "%s: is a symbolic link; a secret must be "
		    "a regular file (not followed)", path);
	if (fd < 0)
		return fail(err, errlen, e, "%s: %s", path, strerror(e));
	if (fstat(fd, st) != 0) {
		e = errno;
		close(fd);
		return fail(err, errlen, e, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return fail(err, errlen, EPERM, "%s: not a regular file", path);
	}
	if (!owner_ok(st->st_uid, &dst)) {
		close(fd);
		return fail(err, errlen, EPERM, "%s: owned by uid %lu, want the "
		    "user we run as (uid %lu) or root", path,
		    (unsigned long)st->st_uid, (unsigned long)geteuid());
	}
	if ((st->st_mode & 077) != 0) {
		close(fd);
		return fail(err, errlen, EPERM, "%s: mode 0%03o, want 0600 or 0400 "
		    "(no access for group or others: chmod go= %s)", path,
		    (unsigned)(st->st_mode & 07777), path);
	}
	return fd;
}

/* Reads at most max bytes into buf (max + 1 bytes); EFBIG if more (the
 * file grew after fstat). */
static ssize_t
read_bounded(int fd, unsigned char *buf, size_t max)
{
	size_t n = 0;
	ssize_t r;

	for (;;) {
		r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (ssize_t)n;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			return -1;
		}
	}
}

int
util_secret_read(const char *path, size_t max, unsigned char **data,
    size_t *len, char *err, size_t errlen)
{
	struct stat st;
	unsigned char *buf;
	size_t size;
	ssize_t n;
	int fd, e;

	*data = NULL;
	*len = 0;
	if ((fd = open_checked(path, &st, err, errlen)) < 0)
		return -1;
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		close(fd);
		return fail(err, errlen, EFBIG, "%s: %lld bytes, more than %zu",
		    path, (long long)st.st_size, max);
	}
	size = (size_t)st.st_size;
	if ((buf = OPENSSL_zalloc(size + 1)) == NULL) {
		close(fd);
		return fail(err, errlen, ENOMEM, "%s: out of memory", path);
	}
	n = read_bounded(fd, buf, size);
	e = errno;
	close(fd);
	if (n < 0) {
		OPENSSL_clear_free(buf, size + 1);
		return fail(err, errlen, e, "%s: %s", path, e == EFBIG
		    ? "grew while being read" : strerror(e));
	}
	buf[n] = '\0';
	*data = buf;
	*len = (size_t)n;
	return 0;
}

int
util_secret_read_line(const char *path, size_t max, char **line, char *err,
    size_t errlen)
{
	unsigned char *data;
	size_t len, n;
	int nul;

	*line = NULL;
	if (util_secret_read(path, max, &data, &len, err, errlen) != 0)
		return -1;
	for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
		;
	nul = memchr(data, '\0', n) != NULL;
	OPENSSL_cleanse(data + n, len - n);     /* the rest: zeros, cut there */
	if (n == 0 || nul) {
		util_secret_free(data, len);
		return fail(err, errlen, EINVAL, "%s: %s", path, n == 0
		    ? "empty first line" : "NUL character in the first line");
	}
	*line = (char *)data;
	return 0;
}

void
util_secret_free(void *data, size_t len)
{
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
}
