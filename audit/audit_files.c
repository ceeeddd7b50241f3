/*
 * audit_files.c: the log files of a directory in chain order: the rotated
 * files (audit.log.*) by the seq of their first line, names compared as
 * versions to break ties, then audit.log.
 *
 * Ownership: the array and its paths are malloc'ed; audit_files_free().
 * Threads: no shared state.
 */
#include "audit/audit_int.h"
#include "audit/audit_json.h"
#include "audit/audit_lines.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct ordered {
	char *path;
	uint64_t seq;           /* of the first line; UINT64_MAX: unknown */
	int live;               /* audit.log itself: always last */
} ordered_t;

static int
cmp_ordered(const void *a, const void *b)
{
	const ordered_t *x = a, *y = b;

	if (x->live != y->live)
		return x->live - y->live;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strverscmp(x->path, y->path);
}

static uint64_t
first_seq(const char *path)
{
	const char *const files[1] = { path };
	audit_lines_t *ls = audit_lines_open(files, 1, NULL);
	audit_rawline_t l;
	audit_line_t pl;
	const char *why;
	uint64_t seq = UINT64_MAX;

	if (ls != NULL && audit_lines_next(ls, &l, NULL) == AUDIT_OK &&
	    audit_json_parse(l.data, l.len, &pl, &why) == 0) {
		seq = pl.seq;
		audit_line_free(&pl);
	}
	audit_lines_free(ls);
	return seq;
}

static int
is_log_name(const char *name, int *live)
{
	size_t n = strlen(AUDIT_LOG_NAME);

	*live = strcmp(name, AUDIT_LOG_NAME) == 0;
	return *live || (strncmp(name, AUDIT_LOG_NAME ".", n + 1) == 0 &&
	    name[n + 1] != '\0');
}

/* Adds dir/name to *v; 0 or -1 without memory. */
static int
add_file(ordered_t **v, size_t *n, size_t *cap, const char *dir,
    const char *name, int live)
{
	ordered_t *nv;
	struct stat st;
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -1;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(path);
		return 0;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		nv = realloc(*v, *cap * sizeof(**v));
		if (nv == NULL) {
			free(path);
			return -1;
		}
		*v = nv;
	}
	(*v)[*n].path = path;
	(*v)[*n].live = live;
	(*v)[*n].seq = live ? 0 : first_seq(path);
	(*n)++;
	return 0;
}

static audit_status_t
scan(const char *dir, ordered_t **v, size_t *n, audit_err_t *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;
	int live;

	if (d == NULL)
		return util_err_set(err, AUDIT_ERR_IO, "cannot read the directory %s: %s",
		    dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (is_log_name(de->d_name, &live) &&
		    add_file(v, n, &cap, dir, de->d_name, live) < 0) {
			closedir(d);
			return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		}
	}
	closedir(d);
	return AUDIT_OK;
}

audit_status_t
audit_files(const char *dir, char ***files, size_t *n, audit_err_t *err)
{
	ordered_t *v = NULL;
	size_t i, count = 0;
	audit_status_t st;

	*files = NULL;
	*n = 0;
	st = scan(dir, &v, &count, err);
	if (st == AUDIT_OK && count > 0 && (*files = calloc(count, sizeof(char *))) == NULL)
		st = util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	if (st != AUDIT_OK) {
		for (i = 0; i < count; i++)
			free(v[i].path);
		free(v);
		return st;
	}
	if (count > 0)
		qsort(v, count, sizeof(*v), cmp_ordered);
	for (i = 0; i < count; i++)
		(*files)[i] = v[i].path;
	*n = count;
	free(v);
	return AUDIT_OK;
}

void
audit_files_free(char **files, size_t n)
{
	size_t i;

	for (i = 0; files != NULL && i < n; i++)
		free(files[i]);
	free(files);
}
