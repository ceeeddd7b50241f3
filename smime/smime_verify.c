/*
 * smime_verify.c: the smime_verify_t handle of smime.h: one verification
 * of a signed message body, and the conversion of opaque signed-data to
 * multipart/signed.
 *
 *   detached  the first part's octets are cut out of the body exactly as
 *             they arrived (between the first two boundary lines), bare
 *             LFs made CRLF (the canonical form that was signed), into a
 *             spool; the second part's decoded content is the CMS
 *             SignedData.
 *   opaque    the decoded body is the SignedData holding the entity; the
 *             entity is set apart into a spool as it is decoded
 *             (smime_detach.c) and verified as detached content.
 * Either way CMS_verify reads the content in chunks from the spool (a
 * file past 1 MB, smime_verify_set_tmpdir()), not from memory.
 *
 * Checks, in this order, each giving its verdict: every signature over
 * the content (CMS_verify without chain checks: FAIL); each signer's
 * chain to the trust anchors, for S/MIME signing, at the signing time
 * (EXPIRED, REVOKED, UNTRUSTED; a CA without a loaded CRL is not an
 * error); whether the first signer's certificate names the From address
 * (MISMATCH).  Signing time is the signed attribute, or now when there is
 * none or it lies in the future.
 *
 * Conversion (opaque only, when asked and the signature holds): the
 * entity becomes the first part, the same SignedData without its content
 * the application/pkcs7-signature part, so the signature still verifies.
 * An entity with bare LFs is left alone (a relay would make them CRLF and
 * break the detached signature).
 *
 * Ownership: the handle owns the signer certificate and capabilities it
 * reports; they stay valid until the next run or smime_verify_free().
 * Threads: one thread at a time per handle; the trust is shared read-only.
 */
#include "smime/smime_int.h"
#include "smime/smime_canon.h"
#include "smime/smime_in.h"
#include "smime/smime_bio.h"
#include "smime/smime_detach.h"
#include "smime/smime_spool.h"
#include "smime/smime_keypref.h"
#include "smime/smime_out.h"
#include "smime/smime_sign.h"
#include "util/util_addr.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define VERIFY_FUTURE_SLACK 300     /* seconds a signing time may be ahead */

struct smime_verify {
	const smime_trust_t *trust;
	char *from;
	time_t pinned;
	int convert;
	smime_limits_t limits;
	smime_verdict_t verdict;
	char detail[UTIL_ERR_MAX];
	char signer[256];
	X509 *signer_cert;
	STACK_OF(X509) *own;        /* certificates naming the signer */
	int preferred;              /* index in own the key preference names, or -1 */
	unsigned char *caps;
	size_t caps_len;
	time_t signing_time;
	int converted;
	smime_hdrs_t hdrs;
	char *tmpdir;               /* NULL: $TMPDIR or /tmp */
	smime_chain_cache_t cache;  /* get NULL: none */
	smime_err_t err;
};

static const char *const verdict_names[] = {
	"none", "pass", "fail", "untrusted", "expired", "revoked", "mismatch",
};

const char *
smime_verdict_name(smime_verdict_t v)
{
	return (size_t)v < sizeof(verdict_names) / sizeof(verdict_names[0])
	    ? verdict_names[v] : "none";
}

smime_verify_t *
smime_verify_new(const smime_trust_t *trust)
{
	smime_verify_t *v = calloc(1, sizeof(*v));

	if (v != NULL) {
		v->trust = trust;
		v->preferred = -1;
	}
	return v;
}

static void
verify_reset(smime_verify_t *v)
{
	X509_free(v->signer_cert);
	sk_X509_pop_free(v->own, X509_free);
	OPENSSL_free(v->caps);
	smime_hdrs_clear(&v->hdrs);
	v->own = NULL;
	v->preferred = -1;
	v->signer_cert = NULL;
	v->caps = NULL;
	v->caps_len = 0;
	v->signing_time = 0;
	v->converted = 0;
	v->verdict = SMIME_VERDICT_NONE;
	v->detail[0] = '\0';
	v->signer[0] = '\0';
	util_err_clear(&v->err);
}

void
smime_verify_free(smime_verify_t *v)
{
	if (v == NULL)
		return;
	verify_reset(v);
	free(v->from);
	free(v->tmpdir);
	free(v);
}

void
smime_verify_set_from(smime_verify_t *v, const char *from)
{
	free(v->from);
	v->from = from != NULL ? strdup(from) : NULL;
}

void smime_verify_set_time(smime_verify_t *v, time_t when) { v->pinned = when; }

void
smime_verify_set_chain_cache(smime_verify_t *v, const smime_chain_cache_t *c)
{
	if (c != NULL && c->get != NULL && c->put != NULL)
		v->cache = *c;
	else
		memset(&v->cache, 0, sizeof(v->cache));
}
void smime_verify_set_convert(smime_verify_t *v, int convert) { v->convert = convert != 0; }
smime_verdict_t smime_verify_verdict(const smime_verify_t *v) { return v->verdict; }
const char *smime_verify_detail(const smime_verify_t *v) { return v->detail; }
const char *smime_verify_signer(const smime_verify_t *v) { return v->signer; }
X509 *smime_verify_signer_cert(const smime_verify_t *v) { return v->signer_cert; }
time_t smime_verify_signing_time(const smime_verify_t *v) { return v->signing_time; }
int smime_verify_converted(const smime_verify_t *v) { return v->converted; }
size_t smime_verify_nheaders(const smime_verify_t *v) { return v->hdrs.n; }
const char *smime_verify_error(const smime_verify_t *v) { return v->err.msg; }

size_t
smime_verify_ncerts(const smime_verify_t *v)
{
	return (size_t)sk_X509_num(v->own);
}

X509 *
smime_verify_cert(const smime_verify_t *v, size_t i, int *preferred)
{
	if (i >= (size_t)sk_X509_num(v->own))
		return NULL;
	if (preferred != NULL)
		*preferred = v->preferred == (int)i;
	return sk_X509_value(v->own, (int)i);
}

const unsigned char *
smime_verify_caps(const smime_verify_t *v, size_t *len)
{
	*len = v->caps_len;
	return v->caps;
}

const char *
smime_verify_header_name(const smime_verify_t *v, size_t i)
{
	return i < v->hdrs.n ? v->hdrs.name[i] : NULL;
}

const char *
smime_verify_header_value(const smime_verify_t *v, size_t i)
{
	return i < v->hdrs.n ? v->hdrs.value[i] : NULL;
}

/* Records a verdict unless a worse one is there (FAIL is the worst). */
static void
verdict(smime_verify_t *v, smime_verdict_t what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
verdict(smime_verify_t *v, smime_verdict_t what, const char *fmt, ...)
{
	va_list ap;

	if (v->verdict != SMIME_VERDICT_NONE && v->verdict != SMIME_VERDICT_PASS
	    && (v->verdict <= what || what == SMIME_VERDICT_PASS))
		return;
	v->verdict = what;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

/* ---- the detached content ---- */

#define VERIFY_CHUNK 65536
#define VERIFY_LINE_HEAD 1024       /* octets of a line kept to match a boundary */

/* 1 when a line (its first hn octets in head; tail_ok: only white space
 * after them) is "--boundary", then "--" or not, then only white space. */
static int
is_boundary(const char *head, size_t hn, int tail_ok, const char *b, size_t blen)
{
	size_t j = 2 + blen;

	if (blen + 4 > VERIFY_LINE_HEAD || hn < j || head[0] != '-' || head[1] != '-'
	    || memcmp(head + 2, b, blen) != 0)
		return 0;
	if (j + 1 < hn && head[j] == '-' && head[j + 1] == '-')
		j += 2;
	while (j < hn && (head[j] == ' ' || head[j] == '\t' || head[j] == '\r'))
		j++;
	return j == hn && tail_ok;
}

/* Finds the next line "--boundary" (then only white space, or "--") at or
 * after *pos in s; *start gets where it begins, *pos where the next line
 * does; *bare (unless NULL) where the first LF without a CR before it is
 * (a LF at *pos counts), -1 none before the boundary line.  0, -1 none,
 * -2 a read error. */
static int
find_boundary(GMimeStream *s, const char *b, gint64 *pos, gint64 *start, gint64 *bare)
{
	char buf[VERIFY_CHUNK], head[VERIFY_LINE_HEAD], prev = 0;
	size_t hn = 0, blen = strlen(b);
	gint64 off = *pos, line = *pos, first_bare = -1;
	int tail_ok = 1;
	ssize_t n;

	if (g_mime_stream_seek(s, off, GMIME_STREAM_SEEK_SET) != off)
		return -2;
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; prev = buf[i++]) {
			if (buf[i] == '\n') {
				if (is_boundary(head, hn, tail_ok, b, blen)) {
					*start = line;
					*pos = off + i + 1;
					if (bare != NULL)
						*bare = first_bare;
					return 0;
				}
				if (prev != '\r' && first_bare < 0)
					first_bare = off + i;
				line = off + i + 1;
				hn = 0;
				tail_ok = 1;
			} else if (hn < sizeof(head)) {
				head[hn++] = buf[i];
			} else if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r') {
				tail_ok = 0;
			}
		}
		off += n;
	}
	if (n < 0)
		return -2;
	if (line < off && is_boundary(head, hn, tail_ok, b, blen)) {
		*start = line;
		*pos = off;
		if (bare != NULL)
			*bare = first_bare;
		return 0;
	}
	return -1;
}

/* Copies octets [from, to) of s into dst, bare LFs made CRLF. */
static int
copy_crlf(GMimeStream *s, gint64 from, gint64 to, GMimeStream *dst)
{
	char buf[VERIFY_CHUNK], out[2 * VERIFY_CHUNK];
	char prev = 0;                  /* a LF at from is bare */
	ssize_t n;

	if (g_mime_stream_seek(s, from, GMIME_STREAM_SEEK_SET) != from)
		return -1;
	while (from < to) {
		size_t want = to - from < (gint64)sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
		size_t o = 0;

		if ((n = g_mime_stream_read(s, buf, want)) <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				out[o++] = '\r';
			out[o++] = buf[i];
			prev = buf[i];
		}
		if (g_mime_stream_write(dst, out, o) != (ssize_t)o)
			return -1;
		from += n;
	}
	return 0;
}

/* The first part's octets, with bare LFs made CRLF: a substream of the
 * input when it has none (the usual case: a milter gets CRLF lines),
 * else a copy in a new spool. */
static GMimeStream *
detached_content(smime_verify_t *v, const smime_in_t *in, const char *boundary)
{
	gint64 pos = in->body_off, s0, from, end, bare;
	GMimeStream *dst;
	char c;
	int r;

	if ((r = find_boundary(in->all, boundary, &pos, &s0, NULL)) != 0)
		return util_err_set(&v->err, r == -2 ? SMIME_ERR_IO : SMIME_ERR_INPUT,
		    "no first boundary"), NULL;
	from = pos;
	if ((r = find_boundary(in->all, boundary, &pos, &end, &bare)) != 0 || end < from)
		return util_err_set(&v->err, r == -2 ? SMIME_ERR_IO : SMIME_ERR_INPUT,
		    "no second boundary"), NULL;
	/* The line break before the boundary belongs to the boundary. */
	for (int k = 0; k < 2 && end > from; k++) {
		if (g_mime_stream_seek(in->all, end - 1, GMIME_STREAM_SEEK_SET) != end - 1
		    || g_mime_stream_read(in->all, &c, 1) != 1)
			return util_err_set(&v->err, SMIME_ERR_IO, "cannot read the body"), NULL;
		if (c != (k == 0 ? '\n' : '\r'))
			break;
		end--;
	}
	if (bare < 0 || bare >= end) {
		if ((dst = g_mime_stream_substream(in->all, from, end)) == NULL
		    || g_mime_stream_reset(dst) != 0) {
			if (dst != NULL)
				g_object_unref(dst);
			return util_err_set(&v->err, SMIME_ERR_NOMEM, "out of memory"), NULL;
		}
		return dst;
	}
	dst = smime_spool_new(v->tmpdir, SMIME_MEM_DEFAULT);
	if (copy_crlf(in->all, from, end, dst) != 0 || g_mime_stream_reset(dst) != 0) {
		g_object_unref(dst);
		return util_err_set(&v->err, SMIME_ERR_IO, "cannot copy the signed part"), NULL;
	}
	return dst;
}

/* ---- parsing ---- */

/* The SignedData of a part, its content (opaque) apart in *content. */
static CMS_ContentInfo *
cms_of_part(smime_verify_t *v, GMimeObject *part, GMimeStream **content)
{
	CMS_ContentInfo *cms;
	GMimeStream *der;

	*content = NULL;
	if (part == NULL || !GMIME_IS_PART(part))
		return util_err_set(&v->err, SMIME_ERR_INPUT, "no signature part"), NULL;
	if ((der = smime_in_part_decoded(GMIME_PART(part), v->tmpdir, &v->err)) == NULL)
		return NULL;
	cms = smime_detach_read(der, v->tmpdir, content, &v->err);
	g_object_unref(der);
	if (cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
		util_err_set(&v->err, SMIME_ERR_INPUT, "malformed CMS SignedData: not signed data");
	}
	if (cms == NULL && *content != NULL) {
		g_object_unref(*content);
		*content = NULL;
	}
	if (cms == NULL && v->err.code == SMIME_ERR_CRYPTO)
		v->err.code = SMIME_ERR_INPUT;
	return cms;
}

/* The SignedData, and the content (detached: the first part; opaque: the
 * encapsulated content), NULL when there is none; *opaque set. */
static CMS_ContentInfo *
verify_parse(smime_verify_t *v, const smime_in_t *in, GMimeStream **content, int *opaque)
{
	GMimeContentType *ct = g_mime_object_get_content_type(in->entity);
	const char *st = g_mime_content_type_get_parameter(ct, "smime-type");
	const char *proto = g_mime_content_type_get_parameter(ct, "protocol");
	const char *boundary = g_mime_content_type_get_parameter(ct, "boundary");
	CMS_ContentInfo *cms;
	GMimeStream *inside = NULL;

	*content = NULL;
	*opaque = 0;
	if (GMIME_IS_MULTIPART_SIGNED(in->entity)) {
		if (proto == NULL || boundary == NULL
		    || (g_ascii_strcasecmp(proto, "application/pkcs7-signature") != 0
		    && g_ascii_strcasecmp(proto, "application/x-pkcs7-signature") != 0))
			return util_err_set(&v->err, SMIME_ERR_INPUT,
			    "multipart/signed, but not S/MIME"), NULL;
		if ((cms = cms_of_part(v, g_mime_multipart_get_part(
		    GMIME_MULTIPART(in->entity), 1), &inside)) == NULL)
			return NULL;
		if (inside != NULL)         /* the first part is what counts */
			g_object_unref(inside);
		if ((*content = detached_content(v, in, boundary)) == NULL) {
			CMS_ContentInfo_free(cms);
			return NULL;
		}
		return cms;
	}
	if ((g_mime_content_type_is_type(ct, "application", "pkcs7-mime")
	    || g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
	    && st != NULL && g_ascii_strcasecmp(st, "signed-data") == 0) {
		*opaque = 1;
		return cms_of_part(v, in->entity, content);
	}
	return util_err_set(&v->err, SMIME_ERR_INPUT, "not a signed message"), NULL;
}

/* ---- facts of a signer ---- */

static time_t
signer_time(CMS_SignerInfo *si)
{
	int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *a = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
	ASN1_TYPE *t = a != NULL ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
	struct tm tm;

	if (t == NULL || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME)
	    || !ASN1_TIME_to_tm((ASN1_TIME *)t->value.asn1_string, &tm))
		return 0;
	return timegm(&tm);
}

static void
signer_caps(smime_verify_t *v, CMS_SignerInfo *si)
{
	ASN1_STRING *s = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_SMIMECapabilities), -3, V_ASN1_SEQUENCE);

	if (s == NULL || ASN1_STRING_length(s) <= 0)
		return;
	if ((v->caps = OPENSSL_memdup(ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s))) != NULL)
		v->caps_len = (size_t)ASN1_STRING_length(s);
}

/* Notes the signer's address: From when the certificate names it, else
 * the first it names; MISMATCH when From is not among them. */
static void
signer_address(smime_verify_t *v, X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *emails = X509_get1_email(cert);
	int i, n = sk_OPENSSL_STRING_num(emails);

	for (i = 0; v->from != NULL && i < n; i++)
		if (util_addr_equal(sk_OPENSSL_STRING_value(emails, i), v->from))
			break;
	if (v->from != NULL && i < n)
		snprintf(v->signer, sizeof(v->signer), "%s", v->from);
	else if (n > 0)
		snprintf(v->signer, sizeof(v->signer), "%s", sk_OPENSSL_STRING_value(emails, 0));
	if (v->from == NULL)
		verdict(v, SMIME_VERDICT_MISMATCH, "no single From address to compare");
	else if (i >= n)
		verdict(v, SMIME_VERDICT_MISMATCH, "signer <%s> is not From <%s>",
		    n > 0 ? v->signer : "no address", v->from);
	X509_email_free(emails);
}

/* 1 when cert names addr (subjectAltName rfc822Name, or emailAddress). */
static int
cert_names(X509 *cert, const char *addr)
{
	STACK_OF(OPENSSL_STRING) *emails = X509_get1_email(cert);
	int found = 0;

	for (int i = 0; !found && i < sk_OPENSSL_STRING_num(emails); i++)
		found = util_addr_equal(sk_OPENSSL_STRING_value(emails, i), addr);
	X509_email_free(emails);
	return found;
}

/* The first signer's certificate and every other end-entity certificate
 * of the SignedData that names the signer's address (a separate
 * encryption certificate), and which of them the signer's key preference
 * names.  The certificates set is not signed: each is only a candidate,
 * checked like any other when it is used. */
static void
signer_certs(smime_verify_t *v, CMS_SignerInfo *si, X509 *signer, STACK_OF(X509) *certs)
{
	if (v->signer[0] == '\0' || (v->own = sk_X509_new_null()) == NULL)
		return;
	X509_up_ref(signer);
	if (!sk_X509_push(v->own, signer)) {
		X509_free(signer);
		return;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (X509_cmp(x, signer) == 0 || X509_check_ca(x) != 0
		    || !cert_names(x, v->signer))
			continue;
		X509_up_ref(x);
		if (!sk_X509_push(v->own, x))
			X509_free(x);
	}
	for (int i = 0; v->preferred < 0 && i < sk_X509_num(v->own); i++)
		if (smime_keypref_names(si, sk_X509_value(v->own, i)) == 1)
			v->preferred = i;
}

/* A missing or stale CRL is no verdict: revocation is checked where a
 * current CRL is available.  A check that let one pass rested on no
 * answer (the int the context's app data points to is set): it is not
 * cached. */
static int
chain_cb(int ok, X509_STORE_CTX *ctx)
{
	int *no_answer = X509_STORE_CTX_get_app_data(ctx);

	switch (X509_STORE_CTX_get_error(ctx)) {
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
		if (no_answer != NULL)
			*no_answer = 1;
		return 1;
	default:
		return ok;
	}
}

static time_t
asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	return t != NULL && ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : 0;
}

/* The window [*from, *until) around when narrowed by the moment b (0:
 * unknown, nothing is kept: *until 0). */
static void
window_cut(time_t b, time_t when, time_t *from, time_t *until)
{
	if (b == 0)
		*until = 0;
	else if (b <= when && b > *from)
		*from = b;
	else if (b > when && b < *until)
		*until = b;
}

/*
 * The times around when for which the check just made gives the same
 * answer: no certificate of the chain starts or ends being valid, and,
 * when CRLs are checked, no CRL of the store starts or stops being
 * current (the check depends on which is).  *until 0: keep nothing.
 */
static void
chain_window(const smime_verify_t *v, X509_STORE_CTX *ctx, time_t when, time_t *from,
    time_t *until)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	STACK_OF(X509_OBJECT) *objs;

	*from = 0;
	*until = (time_t)LONG_MAX;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		window_cut(asn1_time(X509_get0_notBefore(x)), when, from, until);
		window_cut(asn1_time(X509_get0_notAfter(x)), when, from, until);
	}
	if (v->trust->ncrls == 0 || *until == 0)
		return;
	if (!X509_STORE_lock(v->trust->store)) {
		*until = 0;
		return;
	}
	objs = X509_STORE_get0_objects(v->trust->store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));

		if (crl == NULL)
			continue;
		window_cut(asn1_time(X509_CRL_get0_lastUpdate(crl)), when, from, until);
		if (X509_CRL_get0_nextUpdate(crl) != NULL)
			window_cut(asn1_time(X509_CRL_get0_nextUpdate(crl)), when, from, until);
	}
	X509_STORE_unlock(v->trust->store);
}

/* The chain of signer at when, built and checked; a good check that
 * rested on answers is cached for as long as it holds. */
static void
signer_chain(smime_verify_t *v, X509 *signer, STACK_OF(X509) *certs, time_t when)
{
	unsigned long gen = smime_trust_generation(v->trust);
	X509_STORE_CTX *ctx;
	time_t from, until;
	int e, no_answer = 0;

	if (v->cache.get != NULL && v->cache.get(v->cache.arg, signer, certs, gen, when) == 1)
		return;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, v->trust->store, signer, certs)
	    || !X509_STORE_CTX_set_default(ctx, "smime_sign")) {
		verdict(v, SMIME_VERDICT_UNTRUSTED, "cannot set up chain verification");
		X509_STORE_CTX_free(ctx);
		return;
	}
	X509_STORE_CTX_set_time(ctx, 0, when);
	X509_STORE_CTX_set_verify_cb(ctx, chain_cb);
	X509_STORE_CTX_set_app_data(ctx, &no_answer);
	if (X509_verify_cert(ctx) <= 0) {
		e = X509_STORE_CTX_get_error(ctx);
		if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
			verdict(v, SMIME_VERDICT_EXPIRED, "%s at signing time",
			    X509_verify_cert_error_string(e));
		else if (e == X509_V_ERR_CERT_REVOKED)
			verdict(v, SMIME_VERDICT_REVOKED, "%s", X509_verify_cert_error_string(e));
		else
			verdict(v, SMIME_VERDICT_UNTRUSTED, "%s", X509_verify_cert_error_string(e));
	} else if (v->cache.put != NULL && !no_answer) {
		chain_window(v, ctx, when, &from, &until);
		if (until > from)
			v->cache.put(v->cache.arg, signer, certs, gen, from, until);
	}
	X509_STORE_CTX_free(ctx);
}

/* Chains, times, capabilities and the address, for every signer. */
static void
verify_signers(smime_verify_t *v, CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	time_t now = time(NULL);

	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		X509 *signer = NULL;
		time_t t = signer_time(si), when;

		CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
		if (signer == NULL) {
			verdict(v, SMIME_VERDICT_UNTRUSTED, "signer certificate not found");
			continue;
		}
		when = v->pinned ? v->pinned : (t == 0 || t > now + VERIFY_FUTURE_SLACK) ? now : t;
		signer_chain(v, signer, certs, when);
		if (i == 0) {
			X509_up_ref(signer);
			v->signer_cert = signer;
			v->signing_time = t;
			signer_caps(v, si);
			signer_address(v, signer);
			signer_certs(v, si, signer, certs);
		}
	}
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
}

/* ---- conversion of opaque signed-data ---- */

static const char *
micalg_of(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	X509_ALGOR *dig = NULL;
	const ASN1_OBJECT *obj = NULL;

	if (sk_CMS_SignerInfo_num(sis) < 1)
		return NULL;
	CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, 0), NULL, NULL, &dig, NULL);
	if (dig == NULL)
		return NULL;
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	switch (OBJ_obj2nid(obj)) {
	case NID_sha1: return "sha-1";
	case NID_sha224: return "sha-224";
	case NID_sha256: return "sha-256";
	case NID_sha384: return "sha-384";
	case NID_sha512: return "sha-512";
	default: return NULL;
	}
}

/* 1 when s has a LF without a CR before it, 0 not, -1 a read error. */
static int
has_bare_lf(GMimeStream *s)
{
	char buf[VERIFY_CHUNK], prev = 0;
	ssize_t n;

	if (g_mime_stream_reset(s) != 0)
		return -1;
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; prev = buf[i++])
			if (buf[i] == '\n' && prev != '\r')
				return 1;
	return n < 0 ? -1 : 0;
}

static int
out_stream(void *o, const void *buf, size_t len)
{
	smime_out_write(o, buf, len);
	return smime_out_failed(o) ? -1 : 0;
}

static smime_status_t
convert_opaque(smime_verify_t *v, CMS_ContentInfo *cms, GMimeStream *content,
    smime_write_fn out, void *arg)
{
	gint64 len = g_mime_stream_length(content);
	const char *micalg = micalg_of(cms);
	char boundary[SMIME_BOUNDARY_LEN], ct[256];
	smime_out_t *o;
	smime_status_t rc = SMIME_OK;
	int bare;

	if (len <= 0 || micalg == NULL)
		return SMIME_OK;        /* left as it is */
	if ((bare = has_bare_lf(content)) < 0)
		return util_err_set(&v->err, SMIME_ERR_IO, "cannot read a temporary file");
	if (bare)
		return SMIME_OK;
	if ((rc = smime_boundary(boundary, &v->err)) != SMIME_OK)
		return rc;
	snprintf(ct, sizeof(ct), "multipart/signed; protocol=\"application/pkcs7-signature\"; "
	    "micalg=%s; boundary=\"%s\"", micalg, boundary);
	if (!CMS_set_detached(cms, 1))
		return util_err_ssl(&v->err, SMIME_ERR_CRYPTO, "cannot detach the content");
	if ((o = smime_out_new(out, arg)) == NULL)
		return util_err_set(&v->err, SMIME_ERR_NOMEM, "out of memory");
	smime_out_puts(o, "This is an S/MIME signed message\r\n\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "\r\n");
	if (smime_in_stream_out(content, 0, out_stream, o) != 0 && !smime_out_failed(o))
		rc = util_err_set(&v->err, SMIME_ERR_IO, "cannot read a temporary file");
	smime_out_puts(o, "\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n");
	if (rc == SMIME_OK && !i2d_CMS_bio(smime_out_base64_bio(o), cms) && !smime_out_failed(o))
		rc = util_err_ssl(&v->err, SMIME_ERR_CRYPTO, "cannot encode the signature");
	smime_out_base64_end(o);
	smime_out_puts(o, "\r\n--");
	smime_out_puts(o, boundary);
	smime_out_puts(o, "--\r\n");
	if (rc == SMIME_OK && smime_out_failed(o))
		rc = util_err_set(&v->err, SMIME_ERR_IO, "the output writer failed");
	smime_out_free(o);
	if (rc == SMIME_OK && (rc = smime_hdrs_add(&v->hdrs, "MIME-Version", "1.0",
	    &v->err)) == SMIME_OK && (rc = smime_hdrs_add(&v->hdrs, "Content-Type",
	    ct, &v->err)) == SMIME_OK)
		v->converted = 1;
	return rc;
}

/* ---- one job ---- */

/* Checks the signatures over the content (read from its start, in
 * chunks); SMIME_OK with a verdict. */
static smime_status_t
verify_cms(smime_verify_t *v, CMS_ContentInfo *cms, GMimeStream *content)
{
	BIO *b = NULL;
	unsigned long e;
	int ok;

	if (content != NULL && (g_mime_stream_reset(content) != 0
	    || (b = smime_bio_stream(content)) == NULL))
		return util_err_set(&v->err, SMIME_ERR_NOMEM, "out of memory");
	ok = CMS_verify(cms, NULL, v->trust->store, b, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) > 0;
	BIO_free(b);
	if (ok) {
		verdict(v, SMIME_VERDICT_PASS, "good signature");
		verify_signers(v, cms);
		return SMIME_OK;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_CMS
	    && ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
		verdict(v, SMIME_VERDICT_UNTRUSTED, "signer certificate not included");
	else
		verdict(v, SMIME_VERDICT_FAIL, "the signature does not match the content");
	ERR_clear_error();
	return SMIME_OK;
}

/* The content of opaque signed-data passes the limits too. */
static smime_status_t
verify_check_opaque(smime_verify_t *v, GMimeStream *content)
{
	smime_hdrs_t h = { 0 };
	smime_status_t rc;
	gint64 off;

	if (content == NULL || g_mime_stream_length(content) <= 0)
		return SMIME_OK;
	rc = smime_in_entity_split(content, &v->limits, &h, NULL, &off, &v->err);
	smime_hdrs_clear(&h);
	/* what does not parse is not refused here: the verdict stands */
	return rc == SMIME_ERR_LIMIT || rc == SMIME_ERR_IO ? rc : SMIME_OK;
}

void
smime_verify_set_limits(smime_verify_t *v, unsigned max_parts, unsigned max_depth)
{
	v->limits.max_parts = max_parts;
	v->limits.max_depth = max_depth;
}

int
smime_verify_set_tmpdir(smime_verify_t *v, const char *dir)
{
	char *copy = dir != NULL ? strdup(dir) : NULL;

	if (dir != NULL && copy == NULL)
		return -1;
	free(v->tmpdir);
	v->tmpdir = copy;
	return 0;
}

smime_status_t
smime_verify_run(smime_verify_t *v, const char *content_headers,
    const smime_body_t *body, smime_write_fn out, void *arg)
{
	CMS_ContentInfo *cms = NULL;
	GMimeStream *content = NULL;
	smime_in_t in;
	smime_status_t rc;
	int opaque = 0;

	if (v == NULL || v->trust == NULL || body == NULL)
		return SMIME_ERR_USAGE;
	verify_reset(v);
	rc = smime_in_load_at(v->tmpdir, content_headers, body, &v->limits, &in, &v->err);
	if (rc == SMIME_OK && (cms = verify_parse(v, &in, &content, &opaque)) == NULL)
		rc = v->err.code;
	if (rc == SMIME_OK)
		rc = verify_cms(v, cms, content);
	if (rc == SMIME_OK && opaque)
		rc = verify_check_opaque(v, content);
	if (rc == SMIME_OK && opaque && v->convert && out != NULL && content != NULL
	    && v->verdict != SMIME_VERDICT_FAIL && v->signer_cert != NULL)
		rc = convert_opaque(v, cms, content, out, arg);
	if (rc != SMIME_OK) {
		v->verdict = SMIME_VERDICT_NONE;
		smime_hdrs_clear(&v->hdrs);
		v->converted = 0;
	}
	if (content != NULL)
		g_object_unref(content);
	CMS_ContentInfo_free(cms);
	smime_in_clear(&in);
	ERR_clear_error();
	return rc;
}
