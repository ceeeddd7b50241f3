/*
 * milt_mfapi.h: the milter glue (the only code that knows libmilter).
 *
 * milt_mfapi_listen() registers the filter and opens the socket the
 * configuration names, so the caller can drop privileges and go to the
 * background afterwards; milt_mfapi_main() then serves until SIGTERM or
 * SIGINT.  The configuration gets one more reference; the keystore and
 * the audit log are borrowed and must outlive milt_mfapi_main().
 */
#ifndef MILT_MFAPI_H
#define MILT_MFAPI_H

#include <stddef.h>
#include "milter/milt_conf.h"
#include "keystore/keystore.h"
#include "milter/milt_audit.h"

/* audit may be NULL (AuditLog no); it is borrowed like the keystore. */
int milt_mfapi_listen(milt_conf_t *conf, keystore_t *ks, milt_audit_t *audit,
    char *err, size_t errlen);
int milt_mfapi_main(void);

#endif
