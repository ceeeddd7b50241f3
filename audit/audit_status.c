/*
 * audit_status.c: the names of audit statuses, in words (audit_status_str).
 * The error itself is util_err_t (util/util_err.h).
 *
 * Threads: constant strings only.
 */
#include "audit/audit.h"

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
