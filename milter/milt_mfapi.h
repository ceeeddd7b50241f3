/*
 * milt_mfapi.h: the milter glue (the only code that knows libmilter).
 *
 * milt_mfapi_listen() registers the filter and opens the socket the
 * configuration names, so the caller can drop privileges and go to the
 * background afterwards; milt_mfapi_run() then serves until libmilter's
 * signal thread hears SIGTERM or SIGINT.  From milt_mfapi_listen() on,
 * SIGHUP, SIGTERM, SIGINT and SIGUSR2 are blocked in the calling thread
 * (and the threads it starts later): the caller waits for SIGHUP itself
 * and publishes a new configuration with milt_mfapi_swap().
 *
 * Ownership: the configuration gets one more reference, dropped with
 * milt_mfapi_swap(NULL) once milt_mfapi_run() returned; the keystore and
 * the audit log are borrowed and must outlive milt_mfapi_run().
 */
#ifndef MILT_MFAPI_H
#define MILT_MFAPI_H

#include <stddef.h>
#include "conf/conf.h"
#include "keystore/keystore.h"
#include "mail/mail_audit.h"

/* audit may be NULL (AuditLog no); it is borrowed like the keystore. */
int milt_mfapi_listen(conf_t *conf, keystore_t *ks, mail_audit_t *audit,
    char *err, size_t errlen);
/* Runs libmilter (smfi_main()) in the calling thread; 0 or -1. */
int milt_mfapi_run(void);
/* Publishes conf (one reference, taken over; NULL: none); connections
 * open keep theirs.  Any thread. */
void milt_mfapi_swap(conf_t *conf);
/* The configuration in force with one more reference, or NULL. */
conf_t *milt_mfapi_conf(void);

#endif
