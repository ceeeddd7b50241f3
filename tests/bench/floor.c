/*
 * floor.c: the cryptographic floor of one message, for `make bench` only.
 *
 * What OpenSSL itself needs, on this machine, for the cryptography of one
 * S/MIME message of SIZE octets: one RSA-2048 private-key signature (PKCS#1
 * v1.5 over a SHA-256 digest), one RSA-2048 public-key encryption of a
 * 32-octet content key (one per recipient), SHA-256 over SIZE octets, and
 * AES-256-CBC and AES-256-GCM over SIZE octets; inbound, one RSA-2048
 * signature verification (per signature or certificate checked) and one
 * RSA-2048 private-key decryption of a content key.  Each figure is CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) per operation, averaged over enough runs to
 * last about ITER_SECONDS.  Output: "name=seconds" lines.
 *
 *   floor SIZE
 *
 * Through EVP, as smimegate's CMS calls end up; nothing of smimegate is
 * linked, so the figure is OpenSSL's alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define ITER_SECONDS 0.3

static EVP_PKEY *key;
static unsigned char *data;
static size_t size;

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
fail(const char *what)
{
	fprintf(stderr, "floor: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
op_sign(void)
{
	unsigned char md[32], sig[512];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);

	memset(md, 0x5a, sizeof(md));
	if (c == NULL || EVP_PKEY_sign_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_sign(c, sig, &siglen, md, sizeof(md)) <= 0)
		fail("RSA sign");
	EVP_PKEY_CTX_free(c);
}

static void
op_encrypt(void)
{
	unsigned char cek[32], out[512];
	size_t outlen = sizeof(out);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);

	memset(cek, 0xa5, sizeof(cek));
	if (c == NULL || EVP_PKEY_encrypt_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_encrypt(c, out, &outlen, cek, sizeof(cek)) <= 0)
		fail("RSA encrypt");
	EVP_PKEY_CTX_free(c);
}

static void
op_verify(void)
{
	static unsigned char sig[512];
	static size_t siglen;
	unsigned char md[32];
	EVP_PKEY_CTX *c;

	memset(md, 0x5a, sizeof(md));
	if (siglen == 0) {              /* the signature, made once */
		siglen = sizeof(sig);
		if ((c = EVP_PKEY_CTX_new(key, NULL)) == NULL || EVP_PKEY_sign_init(c) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) <= 0 ||
		    EVP_PKEY_sign(c, sig, &siglen, md, sizeof(md)) <= 0)
			fail("RSA sign (for verify)");
		EVP_PKEY_CTX_free(c);
	}
	c = EVP_PKEY_CTX_new(key, NULL);
	if (c == NULL || EVP_PKEY_verify_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_verify(c, sig, siglen, md, sizeof(md)) != 1)
		fail("RSA verify");
	EVP_PKEY_CTX_free(c);
}

static void
op_decrypt(void)
{
	static unsigned char wrapped[512];
	static size_t wlen;
	unsigned char cek[512];
	size_t ceklen = sizeof(cek);
	EVP_PKEY_CTX *c;

	if (wlen == 0) {                /* the wrapped key, made once */
		memset(cek, 0xa5, 32);
		wlen = sizeof(wrapped);
		if ((c = EVP_PKEY_CTX_new(key, NULL)) == NULL || EVP_PKEY_encrypt_init(c) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
		    EVP_PKEY_encrypt(c, wrapped, &wlen, cek, 32) <= 0)
			fail("RSA encrypt (for decrypt)");
		EVP_PKEY_CTX_free(c);
	}
	c = EVP_PKEY_CTX_new(key, NULL);
	if (c == NULL || EVP_PKEY_decrypt_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_decrypt(c, cek, &ceklen, wrapped, wlen) <= 0 || ceklen != 32)
		fail("RSA decrypt");
	EVP_PKEY_CTX_free(c);
}

static void
op_sha256(void)
{
	unsigned char md[32];
	unsigned int mdlen;

	if (!EVP_Digest(data, size, md, &mdlen, EVP_sha256(), NULL))
		fail("SHA-256");
}

static void
op_cipher(const EVP_CIPHER *cipher)
{
	unsigned char k[32], iv[16];
	unsigned char *out = malloc(size + 32);
	int n, m;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	memset(k, 1, sizeof(k));
	memset(iv, 2, sizeof(iv));
	if (out == NULL || c == NULL || !EVP_EncryptInit_ex(c, cipher, NULL, k, iv) ||
	    !EVP_EncryptUpdate(c, out, &n, data, (int)size) ||
	    !EVP_EncryptFinal_ex(c, out + n, &m))
		fail("AES");
	EVP_CIPHER_CTX_free(c);
	free(out);
}

static void op_aes_cbc(void) { op_cipher(EVP_aes_256_cbc()); }
static void op_aes_gcm(void) { op_cipher(EVP_aes_256_gcm()); }

/* Seconds of CPU per call of op. */
static double
measure(void (*op)(void))
{
	double t0, t;
	long n = 0;

	op();                           /* warm */
	t0 = cpu_now();
	do {
		op();
		n++;
	} while ((t = cpu_now() - t0) < ITER_SECONDS);
	return t / (double)n;
}

int
main(int argc, char **argv)
{
	if (argc != 2 || (size = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: floor SIZE\n");
		return 2;
	}
	if ((data = malloc(size)) == NULL || RAND_bytes(data, (int)size) != 1)
		fail("setup");
	if ((key = EVP_RSA_gen(2048)) == NULL)
		fail("RSA key generation");
	printf("rsa_sign=%.9f\n", measure(op_sign));
	printf("rsa_encrypt=%.9f\n", measure(op_encrypt));
	printf("rsa_verify=%.9f\n", measure(op_verify));
	printf("rsa_decrypt=%.9f\n", measure(op_decrypt));
	printf("sha256=%.9f\n", measure(op_sha256));
	printf("aes_cbc=%.9f\n", measure(op_aes_cbc));
	printf("aes_gcm=%.9f\n", measure(op_aes_gcm));
	EVP_PKEY_free(key);
	free(data);
	return 0;
}
