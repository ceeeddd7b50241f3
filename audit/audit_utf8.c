/*
 * audit_utf8.c: making strings from mail well-formed UTF-8 before they go
 * into the log.  json-c escapes quotes and control characters but copies
 * other octets as they are, so invalid UTF-8 must not reach it: each octet
 * that does not start a well-formed sequence (Unicode 15, table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF) becomes U+FFFD.
 *
 * Threads: pure functions.
 */
#include "audit/audit_utf8.h"
#include "audit/audit_int.h"
#include "util/util_buf.h"

#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD";   /* U+FFFD */
static const char ELLIPSIS[] = "\xE2\x80\xA6";      /* U+2026 */

static int
in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

size_t
audit_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (in(c, 0xC2, 0xDF))
		len = 2;
	else if (in(c, 0xE0, 0xEF)) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (in(c, 0xF0, 0xF4)) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || !in(s[1], lo, hi))
		return 0;
	for (i = 2; i < len; i++)
		if (!in(s[i], 0x80, 0xBF))
			return 0;
	return len;
}

int
audit_utf8_clean(const char *str, size_t max, util_buf_t *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, k;
	const char *piece;
	size_t plen;

	while (i < n) {
		k = audit_utf8_seq(s + i, n - i);
		piece = k ? (const char *)s + i : REPLACEMENT;
		plen = k ? k : sizeof(REPLACEMENT) - 1;
		if (out->len + plen > max)
			return util_buf_add(out, ELLIPSIS, sizeof(ELLIPSIS) - 1);
		if (util_buf_add(out, piece, plen) < 0)
			return -1;
		i += k ? k : 1;
	}
	if (out->data == NULL)
		return util_buf_add(out, "", 0);
	return 0;
}
