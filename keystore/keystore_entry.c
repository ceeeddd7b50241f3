/*
 * keystore_entry.c: one entry of the keystore, the file
 * <sha256-of-certificate>.pem holding PEM blocks: the certificate, its
 * chain, then a "SMIMEGATE ENCRYPTED PRIVATE KEY" block whose data is
 *
 *     version (1 octet, 1) | nonce (12) | AES-256-GCM(PKCS#8 DER) | tag (16)
 *
 * under the master key, with the version octet and the certificate's
 * SHA-256 as additional data, so a key moved next to another certificate,
 * or any changed byte, fails the tag check (KEYSTORE_ERR_CORRUPT).
 * An entry that says where it came from (a certificate obtained over CMP:
 * keystore_escrow_origin()) carries it as the key block's one PEM header
 * "Origin: TEXT", and its key is sealed as version 2, whose additional
 * data is the version, the SHA-256 and TEXT: an origin added, removed or
 * changed fails the tag check too.  The LDAP backend stores these same
 * bytes, so both backends keep the origin.
 *
 * Ownership: an entry owns its certificate, chain, sealed key and
 * addresses; keystore_entry_free() releases them.  Decrypted key material
 * lives only inside keystore_entry_key()/keystore_entry_new() and is
 * cleansed there.  An entry is immutable once made, so threads may share it.
 */
#include "keystore/keystore_entry.h"
#include "keystore/keystore_cert.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_master.h"
#include "util/util_alg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define SEAL_VERSION 1
#define SEAL_ORIGIN  2               /* the origin in the additional data */
#define NONCE_LEN    12
#define TAG_LEN      16
#define AAD_LEN      (1 + KEYSTORE_FP_LEN + KEYSTORE_ORIGIN_MAX)
#define ORIGIN_HDR   "Origin: "

int
keystore_entry_name_ok(const char *name)
{
	size_t i;

	for (i = 0; i < 2 * KEYSTORE_FP_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9')
		    || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return strcmp(name + i, ".pem") == 0;
}

void
keystore_entry_free(keystore_entry_t *e)
{
	if (e == NULL)
		return;
	free(e->file);
	X509_free(e->cert);
	sk_X509_pop_free(e->chain, X509_free);
	OPENSSL_free(e->sealed);
	keystore_strv_free(e->addresses);
	free(e->origin);
	free(e);
}

/* 1 when o may be an origin: 1..KEYSTORE_ORIGIN_MAX printable ASCII. */
static int
origin_ok(const char *o)
{
	size_t n = strlen(o);

	if (n == 0 || n > KEYSTORE_ORIGIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (o[i] < 0x20 || o[i] > 0x7e)
			return 0;
	return 1;
}

/* ---- sealing ---- */

/* The private key as PKCS#8 DER, OPENSSL_malloc'ed (cleanse on free). */
static keystore_status_t
key_to_der(EVP_PKEY *key, unsigned char **der, size_t *len, keystore_err_t *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *p;
	int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;

	if (n <= 0 || (*der = OPENSSL_malloc((size_t)n)) == NULL) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "cannot encode the private key");
	}
	p = *der;
	*len = (size_t)i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return KEYSTORE_OK;
}

/*
 * The key of a PKCS#8 structure.  RSA, the common case, is decoded
 * directly from its RSAPrivateKey: EVP_PKCS82PKEY() goes through OpenSSL
 * 3's decoder framework, which costs more than the RSA signature the key
 * is decrypted for (make bench: 0.9 ms decode + sign per message, 0.6 ms
 * this way).  Other types (EC keys need the curve from the algorithm's
 * parameters) take the general path.
 */
static EVP_PKEY *
key_from_p8(const PKCS8_PRIV_KEY_INFO *p8)
{
	const ASN1_OBJECT *obj;
	const unsigned char *pk;
	int pklen;

	if (PKCS8_pkey_get0(&obj, &pk, &pklen, NULL, p8) &&
	    OBJ_obj2nid(obj) == NID_rsaEncryption) {
		EVP_PKEY *key = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &pk, pklen);

		if (key != NULL)
			return key;
		ERR_clear_error();
	}
	return EVP_PKCS82PKEY(p8);
}

static keystore_status_t
key_from_der(const unsigned char *der, size_t len, EVP_PKEY **key,
    const char *dir, const char *file, keystore_err_t *err)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);

	*key = p8 ? key_from_p8(p8) : NULL;
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (*key == NULL)
		return util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
		    "%s/%s: the decrypted private key does not parse", dir, file);
	return KEYSTORE_OK;
}

/* The additional data of a seal (version 1 without origin, 2 with);
 * returns its length. */
static int
make_aad(unsigned char aad[AAD_LEN], const unsigned char fp[KEYSTORE_FP_LEN],
    const char *origin)
{
	size_t n = origin != NULL ? strlen(origin) : 0;

	aad[0] = origin != NULL ? SEAL_ORIGIN : SEAL_VERSION;
	memcpy(aad + 1, fp, KEYSTORE_FP_LEN);
	memcpy(aad + 1 + KEYSTORE_FP_LEN, origin != NULL ? origin : "", n);
	return (int)(1 + KEYSTORE_FP_LEN + n);
}

/* out = version | nonce | ciphertext | tag, OPENSSL_malloc'ed. */
static keystore_status_t
seal(const unsigned char *master, const unsigned char *fp, const char *origin,
    const unsigned char *pt, size_t len, unsigned char **out, size_t *outlen,
    keystore_err_t *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char aad[AAD_LEN], *o = OPENSSL_malloc(1 + NONCE_LEN + len + TAG_LEN);
	int n, fin, alen = make_aad(aad, fp, origin);

	if (ctx == NULL || o == NULL || len > INT_MAX
	    || RAND_bytes(o + 1, NONCE_LEN) != 1
	    || !EVP_EncryptInit_ex(ctx, util_alg_aes256_gcm(), NULL, master, o + 1)
	    || !EVP_EncryptUpdate(ctx, NULL, &n, aad, alen)
	    || !EVP_EncryptUpdate(ctx, o + 1 + NONCE_LEN, &n, pt, (int)len)
	    || !EVP_EncryptFinal_ex(ctx, o + 1 + NONCE_LEN + n, &fin)
	    || !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    o + 1 + NONCE_LEN + len)) {
		EVP_CIPHER_CTX_free(ctx);
		OPENSSL_free(o);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "cannot encrypt the private key");
	}
	EVP_CIPHER_CTX_free(ctx);
	o[0] = aad[0];
	*out = o;
	*outlen = 1 + NONCE_LEN + len + TAG_LEN;
	return KEYSTORE_OK;
}

/* The plaintext, OPENSSL_malloc'ed; the caller cleanses and frees it. */
static keystore_status_t
unseal(const unsigned char *master, const keystore_entry_t *e, const char *dir,
    unsigned char **pt, size_t *ptlen, keystore_err_t *err)
{
	const unsigned char *s = e->sealed;
	unsigned char aad[AAD_LEN], *o;
	EVP_CIPHER_CTX *ctx;
	size_t len;
	int n, fin, ok, alen;

	if (e->sealed_len <= 1 + NONCE_LEN + TAG_LEN || e->sealed_len > INT_MAX
	    || s[0] != (e->origin != NULL ? SEAL_ORIGIN : SEAL_VERSION))
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s/%s: encrypted key block: bad length or version (or an origin "
		    "that does not belong)", dir, e->file);
	len = e->sealed_len - 1 - NONCE_LEN - TAG_LEN;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL || (o = OPENSSL_malloc(len)) == NULL) {
		EVP_CIPHER_CTX_free(ctx);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "%s/%s: out of memory",
		    dir, e->file);
	}
	alen = make_aad(aad, e->fp, e->origin);
	ok = EVP_DecryptInit_ex(ctx, util_alg_aes256_gcm(), NULL, master, s + 1)
	    && EVP_DecryptUpdate(ctx, NULL, &n, aad, alen)
	    && EVP_DecryptUpdate(ctx, o, &n, s + 1 + NONCE_LEN, (int)len)
	    && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    (void *)(s + 1 + NONCE_LEN + len))
	    && EVP_DecryptFinal_ex(ctx, o + n, &fin);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		OPENSSL_clear_free(o, len);
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s/%s: the private key fails its integrity check "
		    "(file altered, or another master key)", dir, e->file);
	}
	*pt = o;
	*ptlen = len;
	return KEYSTORE_OK;
}

keystore_status_t
keystore_entry_key(const keystore_entry_t *e, const unsigned char *master,
    const char *dir, EVP_PKEY **key, keystore_err_t *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	keystore_status_t rc;

	if ((rc = unseal(master, e, dir, &der, &len, err)) != KEYSTORE_OK)
		return rc;
	rc = key_from_der(der, len, key, dir, e->file, err);
	OPENSSL_clear_free(der, len);
	return rc;
}

/* ---- making one ---- */

/* Fills what follows from the certificate: name, addresses, info.  where
 * (the file, or NULL for a new entry) starts the error messages. */
static keystore_status_t
entry_describe(keystore_entry_t *e, const char *where,
    keystore_status_t no_address, keystore_err_t *err)
{
	char hex[65];
	int nomem;

	if (keystore_cert_fingerprint(e->cert, hex, e->fp) != 0
	    || keystore_cert_info(e->cert, &e->info) != 0)
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "%s: cannot read the certificate", where ? where : "import");
	if (e->file == NULL && (e->file = malloc(sizeof(hex) + 4)) != NULL)
		snprintf(e->file, sizeof(hex) + 4, "%s.pem", hex);
	if (e->file == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (strncmp(e->file, hex, 64) != 0)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: the certificate's fingerprint is %s", where ? where : e->file,
		    hex);
	if ((e->addresses = keystore_cert_addresses(e->cert, &nomem)) == NULL)
		return util_err_set(err, nomem ? KEYSTORE_ERR_NOMEM
		    : no_address, "%s%s: no mail address in the certificate "
		    "(subjectAltName rfc822Name or subject emailAddress)",
		    where ? where : "certificate ", where ? "" : e->info.subject);
	e->info.addresses = (const char *const *)e->addresses;
	e->info.origin = e->origin;
	return KEYSTORE_OK;
}

keystore_status_t
keystore_entry_new(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
    const char *origin, const unsigned char *master, keystore_entry_t **entry,
    keystore_err_t *err)
{
	keystore_entry_t *e;
	unsigned char *der = NULL;
	size_t len = 0;
	keystore_status_t rc;

	if (origin != NULL && !origin_ok(origin))
		return util_err_set(err, KEYSTORE_ERR_INPUT, "an entry's origin: at most %d "
		    "printable characters", KEYSTORE_ORIGIN_MAX);
	if ((e = calloc(1, sizeof(*e))) == NULL
	    || (origin != NULL && (e->origin = strdup(origin)) == NULL)
	    || (e->chain = X509_chain_up_ref(chain)) == NULL) {
		keystore_entry_free(e);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	X509_up_ref(cert);
	e->cert = cert;
	if ((rc = entry_describe(e, NULL, KEYSTORE_ERR_INPUT, err)) == KEYSTORE_OK
	    && (rc = key_to_der(key, &der, &len, err)) == KEYSTORE_OK) {
		rc = seal(master, e->fp, e->origin, der, len, &e->sealed, &e->sealed_len, err);
		OPENSSL_clear_free(der, len);
	}
	if (rc != KEYSTORE_OK) {
		keystore_entry_free(e);
		return rc;
	}
	*entry = e;
	return KEYSTORE_OK;
}

/* ---- its file ---- */

keystore_status_t
keystore_entry_encode(const keystore_entry_t *e, BIO **out, keystore_err_t *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char hdr[sizeof(ORIGIN_HDR) + KEYSTORE_ORIGIN_MAX + 2] = "";
	int i, ok = b != NULL && PEM_write_bio_X509(b, e->cert);

	for (i = 0; ok && i < sk_X509_num(e->chain); i++)
		ok = PEM_write_bio_X509(b, sk_X509_value(e->chain, i));
	if (e->origin != NULL)
		snprintf(hdr, sizeof(hdr), "%s%s\n", ORIGIN_HDR, e->origin);
	ok = ok && PEM_write_bio(b, KEYSTORE_KEY_PEM_NAME, hdr, e->sealed,
	    (long)e->sealed_len) > 0;
	if (!ok) {
		BIO_free(b);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO,
		    "%s: cannot encode the entry", e->file);
	}
	*out = b;
	return KEYSTORE_OK;
}

keystore_status_t
keystore_entry_save(const keystore_entry_t *e, const char *dir,
    keystore_err_t *err)
{
	BIO *b;
	char *data;
	long len;
	keystore_status_t rc;

	if ((rc = keystore_entry_encode(e, &b, err)) != KEYSTORE_OK)
		return rc;
	if ((len = BIO_get_mem_data(b, &data)) <= 0)
		rc = util_err_set(err, KEYSTORE_ERR_CRYPTO,
		    "%s/%s: cannot encode the entry", dir, e->file);
	else
		rc = keystore_file_write(dir, e->file, data, (size_t)len, 0, NULL, err);
	BIO_free(b);
	return rc;
}

/* The key block's header: nothing, or one "Origin: TEXT" line. */
static keystore_status_t
take_origin(keystore_entry_t *e, const char *header, const char *path,
    keystore_err_t *err)
{
	size_t n = strlen(header);

	if (n == 0)
		return KEYSTORE_OK;
	if (header[n - 1] == '\n')
		n--;
	if (strncmp(header, ORIGIN_HDR, strlen(ORIGIN_HDR)) != 0
	    || (e->origin = strndup(header + strlen(ORIGIN_HDR), n - strlen(ORIGIN_HDR)))
	    == NULL || !origin_ok(e->origin))
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: the key block's header is not an origin", path);
	return KEYSTORE_OK;
}

/* Takes one PEM block (name, header, data) into e; frees nothing. */
static keystore_status_t
take_block(keystore_entry_t *e, const char *name, const char *header,
    unsigned char **data, long len, const char *path, keystore_err_t *err)
{
	const unsigned char *p = *data;
	X509 *x;

	if (e->sealed != NULL)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: a PEM block after the key", path);
	if (strcmp(name, KEYSTORE_KEY_PEM_NAME) == 0 && e->cert != NULL) {
		keystore_status_t rc = take_origin(e, header, path, err);

		if (rc != KEYSTORE_OK)
			return rc;
		e->sealed = *data;
		e->sealed_len = (size_t)len;
		*data = NULL;
		return KEYSTORE_OK;
	}
	if (strcmp(name, PEM_STRING_X509) != 0)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: unexpected PEM block \"%.40s\"", path, name);
	if ((x = d2i_X509(NULL, &p, len)) == NULL || p != *data + len) {
		X509_free(x);
		return util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
		    "%s: a certificate does not parse", path);
	}
	if (e->cert == NULL)
		e->cert = x;
	else if (!sk_X509_push(e->chain, x)) {
		X509_free(x);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	return KEYSTORE_OK;
}

static keystore_status_t
parse_blocks(keystore_entry_t *e, BIO *b, const char *path, keystore_err_t *err)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len;
	keystore_status_t rc = KEYSTORE_OK;

	while (rc == KEYSTORE_OK && PEM_read_bio(b, &name, &header, &data, &len)) {
		rc = take_block(e, name, header, &data, len, path, err);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		data = NULL;
	}
	if (rc != KEYSTORE_OK)
		return rc;
	if (!util_err_ssl_last_is(ERR_LIB_PEM, PEM_R_NO_START_LINE))
		return util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
		    "%s: bad PEM", path);
	ERR_clear_error();
	if (e->sealed == NULL)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: no certificate and encrypted key", path);
	return KEYSTORE_OK;
}

/* Parses an entry's bytes into e; where names them in messages. */
static keystore_status_t
entry_parse(keystore_entry_t *e, const unsigned char *data, size_t len,
    const char *where, keystore_err_t *err)
{
	keystore_status_t rc;
	BIO *b;

	if (len > KEYSTORE_ENTRY_MAX)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "%s: %zu bytes, more than %ld", where, len, KEYSTORE_ENTRY_MAX);
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", where);
	else if ((rc = parse_blocks(e, b, where, err)) == KEYSTORE_OK)
		rc = entry_describe(e, where, KEYSTORE_ERR_CORRUPT, err);
	BIO_free(b);
	return rc;
}

/* Reads path into e. */
static keystore_status_t
entry_read(keystore_entry_t *e, const char *path, keystore_err_t *err)
{
	unsigned char *data;
	size_t len;
	keystore_status_t rc;

	if ((rc = keystore_file_read(path, KEYSTORE_ENTRY_MAX, &data, &len, err))
	    != KEYSTORE_OK)
		return rc;
	rc = entry_parse(e, data, len, path, err);
	OPENSSL_free(data);
	return rc;
}

keystore_status_t
keystore_entry_parse(const unsigned char *data, size_t len, const char *where,
    keystore_entry_t **entry, keystore_err_t *err)
{
	keystore_entry_t *e = calloc(1, sizeof(*e));
	keystore_status_t rc;

	if (e == NULL || (e->chain = sk_X509_new_null()) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", where);
	else
		rc = entry_parse(e, data, len, where, err);
	if (rc != KEYSTORE_OK) {
		keystore_entry_free(e);
		return rc;
	}
	*entry = e;
	return KEYSTORE_OK;
}

keystore_status_t
keystore_entry_load(const char *dir, const char *name, keystore_entry_t **entry,
    keystore_err_t *err)
{
	char *path = keystore_path_join(dir, name);
	keystore_entry_t *e = calloc(1, sizeof(*e));
	keystore_status_t rc;

	if (path == NULL || e == NULL || (e->file = strdup(name)) == NULL
	    || (e->chain = sk_X509_new_null()) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", name);
	else
		rc = entry_read(e, path, err);
	free(path);
	if (rc != KEYSTORE_OK) {
		keystore_entry_free(e);
		return rc;
	}
	*entry = e;
	return KEYSTORE_OK;
}
