/*
 * conf_value.c: one key's value: set from its text (checked against the
 * row's type and bounds), written as text (smimectl config's form), freed.
 */
#include "conf/conf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)

void
conf_list_free(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

/* Splits on white space only (LDAP URLs hold commas). */
char **
conf_list_split_ws(const char *value)
{
	char *copy = strdup(value), **list;

	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if (*p == ',')
			*p = '\x01';
	list = conf_list_split(copy);
	free(copy);
	for (char **l = list; l != NULL && *l != NULL; l++)
		for (char *p = *l; *p; p++)
			if (*p == '\x01')
				*p = ',';
	return list;
}

/* Splits on commas and white space; returns a NULL-terminated list. */
char **
conf_list_split(const char *value)
{
	size_t n = 0, cap = 4;
	char **list = calloc(cap, sizeof(*list));
	const char *p = value;

	if (list == NULL)
		return NULL;
	while (*p != '\0') {
		size_t len;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ", \t\r\n");
		if (len == 0)
			break;
		if (n + 2 > cap) {
			char **nl = realloc(list, (cap *= 2) * sizeof(*list));
			if (nl == NULL)
				goto fail;
			list = nl;
		}
		if ((list[n] = strndup(p, len)) == NULL)
			goto fail;
		list[++n] = NULL;
		p += len;
	}
	return list;
fail:
	conf_list_free(list);
	return NULL;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };

	for (int i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return (*out = 1), 0;
		if (strcasecmp(v, no[i]) == 0)
			return (*out = 0), 0;
	}
	return -1;
}

static int
parse_size(const char *v, long long *out)
{
	char *end;
	long long n, mult = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mult = KB; end++; break;
	case 'm': mult = MB; end++; break;
	case 'g': mult = GB; end++; break;
	default: return -1;
	}
	if (*end != '\0' || n > LLONG_MAX / mult)
		return -1;
	*out = n * mult;
	return 0;
}

int
conf_net_parse(const char *text, conf_net_t *net)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	unsigned maxp;
	long p;

	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		maxp = 128;
	} else {
		return -1;
	}
	net->prefix = maxp;
	if (slash != NULL) {
		errno = 0;
		p = strtol(slash, &end, 10);
		if (errno != 0 || end == slash || *end != '\0' || p < 0 || p > (long)maxp)
			return -1;
		net->prefix = (unsigned)p;
	}
	return 0;
}

static int
valid_socket(const char *v)
{
	const char *at;
	char *end;
	long port;

	if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0)
		return v[strcspn(v, ":") + 1] == '/';
	if (strncmp(v, "inet:", 5) != 0 && strncmp(v, "inet6:", 6) != 0)
		return 0;
	v += strcspn(v, ":") + 1;
	port = strtol(v, &end, 10);
	if (end == v || port < 1 || port > 65535)
		return 0;
	at = end;
	return *at == '\0' || (*at == '@' && at[1] != '\0');
}

/* The setters of each type: the value at base from its text v; 0, or -1
 * with err filled as "where: Key: ...". */
typedef struct setter {
	const conf_key_t *k;
	const char *where;
	char *err;
	size_t errlen;
} setter_t;

static int
set_string(const setter_t *st, void *base, const char *v)
{
	char *s;

	if (st->k->type == T_SOCKET && !valid_socket(v))
		return conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not "
		    "inet:PORT@HOST or unix:/PATH", st->k->name, v), -1;
	if ((s = strdup(v)) == NULL)
		return conf_errf(st->err, st->errlen, st->where, "out of memory"), -1;
	free(*(char **)base);
	*(char **)base = s;
	return 0;
}

static int
set_bool(const setter_t *st, void *base, const char *v)
{
	if (parse_bool(v, (int *)base) == 0)
		return 0;
	conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not yes or no",
	    st->k->name, v);
	return -1;
}

static int
set_size(const setter_t *st, void *base, const char *v)
{
	const conf_key_t *k = st->k;
	long long n;

	if (parse_size(v, &n) != 0 || n < k->min || n > k->max)
		return conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not a "
		    "size from %lld to %lld (suffixes K, M, G)", k->name, v, k->min,
		    k->max), -1;
	*(long long *)base = n;
	return 0;
}

static int
set_int(const setter_t *st, void *base, const char *v)
{
	const conf_key_t *k = st->k;
	long long n;
	char *end;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < k->min || n > k->max)
		return conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not a "
		    "number from %lld to %lld", k->name, v, k->min, k->max), -1;
	*(long long *)base = n;
	return 0;
}

static int
set_enum(const setter_t *st, void *base, const char *v)
{
	const conf_key_t *k = st->k;

	for (int i = 0; k->enums[i] != NULL; i++) {
		if (strcasecmp(v, k->enums[i]) == 0) {
			*(int *)base = conf_enum_value(k, i);
			return 0;
		}
	}
	conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not one of the "
	    "allowed values", k->name, v);
	return -1;
}

/* Domain names, lower case. */
static int
set_domains(const setter_t *st, void *base, const char *v)
{
	char **list = conf_list_split(v);

	if (list == NULL)
		return conf_errf(st->err, st->errlen, st->where, "out of memory"), -1;
	for (char **p = list; *p != NULL; p++) {
		for (char *q = *p; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		if (strchr(*p, '@') != NULL || **p == '.') {
			conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not a "
			    "domain name", st->k->name, *p);
			conf_list_free(list);
			return -1;
		}
	}
	conf_list_free(*(char ***)base);
	*(char ***)base = list;
	return 0;
}

/* Networks: addresses or address/prefix. */
static int
set_nets(const setter_t *st, void *base, const char *v)
{
	char **list = conf_list_split(v);
	conf_netlist_t *l = base;
	size_t n = 0;
	conf_net_t *nets;

	if (list == NULL)
		return conf_errf(st->err, st->errlen, st->where, "out of memory"), -1;
	while (list[n] != NULL)
		n++;
	nets = calloc(n ? n : 1, sizeof(*nets));
	for (size_t i = 0; nets != NULL && i < n; i++) {
		if (conf_net_parse(list[i], &nets[i]) != 0) {
			conf_errf(st->err, st->errlen, st->where, "%s: \"%s\" is not an "
			    "address or address/prefix", st->k->name, list[i]);
			free(nets);
			conf_list_free(list);
			return -1;
		}
	}
	conf_list_free(list);
	if (nets == NULL)
		return conf_errf(st->err, st->errlen, st->where, "out of memory"), -1;
	free(l->v);
	l->v = nets;
	l->n = n;
	return 0;
}

/* Sets one key from its textual value; 0 or -1 with err filled. */
int
conf_value_set(conf_t *c, const conf_key_t *k, const char *v, const char *where,
    char *err, size_t errlen)
{
	const setter_t st = { k, where, err, errlen };
	void *base = (char *)c + k->off;

	switch (k->type) {
	case T_SOCKET: case T_STR: case T_PATH: return set_string(&st, base, v);
	case T_BOOL: return set_bool(&st, base, v);
	case T_SIZE: return set_size(&st, base, v);
	case T_INT: return set_int(&st, base, v);
	case T_ENUM: return set_enum(&st, base, v);
	case T_DOMAINS: return set_domains(&st, base, v);
	case T_NETS: return set_nets(&st, base, v);
	}
	return -1;
}

static void
value_print(const conf_t *c, const conf_key_t *k, FILE *fp)
{
	const char *base = (const char *)c + k->off;

	switch (k->type) {
	case T_STR: case T_PATH: case T_SOCKET:
		fputs(*(char *const *)base, fp);
		break;
	case T_BOOL:
		fputs(*(const int *)base ? "yes" : "no", fp);
		break;
	case T_SIZE:
	case T_INT:
		fprintf(fp, "%lld", *(const long long *)base);
		break;
	case T_ENUM:
		for (int i = 0; k->enums[i] != NULL; i++) {
			int v = conf_enum_value(k, i);
			if (v == *(const int *)base) {
				fputs(k->enums[i], fp);
				break;
			}
		}
		break;
	case T_DOMAINS:
		for (char *const *p = *(char **const *)base; p && *p; p++)
			fprintf(fp, "%s%s", p == *(char **const *)base ? "" : ", ", *p);
		break;
	case T_NETS:
		for (size_t i = 0; i < ((const conf_netlist_t *)base)->n; i++) {
			char buf[INET6_ADDRSTRLEN];
			const conf_net_t *n = &((const conf_netlist_t *)base)->v[i];

			inet_ntop(n->family, n->addr, buf, sizeof(buf));
			fprintf(fp, "%s%s/%u", i ? ", " : "", buf, n->prefix);
		}
		break;
	}
}


char *
conf_value_text(const conf_t *c, const conf_key_t *k)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (fp == NULL)
		return NULL;
	value_print(c, k, fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
conf_value_free(conf_t *c, const conf_key_t *k)
{
	char *base = (char *)c + k->off;

	switch (k->type) {
	case T_STR: case T_PATH: case T_SOCKET:
		free(*(char **)base);
		*(char **)base = NULL;
		break;
	case T_DOMAINS:
		conf_list_free(*(char ***)base);
		*(char ***)base = NULL;
		break;
	case T_NETS:
		free(((conf_netlist_t *)base)->v);
		((conf_netlist_t *)base)->v = NULL;
		((conf_netlist_t *)base)->n = 0;
		break;
	default:
		break;
	}
}
