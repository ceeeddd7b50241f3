/*
 * audit_json.h: a record or a checkpoint as one JSON line, and a line
 * parsed back.
 *
 * Internal to audit/: declares audit_json.c's functions only; each file of
 * audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_JSON_H
#define AUDIT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <json-c/json.h>

#include "audit/audit.h"

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

#endif
