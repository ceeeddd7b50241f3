/*
 * fuzz_util.h: what the libFuzzer harnesses of tests/fuzz/ share: a
 * private temporary directory, input written to a file there (most
 * parsers read files), a split of an input into pieces, and a signing key
 * made at start-up (nothing secret is committed).
 *
 * Each harness is one fuzz_NAME.c defining LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize when it needs set-up); tests/fuzz/run drives them.
 * Ownership: strings returned are malloc'ed and freed by the caller; the
 * directory is removed at exit.  Single-threaded, as libFuzzer runs them.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* The harness's temporary directory (made on first use, removed at exit). */
const char *fuzz_dir(void);
/* Writes data to fuzz_dir()/name (mode 0600); returns the path or aborts. */
char *fuzz_file(const char *name, const void *data, size_t len);
/* A NUL-terminated copy of data (embedded NULs kept: use len). */
char *fuzz_strndup(const void *data, size_t len);

/* The test signer made once: a P-256 key, its certificate for
 * alice@example.com and the CA that issued it.  The keys are derived from
 * fixed labels and the serial numbers fixed, so that inputs encrypted to
 * alice at one run decrypt at every other (no key is committed). */
void fuzz_signer(EVP_PKEY **key, X509 **cert, X509 **ca, EVP_PKEY **ca_key);

/* A copy of x issued by fuzz_signer()'s CA (its issuer name set, signed
 * with the CA key), so that checks get past the signature; NULL when x
 * cannot be signed (say, no public key). */
X509 *fuzz_resign(X509 *x);

/*
 * A server on 127.0.0.1 for harnesses whose parser reads a network peer
 * (CMP over HTTP, SMTP, Redis): on its own thread, it answers every
 * connection with the bytes last given to fuzz_responder_set(), all at
 * once, shuts its side down, then reads what the client sends until it
 * closes (at most 2 s).  fuzz_responder_start() returns its port (once);
 * fuzz_responder_got() what the last finished connection sent, after
 * fuzz_responder_wait() saw n connections finished (at most 5 s).
 */
int fuzz_responder_start(void);
void fuzz_responder_set(const void *data, size_t len);
int fuzz_responder_wait(unsigned long n);
const unsigned char *fuzz_responder_got(size_t *len);

/* Cuts for feeding a buffer in pieces: mode 0 whole, 1 byte by byte,
 * 2 at pseudo-random points from seed.  Returns the next piece length. */
typedef struct fuzz_split {
	int mode;
	uint32_t state;
} fuzz_split_t;
size_t fuzz_split_next(fuzz_split_t *s, size_t left);

#endif
