/*
 * smime_encrypt.c: the smime_encrypt_t handle of smime.h: one encryption
 * job.  The entity (raw, or made canonical by smime_canon.c) goes to a
 * spool, then streams through OpenSSL's CMS (CMS_encrypt with
 * CMS_PARTIAL | CMS_STREAM, one RecipientInfo per certificate, BIO_new_CMS)
 * into the base64 output, so memory stays bounded.  AES-256-GCM makes
 * OpenSSL write AuthEnvelopedData (RFC 5083).
 *
 * Ownership: see smime.h.  Threads: one job, one thread.
 */
#include "smime/smime_int.h"
#include "smime/smime_canon.h"
#include "smime/smime_cms.h"
#include "smime/smime_out.h"
#include "smime/smime_spool.h"
#include "util/util_alg.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <unistd.h>

#define ENC_HEADERS_MAX 4
#define ENC_CHUNK       16384

struct smime_encrypt {
	STACK_OF(X509) *rcpts;
	smime_cipher_t cipher;
	int oaep;
	char *tmpdir;
	int tmpdir_nomem;
	size_t mem_max;
	smime_hp_out_t hp;          /* borrowed fields; mode NONE: none */
	size_t nheaders;
	const char *hname[ENC_HEADERS_MAX];
	char *hvalue[ENC_HEADERS_MAX];
	smime_err_t err;
};

smime_encrypt_t *
smime_encrypt_new(void)
{
	smime_encrypt_t *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	if ((e->rcpts = sk_X509_new_null()) == NULL) {
		free(e);
		return NULL;
	}
	e->mem_max = SMIME_MEM_DEFAULT;
	return e;
}

static void
enc_clear_headers(smime_encrypt_t *e)
{
	for (size_t i = 0; i < e->nheaders; i++)
		free(e->hvalue[i]);
	e->nheaders = 0;
}

void
smime_encrypt_free(smime_encrypt_t *e)
{
	if (e == NULL)
		return;
	enc_clear_headers(e);
	sk_X509_pop_free(e->rcpts, X509_free);
	free(e->tmpdir);
	free(e);
}

smime_status_t
smime_encrypt_add_recipient(smime_encrypt_t *e, X509 *cert)
{
	if (e == NULL || cert == NULL)
		return SMIME_ERR_USAGE;
	for (int i = 0; i < sk_X509_num(e->rcpts); i++)
		if (X509_cmp(sk_X509_value(e->rcpts, i), cert) == 0)
			return SMIME_OK;
	if (!sk_X509_push(e->rcpts, cert))
		return util_err_set(&e->err, SMIME_ERR_NOMEM, "cannot add a recipient");
	X509_up_ref(cert);
	return SMIME_OK;
}

size_t
smime_encrypt_nrecipients(const smime_encrypt_t *e)
{
	return e ? (size_t)sk_X509_num(e->rcpts) : 0;
}

void
smime_encrypt_set_cipher(smime_encrypt_t *e, smime_cipher_t cipher)
{
	if (e != NULL)
		e->cipher = cipher;
}

void
smime_encrypt_set_oaep(smime_encrypt_t *e, int oaep)
{
	if (e != NULL)
		e->oaep = oaep != 0;
}

void
smime_encrypt_set_tmpdir(smime_encrypt_t *e, const char *dir, size_t mem_max)
{
	if (e == NULL)
		return;
	free(e->tmpdir);
	e->tmpdir = dir != NULL ? strdup(dir) : NULL;
	e->tmpdir_nomem = dir != NULL && e->tmpdir == NULL;
	e->mem_max = mem_max;
}

void
smime_encrypt_set_hp(smime_encrypt_t *e, const smime_hp_out_t *hp)
{
	if (e == NULL)
		return;
	if (hp != NULL)
		e->hp = *hp;
	else
		memset(&e->hp, 0, sizeof(e->hp));
}

size_t
smime_encrypt_nheaders(const smime_encrypt_t *e)
{
	return e ? e->nheaders : 0;
}

const char *
smime_encrypt_header_name(const smime_encrypt_t *e, size_t i)
{
	return e && i < e->nheaders ? e->hname[i] : NULL;
}

const char *
smime_encrypt_header_value(const smime_encrypt_t *e, size_t i)
{
	return e && i < e->nheaders ? e->hvalue[i] : NULL;
}

const char *
smime_encrypt_error(const smime_encrypt_t *e)
{
	return e ? e->err.msg : "no encryption handle";
}

static smime_status_t
enc_add_header(smime_encrypt_t *e, const char *name, const char *value)
{
	char *v = strdup(value);

	if (v == NULL || e->nheaders == ENC_HEADERS_MAX) {
		free(v);
		return util_err_set(&e->err, SMIME_ERR_NOMEM, "cannot store a header");
	}
	e->hname[e->nheaders] = name;
	e->hvalue[e->nheaders++] = v;
	return SMIME_OK;
}

/* The raw entity: the headers with CRLF line ends, an empty line, the
 * body as it is. */
static smime_status_t
enc_raw_entity(smime_encrypt_t *e, const char *hdrs, const smime_body_t *body,
    GMimeStream **out)
{
	GMimeStream *s = smime_spool_new(e->tmpdir, e->mem_max);
	char buf[ENC_CHUNK];
	ssize_t n;
	int bad = 0;

	if (s == NULL)
		return util_err_set(&e->err, SMIME_ERR_NOMEM, "cannot make a spool");
	for (const char *p = hdrs ? hdrs : ""; *p && !bad; p++) {
		if (*p == '\n' && (p == hdrs || p[-1] != '\r'))
			bad |= g_mime_stream_write(s, "\r", 1) != 1;
		bad |= g_mime_stream_write(s, p, 1) != 1;
	}
	bad |= g_mime_stream_write(s, "\r\n", 2) != 2;
	if (body->mem != NULL && body->len > 0)
		bad |= g_mime_stream_write(s, (const char *)body->mem, body->len) !=
		    (ssize_t)body->len;
	else if (body->fd >= 0 && lseek(body->fd, 0, SEEK_SET) == 0)
		while (!bad && (n = read(body->fd, buf, sizeof(buf))) > 0)
			bad |= g_mime_stream_write(s, buf, (size_t)n) != n;
	if (bad || g_mime_stream_reset(s) != 0) {
		g_object_unref(s);
		return util_err_set(&e->err, SMIME_ERR_IO, "cannot spool the entity");
	}
	*out = s;
	return SMIME_OK;
}

static CMS_ContentInfo *
enc_cms_new(smime_encrypt_t *e)
{
	unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
	const EVP_CIPHER *c = e->cipher == SMIME_CIPHER_AES256_GCM ?
	    util_alg_aes256_gcm() : util_alg_aes256_cbc();
	CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, c, flags);

	if (cms == NULL) {
		util_err_ssl(&e->err, SMIME_ERR_CRYPTO, "cannot start the CMS EnvelopedData");
		return NULL;
	}
	for (int i = 0; i < sk_X509_num(e->rcpts); i++) {
		X509 *x = sk_X509_value(e->rcpts, i);
		int rsa = EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA;
		int oaep = e->oaep && rsa;
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x,
		    flags | (oaep ? CMS_KEY_PARAM : 0));
		EVP_PKEY_CTX *pctx = ri && oaep ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;

		if (ri == NULL || (oaep && (pctx == NULL ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0))) {
			char name[256];
			X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
			util_err_ssl(&e->err, SMIME_ERR_CRYPTO, "cannot add the recipient %s", name);
			CMS_ContentInfo_free(cms);
			return NULL;
		}
	}
	return cms;
}

static smime_status_t
enc_headers(smime_encrypt_t *e)
{
	smime_status_t st;

	if ((st = enc_add_header(e, "MIME-Version", "1.0")) != SMIME_OK ||
	    (st = enc_add_header(e, "Content-Type",
	    e->cipher == SMIME_CIPHER_AES256_GCM ?
	    "application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m" :
	    "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m")) != SMIME_OK ||
	    (st = enc_add_header(e, "Content-Transfer-Encoding", "base64")) != SMIME_OK)
		return st;
	return enc_add_header(e, "Content-Disposition", "attachment; filename=smime.p7m");
}

smime_status_t
smime_encrypt_run(smime_encrypt_t *e, const char *content_headers,
    const smime_body_t *body, int raw, smime_write_fn out, void *arg)
{
	GMimeStream *ent = NULL;
	CMS_ContentInfo *cms = NULL;
	smime_out_t *o = NULL;
	smime_status_t st;

	if (e == NULL)
		return SMIME_ERR_USAGE;
	enc_clear_headers(e);
	util_err_clear(&e->err);
	if (body == NULL || out == NULL || sk_X509_num(e->rcpts) == 0)
		return util_err_set(&e->err, SMIME_ERR_USAGE,
		    "encryption needs a body, a writer and a recipient");
	if (e->tmpdir_nomem)
		return util_err_set(&e->err, SMIME_ERR_NOMEM, "cannot store the tmpdir");
	st = raw ? enc_raw_entity(e, content_headers, body, &ent) :
	    smime_canon_build(content_headers, body, e->tmpdir, e->mem_max, NULL,
	    e->hp.mode != SMIME_HP_NONE ? &e->hp : NULL, &ent, &e->err);
	if (st == SMIME_OK && (cms = enc_cms_new(e)) == NULL)
		st = e->err.code;
	if (st == SMIME_OK && (o = smime_out_new(out, arg)) == NULL)
		st = util_err_set(&e->err, SMIME_ERR_NOMEM, "cannot set up the output");
	if (st == SMIME_OK)
		st = smime_cms_sign_stream(cms, ent, smime_out_base64_bio(o), &e->err);
	if (st == SMIME_OK && smime_out_base64_end(o) != 0)
		st = SMIME_ERR_IO;
	if (o != NULL && smime_out_failed(o))
		st = util_err_set(&e->err, SMIME_ERR_IO, "the output writer failed");
	if (st == SMIME_OK)
		st = enc_headers(e);
	smime_out_free(o);
	CMS_ContentInfo_free(cms);
	if (ent != NULL)
		g_object_unref(ent);
	if (st != SMIME_OK)
		enc_clear_headers(e);
	ERR_clear_error();
	return st;
}
