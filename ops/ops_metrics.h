/*
 * ops_metrics.h: the daemon's counters for /metrics (ops_http.c), in
 * Prometheus' text format.  Process-wide (a reload keeps them); updated
 * with atomics from any thread, never locked.
 */
#ifndef OPS_METRICS_H
#define OPS_METRICS_H

#include <stddef.h>
#include <stdio.h>

/* One message answered: its direction and action (the log line's). */
void ops_metrics_message(const char *direction, const char *action);
/* One certificate lookup: its status (dir_status_t), the answer's source
 * ("" when none) and how long it took. */
void ops_metrics_lookup(int status, const char *source, double seconds);
/* One error of a class: "internal", "toobig", "unauthorized", "policy",
 * "limit", "audit", "mta", "directory". */
void ops_metrics_error(const char *cls);
/* The keystore entries left out as unreadable now (a gauge). */
void ops_metrics_keystore_skipped(size_t n);
/* Writes the gauges of certificates expiring within RenewBefore (not yet
 * expired) and expired, counted by the caller at the scrape. */
void ops_metrics_certs(FILE *fp, size_t expiring, size_t expired);
/* Writes the certificate cache's counters (dir_lookup_cache_stats(): the
 * in-process tier, stale answers, waits for a Redis connection), counted
 * by the cache since the configuration in force was loaded. */
struct dir_cache_stats;
void ops_metrics_cache(FILE *fp, const struct dir_cache_stats *st);
/* Writes every counter; spool_depth < 0: no spool to count. */
void ops_metrics_write(FILE *fp, long spool_depth);

#endif
