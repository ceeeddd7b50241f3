/*
 * audit_read.c: reading the entries of log files in order, for reports
 * and tests.  No chain checks here: that is audit_verify()'s job.
 *
 * Ownership: the reader owns the entry it hands out (and the JSON its
 * strings point into) until the next call or audit_reader_free().
 * Threads: one reader, one thread.
 */
#include "audit/audit_int.h"
#include "audit/audit_json.h"
#include "audit/audit_lines.h"

#include <stdlib.h>
#include <string.h>

struct audit_reader {
	const char *const *files;
	audit_lines_t *ls;
	audit_line_t line;      /* the current parsed line */
	audit_entry_t entry;
};

audit_reader_t *
audit_reader_open(const char *const *files, size_t nfiles, audit_err_t *err)
{
	audit_reader_t *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	r->files = files;
	r->ls = audit_lines_open(files, nfiles, err);
	if (r->ls == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static void
release(audit_reader_t *r)
{
	audit_json_record_free(&r->entry.rec);
	audit_line_free(&r->line);
	memset(&r->entry, 0, sizeof(r->entry));
}

void
audit_reader_free(audit_reader_t *r)
{
	if (r == NULL)
		return;
	release(r);
	audit_lines_free(r->ls);
	free(r);
}

audit_status_t
audit_reader_next(audit_reader_t *r, const audit_entry_t **e, audit_err_t *err)
{
	audit_entry_t *en = &r->entry;
	audit_rawline_t l;
	audit_status_t st;
	const char *why;

	*e = NULL;
	release(r);
	st = audit_lines_next(r->ls, &l, err);
	if (st != AUDIT_OK)
		return st;
	if (l.too_long || audit_json_parse(l.data, l.len, &r->line, &why) < 0)
		return util_err_set(err, AUDIT_ERR_CORRUPT, "%s:%lu: not a record: %s",
		    r->files[l.file], l.lineno, l.too_long ? "a line too long" : why);
	if (audit_json_to_record(&r->line, &en->rec) < 0)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	en->seq = r->line.seq;
	en->checkpoint = r->line.checkpoint;
	memcpy(en->prev, r->line.prev, sizeof(en->prev));
	en->file = r->files[l.file];
	en->line = l.lineno;
	*e = en;
	return AUDIT_OK;
}
