/*
 * ctl_publish.h: smimectl's side of PublishDirectory and of leavers:
 *   keystore publish [ADDRESS]   (re)writes the directory from the
 *                                keystore (retired addresses removed)
 *   keystore retire ADDRESS      retires, revokes, unpublishes
 *   keystore purge-retired       destroys keys past RetireRetention
 * and the publication after an import.  Called by smimectl's dispatcher
 * with the configuration and the keystore open.  Each returns the exit
 * status: 0 done, 1 failed (said on stderr).  Single-threaded.
 */
#ifndef CTL_PUBLISH_H
#define CTL_PUBLISH_H

#include "conf/conf.h"
#include "keystore/keystore.h"

/* After keystore import: each address of info published when
 * PublishDirectory is set; a failure is a warning on stderr (the import
 * stands) naming the command that publishes it later.  Never fails. */
void ctl_publish_imported(const conf_t *conf, keystore_t *ks,
    const keystore_info_t *info);

/* keystore publish [ADDRESS]: address, or every address of the keystore
 * (address NULL). */
int ctl_publish(const conf_t *conf, keystore_t *ks, const char *address);

/* keystore retire ADDRESS. */
int ctl_retire(const conf_t *conf, keystore_t *ks, const char *address);

/* keystore purge-retired. */
int ctl_purge_retired(const conf_t *conf, keystore_t *ks);

#endif
