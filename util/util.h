/*
 * util.h: the few helpers every library of smimegate needs and none owns:
 * writing a whole buffer to a file descriptor, hex digits of a digest or
 * random bytes, reading a secret file safely.  No logging; the one state
 * is util_alg.h's algorithms, fetched once per process.
 * The error type is util_err.h, the bounded buffer util_buf.h, addresses
 * util_addr.h, the algorithms fetched once util_alg.h; this header
 * includes them.
 *
 * Threads: every function works on its arguments and the calling thread's
 * OpenSSL error queue only.
 */
#ifndef SMIMEGATE_UTIL_H
#define SMIMEGATE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/util_addr.h"
#include "util/util_alg.h"
#include "util/util_buf.h"
#include "util/util_err.h"

/*
 * Writes all len bytes of buf to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno set (a write that returns 0 counts as EIO).
 */
int util_write_all(int fd, const void *buf, size_t len);

/* Writes the n bytes at in as 2n lower-case hex digits and a NUL to out
 * (2n + 1 bytes). */
void util_hex(char *out, const void *in, size_t n);

/*
 * Secret files: EVERY file that holds a key or a password (master key,
 * re-injection key, audit key, LDAP bind and Redis passwords, MAC keys)
 * is read with util_secret_read() or util_secret_read_line(), never with
 * fopen().  The file is opened with O_NOFOLLOW (a symbolic link as the
 * last component is refused, not followed) and must be:
 *   - a regular file (not a FIFO, device or directory);
 *   - owned by the effective user, or root, or, when we run as root, by
 *     the owner of the directory holding it (the service user's state
 *     directory that smimectl reads as root: that owner could replace
 *     the file anyway);
 *   - without any access for group or others (0600 or 0400);
 *   - at most max bytes long.
 *
 * util_secret_read(path, max, &data, &len, err, errlen): returns 0 with
 * *data holding the *len bytes of the file followed by a NUL (so a text
 * secret is also a C string), or -1 with *data NULL, errno set and err
 * (errlen bytes, may be NULL) saying what is wrong and naming the path:
 *   ENOENT  the file does not exist (callers that create secrets on first
 *           use test for this one);
 *   ELOOP   the path is a symbolic link;
 *   EPERM   not a regular file, wrong owner, or group/other access;
 *   EFBIG   larger than max;
 *   other   open/read errors (EACCES, EIO...), ENOMEM.
 * Free *data with util_secret_free(data, len): it cleanses, then frees.
 *
 * util_secret_read_line(path, max, &line, err, errlen): the same checks,
 * then the first line (without "\r\n" or "\n") as a NUL-terminated
 * string; an empty first line or a NUL in it is EINVAL.  Everything after
 * the line is already cleansed; free with util_secret_free(line,
 * strlen(line)).
 *
 * Example (a password file):
 *   char *pw, err[512];
 *   if (util_secret_read_line(file, 1024, &pw, err, sizeof(err)) != 0)
 *           return my_err_set(e, MY_ERR_IO, "%s", err);
 *   ...use pw...
 *   util_secret_free(pw, strlen(pw));
 */
int util_secret_read(const char *path, size_t max, unsigned char **data,
    size_t *len, char *err, size_t errlen);
int util_secret_read_line(const char *path, size_t max, char **line, char *err,
    size_t errlen);
/* Cleanses len + 1 bytes (the data and its NUL) and frees; NULL is fine. */
void util_secret_free(void *data, size_t len);

/*
 * Gives path to uid:gid without following a symbolic link: opened with
 * O_NOFOLLOW, then fchown(2).  Refuses a symbolic link (ELOOP), anything
 * but a directory or a regular file (EPERM) and a regular file with more
 * than one hard link (EMLINK).  Returns 0, or -1 with errno set and err
 * (may be NULL) saying "cannot chown PATH: why".  Use it for every chown
 * of a path inside a directory another user may write.
 */
int util_chown_nofollow(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen);

#endif
