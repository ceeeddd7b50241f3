/*
 * keystore_lease.c: leases in the shared directory (see keystore_lease.h),
 * kept as the shared records of keystore_record.c.  A record's data:
 *   expires UNIXTIME\n
 * then the holder's note, verbatim.
 *
 * Threads: any; each call is its own round trips.
 */
#include "keystore/keystore_lease.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#define LEASE_KIND "lease"
#define LEASE_TRIES 4

/* The record's data for l: malloc'ed text, *len octets. */
static char *
lease_text(long long expires, const char *note, size_t *len)
{
	size_t n = strlen(note) + 32;
	char *t = malloc(n);
	int k;

	if (t == NULL)
		return NULL;
	k = snprintf(t, n, "expires %lld\n%s", expires, note);
	*len = k > 0 ? (size_t)k : 0;
	return t;
}

/* l from a record's data (a record that does not parse: expired). */
static void
lease_parse(keystore_lease_t *l, const unsigned char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);

	l->expires = 0;
	l->note[0] = '\0';
	if (nl == NULL || len < 8 || memcmp(data, "expires ", 8) != 0)
		return;
	l->expires = strtoll((const char *)data + 8, NULL, 10);
	len -= (size_t)(nl + 1 - (const char *)data);
	if (len >= sizeof(l->note))
		len = sizeof(l->note) - 1;
	memcpy(l->note, nl + 1, len);
	l->note[len] = '\0';
}

static keystore_status_t
lease_init(keystore_t *ks, const char *name, keystore_lease_t *l,
    keystore_err_t *err)
{
	memset(l, 0, sizeof(*l));
	if (strlen(name) >= sizeof(l->name))
		return util_err_set(err, KEYSTORE_ERR_INPUT, "lease %s: name too long", name);
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->shared = keystore_shared(ks);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_lease_read(keystore_t *ks, const char *name, time_t now,
    keystore_lease_t *l, keystore_err_t *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	keystore_status_t rc;
	char copy[sizeof(l->name)];

	(void)now;
	snprintf(copy, sizeof(copy), "%s", name);      /* name may be l->name */
	if ((rc = lease_init(ks, copy, l, err)) != KEYSTORE_OK)
		return rc;
	if (!l->shared)
		return util_err_set(err, KEYSTORE_NOTFOUND, "no lease %s", copy);
	rc = keystore_record_get(ks, LEASE_KIND, copy, &data, &len, &l->version, err);
	if (rc == KEYSTORE_OK) {
		lease_parse(l, data, len);
		OPENSSL_clear_free(data, len + 1);
	}
	return rc;
}

/* One attempt: 1 decided (l says how), 0 try again (it changed meanwhile). */
static int
take_once(keystore_t *ks, keystore_lease_t *l, long long ttl, time_t now,
    const char *text, size_t len, keystore_status_t *rc, keystore_err_t *err)
{
	int exists = 0, conflict = 0, gone = 0;

	if ((*rc = keystore_record_add(ks, LEASE_KIND, l->name, text, len, &exists, err))
	    != KEYSTORE_OK || !exists) {
		l->held = *rc == KEYSTORE_OK;
		l->version = 1;
		l->expires = (long long)now + ttl;
		return 1;
	}
	*rc = keystore_lease_read(ks, l->name, now, l, err);
	if (*rc == KEYSTORE_NOTFOUND)          /* given back meanwhile */
		return 0;
	if (*rc == KEYSTORE_ERR_CORRUPT) {     /* blocks nothing: removed */
		*rc = keystore_record_delete(ks, LEASE_KIND, l->name, &gone, err);
		return *rc != KEYSTORE_OK;
	}
	if (*rc != KEYSTORE_OK || l->expires > (long long)now)
		return 1;                      /* another holds it (or error) */
	*rc = keystore_record_update(ks, LEASE_KIND, l->name, l->version, text, len,
	    &conflict, err);
	if (*rc != KEYSTORE_OK || conflict)
		return *rc != KEYSTORE_OK;
	l->held = 1;
	l->version++;
	l->expires = (long long)now + ttl;
	l->note[0] = '\0';
	return 1;
}

keystore_status_t
keystore_lease_take(keystore_t *ks, const char *name, long long ttl, time_t now,
    keystore_lease_t *l, keystore_err_t *err)
{
	keystore_status_t rc;
	size_t len = 0;
	char *text, copy[sizeof(l->name)];
	int done = 0;

	snprintf(copy, sizeof(copy), "%s", name);      /* name may be l->name */
	name = copy;
	if ((rc = lease_init(ks, name, l, err)) != KEYSTORE_OK)
		return rc;
	if (!l->shared) {
		l->held = 1;
		l->expires = (long long)now + ttl;
		return KEYSTORE_OK;
	}
	if ((text = lease_text((long long)now + ttl, "", &len)) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	for (int i = 0; i < LEASE_TRIES && !done; i++)
		done = take_once(ks, l, ttl, now, text, len, &rc, err);
	free(text);
	if (!done) {                           /* changing under us: not ours */
		l->held = 0;
		l->note[0] = '\0';
		l->expires = (long long)now + 1;
		rc = KEYSTORE_OK;
	}
	snprintf(l->name, sizeof(l->name), "%s", name);
	return rc;
}

keystore_status_t
keystore_lease_note(keystore_t *ks, keystore_lease_t *l, const char *note,
    time_t now, long long keep, int *lost, keystore_err_t *err)
{
	keystore_status_t rc;
	size_t len = 0;
	char *text;

	*lost = 0;
	if (!l->held || !l->shared)
		return KEYSTORE_OK;
	if ((text = lease_text((long long)now + keep, note, &len)) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = keystore_record_update(ks, LEASE_KIND, l->name, l->version, text, len, lost,
	    err);
	free(text);
	if (rc == KEYSTORE_OK && !*lost) {
		l->version++;
		l->expires = (long long)now + keep;
	}
	if (*lost)
		l->held = 0;
	return rc;
}

keystore_status_t
keystore_lease_release(keystore_t *ks, keystore_lease_t *l, keystore_err_t *err)
{
	keystore_status_t rc = KEYSTORE_OK;
	int conflict = 0;

	if (l->held && l->shared)
		rc = keystore_record_delete_at(ks, LEASE_KIND, l->name, l->version, &conflict,
		    err);
	l->held = 0;
	return rc;
}
