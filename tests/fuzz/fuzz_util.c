/*
 * fuzz_util.c: see fuzz_util.h.
 */
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

static char *dir;

static void
fuzz_cleanup(void)
{
	if (dir != NULL)
		unit_rmtree(dir);
	free(dir);
	dir = NULL;
}

const char *
fuzz_dir(void)
{
	if (dir == NULL) {
		if ((dir = unit_tmpdir()) == NULL)
			abort();
		atexit(fuzz_cleanup);
	}
	return dir;
}

char *
fuzz_file(const char *name, const void *data, size_t len)
{
	char *path;

	if (asprintf(&path, "%s/%s", fuzz_dir(), name) < 0)
		abort();
	if (unit_write_file(path, data, len, 0600) != 0)
		abort();
	return path;
}

char *
fuzz_strndup(const void *data, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A P-256 key whose private scalar is SHA-256(label): the same key at
 * every run, made here, never read from a file. */
static EVP_PKEY *
fixed_key(const char *label)
{
	unsigned char d[32], pub[65];
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *p = g != NULL ? EC_POINT_new(g) : NULL;
	BIGNUM *bn = NULL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	size_t len = 0;

	if (EVP_Digest(label, strlen(label), d, NULL, EVP_sha256(), NULL) != 1
	    || p == NULL || b == NULL || pc == NULL
	    || (bn = BN_bin2bn(d, sizeof(d), NULL)) == NULL
	    || EC_POINT_mul(g, p, bn, NULL, NULL, NULL) != 1
	    || (len = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub,
	    sizeof(pub), NULL)) == 0
	    || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
	    || !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn)
	    || !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, len)
	    || (params = OSSL_PARAM_BLD_to_param(b)) == NULL
	    || EVP_PKEY_fromdata_init(pc) != 1
	    || EVP_PKEY_fromdata(pc, &k, EVP_PKEY_KEYPAIR, params) != 1)
		abort();
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(pc);
	BN_clear_free(bn);
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return k;
}

/* x with serial number serial, signed again by key. */
static void
fixed_serial(X509 *x, long serial, EVP_PKEY *key)
{
	if (x == NULL || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1
	    || X509_sign(x, key, EVP_sha256()) <= 0)
		abort();
}

void
fuzz_signer(EVP_PKEY **key, X509 **cert, X509 **ca, EVP_PKEY **ca_key)
{
	static EVP_PKEY *k, *cak;
	static X509 *c, *cac;

	if (k == NULL) {
		/* Fixed keys and serial numbers: the issuer, serial number and
		 * key identifier of alice's certificate are the same at every
		 * run, so seeds encrypted to her (fuzz_msg) decrypt. */
		cak = fixed_key("smimegate fuzz root");
		cac = unit_ca(cak, "fuzz root");
		fixed_serial(cac, 1, cak);
		k = fixed_key("smimegate fuzz alice@example.com");
		c = unit_cert(k, cac, cak, "alice@example.com", -1, 3650);
		fixed_serial(c, 2, cak);
		if (k == NULL || c == NULL || cak == NULL || cac == NULL)
			abort();
	}
	*key = k;
	*cert = c;
	if (ca != NULL)
		*ca = cac;
	if (ca_key != NULL)
		*ca_key = cak;
}

X509 *
fuzz_resign(X509 *x)
{
	EVP_PKEY *k, *cak;
	X509 *c, *ca, *y = X509_dup(x);

	fuzz_signer(&k, &c, &ca, &cak);
	if (y == NULL || !X509_set_issuer_name(y, X509_get_subject_name(ca))
	    || X509_sign(y, cak, EVP_sha256()) <= 0) {
		X509_free(y);
		ERR_clear_error();
		return NULL;
	}
	return y;
}

size_t
fuzz_split_next(fuzz_split_t *s, size_t left)
{
	switch (s->mode) {
	case 0:
		return left;
	case 1:
		return left ? 1 : 0;
	default:
		/* xorshift32: the same cuts for the same input. */
		s->state ^= s->state << 13;
		s->state ^= s->state >> 17;
		s->state ^= s->state << 5;
		if (left == 0)
			return 0;
		return 1 + s->state % (left < 4096 ? left : 4096);
	}
}

/* ---- the responder ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	unsigned char *answer, got[1 << 20];
	size_t answer_len, got_len;
	unsigned long done;
	int lfd;
} rsp = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, { 0 }, 0, 0, 0, -1 };

/* One connection: the answer, then what the client sends. */
static void
responder_serve(int fd)
{
	unsigned char *copy, buf[65536];
	size_t len, off = 0, got = 0;
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	pthread_mutex_lock(&rsp.lock);
	len = rsp.answer_len;
	copy = malloc(len ? len : 1);
	if (copy != NULL && len)
		memcpy(copy, rsp.answer, len);
	pthread_mutex_unlock(&rsp.lock);
	while (copy != NULL && off < len
	    && (n = send(fd, copy + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	free(copy);
	shutdown(fd, SHUT_WR);
	while (poll(&p, 1, 2000) == 1 && (n = read(fd, buf, sizeof(buf))) > 0) {
		pthread_mutex_lock(&rsp.lock);
		if (got + (size_t)n <= sizeof(rsp.got))
			memcpy(rsp.got + got, buf, (size_t)n), got += (size_t)n;
		pthread_mutex_unlock(&rsp.lock);
	}
	close(fd);
	pthread_mutex_lock(&rsp.lock);
	rsp.got_len = got;
	rsp.done++;
	pthread_cond_broadcast(&rsp.done_cv);
	pthread_mutex_unlock(&rsp.lock);
}

static void *
responder_run(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(rsp.lfd, NULL, NULL);

		if (fd >= 0)
			responder_serve(fd);
		else if (errno != EINTR && errno != ECONNABORTED)
			usleep(1000);
	}
	return NULL;
}

int
fuzz_responder_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	pthread_t t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((rsp.lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0
	    || bind(rsp.lfd, (struct sockaddr *)&a, sizeof(a)) != 0
	    || listen(rsp.lfd, 16) != 0
	    || getsockname(rsp.lfd, (struct sockaddr *)&a, &len) != 0
	    || pthread_create(&t, NULL, responder_run, NULL) != 0)
		abort();
	pthread_detach(t);
	return ntohs(a.sin_port);
}

void
fuzz_responder_set(const void *data, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	pthread_mutex_lock(&rsp.lock);
	free(rsp.answer);
	rsp.answer = copy;
	rsp.answer_len = len;
	pthread_mutex_unlock(&rsp.lock);
}

int
fuzz_responder_wait(unsigned long n)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&rsp.lock);
	while (rsp.done < n && rc == 0)
		rc = pthread_cond_timedwait(&rsp.done_cv, &rsp.lock, &until);
	rc = rsp.done >= n ? 0 : -1;
	pthread_mutex_unlock(&rsp.lock);
	return rc;
}

const unsigned char *
fuzz_responder_got(size_t *len)
{
	*len = rsp.got_len;
	return rsp.got;
}
