/*
 * keystore_index.c: a snapshot of the keystore directory: every entry
 * loaded, and a table of (normalized address, entry) slots sorted for
 * binary search, the newest certificate first within an address.
 *
 * Ownership and threads: an index is immutable once built.  It carries a
 * reference count (atomic), so a reader keeps the snapshot it took while
 * keystore.c publishes a newer one; the last unref frees the entries.
 */
#include "keystore/keystore_index.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_ldap.h"
#include "util/util_addr.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>

typedef struct order {
	const char *addr;              /* the entry's smallest normalized address */
	keystore_entry_t *entry;
} order_t;

keystore_index_t *
keystore_index_ref(keystore_index_t *idx)
{
	atomic_fetch_add(&idx->refs, 1);
	return idx;
}

void
keystore_index_unref(keystore_index_t *idx)
{
	size_t i;

	if (idx == NULL || atomic_fetch_sub(&idx->refs, 1) != 1)
		return;
	for (i = 0; i < idx->n_entries; i++)
		keystore_entry_free(idx->entries[i]);
	for (i = 0; i < idx->n_slots; i++)
		free(idx->slots[i].addr);
	free(idx->entries);
	free(idx->slots);
	free(idx);
}

/* By not_before (ascending), then fingerprint, for a stable order. */
static int
entry_cmp(const keystore_entry_t *a, const keystore_entry_t *b)
{
	int c = ASN1_TIME_compare(X509_get0_notBefore(a->cert),
	    X509_get0_notBefore(b->cert));

	return c != 0 ? c : memcmp(a->fp, b->fp, KEYSTORE_FP_LEN);
}

/* By address, then newest first. */
static int
slot_cmp(const void *x, const void *y)
{
	const keystore_slot_t *a = x, *b = y;
	int c = strcmp(a->addr, b->addr);

	return c != 0 ? c : entry_cmp(b->entry, a->entry);
}

/* By smallest address, then oldest first. */
static int
order_cmp(const void *x, const void *y)
{
	const order_t *a = x, *b = y;
	int c = strcmp(a->addr, b->addr);

	return c != 0 ? c : entry_cmp(a->entry, b->entry);
}

static int
add_entry(keystore_index_t *idx, keystore_entry_t *e, size_t *cap)
{
	keystore_entry_t **ne;

	if (idx->n_entries == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		if ((ne = realloc(idx->entries, *cap * sizeof(*ne))) == NULL)
			return -1;
		idx->entries = ne;
	}
	idx->entries[idx->n_entries++] = e;
	return 0;
}

static keystore_status_t
scan(keystore_index_t *idx, const char *dir, keystore_err_t *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	keystore_entry_t *e;
	keystore_status_t rc = KEYSTORE_OK;
	size_t cap = 0;

	if (d == NULL)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	while (rc == KEYSTORE_OK && (errno = 0, de = readdir(d)) != NULL) {
		if (!keystore_entry_name_ok(de->d_name))
			continue;
		if ((rc = keystore_entry_load(dir, de->d_name, &e, err)) != KEYSTORE_OK)
			break;
		if (add_entry(idx, e, &cap) != 0) {
			keystore_entry_free(e);
			rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory",
			    dir);
		}
	}
	if (rc == KEYSTORE_OK && errno != 0)
		rc = util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	closedir(d);
	return rc;
}

static size_t
count_addresses(const keystore_index_t *idx)
{
	size_t i, j, n = 0;

	for (i = 0; i < idx->n_entries; i++)
		for (j = 0; idx->entries[i]->addresses[j] != NULL; j++)
			n++;
	return n;
}

/* Adds the slots of entry e; *min gets its smallest normalized address. */
static int
add_slots(keystore_index_t *idx, keystore_entry_t *e, const char **min)
{
	keystore_slot_t *s;
	size_t j;

	*min = NULL;
	for (j = 0; e->addresses[j] != NULL; j++) {
		s = &idx->slots[idx->n_slots];
		if ((s->addr = util_addr_normalize(e->addresses[j])) == NULL)
			return -1;
		s->entry = e;
		idx->n_slots++;
		if (*min == NULL || strcmp(s->addr, *min) < 0)
			*min = s->addr;
	}
	return 0;
}

/* Builds the address slots and sorts both tables. */
static int
sort_index(keystore_index_t *idx)
{
	size_t i, n = count_addresses(idx);
	order_t *o = calloc(idx->n_entries ? idx->n_entries : 1, sizeof(*o));

	idx->slots = calloc(n ? n : 1, sizeof(*idx->slots));
	if (o == NULL || idx->slots == NULL) {
		free(o);
		return -1;
	}
	for (i = 0; i < idx->n_entries; i++) {
		o[i].entry = idx->entries[i];
		if (add_slots(idx, idx->entries[i], &o[i].addr) != 0) {
			free(o);
			return -1;
		}
	}
	qsort(idx->slots, idx->n_slots, sizeof(*idx->slots), slot_cmp);
	qsort(o, idx->n_entries, sizeof(*o), order_cmp);
	for (i = 0; i < idx->n_entries; i++)
		idx->entries[i] = o[i].entry;
	free(o);
	return 0;
}

keystore_status_t
keystore_index_build(const char *dir, keystore_index_t **out, keystore_err_t *err)
{
	keystore_index_t *idx = calloc(1, sizeof(*idx));
	keystore_status_t rc;

	if (idx == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", dir);
	atomic_init(&idx->refs, 1);
	/* Stat first: a change made while scanning then shows as stale. */
	clock_gettime(CLOCK_REALTIME, &idx->scanned);
	clock_gettime(CLOCK_MONOTONIC, &idx->scanned_mono);
	if ((rc = keystore_dir_check(dir, &idx->dir_st, err)) == KEYSTORE_OK
	    && (rc = scan(idx, dir, err)) == KEYSTORE_OK
	    && sort_index(idx) != 0)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory", dir);
	if (rc != KEYSTORE_OK) {
		keystore_index_unref(idx);
		return rc;
	}
	*out = idx;
	return KEYSTORE_OK;
}

struct ldap_add {
	keystore_index_t *idx;
	size_t cap;
};

static int
ldap_add(keystore_entry_t *e, void *arg)
{
	struct ldap_add *a = arg;

	return add_entry(a->idx, e, &a->cap);
}

/* A value that did not parse: counted, and the first named. */
static void
ldap_skip(const char *dn, const char *why, void *arg)
{
	keystore_index_t *idx = ((struct ldap_add *)arg)->idx;
	size_t used = strlen(idx->skipped);

	if (idx->n_skipped++ == 0 && strstr(why, dn) != NULL)
		snprintf(idx->skipped, sizeof(idx->skipped), "%s", why);
	else if (idx->n_skipped == 1)
		snprintf(idx->skipped, sizeof(idx->skipped), "%s: %s", dn, why);
	else if (used + 6 < sizeof(idx->skipped) && strstr(idx->skipped, dn) == NULL)
		snprintf(idx->skipped + used, sizeof(idx->skipped) - used, "; %s", dn);
}

keystore_status_t
keystore_index_build_ldap(keystore_ldap_t *kl, keystore_index_t **out,
    keystore_err_t *err)
{
	keystore_index_t *idx = calloc(1, sizeof(*idx));
	struct ldap_add a = { idx, 0 };
	keystore_ldap_scan_t cb = { ldap_add, ldap_skip, &a };
	keystore_status_t rc;

	if (idx == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	atomic_init(&idx->refs, 1);
	clock_gettime(CLOCK_REALTIME, &idx->scanned);
	clock_gettime(CLOCK_MONOTONIC, &idx->scanned_mono);
	if ((rc = keystore_ldap_scan(kl, &cb, err)) == KEYSTORE_OK
	    && sort_index(idx) != 0)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "%s: out of memory",
		    keystore_ldap_name(kl));
	if (rc != KEYSTORE_OK) {
		keystore_index_unref(idx);
		return rc;
	}
	*out = idx;
	return KEYSTORE_OK;
}

size_t
keystore_index_find(const keystore_index_t *idx, const char *address,
    const keystore_slot_t **first)
{
	keystore_slot_t key = { .addr = util_addr_normalize(address) };
	const keystore_slot_t *s = NULL, *end = idx->slots + idx->n_slots;
	size_t lo = 0, hi = idx->n_slots, mid;
	int c;

	if (key.addr == NULL)
		return 0;
	while (lo < hi) {                   /* the first slot >= address */
		mid = lo + (hi - lo) / 2;
		c = strcmp(idx->slots[mid].addr, key.addr);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (s = idx->slots + lo; s < end && strcmp(s->addr, key.addr) == 0; s++)
		;
	free(key.addr);
	*first = idx->slots + lo;
	return (size_t)(s - (idx->slots + lo));
}
