/*
 * audit_map.h: a string-keyed table of counters, for the report.
 *
 * Internal to audit/: declares audit_map.c's functions only; each file of
 * audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_MAP_H
#define AUDIT_MAP_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_MAP_COUNTERS 6

typedef struct audit_map_item {
	char *key;
	uint64_t n[AUDIT_MAP_COUNTERS];
	char *extra;            /* one remembered string (e.g. a fingerprint) */
} audit_map_item_t;

typedef struct audit_map audit_map_t;

audit_map_t *audit_map_new(void);
void audit_map_free(audit_map_t *m);
/* The item for key, created with zero counters; NULL without memory. */
audit_map_item_t *audit_map_get(audit_map_t *m, const char *key);
size_t audit_map_count(const audit_map_t *m);
/* The items sorted by n[col] descending, then key; a malloc'ed array of
 * pointers into m, or NULL (also when m is empty: *n is then 0). */
audit_map_item_t **audit_map_sorted(const audit_map_t *m, int col, size_t *n);

#endif
