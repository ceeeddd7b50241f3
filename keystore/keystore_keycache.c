/*
 * keystore_keycache.c: decrypted private keys kept in memory for a
 * bounded time, so that a message costs one private-key operation and
 * no unsealing or decoding of its key.
 *
 * What a kept key answers: the lookups (keystore_signer_checked(),
 * keystore_decrypter()) first choose the entry exactly as without the
 * cache (retirement, validity, the caller's revocation check, the
 * address's own entries only), then ask here for that entry's key.  A
 * key is kept under three things and given only when all three are
 * equal: the normalized address of the index slot that found the entry,
 * the certificate's SHA-256, and the sealed key's bytes.  So an entry
 * replaced, sealed again under a new master key, or gone from the index
 * (destroyed, deleted) is never answered from here, and one address's
 * key never answers for another.
 *
 * Bounds: a key is kept ttl seconds from its decryption (monotonic
 * clock), at most max keys (when full, the oldest goes).  Keys are kept
 * only while OpenSSL's secure heap is in use (CRYPTO_secure_malloc_init,
 * which the daemon calls: locked pages excluded from core dumps, where
 * OpenSSL decodes a private key's numbers), and while it uses less than
 * heap_limit octets, so that keys in flight still find room there.  A
 * key dropped is freed with EVP_PKEY_free, which cleanses it (once the
 * last user lets it go).
 *
 * Dropped: everything on keystore_keycache_set() (a reload) and when the
 * master keys are read (a rekey, keystore_keys.c); an address's keys
 * when a lookup finds it retired; an entry's when a check refuses it.
 *
 * Threads: one mutex guards the table and the counters; it is never held
 * while a key is decrypted or used.  A key decrypted while the cache was
 * dropped is not kept (the generation counter tells).
 */
#include "keystore/keystore_keycache.h"
#include "keystore/keystore_int.h"
#include "util/util_addr.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

typedef struct kc_slot {
	char *addr;                    /* normalized, the index slot's */
	unsigned char fp[KEYSTORE_FP_LEN];
	unsigned char *sealed;         /* a copy of the entry's sealed key */
	size_t sealed_len;
	EVP_PKEY *key;
	long long born;                /* monotonic ns */
} kc_slot_t;

struct keystore_keycache {
	pthread_mutex_t lock;
	long long ttl;                 /* seconds; 0: nothing kept */
	size_t max, n, heap_limit;
	kc_slot_t *slots;              /* max of them, n used */
	unsigned long long gen;        /* bumped by every drop_all */
	unsigned long long hits, misses, dropped;
};

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

keystore_keycache_t *
keystore_keycache_new(void)
{
	keystore_keycache_t *kc = calloc(1, sizeof(*kc));

	if (kc != NULL && pthread_mutex_init(&kc->lock, NULL) != 0) {
		free(kc);
		return NULL;
	}
	return kc;
}

/* Frees slot i and moves the last one into its place (lock held). */
static void
slot_drop(keystore_keycache_t *kc, size_t i)
{
	kc_slot_t *s = &kc->slots[i];

	EVP_PKEY_free(s->key);         /* secure heap: cleansed */
	free(s->addr);
	OPENSSL_free(s->sealed);
	kc->slots[i] = kc->slots[--kc->n];
	memset(&kc->slots[kc->n], 0, sizeof(kc->slots[0]));
	kc->dropped++;
}

static size_t
drop_all_locked(keystore_keycache_t *kc)
{
	size_t n = kc->n;

	while (kc->n > 0)
		slot_drop(kc, kc->n - 1);
	kc->gen++;
	return n;
}

void
keystore_keycache_free(keystore_keycache_t *kc)
{
	if (kc == NULL)
		return;
	drop_all_locked(kc);
	free(kc->slots);
	pthread_mutex_destroy(&kc->lock);
	free(kc);
}

/* Drops the keys older than the time to live (lock held). */
static void
expire_locked(keystore_keycache_t *kc, long long now)
{
	for (size_t i = kc->n; i-- > 0;)
		if (now - kc->slots[i].born >= kc->ttl * 1000000000LL)
			slot_drop(kc, i);
}

static int
slot_is(const kc_slot_t *s, const char *addr, const keystore_entry_t *e)
{
	return memcmp(s->fp, e->fp, sizeof(s->fp)) == 0
	    && s->sealed_len == e->sealed_len
	    && memcmp(s->sealed, e->sealed, e->sealed_len) == 0
	    && strcmp(s->addr, addr) == 0;
}

int
keystore_keycache_get(keystore_keycache_t *kc, const char *addr,
    const keystore_entry_t *e, EVP_PKEY **key, unsigned long long *gen)
{
	int hit = 0;

	pthread_mutex_lock(&kc->lock);
	*gen = kc->gen;
	if (kc->ttl > 0 && kc->n > 0) {
		expire_locked(kc, now_ns());
		for (size_t i = 0; !hit && i < kc->n; i++)
			if (slot_is(&kc->slots[i], addr, e)
			    && EVP_PKEY_up_ref(kc->slots[i].key) == 1) {
				*key = kc->slots[i].key;
				hit = 1;
			}
	}
	if (kc->ttl > 0)
		hit ? kc->hits++ : kc->misses++;
	pthread_mutex_unlock(&kc->lock);
	return hit;
}

/* 1 when a key may be kept now (lock held). */
static int
may_keep(const keystore_keycache_t *kc, unsigned long long gen)
{
	return kc->ttl > 0 && kc->max > 0 && gen == kc->gen
	    && CRYPTO_secure_malloc_initialized()
	    && (kc->heap_limit == 0 || CRYPTO_secure_used() < kc->heap_limit);
}

/* Fills slot s for e under addr with key (lock held); 0 or -1. */
static int
slot_fill(kc_slot_t *s, const char *addr, const keystore_entry_t *e,
    EVP_PKEY *key)
{
	memset(s, 0, sizeof(*s));
	if ((s->addr = strdup(addr)) == NULL
	    || (s->sealed = OPENSSL_memdup(e->sealed, e->sealed_len)) == NULL
	    || EVP_PKEY_up_ref(key) != 1) {
		free(s->addr);
		OPENSSL_free(s->sealed);
		return -1;
	}
	memcpy(s->fp, e->fp, sizeof(s->fp));
	s->sealed_len = e->sealed_len;
	s->key = key;
	s->born = now_ns();
	return 0;
}

void
keystore_keycache_put(keystore_keycache_t *kc, const char *addr,
    const keystore_entry_t *e, EVP_PKEY *key, unsigned long long gen)
{
	size_t i, oldest = 0;

	pthread_mutex_lock(&kc->lock);
	if (!may_keep(kc, gen))
		goto out;
	for (i = 0; i < kc->n; i++)
		if (slot_is(&kc->slots[i], addr, e))
			goto out;              /* another thread was first */
	if (kc->n == kc->max) {
		for (i = 1; i < kc->n; i++)
			if (kc->slots[i].born < kc->slots[oldest].born)
				oldest = i;
		slot_drop(kc, oldest);
	}
	if (slot_fill(&kc->slots[kc->n], addr, e, key) == 0)
		kc->n++;
out:
	pthread_mutex_unlock(&kc->lock);
}

void
keystore_keycache_drop_entry(keystore_keycache_t *kc, const keystore_entry_t *e)
{
	pthread_mutex_lock(&kc->lock);
	for (size_t i = kc->n; i-- > 0;)
		if (memcmp(kc->slots[i].fp, e->fp, KEYSTORE_FP_LEN) == 0)
			slot_drop(kc, i);
	pthread_mutex_unlock(&kc->lock);
}

/* Drops the slots of the certificate fp (lock held). */
static void
drop_fp_locked(keystore_keycache_t *kc, const unsigned char *fp)
{
	for (size_t i = kc->n; i-- > 0;)
		if (memcmp(kc->slots[i].fp, fp, KEYSTORE_FP_LEN) == 0)
			slot_drop(kc, i);
}

void
keystore_keycache_drop_address(keystore_keycache_t *kc, const char *address)
{
	char *norm = util_addr_normalize(address);
	unsigned char fp[KEYSTORE_FP_LEN];
	size_t i;

	pthread_mutex_lock(&kc->lock);
	for (i = 0; i < kc->n;) {
		if (norm == NULL || strcmp(kc->slots[i].addr, norm) == 0) {
			memcpy(fp, kc->slots[i].fp, sizeof(fp));
			drop_fp_locked(kc, fp);    /* its aliases too */
			i = 0;
		} else
			i++;
	}
	pthread_mutex_unlock(&kc->lock);
	free(norm);
}

size_t
keystore_keycache_drop_all(keystore_keycache_t *kc)
{
	size_t n;

	if (kc == NULL)
		return 0;
	pthread_mutex_lock(&kc->lock);
	n = drop_all_locked(kc);
	pthread_mutex_unlock(&kc->lock);
	return n;
}

/* ---- the public part (keystore.h) ---- */

size_t
keystore_keycache_set(keystore_t *ks, long long ttl, size_t max,
    size_t heap_limit)
{
	keystore_keycache_t *kc = ks->keycache;
	kc_slot_t *slots = NULL;
	size_t n;

	if (max > 0 && (slots = calloc(max, sizeof(*slots))) == NULL)
		ttl = 0;                   /* out of memory: keep nothing */
	pthread_mutex_lock(&kc->lock);
	n = drop_all_locked(kc);
	free(kc->slots);
	kc->slots = slots;
	kc->max = slots != NULL ? max : 0;
	kc->ttl = ttl > 0 ? ttl : 0;
	kc->heap_limit = heap_limit;
	pthread_mutex_unlock(&kc->lock);
	return n;
}

size_t
keystore_keycache_flush(keystore_t *ks)
{
	return keystore_keycache_drop_all(ks->keycache);
}

void
keystore_keycache_expire(keystore_t *ks)
{
	keystore_keycache_t *kc = ks->keycache;

	pthread_mutex_lock(&kc->lock);
	expire_locked(kc, now_ns());
	pthread_mutex_unlock(&kc->lock);
}

void
keystore_keycache_stats(keystore_t *ks, keystore_keycache_stats_t *st)
{
	keystore_keycache_t *kc = ks->keycache;

	pthread_mutex_lock(&kc->lock);
	st->hits = kc->hits;
	st->misses = kc->misses;
	st->dropped = kc->dropped;
	st->keys = kc->n;
	st->kept = kc->ttl > 0 && kc->max > 0 && CRYPTO_secure_malloc_initialized();
	pthread_mutex_unlock(&kc->lock);
}
