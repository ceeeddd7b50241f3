/*
 * util_fs.c: util_chown_nofollow, the one way the daemon and smimectl
 * give a path to another user (root making the service user's state):
 * the path is opened without following a symbolic link and changed
 * through the descriptor, so a link planted by whoever owns the directory
 * (reinject.key -> /etc/shadow) changes nothing.
 *
 * Threads: no shared state; errno only.
 */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

int
util_chown_nofollow(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	struct stat st;
	const char *why = NULL;
	int fd, e = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		why = e == ELOOP ? "is a symbolic link (not followed)" : strerror(e);
	} else if (fstat(fd, &st) != 0) {
		e = errno;
		why = strerror(e);
	} else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		e = EPERM;
		why = "neither a directory nor a regular file";
	} else if (S_ISREG(st.st_mode) && st.st_nlink != 1) {
		/* A hard link to someone else's file (e.g. root's). */
		e = EMLINK;
		why = "a regular file with more than one link";
	} else if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) != 0) {
		e = errno;
		why = strerror(e);
	}
	if (fd >= 0)
		close(fd);
	if (why == NULL)
		return 0;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "cannot chown %s: %s", path, why);
	errno = e;
	return -1;
}
