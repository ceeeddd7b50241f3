/*
 * milt_mfapi.h: the milter glue (the only code that knows libmilter).
 *
 * milt_mfapi_listen() registers the filter and opens the socket the
 * configuration names, so the caller can drop privileges and go to the
 * background afterwards; milt_mfapi_main() then serves until SIGTERM or
 * SIGINT.  The configuration gets one more reference; the keystore is
 * borrowed and must outlive milt_mfapi_main().
 */
#ifndef MILT_MFAPI_H
#define MILT_MFAPI_H

#include <stddef.h>
#include "milter/milt_conf.h"
#include "keystore/keystore.h"

int milt_mfapi_listen(milt_conf_t *conf, keystore_t *ks, char *err, size_t errlen);
int milt_mfapi_main(void);

#endif
