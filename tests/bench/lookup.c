/*
 * lookup.c: certificate lookups per second and their latency, for
 * `make bench` only.  Drives the directory library (directory/dir_lookup.h)
 * as the daemon does, one thread, no milter.
 *
 *   lookup cold|warm LDAPURL CAFILE REDIS PREFIX COUNT ADDRESS...
 *
 * cold: each lookup first drops the address from the cache, so it is
 * answered by slapd (the search, the certificate checks; CRLs stay in
 * their own cache, as in the daemon).  warm: one lookup of each address
 * fills the cache (REDIS "host:port", or "" for the in-process table),
 * then COUNT lookups are timed.  The addresses are used in turn.  Every
 * lookup must find a certificate, or the run fails.  Output: "rate=",
 * "p50_ms=", "p99_ms=" lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "directory/dir_lookup.h"

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
find(dir_lookup_t *l, const char *addr)
{
	dir_answer_t a;
	dir_status_t st = dir_lookup_find(l, addr, &a);

	if (st != DIR_OK)
		fprintf(stderr, "lookup: %s: status %d: %s\n", addr, (int)st, a.err);
	dir_answer_clear(&a);
	return st == DIR_OK ? 0 : -1;
}

int
main(int argc, char **argv)
{
	char err[512];
	char *urls[2];
	dir_settings_t s;
	dir_lookup_t *l;
	double *lat, t0, t1, start;
	long count, i;
	int cold, naddr;

	if (argc < 8) {
		fprintf(stderr, "usage: lookup cold|warm LDAPURL CAFILE REDIS PREFIX COUNT ADDRESS...\n");
		return 2;
	}
	cold = strcmp(argv[1], "cold") == 0;
	count = atol(argv[6]);
	naddr = argc - 7;
	if (count <= 0 || (lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		return 2;
	urls[0] = argv[2];
	urls[1] = NULL;
	memset(&s, 0, sizeof(s));
	s.ldap_urls = urls;
	s.filter = "(mail=%s)";
	s.connect_timeout = 5;
	s.search_timeout = 10;
	s.pool_size = 1;
	s.ca_file = argv[3];
	s.crl_check = 1;
	s.crl_policy = DIR_CRL_TEMPFAIL;
	s.crl_timeout = 10;
	s.crl_cache_seconds = 3600;
	s.redis = argv[4];
	s.redis_prefix = argv[5];
	s.redis_timeout_ms = 500;
	s.redis_key_file = getenv("LOOKUP_REDIS_KEY");   /* RedisKeyFile */
	s.ttl_positive = 86400;
	s.ttl_negative = 3600;
	s.mem_cache_size = 10000;
	s.tier_size = 1000;         /* CacheTierSize, CacheTierTTL, RedisPoolWait */
	s.tier_ttl = 60;
	s.redis_pool_wait_ms = 200;
	s.stale_seconds = 3600;     /* CacheStaleTime */
	s.harvest_dir = "";
	if ((l = dir_lookup_new(&s, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lookup: %s\n", err);
		return 1;
	}
	/* One lookup of each: connections made, CRLs fetched, cache filled. */
	for (i = 0; i < naddr; i++)
		if (find(l, argv[7 + i]) != 0)
			return 1;
	start = wall_now();
	for (i = 0; i < count; i++) {
		const char *addr = argv[7 + i % naddr];

		t0 = wall_now();
		if (cold && dir_lookup_flush(l, addr, err, sizeof(err)) != 0) {
			fprintf(stderr, "lookup: flush: %s\n", err);
			return 1;
		}
		if (find(l, addr) != 0)
			return 1;
		t1 = wall_now();
		lat[i] = t1 - t0;
	}
	t1 = wall_now();
	qsort(lat, (size_t)count, sizeof(*lat), cmp_double);
	printf("rate=%.0f\n", count / (t1 - start));
	printf("p50_ms=%.3f\n", lat[count / 2] * 1000);
	printf("p99_ms=%.3f\n", lat[(count * 99) / 100 < count ? (count * 99) / 100 : count - 1] * 1000);
	printf("searches=%lu\n", dir_lookup_searches(l));
	dir_lookup_free(l);
	free(lat);
	return 0;
}
