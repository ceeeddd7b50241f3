/*
 * util_tmpl.h: text and HTML templates with named fields, the texts of
 * the gateway's own mails and pages that an administrator edits and
 * translates ({{sender}}, {{link}}, ...).
 *
 * Named fields only: "{{name}}" (spaces inside the braces allowed) is
 * replaced by the value of name; there are no loops, conditions or
 * includes.  (Debian 12 ships no C template library: the mustache ones
 * are C++ or other languages, and these texts need nothing more than
 * fields.)  A template is compiled once, when the configuration is built:
 * a field the caller does not know, a "{{" not closed on its line or a
 * control character is an error naming "file:line".  Rendering an HTML
 * template escapes each value with GLib's g_markup_escape_text() (& < > "
 * '), except the fields the caller marks raw (text it made itself from
 * other templates); a text template takes the values as they are.
 *
 * Ownership and threads: a compiled template is immutable, shared freely
 * by threads; util_tmpl_free() once nobody renders it any more.
 */
#ifndef SMIMEGATE_UTIL_TMPL_H
#define SMIMEGATE_UTIL_TMPL_H

#include <stddef.h>

#include "util/util_err.h"

typedef struct util_tmpl util_tmpl_t;

/* util_err_t codes of this file. */
enum { UTIL_TMPL_OK = 0, UTIL_TMPL_ERR_SYNTAX, UTIL_TMPL_ERR_IO, UTIL_TMPL_ERR_NOMEM };

#define UTIL_TMPL_MAX (256 * 1024)   /* octets of one template file */

/*
 * Compiles text (NUL-terminated) read from where (a file name for the
 * messages).  names: the known fields, NULL-terminated (at most 32);
 * allowed: a bit (1u << i) for each of names[i] this template may use;
 * html: values are escaped when rendered.  NULL with err ("where:line:
 * what is wrong") on failure.
 */
util_tmpl_t *util_tmpl_parse(const char *text, const char *where,
    const char *const *names, unsigned allowed, int html, util_err_t *err);
/* The same from the file path (a regular file, at most UTIL_TMPL_MAX). */
util_tmpl_t *util_tmpl_load(const char *path, const char *const *names,
    unsigned allowed, int html, util_err_t *err);
void util_tmpl_free(util_tmpl_t *t);

/* The bits of the fields t uses. */
unsigned util_tmpl_fields(const util_tmpl_t *t);

/*
 * The text of t with values[i] for names[i] (NULL: empty), escaped for
 * HTML unless t is a text template or bit i of raw is set.  Malloc'ed
 * (free()), or NULL when out of memory.
 */
char *util_tmpl_render(const util_tmpl_t *t, const char *const *values, unsigned raw);

#endif
