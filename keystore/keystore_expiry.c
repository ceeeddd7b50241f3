/*
 * keystore_expiry.c: which certificates of the keystore expire soon (see
 * keystore_expiring() in keystore.h): of each address, the newest entry
 * that may sign and the newest that may encrypt, older ones being kept
 * only to decrypt.
 *
 * Threads: works on keystore_foreach()'s snapshot; no state.
 */
#include "keystore/keystore.h"
#include "keystore/keystore_snapshot.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every (address, entry) pair, gathered by keystore_foreach(). */
typedef struct pairs {
	keystore_expiry_t *v;
	size_t n, cap;
	int nomem;
} pairs_t;

static int
gather(const keystore_info_t *info, void *arg)
{
	pairs_t *p = arg;
	keystore_expiry_t *e;

	for (size_t i = 0; info->addresses[i] != NULL; i++) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 64;
			keystore_expiry_t *v = realloc(p->v, cap * sizeof(*v));

			if (v == NULL) {
				p->nomem = 1;
				return 1;
			}
			p->v = v;
			p->cap = cap;
		}
		e = &p->v[p->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->address, sizeof(e->address), "%s", info->addresses[i]);
		memcpy(e->fingerprint, info->fingerprint, sizeof(e->fingerprint));
		snprintf(e->serial, sizeof(e->serial), "%s", info->serial);
		snprintf(e->subject, sizeof(e->subject), "%s", info->subject);
		snprintf(e->issuer, sizeof(e->issuer), "%s", info->issuer);
		snprintf(e->not_after, sizeof(e->not_after), "%s", info->not_after);
		e->expires = info->expires;
		e->sign = info->can_sign;
		e->encrypt = info->can_encrypt;
		snprintf(e->origin, sizeof(e->origin), "%s", info->origin ? info->origin : "");
	}
	return 0;
}

static int
by_address(const void *a, const void *b)
{
	const keystore_expiry_t *x = a, *y = b;
	int c = strcasecmp(x->address, y->address);

	if (c != 0)
		return c;
	return (x->expires > y->expires) - (x->expires < y->expires);
}

static int
by_expiry(const void *a, const void *b)
{
	const keystore_expiry_t *x = a, *y = b;

	if (x->expires != y->expires)
		return (x->expires > y->expires) - (x->expires < y->expires);
	return strcasecmp(x->address, y->address);
}

/* In the group v[0..n) of one address (ordered by expiry), keeps the
 * sign and encrypt flags of the last entry having each only. */
static void
newest_only(keystore_expiry_t *v, size_t n)
{
	int sign = 0, enc = 0;

	for (size_t i = n; i-- > 0;) {
		int s = v[i].sign, e = v[i].encrypt;

		v[i].sign = s && !sign;
		v[i].encrypt = e && !enc;
		sign |= s;
		enc |= e;
	}
}

int
keystore_expiring(keystore_t *ks, time_t before, keystore_expiry_t **out,
    size_t *n, keystore_err_t *err)
{
	pairs_t p = { NULL, 0, 0, 0 };
	size_t i, j, k = 0;

	*out = NULL;
	*n = 0;
	if (keystore_foreach(ks, gather, &p, err) < 0 || p.nomem) {
		free(p.v);
		if (p.nomem)
			util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return -1;
	}
	if (p.n > 0)
		qsort(p.v, p.n, sizeof(*p.v), by_address);
	for (i = 0; i < p.n; i = j) {
		for (j = i + 1; j < p.n && strcasecmp(p.v[i].address, p.v[j].address) == 0; j++)
			;
		newest_only(p.v + i, j - i);
	}
	for (i = 0; i < p.n; i++)
		if ((p.v[i].sign || p.v[i].encrypt) && p.v[i].expires < before)
			p.v[k++] = p.v[i];
	if (k > 0)
		qsort(p.v, k, sizeof(*p.v), by_expiry);
	*out = p.v;
	*n = k;
	return 0;
}

void
keystore_reread(keystore_t *ks)
{
	keystore_touch(ks);
}
