/*
 * smime_int.h: what the files of smime/ share and nobody else sees.
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
 *   smime_in.c        inbound input: the entity in memory, parsed; a
 *                     part's decoded content; header lists
 *   smime_decrypt.c   the smime_decrypt_t handle: enveloped and
 *                     authEnveloped data
 *   smime_trust.c     smime_trust_t: trust anchors and CRLs
 *   smime_verify.c    the smime_verify_t handle
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

/* A fresh MIME boundary, "----smimegate-" and 32 random hex digits, into
 * buf (SMIME_BOUNDARY_LEN bytes); SMIME_ERR_CRYPTO without randomness. */
#define SMIME_BOUNDARY_LEN 64
smime_status_t smime_boundary(char buf[SMIME_BOUNDARY_LEN], smime_err_t *err);

/* ---- spool (smime_spool.c) ---- */

/*
 * A new read/write, seekable GMimeStream.  Data stays in memory up to
 * mem_max octets; a write beyond that moves it to a temporary file in dir
 * (NULL: $TMPDIR or /tmp), unlinked as soon as it is created.  Substreams
 * (as a persistent GMimeParser makes) share its storage and reference it;
 * do not write to it once they exist.
 */
GMimeStream *smime_spool_new(const char *dir, size_t mem_max);
/* errno of the first failure (0: none), with what failed in *what. */
int smime_spool_error(GMimeStream *spool, const char **what);
/* 1 when the data went to a file. */
int smime_spool_on_disk(GMimeStream *spool);

/* ---- the canonical entity (smime_canon.c) ---- */

/*
 * Parses the Content-* headers and the body as one MIME entity, re-encodes
 * what is not 7-bit safe and writes it with CRLF line ends to a new spool
 * (*canon, positioned at 0) in dir.
 */
typedef struct smime_limits {
	unsigned max_parts, max_depth;  /* 0: SMIME_PARTS_DEFAULT, CANON_DEPTH_MAX */
} smime_limits_t;
#define SMIME_PARTS_DEFAULT 1000

/* Before GMime parses in (seekable; left at 0): SMIME_ERR_LIMIT when more
 * lines begin "Content-Type:" than max_parts (smime_canon.c). */
smime_status_t smime_mime_prescan(GMimeStream *in, unsigned max_parts, smime_err_t *err);
/* Inbound: SMIME_ERR_LIMIT when a parsed tree, or an entity in memory
 * (prescanned, parsed, its copy cleansed), has more parts or deeper
 * nesting than limits (NULL or 0: the defaults) (smime_canon.c). */
smime_status_t smime_mime_check_tree(GMimeObject *obj, const smime_limits_t *limits,
    smime_err_t *err);
smime_status_t smime_mime_check_mem(const unsigned char *p, size_t len,
    const smime_limits_t *limits, smime_err_t *err);
/* SMIME_ERR_LIMIT when a field of the header block at p (to its first
 * empty line), folds included, is longer than max octets (0: no limit).
 * Before GMime parses it: its header parser grows its buffer in small
 * steps, slow for megabytes under the sanitizers' realloc. */
smime_status_t smime_header_block_check(const unsigned char *p, size_t len, size_t max,
    smime_err_t *err);

smime_status_t smime_canon_build(const char *content_headers,
    const smime_body_t *body, const char *dir, size_t mem_max,
    const smime_limits_t *limits, GMimeStream **canon, smime_err_t *err);

/* ---- output (smime_out.c) ---- */

typedef struct smime_out smime_out_t;

/* NULL when out of memory. */
smime_out_t *smime_out_new(smime_write_fn fn, void *arg);
void smime_out_free(smime_out_t *o);
/* Raw octets to the writer: 0, or -1 once the writer has failed. */
int smime_out_write(smime_out_t *o, const void *buf, size_t len);
int smime_out_puts(smime_out_t *o, const char *s);
/* A BIO (owned by o) whose input goes out as base64 in CRLF lines. */
BIO *smime_out_base64_bio(smime_out_t *o);
/* Writes the last base64 line; 0 or -1. */
int smime_out_base64_end(smime_out_t *o);
/* 1 when the writer asked to stop. */
int smime_out_failed(const smime_out_t *o);

/* ---- CMS (smime_cms.c) ---- */

/*
 * A SignedData ready to take content (CMS_PARTIAL): the signer with
 * SHA-256, signingTime and our SMIMECapabilities, its certificate and the
 * chain.  detached: the content is not embedded; else streamed (BER).
 * enc (may be NULL): the signer's encryption certificate, included and
 * named by the key preference attributes (smime_keypref.c).
 */
CMS_ContentInfo *smime_cms_sign_new(EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain, X509 *enc, int detached, smime_err_t *err);

/* ---- the key preference (smime_keypref.c) ---- */

/* Adds SMIMEEncryptionKeyPreference and Microsoft's attribute naming enc
 * (issuerAndSerialNumber); 1, or 0 on an OpenSSL error. */
int smime_keypref_add(CMS_SignerInfo *si, X509 *enc);
/* 1 when the signer's key preference names cert, 0 when it names another,
 * -1 when it has none. */
int smime_keypref_names(CMS_SignerInfo *si, X509 *cert);
/* Detached: digests the spool and signs; the caller then writes the DER. */
smime_status_t smime_cms_sign_detached(CMS_ContentInfo *cms, GMimeStream *data,
    smime_err_t *err);
/* Opaque: streams the spool into the SignedData written to bio (any
 * CMS_STREAM content type: EnvelopedData too). */
smime_status_t smime_cms_sign_stream(CMS_ContentInfo *cms, GMimeStream *data,
    BIO *bio, smime_err_t *err);

/* ---- inbound input (smime_in.c) ---- */

#define SMIME_IN_HEADERS_MAX 64   /* Content-* headers of an inner entity */

/* An inbound entity: the body's octets in memory and the entity GMime
 * parsed from the content headers and that body. */
typedef struct smime_in {
	GByteArray *body;
	GMimeObject *entity;
} smime_in_t;

smime_status_t smime_in_load(const char *content_headers,
    const smime_body_t *body, const smime_limits_t *limits, smime_in_t *in,
    smime_err_t *err);
void smime_in_clear(smime_in_t *in);
/* The content of a leaf part with its transfer encoding undone, in a new
 * memory BIO. */
BIO *smime_in_part_bio(GMimePart *part, smime_err_t *err);

/* A list of header fields (name, value without the leading space, folds
 * as LF + white space, no final line end). */
typedef struct smime_hdrs {
	size_t n;
	char *name[SMIME_IN_HEADERS_MAX];
	char *value[SMIME_IN_HEADERS_MAX];
} smime_hdrs_t;

smime_status_t smime_hdrs_add(smime_hdrs_t *h, const char *name,
    const char *value, smime_err_t *err);
void smime_hdrs_clear(smime_hdrs_t *h);
/* Splits a MIME entity (octets) into its Content-* and MIME-Version
 * headers (into h; others dropped) and the offset of its body. */
smime_status_t smime_hdrs_split(const unsigned char *data, size_t len,
    smime_hdrs_t *h, size_t *body_off, smime_err_t *err);

/* ---- trust (smime_trust.c), read by smime_verify.c ---- */

struct smime_trust {
	X509_STORE *store;
	int ncrls;                  /* CRLs loaded: revocation is checked */
};

/* Writes len octets through fn in chunks; 0 or -1. */
int smime_write_all(smime_write_fn fn, void *arg, const unsigned char *p,
    size_t len);

#endif
