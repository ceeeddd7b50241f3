/*
 * util_err.c: filling a util_err_t (util_err.h), the error of every
 * library: the caller's text, then OpenSSL's queued errors, and the queue
 * emptied in one place.
 *
 * Threads: works on the caller's err and the calling thread's queue only.
 */
#include "util/util_err.h"

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

void
util_err_clear(util_err_t *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

static void
err_vset(util_err_t *err, int code, int with_ssl, const char *fmt, va_list ap)
{
	if (err != NULL) {
		err->code = code;
		util_errfmt(err->msg, sizeof(err->msg), with_ssl, fmt, ap);
	} else {
		ERR_clear_error();
	}
}

int
util_err_set(util_err_t *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int
util_err_ssl(util_err_t *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return code;
}

int
util_err_ssl_last_is(int lib, int reason)
{
	unsigned long e = ERR_peek_last_error();

	return e != 0 && ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason;
}
