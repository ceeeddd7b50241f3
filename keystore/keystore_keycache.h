/*
 * keystore_keycache.h: decrypted private keys kept in memory for a
 * bounded time (the public part, keystore_keycache_set() and its
 * siblings, is in keystore.h).
 *
 * Internal to keystore/: declares keystore_keycache.c's functions only;
 * each file of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_KEYCACHE_H
#define KEYSTORE_KEYCACHE_H

#include <openssl/evp.h>

#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"

typedef struct keystore_keycache keystore_keycache_t;

/* A cache keeping nothing (ttl 0) until keystore_keycache_set(). */
keystore_keycache_t *keystore_keycache_new(void);
/* Drops (cleanses) every key kept; NULL is fine. */
void keystore_keycache_free(keystore_keycache_t *kc);

/*
 * The key kept for entry e as found by the index under addr (the
 * normalized address of its slot): a new reference in *key and 1 when
 * one is kept (same address, same certificate, same sealed bytes, not
 * older than the time to live), else 0 with *gen set for
 * keystore_keycache_put().
 */
int keystore_keycache_get(keystore_keycache_t *kc, const char *addr,
    const keystore_entry_t *e, EVP_PKEY **key, unsigned long long *gen);
/* Keeps key (up-ref'ed) for e under addr, unless the cache was dropped
 * since keystore_keycache_get() gave gen, is off, or the secure heap is
 * not in use or too full. */
void keystore_keycache_put(keystore_keycache_t *kc, const char *addr,
    const keystore_entry_t *e, EVP_PKEY *key, unsigned long long gen);
/* Drops the key kept for e (under any address). */
void keystore_keycache_drop_entry(keystore_keycache_t *kc,
    const keystore_entry_t *e);
/* Drops the keys kept for address (any spelling the index would find)
 * and those of the same certificates kept under the person's other
 * addresses. */
void keystore_keycache_drop_address(keystore_keycache_t *kc,
    const char *address);
/* Drops every key kept; their number. */
size_t keystore_keycache_drop_all(keystore_keycache_t *kc);

#endif
