/*
 * audit_err.c: filling an audit_err_t, and the names of statuses.  Every
 * failing path of audit/ ends here, so OpenSSL's per-thread error queue is
 * drained into the message (util_errfmt) and cleared in one place.
 *
 * Threads: works on the caller's err and the calling thread's queue only.
 */
#include "audit/audit_int.h"

#include <openssl/err.h>

#include "util/util.h"

static void
err_vset(audit_err_t *err, audit_status_t code, int with_ssl,
    const char *fmt, va_list ap)
{
	if (err != NULL) {
		err->code = code;
		util_errfmt(err->msg, sizeof(err->msg), with_ssl, fmt, ap);
	} else {
		ERR_clear_error();
	}
}

audit_status_t
audit_err_set(audit_err_t *err, audit_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

audit_status_t
audit_err_ssl(audit_err_t *err, audit_status_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return code;
}

const char *
audit_status_str(audit_status_t s)
{
	switch (s) {
	case AUDIT_OK:          return "ok";
	case AUDIT_END:         return "end of log";
	case AUDIT_TAMPERED:    return "tampered";
	case AUDIT_ERR_USAGE:   return "bad argument";
	case AUDIT_ERR_IO:      return "I/O error";
	case AUDIT_ERR_PERM:    return "unsafe permissions";
	case AUDIT_ERR_KEY:     return "audit key problem";
	case AUDIT_ERR_CORRUPT: return "not a record of this log";
	case AUDIT_ERR_BUSY:    return "log in use";
	case AUDIT_ERR_CRYPTO:  return "crypto error";
	case AUDIT_ERR_NOMEM:   return "out of memory";
	}
	return "unknown status";
}
