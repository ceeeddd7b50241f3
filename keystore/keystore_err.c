/*
 * keystore_err.c: filling a keystore_err_t.  Every failing path of the
 * keystore ends here, so OpenSSL's per-thread error queue is drained into the
 * message (util_errfmt) and cleared in one place.
 *
 * Threads: works on the caller's err and the calling thread's queue only.
 */
#include "keystore/keystore_int.h"

#include <openssl/err.h>

#include "util/util.h"

static void
err_vset(keystore_err_t *err, keystore_status_t code, int with_ssl,
    const char *fmt, va_list ap)
{
	if (err != NULL) {
		err->code = code;
		util_errfmt(err->msg, sizeof(err->msg), with_ssl, fmt, ap);
	} else {
		ERR_clear_error();
	}
}

keystore_status_t
keystore_err_set(keystore_err_t *err, keystore_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

keystore_status_t
keystore_err_ssl(keystore_err_t *err, keystore_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return code;
}

int
keystore_err_ssl_last_is(int lib, int reason)
{
	unsigned long e = ERR_peek_last_error();

	return e != 0 && ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason;
}
