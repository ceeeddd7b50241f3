/*
 * ctl_spool.h: `smimectl spool list|show|release|drop`, the durable spool
 * of held and waiting copies, called by smimectl's dispatcher with argv[0]
 * the subcommand.
 */
#ifndef CTL_SPOOL_H
#define CTL_SPOOL_H

#include "conf/conf.h"
#include "keystore/keystore.h"

/* 1 when argv (argv[0] the subcommand) asks for a release that decides
 * the copy again, which needs the keystore (to sign). */
int ctl_spool_needs_keystore(int argc, char **argv);

/* Prints on stdout, errors on stderr ("smimectl: ...").  Returns 0, 1 (an
 * error, or a release the policy refuses) or 2 (usage).  ks: the keystore
 * when ctl_spool_needs_keystore(), else NULL. */
int ctl_spool(int argc, char **argv, conf_t *conf, keystore_t *ks);

#endif
