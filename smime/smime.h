/*
 * smime.h: S/MIME operations on a MIME entity: GMime for the MIME, OpenSSL's
 * CMS for all cryptography.  Nothing here knows libmilter, logs or exits.
 *
 * Signing (smime_sign_*): the message's Content-* headers and body become
 * the first part of a multipart/signed (protocol application/pkcs7-signature,
 * micalg sha-256) with a detached CMS signature, or, in opaque mode, an
 * application/pkcs7-mime; smime-type=signed-data entity.  The signed part is
 * canonical (CRLF) and 7-bit safe: 8-bit and binary parts, and parts with
 * lines longer than 998 octets, are re-encoded (quoted-printable or base64)
 * so that no relay can break the signature.
 *
 * Memory: the body may come from a file; it is parsed from that file and
 * the output is streamed through a caller-supplied writer, so memory stays
 * bounded whatever the message size.  Temporary files go in the directory
 * set with smime_sign_set_tmpdir() and are unlinked at once.
 *
 * Ownership: a smime_sign_t is one signing job, created and freed by the
 * caller, used by one thread at a time.  It takes its own references to
 * the key and certificates it is given.  Its error message stays valid
 * until the next call on it or smime_sign_free().
 *
 * smime_init() must be called once, before any thread uses this library.
 */
#ifndef SMIME_H
#define SMIME_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef enum smime_status {
	SMIME_OK = 0,
	SMIME_ERR_NOMEM,
	SMIME_ERR_INPUT,     /* the message cannot be parsed as MIME */
	SMIME_ERR_CRYPTO,    /* OpenSSL failed; the message says where */
	SMIME_ERR_IO,        /* a temporary file or the writer failed */
	SMIME_ERR_USAGE,     /* no signer set, bad argument */
	SMIME_ERR_LIMIT      /* the MIME structure passes a limit set with
	                        smime_sign_set_limits(): too many parts or
	                        nested too deep; the message says which */
} smime_status_t;

/* What a message's top-level Content-Type says it already is. */
typedef enum smime_kind {
	SMIME_KIND_PLAIN = 0,    /* neither signed nor encrypted */
	SMIME_KIND_SIGNED,       /* multipart/signed, or pkcs7-mime signed-data */
	SMIME_KIND_ENCRYPTED     /* pkcs7-mime enveloped/authEnveloped, multipart/encrypted */
} smime_kind_t;

/* Writer for output: returns 0, or -1 to abort the job (SMIME_ERR_IO). */
typedef int (*smime_write_fn)(void *arg, const void *buf, size_t len);

/* The body of the message as received (after the header block), with
 * CRLF or LF line ends.  Neither mem nor fd >= 0: an empty body. */
typedef struct smime_body {
	const unsigned char *mem;   /* the body in memory, or NULL */
	size_t len;
	int fd;                     /* else a file, read from offset 0 (its
	                               offset is moved; it is not closed) */
} smime_body_t;

typedef struct smime_sign smime_sign_t;

void smime_init(void);

/* Classifies a Content-Type header value (NULL: none, so text/plain). */
smime_kind_t smime_classify(const char *content_type);

smime_sign_t *smime_sign_new(void);
void smime_sign_free(smime_sign_t *s);

/* The signer: key, its certificate and the chain to include (may be NULL). */
smime_status_t smime_sign_set_signer(smime_sign_t *s, EVP_PKEY *key,
    X509 *cert, STACK_OF(X509) *chain);
/* opaque != 0: application/pkcs7-mime signed-data instead of multipart/signed. */
void smime_sign_set_opaque(smime_sign_t *s, int opaque);
/* Where temporary files go (NULL: $TMPDIR or /tmp); data up to mem_max
 * octets stays in memory (default: 1 MiB, with $TMPDIR or /tmp). */
void smime_sign_set_tmpdir(smime_sign_t *s, const char *dir, size_t mem_max);

/*
 * Limits on the MIME structure signed (0: the default, 1000 parts and 64
 * levels; depth is capped at 64).  Parts are every entity, the top one
 * included; a message/rfc822 and its body are one level each.  Before
 * parsing, more lines that begin "Content-Type:" than max_parts is
 * refused at once, so that the parser's work stays bounded too.
 */
void smime_sign_set_limits(smime_sign_t *s, unsigned max_parts, unsigned max_depth);

/*
 * Signs.  content_headers holds the message's Content-* header lines
 * ("Name: value" each ending in LF or CRLF, folded lines allowed; "" or
 * NULL when there are none, which means text/plain; charset=us-ascii).
 * The new body is written through out.  Afterwards the message's headers
 * are: every header but Content-* and MIME-Version kept as they were,
 * plus the ones smime_sign_header_*() list.  On failure nothing is listed
 * and whatever was written must be thrown away (a detached signature is
 * made before any output, an opaque one as the output is written).
 * Content headers with an empty line are SMIME_ERR_USAGE.
 */
smime_status_t smime_sign_run(smime_sign_t *s, const char *content_headers,
    const smime_body_t *body, smime_write_fn out, void *arg);

size_t smime_sign_nheaders(const smime_sign_t *s);
const char *smime_sign_header_name(const smime_sign_t *s, size_t i);
const char *smime_sign_header_value(const smime_sign_t *s, size_t i);

const char *smime_sign_error(const smime_sign_t *s);

#endif
