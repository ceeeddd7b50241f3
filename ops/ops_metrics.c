/*
 * ops_metrics.c: fixed tables of atomic counters (see ops_metrics.h).
 * Labels outside the tables count under "other", so a series never
 * appears from input.
 */
#include "ops/ops_metrics.h"
#include "directory/dir_lookup.h"

#include <string.h>

#define ADD(x) __atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)
#define GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static const char *const dirs[] = { "outbound", "inbound", "none" };
static const char *const actions[] = { "signed", "encrypted", "unsigned", "pass",
	"signed+encrypted", "decrypted", "held", "rejected", "tempfail", "other" };
#define NDIRS (sizeof(dirs) / sizeof(dirs[0]))
#define NACTS (sizeof(actions) / sizeof(actions[0]))
static unsigned long msgs[NDIRS][NACTS];

static const char *const sources[] = { "harvest", "cache", "ldap", "none", "other" };
static const char *const results[] = { "found", "notfound", "unavailable", "error" };
#define NSRC (sizeof(sources) / sizeof(sources[0]))
#define NRES (sizeof(results) / sizeof(results[0]))
static unsigned long lookups[NSRC][NRES];

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCK (sizeof(buckets) / sizeof(buckets[0]))
static unsigned long hist[NBUCK + 1];
static unsigned long hist_us;   /* the sum, in microseconds */

static const char *const classes[] = { "internal", "toobig", "unauthorized", "policy", "limit",
	"audit", "mta", "directory", "other" };
#define NCLS (sizeof(classes) / sizeof(classes[0]))
static unsigned long errors[NCLS];
static unsigned long ks_skipped;

static size_t
idx(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i < n - 1; i++)
		if (strcmp(tab[i], s) == 0)
			return i;
	return n - 1;
}

void
ops_metrics_message(const char *direction, const char *action)
{
	size_t d = direction != NULL && strcmp(direction, "inbound") == 0 ? 1
	    : direction != NULL && strcmp(direction, "outbound") == 0 ? 0 : 2;

	ADD(msgs[d][idx(actions, NACTS, action)]);
}

void
ops_metrics_lookup(int status, const char *source, double seconds)
{
	size_t s = NSRC - 2, r, b;

	if (source != NULL && *source != '\0') {
		s = strncmp(source, "harvest", 7) == 0 ? 0
		    : strstr(source, "cache") != NULL || strncmp(source, "redis", 5) == 0 ? 1
		    : strncmp(source, "ldap", 4) == 0 ? 2 : NSRC - 1;
	}
	r = status == 0 ? 0 : status == 1 ? 1 : status == 2 ? 2 : 3;
	ADD(lookups[s][r]);
	for (b = 0; b < NBUCK && seconds > buckets[b]; b++)
		;
	ADD(hist[b]);
	__atomic_add_fetch(&hist_us, (unsigned long)(seconds * 1e6), __ATOMIC_RELAXED);
	if (r == 2)
		ops_metrics_error("directory");
}

void
ops_metrics_error(const char *cls)
{
	ADD(errors[idx(classes, NCLS, cls)]);
}

void
ops_metrics_keystore_skipped(size_t n)
{
	__atomic_store_n(&ks_skipped, (unsigned long)n, __ATOMIC_RELAXED);
}

void
ops_metrics_write(FILE *fp, long spool_depth)
{
	unsigned long cum = 0;

	fprintf(fp, "# HELP smimegate_messages_total Messages answered, by direction and action.\n"
	    "# TYPE smimegate_messages_total counter\n");
	for (size_t d = 0; d < NDIRS; d++)
		for (size_t a = 0; a < NACTS; a++)
			fprintf(fp, "smimegate_messages_total{direction=\"%s\",action=\"%s\"} %lu\n",
			    dirs[d], actions[a], GET(msgs[d][a]));
	fprintf(fp, "# HELP smimegate_lookups_total Certificate lookups, by source of the answer and result.\n"
	    "# TYPE smimegate_lookups_total counter\n");
	for (size_t s = 0; s < NSRC; s++)
		for (size_t r = 0; r < NRES; r++)
			fprintf(fp, "smimegate_lookups_total{source=\"%s\",result=\"%s\"} %lu\n",
			    sources[s], results[r], GET(lookups[s][r]));
	fprintf(fp, "# HELP smimegate_cache_hits_total Lookups answered from the cache.\n"
	    "# TYPE smimegate_cache_hits_total counter\n");
	cum = 0;
	for (size_t r = 0; r < NRES; r++)
		cum += GET(lookups[1][r]);
	fprintf(fp, "smimegate_cache_hits_total %lu\n", cum);
	fprintf(fp, "# HELP smimegate_lookup_duration_seconds Certificate lookup latency.\n"
	    "# TYPE smimegate_lookup_duration_seconds histogram\n");
	cum = 0;
	for (size_t b = 0; b <= NBUCK; b++) {
		cum += GET(hist[b]);
		if (b < NBUCK)
			fprintf(fp, "smimegate_lookup_duration_seconds_bucket{le=\"%g\"} %lu\n",
			    buckets[b], cum);
		else
			fprintf(fp, "smimegate_lookup_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	fprintf(fp, "smimegate_lookup_duration_seconds_sum %.6f\n"
	    "smimegate_lookup_duration_seconds_count %lu\n", GET(hist_us) / 1e6, cum);
	fprintf(fp, "# HELP smimegate_errors_total Errors, by class.\n"
	    "# TYPE smimegate_errors_total counter\n");
	for (size_t c = 0; c < NCLS; c++)
		fprintf(fp, "smimegate_errors_total{class=\"%s\"} %lu\n", classes[c], GET(errors[c]));
	fprintf(fp, "# HELP smimegate_keystore_entries_skipped Keystore entries in the directory left out as unreadable.\n"
	    "# TYPE smimegate_keystore_entries_skipped gauge\nsmimegate_keystore_entries_skipped %lu\n",
	    GET(ks_skipped));
	if (spool_depth >= 0)
		fprintf(fp, "# HELP smimegate_spool_files Files in the spool directory.\n"
		    "# TYPE smimegate_spool_files gauge\nsmimegate_spool_files %ld\n", spool_depth);
}

void
ops_metrics_certs(FILE *fp, size_t expiring, size_t expired)
{
	fprintf(fp, "# HELP smimegate_certificates_expiring Keystore certificates (each "
	    "address's newest for signing and for encryption) expiring within RenewBefore.\n"
	    "# TYPE smimegate_certificates_expiring gauge\nsmimegate_certificates_expiring %zu\n",
	    expiring);
	fprintf(fp, "# HELP smimegate_certificates_expired Keystore certificates (each "
	    "address's newest for signing and for encryption) expired.\n"
	    "# TYPE smimegate_certificates_expired gauge\nsmimegate_certificates_expired %zu\n",
	    expired);
}

void
ops_metrics_cache(FILE *fp, const dir_cache_stats_t *st)
{
	fprintf(fp, "# HELP smimegate_cache_tier_total Cache lookups of the in-process "
	    "tier (since the last reload), by result.\n"
	    "# TYPE smimegate_cache_tier_total counter\n"
	    "smimegate_cache_tier_total{result=\"hit\"} %lu\n"
	    "smimegate_cache_tier_total{result=\"miss\"} %lu\n", st->tier_hits,
	    st->tier_misses);
	fprintf(fp, "# HELP smimegate_cache_tier_entries Entries in the in-process tier.\n"
	    "# TYPE smimegate_cache_tier_entries gauge\nsmimegate_cache_tier_entries %zu\n",
	    st->tier_entries);
	fprintf(fp, "# HELP smimegate_cache_stale_total Cached certificates used past "
	    "their time while the directories could not answer (CacheStaleTime).\n"
	    "# TYPE smimegate_cache_stale_total counter\nsmimegate_cache_stale_total %lu\n",
	    st->stale_served);
	fprintf(fp, "# HELP smimegate_redis_pool_waits_total Waits for a busy Redis "
	    "connection, by outcome (timeout: counted as a cache miss).\n"
	    "# TYPE smimegate_redis_pool_waits_total counter\n"
	    "smimegate_redis_pool_waits_total{outcome=\"served\"} %lu\n"
	    "smimegate_redis_pool_waits_total{outcome=\"timeout\"} %lu\n",
	    st->pool_waits - st->pool_timeouts, st->pool_timeouts);
}
