/*
 * ctl_spool.h: `smimectl spool list|show|release|drop`, called by
 * smimectl's dispatcher with argv[0] the subcommand (issue 6b).
 */
#ifndef CTL_SPOOL_H
#define CTL_SPOOL_H

#include "milter/milt_conf.h"

/* Prints on stdout, errors on stderr ("smimectl: ...").  Returns 0, 1 (an
 * error) or 2 (usage). */
int ctl_spool(int argc, char **argv, const milt_conf_t *conf);

#endif
