/*
 * conf_print.c: a configuration as text: every key as "Key = value"
 * (smimectl config, postconf's form), one key's value (smimegate -P), and
 * the keys read at start only whose value differs between two
 * configurations (what a reload cannot change).
 */
#include "conf/conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
print_value(const conf_t *c, const conf_key_t *k, FILE *fp)
{
	char *text = conf_value_text(c, k);

	if (text != NULL)
		fputs(text, fp);
	free(text);
}

void
conf_print(const conf_t *c, FILE *fp)
{
	for (size_t i = 0; i < conf_nkeys; i++) {
		fprintf(fp, "%s = ", conf_keys[i].name);
		print_value(c, &conf_keys[i], fp);
		fputc('\n', fp);
	}
}

int
conf_print_key(const conf_t *c, const char *name, FILE *fp)
{
	size_t idx;
	const conf_key_t *k = conf_key_find(name, &idx);

	if (k == NULL)
		return -1;
	print_value(c, k, fp);
	fputc('\n', fp);
	return 0;
}

const char *
conf_restart_changed(const conf_t *a, const conf_t *b, size_t *pos)
{
	for (; *pos < conf_nkeys; (*pos)++) {
		const conf_key_t *k = &conf_keys[*pos];
		char *ta, *tb;
		int differ;

		if (!(k->flags & CONF_RESTART))
			continue;
		ta = conf_value_text(a, k);
		tb = conf_value_text(b, k);
		differ = ta == NULL || tb == NULL || strcmp(ta, tb) != 0;
		free(ta);
		free(tb);
		if (differ) {
			(*pos)++;
			return k->name;
		}
	}
	return NULL;
}
