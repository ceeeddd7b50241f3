/*
 * smime_decrypt.c: the smime_decrypt_t handle of smime.h, decryption of a
 * whole application/pkcs7-mime body with OpenSSL's CMS.
 *
 * The body's Content-Type must be application/pkcs7-mime or
 * application/x-pkcs7-mime, with smime-type enveloped-data,
 * authEnveloped-data or none; the decoded content must be a CMS
 * EnvelopedData or AuthEnvelopedData.  For each RecipientInfo (key
 * transport and key agreement; others are skipped) the caller's lookup is
 * asked for a key, by issuer and serial number or subject key identifier;
 * the first key that opens the content-encryption key wins
 * (CMS_decrypt_set1_pkey with the certificate, so that only the matching
 * RecipientInfo is tried and a wrong key is an error, not random output).
 * The plaintext entity is split into its Content-* headers (listed) and
 * its body (written).
 *
 * Memory: the body, the decoded CMS and the plaintext are spools (files
 * past 1 MB, in the directory smime_decrypt_set_tmpdir() names); the CMS
 * is decoded without its encrypted content (smime_detach.c), which
 * CMS_decrypt reads as detached content, in chunks, through a BIO over
 * the spool (smime_bio.c), writing the plaintext into another.  What
 * stays in memory: the CMS structure without the content (RecipientInfos,
 * certificates), the header fields, buffers.  OpenSSL checks the GCM tag
 * (and CBC padding) at the end; the plaintext is used only after that.  smime_decrypt_probe() tries several callers' keys
 * on one parse and digests the first octets each opens to.
 *
 * Ownership: the handle owns its header list and error; keys the lookup
 * returns are freed before smime_decrypt_run() returns.  Threads: one
 * thread at a time per handle.
 */
#include "smime/smime_int.h"
#include "smime/smime_canon.h"
#include "smime/smime_in.h"
#include "smime/smime_bio.h"
#include "smime/smime_detach.h"
#include "smime/smime_spool.h"
#include "util/util_alg.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

struct smime_decrypt {
	int authenticated;
	smime_limits_t limits;
	size_t max_header;          /* octets of one decrypted header field */
	int header_too_long;
	smime_hdrs_t hdrs;
	smime_hdrs_t inner;         /* the entity's other header fields */
	char *tmpdir;               /* NULL: $TMPDIR or /tmp */
	smime_err_t err;
};

smime_decrypt_t *
smime_decrypt_new(void)
{
	return calloc(1, sizeof(smime_decrypt_t));
}

void
smime_decrypt_free(smime_decrypt_t *d)
{
	if (d == NULL)
		return;
	smime_hdrs_clear(&d->hdrs);
	smime_hdrs_clear(&d->inner);
	free(d->tmpdir);
	free(d);
}

int
smime_decrypt_set_tmpdir(smime_decrypt_t *d, const char *dir)
{
	char *copy = dir != NULL ? strdup(dir) : NULL;

	if (dir != NULL && copy == NULL)
		return -1;
	free(d->tmpdir);
	d->tmpdir = copy;
	return 0;
}

void
smime_decrypt_set_limits(smime_decrypt_t *d, unsigned max_parts, unsigned max_depth)
{
	d->limits.max_parts = max_parts;
	d->limits.max_depth = max_depth;
}

void
smime_decrypt_set_header_limit(smime_decrypt_t *d, size_t max)
{
	d->max_header = max;
}

int
smime_decrypt_header_too_long(const smime_decrypt_t *d)
{
	return d != NULL && d->header_too_long;
}

int
smime_decrypt_authenticated(const smime_decrypt_t *d)
{
	return d != NULL && d->authenticated;
}

size_t
smime_decrypt_nheaders(const smime_decrypt_t *d)
{
	return d != NULL ? d->hdrs.n : 0;
}

const char *
smime_decrypt_header_name(const smime_decrypt_t *d, size_t i)
{
	return d != NULL && i < d->hdrs.n ? d->hdrs.name[i] : NULL;
}

const char *
smime_decrypt_header_value(const smime_decrypt_t *d, size_t i)
{
	return d != NULL && i < d->hdrs.n ? d->hdrs.value[i] : NULL;
}

size_t
smime_decrypt_ninner(const smime_decrypt_t *d)
{
	return d != NULL ? d->inner.n : 0;
}

const char *
smime_decrypt_inner_name(const smime_decrypt_t *d, size_t i)
{
	return d != NULL && i < d->inner.n ? d->inner.name[i] : NULL;
}

const char *
smime_decrypt_inner_value(const smime_decrypt_t *d, size_t i)
{
	return d != NULL && i < d->inner.n ? d->inner.value[i] : NULL;
}

const char *
smime_decrypt_error(const smime_decrypt_t *d)
{
	return d != NULL ? d->err.msg : "no decryption handle";
}

/* ---- one job ---- */

/* The CMS of a whole pkcs7-mime enveloped body without its encrypted
 * content, which goes to *content (smime_detach.c); NULL with err. */
static CMS_ContentInfo *
dec_parse(smime_decrypt_t *d, const smime_in_t *in, GMimeStream **content)
{
	GMimeContentType *ct;
	const char *st;
	CMS_ContentInfo *cms;
	GMimeStream *der;
	int nid;

	*content = NULL;
	if (!GMIME_IS_PART(in->entity)) {
		util_err_set(&d->err, SMIME_ERR_INPUT, "not a single encrypted body");
		return NULL;
	}
	ct = g_mime_object_get_content_type(in->entity);
	st = g_mime_content_type_get_parameter(ct, "smime-type");
	if (!(g_mime_content_type_is_type(ct, "application", "pkcs7-mime")
	    || g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
	    || (st != NULL && g_ascii_strcasecmp(st, "enveloped-data") != 0
	    && g_ascii_strcasecmp(st, "authEnveloped-data") != 0)) {
		util_err_set(&d->err, SMIME_ERR_INPUT,
		    "not application/pkcs7-mime enveloped-data");
		return NULL;
	}
	if ((der = smime_in_part_decoded(GMIME_PART(in->entity), d->tmpdir, &d->err)) == NULL)
		return NULL;
	cms = smime_detach_read(der, d->tmpdir, content, &d->err);
	g_object_unref(der);
	if (cms == NULL)
		return NULL;
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData) {
		CMS_ContentInfo_free(cms);
		if (*content != NULL)
			g_object_unref(*content);
		*content = NULL;
		util_err_set(&d->err, SMIME_ERR_INPUT, "the CMS content is %s, not "
		    "enveloped data", OBJ_nid2sn(nid));
		return NULL;
	}
	d->authenticated = nid == NID_id_smime_ct_authEnvelopedData;
	return cms;
}

/* A BIO reading the encrypted content from its start (NULL: none, which
 * OpenSSL reports); *failed when one cannot be made. */
static BIO *
dec_content_bio(GMimeStream *content, int *failed)
{
	BIO *b = NULL;

	*failed = 0;
	if (content != NULL && (g_mime_stream_reset(content) != 0
	    || (b = smime_bio_stream(content)) == NULL))
		*failed = 1;
	return b;
}
/* The identifier of one RecipientInfo; 0, or -1 for a kind we skip. */
static int
dec_rid(CMS_RecipientInfo *ri, X509_NAME **issuer, ASN1_INTEGER **serial,
    ASN1_OCTET_STRING **skid)
{
	STACK_OF(CMS_RecipientEncryptedKey) *reks;

	*issuer = NULL;
	*serial = NULL;
	*skid = NULL;
	switch (CMS_RecipientInfo_type(ri)) {
	case CMS_RECIPINFO_TRANS:
		return CMS_RecipientInfo_ktri_get0_signer_id(ri, skid, issuer, serial) ? 0 : -1;
	case CMS_RECIPINFO_AGREE:
		/* One RecipientEncryptedKey per recipient; we take the first. */
		reks = CMS_RecipientInfo_kari_get0_reks(ri);
		if (sk_CMS_RecipientEncryptedKey_num(reks) < 1)
			return -1;
		return CMS_RecipientEncryptedKey_get0_id(
		    sk_CMS_RecipientEncryptedKey_value(reks, 0), skid, NULL, NULL,
		    issuer, serial) ? 0 : -1;
	default:
		return -1;
	}
}

/* Finds a key for a RecipientInfo and sets it; SMIME_OK, SMIME_ERR_NOKEY,
 * or the failure of the last key tried. */
static smime_status_t
dec_set_key(smime_decrypt_t *d, CMS_ContentInfo *cms, smime_key_fn lookup,
    void *lookup_arg)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	smime_status_t rc = util_err_set(&d->err, SMIME_ERR_NOKEY,
	    "no key for any of its %d RecipientInfo(s)", sk_CMS_RecipientInfo_num(ris));
	X509_NAME *issuer;
	ASN1_INTEGER *serial;
	ASN1_OCTET_STRING *skid;

	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		EVP_PKEY *key = NULL;
		X509 *cert = NULL;
		int found;

		if (dec_rid(sk_CMS_RecipientInfo_value(ris, i), &issuer, &serial, &skid) != 0)
			continue;
		found = lookup(lookup_arg, issuer, serial, skid, &key, &cert);
		if (found < 0)
			rc = util_err_set(&d->err, SMIME_ERR_IO, "the key lookup failed");
		if (found != 0)
			continue;
		if (CMS_decrypt_set1_pkey(cms, key, cert))
			rc = SMIME_OK;
		else
			rc = util_err_ssl(&d->err, SMIME_ERR_CRYPTO, "the escrowed key does not open "
			    "the message");
		EVP_PKEY_free(key);
		X509_free(cert);
		if (rc == SMIME_OK)
			break;
	}
	return rc;
}

/* Decrypts into a spool (a file past SMIME_MEM_DEFAULT); checks what
 * was hidden inside against the same limits as what was not; splits it;
 * writes the body. */
static smime_status_t
dec_output(smime_decrypt_t *d, CMS_ContentInfo *cms, GMimeStream *content,
    smime_write_fn out, void *arg)
{
	GMimeStream *plain = smime_spool_new(d->tmpdir, SMIME_MEM_DEFAULT);
	BIO *bo = smime_bio_stream(plain), *bi;
	smime_status_t rc = SMIME_OK;
	gint64 off = 0;
	int failed, ok;

	bi = dec_content_bio(content, &failed);
	if (bo == NULL || failed)
		rc = util_err_set(&d->err, SMIME_ERR_NOMEM, "out of memory");
	if (rc == SMIME_OK) {
		ok = CMS_decrypt(cms, NULL, NULL, bi, bo, CMS_BINARY);
		if (smime_spool_error(plain, NULL) != 0)
			rc = util_err_set(&d->err, SMIME_ERR_IO, "cannot write a temporary file");
		else if (!ok)
			rc = util_err_ssl(&d->err, SMIME_ERR_CRYPTO, "decryption failed");
	}
	BIO_free(bi);
	BIO_free(bo);
	if (rc == SMIME_OK) {
		rc = smime_in_header_check(plain, d->max_header, &d->err);
		d->header_too_long = rc == SMIME_ERR_LIMIT;
	}
	if (rc == SMIME_OK)
		rc = smime_in_entity_split(plain, &d->limits, &d->hdrs, &d->inner, &off, &d->err);
	if (rc == SMIME_OK && smime_in_stream_out(plain, off, out, arg) != 0)
		rc = util_err_set(&d->err, SMIME_ERR_IO, "the output writer failed");
	smime_spool_cleanse(plain);
	g_object_unref(plain);
	return rc;
}

/* Octets of plaintext that tell content-encryption keys apart. */
#define DEC_PROBE_LEN 4096

/* The digest of the first octets of the plaintext, the key set. */
static smime_status_t
dec_probe_one(smime_decrypt_t *d, CMS_ContentInfo *cms, GMimeStream *content,
    unsigned char digest[32])
{
	unsigned char buf[DEC_PROBE_LEN];
	unsigned int len = 0;
	int got = 0, n = 0, failed;
	BIO *src = dec_content_bio(content, &failed), *b;
	smime_status_t rc = SMIME_OK;

	if (failed)
		return util_err_set(&d->err, SMIME_ERR_NOMEM, "out of memory");
	if ((b = CMS_dataInit(cms, src)) == NULL) {
		BIO_free(src);
		return util_err_ssl(&d->err, SMIME_ERR_CRYPTO, "decryption failed");
	}
	while (got < (int)sizeof(buf) && (n = BIO_read(b, buf + got, (int)sizeof(buf) - got)) > 0)
		got += n;
	if (got == 0 && n <= 0 && BIO_method_type(b) == BIO_TYPE_CIPHER
	    && !BIO_get_cipher_status(b))
		rc = util_err_ssl(&d->err, SMIME_ERR_CRYPTO, "decryption failed");
	else if (!EVP_Digest(buf, (size_t)got, digest, &len, util_alg_sha256(), NULL) || len != 32)
		rc = util_err_ssl(&d->err, SMIME_ERR_CRYPTO, "SHA-256 failed");
	OPENSSL_cleanse(buf, sizeof(buf));
	BIO_free_all(b);
	return rc;
}

smime_status_t
smime_decrypt_probe(smime_decrypt_t *d, const char *content_headers,
    const smime_body_t *body, smime_key_fn lookup, void *const *args, size_t n,
    smime_probe_t *out)
{
	CMS_ContentInfo *cms = NULL;
	GMimeStream *content = NULL;
	smime_in_t in;
	smime_status_t rc;

	if (d == NULL)
		return SMIME_ERR_USAGE;
	util_err_clear(&d->err);
	d->authenticated = 0;
	if (body == NULL || lookup == NULL || (n > 0 && (args == NULL || out == NULL)))
		return util_err_set(&d->err, SMIME_ERR_USAGE,
		    "smime_decrypt_probe needs a body, a key lookup and its arguments");
	rc = smime_in_load_at(d->tmpdir, content_headers, body, &d->limits, &in, &d->err);
	if (rc == SMIME_OK && (cms = dec_parse(d, &in, &content)) == NULL)
		rc = d->err.code;
	for (size_t i = 0; rc == SMIME_OK && i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].authenticated = d->authenticated;
		out[i].st = dec_set_key(d, cms, lookup, args[i]);
		if (out[i].st == SMIME_OK)
			out[i].st = dec_probe_one(d, cms, content, out[i].digest);
	}
	if (content != NULL)
		g_object_unref(content);
	CMS_ContentInfo_free(cms);
	smime_in_clear(&in);
	ERR_clear_error();
	return rc;
}

smime_status_t
smime_decrypt_run(smime_decrypt_t *d, const char *content_headers,
    const smime_body_t *body, smime_key_fn lookup, void *lookup_arg,
    smime_write_fn out, void *arg)
{
	CMS_ContentInfo *cms = NULL;
	GMimeStream *content = NULL;
	smime_in_t in;
	smime_status_t rc;

	if (d == NULL)
		return SMIME_ERR_USAGE;
	util_err_clear(&d->err);
	smime_hdrs_clear(&d->hdrs);
	smime_hdrs_clear(&d->inner);
	d->authenticated = 0;
	d->header_too_long = 0;
	if (body == NULL || lookup == NULL || out == NULL)
		return util_err_set(&d->err, SMIME_ERR_USAGE,
		    "smime_decrypt_run needs a body, a key lookup and a writer");
	rc = smime_in_load_at(d->tmpdir, content_headers, body, &d->limits, &in, &d->err);
	if (rc == SMIME_OK && (cms = dec_parse(d, &in, &content)) == NULL)
		rc = d->err.code;
	if (rc == SMIME_OK)
		rc = dec_set_key(d, cms, lookup, lookup_arg);
	if (rc == SMIME_OK)
		rc = dec_output(d, cms, content, out, arg);
	if (rc != SMIME_OK) {
		smime_hdrs_clear(&d->hdrs);
		smime_hdrs_clear(&d->inner);
	}
	if (content != NULL)
		g_object_unref(content);
	CMS_ContentInfo_free(cms);
	smime_in_clear(&in);
	ERR_clear_error();
	return rc;
}
