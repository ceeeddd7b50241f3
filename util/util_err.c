/*
 * util_err.c: util_errfmt, the message part of every library's error
 * setter (smime_err_*, keystore_err_*, audit_err_*): the caller's text,
 * then OpenSSL's queued errors, and the queue emptied in one place.
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

/* Appends sep and OpenSSL's text for e when both fit; returns whether. */
static int
append_ssl(char *msg, size_t size, const char *sep, unsigned long e)
{
	size_t n = strlen(msg), s = strlen(sep);

	if (n + s + 1 >= size)
		return 0;
	memcpy(msg + n, sep, s + 1);
	ERR_error_string_n(e, msg + n + s, size - n - s);
	return 1;
}

void
util_errfmt(char *msg, size_t size, int with_ssl, const char *fmt, va_list ap)
{
	const char *sep = ": ";
	unsigned long e;

	if (size == 0)
		return;
	vsnprintf(msg, size, fmt, ap);
	while (with_ssl && (e = ERR_get_error()) != 0) {
		if (append_ssl(msg, size, sep, e))
			sep = "; ";
	}
	ERR_clear_error();
}
