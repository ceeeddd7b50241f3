/*
 * keystore_retire.c: leavers (see keystore_retire.h): the retirement
 * record of an address, retiring an address and its aliases, and the
 * destruction of their keys after the retention.
 *
 * Threads: file records are read on each call; directory records
 * (KeystoreBackend ldap) through the keystore's cache of them, under its
 * retired_lock; retire and purge hold the keystore's lock file
 * (keystore_dir_lock()) so that no import or rekey writes an entry
 * meanwhile.
 */
#include "keystore/keystore_retire.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "keystore/keystore_index.h"
#include "keystore/keystore_int.h"
#include "keystore/keystore_keycache.h"
#include "keystore/keystore_keys.h"
#include "keystore/keystore_lease.h"
#include "keystore/keystore_ldap.h"
#include "keystore/keystore_record.h"
#include "keystore/keystore_snapshot.h"
#include "util/util.h"
#include "util/util_addr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define RECORD_PREFIX "retired-"
#define RECORD_NAME_LEN (sizeof(RECORD_PREFIX) + 2 * SHA256_DIGEST_LENGTH)
#define RECORD_MAX 4096L
#define RECORD_KIND "retired"     /* the shared record's kind (keystore.h) */
#define RECORD_HEX (2 * SHA256_DIGEST_LENGTH)

/* ---- the record ---- */

/* "retired-<hex>" for address; -1 when it does not normalize. */
static int
record_name(const char *address, char name[RECORD_NAME_LEN])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *norm = util_addr_normalize(address);

	if (norm == NULL)
		return -1;
	EVP_Digest(norm, strlen(norm), md, NULL, util_alg_sha256(), NULL);
	free(norm);
	memcpy(name, RECORD_PREFIX, sizeof(RECORD_PREFIX) - 1);
	util_hex(name + sizeof(RECORD_PREFIX) - 1, md, sizeof(md));
	return 0;
}

static void
record_parse(const char *text, keystore_retired_t *r)
{
	const char *line = text;

	memset(r, 0, sizeof(*r));
	while (line != NULL && *line != '\0') {
		size_t n = strcspn(line, "\n");

		if (strncmp(line, "address ", 8) == 0 && n - 8 < sizeof(r->address))
			snprintf(r->address, sizeof(r->address), "%.*s", (int)(n - 8), line + 8);
		else if (strncmp(line, "retired ", 8) == 0)
			r->retired = strtoll(line + 8, NULL, 10);
		else if (strncmp(line, "destroyed ", 10) == 0)
			r->destroyed = strtoll(line + 10, NULL, 10);
		line = line[n] != '\0' ? line + n + 1 : NULL;
	}
}

/* The record in file name of dir: KEYSTORE_NOTFOUND when there is none. */
static keystore_status_t
record_load(const char *dir, const char *name, keystore_retired_t *r,
    keystore_err_t *err)
{
	char *path = keystore_path_join(dir, name), *text;
	unsigned char *data = NULL;
	size_t len = 0;
	keystore_status_t rc;
	struct stat st;

	if (path == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	/* Most addresses have no record (every message asks): one lstat
	 * says so, where the checked read takes four calls and two error
	 * texts to say the same ENOENT.  Anything else there is read and
	 * checked as before. */
	if (lstat(path, &st) != 0 && errno == ENOENT) {
		free(path);
		return util_err_set(err, KEYSTORE_NOTFOUND, "no record");
	}
	rc = keystore_file_read(path, RECORD_MAX, &data, &len, err);
	free(path);
	if (rc != KEYSTORE_OK)
		return rc;
	if ((text = malloc(len + 1)) == NULL) {
		OPENSSL_clear_free(data, len);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	memcpy(text, data, len);
	text[len] = '\0';
	record_parse(text, r);
	free(text);
	OPENSSL_clear_free(data, len);
	if (r->address[0] == '\0' || r->retired <= 0)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT, "%s/%s: not a retirement "
		    "record", dir, name);
	return KEYSTORE_OK;
}

/* The record's text in text (size octets): its length, -1 when the
 * address does not normalize. */
static int
record_format(const keystore_retired_t *r, char *name, char *text, size_t size)
{
	int n;

	if (record_name(r->address, name) != 0)
		return -1;
	n = snprintf(text, size, "address %s\nretired %lld\n", r->address, r->retired);
	if (r->destroyed > 0)
		n += snprintf(text + n, size - (size_t)n, "destroyed %lld\n", r->destroyed);
	return n;
}

/* ---- the records in the directory (KeystoreBackend ldap) ---- */

/* One shared record as read: bad when it does not open, does not parse,
 * or names an address that is not its name's. */
struct retired_one {
	char hex[RECORD_HEX + 1];
	int bad;
	keystore_retired_t r;
};

/* Every shared record of kind RECORD_KIND, sorted by hex, as read at at
 * (CLOCK_MONOTONIC). */
struct keystore_retired_set {
	keystore_reading_t rd;         /* when read, when to try again */
	int forgotten;                 /* read again at the next lookup */
	size_t n, cap;
	struct retired_one *v;
	int nomem;
};

void
keystore_retired_set_free(struct keystore_retired_set *set)
{
	if (set == NULL)
		return;
	free(set->v);
	free(set);
}

/* keystore_record_foreach_all()'s fn: the record name (hex) in set. */
static int
set_take(const char *name, const unsigned char *data, size_t len, long version,
    void *arg)
{
	struct keystore_retired_set *set = arg;
	struct retired_one *o;
	char want[RECORD_NAME_LEN], text[RECORD_MAX + 1];

	(void)version;
	if (strlen(name) != RECORD_HEX)   /* no address's: no lookup names it */
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct retired_one *nv = realloc(set->v, cap * sizeof(*nv));

		if (nv == NULL) {
			set->nomem = 1;
			return 1;
		}
		set->v = nv;
		set->cap = cap;
	}
	o = &set->v[set->n++];
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < RECORD_HEX; i++)
		o->hex[i] = (char)((name[i] >= 'A' && name[i] <= 'F') ? name[i] - 'A' + 'a'
		    : name[i]);
	o->bad = 1;
	if (data == NULL || len > RECORD_MAX)
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	record_parse(text, &o->r);
	o->bad = o->r.address[0] == '\0' || o->r.retired <= 0
	    || record_name(o->r.address, want) != 0
	    || strcmp(want + sizeof(RECORD_PREFIX) - 1, o->hex) != 0;
	return 0;
}

static int
one_cmp(const void *a, const void *b)
{
	return strcmp(((const struct retired_one *)a)->hex,
	    ((const struct retired_one *)b)->hex);
}

/* Reads every retirement record of the directory into ks->retired; on
 * failure the old reading stays (expired: the next call tries again). */
static keystore_status_t
shared_read(keystore_t *ks, const struct timespec *now, keystore_err_t *err)
{
	struct keystore_retired_set *set = calloc(1, sizeof(*set));

	if (set == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (keystore_record_foreach_all(ks, RECORD_KIND, set_take, set, err) < 0) {
		keystore_retired_set_free(set);
		return KEYSTORE_ERR_IO;        /* err says why */
	}
	if (set->nomem) {
		keystore_retired_set_free(set);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), one_cmp);
	set->rd.at = now->tv_sec;
	keystore_retired_set_free(ks->retired);
	ks->retired = set;
	return KEYSTORE_OK;
}

/*
 * The list read again (lock held); when the directory cannot be read,
 * the last whole reading is used on for KeystoreLDAPMaxStale seconds
 * beyond the refresh (a new reading tried every KEYSTORE_LDAP_RETRY
 * seconds meanwhile), then the failure is the caller's: fail closed.
 */
static keystore_status_t
shared_refresh(keystore_t *ks, const struct timespec *now, keystore_err_t *err)
{
	struct keystore_retired_set *old = ks->retired;
	keystore_status_t rc;

	if ((rc = shared_read(ks, now, err)) == KEYSTORE_OK || old == NULL
	    || !keystore_reading_keep(ks, &old->rd, now->tv_sec))
		return rc;
	return KEYSTORE_OK;
}

/* The shared record of name ("retired-<hex>"), from the reading of the
 * directory at most KeystoreLDAPRefresh seconds old. */
static keystore_status_t
shared_load(keystore_t *ks, const char *name, keystore_retired_t *r,
    keystore_err_t *err)
{
	struct retired_one key, *o;
	struct timespec now;
	keystore_status_t rc = KEYSTORE_OK;

	memset(&key, 0, sizeof(key));
	snprintf(key.hex, sizeof(key.hex), "%s", name + sizeof(RECORD_PREFIX) - 1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&ks->retired_lock);
	if (ks->retired == NULL || (ks->retired->forgotten
	    && now.tv_sec >= ks->retired->rd.retry)
	    || keystore_reading_due(ks, &ks->retired->rd, now.tv_sec))
		rc = shared_refresh(ks, &now, err);
	if (rc == KEYSTORE_OK) {
		o = ks->retired->n == 0 ? NULL : bsearch(&key, ks->retired->v,
		    ks->retired->n, sizeof(*o), one_cmp);
		if (o == NULL)
			rc = util_err_set(err, KEYSTORE_NOTFOUND, "not retired");
		else if (o->bad)
			rc = util_err_set(err, KEYSTORE_ERR_CORRUPT, "retirement record %s-%s "
			    "in the directory does not open or names another address "
			    "(forged, moved, or another master key)", RECORD_KIND, key.hex);
		else
			*r = o->r;
	}
	pthread_mutex_unlock(&ks->retired_lock);
	return rc;
}

/* The next lookup reads the directory again (the list read last is kept
 * for an outage, shared_refresh()). */
static void
shared_forget(keystore_t *ks)
{
	pthread_mutex_lock(&ks->retired_lock);
	if (ks->retired != NULL) {
		ks->retired->forgotten = 1;
		ks->retired->rd.retry = 0;
	}
	pthread_mutex_unlock(&ks->retired_lock);
}

/* The record added to the directory; one there already (another gateway
 * retired the address first) is left as it is. */
static keystore_status_t
shared_save(keystore_t *ks, const char *name, const char *text, size_t len,
    keystore_err_t *err)
{
	keystore_status_t rc;
	int exists = 0;

	rc = keystore_record_add(ks, RECORD_KIND, name + sizeof(RECORD_PREFIX) - 1,
	    text, len, &exists, err);
	shared_forget(ks);
	return rc;
}

static keystore_status_t
record_save(keystore_t *ks, const keystore_retired_t *r, keystore_err_t *err)
{
	char name[RECORD_NAME_LEN], text[KEYSTORE_ADDR_MAX + 100];
	int n = record_format(r, name, text, sizeof(text));

	if (n < 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "%s: not an address", r->address);
	if (ks->ldap != NULL)
		return shared_save(ks, name, text, (size_t)n, err);
	return keystore_file_write(ks->dir, name, text, (size_t)n, 0, NULL, err);
}

keystore_status_t
keystore_retired_get(keystore_t *ks, const char *address, keystore_retired_t *r,
    keystore_err_t *err)
{
	char name[RECORD_NAME_LEN];
	keystore_err_t e2;
	keystore_status_t rc;

	if (record_name(address, name) != 0)
		return util_err_set(err, KEYSTORE_NOTFOUND, "%s: not an address", address);
	/* With the directory, a file left by an older version still counts. */
	rc = ks->ldap != NULL ? shared_load(ks, name, r, err != NULL ? err : &e2)
	    : KEYSTORE_NOTFOUND;
	if (rc == KEYSTORE_NOTFOUND)
		rc = record_load(ks->dir, name, r, err != NULL ? err : &e2);
	if (rc == KEYSTORE_NOTFOUND && err != NULL)
		util_err_set(err, KEYSTORE_NOTFOUND, "%s is not retired", address);
	return rc;
}

static void
fmt_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "@%lld", t);
}

keystore_status_t
keystore_retired_check(keystore_t *ks, char *const *addresses, keystore_err_t *err)
{
	keystore_retired_t r;
	keystore_status_t rc;
	char when[40];

	for (size_t i = 0; addresses != NULL && addresses[i] != NULL; i++) {
		rc = keystore_retired_get(ks, addresses[i], &r, err);
		if (rc == KEYSTORE_NOTFOUND)
			continue;
		if (rc != KEYSTORE_OK)
			return rc;
		fmt_time(r.retired, when, sizeof(when));
		if (r.destroyed > 0) {
			char gone[40];

			fmt_time(r.destroyed, gone, sizeof(gone));
			return util_err_set(err, KEYSTORE_RETIRED, "%s retired on %s, its keys "
			    "destroyed on %s", addresses[i], when, gone);
		}
		return util_err_set(err, KEYSTORE_RETIRED, "%s retired on %s",
		    addresses[i], when);
	}
	return KEYSTORE_OK;
}

/* ---- retiring ---- */

/* Appends address to *list (*n entries) unless an equal one is there. */
static int
list_add(char ***list, size_t *n, const char *address)
{
	char **nl;

	for (size_t i = 0; i < *n; i++)
		if (util_addr_equal((*list)[i], address))
			return 0;
	if ((nl = realloc(*list, (*n + 2) * sizeof(*nl))) == NULL)
		return -1;
	*list = nl;
	if ((nl[*n] = strdup(address)) == NULL)
		return -1;
	nl[++*n] = NULL;
	return 0;
}

void
keystore_retire_list_free(char **all)
{
	for (size_t i = 0; all != NULL && all[i] != NULL; i++)
		free(all[i]);
	free(all);
}

/* address and every address its entries name, in *list. */
static keystore_status_t
person_addresses(keystore_t *ks, const char *address, char ***list,
    keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	size_t n = 0, count = 0;
	int bad;

	*list = NULL;
	if ((rc = keystore_snapshot(ks, &idx, err)) != KEYSTORE_OK)
		return rc;
	bad = list_add(list, &count, address);
	n = keystore_index_find(idx, address, &slots);
	for (size_t i = 0; !bad && i < n; i++)
		for (size_t j = 0; !bad && slots[i].entry->addresses[j] != NULL; j++)
			bad = list_add(list, &count, slots[i].entry->addresses[j]);
	keystore_index_unref(idx);
	if (bad) {
		keystore_retire_list_free(*list);
		*list = NULL;
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	return KEYSTORE_OK;
}

/* A record for each address of list that has none yet. */
static keystore_status_t
retire_all(keystore_t *ks, char **list, time_t now, keystore_err_t *err)
{
	keystore_retired_t r;
	keystore_status_t rc = KEYSTORE_OK;

	for (size_t i = 0; rc == KEYSTORE_OK && list[i] != NULL; i++) {
		if ((rc = keystore_retired_get(ks, list[i], &r, err)) != KEYSTORE_NOTFOUND)
			continue;
		memset(&r, 0, sizeof(r));
		if (strlen(list[i]) >= sizeof(r.address))
			return util_err_set(err, KEYSTORE_ERR_INPUT, "%s: too long", list[i]);
		snprintf(r.address, sizeof(r.address), "%s", list[i]);
		r.retired = (long long)now;
		rc = record_save(ks, &r, err);
	}
	return rc;
}

keystore_status_t
keystore_retire(keystore_t *ks, const char *address, time_t now, char ***all,
    keystore_err_t *err)
{
	char **list = NULL, *norm = util_addr_normalize(address);
	keystore_status_t rc;
	int lock = -1;

	if (all != NULL)
		*all = NULL;
	if (norm == NULL || strchr(norm, '@') == NULL) {
		free(norm);
		return util_err_set(err, KEYSTORE_ERR_INPUT, "%s: not an address", address);
	}
	free(norm);
	if ((rc = keystore_dir_lock(ks->dir, &lock, err)) != KEYSTORE_OK)
		return rc;
	if (ks->ldap != NULL)
		shared_forget(ks);              /* what the directory says now */
	if ((rc = person_addresses(ks, address, &list, err)) == KEYSTORE_OK)
		rc = retire_all(ks, list, now, err);
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		keystore_keycache_drop_address(ks->keycache, list[i]);
	keystore_dir_unlock(lock);
	keystore_touch(ks);
	if (rc == KEYSTORE_OK && all != NULL)
		*all = list;
	else
		keystore_retire_list_free(list);
	return rc;
}

/* ---- destroying keys ---- */

/* Overwrites the regular file dir/name with zeros, syncs and removes it,
 * never through a link.  KEYSTORE_NOTFOUND when it is gone already. */
static keystore_status_t
destroy_file(const char *dir, const char *name, keystore_err_t *err)
{
	static const unsigned char zeros[4096];
	char *path = keystore_path_join(dir, name);
	struct stat st;
	off_t left;
	int fd;

	if (path == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) < 0) {
		int e = errno;

		free(path);
		return e == ENOENT ? util_err_set(err, KEYSTORE_NOTFOUND, "gone")
		    : util_err_set(err, e == ELOOP ? KEYSTORE_ERR_PERM : KEYSTORE_ERR_IO,
		    "%s/%s: %s", dir, name, strerror(e));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		free(path);
		return util_err_set(err, KEYSTORE_ERR_PERM, "%s/%s: not a regular file",
		    dir, name);
	}
	for (left = st.st_size; left > 0; left -= (off_t)sizeof(zeros))
		if (util_write_all(fd, zeros, left < (off_t)sizeof(zeros) ? (size_t)left
		    : sizeof(zeros)) != 0)
			break;
	if (left > 0 || fsync(fd) != 0 || close(fd) != 0 || unlink(path) != 0) {
		int e = errno;

		if (left > 0)
			close(fd);
		free(path);
		return util_err_set(err, KEYSTORE_ERR_IO, "%s/%s: %s", dir, name, strerror(e));
	}
	free(path);
	return KEYSTORE_OK;
}

static void
dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

struct purge {
	keystore_t *ks;
	long long retention;
	time_t now;
	keystore_purge_fn fn;
	void *arg;
	size_t count;
};

/* The keys of r's address destroyed, then the record says so. */
static keystore_status_t
purge_one(struct purge *p, keystore_retired_t *r, keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	size_t n;

	if ((rc = keystore_snapshot(p->ks, &idx, err)) != KEYSTORE_OK)
		return rc;
	n = keystore_index_find(idx, r->address, &slots);
	for (size_t i = 0; rc == KEYSTORE_OK && i < n; i++) {
		const keystore_entry_t *e = slots[i].entry;

		rc = destroy_file(p->ks->dir, e->file, err);
		if (rc == KEYSTORE_NOTFOUND) {         /* an alias took it already */
			rc = KEYSTORE_OK;
			continue;
		}
		if (rc == KEYSTORE_OK && p->fn != NULL)
			p->fn(r->address, &e->info, p->arg);
		p->count += rc == KEYSTORE_OK;
	}
	keystore_index_unref(idx);
	dir_sync(p->ks->dir);
	keystore_touch(p->ks);
	if (rc != KEYSTORE_OK)
		return rc;
	r->destroyed = (long long)p->now;
	return record_save(p->ks, r, err);
}

static keystore_status_t
purge_scan(struct purge *p, keystore_err_t *err)
{
	DIR *d = opendir(p->ks->dir);
	struct dirent *de;
	keystore_retired_t r;
	keystore_status_t rc = KEYSTORE_OK;

	if (d == NULL)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: %s", p->ks->dir, strerror(errno));
	while (rc == KEYSTORE_OK && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, RECORD_PREFIX, sizeof(RECORD_PREFIX) - 1) != 0
		    || strlen(de->d_name) != RECORD_NAME_LEN - 1)
			continue;
		if ((rc = record_load(p->ks->dir, de->d_name, &r, err)) != KEYSTORE_OK)
			break;
		if (r.destroyed == 0 && r.retired + p->retention <= (long long)p->now)
			rc = purge_one(p, &r, err);
	}
	closedir(d);
	return rc;
}

/* ---- destroying keys kept in the directory (KeystoreBackend ldap) ---- */

#define PURGE_LEASE 600           /* seconds one gateway may take for one person */

/* The retirement records that open and name their address, with their
 * versions. */
struct shared_rec {
	char hex[RECORD_HEX + 1];
	long version;
	keystore_retired_t r;
};
struct shared_list {
	struct shared_rec *v;
	size_t n, cap;
	int nomem;
};

static int
list_take(const char *name, const unsigned char *data, size_t len, long version,
    void *arg)
{
	struct shared_list *l = arg;
	struct shared_rec *o;
	char want[RECORD_NAME_LEN], text[RECORD_MAX + 1];

	if (strlen(name) != RECORD_HEX || len > RECORD_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct shared_rec *nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL) {
			l->nomem = 1;
			return 1;
		}
		l->v = nv;
		l->cap = cap;
	}
	o = &l->v[l->n];
	memset(o, 0, sizeof(*o));
	memcpy(text, data, len);
	text[len] = '\0';
	record_parse(text, &o->r);
	if (o->r.address[0] == '\0' || o->r.retired <= 0
	    || record_name(o->r.address, want) != 0
	    || strcasecmp(want + sizeof(RECORD_PREFIX) - 1, name) != 0)
		return 0;                  /* names another address: never acted on */
	snprintf(o->hex, sizeof(o->hex), "%s", name);
	o->version = version;
	l->n++;
	return 0;
}

/* 1 when every address e names is retired at or before the retention's
 * start: a key that is also someone else's (not retired, or retired
 * later) is not destroyed. */
static int
entry_all_past(struct purge *p, const keystore_entry_t *e)
{
	keystore_retired_t r;

	for (size_t i = 0; e->addresses[i] != NULL; i++)
		if (keystore_retired_get(p->ks, e->addresses[i], &r, NULL) != KEYSTORE_OK
		    || r.retired + p->retention > (long long)p->now)
			return 0;
	return 1;
}

/* The values of r's address's entries removed from the directory. */
static keystore_status_t
shared_destroy(struct purge *p, const keystore_retired_t *r, keystore_err_t *err)
{
	const keystore_slot_t *slots;
	keystore_index_t *idx;
	keystore_status_t rc;
	size_t n, removed;

	keystore_touch(p->ks);                 /* what the directory holds now */
	if ((rc = keystore_snapshot(p->ks, &idx, err)) != KEYSTORE_OK)
		return rc;
	n = keystore_index_find(idx, r->address, &slots);
	for (size_t i = 0; rc == KEYSTORE_OK && i < n; i++) {
		const keystore_entry_t *e = slots[i].entry;

		if (!entry_all_past(p, e))
			continue;
		removed = 0;
		rc = keystore_ldap_remove(p->ks->ldap, e, &removed, err);
		if (rc == KEYSTORE_OK && removed > 0) {
			if (p->fn != NULL)
				p->fn(r->address, &e->info, p->arg);
			p->count++;
		}
	}
	keystore_index_unref(idx);
	keystore_touch(p->ks);
	return rc;
}

/* One leaver's keys destroyed under the lease purge.HEX (of several
 * gateways one does it, and audits it), then the record says so. */
static keystore_status_t
shared_purge_one(struct purge *p, const struct shared_rec *s, keystore_err_t *err)
{
	keystore_lease_t *l = malloc(sizeof(*l));
	char lname[RECORD_HEX + 8], name[RECORD_NAME_LEN], text[KEYSTORE_ADDR_MAX + 100];
	keystore_retired_t r = s->r;
	keystore_status_t rc;
	int conflict = 0, n;

	if (l == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	snprintf(lname, sizeof(lname), "purge.%s", s->hex);
	if ((rc = keystore_lease_take(p->ks, lname, PURGE_LEASE, p->now, l, err))
	    == KEYSTORE_OK && l->held && (rc = shared_destroy(p, &r, err)) == KEYSTORE_OK) {
		r.destroyed = (long long)p->now;
		if ((n = record_format(&r, name, text, sizeof(text))) < 0)
			rc = util_err_set(err, KEYSTORE_ERR_INPUT, "%s: not an address", r.address);
		else
			rc = keystore_record_update(p->ks, RECORD_KIND, s->hex, s->version, text,
			    (size_t)n, &conflict, err);
	}
	if (l->held)
		(void)keystore_lease_release(p->ks, l, NULL);
	free(l);
	return rc;
}

static keystore_status_t
shared_purge(struct purge *p, keystore_err_t *err)
{
	struct shared_list list = { NULL, 0, 0, 0 };
	keystore_status_t rc = KEYSTORE_OK;

	shared_forget(p->ks);                  /* what the directory says now */
	if (keystore_record_foreach(p->ks, RECORD_KIND, list_take, &list, err) < 0)
		rc = err != NULL && err->code != KEYSTORE_OK ? err->code : KEYSTORE_ERR_IO;
	else if (list.nomem)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; rc == KEYSTORE_OK && i < list.n; i++)
		if (list.v[i].r.destroyed == 0
		    && list.v[i].r.retired + p->retention <= (long long)p->now)
			rc = shared_purge_one(p, &list.v[i], err);
	free(list.v);
	shared_forget(p->ks);
	return rc;
}

keystore_status_t
keystore_retire_purge(keystore_t *ks, long long retention, time_t now,
    keystore_purge_fn fn, void *arg, size_t *count, keystore_err_t *err)
{
	struct purge p = { ks, retention, now, fn, arg, 0 };
	keystore_status_t rc;
	int lock = -1;

	if (count != NULL)
		*count = 0;
	if ((rc = keystore_dir_lock(ks->dir, &lock, err)) != KEYSTORE_OK)
		return rc;
	rc = ks->ldap != NULL ? shared_purge(&p, err) : purge_scan(&p, err);
	if (p.count > 0)                /* destroyed: not kept in memory either */
		keystore_keycache_drop_all(ks->keycache);
	keystore_dir_unlock(lock);
	if (count != NULL)
		*count = p.count;
	return rc;
}
