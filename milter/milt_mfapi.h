/*
 * milt_mfapi.h: the milter glue (the only code that knows libmilter).
 *
 * milt_mfapi_listen() registers the filter and opens the socket the
 * configuration names, so the caller can drop privileges and go to the
 * background afterwards; milt_mfapi_main() then serves until SIGTERM or
 * SIGINT.  From milt_mfapi_listen() on, SIGHUP, SIGTERM and SIGINT are
 * blocked in the calling thread (and the threads it starts later).  On
 * SIGHUP milt_mfapi_main() calls reload (in a thread of its own): a new
 * configuration with one reference is published with milt_mfapi_swap()
 * (connections open keep theirs); NULL keeps the one in force.  The configuration gets one more reference; the keystore and
 * the audit log are borrowed and must outlive milt_mfapi_main().
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
typedef conf_t *(*milt_reload_fn)(void *arg);
int milt_mfapi_main(milt_reload_fn reload, void *arg);
void milt_mfapi_swap(conf_t *conf);
/* The configuration in force with one more reference, or NULL. */
conf_t *milt_mfapi_conf(void);

#endif
