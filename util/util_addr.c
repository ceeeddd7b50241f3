/*
 * util_addr.c: comparing and normalising mail addresses (util_addr.h),
 * the one rule smime/, keystore/, policy/, audit/ and directory/ share.
 *
 * Threads: pure functions of their arguments.
 */
#include "util/util_addr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
util_addr_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL ? at + 1 : NULL;
}

int
util_addr_equal(const char *a, const char *b)
{
	const char *da = util_addr_domain(a), *db = util_addr_domain(b);

	if (a == NULL || b == NULL)
		return 0;
	if (da == NULL || db == NULL)
		return da == db && strcmp(a, b) == 0;
	return da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0
	    && strcasecmp(da, db) == 0;
}

void
util_addr_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

char *
util_addr_normalize(const char *addr)
{
	char *n = strdup(addr), *at;

	if (n != NULL && (at = strrchr(n, '@')) != NULL)
		util_addr_lower(at);
	return n;
}
