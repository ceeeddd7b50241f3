/*
 * mail_spool.c: memory-then-file body storage (see mail_spool.h).
 */
#include "mail/mail_spool.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mail_spool {
	char *dir;
	size_t mem_max;
	long long max;
	unsigned char *mem;
	size_t memlen, memcap;
	int fd;
	long long size;
	char err[256];
};

mail_spool_t *
mail_spool_new(const char *dir, size_t mem_max, long long max)
{
	mail_spool_t *sp = calloc(1, sizeof(*sp));

	if (sp == NULL)
		return NULL;
	if ((sp->dir = strdup(dir)) == NULL) {
		free(sp);
		return NULL;
	}
	sp->mem_max = mem_max;
	sp->max = max;
	sp->fd = -1;
	return sp;
}

void
mail_spool_free(mail_spool_t *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->mem);
	free(sp->dir);
	free(sp);
}

/* Moves the data to a new unlinked file in the spool directory. */
static int
spool_to_file(mail_spool_t *sp)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/body.XXXXXX", sp->dir) >= sizeof(path)) {
		snprintf(sp->err, sizeof(sp->err), "spool path too long");
		return MAIL_SPOOL_EIO;
	}
	if ((sp->fd = mkstemp(path)) < 0) {
		snprintf(sp->err, sizeof(sp->err), "create %.180s: %s", path, strerror(errno));
		return MAIL_SPOOL_EIO;
	}
	unlink(path);
	if (util_write_all(sp->fd, sp->mem, sp->memlen) != 0) {
		snprintf(sp->err, sizeof(sp->err), "write %.180s: %s", path, strerror(errno));
		return MAIL_SPOOL_EIO;
	}
	free(sp->mem);
	sp->mem = NULL;
	sp->memlen = sp->memcap = 0;
	return MAIL_SPOOL_OK;
}

static int
mem_append(mail_spool_t *sp, const void *buf, size_t len)
{
	if (sp->memlen + len > sp->memcap) {
		size_t cap = sp->memcap ? sp->memcap : 8192;
		unsigned char *p;

		while (cap < sp->memlen + len)
			cap *= 2;
		if ((p = realloc(sp->mem, cap)) == NULL) {
			snprintf(sp->err, sizeof(sp->err), "out of memory");
			return MAIL_SPOOL_EIO;
		}
		sp->mem = p;
		sp->memcap = cap;
	}
	memcpy(sp->mem + sp->memlen, buf, len);
	sp->memlen += len;
	return MAIL_SPOOL_OK;
}

int
mail_spool_write(mail_spool_t *sp, const void *buf, size_t len)
{
	int rc;

	if ((long long)len > sp->max - sp->size) {
		snprintf(sp->err, sizeof(sp->err), "larger than %lld octets", sp->max);
		return MAIL_SPOOL_TOOBIG;
	}
	if (sp->fd < 0 && sp->memlen + len > sp->mem_max &&
	    (rc = spool_to_file(sp)) != MAIL_SPOOL_OK)
		return rc;
	if (sp->fd >= 0) {
		if (util_write_all(sp->fd, buf, len) != 0) {
			snprintf(sp->err, sizeof(sp->err), "write spool: %s", strerror(errno));
			return MAIL_SPOOL_EIO;
		}
	} else if ((rc = mem_append(sp, buf, len)) != MAIL_SPOOL_OK) {
		return rc;
	}
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
	*len = sp->memlen;
	if (sp->fd >= 0)
		return NULL;
	return sp->mem != NULL ? sp->mem : (const unsigned char *)"";
}

int
mail_spool_fd(const mail_spool_t *sp)
{
	return sp->fd;
}

ssize_t
mail_spool_read(mail_spool_t *sp, long long off, void *buf, size_t len)
{
	ssize_t r;

	if (off >= sp->size)
		return 0;
	if ((long long)len > sp->size - off)
		len = (size_t)(sp->size - off);
	if (sp->fd < 0) {
		memcpy(buf, sp->mem + off, len);
		return (ssize_t)len;
	}
	do
		r = pread(sp->fd, buf, len, (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		snprintf(sp->err, sizeof(sp->err), "read spool: %s", strerror(errno));
	return r;
}

const char *
mail_spool_error(const mail_spool_t *sp)
{
	return sp->err;
}
