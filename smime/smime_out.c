/*
 * smime_out.c: the job's output, through the caller's writer.  Raw octets
 * go straight to it (or, once smime_out_buffer() was called, through a
 * buffer of OUT_BUF octets, so that a large entity streamed in GMime's
 * small writes reaches the writer in large ones; smime_out_flush() sends
 * the rest); DER from OpenSSL goes through a BIO of ours that runs
 * it through GMime's base64 encoder (76-column lines) and unix2dos filter,
 * so every line ends in CRLF.  A second BIO of ours takes raw octets (the
 * entity a detached signature digests on its way out), and
 * smime_out_bio_stream() makes a GMimeStream over any BIO, so that GMime
 * writes a MIME tree straight into OpenSSL.  Once the writer fails,
 * everything after fails too, and smime_out_failed() says so (an I/O
 * error, not OpenSSL's).
 *
 * Ownership: smime_out_new() makes the object and its BIOs;
 * smime_out_free() frees them.  A BIO stream holds no reference to its
 * BIO: the caller frees the BIO after the stream.  The BIO methods are made
 * once per process (pthread_once, so that BIO_get_new_index() is not
 * called per job) and never freed.
 * Threads: an object serves one job in one thread; the methods are shared,
 * read-only.
 */
#include "smime/smime_out.h"
#include "smime/smime_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OUT_BUF 65536

struct smime_out {
	smime_write_fn fn;
	void *arg;
	int failed;
	BIO *bio;               /* the base64 sink */
	BIO *raw;               /* the raw sink */
	GMimeFilter *b64;
	GMimeFilter *crlf;
	char *buf;              /* NULL: unbuffered */
	size_t blen;
};

static int
out_send(smime_out_t *o, const void *buf, size_t len)
{
	if (!o->failed && len > 0 && o->fn(o->arg, buf, len) != 0)
		o->failed = 1;
	return o->failed ? -1 : 0;
}

int
smime_out_flush(smime_out_t *o)
{
	size_t n = o->blen;

	o->blen = 0;
	return out_send(o, o->buf, n);
}

int
smime_out_write(smime_out_t *o, const void *buf, size_t len)
{
	if (o->failed)
		return -1;
	if (o->buf == NULL)
		return out_send(o, buf, len);
	if (len > OUT_BUF - o->blen && smime_out_flush(o) != 0)
		return -1;
	if (len >= OUT_BUF)
		return out_send(o, buf, len);
	memcpy(o->buf + o->blen, buf, len);
	o->blen += len;
	return 0;
}

int
smime_out_buffer(smime_out_t *o)
{
	if (o->buf == NULL && (o->buf = malloc(OUT_BUF)) == NULL)
		return -1;
	return 0;
}

int
smime_out_puts(smime_out_t *o, const char *s)
{
	return smime_out_write(o, s, strlen(s));
}

int
smime_out_failed(const smime_out_t *o)
{
	return o->failed;
}

/* Base64 then CRLF; complete: the end of the data. */
static int
out_encode(smime_out_t *o, const char *buf, size_t len, int complete)
{
	char *p;
	size_t n, pre;

	if (complete) {
		g_mime_filter_complete(o->b64, (char *)buf, len, 0, &p, &n, &pre);
		g_mime_filter_complete(o->crlf, p, n, pre, &p, &n, &pre);
	} else {
		g_mime_filter_filter(o->b64, (char *)buf, len, 0, &p, &n, &pre);
		g_mime_filter_filter(o->crlf, p, n, pre, &p, &n, &pre);
	}
	return smime_out_write(o, p, n);
}

static int
out_bio_write(BIO *b, const char *buf, int len)
{
	smime_out_t *o = BIO_get_data(b);

	if (len < 0 || out_encode(o, buf, (size_t)len, 0) != 0)
		return -1;
	return len;
}

static long
out_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
out_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
out_raw_write(BIO *b, const char *buf, int len)
{
	smime_out_t *o = BIO_get_data(b);

	if (len < 0 || smime_out_write(o, buf, (size_t)len) != 0)
		return -1;
	return len;
}

BIO *
smime_out_base64_bio(smime_out_t *o)
{
	return o->bio;
}

BIO *
smime_out_raw_bio(smime_out_t *o)
{
	return o->raw;
}

int
smime_out_base64_end(smime_out_t *o)
{
	int rc = out_encode(o, "", 0, 1);

	g_mime_filter_reset(o->b64);
	g_mime_filter_reset(o->crlf);
	return rc;
}

static pthread_once_t out_meth_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *out_meth, *out_raw_meth;

static BIO_METHOD *
out_meth_one(const char *name, int (*wr)(BIO *, const char *, int))
{
	int idx = BIO_get_new_index();
	BIO_METHOD *m;

	if (idx < 0)
		return NULL;
	m = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, name);
	if (m == NULL || !BIO_meth_set_write(m, wr) ||
	    !BIO_meth_set_ctrl(m, out_bio_ctrl) ||
	    !BIO_meth_set_create(m, out_bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

static void
out_meth_make(void)
{
	out_meth = out_meth_one("smimegate output", out_bio_write);
	out_raw_meth = out_meth_one("smimegate raw output", out_raw_write);
}

smime_out_t *
smime_out_new(smime_write_fn fn, void *arg)
{
	smime_out_t *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->fn = fn;
	o->arg = arg;
	pthread_once(&out_meth_once, out_meth_make);
	if (out_meth == NULL || out_raw_meth == NULL ||
	    (o->bio = BIO_new(out_meth)) == NULL || (o->raw = BIO_new(out_raw_meth)) == NULL) {
		BIO_free(o->bio);
		free(o);
		return NULL;
	}
	BIO_set_data(o->bio, o);
	BIO_set_data(o->raw, o);
	o->b64 = g_mime_filter_basic_new(GMIME_CONTENT_ENCODING_BASE64, TRUE);
	o->crlf = g_mime_filter_unix2dos_new(FALSE);
	return o;
}

void
smime_out_free(smime_out_t *o)
{
	if (o == NULL)
		return;
	BIO_free(o->bio);
	BIO_free(o->raw);
	free(o->buf);
	if (o->b64 != NULL)
		g_object_unref(o->b64);
	if (o->crlf != NULL)
		g_object_unref(o->crlf);
	free(o);
}

/* ---- a write-only GMimeStream over a BIO ---- */

typedef struct _SmimeBioStream {
	GMimeStream parent;
	BIO *bio;
} SmimeBioStream;

typedef struct _SmimeBioStreamClass {
	GMimeStreamClass parent_class;
} SmimeBioStreamClass;

GType smime_bio_stream_get_type(void);

G_DEFINE_TYPE(SmimeBioStream, smime_bio_stream, GMIME_TYPE_STREAM)

static ssize_t
bio_stream_write(GMimeStream *stream, const char *buf, size_t len)
{
	BIO *b = ((SmimeBioStream *)stream)->bio;
	size_t done = 0;
	int n, want;

	while (done < len) {
		want = len - done > INT_MAX ? INT_MAX : (int)(len - done);
		if ((n = BIO_write(b, buf + done, want)) <= 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	stream->position += (gint64)len;
	return (ssize_t)len;
}

static ssize_t
bio_stream_read(GMimeStream *stream, char *buf, size_t len)
{
	errno = EBADF;
	return -1;
}

/* Not BIO_flush(): on a CMS streaming BIO that ends the content. */
static int
bio_stream_flush(GMimeStream *stream)
{
	return 0;
}

static int
bio_stream_close(GMimeStream *stream)
{
	return 0;
}

static gboolean
bio_stream_eos(GMimeStream *stream)
{
	return TRUE;
}

static int
bio_stream_reset(GMimeStream *stream)
{
	return -1;
}

static gint64
bio_stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	return -1;
}

static gint64
bio_stream_tell(GMimeStream *stream)
{
	return stream->position;
}

static gint64
bio_stream_length(GMimeStream *stream)
{
	return -1;
}

static void
smime_bio_stream_class_init(SmimeBioStreamClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	sc->read = bio_stream_read;
	sc->write = bio_stream_write;
	sc->flush = bio_stream_flush;
	sc->close = bio_stream_close;
	sc->eos = bio_stream_eos;
	sc->reset = bio_stream_reset;
	sc->seek = bio_stream_seek;
	sc->tell = bio_stream_tell;
	sc->length = bio_stream_length;
}

static void
smime_bio_stream_init(SmimeBioStream *bs)
{
	bs->bio = NULL;
}

GMimeStream *
smime_out_bio_stream(BIO *bio)
{
	SmimeBioStream *bs = g_object_new(smime_bio_stream_get_type(), NULL);

	g_mime_stream_construct(GMIME_STREAM(bs), 0, -1);
	bs->bio = bio;
	return GMIME_STREAM(bs);
}
