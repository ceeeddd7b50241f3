/*
 * util.h: the few helpers every library of smimegate needs and none owns:
 * writing a whole buffer to a file descriptor, hex digits of a digest or
 * random bytes, and formatting an error message with OpenSSL's queued
 * errors appended.  No state, no logging.
 *
 * Threads: every function works on its arguments and the calling thread's
 * OpenSSL error queue only.
 */
#ifndef SMIMEGATE_UTIL_H
#define SMIMEGATE_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Writes all len bytes of buf to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno set (a write that returns 0 counts as EIO).
 */
int util_write_all(int fd, const void *buf, size_t len);

/* Writes the n bytes at in as 2n lower-case hex digits and a NUL to out
 * (2n + 1 bytes). */
void util_hex(char *out, const void *in, size_t n);

/*
 * Formats fmt/ap into msg (size bytes, always terminated).  With with_ssl,
 * appends ": " and each error queued by OpenSSL ("; " between) while room
 * is left.  The calling thread's OpenSSL error queue is empty afterwards
 * either way, so that a stale error never lands in a later message.
 */
void util_errfmt(char *msg, size_t size, int with_ssl, const char *fmt,
    va_list ap);

#endif
