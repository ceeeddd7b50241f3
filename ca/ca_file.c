/*
 * ca_file.c: the CA directory's files (see ca_int.h): certificates in
 * PEM, keys and lists through memory BIOs, read and written with the
 * keystore's safe file calls (no symbolic links, 0600, atomic writes).
 */
#include "ca/ca_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

keystore_status_t
ca_file_write_bio(const char *dir, const char *name, BIO *b, keystore_err_t *err)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);
	keystore_status_t rc;

	if (len <= 0)
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "%s/%s: cannot encode", dir, name);
	rc = keystore_file_write(dir, name, data, (size_t)len, 0, NULL, err);
	OPENSSL_cleanse(data, (size_t)len);
	return rc;
}

keystore_status_t
ca_file_save_cert(const char *dir, const char *name, X509 *cert, keystore_err_t *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	keystore_status_t rc;

	if (b == NULL || !PEM_write_bio_X509(b, cert))
		rc = util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "%s/%s: cannot encode", dir, name);
	else
		rc = ca_file_write_bio(dir, name, b, err);
	BIO_free(b);
	return rc;
}

keystore_status_t
ca_file_read_bio(const char *dir, const char *name, BIO **out, keystore_err_t *err)
{
	char *path = keystore_path_join(dir, name);
	unsigned char *data = NULL;
	size_t len = 0;
	keystore_status_t rc;

	if (path == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = keystore_file_read(path, CA_FILE_MAX, &data, &len, err);
	free(path);
	if (rc != KEYSTORE_OK)
		return rc;
	*out = BIO_new(BIO_s_mem());
	if (*out == NULL || BIO_write(*out, data, (int)len) != (int)len)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	OPENSSL_clear_free(data, len);
	return rc;
}

keystore_status_t
ca_file_load_cert(const char *dir, const char *name, X509 **cert, keystore_err_t *err)
{
	BIO *b = NULL;
	keystore_status_t rc = ca_file_read_bio(dir, name, &b, err);

	if (rc == KEYSTORE_OK && (*cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_CORRUPT, "%s/%s: not a certificate", dir, name);
	BIO_free(b);
	return rc;
}
