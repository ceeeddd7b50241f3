/*
 * dir_tier.c: a bounded in-process table of cache values (see dir_int.h):
 * the whole cache when there is no Redis, the small tier in front of it
 * when there is.  A hash table (chained, buckets a power of two at least
 * the size, the hash seeded at random per table) and a list in order of
 * use; when full, the least recently used entry goes.
 *
 * Each entry has two times: fresh_until (served as an answer) and
 * stale_until (kept after that, served only to a caller that asks for a
 * stale value: the lookup when the directories cannot answer).  An entry
 * past both is dropped when met.  Times come from the caller, so tests
 * fix the clock.
 *
 * A value may come with the certificates parsed from it (the cache's
 * positive entries: dir_tier_put_certs()): the entry holds a reference
 * to each, and a reader gets references of its own to those very
 * objects, so that a hit costs no decoding.  They go with the entry
 * (replaced, evicted, expired, deleted, flushed).
 *
 * Threads: one mutex guards the table; values are copied in and out,
 * certificates handed out with a reference taken under it.
 * Keys are addresses from mail: a flood of colliding keys costs at most a
 * walk of the table's size, as a full scan would.
 */
#include "directory/dir_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

typedef struct tier_entry {
	struct tier_entry *next;                /* in its bucket */
	struct tier_entry *newer, *older;       /* in the order of use */
	char *key;
	unsigned char *val;
	size_t len;
	X509 *cert;                             /* parsed from val, or NULL */
	STACK_OF(X509) *chain;                  /* likewise */
	time_t fresh_until, stale_until;
} tier_entry_t;

struct dir_tier {
	pthread_mutex_t lock;
	tier_entry_t **buckets;
	size_t nbuckets, count, max;
	tier_entry_t *newest, *oldest;
	uint64_t seed;
};

dir_tier_t *
dir_tier_new(size_t max)
{
	dir_tier_t *t = calloc(1, sizeof(*t));
	size_t n = 16;

	if (t == NULL)
		return NULL;
	while (n < max && n < ((size_t)1 << 24))
		n <<= 1;
	if (max > 0 && (t->buckets = calloc(n, sizeof(*t->buckets))) == NULL) {
		free(t);
		return NULL;
	}
	t->nbuckets = n;
	t->max = max;
	if (RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1)
		t->seed = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

/* The value and certificates of e, not e itself. */
static void
entry_clear(tier_entry_t *e)
{
	OPENSSL_clear_free(e->val, e->len);
	X509_free(e->cert);
	sk_X509_pop_free(e->chain, X509_free);
	e->val = NULL;
	e->cert = NULL;
	e->chain = NULL;
}

static void
entry_free(tier_entry_t *e)
{
	entry_clear(e);
	free(e->key);
	free(e);
}

void
dir_tier_free(dir_tier_t *t)
{
	if (t == NULL)
		return;
	dir_tier_del(t, NULL);
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a over the key, started from the table's seed. */
static size_t
bucket_of(const dir_tier_t *t, const char *key)
{
	uint64_t h = 14695981039346656037ULL ^ t->seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29)) & (t->nbuckets - 1);
}

static void
use_unlink(dir_tier_t *t, tier_entry_t *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
use_front(dir_tier_t *t, tier_entry_t *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	t->newest = e;
	if (t->oldest == NULL)
		t->oldest = e;
}

/* The entry for key and the link that points to it, or NULL. */
static tier_entry_t *
find(dir_tier_t *t, const char *key, tier_entry_t ***link)
{
	tier_entry_t **l = &t->buckets[bucket_of(t, key)];

	for (; *l != NULL; l = &(*l)->next)
		if (strcmp((*l)->key, key) == 0) {
			*link = l;
			return *l;
		}
	return NULL;
}

static void
drop(dir_tier_t *t, tier_entry_t *e)
{
	tier_entry_t **l;

	if (find(t, e->key, &l) == e)
		*l = e->next;
	use_unlink(t, e);
	t->count--;
	entry_free(e);
}

int
dir_tier_put(dir_tier_t *t, const char *key, const unsigned char *v, size_t len,
    time_t fresh_until, time_t stale_until, time_t now)
{
	return dir_tier_put_certs(t, key, v, len, NULL, NULL, fresh_until, stale_until,
	    now);
}

/* References of the caller's own to cert and chain (NULL: none); 0, or
 * -1 when out of memory (nothing taken). */
static int
certs_ref(X509 *cert, STACK_OF(X509) *chain, X509 **c, STACK_OF(X509) **ch)
{
	*c = NULL;
	*ch = NULL;
	if (chain != NULL && (*ch = X509_chain_up_ref(chain)) == NULL)
		return -1;
	if (cert != NULL && !X509_up_ref(cert)) {
		sk_X509_pop_free(*ch, X509_free);
		*ch = NULL;
		return -1;
	}
	*c = cert;
	return 0;
}

int
dir_tier_put_certs(dir_tier_t *t, const char *key, const unsigned char *v,
    size_t len, X509 *cert, STACK_OF(X509) *chain, time_t fresh_until,
    time_t stale_until, time_t now)
{
	tier_entry_t *e, **l;
	unsigned char *copy;
	X509 *c;
	STACK_OF(X509) *ch;

	if (t->max == 0 || fresh_until <= now)
		return 0;
	if ((copy = malloc(len ? len : 1)) == NULL)
		return -1;
	if (certs_ref(cert, chain, &c, &ch) != 0) {
		free(copy);
		return -1;
	}
	memcpy(copy, v, len);
	pthread_mutex_lock(&t->lock);
	if ((e = find(t, key, &l)) != NULL) {
		entry_clear(e);
		use_unlink(t, e);
	} else {
		if (t->count == t->max)
			drop(t, t->oldest);
		if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = strdup(key)) == NULL) {
			free(e);
			pthread_mutex_unlock(&t->lock);
			free(copy);
			X509_free(c);
			sk_X509_pop_free(ch, X509_free);
			return -1;
		}
		l = &t->buckets[bucket_of(t, key)];
		e->next = *l;
		*l = e;
		t->count++;
	}
	e->val = copy;
	e->len = len;
	e->cert = c;
	e->chain = ch;
	e->fresh_until = fresh_until;
	e->stale_until = stale_until > fresh_until ? stale_until : fresh_until;
	use_front(t, e);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

enum dir_tier_hit
dir_tier_get(dir_tier_t *t, const char *key, int stale_ok, time_t now,
    unsigned char **v, size_t *len)
{
	return dir_tier_get_certs(t, key, stale_ok, now, v, len, NULL, NULL);
}

/* e's value copied out, with references to its certificates when asked
 * (cert, chain NULL: not asked); 0, or -1 when out of memory. */
static int
entry_out(const tier_entry_t *e, unsigned char **v, size_t *len, X509 **cert,
    STACK_OF(X509) **chain)
{
	X509 *c;
	STACK_OF(X509) *ch;

	if ((*v = malloc(e->len ? e->len : 1)) == NULL)
		return -1;
	if (certs_ref(cert ? e->cert : NULL, chain ? e->chain : NULL, &c, &ch) != 0) {
		free(*v);
		*v = NULL;
		return -1;
	}
	memcpy(*v, e->val, e->len);
	*len = e->len;
	if (cert != NULL)
		*cert = c;
	if (chain != NULL)
		*chain = ch;
	return 0;
}

enum dir_tier_hit
dir_tier_get_certs(dir_tier_t *t, const char *key, int stale_ok, time_t now,
    unsigned char **v, size_t *len, X509 **cert, STACK_OF(X509) **chain)
{
	enum dir_tier_hit hit = DIR_TIER_NONE;
	tier_entry_t *e, **l;

	*v = NULL;
	*len = 0;
	if (cert != NULL)
		*cert = NULL;
	if (chain != NULL)
		*chain = NULL;
	if (t->max == 0)
		return DIR_TIER_NONE;
	pthread_mutex_lock(&t->lock);
	if ((e = find(t, key, &l)) != NULL && e->stale_until <= now) {
		drop(t, e);
		e = NULL;
	}
	if (e != NULL && (e->fresh_until > now || stale_ok) &&
	    entry_out(e, v, len, cert, chain) == 0) {
		hit = e->fresh_until > now ? DIR_TIER_FRESH : DIR_TIER_STALE;
		use_unlink(t, e);
		use_front(t, e);
	}
	pthread_mutex_unlock(&t->lock);
	return hit;
}

void
dir_tier_del(dir_tier_t *t, const char *key)
{
	tier_entry_t *e, **l;

	if (t->max == 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (key != NULL) {
		if ((e = find(t, key, &l)) != NULL)
			drop(t, e);
	} else {
		while (t->oldest != NULL)
			drop(t, t->oldest);
	}
	pthread_mutex_unlock(&t->lock);
}

size_t
dir_tier_count(dir_tier_t *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
