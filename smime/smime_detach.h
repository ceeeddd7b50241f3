/*
 * smime_detach.h: a CMS ContentInfo read from a stream with its content
 * set apart, so that OpenSSL holds the structure in memory but not the
 * message.
 *
 * Internal to smime/: declares smime_detach.c's functions only.
 */
#ifndef SMIME_DETACH_H
#define SMIME_DETACH_H

#include <gmime/gmime.h>
#include <openssl/cms.h>

#include "smime/smime_int.h"

/* Octets of a CMS structure outside its content (certificates, CRLs,
 * RecipientInfos) held in memory at most. */
#define SMIME_DETACH_FRAME_MAX (8u * 1024u * 1024u)

/*
 * der (BER or DER, seekable) holds a ContentInfo of EnvelopedData,
 * AuthEnvelopedData or SignedData.  Returns the ContentInfo without the
 * content (encryptedContent, eContent), and the content's octets in a new
 * spool in tmpdir (*content, at 0; NULL when there is none: OpenSSL then
 * says so).  NULL with err (SMIME_ERR_INPUT: malformed, or past
 * SMIME_DETACH_FRAME_MAX: delivered as it came, not refused; SMIME_ERR_IO)
 * otherwise.
 */
CMS_ContentInfo *smime_detach_read(GMimeStream *der, const char *tmpdir,
    GMimeStream **content, smime_err_t *err);

#endif
