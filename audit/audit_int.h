/*
 * audit_int.h: what the files of audit/ share and nobody else sees.
 *
 * Threads: everything here works on the caller's objects only; nothing
 * has global state except constant tables.
 */
#ifndef AUDIT_INT_H
#define AUDIT_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "audit/audit.h"
#include "util/util_buf.h"

#define AUDIT_ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_LOG_NAME  "audit.log"
#define AUDIT_KEY_NAME  "audit.key"
#define AUDIT_PUB_NAME  "audit.pub"
#define AUDIT_LOCK_NAME "audit.lock"
#define AUDIT_HEAD_MAX  256     /* octets of a head file */
#define AUDIT_TIME_LEN  32      /* room for an RFC 3339 time we write */

/* ---- UTF-8 (audit_utf8.c) ---- */

/* Length of the well-formed UTF-8 sequence at s (n octets left), 0 if
 * none starts there. */
size_t audit_utf8_seq(const unsigned char *s, size_t n);
/*
 * s as well-formed UTF-8 into out: each octet not part of a well-formed
 * sequence becomes U+FFFD; at most max octets of output, cut at a
 * character boundary and then ended with U+2026.  0, or -1 without memory.
 */
int audit_utf8_clean(const char *s, size_t max, util_buf_t *out);

/* ---- JSON lines (audit_json.c) ---- */

/* One line parsed: the JSON object and what the chain needs. */
typedef struct audit_line {
	json_object *obj;       /* owned; strings below point into it */
	uint64_t seq;
	const char *time;
	const char *prev;
	int checkpoint;
	const char *sig;        /* checkpoints */
	const char *key;
} audit_line_t;

/* The record's JSON object, with "seq" and "prev" when prev is not NULL. */
json_object *audit_json_record(const audit_record_t *rec, time_t now,
    int flags, uint64_t seq, const char *prev, audit_err_t *err);
json_object *audit_json_checkpoint(uint64_t seq, const char *time,
    const char *prev, const char *sig, const char *key, audit_err_t *err);
/* The object as one plain line (malloc'ed, no newline), or NULL. */
char *audit_json_line(json_object *o, size_t *len, audit_err_t *err);
/*
 * Parses one line strictly (valid UTF-8, one object, nothing after it) and
 * checks the fields of a record or a checkpoint.  0, or -1 with *why set
 * to a static description.
 */
int audit_json_parse(const char *line, size_t len, audit_line_t *out,
    const char **why);
void audit_line_free(audit_line_t *l);
/* The record fields of a parsed record line into rec (strings point into
 * l->obj; certs and algorithms into arrays malloc'ed here, which
 * audit_json_record_free releases).  0, or -1 without memory. */
int audit_json_to_record(const audit_line_t *l, audit_record_t *rec);
void audit_json_record_free(audit_record_t *rec);

/* ---- keys and signatures (audit_key.c) ---- */

/* Loads (creating when create and absent) the key and audit.pub. */
audit_status_t audit_key_open(const char *key_file, const char *pub_file,
    int create, EVP_PKEY *given, EVP_PKEY **key, int *created, audit_err_t *err);
/* Hex SHA-256 of the DER SubjectPublicKeyInfo into out[65]. */
audit_status_t audit_key_id(EVP_PKEY *key, char out[65], audit_err_t *err);
/* The base64 signature of a checkpoint (malloc'ed). */
char *audit_key_sign(EVP_PKEY *key, uint64_t seq, const char *time,
    const char *prev, audit_err_t *err);
/* 1 when sig is key's signature of the checkpoint, else 0. */
int audit_key_verify(EVP_PKEY *pub, uint64_t seq, const char *time,
    const char *prev, const char *sig);
/* Hex SHA-256 of data into out[65]. */
void audit_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- reading lines (audit_lines.c) ---- */

typedef struct audit_lines audit_lines_t;

typedef struct audit_rawline {
	const char *data;       /* without the newline; valid until the next call */
	size_t len;
	int newline;            /* 0: the file ended without one */
	int too_long;           /* longer than AUDIT_LINE_MAX: data is cut */
	size_t file;            /* index into files[] */
	unsigned long lineno;
	int first_in_file;
} audit_rawline_t;

audit_lines_t *audit_lines_open(const char *const *files, size_t nfiles,
    audit_err_t *err);
/* AUDIT_OK with *l set, AUDIT_END, or AUDIT_ERR_IO. */
audit_status_t audit_lines_next(audit_lines_t *ls, audit_rawline_t *l,
    audit_err_t *err);
void audit_lines_free(audit_lines_t *ls);
/* The last line of path (malloc'ed, without newline) into *line, NULL for
 * an empty file; *partial 1 when it has no newline.  AUDIT_OK or IO. */
audit_status_t audit_lines_last(const char *path, char **line, size_t *len,
    int *partial, audit_err_t *err);

/* ---- a string-keyed table of counters (audit_map.c) ---- */

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

/* ---- the report's internals (audit_report.c), for the writers ---- */

enum { M_TOTAL = 0, M_ENC, M_SIGNED, M_BOTH, M_CLEAR };
/* Counters of an item of unenc (recipient domains sent mail unencrypted). */
enum { U_UNENC = 0, U_NO_CERT, U_TOTAL };

/* One point of the trend: outbound deliveries of one day or week (UTC). */
typedef struct audit_trend_point {
	char start[11];             /* YYYY-MM-DD: the day, or the week's Monday */
	uint64_t n[5];              /* M_TOTAL, M_ENC, M_SIGNED, M_BOTH, M_CLEAR */
} audit_trend_point_t;

typedef struct audit_report_data {
	time_t since, until;
	audit_totals_t t;
	audit_map_t *by_domain;     /* outbound, by recipient domain */
	audit_map_t *by_sender;     /* outbound, by sender address */
	audit_map_t *no_cert;       /* recipients without certificates */
	audit_map_t *enrolled;      /* by enrolled address; extra: a fingerprint */
	audit_map_t *decrypted;     /* by recipient */
	audit_map_t *failures;      /* by "action: reason" */
	audit_map_t *unenc;         /* by recipient domain: U_* (not internal) */
	audit_map_t *by_day;        /* outbound by "YYYY-MM-DD": M_* */
	char *integrity;
	int integrity_ok;
	int has_integrity;
} audit_report_data_t;

struct audit_report {
	audit_report_data_t d;
};

audit_status_t audit_report_text(const audit_report_data_t *d, time_t gen,
    FILE *out, audit_err_t *err);
audit_status_t audit_report_csv(const audit_report_data_t *d, time_t gen,
    FILE *out, audit_err_t *err);
audit_status_t audit_report_json(const audit_report_data_t *d, time_t gen,
    FILE *out, audit_err_t *err);
audit_status_t audit_report_html(const audit_report_data_t *d, time_t gen,
    FILE *out, audit_err_t *err);
/* The trend of outbound shares over the report's period, in days (a
 * period of up to AUDIT_TREND_DAYS days) or weeks from Monday: a malloc'ed
 * array in time order (*n 0 and NULL when there is no outbound record),
 * *unit "day" or "week".  0, or -1 without memory. */
#define AUDIT_TREND_DAYS 62
int audit_report_trend(const audit_report_data_t *d, audit_trend_point_t **pts,
    size_t *n, const char **unit);
/* The share num/den in percent rounded to one decimal ("0.0" when den 0). */
void audit_pct(uint64_t num, uint64_t den, char *out, size_t outlen);

#endif
