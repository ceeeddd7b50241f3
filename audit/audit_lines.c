/*
 * audit_lines.c: reading log files line by line as one stream, with a hard
 * maximum line length (a longer line is returned cut and marked), and
 * finding the last line of a file for the writer to continue from.
 *
 * Ownership: an audit_lines_t owns its open file and line buffer; the
 * line handed out is valid until the next call.  files[] is the caller's.
 * Threads: one reader, one thread.
 */
#include "audit/audit_lines.h"
#include "util/util_buf.h"
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define CHUNK 65536

struct audit_lines {
	const char *const *files;
	size_t nfiles;
	size_t cur;             /* index of the open file */
	FILE *f;
	unsigned long lineno;
	char chunk[CHUNK];
	size_t pos, end;
	util_buf_t line;
};

audit_lines_t *
audit_lines_open(const char *const *files, size_t nfiles, audit_err_t *err)
{
	audit_lines_t *ls = calloc(1, sizeof(*ls));

	if (ls == NULL) {
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ls->files = files;
	ls->nfiles = nfiles;
	util_buf_init(&ls->line, AUDIT_LINE_MAX);
	return ls;
}

void
audit_lines_free(audit_lines_t *ls)
{
	if (ls == NULL)
		return;
	if (ls->f != NULL)
		fclose(ls->f);
	util_buf_free(&ls->line);
	free(ls);
}

/* Appends n octets of the current line, cutting at AUDIT_LINE_MAX. */
static int
line_add(audit_lines_t *ls, const char *p, size_t n, int *too_long)
{
	size_t room = AUDIT_LINE_MAX - ls->line.len;

	if (n > room) {
		*too_long = 1;
		n = room;
	}
	return util_buf_add(&ls->line, p, n);
}

/* Fills the chunk; 1 read, 0 end of file, -1 error. */
static int
fill(audit_lines_t *ls)
{
	size_t n = fread(ls->chunk, 1, sizeof(ls->chunk), ls->f);

	ls->pos = 0;
	ls->end = n;
	if (n > 0)
		return 1;
	return ferror(ls->f) ? -1 : 0;
}

/* One line of the open file: 1 got one, 0 end of file, -1 error. */
static int
read_line(audit_lines_t *ls, audit_rawline_t *l)
{
	char *nl;
	size_t n;
	int r, any = 0;

	ls->line.len = 0;
	ls->line.failed = 0;
	if (util_buf_add(&ls->line, "", 0) < 0)
		return -1;
	for (;;) {
		if (ls->pos == ls->end && (r = fill(ls)) <= 0) {
			if (r < 0)
				return -1;
			l->newline = 0;
			return any;
		}
		any = 1;
		nl = memchr(ls->chunk + ls->pos, '\n', ls->end - ls->pos);
		n = (nl ? (size_t)(nl - ls->chunk) : ls->end) - ls->pos;
		if (line_add(ls, ls->chunk + ls->pos, n, &l->too_long) < 0)
			return -1;
		ls->pos += n + (nl != NULL);
		if (nl != NULL) {
			l->newline = 1;
			return 1;
		}
	}
}

audit_status_t
audit_lines_next(audit_lines_t *ls, audit_rawline_t *l, audit_err_t *err)
{
	int r;

	memset(l, 0, sizeof(*l));
	for (;;) {
		if (ls->f == NULL) {
			if (ls->cur >= ls->nfiles)
				return AUDIT_END;
			ls->f = fopen(ls->files[ls->cur], "re");
			if (ls->f == NULL)
				return util_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s",
				    ls->files[ls->cur], strerror(errno));
			ls->lineno = 0;
			ls->pos = ls->end = 0;
		}
		r = read_line(ls, l);
		if (r < 0)
			return util_err_set(err, AUDIT_ERR_IO, "cannot read %s: %s",
			    ls->files[ls->cur], strerror(errno ? errno : EIO));
		if (r > 0)
			break;
		fclose(ls->f);
		ls->f = NULL;
		ls->cur++;
	}
	l->first_in_file = ls->lineno == 0;
	l->lineno = ++ls->lineno;
	l->file = ls->cur;
	l->data = ls->line.data;
	l->len = ls->line.len;
	return AUDIT_OK;
}

/* The last line in buf[0..n): start and length; 0, or -1 if none fits. */
static int
last_in(const char *buf, size_t n, int whole_file, size_t *start, size_t *len,
    int *partial)
{
	size_t end = n;
	const char *nl;

	*partial = buf[n - 1] != '\n';
	if (!*partial)
		end--;
	nl = memrchr(buf, '\n', end);
	if (nl == NULL && !whole_file)
		return -1;
	*start = nl ? (size_t)(nl - buf) + 1 : 0;
	*len = end - *start;
	return 0;
}

audit_status_t
audit_lines_last(const char *path, char **line, size_t *len, int *partial,
    audit_err_t *err)
{
	size_t win = CHUNK, start, n;
	struct stat st;
	char *buf = NULL;
	int fd;

	*line = NULL;
	*len = 0;
	*partial = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		util_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return AUDIT_ERR_IO;
	}
	for (; st.st_size > 0; win *= 2) {
		n = (size_t)st.st_size < win ? (size_t)st.st_size : win;
		free(buf);
		buf = malloc(n + 1);
		if (buf == NULL || pread(fd, buf, n, st.st_size - (off_t)n) != (ssize_t)n) {
			close(fd);
			free(buf);
			return util_err_set(err, buf ? AUDIT_ERR_IO : AUDIT_ERR_NOMEM,
			    "cannot read %s", path);
		}
		if (last_in(buf, n, n == (size_t)st.st_size, &start, len, partial) == 0) {
			memmove(buf, buf + start, *len);
			buf[*len] = '\0';
			*line = buf;
			break;
		}
		if (win > AUDIT_LINE_MAX) {
			close(fd);
			free(buf);
			return util_err_set(err, AUDIT_ERR_CORRUPT,
			    "%s: the last line is too long to be a record", path);
		}
	}
	close(fd);
	return AUDIT_OK;
}
