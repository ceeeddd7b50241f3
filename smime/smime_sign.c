/*
 * smime_sign.c: the smime_sign_t handle of smime.h, one signing job, and
 * the MIME framing of its output.
 *
 * A job parses and fixes the entity (smime_canon.c), then streams it: GMime
 * writes the canonical entity into OpenSSL's CMS BIO chain (smime_cms.c),
 * which digests it and passes it to the output (smime_out.c, buffered),
 * so that the canonical entity is never copied to a spool of its own:
 *
 *   detached  a preamble, the canonical entity exactly as signed (digested
 *             on its way out), and an application/pkcs7-signature part,
 *             in a multipart/signed whose boundary is random
 *             ("----smimegate-" and 32 hex digits from RAND_bytes: it
 *             cannot occur in the entity but by a 2^-128 chance, so the
 *             entity is not searched for it).
 *   opaque    application/pkcs7-mime; smime-type=signed-data, the
 *             SignedData holding the entity, written as it is made.
 *
 * Every output line ends in CRLF.  On failure, whatever was written is to
 * be thrown away (the caller's writer gets the output as it is made); the
 * headers are listed only after a success.
 *
 * Ownership: see smime.h.  The handle holds its own references to the key,
 * certificate and chain; smime_sign_free() drops them.
 * Threads: a handle is used by one thread at a time.
 */
#include "smime/smime_sign.h"
#include "smime/smime_canon.h"
#include "smime/smime_cms.h"
#include "smime/smime_int.h"
#include "smime/smime_out.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#define SIGN_HEADERS_MAX  4

struct smime_sign {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
	X509 *enc;                      /* the signer's encryption certificate */
	int opaque;
	char *tmpdir;                   /* NULL: $TMPDIR or /tmp */
	int tmpdir_nomem;               /* set_tmpdir could not copy it */
	size_t mem_max;
	smime_limits_t limits;
	smime_hp_out_t hp;              /* borrowed fields; mode NONE: none */
	size_t nheaders;
	const char *hname[SIGN_HEADERS_MAX];
	char *hvalue[SIGN_HEADERS_MAX];
	smime_err_t err;
};

smime_sign_t *
smime_sign_new(void)
{
	smime_sign_t *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->mem_max = SMIME_MEM_DEFAULT;
	return s;
}

static void
sign_clear_headers(smime_sign_t *s)
{
	size_t i;

	for (i = 0; i < s->nheaders; i++)
		free(s->hvalue[i]);
	s->nheaders = 0;
}

static void
sign_clear_signer(smime_sign_t *s)
{
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	X509_free(s->enc);
	s->key = NULL;
	s->cert = NULL;
	s->chain = NULL;
	s->enc = NULL;
}

void
smime_sign_free(smime_sign_t *s)
{
	if (s == NULL)
		return;
	sign_clear_headers(s);
	sign_clear_signer(s);
	free(s->tmpdir);
	free(s);
}

smime_status_t
smime_sign_set_signer(smime_sign_t *s, EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain)
{
	if (s == NULL)
		return SMIME_ERR_USAGE;
	util_err_clear(&s->err);
	if (key == NULL || cert == NULL)
		return util_err_set(&s->err, SMIME_ERR_USAGE,
		    "a signer needs a key and a certificate");
	if (!X509_check_private_key(cert, key))
		return util_err_set(&s->err, SMIME_ERR_USAGE,
		    "the key does not match the certificate");
	sign_clear_signer(s);
	if (chain != NULL && (s->chain = X509_chain_up_ref(chain)) == NULL)
		return util_err_set(&s->err, SMIME_ERR_NOMEM, "cannot copy the chain");
	EVP_PKEY_up_ref(key);
	X509_up_ref(cert);
	s->key = key;
	s->cert = cert;
	return SMIME_OK;
}

smime_status_t
smime_sign_set_encryption_cert(smime_sign_t *s, X509 *enc)
{
	if (s == NULL || s->cert == NULL)
		return SMIME_ERR_USAGE;
	X509_free(s->enc);
	s->enc = NULL;
	if (enc != NULL) {
		X509_up_ref(enc);
		s->enc = enc;
	}
	return SMIME_OK;
}

void
smime_sign_set_opaque(smime_sign_t *s, int opaque)
{
	if (s != NULL)
		s->opaque = opaque != 0;
}

void
smime_sign_set_tmpdir(smime_sign_t *s, const char *dir, size_t mem_max)
{
	if (s == NULL)
		return;
	free(s->tmpdir);
	s->tmpdir = dir != NULL ? strdup(dir) : NULL;
	s->tmpdir_nomem = dir != NULL && s->tmpdir == NULL;
	s->mem_max = mem_max;
}

size_t
smime_sign_nheaders(const smime_sign_t *s)
{
	return s != NULL ? s->nheaders : 0;
}

const char *
smime_sign_header_name(const smime_sign_t *s, size_t i)
{
	return s != NULL && i < s->nheaders ? s->hname[i] : NULL;
}

const char *
smime_sign_header_value(const smime_sign_t *s, size_t i)
{
	return s != NULL && i < s->nheaders ? s->hvalue[i] : NULL;
}

const char *
smime_sign_error(const smime_sign_t *s)
{
	if (s == NULL)
		return "no signing handle";
	return s->err.msg;
}

/* ---- one job ---- */

static smime_status_t
sign_add_header(smime_sign_t *s, const char *name, const char *value)
{
	char *v = strdup(value);

	if (v == NULL || s->nheaders == SIGN_HEADERS_MAX) {
		free(v);
		return util_err_set(&s->err, SMIME_ERR_NOMEM, "cannot store a header");
	}
	s->hname[s->nheaders] = name;
	s->hvalue[s->nheaders++] = v;
	return SMIME_OK;
}

smime_status_t
smime_boundary(char buf[SMIME_BOUNDARY_LEN], smime_err_t *err)
{
	static const char prefix[] = "----smimegate-";
	unsigned char rnd[16];

	_Static_assert(sizeof(prefix) - 1 + 2 * sizeof(rnd) < SMIME_BOUNDARY_LEN,
	    "the boundary fits");
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot make a boundary");
	memcpy(buf, prefix, sizeof(prefix) - 1);
	util_hex(buf + sizeof(prefix) - 1, rnd, sizeof(rnd));
	return SMIME_OK;
}

static void
sign_write_detached_head(smime_out_t *o, const char *boundary)
{
	smime_out_puts(o, "This is an S/MIME signed message\r\n\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "\r\n");
}

static void
sign_write_signature_head(smime_out_t *o, const char *boundary)
{
	smime_out_puts(o, "\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "\r\n"
	    "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=smime.p7s\r\n"
	    "Content-Description: S/MIME Cryptographic Signature\r\n"
	    "\r\n");
}

static smime_status_t
sign_detached_headers(smime_sign_t *s, const char *boundary)
{
	char ct[256];
	smime_status_t st;

	snprintf(ct, sizeof(ct), "multipart/signed; "
	    "protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
	    "boundary=\"%s\"", boundary);
	st = sign_add_header(s, "MIME-Version", "1.0");
	return st == SMIME_OK ? sign_add_header(s, "Content-Type", ct) : st;
}

/* Writes the canonical entity into bio (a CMS BIO chain). */
static smime_status_t
sign_write_entity(smime_sign_t *s, smime_canon_t *canon, BIO *bio)
{
	GMimeStream *stream = smime_out_bio_stream(bio);
	smime_status_t st = smime_canon_write(canon, stream, &s->err);

	g_object_unref(stream);
	return st;
}

static smime_status_t
sign_detached(smime_sign_t *s, CMS_ContentInfo *cms, smime_canon_t *canon,
    smime_out_t *o)
{
	char boundary[SMIME_BOUNDARY_LEN];
	smime_status_t st;
	BIO *dbio;

	if ((st = smime_boundary(boundary, &s->err)) != SMIME_OK ||
	    (st = sign_detached_headers(s, boundary)) != SMIME_OK)
		return st;
	sign_write_detached_head(o, boundary);
	if ((dbio = smime_cms_detached_begin(cms, smime_out_raw_bio(o), &s->err)) == NULL)
		return s->err.code;
	st = sign_write_entity(s, canon, dbio);
	st = smime_cms_detached_end(cms, dbio, smime_out_raw_bio(o), st, &s->err);
	if (st != SMIME_OK)
		return st;
	sign_write_signature_head(o, boundary);
	if (!i2d_CMS_bio(smime_out_base64_bio(o), cms) && !smime_out_failed(o))
		return util_err_ssl(&s->err, SMIME_ERR_CRYPTO, "cannot encode the signature");
	smime_out_base64_end(o);
	smime_out_puts(o, "\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "--\r\n");
	return SMIME_OK;
}

static smime_status_t
sign_opaque(smime_sign_t *s, CMS_ContentInfo *cms, smime_canon_t *canon,
    smime_out_t *o)
{
	smime_status_t st;
	BIO *top;

	if ((st = sign_add_header(s, "MIME-Version", "1.0")) != SMIME_OK ||
	    (st = sign_add_header(s, "Content-Type", "application/pkcs7-mime; "
	    "smime-type=signed-data; name=smime.p7m")) != SMIME_OK ||
	    (st = sign_add_header(s, "Content-Transfer-Encoding", "base64")) != SMIME_OK ||
	    (st = sign_add_header(s, "Content-Disposition",
	    "attachment; filename=smime.p7m")) != SMIME_OK)
		return st;
	if ((top = smime_cms_stream_begin(cms, smime_out_base64_bio(o), &s->err)) == NULL)
		return s->err.code;
	st = sign_write_entity(s, canon, top);
	st = smime_cms_stream_end(top, smime_out_base64_bio(o), st, &s->err);
	if (st != SMIME_OK)
		return st;
	smime_out_base64_end(o);
	return SMIME_OK;
}

static smime_status_t
sign_check(smime_sign_t *s, const smime_body_t *body, smime_write_fn out)
{
	if (s->key == NULL)
		return util_err_set(&s->err, SMIME_ERR_USAGE, "no signer set");
	if (body == NULL || out == NULL)
		return util_err_set(&s->err, SMIME_ERR_USAGE,
		    "smime_sign_run needs a body and a writer");
	if (s->tmpdir_nomem)
		return util_err_set(&s->err, SMIME_ERR_NOMEM,
		    "cannot store the temporary directory");
	return SMIME_OK;
}

static smime_status_t
sign_job(smime_sign_t *s, smime_canon_t *canon, smime_out_t *o)
{
	CMS_ContentInfo *cms;
	smime_status_t st;

	cms = smime_cms_sign_new(s->key, s->cert, s->chain, s->enc, !s->opaque,
	    &s->err);
	if (cms == NULL)
		return s->err.code;
	st = s->opaque ? sign_opaque(s, cms, canon, o) : sign_detached(s, cms, canon, o);
	CMS_ContentInfo_free(cms);
	if (st == SMIME_OK)
		smime_out_flush(o);
	if (smime_out_failed(o))
		st = util_err_set(&s->err, SMIME_ERR_IO, "the output writer failed");
	return st;
}

void
smime_sign_set_hp(smime_sign_t *s, const smime_hp_out_t *hp)
{
	if (s == NULL)
		return;
	if (hp != NULL)
		s->hp = *hp;
	else
		memset(&s->hp, 0, sizeof(s->hp));
}

void
smime_sign_set_limits(smime_sign_t *s, unsigned max_parts, unsigned max_depth)
{
	s->limits.max_parts = max_parts;
	s->limits.max_depth = max_depth;
}

smime_status_t
smime_sign_run(smime_sign_t *s, const char *content_headers,
    const smime_body_t *body, smime_write_fn out, void *arg)
{
	smime_canon_t *canon = NULL;
	smime_out_t *o = NULL;
	smime_status_t st;

	if (s == NULL)
		return SMIME_ERR_USAGE;
	sign_clear_headers(s);
	util_err_clear(&s->err);
	if ((st = sign_check(s, body, out)) != SMIME_OK)
		return st;
	st = smime_canon_prepare(content_headers, body, s->tmpdir, s->mem_max,
	    &s->limits, s->hp.mode != SMIME_HP_NONE ? &s->hp : NULL, &canon, &s->err);
	if (st == SMIME_OK && ((o = smime_out_new(out, arg)) == NULL ||
	    smime_out_buffer(o) != 0))
		st = util_err_set(&s->err, SMIME_ERR_NOMEM, "cannot set up the output");
	if (st == SMIME_OK)
		st = sign_job(s, canon, o);
	smime_out_free(o);
	smime_canon_free(canon);
	if (st != SMIME_OK)
		sign_clear_headers(s);
	ERR_clear_error();              /* leave the thread's queue empty */
	return st;
}
