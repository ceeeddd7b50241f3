/*
 * smime_err.c: filling a smime_err_t.  Every failing path of smime/ ends
 * here, so OpenSSL's per-thread error queue is drained into the message
 * (ERR_error_string_n for each entry) and left empty.
 *
 * Threads: works on the caller's err and the calling thread's queue only.
 */
#include "smime/smime_int.h"

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

void
smime_err_clear(smime_err_t *err)
{
	err->code = SMIME_OK;
	err->msg[0] = '\0';
}

static void
err_vset(smime_err_t *err, smime_status_t code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

/* Appends ": " and each queued OpenSSL error ("; " between), emptying the queue. */
static void
err_drain_openssl(smime_err_t *err)
{
	const char *sep = ": ";
	unsigned long e;
	size_t n;

	while ((e = ERR_get_error()) != 0) {
		n = strlen(err->msg);
		if (n + strlen(sep) + 1 >= sizeof(err->msg))
			continue;                /* full: keep draining */
		memcpy(err->msg + n, sep, strlen(sep) + 1);
		n += strlen(sep);
		ERR_error_string_n(e, err->msg + n, sizeof(err->msg) - n);
		sep = "; ";
	}
}

smime_status_t
smime_err_set(smime_err_t *err, smime_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return code;
}

smime_status_t
smime_err_crypto(smime_err_t *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, SMIME_ERR_CRYPTO, fmt, ap);
	va_end(ap);
	err_drain_openssl(err);
	return SMIME_ERR_CRYPTO;
}
