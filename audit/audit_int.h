/*
 * audit_int.h: the constants and the report's data that the files of
 * audit/ share and nobody else sees.  Types and constants only: each
 * file's functions are declared in a header of its own (audit_json.h,
 * audit_key.h, audit_lines.h, audit_map.h, audit_utf8.h, audit_view.h,
 * audit_report_fmt.h, audit_html.h), and each file includes the headers
 * of the files it calls.
 *
 * Threads: everything in audit/ works on the caller's objects only;
 * nothing has global state except constant tables.
 */
#ifndef AUDIT_INT_H
#define AUDIT_INT_H

#include <stdint.h>
#include <time.h>

#include "audit/audit.h"

#define AUDIT_ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_LOG_NAME  "audit.log"
#define AUDIT_KEY_NAME  "audit.key"
#define AUDIT_PUB_NAME  "audit.pub"
#define AUDIT_LOCK_NAME "audit.lock"
#define AUDIT_HEAD_MAX  256     /* octets of a head file */
#define AUDIT_TIME_LEN  32      /* room for an RFC 3339 time we write */

/* ---- the report's data (audit_report.c counts it) ---- */

typedef struct audit_map audit_map_t;   /* audit_map.h */

/* Counters of an item of the outbound tables (by_domain, by_sender,
 * by_day) and of a trend point. */
enum { M_TOTAL = 0, M_ENC, M_SIGNED, M_BOTH, M_CLEAR };
/* Counters of an item of unenc (recipient domains sent mail unencrypted). */
enum { U_UNENC = 0, U_NO_CERT, U_TOTAL };

typedef struct audit_report_data {
	time_t since, until;
	audit_totals_t t;
	audit_map_t *by_domain;     /* outbound, by recipient domain */
	audit_map_t *by_sender;     /* outbound, by sender address */
	audit_map_t *no_cert;       /* recipients without certificates */
	audit_map_t *enrolled;      /* by enrolled address; extra: a fingerprint */
	audit_map_t *decrypted;     /* by recipient */
	audit_map_t *failures;      /* by "action\x1freason" */
	audit_map_t *key_events;    /* by "action\x1faddress"; extra: the last
	                               certificate's serial */
	audit_map_t *unenc;         /* by recipient domain: U_* (not internal) */
	audit_map_t *by_day;        /* outbound by "YYYY-MM-DD": M_* */
	char *integrity;
	int integrity_ok;
	int has_integrity;
} audit_report_data_t;

#endif
