/*
 * keystore_snapshot.c: keeping the handle's index fresh, and the snapshot
 * of it every lookup takes.
 *
 * Freshness: the index remembers the directory's inode and st_mtim.  A
 * change made in the same timestamp tick as the scan would not show, so
 * an index scanned less than KEYSTORE_RACY_NS after the directory's mtime
 * is scanned again on next use ("racy", as git calls it).  With the
 * entries in LDAP (keystore_ldap.c) an index is used for the configured
 * refresh time, and read again when an address missing from an index
 * older than KEYSTORE_MISS_NS has entries in the directory (imported
 * through another gateway; one search tells).  When the directory cannot
 * be read, an index read whole is used on for KeystoreLDAPMaxStale
 * seconds beyond the refresh, a new scan tried every KEYSTORE_LDAP_RETRY
 * seconds meanwhile; then the failure is the caller's.
 *
 * Threads: ks->lock (a writer-preferring rwlock) guards ks->idx and
 * ks->stale only.  A rebuild runs under the write lock, so one thread
 * scans while the others wait for its result.
 */
#include "keystore/keystore_snapshot.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_ldap.h"

#include <pthread.h>
#include <time.h>
#include <sys/stat.h>

#define KEYSTORE_RACY_NS (2LL * 1000000000LL)
#define KEYSTORE_MISS_NS (2LL * 1000000000LL)

static long long
ts_diff_ns(const struct timespec *a, const struct timespec *b)
{
	return (a->tv_sec - b->tv_sec) * 1000000000LL + (a->tv_nsec - b->tv_nsec);
}

/*
 * 1 when ks->idx may serve a call that began at mono (lock held): it was
 * scanned after that, or it still shows the directory st and was not
 * scanned in the same tick as the directory's last change.
 */
static int
index_fresh(const keystore_t *ks, const struct stat *st,
    const struct timespec *mono)
{
	const keystore_index_t *idx = ks->idx;

	if (idx == NULL)
		return 0;
	if (ts_diff_ns(&idx->scanned_mono, mono) >= 0)
		return 1;
	if (ks->ldap != NULL)
		return !ks->stale && ts_diff_ns(mono, &idx->scanned_mono)
		    < keystore_ldap_refresh(ks->ldap) * 1000000000LL;
	if (ks->stale || st->st_dev != idx->dir_st.st_dev
	    || st->st_ino != idx->dir_st.st_ino
	    || ts_diff_ns(&st->st_mtim, &idx->dir_st.st_mtim) != 0)
		return 0;
	return ts_diff_ns(&idx->scanned, &idx->dir_st.st_mtim) >= KEYSTORE_RACY_NS;
}

/* LDAP: ks->idx, read whole, is young enough to be used on while the
 * directory cannot be read (KeystoreLDAPMaxStale; lock held). */
static int
index_stale_ok(const keystore_t *ks, const struct timespec *mono)
{
	long max = ks->ldap != NULL ? keystore_ldap_max_stale(ks->ldap) : 0;

	return max > 0 && ks->idx != NULL && ts_diff_ns(mono, &ks->idx->scanned_mono)
	    < (keystore_ldap_refresh(ks->ldap) + max) * 1000000000LL;
}

/* A scan failed: ks->idx used on (and no new scan for KEYSTORE_LDAP_RETRY
 * seconds) while index_stale_ok(); else the failure (lock held). */
static keystore_status_t
index_keep(keystore_t *ks, const struct timespec *mono, keystore_status_t rc)
{
	if (!index_stale_ok(ks, mono))
		return rc;
	ks->ldap_retry = *mono;
	ks->ldap_retry.tv_sec += KEYSTORE_LDAP_RETRY;
	return KEYSTORE_OK;
}

/* Takes a reference to ks->idx, rebuilt first unless fresh (lock held). */
static keystore_status_t
index_take(keystore_t *ks, const struct stat *st, const struct timespec *mono,
    keystore_index_t **out, keystore_err_t *err)
{
	keystore_index_t *idx;
	keystore_status_t rc;

	if (!index_fresh(ks, st, mono) && !(index_stale_ok(ks, mono)
	    && ts_diff_ns(&ks->ldap_retry, mono) > 0)) {
		rc = ks->ldap != NULL ? keystore_index_build_ldap(ks->ldap, &idx, err)
		    : keystore_index_build(ks->dir, &idx, err);
		if (rc != KEYSTORE_OK) {        /* the old one kept, or the failure */
			if (ks->ldap == NULL || index_keep(ks, mono, rc) != KEYSTORE_OK)
				return rc;
		} else {
			keystore_index_unref(ks->idx);
			ks->idx = idx;
			ks->stale = 0;
		}
	}
	*out = keystore_index_ref(ks->idx);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_snapshot(keystore_t *ks, keystore_index_t **idx, keystore_err_t *err)
{
	struct timespec mono;
	struct stat st;
	keystore_status_t rc;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	if ((rc = keystore_dir_check(ks->dir, &st, err)) != KEYSTORE_OK)
		return rc;
	pthread_rwlock_rdlock(&ks->lock);
	if (index_fresh(ks, &st, &mono)) {
		*idx = keystore_index_ref(ks->idx);
		pthread_rwlock_unlock(&ks->lock);
		return KEYSTORE_OK;
	}
	pthread_rwlock_unlock(&ks->lock);
	/* Whoever gets the write lock first scans; the others waiting
	 * find an index scanned after their call began. */
	pthread_rwlock_wrlock(&ks->lock);
	rc = index_take(ks, &st, &mono, idx, err);
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

void
keystore_touch(keystore_t *ks)
{
	pthread_rwlock_wrlock(&ks->lock);
	ks->stale = 1;
	pthread_rwlock_unlock(&ks->lock);
}

int
keystore_miss(keystore_t *ks, const keystore_index_t *idx, const char *address)
{
	struct timespec now;

	if (ks->ldap == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_diff_ns(&now, &idx->scanned_mono) < KEYSTORE_MISS_NS)
		return 0;
	if (address != NULL && keystore_ldap_has(ks->ldap, address, NULL) == 0)
		return 0;
	keystore_touch(ks);
	return 1;
}

keystore_status_t
keystore_entry_store(keystore_t *ks, const keystore_entry_t *e,
    keystore_err_t *err)
{
	if (ks->ldap != NULL)
		return keystore_ldap_put(ks->ldap, e, err);
	return keystore_entry_save(e, ks->dir, err);
}
