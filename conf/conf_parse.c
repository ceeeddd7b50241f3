/*
 * conf_parse.c: reading a configuration (see conf.h): the defaults, the
 * file, the -o overrides, the derived defaults and the checks across keys.
 * Nothing is built and nothing written: conf_build.c opens what the
 * values name, conf_prepare.c makes the start's files.
 */
#include "conf/conf_int.h"
#include "directory/dir_map.h"
#include "directory/dir_lookup.h"
#include "directory/dir_verdict.h"
#include "smime/smime.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One "Key value" line (or "Key=Value" override). */
static int
conf_line(conf_t *c, struct conf_src *src, char *line, int is_override,
    char *err, size_t errlen)
{
	const conf_key_t *k;
	size_t idx;
	char *key = line, *val;

	val = key + strcspn(key, is_override ? "=" : " \t=");
	if (*val == '\0') {
		conf_errf(err, errlen, src->where, "\"%s\": expected %s", key,
		    is_override ? "Key=Value" : "a key and a value");
		return -1;
	}
	*val++ = '\0';
	key = trim(key);
	val = trim(val);
	if (!is_override && *val == '=')
		val = trim(val + 1);
	if ((k = conf_key_find(key, &idx)) == NULL) {
		conf_errf(err, errlen, src->where, "unknown key \"%s\"", key);
		return -1;
	}
	if (!is_override && src->seen[idx]) {
		conf_errf(err, errlen, src->where, "%s is set twice", k->name);
		return -1;
	}
	src->seen[idx] = 1;
	free(src->set_at[idx]);
	if ((src->set_at[idx] = strdup(src->where)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	return conf_value_set(c, k, val, src->where, err, errlen);
}

static int
conf_read_file(conf_t *c, struct conf_src *src, const char *file,
    char *err, size_t errlen)
{
	FILE *fp = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;
	struct stat st;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	/* The file names the keys and who may sign: only its owner writes it. */
	if (fstat(fileno(fp), &st) != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: writable by group or others, or owned by "
		    "another user (chmod go-w; owner root or the user we run as)", file);
		fclose(fp);
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, fp)) != -1) {
		char *p;

		lineno++;
		snprintf(src->where, sizeof(src->where), "%s:%u", file, lineno);
		if (memchr(line, '\0', (size_t)n) != NULL) {
			conf_errf(err, errlen, src->where, "NUL character in line");
			rc = -1;
			break;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p != '\0')
			rc = conf_line(c, src, p, 0, err, errlen);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", file, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

static struct conf_src *
src_new(void)
{
	struct conf_src *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->seen = calloc(conf_nkeys, 1);
	s->set_at = calloc(conf_nkeys, sizeof(*s->set_at));
	if (s->seen == NULL || s->set_at == NULL) {
		free(s->seen);
		free(s->set_at);
		free(s);
		return NULL;
	}
	return s;
}

static void
src_free(struct conf_src *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < conf_nkeys; i++)
		free(s->set_at[i]);
	free(s->set_at);
	free(s->seen);
	free(s);
}

/* Every key its default; a derived one empty until conf_derive(). */
static int
conf_defaults(conf_t *c, char *err, size_t errlen)
{
	char where[128];

	for (size_t i = 0; i < conf_nkeys; i++) {
		const conf_key_t *k = &conf_keys[i];

		snprintf(where, sizeof(where), "default of %s", k->name);
		if (conf_value_set(c, k, conf_key_derived(k) ? "" : k->def, where,
		    err, errlen) != 0)
			return -1;
	}
	return 0;
}

static int
conf_overrides(conf_t *c, char *const *overrides, size_t noverrides,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < noverrides; i++) {
		char *line = strdup(overrides[i]);
		int rc;

		if (line == NULL)
			return snprintf(err, errlen, "out of memory"), -1;
		snprintf(c->src->where, sizeof(c->src->where), "-o %s", overrides[i]);
		rc = conf_line(c, c->src, line, 1, err, errlen);
		free(line);
		if (rc != 0)
			return -1;
	}
	return 0;
}

conf_t *
conf_parse(const char *file, char *const *overrides, size_t noverrides,
    char *err, size_t errlen)
{
	conf_t *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->src = src_new()) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->refs = 1;
	if (conf_defaults(c, err, errlen) != 0)
		goto fail;
	if (file != NULL && (c->file = strdup(file)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((file != NULL && conf_read_file(c, c->src, file, err, errlen) != 0)
	    || conf_overrides(c, overrides, noverrides, err, errlen) != 0
	    || conf_derive(c, err, errlen) != 0 || conf_check(c, err, errlen) != 0)
		goto fail;
	return c;
fail:
	conf_unref(c);
	return NULL;
}

conf_t *
conf_ref(conf_t *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	return c;
}

void
conf_unref(conf_t *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < conf_nkeys; i++)
		conf_value_free(c, &conf_keys[i]);
	dir_map_free(c->signer_map);
	dir_lookup_free(c->lookup);
	dir_verdict_free(c->signer_verdicts);
	smime_trust_free(c->trust);
	policy_unref(c->policy);
	conf_tmpl_free(c);
	OPENSSL_cleanse(c->reinject_key, sizeof(c->reinject_key));
	src_free(c->src);
	free(c->file);
	free(c);
}
