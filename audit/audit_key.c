/*
 * audit_key.c: the audit key (ECDSA P-256) that signs checkpoints: making
 * it, loading it with its permissions checked, writing and checking its
 * public half audit.pub, and signing and verifying the checkpoint string.
 *
 * Ownership: keys returned are new references (EVP_PKEY_free, which also
 * cleanses the private key); signatures are malloc'ed strings.
 * Threads: no shared state; an EVP_PKEY may sign from several threads.
 */
#include "audit/audit_key.h"
#include "audit/audit_int.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

void
audit_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;

	EVP_Digest(data, len, md, &mdlen, util_alg_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

int
audit_fingerprint_parse(const char *in, char out[65])
{
	size_t n = 0;

	if (strncasecmp(in, "sha256:", 7) == 0)
		in += 7;
	for (; *in != '\0'; in++) {
		if (*in == ':' && n > 0 && n % 2 == 0 && in[1] != '\0')
			continue;
		if (!isxdigit((unsigned char)*in) || n == 64)
			return -1;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n == 64 ? 0 : -1;
}

audit_status_t
audit_pubkey_fingerprint(EVP_PKEY *key, char out[65], audit_err_t *err)
{
	return audit_key_id(key, out, err);
}

audit_status_t
audit_key_id(EVP_PKEY *key, char out[65], audit_err_t *err)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0)
		return util_err_ssl(err, AUDIT_ERR_CRYPTO, "cannot encode the audit public key");
	audit_sha256_hex(der, (size_t)len, out);
	OPENSSL_free(der);
	return AUDIT_OK;
}

/* Writes key to a new file; when another process made it first, *exists
 * is set and nothing is written. */
static audit_status_t
write_pem(const char *path, int mode, EVP_PKEY *key, int private,
    int *exists, audit_err_t *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	*exists = fd < 0 && errno == EEXIST;
	if (*exists)
		return AUDIT_OK;
	if (fd < 0)
		return util_err_set(err, AUDIT_ERR_IO, "cannot create %s: %s",
		    path, strerror(errno));
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return util_err_set(err, AUDIT_ERR_NOMEM, "cannot write %s", path);
	}
	ok = private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_PUBKEY(f, key);
	ok = ok && fflush(f) == 0 && fsync(fd) == 0;
	if (fclose(f) != 0 || !ok) {
		unlink(path);
		return util_err_ssl(err, AUDIT_ERR_IO, "cannot write %s", path);
	}
	return AUDIT_OK;
}

static int
is_p256(EVP_PKEY *key)
{
	char group[64];

	return EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) &&
	    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

#define AUDIT_KEY_MAX (64 * 1024)

/* The audit key, read by util_secret_read() (no symbolic link, owner us
 * or root, no access for group or others). */
static audit_status_t
read_key(const char *path, EVP_PKEY **key, audit_err_t *err)
{
	unsigned char *data;
	size_t len;
	char msg[AUDIT_ERR_MAX];
	BIO *bio;

	*key = NULL;
	if (util_secret_read(path, AUDIT_KEY_MAX, &data, &len, msg, sizeof(msg)) != 0)
		return util_err_set(err, errno == ENOENT ? AUDIT_ERR_KEY : errno == EPERM
		    || errno == ELOOP ? AUDIT_ERR_PERM : AUDIT_ERR_IO,
		    "the audit key: %s", msg);
	if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL)
		*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	util_secret_free(data, len);
	if (*key == NULL)
		return util_err_ssl(err, AUDIT_ERR_KEY, "%s: not a PEM private key", path);
	if (!is_p256(*key)) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return util_err_set(err, AUDIT_ERR_KEY, "%s: not an ECDSA P-256 key", path);
	}
	return AUDIT_OK;
}

EVP_PKEY *
audit_key_load(const char *path, audit_err_t *err)
{
	EVP_PKEY *k = NULL;

	(void)read_key(path, &k, err);
	return k;
}

EVP_PKEY *
audit_pubkey_load(const char *path, audit_err_t *err)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *pub;

	if (f == NULL) {
		util_err_set(err, errno == ENOENT ? AUDIT_ERR_KEY : AUDIT_ERR_IO,
		    "cannot open the audit public key %s: %s", path, strerror(errno));
		return NULL;
	}
	pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pub == NULL)
		util_err_ssl(err, AUDIT_ERR_KEY, "%s: not a PEM public key", path);
	else if (!is_p256(pub)) {
		EVP_PKEY_free(pub);
		pub = NULL;
		util_err_set(err, AUDIT_ERR_KEY, "%s: not an ECDSA P-256 key", path);
	}
	return pub;
}

/* audit.pub must exist and hold key's public half; written when absent. */
static audit_status_t
check_pub(const char *pub_file, EVP_PKEY *key, audit_err_t *err)
{
	audit_status_t st;
	EVP_PKEY *pub;
	int exists;

	if (access(pub_file, F_OK) < 0 && errno == ENOENT) {
		st = write_pem(pub_file, 0644, key, 0, &exists, err);
		if (st != AUDIT_OK || !exists)
			return st;
	}
	pub = audit_pubkey_load(pub_file, err);
	if (pub == NULL)
		return err ? err->code : AUDIT_ERR_KEY;
	st = EVP_PKEY_eq(key, pub) == 1 ? AUDIT_OK :
	    util_err_set(err, AUDIT_ERR_KEY,
	    "%s does not hold the public key of the audit key", pub_file);
	EVP_PKEY_free(pub);
	return st;
}

audit_status_t
audit_key_open(const char *key_file, const char *pub_file, int create,
    EVP_PKEY *given, EVP_PKEY **key, int *created, audit_err_t *err)
{
	audit_status_t st;
	EVP_PKEY *k = NULL;
	int exists = 1;

	*key = NULL;
	*created = 0;
	if (given != NULL) {            /* loaded by the caller: only check it */
		if (!is_p256(given))
			return util_err_set(err, AUDIT_ERR_KEY, "%s: not an ECDSA "
			    "P-256 key", key_file);
		if ((st = check_pub(pub_file, given, err)) != AUDIT_OK)
			return st;
		if (EVP_PKEY_up_ref(given) != 1)
			return util_err_ssl(err, AUDIT_ERR_CRYPTO, "cannot keep the audit key");
		*key = given;
		return AUDIT_OK;
	}
	if (create && access(key_file, F_OK) < 0 && errno == ENOENT) {
		k = EVP_EC_gen("P-256");
		if (k == NULL)
			return util_err_ssl(err, AUDIT_ERR_CRYPTO, "cannot make an audit key");
		st = write_pem(key_file, 0600, k, 1, &exists, err);
		EVP_PKEY_free(k);
		if (st != AUDIT_OK)
			return st;
		*created = !exists;
	}
	st = read_key(key_file, &k, err);
	if (st != AUDIT_OK)
		return st;
	st = check_pub(pub_file, k, err);
	if (st != AUDIT_OK) {
		EVP_PKEY_free(k);
		return st;
	}
	*key = k;
	return AUDIT_OK;
}

static char *
cp_message(uint64_t seq, const char *time, const char *prev)
{
	char *msg;

	if (asprintf(&msg, "smimegate-audit-checkpoint-v1 seq=%llu time=%s prev=%s",
	    (unsigned long long)seq, time, prev) < 0)
		return NULL;
	return msg;
}

char *
audit_key_sign(EVP_PKEY *key, uint64_t seq, const char *time,
    const char *prev, audit_err_t *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *msg = cp_message(seq, time, prev), *b64 = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;

	if (ctx == NULL || msg == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *)msg, strlen(msg)) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)msg, strlen(msg)) != 1 ||
	    (b64 = malloc(4 * ((siglen + 2) / 3) + 1)) == NULL) {
		util_err_ssl(err, AUDIT_ERR_CRYPTO, "cannot sign a checkpoint");
	} else
		EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	OPENSSL_free(sig);
	free(msg);
	EVP_MD_CTX_free(ctx);
	return b64;
}

/* Strict base64 of at most 256 octets; returns the length or -1. */
static int
b64_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t n = strlen(s), pad = 0;
	int len;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > outlen)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)len < pad)
		return -1;
	return len - (int)pad;
}

int
audit_key_verify(EVP_PKEY *pub, uint64_t seq, const char *time,
    const char *prev, const char *sig)
{
	unsigned char raw[256];
	int len = b64_decode(sig, raw, sizeof(raw)), ok = 0;
	EVP_MD_CTX *ctx;
	char *msg;

	if (len <= 0)
		return 0;
	ctx = EVP_MD_CTX_new();
	msg = cp_message(seq, time, prev);
	if (ctx != NULL && msg != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1)
		ok = EVP_DigestVerify(ctx, raw, (size_t)len,
		    (unsigned char *)msg, strlen(msg)) == 1;
	free(msg);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
