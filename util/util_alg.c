/*
 * util_alg.c: the per-message algorithms, fetched once (util_alg.h).
 *
 * Threads: fetched under pthread_once; afterwards the pointers are only
 * read until util_alg_free(), which the owner calls after joining every
 * thread.
 */
#include "util/util_alg.h"

#include <pthread.h>
#include <openssl/err.h>

static pthread_once_t alg_once = PTHREAD_ONCE_INIT;
static EVP_MD *alg_sha256;
static EVP_CIPHER *alg_aes256_gcm, *alg_aes256_cbc;

static void
alg_fetch(void)
{
	alg_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	alg_aes256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	alg_aes256_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	ERR_clear_error();
}

const EVP_MD *
util_alg_sha256(void)
{
	pthread_once(&alg_once, alg_fetch);
	return alg_sha256 != NULL ? alg_sha256 : EVP_sha256();
}

const EVP_CIPHER *
util_alg_aes256_gcm(void)
{
	pthread_once(&alg_once, alg_fetch);
	return alg_aes256_gcm != NULL ? alg_aes256_gcm : EVP_aes_256_gcm();
}

const EVP_CIPHER *
util_alg_aes256_cbc(void)
{
	pthread_once(&alg_once, alg_fetch);
	return alg_aes256_cbc != NULL ? alg_aes256_cbc : EVP_aes_256_cbc();
}

void
util_alg_free(void)
{
	pthread_once(&alg_once, alg_fetch);
	EVP_MD_free(alg_sha256);
	EVP_CIPHER_free(alg_aes256_gcm);
	EVP_CIPHER_free(alg_aes256_cbc);
	alg_sha256 = NULL;
	alg_aes256_gcm = alg_aes256_cbc = NULL;
}
