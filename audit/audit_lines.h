/*
 * audit_lines.h: reading the lines of a log's files in order, each with
 * where it is.
 *
 * Internal to audit/: declares audit_lines.c's functions only; each file of
 * audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_LINES_H
#define AUDIT_LINES_H

#include <stddef.h>

#include "audit/audit.h"

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

#endif
