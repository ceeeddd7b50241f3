/*
 * fuzz_detach.c: a CMS structure (any bytes, BER or DER) through
 * smime_detach_read(), which walks the encoding to set the content apart
 * (smime_detach.c), checked against OpenSSL decoding it whole: when d2i
 * reads a SignedData with its content, the walk must succeed too, give
 * the same content octets and a structure OpenSSL reads as detached; an
 * EnvelopedData or AuthEnvelopedData d2i reads must walk as well.  Any
 * input: no crash, no leak, and a failure has a message.
 *
 * Input: the CMS ContentInfo's octets.  Seeds: tests/fuzz/seeds/detach
 * (openssl cms output, DER and BER with indefinite lengths).
 */
#include "smime/smime_detach.h"
#include "smime/smime_spool.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The octets of s. */
static GByteArray *
all_of(GMimeStream *s)
{
	GByteArray *a = g_byte_array_new();
	char buf[4096];
	ssize_t n;

	g_mime_stream_reset(s);
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0)
		g_byte_array_append(a, (const guint8 *)buf, (guint)n);
	return a;
}

/* What d2i says: the type, and a SignedData's content (NULL: none). */
static int
whole(const uint8_t *data, size_t size, ASN1_OCTET_STRING **content)
{
	const unsigned char *p = data;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)size);
	ASN1_OCTET_STRING **pos;
	int nid;

	*content = NULL;
	if (cms == NULL)
		return NID_undef;
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid == NID_pkcs7_signed && (pos = CMS_get0_content(cms)) != NULL && *pos != NULL)
		*content = ASN1_OCTET_STRING_dup(*pos);
	CMS_ContentInfo_free(cms);
	return nid;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	GMimeStream *der, *content = NULL;
	ASN1_OCTET_STRING *want;
	CMS_ContentInfo *cms;
	smime_err_t err = { 0 };
	int nid;

	if (!init) {
		g_mime_init();
		init = 1;
	}
	nid = whole(data, size, &want);
	der = g_mime_stream_mem_new_with_buffer((const char *)data, size);
	cms = smime_detach_read(der, fuzz_dir(), &content, &err);
	if (cms == NULL && err.msg[0] == '\0')
		abort();                        /* a failure says why */
	if (cms == NULL && (nid == NID_pkcs7_enveloped || nid == NID_pkcs7_signed
	    || nid == NID_id_smime_ct_authEnvelopedData) && size < SMIME_DETACH_FRAME_MAX)
		abort();                        /* OpenSSL reads it: so must the walk */
	if (cms != NULL && want != NULL) {
		GByteArray *got = content != NULL ? all_of(content) : NULL;

		if (got == NULL || got->len != (guint)ASN1_STRING_length(want)
		    || memcmp(got->data, ASN1_STRING_get0_data(want), got->len) != 0
		    || !CMS_is_detached(cms))
			abort();                    /* the same content, set apart */
		g_byte_array_free(got, TRUE);
	}
	ASN1_OCTET_STRING_free(want);
	CMS_ContentInfo_free(cms);
	if (content != NULL)
		g_object_unref(content);
	g_object_unref(der);
	ERR_clear_error();
	return 0;
}
