/*
 * conf_int.h: what the files of conf/ share and nothing outside uses: the
 * row type of the key table, the table itself, typed values, and where each
 * key got its value (for "file:line: ..." messages).
 *
 * The files, bottom to top (each uses only those before it):
 *   conf_table.c    the rows: name, type, default, bounds, flags
 *   conf_value.c    one value: from text (checked), as text, freed
 *   conf_net.c      the InternalHosts and LocalDomains matches
 *   conf_derive.c   relative paths made absolute; defaults that name
 *                   other keys, expanded
 *   conf_check.c    checks across keys (no file is opened)
 *   conf_parse.c    the file and the -o overrides into a conf_t
 *   conf_tmpl.c     the templates of the gateway's mails and pages
 *   conf_build.c    the objects a configuration names (lookup, trust
 *                   store, policy, signer map, the re-injection key,
 *                   the templates)
 *   conf_prepare.c  the start's files: StateDirectory, the re-injection key
 *   conf_print.c    smimectl config, and the keys a reload cannot change
 */
#ifndef CONF_INT_H
#define CONF_INT_H

#include "conf/conf.h"

#include <stddef.h>

enum conf_type { T_STR, T_PATH, T_BOOL, T_SIZE, T_INT, T_ENUM, T_DOMAINS, T_NETS, T_SOCKET };

/* Row flags. */
#define CONF_RESTART 0x1   /* read at start only: a reload that changes it warns */
#define CONF_SECRET  0x2   /* names a file holding a secret; the secret itself
                              is never a value, so only the path is printed */

typedef struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;            /* "$Key", "${Key?text}", "${Key:text}": derived */
	size_t off;
	long long min, max;         /* T_SIZE and T_INT bounds */
	const char *const *enums;   /* T_ENUM names, value = index (but SyslogFacility) */
	unsigned flags;             /* CONF_RESTART, CONF_SECRET */
} conf_key_t;

extern const conf_key_t conf_keys[];
extern const size_t conf_nkeys;

/* The row named name (case-insensitive) and its index, or NULL. */
const conf_key_t *conf_key_find(const char *name, size_t *idx);
/* The row's index of a name known to be in the table. */
size_t conf_key_index(const char *name);
/* The value stored for enum name i of k (SyslogFacility's are LOG_*). */
int conf_enum_value(const conf_key_t *k, int i);
/* 1 when k's default refers to other keys (it has a '$'). */
int conf_key_derived(const conf_key_t *k);

/* Where each key got its value: kept with the configuration so that the
 * build step names the line that set a file it cannot read. */
struct conf_src {
	char where[512];            /* of the line being read */
	unsigned char *seen;        /* conf_nkeys: set in the file already */
	char **set_at;              /* conf_nkeys: "file:line", "-o K=V"; NULL: default */
};

/* "file:line" (or "-o Key=Value", "default of Key") of key idx, in buf. */
const char *conf_where(const conf_t *c, size_t idx, char *buf, size_t len);
/* err = "where: fmt..." */
void conf_errf(char *err, size_t errlen, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed values (conf_value.c). */
int conf_value_set(conf_t *c, const conf_key_t *k, const char *text, const char *where,
    char *err, size_t errlen);
void conf_value_free(conf_t *c, const conf_key_t *k);
/* The value as smimectl config prints it; malloc'd, NULL when out of memory. */
char *conf_value_text(const conf_t *c, const conf_key_t *k);
/* Splits on commas and white space, or on white space only; NULL-terminated. */
char **conf_list_split(const char *value);
char **conf_list_split_ws(const char *value);
void conf_list_free(char **list);
int conf_net_parse(const char *text, conf_net_t *net);

/* TemplateDirectory's templates (conf_tmpl.c): loaded by conf_build(),
 * freed with the configuration. */
int conf_tmpl_build(conf_t *c, char *err, size_t errlen);
void conf_tmpl_free(conf_t *c);

/* Steps of conf_parse(): 0, or -1 with err filled. */
int conf_derive(conf_t *c, char *err, size_t errlen);
int conf_check(const conf_t *c, char *err, size_t errlen);
/* Reads ReinjectKeyFile into c; absent or not ours to read: no key. */
int conf_reinject_key_read(conf_t *c, char *err, size_t errlen);

#endif
