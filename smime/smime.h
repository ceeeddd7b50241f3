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
#include <sys/types.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef enum smime_status {
	SMIME_OK = 0,
	SMIME_ERR_NOMEM,
	SMIME_ERR_INPUT,     /* the message cannot be parsed as MIME */
	SMIME_ERR_CRYPTO,    /* OpenSSL failed; the message says where */
	SMIME_ERR_IO,        /* a temporary file or the writer failed */
	SMIME_ERR_USAGE,     /* no signer set, bad argument */
	SMIME_ERR_NOKEY,     /* decryption: no key for any recipient */
	SMIME_ERR_LIMIT      /* the MIME structure passes a limit set with
	                        smime_*_set_limits(): too many parts or
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

/*
 * A body being received or built: in memory up to mem_max octets, then in
 * a temporary file in dir (NULL: $TMPDIR or /tmp), unlinked at once, so
 * memory stays bounded whatever the size.  The same store the S/MIME jobs
 * use inside (smime_spool.c).  Writes append; smime_store_mem() is the
 * data while in memory (NULL once in the file), smime_store_fd() the file
 * (-1 while in memory), for a smime_body_t; smime_store_pread() reads at
 * an offset whichever it is.  Errors: -1, and smime_store_error() gives
 * errno of the first failure and what failed.  One thread at a time.
 */
typedef struct smime_store smime_store_t;
smime_store_t *smime_store_new(const char *dir, size_t mem_max);
void smime_store_free(smime_store_t *st);
int smime_store_write(smime_store_t *st, const void *buf, size_t len);
/* smime_store_write() with the signature of smime_write_fn. */
int smime_store_append(void *st, const void *buf, size_t len);
long long smime_store_size(smime_store_t *st);
const unsigned char *smime_store_mem(smime_store_t *st, size_t *len);
int smime_store_fd(smime_store_t *st);
ssize_t smime_store_pread(smime_store_t *st, long long off, void *buf, size_t len);
int smime_store_error(smime_store_t *st, const char **what);

typedef struct smime_sign smime_sign_t;

void smime_init(void);

/* Classifies a Content-Type header value (NULL: none, so text/plain). */
smime_kind_t smime_classify(const char *content_type);
/*
 * Whether a message (its Content-* header lines, as smime_sign_run()
 * takes them, and its body) really is encrypted, not merely labelled so:
 * an application/pkcs7-mime entity whose content OpenSSL parses as CMS
 * EnvelopedData or AuthEnvelopedData, or a well-formed PGP/MIME
 * multipart/encrypted (RFC 3156: two parts, "Version: 1", an armoured
 * PGP MESSAGE).  *encrypted 1 or 0 (a body that does not parse, or past
 * the limits, is 0); SMIME_OK, or SMIME_ERR_IO / SMIME_ERR_NOMEM.
 */
smime_status_t smime_encrypted_check(const char *content_headers,
    const smime_body_t *body, unsigned max_parts, unsigned max_depth,
    int *encrypted);

/* 1 when the entity (Content-* headers as "Name: value\n" lines,
 * and the body) holds a calendar invitation anywhere in its MIME tree (a
 * text/calendar part with a method parameter or a METHOD: line, an
 * application/ics part); 0 when not; -1 with why when it does not parse
 * or passes the limits (as smime_sign_set_limits(), 0: the defaults). */
int smime_calendar_find(const char *content_headers, const smime_body_t *body,
    unsigned max_parts, unsigned max_depth, char *why, size_t whylen);

smime_sign_t *smime_sign_new(void);
void smime_sign_free(smime_sign_t *s);

/* The signer: key, its certificate and the chain to include (may be NULL). */
smime_status_t smime_sign_set_signer(smime_sign_t *s, EVP_PKEY *key,
    X509 *cert, STACK_OF(X509) *chain);
/* The signer's encryption certificate (after smime_sign_set_signer(), which
 * forgets it; NULL: none): carried in the SignedData and named by the
 * SMIMEEncryptionKeyPreference attribute (RFC 8551 2.5.3, and Microsoft's
 * for Outlook), so that replies are encrypted to it. */
smime_status_t smime_sign_set_encryption_cert(smime_sign_t *s, X509 *enc);
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

/*
 * Encryption (smime_encrypt_*): a MIME entity becomes an
 * application/pkcs7-mime; smime-type=enveloped-data (AES-256-CBC, the
 * default) or authEnveloped-data (AES-256-GCM, RFC 5083/5084) entity,
 * base64, with one RecipientInfo per certificate: RSA key transport
 * (PKCS#1 v1.5, or OAEP when asked) or ECDH key agreement for EC keys.
 * To sign and encrypt, sign first and hand the signed result here with
 * raw set: it is then taken byte for byte (it is already canonical);
 * otherwise the entity is made canonical (CRLF, 7-bit) as for signing.
 * Ownership and threads as for smime_sign_t; the handle keeps its own
 * references to the certificates.
 */
typedef enum smime_cipher {
	SMIME_CIPHER_AES256_CBC = 0,
	SMIME_CIPHER_AES256_GCM
} smime_cipher_t;

typedef struct smime_encrypt smime_encrypt_t;

smime_encrypt_t *smime_encrypt_new(void);
void smime_encrypt_free(smime_encrypt_t *e);
/* Adds a recipient (the same certificate twice counts once). */
smime_status_t smime_encrypt_add_recipient(smime_encrypt_t *e, X509 *cert);
size_t smime_encrypt_nrecipients(const smime_encrypt_t *e);
void smime_encrypt_set_cipher(smime_encrypt_t *e, smime_cipher_t cipher);
/* oaep != 0: RSAES-OAEP (SHA-1, as RFC 8551 implementations expect). */
void smime_encrypt_set_oaep(smime_encrypt_t *e, int oaep);
void smime_encrypt_set_tmpdir(smime_encrypt_t *e, const char *dir, size_t mem_max);
/* Encrypts; content_headers and headers afterwards as for smime_sign_run. */
smime_status_t smime_encrypt_run(smime_encrypt_t *e, const char *content_headers,
    const smime_body_t *body, int raw, smime_write_fn out, void *arg);
size_t smime_encrypt_nheaders(const smime_encrypt_t *e);
const char *smime_encrypt_header_name(const smime_encrypt_t *e, size_t i);
const char *smime_encrypt_header_value(const smime_encrypt_t *e, size_t i);
const char *smime_encrypt_error(const smime_encrypt_t *e);

/*
 * ---- Inbound: decryption (smime_decrypt.c) ----
 *
 * A whole message body that is application/pkcs7-mime (or x-pkcs7-mime)
 * enveloped-data or authEnveloped-data is decrypted with the key the
 * caller's lookup finds for one of its RecipientInfos, and the plaintext
 * MIME entity written through the writer: its body only; its Content-*
 * and MIME-Version headers are listed by smime_decrypt_header_*() (any
 * other header inside is dropped).  Nothing else is ever decrypted: an
 * encrypted part inside a multipart is no "whole body" and is refused
 * (SMIME_ERR_INPUT), so decrypted text is never joined to plaintext
 * around it (EFAIL).  The body is read into memory whole, so callers
 * bound its size first; the plaintext is at most as large.
 *
 * Errors: SMIME_ERR_NOKEY when the lookup knows no RecipientInfo;
 * SMIME_ERR_INPUT for what is not such a body, or malformed MIME or CMS;
 * SMIME_ERR_CRYPTO when decryption fails (wrong key, altered data).
 */

/* The key for one RecipientInfo, named by issuer and serial number
 * (both non-NULL) or by subject key identifier.  Returns 0 with new
 * references in *key and *cert, 1 when there is none, -1 on an error
 * (the lookup keeps its own message). */
typedef int (*smime_key_fn)(void *arg, const X509_NAME *issuer,
    const ASN1_INTEGER *serial, const ASN1_OCTET_STRING *skid,
    EVP_PKEY **key, X509 **cert);

typedef struct smime_decrypt smime_decrypt_t;

smime_decrypt_t *smime_decrypt_new(void);
void smime_decrypt_free(smime_decrypt_t *d);
/* Limits on the MIME structure read (the body, and the decrypted entity),
 * as smime_sign_set_limits(): SMIME_ERR_LIMIT. */
void smime_decrypt_set_limits(smime_decrypt_t *d, unsigned max_parts, unsigned max_depth);
/* The longest header field of the decrypted entity (0: no limit); a
 * longer one is SMIME_ERR_LIMIT, and smime_decrypt_header_too_long() 1. */
void smime_decrypt_set_header_limit(smime_decrypt_t *d, size_t max);
/* Where the body, the ciphertext and the plaintext are spooled past 1 MB
 * (unlinked files; NULL: $TMPDIR or /tmp): memory stays bounded whatever
 * the size.  0, or -1 out of memory.  The same for verification and
 * header protection below. */
int smime_decrypt_set_tmpdir(smime_decrypt_t *d, const char *dir);
int smime_decrypt_header_too_long(const smime_decrypt_t *d);
smime_status_t smime_decrypt_run(smime_decrypt_t *d, const char *content_headers,
    const smime_body_t *body, smime_key_fn lookup, void *lookup_arg,
    smime_write_fn out, void *arg);
/* After a success: 1 for authEnveloped-data (integrity-protected, e.g.
 * AES-GCM), 0 for enveloped-data (e.g. AES-CBC: not integrity-protected). */
int smime_decrypt_authenticated(const smime_decrypt_t *d);

/*
 * What decryption would give with each of n key lookups (one per
 * recipient, args[i] for the lookup), the body parsed once:
 * per lookup, the status smime_decrypt_run() would return for the key
 * (SMIME_OK, SMIME_ERR_NOKEY, SMIME_ERR_CRYPTO when the key does not open
 * the content-encryption key, SMIME_ERR_IO when the lookup failed) and,
 * for SMIME_OK, a SHA-256 of the first octets of the plaintext: two keys
 * that open the same content-encryption key give the same, two that open
 * different ones (a RecipientInfo added with a key of its own) differ.
 * Nothing is checked beyond those octets (no GCM tag, no MIME): a
 * decryption proper with one of the keys comes after.  Returns SMIME_OK,
 * or the failure of the message as a whole (not such a body, malformed,
 * a limit), out[] then untouched.
 */
typedef struct smime_probe {
	smime_status_t st;
	int authenticated;
	unsigned char digest[32];
} smime_probe_t;
smime_status_t smime_decrypt_probe(smime_decrypt_t *d, const char *content_headers,
    const smime_body_t *body, smime_key_fn lookup, void *const *args, size_t n,
    smime_probe_t *out);
size_t smime_decrypt_nheaders(const smime_decrypt_t *d);
/* The other header fields of the decrypted entity (its protected ones,
 * RFC 9788), up to 64; not written with the body. */
size_t smime_decrypt_ninner(const smime_decrypt_t *d);
const char *smime_decrypt_inner_name(const smime_decrypt_t *d, size_t i);
const char *smime_decrypt_inner_value(const smime_decrypt_t *d, size_t i);
const char *smime_decrypt_header_name(const smime_decrypt_t *d, size_t i);
const char *smime_decrypt_header_value(const smime_decrypt_t *d, size_t i);
const char *smime_decrypt_error(const smime_decrypt_t *d);

/*
 * ---- Inbound: verification (smime_verify.c) ----
 *
 * The trust anchors (a CA file, and/or the system's store) with the CRLs
 * configured (a file and/or every file of a directory) form a
 * smime_trust_t, built once and shared by all threads (read-only).
 *
 * A verification job checks a message body that is multipart/signed
 * (application/pkcs7-signature) or pkcs7-mime signed-data: every
 * signature over the content, then each signer's chain to the anchors
 * at the signing time the signature states (or now, when it states none
 * or a future one), with revocation where a CRL for the issuer is
 * loaded, then whether the signer's certificate names the From address.
 * The body is read into memory whole (callers bound its size).
 */
typedef struct smime_trust smime_trust_t;

/*
 * The one builder of a trust store (signature verification here, the
 * certificate checks of directory/): the anchors of ca_file and/or the
 * system's store, and the revocation source: CRLs loaded from crl_file
 * and crl_dir (checked for every certificate whose issuer has one), or
 * none (both NULL or "") when the caller hands CRLs to each verification
 * itself (directory/dir_check.c fetches them over HTTP).  NULL with err
 * filled when a named file cannot be read or holds nothing usable.
 */
smime_trust_t *smime_trust_new(const char *ca_file, int system_store,
    const char *crl_file, const char *crl_dir, char *err, size_t errlen);
void smime_trust_free(smime_trust_t *t);
/* The X509_STORE for X509_STORE_CTX_init(); read-only once shared. */
X509_STORE *smime_trust_store(const smime_trust_t *t);
/* Adds one more trust anchor (the embedded CA's root); only
 * before the trust is shared with other threads.  0, or -1. */
int smime_trust_add(smime_trust_t *t, X509 *cert);
/* What a chain check against t depended on: a number taken afresh from
 * one process-wide counter by smime_trust_new() and by each
 * smime_trust_add(), so no two trusts (another CA file, other CRLs, a
 * reload) and no two states of one trust share it. */
unsigned long smime_trust_generation(const smime_trust_t *t);

/* certs as a certs-only PKCS#7 (DER, *der OPENSSL_malloc'ed, *len
 * octets; smime_certsonly.c).  0, or -1 (out of memory). */
int smime_certs_only(STACK_OF(X509) *certs, unsigned char **der, size_t *len);

typedef enum smime_verdict {
	SMIME_VERDICT_NONE = 0,  /* not verified (not signed, or an error) */
	SMIME_VERDICT_PASS,      /* good signature, trusted, signer is From */
	SMIME_VERDICT_FAIL,      /* the signature does not match the content */
	SMIME_VERDICT_UNTRUSTED, /* no chain to the trust anchors */
	SMIME_VERDICT_EXPIRED,   /* a certificate not valid at signing time */
	SMIME_VERDICT_REVOKED,   /* a certificate revoked */
	SMIME_VERDICT_MISMATCH   /* all good, but the signer is not From */
} smime_verdict_t;

/* "pass", "fail", ... as smimegate(8) documents them. */
const char *smime_verdict_name(smime_verdict_t v);

typedef struct smime_verify smime_verify_t;

smime_verify_t *smime_verify_new(const smime_trust_t *trust);
void smime_verify_free(smime_verify_t *v);
/* The From address to compare with the signer (NULL: none, a mismatch). */
void smime_verify_set_from(smime_verify_t *v, const char *from);
/* Verification time instead of the signing time (0: the signing time). */
void smime_verify_set_time(smime_verify_t *v, time_t when);
/* Opaque signed-data with a good signature is converted to multipart/signed
 * (written through out; the headers are then listed). */
void smime_verify_set_convert(smime_verify_t *v, int convert);
/* Limits on the MIME structure read (the signed entity, and the content
 * of opaque signed-data), as smime_sign_set_limits(): SMIME_ERR_LIMIT. */
void smime_verify_set_limits(smime_verify_t *v, unsigned max_parts, unsigned max_depth);
int smime_verify_set_tmpdir(smime_verify_t *v, const char *dir);

/*
 * A cache of signers' chain checks, kept by the caller (smime/ keeps
 * none; directory/dir_verdict.h has one).  get: 1 when a check of cert,
 * offered with untrusted, under trust generation gen, was good for
 * verification time when; put: such a check was good, for every time
 * from <= when < until.  Only the chain (trust, validity, CRLs) comes
 * from it: every signature is verified on every run.  A check that
 * rested on no answer (a CRL missing or out of date) is not put.
 */
typedef struct smime_chain_cache {
	int (*get)(void *arg, X509 *cert, STACK_OF(X509) *untrusted,
	    unsigned long gen, time_t when);
	void (*put)(void *arg, X509 *cert, STACK_OF(X509) *untrusted,
	    unsigned long gen, time_t from, time_t until);
	void *arg;
} smime_chain_cache_t;
/* Copied; NULL: none (every chain is built). */
void smime_verify_set_chain_cache(smime_verify_t *v, const smime_chain_cache_t *c);

/*
 * Verifies.  SMIME_OK when a verdict was reached (whatever it is); an
 * error (SMIME_ERR_INPUT for what is not signed or does not parse) when
 * none was.  When the body was converted, smime_verify_converted() is 1,
 * the new body went through out and its headers are listed; else out was
 * not called.
 */
smime_status_t smime_verify_run(smime_verify_t *v, const char *content_headers,
    const smime_body_t *body, smime_write_fn out, void *arg);
smime_verdict_t smime_verify_verdict(const smime_verify_t *v);
/* What went wrong, or facts on a pass: one line of plain text. */
const char *smime_verify_detail(const smime_verify_t *v);
/* The signer's first mail address (the From address when it matched). */
const char *smime_verify_signer(const smime_verify_t *v);
/* The first signer's certificate (owned by v), its SMIMECapabilities DER
 * (NULL when absent) and signing time (0 when absent). */
X509 *smime_verify_signer_cert(const smime_verify_t *v);
const unsigned char *smime_verify_caps(const smime_verify_t *v, size_t *len);
time_t smime_verify_signing_time(const smime_verify_t *v);
/* The certificates of the first signer's SignedData that name the signer's
 * address: its own first, then any other end-entity one (a separate
 * encryption certificate).  *preferred (may be NULL) is 1 for the one the
 * signer's SMIMEEncryptionKeyPreference (or Microsoft's attribute) names.
 * Owned by v; NULL past the end. */
size_t smime_verify_ncerts(const smime_verify_t *v);
X509 *smime_verify_cert(const smime_verify_t *v, size_t i, int *preferred);
int smime_verify_converted(const smime_verify_t *v);
size_t smime_verify_nheaders(const smime_verify_t *v);
const char *smime_verify_header_name(const smime_verify_t *v, size_t i);
const char *smime_verify_header_value(const smime_verify_t *v, size_t i);
const char *smime_verify_error(const smime_verify_t *v);

/*
 * ---- Header protection, RFC 9788 (smime_hp.c, smime_hp_mark.c, smime_hp_read.c) ----
 *
 * Outbound, the message's header fields go inside the Cryptographic
 * Payload (the entity signed, or encrypted when not signed) and its
 * Content-Type says hp="clear" (signed only) or hp="cipher" (encrypted).
 * For hp="cipher" the outer header fields are obscured by the baseline
 * Header Confidentiality Policy (smime_hp_baseline(): Subject becomes
 * "[...]", Keywords and Comments go, the rest stays as it is), each outer
 * field as sent is recorded inside as "HP-Outer: Name: value", and the
 * main body's text/plain parts may get a Legacy Display Element (the
 * obscured user-facing fields as "Name: value" lines, then an empty line,
 * at the top of the text; hp-legacy-display="1" on the part) for clients
 * that know nothing of header protection.
 */
typedef enum smime_hp_mode {
	SMIME_HP_NONE = 0,          /* no header protection */
	SMIME_HP_CLEAR,             /* hp="clear": signed only */
	SMIME_HP_CIPHER,            /* hp="cipher": encrypted */
	SMIME_HP_V1                 /* protected-headers="v1" (the drafts before
	                               RFC 9788; read, never written) */
} smime_hp_mode_t;

/* One header field: its name, and its value as the MTA hands it over
 * (no leading space, folds as LF + white space). */
typedef struct smime_hp_field {
	const char *name;
	const char *value;
} smime_hp_field_t;

/* What a signing or encryption job protects (borrowed by the job until
 * its run returns). */
typedef struct smime_hp_out {
	smime_hp_mode_t mode;       /* CLEAR or CIPHER; NONE: nothing */
	const smime_hp_field_t *fields;  /* the message's header fields as the
	                               sender wrote them (smime_hp_protectable()
	                               picks which go inside) */
	size_t n;
	int legacy_display;         /* CIPHER: add the Legacy Display Element */
} smime_hp_out_t;

/* "hp" parameter value of a mode ("clear", "cipher"), or "none"/"v1". */
const char *smime_hp_mode_name(smime_hp_mode_t mode);
/* 1 for Content-* and MIME-Version (the MIME structure's own fields). */
int smime_hp_structural(const char *name);
/* 1 for a field that goes inside the payload: not structural, not one
 * the transport adds (Received, Return-Path, DKIM-Signature, ARC-*,
 * Authentication-Results, Delivered-To, X-Original-To), not HP-Outer. */
int smime_hp_protectable(const char *name);
/* The baseline Header Confidentiality Policy (hcp_baseline): the outer
 * value of a protected field: "[...]" for Subject, NULL (removed) for
 * Keywords and Comments, value itself for every other field. */
const char *smime_hp_baseline(const char *name, const char *value);
/* 1 for the user-facing fields (Subject, From, To, Cc, Date, Reply-To,
 * Followup-To): those a Legacy Display Element shows. */
int smime_hp_user_facing(const char *name);
/* 1 for the fields inbound restores to the outer message (originator,
 * destination, identification and informational fields of RFC 5322). */
int smime_hp_restorable(const char *name);

/* Sets header protection on a job (NULL or mode NONE: none).  For
 * encryption it applies only when the entity is not raw. */
void smime_sign_set_hp(smime_sign_t *s, const smime_hp_out_t *hp);
void smime_encrypt_set_hp(smime_encrypt_t *e, const smime_hp_out_t *hp);

/*
 * Inbound: what the gateway does with one protected field (inner: its
 * value inside the payload; outer: the outer message's, NULL when it has
 * none; recorded: what the payload's HP-Outer says was sent outside for
 * that name, NULL when nothing; verified: the signature over the payload
 * passed; signer: the signer's address (NULL: none)).
 */
typedef enum smime_hp_verdict {
	SMIME_HP_SAME = 0,          /* the outer value is the inner one */
	SMIME_HP_RESTORE,           /* the sender obscured or removed it
	                               (HP-Outer, or Subject "[...]"/"..."):
	                               the inner value is restored */
	SMIME_HP_OVERRIDE,          /* they differ and the signature passed:
	                               the inner value wins (reported) */
	SMIME_HP_REFUSED            /* they differ, or the field names a sender
	                               (From, Sender, Reply-To) without a
	                               signature vouching for it: the outer
	                               value stays (reported) */
} smime_hp_verdict_t;

smime_hp_verdict_t smime_hp_judge(const char *name, const char *inner,
    const char *outer, const char *recorded, int verified, const char *signer);
/* "same", "restored", "override", "refused". */
const char *smime_hp_verdict_name(smime_hp_verdict_t v);

/*
 * Reading a protected entity (a decrypted one, or a signed body): the
 * Cryptographic Payload is the first part of a multipart/signed, else
 * the entity itself (its other header fields are then given with the
 * content headers, as "Name: value\n" lines).  Its mode, its protected
 * fields and HP-Outer records are listed.  When the payload is not under
 * a signature, the entity is written anew through out (the Legacy Display
 * Element of text/plain parts, or the draft's legacy display part, taken
 * out; the hp and protected-headers parameters dropped, since the outer
 * message now carries the fields) and its Content-* headers listed;
 * under a signature nothing is changed (that would break it).
 */
typedef struct smime_hp_in smime_hp_in_t;

smime_hp_in_t *smime_hp_in_new(void);
void smime_hp_in_free(smime_hp_in_t *h);
void smime_hp_in_set_limits(smime_hp_in_t *h, unsigned max_parts, unsigned max_depth);
int smime_hp_in_set_tmpdir(smime_hp_in_t *h, const char *dir);
smime_status_t smime_hp_in_run(smime_hp_in_t *h, const char *headers,
    const smime_body_t *body, smime_write_fn out, void *arg);
smime_hp_mode_t smime_hp_in_mode(const smime_hp_in_t *h);
int smime_hp_in_signed(const smime_hp_in_t *h);     /* payload under a signature */
size_t smime_hp_in_nfields(const smime_hp_in_t *h);
const char *smime_hp_in_field_name(const smime_hp_in_t *h, size_t i);
const char *smime_hp_in_field_value(const smime_hp_in_t *h, size_t i);
/* The first protected field called name, or NULL. */
const char *smime_hp_in_field(const smime_hp_in_t *h, const char *name);
/* What HP-Outer recorded for name, or NULL. */
const char *smime_hp_in_recorded(const smime_hp_in_t *h, const char *name);
/* 1 when a legacy display element or part was found, 2 when taken out. */
int smime_hp_in_legacy(const smime_hp_in_t *h);
/* 1 when the entity was written anew (its headers then listed). */
int smime_hp_in_rewritten(const smime_hp_in_t *h);
size_t smime_hp_in_nheaders(const smime_hp_in_t *h);
const char *smime_hp_in_header_name(const smime_hp_in_t *h, size_t i);
const char *smime_hp_in_header_value(const smime_hp_in_t *h, size_t i);
const char *smime_hp_in_error(const smime_hp_in_t *h);

#endif
