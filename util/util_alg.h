/*
 * util_alg.h: the algorithms the gateway uses on every message, fetched
 * once per process from OpenSSL's default library context.
 *
 * OpenSSL 3 looks an algorithm up again (a fetch: a name lookup and a
 * property query under the method store's lock) every time a legacy
 * constant such as EVP_sha256() or EVP_aes_256_gcm() is handed to
 * EVP_DigestInit_ex(), EVP_EncryptInit_ex(), X509_digest() or HMAC().  An
 * object from EVP_MD_fetch()/EVP_CIPHER_fetch() is used as it is.  These
 * return such objects, fetched on first use; should the fetch fail (no
 * default provider), the legacy constant, which still works, only slower.
 *
 * Ownership: the objects belong to this module; callers never free them.
 * util_alg_free() releases them: called once by the process's owner at
 * shutdown, after every thread that could use them is joined (the
 * getters return the legacy constants afterwards).
 * Threads: the getters are safe from any number of threads; the objects
 * are only read (OpenSSL reference-counts them atomically).
 */
#ifndef SMIMEGATE_UTIL_ALG_H
#define SMIMEGATE_UTIL_ALG_H

#include <openssl/evp.h>

const EVP_MD *util_alg_sha256(void);
const EVP_CIPHER *util_alg_aes256_gcm(void);
const EVP_CIPHER *util_alg_aes256_cbc(void);
void util_alg_free(void);

#endif
