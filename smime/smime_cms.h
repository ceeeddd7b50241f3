/*
 * smime_cms.h: the CMS SignedData: signer, attributes, streaming.
 *
 * Internal to smime/: declares smime_cms.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_CMS_H
#define SMIME_CMS_H

#include <gmime/gmime.h>
#include <openssl/bio.h>
#include <openssl/cms.h>

#include "smime/smime.h"
#include "smime/smime_int.h"

/*
 * A SignedData ready to take content (CMS_PARTIAL): the signer with
 * SHA-256, signingTime and our SMIMECapabilities, its certificate and the
 * chain.  detached: the content is not embedded; else streamed (BER).
 * enc (may be NULL): the signer's encryption certificate, included and
 * named by the key preference attributes (smime_keypref.c).
 */
CMS_ContentInfo *smime_cms_sign_new(EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain, X509 *enc, int detached, smime_err_t *err);

/* Detached: a BIO that digests what is written to it and passes it on to
 * out; then _end() signs (when st, the writing's status, is SMIME_OK;
 * else it returns st) and frees the BIOs pushed on out, not out; the
 * caller then writes the DER. */
BIO *smime_cms_detached_begin(CMS_ContentInfo *cms, BIO *out, smime_err_t *err);
smime_status_t smime_cms_detached_end(CMS_ContentInfo *cms, BIO *dbio, BIO *out,
    smime_status_t st, smime_err_t *err);
/* Opaque: a BIO whose input becomes the content of the SignedData (any
 * CMS_STREAM content type) written to out; _end() finishes it (as above)
 * and frees the BIOs pushed on out, not out. */
BIO *smime_cms_stream_begin(CMS_ContentInfo *cms, BIO *out, smime_err_t *err);
smime_status_t smime_cms_stream_end(BIO *top, BIO *out, smime_status_t st,
    smime_err_t *err);
/* Opaque: streams the spool into the SignedData written to bio (any
 * CMS_STREAM content type: EnvelopedData too). */
smime_status_t smime_cms_sign_stream(CMS_ContentInfo *cms, GMimeStream *data,
    BIO *bio, smime_err_t *err);

#endif
