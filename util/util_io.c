/*
 * util_io.c: util_write_all, the one loop that writes a whole buffer (the
 * spools, the keystore, the audit log and smimectl all need it).
 */
#include "util/util.h"

#include <errno.h>
#include <unistd.h>

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
