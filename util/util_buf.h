/*
 * util_buf.h: the bounded buffer: growable, length-carrying, with a hard
 * maximum, for everything whose size comes from outside (mail headers,
 * envelopes, log lines).  Once an append failed the buffer stays failed,
 * so a caller may append several times and check once (b->failed, or
 * each append's result).  data is NUL-terminated whenever it is not
 * NULL, so text in it is also a C string.
 *
 * Example:
 *   util_buf_t b;
 *   util_buf_init(&b, 65536);
 *   util_buf_printf(&b, "Sender: %s\n", sender);
 *   util_buf_adds(&b, "\n");
 *   if (b.failed) ...errno says ENOMEM or EMSGSIZE...
 *   ...use b.data, b.len...
 *   util_buf_free(&b);
 *
 * Ownership: the buffer owns data; util_buf_free() releases it, or
 * util_buf_take() hands it to the caller.
 * Threads: one buffer, one thread.
 */
#ifndef SMIMEGATE_UTIL_BUF_H
#define SMIMEGATE_UTIL_BUF_H

#include <stddef.h>

typedef struct util_buf {
	char *data;             /* NUL-terminated when not NULL */
	size_t len;
	size_t cap;
	size_t max;             /* len never exceeds this */
	int failed;             /* 0, or why an append failed (ENOMEM,
	                           EMSGSIZE): data is short */
} util_buf_t;

/* An empty buffer that will hold at most max octets. */
void util_buf_init(util_buf_t *b, size_t max);
/* Releases data; the buffer is empty (and its maximum 0) afterwards. */
void util_buf_free(util_buf_t *b);
/*
 * Appends n octets (util_buf_addc one, util_buf_adds a string,
 * util_buf_printf formatted text).  0, or -1 with b->failed set and errno
 * ENOMEM (no memory) or EMSGSIZE (it would pass max); nothing is appended
 * then, nor after (every later append fails the same way).
 */
int util_buf_add(util_buf_t *b, const void *p, size_t n);
int util_buf_addc(util_buf_t *b, char c);
int util_buf_adds(util_buf_t *b, const char *s);
int util_buf_printf(util_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The data (malloc'ed, NUL-terminated; an empty string when nothing was
 * added) for the caller to free, and its length in *len (may be NULL);
 * NULL when the buffer failed or without memory.  The buffer is empty
 * afterwards either way. */
char *util_buf_take(util_buf_t *b, size_t *len);

#endif
