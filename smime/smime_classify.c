/*
 * smime_classify.c: what a top-level Content-Type says a message already
 * is, so that the gateway neither signs a signed message nor an encrypted
 * one.  GMime parses the header value (it copes with any garbage).
 *
 * Threads: no state; needs smime_init() first.
 */
#include "smime/smime_int.h"

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

smime_kind_t
smime_classify(const char *content_type)
{
	GMimeContentType *ct;
	smime_kind_t kind = SMIME_KIND_PLAIN;

	if (content_type == NULL || *content_type == '\0')
		return SMIME_KIND_PLAIN;
	ct = g_mime_content_type_parse(NULL, content_type);
	if (ct == NULL)
		return SMIME_KIND_PLAIN;
	if (g_mime_content_type_is_type(ct, "multipart", "signed"))
		kind = SMIME_KIND_SIGNED;
	else if (g_mime_content_type_is_type(ct, "multipart", "encrypted"))
		kind = SMIME_KIND_ENCRYPTED;
	else if (g_mime_content_type_is_type(ct, "application", "pkcs7-mime") ||
	    g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
		kind = classify_pkcs7_mime(ct);
	g_object_unref(ct);
	return kind;
}
