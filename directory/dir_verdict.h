/*
 * dir_verdict.h: a table of good certificate checks kept with what they
 * depended on (dir_verdict.c): the one the certificate checks of
 * directory/ keep (dir_check.c), and any other a caller makes, such as
 * the inbound signers' chain checks (dir_verdict_chain_cache()).
 *
 * Threads: a table may be shared; it has its own lock.
 */
#ifndef DIR_VERDICT_H
#define DIR_VERDICT_H

#include "smime/smime.h"

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

typedef struct dir_verdict dir_verdict_t;
#define DIR_VERDICT_KEYLEN 32
/* What a verdict says a certificate is good for. */
enum dir_verdict_purpose { DIR_VERDICT_ENCRYPT = 1, DIR_VERDICT_NOT_REVOKED,
	DIR_VERDICT_SIGNER };
/* A table of at most max verdicts; NULL when max is 0 (none kept) or out
 * of memory. */
dir_verdict_t *dir_verdict_new(size_t max);
void dir_verdict_free(dir_verdict_t *v);
size_t dir_verdict_capacity(const dir_verdict_t *v);
/* The key of a check: SHA-256 of purpose, policy (the settings that
 * decide it), cert's DER and every untrusted certificate's DER.  0 or -1. */
int dir_verdict_key(int purpose, unsigned policy, X509 *cert,
    STACK_OF(X509) *untrusted, unsigned char key[DIR_VERDICT_KEYLEN]);
/* 1 when a verdict is kept under key with generation gen and from <= now <
 * until; else 0 (a stale one is dropped).  v NULL: 0. */
int dir_verdict_get(dir_verdict_t *v, const unsigned char key[DIR_VERDICT_KEYLEN],
    unsigned long gen, time_t now);
/* Keeps a good verdict under key, holding from .. until for generation gen. */
void dir_verdict_put(dir_verdict_t *v, const unsigned char key[DIR_VERDICT_KEYLEN],
    unsigned long gen, time_t from, time_t until);
void dir_verdict_clear(dir_verdict_t *v);
/* Verdicts kept now; hits and misses of dir_verdict_get() so far. */
size_t dir_verdict_count(dir_verdict_t *v);
void dir_verdict_stats(const dir_verdict_t *v, unsigned long *hits,
    unsigned long *misses);

/* c filled to keep smime_verify.c's chain checks of signers in v
 * (purpose DIR_VERDICT_SIGNER, the key of dir_verdict_key(), the trust
 * generation as the generation, the verification time as now); v NULL:
 * c keeps nothing. */
void dir_verdict_chain_cache(dir_verdict_t *v, smime_chain_cache_t *c);

#endif
