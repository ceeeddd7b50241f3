/*
 * smime_spool_file.c: the on-disk half of a spool (smime_spool.c), a
 * GMimeStream over the spool's unlinked temporary file that reads and
 * writes with pread/pwrite at the stream's position (GMime's own file
 * stream seeks before every read and write), through one read window of
 * SPOOL_FILE_WINDOW octets shared by the stream and all its substreams
 * (GMime's parser and part writers read in 4 KB steps: the window turns
 * them into a few large reads).  A write drops the window.
 *
 * Ownership: smime_spool_file_new() takes the descriptor, closed when the
 * stream and every substream are gone (a substream holds a reference to
 * the stream it was cut from).  Threads: one thread at a time, like any
 * GMimeStream.
 */
#include "smime/smime_spool_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPOOL_FILE_WINDOW 65536

typedef struct spool_file_root {
	int fd;
	gint64 size;            /* the file's length: only this stream writes it */
	char *win;              /* the read window, NULL until a read needs it */
	gint64 win_start;
	size_t win_len;
} spool_file_root_t;

typedef struct _SmimeSpoolFile {
	GMimeStream parent;
	spool_file_root_t *root;
	GMimeStream *owner;     /* the stream that owns root (a reference), or NULL */
} SmimeSpoolFile;

typedef struct _SmimeSpoolFileClass {
	GMimeStreamClass parent_class;
} SmimeSpoolFileClass;

GType smime_spool_file_get_type(void);

G_DEFINE_TYPE(SmimeSpoolFile, smime_spool_file, GMIME_TYPE_STREAM)

#define SFILE(s) ((SmimeSpoolFile *)(s))

/* The end of the stream's data: its bound, or the file's end. */
static gint64
sfile_end(GMimeStream *stream)
{
	return stream->bound_end != -1 ? stream->bound_end : SFILE(stream)->root->size;
}

/* Up to len octets at off, from the window (filled first when off is not
 * in it); a read as large as the window bypasses it. */
static ssize_t
sfile_pread(spool_file_root_t *r, gint64 off, char *buf, size_t len)
{
	ssize_t n;

	if (r->win_len == 0 || off < r->win_start || off >= r->win_start + (gint64)r->win_len) {
		if (len >= SPOOL_FILE_WINDOW || (r->win == NULL &&
		    (r->win = malloc(SPOOL_FILE_WINDOW)) == NULL)) {
			do
				n = pread(r->fd, buf, len, (off_t)off);
			while (n < 0 && errno == EINTR);
			return n;
		}
		r->win_len = 0;
		do
			n = pread(r->fd, r->win, SPOOL_FILE_WINDOW, (off_t)off);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n;
		r->win_start = off;
		r->win_len = (size_t)n;
	}
	n = (ssize_t)(r->win_start + (gint64)r->win_len - off);
	if ((size_t)n > len)
		n = (ssize_t)len;
	memcpy(buf, r->win + (off - r->win_start), (size_t)n);
	return n;
}

static ssize_t
sfile_read(GMimeStream *stream, char *buf, size_t len)
{
	gint64 end = sfile_end(stream);
	ssize_t n;

	if (stream->position >= end)
		return 0;
	if ((gint64)len > end - stream->position)
		len = (size_t)(end - stream->position);
	n = sfile_pread(SFILE(stream)->root, stream->position, buf, len);
	if (n > 0)
		stream->position += n;
	return n;
}

static ssize_t
sfile_write(GMimeStream *stream, const char *buf, size_t len)
{
	spool_file_root_t *r = SFILE(stream)->root;
	size_t done = 0;
	ssize_t n;

	if (stream->bound_end != -1 && (gint64)len > stream->bound_end - stream->position) {
		errno = ENOSPC;
		return -1;
	}
	r->win_len = 0;
	while (done < len) {
		n = pwrite(r->fd, buf + done, len - done, (off_t)(stream->position + (gint64)done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	stream->position += (gint64)len;
	if (stream->position > r->size)
		r->size = stream->position;
	return (ssize_t)len;
}

static int
sfile_flush(GMimeStream *stream)
{
	return 0;
}

static int
sfile_close(GMimeStream *stream)
{
	return 0;
}

static gboolean
sfile_eos(GMimeStream *stream)
{
	return stream->position >= sfile_end(stream);
}

static int
sfile_reset(GMimeStream *stream)
{
	stream->position = stream->bound_start;
	return 0;
}

static gint64
sfile_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	gint64 real;

	switch (whence) {
	case GMIME_STREAM_SEEK_SET:
		real = offset;
		break;
	case GMIME_STREAM_SEEK_CUR:
		real = stream->position + offset;
		break;
	case GMIME_STREAM_SEEK_END:
		real = sfile_end(stream) + offset;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (real < stream->bound_start ||
	    (stream->bound_end != -1 && real > stream->bound_end)) {
		errno = EINVAL;
		return -1;
	}
	stream->position = real;
	return real;
}

static gint64
sfile_tell(GMimeStream *stream)
{
	return stream->position;
}

static gint64
sfile_length(GMimeStream *stream)
{
	return sfile_end(stream) - stream->bound_start;
}

static GMimeStream *
sfile_substream(GMimeStream *stream, gint64 start, gint64 end)
{
	SmimeSpoolFile *sub = g_object_new(smime_spool_file_get_type(), NULL);
	SmimeSpoolFile *f = SFILE(stream);

	g_mime_stream_construct(GMIME_STREAM(sub), start, end);
	sub->root = f->root;
	sub->owner = g_object_ref(f->owner != NULL ? f->owner : stream);
	return GMIME_STREAM(sub);
}

static void
smime_spool_file_finalize(GObject *object)
{
	SmimeSpoolFile *f = SFILE(object);

	if (f->owner != NULL) {
		g_object_unref(f->owner);
	} else if (f->root != NULL) {
		close(f->root->fd);
		free(f->root->win);
		free(f->root);
	}
	G_OBJECT_CLASS(smime_spool_file_parent_class)->finalize(object);
}

static void
smime_spool_file_class_init(SmimeSpoolFileClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	G_OBJECT_CLASS(klass)->finalize = smime_spool_file_finalize;
	sc->read = sfile_read;
	sc->write = sfile_write;
	sc->flush = sfile_flush;
	sc->close = sfile_close;
	sc->eos = sfile_eos;
	sc->reset = sfile_reset;
	sc->seek = sfile_seek;
	sc->tell = sfile_tell;
	sc->length = sfile_length;
	sc->substream = sfile_substream;
}

static void
smime_spool_file_init(SmimeSpoolFile *f)
{
	f->root = NULL;
	f->owner = NULL;
}

GMimeStream *
smime_spool_file_new(int fd)
{
	SmimeSpoolFile *f;
	spool_file_root_t *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fd = fd;
	f = g_object_new(smime_spool_file_get_type(), NULL);
	g_mime_stream_construct(GMIME_STREAM(f), 0, -1);
	f->root = r;
	return GMIME_STREAM(f);
}

int
smime_spool_file_fd(GMimeStream *stream)
{
	return SFILE(stream)->root->fd;
}
