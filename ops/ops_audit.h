/*
 * ops_audit.h: key events in the audit log (audit/: imports, exports,
 * issues, renewals, revocations, retirements, key destruction), recorded
 * the same way by the daemon and by smimectl.
 *
 * The daemon installs its open log (ops_audit_install) and every event of
 * any thread goes to it; without one (smimectl) each event opens the log
 * of conf, appends and closes it (a checkpoint then seals the record).
 * Both may run at once: the log takes a lock around each write and reads
 * the tail again when the other wrote (audit.h), so the chain stays one.
 *
 * Threads: ops_audit_key_event() may be called from any thread;
 * ops_audit_install() only while no other thread records (start, stop).
 */
#ifndef OPS_AUDIT_H
#define OPS_AUDIT_H

#include <stddef.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "conf/conf.h"

/* The daemon's open log (borrowed until ops_audit_install(NULL)). */
void ops_audit_install(audit_t *log);

/* One key event. */
typedef struct ops_key_event {
	audit_action_t action;      /* AUDIT_KEY_IMPORTED, AUDIT_KEY_EXPORTED,
	                               AUDIT_CERT_ISSUED, AUDIT_CERT_RENEWED,
	                               AUDIT_CERT_REVOKED, AUDIT_KEY_RETIRED,
	                               AUDIT_KEY_DESTROYED */
	const char *address;        /* whose key: the record's "sender" */
	X509 *cert;                 /* its certificate (SHA-256 and serial in
	                               "certs"), or NULL: then */
	const char *sha256;         /* these, when not NULL (keystore_info_t's */
	const char *serial;         /* fingerprint and serial) */
	const char *qid;            /* the message that caused it, or NULL */
	const char *reason;         /* who or why, or NULL */
} ops_key_event_t;

/* Records ev.  Nothing when AuditLog is no.  Returns 0 once the record is
 * on disk, or -1 with err.  Without the daemon's log and before the
 * audit key exists (the gateway makes it at its first start, and logs its
 * fingerprint), nothing can be written: 0, with err saying so (err[0] is
 * '\0' otherwise). */
int ops_audit_key_event(const conf_t *conf, const ops_key_event_t *ev,
    char *err, size_t errlen);

#endif
