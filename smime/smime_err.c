/*
 * smime_err.c: filling a smime_err_t.  Every failing path of smime/ ends
 * here, so OpenSSL's per-thread error queue is drained into the message
 * (util_errfmt) and left empty.
 *
 * Threads: works on the caller's err and the calling thread's queue only.
 */
#include "smime/smime_int.h"

#include "util/util.h"

void
smime_err_clear(smime_err_t *err)
{
	err->code = SMIME_OK;
	err->msg[0] = '\0';
}

static void
err_vset(smime_err_t *err, smime_status_t code, int with_ssl, const char *fmt,
    va_list ap)
{
	err->code = code;
	util_errfmt(err->msg, sizeof(err->msg), with_ssl, fmt, ap);
}

smime_status_t
smime_err_set(smime_err_t *err, smime_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

smime_status_t
smime_err_crypto(smime_err_t *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, SMIME_ERR_CRYPTO, 1, fmt, ap);
	va_end(ap);
	return SMIME_ERR_CRYPTO;
}
