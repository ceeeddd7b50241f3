/*
 * audit_map.c: a string-keyed table of counters for the reports (by
 * domain, by sender, by reason...): open addressing, FNV-1a, doubling.
 *
 * Ownership: the map owns its items and their strings.
 * Threads: one map, one thread.
 */
#include "audit/audit_map.h"
#include "audit/audit_int.h"

#include <stdlib.h>
#include <string.h>

struct audit_map {
	audit_map_item_t **slots;
	size_t nslots;          /* a power of two */
	size_t count;
};

static size_t
hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

audit_map_t *
audit_map_new(void)
{
	audit_map_t *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->nslots = 64;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
audit_map_free(audit_map_t *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nslots; i++) {
		if (m->slots[i] != NULL) {
			free(m->slots[i]->key);
			free(m->slots[i]->extra);
			free(m->slots[i]);
		}
	}
	free(m->slots);
	free(m);
}

static size_t
find_slot(audit_map_item_t **slots, size_t nslots, const char *key)
{
	size_t i = hash(key) & (nslots - 1);

	while (slots[i] != NULL && strcmp(slots[i]->key, key) != 0)
		i = (i + 1) & (nslots - 1);
	return i;
}

static int
grow(audit_map_t *m)
{
	size_t n = m->nslots * 2, i;
	audit_map_item_t **slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (i = 0; i < m->nslots; i++)
		if (m->slots[i] != NULL)
			slots[find_slot(slots, n, m->slots[i]->key)] = m->slots[i];
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return 0;
}

audit_map_item_t *
audit_map_get(audit_map_t *m, const char *key)
{
	size_t i;
	audit_map_item_t *it;

	if (2 * (m->count + 1) > m->nslots && grow(m) < 0)
		return NULL;
	i = find_slot(m->slots, m->nslots, key);
	if (m->slots[i] != NULL)
		return m->slots[i];
	it = calloc(1, sizeof(*it));
	if (it == NULL || (it->key = strdup(key)) == NULL) {
		free(it);
		return NULL;
	}
	m->slots[i] = it;
	m->count++;
	return it;
}

size_t
audit_map_count(const audit_map_t *m)
{
	return m->count;
}

static int
cmp_items(const void *a, const void *b, void *arg)
{
	const audit_map_item_t *x = *(audit_map_item_t *const *)a;
	const audit_map_item_t *y = *(audit_map_item_t *const *)b;
	int col = *(const int *)arg;

	if (x->n[col] != y->n[col])
		return x->n[col] > y->n[col] ? -1 : 1;
	return strcmp(x->key, y->key);
}

audit_map_item_t **
audit_map_sorted(const audit_map_t *m, int col, size_t *n)
{
	audit_map_item_t **v;
	size_t i, k = 0;

	*n = 0;
	if (m->count == 0 || (v = malloc(m->count * sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < m->nslots; i++)
		if (m->slots[i] != NULL)
			v[k++] = m->slots[i];
	qsort_r(v, k, sizeof(*v), cmp_items, &col);
	*n = k;
	return v;
}
