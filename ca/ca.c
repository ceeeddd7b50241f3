/*
 * ca.c: the embedded certificate authority (see ca.h): its keys at rest,
 * the root and the intermediate, issuing with an escrowed key or to an
 * external request.  Revocation and CRLs are in ca_crl.c.  X.509
 * issuing and extensions are OpenSSL's; this file only decides what goes
 * in them and where the files live.  Keys and files go through keystore's
 * public API.
 */
#include "ca/ca_int.h"
#include "keystore/keystore_retire.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

/* ---- keys at rest ---- */

/* The password the CA keys are encrypted with: derived from the
 * keystore's master key (HMAC-SHA256 of a label under it, hex). */
static void
ca_password(keystore_t *ks, char pw[65])
{
	keystore_master_derive(ks, "smimegate CA key", pw);
}

static keystore_status_t
save_key(ca_t *ca, const char *name, EVP_PKEY *key, keystore_err_t *err)
{
	char pw[65];
	BIO *b = BIO_new(BIO_s_mem());
	keystore_status_t rc;

	ca_password(ca->ks, pw);
	if (b == NULL || !PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(),
	    pw, (int)strlen(pw), NULL, NULL))
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "%s/%s: cannot encrypt the key",
		    ca->s.dir, name);
	else
		rc = ca_file_write_bio(ca->s.dir, name, b, err);
	OPENSSL_cleanse(pw, sizeof(pw));
	BIO_free(b);
	return rc;
}

/* The CA's key in its file name, decrypted. */
static keystore_status_t
load_key(ca_t *ca, const char *name, EVP_PKEY **key, keystore_err_t *err)
{
	char pw[65];
	BIO *b = NULL;
	keystore_status_t rc = ca_file_read_bio(ca->s.dir, name, &b, err);

	ca_password(ca->ks, pw);
	if (rc == KEYSTORE_OK && (*key = PEM_read_bio_PrivateKey(b, NULL, NULL, pw)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
		    "%s/%s: cannot decrypt the key (another master key?)", ca->s.dir, name);
	OPENSSL_cleanse(pw, sizeof(pw));
	BIO_free_all(b);
	return rc;
}

/* ---- making certificates ---- */

EVP_PKEY *
ca_new_key(ca_keytype_t t)
{
	switch (t) {
	case CA_RSA3072: return EVP_RSA_gen(3072);
	case CA_P256: return EVP_EC_gen("P-256");
	default: return EVP_RSA_gen(2048);
	}
}

/* The configured subject fields ("O=Example,C=DE") plus CN and, when not
 * NULL, emailAddress. */
X509_NAME *
ca_make_name(const char *fields, const char *cn, const char *email)
{
	X509_NAME *n = X509_NAME_new();
	char *copy = strdup(fields != NULL ? fields : ""), *tok, *save = NULL, *eq;
	int ok = n != NULL && copy != NULL;

	for (tok = ok ? strtok_r(copy, ",", &save) : NULL; ok && tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if ((eq = strchr(tok, '=')) == NULL) {
			ok = 0;
			break;
		}
		*eq = '\0';
		ok = X509_NAME_add_entry_by_txt(n, tok, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0);
	}
	ok = ok && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	if (ok && email != NULL)
		ok = X509_NAME_add_entry_by_txt(n, "emailAddress", MBSTRING_ASC,
		    (const unsigned char *)email, -1, -1, 0);
	free(copy);
	if (!ok) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e != NULL && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok;
}

/* A random positive 128-bit serial. */
static int
set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn != NULL && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY)
	    && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;

	BN_free(bn);
	return ok;
}

/* One certificate for key under name, signed by issuer/ikey (NULL: itself);
 * exts are nid/value pairs ending with 0. */
static X509 *
make_cert(X509_NAME *name, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long days,
    const int *nids, const char *const *values)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	int ok, i;

	ok = x != NULL && X509_set_version(x, 2) && set_serial(x)
	    && X509_set_subject_name(x, name)
	    && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name)
	    && X509_gmtime_adj(X509_getm_notBefore(x), -300)
	    && X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL)
	    && X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; ok && nids[i] != 0; i++)
		ok = add_ext(x, &ctx, nids[i], values[i]);
	ok = ok && X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* ---- init and open ---- */

static char *
ca_cn(const ca_settings_t *s, const char *what)
{
	char *o = NULL, *p;
	const char *f = s->subject != NULL ? strstr(s->subject, "O=") : NULL;
	size_t n;

	if (f != NULL && (f == s->subject || f[-1] == ',' || f[-1] == ' ')) {
		n = strcspn(f + 2, ",");
		if ((o = malloc(n + strlen(what) + 2)) != NULL)
			snprintf(o, n + strlen(what) + 2, "%.*s %s", (int)n, f + 2, what);
		return o;
	}
	if ((p = malloc(strlen(what) + 11)) != NULL)
		snprintf(p, strlen(what) + 11, "smimegate %s", what);
	return p;
}

/* The new CA into the directory, unless another gateway was first. */
static keystore_status_t
shared_save(ca_t *ca, EVP_PKEY *rkey, EVP_PKEY *ikey, keystore_err_t *err)
{
	int exists = 0;
	keystore_status_t rc = ca_shared_save(ca, rkey, ikey, &exists, err);

	if (rc == KEYSTORE_OK && exists)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT,
		    "the CA in the directory exists already (another gateway made it)");
	return rc;
}

static keystore_status_t
ca_make(ca_t *ca, keystore_err_t *err)
{
	static const int root_nids[] = { NID_basic_constraints, NID_key_usage,
	    NID_subject_key_identifier, 0 };
	static const char *const root_vals[] = { "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", "hash" };
	static const int int_nids[] = { NID_basic_constraints, NID_key_usage,
	    NID_subject_key_identifier, NID_authority_key_identifier, 0 };
	static const char *const int_vals[] = { "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", "hash", "keyid:always" };
	EVP_PKEY *rkey = ca_new_key(ca->s.key_type), *ikey = ca_new_key(ca->s.key_type);
	char *rcn = ca_cn(&ca->s, "Root CA"), *icn = ca_cn(&ca->s, "Issuing CA");
	X509_NAME *rn = rcn ? ca_make_name(ca->s.subject, rcn, NULL) : NULL;
	X509_NAME *in = icn ? ca_make_name(ca->s.subject, icn, NULL) : NULL;
	keystore_status_t rc;

	if (rkey == NULL || ikey == NULL || rn == NULL || in == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT,
		    "CA: cannot make keys or names (CASubject \"%s\"?)", ca->s.subject);
	else if ((ca->root = make_cert(rn, rkey, NULL, NULL, ca->s.ca_days,
	    root_nids, root_vals)) == NULL
	    || (ca->issuer = make_cert(in, ikey, ca->root, rkey, ca->s.ca_days,
	    int_nids, int_vals)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot make the certificates");
	else if (ca->shared)
		rc = shared_save(ca, rkey, ikey, err);
	else if ((rc = save_key(ca, "root.key", rkey, err)) == KEYSTORE_OK
	    && (rc = save_key(ca, "issuing.key", ikey, err)) == KEYSTORE_OK
	    && (rc = ca_file_save_cert(ca->s.dir, "root.crt", ca->root, err)) == KEYSTORE_OK)
		rc = ca_file_save_cert(ca->s.dir, "issuing.crt", ca->issuer, err);
	if (rc == KEYSTORE_OK) {
		EVP_PKEY_up_ref(ikey);
		ca->issuer_key = ikey;
	}
	EVP_PKEY_free(rkey);
	EVP_PKEY_free(ikey);
	X509_NAME_free(rn);
	X509_NAME_free(in);
	free(rcn);
	free(icn);
	return rc;
}

static ca_t *
ca_new(keystore_t *ks, const ca_settings_t *s, keystore_err_t *err)
{
	ca_t *ca = calloc(1, sizeof(*ca));

	if (ca == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ca->ks = ks;
	ca->s = *s;
	ca->shared = keystore_shared(ks);
	pthread_mutex_init(&ca->lock, NULL);
	pthread_mutex_init(&ca->rev_lock, NULL);
	return ca;
}

static keystore_status_t
ca_mkdirs(const char *dir, keystore_err_t *err)
{
	char *issued = keystore_path_join(dir, "issued");
	keystore_status_t rc = KEYSTORE_OK;
	struct stat st;
	char msg[300];

	if (issued == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if ((mkdir(dir, 0700) != 0 && errno != EEXIST)
	    || (mkdir(issued, 0700) != 0 && errno != EEXIST))
		rc = util_err_set(err, KEYSTORE_ERR_IO, "%s: cannot create: %s",
		    dir, strerror(errno));
	else if (geteuid() == 0 && stat(dir, &st) == 0
	    && util_chown_nofollow(issued, st.st_uid, st.st_gid, msg, sizeof(msg)) != 0)
		rc = util_err_set(err, errno == ELOOP ? KEYSTORE_ERR_PERM
		    : KEYSTORE_ERR_IO, "%s", msg);
	free(issued);
	return rc;
}

/* 1 when the directory holds a CA, 0 not, -1 when it cannot say. */
static int
shared_exists(keystore_t *ks)
{
	unsigned char *data = NULL;
	size_t len = 0;
	keystore_err_t err;
	keystore_status_t rc = keystore_record_get(ks, "ca", "keys", &data, &len, NULL, &err);

	if (rc == KEYSTORE_OK)
		OPENSSL_clear_free(data, len + 1);
	return rc == KEYSTORE_OK || rc == KEYSTORE_ERR_CORRUPT ? 1
	    : rc == KEYSTORE_NOTFOUND ? 0 : -1;
}

keystore_status_t
ca_init(keystore_t *ks, const ca_settings_t *s, keystore_err_t *err)
{
	ca_t *ca;
	keystore_status_t rc;
	char *p = keystore_path_join(s->dir, "issuing.crt");
	struct stat st;
	int exists = keystore_shared(ks) ? shared_exists(ks)
	    : p != NULL && stat(p, &st) == 0;

	free(p);
	if (exists < 0)
		return util_err_set(err, KEYSTORE_ERR_IO, "CA: the directory does not answer");
	if (exists)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "%s: the CA exists already", s->dir);
	if ((rc = ca_mkdirs(s->dir, err)) != KEYSTORE_OK)
		return rc;
	if ((ca = ca_new(ks, s, err)) == NULL)
		return KEYSTORE_ERR_NOMEM;
	if ((rc = ca_make(ca, err)) == KEYSTORE_OK)
		rc = ca_crl(ca, NULL, NULL, err);
	ca_free(ca);
	return rc;
}

/* The CA from the directory; its certificates (not its keys) written to
 * the CA directory too, for the administrator and the CRL. */
static keystore_status_t
shared_open(ca_t *ca, keystore_err_t *err)
{
	keystore_status_t rc = ca_shared_load(ca, err);

	if (rc == KEYSTORE_OK && X509_check_private_key(ca->issuer, ca->issuer_key) != 1)
		rc = util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
		    "CA in the directory: the issuing key does not match its certificate");
	if (rc == KEYSTORE_OK && (rc = ca_mkdirs(ca->s.dir, err)) == KEYSTORE_OK
	    && (rc = ca_file_save_cert(ca->s.dir, "root.crt", ca->root, err)) == KEYSTORE_OK)
		rc = ca_file_save_cert(ca->s.dir, "issuing.crt", ca->issuer, err);
	return rc;
}

ca_t *
ca_open(keystore_t *ks, const ca_settings_t *s, keystore_err_t *err)
{
	ca_t *ca = ca_new(ks, s, err);

	if (ca == NULL)
		return NULL;
	if (ca->shared) {
		if (shared_open(ca, err) != KEYSTORE_OK) {
			ca_free(ca);
			return NULL;
		}
		return ca;
	}
	if (ca_file_load_cert(s->dir, "root.crt", &ca->root, err) != KEYSTORE_OK
	    || ca_file_load_cert(s->dir, "issuing.crt", &ca->issuer, err) != KEYSTORE_OK
	    || load_key(ca, "issuing.key", &ca->issuer_key, err) != KEYSTORE_OK
	    || X509_check_private_key(ca->issuer, ca->issuer_key) != 1) {
		if (err != NULL && err->code == KEYSTORE_OK)
			util_err_ssl(err, KEYSTORE_ERR_CORRUPT,
			    "%s: issuing.key does not match issuing.crt", s->dir);
		ca_free(ca);
		return NULL;
	}
	return ca;
}

void
ca_free(ca_t *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->root);
	X509_free(ca->issuer);
	EVP_PKEY_free(ca->issuer_key);
	ca_shared_revset_free(ca->revs);
	pthread_mutex_destroy(&ca->rev_lock);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

X509 *
ca_issuer(ca_t *ca)
{
	X509_up_ref(ca->issuer);
	return ca->issuer;
}

keystore_t *
ca_keystore(ca_t *ca)
{
	return ca->ks;
}

X509 *
ca_root(ca_t *ca)
{
	X509_up_ref(ca->root);
	return ca->root;
}

/* ---- issuing ---- */

static const char *
profile_usage(ca_profile_t p, int ec)
{
	switch (p) {
	case CA_SIGN: return "critical,digitalSignature,nonRepudiation";
	case CA_ENCRYPT: return ec ? "critical,keyAgreement" : "critical,keyEncipherment";
	default: return ec ? "critical,digitalSignature,keyAgreement"
	    : "critical,digitalSignature,keyEncipherment";
	}
}

static X509 *
issue_cert(ca_t *ca, const char *address, ca_profile_t profile,
    EVP_PKEY *key)
{
	int nids[10], n = 0;
	const char *vals[10];
	char san[300], cdp[600], aia[1200];
	X509_NAME *name = ca_make_name(ca->s.subject, address, address);
	X509 *x;

	snprintf(san, sizeof(san), "email:%s", address);
	nids[n] = NID_basic_constraints; vals[n++] = "critical,CA:FALSE";
	nids[n] = NID_key_usage; vals[n++] = profile_usage(profile, EVP_PKEY_is_a(key, "EC"));
	nids[n] = NID_ext_key_usage; vals[n++] = "emailProtection";
	nids[n] = NID_subject_alt_name; vals[n++] = san;
	nids[n] = NID_subject_key_identifier; vals[n++] = "hash";
	nids[n] = NID_authority_key_identifier; vals[n++] = "keyid:always";
	if (ca->s.crl_url != NULL && *ca->s.crl_url != '\0') {
		snprintf(cdp, sizeof(cdp), "URI:%s", ca->s.crl_url);
		nids[n] = NID_crl_distribution_points; vals[n++] = cdp;
	}
	aia[0] = '\0';
	if (ca->s.ocsp_url != NULL && *ca->s.ocsp_url != '\0')
		snprintf(aia, sizeof(aia), "OCSP;URI:%s", ca->s.ocsp_url);
	if (ca->s.issuer_url != NULL && *ca->s.issuer_url != '\0')
		snprintf(aia + strlen(aia), sizeof(aia) - strlen(aia), "%scaIssuers;URI:%s",
		    aia[0] ? "," : "", ca->s.issuer_url);
	if (aia[0] != '\0') {
		nids[n] = NID_info_access; vals[n++] = aia;
	}
	nids[n] = 0;
	if (name == NULL)
		return NULL;
	x = make_cert(name, key, ca->issuer, ca->issuer_key, ca->s.days, nids, vals);
	X509_NAME_free(name);
	return x;
}

static keystore_status_t
escrow(ca_t *ca, X509 *cert, EVP_PKEY *key, keystore_err_t *err)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	keystore_status_t rc;

	if (chain == NULL || !sk_X509_push(chain, ca->issuer)
	    || !sk_X509_push(chain, ca->root)) {
		sk_X509_free(chain);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	rc = keystore_escrow(ca->ks, cert, chain, key, err);
	sk_X509_free(chain);
	return rc;
}

static char *
serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return hex;
}

static int
address_ok(const char *address)
{
	return address != NULL && strchr(address, '@') != NULL && strlen(address) <= 254
	    && strpbrk(address, ",/\n\r ") == NULL;
}

/* issued/SERIAL.pem, or the record in the directory: the CA's record of
 * x.  Under the lock. */
static keystore_status_t
record_issued(ca_t *ca, X509 *x, keystore_err_t *err)
{
	char *hex = serial_hex(x), *dir = keystore_path_join(ca->s.dir, "issued"), name[300];
	keystore_status_t rc;

	if (hex == NULL || dir == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else if (ca->shared)
		rc = ca_shared_issued(ca, hex, x, err);
	else {
		snprintf(name, sizeof(name), "%s.pem", hex);
		rc = ca_file_save_cert(dir, name, x, err);
	}
	OPENSSL_free(hex);
	free(dir);
	return rc;
}

/* A retired address (keystore_retire.h) gets no certificate: KEYSTORE_RETIRED. */
static keystore_status_t
not_retired(ca_t *ca, const char *address, keystore_err_t *err)
{
	char *const one[] = { (char *)address, NULL };

	return keystore_retired_check(ca->ks, one, err);
}

keystore_status_t
ca_issue(ca_t *ca, const char *address,
    ca_profile_t profile, X509 **cert, keystore_err_t *err)
{
	EVP_PKEY *key;
	X509 *x = NULL;
	keystore_status_t rc;

	if (!address_ok(address))
		return util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a mail address: %s",
		    address ? address : "(none)");
	if ((rc = not_retired(ca, address, err)) != KEYSTORE_OK)
		return rc;
	pthread_mutex_lock(&ca->lock);
	if ((key = ca_new_key(ca->s.key_type)) == NULL
	    || (x = issue_cert(ca, address, profile, key)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot issue for %s", address);
	else if ((rc = escrow(ca, x, key, err)) == KEYSTORE_OK)
		rc = record_issued(ca, x, err);
	pthread_mutex_unlock(&ca->lock);
	EVP_PKEY_free(key);
	if (rc == KEYSTORE_OK && cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return rc;
}

/* The request in req (PEM, else DER), its signature verified. */
static X509_REQ *
csr_read(const unsigned char *req, size_t len, keystore_err_t *err)
{
	BIO *b = BIO_new_mem_buf(req, (int)len);
	const unsigned char *p = req;
	X509_REQ *r = NULL;
	EVP_PKEY *pub;

	if (len > 0 && len < 1024 * 1024 && b != NULL
	    && (r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();      /* not PEM: DER then */
		r = d2i_X509_REQ(NULL, &p, (long)len);
	}
	BIO_free(b);
	if (r == NULL) {
		util_err_ssl(err, KEYSTORE_ERR_INPUT, "CA: not a PKCS#10 request");
		return NULL;
	}
	if ((pub = X509_REQ_get0_pubkey(r)) == NULL || X509_REQ_verify(r, pub) != 1) {
		util_err_ssl(err, KEYSTORE_ERR_INPUT, "CA: the request's signature "
		    "does not verify");
		X509_REQ_free(r);
		return NULL;
	}
	if ((EVP_PKEY_is_a(pub, "RSA") && EVP_PKEY_get_bits(pub) < 2048)
	    || (!EVP_PKEY_is_a(pub, "RSA") && !EVP_PKEY_is_a(pub, "EC"))) {
		util_err_set(err, KEYSTORE_ERR_INPUT, "CA: the request's key must be "
		    "RSA (2048 bits or more) or EC");
		X509_REQ_free(r);
		return NULL;
	}
	return r;
}

keystore_status_t
ca_issue_csr(ca_t *ca, const char *address,
    ca_profile_t profile, const unsigned char *req, size_t len, X509 **cert,
    keystore_err_t *err)
{
	X509_REQ *r;
	X509 *x = NULL;
	keystore_status_t rc;

	if (!address_ok(address))
		return util_err_set(err, KEYSTORE_ERR_INPUT, "CA: not a mail address: %s",
		    address ? address : "(none)");
	if ((rc = not_retired(ca, address, err)) != KEYSTORE_OK)
		return rc;
	if ((r = csr_read(req, len, err)) == NULL)
		return err->code;
	pthread_mutex_lock(&ca->lock);
	if ((x = issue_cert(ca, address, profile, X509_REQ_get0_pubkey(r))) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "CA: cannot issue for %s", address);
	else
		rc = record_issued(ca, x, err);
	pthread_mutex_unlock(&ca->lock);
	X509_REQ_free(r);
	if (rc == KEYSTORE_OK && cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return rc;
}
