/*
 * mail_audit.h: the daemon's side of the audit log (audit/): one record
 * per recipient of every message, written and synced before the milter
 * answers; checkpoints at an interval and rotation by size, from a thread
 * of its own; optionally a structured copy of each record in syslog.
 *
 * Ownership and threads: mail_audit_open() returns the one handle of the
 * daemon, freed by mail_audit_close(); mail_audit_record() may be called
 * from every milter thread at once.  The timer thread is started with
 * mail_audit_start() after the daemon went to the background (threads do
 * not survive fork).
 */
#ifndef MAIL_AUDIT_H
#define MAIL_AUDIT_H

#include <stddef.h>
#include <openssl/evp.h>
#include "conf/conf.h"
#include "mail/mail_msg.h"

typedef struct mail_audit mail_audit_t;

/* Opens (and creates) the log as conf says.  NULL with err on failure. */
/* key: the audit key read by root before the privileges were dropped
 * (see open_state in smimegate.c), or NULL to read AuditKeyFile here. */
mail_audit_t *mail_audit_open(const conf_t *conf, EVP_PKEY *key, char *err,
    size_t errlen);
/* The open log, for key events (ops_audit_install); owned by ma. */
struct audit;
struct audit *mail_audit_log(mail_audit_t *ma);
/* Starts the checkpoint and rotation thread: 0 or -1. */
int mail_audit_start(mail_audit_t *ma);
/* Stops the thread, writes a last checkpoint, frees ma (NULL is fine). */
void mail_audit_close(mail_audit_t *ma);

/* Records the result of m, one line per recipient (one with no recipient
 * when there is none).  0, or -1 with err when a record is not on disk. */
int mail_audit_record(mail_audit_t *ma, const mail_msg_t *m, char *err,
    size_t errlen);

#endif
