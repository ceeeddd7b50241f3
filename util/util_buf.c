/*
 * util_buf.c: the bounded buffer (util_buf.h).
 *
 * Ownership: the buffer owns data until util_buf_free() or util_buf_take().
 * Threads: one buffer, one thread.
 */
#include "util/util_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
util_buf_init(util_buf_t *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
util_buf_free(util_buf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int
buf_grow(util_buf_t *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 64;
	char *p;

	while (cap < need + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Marks b failed for the reason why (an errno value); returns -1. */
static int
buf_fail(util_buf_t *b, int why)
{
	b->failed = why;
	errno = why;
	return -1;
}

int
util_buf_add(util_buf_t *b, const void *p, size_t n)
{
	if (b->failed)
		return buf_fail(b, b->failed);
	if (n > b->max - b->len)
		return buf_fail(b, EMSGSIZE);
	if (b->len + n + 1 > b->cap && buf_grow(b, b->len + n) < 0)
		return buf_fail(b, ENOMEM);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
util_buf_addc(util_buf_t *b, char c)
{
	return util_buf_add(b, &c, 1);
}

int
util_buf_adds(util_buf_t *b, const char *s)
{
	return util_buf_add(b, s, strlen(s));
}

int
util_buf_printf(util_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	char small[256], *big = NULL;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b, EINVAL);
	if ((size_t)n < sizeof(small))
		return util_buf_add(b, small, (size_t)n);
	if ((size_t)n > b->max - b->len)
		return buf_fail(b, EMSGSIZE);
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b, ENOMEM);
	n = util_buf_add(b, big, (size_t)n);
	free(big);
	return n;
}

char *
util_buf_take(util_buf_t *b, size_t *len)
{
	char *d = NULL;
	size_t n = 0;

	if (!b->failed && b->data != NULL) {
		d = b->data;
		n = b->len;
		b->data = NULL;
	} else if (!b->failed) {
		d = strdup("");
	}
	util_buf_free(b);
	if (len != NULL)
		*len = n;
	return d;
}
