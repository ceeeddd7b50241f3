/*
 * dir_map.c: the login-to-addresses map file (see dir_map.h).
 *
 * A map is a flat array of (login, address) pairs, small enough (one line
 * per employee) that a linear search costs less than the message it guards.
 */
#include "directory/dir_map.h"
#include "util/util_addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

typedef struct dir_pair {
	char *login;
	char *address;
} dir_pair_t;

struct dir_map {
	dir_pair_t *pairs;
	size_t n, cap;
};

void
dir_map_free(dir_map_t *map)
{
	if (map == NULL)
		return;
	for (size_t i = 0; i < map->n; i++) {
		free(map->pairs[i].login);
		free(map->pairs[i].address);
	}
	free(map->pairs);
	free(map);
}

static int
map_add(dir_map_t *map, const char *login, const char *addr, size_t addrlen)
{
	dir_pair_t *p;

	if (map->n == map->cap) {
		size_t cap = map->cap ? map->cap * 2 : 16;
		p = realloc(map->pairs, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		map->pairs = p;
		map->cap = cap;
	}
	p = &map->pairs[map->n];
	p->login = strdup(login);
	p->address = strndup(addr, addrlen);
	if (p->login == NULL || p->address == NULL) {
		free(p->login);
		free(p->address);
		return -1;
	}
	map->n++;
	return 0;
}

/* Parses one line; 0, or -1 with a reason in why. */
static int
map_line(dir_map_t *map, char *line, const char **why)
{
	char *login, *p;
	int naddr = 0;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	p = line + strspn(line, " \t\r\n");
	if (*p == '\0')
		return 0;
	login = p;
	p += strcspn(p, " \t,\r\n");
	if (*p != '\0')
		*p++ = '\0';
	for (;;) {
		size_t len;

		p += strspn(p, " \t,\r\n");
		if ((len = strcspn(p, " \t,\r\n")) == 0)
			break;
		if (memchr(p, '@', len) == NULL || p[0] == '@' || p[len - 1] == '@') {
			*why = "an address must be local-part@domain";
			return -1;
		}
		if (map_add(map, login, p, len) != 0) {
			*why = "out of memory";
			return -1;
		}
		naddr++;
		p += len;
	}
	if (naddr == 0) {
		*why = "a login needs at least one address";
		return -1;
	}
	return 0;
}

dir_map_t *
dir_map_load(const char *path, char *err, size_t errlen)
{
	dir_map_t *map = calloc(1, sizeof(*map));
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	const char *why = NULL;
	struct stat st;

	if (map == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		dir_map_free(map);
		return NULL;
	}
	/* Who can write the map decides who may sign as whom. */
	if (fstat(fileno(fp), &st) != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: writable by group or others, or owned by "
		    "another user (chmod go-w; owner root or the user we run as)", path);
		fclose(fp);
		dir_map_free(map);
		return NULL;
	}
	while (getline(&line, &cap, fp) != -1) {
		lineno++;
		if (map_line(map, line, &why) != 0)
			break;
	}
	free(line);
	fclose(fp);
	if (why != NULL) {
		snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
		dir_map_free(map);
		return NULL;
	}
	return map;
}

int
dir_map_has_login(const dir_map_t *map, const char *login)
{
	for (size_t i = 0; map != NULL && i < map->n; i++) {
		if (strcasecmp(map->pairs[i].login, login) == 0)
			return 1;
	}
	return 0;
}

int
dir_map_allows(const dir_map_t *map, const char *login, const char *address)
{
	for (size_t i = 0; map != NULL && i < map->n; i++) {
		if (strcasecmp(map->pairs[i].login, login) == 0 &&
		    util_addr_equal(map->pairs[i].address, address))
			return 1;
	}
	return 0;
}
