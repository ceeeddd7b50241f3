/*
 * smime_keypref.c: the certificate a signer wants mail encrypted to.
 *
 * RFC 8551 2.5.3's SMIMEEncryptionKeyPreference signed attribute
 * (id-aa-encrypKeyPref, 1.2.840.113549.1.9.16.2.11):
 *
 *   SMIMEEncryptionKeyPreference ::= CHOICE {
 *     issuerAndSerialNumber   [0] IssuerAndSerialNumber,
 *     receipentKeyId          [1] RecipientKeyIdentifier,
 *     subjectAltKeyIdentifier [2] SubjectKeyIdentifier }      (IMPLICIT)
 *
 * and Microsoft's older attribute (1.3.6.1.4.1.311.16.4), a bare
 * IssuerAndSerialNumber, which Outlook writes and reads.  Both are encoded
 * and decoded with OpenSSL's ASN.1 templates.  We write the
 * issuerAndSerialNumber choice in both; we read every choice of the first
 * and the second.
 *
 * Threads: no shared state.
 */
#include "smime/smime_keypref.h"
#include "smime/smime_int.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define KEYPREF_MS_OID "1.3.6.1.4.1.311.16.4"

typedef struct keypref_ias {
	X509_NAME *issuer;
	ASN1_INTEGER *serial;
} KEYPREF_IAS;

ASN1_SEQUENCE(KEYPREF_IAS) = {
	ASN1_SIMPLE(KEYPREF_IAS, issuer, X509_NAME),
	ASN1_SIMPLE(KEYPREF_IAS, serial, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(KEYPREF_IAS)

/* RecipientKeyIdentifier (RFC 5652 6.2.2); other is OtherKeyAttribute. */
typedef struct keypref_rkid {
	ASN1_OCTET_STRING *skid;
	ASN1_GENERALIZEDTIME *date;
	ASN1_SEQUENCE_ANY *other;
} KEYPREF_RKID;

ASN1_SEQUENCE(KEYPREF_RKID) = {
	ASN1_SIMPLE(KEYPREF_RKID, skid, ASN1_OCTET_STRING),
	ASN1_OPT(KEYPREF_RKID, date, ASN1_GENERALIZEDTIME),
	ASN1_OPT(KEYPREF_RKID, other, ASN1_SEQUENCE_ANY)
} static_ASN1_SEQUENCE_END(KEYPREF_RKID)

typedef struct keypref {
	int type;
	union {
		KEYPREF_IAS *ias;
		KEYPREF_RKID *rkid;
		ASN1_OCTET_STRING *skid;
	} d;
} KEYPREF;

ASN1_CHOICE(KEYPREF) = {
	ASN1_IMP(KEYPREF, d.ias, KEYPREF_IAS, 0),
	ASN1_IMP(KEYPREF, d.rkid, KEYPREF_RKID, 1),
	ASN1_IMP(KEYPREF, d.skid, ASN1_OCTET_STRING, 2)
} static_ASN1_CHOICE_END(KEYPREF)

/* The IssuerAndSerialNumber of cert, borrowed (not to be freed). */
static void
ias_of(X509 *cert, KEYPREF_IAS *ias)
{
	ias->issuer = X509_get_issuer_name(cert);
	ias->serial = (ASN1_INTEGER *)X509_get0_serialNumber(cert);
}

/* Adds the RFC 8551 attribute, whose value is the DER in der: a
 * context-tagged value, an ASN1_TYPE of V_ASN1_OTHER (which
 * CMS_signed_add1_attr_by_OBJ() cannot take). */
static int
keypref_attr_rfc(CMS_SignerInfo *si, const unsigned char *der, int len)
{
	ASN1_STRING *str = len > 0 ? ASN1_STRING_new() : NULL;
	X509_ATTRIBUTE *a = NULL;
	int ok = 0;

	if (str != NULL && ASN1_STRING_set(str, der, len)
	    && (a = X509_ATTRIBUTE_create(NID_id_smime_aa_encrypKeyPref, V_ASN1_OTHER,
	    str)) != NULL) {
		str = NULL;             /* the attribute's now */
		ok = CMS_signed_add1_attr(si, a);
	}
	ASN1_STRING_free(str);
	X509_ATTRIBUTE_free(a);
	return ok;
}

int
smime_keypref_add(CMS_SignerInfo *si, X509 *enc)
{
	KEYPREF_IAS ias;
	KEYPREF pref;
	unsigned char *der = NULL;
	ASN1_OBJECT *ms = OBJ_txt2obj(KEYPREF_MS_OID, 1);
	int len, ok;

	ias_of(enc, &ias);
	pref.type = 0;
	pref.d.ias = &ias;
	len = ASN1_item_i2d((ASN1_VALUE *)&pref, &der, ASN1_ITEM_rptr(KEYPREF));
	ok = keypref_attr_rfc(si, der, len);
	OPENSSL_free(der);
	der = NULL;
	len = ASN1_item_i2d((ASN1_VALUE *)&ias, &der, ASN1_ITEM_rptr(KEYPREF_IAS));
	ok = ok && ms != NULL && len > 0
	    && CMS_signed_add1_attr_by_OBJ(si, ms, V_ASN1_SEQUENCE, der, len);
	OPENSSL_free(der);
	ASN1_OBJECT_free(ms);
	return ok;
}

static int
ias_names(const KEYPREF_IAS *ias, X509 *cert)
{
	return ias != NULL && X509_NAME_cmp(ias->issuer, X509_get_issuer_name(cert)) == 0
	    && ASN1_INTEGER_cmp(ias->serial, X509_get0_serialNumber(cert)) == 0;
}

static int
skid_names(const ASN1_OCTET_STRING *skid, X509 *cert)
{
	const ASN1_OCTET_STRING *own = X509_get0_subject_key_id(cert);

	return skid != NULL && own != NULL && ASN1_OCTET_STRING_cmp(skid, own) == 0;
}

/* The DER of the first value of signed attribute obj, or NULL. */
static const ASN1_STRING *
attr_der(CMS_SignerInfo *si, const ASN1_OBJECT *obj)
{
	int i = obj != NULL ? CMS_signed_get_attr_by_OBJ(si, obj, -1) : -1;
	X509_ATTRIBUTE *a = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
	ASN1_TYPE *t = a != NULL ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;

	if (t == NULL || (t->type != V_ASN1_OTHER && t->type != V_ASN1_SEQUENCE))
		return NULL;
	return t->value.asn1_string;
}

static int
rfc_names(CMS_SignerInfo *si, X509 *cert)
{
	const ASN1_STRING *s = attr_der(si, OBJ_nid2obj(NID_id_smime_aa_encrypKeyPref));
	const unsigned char *p = s != NULL ? ASN1_STRING_get0_data(s) : NULL;
	KEYPREF *pref = p != NULL ? (KEYPREF *)ASN1_item_d2i(NULL, &p,
	    ASN1_STRING_length(s), ASN1_ITEM_rptr(KEYPREF)) : NULL;
	int r = 0;

	if (pref == NULL)
		return -1;
	if (pref->type == 0)
		r = ias_names(pref->d.ias, cert);
	else if (pref->type == 1)
		r = pref->d.rkid != NULL && skid_names(pref->d.rkid->skid, cert);
	else if (pref->type == 2)
		r = skid_names(pref->d.skid, cert);
	ASN1_item_free((ASN1_VALUE *)pref, ASN1_ITEM_rptr(KEYPREF));
	return r;
}

static int
ms_names(CMS_SignerInfo *si, X509 *cert)
{
	ASN1_OBJECT *ms = OBJ_txt2obj(KEYPREF_MS_OID, 1);
	const ASN1_STRING *s = attr_der(si, ms);
	const unsigned char *p = s != NULL ? ASN1_STRING_get0_data(s) : NULL;
	KEYPREF_IAS *ias = p != NULL ? (KEYPREF_IAS *)ASN1_item_d2i(NULL, &p,
	    ASN1_STRING_length(s), ASN1_ITEM_rptr(KEYPREF_IAS)) : NULL;
	int r = ias_names(ias, cert);

	ASN1_item_free((ASN1_VALUE *)ias, ASN1_ITEM_rptr(KEYPREF_IAS));
	ASN1_OBJECT_free(ms);
	return r;
}

int
smime_keypref_names(CMS_SignerInfo *si, X509 *cert)
{
	int r = rfc_names(si, cert);

	if (r < 0)      /* no RFC 8551 attribute: Microsoft's */
		r = ms_names(si, cert);
	ERR_clear_error();
	return r;
}
