/*
 * smime_cms.c: the CMS SignedData (RFC 5652) of a signing job, with
 * OpenSSL.  One signer, SHA-256, signed attributes contentType,
 * messageDigest, signingTime (OpenSSL adds the time when it signs) and
 * SMIMECapabilities announcing AES-256-GCM, AES-128-GCM, AES-256-CBC and
 * AES-128-CBC; the signer's certificate and the chain are included.
 * When the signer has a separate encryption certificate, it is included
 * too and named by SMIMEEncryptionKeyPreference (RFC 8551 2.5.3), so
 * that the partner's client encrypts its reply to it, not to the signing
 * key.
 *
 * Content never sits in memory: it is written into a BIO chain as it is
 * made (smime_cms_*_begin(), then the caller writes, then *_end()), or
 * read from a spool in chunks (smime_cms_sign_stream()).  Detached:
 * through CMS_dataInit()/CMS_dataFinal() with the output as the content
 * BIO, so that the entity is digested on its way out (as SMIME_write_ASN1
 * does for multipart/signed), then DER.  Opaque: through BIO_new_CMS(),
 * which writes the SignedData as it goes (BER, indefinite lengths, as
 * "openssl cms -stream" does).
 *
 * Ownership: smime_cms_sign_new() returns a CMS_ContentInfo the caller
 * frees with CMS_ContentInfo_free().  Threads: no shared state.
 */
#include "smime/smime_cms.h"
#include "smime/smime_int.h"
#include "smime/smime_keypref.h"
#include "smime/smime_spool.h"
#include "util/util_alg.h"

#include <errno.h>
#include <string.h>

#define CMS_CHUNK 16384

/* What we can decrypt, strongest first (RFC 8551 2.5.2). */
static const int cms_caps[] = {
	NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc,
};

static int
cms_add_caps(CMS_SignerInfo *si)
{
	STACK_OF(X509_ALGOR) *algs = NULL;
	size_t i;
	int ok = 1;

	for (i = 0; ok && i < sizeof(cms_caps) / sizeof(cms_caps[0]); i++)
		ok = CMS_add_simple_smimecap(&algs, cms_caps[i], -1);
	ok = ok && CMS_add_smimecap(si, algs);
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	return ok;
}

CMS_ContentInfo *
smime_cms_sign_new(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    X509 *enc, int detached, smime_err_t *err)
{
	unsigned int flags = CMS_BINARY | CMS_PARTIAL |
	    (detached ? CMS_DETACHED : CMS_STREAM);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, chain, NULL, flags);
	CMS_SignerInfo *si;

	if (cms == NULL) {
		util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot start a CMS SignedData");
		return NULL;
	}
	si = CMS_add1_signer(cms, cert, key, util_alg_sha256(), flags | CMS_NOSMIMECAP);
	if (si == NULL || !cms_add_caps(si)) {
		util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot add the signer");
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	if (enc != NULL && ((X509_cmp(enc, cert) != 0 && !CMS_add1_cert(cms, enc))
	    || !smime_keypref_add(si, enc))) {
		util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot add the encryption certificate");
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* Reads the next chunk of the spool: >0, 0 at its end, -1 on error. */
static ssize_t
cms_read(GMimeStream *data, char *buf, size_t len)
{
	if (g_mime_stream_eos(data))
		return 0;
	return g_mime_stream_read(data, buf, len);
}

static smime_status_t
cms_read_error(GMimeStream *data, smime_err_t *err)
{
	const char *what;
	int e = smime_spool_error(data, &what);

	return util_err_set(err, SMIME_ERR_IO, "%s: %s",
	    e != 0 ? what : "cannot read the canonical entity",
	    strerror(e != 0 ? e : EIO));
}

/* Writes the whole spool into bio; 0, or -1 (read) or -2 (write). */
static int
cms_pump(GMimeStream *data, BIO *bio)
{
	char buf[CMS_CHUNK];
	ssize_t n;

	if (g_mime_stream_reset(data) != 0)
		return -1;
	while ((n = cms_read(data, buf, sizeof(buf))) > 0)
		if (BIO_write(bio, buf, (int)n) != (int)n)
			return -2;
	return n < 0 ? -1 : 0;
}

/* Frees the BIOs pushed on top of bio, not bio. */
static void
cms_pop_to(BIO *top, BIO *bio)
{
	BIO *next;

	while (top != NULL && top != bio) {
		next = BIO_pop(top);
		BIO_free(top);
		top = next;
	}
}

BIO *
smime_cms_detached_begin(CMS_ContentInfo *cms, BIO *out, smime_err_t *err)
{
	BIO *dbio = CMS_dataInit(cms, out);

	if (dbio == NULL)
		util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot start the digest");
	return dbio;
}

smime_status_t
smime_cms_detached_end(CMS_ContentInfo *cms, BIO *dbio, BIO *out,
    smime_status_t st, smime_err_t *err)
{
	if (st == SMIME_OK && !CMS_dataFinal(cms, dbio))
		st = util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot sign");
	cms_pop_to(dbio, out);
	return st;
}

BIO *
smime_cms_stream_begin(CMS_ContentInfo *cms, BIO *out, smime_err_t *err)
{
	BIO *top = BIO_new_CMS(out, cms);

	if (top == NULL)
		util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot start the CMS stream");
	return top;
}

smime_status_t
smime_cms_stream_end(BIO *top, BIO *out, smime_status_t st, smime_err_t *err)
{
	if (st == SMIME_OK && BIO_flush(top) <= 0)
		st = util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot write the CMS stream");
	cms_pop_to(top, out);
	return st;
}

smime_status_t
smime_cms_sign_stream(CMS_ContentInfo *cms, GMimeStream *data, BIO *bio,
    smime_err_t *err)
{
	BIO *top = BIO_new_CMS(bio, cms);
	int rc;

	if (top == NULL)
		return util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot start the CMS stream");
	rc = cms_pump(data, top);
	if (rc == 0 && BIO_flush(top) <= 0)
		rc = -2;
	cms_pop_to(top, bio);                   /* free what BIO_new_CMS pushed */
	if (rc == -1)
		return cms_read_error(data, err);
	if (rc != 0)
		return util_err_ssl(err, SMIME_ERR_CRYPTO, "cannot write the CMS stream");
	return SMIME_OK;
}
