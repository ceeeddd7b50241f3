/*
 * smime_int.h: the types and constants the files of smime/ share and
 * nobody else sees.  Types only: each file's functions are declared in a
 * header of its own (smime_spool.h, smime_canon.h, smime_out.h,
 * smime_cms.h, smime_keypref.h, smime_in.h, smime_sign.h, smime_hp.h,
 * smime_hp_mark.h, smime_detach.h, smime_certcache.h, smime_bio.h), and each file
 * includes the headers of the files it calls.
 *
 *   smime_init.c      smime_init(): GMime's one-time set-up
 *   smime_classify.c  smime_classify(): what a Content-Type says
 *   smime_spool.c     a GMimeStream kept in memory up to a limit, then in
 *                     an unlinked temporary file
 *   smime_canon.c     the entity to sign, made canonical (CRLF) and 7-bit
 *   smime_out.c       output through the caller's writer, raw or base64
 *   smime_cms.c       the CMS SignedData: signer, attributes, streaming
 *   smime_keypref.c   the SMIMEEncryptionKeyPreference attribute (RFC 8551
 *                     2.5.3, and Microsoft's): written and read
 *   smime_sign.c      the smime_sign_t handle: multipart/signed and opaque
 *   smime_encrypt.c   the smime_encrypt_t handle: EnvelopedData and
 *                     AuthEnvelopedData
 *   smime_in.c        inbound input: the entity in a spool, parsed with
 *                     the stream persisted; a part's decoded content;
 *                     an entity checked and split; header lists
 *   smime_detach.c    a CMS structure read with its content set apart
 *                     (decrypted and verified as detached, in chunks)
 *   smime_certcache.c certificates decoded once per process (the
 *                     signers' and CAs' that signed messages carry)
 *   smime_bio.c       an OpenSSL BIO over a GMimeStream
 *   smime_decrypt.c   the smime_decrypt_t handle: enveloped and
 *                     authEnveloped data
 *   smime_trust.c     smime_trust_t: trust anchors and CRLs
 *   smime_certsonly.c certificates as a certs-only PKCS#7
 *   smime_verify.c    the smime_verify_t handle
 *   smime_hp.c        header protection (RFC 9788): the fields, the baseline
 *                     confidentiality policy, the verdicts
 *   smime_hp_mark.c   header protection: the marks and legacy display put
 *                     on a payload; the main body parts
 *   smime_hp_read.c   the smime_hp_in_t handle: a protected entity read
 *
 * Ownership: every constructor here returns a new object its caller frees
 * (g_object_unref for GMime objects, the matching _free() otherwise).
 * Threads: nothing here is shared; an object is used by one thread at a time.
 */
#ifndef SMIME_INT_H
#define SMIME_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <gmime/gmime.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/x509_vfy.h>

#include "smime/smime.h"
#include "util/util_err.h"

#define SMIME_MEM_DEFAULT (1024u * 1024u)     /* spool in memory up to this */

/* ---- errors ---- */

/* A smime_status_t and a message (util/util_err.h): failures set it with
 * util_err_set(), or util_err_ssl(err, SMIME_ERR_CRYPTO, ...) to append
 * what OpenSSL queued. */
typedef util_err_t smime_err_t;

/* ---- trust (smime_trust.c), read by smime_verify.c ---- */

struct smime_trust {
	X509_STORE *store;
	int ncrls;                  /* CRLs loaded: revocation is checked */
	unsigned long gen;          /* smime_trust_generation() */
};

#endif
