/*
 * smime_classify.c: what a top-level Content-Type says a message already
 * is, so that the gateway neither signs a signed message nor an encrypted
 * one.  GMime parses the header value (it copes with any garbage).
 * smime_encrypted_check(): whether a body labelled encrypted really is
 * (the label alone never lets mail pass as encrypted).
 *
 * Threads: no state; needs smime_init() first.
 */
#include "smime/smime_int.h"
#include "smime/smime_in.h"
#include "smime/smime_detach.h"

#include <string.h>
#include <openssl/err.h>

static smime_kind_t
classify_pkcs7_mime(GMimeContentType *ct)
{
	const char *st = g_mime_content_type_get_parameter(ct, "smime-type");

	if (st == NULL || g_ascii_strcasecmp(st, "enveloped-data") == 0 ||
	    g_ascii_strcasecmp(st, "authEnveloped-data") == 0)
		return SMIME_KIND_ENCRYPTED;
	if (g_ascii_strcasecmp(st, "signed-data") == 0)
		return SMIME_KIND_SIGNED;
	return SMIME_KIND_PLAIN;          /* certs-only, compressed-data */
}

static smime_kind_t
classify_type(GMimeContentType *ct)
{
	if (g_mime_content_type_is_type(ct, "multipart", "signed"))
		return SMIME_KIND_SIGNED;
	if (g_mime_content_type_is_type(ct, "multipart", "encrypted"))
		return SMIME_KIND_ENCRYPTED;
	if (g_mime_content_type_is_type(ct, "application", "pkcs7-mime") ||
	    g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
		return classify_pkcs7_mime(ct);
	return SMIME_KIND_PLAIN;
}

smime_kind_t
smime_classify(const char *content_type)
{
	GMimeContentType *ct;
	smime_kind_t kind;

	if (content_type == NULL || *content_type == '\0')
		return SMIME_KIND_PLAIN;
	ct = g_mime_content_type_parse(NULL, content_type);
	if (ct == NULL)
		return SMIME_KIND_PLAIN;
	kind = classify_type(ct);
	g_object_unref(ct);
	return kind;
}

/* ---- smime_encrypted_check(): labelled encrypted, and really is ---- */

/* The part's content decodes to a CMS EnvelopedData or AuthEnvelopedData
 * (read with its content set apart: memory stays bounded). */
static int
check_cms(GMimeObject *entity, smime_err_t *err)
{
	CMS_ContentInfo *cms;
	GMimeStream *der, *content = NULL;
	int nid;

	if (!GMIME_IS_PART(entity)
	    || (der = smime_in_part_decoded(GMIME_PART(entity), NULL, err)) == NULL)
		return 0;
	cms = smime_detach_read(der, NULL, &content, err);
	g_object_unref(der);
	if (content != NULL)
		g_object_unref(content);
	nid = cms != NULL ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return nid == NID_pkcs7_enveloped || nid == NID_id_smime_ct_authEnvelopedData;
}

/* The decoded content of a leaf part, NUL-terminated, or NULL. */
static char *
part_text(GMimeObject *obj, smime_err_t *err)
{
	BIO *b;
	char *p, *s;
	long n;

	if (!GMIME_IS_PART(obj) || (b = smime_in_part_bio(GMIME_PART(obj), err)) == NULL)
		return NULL;
	n = BIO_get_mem_data(b, &p);
	s = n >= 0 ? g_strndup(p, (gsize)n) : NULL;
	BIO_free(b);
	return s;
}

/* RFC 3156: protocol application/pgp-encrypted, exactly two parts, the
 * control part "Version: 1", the second one ASCII-armoured PGP MESSAGE
 * (its armour lines in order, something between them). */
static int
check_pgp(GMimeObject *entity, smime_err_t *err)
{
	GMimeMultipart *mp;
	const char *proto;
	char *ctl = NULL, *data = NULL, *begin, *end;
	int ok = 0;

	if (!GMIME_IS_MULTIPART(entity) || g_mime_multipart_get_count(mp =
	    GMIME_MULTIPART(entity)) != 2)
		return 0;
	proto = g_mime_object_get_content_type_parameter(entity, "protocol");
	if (proto == NULL || g_ascii_strcasecmp(proto, "application/pgp-encrypted") != 0
	    || !g_mime_content_type_is_type(g_mime_object_get_content_type(
	    g_mime_multipart_get_part(mp, 0)), "application", "pgp-encrypted")
	    || !g_mime_content_type_is_type(g_mime_object_get_content_type(
	    g_mime_multipart_get_part(mp, 1)), "application", "octet-stream"))
		return 0;
	ctl = part_text(g_mime_multipart_get_part(mp, 0), err);
	data = part_text(g_mime_multipart_get_part(mp, 1), err);
	if (ctl != NULL && data != NULL && strstr(ctl, "Version: 1") != NULL
	    && (begin = strstr(data, "-----BEGIN PGP MESSAGE-----")) != NULL
	    && (end = strstr(begin, "-----END PGP MESSAGE-----")) != NULL)
		ok = end - begin > (long)strlen("-----BEGIN PGP MESSAGE-----") + 2;
	g_free(ctl);
	g_free(data);
	return ok;
}

smime_status_t
smime_encrypted_check(const char *content_headers, const smime_body_t *body,
    unsigned max_parts, unsigned max_depth, int *encrypted)
{
	smime_limits_t limits = { max_parts, max_depth };
	smime_err_t err;
	smime_in_t in;
	GMimeContentType *ct;
	smime_status_t st;

	*encrypted = 0;
	util_err_clear(&err);
	st = smime_in_load(content_headers, body, &limits, &in, &err);
	if (st == SMIME_ERR_IO || st == SMIME_ERR_NOMEM) {
		smime_in_clear(&in);
		return st;
	}
	if (st == SMIME_OK) {
		ct = g_mime_object_get_content_type(in.entity);
		if (g_mime_content_type_is_type(ct, "multipart", "encrypted"))
			*encrypted = check_pgp(in.entity, &err);
		else if (classify_type(ct) == SMIME_KIND_ENCRYPTED)
			*encrypted = check_cms(in.entity, &err);
	}
	smime_in_clear(&in);
	return err.code == SMIME_ERR_NOMEM ? SMIME_ERR_NOMEM : SMIME_OK;
}
