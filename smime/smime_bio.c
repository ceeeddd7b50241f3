/*
 * smime_bio.c: a source/sink BIO whose data is a GMimeStream: CMS_decrypt
 * writes the plaintext into a spool through it, CMS_verify and
 * CMS_dataInit read detached content from one, in chunks, so a body of
 * any size costs memory for a buffer only.
 *
 * Ownership: the BIO holds a reference to its stream.  The BIO_METHOD is
 * made once (pthread_once) and never freed.  Threads: a BIO is used by
 * one thread at a time, like its stream.
 */
#include "smime/smime_bio.h"

#include <limits.h>
#include <pthread.h>

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int
bio_read(BIO *b, char *buf, int len)
{
	GMimeStream *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (s == NULL || len <= 0)
		return 0;
	n = g_mime_stream_read(s, buf, (size_t)len);
	return n < 0 ? -1 : (int)n;
}

static int
bio_write(BIO *b, const char *buf, int len)
{
	GMimeStream *s = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (s == NULL || len < 0)
		return -1;
	if (len == 0)
		return 0;
	return g_mime_stream_write(s, buf, (size_t)len) == (ssize_t)len ? len : -1;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	GMimeStream *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return s != NULL && g_mime_stream_flush(s) == 0;
	case BIO_CTRL_EOF:
		return s == NULL || g_mime_stream_eos(s);
	case BIO_CTRL_RESET:
		return s != NULL && g_mime_stream_reset(s) == 0 ? 0 : -1;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int
bio_destroy(BIO *b)
{
	GMimeStream *s = BIO_get_data(b);

	if (s != NULL)
		g_object_unref(s);
	BIO_set_data(b, NULL);
	return 1;
}

static void
bio_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "GMime stream");

	if (m == NULL)
		return;
	if (!BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write)
	    || !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_destroy(m, bio_destroy)) {
		BIO_meth_free(m);
		return;
	}
	bio_method = m;
}

BIO *
smime_bio_stream(GMimeStream *s)
{
	BIO *b;

	if (pthread_once(&bio_once, bio_method_make) != 0 || bio_method == NULL)
		return NULL;
	if ((b = BIO_new(bio_method)) == NULL)
		return NULL;
	g_object_ref(s);
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	return b;
}
