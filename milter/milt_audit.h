/*
 * milt_audit.h: the daemon's side of the audit log (audit/): one record
 * per recipient of every message, written and synced before the milter
 * answers; checkpoints at an interval and rotation by size, from a thread
 * of its own; optionally a structured copy of each record in syslog.
 *
 * Ownership and threads: milt_audit_open() returns the one handle of the
 * daemon, freed by milt_audit_close(); milt_audit_record() may be called
 * from every milter thread at once.  The timer thread is started with
 * milt_audit_start() after the daemon went to the background (threads do
 * not survive fork).
 */
#ifndef MILT_AUDIT_H
#define MILT_AUDIT_H

#include <stddef.h>
#include <openssl/evp.h>
#include "milter/milt_conf.h"
#include "milter/milt_msg.h"

typedef struct milt_audit milt_audit_t;

/* Opens (and creates) the log as conf says.  NULL with err on failure. */
/* key: the audit key read by root before the privileges were dropped
 * (see open_state in smimegate.c), or NULL to read AuditKeyFile here. */
milt_audit_t *milt_audit_open(const milt_conf_t *conf, EVP_PKEY *key, char *err,
    size_t errlen);
/* Starts the checkpoint and rotation thread: 0 or -1. */
int milt_audit_start(milt_audit_t *ma);
/* Stops the thread, writes a last checkpoint, frees ma (NULL is fine). */
void milt_audit_close(milt_audit_t *ma);

/* Records the result of m, one line per recipient (one with no recipient
 * when there is none).  0, or -1 with err when a record is not on disk. */
int milt_audit_record(milt_audit_t *ma, const milt_msg_t *m, char *err,
    size_t errlen);

#endif
