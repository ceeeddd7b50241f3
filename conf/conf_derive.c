/*
 * conf_derive.c: the values that depend on others, after the file and the
 * overrides: relative paths made absolute, then every empty key whose
 * default names other keys ("$StateDirectory/keystore") given that default,
 * expanded (the syntax is in conf_table.c).  One function for every key:
 * a new derived default is a row, not code.
 */
#include "conf/conf_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 8    /* defaults referring to defaults, at most */

/*
 * Relative path names are taken relative to the directory the program was
 * started in, and made absolute at once, so that a daemon that changes
 * to / when it goes to the background still finds its files.
 */
static int
absolute_paths(conf_t *c)
{
	char cwd[4096];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	for (size_t i = 0; i < conf_nkeys; i++) {
		char **p = (char **)((char *)c + conf_keys[i].off), *abs;

		if (conf_keys[i].type != T_PATH || **p == '\0' || **p == '/')
			continue;
		if (asprintf(&abs, "%s/%s", cwd, strncmp(*p, "./", 2) == 0 ? *p + 2 : *p) < 0)
			return -1;
		free(*p);
		*p = abs;
	}
	return 0;
}

static int derive_key(conf_t *c, size_t idx, int depth, char *err, size_t errlen);

/* What a reference to the key stands for: its value, derived first; a
 * list's first element.  NULL with err filled. */
static char *
ref_text(conf_t *c, const char *name, size_t namelen, int depth,
    char *err, size_t errlen)
{
	char buf[64];
	const conf_key_t *k;
	size_t idx;
	char **list;

	snprintf(buf, sizeof(buf), "%.*s", (int)namelen, name);
	if ((k = conf_key_find(buf, &idx)) == NULL) {
		snprintf(err, errlen, "a default names an unknown key \"%s\"", buf);
		return NULL;
	}
	if (derive_key(c, idx, depth + 1, err, errlen) != 0)
		return NULL;
	if (k->type != T_DOMAINS)
		return conf_value_text(c, k);
	list = *(char ***)((char *)c + k->off);
	return strdup(list != NULL && list[0] != NULL ? list[0] : "");
}

/* The end of the text of "${Key?text}" that starts at p: its '}'. */
static const char *
closing(const char *p, const char *end)
{
	int nest = 0;

	for (; p < end; p++) {
		if (*p == '{')
			nest++;
		else if (*p == '}' && nest-- == 0)
			return p;
	}
	return NULL;
}

static size_t
name_len(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && isalnum((unsigned char)p[n]))
		n++;
	return n;
}

/* Expands [p, end) onto fp: 0, or -1 with err filled. */
static int
expand(conf_t *c, const char *p, const char *end, FILE *fp, int depth,
    char *err, size_t errlen)
{
	while (p < end) {
		const char *name, *close = NULL;
		char *v;
		size_t n;
		int rc = 0;

		if (*p != '$') {
			fputc(*p++, fp);
			continue;
		}
		name = ++p;
		if (*p == '{' && (close = closing(++p, end)) != NULL)
			name = p;
		n = name_len(name, end);
		if (n == 0 || (*name == '{' && close == NULL)) {
			snprintf(err, errlen, "a default has a '$' without a key name");
			return -1;
		}
		if ((v = ref_text(c, name, n, depth, err, errlen)) == NULL)
			return -1;
		if (close == NULL || name[n] == '}')
			fputs(v, fp);
		else if ((name[n] == '?' && *v != '\0') || (name[n] == ':' && *v == '\0'))
			rc = expand(c, name + n + 1, close, fp, depth, err, errlen);
		else if (name[n] != '?' && name[n] != ':')
			rc = (snprintf(err, errlen, "a default has ${%.*s%c", (int)n, name,
			    name[n]), -1);
		free(v);
		if (rc != 0)
			return -1;
		p = close != NULL ? close + 1 : name + n;
	}
	return 0;
}

/* Gives key idx its default, expanded, when it is empty and derived. */
static int
derive_key(conf_t *c, size_t idx, int depth, char *err, size_t errlen)
{
	const conf_key_t *k = &conf_keys[idx];
	char *text = NULL, where[128];
	size_t len = 0;
	FILE *fp;
	int rc;

	if (!conf_key_derived(k))
		return 0;
	snprintf(where, sizeof(where), "default of %s", k->name);
	if (k->type != T_STR && k->type != T_PATH) {
		snprintf(err, errlen, "%s: only a string or a path can be derived", where);
		return -1;
	}
	if (**(char **)((char *)c + k->off) != '\0')
		return 0;
	if (depth > MAX_DEPTH) {
		snprintf(err, errlen, "%s: defaults refer to each other in a circle", where);
		return -1;
	}
	if ((fp = open_memstream(&text, &len)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	rc = expand(c, k->def, k->def + strlen(k->def), fp, depth, err, errlen);
	if (fclose(fp) != 0 && rc == 0)
		rc = (snprintf(err, errlen, "out of memory"), -1);
	if (rc == 0)
		rc = conf_value_set(c, k, text, where, err, errlen);
	free(text);
	return rc;
}

int
conf_derive(conf_t *c, char *err, size_t errlen)
{
	if (absolute_paths(c) != 0)
		return snprintf(err, errlen, "cannot make paths absolute: %s",
		    strerror(errno)), -1;
	for (size_t i = 0; i < conf_nkeys; i++)
		if (derive_key(c, i, 0, err, errlen) != 0)
			return -1;
	return 0;
}
