/*
 * smime_keypref.h: the SMIMEEncryptionKeyPreference attribute (RFC 8551
 * 2.5.3, and Microsoft's): written and read.
 *
 * Internal to smime/: declares smime_keypref.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_KEYPREF_H
#define SMIME_KEYPREF_H

#include <openssl/cms.h>
#include <openssl/x509.h>

/* Adds SMIMEEncryptionKeyPreference and Microsoft's attribute naming enc
 * (issuerAndSerialNumber); 1, or 0 on an OpenSSL error. */
int smime_keypref_add(CMS_SignerInfo *si, X509 *enc);
/* 1 when the signer's key preference names cert, 0 when it names another,
 * -1 when it has none. */
int smime_keypref_names(CMS_SignerInfo *si, X509 *cert);

#endif
