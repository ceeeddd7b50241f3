/*
 * smime_spool.c: SmimeSpool, a GMimeStream that holds a job's intermediate
 * data (the normalised input, the canonical entity) in memory up to a
 * limit and in an unlinked temporary file beyond it, so that memory stays
 * bounded whatever the size of the message.
 *
 * It wraps a GMimeStreamMem and, once a write would pass mem_max, copies
 * that into a file stream (smime_spool_file.c) on a file created (and at
 * once unlinked) in the configured directory and carries on there.  Every other operation
 * is passed to the current inner stream.  The first failure is kept
 * (errno and what failed) for smime_spool_error().
 *
 * smime_store_*() (smime.h) is the same spool for code outside smime/:
 * the gateway keeps the bodies it receives and builds in one, and hands
 * them to the S/MIME jobs as smime_body_t (memory, or the file).
 *
 * Ownership: the caller unrefs the spool.  Substreams (a persistent
 * GMimeParser makes them) share the inner stream's buffer or descriptor
 * and hold a reference to the spool, which lives as long as they do; the
 * spool must not be written to once substreams exist.
 * Threads: one thread at a time, like any GMimeStream.
 */
#include "smime/smime_spool.h"
#include "smime/smime_int.h"
#include "smime/smime_spool_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

typedef struct _SmimeSpool {
	GMimeStream parent;
	GMimeStream *inner;     /* GMimeStreamMem, then smime_spool_file */
	char *dir;              /* NULL: $TMPDIR or /tmp */
	size_t mem_max;
	int on_disk;
	int err;                /* errno of the first failure */
	const char *err_what;
} SmimeSpool;

typedef struct _SmimeSpoolClass {
	GMimeStreamClass parent_class;
} SmimeSpoolClass;

GType smime_spool_get_type(void);

G_DEFINE_TYPE(SmimeSpool, smime_spool, GMIME_TYPE_STREAM)

#define SPOOL(s) ((SmimeSpool *)(s))

static void
spool_fail(SmimeSpool *sp, int e, const char *what)
{
	if (sp->err == 0) {
		sp->err = e != 0 ? e : EIO;
		sp->err_what = what;
	}
}

static void
spool_sync(SmimeSpool *sp)
{
	sp->parent.position = g_mime_stream_tell(sp->inner);
}

static const char *
spool_dir(const SmimeSpool *sp)
{
	const char *d = sp->dir;

	if (d == NULL || *d == '\0')
		d = getenv("TMPDIR");
	return d != NULL && *d != '\0' ? d : "/tmp";
}

/* A new temporary file in the spool's directory, already unlinked. */
static int
spool_tmpfile(SmimeSpool *sp)
{
	char *path = g_strdup_printf("%s/smimegate.XXXXXX", spool_dir(sp));
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0)
		spool_fail(sp, errno, "cannot create a temporary file");
	else if (unlink(path) != 0) {
		spool_fail(sp, errno, "cannot unlink a temporary file");
		close(fd);
		fd = -1;
	}
	g_free(path);
	return fd;
}

/* Moves the data from memory to a temporary file; 0 or -1. */
static int
spool_to_disk(SmimeSpool *sp)
{
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(sp->inner));
	gint64 pos = g_mime_stream_tell(sp->inner);
	GMimeStream *fs;
	int fd = spool_tmpfile(sp);

	if (fd < 0)
		return -1;
	if ((fs = smime_spool_file_new(fd)) == NULL) {     /* owns and closes fd */
		spool_fail(sp, ENOMEM, "cannot make a temporary file stream");
		close(fd);
		return -1;
	}
	if ((ba->len > 0 && g_mime_stream_write(fs, (const char *)ba->data,
	    ba->len) != (ssize_t)ba->len) || g_mime_stream_seek(fs, pos,
	    GMIME_STREAM_SEEK_SET) != pos) {
		spool_fail(sp, errno, "cannot write a temporary file");
		g_object_unref(fs);
		return -1;
	}
	g_object_unref(sp->inner);
	sp->inner = fs;
	sp->on_disk = 1;
	return 0;
}

static ssize_t
spool_read(GMimeStream *stream, char *buf, size_t len)
{
	SmimeSpool *sp = SPOOL(stream);
	ssize_t n = g_mime_stream_read(sp->inner, buf, len);

	if (n < 0)
		spool_fail(sp, errno, "cannot read a temporary file");
	spool_sync(sp);
	return n;
}

static ssize_t
spool_write(GMimeStream *stream, const char *buf, size_t len)
{
	SmimeSpool *sp = SPOOL(stream);
	ssize_t n;

	if (sp->err != 0)
		return -1;
	if (!sp->on_disk && (size_t)g_mime_stream_tell(sp->inner) + len > sp->mem_max &&
	    spool_to_disk(sp) != 0)
		return -1;
	n = g_mime_stream_write(sp->inner, buf, len);
	if (n != (ssize_t)len) {
		spool_fail(sp, errno, "cannot write a temporary file");
		n = -1;
	}
	spool_sync(sp);
	return n;
}

static int
spool_flush(GMimeStream *stream)
{
	return g_mime_stream_flush(SPOOL(stream)->inner);
}

static int
spool_close(GMimeStream *stream)
{
	return g_mime_stream_close(SPOOL(stream)->inner);
}

static gboolean
spool_eos(GMimeStream *stream)
{
	return g_mime_stream_eos(SPOOL(stream)->inner);
}

static int
spool_reset(GMimeStream *stream)
{
	SmimeSpool *sp = SPOOL(stream);
	int r = g_mime_stream_reset(sp->inner);

	spool_sync(sp);
	return r;
}

static gint64
spool_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	SmimeSpool *sp = SPOOL(stream);
	gint64 r = g_mime_stream_seek(sp->inner, offset, whence);

	spool_sync(sp);
	return r;
}

static gint64
spool_tell(GMimeStream *stream)
{
	return g_mime_stream_tell(SPOOL(stream)->inner);
}

static gint64
spool_length(GMimeStream *stream)
{
	return g_mime_stream_length(SPOOL(stream)->inner);
}

/*
 * The inner stream's own method: g_mime_stream_substream() would make the
 * inner stream the substream's super_stream (and reference it), then our
 * caller's g_mime_stream_substream() would overwrite that with the spool,
 * leaking the reference.  This way the substream holds the spool.
 */
static GMimeStream *
spool_substream(GMimeStream *stream, gint64 start, gint64 end)
{
	GMimeStream *inner = SPOOL(stream)->inner;

	return GMIME_STREAM_GET_CLASS(inner)->substream(inner, start, end);
}

static void
smime_spool_finalize(GObject *object)
{
	SmimeSpool *sp = SPOOL(object);

	g_clear_object(&sp->inner);
	g_free(sp->dir);
	G_OBJECT_CLASS(smime_spool_parent_class)->finalize(object);
}

static void
smime_spool_class_init(SmimeSpoolClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	G_OBJECT_CLASS(klass)->finalize = smime_spool_finalize;
	sc->read = spool_read;
	sc->write = spool_write;
	sc->flush = spool_flush;
	sc->close = spool_close;
	sc->eos = spool_eos;
	sc->reset = spool_reset;
	sc->seek = spool_seek;
	sc->tell = spool_tell;
	sc->length = spool_length;
	sc->substream = spool_substream;
}

static void
smime_spool_init(SmimeSpool *sp)
{
	sp->inner = NULL;
}

GMimeStream *
smime_spool_new(const char *dir, size_t mem_max)
{
	SmimeSpool *sp = g_object_new(smime_spool_get_type(), NULL);

	g_mime_stream_construct(GMIME_STREAM(sp), 0, -1);
	sp->inner = g_mime_stream_mem_new();
	sp->dir = g_strdup(dir);
	sp->mem_max = mem_max;
	return GMIME_STREAM(sp);
}

int
smime_spool_error(GMimeStream *spool, const char **what)
{
	SmimeSpool *sp = SPOOL(spool);

	if (what != NULL)
		*what = sp->err_what != NULL ? sp->err_what : "no error";
	return sp->err;
}

void
smime_spool_cleanse(GMimeStream *spool)
{
	SmimeSpool *sp = SPOOL(spool);
	GByteArray *ba;

	if (sp->on_disk || sp->inner == NULL)
		return;
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(sp->inner));
	if (ba != NULL && ba->len > 0)
		OPENSSL_cleanse(ba->data, ba->len);
}

int
smime_spool_on_disk(GMimeStream *spool)
{
	return SPOOL(spool)->on_disk;
}

/* ---- smime_store_t: the spool for callers outside smime/ (smime.h) ---- */

smime_store_t *
smime_store_new(const char *dir, size_t mem_max)
{
	return (smime_store_t *)smime_spool_new(dir, mem_max);
}

void
smime_store_free(smime_store_t *st)
{
	if (st != NULL)
		g_object_unref((GMimeStream *)st);
}

int
smime_store_write(smime_store_t *st, const void *buf, size_t len)
{
	GMimeStream *s = (GMimeStream *)st;

	if (len == 0)
		return 0;
	return g_mime_stream_write(s, (const char *)buf, len) == (ssize_t)len ? 0 : -1;
}

int
smime_store_append(void *st, const void *buf, size_t len)
{
	return smime_store_write(st, buf, len);
}

long long
smime_store_size(smime_store_t *st)
{
	return (long long)g_mime_stream_length((GMimeStream *)st);
}

const unsigned char *
smime_store_mem(smime_store_t *st, size_t *len)
{
	SmimeSpool *sp = (SmimeSpool *)st;
	GByteArray *ba;

	*len = 0;
	if (sp->on_disk)
		return NULL;
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(sp->inner));
	*len = ba->len;
	return ba->data != NULL ? ba->data : (const unsigned char *)"";
}

int
smime_store_fd(smime_store_t *st)
{
	SmimeSpool *sp = (SmimeSpool *)st;

	return sp->on_disk ? smime_spool_file_fd(sp->inner) : -1;
}

ssize_t
smime_store_pread(smime_store_t *st, long long off, void *buf, size_t len)
{
	SmimeSpool *sp = (SmimeSpool *)st;
	long long size = smime_store_size(st);
	const unsigned char *mem;
	size_t mlen;
	ssize_t r;

	if (off >= size)
		return 0;
	if ((long long)len > size - off)
		len = (size_t)(size - off);
	if ((mem = smime_store_mem(st, &mlen)) != NULL) {
		memcpy(buf, mem + off, len);
		return (ssize_t)len;
	}
	do
		r = pread(smime_spool_file_fd(sp->inner), buf, len, (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		spool_fail(sp, errno, "cannot read a temporary file");
	return r;
}

int
smime_store_error(smime_store_t *st, const char **what)
{
	return smime_spool_error((GMimeStream *)st, what);
}
