/*
 * mail_spool.c: a message body with a hard size limit (see mail_spool.h).
 * The memory-then-file storage is smime/'s store (smime_store_t), the one
 * the S/MIME jobs use inside; this adds the limit and the error text.
 */
#include "mail/mail_spool.h"
#include "smime/smime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mail_spool {
	smime_store_t *store;
	long long max;
	long long size;
	char err[256];
};

mail_spool_t *
mail_spool_new(const char *dir, size_t mem_max, long long max)
{
	mail_spool_t *sp = calloc(1, sizeof(*sp));

	if (sp == NULL)
		return NULL;
	if ((sp->store = smime_store_new(dir, mem_max)) == NULL) {
		free(sp);
		return NULL;
	}
	sp->max = max;
	return sp;
}

void
mail_spool_free(mail_spool_t *sp)
{
	if (sp == NULL)
		return;
	smime_store_free(sp->store);
	free(sp);
}

static int
store_failed(mail_spool_t *sp, const char *op)
{
	const char *what;
	int e = smime_store_error(sp->store, &what);

	snprintf(sp->err, sizeof(sp->err), "%s spool: %s: %s", op, what,
	    strerror(e != 0 ? e : EIO));
	return MAIL_SPOOL_EIO;
}

int
mail_spool_write(mail_spool_t *sp, const void *buf, size_t len)
{
	if ((long long)len > sp->max - sp->size) {
		snprintf(sp->err, sizeof(sp->err), "larger than %lld octets", sp->max);
		return MAIL_SPOOL_TOOBIG;
	}
	if (smime_store_write(sp->store, buf, len) != 0)
		return store_failed(sp, "write");
	sp->size += (long long)len;
	return MAIL_SPOOL_OK;
}

int
mail_spool_writer(void *sp, const void *buf, size_t len)
{
	return mail_spool_write(sp, buf, len) == MAIL_SPOOL_OK ? 0 : -1;
}

long long
mail_spool_size(const mail_spool_t *sp)
{
	return sp->size;
}

const unsigned char *
mail_spool_mem(const mail_spool_t *sp, size_t *len)
{
	return smime_store_mem(sp->store, len);
}

int
mail_spool_fd(const mail_spool_t *sp)
{
	return smime_store_fd(sp->store);
}

ssize_t
mail_spool_read(mail_spool_t *sp, long long off, void *buf, size_t len)
{
	ssize_t r = smime_store_pread(sp->store, off, buf, len);

	if (r < 0)
		store_failed(sp, "read");
	return r;
}

const char *
mail_spool_error(const mail_spool_t *sp)
{
	return sp->err;
}
