/*
 * audit_buf.c: a growable, length-carrying buffer with a hard maximum, for
 * everything in audit/ whose size comes from outside (mail headers, log
 * lines).  Once it failed it stays failed, so a caller may check once.
 *
 * Ownership: the buffer owns data; audit_buf_free() releases it.
 * Threads: one buffer, one thread.
 */
#include "audit/audit_int.h"

#include <stdlib.h>
#include <string.h>

void
audit_buf_init(audit_buf_t *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
audit_buf_free(audit_buf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int
buf_grow(audit_buf_t *b, size_t need)
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

int
audit_buf_add(audit_buf_t *b, const void *p, size_t n)
{
	if (b->failed)
		return -1;
	if (n > b->max - b->len || (b->len + n + 1 > b->cap &&
	    buf_grow(b, b->len + n) < 0)) {
		b->failed = 1;
		return -1;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
audit_buf_addc(audit_buf_t *b, char c)
{
	return audit_buf_add(b, &c, 1);
}
