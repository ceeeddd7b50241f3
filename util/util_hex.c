/*
 * util_hex.c: util_hex, bytes as lower-case hex digits (digests in file
 * names and IDs, MACs, random boundaries): the one loop for all of them.
 */
#include "util/util.h"

void
util_hex(char *out, const void *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}
