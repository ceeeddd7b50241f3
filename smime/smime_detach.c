/*
 * smime_detach.c: a CMS ContentInfo read with its content set apart.
 *
 * OpenSSL decodes a CMS structure only whole (d2i_CMS_bio reads every
 * octet into memory, then copies the content into the structure: a 25 MB
 * message costs twice its size).  Yet CMS_decrypt and CMS_verify take the
 * content as a separate BIO (detached), which they read in chunks.  So
 * the encoding is walked here with OpenSSL's ASN1_get_object(), header by
 * header, along one path:
 *
 *   ContentInfo SEQUENCE { contentType, [0] { SEQUENCE {          (*)
 *       ..., the first SEQUENCE (EncryptedContentInfo or
 *       EncapsulatedContentInfo) { ..., [0] content }, ... } } }
 *
 * Every element on it but the content is copied as it is (OpenSSL checks
 * them when it decodes); the enclosing headers are written anew with
 * definite lengths; the content's octets (the [0] IMPLICIT OCTET STRING
 * of enveloped data, primitive or in segments, or the OCTET STRING inside
 * the [0] EXPLICIT of signed data) go to a spool.  d2i then decodes the
 * structure alone: a ContentInfo whose content is absent, which CMS
 * allows and OpenSSL reads as detached.  What the walk cannot frame and
 * is at most SMIME_DETACH_FRAME_MAX octets is decoded whole, the old
 * way, and its content set apart after (whole()).
 *
 * The certificates of SignedData (its [0] CertificateSet) are left out
 * of the frame too when each is a plain Certificate, none twice, at most
 * DETACH_CERTS: each comes from smime_certcache.c (decoded once per
 * process from the same octets) and is added back, in order, after d2i
 * (CMS_add1_cert).  The certificates are not signed; OpenSSL holds them
 * the same either way.  Otherwise they stay in the frame.
 *
 * Bounds: nesting (indefinite lengths skipped) at most DETACH_DEPTH, the
 * structure outside the content SMIME_DETACH_FRAME_MAX octets.
 * Ownership: the caller frees the ContentInfo and unrefs the spool.
 * Threads: no state.
 */
#include "smime/smime_detach.h"
#include "smime/smime_spool.h"
#include "smime/smime_certcache.h"

#include <string.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#define DETACH_DEPTH 30         /* OpenSSL's own limit of nested encodings */
#define DETACH_HEAD 256         /* more than any header ASN1_get_object takes */
#define DETACH_CHUNK 65536
#define DETACH_CERTS 16         /* certificates taken from the cache, at most */

typedef struct walk {
	GMimeStream *s;
	gint64 size;
	GMimeStream *content;       /* the content's octets, once found */
	size_t framed;              /* octets copied outside the content */
	const char *tmpdir;
	smime_err_t *err;
	STACK_OF(X509) *certs;      /* SignedData's, left out of the frame */
} walk_t;

/* One element's header. */
typedef struct tlv {
	gint64 off, hlen;
	gint64 len;                 /* -1: indefinite */
	int tag, cls, cons;
} tlv_t;

static int
bad(walk_t *w, const char *what)
{
	util_err_set(w->err, SMIME_ERR_INPUT, "malformed CMS: %s", what);
	return -1;
}

static int
read_at(walk_t *w, gint64 off, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	if (g_mime_stream_seek(w->s, off, GMIME_STREAM_SEEK_SET) != off) {
		util_err_set(w->err, SMIME_ERR_IO, "cannot seek the decoded content");
		return -1;
	}
	while (got < len && (n = g_mime_stream_read(w->s, (char *)buf + got, len - got)) > 0)
		got += (size_t)n;
	if (got < len) {
		util_err_set(w->err, SMIME_ERR_IO, "cannot read the decoded content");
		return -1;
	}
	return 0;
}

/* The header at off of an element that must end by limit. */
static int
head(walk_t *w, gint64 off, gint64 limit, tlv_t *t)
{
	unsigned char buf[DETACH_HEAD];
	const unsigned char *p = buf;
	size_t n = limit - off < (gint64)sizeof(buf) ? (size_t)(limit - off) : sizeof(buf);
	long len;
	int ret;

	if (off >= limit)
		return bad(w, "an element runs past its end");
	if (read_at(w, off, buf, n) != 0)
		return -1;
	ret = ASN1_get_object(&p, &len, &t->tag, &t->cls, (long)(limit - off));
	if (ret & 0x80) {
		ERR_clear_error();
		return bad(w, "a bad header or length");
	}
	t->off = off;
	t->hlen = p - buf;
	t->cons = (ret & V_ASN1_CONSTRUCTED) != 0;
	t->len = ret == 0x21 ? -1 : len;
	return 0;
}

static int
is_eoc(const tlv_t *t)
{
	return t->tag == 0 && t->cls == V_ASN1_UNIVERSAL && !t->cons && t->len == 0;
}

/* Where the element ends; an indefinite one is walked to its end-of-contents. */
static gint64
end_of(walk_t *w, const tlv_t *t, int depth)
{
	gint64 pos;
	tlv_t c;

	if (t->len >= 0)
		return t->off + t->hlen + t->len;
	if (depth >= DETACH_DEPTH)
		return bad(w, "nested too deep");
	for (pos = t->off + t->hlen;; pos = end_of(w, &c, depth + 1)) {
		if (pos < 0 || head(w, pos, w->size, &c) != 0)
			return -1;
		if (is_eoc(&c))
			return pos + c.hlen;
	}
}

/* The next child of parent at *pos: 1 with c, 0 at its end, -1 error. */
static int
next_child(walk_t *w, const tlv_t *parent, gint64 pend, gint64 *pos, tlv_t *c)
{
	if (parent->len >= 0 && *pos == pend)
		return 0;
	if (head(w, *pos, parent->len >= 0 ? pend : w->size, c) != 0)
		return -1;
	if (parent->len < 0 && is_eoc(c)) {
		*pos += c->hlen;
		return 0;
	}
	return 1;
}

/* Copies octets [from, to) of the input to a (the frame, bounded) or to
 * the content spool (a NULL). */
static int
copy(walk_t *w, gint64 from, gint64 to, GByteArray *a)
{
	char buf[DETACH_CHUNK];

	if (a != NULL && (w->framed += (size_t)(to - from)) > SMIME_DETACH_FRAME_MAX) {
		util_err_set(w->err, SMIME_ERR_INPUT, "the CMS structure outside its content "
		    "passes %u octets", SMIME_DETACH_FRAME_MAX);
		return -1;
	}
	while (from < to) {
		size_t n = to - from < (gint64)sizeof(buf) ? (size_t)(to - from) : sizeof(buf);

		if (read_at(w, from, buf, n) != 0)
			return -1;
		if (a != NULL)
			g_byte_array_append(a, (const guint8 *)buf, (guint)n);
		else if (g_mime_stream_write(w->content, buf, n) != (ssize_t)n) {
			util_err_set(w->err, SMIME_ERR_IO, "cannot write a temporary file");
			return -1;
		}
		from += (gint64)n;
	}
	return 0;
}

/* The octets of an OCTET STRING (any tag at the top: [0] IMPLICIT),
 * primitive or in segments, to the content spool; its end in *end. */
static int
octets(walk_t *w, const tlv_t *t, int depth, gint64 *end)
{
	gint64 pend = t->len >= 0 ? t->off + t->hlen + t->len : -1, pos = t->off + t->hlen;
	tlv_t c;
	int r;

	/* A segment's tag is not checked: X.690 wants OCTET STRINGs, but
	 * OpenSSL's decoder (which reads the rest, and read the whole before
	 * the walk existed) collects segments of any tag, so the walk sets
	 * apart exactly the octets OpenSSL would have used. */
	if (depth >= DETACH_DEPTH)
		return bad(w, "nested too deep");
	if (!t->cons) {
		*end = pend;
		return copy(w, pos, pend, NULL);
	}
	while ((r = next_child(w, t, pend, &pos, &c)) == 1)
		if (octets(w, &c, depth + 1, &pos) != 0)
			return -1;
	*end = pos;
	return r;
}

/* The content element ([0] of the content info): explicit (signed data)
 * holds one OCTET STRING, else it is one. */
static int
detach_content(walk_t *w, const tlv_t *t, int explicit, gint64 *end)
{
	gint64 pend = t->len >= 0 ? t->off + t->hlen + t->len : -1, pos = t->off + t->hlen;
	tlv_t c;

	if (w->content != NULL)
		return bad(w, "two contents");
	w->content = smime_spool_new(w->tmpdir, SMIME_MEM_DEFAULT);
	if (!explicit)
		return octets(w, t, 0, end);
	if (!t->cons || next_child(w, t, pend, &pos, &c) != 1)
		return bad(w, "the content is not an OCTET STRING");
	if (octets(w, &c, 1, &pos) != 0)
		return -1;
	if (next_child(w, t, pend, &pos, &c) != 0)
		return bad(w, "more than one content");
	*end = pos;
	return 0;
}

/* The certificates ([0] CertificateSet of SignedData, c) from
 * smime_certcache.c into w->certs: the element's end, or 0 when they stay
 * in the frame (not all plain certificates, one twice, too many), -1 on
 * an error. */
static gint64
take_certs(walk_t *w, const tlv_t *c)
{
	gint64 pend = c->len >= 0 ? c->off + c->hlen + c->len : -1, pos = c->off + c->hlen, end;
	STACK_OF(X509) *certs = sk_X509_new_null();
	tlv_t x;
	int r;

	if (certs == NULL)
		return util_err_set(w->err, SMIME_ERR_NOMEM, "out of memory"), -1;
	while ((r = next_child(w, c, pend, &pos, &x)) == 1) {
		GByteArray *a;
		X509 *cert = NULL;

		if (x.tag != V_ASN1_SEQUENCE || x.cls != V_ASN1_UNIVERSAL || !x.cons
		    || x.len < 0 || sk_X509_num(certs) >= DETACH_CERTS)
			break;
		end = x.off + x.hlen + x.len;
		if (end > w->size || (pend >= 0 && end > pend))
			break;
		a = g_byte_array_new();
		if (copy(w, x.off, end, a) == 0)
			cert = smime_certcache_d2i(a->data, a->len);
		g_byte_array_free(a, TRUE);
		if (cert == NULL)
			break;
		for (int i = 0; i < sk_X509_num(certs); i++)
			if (X509_cmp(sk_X509_value(certs, i), cert) == 0) {
				X509_free(cert);
				cert = NULL;
				break;
			}
		if (cert == NULL || !sk_X509_push(certs, cert)) {
			X509_free(cert);
			break;
		}
		pos = end;
	}
	if (r != 0 || sk_X509_num(certs) == 0) {
		sk_X509_pop_free(certs, X509_free);
		if (w->err->code == SMIME_ERR_IO || w->err->code == SMIME_ERR_NOMEM)
			return -1;
		util_err_clear(w->err);
		return 0;
	}
	w->certs = certs;
	return pos;
}

/* Appends a definite header, then the octets of b. */
static void
wrap(GByteArray *a, int tag, int cls, const GByteArray *b)
{
	unsigned char hdr[16], *p = hdr;

	ASN1_put_object(&p, 1, (int)b->len, tag, cls);
	g_byte_array_append(a, hdr, (guint)(p - hdr));
	g_byte_array_append(a, b->data, b->len);
}

/* The children of a constructed element into a, its end in *endp; the
 * content (the first [0], when cut) set apart; with levels, the first
 * SEQUENCE child walked the same way (written anew with a definite
 * length), the content cut levels - 1 below it. */
static int
children(walk_t *w, const tlv_t *t, int cut, int explicit, GByteArray *a, int levels,
    gint64 *endp)
{
	gint64 pend = t->len >= 0 ? t->off + t->hlen + t->len : -1, pos = t->off + t->hlen, end;
	int sd = explicit && levels == 1 && !cut;   /* t is the SignedData */
	tlv_t c;
	int r;

	while ((r = next_child(w, t, pend, &pos, &c)) == 1) {
		if (cut && c.tag == 0 && c.cls == V_ASN1_CONTEXT_SPECIFIC) {
			if (detach_content(w, &c, explicit, &end) != 0)
				return -1;
			cut = 0;
		} else if (sd && c.tag == 0 && c.cons
		    && c.cls == V_ASN1_CONTEXT_SPECIFIC && w->certs == NULL
		    && (end = take_certs(w, &c)) > 0) {
			;                   /* the certificates, from the cache */
		} else if (levels > 0 && c.tag == V_ASN1_SEQUENCE && c.cls == V_ASN1_UNIVERSAL
		    && c.cons) {
			GByteArray *inner = g_byte_array_new();

			r = children(w, &c, levels == 1, explicit, inner, levels - 1, &end);
			if (r == 0)
				wrap(a, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, inner);
			g_byte_array_free(inner, TRUE);
			if (r != 0)
				return -1;
			levels = 0;
		} else if ((end = end_of(w, &c, 1)) < 0 || copy(w, c.off, end, a) != 0) {
			return -1;
		}
		if (end > w->size || (pend >= 0 && end > pend))
			return bad(w, "an element runs past its end");
		pos = end;
	}
	*endp = pos;
	return r;
}

/* The type's object identifier (the first child of ContentInfo): its nid. */
static int
content_type(walk_t *w, const tlv_t *ci, GByteArray *oid)
{
	const unsigned char *p;
	ASN1_OBJECT *obj;
	tlv_t c;
	int nid;

	if (head(w, ci->off + ci->hlen, ci->len >= 0 ? ci->off + ci->hlen + ci->len : w->size,
	    &c) != 0)
		return -1;
	if (c.tag != V_ASN1_OBJECT || c.cls != V_ASN1_UNIVERSAL || c.cons || c.len > 64)
		return bad(w, "no content type");
	if (copy(w, c.off, c.off + c.hlen + c.len, oid) != 0)
		return -1;
	p = oid->data;
	if ((obj = d2i_ASN1_OBJECT(NULL, &p, (long)oid->len)) == NULL) {
		ERR_clear_error();
		return bad(w, "no content type");
	}
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return nid;
}

/* The frame: ContentInfo with the content cut out of (*). */
static int
frame(walk_t *w, GByteArray *out)
{
	GByteArray *oid = g_byte_array_new(), *body = g_byte_array_new();
	GByteArray *expl = g_byte_array_new(), *ci = g_byte_array_new();
	gint64 pos, pend;
	tlv_t t, c;
	int nid, rc = -1;

	if (head(w, 0, w->size, &t) != 0)
		goto out;
	if (t.tag != V_ASN1_SEQUENCE || t.cls != V_ASN1_UNIVERSAL || !t.cons) {
		bad(w, "not a ContentInfo");
		goto out;
	}
	if ((nid = content_type(w, &t, oid)) < 0)
		goto out;
	if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData
	    && nid != NID_pkcs7_signed) {
		util_err_set(w->err, SMIME_ERR_INPUT, "the CMS content is %s, not "
		    "enveloped or signed data", OBJ_nid2sn(nid));
		goto out;
	}
	pos = t.off + t.hlen + (gint64)oid->len;
	pend = t.len >= 0 ? t.off + t.hlen + t.len : -1;
	if (next_child(w, &t, pend, &pos, &c) != 1 || c.tag != 0
	    || c.cls != V_ASN1_CONTEXT_SPECIFIC || !c.cons) {
		bad(w, "no content");
		goto out;
	}
	/* [0] EXPLICIT: its SEQUENCE (the type's), and in that the first
	 * SEQUENCE (the content info), in which the content is cut */
	if (children(w, &c, 0, nid == NID_pkcs7_signed, body, 2, &pend) != 0)
		goto out;
	if (body->len == 0) {
		bad(w, "an empty content");
		goto out;
	}
	g_byte_array_append(expl, body->data, body->len);
	g_byte_array_append(ci, oid->data, oid->len);
	wrap(ci, 0, V_ASN1_CONTEXT_SPECIFIC, expl);
	wrap(out, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, ci);
	rc = 0;
out:
	g_byte_array_free(oid, TRUE);
	g_byte_array_free(body, TRUE);
	g_byte_array_free(expl, TRUE);
	g_byte_array_free(ci, TRUE);
	return rc;
}

/* The old way, for a structure small enough to hold whole: OpenSSL
 * decodes all of it, the content moves to a spool and the structure is
 * marked detached.  It reads what OpenSSL reads but the walk cannot
 * frame, e.g. a zero length in long form that ends a parent written
 * anew: OpenSSL's length check wants one octet more inside the parent,
 * which the original (indefinite) parent had. */
static CMS_ContentInfo *
whole(walk_t *w)
{
	GByteArray *a = g_byte_array_new();
	CMS_ContentInfo *cms = NULL;
	ASN1_OCTET_STRING **pos;
	const unsigned char *p;

	w->framed = 0;
	if (copy(w, 0, w->size, a) == 0) {
		p = a->data;
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)a->len);
		ERR_clear_error();
	}
	g_byte_array_free(a, TRUE);
	if (cms == NULL || (pos = CMS_get0_content(cms)) == NULL || *pos == NULL)
		return cms;
	w->content = smime_spool_new(w->tmpdir, SMIME_MEM_DEFAULT);
	if (g_mime_stream_write(w->content, (const char *)ASN1_STRING_get0_data(*pos),
	    (size_t)ASN1_STRING_length(*pos)) != (ssize_t)ASN1_STRING_length(*pos)
	    || !CMS_set_detached(cms, 1)) {
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* The certificates left out of the frame, back in order; 0 or -1. */
static int
certs_back(CMS_ContentInfo *cms, STACK_OF(X509) *certs, smime_err_t *err)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(certs, i))) {
			util_err_ssl(err, SMIME_ERR_CRYPTO, "malformed CMS: its certificates");
			err->code = SMIME_ERR_INPUT;
			return -1;
		}
	return 0;
}

CMS_ContentInfo *
smime_detach_read(GMimeStream *der, const char *tmpdir, GMimeStream **content,
    smime_err_t *err)
{
	walk_t w = { der, g_mime_stream_length(der), NULL, 0, tmpdir, err, NULL };
	GByteArray *a = g_byte_array_new();
	CMS_ContentInfo *cms = NULL;
	const unsigned char *p;

	*content = NULL;
	if (w.size <= 0)
		util_err_set(err, SMIME_ERR_INPUT, "malformed CMS: empty");
	else if (frame(&w, a) == 0) {
		p = a->data;
		if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)a->len)) == NULL) {
			util_err_ssl(err, SMIME_ERR_CRYPTO, "malformed CMS");
			err->code = SMIME_ERR_INPUT;
		} else if (certs_back(cms, w.certs, err) != 0) {
			CMS_ContentInfo_free(cms);
			cms = NULL;
		}
	}
	sk_X509_pop_free(w.certs, X509_free);
	w.certs = NULL;
	g_byte_array_free(a, TRUE);
	if (cms == NULL && w.size > 0 && w.size <= (gint64)SMIME_DETACH_FRAME_MAX
	    && err->code != SMIME_ERR_IO) {
		smime_err_t keep = *err;

		if (w.content != NULL)
			g_object_unref(w.content);
		w.content = NULL;
		if ((cms = whole(&w)) == NULL)
			*err = keep;            /* the walk's reason */
		else
			util_err_clear(err);
	}
	if (cms != NULL && w.content != NULL && smime_spool_error(w.content, NULL) != 0) {
		util_err_set(err, SMIME_ERR_IO, "cannot write a temporary file");
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	if (cms == NULL && w.content != NULL)
		g_object_unref(w.content);
	else if (w.content != NULL) {
		g_mime_stream_reset(w.content);
		*content = w.content;
	}
	return cms;
}
