/*
 * util_tmpl.c: named-field templates (see util_tmpl.h).  A compiled
 * template is a list of pieces, each a literal run of the text or a field
 * number; rendering adds up their lengths, then copies.
 */
#include "util/util_tmpl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib.h>

#define TMPL_NAMES_MAX 32

struct piece {
	size_t off, len;        /* a literal run of text */
	int field;              /* >= 0: a field instead */
};

struct util_tmpl {
	char *text;
	struct piece *p;
	size_t n;
	int html;
	unsigned used;
};

/* The field named [s, s + len) among names, or -1. */
static int
field_index(const char *const *names, const char *s, size_t len)
{
	for (int i = 0; names[i] != NULL && i < TMPL_NAMES_MAX; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

static int
piece_add(util_tmpl_t *t, size_t off, size_t len, int field)
{
	struct piece *p;

	if (field < 0 && len == 0)
		return 0;
	if ((p = realloc(t->p, (t->n + 1) * sizeof(*p))) == NULL)
		return -1;
	t->p = p;
	p[t->n].off = off;
	p[t->n].len = len;
	p[t->n++].field = field;
	return 0;
}

/* The line of position off in text. */
static unsigned
line_of(const char *text, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return line;
}

/* The field whose "{{" is at text + at: its piece, and *end after "}}".
 * 0, or -1 with err. */
static int
parse_field(util_tmpl_t *t, const char *where, const char *const *names,
    unsigned allowed, size_t at, size_t *end, util_err_t *err)
{
	const char *s = t->text + at + 2, *close = strstr(s, "}}"), *nl = strchr(s, '\n');
	size_t len;
	int i;

	if (close == NULL || (nl != NULL && nl < close))
		return util_err_set(err, UTIL_TMPL_ERR_SYNTAX, "%s:%u: \"{{\" not closed by "
		    "\"}}\" on its line", where, line_of(t->text, at)), -1;
	while (*s == ' ')
		s++;
	len = (size_t)(close - s);
	while (len > 0 && s[len - 1] == ' ')
		len--;
	i = field_index(names, s, len);
	if (i < 0 || !(allowed & (1u << i)))
		return util_err_set(err, UTIL_TMPL_ERR_SYNTAX, "%s:%u: unknown field {{%.*s}}",
		    where, line_of(t->text, at), (int)(len > 64 ? 64 : len), s), -1;
	t->used |= 1u << i;
	*end = (size_t)(close + 2 - t->text);
	return piece_add(t, 0, 0, i) == 0 ? 0
	    : (util_err_set(err, UTIL_TMPL_ERR_NOMEM, "out of memory"), -1);
}

/* A control character other than tab and line ends: its offset, or -1. */
static long
control_char(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
			return (long)((const char *)p - text);
	return -1;
}

util_tmpl_t *
util_tmpl_parse(const char *text, const char *where, const char *const *names,
    unsigned allowed, int html, util_err_t *err)
{
	util_tmpl_t *t = calloc(1, sizeof(*t));
	size_t off = 0, end;
	const char *open;
	long bad;

	if (t == NULL || (t->text = strdup(text)) == NULL) {
		free(t);
		return util_err_set(err, UTIL_TMPL_ERR_NOMEM, "out of memory"), NULL;
	}
	t->html = html;
	if ((bad = control_char(text)) >= 0) {
		util_err_set(err, UTIL_TMPL_ERR_SYNTAX, "%s:%u: a control character (0x%02x)",
		    where, line_of(text, (size_t)bad), (unsigned char)text[bad]);
		goto fail;
	}
	if (!g_utf8_validate(text, -1, NULL)) {
		util_err_set(err, UTIL_TMPL_ERR_SYNTAX, "%s: not UTF-8", where);
		goto fail;
	}
	while ((open = strstr(t->text + off, "{{")) != NULL) {
		size_t at = (size_t)(open - t->text);

		if (piece_add(t, off, at - off, -1) != 0) {
			util_err_set(err, UTIL_TMPL_ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (parse_field(t, where, names, allowed, at, &end, err) != 0)
			goto fail;
		off = end;
	}
	if (piece_add(t, off, strlen(t->text + off), -1) == 0)
		return t;
	util_err_set(err, UTIL_TMPL_ERR_NOMEM, "out of memory");
fail:
	util_tmpl_free(t);
	return NULL;
}

/* The whole regular file path (at most UTIL_TMPL_MAX), NUL-terminated. */
static char *
read_file(const char *path, util_err_t *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	ssize_t n = -1;

	if (fd < 0)
		return util_err_set(err, UTIL_TMPL_ERR_IO, "%s: %s", path, strerror(errno)), NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > UTIL_TMPL_MAX)
		util_err_set(err, UTIL_TMPL_ERR_IO, "%s: not a regular file of at most %d octets",
		    path, UTIL_TMPL_MAX);
	else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		util_err_set(err, UTIL_TMPL_ERR_NOMEM, "out of memory");
	else if ((n = read(fd, buf, (size_t)st.st_size)) != (ssize_t)st.st_size) {
		util_err_set(err, UTIL_TMPL_ERR_IO, "%s: %s", path, n < 0 ? strerror(errno)
		    : "short read");
		free(buf);
		buf = NULL;
	} else if (memchr(buf, '\0', (size_t)n) != NULL) {
		util_err_set(err, UTIL_TMPL_ERR_SYNTAX, "%s:%u: a NUL character", path,
		    line_of(buf, (size_t)((char *)memchr(buf, '\0', (size_t)n) - buf)));
		free(buf);
		buf = NULL;
	} else
		buf[n] = '\0';
	close(fd);
	return buf;
}

util_tmpl_t *
util_tmpl_load(const char *path, const char *const *names, unsigned allowed, int html,
    util_err_t *err)
{
	char *text = read_file(path, err);
	util_tmpl_t *t;

	if (text == NULL)
		return NULL;
	t = util_tmpl_parse(text, path, names, allowed, html, err);
	free(text);
	return t;
}

void
util_tmpl_free(util_tmpl_t *t)
{
	if (t == NULL)
		return;
	free(t->text);
	free(t->p);
	free(t);
}

unsigned
util_tmpl_fields(const util_tmpl_t *t)
{
	return t->used;
}

/* Piece i's text (an escaped value in *tmp, g_free()). */
static const char *
piece_text(const util_tmpl_t *t, size_t i, const char *const *values, unsigned raw,
    char **tmp, size_t *len)
{
	const struct piece *p = &t->p[i];
	const char *v;

	*tmp = NULL;
	if (p->field < 0) {
		*len = p->len;
		return t->text + p->off;
	}
	v = values[p->field] != NULL ? values[p->field] : "";
	if (t->html && !(raw & (1u << p->field)))
		v = *tmp = g_markup_escape_text(v, -1);
	*len = strlen(v);
	return v;
}

char *
util_tmpl_render(const util_tmpl_t *t, const char *const *values, unsigned raw)
{
	size_t total = 0, len, off = 0;
	char *out, *tmp;
	const char *s;

	for (size_t i = 0; i < t->n; i++) {
		s = piece_text(t, i, values, raw, &tmp, &len);
		total += len;
		g_free(tmp);
	}
	if ((out = malloc(total + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		s = piece_text(t, i, values, raw, &tmp, &len);
		memcpy(out + off, s, len);
		off += len;
		g_free(tmp);
	}
	out[off] = '\0';
	return out;
}
