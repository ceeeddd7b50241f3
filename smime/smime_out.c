/*
 * smime_out.c: the job's output, through the caller's writer.  Raw octets
 * go straight to it; DER from OpenSSL goes through a BIO of ours that runs
 * it through GMime's base64 encoder (76-column lines) and unix2dos filter,
 * so every line ends in CRLF.  Once the writer fails, everything after
 * fails too, and smime_out_failed() says so (an I/O error, not OpenSSL's).
 *
 * Ownership: smime_out_new() makes the object and its BIO; smime_out_free()
 * frees both.  The BIO method is made once per process (pthread_once, so
 * that BIO_get_new_index() is not called per job) and never freed.
 * Threads: an object serves one job in one thread; the method is shared,
 * read-only.
 */
#include "smime/smime_out.h"
#include "smime/smime_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct smime_out {
	smime_write_fn fn;
	void *arg;
	int failed;
	BIO *bio;               /* the base64 sink */
	GMimeFilter *b64;
	GMimeFilter *crlf;
};

int
smime_out_write(smime_out_t *o, const void *buf, size_t len)
{
	if (o->failed)
		return -1;
	if (len > 0 && o->fn(o->arg, buf, len) != 0)
		o->failed = 1;
	return o->failed ? -1 : 0;
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

BIO *
smime_out_base64_bio(smime_out_t *o)
{
	return o->bio;
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
static BIO_METHOD *out_meth;

static void
out_meth_make(void)
{
	int idx = BIO_get_new_index();
	BIO_METHOD *m;

	if (idx < 0)
		return;
	m = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "smimegate output");
	if (m == NULL || !BIO_meth_set_write(m, out_bio_write) ||
	    !BIO_meth_set_ctrl(m, out_bio_ctrl) ||
	    !BIO_meth_set_create(m, out_bio_create)) {
		BIO_meth_free(m);
		return;
	}
	out_meth = m;
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
	if (out_meth == NULL || (o->bio = BIO_new(out_meth)) == NULL) {
		free(o);
		return NULL;
	}
	BIO_set_data(o->bio, o);
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
	if (o->b64 != NULL)
		g_object_unref(o->b64);
	if (o->crlf != NULL)
		g_object_unref(o->crlf);
	free(o);
}
