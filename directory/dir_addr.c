/*
 * dir_addr.c: dir_addr_normalize() (see dir_addr.h).
 */
#include "directory/dir_addr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *
dir_addr_normalize(const char *address)
{
	char *n = strdup(address), *p;

	if (n == NULL || (p = strrchr(n, '@')) == NULL)
		return n;
	for (; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return n;
}
